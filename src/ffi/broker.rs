//! C bindings of the embeddable broker (`mqtt_broker_*`).
//!
//! Thin by design: options are collected into a [`BrokerOptions`], C callbacks are wrapped into
//! the Rust hooks, and every call is forwarded to [`Broker`].

#![allow(non_camel_case_types, reason = "C API types carry their C names")]

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use super::args::{UserData, bytes_arg, c_str_arg, out_arg, qos_arg};
use super::error::FfiError;
use super::guard::{guard_or, guard_status, guard_void};
use super::handle::{free_handle, handle_mut, handle_ref, into_handle};
use super::status::mqtt_status;
use crate::broker::{
    Access, AuthRequest, AuthResult, Broker, BrokerEvent, BrokerOptions, BrokerState,
    DisconnectReason, MIN_THREAD_STACK_SIZE, PublishError,
};
use crate::protocol::MAX_REMAINING_LENGTH;

/// Options for `mqtt_broker_new`. Created by `mqtt_broker_options_new` with the defaults below,
/// changed by the setters, released by `mqtt_broker_options_free`. `mqtt_broker_new` copies
/// them, so they may be freed or reused right after. Not thread-safe: do not change one
/// options object from two threads at once.
pub struct mqtt_broker_options {
    inner: BrokerOptions,
}

/// A broker created by `mqtt_broker_new` and released by `mqtt_broker_free`. Every function
/// taking a `mqtt_broker *` is thread-safe, except `mqtt_broker_free`, which must be the last
/// call on the handle.
pub struct mqtt_broker {
    broker: Broker,
}

/// What a client asks to do with a topic, passed to the authorizer callback.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_access {
    /// Publish to the topic name (a PUBLISH packet, or the client's will when it is published).
    Publish = 0,
    /// Subscribe with the topic filter.
    Subscribe = 1,
}

/// The verdict an authenticator callback returns, as an `int`. The values are chosen so a
/// callback written as "return true / false" keeps its meaning: 1 accepts, 0 refuses with CONNACK
/// 0x04. Any value other than these three refuses with 0x05, so a mistake fails closed.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_auth_result {
    /// Refuse with CONNACK 0x04, "bad user name or password".
    BadCredentials = 0,
    /// Accept the connection.
    Accept = 1,
    /// Refuse with CONNACK 0x05, "not authorized".
    NotAuthorized = 2,
}

/// Which connection event `mqtt_broker_event` describes.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_broker_event_kind {
    /// A client's CONNECT was accepted (CONNACK 0x00 sent).
    Connected = 0,
    /// A connection accepted earlier has ended.
    Disconnected = 1,
}

/// Why a connection ended (`MQTT_DISCONNECT_REASON_NONE` for connect events).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_disconnect_reason {
    /// Not a disconnect event.
    None = 0,
    /// The client sent DISCONNECT; its will was discarded.
    ClientDisconnected = 1,
    /// The socket closed or failed without DISCONNECT; the will was published.
    ConnectionLost = 2,
    /// Nothing arrived for 1.5 × the keep-alive; the will was published.
    KeepAliveTimeout = 3,
    /// The client sent a malformed or forbidden packet; the will was published.
    ProtocolViolation = 4,
    /// A new connection with the same client identifier took over; the will was published.
    TakenOver = 5,
    /// The broker is stopping; no will is published.
    BrokerStopping = 6,
}

impl From<DisconnectReason> for mqtt_disconnect_reason {
    fn from(reason: DisconnectReason) -> Self {
        match reason {
            DisconnectReason::ClientDisconnected => mqtt_disconnect_reason::ClientDisconnected,
            DisconnectReason::ConnectionLost => mqtt_disconnect_reason::ConnectionLost,
            DisconnectReason::KeepAliveTimeout => mqtt_disconnect_reason::KeepAliveTimeout,
            DisconnectReason::ProtocolViolation => mqtt_disconnect_reason::ProtocolViolation,
            DisconnectReason::TakenOver => mqtt_disconnect_reason::TakenOver,
            DisconnectReason::BrokerStopping => mqtt_disconnect_reason::BrokerStopping,
        }
    }
}

