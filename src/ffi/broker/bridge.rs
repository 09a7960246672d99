//! Bridges in the C API: an `mqtt_bridge_options` handle describing one bridge (remote
//! addresses, credentials, protocol, topic rules, TLS, reconnect delays), added to broker
//! options with `mqtt_broker_options_add_bridge`, and each running bridge's status.

use std::ffi::{c_char, c_int};
use std::ptr;
use std::time::Duration;

use super::super::args::{bytes_arg, c_str_arg, opt_c_str_arg, out_arg};
use super::super::error::FfiError;
use super::super::guard::{guard_or, guard_quiet, guard_status, guard_void};
use super::super::handle::{OptionsHandle, free_handle, handle_ref, into_handle, with_options};
use super::super::status::mqtt_status;
use super::{mqtt_broker, mqtt_broker_options};
use crate::broker::{BridgeDirection, BridgeOptions, BridgeStart};
use crate::protocol::ProtocolLevel;
use crate::tls::{ClientTls, Pem};

/// Which way a bridge topic rule carries messages (mosquitto's `out`, `in`, `both`), passed as
/// an `int` to `mqtt_bridge_options_add_topic`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_bridge_direction {
    /// Local → remote.
    Out = 0,
    /// Remote → local.
    In = 1,
    /// Both ways.
    Both = 2,
}

/// When a bridge connects (mosquitto's `start_type`), passed as an `int`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_bridge_start {
    /// At broker start, reconnecting after every loss (the default).
    Automatic = 0,
    /// Once 10 messages wait for the remote (mosquitto's default `threshold`); then as
    /// `Automatic`.
    Lazy = 1,
    /// At broker start, not reconnecting once the link ends.
    Once = 2,
}

/// One bridge's settings. Created by `mqtt_bridge_options_new` with mosquitto's defaults
/// (MQTT 3.1.1, persistent remote session, keep-alive 60 s, reconnects after 5 s doubling up to
/// 30 s, state notifications on), released by `mqtt_bridge_options_free`;
/// `mqtt_broker_options_add_bridge` copies it. Not thread-safe while being changed.
pub struct mqtt_bridge_options {
    options: BridgeOptions,
}

impl OptionsHandle for mqtt_bridge_options {
    type Options = BridgeOptions;
    const ARG: &'static str = "bridge";
    fn options_mut(&mut self) -> &mut BridgeOptions {
        &mut self.options
    }
}

/// A running bridge's state and counters, filled by `mqtt_broker_bridge_status`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct mqtt_bridge_status {
    /// The link to the remote is up.
    pub connected: bool,
    /// Connections made to the remote (the first and every reconnect).
    pub connects: u64,
    /// Messages sent to the remote.
    pub messages_out: u64,
    /// Messages brought in from the remote.
    pub messages_in: u64,
    /// Echoes of its own messages an MQTT 3.1.1 remote sent back, dropped.
    pub echoes_dropped: u64,
}

/// A new bridge named `name` (its local session `$bridge/NAME`, its state topic
/// `$SYS/broker/connection/NAME/state`, its default remote client id `HOSTNAME.NAME`) to
/// `host:port`, without topic rules yet. Release with `mqtt_bridge_options_free`.
///
/// Returns NULL on NULL or non-UTF-8 arguments or an empty name (`mqtt_last_error()` says
/// which). Does not block.
///
/// # Safety
/// `name` and `host` are NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_bridge_options_new(
    name: *const c_char,
    host: *const c_char,
    port: u16,
) -> *mut mqtt_bridge_options {
    guard_or(ptr::null_mut(), || {
        // SAFETY: per the caller.
        let (name, host) = unsafe { (c_str_arg(name, "name")?, c_str_arg(host, "host")?) };
        if name.is_empty() || name.contains(['/', '+', '#']) {
            return Err(FfiError::invalid_argument(
                "a bridge name must be non-empty, without '/', '+' or '#'",
            ));
        }
        Ok(into_handle(mqtt_bridge_options {
            options: BridgeOptions::new(name, host, port),
        }))
    })
}

