//! `mqtt_broker_options_*`: the settings `mqtt_broker_new` copies.

use std::ffi::{c_char, c_void};
use std::ptr;
use std::time::Duration;

use super::super::args::{UserData, bytes_arg, c_str_arg};
use super::super::error::FfiError;
use super::super::guard::{guard_or, guard_status, guard_void};
use super::super::handle::{free_handle, handle_mut, into_handle, with_options};
use super::super::status::mqtt_status;
use super::callbacks::{
    c_authenticator, c_authenticator_ex, c_authorizer, c_event_hook, c_log_callback, c_message_hook,
};
use super::{
    mqtt_broker_authenticator, mqtt_broker_authenticator_ex, mqtt_broker_authorizer,
    mqtt_broker_event_callback, mqtt_broker_log_callback, mqtt_broker_log_type,
    mqtt_broker_message_hook, mqtt_broker_options, mqtt_hook_reply,
};
use crate::broker::{BrokerOptions, MAX_BUSY_POLL, MIN_THREAD_STACK_SIZE};
use crate::protocol::MAX_REMAINING_LENGTH;
use crate::topic::TopicName;

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

pub(super) fn at_least(name: &str, value: usize, minimum: usize) -> Result<usize, FfiError> {
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

/// Sets for how many microseconds (at most 10000) a connection thread whose last wake-up
/// brought little work keeps looking at its socket before it sleeps (default 50; 0 sleeps at
/// once). Waking a sleeping thread on an idle CPU is most of a loopback round trip, above all
/// on virtual machines; polling trades CPU for it. At most half the CPUs this process may use
/// poll at once (at least one thread), each yields to threads waiting for the same CPU, a
/// wake-up that brought many packets or deliveries does not poll, and a connection whose
/// traffic is sparser than the window polls on one wait in 64 at most. A client that answers
/// within the window every time keeps one CPU busy while nothing else wants it; polling does
/// not give back a container's CPU quota: set 0 where that matters.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, or `MQTT_STATUS_INVALID_ARGUMENT`
/// above 10000.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_busy_poll_us(
    opts: *mut mqtt_broker_options,
    window_us: u32,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        let window = Duration::from_micros(u64::from(window_us));
        if window > MAX_BUSY_POLL {
            return Err(FfiError::invalid_argument(format!(
                "busy poll window must be at most {} µs, not {window_us}",
                MAX_BUSY_POLL.as_micros()
            )));
        }
        o.busy_poll = (window_us > 0).then_some(window);
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

/// Sets an authenticator that also sees the client's address, its TLS certificate identity
/// and protocol level (`mqtt_auth_request`), in place of any set by
/// `mqtt_broker_options_set_authenticator` (and replaced by it: the last one set is used); NULL
/// `cb` removes it. `cb` returns an `mqtt_auth_result` value as `mqtt_broker_authenticator`
/// does; the request and its strings are valid only during the call.
///
/// Threads: as for `mqtt_broker_options_set_authenticator`: `cb` runs on the connection's own
/// thread, concurrently with other connections' callbacks, and may call
/// `mqtt_broker_publish`, `mqtt_broker_stats`, `mqtt_broker_port` and `mqtt_broker_stop`; it
/// must not call `mqtt_broker_free` or `mqtt_broker_wait` on its own broker.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
///
/// # Safety
/// `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
/// from any thread for as long as a broker created from these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_authenticator_ex(
    opts: *mut mqtt_broker_options,
    cb: mqtt_broker_authenticator_ex,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    let change = |o: &mut BrokerOptions| {
        o.authenticator = cb.map(|cb| c_authenticator_ex(cb, userdata));
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

/// Sets the log callback (NULL removes it), called with `userdata` for every broker log line of
/// a type in `types` (a mask of `mqtt_broker_log_type` bits, `MQTT_BROKER_LOG_TYPE_ALL` for
/// all; 0 calls it for nothing), as libmosquitto's log callback: connects, disconnects,
/// subscriptions... See `mqtt_broker_log_callback` for the lines, the thread that calls it and
/// what it may call. A configuration's `log_dest` destinations
/// (`mqtt_broker_options_load_config`) are written as well, with their own `log_type`s; the
/// callback costs nothing for the types it does not take.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`) or
/// `MQTT_STATUS_INVALID_ARGUMENT` (`types` has bits outside `MQTT_BROKER_LOG_TYPE_ALL`).
///
/// # Safety
/// `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
/// from any thread for as long as a broker created from these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_log_callback(
    opts: *mut mqtt_broker_options,
    types: u32,
    cb: mqtt_broker_log_callback,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    let change = |o: &mut BrokerOptions| {
        if types & !(mqtt_broker_log_type::All as u32) != 0 {
            return Err(FfiError::invalid_argument(format!(
                "types {types:#x} has bits outside MQTT_BROKER_LOG_TYPE_ALL (0xffff)"
            )));
        }
        o.log
            .set_callback(types, cb.map(|cb| c_log_callback(cb, userdata)));
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets how often the `$SYS` topics (mosquitto's names: `$SYS/broker/clients/connected`,
/// `$SYS/broker/messages/received`, `$SYS/broker/uptime`, ...) are published, retained, in
/// seconds (default 10; 0 publishes none).
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_sys_interval_s(
    opts: *mut mqtt_broker_options,
    seconds: u32,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.sys_interval = Duration::from_secs(u64::from(seconds));
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets the message hook, called for every PUBLISH a client sends, after authorization and
/// before routing (not for the host's own `mqtt_broker_publish` nor for wills); NULL `cb`
/// removes it, and without one routing costs nothing extra. The hook returns 0 to route the
/// message — or the replacement it left with `mqtt_hook_reply_replace` — or a failure reason
/// code (0x80 and above, e.g. 0x87 not authorized, 0x97 quota exceeded) to drop it: a QoS 1 or 2
/// message is still acknowledged, and an MQTT 5.0 client gets that code in its PUBACK or PUBREC.
///
/// Threads: `cb` runs on the publishing client's connection thread, concurrently for different
/// clients, once per message: keep it fast. It may call `mqtt_broker_publish`,
/// `mqtt_broker_stats`, `mqtt_broker_port` and `mqtt_broker_stop` (which then only starts the
/// stop); it must not call `mqtt_broker_free` or `mqtt_broker_wait` on its own broker.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
///
/// # Safety
/// `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
/// from any thread for as long as a broker created from these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_message_hook(
    opts: *mut mqtt_broker_options,
    cb: mqtt_broker_message_hook,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    let change = |o: &mut BrokerOptions| {
        o.message_hook = cb.map(|cb| c_message_hook(cb, userdata));
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Replaces the topic and payload of the message the hook is looking at (the rest of the
/// message stays as it was). Only valid inside the message hook that received `reply`; the hook
/// must then return 0. Topic and payload are copied.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8` or
/// `MQTT_STATUS_INVALID_TOPIC` (not a valid topic name).
///
/// # Safety
/// `reply` is the pointer the hook received, during the hook; `topic` is NULL or a
/// NUL-terminated string; `payload` points to `len` readable bytes (NULL allowed when `len` is
/// 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_hook_reply_replace(
    reply: *mut mqtt_hook_reply,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let reply = unsafe { handle_mut(reply, "reply") }?;
        // SAFETY: per the caller.
        let topic = unsafe { c_str_arg(topic, "topic") }?;
        TopicName::validate(topic)?;
        // SAFETY: per the caller.
        let payload = unsafe { bytes_arg(payload, len, "payload") }?;
        reply.replacement = Some((topic.to_owned(), payload.to_vec()));
        Ok(())
    })
}
