//! What a connected client's packets do: PUBLISH and the acknowledgement flows, SUBSCRIBE,
//! UNSUBSCRIBE, PINGREQ and DISCONNECT, under the rules of the revision the client speaks.
//! A packet that breaks a rule ends the connection with the reason code MQTT 5.0 gives for it
//! (sent in DISCONNECT to a 5.0 client, see [`Online::finish`]).

use std::sync::Arc;

use super::busy_poll::SPARSE_AT_MOST;
use super::flows::{Ack as FlowAck, Acknowledged};
use super::log::{LogType, broker_log};
use super::online::Online;
use super::options::{Access, DisconnectReason, HookVerdict, HookedMessage, MessageHook};
use super::router::Publication;
use super::session::NEVER_EXPIRES;
use super::store::Change;
use super::subscriptions::Grant;
use super::sys::client_may_publish;
use crate::protocol::{
    Ack, Packet, Properties, Property, PropertyContext, PropertyId, Publish, QosPid, ReasonCode,
    Suback, SubackCode, Subscribe, Unsuback, Unsubscribe,
};
use crate::service::acl::AclAccess;
use crate::topic::split_shared;
use crate::topic::{TopicFilter, TopicName};

/// Why a packet ends the connection: the reason code for a 5.0 client's DISCONNECT.
pub(crate) type Violation = ReasonCode;

impl Online {
    /// Handles every complete packet buffered. A malformed packet is a protocol violation that
    /// closes this connection only (section 4.8; MQTT 5.0 section 4.13).
    pub(crate) fn handle_input(&mut self) -> Result<(), DisconnectReason> {
        // A read of a few packets is sparse traffic, where a message's latency is mostly the
        // wake-up of its subscriber's thread; a read of many is load, where handing the writing
        // to the subscribers' threads keeps publisher and subscribers working in parallel.
        let mut received = 0;
        let result = loop {
            match self.io.next_packet() {
                Ok(Some(packet)) => {
                    received += 1;
                    if let Err(reason) = self.handle(packet) {
                        break Err(reason);
                    }
                }
                Ok(None) => break Ok(()),
                Err(error) => break Err(self.violation(error.reason_code())),
            }
        };
        self.record_gathered();
        self.state
            .offer_routed(&mut self.scratch, &mut self.wakeups);
        if received <= SPARSE_AT_MOST {
            self.wakeups.deliver_or_wake_all();
        } else {
            self.wakeups.wake_all();
        }
        if received > 0 {
            self.last_received = std::time::Instant::now();
            self.busy_poll.packets_read(received);
        }
        result
    }

    /// The `debug` log line for a packet received, mosquitto's "Received PUBLISH from ID (d0, q1,
    /// r0, m1, 'topic', ... (16 bytes))" form.
    fn log_received(&self, packet: &Packet) {
        let name = format!("{:?}", packet.packet_type()).to_uppercase();
        let log = &self.state.options.log;
        match packet {
            Packet::Publish(p) => broker_log!(
                log,
                Debug,
                "Received {name} from {} (d{}, q{}, r{}, m{}, '{}', ... ({} bytes))",
                self.client_id,
                u8::from(p.dup),
                p.qospid.qos() as u8,
                u8::from(p.retain),
                p.qospid.packet_id().map_or(0, |pid| pid.get()),
                p.topic.as_str(),
                p.payload.len()
            ),
            _ => broker_log!(log, Debug, "Received {name} from {}", self.client_id),
        }
    }

    /// Records why the connection ends for breaking a rule.
    pub(crate) fn violation(&mut self, code: Violation) -> DisconnectReason {
        self.close_code = Some(code);
        DisconnectReason::ProtocolViolation
    }

