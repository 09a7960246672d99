//! A session (section 3.1.2.4): the state that outlives a connection when clean session is 0 —
//! subscriptions, messages queued for the client, and QoS 1/2 flows — and the queue through which
//! other threads hand deliveries to the connection currently serving it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::control::ConnectionControl;
use super::flows::Flows;
use super::message::Delivery;
use super::router::Publication;
use super::stats::Counters;
use super::store::{Change, Journal};
use super::subscriptions::Grant;
use crate::protocol::QoS;
use crate::topic::TopicFilter;

/// A Session Expiry Interval that never runs out (MQTT 5.0 section 3.1.2.11.2): what MQTT 3.1.1
/// clean session 0 means.
pub(crate) const NEVER_EXPIRES: u32 = u32::MAX;

#[derive(Debug)]
pub(crate) struct Session {
    /// Unique for the broker's lifetime; identifies the session in the subscription tree.
    pub id: u64,
    pub client_id: Arc<str>,
    /// Whether a connection serves the session, readable without its lock (the subscription
    /// tree, which must not take a session's lock, picks connected members of share groups).
    connected: AtomicBool,
    state: Mutex<SessionState>,
    detached: Condvar,
}

#[derive(Debug)]
pub(crate) struct SessionState {
    /// Deliveries for the client, bounded by `max_queued_messages`. A publisher only ever appends
    /// here, under a lock held for the append, so it never waits on the subscriber's socket.
    pub queue: VecDeque<Delivery>,
    /// The connection serving the session, if any.
    pub attached: Option<Arc<ConnectionControl>>,
    /// The QoS flows while no connection holds them.
    pub flows: Option<Box<Flows>>,
    pub subscriptions: HashMap<TopicFilter, Grant>,
    /// Set once the session is discarded; late deliveries are then dropped.
    pub ended: bool,
    pub detached_at: Instant,
    /// Seconds the session outlives its connection: 0 ends it with the connection (MQTT 3.1.1
    /// clean session 1, [MQTT-3.1.2-6]), [`NEVER_EXPIRES`] keeps it (clean session 0). An MQTT
    /// 5.0 client sets it in CONNECT and may change it in DISCONNECT.
    pub expiry_interval: u32,
    /// An MQTT 5.0 will waiting for its Will Delay Interval: published when it is due or the
    /// session ends, whichever comes first, and dropped if the client reconnects before
    /// (MQTT 5.0 [MQTT-3.1.2-8], [MQTT-3.1.3-9]).
    pub delayed_will: Option<(Instant, Publication)>,
    /// The session is in the persistence store (persistence is on and its expiry interval was
    /// above 0 when last recorded): its QoS 1 and 2 deliveries are recorded too, and its end.
    pub journaled: bool,
    /// The connection serving the session records its QoS 1 and 2 deliveries itself, when the
    /// journal's epoch moves and when it detaches, rather than each being recorded as queued
    /// (see `Journal::defers_deliveries`); until then they are queued unnumbered.
    pub deferring: bool,
}

/// Connections to wake once a batch of deliveries has been queued. Waking is deferred to the end
/// of the batch so that a publisher handling many messages from one read wakes each subscriber
/// once, not once per message.
#[derive(Debug, Default)]
pub(crate) struct Wakeups {
    pending: Vec<Arc<ConnectionControl>>,
    /// Deliveries routed and not yet offered (see `State::route_deferred`): offered together,
    /// session by session, so that each session's lock and the journal's are taken once per
    /// batch rather than once per message.
    pub(crate) routed: Vec<(Arc<Session>, Delivery)>,
    /// Reused by [`Session::offer_all`] for the batch of one session.
    batch: Vec<Delivery>,
    /// Reused by [`Session::offer_all`] for the batch's Queued records.
    records: Vec<Change>,
}

impl Wakeups {
    fn add(&mut self, connection: Arc<ConnectionControl>) {
        if !self
            .pending
            .last()
            .is_some_and(|last| Arc::ptr_eq(last, &connection))
        {
            self.pending.push(connection);
        }
    }

