//! Interoperability: this project's client (`mqtt::client`) against Debian's mosquitto broker
//! (started per test on a free 127.0.0.1 port, `persistence false`, killed on drop), with
//! mosquitto_pub / mosquitto_sub as independent peers, over MQTT 3.1.1 and MQTT 3.1.
//! tests/client/mosquitto.rs runs the client's own scenarios (our client on both ends); here a
//! third-party program is always on the other end, so a symmetric mistake cannot cancel out.
//! Skipped with a message when mosquitto or mosquitto-clients is missing, a failure under
//! CI=true.

use std::process::Command;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::interop_support::{
    FORMAT, PEER_TIMEOUT, PeerProcess, SUB_TIMED_OUT, line, mosquitto_clients_present,
};
use crate::mosquitto::Mosquitto;
use mqtt::client::{Client, ClientError, CloseReason, ConnectOptions};
use mqtt::protocol::{ProtocolLevel, QoS};

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(300);
const ALL_QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
const PROTOCOLS: [ProtocolLevel; 2] = [ProtocolLevel::V311, ProtocolLevel::V31];

/// mosquitto and mosquitto-clients, or `None` after printing why the test is skipped.
fn mosquitto() -> Option<Mosquitto> {
    if !mosquitto_clients_present() {
        return None;
    }
    Mosquitto::start()
}

/// The `-V` argument of the mosquitto programs for the same protocol version.
fn version_arg(protocol: ProtocolLevel) -> &'static str {
    match protocol {
        ProtocolLevel::V31 => "mqttv31",
        ProtocolLevel::V311 => "mqttv311",
        ProtocolLevel::V5 => "mqttv5",
    }
}

/// The other protocol version, so the two ends of a message speak different versions.
fn other(protocol: ProtocolLevel) -> ProtocolLevel {
    match protocol {
        ProtocolLevel::V31 => ProtocolLevel::V311,
        ProtocolLevel::V311 | ProtocolLevel::V5 => ProtocolLevel::V31,
    }
}

fn tool(name: &str, port: u16, protocol: ProtocolLevel) -> Command {
    let mut command = Command::new(name);
    command
        .args(["-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-V", version_arg(protocol)]);
    command
}

fn mosquitto_pub(port: u16, protocol: ProtocolLevel, args: &[&str]) {
    let mut command = tool("mosquitto_pub", port, protocol);
    command.args(args);
    PeerProcess::spawn(command, false).finish_ok(PEER_TIMEOUT);
}

/// mosquitto_pub sending one message per stdin line (`-l`).
fn mosquitto_pub_lines(port: u16, protocol: ProtocolLevel, args: &[&str], lines: &[String]) {
    let mut command = tool("mosquitto_pub", port, protocol);
    command.args(args).arg("-l");
    let mut process = PeerProcess::spawn(command, true);
    process.feed_stdin(format!("{}\n", lines.join("\n")).as_bytes());
    process.finish_ok(PEER_TIMEOUT);
}

/// A mosquitto_sub on `filter` printing [`FORMAT`] lines, exiting after `count` messages.
fn mosquitto_sub(
    port: u16,
    protocol: ProtocolLevel,
    filter: &str,
    qos: QoS,
    count: usize,
) -> PeerProcess {
    let mut command = tool("mosquitto_sub", port, protocol);
    command
        .args(["-t", filter, "-q"])
        .arg((qos as u8).to_string())
        .args(["-F", FORMAT, "-W", "10", "-C"])
        .arg(count.to_string());
    PeerProcess::spawn(command, false)
}

fn options(protocol: ProtocolLevel) -> ConnectOptions {
    ConnectOptions::new()
        .protocol(protocol)
        .connect_timeout(WAIT)
        .operation_timeout(WAIT)
}

fn connect(port: u16, options: &ConnectOptions) -> Client {
    Client::connect("127.0.0.1", port, options).expect("connect to mosquitto")
}

/// A message as our client's callback saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
    retain: bool,
    dup: bool,
}

