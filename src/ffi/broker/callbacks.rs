//! Adapters from a C callback plus its `userdata` to the broker's Rust hooks. Each builds the
//! NUL-terminated strings and structs C expects, valid for the duration of the call.

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::Arc;

use super::super::args::UserData;
use super::{
    mqtt_access, mqtt_auth_result, mqtt_broker_event, mqtt_broker_event_kind,
    mqtt_disconnect_reason,
};
use crate::broker::{
    Access, AuthRequest, AuthResult, Authenticator, Authorizer, BrokerEvent, EventHook,
};

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
        let verdict = unsafe {
            cb(
                userdata.as_ptr(),
                client_id.as_ptr(),
                username.as_ref().map_or(ptr::null(), |u| u.as_ptr()),
                password,
                password_len,
            )
        };
        match verdict {
            v if v == mqtt_auth_result::Accept as c_int => AuthResult::Accept,
            v if v == mqtt_auth_result::BadCredentials as c_int => AuthResult::BadCredentials,
            _ => AuthResult::NotAuthorized,
        }
    })
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
        let (kind, client_id, username, peer, clean, present, reason) = match *event {
            BrokerEvent::Connected {
                client_id,
                username,
                peer,
                clean_session,
                session_present,
            } => (
                mqtt_broker_event_kind::Connected,
                client_id,
                username,
                peer,
                clean_session,
                session_present,
                None,
            ),
            BrokerEvent::Disconnected {
                client_id,
                peer,
                reason,
            } => (
                mqtt_broker_event_kind::Disconnected,
                client_id,
                None,
                peer,
                false,
                false,
                Some(reason),
            ),
        };
        let client_id = callback_string(client_id);
        let username = username.map(callback_string);
        let peer = callback_string(&peer.to_string());
        let reason_text = reason.map(|r| callback_string(r.description()));
        let c_event = mqtt_broker_event {
            kind,
            client_id: client_id.as_ptr(),
            username: username.as_ref().map_or(ptr::null(), |u| u.as_ptr()),
            peer: peer.as_ptr(),
            clean_session: clean,
            session_present: present,
            reason: reason.map_or(mqtt_disconnect_reason::None, Into::into),
            reason_text: reason_text.as_ref().map_or(ptr::null(), |r| r.as_ptr()),
        };
        // SAFETY: as for the authenticator; `c_event` lives for the call.
        unsafe { cb(userdata.as_ptr(), &c_event) };
    })
}