/// A connection event, passed to the event callback. Every pointer in it is valid only during
/// the callback; copy what you keep.
#[repr(C)]
pub struct mqtt_broker_event {
    pub kind: mqtt_broker_event_kind,
    /// The client identifier (assigned by the broker if the client sent an empty one).
    pub client_id: *const c_char,
    /// The user name the client presented; NULL if none. Always NULL for disconnect events.
    pub username: *const c_char,
    /// The peer's address as "ip:port".
    pub peer: *const c_char,
    /// Connect events: the client's clean-session flag.
    pub clean_session: bool,
    /// Connect events: whether a stored session was resumed (the CONNACK flag).
    pub session_present: bool,
    /// Disconnect events: why the connection ended.
    pub reason: mqtt_disconnect_reason,
    /// Disconnect events: the reason in words; NULL for connect events.
    pub reason_text: *const c_char,
}

/// A snapshot of a broker's counters, filled by `mqtt_broker_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct mqtt_broker_statistics {
    /// Clients connected now.
    pub clients_connected: u64,
    /// Sockets accepted since start, refused ones included.
    pub connections_accepted: u64,
    /// Sessions held: connected clients plus stored persistent sessions.
    pub sessions: u64,
    /// Subscriptions held across all sessions.
    pub subscriptions: u64,
    /// Retained messages stored.
    pub retained_messages: u64,
    /// Messages received from clients or published by the host.
    pub messages_received: u64,
    /// PUBLISH packets sent to clients, resends included.
    pub messages_sent: u64,
    /// Messages discarded: a session's queue was full (slow or absent subscriber), or QoS 0 for
    /// an absent client.
    pub messages_dropped: u64,
}

/// Decides whether a client may connect. Returns an `mqtt_auth_result` value as an `int`.
/// `username` and `password` are NULL when the client sent none (`password_len` is then 0); the
/// password is binary and not NUL-terminated. The strings are valid only during the call.
pub type mqtt_broker_authenticator = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        client_id: *const c_char,
        username: *const c_char,
        password: *const u8,
        password_len: usize,
    ) -> c_int,
>;

/// Decides whether a client may publish to `topic` (a topic name) or subscribe with it (a topic
/// filter). Returning false refuses: a subscription gets return code 0x80 in SUBACK, a PUBLISH is
/// acknowledged as usual but not forwarded ([MQTT-3.3.5-2]). `username` is NULL when the client
/// sent none. The strings are valid only during the call.
pub type mqtt_broker_authorizer = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        client_id: *const c_char,
        username: *const c_char,
        topic: *const c_char,
        access: mqtt_access,
    ) -> bool,
>;

/// Receives connect and disconnect events. `event` and its strings are valid only during the
/// call.
pub type mqtt_broker_event_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const mqtt_broker_event)>;

/// Creates broker options with the defaults: bind address 127.0.0.1, at most 1024 connections,
/// packets up to 16 MiB, 10000 queued messages and 4096 in-flight messages per session, a 10 s
/// connect timeout, persistent sessions kept until the broker stops, 128 KiB connection-thread
/// stacks, idle connections parked after 500 ms, no authenticator, authorizer or event callback.
///
/// Returns a new object owned by the caller (release it with `mqtt_broker_options_free`), or NULL
/// with `MQTT_STATUS_PANIC` if it could not be created. Does not block.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_broker_options_new() -> *mut mqtt_broker_options {
    guard_or(ptr::null_mut(), || {
        Ok(into_handle(mqtt_broker_options {
            inner: BrokerOptions::default(),
        }))
    })
}

/// Releases options created by `mqtt_broker_options_new`. NULL is a no-op. Brokers created from
/// them are unaffected (they hold a copy).
///
/// # Safety
/// `opts` is NULL or a live options object, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_free(opts: *mut mqtt_broker_options) {
    // SAFETY: per the caller, NULL or a handle from mqtt_broker_options_new.
    guard_void(|| unsafe { free_handle(opts) });
}

/// Applies `change` to the options behind `opts`.
///
/// # Safety
/// `opts` is NULL or a live options object not used concurrently.
unsafe fn with_options(
    opts: *mut mqtt_broker_options,
    change: impl FnOnce(&mut BrokerOptions) -> Result<(), FfiError>,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: forwarded to the caller.
        let opts = unsafe { handle_mut(opts, "opts") }?;
        change(&mut opts.inner)
    })
}

