//! `make -C examples-c install` as a user of the library sees it: installed into a temporary
//! prefix, found by pkg-config alone, linked dynamically (through the SONAME symlink) and
//! statically, and removed again by `make uninstall`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::support::*;

const COMPILE_LIMIT: Duration = Duration::from_secs(120);
const RUN_LIMIT: Duration = Duration::from_secs(30);
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A program that knows the library only through `#include <mqtt.h>` and the linker: it embeds a
/// broker, connects a client to it, receives its own QoS 1 message and checks it.
const PROGRAM: &str = r#"
#include <stdio.h>
#include <string.h>

#include <mqtt.h>

#define CHECK(call)                                                                       \
    do {                                                                                  \
        mqtt_status status_ = (call);                                                     \
        if (status_ != MQTT_STATUS_OK) {                                                  \
            fprintf(stderr, "%s: %s (%s)\n", #call, mqtt_status_str((int)status_),        \
                    mqtt_last_error());                                                   \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

struct inbox {
    char payload[64];
    int count;
};

static void on_message(void *userdata, const mqtt_message *message) {
    struct inbox *inbox = userdata;
    size_t len = message->payload_len < sizeof inbox->payload - 1 ? message->payload_len
                                                                   : sizeof inbox->payload - 1;
    memcpy(inbox->payload, message->payload, len);
    inbox->payload[len] = '\0';
    inbox->count++;
}

int main(void) {
    if (strcmp(mqtt_version(), MQTT_VERSION) != 0) {
        fprintf(stderr, "header %s, library %s\n", MQTT_VERSION, mqtt_version());
        return 1;
    }
    mqtt_broker *broker = mqtt_broker_new("0", NULL);
    if (broker == NULL) {
        fprintf(stderr, "mqtt_broker_new: %s\n", mqtt_last_error());
        return 1;
    }
    CHECK(mqtt_broker_start(broker));
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)mqtt_broker_port(broker));

    mqtt_connection *connection = mqtt_connect("127.0.0.1", port, NULL);
    if (connection == NULL) {
        fprintf(stderr, "mqtt_connect: %s\n", mqtt_last_error());
        return 1;
    }
    struct inbox inbox = {{0}, 0};
    int granted = -1;
    CHECK(mqtt_subscribe(connection, "installed/+", 1, on_message, &inbox, &granted));
    const char *text = "found by pkg-config";
    CHECK(mqtt_publish(connection, "installed/check", (const uint8_t *)text, strlen(text), 1,
                       false));
    for (int tries = 0; inbox.count == 0 && tries < 50; tries++) {
        mqtt_status status = mqtt_receive_message(connection, 100);
        if (status != MQTT_STATUS_OK && status != MQTT_STATUS_TIMEOUT) {
            CHECK(status);
        }
    }
    if (granted != 1 || inbox.count != 1 || strcmp(inbox.payload, text) != 0) {
        fprintf(stderr, "granted %d, received %d: \"%s\"\n", granted, inbox.count, inbox.payload);
        return 1;
    }
    CHECK(mqtt_disconnect(connection));
    mqtt_connection_free(connection);
    CHECK(mqtt_broker_stop(broker));
    mqtt_broker_free(broker);
    printf("received \"%s\" from libmqtt %s\n", inbox.payload, mqtt_version());
    return 0;
}
"#;

/// pkg-config that sees only the installed mqtt.pc, never one from the system.
fn pkg_config(pkgconfig_dir: &Path, args: &[&str]) -> String {
    let finished = run_ok(
        Command::new("pkg-config")
            .env("PKG_CONFIG_LIBDIR", pkgconfig_dir)
            .env("PKG_CONFIG_PATH", pkgconfig_dir)
            .args(args)
            .arg("mqtt"),
        COMPILE_LIMIT,
    );
    finished.stdout.trim().to_owned()
}

