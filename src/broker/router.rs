//! Routing one application message: update the retained store, find the matching subscriptions,
//! and offer one delivery per subscribed session.

use std::sync::Arc;

use super::message::{Delivery, Message};
use super::retained::Retained;
use super::session::Wakeups;
use super::state::State;
use super::stats::Counters;
use super::store::Change;
use super::subscriptions::Subscriber;
use crate::protocol::{Properties, QoS};
use crate::topic::TopicName;

/// An application message as it enters the broker: from a client's PUBLISH, a will, or the host.
#[derive(Debug)]
pub(crate) struct Publication {
    pub topic: TopicName,
    pub payload: Arc<[u8]>,
    pub qos: QoS,
    pub retain: bool,
    /// MQTT 5.0 PUBLISH (or will) properties as received; empty from 3.1.1 clients.
    pub properties: Properties,
    /// The publishing client's id, `None` for the host and for wills.
    pub publisher: Option<Arc<str>>,
    /// Published by the broker itself (`$SYS`): not counted as a message received.
    pub internal: bool,
}

impl State {
    /// Forwards a message to every session with a matching subscription, at
    /// min(publish QoS, granted QoS) ([MQTT-3.8.4-6]), once per session even when several of its
    /// filters match, at the highest QoS among them ([MQTT-3.3.5-1]) and with the Subscription
    /// Identifiers of all of them (MQTT 5.0 [MQTT-3.3.4-4]). A subscription with No Local does
    /// not deliver the client's own messages (MQTT 5.0 [MQTT-3.8.3-3]); otherwise a client
    /// subscribed to a topic it publishes on receives its own message. The message is forwarded
    /// as soon as it arrives, before any QoS 2 handshake with the publisher completes (section
    /// 4.3.3 permits it).
    ///
    /// `scratch` is reused between calls so routing allocates nothing per subscriber; the
    /// subscribers' connections to wake are added to `wakeups` for the caller to wake once its
    /// batch is routed.
    pub fn route(
        &self,
        publication: Publication,
        scratch: &mut RouteScratch,
        wakeups: &mut Wakeups,
    ) {
        self.route_deferred(publication, scratch, wakeups);
        self.offer_routed(scratch, wakeups);
    }

    /// [`route`](Self::route) without offering the deliveries yet: they wait in `scratch` and
    /// `wakeups` for [`offer_routed`](Self::offer_routed), which a connection calls once it has
    /// routed every message of one read, so that each subscriber's session (and the journal) is
    /// locked once per read rather than once per message.
    ///
    /// Deliveries wait in one of two ways, never both at once, so that every session receives
    /// them in the order they were routed ([MQTT-4.6.0-5]): a message for a few sessions waits
    /// alone in `wakeups`; messages fanned out to many sessions wait as a run on one topic in
    /// `scratch`, which collects the topic's subscribers once for the whole run. A subscription
    /// change ends the run: the messages routed before it go to the subscribers of before, the
    /// next one to those of after.
    pub fn route_deferred(
        &self,
        publication: Publication,
        scratch: &mut RouteScratch,
        wakeups: &mut Wakeups,
    ) {
        let Publication {
            topic,
            payload,
            qos,
            retain,
            properties,
            publisher,
            internal,
        } = publication;
        if !internal {
            Counters::add(&self.counters.messages_received, 1);
        }
        let message = Arc::new(Message::new(topic, payload, properties, publisher, retain));
        if retain {
            self.retained.write().update(&message, qos);
            // The broker's own `$SYS` messages are published afresh by every run.
            if let Some(journal) = &self.journal
                && !message.topic.as_str().starts_with('$')
            {
                journal.record(Change::Retained {
                    topic: message.topic.clone(),
                    retained: (!message.payload.is_empty()).then(|| (Arc::clone(&message), qos)),
                });
            }
        }
        if scratch.continues_run(&message.topic, self) {
            scratch.run.push((message, qos));
            if scratch.run.len() >= RUN_AT_MOST {
                self.offer_run(scratch, wakeups);
            }
            return;
        }
        self.offer_run(scratch, wakeups);
        scratch.collect(self, &message.topic);
        let subscribers = &scratch.subscribers;
        // A message for a few subscriptions waits to be offered with the rest of the read (most
        // reads carry many messages for the same few sessions); one fanned out to many starts a
        // run, after what waits is offered (each session keeps its order).
        const DEFERRED_AT_MOST: usize = 4;
        if subscribers.len() <= DEFERRED_AT_MOST {
            for_each_session(subscribers, |first, matches| {
                if let Some(delivery) = delivery_for(&message, qos, matches) {
                    wakeups.routed.push((Arc::clone(&first.session), delivery));
                }
            });
            return;
        }
        self.offer_routed_alone(wakeups);
        // A share group picks a member per message (MQTT 5.0 section 4.8.2): no run, the
        // message is offered at once.
        let shared = scratch.collected.is_none();
        if !shared {
            scratch.run_topic = Some(message.topic.clone());
        }
        scratch.run.push((message, qos));
        if shared {
            self.offer_run(scratch, wakeups);
        }
    }

