//! Application messages as they travel through the broker: one shared [`Message`] per PUBLISH,
//! referenced by a small [`Delivery`] per subscriber, so fan-out copies no topic or payload bytes.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::protocol::{Properties, PropertyContext, PropertyId, QoS};
use crate::topic::TopicName;

#[derive(Debug)]
pub(crate) struct Message {
    pub topic: TopicName,
    pub payload: Arc<[u8]>,
    /// The MQTT 5.0 properties forwarded to every subscriber unchanged and in order: payload format
    /// indicator, content type, response topic, correlation data, user properties (MQTT 5.0
    /// [MQTT-3.3.2-15] to [MQTT-3.3.2-18], [MQTT-3.3.2-20]). The per-delivery ones (topic alias,
    /// subscription identifiers, the remaining message expiry) are not kept here. Empty for
    /// messages from MQTT 3.1.1 clients.
    pub properties: Properties,
    /// When the Message Expiry Interval runs out: the message is then no longer delivered (MQTT
    /// 5.0 [MQTT-3.3.2-5]).
    pub expires_at: Option<Instant>,
    /// The client id of the connection that published it (`None`: the host or a will), for No
    /// Local, which compares client ids (MQTT 5.0 [MQTT-3.8.3-3]).
    pub publisher: Option<Arc<str>>,
    /// The RETAIN flag it was published with, for Retain As Published (MQTT 5.0
    /// [MQTT-3.3.1-12], [MQTT-3.3.1-13]).
    pub retain: bool,
}

impl Message {
    /// A message from PUBLISH or will `properties`: the per-hop ones and those a PUBLISH cannot
    /// carry are dropped, and the Message Expiry Interval becomes a deadline.
    pub fn new(
        topic: TopicName,
        payload: Arc<[u8]>,
        mut properties: Properties,
        publisher: Option<Arc<str>>,
        retain: bool,
    ) -> Message {
        let expires_at = properties
            .integer(PropertyId::MessageExpiryInterval)
            .map(|seconds| Instant::now() + Duration::from_secs(u64::from(seconds)));
        if !properties.is_empty() {
            // What a PUBLISH may carry onward: a will's Will Delay Interval stays behind.
            properties.0.retain(|p| {
                let id = p.id();
                id.allowed_in(PropertyContext::Publish)
                    && !matches!(
                        id,
                        PropertyId::MessageExpiryInterval
                            | PropertyId::TopicAlias
                            | PropertyId::SubscriptionIdentifier
                    )
            });
        }
        Message {
            topic,
            payload,
            properties,
            expires_at,
            publisher,
            retain,
        }
    }

    /// Whole seconds left before the message expires, rounded up so a message that is still
    /// deliverable never announces 0 (which would mean no expiry to some readers); `Some(0)` once
    /// it has expired. `None` for a message without expiry.
    pub fn seconds_left(&self, now: Instant) -> Option<u32> {
        let deadline = self.expires_at?;
        let left = deadline.saturating_duration_since(now);
        Some(left.as_millis().div_ceil(1000).min(u128::from(u32::MAX)) as u32)
    }

    pub fn has_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|deadline| now >= deadline)
    }
}

/// One message on its way to one session.
///
/// Kept to 32 bytes: a fan-out queues one per subscriber, and every byte of it is written by the
/// publisher's thread and read again by the subscriber's, so its size is what a delivery costs
/// in cache traffic (doubling it cost fan-out a fifth of its throughput). What few deliveries
/// carry — Subscription Identifiers, a share group — lives behind one optional box.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub message: Arc<Message>,
    /// Its number in the persistence store, once recorded there (QoS 1 and 2 deliveries to a
    /// persistent session when the broker persists). Numbers start at 1.
    stored: Option<NonZeroU64>,
    /// min(publish QoS, granted QoS) ([MQTT-3.8.4-6]).
    pub qos: QoS,
    /// Set for retained messages sent because of a new subscription ([MQTT-3.3.1-8]), and with
    /// Retain As Published for messages published with RETAIN; clear otherwise
    /// ([MQTT-3.3.1-9]).
    pub retain: bool,
    /// `None` when it has no Subscription Identifiers and came through no share group.
    routing: Option<Box<Routing>>,
}

// The cost of a fan-out follows this size (see above).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Delivery>() == 32);

#[derive(Debug, Clone)]
struct Routing {
    /// The Subscription Identifiers of the session's subscriptions the message matched (MQTT 5.0
    /// [MQTT-3.3.4-3], [MQTT-3.3.4-4]).
    identifiers: Box<[u32]>,
    /// The shared subscription (`$share/{group}/{filter}`) it came through, whose other members
    /// take it over if the session ends before it is delivered (MQTT 5.0 section 4.8.2). Kept
    /// in the persistence store with the delivery, so this holds across a restart too.
    shared: Option<Arc<str>>,
}

impl Delivery {
    pub fn new(
        message: Arc<Message>,
        qos: QoS,
        retain: bool,
        identifiers: Box<[u32]>,
        shared: Option<Arc<str>>,
    ) -> Delivery {
        let routing = (!identifiers.is_empty() || shared.is_some()).then(|| {
            Box::new(Routing {
                identifiers,
                shared,
            })
        });
        Delivery {
            message,
            stored: None,
            qos,
            retain,
            routing,
        }
    }

    /// The Subscription Identifiers it is sent with (MQTT 5.0 [MQTT-3.3.4-3]).
    pub fn identifiers(&self) -> &[u32] {
        self.routing.as_ref().map_or(&[], |r| &r.identifiers)
    }

    /// The `$share/{group}/{filter}` it came through, if any.
    pub fn shared(&self) -> Option<&Arc<str>> {
        self.routing.as_ref().and_then(|r| r.shared.as_ref())
    }

    /// Its number in the persistence store, if recorded there.
    pub fn stored(&self) -> Option<u64> {
        self.stored.map(NonZeroU64::get)
    }

    /// Numbers it in the persistence store; `id` 0, which the store never hands out, leaves it
    /// unnumbered.
    pub fn set_stored(&mut self, id: u64) {
        self.stored = NonZeroU64::new(id);
    }

    /// Its message, Subscription Identifiers and share group, moved out (as it goes in flight,
    /// or to another member of its share group).
    pub fn into_parts(self) -> (Arc<Message>, Box<[u32]>, Option<Arc<str>>) {
        match self.routing {
            Some(routing) => (self.message, routing.identifiers, routing.shared),
            None => (self.message, Box::default(), None),
        }
    }
}
