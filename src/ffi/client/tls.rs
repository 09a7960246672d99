//! TLS for the client: `mqtt_connect_options_set_tls*`, and `mqtt_connect_url` for `mqtt://`,
//! `mqtts://`, `ws://` and `wss://` URLs.

use std::ffi::{c_char, c_int};

use super::super::args::{c_str_arg, opt_c_str_arg};
use super::super::error::FfiError;
use super::super::guard::guard_or;
use super::super::handle::with_options;
use super::super::status::mqtt_status;
use super::connection::connect_with;
use super::{mqtt_connect_options, mqtt_connection};
use crate::client::{Client, ConnectOptions};
use crate::tls::{ClientTls, Pem};

/// The TLS settings of `options`, made with the defaults (the system's CA certificates, no
/// client certificate, names verified) when TLS was off.
fn tls_of(options: &mut ConnectOptions) -> &mut ClientTls {
    options.tls.get_or_insert_with(ClientTls::default)
}

/// A file name argument: NULL is absent, an empty name is refused.
///
/// # Safety
/// As for `opt_c_str_arg`.
unsafe fn file_arg(path: *const c_char, name: &str) -> Result<Option<Pem>, FfiError> {
    // SAFETY: forwarded to the caller.
    match unsafe { opt_c_str_arg(path, name) }? {
        Some("") => Err(FfiError::invalid_argument(format!(
            "{name} is empty (pass NULL for none)"
        ))),
        path => Ok(path.map(|p| Pem::File(p.to_owned()))),
    }
}

/// Turns TLS on for `mqtt_connect` (and every reconnect): the server's certificate must be
/// signed by a CA in `ca_file` (PEM; NULL: the system's CA certificates) and name the host
/// connected to (see `mqtt_connect_options_set_tls_server_name`, and
/// `mqtt_connect_options_set_tls_insecure` for tests). `cert_file` and `key_file` (PEM: the
/// certificate chain, leaf first, and its private key) give a client certificate for servers
/// that ask for one; pass both or neither. TLS 1.2 and 1.3, ALPN "mqtt", SNI with the host
/// name. The files are read by `mqtt_connect`, which fails with `MQTT_STATUS_TLS` when one
/// cannot be used. Calling it again replaces the files and keeps the other TLS settings.
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` when `options` is
/// NULL, `MQTT_STATUS_INVALID_ARGUMENT` when only one of `cert_file` and `key_file` is given or
/// a name is empty, `MQTT_STATUS_INVALID_UTF8` when a name is not UTF-8.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `ca_file`, `cert_file` and
/// `key_file` are NULL or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_tls(
    options: *mut mqtt_connect_options,
    ca_file: *const c_char,
    cert_file: *const c_char,
    key_file: *const c_char,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle and strings or NULL.
    unsafe {
        with_options(options, |o| {
            let ca = file_arg(ca_file, "ca_file")?;
            let certificate = match (
                file_arg(cert_file, "cert_file")?,
                file_arg(key_file, "key_file")?,
            ) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (None, None) => None,
                _ => {
                    return Err(FfiError::invalid_argument(
                        "cert_file and key_file go together: give both or neither",
                    ));
                }
            };
            let tls = tls_of(o);
            tls.ca = ca;
            tls.certificate = certificate;
            Ok(())
        })
    }
}

/// With `insecure` true, accepts any server certificate for any name: the connection is
/// encrypted but the server is not authenticated, so use it for tests only (mosquitto's
/// `--insecure` skips only the name check). Turns TLS on, with the defaults of
/// `mqtt_connect_options_set_tls(options, NULL, NULL, NULL)` unless set.
///
/// Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is
/// NULL.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_tls_insecure(
    options: *mut mqtt_connect_options,
    insecure: bool,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            tls_of(o).insecure = insecure;
            Ok(())
        })
    }
}

/// The oldest TLS version the connection accepts: 12 for TLS 1.2 (default; 1.3 is preferred
/// when the server has it) or 13 for TLS 1.3 only. Turns TLS on, with the defaults of
/// `mqtt_connect_options_set_tls(options, NULL, NULL, NULL)` unless set.
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` when `options` is
/// NULL, `MQTT_STATUS_INVALID_ARGUMENT` for another value.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_tls_min_version(
    options: *mut mqtt_connect_options,
    version: c_int,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle.
    unsafe {
        with_options(options, |o| {
            tls_of(o).min_version = tls_version_arg(version)?;
            Ok(())
        })
    }
}

