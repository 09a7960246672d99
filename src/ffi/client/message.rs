//! MQTT 5.0 properties of a received message for C: accessor functions on `const mqtt_message *`,
//! and copies that outlive the callback.
//!
//! The public `mqtt_message` struct stays as it is (no field is ever added to it): every
//! message the library hands out is the first field of a [`MessageView`], which also points to
//! the properties, so an accessor finds them from the `mqtt_message` pointer alone.

use std::cell::OnceCell;
use std::ffi::{CString, c_char, c_int};

use super::super::args::{opt_out_arg, out_arg};
use super::super::error::FfiError;
use super::super::guard::{guard_or, guard_quiet, guard_status, guard_void};
use super::super::status::mqtt_status;
use super::mqtt_message;
use crate::client::{Message, OwnedMessage};
use crate::protocol::{Properties, PropertyId, QoS};

/// Where an empty payload points, so C never sees NULL.
static EMPTY_PAYLOAD: [u8; 1] = [0];

impl mqtt_message {
    /// The C view of `m`, with `topic` its topic NUL-terminated (which must outlive the view).
    pub(crate) fn of(m: &Message<'_>, topic: *const c_char) -> mqtt_message {
        mqtt_message {
            topic,
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
        }
    }
}

/// Tells a [`MessageView`] from anything else a C caller might pass.
const VIEW_TAG: u64 = 0x6d71_7474_6d73_6721;

/// A message as C sees it, followed by what the accessors need. `#[repr(C)]` with the message
/// first, so a `*const mqtt_message` from the library is a `*const MessageView` too.
#[repr(C)]
pub(crate) struct MessageView {
    message: mqtt_message,
    tag: u64,
    properties: *const Properties,
    /// NUL-terminated copies of the string properties, made on the first accessor call.
    strings: OnceCell<Strings>,
}

#[derive(Default)]
struct Strings {
    content_type: Option<CString>,
    response_topic: Option<CString>,
    user: Vec<(CString, CString)>,
}

fn c_string(s: &str) -> CString {
    // Decoded MQTT strings hold no U+0000 ([MQTT-1.5.4-2]); replaced if one ever does.
    CString::new(s)
        .unwrap_or_else(|_| CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default())
}

impl MessageView {
    /// A view of `message` whose pointers borrow from `message` (and `topic`, its topic
    /// NUL-terminated) for as long as the view is used.
    pub(crate) fn new(message: mqtt_message, properties: &Properties) -> MessageView {
        MessageView {
            message,
            tag: VIEW_TAG,
            properties,
            strings: OnceCell::new(),
        }
    }

    pub(crate) fn as_message(&self) -> *const mqtt_message {
        &self.message
    }

    fn properties(&self) -> &Properties {
        // SAFETY: set from a reference that outlives the view (see `new` and `OwnedView`).
        unsafe { &*self.properties }
    }

    fn strings(&self) -> &Strings {
        self.strings.get_or_init(|| {
            let p = self.properties();
            Strings {
                content_type: p.string(PropertyId::ContentType).map(c_string),
                response_topic: p.string(PropertyId::ResponseTopic).map(c_string),
                user: p
                    .user_properties()
                    .map(|(k, v)| (c_string(k), c_string(v)))
                    .collect(),
            }
        })
    }
}

/// The view behind a message pointer from the library.
///
/// # Safety
/// `message` is NULL or a message the library passed to a callback (during that call), or one
/// from `mqtt_message_copy` or `mqtt_request` not yet freed.
unsafe fn view<'a>(message: *const mqtt_message) -> Result<&'a MessageView, FfiError> {
    if message.is_null() {
        return Err(FfiError::null_argument("message"));
    }
    let view = message.cast::<MessageView>();
    if !view.is_aligned() {
        return Err(FfiError::invalid_argument("message is not from libmqtt"));
    }
    // SAFETY: per the caller, every such message is the first field of a live MessageView.
    let view = unsafe { &*view };
    if view.tag != VIEW_TAG {
        return Err(FfiError::invalid_argument("message is not from libmqtt"));
    }
    Ok(view)
}

/// A message copy C owns: the parts, and the view pointing into them.
#[repr(C)]
struct OwnedView {
    view: MessageView,
    topic: CString,
    owned: Box<OwnedMessage>,
}

/// Moves `owned` to the heap as a message C can read through the accessors and must release
/// with `mqtt_message_free`.
pub(crate) fn into_c_message(owned: OwnedMessage) -> *mut mqtt_message {
    let owned = Box::new(owned);
    let topic = c_string(&owned.topic);
    // The CString's and the Box's heap data do not move when they are moved into the struct.
    let message = mqtt_message::of(&owned.as_message(), topic.as_ptr());
    let view = MessageView::new(message, &owned.properties);
    let boxed = Box::new(OwnedView { view, topic, owned });
    Box::into_raw(boxed).cast::<mqtt_message>()
}

