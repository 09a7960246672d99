//! What carries a connection's MQTT bytes: plain TCP, TLS (rustls) or WebSocket (tungstenite,
//! subprotocol `mqtt`). The engine hands a whole batch of pending packets to [`Wire::send`] at
//! once, so over TLS the batch becomes full-size records (16 KiB of plaintext each) and over
//! WebSocket one binary message ([MQTT-6.0.0-2] allows several packets per message); what the
//! broker sends comes back from [`Wire::receive`] as one byte stream, record and frame
//! boundaries gone. Every socket stays non-blocking: the TLS handshake advances inside `send`
//! and `receive`, the WebSocket upgrade likewise once the TCP connect has completed.
//!
//! Certificates are not checked (`ClientTls { insecure: true }`): the generator measures brokers
//! on this machine with self-signed certificates.

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Arc;

use mqtt::tls::ClientTls;
use rustls::{ClientConfig, ClientConnection};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::http::HeaderValue;
use tungstenite::protocol::{WebSocket, WebSocketConfig};
use tungstenite::{Bytes, Message};

use crate::sys;

/// Bytes taken from the socket per read() call.
pub const READ_CHUNK: usize = 256 * 1024;

/// The transport every connection of a run uses.
#[derive(Clone)]
pub enum Transport {
    Tcp,
    Tls(Arc<ClientConfig>),
    /// WebSocket requests of this path (with any query).
    Ws(String),
}

impl Transport {
    /// `tcp`, `tls` or `ws` (requesting `ws_path`).
    pub fn parse(name: &str, ws_path: &str) -> Result<Transport, String> {
        match name {
            "tcp" => Ok(Transport::Tcp),
            "tls" => ClientTls {
                insecure: true,
                ..Default::default()
            }
            .config()
            .map(Transport::Tls)
            .map_err(|e| format!("TLS configuration: {}", e.0)),
            "ws" if ws_path.starts_with('/') => Ok(Transport::Ws(ws_path.to_string())),
            "ws" => Err(format!("--ws-path must start with '/': {ws_path}")),
            _ => Err(format!("--transport must be tcp, tls or ws: {name}")),
        }
    }

    /// The state of a new connection to `addr` on socket `fd` (its connect may be in progress:
    /// nothing is sent before the first [`Wire::send`]).
    pub fn open(&self, addr: SocketAddr, fd: RawFd) -> io::Result<Wire> {
        match self {
            Transport::Tcp => Ok(Wire::Tcp),
            Transport::Tls(config) => ClientConnection::new(Arc::clone(config), addr.ip().into())
                .map(|tls| Wire::Tls(Box::new(tls)))
                .map_err(io::Error::other),
            Transport::Ws(path) => {
                let uri = format!("ws://{addr}{path}");
                let mut request = uri
                    .as_str()
                    .into_client_request()
                    .map_err(|e| io::Error::other(format!("{uri}: {e}")))?;
                // [MQTT-6.0.0-3]: the client offers the subprotocol "mqtt".
                request
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
                let mut config = WebSocketConfig::default();
                // A batch is framed and written at once; the engine keeps what waits.
                config.write_buffer_size = 0;
                let mid = ClientHandshake::start(FdIo(fd), request, Some(config))
                    .map_err(|e| io::Error::other(format!("WebSocket upgrade {uri}: {e}")))?;
                Ok(Wire::Ws(Box::new(Ws {
                    upgrading: Some(mid),
                    socket: None,
                    unflushed: false,
                })))
            }
        }
    }
}

/// One connection's transport state.
pub enum Wire {
    Tcp,
    Tls(Box<ClientConnection>),
    Ws(Box<Ws>),
}

pub struct Ws {
    upgrading: Option<MidHandshake<ClientHandshake<FdIo>>>,
    socket: Option<WebSocket<FdIo>>,
    /// Frames wait in tungstenite for the socket to take them.
    unflushed: bool,
}

/// How far [`Wire::send`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Everything it could send is sent, or it waits for the broker (a handshake in progress).
    Idle,
    /// The socket's buffer is full: call again once it is writable.
    Blocked,
}

/// A socket as `Read + Write` for rustls and tungstenite; the engine owns the descriptor.
#[derive(Debug, Clone, Copy)]
pub struct FdIo(RawFd);

impl Read for FdIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read(self.0, buf)
    }
}

impl Write for FdIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::write(self.0, buf)
    }

    /// rustls hands over its queued records together: one writev(2) for all of them.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        sys::writev(self.0, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn would_block() -> io::Error {
    io::Error::from_raw_os_error(libc::EAGAIN)
}

fn ws_error(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        e => io::Error::other(format!("WebSocket: {e}")),
    }
}

