//! The broker's shared data: options, counters, the session registry, the subscription tree and
//! the retained store. This is the data layer: it knows nothing of sockets, threads or epoll, so
//! it is tested without a socket (see the tests at the end of this file). Connections reach it
//! through the methods of `registry` (attaching and detaching sessions, subscriptions) and
//! `router` (routing one message), which are `impl State` blocks.
//!
//! Lock order, outermost first: `sessions`, then one session's lock, then the subscription tree or
//! the retained store (each taken alone and briefly). The tree and the store are never held while
//! a session's lock is taken.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use super::options::BrokerOptions;
use super::retained::RetainedStore;
use super::service_files::ServiceFiles;
use super::session::Session;
use super::stats::{BrokerStats, Counters};
use super::store::Journal;
use super::subscriptions::SubscriptionTree;

pub(crate) struct State {
    pub options: BrokerOptions,
    /// The password and ACL files in force: those of `options` until a reload replaces them.
    pub service_files: ServiceFiles,
    /// Shared with the connections of TLS and WebSocket listeners, which count their refusals.
    pub counters: Arc<Counters>,
    /// Sessions by client id. Lock order: this lock, then a session's lock; never the reverse.
    pub sessions: Mutex<HashMap<Arc<str>, Arc<Session>>>,
    /// Never held while taking a session's lock.
    pub subscriptions: RwLock<SubscriptionTree>,
    pub retained: RwLock<RetainedStore>,
    /// Where changes to persisted data are recorded, when the broker persists.
    pub journal: Option<Journal>,
    next_session_id: AtomicU64,
}

impl State {
    pub fn new(options: BrokerOptions) -> State {
        let journal = options
            .persistence
            .as_ref()
            .map(|_| Journal::new(options.persistence_sync));
        State {
            service_files: ServiceFiles::new(
                options.password_file.clone(),
                options.acl_file.clone(),
            ),
            options,
            counters: Arc::default(),
            sessions: Mutex::new(HashMap::new()),
            subscriptions: RwLock::new(SubscriptionTree::default()),
            retained: RwLock::new(RetainedStore::default()),
            journal,
            next_session_id: AtomicU64::new(1),
        }
    }

    pub fn next_session_id(&self) -> u64 {
        self.next_session_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The counters, with the subscription and retained-message counts read from the tree and
    /// the store that hold them.
    pub fn stats(&self) -> BrokerStats {
        let mut stats = self.counters.snapshot();
        stats.subscriptions = self.subscriptions.read().len() as u64;
        stats.retained_messages = self.retained.read().len() as u64;
        stats
    }
}

/// The data layer on its own: sessions, subscriptions, routing and retained messages, with no
/// socket and no thread.
#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;

    use super::*;
    use crate::broker::control::ConnectionControl;
    use crate::broker::message::Delivery;
    use crate::broker::router::{Publication, RouteScratch};
    use crate::broker::session::{NEVER_EXPIRES, Wakeups};
    use crate::broker::subscriptions::Grant;
    use crate::protocol::{Properties, QoS};
    use crate::topic::{TopicFilter, TopicName};

    fn state() -> State {
        State::new(BrokerOptions::with_port(0))
    }

    fn publish(state: &State, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
        publish_from(state, None, topic, payload, qos, retain);
    }

    fn publish_from(
        state: &State,
        publisher: Option<&str>,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) {
        let mut wakeups = Wakeups::default();
        let publication = Publication {
            topic: TopicName::new(topic).unwrap(),
            payload: Arc::from(payload),
            qos,
            retain,
            properties: Properties::new(),
            publisher: publisher.map(Arc::from),
            internal: false,
        };
        state.route(publication, &mut RouteScratch::default(), &mut wakeups);
        wakeups.wake_all();
    }

    fn deliveries(session: &Session) -> Vec<Delivery> {
        let mut queue = VecDeque::new();
        session.take_queue(&mut queue);
        queue.into()
    }

