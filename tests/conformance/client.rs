//! Client behaviour for MQTT 3.1.1 normative statements that no other test covers, checked
//! against a scripted peer that reads and writes raw bytes (docs/CONFORMANCE.md maps every
//! statement to its tests).

use std::collections::HashSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::framing::{field, frame};
use crate::packet_stream::{PacketStream, ReadEnd};
use mqtt::client::{Client, ClientError, CloseReason, ConnectOptions};
use mqtt::protocol::{Connect, Decoder, Packet, PacketId, QoS};

const WAIT: Duration = Duration::from_secs(5);

/// The server end of one client connection, speaking raw bytes.
struct Peer {
    packets: PacketStream,
}

impl Peer {
    /// Bytes of one whole packet from the client, exactly as sent.
    fn read_raw(&mut self, within: Duration) -> Result<Vec<u8>, ReadEnd> {
        self.packets.try_read_raw(within)
    }

    fn raw(&mut self) -> Vec<u8> {
        self.read_raw(WAIT).expect("a packet from the client")
    }

    fn read(&mut self) -> Packet {
        let raw = self.raw();
        match Decoder::default().decode(&raw) {
            Ok(Some((packet, _))) => packet,
            other => panic!("client sent a malformed packet {raw:?}: {other:?}"),
        }
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        self.packets.stream.write_all(bytes).unwrap();
    }

    /// Reads CONNECT and accepts it.
    fn accept_connect(&mut self) -> Connect {
        let Packet::Connect(connect) = self.read() else {
            panic!("first packet is not CONNECT")
        };
        self.send_bytes(&[0x20, 2, 0, 0]);
        *connect
    }

    /// Asserts the client closes the connection (end of stream) without sending anything more.
    fn expect_closed(&mut self) {
        match self.read_raw(WAIT) {
            Err(ReadEnd::Closed) => {}
            other => panic!("expected the client to close, got {other:?}"),
        }
    }
}

/// A one-connection scripted server on 127.0.0.1; `finish` re-raises the script's failures.
struct Server {
    port: u16,
    script: JoinHandle<()>,
}