/// Releases bridge options. NULL is a no-op.
///
/// # Safety
/// `bridge` is NULL or a pointer from `mqtt_bridge_options_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_bridge_options_free(bridge: *mut mqtt_bridge_options) {
    // SAFETY: per the caller.
    guard_void(|| unsafe { free_handle(bridge) })
}

/// Adds a fallback remote address, tried after the earlier ones fail (see
/// `mqtt_bridge_options_set_round_robin`).
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `bridge` is a live handle; `host` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_bridge_options_add_address(
    bridge: *mut mqtt_bridge_options,
    host: *const c_char,
    port: u16,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(bridge, |b| {
            b.addresses
                .push((c_str_arg(host, "host")?.to_owned(), port));
            Ok(())
        })
    }
}

/// Adds a topic rule, as mosquitto's `topic PATTERN DIRECTION QOS LOCAL_PREFIX REMOTE_PREFIX`:
/// local topic `LOCAL_PREFIX + T` (T matching `pattern`) is remote topic `REMOTE_PREFIX + T`.
/// `pattern` "" maps the prefixes one to one; NULL prefixes are empty. `direction` is an
/// `mqtt_bridge_direction`; `qos` (0 to 2) is the QoS of the bridge's subscription on the side
/// messages come from.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8`,
/// `MQTT_STATUS_INVALID_QOS`, `MQTT_STATUS_INVALID_TOPIC` (the filters the rule makes are not
/// valid) or `MQTT_STATUS_INVALID_ARGUMENT` (unknown direction).
///
/// # Safety
/// `bridge` is a live handle; `pattern` is NUL-terminated; the prefixes are NULL or
/// NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_bridge_options_add_topic(
    bridge: *mut mqtt_bridge_options,
    pattern: *const c_char,
    direction: c_int,
    qos: c_int,
    local_prefix: *const c_char,
    remote_prefix: *const c_char,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(bridge, |b| {
            let pattern = c_str_arg(pattern, "pattern")?;
            let local = opt_c_str_arg(local_prefix, "local_prefix")?.unwrap_or("");
            let remote = opt_c_str_arg(remote_prefix, "remote_prefix")?.unwrap_or("");
            let direction = match direction {
                0 => BridgeDirection::Out,
                1 => BridgeDirection::In,
                2 => BridgeDirection::Both,
                other => {
                    return Err(FfiError::invalid_argument(format!(
                        "direction must be an mqtt_bridge_direction (0 to 2), not {other}"
                    )));
                }
            };
            let qos = super::super::args::qos_arg(qos)? as u8;
            for filter in [format!("{local}{pattern}"), format!("{remote}{pattern}")] {
                crate::topic::TopicFilter::new(&filter)?;
            }
            b.add_topic(pattern, direction, qos, local, remote);
            Ok(())
        })
    }
}

/// Sets the client id used towards the remote (default `HOSTNAME.NAME`).
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `bridge` is a live handle; `client_id` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_bridge_options_set_remote_client_id(
    bridge: *mut mqtt_bridge_options,
    client_id: *const c_char,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(bridge, |b| {
            b.remote_client_id = Some(c_str_arg(client_id, "client_id")?.to_owned());
            Ok(())
        })
    }
}

/// Sets the user name (NULL: none) and password (`password_len` bytes; NULL: none) the bridge
/// connects with.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `bridge` is a live handle; `username` is NULL or NUL-terminated; `password` points to
/// `password_len` bytes (NULL when 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_bridge_options_set_credentials(
    bridge: *mut mqtt_bridge_options,
    username: *const c_char,
    password: *const u8,
    password_len: usize,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(bridge, |b| {
            b.username = opt_c_str_arg(username, "username")?.map(str::to_owned);
            b.password = (!password.is_null())
                .then(|| bytes_arg(password, password_len, "password"))
                .transpose()?
                .map(<[u8]>::to_vec);
            Ok(())
        })
    }
}

