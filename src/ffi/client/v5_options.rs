//! MQTT 5.0 settings from C: typed setters on the connect options, and the publish and
//! subscribe options handles. Typed setters rather than a property list, so adding a property
//! later never changes a struct C sees.

use std::ffi::{c_char, c_int, c_void};

use super::super::args::{UserData, bytes_arg, c_str_arg};
use super::super::error::FfiError;
use super::super::guard::{guard_or, guard_void};
use super::super::handle::{OptionsHandle, free_handle, handle_ref, into_handle, with_options};
use super::super::status::mqtt_status;
use super::mqtt_connect_options;
use crate::client::{ConnectOptions, PublishOptions, SubscribeOptions};
use crate::protocol::{Property, PropertyId};

/// MQTT 5.0 properties for one or many publishes (`mqtt_publish_ex`, `mqtt_publish_async_ex`,
/// the will through `mqtt_connect_options_set_will_properties`). Create with
/// `mqtt_publish_options_new`, release with `mqtt_publish_options_free`. Not thread-safe while
/// being modified; the calls that take it only read it, and it may be reused or freed as soon
/// as they return.
pub struct mqtt_publish_options {
    options: PublishOptions,
}

impl OptionsHandle for mqtt_publish_options {
    type Options = PublishOptions;
    const ARG: &'static str = "options";
    fn options_mut(&mut self) -> &mut PublishOptions {
        &mut self.options
    }
}

impl mqtt_publish_options {
    pub(crate) fn options(&self) -> &PublishOptions {
        &self.options
    }
}

/// MQTT 5.0 subscription options and SUBSCRIBE properties (`mqtt_subscribe_ex`,
/// `mqtt_subscribe_many_ex`). Create with `mqtt_subscribe_options_new`, release with
/// `mqtt_subscribe_options_free`; same threading rules as `mqtt_publish_options`.
pub struct mqtt_subscribe_options {
    options: SubscribeOptions,
}

impl OptionsHandle for mqtt_subscribe_options {
    type Options = SubscribeOptions;
    const ARG: &'static str = "options";
    fn options_mut(&mut self) -> &mut SubscribeOptions {
        &mut self.options
    }
}

impl mqtt_subscribe_options {
    pub(crate) fn options(&self) -> &SubscribeOptions {
        &self.options
    }
}

/// Answers a step of MQTT 5.0 enhanced authentication (MQTT 5.0 section 4.12): `method` is the
/// Authentication Method (NUL-terminated), `data`/`len` the server's Authentication Data (may
/// be empty). Write the reply's Authentication Data into `out` (room for `out_capacity` =
/// 65535 bytes), its length into `*out_len`, and return 0; return anything else to give up
/// (the connection then fails with `MQTT_STATUS_AUTH_FAILED`).
///
/// Which thread calls it: during connect the thread inside `mqtt_connect` / `mqtt_reconnect`
/// (or the loop thread for an automatic reconnect); afterwards, for re-authentication, the
/// thread reading the connection, as for message callbacks.
///
/// What it may call: libmqtt functions that do not block (status, topic and message
/// functions). No lock is held.
pub type mqtt_auth_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        method: *const c_char,
        data: *const u8,
        len: usize,
        out: *mut u8,
        out_capacity: usize,
        out_len: *mut usize,
    ) -> c_int,
>;

/// Applies `change` to the MQTT 5.0 CONNECT properties, after checking the options ask for
/// MQTT 5.0 eventually (checked at connect: protocol level 5).
unsafe fn with_connect(
    options: *mut mqtt_connect_options,
    change: impl FnOnce(ConnectOptions) -> Result<ConnectOptions, FfiError>,
) -> mqtt_status {
    // SAFETY: forwarded to the caller.
    unsafe {
        with_options(options, |o| {
            *o = change(std::mem::take(o))?;
            Ok(())
        })
    }
}

