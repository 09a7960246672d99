//! C bindings of the blocking client (`mqtt_connect`, `mqtt_connection_*`, ...).
//!
//! A thin layer over [`crate::client::Client`]: arguments are checked and converted, errors
//! become statuses, C callbacks are wrapped into Rust closures. This file holds the types C
//! sees and the argument helpers; the functions are grouped by role:
//! - `options`: `mqtt_connect_options_*`, the settings read by `mqtt_connect`;
//! - `connection`: connecting and every call on a `mqtt_connection`;
//! - `callbacks`: the adapters that turn a C function pointer and its `userdata` into the
//!   Rust callbacks of [`crate::client::Client`].

#![allow(non_camel_case_types, reason = "C names, as they appear in the header")]

mod callbacks;
mod connection;
mod lifetime;
mod message;
mod options;
mod tls;
mod v5_calls;
mod v5_options;

pub(crate) use callbacks::deliver_to_c;
pub use connection::*;
pub use message::*;
pub use options::*;
pub use tls::*;
pub use v5_calls::*;
pub use v5_options::*;

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use super::error::FfiError;
use super::handle::OptionsHandle;
use super::status::mqtt_status;
use crate::client::{Client, ClientError, CloseReason, ConnectOptions};
use crate::protocol::{PacketId, ReasonCode};

impl From<ClientError> for FfiError {
    fn from(error: ClientError) -> Self {
        let message = error.to_string();
        super::reason::set_last_reason_code(error.reason_code());
        let redirect = |code: ReasonCode| matches!(code.0, 0x9C | 0x9D);
        let status = match error {
            ClientError::Refused(r) if redirect(r.code) => mqtt_status::ServerMoved,
            ClientError::Refused(r) => match r.code {
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION => mqtt_status::RefusedProtocolVersion,
                ReasonCode::CLIENT_IDENTIFIER_NOT_VALID => mqtt_status::RefusedIdentifier,
                ReasonCode::BAD_USER_NAME_OR_PASSWORD => mqtt_status::RefusedBadCredentials,
                ReasonCode::NOT_AUTHORIZED => mqtt_status::RefusedNotAuthorized,
                ReasonCode::SERVER_UNAVAILABLE => mqtt_status::RefusedServerUnavailable,
                _ => mqtt_status::Refused,
            },
            ClientError::PublishRefused(_) => mqtt_status::PublishRefused,
            ClientError::UnsubscribeRefused(..) => mqtt_status::UnsubscribeFailed,
            ClientError::PacketTooLarge { .. } => mqtt_status::TooLarge,
            ClientError::Authentication(_) => mqtt_status::AuthFailed,
            ClientError::Closed(CloseReason::ServerDisconnect(r)) if redirect(r.code) => {
                mqtt_status::ServerMoved
            }
            ClientError::InvalidArgument(_) => mqtt_status::InvalidArgument,
            ClientError::InvalidTopic(_) => mqtt_status::InvalidTopic,
            ClientError::Resolve(_) => mqtt_status::Resolve,
            ClientError::ConnectFailed(_) => mqtt_status::Io,
            ClientError::Timeout => mqtt_status::Timeout,
            ClientError::UnacceptableProtocolVersion => mqtt_status::RefusedProtocolVersion,
            ClientError::IdentifierRejected => mqtt_status::RefusedIdentifier,
            ClientError::ServerUnavailable => mqtt_status::RefusedServerUnavailable,
            ClientError::BadUsernameOrPassword => mqtt_status::RefusedBadCredentials,
            ClientError::NotAuthorized => mqtt_status::RefusedNotAuthorized,
            ClientError::SubscribeRefused(_) => mqtt_status::SubscribeFailed,
            ClientError::Closed(_) => mqtt_status::Closed,
            ClientError::Protocol(_) => mqtt_status::ProtocolError,
            ClientError::Encode(e) => return FfiError::from(e),
            ClientError::LoopAlreadyRunning => mqtt_status::AlreadyRunning,
            ClientError::Queued(_) => mqtt_status::Queued,
            ClientError::QueueFull => mqtt_status::QueueFull,
            ClientError::Io(e) => return FfiError::from(e),
            ClientError::Tls(_) => mqtt_status::Tls,
        };
        FfiError::new(status, message)
    }
}

/// Connection settings for `mqtt_connect`. Create with `mqtt_connect_options_new`, release with
/// `mqtt_connect_options_free`. Not thread-safe while being modified; `mqtt_connect` only reads
/// it, and it may be freed or reused as soon as `mqtt_connect` returns.
pub struct mqtt_connect_options {
    options: ConnectOptions,
}

impl OptionsHandle for mqtt_connect_options {
    type Options = ConnectOptions;
    const ARG: &'static str = "options";
    fn options_mut(&mut self) -> &mut ConnectOptions {
        &mut self.options
    }
}

