//! Hostile input over real sockets: every class of malformed packet the codec rejects, after a
//! valid CONNECT and as the first packet, and well-formed packets only a server may send;
//! packets over the configured size limit; lengths claiming 256 MiB; and a storm of random and
//! mutated byte streams from many sockets at once. Each closes only the offending connection,
//! allocates nothing the peer merely claims, and leaves the broker serving everyone else with
//! its threads and descriptors back where they were ([MQTT-4.8.0-1]: a protocol violation
//! closes the network connection).
//!
//! The tests measure the whole process (threads, descriptors, heap), so they hold `serial()`.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::support::*;
use crate::common::*;
use crate::framing::{field, frame, remaining_length};
use mqtt::broker::BrokerOptions;
use mqtt::protocol::{DecodeError, Decoder, Packet, ProtocolLevel, QoS, QosPid, ReasonCode};

/// The name of a decode error's class. Deliberately without a wildcard arm: a new variant does
/// not compile until it is named here, and `every_decode_error_class_is_sampled` then fails
/// until `malformed_samples` has a sample of it.
fn class(error: &DecodeError) -> &'static str {
    match error {
        DecodeError::ReservedPacketType(_) => "ReservedPacketType",
        DecodeError::InvalidFlags { .. } => "InvalidFlags",
        DecodeError::InvalidPublishQos => "InvalidPublishQos",
        DecodeError::DupOnQos0 => "DupOnQos0",
        DecodeError::RemainingLengthTooLong => "RemainingLengthTooLong",
        DecodeError::PacketTooLarge { .. } => "PacketTooLarge",
        DecodeError::Truncated(_) => "Truncated",
        DecodeError::TrailingBytes(_) => "TrailingBytes",
        DecodeError::ZeroPacketId(_) => "ZeroPacketId",
        DecodeError::InvalidUtf8 => "InvalidUtf8",
        DecodeError::Utf8Surrogate => "Utf8Surrogate",
        DecodeError::Utf8NullCharacter => "Utf8NullCharacter",
        DecodeError::InvalidProtocolName(_) => "InvalidProtocolName",
        DecodeError::UnsupportedProtocolLevel(_) => "UnsupportedProtocolLevel",
        DecodeError::ConnectReservedFlag => "ConnectReservedFlag",
        DecodeError::WillFlagsWithoutWill => "WillFlagsWithoutWill",
        DecodeError::InvalidWillQos => "InvalidWillQos",
        DecodeError::PasswordWithoutUsername => "PasswordWithoutUsername",
        DecodeError::InvalidTopic(_) => "InvalidTopic",
        DecodeError::InvalidConnackFlags(_) => "InvalidConnackFlags",
        DecodeError::InvalidConnectReturnCode(_) => "InvalidConnectReturnCode",
        DecodeError::EmptySubscribe => "EmptySubscribe",
        DecodeError::EmptyUnsubscribe => "EmptyUnsubscribe",
        DecodeError::InvalidSubscribeQos(_) => "InvalidSubscribeQos",
        DecodeError::InvalidSubackCode(_) => "InvalidSubackCode",
        DecodeError::NonMinimalVariableByteInteger => "NonMinimalVariableByteInteger",
        DecodeError::VariableByteIntegerTooLong => "VariableByteIntegerTooLong",
        DecodeError::UnknownProperty(_) => "UnknownProperty",
        DecodeError::PropertyNotAllowed { .. } => "PropertyNotAllowed",
        DecodeError::DuplicateProperty(_) => "DuplicateProperty",
        DecodeError::InvalidPropertyValue(_) => "InvalidPropertyValue",
        DecodeError::InvalidReasonCode { .. } => "InvalidReasonCode",
        DecodeError::InvalidRetainHandling => "InvalidRetainHandling",
    }
}

