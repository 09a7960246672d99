//! The MQTT 5.0 client against the normative statements of MQTT 5.0 (OASIS 2019) that bind the
//! client, one test per statement or group of statements (docs/CONFORMANCE-5.md names them):
//! exact packets against the scripted fake broker, which decodes everything the client sends
//! with the MQTT 5.0 rules and sends what a test wants, malformed packets included.
//!
//! Tests marked `#[ignore = "bug: ..."]` show a statement the client does not meet yet; they fail
//! until the bug is fixed (docs/CONFORMANCE-5.md lists them under "Known gaps").

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::client_support::{
    FakeBroker, FakeConn, WAIT, connect, expect_protocol_violation, options, wait_until_closed,
};
use mqtt::client::{
    Client, ClientError, CloseReason, ConnectOptions, OwnedMessage, PublishOptions, PublishOutcome,
    SubscribeOptions,
};
use mqtt::protocol::{
    Ack, Auth, Connack, Decoder, Disconnect, Packet, PacketId, Properties, Property, PropertyId,
    ProtocolLevel, Publish, QoS, QosPid, ReasonCode, Suback, Unsuback,
};
use mqtt::topic::{TopicError, TopicName};

/// How long a test waits to be sure the client sends nothing.
const QUIET: Duration = Duration::from_millis(300);

fn v5() -> ConnectOptions {
    options().protocol(ProtocolLevel::V5)
}

fn props(list: impl IntoIterator<Item = Property>) -> Properties {
    Properties(list.into_iter().collect())
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

/// A PUBLISH from the server.
fn publish(qospid: QosPid, topic: &str, payload: &[u8], properties: Properties) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qospid,
        retain: false,
        topic: if topic.is_empty() {
            TopicName::aliased()
        } else {
            TopicName::new(topic).unwrap()
        },
        payload: Arc::from(payload),
        properties,
    })
}

/// The same PUBLISH with DUP set.
fn resent(packet: Packet) -> Packet {
    match packet {
        Packet::Publish(p) => Packet::Publish(Publish { dup: true, ..p }),
        other => other,
    }
}

fn id_of(p: &Publish) -> PacketId {
    p.qospid.packet_id().expect("a QoS 1 or 2 PUBLISH")
}

fn alias(p: &Publish) -> Option<u16> {
    p.properties.iter().find_map(|p| match p {
        Property::TopicAlias(a) => Some(*a),
        _ => None,
    })
}

fn refusal(packet_id: PacketId, reason: ReasonCode) -> Ack {
    Ack {
        packet_id,
        reason,
        properties: Properties::new(),
    }
}

fn auth(reason: ReasonCode, method: &str, data: &[u8]) -> Packet {
    let mut properties = props([Property::AuthenticationMethod(method.into())]);
    if !data.is_empty() {
        properties.push(Property::AuthenticationData(data.to_vec()));
    }
    Packet::Auth(Auth { reason, properties })
}

fn decode_v5(raw: &[u8]) -> Packet {
    match Decoder::default()
        .with_protocol(ProtocolLevel::V5)
        .decode(raw)
    {
        Ok(Some((packet, used))) if used == raw.len() => packet,
        other => panic!("not one MQTT 5.0 packet {raw:?}: {other:?}"),
    }
}

/// The next packet, which must be a PUBLISH.
fn next_publish(conn: &mut FakeConn) -> Publish {
    match conn.read(WAIT) {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// The next packet that is not PINGREQ; PINGREQs are answered.
fn next_skipping_pings(conn: &mut FakeConn) -> Packet {
    loop {
        match conn.read(WAIT) {
            Packet::Pingreq => conn.send(&Packet::Pingresp),
            other => return other,
        }
    }
}

/// A Variable Byte Integer, built here independently of the codec (MQTT 5.0 section 1.5.5).
fn var_int(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let digit = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { digit | 0x80 } else { digit });
        if n == 0 {
            return out;
        }
    }
}

/// A length-prefixed string or binary field holding exactly `bytes`.
fn field(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// A packet framed by hand.
fn frame(first_byte: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first_byte];
    out.extend(var_int(body.len()));
    out.extend_from_slice(body);
    out
}

/// An MQTT 5.0 PUBLISH built by hand: `properties` is the property list without its length.
fn raw_publish(
    first_byte: u8,
    topic: &[u8],
    id: Option<u16>,
    properties: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut body = field(topic);
    if let Some(id) = id {
        body.extend(id.to_be_bytes());
    }
    body.extend(var_int(properties.len()));
    body.extend_from_slice(properties);
    body.extend_from_slice(payload);
    frame(first_byte, &body)
}

/// A default message callback whose messages arrive on the returned channel.
fn inbox(options: ConnectOptions) -> (ConnectOptions, Receiver<OwnedMessage>) {
    let (tx, rx) = unbounded();
    let options = options.on_message(move |m| {
        let _ = tx.send(m.to_owned());
    });
    (options, rx)
}

