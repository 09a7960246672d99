//! Idle connections give up their thread and wait in the parking lot; everything a connection
//! does must keep working across parking: packets, deliveries, keep-alive expiry with its will,
//! takeover and stop.

mod common;
mod fixture;
mod packet_stream;

use std::time::{Duration, Instant};

use common::*;
use mqtt::broker::BrokerOptions;
use mqtt::protocol::{Packet, QoS, QosPid};

const PARK_AFTER: Duration = Duration::from_millis(100);

fn parking_broker() -> mqtt::broker::Broker {
    start_broker(BrokerOptions {
        park_idle_after: Some(PARK_AFTER),
        ..BrokerOptions::default()
    })
}

/// Tests here count the process's descriptors, so they run one at a time.
static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Connections of the (one) running broker that are served by a thread: each such connection
/// holds an eventfd, which it closes when it parks. The broker's listener and parking lot hold
/// one each.
fn connection_threads() -> usize {
    let eventfds = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|entry| {
                    std::fs::read_link(entry.path())
                        .is_ok_and(|target| target.to_string_lossy() == "anon_inode:[eventfd]")
                })
                .count()
        })
        .unwrap_or(0);
    eventfds.saturating_sub(2)
}

#[test]
fn idle_connections_park_and_keep_working() {
    let _serial = SERIAL.lock();
    let broker = parking_broker();
    let mut clients: Vec<RawClient> = (0..50)
        .map(|i| RawClient::clean(broker.port(), &format!("idle{i}")))
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.subscribe_ok(1, &[(&format!("to/{i}"), QoS::AtLeastOnce)]);
    }
    eventually("connections parked", || connection_threads() == 0);
    assert_eq!(broker.stats().clients_connected, 50);

    // A packet from a parked client is answered.
    clients[3].sync();
    // A delivery to a parked subscriber arrives.
    broker
        .publish("to/7", b"wake up", QoS::AtLeastOnce, false)
        .unwrap();
    let p = clients[7].recv_publish();
    assert_eq!(p.payload.as_ref(), b"wake up");
    clients[7].send(&Packet::Puback(p.qospid.packet_id().unwrap().into()));
    clients[7].sync();
    // And they park again.
    eventually("parked again", || connection_threads() == 0);
    for client in &mut clients {
        client.sync();
    }
}

#[test]
fn mqtt_3_1_2_24_keep_alive_expires_while_parked_and_will_is_published() {
    let _serial = SERIAL.lock();
    let broker = parking_broker();
    let mut watcher = RawClient::connect_with(broker.port(), {
        let mut c = connect_packet("watcher", true);
        c.keep_alive = 0;
        c
    })
    .0;
    watcher.subscribe_ok(1, &[("will/#", QoS::AtMostOnce)]);
    let mut connect = connect_packet("sleeper", true);
    connect.keep_alive = 1;
    connect.will = Some(will("will/sleeper", b"bye", QoS::AtMostOnce, false));
    let started = Instant::now();
    let (mut sleeper, _) = RawClient::connect_with(broker.port(), connect);
    let p = watcher.recv_publish();
    let elapsed = started.elapsed();
    assert_eq!(p.topic.as_str(), "will/sleeper");
    assert!(
        elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_millis(2500),
        "{elapsed:?}"
    );
    sleeper.expect_closed(READ_TIMEOUT);
}

#[test]
fn parked_connection_is_taken_over() {
    let _serial = SERIAL.lock();
    let broker = parking_broker();
    let (mut old, _) = RawClient::connect(broker.port(), "twin", false);
    old.subscribe_ok(1, &[("t", QoS::AtLeastOnce)]);
    eventually("parked", || connection_threads() == 0);
    let (mut new, connack) = RawClient::connect(broker.port(), "twin", false);
    assert!(connack.session_present);
    old.expect_closed(READ_TIMEOUT);
    broker.publish("t", b"x", QoS::AtLeastOnce, false).unwrap();
    assert_eq!(new.recv_publish().payload.as_ref(), b"x");
}

