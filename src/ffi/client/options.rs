//! `mqtt_connect_options_*`: the settings `mqtt_connect` reads.

use std::ffi::{c_char, c_int, c_void};
use std::time::Duration;

use super::super::args::UserData;
use super::super::args::{bytes_arg, opt_c_str_arg, qos_arg};
use super::super::error::FfiError;
use super::super::guard::{guard_or, guard_void};
use super::super::handle::{free_handle, into_handle, with_options};
use super::super::status::mqtt_status;
use super::callbacks::{
    c_connect_callback, c_disconnect_callback, c_log_callback, c_message_callback,
};
use super::{
    mqtt_connect_callback, mqtt_connect_options, mqtt_disconnect_callback, mqtt_log_callback,
    mqtt_message_callback, mqtt_queue_overflow, positive_ms,
};
use crate::client::{ConnectOptions, OfflineQueue, QueueOverflow, Will};
use crate::protocol::ProtocolLevel;

/// New connection settings with the defaults: generated client id, clean session, keep-alive
/// 60 s, no user name, password or will, connect timeout 30 s, operation timeout 30 s,
/// protocol level 4 (MQTT 3.1.1), at most 1024 QoS 1/2 publishes in flight, no automatic
/// reconnect, resubscribe after a reconnect without session, an offline queue of 1000 messages
/// and 1 MiB (refuse new, QoS 0 queued), no callbacks. Release with
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
            // Will properties set before (MQTT 5.0) stay.
            let properties = o.will.take().map(|w| w.properties).unwrap_or_default();
            o.will = Some(Will {
                topic: topic.to_owned(),
                payload: bytes_arg(payload, len, "payload")?.to_vec(),
                qos: qos_arg(qos)?,
                retain,
                properties,
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

/// Sets the protocol level: 4 for MQTT 3.1.1 (default), 5 for MQTT 5.0, or 3 for MQTT 3.1
/// ("MQIsdp"). Level 5 enables the MQTT 5.0 setters (`mqtt_connect_options_set_session_expiry`
/// and the others), publish and subscribe options, reason codes and `mqtt_request`.
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
/// `MQTT_STATUS_INVALID_ARGUMENT` for a level other than 3, 4 or 5.
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
                5 => ProtocolLevel::V5,
                other => {
                    return Err(FfiError::invalid_argument(format!(
                        "protocol level must be 3, 4 or 5, not {other}"
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
/// `mqtt_disconnect`), as `mqtt_reconnect` would, like libmosquitto's loop. Backoff: the step
/// starts at `delay_ms` and doubles after each failed attempt, up to `max_delay_ms`; each wait
/// is the step with jitter, a random point between half the step and the whole step, so
/// clients that lost the same broker do not all return at once. It keeps trying until it
/// succeeds or `mqtt_loop_stop`, `mqtt_disconnect` or `mqtt_connection_free` stops it
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

/// Sets the default message callback (NULL removes it): it receives, with `userdata`, every
/// message for which no `mqtt_subscribe` callback matches — above all the messages a broker
/// delivers from a resumed session (clean session false) right after CONNACK, before the
/// program has subscribed again. Without it such messages are acknowledged and dropped (and
/// logged through the log callback); with it, no message the client acknowledges is lost: the
/// callback runs before the acknowledgement goes out ([MQTT-4.3.2-2], [MQTT-4.3.3-2]).
/// Per-filter callbacks keep precedence (the most specific matching filter wins).
///
/// Which thread calls it, and what it may call: as for `mqtt_message_callback`.
///
/// Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `callback`, if not NULL, is safe to
/// call with `userdata` from the threads documented at `mqtt_message_callback` for as long as a
/// connection made with these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_on_message(
    options: *mut mqtt_connect_options,
    callback: mqtt_message_callback,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            o.callbacks.on_message = callback.map(|cb| c_message_callback(cb, userdata));
            Ok(())
        })
    }
}

/// Sets the connect callback (NULL removes it), called with `userdata` for every CONNACK —
/// the first connect's included — see `mqtt_connect_callback` for its arguments, which thread
/// calls it and what it may call.
///
/// Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `callback`, if not NULL, is safe to
/// call with `userdata` from those threads while a connection made with these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_on_connect(
    options: *mut mqtt_connect_options,
    callback: mqtt_connect_callback,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            o.callbacks.on_connect = callback.map(|cb| c_connect_callback(cb, userdata));
            Ok(())
        })
    }
}