/// Sets the MQTT 5.0 Session Expiry Interval in seconds (default 0: the session ends with the
/// connection; 0xFFFFFFFF: never). Above 0 the session also persists on this side:
/// unacknowledged publishes are re-sent after a reconnect, which resumes the session. The
/// MQTT 5.0 setters below take effect only with protocol level 5
/// (`mqtt_connect_options_set_protocol_level`); `mqtt_connect` refuses them at levels 3 and 4
/// with `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// Does not block. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_session_expiry(
    options: *mut mqtt_connect_options,
    seconds: u32,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe { with_connect(options, |o| Ok(o.session_expiry(seconds))) }
}

/// Sets the MQTT 5.0 Receive Maximum: how many QoS 1/2 messages the server may send before
/// this client acknowledged them, 1..65535 (default: not sent, meaning 65535).
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, or
/// `MQTT_STATUS_INVALID_ARGUMENT` for 0.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_receive_maximum(
    options: *mut mqtt_connect_options,
    maximum: u16,
) -> mqtt_status {
    if maximum == 0 {
        return super::super::guard::guard_status(|| {
            Err(FfiError::invalid_argument(
                "Receive Maximum must be 1..65535 (MQTT 5.0 section 3.1.2.11.3)",
            ))
        });
    }
    // SAFETY: per the caller.
    unsafe { with_connect(options, |o| Ok(o.receive_maximum(maximum))) }
}

/// Sets the largest packet this client accepts, in bytes (at least 2; default: the protocol's
/// maximum). Larger incoming packets close the connection; with protocol level 5 the value is
/// sent as Maximum Packet Size, so the server never sends one.
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, or
/// `MQTT_STATUS_INVALID_ARGUMENT` below 2.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_maximum_packet_size(
    options: *mut mqtt_connect_options,
    bytes: u32,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(options, |o| {
            if bytes < 2 {
                return Err(FfiError::invalid_argument(
                    "maximum packet size must be at least 2 bytes",
                ));
            }
            o.max_packet_size = (bytes as usize).min(crate::protocol::MAX_REMAINING_LENGTH + 5);
            Ok(())
        })
    }
}

/// Sets the MQTT 5.0 Topic Alias Maximum: how many topic aliases the server may use in
/// messages to this client (default 0: none). The client resolves them; callbacks always see
/// the topic name.
///
/// Does not block. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_topic_alias_maximum(
    options: *mut mqtt_connect_options,
    maximum: u16,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe { with_connect(options, |o| Ok(o.topic_alias_maximum(maximum))) }
}

/// Sets MQTT 5.0 Request Response Information: asks the server for Response Information in
/// CONNACK, which `mqtt_request` uses as the basis of its response topic.
///
/// Does not block. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_request_response_information(
    options: *mut mqtt_connect_options,
    on: bool,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe { with_connect(options, |o| Ok(o.request_response_information(on))) }
}

/// Sets MQTT 5.0 Request Problem Information (default on): off asks the server to leave out
/// Reason Strings and User Properties except in PUBLISH, CONNACK and DISCONNECT.
///
/// Does not block. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_request_problem_information(
    options: *mut mqtt_connect_options,
    on: bool,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe { with_connect(options, |o| Ok(o.request_problem_information(on))) }
}

/// Adds an MQTT 5.0 User Property to CONNECT (both strings copied; repeatable, order kept).
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, or
/// `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `name` and `value` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_add_user_property(
    options: *mut mqtt_connect_options,
    name: *const c_char,
    value: *const c_char,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_connect(options, |o| {
            let (name, value) = (c_str_arg(name, "name")?, c_str_arg(value, "value")?);
            Ok(o.user_property(name, value))
        })
    }
}

/// Sets the MQTT 5.0 properties of the will set with `mqtt_connect_options_set_will` (call
/// that first): those of `properties` (message expiry, content type, response topic,
/// correlation data, payload format, user properties; copied) and the Will Delay Interval in
/// seconds (the server waits that long after the connection ends before publishing the will,
/// MQTT 5.0 section 3.1.3.2.2). `properties` may be NULL for none.
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
/// `MQTT_STATUS_INVALID_STATE` when no will is set.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `properties` NULL or a handle from
/// `mqtt_publish_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_will_properties(
    options: *mut mqtt_connect_options,
    properties: *const mqtt_publish_options,
    will_delay: u32,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(options, |o| {
            let source = if properties.is_null() {
                None
            } else {
                Some(handle_ref(properties, "properties")?)
            };
            let will = o.will.as_mut().ok_or_else(|| {
                FfiError::new(
                    mqtt_status::InvalidState,
                    "set the will with mqtt_connect_options_set_will first",
                )
            })?;
            let mut p = source
                .map(|s| s.options.properties.clone())
                .unwrap_or_default();
            if will_delay > 0 {
                p.push(Property::WillDelayInterval(will_delay));
            }
            will.properties = p;
            Ok(())
        })
    }
}