/// An open (or closed, but not yet freed) connection to a broker. Every function taking a
/// `mqtt_connection *` may be called from any thread at the same time and from inside a
/// callback — `mqtt_connection_free` too: calls blocked on other threads then return
/// `MQTT_STATUS_CLOSED` before the memory is released.
pub struct mqtt_connection {
    client: Client,
    client_id: CString,
    /// Calls in progress, and whether a free began (see `lifetime`).
    calls: AtomicUsize,
}

/// A received application message, as a message callback sees it. Every pointer in it is valid
/// only until the callback returns: copy what you keep.
#[repr(C)]
pub struct mqtt_message {
    /// The topic name, NUL-terminated UTF-8.
    pub topic: *const c_char,
    /// Length of `topic` in bytes, without the NUL.
    pub topic_len: usize,
    /// The payload bytes (not NUL-terminated; may contain NUL bytes). Not NULL, even when empty.
    pub payload: *const u8,
    pub payload_len: usize,
    /// The QoS it was delivered with: 0, 1 or 2 (an `mqtt_qos` value).
    pub qos: c_int,
    /// Set when the broker sent a retained message because of a new subscription.
    pub retain: bool,
    /// Set when the broker redelivers a message it may have sent before.
    pub dup: bool,
}

/// A message callback: `userdata` is the pointer given to `mqtt_subscribe`; `message` is valid
/// only during the call.
///
/// Which thread calls it: the thread currently reading the connection — the loop thread while
/// `mqtt_loop_start` is in effect; otherwise the thread inside `mqtt_receive_message`, or inside
/// a call that waits for a reply (`mqtt_subscribe`, `mqtt_unsubscribe`, `mqtt_publish` at QoS 1
/// or 2, `mqtt_publish_async` with a full window, `mqtt_wait_published`, `mqtt_ping`). Callbacks
/// run one at a time, in arrival order.
///
/// What it may call: every libmqtt function, including `mqtt_subscribe`, `mqtt_unsubscribe`,
/// `mqtt_publish` (any QoS), `mqtt_ping`, `mqtt_disconnect`, `mqtt_reconnect` and
/// `mqtt_loop_stop` on the same connection — none of them deadlocks — but not
/// `mqtt_connection_free` on the connection that is calling it. Replies other threads wait for
/// are read only between callbacks, so return promptly.
pub type mqtt_message_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, message: *const mqtt_message)>;

/// A publish completion callback (see `mqtt_connection_set_on_published`): `userdata` is the
/// pointer given with it, `packet_id` the identifier `mqtt_publish_async` returned (or that
/// `mqtt_publish` used), and `status` how the publish ended: `MQTT_STATUS_OK` once PUBACK
/// (QoS 1) or PUBCOMP (QoS 2) arrived, `MQTT_STATUS_PUBLISH_REFUSED` when an MQTT 5.0 PUBACK
/// or PUBREC refused it (`mqtt_last_reason_code()` gives the code during the call),
/// `MQTT_STATUS_CLOSED` when a clean-session `mqtt_reconnect` discarded it unacknowledged (it
/// may or may not have been delivered), `MQTT_STATUS_QUEUE_FULL` when the offline queue dropped
/// it.
///
/// Which thread calls it: for `MQTT_STATUS_OK`, the thread that read the acknowledgement — the
/// loop thread while `mqtt_loop_start` is in effect; otherwise the thread inside
/// `mqtt_receive_message`, `mqtt_wait_published`, `mqtt_publish` (QoS 1/2), `mqtt_subscribe`,
/// `mqtt_unsubscribe`, `mqtt_ping` or a `mqtt_publish_async` waiting for window space. For
/// `MQTT_STATUS_CLOSED`, the thread calling `mqtt_reconnect`. Calls come in the order the
/// acknowledgements arrive, once per identifier.
///
/// What it may call: every libmqtt function on the connection except `mqtt_connection_free`,
/// as for message callbacks. No lock is held during the call. If it waits for an
/// acknowledgement itself (`mqtt_publish` at QoS 1/2, `mqtt_wait_published`), completions read
/// meanwhile are reported from inside that call, nested.
pub type mqtt_published_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, packet_id: u16, status: mqtt_status)>;

/// Why a client connection ended, as the disconnect callback receives it (an `int`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_close_reason {
    /// `mqtt_disconnect` sent DISCONNECT.
    Disconnected = 1,
    /// `mqtt_connection_free` closed it without DISCONNECT.
    Freed = 2,
    /// `mqtt_reconnect` closed it to open a new one.
    Reconnecting = 3,
    /// The broker closed the TCP connection.
    ClosedByPeer = 4,
    /// A read or write failed (`on_log` has the system's text).
    Io = 5,
    /// No PINGRESP within the keep-alive period.
    KeepAliveTimeout = 6,
    /// The broker broke the protocol.
    ProtocolError = 7,
    /// An MQTT 5.0 broker sent DISCONNECT: `mqtt_last_reason_code()` in the callback gives its
    /// reason code (0x8B server shutting down, 0x8E session taken over, 0x9C use another
    /// server, ...).
    ServerDisconnect = 8,
}