fn ignore(_: &mqtt::client::Message<'_>) {}

/// Stops the loop thread before the test disconnects, so that DISCONNECT is written by the
/// thread that calls `disconnect`. Otherwise it may be lost: a `disconnect` that finds the loop
/// thread still inside a write (of the last PUBACK or PINGREQ, say) only queues DISCONNECT
/// behind it and then shuts the socket down, before that thread writes it.
fn stop_loop(client: &Client) {
    client.loop_stop();
}

/// Reads a PINGREQ as the client's next packet (`what` says why nothing else came first) and
/// answers it.
fn answer_pingreq(conn: &mut FakeConn, what: &str) {
    assert_eq!(conn.read(WAIT), Packet::Pingreq, "{what}");
    conn.send(&Packet::Pingresp);
}

/// Reads the PINGREQ a Keep Alive of 1 s calls for within 1.5 s and answers it.
fn answer_pingreq_within_keep_alive(conn: &mut FakeConn, what: &str) {
    assert_eq!(
        conn.try_read(Duration::from_millis(1500)),
        Some(Packet::Pingreq),
        "{what}"
    );
    conn.send(&Packet::Pingresp);
}

/// Tells the test the script has seen what it waited for, then expects a plain DISCONNECT.
fn signal_then_expect_disconnect(conn: &mut FakeConn, done: &Sender<()>) {
    done.send(()).unwrap();
    assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
}

/// Runs the loop thread until the script says it is done, then disconnects.
fn loop_until_done(client: &Client, done: &Receiver<()>) {
    client.loop_start().unwrap();
    let _ = done.recv_timeout(WAIT);
    stop_loop(client);
    client.disconnect().unwrap();
}

/// Publishes three QoS 2 messages on "q2" with `publish_async`, then waits for each.
fn publish_three_at_qos_2(client: &Client) {
    let ids: Vec<PacketId> = (0..3u8)
        .map(|i| {
            client
                .publish_async("q2", &[i], QoS::ExactlyOnce, false)
                .unwrap()
                .unwrap()
        })
        .collect();
    for id in ids {
        client.wait_published(id, Some(WAIT)).unwrap();
    }
}

/// Every packet the client sends in MQTT 5.0, byte for byte: CONNECT first [MQTT-3.1.0-1], with
/// Protocol Name "MQTT" and level 5 [MQTT-3.1.2-1] and the reserved flag 0 [MQTT-3.1.2-3]; each
/// packet type with the fixed-header flags its table gives [MQTT-2.1.3-1] (0010 for SUBSCRIBE
/// [MQTT-3.8.1-1], UNSUBSCRIBE [MQTT-3.10.1-1] and PUBREL [MQTT-3.6.1-1], 0000 for DISCONNECT
/// [MQTT-3.14.1-1]); a Property Length of 0 wherever a packet carries no properties
/// [MQTT-2.2.2-1]; Variable Byte Integers in their fewest bytes [MQTT-1.5.5-1]; a QoS 0 PUBLISH
/// without Packet Identifier [MQTT-2.2.1-2] and with DUP 0 [MQTT-3.3.1-2] [MQTT-4.3.1-1], the
/// first transmission of QoS 1 and 2 PUBLISHes with DUP 0 [MQTT-4.3.2-2] [MQTT-4.3.3-2];
/// Subscription Options with the reserved bits 6 and 7 clear [MQTT-3.8.3-5]; PUBACK, PUBREC,
/// PUBREL and PUBCOMP echoing the identifier they answer [MQTT-2.2.1-5] [MQTT-4.3.3-4], with
/// reason code 0x00 [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1] and neither Reason
/// String nor User Property, so never more than the receiver allows [MQTT-3.4.2-2]
/// [MQTT-3.4.2-3] [MQTT-3.5.2-2] [MQTT-3.5.2-3] [MQTT-3.6.2-2] [MQTT-3.6.2-3] [MQTT-3.7.2-2]
/// [MQTT-3.7.2-3] [MQTT-3.14.2-3] [MQTT-3.14.2-4] (MQTT 5.0).
#[test]
fn mqtt_2_1_3_1_every_packet_the_client_sends_has_its_exact_form() {
    let broker = FakeBroker::start(|mut conn| {
        let connect = conn.read_raw(WAIT);
        assert_eq!(connect[0], 0x10, "CONNECT first, flags 0000");
        let header = header_len(&connect);
        assert_eq!(&connect[header..header + 7], b"\x00\x04MQTT\x05");
        assert_eq!(connect[header + 7] & 0x01, 0, "reserved flag");
        let Packet::Connect(_) = decode_v5(&connect) else {
            panic!("expected CONNECT")
        };
        conn.speak_v5();
        conn.send_bytes(&[0x20, 3, 0, 0, 0]);

        // Subscription Identifier 200 takes two bytes (0xC8 0x01); options: QoS 2, No Local,
        // Retain As Published, Retain Handling 2.
        let subscribe = conn.read_raw(WAIT);
        let [hi, lo] = [subscribe[2], subscribe[3]];
        assert_ne!([hi, lo], [0, 0]);
        let mut body = vec![hi, lo, 3, 0x0B, 0xC8, 0x01];
        body.extend(field(b"f/+"));
        body.push(0x2E);
        assert_eq!(subscribe, frame(0x82, &body), "SUBSCRIBE");
        conn.send_bytes(&[0x90, 4, hi, lo, 0, 2]);

        conn.send_bytes(&raw_publish(0x32, b"f/1", Some(3), &[], b"one"));
        conn.send_bytes(&raw_publish(0x34, b"f/2", Some(4), &[], b"two"));
        assert_eq!(conn.read_raw(WAIT), [0x40, 2, 0, 3], "PUBACK");
        assert_eq!(conn.read_raw(WAIT), [0x50, 2, 0, 4], "PUBREC");
        conn.send_bytes(&[0x62, 2, 0, 4]);
        assert_eq!(conn.read_raw(WAIT), [0xC0, 0], "PINGREQ");
        conn.send_bytes(&[0xD0, 0]);
        assert_eq!(conn.read_raw(WAIT), [0x70, 2, 0, 4], "PUBCOMP");

        // QoS 0 with 200 bytes of payload: remaining length 206 in two bytes, no identifier.
        let mut body = field(b"out");
        body.push(0);
        body.extend([7; 200]);
        let qos0 = conn.read_raw(WAIT);
        assert_eq!(&qos0[..3], [0x30, 0xCE, 0x01]);
        assert_eq!(qos0, frame(0x30, &body), "QoS 0 PUBLISH");

        let qos1 = conn.read_raw(WAIT);
        let [hi, lo] = [qos1[7], qos1[8]];
        let mut body = field(b"out");
        body.extend([hi, lo, 0, b'1']);
        assert_eq!(qos1, frame(0x32, &body), "QoS 1 PUBLISH");
        conn.send_bytes(&[0x40, 2, hi, lo]);

        let qos2 = conn.read_raw(WAIT);
        let [hi, lo] = [qos2[7], qos2[8]];
        let mut body = field(b"out");
        body.extend([hi, lo, 0, b'2']);
        assert_eq!(qos2, frame(0x34, &body), "QoS 2 PUBLISH");
        conn.send_bytes(&[0x50, 2, hi, lo]);
        assert_eq!(conn.read_raw(WAIT), [0x62, 2, hi, lo], "PUBREL");
        conn.send_bytes(&[0x70, 2, hi, lo]);

        let unsubscribe = conn.read_raw(WAIT);
        let [hi, lo] = [unsubscribe[2], unsubscribe[3]];
        let mut body = vec![hi, lo, 0];
        body.extend(field(b"f/+"));
        assert_eq!(unsubscribe, frame(0xA2, &body), "UNSUBSCRIBE");
        conn.send_bytes(&[0xB0, 4, hi, lo, 0, 0]);

        assert_eq!(conn.read_raw(WAIT), [0xE0, 0], "DISCONNECT");
        conn.expect_closed(WAIT);
    });
    let client = connect(broker.port, &v5().keep_alive(Duration::ZERO));
    let codes = client
        .subscribe_ex(
            &[("f/+", QoS::ExactlyOnce)],
            &SubscribeOptions::new()
                .no_local(true)
                .retain_as_published(true)
                .retain_handling(2)
                .subscription_identifier(200),
            Arc::new(ignore),
        )
        .unwrap();
    assert_eq!(codes, [ReasonCode::GRANTED_QOS_2]);
    client.receive_message(Some(WAIT)).unwrap();
    client.receive_message(Some(WAIT)).unwrap();
    client.ping().unwrap();
    client
        .publish("out", &[7; 200], QoS::AtMostOnce, false)
        .unwrap();
    client
        .publish("out", b"1", QoS::AtLeastOnce, false)
        .unwrap();
    client
        .publish("out", b"2", QoS::ExactlyOnce, false)
        .unwrap();
    assert_eq!(client.unsubscribe("f/+").unwrap(), ReasonCode::SUCCESS);
    client.disconnect().unwrap();
    broker.finish();
}

/// A malformed packet or a protocol error from the server: the client sends DISCONNECT with the
/// reason code (0x81 malformed, 0x82 protocol error, 0x90 topic name invalid) and closes the
/// connection [MQTT-4.13.2-1]. Each case is one rule a receiver checks: well-formed UTF-8 without
/// surrogates [MQTT-1.5.4-1] and without U+0000 [MQTT-1.5.4-2] in the topic [MQTT-3.3.2-1]
/// [MQTT-4.7.3-2], in a User Property [MQTT-1.5.7-1], in Content Type [MQTT-3.3.2-19] and in
/// Response Topic [MQTT-3.3.2-13]; Variable Byte Integers in their fewest bytes [MQTT-1.5.5-1];
/// the fixed-header flags [MQTT-2.1.3-1] of PUBREL [MQTT-3.6.1-1], DISCONNECT [MQTT-3.14.1-1] and
/// AUTH [MQTT-3.15.1-1]; DUP 0 at QoS 0 [MQTT-3.3.1-2]; no QoS 3 [MQTT-3.3.1-4]; no wildcard in
/// a topic name [MQTT-3.3.2-2] [MQTT-4.7.0-1]; no empty topic name without a Topic Alias
/// [MQTT-4.7.3-1]; no Topic Alias 0 [MQTT-3.3.2-8]; and only the reason codes each packet type
/// defines [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1] [MQTT-3.14.2-1]
/// [MQTT-3.15.2-1] (MQTT 5.0).
#[test]
fn mqtt_1_5_4_1_malformed_packets_from_the_server_end_the_connection_with_disconnect() {
    let topic = |topic: &[u8]| raw_publish(0x30, topic, None, &[], b"x");
    let property = |property: &[u8]| raw_publish(0x30, b"t", None, property, b"x");
    let ill_formed = field(&[0xC3, 0x28]);
    let user_property = [&[0x26][..], &ill_formed, &field(b"v")].concat();
    let malformed = ReasonCode::MALFORMED_PACKET;
    let cases: Vec<(&str, Vec<u8>, ReasonCode)> = vec![
        ("ill-formed UTF-8 topic", topic(&[0xC3, 0x28]), malformed),
        (
            "surrogate in the topic",
            topic(&[b'a', 0xED, 0xA0, 0x80]),
            malformed,
        ),
        ("U+0000 in the topic", topic(b"a\0b"), malformed),
        (
            "ill-formed User Property",
            property(&user_property),
            malformed,
        ),
        (
            "ill-formed Content Type",
            property(&[&[0x03][..], &ill_formed].concat()),
            malformed,
        ),
        (
            "ill-formed Response Topic",
            property(&[&[0x08][..], &ill_formed].concat()),
            malformed,
        ),
        (
            "remaining length 5 in two bytes",
            vec![0x30, 0x85, 0x00, 0, 1, b't', 0, b'x'],
            malformed,
        ),
        (
            "property length 0 in two bytes",
            frame(0x30, &[0, 1, b't', 0x80, 0x00, b'x']),
            malformed,
        ),
        ("PUBACK flags 0001", vec![0x41, 2, 0, 1], malformed),
        ("PUBREL flags 0000", vec![0x60, 2, 0, 1], malformed),
        ("DISCONNECT flags 0001", vec![0xE1, 0], malformed),
        ("AUTH flags 0001", vec![0xF1, 0], malformed),
        (
            "DUP at QoS 0",
            raw_publish(0x38, b"t", None, &[], b"x"),
            malformed,
        ),
        (
            "QoS 3",
            raw_publish(0x36, b"t", Some(1), &[], b"x"),
            malformed,
        ),
        (
            "'+' in a topic name",
            topic(b"a/+"),
            ReasonCode::TOPIC_NAME_INVALID,
        ),
        (
            "'#' in a topic name",
            topic(b"a/#"),
            ReasonCode::TOPIC_NAME_INVALID,
        ),
        (
            "empty topic name without Topic Alias",
            topic(b""),
            ReasonCode::PROTOCOL_ERROR,
        ),
        (
            "Topic Alias 0",
            property(&[0x23, 0, 0]),
            ReasonCode::PROTOCOL_ERROR,
        ),
        ("PUBACK reason 0x05", vec![0x40, 3, 0, 1, 0x05], malformed),
        ("PUBREC reason 0x92", vec![0x50, 3, 0, 1, 0x92], malformed),
        ("PUBREL reason 0x10", vec![0x62, 3, 0, 1, 0x10], malformed),
        ("PUBCOMP reason 0x10", vec![0x70, 3, 0, 1, 0x10], malformed),
        ("DISCONNECT reason 0x05", vec![0xE0, 1, 0x05], malformed),
        ("AUTH reason 0x05", vec![0xF0, 1, 0x05], malformed),
    ];
    for (what, bytes, code) in cases {
        let broker = FakeBroker::start(move |mut conn| {
            conn.accept_connect_v5(Properties::new());
            conn.send_bytes(&bytes);
            assert_eq!(
                conn.read(WAIT),
                Packet::Disconnect(Disconnect::new(code)),
                "{what}"
            );
            conn.expect_closed(WAIT);
        });
        let client = connect(broker.port, &v5());
        expect_protocol_violation(&client, what);
        broker.finish();
    }
}

/// A CONNACK with any of the acknowledge-flag bits 7-1 set is malformed [MQTT-3.2.2-1]: the
/// connect fails and the client closes the connection (MQTT 5.0).
#[test]
fn mqtt_3_2_2_1_connack_with_reserved_flag_bits_fails_the_connect() {
    let broker = FakeBroker::start(|mut conn| {
        let Packet::Connect(_) = conn.read(WAIT) else {
            panic!("expected CONNECT")
        };
        conn.send_bytes(&[0x20, 3, 0x02, 0, 0]);
        conn.expect_closed(WAIT);
    });
    let result = Client::connect("127.0.0.1", broker.port, &v5());
    assert!(
        matches!(result, Err(ClientError::Protocol(_))),
        "{result:?}"
    );
    broker.finish();
}

/// A CONNACK or DISCONNECT from the server with a reason code of 0x80 or above ends the
/// connection: the client closes it without sending anything more [MQTT-4.13.2-1] (its own
/// DISCONNECT of 0x80 and above: see the malformed-packet test) (MQTT 5.0).
#[test]
fn mqtt_4_13_2_1_client_closes_after_a_reason_code_of_0x80_or_above() {
    let refused = FakeBroker::start(|mut conn| {
        let Packet::Connect(_) = conn.read(WAIT) else {
            panic!("expected CONNECT")
        };
        conn.speak_v5();
        conn.send(&Packet::Connack(Connack::new(
            false,
            ReasonCode::NOT_AUTHORIZED,
        )));
        conn.expect_closed(WAIT);
    });
    let result = Client::connect("127.0.0.1", refused.port, &v5());
    assert_eq!(
        result.unwrap_err().reason_code(),
        Some(ReasonCode::NOT_AUTHORIZED)
    );
    refused.finish();

    let busy = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(Properties::new());
        conn.send(&Packet::Disconnect(Disconnect::new(
            ReasonCode::SERVER_BUSY,
        )));
        conn.expect_closed(WAIT);
    });
    let client = connect(busy.port, &v5());
    match client.receive_message(Some(WAIT)) {
        Err(ClientError::Closed(CloseReason::ServerDisconnect(r))) => {
            assert_eq!(r.code, ReasonCode::SERVER_BUSY)
        }
        other => panic!("expected the server's DISCONNECT, got {other:?}"),
    }
    busy.finish();
}

