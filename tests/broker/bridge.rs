//! Bridges between two of this crate's brokers, at the wire: `out` and `in` rules with
//! prefixes, QoS kept, retained flags kept, the state topic, no loop on a `both` rule over
//! MQTT 3.1.1 (echo detection) or 5.0 (No Local), messages waiting while the remote is down,
//! and a remote that refuses the bridge. Bridges to mosquitto are in the interop binary.

use std::net::TcpListener;
use std::time::Duration;

use crate::common::*;
use crate::fixture::start_broker;
use mqtt::broker::{
    AuthResult, BridgeDirection, BridgeOptions, Broker, BrokerOptions, PersistenceSync,
};
use mqtt::protocol::{Ack, Packet, ProtocolLevel, QoS, QosPid};

fn quick(options: BridgeOptions) -> BridgeOptions {
    BridgeOptions {
        restart_base: Duration::from_millis(100),
        restart_cap: Duration::from_millis(400),
        ..options
    }
}

fn bridged(options: BridgeOptions) -> Broker {
    start_broker(BrokerOptions {
        bridges: vec![quick(options)],
        ..BrokerOptions::default()
    })
}

/// A broker on `port` (the fixture's picks its own).
fn on_port(port: u16) -> Broker {
    let broker = Broker::new(BrokerOptions::with_port(port));
    broker.start().expect("the remote starts on its port");
    broker
}

