//! Checked conversions of arguments arriving from C.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr::NonNull;

use super::error::FfiError;
use super::status::mqtt_status;
use crate::protocol::QoS;

/// Borrows a NUL-terminated UTF-8 string argument. `name` is the parameter's name, used in the
/// error message. NULL → `MQTT_STATUS_NULL_ARGUMENT`; not UTF-8 → `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a` and is not modified
/// meanwhile.
pub(crate) unsafe fn c_str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    // SAFETY: forwarded to the caller.
    unsafe { opt_c_str_arg(ptr, name) }?.ok_or_else(|| FfiError::null_argument(name))
}

/// Like [`c_str_arg`], for optional strings: NULL gives `None`.
///
/// # Safety
/// As for [`c_str_arg`].
pub(crate) unsafe fn opt_c_str_arg<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, FfiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL, and the caller guarantees a live NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(Some(s)),
        Err(e) => Err(FfiError::new(
            mqtt_status::InvalidUtf8,
            format!("{name} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )),
    }
}

/// Borrows a `(pointer, length)` byte buffer. NULL is allowed when `len` is 0 (an empty
/// payload); NULL with a length → `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// Unless NULL, `ptr` points to `len` readable bytes that outlive `'a` and are not modified
/// meanwhile.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], FfiError> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::null_argument(name));
    }
    if len > isize::MAX as usize {
        return Err(FfiError::new(
            mqtt_status::TooLarge,
            format!("{name}: length {len} is larger than any buffer"),
        ));
    }
    // SAFETY: non-NULL, length checked against the slice limit, validity promised by the caller.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks a QoS passed as `int`: 0, 1 or 2, else `MQTT_STATUS_INVALID_QOS`.
pub(crate) fn qos_arg(qos: c_int) -> Result<QoS, FfiError> {
    u8::try_from(qos)
        .ok()
        .and_then(QoS::from_u8)
        .ok_or_else(|| {
            FfiError::new(
                mqtt_status::InvalidQos,
                format!("qos must be 0, 1 or 2, not {qos}"),
            )
        })
}

/// A checked out-parameter. Check all out-parameters before doing any work, then write them
/// once the work succeeded, so C sees them written only on success.
#[derive(Debug)]
pub(crate) struct OutArg<T>(NonNull<T>);

impl<T> OutArg<T> {
    /// Stores `value` without reading or dropping what was there (C memory may be
    /// uninitialised).
    pub(crate) fn write(self, value: T) {
        // SAFETY: `out_arg`'s caller promised a writable, aligned `T`.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// Checks an out-parameter pointer: NULL → `MQTT_STATUS_NULL_ARGUMENT`, misaligned →
/// `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// Unless NULL, `ptr` points to memory writable as a `T` until the returned value is used.
pub(crate) unsafe fn out_arg<T>(ptr: *mut T, name: &str) -> Result<OutArg<T>, FfiError> {
    let ptr = NonNull::new(ptr).ok_or_else(|| FfiError::null_argument(name))?;
    if !ptr.as_ptr().is_aligned() {
        return Err(FfiError::invalid_argument(format!("{name} is misaligned")));
    }
    Ok(OutArg(ptr))
}

/// [`out_arg`] for an optional out-parameter: NULL is `None`.
///
/// # Safety
/// As for [`out_arg`].
pub(crate) unsafe fn opt_out_arg<T>(
    ptr: *mut T,
    name: &str,
) -> Result<Option<OutArg<T>>, FfiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded to the caller.
    unsafe { out_arg(ptr, name) }.map(Some)
}

/// The `void *userdata` given with a callback. libmqtt never dereferences it; it only hands it
/// back to the callback, possibly on another thread, which the header documents for every
/// callback. That is why it may be sent between threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserData(*mut c_void);

// SAFETY: the pointer is opaque to Rust and only passed back to C code that chose to receive it
// on the documented threads.
unsafe impl Send for UserData {}
// SAFETY: as above; Rust never reads through it.
unsafe impl Sync for UserData {}

impl UserData {
    pub(crate) fn new(ptr: *mut c_void) -> Self {
        UserData(ptr)
    }

