//! MQTT over WebSocket (MQTT 5.0 section 6, RFC 6455) for one connection: tungstenite does the
//! HTTP upgrade and the framing over in-memory buffers ([`Pipe`]), so the connection keeps its
//! non-blocking socket, its parking and its TLS layer. Bytes from the transport go in with
//! [`WebSocketLayer::receive`], which yields the MQTT bytes of binary frames (MQTT packets may
//! span frames and a frame may hold several, [MQTT-6.0.0-2], [MQTT-6.0.0-3]); MQTT bytes go out
//! as one binary frame per [`WebSocketLayer::send`] ([MQTT-6.0.0-1]).

use std::io;
use std::sync::Arc;

use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response};
use tungstenite::handshake::{HandshakeError, MidHandshake, server::ServerHandshake};
use tungstenite::http::{HeaderValue, StatusCode};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::websocket::Pipe;

/// The subprotocols a client may ask for: `mqtt` (MQTT 5.0 and 3.1.1, section 6) and
/// `mqttv3.1`, which MQTT 3.1 clients (and older libraries) send.
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// What a WebSocket listener accepts besides the upgrade itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketOptions {
    /// The request path served (default `/mqtt`); other paths get HTTP 404. Empty serves every
    /// path, as mosquitto's websockets listeners do.
    pub path: String,
    /// Origins allowed to connect (the browser's `Origin` header, e.g. `https://example.com`);
    /// empty allows any. A request from another origin gets HTTP 403.
    pub allowed_origins: Vec<String>,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            path: "/mqtt".to_owned(),
            allowed_origins: Vec::new(),
        }
    }
}

/// Checks the upgrade request: path, subprotocol, origin.
pub(crate) struct Checks(Arc<WebSocketOptions>);

fn refuse(status: StatusCode, why: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(format!("{why}\n")));
    *response.status_mut() = status;
    response
}

impl Callback for Checks {
    fn on_request(
        self,
        request: &Request,
        mut response: Response,
    ) -> Result<Response, ErrorResponse> {
        let options = &self.0;
        if !options.path.is_empty() && request.uri().path() != options.path {
            return Err(refuse(StatusCode::NOT_FOUND, "no MQTT endpoint here"));
        }
        if !options.allowed_origins.is_empty() {
            let origin = request
                .headers()
                .get("Origin")
                .and_then(|o| o.to_str().ok());
            if !origin.is_some_and(|o| options.allowed_origins.iter().any(|a| a == o)) {
                return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed"));
            }
        }
        // MQTT 5.0 section 6: the client includes "mqtt" in its list of subprotocols and the
        // server answers with it ([MQTT-6.0.0-3], [MQTT-6.0.0-4]).
        let offered = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .find(|p| SUBPROTOCOLS.contains(p));
        let Some(chosen) = offered else {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "the WebSocket subprotocol must be mqtt",
            ));
        };
        response.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(chosen)
                .map_err(|_| refuse(StatusCode::BAD_REQUEST, "bad subprotocol"))?,
        );
        Ok(response)
    }
}

