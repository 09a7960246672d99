//! The library as C programs see it: `make -C examples-c` builds and its topic example works
//! without LD_LIBRARY_PATH, include/mqtt.h compiles as strict C99 and C++17 and links, and a C
//! program checks the API conventions (tests/c/conventions.c).
//!
//! All of these need target/release/libmqtt.so, built once per test binary by `make -C
//! examples-c` under a file lock (target/examples-c.lock), because other test binaries or
//! another cargo test in the same tree may run the same make at the same time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::support::{
    Output, examples_built, link_with_library, root, run_bounded as run, valgrind_present,
};

const COMPILE_LIMIT: Duration = Duration::from_secs(120);
const RUN_LIMIT: Duration = Duration::from_secs(20);

const C_STRICT: &[&str] = &[
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Werror",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-D_POSIX_C_SOURCE=200809L",
];
const CXX_STRICT: &[&str] = &["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror"];

/// A scratch directory for this test's compiler output.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("c_api")
        .join(name);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Compiles `source` with `compiler` and `flags` against the header and the release library,
/// with an rpath, and returns the program's path.
fn compile(compiler: &str, flags: &[&str], source: &Path, program: &Path) -> PathBuf {
    examples_built();
    let mut command = Command::new(compiler);
    command.args(flags);
    link_with_library(&mut command, source, program);
    let output = run(&mut command, COMPILE_LIMIT);
    assert!(
        output.status.success(),
        "{compiler} failed on {}: {}",
        source.display(),
        output.describe()
    );
    program.to_path_buf()
}

/// Runs a built program without LD_LIBRARY_PATH, so only its rpath can find libmqtt.so.
fn run_program(program: &Path, args: &[&str]) -> Output {
    run(
        Command::new(program)
            .args(args)
            .env_remove("LD_LIBRARY_PATH"),
        RUN_LIMIT,
    )
}

#[test]
fn topic_match_example_prints_and_exits_per_result() {
    examples_built();
    let program = root().join("examples-c/build/topic_match");
    let cases: &[(&str, &str, &str, i32)] = &[
        (
            "sport/tennis/player1/#",
            "sport/tennis/player1",
            "match\n",
            0,
        ),
        ("sport/#", "sport", "match\n", 0),
        ("sport/+", "sport/", "match\n", 0),
        ("sport/+", "sport", "no match\n", 1),
        ("#", "$SYS/broker/uptime", "no match\n", 1),
        ("$SYS/#", "$SYS/broker/uptime", "match\n", 0),
    ];
    for &(filter, topic, expected, code) in cases {
        let output = run_program(&program, &[filter, topic]);
        assert_eq!(
            output.stdout,
            expected,
            "{filter} {topic}: {}",
            output.describe()
        );
        assert_eq!(output.status.code(), Some(code), "{filter} {topic}");
        assert_eq!(output.stderr, "", "{filter} {topic}");
    }
}

