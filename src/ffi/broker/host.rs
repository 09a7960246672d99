//! `mqtt_broker_subscribe` / `mqtt_broker_unsubscribe`: the host receives messages from its own
//! broker without a loopback client.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use super::super::args::{UserData, c_str_arg, qos_arg};
use super::super::client::{deliver_to_c, mqtt_message};
use super::super::error::FfiError;
use super::super::guard::guard_status;
use super::super::handle::handle_ref;
use super::super::status::mqtt_status;
use super::mqtt_broker;
use crate::broker::{HostMessage, SubscribeError};
use crate::client::Message;

/// Receives a message of one of the host's own subscriptions (`mqtt_broker_subscribe`):
/// `userdata` is the pointer given there; `message` and its strings are valid only during the
/// call (`dup` is always false).
///
/// Which thread calls it: the broker's host-subscriber thread, one message at a time in the
/// order they were routed; the first `mqtt_broker_subscribe` starts it and `mqtt_broker_free`
/// ends it.
///
/// What it may call: every libmqtt function, including `mqtt_broker_publish`,
/// `mqtt_broker_subscribe` and `mqtt_broker_unsubscribe` on the same broker — none deadlocks —
/// but not `mqtt_broker_free` on it. A slow callback delays only the host's own messages; past
/// `max_queued_messages` waiting, further ones are dropped and counted.
pub type mqtt_broker_message_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, message: *const mqtt_message)>;

/// Subscribes the host program to `filter` in its own broker: `cb` receives every matching
/// message, and at once the retained ones, at min(publish QoS, `qos`), on the broker's
/// host-subscriber thread (see `mqtt_broker_message_callback`). Subscribing again to the same
/// filter replaces its callback, userdata and QoS. Works whether or not the broker is running;
/// the ACL file and the authorizer do not apply to the host. Shared subscriptions (`$share/...`)
/// are for clients and are refused. Does not block beyond a short lock (the first call starts
/// the thread). Thread-safe, including from the broker's own callbacks.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (`broker`, `filter` or `cb`),
/// `MQTT_STATUS_INVALID_UTF8`, `MQTT_STATUS_INVALID_TOPIC` (not a valid topic filter, or a shared
/// one), `MQTT_STATUS_INVALID_QOS` or `MQTT_STATUS_IO` (the thread could not be started).
///
/// # Safety
/// `broker` is NULL or a live broker; `filter` is NULL or a NUL-terminated string; `cb`, if not
/// NULL, is safe to call with `userdata` from the host-subscriber thread until
/// `mqtt_broker_unsubscribe` for this filter returns, or the broker is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_subscribe(
    broker: *const mqtt_broker,
    filter: *const c_char,
    qos: c_int,
    cb: mqtt_broker_message_callback,
    userdata: *mut c_void,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let broker = unsafe { handle_ref(broker, "broker") }?;
        // SAFETY: per the caller.
        let filter = unsafe { c_str_arg(filter, "filter") }?;
        let qos = qos_arg(qos)?;
        let cb = cb.ok_or_else(|| FfiError::null_argument("cb"))?;
        let userdata = UserData::new(userdata);
        let callback = Arc::new(move |m: &HostMessage<'_>| {
            let message = Message {
                topic: m.topic,
                payload: m.payload,
                qos: m.qos,
                retain: m.retain,
                dup: false,
                properties: &crate::client::NO_PROPERTIES,
            };
            // The caller of `mqtt_broker_subscribe` promised `cb` may be called with `userdata`
            // from this thread.
            deliver_to_c(cb, userdata, &message);
        });
        broker
            .broker
            .subscribe(filter, qos, callback)
            .map_err(|e| match e {
                SubscribeError::InvalidFilter(t) => FfiError::invalid_topic("filter", t),
                SubscribeError::SharedFilter => {
                    FfiError::new(mqtt_status::InvalidTopic, e.to_string())
                }
                SubscribeError::Thread(_) => FfiError::new(mqtt_status::Io, e.to_string()),
            })
    })
}

/// Removes the host's subscription to exactly `filter` (as `mqtt_broker_subscribe` gave it). Once
/// it returns, the callback is not called for messages routed afterwards; one the
/// host-subscriber thread is already running finishes. Thread-safe, including from the broker's
/// own callbacks.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8` or
/// `MQTT_STATUS_NOT_FOUND` (the host has no subscription to `filter`).
///
/// # Safety
/// `broker` is NULL or a live broker; `filter` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_unsubscribe(
    broker: *const mqtt_broker,
    filter: *const c_char,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let broker = unsafe { handle_ref(broker, "broker") }?;
        // SAFETY: per the caller.
        let filter = unsafe { c_str_arg(filter, "filter") }?;
        if broker.broker.unsubscribe(filter) {
            Ok(())
        } else {
            Err(FfiError::new(
                mqtt_status::NotFound,
                format!("the host has no subscription to {filter:?}"),
            ))
        }
    })
}
