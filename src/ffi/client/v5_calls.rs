//! The MQTT 5.0 calls on a connection: publish and subscribe with options, request/response,
//! re-authentication, DISCONNECT with a reason. The older calls delegate here with no options.

use std::ffi::{c_char, c_int, c_void};
use std::time::Duration;

use super::super::args::{UserData, bytes_arg, c_str_arg, opt_out_arg, out_arg, qos_arg};
use super::super::error::FfiError;
use super::super::guard::guard_status;
use super::super::reason::set_last_reason_code;
use super::super::status::mqtt_status;
use super::callbacks::c_message_callback;
use super::lifetime::ConnectionCall;
use super::message::into_c_message;
use super::v5_options::{
    mqtt_publish_options, mqtt_subscribe_options, publish_options_arg, subscribe_options_arg,
};
use super::{connection_arg, mqtt_connection, mqtt_message, mqtt_message_callback, positive_ms};
use crate::client::{ClientError, PublishOptions, SubscribeOptions};
use crate::protocol::{PacketId, ReasonCode};

/// `mqtt_publish` with MQTT 5.0 properties from `options` (NULL: none). Blocks as `mqtt_publish`
/// does. The acknowledgement's reason code is available from `mqtt_last_reason_code()` (0x00,
/// or 0x10 no matching subscribers); a refusal (0x80 and above) returns
/// `MQTT_STATUS_PUBLISH_REFUSED`. A packet larger than the server's Maximum Packet Size is not
/// sent: `MQTT_STATUS_TOO_LARGE`. When the server allows topic aliases the topic goes as an
/// alias after its first use, unless the options forbid it. Properties on a connection below
/// protocol level 5: `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// As for `mqtt_publish`; `options` is NULL or a handle from `mqtt_publish_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish_ex(
    connection: *const mqtt_connection,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    qos: c_int,
    retain: bool,
    options: *const mqtt_publish_options,
) -> mqtt_status {
    guard_status(|| {
        set_last_reason_code(None);
        let defaults = PublishOptions::default();
        // SAFETY: forwarded to the caller.
        let (client, topic, payload, options) =
            unsafe { publish_args(connection, topic, payload, len, options, &defaults) }?;
        let code = client.publish_ex(topic, payload, qos_arg(qos)?, retain, options)?;
        set_last_reason_code(Some(code));
        Ok(())
    })
}

/// `mqtt_publish_async` with MQTT 5.0 properties from `options` (NULL: none). The window also
/// respects the server's Receive Maximum. A refusal arrives later, through
/// `mqtt_wait_published` or the on_published callback (`MQTT_STATUS_PUBLISH_REFUSED`).
///
/// # Safety
/// As for `mqtt_publish_async`; `options` is NULL or a handle from `mqtt_publish_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_publish_async_ex(
    connection: *const mqtt_connection,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    qos: c_int,
    retain: bool,
    options: *const mqtt_publish_options,
    packet_id: *mut u16,
) -> mqtt_status {
    guard_status(|| {
        set_last_reason_code(None);
        let defaults = PublishOptions::default();
        // SAFETY: forwarded to the caller.
        let (client, topic, payload, options) =
            unsafe { publish_args(connection, topic, payload, len, options, &defaults) }?;
        // SAFETY: NULL or writable per the caller.
        let id_out = unsafe { opt_out_arg(packet_id, "packet_id") }?;
        let result = client.publish_async_ex(topic, payload, qos_arg(qos)?, retain, options);
        // A queued publish has its identifier already: the caller waits for it like any other.
        if let (Ok(id) | Err(ClientError::Queued(id)), Some(out)) = (&result, id_out) {
            out.write(id.map_or(0, PacketId::get));
        }
        result?;
        Ok(())
    })
}

/// The arguments of the publish calls, checked: the connection, topic, payload and options
/// (`defaults` for NULL).
///
/// # Safety
/// As for `mqtt_publish_ex`.
unsafe fn publish_args(
    connection: *const mqtt_connection,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    options: *const mqtt_publish_options,
    defaults: &PublishOptions,
) -> Result<(ConnectionCall, &str, &[u8], &PublishOptions), FfiError> {
    // SAFETY: the caller passes a live handle, a string, a buffer and a handle or NULL.
    unsafe {
        Ok((
            connection_arg(connection)?,
            c_str_arg(topic, "topic")?,
            bytes_arg(payload, len, "payload")?,
            publish_options_arg(options, defaults)?,
        ))
    }
}

