//! Interoperability: this project's broker (in process, ephemeral port) driven by Debian's
//! mosquitto_pub and mosquitto_sub, over MQTT 3.1.1 and MQTT 3.1 (`-V mqttv31`). What the
//! programs send is checked at the wire by a raw subscriber; what they receive is checked from
//! their `-F '%q %r %t %x'` output (QoS, RETAIN, topic, payload in hex). Skipped with a message
//! when mosquitto-clients is missing, a failure under CI=true.

use std::process::Command;

use crate::common::{RawClient, connect_packet};
use crate::interop_support::{
    Event, FORMAT, ObservedBroker, PEER_TIMEOUT, PeerProcess, SUB_TIMED_OUT, assert_publish, line,
    mosquitto_clients_present, publish_at_each_qos, publish_from_raw, publish_queue,
    raw_subscriber, recv_publish_acked, settle,
};
use mqtt::broker::DisconnectReason;
use mqtt::protocol::{ProtocolLevel, QoS};

const VERSIONS: [&str; 2] = ["mqttv311", "mqttv31"];
const ALL_QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];

fn mosquitto(tool: &str, port: u16, version: &str) -> Command {
    let mut command = Command::new(tool);
    command
        .args(["-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-V", version]);
    command
}

/// mosquitto_sub printing `count` messages in [`FORMAT`], giving up after 10 s.
fn mosquitto_sub(port: u16, version: &str, client_id: &str, filter: &str, qos: QoS) -> Command {
    let mut command = mosquitto("mosquitto_sub", port, version);
    command
        .args(["-i", client_id, "-t", filter, "-q"])
        .arg((qos as u8).to_string())
        .args(["-F", FORMAT, "-W", "10"]);
    command
}

/// Output lines grouped by their QoS digit, each group in arrival order.
fn by_qos(lines: &[String]) -> [Vec<&str>; 3] {
    let mut groups: [Vec<&str>; 3] = Default::default();
    for line in lines {
        let qos = line[..1]
            .parse::<usize>()
            .expect("line starts with the QoS");
        groups[qos].push(line);
    }
    groups
}

/// Runs mosquitto_pub with `args` and the payload on stdin (`-s`), and waits for success: for
/// QoS 1 and 2 mosquitto_pub only exits once our broker completed the flow.
fn mosquitto_pub_stdin(port: u16, version: &str, args: &[&str], payload: &[u8]) {
    let mut command = mosquitto("mosquitto_pub", port, version);
    command.args(args).arg("-s");
    let mut process = PeerProcess::spawn(command, true);
    process.feed_stdin(payload);
    process.finish_ok(PEER_TIMEOUT);
}

fn mosquitto_pub(port: u16, version: &str, args: &[&str]) {
    let mut command = mosquitto("mosquitto_pub", port, version);
    command.args(args);
    PeerProcess::spawn(command, false).finish_ok(PEER_TIMEOUT);
}

/// mosquitto_pub at each QoS, binary payload from stdin: a raw subscriber granted QoS 2 gets
/// each message exactly once with the QoS it was published with ([MQTT-3.8.4-6]) and RETAIN 0
/// ([MQTT-3.3.1-9]); mosquitto_pub exits 0, so it accepted our PUBACK / PUBREC / PUBCOMP.
fn mosquitto_pub_each_qos(version: &str) {
    if !mosquitto_clients_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let mut observer = raw_subscriber(broker.port(), "observer", "in/#", QoS::ExactlyOnce);
    for qos in ALL_QOS {
        let topic = format!("in/{version}/{}", qos as u8);
        let payload = [b'\0', 0xff, b'q', qos as u8, 0x80, b'\n'];
        let qos_arg = (qos as u8).to_string();
        mosquitto_pub_stdin(
            broker.port(),
            version,
            &["-q", &qos_arg, "-t", &topic],
            &payload,
        );
        let message = recv_publish_acked(&mut observer);
        assert_publish(&message, &topic, &payload, qos, false);
    }
    // Several messages on one connection (-l: one per stdin line); QoS 2 forwards none twice.
    let mut command = mosquitto("mosquitto_pub", broker.port(), version);
    command.args(["-q", "2", "-t", "in/lines", "-l"]);
    let mut lines = PeerProcess::spawn(command, true);
    lines.feed_stdin(b"one\ntwo\nthree\nfour\nfive\n");
    lines.finish_ok(PEER_TIMEOUT);
    for expected in ["one", "two", "three", "four", "five"] {
        let message = recv_publish_acked(&mut observer);
        assert_publish(
            &message,
            "in/lines",
            expected.as_bytes(),
            QoS::ExactlyOnce,
            false,
        );
    }
    settle(&mut observer);
    crate::common::eventually("8 messages received", || {
        broker.stats().messages_received == 8
    });
}

