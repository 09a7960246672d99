//! Shared subscriptions when a member goes away mid delivery (MQTT 5.0 section 4.8.2): a member
//! that comes back with its session gets its QoS 2 delivery completed ([MQTT-4.8.2-4]); once its
//! session ends, a QoS 2 message it was sent goes to nobody else ([MQTT-4.8.2-5]), while its
//! unacknowledged QoS 1 messages and the messages it had not been sent yet go to another member.
//! Statement ids are MQTT 5.0's.

use std::time::{Duration, Instant};

use mqtt::broker::{Broker, BrokerOptions};
use mqtt::protocol::*;

use super::v5::*;

const GROUP: &str = "$share/g/jobs";

fn properties(list: Vec<Property>) -> Properties {
    Properties(list)
}

/// Connects member `client_id` with `props` (Clean Start 1 unless `resume`) and subscribes it
/// to the group at `qos`.
fn member(broker: &Broker, client_id: &str, props: Vec<Property>, qos: QoS) -> Peer {
    let (mut peer, connack) = join(broker, connect5(client_id, properties(props)));
    assert_eq!(connack.code, ReasonCode::SUCCESS);
    subscribe_one(&mut peer, 1, GROUP, qos);
    peer
}

/// Reconnects `client_id` to its session (Clean Start 0, expiry 60 s).
fn resume(broker: &Broker, client_id: &str) -> Peer {
    let mut connect = connect5(
        client_id,
        properties(vec![Property::SessionExpiryInterval(60)]),
    );
    connect.clean_session = false;
    let (peer, connack) = join(broker, connect);
    assert!(connack.session_present);
    peer
}

/// Publishes one message with payload `n` to the group's topic.
fn publish_job(broker: &Broker, n: u8, qos: QoS) {
    broker.publish("jobs", &[n], qos, false).unwrap();
}

/// Member "a", with room for one message in flight and a session that outlives its connection,
/// after three QoS 1 jobs: it has been sent the first, the other two wait in its session.
fn member_a_holding_three_jobs(broker: &Broker) -> Peer {
    let props = vec![
        Property::ReceiveMaximum(1),
        Property::SessionExpiryInterval(60),
    ];
    let mut a = member(broker, "a", props, QoS::AtLeastOnce);
    for n in 1..=3 {
        publish_job(broker, n, QoS::AtLeastOnce);
    }
    assert_eq!(&*a.expect_publish().payload, [1]);
    a
}

/// Reads the payloads of the next `count` PUBLISHes, acknowledging each (answering PUBRELs as
/// they come), then expects nothing more.
fn take_jobs(peer: &mut Peer, count: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut releasing = 0;
    while got.len() < count || releasing > 0 {
        match peer.next() {
            Some(Packet::Publish(p)) => {
                match p.qospid {
                    QosPid::AtLeastOnce(id) => peer.send(&Packet::Puback(Ack::new(id))),
                    QosPid::ExactlyOnce(id) => {
                        peer.send(&Packet::Pubrec(Ack::new(id)));
                        releasing += 1;
                    }
                    QosPid::AtMostOnce => {}
                }
                got.push(p.payload[0]);
            }
            Some(Packet::Pubrel(ack)) => {
                peer.send(&Packet::Pubcomp(Ack::new(ack.packet_id)));
                releasing -= 1;
            }
            other => panic!("expected PUBLISH or PUBREL, got {other:?}"),
        }
    }
    peer.expect_nothing(Duration::from_millis(300));
    got
}

/// [MQTT-4.8.2-4]: the connection of the member a QoS 2 message was sent to breaks before
/// PUBREC, and again before PUBCOMP; each time it comes back with its session the delivery goes
/// on with it (the PUBLISH again with DUP and its identifier, then the PUBREL), never with the
/// other member, which meanwhile gets the new messages.
#[test]
fn mqtt_4_8_2_4_an_interrupted_qos_2_delivery_completes_to_the_same_member() {
    let broker = broker(BrokerOptions::default());
    let keep = vec![Property::SessionExpiryInterval(60)];
    let mut a = member(&broker, "a", keep, QoS::ExactlyOnce);
    publish_job(&broker, 1, QoS::ExactlyOnce);
    let sent = a.expect_publish();
    let packet_id = sent.qospid.packet_id().unwrap();
    let mut b = member(&broker, "b", vec![], QoS::ExactlyOnce);
    drop(a);
    publish_job(&broker, 2, QoS::ExactlyOnce);
    assert_eq!(take_jobs(&mut b, 1), [2], "b gets new messages only");

    let mut a = resume(&broker, "a");
    let again = a.expect_publish();
    assert!(again.dup);
    assert_eq!((again.qospid, &*again.payload), (sent.qospid, &[1u8][..]));
    a.send(&Packet::Pubrec(Ack::new(packet_id)));
    assert_eq!(a.next(), Some(Packet::Pubrel(Ack::new(packet_id))));
    drop(a);

    let mut a = resume(&broker, "a");
    assert_eq!(a.next(), Some(Packet::Pubrel(Ack::new(packet_id))));
    a.send(&Packet::Pubcomp(Ack::new(packet_id)));
    a.expect_nothing(Duration::from_millis(300));
    b.expect_nothing(Duration::from_millis(100));
}

