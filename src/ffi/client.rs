//! C bindings of the blocking client (`mqtt_connect`, `mqtt_connection_*`, ...).
//!
//! A thin layer over [`crate::client::Client`]: arguments are checked and converted, errors
//! become statuses, C callbacks are wrapped into Rust closures.

#![allow(non_camel_case_types, reason = "C names, as they appear in the header")]

use std::ffi::{CString, c_char, c_int, c_void};
use std::time::Duration;

use super::args::{UserData, bytes_arg, c_str_arg, opt_c_str_arg, out_arg, qos_arg};
use super::error::FfiError;
use super::guard::{guard_or, guard_status, guard_void};
use super::handle::{free_handle, handle_mut, handle_ref, into_handle};
use super::status::mqtt_status;
use crate::client::{Client, ClientError, ConnectOptions, Message, PublishOutcome, Will};
use crate::protocol::{PacketId, ProtocolLevel};

impl From<ClientError> for FfiError {
    fn from(error: ClientError) -> Self {
        let message = error.to_string();
        let status = match error {
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
            ClientError::Io(e) => return FfiError::from(e),
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

/// An open (or closed, but not yet freed) connection to a broker. Every function taking a
/// `mqtt_connection *` may be called from any thread at the same time, and from inside a message
/// callback, except `mqtt_connection_free`.
pub struct mqtt_connection {
    client: Client,
    client_id: CString,
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
/// (QoS 1) or PUBCOMP (QoS 2) arrived, `MQTT_STATUS_CLOSED` when a clean-session
/// `mqtt_reconnect` discarded it unacknowledged (it may or may not have been delivered).
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

/// A timeout in milliseconds from C: -1 means "no timeout".
fn timeout_arg(timeout_ms: c_int, name: &str) -> Result<Option<Duration>, FfiError> {
    match timeout_ms {
        -1 => Ok(None),
        ms if ms >= 0 => Ok(Some(Duration::from_millis(ms as u64))),
        ms => Err(FfiError::invalid_argument(format!(
            "{name} must be -1 (no timeout) or at least 0, not {ms}"
        ))),
    }
}

/// A strictly positive timeout in milliseconds.
fn positive_ms(timeout_ms: c_int, name: &str) -> Result<Duration, FfiError> {
    if timeout_ms <= 0 {
        return Err(FfiError::invalid_argument(format!(
            "{name} must be above 0 ms, not {timeout_ms}"
        )));
    }
    Ok(Duration::from_millis(timeout_ms as u64))
}

fn packet_id_arg(packet_id: u16) -> Result<PacketId, FfiError> {
    PacketId::new(packet_id)
        .ok_or_else(|| FfiError::invalid_argument("packet_id 0 never names a QoS 1 or 2 publish"))
}

/// New connection settings with the defaults: generated client id, clean session, keep-alive
/// 60 s, no user name, password or will, connect timeout 30 s, operation timeout 30 s,
/// protocol level 4 (MQTT 3.1.1), at most 1024 QoS 1/2 publishes in flight. Release with
/// `mqtt_connect_options_free`. Returns NULL only if memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_connect_options_new() -> *mut mqtt_connect_options {
    guard_or(std::ptr::null_mut(), || {
        Ok(into_handle(mqtt_connect_options {
            options: ConnectOptions::default(),
        }))
    })
}

/// Releases settings made by `mqtt_connect_options_new`. NULL is a no-op.
///
/// # Safety
/// `options` is NULL or a pointer from `mqtt_connect_options_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_free(options: *mut mqtt_connect_options) {
    // SAFETY: the caller passes a live handle or NULL.
    guard_void(|| unsafe { free_handle(options) })
}

/// Runs `change` on the options behind `options`.
///
/// # Safety
/// `options` is NULL or a live handle from `mqtt_connect_options_new`.
unsafe fn with_options(
    options: *mut mqtt_connect_options,
    change: impl FnOnce(&mut ConnectOptions) -> Result<(), FfiError>,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: forwarded to the caller.
        let options = unsafe { handle_mut(options, "options") }?;
        change(&mut options.options)
    })
}

