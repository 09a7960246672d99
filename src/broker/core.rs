//! State shared by every thread of one broker: options, counters, the session registry, the
//! subscription tree, retained messages, and the live connection threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};

use super::options::BrokerOptions;
use super::parking::Parking;
use super::retained::RetainedStore;
use super::session::Session;
use super::stats::Counters;
use super::subscriptions::SubscriptionTree;
use super::threads::Workers;
use crate::waker::Waker;

/// A connection thread as the broker tracks it, so `stop()` can wake and join every one.
pub(crate) struct ConnectionThread {
    pub handle: JoinHandle<()>,
}

pub(crate) struct Core {
    pub options: BrokerOptions,
    pub counters: Counters,
    /// Sessions by client id. Lock order: this lock, then a session's lock; never the reverse.
    pub sessions: Mutex<HashMap<Arc<str>, Arc<Session>>>,
    /// Never held while taking a session's lock.
    pub subscriptions: RwLock<SubscriptionTree>,
    pub retained: RwLock<RetainedStore>,
    pub stopping: AtomicBool,
    next_session_id: AtomicU64,
    /// Connection threads not yet joined, by connection number.
    pub threads: Mutex<HashMap<u64, ConnectionThread>>,
    /// Connection numbers whose thread has finished, for the listener to join.
    pub finished: Mutex<Vec<u64>>,
    /// Accepted sockets not yet closed: served by a thread or parked.
    pub live_connections: AtomicUsize,
    next_thread_id: AtomicU64,
    /// Wakes the listener (to join finished threads, or to stop); set by `start`.
    pub listener_waker: OnceLock<Arc<Waker>>,
    /// Where idle connections wait without a thread; set by `start`.
    pub parking: OnceLock<Arc<Parking>>,
    pub workers: Workers,
}

impl Core {
    pub fn new(options: BrokerOptions) -> Core {
        Core {
            options,
            counters: Counters::default(),
            sessions: Mutex::new(HashMap::new()),
            subscriptions: RwLock::new(SubscriptionTree::default()),
            retained: RwLock::new(RetainedStore::default()),
            stopping: AtomicBool::new(false),
            next_session_id: AtomicU64::new(1),
            threads: Mutex::new(HashMap::new()),
            finished: Mutex::new(Vec::new()),
            live_connections: AtomicUsize::new(0),
            next_thread_id: AtomicU64::new(0),
            listener_waker: OnceLock::new(),
            parking: OnceLock::new(),
            workers: Workers::new(),
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Wakes every connection attached to a session, so each notices the broker is stopping.
    pub fn wake_attached(&self) {
        let sessions: Vec<_> = self.sessions.lock().values().cloned().collect();
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

    pub fn next_session_id(&self) -> u64 {
        self.next_session_id.fetch_add(1, Ordering::Relaxed)
    }
}