fn at_least(name: &str, value: usize, minimum: usize) -> Result<usize, FfiError> {
    if value < minimum {
        Err(FfiError::invalid_argument(format!(
            "{name} must be at least {minimum}, not {value}"
        )))
    } else {
        Ok(value)
    }
}

/// Sets the address to listen on: an IPv4 or IPv6 address or a host name, resolved when the
/// broker starts (default "127.0.0.1"; "0.0.0.0" listens on every interface). The string is
/// copied.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8`, or
/// `MQTT_STATUS_INVALID_ARGUMENT` for an empty address.
///
/// # Safety
/// `opts` is NULL or a live options object; `address` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_bind_address(
    opts: *mut mqtt_broker_options,
    address: *const c_char,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        // SAFETY: NULL or a NUL-terminated string per the caller.
        let address = unsafe { c_str_arg(address, "address") }?;
        if address.is_empty() {
            return Err(FfiError::invalid_argument("address is empty"));
        }
        o.bind_address = address.to_owned();
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets how many connections are served at once (default 1024, at least 1). A client beyond it
/// receives CONNACK 0x03 (server unavailable) and is closed.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_max_connections(
    opts: *mut mqtt_broker_options,
    max_connections: usize,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.max_connections = at_least("max_connections", max_connections, 1)?;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets the largest packet accepted from a client, fixed header included (default 16 MiB;
/// between 16 bytes and 268,435,460). A client sending a larger one is disconnected before any
/// memory is reserved for it.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_max_packet_size(
    opts: *mut mqtt_broker_options,
    max_packet_size: usize,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        let size = at_least("max_packet_size", max_packet_size, 16)?;
        if size > MAX_REMAINING_LENGTH + 5 {
            return Err(FfiError::invalid_argument(format!(
                "max_packet_size must be at most {}, not {size}",
                MAX_REMAINING_LENGTH + 5
            )));
        }
        o.max_packet_size = size;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets how many messages may wait for one session (default 10000, at least 1): for a connected
/// subscriber that reads slowly, and for an absent client with a persistent session. Messages
/// beyond it are dropped and counted in `messages_dropped`; publishers never wait.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_max_queued_messages(
    opts: *mut mqtt_broker_options,
    max_queued: usize,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.max_queued_messages = at_least("max_queued", max_queued, 1)?;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets how many QoS 1 and 2 messages may be sent to one client and not yet acknowledged
/// (default 4096; between 1 and 65535).
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_max_inflight_messages(
    opts: *mut mqtt_broker_options,
    max_inflight: usize,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        let n = at_least("max_inflight", max_inflight, 1)?;
        if n > usize::from(u16::MAX) {
            return Err(FfiError::invalid_argument(format!(
                "max_inflight must be at most 65535, not {n}"
            )));
        }
        o.max_inflight_messages = n;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets how long a new socket may take to send its CONNECT before it is closed, in milliseconds
/// (default 10000, at least 1).
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_connect_timeout_ms(
    opts: *mut mqtt_broker_options,
    timeout_ms: u32,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        at_least("timeout_ms", timeout_ms as usize, 1)?;
        o.connect_timeout = Duration::from_millis(u64::from(timeout_ms));
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets how long a persistent session (clean session 0) is kept after its client disconnects,
/// in seconds; 0 (the default) keeps it until the broker stops, as MQTT 3.1.1 specifies.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_session_expiry_s(
    opts: *mut mqtt_broker_options,
    expiry_s: u64,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.session_expiry = (expiry_s > 0).then(|| Duration::from_secs(expiry_s));
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets the stack size of each connection thread in bytes (default 131072; at least 32768).
/// Callbacks run on these threads: raise it if yours need deep stacks. Only the pages a thread
/// touches use memory.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_thread_stack_size(
    opts: *mut mqtt_broker_options,
    stack_size: usize,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.thread_stack_size = at_least("stack_size", stack_size, MIN_THREAD_STACK_SIZE)?;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets after how many milliseconds without traffic a connection gives up its thread and waits
/// in the broker's parking lot (one epoll thread) until a packet, a delivery or its keep-alive
/// deadline needs it again (default 500); 0 keeps one thread per connection throughout. Parked
/// connections cost far less memory than threads; resuming one costs a thread start.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_park_idle_after_ms(
    opts: *mut mqtt_broker_options,
    idle_ms: u32,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.park_idle_after = (idle_ms > 0).then(|| Duration::from_millis(u64::from(idle_ms)));
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Converts a string the broker produced (never holding NUL) for a callback.
fn callback_string(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// Sets the authenticator, called once per CONNECT before the client is accepted; NULL `cb`
/// removes it (everyone is accepted). `cb` returns an `mqtt_auth_result` value:
/// `MQTT_AUTH_RESULT_ACCEPT` (1), `MQTT_AUTH_RESULT_BAD_CREDENTIALS` (0, CONNACK 0x04) or
/// `MQTT_AUTH_RESULT_NOT_AUTHORIZED` (2, CONNACK 0x05); any other value refuses with 0x05.
///
/// Threads: `cb` runs on the connection's own thread, concurrently with other connections'
/// callbacks, so it must be thread-safe; `userdata` is passed back untouched. While `cb` runs
/// that client waits, no other. `cb` may call `mqtt_broker_publish`, `mqtt_broker_stats`,
/// `mqtt_broker_port` and `mqtt_broker_stop` (which then only starts the stop and returns at
/// once); it must not call `mqtt_broker_free` or `mqtt_broker_wait` on its own broker.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
///
/// # Safety
/// `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
/// from any thread for as long as a broker created from these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_authenticator(
    opts: *mut mqtt_broker_options,
    cb: mqtt_broker_authenticator,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    let change = |o: &mut BrokerOptions| {
        o.authenticator = cb.map(|cb| {
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
                    v if v == mqtt_auth_result::BadCredentials as c_int => {
                        AuthResult::BadCredentials
                    }
                    _ => AuthResult::NotAuthorized,
                }
            }) as crate::broker::Authenticator
        });
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets the authorizer, called for every topic filter in a SUBSCRIBE, every PUBLISH a client
/// sends and every will about to be published; NULL `cb` removes it (everything is allowed).
///
/// Threads: `cb` runs on the connection threads, concurrently, for every message a client
/// publishes, so keep it fast and thread-safe. It may call `mqtt_broker_publish`,
/// `mqtt_broker_stats`, `mqtt_broker_port` and `mqtt_broker_stop` (which then only starts the stop
/// and returns at once); it must not call `mqtt_broker_free` or `mqtt_broker_wait` on its own
/// broker.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
///
/// # Safety
/// `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
/// from any thread for as long as a broker created from these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_authorizer(
    opts: *mut mqtt_broker_options,
    cb: mqtt_broker_authorizer,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    let change = |o: &mut BrokerOptions| {
        o.authorizer = cb.map(|cb| {
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
            ) as crate::broker::Authorizer
        });
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets the event callback, told of every accepted connection and of its end; NULL `cb`
/// removes it.
///
/// Threads: `cb` runs on a broker thread, concurrently with other connections' callbacks: the
/// connection's own thread, the listener or parking thread for a connect accepted as soon as it
/// arrived, or the parking thread for a parked connection closed by `mqtt_broker_stop` (for
/// disconnects caused by the stop it runs while the stop is in progress). Keep it short: while it
/// runs on the listener or parking thread, no new connection is accepted and no parked one
/// resumed.
/// It may call `mqtt_broker_publish`, `mqtt_broker_stats`, `mqtt_broker_port` and
/// `mqtt_broker_stop` (which then only starts the stop and returns at once); it must not call
/// `mqtt_broker_free` or `mqtt_broker_wait` on its own broker.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
///
/// # Safety
/// `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
/// from any thread for as long as a broker created from these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_event_callback(
    opts: *mut mqtt_broker_options,
    cb: mqtt_broker_event_callback,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    let change = |o: &mut BrokerOptions| {
        o.event_hook = cb.map(|cb| {
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
            }) as crate::broker::EventHook
        });
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

fn port_arg(port: &str) -> Result<u16, FfiError> {
    port.trim().parse::<u16>().map_err(|_| {
        FfiError::invalid_argument(format!(
            "port must be a number from 0 to 65535, not {port:?}"
        ))
    })
}

/// Creates a broker that will listen on `port` (a decimal string such as "1883"; "0" picks a
/// free port, see `mqtt_broker_port`) with `opts`, or the defaults when `opts` is NULL. The
/// options are copied. Nothing listens until `mqtt_broker_start`. Does not block.
///
/// Returns a new broker owned by the caller (release it with `mqtt_broker_free`), or NULL with
/// `MQTT_STATUS_NULL_ARGUMENT` (NULL `port`), `MQTT_STATUS_INVALID_UTF8` or
/// `MQTT_STATUS_INVALID_ARGUMENT` (not a port number) in `mqtt_last_status()`.
///
/// # Safety
/// `port` is NULL or a NUL-terminated string; `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_new(
    port: *const c_char,
    opts: *const mqtt_broker_options,
) -> *mut mqtt_broker {
    guard_or(ptr::null_mut(), || {
        // SAFETY: the caller passes a NUL-terminated string or NULL.
        let port = port_arg(unsafe { c_str_arg(port, "port") }?)?;
        let mut options = if opts.is_null() {
            BrokerOptions::default()
        } else {
            // SAFETY: non-NULL, and live per the caller.
            unsafe { handle_ref(opts, "opts") }?.inner.clone()
        };
        options.port = port;
        Ok(into_handle(mqtt_broker {
            broker: Broker::new(options),
        }))
    })
}

