//! Feeds arbitrary bytes to one connection of an in-process broker, over a loopback socket, then
//! half-closes it. Checks: the broker closes that connection (a malformed stream or end of input
//! must end it, never leave it hanging), nothing it sends back is malformed, nothing panics on any
//! broker thread (libFuzzer's panic hook aborts the process), and afterwards the broker still
//! answers a fresh CONNECT with CONNACK 0x00 — which, with a small connection limit, also
//! catches connection slots that are never released.
//!
//! The broker is started once, lazily, with small limits so state left behind by earlier inputs
//! (persistent sessions, retained messages, queued deliveries) stays bounded.
//!
//! Run with `-detect_leaks=0`: connection threads still finishing when an input ends hold
//! thread-local destructor records that LeakSanitizer reports as leaks.

#![no_main]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mqtt::broker::{Broker, BrokerOptions};
use mqtt::protocol::{Connack, Connect, ConnectReturnCode, Decoder, Packet, ProtocolLevel};

/// Longer than any honest reaction of the broker, far shorter than its 10 s connect timeout, so
/// a connection left open after end of input is caught as a hang.
const CLOSE_WITHIN: Duration = Duration::from_secs(3);

fn broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(|| {
        let broker = Broker::new(BrokerOptions {
            port: 0,
            // Far above the two connections an input uses at once, so only connection slots
            // that are never given back (a leak) make the liveness probe's CONNECT refused.
            max_connections: 16,
            max_packet_size: 64 * 1024,
            max_queued_messages: 64,
            max_inflight_messages: 16,
            session_expiry: Some(Duration::from_secs(2)),
            ..BrokerOptions::default()
        });
        broker.start().expect("broker starts");
        broker
    })
}

fn open(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the broker");
    stream.set_nodelay(true).unwrap();
    stream
}

/// Reads everything the broker sends until it closes the connection, checking each packet
/// decodes. Panics if the connection is still open after [`CLOSE_WITHIN`].
fn drain_until_closed(stream: &mut TcpStream, protocol: ProtocolLevel) {
    let decoder = Decoder::default().with_protocol(protocol);
    let deadline = Instant::now() + CLOSE_WITHIN;
    let mut received = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "broker left the connection open after end of input"
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("broker left the connection open after end of input")
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset (the broker closed with our unread bytes pending) is a close too.
            Err(_) => break,
        }
    }
    let mut rest = &received[..];
    while let Some((_, used)) = decoder
        .decode(rest)
        .expect("the broker sent a malformed packet")
    {
        rest = &rest[used..];
    }
}

/// The broker still accepts a well-formed client.
fn assert_still_serving(port: u16) {
    let mut stream = open(port);
    let connect = Packet::Connect(Connect {
        protocol: ProtocolLevel::V311,
        clean_session: true,
        keep_alive: 30,
        client_id: "fuzz-liveness-probe".to_owned(),
        will: None,
        username: None,
        password: None,
    });
    stream.write_all(&connect.to_bytes().unwrap()).unwrap();
    stream.set_read_timeout(Some(CLOSE_WITHIN)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64];
    let connack = loop {
        if let Some((packet, _)) = Decoder::default().decode(&buf).expect("CONNACK decodes") {
            break packet;
        }
        match stream.read(&mut chunk) {
            Ok(0) => panic!("the broker closed instead of answering CONNECT"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // libFuzzer's timer signal interrupts blocking reads.
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("the broker did not answer CONNECT: {e}"),
        }
    };
    assert_eq!(
        connack,
        Packet::Connack(Connack {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        })
    );
    stream
        .write_all(&Packet::Disconnect.to_bytes().unwrap())
        .unwrap();
}

/// MQTT 3.1 sessions decode with 3.1 rules; which one the input asked for is read the way the
/// broker reads it (protocol level byte of a CONNECT at the start).
fn protocol_of(data: &[u8]) -> ProtocolLevel {
    match Decoder::default().decode(data) {
        Ok(Some((Packet::Connect(c), _))) => c.protocol,
        _ => ProtocolLevel::V311,
    }
}

fuzz_target!(|data: &[u8]| {
    let port = broker().port();
    let mut stream = open(port);
    // The broker may close mid-write (a malformed packet early in the input): that is allowed.
    let _ = stream.write_all(data);
    let _ = stream.shutdown(Shutdown::Write);
    drain_until_closed(&mut stream, protocol_of(data));
    drop(stream);
    assert_still_serving(port);
});
