//! Shared fixtures for the interoperability tests: this project's broker with a record of its
//! connection events, third-party peer programs run as child processes with bounded waits, and
//! a raw wire-level observer that completes every QoS flow by hand.
//!
//! Every test file that uses this module also declares `mod common;` (tests/common) for the
//! raw MQTT client.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::common::{RawClient, eventually, pid, publish, start_broker};
use mqtt::broker::{Broker, BrokerEvent, BrokerOptions, BrokerStats, DisconnectReason};
use mqtt::protocol::{Packet, Publish, QoS, QosPid};

/// How long any peer program may take to finish a scenario step.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether CI demands every interop peer to be present.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `true` when `what` is usable; otherwise prints why the test is skipped and returns `false`,
/// or fails the test under `CI=true`.
pub fn peer_present(what: &str, present: bool, install_hint: &str) -> bool {
    if present {
        return true;
    }
    if under_ci() {
        panic!("{what} is missing, and CI=true requires the interop tests ({install_hint})");
    }
    eprintln!("SKIPPED: {what} is missing ({install_hint})");
    false
}

/// mosquitto_pub and mosquitto_sub from Debian's mosquitto-clients.
pub fn mosquitto_clients_present() -> bool {
    let found = ["mosquitto_pub", "mosquitto_sub"]
        .iter()
        .all(|tool| on_path(tool));
    peer_present(
        "mosquitto_pub/mosquitto_sub",
        found,
        "apt-get install mosquitto-clients",
    )
}

pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| Path::new(&dir).join(tool).is_file())
    })
}

/// mosquitto_sub's output format (`-F`): QoS, RETAIN flag, topic, payload as hex.
pub const FORMAT: &str = "%q %r %t %x";
/// mosquitto_sub's exit status when `-W` expired before `-C` messages arrived.
pub const SUB_TIMED_OUT: i32 = 27;

/// mosquitto_sub's line in [`FORMAT`] for a received message.
pub fn line(qos: QoS, retain: bool, topic: &str, payload: &[u8]) -> String {
    format!(
        "{} {} {topic} {}",
        qos as u8,
        u8::from(retain),
        hex(payload)
    )
}

/// A connection life-cycle event the broker reported, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Connected {
        client_id: String,
        clean_session: bool,
        session_present: bool,
    },
    Disconnected {
        client_id: String,
        reason: DisconnectReason,
    },
}

/// This project's broker on an ephemeral 127.0.0.1 port, recording its connection events.
pub struct ObservedBroker {
    pub broker: Broker,
    events: Arc<Mutex<Vec<Event>>>,
}

impl ObservedBroker {
    pub fn start() -> ObservedBroker {
        let events: Arc<Mutex<Vec<Event>>> = Arc::default();
        let sink = Arc::clone(&events);
        let options = BrokerOptions::default().event_hook(move |event| {
            let owned = match *event {
                BrokerEvent::Connected {
                    client_id,
                    clean_session,
                    session_present,
                    ..
                } => Event::Connected {
                    client_id: client_id.to_owned(),
                    clean_session,
                    session_present,
                },
                BrokerEvent::Disconnected {
                    client_id, reason, ..
                } => Event::Disconnected {
                    client_id: client_id.to_owned(),
                    reason,
                },
            };
            sink.lock().push(owned);
        });
        ObservedBroker {
            broker: start_broker(options),
            events,
        }
    }

    pub fn port(&self) -> u16 {
        self.broker.port()
    }

    pub fn stats(&self) -> BrokerStats {
        self.broker.stats()
    }

    /// Waits for the `nth` (0-based) connection of `client_id`; returns its session-present flag
    /// and clean-session request.
    pub fn wait_connected(&self, client_id: &str, nth: usize) -> (bool, bool) {
        let mut found = None;
        eventually(&format!("connection #{nth} of {client_id}"), || {
            found = self
                .events
                .lock()
                .iter()
                .filter_map(|e| match e {
                    Event::Connected {
                        client_id: id,
                        clean_session,
                        session_present,
                    } if id == client_id => Some((*session_present, *clean_session)),
                    _ => None,
                })
                .nth(nth);
            found.is_some()
        });
        found.unwrap()
    }

    /// Waits for the `nth` (0-based) end of a connection of `client_id`; returns why it ended.
    pub fn wait_disconnected(&self, client_id: &str, nth: usize) -> DisconnectReason {
        let mut found = None;
        eventually(&format!("disconnect #{nth} of {client_id}"), || {
            found = self
                .events
                .lock()
                .iter()
                .filter_map(|e| match e {
                    Event::Disconnected {
                        client_id: id,
                        reason,
                    } if id == client_id => Some(*reason),
                    _ => None,
                })
                .nth(nth);
            found.is_some()
        });
        found.unwrap()
    }