/// Binds the listening socket and starts serving on the broker's own threads (a listener thread
/// and one thread per connection). Blocks only until the socket is listening: clients may
/// connect as soon as this returns.
///
/// Returns `MQTT_STATUS_OK`; `MQTT_STATUS_ADDRESS_IN_USE` if the port is taken;
/// `MQTT_STATUS_RESOLVE` or `MQTT_STATUS_IO` if the address cannot be resolved or bound;
/// `MQTT_STATUS_ALREADY_RUNNING` if it is running; `MQTT_STATUS_INVALID_STATE` if it was stopped
/// (a stopped broker cannot be restarted); `MQTT_STATUS_NULL_ARGUMENT` for NULL.
///
/// # Safety
/// `broker` is NULL or a live broker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_start(broker: *mut mqtt_broker) -> mqtt_status {
    guard_status(|| {
        // SAFETY: NULL or live per the caller.
        let broker = &unsafe { handle_ref(broker, "broker") }?.broker;
        match broker.state() {
            BrokerState::Created => {}
            BrokerState::Running => {
                return Err(FfiError::new(
                    mqtt_status::AlreadyRunning,
                    "the broker is already running",
                ));
            }
            BrokerState::Stopped => {
                return Err(FfiError::new(
                    mqtt_status::InvalidState,
                    "the broker was stopped; a stopped broker cannot be restarted",
                ));
            }
        }
        broker.start().map_err(|e| {
            let address = format!(
                "{}:{}",
                broker.options().bind_address,
                broker.options().port
            );
            let base = FfiError::from(e);
            FfiError::new(base.status(), format!("cannot listen on {address}: {base}"))
        })
    })
}

