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

use super::service_files::{Scratch, mosquitto_passwd};
use crate::common::*;
use mqtt::protocol::{ConnectReturnCode, Packet, QoS, QosPid};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BUILD_LIMIT: Duration = Duration::from_secs(900);
const EXIT_LIMIT: Duration = Duration::from_secs(10);

pub(super) fn program() -> PathBuf {
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
pub(super) struct Running {
    child: Child,
    pub(super) port: u16,
    stderr: Option<ChildStderr>,
}

impl Running {
    pub(super) fn start(args: &[&str]) -> Running {
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
        // "listening on mqtt://ADDRESS:PORT", one line per listener: the first one's port.
        let port = line
            .trim()
            .strip_prefix("listening on mqtt://")
            .and_then(|url| url.rsplit_once(':'))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .1
            .parse()
            .expect("a port number");
        let stderr = child.stderr.take();
        Running {
            child,
            port,
            stderr,
        }
    }

    pub(super) fn signal(&self, signal: i32) {
        // SAFETY: sends a signal to our own child process.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0);
    }

    /// The next line the program itself writes to stderr, within 10 s: the library's log lines
    /// (a configuration without `log_dest` logs to stderr, each line starting with the Unix time
    /// and `: `) are skipped.
    fn stderr_line(&mut self) -> String {
        let mut stderr = self.stderr.take().expect("stderr piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Byte by byte, so nothing after the line is read ahead and lost.
        thread::spawn(move || {
            let line = loop {
                let mut line = Vec::new();
                let mut byte = [0u8; 1];
                while matches!(stderr.read(&mut byte), Ok(1)) && byte[0] != b'\n' {
                    line.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                let logged = text.split_once(": ").is_some_and(|(time, _)| {
                    !time.is_empty() && time.bytes().all(|b| b.is_ascii_digit())
                });
                if !logged {
                    break text;
                }
            };
            let _ = tx.send((line, stderr));
        });
        let (line, stderr) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a line on stderr");
        self.stderr = Some(stderr);
        line
    }

    /// Sends `signal` and returns the exit status and everything written to stderr.
    pub(super) fn stop_with(mut self, signal: i32) -> (ExitStatus, String) {
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

/// Connects with a user name and password; returns the client and the CONNACK return code.
/// A QoS 0 PUBLISH, not retained.
fn say(topic: &str, payload: &[u8]) -> Packet {
    publish(topic, payload, QosPid::AtMostOnce, false)
}

/// The next packet is a PUBLISH on `topic`.
fn expect_topic(client: &mut RawClient, topic: &str) {
    match client.recv() {
        Packet::Publish(p) => assert_eq!(p.topic.as_str(), topic),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

fn connect_as(port: u16, user: Option<&str>, password: &str) -> (RawClient, ConnectReturnCode) {
    let mut connect = connect_packet(user.unwrap_or("anonymous"), true);
    connect.username = user.map(str::to_owned);
    connect.password = user.map(|_| password.as_bytes().to_vec());
    let (client, connack) = RawClient::connect_with(port, connect);
    (client, ConnectReturnCode::from_reason(connack.code))
}

/// `-c FILE` reads a mosquitto.conf whose password file (made by the real `mosquitto_passwd`)
/// and ACL file decide who connects and what each client may publish, receive and subscribe to,
/// as mosquitto would: a wrong password gets 0x04, an anonymous client 0x05 when
/// `allow_anonymous false`; a subscription no read rule can match gets 0x80; a publish without
/// write access is not routed; a message the subscriber may not read is not delivered.
#[test]
fn config_file_with_password_and_acl_files() {
    let Some(passwd_tool) = mosquitto_passwd() else {
        return;
    };
    let scratch = Scratch::new("program-config");
    let passwd = scratch.write("passwd", "");
    for (user, password) in [("alice", "secret-a"), ("bob", "secret-b")] {
        let status = Command::new(&passwd_tool)
            .args(["-b", passwd.to_str().unwrap(), user, password])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let acl = scratch.write(
        "acl",
        "user alice\ntopic readwrite alice/#\ntopic read news/#\n\
         user bob\ntopic write news/#\ntopic read alice/inbox\n\
         pattern readwrite devices/%u/#\n",
    );
    let conf = scratch.write(
        "broker.conf",
        &format!(
            "listener 1883\nallow_anonymous false\npassword_file {}\nacl_file {}\n\
             max_queued_messages 100\n",
            passwd.display(),
            acl.display()
        ),
    );
    let mut broker = Running::start(&["-c", conf.to_str().unwrap(), "-b", "127.0.0.1"]);
    let port = broker.port;
    assert_eq!(
        connect_as(port, None, "").1,
        ConnectReturnCode::NotAuthorized
    );
    assert_eq!(
        connect_as(port, Some("alice"), "wrong").1,
        ConnectReturnCode::BadUsernameOrPassword
    );
    assert_eq!(
        connect_as(port, Some("mallory"), "x").1,
        ConnectReturnCode::BadUsernameOrPassword
    );
    let (mut alice, code) = connect_as(port, Some("alice"), "secret-a");
    assert_eq!(code, ConnectReturnCode::Accepted);
    let (mut bob, code) = connect_as(port, Some("bob"), "secret-b");
    assert_eq!(code, ConnectReturnCode::Accepted);

    // Subscriptions: refused where no read rule could ever match.
    alice.send(&subscribe(
        1,
        &[("alice/#", QoS::AtMostOnce), ("secret/#", QoS::AtMostOnce)],
    ));
    match alice.recv() {
        Packet::Suback(s) => assert_eq!(s.codes.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 0x80]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    alice.subscribe_ok(
        2,
        &[
            ("news/#", QoS::AtMostOnce),
            ("devices/alice/#", QoS::AtMostOnce),
        ],
    );
    bob.subscribe_ok(1, &[("alice/#", QoS::AtMostOnce)]);

    // Write access: bob may publish news, alice may not.
    bob.send(&say("news/1", b"from bob"));
    alice.send(&say("news/2", b"from alice"));
    // The pattern gives alice her own device tree.
    alice.send(&say("devices/alice/lamp", b"on"));
    let mut got = Vec::new();
    for _ in 0..2 {
        match alice.recv() {
            Packet::Publish(p) => got.push(p.topic.as_str().to_owned()),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    got.sort();
    assert_eq!(got, ["devices/alice/lamp", "news/1"]);
    // Read access per message: bob's alice/# subscription only lets alice/inbox through.
    alice.send(&say("alice/diary", b"private"));
    alice.send(&say("alice/inbox", b"hello bob"));
    expect_topic(&mut bob, "alice/inbox");
    assert!(
        bob.try_recv(Duration::from_millis(300)).is_err(),
        "nothing else reaches bob"
    );

    // SIGHUP reads both files again, as mosquitto's does. A bad file leaves the old ones in force.
    std::fs::write(&acl, "user alice\ntopic sometimes alice/#\n").unwrap();
    broker.signal(libc::SIGHUP);
    let line = broker.stderr_line();
    assert!(
        line.contains("reload failed") && line.contains(&format!("{}:2:", acl.display())),
        "{line}"
    );
    alice.send(&say("alice/diary", b"still private"));
    assert!(bob.try_recv(Duration::from_millis(300)).is_err());
    // A good reload: bob may now read all of alice/#, even while connected, and alice has a new
    // password for her next connection.
    std::fs::write(
        &acl,
        "user alice\ntopic readwrite alice/#\nuser bob\ntopic read alice/#\n",
    )
    .unwrap();
    let status = Command::new(&passwd_tool)
        .args(["-b", passwd.to_str().unwrap(), "alice", "new-secret"])
        .status()
        .unwrap();
    assert!(status.success());
    broker.signal(libc::SIGHUP);
    assert_eq!(
        broker.stderr_line(),
        "broker: reloaded the password and ACL files and TLS certificates"
    );
    alice.send(&say("alice/diary", b"shared now"));
    expect_topic(&mut bob, "alice/diary");
    assert_eq!(
        connect_as(port, Some("alice"), "secret-a").1,
        ConnectReturnCode::BadUsernameOrPassword
    );
    assert_eq!(
        connect_as(port, Some("alice"), "new-secret").1,
        ConnectReturnCode::Accepted
    );
    let (status, _) = broker.stop_with(libc::SIGTERM);
    assert!(status.success());
}

/// `log_type` and `log_dest file` in the configuration: the broker appends exactly the enabled
/// types to the file, in mosquitto's words, with the time stamp `log_timestamp_format` asks for.
#[test]
fn config_file_log_lines_go_to_the_log_file() {
    let scratch = Scratch::new("program-log");
    let log = scratch.write("broker.log", "an earlier line\n");
    let conf = scratch.write(
        "broker.conf",
        &format!(
            "listener 0\nlog_type notice\nlog_type subscribe\nlog_dest stdout\n\
             log_dest none\nlog_dest file {}\nlog_timestamp_format [%Y]\n",
            log.display()
        ),
    );
    let broker = Running::start(&["-c", conf.to_str().unwrap()]);
    let (mut client, code) = connect_as(broker.port, Some("carol"), "");
    assert_eq!(code, ConnectReturnCode::Accepted);
    client.subscribe_ok(7, &[("log/#", QoS::AtLeastOnce)]);
    client.send(&Packet::Unsubscribe(mqtt::protocol::Unsubscribe {
        packet_id: std::num::NonZeroU16::new(8).unwrap(),
        filters: vec!["log/#".into()],
        properties: Default::default(),
    }));
    assert!(matches!(client.recv(), Packet::Unsuback(_)));
    client.send(&Packet::Disconnect(mqtt::protocol::Disconnect::default()));
    drop(client);
    // The disconnect line is written once the broker has seen the connection end.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("disconnected.") || Instant::now() > deadline {
            break text;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let (status, _) = broker.stop_with(libc::SIGTERM);
    assert!(status.success());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "an earlier line", "appended: {text}");
    // `log_timestamp_format [%Y]`: "[2026]: " before each message.
    let messages: Vec<&str> = lines[1..]
        .iter()
        .map(|l| {
            let stamp = l.get(..8).unwrap_or("");
            assert!(
                stamp.starts_with('[')
                    && stamp.ends_with("]: ")
                    && stamp[1..5].bytes().all(|b| b.is_ascii_digit()),
                "{l:?} without the year"
            );
            &l[8..]
        })
        .collect();
    let connected = messages
        .iter()
        .find(|m| m.starts_with("New client connected from 127.0.0.1:"))
        .unwrap_or_else(|| panic!("no connect line: {text}"));
    assert!(
        connected.ends_with(" as carol (p2, c1, k60, u'carol')."),
        "{connected}"
    );
    assert!(
        messages.contains(&"carol 1 log/#"),
        "subscribe line: {text}"
    );
    assert!(messages.contains(&"Client carol disconnected."), "{text}");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("Opening mqtt listen socket on 0.0.0.0:")),
        "{text}"
    );
    // Not enabled: unsubscribe, debug and information lines.
    assert!(
        !messages.contains(&"carol log/#"),
        "unsubscribe line: {text}"
    );
    assert!(!text.contains("Received"), "debug line: {text}");
    assert_eq!(messages.len(), 5, "{text}");
}

/// A configuration the broker cannot honour stops it before it listens, naming the file and
/// line (exit status 3).
#[test]
fn config_file_errors_name_the_line() {
    let scratch = Scratch::new("program-bad-config");
    for (text, expected) in [
        ("listener 1883\nno_such_keyword 1\n", ":2: "),
        ("listener 1883\nautosave_on_changes true\n", "not supported"),
        (
            "listener 1883\ncertfile /nonexistent/c.pem\n",
            ":1: this listener needs both",
        ),
        ("password_file /nonexistent/passwd\n", "/nonexistent/passwd"),
        (
            "listener 0\nlog_type chatter\n",
            ":2: invalid `log_type` value \"chatter\"",
        ),
        (
            "log_dest stdout\nlog_dest syslog\n",
            ":2: `log_dest syslog` is known",
        ),
        ("log_dest carrier-pigeon\n", ":1: invalid `log_dest` value"),
        ("log_timestamp maybe\n", ":1: "),
        (
            "\nlog_dest file /nonexistent/dir/broker.log\n",
            ":2: cannot open the log file /nonexistent/dir/broker.log",
        ),
    ] {
        let conf = scratch.write("bad.conf", text);
        let (status, out, err) = run_to_end(&["-c", conf.to_str().unwrap(), "-p", "0"]);
        assert_eq!(status.code(), Some(3), "{text:?}: {out}{err}");
        assert!(err.contains(expected), "{text:?}: {err}");
        assert!(out.is_empty(), "{text:?} listened: {out}");
    }
}