impl Server {
    fn start(script: impl FnOnce(Peer) + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let script = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            script(Peer {
                packets: PacketStream::new(stream),
            });
        });
        Server { port, script }
    }

    fn connect(&self, options: ConnectOptions) -> Client {
        Client::connect(
            "127.0.0.1",
            self.port,
            &options.connect_timeout(WAIT).operation_timeout(WAIT),
        )
        .expect("connect")
    }

    fn finish(self) {
        if let Err(panic) = self.script.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

fn raw_publish(first_byte: u8, topic: &[u8], id: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut body = field(topic);
    if let Some(id) = id {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    frame(first_byte, &body)
}

/// Lets the client read and answer what the server sent last, when no PUBLISH is coming.
fn read_pending(client: &Client) {
    match client.receive_message(Some(Duration::from_millis(300))) {
        Ok(()) | Err(ClientError::Timeout) => {}
        Err(e) => panic!("{e}"),
    }
}

fn id_of(raw: &[u8]) -> u16 {
    u16::from_be_bytes([raw[2], raw[3]])
}

/// The client must treat `bad` from the server as a protocol violation: the receive call
/// reports the connection closed for that reason and the server sees the socket closed.
fn assert_client_closes_on(what: &str, bad: Vec<u8>) {
    let server = Server::start(move |mut peer| {
        peer.accept_connect();
        peer.send_bytes(&bad);
        peer.expect_closed();
    });
    let client = server.connect(ConnectOptions::new());
    let result = client.receive_message(Some(WAIT));
    assert!(
        matches!(
            result,
            Err(ClientError::Closed(CloseReason::ProtocolViolation(_)))
        ),
        "{what}: {result:?}"
    );
    drop(client);
    server.finish();
}

#[test]
fn mqtt_1_5_3_client_closes_on_ill_formed_strings() {
    let cases: [(&str, &[u8]); 3] = [
        ("ill-formed UTF-8", &[0xC3, 0x28]),
        ("surrogate code point", &[0xED, 0xA0, 0x80]),
        ("U+0000", b"a\0b"),
    ];
    for (what, topic) in cases {
        assert_client_closes_on(what, raw_publish(0x30, topic, None, b"x"));
    }
}

#[test]
fn mqtt_2_2_2_2_client_closes_on_invalid_fixed_header_flags() {
    assert_client_closes_on("PUBACK flags 0001", vec![0x41, 2, 0, 1]);
    assert_client_closes_on("PUBREL flags 0000", vec![0x60, 2, 0, 1]);
    assert_client_closes_on("PINGRESP flags 1000", vec![0xD8, 0]);
}

#[test]
fn mqtt_3_3_1_4_client_closes_on_publish_with_qos_3() {
    assert_client_closes_on("QoS 3", raw_publish(0x36, b"t", Some(1), b"x"));
}

#[test]
fn mqtt_2_2_2_1_client_sets_reserved_flag_bits() {
    let server = Server::start(|mut peer| {
        assert_eq!(peer.raw()[0], 0x10, "CONNECT");
        peer.send_bytes(&[0x20, 2, 0, 0]);
        let subscribe = peer.raw();
        assert_eq!(subscribe[0], 0x82, "SUBSCRIBE");
        peer.send_bytes(&[0x90, 3, subscribe[2], subscribe[3], 2]);
        peer.send_bytes(&raw_publish(0x32, b"f/1", Some(3), b"one"));
        peer.send_bytes(&raw_publish(0x34, b"f/2", Some(4), b"two"));
        assert_eq!(peer.raw(), [0x40, 2, 0, 3], "PUBACK");
        assert_eq!(peer.raw(), [0x50, 2, 0, 4], "PUBREC");
        peer.send_bytes(&[0x62, 2, 0, 4]);
        // The client's own QoS 2 PUBLISH and its PUBCOMP for id 4, in either order.
        let mut got = [peer.raw(), peer.raw()];
        got.sort();
        assert_eq!(got[0][0], 0x34, "outgoing QoS 2 PUBLISH: DUP 0, RETAIN 0");
        assert_eq!(got[1], [0x70, 2, 0, 4], "PUBCOMP");
        let id = u16::from_be_bytes([
            got[0][4 + got[0][3] as usize],
            got[0][5 + got[0][3] as usize],
        ]);
        let [hi, lo] = id.to_be_bytes();
        peer.send_bytes(&[0x50, 2, hi, lo]);
        assert_eq!(peer.raw(), [0x62, 2, hi, lo], "PUBREL");
        peer.send_bytes(&[0x70, 2, hi, lo]);
        let unsubscribe = peer.raw();
        assert_eq!(unsubscribe[0], 0xA2, "UNSUBSCRIBE");
        peer.send_bytes(&[0xB0, 2, unsubscribe[2], unsubscribe[3]]);
        assert_eq!(peer.raw(), [0xC0, 0], "PINGREQ");
        peer.send_bytes(&[0xD0, 0]);
        assert_eq!(peer.raw(), [0xE0, 0], "DISCONNECT");
        peer.expect_closed();
    });
    let client = server.connect(ConnectOptions::new());
    client.subscribe("f/+", QoS::ExactlyOnce, |_| {}).unwrap();
    client.receive_message(Some(WAIT)).unwrap();
    client.receive_message(Some(WAIT)).unwrap();
    client
        .publish("out", b"2", QoS::ExactlyOnce, false)
        .unwrap();
    client.unsubscribe("f/+").unwrap();
    client.ping().unwrap();
    client.disconnect().unwrap();
    server.finish();
}

#[test]
fn mqtt_2_3_1_2_client_ids_unused_while_in_flight() {
    let server = Server::start(|mut peer| {
        peer.accept_connect();
        let mut ids = HashSet::new();
        let mut publishes = Vec::new();
        for _ in 0..21 {
            let raw = peer.raw();
            let id = match raw[0] {
                0x32 | 0x34 => {
                    let at = 4 + raw[3] as usize;
                    let id = u16::from_be_bytes([raw[at], raw[at + 1]]);
                    publishes.push((raw[0], id));
                    id
                }
                0x82 => {
                    peer.send_bytes(&[0x90, 3, raw[2], raw[3], 1]);
                    id_of(&raw)
                }
                other => panic!("unexpected packet type byte {other:#x}"),
            };
            assert_ne!(id, 0);
            assert!(ids.insert(id), "identifier {id} reused while in use");
        }
        for (kind, id) in publishes {
            let [hi, lo] = id.to_be_bytes();
            if kind == 0x32 {
                peer.send_bytes(&[0x40, 2, hi, lo]);
            } else {
                peer.send_bytes(&[0x50, 2, hi, lo]);
                assert_eq!(peer.raw(), [0x62, 2, hi, lo]);
                peer.send_bytes(&[0x70, 2, hi, lo]);
            }
        }
        let _ = peer.read_raw(WAIT);
    });
    let client = server.connect(ConnectOptions::new().max_inflight(32));
    let mut ids = Vec::new();
    for i in 0..20u8 {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        ids.push(
            client
                .publish_async("ids", &[i], qos, false)
                .unwrap()
                .unwrap(),
        );
    }
    client.subscribe("s", QoS::AtLeastOnce, |_| {}).unwrap();
    for id in ids {
        client.wait_published(id, Some(WAIT)).unwrap();
    }
    client.disconnect().unwrap();
    server.finish();
}

#[test]
fn mqtt_3_1_3_7_empty_client_id_goes_with_clean_session() {
    let server = Server::start(|mut peer| {
        // Either the client refuses locally (no connection used) or it sends clean session 1.
        if let Ok(raw) = peer.read_raw(WAIT) {
            let Ok(Some((Packet::Connect(connect), _))) = Decoder::default().decode(&raw) else {
                panic!("expected CONNECT")
            };
            assert!(connect.client_id.is_empty());
            assert!(
                connect.clean_session,
                "zero-byte client id sent with clean session 0"
            );
            peer.send_bytes(&[0x20, 2, 0, 0]);
            let _ = peer.read_raw(WAIT);
        }
    });
    let result = Client::connect(
        "127.0.0.1",
        server.port,
        &ConnectOptions::new()
            .client_id("")
            .clean_session(false)
            .connect_timeout(WAIT),
    );
    match result {
        Err(ClientError::InvalidArgument(_)) => {
            // Nothing was sent: let the script see the connection close.
            drop(TcpStream::connect(("127.0.0.1", server.port)));
        }
        Err(other) => panic!("expected a local refusal, got {other:?}"),
        Ok(_) => panic!("connected with an empty client id and clean session 0"),
    }
    server.finish();
}

#[test]
fn mqtt_3_14_4_1_client_closes_after_disconnect_and_sends_nothing_more() {
    let server = Server::start(|mut peer| {
        peer.accept_connect();
        assert_eq!(
            peer.read(),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
        peer.expect_closed();
    });
    let client = server.connect(ConnectOptions::new());
    client.disconnect().unwrap();
    assert!(!client.is_connected());
    assert!(
        client
            .publish("late", b"x", QoS::AtMostOnce, false)
            .is_err()
    );
    assert!(client.ping().is_err());
    server.finish();
}

#[test]
fn mqtt_4_3_2_2_client_treats_reused_id_after_puback_as_new() {
    let server = Server::start(|mut peer| {
        peer.accept_connect();
        let subscribe = peer.raw();
        peer.send_bytes(&[0x90, 3, subscribe[2], subscribe[3], 1]);
        peer.send_bytes(&raw_publish(0x32, b"n", Some(6), b"first"));
        assert_eq!(peer.raw(), [0x40, 2, 0, 6]);
        // Same identifier, DUP set, after the PUBACK: a new publication all the same.
        peer.send_bytes(&raw_publish(0x3A, b"n", Some(6), b"second"));
        assert_eq!(peer.raw(), [0x40, 2, 0, 6]);
        let _ = peer.read_raw(WAIT);
    });
    let client = server.connect(ConnectOptions::new());
    let (tx, rx) = crossbeam_channel::unbounded();
    client
        .subscribe("n", QoS::AtLeastOnce, move |m| {
            let _ = tx.send(m.payload.to_vec());
        })
        .unwrap();
    client.receive_message(Some(WAIT)).unwrap();
    client.receive_message(Some(WAIT)).unwrap();
    assert_eq!(
        rx.try_iter().collect::<Vec<_>>(),
        [b"first".to_vec(), b"second".to_vec()]
    );
    client.disconnect().unwrap();
    server.finish();
}

#[test]
fn mqtt_4_5_0_2_client_acks_messages_no_callback_takes() {
    let server = Server::start(|mut peer| {
        peer.accept_connect();
        peer.send_bytes(&raw_publish(0x32, b"unasked/1", Some(11), b"a"));
        peer.send_bytes(&raw_publish(0x34, b"unasked/2", Some(12), b"b"));
        assert_eq!(peer.raw(), [0x40, 2, 0, 11]);
        assert_eq!(peer.raw(), [0x50, 2, 0, 12]);
        peer.send_bytes(&[0x62, 2, 0, 12]);
        assert_eq!(peer.raw(), [0x70, 2, 0, 12]);
        let _ = peer.read_raw(WAIT);
    });
    let client = server.connect(ConnectOptions::new());
    client.receive_message(Some(WAIT)).unwrap();
    client.receive_message(Some(WAIT)).unwrap();
    read_pending(&client);
    client.disconnect().unwrap();
    server.finish();
}

#[test]
fn mqtt_4_6_0_2_client_acknowledges_in_arrival_order() {
    let arrivals: [(u8, u16); 6] = [(1, 9), (2, 8), (1, 3), (2, 2), (1, 7), (2, 40)];
    let server = Server::start(move |mut peer| {
        peer.accept_connect();
        let mut burst = Vec::new();
        for (qos, id) in arrivals {
            burst.extend(raw_publish(0x30 | (qos << 1), b"o", Some(id), b"x"));
        }
        peer.send_bytes(&burst);
        for (qos, id) in arrivals {
            let ack = if qos == 1 { 0x40 } else { 0x50 };
            let [hi, lo] = id.to_be_bytes();
            assert_eq!(peer.raw(), [ack, 2, hi, lo]);
        }
        let _ = peer.read_raw(WAIT);
    });
    let client = server.connect(ConnectOptions::new());
    for _ in 0..arrivals.len() {
        client.receive_message(Some(WAIT)).unwrap();
    }
    client.disconnect().unwrap();
    server.finish();
}

#[test]
fn mqtt_4_6_0_4_client_sends_pubrel_in_pubrec_order() {
    let server = Server::start(|mut peer| {
        peer.accept_connect();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let raw = peer.raw();
            assert_eq!(raw[0], 0x34);
            let at = 4 + raw[3] as usize;
            ids.push(u16::from_be_bytes([raw[at], raw[at + 1]]));
        }
        ids.reverse();
        for id in &ids {
            let [hi, lo] = id.to_be_bytes();
            peer.send_bytes(&[0x50, 2, hi, lo]);
        }
        for id in &ids {
            let [hi, lo] = id.to_be_bytes();
            assert_eq!(peer.raw(), [0x62, 2, hi, lo]);
        }
        for id in &ids {
            let [hi, lo] = id.to_be_bytes();
            peer.send_bytes(&[0x70, 2, hi, lo]);
        }
        let _ = peer.read_raw(WAIT);
    });
    let client = server.connect(ConnectOptions::new());
    let ids: Vec<PacketId> = (0..3u8)
        .map(|i| {
            client
                .publish_async("q2", &[i], QoS::ExactlyOnce, false)
                .unwrap()
                .unwrap()
        })
        .collect();
    for id in ids {
        client.wait_published(id, Some(WAIT)).unwrap();
    }
    client.disconnect().unwrap();
    server.finish();
}

#[test]
fn mqtt_4_8_0_2_client_closes_on_packet_beyond_its_buffer_limit() {
    let server = Server::start(|mut peer| {
        peer.accept_connect();
        peer.send_bytes(&raw_publish(0x30, b"big", None, &[7u8; 100]));
        peer.expect_closed();
    });
    let mut options = ConnectOptions::new();
    options.max_packet_size = 64;
    let client = server.connect(options);
    let result = client.receive_message(Some(WAIT));
    assert!(matches!(result, Err(ClientError::Closed(_))), "{result:?}");
    assert!(!client.is_connected());
    drop(client);
    server.finish();
}