#[test]
fn mosquitto_pub_v311_qos_0_1_2_reach_a_subscriber_once() {
    mosquitto_pub_each_qos("mqttv311");
}

#[test]
fn mosquitto_pub_v31_qos_0_1_2_reach_a_subscriber_once() {
    mosquitto_pub_each_qos("mqttv31");
}

/// mosquitto_sub subscribed at each QoS receives messages published at QoS 0, 1 and 2 with the
/// delivered QoS the minimum of both ([MQTT-3.8.4-6]), in order, RETAIN 0, each exactly once.
fn mosquitto_sub_each_qos(version: &str) {
    if !mosquitto_clients_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let mut publisher = RawClient::clean(broker.port(), "publisher");
    for sub_qos in ALL_QOS {
        let client_id = format!("sub-{}", sub_qos as u8);
        let filter = format!("out/{}/+", sub_qos as u8);
        let mut command = mosquitto_sub(broker.port(), version, &client_id, &filter, sub_qos);
        command.args(["-C", "3"]);
        let subscriber = PeerProcess::spawn(command, false);
        broker.wait_connected(&client_id, 0);
        broker.wait_subscriptions(1);
        let expected: Vec<String> =
            publish_at_each_qos(&mut publisher, sub_qos, "to mosquitto_sub")
                .into_iter()
                .map(|(topic, payload, qos)| line(qos, false, &topic, payload.as_bytes()))
                .collect();
        assert_eq!(subscriber.finish_ok(PEER_TIMEOUT), expected);
        // mosquitto_sub -C sends DISCONNECT after its last message.
        assert_eq!(
            broker.wait_disconnected(&client_id, 0),
            DisconnectReason::ClientDisconnected
        );
        broker.wait_subscriptions(0);
    }
}

#[test]
fn mosquitto_sub_v311_receives_qos_0_1_2() {
    mosquitto_sub_each_qos("mqttv311");
}

#[test]
fn mosquitto_sub_v31_receives_qos_0_1_2() {
    mosquitto_sub_each_qos("mqttv31");
}

/// Third-party programs on both ends: mosquitto_pub → our broker → mosquitto_sub, twenty QoS 2
/// messages, each delivered once and in order ([MQTT-4.3.3-2], [MQTT-4.6.0-6]), with 3.1 and
/// 3.1.1 clients mixed.
#[test]
fn mosquitto_pub_to_mosquitto_sub_qos_2_in_order_without_duplicates() {
    if !mosquitto_clients_present() {
        return;
    }
    let broker = ObservedBroker::start();
    for (pub_version, sub_version) in [("mqttv311", "mqttv31"), ("mqttv31", "mqttv311")] {
        let client_id = format!("chain-{sub_version}");
        let mut command = mosquitto_sub(
            broker.port(),
            sub_version,
            &client_id,
            "chain/#",
            QoS::ExactlyOnce,
        );
        command.args(["-C", "20"]);
        let subscriber = PeerProcess::spawn(command, false);
        broker.wait_connected(&client_id, 0);
        broker.wait_subscriptions(1);
        let bodies: Vec<String> = (0..20).map(|i| format!("message {i}")).collect();
        let mut publisher = mosquitto("mosquitto_pub", broker.port(), pub_version);
        publisher.args(["-q", "2", "-t", "chain/x", "-l"]);
        let mut publisher = PeerProcess::spawn(publisher, true);
        publisher.feed_stdin(format!("{}\n", bodies.join("\n")).as_bytes());
        publisher.finish_ok(PEER_TIMEOUT);
        let expected: Vec<String> = bodies
            .iter()
            .map(|b| line(QoS::ExactlyOnce, false, "chain/x", b.as_bytes()))
            .collect();
        assert_eq!(subscriber.finish_ok(PEER_TIMEOUT), expected);
        broker.wait_disconnected(&client_id, 0);
        broker.wait_subscriptions(0);
    }
}