/// Every class `class` names, listed once more so the two can be compared.
const ALL_CLASSES: &[&str] = &[
    "ReservedPacketType",
    "InvalidFlags",
    "InvalidPublishQos",
    "DupOnQos0",
    "RemainingLengthTooLong",
    "PacketTooLarge",
    "Truncated",
    "TrailingBytes",
    "ZeroPacketId",
    "InvalidUtf8",
    "Utf8Surrogate",
    "Utf8NullCharacter",
    "InvalidProtocolName",
    "UnsupportedProtocolLevel",
    "ConnectReservedFlag",
    "WillFlagsWithoutWill",
    "InvalidWillQos",
    "PasswordWithoutUsername",
    "InvalidTopic",
    "InvalidConnackFlags",
    "InvalidConnectReturnCode",
    "EmptySubscribe",
    "EmptyUnsubscribe",
    "InvalidSubscribeQos",
    "InvalidSubackCode",
    "NonMinimalVariableByteInteger",
    "VariableByteIntegerTooLong",
    "UnknownProperty",
    "PropertyNotAllowed",
    "DuplicateProperty",
    "InvalidPropertyValue",
    "InvalidReasonCode",
    "InvalidRetainHandling",
];

/// A CONNECT with protocol name, level, flags and payload fields as given.
fn raw_connect(name: &[u8], level: u8, flags: u8, payload: &[&[u8]]) -> Vec<u8> {
    let mut body = field(name);
    body.extend_from_slice(&[level, flags, 0, 60]);
    for item in payload {
        body.extend_from_slice(&field(item));
    }
    frame(0x10, &body)
}

/// The broker's packet limit in these tests (its default).
const MAX_PACKET: usize = 16 * MIB;

/// One or more samples of each class of malformed packet, with the class the codec reports.
fn malformed_samples() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("ReservedPacketType", vec![0x00, 0x00]),
        ("ReservedPacketType", vec![0xF0, 0x00]),
        ("InvalidFlags", vec![0x11, 0x00]), // CONNECT flags 0001
        ("InvalidFlags", vec![0x41, 0x02, 0x00, 0x01]), // PUBACK flags 0001
        ("InvalidFlags", vec![0x60, 0x02, 0x00, 0x01]), // PUBREL flags 0000
        ("InvalidFlags", vec![0x80, 6, 0, 1, 0, 1, b'a', 0]), // SUBSCRIBE flags 0000
        ("InvalidFlags", vec![0xA0, 5, 0, 1, 0, 1, b'a']), // UNSUBSCRIBE flags 0000
        ("InvalidFlags", vec![0xC8, 0x00]), // PINGREQ flags 1000
        ("InvalidFlags", vec![0xE2, 0x00]), // DISCONNECT flags 0010
        ("InvalidPublishQos", vec![0x36, 5, 0, 1, b't', 0, 1]),
        ("DupOnQos0", vec![0x38, 3, 0, 1, b't']),
        (
            "RemainingLengthTooLong",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ),
        ("PacketTooLarge", vec![0x30, 0xFF, 0xFF, 0xFF, 0x7F]), // claims 256 MiB
        ("PacketTooLarge", vec![0x82, 0x81, 0x80, 0x80, 0x08]), // 16 MiB + 1 SUBSCRIBE
        ("Truncated", vec![0x40, 1, 0]),
        ("Truncated", vec![0x10, 2, 0, 4]),
        ("Truncated", vec![0x30, 3, 0, 9, b't']), // topic length past the packet
        ("TrailingBytes", vec![0xC0, 1, 0]),
        ("TrailingBytes", vec![0x40, 3, 0, 1, 0]),
        ("ZeroPacketId", vec![0x40, 2, 0, 0]),
        ("ZeroPacketId", vec![0x32, 5, 0, 1, b't', 0, 0]),
        ("ZeroPacketId", vec![0x82, 6, 0, 0, 0, 1, b'a', 0]),
        ("InvalidUtf8", vec![0x30, 4, 0, 2, 0xC3, 0x28]),
        ("InvalidUtf8", vec![0x82, 7, 0, 1, 0, 2, 0xC3, 0x28, 0]),
        ("Utf8Surrogate", vec![0x30, 5, 0, 3, 0xED, 0xA0, 0x80]),
        ("Utf8NullCharacter", vec![0x30, 3, 0, 1, 0]),
        (
            "InvalidProtocolName",
            raw_connect(b"MQTX", 4, 0x02, &[b"x"]),
        ),
        // A known name with the other name's level is an unsupported level, not a bad name.
        (
            "UnsupportedProtocolLevel",
            raw_connect(b"MQIsdp", 4, 0x02, &[b"x"]),
        ),
        (
            "UnsupportedProtocolLevel",
            raw_connect(b"MQTT", 6, 0x02, &[b"x"]),
        ),
        (
            "ConnectReservedFlag",
            raw_connect(b"MQTT", 4, 0x03, &[b"x"]),
        ),
        (
            "WillFlagsWithoutWill",
            raw_connect(b"MQTT", 4, 0x02 | 0x08, &[b"x"]),
        ),
        (
            "WillFlagsWithoutWill",
            raw_connect(b"MQTT", 4, 0x02 | 0x20, &[b"x"]),
        ),
        (
            "InvalidWillQos",
            raw_connect(b"MQTT", 4, 0x02 | 0x04 | 0x18, &[b"x", b"w", b"m"]),
        ),
        (
            "PasswordWithoutUsername",
            raw_connect(b"MQTT", 4, 0x02 | 0x40, &[b"x", b"pw"]),
        ),
        ("InvalidTopic", vec![0x30, 3, 0, 1, b'#']),
        ("InvalidTopic", vec![0x30, 5, 0, 3, b'a', b'/', b'+']),
        ("InvalidTopic", vec![0x30, 2, 0, 0]),
        (
            "InvalidTopic",
            raw_connect(b"MQTT", 4, 0x02 | 0x04, &[b"x", b"w/#", b"m"]),
        ),
        ("InvalidConnackFlags", vec![0x20, 2, 0x02, 0]),
        ("InvalidConnectReturnCode", vec![0x20, 2, 0, 6]),
        ("EmptySubscribe", vec![0x82, 2, 0, 1]),
        ("EmptyUnsubscribe", vec![0xA2, 2, 0, 1]),
        ("InvalidSubscribeQos", vec![0x82, 6, 0, 1, 0, 1, b'a', 3]),
        ("InvalidSubscribeQos", vec![0x82, 6, 0, 1, 0, 1, b'a', 0x40]),
        ("InvalidSubackCode", vec![0x90, 3, 0, 1, 5]),
    ]
}