    /// Offers what [`route_deferred`](Self::route_deferred) left waiting to the sessions.
    pub fn offer_routed(&self, scratch: &mut RouteScratch, wakeups: &mut Wakeups) {
        self.offer_run(scratch, wakeups);
        self.offer_routed_alone(wakeups);
    }

    fn offer_routed_alone(&self, wakeups: &mut Wakeups) {
        wakeups.offer_routed(
            self.options.max_queued_messages,
            &self.counters,
            self.journal.as_ref(),
        );
    }

    /// Offers the messages of the open run to its subscribers, session by session, each
    /// session's share under one take of its lock; ends the run. A message alone (not a run)
    /// with a share group goes the same way.
    fn offer_run(&self, scratch: &mut RouteScratch, wakeups: &mut Wakeups) {
        let RouteScratch {
            subscribers,
            run_topic,
            run,
            batch,
            ..
        } = scratch;
        if run.is_empty() {
            return;
        }
        let max_queued = self.options.max_queued_messages;
        /// How many subscribers ahead the next sessions' state is fetched.
        const PREFETCH_AHEAD: usize = 2;
        for s in subscribers.iter().take(PREFETCH_AHEAD) {
            s.session.prefetch();
        }
        let mut index = 0;
        for_each_session(subscribers, |first, matches| {
            if let Some(ahead) = subscribers.get(index + PREFETCH_AHEAD) {
                ahead.session.prefetch();
            }
            index += matches.len();
            batch.extend(
                run.iter()
                    .filter_map(|(message, qos)| delivery_for(message, *qos, matches)),
            );
            if !batch.is_empty() {
                first.session.offer_all(
                    batch,
                    max_queued,
                    &self.counters,
                    self.journal.as_ref(),
                    wakeups,
                );
            }
        });
        run.clear();
        *run_topic = None;
    }

    /// Retained messages matching `filter`, for a new subscription.
    pub fn retained_matching(&self, filter: &str) -> Vec<Retained> {
        let mut out = Vec::new();
        self.retained.read().matching(filter, &mut out);
        out
    }
}

/// Messages a run holds at most before it is offered, so that a subscriber's first message does
/// not wait for a whole read of them and the batch stays small enough for the cache.
const RUN_AT_MOST: usize = 128;