/// Retained messages set and cleared by mosquitto_pub, read by mosquitto_sub: a new subscriber
/// gets the stored message with RETAIN 1 ([MQTT-3.3.1-5], [MQTT-3.3.1-6], [MQTT-3.3.1-8]); an
/// empty retained payload is forwarded to existing subscribers with RETAIN 0 ([MQTT-3.3.1-9])
/// and removes the stored one ([MQTT-3.3.1-10], [MQTT-3.3.1-11]). A retained message from a raw client reaches a 3.1
/// mosquitto_sub with RETAIN 1 as well.
#[test]
fn retained_set_and_cleared_by_mosquitto_pub() {
    if !mosquitto_clients_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let port = broker.port();
    mosquitto_pub(
        port,
        "mqttv311",
        &["-r", "-q", "1", "-t", "ret/a", "-m", "kept"],
    );
    mosquitto_pub(
        port,
        "mqttv31",
        &["-r", "-q", "2", "-t", "ret/b", "-m", "kept 3.1"],
    );
    crate::common::eventually("2 retained messages", || {
        broker.stats().retained_messages == 2
    });

    for (version, qos) in [("mqttv311", QoS::ExactlyOnce), ("mqttv31", QoS::AtMostOnce)] {
        let mut command = mosquitto_sub(port, version, &format!("late-{version}"), "ret/#", qos);
        command.args(["-C", "2"]);
        let mut got = PeerProcess::spawn(command, false).finish_ok(PEER_TIMEOUT);
        got.sort();
        assert_eq!(
            got,
            [
                line(QoS::AtLeastOnce.min(qos), true, "ret/a", b"kept"),
                line(QoS::ExactlyOnce.min(qos), true, "ret/b", b"kept 3.1"),
            ]
        );
    }

    let mut observer = raw_subscriber(port, "observer", "ret/#", QoS::ExactlyOnce);
    let replay: Vec<_> = (0..2).map(|_| recv_publish_acked(&mut observer)).collect();
    assert!(replay.iter().all(|m| m.retain), "{replay:?}");
    mosquitto_pub(port, "mqttv311", &["-r", "-n", "-q", "1", "-t", "ret/a"]);
    mosquitto_pub(port, "mqttv31", &["-r", "-n", "-t", "ret/b"]);
    let cleared_a = recv_publish_acked(&mut observer);
    assert_publish(&cleared_a, "ret/a", b"", QoS::AtLeastOnce, false);
    let cleared_b = recv_publish_acked(&mut observer);
    assert_publish(&cleared_b, "ret/b", b"", QoS::AtMostOnce, false);
    settle(&mut observer);
    crate::common::eventually("no retained message left", || {
        broker.stats().retained_messages == 0
    });

    let mut command = mosquitto_sub(port, "mqttv311", "after-clear", "ret/#", QoS::AtLeastOnce);
    command.args(["-C", "1"]);
    command.args(["-W", "1"]);
    let (status, lines) = PeerProcess::spawn(command, false).finish(PEER_TIMEOUT);
    assert_eq!(status.code(), Some(SUB_TIMED_OUT), "{lines:?}");
    assert!(
        lines.is_empty(),
        "cleared retained messages came back: {lines:?}"
    );

    // Retained from our side of the wire, read by a 3.1 client.
    let mut publisher = RawClient::clean(port, "raw-retainer");
    publish_from_raw(
        &mut publisher,
        "ret/raw",
        b"\x00raw",
        QoS::ExactlyOnce,
        true,
        7,
    );
    let mut command = mosquitto_sub(port, "mqttv31", "late-raw", "ret/raw", QoS::AtLeastOnce);
    command.args(["-C", "1"]);
    assert_eq!(
        PeerProcess::spawn(command, false).finish_ok(PEER_TIMEOUT),
        [line(QoS::AtLeastOnce, true, "ret/raw", b"\x00raw")]
    );
}

