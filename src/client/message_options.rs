//! MQTT 5.0 options of one PUBLISH or SUBSCRIBE, built with typed methods rather than a raw
//! property list (MQTT 5.0 sections 3.3.2.3 and 3.8.3.1).

use crate::protocol::{Properties, Property, SubscriptionOptions};

use super::options::set_property;

/// MQTT 5.0 properties of a publish, and whether it may use a topic alias. `Default` gives
/// none, with topic aliases allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// The PUBLISH properties a client may set (a Topic Alias and Subscription Identifiers
    /// are not among them: the client assigns aliases itself, the server adds identifiers).
    pub properties: Properties,
    /// Never use a topic alias for this publish, even when the server allows them.
    pub no_topic_alias: bool,
}

impl PublishOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Message Expiry Interval in seconds: the server drops the message once it has waited
    /// that long for a subscriber (MQTT 5.0 section 3.3.2.3.3).
    pub fn message_expiry(mut self, seconds: u32) -> Self {
        set_property(
            &mut self.properties,
            Property::MessageExpiryInterval(seconds),
        );
        self
    }

    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        set_property(
            &mut self.properties,
            Property::ContentType(content_type.into()),
        );
        self
    }

    /// The topic a responder should publish its response to (MQTT 5.0 section 4.10).
    pub fn response_topic(mut self, topic: impl Into<String>) -> Self {
        set_property(&mut self.properties, Property::ResponseTopic(topic.into()));
        self
    }

    pub fn correlation_data(mut self, data: &[u8]) -> Self {
        set_property(
            &mut self.properties,
            Property::CorrelationData(data.to_vec()),
        );
        self
    }

    /// Payload Format Indicator: true says the payload is UTF-8 text, which the server may
    /// check (MQTT 5.0 section 3.3.2.3.2).
    pub fn payload_is_utf8(mut self, utf8: bool) -> Self {
        set_property(
            &mut self.properties,
            Property::PayloadFormatIndicator(u8::from(utf8)),
        );
        self
    }

    /// Adds a User Property (repeatable; the order is kept end to end, [MQTT-3.3.2-18]).
    pub fn user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties
            .push(Property::UserProperty(name.into(), value.into()));
        self
    }

    /// Whether this publish may use a topic alias (default true).
    pub fn topic_alias(mut self, allowed: bool) -> Self {
        self.no_topic_alias = !allowed;
        self
    }
}

/// MQTT 5.0 subscription options and SUBSCRIBE properties. `Default` gives MQTT 3.1.1's
/// behaviour: own messages delivered, RETAIN cleared on forwarded messages, retained
/// messages sent on every subscribe, no identifier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
    pub options: SubscriptionOptions,
    /// 1..268,435,455: the server sends it back with every message delivered for this
    /// subscription (MQTT 5.0 section 3.8.2.1.2).
    pub subscription_identifier: Option<u32>,
    /// User Properties of the SUBSCRIBE, in order.
    pub user_properties: Vec<(String, String)>,
}

impl SubscribeOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// No Local: messages this client publishes are not sent back to it ([MQTT-3.8.3-3] of
    /// MQTT 5.0).
    pub fn no_local(mut self, on: bool) -> Self {
        self.options.no_local = on;
        self
    }

    /// Retain As Published: forwarded messages keep the RETAIN flag they were published with.
    pub fn retain_as_published(mut self, on: bool) -> Self {
        self.options.retain_as_published = on;
        self
    }

    /// Retain Handling: 0 send retained messages on subscribe, 1 only if the subscription is
    /// new, 2 never.
    pub fn retain_handling(mut self, handling: u8) -> Self {
        self.options.retain_handling = handling;
        self
    }

    pub fn subscription_identifier(mut self, identifier: u32) -> Self {
        self.subscription_identifier = Some(identifier);
        self
    }

    pub fn user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_properties.push((name.into(), value.into()));
        self
    }

    /// Whether these differ from MQTT 3.1.1's behaviour, so they need MQTT 5.0.
    pub(crate) fn is_v5_only(&self) -> bool {
        *self != SubscribeOptions::default()
    }

    /// The SUBSCRIBE properties.
    pub(crate) fn properties(&self) -> Properties {
        let mut p = Properties::new();
        p.extend(
            self.subscription_identifier
                .map(Property::SubscriptionIdentifier),
        );
        p.extend(
            self.user_properties
                .iter()
                .map(|(k, v)| Property::UserProperty(k.clone(), v.clone())),
        );
        p
    }
}
