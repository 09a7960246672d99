//! Shared fixtures for the client tests: a scripted fake broker for wire-level assertions, and
//! small helpers with bounded waits (a real mosquitto broker is in tests/mosquitto).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use std::num::NonZeroU16;

use mqtt::client::{Client, ConnectOptions};
use mqtt::protocol::{Packet, Publish};

use crate::packet_stream::{PacketStream, ReadEnd};

pub mod proxy;
pub mod scenarios;

/// The bound on every wait of the client tests.
pub const WAIT: Duration = Duration::from_secs(5);

pub fn id(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

/// Default options with [`WAIT`] as the connect and operation timeout.
pub fn options() -> ConnectOptions {
    ConnectOptions::new()
        .connect_timeout(WAIT)
        .operation_timeout(WAIT)
}

pub fn connect(port: u16, options: &ConnectOptions) -> Client {
    Client::connect("127.0.0.1", port, options).expect("connect")
}

/// Polls until the client notices its connection is gone.
pub fn wait_until_closed(client: &Client) {
    let deadline = Instant::now() + WAIT;
    while client.is_connected() {
        assert!(
            Instant::now() < deadline,
            "the client did not notice the loss"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts that the client's next receive ends with a protocol violation (`what` names the
/// case).
#[allow(dead_code)]
pub fn expect_protocol_violation(client: &Client, what: &str) {
    let result = client.receive_message(Some(WAIT));
    assert!(
        matches!(
            result,
            Err(mqtt::client::ClientError::Closed(
                mqtt::client::CloseReason::ProtocolViolation(_)
            ))
        ),
        "{what}: {result:?}"
    );
}

/// The next packet on `conn`, which must be a PUBLISH.
pub fn read_publish(conn: &mut FakeConn) -> Publish {
    match conn.read(WAIT) {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// One accepted connection of a [`FakeBroker`], speaking raw packets.
pub struct FakeConn {
    packets: PacketStream,
}

impl FakeConn {
    fn new(stream: TcpStream) -> FakeConn {
        FakeConn {
            packets: PacketStream::new(stream),
        }
    }

    /// The next packet from the client, or panics after `within`.
    pub fn read(&mut self, within: Duration) -> Packet {
        self.try_read(within)
            .unwrap_or_else(|| panic!("no packet from the client within {within:?}"))
    }

    /// The next packet, or `None` on timeout or end of stream.
    pub fn try_read(&mut self, within: Duration) -> Option<Packet> {
        self.packets.try_read(within).ok()
    }

    pub fn send(&mut self, packet: &Packet) {
        let bytes = packet.to_bytes_for(self.packets.protocol).unwrap();
        self.packets.stream.write_all(&bytes).unwrap();
    }

    /// Encodes and decodes MQTT 5.0 packets from now on.
    #[allow(dead_code)]
    pub fn speak_v5(&mut self) {
        self.packets.protocol = mqtt::protocol::ProtocolLevel::V5;
    }

    /// Reads an MQTT 5.0 CONNECT and accepts it with a CONNACK carrying `properties`; the
    /// connection speaks MQTT 5.0 from then on.
    #[allow(dead_code)]
    pub fn accept_connect_v5(
        &mut self,
        properties: mqtt::protocol::Properties,
    ) -> mqtt::protocol::Connect {
        let Packet::Connect(c) = self.read(WAIT) else {
            panic!("first packet is not CONNECT");
        };
        assert_eq!(c.protocol, mqtt::protocol::ProtocolLevel::V5);
        self.packets.protocol = mqtt::protocol::ProtocolLevel::V5;
        self.send(&Packet::Connack(mqtt::protocol::Connack {
            properties,
            session_present: false,
            code: mqtt::protocol::ReasonCode::SUCCESS,
        }));
        *c
    }

    /// Like [`FakeConn::accept_connect_v5`], with the given session-present flag.
    #[allow(dead_code)]
    pub fn accept_connect_v5_with(
        &mut self,
        session_present: bool,
        properties: mqtt::protocol::Properties,
    ) -> mqtt::protocol::Connect {
        let Packet::Connect(c) = self.read(WAIT) else {
            panic!("first packet is not CONNECT");
        };
        assert_eq!(c.protocol, mqtt::protocol::ProtocolLevel::V5);
        self.packets.protocol = mqtt::protocol::ProtocolLevel::V5;
        self.send(&Packet::Connack(mqtt::protocol::Connack {
            properties,
            session_present,
            code: mqtt::protocol::ReasonCode::SUCCESS,
        }));
        *c
    }

    /// Sends `bytes` exactly as given: a packet built by hand, which the codec may refuse to
    /// encode.
    #[allow(dead_code)]
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.packets.stream.write_all(bytes).unwrap();
    }

    /// The bytes of the client's next whole packet exactly as sent, or panics after `within`.
    #[allow(dead_code)]
    pub fn read_raw(&mut self, within: Duration) -> Vec<u8> {
        self.packets
            .try_read_raw(within)
            .unwrap_or_else(|end| panic!("no packet from the client within {within:?}: {end:?}"))
    }

    /// The bytes of the client's next whole packet exactly as sent, or `None` on timeout or end
    /// of stream.
    #[allow(dead_code)]
    pub fn try_read_raw(&mut self, within: Duration) -> Option<Vec<u8>> {
        self.packets.try_read_raw(within).ok()
    }

    /// Asserts that the client closes the connection within `within` without sending anything
    /// more.
    #[allow(dead_code)]
    pub fn expect_closed(&mut self, within: Duration) {
        match self.packets.try_read_raw(within) {
            Err(ReadEnd::Closed) => {}
            other => panic!("expected the client to close the connection, got {other:?}"),
        }
    }

    /// Reads CONNECT and accepts it.
    pub fn accept_connect(&mut self) -> mqtt::protocol::Connect {
        self.accept_connect_with(false)
    }

    /// Reads CONNECT and accepts it with the given session-present flag.
    pub fn accept_connect_with(&mut self, session_present: bool) -> mqtt::protocol::Connect {
        let Packet::Connect(c) = self.read(Duration::from_secs(5)) else {
            panic!("first packet is not CONNECT");
        };
        self.send(&Packet::Connack(mqtt::protocol::Connack {
            properties: Default::default(),
            session_present,
            code: mqtt::protocol::ConnectReturnCode::Accepted.to_reason(),
        }));
        *c
    }

    /// Reads CONNECT and refuses it with `code`.
    pub fn refuse_connect(&mut self, code: mqtt::protocol::ConnectReturnCode) {
        let Packet::Connect(_) = self.read(WAIT) else {
            panic!("expected CONNECT")
        };
        self.send(&Packet::Connack(mqtt::protocol::Connack {
            properties: Default::default(),
            session_present: false,
            code: code.to_reason(),
        }));
    }
}

/// The listening side of a [`FakeBroker`] serving several connections in turn (a client that
/// reconnects).
pub struct FakeListener {
    listener: TcpListener,
}

impl FakeListener {
    /// The next connection, or panics after `within`.
    pub fn accept(&self, within: Duration) -> FakeConn {
        self.try_accept(within)
            .unwrap_or_else(|| panic!("no connection within {within:?}"))
    }

    /// The next connection, or `None` after `within`.
    pub fn try_accept(&self, within: Duration) -> Option<FakeConn> {
        let deadline = Instant::now() + within;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    return Some(FakeConn::new(stream));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

/// A one-connection scripted server on 127.0.0.1, for asserting what the client puts on the
/// wire and how it reacts to exactly chosen server behaviour.
pub struct FakeBroker {
    pub port: u16,
    script: Option<JoinHandle<()>>,
}

impl FakeBroker {
    pub fn start(script: impl FnOnce(FakeConn) + Send + 'static) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let script = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            script(FakeConn::new(stream));
        });
        FakeBroker {
            port,
            script: Some(script),
        }
    }

    /// Like [`FakeBroker::start`], but the script accepts as many connections as it wants.
    pub fn start_serving(script: impl FnOnce(FakeListener) + Send + 'static) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let script = thread::spawn(move || script(FakeListener { listener }));
        FakeBroker {
            port,
            script: Some(script),
        }
    }

    /// Waits for the script to finish, re-raising its assertion failures.
    pub fn finish(mut self) {
        if let Some(h) = self.script.take()
            && let Err(panic) = h.join()
        {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Collects messages a callback forwards, with bounded waits.
pub struct Inbox {
    rx: crossbeam_channel::Receiver<Received>,
    pub tx: crossbeam_channel::Sender<Received>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub tag: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: mqtt::protocol::QoS,
    pub retain: bool,
}

impl Default for Inbox {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Inbox { rx, tx }
    }
}

impl Inbox {
    /// A callback that forwards every message, labelled `tag`.
    pub fn callback(
        &self,
        tag: &str,
    ) -> impl Fn(&mqtt::client::Message<'_>) + Send + Sync + 'static {
        let tx = self.tx.clone();
        let tag = tag.to_owned();
        move |m| {
            let _ = tx.send(Received {
                tag: tag.clone(),
                topic: m.topic.to_owned(),
                payload: m.payload.to_vec(),
                qos: m.qos,
                retain: m.retain,
            });
        }
    }

    pub fn next(&self, within: Duration) -> Received {
        self.rx
            .recv_timeout(within)
            .unwrap_or_else(|_| panic!("no message within {within:?}"))
    }

    pub fn try_next(&self, within: Duration) -> Option<Received> {
        self.rx.recv_timeout(within).ok()
    }
}
