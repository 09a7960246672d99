//! Running programs from tests: with a time limit and collected output, building the C programs
//! once through `make -C examples-c` under the lock every C build takes, compiling C against the
//! release library, and checking for valgrind.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
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

/// Reads all of `pipe` on a thread of its own, so that a chatty child never blocks on a full pipe.
pub fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Waits for `child` for at most `limit`; kills it and returns None when it takes longer.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
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
    let out_reader = drain(child.stdout.take().expect("piped"));
    let err_reader = drain(child.stderr.take().expect("piped"));
    let status = wait_bounded(&mut child, limit);
    Finished {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// What a program that finished within its time limit did.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn describe(&self) -> String {
        format!(
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `command` to completion, panicking with its output if it outlives `limit`; the exit
/// status is left to the caller.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Output {
    let description = format!("{command:?}");
    let finished = run(command, limit);
    let output = Output {
        status: finished.status.unwrap_or_default(),
        stdout: finished.stdout,
        stderr: finished.stderr,
    };
    assert!(
        finished.status.is_some(),
        "{description} took longer than {limit:?}: {}",
        output.describe()
    );
    output
}

/// [`make`] without the check of its outcome.
pub fn make_unchecked(targets: &[&str], variables: &[(&str, &Path)]) -> Finished {
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
    let finished = run(&mut command, BUILD_LIMIT);
    drop(lock);
    finished
}

/// Runs `make -C examples-c` once for this test binary (the release library and the example
/// programs); every test that needs them calls this first. A failure is remembered, so every
/// later caller fails with the same message instead of building again.
pub fn examples_built() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        let finished = make_unchecked(&[], &[]);
        if finished.success() {
            Ok(())
        } else {
            Err(format!(
                "make -C examples-c failed: {}",
                finished.describe()
            ))
        }
    });
    if let Err(message) = result {
        panic!("{message}");
    }
}

/// Adds to a compiler `command` the source, the output, the header directory and the release
/// library with an rpath, so the program runs without LD_LIBRARY_PATH.
pub fn link_with_library(command: &mut Command, source: &Path, program: &Path) {
    command
        .arg("-pthread")
        .arg("-I")
        .arg(root().join("include"))
        .arg(source)
        .arg("-o")
        .arg(program)
        .arg("-L")
        .arg(release_dir())
        .arg(format!("-Wl,-rpath,{}", release_dir().display()))
        .arg("-lmqtt");
}

/// Whether valgrind can run here; under CI=true, where `.ci/run` installs it, its absence fails
/// the test, otherwise it prints why the test is skipped.
pub fn valgrind_present() -> bool {
    let present = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !present {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "valgrind is required under CI=true"
        );
        eprintln!("skipping: valgrind is not installed");
    }
    present
}
