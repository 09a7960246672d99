//! Broker behaviour for MQTT 3.1.1 normative statements that no other test covers, checked at the
//! wire with raw bytes (docs/CONFORMANCE.md maps every statement to its tests).

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use crate::framing::{field, frame};
use mqtt::broker::{AuthResult, BrokerOptions};
use mqtt::protocol::{ConnectReturnCode, Packet, QoS, QosPid, SubackCode};

const QUIET: Duration = Duration::from_millis(200);

/// A raw MQTT 3.1.1 CONNECT with keep-alive 60 and the given flags and payload fields.
fn raw_connect(flags: u8, payload: &[&[u8]]) -> Vec<u8> {
    let mut body = field(b"MQTT");
    body.extend_from_slice(&[4, flags, 0, 60]);
    for part in payload {
        body.extend_from_slice(part);
    }
    frame(0x10, &body)
}

/// The next packet from the broker as raw bytes, exactly as sent.
fn read_raw_packet(client: &mut RawClient) -> Vec<u8> {
    match client.try_read_raw(READ_TIMEOUT) {
        Ok(bytes) => bytes,
        Err(end) => panic!("expected a packet, got {end:?}"),
    }
}

/// Sends `bytes` on a fresh socket and asserts the broker closes it without answering anything,
/// CONNACK included ([MQTT-3.1.4-1], [MQTT-3.2.2-6]).
fn assert_closed_without_connack(port: u16, what: &str, bytes: &[u8]) {
    let mut client = RawClient::open(port);
    client.send_bytes(bytes);
    assert_eq!(
        client.try_recv(READ_TIMEOUT),
        Err(ReadEnd::Closed),
        "{what}: expected the connection closed without CONNACK"
    );
}

/// A client subscribed to everything (`#`) that notices any message at all.
fn watch_everything(port: u16, id: &str) -> RawClient {
    let mut watcher = RawClient::clean(port, id);
    watcher.subscribe_ok(1, &[("#", QoS::AtMostOnce)]);
    watcher
}

#[test]
fn mqtt_1_5_3_3_byte_order_mark_in_topic_is_kept() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "bom");
    sub.subscribe_ok(1, &[("\u{FEFF}bom", QoS::AtMostOnce)]);
    broker
        .publish("bom", b"plain", QoS::AtMostOnce, false)
        .unwrap();
    let mut publisher = RawClient::clean(broker.port(), "bom-pub");
    publisher.send(&publish(
        "\u{FEFF}bom",
        b"marked",
        QosPid::AtMostOnce,
        false,
    ));
    let p = sub.recv_publish();
    assert_eq!(p.topic.as_str(), "\u{FEFF}bom");
    assert_eq!(p.payload.as_ref(), b"marked");
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn mqtt_2_2_2_1_broker_sets_reserved_flag_bits() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "flags");
    sub.send_bytes(&frame(0x82, &[&[0, 7][..], &field(b"f"), &[2]].concat()));
    assert_eq!(read_raw_packet(&mut sub), [0x90, 3, 0, 7, 2]);
    // QoS 1 to itself: PUBACK and the delivery, in either order.
    sub.send_bytes(&frame(0x32, &[&field(b"f")[..], &[0, 8], b"1"].concat()));
    let mut got = [read_raw_packet(&mut sub), read_raw_packet(&mut sub)];
    got.sort();
    assert_eq!(got[0][0], 0x32, "QoS 1 delivery: DUP 0, QoS 01, RETAIN 0");
    assert_eq!(got[1], [0x40, 2, 0, 8]);
    sub.send_bytes(&[0x40, 2, got[0][5], got[0][6]]);
    // QoS 2 to itself: PUBREC and the delivery, then PUBREL from the broker (flags 0010).
    sub.send_bytes(&frame(0x34, &[&field(b"f")[..], &[0, 9], b"2"].concat()));
    let mut got = [read_raw_packet(&mut sub), read_raw_packet(&mut sub)];
    got.sort();
    assert_eq!(got[0][0], 0x34, "QoS 2 delivery: DUP 0, QoS 10, RETAIN 0");
    assert_eq!(got[1], [0x50, 2, 0, 9]);
    let (hi, lo) = (got[0][5], got[0][6]);
    sub.send_bytes(&[0x50, 2, hi, lo]);
    assert_eq!(read_raw_packet(&mut sub), [0x62, 2, hi, lo]);
    sub.send_bytes(&[0x70, 2, hi, lo]);
    sub.send_bytes(&[0x62, 2, 0, 9]);
    assert_eq!(read_raw_packet(&mut sub), [0x70, 2, 0, 9]);
    sub.send_bytes(&frame(0xA2, &[&[0, 10][..], &field(b"f")].concat()));
    assert_eq!(read_raw_packet(&mut sub), [0xB0, 2, 0, 10]);
    sub.send_bytes(&[0xC0, 0]);
    assert_eq!(read_raw_packet(&mut sub), [0xD0, 0]);
}

