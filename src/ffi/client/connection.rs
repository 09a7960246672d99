//! Connecting, and every call on an open `mqtt_connection`.

use std::ffi::{CString, c_char, c_int, c_void};

use super::super::args::{UserData, c_str_arg, opt_out_arg, out_arg};
use super::super::error::FfiError;
use super::super::guard::{guard_or, guard_quiet, guard_status, guard_void};
use super::super::handle::{handle_ref, into_handle};
use super::super::reason::set_last_reason_code;
use super::super::status::mqtt_status;
use super::callbacks::c_published_callback;
use super::lifetime::free_connection;
use super::v5_calls::{mqtt_publish_async_ex, mqtt_publish_ex, subscribe_codes, subscribe_refused};
use super::{
    connection_arg, mqtt_connect_options, mqtt_connection, mqtt_message_callback,
    mqtt_published_callback, packet_id_arg, timeout_arg,
};
use crate::client::{Client, ClientError, ConnectOptions};
use crate::protocol::SubackCode;

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
    // SAFETY: forwarded to the caller.
    unsafe { connect_with(options, |options| Client::connect(host, port, options)) }
}

/// Connects with `connect`, given the settings behind `options` (NULL: the defaults), and
/// wraps the client in a new handle; the shared end of every `mqtt_connect*` function.
///
/// # Safety
/// `options` is NULL or a live handle from `mqtt_connect_options_new`.
pub(super) unsafe fn connect_with(
    options: *const mqtt_connect_options,
    connect: impl FnOnce(&ConnectOptions) -> Result<Client, ClientError>,
) -> Result<*mut mqtt_connection, FfiError> {
    let defaults = ConnectOptions::default();
    let options = if options.is_null() {
        &defaults
    } else {
        // SAFETY: non-NULL, so a live handle per the caller.
        &unsafe { handle_ref(options, "options") }?.options
    };
    set_last_reason_code(None);
    let client = connect(options)?;
    set_last_reason_code(Some(client.connack().code));
    let client_id = CString::new(client.client_id())
        .map_err(|_| FfiError::invalid_argument("client id contains a NUL byte"))?;
    Ok(into_handle(mqtt_connection {
        client,
        client_id,
        calls: Default::default(),
    }))
}

/// Connects to the broker at `host` (a name, an IPv4 or an IPv6 address) and `port` (a decimal
/// string such as "1883"), sends CONNECT and waits for CONNACK. Blocks at most the connect
/// timeout (30 s unless set). `options` may be NULL for the defaults; it is only read.
///
/// Returns the connection, to be released with `mqtt_connection_free`, or NULL on failure with
/// `mqtt_last_status()` / `mqtt_last_error()` telling why: `MQTT_STATUS_RESOLVE`,
/// `MQTT_STATUS_IO` (no address accepted the TCP connection), `MQTT_STATUS_TIMEOUT`, one of the
/// `MQTT_STATUS_REFUSED_*` codes (the broker's CONNACK refusal; `mqtt_last_error()` gives its
/// reason), `MQTT_STATUS_PROTOCOL_ERROR`, `MQTT_STATUS_INVALID_ARGUMENT`, and with TLS settings
/// (`mqtt_connect_options_set_tls`) `MQTT_STATUS_TLS` when TLS failed.
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
        // SAFETY: NULL or writable per the caller.
        let granted_out = unsafe { opt_out_arg(granted_qos, "granted_qos") }?;
        let options = std::ptr::null();
        // SAFETY: one filter and one QoS; the rest per the caller.
        let codes =
            unsafe { subscribe_codes(connection, &filter, &qos, 1, options, callback, userdata) }?;
        match SubackCode::from_reason(codes[0]) {
            SubackCode::Granted(granted) => {
                if let Some(out) = granted_out {
                    out.write(granted as c_int);
                }
                Ok(())
            }
            SubackCode::Failure => {
                // SAFETY: checked non-NULL and UTF-8 by `subscribe_codes`.
                Err(subscribe_refused(
                    unsafe { c_str_arg(filter, "filter") }?,
                    codes[0],
                ))
            }
        }
    })
}
/// Subscribes to `count` filters in one SUBSCRIBE: `filters[i]` with the requested `qos[i]` (0,
/// 1 or 2), all with the same `callback` and `userdata` (chosen per message as for
/// `mqtt_subscribe`), and waits for the SUBACK (at most the operation timeout). On
/// `MQTT_STATUS_OK`, `granted_qos[i]` (the array may be NULL) receives the QoS granted for
/// `filters[i]`, or 0x80 (128) when the broker refused that filter, whose callback is then
/// removed again; the call succeeds even if some filters were refused ([MQTT-3.9.3-1]).
///
/// Returns `MQTT_STATUS_INVALID_ARGUMENT` when `count` is 0 ([MQTT-3.8.3-3]),
/// `MQTT_STATUS_INVALID_TOPIC`, `MQTT_STATUS_INVALID_QOS`, `MQTT_STATUS_TIMEOUT`,
/// `MQTT_STATUS_CLOSED`, `MQTT_STATUS_NULL_ARGUMENT`. Messages arriving while it waits are
/// dispatched, not lost.
///
/// # Safety
/// `connection` is a live handle; `filters` and `qos` point to `count` NUL-terminated strings
/// and ints; `granted_qos` is NULL or points to `count` writable ints; `userdata` is passed back
/// untouched, from the thread documented at `mqtt_message_callback`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_subscribe_many(
    connection: *const mqtt_connection,
    filters: *const *const c_char,
    qos: *const c_int,
    count: usize,
    callback: mqtt_message_callback,
    userdata: *mut c_void,
    granted_qos: *mut c_int,
) -> mqtt_status {
    guard_status(|| {
        let options = std::ptr::null();
        // SAFETY: forwarded to the caller.
        let codes = unsafe {
            subscribe_codes(connection, filters, qos, count, options, callback, userdata)
        }?;
        if !granted_qos.is_null() {
            // SAFETY: non-NULL, so `count` writable ints per the caller.
            let out = unsafe { std::slice::from_raw_parts_mut(granted_qos, count) };
            for (slot, code) in out.iter_mut().zip(codes) {
                *slot = match SubackCode::from_reason(code) {
                    SubackCode::Granted(q) => q as c_int,
                    SubackCode::Failure => 0x80,
                };
            }
        }
        Ok(())
    })
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
        set_last_reason_code(None);
        set_last_reason_code(Some(client.unsubscribe(filter)?));
        Ok(())
    })
}