fn got(topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Got {
    Got {
        topic: topic.to_owned(),
        payload: payload.to_vec(),
        qos,
        retain,
        dup: false,
    }
}

/// Subscribes `client` to `filter`; returns what its callback receives.
fn subscribe(client: &Client, filter: &str, qos: QoS) -> Receiver<Got> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let granted = client
        .subscribe(filter, qos, move |m| {
            let _ = tx.send(Got {
                topic: m.topic.to_owned(),
                payload: m.payload.to_vec(),
                qos: m.qos,
                retain: m.retain,
                dup: m.dup,
            });
        })
        .expect("subscribe");
    assert_eq!(granted, qos);
    rx
}

/// The next message dispatched, reading the connection if none was dispatched yet.
fn next(client: &Client, inbox: &Receiver<Got>) -> Got {
    if let Ok(m) = inbox.try_recv() {
        return m;
    }
    client
        .receive_message(Some(WAIT))
        .expect("a message within the timeout");
    inbox
        .recv_timeout(Duration::from_millis(100))
        .expect("receive_message dispatched to this callback")
}

/// Asserts nothing more is dispatched for [`QUIET`].
fn expect_nothing(client: &Client, inbox: &Receiver<Got>) {
    if let Ok(m) = inbox.try_recv() {
        panic!("unexpected message {m:?}");
    }
    match client.receive_message(Some(QUIET)) {
        Err(ClientError::Timeout) => {}
        other => panic!("expected nothing, got {other:?} / {:?}", inbox.try_recv()),
    }
}

/// Publishes a retained marker on `topic` and starts a mosquitto_sub on `filter` (which covers
/// `topic`); returns once the marker arrived, i.e. once mosquitto_sub is subscribed. The marker
/// stays retained: clearing it would send mosquitto_sub one more message.
fn ready_mosquitto_sub(
    client: &Client,
    port: u16,
    protocol: ProtocolLevel,
    (filter, topic): (&str, &str),
    qos: QoS,
    count: usize,
) -> PeerProcess {
    client
        .publish(topic, b"ready", QoS::AtMostOnce, true)
        .unwrap();
    let subscriber = mosquitto_sub(port, protocol, filter, qos, count + 1);
    assert_eq!(
        subscriber.expect_line(),
        line(QoS::AtMostOnce, true, topic, b"ready")
    );
    subscriber
}

/// Our client publishes at QoS 0, 1 and 2 (binary and empty payloads) to mosquitto_sub
/// subscribed at each QoS: delivered at the minimum of both ([MQTT-3.8.4-6]), unchanged, once
/// each; our client's QoS 1/2 publish returned, so mosquitto completed PUBACK / PUBREC→PUBCOMP
/// with it ([MQTT-4.3.2-1], [MQTT-4.3.3-1]).
#[test]
fn our_client_publishes_to_mosquitto_sub() {
    let Some(broker) = mosquitto() else { return };
    for protocol in PROTOCOLS {
        let client = connect(broker.port, &options(protocol));
        for sub_qos in ALL_QOS {
            let base = format!("out/{}/{}", version_arg(protocol), sub_qos as u8);
            let filter = format!("{base}/#");
            let marker = format!("{base}/ready");
            let subscriber = ready_mosquitto_sub(
                &client,
                broker.port,
                other(protocol),
                (&filter, &marker),
                sub_qos,
                6,
            );
            let mut expected = Vec::new();
            for pub_qos in ALL_QOS {
                let topic = format!("{base}/{}", pub_qos as u8);
                for payload in [&b"\x00\xff\x80 binary"[..], b""] {
                    client.publish(&topic, payload, pub_qos, false).unwrap();
                    expected.push(line(pub_qos.min(sub_qos), false, &topic, payload));
                }
            }
            assert_eq!(subscriber.finish_ok(PEER_TIMEOUT), expected);
        }
        client.disconnect().unwrap();
    }
}