    fn queued(session: &Session) -> Vec<(String, QoS)> {
        let mut queue = VecDeque::new();
        session.take_queue(&mut queue);
        queue
            .into_iter()
            .map(|d: Delivery| (d.message.topic.as_str().to_owned(), d.qos))
            .collect()
    }

    #[test]
    fn routes_once_per_session_at_the_highest_granted_qos() {
        let state = state();
        let control = Arc::new(ConnectionControl::new());
        let attached = state.attach("sub", true, 0, &control);
        let session = &attached.session;
        state.subscribe(
            session,
            TopicFilter::new("a/+").unwrap(),
            QoS::AtMostOnce.into(),
        );
        state.subscribe(
            session,
            TopicFilter::new("a/#").unwrap(),
            QoS::ExactlyOnce.into(),
        );
        publish(&state, "a/b", b"x", QoS::AtLeastOnce, false);
        publish(&state, "b", b"y", QoS::AtLeastOnce, false);
        assert_eq!(queued(session), [("a/b".to_owned(), QoS::AtLeastOnce)]);
        let stats = state.stats();
        assert_eq!(stats.subscriptions, 2);
        assert_eq!(stats.messages_received, 2);
    }

    #[test]
    fn a_persistent_session_keeps_subscriptions_and_qos1_messages_while_away() {
        let state = state();
        let control = Arc::new(ConnectionControl::new());
        let attached = state.attach("p", false, NEVER_EXPIRES, &control);
        assert!(!attached.session_present);
        state.subscribe(
            &attached.session,
            TopicFilter::new("t").unwrap(),
            QoS::AtLeastOnce.into(),
        );
        state.detach(&attached.session, attached.flows);
        publish(&state, "t", b"kept", QoS::AtLeastOnce, false);
        publish(&state, "t", b"dropped", QoS::AtMostOnce, false);
        let again = state.attach(
            "p",
            false,
            NEVER_EXPIRES,
            &Arc::new(ConnectionControl::new()),
        );
        assert!(again.session_present);
        assert!(Arc::ptr_eq(&again.session, &attached.session));
        assert_eq!(queued(&again.session), [("t".to_owned(), QoS::AtLeastOnce)]);
        assert_eq!(state.stats().messages_dropped, 1);
    }

    #[test]
    fn a_clean_session_ends_with_its_connection() {
        let state = state();
        let attached = state.attach("c", true, 0, &Arc::new(ConnectionControl::new()));
        state.subscribe(
            &attached.session,
            TopicFilter::new("t").unwrap(),
            QoS::AtLeastOnce.into(),
        );
        state.detach(&attached.session, attached.flows);
        let stats = state.stats();
        assert_eq!((stats.sessions, stats.subscriptions), (0, 0));
        let again = state.attach(
            "c",
            false,
            NEVER_EXPIRES,
            &Arc::new(ConnectionControl::new()),
        );
        assert!(!again.session_present);
    }

    #[test]
    fn retained_messages_are_replaced_and_cleared() {
        let state = state();
        publish(&state, "r/1", b"old", QoS::AtLeastOnce, true);
        publish(&state, "r/1", b"new", QoS::AtMostOnce, true);
        publish(&state, "r/2", b"two", QoS::AtMostOnce, true);
        let found = state.retained_matching("r/1");
        assert_eq!(found.len(), 1);
        assert_eq!(&*found[0].message.payload, b"new");
        publish(&state, "r/2", b"", QoS::AtMostOnce, true);
        assert_eq!(state.retained_matching("r/#").len(), 1);
        assert_eq!(state.stats().retained_messages, 1);
    }

    #[test]
    fn expired_persistent_sessions_are_discarded() {
        let state = state();
        let attached = state.attach("gone", false, 60, &Arc::new(ConnectionControl::new()));
        state.subscribe(
            &attached.session,
            TopicFilter::new("t").unwrap(),
            QoS::AtLeastOnce.into(),
        );
        state.detach(&attached.session, attached.flows);
        state.expire_sessions(None);
        assert_eq!(state.stats().sessions, 1, "60 s have not passed");
        state.expire_sessions(Some(Duration::ZERO));
        let stats = state.stats();
        assert_eq!((stats.sessions, stats.subscriptions), (0, 0));
    }

