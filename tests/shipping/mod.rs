//! Shared helpers for the tests of the library as it ships (install, C++, Python, ABI): building
//! through `make -C examples-c` under the file lock every C test takes, running programs with a
//! time limit, and scratch directories that clean up after themselves.
#![allow(dead_code)]

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A release build of the library from scratch takes minutes on a small machine.
pub const BUILD_LIMIT: Duration = Duration::from_secs(900);

pub fn root() -> &'static Path {
    Path::new(ROOT)
}

pub fn release_dir() -> PathBuf {
    root().join("target/release")
}

/// What a finished (or killed) program did.
pub struct Finished {
    /// None when the program was killed at the time limit.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(status) => format!("{status}"),
            None => "killed at its time limit".to_owned(),
        };
        format!(
            "{status}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs `command` with no standard input, collecting its output, and kills it after `limit`.
pub fn run(command: &mut Command, limit: Duration) -> Finished {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    Finished {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

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
/// time never build target/release at once.
pub fn make(targets: &[&str], variables: &[(&str, &Path)]) -> Finished {
    let target_dir = root().join("target");
    std::fs::create_dir_all(&target_dir).expect("target/ can be created");
    let lock = File::create(target_dir.join("examples-c.lock")).expect("lock file");
    lock.lock().expect("locking target/examples-c.lock");
    let mut command = Command::new("make");
    command
        .arg("-C")
        .arg(root().join("examples-c"))
        .args(targets);
    for (name, value) in variables {
        command.arg(format!("{name}={}", value.display()));
    }
    let finished = run_ok(&mut command, BUILD_LIMIT);
    drop(lock);
    finished
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