/// One or more samples of each class of malformed packet only MQTT 5.0 has, as a 5.0 client
/// would send them after its CONNECT, with the reason code of the DISCONNECT the broker answers:
/// 0x81 for a malformed packet, 0x82 for a protocol error (MQTT 5.0 sections 2.2.2.2, 2.4, 4.13).
fn malformed_v5_samples() -> Vec<(&'static str, Vec<u8>, ReasonCode)> {
    let malformed = ReasonCode::MALFORMED_PACKET;
    let protocol_error = ReasonCode::PROTOCOL_ERROR;
    vec![
        // A remaining length in more bytes than needed ([MQTT-1.5.5-1]).
        (
            "NonMinimalVariableByteInteger",
            vec![0xC0, 0x80, 0x00],
            malformed,
        ),
        (
            "VariableByteIntegerTooLong",
            frame(0x30, &[0, 1, b't', 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            malformed,
        ),
        (
            "UnknownProperty",
            frame(0x30, &[0, 1, b't', 2, 0x05, 0]),
            malformed,
        ),
        // Session Expiry Interval does not belong in PUBLISH.
        (
            "PropertyNotAllowed",
            frame(0x30, &[0, 1, b't', 5, 0x11, 0, 0, 0, 1]),
            malformed,
        ),
        (
            "DuplicateProperty",
            frame(0x30, &[0, 1, b't', 4, 0x01, 0, 0x01, 1]),
            protocol_error,
        ),
        (
            "InvalidPropertyValue",
            frame(0x30, &[0, 1, b't', 3, 0x23, 0, 0]),
            protocol_error,
        ),
        (
            "InvalidPropertyValue",
            frame(0x30, &[0, 1, b't', 2, 0x01, 7]),
            protocol_error,
        ),
        (
            "InvalidPropertyValue",
            frame(0x82, &[0, 1, 2, 0x0B, 0, 0, 1, b'a', 0]),
            protocol_error,
        ),
        // A string property that is not UTF-8 ([MQTT-1.5.4-1] of MQTT 5.0).
        (
            "InvalidUtf8",
            frame(0x30, &[0, 1, b't', 4, 0x03, 0, 1, 0xFF]),
            malformed,
        ),
        (
            "InvalidUtf8",
            frame(0x30, &[0, 1, b't', 7, 0x26, 0, 1, b'k', 0, 1, 0xFF]),
            malformed,
        ),
        ("InvalidReasonCode", frame(0x40, &[0, 1, 0x92]), malformed),
        (
            "InvalidRetainHandling",
            frame(0x82, &[0, 1, 0, 0, 1, b'a', 0x30]),
            protocol_error,
        ),
    ]
}

/// A raw MQTT 5.0 CONNECT without properties.
fn connect_v5(client_id: &[u8]) -> Vec<u8> {
    let mut body = field(b"MQTT");
    body.extend_from_slice(&[5, 0x02, 0, 60, 0]);
    body.extend_from_slice(&field(client_id));
    frame(0x10, &body)
}

/// Well-formed packets that only a server sends: from a client each is a protocol violation
/// that the codec cannot see, so the broker must close the connection for it.
fn server_only_samples() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("CONNACK from a client", vec![0x20, 2, 0, 0]),
        ("SUBACK from a client", vec![0x90, 3, 0, 1, 0]),
        ("UNSUBACK from a client", vec![0xB0, 2, 0, 1]),
        ("PINGRESP from a client", vec![0xD0, 0]),
    ]
}

