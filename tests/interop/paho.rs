//! Interoperability: this project's broker (in process, ephemeral port) with Python's
//! paho-mqtt 2.x, over MQTT 3.1.1 and MQTT 3.1 (`protocol=MQTTv31`). The peer is
//! tests/python/paho_peer.py, which prints one line per event; what paho sends is checked at the
//! wire by a raw subscriber. Skipped with a message when python3 or paho-mqtt is missing, a
//! failure under CI=true.

use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::common::RawClient;
use crate::interop_support::{
    Event, ObservedBroker, PEER_TIMEOUT, PeerProcess, assert_publish, hex, paho_present,
    paho_script, publish_at_each_qos, publish_from_raw, publish_queue, publish_resend_pair,
    raw_subscriber, recv_publish_acked, settle,
};
use mqtt::broker::DisconnectReason;
use mqtt::protocol::QoS;

const VERSIONS: [&str; 2] = ["311", "31"];
const ALL_QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
/// paho_peer.py's exit status when its deadline passed first.
const PEER_TIMED_OUT: i32 = 3;
/// paho_peer.py's exit status when the broker closed the connection.
const PEER_LOST: i32 = 4;

pub(super) fn paho(port: u16, version: &str, command: &str, args: &[&str]) -> Command {
    let mut process = Command::new("python3");
    process
        .arg(paho_script())
        .args([
            "127.0.0.1",
            &port.to_string(),
            command,
            "--protocol",
            version,
        ])
        .args(args);
    process
}

/// paho_peer.py's line for a received message (payload "-" when empty).
pub(super) fn message(qos: QoS, retain: bool, topic: &str, payload: &[u8]) -> String {
    let payload = if payload.is_empty() {
        "-".to_owned()
    } else {
        hex(payload)
    };
    format!(
        "message {} {} 0 {topic} {payload}",
        qos as u8,
        u8::from(retain)
    )
}

/// Message lines grouped by QoS, each group in arrival order: paho hands a QoS 2 message to
/// the application only at PUBREL, a round trip after a QoS 0 or 1 message sent after it.
pub(super) fn by_qos(lines: &[String]) -> [Vec<&str>; 3] {
    let mut groups: [Vec<&str>; 3] = Default::default();
    for line in lines.iter().filter(|l| l.starts_with("message ")) {
        let qos: usize = line["message ".len()..][..1].parse().unwrap();
        groups[qos].push(line);
    }
    groups
}

/// Starts a paho subscriber and waits until its SUBACK arrived; asserts the CONNACK's
/// session-present flag and the granted QoS.
pub(super) fn paho_subscriber(
    port: u16,
    version: &str,
    args: &[&str],
    session_present: bool,
    granted: QoS,
) -> PeerProcess {
    let process = PeerProcess::spawn(paho(port, version, "subscribe", args), false);
    assert_eq!(
        process.expect_line(),
        format!("connected session_present={}", u8::from(session_present))
    );
    assert_eq!(
        process.expect_line(),
        format!("subscribed granted={}", granted as u8)
    );
    process
}

