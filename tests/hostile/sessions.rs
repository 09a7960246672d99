//! Faults in the middle of session flows: a persistent QoS 2 subscriber killed at every step of
//! the exchange, over and over, still gets each message exactly once and in order; and a client
//! that disconnects properly and reconnects at once never has its will published.
//!
//! They measure nothing themselves, but hold `serial()` like every test of the hostile binary,
//! whose other tests count the process's threads, descriptors and heap.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::support::serial;
use crate::common::*;
use mqtt::broker::{Broker, BrokerOptions};
use mqtt::protocol::{Ack, Packet, PacketId, QoS, QosPid};

/// Where in the QoS 2 exchange the subscriber dies.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// PUBLISH received (and handed to the application), PUBREC not sent.
    BeforePubrec,
    /// PUBREC sent, PUBREL not yet received.
    AfterPubrec,
    /// PUBREL received, PUBCOMP not sent.
    BeforePubcomp,
}

const KILL_POINTS: [KillPoint; 3] = [
    KillPoint::BeforePubrec,
    KillPoint::AfterPubrec,
    KillPoint::BeforePubcomp,
];

/// The receiving side's QoS 2 state, kept across connections as a persistent client keeps it
/// ([MQTT-4.3.3-2], method B: deliver on PUBLISH, remember the identifier until PUBREL).
#[derive(Default)]
struct Receiver {
    /// Identifiers received and not yet released: a PUBLISH reusing one is a redelivery.
    awaiting_pubrel: HashSet<PacketId>,
    /// Identifiers whose PUBREC the broker has had; it must not send their PUBLISH again.
    pubrec_sent: HashSet<PacketId>,
    /// Times each message was handed to the application, by sequence number.
    delivered: HashMap<u32, u32>,
    /// Sequence numbers in the order first delivered.
    order: Vec<u32>,
}

impl Receiver {
    fn on_publish(&mut self, id: PacketId, seq: u32) {
        assert!(
            !self.pubrec_sent.contains(&id),
            "the broker re-sent PUBLISH {id:?} (seq {seq}) after receiving its PUBREC"
        );
        if self.awaiting_pubrel.insert(id) {
            *self.delivered.entry(seq).or_default() += 1;
            self.order.push(seq);
        }
    }
}

/// Connects the persistent subscriber and handles packets until it dies at `kill` (the first
/// chance after `survive` packets) or the first `total` messages have all been delivered and
/// released. Returns true in the second case.
fn one_life(
    broker: &Broker,
    receiver: &mut Receiver,
    kill: KillPoint,
    survive: usize,
    total: u32,
) -> bool {
    let (mut client, connack) = RawClient::connect(broker.port(), "fragile", false);
    assert!(connack.session_present);
    let mut steps = 0;
    loop {
        if receiver.delivered.len() == total as usize && receiver.awaiting_pubrel.is_empty() {
            // Nothing may be left over: no redelivery, no PUBREL.
            assert!(client.sync_collect().is_empty());
            client.disconnect();
            return true;
        }
        let packet = match client.try_recv(READ_TIMEOUT) {
            Ok(packet) => packet,
            Err(end) => panic!(
                "subscriber: {end:?} with {} of {total} delivered, awaiting PUBREL for {:?}",
                receiver.delivered.len(),
                receiver.awaiting_pubrel
            ),
        };
        let dying = steps >= survive;
        steps += 1;
        match packet {
            Packet::Publish(p) => {
                let QosPid::ExactlyOnce(id) = p.qospid else {
                    panic!("expected QoS 2, got {:?}", p.qospid);
                };
                let seq = u32::from_be_bytes(p.payload[..4].try_into().unwrap());
                receiver.on_publish(id, seq);
                if dying && matches!(kill, KillPoint::BeforePubrec) {
                    client.drop_abruptly();
                    return false;
                }
                client.send(&Packet::Pubrec(id.into()));
                receiver.pubrec_sent.insert(id);
                if dying && matches!(kill, KillPoint::AfterPubrec) {
                    client.drop_abruptly();
                    return false;
                }
            }
            Packet::Pubrel(Ack { packet_id: id, .. }) => {
                receiver.awaiting_pubrel.remove(&id);
                if dying && matches!(kill, KillPoint::BeforePubcomp) {
                    client.drop_abruptly();
                    return false;
                }
                client.send(&Packet::Pubcomp(id.into()));
                receiver.pubrec_sent.remove(&id);
            }
            other => panic!("subscriber got {other:?}"),
        }
    }
}

