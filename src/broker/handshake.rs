//! The start of a connection: the CONNECT packet within the connect timeout, the decisions it
//! leads to (CONNACK return code, client identifier, session), and the CONNACK itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::auth;
use super::control::ConnectionControl;
use super::handlers::has_control_characters;
use super::io::Io;
use super::log::broker_log;
use super::options::{AuthRequest, AuthResult, BrokerOptions};
use super::refusal::{refuse, refuse_with};
use super::registry::Attached;
use super::runtime::Runtime;
use super::session::NEVER_EXPIRES;
use super::state::State;
use crate::protocol::{
    Connack, Connect, DecodeError, MAX_REMAINING_LENGTH, Packet, Property, PropertyId,
    ProtocolLevel, QoS, ReasonCode,
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
    pub terms: Terms,
    pub attached: Attached,
}

/// Reads the first packet. It must be a CONNECT ([MQTT-3.1.0-1]) and arrive before the connect
/// timeout; otherwise the socket is closed and `None` returned. A CONNECT naming a protocol level
/// other than 3, 4 or 5 is answered with CONNACK 0x01 before closing ([MQTT-3.1.2-2]).
pub(crate) fn read_connect(runtime: &Runtime, mut io: Io) -> Option<(Io, Connect)> {
    let deadline = Instant::now() + runtime.state.options.connect_timeout;
    match read_packet(runtime, &mut io, deadline) {
        Ok(Packet::Connect(connect)) => Some((io, *connect)),
        Err(Some(DecodeError::UnsupportedProtocolLevel(_))) => {
            refuse(runtime, io, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
            None
        }
        _ => None,
    }
}

/// The next packet from a connection that has no thread waker yet, read before `deadline`:
/// `Err(Some(error))` for a malformed one, `Err(None)` when the connection closed, the deadline
/// passed or the broker is stopping.
/// A TLS handshake or WebSocket upgrade the deadline cut short is counted in the broker's stats.
pub(crate) fn read_packet(
    runtime: &Runtime,
    io: &mut Io,
    deadline: Instant,
) -> Result<Packet, Option<DecodeError>> {
    loop {
        if let Some(packet) = io.next_packet().map_err(Some)? {
            return Ok(packet);
        }
        loop {
            if Instant::now() >= deadline {
                io.count_unfinished_handshake();
                return Err(None);
            }
            let wake_at = deadline.min(Instant::now() + STOP_CHECK);
            let ready = io.wait(None, Some(wake_at)).map_err(|_| None)?;
            if runtime.is_stopping() {
                return Err(None);
            }
            if ready.readable || ready.closed {
                match io.fill() {
                    Ok(0) => return Err(None),
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return Err(None),
                }
            }
        }
    }
}

/// What the broker granted a connection beyond the CONNECT itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Terms {
    /// Seconds the session outlives the connection (0: it ends with it).
    pub expiry_interval: u32,
    /// The keep-alive in force: the client's, or the broker's Server Keep Alive.
    pub keep_alive: u16,
    /// The client sent an empty identifier and was given one.
    pub assigned_id: bool,
}

