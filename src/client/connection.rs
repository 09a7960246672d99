//! The state one connection shares between the application's threads, the loop thread and
//! callbacks, and the single-reader discipline that lets every one of them wait for replies.
//!
//! Only one thread reads the socket at a time (the *reader role*). A thread that needs a reply
//! (SUBACK, PUBACK, PINGRESP, a message for `receive_message`, ...) checks whether it has arrived;
//! if not, it either takes the reader role and reads — handling and dispatching whatever comes —
//! or, when another thread holds the role, sleeps on a condition variable that the reader signals
//! after every packet. The thread holding the role may take it again re-entrantly: a callback
//! that publishes at QoS 1 reads the PUBACK itself. No lock is held while a callback runs.
//!
//! While the loop thread runs, only it reads, so every callback runs on the loop thread.
//! Messages that arrive while a callback's own nested call waits for a reply are queued and
//! dispatched, in order, right after that callback returns, so callbacks never nest inside each
//! other (except under `receive_message` called from a callback, which dispatches by design).

use std::collections::VecDeque;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::protocol::{Connack, Packet, Publish, QosPid};

use super::error::{ClientError, CloseReason};
use super::inbound::Inbound;
use super::outbound::{Outbound, SendError};
use super::session::{AckOutcome, Session};
use super::subscriptions::{Message, MessageCallback, Subscriptions};
use super::transport::{self, Readiness, Waker};

/// Everything guarded by the state lock.
pub(crate) struct State {
    pub(crate) session: Session,
    closed: Option<CloseReason>,
    reader: Option<ThreadId>,
    reader_depth: u32,
    /// A callback is running on the reader thread.
    dispatching: bool,
    /// Messages that arrived during a nested call inside a callback, with the callback chosen
    /// on arrival (so an unsubscribe later in that callback does not lose them).
    pending_dispatch: VecDeque<(Publish, Option<MessageCallback>)>,
    /// PUBLISH packets processed so far (dispatched, or dropped for want of a matching filter).
    pub(crate) messages_processed: u64,
    pub(crate) loop_thread: Option<ThreadId>,
}

impl State {
    pub(crate) fn closed(&self) -> Option<&CloseReason> {
        self.closed.as_ref()
    }
}

/// Whether a read step may run a callback while another callback is running on this thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nesting {
    /// Queue messages until the running callback returns (waits for acknowledgements).
    Queue,
    /// Dispatch right away (`receive_message`, whose purpose is dispatching).
    Dispatch,
}

pub(crate) struct Shared {
    stream: TcpStream,
    waker: Waker,
    outbound: Outbound,
    inbound: Mutex<Inbound>,
    state: Mutex<State>,
    /// Mirrors `!state.pending_dispatch.is_empty()` (updated under the lock) so the per-packet
    /// path skips the lock when nothing is queued, which is nearly always.
    dispatch_queued: AtomicBool,
    changed: Condvar,
    pub(crate) subscriptions: Mutex<Subscriptions>,
    keep_alive: Option<Duration>,
    pub(crate) operation_timeout: Duration,
}

/// Releases the reader role, also when a callback panics.
struct ReaderRole<'a>(&'a Shared);

impl Drop for ReaderRole<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock();
        st.reader_depth -= 1;
        if st.reader_depth == 0 {
            st.reader = None;
        }
        drop(st);
        self.0.changed.notify_all();
    }
}

/// Restores the dispatching flag when a callback panics (normal exits restore it themselves,
/// under a lock they take anyway).
struct DispatchingFlag<'a> {
    shared: &'a Shared,
    previous: bool,
    armed: bool,
}

