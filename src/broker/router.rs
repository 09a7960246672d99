//! Routing one application message: update the retained store, find the matching subscriptions,
//! and offer one delivery per subscribed session.

use std::sync::Arc;

use super::message::{Delivery, Message};
use super::retained::Retained;
use super::session::Wakeups;
use super::state::State;
use super::stats::Counters;
use super::subscriptions::Subscriber;
use crate::protocol::QoS;
use crate::topic::TopicName;

impl State {
    /// Forwards a message to every session with a matching subscription, at
    /// min(publish QoS, granted QoS) ([MQTT-3.8.4-6]), once per session even when several of its
    /// filters match, at the highest QoS among them ([MQTT-3.3.5-1]). A client subscribed to a
    /// topic it publishes on receives its own message. The message is forwarded as soon as it
    /// arrives, before any QoS 2 handshake with the publisher completes (section 4.3.3 permits it).
    ///
    /// `scratch` is reused between calls so routing allocates nothing per subscriber; the
    /// subscribers' connections to wake are added to `wakeups` for the caller to wake once its
    /// batch is routed.
    pub fn route(
        &self,
        topic: TopicName,
        payload: Arc<[u8]>,
        qos: QoS,
        retain: bool,
        scratch: &mut Vec<Subscriber>,
        wakeups: &mut Wakeups,
    ) {
        Counters::add(&self.counters.messages_received, 1);
        let message = Arc::new(Message { topic, payload });
        if retain {
            self.retained.write().update(&message, qos);
        }
        scratch.clear();
        self.subscriptions
            .read()
            .collect(message.topic.as_str(), scratch);
        if scratch.len() > 1 {
            scratch.sort_unstable_by(|a, b| {
                a.session
                    .id
                    .cmp(&b.session.id)
                    .then_with(|| b.qos.cmp(&a.qos))
            });
            scratch.dedup_by_key(|s| s.session.id);
        }
        let max_queued = self.options.max_queued_messages;
        for subscriber in scratch.drain(..) {
            let delivery = Delivery {
                message: Arc::clone(&message),
                qos: qos.min(subscriber.qos),
                retain: false,
            };
            subscriber
                .session
                .offer(delivery, max_queued, &self.counters, wakeups);
        }
    }

    /// Retained messages matching `filter`, for a new subscription.
    pub fn retained_matching(&self, filter: &str) -> Vec<Retained> {
        let mut out = Vec::new();
        self.retained.read().matching(filter, &mut out);
        out
    }
}