    fn handle(&mut self, packet: Packet) -> Result<(), DisconnectReason> {
        if self.state.options.log.enabled(LogType::Debug) {
            self.log_received(&packet);
        }
        if names_control_characters(&packet) {
            return Err(self.violation(ReasonCode::MALFORMED_PACKET));
        }
        match packet {
            Packet::Publish(publish) => self.on_publish(publish)?,
            Packet::Puback(ack) => {
                self.on_ack(&ack, FlowAck::Puback)?;
            }
            Packet::Pubrec(ack) => {
                // MQTT 5.0 section 4.3.3: a PUBREC with a failure code ends the flow.
                let failed = !ack.reason.is_success();
                let kind = if failed {
                    FlowAck::PubrecFailed
                } else {
                    FlowAck::Pubrec
                };
                if self.on_ack(&ack, kind)? == Acknowledged::Released {
                    // [MQTT-4.3.3-1]: PUBREC is answered with PUBREL; the PUBLISH is not resent.
                    self.send(&Packet::Pubrel(ack.packet_id.into()));
                }
            }
            Packet::Pubrel(ack) => {
                // [MQTT-4.3.3-2]: PUBREL ends the dedup window for this identifier; PUBCOMP is
                // sent even for an identifier not held (a resent PUBREL after reconnect), with
                // 0x92 for a 5.0 client (MQTT 5.0 section 3.7.2.1).
                let held = self.flows().awaiting_pubrel.remove(&ack.packet_id.get());
                if held {
                    self.journal_awaiting_pubrel(ack.packet_id.get(), false);
                }
                let mut pubcomp = Ack::new(ack.packet_id);
                if !held {
                    pubcomp.reason = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                self.send(&Packet::Pubcomp(pubcomp));
            }
            Packet::Pubcomp(ack) => {
                self.on_ack(&ack, FlowAck::Pubcomp)?;
            }
            Packet::Subscribe(subscribe) => self.on_subscribe(subscribe)?,
            Packet::Unsubscribe(unsubscribe) => self.on_unsubscribe(unsubscribe),
            // [MQTT-3.12.4-1]
            Packet::Pingreq => self.send(&Packet::Pingresp),
            Packet::Disconnect(disconnect) => {
                // MQTT 5.0 section 3.14.2.2.2: a session that was to end with the connection
                // cannot be given an expiry now; trying is a protocol error.
                if let Some(expiry) = disconnect
                    .properties
                    .integer(PropertyId::SessionExpiryInterval)
                {
                    let mut state = self.session.lock();
                    if state.expiry_interval == 0 && expiry != 0 {
                        drop(state);
                        return Err(self.violation(ReasonCode::PROTOCOL_ERROR));
                    }
                    state.expiry_interval = expiry.min(self.expiry_cap());
                }
                self.close_code = Some(disconnect.reason);
                // [MQTT-3.14.4-3]: DISCONNECT discards the will, unless a 5.0 client asks for
                // it with 0x04 (MQTT 5.0 section 3.14.2.1).
                if disconnect.reason == ReasonCode::DISCONNECT_WITH_WILL_MESSAGE {
                    return Err(DisconnectReason::ConnectionLost);
                }
                return Err(DisconnectReason::ClientDisconnected);
            }
            // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
            Packet::Connect(_) => return Err(self.violation(ReasonCode::PROTOCOL_ERROR)),
            Packet::Auth(auth) => self.on_auth(auth)?,
            // Packets only a server sends.
            Packet::Connack(_) | Packet::Suback(_) | Packet::Unsuback(_) | Packet::Pingresp => {
                return Err(self.violation(ReasonCode::PROTOCOL_ERROR));
            }
        }
        Ok(())
    }

    /// The longest session expiry the broker grants, in seconds.
    fn expiry_cap(&self) -> u32 {
        self.state
            .options
            .session_expiry
            .map_or(NEVER_EXPIRES, |d| {
                d.as_secs().min(u64::from(NEVER_EXPIRES - 1)) as u32
            })
    }

    /// An acknowledgement of a message the broker sent. One of the wrong kind for the message
    /// in flight under that identifier (PUBREC for QoS 1, PUBACK for QoS 2, PUBCOMP before
    /// PUBREC) is a protocol error, as mosquitto treats it; one for no message in flight is a
    /// late duplicate and is ignored.
    fn on_ack(&mut self, ack: &Ack, kind: FlowAck) -> Result<Acknowledged, DisconnectReason> {
        let (outcome, stored) = self.flows().acknowledge(ack.packet_id, kind);
        match (outcome, stored) {
            // A settled delivery whose record a crash loses is sent again: a duplicate QoS 1
            // allows, and for QoS 2 the PUBREL owed (recorded before it was sent) is sent again,
            // which the receiver answers with PUBCOMP whatever it holds ([MQTT-4.3.3-11], MQTT
            // 5.0). So nothing waits for it.
            (Acknowledged::Settled, _) => self.journal_settled(stored),
            (Acknowledged::Released, Some(id)) => self.journal_now(Change::Sent {
                client_id: Arc::clone(&self.client_id),
                id,
                packet_id: ack.packet_id,
                released: true,
            }),
            _ => {}
        }
        match outcome {
            Acknowledged::Mismatch => Err(self.violation(ReasonCode::PROTOCOL_ERROR)),
            outcome => Ok(outcome),
        }
    }

    pub(crate) fn send(&mut self, packet: &Packet) {
        self.io.send(packet);
    }

    /// Whether the client may publish to `topic` or subscribe with it: the ACL file first (for
    /// a subscription, whether any of its read rules could ever match; a shared subscription is
    /// judged by its filter), then the authorizer callback; both must allow.
    pub(crate) fn authorized(&self, topic: &str, access: Access) -> bool {
        let by_file = match (&self.acl, access) {
            (None, _) => true,
            (Some(acl), Access::Publish) => {
                acl.check(&self.state.service_files, topic, AclAccess::Write)
            }
            (Some(acl), Access::Subscribe) => {
                let filter = split_shared(topic).map_or(topic, |(_, filter)| filter);
                acl.may_ever_read(&self.state.service_files, filter)
            }
        };
        by_file
            && match &self.state.options.authorizer {
                Some(authorize) => {
                    authorize(&self.client_id, self.username.as_deref(), topic, access)
                }
                None => true,
            }
    }

    /// The topic a PUBLISH names through its Topic Alias, when it names it only by the alias
    /// (`None`: its own topic stands) (MQTT 5.0 section 3.3.2.3.4; every alias up to the maximum
    /// is accepted, [MQTT-3.3.2-12]). An alias of 0 or above the broker's maximum is refused with
    /// 0x94, an empty topic with an alias not set before with 0x82; a topic with an alias sets
    /// the alias.
    fn resolve_topic(&mut self, publish: &Publish) -> Result<Option<TopicName>, Violation> {
        let Some(alias) = publish.properties.integer(PropertyId::TopicAlias) else {
            return Ok(None);
        };
        let maximum = self.state.options.topic_alias_maximum;
        if alias == 0 || alias > u32::from(maximum) {
            return Err(ReasonCode::TOPIC_ALIAS_INVALID);
        }
        let slot = alias as usize - 1;
        if self.aliases_in.len() < usize::from(maximum) {
            self.aliases_in.resize(usize::from(maximum), None);
        }
        if publish.topic.is_aliased() {
            self.aliases_in[slot]
                .clone()
                .map(Some)
                .ok_or(ReasonCode::PROTOCOL_ERROR)
        } else {
            self.aliases_in[slot] = Some(publish.topic.clone());
            Ok(None)
        }
    }

    /// The MQTT 5.0 rules a PUBLISH from a client must meet beyond its encoding: a QoS and
    /// RETAIN the broker supports (0x9B, 0x9A: MQTT 5.0 sections 3.2.2.3.4, 3.2.2.3.5), no
    /// Subscription Identifier (a client never sends one, [MQTT-3.3.4-6]: 0x82), a Response
    /// Topic without wildcards ([MQTT-3.3.2-14]: 0x82), and room under the broker's Receive
    /// Maximum for QoS 2 (0x93).
    fn check_publish(&mut self, publish: &Publish) -> Result<(), Violation> {
        let options = &self.state.options;
        if publish.qospid.qos() > options.maximum_qos {
            return Err(ReasonCode::QOS_NOT_SUPPORTED);
        }
        if publish.retain && !options.retain_available {
            return Err(ReasonCode::RETAIN_NOT_SUPPORTED);
        }
        let properties = &publish.properties;
        if properties.get(PropertyId::SubscriptionIdentifier).is_some() {
            return Err(ReasonCode::PROTOCOL_ERROR);
        }
        if let Some(topic) = properties.string(PropertyId::ResponseTopic)
            && TopicName::validate(topic).is_err()
        {
            return Err(ReasonCode::PROTOCOL_ERROR);
        }
        let receive_maximum = usize::from(options.receive_maximum.max(1));
        if let QosPid::ExactlyOnce(id) = publish.qospid
            && self.flows().awaiting_pubrel.len() >= receive_maximum
            && !self.flows().awaiting_pubrel.contains(&id.get())
        {
            return Err(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED);
        }
        Ok(())
    }

    /// A PUBLISH refused by the authorizer is acknowledged but not forwarded ([MQTT-3.3.5-2]);
    /// a 5.0 client learns it from the reason code 0x87 of its PUBACK or PUBREC. A payload that
    /// claims to be UTF-8 (Payload Format Indicator 1) and is not gets 0x99 (MQTT 5.0 section
    /// 3.3.2.3.2), or DISCONNECT 0x99 at QoS 0.
    fn on_publish(&mut self, mut publish: Publish) -> Result<(), DisconnectReason> {
        if self.v5 {
            if let Err(code) = self.check_publish(&publish) {
                return Err(self.violation(code));
            }
            match self.resolve_topic(&publish) {
                Ok(Some(topic)) => publish.topic = topic,
                Ok(None) => {}
                Err(code) => return Err(self.violation(code)),
            }
        }
        let topic = &publish.topic;
        let mut reason = ReasonCode::SUCCESS;
        let mut refusal: Option<Arc<str>> = None;
        if !client_may_publish(topic.as_str()) || !self.authorized(topic.as_str(), Access::Publish)
        {
            reason = ReasonCode::NOT_AUTHORIZED;
        } else if self.v5
            && publish
                .properties
                .integer(PropertyId::PayloadFormatIndicator)
                == Some(1)
            && std::str::from_utf8(&publish.payload).is_err()
        {
            if publish.qospid == QosPid::AtMostOnce {
                return Err(self.violation(ReasonCode::PAYLOAD_FORMAT_INVALID));
            }
            reason = ReasonCode::PAYLOAD_FORMAT_INVALID;
        }
        if reason.is_success()
            && publish.qospid != QosPid::AtMostOnce
            && let Some(journal) = &self.state.journal
            && let Some(why) = journal.failure()
        {
            // A message the broker cannot store is not acknowledged as if it were: a 5.0
            // client is told why, a 3.1.1 client gets no PUBACK / PUBREC and sends it again.
            if !self.v5 {
                return Err(DisconnectReason::ConnectionLost);
            }
            reason = ReasonCode::QUOTA_EXCEEDED;
            refusal = Some(why);
        }
        if reason.is_success()
            && let Some(hook) = &self.state.options.message_hook
        {
            reason = self.apply_hook(hook.clone(), &mut publish);
        }
        let forward = match publish.qospid {
            QosPid::AtMostOnce => reason.is_success(),
            // [MQTT-4.3.2-2]: PUBACK with the packet's identifier.
            QosPid::AtLeastOnce(id) => {
                self.send_acknowledgement(Packet::Puback(Ack {
                    packet_id: id,
                    reason,
                    properties: reason_string(refusal.as_deref()),
                }));
                reason.is_success()
            }
            // [MQTT-4.3.3-2]: PUBREC; a PUBLISH whose identifier awaits PUBREL is a duplicate and
            // is not forwarded again. A refused one does not wait for PUBREL (MQTT 5.0 section
            // 4.3.3: a PUBREC with a failure code ends the flow).
            QosPid::ExactlyOnce(id) => {
                let first_time =
                    reason.is_success() && self.flows().awaiting_pubrel.insert(id.get());
                if first_time {
                    self.journal_awaiting_pubrel(id.get(), true);
                }
                self.send_acknowledgement(Packet::Pubrec(Ack {
                    packet_id: id,
                    reason,
                    properties: reason_string(refusal.as_deref()),
                }));
                first_time
            }
        };
        if forward {
            let publication = Publication {
                topic: publish.topic,
                payload: publish.payload,
                qos: publish.qospid.qos(),
                retain: publish.retain,
                properties: publish.properties,
                publisher: Some(Arc::clone(&self.client_id)),
                internal: false,
            };
            self.state
                .route_deferred(publication, &mut self.scratch, &mut self.wakeups);
        }
        Ok(())
    }

    /// Asks the host's message hook about `publish`, rewriting it if the hook says so; returns
    /// the reason code for the acknowledgement (a failure means: do not route). A replacement
    /// topic that is not a valid topic name drops the message with 0x90.
    fn apply_hook(&self, hook: MessageHook, publish: &mut Publish) -> ReasonCode {
        let verdict = hook(&HookedMessage {
            client_id: &self.client_id,
            username: self.username.as_deref(),
            topic: publish.topic.as_str(),
            payload: &publish.payload,
            qos: publish.qospid.qos(),
            retain: publish.retain,
            properties: &publish.properties,
        });
        match verdict {
            HookVerdict::Accept => ReasonCode::SUCCESS,
            // A code PUBACK and PUBREC cannot carry reads as unspecified error.
            HookVerdict::Drop(code)
                if code.is_valid_in(PropertyContext::Puback) && !code.is_success() =>
            {
                code
            }
            HookVerdict::Drop(_) => ReasonCode::UNSPECIFIED_ERROR,
            HookVerdict::Replace { topic, payload } => match TopicName::new(&topic) {
                Ok(topic) => {
                    publish.topic = topic;
                    publish.payload = Arc::from(payload);
                    ReasonCode::SUCCESS
                }
                Err(_) => ReasonCode::TOPIC_NAME_INVALID,
            },
        }
    }

    /// SUBACK carries one code per filter, in order, with the same packet identifier
    /// ([MQTT-3.8.4-1], [MQTT-3.8.4-2], [MQTT-3.8.4-4], [MQTT-3.8.4-5]): the granted QoS (the
    /// requested one, capped at the broker's Maximum QoS), or a failure — 0x80 for MQTT 3.1.1;
    /// for 5.0 0x8F for an invalid filter, 0x87 for one the authorizer refuses, 0xA2 for a
    /// wildcard when wildcards are off, 0x9E for a shared subscription. Retained messages
    /// matching each accepted filter follow, with RETAIN set ([MQTT-3.3.1-6], [MQTT-3.3.1-8]),
    /// also when the subscription replaces an earlier one ([MQTT-3.8.4-3]), unless its Retain
    /// Handling says otherwise (MQTT 5.0 section 3.8.3.1).
    fn on_subscribe(&mut self, subscribe: Subscribe) -> Result<(), DisconnectReason> {
        let identifier = subscribe
            .properties
            .integer(PropertyId::SubscriptionIdentifier)
            .unwrap_or(0);
        if identifier != 0 && !self.state.options.subscription_identifiers {
            return Err(self.violation(ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED));
        }
        let mut codes = Vec::with_capacity(subscribe.topics.len());
        let mut retained = Vec::new();
        for topic in subscribe.topics {
            let failure = |v5_code| {
                if self.v5 {
                    v5_code
                } else {
                    SubackCode::Failure.to_reason()
                }
            };
            let shared = topic.filter.starts_with("$share/");
            if shared && !self.state.options.shared_subscriptions {
                codes.push(failure(ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED));
                continue;
            }
            // MQTT 5.0 [MQTT-4.8.2-1], [MQTT-4.8.2-2]: a share name, then a valid filter.
            let inner = match split_shared(&topic.filter) {
                Some((_, inner)) => inner,
                None if shared => "",
                None => &topic.filter,
            };
            let filter = match TopicFilter::validate(inner).and(TopicFilter::new(&topic.filter)) {
                Ok(filter) => filter,
                Err(_) => {
                    codes.push(failure(ReasonCode::TOPIC_FILTER_INVALID));
                    continue;
                }
            };
            // MQTT 5.0 [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol error.
            if shared && topic.options.no_local {
                return Err(self.violation(ReasonCode::PROTOCOL_ERROR));
            }
            if TopicFilter::new(inner).is_ok_and(|f| f.has_wildcards())
                && !self.state.options.wildcard_subscriptions
            {
                codes.push(failure(ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED));
                continue;
            }
            if !self.authorized(filter.as_str(), Access::Subscribe) {
                codes.push(failure(ReasonCode::NOT_AUTHORIZED));
                continue;
            }
            let grant = Grant {
                qos: topic.qos.min(self.state.options.maximum_qos),
                no_local: topic.options.no_local,
                retain_as_published: topic.options.retain_as_published,
                identifier,
                shared,
            };
            let retained_now = self.state.retained_matching(filter.as_str());
            let new = self.state.subscribe(&self.session, filter, grant);
            // Retained messages go to new non-shared subscriptions only (MQTT 5.0 section
            // 3.3.1.3).
            let send_retained = !shared
                && match topic.options.retain_handling {
                    0 => true,
                    1 => new,
                    _ => false,
                };
            if send_retained {
                let identifiers: Box<[u32]> = match identifier {
                    0 => Box::default(),
                    id => Box::new([id]),
                };
                for r in retained_now {
                    retained.push(r.delivery(grant.qos, identifiers.clone()));
                }
            }
            broker_log!(
                self.state.options.log,
                Subscribe,
                "{} {} {}",
                self.client_id,
                grant.qos as u8,
                topic.filter
            );
            codes.push(SubackCode::Granted(grant.qos).to_reason());
        }
        self.send(&Packet::Suback(Suback {
            packet_id: subscribe.packet_id,
            codes,
            properties: Properties::new(),
        }));
        self.flows().pending.extend(retained);
        Ok(())
    }

    /// UNSUBACK is sent even when no filter matched a subscription ([MQTT-3.10.4-4],
    /// [MQTT-3.10.4-5]); a 5.0 client gets a code per filter: success, 0x11 when there was no
    /// such subscription, 0x8F for an invalid filter (MQTT 5.0 section 3.11.3).
    fn on_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        let mut unsuback = Unsuback::new(unsubscribe.packet_id);
        for filter in &unsubscribe.filters {
            broker_log!(
                self.state.options.log,
                Unsubscribe,
                "{} {filter}",
                self.client_id
            );
            let existed = self.state.unsubscribe(&self.session, filter);
            let code = if TopicFilter::validate(filter).is_err() {
                ReasonCode::TOPIC_FILTER_INVALID
            } else if existed {
                ReasonCode::SUCCESS
            } else {
                ReasonCode::NO_SUBSCRIPTION_EXISTED
            };
            unsuback.codes.push(code);
        }
        self.send(&Packet::Unsuback(unsuback));
    }
}

