//! Shared helpers for integration tests: a broker on an ephemeral port and a client that speaks
//! raw MQTT bytes through the crate's codec, with a timeout on every read.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt::protocol::{
    Connack, Connect, LastWill, Packet, PacketId, Properties, ProtocolLevel, Publish, QoS, QosPid,
    ReasonCode, Subscribe, SubscribeTopic, Unsubscribe,
};
use mqtt::topic::TopicName;

// broker_parking sets its own options and never starts a default broker.
#[allow(unused_imports)]
pub use crate::fixture::{READ_TIMEOUT, eventually, start_broker, start_default_broker};
pub use crate::packet_stream::{PacketStream, ReadEnd};

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero packet id")
}

/// A CONNECT for MQTT 3.1.1 with keep-alive 60 and no will or credentials.
pub fn connect_packet(client_id: &str, clean_session: bool) -> Connect {
    Connect {
        protocol: ProtocolLevel::V311,
        clean_session,
        keep_alive: 60,
        client_id: client_id.to_owned(),
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    }
}

// Not called by the interop binary.
#[allow(dead_code)]
pub fn will(topic: &str, payload: &[u8], qos: QoS, retain: bool) -> LastWill {
    LastWill::new(
        TopicName::new(topic).unwrap(),
        payload.to_vec(),
        qos,
        retain,
    )
}

// Not called by the broker_parking binary.
#[allow(dead_code)]
pub fn publish(topic: &str, payload: &[u8], qospid: QosPid, retain: bool) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qospid,
        retain,
        topic: TopicName::new(topic).unwrap(),
        payload: Arc::from(payload),
        properties: Properties::new(),
    })
}

pub fn subscribe(id: u16, filters: &[(&str, QoS)]) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: pid(id),
        topics: filters
            .iter()
            .map(|(f, q)| SubscribeTopic::new(*f, *q))
            .collect(),
        properties: Properties::new(),
    })
}

// Not called by the broker_parking and interop binaries.
#[allow(dead_code)]
pub fn unsubscribe(id: u16, filters: &[&str]) -> Packet {
    Packet::Unsubscribe(Unsubscribe {
        packet_id: pid(id),
        filters: filters.iter().map(|f| (*f).to_owned()).collect(),
        properties: Properties::new(),
    })
}

/// A test peer speaking raw MQTT bytes to a broker; its [`PacketStream`] (and the socket in it,
/// as `client.stream`) is reachable through it.
pub struct RawClient {
    packets: PacketStream,
    /// PUBLISH packets read ahead while completing another QoS 2 flow.
    early: std::collections::VecDeque<Publish>,
}

impl std::ops::Deref for RawClient {
    type Target = PacketStream;
    fn deref(&self) -> &PacketStream {
        &self.packets
    }
}

impl std::ops::DerefMut for RawClient {
    fn deref_mut(&mut self) -> &mut PacketStream {
        &mut self.packets
    }
}

