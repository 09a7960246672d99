//! Interoperability over WebSocket: this project's client (`ws://` and `wss://`, MQTT 5.0 and
//! 3.1.1 section 6) against Debian's mosquitto with `protocol websockets` listeners (its
//! WebSocket side is libwebsockets), plain and over TLS with a certificate the test makes, and
//! mosquitto_sub / mosquitto_pub over TCP as independent peers. mosquitto's websockets listener
//! listens on every address whatever the configuration says; the tests connect to 127.0.0.1
//! only. Skipped with a message when mosquitto or mosquitto-clients is missing, a failure under
//! CI=true.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use crate::interop_support::{PEER_TIMEOUT, PeerProcess, mosquitto_clients_present};
use crate::mosquitto::{Mosquitto, free_port};
use crate::tls_support::Pki;
use mqtt::client::{Client, ConnectOptions, OwnedMessage};
use mqtt::protocol::{ProtocolLevel, QoS};
use mqtt::tls::{ClientTls, Pem};

const WAIT: Duration = Duration::from_secs(5);

/// mosquitto with a plain listener, a `ws` one and a `wss` one presenting a certificate for
/// 127.0.0.1 from `pki`, on free ports; `None` (after saying why) when something is missing
/// outside CI.
struct WsMosquitto {
    broker: Mosquitto,
    ws: u16,
    wss: u16,
}

fn start(pki: &Pki) -> Option<WsMosquitto> {
    if !mosquitto_clients_present() {
        return None;
    }
    let server = pki.server("ws-server", &["127.0.0.1", "localhost"]);
    let (ws, wss) = (free_port(), free_port());
    let extra = format!(
        "allow_anonymous true\n\
         listener {ws} 127.0.0.1\nprotocol websockets\n\
         listener {wss} 127.0.0.1\nprotocol websockets\ncertfile {}\nkeyfile {}\n",
        server.cert, server.key
    );
    let broker = Mosquitto::start_with(&extra, &[])?;
    Some(WsMosquitto { broker, ws, wss })
}

fn options(pki: &Pki, scheme: &str, id: &str, protocol: ProtocolLevel) -> ConnectOptions {
    let options = ConnectOptions::new()
        .protocol(protocol)
        .client_id(id)
        .connect_timeout(WAIT)
        .operation_timeout(WAIT);
    if scheme == "wss" {
        options.tls(ClientTls {
            ca: Some(Pem::File(pki.ca_file())),
            ..ClientTls::default()
        })
    } else {
        options
    }
}

fn collect(client: &Client, filter: &str) -> Receiver<OwnedMessage> {
    let (tx, rx) = mpsc::channel();
    client
        .subscribe(filter, QoS::ExactlyOnce, move |m| {
            let _ = tx.send(m.to_owned());
        })
        .expect("subscribe over WebSocket");
    rx
}

