//! The panic boundary: every exported body runs inside one of these guards.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::error::{FfiError, clear_last_error, set_last_error};
use super::status::mqtt_status;

/// Runs the body of a function that returns `mqtt_status`. Resets the thread's last error, then
/// returns `MQTT_STATUS_OK`, or the error's status after recording it, or `MQTT_STATUS_PANIC`
/// if the body panicked.
pub(crate) fn guard_status(body: impl FnOnce() -> Result<(), FfiError>) -> mqtt_status {
    match run(body) {
        Ok(()) => mqtt_status::Ok,
        Err(error) => error.status(),
    }
}

/// Runs the body of a function that returns a value (a handle, a `bool`, a count): on error or
/// panic the failure is recorded and `on_error` (NULL, `false`, 0) is returned instead.
pub(crate) fn guard_or<T>(on_error: T, body: impl FnOnce() -> Result<T, FfiError>) -> T {
    run(body).unwrap_or(on_error)
}

/// Runs the body of a `_free` function: the thread's last error is left as it was, so a
/// cleanup path can still report the failure that led to it; only a panic is recorded.
pub(crate) fn guard_void(body: impl FnOnce()) {
    guard_quiet((), || {
        body();
        Ok(())
    })
}

/// Runs the body of a pure getter (`mqtt_connection_is_connected`, `mqtt_broker_port`, ...):
/// like [`guard_void`] it leaves the thread's last error alone — a NULL handle gives `on_error`
/// without a trace — and records only a panic.
pub(crate) fn guard_quiet<T>(on_error: T, body: impl FnOnce() -> Result<T, FfiError>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(_)) => on_error,
        Err(payload) => {
            set_last_error(
                mqtt_status::Panic,
                &format!("internal panic: {}", panic_message(&*payload)),
            );
            on_error
        }
    }
}

fn run<T>(body: impl FnOnce() -> Result<T, FfiError>) -> Result<T, FfiError> {
    clear_last_error();
    // Unwind safety is asserted: a panic is a bug, reported as MQTT_STATUS_PANIC, and the
    // documentation of that status warns that the object involved may be unusable. Shared state
    // sits behind parking_lot locks, which do not poison, so other objects stay usable.
    let result = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => Err(FfiError::new(
            mqtt_status::Panic,
            format!("internal panic: {}", panic_message(&*payload)),
        )),
    };
    if let Err(error) = &result {
        set_last_error(error.status(), error.message());
    }
    result
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::error::{mqtt_last_error, mqtt_last_status};
    use std::ffi::CStr;

    fn last_error() -> String {
        unsafe { CStr::from_ptr(mqtt_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn success_clears_a_previous_failure() {
        set_last_error(mqtt_status::Io, "earlier");
        assert_eq!(guard_status(|| Ok(())), mqtt_status::Ok);
        assert_eq!(last_error(), "");
        assert_eq!(mqtt_last_status(), mqtt_status::Ok);
    }

    #[test]
    fn error_status_and_message_are_recorded() {
        let status = guard_status(|| Err(FfiError::null_argument("topic")));
        assert_eq!(status, mqtt_status::NullArgument);
        assert_eq!(last_error(), "topic is NULL");
        assert_eq!(mqtt_last_status(), mqtt_status::NullArgument);
    }

    #[test]
    fn panic_becomes_mqtt_status_panic() {
        let status = guard_status(|| panic!("boom {}", 42));
        assert_eq!(status, mqtt_status::Panic);
        assert_eq!(last_error(), "internal panic: boom 42");
        assert_eq!(mqtt_last_status(), mqtt_status::Panic);
    }

    #[test]
    fn guard_or_returns_the_fallback_on_error_and_panic() {
        let ok = guard_or(std::ptr::null_mut::<u8>(), || Ok(std::ptr::dangling_mut()));
        assert!(!ok.is_null());
        assert!(!guard_or(false, || Err(FfiError::invalid_argument("no"))));
        assert_eq!(last_error(), "no");
        assert_eq!(guard_or(7u16, || panic!("static message")), 7);
        assert_eq!(last_error(), "internal panic: static message");
    }

    #[test]
    fn guard_void_swallows_panics() {
        guard_void(|| std::panic::panic_any(5i32));
        assert_eq!(mqtt_last_status(), mqtt_status::Panic);
        assert_eq!(last_error(), "internal panic: (no message)");
    }
}
