//! The C++17 wrapper (bindings/cpp/mqtt.hpp) and its demo: built by `make -C examples-c cpp`
//! with `-std=c++17 -Wall -Wextra -Wpedantic -Werror`, then run.

use std::process::Command;
use std::time::Duration;

use super::support::*;

#[test]
fn cpp_demo_builds_warning_free_and_runs() {
    make(&["cpp"], &[]);
    let demo = root().join("examples-c/build/cpp-demo");
    // Without cargo's LD_LIBRARY_PATH: the program finds the library through its rpath.
    let finished = run_ok(
        Command::new(&demo).env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(60),
    );
    let lines: Vec<&str> = finished.stdout.lines().collect();
    let expected_first = format!("libmqtt {} from C++17", env!("CARGO_PKG_VERSION"));
    assert_eq!(lines.first().copied(), Some(expected_first.as_str()));
    for expected in [
        "refused as expected: mqtt_connect: ",
        "received greetings/broker hello from the embedded broker",
        "received greetings/client hello from C++",
        "demo: all messages arrived; broker stopped",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "missing {expected:?} in:\n{}",
            finished.describe()
        );
    }
}

/// The demo under valgrind: the wrapper's destructors release every handle, and the callbacks
/// it hands to C are never used after they are freed. Skipped when valgrind is missing, except
/// under CI=true, where `.ci/run` has installed it.
#[test]
fn cpp_demo_is_clean_under_valgrind() {
    if !valgrind_present() {
        return;
    }
    make(&["cpp"], &[]);
    run_ok(
        Command::new("valgrind")
            .args([
                "--quiet",
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
            ])
            .arg(root().join("examples-c/build/cpp-demo"))
            .env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(180),
    );
}