/// What the codec says about `bytes`, with the broker's packet limit.
fn decode_error(bytes: &[u8]) -> Option<DecodeError> {
    let decoder = Decoder::with_max_packet_size(MAX_PACKET);
    decoder.decode(bytes).err()
}

#[test]
fn every_decode_error_class_is_sampled() {
    let _serial = serial();
    let mut sampled = BTreeSet::new();
    for (expected, bytes) in malformed_samples() {
        let error = decode_error(&bytes)
            .unwrap_or_else(|| panic!("{expected} sample {bytes:02x?} decodes without error"));
        assert_eq!(class(&error), expected, "{bytes:02x?}: {error}");
        sampled.insert(class(&error));
    }
    let v5 = Decoder::with_max_packet_size(MAX_PACKET).with_protocol(ProtocolLevel::V5);
    for (expected, bytes, code) in malformed_v5_samples() {
        let error = v5
            .decode(&bytes)
            .err()
            .unwrap_or_else(|| panic!("{expected} sample {bytes:02x?} decodes without error"));
        assert_eq!(class(&error), expected, "{bytes:02x?}: {error}");
        assert_eq!(error.reason_code(), code, "{bytes:02x?}: {error}");
        sampled.insert(class(&error));
    }
    let all: BTreeSet<&str> = ALL_CLASSES.iter().copied().collect();
    assert_eq!(sampled, all, "classes without a sample");
}

/// MQTT 5.0 section 4.13: a malformed packet or protocol error from a 5.0 client after its
/// CONNECT is answered with DISCONNECT carrying the reason code, then the connection closes;
/// other clients are not disturbed.
#[test]
fn mqtt5_every_malformed_class_after_connect_gets_disconnect_with_its_reason() {
    let _serial = serial();
    watch_broker_panics();
    let broker = start_default_broker();
    let mut bystanders = Bystanders::new(broker.port());
    for (what, bytes, code) in malformed_v5_samples() {
        let mut bad = RawClient::open(broker.port());
        bad.send_bytes(&connect_v5(b"offender"));
        // CONNACK 0x00 with the broker's properties, in 5.0 form.
        let connack = bad.try_read_raw(READ_TIMEOUT).expect("CONNACK");
        assert_eq!(&connack[..1], [0x20], "{connack:02x?}");
        assert_eq!(connack[3], 0x00, "{connack:02x?}");
        bad.send_bytes(&bytes);
        let sent = bytes_until_closed(&mut bad.stream, READ_TIMEOUT);
        assert_eq!(sent, [0xE0, 1, code.0], "{what} {bytes:02x?}");
        bystanders.still_served();
    }
    eventually("offenders gone", || broker.stats().clients_connected == 2);
    assert_eq!(broker_panics(), 0);
}

