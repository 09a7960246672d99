//! The client over WebSocket (`ws://` and `wss://`, MQTT 5.0 and 3.1.1 section 6, RFC 6455).
//! Against this crate's broker with a plain, a WebSocket and a WebSocket-over-TLS listener:
//! every QoS both ways, large messages, MQTT 5.0, reconnects (explicit, and automatic after the
//! broker drops the connection), the host event-loop calls, and the C programs' `-L ws://` and
//! `-L wss://`. Against fake WebSocket servers (tungstenite's server side over a TcpListener)
//! that check the wire: the upgrade offers the subprotocol `mqtt` ([MQTT-6.0.0-3]) on path
//! `/mqtt`, the client sends binary frames only ([MQTT-6.0.0-1]), packets split across frames
//! (and across the fragments of one message) and several packets in one frame are read
//! ([MQTT-6.0.0-2]), pings are answered, a text frame closes the connection, and a refused
//! subprotocol ([MQTT-6.0.0-4]) or path is a clear error.

// tungstenite's upgrade callbacks return its (large) ErrorResponse by value.
#![allow(clippy::result_large_err)]

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::{HeaderValue, StatusCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::{Message, WebSocket};

use super::tls::support::Pki;
use crate::client_support::scenarios::event_loop_receives;
use crate::client_support::{WAIT, options};
use crate::programs::{examples_built, root, run_bounded};
use mqtt::broker::{Broker, BrokerOptions, Listener, WebSocketOptions};
use mqtt::client::{Client, ClientError, CloseReason, ConnectOptions, OwnedMessage};
use mqtt::protocol::{
    Connack, Decoder, Packet, ProtocolLevel, Publish, QoS, QosPid, ReasonCode, SubackCode,
};
use mqtt::tls::{ClientTls, Pem, ServerTls};
use mqtt::topic::TopicName;

/// This crate's broker with a plain (`mqtt`), a WebSocket (`ws`) and a WebSocket-over-TLS
/// (`wss`) listener on ephemeral 127.0.0.1 ports, the `wss` one presenting a certificate for
/// 127.0.0.1 from the test's CA.
struct Setup {
    broker: Broker,
    pki: Pki,
    plain: u16,
    ws: u16,
    wss: u16,
}

impl Setup {
    fn start() -> Setup {
        let pki = Pki::new("ws-ca");
        let server = pki.server("ws-server", &["127.0.0.1", "localhost"]);
        let tls = ServerTls::new(Pem::File(server.cert), Pem::File(server.key));
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
                    Some(tls),
                )),
        );
        broker.start().expect("the broker starts");
        let listeners = broker.listeners();
        let schemes: Vec<_> = listeners.iter().map(|l| l.scheme).collect();
        assert_eq!(schemes, ["mqtt", "ws", "wss"]);
        let port = |i: usize| listeners[i].address.port();
        Setup {
            plain: port(0),
            ws: port(1),
            wss: port(2),
            broker,
            pki,
        }
    }

    /// The URL of the `ws` or `wss` listener, without a path (the default `/mqtt`).
    fn url(&self, scheme: &str) -> String {
        let port = if scheme == "wss" { self.wss } else { self.ws };
        format!("{scheme}://127.0.0.1:{port}")
    }

    /// The test options with `id`, trusting the test's CA for `wss`.
    fn options(&self, scheme: &str, id: &str) -> ConnectOptions {
        let options = options().client_id(id);
        if scheme == "wss" {
            options.tls(ClientTls {
                ca: Some(Pem::File(self.pki.ca_file())),
                ..ClientTls::default()
            })
        } else {
            options
        }
    }

    fn connect(&self, scheme: &str, options: &ConnectOptions) -> Client {
        let url = self.url(scheme);
        Client::connect_url(&url, options).unwrap_or_else(|e| panic!("connect to {url}: {e}"))
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.broker.stop();
    }
}

