//! A connection's socket with its input and output buffers: reads append to one reusable buffer
//! that the incremental decoder consumes; responses and deliveries are encoded into one output
//! buffer and written with as few `send(2)` calls as the socket allows.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use crate::protocol::{Connect, DecodeError, Decoder, Packet, ProtocolLevel};
use crate::socket::{Ready, poll2, read_into_spare, timeout_ms};

/// First read size; doubled (up to `MAX_READ_CHUNK`) whenever a read fills the space offered, so
/// idle connections stay small and busy ones read in large batches.
const MIN_READ_CHUNK: usize = 2 * 1024;
const MAX_READ_CHUNK: usize = 64 * 1024;
/// Buffers grown beyond these by one large packet or burst are shrunk once drained.
const INPUT_KEEP: usize = 256 * 1024;
const OUTPUT_KEEP: usize = 256 * 1024;

/// What the first bytes a client sent amount to.
pub(crate) enum FirstPacket {
    Connect(Box<Connect>),
    /// Not a whole packet yet.
    Incomplete,
    /// Another packet or malformed input: refused by [`super::handshake::read_connect`].
    NotConnect,
}

pub(crate) struct Io {
    stream: TcpStream,
    fd: RawFd,
    decoder: Decoder,
    input: Vec<u8>,
    /// Bytes at the front of `input` already decoded.
    consumed: usize,
    /// Size of the packet being assembled, once its fixed header is buffered.
    wanted: usize,
    read_chunk: usize,
    pub output: Vec<u8>,
    /// The revision the client's CONNECT announced, which decides how packets are encoded.
    protocol: ProtocolLevel,
    /// Bytes read and written since the owner last took them ([`Io::take_traffic`]).
    traffic: (u64, u64),
}

impl Io {
    pub fn new(stream: TcpStream, max_packet_size: usize) -> io::Result<Io> {
        stream.set_nonblocking(true)?;
        // Small packets must leave at once: latency matters more than segment count, and output
        // is already batched per write.
        stream.set_nodelay(true)?;
        let fd = stream.as_raw_fd();
        Ok(Io {
            stream,
            fd,
            decoder: Decoder::with_max_packet_size(max_packet_size),
            input: Vec::new(),
            consumed: 0,
            wanted: 0,
            read_chunk: MIN_READ_CHUNK,
            output: Vec::new(),
            protocol: ProtocolLevel::V311,
            traffic: (0, 0),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Gives back the memory of empty buffers, for a connection about to idle.
    pub fn release_buffers(&mut self) {
        if self.consumed > 0 {
            self.input.drain(..self.consumed);
            self.consumed = 0;
        }
        if self.input.is_empty() {
            self.input = Vec::new();
        } else {
            self.input.shrink_to_fit();
        }
        if self.output.is_empty() {
            self.output = Vec::new();
        }
        self.read_chunk = MIN_READ_CHUNK;
    }

    /// Decodes by the rules of the protocol level the client's CONNECT announced (MQTT 3.1 sets
    /// DUP on resent PUBREL, SUBSCRIBE and UNSUBSCRIBE).
    pub fn set_protocol(&mut self, protocol: ProtocolLevel) {
        self.decoder = self.decoder.with_protocol(protocol);
        self.protocol = protocol;
    }

    pub fn protocol(&self) -> ProtocolLevel {
        self.protocol
    }

    /// Bytes read and written since the last call, for the broker's counters.
    pub fn take_traffic(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.traffic)
    }

    /// Buffers `packet`, encoded for the client's revision. Only packets the broker builds go
    /// through here, and those always encode (their properties are the broker's own).
    pub fn send(&mut self, packet: &Packet) {
        let encoded = packet.encode_for(self.protocol, &mut self.output);
        debug_assert!(encoded.is_ok(), "{packet:?}: {encoded:?}");
    }

    /// Takes the first buffered packet if it is a complete, valid CONNECT; otherwise leaves the
    /// input untouched and says whether more bytes may still make one.
    pub fn first_packet(&mut self) -> FirstPacket {
        match self.decoder.decode(&self.input[self.consumed..]) {
            Ok(Some((Packet::Connect(connect), used))) => {
                self.consumed += used;
                FirstPacket::Connect(Box::new(connect))
            }
            Ok(None) => FirstPacket::Incomplete,
            Ok(Some(_)) | Err(_) => FirstPacket::NotConnect,
        }
    }

    /// Bytes received and not yet decoded.
    pub fn buffered_input(&self) -> usize {
        self.input.len() - self.consumed
    }

    /// The next complete packet in the input, `Ok(None)` when more bytes are needed. A packet
    /// whose fixed header announces more than the maximum size is refused here, before any buffer
    /// is sized for it.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, DecodeError> {
        let available = &self.input[self.consumed..];
        match self.decoder.decode(available)? {
            Some((packet, used)) => {
                self.consumed += used;
                if self.consumed == self.input.len() {
                    self.input.clear();
                    self.consumed = 0;
                    if self.input.capacity() > INPUT_KEEP {
                        self.input.shrink_to(MAX_READ_CHUNK);
                    }
                }
                self.wanted = 0;
                Ok(Some(packet))
            }
            None => {
                self.wanted = match self.decoder.fixed_header(available) {
                    Ok(Some(header)) => header.packet_len(),
                    _ => 0,
                };
                Ok(None)
            }
        }
    }

    /// Reads what the socket has. `Ok(0)` is end of stream; `WouldBlock` means nothing yet.
    ///
    /// Room is made for the packet being assembled, but never more than doubles what is already
    /// buffered: a peer claiming a huge packet gets memory only as fast as it sends bytes.
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.consumed > 0 {
            self.input.drain(..self.consumed);
            self.consumed = 0;
        }
        let len = self.input.len();
        let missing = self.wanted.saturating_sub(len);
        let spare = self.read_chunk.max(missing.min(len.max(self.read_chunk)));
        self.input.reserve(spare);
        let offered = self.input.capacity() - len;
        let n = read_into_spare(self.fd, &mut self.input)?;
        self.traffic.0 += n as u64;
        if n == offered && self.read_chunk < MAX_READ_CHUNK {
            self.read_chunk *= 2;
        }
        Ok(n)
    }

