//! Retained messages: at most one per topic, replaced by each new retained PUBLISH and deleted by
//! one with an empty payload (section 3.3.1.3).

use std::collections::HashMap;
use std::sync::Arc;

use super::message::{Delivery, Message};
use crate::protocol::QoS;
use crate::topic::{TopicName, matches_str};

#[derive(Debug, Clone)]
pub(crate) struct Retained {
    pub message: Arc<Message>,
    pub qos: QoS,
}

impl Retained {
    /// This message sent because of a new subscription granted `granted`: RETAIN set
    /// ([MQTT-3.3.1-8]), at min(its QoS, `granted`) ([MQTT-3.8.4-6]).
    pub fn delivery(self, granted: QoS, identifiers: Box<[u32]>) -> Delivery {
        Delivery::new(self.message, self.qos.min(granted), true, identifiers, None)
    }
}

#[derive(Debug, Default)]
pub(crate) struct RetainedStore {
    by_topic: HashMap<TopicName, Retained>,
    /// How many of them are the broker's own (`$SYS`), which the retained count leaves out.
    system: usize,
}

impl RetainedStore {
    /// Retained messages clients and the host published (`$SYS` left out).
    pub fn len(&self) -> usize {
        self.by_topic.len() - self.system
    }

    /// Stores `message` as the topic's retained message, replacing any earlier one
    /// ([MQTT-3.3.1-5], [MQTT-3.3.1-7]); an empty payload removes it instead and is not stored
    /// ([MQTT-3.3.1-10], [MQTT-3.3.1-11]).
    pub fn update(&mut self, message: &Arc<Message>, qos: QoS) {
        let before = self.by_topic.len();
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
        if message.topic.as_str().starts_with("$SYS") {
            self.system = self.system + self.by_topic.len() - before;
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