/// Subscribes `client` to `filter`, every message going to the returned receiver.
fn collect(client: &Client, filter: &str, qos: QoS) -> Receiver<OwnedMessage> {
    let (tx, rx) = mpsc::channel();
    client
        .subscribe(filter, qos, move |m| {
            let _ = tx.send(m.to_owned());
        })
        .expect("subscribe");
    rx
}

fn next(rx: &Receiver<OwnedMessage>) -> OwnedMessage {
    rx.recv_timeout(WAIT).expect("a message within the wait")
}

/// Over `ws://` and then `wss://`: messages at QoS 0, 1 and 2 and a 1 MiB one (many frames'
/// worth of TCP segments and TLS records) between two WebSocket clients, and from a plain TCP
/// client to a WebSocket one, each received once with its QoS.
#[test]
fn ws_every_qos_both_ways_and_large_messages() {
    let setup = Setup::start();
    for scheme in ["ws", "wss"] {
        let subscriber = setup.connect(scheme, &setup.options(scheme, &format!("{scheme}-sub")));
        let rx = collect(&subscriber, "ws/#", QoS::ExactlyOnce);
        subscriber.loop_start().unwrap();
        let publisher = setup.connect(scheme, &setup.options(scheme, &format!("{scheme}-pub")));
        let large: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let sent = [
            ("ws/0", b"zero".to_vec(), QoS::AtMostOnce),
            ("ws/1", b"one".to_vec(), QoS::AtLeastOnce),
            ("ws/2", b"two".to_vec(), QoS::ExactlyOnce),
            ("ws/large", large, QoS::ExactlyOnce),
        ];
        for (topic, payload, qos) in &sent {
            publisher.publish(topic, payload, *qos, false).unwrap();
            let m = next(&rx);
            assert_eq!((m.topic.as_str(), m.qos), (*topic, *qos), "{scheme}");
            assert!(
                m.payload == *payload,
                "{scheme} {topic}: {} bytes",
                m.payload.len()
            );
        }
        let plain = Client::connect("127.0.0.1", setup.plain, &options()).unwrap();
        plain
            .publish("ws/plain", b"from tcp", QoS::AtLeastOnce, false)
            .unwrap();
        let m = next(&rx);
        assert_eq!(
            (m.topic.as_str(), &m.payload[..]),
            ("ws/plain", &b"from tcp"[..])
        );
        assert!(rx.try_recv().is_err(), "{scheme}: nothing twice");
        plain.disconnect().unwrap();
        publisher.disconnect().unwrap();
        subscriber.disconnect().unwrap();
    }
}

/// MQTT 5.0 over `wss://`: properties travel both ways, the reason codes come back.
#[test]
fn ws_mqtt_v5() {
    let setup = Setup::start();
    let client = setup.connect(
        "wss",
        &setup.options("wss", "ws-v5").protocol(ProtocolLevel::V5),
    );
    assert_eq!(client.protocol(), ProtocolLevel::V5);
    let rx = collect(&client, "v5/#", QoS::ExactlyOnce);
    client.loop_start().unwrap();
    let with = mqtt::client::PublishOptions::new()
        .user_property("over", "wss")
        .content_type("text/plain");
    client
        .publish_ex("v5/t", b"hello", QoS::ExactlyOnce, false, &with)
        .unwrap();
    let m = next(&rx);
    assert_eq!((m.topic.as_str(), &m.payload[..]), ("v5/t", &b"hello"[..]));
    let users: Vec<_> = m.properties.user_properties().collect();
    assert_eq!(users, [("over", "wss")]);
    client.disconnect().unwrap();
}