/// The Rust view of a C message, for copying.
fn message_of(view: &MessageView) -> OwnedMessage {
    let m = &view.message;
    // SAFETY: the library built these pointers from live slices of these lengths.
    let (topic, payload) = unsafe {
        (
            std::slice::from_raw_parts(m.topic.cast::<u8>(), m.topic_len),
            std::slice::from_raw_parts(m.payload, m.payload_len),
        )
    };
    Message {
        topic: std::str::from_utf8(topic).unwrap_or_default(),
        payload,
        qos: QoS::from_u8(m.qos as u8).unwrap_or(QoS::AtMostOnce),
        retain: m.retain,
        dup: m.dup,
        properties: view.properties(),
    }
    .to_owned()
}

/// Copies a message — topic, payload, flags and every property — so it can be kept after the
/// callback returns. Release the copy with `mqtt_message_free`. Returns NULL (with
/// `mqtt_last_error()`) when `message` is NULL or not from libmqtt.
///
/// Does not block. Callable from any thread, including inside the message callback.
///
/// # Safety
/// `message` is NULL or a message libmqtt handed out (in a callback, during the call; or from
/// `mqtt_message_copy` / `mqtt_request`, not yet freed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_message_copy(message: *const mqtt_message) -> *mut mqtt_message {
    guard_or(std::ptr::null_mut(), || {
        // SAFETY: per the caller.
        let view = unsafe { view(message) }?;
        Ok(into_c_message(message_of(view)))
    })
}

/// Releases a message from `mqtt_message_copy` or `mqtt_request`. NULL is a no-op. Never pass a
/// message a callback received: those belong to the library.
///
/// # Safety
/// `message` is NULL or a pointer from `mqtt_message_copy` or `mqtt_request` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_message_free(message: *mut mqtt_message) {
    guard_void(|| {
        if !message.is_null() {
            // SAFETY: per the caller, this is the Box `into_c_message` leaked.
            drop(unsafe { Box::from_raw(message.cast::<OwnedView>()) });
        }
    })
}

/// How many User Properties the message carries (MQTT 5.0), 0 for none or a NULL message.
///
/// The property accessors below do not block, may be called from any thread, and take a message
/// the library handed out: in a callback during the call, or a copy until freed. Strings they
/// return are NUL-terminated and live as long as the message.
///
/// # Safety
/// `message` is NULL or a message libmqtt handed out.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_message_user_property_count(message: *const mqtt_message) -> usize {
    // SAFETY: per the caller.
    guard_quiet(0, || Ok(unsafe { view(message) }?.strings().user.len()))
}

/// The User Property at `index` (0-based, in the order the publisher gave them,
/// [MQTT-3.3.2-18] of MQTT 5.0): `*name` and `*value` receive NUL-terminated strings that live
/// as long as the message. Returns `MQTT_STATUS_NOT_FOUND` past the last one.
///
/// # Safety
/// `message` as for `mqtt_message_user_property_count`; `name` and `value` are writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_message_user_property_at(
    message: *const mqtt_message,
    index: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let (view, name_out, value_out) = unsafe {
            (
                view(message)?,
                out_arg(name, "name")?,
                out_arg(value, "value")?,
            )
        };
        let (k, v) = view.strings().user.get(index).ok_or_else(|| {
            FfiError::new(
                mqtt_status::NotFound,
                format!("no User Property at index {index}"),
            )
        })?;
        name_out.write(k.as_ptr());
        value_out.write(v.as_ptr());
        Ok(())
    })
}

/// The Content Type property (MQTT 5.0 section 3.3.2.3.9), or NULL when absent. The string
/// belongs to the message and stays valid as long as it does.
///
/// # Safety
/// `message` as for `mqtt_message_user_property_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_message_content_type(message: *const mqtt_message) -> *const c_char {
    guard_quiet(std::ptr::null(), || {
        // SAFETY: per the caller.
        let view = unsafe { view(message) }?;
        Ok(view
            .strings()
            .content_type
            .as_ref()
            .map_or(std::ptr::null(), |s| s.as_ptr()))
    })
}

/// The Response Topic property (MQTT 5.0 section 3.3.2.3.5), or NULL when absent. The string
/// belongs to the message and stays valid as long as it does.
///
/// # Safety
/// `message` as for `mqtt_message_user_property_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_message_response_topic(
    message: *const mqtt_message,
) -> *const c_char {
    guard_quiet(std::ptr::null(), || {
        // SAFETY: per the caller.
        let view = unsafe { view(message) }?;
        Ok(view
            .strings()
            .response_topic
            .as_ref()
            .map_or(std::ptr::null(), |s| s.as_ptr()))
    })
}

/// The Correlation Data property (binary), or NULL when absent; `*len` (may be NULL) receives
/// its length (0 when absent). The bytes belong to the message and stay valid as long as it
/// does.
///
/// # Safety
/// `message` as for `mqtt_message_user_property_count`; `len` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_message_correlation_data(
    message: *const mqtt_message,
    len: *mut usize,
) -> *const u8 {
    guard_quiet(std::ptr::null(), || {
        // SAFETY: per the caller.
        let view = unsafe { view(message) }?;
        let data = view.properties().binary(PropertyId::CorrelationData);
        // SAFETY: NULL or writable per the caller.
        if let Some(out) = unsafe { opt_out_arg(len, "len") }? {
            out.write(data.map_or(0, <[u8]>::len));
        }
        Ok(data.map_or(std::ptr::null(), <[u8]>::as_ptr))
    })
}