fn connected(broker: &Broker) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !broker.bridges().first().is_some_and(|b| b.connected) {
        assert!(
            std::time::Instant::now() < deadline,
            "bridge not connected: {:?}",
            broker.bridges()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn out_and_in_rules_rename_topics_and_keep_qos_and_retain() {
    let remote = start_broker(BrokerOptions::default());
    let local = bridged(
        BridgeOptions::new("edge", "127.0.0.1", remote.port())
            .topic("sensors/#", BridgeDirection::Out, 2, "site/", "hq/site1/")
            .topic("cmd/#", BridgeDirection::In, 1, "local/", "remote/"),
    );
    let mut upstream = RawClient::clean(remote.port(), "upstream");
    upstream.subscribe_ok(1, &[("hq/#", QoS::ExactlyOnce)]);
    let mut downstream = RawClient::clean(local.port(), "downstream");
    downstream.subscribe_ok(1, &[("local/#", QoS::ExactlyOnce)]);
    connected(&local);
    // The bridge's own session on the remote is in place once its subscription is.
    eventually("remote subscription", || remote.stats().subscriptions == 2);

    let mut publisher = RawClient::clean(local.port(), "publisher");
    publisher.send(&publish(
        "site/sensors/t",
        b"21.5",
        QosPid::ExactlyOnce(pid(1)),
        false,
    ));
    assert!(matches!(publisher.recv(), Packet::Pubrec(_)));
    publisher.send(&Packet::Pubrel(Ack::new(pid(1))));
    assert_eq!(
        upstream.recv_completed(),
        (
            "hq/site1/sensors/t".into(),
            b"21.5".to_vec(),
            QoS::ExactlyOnce,
            false
        )
    );
    // A topic no rule exports stays home.
    publisher.send(&publish("site/other", b"x", QosPid::AtMostOnce, false));

    let mut commander = RawClient::clean(remote.port(), "commander");
    commander.send(&publish(
        "remote/cmd/open",
        b"now",
        QosPid::AtLeastOnce(pid(2)),
        false,
    ));
    assert!(matches!(commander.recv(), Packet::Puback(_)));
    assert_eq!(
        downstream.recv_completed(),
        (
            "local/cmd/open".into(),
            b"now".to_vec(),
            QoS::AtLeastOnce,
            false
        )
    );
    // Retained flags travel: a retained message published out arrives retained for a new
    // subscriber on the remote.
    local
        .publish("site/sensors/kept", b"k", QoS::AtLeastOnce, true)
        .unwrap();
    let _ = upstream.recv_completed();
    let mut late = RawClient::clean(remote.port(), "late");
    late.subscribe_ok(1, &[("hq/site1/sensors/kept", QoS::AtLeastOnce)]);
    assert_eq!(
        late.recv_completed(),
        (
            "hq/site1/sensors/kept".into(),
            b"k".to_vec(),
            QoS::AtLeastOnce,
            true
        )
    );
    upstream.expect_silence(Duration::from_millis(200));
    let status = &local.bridges()[0];
    assert_eq!(
        (status.messages_out, status.messages_in),
        (2, 1),
        "{status:?}"
    );
}

/// A `both` rule on `#` between two brokers: every message arrives once on each side and
/// nothing comes back — over MQTT 3.1.1 by dropping the remote's echo, over 5.0 by No Local.
#[test]
fn a_both_rule_on_everything_does_not_loop() {
    for protocol in [ProtocolLevel::V311, ProtocolLevel::V5] {
        let remote = start_broker(BrokerOptions::default());
        let mut options = BridgeOptions::new("twin", "127.0.0.1", remote.port()).topic(
            "#",
            BridgeDirection::Both,
            1,
            "",
            "",
        );
        options.protocol = protocol;
        options.notifications = false;
        let local = bridged(options);
        let mut here = RawClient::clean(local.port(), "here");
        here.subscribe_ok(1, &[("t/#", QoS::AtLeastOnce)]);
        let mut there = RawClient::clean(remote.port(), "there");
        there.subscribe_ok(1, &[("t/#", QoS::AtLeastOnce)]);
        connected(&local);
        eventually("remote subscription", || remote.stats().subscriptions == 2);

        local
            .publish("t/from-local", b"1", QoS::AtLeastOnce, false)
            .unwrap();
        remote
            .publish("t/from-remote", b"2", QoS::AtLeastOnce, false)
            .unwrap();
        let mut seen_here: Vec<String> = (0..2).map(|_| here.recv_completed().0).collect();
        let mut seen_there: Vec<String> = (0..2).map(|_| there.recv_completed().0).collect();
        seen_here.sort();
        seen_there.sort();
        assert_eq!(seen_here, ["t/from-local", "t/from-remote"], "{protocol:?}");
        assert_eq!(
            seen_there,
            ["t/from-local", "t/from-remote"],
            "{protocol:?}"
        );
        here.expect_silence(Duration::from_millis(500));
        there.expect_silence(Duration::from_millis(100));
        assert_eq!(local.stats().messages_received, 2, "{protocol:?}: no loop");
    }
}

/// A remote that is not there yet: the bridge retries with backoff, the local broker serves
/// meanwhile, QoS 1 messages published meanwhile wait in the bridge's session and are delivered
/// once the remote is up; the state topic says 0, then 1.
#[test]
fn messages_wait_while_the_remote_is_down() {
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let local = bridged(BridgeOptions::new("later", "127.0.0.1", port).topic(
        "q/#",
        BridgeDirection::Out,
        1,
        "",
        "",
    ));
    let mut watcher = RawClient::clean(local.port(), "watcher");
    watcher.subscribe_ok(
        1,
        &[("$SYS/broker/connection/later/state", QoS::AtMostOnce)],
    );
    assert_eq!(watcher.recv_completed().1, b"0");
    for i in 0..5u8 {
        local.publish("q/m", &[i], QoS::AtLeastOnce, false).unwrap();
    }
    eventually("a failed attempt noted", || {
        local.bridges()[0].last_error.is_some()
    });
    assert!(!local.bridges()[0].connected);

    let remote = on_port(port);
    let mut upstream = RawClient::clean(remote.port(), "upstream");
    upstream.subscribe_ok(1, &[("q/#", QoS::AtLeastOnce)]);
    connected(&local);
    assert_eq!(watcher.recv_completed().1, b"1");
    let got: Vec<Vec<u8>> = (0..5).map(|_| upstream.recv_completed().1).collect();
    assert_eq!(got, (0..5u8).map(|i| vec![i]).collect::<Vec<_>>());
}

/// A remote refusing the bridge's credentials: the bridge keeps trying with backoff and says
/// why, and the local broker goes on serving its clients.
#[test]
fn a_refusing_remote_is_retried_and_harms_nothing_locally() {
    let remote = start_broker(
        BrokerOptions::default()
            .authenticator(|_: &mqtt::broker::AuthRequest<'_>| AuthResult::BadCredentials),
    );
    let local = bridged(
        BridgeOptions::new("refused", "127.0.0.1", remote.port()).topic(
            "#",
            BridgeDirection::Out,
            0,
            "",
            "",
        ),
    );
    eventually("refusals", || {
        local.bridges()[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("refused") || e.contains("password"))
    });
    let accepted_before = remote.stats().connections_accepted;
    std::thread::sleep(Duration::from_millis(700));
    let attempts = remote.stats().connections_accepted - accepted_before;
    // Backoff from 100 ms doubling up to 400 ms: a few attempts in 700 ms, not a storm.
    assert!((1..=6).contains(&attempts), "{attempts} attempts");
    let mut a = RawClient::clean(local.port(), "a");
    a.subscribe_ok(1, &[("x", QoS::AtMostOnce)]);
    local.publish("x", b"fine", QoS::AtMostOnce, false).unwrap();
    assert_eq!(a.recv_completed().1, b"fine");
    assert_eq!(local.bridges()[0].connects, 0);
}

/// With persistence, messages waiting for a remote that is down survive a restart of the
/// local broker.
#[test]
fn waiting_messages_survive_a_local_restart_with_persistence() {
    let dir = std::env::temp_dir().join(format!("mqtt-bridge-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let options = || BrokerOptions {
        persistence: Some(dir.join("store.db")),
        persistence_sync: PersistenceSync::Durable,
        bridges: vec![quick(BridgeOptions::new("kept", "127.0.0.1", port).topic(
            "p/#",
            BridgeDirection::Out,
            1,
            "",
            "",
        ))],
        ..BrokerOptions::default()
    };
    let local = start_broker(options());
    local
        .publish("p/1", b"one", QoS::AtLeastOnce, false)
        .unwrap();
    local
        .publish("p/2", b"two", QoS::AtLeastOnce, false)
        .unwrap();
    eventually("stored", || {
        local.persistence_stats().is_some_and(|s| s.commits > 0)
    });
    drop(local);

    let remote = on_port(port);
    let mut upstream = RawClient::clean(remote.port(), "upstream");
    upstream.subscribe_ok(1, &[("p/#", QoS::AtLeastOnce)]);
    let local = start_broker(options());
    connected(&local);
    let got: Vec<Vec<u8>> = (0..2).map(|_| upstream.recv_completed().1).collect();
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
}

/// A mosquitto.conf `connection` section, copied over, bridges as mosquitto would.
#[test]
fn a_mosquitto_bridge_section_works() {
    let remote = start_broker(BrokerOptions::default());
    let dir = std::env::temp_dir().join(format!("mqtt-bridge-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("bridge.conf");
    std::fs::write(
        &conf,
        format!(
            "listener 0\n\
             connection hq\n\
             address 127.0.0.1:{}\n\
             remote_clientid edge-7\n\
             cleansession false\n\
             keepalive_interval 30\n\
             restart_timeout 1 2\n\
             try_private true\n\
             notifications true\n\
             topic telemetry/# out 1 edge/ sites/7/\n",
            remote.port()
        ),
    )
    .unwrap();
    let mut options = BrokerOptions::default();
    options.load_config(&conf).expect("the section loads");
    // `listener 0` alone would listen on every address; tests stay on loopback.
    options.bind_address = "127.0.0.1".into();
    let local = start_broker(options);
    connected(&local);
    let mut upstream = RawClient::clean(remote.port(), "upstream");
    upstream.subscribe_ok(1, &[("sites/7/#", QoS::AtLeastOnce)]);
    local
        .publish("edge/telemetry/temp", b"20", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(
        upstream.recv_completed(),
        (
            "sites/7/telemetry/temp".into(),
            b"20".to_vec(),
            QoS::AtLeastOnce,
            false
        )
    );
    assert!(remote.clients().iter().any(|c| &*c.client_id == "edge-7"));
}

/// A first address that does not answer is skipped, and when the address the bridge reached
/// goes away, the bridge's reconnects fail over to the next one (mosquitto's `addresses`).
#[test]
fn addresses_fail_over_in_order() {
    let dead = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let first = start_broker(BrokerOptions::default());
    let second = start_broker(BrokerOptions::default());
    let mut options = BridgeOptions::new("multi", "127.0.0.1", dead).topic(
        "f/#",
        BridgeDirection::Out,
        1,
        "",
        "",
    );
    options.addresses.push(("127.0.0.1".into(), first.port()));
    options.addresses.push(("127.0.0.1".into(), second.port()));
    let local = bridged(options);
    connected(&local);
    let mut at_first = RawClient::clean(first.port(), "at-first");
    at_first.subscribe_ok(1, &[("f/#", QoS::AtLeastOnce)]);
    local
        .publish("f/1", b"one", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(at_first.recv_completed().1, b"one");

    let mut at_second = RawClient::clean(second.port(), "at-second");
    at_second.subscribe_ok(1, &[("f/#", QoS::AtLeastOnce)]);
    drop(at_first);
    first.stop();
    eventually("link lost", || !local.bridges()[0].connected);
    connected(&local);
    local
        .publish("f/2", b"two", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(at_second.recv_completed().1, b"two");
}

/// `start_type lazy`: the bridge connects only once 10 messages wait (mosquitto's default
/// `threshold`), then delivers them all.
#[test]
fn a_lazy_bridge_connects_when_messages_wait() {
    let remote = start_broker(BrokerOptions::default());
    let mut options = BridgeOptions::new("lazy", "127.0.0.1", remote.port()).topic(
        "z/#",
        BridgeDirection::Out,
        1,
        "",
        "",
    );
    options.start = mqtt::broker::BridgeStart::Lazy;
    let local = bridged(options);
    let mut upstream = RawClient::clean(remote.port(), "upstream");
    upstream.subscribe_ok(1, &[("z/#", QoS::AtLeastOnce)]);
    for i in 0..9u8 {
        local.publish("z/m", &[i], QoS::AtLeastOnce, false).unwrap();
    }
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(local.bridges()[0].connects, 0, "not yet: 9 waiting");
    local.publish("z/m", &[9], QoS::AtLeastOnce, false).unwrap();
    connected(&local);
    let got: Vec<Vec<u8>> = (0..10).map(|_| upstream.recv_completed().1).collect();
    assert_eq!(got, (0..10u8).map(|i| vec![i]).collect::<Vec<_>>());
}
