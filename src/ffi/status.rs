//! Status codes returned by every fallible C function, and the QoS enum C code names.

use std::ffi::{CStr, c_char, c_int};

use crate::protocol::{ConnectReturnCode, QoS};

/// The result of a libmqtt call. `MQTT_STATUS_OK` is zero; every other value is an error whose
/// details are in `mqtt_last_error()`.
///
/// Values are explicit and stable: new codes are only ever added, in the gaps of their group.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_status {
    /// Success.
    Ok = 0,

    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// An argument is out of range or otherwise unusable.
    InvalidArgument = 2,
    /// A string argument is not well-formed UTF-8 (MQTT strings must be, [MQTT-1.5.3-1]).
    InvalidUtf8 = 3,
    /// A topic name or topic filter breaks the rules of section 4.7.
    InvalidTopic = 4,
    /// A QoS value is not 0, 1 or 2.
    InvalidQos = 5,
    /// A payload or packet is larger than the configured or protocol maximum.
    TooLarge = 6,

    /// The object is not in a state that allows the call (e.g. not connected, not started).
    InvalidState = 20,
    /// The broker or background loop is already running.
    AlreadyRunning = 21,
    /// The named item (subscription, packet identifier, ...) does not exist.
    NotFound = 22,

    /// An operating-system I/O error; `mqtt_last_error()` carries its description.
    Io = 40,
    /// A host name could not be resolved.
    Resolve = 41,
    /// The listening address is already in use.
    AddressInUse = 42,
    /// The connection is closed.
    Closed = 43,
    /// The operation did not complete within its timeout.
    Timeout = 44,
    /// The peer broke the MQTT protocol; the connection has been closed.
    ProtocolError = 45,
    /// TLS failed: the server's certificate was not accepted (unknown issuer, wrong host
    /// name, expired), the server refused the handshake (e.g. it requires a client
    /// certificate), or the TLS settings could not be used (an unreadable CA, certificate or
    /// key file); `mqtt_last_error()` says which.
    Tls = 46,
    /// The broker's persistence file cannot be used: not a libmqtt store, damaged, written by
    /// a newer version, open in another broker, or not writable; `mqtt_last_error()` names the
    /// file and says which.
    Persistence = 47,

    /// CONNACK 0x01: the server does not support the requested protocol level.
    RefusedProtocolVersion = 51,
    /// CONNACK 0x02: the server rejected the client identifier.
    RefusedIdentifier = 52,
    /// CONNACK 0x03: the MQTT service is unavailable.
    RefusedServerUnavailable = 53,
    /// CONNACK 0x04: bad user name or password.
    RefusedBadCredentials = 54,
    /// CONNACK 0x05: the client is not authorized to connect.
    RefusedNotAuthorized = 55,
    /// An MQTT 5.0 CONNACK refused the connection with another reason code (server busy,
    /// banned, quota exceeded, ...), or with a Reason String: `mqtt_last_reason_code()` gives
    /// the code, `mqtt_last_error()` the text.
    Refused = 56,
    /// An MQTT 5.0 server redirects the client (reason code 0x9C use another server or 0x9D
    /// server moved, in CONNACK or DISCONNECT): `mqtt_last_error()` names the server
    /// reference when the server gave one (MQTT 5.0 section 4.11).
    ServerMoved = 57,
    /// MQTT 5.0 enhanced authentication could not go on: the authentication callback gave
    /// up, or the server's AUTH was not what the exchange allows.
    AuthFailed = 58,

    /// The server refused a subscription (SUBACK return code 0x80; in MQTT 5.0 any reason
    /// code of 0x80 or above, which `mqtt_last_reason_code()` gives).
    SubscribeFailed = 60,
    /// An MQTT 5.0 PUBACK or PUBREC refused the message (reason code 0x80 or above, e.g. 0x87
    /// not authorized, 0x97 quota exceeded, 0x99 payload format invalid): the server did not
    /// take it. `mqtt_last_reason_code()` gives the code.
    PublishRefused = 61,
    /// An MQTT 5.0 UNSUBACK refused to unsubscribe (reason code 0x80 or above); the
    /// subscription and its callback stay.
    UnsubscribeFailed = 62,

    /// Not an error: the connection is down, and the publish waits — in the offline queue
    /// (automatic reconnects on), or in the persistent session for its re-send — and goes out
    /// after the reconnect. A QoS 1/2 publish's packet id completes later through
    /// `mqtt_wait_published` and the `on_published` callback; do not publish it again.
    Queued = 70,
    /// The connection is down and the offline queue is full (refuse-new policy) or the message
    /// exceeds its byte limit: nothing was queued.
    QueueFull = 71,

    /// An internal error (a caught panic); the object involved may be unusable.
    Panic = 90,
}

