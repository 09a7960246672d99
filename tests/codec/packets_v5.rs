//! The MQTT 5.0 side of the codec: byte-exact packets (the specification's own example where it
//! gives one), the short forms of acknowledgements, subscription options, reason codes per packet,
//! what an MQTT 3.1.1 peer gets of a 5.0 packet, and generated packets of every type with every
//! property round-tripping.

use std::sync::Arc;

use mqtt::protocol::*;
use mqtt::topic::TopicName;
use proptest::prelude::*;

fn id(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn v5() -> Decoder {
    Decoder::default().with_protocol(ProtocolLevel::V5)
}

fn decode_v5(bytes: &[u8]) -> Result<Packet, DecodeError> {
    match v5().decode(bytes)? {
        Some((packet, used)) => {
            assert_eq!(used, bytes.len(), "one whole packet");
            Ok(packet)
        }
        None => panic!("incomplete: {bytes:02X?}"),
    }
}

/// Encodes for MQTT 5.0, checks the bytes, and decodes them back to the same packet.
fn assert_wire_v5(packet: &Packet, wire: &[u8]) {
    assert_eq!(packet.to_bytes_for(ProtocolLevel::V5).unwrap(), wire);
    assert_eq!(&decode_v5(wire).unwrap(), packet);
}

fn string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

/// MQTT 5.0 section 3.1.2.12, figure 3-6: the variable header of a CONNECT with user name,
/// password, a QoS 1 will and Clean Start, keep-alive 10 and Session Expiry Interval 10; the
/// payload fields in their order (MQTT 5.0 [MQTT-3.1.3-1]).
#[test]
fn connect_variable_header_of_the_specification() {
    let mut will = LastWill::new(
        TopicName::new("w").unwrap(),
        b"m".to_vec(),
        QoS::AtLeastOnce,
        false,
    );
    will.properties.push(Property::WillDelayInterval(5));
    let connect = Packet::Connect(Box::new(Connect {
        protocol: ProtocolLevel::V5,
        clean_session: true,
        keep_alive: 10,
        client_id: "c".into(),
        will: Some(will),
        username: Some("u".into()),
        password: Some(b"p".to_vec()),
        properties: Properties(vec![Property::SessionExpiryInterval(10)]),
    }));
    let wire = connect.to_bytes().unwrap();
    let header = [
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        5,
        0b1100_1110,
        0,
        10,
        5,
        17,
        0,
        0,
        0,
        10,
    ];
    assert_eq!(&wire[2..2 + header.len()], header);
    let mut payload = string("c");
    payload.extend_from_slice(&[5, 0x18, 0, 0, 0, 5]);
    for field in ["w", "m", "u", "p"] {
        payload.extend_from_slice(&string(field));
    }
    assert_eq!(&wire[2 + header.len()..], payload);
    assert_eq!(wire[1] as usize, wire.len() - 2);
    // CONNECT decodes by the level it names, whatever the decoder was set to.
    assert_eq!(decode(&wire).unwrap().unwrap().0, connect);
}

/// MQTT 5.0 section 3.1.2.9: a password without a user name is allowed from 5.0 on.
#[test]
fn a_password_alone_is_allowed_in_5_0_only() {
    let mut connect = Connect {
        protocol: ProtocolLevel::V5,
        clean_session: true,
        keep_alive: 0,
        client_id: "c".into(),
        will: None,
        username: None,
        password: Some(b"p".to_vec()),
        properties: Properties::new(),
    };
    let wire = Packet::Connect(Box::new(connect.clone()))
        .to_bytes()
        .unwrap();
    assert_eq!(
        decode(&wire).unwrap().unwrap().0,
        Packet::Connect(Box::new(connect.clone()))
    );
    connect.protocol = ProtocolLevel::V311;
    assert_eq!(
        Packet::Connect(Box::new(connect)).to_bytes(),
        Err(EncodeError::PasswordWithoutUsername)
    );
}

/// MQTT 3.1 (MQIsdp) did not reserve CONNECT flag bit 0; 3.1.1 and 5.0 do ([MQTT-3.1.2-3]).
#[test]
fn the_connect_reserved_bit_is_checked_from_3_1_1_on() {
    for (name, level, accepted) in [("MQIsdp", 3, true), ("MQTT", 4, false), ("MQTT", 5, false)] {
        let mut body = string(name);
        body.extend_from_slice(&[level, 0b0000_0011, 0, 0]);
        if level == 5 {
            body.push(0);
        }
        body.extend_from_slice(&string("c"));
        let mut wire = vec![0x10, body.len() as u8];
        wire.extend_from_slice(&body);
        assert_eq!(decode(&wire).is_ok(), accepted, "{name} {level}");
    }
}

#[test]
fn connack_with_properties() {
    let connack = Packet::Connack(Connack {
        session_present: true,
        code: ReasonCode::SUCCESS,
        properties: Properties(vec![
            Property::AssignedClientIdentifier("id".into()),
            Property::ReceiveMaximum(10),
        ]),
    });
    assert_wire_v5(
        &connack,
        &[0x20, 11, 1, 0x00, 8, 0x12, 0, 2, b'i', b'd', 0x21, 0, 10],
    );
}

/// An MQTT 3.1.1 peer gets the return code of the same meaning (MQTT 5.0 section 3.2.2.2 lists
/// them side by side); refusals 3.1.1 has no code for become 0x03.
#[test]
fn connack_codes_map_between_revisions() {
    for (reason, code) in [
        (ReasonCode::SUCCESS, 0),
        (ReasonCode::UNSUPPORTED_PROTOCOL_VERSION, 1),
        (ReasonCode::CLIENT_IDENTIFIER_NOT_VALID, 2),
        (ReasonCode::SERVER_UNAVAILABLE, 3),
        (ReasonCode::BAD_USER_NAME_OR_PASSWORD, 4),
        (ReasonCode::NOT_AUTHORIZED, 5),
        (ReasonCode::QUOTA_EXCEEDED, 3),
    ] {
        let packet = Packet::Connack(Connack::new(false, reason));
        assert_eq!(packet.to_bytes().unwrap(), [0x20, 2, 0, code]);
    }
    assert_eq!(
        decode(&[0x20, 2, 0, 5]).unwrap().unwrap().0,
        Packet::Connack(Connack::new(false, ReasonCode::NOT_AUTHORIZED))
    );
}

/// MQTT 5.0 section 3.4.2.1: reason code and property length are left out when the reason is
/// success and there are no properties; the property length alone when there are none.
#[test]
fn acknowledgements_take_their_short_forms() {
    let plain = Packet::Puback(Ack::new(id(1)));
    assert_wire_v5(&plain, &[0x40, 2, 0, 1]);
    let refused = Packet::Pubrec(Ack {
        packet_id: id(1),
        reason: ReasonCode::NO_MATCHING_SUBSCRIBERS,
        properties: Properties::new(),
    });
    assert_wire_v5(&refused, &[0x50, 3, 0, 1, 0x10]);
    let explained = Packet::Pubrel(Ack {
        packet_id: id(2),
        reason: ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
        properties: Properties(vec![Property::ReasonString("x".into())]),
    });
    assert_wire_v5(&explained, &[0x62, 8, 0, 2, 0x92, 4, 0x1F, 0, 1, b'x']);
    // A reason with an empty property length decodes like the reason alone.
    assert_eq!(decode_v5(&[0x70, 4, 0, 3, 0x92, 0]).unwrap(), {
        Packet::Pubcomp(Ack {
            packet_id: id(3),
            reason: ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
            properties: Properties::new(),
        })
    });
    // An MQTT 3.1.1 peer gets the identifier only.
    assert_eq!(explained.to_bytes().unwrap(), [0x62, 2, 0, 2]);
}

/// A reason code a packet type does not define makes it malformed (MQTT 5.0 section 2.4;
/// [MQTT-3.2.2-8], [MQTT-3.4.2-1], [MQTT-3.6.2-1], [MQTT-3.14.2-1], [MQTT-3.15.2-1]).
#[test]
fn reason_codes_are_checked_per_packet_type() {
    let cases: [(&[u8], PacketType, u8); 5] = [
        (&[0x40, 3, 0, 1, 0x92], PacketType::Puback, 0x92),
        (&[0x62, 3, 0, 1, 0x10], PacketType::Pubrel, 0x10),
        (&[0x20, 3, 0, 0x8E, 0], PacketType::Connack, 0x8E),
        (&[0xE0, 1, 0x86], PacketType::Disconnect, 0x86),
        (&[0xF0, 1, 0x80], PacketType::Auth, 0x80),
    ];
    for (wire, packet_type, code) in cases {
        let err = decode_v5(wire).unwrap_err();
        assert_eq!(err, DecodeError::InvalidReasonCode { packet_type, code });
        assert_eq!(err.reason_code(), ReasonCode::MALFORMED_PACKET);
    }
    assert_eq!(
        decode_v5(&[0x90, 4, 0, 1, 0, 0x05]).unwrap_err(),
        DecodeError::InvalidSubackCode(0x05)
    );
}

#[test]
fn publish_with_properties_and_topic_alias() {
    let publish = Packet::Publish(Publish {
        dup: false,
        qospid: QosPid::AtLeastOnce(id(7)),
        retain: true,
        topic: TopicName::new("a/b").unwrap(),
        payload: Arc::from(&b"hi"[..]),
        properties: Properties(vec![
            Property::TopicAlias(1),
            Property::UserProperty("k".into(), "v".into()),
        ]),
    });
    assert_wire_v5(
        &publish,
        &[
            0x33, 20, 0, 3, b'a', b'/', b'b', 0, 7, 10, 0x23, 0, 1, 0x26, 0, 1, b'k', 0, 1, b'v',
            b'h', b'i',
        ],
    );
    // For an MQTT 3.1.1 subscriber the properties are left out.
    assert_eq!(
        publish.to_bytes().unwrap(),
        [0x33, 9, 0, 3, b'a', b'/', b'b', 0, 7, b'h', b'i']
    );
    // The topic may be empty when a Topic Alias names it (MQTT 5.0 section 3.3.2.3.4) ...
    let aliased = decode_v5(&[0x30, 6, 0, 0, 3, 0x23, 0, 1]).unwrap();
    let Packet::Publish(p) = aliased else {
        panic!("a PUBLISH")
    };
    assert!(p.topic.is_aliased());
    assert_eq!(p.properties.integer(PropertyId::TopicAlias), Some(1));
    // ... and not otherwise (section 3.3.2.1: a protocol error), nor ever in MQTT 3.1.1.
    let err = decode_v5(&[0x30, 3, 0, 0, 0]).unwrap_err();
    assert_eq!(err.reason_code(), ReasonCode::PROTOCOL_ERROR);
    assert!(decode(&[0x30, 2, 0, 0]).is_err());
    assert!(matches!(
        Packet::Publish(p).to_bytes(),
        Err(EncodeError::NotInProtocol { .. })
    ));
}

/// MQTT 5.0 section 3.8.3.1: QoS in bits 0-1, No Local, Retain As Published, Retain Handling in
/// bits 4-5 (3 is a protocol error), bits 6-7 reserved (malformed, [MQTT-3.8.3-5]).
#[test]
fn subscription_options() {
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: id(1),
        topics: vec![
            SubscribeTopic {
                filter: "a".into(),
                qos: QoS::ExactlyOnce,
                options: SubscriptionOptions {
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: 2,
                },
            },
            SubscribeTopic::new("b", QoS::AtMostOnce),
        ],
        properties: Properties(vec![Property::SubscriptionIdentifier(300)]),
    });
    assert_wire_v5(
        &subscribe,
        &[
            0x82,
            14,
            0,
            1,
            3,
            0x0B,
            0xAC,
            0x02,
            0,
            1,
            b'a',
            0b0010_1110,
            0,
            1,
            b'b',
            0,
        ],
    );
    // The same SUBSCRIBE for MQTT 3.1.1: no properties, the QoS alone.
    assert_eq!(
        subscribe.to_bytes().unwrap(),
        [0x82, 10, 0, 1, 0, 1, b'a', 2, 0, 1, b'b', 0]
    );
    let retain_handling_3 = [0x82, 7, 0, 1, 0, 0, 1, b'a', 0b0011_0000];
    let err = decode_v5(&retain_handling_3).unwrap_err();
    assert_eq!(err, DecodeError::InvalidRetainHandling);
    assert_eq!(err.reason_code(), ReasonCode::PROTOCOL_ERROR);
    let reserved = [0x82, 7, 0, 1, 0, 0, 1, b'a', 0b0100_0000];
    assert_eq!(
        decode_v5(&reserved).unwrap_err(),
        DecodeError::InvalidSubscribeQos(0b0100_0000)
    );
    // MQTT 3.1.1 reserves the bits 5.0 uses for options ([MQTT-3.8.3-4]).
    assert!(decode(&[0x82, 6, 0, 1, 0, 1, b'a', 0b0000_0100]).is_err());
}

