//! Bridges from this crate's broker to Debian's mosquitto: `out`, `in` and `both` rules with
//! prefixes between our raw clients on one side and mosquitto_sub / mosquitto_pub on the other,
//! QoS and retained flags kept; mosquitto killed and restarted while messages wait; and a chain
//! ours → mosquitto → ours delivering once. Skipped with a message without mosquitto, a failure
//! under CI=true.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::Duration;

use crate::common::*;
use crate::fixture::start_broker;
use crate::interop_support::{PEER_TIMEOUT, mosquitto_clients_present};
use crate::mosquitto::Mosquitto;
use mqtt::broker::{BridgeDirection, BridgeOptions, Broker, BrokerOptions};
use mqtt::protocol::{Packet, QoS, QosPid};

fn bridged_to(port: u16, options: impl FnOnce(BridgeOptions) -> BridgeOptions) -> Broker {
    let bridge = options(BridgeOptions {
        restart_base: Duration::from_millis(300),
        restart_cap: Duration::from_secs(1),
        ..BridgeOptions::new("up", "127.0.0.1", port)
    });
    let broker = start_broker(BrokerOptions {
        bridges: vec![bridge],
        ..BrokerOptions::default()
    });
    wait_connected(&broker);
    broker
}

fn wait_connected(broker: &Broker) {
    crate::fixture::eventually("bridge connected", || {
        broker.bridges().first().is_some_and(|b| b.connected)
    });
}