/// mosquitto_pub publishes at QoS 0, 1 and 2 to our client subscribed at each QoS: each
/// arrives once at the minimum QoS, RETAIN 0 and DUP 0 ([MQTT-3.8.4-6], [MQTT-3.3.1-9]); a
/// burst of QoS 2 messages arrives in order with none dispatched twice ([MQTT-4.3.3-2]).
#[test]
fn mosquitto_pub_to_our_client() {
    let Some(broker) = mosquitto() else { return };
    for protocol in PROTOCOLS {
        let client = connect(broker.port, &options(protocol));
        for sub_qos in ALL_QOS {
            let base = format!("in/{}/{}", version_arg(protocol), sub_qos as u8);
            let inbox = subscribe(&client, &format!("{base}/#"), sub_qos);
            for pub_qos in ALL_QOS {
                let topic = format!("{base}/{}", pub_qos as u8);
                let payload = format!("from mosquitto_pub at {}", pub_qos as u8);
                let qos_arg = (pub_qos as u8).to_string();
                mosquitto_pub(
                    broker.port,
                    other(protocol),
                    &["-q", &qos_arg, "-t", &topic, "-m", &payload],
                );
                assert_eq!(
                    next(&client, &inbox),
                    got(&topic, payload.as_bytes(), pub_qos.min(sub_qos), false)
                );
            }
            expect_nothing(&client, &inbox);
            client.unsubscribe(&format!("{base}/#")).unwrap();
        }
        let burst_topic = format!("burst/{}", version_arg(protocol));
        let inbox = subscribe(&client, &burst_topic, QoS::ExactlyOnce);
        let bodies: Vec<String> = (0..20).map(|i| format!("burst {i}")).collect();
        mosquitto_pub_lines(
            broker.port,
            other(protocol),
            &["-q", "2", "-t", &burst_topic],
            &bodies,
        );
        for body in &bodies {
            assert_eq!(
                next(&client, &inbox),
                got(&burst_topic, body.as_bytes(), QoS::ExactlyOnce, false)
            );
        }
        expect_nothing(&client, &inbox);
        client.disconnect().unwrap();
    }
}

/// Retained messages across our client and the mosquitto programs: set by our client and read
/// by mosquitto_sub with RETAIN 1, set by mosquitto_pub and read by our client with RETAIN 1
/// ([MQTT-3.3.1-6], [MQTT-3.3.1-8]); cleared by our client's empty retained publish, so a new
/// subscriber gets nothing ([MQTT-3.3.1-10], [MQTT-3.3.1-11]).
#[test]
fn retained_between_our_client_and_mosquitto_programs() {
    let Some(broker) = mosquitto() else { return };
    for protocol in PROTOCOLS {
        let version = version_arg(protocol);
        let ours = format!("ret/{version}/ours");
        let theirs = format!("ret/{version}/theirs");
        let client = connect(broker.port, &options(protocol));
        client
            .publish(&ours, b"\x00set by us", QoS::ExactlyOnce, true)
            .unwrap();
        let reader = mosquitto_sub(broker.port, other(protocol), &ours, QoS::AtLeastOnce, 1);
        assert_eq!(
            reader.finish_ok(PEER_TIMEOUT),
            [line(QoS::AtLeastOnce, true, &ours, b"\x00set by us")]
        );

        mosquitto_pub(
            broker.port,
            other(protocol),
            &["-r", "-q", "1", "-t", &theirs, "-m", "set by mosquitto_pub"],
        );
        let late = connect(broker.port, &options(protocol));
        let inbox = subscribe(&late, &format!("ret/{version}/+"), QoS::ExactlyOnce);
        let mut replay = vec![next(&late, &inbox), next(&late, &inbox)];
        replay.sort_by(|a, b| a.topic.cmp(&b.topic));
        assert_eq!(
            replay,
            [
                got(&ours, b"\x00set by us", QoS::ExactlyOnce, true),
                got(&theirs, b"set by mosquitto_pub", QoS::AtLeastOnce, true),
            ]
        );

        for topic in [&ours, &theirs] {
            client.publish(topic, b"", QoS::AtLeastOnce, true).unwrap();
            // The live copy of the clearing message is not flagged retained ([MQTT-3.3.1-9]).
            assert_eq!(
                next(&late, &inbox),
                got(topic, b"", QoS::AtLeastOnce, false)
            );
        }
        let mut command = tool("mosquitto_sub", broker.port, other(protocol));
        command.args([
            "-t",
            &format!("ret/{version}/+"),
            "-F",
            FORMAT,
            "-C",
            "1",
            "-W",
            "1",
        ]);
        let (status, lines) = PeerProcess::spawn(command, false).finish(PEER_TIMEOUT);
        assert_eq!(status.code(), Some(SUB_TIMED_OUT), "{lines:?}");
        assert!(
            lines.is_empty(),
            "cleared retained messages came back: {lines:?}"
        );
        late.disconnect().unwrap();
        client.disconnect().unwrap();
    }
}

