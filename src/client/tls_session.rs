//! TLS over a client's TCP connection. rustls does all of TLS (handshake, certificate and name
//! checks, records, alerts); this module only moves its bytes between the socket and the
//! client's buffers, keeping the client's threading rules:
//!
//! - **Handshake**: synchronous, inside connect and reconnect, before CONNECT goes out, and
//!   bounded by the connect deadline.
//! - **Reading** (one thread at a time, after the socket polled readable): under the session
//!   lock, read what the socket has without blocking, decrypt it and move *all* the plaintext
//!   into the receive buffer, so nothing waits inside rustls when the socket is polled again;
//!   then send any record reading produced (an alert, a key update).
//! - **Writing** (any thread, one flusher at a time): seal the plaintext under the session lock,
//!   then send the records with the lock released, so a reader is never held up by a blocked
//!   write. The sending lock keeps records on the wire in the order they were sealed.
//!
//! The session lock is never held across a blocking call.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use super::error::ClientError;
use super::inbound::Inbound;
use super::transport::{send_all, unbracket};
use crate::socket::{poll2, timeout_ms};
use crate::tls::ClientTls;

/// Socket bytes one read step takes at most before it lets the packets be handled.
pub(crate) const READ_BUDGET: usize = 64 * 1024;

/// How far beyond its packet size limit the receive buffer may grow to take the plaintext of one
/// read step: [`READ_BUDGET`] plus one read's worth and a record in part (16 KiB) decrypted.
pub(crate) const PLAINTEXT_SLACK: usize = READ_BUDGET + 64 * 1024;

/// A sealed-records buffer larger than this is not kept for reuse.
const KEEP_CAPACITY: usize = 256 * 1024;

/// What every connection of one client uses: the rustls configuration, built once (so
/// reconnects can resume the TLS session), and the name the server's certificate must carry.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl TlsSetup {
    /// The setup for connecting to `host` with `tls`: the server name to send (SNI) and verify
    /// is `tls.server_name` or else `host`; an IP address is verified as an IP address SAN.
    pub(crate) fn new(tls: &ClientTls, host: &str) -> Result<TlsSetup, ClientError> {
        let text = tls
            .server_name
            .as_deref()
            .unwrap_or_else(|| unbracket(host));
        let name = ServerName::try_from(text.to_owned()).map_err(|_| {
            ClientError::InvalidArgument(format!("{text:?} is not a valid TLS server name"))
        })?;
        let config = tls.config().map_err(|e| ClientError::Tls(e.to_string()))?;
        Ok(TlsSetup { config, name })
    }
}

/// A TLS failure after the handshake, carried inside the `io::Error` a read returns so the
/// caller can report it as TLS (see [`read_error`]).
#[derive(Debug)]
struct TlsFailure(rustls::Error);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS: {}", self.0)
    }
}

impl std::error::Error for TlsFailure {}

/// The error for a read that failed while connecting: `ClientError::Tls` when TLS failed (an
/// alert from the server refusing the client's certificate, say), `ClientError::Protocol` when
/// the server broke the WebSocket rules (a text frame), else `ClientError::Io`.
pub(crate) fn read_error(e: io::Error) -> ClientError {
    if let Some(TlsFailure(tls)) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsFailure>())
    {
        return ClientError::Tls(tls.to_string());
    }
    if super::websocket::is_protocol_failure(&e) {
        return ClientError::Protocol(e.to_string());
    }
    ClientError::Io(e)
}

/// The socket as rustls's reader (and the WebSocket layer's, over plain TCP): `recv` with
/// `MSG_DONTWAIT`, so a read under a session lock never blocks.
pub(crate) struct NonBlocking(pub(crate) RawFd);

