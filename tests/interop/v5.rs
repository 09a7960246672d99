//! MQTT 5.0 interop with peers nobody here wrote: paho-mqtt 2.x in MQTT 5 mode
//! (tests/python/paho_v5.py) and mosquitto_pub / mosquitto_sub with `-V 5` against our broker.

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::interop_support::{PEER_TIMEOUT, PeerProcess, mosquitto_clients_present, paho_present};
use mqtt::broker::{Broker, BrokerOptions};

fn broker() -> Broker {
    let broker = Broker::new(BrokerOptions::with_port(0));
    broker.start().unwrap();
    broker
}

/// Runs a scenario of tests/python/paho_v5.py and returns its "key value" lines; `None` when
/// paho-mqtt is missing (which fails under CI=true).
fn paho(scenario: &str) -> Option<Vec<String>> {
    if !paho_present() {
        return None;
    }
    let broker = broker();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/paho_v5.py");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .args(["127.0.0.1", &broker.port().to_string(), scenario]);
    let lines = PeerProcess::spawn(command, false).finish_ok(2 * PEER_TIMEOUT);
    assert_eq!(lines.last().map(String::as_str), Some("ok"), "{lines:?}");
    Some(lines)
}

fn value<'a>(lines: &'a [String], key: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
}

/// MQTT 5.0 [MQTT-3.3.2-4], [MQTT-3.3.2-15] to [MQTT-3.3.2-18], [MQTT-3.3.2-20], [MQTT-3.3.2-6].
#[test]
fn paho_v5_properties_are_forwarded() {
    let Some(lines) = paho("properties") else {
        return;
    };
    assert_eq!(value(&lines, "payload"), "hello");
    assert_eq!(value(&lines, "user"), "b=2,a=1,b=3");
    assert_eq!(value(&lines, "content_type"), "text/plain");
    assert_eq!(value(&lines, "payload_format"), "1");
    assert_eq!(value(&lines, "response_topic"), "reply/here");
    assert_eq!(value(&lines, "correlation"), "0102");
    assert_eq!(value(&lines, "expiry_ok"), "1");
}

/// MQTT 5.0 [MQTT-3.8.3-3], [MQTT-3.3.1-13], [MQTT-3.3.4-3], retain handling 1 and 2
/// ([MQTT-3.3.1-10], [MQTT-3.3.1-11]).
#[test]
fn paho_v5_subscription_options() {
    let Some(lines) = paho("options") else {
        return;
    };
    assert_eq!(value(&lines, "no_local_payload"), "other");
    assert_eq!(value(&lines, "retain_as_published"), "1");
    assert_eq!(value(&lines, "subscription_ids"), "42");
    assert_eq!(value(&lines, "retain_handling_2"), "nothing");
    assert_eq!(value(&lines, "retain_handling_1_existing"), "nothing");
}

/// MQTT 5.0 section 3.1.2.11.2: a session with an expiry interval keeps its messages
/// ([MQTT-3.1.2-5], [MQTT-3.1.2-23]).
#[test]
fn paho_v5_session_expiry_keeps_queued_messages() {
    let Some(lines) = paho("session") else {
        return;
    };
    assert_eq!(value(&lines, "session_present"), "1");
    assert_eq!(value(&lines, "queued"), "m0,m1,m2");
}

/// MQTT 5.0 section 3.3.2.3.4: paho's topic aliases resolve to the topic ([MQTT-3.3.2-12]).
#[test]
fn paho_v5_topic_alias() {
    let Some(lines) = paho("alias") else {
        return;
    };
    assert_eq!(
        value(&lines, "aliased"),
        "alias/long/topic:one,alias/long/topic:two"
    );
}

/// MQTT 5.0 section 4.8.2: each message to one member of the share group.
#[test]
fn paho_v5_shared_subscription() {
    let Some(lines) = paho("shared") else {
        return;
    };
    assert_eq!(value(&lines, "shared_total"), "10");
    assert_eq!(value(&lines, "shared_distinct"), "10");
    assert_eq!(value(&lines, "shared_each_got_some"), "1");
}

/// MQTT 5.0 section 4.10: request/response with Response Topic and Correlation Data.
#[test]
fn paho_v5_request_response() {
    let Some(lines) = paho("request_response") else {
        return;
    };
    assert_eq!(value(&lines, "reply"), "pong req-7");
}

/// mosquitto_pub -V 5 -D sends properties; mosquitto_sub -V 5 -F prints what it received,
/// user properties (%P) in order.
#[test]
fn mosquitto_clients_v5_properties_round_trip() {
    if !mosquitto_clients_present() {
        return;
    }
    let broker = broker();
    let port = broker.port().to_string();
    let mut sub = Command::new("mosquitto_sub");
    sub.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-V",
        "5",
        "-t",
        "v5/#",
        "-q",
        "1",
    ])
    .args(["-C", "1", "-W", "15", "-F", "%t|%p|%P|%C|%R|%E"]);
    let subscriber = PeerProcess::spawn(sub, false);
    // Wait until the subscription exists before publishing.
    let deadline = Instant::now() + Duration::from_secs(10);
    while broker.stats().subscriptions == 0 {
        assert!(Instant::now() < deadline, "mosquitto_sub did not subscribe");
        thread::sleep(Duration::from_millis(20));
    }
    let mut publisher = Command::new("mosquitto_pub");
    publisher
        .args(["-h", "127.0.0.1", "-p", &port, "-V", "5", "-q", "1"])
        .args(["-t", "v5/x", "-m", "body"])
        .args(["-D", "publish", "user-property", "k1", "v1"])
        .args(["-D", "publish", "user-property", "k2", "v2"])
        .args(["-D", "publish", "content-type", "text/plain"])
        .args(["-D", "publish", "response-topic", "r/t"])
        .args(["-D", "publish", "message-expiry-interval", "30"]);
    PeerProcess::spawn(publisher, false).finish_ok(PEER_TIMEOUT);
    let lines = subscriber.finish_ok(PEER_TIMEOUT);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let fields: Vec<&str> = lines[0].split('|').collect();
    assert_eq!(fields.len(), 6, "{lines:?}");
    assert_eq!(
        &fields[..5],
        ["v5/x", "body", "k1:v1 k2:v2", "text/plain", "r/t"]
    );
    let expiry: u32 = fields[5].parse().expect("expiry");
    assert!((25..=30).contains(&expiry), "{expiry}");
}
