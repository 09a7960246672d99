//! Connection threads: handing a connection to one (from the listener for new sockets, from the
//! parking lot for idle connections that became active again), reusing threads between
//! connections, and the bookkeeping that lets `stop()` join them all.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::options::MIN_THREAD_STACK_SIZE;
use super::runtime::{ConnectionThread, Runtime};

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

pub(crate) fn runtime_tag(runtime: &Arc<Runtime>) -> usize {
    Arc::as_ptr(runtime) as usize
}

/// Marks the calling thread as one of `runtime`'s.
pub(crate) fn mark_serving(runtime: &Arc<Runtime>) {
    SERVING.with(|s| s.set(runtime_tag(runtime)));
}

/// A connection's work: serve it until it closes or parks.
type Job = Box<dyn FnOnce() -> ThreadEnd + Send>;

/// How long a connection thread with nothing to do waits for the next connection before exiting.
const WORKER_IDLE: Duration = Duration::from_secs(2);
/// At most this many threads wait for work at once; others exit at once, so a burst of connects
/// that all go idle does not leave thousands of threads behind.
const MAX_IDLE_WORKERS: usize = 64;

/// Connection threads are reused: one that finished its connection (closed or parked) waits a
/// while for the next, so accepting a socket or resuming a parked connection usually costs a
/// channel hand-off instead of a thread start.
pub(crate) struct Workers {
    /// Zero capacity: a send succeeds only when a thread is waiting for work.
    jobs: (Sender<Job>, Receiver<Job>),
    /// Dropped by `stop`, which wakes every waiting thread at once.
    stop: Mutex<Option<Sender<()>>>,
    stopped: Receiver<()>,
    idle: AtomicUsize,
}

impl Workers {
    pub fn new() -> Workers {
        let (stop, stopped) = crossbeam_channel::bounded(0);
        Workers {
            jobs: crossbeam_channel::bounded(0),
            stop: Mutex::new(Some(stop)),
            stopped,
            idle: AtomicUsize::new(0),
        }
    }

    /// Tells waiting threads to exit.
    pub fn stop(&self) {
        self.stop.lock().take();
    }
}

/// Runs `body` on a connection thread: a waiting one if any, else a new one with the configured
/// (small) stack, registered so the listener joins it once finished and `stop()` joins it. The
/// live-connection count is decremented when `body` reports the connection closed (or panics).
pub(crate) fn spawn_connection_thread(
    runtime: &Arc<Runtime>,
    body: impl FnOnce() -> ThreadEnd + Send + 'static,
) -> io::Result<()> {
    let job: Job = Box::new(body);
    let job = match runtime.workers.jobs.0.try_send(job) {
        Ok(()) => return Ok(()),
        Err(refused) => refused.into_inner(),
    };
    let id = runtime.next_thread_id();
    let thread_runtime = Arc::clone(runtime);
    let stack_size = runtime.state.options.thread_stack_size;
    // Held across the spawn so the thread cannot be reaped before it is registered.
    let mut threads = runtime.threads.lock();
    let handle = thread::Builder::new()
        .name("mqtt-connection".to_owned())
        .stack_size(stack_size.max(MIN_THREAD_STACK_SIZE))
        .spawn(move || work(&thread_runtime, id, job))?;
    threads.insert(id, ConnectionThread { handle });
    Ok(())
}

fn work(runtime: &Arc<Runtime>, id: u64, first: Job) {
    mark_serving(runtime);
    let workers = &runtime.workers;
    let mut next = Some(first);
    while let Some(job) = next.take() {
        let end = catch_unwind(AssertUnwindSafe(job)).unwrap_or(ThreadEnd::Closed);
        if end == ThreadEnd::Closed {
            runtime.live_connections.fetch_sub(1, Ordering::AcqRel);
        }
        if runtime.is_stopping() {
            break;
        }
        if workers.idle.fetch_add(1, Ordering::AcqRel) >= MAX_IDLE_WORKERS {
            workers.idle.fetch_sub(1, Ordering::AcqRel);
            break;
        }
        crossbeam_channel::select! {
            recv(workers.jobs.1) -> job => next = job.ok(),
            recv(workers.stopped) -> _ => {}
            default(WORKER_IDLE) => {}
        }
        workers.idle.fetch_sub(1, Ordering::AcqRel);
    }
    runtime.finished.lock().push(id);
    runtime.wake_listener();
}

/// Joins the connection threads that have finished.
pub(crate) fn join_finished(runtime: &Runtime) {
    let finished = std::mem::take(&mut *runtime.finished.lock());
    if finished.is_empty() {
        return;
    }
    let handles: Vec<_> = {
        let mut threads = runtime.threads.lock();
        finished
            .iter()
            .filter_map(|id| threads.remove(id))
            .collect()
    };
    for thread in handles {
        let _ = thread.handle.join();
    }
}