/// A mosquitto_sub with a will, killed with SIGKILL: the broker publishes the will with its
/// QoS to subscribers (RETAIN 0 on live delivery, [MQTT-3.3.1-9]) and stores it when the will is
/// retained ([MQTT-3.1.2-8], [MQTT-3.1.2-17]). One that exits normally sends DISCONNECT and its will is
/// discarded ([MQTT-3.1.2-10]).
#[test]
fn will_of_a_killed_mosquitto_sub_is_published() {
    if !mosquitto_clients_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let port = broker.port();
    let mut observer = raw_subscriber(port, "observer", "will/#", QoS::ExactlyOnce);
    let mut expected_retained = Vec::new();
    for version in VERSIONS {
        let client_id = format!("doomed-{version}");
        let will_topic = format!("will/{version}");
        let will_payload = format!("{client_id} vanished");
        let mut command = mosquitto_sub(port, version, &client_id, "idle/topic", QoS::AtMostOnce);
        command
            .args(["--will-topic", &will_topic, "--will-payload", &will_payload])
            .args(["--will-qos", "2", "--will-retain"]);
        let doomed = PeerProcess::spawn(command, false);
        broker.wait_connected(&client_id, 0);
        broker.wait_subscriptions(2);
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
            QoS::ExactlyOnce,
            false,
        );
        settle(&mut observer);
        broker.wait_subscriptions(1);
        expected_retained.push(line(
            QoS::ExactlyOnce,
            true,
            &will_topic,
            will_payload.as_bytes(),
        ));
    }
    // The retained wills reach a later subscriber flagged RETAIN.
    let mut command = mosquitto_sub(port, "mqttv311", "will-reader", "will/#", QoS::ExactlyOnce);
    command.args(["-C", "2"]);
    let mut got = PeerProcess::spawn(command, false).finish_ok(PEER_TIMEOUT);
    got.sort();
    expected_retained.sort();
    assert_eq!(got, expected_retained);

    // Exiting normally (-E: right after SUBACK) sends DISCONNECT: no will.
    for version in VERSIONS {
        let client_id = format!("polite-{version}");
        let mut command = mosquitto_sub(port, version, &client_id, "idle/topic", QoS::AtMostOnce);
        command
            .args(["--will-topic", "will/polite", "--will-payload", "unwanted"])
            .arg("-E");
        PeerProcess::spawn(command, false).finish_ok(PEER_TIMEOUT);
        assert_eq!(
            broker.wait_disconnected(&client_id, 0),
            DisconnectReason::ClientDisconnected
        );
    }
    settle(&mut observer);
}

