//! Byte-exact tests of the MQTT 3.1.1 codec: every control packet encoded and decoded against wire
//! bytes written out by hand, every remaining-length boundary, and every [`DecodeError`] and
//! [`EncodeError`] triggered by the smallest input that breaks exactly its rule.
//!
//! Test names follow the spec: `mqtt_x_y_z_n_*` implements the normative statement
//! `[MQTT-x.y.z-n]`; `section_*` covers rules stated in a section without a number.

use std::sync::Arc;

use crate::framing::{field, frame};
use mqtt::protocol::*;
use mqtt::topic::{TopicError, TopicName};

fn id(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero test identifier")
}

fn topic(s: &str) -> TopicName {
    TopicName::new(s).expect("valid test topic")
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Asserts that `packet` encodes to exactly `wire`, that `wire` decodes to exactly `packet` using
/// every byte, that each strict prefix asks for more bytes, and that bytes after the packet are
/// left alone.
fn assert_wire(packet: &Packet, wire: &[u8]) {
    assert_eq!(
        packet.to_bytes().as_deref(),
        Ok(wire),
        "encoding {packet:?}"
    );
    assert_eq!(
        decode(wire),
        Ok(Some((packet.clone(), wire.len()))),
        "decoding {wire:02X?}"
    );
    for end in 0..wire.len() {
        assert_eq!(decode(&wire[..end]), Ok(None), "prefix of {end} bytes");
    }
    let mut followed = wire.to_vec();
    followed.extend_from_slice(&[0xC0, 0x00]);
    assert_eq!(decode(&followed), Ok(Some((packet.clone(), wire.len()))));
}

fn decode_error(wire: &[u8]) -> DecodeError {
    match decode(wire) {
        Err(e) => e,
        other => panic!("expected an error for {wire:02X?}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Byte-exact encode and decode of all 14 packet types
// ---------------------------------------------------------------------------------------------

fn minimal_connect() -> Connect {
    Connect {
        properties: Default::default(),
        protocol: ProtocolLevel::V311,
        clean_session: true,
        keep_alive: 60,
        client_id: "c".into(),
        will: None,
        username: None,
        password: None,
    }
}

/// CONNECT with nothing optional: protocol name, level 4, clean session, keep alive, client id
/// (sections 3.1.2 and 3.1.3).
#[test]
fn connect_minimal() {
    #[rustfmt::skip]
    let wire = [
        0x10, 0x0D,
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x04,                               // level 4 = 3.1.1
        0x02,                               // clean session
        0x00, 0x3C,                         // keep alive 60 s
        0x00, 0x01, b'c',                   // client id
    ];
    assert_wire(&Packet::Connect(Box::new(minimal_connect())), &wire);
}

/// CONNECT with every optional field: will (QoS 1, retained), user name and password, payload in
/// the order of [MQTT-3.1.3-1].
#[test]
fn connect_with_will_user_name_and_password() {
    #[rustfmt::skip]
    let wire = [
        0x10, 0x1E,
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04,
        0xEE,                         // user, password, will retain, will QoS 1, will, clean
        0x00, 0x3C,
        0x00, 0x02, b'i', b'd',       // client id
        0x00, 0x03, b'w', b'/', b't', // will topic
        0x00, 0x02, 0xDE, 0xAD,       // will message (binary)
        0x00, 0x01, b'u',             // user name
        0x00, 0x02, b'p', b'w',       // password (binary)
    ];
    let connect = Connect {
        client_id: "id".into(),
        will: Some(LastWill {
            properties: Default::default(),
            topic: topic("w/t"),
            payload: vec![0xDE, 0xAD],
            qos: QoS::AtLeastOnce,
            retain: true,
        }),
        username: Some("u".into()),
        password: Some(b"pw".to_vec()),
        ..minimal_connect()
    };
    assert_wire(&Packet::Connect(Box::new(connect)), &wire);
}

/// CONNECT with a will at QoS 2 (not retained, empty message), a user name without password and
/// clean session off ([MQTT-3.1.2-14], [MQTT-3.1.2-22] allows user name alone).
#[test]
fn connect_with_will_qos_2_and_user_name_only() {
    #[rustfmt::skip]
    let wire = [
        0x10, 0x16,
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04,
        0x94,                   // user name, will QoS 2, will
        0x00, 0x00,             // keep alive off
        0x00, 0x01, b'x',
        0x00, 0x01, b't',
        0x00, 0x00,             // empty will message
        0x00, 0x02, b'm', b'e',
    ];
    let connect = Connect {
        clean_session: false,
        keep_alive: 0,
        client_id: "x".into(),
        will: Some(LastWill {
            properties: Default::default(),
            topic: topic("t"),
            payload: vec![],
            qos: QoS::ExactlyOnce,
            retain: false,
        }),
        username: Some("me".into()),
        ..minimal_connect()
    };
    assert_wire(&Packet::Connect(Box::new(connect)), &wire);
}

/// MQTT 3.1 clients announce "MQIsdp" at level 3; both revisions are accepted.
#[test]
fn connect_mqtt_3_1_mqisdp_level_3() {
    #[rustfmt::skip]
    let wire = [
        0x10, 0x11,
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p',
        0x03,
        0x02,
        0x00, 0x0A,
        0x00, 0x03, b'c', b'l', b'i',
    ];
    let connect = Connect {
        protocol: ProtocolLevel::V31,
        keep_alive: 10,
        client_id: "cli".into(),
        ..minimal_connect()
    };
    assert_wire(&Packet::Connect(Box::new(connect)), &wire);
}

/// A zero-byte client id is well formed ([MQTT-3.1.3-6]); whether it is acceptable with clean
/// session 0 is the server's decision ([MQTT-3.1.3-8]), not the codec's. The password is binary
/// data, so 0x00 and 0xFF bytes are fine in it.
#[test]
fn mqtt_3_1_3_6_connect_empty_client_id_and_binary_password() {
    #[rustfmt::skip]
    let wire = [
        0x10, 0x13,
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04,
        0xC0,
        0x00, 0x05,
        0x00, 0x00,
        0x00, 0x01, b'u',
        0x00, 0x02, 0x00, 0xFF,
    ];
    let connect = Connect {
        clean_session: false,
        keep_alive: 5,
        client_id: String::new(),
        username: Some("u".into()),
        password: Some(vec![0x00, 0xFF]),
        ..minimal_connect()
    };
    assert_wire(&Packet::Connect(Box::new(connect)), &wire);
}

/// CONNACK: acknowledge flags then return code (section 3.2.2), for every defined return code.
#[test]
fn connack_every_return_code() {
    use ConnectReturnCode::*;
    for (code, byte) in [
        (Accepted, 0),
        (UnacceptableProtocolVersion, 1),
        (IdentifierRejected, 2),
        (ServerUnavailable, 3),
        (BadUsernameOrPassword, 4),
        (NotAuthorized, 5),
    ] {
        let packet = Packet::Connack(Connack {
            properties: Default::default(),
            session_present: false,
            code: code.to_reason(),
        });
        assert_wire(&packet, &[0x20, 0x02, 0x00, byte]);
        assert_eq!(ConnectReturnCode::from_u8(byte), Some(code));
    }
    assert_eq!(ConnectReturnCode::from_u8(6), None);
}

/// Session present is bit 0 of the acknowledge flags ([MQTT-3.2.2-2]).
#[test]
fn connack_session_present() {
    let packet = Packet::Connack(Connack {
        properties: Default::default(),
        session_present: true,
        code: ConnectReturnCode::Accepted.to_reason(),
    });
    assert_wire(&packet, &[0x20, 0x02, 0x01, 0x00]);
}

fn publish(dup: bool, qospid: QosPid, retain: bool, payload: &[u8]) -> Packet {
    Packet::Publish(Publish {
        properties: Default::default(),
        dup,
        qospid,
        retain,
        topic: topic("a/b"),
        payload: Arc::from(payload),
    })
}

/// PUBLISH at QoS 0 carries no packet identifier ([MQTT-2.3.1-5]); the payload is the rest.
#[test]
fn publish_qos_0() {
    let wire = [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
    assert_wire(&publish(false, QosPid::AtMostOnce, false, b"hi"), &wire);
}

/// PUBLISH at QoS 0 with retain and an empty payload (a zero-length payload is valid, section
/// 3.3.3).
#[test]
fn publish_qos_0_retained_empty_payload() {
    let wire = [0x31, 0x05, 0x00, 0x03, b'a', b'/', b'b'];
    assert_wire(&publish(false, QosPid::AtMostOnce, true, b""), &wire);
}

/// PUBLISH at QoS 1 with DUP and retain: flags 1011, identifier after the topic.
#[test]
fn publish_qos_1_dup_retain() {
    #[rustfmt::skip]
    let wire = [
        0x3B, 0x09,
        0x00, 0x03, b'a', b'/', b'b',
        0x12, 0x34,
        b'h', b'i',
    ];
    assert_wire(
        &publish(true, QosPid::AtLeastOnce(id(0x1234)), true, b"hi"),
        &wire,
    );
}

/// PUBLISH at QoS 2, plain and with DUP; identifier 0xFFFF is the largest there is.
#[test]
fn publish_qos_2_with_and_without_dup() {
    #[rustfmt::skip]
    let wire = [
        0x34, 0x08,
        0x00, 0x03, b'a', b'/', b'b',
        0xFF, 0xFF,
        0x00,
    ];
    assert_wire(
        &publish(false, QosPid::ExactlyOnce(id(0xFFFF)), false, &[0]),
        &wire,
    );
    let mut dup = wire;
    dup[0] = 0x3C;
    assert_wire(
        &publish(true, QosPid::ExactlyOnce(id(0xFFFF)), false, &[0]),
        &dup,
    );
}

/// The fan-out helper writes the same bytes as encoding a [`Publish`].
#[test]
fn encode_publish_matches_packet_encoding() {
    let mut out = vec![0xAA];
    encode_publish(
        &mut out,
        true,
        QosPid::AtLeastOnce(id(0x1234)),
        true,
        "a/b",
        b"hi",
    )
    .unwrap();
    assert_eq!(
        out,
        [
            0xAA, 0x3B, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x12, 0x34, b'h', b'i'
        ]
    );
}

/// PUBACK, PUBREC, PUBREL (flags 0010, [MQTT-3.6.1-1]) and PUBCOMP: identifier only.
#[test]
fn publish_acknowledgements() {
    assert_wire(
        &Packet::Puback(id(0x1234).into()),
        &[0x40, 0x02, 0x12, 0x34],
    );
    assert_wire(&Packet::Pubrec(id(1).into()), &[0x50, 0x02, 0x00, 0x01]);
    assert_wire(
        &Packet::Pubrel(id(0x0100).into()),
        &[0x62, 0x02, 0x01, 0x00],
    );
    assert_wire(
        &Packet::Pubcomp(id(0xFFFF).into()),
        &[0x70, 0x02, 0xFF, 0xFF],
    );
}

/// SUBSCRIBE with several filters, each followed by its requested QoS (section 3.8.3); flags 0010
/// ([MQTT-3.8.1-1]).
#[test]
fn subscribe_several_filters() {
    #[rustfmt::skip]
    let wire = [
        0x82, 0x17,
        0x00, 0x0A,
        0x00, 0x03, b'a', b'/', b'+', 0x00,
        0x00, 0x03, b'b', b'/', b'#', 0x01,
        0x00, 0x06, b'$', b'S', b'Y', b'S', b'/', b'x', 0x02,
    ];
    let packet = Packet::Subscribe(Subscribe {
        properties: Default::default(),
        packet_id: id(10),
        topics: vec![
            SubscribeTopic {
                options: Default::default(),
                filter: "a/+".into(),
                qos: QoS::AtMostOnce,
            },
            SubscribeTopic {
                options: Default::default(),
                filter: "b/#".into(),
                qos: QoS::AtLeastOnce,
            },
            SubscribeTopic {
                options: Default::default(),
                filter: "$SYS/x".into(),
                qos: QoS::ExactlyOnce,
            },
        ],
    });
    assert_wire(&packet, &wire);
}

/// A filter that breaks the topic rules still decodes: the server answers it with SUBACK 0x80
/// (section 3.9.3) instead of closing, so only the string rules are the codec's business.
#[test]
fn subscribe_invalid_filter_is_left_to_the_server() {
    let wire = frame(
        0x82,
        &cat(&[
            &[0x00, 0x01],
            &field(b"a/#/b"),
            &[0x00],
            &field(b""),
            &[0x01],
        ]),
    );
    let packet = Packet::Subscribe(Subscribe {
        properties: Default::default(),
        packet_id: id(1),
        topics: vec![
            SubscribeTopic {
                options: Default::default(),
                filter: "a/#/b".into(),
                qos: QoS::AtMostOnce,
            },
            SubscribeTopic {
                options: Default::default(),
                filter: String::new(),
                qos: QoS::AtLeastOnce,
            },
        ],
    });
    assert_wire(&packet, &wire);
}

/// SUBACK: identifier then one return code per filter, including failure 0x80 (section 3.9.3).
#[test]
fn suback_granted_and_failure_codes() {
    let wire = [0x90, 0x06, 0x00, 0x0A, 0x00, 0x01, 0x02, 0x80];
    let packet = Packet::Suback(Suback {
        properties: Default::default(),
        packet_id: id(10),
        codes: vec![
            SubackCode::Granted(QoS::AtMostOnce).to_reason(),
            SubackCode::Granted(QoS::AtLeastOnce).to_reason(),
            SubackCode::Granted(QoS::ExactlyOnce).to_reason(),
            SubackCode::Failure.to_reason(),
        ],
    });
    assert_wire(&packet, &wire);
}

/// UNSUBSCRIBE: identifier then filters without QoS bytes; flags 0010 ([MQTT-3.10.1-1]).
#[test]
fn unsubscribe_several_filters() {
    #[rustfmt::skip]
    let wire = [
        0xA2, 0x0A,
        0x00, 0x0B,
        0x00, 0x03, b'a', b'/', b'+',
        0x00, 0x01, b'x',
    ];
    let packet = Packet::Unsubscribe(Unsubscribe {
        properties: Default::default(),
        packet_id: id(11),
        filters: vec!["a/+".into(), "x".into()],
    });
    assert_wire(&packet, &wire);
}

#[test]
fn unsuback() {
    assert_wire(
        &Packet::Unsuback(mqtt::protocol::Unsuback::new(id(11))),
        &[0xB0, 0x02, 0x00, 0x0B],
    );
}

/// PINGREQ, PINGRESP and DISCONNECT are a fixed header with remaining length 0.
#[test]
fn header_only_packets() {
    assert_wire(&Packet::Pingreq, &[0xC0, 0x00]);
    assert_wire(&Packet::Pingresp, &[0xD0, 0x00]);
    assert_wire(
        &Packet::Disconnect(mqtt::protocol::Disconnect::default()),
        &[0xE0, 0x00],
    );
}

/// Every packet type reports its type number (section 2.2.1).
#[test]
fn packet_type_numbers() {
    for n in 0..=15u8 {
        match PacketType::from_u8(n) {
            Some(t) => {
                // 15 is AUTH, which MQTT 5.0 added; the 3.1.1 decoder still refuses it.
                assert!((1..=15).contains(&n));
                assert_eq!(t as u8, n);
            }
            None => assert_eq!(n, 0),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Remaining length (section 2.2.3)
// ---------------------------------------------------------------------------------------------

/// A QoS 0 PUBLISH to topic "t" whose remaining length is exactly `remaining`.
fn publish_with_remaining(remaining: usize) -> Packet {
    Packet::Publish(Publish {
        properties: Default::default(),
        dup: false,
        qospid: QosPid::AtMostOnce,
        retain: false,
        topic: topic("t"),
        payload: vec![0x5A; remaining - 3].into(),
    })
}

/// Each boundary where the remaining length needs one more byte, encoded and decoded exactly
/// (table 2.4).
#[test]
fn section_2_2_3_remaining_length_boundaries() {
    for (remaining, length_bytes) in [
        (3, &[0x03][..]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
    ] {
        let packet = publish_with_remaining(remaining);
        let wire = packet.to_bytes().unwrap();
        assert_eq!(wire[0], 0x30);
        assert_eq!(
            &wire[1..1 + length_bytes.len()],
            length_bytes,
            "{remaining}"
        );
        let header_len = 1 + length_bytes.len();
        assert_eq!(&wire[header_len..header_len + 3], &[0x00, 0x01, b't']);
        assert_eq!(wire.len(), header_len + remaining);
        assert_eq!(decode(&wire), Ok(Some((packet, wire.len()))));
        assert_eq!(
            Decoder::default().fixed_header(&wire),
            Ok(Some(FixedHeader {
                packet_type: PacketType::Publish,
                flags: 0,
                header_len,
                remaining_length: remaining,
            }))
        );
        assert_eq!(decode(&wire[..wire.len() - 1]), Ok(None));
    }
}

/// The largest remaining length, 268,435,455 = FF FF FF 7F, is read from the header alone; the
/// decoder then waits for the body without sizing anything from the claim.
#[test]
fn section_2_2_3_maximum_remaining_length_header() {
    let header = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
    assert_eq!(
        Decoder::default().fixed_header(&header),
        Ok(Some(FixedHeader {
            packet_type: PacketType::Publish,
            flags: 0,
            header_len: 5,
            remaining_length: MAX_REMAINING_LENGTH,
        }))
    );
    assert_eq!(MAX_REMAINING_LENGTH, 268_435_455);
    assert_eq!(decode(&header), Ok(None));
    assert_eq!(decode(&[0x30, 0xFF, 0xFF, 0xFF]), Ok(None));
}

/// MQTT 3.1.1 (unlike MQTT 5) does not require the shortest length encoding, so a padded one is
/// accepted.
#[test]
fn section_2_2_3_non_minimal_remaining_length_accepted() {
    assert_eq!(decode(&[0xC0, 0x80, 0x00]), Ok(Some((Packet::Pingreq, 3))));
    assert_eq!(
        decode(&[0x40, 0x82, 0x80, 0x00, 0x00, 0x07]),
        Ok(Some((Packet::Puback(id(7).into()), 6)))
    );
}

/// The encoder refuses a body beyond 268,435,455 bytes and appends nothing. The payload comes
/// from zeroed memory the kernel maps lazily, and the check happens before the output buffer is
/// reserved, so the test stays cheap.
#[test]
fn section_2_2_3_encoder_refuses_oversized_packet() {
    let payload = vec![0u8; MAX_REMAINING_LENGTH - 2];
    let mut out = vec![1, 2, 3];
    assert_eq!(
        encode_publish(&mut out, false, QosPid::AtMostOnce, false, "t", &payload),
        Err(EncodeError::PacketTooLarge(MAX_REMAINING_LENGTH + 1))
    );
    assert_eq!(out, [1, 2, 3]);
}

// ---------------------------------------------------------------------------------------------
// Fixed header errors (section 2.2)
// ---------------------------------------------------------------------------------------------

/// Packet type 0 is reserved (table 2.1); refused from the first byte alone.
#[test]
fn section_2_2_1_reserved_type_0_rejected() {
    assert_eq!(decode(&[0x00]), Err(DecodeError::ReservedPacketType(0)));
    assert_eq!(
        decode_error(&[0x00, 0x00]),
        DecodeError::ReservedPacketType(0)
    );
}

/// Packet type 15 is reserved (table 2.1).
#[test]
fn section_2_2_1_reserved_type_15_rejected() {
    assert_eq!(decode(&[0xF0]), Err(DecodeError::ReservedPacketType(15)));
    assert_eq!(
        decode_error(&[0xF2, 0x00]),
        DecodeError::ReservedPacketType(15)
    );
}

/// Every type except PUBLISH has fixed flags (table 2.2), 0010 for PUBREL, SUBSCRIBE and
/// UNSUBSCRIBE, 0000 for the rest; any other value is refused from the first byte
/// ([MQTT-2.2.2-1], [MQTT-2.2.2-2]).
#[test]
fn mqtt_2_2_2_2_invalid_fixed_flags_rejected_for_every_type() {
    for type_number in 1..=14u8 {
        let packet_type = PacketType::from_u8(type_number).unwrap();
        if packet_type == PacketType::Publish {
            continue;
        }
        let required = match packet_type {
            PacketType::Pubrel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
            _ => 0b0000,
        };
        assert_eq!(packet_type.required_flags(), Some(required));
        for flags in 0..16u8 {
            let first = type_number << 4 | flags;
            let result = decode(&[first]);
            if flags == required {
                assert_eq!(result, Ok(None), "{packet_type:?} {flags:04b}");
            } else {
                assert_eq!(
                    result,
                    Err(DecodeError::InvalidFlags { packet_type, flags }),
                    "{packet_type:?} {flags:04b}"
                );
            }
        }
    }
}

/// PUBREL flags must be 0010 ([MQTT-3.6.1-1]): a 3.1-style PUBREL without the QoS bit is refused.
#[test]
fn mqtt_3_6_1_1_pubrel_flags_must_be_0010() {
    assert_eq!(
        decode_error(&[0x60, 0x02, 0x00, 0x01]),
        DecodeError::InvalidFlags {
            packet_type: PacketType::Pubrel,
            flags: 0
        }
    );
}

/// SUBSCRIBE flags must be 0010 ([MQTT-3.8.1-1]).
#[test]
fn mqtt_3_8_1_1_subscribe_flags_must_be_0010() {
    let body = cat(&[&[0x00, 0x01], &field(b"a"), &[0x00]]);
    for first in [0x80, 0x83, 0x8A] {
        assert_eq!(
            decode_error(&frame(first, &body)),
            DecodeError::InvalidFlags {
                packet_type: PacketType::Subscribe,
                flags: first & 0x0F
            }
        );
    }
}

/// UNSUBSCRIBE flags must be 0010 ([MQTT-3.10.1-1]).
#[test]
fn mqtt_3_10_1_1_unsubscribe_flags_must_be_0010() {
    let body = cat(&[&[0x00, 0x01], &field(b"a")]);
    assert_eq!(
        decode_error(&frame(0xA0, &body)),
        DecodeError::InvalidFlags {
            packet_type: PacketType::Unsubscribe,
            flags: 0
        }
    );
}

/// MQTT 3.1 sets DUP when it resends PUBREL, SUBSCRIBE or UNSUBSCRIBE; a decoder switched to
/// 3.1 accepts flags 1010 for exactly those three, while 3.1.1 refuses them ([MQTT-3.6.1-1],
/// [MQTT-3.8.1-1], [MQTT-3.10.1-1]).
#[test]
fn mqtt_3_1_resent_pubrel_subscribe_unsubscribe_may_carry_dup() {
    let mqtt31 = Decoder::default().with_protocol(ProtocolLevel::V31);
    assert_eq!(mqtt31.protocol(), ProtocolLevel::V31);
    assert_eq!(Decoder::default().protocol(), ProtocolLevel::V311);
    let subscribe_body = cat(&[&[0x00, 0x05], &field(b"a"), &[0x01]]);
    let unsubscribe_body = cat(&[&[0x00, 0x06], &field(b"a")]);
    let cases = [
        (vec![0x6A, 0x02, 0x00, 0x04], Packet::Pubrel(id(4).into())),
        (
            frame(0x8A, &subscribe_body),
            Packet::Subscribe(Subscribe {
                properties: Default::default(),
                packet_id: id(5),
                topics: vec![SubscribeTopic {
                    options: Default::default(),
                    filter: "a".into(),
                    qos: QoS::AtLeastOnce,
                }],
            }),
        ),
        (
            frame(0xAA, &unsubscribe_body),
            Packet::Unsubscribe(Unsubscribe {
                properties: Default::default(),
                packet_id: id(6),
                filters: vec!["a".into()],
            }),
        ),
    ];
    for (wire, packet) in cases {
        assert_eq!(mqtt31.decode(&wire), Ok(Some((packet.clone(), wire.len()))));
        assert_eq!(
            decode(&wire),
            Err(DecodeError::InvalidFlags {
                packet_type: packet.packet_type(),
                flags: 0b1010
            })
        );
    }
    // Everything else keeps its fixed flags under 3.1 too.
    for wire in [[0x4A, 0x02, 0x00, 0x01], [0x68, 0x02, 0x00, 0x01]] {
        assert!(matches!(
            mqtt31.decode(&wire),
            Err(DecodeError::InvalidFlags { .. })
        ));
    }
    assert_eq!(
        mqtt31.decode(&[0x38, 0x03, 0x00, 0x01, b't']),
        Err(DecodeError::DupOnQos0)
    );
}

/// DISCONNECT reserved bits must be zero ([MQTT-3.14.1-1]).
#[test]
fn mqtt_3_14_1_1_disconnect_reserved_bits_rejected() {
    assert_eq!(
        decode_error(&[0xE1, 0x00]),
        DecodeError::InvalidFlags {
            packet_type: PacketType::Disconnect,
            flags: 1
        }
    );
}

/// A PUBLISH with both QoS bits set is refused, whatever DUP and retain say ([MQTT-3.3.1-4]).
#[test]
fn mqtt_3_3_1_4_publish_qos_3_rejected() {
    for first in [0x36, 0x37, 0x3E, 0x3F] {
        assert_eq!(decode(&[first]), Err(DecodeError::InvalidPublishQos));
        let wire = frame(first, &cat(&[&field(b"t"), &[0x00, 0x01]]));
        assert_eq!(decode_error(&wire), DecodeError::InvalidPublishQos);
    }
}

/// DUP must be 0 on QoS 0 messages ([MQTT-3.3.1-2]).
#[test]
fn mqtt_3_3_1_2_dup_on_qos_0_rejected() {
    for first in [0x38, 0x39] {
        assert_eq!(decode(&[first]), Err(DecodeError::DupOnQos0));
        assert_eq!(
            decode_error(&frame(first, &field(b"t"))),
            DecodeError::DupOnQos0
        );
    }
}

/// The remaining length takes at most four bytes (section 2.2.3): a fourth byte with the
/// continuation bit is refused without waiting for a fifth.
#[test]
fn section_2_2_3_five_byte_remaining_length_rejected() {
    assert_eq!(
        decode(&[0x30, 0x80, 0x80, 0x80, 0x80]),
        Err(DecodeError::RemainingLengthTooLong)
    );
    assert_eq!(
        decode_error(&[0xC0, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        DecodeError::RemainingLengthTooLong
    );
    assert_eq!(decode(&[0x30, 0x80, 0x80, 0x80]), Ok(None));
}

/// A decoder with a 1 MiB limit refuses a header claiming 256 MiB from its five bytes alone, and
/// a body is never needed to tell.
#[test]
fn packet_too_large_refused_from_the_header_alone() {
    let decoder = Decoder::with_max_packet_size(1 << 20);
    let expected = DecodeError::PacketTooLarge {
        remaining_length: MAX_REMAINING_LENGTH,
        max_packet_size: 1 << 20,
    };
    let header = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
    assert_eq!(decoder.fixed_header(&header), Err(expected.clone()));
    assert_eq!(decoder.decode(&header), Err(expected));
    assert_eq!(decoder.max_packet_size(), 1 << 20);
}

/// The limit counts the whole packet, fixed header included: exactly at the limit passes, one
/// byte over fails.
#[test]
fn packet_too_large_limit_counts_the_fixed_header() {
    let wire = [0x40, 0x02, 0x00, 0x01];
    assert_eq!(
        Decoder::with_max_packet_size(4).decode(&wire),
        Ok(Some((Packet::Puback(id(1).into()), 4)))
    );
    assert_eq!(
        Decoder::with_max_packet_size(3).decode(&wire),
        Err(DecodeError::PacketTooLarge {
            remaining_length: 2,
            max_packet_size: 3
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Remaining length inconsistent with the content
// ---------------------------------------------------------------------------------------------

/// Every fixed-size packet with one byte too few and one byte too many inside its remaining length.
#[test]
fn fixed_size_packets_truncated_and_trailing_bytes() {
    let two_byte_bodies = [
        (0x20, PacketType::Connack),
        (0x40, PacketType::Puback),
        (0x50, PacketType::Pubrec),
        (0x62, PacketType::Pubrel),
        (0x70, PacketType::Pubcomp),
        (0xB0, PacketType::Unsuback),
    ];
    for (first, packet_type) in two_byte_bodies {
        assert_eq!(
            decode_error(&[first, 0x00]),
            DecodeError::Truncated(packet_type)
        );
        assert_eq!(
            decode_error(&[first, 0x01, 0x00]),
            DecodeError::Truncated(packet_type)
        );
        assert_eq!(
            decode_error(&[first, 0x03, 0x00, 0x01, 0x00]),
            DecodeError::TrailingBytes(packet_type)
        );
    }
    for (first, packet_type) in [
        (0xC0, PacketType::Pingreq),
        (0xD0, PacketType::Pingresp),
        (0xE0, PacketType::Disconnect),
    ] {
        assert_eq!(
            decode_error(&[first, 0x01, 0x00]),
            DecodeError::TrailingBytes(packet_type)
        );
    }
}

/// A string whose length prefix runs past the remaining length, and required fields missing
/// from variable-size packets.
#[test]
fn variable_size_packets_truncated() {
    use PacketType::*;
    let cases: [(&[u8], PacketType); 8] = [
        // topic length 5, 1 byte present
        (&[0x30, 0x03, 0x00, 0x05, b'a'], Publish),
        // QoS 1 without its packet identifier
        (&[0x32, 0x03, 0x00, 0x01, b't'], Publish),
        // only half a topic length
        (&[0x30, 0x01, 0x00], Publish),
        // filter without its requested QoS byte
        (&[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'], Subscribe),
        // filter length running past the end
        (&[0xA2, 0x05, 0x00, 0x01, 0x00, 0x02, b'a'], Unsubscribe),
        // SUBACK without return codes ([MQTT-3.9.3-1])
        (&[0x90, 0x02, 0x00, 0x01], Suback),
        // SUBSCRIBE without packet identifier
        (&[0x82, 0x00], Subscribe),
        // CONNECT without keep alive and client id
        (
            &[0x10, 0x08, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02],
            Connect,
        ),
    ];
    for (wire, packet_type) in cases {
        assert_eq!(
            decode_error(wire),
            DecodeError::Truncated(packet_type),
            "{wire:02X?}"
        );
    }
}

/// CONNECT payload fields must match the flags ([MQTT-3.1.2-11], [MQTT-3.1.2-18],
/// [MQTT-3.1.2-20]): fields the flags announce must be there, fields they don't must not.
#[test]
fn connect_payload_fields_must_match_the_flags() {
    let head = |flags: u8| cat(&[&field(b"MQTT"), &[0x04, flags, 0x00, 0x3C], &field(b"c")]);
    // user name present, flag not set
    let extra = frame(0x10, &cat(&[&head(0x02), &field(b"u")]));
    assert_eq!(
        decode_error(&extra),
        DecodeError::TrailingBytes(PacketType::Connect)
    );
    // user name flag set, field absent
    let missing = frame(0x10, &head(0x82));
    assert_eq!(
        decode_error(&missing),
        DecodeError::Truncated(PacketType::Connect)
    );
    // will flag set, will message absent
    let no_will_message = frame(0x10, &cat(&[&head(0x06), &field(b"w")]));
    assert_eq!(
        decode_error(&no_will_message),
        DecodeError::Truncated(PacketType::Connect)
    );
    // password flag set, field absent
    let no_password = frame(0x10, &cat(&[&head(0xC2), &field(b"u")]));
    assert_eq!(
        decode_error(&no_password),
        DecodeError::Truncated(PacketType::Connect)
    );
}

/// A SUBSCRIBE, UNSUBSCRIBE or PUBLISH body is delimited by the remaining length, not by the
/// buffer: bytes after it belong to the next packet.
#[test]
fn remaining_length_delimits_variable_size_packets() {
    let wire = cat(&[&[0xA2, 0x05, 0x00, 0x01], &field(b"a"), &[0xC0, 0x00]]);
    let expected = Packet::Unsubscribe(Unsubscribe {
        properties: Default::default(),
        packet_id: id(1),
        filters: vec!["a".into()],
    });
    assert_eq!(decode(&wire), Ok(Some((expected, 7))));
    assert_eq!(decode(&wire[7..]), Ok(Some((Packet::Pingreq, 2))));
}

// ---------------------------------------------------------------------------------------------
// Packet identifiers ([MQTT-2.3.1-1])
// ---------------------------------------------------------------------------------------------

/// A zero packet identifier is refused in every packet that carries one: PUBLISH at QoS 1 and 2,
/// SUBSCRIBE and UNSUBSCRIBE ([MQTT-2.3.1-1]) and the acknowledgements that echo them
/// ([MQTT-2.3.1-6], [MQTT-2.3.1-7]).
#[test]
fn mqtt_2_3_1_1_zero_packet_id_rejected_everywhere() {
    use PacketType::*;
    let publish_body = cat(&[&field(b"t"), &[0x00, 0x00], b"x"]);
    let cases = [
        (frame(0x32, &publish_body), Publish),
        (frame(0x34, &publish_body), Publish),
        (vec![0x40, 0x02, 0x00, 0x00], Puback),
        (vec![0x50, 0x02, 0x00, 0x00], Pubrec),
        (vec![0x62, 0x02, 0x00, 0x00], Pubrel),
        (vec![0x70, 0x02, 0x00, 0x00], Pubcomp),
        (
            frame(0x82, &cat(&[&[0x00, 0x00], &field(b"a"), &[0x00]])),
            Subscribe,
        ),
        (vec![0x90, 0x03, 0x00, 0x00, 0x00], Suback),
        (
            frame(0xA2, &cat(&[&[0x00, 0x00], &field(b"a")])),
            Unsubscribe,
        ),
        (vec![0xB0, 0x02, 0x00, 0x00], Unsuback),
    ];
    for (wire, packet_type) in cases {
        assert_eq!(
            decode_error(&wire),
            DecodeError::ZeroPacketId(packet_type),
            "{wire:02X?}"
        );
    }
}

/// At QoS 0 there is no identifier ([MQTT-2.3.1-5]): two zero bytes after the topic are payload.
#[test]
fn mqtt_2_3_1_5_qos_0_publish_has_no_packet_id() {
    let wire = frame(0x30, &cat(&[&field(b"t"), &[0x00, 0x00]]));
    let expected = Packet::Publish(Publish {
        properties: Default::default(),
        dup: false,
        qospid: QosPid::AtMostOnce,
        retain: false,
        topic: topic("t"),
        payload: Arc::from(&[0u8, 0][..]),
    });
    assert_eq!(decode(&wire), Ok(Some((expected, wire.len()))));
}

// ---------------------------------------------------------------------------------------------
// UTF-8 strings (section 1.5.3)
// ---------------------------------------------------------------------------------------------

/// Builds one packet per string field of the protocol, with `bad` as that field's content.
fn packets_with_string(bad: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let connect = |flags: u8, payload: &[&[u8]]| {
        let mut body = cat(&[&field(b"MQTT"), &[0x04, flags, 0x00, 0x3C]]);
        for part in payload {
            body.extend_from_slice(part);
        }
        frame(0x10, &body)
    };
    let s = field(bad);
    vec![
        ("client id", connect(0x02, &[&s])),
        (
            "will topic",
            connect(0x06, &[&field(b"c"), &s, &field(b"m")]),
        ),
        ("user name", connect(0x82, &[&field(b"c"), &s])),
        ("protocol name", frame(0x10, &cat(&[&s, &[0x04, 0x02]]))),
        ("topic name", frame(0x30, &cat(&[&s, b"payload"]))),
        (
            "subscribe filter",
            frame(0x82, &cat(&[&[0x00, 0x01], &s, &[0x00]])),
        ),
        (
            "unsubscribe filter",
            frame(0xA2, &cat(&[&[0x00, 0x01], &field(b"ok"), &s])),
        ),
    ]
}

fn assert_every_string_field_rejects(bad: &[u8], expected: DecodeError) {
    for (field_name, wire) in packets_with_string(bad) {
        assert_eq!(
            decode(&wire),
            Err(expected.clone()),
            "{field_name} holding {bad:02X?}"
        );
    }
}

/// Ill-formed UTF-8 is refused in every string field ([MQTT-1.5.3-1]): a bad continuation byte,
/// a byte that never occurs, an overlong encoding (even of U+0000), a cut-off sequence and a code
/// point above U+10FFFF.
#[test]
fn mqtt_1_5_3_1_ill_formed_utf8_rejected() {
    for bad in [
        &[b'a', 0xC3, 0x28][..],
        &[0xFF],
        &[0xC0, 0x80],
        &[0xE0, 0x80, 0xAF],
        &[b'x', 0xE2, 0x82],
        &[0xF4, 0x90, 0x80, 0x80],
        &[0x80],
    ] {
        assert_every_string_field_rejects(bad, DecodeError::InvalidUtf8);
    }
}

/// Encoded surrogates U+D800..U+DFFF are refused and named as such ([MQTT-1.5.3-1]).
#[test]
fn mqtt_1_5_3_1_surrogate_code_points_rejected() {
    for bad in [
        &[0xED, 0xA0, 0x80][..],
        &[b'a', 0xED, 0xBF, 0xBF],
        &[0xED, 0xB0, 0x80, b'z'],
    ] {
        assert_every_string_field_rejects(bad, DecodeError::Utf8Surrogate);
    }
    // ED 9F BF is U+D7FF, the last code point before the surrogates: fine.
    let wire = frame(0x30, &field(&[0xED, 0x9F, 0xBF]));
    assert!(matches!(decode(&wire), Ok(Some((Packet::Publish(_), _)))));
}

/// U+0000 is refused in every string field ([MQTT-1.5.3-2]).
#[test]
fn mqtt_1_5_3_2_null_character_rejected() {
    for bad in [&b"a\0b"[..], b"\0", b"ab\0"] {
        assert_every_string_field_rejects(bad, DecodeError::Utf8NullCharacter);
    }
}

/// A leading U+FEFF is kept as part of the string, not stripped ([MQTT-1.5.3-3]); characters
/// outside the BMP pass too.
#[test]
fn mqtt_1_5_3_3_byte_order_mark_is_kept() {
    let name = "\u{FEFF}a/\u{1F600}";
    let wire = frame(0x30, &field(name.as_bytes()));
    match decode(&wire) {
        Ok(Some((Packet::Publish(p), _))) => assert_eq!(p.topic.as_str(), name),
        other => panic!("unexpected {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// CONNECT (section 3.1)
// ---------------------------------------------------------------------------------------------

fn connect_wire(name: &[u8], level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    frame(
        0x10,
        &cat(&[&field(name), &[level, flags, 0x00, 0x3C], payload]),
    )
}

/// A protocol name other than "MQTT" or "MQIsdp" is refused; the comparison is exact
/// ([MQTT-3.1.2-1]).
#[test]
fn mqtt_3_1_2_1_bad_protocol_name_rejected() {
    for name in ["MQTX", "mqtt", "MQIsdP", "", "MQTT "] {
        assert_eq!(
            decode_error(&connect_wire(name.as_bytes(), 4, 0x02, &field(b"c"))),
            DecodeError::InvalidProtocolName(name.into()),
            "{name:?}"
        );
    }
}

/// A known protocol name with a level this library does not speak is reported as its own error,
/// so the server can answer CONNACK 0x01 ([MQTT-3.1.2-2]). The level is judged before anything
/// after it: a CONNECT of a later revision, whose variable header may go on differently, gets
/// the same answer. Level 5 (MQTT 5.0) is spoken: MQIsdp with it is not.
#[test]
fn mqtt_3_1_2_2_unsupported_protocol_level_reported_distinctly() {
    for (name, level) in [
        (&b"MQTT"[..], 6),
        (b"MQTT", 3),
        (b"MQTT", 0),
        (b"MQIsdp", 4),
        (b"MQIsdp", 5),
    ] {
        assert_eq!(
            decode_error(&connect_wire(name, level, 0x02, &field(b"c"))),
            DecodeError::UnsupportedProtocolLevel(level)
        );
    }
    // A later revision with properties after the keep alive.
    let later = frame(
        0x10,
        &cat(&[
            &field(b"MQTT"),
            &[0x06, 0x02, 0x00, 0x3C, 0x00],
            &field(b"c"),
        ]),
    );
    assert_eq!(
        decode_error(&later),
        DecodeError::UnsupportedProtocolLevel(6)
    );
    // Nothing after the level at all.
    let bare = frame(0x10, &cat(&[&field(b"MQTT"), &[0x06]]));
    assert_eq!(
        decode_error(&bare),
        DecodeError::UnsupportedProtocolLevel(6)
    );
}

/// The reserved connect flag, bit 0, must be zero ([MQTT-3.1.2-3]).
#[test]
fn mqtt_3_1_2_3_connect_reserved_flag_rejected() {
    for flags in [0x01, 0x03, 0xC3] {
        let payload = cat(&[&field(b"c"), &field(b"u"), &field(b"p")]);
        assert_eq!(
            decode_error(&connect_wire(b"MQTT", 4, flags, &payload)),
            DecodeError::ConnectReservedFlag
        );
    }
}

/// Without a will, will QoS and will retain must be zero ([MQTT-3.1.2-11], [MQTT-3.1.2-13],
/// [MQTT-3.1.2-15]).
#[test]
fn mqtt_3_1_2_13_and_15_will_qos_or_retain_without_will_rejected() {
    for flags in [0x0A, 0x12, 0x1A, 0x22, 0x3A] {
        assert_eq!(
            decode_error(&connect_wire(b"MQTT", 4, flags, &field(b"c"))),
            DecodeError::WillFlagsWithoutWill,
            "{flags:#04x}"
        );
    }
}

/// Will QoS 3 is refused ([MQTT-3.1.2-14]).
#[test]
fn mqtt_3_1_2_14_will_qos_3_rejected() {
    let payload = cat(&[&field(b"c"), &field(b"w"), &field(b"m")]);
    for flags in [0x1E, 0x3E] {
        assert_eq!(
            decode_error(&connect_wire(b"MQTT", 4, flags, &payload)),
            DecodeError::InvalidWillQos
        );
    }
}

/// A password needs a user name ([MQTT-3.1.2-22]).
#[test]
fn mqtt_3_1_2_22_password_without_user_name_rejected() {
    let payload = cat(&[&field(b"c"), &field(b"p")]);
    assert_eq!(
        decode_error(&connect_wire(b"MQTT", 4, 0x42, &payload)),
        DecodeError::PasswordWithoutUsername
    );
}

/// The will topic is a topic name: no wildcards, not empty ([MQTT-3.1.3-10], [MQTT-4.7.1-1],
/// [MQTT-4.7.3-1]).
#[test]
fn mqtt_3_1_3_10_will_topic_must_be_a_topic_name() {
    for (will_topic, error) in [
        (&b"a/+"[..], TopicError::WildcardInName),
        (b"#", TopicError::WildcardInName),
        (b"", TopicError::Empty),
    ] {
        let payload = cat(&[&field(b"c"), &field(will_topic), &field(b"m")]);
        assert_eq!(
            decode_error(&connect_wire(b"MQTT", 4, 0x06, &payload)),
            DecodeError::InvalidTopic(error)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// CONNACK (section 3.2)
// ---------------------------------------------------------------------------------------------

/// Acknowledge flag bits 7-1 are reserved and zero (section 3.2.2.1).
#[test]
fn section_3_2_2_1_connack_reserved_flags_rejected() {
    for flags in [0x02, 0x80, 0xFF] {
        assert_eq!(
            decode_error(&[0x20, 0x02, flags, 0x00]),
            DecodeError::InvalidConnackFlags(flags)
        );
    }
}

/// Return codes 6-255 are reserved (table 3.1).
#[test]
fn section_3_2_2_3_connack_reserved_return_code_rejected() {
    for code in [6, 0x80, 0xFF] {
        assert_eq!(
            decode_error(&[0x20, 0x02, 0x00, code]),
            DecodeError::InvalidConnectReturnCode(code)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// PUBLISH (section 3.3)
// ---------------------------------------------------------------------------------------------

/// The topic name in PUBLISH must not hold wildcards ([MQTT-3.3.2-2]) and must not be empty
/// ([MQTT-4.7.3-1]).
#[test]
fn mqtt_3_3_2_2_publish_topic_with_wildcard_rejected() {
    for (name, error) in [
        (&b"a/+"[..], TopicError::WildcardInName),
        (b"a/#", TopicError::WildcardInName),
        (b"+", TopicError::WildcardInName),
        (b"a+b", TopicError::WildcardInName),
        (b"", TopicError::Empty),
    ] {
        let wire = frame(0x32, &cat(&[&field(name), &[0x00, 0x01]]));
        assert_eq!(decode_error(&wire), DecodeError::InvalidTopic(error));
    }
}

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE, SUBACK, UNSUBSCRIBE (sections 3.8-3.10)
// ---------------------------------------------------------------------------------------------

/// A SUBSCRIBE needs at least one filter/QoS pair ([MQTT-3.8.3-3]).
#[test]
fn mqtt_3_8_3_3_subscribe_without_filters_rejected() {
    assert_eq!(
        decode_error(&[0x82, 0x02, 0x00, 0x01]),
        DecodeError::EmptySubscribe
    );
}

/// Requested QoS 3 is refused ([MQTT-3.8.3-4]).
#[test]
fn mqtt_3_8_3_4_subscribe_qos_3_rejected() {
    let wire = frame(0x82, &cat(&[&[0x00, 0x01], &field(b"a"), &[0x03]]));
    assert_eq!(decode_error(&wire), DecodeError::InvalidSubscribeQos(3));
}

/// The upper six bits of the requested-QoS byte are reserved and zero ([MQTT-3.8.3-4]), also in
/// a later entry.
#[test]
fn mqtt_3_8_3_4_subscribe_reserved_bits_rejected() {
    for byte in [0x04, 0x41, 0x80, 0xFC] {
        let wire = frame(
            0x82,
            &cat(&[&[0x00, 0x01], &field(b"a"), &[0x00], &field(b"b"), &[byte]]),
        );
        assert_eq!(decode_error(&wire), DecodeError::InvalidSubscribeQos(byte));
    }
}

/// SUBACK return codes other than 0, 1, 2 and 0x80 are reserved ([MQTT-3.9.3-2]).
#[test]
fn mqtt_3_9_3_2_suback_reserved_return_code_rejected() {
    for code in [0x03, 0x7F, 0x81, 0xFF] {
        assert_eq!(
            decode_error(&[0x90, 0x04, 0x00, 0x01, 0x00, code]),
            DecodeError::InvalidSubackCode(code)
        );
    }
}

/// An UNSUBSCRIBE needs at least one filter ([MQTT-3.10.3-2]).
#[test]
fn mqtt_3_10_3_2_unsubscribe_without_filters_rejected() {
    assert_eq!(
        decode_error(&[0xA2, 0x02, 0x00, 0x01]),
        DecodeError::EmptyUnsubscribe
    );
}

// ---------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------

/// Packets arriving back to back decode one after another, each reporting what it used.
#[test]
fn back_to_back_packets_decode_in_turn() {
    let packets = [
        Packet::Connect(Box::new(minimal_connect())),
        publish(false, QosPid::AtLeastOnce(id(3)), false, b"payload"),
        Packet::Pingreq,
        Packet::Pubrel(id(3).into()),
        Packet::Disconnect(mqtt::protocol::Disconnect::default()),
    ];
    let mut wire = Vec::new();
    for p in &packets {
        p.encode(&mut wire).unwrap();
    }
    let mut rest = &wire[..];
    for expected in &packets {
        let (packet, used) = decode(rest).unwrap().unwrap();
        assert_eq!(&packet, expected);
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
    assert_eq!(decode(rest), Ok(None));
}

// ---------------------------------------------------------------------------------------------
// Encoder refusals
// ---------------------------------------------------------------------------------------------

/// Fields are at most 65535 bytes (section 1.5.3); on error nothing is appended.
#[test]
fn section_1_5_3_encoder_refuses_field_over_65535_bytes() {
    let connect = Connect {
        client_id: "x".repeat(65_536),
        ..minimal_connect()
    };
    let mut out = vec![9];
    assert_eq!(
        Packet::Connect(Box::new(connect)).encode(&mut out),
        Err(EncodeError::FieldTooLong {
            field: "client id",
            len: 65_536
        })
    );
    assert_eq!(out, [9]);
    let fits = Connect {
        client_id: "x".repeat(65_535),
        ..minimal_connect()
    };
    let wire = Packet::Connect(Box::new(fits.clone())).to_bytes().unwrap();
    assert_eq!(
        decode(&wire),
        Ok(Some((Packet::Connect(Box::new(fits)), wire.len())))
    );
}

/// SUBSCRIBE, SUBACK and UNSUBSCRIBE without entries are not sent ([MQTT-3.8.3-3],
/// [MQTT-3.9.3-1], [MQTT-3.10.3-2]).
#[test]
fn encoder_refuses_empty_subscribe_suback_unsubscribe() {
    let cases = [
        (
            Packet::Subscribe(Subscribe {
                properties: Default::default(),
                packet_id: id(1),
                topics: vec![],
            }),
            PacketType::Subscribe,
        ),
        (
            Packet::Suback(Suback {
                properties: Default::default(),
                packet_id: id(1),
                codes: vec![],
            }),
            PacketType::Suback,
        ),
        (
            Packet::Unsubscribe(Unsubscribe {
                properties: Default::default(),
                packet_id: id(1),
                filters: vec![],
            }),
            PacketType::Unsubscribe,
        ),
    ];
    for (packet, packet_type) in cases {
        assert_eq!(packet.to_bytes(), Err(EncodeError::Empty(packet_type)));
    }
}

/// Strings holding U+0000 are not sent ([MQTT-1.5.3-2]).
#[test]
fn mqtt_1_5_3_2_encoder_refuses_null_character() {
    let client_id = Packet::Connect(Box::new(Connect {
        client_id: "a\0".into(),
        ..minimal_connect()
    }));
    let user_name = Packet::Connect(Box::new(Connect {
        username: Some("\0".into()),
        ..minimal_connect()
    }));
    let filter = Packet::Subscribe(Subscribe {
        properties: Default::default(),
        packet_id: id(1),
        topics: vec![SubscribeTopic {
            options: Default::default(),
            filter: "a/\0".into(),
            qos: QoS::AtMostOnce,
        }],
    });
    let unsubscribe = Packet::Unsubscribe(Unsubscribe {
        properties: Default::default(),
        packet_id: id(1),
        filters: vec!["ok".into(), "\0".into()],
    });
    for (packet, field) in [
        (client_id, "client id"),
        (user_name, "user name"),
        (filter, "topic filter"),
        (unsubscribe, "topic filter"),
    ] {
        let mut out = Vec::new();
        assert_eq!(
            packet.encode(&mut out),
            Err(EncodeError::NullCharacter { field })
        );
        assert!(out.is_empty());
    }
    let mut out = Vec::new();
    assert_eq!(
        encode_publish(&mut out, false, QosPid::AtMostOnce, false, "a\0", b""),
        Err(EncodeError::NullCharacter { field: "topic" })
    );
}

/// DUP is never sent on QoS 0 ([MQTT-3.3.1-2]).
#[test]
fn mqtt_3_3_1_2_encoder_refuses_dup_on_qos_0() {
    let mut out = Vec::new();
    assert_eq!(
        publish(true, QosPid::AtMostOnce, false, b"x").encode(&mut out),
        Err(EncodeError::DupOnQos0)
    );
    assert!(out.is_empty());
}

/// A password is never sent without a user name ([MQTT-3.1.2-22]).
#[test]
fn mqtt_3_1_2_22_encoder_refuses_password_without_user_name() {
    let connect = Connect {
        password: Some(b"secret".to_vec()),
        ..minimal_connect()
    };
    assert_eq!(
        Packet::Connect(Box::new(connect)).to_bytes(),
        Err(EncodeError::PasswordWithoutUsername)
    );
}

/// Errors describe themselves for logs and the C API's last-error message.
#[test]
fn errors_display_their_rule() {
    let decode_message = DecodeError::UnsupportedProtocolLevel(5).to_string();
    assert!(decode_message.contains('5'), "{decode_message}");
    let encode_message = EncodeError::NullCharacter { field: "user name" }.to_string();
    assert!(encode_message.contains("user name"), "{encode_message}");
    let topic_message = DecodeError::InvalidTopic(TopicError::WildcardInName).to_string();
    assert!(topic_message.contains("wildcard"), "{topic_message}");
}

// ---------------------------------------------------------------------------------------------
// Coverage of the error enums
// ---------------------------------------------------------------------------------------------

/// The name of each variant. The match has no wildcard arm, so a new variant does not compile
/// until it is listed here, and then `every_decode_error_variant_is_reachable` asks for an input.
fn decode_variant(error: &DecodeError) -> &'static str {
    use DecodeError::*;
    match error {
        ReservedPacketType(_) => "ReservedPacketType",
        InvalidFlags { .. } => "InvalidFlags",
        InvalidPublishQos => "InvalidPublishQos",
        DupOnQos0 => "DupOnQos0",
        RemainingLengthTooLong => "RemainingLengthTooLong",
        PacketTooLarge { .. } => "PacketTooLarge",
        Truncated(_) => "Truncated",
        TrailingBytes(_) => "TrailingBytes",
        ZeroPacketId(_) => "ZeroPacketId",
        InvalidUtf8 => "InvalidUtf8",
        Utf8Surrogate => "Utf8Surrogate",
        Utf8NullCharacter => "Utf8NullCharacter",
        InvalidProtocolName(_) => "InvalidProtocolName",
        UnsupportedProtocolLevel(_) => "UnsupportedProtocolLevel",
        ConnectReservedFlag => "ConnectReservedFlag",
        WillFlagsWithoutWill => "WillFlagsWithoutWill",
        InvalidWillQos => "InvalidWillQos",
        PasswordWithoutUsername => "PasswordWithoutUsername",
        InvalidTopic(_) => "InvalidTopic",
        InvalidConnackFlags(_) => "InvalidConnackFlags",
        InvalidConnectReturnCode(_) => "InvalidConnectReturnCode",
        EmptySubscribe => "EmptySubscribe",
        EmptyUnsubscribe => "EmptyUnsubscribe",
        InvalidSubscribeQos(_) => "InvalidSubscribeQos",
        InvalidSubackCode(_) => "InvalidSubackCode",
        NonMinimalVariableByteInteger => "NonMinimalVariableByteInteger",
        VariableByteIntegerTooLong => "VariableByteIntegerTooLong",
        UnknownProperty(_) => "UnknownProperty",
        PropertyNotAllowed { .. } => "PropertyNotAllowed",
        DuplicateProperty(_) => "DuplicateProperty",
        InvalidPropertyValue(_) => "InvalidPropertyValue",
        InvalidReasonCode { .. } => "InvalidReasonCode",
        InvalidRetainHandling => "InvalidRetainHandling",
    }
}

const DECODE_VARIANTS: usize = 33;

/// One input per [`DecodeError`] variant, each decoded to exactly that error; together they
/// reach every variant (the rules themselves are tested one by one above).
#[test]
fn every_decode_error_variant_is_reachable() {
    use DecodeError::*;
    let connect = |flags: u8, payload: &[u8]| connect_wire(b"MQTT", 4, flags, payload);
    let limited = Decoder::with_max_packet_size(64);
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (vec![0x00, 0x00], ReservedPacketType(0)),
        (
            vec![0x63, 0x02, 0x00, 0x01],
            InvalidFlags {
                packet_type: PacketType::Pubrel,
                flags: 0b0011,
            },
        ),
        (vec![0x36, 0x00], InvalidPublishQos),
        (vec![0x38, 0x00], DupOnQos0),
        (vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF], RemainingLengthTooLong),
        (
            vec![0x30, 0x7F],
            PacketTooLarge {
                remaining_length: 127,
                max_packet_size: 64,
            },
        ),
        (vec![0x40, 0x01, 0x00], Truncated(PacketType::Puback)),
        (
            vec![0xE0, 0x01, 0x00],
            TrailingBytes(PacketType::Disconnect),
        ),
        (
            vec![0xB0, 0x02, 0x00, 0x00],
            ZeroPacketId(PacketType::Unsuback),
        ),
        (connect(0x02, &field(&[0xC3, 0x28])), InvalidUtf8),
        (connect(0x02, &field(&[0xED, 0xA0, 0x80])), Utf8Surrogate),
        (connect(0x02, &field(b"\0")), Utf8NullCharacter),
        (
            connect_wire(b"MQTS", 4, 0x02, &field(b"c")),
            InvalidProtocolName("MQTS".into()),
        ),
        (
            connect_wire(b"MQTT", 6, 0x02, &field(b"c")),
            UnsupportedProtocolLevel(6),
        ),
        (connect(0x03, &field(b"c")), ConnectReservedFlag),
        (connect(0x22, &field(b"c")), WillFlagsWithoutWill),
        (
            connect(0x1E, &cat(&[&field(b"c"), &field(b"w"), &field(b"m")])),
            InvalidWillQos,
        ),
        (
            connect(0x42, &cat(&[&field(b"c"), &field(b"p")])),
            PasswordWithoutUsername,
        ),
        (
            frame(0x30, &field(b"a/#")),
            InvalidTopic(TopicError::WildcardInName),
        ),
        (vec![0x20, 0x02, 0x04, 0x00], InvalidConnackFlags(0x04)),
        (vec![0x20, 0x02, 0x00, 0x09], InvalidConnectReturnCode(9)),
        (vec![0x82, 0x02, 0x00, 0x01], EmptySubscribe),
        (vec![0xA2, 0x02, 0x00, 0x01], EmptyUnsubscribe),
        (
            frame(0x82, &cat(&[&[0x00, 0x01], &field(b"a"), &[0x43]])),
            InvalidSubscribeQos(0x43),
        ),
        (vec![0x90, 0x03, 0x00, 0x01, 0x40], InvalidSubackCode(0x40)),
    ];
    let mut reached = std::collections::BTreeSet::new();
    for (wire, expected) in cases {
        assert_eq!(limited.decode(&wire), Err(expected.clone()), "{wire:02X?}");
        reached.insert(decode_variant(&expected));
    }
    // What only MQTT 5.0 packets can break.
    let v5 = Decoder::default().with_protocol(ProtocolLevel::V5);
    let v5_cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (vec![0xC0, 0x80, 0x00], NonMinimalVariableByteInteger),
        (
            frame(0x40, &[0, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            VariableByteIntegerTooLong,
        ),
        (frame(0x40, &[0, 1, 0, 2, 0x05, 0]), UnknownProperty(5)),
        (
            frame(0x40, &[0, 1, 0, 3, 0x23, 0, 1]),
            PropertyNotAllowed {
                property: PropertyId::TopicAlias,
                context: PropertyContext::Puback,
            },
        ),
        (
            frame(0x40, &[0, 1, 0, 6, 0x1F, 0, 0, 0x1F, 0, 0]),
            DuplicateProperty(PropertyId::ReasonString),
        ),
        (
            frame(0x30, &[0, 1, b't', 3, 0x23, 0, 0]),
            InvalidPropertyValue(PropertyId::TopicAlias),
        ),
        (
            frame(0x40, &[0, 1, 0x92]),
            InvalidReasonCode {
                packet_type: PacketType::Puback,
                code: 0x92,
            },
        ),
        (
            frame(0x82, &cat(&[&[0, 1, 0], &field(b"a"), &[0x30]])),
            InvalidRetainHandling,
        ),
    ];
    for (wire, expected) in v5_cases {
        assert_eq!(v5.decode(&wire), Err(expected.clone()), "{wire:02X?}");
        reached.insert(decode_variant(&expected));
    }
    assert_eq!(reached.len(), DECODE_VARIANTS, "reached {reached:?}");
}

/// The same for [`EncodeError`]: one refused packet per variant.
#[test]
fn every_encode_error_variant_is_reachable() {
    fn encode_variant(error: &EncodeError) -> &'static str {
        match error {
            EncodeError::FieldTooLong { .. } => "FieldTooLong",
            EncodeError::PacketTooLarge(_) => "PacketTooLarge",
            EncodeError::Empty(_) => "Empty",
            EncodeError::NullCharacter { .. } => "NullCharacter",
            EncodeError::DupOnQos0 => "DupOnQos0",
            EncodeError::PasswordWithoutUsername => "PasswordWithoutUsername",
            EncodeError::NotInProtocol { .. } => "NotInProtocol",
            EncodeError::InvalidProperty(_) => "InvalidProperty",
        }
    }
    let oversized = vec![0u8; MAX_REMAINING_LENGTH];
    let results = [
        Packet::Connect(Box::new(Connect {
            username: Some("u".repeat(70_000)),
            ..minimal_connect()
        }))
        .to_bytes(),
        encode_publish(
            &mut Vec::new(),
            false,
            QosPid::AtMostOnce,
            false,
            "t",
            &oversized,
        )
        .map(|()| Vec::new()),
        Packet::Unsubscribe(Unsubscribe {
            properties: Default::default(),
            packet_id: id(1),
            filters: vec![],
        })
        .to_bytes(),
        Packet::Connect(Box::new(Connect {
            client_id: "\0".into(),
            ..minimal_connect()
        }))
        .to_bytes(),
        publish(true, QosPid::AtMostOnce, true, b"").to_bytes(),
        Packet::Connect(Box::new(Connect {
            password: Some(vec![1]),
            ..minimal_connect()
        }))
        .to_bytes(),
        Packet::Auth(Auth::default()).to_bytes(),
        Packet::Publish(Publish {
            properties: Properties(vec![Property::TopicAlias(0)]),
            ..match publish(false, QosPid::AtMostOnce, false, b"") {
                Packet::Publish(p) => p,
                _ => unreachable!(),
            }
        })
        .to_bytes_for(ProtocolLevel::V5),
    ];
    let reached: std::collections::BTreeSet<_> = results
        .iter()
        .map(|result| encode_variant(result.as_ref().expect_err("refused")))
        .collect();
    assert_eq!(reached.len(), 8, "reached {reached:?}");
}

/// A stream decoder that keeps the last PUBLISH's topic shares it with the next PUBLISH naming
/// the same topic, and still checks every other name as a topic name ([MQTT-3.3.2-1],
/// [MQTT-3.3.2-2], [MQTT-4.7.3-1]): a name it saw before is never confused with another.
#[test]
fn decode_reusing_shares_a_repeated_topic_and_still_checks_new_ones() {
    let publish = |name: &str| frame(0x30, &cat(&[&field(name.as_bytes()), b"p"]));
    let topic_of = |decoded: Result<Option<(Packet, usize)>, DecodeError>| match decoded {
        Ok(Some((Packet::Publish(p), _))) => p.topic,
        other => panic!("expected a PUBLISH, got {other:?}"),
    };
    let decoder = Decoder::default();
    let mut last = None;
    let first = topic_of(decoder.decode_reusing(&publish("a/b"), &mut last));
    let again = topic_of(decoder.decode_reusing(&publish("a/b"), &mut last));
    assert_eq!(again, topic("a/b"));
    assert!(std::ptr::eq(first.as_str(), again.as_str()), "shared");
    for refused in ["a/+", "a/#", ""] {
        assert!(
            matches!(
                decoder.decode_reusing(&publish(refused), &mut last),
                Err(DecodeError::InvalidTopic(_))
            ),
            "{refused:?} after a/b"
        );
    }
    let other = topic_of(decoder.decode_reusing(&publish("a/c"), &mut last));
    assert_eq!(other, topic("a/c"));
    assert_eq!(last, Some(topic("a/c")));
    let after = topic_of(decoder.decode_reusing(&publish("a/b"), &mut last));
    assert!(
        !std::ptr::eq(first.as_str(), after.as_str()),
        "a/c came between"
    );
    assert_eq!(after, topic("a/b"));
}