impl From<&CloseReason> for mqtt_close_reason {
    fn from(reason: &CloseReason) -> Self {
        match reason {
            CloseReason::Disconnected => mqtt_close_reason::Disconnected,
            CloseReason::Dropped => mqtt_close_reason::Freed,
            CloseReason::Reconnecting => mqtt_close_reason::Reconnecting,
            CloseReason::ClosedByPeer => mqtt_close_reason::ClosedByPeer,
            CloseReason::Io(_) => mqtt_close_reason::Io,
            CloseReason::KeepAliveTimeout => mqtt_close_reason::KeepAliveTimeout,
            CloseReason::ProtocolViolation(_) => mqtt_close_reason::ProtocolError,
            CloseReason::ServerDisconnect(_) => mqtt_close_reason::ServerDisconnect,
        }
    }
}

/// The level of a log line passed to the log callback (an `int`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_log_level {
    Error = 1,
    Warning = 2,
    Info = 3,
    Debug = 4,
}

/// What a full offline queue does with one more publish (see
/// `mqtt_connect_options_set_offline_queue`), passed as an `int`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_queue_overflow {
    /// The new publish fails with `MQTT_STATUS_QUEUE_FULL`.
    RefuseNew = 0,
    /// The oldest queued publish is dropped (its on_published callback gets
    /// `MQTT_STATUS_QUEUE_FULL`) to make room.
    DropOldest = 1,
}

/// Told of every CONNACK: `session_present` is its flag ([MQTT-3.2.2-2]) and `code` its return
/// code (0 accepted, 1 to 5 refused).
///
/// Which thread calls it: for the first connect, the thread inside `mqtt_connect` (before it
/// returns); for a reconnect, the thread inside `mqtt_reconnect`, or the loop thread for an
/// automatic reconnect.
///
/// What it may call: every libmqtt function on the connection except `mqtt_connection_free`
/// (during the first connect there is no connection handle yet). No lock is held.
pub type mqtt_connect_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, session_present: bool, code: c_int)>;

/// Told once per connection when it ends: `reason` is an `mqtt_close_reason` value,
/// `will_reconnect` whether the loop thread will reconnect by itself (automatic reconnects on,
/// loop thread running, not ended by this program) or `mqtt_reconnect` is the cause.
///
/// Which thread calls it: the thread that noticed the end — the loop thread or a thread reading
/// inside a blocking call (`mqtt_receive_message`, `mqtt_publish`, ...) for a lost connection;
/// the thread calling `mqtt_disconnect`, `mqtt_reconnect` or `mqtt_connection_free` otherwise.
///
/// What it may call: every libmqtt function on the connection except `mqtt_connection_free`
/// and `mqtt_reconnect`. No lock is held.
pub type mqtt_disconnect_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, reason: c_int, will_reconnect: bool)>;

/// Receives the client's log lines: `level` is an `mqtt_log_level` value, `message` a
/// NUL-terminated string valid only during the call.
///
/// Which thread calls it: whichever thread the event happens on (the loop thread, a thread in
/// a blocking call, or the caller of `mqtt_connect`, `mqtt_reconnect`, `mqtt_disconnect` or
/// `mqtt_connection_free`).
///
/// What it may call: libmqtt functions that do not block (status and topic functions,
/// `mqtt_connection_is_connected`); keep it short. No lock is held.
pub type mqtt_log_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: c_int, message: *const c_char)>;

/// A timeout in milliseconds from C: -1 means "no timeout".
pub(super) fn timeout_arg(timeout_ms: c_int, name: &str) -> Result<Option<Duration>, FfiError> {
    match timeout_ms {
        -1 => Ok(None),
        ms if ms >= 0 => Ok(Some(Duration::from_millis(ms as u64))),
        ms => Err(FfiError::invalid_argument(format!(
            "{name} must be -1 (no timeout) or at least 0, not {ms}"
        ))),
    }
}

/// A strictly positive timeout in milliseconds.
pub(super) fn positive_ms(timeout_ms: c_int, name: &str) -> Result<Duration, FfiError> {
    if timeout_ms <= 0 {
        return Err(FfiError::invalid_argument(format!(
            "{name} must be above 0 ms, not {timeout_ms}"
        )));
    }
    Ok(Duration::from_millis(timeout_ms as u64))
}