#[test]
fn in_flight_window_survives_parking() {
    let _serial = SERIAL.lock();
    let broker = start_broker(BrokerOptions {
        park_idle_after: Some(PARK_AFTER),
        max_inflight_messages: 1,
        ..BrokerOptions::default()
    });
    let mut sub = RawClient::clean(broker.port(), "slow-acker");
    sub.subscribe_ok(1, &[("w", QoS::AtLeastOnce)]);
    broker.publish("w", b"1", QoS::AtLeastOnce, false).unwrap();
    broker.publish("w", b"2", QoS::AtLeastOnce, false).unwrap();
    let first = sub.recv_publish();
    eventually("parked with a message in flight", || {
        connection_threads() == 0
    });
    sub.send(&Packet::Puback(first.qospid.packet_id().unwrap().into()));
    let second = sub.recv_publish();
    assert_eq!(second.payload.as_ref(), b"2");
    assert!(matches!(second.qospid, QosPid::AtLeastOnce(_)));
}

#[test]
fn stop_closes_parked_connections() {
    let _serial = SERIAL.lock();
    let broker = parking_broker();
    let mut clients: Vec<RawClient> = (0..20)
        .map(|i| RawClient::clean(broker.port(), &format!("p{i}")))
        .collect();
    eventually("parked", || connection_threads() == 0);
    let started = Instant::now();
    broker.stop();
    assert!(started.elapsed() < Duration::from_secs(2));
    for client in &mut clients {
        client.expect_closed(READ_TIMEOUT);
    }
    assert_eq!(broker.stats().clients_connected, 0);
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[test]
fn parked_connection_keeps_only_its_socket() {
    let _serial = SERIAL.lock();
    let broker = parking_broker();
    let before = open_descriptors();
    let mut clients: Vec<RawClient> = (0..50)
        .map(|i| RawClient::clean(broker.port(), &format!("fd{i}")))
        .collect();
    // Both ends of 50 sockets, and no eventfd once parked.
    eventually("parked with one descriptor each", || {
        connection_threads() == 0 && open_descriptors() == before + 100
    });
    for client in &mut clients {
        client.sync();
    }
    eventually("parked again", || {
        connection_threads() == 0 && open_descriptors() == before + 100
    });
}

/// Threads named for serving connections (the kernel truncates names to 15 bytes).
fn serving_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |tasks| {
        tasks
            .filter_map(Result::ok)
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|name| name.trim_end() == "mqtt-connectio")
            })
            .count()
    })
}

#[test]
fn connecting_clients_wait_for_connect_and_are_answered_without_a_thread() {
    let _serial = SERIAL.lock();
    let broker = start_broker(BrokerOptions {
        park_idle_after: Some(PARK_AFTER),
        connect_timeout: Duration::from_millis(300),
        ..BrokerOptions::default()
    });
    assert_eq!(
        serving_threads(),
        0,
        "a connection thread outlived its broker"
    );
    let mut silent = RawClient::open(broker.port());
    // Each CONNECT arrives in two parts, well after the socket was accepted.
    let mut clients: Vec<RawClient> = (0..20).map(|_| RawClient::open(broker.port())).collect();
    let encoded: Vec<Vec<u8>> = (0..clients.len())
        .map(|i| {
            let mut bytes = Vec::new();
            Packet::Connect(Box::new(connect_packet(&format!("greet{i}"), true)))
                .encode(&mut bytes)
                .unwrap();
            bytes
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    for (client, bytes) in clients.iter_mut().zip(&encoded) {
        client.send_bytes(&bytes[..3]);
    }
    std::thread::sleep(Duration::from_millis(50));
    for (client, bytes) in clients.iter_mut().zip(&encoded) {
        client.send_bytes(&bytes[3..]);
    }
    for client in &mut clients {
        match client.recv() {
            Packet::Connack(connack) => {
                assert_eq!(
                    connack.code,
                    mqtt::protocol::ConnectReturnCode::Accepted.to_reason()
                )
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
    assert_eq!(broker.stats().clients_connected, 20);
    assert_eq!(serving_threads(), 0, "a connecting client took a thread");
    // The connect timeout still closes a socket that never sends CONNECT.
    silent.expect_closed(Duration::from_secs(2));
    // Traffic gets a thread as before.
    clients[0].subscribe_ok(1, &[("greet/topic", QoS::AtMostOnce)]);
    for client in &mut clients {
        client.sync();
    }
}