/// The client never puts U+0000 in a string it sends [MQTT-1.5.4-2] [MQTT-4.7.3-2]: a topic
/// name, topic filter, User Property, Content Type, Response Topic, client identifier, will
/// topic or user name holding one is refused before anything goes on the wire. (Well-formed
/// UTF-8 without surrogates [MQTT-1.5.4-1] is what Rust's `str` guarantees.) (MQTT 5.0)
#[test]
fn mqtt_1_5_4_2_client_refuses_u0000_in_every_string_it_would_send() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(Properties::new());
        answer_pingreq(&mut conn, "nothing was sent before");
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let client = connect(broker.port, &v5());
    let null = TopicError::NullCharacter;
    let refused_topic = |r: Result<(), ClientError>| {
        assert!(
            matches!(r, Err(ClientError::InvalidTopic(e)) if e == null),
            "{r:?}"
        )
    };
    refused_topic(client.publish("a\0b", b"", QoS::AtMostOnce, false));
    refused_topic(
        client
            .subscribe("a\0b", QoS::AtMostOnce, ignore)
            .map(|_| ()),
    );
    refused_topic(client.unsubscribe("a\0b").map(|_| ()));
    let with = |options: PublishOptions| {
        client
            .publish_ex("t", b"", QoS::AtLeastOnce, false, &options)
            .map(|_| ())
    };
    refused_topic(with(PublishOptions::new().response_topic("r\0")));
    for options in [
        PublishOptions::new().user_property("k\0", "v"),
        PublishOptions::new().user_property("k", "v\0"),
        PublishOptions::new().content_type("text\0"),
    ] {
        let result = with(options);
        assert!(result.is_err(), "{result:?}");
    }
    let result = client.subscribe_ex(
        &[("t", QoS::AtMostOnce)],
        &SubscribeOptions::new().user_property("k\0", "v"),
        Arc::new(ignore),
    );
    assert!(result.is_err(), "{result:?}");
    client.ping().unwrap();
    client.disconnect().unwrap();
    broker.finish();

    // CONNECT: the client identifier and the will topic are refused before connecting; a user
    // name or User Property with U+0000 after connecting, but before CONNECT is sent.
    let e = Client::connect("127.0.0.1", 1, &v5().client_id("a\0")).unwrap_err();
    assert!(matches!(e, ClientError::InvalidArgument(_)), "{e:?}");
    let e = Client::connect(
        "127.0.0.1",
        1,
        &v5().will("w\0", b"", QoS::AtMostOnce, false),
    )
    .unwrap_err();
    assert!(
        matches!(e, ClientError::InvalidTopic(e) if e == null),
        "{e:?}"
    );
    let silent = FakeBroker::start_serving(|listener| {
        for _ in 0..2 {
            listener.accept(WAIT).expect_closed(WAIT);
        }
    });
    for options in [v5().credentials("u\0", None), v5().user_property("k", "\0")] {
        let result = Client::connect("127.0.0.1", silent.port, &options);
        assert!(matches!(result, Err(ClientError::Encode(_))), "{result:?}");
    }
    silent.finish();
}

/// U+FEFF (bytes EF BB BF) inside a string is kept, never stripped or skipped [MQTT-1.5.4-3]:
/// the client sends it as given in a topic name and a User Property, and delivers it as received
/// (MQTT 5.0).
#[test]
fn mqtt_1_5_4_3_byte_order_mark_is_kept_both_ways() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(Properties::new());
        let raw = conn.read_raw(WAIT);
        let Packet::Publish(p) = decode_v5(&raw) else {
            panic!("expected PUBLISH")
        };
        assert_eq!(p.topic.as_str(), "a/\u{FEFF}b");
        assert_eq!(
            p.properties.user_properties().collect::<Vec<_>>(),
            [("\u{FEFF}k", "v")]
        );
        let bom = b"\xEF\xBB\xBF";
        assert_eq!(raw.windows(3).filter(|w| w == bom).count(), 2, "{raw:?}");
        conn.send(&publish(
            QosPid::AtMostOnce,
            "\u{FEFF}/t",
            b"",
            props([Property::UserProperty("k".into(), "\u{FEFF}".into())]),
        ));
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let (opts, rx) = inbox(v5());
    let client = connect(broker.port, &opts);
    client
        .publish_ex(
            "a/\u{FEFF}b",
            b"",
            QoS::AtMostOnce,
            false,
            &PublishOptions::new().user_property("\u{FEFF}k", "v"),
        )
        .unwrap();
    client.receive_message(Some(WAIT)).unwrap();
    let m = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(m.topic, "\u{FEFF}/t");
    assert_eq!(
        m.properties.user_properties().collect::<Vec<_>>(),
        [("k", "\u{FEFF}")]
    );
    client.disconnect().unwrap();
    broker.finish();
}

/// Every new SUBSCRIBE, UNSUBSCRIBE and QoS 1 or 2 PUBLISH gets a non-zero Packet Identifier
/// that no packet in flight uses [MQTT-2.2.1-3] [MQTT-4.3.2-1] [MQTT-4.3.3-1] (MQTT 5.0).
#[test]
fn mqtt_2_2_1_3_packet_identifiers_are_nonzero_and_unused_while_in_flight() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(Properties::new());
        let mut in_flight = std::collections::HashSet::new();
        let mut publishes = Vec::new();
        for _ in 0..20 {
            let p = next_publish(&mut conn);
            assert!(in_flight.insert(id_of(&p)), "{:?} reused", p.qospid);
            publishes.push(p);
        }
        let Packet::Subscribe(s) = conn.read(WAIT) else {
            panic!("expected SUBSCRIBE")
        };
        assert!(!in_flight.contains(&s.packet_id), "SUBSCRIBE {s:?}");
        conn.send(&Packet::Suback(Suback {
            packet_id: s.packet_id,
            codes: vec![ReasonCode::GRANTED_QOS_1],
            properties: Properties::new(),
        }));
        let Packet::Unsubscribe(u) = conn.read(WAIT) else {
            panic!("expected UNSUBSCRIBE")
        };
        assert!(!in_flight.contains(&u.packet_id), "UNSUBSCRIBE {u:?}");
        conn.send(&Packet::Unsuback(Unsuback {
            packet_id: u.packet_id,
            codes: vec![ReasonCode::SUCCESS],
            properties: Properties::new(),
        }));
        for p in publishes.iter().rev() {
            let id = id_of(p);
            if p.qospid.qos() == QoS::AtLeastOnce {
                conn.send(&Packet::Puback(id.into()));
            } else {
                conn.send(&Packet::Pubrec(id.into()));
                assert_eq!(conn.read(WAIT), Packet::Pubrel(id.into()));
                conn.send(&Packet::Pubcomp(id.into()));
            }
        }
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let client = connect(broker.port, &v5().max_inflight(32));
    let ids: Vec<PacketId> = (0..20u8)
        .map(|i| {
            let qos = [QoS::AtLeastOnce, QoS::ExactlyOnce][usize::from(i % 2)];
            client
                .publish_async("ids", &[i], qos, false)
                .unwrap()
                .unwrap()
        })
        .collect();
    client.subscribe("s", QoS::AtLeastOnce, ignore).unwrap();
    client.unsubscribe("s").unwrap();
    for id in ids {
        client.wait_published(id, Some(WAIT)).unwrap();
    }
    client.disconnect().unwrap();
    broker.finish();
}

/// What a CONNECT carries, read field by field from the wire.
#[derive(Debug, Default, PartialEq, Eq)]
struct RawConnect {
    flags: u8,
    client_id: Vec<u8>,
    will: Option<(Properties, Vec<u8>, Vec<u8>)>,
    username: Option<Vec<u8>>,
    password: Option<Vec<u8>>,
}

/// Bytes of a packet read front to back.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (front, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        front
    }

    fn var_int(&mut self) -> usize {
        let mut n = 0;
        for shift in [0, 7, 14, 21] {
            let byte = self.take(1)[0];
            n |= usize::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        n
    }

    fn field(&mut self) -> Vec<u8> {
        let len = self.take(2);
        let len = u16::from_be_bytes([len[0], len[1]]);
        self.take(usize::from(len)).to_vec()
    }
}

/// The bytes of a packet's fixed header: the first byte and the remaining length.
fn header_len(raw: &[u8]) -> usize {
    2 + raw[1..].iter().take_while(|b| *b & 0x80 != 0).count()
}

/// Reads a CONNECT's payload in the order MQTT 5.0 gives, each field present exactly when its
/// flag says so, and nothing after the last.
fn parse_connect(raw: &[u8]) -> RawConnect {
    let mut c = Cursor {
        bytes: &raw[header_len(raw)..],
    };
    assert_eq!(c.take(7), b"\x00\x04MQTT\x05");
    let flags = c.take(1)[0];
    c.take(2);
    let properties = c.var_int();
    c.take(properties);
    let client_id = c.field();
    let will = (flags & 0x04 != 0).then(|| {
        let len = c.var_int();
        let mut list = var_int(len);
        list.extend_from_slice(c.take(len));
        let (properties, _) =
            Properties::decode(&list, mqtt::protocol::PropertyContext::Will).unwrap();
        (properties, c.field(), c.field())
    });
    let username = (flags & 0x80 != 0).then(|| c.field());
    let password = (flags & 0x40 != 0).then(|| c.field());
    assert!(c.bytes.is_empty(), "nothing after the last field");
    RawConnect {
        flags,
        client_id,
        will,
        username,
        password,
    }
}

/// CONNECT's flags and payload agree: the will flag with Will Properties, Will Topic and Will
/// Payload [MQTT-3.1.2-9], Will QoS 1 or 2 [MQTT-3.1.2-12] and Will Retain only with it
/// [MQTT-3.1.2-11] [MQTT-3.1.2-13]; a User Name exactly when its flag is set [MQTT-3.1.2-16]
/// [MQTT-3.1.2-17], a Password exactly when its flag is set [MQTT-3.1.2-18] [MQTT-3.1.2-19] (a
/// password alone is allowed in MQTT 5.0); the fields in the order Client Identifier, Will
/// Properties, Will Topic, Will Payload, User Name, Password [MQTT-3.1.3-1], the Client
/// Identifier always present and first, empty included [MQTT-3.1.3-3]; all strings UTF-8
/// [MQTT-3.1.3-4] [MQTT-3.1.3-11] [MQTT-3.1.3-12] (MQTT 5.0).
#[test]
fn mqtt_3_1_2_9_connect_flags_and_payload_fields_agree() {
    let will_properties = props([
        Property::WillDelayInterval(5),
        Property::ContentType("text".into()),
    ]);
    let expected = vec![
        RawConnect {
            flags: 0x80 | 0x40 | 0x20 | 0x10 | 0x04 | 0x02,
            client_id: b"cid".to_vec(),
            will: Some((will_properties.clone(), b"w/t".to_vec(), b"bye".to_vec())),
            username: Some(b"user".to_vec()),
            password: Some(b"pw".to_vec()),
        },
        RawConnect {
            flags: 0x40,
            password: Some(b"pw".to_vec()),
            ..RawConnect::default()
        },
        RawConnect {
            flags: 0x08 | 0x04 | 0x02,
            client_id: b"c".to_vec(),
            will: Some((Properties::new(), b"w".to_vec(), Vec::new())),
            ..RawConnect::default()
        },
        RawConnect {
            flags: 0x80 | 0x02,
            client_id: b"c".to_vec(),
            username: Some(b"u".to_vec()),
            ..RawConnect::default()
        },
    ];
    let connects = expected.len();
    let broker = FakeBroker::start_serving(move |listener| {
        for want in expected {
            let mut conn = listener.accept(WAIT);
            let raw = conn.read_raw(WAIT);
            assert_eq!(parse_connect(&raw), want);
            conn.speak_v5();
            conn.send(&Packet::Connack(Connack::new(false, ReasonCode::SUCCESS)));
            assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
        }
    });
    let mut password_only = v5().client_id("").clean_session(false);
    password_only.password = Some(b"pw".to_vec());
    let all: [ConnectOptions; 4] = [
        v5().client_id("cid")
            .will("w/t", b"bye", QoS::ExactlyOnce, true)
            .will_properties(will_properties)
            .credentials("user", Some(b"pw")),
        password_only,
        v5().client_id("c").will("w", b"", QoS::AtLeastOnce, false),
        v5().client_id("c").credentials("u", None),
    ];
    assert_eq!(all.len(), connects);
    for options in all {
        connect(broker.port, &options).disconnect().unwrap();
    }
    broker.finish();
}

