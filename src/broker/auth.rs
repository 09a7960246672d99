//! MQTT 5.0 enhanced authentication (MQTT 5.0 section 4.12): the exchange of AUTH packets a
//! CONNECT with an Authentication Method opens before CONNACK, and re-authentication of a
//! connected client. The host decides each step through its [`EnhancedAuthenticator`]; this
//! module carries the packets.
//!
//! [`EnhancedAuthenticator`]: super::options::EnhancedAuthenticator

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::handshake::read_packet;
use super::io::Io;
use super::online::Online;
use super::options::{AuthStep, AuthVerdict, DisconnectReason};
use super::runtime::Runtime;
use crate::protocol::{
    Auth, Connack, Connect, Packet, Properties, Property, PropertyContext, PropertyId, ReasonCode,
};

/// Numbers exchanges for the host (see [`AuthStep::exchange`]).
fn next_exchange() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// An AUTH packet carrying `method` and, if any, `data`.
fn auth_packet(reason: ReasonCode, method: &str, data: Option<Vec<u8>>) -> Packet {
    let mut properties = Properties(vec![Property::AuthenticationMethod(method.to_owned())]);
    properties.extend(data.map(Property::AuthenticationData));
    Packet::Auth(Auth { reason, properties })
}

/// Runs the exchange a CONNECT with Authentication Method `method` opens, reading the client's
/// AUTH packets within the connect timeout. `Ok` with the data for CONNACK on success;
/// `Err(Some(connack))` for the refusing CONNACK to send before closing (MQTT 5.0
/// [MQTT-4.12.0-1], [MQTT-4.12.0-4]) — the host's code (and Server Reference, when it redirects
/// the client), or 0x82 for a packet other than AUTH 0x18 with the same method
/// ([MQTT-4.12.0-3], [MQTT-4.12.0-5]); `Err(None)` when the connection ended. Every AUTH the
/// broker sends continues with 0x18 and names the method ([MQTT-4.12.0-2]).
pub(crate) fn exchange_at_connect(
    runtime: &Runtime,
    io: &mut Io,
    connect: &Connect,
    method: &str,
    client_id: &str,
    peer: SocketAddr,
) -> Result<Option<Vec<u8>>, Option<Connack>> {
    let refusal = |code| Some(Connack::new(false, code));
    let authenticate = runtime
        .state
        .options
        .enhanced_authenticator
        .as_ref()
        .ok_or(refusal(ReasonCode::BAD_AUTHENTICATION_METHOD))?;
    let deadline = Instant::now() + runtime.state.options.connect_timeout;
    let exchange = next_exchange();
    let mut data = connect
        .properties
        .binary(PropertyId::AuthenticationData)
        .map(<[u8]>::to_vec);
    for step in 0.. {
        let verdict = authenticate(&AuthStep {
            exchange,
            client_id,
            username: connect.username.as_deref(),
            method,
            data: data.as_deref(),
            step,
            reauthenticating: false,
            peer,
        });
        match verdict {
            AuthVerdict::Success(data) => return Ok(data),
            AuthVerdict::Fail(code) => {
                return Err(refusal(valid_refusal(code, PropertyContext::Connack)));
            }
            AuthVerdict::Redirect(redirect) => {
                let mut connack = Connack::new(false, redirect.code());
                connack.properties.extend(redirect.property());
                return Err(Some(connack));
            }
            AuthVerdict::Continue(challenge) => {
                io.send(&auth_packet(
                    ReasonCode::CONTINUE_AUTHENTICATION,
                    method,
                    Some(challenge),
                ));
                if io.flush().is_err() {
                    return Err(None);
                }
            }
        }
        data = match read_packet(runtime, io, deadline) {
            Ok(Packet::Auth(auth))
                if auth.reason == ReasonCode::CONTINUE_AUTHENTICATION
                    && auth.properties.string(PropertyId::AuthenticationMethod) == Some(method) =>
            {
                auth.properties
                    .binary(PropertyId::AuthenticationData)
                    .map(<[u8]>::to_vec)
            }
            Ok(_) => return Err(refusal(ReasonCode::PROTOCOL_ERROR)),
            Err(Some(error)) => return Err(refusal(error.reason_code())),
            Err(None) => return Err(None),
        };
    }
    unreachable!("the exchange loop only ends by returning")
}

/// A host's refusal must be a failure code the packet carrying it may hold; anything else
/// reads as not authorized.
fn valid_refusal(code: ReasonCode, context: PropertyContext) -> ReasonCode {
    if !code.is_success() && code.is_valid_in(context) {
        code
    } else {
        ReasonCode::NOT_AUTHORIZED
    }
}

/// Where a re-authentication of a connected client stands.
#[derive(Debug)]
pub(crate) struct Reauthentication {
    exchange: u64,
    step: u32,
}

impl Online {
    /// An AUTH from a connected client: 0x19 opens a re-authentication with the method it
    /// connected with, 0x18 continues one (MQTT 5.0 section 4.12.1, [MQTT-4.12.1-1]). Anything
    /// else — AUTH from a client that did not authenticate this way ([MQTT-4.12.0-7]), another
    /// method, a continuation with no exchange open — is a protocol error; a refusal by the host
    /// ends the connection with DISCONNECT and its reason code ([MQTT-4.12.1-2]).
    pub(crate) fn on_auth(&mut self, auth: Auth) -> Result<(), DisconnectReason> {
        let method = auth.properties.string(PropertyId::AuthenticationMethod);
        let same_method = method.is_some() && method == self.auth_method.as_deref();
        let opening = auth.reason == ReasonCode::RE_AUTHENTICATE && self.reauth.is_none();
        let continuing =
            auth.reason == ReasonCode::CONTINUE_AUTHENTICATION && self.reauth.is_some();
        let authenticate = self.state.options.enhanced_authenticator.clone();
        let (Some(authenticate), true, true) = (authenticate, same_method, opening || continuing)
        else {
            return Err(self.violation(ReasonCode::PROTOCOL_ERROR));
        };
        let reauth = self.reauth.get_or_insert_with(|| Reauthentication {
            exchange: next_exchange(),
            step: 0,
        });
        let step = AuthStep {
            exchange: reauth.exchange,
            client_id: &self.client_id,
            username: self.username.as_deref(),
            method: method.unwrap_or_default(),
            data: auth.properties.binary(PropertyId::AuthenticationData),
            step: reauth.step,
            reauthenticating: true,
            peer: self.peer,
        };
        reauth.step += 1;
        let method = step.method.to_owned();
        match authenticate(&step) {
            AuthVerdict::Success(data) => {
                self.reauth = None;
                self.send(&auth_packet(ReasonCode::SUCCESS, &method, data));
                Ok(())
            }
            AuthVerdict::Continue(challenge) => {
                self.send(&auth_packet(
                    ReasonCode::CONTINUE_AUTHENTICATION,
                    &method,
                    Some(challenge),
                ));
                Ok(())
            }
            AuthVerdict::Fail(code) => {
                let code = valid_refusal(code, PropertyContext::Disconnect);
                Err(self.violation(code))
            }
            AuthVerdict::Redirect(redirect) => {
                let code = redirect.code();
                self.control.remember_redirect(redirect);
                Err(self.violation(code))
            }
        }
    }
}