pub(super) fn packet_id_arg(packet_id: u16) -> Result<PacketId, FfiError> {
    PacketId::new(packet_id)
        .ok_or_else(|| FfiError::invalid_argument("packet_id 0 never names a QoS 1 or 2 publish"))
}

/// Starts a call on the connection behind a handle (see `lifetime`): dereferences to the
/// client until dropped.
///
/// # Safety
/// `connection` is NULL or a live handle from `mqtt_connect`.
pub(super) unsafe fn connection_arg(
    connection: *const mqtt_connection,
) -> Result<lifetime::ConnectionCall, FfiError> {
    // SAFETY: forwarded to the caller.
    unsafe { lifetime::ConnectionCall::start(connection) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_map_to_their_statuses() {
        use crate::client::CloseReason;
        let cases = [
            (ClientError::Timeout, mqtt_status::Timeout),
            (
                ClientError::NotAuthorized,
                mqtt_status::RefusedNotAuthorized,
            ),
            (
                ClientError::BadUsernameOrPassword,
                mqtt_status::RefusedBadCredentials,
            ),
            (
                ClientError::IdentifierRejected,
                mqtt_status::RefusedIdentifier,
            ),
            (
                ClientError::ServerUnavailable,
                mqtt_status::RefusedServerUnavailable,
            ),
            (
                ClientError::UnacceptableProtocolVersion,
                mqtt_status::RefusedProtocolVersion,
            ),
            (
                ClientError::SubscribeRefused("a".into()),
                mqtt_status::SubscribeFailed,
            ),
            (
                ClientError::Closed(CloseReason::ClosedByPeer),
                mqtt_status::Closed,
            ),
            (ClientError::LoopAlreadyRunning, mqtt_status::AlreadyRunning),
            (ClientError::Resolve("x".into()), mqtt_status::Resolve),
            (ClientError::Tls("x".into()), mqtt_status::Tls),
        ];
        for (error, status) in cases {
            let text = error.to_string();
            let ffi = FfiError::from(error);
            assert_eq!(ffi.status(), status);
            assert_eq!(ffi.message(), text);
        }
    }

    #[test]
    fn timeouts_from_c_are_checked() {
        assert_eq!(timeout_arg(-1, "t"), Ok(None));
        assert_eq!(timeout_arg(0, "t"), Ok(Some(Duration::ZERO)));
        assert_eq!(
            timeout_arg(-2, "t").unwrap_err().status(),
            mqtt_status::InvalidArgument
        );
        assert!(positive_ms(0, "t").is_err());
        assert!(packet_id_arg(0).is_err());
    }

    #[test]
    fn option_setters_check_their_arguments() {
        let o = mqtt_connect_options_new();
        unsafe {
            assert_eq!(
                mqtt_connect_options_set_keep_alive(o, 70000),
                mqtt_status::InvalidArgument
            );
            assert_eq!(mqtt_connect_options_set_keep_alive(o, 5), mqtt_status::Ok);
            assert_eq!(
                mqtt_connect_options_set_protocol_level(o, 6),
                mqtt_status::InvalidArgument
            );
            assert_eq!(
                mqtt_connect_options_set_max_inflight(o, 0),
                mqtt_status::InvalidArgument
            );
            assert_eq!(
                mqtt_connect_options_set_auto_reconnect(o, 500, 100),
                mqtt_status::InvalidArgument
            );
            assert_eq!(
                mqtt_connect_options_set_auto_reconnect(o, -1, 100),
                mqtt_status::InvalidArgument
            );
            assert_eq!(
                mqtt_connect_options_set_auto_reconnect(o, 100, 2000),
                mqtt_status::Ok
            );
            assert_eq!(
                (*o).options.reconnect_delay,
                Some(Duration::from_millis(100))
            );
            assert_eq!(
                mqtt_connect_options_set_auto_reconnect(o, 0, 0),
                mqtt_status::Ok
            );
            assert_eq!((*o).options.reconnect_delay, None);
            assert_eq!(
                mqtt_connect_options_set_will(o, c"a/#".as_ptr(), std::ptr::null(), 0, 0, false),
                mqtt_status::InvalidTopic
            );
            assert_eq!(
                mqtt_connect_options_set_will(o, c"a/b".as_ptr(), std::ptr::null(), 0, 3, false),
                mqtt_status::InvalidQos
            );
            assert_eq!(
                mqtt_connect_options_set_client_id(std::ptr::null_mut(), c"x".as_ptr()),
                mqtt_status::NullArgument
            );
            assert_eq!((*o).options.keep_alive, Duration::from_secs(5));
            assert!((*o).options.will.is_none());
            mqtt_connect_options_free(o);
            mqtt_connect_options_free(std::ptr::null_mut());
            mqtt_connection_free(std::ptr::null_mut());
        }
    }
}