/// A 5.0 CONNECT whose properties break a rule closes the connection without CONNACK, as any
/// malformed first packet (MQTT 5.0 [MQTT-4.13.1-1] lets the server close at once).
#[test]
fn mqtt5_malformed_connect_properties_close_without_connack() {
    let _serial = serial();
    watch_broker_panics();
    let broker = start_default_broker();
    let mut bystanders = Bystanders::new(broker.port());
    let samples: [&[u8]; 4] = [
        &[2, 0x21, 0],                             // Receive Maximum cut short
        &[3, 0x21, 0, 0],                          // Receive Maximum 0
        &[5, 0x27, 0, 0, 0, 0],                    // Maximum Packet Size 0
        &[10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2], // Session Expiry Interval twice
    ];
    for properties in samples {
        let mut body = field(b"MQTT");
        body.extend_from_slice(&[5, 0x02, 0, 60]);
        body.extend_from_slice(properties);
        body.extend_from_slice(&field(b"bad"));
        let mut bad = RawClient::open(broker.port());
        bad.send_bytes(&frame(0x10, &body));
        let sent = bytes_until_closed(&mut bad.stream, READ_TIMEOUT);
        assert!(
            sent.is_empty(),
            "{properties:02x?}: broker sent {sent:02x?}"
        );
        bystanders.still_served();
    }
    assert_eq!(broker_panics(), 0);
}

/// Reads until the broker closes, returning what it sent first; panics if it stays open.
fn bytes_until_closed(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "connection still open after {within:?}");
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("connection still open after {within:?}")
            }
            // A reset also means closed.
            Err(_) => return received,
        }
    }
}

#[test]
fn mqtt_4_8_0_1_every_malformed_class_after_connect_closes_only_that_connection() {
    let _serial = serial();
    watch_broker_panics();
    let broker = start_default_broker();
    let mut bystanders = Bystanders::new(broker.port());
    for (what, bytes) in malformed_samples().into_iter().chain(server_only_samples()) {
        let mut bad = RawClient::clean(broker.port(), "offender");
        bad.send_bytes(&bytes);
        // Nothing comes back before the close: no acknowledgement of the damaged packet.
        let sent = bytes_until_closed(&mut bad.stream, READ_TIMEOUT);
        assert!(
            sent.is_empty(),
            "{what} {bytes:02x?}: broker sent {sent:02x?}"
        );
        bystanders.still_served();
    }
    // The client sees the close a moment before the broker has counted it.
    eventually("offenders gone", || broker.stats().clients_connected == 2);
    assert_eq!(broker_panics(), 0);
}

#[test]
fn mqtt_3_1_4_1_every_malformed_class_as_first_packet_closes_without_connack() {
    let _serial = serial();
    watch_broker_panics();
    let broker = start_default_broker();
    let mut bystanders = Bystanders::new(broker.port());
    for (what, bytes) in malformed_samples() {
        let mut bad = RawClient::open(broker.port());
        bad.send_bytes(&bytes);
        let sent = bytes_until_closed(&mut bad.stream, READ_TIMEOUT);
        if what == "UnsupportedProtocolLevel" {
            // [MQTT-3.1.2-2]: CONNACK 0x01, then close.
            assert_eq!(sent, [0x20, 2, 0, 1], "{bytes:02x?}");
        } else {
            assert!(
                sent.is_empty(),
                "{what} {bytes:02x?}: broker sent {sent:02x?}"
            );
        }
        bystanders.still_served();
    }
    // The client sees the close a moment before the broker has counted it.
    eventually("offenders gone", || broker.stats().clients_connected == 2);
    assert_eq!(broker_panics(), 0);
}

/// A PUBLISH fixed header claiming `remaining` bytes, the topic field and a little payload.
fn huge_publish_start(remaining: usize) -> Vec<u8> {
    let mut out = vec![0x30];
    out.extend_from_slice(&remaining_length(remaining));
    out.extend_from_slice(&field(b"huge"));
    out.extend_from_slice(&[0xAB; 1024]);
    out
}