    /// Offers the deliveries routed since the last call to their sessions, in the order they
    /// were routed within each session (see [`Session::offer_all`]).
    pub fn offer_routed(
        &mut self,
        max_queued: usize,
        counters: &Counters,
        journal: Option<&Journal>,
    ) {
        if self.routed.is_empty() {
            return;
        }
        // Stable: each session keeps the order its deliveries were routed in ([MQTT-4.6.0-5]).
        if self.routed.len() > 1 {
            self.routed.sort_by_key(|(session, _)| session.id);
        }
        let mut routed = std::mem::take(&mut self.routed);
        let mut batch = std::mem::take(&mut self.batch);
        let mut deliveries = routed.drain(..).peekable();
        while let Some((session, delivery)) = deliveries.next() {
            batch.push(delivery);
            while let Some((_, more)) = deliveries.next_if(|(next, _)| next.id == session.id) {
                batch.push(more);
            }
            session.offer_all(&mut batch, max_queued, counters, journal, self);
        }
        drop(deliveries);
        self.routed = routed;
        self.batch = batch;
    }

    /// Wakes every connection noted since the last call, each once.
    pub fn wake_all(&mut self) {
        debug_assert!(self.routed.is_empty(), "routed deliveries not offered");
        self.dedup();
        for connection in self.pending.drain(..) {
            connection.wake();
        }
    }

    /// Like [`wake_all`](Self::wake_all), but when only a few connections wait, writes their
    /// deliveries on this thread where their own is idle in poll(2) (see
    /// [`super::control::Outlet`]). Beyond a few, waking keeps the writing spread over their
    /// threads, which is what carries fan-out throughput.
    pub fn deliver_or_wake_all(&mut self) {
        debug_assert!(self.routed.is_empty(), "routed deliveries not offered");
        const DIRECT_AT_MOST: usize = 4;
        self.dedup();
        if self.pending.len() > DIRECT_AT_MOST {
            return self.wake_all();
        }
        for connection in self.pending.drain(..) {
            if !connection.deliver_directly() {
                connection.wake();
            }
        }
    }

    fn dedup(&mut self) {
        if self.pending.len() > 1 {
            self.pending
                .sort_unstable_by_key(|c| Arc::as_ptr(c) as usize);
            self.pending.dedup_by(|a, b| Arc::ptr_eq(a, b));
        }
    }
}

/// Whether a session in `state` takes one more delivery at `qos` (`room`: its queue is below
/// `max_queued_messages`): not once it ended, nor when full, nor QoS 0 while its client is away.
fn takes(state: &SessionState, room: bool, qos: QoS) -> bool {
    !state.ended && room && !(state.attached.is_none() && qos == QoS::AtMostOnce)
}

