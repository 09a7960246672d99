//! WebSocket listeners (MQTT 5.0 section 6, RFC 6455), through tungstenite's client over a
//! TcpStream: the upgrade with subprotocol `mqtt`, MQTT packets split across binary frames and
//! several in one frame, refusals of a missing subprotocol, another path and a disallowed
//! origin as HTTP errors, a stalled upgrade dropped, text and oversized frames closing only that
//! connection, each refusal counted once in the broker's stats while a connected client goes on,
//! and WebSocket over TLS.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::WebSocket;
use tungstenite::{Message, client};

use super::tls::counted_once;
use crate::common::{RawClient, connect_packet, publish, subscribe};
use crate::fixture::READ_TIMEOUT;
use mqtt::broker::{Broker, BrokerOptions, BrokerStats, Listener, WebSocketOptions};
use mqtt::protocol::{Decoder, Packet, QoS, QosPid, ReasonCode};

/// A broker with a plain listener (first) and a WebSocket listener on `/mqtt` (second).
fn start(options: WebSocketOptions) -> (Broker, u16, u16) {
    start_with(options, BrokerOptions::default().connect_timeout)
}

/// [`start`] with a connect timeout of its own.
fn start_with(options: WebSocketOptions, connect_timeout: Duration) -> (Broker, u16, u16) {
    let broker = Broker::new(
        BrokerOptions {
            max_packet_size: 64 * 1024,
            connect_timeout,
            ..BrokerOptions::default()
        }
        .listener(Listener::tcp("127.0.0.1", 0))
        .listener(Listener::websocket("127.0.0.1", 0, options, None)),
    );
    broker.start().expect("broker starts");
    let listeners = broker.listeners();
    assert_eq!(
        listeners[1].url(),
        format!("ws://127.0.0.1:{}/mqtt", listeners[1].address.port())
    );
    (
        broker,
        listeners[0].address.port(),
        listeners[1].address.port(),
    )
}

/// Opens a WebSocket to `path` offering `protocol` (none when `None`) from `origin`.
fn open(
    port: u16,
    path: &str,
    protocol: Option<&str>,
    origin: Option<&str>,
) -> Result<WebSocket<TcpStream>, tungstenite::Error> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut request = format!("ws://127.0.0.1:{port}{path}")
        .into_client_request()
        .unwrap();
    if let Some(protocol) = protocol {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(protocol).unwrap(),
        );
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    client(request, stream)
        .map(|(ws, response)| {
            assert_eq!(
                response.headers().get("Sec-WebSocket-Protocol").unwrap(),
                protocol.unwrap().split(',').next().unwrap().trim()
            );
            ws
        })
        .map_err(|e| match e {
            tungstenite::HandshakeError::Failure(e) => e,
            tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake interrupted"),
        })
}

fn ws_refusals(stats: &BrokerStats) -> u64 {
    stats.websocket_refused
}

/// A plain client subscribed to `b/#`, to show that the broker serves on after bad input.
fn bystander(port: u16) -> RawClient {
    let mut raw = RawClient::clean(port, "bystander");
    raw.subscribe_ok(1, &[("b/#", QoS::AtMostOnce)]);
    raw
}

/// The bystander publishes `payload` to its own subscription and receives it.
fn echo(raw: &mut RawClient, payload: &[u8]) {
    raw.send(&publish("b/echo", payload, QosPid::AtMostOnce, false));
    assert_eq!(&raw.recv_publish().payload[..], payload);
}

/// Reads until the broker closes `socket`, which must happen before [`READ_TIMEOUT`].
fn assert_closed(socket: &mut TcpStream, what: &str) {
    let started = Instant::now();
    let mut sink = Vec::new();
    let read = socket.read_to_end(&mut sink);
    assert!(
        read.is_ok() || read.unwrap_err().kind() != ErrorKind::WouldBlock,
        "{what}: the connection stayed open"
    );
    assert!(started.elapsed() < READ_TIMEOUT, "{what} was not closed");
}

/// Reads MQTT packets out of binary frames.
struct Frames {
    ws: WebSocket<TcpStream>,
    buf: Vec<u8>,
}

impl Frames {
    fn send(&mut self, packets: &[&Packet]) {
        let mut bytes = Vec::new();
        for p in packets {
            p.encode(&mut bytes).unwrap();
        }
        self.ws.send(Message::Binary(bytes.into())).unwrap();
    }

    fn recv(&mut self) -> Packet {
        loop {
            if let Some((packet, used)) = Decoder::default().decode(&self.buf).unwrap() {
                self.buf.drain(..used);
                return packet;
            }
            match self.ws.read().unwrap() {
                Message::Binary(data) => self.buf.extend_from_slice(&data),
                other => panic!("expected a binary frame, got {other:?}"),
            }
        }
    }
}