/// A remaining length of 256 MiB is never turned into memory: refused from the header by the
/// default 16 MiB limit, and, with the limit raised to the protocol's maximum, buffered only
/// as fast as bytes actually arrive — even with several such claims open at once.
#[test]
fn claimed_256_mib_is_never_allocated() {
    let _serial = serial();
    watch_broker_panics();
    const CLAIM: usize = 268_435_455;

    // Default limit: closed from the header alone.
    let broker = start_default_broker();
    let mut bystanders = Bystanders::new(broker.port());
    let resident_before = resident_bytes();
    reset_heap_marks();
    let heap_before = live_heap();
    let mut refused = RawClient::clean(broker.port(), "claims-256-mib");
    refused.send_bytes(&huge_publish_start(CLAIM));
    refused.expect_closed(READ_TIMEOUT);
    bystanders.still_served();
    assert!(
        largest_allocation() < MIB,
        "largest allocation {} bytes",
        largest_allocation()
    );
    assert!(peak_live_heap() < heap_before + 4 * MIB);
    assert!(resident_bytes() < resident_before + 32 * MIB);
    drop(bystanders);
    broker.stop();

    // The protocol's maximum allowed: eight connections each claim 256 MiB and send 1 KiB.
    let broker = start_broker(BrokerOptions {
        max_packet_size: CLAIM + 5,
        ..BrokerOptions::default()
    });
    let mut bystanders = Bystanders::new(broker.port());
    let resident_before = resident_bytes();
    reset_heap_marks();
    let heap_before = live_heap();
    let mut claimants: Vec<RawClient> = (0..8)
        .map(|i| {
            let mut client = RawClient::clean(broker.port(), &format!("claimant-{i}"));
            client.send_bytes(&huge_publish_start(CLAIM));
            client
        })
        .collect();
    // The broker has read what was sent once a bystander's round trip after it completes;
    // give the claimants' threads a moment more to have taken their bytes.
    bystanders.still_served();
    thread::sleep(Duration::from_millis(300));
    bystanders.still_served();
    assert!(
        largest_allocation() < 4 * MIB,
        "largest allocation {} bytes",
        largest_allocation()
    );
    assert!(
        peak_live_heap() < heap_before + 16 * MIB,
        "heap grew from {heap_before} to {}",
        peak_live_heap()
    );
    assert!(
        resident_bytes() < resident_before + 64 * MIB,
        "resident from {resident_before} to {}",
        resident_bytes()
    );
    for claimant in &mut claimants {
        // Still waiting for the rest: not closed, nothing sent.
        claimant.expect_silence(Duration::from_millis(10));
    }
    drop(claimants);
    eventually("claimants gone", || broker.stats().clients_connected == 2);
    bystanders.still_served();
    assert_eq!(broker_panics(), 0);
}

/// [MQTT-4.8.0-2]: with a configured packet limit, a real packet just over it is closed before
/// it is buffered, while one just under it is served; bystanders carry on.
#[test]
fn mqtt_4_8_0_2_packet_over_max_packet_size_closes_one_under_is_served() {
    let _serial = serial();
    watch_broker_panics();
    let broker = start_broker(BrokerOptions {
        max_packet_size: 1024,
        ..BrokerOptions::default()
    });
    let mut bystanders = Bystanders::new(broker.port());
    let mut big = RawClient::clean(broker.port(), "just-over");
    big.send(&publish("t", &[0u8; 1100], QosPid::AtMostOnce, false));
    big.expect_closed(READ_TIMEOUT);
    let mut fits = RawClient::clean(broker.port(), "just-under");
    fits.send(&publish("t", &[0u8; 1000], QosPid::AtMostOnce, false));
    fits.sync();
    bystanders.still_served();
    assert_eq!(broker_panics(), 0);
}

/// A valid session's bytes, as a well-behaved client would send them.
fn valid_stream(client_id: &str) -> Vec<u8> {
    let mut connect = connect_packet(client_id, true);
    connect.keep_alive = 5;
    connect.will = Some(will("storm/will", b"bye", QoS::AtLeastOnce, false));
    let packets = [
        Packet::Connect(Box::new(connect)),
        subscribe(
            1,
            &[("storm/#", QoS::ExactlyOnce), ("storm", QoS::AtMostOnce)],
        ),
        publish("storm/a", b"zero", QosPid::AtMostOnce, false),
        publish("storm/b", b"one", QosPid::AtLeastOnce(pid(2)), true),
        publish("storm/c", b"two", QosPid::ExactlyOnce(pid(3)), false),
        Packet::Pubrel(pid(3).into()),
        Packet::Puback(pid(1).into()),
        Packet::Pubrec(pid(2).into()),
        Packet::Pubcomp(pid(2).into()),
        Packet::Pingreq,
        unsubscribe(4, &["storm/#"]),
        publish("storm/b", b"", QosPid::AtMostOnce, true),
        Packet::Disconnect(mqtt::protocol::Disconnect::default()),
    ];
    let mut out = Vec::new();
    for packet in &packets {
        out.extend_from_slice(&packet.to_bytes().expect("valid packet encodes"));
    }
    out
}

