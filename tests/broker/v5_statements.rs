//! MQTT 5.0 statements about the broker that need a scenario of their own: a Response Topic that
//! is not UTF-8, DISCONNECT with reserved bits, other packets while the client's Receive Maximum
//! is used up, QoS 2 exchanges that outlive the message's expiry, an identifier used again after a
//! failed PUBREC, a shared and a plain subscription of one client, and what acknowledgements
//! carry for a client that asks for no problem information or has a small Maximum Packet Size.
//! Statement ids are MQTT 5.0's.

use std::time::Duration;

use mqtt::broker::{Broker, BrokerOptions};
use mqtt::protocol::*;

use super::v5::*;

fn with(list: Vec<Property>) -> Properties {
    Properties(list)
}

/// [MQTT-3.3.2-13], [MQTT-1.5.4-1]: a Response Topic that is not UTF-8 makes the PUBLISH
/// malformed: DISCONNECT 0x81.
#[test]
fn mqtt_3_3_2_13_a_response_topic_that_is_not_utf8_is_malformed() {
    let broker = broker(BrokerOptions::default());
    let mut peer = join5(&broker, "p");
    // PUBLISH QoS 0 to "t", properties: Response Topic (0x08) of the one byte 0xFF, payload "x".
    peer.send_raw(&[0x30, 9, 0, 1, b't', 4, 0x08, 0, 1, 0xFF, b'x']);
    assert_eq!(peer.expect_disconnect(), ReasonCode::MALFORMED_PACKET);
}

/// [MQTT-3.14.1-1]: a DISCONNECT whose reserved flag bits are not 0 is answered with DISCONNECT
/// 0x81, then the close.
#[test]
fn mqtt_3_14_1_1_disconnect_with_reserved_bits_gets_disconnect_0x81() {
    let broker = broker(BrokerOptions::default());
    let mut peer = join5(&broker, "p");
    peer.send_raw(&[0xE1, 0]);
    assert_eq!(peer.expect_disconnect(), ReasonCode::MALFORMED_PACKET);
}

/// [MQTT-3.3.4-10], [MQTT-4.9.0-3]: with the client's Receive Maximum used up the broker sends
/// no more PUBLISHes, but answers everything else at once; the PUBACK that frees the quota lets
/// the next message go.
#[test]
fn mqtt_4_9_0_3_other_packets_are_answered_while_the_send_quota_is_zero() {
    let broker = broker(BrokerOptions::default());
    let (mut sub, _) = join(
        &broker,
        connect5("sub", with(vec![Property::ReceiveMaximum(1)])),
    );
    subscribe_one(&mut sub, 1, "q", QoS::AtLeastOnce);
    broker.publish("q", &[1], QoS::AtLeastOnce, false).unwrap();
    broker.publish("q", &[2], QoS::AtLeastOnce, false).unwrap();
    let first = sub.expect_publish();
    assert_eq!(&*first.payload, [1]);
    sub.expect_nothing(Duration::from_millis(200));

    sub.send(&Packet::Pingreq);
    assert_eq!(sub.next(), Some(Packet::Pingresp));
    subscribe_one(&mut sub, 2, "other", QoS::AtMostOnce);
    sub.send(&Packet::Unsubscribe(Unsubscribe {
        packet_id: id(3),
        filters: vec!["other".into()],
        properties: Properties::new(),
    }));
    assert!(matches!(sub.next(), Some(Packet::Unsuback(u)) if u.packet_id == id(3)));
    sub.send(&publish(
        "elsewhere",
        b"1",
        QosPid::AtLeastOnce(id(4)),
        Properties::new(),
    ));
    assert_eq!(sub.next(), Some(Packet::Puback(Ack::new(id(4)))));
    sub.send(&publish(
        "elsewhere",
        b"2",
        QosPid::ExactlyOnce(id(5)),
        Properties::new(),
    ));
    assert_eq!(sub.next(), Some(Packet::Pubrec(Ack::new(id(5)))));
    sub.send(&Packet::Pubrel(Ack::new(id(5))));
    assert_eq!(sub.next(), Some(Packet::Pubcomp(Ack::new(id(5)))));

    sub.send(&Packet::Puback(Ack::new(first.qospid.packet_id().unwrap())));
    assert_eq!(&*sub.expect_publish().payload, [2]);
}