/// Whether `text` holds a control character, U+0001 to U+001F or U+007F to U+009F (U+0000 the
/// codec already refuses). MQTT 5.0 section 1.5.4 (3.1.1 section 1.5.3) lets a receiver treat a
/// string holding one as malformed; the broker does so for client identifiers, user names, topic
/// names and topic filters, as mosquitto 2.0 does, and at every protocol level. Payloads and
/// property values are left alone.
pub(crate) fn has_control_characters(text: &str) -> bool {
    let bytes = text.as_bytes();
    // U+0080..U+009F are the two-byte sequences C2 80..C2 9F; every other control is one byte.
    bytes.iter().enumerate().any(|(i, &b)| {
        b < 0x20 || b == 0x7f || (b == 0xc2 && bytes.get(i + 1).is_some_and(|n| *n <= 0x9f))
    })
}

/// Whether a PUBLISH topic or a SUBSCRIBE or UNSUBSCRIBE filter holds a control character.
fn names_control_characters(packet: &Packet) -> bool {
    match packet {
        Packet::Publish(publish) => has_control_characters(publish.topic.as_str()),
        Packet::Subscribe(subscribe) => subscribe
            .topics
            .iter()
            .any(|t| has_control_characters(&t.filter)),
        Packet::Unsubscribe(unsubscribe) => unsubscribe
            .filters
            .iter()
            .any(|f| has_control_characters(f)),
        _ => false,
    }
}

/// A Reason String property saying `why`, if anything (MQTT 5.0 section 3.4.2.2.2).
fn reason_string(why: Option<&str>) -> Properties {
    let mut properties = Properties::new();
    if let Some(why) = why {
        properties.push(Property::ReasonString(why.to_owned()));
    }
    properties
}

/// The will of a connection as a message to route; the will properties travel with it.
pub(crate) fn will_publication(will: crate::protocol::LastWill) -> Publication {
    Publication {
        topic: will.topic,
        payload: Arc::from(will.payload),
        qos: will.qos,
        retain: will.retain,
        properties: will.properties,
        publisher: None,
        internal: false,
    }
}
