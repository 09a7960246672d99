//! Adapters from a C function pointer plus its `userdata` to the client's Rust callbacks. Each
//! one builds what C expects (NUL-terminated topic, status codes) for the duration of the call.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use super::super::args::UserData;
use super::super::status::mqtt_status;
use super::mqtt_message;
use crate::client::{Message, MessageCallback, PublishOutcome, PublishedCallback};
use crate::protocol::PacketId;

/// Where an empty payload points, so C never sees NULL.
static EMPTY_PAYLOAD: [u8; 1] = [0];

/// Topics up to this length are NUL-terminated on the stack; longer ones are copied to the heap.
const STACK_TOPIC: usize = 256;

/// A C message callback as a [`MessageCallback`].
pub(super) fn c_message_callback(
    callback: unsafe extern "C" fn(*mut c_void, *const mqtt_message),
    userdata: UserData,
) -> MessageCallback {
    Arc::new(move |m: &Message<'_>| deliver_to_c(callback, userdata, m))
}

/// A C publish completion callback as a [`PublishedCallback`]: `Acknowledged` becomes
/// `MQTT_STATUS_OK`, `Discarded` `MQTT_STATUS_CLOSED`.
pub(super) fn c_published_callback(
    callback: unsafe extern "C" fn(*mut c_void, u16, mqtt_status),
    userdata: UserData,
) -> PublishedCallback {
    Arc::new(move |id: PacketId, outcome: PublishOutcome| {
        let status = match outcome {
            PublishOutcome::Acknowledged => mqtt_status::Ok,
            PublishOutcome::Discarded => mqtt_status::Closed,
        };
        // SAFETY: the C caller supplied this function and userdata for exactly these calls.
        unsafe { callback(userdata.as_ptr(), id.get(), status) };
    })
}

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
