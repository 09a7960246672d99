//! Memory safety at the C surface: the C tests of the whole API (tests/c/api_all.c, and
//! tests/c/client_v5.c for the MQTT 5.0 client) and the example programs (topic_match; broker, subscribe and publish driven together as in the demo)
//! run under gcc's AddressSanitizer + UndefinedBehaviorSanitizer and under valgrind's memcheck,
//! with zero errors and zero definitely or indirectly lost bytes.
//!
//! The Rust library itself is not instrumented; ASan still sees every malloc and free of the
//! process (the library allocates through the system allocator), and valgrind sees everything.
//! No suppressions are needed: the only block valgrind reports is the main thread's
//! `std::thread::Thread` handle, "possibly lost", which is neither definite nor indirect.
//!
//! The programs need target/release/libmqtt.so, built by `make -C examples-c` under the same
//! file lock as tests/shipping/c_api.rs (target/examples-c.lock). Valgrind is required under
//! CI=true and skipped with a message otherwise.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::support::{
    Output, drain, examples_built, link_with_library, root, run_bounded as run, valgrind_present,
    wait_bounded,
};

const COMPILE_LIMIT: Duration = Duration::from_secs(120);
/// Valgrind runs programs tens of times slower; this still bounds a hang.
const RUN_LIMIT: Duration = Duration::from_secs(180);

const C_STRICT: &[&str] = &[
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Werror",
    "-D_POSIX_C_SOURCE=200809L",
    "-O1",
    "-g",
];
const SANITIZE: &[&str] = &[
    "-fsanitize=address,undefined",
    "-fno-omit-frame-pointer",
    // Any undefined behaviour aborts with a non-zero status instead of only printing.
    "-fno-sanitize-recover=all",
];
const ASAN_OPTIONS: &str = "detect_leaks=1:halt_on_error=1:exitcode=86:strict_string_checks=1";
const UBSAN_OPTIONS: &str = "halt_on_error=1:print_stacktrace=1";
const VALGRIND: &[&str] = &[
    "--quiet",
    "--error-exitcode=99",
    "--leak-check=full",
    "--show-leak-kinds=definite,indirect",
    "--errors-for-leak-kinds=definite,indirect",
];

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("sanitizers")
        .join(name);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// How a program is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checker {
    /// Built with ASan + UBSan, run directly.
    Sanitizers,
    /// Built plainly, run under valgrind's memcheck.
    Valgrind,
}

impl Checker {
    fn name(self) -> &'static str {
        match self {
            Checker::Sanitizers => "asan",
            Checker::Valgrind => "valgrind",
        }
    }

    /// Compiles `source` (strict C99) for this checker into the scratch directory.
    fn compile(self, source: &Path) -> PathBuf {
        examples_built();
        let stem = source.file_stem().expect("file name").to_string_lossy();
        let program = scratch(self.name()).join(&*stem);
        let mut command = Command::new("gcc");
        command.args(C_STRICT);
        if self == Checker::Sanitizers {
            command.args(SANITIZE);
        }
        link_with_library(&mut command, source, &program);
        let output = run(&mut command, COMPILE_LIMIT);
        assert!(
            output.status.success(),
            "gcc failed on {}: {}",
            source.display(),
            output.describe()
        );
        program
    }

    /// A command running `program` under this checker.
    fn command(self, program: &Path) -> Command {
        let mut command = match self {
            Checker::Sanitizers => {
                let mut command = Command::new(program);
                command
                    .env("ASAN_OPTIONS", ASAN_OPTIONS)
                    .env("UBSAN_OPTIONS", UBSAN_OPTIONS);
                command
            }
            Checker::Valgrind => {
                let mut command = Command::new("valgrind");
                command.args(VALGRIND).arg(program);
                command
            }
        };
        command.env_remove("LD_LIBRARY_PATH");
        command
    }

    /// Whether the checker can run here; valgrind must be there under CI=true.
    fn available(self) -> bool {
        if self == Checker::Sanitizers {
            return true;
        }
        valgrind_present()
    }
}

/// Asserts a run was clean: success, and no sanitizer or memcheck report in its stderr.
fn assert_clean(what: &str, output: &Output) {
    assert!(output.status.success(), "{what}: {}", output.describe());
    for report in [
        "ERROR: AddressSanitizer",
        "ERROR: LeakSanitizer",
        "runtime error:",
        "definitely lost",
        "indirectly lost",
        "Invalid read",
        "Invalid write",
        "uninitialised",
    ] {
        assert!(
            !output.stderr.contains(report),
            "{what}: {report:?} reported: {}",
            output.describe()
        );
    }
}

/// Runs a C test program of tests/c that reports "all N checks passed".
fn c_checks(checker: Checker, name: &str) {
    if !checker.available() {
        return;
    }
    let program = checker.compile(&root().join(format!("tests/c/{name}.c")));
    let output = run(&mut checker.command(&program), RUN_LIMIT);
    assert_clean(name, &output);
    assert!(
        output.stdout.starts_with("all ") && output.stdout.ends_with(" checks passed\n"),
        "{}",
        output.describe()
    );
}

#[test]
fn api_all_is_clean_under_asan_and_ubsan() {
    c_checks(Checker::Sanitizers, "api_all");
}

#[test]
fn api_all_is_clean_under_valgrind() {
    c_checks(Checker::Valgrind, "api_all");
}

/// The MQTT 5.0 client API (tests/c/client_v5.c): properties, options, reason codes,
/// request/response and enhanced authentication.
#[test]
fn client_v5_is_clean_under_asan_and_ubsan() {
    c_checks(Checker::Sanitizers, "client_v5");
}