/// With a non-zero Keep Alive and nothing else to send, the client sends PINGREQ within the
/// Keep Alive period, again and again [MQTT-3.1.2-20] (while the loop thread, or a call that
/// reads, runs: see `mqtt::client`) (MQTT 5.0).
#[test]
fn mqtt_3_1_2_20_pingreq_when_nothing_else_is_sent_within_keep_alive() {
    let (done_tx, done_rx) = unbounded();
    let broker = FakeBroker::start(move |mut conn| {
        let c = conn.accept_connect_v5(Properties::new());
        assert_eq!(c.keep_alive, 1);
        for _ in 0..2 {
            answer_pingreq_within_keep_alive(&mut conn, "");
        }
        signal_then_expect_disconnect(&mut conn, &done_tx);
    });
    let client = connect(broker.port, &v5().keep_alive(Duration::from_secs(1)));
    loop_until_done(&client, &done_rx);
    broker.finish();
}

/// The Server Keep Alive of CONNACK replaces the Keep Alive the client sent [MQTT-3.1.2-21]
/// [MQTT-3.2.2-21]: asked for 60 s and told 1 s, the client sends PINGREQ within about a second
/// (MQTT 5.0).
#[test]
fn mqtt_3_1_2_21_server_keep_alive_replaces_the_clients() {
    let (done_tx, done_rx) = unbounded();
    let broker = FakeBroker::start(move |mut conn| {
        let c = conn.accept_connect_v5(props([Property::ServerKeepAlive(1)]));
        assert_eq!(c.keep_alive, 60);
        answer_pingreq_within_keep_alive(&mut conn, "");
        signal_then_expect_disconnect(&mut conn, &done_tx);
    });
    let client = connect(broker.port, &v5().keep_alive(Duration::from_secs(60)));
    loop_until_done(&client, &done_rx);
    broker.finish();
}

/// A reconnect whose CONNACK has no Server Keep Alive must go back to the client's own Keep
/// Alive [MQTT-3.1.2-20] [MQTT-3.1.2-21]: the client keeps the previous connection's Server Keep
/// Alive instead (`Shared::apply_connack` only stores a Server Keep Alive that is present), so
/// here it would ping after 60 s on a connection whose server expects one within 1.5 s
/// (MQTT 5.0).
#[test]
fn mqtt_3_1_2_20_a_reconnect_without_server_keep_alive_goes_back_to_the_clients_own() {
    let (done_tx, done_rx) = unbounded();
    let broker = FakeBroker::start_serving(move |listener| {
        let mut first = listener.accept(WAIT);
        first.accept_connect_v5(props([Property::ServerKeepAlive(60)]));
        let mut second = listener.accept(WAIT);
        let c = second.accept_connect_v5(Properties::new());
        assert_eq!(c.keep_alive, 1);
        answer_pingreq_within_keep_alive(&mut second, "Keep Alive 1 s in force again");
        signal_then_expect_disconnect(&mut second, &done_tx);
    });
    let client = connect(broker.port, &v5().keep_alive(Duration::from_secs(1)));
    client.reconnect().unwrap();
    client.loop_start().unwrap();
    let _ = done_rx.recv_timeout(WAIT);
    let _ = client.disconnect();
    broker.finish();
}

/// Enhanced authentication: until CONNACK the client sends nothing but AUTH [MQTT-3.1.2-30] —
/// not even PINGREQ, though its Keep Alive passes meanwhile; each AUTH answering the server's
/// carries reason 0x18 [MQTT-4.12.0-3] [MQTT-3.15.2-1], flags 0000 [MQTT-3.15.1-1] and the
/// Authentication Method of CONNECT [MQTT-4.12.0-5], and nothing but the method and data (no
/// Reason String or User Property [MQTT-3.15.2-2] [MQTT-3.15.2-3]); re-authentication sends AUTH
/// 0x19 with the same method [MQTT-4.12.1-1] (MQTT 5.0).
#[test]
fn mqtt_3_1_2_30_only_auth_before_connack_and_one_method_throughout() {
    const METHOD: &str = "SCRAM-X";
    let broker = FakeBroker::start(|mut conn| {
        let Packet::Connect(c) = conn.read(WAIT) else {
            panic!("expected CONNECT")
        };
        let p = &c.properties;
        assert_eq!(p.string(PropertyId::AuthenticationMethod), Some(METHOD));
        assert_eq!(
            p.binary(PropertyId::AuthenticationData),
            Some(&b"first"[..])
        );
        conn.speak_v5();
        for challenge in [&b"c1"[..], b"c2"] {
            conn.send(&auth(
                ReasonCode::CONTINUE_AUTHENTICATION,
                METHOD,
                challenge,
            ));
            let raw = conn.read_raw(WAIT);
            assert_eq!(raw[0], 0xF0, "AUTH flags 0000");
            assert_eq!(
                decode_v5(&raw),
                auth(
                    ReasonCode::CONTINUE_AUTHENTICATION,
                    METHOD,
                    &[b"r:", challenge].concat()
                )
            );
        }
        // Keep Alive is 1 s: nothing at all may come before CONNACK.
        assert_eq!(conn.try_read(Duration::from_millis(1500)), None);
        conn.send(&Packet::Connack(Connack {
            session_present: false,
            code: ReasonCode::SUCCESS,
            properties: props([Property::AuthenticationMethod(METHOD.into())]),
        }));

        assert_eq!(
            next_skipping_pings(&mut conn),
            auth(ReasonCode::RE_AUTHENTICATE, METHOD, b"again"),
            "re-authentication"
        );
        conn.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, METHOD, b"c3"));
        assert_eq!(
            next_skipping_pings(&mut conn),
            auth(ReasonCode::CONTINUE_AUTHENTICATION, METHOD, b"r:c3")
        );
        conn.send(&auth(ReasonCode::SUCCESS, METHOD, b""));
        assert_eq!(
            next_skipping_pings(&mut conn),
            Packet::Disconnect(Disconnect::default())
        );
    });
    let client = connect(
        broker.port,
        &v5().keep_alive(Duration::from_secs(1)).authentication(
            METHOD,
            Some(b"first"),
            |method, data| {
                assert_eq!(method, METHOD);
                Ok([b"r:", data].concat())
            },
        ),
    );
    client.reauthenticate(b"again").unwrap();
    client.disconnect().unwrap();
    broker.finish();
}

/// A server AUTH naming another Authentication Method than CONNECT's breaks [MQTT-4.12.0-5]: the
/// client answers no AUTH, the connect fails and the connection is closed (MQTT 5.0).
#[test]
fn mqtt_4_12_0_5_an_auth_naming_another_method_ends_the_exchange() {
    let broker = FakeBroker::start(|mut conn| {
        let Packet::Connect(_) = conn.read(WAIT) else {
            panic!("expected CONNECT")
        };
        conn.speak_v5();
        conn.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "OTHER", b"c"));
        conn.expect_closed(WAIT);
    });
    let result = Client::connect(
        "127.0.0.1",
        broker.port,
        &v5().authentication("MINE", None, |_, _| Ok(b"r".to_vec())),
    );
    assert!(
        matches!(result, Err(ClientError::Authentication(_))),
        "{result:?}"
    );
    broker.finish();
}

/// A client whose CONNECT named no Authentication Method sends no AUTH [MQTT-4.12.0-7]:
/// `reauthenticate` is refused locally, and an AUTH from the server ends the connection
/// unanswered (MQTT 5.0).
#[test]
fn mqtt_4_12_0_7_without_an_authentication_method_the_client_sends_no_auth() {
    let broker = FakeBroker::start(|mut conn| {
        let c = conn.accept_connect_v5(Properties::new());
        assert_eq!(c.properties.get(PropertyId::AuthenticationMethod), None);
        answer_pingreq(&mut conn, "no AUTH before");
        conn.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "X", b"c"));
        match conn.try_read(WAIT) {
            None => {}
            Some(Packet::Disconnect(d)) => {
                assert!(!d.reason.is_success(), "{d:?}");
                conn.expect_closed(WAIT);
            }
            Some(other) => panic!("expected the connection closed, got {other:?}"),
        }
    });
    let client = connect(broker.port, &v5());
    let e = client.reauthenticate(b"x").unwrap_err();
    assert!(matches!(e, ClientError::Authentication(_)), "{e:?}");
    client.ping().unwrap();
    expect_protocol_violation(&client, "");
    broker.finish();
}

/// A failed re-authentication closes the connection [MQTT-4.12.1-2]: the server's refusal
/// (DISCONNECT 0x87) ends it, and so does the client's own failure to answer, after a
/// DISCONNECT with a reason code of 0x80 or above (MQTT 5.0).
#[test]
fn mqtt_4_12_1_2_failed_reauthentication_closes_the_connection() {
    let method_connack = || props([Property::AuthenticationMethod("M".into())]);
    let refused = FakeBroker::start(move |mut conn| {
        conn.accept_connect_v5(method_connack());
        assert_eq!(
            conn.read(WAIT),
            auth(ReasonCode::RE_AUTHENTICATE, "M", b"again")
        );
        conn.send(&Packet::Disconnect(Disconnect::new(
            ReasonCode::NOT_AUTHORIZED,
        )));
        conn.expect_closed(WAIT);
    });
    let options = || v5().authentication("M", None, |_, _| Err("no more".into()));
    let client = connect(refused.port, &options());
    let e = client.reauthenticate(b"again").unwrap_err();
    assert_eq!(e.reason_code(), Some(ReasonCode::NOT_AUTHORIZED), "{e:?}");
    assert!(!client.is_connected());
    refused.finish();

    let gave_up = FakeBroker::start(move |mut conn| {
        conn.accept_connect_v5(method_connack());
        assert_eq!(
            conn.read(WAIT),
            auth(ReasonCode::RE_AUTHENTICATE, "M", b"again")
        );
        conn.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "M", b"c"));
        let raw = conn.read_raw(WAIT);
        assert_eq!(&raw[..2], [0xE0, 1], "DISCONNECT with a reason code");
        assert!(raw[2] >= 0x80, "{raw:?}");
        conn.expect_closed(WAIT);
    });
    let client = connect(gave_up.port, &options());
    let e = client.reauthenticate(b"again").unwrap_err();
    assert!(matches!(e, ClientError::Closed(_)), "{e:?}");
    gave_up.finish();
}

/// The DISCONNECT reason codes a client may send (MQTT 5.0 section 3.14.2.1: sent by the
/// client, or by either side).
const CLIENT_DISCONNECT_CODES: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
];

