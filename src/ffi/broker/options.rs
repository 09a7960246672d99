//! `mqtt_broker_options_*`: the settings `mqtt_broker_new` copies.

use std::ffi::{c_char, c_int, c_void};
use std::ptr;
use std::time::Duration;

use super::super::args::{UserData, bytes_arg, c_str_arg, opt_c_str_arg, qos_arg};
use super::super::error::FfiError;
use super::super::guard::{guard_or, guard_quiet, guard_status, guard_void};
use super::super::handle::{free_handle, handle_mut, handle_ref, into_handle, with_options};
use super::super::status::mqtt_status;
use super::callbacks::{c_authenticator, c_authorizer, c_enhanced_authenticator, c_event_hook};
use super::{
    mqtt_auth_reply, mqtt_broker_authenticator, mqtt_broker_authorizer,
    mqtt_broker_enhanced_authenticator, mqtt_broker_event_callback, mqtt_broker_options,
};
use std::sync::Arc;

use crate::broker::{BrokerOptions, MIN_THREAD_STACK_SIZE};
use crate::protocol::MAX_REMAINING_LENGTH;
use crate::service::acl::AclFile;
use crate::service::passwd::PasswordFile;
use crate::service::{ConfigError, ConfigErrorKind};

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
        o.authenticator = cb.map(|cb| c_authenticator(cb, userdata));
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
        o.authorizer = cb.map(|cb| c_authorizer(cb, userdata));
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
        o.event_hook = cb.map(|cb| c_event_hook(cb, userdata));
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets how many QoS 2 messages one client may have unacknowledged at once (the
/// Receive Maximum announced in CONNACK; default 65535, between 1 and 65535). A client sending
/// more is disconnected with reason code 0x93.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT` (0).
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_receive_maximum(
    opts: *mut mqtt_broker_options,
    receive_maximum: u16,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.receive_maximum = at_least("receive_maximum", usize::from(receive_maximum), 1)? as u16;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets the highest Topic Alias a client may use (default 10, as mosquitto; 0 refuses
/// topic aliases). A client using 0 or a higher one is disconnected with reason code 0x94.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_topic_alias_maximum(
    opts: *mut mqtt_broker_options,
    topic_alias_maximum: u16,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.topic_alias_maximum = topic_alias_maximum;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets the highest QoS the broker accepts in PUBLISH and grants in SUBACK (default
/// 2). A 5.0 client publishing above it is disconnected with reason code 0x9B; subscriptions are
/// granted at most this QoS, for every revision.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_QOS`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_maximum_qos(
    opts: *mut mqtt_broker_options,
    qos: c_int,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.maximum_qos = qos_arg(qos)?;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// What `mqtt_broker_options_set_feature` switches on or off. Each is on by default and, when
/// off, announced to MQTT 5.0 clients in CONNACK.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_broker_feature {
    /// Retained messages. Off: a 5.0 PUBLISH with RETAIN gets DISCONNECT 0x9A.
    RetainAvailable = 0,
    /// Wildcards in topic filters. Off: such a filter gets SUBACK 0xA2 (0x80 for 3.1.1).
    WildcardSubscriptions = 1,
    /// Subscription Identifiers. Off: a SUBSCRIBE carrying one gets DISCONNECT 0xA1.
    SubscriptionIdentifiers = 2,
    /// Shared subscriptions (`$share/{group}/{filter}`), for 5.0 and 3.1.1 clients. Off: they
    /// get SUBACK 0x9E (0x80 for 3.1.1).
    SharedSubscriptions = 3,
}

/// Switches one MQTT 5.0 capability on or off (see `mqtt_broker_feature`; all are on by
/// default). `feature` is an `mqtt_broker_feature` value.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT` (an
/// unknown feature).
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_feature(
    opts: *mut mqtt_broker_options,
    feature: c_int,
    enabled: bool,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        let flag = match feature {
            f if f == mqtt_broker_feature::RetainAvailable as c_int => &mut o.retain_available,
            f if f == mqtt_broker_feature::WildcardSubscriptions as c_int => {
                &mut o.wildcard_subscriptions
            }
            f if f == mqtt_broker_feature::SubscriptionIdentifiers as c_int => {
                &mut o.subscription_identifiers
            }
            f if f == mqtt_broker_feature::SharedSubscriptions as c_int => {
                &mut o.shared_subscriptions
            }
            other => {
                return Err(FfiError::invalid_argument(format!(
                    "feature {other} is not an mqtt_broker_feature"
                )));
            }
        };
        *flag = enabled;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets a keep-alive, in seconds, that the broker imposes on 5.0 clients instead of
/// the one they ask for (Server Keep Alive in CONNACK); -1 (the default) leaves each client its
/// own. Between -1 and 65535.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_server_keep_alive(
    opts: *mut mqtt_broker_options,
    seconds: c_int,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.server_keep_alive = match seconds {
            -1 => None,
            s => Some(u16::try_from(s).map_err(|_| {
                FfiError::invalid_argument(format!(
                    "server keep alive must be -1 or between 0 and 65535, not {s}"
                ))
            })?),
        };
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets the Response Information returned to a client that asks for it in CONNECT
/// (the base of its response topics, for request/response); NULL (the default) returns none.
/// The string is copied.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`) or
/// `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `opts` is NULL or a live options object; `info` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_response_information(
    opts: *mut mqtt_broker_options,
    info: *const c_char,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        // SAFETY: per the caller, NULL or a NUL-terminated string.
        let info = unsafe { opt_c_str_arg(info, "info") }?;
        o.response_information = info.map(str::to_owned);
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets the enhanced authenticator, which decides every step of the AUTH exchange a
/// CONNECT with an Authentication Method opens, and of re-authentications; NULL `cb` removes it
/// (a CONNECT with a method then gets CONNACK 0x8C). CONNECTs without a method go to the
/// authenticator of `mqtt_broker_options_set_authenticator`.
///
/// Each call gets the step (`mqtt_auth_step`) and returns a reason code as an `int`: 0x00
/// success, 0x18 continue (another AUTH round), or a failure code of 0x80 and above (0x87 not
/// authorized, 0x8C bad authentication method, ...), which refuses the client. Data for the
/// client (with success or continue) is handed over with `mqtt_auth_reply_set_data(reply, ...)`.
///
/// Threads: `cb` runs on connection threads, concurrently for different clients; one exchange's
/// steps come one after another. It may call `mqtt_broker_publish`, `mqtt_broker_stats`,
/// `mqtt_broker_port` and `mqtt_broker_stop` (which then only starts the stop); it must not call
/// `mqtt_broker_free` or `mqtt_broker_wait` on its own broker.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
///
/// # Safety
/// `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
/// from any thread for as long as a broker created from these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_enhanced_authenticator(
    opts: *mut mqtt_broker_options,
    cb: mqtt_broker_enhanced_authenticator,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    let change = |o: &mut BrokerOptions| {
        o.enhanced_authenticator = cb.map(|cb| c_enhanced_authenticator(cb, userdata));
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Hands the data to send to the client with this authentication step (CONNACK on success,
/// AUTH on continue), replacing any set before; `len` 0 sends none. Only valid inside the
/// enhanced authenticator callback that received `reply`. The bytes are copied.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_TOO_LARGE` (over
/// 65535 bytes).
///
/// # Safety
/// `reply` is the pointer the callback received, during the callback; `data` points to `len`
/// readable bytes (it may be NULL when `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_auth_reply_set_data(
    reply: *mut mqtt_auth_reply,
    data: *const u8,
    len: usize,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let reply = unsafe { handle_mut(reply, "reply") }?;
        // SAFETY: per the caller.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        if data.len() > usize::from(u16::MAX) {
            return Err(FfiError::new(
                mqtt_status::TooLarge,
                format!("authentication data of {len} bytes; at most 65535 fit"),
            ));
        }
        reply.data = (!data.is_empty()).then(|| data.to_vec());
        Ok(())
    })
}

/// A problem in a configuration, password or ACL file as a status: `MQTT_STATUS_IO` when the
/// file cannot be read, `MQTT_STATUS_INVALID_ARGUMENT` otherwise; the message names the file
/// and line.
fn file_error(error: ConfigError) -> FfiError {
    let status = match error.kind {
        ConfigErrorKind::Io => mqtt_status::Io,
        ConfigErrorKind::Invalid | ConfigErrorKind::Unsupported => mqtt_status::InvalidArgument,
    };
    FfiError::new(status, error.to_string())
}

/// Reads a mosquitto.conf (and its `include_dir`s) and applies what it says: one listener
/// (`listener PORT [ADDRESS]` or `port` / `bind_address`, with `max_connections`),
/// `allow_anonymous`, `password_file`, `acl_file`, `max_queued_messages`,
/// `max_inflight_messages`, `max_packet_size`, `message_size_limit`. Keywords mosquitto knows but
/// this broker does not support yet (a second listener, TLS or WebSocket listeners,
/// `persistence true`, bridges) are refused. Settings made before are kept unless the file
/// changes them; setters called after override it. Blocks while reading the files.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8`,
/// `MQTT_STATUS_IO` (a file cannot be read) or `MQTT_STATUS_INVALID_ARGUMENT` (a malformed or
/// unsupported line); `mqtt_last_error()` then says `FILE:LINE: reason`. On failure the options
/// are left as they were.
///
/// # Safety
/// `opts` is NULL or a live options object; `path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_load_config(
    opts: *mut mqtt_broker_options,
    path: *const c_char,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        // SAFETY: per the caller, NULL or a NUL-terminated string.
        let path = unsafe { c_str_arg(path, "path") }?;
        let mut changed = o.clone();
        changed.load_config(path).map_err(file_error)?;
        *o = changed;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets a mosquitto password file (made by `mosquitto_passwd`, `$7$` and `$6$` entries), read
/// now; NULL removes it. A client presenting a user name the file lists must give that user's
/// password (else CONNACK 0x04, 0x86 for MQTT 5.0); other user names are left to the
/// authenticator callback, and refused without one. Blocks while reading the file.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`), `MQTT_STATUS_INVALID_UTF8`
/// or `MQTT_STATUS_IO` (naming the file).
///
/// # Safety
/// `opts` is NULL or a live options object; `path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_password_file(
    opts: *mut mqtt_broker_options,
    path: *const c_char,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        // SAFETY: per the caller, NULL or a NUL-terminated string.
        let path = unsafe { opt_c_str_arg(path, "path") }?;
        o.password_file = match path {
            Some(path) => Some(Arc::new(PasswordFile::load(path).map_err(file_error)?)),
            None => None,
        };
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets a mosquitto ACL file (`user`, `topic [read|write|readwrite|deny] FILTER`, `pattern`
/// with `%c` and `%u`), read now; NULL removes it. Publishing needs write access (refused
/// messages are acknowledged but not forwarded, 0x87 for MQTT 5.0), every delivered message read
/// access, and a subscription whose filter no read rule could ever match is refused in SUBACK.
/// Checked before the authorizer callback; both must allow. Blocks while reading the file.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`), `MQTT_STATUS_INVALID_UTF8`,
/// `MQTT_STATUS_IO` or `MQTT_STATUS_INVALID_ARGUMENT` (a malformed line; the message names it).
///
/// # Safety
/// `opts` is NULL or a live options object; `path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_acl_file(
    opts: *mut mqtt_broker_options,
    path: *const c_char,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        // SAFETY: per the caller, NULL or a NUL-terminated string.
        let path = unsafe { opt_c_str_arg(path, "path") }?;
        o.acl_file = match path {
            Some(path) => Some(Arc::new(AclFile::load(path).map_err(file_error)?)),
            None => None,
        };
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets whether clients without a user name are accepted (default true; mosquitto's
/// `allow_anonymous`). When false they get CONNACK 0x05 (0x87 for MQTT 5.0).
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_allow_anonymous(
    opts: *mut mqtt_broker_options,
    allow: bool,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.allow_anonymous = allow;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// The port the options listen on: 1883 unless `mqtt_broker_options_load_config` read another
/// (a program then passes it to `mqtt_broker_new`); -1 for NULL `opts`. A pure getter: it does
/// not touch `mqtt_last_error`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_get_port(opts: *const mqtt_broker_options) -> c_int {
    guard_quiet(-1, || {
        // SAFETY: per the caller.
        let opts = unsafe { handle_ref(opts, "opts") }?;
        Ok(c_int::from(opts.inner.port))
    })
}