/// Persistent sessions (`-c -i id`): the subscription survives a disconnect, QoS 1 and 2
/// messages published meanwhile are queued and delivered on reconnect, in order, once each,
/// with session present set ([MQTT-3.1.2-4], [MQTT-3.1.2-5], [MQTT-3.2.2-2]). A clean session
/// keeps nothing ([MQTT-3.1.2-6], [MQTT-3.2.2-1]).
fn persistent_session(version: &str) {
    if !mosquitto_clients_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let port = broker.port();
    let client_id = format!("persistent-{version}");
    let mut command = mosquitto_sub(port, version, &client_id, "queue/#", QoS::ExactlyOnce);
    command.args(["-c", "-E"]);
    PeerProcess::spawn(command, false).finish_ok(PEER_TIMEOUT);
    assert_eq!(broker.wait_connected(&client_id, 0), (false, false));
    broker.wait_disconnected(&client_id, 0);
    assert_eq!(
        broker.stats().subscriptions,
        1,
        "the session keeps its subscription"
    );

    let mut publisher = RawClient::clean(port, "publisher");
    let mut expected: Vec<String> = publish_queue(&mut publisher, "queued while away")
        .into_iter()
        .map(|(topic, payload, qos)| line(qos, false, &topic, payload.as_bytes()))
        .collect();
    // Also through a third-party publisher, in the other protocol version.
    let other = if version == "mqttv31" {
        "mqttv311"
    } else {
        "mqttv31"
    };
    mosquitto_pub(
        port,
        other,
        &["-q", "2", "-t", "queue/pub", "-m", "from pub"],
    );
    expected.push(line(QoS::ExactlyOnce, false, "queue/pub", b"from pub"));

    let mut command = mosquitto_sub(port, version, &client_id, "queue/#", QoS::ExactlyOnce);
    command
        .args(["--disable-clean-session", "-C"])
        .arg(expected.len().to_string());
    let resumed = PeerProcess::spawn(command, false);
    assert_eq!(broker.wait_connected(&client_id, 1), (true, false));
    // libmosquitto hands a QoS 2 message to mosquitto_sub only at PUBREL, a round trip later
    // than a QoS 1 message sent after it, so order is comparable within each QoS only.
    assert_eq!(by_qos(&resumed.finish_ok(PEER_TIMEOUT)), by_qos(&expected));

    // Nothing is left over: a third persistent connection gets nothing.
    let mut command = mosquitto_sub(port, version, &client_id, "queue/#", QoS::ExactlyOnce);
    command.args(["-c", "-C", "1", "-W", "1"]);
    let (status, lines) = PeerProcess::spawn(command, false).finish(PEER_TIMEOUT);
    assert_eq!(status.code(), Some(SUB_TIMED_OUT), "redelivered: {lines:?}");
    assert!(lines.is_empty(), "redelivered: {lines:?}");
    assert_eq!(broker.wait_connected(&client_id, 2), (true, false));

    // A clean session discards the session: nothing queued, session present 0 afterwards.
    let mut command = mosquitto_sub(port, version, &client_id, "queue/#", QoS::ExactlyOnce);
    command.arg("-E");
    PeerProcess::spawn(command, false).finish_ok(PEER_TIMEOUT);
    assert_eq!(broker.wait_connected(&client_id, 3), (false, true));
    broker.wait_disconnected(&client_id, 3);
    broker.wait_subscriptions(0);
    publish_from_raw(
        &mut publisher,
        "queue/lost",
        b"nobody keeps this",
        QoS::AtLeastOnce,
        false,
        99,
    );
    let mut command = mosquitto_sub(port, version, &client_id, "queue/#", QoS::ExactlyOnce);
    command.args(["-c", "-C", "1", "-W", "1"]);
    let (status, lines) = PeerProcess::spawn(command, false).finish(PEER_TIMEOUT);
    assert_eq!(status.code(), Some(SUB_TIMED_OUT), "{lines:?}");
    assert!(lines.is_empty(), "a clean session kept messages: {lines:?}");
    assert_eq!(broker.wait_connected(&client_id, 4), (false, false));
}

#[test]
fn persistent_session_v311_queues_and_redelivers() {
    persistent_session("mqttv311");
}

#[test]
fn persistent_session_v31_queues_and_redelivers() {
    persistent_session("mqttv31");
}

