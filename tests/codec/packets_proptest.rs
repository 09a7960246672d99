//! Properties of the codec over generated packets and bytes: valid packets of every type
//! round-trip exactly, every strict prefix asks for more bytes, back-to-back packets split
//! correctly, the encoder only produces what the decoder accepts, and no byte string makes the
//! decoder panic or claim more bytes than it was given.

use std::sync::Arc;

use mqtt::protocol::*;
use mqtt::topic::TopicName;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Strategies for valid packets
// ---------------------------------------------------------------------------------------------

/// Any Unicode scalar but U+0000 (section 1.5.3), so also multi-byte and non-BMP characters.
fn string_char() -> impl Strategy<Value = char> {
    any::<char>().prop_filter("U+0000 is not allowed", |c| *c != '\0')
}

fn mqtt_string() -> impl Strategy<Value = String> {
    prop::collection::vec(string_char(), 0..12).prop_map(|chars| chars.into_iter().collect())
}

fn topic_level() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "sport", "", "$SYS", " "]).prop_map(String::from),
        1 => prop::collection::vec(
            string_char().prop_filter("wildcards and separators", |c| !"+#/".contains(*c)),
            0..6,
        )
        .prop_map(|chars| chars.into_iter().collect()),
    ]
}

fn topic_name() -> impl Strategy<Value = TopicName> {
    prop::collection::vec(topic_level(), 1..5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("topic names are not empty", |s| !s.is_empty())
        .prop_map(|s| TopicName::new(&s).expect("generated topic name is valid"))
}

fn qos() -> impl Strategy<Value = QoS> {
    prop::sample::select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(|n| PacketId::new(n).expect("range excludes zero"))
}

fn qospid() -> impl Strategy<Value = QosPid> {
    prop_oneof![
        Just(QosPid::AtMostOnce),
        packet_id().prop_map(QosPid::AtLeastOnce),
        packet_id().prop_map(QosPid::ExactlyOnce),
    ]
}

/// Payloads long enough that remaining lengths take two bytes.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..300)
}

fn connect() -> impl Strategy<Value = Connect> {
    let will = (topic_name(), payload(), qos(), any::<bool>()).prop_map(
        |(topic, payload, qos, retain)| LastWill {
            properties: Default::default(),
            topic,
            payload,
            qos,
            retain,
        },
    );
    let credentials = prop_oneof![
        Just((None, None)),
        mqtt_string().prop_map(|u| (Some(u), None)),
        (mqtt_string(), payload()).prop_map(|(u, p)| (Some(u), Some(p))),
    ];
    (
        prop::sample::select(vec![ProtocolLevel::V31, ProtocolLevel::V311]),
        any::<bool>(),
        any::<u16>(),
        mqtt_string(),
        prop::option::of(will),
        credentials,
    )
        .prop_map(
            |(protocol, clean_session, keep_alive, client_id, will, (username, password))| {
                Connect {
                    properties: Default::default(),
                    protocol,
                    clean_session,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                }
            },
        )
}

fn connack() -> impl Strategy<Value = Connack> {
    (any::<bool>(), 0..=5u8).prop_map(|(session_present, code)| Connack {
        properties: Default::default(),
        session_present,
        code: ConnectReturnCode::from_u8(code)
            .expect("0..=5 are defined")
            .to_reason(),
    })
}

