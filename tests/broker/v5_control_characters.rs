//! Control characters U+0001..U+001F and U+007F..U+009F in client identifiers, user names, topic
//! names and topic filters: MQTT 5.0 section 1.5.4 (3.1.1 section 1.5.3) lets a receiver treat
//! them as malformed, and the broker does, as mosquitto 2.0 does, at every protocol level.
//! Payloads and User Properties may hold them.

use super::v5::*;
use mqtt::broker::{Broker, BrokerOptions};
use mqtt::protocol::*;
use std::time::Duration;

/// One control character of each range, as UTF-8: its one or two bytes.
const CONTROLS: [&str; 5] = ["\u{1}", "\u{1f}", "\u{7f}", "\u{80}", "\u{9f}"];

const LEVELS: [ProtocolLevel; 3] = [ProtocolLevel::V31, ProtocolLevel::V311, ProtocolLevel::V5];

fn connect_at(protocol: ProtocolLevel, client_id: &str) -> Connect {
    Connect {
        protocol,
        ..connect5(client_id, Properties::new())
    }
}

/// Connects at `protocol` and checks the CONNACK accepts.
fn join_at(broker: &Broker, protocol: ProtocolLevel, client_id: &str) -> Peer {
    let (peer, connack) = join(broker, connect_at(protocol, client_id));
    assert_eq!(
        connack.code,
        ReasonCode::SUCCESS,
        "{protocol:?} {client_id:?}"
    );
    peer
}

/// The broker closes the connection; a 5.0 client first gets DISCONNECT 0x81.
fn expect_malformed(peer: &mut Peer, what: &str) {
    if peer.protocol.is_v5() {
        assert_eq!(
            peer.expect_disconnect(),
            ReasonCode::MALFORMED_PACKET,
            "{what}"
        );
    } else {
        assert_eq!(peer.next(), None, "{what}: closed");
    }
}

/// [MQTT-3.1.3-8]: a client identifier holding a control character is refused with CONNACK
/// 0x85 (0x02 before 5.0) and the connection closed.
#[test]
fn mqtt_3_1_3_8_a_client_id_with_a_control_character_is_refused() {
    let broker = broker(BrokerOptions::default());
    for protocol in LEVELS {
        for control in CONTROLS {
            let (mut peer, connack) = join(&broker, connect_at(protocol, &format!("a{control}b")));
            assert_eq!(connack.code, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
            assert!(!connack.session_present);
            assert_eq!(peer.next(), None, "{protocol:?} {control:?}: closed");
        }
    }
    // U+00A0 follows the C1 range and is an ordinary character.
    join_at(&broker, ProtocolLevel::V5, "a\u{a0}b");
}

/// A user name or a will topic holding a control character makes the CONNECT malformed
/// ([MQTT-3.1.4-1]): the connection closes without CONNACK.
#[test]
fn mqtt_3_1_4_1_a_user_name_or_will_topic_with_a_control_character_closes_without_connack() {
    let broker = broker(BrokerOptions::default());
    for protocol in LEVELS {
        for control in CONTROLS {
            let mut named = connect_at(protocol, "named");
            named.username = Some(format!("user{control}"));
            let mut willing = connect_at(protocol, "willing");
            willing.will = Some(qos0_will(&format!("will/{control}"), b"w".to_vec()));
            for connect in [named, willing] {
                let mut peer = Peer::open(&broker, protocol);
                peer.send(&Packet::Connect(Box::new(connect)));
                assert_eq!(peer.next(), None, "{protocol:?} {control:?}: no CONNACK");
            }
        }
    }
}

/// A PUBLISH topic, a SUBSCRIBE filter or an UNSUBSCRIBE filter holding a control character is
/// a malformed packet: DISCONNECT 0x81 to a 5.0 client ([MQTT-4.13.1-1]), and the connection
/// closes at every level. The message is not delivered.
#[test]
fn topics_and_filters_with_a_control_character_close_the_connection() {
    let broker = broker(BrokerOptions::default());
    let mut watcher = join5(&broker, "watcher");
    subscribe_one(&mut watcher, 1, "#", QoS::AtMostOnce);
    for protocol in LEVELS {
        for control in CONTROLS {
            let topic = format!("t/{control}");
            let mut publisher = join_at(&broker, protocol, "publisher");
            publisher.send(&publish(
                &topic,
                b"p",
                QosPid::AtMostOnce,
                Properties::new(),
            ));
            expect_malformed(&mut publisher, "PUBLISH");

            let mut subscriber = join_at(&broker, protocol, "subscriber");
            subscriber.send(&Packet::Subscribe(Subscribe {
                packet_id: id(1),
                topics: vec![
                    SubscribeTopic::new("fine", QoS::AtMostOnce),
                    SubscribeTopic::new(topic.as_str(), QoS::AtMostOnce),
                ],
                properties: Properties::new(),
            }));
            expect_malformed(&mut subscriber, "SUBSCRIBE");

            let mut leaving = join_at(&broker, protocol, "leaving");
            leaving.send(&Packet::Unsubscribe(Unsubscribe {
                packet_id: id(1),
                filters: vec![topic.clone()],
                properties: Properties::new(),
            }));
            expect_malformed(&mut leaving, "UNSUBSCRIBE");
        }
    }
    watcher.expect_nothing(Duration::from_millis(200));
}

/// Payloads and User Properties are not restricted, nor characters outside the two ranges.
#[test]
fn payloads_user_properties_and_other_characters_pass() {
    let broker = broker(BrokerOptions::default());
    let mut sub = join5(&broker, "sub");
    subscribe_one(&mut sub, 1, "t/\u{a0}/#", QoS::AtLeastOnce);
    let mut publisher = join_at(&broker, ProtocolLevel::V5, "pub");
    let properties = Properties(vec![Property::UserProperty(
        "k\u{1}".into(),
        "v\u{7f}\u{85}".into(),
    )]);
    publisher.send(&publish(
        "t/\u{a0}/\u{fffd}",
        b"\x01\x1f\x7f\xc2\x85",
        QosPid::AtLeastOnce(id(1)),
        properties.clone(),
    ));
    assert!(matches!(publisher.next(), Some(Packet::Puback(a)) if a.reason.is_success()));
    let got = sub.expect_publish();
    assert_eq!(&*got.payload, b"\x01\x1f\x7f\xc2\x85");
    assert_eq!(got.properties, properties);
}