impl Session {
    /// Asks the CPU to bring the session's lock and queue into cache ahead of an
    /// [`Session::offer`]: fanning a message out to many sessions touches each one's state
    /// once, and with a thread per connection sharing the CPU those lines are rarely still
    /// cached, so overlapping the misses of the next sessions with this one's work pays.
    #[inline]
    pub fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: a prefetch is only a hint, it never faults or changes memory; SSE is part
            // of every x86_64 CPU.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(&self.state).cast::<i8>()) };
        }
    }

    pub fn new(id: u64, client_id: Arc<str>, expiry_interval: u32) -> Session {
        Session {
            id,
            client_id,
            connected: AtomicBool::new(false),
            state: Mutex::new(SessionState {
                queue: VecDeque::new(),
                attached: None,
                flows: Some(Box::default()),
                subscriptions: HashMap::new(),
                ended: false,
                detached_at: Instant::now(),
                expiry_interval,
                delayed_will: None,
                journaled: false,
                deferring: false,
            }),
            detached: Condvar::new(),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock()
    }

    /// Records which connection serves the session now (`None`: none), in `state` (this
    /// session's, locked by the caller).
    pub fn set_attached(&self, state: &mut SessionState, control: Option<Arc<ConnectionControl>>) {
        self.connected.store(control.is_some(), Ordering::Release);
        state.attached = control;
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Blocks until no connection is attached (or the session has ended).
    pub fn wait_detached(&self, guard: &mut MutexGuard<'_, SessionState>) {
        while guard.attached.is_some() && !guard.ended {
            self.detached.wait(guard);
        }
    }

    pub fn notify_detached(&self) {
        self.detached.notify_all();
    }

    /// Queues a delivery. QoS 0 messages for an absent client are not kept (section 3.1.2.4 makes
    /// storing them optional); anything beyond `max_queued` is dropped, so a subscriber that does
    /// not read costs bounded memory and never slows the publisher. The connection is noted in
    /// `wakeups` only when the queue goes from empty to non-empty: one wake-up per batch, not per
    /// message.
    ///
    /// A QoS 1 or 2 delivery to a journaled session is recorded in `journal` under the session's
    /// lock, so its record precedes whatever the serving connection later records about it;
    /// unless that connection is [`deferring`](SessionState::deferring).
    pub fn offer(
        &self,
        mut delivery: Delivery,
        max_queued: usize,
        counters: &Counters,
        journal: Option<&Journal>,
        wakeups: &mut Wakeups,
    ) {
        let mut state = self.state.lock();
        if !takes(&state, state.queue.len() < max_queued, delivery.qos) {
            drop(state);
            Counters::add(&counters.messages_dropped, 1);
            return;
        }
        if let Some(journal) = journal.filter(|_| state.journaled && !state.deferring)
            && let Some(queued) = self.numbered(&mut delivery, journal)
        {
            journal.record(queued);
        }
        let was_empty = state.queue.is_empty();
        state.queue.push_back(delivery);
        if was_empty && let Some(connection) = &state.attached {
            wakeups.add(Arc::clone(connection));
        }
    }

    /// Gives a QoS 1 or 2 `delivery` its number in the store and returns the record that
    /// queues it (none for QoS 0, which is not stored).
    fn numbered(&self, delivery: &mut Delivery, journal: &Journal) -> Option<Change> {
        (delivery.qos != QoS::AtMostOnce).then(|| journal.queued(&self.client_id, delivery, None))
    }

    /// [`offer`](Self::offer) for every delivery of `deliveries` (drained), in order, under one
    /// take of the session's lock, their Queued records appended to `journal` together, before
    /// any of them enters the queue.
    pub fn offer_all(
        &self,
        deliveries: &mut Vec<Delivery>,
        max_queued: usize,
        counters: &Counters,
        journal: Option<&Journal>,
        wakeups: &mut Wakeups,
    ) {
        let mut state = self.state.lock();
        let mut dropped = 0;
        let mut room = max_queued.saturating_sub(state.queue.len());
        let journal = journal.filter(|_| state.journaled && !state.deferring);
        let mut records = std::mem::take(&mut wakeups.records);
        deliveries.retain_mut(|delivery| {
            if !takes(&state, room > 0, delivery.qos) {
                dropped += 1;
                return false;
            }
            room -= 1;
            if let Some(journal) = journal
                && let Some(queued) = self.numbered(delivery, journal)
            {
                records.push(queued);
            }
            true
        });
        if let Some(journal) = journal {
            journal.record_all(&mut records);
        }
        wakeups.records = records;
        let was_empty = state.queue.is_empty();
        state.queue.extend(deliveries.drain(..));
        if was_empty
            && !state.queue.is_empty()
            && let Some(connection) = &state.attached
        {
            wakeups.add(Arc::clone(connection));
        }
        drop(state);
        if dropped > 0 {
            Counters::add(&counters.messages_dropped, dropped);
        }
    }

    /// Moves every queued delivery into `into`, which must be empty; swapping keeps both buffers'
    /// capacity, so steady traffic allocates nothing.
    pub fn take_queue(&self, into: &mut VecDeque<Delivery>) {
        debug_assert!(into.is_empty());
        let mut state = self.state.lock();
        std::mem::swap(&mut state.queue, into);
    }
}
