//! Sessions by client id: attaching a connection (creating, resuming or taking over a session)
//! and detaching it (keeping or discarding the session), plus expiry of idle persistent sessions.

use std::collections::VecDeque;
use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::control::ConnectionControl;
use super::flows::Flows;
use super::message::Delivery;
use super::recovery::session_record;
use super::router::{Publication, RouteScratch};
use super::session::{NEVER_EXPIRES, Session, SessionState, Wakeups};
use super::state::State;
use super::stats::Counters;
use super::store::Change;
use super::subscriptions::Grant;
use crate::protocol::QoS;
use crate::topic::TopicFilter;

/// A session now served by the calling connection, with the QoS flows it owns until it detaches.
pub(crate) struct Attached {
    pub session: Arc<Session>,
    pub flows: Box<Flows>,
    /// The CONNACK session-present flag: set only when a persistent session is resumed
    /// ([MQTT-3.2.2-1], [MQTT-3.2.2-2], [MQTT-3.2.2-3]).
    pub session_present: bool,
}

impl State {
    fn create_session(&self, client_id: Arc<str>, expiry_interval: u32) -> Arc<Session> {
        Counters::add(&self.counters.sessions, 1);
        Arc::new(Session::new(
            self.next_session_id(),
            client_id,
            expiry_interval,
        ))
    }

    fn attach_to(&self, session: Arc<Session>, control: &Arc<ConnectionControl>) -> Attached {
        let flows = {
            let mut state = session.lock();
            session.set_attached(&mut state, Some(Arc::clone(control)));
            self.journal_session(&session, &mut state);
            state.flows.take().unwrap_or_default()
        };
        Attached {
            session,
            flows,
            session_present: false,
        }
    }

    /// Attaches a connection to the session of `client_id`; the session will outlive the
    /// connection by `expiry_interval` seconds (0: it ends with it).
    ///
    /// - No session: a new one ([MQTT-3.1.2-4] for clean session 0).
    /// - A connection is serving it: that connection is told to close (publishing its will) and
    ///   this call waits until it has detached ([MQTT-3.1.4-2]).
    /// - `clean_start` (clean session 1), or an old session that was to end with its connection:
    ///   the old session's state is discarded and a new one begins ([MQTT-3.1.2-6]).
    /// - Otherwise the session resumes with its subscriptions, queue and flows ([MQTT-3.1.2-4]).
    pub fn attach(
        &self,
        client_id: &str,
        clean_start: bool,
        expiry_interval: u32,
        control: &Arc<ConnectionControl>,
    ) -> Attached {
        loop {
            let existing = {
                let mut sessions = self.sessions.lock();
                match sessions.get(client_id) {
                    Some(session) => Arc::clone(session),
                    None => {
                        let key: Arc<str> = Arc::from(client_id);
                        let session = self.create_session(Arc::clone(&key), expiry_interval);
                        sessions.insert(key, Arc::clone(&session));
                        drop(sessions);
                        return self.attach_to(session, control);
                    }
                }
            };
            let mut state = existing.lock();
            if let Some(old) = state.attached.clone() {
                old.take_over();
                existing.wait_detached(&mut state);
            }
            if state.ended {
                // A clean session being torn down by its own connection; it leaves the registry
                // in a moment.
                drop(state);
                std::thread::yield_now();
                continue;
            }
            if clean_start || state.expiry_interval == 0 {
                state.ended = true;
                self.journal_end(&existing, &mut state);
                // The old session ends here, and with it the wait of its will (MQTT 5.0
                // [MQTT-3.1.2-8]).
                let will = state.delayed_will.take().map(|(_, will)| will);
                let subscriptions = mem::take(&mut state.subscriptions);
                let mut flows = state.flows.take();
                let leftovers = shared_leftovers(&mut state.queue, flows.as_deref_mut());
                let dropped = state.queue.len() as u64;
                state.queue.clear();
                drop(state);
                Counters::add(&self.counters.messages_dropped, dropped);
                self.remove_subscriptions(&existing, subscriptions.into_keys());
                self.hand_over(leftovers);
                self.publish_wills(will);
                let session = self.create_session(Arc::clone(&existing.client_id), expiry_interval);
                Counters::sub(&self.counters.sessions, 1);
                self.sessions
                    .lock()
                    .insert(Arc::clone(&existing.client_id), Arc::clone(&session));
                return self.attach_to(session, control);
            }
            existing.set_attached(&mut state, Some(Arc::clone(control)));
            state.expiry_interval = expiry_interval;
            // MQTT 5.0 [MQTT-3.1.3-9]: the client is back before its will was due.
            state.delayed_will = None;
            self.journal_session(&existing, &mut state);
            let flows = state.flows.take().unwrap_or_default();
            drop(state);
            return Attached {
                session: existing,
                flows,
                session_present: true,
            };
        }
    }

