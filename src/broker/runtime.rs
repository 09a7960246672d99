//! The broker's runtime: what serves connections on top of the shared [`State`] — the stopping
//! flag, the connection threads and their bookkeeping, the count of open sockets, the parking
//! lot, the refused sockets lingering until their client read its CONNACK, and the listener's
//! waker. The runtime owns an `Arc<State>`; the state never refers back to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::parking::Parking;
use super::refusal::Lingering;
use super::state::State;
use super::threads::Workers;
use crate::waker::Waker;

/// A connection thread as the broker tracks it, so `stop()` can wake and join every one.
pub(crate) struct ConnectionThread {
    pub handle: JoinHandle<()>,
}

pub(crate) struct Runtime {
    pub state: Arc<State>,
    pub stopping: AtomicBool,
    /// Connection threads not yet joined, by connection number.
    pub threads: Mutex<HashMap<u64, ConnectionThread>>,
    /// Connection numbers whose thread has finished, for the listener to join.
    pub finished: Mutex<Vec<u64>>,
    /// Accepted sockets not yet closed: served by a thread or parked (refused ones excluded).
    pub live_connections: AtomicUsize,
    next_thread_id: AtomicU64,
    /// Wakes the listener (to join finished threads, watch a refused socket, or stop); set by
    /// `start`.
    pub listener_waker: OnceLock<Arc<Waker>>,
    /// Where idle connections wait without a thread; set by `start`.
    pub parking: OnceLock<Arc<Parking>>,
    pub workers: Workers,
    /// Refused sockets the listener keeps open until their client has read the CONNACK.
    pub lingering: Lingering,
    /// The TLS listeners' configurations, for `Broker::reload_tls`; set by `start`.
    pub tls_slots: Mutex<Vec<Arc<super::listeners::TlsSlot>>>,
}

impl Runtime {
    pub fn new(state: Arc<State>) -> Runtime {
        Runtime {
            state,
            stopping: AtomicBool::new(false),
            threads: Mutex::new(HashMap::new()),
            finished: Mutex::new(Vec::new()),
            live_connections: AtomicUsize::new(0),
            next_thread_id: AtomicU64::new(0),
            listener_waker: OnceLock::new(),
            parking: OnceLock::new(),
            workers: Workers::new(),
            lingering: Lingering::default(),
            tls_slots: Mutex::new(Vec::new()),
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Open client sockets: served by a thread, parked, or waiting for their CONNECT.
    pub fn connection_count(&self) -> usize {
        self.live_connections.load(Ordering::Acquire)
    }

    /// Wakes every connection attached to a session, so each notices the broker is stopping.
    pub fn wake_attached(&self) {
        let sessions: Vec<_> = self.state.sessions.lock().values().cloned().collect();
        for session in sessions {
            let attached = session.lock().attached.clone();
            if let Some(control) = attached {
                control.wake();
            }
        }
    }

    pub fn next_thread_id(&self) -> u64 {
        self.next_thread_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn wake_listener(&self) {
        if let Some(waker) = self.listener_waker.get() {
            waker.wake();
        }
    }
}
