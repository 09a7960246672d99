//! A connection's socket with its input and output buffers: reads append to one reusable buffer
//! that the incremental decoder consumes; responses and deliveries are encoded into one output
//! buffer and written with as few `send(2)` calls as the socket allows.
//!
//! On a TLS listener the socket carries rustls records: `fill` feeds what arrived to the
//! `ServerConnection` and moves every decrypted byte into the input buffer (so nothing waits
//! inside rustls while the connection sleeps in poll or the parking lot), and `flush` hands the
//! output to rustls and writes the records. On a WebSocket listener the (plain or TLS) bytes
//! carry the HTTP upgrade and then frames ([`super::websocket`]). The rest of the broker sees
//! MQTT bytes whatever the listener.
//!
//! A connection that the TLS layer refuses during its handshake, or the WebSocket layer refuses
//! (its upgrade, or a frame), is counted once in the broker's stats (`tls_handshakes_failed`,
//! `websocket_refused`), as is one whose handshake or upgrade the connect timeout cut short.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use rustls::{ServerConfig, ServerConnection};

use super::stats::Counters;
use super::websocket::WebSocketLayer;
use crate::protocol::{Connect, DecodeError, Decoder, Packet, ProtocolLevel};
use crate::socket::{FdStream, Ready, poll2, read_into_spare, timeout_ms};
use crate::topic::TopicName;

/// First read size; doubled (up to `MAX_READ_CHUNK`) whenever a read fills the space offered, so
/// idle connections stay small and busy ones read in large batches.
const MIN_READ_CHUNK: usize = 2 * 1024;
const MAX_READ_CHUNK: usize = 64 * 1024;
/// Buffers grown beyond these by one large packet or burst are shrunk once drained.
const INPUT_KEEP: usize = 256 * 1024;
const OUTPUT_KEEP: usize = 256 * 1024;

