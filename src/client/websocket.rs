//! MQTT over WebSocket for a client connection (`ws://` and `wss://`; MQTT 5.0 and 3.1.1
//! section 6, RFC 6455). tungstenite does the HTTP upgrade and the framing over an in-memory
//! [`Pipe`]; this module moves the pipe's bytes to and from the connection's transport below,
//! the TCP socket or the TLS session over it (`wss`), keeping the client's threading rules as the
//! TLS session does (see `tls_session`):
//!
//! - **Upgrade**: synchronous, inside connect and reconnect after TCP (and TLS), before CONNECT,
//!   bounded by the connect deadline. The request offers the subprotocol `mqtt`
//!   ([MQTT-6.0.0-3]); a response that does not select it fails the connection
//!   ([MQTT-6.0.0-4]), as does any answer but `101 Switching Protocols`.
//! - **Reading** (one thread at a time, after the socket polled readable): read what the
//!   transport has without blocking (the TLS session may send an alert or a key update meanwhile),
//!   then under the state lock hand it to the pipe and read frames until none is complete,
//!   moving the MQTT bytes of every binary frame into the receive buffer. A packet may
//!   span frames and a frame may hold several packets ([MQTT-6.0.0-2]): the receive buffer
//!   decodes packets from the bytes as they come, frame boundaries play no part. What stays in
//!   tungstenite is only a frame in part, so nothing complete waits unseen when the socket is
//!   polled again. A text frame closes the connection ([MQTT-6.0.0-1]); tungstenite answers
//!   pings with pongs and a close frame with a close frame, sent before the read returns.
//! - **Writing** (any thread, one sender at a time): what one write gets becomes one binary
//!   frame ([MQTT-6.0.0-1]), framed (and masked, RFC 6455 section 5.3) under the state lock and
//!   sent with the lock released, so a reader is never held up by a blocked write. The sending
//!   lock keeps frames whole and in order on the wire.
//!
//! The state lock is never held across a blocking call, nor while the TLS session's locks are
//! taken. Lock order: received, then state; sending, then state.

use std::fmt;
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};
use tungstenite::client::IntoClientRequest;
use tungstenite::error::{ProtocolError, SubProtocolError};
use tungstenite::handshake::HandshakeError;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{WebSocket, WebSocketConfig};
use tungstenite::{Bytes, Message};

use super::error::ClientError;
use super::inbound::Inbound;
use super::tls_session::{NonBlocking, PLAINTEXT_SLACK, READ_BUDGET, TlsSession, read_error};
use super::transport::send_all;
use crate::socket::{poll2, timeout_ms};
use crate::websocket::Pipe;

/// The WebSocket subprotocol of MQTT (MQTT 5.0 and 3.1.1 section 6).
pub(crate) const SUBPROTOCOL: &str = "mqtt";

/// The smallest limit on one received WebSocket message: a frame may carry many packets
/// ([MQTT-6.0.0-2]), so even a client with a small packet size limit takes messages this big.
const MIN_MESSAGE_LIMIT: usize = 16 << 20;

/// A frames buffer larger than this is not kept for reuse.
const KEEP_CAPACITY: usize = 256 * 1024;

/// What every connection of one client uses: the URL to request and the message size limit.
#[derive(Debug, Clone)]
pub(crate) struct WebSocketSetup {
    /// `ws://host[:port]/path` or `wss://...`: tungstenite takes the request's Host header and
    /// path from it.
    uri: String,
    /// The largest WebSocket message (and frame) taken from the server.
    max_message: usize,
}

impl WebSocketSetup {
    /// The setup for requesting `path` (with any query) from `host`:`port`, over TLS when
    /// `secure`; the receive limit follows the client's packet size limit.
    pub(crate) fn new(
        host: &str,
        port: u16,
        secure: bool,
        path: &str,
        max_packet_size: usize,
    ) -> WebSocketSetup {
        let (scheme, default_port) = if secure { ("wss", 443) } else { ("ws", 80) };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let uri = if port == default_port {
            format!("{scheme}://{host}{path}")
        } else {
            format!("{scheme}://{host}:{port}{path}")
        };
        WebSocketSetup {
            uri,
            max_message: max_packet_size.max(MIN_MESSAGE_LIMIT),
        }
    }