    /// Waits until `event` has been reported.
    pub fn wait_event(&self, event: &Event) {
        eventually(&format!("{event:?}"), || self.events.lock().contains(event));
    }

    /// Waits until the broker holds exactly `n` subscriptions (a peer program's SUBSCRIBE was
    /// processed).
    pub fn wait_subscriptions(&self, n: u64) {
        eventually(&format!("{n} subscriptions"), || {
            self.stats().subscriptions == n
        });
    }
}

/// A peer program running as a child process: stdout is collected line by line, stdin may be
/// written, and the process is killed (SIGKILL) if still running when dropped.
pub struct PeerProcess {
    name: String,
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl PeerProcess {
    /// Starts `command`, with stdin piped when `stdin` is true (else /dev/null).
    pub fn spawn(mut command: Command, stdin: bool) -> PeerProcess {
        let name = format!("{command:?}");
        command
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let (tx, lines): (Sender<String>, Receiver<String>) = crossbeam_channel::unbounded();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => {
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let err_pipe = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock();
                text.push_str(&line);
                text.push('\n');
            }
        });
        PeerProcess {
            name,
            child,
            lines,
            stderr,
        }
    }

    /// Writes `bytes` to the program's stdin and closes it.
    pub fn feed_stdin(&mut self, bytes: &[u8]) {
        let mut stdin = self.child.stdin.take().expect("stdin was piped");
        stdin.write_all(bytes).expect("write to peer stdin");
    }

    /// The next line of output, or `None` when none came within `within` or output ended.
    pub fn next_line(&self, within: Duration) -> Option<String> {
        self.lines.recv_timeout(within).ok()
    }

    /// The next line, which must arrive within [`PEER_TIMEOUT`].
    pub fn expect_line(&self) -> String {
        self.next_line(PEER_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "{}: no output line within {PEER_TIMEOUT:?}; stderr: {}",
                self.name,
                self.stderr()
            )
        })
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().clone()
    }

    /// Waits for the program to exit within `within` (killing it otherwise, which fails the
    /// test); returns its status and every output line not read yet.
    pub fn finish(mut self, within: Duration) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for peer") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} still running after {within:?}; stderr: {}",
                    self.name,
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        // The reader thread ends at end of output; collect what it forwarded.
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            rest.push(line);
        }
        (status, rest)
    }

    /// Like [`PeerProcess::finish`], and asserts the exit status is 0.
    pub fn finish_ok(self, within: Duration) -> Vec<String> {
        let name = self.name.clone();
        let stderr = Arc::clone(&self.stderr);
        let (status, lines) = self.finish(within);
        assert!(
            status.success(),
            "{name} exited with {status}; output {lines:?}; stderr: {}",
            stderr.lock()
        );
        lines
    }

    /// Stops the program with SIGSTOP: its socket stays open but it sends nothing more, not even
    /// PINGREQ. Dropping it (SIGKILL) still ends it.
    pub fn freeze(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) with a pid of our own child and a valid signal number.
        let rc = unsafe { libc::kill(pid, libc::SIGSTOP) };
        assert_eq!(rc, 0, "SIGSTOP {}", self.name);
    }

    /// Kills the program with SIGKILL: its socket closes without DISCONNECT.
    pub fn kill(mut self) {
        self.child.kill().expect("kill peer");
        let _ = self.child.wait();
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Lower-case hex of `bytes`, as mosquitto_sub's `%x` format prints a payload.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The next PUBLISH on `client`, acknowledged as a well-behaved subscriber would: PUBACK for
/// QoS 1, PUBREC for QoS 2. The broker may send further PUBLISHes before our PUBREC's PUBREL
/// arrives (its in-flight window), so PUBRELs met on the way are answered with PUBCOMP; call
/// [`settle`] at the end to finish the last flows.
pub fn recv_publish_acked(client: &mut RawClient) -> Publish {
    loop {
        match client.recv() {
            Packet::Publish(message) => {
                match message.qospid {
                    QosPid::AtMostOnce => {}
                    QosPid::AtLeastOnce(id) => client.send(&Packet::Puback(id.into())),
                    QosPid::ExactlyOnce(id) => client.send(&Packet::Pubrec(id.into())),
                }
                return message;
            }
            Packet::Pubrel(id) => client.send(&Packet::Pubcomp(id)),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
}

/// Completes every open QoS 2 flow (PUBREL → PUBCOMP) and round-trips a PINGREQ; asserts no
/// PUBLISH arrived meanwhile, so nothing was delivered twice or unexpectedly.
pub fn settle(client: &mut RawClient) {
    client.send(&Packet::Pingreq);
    loop {
        match client.recv() {
            Packet::Pingresp => return,
            Packet::Pubrel(id) => client.send(&Packet::Pubcomp(id)),
            other => panic!("expected only PUBREL before PINGRESP, got {other:?}"),
        }
    }
}

/// Publishes from a raw client and completes the flow: PUBACK for QoS 1, PUBREC→PUBREL→PUBCOMP
/// for QoS 2. `id` is the packet id used for QoS 1 and 2.
pub fn publish_from_raw(
    client: &mut RawClient,
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    id: u16,
) {
    client.send(&publish(topic, payload, QosPid::new(qos, pid(id)), retain));
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => assert_eq!(client.recv(), Packet::Puback(pid(id).into())),
        QoS::ExactlyOnce => {
            assert_eq!(client.recv(), Packet::Pubrec(pid(id).into()));
            client.send(&Packet::Pubrel(pid(id).into()));
            assert_eq!(client.recv(), Packet::Pubcomp(pid(id).into()));
        }
    }
}

/// Publishes from `client`, to a subscriber granted `sub_qos`, one message at each QoS on
/// out/`sub_qos`/`pub_qos` with the payload "`payload_prefix` `sub_qos``pub_qos`" and packet
/// identifiers 1 to 3, each acknowledged; returns (topic, payload, delivered QoS) of each in
/// publishing order, the delivered QoS being the minimum of both ([MQTT-3.8.4-6]).
pub fn publish_at_each_qos(
    client: &mut RawClient,
    sub_qos: QoS,
    payload_prefix: &str,
) -> Vec<(String, String, QoS)> {
    [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
        .map(|(n, pub_qos)| {
            let topic = format!("out/{}/{}", sub_qos as u8, pub_qos as u8);
            let payload = format!("{payload_prefix} {}{}", sub_qos as u8, pub_qos as u8);
            publish_from_raw(
                client,
                &topic,
                payload.as_bytes(),
                pub_qos,
                false,
                n as u16 + 1,
            );
            (topic, payload, pub_qos.min(sub_qos))
        })
        .collect()
}

/// Publishes six messages from `client` on queue/0 to queue/5, alternating QoS 1 and 2, with the
/// payloads "`payload_prefix` 0" to "`payload_prefix` 5" and packet identifiers 1 to 6, each
/// acknowledged; returns (topic, payload, QoS) of each in publishing order.
pub fn publish_queue(client: &mut RawClient, payload_prefix: &str) -> Vec<(String, String, QoS)> {
    (0..6u16)
        .map(|i| {
            let qos = if i % 2 == 0 {
                QoS::AtLeastOnce
            } else {
                QoS::ExactlyOnce
            };
            let topic = format!("queue/{i}");
            let payload = format!("{payload_prefix} {i}");
            publish_from_raw(client, &topic, payload.as_bytes(), qos, false, i + 1);
            (topic, payload, qos)
        })
        .collect()
}

/// Publishes "one" on resend/1 at QoS 1 (packet id 1) and "two" on resend/2 at QoS 2 (packet
/// id 2) from `client`, each acknowledged: the pair the resend tests leave unacknowledged.
pub fn publish_resend_pair(client: &mut RawClient) {
    publish_from_raw(client, "resend/1", b"one", QoS::AtLeastOnce, false, 1);
    publish_from_raw(client, "resend/2", b"two", QoS::ExactlyOnce, false, 2);
}

/// A raw subscriber on 127.0.0.1:`port` with `filter` granted at `qos`.
pub fn raw_subscriber(port: u16, client_id: &str, filter: &str, qos: QoS) -> RawClient {
    let mut client = RawClient::clean(port, client_id);
    client.subscribe_ok(1, &[(filter, qos)]);
    client
}

/// Asserts the PUBLISH has exactly this topic, payload, QoS and flags.
pub fn assert_publish(message: &Publish, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
    assert_eq!(message.topic.as_str(), topic, "topic of {message:?}");
    assert_eq!(&message.payload[..], payload, "payload of {message:?}");
    assert_eq!(message.qospid.qos(), qos, "QoS of {message:?}");
    assert_eq!(message.retain, retain, "RETAIN of {message:?}");
    assert!(!message.dup, "DUP set on a first delivery: {message:?}");
}

/// The paho-mqtt peer script (tests/python/paho_peer.py) run by python3.
pub fn paho_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/paho_peer.py")
}

/// Python 3 with paho-mqtt 2.x (the callback API version 2 the script is written for).
pub fn paho_present() -> bool {
    let usable = Command::new("python3")
        .args([
            "-c",
            "import paho.mqtt.client as c; assert hasattr(c, 'CallbackAPIVersion')",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    peer_present(
        "python3 with paho-mqtt 2.x",
        usable,
        "python3 -m pip install paho-mqtt",
    )
}
