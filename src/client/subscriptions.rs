//! The client's filter → callback table, and the rule that picks one callback per message.
//!
//! When several of the client's filters match an incoming topic, only the callback of the most
//! specific filter runs, once. "Most specific" is decided by, in order:
//! 1. more literal (non-wildcard) levels wins: `a/b/+` beats `a/+/+`;
//! 2. then a filter without `#` beats one with `#`: `a/+` beats `a/#`, and `a/b` beats `a/b/#`;
//! 3. then, reading levels left to right, the first level where the filters differ decides:
//!    literal beats `+`, `+` beats `#`, and a filter that ends first loses: `a/+/c` beats `+/b/c`.
//!
//! Two different filters that both match the same topic can never tie, so the choice is
//! deterministic and does not depend on subscription order.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::protocol::{Properties, PropertyId, QoS, SubscribeTopic, SubscriptionOptions};
use crate::topic::{TopicFilter, matches_str};

/// An application message as a callback sees it; the borrowed parts live only for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    /// The MQTT 5.0 PUBLISH properties as received (Payload Format Indicator, Message Expiry
    /// Interval with the time that remains, Content Type, Response Topic, Correlation Data,
    /// User Properties in order, Subscription Identifiers); empty before MQTT 5.0. A Topic
    /// Alias is resolved into `topic` and not shown.
    pub properties: &'a Properties,
}

/// No properties, for messages that have none.
pub(crate) static NO_PROPERTIES: Properties = Properties(Vec::new());

impl Message<'_> {
    /// A copy that owns its parts, to keep beyond the callback.
    pub fn to_owned(&self) -> OwnedMessage {
        OwnedMessage {
            topic: self.topic.to_owned(),
            payload: self.payload.to_vec(),
            qos: self.qos,
            retain: self.retain,
            dup: self.dup,
            properties: self.properties.clone(),
        }
    }

    /// The Correlation Data property, if any.
    pub fn correlation_data(&self) -> Option<&[u8]> {
        self.properties.binary(PropertyId::CorrelationData)
    }

    /// The Response Topic property, if any.
    pub fn response_topic(&self) -> Option<&str> {
        self.properties.string(PropertyId::ResponseTopic)
    }
}

/// A received message that owns its parts (see [`Message::to_owned`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    pub properties: Properties,
}

impl OwnedMessage {
    /// The borrowed view callbacks get.
    pub fn as_message(&self) -> Message<'_> {
        Message {
            topic: &self.topic,
            payload: &self.payload,
            qos: self.qos,
            retain: self.retain,
            dup: self.dup,
            properties: &self.properties,
        }
    }
}

/// A message callback. It runs on whichever thread is reading the connection (see the module
/// documentation of [`crate::client`]) and may call any client method.
pub type MessageCallback = Arc<dyn Fn(&Message<'_>) + Send + Sync>;

/// How specific a filter is; greater is more specific. Field order is comparison order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Specificity {
    literal_levels: usize,
    without_multi_level: bool,
    /// One rank per level: 2 literal, 1 `+`, 0 `#`.
    level_ranks: Vec<u8>,
}

impl Specificity {
    fn of(filter: &str) -> Specificity {
        let level_ranks: Vec<u8> = filter
            .split('/')
            .map(|level| match level {
                "#" => 0,
                "+" => 1,
                _ => 2,
            })
            .collect();
        Specificity {
            literal_levels: level_ranks.iter().filter(|&&r| r == 2).count(),
            without_multi_level: !level_ranks.contains(&0),
            level_ranks,
        }
    }
}

/// What a subscription asked for, to subscribe again the same way after a reconnect without
/// a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Requested {
    pub(crate) qos: QoS,
    pub(crate) options: SubscriptionOptions,
    pub(crate) identifier: Option<u32>,
}

#[cfg(test)]
impl Requested {
    pub(crate) fn qos(qos: QoS) -> Requested {
        Requested {
            qos,
            options: SubscriptionOptions::default(),
            identifier: None,
        }
    }
}

struct Entry {
    filter: TopicFilter,
    specificity: Specificity,
    callback: MessageCallback,
    requested: Requested,
}

/// A filter's callback and request, as [`Subscriptions::insert`] replaces it.
pub(crate) type Registered = (MessageCallback, Requested);

#[derive(Default)]
pub(crate) struct Subscriptions {
    entries: Vec<Entry>,
}

impl Subscriptions {
    /// Sets the callback and request for `filter`, returning the ones it replaces.
    pub(crate) fn insert(
        &mut self,
        filter: TopicFilter,
        requested: Requested,
        callback: MessageCallback,
    ) -> Option<Registered> {
        if let Some(e) = self.entries.iter_mut().find(|e| e.filter == filter) {
            let old = std::mem::replace(&mut e.requested, requested);
            return Some((std::mem::replace(&mut e.callback, callback), old));
        }
        self.entries.push(Entry {
            specificity: Specificity::of(filter.as_str()),
            filter,
            callback,
            requested,
        });
        None
    }