    /// The URL requested, for messages.
    pub(crate) fn uri(&self) -> &str {
        &self.uri
    }

    fn config(&self) -> WebSocketConfig {
        let mut config = WebSocketConfig::default();
        // Frames go straight into the pipe; `write_all` takes them out at once.
        config.write_buffer_size = 0;
        // tungstenite reserves the length a frame header announces (the memory is written only
        // as the bytes arrive), so this limit also bounds that reservation.
        config.max_message_size = Some(self.max_message);
        config.max_frame_size = Some(self.max_message);
        config
    }
}

/// A WebSocket failure after the upgrade (a text frame, a frame RFC 6455 does not allow),
/// carried inside the `io::Error` a read returns so the caller can report it as a protocol
/// violation (see [`is_protocol_failure`]).
#[derive(Debug)]
struct WebSocketFailure(String);

impl fmt::Display for WebSocketFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebSocket: {}", self.0)
    }
}

impl std::error::Error for WebSocketFailure {}

fn failure(text: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, WebSocketFailure(text.into()))
}

/// Whether a read failed because the server broke the WebSocket rules (its text says how).
pub(crate) fn is_protocol_failure(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<WebSocketFailure>())
}

/// The WebSocket and whether the server ended it (a close frame).
struct State {
    socket: WebSocket<Pipe>,
    ended: bool,
}

impl State {
    fn pipe(&mut self) -> &mut Pipe {
        self.socket.get_mut()
    }
}

/// One WebSocket over a link's socket, over TLS for `wss`.
pub(crate) struct WebSocketSession {
    tls: Option<Box<TlsSession>>,
    state: Mutex<State>,
    /// Held by the one thread sending frames, so each reaches the socket whole and in the
    /// order it was framed; the buffer holds them on their way.
    sending: Mutex<Vec<u8>>,
    /// The transport's bytes on their way into the pipe, read by the one reading thread
    /// without the state lock.
    received: Mutex<Vec<u8>>,
    /// How far beyond its packet size limit the receive buffer may grow in one read step: the
    /// transport's bytes of the step and a message completed by them.
    slack: usize,
}