/// Sets the client identifier (copied). NULL restores the default: an id generated at connect
/// time, at most 23 characters. An empty string sends an empty id, which is allowed only with a
/// clean session ([MQTT-3.1.3-7]): with clean session off, `mqtt_connect` fails with
/// `MQTT_STATUS_INVALID_ARGUMENT` before connecting.
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
/// `MQTT_STATUS_INVALID_UTF8` when `client_id` is not UTF-8.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `client_id` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_client_id(
    options: *mut mqtt_connect_options,
    client_id: *const c_char,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle and a string or NULL.
    unsafe {
        with_options(options, |o| {
            o.client_id = opt_c_str_arg(client_id, "client_id")?.map(str::to_owned);
            Ok(())
        })
    }
}

/// Sets whether the broker discards the session at connect and disconnect (default true). With
/// `false`, subscriptions and QoS 1/2 messages are kept while the client is away.
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_clean_session(
    options: *mut mqtt_connect_options,
    clean_session: bool,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            o.clean_session = clean_session;
            Ok(())
        })
    }
}

/// Sets the keep-alive in seconds, 0..65535 (default 60; 0 turns it off). While a thread reads
/// the connection (the loop thread or a blocking call), PINGREQ goes out whenever nothing was
/// sent for this long, and a missing PINGRESP one period later closes the connection.
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
/// `MQTT_STATUS_INVALID_ARGUMENT` when `seconds` is outside 0..65535.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_keep_alive(
    options: *mut mqtt_connect_options,
    seconds: c_int,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            let seconds = u16::try_from(seconds).map_err(|_| {
                FfiError::invalid_argument(format!("keep-alive must be 0..65535 s, not {seconds}"))
            })?;
            o.keep_alive = Duration::from_secs(seconds.into());
            Ok(())
        })
    }
}

/// Sets the user name (copied); NULL removes user name and password.
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
/// `MQTT_STATUS_INVALID_UTF8` when `username` is not UTF-8.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `username` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_username(
    options: *mut mqtt_connect_options,
    username: *const c_char,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle and a string or NULL.
    unsafe {
        with_options(options, |o| {
            o.username = opt_c_str_arg(username, "username")?.map(str::to_owned);
            if o.username.is_none() {
                o.password = None;
            }
            Ok(())
        })
    }
}

/// Sets the password: `len` bytes, binary (copied). NULL removes it. A password needs a user
/// name ([MQTT-3.1.2-22]); `mqtt_connect` fails with `MQTT_STATUS_INVALID_ARGUMENT` otherwise.
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `password` is NULL or points to `len`
/// readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_password(
    options: *mut mqtt_connect_options,
    password: *const u8,
    len: usize,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle and a buffer or NULL.
    unsafe {
        with_options(options, |o| {
            o.password = if password.is_null() {
                None
            } else {
                Some(bytes_arg(password, len, "password")?.to_vec())
            };
            Ok(())
        })
    }
}

/// Sets the will: the message the broker publishes on `topic` if the connection ends without
/// `mqtt_disconnect` (including `mqtt_connection_free` on an open connection). Topic and
/// payload are copied; `qos` is 0, 1 or 2. A NULL topic removes the will.
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL
/// (or `payload` is NULL with `len` above 0), `MQTT_STATUS_INVALID_UTF8`, `MQTT_STATUS_INVALID_TOPIC`
/// (a wildcard, empty topic or U+0000), `MQTT_STATUS_INVALID_QOS` (not 0..2).
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `topic` is NULL or a NUL-terminated
/// string; `payload` is NULL (only with `len` 0) or points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_will(
    options: *mut mqtt_connect_options,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    qos: c_int,
    retain: bool,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle, a string or NULL and a buffer.
    unsafe {
        with_options(options, |o| {
            let Some(topic) = opt_c_str_arg(topic, "topic")? else {
                o.will = None;
                return Ok(());
            };
            crate::topic::TopicName::validate(topic)
                .map_err(|e| FfiError::invalid_topic("will topic", e))?;
            o.will = Some(Will {
                topic: topic.to_owned(),
                payload: bytes_arg(payload, len, "payload")?.to_vec(),
                qos: qos_arg(qos)?,
                retain,
            });
            Ok(())
        })
    }
}