/// A property length of 0 is sent, not left out (MQTT 5.0 [MQTT-2.2.2-1]); one reason code per
/// filter (MQTT 5.0 [MQTT-3.9.3-2], [MQTT-3.11.3-2]).
#[test]
fn suback_and_unsuback_carry_a_code_per_filter() {
    let suback = Packet::Suback(Suback {
        packet_id: id(1),
        codes: vec![ReasonCode::GRANTED_QOS_1, ReasonCode::NOT_AUTHORIZED],
        properties: Properties::new(),
    });
    assert_wire_v5(&suback, &[0x90, 5, 0, 1, 0, 0x01, 0x87]);
    // MQTT 3.1.1 knows one failure code ([MQTT-3.9.3-2]).
    assert_eq!(suback.to_bytes().unwrap(), [0x90, 4, 0, 1, 0x01, 0x80]);
    let unsuback = Packet::Unsuback(Unsuback {
        packet_id: id(2),
        codes: vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED],
        properties: Properties::new(),
    });
    assert_wire_v5(&unsuback, &[0xB0, 5, 0, 2, 0, 0x00, 0x11]);
    assert_eq!(unsuback.to_bytes().unwrap(), [0xB0, 2, 0, 2]);
    assert_eq!(
        decode(&[0xB0, 2, 0, 2]).unwrap().unwrap().0,
        Packet::Unsuback(Unsuback::new(id(2)))
    );
}