/// Turns on MQTT 5.0 enhanced authentication (MQTT 5.0 section 4.12): CONNECT names `method`
/// with `data`/`len` (may be empty) as initial Authentication Data, and `callback` answers each
/// AUTH the server sends to continue, at connect and during `mqtt_reauthenticate`. `method`
/// NULL turns it off again.
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (options NULL, or
/// method given without callback), `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `method` NULL or NUL-terminated;
/// `data` NULL (with `len` 0) or `len` readable bytes; `callback` may be called with
/// `userdata` from the threads described at `mqtt_auth_callback` until the connection is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_authentication(
    options: *mut mqtt_connect_options,
    method: *const c_char,
    data: *const u8,
    len: usize,
    callback: mqtt_auth_callback,
    userdata: *mut c_void,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_connect(options, |mut o| {
            if method.is_null() {
                o.properties.remove(PropertyId::AuthenticationMethod);
                o.properties.remove(PropertyId::AuthenticationData);
                o.callbacks.on_auth = None;
                return Ok(o);
            }
            let method = c_str_arg(method, "method")?;
            let data = bytes_arg(data, len, "data")?;
            let callback = callback.ok_or_else(|| FfiError::null_argument("callback"))?;
            let userdata = UserData::new(userdata);
            let o = o.authentication(method, (!data.is_empty()).then_some(data), move |m, d| {
                c_auth_step(callback, userdata, m, d)
            });
            Ok(o)
        })
    }
}

/// Calls a C authentication callback for one step.
fn c_auth_step(
    callback: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        *const u8,
        usize,
        *mut u8,
        usize,
        *mut usize,
    ) -> c_int,
    userdata: UserData,
    method: &str,
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let method = std::ffi::CString::new(method).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; usize::from(u16::MAX)];
    let mut out_len = 0usize;
    // SAFETY: the C caller supplied this function and userdata for exactly these calls; every
    // pointer lives until it returns and `out` has `out.len()` writable bytes.
    let verdict = unsafe {
        callback(
            userdata.as_ptr(),
            method.as_ptr(),
            if data.is_empty() {
                [0u8].as_ptr()
            } else {
                data.as_ptr()
            },
            data.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut out_len,
        )
    };
    if verdict != 0 {
        return Err(format!("the authentication callback gave up ({verdict})"));
    }
    if out_len > out.len() {
        return Err("the authentication callback wrote more than out_capacity".into());
    }
    out.truncate(out_len);
    Ok(out)
}

/// New publish options: no properties, topic aliases allowed. Release with
/// `mqtt_publish_options_free`. Returns NULL only if memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_publish_options_new() -> *mut mqtt_publish_options {
    guard_or(std::ptr::null_mut(), || {
        Ok(into_handle(mqtt_publish_options {
            options: PublishOptions::default(),
        }))
    })
}

/// Releases publish options. NULL is a no-op.
///
/// # Safety
/// `options` is NULL or a pointer from `mqtt_publish_options_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish_options_free(options: *mut mqtt_publish_options) {
    // SAFETY: per the caller.
    guard_void(|| unsafe { free_handle(options) })
}

/// Applies a [`PublishOptions`] builder step.
unsafe fn with_publish(
    options: *mut mqtt_publish_options,
    change: impl FnOnce(PublishOptions) -> Result<PublishOptions, FfiError>,
) -> mqtt_status {
    // SAFETY: forwarded to the caller.
    unsafe {
        with_options(options, |o| {
            *o = change(std::mem::take(o))?;
            Ok(())
        })
    }
}