#[test]
fn mqtt_2_3_1_4_deliveries_in_flight_have_distinct_nonzero_ids() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "ids");
    sub.subscribe_ok(1, &[("ids", QoS::ExactlyOnce)]);
    for i in 0..40u8 {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        broker.publish("ids", &[i], qos, false).unwrap();
    }
    let mut ids = HashSet::new();
    for _ in 0..40 {
        let id = sub
            .recv_publish()
            .qospid
            .packet_id()
            .expect("QoS > 0 has an id");
        assert!(ids.insert(id), "identifier {id} reused while in flight");
    }
}

#[test]
fn mqtt_3_1_2_1_wrong_protocol_name_closed_without_connack() {
    let broker = start_default_broker();
    let connect = |name: &[u8], level: u8| {
        let mut body = field(name);
        body.extend_from_slice(&[level, 2, 0, 60]);
        body.extend_from_slice(&field(b"c"));
        frame(0x10, &body)
    };
    for name in [&b"MQTX"[..], b"mqtt", b"MQTT\0"] {
        let what = String::from_utf8_lossy(name);
        assert_closed_without_connack(broker.port(), &what, &connect(name, 4));
    }
    // "MQIsdp" is MQTT 3.1's name; with a level other than 3 the broker answers as an MQTT 3.1
    // server does (0x01, unacceptable protocol version) and closes: it never serves it as 3.1.1.
    let mut old = RawClient::open(broker.port());
    old.send_bytes(&connect(b"MQIsdp", 4));
    match old.recv() {
        Packet::Connack(c) => assert_eq!(
            c.code,
            ConnectReturnCode::UnacceptableProtocolVersion.to_reason()
        ),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    old.expect_closed(READ_TIMEOUT);
    assert_eq!(broker.stats().sessions, 0);
}

#[test]
fn mqtt_3_1_2_7_retained_message_outlives_its_publishers_session() {
    let broker = start_default_broker();
    let mut publisher = RawClient::clean(broker.port(), "short-lived");
    publisher.send(&publish(
        "kept",
        b"still here",
        QosPid::AtLeastOnce(pid(1)),
        true,
    ));
    assert_eq!(publisher.recv(), Packet::Puback(pid(1).into()));
    publisher.disconnect();
    eventually("session ended", || broker.stats().sessions == 0);
    let mut late = RawClient::clean(broker.port(), "late");
    late.send(&subscribe(1, &[("kept", QoS::AtMostOnce)]));
    assert!(matches!(late.recv(), Packet::Suback(_)));
    let p = late.recv_publish();
    assert_eq!(p.payload.as_ref(), b"still here");
    assert!(p.retain);
}

#[test]
fn mqtt_3_1_2_9_will_flag_without_will_fields_closed_without_connack() {
    let broker = start_default_broker();
    let mut watcher = watch_everything(broker.port(), "watcher");
    assert_closed_without_connack(
        broker.port(),
        "no will topic or message",
        &raw_connect(0x06, &[&field(b"c")]),
    );
    assert_closed_without_connack(
        broker.port(),
        "no will message",
        &raw_connect(0x06, &[&field(b"c"), &field(b"w/t")]),
    );
    watcher.expect_silence(QUIET);
}

#[test]
fn mqtt_3_1_2_10_will_is_published_once_only() {
    let broker = start_default_broker();
    let mut watcher = watch_everything(broker.port(), "watcher");
    let mut connect = connect_packet("mortal", false);
    connect.will = Some(will("will/mortal", b"gone", QoS::AtMostOnce, false));
    let (client, _) = RawClient::connect_with(broker.port(), connect);
    client.drop_abruptly();
    assert_eq!(watcher.recv_publish().topic.as_str(), "will/mortal");
    // The session resumes without a will: ending it again publishes nothing.
    let (client, connack) = RawClient::connect(broker.port(), "mortal", false);
    assert!(connack.session_present);
    client.drop_abruptly();
    eventually("detached", || broker.stats().clients_connected == 1);
    watcher.expect_silence(QUIET);
}

#[test]
fn mqtt_3_1_2_11_will_qos_or_retain_without_will_flag_closed_without_connack() {
    let broker = start_default_broker();
    for (what, flags) in [
        ("will QoS 1", 0x0A),
        ("will QoS 2", 0x12),
        ("will retain", 0x22),
    ] {
        assert_closed_without_connack(broker.port(), what, &raw_connect(flags, &[&field(b"c")]));
    }
    // Will fields present without the flag: bytes the flags do not announce.
    assert_closed_without_connack(
        broker.port(),
        "will fields without flag",
        &raw_connect(0x02, &[&field(b"c"), &field(b"w/t"), &field(b"m")]),
    );
}

#[test]
fn mqtt_3_1_2_12_no_will_flag_nothing_published_on_abrupt_close() {
    let broker = start_default_broker();
    let mut watcher = watch_everything(broker.port(), "watcher");
    RawClient::clean(broker.port(), "willless").drop_abruptly();
    eventually("detached", || broker.stats().clients_connected == 1);
    watcher.expect_silence(QUIET);
    assert_eq!(broker.stats().messages_received, 0);
}

#[test]
fn mqtt_3_1_2_14_will_qos_3_closed_without_connack() {
    let broker = start_default_broker();
    let mut watcher = watch_everything(broker.port(), "watcher");
    assert_closed_without_connack(
        broker.port(),
        "will QoS 3",
        &raw_connect(0x1E, &[&field(b"c"), &field(b"w/t"), &field(b"m")]),
    );
    watcher.expect_silence(QUIET);
}

#[test]
fn mqtt_3_1_2_16_will_without_retain_is_published_non_retained() {
    let broker = start_default_broker();
    let mut watcher = watch_everything(broker.port(), "watcher");
    let mut connect = connect_packet("fleeting", true);
    connect.will = Some(will("will/fleeting", b"bye", QoS::AtLeastOnce, false));
    let (client, _) = RawClient::connect_with(broker.port(), connect);
    client.drop_abruptly();
    let p = watcher.recv_publish();
    assert_eq!(p.topic.as_str(), "will/fleeting");
    assert!(!p.retain);
    assert_eq!(broker.stats().retained_messages, 0);
    let mut late = RawClient::clean(broker.port(), "late");
    late.subscribe_ok(1, &[("will/#", QoS::AtLeastOnce)]);
    assert!(late.sync_collect().is_empty());
}

#[test]
fn mqtt_3_1_2_18_credential_fields_must_match_their_flags() {
    let broker = start_default_broker();
    let c = field(b"c");
    let u = field(b"user");
    let p = field(b"pw");
    let cases: [(&str, Vec<u8>); 5] = [
        ("user name without its flag", raw_connect(0x02, &[&c, &u])),
        ("user name flag without user name", raw_connect(0x82, &[&c])),
        (
            "password without its flag",
            raw_connect(0x82, &[&c, &u, &p]),
        ),
        (
            "password flag without password",
            raw_connect(0xC2, &[&c, &u]),
        ),
        (
            "password flag without user name flag",
            raw_connect(0x42, &[&c, &p]),
        ),
    ];
    for (what, bytes) in cases {
        assert_closed_without_connack(broker.port(), what, &bytes);
    }
    // Both flags with both fields is accepted.
    let (mut ok, connack) = {
        let mut client = RawClient::open(broker.port());
        client.send_bytes(&raw_connect(0xC2, &[&c, &u, &p]));
        match client.recv() {
            Packet::Connack(connack) => (client, connack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    };
    assert_eq!(connack.code, ConnectReturnCode::Accepted.to_reason());
    ok.sync();
}

#[test]
fn mqtt_3_1_3_4_ill_formed_utf8_in_connect_closed_without_connack() {
    let broker = start_default_broker();
    let bad = field(&[0xC3, 0x28]);
    let c = field(b"c");
    let cases: [(&str, Vec<u8>); 4] = [
        ("client id", raw_connect(0x02, &[&bad])),
        ("will topic", raw_connect(0x06, &[&c, &bad, &field(b"m")])),
        ("user name", raw_connect(0x82, &[&c, &bad])),
        ("U+0000 in client id", raw_connect(0x02, &[&field(b"a\0b")])),
    ];
    for (what, bytes) in cases {
        assert_closed_without_connack(broker.port(), what, &bytes);
    }
}

#[test]
fn mqtt_3_1_3_5_short_alphanumeric_client_ids_accepted() {
    let broker = start_default_broker();
    let alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let ids = [
        "a".to_owned(),
        alphabet[..23].to_owned(),
        alphabet[39..].to_owned(),
        alphabet[20..43].to_owned(),
    ];
    let mut clients: Vec<RawClient> = ids
        .iter()
        .map(|id| RawClient::connect(broker.port(), id, false).0)
        .collect();
    for client in &mut clients {
        client.sync();
    }
    assert_eq!(broker.stats().clients_connected, ids.len() as u64);
}

#[test]
fn mqtt_3_1_4_5_nothing_processed_after_a_refused_connect() {
    let broker = start_broker(BrokerOptions::default().authenticator(|request| {
        if request.client_id == "intruder" {
            AuthResult::NotAuthorized
        } else {
            AuthResult::Accept
        }
    }));
    let mut watcher = watch_everything(broker.port(), "watcher");
    let mut intruder = RawClient::open(broker.port());
    let mut bytes = Packet::Connect(Box::new(connect_packet("intruder", false)))
        .to_bytes()
        .unwrap();
    for packet in [
        publish("planted", b"x", QosPid::AtLeastOnce(pid(1)), true),
        subscribe(2, &[("#", QoS::AtMostOnce)]),
        Packet::Pingreq,
    ] {
        bytes.extend(packet.to_bytes().unwrap());
    }
    intruder.send_bytes(&bytes);
    match intruder.recv() {
        Packet::Connack(c) => assert_eq!(c.code, ConnectReturnCode::NotAuthorized.to_reason()),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    // Only the refusal: no PUBACK, SUBACK or PINGRESP for the pipelined packets.
    assert_eq!(intruder.try_recv(READ_TIMEOUT), Err(ReadEnd::Closed));
    watcher.expect_silence(QUIET);
    let stats = broker.stats();
    assert_eq!(
        (
            stats.retained_messages,
            stats.messages_received,
            stats.sessions
        ),
        (0, 0, 1)
    );
}

#[test]
fn mqtt_3_2_2_4_refused_connect_never_has_session_present() {
    let broker =
        start_broker(
            BrokerOptions::default().authenticator(|request| match request.password {
                Some(b"right") => AuthResult::Accept,
                _ => AuthResult::BadCredentials,
            }),
        );
    let credentials = |password: &[u8]| {
        let mut connect = connect_packet("stored", false);
        connect.username = Some("u".into());
        connect.password = Some(password.to_vec());
        connect
    };
    let (mut first, connack) = RawClient::connect_with(broker.port(), credentials(b"right"));
    assert_eq!(connack.code, ConnectReturnCode::Accepted.to_reason());
    first.subscribe_ok(1, &[("s", QoS::AtLeastOnce)]);
    first.disconnect();
    let (mut refused, connack) = RawClient::connect_with(broker.port(), credentials(b"wrong"));
    assert_eq!(
        connack.code,
        ConnectReturnCode::BadUsernameOrPassword.to_reason()
    );
    assert!(!connack.session_present);
    refused.expect_closed(READ_TIMEOUT);
    // The stored session was there all along, and is still.
    let (_again, connack) = RawClient::connect_with(broker.port(), credentials(b"right"));
    assert!(connack.session_present);
}

#[test]
fn mqtt_3_3_1_3_forwarded_dup_reflects_only_retransmission() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("d", QoS::ExactlyOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    for (qospid, ack) in [
        (QosPid::AtLeastOnce(pid(4)), Packet::Puback(pid(4).into())),
        (QosPid::ExactlyOnce(pid(5)), Packet::Pubrec(pid(5).into())),
    ] {
        let mut first_try = publish("d", b"resent", qospid, false);
        if let Packet::Publish(p) = &mut first_try {
            p.dup = true;
        }
        publisher.send(&first_try);
        assert_eq!(publisher.recv(), ack);
        let delivered = sub.recv_publish();
        assert!(!delivered.dup, "DUP copied from the incoming PUBLISH");
    }
}

#[test]
fn mqtt_3_3_1_12_non_retained_publish_leaves_retained_message_alone() {
    let broker = start_default_broker();
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish("r", b"retained", QosPid::AtMostOnce, true));
    publisher.send(&publish("r", b"live", QosPid::AtLeastOnce(pid(1)), false));
    assert_eq!(publisher.recv(), Packet::Puback(pid(1).into()));
    publisher.send(&publish("r", b"", QosPid::AtMostOnce, false));
    publisher.send(&publish("other", b"not kept", QosPid::AtMostOnce, false));
    publisher.sync();
    assert_eq!(broker.stats().retained_messages, 1);
    let mut late = RawClient::clean(broker.port(), "late");
    late.send(&subscribe(
        1,
        &[("r", QoS::AtMostOnce), ("other", QoS::AtMostOnce)],
    ));
    assert!(matches!(late.recv(), Packet::Suback(_)));
    let p = late.recv_publish();
    assert_eq!(p.payload.as_ref(), b"retained");
    assert!(late.sync_collect().is_empty());
}

#[test]
fn mqtt_3_8_3_1_ill_formed_utf8_filters_close() {
    let broker = start_default_broker();
    let bad = field(&[0xED, 0xA0, 0x80]);
    let cases = [
        (
            "SUBSCRIBE",
            frame(0x82, &[&[0, 1][..], &bad, &[0]].concat()),
        ),
        ("UNSUBSCRIBE", frame(0xA2, &[&[0, 1][..], &bad].concat())),
    ];
    for (what, bytes) in cases {
        let mut client = RawClient::clean(broker.port(), "utf8");
        client.send_bytes(&bytes);
        assert_eq!(
            client.try_recv(READ_TIMEOUT),
            Err(ReadEnd::Closed),
            "{what}"
        );
    }
    assert_eq!(broker.stats().subscriptions, 0);
}

#[test]
fn mqtt_3_10_1_1_unsubscribe_with_wrong_flags_closes() {
    let broker = start_default_broker();
    let mut client = RawClient::clean(broker.port(), "flags");
    client.subscribe_ok(1, &[("f", QoS::AtMostOnce)]);
    client.send_bytes(&frame(0xA0, &[&[0, 2][..], &field(b"f")].concat()));
    assert_eq!(client.try_recv(READ_TIMEOUT), Err(ReadEnd::Closed));
}

#[test]
fn mqtt_3_10_4_1_unsubscribe_compares_filters_literally() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("a/+", QoS::AtMostOnce), ("a/b", QoS::AtMostOnce)]);
    // None of these is character-for-character a held filter.
    sub.send(&unsubscribe(2, &["a/#", "A/+", "a/b/", "a/c"]));
    assert_eq!(
        sub.recv(),
        Packet::Unsuback(mqtt::protocol::Unsuback::new(pid(2)))
    );
    assert_eq!(broker.stats().subscriptions, 2);
    // "a/b" goes; "a/+" (which matches "a/b") stays.
    sub.send(&unsubscribe(3, &["a/b"]));
    assert_eq!(
        sub.recv(),
        Packet::Unsuback(mqtt::protocol::Unsuback::new(pid(3)))
    );
    assert_eq!(broker.stats().subscriptions, 1);
    broker.publish("a/b", b"x", QoS::AtMostOnce, false).unwrap();
    assert_eq!(sub.recv_publish().payload.as_ref(), b"x");
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn mqtt_3_10_4_3_unsubscribe_completes_deliveries_already_started() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("u", QoS::ExactlyOnce)]);
    broker
        .publish("u", b"one", QoS::AtLeastOnce, false)
        .unwrap();
    broker
        .publish("u", b"two", QoS::ExactlyOnce, false)
        .unwrap();
    let one = sub.recv_publish().qospid.packet_id().unwrap();
    let two = sub.recv_publish().qospid.packet_id().unwrap();
    sub.send(&unsubscribe(2, &["u"]));
    assert_eq!(
        sub.recv(),
        Packet::Unsuback(mqtt::protocol::Unsuback::new(pid(2)))
    );
    broker
        .publish("u", b"after", QoS::AtLeastOnce, false)
        .unwrap();
    sub.send(&Packet::Puback(one.into()));
    sub.send(&Packet::Pubrec(two.into()));
    assert_eq!(sub.recv(), Packet::Pubrel(two.into()));
    sub.send(&Packet::Pubcomp(two.into()));
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn mqtt_3_10_4_5_unsuback_even_when_nothing_was_subscribed() {
    let broker = start_default_broker();
    let mut client = RawClient::clean(broker.port(), "empty");
    client.send(&unsubscribe(77, &["never/subscribed", "+/#"]));
    assert_eq!(
        client.recv(),
        Packet::Unsuback(mqtt::protocol::Unsuback::new(pid(77)))
    );
}