/// Our client with a QoS 2 retained will, dropped without DISCONNECT: mosquitto publishes the
/// will to a waiting mosquitto_sub and keeps it retained for a later one ([MQTT-3.1.2-8],
/// [MQTT-3.1.2-17]). After `disconnect()` the will is discarded ([MQTT-3.1.2-10]).
#[test]
fn will_of_our_client_on_abrupt_close() {
    let Some(broker) = mosquitto() else { return };
    for protocol in PROTOCOLS {
        let version = version_arg(protocol);
        let will_topic = format!("will/{version}");
        let payload = format!("\x00our client ({version}) is gone");
        let helper = connect(broker.port, &options(protocol));
        let watcher = ready_mosquitto_sub(
            &helper,
            broker.port,
            other(protocol),
            ("will/#", "will/ready"),
            QoS::ExactlyOnce,
            1,
        );

        let polite = connect(
            broker.port,
            &options(protocol).will("will/polite", b"unwanted", QoS::AtLeastOnce, false),
        );
        polite.disconnect().unwrap();
        drop(polite);

        let doomed = connect(
            broker.port,
            &options(protocol).will(&will_topic, payload.as_bytes(), QoS::ExactlyOnce, true),
        );
        drop(doomed);
        let lines = watcher.finish_ok(PEER_TIMEOUT);
        assert_eq!(lines.len(), 1, "{lines:?}");
        // Whether a live delivery keeps RETAIN is mosquitto's business; topic, QoS and payload
        // are the will's.
        assert_eq!(
            lines[0].replace(" 1 will/", " 0 will/"),
            line(QoS::ExactlyOnce, false, &will_topic, payload.as_bytes())
        );

        let inbox = subscribe(&helper, &will_topic, QoS::ExactlyOnce);
        assert_eq!(
            next(&helper, &inbox),
            got(&will_topic, payload.as_bytes(), QoS::ExactlyOnce, true)
        );
        expect_nothing(&helper, &inbox);
        helper
            .publish(&will_topic, b"", QoS::AtMostOnce, true)
            .unwrap();
        helper.disconnect().unwrap();
    }
}