/// Copies `bytes` into `buf` at `at`, growing `buf` when they do not fit.
fn put(buf: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    if buf.len() < at + bytes.len() {
        buf.resize(at + bytes.len(), 0);
    }
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

impl Ws {
    /// Advances the upgrade; true once the WebSocket is open.
    fn upgrade(&mut self) -> io::Result<bool> {
        let Some(mid) = self.upgrading.take() else {
            return Ok(self.socket.is_some());
        };
        match mid.handshake() {
            Ok((socket, _response)) => {
                self.socket = Some(socket);
                Ok(true)
            }
            Err(HandshakeError::Interrupted(mid)) => {
                self.upgrading = Some(mid);
                Ok(false)
            }
            Err(HandshakeError::Failure(e)) => {
                Err(io::Error::other(format!("WebSocket upgrade: {e}")))
            }
        }
    }
}

impl Wire {
    /// Whether the transport has bytes of its own to send (a TLS handshake message, a queued
    /// WebSocket frame) or a send waits on it (the WebSocket upgrade).
    pub fn wants_send(&self) -> bool {
        match self {
            Wire::Tcp => false,
            Wire::Tls(tls) => tls.wants_write(),
            Wire::Ws(ws) => ws.unflushed,
        }
    }

    /// Sends `out[*pos..]`, advancing `pos` past what the transport took.
    pub fn send(&mut self, fd: RawFd, out: &[u8], pos: &mut usize) -> io::Result<Sent> {
        match self {
            Wire::Tcp => {
                while *pos < out.len() {
                    match sys::write(fd, &out[*pos..]) {
                        Ok(n) => *pos += n,
                        Err(e) if sys::would_block(&e) => return Ok(Sent::Blocked),
                        Err(e) => return Err(e),
                    }
                }
                Ok(Sent::Idle)
            }
            Wire::Tls(tls) => loop {
                while tls.wants_write() {
                    match tls.write_tls(&mut FdIo(fd)) {
                        Ok(_) => {}
                        Err(e) if sys::would_block(&e) => return Ok(Sent::Blocked),
                        Err(e) => return Err(e),
                    }
                }
                if *pos == out.len() {
                    return Ok(Sent::Idle);
                }
                // rustls takes what fits its buffer limit (before the handshake ends, as
                // plaintext it sends once it can).
                let n = tls.writer().write(&out[*pos..])?;
                if n == 0 {
                    return Ok(Sent::Idle);
                }
                *pos += n;
            },
            Wire::Ws(ws) => {
                if !ws.upgrade()? {
                    return Ok(Sent::Idle);
                }
                let socket = ws.socket.as_mut().expect("upgraded");
                if ws.unflushed {
                    match socket.flush() {
                        Ok(()) => ws.unflushed = false,
                        Err(tungstenite::Error::Io(e)) if sys::would_block(&e) => {
                            return Ok(Sent::Blocked);
                        }
                        Err(e) => return Err(ws_error(e)),
                    }
                }
                if *pos == out.len() {
                    return Ok(Sent::Idle);
                }
                let message = Message::Binary(Bytes::copy_from_slice(&out[*pos..]));
                *pos = out.len();
                // A frame the socket does not take at once stays queued in tungstenite.
                let sent = match socket.write(message) {
                    Ok(()) => socket.flush(),
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(()) => Ok(Sent::Idle),
                    Err(tungstenite::Error::Io(e)) if sys::would_block(&e) => {
                        ws.unflushed = true;
                        Ok(Sent::Blocked)
                    }
                    Err(e) => Err(ws_error(e)),
                }
            }
        }
    }

    /// Reads what the broker sent into `buf` from `start` on (growing `buf` if needed) and
    /// returns how many bytes of MQTT came: Ok(0) when the broker closed the connection, an
    /// error that [`sys::would_block`] accepts when nothing came. `raw` is scratch space for
    /// TLS records.
    pub fn receive(
        &mut self,
        fd: RawFd,
        buf: &mut Vec<u8>,
        start: usize,
        raw: &mut Vec<u8>,
    ) -> io::Result<usize> {
        match self {
            Wire::Tcp => {
                if buf.len() < start + READ_CHUNK {
                    buf.resize(start + READ_CHUNK, 0);
                }
                sys::read(fd, &mut buf[start..])
            }
            Wire::Tls(tls) => {
                if raw.len() < READ_CHUNK {
                    raw.resize(READ_CHUNK, 0);
                }
                let n = sys::read(fd, raw)?;
                if n == 0 {
                    return Ok(0);
                }
                let mut records = &raw[..n];
                let mut end = start;
                let mut closed = false;
                while !records.is_empty() {
                    tls.read_tls(&mut records)?;
                    let state = tls
                        .process_new_packets()
                        .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
                    let plaintext = state.plaintext_bytes_to_read();
                    if plaintext > 0 {
                        if buf.len() < end + plaintext {
                            buf.resize(end + plaintext, 0);
                        }
                        tls.reader().read_exact(&mut buf[end..end + plaintext])?;
                        end += plaintext;
                    }
                    closed |= state.peer_has_closed();
                }
                match end - start {
                    0 if closed => Ok(0),
                    0 => Err(would_block()),
                    got => Ok(got),
                }
            }
            Wire::Ws(ws) => {
                if !ws.upgrade()? {
                    return Err(would_block());
                }
                let socket = ws.socket.as_mut().expect("upgraded");
                let mut end = start;
                // Until the socket is empty: tungstenite may hold whole frames it read, which
                // no readiness event would announce.
                loop {
                    match socket.read() {
                        Ok(Message::Binary(bytes)) => {
                            put(buf, end, &bytes);
                            end += bytes.len();
                        }
                        Ok(Message::Text(_)) => {
                            // [MQTT-6.0.0-1]: MQTT goes in binary frames only.
                            return Err(io::Error::other("WebSocket: a text frame"));
                        }
                        Ok(Message::Close(_))
                        | Err(
                            tungstenite::Error::ConnectionClosed
                            | tungstenite::Error::AlreadyClosed,
                        ) => {
                            return Ok(end - start);
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e)) if sys::would_block(&e) => break,
                        Err(e) => return Err(ws_error(e)),
                    }
                }
                if end == start {
                    Err(would_block())
                } else {
                    Ok(end - start)
                }
            }
        }
    }
}