/// A client sends only DISCONNECT reason codes defined for a client [MQTT-3.14.2-1]. It does not:
/// after its authentication callback gives up during a re-authentication it sends 0x87 (not
/// authorized), which only a server sends (`Shared::on_auth`), and `disconnect_with` puts any
/// code it is given on the wire, server-only (0x8E) or undefined (0x10) alike (MQTT 5.0).
#[test]
fn mqtt_3_14_2_1_client_sends_only_the_disconnect_codes_of_a_client() {
    let code_of = |raw: &[u8]| {
        assert_eq!(raw[0], 0xE0, "DISCONNECT");
        if raw[1] == 0 { 0 } else { raw[2] }
    };
    let gave_up = FakeBroker::start(move |mut conn| {
        conn.accept_connect_v5(props([Property::AuthenticationMethod("M".into())]));
        assert_eq!(
            conn.read(WAIT),
            auth(ReasonCode::RE_AUTHENTICATE, "M", b"again")
        );
        conn.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "M", b"c"));
        let code = code_of(&conn.read_raw(WAIT));
        assert!(CLIENT_DISCONNECT_CODES.contains(&code), "0x{code:02X}");
    });
    let client = connect(
        gave_up.port,
        &v5().authentication("M", None, |_, _| Err("no".into())),
    );
    let _ = client.reauthenticate(b"again");
    gave_up.finish();

    for code in [ReasonCode::SESSION_TAKEN_OVER, ReasonCode(0x10)] {
        let broker = FakeBroker::start(move |mut conn| {
            conn.accept_connect_v5(Properties::new());
            // A client that refuses the code may send nothing, or a DISCONNECT of its own.
            if let Some(raw) = conn.try_read_raw(WAIT) {
                let sent = code_of(&raw);
                assert!(CLIENT_DISCONNECT_CODES.contains(&sent), "0x{sent:02X}");
            }
        });
        let client = connect(broker.port, &v5());
        let _ = client.disconnect_with(code, None);
        broker.finish();
    }
}