impl mqtt_status {
    /// The status for a value C passed as `int`, or `None` if no status has that value.
    pub fn from_raw(value: c_int) -> Option<mqtt_status> {
        use mqtt_status as S;
        Some(match value {
            0 => S::Ok,
            1 => S::NullArgument,
            2 => S::InvalidArgument,
            3 => S::InvalidUtf8,
            4 => S::InvalidTopic,
            5 => S::InvalidQos,
            6 => S::TooLarge,
            20 => S::InvalidState,
            21 => S::AlreadyRunning,
            22 => S::NotFound,
            40 => S::Io,
            41 => S::Resolve,
            42 => S::AddressInUse,
            43 => S::Closed,
            44 => S::Timeout,
            45 => S::ProtocolError,
            46 => S::Tls,
            47 => S::Persistence,
            70 => S::Queued,
            71 => S::QueueFull,
            51 => S::RefusedProtocolVersion,
            52 => S::RefusedIdentifier,
            53 => S::RefusedServerUnavailable,
            54 => S::RefusedBadCredentials,
            55 => S::RefusedNotAuthorized,
            56 => S::Refused,
            57 => S::ServerMoved,
            58 => S::AuthFailed,
            60 => S::SubscribeFailed,
            61 => S::PublishRefused,
            62 => S::UnsubscribeFailed,
            90 => S::Panic,
            _ => return None,
        })
    }

    /// The status for a refusing CONNACK return code; `None` for `Accepted`.
    pub fn from_connack(code: ConnectReturnCode) -> Option<mqtt_status> {
        use ConnectReturnCode as C;
        Some(match code {
            C::Accepted => return None,
            C::UnacceptableProtocolVersion => mqtt_status::RefusedProtocolVersion,
            C::IdentifierRejected => mqtt_status::RefusedIdentifier,
            C::ServerUnavailable => mqtt_status::RefusedServerUnavailable,
            C::BadUsernameOrPassword => mqtt_status::RefusedBadCredentials,
            C::NotAuthorized => mqtt_status::RefusedNotAuthorized,
        })
    }

    /// A short description, as returned by `mqtt_status_str`.
    pub fn description(self) -> &'static CStr {
        use mqtt_status as S;
        match self {
            S::Ok => c"ok",
            S::NullArgument => c"null argument",
            S::InvalidArgument => c"invalid argument",
            S::InvalidUtf8 => c"invalid UTF-8",
            S::InvalidTopic => c"invalid topic",
            S::InvalidQos => c"invalid QoS",
            S::TooLarge => c"too large",
            S::InvalidState => c"invalid state",
            S::AlreadyRunning => c"already running",
            S::NotFound => c"not found",
            S::Io => c"I/O error",
            S::Resolve => c"host name resolution failed",
            S::AddressInUse => c"address in use",
            S::Closed => c"connection closed",
            S::Timeout => c"timed out",
            S::ProtocolError => c"protocol error",
            S::Tls => c"TLS failure",
            S::Persistence => c"persistence file unusable",
            S::Queued => c"queued until reconnected",
            S::QueueFull => c"offline queue full",
            S::RefusedProtocolVersion => c"connection refused: unacceptable protocol version",
            S::RefusedIdentifier => c"connection refused: identifier rejected",
            S::RefusedServerUnavailable => c"connection refused: server unavailable",
            S::RefusedBadCredentials => c"connection refused: bad user name or password",
            S::RefusedNotAuthorized => c"connection refused: not authorized",
            S::Refused => c"connection refused",
            S::ServerMoved => c"server moved: use another server",
            S::AuthFailed => c"authentication failed",
            S::SubscribeFailed => c"subscription refused",
            S::PublishRefused => c"publish refused",
            S::UnsubscribeFailed => c"unsubscribe refused",
            S::Panic => c"internal error (panic)",
        }
    }
}

/// Quality of service levels (section 4.3). Functions take QoS as `int` and reject values other
/// than these with `MQTT_STATUS_INVALID_QOS`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_qos {
    /// QoS 0: delivered at most once, no acknowledgement.
    AtMostOnce = 0,
    /// QoS 1: delivered at least once (PUBACK).
    AtLeastOnce = 1,
    /// QoS 2: delivered exactly once (PUBREC, PUBREL, PUBCOMP).
    ExactlyOnce = 2,
}

