//! A bounded stress test: hundreds of connections and tens of thousands of messages at once.
//! QoS 1 must arrive at least once, QoS 2 exactly once, each publisher's messages in order —
//! also for a subscriber that drops its connection mid-flow and resumes its persistent session.

use std::collections::{HashMap, HashSet};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;
use mqtt::broker::{BrokerOptions, MAX_BUSY_POLL};
use mqtt::protocol::{Ack, Packet, PacketId, QoS, QosPid};

const PUBLISHERS: usize = 200;
const MESSAGES_PER_PUBLISHER: u32 = 250;
const TOPIC_SUBSCRIBERS: usize = 200;
const WINDOW: usize = 32;
const DEADLINE: Duration = Duration::from_secs(60);

fn qos_of(seq: u32) -> QoS {
    if seq.is_multiple_of(2) {
        QoS::AtLeastOnce
    } else {
        QoS::ExactlyOnce
    }
}

fn encode(publisher: usize, seq: u32) -> Vec<u8> {
    let mut payload = (publisher as u32).to_be_bytes().to_vec();
    payload.extend_from_slice(&seq.to_be_bytes());
    payload
}

fn decode(payload: &[u8]) -> (usize, u32) {
    let publisher = u32::from_be_bytes(payload[..4].try_into().unwrap()) as usize;
    let seq = u32::from_be_bytes(payload[4..8].try_into().unwrap());
    (publisher, seq)
}

fn run_publisher(port: u16, index: usize) {
    let mut client = RawClient::clean(port, &format!("stress-pub-{index}"));
    let mut outstanding = 0usize;
    let handle = |client: &mut RawClient, outstanding: &mut usize| match client.recv() {
        Packet::Puback(_) | Packet::Pubcomp(_) => *outstanding -= 1,
        Packet::Pubrec(id) => client.send(&Packet::Pubrel(id)),
        other => panic!("publisher got {other:?}"),
    };
    for seq in 0..MESSAGES_PER_PUBLISHER {
        let id = pid((seq % 60_000) as u16 + 1);
        let qospid = QosPid::new(qos_of(seq), id);
        client.send(&publish(
            &format!("stress/{index}"),
            &encode(index, seq),
            qospid,
            false,
        ));
        outstanding += 1;
        while outstanding >= WINDOW {
            handle(&mut client, &mut outstanding);
        }
    }
    while outstanding > 0 {
        handle(&mut client, &mut outstanding);
    }
    client.disconnect();
}

/// Receiver-side QoS bookkeeping that outlives a connection, as a persistent client keeps it.
#[derive(Default)]
struct Receiver {
    /// QoS 2 identifiers received and not yet released: a PUBLISH reusing one is a duplicate.
    awaiting_pubrel: HashSet<PacketId>,
    /// Per publisher: highest sequence seen, to check order of first arrivals.
    last_seq: HashMap<usize, u32>,
    /// Times each (publisher, seq) was handed to the application.
    seen: HashMap<(usize, u32), u32>,
    distinct: usize,
}

impl Receiver {
    /// Handles one packet; returns false for a packet it does not expect.
    fn handle(&mut self, client: &mut RawClient, packet: Packet) {
        match packet {
            Packet::Publish(p) => {
                let deliver = match p.qospid {
                    QosPid::AtMostOnce => panic!("QoS 0 in a QoS 1/2 stream"),
                    QosPid::AtLeastOnce(id) => {
                        client.send(&Packet::Puback(id.into()));
                        true
                    }
                    QosPid::ExactlyOnce(id) => {
                        let first = self.awaiting_pubrel.insert(id);
                        client.send(&Packet::Pubrec(id.into()));
                        first
                    }
                };
                if deliver {
                    let (publisher, seq) = decode(&p.payload);
                    assert_eq!(p.qospid.qos(), qos_of(seq));
                    let count = self.seen.entry((publisher, seq)).or_default();
                    *count += 1;
                    if *count == 1 {
                        self.distinct += 1;
                        let last = self.last_seq.entry(publisher).or_insert(seq);
                        assert!(
                            seq >= *last,
                            "publisher {publisher}: seq {seq} after {last} (out of order)"
                        );
                        *last = seq;
                    } else {
                        assert!(p.dup || qos_of(seq) == QoS::AtLeastOnce);
                    }
                }
            }
            Packet::Pubrel(Ack { packet_id: id, .. }) => {
                self.awaiting_pubrel.remove(&id);
                client.send(&Packet::Pubcomp(id.into()));
            }
            other => panic!("subscriber got {other:?}"),
        }
    }

    fn verify(&self, publishers: impl Iterator<Item = usize> + Clone) {
        for publisher in publishers {
            for seq in 0..MESSAGES_PER_PUBLISHER {
                let count = self.seen.get(&(publisher, seq)).copied().unwrap_or(0);
                match qos_of(seq) {
                    QoS::ExactlyOnce => assert_eq!(count, 1, "QoS 2 ({publisher}, {seq})"),
                    _ => assert!(count >= 1, "QoS 1 ({publisher}, {seq}) lost"),
                }
            }
        }
    }
}

/// Answers the acknowledgements still owed until a PINGREQ round trip brings nothing more.
fn settle(client: &mut RawClient, receiver: &mut Receiver) {
    loop {
        let late = client.sync_collect();
        if late.is_empty() {
            return;
        }
        for packet in late {
            receiver.handle(client, packet);
        }
    }
}