    /// Attaches a connection to a new session for `client_id` if none exists; `None` if one does
    /// (resuming or taking it over may have to wait, which only a connection thread may do).
    pub fn attach_if_vacant(
        &self,
        client_id: &str,
        expiry_interval: u32,
        control: &Arc<ConnectionControl>,
    ) -> Option<Attached> {
        let mut sessions = self.sessions.lock();
        if sessions.contains_key(client_id) {
            return None;
        }
        let key: Arc<str> = Arc::from(client_id);
        let session = self.create_session(Arc::clone(&key), expiry_interval);
        sessions.insert(key, Arc::clone(&session));
        drop(sessions);
        Some(self.attach_to(session, control))
    }

    /// Detaches the calling connection. A session with expiry interval 0 (clean session) ends
    /// here ([MQTT-3.1.2-6]); any other keeps its flows and goes on queueing QoS 1 and 2
    /// messages ([MQTT-3.1.2-5]) until it expires.
    pub fn detach(&self, session: &Arc<Session>, mut flows: Box<Flows>) {
        let mut dropped = flows.drop_pending_qos0();
        let mut state = session.lock();
        session.set_attached(&mut state, None);
        let deferred = mem::take(&mut state.deferring);
        if state.expiry_interval == 0 || state.ended {
            let will = state.delayed_will.take().map(|(_, will)| will);
            let already_ended = mem::replace(&mut state.ended, true);
            self.journal_end(session, &mut state);
            let subscriptions = mem::take(&mut state.subscriptions);
            let leftovers = shared_leftovers(&mut state.queue, Some(&mut flows));
            dropped += state.queue.len() as u64 + flows.pending.len() as u64;
            state.queue.clear();
            drop(state);
            session.notify_detached();
            self.remove_subscriptions(session, subscriptions.into_keys());
            self.hand_over(leftovers);
            self.publish_wills(will);
            if !already_ended {
                let mut sessions = self.sessions.lock();
                if sessions
                    .get(&session.client_id)
                    .is_some_and(|s| Arc::ptr_eq(s, session))
                {
                    sessions.remove(&session.client_id);
                }
                drop(sessions);
                Counters::sub(&self.counters.sessions, 1);
            }
        } else {
            let before = state.queue.len();
            state.queue.retain(|d| d.qos != QoS::AtMostOnce);
            dropped += (before - state.queue.len()) as u64;
            state.flows = Some(flows);
            state.detached_at = Instant::now();
            self.journal_session(session, &mut state);
            if deferred {
                self.record_deferred(session, &mut state);
            }
            drop(state);
            session.notify_detached();
        }
        Counters::add(&self.counters.messages_dropped, dropped);
    }

    pub fn remove_subscriptions(
        &self,
        session: &Session,
        filters: impl IntoIterator<Item = TopicFilter>,
    ) {
        let mut tree = self.subscriptions.write();
        for filter in filters {
            tree.unsubscribe(filter.as_str(), session.id);
        }
    }

    /// Adds or replaces a subscription of `session`. Returns whether it is new (the filter was
    /// not subscribed before), for Retain Handling 1.
    pub fn subscribe(&self, session: &Arc<Session>, filter: TopicFilter, grant: Grant) -> bool {
        let new = {
            let mut state = session.lock();
            let new = state.subscriptions.insert(filter.clone(), grant).is_none();
            self.journal_session(session, &mut state);
            new
        };
        self.subscriptions
            .write()
            .subscribe(&filter, session, grant);
        new
    }

    /// Removes a subscription of `session`, if it has one to exactly `filter` ([MQTT-3.10.4-1]).
    /// Returns whether it had one.
    pub fn unsubscribe(&self, session: &Arc<Session>, filter: &str) -> bool {
        if let Ok(filter) = TopicFilter::new(filter) {
            let mut state = session.lock();
            if state.subscriptions.remove(&filter).is_some() {
                self.journal_session(session, &mut state);
            }
        }
        self.subscriptions.write().unsubscribe(filter, session.id)
    }

    /// Discards sessions whose client has been away for longer than their expiry interval
    /// (MQTT 5.0 section 3.1.2.11.2), or than `cap` (the broker's maximum) if shorter, and
    /// publishes delayed wills that are due or whose session ends (MQTT 5.0 [MQTT-3.1.2-8]).
    pub fn expire_sessions(&self, cap: Option<Duration>) {
        let now = Instant::now();
        let mut expired = Vec::new();
        let mut wills = Vec::new();
        self.sessions.lock().retain(|_, session| {
            let mut state = session.lock();
            if state.attached.is_some() || state.ended {
                return true;
            }
            let interval = match state.expiry_interval {
                NEVER_EXPIRES => None,
                seconds => Some(Duration::from_secs(u64::from(seconds))),
            };
            let expiry = match (interval, cap) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let idle =
                expiry.is_some_and(|e| now.saturating_duration_since(state.detached_at) >= e);
            let will_due = state
                .delayed_will
                .as_ref()
                .is_some_and(|(due, _)| *due <= now);
            if idle || will_due {
                wills.extend(state.delayed_will.take().map(|(_, will)| will));
            }
            if will_due && !idle {
                self.journal_session(session, &mut state);
            }
            if idle {
                state.ended = true;
                self.journal_end(session, &mut state);
                let filters = mem::take(&mut state.subscriptions);
                let mut flows = state.flows.take();
                let leftovers = shared_leftovers(&mut state.queue, flows.as_deref_mut());
                let queued = state.queue.len() as u64;
                state.queue.clear();
                expired.push((Arc::clone(session), filters, queued, leftovers));
            }
            !idle
        });
        for (session, filters, queued, leftovers) in expired {
            Counters::add(&self.counters.messages_dropped, queued);
            Counters::sub(&self.counters.sessions, 1);
            self.remove_subscriptions(&session, filters.into_keys());
            self.hand_over(leftovers);
        }
        self.publish_wills(wills);
    }