impl Read for NonBlocking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: receives at most buf.len() bytes into a live, writable slice.
        let n = unsafe {
            libc::recv(
                self.0,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// Where a read step puts the plaintext it decrypted: the receive buffer, or under a WebSocket
/// (`wss`) the bytes the WebSocket layer reads its frames from.
pub(crate) trait Plaintext {
    /// Reads once with `read` into free room and keeps what it wrote; returns the byte count
    /// (`Ok(0)` is end of stream).
    fn fill(&mut self, read: impl FnOnce(&mut [u8]) -> io::Result<usize>) -> io::Result<usize>;
}

impl Plaintext for Inbound {
    fn fill(&mut self, read: impl FnOnce(&mut [u8]) -> io::Result<usize>) -> io::Result<usize> {
        self.read_with(PLAINTEXT_SLACK, read)
    }
}

impl Plaintext for Vec<u8> {
    fn fill(&mut self, read: impl FnOnce(&mut [u8]) -> io::Result<usize>) -> io::Result<usize> {
        const CHUNK: usize = 16 * 1024;
        let len = self.len();
        self.resize(len + CHUNK, 0);
        let result = read(&mut self[len..]);
        self.truncate(len + result.as_ref().map_or(0, |&n| n));
        result
    }
}

/// Moves every sealed record out of `conn` into `out`.
fn take_records(conn: &mut ClientConnection, out: &mut Vec<u8>) {
    while conn.wants_write() {
        // Writing into a vector cannot fail.
        if conn.write_tls(out).is_err() {
            break;
        }
    }
}

/// One TLS session over a link's socket.
pub(crate) struct TlsSession {
    conn: Mutex<ClientConnection>,
    /// Held by the one thread sending records, so they reach the socket in the order rustls
    /// sealed them (each carries a sequence number); the buffer holds them on their way.
    sending: Mutex<Vec<u8>>,
}

impl TlsSession {
    /// Runs the handshake on the freshly connected `stream`, before `deadline`. A certificate
    /// the settings do not accept, or an alert from the server, is `ClientError::Tls`; the alert
    /// rustls has for the server goes out first.
    pub(crate) fn handshake(
        stream: &TcpStream,
        setup: &TlsSetup,
        deadline: Instant,
    ) -> Result<TlsSession, ClientError> {
        let server = setup.name.to_str();
        let failed = |e: rustls::Error| ClientError::Tls(format!("handshake with {server}: {e}"));
        let mut conn =
            ClientConnection::new(Arc::clone(&setup.config), setup.name.clone()).map_err(failed)?;
        let fd = stream.as_raw_fd();
        let mut out = Vec::new();
        loop {
            if conn.wants_write() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ClientError::Timeout);
                }
                stream
                    .set_write_timeout(Some(left))
                    .map_err(ClientError::Io)?;
                take_records(&mut conn, &mut out);
                send_all(fd, &out).map_err(|e| match e.kind() {
                    io::ErrorKind::TimedOut => ClientError::Timeout,
                    _ => ClientError::Io(e),
                })?;
                out.clear();
            }
            if !conn.is_handshaking() {
                break;
            }
            // The server's next flight; no waker exists yet, so only the deadline ends the wait.
            let ready =
                poll2(fd, false, -1, timeout_ms(Some(deadline))).map_err(ClientError::Io)?;
            if !(ready.readable || ready.closed) {
                if Instant::now() >= deadline {
                    return Err(ClientError::Timeout);
                }
                continue;
            }
            match conn.read_tls(&mut NonBlocking(fd)) {
                Ok(0) => {
                    return Err(ClientError::Tls(format!(
                        "handshake with {server}: the server closed the connection"
                    )));
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                // A server that is no TLS server, or one that refused this client, often
                // resets the connection.
                Err(e) => return Err(ClientError::Tls(format!("handshake with {server}: {e}"))),
            }
            if let Err(e) = conn.process_new_packets() {
                take_records(&mut conn, &mut out);
                let _ = send_all(fd, &out);
                return Err(failed(e));
            }
        }
        Ok(TlsSession {
            conn: Mutex::new(conn),
            sending: Mutex::new(Vec::new()),
        })
    }

    /// See [`Transport::read_into`](super::transport::Transport::read_into); the plaintext goes
    /// into `inbound` (the receive buffer, or the WebSocket layer's input). Reads without
    /// blocking: spurious readiness gives `WouldBlock`. A TLS failure sends rustls's alert and
    /// returns an error [`read_error`] recognises; the server's close_notify ends the stream
    /// once the plaintext before it is handed over. Returns the socket bytes read.
    pub(crate) fn read_into(
        &self,
        stream: &TcpStream,
        inbound: &mut impl Plaintext,
    ) -> io::Result<usize> {
        let fd = stream.as_raw_fd();
        let mut conn = self.conn.lock();
        let mut received = 0;
        while received < READ_BUDGET {
            match conn.read_tls(&mut NonBlocking(fd)) {
                Ok(0) if received == 0 => return Ok(0),
                Ok(0) => break,
                Ok(n) => received += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && received > 0 => break,
                Err(e) => return Err(e),
            }
            if let Err(e) = conn.process_new_packets() {
                // rustls queued an alert saying why: the server hears it before the end.
                if let Some(out) = self.sending.try_lock() {
                    let _ = self.send_locked(out, conn, fd, &[]);
                }
                return Err(io::Error::new(io::ErrorKind::InvalidData, TlsFailure(e)));
            }
            if drain_plaintext(&mut conn, inbound)? {
                // close_notify: what came before it is in `inbound`; the next read (at once,
                // the socket now polls readable) reports the end.
                let _ = stream.shutdown(std::net::Shutdown::Read);
                break;
            }
        }
        if conn.wants_write() {
            // Records reading produced. When another thread is sending, it sends these too
            // (see `send_locked`).
            if let Some(out) = self.sending.try_lock() {
                self.send_locked(out, conn, fd, &[])?;
            }
        }
        Ok(received)
    }

    /// Seals `plaintext` and sends it with every record waiting, blocking (bounded by the
    /// socket's write timeout).
    pub(crate) fn write_all(&self, fd: RawFd, plaintext: &[u8]) -> io::Result<()> {
        let out = self.sending.lock();
        let conn = self.conn.lock();
        self.send_locked(out, conn, fd, plaintext)
    }

    /// Records wait to be sent.
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.lock().wants_write()
    }

    /// Sends close_notify, best effort.
    pub(crate) fn close_notify(&self, fd: RawFd) {
        let out = self.sending.lock();
        let mut conn = self.conn.lock();
        conn.send_close_notify();
        let _ = self.send_locked(out, conn, fd, &[]);
    }

    /// With the sending lock (`out`) and the session lock (`conn`) held: seals `plaintext` and
    /// sends it and every record waiting, giving the session lock up while the socket blocks.
    /// The sending lock is released under the session lock once nothing is left, so a reader
    /// that queued records and found the sending lock taken (it held the session lock for
    /// both) has its records seen by the final check here.
    fn send_locked<'a>(
        &'a self,
        mut out: MutexGuard<'a, Vec<u8>>,
        mut conn: MutexGuard<'a, ClientConnection>,
        fd: RawFd,
        mut plaintext: &[u8],
    ) -> io::Result<()> {
        loop {
            if !plaintext.is_empty() {
                // Takes what fits under rustls's buffer limit; the rest after these records.
                let n = conn.writer().write(plaintext)?;
                plaintext = &plaintext[n..];
            }
            if !conn.wants_write() {
                if plaintext.is_empty() {
                    drop(out);
                    return Ok(());
                }
                continue;
            }
            take_records(&mut conn, &mut out);
            drop(conn);
            let sent = send_all(fd, &out);
            out.clear();
            if out.capacity() > KEEP_CAPACITY {
                *out = Vec::new();
            }
            sent?;
            conn = self.conn.lock();
        }
    }
}

/// Moves all the plaintext `conn` holds into `inbound`; true when the server's close_notify
/// ended the stream.
fn drain_plaintext(conn: &mut ClientConnection, inbound: &mut impl Plaintext) -> io::Result<bool> {
    loop {
        match inbound.fill(|buf| conn.reader().read(buf)) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}