/// MQTT 5.0 sections 3.14.2.1 and 3.15.2.1: DISCONNECT and AUTH with success and no properties
/// have no body at all.
#[test]
fn disconnect_and_auth() {
    assert_wire_v5(&Packet::Disconnect(Disconnect::default()), &[0xE0, 0]);
    let taken_over = Packet::Disconnect(Disconnect::new(ReasonCode::SESSION_TAKEN_OVER));
    assert_wire_v5(&taken_over, &[0xE0, 1, 0x8E]);
    assert_eq!(taken_over.to_bytes().unwrap(), [0xE0, 0]);
    let auth = Packet::Auth(Auth {
        reason: ReasonCode::CONTINUE_AUTHENTICATION,
        properties: Properties(vec![
            Property::AuthenticationMethod("SCRAM".into()),
            Property::AuthenticationData(vec![1]),
        ]),
    });
    assert_wire_v5(
        &auth,
        &[
            0xF0, 14, 0x18, 12, 0x15, 0, 5, b'S', b'C', b'R', b'A', b'M', 0x16, 0, 1, 1,
        ],
    );
    assert_wire_v5(&Packet::Auth(Auth::default()), &[0xF0, 0]);
    // AUTH does not exist before 5.0: the number is reserved (section 2.2.1).
    assert_eq!(decode(&[0xF0, 0]), Err(DecodeError::ReservedPacketType(15)));
    assert!(matches!(
        auth.to_bytes(),
        Err(EncodeError::NotInProtocol { .. })
    ));
    // A property DISCONNECT may not carry: malformed.
    assert!(matches!(
        decode_v5(&[0xE0, 5, 0x00, 3, 0x23, 0, 1]),
        Err(DecodeError::PropertyNotAllowed { .. })
    ));
}

