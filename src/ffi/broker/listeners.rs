//! Several listeners per broker, and TLS: `mqtt_broker_options_add_listener` with a
//! `mqtt_broker_tls_options` handle, the listeners' ports once started, and certificate reload.

use std::ffi::{c_char, c_int};
use std::ptr;

use super::super::args::{bytes_arg, c_str_arg, opt_c_str_arg};
use super::super::error::FfiError;
use super::super::guard::{guard_or, guard_quiet, guard_status, guard_void};
use super::super::handle::{OptionsHandle, free_handle, handle_ref, into_handle, with_options};
use super::super::status::mqtt_status;
use super::{mqtt_broker, mqtt_broker_options};
use crate::broker::{Listener, WebSocketOptions};
use crate::tls::{ClientAuth, Pem, ServerTls};

/// What a listener speaks, passed as an `int` to `mqtt_broker_options_add_listener`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_listener_kind {
    /// MQTT over TCP.
    Tcp = 0,
    /// MQTT over TLS 1.2/1.3 (ALPN "mqtt"); needs TLS options with a certificate and key.
    Tls = 1,
    /// MQTT over WebSocket, on path `/mqtt` (see `mqtt_broker_options_add_websocket_listener`
    /// for another path or an Origin list).
    WebSocket = 2,
    /// MQTT over WebSocket over TLS, on path `/mqtt`; needs TLS options.
    WebSocketTls = 3,
}

/// A TLS listener's certificate, key and client-certificate policy (mosquitto's `certfile`,
/// `keyfile`, `cafile`, `require_certificate`, `use_identity_as_username`). Created by
/// `mqtt_broker_tls_options_new`, released by `mqtt_broker_tls_options_free`;
/// `mqtt_broker_options_add_listener` copies it. Not thread-safe while being changed.
pub struct mqtt_broker_tls_options {
    settings: Option<ServerTls>,
    certificate: Option<Pem>,
    key: Option<Pem>,
    ca: Option<Pem>,
    client_auth: ClientAuth,
    identity_as_username: bool,
    min_version: crate::tls::TlsVersion,
}

impl OptionsHandle for mqtt_broker_tls_options {
    type Options = mqtt_broker_tls_options;
    const ARG: &'static str = "tls";
    fn options_mut(&mut self) -> &mut mqtt_broker_tls_options {
        self
    }
}

impl mqtt_broker_tls_options {
    fn settings(&self) -> Result<ServerTls, FfiError> {
        if let Some(settings) = &self.settings {
            return Ok(settings.clone());
        }
        let (Some(certificate), Some(key)) = (&self.certificate, &self.key) else {
            return Err(FfiError::invalid_argument(
                "a TLS listener needs a certificate and a private key",
            ));
        };
        let mut settings = ServerTls::new(certificate.clone(), key.clone());
        settings.client_ca = self.ca.clone();
        settings.client_auth = self.client_auth;
        settings.use_identity_as_username = self.identity_as_username;
        settings.min_version = self.min_version;
        Ok(settings)
    }
}

/// New TLS options: no certificate, key or CA yet, no client certificates asked for. Release
/// with `mqtt_broker_tls_options_free`. Returns NULL only if memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_broker_tls_options_new() -> *mut mqtt_broker_tls_options {
    guard_or(ptr::null_mut(), || {
        Ok(into_handle(mqtt_broker_tls_options {
            settings: None,
            certificate: None,
            key: None,
            ca: None,
            client_auth: ClientAuth::None,
            identity_as_username: false,
            min_version: crate::tls::TlsVersion::V1_2,
        }))
    })
}

/// Releases TLS options. NULL is a no-op.
///
/// # Safety
/// `tls` is NULL or a pointer from `mqtt_broker_tls_options_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_tls_options_free(tls: *mut mqtt_broker_tls_options) {
    // SAFETY: per the caller.
    guard_void(|| unsafe { free_handle(tls) })
}

/// Sets the certificate chain (PEM, leaf first) and private key (PEM: PKCS#8, PKCS#1 or SEC1)
/// from files, read when the broker starts and again by `mqtt_broker_reload_tls`.
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or
/// `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `tls` is a live handle; `cert_file` and `key_file` are NUL-terminated paths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_tls_options_set_certificate_files(
    tls: *mut mqtt_broker_tls_options,
    cert_file: *const c_char,
    key_file: *const c_char,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(tls, |t| {
            let cert = c_str_arg(cert_file, "cert_file")?;
            let key = c_str_arg(key_file, "key_file")?;
            t.certificate = Some(Pem::File(cert.to_owned()));
            t.key = Some(Pem::File(key.to_owned()));
            Ok(())
        })
    }
}