/// [MQTT-4.3.3-7]: a QoS 2 message the broker sent expires before PUBREC: the exchange still
/// completes, and after a reconnect the PUBLISH is sent again (DUP, same identifier) although
/// it expired, then PUBREL and PUBCOMP.
#[test]
fn mqtt_4_3_3_7_a_qos_2_message_sent_by_the_broker_does_not_expire() {
    let broker = broker(BrokerOptions::default());
    let keep = with(vec![Property::SessionExpiryInterval(60)]);
    let (mut sub, _) = join(&broker, connect5("sub", keep.clone()));
    subscribe_one(&mut sub, 1, "e", QoS::ExactlyOnce);
    let mut publisher = join5(&broker, "pub");
    for n in 1..=2u16 {
        publisher.send(&publish(
            "e",
            &[n as u8],
            QosPid::ExactlyOnce(id(n)),
            with(vec![Property::MessageExpiryInterval(1)]),
        ));
        assert_eq!(publisher.next(), Some(Packet::Pubrec(Ack::new(id(n)))));
    }
    let first = sub.expect_publish();
    let second = sub.expect_publish();
    std::thread::sleep(Duration::from_millis(1300));

    // Completed on the same connection after the expiry.
    let first_id = first.qospid.packet_id().unwrap();
    sub.send(&Packet::Pubrec(Ack::new(first_id)));
    assert_eq!(sub.next(), Some(Packet::Pubrel(Ack::new(first_id))));
    sub.send(&Packet::Pubcomp(Ack::new(first_id)));

    // Sent again on the next connection after the expiry.
    drop(sub);
    let mut again = connect5("sub", keep);
    again.clean_session = false;
    let (mut sub, connack) = join(&broker, again);
    assert!(connack.session_present);
    let resent = sub.expect_publish();
    assert!(resent.dup);
    assert_eq!(resent.qospid, second.qospid);
    assert_eq!(resent.payload, second.payload);
    assert_eq!(
        resent.properties.integer(PropertyId::MessageExpiryInterval),
        None,
        "no interval of 0"
    );
    let second_id = second.qospid.packet_id().unwrap();
    sub.send(&Packet::Pubrec(Ack::new(second_id)));
    assert_eq!(sub.next(), Some(Packet::Pubrel(Ack::new(second_id))));
    sub.send(&Packet::Pubcomp(Ack::new(second_id)));
    sub.expect_nothing(Duration::from_millis(200));
}

/// [MQTT-4.3.3-13]: a QoS 2 message from the client expires before its PUBREL arrives: the
/// broker completes the exchange (PUBCOMP 0x00, not 0x92).
#[test]
fn mqtt_4_3_3_13_the_broker_completes_a_qos_2_exchange_after_the_message_expired() {
    let broker = broker(BrokerOptions::default());
    let mut publisher = join5(&broker, "pub");
    publisher.send(&publish(
        "late",
        b"x",
        QosPid::ExactlyOnce(id(1)),
        with(vec![Property::MessageExpiryInterval(1)]),
    ));
    assert_eq!(publisher.next(), Some(Packet::Pubrec(Ack::new(id(1)))));
    std::thread::sleep(Duration::from_millis(1300));
    publisher.send(&Packet::Pubrel(Ack::new(id(1))));
    assert_eq!(publisher.next(), Some(Packet::Pubcomp(Ack::new(id(1)))));
}