fn receive_until(client: &mut RawClient, receiver: &mut Receiver, distinct: usize) {
    let deadline = Instant::now() + DEADLINE;
    while receiver.distinct < distinct {
        assert!(
            Instant::now() < deadline,
            "only {} of {distinct}",
            receiver.distinct
        );
        match client.try_recv(Duration::from_secs(10)) {
            Ok(packet) => receiver.handle(client, packet),
            Err(end) => panic!("subscriber: {end:?} after {} messages", receiver.distinct),
        }
    }
}

#[test]
fn stress_hundreds_of_clients_qos1_at_least_once_qos2_exactly_once_in_order() {
    stress(BrokerOptions::default());
}

/// The same load while connections park whenever they pause for a few milliseconds, so
/// connections keep moving between threads and the parking lot mid-flow.
#[test]
fn stress_with_constant_parking() {
    stress(BrokerOptions {
        park_idle_after: Some(Duration::from_millis(3)),
        ..BrokerOptions::default()
    });
}

fn stress(options: BrokerOptions) {
    let broker = start_broker(BrokerOptions {
        max_connections: 4096,
        max_queued_messages: 1_000_000,
        ..options
    });
    let port = broker.port();
    let total = PUBLISHERS * MESSAGES_PER_PUBLISHER as usize;

    // A clean subscriber to everything.
    let mut all = RawClient::clean(port, "stress-all");
    all.subscribe_ok(1, &[("stress/#", QoS::ExactlyOnce)]);
    // A persistent subscriber to everything that will crash and come back.
    let (mut persistent, _) = RawClient::connect(port, "stress-persistent", false);
    persistent.subscribe_ok(1, &[("stress/+", QoS::ExactlyOnce)]);
    // One subscriber per publisher's topic.
    let topic_subscribers: Vec<thread::JoinHandle<()>> = (0..TOPIC_SUBSCRIBERS)
        .map(|i| {
            let mut client = RawClient::clean(port, &format!("stress-topic-{i}"));
            client.subscribe_ok(1, &[(&format!("stress/{i}"), QoS::ExactlyOnce)]);
            thread::spawn(move || {
                let mut receiver = Receiver::default();
                receive_until(&mut client, &mut receiver, MESSAGES_PER_PUBLISHER as usize);
                settle(&mut client, &mut receiver);
                receiver.verify(i..i + 1);
            })
        })
        .collect();

    let all_thread = thread::spawn(move || {
        let mut receiver = Receiver::default();
        receive_until(&mut all, &mut receiver, total);
        settle(&mut all, &mut receiver);
        receiver.verify(0..PUBLISHERS);
    });
    let persistent_thread = thread::spawn(move || {
        let mut receiver = Receiver::default();
        receive_until(&mut persistent, &mut receiver, total / 4);
        // Crash mid-flow: in-flight QoS 1 and 2 messages and PUBRELs are left unanswered.
        persistent.drop_abruptly();
        thread::sleep(Duration::from_millis(200));
        let (mut persistent, connack) = RawClient::connect(port, "stress-persistent", false);
        assert!(connack.session_present);
        receive_until(&mut persistent, &mut receiver, total);
        settle(&mut persistent, &mut receiver);
        receiver.verify(0..PUBLISHERS);
    });

    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|i| thread::spawn(move || run_publisher(port, i)))
        .collect();
    for p in publishers {
        p.join().expect("publisher");
    }
    for s in topic_subscribers {
        s.join().expect("topic subscriber");
    }
    all_thread.join().expect("subscriber to all");
    persistent_thread.join().expect("persistent subscriber");
    let stats = broker.stats();
    assert_eq!(stats.messages_received, total as u64);
    assert_eq!(stats.messages_dropped, 0);
}

/// Request/response traffic, after which connection threads busy poll, alternating with bursts,
/// after which they do not: with any window, and with none, every QoS 1 message is delivered
/// once and in order ([MQTT-4.6.0-6], MQTT 3.1.1), and acknowledged to its publisher.
#[test]
fn busy_polling_keeps_every_message_once_and_in_order() {
    for window in [None, Some(Duration::from_micros(50)), Some(MAX_BUSY_POLL)] {
        let broker = start_broker(BrokerOptions {
            busy_poll: window,
            ..BrokerOptions::default()
        });
        let mut sub = RawClient::clean(broker.port(), "poll-sub");
        sub.subscribe_ok(1, &[("poll", QoS::AtLeastOnce)]);
        let mut publisher = RawClient::clean(broker.port(), "poll-pub");
        let mut next: u32 = 0;
        let packet_id = |n: u32| pid((n % 60_000) as u16 + 1);
        let mut exchange = |count: u32, next: &mut u32| {
            let first = *next;
            for n in first..first + count {
                publisher.send(&publish(
                    "poll",
                    &n.to_be_bytes(),
                    QosPid::AtLeastOnce(packet_id(n)),
                    false,
                ));
            }
            for n in first..first + count {
                let delivery = sub.recv_publish();
                assert_eq!(
                    &*delivery.payload,
                    &n.to_be_bytes()[..],
                    "window {window:?}"
                );
                let QosPid::AtLeastOnce(id) = delivery.qospid else {
                    panic!("expected QoS 1, got {:?}", delivery.qospid)
                };
                sub.send(&Packet::Puback(id.into()));
            }
            for n in first..first + count {
                assert_eq!(publisher.recv(), Packet::Puback(packet_id(n).into()));
            }
            *next += count;
        };
        for _ in 0..20 {
            for _ in 0..20 {
                exchange(1, &mut next);
            }
            exchange(50, &mut next);
        }
        sub.sync();
        assert_eq!(broker.stats().messages_received, u64::from(next));
        assert_eq!(broker.stats().messages_dropped, 0);
    }
}