/// Sets the certificate chain and private key from PEM data in memory (copied).
///
/// Does not block. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `tls` is a live handle; `cert_pem`/`key_pem` point to `cert_len`/`key_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_tls_options_set_certificate_pem(
    tls: *mut mqtt_broker_tls_options,
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(tls, |t| {
            if cert_pem.is_null() || key_pem.is_null() {
                return Err(FfiError::null_argument(if cert_pem.is_null() {
                    "cert_pem"
                } else {
                    "key_pem"
                }));
            }
            t.certificate = Some(Pem::Memory(
                bytes_arg(cert_pem, cert_len, "cert_pem")?.to_vec(),
            ));
            t.key = Some(Pem::Memory(
                bytes_arg(key_pem, key_len, "key_pem")?.to_vec(),
            ));
            Ok(())
        })
    }
}

/// Asks clients for a certificate signed by a CA of `ca_file` (PEM): `mode` 0 asks for none
/// (default), 1 requests one (clients without a certificate are still accepted), 2 requires
/// one (mosquitto's `require_certificate true`). With `identity_as_username` the verified
/// certificate's Common Name (or whole subject) becomes the user name and the password file is
/// not consulted (mosquitto's `use_identity_as_username`); the authenticator callback, if any,
/// still decides.
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `tls`, or NULL
/// `ca_file` with a mode above 0), `MQTT_STATUS_INVALID_ARGUMENT` (mode out of range, or
/// identity as user name without a required certificate).
///
/// # Safety
/// `tls` is a live handle; `ca_file` is NULL or a NUL-terminated path.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_tls_options_set_client_certificates(
    tls: *mut mqtt_broker_tls_options,
    ca_file: *const c_char,
    mode: c_int,
    identity_as_username: bool,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(tls, |t| {
            let auth = match mode {
                0 => ClientAuth::None,
                1 => ClientAuth::Request,
                2 => ClientAuth::Require,
                other => {
                    return Err(FfiError::invalid_argument(format!(
                        "mode must be 0, 1 or 2, not {other}"
                    )));
                }
            };
            if identity_as_username && auth != ClientAuth::Require {
                return Err(FfiError::invalid_argument(
                    "identity as user name needs a required certificate (mode 2)",
                ));
            }
            t.ca = match auth {
                ClientAuth::None if ca_file.is_null() => None,
                _ => Some(Pem::File(c_str_arg(ca_file, "ca_file")?.to_owned())),
            };
            t.client_auth = auth;
            t.identity_as_username = identity_as_username;
            Ok(())
        })
    }
}

/// The oldest TLS version the listener accepts: 12 for TLS 1.2 (default) or 13 for TLS 1.3
/// only (mosquitto's `tls_version`).
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or
/// `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `tls` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_tls_options_set_min_version(
    tls: *mut mqtt_broker_tls_options,
    version: c_int,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(tls, |t| {
            t.min_version = super::super::client::tls_version_arg(version)?;
            Ok(())
        })
    }
}

/// Adds a listener to the options: `kind` (an `mqtt_listener_kind`), the address to bind (an
/// IPv4 or IPv6 address, or a host name resolved at start) and the port (0 picks a free one),
/// and for TLS the TLS options (copied; NULL for TCP). All listeners share sessions,
/// subscriptions and retained messages. When the options have listeners, `mqtt_broker_new`
/// takes NULL as its port and opens exactly these; given a port too, it opens a TCP listener
/// on it first.
///
/// Does not block (the certificate files are read at start). Returns `MQTT_STATUS_OK`,
/// `MQTT_STATUS_NULL_ARGUMENT` (TLS kinds without TLS options), `MQTT_STATUS_INVALID_UTF8`, or
/// `MQTT_STATUS_INVALID_ARGUMENT` (unknown kind, TLS options without certificate and key).
///
/// # Safety
/// `opts` is a live options object; `address` is NUL-terminated; `tls` is NULL or a live
/// handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_add_listener(
    opts: *mut mqtt_broker_options,
    kind: c_int,
    address: *const c_char,
    port: u16,
    tls: *const mqtt_broker_tls_options,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(opts, |o| {
            let address = c_str_arg(address, "address")?;
            let tls_settings = || -> Result<ServerTls, FfiError> {
                if tls.is_null() {
                    return Err(FfiError::null_argument("tls"));
                }
                handle_ref(tls, "tls")?.settings()
            };
            let listener = match kind {
                0 => Listener::tcp(address, port),
                1 => Listener::tls(address, port, tls_settings()?),
                2 => Listener::websocket(address, port, WebSocketOptions::default(), None),
                3 => Listener::websocket(
                    address,
                    port,
                    WebSocketOptions::default(),
                    Some(tls_settings()?),
                ),
                other => {
                    return Err(FfiError::invalid_argument(format!(
                        "kind must be an mqtt_listener_kind (0 to 3), not {other}"
                    )));
                }
            };
            o.listeners.push(listener);
            Ok(())
        })
    }
}

