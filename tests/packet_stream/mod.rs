//! A socket read packet by packet until a deadline: the one place tests decode what a peer (the
//! broker, or a client under test) sends them. Used by `common::RawClient` (a raw client of the
//! broker), client_support's fake broker and the conformance tests' scripted server.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mqtt::protocol::{Decoder, Packet, ProtocolLevel};

/// What a read observed instead of a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEnd {
    Timeout,
    Closed,
}

/// A socket read packet by packet until a deadline: the one place tests decode what a peer (the
/// broker, or a client under test) sends them.
pub struct PacketStream {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// The revision whose rules decode the peer's packets (MQTT 3.1.1 unless set).
    pub protocol: ProtocolLevel,
}

impl PacketStream {
    pub fn new(stream: TcpStream) -> PacketStream {
        PacketStream {
            stream,
            buf: Vec::new(),
            protocol: ProtocolLevel::V311,
        }
    }

    /// The next packet, decoded, or why none arrived within `within`; panics if the peer sent a
    /// malformed one.
    pub fn try_read(&mut self, within: Duration) -> Result<Packet, ReadEnd> {
        let deadline = Instant::now() + within;
        loop {
            match Decoder::default()
                .with_protocol(self.protocol)
                .decode(&self.buf)
            {
                Ok(Some((packet, used))) => {
                    self.buf.drain(..used);
                    return Ok(packet);
                }
                Ok(None) => {}
                Err(e) => panic!("peer sent a malformed packet: {e}"),
            }
            self.fill(deadline)?;
        }
    }

    /// The bytes of the next whole packet exactly as sent, undecoded, or why none arrived
    /// within `within`. Only the conformance binary's tests check raw bytes; the other binaries
    /// that compile this module do not call it.
    #[allow(dead_code)]
    pub fn try_read_raw(&mut self, within: Duration) -> Result<Vec<u8>, ReadEnd> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(len) = whole_packet_len(&self.buf) {
                return Ok(self.buf.drain(..len).collect());
            }
            self.fill(deadline)?;
        }
    }

    /// Reads what the socket has, waiting until `deadline` at most.
    fn fill(&mut self, deadline: Instant) -> Result<(), ReadEnd> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadEnd::Timeout);
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ReadEnd::Closed),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(ReadEnd::Timeout);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A reset also means closed.
                Err(_) => return Err(ReadEnd::Closed),
            }
        }
    }
}

/// Length of the first packet in `buf` once all of it is there (the remaining length decoded
/// here, independently of the codec).
fn whole_packet_len(buf: &[u8]) -> Option<usize> {
    let mut remaining = 0usize;
    for (i, byte) in buf.iter().skip(1).take(4).enumerate() {
        remaining |= ((byte & 0x7F) as usize) << (7 * i);
        if byte & 0x80 == 0 {
            let total = 1 + i + 1 + remaining;
            return (buf.len() >= total).then_some(total);
        }
    }
    None
}