/// Compiles `source` with the flags given, only those: no path into the source tree.
fn compile(source: &Path, output: &Path, flags: &str) {
    run_ok(
        Command::new("cc")
            .args(["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
            .arg("-D_POSIX_C_SOURCE=200809L")
            .arg(source)
            .arg("-o")
            .arg(output)
            .args(flags.split_whitespace())
            .arg("-pthread"),
        COMPILE_LIMIT,
    );
}

/// Runs a program the way a user would, without cargo's LD_LIBRARY_PATH.
fn run_program(program: &Path) -> String {
    let finished = run_ok(
        Command::new(program).env_remove("LD_LIBRARY_PATH"),
        RUN_LIMIT,
    );
    finished.stdout
}

/// Every file (not directory) below `dir`, recursively; symlinks count as files.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("readable directory") {
            let entry = entry.expect("directory entry");
            if entry.file_type().expect("file type").is_dir() {
                pending.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

fn expected_files(prefix: &Path) -> Vec<PathBuf> {
    let lib = prefix.join("lib");
    let soname = format!("libmqtt.so.{}", soversion(VERSION));
    let mut files = vec![
        lib.join(format!("libmqtt.so.{VERSION}")),
        lib.join(soname),
        lib.join("libmqtt.so"),
        lib.join("libmqtt.a"),
        lib.join("pkgconfig/mqtt.pc"),
        prefix.join("include/mqtt.h"),
    ];
    files.sort();
    files
}

#[test]
fn installed_library_builds_and_runs_a_program_through_pkg_config_alone() {
    let scratch = ScratchDir::new("install");
    let prefix = scratch.path().join("prefix");
    make(&["all", "install"], &[("PREFIX", prefix.as_path())]);

    // Exactly the documented files, nothing else.
    assert_eq!(files_below(&prefix), expected_files(&prefix));
    let lib = prefix.join("lib");
    let soname = format!("libmqtt.so.{}", soversion(VERSION));
    let realname = format!("libmqtt.so.{VERSION}");
    assert_eq!(
        soname, "libmqtt.so.0.1",
        "0.y versions get SONAME libmqtt.so.0.y"
    );
    assert_eq!(
        fs::read_link(lib.join(&soname)).unwrap(),
        Path::new(&realname)
    );
    assert_eq!(
        fs::read_link(lib.join("libmqtt.so")).unwrap(),
        Path::new(&soname)
    );
    assert_eq!(
        super::support::soname(&lib.join(&realname)).as_deref(),
        Some(soname.as_str())
    );
    assert_eq!(
        fs::read(prefix.join("include/mqtt.h")).unwrap(),
        fs::read(root().join("include/mqtt.h")).unwrap(),
        "the installed header is the committed one"
    );

    let pkgconfig_dir = lib.join("pkgconfig");
    assert_eq!(pkg_config(&pkgconfig_dir, &["--modversion"]), VERSION);
    assert_eq!(
        pkg_config(&pkgconfig_dir, &["--variable=libdir"]),
        lib.display().to_string()
    );
    let cflags = pkg_config(&pkgconfig_dir, &["--cflags"]);
    let libs = pkg_config(&pkgconfig_dir, &["--libs"]);
    assert!(
        !format!("{cflags} {libs}").contains(ROOT),
        "pkg-config points into the source tree: {cflags} {libs}"
    );

    let source = scratch.path().join("installed.c");
    fs::write(&source, PROGRAM).unwrap();

    // Dynamic: the program records the SONAME and the loader finds the installed copy.
    let dynamic = scratch.path().join("installed-dynamic");
    let rpath = format!("-Wl,-rpath,{}", lib.display());
    compile(&source, &dynamic, &format!("{cflags} {libs} {rpath}"));
    assert!(
        needed(&dynamic).contains(&soname),
        "{:?} lacks {soname}",
        needed(&dynamic)
    );
    let ldd = run_ok(
        Command::new("ldd")
            .arg(&dynamic)
            .env_remove("LD_LIBRARY_PATH"),
        RUN_LIMIT,
    );
    let resolved = format!("{soname} => {}", lib.join(&soname).display());
    assert!(ldd.stdout.contains(&resolved), "ldd: {}", ldd.stdout);
    let output = run_program(&dynamic);
    assert_eq!(
        output.trim(),
        format!("received \"found by pkg-config\" from libmqtt {VERSION}")
    );

    // Static: libmqtt.a plus the system libraries Libs.private names, and no libmqtt.so needed.
    let static_libs = pkg_config(&pkgconfig_dir, &["--static", "--libs"]);
    assert!(
        static_libs.contains("-lpthread") && static_libs.contains("-ldl"),
        "Libs.private missing from: {static_libs}"
    );
    let static_libs: Vec<&str> = static_libs
        .split_whitespace()
        .map(|flag| {
            if flag == "-lmqtt" {
                "-l:libmqtt.a"
            } else {
                flag
            }
        })
        .collect();
    let statically = scratch.path().join("installed-static");
    compile(
        &source,
        &statically,
        &format!("{cflags} {}", static_libs.join(" ")),
    );
    let needs = needed(&statically);
    assert!(
        !needs.iter().any(|lib| lib.starts_with("libmqtt")),
        "the static program still needs {needs:?}"
    );
    let output = run_program(&statically);
    assert!(output.contains("found by pkg-config"), "{output}");

    make(&["uninstall"], &[("PREFIX", prefix.as_path())]);
    assert_eq!(files_below(&prefix), Vec::<PathBuf>::new());
}

#[test]
fn destdir_stages_the_files_for_the_final_prefix() {
    let scratch = ScratchDir::new("destdir");
    let stage = scratch.path().join("stage");
    let prefix = Path::new("/opt/libmqtt-destdir-test");
    // As in `make && sudo make install`: once the library is built, install needs no cargo.
    make(&["all"], &[]);
    make(
        &["install"],
        &[
            ("DESTDIR", stage.as_path()),
            ("PREFIX", prefix),
            ("CARGO", Path::new("false")),
        ],
    );

    let staged = stage.join(prefix.strip_prefix("/").unwrap());
    assert_eq!(files_below(&stage), expected_files(&staged));
    assert!(
        !prefix.exists(),
        "DESTDIR ignored: {} exists",
        prefix.display()
    );

    // The .pc file describes the final location, not the staging area.
    let pc = fs::read_to_string(staged.join("lib/pkgconfig/mqtt.pc")).unwrap();
    for expected in [
        format!("prefix={}", prefix.display()),
        "libdir=${prefix}/lib".to_owned(),
        "includedir=${prefix}/include".to_owned(),
        format!("Version: {VERSION}"),
        format!("Description: {}", env!("CARGO_PKG_DESCRIPTION")),
        "Libs: -L${libdir} -lmqtt".to_owned(),
        "Cflags: -I${includedir}".to_owned(),
    ] {
        assert!(
            pc.lines().any(|line| line == expected),
            "mqtt.pc lacks {expected:?}:\n{pc}"
        );
    }
    assert!(!pc.contains(&stage.display().to_string()), "{pc}");

    make(
        &["uninstall"],
        &[("DESTDIR", stage.as_path()), ("PREFIX", prefix)],
    );
    assert_eq!(files_below(&stage), Vec::<PathBuf>::new());
}