/// Our client's persistent session on mosquitto: QoS 1 and 2 messages mosquitto_pub sends while
/// it is away are delivered after it reconnects with session present 1, each dispatched exactly
/// once, in order per QoS ([MQTT-3.1.2-4], [MQTT-3.1.2-5], [MQTT-3.2.2-2], [MQTT-4.3.3-2]); a
/// clean session then finds nothing ([MQTT-3.1.2-6], [MQTT-3.2.2-1]).
#[test]
fn persistent_session_of_our_client_with_mosquitto_pub() {
    let Some(broker) = mosquitto() else { return };
    for protocol in PROTOCOLS {
        let version = version_arg(protocol);
        let id = format!("our-persistent-{version}");
        let filter = format!("queue/{version}/#");
        let persistent = options(protocol).client_id(id.clone()).clean_session(false);

        let first = connect(broker.port, &persistent);
        assert!(!first.session_present());
        subscribe(&first, &filter, QoS::ExactlyOnce);
        first.disconnect().unwrap();
        drop(first);

        let mut expected = Vec::new();
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let topic = format!("queue/{version}/{}", qos as u8);
            let bodies: Vec<String> = (0..3).map(|i| format!("qos {} #{i}", qos as u8)).collect();
            let qos_arg = (qos as u8).to_string();
            mosquitto_pub_lines(
                broker.port,
                other(protocol),
                &["-q", &qos_arg, "-t", &topic],
                &bodies,
            );
            expected.extend(bodies.iter().map(|b| got(&topic, b.as_bytes(), qos, false)));
        }

        let resumed = connect(broker.port, &persistent);
        // MQTT 3.1's CONNACK has no session-present flag (that byte is reserved), so mosquitto
        // reports it only to 3.1.1 clients.
        assert_eq!(resumed.session_present(), protocol == ProtocolLevel::V311);
        // Queued messages follow CONNACK; subscribing again registers the callback before any
        // of them is read.
        let inbox = subscribe(&resumed, &filter, QoS::ExactlyOnce);
        let received: Vec<Got> = (0..expected.len())
            .map(|_| next(&resumed, &inbox))
            .collect();
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let of = |list: &[Got]| -> Vec<Got> {
                list.iter().filter(|m| m.qos == qos).cloned().collect()
            };
            assert_eq!(of(&received), of(&expected));
        }
        expect_nothing(&resumed, &inbox);
        resumed.disconnect().unwrap();

        let clean = connect(broker.port, &options(protocol).client_id(id.clone()));
        assert!(!clean.session_present());
        clean.disconnect().unwrap();
        mosquitto_pub(
            broker.port,
            other(protocol),
            &[
                "-q",
                "1",
                "-t",
                &format!("queue/{version}/lost"),
                "-m",
                "lost",
            ],
        );
        let after = connect(broker.port, &persistent);
        assert!(!after.session_present());
        let (tx, inbox) = crossbeam_channel::unbounded::<Got>();
        after
            .subscribe(&filter, QoS::ExactlyOnce, move |m| {
                let _ = tx.send(got(m.topic, m.payload, m.qos, m.retain));
            })
            .unwrap();
        expect_nothing(&after, &inbox);
        after.disconnect().unwrap();
        connect(broker.port, &options(protocol).client_id(id))
            .disconnect()
            .unwrap();
    }
}

/// A second connection with our client's id takes over ([MQTT-3.1.4-2]): mosquitto closes the
/// first, which reports the connection closed by the broker; the second carries on.
#[test]
fn takeover_of_our_client_by_the_same_client_id() {
    let Some(broker) = mosquitto() else { return };
    for protocol in PROTOCOLS {
        let id = format!("our-twin-{}", version_arg(protocol));
        let first = connect(broker.port, &options(protocol).client_id(id.clone()));
        let first_inbox = subscribe(&first, "takeover/#", QoS::AtLeastOnce);

        // The newcomer is mosquitto_pub with the same id.
        mosquitto_pub(
            broker.port,
            other(protocol),
            &["-i", &id, "-q", "1", "-t", "takeover/x", "-m", "newcomer"],
        );
        match first.receive_message(Some(WAIT)) {
            Err(ClientError::Closed(CloseReason::ClosedByPeer)) => {}
            other => panic!("expected the connection closed by mosquitto, got {other:?}"),
        }
        assert!(!first.is_connected());
        assert!(
            first_inbox.try_recv().is_err(),
            "the old connection got a message"
        );
        assert!(matches!(
            first.publish("takeover/x", b"late", QoS::AtMostOnce, false),
            Err(ClientError::Closed(_))
        ));

        // And our client taking over from another of ours.
        let second = connect(broker.port, &options(protocol).client_id(id.clone()));
        let third = connect(broker.port, &options(protocol).client_id(id.clone()));
        match second.receive_message(Some(WAIT)) {
            Err(ClientError::Closed(CloseReason::ClosedByPeer)) => {}
            other => panic!("expected the connection closed by mosquitto, got {other:?}"),
        }
        let inbox = subscribe(&third, "takeover/#", QoS::AtLeastOnce);
        third
            .publish("takeover/y", b"third", QoS::AtLeastOnce, false)
            .unwrap();
        assert_eq!(
            next(&third, &inbox),
            got("takeover/y", b"third", QoS::AtLeastOnce, false)
        );
        third.disconnect().unwrap();
    }
}