/// The client never publishes above the Maximum QoS of CONNACK [MQTT-3.2.2-11], nor with RETAIN
/// 1 when CONNACK said Retain Available 0 [MQTT-3.2.2-14]: such publishes are refused before
/// anything is sent, following each connection's CONNACK (MQTT 5.0).
#[test]
fn mqtt_3_2_2_11_publishes_beyond_what_connack_allows_are_refused_locally() {
    let broker = FakeBroker::start_serving(|listener| {
        let mut conn = listener.accept(WAIT);
        conn.accept_connect_v5(props([
            Property::MaximumQos(1),
            Property::RetainAvailable(0),
        ]));
        let p = next_publish(&mut conn);
        assert_eq!((p.qospid.qos(), p.retain), (QoS::AtLeastOnce, false));
        conn.send(&Packet::Puback(id_of(&p).into()));
        conn.expect_closed(WAIT);

        let mut conn = listener.accept(WAIT);
        conn.accept_connect_v5(props([Property::MaximumQos(0)]));
        let p = next_publish(&mut conn);
        assert_eq!((p.qospid, p.retain), (QosPid::AtMostOnce, true));
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let client = connect(broker.port, &v5());
    let refused = |r: Result<(), ClientError>| {
        assert!(matches!(r, Err(ClientError::InvalidArgument(_))), "{r:?}")
    };
    refused(client.publish("t", b"", QoS::ExactlyOnce, false));
    refused(
        client
            .publish_async("t", b"", QoS::ExactlyOnce, false)
            .map(|_| ()),
    );
    refused(client.publish("t", b"", QoS::AtMostOnce, true));
    client.publish("t", b"", QoS::AtLeastOnce, false).unwrap();
    client.reconnect().unwrap();
    refused(client.publish("t", b"", QoS::AtLeastOnce, false));
    client.publish("t", b"", QoS::AtMostOnce, true).unwrap();
    client.disconnect().unwrap();
    broker.finish();
}

/// No packet the client sends exceeds the server's Maximum Packet Size [MQTT-3.2.2-15]: a
/// PUBLISH, SUBSCRIBE or UNSUBSCRIBE that would is refused with `PacketTooLarge` and never
/// reaches the wire (MQTT 5.0).
#[test]
fn mqtt_3_2_2_15_no_packet_exceeds_the_servers_maximum_packet_size() {
    const MAXIMUM: usize = 64;
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(props([Property::MaximumPacketSize(MAXIMUM as u32)]));
        let raw = conn.read_raw(WAIT);
        assert!(raw.len() <= MAXIMUM, "{}", raw.len());
        let Packet::Publish(p) = decode_v5(&raw) else {
            panic!("expected PUBLISH")
        };
        assert_eq!(p.payload.len(), 40);
        conn.send(&Packet::Puback(id_of(&p).into()));
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let client = connect(broker.port, &v5());
    let too_large = |r: Result<(), ClientError>| {
        assert!(
            matches!(r, Err(ClientError::PacketTooLarge { maximum, .. }) if maximum as usize == MAXIMUM),
            "{r:?}"
        )
    };
    let long = "f".repeat(70);
    too_large(client.publish("t", &[0; 100], QoS::AtMostOnce, false));
    too_large(client.publish("t", &[0; 100], QoS::AtLeastOnce, false));
    too_large(
        client
            .publish_ex(
                "t",
                b"",
                QoS::AtMostOnce,
                false,
                &PublishOptions::new().user_property("k", "v".repeat(70)),
            )
            .map(|_| ()),
    );
    too_large(client.subscribe(&long, QoS::AtMostOnce, ignore).map(|_| ()));
    too_large(client.unsubscribe(&long).map(|_| ()));
    client
        .publish("t", &[0; 40], QoS::AtLeastOnce, false)
        .unwrap();
    client.disconnect().unwrap();
    broker.finish();
}

/// After a reconnect without session, the client subscribes again to its filters in one
/// SUBSCRIBE, which it sends without checking it against the server's Maximum Packet Size
/// [MQTT-3.2.2-15] (`Shared::install_link` queues it directly, as it does the offline queue and
/// the re-sends): five filters subscribed one by one, each SUBSCRIBE within a limit of 64 bytes,
/// come back as one of about 80 bytes (MQTT 5.0).
#[test]
fn mqtt_3_2_2_15_resubscribing_after_a_reconnect_stays_within_the_maximum_packet_size() {
    const MAXIMUM: usize = 64;
    let limit = || props([Property::MaximumPacketSize(MAXIMUM as u32)]);
    let broker = FakeBroker::start_serving(move |listener| {
        let mut conn = listener.accept(WAIT);
        conn.accept_connect_v5(limit());
        for _ in 0..5 {
            let raw = conn.read_raw(WAIT);
            assert!(raw.len() <= MAXIMUM);
            let Packet::Subscribe(s) = decode_v5(&raw) else {
                panic!("expected SUBSCRIBE")
            };
            conn.send(&Packet::Suback(Suback {
                packet_id: s.packet_id,
                codes: vec![ReasonCode::GRANTED_QOS_0],
                properties: Properties::new(),
            }));
        }
        conn.expect_closed(WAIT);
        let mut conn = listener.accept(WAIT);
        conn.accept_connect_v5(limit());
        loop {
            let raw = conn.read_raw(WAIT);
            assert!(raw.len() <= MAXIMUM, "{} bytes: {raw:?}", raw.len());
            match decode_v5(&raw) {
                Packet::Subscribe(s) => conn.send(&Packet::Suback(Suback {
                    packet_id: s.packet_id,
                    codes: vec![ReasonCode::GRANTED_QOS_0; s.topics.len()],
                    properties: Properties::new(),
                })),
                Packet::Pingreq => conn.send(&Packet::Pingresp),
                Packet::Disconnect(_) => return,
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    let client = connect(broker.port, &v5());
    for i in 0..5 {
        client
            .subscribe(&format!("filter/number/{i}"), QoS::AtMostOnce, ignore)
            .unwrap();
    }
    client.reconnect().unwrap();
    client.ping().unwrap();
    client.disconnect().unwrap();
    broker.finish();
}

/// Topic aliases the client assigns stay within 1 and the server's Topic Alias Maximum
/// [MQTT-3.2.2-17] [MQTT-3.3.2-9], never 0 [MQTT-3.3.2-8]; each stands for the topic last sent
/// with it on the same connection, and a new connection starts with none [MQTT-3.3.2-7]; with a
/// Topic Alias Maximum of 0, or none, the client sends no Topic Alias [MQTT-3.2.2-18]
/// (MQTT 5.0).
#[test]
fn mqtt_3_3_2_9_outgoing_topic_aliases_stay_within_the_servers_maximum() {
    const TOPICS: [&str; 8] = ["a", "b", "c", "a", "b", "c", "c", "a"];
    let broker = FakeBroker::start_serving(|listener| {
        let mut conn = listener.accept(WAIT);
        conn.accept_connect_v5(props([Property::TopicAliasMaximum(2)]));
        let mut aliases = std::collections::HashMap::new();
        let mut used = 0;
        for want in TOPICS {
            let p = next_publish(&mut conn);
            let topic = match alias(&p) {
                None => p.topic.as_str().to_owned(),
                Some(n) => {
                    assert!((1..=2).contains(&n), "alias {n}");
                    if p.topic.as_str().is_empty() {
                        used += 1;
                        aliases.get(&n).cloned().expect("an alias set before")
                    } else {
                        aliases.insert(n, p.topic.as_str().to_owned());
                        p.topic.as_str().to_owned()
                    }
                }
            };
            assert_eq!(topic, want);
        }
        assert!(used > 0, "aliases were used");
        conn.expect_closed(WAIT);

        let mut conn = listener.accept(WAIT);
        conn.accept_connect_v5(props([Property::TopicAliasMaximum(2)]));
        let p = next_publish(&mut conn);
        assert_eq!(p.topic.as_str(), "a", "a new connection knows no alias");
        let again = next_publish(&mut conn);
        assert_eq!((again.topic.as_str(), alias(&again)), ("", alias(&p)));
        conn.expect_closed(WAIT);

        for maximum in [Some(0), None] {
            let mut conn = listener.accept(WAIT);
            conn.accept_connect_v5(props(maximum.map(Property::TopicAliasMaximum)));
            for _ in 0..2 {
                let p = next_publish(&mut conn);
                assert_eq!((p.topic.as_str(), alias(&p)), ("a", None));
            }
            conn.expect_closed(WAIT);
        }
    });
    let client = connect(broker.port, &v5());
    for t in TOPICS {
        client.publish(t, b"", QoS::AtMostOnce, false).unwrap();
    }
    for _ in 0..3 {
        client.reconnect().unwrap();
        for _ in 0..2 {
            client.publish("a", b"", QoS::AtMostOnce, false).unwrap();
        }
    }
    drop(client);
    broker.finish();
}

/// The client accepts every Topic Alias from 1 to the Topic Alias Maximum it sent, setting and
/// replacing mappings and using them [MQTT-3.3.2-10]; a mapping does not outlive its connection:
/// on the next one the same alias without a topic name is a protocol error [MQTT-3.3.2-7]
/// (MQTT 5.0).
#[test]
fn mqtt_3_3_2_10_client_accepts_every_topic_alias_up_to_its_maximum() {
    let sent: [(&str, u16); 8] = [
        ("in/1", 1),
        ("in/2", 2),
        ("in/3", 3),
        ("", 3),
        ("", 1),
        ("", 2),
        ("in/4", 1),
        ("", 1),
    ];
    let broker = FakeBroker::start_serving(move |listener| {
        let mut conn = listener.accept(WAIT);
        conn.accept_connect_v5(Properties::new());
        for (topic, n) in sent {
            conn.send(&publish(
                QosPid::AtMostOnce,
                topic,
                b"",
                props([Property::TopicAlias(n)]),
            ));
        }
        drop(conn);
        let mut conn = listener.accept(WAIT);
        let c = conn.accept_connect_v5(Properties::new());
        assert_eq!(c.properties.integer(PropertyId::TopicAliasMaximum), Some(3));
        conn.send(&publish(
            QosPid::AtMostOnce,
            "",
            b"",
            props([Property::TopicAlias(1)]),
        ));
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(Disconnect::new(ReasonCode::PROTOCOL_ERROR))
        );
        conn.expect_closed(WAIT);
    });
    let (opts, rx) = inbox(v5().topic_alias_maximum(3));
    let client = connect(broker.port, &opts);
    for _ in sent {
        client.receive_message(Some(WAIT)).unwrap();
    }
    let topics: Vec<String> = rx.try_iter().map(|m| m.topic).collect();
    assert_eq!(
        topics,
        [
            "in/1", "in/2", "in/3", "in/3", "in/1", "in/2", "in/4", "in/4"
        ]
    );
    assert!(client.receive_message(Some(WAIT)).is_err());
    client.reconnect().unwrap();
    expect_protocol_violation(&client, "");
    broker.finish();
}

/// Every PUBLISH the client receives is acknowledged as its QoS asks — none for QoS 0, PUBACK for
/// QoS 1, PUBREC for QoS 2 [MQTT-3.3.4-1] [MQTT-4.3.2-4] [MQTT-4.3.3-8] — with the identifier it
/// carried [MQTT-2.2.1-5], even when no callback takes the message [MQTT-4.5.0-2]; PUBACKs and
/// PUBRECs go out in the order the PUBLISHes arrived [MQTT-4.6.0-2] [MQTT-4.6.0-3], and each
/// PUBREL gets PUBCOMP with its identifier [MQTT-4.3.3-11] (MQTT 5.0).
#[test]
fn mqtt_4_5_0_2_every_message_is_acknowledged_in_arrival_order_even_if_nobody_takes_it() {
    let arrivals: [(u8, u16); 7] = [(0, 0), (1, 9), (2, 8), (1, 3), (2, 2), (1, 7), (2, 40)];
    let broker = FakeBroker::start(move |mut conn| {
        conn.accept_connect_v5(Properties::new());
        for (qos, n) in arrivals {
            let qospid = match qos {
                0 => QosPid::AtMostOnce,
                1 => QosPid::AtLeastOnce(pid(n)),
                _ => QosPid::ExactlyOnce(pid(n)),
            };
            conn.send(&publish(qospid, "unasked/t", b"x", Properties::new()));
        }
        for (qos, n) in arrivals.into_iter().skip(1) {
            let ack = if qos == 1 { 0x40 } else { 0x50 };
            let [hi, lo] = n.to_be_bytes();
            assert_eq!(conn.read_raw(WAIT), [ack, 2, hi, lo]);
        }
        for n in [2, 8, 40] {
            conn.send(&Packet::Pubrel(pid(n).into()));
        }
        answer_pingreq(&mut conn, "");
        for n in [2, 8, 40] {
            assert_eq!(conn.read(WAIT), Packet::Pubcomp(pid(n).into()));
        }
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let client = connect(broker.port, &v5());
    for _ in arrivals {
        client.receive_message(Some(WAIT)).unwrap();
    }
    client.ping().unwrap();
    client.disconnect().unwrap();
    broker.finish();
}

/// A QoS 2 message re-sent before PUBREL gets PUBREC again but is not delivered again
/// [MQTT-4.3.3-10]; PUBREL gets PUBCOMP [MQTT-4.3.3-11]; after it the identifier carries a new
/// message [MQTT-4.3.3-12]. After a PUBACK, the same QoS 1 identifier carries a new message,
/// DUP or not [MQTT-4.3.2-5]. Every PUBREC carries 0x00: the client never refuses a message, so
/// the case of [MQTT-4.3.3-9] does not arise (MQTT 5.0).
#[test]
fn mqtt_4_3_3_10_qos2_message_delivered_once_until_pubrel_then_its_identifier_is_new() {
    let (done_tx, done_rx) = unbounded();
    let broker = FakeBroker::start(move |mut conn| {
        conn.accept_connect_v5(Properties::new());
        let qos2 =
            |payload: &[u8]| publish(QosPid::ExactlyOnce(pid(5)), "t", payload, Properties::new());
        let pubrec = [0x50, 2, 0, 5];
        conn.send(&qos2(b"one"));
        assert_eq!(conn.read_raw(WAIT), pubrec);
        conn.send(&resent(qos2(b"one")));
        assert_eq!(conn.read_raw(WAIT), pubrec, "PUBREC again");
        conn.send(&Packet::Pubrel(pid(5).into()));
        assert_eq!(conn.read_raw(WAIT), [0x70, 2, 0, 5]);
        conn.send(&qos2(b"two"));
        assert_eq!(conn.read_raw(WAIT), pubrec);
        conn.send(&Packet::Pubrel(pid(5).into()));
        assert_eq!(conn.read_raw(WAIT), [0x70, 2, 0, 5]);
        let qos1 =
            |payload: &[u8]| publish(QosPid::AtLeastOnce(pid(6)), "t", payload, Properties::new());
        conn.send(&qos1(b"three"));
        assert_eq!(conn.read_raw(WAIT), [0x40, 2, 0, 6]);
        conn.send(&resent(qos1(b"four")));
        assert_eq!(conn.read_raw(WAIT), [0x40, 2, 0, 6]);
        signal_then_expect_disconnect(&mut conn, &done_tx);
    });
    let (opts, rx) = inbox(v5());
    let client = connect(broker.port, &opts);
    loop_until_done(&client, &done_rx);
    broker.finish();
    let payloads: Vec<Vec<u8>> = rx.try_iter().map(|m| m.payload).collect();
    assert_eq!(payloads, [&b"one"[..], b"two", b"three", b"four"]);
}

/// With the server's Receive Maximum of 2 the client never has more than two QoS 1 and 2
/// PUBLISHes unacknowledged [MQTT-3.3.4-7]: its send quota starts at the Receive Maximum
/// [MQTT-4.9.0-1] and a third PUBLISH waits for a slot [MQTT-4.9.0-2]. A QoS 2 message holds its
/// slot past PUBREC until PUBCOMP [MQTT-4.3.3-3] [MQTT-4.3.3-5]; a PUBREC or PUBACK of 0x80 and
/// above ends the exchange — no PUBREL, no re-send [MQTT-4.4.0-2] — and frees the slot; a QoS 1
/// message stays unacknowledged until its PUBACK [MQTT-4.3.2-3] (MQTT 5.0).
#[test]
fn mqtt_3_3_4_7_unacknowledged_publishes_stay_within_the_servers_receive_maximum() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(props([Property::ReceiveMaximum(2)]));
        let a = next_publish(&mut conn);
        let b = next_publish(&mut conn);
        assert_eq!(
            (a.qospid.qos(), b.qospid.qos()),
            (QoS::ExactlyOnce, QoS::ExactlyOnce)
        );
        assert_eq!(conn.try_read(QUIET), None, "the quota of 2 is used up");
        conn.send(&Packet::Pubrec(id_of(&b).into()));
        assert_eq!(conn.read(WAIT), Packet::Pubrel(id_of(&b).into()));
        assert_eq!(conn.try_read(QUIET), None, "b holds its slot until PUBCOMP");
        conn.send(&Packet::Pubrec(refusal(
            id_of(&a),
            ReasonCode::UNSPECIFIED_ERROR,
        )));
        let c = next_publish(&mut conn);
        assert_eq!(
            c.payload.as_ref(),
            b"c",
            "a refused PUBREC frees the slot, no PUBREL"
        );
        assert_eq!(conn.try_read(QUIET), None);
        conn.send(&Packet::Pubcomp(id_of(&b).into()));
        let d = next_publish(&mut conn);
        assert_eq!(d.payload.as_ref(), b"d");
        conn.send(&Packet::Puback(refusal(
            id_of(&c),
            ReasonCode::QUOTA_EXCEEDED,
        )));
        assert_eq!(conn.try_read(QUIET), None, "d stays unacknowledged");
        conn.send(&Packet::Puback(id_of(&d).into()));
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let client = connect(broker.port, &v5());
    let ids: Vec<PacketId> = [
        ("a", QoS::ExactlyOnce),
        ("b", QoS::ExactlyOnce),
        ("c", QoS::AtLeastOnce),
        ("d", QoS::AtLeastOnce),
    ]
    .iter()
    .map(|(payload, qos)| {
        client
            .publish_async("t", payload.as_bytes(), *qos, false)
            .unwrap()
            .unwrap()
    })
    .collect();
    let outcome = |id| {
        client
            .wait_published(id, Some(WAIT))
            .map_err(|e| e.reason_code())
    };
    assert_eq!(outcome(ids[0]), Err(Some(ReasonCode::UNSPECIFIED_ERROR)));
    assert_eq!(outcome(ids[1]), Ok(ReasonCode::SUCCESS));
    assert_eq!(outcome(ids[2]), Err(Some(ReasonCode::QUOTA_EXCEEDED)));
    assert_eq!(outcome(ids[3]), Ok(ReasonCode::SUCCESS));
    client.disconnect().unwrap();
    broker.finish();
}

/// Publishes queued while the connection is down are all sent after the reconnect, whatever the
/// server's Receive Maximum [MQTT-3.3.4-7]: the offline queue takes an identifier without a slot
/// of the window (`Session::enqueue`) and `Shared::install_link` sends the whole queue at once
/// (MQTT 5.0).
#[test]
fn mqtt_3_3_4_7_publishes_queued_offline_stay_within_the_receive_maximum() {
    let broker = FakeBroker::start_serving(|listener| {
        let mut conn = listener.accept(WAIT);
        conn.accept_connect_v5(props([Property::ReceiveMaximum(2)]));
        drop(conn);
        let mut conn = listener.accept(WAIT);
        conn.accept_connect_v5(props([Property::ReceiveMaximum(2)]));
        let first = next_publish(&mut conn);
        next_publish(&mut conn);
        assert_eq!(
            conn.try_read(QUIET),
            None,
            "a third PUBLISH beyond Receive Maximum 2"
        );
        conn.send(&Packet::Puback(id_of(&first).into()));
    });
    let opts = v5().auto_reconnect(Duration::from_secs(60), Duration::from_secs(60));
    let client = connect(broker.port, &opts);
    assert!(
        client.receive_message(Some(WAIT)).is_err(),
        "connection lost"
    );
    for i in 0..4u8 {
        let queued = client.publish_async("q", &[i], QoS::AtLeastOnce, false);
        assert!(
            matches!(queued, Err(ClientError::Queued(Some(_)))),
            "{queued:?}"
        );
    }
    client.reconnect().unwrap();
    let _ = client.receive_message(Some(Duration::from_secs(1)));
    broker.finish();
}

/// PUBRELs go out in the order the PUBRECs arrived [MQTT-4.6.0-4], each with the identifier of
/// its PUBREC [MQTT-4.3.3-4] (MQTT 5.0).
#[test]
fn mqtt_4_6_0_4_pubrels_go_out_in_the_order_the_pubrecs_arrived() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(Properties::new());
        let mut ids: Vec<PacketId> = (0..3).map(|_| id_of(&next_publish(&mut conn))).collect();
        ids.reverse();
        for id in &ids {
            conn.send(&Packet::Pubrec((*id).into()));
        }
        for id in &ids {
            assert_eq!(conn.read(WAIT), Packet::Pubrel((*id).into()));
        }
        for id in &ids {
            conn.send(&Packet::Pubcomp((*id).into()));
        }
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let client = connect(broker.port, &v5());
    publish_three_at_qos_2(&client);
    client.disconnect().unwrap();
    broker.finish();
}

/// With its send quota used up (Receive Maximum 1, one QoS 1 PUBLISH unacknowledged) the client
/// still sends SUBSCRIBE, UNSUBSCRIBE, PINGREQ, QoS 0 PUBLISH and its acknowledgements at once
/// [MQTT-3.3.4-8], and goes on processing and answering what the server sends [MQTT-4.9.0-3]
/// (MQTT 5.0).
#[test]
fn mqtt_3_3_4_8_other_packets_go_out_while_the_receive_maximum_is_used_up() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(props([Property::ReceiveMaximum(1)]));
        let x = next_publish(&mut conn);
        let Packet::Subscribe(s) = conn.read(WAIT) else {
            panic!("expected SUBSCRIBE")
        };
        conn.send(&Packet::Suback(Suback {
            packet_id: s.packet_id,
            codes: vec![ReasonCode::GRANTED_QOS_2],
            properties: Properties::new(),
        }));
        let Packet::Unsubscribe(u) = conn.read(WAIT) else {
            panic!("expected UNSUBSCRIBE")
        };
        conn.send(&Packet::Unsuback(Unsuback {
            packet_id: u.packet_id,
            codes: vec![ReasonCode::SUCCESS],
            properties: Properties::new(),
        }));
        answer_pingreq(&mut conn, "");
        conn.send(&publish(
            QosPid::AtLeastOnce(pid(20)),
            "in",
            b"",
            Properties::new(),
        ));
        assert_eq!(conn.read(WAIT), Packet::Puback(pid(20).into()));
        conn.send(&publish(
            QosPid::ExactlyOnce(pid(21)),
            "in",
            b"",
            Properties::new(),
        ));
        assert_eq!(conn.read(WAIT), Packet::Pubrec(pid(21).into()));
        conn.send(&Packet::Pubrel(pid(21).into()));
        answer_pingreq(&mut conn, "");
        assert_eq!(conn.read(WAIT), Packet::Pubcomp(pid(21).into()));
        let zero = next_publish(&mut conn);
        assert_eq!(zero.qospid, QosPid::AtMostOnce);
        conn.send(&Packet::Puback(id_of(&x).into()));
        let y = next_publish(&mut conn);
        conn.send(&Packet::Puback(id_of(&y).into()));
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let client = connect(broker.port, &v5());
    let x = client
        .publish_async("out", b"x", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    client.subscribe("s", QoS::ExactlyOnce, ignore).unwrap();
    client.unsubscribe("s").unwrap();
    client.ping().unwrap();
    client.receive_message(Some(WAIT)).unwrap();
    client.receive_message(Some(WAIT)).unwrap();
    client.ping().unwrap();
    client.publish("out", b"0", QoS::AtMostOnce, false).unwrap();
    client.wait_published(x, Some(WAIT)).unwrap();
    client
        .publish("out", b"y", QoS::AtLeastOnce, false)
        .unwrap();
    client.disconnect().unwrap();
    broker.finish();
}

/// What the client refuses to send, before anything reaches the wire: a topic name with a
/// wildcard [MQTT-3.3.2-2] [MQTT-4.7.0-1], a topic filter with a misplaced '#' [MQTT-4.7.1-1] or
/// '+' [MQTT-4.7.1-2], an empty topic or filter [MQTT-4.7.3-1], one over 65,535 bytes
/// [MQTT-4.7.3-3] (in PUBLISH, SUBSCRIBE, UNSUBSCRIBE and the will); a SUBSCRIBE without filters
/// [MQTT-3.8.3-2]; Retain Handling 3; a Response Topic with a wildcard [MQTT-3.3.2-14]; and a
/// PUBLISH carrying a Subscription Identifier [MQTT-3.3.4-6] or a Topic Alias of the caller's
/// (MQTT 5.0).
#[test]
fn mqtt_4_7_1_1_invalid_topics_filters_and_publish_properties_are_refused_locally() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(Properties::new());
        answer_pingreq(&mut conn, "nothing was sent before");
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let client = connect(broker.port, &v5());
    let too_long = "x".repeat(65_536);
    for topic in ["a/+", "a/#", "#", "+", "", too_long.as_str()] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            let result = client.publish(topic, b"", qos, false);
            assert!(
                matches!(result, Err(ClientError::InvalidTopic(_))),
                "{result:?}"
            );
        }
    }
    for filter in ["a+/b", "a/#/b", "a#", "#/", "", too_long.as_str()] {
        let result = client.subscribe(filter, QoS::AtMostOnce, ignore);
        assert!(
            matches!(result, Err(ClientError::InvalidTopic(_))),
            "{result:?}"
        );
        let result = client.unsubscribe(filter);
        assert!(
            matches!(result, Err(ClientError::InvalidTopic(_))),
            "{result:?}"
        );
    }
    let result = client.subscribe_ex(&[], &SubscribeOptions::new(), Arc::new(ignore));
    assert!(
        matches!(result, Err(ClientError::InvalidArgument(_))),
        "{result:?}"
    );
    let result = client.subscribe_ex(
        &[("t", QoS::AtMostOnce)],
        &SubscribeOptions::new().retain_handling(3),
        Arc::new(ignore),
    );
    assert!(
        matches!(result, Err(ClientError::InvalidArgument(_))),
        "{result:?}"
    );
    for response in ["r/+", "r/#"] {
        let result = client.publish_ex(
            "t",
            b"",
            QoS::AtMostOnce,
            false,
            &PublishOptions::new().response_topic(response),
        );
        assert!(
            matches!(result, Err(ClientError::InvalidTopic(_))),
            "{result:?}"
        );
    }
    for property in [Property::SubscriptionIdentifier(1), Property::TopicAlias(1)] {
        let options = PublishOptions {
            properties: props([property]),
            no_topic_alias: false,
        };
        let result = client.publish_ex("t", b"", QoS::AtMostOnce, false, &options);
        assert!(
            matches!(result, Err(ClientError::InvalidArgument(_))),
            "{result:?}"
        );
    }
    let will = Client::connect(
        "127.0.0.1",
        1,
        &v5().will("w/+", b"", QoS::AtMostOnce, false),
    );
    assert!(
        matches!(will, Err(ClientError::InvalidTopic(_))),
        "{will:?}"
    );
    client.ping().unwrap();
    client.disconnect().unwrap();
    broker.finish();
}

/// A shared subscription's filter is "$share/", a ShareName of at least one character without
/// '/', '+' or '#', then '/' and a topic filter [MQTT-4.8.2-1] [MQTT-4.8.2-2], and No Local 1 on
/// one is a protocol error [MQTT-3.8.3-4]. The client checks none of this (`TopicFilter`
/// validates plain filters only): it sends "$share//t", "$share/group" and No Local on
/// "$share/group/t" to the server (MQTT 5.0).
#[test]
fn mqtt_4_8_2_1_invalid_shared_subscriptions_are_refused_locally() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(Properties::new());
        answer_pingreq(&mut conn, "no SUBSCRIBE was sent");
    });
    let client = connect(broker.port, &v5().operation_timeout(Duration::from_secs(1)));
    for (filter, options) in [
        ("$share//t", SubscribeOptions::new()),
        ("$share/group", SubscribeOptions::new()),
        ("$share/group/t", SubscribeOptions::new().no_local(true)),
    ] {
        let result = client.subscribe_ex(&[(filter, QoS::AtMostOnce)], &options, Arc::new(ignore));
        assert!(
            matches!(
                result,
                Err(ClientError::InvalidTopic(_) | ClientError::InvalidArgument(_))
            ),
            "{filter}: {result:?}"
        );
    }
    let _ = client.ping();
    broker.finish();
}

