//! Shared helpers for the tests of the library as it ships (install, C++, Python, ABI, the C API
//! and the sanitizer runs): building through `make -C examples-c` under the file lock every C
//! test takes, compiling C and C++ against the release library, running programs with a time
//! limit, and scratch directories that clean up after themselves.
// Each test binary uses only some of these helpers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use crate::programs::*;

/// Runs `command` and panics with its output unless it exits 0 within `limit`.
pub fn run_ok(command: &mut Command, limit: Duration) -> Finished {
    let description = format!("{command:?}");
    let finished = run(command, limit);
    assert!(
        finished.success(),
        "{description} failed: {}",
        finished.describe()
    );
    finished
}

/// Runs `make -C examples-c <targets> <variables>` while holding target/examples-c.lock, the lock
/// every test that builds through the Makefile takes, so that test binaries running at the same
/// time never build target/release at once. Panics unless make succeeds.
pub fn make(targets: &[&str], variables: &[(&str, &Path)]) -> Finished {
    let finished = make_unchecked(targets, variables);
    assert!(
        finished.success(),
        "make -C examples-c {targets:?} failed: {}",
        finished.describe()
    );
    finished
}

/// Asserts that a checks program or script exited 0 and printed exactly `summary` (e.g.
/// "checks passed") on stdout.
pub fn assert_checks_passed(finished: &Finished, summary: &str) {
    assert!(finished.success(), "{}", finished.describe());
    assert_eq!(finished.stdout.trim(), summary, "{}", finished.describe());
}

/// Writes `{prefix}cert.pem` and `{prefix}key.pem` to `dir`: a fresh self-signed certificate
/// for localhost and 127.0.0.1.
pub fn write_self_signed(dir: &Path, prefix: &str) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    std::fs::write(dir.join(format!("{prefix}cert.pem")), certified.cert.pem()).unwrap();
    std::fs::write(
        dir.join(format!("{prefix}key.pem")),
        certified.key_pair.serialize_pem(),
    )
    .unwrap();
}

/// A fresh directory under the system's temporary directory, removed when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(name: &str) -> ScratchDir {
        let path = std::env::temp_dir().join(format!("libmqtt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("scratch directory can be created");
        ScratchDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The SONAME's version suffix for a package version, by cargo-c's rule (which build.rs and
/// examples-c/Makefile follow): x.y.z → x, 0.y.z → 0.y, 0.0.z → 0.0.z.
pub fn soversion(version: &str) -> String {
    let parts: Vec<&str> = version.split('.').collect();
    match parts.as_slice() {
        ["0", "0", patch, ..] => format!("0.0.{patch}"),
        ["0", minor, ..] => format!("0.{minor}"),
        [major, ..] => (*major).to_owned(),
        [] => panic!("empty version"),
    }
}

/// The SONAME recorded in a shared library's dynamic section (`readelf -d`).
pub fn soname(library: &Path) -> Option<String> {
    dynamic_entries(library, "SONAME").into_iter().next()
}

/// The libraries an ELF file needs (`readelf -d` NEEDED entries).
pub fn needed(file: &Path) -> Vec<String> {
    dynamic_entries(file, "NEEDED")
}

fn dynamic_entries(file: &Path, tag: &str) -> Vec<String> {
    let finished = run_ok(
        Command::new("readelf").arg("-d").arg(file),
        Duration::from_secs(30),
    );
    finished
        .stdout
        .lines()
        .filter(|line| line.contains(&format!("({tag})")))
        .filter_map(|line| {
            let start = line.find('[')? + 1;
            let end = line.rfind(']')?;
            Some(line[start..end].to_owned())
        })
        .collect()
}