/// [MQTT-4.3.3-9]: after the broker answered a QoS 2 PUBLISH with PUBREC 0x99 (payload format
/// invalid), a PUBLISH with the same identifier is a new message: acknowledged with 0x00 and
/// delivered.
#[test]
fn mqtt_4_3_3_9_an_identifier_refused_by_pubrec_starts_a_new_message() {
    let broker = broker(BrokerOptions::default());
    let mut sub = join5(&broker, "sub");
    subscribe_one(&mut sub, 1, "pf", QoS::ExactlyOnce);
    let mut publisher = join5(&broker, "pub");
    let utf8 = || with(vec![Property::PayloadFormatIndicator(1)]);
    publisher.send(&publish("pf", &[0xFF], QosPid::ExactlyOnce(id(7)), utf8()));
    match publisher.next() {
        Some(Packet::Pubrec(a)) => assert_eq!(a.reason, ReasonCode::PAYLOAD_FORMAT_INVALID),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    publisher.send(&publish("pf", b"ok", QosPid::ExactlyOnce(id(7)), utf8()));
    assert_eq!(publisher.next(), Some(Packet::Pubrec(Ack::new(id(7)))));
    assert_eq!(&*sub.expect_publish().payload, b"ok");
    publisher.send(&Packet::Pubrel(Ack::new(id(7))));
    assert_eq!(publisher.next(), Some(Packet::Pubcomp(Ack::new(id(7)))));
    sub.expect_nothing(Duration::from_millis(200));
}

/// [MQTT-3.3.4-5]: a client matching through a shared and a plain subscription gets one
/// PUBLISH per subscription, each with that subscription's identifier only.
#[test]
fn mqtt_3_3_4_5_each_copy_carries_its_own_subscriptions_identifier() {
    let broker = broker(BrokerOptions::default());
    let mut me = join5(&broker, "me");
    for (packet_id, filter, identifier) in [(1, "$share/g/news", 1), (2, "news", 2)] {
        subscribe(
            &mut me,
            packet_id,
            vec![SubscribeTopic::new(filter, QoS::AtMostOnce)],
            with(vec![Property::SubscriptionIdentifier(identifier)]),
        );
    }
    broker
        .publish("news", b"n", QoS::AtMostOnce, false)
        .unwrap();
    let mut identifiers: Vec<Vec<u32>> = (0..2)
        .map(|_| {
            me.expect_publish()
                .properties
                .iter()
                .filter_map(|p| match p {
                    Property::SubscriptionIdentifier(i) => Some(*i),
                    _ => None,
                })
                .collect()
        })
        .collect();
    identifiers.sort();
    assert_eq!(identifiers, [vec![1], vec![2]]);
    me.expect_nothing(Duration::from_millis(200));
}

/// `packet`, which the broker sent, once checked: no Reason String or User Property, and no
/// larger than `max` bytes.
fn checked(packet: Packet, max: usize) -> Packet {
    {
        let size = packet.to_bytes_for(ProtocolLevel::V5).unwrap().len();
        assert!(size <= max, "{packet:?}: {size} bytes");
        let properties = match &packet {
            Packet::Connack(c) => &c.properties,
            Packet::Puback(a) | Packet::Pubrec(a) | Packet::Pubrel(a) | Packet::Pubcomp(a) => {
                &a.properties
            }
            Packet::Suback(s) => &s.properties,
            Packet::Unsuback(u) => &u.properties,
            Packet::Auth(a) => &a.properties,
            Packet::Disconnect(d) => &d.properties,
            Packet::Publish(p) => &p.properties,
            _ => return packet,
        };
        assert!(
            properties
                .iter()
                .all(|p| !matches!(p.id(), PropertyId::ReasonString | PropertyId::UserProperty)),
            "{packet:?}"
        );
        packet
    }
}

/// Walks a client through every packet the broker sends (CONNACK after AUTH, SUBACK, UNSUBACK,
/// PUBACK and PUBREC with and without a failure code, PUBCOMP, PUBLISH, PUBREL, AUTH of a
/// re-authentication, DISCONNECT) and checks each with `check_sent`.
fn every_packet_the_broker_sends(broker: &Broker, client_id: &str, extra: Vec<Property>) {
    let max = extra
        .iter()
        .find_map(|p| match p {
            Property::MaximumPacketSize(n) => Some(*n as usize),
            _ => None,
        })
        .unwrap_or(usize::MAX);
    let mut props = extra;
    props.push(Property::AuthenticationMethod("count".into()));
    props.push(Property::AuthenticationData(vec![1]));
    let mut peer = Peer::open(broker, ProtocolLevel::V5);
    peer.send(&Packet::Connect(Box::new(connect5(client_id, with(props)))));
    let next = |peer: &mut Peer| checked(peer.next().expect("a packet"), max);
    assert!(matches!(next(&mut peer), Packet::Auth(_)));
    peer.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "count", &[4]));
    assert!(matches!(next(&mut peer), Packet::Connack(c) if c.code == ReasonCode::SUCCESS));

    peer.send(&Packet::Subscribe(Subscribe {
        packet_id: id(1),
        topics: vec![SubscribeTopic::new("t", QoS::ExactlyOnce)],
        properties: Properties::new(),
    }));
    assert!(matches!(next(&mut peer), Packet::Suback(_)));
    peer.send(&Packet::Unsubscribe(Unsubscribe {
        packet_id: id(2),
        filters: vec!["none".into()],
        properties: Properties::new(),
    }));
    assert!(matches!(next(&mut peer), Packet::Unsuback(_)));
    let utf8 = || with(vec![Property::PayloadFormatIndicator(1)]);
    peer.send(&publish("x", &[0xFF], QosPid::AtLeastOnce(id(3)), utf8()));
    assert!(matches!(next(&mut peer), Packet::Puback(a) if !a.reason.is_success()));
    peer.send(&publish("x", &[0xFF], QosPid::ExactlyOnce(id(4)), utf8()));
    assert!(matches!(next(&mut peer), Packet::Pubrec(a) if !a.reason.is_success()));
    peer.send(&publish(
        "x",
        b"1",
        QosPid::AtLeastOnce(id(5)),
        Properties::new(),
    ));
    assert!(matches!(next(&mut peer), Packet::Puback(_)));
    peer.send(&publish(
        "x",
        b"2",
        QosPid::ExactlyOnce(id(6)),
        Properties::new(),
    ));
    assert!(matches!(next(&mut peer), Packet::Pubrec(_)));
    peer.send(&Packet::Pubrel(Ack::new(id(6))));
    assert!(matches!(next(&mut peer), Packet::Pubcomp(_)));

    broker.publish("t", b"m", QoS::ExactlyOnce, false).unwrap();
    let Packet::Publish(delivered) = next(&mut peer) else {
        panic!("expected PUBLISH");
    };
    let delivered_id = delivered.qospid.packet_id().unwrap();
    peer.send(&Packet::Pubrec(Ack::new(delivered_id)));
    assert!(matches!(next(&mut peer), Packet::Pubrel(_)));
    peer.send(&Packet::Pubcomp(Ack::new(delivered_id)));

    peer.send(&auth(ReasonCode::RE_AUTHENTICATE, "count", &[1]));
    assert!(matches!(next(&mut peer), Packet::Auth(_)));
    peer.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "count", &[4]));
    assert!(matches!(next(&mut peer), Packet::Auth(a) if a.reason == ReasonCode::SUCCESS));

    // A second CONNECT: DISCONNECT 0x82.
    peer.send(&Packet::Connect(Box::new(connect5(
        client_id,
        Properties::new(),
    ))));
    assert!(matches!(next(&mut peer), Packet::Disconnect(_)));
    assert_eq!(peer.next(), None);
}