/// Sets how long `mqtt_connect` may take in all — resolving, TCP connect, CONNACK — in
/// milliseconds, above 0 (default 30000).
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
/// `MQTT_STATUS_INVALID_ARGUMENT` when `timeout_ms` is not above 0.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_connect_timeout(
    options: *mut mqtt_connect_options,
    timeout_ms: c_int,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            o.connect_timeout = positive_ms(timeout_ms, "timeout_ms")?;
            Ok(())
        })
    }
}

/// Sets how long `mqtt_subscribe`, `mqtt_unsubscribe`, `mqtt_publish` (QoS 1/2), `mqtt_ping` and
/// a `mqtt_publish_async` waiting for window space wait, and how long a write may stay blocked
/// before the connection counts as lost, in milliseconds, above 0 (default 30000).
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
/// `MQTT_STATUS_INVALID_ARGUMENT` when `timeout_ms` is not above 0.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_operation_timeout(
    options: *mut mqtt_connect_options,
    timeout_ms: c_int,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            o.operation_timeout = positive_ms(timeout_ms, "timeout_ms")?;
            Ok(())
        })
    }
}

/// Sets the protocol level: 4 for MQTT 3.1.1 (default) or 3 for MQTT 3.1 ("MQIsdp").
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
/// `MQTT_STATUS_INVALID_ARGUMENT` for a level other than 3 or 4.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_protocol_level(
    options: *mut mqtt_connect_options,
    level: c_int,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            o.protocol = match level {
                3 => ProtocolLevel::V31,
                4 => ProtocolLevel::V311,
                other => {
                    return Err(FfiError::invalid_argument(format!(
                        "protocol level must be 3 or 4, not {other}"
                    )));
                }
            };
            Ok(())
        })
    }
}

/// Sets how many QoS 1 and 2 publishes may await acknowledgement at once, 1..65535 (default
/// 1024); `mqtt_publish_async` blocks while that many are in flight.
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
/// `MQTT_STATUS_INVALID_ARGUMENT` outside 1..65535.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_max_inflight(
    options: *mut mqtt_connect_options,
    max_inflight: c_int,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            o.max_inflight = u16::try_from(max_inflight)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    FfiError::invalid_argument(format!(
                        "max_inflight must be 1..65535, not {max_inflight}"
                    ))
                })?;
            Ok(())
        })
    }
}

/// Makes the loop thread reconnect by itself when the connection is lost (not after
/// `mqtt_disconnect`), as `mqtt_reconnect` would, like libmosquitto's loop: it waits `delay_ms`
/// before the first attempt and doubles the wait after each failed one, up to `max_delay_ms`,
/// until it succeeds or `mqtt_loop_stop`, `mqtt_disconnect` or `mqtt_connection_free` stops it
/// (each may then wait for an attempt under way, at most the connect timeout). Only the loop
/// thread reconnects by itself; without it, call `mqtt_reconnect`. `delay_ms` 0 turns it off
/// (the default); otherwise `0 < delay_ms <= max_delay_ms`, else
/// `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_auto_reconnect(
    options: *mut mqtt_connect_options,
    delay_ms: c_int,
    max_delay_ms: c_int,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            if delay_ms == 0 {
                o.reconnect_delay = None;
                return Ok(());
            }
            if delay_ms < 0 || max_delay_ms < delay_ms {
                return Err(FfiError::invalid_argument(format!(
                    "reconnect delays must satisfy 0 < delay_ms <= max_delay_ms, not {delay_ms} \
                     and {max_delay_ms}"
                )));
            }
            o.reconnect_delay = Some(Duration::from_millis(delay_ms as u64));
            o.reconnect_delay_max = Duration::from_millis(max_delay_ms as u64);
            Ok(())
        })
    }
}

