//! In-process subscriptions: the host program receives messages from its own broker without a
//! loopback client (issue 18's `mqtt_broker_subscribe`).
//!
//! The host is one more session in the subscription tree, never listed among the clients' sessions
//! (no client can take it over, it never expires). Its deliveries are queued like a client's,
//! bounded by `max_queued_messages`, and one thread, started by the first subscription, hands
//! them to the callbacks, so a slow callback delays only the host's own messages, never routing.
//! There is no network, so the QoS a callback sees is min(publish QoS, subscription QoS) and every
//! queued message is delivered exactly once.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle, ThreadId};

use parking_lot::Mutex;

use super::control::ConnectionControl;
use super::session::{NEVER_EXPIRES, Session};
use super::state::State;
use super::subscriptions::Grant;
use crate::protocol::QoS;
use crate::topic::{TopicError, TopicFilter};
use crate::waker::Waker;

/// A message as a host callback sees it; borrowed for the duration of the call.
#[derive(Debug)]
pub struct HostMessage<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    /// min(publish QoS, subscription QoS).
    pub qos: QoS,
    /// Sent because it was retained when the subscription was made.
    pub retain: bool,
}

/// A host subscription's callback. Runs on the broker's host-subscriber thread.
pub type HostCallback = Arc<dyn Fn(&HostMessage<'_>) + Send + Sync>;

/// The host's session, its callbacks and the thread that runs them.
pub(crate) struct HostSubscriber {
    state: Arc<State>,
    session: Arc<Session>,
    callbacks: Arc<Mutex<Vec<(TopicFilter, HostCallback)>>>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

impl HostSubscriber {
    /// Starts the host-subscriber thread.
    pub(crate) fn start(state: Arc<State>) -> std::io::Result<HostSubscriber> {
        let waker = Arc::new(Waker::new()?);
        let session = Arc::new(Session::new(
            state.next_session_id(),
            Arc::from("$host"),
            NEVER_EXPIRES,
        ));
        let control = Arc::new(ConnectionControl::new());
        control.attach_thread(&waker, false);
        let mut guard = session.lock();
        session.set_attached(&mut guard, Some(control));
        drop(guard);
        let callbacks: Arc<Mutex<Vec<(TopicFilter, HostCallback)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            session: Arc::clone(&session),
            callbacks: Arc::clone(&callbacks),
            waker: Arc::clone(&waker),
            stop: Arc::clone(&stop),
        };
        let thread = thread::Builder::new()
            .name("mqtt-host-subscriber".into())
            .stack_size(256 * 1024)
            .spawn(move || worker.run())?;
        Ok(HostSubscriber {
            thread_id: thread.thread().id(),
            state,
            session,
            callbacks,
            waker,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Subscribes the host to `filter`, replacing the callback and QoS of an earlier subscription
    /// to the same filter, and queues the retained messages it matches ([MQTT-3.3.1-6]: retained
    /// messages go to a new subscription, with RETAIN set, [MQTT-3.3.1-8]).
    pub(crate) fn subscribe(
        &self,
        filter: &str,
        qos: QoS,
        callback: HostCallback,
    ) -> Result<(), TopicError> {
        let filter = TopicFilter::new(filter)?;
        {
            let mut callbacks = self.callbacks.lock();
            callbacks.retain(|(f, _)| f != &filter);
            callbacks.push((filter.clone(), callback));
        }
        let retained = self.state.retained_matching(filter.as_str());
        self.state
            .subscribe(&self.session, filter, Grant::from(qos));
        let mut wakeups = super::session::Wakeups::default();
        let max_queued = self.state.options.max_queued_messages;
        for r in retained {
            let delivery = r.delivery(qos, Box::default());
            self.session.offer(
                delivery,
                max_queued,
                &self.state.counters,
                None,
                &mut wakeups,
            );
        }
        wakeups.wake_all();
        Ok(())
    }

    /// Removes the host's subscription to exactly `filter`; returns whether there was one.
    /// Messages already queued for it are still delivered if another subscription matches.
    pub(crate) fn unsubscribe(&self, filter: &str) -> bool {
        let removed = {
            let mut callbacks = self.callbacks.lock();
            let before = callbacks.len();
            callbacks.retain(|(f, _)| f.as_str() != filter);
            callbacks.len() != before
        };
        self.state.unsubscribe(&self.session, filter);
        removed
    }

    /// Stops the thread once it has finished the callback it may be running. Called from that
    /// thread (a callback freeing the broker), it cannot wait for itself and lets it end alone.
    pub(crate) fn shut_down(&self) {
        self.stop.store(true, Ordering::Release);
        self.waker.wake();
        if let Some(thread) = self.thread.lock().take()
            && thread::current().id() != self.thread_id
        {
            let _ = thread.join();
        }
    }
}

struct Worker {
    session: Arc<Session>,
    callbacks: Arc<Mutex<Vec<(TopicFilter, HostCallback)>>>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(self) {
        let mut queue = VecDeque::new();
        let mut matching: Vec<HostCallback> = Vec::new();
        while !self.stop.load(Ordering::Acquire) {
            self.waker.wait(None);
            self.waker.reset();
            self.session.take_queue(&mut queue);
            for delivery in queue.drain(..) {
                if self.stop.load(Ordering::Acquire) {
                    return;
                }
                // Callbacks are called without the lock held, so one may subscribe, unsubscribe
                // or publish.
                matching.extend(
                    self.callbacks
                        .lock()
                        .iter()
                        .filter(|(filter, _)| filter.matches(&delivery.message.topic))
                        .map(|(_, callback)| Arc::clone(callback)),
                );
                let message = HostMessage {
                    topic: delivery.message.topic.as_str(),
                    payload: &delivery.message.payload,
                    qos: delivery.qos,
                    retain: delivery.retain,
                };
                for callback in matching.drain(..) {
                    // A panicking callback loses its message, not the thread.
                    let _ = catch_unwind(AssertUnwindSafe(|| callback(&message)));
                }
            }
        }
    }
}
