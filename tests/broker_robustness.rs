//! Malformed input, oversized packets, slow consumers, connection floods and stopping under load:
//! the offending connection is closed, everyone else carries on, and the broker stays bounded.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use mqtt::broker::{Broker, BrokerEvent, BrokerOptions};
use mqtt::protocol::{Packet, QoS, QosPid};

/// A subscriber and a publisher that keep exchanging messages while something else misbehaves.
struct Bystanders {
    sub: RawClient,
    publisher: RawClient,
    next: u16,
}

impl Bystanders {
    fn new(port: u16) -> Bystanders {
        let mut sub = RawClient::clean(port, "bystander-sub");
        sub.subscribe_ok(1, &[("calm", QoS::AtLeastOnce)]);
        Bystanders {
            sub,
            publisher: RawClient::clean(port, "bystander-pub"),
            next: 1,
        }
    }

    fn still_served(&mut self) {
        let id = self.next;
        self.next += 1;
        self.publisher.send(&publish(
            "calm",
            &id.to_be_bytes(),
            QosPid::AtLeastOnce(pid(id)),
            false,
        ));
        assert_eq!(self.publisher.recv(), Packet::Puback(pid(id)));
        let p = self.sub.recv_publish();
        assert_eq!(p.payload.as_ref(), &id.to_be_bytes());
        self.sub
            .send(&Packet::Puback(p.qospid.packet_id().unwrap()));
    }
}

/// One sample of each class of malformed packet the codec rejects.
fn malformed_samples() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("reserved type 0", vec![0x00, 0x00]),
        ("reserved type 15", vec![0xF0, 0x00]),
        ("PUBREL flags 0000", vec![0x60, 2, 0, 1]),
        ("PUBLISH QoS 3", vec![0x36, 5, 0, 1, b't', 0, 1]),
        ("DUP on QoS 0", vec![0x38, 3, 0, 1, b't']),
        (
            "remaining length 5 bytes",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ),
        ("truncated PUBACK", vec![0x40, 1, 0]),
        ("trailing bytes PINGREQ", vec![0xC0, 1, 0]),
        ("packet id 0", vec![0x40, 2, 0, 0]),
        ("invalid UTF-8 topic", vec![0x30, 4, 0, 2, 0xC3, 0x28]),
        ("surrogate in topic", vec![0x30, 5, 0, 3, 0xED, 0xA0, 0x80]),
        ("U+0000 in topic", vec![0x30, 3, 0, 1, 0]),
        ("wildcard in topic name", vec![0x30, 3, 0, 1, b'#']),
        ("empty SUBSCRIBE", vec![0x82, 2, 0, 1]),
        ("SUBSCRIBE QoS 3", vec![0x82, 6, 0, 1, 0, 1, b'a', 3]),
        ("empty UNSUBSCRIBE", vec![0xA2, 2, 0, 1]),
        ("CONNACK from client", vec![0x20, 2, 0, 0]),
        ("SUBACK from client", vec![0x90, 3, 0, 1, 0]),
        ("PINGRESP from client", vec![0xD0, 0]),
    ]
}

/// Tests here count the process's threads, so they run one at a time.
static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

#[test]
fn mqtt_4_8_malformed_packet_closes_only_that_connection() {
    let _serial = SERIAL.lock();
    let broker = start_default_broker();
    let mut bystanders = Bystanders::new(broker.port());
    for (what, bytes) in malformed_samples() {
        let mut bad = RawClient::clean(broker.port(), "bad");
        bad.send_bytes(&bytes);
        match bad.try_recv(READ_TIMEOUT) {
            Err(ReadEnd::Closed) => {}
            other => panic!("{what}: expected close, got {other:?}"),
        }
        bystanders.still_served();
    }
}

