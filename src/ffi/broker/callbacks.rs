//! Adapters from a C callback plus its `userdata` to the broker's Rust hooks. Each builds the
//! NUL-terminated strings and structs C expects, valid for the duration of the call.

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::Arc;

use super::super::args::UserData;
use super::{
    mqtt_access, mqtt_auth_reply, mqtt_auth_request, mqtt_auth_result, mqtt_auth_step,
    mqtt_broker_event, mqtt_broker_event_kind, mqtt_disconnect_reason, mqtt_hook_reply,
    mqtt_hooked_message,
};
use crate::broker::{
    Access, AuthRequest, AuthResult, AuthStep, AuthVerdict, Authenticator, Authorizer, BrokerEvent,
    EnhancedAuthenticator, EventHook, HookVerdict, HookedMessage, LogCallback, LogType,
    MessageHook, Redirect,
};
use crate::protocol::ReasonCode;

/// Converts a string the broker produced (never holding NUL) for a callback.
fn callback_string(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// A C authenticator as the broker's [`Authenticator`]: the verdict `int` maps to
/// [`AuthResult`], and any value other than accept or bad credentials refuses (fails closed).
pub(super) fn c_authenticator(
    cb: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const u8, usize) -> c_int,
    userdata: UserData,
) -> Authenticator {
    Arc::new(move |request: &AuthRequest<'_>| {
        let client_id = callback_string(request.client_id);
        let username = request.username.map(callback_string);
        let (password, password_len) = match request.password {
            Some(p) => (p.as_ptr(), p.len()),
            None => (ptr::null(), 0),
        };
        // SAFETY: the setter's caller promised `cb` may be called with `userdata`
        // from any thread; every pointer is valid for the call.
        auth_result(unsafe {
            cb(
                userdata.as_ptr(),
                client_id.as_ptr(),
                username.as_ref().map_or(ptr::null(), |u| u.as_ptr()),
                password,
                password_len,
            )
        })
    })
}

/// A C authenticator that sees the whole [`AuthRequest`] (peer address, certificate
/// identity, protocol level) as the broker's [`Authenticator`]; verdicts as
/// [`c_authenticator`].
pub(super) fn c_authenticator_ex(
    cb: unsafe extern "C" fn(*mut c_void, *const mqtt_auth_request) -> c_int,
    userdata: UserData,
) -> Authenticator {
    Arc::new(move |request: &AuthRequest<'_>| {
        let client_id = callback_string(request.client_id);
        let username = request.username.map(callback_string);
        let peer = callback_string(&request.peer.to_string());
        let identity = request.certificate_identity.map(callback_string);
        let (password, password_len) = match request.password {
            Some(p) => (p.as_ptr(), p.len()),
            None => (ptr::null(), 0),
        };
        let c_request = mqtt_auth_request {
            client_id: client_id.as_ptr(),
            username: username.as_ref().map_or(ptr::null(), |u| u.as_ptr()),
            password,
            password_len,
            peer: peer.as_ptr(),
            certificate_identity: identity.as_ref().map_or(ptr::null(), |i| i.as_ptr()),
            protocol_level: request.protocol_level,
        };
        // SAFETY: the setter's caller promised `cb` may be called with `userdata` from any
        // thread; the request and every string it points to live for the call.
        auth_result(unsafe { cb(userdata.as_ptr(), &c_request) })
    })
}

/// The verdict a C authenticator returned; anything but accept or bad credentials refuses
/// (fails closed).
fn auth_result(verdict: c_int) -> AuthResult {
    match verdict {
        v if v == mqtt_auth_result::Accept as c_int => AuthResult::Accept,
        v if v == mqtt_auth_result::BadCredentials as c_int => AuthResult::BadCredentials,
        _ => AuthResult::NotAuthorized,
    }
}

/// A C authorizer as the broker's [`Authorizer`].
pub(super) fn c_authorizer(
    cb: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        *const c_char,
        *const c_char,
        mqtt_access,
    ) -> bool,
    userdata: UserData,
) -> Authorizer {
    Arc::new(
        move |client_id: &str, username: Option<&str>, topic: &str, access: Access| {
            let client_id = callback_string(client_id);
            let username = username.map(callback_string);
            let topic = callback_string(topic);
            let access = match access {
                Access::Publish => mqtt_access::Publish,
                Access::Subscribe => mqtt_access::Subscribe,
            };
            // SAFETY: as for the authenticator.
            unsafe {
                cb(
                    userdata.as_ptr(),
                    client_id.as_ptr(),
                    username.as_ref().map_or(ptr::null(), |u| u.as_ptr()),
                    topic.as_ptr(),
                    access,
                )
            }
        },
    )
}

/// A C event callback as the broker's [`EventHook`]: each event becomes an
/// `mqtt_broker_event` that lives for the call.
pub(super) fn c_event_hook(
    cb: unsafe extern "C" fn(*mut c_void, *const mqtt_broker_event),
    userdata: UserData,
) -> EventHook {
    Arc::new(move |event: &BrokerEvent<'_>| {
        let mut c_event = mqtt_broker_event {
            kind: mqtt_broker_event_kind::Connected,
            client_id: ptr::null(),
            username: ptr::null(),
            peer: ptr::null(),
            clean_session: false,
            session_present: false,
            reason: mqtt_disconnect_reason::None,
            reason_text: ptr::null(),
            protocol_level: 0,
            reason_code: -1,
        };
        let (client_id, username, peer, reason_text) = match *event {
            BrokerEvent::Connected {
                client_id,
                username,
                peer,
                clean_session,
                session_present,
                protocol_level,
            } => {
                c_event.clean_session = clean_session;
                c_event.session_present = session_present;
                c_event.protocol_level = c_int::from(protocol_level);
                (client_id, username, peer, None)
            }
            BrokerEvent::Disconnected {
                client_id,
                peer,
                reason,
                reason_code,
            } => {
                c_event.kind = mqtt_broker_event_kind::Disconnected;
                c_event.reason = reason.into();
                c_event.reason_code = reason_code.map_or(-1, |code| c_int::from(code.0));
                (client_id, None, peer, Some(reason.description()))
            }
        };
        let client_id = callback_string(client_id);
        let username = username.map(callback_string);
        let peer = callback_string(&peer.to_string());
        let reason_text = reason_text.map(callback_string);
        c_event.client_id = client_id.as_ptr();
        c_event.username = username.as_ref().map_or(ptr::null(), |u| u.as_ptr());
        c_event.peer = peer.as_ptr();
        c_event.reason_text = reason_text.as_ref().map_or(ptr::null(), |r| r.as_ptr());
        // SAFETY: as for the authenticator; `c_event` lives for the call.
        unsafe { cb(userdata.as_ptr(), &c_event) };
    })
}