fn killed_at_every_step(options: BrokerOptions) {
    const TOTAL: u32 = 30;
    let broker = start_broker(options);
    let (mut sub, _) = RawClient::connect(broker.port(), "fragile", false);
    sub.subscribe_ok(1, &[("fragile/#", QoS::ExactlyOnce)]);
    sub.drop_abruptly();
    eventually("subscriber away", || broker.stats().clients_connected == 0);
    let mut receiver = Receiver::default();
    let mut lives = 0;
    let mut published = 0;
    let mut deaths = 0;
    let started = Instant::now();
    loop {
        // A few new messages while the subscriber is away each time, so deaths keep finding
        // fresh flows to interrupt.
        for seq in published..(published + 3).min(TOTAL) {
            broker
                .publish(
                    &format!("fragile/{}", seq % 3),
                    &seq.to_be_bytes(),
                    QoS::ExactlyOnce,
                    false,
                )
                .unwrap();
        }
        published = (published + 3).min(TOTAL);
        let kill = KILL_POINTS[lives % KILL_POINTS.len()];
        // Die after 0, 1, 2, ... complete steps, so deaths land across the whole exchange.
        let survive = lives % 5;
        lives += 1;
        let completed = one_life(&broker, &mut receiver, kill, survive, published);
        if !completed {
            deaths += 1;
        } else if published == TOTAL {
            break;
        }
        assert!(
            lives < 500 && started.elapsed() < Duration::from_secs(30),
            "no progress: {} of {TOTAL} after {lives} lives",
            receiver.delivered.len()
        );
        eventually("subscriber away", || broker.stats().clients_connected == 0);
    }
    assert!(deaths >= TOTAL / 3, "only {deaths} deaths in {lives} lives");
    for seq in 0..TOTAL {
        assert_eq!(
            receiver.delivered.get(&seq),
            Some(&1),
            "message {seq} delivered {:?} times",
            receiver.delivered.get(&seq)
        );
    }
    // [MQTT-4.6.0-2]/[MQTT-4.6.0-3]: first deliveries in publication order.
    assert_eq!(receiver.order, (0..TOTAL).collect::<Vec<_>>());
    assert_eq!(broker.stats().messages_dropped, 0);
}

/// The whole window in flight at once: every death leaves many flows half done.
#[test]
fn mqtt_4_3_3_qos2_subscriber_killed_at_every_step_gets_each_message_exactly_once() {
    let _serial = serial();
    killed_at_every_step(BrokerOptions::default());
}

/// One message in flight at a time, with connections parking between deaths.
#[test]
fn mqtt_4_3_3_qos2_exactly_once_across_kills_with_a_window_of_one_and_parking() {
    let _serial = serial();
    killed_at_every_step(BrokerOptions {
        max_inflight_messages: 1,
        park_idle_after: Some(Duration::from_millis(5)),
        ..BrokerOptions::default()
    });
}

/// Connects "quick" with a will, lets the connection go idle for `idle`, sends DISCONNECT and
/// closes, and at once connects again with the same client id — `rounds` times. The will must
/// never be published ([MQTT-3.1.2-10], [MQTT-3.14.4-3]): the broker had the DISCONNECT before
/// the second CONNECT was even sent.
fn disconnect_then_reconnect_at_once(options: BrokerOptions, idle: Duration, rounds: usize) {
    let broker = start_broker(options);
    let mut watcher = RawClient::clean(broker.port(), "will-watcher");
    watcher.subscribe_ok(1, &[("quick/will", QoS::AtMostOnce)]);
    let connect = || {
        let mut connect = connect_packet("quick", true);
        connect.will = Some(will("quick/will", b"published", QoS::AtMostOnce, false));
        RawClient::connect_with(broker.port(), connect).0
    };
    let mut client = connect();
    for round in 0..rounds {
        std::thread::sleep(idle);
        client.send(&Packet::Disconnect(mqtt::protocol::Disconnect::default()));
        let _ = client.stream.shutdown(std::net::Shutdown::Write);
        client = connect();
        let wills = watcher.sync_collect();
        assert!(
            wills.is_empty(),
            "round {round}: the will was published after a DISCONNECT: {wills:?}"
        );
    }
    client.disconnect();
    watcher.expect_silence(Duration::from_millis(200));
}

#[test]
fn mqtt_3_14_4_3_disconnect_then_immediate_reconnect_publishes_no_will() {
    let _serial = serial();
    disconnect_then_reconnect_at_once(
        BrokerOptions {
            park_idle_after: None,
            ..BrokerOptions::default()
        },
        Duration::from_millis(5),
        30,
    );
}

#[test]
fn mqtt_3_14_4_3_parked_client_disconnect_then_immediate_reconnect_publishes_no_will() {
    let _serial = serial();
    disconnect_then_reconnect_at_once(
        BrokerOptions {
            park_idle_after: Some(Duration::from_millis(20)),
            ..BrokerOptions::default()
        },
        Duration::from_millis(60),
        30,
    );
}