/// The port the broker listens on: the one it was created with, or the one the system chose for
/// port "0". 0 before `mqtt_broker_start` succeeded, or for NULL (with
/// `MQTT_STATUS_NULL_ARGUMENT`). Stays valid after stop. Does not block; thread-safe.
///
/// # Safety
/// `broker` is NULL or a live broker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_port(broker: *const mqtt_broker) -> u16 {
    guard_or(0, || {
        // SAFETY: NULL or live per the caller.
        Ok(unsafe { handle_ref(broker, "broker") }?.broker.port())
    })
}

/// Stops the broker: closes the listening socket and every client connection (no wills are
/// published), and blocks until all its threads have finished. Stored sessions and retained
/// messages are discarded with the broker. Idempotent: stopping a stopped or never-started
/// broker returns `MQTT_STATUS_OK` at once. Called from one of the broker's own callbacks it
/// starts the stop and returns at once (a thread cannot wait for itself).
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `broker` is NULL or a live broker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_stop(broker: *mut mqtt_broker) -> mqtt_status {
    guard_status(|| {
        // SAFETY: NULL or live per the caller.
        unsafe { handle_ref(broker, "broker") }?.broker.stop();
        Ok(())
    })
}

/// Blocks the calling thread until the broker has stopped (by `mqtt_broker_stop` from another
/// thread or a callback). Returns at once if the broker is not running. Must not be called from
/// the broker's own callbacks.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `broker` is NULL or a live broker, not freed while this waits.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_wait(broker: *mut mqtt_broker) -> mqtt_status {
    guard_status(|| {
        // SAFETY: NULL or live per the caller.
        unsafe { handle_ref(broker, "broker") }?.broker.wait();
        Ok(())
    })
}