/// Sets the protocol towards the remote: 3 (MQTT 3.1), 4 (3.1.1, the default) or 5 (5.0,
/// whose No Local keeps a `both` rule from echoing).
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `bridge` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_bridge_options_set_protocol_level(
    bridge: *mut mqtt_bridge_options,
    level: c_int,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(bridge, |b| {
            b.protocol = match level {
                3 => ProtocolLevel::V31,
                4 => ProtocolLevel::V311,
                5 => ProtocolLevel::V5,
                other => {
                    return Err(FfiError::invalid_argument(format!(
                        "level must be 3, 4 or 5, not {other}"
                    )));
                }
            };
            Ok(())
        })
    }
}

/// Sets whether the remote discards the bridge's session when the link ends (default false:
/// it keeps the subscriptions and queues messages meanwhile), and the keep-alive in seconds
/// (default 60; 0 keeps the default).
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `bridge` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_bridge_options_set_session(
    bridge: *mut mqtt_bridge_options,
    clean_session: bool,
    keep_alive_s: u16,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(bridge, |b| {
            b.clean_session = clean_session;
            if keep_alive_s > 0 {
                b.keep_alive = Duration::from_secs(u64::from(keep_alive_s));
            }
            Ok(())
        })
    }
}

/// Sets how the bridge reconnects: waits from `base_ms` doubling up to `cap_ms` with jitter
/// (mosquitto's `restart_timeout base cap`), whether it stays on the next address after a
/// failure (`round_robin`) or returns to the first, `start` (an `mqtt_bridge_start`), and
/// whether it publishes its state on `$SYS/broker/connection/NAME/state`.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`
/// (0 delays, cap below base, unknown start type).
///
/// # Safety
/// `bridge` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_bridge_options_set_reconnect(
    bridge: *mut mqtt_bridge_options,
    base_ms: u32,
    cap_ms: u32,
    round_robin: bool,
    start: c_int,
    notifications: bool,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(bridge, |b| {
            if base_ms == 0 || cap_ms < base_ms {
                return Err(FfiError::invalid_argument(
                    "reconnect delays need 0 < base_ms <= cap_ms",
                ));
            }
            b.start = match start {
                0 => BridgeStart::Automatic,
                1 => BridgeStart::Lazy,
                2 => BridgeStart::Once,
                other => {
                    return Err(FfiError::invalid_argument(format!(
                        "start must be an mqtt_bridge_start (0 to 2), not {other}"
                    )));
                }
            };
            b.restart_base = Duration::from_millis(u64::from(base_ms));
            b.restart_cap = Duration::from_millis(u64::from(cap_ms));
            b.round_robin = round_robin;
            b.notifications = notifications;
            Ok(())
        })
    }
}

/// Sets mosquitto's `try_private` (default true): over MQTT 3.1/3.1.1 the bridge announces
/// itself (the protocol level's top bit), so a remote that understands it keeps retained flags
/// and does not echo the bridge's messages; a remote that refuses it is connected to again as
/// a plain client.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `bridge` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_bridge_options_set_try_private(
    bridge: *mut mqtt_bridge_options,
    try_private: bool,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(bridge, |b| {
            b.try_private = try_private;
            Ok(())
        })
    }
}