    /// Writes as much buffered output as the socket takes without blocking.
    pub fn flush(&mut self) -> io::Result<()> {
        let mut written = 0;
        while written < self.output.len() {
            let rest = &self.output[written..];
            // SAFETY: sends from a live slice on an owned socket. MSG_NOSIGNAL: a peer that went
            // away must not raise SIGPIPE in a host program that did not ignore it.
            let n = unsafe {
                libc::send(
                    self.fd,
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n > 0 {
                written += n as usize;
                continue;
            }
            let err = if n == 0 {
                io::Error::from(io::ErrorKind::WriteZero)
            } else {
                io::Error::last_os_error()
            };
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => break,
                _ => return Err(err),
            }
        }
        self.traffic.1 += written as u64;
        if written == self.output.len() {
            self.output.clear();
            if self.output.capacity() > OUTPUT_KEEP {
                self.output.shrink_to(MAX_READ_CHUNK);
            }
        } else {
            self.output.drain(..written);
        }
        Ok(())
    }

    /// Waits for input, room to write pending output, a wake-up on `waker` (if any), or
    /// `deadline`.
    pub fn wait(&self, waker: Option<RawFd>, deadline: Option<Instant>) -> io::Result<Ready> {
        // poll(2) ignores negative descriptors.
        poll2(
            self.fd,
            !self.output.is_empty(),
            waker.unwrap_or(-1),
            timeout_ms(deadline),
        )
    }

    /// Shuts our side for writing: the peer reads what was sent, then end of stream.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads and discards what the peer sent, a bounded amount per call so a peer that keeps
    /// sending cannot hold the caller; false once it closed (or the socket failed).
    pub fn discard_input(&mut self) -> bool {
        const MAX_READS: usize = 16;
        for _ in 0..MAX_READS {
            self.input.clear();
            self.consumed = 0;
            self.input.reserve(MIN_READ_CHUNK);
            match read_into_spare(self.fd, &mut self.input) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
        true
    }

    /// Shuts the socket both ways, so the peer learns at once that the connection is over.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