/// [MQTT-1.5.5-1]: MQTT 5.0 wants the remaining length in the fewest bytes; 3.1.1 accepted more.
#[test]
fn remaining_length_must_be_minimal_in_5_0() {
    let padded = [0xC0, 0x80, 0x00];
    assert_eq!(decode(&padded).unwrap().unwrap().0, Packet::Pingreq);
    assert_eq!(
        v5().decode(&padded),
        Err(DecodeError::NonMinimalVariableByteInteger)
    );
}

/// The size limit applies from the fixed header alone under 5.0 too.
#[test]
fn a_huge_claimed_length_is_refused_from_the_header() {
    let decoder = Decoder::with_max_packet_size(1024).with_protocol(ProtocolLevel::V5);
    assert!(matches!(
        decoder.decode(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]),
        Err(DecodeError::PacketTooLarge { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Generated packets
// ---------------------------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/ é€😀]{0,12}"
}

fn flag() -> impl Strategy<Value = u8> {
    0u8..=1
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..8)
}

/// Any property with a value valid for it.
fn property() -> impl Strategy<Value = Property> {
    prop_oneof![
        flag().prop_map(Property::PayloadFormatIndicator),
        any::<u32>().prop_map(Property::MessageExpiryInterval),
        text().prop_map(Property::ContentType),
        text().prop_map(Property::ResponseTopic),
        bytes().prop_map(Property::CorrelationData),
        (1..=MAX_VAR_INT).prop_map(Property::SubscriptionIdentifier),
        any::<u32>().prop_map(Property::SessionExpiryInterval),
        text().prop_map(Property::AssignedClientIdentifier),
        any::<u16>().prop_map(Property::ServerKeepAlive),
        text().prop_map(Property::AuthenticationMethod),
        bytes().prop_map(Property::AuthenticationData),
        flag().prop_map(Property::RequestProblemInformation),
        any::<u32>().prop_map(Property::WillDelayInterval),
        flag().prop_map(Property::RequestResponseInformation),
        text().prop_map(Property::ResponseInformation),
        text().prop_map(Property::ServerReference),
        text().prop_map(Property::ReasonString),
        (1..=u16::MAX).prop_map(Property::ReceiveMaximum),
        any::<u16>().prop_map(Property::TopicAliasMaximum),
        (1..=u16::MAX).prop_map(Property::TopicAlias),
        flag().prop_map(Property::MaximumQos),
        flag().prop_map(Property::RetainAvailable),
        (text(), text()).prop_map(|(k, v)| Property::UserProperty(k, v)),
        (1..=u32::MAX).prop_map(Property::MaximumPacketSize),
        flag().prop_map(Property::WildcardSubscriptionAvailable),
        flag().prop_map(Property::SubscriptionIdentifierAvailable),
        flag().prop_map(Property::SharedSubscriptionAvailable),
    ]
}

/// A property list valid in `context`: generated freely, then the properties the context does
/// not allow and repeats of single-valued ones dropped.
fn properties(context: PropertyContext) -> impl Strategy<Value = Properties> {
    prop::collection::vec(property(), 0..8).prop_map(move |list| {
        let mut kept = Properties::new();
        for p in list {
            let id = p.id();
            let repeat = kept.get(id).is_some() && !id.repeatable_in(context);
            if id.allowed_in(context) && !repeat {
                kept.push(p);
            }
        }
        kept
    })
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(|n| PacketId::new(n).unwrap())
}

fn qos() -> impl Strategy<Value = QoS> {
    prop::sample::select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn topic() -> impl Strategy<Value = TopicName> {
    "[a-z]{1,4}(/[a-z]{0,3}){0,3}".prop_map(|s| TopicName::new(&s).unwrap())
}

fn reason_in(context: PropertyContext) -> impl Strategy<Value = ReasonCode> {
    let valid: Vec<ReasonCode> = (0..=255u8)
        .map(ReasonCode)
        .filter(|r| r.is_valid_in(context))
        .collect();
    prop::sample::select(valid)
}

fn ack(context: PropertyContext) -> impl Strategy<Value = Ack> {
    (packet_id(), reason_in(context), properties(context)).prop_map(
        |(packet_id, reason, properties)| Ack {
            packet_id,
            reason,
            properties,
        },
    )
}

fn connect() -> impl Strategy<Value = Connect> {
    let will = (
        topic(),
        bytes(),
        qos(),
        any::<bool>(),
        properties(PropertyContext::Will),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| LastWill {
            topic,
            payload,
            qos,
            retain,
            properties,
        });
    (
        any::<bool>(),
        any::<u16>(),
        text(),
        prop::option::of(will),
        prop::option::of(text()),
        prop::option::of(bytes()),
        properties(PropertyContext::Connect),
    )
        .prop_map(
            |(clean_session, keep_alive, client_id, will, username, password, properties)| {
                Connect {
                    protocol: ProtocolLevel::V5,
                    clean_session,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }
            },
        )
}

fn subscribe_topic() -> impl Strategy<Value = SubscribeTopic> {
    (text(), qos(), any::<bool>(), any::<bool>(), 0u8..=2).prop_map(
        |(filter, qos, no_local, retain_as_published, retain_handling)| SubscribeTopic {
            filter,
            qos,
            options: SubscriptionOptions {
                no_local,
                retain_as_published,
                retain_handling,
            },
        },
    )
}

/// Every MQTT 5.0 packet type with generated fields and properties.
fn packet() -> impl Strategy<Value = Packet> {
    use PropertyContext as C;
    prop_oneof![
        connect().prop_map(|c| Packet::Connect(Box::new(c))),
        (any::<bool>(), reason_in(C::Connack), properties(C::Connack)).prop_map(
            |(session_present, code, properties)| Packet::Connack(Connack {
                session_present,
                code,
                properties,
            })
        ),
        (
            any::<bool>(),
            packet_id(),
            qos(),
            any::<bool>(),
            topic(),
            bytes(),
            properties(C::Publish)
        )
            .prop_map(|(dup, id, qos, retain, topic, payload, properties)| {
                let qospid = QosPid::new(qos, id);
                Packet::Publish(Publish {
                    dup: dup && qospid != QosPid::AtMostOnce,
                    qospid,
                    retain,
                    topic,
                    payload: Arc::from(payload),
                    properties,
                })
            }),
        ack(C::Puback).prop_map(Packet::Puback),
        ack(C::Pubrec).prop_map(Packet::Pubrec),
        ack(C::Pubrel).prop_map(Packet::Pubrel),
        ack(C::Pubcomp).prop_map(Packet::Pubcomp),
        (
            packet_id(),
            prop::collection::vec(subscribe_topic(), 1..4),
            properties(C::Subscribe)
        )
            .prop_map(
                |(packet_id, topics, properties)| Packet::Subscribe(Subscribe {
                    packet_id,
                    topics,
                    properties,
                })
            ),
        (
            packet_id(),
            prop::collection::vec(reason_in(C::Suback), 1..4),
            properties(C::Suback)
        )
            .prop_map(|(packet_id, codes, properties)| Packet::Suback(Suback {
                packet_id,
                codes,
                properties,
            })),
        (
            packet_id(),
            prop::collection::vec(text(), 1..4),
            properties(C::Unsubscribe)
        )
            .prop_map(|(packet_id, filters, properties)| Packet::Unsubscribe(
                Unsubscribe {
                    packet_id,
                    filters,
                    properties,
                }
            )),
        (
            packet_id(),
            prop::collection::vec(reason_in(C::Unsuback), 1..4),
            properties(C::Unsuback)
        )
            .prop_map(|(packet_id, codes, properties)| Packet::Unsuback(Unsuback {
                packet_id,
                codes,
                properties,
            })),
        Just(Packet::Pingreq),
        Just(Packet::Pingresp),
        (reason_in(C::Disconnect), properties(C::Disconnect))
            .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties })),
        (reason_in(C::Auth), properties(C::Auth))
            .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties })),
    ]
}