/// paho publishes at each QoS, binary and empty payloads included: a raw subscriber granted
/// QoS 2 gets each message once, unchanged, at the QoS it was sent with ([MQTT-3.8.4-6],
/// [MQTT-4.3.3-2]); paho reports each QoS 1/2 publish complete, so it accepted our acks.
fn paho_publishes(version: &str) {
    if !paho_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let mut observer = raw_subscriber(broker.port(), "observer", "in/#", QoS::ExactlyOnce);
    let payloads: [&[u8]; 3] = [b"\x00\xff\x80binary", b"", b"text"];
    for qos in ALL_QOS {
        let topic = format!("in/{version}/{}", qos as u8);
        let mut args = vec!["--topic".to_owned(), topic.clone(), "--qos".to_owned()];
        args.push((qos as u8).to_string());
        for payload in payloads {
            args.extend(["--message".to_owned(), hex(payload)]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let publisher = PeerProcess::spawn(paho(broker.port(), version, "publish", &args), false);
        assert_eq!(
            publisher.finish_ok(PEER_TIMEOUT),
            [
                "connected session_present=0",
                "published 0",
                "published 1",
                "published 2",
                "done"
            ]
        );
        for payload in payloads {
            let got = recv_publish_acked(&mut observer);
            assert_publish(&got, &topic, payload, qos, false);
        }
    }
    settle(&mut observer);
    crate::common::eventually("9 messages received", || {
        broker.stats().messages_received == 9
    });
}

#[test]
fn paho_v311_publishes_qos_0_1_2() {
    paho_publishes("311");
}

#[test]
fn paho_v31_publishes_qos_0_1_2() {
    paho_publishes("31");
}

/// A paho subscriber at each QoS gets messages published at QoS 0, 1 and 2 at the minimum of
/// both ([MQTT-3.8.4-6]), once each, RETAIN 0 and DUP 0.
fn paho_subscribes(version: &str) {
    if !paho_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let mut publisher = RawClient::clean(broker.port(), "publisher");
    for sub_qos in ALL_QOS {
        let client_id = format!("paho-{}", sub_qos as u8);
        let qos_arg = (sub_qos as u8).to_string();
        let subscriber = paho_subscriber(
            broker.port(),
            version,
            &[
                "--client-id",
                &client_id,
                "--filter",
                "out/#",
                "--qos",
                &qos_arg,
                "--count",
                "3",
            ],
            false,
            sub_qos,
        );
        let mut expected: Vec<String> = publish_at_each_qos(&mut publisher, sub_qos, "to paho")
            .into_iter()
            .map(|(topic, payload, qos)| message(qos, false, &topic, payload.as_bytes()))
            .collect();
        expected.push("done".to_owned());
        let mut got = subscriber.finish_ok(PEER_TIMEOUT);
        got.sort();
        expected.sort();
        assert_eq!(got, expected);
        assert_eq!(
            broker.wait_disconnected(&client_id, 0),
            DisconnectReason::ClientDisconnected
        );
        broker.wait_subscriptions(0);
    }
}

#[test]
fn paho_v311_subscribes_at_qos_0_1_2() {
    paho_subscribes("311");
}

#[test]
fn paho_v31_subscribes_at_qos_0_1_2() {
    paho_subscribes("31");
}

/// Retained set and cleared by paho: a later paho subscriber gets it with RETAIN 1
/// ([MQTT-3.3.1-6], [MQTT-3.3.1-8]); an empty retained payload removes it ([MQTT-3.3.1-10],
/// [MQTT-3.3.1-11]), so the next subscriber gets nothing.
#[test]
fn paho_retained_set_and_cleared() {
    if !paho_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let port = broker.port();
    for version in VERSIONS {
        let topic = format!("ret/{version}");
        let kept = format!("kept by {version}");
        let publish = |payload: &str| {
            let args = [
                "--topic",
                &topic,
                "--qos",
                "1",
                "--retain",
                "--message",
                payload,
            ];
            PeerProcess::spawn(paho(port, version, "publish", &args), false)
                .finish_ok(PEER_TIMEOUT);
        };
        publish(&hex(kept.as_bytes()));
        let reader = paho_subscriber(
            port,
            version,
            &["--filter", &topic, "--qos", "2", "--count", "1"],
            false,
            QoS::ExactlyOnce,
        );
        assert_eq!(
            reader.finish_ok(PEER_TIMEOUT),
            [
                message(QoS::AtLeastOnce, true, &topic, kept.as_bytes()),
                "done".to_owned()
            ]
        );
        publish("");
        eventually_no_retained(&broker);
        let (status, lines) = PeerProcess::spawn(
            paho(
                port,
                version,
                "subscribe",
                &["--filter", &topic, "--count", "1", "--timeout", "1"],
            ),
            false,
        )
        .finish(PEER_TIMEOUT);
        assert_eq!(status.code(), Some(PEER_TIMED_OUT), "{lines:?}");
        assert!(
            !lines.iter().any(|l| l.starts_with("message")),
            "a cleared retained message came back: {lines:?}"
        );
    }
}

fn eventually_no_retained(broker: &ObservedBroker) {
    crate::common::eventually("retained message removed", || {
        broker.stats().retained_messages == 0
    });
}

/// A paho client with a will, killed with SIGKILL: the will goes out with its QoS, RETAIN 0 on
/// live delivery and stored as retained ([MQTT-3.1.2-8], [MQTT-3.1.2-17], [MQTT-3.3.1-9]); a
/// paho client that disconnects normally leaves no will ([MQTT-3.1.2-10]).
#[test]
fn paho_will_on_abrupt_close() {
    if !paho_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let port = broker.port();
    let mut observer = raw_subscriber(port, "observer", "will/#", QoS::ExactlyOnce);
    for version in VERSIONS {
        let client_id = format!("doomed-{version}");
        let will_topic = format!("will/{version}");
        let will_payload = format!("{client_id} vanished");
        let will_hex = hex(will_payload.as_bytes());
        let args = [
            "--client-id",
            &client_id,
            "--filter",
            "idle",
            "--stay",
            "--will-topic",
            &will_topic,
            "--will-payload",
            &will_hex,
            "--will-qos",
            "1",
            "--will-retain",
        ];
        let doomed = paho_subscriber(port, version, &args, false, QoS::AtMostOnce);
        doomed.kill();
        assert_eq!(
            broker.wait_disconnected(&client_id, 0),
            DisconnectReason::ConnectionLost
        );
        let will = recv_publish_acked(&mut observer);
        assert_publish(
            &will,
            &will_topic,
            will_payload.as_bytes(),
            QoS::AtLeastOnce,
            false,
        );
        settle(&mut observer);
        let reader = paho_subscriber(
            port,
            version,
            &["--filter", &will_topic, "--qos", "2", "--count", "1"],
            false,
            QoS::ExactlyOnce,
        );
        assert_eq!(
            reader.finish_ok(PEER_TIMEOUT),
            [
                message(QoS::AtLeastOnce, true, &will_topic, will_payload.as_bytes()),
                "done".to_owned()
            ]
        );

        let polite_id = format!("polite-{version}");
        let args = [
            "--client-id",
            &polite_id,
            "--filter",
            "idle",
            "--will-topic",
            "will/polite",
        ];
        let polite = paho_subscriber(port, version, &args, false, QoS::AtMostOnce);
        assert_eq!(polite.finish_ok(PEER_TIMEOUT), ["done"]);
        assert_eq!(
            broker.wait_disconnected(&polite_id, 0),
            DisconnectReason::ClientDisconnected
        );
        settle(&mut observer);
    }
}

/// A persistent paho session ([MQTT-3.1.2-4], [MQTT-3.1.2-5]): after it disconnects, QoS 1 and
/// 2 messages are queued and delivered when it returns, session present 1 over 3.1.1
/// ([MQTT-3.2.2-2]),
/// once each and in order per QoS; a clean session keeps nothing ([MQTT-3.1.2-6]).
fn paho_persistent_session(version: &str) {
    if !paho_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let port = broker.port();
    let client_id = format!("paho-persistent-{version}");
    let persistent = [
        "--client-id",
        &client_id,
        "--persistent",
        "--filter",
        "queue/#",
        "--qos",
        "2",
    ];
    let first = paho_subscriber(port, version, &persistent, false, QoS::ExactlyOnce);
    assert_eq!(first.finish_ok(PEER_TIMEOUT), ["done"]);
    broker.wait_disconnected(&client_id, 0);

    let mut publisher = RawClient::clean(port, "publisher");
    let expected: Vec<String> = publish_queue(&mut publisher, "queued")
        .into_iter()
        .map(|(topic, payload, qos)| message(qos, false, &topic, payload.as_bytes()))
        .collect();

    let mut args = persistent.to_vec();
    args.extend(["--count", "6"]);
    let resumed = PeerProcess::spawn(paho(port, version, "subscribe", &args), false);
    // MQTT 3.1's CONNACK has no session-present flag (the byte is reserved, 0).
    let flag = u8::from(version == "311");
    assert_eq!(
        resumed.expect_line(),
        format!("connected session_present={flag}")
    );
    let got = resumed.finish_ok(PEER_TIMEOUT);
    assert_eq!(by_qos(&got), by_qos(&expected), "{got:?}");
    assert_eq!(got.last().map(String::as_str), Some("done"));
    assert_eq!(broker.wait_connected(&client_id, 1), (true, false));

    // Clean session: the session is discarded, nothing is queued for this id any more.
    let clean = paho_subscriber(
        port,
        version,
        &[
            "--client-id",
            &client_id,
            "--filter",
            "queue/#",
            "--qos",
            "1",
        ],
        false,
        QoS::AtLeastOnce,
    );
    assert_eq!(clean.finish_ok(PEER_TIMEOUT), ["done"]);
    broker.wait_disconnected(&client_id, 2);
    broker.wait_subscriptions(0);
    publish_from_raw(
        &mut publisher,
        "queue/lost",
        b"lost",
        QoS::AtLeastOnce,
        false,
        99,
    );
    let mut args = persistent.to_vec();
    args.extend(["--count", "1", "--timeout", "1"]);
    let (status, lines) =
        PeerProcess::spawn(paho(port, version, "subscribe", &args), false).finish(PEER_TIMEOUT);
    assert_eq!(status.code(), Some(PEER_TIMED_OUT), "{lines:?}");
    assert_eq!(lines[0], "connected session_present=0");
    assert!(!lines.iter().any(|l| l.starts_with("message")), "{lines:?}");
}

#[test]
fn paho_v311_persistent_session_redelivers() {
    paho_persistent_session("311");
}

#[test]
fn paho_v31_persistent_session_redelivers() {
    paho_persistent_session("31");
}

/// A paho client whose client id connects again is closed by the broker ([MQTT-3.1.4-2]): paho
/// sees the connection lost while the newcomer publishes normally.
#[test]
fn paho_takeover_by_the_same_client_id() {
    if !paho_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let port = broker.port();
    let mut observer = raw_subscriber(port, "observer", "takeover/#", QoS::AtLeastOnce);
    for version in VERSIONS {
        let client_id = format!("paho-twin-{version}");
        let first = paho_subscriber(
            port,
            version,
            &["--client-id", &client_id, "--filter", "idle", "--stay"],
            false,
            QoS::AtMostOnce,
        );
        let args = [
            "--client-id",
            &client_id,
            "--topic",
            "takeover/msg",
            "--qos",
            "1",
            "--message",
            "6e6577",
        ];
        PeerProcess::spawn(paho(port, version, "publish", &args), false).finish_ok(PEER_TIMEOUT);
        let (status, lines) = first.finish(PEER_TIMEOUT);
        assert_eq!(status.code(), Some(PEER_LOST), "{lines:?}");
        assert_eq!(lines, ["lost"]);
        broker.wait_event(&Event::Disconnected {
            client_id: client_id.clone(),
            reason: DisconnectReason::TakenOver,
        });
        let got = recv_publish_acked(&mut observer);
        assert_publish(&got, "takeover/msg", b"new", QoS::AtLeastOnce, false);
        settle(&mut observer);
    }
}

/// Keep-alive with paho at 1 s: a running paho client's PINGREQs keep it connected well past
/// 1.5 × the keep-alive; one frozen with SIGSTOP (socket open, nothing sent) is closed by the
/// broker after 1.5 × the keep-alive and its will is published ([MQTT-3.1.2-24],
/// [MQTT-3.1.2-8]).
#[test]
fn paho_keep_alive_pings_and_expiry() {
    if !paho_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let port = broker.port();
    let mut observer = raw_subscriber(port, "observer", "ka/will/#", QoS::AtLeastOnce);
    let mut alive = Vec::new();
    let mut frozen = Vec::new();
    let mut frozen_processes = Vec::new();
    for version in VERSIONS {
        let alive_id = format!("ka-alive-{version}");
        let args = [
            "--client-id",
            &alive_id,
            "--keepalive",
            "1",
            "--filter",
            "ka/alive",
            "--count",
            "1",
        ];
        alive.push((
            alive_id.clone(),
            paho_subscriber(port, version, &args, false, QoS::AtMostOnce),
        ));
        let frozen_id = format!("ka-frozen-{version}");
        let will_topic = format!("ka/will/{version}");
        let args = [
            "--client-id",
            &frozen_id,
            "--keepalive",
            "1",
            "--filter",
            "ka/idle",
            "--stay",
            "--will-topic",
            &will_topic,
            "--will-payload",
            "66726f7a656e",
            "--will-qos",
            "1",
        ];
        let process = paho_subscriber(port, version, &args, false, QoS::AtMostOnce);
        process.freeze();
        frozen.push(frozen_id);
        frozen_processes.push(process);
    }
    // The socket stays open, so only the keep-alive expiry can end these connections.
    for frozen_id in &frozen {
        assert_eq!(
            broker.wait_disconnected(frozen_id, 0),
            DisconnectReason::KeepAliveTimeout
        );
    }
    let mut wills: Vec<String> = (0..frozen.len())
        .map(|_| {
            let will = recv_publish_acked(&mut observer);
            assert_publish(
                &will,
                will.topic.as_str(),
                b"frozen",
                QoS::AtLeastOnce,
                false,
            );
            will.topic.as_str().to_owned()
        })
        .collect();
    wills.sort();
    assert_eq!(wills, ["ka/will/31", "ka/will/311"]);
    settle(&mut observer);
    drop(frozen_processes);

    // Idle for longer than 1.5 × the keep-alive since they subscribed: pings kept them in.
    thread::sleep(Duration::from_millis(1600));
    let mut publisher = RawClient::clean(port, "publisher");
    publish_from_raw(
        &mut publisher,
        "ka/alive",
        b"alive",
        QoS::AtMostOnce,
        false,
        1,
    );
    for (alive_id, process) in alive {
        assert_eq!(
            process.finish_ok(PEER_TIMEOUT),
            [
                message(QoS::AtMostOnce, false, "ka/alive", b"alive"),
                "done".to_owned()
            ]
        );
        assert_eq!(
            broker.wait_disconnected(&alive_id, 0),
            DisconnectReason::ClientDisconnected
        );
    }
}

/// A persistent paho client with manual acknowledgements that acknowledges nothing, then is
/// killed: it has received a QoS 1 message without sending PUBACK, and a QoS 2 message whose
/// PUBREC paho sends on its own but whose PUBCOMP it withholds. When it returns, the broker
/// re-sends the QoS 1 PUBLISH with DUP set and the QoS 2 PUBREL, not the QoS 2 PUBLISH
/// ([MQTT-4.4.0-1], [MQTT-3.3.1-1]): the QoS 1 message arrives again (at least once), the QoS 2
/// one does not (exactly once, [MQTT-4.3.3-2]). Then nothing is left to send.
fn paho_unacknowledged_messages_resent(version: &str) {
    if !paho_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let port = broker.port();
    let client_id = format!("paho-no-ack-{version}");
    let persistent = [
        "--client-id",
        &client_id,
        "--persistent",
        "--filter",
        "resend/#",
        "--qos",
        "2",
    ];
    let mut args = persistent.to_vec();
    args.extend(["--no-ack", "--stay"]);
    let forgetful = paho_subscriber(port, version, &args, false, QoS::ExactlyOnce);
    let mut publisher = RawClient::clean(port, "publisher");
    publish_resend_pair(&mut publisher);
    let mut first = vec![forgetful.expect_line(), forgetful.expect_line()];
    first.sort();
    assert_eq!(
        first,
        [
            message(QoS::AtLeastOnce, false, "resend/1", b"one"),
            message(QoS::ExactlyOnce, false, "resend/2", b"two"),
        ]
    );
    forgetful.kill();
    broker.wait_disconnected(&client_id, 0);

    // Waits up to 1.5 s for a second message, which must not come.
    let mut args = persistent.to_vec();
    args.extend(["--count", "2", "--timeout", "1.5"]);
    let (status, lines) =
        PeerProcess::spawn(paho(port, version, "subscribe", &args), false).finish(PEER_TIMEOUT);
    assert_eq!(status.code(), Some(PEER_TIMED_OUT), "{lines:?}");
    let messages: Vec<&String> = lines.iter().filter(|l| l.starts_with("message ")).collect();
    assert_eq!(messages, ["message 1 0 1 resend/1 6f6e65"]);

    let mut args = persistent.to_vec();
    args.extend(["--count", "1", "--timeout", "1"]);
    let (status, lines) =
        PeerProcess::spawn(paho(port, version, "subscribe", &args), false).finish(PEER_TIMEOUT);
    assert_eq!(status.code(), Some(PEER_TIMED_OUT), "{lines:?}");
    assert!(!lines.iter().any(|l| l.starts_with("message")), "{lines:?}");
}

#[test]
fn paho_v311_unacknowledged_qos_1_resent_with_dup_qos_2_completed() {
    paho_unacknowledged_messages_resent("311");
}

#[test]
fn paho_v31_unacknowledged_qos_1_resent_with_dup_qos_2_completed() {
    paho_unacknowledged_messages_resent("31");
}