/// The shared body of `mqtt_connect` and `mqtt_connect_ex`.
///
/// # Safety
/// As for `mqtt_connect`.
unsafe fn open_connection(
    host: *const c_char,
    port: *const c_char,
    options: *const mqtt_connect_options,
) -> Result<*mut mqtt_connection, FfiError> {
    // SAFETY: the caller passes strings and a handle or NULL.
    let (host, port_text) = unsafe { (c_str_arg(host, "host")?, c_str_arg(port, "port")?) };
    let port = port_text
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| {
            FfiError::invalid_argument(format!("port must be a number 1..65535, not {port_text:?}"))
        })?;
    let defaults = ConnectOptions::default();
    let options = if options.is_null() {
        &defaults
    } else {
        // SAFETY: non-NULL, so a live handle per the caller.
        &unsafe { handle_ref(options, "options") }?.options
    };
    let client = Client::connect(host, port, options)?;
    let client_id = CString::new(client.client_id())
        .map_err(|_| FfiError::invalid_argument("client id contains a NUL byte"))?;
    Ok(into_handle(mqtt_connection { client, client_id }))
}

/// Connects to the broker at `host` (a name, an IPv4 or an IPv6 address) and `port` (a decimal
/// string such as "1883"), sends CONNECT and waits for CONNACK. Blocks at most the connect
/// timeout (30 s unless set). `options` may be NULL for the defaults; it is only read.
///
/// Returns the connection, to be released with `mqtt_connection_free`, or NULL on failure with
/// `mqtt_last_status()` / `mqtt_last_error()` telling why: `MQTT_STATUS_RESOLVE`,
/// `MQTT_STATUS_IO` (no address accepted the TCP connection), `MQTT_STATUS_TIMEOUT`, one of the
/// `MQTT_STATUS_REFUSED_*` codes (the broker's CONNACK refusal; `mqtt_last_error()` gives its
/// reason), `MQTT_STATUS_PROTOCOL_ERROR`, `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `host` and `port` are NUL-terminated strings (or NULL, an error); `options` is NULL or a
/// handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect(
    host: *const c_char,
    port: *const c_char,
    options: *const mqtt_connect_options,
) -> *mut mqtt_connection {
    // SAFETY: forwarded to the caller.
    guard_or(std::ptr::null_mut(), || unsafe {
        open_connection(host, port, options)
    })
}

/// `mqtt_connect` returning its status directly: on `MQTT_STATUS_OK` `*connection` receives the
/// new connection; on failure it is left untouched.
///
/// # Safety
/// As for `mqtt_connect`; `connection` points to a writable `mqtt_connection *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_ex(
    host: *const c_char,
    port: *const c_char,
    options: *const mqtt_connect_options,
    connection: *mut *mut mqtt_connection,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: forwarded to the caller.
        let out = unsafe { out_arg(connection, "connection") }?;
        // SAFETY: forwarded to the caller.
        out.write(unsafe { open_connection(host, port, options) }?);
        Ok(())
    })
}

/// Borrows the connection behind a handle.
///
/// # Safety
/// `connection` is NULL or a live handle from `mqtt_connect`.
unsafe fn connection_arg<'a>(connection: *const mqtt_connection) -> Result<&'a Client, FfiError> {
    // SAFETY: forwarded to the caller.
    Ok(&unsafe { handle_ref(connection, "connection") }?.client)
}