#[test]
fn malformed_first_packet_closes() {
    let _serial = SERIAL.lock();
    let broker = start_default_broker();
    let mut bystanders = Bystanders::new(broker.port());
    let firsts: Vec<Vec<u8>> = vec![
        vec![0x00, 0x00],
        vec![0x11, 0], // CONNECT flags 0001
        vec![0x10, 12, 0, 4, b'M', b'Q', b'T', b'X', 4, 2, 0, 60, 0, 0], // bad protocol name
        vec![0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 3, 0, 60, 0, 0], // reserved flag
        vec![0x30, 3, 0, 1, b't'], // PUBLISH first
    ];
    for bytes in firsts {
        let mut bad = RawClient::open(broker.port());
        bad.send_bytes(&bytes);
        assert_eq!(
            bad.try_recv(READ_TIMEOUT),
            Err(ReadEnd::Closed),
            "{bytes:?}"
        );
        bystanders.still_served();
    }
}

#[test]
fn oversized_packet_closes_before_allocation() {
    let _serial = SERIAL.lock();
    let broker = start_broker(BrokerOptions {
        max_packet_size: 1024,
        ..BrokerOptions::default()
    });
    let mut bystanders = Bystanders::new(broker.port());
    // A remaining length claiming 256 MB: refused from the header alone.
    let mut huge = RawClient::clean(broker.port(), "huge");
    huge.send_bytes(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]);
    huge.expect_closed(READ_TIMEOUT);
    // A real packet just over the limit.
    let mut big = RawClient::clean(broker.port(), "big");
    big.send(&publish("t", &[0u8; 1100], QosPid::AtMostOnce, false));
    big.expect_closed(READ_TIMEOUT);
    // Just under is fine.
    let mut fits = RawClient::clean(broker.port(), "fits");
    fits.send(&publish("t", &[0u8; 1000], QosPid::AtMostOnce, false));
    fits.sync();
    bystanders.still_served();
}

