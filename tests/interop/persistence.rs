//! Persistence with real peers: a paho-mqtt and a mosquitto_sub persistent session (clean
//! session 0) survive the broker being replaced by a new one on the same persistence file —
//! subscriptions, queued QoS 1 and 2 messages and retained messages come back, with CONNACK
//! session present 1. Skipped with a message when a peer is missing, a failure under CI=true.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::paho::{by_qos, message, paho, paho_subscriber};
use crate::common::RawClient;
use crate::fixture::{eventually, start_broker};
use crate::interop_support::{
    PEER_TIMEOUT, PeerProcess, mosquitto_clients_present, paho_present, publish_from_raw,
    publish_queue,
};
use mqtt::broker::{Broker, BrokerOptions};
use mqtt::protocol::QoS;

fn store_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqtt-interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("store.db")
}

fn persistent_broker(file: &Path) -> Broker {
    start_broker(BrokerOptions {
        persistence: Some(file.to_owned()),
        ..BrokerOptions::default()
    })
}

#[test]
fn paho_persistent_session_survives_a_broker_restart() {
    if !paho_present() {
        return;
    }
    let file = store_file("paho");
    let broker = persistent_broker(&file);
    let persistent = [
        "--client-id",
        "paho-restart",
        "--persistent",
        "--filter",
        "queue/#",
        "--qos",
        "2",
    ];
    let first = paho_subscriber(broker.port(), "311", &persistent, false, QoS::ExactlyOnce);
    assert_eq!(first.finish_ok(PEER_TIMEOUT), ["done"]);
    eventually("paho left", || broker.stats().clients_connected == 0);
    let mut publisher = RawClient::clean(broker.port(), "publisher");
    let expected: Vec<String> = publish_queue(&mut publisher, "kept")
        .into_iter()
        .map(|(topic, payload, qos)| message(qos, false, &topic, payload.as_bytes()))
        .collect();
    publish_from_raw(
        &mut publisher,
        "retained/r",
        b"r",
        QoS::AtLeastOnce,
        true,
        50,
    );
    drop(publisher);
    drop(broker);

    let broker = persistent_broker(&file);
    let mut args = persistent.to_vec();
    args.extend(["--count", "6"]);
    let resumed = PeerProcess::spawn(paho(broker.port(), "311", "subscribe", &args), false);
    assert_eq!(resumed.expect_line(), "connected session_present=1");
    let got = resumed.finish_ok(PEER_TIMEOUT);
    assert_eq!(by_qos(&got), by_qos(&expected), "{got:?}");
    assert_eq!(broker.stats().retained_messages, 1);
}

/// mosquitto_sub with the persistent session "mosq-restart" on keep/# at QoS 2.
fn mosquitto_sub(port: u16, extra: &[&str]) -> Command {
    let mut command = Command::new("mosquitto_sub");
    command
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "-i",
            "mosq-restart",
            "-q",
            "2",
        ])
        .args(["-t", "keep/#"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

#[test]
fn mosquitto_sub_persistent_session_survives_a_broker_restart() {
    if !mosquitto_clients_present() {
        return;
    }
    let file = store_file("mosquitto");
    let broker = persistent_broker(&file);
    // Subscribes, waits a second for nothing and exits: the session stays with the broker.
    let _ = mosquitto_sub(broker.port(), &["-W", "1"]).status().unwrap();
    eventually("mosquitto_sub left", || {
        broker.stats().clients_connected == 0
    });
    let port = broker.port().to_string();
    for (qos, topic, text, retain) in [
        ("1", "keep/a", "one", false),
        ("2", "keep/b", "two", false),
        ("1", "keep/r", "kept", true),
    ] {
        let mut args = vec!["-p", &port, "-q", qos, "-t", topic, "-m", text];
        if retain {
            args.push("-r");
        }
        assert!(
            Command::new("mosquitto_pub")
                .args(&args)
                .status()
                .unwrap()
                .success()
        );
    }
    drop(broker);

    let broker = persistent_broker(&file);
    let output = mosquitto_sub(broker.port(), &["-v", "-C", "4", "-W", "10"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    // The three queued messages, then the retained one again for the new SUBSCRIBE.
    assert_eq!(
        lines,
        ["keep/a one", "keep/b two", "keep/r kept", "keep/r kept"],
        "{output:?}"
    );
}
