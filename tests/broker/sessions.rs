//! Persistent sessions: queueing while away, redelivery with DUP, QoS 2 continuation across
//! reconnects, bounds, the in-flight window and expiry — checked at the wire.

use std::time::Duration;

use crate::common::*;
use mqtt::broker::BrokerOptions;
use mqtt::protocol::{Packet, QoS, QosPid};

#[test]
fn mqtt_3_1_2_5_persistent_session_queues_qos1_and_qos2_while_away() {
    let broker = start_default_broker();
    let (mut sub, _) = RawClient::connect(broker.port(), "away", false);
    sub.subscribe_ok(1, &[("q/#", QoS::ExactlyOnce)]);
    sub.disconnect();
    eventually("detached", || broker.stats().clients_connected == 0);

    broker
        .publish("q/0", b"zero", QoS::AtMostOnce, false)
        .unwrap();
    broker
        .publish("q/1", b"one", QoS::AtLeastOnce, false)
        .unwrap();
    broker
        .publish("q/2", b"two", QoS::ExactlyOnce, false)
        .unwrap();
    assert_eq!(broker.stats().sessions, 1);
    assert_eq!(broker.stats().subscriptions, 1);

    let (mut sub, connack) = RawClient::connect(broker.port(), "away", false);
    assert!(connack.session_present);
    let first = sub.recv_publish();
    assert_eq!(first.payload.as_ref(), b"one");
    assert!(matches!(first.qospid, QosPid::AtLeastOnce(_)));
    let second = sub.recv_publish();
    assert_eq!(second.payload.as_ref(), b"two");
    assert!(matches!(second.qospid, QosPid::ExactlyOnce(_)));
    assert!(!first.dup && !second.dup);
    // QoS 0 is not kept for an absent client.
    assert!(sub.sync_collect().is_empty());
    assert_eq!(broker.stats().messages_dropped, 1);
}

#[test]
fn mqtt_4_4_0_1_unacknowledged_resent_with_dup_and_same_id() {
    let broker = start_default_broker();
    let (mut sub, _) = RawClient::connect(broker.port(), "redeliver", false);
    sub.subscribe_ok(1, &[("r", QoS::ExactlyOnce)]);
    broker.publish("r", b"q1", QoS::AtLeastOnce, false).unwrap();
    broker.publish("r", b"q2", QoS::ExactlyOnce, false).unwrap();
    let a = sub.recv_publish();
    let b = sub.recv_publish();
    sub.drop_abruptly();

    let (mut sub, connack) = RawClient::connect(broker.port(), "redeliver", false);
    assert!(connack.session_present);
    let a2 = sub.recv_publish();
    let b2 = sub.recv_publish();
    // [MQTT-3.3.1-1] DUP set on redelivery; original identifiers; original order.
    assert!(a2.dup && b2.dup);
    assert_eq!(a2.qospid, a.qospid);
    assert_eq!(b2.qospid, b.qospid);
    assert_eq!(a2.payload.as_ref(), b"q1");
    sub.send(&Packet::Puback(a2.qospid.packet_id().unwrap().into()));
    let id = b2.qospid.packet_id().unwrap();
    sub.send(&Packet::Pubrec(id.into()));
    assert_eq!(sub.recv(), Packet::Pubrel(id.into()));
    sub.send(&Packet::Pubcomp(id.into()));
    assert!(sub.sync_collect().is_empty());
    sub.disconnect();
    // Nothing left to resend.
    let (mut sub, _) = RawClient::connect(broker.port(), "redeliver", false);
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn mqtt_4_4_0_1_pubrel_resent_after_reconnect() {
    let broker = start_default_broker();
    let (mut sub, _) = RawClient::connect(broker.port(), "rel", false);
    sub.subscribe_ok(1, &[("r", QoS::ExactlyOnce)]);
    broker.publish("r", b"x", QoS::ExactlyOnce, false).unwrap();
    let id = sub.recv_publish().qospid.packet_id().unwrap();
    sub.send(&Packet::Pubrec(id.into()));
    assert_eq!(sub.recv(), Packet::Pubrel(id.into()));
    sub.drop_abruptly();

    let (mut sub, connack) = RawClient::connect(broker.port(), "rel", false);
    assert!(connack.session_present);
    // The PUBLISH is settled by PUBREC: only PUBREL is resent.
    assert_eq!(sub.recv(), Packet::Pubrel(id.into()));
    sub.send(&Packet::Pubcomp(id.into()));
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn mqtt_4_3_3_2_incoming_qos2_dedup_survives_reconnect() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "watcher");
    sub.subscribe_ok(1, &[("in", QoS::AtMostOnce)]);
    let (mut publisher, _) = RawClient::connect(broker.port(), "pub2", false);
    publisher.send(&publish("in", b"once", QosPid::ExactlyOnce(pid(77)), false));
    assert_eq!(publisher.recv(), Packet::Pubrec(pid(77).into()));
    publisher.drop_abruptly();
    assert_eq!(sub.recv_publish().payload.as_ref(), b"once");

    let (mut publisher, connack) = RawClient::connect(broker.port(), "pub2", false);
    assert!(connack.session_present);
    let mut resend = publish("in", b"once", QosPid::ExactlyOnce(pid(77)), false);
    if let Packet::Publish(p) = &mut resend {
        p.dup = true;
    }
    publisher.send(&resend);
    assert_eq!(publisher.recv(), Packet::Pubrec(pid(77).into()));
    publisher.send(&Packet::Pubrel(pid(77).into()));
    assert_eq!(publisher.recv(), Packet::Pubcomp(pid(77).into()));
    assert!(sub.sync_collect().is_empty(), "duplicate forwarded");
}