/// Sets the disconnect callback (NULL removes it), called with `userdata` once whenever a
/// connection ends — see `mqtt_disconnect_callback` for its arguments, which thread calls it
/// and what it may call.
///
/// Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `callback`, if not NULL, is safe to
/// call with `userdata` from those threads while a connection made with these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_on_disconnect(
    options: *mut mqtt_connect_options,
    callback: mqtt_disconnect_callback,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            o.callbacks.on_disconnect = callback.map(|cb| c_disconnect_callback(cb, userdata));
            Ok(())
        })
    }
}

/// Sets the log callback (NULL removes it), called with `userdata` for the client's log lines:
/// CONNACKs, lost connections, failed reconnect attempts, resubscriptions, messages no callback
/// took, offline-queue overflow. See `mqtt_log_callback` for which thread calls it and what it
/// may call.
///
/// Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `callback`, if not NULL, is safe to
/// call with `userdata` from any thread while a connection made with these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_on_log(
    options: *mut mqtt_connect_options,
    callback: mqtt_log_callback,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            o.callbacks.on_log = callback.map(|cb| c_log_callback(cb, userdata));
            Ok(())
        })
    }
}

/// Sets whether a reconnect whose CONNACK reports no session present (clean session true, or a
/// broker that lost the session, [MQTT-3.2.2-2]) subscribes again, in one SUBSCRIBE sent
/// before anything else, to every filter subscribed with `mqtt_subscribe` and not unsubscribed,
/// with the QoS asked for then (default true). The callbacks stay registered either way; a
/// refusal is reported through the log callback.
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_resubscribe(
    options: *mut mqtt_connect_options,
    resubscribe: bool,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            o.resubscribe = resubscribe;
            Ok(())
        })
    }
}

/// Bounds the offline queue: while the connection is down (lost, not ended with
/// `mqtt_disconnect`) and automatic reconnects are on, `mqtt_publish` and `mqtt_publish_async`
/// put messages in this queue and return `MQTT_STATUS_QUEUED`; the reconnect sends them, in
/// order, right after the re-sends of the session. At most `max_messages` messages and
/// `max_bytes` bytes (encoded packets) wait; `overflow` (an `mqtt_queue_overflow` value) says
/// what one more does: `MQTT_QUEUE_OVERFLOW_REFUSE_NEW` fails it with `MQTT_STATUS_QUEUE_FULL`,
/// `MQTT_QUEUE_OVERFLOW_DROP_OLDEST` drops the oldest queued messages to make room (their
/// on_published callback gets `MQTT_STATUS_QUEUE_FULL`). `queue_qos0` false makes QoS 0
/// publishes fail with `MQTT_STATUS_CLOSED` instead of queuing. `max_messages` 0 turns the
/// queue off. Defaults: 1000 messages, 1 MiB, refuse new, QoS 0 queued.
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
/// `MQTT_STATUS_INVALID_ARGUMENT` for an unknown `overflow`.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_offline_queue(
    options: *mut mqtt_connect_options,
    max_messages: usize,
    max_bytes: usize,
    overflow: c_int,
    queue_qos0: bool,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            let overflow = match overflow {
                v if v == mqtt_queue_overflow::RefuseNew as c_int => QueueOverflow::RefuseNew,
                v if v == mqtt_queue_overflow::DropOldest as c_int => QueueOverflow::DropOldest,
                other => {
                    return Err(FfiError::invalid_argument(format!(
                        "overflow must be an mqtt_queue_overflow value, not {other}"
                    )));
                }
            };
            o.offline_queue = OfflineQueue {
                max_messages,
                max_bytes,
                overflow,
                qos0: queue_qos0,
            };
            Ok(())
        })
    }
}
