//! Adapters from a C function pointer plus its `userdata` to the client's Rust callbacks. Each
//! one builds what C expects (NUL-terminated topic, status codes) for the duration of the call.

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::Arc;

use super::super::args::UserData;
use super::super::status::mqtt_status;
use super::message::MessageView;
use super::{mqtt_close_reason, mqtt_message};
use crate::client::{
    CloseReason, ConnectCallback, DisconnectCallback, LogCallback, LogLevel, Message,
    MessageCallback, PublishOutcome, PublishedCallback,
};
use crate::protocol::PacketId;

/// Topics up to this length are NUL-terminated on the stack; longer ones are copied to the heap.
const STACK_TOPIC: usize = 256;

/// A C message callback as a [`MessageCallback`].
pub(super) fn c_message_callback(
    callback: unsafe extern "C" fn(*mut c_void, *const mqtt_message),
    userdata: UserData,
) -> MessageCallback {
    Arc::new(move |m: &Message<'_>| deliver_to_c(callback, userdata, m))
}

/// A C connect callback as a [`ConnectCallback`].
pub(super) fn c_connect_callback(
    callback: unsafe extern "C" fn(*mut c_void, bool, c_int),
    userdata: UserData,
) -> ConnectCallback {
    Arc::new(move |session_present: bool, code: u8| {
        // SAFETY: the C caller supplied this function and userdata for exactly these calls.
        unsafe { callback(userdata.as_ptr(), session_present, c_int::from(code)) };
    })
}

/// A C disconnect callback as a [`DisconnectCallback`]: the reason becomes an
/// `mqtt_close_reason` value.
pub(super) fn c_disconnect_callback(
    callback: unsafe extern "C" fn(*mut c_void, c_int, bool),
    userdata: UserData,
) -> DisconnectCallback {
    Arc::new(move |reason: &CloseReason, will_reconnect: bool| {
        super::super::reason::set_last_reason_code(match reason {
            CloseReason::ServerDisconnect(r) => Some(r.code),
            _ => None,
        });
        let reason = mqtt_close_reason::from(reason) as c_int;
        // SAFETY: the C caller supplied this function and userdata for exactly these calls.
        unsafe { callback(userdata.as_ptr(), reason, will_reconnect) };
    })
}

/// A C log callback as a [`LogCallback`]: the line is NUL-terminated for the call.
pub(super) fn c_log_callback(
    callback: unsafe extern "C" fn(*mut c_void, c_int, *const c_char),
    userdata: UserData,
) -> LogCallback {
    Arc::new(move |level: LogLevel, line: &str| {
        let line = CString::new(line.replace('\0', "\u{FFFD}")).unwrap_or_default();
        // SAFETY: the C caller supplied this function and userdata for exactly these calls;
        // the string lives until it returns.
        unsafe { callback(userdata.as_ptr(), level as c_int, line.as_ptr()) };
    })
}

/// A C publish completion callback as a [`PublishedCallback`]: `Acknowledged` becomes
/// `MQTT_STATUS_OK`, `Refused` `MQTT_STATUS_PUBLISH_REFUSED` (with the reason code for
/// `mqtt_last_reason_code()`), `Discarded` `MQTT_STATUS_CLOSED`, `Dropped`
/// `MQTT_STATUS_QUEUE_FULL`.
pub(super) fn c_published_callback(
    callback: unsafe extern "C" fn(*mut c_void, u16, mqtt_status),
    userdata: UserData,
) -> PublishedCallback {
    Arc::new(move |id: PacketId, outcome: PublishOutcome| {
        let status = match outcome {
            PublishOutcome::Acknowledged => mqtt_status::Ok,
            PublishOutcome::Refused(_) => mqtt_status::PublishRefused,
            PublishOutcome::Discarded => mqtt_status::Closed,
            PublishOutcome::Dropped => mqtt_status::QueueFull,
        };
        super::super::reason::set_last_reason_code(match outcome {
            PublishOutcome::Refused(code) => Some(code),
            _ => None,
        });
        // SAFETY: the C caller supplied this function and userdata for exactly these calls.
        unsafe { callback(userdata.as_ptr(), id.get(), status) };
    })
}

/// Calls a C message callback with `m`: the topic NUL-terminated, the payload never NULL. Also
/// serves the broker's in-process subscriptions, whose callbacks take the same `mqtt_message`.
pub(crate) fn deliver_to_c(
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
    let view = MessageView::new(mqtt_message::of(m, topic.as_ptr().cast()), m.properties);
    // SAFETY: the C caller of mqtt_subscribe supplied this function for exactly this call; the
    // message and everything it points to live until it returns.
    unsafe { callback(userdata.as_ptr(), view.as_message()) };
}