impl From<QoS> for mqtt_qos {
    fn from(qos: QoS) -> Self {
        match qos {
            QoS::AtMostOnce => mqtt_qos::AtMostOnce,
            QoS::AtLeastOnce => mqtt_qos::AtLeastOnce,
            QoS::ExactlyOnce => mqtt_qos::ExactlyOnce,
        }
    }
}

impl From<mqtt_qos> for QoS {
    fn from(qos: mqtt_qos) -> Self {
        match qos {
            mqtt_qos::AtMostOnce => QoS::AtMostOnce,
            mqtt_qos::AtLeastOnce => QoS::AtLeastOnce,
            mqtt_qos::ExactlyOnce => QoS::ExactlyOnce,
        }
    }
}

/// A static, NUL-terminated description of `status` (e.g. "invalid topic"). The argument is an
/// `int` so that any value is safe to pass: a value that is not an `mqtt_status` gives
/// "unknown status". Never returns NULL; the string must not be freed.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_status_str(status: c_int) -> *const c_char {
    match mqtt_status::from_raw(status) {
        Some(status) => status.description().as_ptr(),
        None => c"unknown status".as_ptr(),
    }
}

/// A static, NUL-terminated name of an MQTT 5.0 reason code (e.g. "session taken over" for
/// 0x8E; MQTT 5.0 table 2-6). The argument is an `int` so that any value is safe to pass: one
/// that is not a defined reason code gives "unknown reason code". Never returns NULL; the string
/// must not be freed. Does not touch `mqtt_last_error`.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_reason_code_str(code: c_int) -> *const c_char {
    static NAMES: std::sync::OnceLock<Vec<std::ffi::CString>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        (0..=u8::MAX)
            .map(|byte| {
                let name = crate::protocol::ReasonCode(byte).description();
                std::ffi::CString::new(name).expect("reason code names hold no NUL")
            })
            .collect()
    });
    match u8::try_from(code) {
        Ok(byte) => names[usize::from(byte)].as_ptr(),
        Err(_) => c"unknown reason code".as_ptr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_code_names() {
        let name = |code| unsafe { std::ffi::CStr::from_ptr(mqtt_reason_code_str(code)) };
        assert_eq!(name(0x8E).to_str(), Ok("session taken over"));
        assert_eq!(name(0x00).to_str(), Ok("success"));
        assert_eq!(name(0x03).to_str(), Ok("unknown reason code"));
        assert_eq!(name(-1).to_str(), Ok("unknown reason code"));
        assert_eq!(name(256).to_str(), Ok("unknown reason code"));
    }

    #[test]
    fn from_raw_inverts_the_discriminant() {
        let mut known = 0;
        for raw in -10..300 {
            if let Some(status) = mqtt_status::from_raw(raw) {
                assert_eq!(status as c_int, raw);
                known += 1;
            }
        }
        assert_eq!(
            known, 32,
            "a status was added without updating from_raw (or this count)"
        );
    }

    #[test]
    fn status_str_names_every_status_and_survives_unknown_values() {
        for raw in [-1, 7, 19, 91, c_int::MIN, c_int::MAX] {
            let s = unsafe { CStr::from_ptr(mqtt_status_str(raw)) };
            assert_eq!(s, c"unknown status");
        }
        let ok = unsafe { CStr::from_ptr(mqtt_status_str(0)) };
        assert_eq!(ok, c"ok");
        let topic = unsafe { CStr::from_ptr(mqtt_status_str(mqtt_status::InvalidTopic as c_int)) };
        assert_eq!(topic, c"invalid topic");
    }

    #[test]
    fn connack_codes_map_to_their_own_statuses() {
        assert_eq!(mqtt_status::from_connack(ConnectReturnCode::Accepted), None);
        for code in 1..=5u8 {
            let status = mqtt_status::from_connack(ConnectReturnCode::from_u8(code).unwrap());
            assert_eq!(status.map(|s| s as c_int), Some(50 + c_int::from(code)));
        }
    }

    #[test]
    fn qos_converts_both_ways() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let c = mqtt_qos::from(qos);
            assert_eq!(c as u8, qos as u8);
            assert_eq!(QoS::from(c), qos);
        }
    }
}
