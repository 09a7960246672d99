//! How `mqtt_connection_free` can be called from any thread at any time: every call on a
//! connection is counted while it runs, and the handle's memory is released only once no call
//! uses it any more.
//!
//! `mqtt_connection_free` first marks the handle as being freed (calls that start from then on
//! return `MQTT_STATUS_CLOSED`), then shuts the client down, so calls blocked on other threads
//! wake up and return `MQTT_STATUS_CLOSED`, then waits for the count to drop to zero and frees.
//! Called from inside a call on the same handle (a callback run by `mqtt_receive_message`, say),
//! it cannot wait for its own caller: it only marks the handle, and the last call to return
//! frees it.

use std::cell::RefCell;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::super::error::FfiError;
use super::super::handle::handle_ref;
use super::super::status::mqtt_status;
use super::mqtt_connection;
use crate::client::Client;

/// Set in `mqtt_connection::calls` once `mqtt_connection_free` began.
const FREEING: usize = 1 << (usize::BITS - 1);
/// Set with `FREEING` when the free was asked for from inside a call: the last call frees.
const LAST_CALL_FREES: usize = 1 << (usize::BITS - 2);
const COUNT: usize = LAST_CALL_FREES - 1;

/// Wakes a `mqtt_connection_free` waiting for calls to return. Static, so a returning call
/// never touches the handle after its count went down.
static RETURNED: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());

thread_local! {
    /// The handles this thread is inside a call on (nested calls from callbacks included).
    static INSIDE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// A call in progress on a connection: dereferences to the client; returning ends the call.
pub(in crate::ffi) struct ConnectionCall {
    connection: *mut mqtt_connection,
}

impl ConnectionCall {
    /// Starts a call on `connection`. NULL → `MQTT_STATUS_NULL_ARGUMENT`; a connection being
    /// freed → `MQTT_STATUS_CLOSED`.
    ///
    /// # Safety
    /// `connection` is NULL or a handle from `mqtt_connect` whose `mqtt_connection_free` has
    /// not returned.
    pub(in crate::ffi) unsafe fn start(
        connection: *const mqtt_connection,
    ) -> Result<ConnectionCall, FfiError> {
        // SAFETY: forwarded to the caller.
        let handle = unsafe { handle_ref(connection, "connection") }?;
        let previous = handle.calls.fetch_add(1, Ordering::AcqRel);
        INSIDE.with(|inside| inside.borrow_mut().push(connection as usize));
        let call = ConnectionCall {
            connection: connection.cast_mut(),
        };
        if previous & FREEING != 0 {
            return Err(FfiError::new(
                mqtt_status::Closed,
                "connection closed: the connection is being freed",
            ));
        }
        Ok(call)
    }
}

impl Deref for ConnectionCall {
    type Target = Client;

    fn deref(&self) -> &Client {
        // SAFETY: the handle lives while a call is counted.
        &unsafe { &*self.connection }.client
    }
}

impl Drop for ConnectionCall {
    fn drop(&mut self) {
        INSIDE.with(|inside| {
            let mut inside = inside.borrow_mut();
            if let Some(i) = inside.iter().rposition(|&c| c == self.connection as usize) {
                inside.remove(i);
            }
        });
        // SAFETY: still counted, so still alive; not touched after the decrement unless this
        // was the last call of a handle whose free was left to it.
        let previous = unsafe { &*self.connection }
            .calls
            .fetch_sub(1, Ordering::AcqRel);
        if previous & FREEING == 0 {
            return;
        }
        if previous & COUNT == 1 && previous & LAST_CALL_FREES != 0 {
            // SAFETY: the free was requested and no other call remains.
            drop(unsafe { Box::from_raw(self.connection) });
        } else {
            let _lock = RETURNED.0.lock();
            RETURNED.1.notify_all();
        }
    }
}

/// The body of `mqtt_connection_free` (see the module documentation).
///
/// # Safety
/// `connection` is NULL or a handle from `mqtt_connect` not freed before.
pub(in crate::ffi) unsafe fn free_connection(connection: *mut mqtt_connection) {
    // SAFETY: forwarded to the caller.
    let Ok(handle) = (unsafe { handle_ref(connection.cast_const(), "connection") }) else {
        return;
    };
    let inside = INSIDE.with(|inside| inside.borrow().contains(&(connection as usize)));
    if inside {
        // This thread's own call is counted, so the count cannot reach zero before the flags
        // are set; the outermost call frees on return.
        handle
            .calls
            .fetch_or(FREEING | LAST_CALL_FREES, Ordering::AcqRel);
        handle.client.shut_down();
        return;
    }
    handle.calls.fetch_or(FREEING, Ordering::AcqRel);
    handle.client.shut_down();
    let mut lock = RETURNED.0.lock();
    while handle.calls.load(Ordering::Acquire) & COUNT != 0 {
        // Timed, as a call may return between the load and the wait.
        RETURNED.1.wait_for(&mut lock, Duration::from_millis(10));
    }
    drop(lock);
    // SAFETY: no call uses the handle any more, and new ones are the caller's error.
    drop(unsafe { Box::from_raw(connection) });
}
