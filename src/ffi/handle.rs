//! Opaque handles: Rust values owned by C through a pointer.
//!
//! A handle type is a plain (not `#[repr(C)]`) `pub struct mqtt_thing`, so cbindgen declares it
//! in the header as an incomplete `typedef struct mqtt_thing mqtt_thing;` and C can only hold
//! pointers to it.

use super::error::FfiError;
use super::guard::guard_status;
use super::status::mqtt_status;

/// Moves `value` to the heap and gives C ownership of it. The matching `_free` function
/// returns it to Rust with [`free_handle`].
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Borrows the value behind a handle. NULL → `MQTT_STATUS_NULL_ARGUMENT`, misaligned →
/// `MQTT_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// Unless NULL, `ptr` came from [`into_handle`] and has not been freed; it is not freed while
/// the borrow lives (the header makes freeing during a call the caller's error).
pub(crate) unsafe fn handle_ref<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, FfiError> {
    if !ptr.is_aligned() {
        return Err(FfiError::invalid_argument(format!(
            "{name} is not a valid handle"
        )));
    }
    // SAFETY: aligned, and live unless NULL per the caller.
    unsafe { ptr.as_ref() }.ok_or_else(|| FfiError::null_argument(name))
}

/// Mutably borrows the value behind a handle, for functions documented as not thread-safe on
/// the same handle (e.g. options setters). Checks as for [`handle_ref`].
///
/// # Safety
/// As for [`handle_ref`], and no other reference to the value exists while the borrow lives.
pub(crate) unsafe fn handle_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, FfiError> {
    if !ptr.is_aligned() {
        return Err(FfiError::invalid_argument(format!(
            "{name} is not a valid handle"
        )));
    }
    // SAFETY: aligned, and live and unaliased unless NULL per the caller.
    unsafe { ptr.as_mut() }.ok_or_else(|| FfiError::null_argument(name))
}

/// Drops the value behind a handle; NULL is a no-op, as every `_free` function promises.
///
/// # Safety
/// Unless NULL, `ptr` came from [`into_handle`] for the same `T` and is not used afterwards.
pub(crate) unsafe fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: per the caller, this is the Box leaked by `into_handle`.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// A handle that holds settings changed one setter at a time (`mqtt_connect_options`,
/// `mqtt_broker_options`): what [`with_options`] edits.
pub(crate) trait OptionsHandle {
    /// The Rust settings behind the handle.
    type Options;
    /// The parameter name used in error messages ("options", "opts").
    const ARG: &'static str;
    fn options_mut(&mut self) -> &mut Self::Options;
}

/// The body of every options setter: checks the handle, applies `change` to the settings
/// behind it inside the panic guard, and returns the status.
///
/// # Safety
/// `handle` is NULL or a live handle not used concurrently (options are documented as not
/// thread-safe while being modified).
pub(crate) unsafe fn with_options<H: OptionsHandle>(
    handle: *mut H,
    change: impl FnOnce(&mut H::Options) -> Result<(), FfiError>,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: forwarded to the caller.
        let handle = unsafe { handle_mut(handle, H::ARG) }?;
        change(handle.options_mut())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::mqtt_status;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct CountsDrops(Arc<AtomicUsize>);

    impl Drop for CountsDrops {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn handle_lives_until_freed() {
        let drops = Arc::new(AtomicUsize::new(0));
        let handle = into_handle(CountsDrops(drops.clone()));
        let borrowed = unsafe { handle_ref(handle, "thing") }.unwrap();
        assert!(Arc::ptr_eq(&borrowed.0, &drops));
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        unsafe { free_handle(handle) };
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn free_null_is_a_no_op() {
        unsafe { free_handle::<CountsDrops>(std::ptr::null_mut()) };
    }

    #[test]
    fn null_and_misaligned_handles_are_refused() {
        let e = unsafe { handle_ref::<u64>(std::ptr::null(), "broker") }.unwrap_err();
        assert_eq!(e.status(), mqtt_status::NullArgument);
        assert_eq!(e.message(), "broker is NULL");
        let e = unsafe { handle_mut::<u64>(std::ptr::null_mut(), "opts") }.unwrap_err();
        assert_eq!(e.status(), mqtt_status::NullArgument);
        let words = [0u64; 2];
        let misaligned = words.as_ptr().cast::<u8>().wrapping_add(1).cast::<u64>();
        let e = unsafe { handle_ref(misaligned, "broker") }.unwrap_err();
        assert_eq!(e.status(), mqtt_status::InvalidArgument);
    }

    #[test]
    fn handle_mut_mutates_in_place() {
        let handle = into_handle(1u32);
        *unsafe { handle_mut(handle, "n") }.unwrap() += 1;
        assert_eq!(*unsafe { handle_ref(handle, "n") }.unwrap(), 2);
        unsafe { free_handle(handle) };
    }
}