/// What routing reuses from one message to the next on one thread, and the open run: messages on
/// one topic, fanned out to the same subscribers, not offered yet (see
/// [`State::route_deferred`]).
#[derive(Debug, Default)]
pub(crate) struct RouteScratch {
    /// The subscribers of the last message collected, of the whole run while one is open. They
    /// keep their sessions alive until the next collect or until the connection goes idle
    /// ([`RouteScratch::default`] again), which delays freeing an ended session, never a
    /// delivery: an ended session takes none.
    subscribers: Vec<Subscriber>,
    /// The topic `subscribers` were collected for and the subscription tree's version then,
    /// while they may serve the next message on that topic; `None` when a share group is
    /// among them (it picks a member per message).
    collected: Option<(TopicName, u64)>,
    /// The topic of the open run; `None` while no run is open.
    run_topic: Option<TopicName>,
    run: Vec<(Arc<Message>, QoS)>,
    /// One session's deliveries of the run, reused.
    batch: Vec<Delivery>,
}

impl RouteScratch {
    /// Whether a message on `topic` joins the open run: only while the subscription tree is
    /// still at the version the run's subscribers were collected at, so that a SUBSCRIBE or
    /// UNSUBSCRIBE handled between two messages of one read applies to the second
    /// ([MQTT-3.10.4-2], [MQTT-3.8.4-3]); otherwise the run is offered as it stands and a new one
    /// begins. The tree is looked at only when a run on `topic` is open.
    fn continues_run(&self, topic: &TopicName, state: &State) -> bool {
        self.run_topic.as_ref().is_some_and(|open| open == topic)
            && self
                .collected
                .as_ref()
                .is_some_and(|(_, at)| *at == state.subscriptions.read().version())
    }

    /// Makes `subscribers` those of `topic` in session order, collecting them again unless
    /// they were collected for the same topic and the tree has not changed since (a publisher
    /// mostly repeats its topics, and walking the tree is most of routing a message to one
    /// subscriber).
    fn collect(&mut self, state: &State, topic: &TopicName) {
        let tree = state.subscriptions.read();
        let version = tree.version();
        if self
            .collected
            .as_ref()
            .is_some_and(|(last, at)| *at == version && last == topic)
        {
            return;
        }
        self.subscribers.clear();
        tree.collect(topic.as_str(), &mut self.subscribers);
        drop(tree);
        let order = |s: &Subscriber| (s.session_id, s.grant.shared);
        if !self.subscribers.is_sorted_by_key(order) {
            self.subscribers.sort_unstable_by_key(order);
        }
        let shared = self.subscribers.iter().any(|s| s.grant.shared);
        self.collected = (!shared).then(|| (topic.clone(), version));
    }
}

/// Calls `offer` once per delivery `subscribers` (sorted by session) make: a session's
/// non-shared subscriptions together, each share group's pick alone (MQTT 5.0 section 4.8.2).
fn for_each_session(subscribers: &[Subscriber], mut offer: impl FnMut(&Subscriber, &[Subscriber])) {
    let mut rest = subscribers;
    while let Some(first) = rest.first() {
        let same = if first.grant.shared {
            1
        } else {
            rest.iter()
                .take_while(|s| s.session_id == first.session_id && !s.grant.shared)
                .count()
        };
        let (matches, tail) = rest.split_at(same);
        rest = tail;
        offer(first, matches);
    }
}

/// The one delivery of `message` to a session whose subscriptions `matches` all match it, or
/// `None` when every one of them has No Local and the session published it.
fn delivery_for(message: &Arc<Message>, qos: QoS, matches: &[Subscriber]) -> Option<Delivery> {
    let publisher = message.publisher.as_deref();
    let own = |s: &&Subscriber| !(s.grant.no_local && publisher == Some(&*s.session.client_id));
    let mut granted = None;
    let mut retain = false;
    let mut identifiers = Vec::new();
    for s in matches.iter().filter(own) {
        granted = granted.max(Some(s.grant.qos));
        retain |= s.grant.retain_as_published && message.retain;
        if s.grant.identifier != 0 {
            identifiers.push(s.grant.identifier);
        }
    }
    Some(Delivery::new(
        Arc::clone(message),
        qos.min(granted?),
        retain,
        identifiers.into_boxed_slice(),
        // A share group's pick is always alone in `matches`.
        matches[0].group.clone(),
    ))
}