/// Subscribes to `filter` with the requested `qos` (0, 1 or 2) and waits for SUBACK (at most
/// the operation timeout). `callback` is called with `userdata` for every message whose most
/// specific matching filter (among this connection's subscriptions) is `filter`: when several
/// filters match a topic, only one callback runs, chosen by
/// 1. more literal (non-wildcard) levels: `a/b/+` beats `a/+/+`;
/// 2. then no `#` beats `#`: `a/+` beats `a/#`, `a/b` beats `a/b/#`;
/// 3. then the first differing level from the left: literal beats `+` beats `#`.
///
/// Subscribing again to the same filter replaces its callback. The callback is registered
/// before SUBSCRIBE is sent, so retained messages are not missed, and removed again on failure.
/// On success the granted QoS is stored in `*granted_qos` (may be NULL).
///
/// Returns `MQTT_STATUS_SUBSCRIBE_FAILED` if the broker refused (SUBACK 0x80),
/// `MQTT_STATUS_INVALID_TOPIC`, `MQTT_STATUS_INVALID_QOS`, `MQTT_STATUS_TIMEOUT`,
/// `MQTT_STATUS_CLOSED`. Messages arriving while it waits are dispatched, not lost.
///
/// # Safety
/// `connection` is a live handle; `filter` a NUL-terminated string; `granted_qos` NULL or a
/// writable int; `userdata` is passed back untouched, from the thread documented at
/// `mqtt_message_callback`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_subscribe(
    connection: *const mqtt_connection,
    filter: *const c_char,
    qos: c_int,
    callback: mqtt_message_callback,
    userdata: *mut c_void,
    granted_qos: *mut c_int,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle, a string and an int pointer or NULL.
        let (client, filter) =
            unsafe { (connection_arg(connection)?, c_str_arg(filter, "filter")?) };
        let granted_out = if granted_qos.is_null() {
            None
        } else {
            // SAFETY: non-NULL, so writable per the caller.
            Some(unsafe { out_arg(granted_qos, "granted_qos") }?)
        };
        let qos = qos_arg(qos)?;
        let callback = callback.ok_or_else(|| FfiError::null_argument("callback"))?;
        let userdata = UserData::new(userdata);
        let granted = client.subscribe(filter, qos, move |m| {
            deliver_to_c(callback, userdata, m);
        })?;
        if let Some(out) = granted_out {
            out.write(granted as c_int);
        }
        Ok(())
    })
}

/// Where an empty payload points, so C never sees NULL.
static EMPTY_PAYLOAD: [u8; 1] = [0];

/// Topics up to this length are NUL-terminated on the stack; longer ones are copied to the heap.
const STACK_TOPIC: usize = 256;

fn deliver_to_c(
    callback: unsafe extern "C" fn(*mut c_void, *const mqtt_message),
    userdata: UserData,
    m: &Message<'_>,
) {
    let mut stack = [0u8; STACK_TOPIC];
    let heap: Vec<u8>;
    let topic: &[u8] = if m.topic.len() < STACK_TOPIC {
        stack[..m.topic.len()].copy_from_slice(m.topic.as_bytes());
        &stack[..=m.topic.len()]
    } else {
        heap = [m.topic.as_bytes(), &[0]].concat();
        &heap
    };
    let message = mqtt_message {
        topic: topic.as_ptr().cast(),
        topic_len: m.topic.len(),
        payload: if m.payload.is_empty() {
            EMPTY_PAYLOAD.as_ptr()
        } else {
            m.payload.as_ptr()
        },
        payload_len: m.payload.len(),
        qos: m.qos as c_int,
        retain: m.retain,
        dup: m.dup,
    };
    // SAFETY: the C caller of mqtt_subscribe supplied this function for exactly this call; the
    // message and everything it points to live until it returns.
    unsafe { callback(userdata.as_ptr(), &message) };
}

/// Unsubscribes from `filter` (exactly as subscribed), waits for UNSUBACK (at most the operation
/// timeout), then removes its callback. Messages arriving meanwhile are still dispatched.
/// Returns `MQTT_STATUS_TIMEOUT`, `MQTT_STATUS_CLOSED`, `MQTT_STATUS_INVALID_TOPIC`.
///
/// # Safety
/// `connection` is a live handle; `filter` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_unsubscribe(
    connection: *const mqtt_connection,
    filter: *const c_char,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle and a string.
        let (client, filter) =
            unsafe { (connection_arg(connection)?, c_str_arg(filter, "filter")?) };
        client.unsubscribe(filter)?;
        Ok(())
    })
}