/// In MQTT 3.1.1 and 5.0: our client subscribed over `ws://` receives what our client over
/// `wss://` publishes at QoS 0, 1 and 2 (and a 40 KiB message, which mosquitto sends in 4 KiB
/// pieces) and what mosquitto_pub sends over TCP; mosquitto_sub over TCP receives what our
/// client publishes over `wss://`.
#[test]
fn websocket_client_against_mosquitto() {
    let pki = Pki::new("ws-interop-ca");
    let Some(mosquitto) = start(&pki) else {
        return;
    };
    for (protocol, version) in [
        (ProtocolLevel::V311, "mqttv311"),
        (ProtocolLevel::V5, "mqttv5"),
    ] {
        let ws_url = format!("ws://127.0.0.1:{}/mqtt", mosquitto.ws);
        let wss_url = format!("wss://127.0.0.1:{}", mosquitto.wss);
        let subscriber = Client::connect_url(&ws_url, &options(&pki, "ws", "ws-sub", protocol))
            .expect("ws:// to mosquitto");
        let rx = collect(&subscriber, "wsi/#");
        subscriber.loop_start().unwrap();
        let publisher = Client::connect_url(&wss_url, &options(&pki, "wss", "wss-pub", protocol))
            .expect("wss:// to mosquitto");
        // mosquitto 2.0's websockets listener sends about 4 KiB per turn of its loop (some
        // 40 KiB/s, whatever the client), so "large" stays well below a second's worth.
        let large: Vec<u8> = (0..40 * 1024).map(|i| (i % 253) as u8).collect();
        let sent = [
            ("wsi/0", b"zero".to_vec(), QoS::AtMostOnce),
            ("wsi/1", b"one".to_vec(), QoS::AtLeastOnce),
            ("wsi/2", b"two".to_vec(), QoS::ExactlyOnce),
            ("wsi/large", large, QoS::AtLeastOnce),
        ];
        for (topic, payload, qos) in &sent {
            publisher.publish(topic, payload, *qos, false).unwrap();
            let m = rx
                .recv_timeout(WAIT)
                .unwrap_or_else(|e| panic!("{version} {topic}: {e}"));
            assert_eq!((m.topic.as_str(), m.qos), (*topic, *qos), "{version}");
            assert!(m.payload == *payload, "{version} {topic}");
        }

        let mut pub_command = Command::new("mosquitto_pub");
        pub_command
            .args(["-h", "127.0.0.1", "-p"])
            .arg(mosquitto.broker.port.to_string())
            .args(["-V", version, "-t", "wsi/tcp", "-m", "from tcp", "-q", "2"]);
        PeerProcess::spawn(pub_command, false).finish_ok(PEER_TIMEOUT);
        let m = rx.recv_timeout(WAIT).expect("mosquitto_pub's message");
        assert_eq!(
            (m.topic.as_str(), &m.payload[..], m.qos),
            ("wsi/tcp", &b"from tcp"[..], QoS::ExactlyOnce)
        );

        let mut sub_command = Command::new("mosquitto_sub");
        sub_command
            .args(["-h", "127.0.0.1", "-p"])
            .arg(mosquitto.broker.port.to_string())
            .args([
                "-V", version, "-t", "wsback/t", "-q", "1", "-C", "1", "-W", "10",
            ]);
        let mosquitto_sub = PeerProcess::spawn(sub_command, false);
        // mosquitto_sub subscribes after it starts: publish retained so the timing cannot
        // matter, then clear the retained message.
        publisher
            .publish("wsback/t", b"over wss", QoS::AtLeastOnce, true)
            .unwrap();
        assert_eq!(mosquitto_sub.finish_ok(PEER_TIMEOUT), ["over wss"]);
        publisher
            .publish("wsback/t", b"", QoS::AtLeastOnce, true)
            .unwrap();

        assert!(rx.try_recv().is_err(), "{version}: nothing more");
        publisher.disconnect().unwrap();
        subscriber.disconnect().unwrap();
    }
}

/// Reconnects over `ws://` to mosquitto: explicit, and automatic after mosquitto drops the
/// connection (a plain TCP client takes the client id over); the subscription carries on.
#[test]
fn websocket_client_reconnects_to_mosquitto() {
    let pki = Pki::new("ws-interop-ca");
    let Some(mosquitto) = start(&pki) else {
        return;
    };
    let url = format!("ws://127.0.0.1:{}", mosquitto.ws);
    let connacks = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connacks);
    let opts = options(&pki, "ws", "ws-again", ProtocolLevel::V311)
        .auto_reconnect(Duration::from_millis(50), Duration::from_millis(200))
        .on_connect(move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
    let client = Client::connect_url(&url, &opts).expect("ws:// to mosquitto");
    let rx = collect(&client, "again/#");
    client.loop_start().unwrap();
    let round_trip = |payload: &[u8]| {
        client
            .publish("again/t", payload, QoS::AtLeastOnce, false)
            .unwrap();
        assert_eq!(rx.recv_timeout(WAIT).expect("a message").payload, payload);
    };
    round_trip(b"first");
    client.reconnect().unwrap();
    assert_eq!(connacks.load(Ordering::SeqCst), 2);
    round_trip(b"after reconnect");
    let intruder = Client::connect(
        "127.0.0.1",
        mosquitto.broker.port,
        &ConnectOptions::new()
            .client_id("ws-again")
            .connect_timeout(WAIT),
    )
    .expect("plain connect");
    // mosquitto closes our WebSocket for the takeover; the loop thread opens a new one (and
    // takes the id back in turn).
    let deadline = Instant::now() + WAIT;
    while connacks.load(Ordering::SeqCst) < 3 {
        assert!(
            Instant::now() < deadline,
            "no automatic reconnect over ws://"
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert!(client.is_connected());
    round_trip(b"after the automatic reconnect");
    drop(intruder);
    client.disconnect().unwrap();
}