/// Sets the Message Expiry Interval in seconds: the server drops the message once it waited
/// that long for a subscriber, and forwards what remains of it.
///
/// The `mqtt_publish_options_*` setters do not block and return `MQTT_STATUS_OK`,
/// `MQTT_STATUS_NULL_ARGUMENT`, or (strings) `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `options` is a handle from `mqtt_publish_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish_options_set_message_expiry(
    options: *mut mqtt_publish_options,
    seconds: u32,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe { with_publish(options, |o| Ok(o.message_expiry(seconds))) }
}

/// Sets the Content Type (copied), e.g. a MIME type.
///
/// # Safety
/// `options` is a handle from `mqtt_publish_options_new`; `content_type` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish_options_set_content_type(
    options: *mut mqtt_publish_options,
    content_type: *const c_char,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_publish(options, |o| {
            Ok(o.content_type(c_str_arg(content_type, "content_type")?))
        })
    }
}

/// Sets the Response Topic (copied): where a responder should publish its response. Must be a
/// valid topic name (checked by the publish: `MQTT_STATUS_INVALID_TOPIC`).
///
/// # Safety
/// `options` is a handle from `mqtt_publish_options_new`; `topic` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish_options_set_response_topic(
    options: *mut mqtt_publish_options,
    topic: *const c_char,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_publish(
            options,
            |o| Ok(o.response_topic(c_str_arg(topic, "topic")?)),
        )
    }
}

/// Sets the Correlation Data (copied, binary, at most 65535 bytes).
///
/// # Safety
/// `options` is a handle from `mqtt_publish_options_new`; `data` NULL (with `len` 0) or `len`
/// readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish_options_set_correlation_data(
    options: *mut mqtt_publish_options,
    data: *const u8,
    len: usize,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_publish(options, |o| {
            let data = bytes_arg(data, len, "data")?;
            if data.len() > usize::from(u16::MAX) {
                return Err(FfiError::new(
                    mqtt_status::TooLarge,
                    "correlation data is at most 65535 bytes",
                ));
            }
            Ok(o.correlation_data(data))
        })
    }
}

/// Sets the Payload Format Indicator: 1 says the payload is UTF-8 text (the server may check
/// it), 0 unspecified bytes. Other values: `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `options` is a handle from `mqtt_publish_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish_options_set_payload_format(
    options: *mut mqtt_publish_options,
    format: c_int,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_publish(options, |o| match format {
            0 | 1 => Ok(o.payload_is_utf8(format == 1)),
            other => Err(FfiError::invalid_argument(format!(
                "payload format must be 0 or 1, not {other}"
            ))),
        })
    }
}

/// Adds a User Property (copied; repeatable, order kept end to end).
///
/// # Safety
/// `options` is a handle from `mqtt_publish_options_new`; `name` and `value` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish_options_add_user_property(
    options: *mut mqtt_publish_options,
    name: *const c_char,
    value: *const c_char,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_publish(options, |o| {
            Ok(o.user_property(c_str_arg(name, "name")?, c_str_arg(value, "value")?))
        })
    }
}

/// Sets whether the publish may go with a topic alias when the server allows them (default
/// true): the library assigns aliases itself, least recently used first when all are taken.
///
/// # Safety
/// `options` is a handle from `mqtt_publish_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish_options_set_topic_alias(
    options: *mut mqtt_publish_options,
    allowed: bool,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe { with_publish(options, |o| Ok(o.topic_alias(allowed))) }
}

/// New subscribe options with MQTT 3.1.1's behaviour: own messages delivered, RETAIN cleared
/// on forwarded messages, retained messages sent on every subscribe, no identifier. Release
/// with `mqtt_subscribe_options_free`. Returns NULL only if memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_subscribe_options_new() -> *mut mqtt_subscribe_options {
    guard_or(std::ptr::null_mut(), || {
        Ok(into_handle(mqtt_subscribe_options {
            options: SubscribeOptions::default(),
        }))
    })
}