/// Publishes `len` bytes of `payload` (NULL allowed when `len` is 0: an empty message) to
/// `topic` with `qos` 0, 1 or 2 and the retain flag. Blocks: QoS 0 until the packet is handed to
/// the socket; QoS 1 until PUBACK; QoS 2 until PUBCOMP (after PUBREC and PUBREL) — at most the
/// operation timeout (`MQTT_STATUS_TIMEOUT`; the message then stays in flight). Messages
/// arriving meanwhile are dispatched. Returns also `MQTT_STATUS_INVALID_TOPIC`,
/// `MQTT_STATUS_INVALID_QOS`, `MQTT_STATUS_TOO_LARGE`, `MQTT_STATUS_CLOSED`.
///
/// # Safety
/// `connection` is a live handle; `topic` a NUL-terminated string; `payload` NULL (with `len`
/// 0) or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish(
    connection: *const mqtt_connection,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    qos: c_int,
    retain: bool,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle, a string and a buffer.
        let (client, topic, payload) = unsafe {
            (
                connection_arg(connection)?,
                c_str_arg(topic, "topic")?,
                bytes_arg(payload, len, "payload")?,
            )
        };
        client.publish(topic, payload, qos_arg(qos)?, retain)?;
        Ok(())
    })
}

/// Publishes without waiting for the acknowledgement, so many QoS 1/2 messages can be in flight
/// (up to the max-inflight window; while it is full this blocks, at most the operation timeout).
/// `*packet_id` (may be NULL) receives the packet identifier to pass to `mqtt_wait_published`,
/// or 0 for QoS 0. Arguments and statuses as for `mqtt_publish`.
///
/// # Safety
/// As for `mqtt_publish`; `packet_id` is NULL or a writable `uint16_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish_async(
    connection: *const mqtt_connection,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    qos: c_int,
    retain: bool,
    packet_id: *mut u16,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle, a string and a buffer.
        let (client, topic, payload) = unsafe {
            (
                connection_arg(connection)?,
                c_str_arg(topic, "topic")?,
                bytes_arg(payload, len, "payload")?,
            )
        };
        let id_out = if packet_id.is_null() {
            None
        } else {
            // SAFETY: non-NULL, so writable per the caller.
            Some(unsafe { out_arg(packet_id, "packet_id") }?)
        };
        let id = client.publish_async(topic, payload, qos_arg(qos)?, retain)?;
        if let Some(out) = id_out {
            out.write(id.map_or(0, PacketId::get));
        }
        Ok(())
    })
}

/// Waits until the publish with `packet_id` (from `mqtt_publish_async`) is acknowledged — PUBACK
/// for QoS 1, PUBCOMP for QoS 2 — or `timeout_ms` passes (-1 waits for ever). Returns at once if
/// no publish with that identifier is in flight. Messages arriving meanwhile are dispatched.
/// Returns `MQTT_STATUS_TIMEOUT`, `MQTT_STATUS_CLOSED` (the acknowledgement can no longer
/// come), `MQTT_STATUS_INVALID_ARGUMENT` for identifier 0.
///
/// With clean session false, a lost connection does not end the wait: the message stays in the
/// session, `mqtt_reconnect` (from another thread) re-sends it, and the wait ends when that is
/// acknowledged — or at the timeout, or with `MQTT_STATUS_CLOSED` after `mqtt_disconnect`. With
/// clean session true it returns `MQTT_STATUS_CLOSED` as soon as the connection is lost.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_wait_published(
    connection: *const mqtt_connection,
    packet_id: u16,
    timeout_ms: c_int,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        let client = unsafe { connection_arg(connection) }?;
        let id = packet_id_arg(packet_id)?;
        client.wait_published(id, timeout_arg(timeout_ms, "timeout_ms")?)?;
        Ok(())
    })
}