#[test]
fn mqtt_3_14_1_1_disconnect_with_reserved_bits_is_a_violation() {
    let broker = start_default_broker();
    let mut watcher = watch_everything(broker.port(), "watcher");
    let mut connect = connect_packet("sloppy", true);
    connect.will = Some(will("will/sloppy", b"w", QoS::AtMostOnce, false));
    let (mut client, _) = RawClient::connect_with(broker.port(), connect);
    client.send_bytes(&[0xE1, 0x00]);
    client.expect_closed(READ_TIMEOUT);
    // Not a DISCONNECT at all: the will is published.
    assert_eq!(watcher.recv_publish().topic.as_str(), "will/sloppy");
}

#[test]
fn mqtt_4_1_0_2_connected_session_outlives_the_expiry() {
    let broker = start_broker(BrokerOptions {
        session_expiry: Some(Duration::from_millis(100)),
        ..BrokerOptions::default()
    });
    let (mut client, _) = RawClient::connect(broker.port(), "lasting", false);
    client.subscribe_ok(1, &[("l", QoS::AtLeastOnce)]);
    std::thread::sleep(Duration::from_millis(500));
    broker
        .publish("l", b"still", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(client.recv_publish().payload.as_ref(), b"still");
    assert_eq!(broker.stats().sessions, 1);
}

#[test]
fn mqtt_4_3_2_2_same_id_after_puback_is_a_new_publication() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("n", QoS::AtMostOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish("n", b"first", QosPid::AtLeastOnce(pid(5)), false));
    assert_eq!(publisher.recv(), Packet::Puback(pid(5).into()));
    let mut again = publish("n", b"second", QosPid::AtLeastOnce(pid(5)), false);
    if let Packet::Publish(p) = &mut again {
        p.dup = true;
    }
    publisher.send(&again);
    assert_eq!(publisher.recv(), Packet::Puback(pid(5).into()));
    assert_eq!(sub.recv_publish().payload.as_ref(), b"first");
    assert_eq!(sub.recv_publish().payload.as_ref(), b"second");
}