/// Whether the message carries a Message Expiry Interval; if so `*seconds` (may be NULL)
/// receives what remains of it — the server subtracts the time the message waited
/// ([MQTT-3.3.2-6] of MQTT 5.0).
///
/// # Safety
/// `message` as for `mqtt_message_user_property_count`; `seconds` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_message_expiry_interval(
    message: *const mqtt_message,
    seconds: *mut u32,
) -> bool {
    guard_quiet(false, || {
        // SAFETY: per the caller.
        let view = unsafe { view(message) }?;
        let Some(value) = view.properties().integer(PropertyId::MessageExpiryInterval) else {
            return Ok(false);
        };
        // SAFETY: NULL or writable per the caller.
        if let Some(out) = unsafe { opt_out_arg(seconds, "seconds") }? {
            out.write(value);
        }
        Ok(true)
    })
}

/// The Payload Format Indicator: 1 (UTF-8 text), 0 (unspecified bytes), or -1 when absent.
///
/// # Safety
/// `message` as for `mqtt_message_user_property_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_message_payload_format(message: *const mqtt_message) -> c_int {
    guard_quiet(-1, || {
        // SAFETY: per the caller.
        let view = unsafe { view(message) }?;
        Ok(view
            .properties()
            .integer(PropertyId::PayloadFormatIndicator)
            .map_or(-1, |v| v as c_int))
    })
}

/// How many Subscription Identifiers the message carries: one for each matching subscription
/// made with an identifier (MQTT 5.0 section 3.3.2.3.8).
///
/// # Safety
/// `message` as for `mqtt_message_user_property_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_message_subscription_identifier_count(
    message: *const mqtt_message,
) -> usize {
    guard_quiet(0, || {
        // SAFETY: per the caller.
        let view = unsafe { view(message) }?;
        Ok(view.properties().subscription_identifiers().count())
    })
}

/// The Subscription Identifier at `index` (0-based), or 0 (never an identifier) past the last.
///
/// # Safety
/// `message` as for `mqtt_message_user_property_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_message_subscription_identifier_at(
    message: *const mqtt_message,
    index: usize,
) -> u32 {
    guard_quiet(0, || {
        // SAFETY: per the caller.
        let view = unsafe { view(message) }?;
        Ok(view
            .properties()
            .subscription_identifiers()
            .nth(index)
            .unwrap_or(0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Property;
    use std::ffi::CStr;

    #[test]
    fn copies_keep_every_property() {
        let owned = OwnedMessage {
            topic: "a/b".into(),
            payload: b"x".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
            dup: false,
            properties: Properties(vec![
                Property::UserProperty("k1".into(), "v1".into()),
                Property::ContentType("text/plain".into()),
                Property::UserProperty("k2".into(), "v2".into()),
                Property::CorrelationData(vec![1, 2]),
                Property::MessageExpiryInterval(30),
                Property::PayloadFormatIndicator(1),
                Property::SubscriptionIdentifier(7),
            ]),
        };
        let m = into_c_message(owned);
        unsafe {
            let copy = mqtt_message_copy(m);
            mqtt_message_free(m);
            assert_eq!(mqtt_message_user_property_count(copy), 2);
            let (mut k, mut v) = (std::ptr::null(), std::ptr::null());
            assert_eq!(
                mqtt_message_user_property_at(copy, 1, &mut k, &mut v),
                mqtt_status::Ok
            );
            assert_eq!(CStr::from_ptr(k).to_str(), Ok("k2"));
            assert_eq!(CStr::from_ptr(v).to_str(), Ok("v2"));
            assert_eq!(
                mqtt_message_user_property_at(copy, 2, &mut k, &mut v),
                mqtt_status::NotFound
            );
            let ct = CStr::from_ptr(mqtt_message_content_type(copy));
            assert_eq!(ct.to_str(), Ok("text/plain"));
            assert!(mqtt_message_response_topic(copy).is_null());
            let mut len = 0;
            let data = mqtt_message_correlation_data(copy, &mut len);
            assert_eq!(std::slice::from_raw_parts(data, len), &[1, 2]);
            let mut secs = 0;
            assert!(mqtt_message_expiry_interval(copy, &mut secs));
            assert_eq!(secs, 30);
            assert_eq!(mqtt_message_payload_format(copy), 1);
            assert_eq!(mqtt_message_subscription_identifier_count(copy), 1);
            assert_eq!(mqtt_message_subscription_identifier_at(copy, 0), 7);
            assert_eq!(mqtt_message_subscription_identifier_at(copy, 1), 0);
            assert_eq!(CStr::from_ptr((*copy).topic).to_str(), Ok("a/b"));
            mqtt_message_free(copy);
            mqtt_message_free(std::ptr::null_mut());
            assert!(mqtt_message_copy(std::ptr::null()).is_null());
            assert_eq!(mqtt_message_payload_format(std::ptr::null()), -1);
        }
    }
}
