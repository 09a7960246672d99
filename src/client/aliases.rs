//! MQTT 5.0 topic aliases of one connection (MQTT 5.0 section 3.3.2.3.4), both ways. A mapping
//! lives only as long as its network connection ([MQTT-3.3.2-7] of MQTT 5.0), so a link owns
//! its aliases and a reconnect starts with none.

use std::collections::HashMap;

use crate::protocol::{Property, PropertyId, Publish, ReasonCode};
use crate::topic::TopicName;

/// The most aliases this client assigns, whatever the server allows: enough for the topics a
/// client publishes to repeatedly, and small enough that choosing one to reuse stays cheap.
const MAX_OUTGOING_ALIASES: u16 = 256;

/// The aliases this client assigns to the topics it publishes to, up to the server's Topic
/// Alias Maximum ([MQTT-3.3.2-9] of MQTT 5.0); when all are taken, the least recently used
/// one is given to the new topic.
#[derive(Debug, Default)]
pub(crate) struct OutgoingAliases {
    maximum: u16,
    /// Topic → (alias, last use).
    by_topic: HashMap<String, (u16, u64)>,
    clock: u64,
}

/// How a PUBLISH names its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AliasUse {
    /// The server knows this alias for the topic: send an empty topic name with it.
    Known(u16),
    /// Send the topic name with this alias, which sets (or replaces) the mapping.
    Assign(u16),
}

impl OutgoingAliases {
    /// Aliases for a connection whose server allows `server_maximum` (0: none).
    pub(crate) fn new(server_maximum: u16) -> OutgoingAliases {
        OutgoingAliases {
            maximum: server_maximum.min(MAX_OUTGOING_ALIASES),
            ..OutgoingAliases::default()
        }
    }

    /// The alias to use for `topic`, or `None` when the server allows none.
    pub(crate) fn alias_for(&mut self, topic: &str) -> Option<AliasUse> {
        if self.maximum == 0 {
            return None;
        }
        self.clock += 1;
        if let Some((alias, used)) = self.by_topic.get_mut(topic) {
            *used = self.clock;
            return Some(AliasUse::Known(*alias));
        }
        let alias = if self.by_topic.len() < usize::from(self.maximum) {
            self.by_topic.len() as u16 + 1
        } else {
            let oldest = self
                .by_topic
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(topic, _)| topic.clone())?;
            self.by_topic.remove(&oldest)?.0
        };
        self.by_topic.insert(topic.to_owned(), (alias, self.clock));
        Some(AliasUse::Assign(alias))
    }

    /// Forgets `topic`'s alias: its PUBLISH could not be sent, so the server never learnt it.
    pub(crate) fn forget(&mut self, topic: &str) {
        self.by_topic.remove(topic);
    }
}

/// The aliases the server assigned in PUBLISH packets to this client, at most the Topic Alias
/// Maximum this client announced.
#[derive(Debug, Default)]
pub(crate) struct IncomingAliases {
    maximum: u16,
    topics: HashMap<u16, TopicName>,
}

impl IncomingAliases {
    pub(crate) fn new(maximum: u16) -> IncomingAliases {
        IncomingAliases {
            maximum,
            topics: HashMap::new(),
        }
    }

    /// Gives `publish` its topic name: records the mapping its Topic Alias sets, or takes the
    /// topic from the mapping when the name is empty; the Topic Alias property is removed, as
    /// the application has no use for it. `Err` with the reason code of DISCONNECT: 0x94 for an
    /// alias of 0 or above the maximum ([MQTT-3.3.2-10], [MQTT-3.3.2-11] of MQTT 5.0), 0x82 for
    /// an empty name with an unknown alias or without any.
    pub(crate) fn resolve(&mut self, publish: &mut Publish) -> Result<(), (ReasonCode, String)> {
        let alias = publish.properties.iter().find_map(|p| match p {
            Property::TopicAlias(a) => Some(*a),
            _ => None,
        });
        let Some(alias) = alias else {
            if publish.topic.as_str().is_empty() {
                return Err((
                    ReasonCode::PROTOCOL_ERROR,
                    "PUBLISH with neither topic name nor Topic Alias".into(),
                ));
            }
            return Ok(());
        };
        if alias == 0 || alias > self.maximum {
            return Err((
                ReasonCode::TOPIC_ALIAS_INVALID,
                format!(
                    "Topic Alias {alias} outside 1..={} announced in CONNECT",
                    self.maximum
                ),
            ));
        }
        publish.properties.remove(PropertyId::TopicAlias);
        if publish.topic.as_str().is_empty() {
            match self.topics.get(&alias) {
                Some(topic) => publish.topic = topic.clone(),
                None => {
                    return Err((
                        ReasonCode::PROTOCOL_ERROR,
                        format!("Topic Alias {alias} used before it was set"),
                    ));
                }
            }
        } else {
            self.topics.insert(alias, publish.topic.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Properties, QosPid};

    #[test]
    fn outgoing_aliases_are_reused_least_recently_used_first() {
        let mut a = OutgoingAliases::new(2);
        assert_eq!(a.alias_for("a"), Some(AliasUse::Assign(1)));
        assert_eq!(a.alias_for("b"), Some(AliasUse::Assign(2)));
        assert_eq!(a.alias_for("a"), Some(AliasUse::Known(1)));
        // "b" is the least recently used: its alias goes to "c".
        assert_eq!(a.alias_for("c"), Some(AliasUse::Assign(2)));
        assert_eq!(a.alias_for("a"), Some(AliasUse::Known(1)));
        a.forget("c");
        assert_eq!(a.alias_for("d"), Some(AliasUse::Assign(2)));
        assert_eq!(OutgoingAliases::new(0).alias_for("a"), None);
    }

    fn publish(topic: &str, alias: Option<u16>) -> Publish {
        Publish {
            dup: false,
            qospid: QosPid::AtMostOnce,
            retain: false,
            topic: if topic.is_empty() {
                TopicName::aliased()
            } else {
                TopicName::new(topic).unwrap()
            },
            payload: Vec::new().into(),
            properties: Properties(alias.map(Property::TopicAlias).into_iter().collect()),
        }
    }

    #[test]
    fn incoming_aliases_follow_mqtt5_rules() {
        let mut a = IncomingAliases::new(3);
        let mut p = publish("x/y", Some(2));
        a.resolve(&mut p).unwrap();
        assert!(
            p.properties.is_empty(),
            "the alias is not shown to the application"
        );
        let mut p = publish("", Some(2));
        a.resolve(&mut p).unwrap();
        assert_eq!(p.topic.as_str(), "x/y");
        let code = |p: &mut Publish, a: &mut IncomingAliases| a.resolve(p).unwrap_err().0;
        assert_eq!(
            code(&mut publish("", Some(1)), &mut a),
            ReasonCode::PROTOCOL_ERROR
        );
        assert_eq!(
            code(&mut publish("t", Some(4)), &mut a),
            ReasonCode::TOPIC_ALIAS_INVALID
        );
        assert_eq!(
            code(&mut publish("t", Some(0)), &mut a),
            ReasonCode::TOPIC_ALIAS_INVALID
        );
        assert_eq!(
            code(&mut publish("", None), &mut a),
            ReasonCode::PROTOCOL_ERROR
        );
    }
}