/// [MQTT-4.8.2-5]: the member's session ends with its connection (expiry 0) while a QoS 2
/// message it was sent awaits PUBREC: no other member gets that message. The messages its
/// Receive Maximum had kept back, not sent yet, go to the other member.
#[test]
fn mqtt_4_8_2_5_a_sent_qos_2_message_stays_with_a_member_whose_session_ends() {
    let broker = broker(BrokerOptions::default());
    let mut a = member(
        &broker,
        "a",
        vec![Property::ReceiveMaximum(1)],
        QoS::ExactlyOnce,
    );
    for n in 1..=3 {
        publish_job(&broker, n, QoS::ExactlyOnce);
    }
    assert_eq!(&*a.expect_publish().payload, [1]);
    a.expect_nothing(Duration::from_millis(200));
    let mut b = member(&broker, "b", vec![], QoS::ExactlyOnce);
    drop(a);
    assert_eq!(take_jobs(&mut b, 2), [2, 3], "not 1, sent to a");
}

/// The same when the session ends by expiring while its client is away (MQTT 5.0 section
/// 3.1.2.11.2): until then the messages wait for the member; after, the QoS 2 message sent stays
/// undelivered and the one not sent goes to the other member.
#[test]
fn mqtt_4_8_2_5_a_sent_qos_2_message_stays_with_a_member_whose_session_expires() {
    let broker = broker(BrokerOptions::default());
    let props = vec![
        Property::ReceiveMaximum(1),
        Property::SessionExpiryInterval(1),
    ];
    let mut a = member(&broker, "a", props, QoS::ExactlyOnce);
    publish_job(&broker, 1, QoS::ExactlyOnce);
    publish_job(&broker, 2, QoS::ExactlyOnce);
    assert_eq!(&*a.expect_publish().payload, [1]);
    let mut b = member(&broker, "b", vec![], QoS::ExactlyOnce);
    drop(a);
    b.expect_nothing(Duration::from_millis(300));
    // Expired after 1 s, swept within the next second.
    let got = b.expect_publish();
    assert_eq!(&*got.payload, [2]);
    b.expect_nothing(Duration::from_millis(300));
}

/// MQTT 5.0 section 4.8.2: the QoS 1 messages of a member whose session ends, sent and not
/// acknowledged or not sent yet, go to another member of the group, in order; until the session
/// ends (here by the member's reconnect with Clean Start 1) they wait for it.
#[test]
fn qos_1_messages_of_a_member_whose_session_ends_go_to_another_member() {
    let broker = broker(BrokerOptions::default());
    let a = member_a_holding_three_jobs(&broker);
    let mut b = member(&broker, "b", vec![], QoS::ExactlyOnce);
    drop(a);
    b.expect_nothing(Duration::from_millis(300));
    let (mut fresh, connack) = join(&broker, connect5("a", Properties::new()));
    assert!(!connack.session_present);
    let got: Vec<_> = (0..3).map(|_| b.expect_publish()).collect();
    let payloads: Vec<u8> = got.iter().map(|p| p.payload[0]).collect();
    assert_eq!(payloads, [1, 2, 3]);
    assert!(
        got.iter().all(|p| p.qospid.qos() == QoS::AtLeastOnce),
        "at the QoS the message had"
    );
    fresh.expect_nothing(Duration::from_millis(200));
}

/// A member of an MQTT 3.1.1 client whose clean session ends with its connection hands its QoS 1
/// messages over the same way; with no member left, they are dropped.
#[test]
fn a_3_1_1_member_hands_over_too() {
    let broker = broker(BrokerOptions::default());
    let mut old = Peer::open(&broker, ProtocolLevel::V311);
    old.send(&Packet::Connect(Box::new(Connect {
        protocol: ProtocolLevel::V311,
        ..connect5("old", Properties::new())
    })));
    assert!(matches!(old.next(), Some(Packet::Connack(_))));
    subscribe_one(&mut old, 1, GROUP, QoS::AtLeastOnce);
    publish_job(&broker, 1, QoS::AtLeastOnce);
    assert_eq!(&*old.expect_publish().payload, [1]);
    let mut b = member(&broker, "b", vec![], QoS::AtLeastOnce);
    drop(old);
    assert_eq!(take_jobs(&mut b, 1), [1]);

    let mut lone = member(&broker, "lone", vec![], QoS::AtLeastOnce);
    drop(b);
    publish_job(&broker, 2, QoS::AtLeastOnce);
    assert_eq!(&*lone.expect_publish().payload, [2]);
    drop(lone);
    // Every session ended (and handed over what it could) before the next member joins.
    let deadline = Instant::now() + READ_TIMEOUT;
    while broker.stats().sessions > 0 {
        assert!(Instant::now() < deadline, "sessions left");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut late = member(&broker, "late", vec![], QoS::AtLeastOnce);
    late.expect_nothing(Duration::from_millis(300));
}

/// MQTT 5.0 section 4.8.2 across a restart of a broker that persists: the QoS 1 messages a
/// member was sent or had queued still belong to the group after the restart, so when that
/// member's session ends they go to another member, in order.
#[test]
fn shared_messages_of_a_persistent_member_go_to_another_member_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("mqtt-shared-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let options = || BrokerOptions {
        persistence: Some(dir.join("store.db")),
        ..BrokerOptions::default()
    };
    let first = broker(options());
    let a = member_a_holding_three_jobs(&first);
    let b = member(
        &first,
        "b",
        vec![Property::SessionExpiryInterval(60)],
        QoS::AtLeastOnce,
    );
    drop(a);
    drop(b);
    drop(first);

    let second = broker(options());
    let mut b = resume(&second, "b");
    b.expect_nothing(Duration::from_millis(300));
    // "a" comes back with Clean Start 1: its session ends, and with it its claim on 1, 2, 3.
    let (mut fresh, connack) = join(&second, connect5("a", Properties::new()));
    assert!(!connack.session_present);
    assert_eq!(take_jobs(&mut b, 3), [1, 2, 3]);
    fresh.expect_nothing(Duration::from_millis(200));
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