    pub(crate) fn as_ptr(self) -> *mut c_void {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_str_arg_checks_null_and_utf8() {
        assert_eq!(unsafe { c_str_arg(c"a/b".as_ptr(), "topic") }, Ok("a/b"));
        let null = unsafe { c_str_arg(std::ptr::null(), "topic") }.unwrap_err();
        assert_eq!(null.status(), mqtt_status::NullArgument);
        assert_eq!(null.message(), "topic is NULL");
        let bad = unsafe { c_str_arg(c"ok\xff".as_ptr(), "topic") }.unwrap_err();
        assert_eq!(bad.status(), mqtt_status::InvalidUtf8);
        assert_eq!(bad.message(), "topic is not valid UTF-8 (at byte 2)");
        // An encoded surrogate (U+D800) is not UTF-8 either ([MQTT-1.5.3-1]).
        let surrogate = unsafe { c_str_arg(c"\xed\xa0\x80".as_ptr(), "topic") }.unwrap_err();
        assert_eq!(surrogate.status(), mqtt_status::InvalidUtf8);
    }

    #[test]
    fn opt_c_str_arg_maps_null_to_none() {
        assert_eq!(unsafe { opt_c_str_arg(std::ptr::null(), "user") }, Ok(None));
        assert_eq!(unsafe { opt_c_str_arg(c"".as_ptr(), "user") }, Ok(Some("")));
    }

    #[test]
    fn bytes_arg_allows_null_only_when_empty() {
        assert_eq!(
            unsafe { bytes_arg(std::ptr::null(), 0, "payload") },
            Ok(&[][..])
        );
        let data = [1u8, 2, 3];
        assert_eq!(
            unsafe { bytes_arg(data.as_ptr(), 3, "payload") },
            Ok(&data[..])
        );
        let null = unsafe { bytes_arg(std::ptr::null(), 3, "payload") }.unwrap_err();
        assert_eq!(null.status(), mqtt_status::NullArgument);
        let huge = unsafe { bytes_arg(data.as_ptr(), usize::MAX, "payload") }.unwrap_err();
        assert_eq!(huge.status(), mqtt_status::TooLarge);
    }

    #[test]
    fn qos_arg_range_checks() {
        assert_eq!(qos_arg(0), Ok(QoS::AtMostOnce));
        assert_eq!(qos_arg(1), Ok(QoS::AtLeastOnce));
        assert_eq!(qos_arg(2), Ok(QoS::ExactlyOnce));
        for bad in [-1, 3, 256, 258, c_int::MIN, c_int::MAX] {
            let e = qos_arg(bad).unwrap_err();
            assert_eq!(e.status(), mqtt_status::InvalidQos);
            assert!(e.message().contains(&bad.to_string()));
        }
    }

    #[test]
    fn out_arg_checks_null_and_alignment_then_writes() {
        let mut value = 0u32;
        unsafe { out_arg(&mut value, "out") }.unwrap().write(7);
        assert_eq!(value, 7);
        let null = unsafe { out_arg::<u32>(std::ptr::null_mut(), "out") }.unwrap_err();
        assert_eq!(null.status(), mqtt_status::NullArgument);
        let mut words = [0u32; 2];
        let misaligned = words
            .as_mut_ptr()
            .cast::<u8>()
            .wrapping_add(1)
            .cast::<u32>();
        let e = unsafe { out_arg(misaligned, "out") }.unwrap_err();
        assert_eq!(e.status(), mqtt_status::InvalidArgument);
    }

    #[test]
    fn user_data_round_trips_across_threads() {
        let mut target = 5i32;
        let data = UserData::new((&raw mut target).cast());
        let back = std::thread::spawn(move || data).join().unwrap();
        assert_eq!(back.as_ptr(), (&raw mut target).cast::<c_void>());
    }
}