/// A C log callback as the broker's [`LogCallback`]: the line becomes a NUL-terminated string
/// that lives for the call.
pub(super) fn c_log_callback(
    cb: unsafe extern "C" fn(*mut c_void, c_int, *const c_char),
    userdata: UserData,
) -> LogCallback {
    Arc::new(move |t: LogType, text: &str| {
        let text = callback_string(text);
        // SAFETY: as for the authenticator; `text` lives for the call. The bits fit an int.
        unsafe { cb(userdata.as_ptr(), t.bit() as c_int, text.as_ptr()) };
    })
}

/// A C enhanced authenticator as the broker's [`EnhancedAuthenticator`]: the returned `int` is a
/// reason code — 0x00 success, 0x18 continue, anything else a refusal (a value that is not a
/// failure code refuses with 0x87, so a mistake fails closed); 0x9C or 0x9D with a server
/// reference in the reply redirects the client.
pub(super) fn c_enhanced_authenticator(
    cb: unsafe extern "C" fn(*mut c_void, *const mqtt_auth_step, *mut mqtt_auth_reply) -> c_int,
    userdata: UserData,
) -> EnhancedAuthenticator {
    Arc::new(move |step: &AuthStep<'_>| {
        let client_id = callback_string(step.client_id);
        let username = step.username.map(callback_string);
        let method = callback_string(step.method);
        let peer = callback_string(&step.peer.to_string());
        let (data, data_len) = match step.data {
            Some(d) => (d.as_ptr(), d.len()),
            None => (ptr::null(), 0),
        };
        let c_step = mqtt_auth_step {
            exchange: step.exchange,
            client_id: client_id.as_ptr(),
            username: username.as_ref().map_or(ptr::null(), |u| u.as_ptr()),
            method: method.as_ptr(),
            data,
            data_len,
            step: step.step,
            reauthenticating: step.reauthenticating,
            peer: peer.as_ptr(),
        };
        let mut reply = mqtt_auth_reply {
            data: None,
            server_reference: None,
        };
        // SAFETY: as for the authenticator; `c_step` and `reply` live for the call.
        let code = unsafe { cb(userdata.as_ptr(), &c_step, &mut reply) };
        match u8::try_from(code).map(ReasonCode) {
            Ok(ReasonCode::SUCCESS) => AuthVerdict::Success(reply.data),
            Ok(ReasonCode::CONTINUE_AUTHENTICATION) => {
                AuthVerdict::Continue(reply.data.unwrap_or_default())
            }
            Ok(code @ (ReasonCode::USE_ANOTHER_SERVER | ReasonCode::SERVER_MOVED))
                if let Some(server_reference) = reply.server_reference =>
            {
                AuthVerdict::Redirect(Redirect {
                    server_reference,
                    permanent: code == ReasonCode::SERVER_MOVED,
                })
            }
            Ok(code) if !code.is_success() => AuthVerdict::Fail(code),
            _ => AuthVerdict::Fail(ReasonCode::NOT_AUTHORIZED),
        }
    })
}

/// A C message hook as the broker's [`MessageHook`]: 0 routes the message (or the replacement
/// the hook left in its reply), a failure reason code drops it; any other value drops it with
/// 0x80, so a mistake fails closed.
pub(super) fn c_message_hook(
    cb: unsafe extern "C" fn(
        *mut c_void,
        *const mqtt_hooked_message,
        *mut mqtt_hook_reply,
    ) -> c_int,
    userdata: UserData,
) -> MessageHook {
    Arc::new(move |message: &HookedMessage<'_>| {
        let client_id = callback_string(message.client_id);
        let username = message.username.map(callback_string);
        let topic = callback_string(message.topic);
        let c_message = mqtt_hooked_message {
            client_id: client_id.as_ptr(),
            username: username.as_ref().map_or(ptr::null(), |u| u.as_ptr()),
            topic: topic.as_ptr(),
            payload: if message.payload.is_empty() {
                ptr::null()
            } else {
                message.payload.as_ptr()
            },
            payload_len: message.payload.len(),
            qos: message.qos as c_int,
            retain: message.retain,
        };
        let mut reply = mqtt_hook_reply { replacement: None };
        // SAFETY: as for the authenticator; `c_message` and `reply` live for the call.
        let code = unsafe { cb(userdata.as_ptr(), &c_message, &mut reply) };
        match (code, reply.replacement) {
            (0, None) => HookVerdict::Accept,
            (0, Some((topic, payload))) => HookVerdict::Replace { topic, payload },
            (code, _) => HookVerdict::Drop(
                u8::try_from(code)
                    .map(ReasonCode)
                    .ok()
                    .filter(|c| !c.is_success())
                    .unwrap_or(ReasonCode::UNSPECIFIED_ERROR),
            ),
        }
    })
}