impl RawClient {
    pub fn open(port: u16) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to broker");
        stream.set_nodelay(true).unwrap();
        RawClient {
            packets: PacketStream::new(stream),
            early: std::collections::VecDeque::new(),
        }
    }

    /// Opens a socket, sends `connect` and returns the client with the CONNACK it got.
    pub fn connect_with(port: u16, connect: Connect) -> (RawClient, Connack) {
        let mut client = RawClient::open(port);
        client.send(&Packet::Connect(Box::new(connect)));
        match client.recv() {
            Packet::Connack(connack) => (client, connack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with `client_id` and clean session as given; asserts CONNACK 0x00.
    pub fn connect(port: u16, client_id: &str, clean_session: bool) -> (RawClient, Connack) {
        let (client, connack) =
            RawClient::connect_with(port, connect_packet(client_id, clean_session));
        assert_eq!(connack.code, ReasonCode::SUCCESS);
        (client, connack)
    }

    /// A clean-session client that is accepted.
    pub fn clean(port: u16, client_id: &str) -> RawClient {
        RawClient::connect(port, client_id, true).0
    }

    pub fn send(&mut self, packet: &Packet) {
        let bytes = packet.to_bytes().expect("test packet encodes");
        self.stream.write_all(&bytes).expect("send to broker");
    }

    /// Sends SUBSCRIBE and asserts the SUBACK carries `expected` codes (raw bytes).
    pub fn subscribe_ok(&mut self, id: u16, filters: &[(&str, QoS)]) {
        self.send(&subscribe(id, filters));
        match self.recv() {
            Packet::Suback(suback) => {
                assert_eq!(suback.packet_id, pid(id));
                let granted: Vec<u8> = suback.codes.iter().map(|c| c.0).collect();
                let requested: Vec<u8> = filters.iter().map(|(_, q)| *q as u8).collect();
                assert_eq!(granted, requested);
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// The next packet, or why none arrived within `timeout`.
    pub fn try_recv(&mut self, timeout: Duration) -> Result<Packet, ReadEnd> {
        self.packets.try_read(timeout)
    }

    /// The next packet; panics if none arrives within [`READ_TIMEOUT`].
    pub fn recv(&mut self) -> Packet {
        match self.try_recv(READ_TIMEOUT) {
            Ok(packet) => packet,
            Err(end) => panic!("expected a packet, got {end:?}"),
        }
    }
}

/// Assertions about what the broker does next. The broker, hostile and conformance binaries use
/// every one; the broker_parking and interop binaries compile this module but call only some.
#[allow(dead_code)]
impl RawClient {
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to broker");
    }

    /// The next packet, which must be a PUBLISH.
    pub fn recv_publish(&mut self) -> Publish {
        if let Some(early) = self.early.pop_front() {
            return early;
        }
        match self.recv() {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// The next PUBLISH with its QoS flow completed (PUBACK; PUBREC, PUBREL, PUBCOMP), as
    /// (topic, payload, QoS, retain).
    // Not called by every binary that includes this module.
    #[allow(dead_code)]
    pub fn recv_completed(&mut self) -> (String, Vec<u8>, QoS, bool) {
        let p = self.recv_publish();
        match p.qospid {
            QosPid::AtLeastOnce(id) => self.send(&Packet::Puback(id.into())),
            QosPid::ExactlyOnce(id) => {
                self.send(&Packet::Pubrec(id.into()));
                // A broker may send further PUBLISHes before this PUBREL (its in-flight
                // window): they wait for the next call.
                loop {
                    match self.recv() {
                        Packet::Pubrel(ack) if ack.packet_id == id => break,
                        Packet::Publish(next) => self.early.push_back(next),
                        other => panic!("expected PUBREL, got {other:?}"),
                    }
                }
                self.send(&Packet::Pubcomp(id.into()));
            }
            QosPid::AtMostOnce => {}
        }
        (
            p.topic.as_str().to_owned(),
            p.payload.to_vec(),
            p.qospid.qos(),
            p.retain,
        )
    }

    /// Asserts nothing arrives for `quiet`.
    pub fn expect_silence(&mut self, quiet: Duration) {
        match self.try_recv(quiet) {
            Err(ReadEnd::Timeout) => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }

    /// Asserts the broker closes the connection within `within` (packets before that are
    /// skipped). Returns how long it took.
    pub fn expect_closed(&mut self, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let left = within.saturating_sub(start.elapsed());
            match self.try_recv(left) {
                Ok(_) => continue,
                Err(ReadEnd::Closed) => return start.elapsed(),
                Err(ReadEnd::Timeout) => panic!("connection still open after {within:?}"),
            }
        }
    }

    /// Closes the socket without DISCONNECT.
    pub fn drop_abruptly(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    pub fn disconnect(mut self) {
        self.send(&Packet::Disconnect(mqtt::protocol::Disconnect::default()));
        let _ = self.stream.shutdown(Shutdown::Write);
        let _ = self.try_recv(Duration::from_secs(2));
    }

    /// Round-trips a PINGREQ, so everything sent before it has been processed by the broker;
    /// asserts nothing else arrives first.
    pub fn sync(&mut self) {
        let before = self.sync_collect();
        assert!(
            before.is_empty(),
            "unexpected packets before PINGRESP: {before:?}"
        );
    }

    /// Round-trips a PINGREQ and returns the packets that arrived before the PINGRESP.
    pub fn sync_collect(&mut self) -> Vec<Packet> {
        self.send(&Packet::Pingreq);
        let mut before = Vec::new();
        loop {
            match self.recv() {
                Packet::Pingresp => return before,
                other => before.push(other),
            }
        }
    }
}