/// Publishes `len` bytes of `payload` (NULL allowed when `len` is 0: an empty message) to
/// `topic` with `qos` 0, 1 or 2 and the retain flag. Blocks: QoS 0 until the packet is handed to
/// the socket; QoS 1 until PUBACK; QoS 2 until PUBCOMP (after PUBREC and PUBREL) — at most the
/// operation timeout (`MQTT_STATUS_TIMEOUT` while connected; the message then stays in flight).
/// Messages arriving meanwhile are dispatched. Returns also `MQTT_STATUS_INVALID_TOPIC`,
/// `MQTT_STATUS_INVALID_QOS`, `MQTT_STATUS_TOO_LARGE`, `MQTT_STATUS_CLOSED` (the same error
/// text at every QoS for the same lost connection).
///
/// While the connection is down and automatic reconnects are on, the message goes to the
/// offline queue (see `mqtt_connect_options_set_offline_queue`) and this returns
/// `MQTT_STATUS_QUEUED` at once, or `MQTT_STATUS_QUEUE_FULL`. A QoS 1/2 message whose
/// connection is lost while this waits, and that the reconnect will still send (clean session
/// false), also returns `MQTT_STATUS_QUEUED` rather than a timeout: a program that retries on
/// `MQTT_STATUS_TIMEOUT` never sends a duplicate of a message still on its way.
/// `mqtt_last_error()` then names the packet id, which `mqtt_wait_published` and the
/// on_published callback complete once acknowledged; use `mqtt_publish_async` to get it as a
/// number.
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
    // SAFETY: forwarded to the caller; no options.
    unsafe {
        mqtt_publish_ex(
            connection,
            topic,
            payload,
            len,
            qos,
            retain,
            std::ptr::null(),
        )
    }
}

/// Publishes without waiting for the acknowledgement, so many QoS 1/2 messages can be in flight
/// (up to the max-inflight window; while it is full this blocks, at most the operation timeout).
/// `*packet_id` (may be NULL) receives the packet identifier to pass to `mqtt_wait_published`,
/// or 0 for QoS 0. Arguments and statuses as for `mqtt_publish`; with `MQTT_STATUS_QUEUED`
/// (the connection is down and the message waits in the offline queue) `*packet_id` is written
/// too, and `mqtt_wait_published` / the on_published callback complete it after the reconnect.
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
    let options = std::ptr::null();
    // SAFETY: forwarded to the caller; no options.
    unsafe {
        mqtt_publish_async_ex(
            connection, topic, payload, len, qos, retain, options, packet_id,
        )
    }
}

