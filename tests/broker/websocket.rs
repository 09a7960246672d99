//! WebSocket listeners (MQTT 5.0 section 6, RFC 6455), through tungstenite's client over a
//! TcpStream: the upgrade with subprotocol `mqtt`, MQTT packets split across binary frames and
//! several in one frame, refusals of a missing subprotocol, another path and a disallowed
//! origin as HTTP errors, text and oversized frames closing only that connection, and
//! WebSocket over TLS.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::Duration;

use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::WebSocket;
use tungstenite::{Message, client};

use crate::common::{RawClient, connect_packet, publish, subscribe};
use crate::fixture::READ_TIMEOUT;
use mqtt::broker::{Broker, BrokerOptions, Listener, WebSocketOptions};
use mqtt::protocol::{Decoder, Packet, QoS, QosPid, ReasonCode};

/// A broker with a plain listener (first) and a WebSocket listener on `/mqtt` (second).
fn start(options: WebSocketOptions) -> (Broker, u16, u16) {
    let broker = Broker::new(
        BrokerOptions {
            max_packet_size: 64 * 1024,
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
    let connect = Packet::Connect(connect_packet("over-ws", true))
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
/// path (404), from an origin not allowed (403) — and the connection closed; `mqttv3.1` is
/// accepted too.
#[test]
fn bad_upgrades_get_http_errors() {
    let options = WebSocketOptions {
        allowed_origins: vec!["https://good.example".into()],
        ..WebSocketOptions::default()
    };
    let (broker, _, ws_port) = start(options);
    let status = |e: tungstenite::Error| match e {
        tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP error, got {other:?}"),
    };
    let good = Some("https://good.example");
    assert_eq!(status(open(ws_port, "/mqtt", None, good).unwrap_err()), 400);
    assert_eq!(
        status(open(ws_port, "/other", Some("mqtt"), good).unwrap_err()),
        404
    );
    let evil = Some("https://evil.example");
    assert_eq!(
        status(open(ws_port, "/mqtt", Some("mqtt"), evil).unwrap_err()),
        403
    );
    let mut legacy = Frames {
        ws: open(ws_port, "/mqtt", Some("mqttv3.1"), good).unwrap(),
        buf: Vec::new(),
    };
    legacy.send(&[&Packet::Connect(connect_packet("legacy", true))]);
    assert!(matches!(legacy.recv(), Packet::Connack(_)));
    broker.stop();
}

/// A text frame and a frame above the packet size limit close that connection only
/// ([MQTT-6.0.0-1]); a plain client of the same broker goes on.
#[test]
fn text_and_oversized_frames_close_the_connection() {
    let (broker, plain, ws_port) = start(WebSocketOptions::default());
    let mut raw = RawClient::clean(plain, "bystander");
    for message in [
        Message::Text("CONNECT".into()),
        Message::Binary(vec![0u8; 200_000].into()),
    ] {
        let mut ws = open(ws_port, "/mqtt", Some("mqtt"), None).unwrap();
        let _ = ws.send(message);
        let ended = loop {
            match ws.read() {
                Ok(Message::Close(_)) | Err(_) => break true,
                Ok(_) => {}
            }
        };
        assert!(ended);
    }
    // Not even a frame header's worth of sense: the connection is dropped.
    let mut junk = TcpStream::connect(("127.0.0.1", ws_port)).unwrap();
    junk.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    std::io::Write::write_all(&mut junk, b"\x16\x03\x01 not http\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    let read = std::io::Read::read_to_end(&mut junk, &mut sink);
    assert!(read.is_ok() || read.unwrap_err().kind() != ErrorKind::WouldBlock);
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
    let connect = Packet::Connect(connect_packet("over-wss", true))
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
    broker.stop();
}

/// A frame header claiming 2^63 - 1 bytes is refused from the header alone: the connection
/// closes at once, nothing is sized for the claim, and other clients go on.
#[test]
fn a_frame_claiming_2_pow_63_bytes_closes_the_connection() {
    let (broker, plain, ws_port) = start(WebSocketOptions::default());
    let mut raw = RawClient::clean(plain, "bystander");
    let mut ws = open(ws_port, "/mqtt", Some("mqtt"), None).unwrap();
    // FIN + binary, masked, 64-bit length 0x7FFF_FFFF_FFFF_FFFF, a mask key, a few bytes.
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&0x7FFF_FFFF_FFFF_FFFFu64.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let socket = ws.get_mut();
    std::io::Write::write_all(socket, &header).unwrap();
    let mut sink = Vec::new();
    let started = std::time::Instant::now();
    let _ = std::io::Read::read_to_end(socket, &mut sink);
    assert!(
        started.elapsed() < READ_TIMEOUT,
        "the connection stayed open"
    );
    raw.send(&Packet::Pingreq);
    assert_eq!(raw.recv(), Packet::Pingresp);
    broker.stop();
}
