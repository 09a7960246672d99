//! Application messages as they travel through the broker: one shared [`Message`] per PUBLISH,
//! referenced by a small [`Delivery`] per subscriber, so fan-out copies no topic or payload bytes.

use std::sync::Arc;

use crate::protocol::QoS;
use crate::topic::TopicName;

#[derive(Debug)]
pub(crate) struct Message {
    pub topic: TopicName,
    pub payload: Arc<[u8]>,
}

/// One message on its way to one session.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub message: Arc<Message>,
    /// min(publish QoS, granted QoS) ([MQTT-3.8.4-6]).
    pub qos: QoS,
    /// Set only for retained messages sent because of a new subscription ([MQTT-3.3.1-8]); clear
    /// for messages matching an established subscription ([MQTT-3.3.1-9]).
    pub retain: bool,
}
