//! Our broker's TLS and WebSocket listeners with peers nobody here wrote: mosquitto_pub and
//! mosquitto_sub with `--cafile` (and `--cert`/`--key` where the listener requires client
//! certificates), and Python paho-mqtt over WebSocket (`transport="websockets"`) and over
//! WebSocket with TLS. Certificates are made by the test (tests/client/tls/support.rs).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::RawClient;
use crate::interop_support::{PEER_TIMEOUT, PeerProcess, mosquitto_clients_present, paho_present};
use mqtt::broker::{Broker, BrokerOptions, Listener, WebSocketOptions};
use mqtt::protocol::QoS;
use mqtt::tls::{ClientAuth, Pem, ServerTls};

use crate::tls_support::Pki;

fn server_tls(pki: &Pki, require_certificate: bool) -> ServerTls {
    let server = pki.server("server", &["localhost", "127.0.0.1"]);
    let mut tls = ServerTls::new(Pem::File(server.cert), Pem::File(server.key));
    if require_certificate {
        tls.client_ca = Some(Pem::File(pki.ca_file()));
        tls.client_auth = ClientAuth::Require;
    }
    tls
}

/// A broker with one listener, `listener`; returns it and its port.
fn start(listener: Listener) -> (Broker, u16) {
    let broker = Broker::new(BrokerOptions::default().listener(listener));
    broker.start().expect("broker starts");
    let port = broker.listeners()[0].address.port();
    (broker, port)
}

/// mosquitto_sub and mosquitto_pub with `--cafile` over our TLS listener, at QoS 0, 1 and 2;
/// with a listener requiring client certificates, `--cert`/`--key` get in and a client without
/// them does not.
#[test]
fn mosquitto_clients_over_our_tls_listener() {
    if !mosquitto_clients_present() {
        return;
    }
    for require in [false, true] {
        let pki = Pki::new("ours-tls");
        let (broker, port) = start(Listener::tls("127.0.0.1", 0, server_tls(&pki, require)));
        let port_text = port.to_string();
        let ca = pki.ca_file();
        let client = pki.client("client", "device-1");
        let mut tls_args = vec!["-h", "localhost", "-p", &port_text, "--cafile", &ca];
        if require {
            tls_args.extend(["--cert", &client.cert, "--key", &client.key]);
        }
        let mut sub = Command::new("mosquitto_sub");
        sub.args(&tls_args)
            .args(["-t", "tls/#", "-v", "-q", "2", "-C", "3"]);
        let subscriber = PeerProcess::spawn(sub, false);
        // Give the subscription time to be in place.
        std::thread::sleep(Duration::from_millis(500));
        for qos in ["0", "1", "2"] {
            let status = Command::new("mosquitto_pub")
                .args(&tls_args)
                .args([
                    "-t",
                    &format!("tls/q{qos}"),
                    "-m",
                    &format!("m{qos}"),
                    "-q",
                    qos,
                ])
                .stdin(Stdio::null())
                .status()
                .unwrap();
            assert!(
                status.success(),
                "mosquitto_pub -q {qos} (require {require})"
            );
        }
        let lines = subscriber.finish_ok(PEER_TIMEOUT);
        assert_eq!(
            lines,
            ["tls/q0 m0", "tls/q1 m1", "tls/q2 m2"],
            "require {require}"
        );
        if require {
            // No certificate: the handshake fails, mosquitto_pub reports an error.
            let status = Command::new("mosquitto_pub")
                .args(["-h", "localhost", "-p", &port_text, "--cafile", &ca])
                .args(["-t", "tls/x", "-m", "x"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(!status.success(), "a client without a certificate got in");
        }
        broker.stop();
    }
}

/// A paho-mqtt client publishing through our WebSocket listener (`ws://`, path /mqtt) and
/// through a WebSocket-over-TLS one (`wss://`); a plain TCP subscriber receives both.
#[test]
fn paho_over_our_websocket_listeners() {
    if !paho_present() {
        return;
    }
    let pki = Pki::new("ours-wss");
    let broker = Broker::new(
        BrokerOptions::default()
            .listener(Listener::tcp("127.0.0.1", 0))
            .listener(Listener::websocket(
                "127.0.0.1",
                0,
                WebSocketOptions::default(),
                None,
            ))
            .listener(Listener::websocket(
                "127.0.0.1",
                0,
                WebSocketOptions::default(),
                Some(server_tls(&pki, false)),
            )),
    );
    broker.start().unwrap();
    let ports: Vec<u16> = broker
        .listeners()
        .iter()
        .map(|l| l.address.port())
        .collect();
    let mut sub = RawClient::clean(ports[0], "tcp-subscriber");
    sub.subscribe_ok(1, &[("web/#", QoS::AtLeastOnce)]);
    let script = r#"
import sys, ssl
import paho.mqtt.client as mqtt
port, ca, topic, version = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-ws-" + topic.replace("/", "-"),
                transport="websockets", protocol=mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311)
c.ws_set_options(path="/mqtt")
if ca != "-":
    c.tls_set(ca_certs=ca)
c.connect("localhost", port, 30)
c.loop_start()
info = c.publish(topic, b"hello over websocket", qos=1)
info.wait_for_publish(10)
assert info.is_published()
c.disconnect()
c.loop_stop()
print("published")
"#;
    let ca = pki.ca_file();
    for (port, ca, topic, version) in [
        (ports[1], "-", "web/ws", "4"),
        (ports[2], ca.as_str(), "web/wss", "5"),
    ] {
        let output = Command::new("python3")
            .args(["-c", script, &port.to_string(), ca, topic, version])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "paho over {topic}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let message = sub.recv_publish();
        assert_eq!(message.topic.as_str(), topic);
        assert_eq!(message.payload.as_ref(), b"hello over websocket");
    }
    broker.stop();
}