/// Reads until one incoming message has been processed: dispatched to its callback (or dropped
/// when no subscription's filter matches) and acknowledged as its QoS requires (QoS 2 messages
/// are dispatched exactly once). Sends PINGREQ when keep-alive is due while waiting. Blocks up
/// to `timeout_ms` (-1: no limit). Returns `MQTT_STATUS_OK`, `MQTT_STATUS_TIMEOUT`, or
/// `MQTT_STATUS_CLOSED` once the connection has ended (`mqtt_last_error()` says why). While the
/// loop thread runs, waits for the loop thread to process the next message instead.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_receive_message(
    connection: *const mqtt_connection,
    timeout_ms: c_int,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        let client = unsafe { connection_arg(connection) }?;
        client.receive_message(timeout_arg(timeout_ms, "timeout_ms")?)?;
        Ok(())
    })
}

/// Sends PINGREQ and waits for PINGRESP (at most the operation timeout). Returns
/// `MQTT_STATUS_TIMEOUT` or `MQTT_STATUS_CLOSED` on failure.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_ping(connection: *const mqtt_connection) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        unsafe { connection_arg(connection) }?.ping()?;
        Ok(())
    })
}

/// Starts the loop thread: it reads the connection, runs every message callback and keeps the
/// connection alive, until `mqtt_loop_stop`, `mqtt_disconnect`, `mqtt_connection_free` or the
/// connection ends — unless `mqtt_connect_options_set_auto_reconnect` asked it to reconnect by
/// itself. After it ended (or after `mqtt_disconnect`), `mqtt_reconnect` starts it again, unless
/// `mqtt_loop_stop` was called. With automatic reconnects it also starts on a lost connection.
/// Returns `MQTT_STATUS_ALREADY_RUNNING` if it runs, `MQTT_STATUS_CLOSED` if
/// the connection has ended.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_loop_start(connection: *const mqtt_connection) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        unsafe { connection_arg(connection) }?.loop_start()?;
        Ok(())
    })
}

/// Stops the loop thread and waits until it has finished (the callback it may be running
/// returns first). Called from a callback on the loop thread, it only asks the loop to stop
/// after that callback. Does nothing if no loop runs. Blocks until the loop thread has ended
/// (at most the callback it is running plus a connect attempt under way). Returns
/// `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `connection` is NULL.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_loop_stop(connection: *const mqtt_connection) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        unsafe { connection_arg(connection) }?.loop_stop();
        Ok(())
    })
}

/// Sends DISCONNECT, so the broker discards the will, closes the connection and stops the loop
/// thread (`mqtt_reconnect` may open the connection again and restart it). Any blocked call on
/// other threads returns `MQTT_STATUS_CLOSED`. Calling it again
/// returns `MQTT_STATUS_OK`; after the connection was lost otherwise it returns
/// `MQTT_STATUS_CLOSED`. The handle stays valid until `mqtt_connection_free`.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_disconnect(connection: *const mqtt_connection) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        unsafe { connection_arg(connection) }?.disconnect()?;
        Ok(())
    })
}