/// Releases subscribe options. NULL is a no-op.
///
/// # Safety
/// `options` is NULL or a pointer from `mqtt_subscribe_options_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_subscribe_options_free(options: *mut mqtt_subscribe_options) {
    // SAFETY: per the caller.
    guard_void(|| unsafe { free_handle(options) })
}

/// Sets No Local: messages this client publishes are not sent back to it (MQTT 5.0
/// [MQTT-3.8.3-3]).
///
/// The `mqtt_subscribe_options_*` setters do not block and return `MQTT_STATUS_OK`,
/// `MQTT_STATUS_NULL_ARGUMENT`, or `MQTT_STATUS_INVALID_ARGUMENT` for a value out of range.
///
/// # Safety
/// `options` is a handle from `mqtt_subscribe_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_subscribe_options_set_no_local(
    options: *mut mqtt_subscribe_options,
    on: bool,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(options, |o| {
            o.options.no_local = on;
            Ok(())
        })
    }
}

/// Sets Retain As Published: forwarded messages keep the RETAIN flag they were published with.
///
/// # Safety
/// `options` is a handle from `mqtt_subscribe_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_subscribe_options_set_retain_as_published(
    options: *mut mqtt_subscribe_options,
    on: bool,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(options, |o| {
            o.options.retain_as_published = on;
            Ok(())
        })
    }
}

/// Sets Retain Handling: 0 send retained messages on subscribe, 1 only when the subscription is
/// new, 2 never.
///
/// # Safety
/// `options` is a handle from `mqtt_subscribe_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_subscribe_options_set_retain_handling(
    options: *mut mqtt_subscribe_options,
    handling: c_int,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(options, |o| {
            o.options.retain_handling = u8::try_from(handling)
                .ok()
                .filter(|h| *h <= 2)
                .ok_or_else(|| {
                    FfiError::invalid_argument(format!(
                        "retain handling must be 0, 1 or 2, not {handling}"
                    ))
                })?;
            Ok(())
        })
    }
}

/// Sets the Subscription Identifier, 1..268435455 (0 removes it): the server sends it back
/// with every message this subscription delivers (`mqtt_message_subscription_identifier_at`).
///
/// # Safety
/// `options` is a handle from `mqtt_subscribe_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_subscribe_options_set_subscription_identifier(
    options: *mut mqtt_subscribe_options,
    identifier: u32,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(options, |o| {
            if identifier > crate::protocol::MAX_VAR_INT {
                return Err(FfiError::invalid_argument(
                    "a Subscription Identifier is 1..268435455",
                ));
            }
            o.subscription_identifier = (identifier != 0).then_some(identifier);
            Ok(())
        })
    }
}

/// Adds a User Property to the SUBSCRIBE (copied; repeatable, order kept).
///
/// # Safety
/// `options` is a handle from `mqtt_subscribe_options_new`; `name` and `value` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_subscribe_options_add_user_property(
    options: *mut mqtt_subscribe_options,
    name: *const c_char,
    value: *const c_char,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(options, |o| {
            let (name, value) = (c_str_arg(name, "name")?, c_str_arg(value, "value")?);
            o.user_properties.push((name.to_owned(), value.to_owned()));
            Ok(())
        })
    }
}

/// The publish options behind a handle, or the defaults for NULL.
///
/// # Safety
/// `options` is NULL or a live handle.
pub(super) unsafe fn publish_options_arg(
    options: *const mqtt_publish_options,
    defaults: &PublishOptions,
) -> Result<&PublishOptions, FfiError> {
    if options.is_null() {
        return Ok(defaults);
    }
    // SAFETY: per the caller.
    Ok(unsafe { handle_ref(options, "options") }?.options())
}

/// The subscribe options behind a handle, or the defaults for NULL.
///
/// # Safety
/// `options` is NULL or a live handle.
pub(super) unsafe fn subscribe_options_arg(
    options: *const mqtt_subscribe_options,
    defaults: &SubscribeOptions,
) -> Result<&SubscribeOptions, FfiError> {
    if options.is_null() {
        return Ok(defaults);
    }
    // SAFETY: per the caller.
    Ok(unsafe { handle_ref(options, "options") }?.options())
}