/// A second connection with the same client id takes over: the first is closed with its will
/// published ([MQTT-3.1.4-2]), the newcomer proceeds, and with persistent sessions it finds the
/// session present ([MQTT-3.2.2-2]) with the first connection's subscription.
#[test]
fn takeover_by_the_same_client_id() {
    if !mosquitto_clients_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let port = broker.port();
    let mut observer = raw_subscriber(port, "observer", "takeover/#", QoS::ExactlyOnce);
    for (n, version) in VERSIONS.into_iter().enumerate() {
        let client_id = format!("twin-{version}");
        let mut command =
            mosquitto_sub(port, version, &client_id, "takeover/sub", QoS::AtLeastOnce);
        command
            .args(["-c", "--will-topic", "takeover/will", "--will-qos", "1"])
            .args(["--will-payload", &format!("{client_id} replaced")]);
        let first = PeerProcess::spawn(command, false);
        assert_eq!(broker.wait_connected(&client_id, 0), (false, false));
        broker.wait_subscriptions(2 + n as u64);

        // The second connection is a mosquitto_pub with the same id and a persistent session.
        let body = format!("from the new {client_id}");
        mosquitto_pub(
            port,
            version,
            &[
                "-c",
                "-i",
                &client_id,
                "-q",
                "1",
                "-t",
                "takeover/sub",
                "-m",
                &body,
            ],
        );
        // Which of the two connections' ends the broker reports first is a race, so look for the
        // takeover among them.
        broker.wait_event(&Event::Disconnected {
            client_id: client_id.clone(),
            reason: DisconnectReason::TakenOver,
        });
        // mosquitto_sub reconnects a second after losing its connection; gone before then, it
        // cannot take the id back.
        first.kill();
        assert_eq!(broker.wait_connected(&client_id, 1), (true, false));

        // The will (from the closed connection's thread) and the newcomer's message may arrive
        // in either order.
        let mut got = [
            recv_publish_acked(&mut observer),
            recv_publish_acked(&mut observer),
        ];
        got.sort_by(|a, b| a.topic.as_str().cmp(b.topic.as_str()));
        assert_publish(
            &got[0],
            "takeover/sub",
            body.as_bytes(),
            QoS::AtLeastOnce,
            false,
        );
        assert_publish(
            &got[1],
            "takeover/will",
            format!("{client_id} replaced").as_bytes(),
            QoS::AtLeastOnce,
            false,
        );
        settle(&mut observer);
    }
}

/// MQTT 3.1's CONNACK has no session-present flag: the byte before the return code is
/// "reserved, not used", so a 3.1 client resuming a persistent session must still read 0 there
/// (mosquitto sends 0 too; a strict 3.1 client may reject anything else). A 3.1.1 client gets
/// the flag ([MQTT-3.2.2-2]).
#[test]
fn mqtt_3_1_connack_reserved_byte_stays_zero_on_session_resume() {
    let broker = ObservedBroker::start();
    for (protocol, flag_on_resume) in [(ProtocolLevel::V31, false), (ProtocolLevel::V311, true)] {
        let client_id = format!("resume-{protocol:?}");
        let mut connect = connect_packet(&client_id, false);
        connect.protocol = protocol;
        let (first, connack) = RawClient::connect_with(broker.port(), connect.clone());
        assert!(!connack.session_present);
        first.disconnect();
        broker.wait_disconnected(&client_id, 0);
        let (again, connack) = RawClient::connect_with(broker.port(), connect);
        assert_eq!(connack.session_present, flag_on_resume, "{protocol:?}");
        again.disconnect();
    }
}

/// A 200 kB binary payload (a three-byte remaining length) on a topic with multi-byte UTF-8
/// characters, both ways between mosquitto's programs and our broker, arrives byte for byte
/// ([MQTT-1.5.3-1], section 2.2.3).
#[test]
fn large_payload_and_utf8_topic_both_ways() {
    if !mosquitto_clients_present() {
        return;
    }
    let broker = ObservedBroker::start();
    let port = broker.port();
    let topic = "big/ünïcødé/✓";
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    for version in VERSIONS {
        let mut observer = raw_subscriber(port, "observer", "big/#", QoS::AtLeastOnce);
        mosquitto_pub_stdin(port, version, &["-q", "1", "-t", topic], &payload);
        let got = recv_publish_acked(&mut observer);
        assert_publish(&got, topic, &payload, QoS::AtLeastOnce, false);
        settle(&mut observer);
        observer.disconnect();

        let client_id = format!("big-{version}");
        let mut command = mosquitto_sub(port, version, &client_id, "big/#", QoS::ExactlyOnce);
        command.args(["-C", "1"]);
        let subscriber = PeerProcess::spawn(command, false);
        broker.wait_connected(&client_id, 0);
        broker.wait_subscriptions(1);
        let mut publisher = RawClient::clean(port, "publisher");
        publish_from_raw(&mut publisher, topic, &payload, QoS::ExactlyOnce, false, 1);
        assert_eq!(
            subscriber.finish_ok(PEER_TIMEOUT),
            [line(QoS::ExactlyOnce, false, topic, &payload)]
        );
        publisher.disconnect();
        broker.wait_disconnected(&client_id, 0);
        broker.wait_subscriptions(0);
    }
}