/// Session Expiry Interval 60: the client keeps its session state when the connection ends
/// [MQTT-3.1.2-23] and resumes it under the Client Identifier the server assigned
/// [MQTT-3.1.3-2] with Clean Start 0. The reconnect's first packet is CONNECT [MQTT-3.1.0-1];
/// on Session Present 1 the client re-sends, before anything else, every unacknowledged
/// PUBLISH with its original identifier [MQTT-4.4.0-1] and DUP 1 [MQTT-3.3.1-1] and PUBREL for
/// the one past PUBREC — not its PUBLISH [MQTT-4.3.3-6] — in the original order [MQTT-4.6.0-1];
/// nothing refused by a PUBACK or PUBREC of 0x80 and above [MQTT-4.4.0-2]. A QoS 2 message it
/// received and awaits PUBREL for is not delivered twice (MQTT 5.0).
#[test]
fn mqtt_3_1_2_23_session_state_outlives_the_connection() {
    let broker = FakeBroker::start_serving(|listener| {
        let mut conn = listener.accept(WAIT);
        let first = conn.accept_connect_v5(props([Property::AssignedClientIdentifier(
            "given-1".into(),
        )]));
        assert_eq!(first.client_id, "");
        let sent: Vec<Publish> = (0..6).map(|_| next_publish(&mut conn)).collect();
        assert!(sent.iter().all(|p| !p.dup));
        let [_a, _b, c, d, e, f] = [0, 1, 2, 3, 4, 5].map(|i| id_of(&sent[i]));
        conn.send(&Packet::Pubrec(c.into()));
        assert_eq!(conn.read(WAIT), Packet::Pubrel(c.into()));
        conn.send(&Packet::Puback(d.into()));
        conn.send(&Packet::Puback(refusal(e, ReasonCode::QUOTA_EXCEEDED)));
        conn.send(&Packet::Pubrec(refusal(f, ReasonCode::UNSPECIFIED_ERROR)));
        let incoming = publish(
            QosPid::ExactlyOnce(pid(50)),
            "in",
            b"once",
            Properties::new(),
        );
        conn.send(&incoming);
        assert_eq!(conn.read(WAIT), Packet::Pubrec(pid(50).into()));
        drop(conn);

        let mut conn = listener.accept(WAIT);
        let second = conn.accept_connect_v5_with(true, Properties::new());
        assert_eq!(second.client_id, "given-1");
        assert!(!second.clean_session, "Clean Start 0");
        assert_eq!(
            second.properties.integer(PropertyId::SessionExpiryInterval),
            Some(60)
        );
        for original in &sent[..2] {
            let p = next_publish(&mut conn);
            assert!(p.dup, "DUP 1");
            assert_eq!(
                (p.qospid, p.topic.as_str(), &*p.payload),
                (original.qospid, original.topic.as_str(), &*original.payload)
            );
        }
        assert_eq!(
            conn.read(WAIT),
            Packet::Pubrel(c.into()),
            "PUBREL, not PUBLISH"
        );
        conn.send(&resent(incoming));
        assert_eq!(
            conn.read(WAIT),
            Packet::Pubrec(pid(50).into()),
            "nothing else re-sent"
        );
        conn.send(&Packet::Pubrel(pid(50).into()));
        assert_eq!(conn.read(WAIT), Packet::Pubcomp(pid(50).into()));
        conn.send(&Packet::Puback(id_of(&sent[0]).into()));
        conn.send(&Packet::Pubrec(id_of(&sent[1]).into()));
        assert_eq!(conn.read(WAIT), Packet::Pubrel(id_of(&sent[1]).into()));
        conn.send(&Packet::Pubcomp(id_of(&sent[1]).into()));
        conn.send(&Packet::Pubcomp(c.into()));
        let after = next_publish(&mut conn);
        assert!(!after.dup && after.payload.as_ref() == b"after");
        conn.send(&Packet::Puback(id_of(&after).into()));
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let (opts, rx) = inbox(v5().client_id("").session_expiry(60));
    let client = connect(broker.port, &opts);
    assert_eq!(client.client_id(), "given-1");
    let ids: Vec<PacketId> = [
        QoS::AtLeastOnce,
        QoS::ExactlyOnce,
        QoS::ExactlyOnce,
        QoS::AtLeastOnce,
        QoS::AtLeastOnce,
        QoS::ExactlyOnce,
    ]
    .iter()
    .enumerate()
    .map(|(i, qos)| {
        client
            .publish_async(&format!("out/{i}"), &[b'a' + i as u8], *qos, false)
            .unwrap()
            .unwrap()
    })
    .collect();
    client.loop_start().unwrap();
    wait_until_closed(&client);
    client.reconnect().unwrap();
    assert!(client.session_present());
    let outcome = |id| {
        client
            .wait_published(id, Some(WAIT))
            .map_err(|e| e.reason_code())
    };
    for id in &ids[..4] {
        assert_eq!(outcome(*id), Ok(ReasonCode::SUCCESS));
    }
    assert_eq!(outcome(ids[4]), Err(Some(ReasonCode::QUOTA_EXCEEDED)));
    assert_eq!(outcome(ids[5]), Err(Some(ReasonCode::UNSPECIFIED_ERROR)));
    client
        .publish("out/x", b"after", QoS::AtLeastOnce, false)
        .unwrap();
    stop_loop(&client);
    client.disconnect().unwrap();
    broker.finish();
    let delivered: Vec<Vec<u8>> = rx.try_iter().map(|m| m.payload).collect();
    assert_eq!(delivered, [b"once".to_vec()]);
}

/// Clean Start 1 (and no Session Expiry Interval): on reconnect the client drops its session
/// [MQTT-3.1.2-4] — its unacknowledged publishes are not re-sent [MQTT-4.4.0-1] (the completion
/// callback says they were discarded) and the QoS 2 identifier it awaited PUBREL for carries a
/// new message (MQTT 5.0).
#[test]
fn mqtt_3_1_2_4_clean_start_discards_the_clients_session() {
    let (done_tx, done_rx) = unbounded();
    let broker = FakeBroker::start_serving(move |listener| {
        let mut conn = listener.accept(WAIT);
        let first = conn.accept_connect_v5(Properties::new());
        assert!(first.clean_session);
        next_publish(&mut conn);
        next_publish(&mut conn);
        conn.send(&publish(
            QosPid::ExactlyOnce(pid(50)),
            "in",
            b"first",
            Properties::new(),
        ));
        assert_eq!(conn.read(WAIT), Packet::Pubrec(pid(50).into()));
        drop(conn);

        let mut conn = listener.accept(WAIT);
        let second = conn.accept_connect_v5(Properties::new());
        assert!(second.clean_session);
        conn.send(&publish(
            QosPid::ExactlyOnce(pid(50)),
            "in",
            b"again",
            Properties::new(),
        ));
        assert_eq!(
            conn.read(WAIT),
            Packet::Pubrec(pid(50).into()),
            "nothing re-sent"
        );
        conn.send(&Packet::Pubrel(pid(50).into()));
        assert_eq!(conn.read(WAIT), Packet::Pubcomp(pid(50).into()));
        signal_then_expect_disconnect(&mut conn, &done_tx);
    });
    let (opts, rx) = inbox(v5());
    let client = connect(broker.port, &opts);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    client.set_on_published(Some(Arc::new(move |id, outcome| {
        record.lock().unwrap().push((id, outcome));
    })));
    let a = client
        .publish_async("out", b"a", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    let b = client
        .publish_async("out", b"b", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    client.loop_start().unwrap();
    wait_until_closed(&client);
    client.reconnect().unwrap();
    let mut delivered = Vec::new();
    for _ in 0..2 {
        delivered.push(rx.recv_timeout(WAIT).unwrap().payload);
    }
    assert_eq!(delivered, [b"first".to_vec(), b"again".to_vec()]);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (a, PublishOutcome::Discarded),
            (b, PublishOutcome::Discarded)
        ]
    );
    let _ = done_rx.recv_timeout(WAIT);
    stop_loop(&client);
    client.disconnect().unwrap();
    broker.finish();
}

/// The client keeps its session state while the connection is open [MQTT-4.1.0-1]: a QoS 1
/// PUBLISH stays unacknowledged until its own PUBACK [MQTT-4.3.2-3] — a PUBACK for another
/// identifier or a caller's timeout does not end it — and a QoS 2 PUBLISH until PUBREC
/// [MQTT-4.3.3-3], its PUBREL then until PUBCOMP [MQTT-4.3.3-5] (MQTT 5.0).
#[test]
fn mqtt_4_1_0_1_unacknowledged_publishes_stay_in_flight_while_connected() {
    let (to_client, from_broker) = unbounded::<()>();
    let (to_broker, from_client) = unbounded::<()>();
    let broker = FakeBroker::start(move |mut conn| {
        conn.accept_connect_v5(Properties::new());
        let a = id_of(&next_publish(&mut conn));
        let b = id_of(&next_publish(&mut conn));
        let other = pid(if a.get() == 1000 || b.get() == 1000 {
            1001
        } else {
            1000
        });
        conn.send(&Packet::Puback(other.into()));
        conn.send(&Packet::Pubcomp(b.into()));
        to_client.send(()).unwrap();
        from_client.recv_timeout(WAIT).unwrap();
        conn.send(&Packet::Pubrec(b.into()));
        assert_eq!(conn.read(WAIT), Packet::Pubrel(b.into()));
        to_client.send(()).unwrap();
        from_client.recv_timeout(WAIT).unwrap();
        conn.send(&Packet::Puback(a.into()));
        conn.send(&Packet::Pubcomp(b.into()));
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let client = connect(broker.port, &v5());
    let a = client
        .publish_async("t", b"a", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    let b = client
        .publish_async("t", b"b", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    client.loop_start().unwrap();
    let pending = |id| {
        matches!(
            client.wait_published(id, Some(QUIET)),
            Err(ClientError::Timeout)
        )
    };
    from_broker.recv_timeout(WAIT).unwrap();
    assert!(
        pending(a),
        "a PUBACK for another identifier does not end it"
    );
    assert!(pending(b), "nor does a PUBCOMP before PUBREC");
    to_broker.send(()).unwrap();
    from_broker.recv_timeout(WAIT).unwrap();
    assert!(pending(b), "past PUBREC, waiting for PUBCOMP");
    to_broker.send(()).unwrap();
    client.wait_published(a, Some(WAIT)).unwrap();
    client.wait_published(b, Some(WAIT)).unwrap();
    stop_loop(&client);
    client.disconnect().unwrap();
    broker.finish();
}

/// Message expiry does not cut a QoS 2 exchange short: the client, as sender, completes PUBREC,
/// PUBREL and PUBCOMP for its message after its Message Expiry Interval has passed
/// [MQTT-4.3.3-7], and, as receiver, answers the PUBREL of a message that has meanwhile expired
/// [MQTT-4.3.3-13] (MQTT 5.0).
#[test]
fn mqtt_4_3_3_7_qos2_exchanges_complete_after_the_message_expired() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(Properties::new());
        let mine = next_publish(&mut conn);
        assert_eq!(
            mine.properties.integer(PropertyId::MessageExpiryInterval),
            Some(1)
        );
        conn.send(&publish(
            QosPid::ExactlyOnce(pid(7)),
            "in",
            b"",
            props([Property::MessageExpiryInterval(1)]),
        ));
        assert_eq!(conn.read(WAIT), Packet::Pubrec(pid(7).into()));
        thread::sleep(Duration::from_millis(1200));
        conn.send(&Packet::Pubrec(id_of(&mine).into()));
        assert_eq!(conn.read(WAIT), Packet::Pubrel(id_of(&mine).into()));
        conn.send(&Packet::Pubrel(pid(7).into()));
        assert_eq!(conn.read(WAIT), Packet::Pubcomp(pid(7).into()));
        conn.send(&Packet::Pubcomp(id_of(&mine).into()));
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Disconnect::default()));
    });
    let client = connect(broker.port, &v5());
    client.loop_start().unwrap();
    client
        .publish_ex(
            "t",
            b"",
            QoS::ExactlyOnce,
            false,
            &PublishOptions::new().message_expiry(1),
        )
        .unwrap();
    stop_loop(&client);
    client.disconnect().unwrap();
    broker.finish();
}

/// After DISCONNECT — here 0x04, disconnect with will message, a code a client may send
/// [MQTT-3.14.2-1] — the client sends nothing more on the connection [MQTT-3.14.4-1] and closes
/// it [MQTT-3.14.4-2]; later calls fail without touching the wire (MQTT 5.0).
#[test]
fn mqtt_3_14_4_1_after_disconnect_the_client_sends_nothing_and_closes() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect_v5(Properties::new());
        assert_eq!(conn.read_raw(WAIT), [0xE0, 1, 0x04]);
        conn.expect_closed(WAIT);
    });
    let client = connect(broker.port, &v5());
    client
        .disconnect_with(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE, None)
        .unwrap();
    assert!(!client.is_connected());
    assert!(client.publish("late", b"", QoS::AtMostOnce, false).is_err());
    assert!(client.ping().is_err());
    assert!(client.subscribe("late", QoS::AtMostOnce, ignore).is_err());
    client.disconnect().unwrap();
    broker.finish();
}
