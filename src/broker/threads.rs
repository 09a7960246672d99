//! Starting connection threads (from the listener for new sockets, from the parking lot for idle
//! connections that became active again) and the bookkeeping that lets `stop()` join them all.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;

use super::control::ConnectionControl;
use super::core::{ConnectionThread, Core};
use super::options::MIN_THREAD_STACK_SIZE;

/// How a connection thread ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadEnd {
    /// The connection is over.
    Closed,
    /// The connection was idle and now waits in the parking lot without a thread.
    Parked,
}

thread_local! {
    /// The broker whose thread this is, so `Broker::stop` called from a callback can tell it must
    /// not join its own thread.
    pub(crate) static SERVING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

pub(crate) fn core_tag(core: &Arc<Core>) -> usize {
    Arc::as_ptr(core) as usize
}

/// Marks the calling thread as one of `core`'s.
pub(crate) fn mark_serving(core: &Arc<Core>) {
    SERVING.with(|s| s.set(core_tag(core)));
}

/// Runs `body` on a new thread with the configured (small) stack, registered so the listener
/// joins it once finished and `stop()` can wake and join it. The live-connection count is
/// decremented when `body` reports the connection closed (or panics).
pub(crate) fn spawn_connection_thread(
    core: &Arc<Core>,
    control: Arc<ConnectionControl>,
    body: impl FnOnce() -> ThreadEnd + Send + 'static,
) -> io::Result<()> {
    let id = core.next_thread_id();
    let thread_core = Arc::clone(core);
    // Held across the spawn so the thread cannot be reaped before it is registered.
    let mut threads = core.threads.lock();
    let handle = thread::Builder::new()
        .name("mqtt-connection".to_owned())
        .stack_size(core.options.thread_stack_size.max(MIN_THREAD_STACK_SIZE))
        .spawn(move || {
            mark_serving(&thread_core);
            let end = catch_unwind(AssertUnwindSafe(body)).unwrap_or(ThreadEnd::Closed);
            if end == ThreadEnd::Closed {
                thread_core.live_connections.fetch_sub(1, Ordering::AcqRel);
            }
            thread_core.finished.lock().push(id);
            thread_core.wake_listener();
        })?;
    threads.insert(id, ConnectionThread { handle, control });
    Ok(())
}

/// Joins the connection threads that have finished.
pub(crate) fn join_finished(core: &Core) {
    let finished = std::mem::take(&mut *core.finished.lock());
    if finished.is_empty() {
        return;
    }
    let handles: Vec<_> = {
        let mut threads = core.threads.lock();
        finished
            .iter()
            .filter_map(|id| threads.remove(id))
            .collect()
    };
    for thread in handles {
        let _ = thread.handle.join();
    }
}