/// The body of the subscribe calls: `filters` with `qos`, `options`, one callback; the reason
/// codes.
///
/// # Safety
/// `connection` a live handle; `filters`/`qos` `count` strings and ints; `options` NULL or a
/// live handle.
pub(super) unsafe fn subscribe_codes(
    connection: *const mqtt_connection,
    filters: *const *const c_char,
    qos: *const c_int,
    count: usize,
    options: *const mqtt_subscribe_options,
    callback: mqtt_message_callback,
    userdata: *mut c_void,
) -> Result<Vec<ReasonCode>, FfiError> {
    set_last_reason_code(None);
    let defaults = SubscribeOptions::default();
    // SAFETY: the caller passes a live handle and a handle or NULL.
    let (client, options) = unsafe {
        (
            connection_arg(connection)?,
            subscribe_options_arg(options, &defaults)?,
        )
    };
    if count == 0 {
        return Err(FfiError::invalid_argument(
            "SUBSCRIBE needs at least one filter [MQTT-3.8.3-3]",
        ));
    }
    if filters.is_null() || qos.is_null() {
        return Err(FfiError::null_argument(if filters.is_null() {
            "filters"
        } else {
            "qos"
        }));
    }
    // SAFETY: non-NULL, with `count` elements per the caller.
    let (filter_ptrs, qos_values) = unsafe {
        (
            std::slice::from_raw_parts(filters, count),
            std::slice::from_raw_parts(qos, count),
        )
    };
    let mut requested = Vec::with_capacity(count);
    for (&filter, &q) in filter_ptrs.iter().zip(qos_values) {
        // SAFETY: each is a NUL-terminated string per the caller.
        requested.push((unsafe { c_str_arg(filter, "filter") }?, qos_arg(q)?));
    }
    let callback = callback.ok_or_else(|| FfiError::null_argument("callback"))?;
    let userdata = UserData::new(userdata);
    let codes = client.subscribe_ex(&requested, options, c_message_callback(callback, userdata))?;
    set_last_reason_code(codes.first().copied());
    Ok(codes)
}

/// `mqtt_subscribe` with MQTT 5.0 subscription options (NULL: MQTT 3.1.1's behaviour): No
/// Local, Retain As Published, Retain Handling, a Subscription Identifier and SUBSCRIBE user
/// properties. `*reason_code` (may be NULL) receives the SUBACK reason code — the granted QoS
/// (0, 1, 2) or the refusal (0x80 and above: 0x87 not authorized, 0x8F topic filter invalid,
/// 0x9E shared subscriptions not supported, 0xA1 subscription identifiers not supported, 0xA2
/// wildcard subscriptions not supported) — on `MQTT_STATUS_OK` and on
/// `MQTT_STATUS_SUBSCRIBE_FAILED`. Options other than the defaults on a connection below
/// protocol level 5: `MQTT_STATUS_INVALID_ARGUMENT`. Otherwise as `mqtt_subscribe`, whose
/// callback runs on the thread documented at `mqtt_message_callback` (the loop thread, or the
/// thread reading inside a blocking call).
///
/// # Safety
/// As for `mqtt_subscribe`; `options` is NULL or a handle from `mqtt_subscribe_options_new`;
/// `reason_code` is NULL or a writable int.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_subscribe_ex(
    connection: *const mqtt_connection,
    filter: *const c_char,
    qos: c_int,
    options: *const mqtt_subscribe_options,
    callback: mqtt_message_callback,
    userdata: *mut c_void,
    reason_code: *mut c_int,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: NULL or writable per the caller.
        let out = unsafe { opt_out_arg(reason_code, "reason_code") }?;
        // SAFETY: one filter and one QoS, per the caller.
        let codes =
            unsafe { subscribe_codes(connection, &filter, &qos, 1, options, callback, userdata) }?;
        let code = codes[0];
        if let Some(out) = out {
            out.write(c_int::from(code.0));
        }
        if code.is_success() {
            Ok(())
        } else {
            // SAFETY: checked non-NULL and UTF-8 by `subscribe_codes`.
            Err(subscribe_refused(
                unsafe { c_str_arg(filter, "filter") }?,
                code,
            ))
        }
    })
}

/// The failure of a subscription the server refused with `code`, which
/// `mqtt_last_reason_code()` then gives and the message names.
pub(super) fn subscribe_refused(filter: &str, code: ReasonCode) -> FfiError {
    set_last_reason_code(Some(code));
    FfiError::new(
        mqtt_status::SubscribeFailed,
        format!(
            "broker refused the subscription to {filter:?}: SUBACK reason code 0x{:02X} ({})",
            code.0,
            code.description()
        ),
    )
}