    fn grant(qos: QoS, no_local: bool, retain_as_published: bool, identifier: u32) -> Grant {
        Grant {
            qos,
            no_local,
            retain_as_published,
            identifier,
            shared: false,
        }
    }

    /// MQTT 5.0 [MQTT-3.8.3-3]: No Local keeps a client's own messages from the subscription
    /// that has it, but not from an overlapping one without it.
    #[test]
    fn no_local_skips_only_the_publishers_own_messages() {
        let state = state();
        let a = state.attach("a", true, 0, &Arc::new(ConnectionControl::new()));
        let b = state.attach("b", true, 0, &Arc::new(ConnectionControl::new()));
        let filter = |f: &str| TopicFilter::new(f).unwrap();
        state.subscribe(
            &a.session,
            filter("t"),
            grant(QoS::AtLeastOnce, true, false, 0),
        );
        state.subscribe(
            &b.session,
            filter("t"),
            grant(QoS::AtLeastOnce, true, false, 0),
        );
        publish_from(&state, Some("a"), "t", b"mine", QoS::AtLeastOnce, false);
        assert!(queued(&a.session).is_empty());
        assert_eq!(queued(&b.session).len(), 1);
        state.subscribe(
            &a.session,
            filter("#"),
            grant(QoS::AtMostOnce, false, false, 0),
        );
        publish_from(&state, Some("a"), "t", b"mine", QoS::AtLeastOnce, false);
        assert_eq!(queued(&a.session), [("t".to_owned(), QoS::AtMostOnce)]);
    }

    /// MQTT 5.0 [MQTT-3.3.1-12], [MQTT-3.3.1-13]: Retain As Published keeps the RETAIN flag;
    /// [MQTT-3.3.4-4]: one delivery carries the identifiers of every matching subscription.
    #[test]
    fn retain_as_published_and_subscription_identifiers() {
        let state = state();
        let s = state.attach("s", true, 0, &Arc::new(ConnectionControl::new()));
        let filter = |f: &str| TopicFilter::new(f).unwrap();
        state.subscribe(
            &s.session,
            filter("a/+"),
            grant(QoS::AtLeastOnce, false, true, 7),
        );
        state.subscribe(
            &s.session,
            filter("a/#"),
            grant(QoS::AtMostOnce, false, false, 9),
        );
        publish(&state, "a/b", b"x", QoS::AtLeastOnce, true);
        publish(&state, "a/b", b"y", QoS::AtLeastOnce, false);
        let got = deliveries(&s.session);
        assert_eq!(got.len(), 2);
        assert!(
            got[0].retain,
            "published retained, kept by Retain As Published"
        );
        assert!(!got[1].retain);
        let mut ids = got[0].identifiers().to_vec();
        ids.sort_unstable();
        assert_eq!(ids, [7, 9]);
        assert_eq!(got[0].qos, QoS::AtLeastOnce);
    }

    /// A session's expiry interval decides its end: 0 with its connection, otherwise that many
    /// seconds later (MQTT 5.0 section 3.1.2.11.2).
    #[test]
    fn session_expiry_interval_decides_when_a_session_ends() {
        let state = state();
        let short = state.attach("short", false, 0, &Arc::new(ConnectionControl::new()));
        state.detach(&short.session, short.flows);
        assert_eq!(
            state.stats().sessions,
            0,
            "expiry 0 ends with the connection"
        );
        let kept = state.attach(
            "kept",
            false,
            NEVER_EXPIRES,
            &Arc::new(ConnectionControl::new()),
        );
        state.detach(&kept.session, kept.flows);
        state.expire_sessions(None);
        assert_eq!(state.stats().sessions, 1, "never expires");
        state.expire_sessions(Some(Duration::ZERO));
        assert_eq!(state.stats().sessions, 0, "the broker's cap applies");
    }
}