#[test]
fn slow_consumer_is_bounded_and_drops_are_counted() {
    let _serial = SERIAL.lock();
    let broker = start_broker(BrokerOptions {
        max_queued_messages: 100,
        max_inflight_messages: 10,
        ..BrokerOptions::default()
    });
    let mut stalled = RawClient::clean(broker.port(), "stalled");
    stalled.subscribe_ok(1, &[("flood", QoS::AtLeastOnce)]);
    stalled
        .stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let mut healthy = RawClient::clean(broker.port(), "healthy");
    healthy.subscribe_ok(1, &[("flood", QoS::AtMostOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "flooder");
    let payload = vec![7u8; 1024];
    let total: u16 = 20_000;
    let started = Instant::now();
    let mut acked = 0u32;
    for i in 1..=total {
        publisher.send(&publish(
            "flood",
            &payload,
            QosPid::AtLeastOnce(pid(i)),
            false,
        ));
        // Keep the publisher's own socket drained; the healthy subscriber reads as it goes.
        if i % 100 == 0 {
            while let Ok(Packet::Puback(_)) = publisher.try_recv(Duration::from_millis(1)) {
                acked += 1;
            }
            while healthy.try_recv(Duration::from_millis(0)).is_ok() {}
        }
    }
    while acked < u32::from(total) {
        match publisher.recv() {
            Packet::Puback(_) => acked += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    // The publisher was never held back by the stalled subscriber.
    assert!(started.elapsed() < Duration::from_secs(20));
    healthy.sync_collect();
    let stats = broker.stats();
    assert_eq!(stats.messages_received, u64::from(total));
    // The stalled subscriber holds at most its window, its queue and what fits in buffers.
    assert!(
        stats.messages_dropped >= u64::from(total) - 10 - 100 - 2_000,
        "dropped only {}",
        stats.messages_dropped
    );
    // And it can still catch up on what was kept.
    stalled.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let first = stalled.recv_publish();
    assert_eq!(first.payload.len(), 1024);
}

#[test]
fn connection_flood_beyond_max_refused_and_resources_return() {
    let _serial = SERIAL.lock();
    let broker = start_broker(BrokerOptions {
        max_connections: 20,
        ..BrokerOptions::default()
    });
    let threads_before = connection_thread_count();
    let kept: Vec<RawClient> = (0..20)
        .map(|i| RawClient::clean(broker.port(), &format!("kept{i}")))
        .collect();
    for i in 0..50 {
        let (mut refused, connack) =
            RawClient::connect_with(broker.port(), connect_packet(&format!("extra{i}"), true));
        assert_eq!(
            connack.code,
            mqtt::protocol::ConnectReturnCode::ServerUnavailable
        );
        refused.expect_closed(READ_TIMEOUT);
    }
    drop(kept);
    eventually("threads return", || {
        broker.stats().clients_connected == 0 && connection_thread_count() <= threads_before
    });
    let stats = broker.stats();
    assert_eq!(stats.connections_accepted, 70);
}

/// Names of this process's threads. Broker threads are all named `mqtt-*`.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|entry| std::fs::read_to_string(entry.path().join("comm")).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Threads of this test process that are not broker threads: the test harness's own.
fn threads_before_stop_baseline() -> usize {
    thread_names()
        .iter()
        .filter(|name| !name.starts_with("mqtt-"))
        .count()
}

/// Threads serving one connection each. Only these are compared across a flood: the test harness
/// starts threads for other tests of this binary at any time, and the broker's permanent threads
/// (listener, parking lot) may start lazily, after a baseline was taken.
fn connection_thread_count() -> usize {
    thread_names()
        .iter()
        .filter(|name| name.trim_end() == "mqtt-connection")
        .count()
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

#[test]
fn stop_with_hundreds_of_clients_returns_promptly() {
    let _serial = SERIAL.lock();
    let broker = start_default_broker();
    let mut clients: Vec<RawClient> = (0..300)
        .map(|i| RawClient::clean(broker.port(), &format!("c{i}")))
        .collect();
    clients[0].subscribe_ok(1, &[("#", QoS::AtLeastOnce)]);
    let threads_before_stop = thread_count();
    let started = Instant::now();
    broker.stop();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
    for client in &mut clients {
        client.expect_closed(READ_TIMEOUT);
    }
    // Every connection thread (and the listener and parking threads) has been joined.
    assert!(thread_count() <= threads_before_stop.min(threads_before_stop_baseline() + 2));
    // Idempotent, and wait returns at once once stopped.
    broker.stop();
    broker.wait();
}

#[test]
fn wait_returns_when_another_thread_stops() {
    let _serial = SERIAL.lock();
    let broker = Arc::new(start_default_broker());
    let stopper = Arc::clone(&broker);
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stopper.stop();
    });
    broker.wait();
    handle.join().unwrap();
    assert!(RawClient::try_open(broker.port()).is_err());
}

#[test]
fn callbacks_may_publish_and_stop_without_deadlock() {
    let _serial = SERIAL.lock();
    let slot: Arc<parking_lot::Mutex<Option<Arc<Broker>>>> = Arc::default();
    let hook_slot = Arc::clone(&slot);
    let stopped_from_hook = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stopped_from_hook);
    let broker = Arc::new(start_broker(BrokerOptions::default().event_hook(
        move |event| {
            let Some(broker) = hook_slot.lock().clone() else {
                return;
            };
            match event {
                BrokerEvent::Connected { client_id, .. } if *client_id == "announcer" => {
                    broker
                        .publish(
                            "events/connected",
                            client_id.as_bytes(),
                            QoS::AtLeastOnce,
                            true,
                        )
                        .unwrap();
                    let _ = broker.stats();
                    let _ = broker.port();
                }
                BrokerEvent::Connected { client_id, .. } if *client_id == "stopper" => {
                    broker.stop();
                    flag.store(true, Ordering::SeqCst);
                }
                _ => {}
            }
        },
    )));
    *slot.lock() = Some(Arc::clone(&broker));
    let mut sub = RawClient::clean(broker.port(), "listener");
    sub.subscribe_ok(1, &[("events/#", QoS::AtLeastOnce)]);
    let mut announcer = RawClient::clean(broker.port(), "announcer");
    assert_eq!(sub.recv_publish().payload.as_ref(), b"announcer");
    announcer.sync();
    let mut stopper = RawClient::open(broker.port());
    stopper.send(&Packet::Connect(connect_packet("stopper", true)));
    stopper.expect_closed(READ_TIMEOUT);
    assert!(stopped_from_hook.load(Ordering::SeqCst));
    broker.wait();
    sub.expect_closed(READ_TIMEOUT);
    slot.lock().take();
}