#[test]
fn mqtt_3_1_2_6_clean_session_discards_subscriptions() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "cleaner");
    sub.subscribe_ok(1, &[("c", QoS::AtLeastOnce)]);
    sub.disconnect();
    eventually("session gone", || broker.stats().sessions == 0);
    assert_eq!(broker.stats().subscriptions, 0);
    let (mut sub, connack) = RawClient::connect(broker.port(), "cleaner", false);
    assert!(!connack.session_present);
    broker.publish("c", b"x", QoS::AtLeastOnce, false).unwrap();
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn offline_queue_is_bounded_and_drops_counted() {
    let broker = start_broker(BrokerOptions {
        max_queued_messages: 5,
        ..BrokerOptions::default()
    });
    let (mut sub, _) = RawClient::connect(broker.port(), "bounded", false);
    sub.subscribe_ok(1, &[("b", QoS::AtLeastOnce)]);
    sub.disconnect();
    eventually("detached", || broker.stats().clients_connected == 0);
    for i in 0..10u8 {
        broker.publish("b", &[i], QoS::AtLeastOnce, false).unwrap();
    }
    assert_eq!(broker.stats().messages_dropped, 5);
    let (mut sub, _) = RawClient::connect(broker.port(), "bounded", false);
    for i in 0..5u8 {
        let p = sub.recv_publish();
        assert_eq!(p.payload.as_ref(), &[i]);
        sub.send(&Packet::Puback(p.qospid.packet_id().unwrap().into()));
    }
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn inflight_window_limits_unacknowledged_deliveries() {
    let broker = start_broker(BrokerOptions {
        max_inflight_messages: 2,
        ..BrokerOptions::default()
    });
    let mut sub = RawClient::clean(broker.port(), "window");
    sub.subscribe_ok(1, &[("w", QoS::AtLeastOnce)]);
    for i in 0..4u8 {
        broker.publish("w", &[i], QoS::AtLeastOnce, false).unwrap();
    }
    let a = sub.recv_publish();
    let b = sub.recv_publish();
    assert_eq!((a.payload[0], b.payload[0]), (0, 1));
    assert!(sub.sync_collect().is_empty(), "window exceeded");
    sub.send(&Packet::Puback(a.qospid.packet_id().unwrap().into()));
    let c = sub.recv_publish();
    assert_eq!(c.payload[0], 2);
    assert!(sub.sync_collect().is_empty(), "window exceeded");
    sub.send(&Packet::Puback(b.qospid.packet_id().unwrap().into()));
    sub.send(&Packet::Puback(c.qospid.packet_id().unwrap().into()));
    assert_eq!(sub.recv_publish().payload[0], 3);
}

#[test]
fn idle_persistent_session_expires() {
    let broker = start_broker(BrokerOptions {
        session_expiry: Some(Duration::from_millis(300)),
        ..BrokerOptions::default()
    });
    let (mut sub, _) = RawClient::connect(broker.port(), "expiring", false);
    sub.subscribe_ok(1, &[("e", QoS::AtLeastOnce)]);
    sub.disconnect();
    eventually("session expired", || broker.stats().sessions == 0);
    assert_eq!(broker.stats().subscriptions, 0);
    let (_sub, connack) = RawClient::connect(broker.port(), "expiring", false);
    assert!(!connack.session_present);
}