#[test]
fn topic_match_example_rejects_invalid_input_with_exit_2() {
    examples_built();
    let program = root().join("examples-c/build/topic_match");
    let cases: &[(&[&str], &str)] = &[
        (&["sport/#/ranking", "sport"], "invalid topic: filter: "),
        (&["sport/+", "sport/+"], "invalid topic: topic: "),
        (&["", "a"], "invalid topic: filter: topic is empty"),
        (&["a"], "usage: topic_match FILTER TOPIC"),
        (&["a", "b", "c"], "usage: topic_match FILTER TOPIC"),
    ];
    for &(args, expected) in cases {
        let output = run_program(&program, args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            output.describe()
        );
        assert!(
            output.stderr.contains(expected),
            "{args:?}: {}",
            output.describe()
        );
        assert_eq!(output.stdout, "", "{args:?}");
    }
    let help = run_program(&program, &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(help.stdout.starts_with("usage: topic_match"));
}

#[test]
fn header_compiles_and_links_as_strict_c99() {
    let dir = scratch("c99");
    let source = dir.join("header_c99.c");
    std::fs::write(
        &source,
        "#include \"mqtt.h\"\n\
         #include \"mqtt.h\" /* the include guard makes a second include harmless */\n\
         #include <string.h>\n\
         int main(void) {\n\
             bool matches = false;\n\
             mqtt_status status = mqtt_topic_matches(\"a/+\", \"a/b\", &matches);\n\
             mqtt_qos qos = MQTT_QOS_EXACTLY_ONCE;\n\
             return status == MQTT_STATUS_OK && matches && qos == 2\n\
                 && strcmp(mqtt_version(), MQTT_VERSION) == 0 ? 0 : 1;\n\
         }\n",
    )
    .expect("writing C source");
    let program = compile("cc", C_STRICT, &source, &dir.join("header_c99"));
    let output = run_program(&program, &[]);
    assert!(output.status.success(), "{}", output.describe());
}

#[test]
fn header_compiles_and_links_as_strict_cxx17() {
    let dir = scratch("cxx17");
    let source = dir.join("header_cxx17.cpp");
    std::fs::write(
        &source,
        "#include \"mqtt.h\"\n\
         #include <cstring>\n\
         int main() {\n\
             bool matches = false;\n\
             mqtt_status status = mqtt_topic_matches(\"sport/#\", \"sport\", &matches);\n\
             if (status != MQTT_STATUS_OK || !matches) return 1;\n\
             if (std::strcmp(mqtt_status_str(MQTT_STATUS_INVALID_QOS), \"invalid QoS\") != 0)\n\
                 return 1;\n\
             return mqtt_topic_is_valid_filter(\"a/+\") && !mqtt_topic_is_valid_name(\"a/+\")\n\
                 ? 0 : 1;\n\
         }\n",
    )
    .expect("writing C++ source");
    let program = compile("c++", CXX_STRICT, &source, &dir.join("header_cxx17"));
    let output = run_program(&program, &[]);
    assert!(output.status.success(), "{}", output.describe());
}

#[test]
fn c_program_checks_the_api_conventions() {
    let dir = scratch("conventions");
    let program = compile(
        "cc",
        C_STRICT,
        &root().join("tests/c/conventions.c"),
        &dir.join("conventions"),
    );
    let output = run_program(&program, &[]);
    assert!(output.status.success(), "{}", output.describe());
    assert!(
        output.stdout.starts_with("all ") && output.stdout.ends_with(" checks passed\n"),
        "{}",
        output.describe()
    );
}

/// The same program under valgrind: no invalid reads or writes through the returned strings
/// and no leaks of the per-thread error messages. Skipped when valgrind is missing, except
/// under CI=true, where `.ci/run` has installed it.
#[test]
fn c_conventions_are_clean_under_valgrind() {
    if !valgrind_present() {
        return;
    }
    let dir = scratch("conventions-valgrind");
    let program = compile(
        "cc",
        C_STRICT,
        &root().join("tests/c/conventions.c"),
        &dir.join("conventions"),
    );
    let output = run(
        Command::new("valgrind")
            .args([
                "--quiet",
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
            ])
            .arg(&program)
            .env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(120),
    );
    assert!(output.status.success(), "{}", output.describe());
}

#[test]
fn header_holds_exactly_the_c_api_and_generated_version_macros() {
    let header = std::fs::read_to_string(root().join("include/mqtt.h")).expect("include/mqtt.h");
    for expected in [
        "#ifndef MQTT_H",
        "#define MQTT_H",
        "#ifdef __cplusplus",
        "extern \"C\" {",
        "#include <stdbool.h>",
        &format!("#define MQTT_VERSION \"{}\"", env!("CARGO_PKG_VERSION")),
        &format!(
            "#define MQTT_VERSION_MAJOR {}",
            env!("CARGO_PKG_VERSION_MAJOR")
        ),
        &format!(
            "#define MQTT_VERSION_MINOR {}",
            env!("CARGO_PKG_VERSION_MINOR")
        ),
        &format!(
            "#define MQTT_VERSION_PATCH {}",
            env!("CARGO_PKG_VERSION_PATCH")
        ),
        "MQTT_STATUS_OK = 0,",
        "MQTT_QOS_AT_LEAST_ONCE = 1,",
        // Doc comments are carried over.
        "* A required pointer argument was NULL.",
        "const char *mqtt_status_str(int status);",
    ] {
        assert!(header.contains(expected), "header lacks {expected:?}");
    }
    // Rust-only items of the crate and the bindings' internals stay out of the header.
    for rust_only in [
        "FfiError",
        "TopicName",
        "Decoder",
        "guard_status",
        "UserData",
    ] {
        assert!(!header.contains(rust_only), "header leaks {rust_only}");
    }
}

/// The README shows examples-c/embedded.c; the program must run as shown, and the README must
/// show it as it is.
#[test]
fn embedded_example_runs_and_is_the_one_in_the_readme() {
    examples_built();
    let output = run_program(&root().join("examples-c/build/embedded"), &[]);
    assert_eq!(
        output.stdout,
        "greetings/client: Hello MQTT (QoS 1)\ngreetings/host: hi (QoS 0)\n",
        "{}",
        output.describe()
    );
    assert_eq!(output.status.code(), Some(0), "{}", output.describe());

    let source = std::fs::read_to_string(root().join("examples-c/embedded.c")).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```c\n{source}```")),
        "README.md must show examples-c/embedded.c verbatim in a ```c block"
    );
}
