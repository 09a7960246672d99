//! The standalone broker program, examples-c/build/broker, driven with real peers: our raw test
//! client and, where installed, mosquitto_pub / mosquitto_sub.
//!
//! The program is built by `make -C examples-c` under the same file lock as the other C tests
//! (target/examples-c.lock), since several test binaries may run the same make at once.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;
use mqtt::protocol::{ConnectReturnCode, Packet, QoS, QosPid};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BUILD_LIMIT: Duration = Duration::from_secs(900);
const EXIT_LIMIT: Duration = Duration::from_secs(10);

fn program() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let root = Path::new(ROOT);
        std::fs::create_dir_all(root.join("target")).map_err(|e| e.to_string())?;
        let lock = File::create(root.join("target/examples-c.lock")).map_err(|e| e.to_string())?;
        lock.lock().map_err(|e| e.to_string())?;
        let mut make = Command::new("make")
            .arg("-C")
            .arg(root.join("examples-c"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut stderr = make.stderr.take().expect("piped");
        let reader = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let status = wait_for(&mut make, BUILD_LIMIT);
        let log = reader.join().unwrap_or_default();
        drop(lock);
        match status {
            Some(s) if s.success() => Ok(root.join("examples-c/build/broker")),
            other => Err(format!("make -C examples-c: {other:?}\n{log}")),
        }
    });
    match built {
        Ok(path) => path.clone(),
        Err(message) => panic!("{message}"),
    }
}

fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for child") {
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

/// A running broker program; killed if the test ends without stopping it.
struct Running {
    child: Child,
    port: u16,
    stderr: Option<ChildStderr>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(program())
            .args(["-p", "0"])
            .args(args)
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("broker program starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the broker prints its address");
        let port = line
            .trim()
            .strip_prefix("listening on 127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("a port number");
        let stderr = child.stderr.take();
        Running {
            child,
            port,
            stderr,
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: sends a signal to our own child process.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0);
    }

    /// Sends `signal` and returns the exit status and everything written to stderr.
    fn stop_with(mut self, signal: i32) -> (ExitStatus, String) {
        self.signal(signal);
        let status = wait_for(&mut self.child, EXIT_LIMIT).expect("broker exits after signal");
        let mut log = String::new();
        if let Some(mut stderr) = self.stderr.take() {
            let _ = stderr.read_to_string(&mut log);
        }
        (status, log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_to_end(args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(program())
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("broker program starts");
    let status = wait_for(&mut child, EXIT_LIMIT).expect("exits on its own");
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, out, err)
}

#[test]
fn serves_raw_clients_and_stops_cleanly_on_sigterm_and_sigint() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let broker = Running::start(&["-v"]);
        let mut sub = RawClient::clean(broker.port, "prog-sub");
        sub.subscribe_ok(1, &[("prog/#", QoS::ExactlyOnce)]);
        let mut publisher = RawClient::clean(broker.port, "prog-pub");
        publisher.send(&publish("prog/x", b"hi", QosPid::ExactlyOnce(pid(4)), true));
        assert_eq!(publisher.recv(), Packet::Pubrec(pid(4).into()));
        let p = sub.recv_publish();
        assert_eq!(p.payload.as_ref(), b"hi");
        publisher.disconnect();
        let (status, log) = broker.stop_with(signal);
        assert_eq!(status.code(), Some(0), "log: {log}");
        sub.expect_closed(READ_TIMEOUT);
        assert!(
            log.contains("connected prog-sub from 127.0.0.1:"),
            "log: {log}"
        );
        assert!(
            log.contains("disconnected prog-pub from 127.0.0.1:") && log.contains("DISCONNECT"),
            "log: {log}"
        );
    }
}

#[test]
fn quiet_without_verbose() {
    let broker = Running::start(&[]);
    RawClient::clean(broker.port, "quiet").disconnect();
    let (status, log) = broker.stop_with(libc::SIGTERM);
    assert_eq!(status.code(), Some(0));
    assert_eq!(log, "");
}