impl WebSocketSession {
    /// Runs the upgrade on the freshly connected `stream` (through `tls` for `wss`), before
    /// `deadline`. A refusal (any status but 101, the subprotocol not selected) is
    /// `ClientError::Protocol` naming the URL and what the server answered.
    pub(crate) fn handshake(
        stream: &TcpStream,
        tls: Option<Box<TlsSession>>,
        setup: &WebSocketSetup,
        deadline: Instant,
    ) -> Result<WebSocketSession, ClientError> {
        let uri = setup.uri();
        let failed = |why: String| ClientError::Protocol(format!("WebSocket upgrade {uri}: {why}"));
        let mut request = uri
            .into_client_request()
            .map_err(|e| ClientError::InvalidArgument(format!("{uri}: {e}")))?;
        // [MQTT-6.0.0-3]: the client offers "mqtt".
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        let mut mid = ClientHandshake::start(Pipe::default(), request, Some(setup.config()))
            .map_err(|e| failed(e.to_string()))?;
        let fd = stream.as_raw_fd();
        loop {
            mid = match mid.handshake() {
                // Bytes the server sent right after its response stay in tungstenite; the
                // server sends nothing MQTT before it has CONNECT, so the first read after
                // the next readable poll takes them.
                Ok((socket, _response)) => {
                    return Ok(WebSocketSession {
                        tls,
                        state: Mutex::new(State {
                            socket,
                            ended: false,
                        }),
                        sending: Mutex::new(Vec::new()),
                        received: Mutex::new(Vec::new()),
                        slack: setup.max_message + PLAINTEXT_SLACK,
                    });
                }
                Err(HandshakeError::Interrupted(mid)) => mid,
                Err(HandshakeError::Failure(e)) => return Err(failed(refusal(e))),
            };
            let pipe = mid.get_mut().get_mut();
            if !pipe.outgoing.is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ClientError::Timeout);
                }
                stream
                    .set_write_timeout(Some(left))
                    .map_err(ClientError::Io)?;
                let request = std::mem::take(&mut pipe.outgoing);
                let sent = match &tls {
                    None => send_all(fd, &request),
                    Some(tls) => tls.write_all(fd, &request),
                };
                sent.map_err(|e| match e.kind() {
                    io::ErrorKind::TimedOut => ClientError::Timeout,
                    _ => read_error(e),
                })?;
            }
            // The response; no waker exists yet, so only the deadline ends the wait.
            let ready =
                poll2(fd, false, -1, timeout_ms(Some(deadline))).map_err(ClientError::Io)?;
            if !(ready.readable || ready.closed) {
                if Instant::now() >= deadline {
                    return Err(ClientError::Timeout);
                }
                continue;
            }
            match read_transport(stream, tls.as_deref(), &mut pipe.incoming) {
                Ok(0) => {
                    return Err(failed(
                        "the server closed the connection before answering".into(),
                    ));
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(read_error(e)),
            }
        }
    }

    /// See [`Transport::read_into`](super::transport::Transport::read_into). Reads without
    /// blocking (spurious readiness gives `WouldBlock`) and returns the transport's bytes read.
    /// A close frame from the server ends the stream once the MQTT bytes before it are handed
    /// over; a text frame or a frame RFC 6455 forbids is an error [`is_protocol_failure`]
    /// recognises, after a close frame saying why went out.
    pub(crate) fn read_into(&self, stream: &TcpStream, inbound: &mut Inbound) -> io::Result<usize> {
        if self.state.lock().ended {
            return Ok(0);
        }
        let mut bytes = self.received.lock();
        let received = read_transport(stream, self.tls.as_deref(), &mut bytes)?;
        if received == 0 {
            return Ok(0);
        }
        let mut state = self.state.lock();
        let pipe = state.pipe();
        if pipe.consumed == pipe.incoming.len() {
            // As after every read step: tungstenite took all the pipe held.
            pipe.incoming.clear();
            pipe.consumed = 0;
            std::mem::swap(&mut pipe.incoming, &mut *bytes);
        } else {
            pipe.incoming.extend_from_slice(&bytes);
            bytes.clear();
        }
        drop(bytes);
        let frames = read_frames(&mut state.socket, inbound, self.slack);
        // Pongs, a close frame answering the server's, or ours after a text frame: flushed into
        // the pipe and sent now. When another thread is sending, it sends these too (see
        // `send_locked`).
        let _ = state.socket.flush();
        if !state.pipe().outgoing.is_empty()
            && let Some(out) = self.sending.try_lock()
        {
            state = self.send_locked(out, state, stream.as_raw_fd())?;
        }
        match frames {
            Ok(false) => Ok(received),
            Ok(true) => {
                // The server's close frame: what came before it is in `inbound`; the next
                // read (at once, the socket now polls readable) reports the end.
                state.ended = true;
                let _ = stream.shutdown(Shutdown::Read);
                Ok(received)
            }
            Err(e) => Err(e),
        }
    }

    /// Frames `mqtt` as one binary frame ([MQTT-6.0.0-1]) and sends it with every frame waiting,
    /// blocking (bounded by the socket's write timeout). Nothing is framed for no bytes: only
    /// what waits is sent.
    pub(crate) fn write_all(&self, fd: RawFd, mqtt: &[u8]) -> io::Result<()> {
        let out = self.sending.lock();
        let mut state = self.state.lock();
        if !mqtt.is_empty() {
            let message = Message::Binary(Bytes::copy_from_slice(mqtt));
            state
                .socket
                .send(message)
                .map_err(|e| io::Error::new(io::ErrorKind::NotConnected, e.to_string()))?;
        }
        self.send_locked(out, state, fd).map(drop)
    }

    /// Frames (or TLS records) wait to be sent.
    pub(crate) fn wants_write(&self) -> bool {
        !self.state.lock().socket.get_ref().outgoing.is_empty()
            || self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    /// Before a clean end: a close frame (normal closure, RFC 6455 section 7.4.1), then under
    /// TLS close_notify; best effort.
    pub(crate) fn close(&self, fd: RawFd) {
        let out = self.sending.lock();
        let mut state = self.state.lock();
        let _ = state.socket.close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }));
        drop(self.send_locked(out, state, fd));
        if let Some(tls) = &self.tls {
            tls.close_notify(fd);
        }
    }

    /// With the sending lock (`out`) and the state lock held: sends every frame in the pipe,
    /// giving the state lock up while the transport blocks. The sending lock is released under
    /// the state lock once nothing is left, so a reader that queued frames and found the
    /// sending lock taken (it held the state lock for both) has its frames seen by the final
    /// check here. Returns the state lock.
    fn send_locked<'a>(
        &'a self,
        mut out: MutexGuard<'a, Vec<u8>>,
        mut state: MutexGuard<'a, State>,
        fd: RawFd,
    ) -> io::Result<MutexGuard<'a, State>> {
        loop {
            let pipe = state.pipe();
            if pipe.outgoing.is_empty() {
                drop(out);
                return Ok(state);
            }
            std::mem::swap(&mut *out, &mut pipe.outgoing);
            drop(state);
            let sent = match &self.tls {
                None => send_all(fd, &out),
                Some(tls) => tls.write_all(fd, &out),
            };
            out.clear();
            if out.capacity() > KEEP_CAPACITY {
                *out = Vec::new();
            }
            sent?;
            state = self.state.lock();
        }
    }
}

