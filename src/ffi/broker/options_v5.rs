//! `mqtt_broker_options_*` for what MQTT 5.0 adds: the limits and capabilities announced in
//! CONNACK, and enhanced authentication with its reply handle.

use std::ffi::{c_char, c_int, c_void};

use super::super::args::{UserData, bytes_arg, opt_c_str_arg, qos_arg};
use super::super::error::FfiError;
use super::super::guard::guard_status;
use super::super::handle::{handle_mut, with_options};
use super::super::status::mqtt_status;
use super::callbacks::c_enhanced_authenticator;
use super::options::at_least;
use super::{mqtt_auth_reply, mqtt_broker_enhanced_authenticator, mqtt_broker_options};
use crate::broker::BrokerOptions;

/// MQTT 5.0: sets how many QoS 2 messages one client may have unacknowledged at once (the
/// Receive Maximum announced in CONNACK; default 65535, between 1 and 65535). A client sending
/// more is disconnected with reason code 0x93.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT` (0).
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_receive_maximum(
    opts: *mut mqtt_broker_options,
    receive_maximum: u16,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.receive_maximum = at_least("receive_maximum", usize::from(receive_maximum), 1)? as u16;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets the highest Topic Alias a client may use (default 10, as mosquitto; 0 refuses
/// topic aliases). A client using 0 or a higher one is disconnected with reason code 0x94.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_topic_alias_maximum(
    opts: *mut mqtt_broker_options,
    topic_alias_maximum: u16,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.topic_alias_maximum = topic_alias_maximum;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets the highest QoS the broker accepts in PUBLISH and grants in SUBACK (default
/// 2). A 5.0 client publishing above it is disconnected with reason code 0x9B; subscriptions are
/// granted at most this QoS, for every revision.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_QOS`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_maximum_qos(
    opts: *mut mqtt_broker_options,
    qos: c_int,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.maximum_qos = qos_arg(qos)?;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// What `mqtt_broker_options_set_feature` switches on or off. Each is on by default and, when
/// off, announced to MQTT 5.0 clients in CONNACK.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_broker_feature {
    /// Retained messages. Off: a 5.0 PUBLISH with RETAIN gets DISCONNECT 0x9A.
    RetainAvailable = 0,
    /// Wildcards in topic filters. Off: such a filter gets SUBACK 0xA2 (0x80 for 3.1.1).
    WildcardSubscriptions = 1,
    /// Subscription Identifiers. Off: a SUBSCRIBE carrying one gets DISCONNECT 0xA1.
    SubscriptionIdentifiers = 2,
    /// Shared subscriptions (`$share/{group}/{filter}`), for 5.0 and 3.1.1 clients. Off: they
    /// get SUBACK 0x9E (0x80 for 3.1.1).
    SharedSubscriptions = 3,
}

/// Switches one MQTT 5.0 capability on or off (see `mqtt_broker_feature`; all are on by
/// default). `feature` is an `mqtt_broker_feature` value.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT` (an
/// unknown feature).
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_feature(
    opts: *mut mqtt_broker_options,
    feature: c_int,
    enabled: bool,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        let flag = match feature {
            f if f == mqtt_broker_feature::RetainAvailable as c_int => &mut o.retain_available,
            f if f == mqtt_broker_feature::WildcardSubscriptions as c_int => {
                &mut o.wildcard_subscriptions
            }
            f if f == mqtt_broker_feature::SubscriptionIdentifiers as c_int => {
                &mut o.subscription_identifiers
            }
            f if f == mqtt_broker_feature::SharedSubscriptions as c_int => {
                &mut o.shared_subscriptions
            }
            other => {
                return Err(FfiError::invalid_argument(format!(
                    "feature {other} is not an mqtt_broker_feature"
                )));
            }
        };
        *flag = enabled;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets the longest keep-alive, in seconds, a 5.0 client may ask for (mosquitto's
/// `max_keepalive`); a client asking for more, or for none (0), is told this value in CONNACK
/// (Server Keep Alive) and held to it. 0 (the default) means no maximum. 3.1.1 clients, which
/// cannot be told, keep their own. Between 0 and 65535.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_max_keep_alive(
    opts: *mut mqtt_broker_options,
    seconds: c_int,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        let max = u16::try_from(seconds).map_err(|_| {
            FfiError::invalid_argument(format!(
                "max keep alive must be between 0 and 65535, not {seconds}"
            ))
        })?;
        o.max_keep_alive = (max > 0).then_some(max);
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets a keep-alive, in seconds, that the broker imposes on 5.0 clients instead of
/// the one they ask for (Server Keep Alive in CONNACK); -1 (the default) leaves each client its
/// own. Between -1 and 65535.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_server_keep_alive(
    opts: *mut mqtt_broker_options,
    seconds: c_int,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.server_keep_alive = match seconds {
            -1 => None,
            s => Some(u16::try_from(s).map_err(|_| {
                FfiError::invalid_argument(format!(
                    "server keep alive must be -1 or between 0 and 65535, not {s}"
                ))
            })?),
        };
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets the Response Information returned to a client that asks for it in CONNECT
/// (the base of its response topics, for request/response); NULL (the default) returns none.
/// The string is copied.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`) or
/// `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `opts` is NULL or a live options object; `info` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_response_information(
    opts: *mut mqtt_broker_options,
    info: *const c_char,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        // SAFETY: per the caller, NULL or a NUL-terminated string.
        let info = unsafe { opt_c_str_arg(info, "info") }?;
        o.response_information = info.map(str::to_owned);
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// MQTT 5.0: sets the enhanced authenticator, which decides every step of the AUTH exchange a
/// CONNECT with an Authentication Method opens, and of re-authentications; NULL `cb` removes it
/// (a CONNECT with a method then gets CONNACK 0x8C). CONNECTs without a method go to the
/// authenticator of `mqtt_broker_options_set_authenticator`.
///
/// Each call gets the step (`mqtt_auth_step`) and returns a reason code as an `int`: 0x00
/// success, 0x18 continue (another AUTH round), or a failure code of 0x80 and above (0x87 not
/// authorized, 0x8C bad authentication method, ...), which refuses the client. Data for the
/// client (with success or continue) is handed over with `mqtt_auth_reply_set_data(reply, ...)`.
/// Returning 0x9C (use another server) or 0x9D (server moved) after
/// `mqtt_auth_reply_set_server_reference(reply, ...)` sends the client to that server.
///
/// Threads: `cb` runs on connection threads, concurrently for different clients; one exchange's
/// steps come one after another. It may call `mqtt_broker_publish`, `mqtt_broker_stats`,
/// `mqtt_broker_port` and `mqtt_broker_stop` (which then only starts the stop); it must not call
/// `mqtt_broker_free` or `mqtt_broker_wait` on its own broker.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
///
/// # Safety
/// `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
/// from any thread for as long as a broker created from these options exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_enhanced_authenticator(
    opts: *mut mqtt_broker_options,
    cb: mqtt_broker_enhanced_authenticator,
    userdata: *mut c_void,
) -> mqtt_status {
    let userdata = UserData::new(userdata);
    let change = |o: &mut BrokerOptions| {
        o.enhanced_authenticator = cb.map(|cb| c_enhanced_authenticator(cb, userdata));
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Names the server a client refused with 0x9C (use another server) or 0x9D (server moved) is
/// sent to: its CONNACK, or its DISCONNECT when re-authenticating, carries `server_reference`
/// as the Server Reference (MQTT 5.0 section 4.11); NULL sets none. Only valid inside the
/// enhanced authenticator callback that received `reply`; runs on that callback's thread and
/// does not block. The string is copied.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `reply`),
/// `MQTT_STATUS_INVALID_UTF8` or `MQTT_STATUS_TOO_LARGE` (over 65535 bytes).
///
/// # Safety
/// `reply` is the pointer the callback received, during the callback; `server_reference` is
/// NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_auth_reply_set_server_reference(
    reply: *mut mqtt_auth_reply,
    server_reference: *const c_char,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let reply = unsafe { handle_mut(reply, "reply") }?;
        // SAFETY: per the caller.
        let server_reference = unsafe { opt_c_str_arg(server_reference, "server_reference") }?;
        if server_reference.is_some_and(|s| s.len() > usize::from(u16::MAX)) {
            return Err(FfiError::new(
                mqtt_status::TooLarge,
                "a server reference of over 65535 bytes".to_owned(),
            ));
        }
        reply.server_reference = server_reference.map(str::to_owned);
        Ok(())
    })
}

/// Hands the data to send to the client with this authentication step (CONNACK on success,
/// AUTH on continue), replacing any set before; `len` 0 sends none. Only valid inside the
/// enhanced authenticator callback that received `reply`. The bytes are copied.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_TOO_LARGE` (over
/// 65535 bytes).
///
/// # Safety
/// `reply` is the pointer the callback received, during the callback; `data` points to `len`
/// readable bytes (it may be NULL when `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_auth_reply_set_data(
    reply: *mut mqtt_auth_reply,
    data: *const u8,
    len: usize,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let reply = unsafe { handle_mut(reply, "reply") }?;
        // SAFETY: per the caller.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        if data.len() > usize::from(u16::MAX) {
            return Err(FfiError::new(
                mqtt_status::TooLarge,
                format!("authentication data of {len} bytes; at most 65535 fit"),
            ));
        }
        reply.data = (!data.is_empty()).then(|| data.to_vec());
        Ok(())
    })
}
