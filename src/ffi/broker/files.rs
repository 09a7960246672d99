//! `mqtt_broker_options_*` for mosquitto's files: a mosquitto.conf, a password file and an ACL
//! file, read when set; and the port getter a program needs after reading a configuration.

use std::ffi::{c_char, c_int};
use std::sync::Arc;

use super::super::args::{c_str_arg, opt_c_str_arg};
use super::super::error::FfiError;
use super::super::guard::{guard_quiet, guard_status};
use super::super::handle::{handle_ref, with_options};
use super::super::status::mqtt_status;
use super::{mqtt_broker, mqtt_broker_options};
use crate::broker::BrokerOptions;
use crate::service::acl::AclFile;
use crate::service::passwd::PasswordFile;
use crate::service::{ConfigError, ConfigErrorKind};

/// A problem in a configuration, password or ACL file as a status: `MQTT_STATUS_IO` when the
/// file cannot be read, `MQTT_STATUS_INVALID_ARGUMENT` otherwise; the message names the file
/// and line.
fn file_error(error: ConfigError) -> FfiError {
    let status = match error.kind {
        ConfigErrorKind::Io => mqtt_status::Io,
        ConfigErrorKind::Invalid | ConfigErrorKind::Unsupported => mqtt_status::InvalidArgument,
    };
    FfiError::new(status, error.to_string())
}

/// Reads a mosquitto.conf (and its `include_dir`s) and applies what it says: its listeners
/// (`listener PORT [ADDRESS]` or `port` / `bind_address`, with `max_connections`, `protocol
/// mqtt|websockets`, `certfile`, `keyfile`, `cafile`, `require_certificate`,
/// `use_identity_as_username`), `allow_anonymous`, `password_file`, `acl_file`,
/// `max_queued_messages`, `max_inflight_messages`, `max_packet_size`, `message_size_limit`,
/// `max_keepalive`, `sys_interval`, `persistence true` with `persistence_location`,
/// `persistence_file` and `autosave_interval` (see `mqtt_broker_options_set_persistence`), and
/// the log: `log_type`, `log_dest stdout|stderr|file PATH|none` (the file opened now, for
/// appending), `log_timestamp`, `log_timestamp_format` — as in mosquitto, a file without
/// `log_dest` lines logs errors, warnings, notices and information to stderr (see
/// `mqtt_broker_log_type` for the lines; a log callback set before stays).
/// Keywords mosquitto knows but this broker does not support yet (bridges) are refused. Settings made before are kept unless the file
/// changes them; setters called after override it. Blocks while reading the files.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8`,
/// `MQTT_STATUS_IO` (a file cannot be read) or `MQTT_STATUS_INVALID_ARGUMENT` (a malformed or
/// unsupported line); `mqtt_last_error()` then says `FILE:LINE: reason`. On failure the options
/// are left as they were.
///
/// # Safety
/// `opts` is NULL or a live options object; `path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_load_config(
    opts: *mut mqtt_broker_options,
    path: *const c_char,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        // SAFETY: per the caller, NULL or a NUL-terminated string.
        let path = unsafe { c_str_arg(path, "path") }?;
        let mut changed = o.clone();
        changed.load_config(path).map_err(file_error)?;
        *o = changed;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets a mosquitto password file (made by `mosquitto_passwd`, `$7$` and `$6$` entries), read
/// now; NULL removes it. A client presenting a user name the file lists must give that user's
/// password (else CONNACK 0x04, 0x86 for MQTT 5.0); other user names are left to the
/// authenticator callback, and refused without one. Blocks while reading the file.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`), `MQTT_STATUS_INVALID_UTF8`
/// or `MQTT_STATUS_IO` (naming the file).
///
/// # Safety
/// `opts` is NULL or a live options object; `path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_password_file(
    opts: *mut mqtt_broker_options,
    path: *const c_char,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        // SAFETY: per the caller, NULL or a NUL-terminated string.
        let path = unsafe { opt_c_str_arg(path, "path") }?;
        o.password_file = match path {
            Some(path) => Some(Arc::new(PasswordFile::load(path).map_err(file_error)?)),
            None => None,
        };
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets a mosquitto ACL file (`user`, `topic [read|write|readwrite|deny] FILTER`, `pattern`
/// with `%c` and `%u`), read now; NULL removes it. Publishing needs write access (refused
/// messages are acknowledged but not forwarded, 0x87 for MQTT 5.0), every delivered message read
/// access, and a subscription whose filter no read rule could ever match is refused in SUBACK.
/// Checked before the authorizer callback; both must allow. Blocks while reading the file.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`), `MQTT_STATUS_INVALID_UTF8`,
/// `MQTT_STATUS_IO` or `MQTT_STATUS_INVALID_ARGUMENT` (a malformed line; the message names it).
///
/// # Safety
/// `opts` is NULL or a live options object; `path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_acl_file(
    opts: *mut mqtt_broker_options,
    path: *const c_char,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        // SAFETY: per the caller, NULL or a NUL-terminated string.
        let path = unsafe { opt_c_str_arg(path, "path") }?;
        o.acl_file = match path {
            Some(path) => Some(Arc::new(AclFile::load(path).map_err(file_error)?)),
            None => None,
        };
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets whether clients without a user name are accepted (default true; mosquitto's
/// `allow_anonymous`). When false they get CONNACK 0x05 (0x87 for MQTT 5.0).
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_allow_anonymous(
    opts: *mut mqtt_broker_options,
    allow: bool,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.allow_anonymous = allow;
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// The port the options listen on: 1883 unless `mqtt_broker_options_load_config` read another
/// (a program then passes it to `mqtt_broker_new`); -1 for NULL `opts`. A pure getter: it does
/// not touch `mqtt_last_error`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_get_port(opts: *const mqtt_broker_options) -> c_int {
    guard_quiet(-1, || {
        // SAFETY: per the caller.
        let opts = unsafe { handle_ref(opts, "opts") }?;
        Ok(c_int::from(opts.inner.port))
    })
}

/// Reads the broker's password and ACL files again from where they were loaded, as mosquitto
/// does on SIGHUP (the broker program calls this on SIGHUP): connections made from now on use the
/// new files, and a connected client's ACL follows at its next publish or delivery. Files the
/// broker was started without stay absent; opens the log file (`log_dest file`) again, so a
/// rotated log is followed by a new file. Then reads the TLS listeners' certificate files
/// again, as `mqtt_broker_reload_tls` does. Blocks while reading the files (a password check
/// on another thread is not held up); thread-safe, and may be called from the broker's callbacks.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_IO` (a file cannot be
/// read), `MQTT_STATUS_INVALID_ARGUMENT` (a malformed line; `mqtt_last_error()` says
/// `FILE:LINE: reason`) or `MQTT_STATUS_TLS` (a certificate or key does not load). On failure
/// the old files stay in force.
///
/// # Safety
/// `broker` is NULL or a live broker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_reload(broker: *const mqtt_broker) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let broker = unsafe { handle_ref(broker, "broker") }?;
        broker.broker.reload().map_err(file_error)?;
        broker
            .broker
            .reload_tls()
            .map_err(|e| FfiError::new(mqtt_status::Tls, e.to_string()))
    })
}