#[test]
fn client_v5_is_clean_under_valgrind() {
    c_checks(Checker::Valgrind, "client_v5");
}

fn topic_match(checker: Checker) {
    if !checker.available() {
        return;
    }
    let program = checker.compile(&root().join("examples-c/topic_match.c"));
    let cases: &[(&[&str], i32)] = &[
        (&["sport/tennis/+", "sport/tennis/player1"], 0),
        (&["sport/#", "sport"], 0),
        (&["+/+", "$SYS/x"], 1),
        (&["sport/#/x", "sport"], 2),
        (&["a", "a/+"], 2),
        (&["a"], 2),
        (&["--help"], 0),
    ];
    for &(args, code) in cases {
        let output = run(checker.command(&program).args(args), RUN_LIMIT);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{args:?}: {}",
            output.describe()
        );
        let mut clean = output;
        // topic_match's own exit code is the answer; what matters here is no report.
        clean.status = ExitStatus::default();
        assert_clean(&format!("topic_match {args:?}"), &clean);
    }
}

#[test]
fn topic_match_is_clean_under_asan_and_ubsan() {
    topic_match(Checker::Sanitizers);
}

#[test]
fn topic_match_is_clean_under_valgrind() {
    topic_match(Checker::Valgrind);
}

/// A program started in the background, its output collected as it comes.
struct Background {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl Background {
    fn start(name: &'static str, mut command: Command) -> Background {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped");
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Some(drain(child.stderr.take().expect("piped")));
        Background {
            name,
            child,
            lines,
            stderr,
        }
    }

    fn next_line(&mut self, limit: Duration) -> String {
        match self.lines.recv_timeout(limit) {
            Ok(line) => line,
            Err(e) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
                panic!(
                    "{}: no line of output within {limit:?} ({e}); stderr:\n{}",
                    self.name,
                    stderr.unwrap_or_default()
                );
            }
        }
    }

    /// Waits for the exit; returns the status and the rest of the output.
    fn finish(mut self, limit: Duration) -> Output {
        let status = wait_bounded(&mut self.child, limit);
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stdout: Vec<String> = self.lines.try_iter().collect();
        let output = Output {
            status: status.unwrap_or_default(),
            stdout: stdout.join("\n"),
            stderr,
        };
        assert!(
            status.is_some(),
            "{} did not exit within {limit:?}: {}",
            self.name,
            output.describe()
        );
        output
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The demo (examples-c/demo.sh) with every program under `checker`: the broker on a free
/// port, a retained message published before the subscriber exists, a subscriber at QoS 2,
/// messages at QoS 0, 1 and 2 and an empty one, then SIGTERM to the broker, which must stop
/// cleanly and exit 0.
fn demo(checker: Checker) {
    if !checker.available() {
        return;
    }
    let source = |name: &str| root().join("examples-c").join(format!("{name}.c"));
    let broker = checker.compile(&source("broker"));
    let subscribe = checker.compile(&source("subscribe"));
    let publish = checker.compile(&source("publish"));

    let mut command = checker.command(&broker);
    command.args(["-p", "0", "-v"]);
    let mut broker_run = Background::start("broker", command);
    let listening = broker_run.next_line(Duration::from_secs(60));
    let port = listening
        .rsplit(':')
        .next()
        .filter(|_| listening.starts_with("listening on "))
        .unwrap_or_else(|| panic!("unexpected first line from the broker: {listening:?}"))
        .to_owned();

    let publish_one = |args: &[&str]| {
        let mut command = checker.command(&publish);
        command.args(["-h", "127.0.0.1", "-p", &port]).args(args);
        let output = run(&mut command, RUN_LIMIT);
        assert_clean(&format!("publish {args:?}"), &output);
    };
    publish_one(&[
        "-t",
        "demo/status",
        "-m",
        "online (retained)",
        "-q",
        "1",
        "-r",
    ]);

    let mut command = checker.command(&subscribe);
    command.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-t",
        "demo/#",
        "-q",
        "2",
        "-v",
        "-C",
        "5",
        "-W",
        "120",
    ]);
    let mut subscriber = Background::start("subscribe", command);
    // The retained message arrives once the subscription is in place.
    assert_eq!(
        subscriber.next_line(Duration::from_secs(60)),
        "demo/status online (retained)"
    );
    publish_one(&["-t", "demo/greeting", "-m", "Hello at QoS 0", "-q", "0"]);
    publish_one(&["-t", "demo/greeting", "-m", "Hello at QoS 1", "-q", "1"]);
    publish_one(&["-t", "demo/greeting", "-m", "Hello at QoS 2", "-q", "2"]);
    publish_one(&["-t", "demo/empty", "-n", "-q", "1"]);
    let received: Vec<String> = (0..4)
        .map(|_| subscriber.next_line(Duration::from_secs(60)))
        .collect();
    assert_eq!(
        received,
        [
            "demo/greeting Hello at QoS 0",
            "demo/greeting Hello at QoS 1",
            "demo/greeting Hello at QoS 2",
            "demo/empty ",
        ]
    );
    let subscriber_output = subscriber.finish(RUN_LIMIT);
    assert_clean("subscribe", &subscriber_output);

    // SAFETY: kill(2) on the broker's own pid (or valgrind's, which forwards it to the guest).
    let sent = unsafe { libc::kill(broker_run.child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0, "kill: {}", std::io::Error::last_os_error());
    let broker_output = broker_run.finish(RUN_LIMIT);
    assert_clean("broker", &broker_output);
}

#[test]
fn demo_programs_are_clean_under_asan_and_ubsan() {
    demo(Checker::Sanitizers);
}

#[test]
fn demo_programs_are_clean_under_valgrind() {
    demo(Checker::Valgrind);
}
