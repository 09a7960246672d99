//! The socket side: resolving and connecting within a deadline, the [`Transport`] a link reads
//! and writes (plain TCP, TLS over it, or WebSocket over either), and waiting until the socket
//! is readable, a deadline passes or the client's waker (`crate::waker`) interrupts the wait.

use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::thread;
use std::time::Instant;

use super::error::ClientError;
use super::inbound::Inbound;
use super::tls_session::{TlsSession, TlsSetup};
use super::websocket::{WebSocketSession, WebSocketSetup};
use crate::socket::{poll2, timeout_ms};
use crate::waker::Waker;

/// One connection's byte stream: the TCP socket and what runs over it. The plain path adds
/// nothing to a read or a write but the check of which layer there is.
pub(crate) struct Transport {
    stream: TcpStream,
    layer: Layer,
}

/// What runs between MQTT and the TCP socket.
enum Layer {
    /// `mqtt`: nothing.
    Plain,
    /// `mqtts`: TLS.
    Tls(Box<TlsSession>),
    /// `ws`, and `wss` with TLS under the WebSocket (MQTT 5.0 and 3.1.1 section 6).
    WebSocket(Box<WebSocketSession>),
}

impl Transport {
    /// Connects to `host`, with `tls` completes the TLS handshake and with `websocket` the
    /// WebSocket upgrade over it, all before `deadline` (MQTT 5.0 section 4.2: the network
    /// connection MQTT runs over, here TCP, TLS or WebSocket).
    pub(crate) fn open(
        host: &str,
        port: u16,
        tls: Option<&TlsSetup>,
        websocket: Option<&WebSocketSetup>,
        deadline: Instant,
    ) -> Result<Transport, ClientError> {
        let stream = connect(host, port, deadline)?;
        let tls = match tls {
            None => None,
            Some(setup) => Some(Box::new(TlsSession::handshake(&stream, setup, deadline)?)),
        };
        let layer = match (websocket, tls) {
            (Some(setup), tls) => Layer::WebSocket(Box::new(WebSocketSession::handshake(
                &stream, tls, setup, deadline,
            )?)),
            (None, Some(tls)) => Layer::Tls(tls),
            (None, None) => Layer::Plain,
        };
        Ok(Transport { stream, layer })
    }

    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The TCP socket's descriptor (also under TLS and WebSocket: poll it for readability).
    pub(crate) fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Reads what has arrived into `inbound`; `Ok(0)` is end of stream. Call after
    /// [`wait_readable`] reported the socket readable. Under TLS every record read is
    /// decrypted and all its plaintext moved into `inbound`, so none waits unseen inside the
    /// TLS session when the socket is polled again; under WebSocket every complete frame is
    /// read and its MQTT bytes moved into `inbound`, so only a frame in part stays behind.
    pub(crate) fn read_into(&self, inbound: &mut Inbound) -> io::Result<usize> {
        match &self.layer {
            Layer::Plain => inbound.read_with(0, |buf| (&self.stream).read(buf)),
            Layer::Tls(tls) => tls.read_into(&self.stream, inbound),
            Layer::WebSocket(ws) => ws.read_into(&self.stream, inbound),
        }
    }

    /// Writes all of `bytes` (blocking, bounded by the socket's write timeout); under TLS, also
    /// every TLS record waiting to go out; under WebSocket as one binary frame, after every
    /// frame waiting.
    pub(crate) fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match &self.layer {
            Layer::Plain => send_all(self.stream.as_raw_fd(), bytes),
            Layer::Tls(tls) => tls.write_all(self.stream.as_raw_fd(), bytes),
            Layer::WebSocket(ws) => ws.write_all(self.stream.as_raw_fd(), bytes),
        }
    }

    /// TLS records or WebSocket frames wait to be written (never for plain TCP).
    pub(crate) fn wants_write(&self) -> bool {
        match &self.layer {
            Layer::Plain => false,
            Layer::Tls(tls) => tls.wants_write(),
            Layer::WebSocket(ws) => ws.wants_write(),
        }
    }

    /// Ends TLS with its close_notify alert, and a WebSocket with a close frame (then TLS's
    /// close_notify under `wss`); nothing for plain TCP. Before a clean disconnect.
    pub(crate) fn close_notify(&self) {
        match &self.layer {
            Layer::Plain => {}
            Layer::Tls(tls) => tls.close_notify(self.stream.as_raw_fd()),
            Layer::WebSocket(ws) => ws.close(self.stream.as_raw_fd()),
        }
    }

    /// Ends the connection in both directions so a reader blocked on it returns at once; the
    /// descriptor itself stays open until the transport is dropped, so it cannot be reused
    /// meanwhile.
    pub(crate) fn shut_down(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Resolves `host` (names, IPv4 and IPv6 literals) and connects to the first address that
/// answers, all before `deadline`.
fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, ClientError> {
    let host = unbracket(host);
    let addrs = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => resolve(host, port, deadline)?,
    };
    if addrs.is_empty() {
        return Err(ClientError::Resolve(format!("{host}: no addresses")));
    }
    let mut failures = Vec::new();
    for addr in addrs {
        let now = Instant::now();
        if now >= deadline {
            return Err(ClientError::Timeout);
        }
        match TcpStream::connect_timeout(&addr, deadline - now) {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(ClientError::Io)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(ClientError::Timeout),
            Err(e) => failures.push(format!("{addr}: {e}")),
        }
    }
    Err(ClientError::ConnectFailed(failures.join("; ")))
}

/// `host` without the brackets of an IPv6 literal: "[::1]" is accepted as well as "::1".
pub(crate) fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Resolves a host name on a helper thread, so a slow resolver cannot hold `connect` past its
/// deadline (the system resolver has no timeout of its own to pass); a resolution still running
/// at the deadline finishes on its own thread and is discarded.
fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, ClientError> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let name = host.to_owned();
    thread::Builder::new()
        .name("mqtt-resolve".into())
        .stack_size(RESOLVER_STACK_SIZE)
        .spawn(move || {
            let result = (name.as_str(), port)
                .to_socket_addrs()
                .map(|addrs| addrs.collect::<Vec<_>>());
            let _ = tx.send(result);
        })
        .map_err(ClientError::Io)?;
    match rx.recv_deadline(deadline) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(ClientError::Resolve(format!("{host}: {e}"))),
        Err(_) => Err(ClientError::Timeout),
    }
}

/// The system resolver may load NSS modules, so its thread gets more than a minimal stack.
const RESOLVER_STACK_SIZE: usize = 256 * 1024;

/// What ended a [`wait_readable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// The socket has bytes, an end of stream or an error to report.
    Readable,
    /// The deadline passed or the waker fired.
    Interrupted,
}

/// Waits until `socket` is readable, `deadline` passes (`None`: no deadline) or `waker` fires.
pub(crate) fn wait_readable(
    socket: RawFd,
    waker: &Waker,
    deadline: Option<Instant>,
) -> io::Result<Readiness> {
    let ready = poll2(socket, false, waker.as_raw_fd(), timeout_ms(deadline))?;
    if ready.woken {
        waker.reset();
    }
    if ready.readable || ready.closed {
        Ok(Readiness::Readable)
    } else {
        Ok(Readiness::Interrupted)
    }
}

/// Writes all of `bytes` to the socket `fd`. `MSG_NOSIGNAL` because a C program embedding this
/// library usually keeps SIGPIPE's default action, which would kill it when the broker has gone
/// away.
pub(crate) fn send_all(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe a live slice.
        let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                // SO_SNDTIMEO expired: the broker has stopped reading.
                io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out"));
                }
                _ => return Err(e),
            }
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}