/// Over `ws://` and `wss://`, with the loop thread: an explicit reconnect, then the broker
/// dropping the connection (a plain TCP client takes the client id over) and the automatic
/// reconnect opening a new WebSocket: each time the upgrade again, the subscription restored,
/// messages flowing.
#[test]
fn ws_reconnects_after_the_broker_drops_it() {
    let setup = Setup::start();
    for scheme in ["ws", "wss"] {
        let id = format!("{scheme}-loop");
        let connacks = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connacks);
        let opts = setup
            .options(scheme, &id)
            .auto_reconnect(Duration::from_millis(50), Duration::from_millis(200))
            .on_connect(move |_, _| {
                counter.fetch_add(1, Ordering::SeqCst);
            });
        let client = setup.connect(scheme, &opts);
        let rx = collect(&client, "loop/#", QoS::AtLeastOnce);
        client.loop_start().unwrap();
        let round_trip = |payload: &[u8]| {
            client
                .publish("loop/t", payload, QoS::AtLeastOnce, false)
                .unwrap();
            assert_eq!(next(&rx).payload, payload, "{scheme}");
        };
        round_trip(b"first");

        client.reconnect().unwrap();
        assert_eq!(connacks.load(Ordering::SeqCst), 2);
        round_trip(b"after reconnect");

        let intruder = Client::connect("127.0.0.1", setup.plain, &options().client_id(&id))
            .expect("plain connect");
        let deadline = Instant::now() + WAIT;
        while connacks.load(Ordering::SeqCst) < 3 {
            assert!(
                Instant::now() < deadline,
                "{scheme}: no automatic reconnect"
            );
            thread::sleep(Duration::from_millis(10));
        }
        assert!(client.is_connected());
        round_trip(b"after the automatic reconnect");
        drop(intruder);
        client.disconnect().unwrap();
    }
}

/// The host event loop drives a `wss://` connection through the TCP socket: poll it,
/// `loop_read`, `loop_write` while `want_write`, `loop_misc`; a large message arrives in many
/// TLS records and TCP segments.
#[test]
fn ws_event_loop_calls() {
    let setup = Setup::start();
    let client = setup.connect("wss", &setup.options("wss", "ws-events"));
    let other = setup.connect("ws", &setup.options("ws", "ws-other"));
    event_loop_receives(&client, &other);
}