fn publish() -> impl Strategy<Value = Publish> {
    (
        qospid(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        payload(),
    )
        .prop_map(|(qospid, dup, retain, topic, payload)| Publish {
            properties: Default::default(),
            // DUP is only meaningful, and only allowed, above QoS 0 ([MQTT-3.3.1-2]).
            dup: dup && qospid != QosPid::AtMostOnce,
            qospid,
            retain,
            topic,
            payload: Arc::from(payload),
        })
}

fn subscribe() -> impl Strategy<Value = Subscribe> {
    let entry = (mqtt_string(), qos()).prop_map(|(filter, qos)| SubscribeTopic {
        options: Default::default(),
        filter,
        qos,
    });
    (packet_id(), prop::collection::vec(entry, 1..6)).prop_map(|(packet_id, topics)| Subscribe {
        properties: Default::default(),
        packet_id,
        topics,
    })
}

fn suback() -> impl Strategy<Value = Suback> {
    let code = prop_oneof![
        qos().prop_map(SubackCode::Granted),
        Just(SubackCode::Failure)
    ]
    .prop_map(SubackCode::to_reason);
    (packet_id(), prop::collection::vec(code, 1..10)).prop_map(|(packet_id, codes)| Suback {
        properties: Default::default(),
        packet_id,
        codes,
    })
}

fn unsubscribe() -> impl Strategy<Value = Unsubscribe> {
    (packet_id(), prop::collection::vec(mqtt_string(), 1..6)).prop_map(|(packet_id, filters)| {
        Unsubscribe {
            properties: Default::default(),
            packet_id,
            filters,
        }
    })
}

/// Every one of the 14 packet types with valid fields.
fn valid_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        connect().prop_map(|c| Packet::Connect(Box::new(c))),
        connack().prop_map(Packet::Connack),
        publish().prop_map(Packet::Publish),
        packet_id().prop_map(|id| Packet::Puback(Ack::new(id))),
        packet_id().prop_map(|id| Packet::Pubrec(Ack::new(id))),
        packet_id().prop_map(|id| Packet::Pubrel(Ack::new(id))),
        packet_id().prop_map(|id| Packet::Pubcomp(Ack::new(id))),
        subscribe().prop_map(Packet::Subscribe),
        suback().prop_map(Packet::Suback),
        unsubscribe().prop_map(Packet::Unsubscribe),
        packet_id().prop_map(|id| Packet::Unsuback(Unsuback::new(id))),
        Just(Packet::Pingreq),
        Just(Packet::Pingresp),
        Just(Packet::Disconnect(mqtt::protocol::Disconnect::default())),
    ]
}

// ---------------------------------------------------------------------------------------------
// Strategies for packets the encoder must refuse or may accept
// ---------------------------------------------------------------------------------------------

/// Strings that may hold U+0000.
fn loose_string() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![4 => any::<char>(), 1 => Just('\0')], 0..6)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Packets whose fields may break the rules the encoder enforces: U+0000 in strings, DUP at
/// QoS 0, a password without user name, empty SUBSCRIBE/SUBACK/UNSUBSCRIBE.
fn loose_packet() -> impl Strategy<Value = Packet> {
    let connect = (
        connect(),
        loose_string(),
        prop::option::of(loose_string()),
        prop::option::of(payload()),
    )
        .prop_map(|(mut c, client_id, username, password)| {
            c.client_id = client_id;
            c.username = username;
            c.password = password;
            Packet::Connect(Box::new(c))
        });
    let publish = (publish(), any::<bool>()).prop_map(|(mut p, dup)| {
        p.dup = dup;
        Packet::Publish(p)
    });
    let subscribe = (
        packet_id(),
        prop::collection::vec((loose_string(), qos()), 0..3),
    )
        .prop_map(|(packet_id, entries)| {
            Packet::Subscribe(Subscribe {
                properties: Default::default(),
                packet_id,
                topics: entries
                    .into_iter()
                    .map(|(filter, qos)| SubscribeTopic {
                        options: Default::default(),
                        filter,
                        qos,
                    })
                    .collect(),
            })
        });
    let suback = (
        packet_id(),
        prop::collection::vec(Just(SubackCode::Failure.to_reason()), 0..2),
    )
        .prop_map(|(packet_id, codes)| {
            Packet::Suback(Suback {
                properties: Default::default(),
                packet_id,
                codes,
            })
        });
    let unsubscribe = (packet_id(), prop::collection::vec(loose_string(), 0..3)).prop_map(
        |(packet_id, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                properties: Default::default(),
                packet_id,
                filters,
            })
        },
    );
    prop_oneof![connect, publish, subscribe, suback, unsubscribe]
}

/// A valid packet's encoding with a few bytes overwritten, cut off or inserted: inputs that get
/// past the first checks far more often than random bytes do.
fn mutated_encoding() -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), any::<u8>(), 0..3u8);
    (valid_packet(), prop::collection::vec(edit, 1..4)).prop_map(|(packet, edits)| {
        let mut bytes = packet.to_bytes().expect("valid packets encode");
        for (index, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = index.index(bytes.len());
            match kind {
                0 => bytes[at] = byte,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, byte),
            }
        }
        bytes
    })
}