/// Closes the connection if it is still open — without DISCONNECT, so the broker publishes the
/// will — and connects again to the same host and port with the same options and the same
/// client id (the generated one too), within the connect timeout. Blocks until CONNACK.
/// Callable from any thread, after the connection was lost or `mqtt_disconnect`ed, with or
/// without the loop thread, and from inside a callback.
///
/// Clean session false: the session resumes [MQTT-4.4.0-1]. Every unacknowledged QoS 1/2
/// PUBLISH is re-sent with DUP set and its original packet identifier, and PUBREL for each one
/// that got PUBREC, in their original order and before anything published afterwards; QoS 2
/// messages received and awaiting PUBREL stay known, so their re-delivery is not dispatched
/// twice. Pending `mqtt_wait_published` / `mqtt_publish` calls complete when the re-send is
/// acknowledged. The broker keeps the subscriptions and the subscription callbacks stay.
///
/// Clean session true: unacknowledged publishes are discarded (the completion callback, if
/// set, gets `MQTT_STATUS_CLOSED` for each, on this thread). The subscription callbacks stay
/// registered but the broker has forgotten the subscriptions: call `mqtt_subscribe` again, as
/// with libmosquitto or Paho.
///
/// The loop thread, if started with `mqtt_loop_start` and not stopped with `mqtt_loop_stop`, is
/// stopped and joined first (the callback it runs finishes) and started again on success;
/// called from a callback on the loop thread, the loop continues on the new connection after
/// the callback returns. Returns `MQTT_STATUS_OK`, a connect failure (`MQTT_STATUS_RESOLVE`,
/// `MQTT_STATUS_IO`, `MQTT_STATUS_TIMEOUT`, a `MQTT_STATUS_REFUSED_*` refusal), or
/// `MQTT_STATUS_TIMEOUT` when another `mqtt_reconnect` did not finish within the connect
/// timeout; after a failure the connection stays closed and this may be called again.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_reconnect(connection: *const mqtt_connection) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        unsafe { connection_arg(connection) }?.reconnect()?;
        Ok(())
    })
}

/// Sets the publish completion callback (see `mqtt_published_callback` for when, on which
/// thread, and what it may call), replacing any earlier one; `callback` NULL removes it.
/// `userdata` is handed back to it unchanged and must stay valid until the callback is replaced
/// or removed, or the connection is freed. Applies to QoS 1/2 publishes whose acknowledgement
/// arrives after this call. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connection_set_on_published(
    connection: *const mqtt_connection,
    callback: mqtt_published_callback,
    userdata: *mut c_void,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        let client = unsafe { connection_arg(connection) }?;
        let userdata = UserData::new(userdata);
        client.set_on_published(callback.map(|callback| {
            std::sync::Arc::new(move |id: PacketId, outcome: PublishOutcome| {
                let status = match outcome {
                    PublishOutcome::Acknowledged => mqtt_status::Ok,
                    PublishOutcome::Discarded => mqtt_status::Closed,
                };
                // SAFETY: the C caller supplied this function and userdata for exactly these
                // calls.
                unsafe { callback(userdata.as_ptr(), id.get(), status) };
            }) as crate::client::PublishedCallback
        }));
        Ok(())
    })
}

/// Whether the connection is still open.
///
/// # Safety
/// `connection` is NULL (gives false) or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connection_is_connected(connection: *const mqtt_connection) -> bool {
    guard_or(false, || {
        // SAFETY: the caller passes a live handle or NULL.
        Ok(unsafe { connection_arg(connection) }?.is_connected())
    })
}

/// The client identifier sent in CONNECT (the generated one if none was set), owned by the
/// connection and valid until `mqtt_connection_free`. NULL only if `connection` is NULL.
///
/// # Safety
/// `connection` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connection_client_id(
    connection: *const mqtt_connection,
) -> *const c_char {
    guard_or(std::ptr::null(), || {
        // SAFETY: the caller passes a live handle or NULL.
        Ok(unsafe { handle_ref(connection, "connection") }?
            .client_id
            .as_ptr())
    })
}

/// Releases a connection. If it is still open it is closed *without* DISCONNECT — the broker
/// then publishes the will — and the loop thread is stopped and joined. NULL is a no-op. Must
/// not be called while another thread uses the connection, nor from one of its callbacks.
///
/// # Safety
/// `connection` is NULL or a handle from `mqtt_connect` not freed before and not in use.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connection_free(connection: *mut mqtt_connection) {
    // SAFETY: the caller passes a live, unused handle or NULL.
    guard_void(|| unsafe { free_handle(connection) })
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
                mqtt_connect_options_set_protocol_level(o, 5),
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