/// `ws://` with TLS settings is refused rather than connecting without TLS; `wss://` without
/// them uses the system's CA store, which does not know the test's CA.
#[test]
fn ws_urls_and_tls_settings() {
    let setup = Setup::start();
    let mixed = Client::connect_url(&setup.url("ws"), &setup.options("wss", "ws-mixed"));
    match mixed {
        Err(ClientError::InvalidArgument(text)) => assert!(text.contains("wss://"), "{text}"),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    match Client::connect_url(&setup.url("wss"), &options()) {
        Err(ClientError::Tls(text)) => assert!(
            text.contains("UnknownIssuer") || text.contains("no system CA certificates"),
            "{text}"
        ),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // The listener serves /mqtt only: another path is refused with the broker's 404.
    let url = format!("{}/elsewhere", setup.url("ws"));
    match Client::connect_url(&url, &options()) {
        Err(ClientError::Protocol(text)) => {
            assert!(text.contains("HTTP 404"), "{text}");
            assert!(text.contains("/elsewhere"), "{text}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

// ---- Fake WebSocket servers ---------------------------------------------------------------

/// A WebSocket server for one connection on an ephemeral 127.0.0.1 port: `answer` sees the
/// upgrade request (and the port) and chooses the response (or a refusal), then `script` runs on the open
/// WebSocket, whose reads time out after [`WAIT`].
struct FakeServer {
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    fn start(
        answer: impl FnOnce(u16, &Request, Response) -> Result<Response, ErrorResponse> + Send + 'static,
        script: impl FnOnce(WebSocket<TcpStream>) + Send + 'static,
    ) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            let answer = |request: &Request, response| answer(port, request, response);
            match tungstenite::accept_hdr(stream, answer) {
                Ok(ws) => script(ws),
                // A refusal: the client has its HTTP error.
                Err(tungstenite::HandshakeError::Failure(_)) => {}
                Err(tungstenite::HandshakeError::Interrupted(_)) => panic!("blocking accept"),
            }
        });
        FakeServer {
            port,
            thread: Some(thread),
        }
    }

    /// Waits for the script, re-raising its assertion failures.
    fn finish(mut self) {
        if let Some(thread) = self.thread.take()
            && let Err(panic) = thread.join()
        {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Accepts the upgrade selecting the subprotocol `mqtt`, after checking that the client offered
/// it ([MQTT-6.0.0-3]) on the default path `/mqtt` with the right Host.
fn select_mqtt(
    port: u16,
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    {
        assert_eq!(request.uri().path(), "/mqtt");
        let offered: Vec<_> = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(offered, ["mqtt"], "[MQTT-6.0.0-3]");
        assert_eq!(
            request.headers().get("Host").unwrap(),
            &format!("127.0.0.1:{port}")
        );
        response
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        Ok(response)
    }
}

/// The server's side of MQTT over the WebSocket: packets decoded from the client's frames, each
/// of which must be binary ([MQTT-6.0.0-1]); pongs are counted.
struct Wire {
    ws: WebSocket<TcpStream>,
    buf: Vec<u8>,
    pongs: Vec<Vec<u8>>,
}

impl Wire {
    fn new(ws: WebSocket<TcpStream>) -> Wire {
        Wire {
            ws,
            buf: Vec::new(),
            pongs: Vec::new(),
        }
    }

    fn recv(&mut self) -> Packet {
        loop {
            if let Some((packet, used)) = Decoder::default().decode(&self.buf).unwrap() {
                self.buf.drain(..used);
                return packet;
            }
            match self.ws.read().expect("a frame from the client") {
                Message::Binary(data) => self.buf.extend_from_slice(&data),
                Message::Pong(data) => self.pongs.push(data.to_vec()),
                other => panic!("expected a binary frame [MQTT-6.0.0-1], got {other:?}"),
            }
        }
    }

    fn send_frame(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(bytes.to_vec().into()))
            .unwrap();
    }

    fn accept_connect(&mut self) {
        let Packet::Connect(_) = self.recv() else {
            panic!("expected CONNECT");
        };
        let connack = Packet::Connack(Connack {
            properties: Default::default(),
            session_present: false,
            code: ReasonCode::SUCCESS,
        })
        .to_bytes()
        .unwrap();
        // CONNACK split across two frames [MQTT-6.0.0-2].
        self.send_frame(&connack[..1]);
        self.send_frame(&connack[1..]);
    }
}

fn publish(topic: &str, payload: &[u8], qospid: QosPid) -> Vec<u8> {
    Packet::Publish(Publish {
        dup: false,
        qospid,
        retain: false,
        topic: TopicName::new(topic).unwrap(),
        payload: Arc::from(payload),
        properties: Default::default(),
    })
    .to_bytes()
    .unwrap()
}

/// At the wire: the upgrade offers `mqtt` on `/mqtt` ([MQTT-6.0.0-3]); CONNACK split across
/// two frames, SUBACK and a PUBLISH sharing one frame, a PUBLISH split across three frames with
/// a ping between them, and a QoS 1 PUBLISH in the two fragments of one message are all read
/// ([MQTT-6.0.0-2]); the ping is answered with its payload; everything the client sends is in
/// binary frames ([MQTT-6.0.0-1]), ending with DISCONNECT and a close frame (normal closure).
#[test]
fn ws_wire_packets_split_across_frames_and_sharing_one() {
    // The PUBACK goes out after the callback of f/3 has returned: the client disconnects only
    // once the server has it.
    let (acked_tx, acked_rx) = mpsc::channel();
    let server = FakeServer::start(select_mqtt, move |ws| {
        let mut wire = Wire::new(ws);
        wire.accept_connect();
        let Packet::Subscribe(subscribe) = wire.recv() else {
            panic!("expected SUBSCRIBE");
        };
        let suback = Packet::Suback(mqtt::protocol::Suback {
            packet_id: subscribe.packet_id,
            codes: vec![SubackCode::Granted(QoS::AtLeastOnce).to_reason()],
            properties: Default::default(),
        })
        .to_bytes()
        .unwrap();
        let mut shared = suback;
        shared.extend_from_slice(&publish("f/1", b"one", QosPid::AtMostOnce));
        wire.send_frame(&shared);
        let second = publish("f/2", b"two, in three frames", QosPid::AtMostOnce);
        wire.send_frame(&second[..2]);
        wire.ws
            .send(Message::Ping(b"are you there".to_vec().into()))
            .unwrap();
        wire.send_frame(&second[2..9]);
        wire.send_frame(&second[9..]);
        let pid = std::num::NonZeroU16::new(7).unwrap();
        let third = publish("f/3", b"three, in fragments", QosPid::AtLeastOnce(pid));
        let fragments = [
            Frame::message(third[..5].to_vec(), OpCode::Data(Data::Binary), false),
            Frame::message(third[5..].to_vec(), OpCode::Data(Data::Continue), true),
        ];
        for fragment in fragments {
            wire.ws.send(Message::Frame(fragment)).unwrap();
        }
        match wire.recv() {
            Packet::Puback(ack) => assert_eq!(ack.packet_id, pid),
            other => panic!("expected PUBACK, got {other:?}"),
        }
        acked_tx.send(()).unwrap();
        assert_eq!(wire.recv(), Packet::Disconnect(Default::default()));
        assert_eq!(wire.pongs, [b"are you there".to_vec()]);
        match wire.ws.read() {
            Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Normal),
            other => panic!("expected a close frame, got {other:?}"),
        }
    });
    let client = Client::connect_url(&format!("ws://127.0.0.1:{}", server.port), &options())
        .expect("connect over ws://");
    let rx = collect(&client, "f/#", QoS::AtLeastOnce);
    client.loop_start().unwrap();
    let got: Vec<_> = (0..3)
        .map(|_| {
            let m = next(&rx);
            (m.topic, String::from_utf8(m.payload).unwrap())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("f/1".to_owned(), "one".to_owned()),
            ("f/2".to_owned(), "two, in three frames".to_owned()),
            ("f/3".to_owned(), "three, in fragments".to_owned()),
        ]
    );
    acked_rx
        .recv_timeout(WAIT)
        .expect("the PUBACK reached the server");
    client.disconnect().unwrap();
    server.finish();
}

/// A text frame from the server closes the connection ([MQTT-6.0.0-1]): the client reports the
/// protocol violation, sends a close frame with status 1003 (data it cannot accept) and ends
/// the TCP connection, all within the wait.
#[test]
fn ws_text_frame_closes_the_connection() {
    let server = FakeServer::start(select_mqtt, |ws| {
        let mut wire = Wire::new(ws);
        wire.accept_connect();
        // Once connected, the client pings; the answer is a text frame.
        assert_eq!(wire.recv(), Packet::Pingreq);
        wire.ws.send(Message::Text("not MQTT".into())).unwrap();
        let started = Instant::now();
        match wire.ws.read() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(frame.code, CloseCode::Unsupported)
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
        // Then the end of the connection, well before the read timeout.
        loop {
            match wire.ws.read() {
                Ok(Message::Close(_)) => {}
                Ok(other) => panic!("expected the end, got {other:?}"),
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("the client kept the connection open")
                }
                Err(_) => break,
            }
        }
        assert!(started.elapsed() < WAIT);
    });
    let client = Client::connect_url(&format!("ws://127.0.0.1:{}/", server.port), &options())
        .expect("connect over ws://");
    match client.ping() {
        Err(ClientError::Closed(CloseReason::ProtocolViolation(text))) => {
            assert!(text.contains("text frame"), "{text}");
            assert!(text.contains("MQTT-6.0.0-1"), "{text}");
        }
        other => panic!("expected a protocol violation, got {other:?}"),
    }
    assert!(!client.is_connected());
    server.finish();
}

/// A server that does not select the subprotocol `mqtt` ([MQTT-6.0.0-4]) — none at all, or
/// another — or refuses the upgrade with an HTTP error: connect fails with a protocol error
/// saying so, naming the URL.
#[test]
fn ws_refused_subprotocol_and_upgrade_are_clear_errors() {
    type Answer =
        Box<dyn FnOnce(u16, &Request, Response) -> Result<Response, ErrorResponse> + Send>;
    let cases: [(Answer, &[&str]); 3] = [
        (
            Box::new(|_, _, response| Ok(response)),
            &["did not select the subprotocol \"mqtt\"", "MQTT-6.0.0-4"],
        ),
        (
            Box::new(|_, _, mut response| {
                response
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("other"));
                Ok(response)
            }),
            &["did not select the subprotocol \"mqtt\"", "MQTT-6.0.0-4"],
        ),
        (
            Box::new(|_, _, _| {
                let mut refusal = ErrorResponse::new(Some("no MQTT here".into()));
                *refusal.status_mut() = StatusCode::FORBIDDEN;
                Err(refusal)
            }),
            &["HTTP 403 Forbidden", "no MQTT here"],
        ),
    ];
    for (answer, expected) in cases {
        let server = FakeServer::start(answer, |_| {});
        let url = format!("ws://127.0.0.1:{}/mqtt", server.port);
        let started = Instant::now();
        match Client::connect_url(&url, &options()) {
            Err(ClientError::Protocol(text)) => {
                assert!(text.contains(&url), "{text}");
                for part in expected {
                    assert!(text.contains(part), "{text} lacks {part:?}");
                }
            }
            other => panic!("expected a protocol error, got {other:?}"),
        }
        assert!(started.elapsed() < WAIT);
        server.finish();
    }
}

/// A server that accepts TCP and never answers the upgrade request: connect fails with
/// `Timeout` once the connect timeout has passed, not later.
#[test]
fn ws_stalled_upgrade_is_bounded_by_the_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let opts = options().connect_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let result = Client::connect_url(&format!("ws://127.0.0.1:{port}"), &opts);
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(listener);
}

// ---- The C programs ----------------------------------------------------------------------

fn program(name: &str, args: &[&str]) -> crate::programs::Output {
    examples_built();
    let mut command = Command::new(root().join("examples-c/build").join(name));
    command.env_remove("LD_LIBRARY_PATH").args(args);
    run_bounded(&mut command, Duration::from_secs(20))
}

/// `build/publish -L ws://...` sends a retained message over WebSocket that
/// `build/subscribe --cafile CA -L wss://...` then receives over WebSocket over TLS; TLS
/// options with a `ws://` URL are refused.
#[test]
fn ws_programs_take_ws_and_wss_urls() {
    let setup = Setup::start();
    let topic = "ws/prog";
    let ws = format!("ws://127.0.0.1:{}/{topic}", setup.ws);
    let published = program("publish", &["-L", &ws, "-m", "over ws", "-q", "1", "-r"]);
    assert!(published.status.success(), "{}", published.describe());
    let ca = setup.pki.ca_file();
    let wss = format!("wss://127.0.0.1:{}/{topic}", setup.wss);
    let received = program(
        "subscribe",
        &["--cafile", &ca, "-L", &wss, "-C", "1", "-W", "10"],
    );
    assert!(received.status.success(), "{}", received.describe());
    assert_eq!(received.stdout, "over ws\n");
    let mixed = program("publish", &["--cafile", &ca, "-L", &ws, "-m", "x"]);
    assert_eq!(mixed.status.code(), Some(1), "{}", mixed.describe());
    assert!(mixed.stderr.contains("wss://"), "{}", mixed.describe());
}