/// Reads what the transport has, without blocking, into `incoming`: from the socket (at most
/// [`READ_BUDGET`] bytes a step) or through the TLS session (all the plaintext of the records
/// read). Returns the socket bytes read; `Ok(0)` is end of stream, `WouldBlock` nothing yet.
fn read_transport(
    stream: &TcpStream,
    tls: Option<&TlsSession>,
    incoming: &mut Vec<u8>,
) -> io::Result<usize> {
    if let Some(tls) = tls {
        return tls.read_into(stream, incoming);
    }
    let mut socket = NonBlocking(stream.as_raw_fd());
    let mut received = 0;
    while received < READ_BUDGET {
        let len = incoming.len();
        incoming.resize(len + 16 * 1024, 0);
        let read = socket.read(&mut incoming[len..]);
        incoming.truncate(len + read.as_ref().map_or(0, |&n| n));
        match read {
            Ok(0) if received == 0 => return Ok(0),
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && received > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(received)
}

/// Reads every complete frame in the pipe, moving the MQTT bytes of binary frames into
/// `inbound`; true when the server closed the WebSocket (a close frame).
fn read_frames(
    socket: &mut WebSocket<Pipe>,
    inbound: &mut Inbound,
    slack: usize,
) -> io::Result<bool> {
    loop {
        match socket.read() {
            Ok(Message::Binary(data)) => {
                let mut taken = 0;
                while taken < data.len() {
                    taken += inbound.read_with(slack, |buf| {
                        let n = buf.len().min(data.len() - taken);
                        buf[..n].copy_from_slice(&data[taken..taken + n]);
                        Ok(n)
                    })?;
                }
            }
            // Pings are answered by tungstenite (the pong queued, flushed by the caller).
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Ok(Message::Text(_)) => {
                // [MQTT-6.0.0-1]: a data frame that is not binary closes the connection; the
                // close frame tells the server why (1003: a kind of data not accepted).
                let _ = socket.close(Some(CloseFrame {
                    code: CloseCode::Unsupported,
                    reason: "MQTT needs binary frames".into(),
                }));
                return Err(failure(
                    "the server sent a text frame; MQTT travels in binary frames [MQTT-6.0.0-1]",
                ));
            }
            Ok(Message::Close(_))
            | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(true);
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok(false);
            }
            Err(tungstenite::Error::Io(e)) => return Err(e),
            Err(e) => return Err(failure(e.to_string())),
        }
    }
}

/// Why the upgrade failed, for people: the server's HTTP status and text, or what was wrong
/// with its answer.
fn refusal(e: tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let body: String = body.trim().chars().take(200).collect();
            let mut text = format!(
                "refused with HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
            if !body.is_empty() {
                text.push_str(&format!(": {body}"));
            }
            text
        }
        tungstenite::Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol | SubProtocolError::InvalidSubProtocol,
        )) => format!(
            "the server did not select the subprotocol {SUBPROTOCOL:?} it was offered \
             [MQTT-6.0.0-4]"
        ),
        other => other.to_string(),
    }
}
