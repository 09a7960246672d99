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
        scratch: &mut Vec<Subscriber>,
        wakeups: &mut Wakeups,
    ) {
        self.route_deferred(publication, scratch, wakeups);
        self.offer_routed(wakeups);
    }

    /// [`route`](Self::route) without offering the deliveries yet: they wait in `wakeups` for
    /// [`offer_routed`](Self::offer_routed), which a connection calls once it has routed every
    /// message of one read, so that each subscriber's session (and the journal) is locked once
    /// per read rather than once per message.
    pub fn route_deferred(
        &self,
        publication: Publication,
        scratch: &mut Vec<Subscriber>,
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
        scratch.clear();
        self.subscriptions
            .read()
            .collect(message.topic.as_str(), scratch);
        if scratch.len() > 1 {
            scratch.sort_unstable_by_key(|s| (s.session.id, s.grant.shared));
        }
        // A message for a few sessions waits to be offered with the rest of the read (most
        // reads carry many messages for the same few sessions); one fanned out to many is
        // offered at once, after what waits (each session keeps its order), since its sessions
        // rarely see two messages of one read and the wait would only add work.
        const DEFERRED_AT_MOST: usize = 4;
        let defer = scratch.len() <= DEFERRED_AT_MOST;
        if !defer {
            self.offer_routed(wakeups);
        }
        let max_queued = self.options.max_queued_messages;
        /// How many subscribers ahead the next sessions' state is fetched.
        const PREFETCH_AHEAD: usize = 2;
        if !defer {
            for s in scratch.iter().take(PREFETCH_AHEAD) {
                s.session.prefetch();
            }
        }
        let mut rest = &scratch[..];
        while let Some(first) = rest.first() {
            if !defer && let Some(ahead) = rest.get(PREFETCH_AHEAD) {
                ahead.session.prefetch();
            }
            // A session's non-shared subscriptions make one delivery; each share group that
            // picked it makes one more (MQTT 5.0 section 4.8.2).
            let same = if first.grant.shared {
                1
            } else {
                rest.iter()
                    .take_while(|s| s.session.id == first.session.id && !s.grant.shared)
                    .count()
            };
            let (matches, tail) = rest.split_at(same);
            rest = tail;
            let Some(delivery) = delivery_for(&message, qos, matches) else {
                continue;
            };
            if defer {
                wakeups.routed.push((Arc::clone(&first.session), delivery));
            } else {
                first.session.offer(
                    delivery,
                    max_queued,
                    &self.counters,
                    self.journal.as_ref(),
                    wakeups,
                );
            }
        }
        scratch.clear();
    }

    /// Offers what [`route_deferred`](Self::route_deferred) left in `wakeups` to the sessions.
    pub fn offer_routed(&self, wakeups: &mut Wakeups) {
        wakeups.offer_routed(
            self.options.max_queued_messages,
            &self.counters,
            self.journal.as_ref(),
        );
    }

    /// Retained messages matching `filter`, for a new subscription.
    pub fn retained_matching(&self, filter: &str) -> Vec<Retained> {
        let mut out = Vec::new();
        self.retained.read().matching(filter, &mut out);
        out
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
    Some(Delivery {
        message: Arc::clone(message),
        qos: qos.min(granted?),
        retain,
        identifiers: identifiers.into_boxed_slice(),
        stored: None,
        // A share group's pick is always alone in `matches`.
        shared: matches[0].group.clone(),
    })
}