/// Damages a valid stream: flipped bytes, a cut, a duplicated or deleted range, random bytes
/// spliced in.
fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(6) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => bytes[at] = rng.next_u64() as u8,
            2 => bytes.truncate(at),
            3 => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            4 => {
                let end = (at + 1 + rng.below(8)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {
                let noise = rng.bytes(8);
                bytes.splice(at..at, noise);
            }
        }
    }
    bytes
}

/// One attacker: opens socket after socket for `duration`, sends random bytes or a mutated
/// valid stream in small writes, reads whatever comes back for a moment, then closes (or,
/// sometimes, just leaves mid-stream).
fn attack(port: u16, seed: u64, stop: Arc<AtomicBool>) -> usize {
    let mut rng = Rng::new(seed);
    let mut sockets = 0;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            continue;
        };
        sockets += 1;
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
        let _ = stream.set_read_timeout(Some(Duration::from_millis(5)));
        let id = format!("storm-{seed}-{}", rng.below(4));
        let bytes = match rng.below(3) {
            0 => rng.bytes(512),
            // A valid CONNECT first gets past the handshake, then garbage.
            1 => {
                let mut bytes = valid_stream(&id);
                let connect_len = 2 + bytes[1] as usize;
                bytes.truncate(connect_len);
                bytes.extend(rng.bytes(256));
                bytes
            }
            _ => mutate(&mut rng, valid_stream(&id)),
        };
        let mut offset = 0;
        while offset < bytes.len() {
            let end = (offset + 1 + rng.below(64)).min(bytes.len());
            if stream.write_all(&bytes[offset..end]).is_err() {
                break;
            }
            offset = end;
        }
        let mut sink = [0u8; 4096];
        let _ = stream.read(&mut sink);
    }
    sockets
}

/// Many sockets sending random bytes and mutated valid streams for three seconds: no broker
/// thread panics, the bystanders are served throughout, and afterwards the broker's threads
/// and descriptors are back to what they were and it still accepts and serves new clients.
#[test]
fn random_and_mutated_streams_from_many_sockets_leave_no_trace() {
    let _serial = serial();
    watch_broker_panics();
    let broker = start_broker(BrokerOptions {
        connect_timeout: Duration::from_millis(500),
        park_idle_after: Some(Duration::from_millis(50)),
        ..BrokerOptions::default()
    });
    let port = broker.port();
    let mut bystanders = Bystanders::new(port);
    // Let the bystanders park once, so the parking lot's own resources exist before counting.
    thread::sleep(Duration::from_millis(150));
    bystanders.still_served();
    let before = Footprint::now();
    let heap_before = live_heap();

    let stop = Arc::new(AtomicBool::new(false));
    let attackers: Vec<_> = (0..8u64)
        .map(|i| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || attack(port, 0x5eed_0000 + i, stop))
        })
        .collect();
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < Duration::from_secs(3) {
        bystanders.still_served();
        served += 1;
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let sockets: usize = attackers
        .into_iter()
        .map(|a| a.join().expect("attacker"))
        .sum();
    assert!(sockets > 50, "only {sockets} attacking sockets");
    assert!(served > 10);

    eventually("attackers disconnected", || {
        broker.stats().clients_connected == 2
    });
    before.wait_until_back(Duration::from_secs(10));
    assert_eq!(broker_panics(), 0, "a broker thread panicked");
    // Wills and retained messages the storm left behind are bounded by the client ids used;
    // the heap is back near where it started.
    assert!(
        live_heap() < heap_before + 8 * MIB,
        "heap from {heap_before} to {}",
        live_heap()
    );
    bystanders.still_served();
    let mut newcomer = RawClient::clean(port, "after-the-storm");
    newcomer.subscribe_ok(1, &[(BYSTANDER_TOPIC, QoS::AtLeastOnce)]);
    bystanders.still_served();
    let p = newcomer.recv_publish();
    assert_eq!(p.topic.as_str(), BYSTANDER_TOPIC);
}