    /// Every filter as it was asked for, with its Subscription Identifier: what to subscribe
    /// again to.
    pub(crate) fn filters(&self) -> Vec<(SubscribeTopic, Option<u32>)> {
        self.entries
            .iter()
            .map(|e| {
                let topic = SubscribeTopic {
                    filter: e.filter.to_string(),
                    qos: e.requested.qos,
                    options: e.requested.options,
                };
                (topic, e.requested.identifier)
            })
            .collect()
    }

    /// Removes `filter`'s entry, returning its callback.
    pub(crate) fn remove(&mut self, filter: &str) -> Option<MessageCallback> {
        let i = self
            .entries
            .iter()
            .position(|e| e.filter.as_str() == filter)?;
        Some(self.entries.swap_remove(i).callback)
    }

    /// Puts back `previous` for `filter` (or removes the entry when there was none): undoes an
    /// `insert` whose subscription the broker refused.
    pub(crate) fn restore(&mut self, filter: &TopicFilter, previous: Option<Registered>) {
        match previous {
            Some((cb, requested)) => {
                self.insert(filter.clone(), requested, cb);
            }
            None => {
                self.remove(filter.as_str());
            }
        }
    }

    /// The callback of the most specific filter matching `topic` (see the module documentation).
    pub(crate) fn best_match(&self, topic: &str) -> Option<MessageCallback> {
        self.best_filter(topic)
            .map(|i| Arc::clone(&self.entries[i].callback))
    }

    fn best_filter(&self, topic: &str) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, e) in self.entries.iter().enumerate() {
            if !matches_str(e.filter.as_str(), topic) {
                continue;
            }
            best = match best {
                Some(b) if self.entries[b].specificity.cmp(&e.specificity) != Ordering::Less => {
                    Some(b)
                }
                _ => Some(i),
            };
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(filters: &[&str]) -> Subscriptions {
        let mut t = Subscriptions::default();
        for f in filters {
            t.insert(
                TopicFilter::new(f).unwrap(),
                Requested::qos(QoS::AtMostOnce),
                Arc::new(|_: &Message<'_>| {}),
            );
        }
        t
    }

    fn winner(filters: &[&str], topic: &str) -> Option<String> {
        let t = table(filters);
        let forward = t
            .best_filter(topic)
            .map(|i| t.entries[i].filter.to_string());
        let mut reversed: Vec<&str> = filters.to_vec();
        reversed.reverse();
        let t = table(&reversed);
        let backward = t
            .best_filter(topic)
            .map(|i| t.entries[i].filter.to_string());
        assert_eq!(
            forward, backward,
            "choice must not depend on subscription order"
        );
        forward
    }

    #[test]
    fn exact_filter_beats_wildcards() {
        let w = winner(&["#", "a/#", "a/+/c", "a/b/c", "a/b/#"], "a/b/c");
        assert_eq!(w.as_deref(), Some("a/b/c"));
    }

    #[test]
    fn more_literal_levels_win() {
        assert_eq!(
            winner(&["a/+/+", "a/b/+"], "a/b/c").as_deref(),
            Some("a/b/+")
        );
        assert_eq!(
            winner(&["+/+/+", "#", "a/#"], "a/b/c").as_deref(),
            Some("a/#")
        );
    }

    #[test]
    fn without_hash_beats_hash_at_equal_literals() {
        assert_eq!(winner(&["a/#", "a/+"], "a/x").as_deref(), Some("a/+"));
        assert_eq!(winner(&["a/b/#", "a/b"], "a/b").as_deref(), Some("a/b"));
        assert_eq!(winner(&["#", "+/+"], "x/y").as_deref(), Some("+/+"));
        assert_eq!(
            winner(&["a/b/#", "a/+/c"], "a/b/c").as_deref(),
            Some("a/+/c")
        );
    }

    #[test]
    fn earlier_literal_level_breaks_ties() {
        assert_eq!(
            winner(&["+/b/c", "a/+/c"], "a/b/c").as_deref(),
            Some("a/+/c")
        );
        assert_eq!(winner(&["+/b/#", "a/#"], "a/b/c").as_deref(), Some("a/#"));
    }

    #[test]
    fn no_match_and_dollar_topics() {
        assert_eq!(winner(&["a/+", "b/#"], "c"), None);
        assert_eq!(winner(&["#", "+/x"], "$SYS/x"), None);
        assert_eq!(
            winner(&["#", "$SYS/#"], "$SYS/x").as_deref(),
            Some("$SYS/#")
        );
    }

    #[test]
    fn insert_replaces_and_remove_restores() {
        let mut t = table(&["a/b"]);
        let f = TopicFilter::new("a/b").unwrap();
        assert!(
            t.insert(
                f.clone(),
                Requested::qos(QoS::AtLeastOnce),
                Arc::new(|_: &Message<'_>| {})
            )
            .is_some()
        );
        assert_eq!(t.entries.len(), 1);
        t.restore(&f, None);
        assert!(t.best_match("a/b").is_none());
        assert!(t.remove("a/b").is_none());
    }
}