/// Waits until the publish with `packet_id` (from `mqtt_publish_async`) is acknowledged — PUBACK
/// for QoS 1, PUBCOMP for QoS 2 — or `timeout_ms` passes (-1 waits for ever). Returns at once if
/// no publish with that identifier is in flight. Messages arriving meanwhile are dispatched.
/// Returns `MQTT_STATUS_TIMEOUT`, `MQTT_STATUS_CLOSED` (the acknowledgement can no longer
/// come), `MQTT_STATUS_INVALID_ARGUMENT` for identifier 0.
///
/// With clean session false, a lost connection does not end the wait: the message stays in the
/// session, `mqtt_reconnect` (from another thread, or the loop thread's automatic reconnect)
/// re-sends it, and the wait ends when that is acknowledged — or at the timeout, or with
/// `MQTT_STATUS_CLOSED` after `mqtt_disconnect` or `mqtt_connection_free`. A message waiting
/// in the offline queue (`MQTT_STATUS_QUEUED`) is waited for the same way at either clean
/// session setting. Otherwise, with clean session true, it returns `MQTT_STATUS_CLOSED` as
/// soon as the connection is lost.
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
        set_last_reason_code(None);
        let code = client.wait_published(id, timeout_arg(timeout_ms, "timeout_ms")?)?;
        set_last_reason_code(Some(code));
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
/// set, gets `MQTT_STATUS_CLOSED` for each, on this thread); publishes in the offline queue were
/// never sent and go out now. The subscription callbacks stay registered, and since the broker
/// has forgotten the subscriptions (no session present) they are subscribed again in one
/// SUBSCRIBE — unless `mqtt_connect_options_set_resubscribe` turned that off. The same happens
/// with clean session false when the broker reports no session present.
///
/// The loop thread, if started with `mqtt_loop_start` and not stopped with `mqtt_loop_stop`, is
/// stopped and joined first (the callback it runs finishes) and started again on success;
/// called from a callback on the loop thread, the loop continues on the new connection after
/// the callback returns. Returns `MQTT_STATUS_OK`, a connect failure (`MQTT_STATUS_RESOLVE`,
/// `MQTT_STATUS_IO`, `MQTT_STATUS_TIMEOUT`, `MQTT_STATUS_TLS`, a `MQTT_STATUS_REFUSED_*`
/// refusal), or
/// `MQTT_STATUS_TIMEOUT` when another `mqtt_reconnect` did not finish within the connect
/// timeout; after a failure the connection stays closed and this may be called again.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_reconnect(connection: *const mqtt_connection) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        let client = unsafe { connection_arg(connection) }?;
        set_last_reason_code(None);
        client.reconnect()?;
        set_last_reason_code(Some(client.connack().code));
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
        client.set_on_published(callback.map(|cb| c_published_callback(cb, userdata)));
        Ok(())
    })
}

/// Whether the connection is still open. A pure getter: leaves `mqtt_last_status()` and
/// `mqtt_last_error()` as they were, also for NULL (which gives false) and for a connection
/// being freed.
///
/// # Safety
/// `connection` is NULL (gives false) or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connection_is_connected(connection: *const mqtt_connection) -> bool {
    guard_quiet(false, || {
        // SAFETY: the caller passes a live handle or NULL.
        Ok(unsafe { connection_arg(connection) }?.is_connected())
    })
}

/// The client identifier sent in CONNECT (the generated one if none was set), owned by the
/// connection and valid until `mqtt_connection_free`. NULL only if `connection` is NULL. A pure
/// getter: leaves `mqtt_last_status()` and `mqtt_last_error()` as they were.
///
/// # Safety
/// `connection` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connection_client_id(
    connection: *const mqtt_connection,
) -> *const c_char {
    guard_quiet(std::ptr::null(), || {
        // SAFETY: the caller passes a live handle or NULL.
        Ok(unsafe { handle_ref(connection, "connection") }?
            .client_id
            .as_ptr())
    })
}