/// The identifier a client is known by, the session expiry and the keep-alive it gets; `Err`
/// with the CONNACK code when the CONNECT must be refused.
fn terms(state: &State, connect: &Connect) -> Result<(Arc<str>, Terms), ReasonCode> {
    let v5 = connect.protocol.is_v5();
    let assigned_id = connect.client_id.is_empty();
    // [MQTT-3.1.3-8]: in MQTT 3.1.1 an empty identifier needs clean session 1; MQTT 5.0
    // assigns one whatever Clean Start says and returns it (section 3.1.3.1).
    if assigned_id && !connect.clean_session && !v5 {
        return Err(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
    }
    // The broker's own bridge sessions cannot be taken over by a client ([MQTT-3.1.3-5] lets
    // a server refuse identifiers; CONNACK 0x02, 0x85 in MQTT 5.0). Control characters are
    // refused the same way, as mosquitto does.
    if connect.client_id.starts_with(super::bridge::SESSION_PREFIX)
        || has_control_characters(&connect.client_id)
    {
        return Err(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
    }
    // A user name or will topic with control characters reads as a malformed CONNECT (see
    // `has_control_characters`), closed without CONNACK like any other.
    let will_topic = connect.will.as_ref().map(|w| w.topic.as_str());
    if connect
        .username
        .iter()
        .map(String::as_str)
        .chain(will_topic)
        .any(has_control_characters)
    {
        return Err(ReasonCode::MALFORMED_PACKET);
    }
    // Enhanced authentication needs a host that offers it (MQTT 5.0 section 4.12).
    if connect
        .properties
        .get(PropertyId::AuthenticationMethod)
        .is_some()
        && state.options.enhanced_authenticator.is_none()
    {
        return Err(ReasonCode::BAD_AUTHENTICATION_METHOD);
    }
    // MQTT 5.0 [MQTT-3.2.2-12], [MQTT-3.2.2-13]: a will the broker could not publish as asked
    // is refused.
    if v5 && let Some(will) = &connect.will {
        if will.qos > state.options.maximum_qos {
            return Err(ReasonCode::QOS_NOT_SUPPORTED);
        }
        if will.retain && !state.options.retain_available {
            return Err(ReasonCode::RETAIN_NOT_SUPPORTED);
        }
    }
    let client_id: Arc<str> = if assigned_id {
        // [MQTT-3.1.3-6]: the server assigns a unique identifier.
        Arc::from(generated_client_id())
    } else {
        Arc::from(connect.client_id.as_str())
    };
    let requested = if v5 {
        // MQTT 5.0 section 3.1.2.11.2: absent means 0, the session ends with the connection.
        connect
            .properties
            .integer(PropertyId::SessionExpiryInterval)
            .unwrap_or(0)
    } else if connect.clean_session {
        0
    } else {
        NEVER_EXPIRES
    };
    let cap = state.options.session_expiry.map_or(NEVER_EXPIRES, |d| {
        d.as_secs().min(u64::from(NEVER_EXPIRES - 1)) as u32
    });
    let terms = Terms {
        expiry_interval: requested.min(cap),
        keep_alive: granted_keep_alive(&state.options, v5, connect.keep_alive),
        assigned_id,
    };
    Ok((client_id, terms))
}

/// The keep-alive the broker holds a client to. MQTT 5.0 [MQTT-3.2.2-21]: when the broker sends
/// a Server Keep Alive the client must use it, so a 5.0 client gets the imposed value or, past
/// `max_keep_alive` (0 meaning "never" counts as past it), the maximum; a 3.1.1 client cannot be
/// told and keeps its own.
fn granted_keep_alive(options: &BrokerOptions, v5: bool, asked: u16) -> u16 {
    if !v5 {
        return asked;
    }
    match (options.server_keep_alive, options.max_keep_alive) {
        (Some(imposed), _) => imposed,
        (None, Some(max)) if asked == 0 || asked > max => max,
        _ => asked,
    }
}

/// Decides who may connect without enhanced authentication: files first, then the callback, as
/// mosquitto's password file comes before its plugins. A client without a user name needs
/// `allow_anonymous` (else 0x05, not authorized). A user the password file lists must give its
/// password (else 0x04, bad user name or password); one it does not list is left to the
/// authenticator callback, and refused with 0x04 when there is none. Without a password file the
/// callback decides alone, and without either everyone allowed so far is accepted.
///
/// On a listener with `use_identity_as_username` the user name is the client certificate's
/// identity, which the TLS handshake already verified: the password file is not consulted (as
/// in mosquitto), only the callback, if any, which is told the identity.
fn authenticate(
    state: &State,
    connect: &Connect,
    client_id: &str,
    peer: SocketAddr,
    certificate: &Certificate,
) -> Result<(), ReasonCode> {
    let options = &state.options;
    let username = connect.username.as_deref();
    if username.is_none() && !options.allow_anonymous {
        return Err(ReasonCode::NOT_AUTHORIZED);
    }
    let passwords = if certificate.as_username {
        None
    } else {
        state.service_files.passwords()
    };
    if let (Some(file), Some(user)) = (&passwords, username)
        && file.contains(user)
    {
        return if file.check_connect(user, connect.password.as_deref()) {
            Ok(())
        } else {
            Err(ReasonCode::BAD_USER_NAME_OR_PASSWORD)
        };
    }
    match &options.authenticator {
        Some(authenticate) => {
            let request = AuthRequest {
                client_id,
                username,
                password: connect.password.as_deref(),
                peer,
                certificate_identity: certificate.identity.as_deref(),
                protocol_level: connect.protocol.level(),
            };
            match authenticate(&request) {
                AuthResult::Accept => Ok(()),
                AuthResult::BadCredentials => Err(ReasonCode::BAD_USER_NAME_OR_PASSWORD),
                AuthResult::NotAuthorized => Err(ReasonCode::NOT_AUTHORIZED),
            }
        }
        None if passwords.is_some() && username.is_some() => {
            Err(ReasonCode::BAD_USER_NAME_OR_PASSWORD)
        }
        None => Ok(()),
    }
}

/// Decides on a CONNECT. On acceptance the connection is attached to its session and CONNACK
/// 0x00 buffered; on refusal the refusing CONNACK is sent, the socket closed ([MQTT-3.2.2-5]) and
/// `None` returned.
pub(crate) fn accept(
    runtime: &Runtime,
    mut io: Io,
    mut connect: Connect,
    peer: SocketAddr,
    control: &Arc<ConnectionControl>,
) -> Option<(Io, Accepted)> {
    io.set_protocol(connect.protocol);
    let state = &runtime.state;
    let certificate = Certificate {
        identity: io.certificate_identity(),
        as_username: io.identity_as_username(),
    };
    if certificate.as_username {
        // mosquitto's use_identity_as_username: the certificate names the user.
        let Some(identity) = &certificate.identity else {
            refuse(runtime, io, ReasonCode::NOT_AUTHORIZED);
            return None;
        };
        connect.username = Some(identity.clone());
        connect.password = None;
    }
    let (client_id, terms) = match terms(state, &connect) {
        Ok(granted) => granted,
        Err(ReasonCode::MALFORMED_PACKET) => return None,
        Err(code) => {
            broker_log!(
                state.options.log,
                Notice,
                "Client {} from {peer} refused: {}.",
                connect.client_id,
                code.description()
            );
            refuse(runtime, io, code);
            return None;
        }
    };
    let method = connect.properties.string(PropertyId::AuthenticationMethod);
    let mut auth_data = None;
    if let Some(method) = method {
        match auth::exchange_at_connect(runtime, &mut io, &connect, method, &client_id, peer) {
            Ok(data) => auth_data = data,
            Err(Some(connack)) => {
                refuse_with(runtime, io, connack);
                return None;
            }
            Err(None) => return None,
        }
    } else if let Err(code) = authenticate(state, &connect, &client_id, peer, &certificate) {
        broker_log!(
            state.options.log,
            Notice,
            "Client {client_id} from {peer} refused: {}.",
            code.description()
        );
        refuse(runtime, io, code);
        return None;
    }

    // Installed before the session can hand the control to anyone: from here on deliveries and
    // takeovers must be able to wake the thread. Without a descriptor left for it the client is
    // told the server is unavailable.
    let Ok(waker) = Waker::new().map(Arc::new) else {
        refuse(runtime, io, ReasonCode::SERVER_UNAVAILABLE);
        return None;
    };
    let auth = method.map(|m| (m, auth_data));
    let mut accepted = connack(state, &connect, &client_id, terms, auth);
    if !fits_the_client(&mut accepted, &connect) {
        // A bare refusal is 5 bytes; below that the client can be told nothing.
        if connect
            .properties
            .integer(PropertyId::MaximumPacketSize)
            .is_some_and(|limit| limit >= 5)
        {
            refuse(runtime, io, ReasonCode::PACKET_TOO_LARGE);
        }
        return None;
    }
    control.attach_thread(&waker, false);
    let attached = state.attach(
        &client_id,
        connect.clean_session,
        terms.expiry_interval,
        control,
    );
    send_connack(&mut io, accepted, &connect, &attached);
    Some((
        io,
        Accepted {
            connect,
            waker: Some(waker),
            client_id,
            terms,
            attached,
        },
    ))
}

/// [MQTT-3.2.0-1]: CONNACK is the first packet the server sends. To an MQTT 5.0 client it also
/// says what the broker granted and supports (MQTT 5.0 section 3.2.2.3); a value equal to the
/// protocol's default is left out.
fn connack(
    state: &State,
    connect: &Connect,
    client_id: &str,
    terms: Terms,
    auth: Option<(&str, Option<Vec<u8>>)>,
) -> Connack {
    let mut connack = Connack::new(false, ReasonCode::SUCCESS);
    if connect.protocol.is_v5() {
        let options = &state.options;
        let p = &mut connack.properties;
        let requested_expiry = connect
            .properties
            .integer(PropertyId::SessionExpiryInterval)
            .unwrap_or(0);
        if terms.expiry_interval != requested_expiry {
            p.push(Property::SessionExpiryInterval(terms.expiry_interval));
        }
        if options.receive_maximum != u16::MAX {
            p.push(Property::ReceiveMaximum(options.receive_maximum.max(1)));
        }
        if options.maximum_qos != QoS::ExactlyOnce {
            p.push(Property::MaximumQos(options.maximum_qos as u8));
        }
        if !options.retain_available {
            p.push(Property::RetainAvailable(0));
        }
        if options.max_packet_size < MAX_REMAINING_LENGTH + 5 {
            p.push(Property::MaximumPacketSize(options.max_packet_size as u32));
        }
        if terms.assigned_id {
            p.push(Property::AssignedClientIdentifier(client_id.to_owned()));
        }
        if options.topic_alias_maximum > 0 {
            p.push(Property::TopicAliasMaximum(options.topic_alias_maximum));
        }
        if !options.wildcard_subscriptions {
            p.push(Property::WildcardSubscriptionAvailable(0));
        }
        if !options.subscription_identifiers {
            p.push(Property::SubscriptionIdentifierAvailable(0));
        }
        if !options.shared_subscriptions {
            p.push(Property::SharedSubscriptionAvailable(0));
        }
        if terms.keep_alive != connect.keep_alive {
            p.push(Property::ServerKeepAlive(terms.keep_alive));
        }
        let wants_response_information = connect
            .properties
            .integer(PropertyId::RequestResponseInformation)
            == Some(1);
        if wants_response_information && let Some(info) = &options.response_information {
            p.push(Property::ResponseInformation(info.clone()));
        }
        // MQTT 5.0 section 4.12: a successful exchange ends with CONNACK naming the method.
        if let Some((method, data)) = auth {
            p.push(Property::AuthenticationMethod(method.to_owned()));
            p.extend(data.map(Property::AuthenticationData));
        }
    }
    connack
}

/// Whether `connack` fits the client's Maximum Packet Size, after leaving out what it may do
/// without (Response Information). One that still does not fit (a long Assigned Client
/// Identifier or Authentication Data) cannot be sent at all: MQTT 5.0 [MQTT-3.1.2-24].
fn fits_the_client(connack: &mut Connack, connect: &Connect) -> bool {
    let Some(limit) = connect.properties.integer(PropertyId::MaximumPacketSize) else {
        return true;
    };
    let size = |c: &Connack| {
        Packet::Connack(c.clone())
            .to_bytes_for(connect.protocol)
            .map_or(usize::MAX, |b| b.len())
    };
    if size(connack) <= limit as usize {
        return true;
    }
    connack
        .properties
        .0
        .retain(|p| p.id() != PropertyId::ResponseInformation);
    size(connack) <= limit as usize
}

/// Sends the accepted CONNACK; MQTT 3.1 has no session-present flag (its first byte is reserved,
/// 0).
fn send_connack(io: &mut Io, mut connack: Connack, connect: &Connect, attached: &Attached) {
    connack.session_present = attached.session_present && connect.protocol != ProtocolLevel::V31;
    io.send(&Packet::Connack(connack));
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
    // Authentication may take long (a callback, PBKDF2 for a password file): never here.
    let options = &state.options;
    let method = connect.properties.get(PropertyId::AuthenticationMethod);
    if options.authenticator.is_some()
        || state.service_files.has_passwords()
        || !options.allow_anonymous
        || method.is_some()
        || io.identity_as_username()
    {
        return Err(Box::new((io, connect)));
    }
    let Ok((client_id, terms)) = terms(state, &connect) else {
        return Err(Box::new((io, connect)));
    };
    let mut accepted = connack(state, &connect, &client_id, terms, None);
    if !fits_the_client(&mut accepted, &connect) {
        return Err(Box::new((io, connect)));
    }
    let Some(attached) = state.attach_if_vacant(&client_id, terms.expiry_interval, control) else {
        return Err(Box::new((io, connect)));
    };
    io.set_protocol(connect.protocol);
    send_connack(&mut io, accepted, &connect, &attached);
    Ok((
        io,
        Accepted {
            connect,
            waker: None,
            client_id,
            terms,
            attached,
        },
    ))
}

/// What the TLS handshake learnt of the client: its certificate's identity, and whether the
/// listener makes it the user name.
struct Certificate {
    identity: Option<String>,
    as_username: bool,
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