/// Reads the TLS records the socket has (at most `MAX_READ_CHUNK` bytes of them), lets rustls
/// process them and appends the plaintext to `target`; returns the plaintext bytes and whether
/// the peer closed. A TLS error is `InvalidData`, after the alert went out.
fn read_tls_into(
    tls: &mut ServerConnection,
    fd: RawFd,
    target: &mut Vec<u8>,
    read: &mut u64,
) -> io::Result<(usize, bool)> {
    let mut socket = FdStream(fd);
    let mut raw = 0usize;
    let mut plaintext = 0usize;
    let mut end_of_stream = false;
    while raw < MAX_READ_CHUNK {
        match tls.read_tls(&mut socket) {
            Ok(0) => {
                end_of_stream = true;
                break;
            }
            Ok(n) => raw += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
        let state = match tls.process_new_packets() {
            Ok(state) => state,
            Err(e) => {
                let _ = tls.write_tls(&mut socket);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        };
        let ready = state.plaintext_bytes_to_read();
        if ready > 0 {
            let len = target.len();
            target.resize(len + ready, 0);
            let n = tls.reader().read(&mut target[len..])?;
            target.truncate(len + n);
            plaintext += n;
        }
        if state.peer_has_closed() {
            end_of_stream = true;
            break;
        }
    }
    *read += raw as u64;
    Ok((plaintext, end_of_stream))
}

/// Whether a failed read of TLS records refused the handshake: rustls rejected what arrived
/// (not TLS, a bad record, a client certificate it does not accept, the client's fatal alert)
/// before the handshake was over.
fn refused_handshake(read: &io::Result<(usize, bool)>, tls: &ServerConnection) -> bool {
    matches!(read, Err(e) if e.kind() == io::ErrorKind::InvalidData) && tls.is_handshaking()
}

/// Which layer refused a connection, for the broker's stats.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    TlsHandshake,
    WebSocket,
}

/// Counts a refusal in the counters `refusals` holds, and takes them: a connection counts once.
fn count_refusal(refusals: &mut Option<Arc<Counters>>, refusal: Refusal) {
    if let Some(counters) = refusals.take() {
        let counter = match refusal {
            Refusal::TlsHandshake => &counters.tls_handshakes_failed,
            Refusal::WebSocket => &counters.websocket_refused,
        };
        Counters::add(counter, 1);
    }
}

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
    /// The topic of the last PUBLISH read, shared with the next one naming it.
    last_topic: Option<TopicName>,
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
    /// The TLS session of a connection accepted on a TLS listener.
    tls: Option<Box<ServerConnection>>,
    /// The listener takes the client certificate's identity as the user name.
    identity_as_username: bool,
    /// The WebSocket layer of a connection accepted on a WebSocket listener.
    ws: Option<Box<WebSocketLayer>>,
    /// The broker's counters, where a connection of a TLS or WebSocket listener counts the
    /// refusal that ends it; `None` on a plain listener and once counted.
    refusals: Option<Arc<Counters>>,
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
            last_topic: None,
            input: Vec::new(),
            consumed: 0,
            wanted: 0,
            read_chunk: MIN_READ_CHUNK,
            output: Vec::new(),
            protocol: ProtocolLevel::V311,
            traffic: (0, 0),
            tls: None,
            identity_as_username: false,
            ws: None,
            refusals: None,
        })
    }

    /// Carries MQTT in WebSocket frames from now on (the upgrade request comes first).
    pub fn set_websocket(&mut self, layer: WebSocketLayer) {
        self.ws = Some(Box::new(layer));
    }

    /// An `Io` for a socket accepted on a TLS listener: the handshake runs as bytes arrive.
    pub fn with_tls(
        stream: TcpStream,
        max_packet_size: usize,
        config: Arc<ServerConfig>,
    ) -> io::Result<Io> {
        let mut io = Io::new(stream, max_packet_size)?;
        let connection = ServerConnection::new(config).map_err(io::Error::other)?;
        io.tls = Some(Box::new(connection));
        Ok(io)
    }

    /// Counts in `counters` a refusal by the connection's TLS or WebSocket layer (see the module
    /// documentation).
    pub fn count_refusals_in(&mut self, counters: Arc<Counters>) {
        self.refusals = Some(counters);
    }

    /// Counts a TLS handshake or WebSocket upgrade still under way as failed, for a connection
    /// about to be closed because its connect timeout ran out.
    pub fn count_unfinished_handshake(&mut self) {
        if self.tls.as_ref().is_some_and(|t| t.is_handshaking()) {
            count_refusal(&mut self.refusals, Refusal::TlsHandshake);
        } else if self.ws.as_ref().is_some_and(|w| w.is_upgrading()) {
            count_refusal(&mut self.refusals, Refusal::WebSocket);
        }
    }

    /// Makes [`Io::certificate_identity`] the connection's user name (mosquitto's
    /// `use_identity_as_username`).
    pub fn set_identity_as_username(&mut self, on: bool) {
        self.identity_as_username = on;
    }

    /// Whether the listener takes the user name from the client certificate.
    pub fn identity_as_username(&self) -> bool {
        self.identity_as_username
    }

    /// The identity of the client certificate the TLS handshake verified: its Common Name, or
    /// its whole subject (see [`crate::tls::certificate_identity`]).
    pub fn certificate_identity(&self) -> Option<String> {
        let certificate = self.tls.as_ref()?.peer_certificates()?.first()?;
        crate::tls::certificate_identity(certificate)
    }

    /// Whether bytes wait to be written: buffered output, or TLS records rustls holds.
    pub fn has_pending_output(&self) -> bool {
        !self.output.is_empty()
            || self.tls.as_ref().is_some_and(|t| t.wants_write())
            || self.ws.as_ref().is_some_and(|w| w.has_outgoing())
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
        if let Some(ws) = self.ws.as_deref_mut() {
            ws.release_buffers();
        }
        self.read_chunk = MIN_READ_CHUNK;
        self.last_topic = None;
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
                FirstPacket::Connect(connect)
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
        match self
            .decoder
            .decode_reusing(available, &mut self.last_topic)?
        {
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
        if self.ws.is_some() {
            return self.fill_websocket();
        }
        if self.tls.is_some() {
            return self.fill_tls();
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

    /// [`Io::fill`] on a TLS connection: reads the records the socket has (at most
    /// `MAX_READ_CHUNK` bytes of them per call), lets rustls process them — handshake messages
    /// are answered at once — and moves the plaintext into the input. `WouldBlock` when no
    /// plaintext came (the handshake, or a partial record); a TLS error is `InvalidData`, after
    /// the alert went out.
    fn fill_tls(&mut self) -> io::Result<usize> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return Err(io::ErrorKind::Unsupported.into());
        };
        let read = read_tls_into(tls, self.fd, &mut self.input, &mut self.traffic.0);
        if refused_handshake(&read, tls) {
            count_refusal(&mut self.refusals, Refusal::TlsHandshake);
        }
        let (plaintext, end_of_stream) = read?;
        self.write_tls()?;
        match (plaintext, end_of_stream) {
            (0, true) => Ok(0),
            (0, false) => Err(io::ErrorKind::WouldBlock.into()),
            (n, _) => Ok(n),
        }
    }

    /// [`Io::fill`] on a WebSocket connection: reads the transport (plain or TLS) and lets the
    /// WebSocket layer turn it into MQTT bytes; answers (the upgrade response, pongs, an HTTP
    /// error) are written at once.
    fn fill_websocket(&mut self) -> io::Result<usize> {
        let Some(ws) = self.ws.as_deref_mut() else {
            return Err(io::ErrorKind::Unsupported.into());
        };
        // The transport's bytes go straight into the buffer the WebSocket layer reads from.
        let incoming = ws.incoming();
        let end_of_stream = match self.tls.as_deref_mut() {
            Some(tls) => {
                let read = read_tls_into(tls, self.fd, incoming, &mut self.traffic.0);
                if refused_handshake(&read, tls) {
                    count_refusal(&mut self.refusals, Refusal::TlsHandshake);
                }
                read?.1
            }
            None => {
                incoming.reserve(self.read_chunk);
                match read_into_spare(self.fd, incoming) {
                    Ok(0) => true,
                    Ok(n) => {
                        self.traffic.0 += n as u64;
                        false
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                    Err(e) => return Err(e),
                }
            }
        };
        let received = ws.receive(&mut self.input);
        if received.is_err() {
            count_refusal(&mut self.refusals, Refusal::WebSocket);
        }
        // The upgrade response, pongs or an HTTP refusal go out whatever happened.
        self.flush_websocket()?;
        match received? {
            None => Ok(0),
            Some(0) if end_of_stream => Ok(0),
            Some(0) => Err(io::ErrorKind::WouldBlock.into()),
            Some(n) => Ok(n),
        }
    }

    /// [`Io::flush`] on a WebSocket connection: the output becomes one binary frame, and the
    /// frames go to the transport as far as it takes them.
    fn flush_websocket(&mut self) -> io::Result<()> {
        let Some(ws) = self.ws.as_deref_mut() else {
            return Ok(());
        };
        if !self.output.is_empty() {
            ws.send(&self.output)?;
            self.output.clear();
        }
        let mut frames = std::mem::take(ws.outgoing());
        let taken = self.write_transport(&frames)?;
        // What the transport did not take goes back, to be written when the socket has room.
        frames.drain(..taken);
        if let Some(ws) = self.ws.as_deref_mut() {
            *ws.outgoing() = frames;
        }
        Ok(())
    }

    /// Writes `bytes` to the transport without blocking: to the socket, or through rustls.
    /// Returns how many it took.
    fn write_transport(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let Some(tls) = self.tls.as_deref_mut() {
            let taken = tls.writer().write(bytes)?;
            self.write_tls()?;
            return Ok(taken);
        }
        let mut socket = FdStream(self.fd);
        let mut written = 0;
        while written < bytes.len() {
            match socket.write(&bytes[written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        self.traffic.1 += written as u64;
        Ok(written)
    }

    /// Writes the TLS records rustls holds, as far as the socket takes them without blocking.
    fn write_tls(&mut self) -> io::Result<()> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return Ok(());
        };
        let mut socket = FdStream(self.fd);
        while tls.wants_write() {
            match tls.write_tls(&mut socket) {
                Ok(n) => self.traffic.1 += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// [`Io::flush`] on a TLS connection: rustls takes the output (up to its buffer limit) and
    /// the records go out as far as the socket takes them.
    fn flush_tls(&mut self) -> io::Result<()> {
        loop {
            if !self.output.is_empty()
                && let Some(tls) = self.tls.as_deref_mut()
            {
                let taken = tls.writer().write(&self.output)?;
                self.output.drain(..taken);
            }
            self.write_tls()?;
            let records_left = self.tls.as_ref().is_some_and(|t| t.wants_write());
            if self.output.is_empty() || records_left {
                break;
            }
        }
        if self.output.is_empty() && self.output.capacity() > OUTPUT_KEEP {
            self.output.shrink_to(MAX_READ_CHUNK);
        }
        Ok(())
    }

    /// Writes as much buffered output as the socket takes without blocking.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.ws.is_some() {
            return self.flush_websocket();
        }
        if self.tls.is_some() {
            return self.flush_tls();
        }
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
            self.has_pending_output(),
            waker.unwrap_or(-1),
            timeout_ms(deadline),
        )
    }

    /// Shuts our side for writing: the peer reads what was sent, then end of stream (on TLS,
    /// after a close_notify alert).
    pub fn shutdown_write(&mut self) {
        self.close_tls();
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Sends WebSocket's close frame and TLS's close_notify, where the connection has them, as
    /// far as the socket takes them.
    fn close_tls(&mut self) {
        if let Some(ws) = self.ws.as_deref_mut() {
            ws.close();
            let _ = self.flush_websocket();
        }
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
            let _ = self.write_tls();
        }
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
    pub fn shutdown(&mut self) {
        self.close_tls();
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
