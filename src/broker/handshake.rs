//! The start of a connection: the CONNECT packet within the connect timeout, the decisions it
//! leads to (CONNACK return code, client identifier, session), and the CONNACK itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::control::ConnectionControl;
use super::io::Io;
use super::options::{AuthRequest, AuthResult};
use super::refusal::refuse;
use super::registry::Attached;
use super::runtime::Runtime;
use super::state::State;
use crate::protocol::{
    Connack, Connect, ConnectReturnCode, DecodeError, Packet, ProtocolLevel, ReasonCode,
};
use crate::waker::Waker;

/// Before CONNECT a connection has no waker (nothing else can reach it yet); it checks this
/// often whether the broker is stopping.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// A CONNECT the broker accepted: the client is attached to its session and CONNACK 0x00 is
/// buffered for sending.
pub(crate) struct Accepted {
    pub connect: Connect,
    /// The waker the connection thread polls (others reach it through the connection control);
    /// `None` when accepted at once by the listener or parking thread, which parks the
    /// connection straight away.
    pub waker: Option<Arc<Waker>>,
    pub client_id: Arc<str>,
    pub attached: Attached,
}

/// Reads the first packet. It must be a CONNECT ([MQTT-3.1.0-1]) and arrive before the connect
/// timeout; otherwise the socket is closed and `None` returned. A CONNECT naming a protocol level
/// other than 3 or 4 is answered with CONNACK 0x01 before closing ([MQTT-3.1.2-2]).
pub(crate) fn read_connect(runtime: &Runtime, mut io: Io) -> Option<(Io, Connect)> {
    let deadline = Instant::now() + runtime.state.options.connect_timeout;
    loop {
        match io.next_packet() {
            Ok(Some(Packet::Connect(connect))) => return Some((io, connect)),
            Ok(Some(_)) => return None,
            Ok(None) => {}
            Err(DecodeError::UnsupportedProtocolLevel(_)) => {
                refuse(runtime, io, ConnectReturnCode::UnacceptableProtocolVersion);
                return None;
            }
            Err(_) => return None,
        }
        loop {
            if Instant::now() >= deadline {
                return None;
            }
            let wake_at = deadline.min(Instant::now() + STOP_CHECK);
            let ready = io.wait(None, Some(wake_at)).ok()?;
            if runtime.is_stopping() {
                return None;
            }
            if ready.readable || ready.closed {
                match io.fill() {
                    Ok(0) => return None,
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return None,
                }
            }
        }
    }
}

/// Decides on a CONNECT. On acceptance the connection is attached to its session and CONNACK
/// 0x00 buffered; on refusal the refusing CONNACK is sent, the socket closed ([MQTT-3.2.2-5]) and
/// `None` returned.
pub(crate) fn accept(
    runtime: &Runtime,
    mut io: Io,
    connect: Connect,
    peer: SocketAddr,
    control: &Arc<ConnectionControl>,
) -> Option<(Io, Accepted)> {
    if connect.protocol.is_v5() {
        // The codec reads MQTT 5.0; until the broker serves it, a 5.0 client gets the 3.1.1
        // answer for a level it does not support ([MQTT-3.1.2-2]).
        refuse(runtime, io, ConnectReturnCode::UnacceptableProtocolVersion);
        return None;
    }
    io.set_protocol(connect.protocol);
    let client_id: Arc<str> = if connect.client_id.is_empty() {
        if !connect.clean_session {
            // [MQTT-3.1.3-8]: an empty identifier needs clean session 1.
            refuse(runtime, io, ConnectReturnCode::IdentifierRejected);
            return None;
        }
        // [MQTT-3.1.3-6]: the server assigns a unique identifier.
        Arc::from(generated_client_id())
    } else {
        Arc::from(connect.client_id.as_str())
    };

    let state = &runtime.state;
    if let Some(authenticate) = &state.options.authenticator {
        let request = AuthRequest {
            client_id: &client_id,
            username: connect.username.as_deref(),
            password: connect.password.as_deref(),
            peer,
        };
        let code = match authenticate(&request) {
            AuthResult::Accept => None,
            AuthResult::BadCredentials => Some(ConnectReturnCode::BadUsernameOrPassword),
            AuthResult::NotAuthorized => Some(ConnectReturnCode::NotAuthorized),
        };
        if let Some(code) = code {
            refuse(runtime, io, code);
            return None;
        }
    }

    // Installed before the session can hand the control to anyone: from here on deliveries and
    // takeovers must be able to wake the thread. Without a descriptor left for it the client is
    // told the server is unavailable.
    let Ok(waker) = Waker::new().map(Arc::new) else {
        refuse(runtime, io, ConnectReturnCode::ServerUnavailable);
        return None;
    };
    control.attach_thread(&waker, false);
    let attached = state.attach(&client_id, connect.clean_session, control);
    connack(&mut io, &connect, &attached);
    Some((
        io,
        Accepted {
            connect,
            waker: Some(waker),
            client_id,
            attached,
        },
    ))
}

/// [MQTT-3.2.0-1]: CONNACK is the first packet the server sends.
fn connack(io: &mut Io, connect: &Connect, attached: &Attached) {
    // MQTT 3.1 has no session-present flag: its CONNACK's first byte is reserved, 0.
    let session_present = attached.session_present && connect.protocol == ProtocolLevel::V311;
    Packet::Connack(Connack::new(session_present, ReasonCode::SUCCESS))
        .encode(&mut io.output)
        .expect("CONNACK always encodes");
}

/// Accepts a CONNECT without waiting for anything, for the listener thread: only when there is
/// no authenticator to call and the client id names no existing session (nothing to resume or
/// take over). Anything else is given back, to be decided by [`accept`] on a connection thread.
pub(crate) fn accept_at_once(
    state: &State,
    mut io: Io,
    connect: Connect,
    control: &Arc<ConnectionControl>,
) -> Result<(Io, Accepted), Box<(Io, Connect)>> {
    if state.options.authenticator.is_some()
        || connect.protocol.is_v5()
        || (connect.client_id.is_empty() && !connect.clean_session)
    {
        return Err(Box::new((io, connect)));
    }
    io.set_protocol(connect.protocol);
    let client_id: Arc<str> = if connect.client_id.is_empty() {
        Arc::from(generated_client_id())
    } else {
        Arc::from(connect.client_id.as_str())
    };
    let Some(attached) = state.attach_if_vacant(&client_id, connect.clean_session, control) else {
        return Err(Box::new((io, connect)));
    };
    connack(&mut io, &connect, &attached);
    Ok((
        io,
        Accepted {
            connect,
            waker: None,
            client_id,
            attached,
        },
    ))
}

/// A client identifier no client is likely to have chosen: a per-process start stamp plus a
/// counter.
fn generated_client_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static STAMP: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let stamp = *STAMP.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 40
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("auto-{stamp:016x}-{n}")
}