/// A TLS version floor from C: 12 or 13.
pub(crate) fn tls_version_arg(version: c_int) -> Result<crate::tls::TlsVersion, FfiError> {
    match version {
        12 => Ok(crate::tls::TlsVersion::V1_2),
        13 => Ok(crate::tls::TlsVersion::V1_3),
        other => Err(FfiError::invalid_argument(format!(
            "the TLS version floor is 12 (TLS 1.2) or 13 (TLS 1.3), not {other}"
        ))),
    }
}

/// The name the server's certificate must carry, also sent as SNI, instead of the host
/// connected to (connecting to an address whose certificate names a host, say); NULL restores
/// the host. Turns TLS on, with the defaults of
/// `mqtt_connect_options_set_tls(options, NULL, NULL, NULL)` unless set.
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` when `options` is
/// NULL, `MQTT_STATUS_INVALID_ARGUMENT` when `server_name` is neither a DNS name nor an IP
/// address, `MQTT_STATUS_INVALID_UTF8` when it is not UTF-8.
///
/// # Safety
/// `options` is a handle from `mqtt_connect_options_new`; `server_name` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_options_set_tls_server_name(
    options: *mut mqtt_connect_options,
    server_name: *const c_char,
) -> mqtt_status {
    // SAFETY: the caller passes a live handle and a string or NULL.
    unsafe {
        with_options(options, |o| {
            let name = opt_c_str_arg(server_name, "server_name")?;
            if let Some(name) = name
                && rustls::pki_types::ServerName::try_from(name).is_err()
            {
                return Err(FfiError::invalid_argument(format!(
                    "server_name {name:?} is neither a DNS name nor an IP address"
                )));
            }
            tls_of(o).server_name = name.map(str::to_owned);
            Ok(())
        })
    }
}

/// `mqtt_connect` to the broker `url` names: "mqtt://host[:port]" over TCP (port 1883 unless
/// given), "mqtts://host[:port]" over TLS (port 8883), "ws://host[:port][/path]" over
/// WebSocket (port 80) or "wss://host[:port][/path]" over WebSocket over TLS (port 443), as
/// MQTT.js and Paho take them. TLS uses the TLS settings of `options`, or without them the
/// defaults (the system's CA certificates, the host name verified). An IPv6 address goes in
/// brackets ("mqtts://[::1]"). After an MQTT URL's port nothing may follow but one "/"; a
/// WebSocket URL's path (and query) is what the upgrade requests, "/mqtt" when it names none
/// (or only "/"). Blocks at most the connect timeout; `options` may be NULL for the defaults
/// and is only read.
///
/// Over WebSocket (MQTT 5.0 and 3.1.1 section 6) the upgrade offers the subprotocol "mqtt"
/// [MQTT-6.0.0-3] and must select it [MQTT-6.0.0-4]; MQTT travels in binary frames
/// [MQTT-6.0.0-1], packets read whatever the frame boundaries [MQTT-6.0.0-2]; a text frame
/// from the server closes the connection. Reconnects, the loop thread and the event-loop calls
/// on `mqtt_connection_socket` (the TCP socket) work as over TCP.
///
/// Returns the connection, to be released with `mqtt_connection_free`, or NULL with
/// `mqtt_last_status()` / `mqtt_last_error()` telling why: `MQTT_STATUS_INVALID_ARGUMENT` for a
/// malformed URL and for "mqtt://" or "ws://" with TLS settings in `options` (use "mqtts://"
/// or "wss://"); `MQTT_STATUS_TLS` when TLS failed (the server's certificate not accepted, the
/// handshake refused, a file that cannot be used); `MQTT_STATUS_PROTOCOL_ERROR` when the server
/// refused the WebSocket upgrade (an HTTP error, the subprotocol not selected); otherwise as
/// `mqtt_connect`.
///
/// # Safety
/// `url` is a NUL-terminated string (or NULL, an error); `options` is NULL or a handle from
/// `mqtt_connect_options_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_connect_url(
    url: *const c_char,
    options: *const mqtt_connect_options,
) -> *mut mqtt_connection {
    guard_or(std::ptr::null_mut(), || {
        // SAFETY: the caller passes a string or NULL.
        let url = unsafe { c_str_arg(url, "url") }?;
        // SAFETY: the caller passes a handle or NULL.
        unsafe { connect_with(options, |options| Client::connect_url(url, options)) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::client::{mqtt_connect_options_free, mqtt_connect_options_new};
    use crate::ffi::mqtt_last_status;

    #[test]
    fn tls_setters_check_their_arguments_and_turn_tls_on() {
        let o = mqtt_connect_options_new();
        unsafe {
            assert!((*o).options.tls.is_none());
            let null = std::ptr::null();
            assert_eq!(
                mqtt_connect_options_set_tls(o, null, c"c.pem".as_ptr(), null),
                mqtt_status::InvalidArgument
            );
            assert_eq!(
                mqtt_connect_options_set_tls(o, c"".as_ptr(), null, null),
                mqtt_status::InvalidArgument
            );
            assert!((*o).options.tls.is_none(), "a refused call changes nothing");
            assert_eq!(
                mqtt_connect_options_set_tls_server_name(o, c"not a name!".as_ptr()),
                mqtt_status::InvalidArgument
            );
            assert_eq!(
                mqtt_connect_options_set_tls(o, c"ca.pem".as_ptr(), null, null),
                mqtt_status::Ok
            );
            assert_eq!(
                mqtt_connect_options_set_tls_server_name(o, c"broker.example".as_ptr()),
                mqtt_status::Ok
            );
            assert_eq!(
                mqtt_connect_options_set_tls_insecure(o, true),
                mqtt_status::Ok
            );
            assert_eq!(
                mqtt_connect_options_set_tls(o, null, c"c.pem".as_ptr(), c"k.pem".as_ptr()),
                mqtt_status::Ok
            );
            let tls = (*o).options.tls.clone().expect("TLS on");
            assert_eq!(tls.ca, None);
            assert_eq!(
                tls.certificate,
                Some((Pem::File("c.pem".into()), Pem::File("k.pem".into())))
            );
            assert!(tls.insecure);
            assert_eq!(tls.server_name.as_deref(), Some("broker.example"));
            assert_eq!(
                mqtt_connect_options_set_tls_insecure(std::ptr::null_mut(), true),
                mqtt_status::NullArgument
            );
            mqtt_connect_options_free(o);
        }
    }

    #[test]
    fn connect_url_refuses_bad_urls_before_connecting() {
        unsafe {
            for url in [
                c"ws://localhost/mqtt#x",
                c"mqtt://",
                c"tcp://localhost:1883",
            ] {
                assert!(mqtt_connect_url(url.as_ptr(), std::ptr::null()).is_null());
                assert_eq!(mqtt_last_status(), mqtt_status::InvalidArgument);
            }
            assert!(mqtt_connect_url(std::ptr::null(), std::ptr::null()).is_null());
            assert_eq!(mqtt_last_status(), mqtt_status::NullArgument);
            let o = mqtt_connect_options_new();
            assert_eq!(
                mqtt_connect_options_set_tls_insecure(o, true),
                mqtt_status::Ok
            );
            assert!(mqtt_connect_url(c"mqtt://127.0.0.1:1".as_ptr(), o).is_null());
            assert_eq!(mqtt_last_status(), mqtt_status::InvalidArgument);
            assert!(mqtt_connect_url(c"ws://127.0.0.1:1/mqtt".as_ptr(), o).is_null());
            assert_eq!(mqtt_last_status(), mqtt_status::InvalidArgument);
            mqtt_connect_options_free(o);
        }
    }
}