/// The upgrade answers subprotocol `mqtt` ([MQTT-6.0.0-4], MQTT 5.0); a packet split across
/// two frames and two packets in one frame are read as MQTT ([MQTT-6.0.0-2]), and what the
/// broker sends arrives in binary frames ([MQTT-6.0.0-1]), also for a plain TCP publisher.
#[test]
fn mqtt_travels_in_binary_frames() {
    let (broker, plain, ws_port) = start(WebSocketOptions::default());
    let ws = open(ws_port, "/mqtt", Some("mqtt"), None).unwrap();
    let mut frames = Frames {
        ws,
        buf: Vec::new(),
    };
    // CONNECT split across two frames.
    let connect = Packet::Connect(Box::new(connect_packet("over-ws", true)))
        .to_bytes()
        .unwrap();
    let (head, tail) = connect.split_at(5);
    frames
        .ws
        .send(Message::Binary(head.to_vec().into()))
        .unwrap();
    frames
        .ws
        .send(Message::Binary(tail.to_vec().into()))
        .unwrap();
    match frames.recv() {
        Packet::Connack(c) => assert_eq!(c.code, ReasonCode::SUCCESS),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    // SUBSCRIBE and PINGREQ in one frame.
    frames.send(&[
        &subscribe(1, &[("w/#", QoS::AtLeastOnce)]),
        &Packet::Pingreq,
    ]);
    assert!(matches!(frames.recv(), Packet::Suback(_)));
    assert_eq!(frames.recv(), Packet::Pingresp);

    // Long enough to park without a thread (after 500 ms idle).
    std::thread::sleep(Duration::from_millis(900));
    let mut raw = RawClient::clean(plain, "plain-publisher");
    let big = vec![9u8; 40_000];
    raw.send(&publish("w/big", &big, QosPid::AtMostOnce, false));
    match frames.recv() {
        Packet::Publish(p) => assert_eq!(p.payload.as_ref(), &big[..]),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    frames.ws.close(None).unwrap();
    broker.stop();
}

/// The upgrade is refused with an HTTP error — without the `mqtt` subprotocol (400), on another
/// path (404), from an origin not allowed (403) — and the connection closed; an upgrade request
/// that never ends is dropped at the connect timeout. Each is counted once in
/// `websocket_refused` while a connected client goes on; `mqttv3.1` is accepted, not counted.
#[test]
fn bad_upgrades_get_http_errors() {
    let options = WebSocketOptions {
        allowed_origins: vec!["https://good.example".into()],
        ..WebSocketOptions::default()
    };
    let (broker, plain, ws_port) = start_with(options, Duration::from_millis(400));
    let mut raw = bystander(plain);
    let status = |e: tungstenite::Error| match e {
        tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP error, got {other:?}"),
    };
    let good = Some("https://good.example");
    let evil = Some("https://evil.example");
    let refusals = [
        ("/mqtt", None, good, 400),
        ("/other", Some("mqtt"), good, 404),
        ("/mqtt", Some("mqtt"), evil, 403),
    ];
    for (n, (path, protocol, origin, code)) in refusals.into_iter().enumerate() {
        let refused = open(ws_port, path, protocol, origin).unwrap_err();
        assert_eq!(status(refused), code, "{path} {protocol:?} {origin:?}");
        counted_once(&broker, ws_refusals, n as u64 + 1, || {
            echo(&mut raw, format!("after {code}").as_bytes());
        });
    }
    let mut stalled = TcpStream::connect(("127.0.0.1", ws_port)).unwrap();
    stalled.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stalled
        .write_all(b"GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    assert_closed(&mut stalled, "a stalled upgrade");
    counted_once(&broker, ws_refusals, 4, || echo(&mut raw, b"after a stall"));

    let mut legacy = Frames {
        ws: open(ws_port, "/mqtt", Some("mqttv3.1"), good).unwrap(),
        buf: Vec::new(),
    };
    legacy.send(&[&Packet::Connect(Box::new(connect_packet("legacy", true)))]);
    assert!(matches!(legacy.recv(), Packet::Connack(_)));
    assert_eq!(broker.stats().websocket_refused, 4);
    assert_eq!(broker.stats().tls_handshakes_failed, 0);
    broker.stop();
}

/// A text frame and a frame above the packet size limit close that connection only
/// ([MQTT-6.0.0-1]), and so does a request that is no HTTP at all; each is counted once in
/// `websocket_refused`, and a plain client of the same broker goes on.
#[test]
fn text_and_oversized_frames_close_the_connection() {
    let (broker, plain, ws_port) = start(WebSocketOptions::default());
    let mut raw = bystander(plain);
    let frames = [
        ("a text frame", Message::Text("CONNECT".into())),
        (
            "an oversized frame",
            Message::Binary(vec![0u8; 200_000].into()),
        ),
    ];
    for (n, (what, message)) in frames.into_iter().enumerate() {
        let mut ws = open(ws_port, "/mqtt", Some("mqtt"), None).unwrap();
        let _ = ws.send(message);
        loop {
            match ws.read() {
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        counted_once(&broker, ws_refusals, n as u64 + 1, || {
            echo(&mut raw, what.as_bytes());
        });
    }
    // Not even a frame header's worth of sense: the connection is dropped.
    let mut junk = TcpStream::connect(("127.0.0.1", ws_port)).unwrap();
    junk.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    junk.write_all(b"\x16\x03\x01 not http\r\n\r\n").unwrap();
    assert_closed(&mut junk, "not HTTP");
    counted_once(&broker, ws_refusals, 3, || echo(&mut raw, b"after junk"));
    raw.send(&Packet::Pingreq);
    assert_eq!(raw.recv(), Packet::Pingresp);
    broker.stop();
}

/// WebSocket over TLS: the upgrade and the frames travel inside TLS.
#[test]
fn websocket_over_tls() {
    use super::tls::{Authority, client_config, server_tls};
    use rustls::pki_types::ServerName;
    use rustls::{ClientConnection, StreamOwned};

    let ca = Authority::new("wss CA");
    let broker = Broker::new(BrokerOptions::default().listener(Listener::websocket(
        "127.0.0.1",
        0,
        WebSocketOptions::default(),
        Some(server_tls(&ca)),
    )));
    broker.start().unwrap();
    let listener = &broker.listeners()[0];
    assert_eq!(listener.scheme, "wss");
    let tcp = TcpStream::connect(listener.address).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = StreamOwned::new(
        ClientConnection::new(client_config(&ca.pem(), None), name).unwrap(),
        tcp,
    );
    let mut request = format!("wss://localhost:{}/mqtt", listener.address.port())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    let (ws, _) = client(request, tls).unwrap();
    let mut ws = ws;
    let connect = Packet::Connect(Box::new(connect_packet("over-wss", true)))
        .to_bytes()
        .unwrap();
    ws.send(Message::Binary(connect.into())).unwrap();
    match ws.read().unwrap() {
        Message::Binary(data) => {
            let (packet, _) = Decoder::default().decode(&data).unwrap().unwrap();
            assert!(matches!(packet, Packet::Connack(c) if c.code == ReasonCode::SUCCESS));
        }
        other => panic!("expected CONNACK in a binary frame, got {other:?}"),
    }
    // A plaintext upgrade request on the wss port fails the TLS handshake: counted there, not
    // as a WebSocket refusal, and the wss client goes on.
    let mut plaintext = TcpStream::connect(listener.address).unwrap();
    plaintext.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    plaintext
        .write_all(b"GET /mqtt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_closed(&mut plaintext, "plaintext on the wss port");
    counted_once(
        &broker,
        |s| s.tls_handshakes_failed,
        1,
        || {
            let ping = Packet::Pingreq.to_bytes().unwrap();
            ws.send(Message::Binary(ping.into())).unwrap();
            assert!(matches!(ws.read().unwrap(), Message::Binary(data) if data[..] == [0xd0, 0]));
        },
    );
    assert_eq!(broker.stats().websocket_refused, 0);
    broker.stop();
}

/// Frame headers claiming 2^63 - 1 bytes (the largest length RFC 6455 allows) and 2^63 (its
/// most significant bit set, which RFC 6455 forbids) are refused from the header alone: the
/// connection closes at once, nothing is sized for the claim, each refusal is counted once, and
/// other clients go on.
#[test]
fn a_frame_claiming_2_pow_63_bytes_closes_the_connection() {
    let (broker, plain, ws_port) = start(WebSocketOptions::default());
    let mut raw = bystander(plain);
    for (n, claim) in [(1u64 << 63) - 1, 1u64 << 63].into_iter().enumerate() {
        let mut ws = open(ws_port, "/mqtt", Some("mqtt"), None).unwrap();
        // FIN + binary, masked, a 64-bit length, a mask key, a few bytes.
        let mut header = vec![0x82, 0xFF];
        header.extend_from_slice(&claim.to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let socket = ws.get_mut();
        socket.write_all(&header).unwrap();
        assert_closed(socket, &format!("a frame of {claim:#x} bytes"));
        counted_once(&broker, ws_refusals, n as u64 + 1, || {
            echo(&mut raw, &claim.to_be_bytes());
        });
    }
    broker.stop();
}