/// The HTTP response that refuses an upgrade: the checks' status and text, or 400.
fn http_error(error: &tungstenite::Error) -> Vec<u8> {
    let (status, body) = match error {
        tungstenite::Error::Http(response) => (
            response.status(),
            response.body().clone().unwrap_or_default(),
        ),
        other => (StatusCode::BAD_REQUEST, format!("{other}\n").into_bytes()),
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

enum State {
    Handshaking(MidHandshake<ServerHandshake<Pipe, Checks>>),
    Open(WebSocket<Pipe>),
    /// The handshake failed or the peer closed: only `outgoing` may still hold bytes.
    Done(Pipe),
}

/// One connection's WebSocket state, from the upgrade request on.
pub(crate) struct WebSocketLayer {
    state: Option<State>,
}

impl WebSocketLayer {
    /// A layer waiting for the upgrade request; frames above `max_message` bytes (the broker's
    /// packet limit) are refused before they are buffered.
    pub fn new(options: Arc<WebSocketOptions>, max_message: usize) -> WebSocketLayer {
        // Small buffers: an idle connection keeps this state while it sleeps in the parking lot.
        let mut config = WebSocketConfig::default();
        config.read_buffer_size = 4 * 1024;
        config.write_buffer_size = 0;
        config.max_message_size = Some(max_message);
        config.max_frame_size = Some(max_message);
        let handshake = ServerHandshake::start(Pipe::default(), Checks(options), Some(config));
        WebSocketLayer {
            state: Some(State::Handshaking(handshake)),
        }
    }

    /// The pipe, in every state (`receive` puts the state back before it returns).
    fn pipe(&mut self) -> &mut Pipe {
        match self
            .state
            .as_mut()
            .expect("the state is only taken inside `receive`")
        {
            State::Handshaking(mid) => mid.get_mut().get_mut(),
            State::Open(ws) => ws.get_mut(),
            State::Done(pipe) => pipe,
        }
    }

    /// The buffer the transport's bytes go into, for [`WebSocketLayer::receive`] to read.
    pub fn incoming(&mut self) -> &mut Vec<u8> {
        &mut self.pipe().incoming
    }

    /// Gives back the memory of empty buffers, for a connection about to idle.
    pub fn release_buffers(&mut self) {
        let pipe = self.pipe();
        if pipe.consumed == pipe.incoming.len() {
            pipe.incoming = Vec::new();
            pipe.consumed = 0;
        }
        if pipe.outgoing.is_empty() {
            pipe.outgoing = Vec::new();
        }
    }

    /// Reads what [`WebSocketLayer::incoming`] received and appends the MQTT bytes it completes
    /// to `input`; returns how many, or `Ok(None)` once the peer closed (a close frame) or the
    /// upgrade was refused. A text frame, a malformed frame or an oversized one is
    /// `InvalidData` (the connection is closed, MQTT 5.0 section 6).
    pub fn receive(&mut self, input: &mut Vec<u8>) -> io::Result<Option<usize>> {
        let mut added = 0;
        loop {
            match self.state.take() {
                None => return Ok(None),
                Some(State::Done(pipe)) => {
                    self.state = Some(State::Done(pipe));
                    return Ok(None);
                }
                Some(State::Handshaking(mid)) => match mid.handshake() {
                    Ok(ws) => self.state = Some(State::Open(ws)),
                    Err(HandshakeError::Interrupted(mid)) => {
                        self.state = Some(State::Handshaking(mid));
                        return Ok(Some(0));
                    }
                    Err(HandshakeError::Failure(e)) => {
                        // The refusal the checks chose (the pipe that held tungstenite's copy
                        // went with the handshake), or a plain 400 for a request that is no
                        // upgrade at all.
                        let pipe = Pipe {
                            outgoing: http_error(&e),
                            ..Pipe::default()
                        };
                        self.state = Some(State::Done(pipe));
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                    }
                },
                Some(State::Open(mut ws)) => {
                    let result = ws.read();
                    self.state = Some(State::Open(ws));
                    match result {
                        Ok(Message::Binary(data)) => {
                            input.extend_from_slice(&data);
                            added += data.len();
                        }
                        // Answered by tungstenite (queued in the pipe).
                        Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                        Ok(Message::Text(_)) => {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "a text frame: MQTT travels in binary frames [MQTT-6.0.0-1]",
                            ));
                        }
                        Ok(Message::Close(_)) => {
                            return Ok(if added > 0 { Some(added) } else { None });
                        }
                        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                            return Ok(Some(added));
                        }
                        Err(
                            tungstenite::Error::ConnectionClosed
                            | tungstenite::Error::AlreadyClosed,
                        ) => {
                            return Ok(if added > 0 { Some(added) } else { None });
                        }
                        Err(e) => {
                            return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                        }
                    }
                }
            }
        }
    }

    /// Frames `mqtt` as one binary message into the outgoing bytes. Before the upgrade has
    /// completed nothing MQTT can be sent (a client sends CONNECT only after it).
    pub fn send(&mut self, mqtt: &[u8]) -> io::Result<()> {
        match self.state.as_mut() {
            Some(State::Open(ws)) => ws
                .write(Message::Binary(mqtt.to_vec().into()))
                .and_then(|()| ws.flush())
                .or_else(|e| match e {
                    tungstenite::Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                    e => Err(io::Error::other(e.to_string())),
                }),
            _ => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the WebSocket upgrade has not completed",
            )),
        }
    }

    /// Starts the closing handshake (a close frame), if the connection is open.
    pub fn close(&mut self) {
        if let Some(State::Open(ws)) = self.state.as_mut() {
            let _ = ws.close(None);
            let _ = ws.flush();
        }
    }

    /// Whether the upgrade request has not been answered yet.
    pub fn is_upgrading(&self) -> bool {
        matches!(self.state, Some(State::Handshaking(_)))
    }

    /// The bytes waiting to be written to the transport.
    pub fn outgoing(&mut self) -> &mut Vec<u8> {
        &mut self.pipe().outgoing
    }

    /// Whether bytes wait to be written to the transport.
    pub fn has_outgoing(&self) -> bool {
        match &self.state {
            Some(State::Handshaking(mid)) => !mid.get_ref().get_ref().outgoing.is_empty(),
            Some(State::Open(ws)) => !ws.get_ref().outgoing.is_empty(),
            Some(State::Done(pipe)) => !pipe.outgoing.is_empty(),
            None => false,
        }
    }
}
