//! The error type of the bindings and the per-thread record of the last failure.

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::fmt;
use std::io;

use super::status::mqtt_status;
use crate::protocol::{DecodeError, EncodeError};
use crate::topic::TopicError;

/// A failure on its way to C: the status the function returns and the message
/// `mqtt_last_error()` will show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FfiError {
    status: mqtt_status,
    message: String,
}

impl FfiError {
    pub(crate) fn new(status: mqtt_status, message: impl Into<String>) -> Self {
        debug_assert_ne!(status, mqtt_status::Ok, "an error needs an error status");
        FfiError {
            status,
            message: message.into(),
        }
    }

    /// `MQTT_STATUS_NULL_ARGUMENT` naming the argument.
    pub(crate) fn null_argument(name: &str) -> Self {
        Self::new(mqtt_status::NullArgument, format!("{name} is NULL"))
    }

    /// `MQTT_STATUS_INVALID_ARGUMENT` with an explanation.
    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(mqtt_status::InvalidArgument, message)
    }

    /// `MQTT_STATUS_INVALID_TOPIC` naming the argument (`what`, e.g. "filter") and the rule broken.
    pub(crate) fn invalid_topic(what: &str, error: TopicError) -> Self {
        Self::new(mqtt_status::InvalidTopic, format!("{what}: {error}"))
    }

    pub(crate) fn status(&self) -> mqtt_status {
        self.status
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FfiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<io::Error> for FfiError {
    fn from(error: io::Error) -> Self {
        let status = match error.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => mqtt_status::Timeout,
            io::ErrorKind::AddrInUse => mqtt_status::AddressInUse,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => mqtt_status::Closed,
            _ => mqtt_status::Io,
        };
        FfiError::new(status, error.to_string())
    }
}

impl From<TopicError> for FfiError {
    fn from(error: TopicError) -> Self {
        FfiError::new(mqtt_status::InvalidTopic, error.to_string())
    }
}

impl From<EncodeError> for FfiError {
    fn from(error: EncodeError) -> Self {
        let status = match error {
            EncodeError::FieldTooLong { .. } | EncodeError::PacketTooLarge(_) => {
                mqtt_status::TooLarge
            }
            // The rest are values the caller chose that MQTT cannot carry.
            _ => mqtt_status::InvalidArgument,
        };
        FfiError::new(status, error.to_string())
    }
}

impl From<DecodeError> for FfiError {
    fn from(error: DecodeError) -> Self {
        FfiError::new(mqtt_status::ProtocolError, error.to_string())
    }
}

struct LastError {
    status: mqtt_status,
    /// `None` after success, so that resetting on every call never allocates.
    message: Option<CString>,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = const {
        RefCell::new(LastError { status: mqtt_status::Ok, message: None })
    };
}

/// Records `status` and `message` as this thread's last failure. Interior NUL bytes (which C
/// could not see past) are replaced by U+FFFD.
pub(crate) fn set_last_error(status: mqtt_status, message: &str) {
    let message = CString::new(message).unwrap_or_else(|_| {
        CString::new(message.replace('\0', "\u{FFFD}")).expect("NUL bytes were replaced")
    });
    // `try_with` fails only while the thread is being torn down; nobody can read it then.
    let _ = LAST_ERROR.try_with(|last| {
        *last.borrow_mut() = LastError {
            status,
            message: Some(message),
        };
    });
}

/// Resets this thread's last failure to `MQTT_STATUS_OK` and an empty message.
pub(crate) fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|last| {
        let mut last = last.borrow_mut();
        last.status = mqtt_status::Ok;
        last.message = None;
    });
}

/// The message describing the most recent failed call on the calling thread, or "" if the most
/// recent fallible call succeeded. Never NULL. The string belongs to the library and stays valid
/// until the next libmqtt call on the same thread; copy it to keep it.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|last| match &last.borrow().message {
            // The CString's heap buffer does not move when the thread-local is borrowed again;
            // it is only freed when the next call replaces or clears it, as documented.
            Some(message) => message.as_ptr(),
            None => c"".as_ptr(),
        })
        .unwrap_or(c"".as_ptr())
}

/// The status of the most recent fallible call on the calling thread (`MQTT_STATUS_OK` if it
/// succeeded). Useful after functions that return NULL or `false` on failure.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_last_status() -> mqtt_status {
    LAST_ERROR
        .try_with(|last| last.borrow().status)
        .unwrap_or(mqtt_status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_error() -> String {
        unsafe { CStr::from_ptr(mqtt_last_error()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn set_then_clear() {
        set_last_error(mqtt_status::Timeout, "no CONNACK within 5 s");
        assert_eq!(last_error(), "no CONNACK within 5 s");
        assert_eq!(mqtt_last_status(), mqtt_status::Timeout);
        clear_last_error();
        assert_eq!(last_error(), "");
        assert_eq!(mqtt_last_status(), mqtt_status::Ok);
    }

    #[test]
    fn interior_nul_does_not_lose_the_message() {
        set_last_error(mqtt_status::InvalidArgument, "a\0b");
        assert_eq!(last_error(), "a\u{FFFD}b");
    }

    #[test]
    fn last_error_is_per_thread() {
        set_last_error(mqtt_status::Io, "main thread failure");
        std::thread::spawn(|| {
            assert_eq!(last_error(), "");
            assert_eq!(mqtt_last_status(), mqtt_status::Ok);
        })
        .join()
        .unwrap();
        assert_eq!(last_error(), "main thread failure");
    }

    #[test]
    fn io_errors_map_to_specific_statuses() {
        let cases = [
            (io::ErrorKind::TimedOut, mqtt_status::Timeout),
            (io::ErrorKind::AddrInUse, mqtt_status::AddressInUse),
            (io::ErrorKind::ConnectionReset, mqtt_status::Closed),
            (io::ErrorKind::PermissionDenied, mqtt_status::Io),
        ];
        for (kind, status) in cases {
            assert_eq!(FfiError::from(io::Error::from(kind)).status(), status);
        }
    }

    #[test]
    fn codec_errors_map_to_too_large_invalid_argument_or_protocol_error() {
        let too_large = FfiError::from(EncodeError::FieldTooLong {
            field: "topic",
            len: 70_000,
        });
        assert_eq!(too_large.status(), mqtt_status::TooLarge);
        assert!(too_large.message().contains("70000"), "{too_large}");
        assert_eq!(
            FfiError::from(EncodeError::PacketTooLarge(300_000_000)).status(),
            mqtt_status::TooLarge
        );
        assert_eq!(
            FfiError::from(EncodeError::PasswordWithoutUsername).status(),
            mqtt_status::InvalidArgument
        );
        let decode = crate::protocol::decode(&[0xF0, 0x00]).unwrap_err();
        assert_eq!(FfiError::from(decode).status(), mqtt_status::ProtocolError);
    }

    #[test]
    fn topic_errors_become_invalid_topic() {
        let e = FfiError::invalid_topic("filter", TopicError::MisplacedMultiLevelWildcard);
        assert_eq!(e.status(), mqtt_status::InvalidTopic);
        assert!(e.message().starts_with("filter: "));
        assert_eq!(
            FfiError::from(TopicError::Empty).status(),
            mqtt_status::InvalidTopic
        );
    }
}