/// Releases a connection. If it is still open it is closed *without* DISCONNECT — the broker
/// then publishes the will — and the loop thread is stopped and joined (unless called from it).
/// NULL is a no-op.
///
/// May be called from any thread at any time, also while other threads are blocked in calls
/// on the connection (`mqtt_receive_message`, `mqtt_publish`, `mqtt_wait_published`, ...) and
/// from inside a callback: calls in progress return `MQTT_STATUS_CLOSED` (as do calls that start
/// while the free is under way), and the memory is released once the last of them has
/// returned — before this function returns, except when called from inside a call on the same
/// connection (a callback run by `mqtt_receive_message`, say), where the outermost call releases
/// it as it returns. The on_disconnect callback, if set, runs on this thread with
/// `MQTT_CLOSE_REASON_FREED` if the connection was open. The handle must not be passed to any
/// function once this returns.
///
/// Leaves `mqtt_last_status()` and `mqtt_last_error()` as they were, so a cleanup path can still
/// report the failure that led to it.
///
/// # Safety
/// `connection` is NULL or a handle from `mqtt_connect` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connection_free(connection: *mut mqtt_connection) {
    // SAFETY: the caller passes a handle not freed before, or NULL.
    guard_void(|| unsafe { free_connection(connection) })
}

/// The connection's socket descriptor, for a program that drives the connection from its own
/// event loop (poll, epoll, libuv, GLib, Python asyncio through ctypes) instead of
/// `mqtt_loop_start`'s thread: wait until it is readable and call `mqtt_loop_read`; when
/// `mqtt_connection_want_write` is true, also wait until it is writable and call
/// `mqtt_loop_write`; call `mqtt_loop_misc` at least once a second. A reconnect replaces the
/// socket: ask for it again after each `mqtt_loop_misc` or connect callback. The descriptor is
/// owned by the connection: do not close it or read from it.
///
/// Does not block. Returns -1 when `connection` is NULL (`MQTT_STATUS_NULL_ARGUMENT`).
///
/// # Safety
/// `connection` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connection_socket(connection: *const mqtt_connection) -> c_int {
    guard_or(-1, || {
        // SAFETY: the caller passes a live handle or NULL.
        Ok(unsafe { connection_arg(connection) }?.socket())
    })
}

/// Whether bytes wait in the connection's send buffer — the re-sends and offline queue a
/// reconnect put there, or over TLS records that reading produced — so an event loop should
/// wait for the socket to be writable and call
/// `mqtt_loop_write`. Other packets are written by the call that makes them. A pure getter:
/// does not block and leaves `mqtt_last_status()` and `mqtt_last_error()` as they were; false
/// for NULL.
///
/// # Safety
/// `connection` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connection_want_write(connection: *const mqtt_connection) -> bool {
    guard_quiet(false, || {
        // SAFETY: the caller passes a live handle or NULL.
        Ok(unsafe { connection_arg(connection) }?.want_write())
    })
}

/// The event loop's read step: handles every packet that can be read now without blocking —
/// message callbacks run on this thread, acknowledgements complete `mqtt_publish_async`
/// identifiers (the on_published callback runs here too) — and sends PINGREQ when keep-alive is
/// due. Never waits for the socket; call it when `mqtt_connection_socket` is readable.
///
/// Returns `MQTT_STATUS_OK`; `MQTT_STATUS_CLOSED` once the connection has ended (the disconnect
/// callback has run; with automatic reconnects on, `mqtt_loop_misc` reconnects);
/// `MQTT_STATUS_ALREADY_RUNNING` while the loop thread runs; `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_loop_read(connection: *const mqtt_connection) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        unsafe { connection_arg(connection) }?.loop_read()?;
        Ok(())
    })
}

/// The event loop's write step: writes the bytes `mqtt_connection_want_write` reported (blocks
/// only while the socket's buffer is full, at most the operation timeout). Returns
/// `MQTT_STATUS_OK`, `MQTT_STATUS_CLOSED`, `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_loop_write(connection: *const mqtt_connection) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        unsafe { connection_arg(connection) }?.loop_write()?;
        Ok(())
    })
}

/// The event loop's timer step, to call at least once a second: keep-alive (PINGREQ when
/// nothing was sent for the keep-alive period, [MQTT-3.1.2-23]; the connection closed when the
/// PINGRESP is overdue) and, with `mqtt_connect_options_set_auto_reconnect` on and the
/// connection lost, a reconnect once the backoff wait has passed (same backoff and jitter as the
/// loop thread). Only the reconnect attempt blocks, at most the connect timeout; the connect
/// and disconnect callbacks run on this thread. Does nothing while the loop thread runs.
///
/// Returns `MQTT_STATUS_OK` (also when nothing was due), the failure of a reconnect attempt
/// (`MQTT_STATUS_IO`, `MQTT_STATUS_TIMEOUT`, a `MQTT_STATUS_REFUSED_*` code; the next call
/// tries again after a longer wait), `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_loop_misc(connection: *const mqtt_connection) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        unsafe { connection_arg(connection) }?.loop_misc()?;
        Ok(())
    })
}
