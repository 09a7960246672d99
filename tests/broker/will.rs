//! The will message: published on every disconnect that is not a DISCONNECT packet, with its QoS
//! and retain flag ([MQTT-3.1.2-8]), and never after DISCONNECT ([MQTT-3.1.2-10]).

use std::time::Duration;

use crate::common::*;
use mqtt::protocol::{Packet, QoS, QosPid};

fn watcher(port: u16) -> RawClient {
    let mut w = RawClient::clean(port, "watcher");
    w.subscribe_ok(1, &[("will/#", QoS::ExactlyOnce)]);
    w
}

fn with_will(port: u16, id: &str, qos: QoS, retain: bool, keep_alive: u16) -> RawClient {
    let mut connect = connect_packet(id, true);
    connect.keep_alive = keep_alive;
    connect.will = Some(will(&format!("will/{id}"), b"gone", qos, retain));
    let (client, _) = RawClient::connect_with(port, connect);
    client
}

#[test]
fn mqtt_3_1_2_8_will_on_abrupt_close_with_qos_and_retain() {
    let broker = start_default_broker();
    let mut w = watcher(broker.port());
    with_will(broker.port(), "abrupt", QoS::AtLeastOnce, true, 60).drop_abruptly();
    let p = w.recv_publish();
    assert_eq!(p.topic.as_str(), "will/abrupt");
    assert_eq!(p.payload.as_ref(), b"gone");
    assert!(matches!(p.qospid, QosPid::AtLeastOnce(_)));
    // Retained: a later subscriber gets it with RETAIN set.
    assert_eq!(broker.stats().retained_messages, 1);
    let mut late = RawClient::clean(broker.port(), "late");
    late.send(&subscribe(1, &[("will/abrupt", QoS::AtLeastOnce)]));
    assert!(matches!(late.recv(), Packet::Suback(_)));
    assert!(late.recv_publish().retain);
}

#[test]
fn mqtt_3_1_2_8_will_on_keep_alive_expiry() {
    let broker = start_default_broker();
    let mut w = watcher(broker.port());
    let mut silent = with_will(broker.port(), "silent", QoS::AtMostOnce, false, 1);
    let p = w.recv_publish();
    assert_eq!(p.topic.as_str(), "will/silent");
    silent.expect_closed(READ_TIMEOUT);
}

#[test]
fn mqtt_3_1_2_8_will_on_protocol_violation() {
    let broker = start_default_broker();
    let mut w = watcher(broker.port());
    let mut bad = with_will(broker.port(), "violator", QoS::ExactlyOnce, false, 60);
    // SUBSCRIBE with flags 0000 instead of 0010 ([MQTT-3.8.1-1]).
    bad.send_bytes(&[0x80, 6, 0, 1, 0, 1, b'x', 0]);
    bad.expect_closed(READ_TIMEOUT);
    let p = w.recv_publish();
    assert_eq!(p.topic.as_str(), "will/violator");
    assert!(matches!(p.qospid, QosPid::ExactlyOnce(_)));
}

#[test]
fn mqtt_3_1_4_2_will_on_takeover() {
    let broker = start_default_broker();
    let mut w = watcher(broker.port());
    let mut old = with_will(broker.port(), "twin", QoS::AtMostOnce, false, 60);
    let mut new = RawClient::clean(broker.port(), "twin");
    old.expect_closed(READ_TIMEOUT);
    assert_eq!(w.recv_publish().topic.as_str(), "will/twin");
    new.sync();
}

#[test]
fn mqtt_3_1_2_10_no_will_after_disconnect() {
    let broker = start_default_broker();
    let mut w = watcher(broker.port());
    with_will(broker.port(), "polite", QoS::AtLeastOnce, true, 60).disconnect();
    eventually("disconnected", || broker.stats().clients_connected == 1);
    w.expect_silence(Duration::from_millis(300));
    assert_eq!(broker.stats().retained_messages, 0);
}

/// A DISCONNECT still in the old connection's socket when the same client id reconnects must
/// win over the takeover it triggers: no will.
#[test]
fn mqtt_3_14_4_3_disconnect_then_immediate_takeover_publishes_no_will() {
    for park in [None, Some(Duration::from_millis(20))] {
        let broker = start_broker(mqtt::broker::BrokerOptions {
            park_idle_after: park,
            ..mqtt::broker::BrokerOptions::default()
        });
        let mut w = watcher(broker.port());
        for round in 0..20 {
            let mut old = with_will(broker.port(), "hasty", QoS::AtMostOnce, false, 60);
            if park.is_some() && round % 2 == 0 {
                std::thread::sleep(Duration::from_millis(40));
            }
            old.send(&Packet::Disconnect(mqtt::protocol::Disconnect::default()));
            let mut new = with_will(broker.port(), "hasty", QoS::AtMostOnce, false, 60);
            new.sync();
            new.disconnect();
        }
        w.expect_silence(Duration::from_millis(300));
    }
}