proptest! {
    /// Every packet type with any valid properties encodes for 5.0 and decodes back to itself.
    #[test]
    fn every_packet_round_trips(packet in packet()) {
        let wire = packet.to_bytes_for(ProtocolLevel::V5).unwrap();
        prop_assert_eq!(decode_v5(&wire).unwrap(), packet);
    }

    /// Every strict prefix of a packet asks for more bytes; it never errors or decodes.
    #[test]
    fn every_prefix_needs_more(packet in packet()) {
        let wire = packet.to_bytes_for(ProtocolLevel::V5).unwrap();
        for end in 0..wire.len() {
            prop_assert_eq!(v5().decode(&wire[..end]), Ok(None));
        }
    }

    /// Encoding for an MQTT 3.1.1 peer never fails for what 3.1.1 can carry, and the result
    /// decodes under 3.1.1 rules.
    #[test]
    fn encoding_for_3_1_1_yields_valid_3_1_1(packet in packet()) {
        let representable = !matches!(packet, Packet::Auth(_))
            && !matches!(&packet, Packet::Connect(c) if c.password.is_some() && c.username.is_none());
        if representable {
            let mut packet = packet;
            if let Packet::Connect(c) = &mut packet {
                c.protocol = ProtocolLevel::V311;
            }
            let wire = packet.to_bytes().unwrap();
            prop_assert!(decode(&wire).unwrap().is_some());
        }
    }

    /// Arbitrary bytes never panic a 5.0 decoder, which never claims more than it was given.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        if let Ok(Some((_, used))) = v5().decode(&bytes) {
            prop_assert!(used <= bytes.len());
        }
    }

    /// Property lists valid for a context round-trip on their own, and a list invalid for it is
    /// refused by the decoder exactly when `validate` refuses it.
    #[test]
    fn property_lists_round_trip(
        list in prop::collection::vec(property(), 0..10),
        context in prop::sample::select(vec![
            PropertyContext::Connect, PropertyContext::Will, PropertyContext::Connack,
            PropertyContext::Publish, PropertyContext::Puback, PropertyContext::Subscribe,
            PropertyContext::Disconnect, PropertyContext::Auth,
        ]),
    ) {
        let properties = Properties(list);
        let mut wire = Vec::new();
        properties.encode(&mut wire).unwrap();
        prop_assert_eq!(wire.len(), properties.encoded_len().unwrap());
        match properties.validate(context) {
            Ok(()) => prop_assert_eq!(
                Properties::decode(&wire, context).unwrap(),
                (properties, wire.len())
            ),
            Err(_) => prop_assert!(Properties::decode(&wire, context).is_err()),
        }
    }
}