    /// Records `session` (its `state` locked by the caller) in the journal when it outlives its
    /// connection or was recorded before; from then on its QoS 1 and 2 deliveries are recorded
    /// too (see `Session::offer`).
    pub(crate) fn journal_session(&self, session: &Session, state: &mut SessionState) {
        let Some(journal) = &self.journal else {
            return;
        };
        if state.expiry_interval == 0 && !state.journaled {
            return;
        }
        journal.record(Change::Session {
            client_id: Arc::clone(&session.client_id),
            record: Box::new(session_record(state)),
        });
        state.journaled = true;
    }

    /// Records the deliveries the connection that served `session` deferred (see
    /// `Journal::defers_deliveries`), its flows back in `state` (the session's, locked by the
    /// caller): with no connection they are recorded as they are queued again.
    fn record_deferred(&self, session: &Session, state: &mut SessionState) {
        let (Some(journal), true) = (&self.journal, state.journaled) else {
            return;
        };
        let Some(flows) = state.flows.as_mut() else {
            return;
        };
        let mut records = Vec::new();
        flows.record_deferred(&session.client_id, journal, &mut state.queue, &mut records);
        journal.record_all_without_waiting(&mut records);
    }

    /// Records the end of `session` (its `state` locked by the caller), if it was recorded.
    fn journal_end(&self, session: &Session, state: &mut SessionState) {
        if mem::take(&mut state.journaled)
            && let Some(journal) = &self.journal
        {
            journal.record(Change::SessionEnded {
                client_id: Arc::clone(&session.client_id),
            });
        }
    }

    /// Gives the messages an ended session `leftovers` (see [`shared_leftovers`]) to another
    /// member of the share group each came through, at most at that member's granted QoS and
    /// with its Subscription Identifier; one whose group has no member left is dropped. Call
    /// once the ended session has left the subscription tree, with no lock held.
    fn hand_over(&self, leftovers: Vec<Delivery>) {
        if leftovers.is_empty() {
            return;
        }
        let mut wakeups = Wakeups::default();
        for delivery in leftovers {
            let qos = delivery.qos;
            let (message, _, Some(group)) = delivery.into_parts() else {
                continue;
            };
            let Some(member) = self.subscriptions.read().pick_member(&group) else {
                Counters::add(&self.counters.messages_dropped, 1);
                continue;
            };
            let grant = member.grant;
            let identifiers: Box<[u32]> = match grant.identifier {
                0 => Box::default(),
                id => Box::new([id]),
            };
            let retain = grant.retain_as_published && message.retain;
            let handed = Delivery::new(
                message,
                qos.min(grant.qos),
                retain,
                identifiers,
                Some(group),
            );
            member.session.offer(
                handed,
                self.options.max_queued_messages,
                &self.counters,
                self.journal.as_ref(),
                &mut wakeups,
            );
        }
        wakeups.wake_all();
    }

    /// Routes wills whose time has come, with no lock held.
    fn publish_wills(&self, wills: impl IntoIterator<Item = Publication>) {
        let mut scratch = RouteScratch::default();
        let mut wakeups = Wakeups::default();
        for will in wills {
            self.route(will, &mut scratch, &mut wakeups);
        }
        wakeups.wake_all();
    }
}

/// What a session that ends owes the other members of its share groups (MQTT 5.0 section 4.8.2),
/// taken out of its `queue` and `flows` in the order the client would have received them: QoS 1
/// messages sent and not acknowledged, which another member should get, and QoS 1 and 2 messages
/// not sent yet. A QoS 2 message whose PUBLISH went out stays with the ended session: it must
/// not reach another member ([MQTT-4.8.2-5]).
fn shared_leftovers(queue: &mut VecDeque<Delivery>, flows: Option<&mut Flows>) -> Vec<Delivery> {
    let handed = |d: &Delivery| d.shared().is_some() && d.qos != QoS::AtMostOnce;
    let mut leftovers = Vec::new();
    if let Some(flows) = flows {
        leftovers.extend(
            flows
                .outgoing
                .iter()
                .filter(|m| m.shared.is_some() && m.qos == QoS::AtLeastOnce)
                .map(|m| {
                    Delivery::new(
                        Arc::clone(&m.message),
                        m.qos,
                        m.retain,
                        Box::default(),
                        m.shared.clone(),
                    )
                }),
        );
        leftovers.extend(flows.pending.iter().filter(|d| handed(d)).cloned());
        flows.pending.retain(|d| !handed(d));
    }
    leftovers.extend(queue.iter().filter(|d| handed(d)).cloned());
    queue.retain(|d| !handed(d));
    leftovers
}