#[test]
fn max_connections_flag_refuses_with_0x03() {
    let broker = Running::start(&["--max-connections", "2"]);
    let mut a = RawClient::clean(broker.port, "a");
    let mut b = RawClient::clean(broker.port, "b");
    let (mut c, connack) = RawClient::connect_with(broker.port, connect_packet("c", true));
    assert_eq!(
        connack.code,
        ConnectReturnCode::ServerUnavailable.to_reason()
    );
    c.expect_closed(READ_TIMEOUT);
    a.sync();
    b.sync();
    let (status, _) = broker.stop_with(libc::SIGTERM);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn help_bad_flags_and_port_in_use() {
    let (status, out, _) = run_to_end(&["-h"]);
    assert_eq!(status.code(), Some(0));
    assert!(out.starts_with("usage: broker"), "{out}");

    for bad in [
        &["--bogus"][..],
        &["-p"],
        &["-p", "70000"],
        &["--max-connections", "0"],
        &["--max-connections", "many"],
    ] {
        let (status, out, err) = run_to_end(bad);
        assert_eq!(status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains("usage: broker"), "{bad:?}: {err}");
        assert_eq!(out, "");
    }

    // An address that cannot be resolved or bound is a start failure, not a usage error.
    let (status, _, err) = run_to_end(&["-p", "0", "-b", "no.such.host.invalid"]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("no.such.host.invalid"), "{err}");

    let first = Running::start(&["-b", "127.0.0.1"]);
    let port = first.port.to_string();
    let (status, out, err) = run_to_end(&["-p", &port]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("in use"), "{err}");
    assert_eq!(out, "");
    let (status, _) = first.stop_with(libc::SIGTERM);
    assert_eq!(status.code(), Some(0));
}

fn mosquitto_tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

#[test]
fn interoperates_with_mosquitto_clients() {
    let (Some(sub_tool), Some(pub_tool)) = (
        mosquitto_tool("mosquitto_sub"),
        mosquitto_tool("mosquitto_pub"),
    ) else {
        eprintln!("mosquitto_sub/mosquitto_pub not installed; covered by the raw-client tests");
        return;
    };
    let broker = Running::start(&["-v"]);
    let port = broker.port.to_string();
    let mut retained = Command::new(&pub_tool)
        .args([
            "-p",
            &port,
            "-t",
            "interop/retained",
            "-m",
            "kept",
            "-q",
            "1",
            "-r",
        ])
        .spawn()
        .unwrap();
    assert!(wait_for(&mut retained, EXIT_LIMIT).unwrap().success());
    let mut subscriber = Command::new(&sub_tool)
        .args([
            "-p",
            &port,
            "-t",
            "interop/#",
            "-v",
            "-q",
            "2",
            "-C",
            "3",
            "-W",
            "10",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = subscriber.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || {
        lines
            .recv_timeout(READ_TIMEOUT)
            .expect("mosquitto_sub prints")
    };
    // The retained message arrives only once the subscription is in place.
    assert_eq!(next(), "interop/retained kept");
    for (qos, message) in [("1", "one"), ("2", "two")] {
        let mut publisher = Command::new(&pub_tool)
            .args(["-p", &port, "-t", "interop/live", "-m", message, "-q", qos])
            .spawn()
            .unwrap();
        assert!(wait_for(&mut publisher, EXIT_LIMIT).unwrap().success());
    }
    assert_eq!(next(), "interop/live one");
    assert_eq!(next(), "interop/live two");
    let status = wait_for(&mut subscriber, EXIT_LIMIT).expect("mosquitto_sub exits");
    assert!(status.success());
    let (status, log) = broker.stop_with(libc::SIGTERM);
    assert_eq!(status.code(), Some(0));
    assert!(log.contains("connected"), "{log}");
}