#[test]
fn mqtt_4_6_0_6_messages_from_one_client_delivered_in_order() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("ordered", QoS::ExactlyOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    let mut bytes = Vec::new();
    for i in 1..=120u16 {
        let qospid = match i % 3 {
            0 => QosPid::AtMostOnce,
            1 => QosPid::AtLeastOnce(pid(i)),
            _ => QosPid::ExactlyOnce(pid(i)),
        };
        bytes.extend(
            publish("ordered", &i.to_be_bytes(), qospid, false)
                .to_bytes()
                .unwrap(),
        );
    }
    publisher.send_bytes(&bytes);
    let mut last_by_qos = [0u16; 3];
    let mut delivered = 0;
    while delivered < 120 {
        let p = match sub.recv() {
            Packet::Publish(p) => p,
            Packet::Pubrel(id) => {
                sub.send(&Packet::Pubcomp(id));
                continue;
            }
            other => panic!("unexpected {other:?}"),
        };
        delivered += 1;
        let n = u16::from_be_bytes([p.payload[0], p.payload[1]]);
        let qos = p.qospid.qos() as usize;
        assert!(n > last_by_qos[qos], "{n} after {}", last_by_qos[qos]);
        last_by_qos[qos] = n;
        match p.qospid {
            QosPid::AtMostOnce => {}
            QosPid::AtLeastOnce(id) => sub.send(&Packet::Puback(id.into())),
            QosPid::ExactlyOnce(id) => sub.send(&Packet::Pubrec(id.into())),
        }
    }
    assert_eq!(last_by_qos, [120, 118, 119]);
}