/// Stops the broker if it is running (blocking as `mqtt_broker_stop` does) and releases it.
/// NULL is a no-op. Must not be called from the broker's own callbacks.
///
/// # Safety
/// `broker` is NULL or a live broker, not used afterwards by any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_free(broker: *mut mqtt_broker) {
    // SAFETY: per the caller, NULL or a handle from mqtt_broker_new used by no one else.
    guard_void(|| unsafe { free_handle(broker) });
}

/// Publishes a message into the broker as if a client had sent it: it reaches every matching
/// subscription (at min(qos, granted QoS)), and with `retain` it replaces the topic's retained
/// message (an empty payload deletes it). `payload` may be NULL when `len` is 0; topic and
/// payload are copied. Works whether or not the broker is running. Never blocks on subscribers:
/// a full session queue drops the message for that session and counts it.
///
/// Thread-safe, including from the broker's own callbacks.
///
/// Returns `MQTT_STATUS_OK`; `MQTT_STATUS_INVALID_TOPIC` if `topic` is not a valid topic name
/// (empty, wildcards); `MQTT_STATUS_INVALID_QOS`; `MQTT_STATUS_TOO_LARGE` if it cannot fit in a
/// PUBLISH packet; `MQTT_STATUS_NULL_ARGUMENT`; `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `broker` is NULL or a live broker; `topic` is NULL or a NUL-terminated string; `payload` is
/// NULL or points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_publish(
    broker: *mut mqtt_broker,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    qos: c_int,
    retain: bool,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live broker, a NUL-terminated topic and `len` bytes, or
        // NULL.
        let (broker, topic, payload) = unsafe {
            (
                handle_ref(broker, "broker")?,
                c_str_arg(topic, "topic")?,
                bytes_arg(payload, len, "payload")?,
            )
        };
        let qos = qos_arg(qos)?;
        broker
            .broker
            .publish(topic, payload, qos, retain)
            .map_err(|e| match e {
                PublishError::InvalidTopic(t) => FfiError::invalid_topic("topic", t),
                PublishError::PayloadTooLarge(_) => {
                    FfiError::new(mqtt_status::TooLarge, e.to_string())
                }
            })
    })
}

/// Fills `*out` with a snapshot of the broker's counters. Does not block; thread-safe, including
/// from callbacks.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`; `*out` is written only on success.
///
/// # Safety
/// `broker` is NULL or a live broker; `out` is NULL or points to a writable
/// `mqtt_broker_statistics`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_stats(
    broker: *const mqtt_broker,
    out: *mut mqtt_broker_statistics,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: NULL or live/writable per the caller.
        let (broker, out) = unsafe { (handle_ref(broker, "broker")?, out_arg(out, "out")?) };
        let s = broker.broker.stats();
        out.write(mqtt_broker_statistics {
            clients_connected: s.clients_connected,
            connections_accepted: s.connections_accepted,
            sessions: s.sessions,
            subscriptions: s.subscriptions,
            retained_messages: s.retained_messages,
            messages_received: s.messages_received,
            messages_sent: s.messages_sent,
            messages_dropped: s.messages_dropped,
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_strings() {
        assert_eq!(port_arg("1883"), Ok(1883));
        assert_eq!(port_arg("0"), Ok(0));
        for bad in ["", "x", "65536", "-1", "18 83"] {
            assert_eq!(
                port_arg(bad).unwrap_err().status(),
                mqtt_status::InvalidArgument
            );
        }
    }
}