/// mosquitto_sub printing `topic payload` lines, read on a thread.
fn mosquitto_sub(port: u16, args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = Command::new("mosquitto_sub")
        .args(["-p", &port.to_string(), "-v"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

fn mosquitto_pub(port: u16, args: &[&str]) {
    let status = Command::new("mosquitto_pub")
        .args(["-p", &port.to_string()])
        .args(args)
        .status()
        .expect("mosquitto_pub runs");
    assert!(status.success());
}

fn line(lines: &Receiver<String>) -> String {
    lines
        .recv_timeout(PEER_TIMEOUT)
        .expect("mosquitto_sub prints")
}

#[test]
fn rules_carry_messages_both_ways_with_mosquitto() {
    let Some(remote) = Mosquitto::start() else {
        return;
    };
    if !mosquitto_clients_present() {
        return;
    }
    let local = bridged_to(remote.port, |b| {
        b.topic("a/#", BridgeDirection::Out, 1, "l/", "r/")
            .topic("b/#", BridgeDirection::In, 2, "l/", "r/")
            .topic("c/#", BridgeDirection::Both, 1, "", "")
    });
    // out: local l/a/... reaches mosquitto_sub as r/a/..., retained flag kept.
    let (mut sub, lines) = mosquitto_sub(remote.port, &["-t", "r/a/#", "-t", "c/#", "-q", "2"]);
    thread::sleep(Duration::from_millis(300));
    let mut publisher = RawClient::clean(local.port(), "local-pub");
    publisher.send(&publish(
        "l/a/x",
        b"out",
        QosPid::AtLeastOnce(pid(1)),
        false,
    ));
    assert!(matches!(publisher.recv(), Packet::Puback(_)));
    assert_eq!(line(&lines), "r/a/x out");
    // in: mosquitto_pub on r/b/... reaches our client as l/b/... at QoS 2.
    let mut here = RawClient::clean(local.port(), "here");
    here.subscribe_ok(1, &[("l/b/#", QoS::ExactlyOnce), ("c/#", QoS::AtLeastOnce)]);
    mosquitto_pub(remote.port, &["-t", "r/b/z", "-m", "in", "-q", "2"]);
    assert_eq!(
        here.recv_completed(),
        ("l/b/z".into(), b"in".to_vec(), QoS::ExactlyOnce, false)
    );
    // try_private: mosquitto takes the bridge for one and keeps the RETAIN flag on what it
    // forwards, so a retained message published there is retained here too.
    mosquitto_pub(remote.port, &["-t", "r/b/kept", "-m", "r", "-q", "1", "-r"]);
    assert_eq!(here.recv_completed().0, "l/b/kept");
    let mut late = RawClient::clean(local.port(), "late-local");
    late.subscribe_ok(1, &[("l/b/kept", QoS::AtLeastOnce)]);
    assert_eq!(
        late.recv_completed(),
        ("l/b/kept".into(), b"r".to_vec(), QoS::AtLeastOnce, true)
    );
    // both: each side sees each message once.
    mosquitto_pub(
        remote.port,
        &["-t", "c/1", "-m", "from-mosquitto", "-q", "1"],
    );
    assert_eq!(line(&lines), "c/1 from-mosquitto");
    assert_eq!(here.recv_completed().1, b"from-mosquitto");
    publisher.send(&publish(
        "c/2",
        b"from-us",
        QosPid::AtLeastOnce(pid(2)),
        false,
    ));
    assert!(matches!(publisher.recv(), Packet::Puback(_)));
    assert_eq!(line(&lines), "c/2 from-us");
    assert_eq!(here.recv_completed().1, b"from-us");
    here.expect_silence(Duration::from_millis(500));
    assert!(
        lines.recv_timeout(Duration::from_millis(200)).is_err(),
        "a loop"
    );
    // A retained message out keeps its flag: a new mosquitto_sub gets it retained.
    local
        .publish("l/a/kept", b"k", QoS::AtLeastOnce, true)
        .unwrap();
    assert_eq!(line(&lines), "r/a/kept k");
    let _ = sub.kill();
    let output = Command::new("mosquitto_sub")
        .args([
            "-p",
            &remote.port.to_string(),
            "-t",
            "r/a/kept",
            "-v",
            "-C",
            "1",
            "-W",
            "5",
        ])
        .args(["-F", "%t %p %r"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "r/a/kept k 1"
    );
}

/// mosquitto killed for a while: QoS 1 and 2 messages published meanwhile are delivered once
/// it is back, none twice; the state topic goes 0 then 1.
#[test]
fn messages_wait_while_mosquitto_is_down() {
    let Some(mut remote) = Mosquitto::start() else {
        return;
    };
    let local = bridged_to(remote.port, |b| {
        b.topic("q/#", BridgeDirection::Out, 2, "", "")
    });
    let mut state = RawClient::clean(local.port(), "state");
    state.subscribe_ok(1, &[("$SYS/broker/connection/up/state", QoS::AtMostOnce)]);
    assert_eq!(state.recv_completed().1, b"1");
    remote.restart_after(|| {
        assert_eq!(state.recv_completed().1, b"0");
        for i in 0..4u8 {
            let qos = if i % 2 == 0 {
                QoS::AtLeastOnce
            } else {
                QoS::ExactlyOnce
            };
            local
                .publish(&format!("q/{i}"), &[b'0' + i], qos, false)
                .unwrap();
        }
    });
    let mut upstream = RawClient::clean(remote.port, "upstream");
    upstream.subscribe_ok(1, &[("q/#", QoS::ExactlyOnce)]);
    assert_eq!(state.recv_completed().1, b"1");
    let mut got: Vec<Vec<u8>> = (0..4).map(|_| upstream.recv_completed().1).collect();
    got.sort();
    assert_eq!(got, [b"0", b"1", b"2", b"3"]);
    upstream.expect_silence(Duration::from_millis(300));
}

/// ours → mosquitto → ours: a message crosses two bridges and arrives once.
#[test]
fn a_chain_through_mosquitto_delivers_once() {
    let Some(middle) = Mosquitto::start() else {
        return;
    };
    let first = bridged_to(middle.port, |b| {
        b.topic("chain/#", BridgeDirection::Out, 1, "", "")
    });
    let last = bridged_to(middle.port, |mut b| {
        b.name = "down".into();
        b.topic("chain/#", BridgeDirection::In, 1, "", "")
    });
    let mut end = RawClient::clean(last.port(), "end");
    end.subscribe_ok(1, &[("chain/#", QoS::AtLeastOnce)]);
    thread::sleep(Duration::from_millis(300));
    first
        .publish("chain/x", b"hop", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(
        end.recv_completed(),
        ("chain/x".into(), b"hop".to_vec(), QoS::AtLeastOnce, false)
    );
    end.expect_silence(Duration::from_millis(300));
}
