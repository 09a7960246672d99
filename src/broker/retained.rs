//! Retained messages: at most one per topic, replaced by each new retained PUBLISH and deleted by
//! one with an empty payload (section 3.3.1.3).

use std::collections::HashMap;
use std::sync::Arc;

use super::message::Message;
use crate::protocol::QoS;
use crate::topic::{TopicName, matches_str};

#[derive(Debug, Clone)]
pub(crate) struct Retained {
    pub message: Arc<Message>,
    pub qos: QoS,
}

#[derive(Debug, Default)]
pub(crate) struct RetainedStore {
    by_topic: HashMap<TopicName, Retained>,
}

impl RetainedStore {
    pub fn len(&self) -> usize {
        self.by_topic.len()
    }

    /// Stores `message` as the topic's retained message, replacing any earlier one
    /// ([MQTT-3.3.1-5], [MQTT-3.3.1-7]); an empty payload removes it instead and is not stored
    /// ([MQTT-3.3.1-10], [MQTT-3.3.1-11]).
    pub fn update(&mut self, message: &Arc<Message>, qos: QoS) {
        if message.payload.is_empty() {
            self.by_topic.remove(&message.topic);
        } else {
            self.by_topic.insert(
                message.topic.clone(),
                Retained {
                    message: Arc::clone(message),
                    qos,
                },
            );
        }
    }

    /// Appends the retained messages matching `filter` to `out` ([MQTT-3.3.1-6]).
    pub fn matching(&self, filter: &str, out: &mut Vec<Retained>) {
        if filter.contains(['+', '#']) {
            out.extend(
                self.by_topic
                    .iter()
                    .filter(|(topic, _)| matches_str(filter, topic.as_str()))
                    .map(|(_, r)| r.clone()),
            );
        } else if let Some(retained) = TopicName::new(filter)
            .ok()
            .and_then(|topic| self.by_topic.get(&topic))
        {
            out.push(retained.clone());
        }
    }
}
