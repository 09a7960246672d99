//! Sessions by client id: attaching a connection (creating, resuming or taking over a session)
//! and detaching it (keeping or discarding the session), plus expiry of idle persistent sessions.

use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::control::ConnectionControl;
use super::flows::Flows;
use super::session::Session;
use super::state::State;
use super::stats::Counters;
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
    fn create_session(&self, client_id: Arc<str>, clean: bool) -> Arc<Session> {
        Counters::add(&self.counters.sessions, 1);
        Arc::new(Session::new(self.next_session_id(), client_id, clean))
    }

    fn attach_to(session: Arc<Session>, control: &Arc<ConnectionControl>) -> Attached {
        let flows = {
            let mut state = session.lock();
            state.attached = Some(Arc::clone(control));
            state.flows.take().unwrap_or_default()
        };
        Attached {
            session,
            flows,
            session_present: false,
        }
    }

    /// Attaches a connection to the session of `client_id`.
    ///
    /// - No session: a new one ([MQTT-3.1.2-4] for clean session 0).
    /// - A connection is serving it: that connection is told to close (publishing its will) and
    ///   this call waits until it has detached ([MQTT-3.1.4-2]).
    /// - Clean session 1 now or before: the old session's state is discarded and a new one begins
    ///   ([MQTT-3.1.2-6]).
    /// - Otherwise the session resumes with its subscriptions, queue and flows ([MQTT-3.1.2-4]).
    pub fn attach(
        &self,
        client_id: &str,
        clean: bool,
        control: &Arc<ConnectionControl>,
    ) -> Attached {
        loop {
            let existing = {
                let mut sessions = self.sessions.lock();
                match sessions.get(client_id) {
                    Some(session) => Arc::clone(session),
                    None => {
                        let key: Arc<str> = Arc::from(client_id);
                        let session = self.create_session(Arc::clone(&key), clean);
                        sessions.insert(key, Arc::clone(&session));
                        drop(sessions);
                        return Self::attach_to(session, control);
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
            if clean || existing.clean {
                state.ended = true;
                let subscriptions = mem::take(&mut state.subscriptions);
                let dropped = state.queue.len() as u64;
                state.queue.clear();
                drop(state);
                Counters::add(&self.counters.messages_dropped, dropped);
                self.remove_subscriptions(&existing, subscriptions.into_keys());
                let session = self.create_session(Arc::clone(&existing.client_id), clean);
                Counters::sub(&self.counters.sessions, 1);
                self.sessions
                    .lock()
                    .insert(Arc::clone(&existing.client_id), Arc::clone(&session));
                return Self::attach_to(session, control);
            }
            state.attached = Some(Arc::clone(control));
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
        clean: bool,
        control: &Arc<ConnectionControl>,
    ) -> Option<Attached> {
        let mut sessions = self.sessions.lock();
        if sessions.contains_key(client_id) {
            return None;
        }
        let key: Arc<str> = Arc::from(client_id);
        let session = self.create_session(Arc::clone(&key), clean);
        sessions.insert(key, Arc::clone(&session));
        drop(sessions);
        Some(Self::attach_to(session, control))
    }

    /// Detaches the calling connection. A clean session ends here ([MQTT-3.1.2-6]); a persistent
    /// one keeps its flows and goes on queueing QoS 1 and 2 messages ([MQTT-3.1.2-5]).
    pub fn detach(&self, session: &Arc<Session>, mut flows: Box<Flows>) {
        let mut dropped = flows.drop_pending_qos0();
        let mut state = session.lock();
        state.attached = None;
        if session.clean || state.ended {
            let already_ended = mem::replace(&mut state.ended, true);
            let subscriptions = mem::take(&mut state.subscriptions);
            dropped += state.queue.len() as u64 + flows.pending.len() as u64;
            state.queue.clear();
            drop(state);
            session.notify_detached();
            self.remove_subscriptions(session, subscriptions.into_keys());
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

    /// Adds or replaces a subscription of `session`.
    pub fn subscribe(&self, session: &Arc<Session>, filter: TopicFilter, qos: QoS) {
        session.lock().subscriptions.insert(filter.clone(), qos);
        self.subscriptions.write().subscribe(&filter, session, qos);
    }

    /// Removes a subscription of `session`, if it has one to exactly `filter` ([MQTT-3.10.4-1]).
    pub fn unsubscribe(&self, session: &Arc<Session>, filter: &str) {
        if let Ok(filter) = TopicFilter::new(filter) {
            session.lock().subscriptions.remove(&filter);
        }
        self.subscriptions.write().unsubscribe(filter, session.id);
    }

    /// Discards persistent sessions whose client has been away for longer than `expiry`.
    pub fn expire_sessions(&self, expiry: Duration) {
        let now = Instant::now();
        let mut expired = Vec::new();
        self.sessions.lock().retain(|_, session| {
            let mut state = session.lock();
            let idle = state.attached.is_none()
                && !state.ended
                && now.saturating_duration_since(state.detached_at) >= expiry;
            if idle {
                state.ended = true;
                let filters = mem::take(&mut state.subscriptions);
                let queued = state.queue.len() as u64;
                state.queue.clear();
                expired.push((Arc::clone(session), filters, queued));
            }
            !idle
        });
        for (session, filters, queued) in expired {
            Counters::add(&self.counters.messages_dropped, queued);
            Counters::sub(&self.counters.sessions, 1);
            self.remove_subscriptions(&session, filters.into_keys());
        }
    }
}