#[test]
fn mqtt_4_7_3_1_empty_topic_name_closes_and_empty_filter_is_refused() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.send_bytes(&frame(0x82, &[&[0, 1][..], &field(b""), &[0]].concat()));
    match sub.recv() {
        Packet::Suback(s) => assert_eq!(s.codes, vec![SubackCode::Failure.to_reason()]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send_bytes(&frame(0x30, &[&field(b"")[..], b"payload"].concat()));
    assert_eq!(publisher.try_recv(READ_TIMEOUT), Err(ReadEnd::Closed));
}

#[test]
fn mqtt_4_7_3_4_broker_matches_without_normalizing() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(
        1,
        &[("caf\u{e9}", QoS::AtMostOnce), ("a/b", QoS::AtMostOnce)],
    );
    for topic in ["cafe\u{301}", "CAF\u{c9}", "A/b", "a/b/", "a//b", " a/b"] {
        broker
            .publish(topic, b"no", QoS::AtMostOnce, false)
            .unwrap();
    }
    broker
        .publish("caf\u{e9}", b"yes", QoS::AtMostOnce, false)
        .unwrap();
    let p = sub.recv_publish();
    assert_eq!(
        (p.topic.as_str(), p.payload.as_ref()),
        ("caf\u{e9}", &b"yes"[..])
    );
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn mqtt_3_8_4_3_resubscribe_does_not_interrupt_the_flow() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("flow", QoS::AtLeastOnce)]);
    for i in 0..5u8 {
        broker
            .publish("flow", &[i], QoS::AtLeastOnce, false)
            .unwrap();
    }
    let in_flight: Vec<_> = (0..5).map(|_| sub.recv_publish()).collect();
    // Re-subscribing while those five await PUBACK replaces the subscription, nothing else.
    sub.send(&subscribe(2, &[("flow", QoS::ExactlyOnce)]));
    assert!(matches!(sub.recv(), Packet::Suback(_)));
    for i in 5..10u8 {
        broker
            .publish("flow", &[i], QoS::AtLeastOnce, false)
            .unwrap();
    }
    for p in &in_flight {
        sub.send(&Packet::Puback(p.qospid.packet_id().unwrap().into()));
    }
    let mut payloads: Vec<u8> = in_flight.iter().map(|p| p.payload[0]).collect();
    for _ in 5..10 {
        let p = sub.recv_publish();
        assert!(!p.dup, "a message in flight was re-sent");
        payloads.push(p.payload[0]);
        sub.send(&Packet::Puback(p.qospid.packet_id().unwrap().into()));
    }
    assert_eq!(payloads, (0..10).collect::<Vec<u8>>());
    assert!(sub.sync_collect().is_empty());
    assert_eq!(broker.stats().subscriptions, 1);
}