/// [MQTT-3.1.2-29]: a client that asks for no problem information gets no Reason String or
/// User Property on any packet but PUBLISH, CONNACK and DISCONNECT — here on none at all.
#[test]
fn mqtt_3_1_2_29_no_problem_information_when_asked_for_none() {
    let broker = counting_broker();
    every_packet_the_broker_sends(
        &broker,
        "quiet",
        vec![Property::RequestProblemInformation(0)],
    );
}

/// [MQTT-3.2.2-19], [MQTT-3.2.2-20], [MQTT-3.4.2-2], [MQTT-3.4.2-3], [MQTT-3.5.2-2],
/// [MQTT-3.5.2-3], [MQTT-3.6.2-2], [MQTT-3.6.2-3], [MQTT-3.7.2-2], [MQTT-3.7.2-3],
/// [MQTT-3.9.2-1], [MQTT-3.9.2-2], [MQTT-3.11.2-1], [MQTT-3.11.2-2], [MQTT-3.14.2-3],
/// [MQTT-3.14.2-4], [MQTT-3.15.2-2], [MQTT-3.15.2-3]: to a client with a small Maximum Packet
/// Size (40 bytes: room for this CONNACK's Authentication Data), CONNACK, PUBACK, PUBREC,
/// PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT and AUTH come without Reason String or User
/// Properties and within the limit (the Reason String a full store adds to PUBACK and PUBREC:
/// `broker::persistence::a_full_store_tells_5_0_publishers_why_within_their_limits`).
#[test]
fn acknowledgements_fit_a_small_maximum_packet_size() {
    let broker = counting_broker();
    every_packet_the_broker_sends(&broker, "small", vec![Property::MaximumPacketSize(40)]);
}

/// MQTT 5.0 [MQTT-3.1.2-24] for CONNACK itself: a CONNACK that would exceed the client's Maximum
/// Packet Size first loses what it may do without (Response Information); one that still does
/// not fit (here the exchange's Authentication Data) is not sent at all: the client is refused
/// with a bare CONNACK 0x95 (5 bytes) and the connection closes, and no session is left behind.
#[test]
fn a_connack_that_cannot_fit_the_clients_maximum_packet_size_is_not_sent() {
    let options = BrokerOptions {
        response_information: Some("responses/for/clients/that/ask/for/them".into()),
        ..BrokerOptions::default()
    };
    let broker = broker(options);
    let asked = with(vec![
        Property::RequestResponseInformation(1),
        Property::MaximumPacketSize(20),
    ]);
    let mut peer = Peer::open(&broker, ProtocolLevel::V5);
    peer.send(&Packet::Connect(Box::new(connect5("fits", asked))));
    match peer.next() {
        Some(Packet::Connack(c)) => {
            assert_eq!(c.code, ReasonCode::SUCCESS);
            assert!(c.properties.get(PropertyId::ResponseInformation).is_none());
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }

    let broker = counting_broker();
    let mut peer = Peer::open(&broker, ProtocolLevel::V5);
    let props = with(vec![
        Property::MaximumPacketSize(24),
        Property::AuthenticationMethod("count".into()),
        Property::AuthenticationData(vec![1]),
    ]);
    peer.send(&Packet::Connect(Box::new(connect5("too-small", props))));
    assert!(matches!(peer.next(), Some(Packet::Auth(_))));
    peer.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "count", &[4]));
    match peer.next() {
        Some(Packet::Connack(c)) => {
            assert_eq!(c.code, ReasonCode::PACKET_TOO_LARGE);
            assert!(c.properties.is_empty());
        }
        other => panic!("expected CONNACK 0x95, got {other:?}"),
    }
    assert_eq!(peer.next(), None, "closed after the refusal");
    assert_eq!(broker.stats().sessions, 0);
}