/// `mqtt_subscribe_many` with MQTT 5.0 subscription options (NULL: MQTT 3.1.1's behaviour), the
/// same for every filter. `reason_codes[i]` (the array may be NULL) receives the SUBACK reason
/// code for `filters[i]`: the granted QoS or a refusal (0x80 and above), whose callback is
/// removed again; the call succeeds even if some filters were refused. The callback runs on
/// the thread documented at `mqtt_message_callback`.
///
/// # Safety
/// As for `mqtt_subscribe_many`; `options` is NULL or a handle from
/// `mqtt_subscribe_options_new`; `reason_codes` NULL or `count` writable ints.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_subscribe_many_ex(
    connection: *const mqtt_connection,
    filters: *const *const c_char,
    qos: *const c_int,
    count: usize,
    options: *const mqtt_subscribe_options,
    callback: mqtt_message_callback,
    userdata: *mut c_void,
    reason_codes: *mut c_int,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: forwarded to the caller.
        let codes = unsafe {
            subscribe_codes(connection, filters, qos, count, options, callback, userdata)
        }?;
        if !reason_codes.is_null() {
            // SAFETY: non-NULL, so `count` writable ints per the caller.
            let out = unsafe { std::slice::from_raw_parts_mut(reason_codes, count) };
            for (slot, code) in out.iter_mut().zip(codes) {
                *slot = c_int::from(code.0);
            }
        }
        Ok(())
    })
}

/// MQTT 5.0 request/response (MQTT 5.0 section 4.10): publishes `payload` to `topic` at `qos`
/// with a Response Topic and a fresh Correlation Data, and waits up to `timeout_ms` (above 0)
/// for the response: the message on the response topic carrying the same Correlation Data.
/// The response topic is below the server's Response Information when it gave one
/// (`mqtt_connect_options_set_request_response_information`), otherwise
/// `libmqtt/response/CLIENT_ID`; it is subscribed to (QoS 1) on the first request. Responses
/// are taken aside on arrival: no message callback sees them.
///
/// On `MQTT_STATUS_OK`, `*response` receives the response, to read with the `mqtt_message_*`
/// accessors and release with `mqtt_message_free`. Returns `MQTT_STATUS_TIMEOUT` when no
/// response came, `MQTT_STATUS_INVALID_ARGUMENT` below protocol level 5, and the statuses of
/// `mqtt_publish_ex` and `mqtt_subscribe`. Blocks; callable from any thread and from inside a
/// callback (the response is read meanwhile).
///
/// # Safety
/// As for `mqtt_publish`; `response` points to a writable `mqtt_message *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_request(
    connection: *const mqtt_connection,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    qos: c_int,
    timeout_ms: c_int,
    response: *mut *mut mqtt_message,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle, a string, a buffer and an out pointer.
        let (client, topic, payload, out) = unsafe {
            (
                connection_arg(connection)?,
                c_str_arg(topic, "topic")?,
                bytes_arg(payload, len, "payload")?,
                out_arg(response, "response")?,
            )
        };
        let timeout: Duration = positive_ms(timeout_ms, "timeout_ms")?;
        let message = client.request(topic, payload, qos_arg(qos)?, timeout)?;
        out.write(into_c_message(message));
        Ok(())
    })
}

/// MQTT 5.0 re-authentication (MQTT 5.0 section 4.12.1): sends AUTH (re-authenticate, 0x19)
/// with the connect's Authentication Method and `data`/`len`, answers the server's AUTH
/// packets through the authentication callback, and waits (at most the operation timeout) for
/// the server's success. Returns `MQTT_STATUS_AUTH_FAILED` when the connection did not use
/// enhanced authentication, `MQTT_STATUS_CLOSED` when the server refused (it closes the
/// connection; `mqtt_last_reason_code()` gives its reason), `MQTT_STATUS_TIMEOUT`. Blocks.
///
/// # Safety
/// `connection` is a live handle; `data` NULL (with `len` 0) or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_reauthenticate(
    connection: *const mqtt_connection,
    data: *const u8,
    len: usize,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle and a buffer.
        let (client, data) =
            unsafe { (connection_arg(connection)?, bytes_arg(data, len, "data")?) };
        client.reauthenticate(data)?;
        Ok(())
    })
}

/// `mqtt_disconnect` with an MQTT 5.0 reason code (0..255; 0x00 normal, 0x04 "disconnect with
/// will message" asks the server to publish the will all the same) and a new Session Expiry
/// Interval in seconds (-1 leaves it unchanged; MQTT 5.0 forbids raising it from 0,
/// MQTT 5.0 section 3.14.2.2.2). Below protocol level 5 neither is sent.
///
/// # Safety
/// `connection` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_disconnect_ex(
    connection: *const mqtt_connection,
    reason_code: c_int,
    session_expiry: i64,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes a live handle.
        let client = unsafe { connection_arg(connection) }?;
        let reason = u8::try_from(reason_code)
            .map(ReasonCode)
            .ok()
            .filter(|r| r.is_valid_in(crate::protocol::PropertyContext::Disconnect))
            .ok_or_else(|| {
                FfiError::invalid_argument(format!(
                    "{reason_code} is not a DISCONNECT reason code (MQTT 5.0 section 3.14.2.1)"
                ))
            })?;
        let expiry = match session_expiry {
            -1 => None,
            s => Some(u32::try_from(s).map_err(|_| {
                FfiError::invalid_argument("session_expiry must be -1 or 0..4294967295")
            })?),
        };
        client.disconnect_with(reason, expiry)?;
        Ok(())
    })
}
