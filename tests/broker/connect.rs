//! CONNECT handling, CONNACK return codes, client identifiers, takeover, session present,
//! keep-alive, connect timeout, PINGREQ and DISCONNECT — checked at the wire.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use mqtt::broker::{AuthResult, BrokerEvent, BrokerOptions, DisconnectReason};
use mqtt::protocol::{ConnectReturnCode, Packet, ProtocolLevel, QoS, QosPid};

#[test]
fn mqtt_3_2_2_accepted_connack_bytes() {
    let broker = start_default_broker();
    let mut client = RawClient::open(broker.port());
    client.send(&Packet::Connect(Box::new(connect_packet("bytes", true))));
    let mut raw = [0u8; 4];
    client.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    std::io::Read::read_exact(&mut client.stream, &mut raw).unwrap();
    assert_eq!(raw, [0x20, 0x02, 0x00, 0x00]);
}

#[test]
fn mqtt_3_1_2_2_unsupported_protocol_level_gets_0x01_then_close() {
    let broker = start_default_broker();
    let mut client = RawClient::open(broker.port());
    // CONNECT "MQTT" level 6, a revision that does not exist (yet).
    client.send_bytes(&[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 6, 0x02, 0, 60, 0, 0]);
    match client.recv() {
        Packet::Connack(c) => {
            assert_eq!(
                c.code,
                ConnectReturnCode::UnacceptableProtocolVersion.to_reason()
            );
            assert!(!c.session_present);
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
    client.expect_closed(READ_TIMEOUT);
}

#[test]
fn mqtt_3_1_2_1_mqtt_3_1_protocol_accepted() {
    let broker = start_default_broker();
    let mut connect = connect_packet("old-timer", true);
    connect.protocol = ProtocolLevel::V31;
    let (mut client, connack) = RawClient::connect_with(broker.port(), connect);
    assert_eq!(connack.code, ConnectReturnCode::Accepted.to_reason());
    client.sync();
}

#[test]
fn mqtt_3_1_0_1_first_packet_must_be_connect() {
    let broker = start_default_broker();
    let mut client = RawClient::open(broker.port());
    client.send(&Packet::Pingreq);
    client.expect_closed(READ_TIMEOUT);
}

#[test]
fn mqtt_3_1_0_2_second_connect_closes() {
    let broker = start_default_broker();
    let mut client = RawClient::clean(broker.port(), "twice");
    client.send(&Packet::Connect(Box::new(connect_packet("twice", true))));
    client.expect_closed(READ_TIMEOUT);
}

#[test]
fn mqtt_3_1_3_6_empty_client_id_with_clean_session_gets_an_id() {
    let broker = start_default_broker();
    let (mut a, connack_a) = RawClient::connect(broker.port(), "", true);
    let (mut b, connack_b) = RawClient::connect(broker.port(), "", true);
    assert!(!connack_a.session_present && !connack_b.session_present);
    // Both stay connected: they got different identifiers, so neither took the other over.
    a.sync();
    b.sync();
    assert_eq!(broker.stats().clients_connected, 2);
}

#[test]
fn mqtt_3_1_3_8_empty_client_id_without_clean_session_gets_0x02() {
    let broker = start_default_broker();
    let (mut client, connack) = RawClient::connect_with(broker.port(), connect_packet("", false));
    assert_eq!(
        connack.code,
        ConnectReturnCode::IdentifierRejected.to_reason()
    );
    assert!(!connack.session_present);
    client.expect_closed(READ_TIMEOUT);
}

#[test]
fn mqtt_3_2_2_3_max_connections_gets_0x03() {
    let broker = start_broker(BrokerOptions {
        max_connections: 2,
        ..BrokerOptions::default()
    });
    let mut a = RawClient::clean(broker.port(), "a");
    let mut b = RawClient::clean(broker.port(), "b");
    let (mut c, connack) = RawClient::connect_with(broker.port(), connect_packet("c", true));
    assert_eq!(
        connack.code,
        ConnectReturnCode::ServerUnavailable.to_reason()
    );
    assert!(!connack.session_present);
    c.expect_closed(READ_TIMEOUT);
    a.sync();
    b.sync();
    // A slot frees when a client leaves.
    a.disconnect();
    eventually("slot freed", || broker.stats().clients_connected == 1);
    let mut d = RawClient::clean(broker.port(), "d");
    d.sync();
}

fn authenticating_broker() -> mqtt::broker::Broker {
    start_broker(BrokerOptions::default().authenticator(|request| {
        match (request.username, request.password) {
            (Some("alice"), Some(b"secret")) => AuthResult::Accept,
            (Some("mallory"), _) => AuthResult::NotAuthorized,
            _ => AuthResult::BadCredentials,
        }
    }))
}

#[test]
fn mqtt_3_2_2_3_bad_credentials_gets_0x04() {
    let broker = authenticating_broker();
    let mut connect = connect_packet("auth", true);
    connect.username = Some("alice".into());
    connect.password = Some(b"wrong".to_vec());
    let (mut client, connack) = RawClient::connect_with(broker.port(), connect);
    assert_eq!(
        connack.code,
        ConnectReturnCode::BadUsernameOrPassword.to_reason()
    );
    client.expect_closed(READ_TIMEOUT);

    let (mut anonymous, connack) =
        RawClient::connect_with(broker.port(), connect_packet("anon", true));
    assert_eq!(
        connack.code,
        ConnectReturnCode::BadUsernameOrPassword.to_reason()
    );
    anonymous.expect_closed(READ_TIMEOUT);

    let mut connect = connect_packet("auth", true);
    connect.username = Some("alice".into());
    connect.password = Some(b"secret".to_vec());
    let (mut ok, connack) = RawClient::connect_with(broker.port(), connect);
    assert_eq!(connack.code, ConnectReturnCode::Accepted.to_reason());
    ok.sync();
}

#[test]
fn mqtt_3_2_2_3_not_authorized_gets_0x05() {
    let broker = authenticating_broker();
    let mut connect = connect_packet("auth", true);
    connect.username = Some("mallory".into());
    let (mut client, connack) = RawClient::connect_with(broker.port(), connect);
    assert_eq!(connack.code, ConnectReturnCode::NotAuthorized.to_reason());
    assert!(!connack.session_present);
    client.expect_closed(READ_TIMEOUT);
    assert_eq!(broker.stats().clients_connected, 0);
}

#[test]
fn mqtt_3_1_4_2_same_client_id_takes_over() {
    let broker = start_default_broker();
    let mut old = RawClient::clean(broker.port(), "same");
    let mut new = RawClient::clean(broker.port(), "same");
    old.expect_closed(READ_TIMEOUT);
    new.sync();
    eventually("one client", || broker.stats().clients_connected == 1);
    assert_eq!(broker.stats().sessions, 1);
}

#[test]
fn mqtt_3_2_2_1_clean_session_never_session_present() {
    let broker = start_default_broker();
    let (first, connack) = RawClient::connect(broker.port(), "p", false);
    assert!(!connack.session_present);
    first.disconnect();
    // A clean-session connect discards the stored session: session present 0.
    let (second, connack) = RawClient::connect(broker.port(), "p", true);
    assert!(!connack.session_present);
    second.disconnect();
    // ...and nothing is left of it afterwards.
    let (_third, connack) = RawClient::connect(broker.port(), "p", false);
    assert!(!connack.session_present);
}

#[test]
fn mqtt_3_2_2_2_resumed_session_present() {
    let broker = start_default_broker();
    let (first, connack) = RawClient::connect(broker.port(), "resume", false);
    assert!(!connack.session_present);
    first.disconnect();
    let (second, connack) = RawClient::connect(broker.port(), "resume", false);
    assert!(connack.session_present);
    // Takeover of a connected persistent session also resumes it.
    let (_third, connack) = RawClient::connect(broker.port(), "resume", false);
    assert!(connack.session_present);
    let mut second = second;
    second.expect_closed(READ_TIMEOUT);
}

#[test]
fn mqtt_3_1_2_24_keep_alive_1_5x() {
    let broker = start_default_broker();
    let mut connect = connect_packet("sleepy", true);
    connect.keep_alive = 1;
    let (mut client, _) = RawClient::connect_with(broker.port(), connect);
    let started = Instant::now();
    let took = client.expect_closed(Duration::from_secs(5));
    let elapsed = started.elapsed().max(took);
    assert!(
        elapsed >= Duration::from_millis(1400),
        "closed after {elapsed:?}, before 1.5 × keep-alive"
    );
    assert!(
        elapsed < Duration::from_millis(2500),
        "closed late: {elapsed:?}"
    );
}

#[test]
fn mqtt_3_1_2_23_keep_alive_reset_by_any_packet() {
    let broker = start_default_broker();
    let mut connect = connect_packet("chatty", true);
    connect.keep_alive = 1;
    let (mut client, _) = RawClient::connect_with(broker.port(), connect);
    // No PINGREQ at all: other packets 700 ms apart, for 3.5 s (1.5 × keep-alive is 1.5 s).
    // The first two are QoS 0 PUBLISHes, which get no answer: the SUBACK after them shows they
    // kept the connection open on their own.
    for round in 1..=5u16 {
        std::thread::sleep(Duration::from_millis(700));
        match round {
            1 | 2 => client.send(&publish("chatter", b"qos 0", QosPid::AtMostOnce, false)),
            3 => client.subscribe_ok(round, &[("subscribed/#", QoS::AtMostOnce)]),
            4 => {
                let id = QosPid::AtLeastOnce(pid(round));
                client.send(&publish("chatter", b"qos 1", id, false));
                assert_eq!(client.recv(), Packet::Puback(pid(round).into()));
            }
            _ => {
                client.send(&unsubscribe(round, &["subscribed/#"]));
                assert_eq!(
                    client.recv(),
                    Packet::Unsuback(mqtt::protocol::Unsuback::new(pid(round)))
                );
            }
        }
    }
}

#[test]
fn mqtt_3_1_2_10_keep_alive_zero_means_never() {
    let broker = start_default_broker();
    let mut connect = connect_packet("forever", true);
    connect.keep_alive = 0;
    let (mut client, _) = RawClient::connect_with(broker.port(), connect);
    client.expect_silence(Duration::from_millis(1600));
    client.sync();
}

#[test]
fn connect_timeout_closes_silent_socket() {
    let broker = start_broker(BrokerOptions {
        connect_timeout: Duration::from_millis(300),
        ..BrokerOptions::default()
    });
    let mut silent = RawClient::open(broker.port());
    let took = silent.expect_closed(Duration::from_secs(3));
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
    // Half a CONNECT is no better.
    let mut half = RawClient::open(broker.port());
    half.send_bytes(&[0x10, 12, 0, 4, b'M', b'Q']);
    half.expect_closed(Duration::from_secs(3));
}

#[test]
fn mqtt_3_12_4_1_pingreq_gets_pingresp() {
    let broker = start_default_broker();
    let mut client = RawClient::clean(broker.port(), "ping");
    client.send_bytes(&[0xC0, 0x00]);
    let mut raw = [0u8; 2];
    client.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    std::io::Read::read_exact(&mut client.stream, &mut raw).unwrap();
    assert_eq!(raw, [0xD0, 0x00]);
}

#[test]
fn mqtt_3_14_4_1_disconnect_closes_connection() {
    let broker = start_default_broker();
    let mut client = RawClient::clean(broker.port(), "bye");
    client.send(&Packet::Disconnect(mqtt::protocol::Disconnect::default()));
    client.expect_closed(READ_TIMEOUT);
    eventually("client gone", || broker.stats().clients_connected == 0);
    assert_eq!(broker.stats().sessions, 0);
}

#[test]
fn event_hook_sees_connects_and_disconnects_with_reasons() {
    let connects = Arc::new(AtomicUsize::new(0));
    let reasons = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let (c, r) = (Arc::clone(&connects), Arc::clone(&reasons));
    let broker = start_broker(
        BrokerOptions::default().event_hook(move |event| match event {
            BrokerEvent::Connected { client_id, .. } => {
                assert!(client_id.starts_with("ev"));
                c.fetch_add(1, Ordering::SeqCst);
            }
            BrokerEvent::Disconnected { reason, .. } => r.lock().push(*reason),
        }),
    );
    RawClient::clean(broker.port(), "ev1").disconnect();
    RawClient::clean(broker.port(), "ev2").drop_abruptly();
    let mut violator = RawClient::clean(broker.port(), "ev3");
    violator.send_bytes(&[0x00, 0x00]);
    violator.expect_closed(READ_TIMEOUT);
    eventually("three disconnects", || reasons.lock().len() == 3);
    assert_eq!(connects.load(Ordering::SeqCst), 3);
    let mut seen = reasons.lock().clone();
    seen.sort_by_key(|r| *r as u8);
    assert_eq!(
        seen,
        vec![
            DisconnectReason::ClientDisconnected,
            DisconnectReason::ConnectionLost,
            DisconnectReason::ProtocolViolation
        ]
    );
}

#[test]
fn host_publish_reaches_subscriber() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "host-sub");
    sub.subscribe_ok(1, &[("host/#", QoS::AtLeastOnce)]);
    broker
        .publish("host/news", b"hello", QoS::AtLeastOnce, false)
        .unwrap();
    let p = sub.recv_publish();
    assert_eq!(p.topic.as_str(), "host/news");
    assert_eq!(&*p.payload, b"hello");
    assert!(matches!(p.qospid, QosPid::AtLeastOnce(_)));
    assert!(
        broker
            .publish("bad/+", b"x", QoS::AtMostOnce, false)
            .is_err()
    );
}

#[test]
fn packets_pipelined_behind_connect_are_handled() {
    let broker = start_default_broker();
    let mut client = RawClient::open(broker.port());
    let mut bytes = Packet::Connect(Box::new(connect_packet("eager", true)))
        .to_bytes()
        .unwrap();
    bytes.extend(
        subscribe(1, &[("eager", QoS::AtMostOnce)])
            .to_bytes()
            .unwrap(),
    );
    bytes.extend(
        publish("eager", b"self", QosPid::AtMostOnce, false)
            .to_bytes()
            .unwrap(),
    );
    client.send_bytes(&bytes);
    assert!(matches!(client.recv(), Packet::Connack(_)));
    assert!(matches!(client.recv(), Packet::Suback(_)));
    assert_eq!(client.recv_publish().payload.as_ref(), b"self");
}