/// Connects to the remote over TLS: `ca_file` (PEM; NULL: the system's CA store),
/// `cert_file` and `key_file` (PEM, both or neither) for a client certificate, `insecure`
/// accepting any server certificate (tests only). The files are read at each connect.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8` or
/// `MQTT_STATUS_INVALID_ARGUMENT` (a certificate without its key).
///
/// # Safety
/// `bridge` is a live handle; the paths are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_bridge_options_set_tls(
    bridge: *mut mqtt_bridge_options,
    ca_file: *const c_char,
    cert_file: *const c_char,
    key_file: *const c_char,
    insecure: bool,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(bridge, |b| {
            let file = |p: Option<&str>| p.map(|p| Pem::File(p.to_owned()));
            let ca = file(opt_c_str_arg(ca_file, "ca_file")?);
            let cert = file(opt_c_str_arg(cert_file, "cert_file")?);
            let key = file(opt_c_str_arg(key_file, "key_file")?);
            let certificate = match (cert, key) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => {
                    return Err(FfiError::invalid_argument(
                        "a client certificate needs both cert_file and key_file",
                    ));
                }
            };
            b.tls = Some(ClientTls {
                ca,
                certificate,
                insecure,
                ..ClientTls::default()
            });
            Ok(())
        })
    }
}

/// Adds a copy of `bridge` to the broker options: a broker created from them starts the
/// bridge with itself (before it accepts clients) and stops it with itself. `bridge` may be
/// freed right after.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT` (no
/// topic rule, or a name already used).
///
/// # Safety
/// `opts` is a live options object; `bridge` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_add_bridge(
    opts: *mut mqtt_broker_options,
    bridge: *const mqtt_bridge_options,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(opts, |o| {
            let bridge = &handle_ref(bridge, "bridge")?.options;
            if bridge.topics.is_empty() {
                return Err(FfiError::invalid_argument(format!(
                    "bridge {} has no topic rule",
                    bridge.name
                )));
            }
            if o.bridges.iter().any(|b| b.name == bridge.name) {
                return Err(FfiError::invalid_argument(format!(
                    "a bridge named {} was added already",
                    bridge.name
                )));
            }
            o.bridges.push(bridge.clone());
            Ok(())
        })
    }
}

/// How many bridges the broker runs (0 while stopped or for NULL). Does not block.
///
/// # Safety
/// `broker` is NULL or a live broker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_bridge_count(broker: *const mqtt_broker) -> usize {
    guard_quiet(0, || {
        // SAFETY: per the caller.
        Ok(unsafe { handle_ref(broker, "broker") }?
            .broker
            .bridges()
            .len())
    })
}

/// Fills `*out` with bridge `index`'s state and counters (bridges in the order added), and
/// writes its last error ("" when none: why the last attempt failed or the link ended) into
/// `error` (`error_size` bytes, truncated to fit; NULL to skip). Does not block; thread-safe.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_NOT_FOUND` (no such
/// bridge, or the broker is not running).
///
/// # Safety
/// `broker` is NULL or a live broker; `out` points to a writable `mqtt_bridge_status`;
/// `error` is NULL or points to `error_size` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_bridge_status(
    broker: *const mqtt_broker,
    index: usize,
    out: *mut mqtt_bridge_status,
    error: *mut c_char,
    error_size: usize,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let (broker, out) = unsafe { (handle_ref(broker, "broker")?, out_arg(out, "out")?) };
        let bridges = broker.broker.bridges();
        let status = bridges
            .get(index)
            .ok_or_else(|| FfiError::new(mqtt_status::NotFound, format!("no bridge {index}")))?;
        out.write(mqtt_bridge_status {
            connected: status.connected,
            connects: status.connects,
            messages_out: status.messages_out,
            messages_in: status.messages_in,
            echoes_dropped: status.echoes_dropped,
        });
        if !error.is_null() && error_size > 0 {
            let text = status.last_error.as_deref().unwrap_or("");
            let mut len = text.len().min(error_size - 1);
            while !text.is_char_boundary(len) {
                len -= 1;
            }
            // SAFETY: `error` has `error_size` writable bytes and len + 1 <= error_size.
            unsafe {
                ptr::copy_nonoverlapping(text.as_ptr(), error.cast::<u8>(), len);
                *error.add(len) = 0;
            }
        }
        Ok(())
    })
}