/// Decodes `bytes` with `decoder` and checks what any answer must satisfy: no panic, a packet uses
/// at least two bytes and no more than it was given, and whatever decodes encodes back to bytes
/// that decode to the same packet.
fn check_decode_is_sound(decoder: Decoder, bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(Some((packet, used))) = decoder.decode(bytes) {
        prop_assert!(used >= 2 && used <= bytes.len());
        prop_assert!(used <= decoder.max_packet_size());
        let again = packet.to_bytes().expect("a decoded packet encodes");
        prop_assert_eq!(decode(&again), Ok(Some((packet, again.len()))));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any valid packet encodes, and decodes back to an equal packet using exactly its bytes; the
    /// decoded packet encodes to the same bytes again.
    #[test]
    fn valid_packets_round_trip(packet in valid_packet()) {
        let bytes = packet.to_bytes().expect("valid packets encode");
        let decoded = decode(&bytes);
        prop_assert_eq!(&decoded, &Ok(Some((packet.clone(), bytes.len()))));
        prop_assert_eq!(packet.to_bytes(), Ok(bytes));
    }

    /// Every strict prefix of a valid packet is "need more bytes", never an error.
    #[test]
    fn strict_prefixes_need_more_bytes(packet in valid_packet()) {
        let bytes = packet.to_bytes().expect("valid packets encode");
        for end in 0..bytes.len() {
            prop_assert_eq!(decode(&bytes[..end]), Ok(None), "prefix of {} bytes", end);
        }
    }

    /// Packets sent back to back decode one after another, each using exactly its own bytes,
    /// also when the stream stops partway into the next one.
    #[test]
    fn concatenated_packets_decode_in_turn(
        packets in prop::collection::vec(valid_packet(), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        for packet in &packets {
            packet.encode(&mut stream).expect("valid packets encode");
            ends.push(stream.len());
        }
        let mut offset = 0;
        for (packet, end) in packets.iter().zip(&ends) {
            let (decoded, used) = decode(&stream[offset..])
                .expect("no error")
                .expect("a whole packet");
            prop_assert_eq!(&decoded, packet);
            offset += used;
            prop_assert_eq!(offset, *end);
        }
        let cut_at = cut.index(stream.len());
        let last_start = ends.iter().rev().nth(1).copied().unwrap_or(0);
        if cut_at > last_start {
            prop_assert_eq!(decode(&stream[last_start..cut_at]), Ok(None));
        }
    }

    /// A size limit passes exactly the packets that fit in it and refuses the rest from their
    /// header.
    #[test]
    fn size_limit_is_exact(packet in valid_packet(), max in 2..400usize) {
        let bytes = packet.to_bytes().expect("valid packets encode");
        let decoder = Decoder::with_max_packet_size(max);
        if bytes.len() <= max {
            prop_assert_eq!(decoder.decode(&bytes), Ok(Some((packet, bytes.len()))));
        } else {
            let header = decoder.fixed_header(&bytes);
            let refused = matches!(header, Err(DecodeError::PacketTooLarge { .. }));
            prop_assert!(refused, "{:?}", header);
        }
    }

    /// Whatever the encoder accepts, the decoder accepts and returns unchanged; whatever it
    /// refuses leaves the output buffer untouched.
    #[test]
    fn encoder_only_produces_decodable_packets(packet in loose_packet()) {
        let mut out = vec![0xEE];
        match packet.encode(&mut out) {
            Ok(()) => prop_assert_eq!(decode(&out[1..]), Ok(Some((packet, out.len() - 1)))),
            Err(_) => prop_assert_eq!(out, vec![0xEE]),
        }
    }

    /// Arbitrary bytes never panic the decoder, with or without a small size limit.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        check_decode_is_sound(Decoder::default(), &bytes)?;
        check_decode_is_sound(Decoder::with_max_packet_size(8), &bytes)?;
    }

    /// Arbitrary bytes behind a plausible first byte reach the body parsers.
    #[test]
    fn arbitrary_bodies_never_panic(
        first in prop::sample::select(vec![
            0x10u8, 0x20, 0x30, 0x32, 0x3D, 0x40, 0x50, 0x62, 0x6A, 0x70, 0x82, 0x8A, 0x90, 0xA2,
            0xAA, 0xB0,
        ]),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = vec![first, body.len() as u8];
        bytes.extend_from_slice(&body);
        check_decode_is_sound(Decoder::default(), &bytes)?;
        check_decode_is_sound(Decoder::with_max_packet_size(16), &bytes)?;
        check_decode_is_sound(Decoder::default().with_protocol(ProtocolLevel::V31), &bytes)?;
    }

    /// Damaged encodings of valid packets never panic the decoder.
    #[test]
    fn mutated_packets_never_panic(bytes in mutated_encoding()) {
        check_decode_is_sound(Decoder::default(), &bytes)?;
        check_decode_is_sound(Decoder::with_max_packet_size(32), &bytes)?;
    }
}