impl Drop for DispatchingFlag<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.state.lock().dispatching = self.previous;
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl Shared {
    pub(crate) fn new(
        stream: TcpStream,
        keep_alive: Duration,
        operation_timeout: Duration,
        max_inflight: usize,
        max_packet_size: usize,
    ) -> Result<Shared, ClientError> {
        stream
            .set_write_timeout(Some(operation_timeout))
            .map_err(ClientError::Io)?;
        Ok(Shared {
            stream,
            waker: Waker::new().map_err(ClientError::Io)?,
            outbound: Outbound::new(),
            inbound: Mutex::new(Inbound::new(max_packet_size)),
            state: Mutex::new(State {
                session: Session::new(max_inflight),
                closed: None,
                reader: None,
                reader_depth: 0,
                dispatching: false,
                pending_dispatch: VecDeque::new(),
                messages_processed: 0,
                loop_thread: None,
            }),
            dispatch_queued: AtomicBool::new(false),
            changed: Condvar::new(),
            subscriptions: Mutex::new(Subscriptions::default()),
            keep_alive: (!keep_alive.is_zero()).then_some(keep_alive),
            operation_timeout,
        })
    }

    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    pub(crate) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Interrupts whichever thread is blocked reading, so it re-checks what it waits for.
    pub(crate) fn wake_reader(&self) {
        self.waker.wake();
    }

    /// Records why the connection ends (the first reason wins) and wakes every waiter; the
    /// socket stays usable for a last packet.
    pub(crate) fn mark_closed(&self, reason: CloseReason) {
        self.state.lock().closed.get_or_insert(reason);
        self.changed.notify_all();
    }

    /// Marks the connection closed (the first reason wins), ends the socket and wakes everyone.
    pub(crate) fn close(&self, reason: CloseReason) {
        self.state.lock().closed.get_or_insert(reason);
        transport::shut_down(&self.stream);
        self.changed.notify_all();
        self.waker.wake();
    }

    pub(crate) fn closed_error(&self) -> Option<ClientError> {
        self.state
            .lock()
            .closed
            .as_ref()
            .map(|r| ClientError::Closed(r.clone()))
    }

    /// Queues bytes for the socket (see [`Outbound::send`]); a failed write closes the connection.
    pub(crate) fn send_with(
        &self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), crate::protocol::EncodeError>,
    ) -> Result<(), ClientError> {
        match self.outbound.send(&self.stream, encode) {
            Ok(()) => Ok(()),
            Err(SendError::Encode(e)) => Err(ClientError::Encode(e)),
            Err(SendError::Io(e)) => {
                self.close(CloseReason::Io(e.to_string()));
                Err(self
                    .closed_error()
                    .unwrap_or(ClientError::Closed(CloseReason::ClosedByPeer)))
            }
        }
    }

    pub(crate) fn send_packet(&self, packet: &Packet) -> Result<(), ClientError> {
        self.send_with(|buf| packet.encode(buf))
    }

    /// Reads until the first packet, which must be CONNACK ([MQTT-3.2.0-1]), or `deadline`.
    pub(crate) fn read_connack(&self, deadline: Instant) -> Result<Connack, ClientError> {
        let mut inbound = self.inbound.lock();
        loop {
            match inbound.next_packet() {
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
                Ok(Some(Packet::Connack(c))) => return Ok(c),
                Ok(Some(other)) => {
                    return Err(ClientError::Protocol(format!(
                        "expected CONNACK, got {:?} [MQTT-3.2.0-1]",
                        other.packet_type()
                    )));
                }
                Ok(None) => {}
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout);
            }
            match transport::wait_readable(self.stream.as_raw_fd(), &self.waker, Some(deadline)) {
                Err(e) => return Err(ClientError::Io(e)),
                Ok(Readiness::Interrupted) => {}
                Ok(Readiness::Readable) => match inbound.fill(&self.stream) {
                    Ok(0) => return Err(ClientError::Closed(CloseReason::ClosedByPeer)),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(ClientError::Io(e)),
                },
            }
        }
    }

    /// Waits until `ready` yields a value, reading the socket itself whenever no other thread
    /// is (see the module documentation). `None` deadline waits for ever. A reply that arrived
    /// counts even if the connection closed afterwards.
    pub(crate) fn wait_for<T>(
        &self,
        deadline: Option<Instant>,
        nesting: Nesting,
        mut ready: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<T, ClientError> {
        let me = thread::current().id();
        let mut st = self.state.lock();
        // The first turn always gets to look (a zero timeout still handles what is buffered),
        // which also saves a clock read per call on the hot path.
        let mut first_turn = true;
        loop {
            if let Some(v) = ready(&mut st) {
                return Ok(v);
            }
            if let Some(reason) = &st.closed {
                return Err(ClientError::Closed(reason.clone()));
            }
            if !first_turn && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(ClientError::Timeout);
            }
            first_turn = false;
            let may_read = match st.reader {
                Some(owner) => owner == me,
                None => st.loop_thread.is_none_or(|t| t == me),
            };
            if may_read {
                st.reader = Some(me);
                st.reader_depth += 1;
                MutexGuard::unlocked(&mut st, || {
                    let _role = ReaderRole(self);
                    self.read_step(deadline, nesting);
                });
            } else {
                match deadline {
                    Some(d) => {
                        self.changed.wait_until(&mut st, d);
                    }
                    None => self.changed.wait(&mut st),
                }
            }
        }
    }

    /// One turn of the loop thread: take the reader role when free, read or dispatch one step.
    /// False once the connection is closed or `stop` returns true.
    pub(crate) fn serve_once(&self, stop: &dyn Fn() -> bool) -> bool {
        let me = thread::current().id();
        let mut st = self.state.lock();
        loop {
            if st.closed.is_some() || stop() {
                return false;
            }
            match st.reader {
                Some(owner) if owner != me => {
                    self.changed.wait_for(&mut st, Duration::from_millis(100));
                }
                _ => break,
            }
        }
        st.reader = Some(me);
        st.reader_depth += 1;
        drop(st);
        let _role = ReaderRole(self);
        self.read_step(None, Nesting::Queue);
        true
    }

    /// Handles one buffered packet or queued message, or else waits (until `deadline`, the next
    /// keep-alive duty, or a wake-up) for bytes and reads them. Failures close the connection.
    fn read_step(&self, deadline: Option<Instant>, nesting: Nesting) {
        if self.dispatch_queued.load(Ordering::Acquire) {
            let mut st = self.state.lock();
            if (!st.dispatching || nesting == Nesting::Dispatch)
                && let Some((publish, callback)) = self.pop_queued(&mut st)
            {
                let previous = std::mem::replace(&mut st.dispatching, true);
                drop(st);
                self.dispatch(publish, callback, previous);
                return;
            }
        }
        let next = self.inbound.lock().next_packet();
        match next {
            Err(e) => return self.close(e.into()),
            Ok(Some(packet)) => return self.handle(packet, nesting),
            Ok(None) => {}
        }
        let keep_alive_due = match self.keep_alive_duty() {
            Ok(due) => due,
            Err(reason) => return self.close(reason),
        };
        let until = earliest(deadline, keep_alive_due);
        match transport::wait_readable(self.stream.as_raw_fd(), &self.waker, until) {
            Err(e) => self.close(CloseReason::Io(e.to_string())),
            Ok(Readiness::Interrupted) => {}
            Ok(Readiness::Readable) => {
                let filled = self.inbound.lock().fill(&self.stream);
                match filled {
                    Ok(0) => self.close(CloseReason::ClosedByPeer),
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                        ) => {}
                    Err(e) => self.close(CloseReason::Io(e.to_string())),
                }
            }
        }
    }

    /// Sends PINGREQ when nothing was sent for a keep-alive period ([MQTT-3.1.2-23]); fails when
    /// a PINGREQ went unanswered for a whole period. Returns when the next duty falls due.
    fn keep_alive_duty(&self) -> Result<Option<Instant>, CloseReason> {
        let Some(period) = self.keep_alive else {
            return Ok(None);
        };
        let now = Instant::now();
        if let Some(since) = self.state.lock().session.ping_outstanding_since {
            return if now >= since + period {
                Err(CloseReason::KeepAliveTimeout)
            } else {
                Ok(Some(since + period))
            };
        }
        let ping_due = self.outbound.last_write() + period;
        if now < ping_due {
            return Ok(Some(ping_due));
        }
        self.start_ping();
        self.send_packet(&Packet::Pingreq)
            .map_err(|_| CloseReason::Io("PINGREQ could not be sent".into()))?;
        Ok(Some(now + period))
    }

    /// Counts a PINGREQ about to be sent and returns its number; its PINGRESP is the response
    /// with the same number, as the server answers in order.
    pub(crate) fn start_ping(&self) -> u64 {
        let mut st = self.state.lock();
        st.session.pings_sent += 1;
        st.session
            .ping_outstanding_since
            .get_or_insert_with(Instant::now);
        st.session.pings_sent
    }

    fn handle(&self, packet: Packet, nesting: Nesting) {
        let outcome = match packet {
            Packet::Publish(p) => return self.on_publish(p, nesting),
            Packet::Puback(id) => self.state.lock().session.on_puback(id),
            Packet::Pubrec(id) => self.state.lock().session.on_pubrec(id),
            Packet::Pubcomp(id) => self.state.lock().session.on_pubcomp(id),
            Packet::Suback(s) => self.state.lock().session.on_suback(s.packet_id, s.codes),
            Packet::Unsuback(id) => self.state.lock().session.on_unsuback(id),
            Packet::Pubrel(id) => {
                // [MQTT-4.3.3-2]: release the identifier, then answer PUBCOMP even if unknown.
                self.state.lock().session.release_qos2(id);
                let _ = self.send_packet(&Packet::Pubcomp(id));
                return;
            }
            Packet::Pingresp => {
                let mut st = self.state.lock();
                let s = &mut st.session;
                s.pingresps_received += 1;
                if s.pingresps_received >= s.pings_sent {
                    s.ping_outstanding_since = None;
                }
                AckOutcome::Done
            }
            other => {
                return self.close(CloseReason::ProtocolViolation(format!(
                    "a server must not send {:?}",
                    other.packet_type()
                )));
            }
        };
        match outcome {
            AckOutcome::Done => {
                self.changed.notify_all();
            }
            AckOutcome::SendPubrel(id) => {
                let _ = self.send_packet(&Packet::Pubrel(id));
            }
            AckOutcome::Unexpected => {}
        }
    }

    fn on_publish(&self, publish: Publish, nesting: Nesting) {
        let callback = self.callback_for(&publish);
        let mut st = self.state.lock();
        if let QosPid::ExactlyOnce(id) = publish.qospid
            && !st.session.receive_qos2(id)
        {
            drop(st);
            let _ = self.send_packet(&Packet::Pubrec(id));
            return;
        }
        if st.dispatching && nesting == Nesting::Queue {
            st.pending_dispatch.push_back((publish, callback));
            self.dispatch_queued.store(true, Ordering::Release);
            return;
        }
        let previous = std::mem::replace(&mut st.dispatching, true);
        drop(st);
        self.dispatch(publish, callback, previous);
    }

    /// The callback chosen for a message on arrival.
    fn callback_for(&self, publish: &Publish) -> Option<MessageCallback> {
        self.subscriptions.lock().best_match(publish.topic.as_str())
    }

    fn pop_queued(&self, st: &mut State) -> Option<(Publish, Option<MessageCallback>)> {
        let next = st.pending_dispatch.pop_front();
        self.dispatch_queued
            .store(!st.pending_dispatch.is_empty(), Ordering::Release);
        next
    }

    /// Delivers `publish`, then — unless nested under another callback (`previous` set) —
    /// everything queued meanwhile, and finally restores the dispatching flag to `previous`.
    fn dispatch(&self, publish: Publish, callback: Option<MessageCallback>, previous: bool) {
        let mut flag = DispatchingFlag {
            shared: self,
            previous,
            armed: true,
        };
        let mut next = Some((publish, callback));
        while let Some((publish, callback)) = next {
            self.deliver(&publish, callback);
            let mut st = self.state.lock();
            st.messages_processed += 1;
            next = if previous {
                None
            } else {
                self.pop_queued(&mut st)
            };
            if next.is_none() {
                st.dispatching = previous;
                flag.armed = false;
            }
            drop(st);
            self.changed.notify_all();
        }
    }

    /// Runs the callback chosen on arrival, then acknowledges: PUBACK for QoS 1, PUBREC for
    /// QoS 2 ([MQTT-4.3.2-2], [MQTT-4.3.3-2]).
    fn deliver(&self, publish: &Publish, callback: Option<MessageCallback>) {
        if let Some(callback) = callback {
            callback(&Message {
                topic: publish.topic.as_str(),
                payload: &publish.payload,
                qos: publish.qospid.qos(),
                retain: publish.retain,
                dup: publish.dup,
            });
        }
        match publish.qospid {
            QosPid::AtMostOnce => {}
            QosPid::AtLeastOnce(id) => {
                let _ = self.send_packet(&Packet::Puback(id));
            }
            QosPid::ExactlyOnce(id) => {
                let _ = self.send_packet(&Packet::Pubrec(id));
            }
        }
    }
}

/// The loop thread's body.
pub(crate) fn run_loop(shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let is_stopped = || stop.load(Ordering::Acquire);
    while shared.serve_once(&is_stopped) {}
    let me = thread::current().id();
    let mut st = shared.state.lock();
    if st.loop_thread == Some(me) {
        st.loop_thread = None;
    }
    drop(st);
    shared.changed.notify_all();
}
