//! Creating, starting, stopping and querying a broker (`mqtt_broker_new`, `_start`, ...).

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;

use super::super::args::{bytes_arg, c_str_arg, out_arg, qos_arg};
use super::super::error::FfiError;
use super::super::guard::{guard_or, guard_quiet, guard_status, guard_void};
use super::super::handle::{free_handle, handle_ref, into_handle};
use super::super::status::mqtt_status;
use super::{
    mqtt_broker, mqtt_broker_client_callback, mqtt_broker_options, mqtt_broker_statistics,
    mqtt_client_info,
};
use crate::broker::{
    Broker, BrokerOptions, BrokerState, Listener, PublishError, RedirectError, StoreError,
};

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
/// With listeners added to `opts` (`mqtt_broker_options_add_listener`), `port` may be NULL:
/// the broker opens exactly those; a `port` given as well opens a TCP listener on it first.
///
/// Returns a new broker owned by the caller (release it with `mqtt_broker_free`), or NULL with
/// `MQTT_STATUS_NULL_ARGUMENT` (NULL `port` without listeners), `MQTT_STATUS_INVALID_UTF8` or
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
        let mut options = if opts.is_null() {
            BrokerOptions::default()
        } else {
            // SAFETY: non-NULL, and live per the caller.
            unsafe { handle_ref(opts, "opts") }?.inner.clone()
        };
        // A NULL port with listeners in the options opens exactly those.
        if !port.is_null() || options.listeners.is_empty() {
            // SAFETY: the caller passes a NUL-terminated string or NULL.
            options.port = port_arg(unsafe { c_str_arg(port, "port") }?)?;
            if !options.listeners.is_empty() {
                let first = Listener::tcp(options.bind_address.clone(), options.port);
                options.listeners.insert(0, first);
            }
        }
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
/// `MQTT_STATUS_ALREADY_RUNNING` if it is running; `MQTT_STATUS_PERSISTENCE` if the
/// persistence file cannot be used (the message names it); `MQTT_STATUS_NULL_ARGUMENT` for
/// NULL. A stopped broker starts again, with the sessions, subscriptions and retained messages
/// it had (and, with persistence, those of the file the first start read).
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
            BrokerState::Stopped => {}
        }
        broker.start().map_err(|e| {
            if let Some(store) = e.get_ref().and_then(|e| e.downcast_ref::<StoreError>()) {
                return FfiError::new(mqtt_status::Persistence, store.to_string());
            }
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
/// port "0". 0 before `mqtt_broker_start` succeeded, or for NULL. Stays valid after stop. Does
/// not block; thread-safe. A pure getter: leaves `mqtt_last_status()` and `mqtt_last_error()`
/// as they were.
///
/// # Safety
/// `broker` is NULL or a live broker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_port(broker: *const mqtt_broker) -> u16 {
    guard_quiet(0, || {
        // SAFETY: NULL or live per the caller.
        Ok(unsafe { handle_ref(broker, "broker") }?.broker.port())
    })
}

/// Stops the broker: closes the listening socket and every client connection (no wills are
/// published), and blocks until all its threads have finished. Sessions, subscriptions and
/// retained messages stay for a later `mqtt_broker_start`; with persistence they are committed
/// to the file and it is closed, so another broker may open it. Idempotent: stopping a stopped or never-started
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
            tls_handshakes_failed: s.tls_handshakes_failed,
            websocket_refused: s.websocket_refused,
        });
        Ok(())
    })
}

/// Closes the connection of the client with `client_id`, publishing its will if `publish_will`
/// (an MQTT 5.0 client is told why: DISCONNECT 0x98, administrative action). Its session stays
/// or ends as its expiry says. Returns at once; the event callback reports the disconnect with
/// `MQTT_DISCONNECT_REASON_KICKED` or `_KICKED_WITHOUT_WILL`. Thread-safe; may be called from the
/// broker's callbacks.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8` or
/// `MQTT_STATUS_NOT_FOUND` (no client with that identifier is connected).
///
/// # Safety
/// `broker` is NULL or a live broker; `client_id` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_disconnect_client(
    broker: *const mqtt_broker,
    client_id: *const c_char,
    publish_will: bool,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let broker = unsafe { handle_ref(broker, "broker") }?;
        // SAFETY: per the caller.
        let client_id = unsafe { c_str_arg(client_id, "client_id") }?;
        if broker.broker.disconnect_client(client_id, publish_will) {
            Ok(())
        } else {
            Err(FfiError::new(
                mqtt_status::NotFound,
                format!("no client {client_id:?} is connected"),
            ))
        }
    })
}

/// Sends the MQTT 5.0 client with `client_id` to another server: DISCONNECT 0x9D (server moved)
/// if `permanent`, else 0x9C (use another server), carrying `server_reference` as its Server
/// Reference, then the connection closes. An MQTT 3.1.1 client cannot be told and is just
/// disconnected. Its will is published and its session stays or ends as its expiry says. Returns
/// at once; the event callback reports the disconnect with `MQTT_DISCONNECT_REASON_KICKED` and
/// the reason code sent. Thread-safe; may be called from the broker's callbacks.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8`,
/// `MQTT_STATUS_INVALID_ARGUMENT` (`server_reference` longer than 65,535 bytes) or
/// `MQTT_STATUS_NOT_FOUND` (no client with that identifier is connected).
///
/// # Safety
/// `broker` is NULL or a live broker; `client_id` and `server_reference` are NULL or
/// NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_redirect_client(
    broker: *const mqtt_broker,
    client_id: *const c_char,
    server_reference: *const c_char,
    permanent: bool,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let broker = unsafe { handle_ref(broker, "broker") }?;
        // SAFETY: per the caller.
        let client_id = unsafe { c_str_arg(client_id, "client_id") }?;
        // SAFETY: per the caller.
        let server_reference = unsafe { c_str_arg(server_reference, "server_reference") }?;
        broker
            .broker
            .redirect_client(client_id, server_reference, permanent)
            .map_err(|e| {
                let status = match e {
                    RedirectError::NotConnected => mqtt_status::NotFound,
                    RedirectError::InvalidServerReference => mqtt_status::InvalidArgument,
                };
                FfiError::new(status, format!("{client_id:?}: {e}"))
            })
    })
}

/// Calls `cb` once for every client connected now, with its identifier, user name, address,
/// protocol level, connection time and queued messages (`mqtt_client_info`, valid during the
/// call). Blocks only while the list is taken, not while `cb` runs; `cb` runs on the calling
/// thread and may call any broker function but `mqtt_broker_free`.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `broker` is NULL or a live broker; `cb`, if not NULL, is safe to call with `userdata`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_clients(
    broker: *const mqtt_broker,
    cb: mqtt_broker_client_callback,
    userdata: *mut c_void,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let broker = unsafe { handle_ref(broker, "broker") }?;
        let cb = cb.ok_or_else(|| FfiError::null_argument("cb"))?;
        for client in broker.broker.clients() {
            let client_id = CString::new(&*client.client_id).unwrap_or_default();
            let username = client
                .username
                .as_deref()
                .map(|u| CString::new(u).unwrap_or_default());
            let peer = CString::new(client.peer.to_string()).unwrap_or_default();
            let since = client
                .connected_since
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let info = mqtt_client_info {
                client_id: client_id.as_ptr(),
                username: username.as_ref().map_or(ptr::null(), |u| u.as_ptr()),
                peer: peer.as_ptr(),
                protocol_level: c_int::from(client.protocol_level),
                connected_since: since,
                queued: client.queued,
            };
            // SAFETY: per the caller; `info` and its strings live for the call.
            unsafe { cb(userdata, &info) };
        }
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