/// Adds a WebSocket listener (MQTT 5.0 section 6) serving `path` (NULL: `/mqtt`; "" every
/// path, as mosquitto does), accepting upgrades only from the `origin_count` origins in
/// `origins` (e.g. "https://example.com"; none: any origin), over TLS when `tls` is not NULL.
/// Otherwise as `mqtt_broker_options_add_listener`. Clients must offer the subprotocol `mqtt`
/// (or `mqttv3.1`); other requests get an HTTP error.
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`,
/// `MQTT_STATUS_INVALID_UTF8` or `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is a live options object; `address` is NUL-terminated; `path` is NULL or
/// NUL-terminated; `origins` points to `origin_count` NUL-terminated strings (NULL when 0);
/// `tls` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_add_websocket_listener(
    opts: *mut mqtt_broker_options,
    address: *const c_char,
    port: u16,
    path: *const c_char,
    origins: *const *const c_char,
    origin_count: usize,
    tls: *const mqtt_broker_tls_options,
) -> mqtt_status {
    // SAFETY: per the caller.
    unsafe {
        with_options(opts, |o| {
            let address = c_str_arg(address, "address")?;
            let mut options = WebSocketOptions::default();
            if let Some(path) = opt_c_str_arg(path, "path")? {
                options.path = path.to_owned();
            }
            if origin_count > 0 {
                if origins.is_null() {
                    return Err(FfiError::null_argument("origins"));
                }
                for &origin in std::slice::from_raw_parts(origins, origin_count) {
                    options
                        .allowed_origins
                        .push(c_str_arg(origin, "origins[i]")?.to_owned());
                }
            }
            let tls = if tls.is_null() {
                None
            } else {
                Some(handle_ref(tls, "tls")?.settings()?)
            };
            o.listeners
                .push(Listener::websocket(address, port, options, tls));
            Ok(())
        })
    }
}

/// How many listeners the broker has once started (0 before, or for NULL). A pure getter.
///
/// # Safety
/// `broker` is NULL or a live broker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_listener_count(broker: *const mqtt_broker) -> usize {
    // SAFETY: per the caller.
    guard_quiet(0, || {
        Ok(unsafe { handle_ref(broker, "broker") }?
            .broker
            .listeners()
            .len())
    })
}

/// The port listener `index` (0-based, in the order added; the `mqtt_broker_new` port's TCP
/// listener first) got once started; 0 for an index out of range, before start, or for NULL.
/// A pure getter.
///
/// # Safety
/// `broker` is NULL or a live broker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_listener_port(
    broker: *const mqtt_broker,
    index: usize,
) -> u16 {
    guard_quiet(0, || {
        // SAFETY: per the caller.
        let listeners = unsafe { handle_ref(broker, "broker") }?.broker.listeners();
        Ok(listeners.get(index).map_or(0, |l| l.address.port()))
    })
}

/// Writes the URL of listener `index` — `mqtt://ADDRESS:PORT`, `mqtts://…`, `ws://ADDRESS:PORT/PATH`
/// or `wss://…`, an IPv6 address in brackets, the port it got — NUL-terminated into `out`
/// (`size` bytes).
///
/// Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`,
/// `MQTT_STATUS_NOT_FOUND` (no such listener, or not started), or `MQTT_STATUS_TOO_LARGE`
/// (`out` too small; nothing written). 64 bytes suffice but for a long WebSocket path.
///
/// # Safety
/// `broker` is NULL or a live broker; `out` points to `size` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_listener_url(
    broker: *const mqtt_broker,
    index: usize,
    out: *mut c_char,
    size: usize,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let listeners = unsafe { handle_ref(broker, "broker") }?.broker.listeners();
        if out.is_null() {
            return Err(FfiError::null_argument("out"));
        }
        let listener = listeners
            .get(index)
            .ok_or_else(|| FfiError::new(mqtt_status::NotFound, format!("no listener {index}")))?;
        let url = listener.url();
        if url.len() >= size {
            return Err(FfiError::new(
                mqtt_status::TooLarge,
                format!("{url} needs {} bytes", url.len() + 1),
            ));
        }
        // SAFETY: `out` has `size` writable bytes per the caller, and url.len() + 1 <= size.
        unsafe {
            ptr::copy_nonoverlapping(url.as_ptr(), out.cast::<u8>(), url.len());
            *out.add(url.len()) = 0;
        }
        Ok(())
    })
}

/// How many listeners the options hold (`mqtt_broker_options_add_listener`, or a configuration
/// file's); 0 for NULL or none. A pure getter.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_listener_count(
    opts: *const mqtt_broker_options,
) -> usize {
    // SAFETY: per the caller.
    guard_quiet(0, || {
        Ok(unsafe { handle_ref(opts, "opts") }?.inner.listeners.len())
    })
}

/// Reads the certificate, key and CA files of every TLS listener again: connections accepted
/// from now on use them; open connections keep theirs. On failure (`mqtt_last_error()` names
/// the file) the listener keeps its configuration. `mqtt_broker_reload` does this too. Blocks
/// while reading the files; thread-safe.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_TLS`.
///
/// # Safety
/// `broker` is NULL or a live broker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_reload_tls(broker: *const mqtt_broker) -> mqtt_status {
    guard_status(|| {
        // SAFETY: per the caller.
        let broker = &unsafe { handle_ref(broker, "broker") }?.broker;
        broker
            .reload_tls()
            .map_err(|e| FfiError::new(mqtt_status::Tls, e.to_string()))
    })
}
