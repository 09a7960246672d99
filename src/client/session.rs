//! Session bookkeeping with no I/O: packet identifiers in use, what each outgoing identifier
//! waits for, QoS 2 identifiers received and not yet released, pings — and, for a persistent
//! session (clean session 0), the unacknowledged PUBLISH packets to re-send on reconnect — and
//! the offline queue: publishes made while the connection is down, sent first thing after the
//! next CONNACK.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use crate::protocol::{
    EncodeError, PacketId, Properties, QoS, QosPid, ReasonCode, encode_publish, encode_publish_v5,
};

use super::error::ServerReason;
use super::options::{OfflineQueue, QueueOverflow};

/// What an identifier this client chose is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outgoing {
    /// QoS 1 PUBLISH sent.
    Puback,
    /// QoS 2 PUBLISH sent.
    Pubrec,
    /// PUBREL sent after PUBREC.
    Pubcomp,
    /// SUBSCRIBE sent; the reason codes once SUBACK arrives (MQTT 3.1.1 return codes read as
    /// the MQTT 5.0 codes of the same value).
    Suback(Option<Vec<ReasonCode>>),
    /// UNSUBSCRIBE sent; the reason codes once UNSUBACK arrives (none in MQTT 3.1.1).
    Unsuback(Option<Vec<ReasonCode>>),
}

/// The reaction an acknowledgement calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    /// Nothing to send.
    Done,
    /// Send PUBREL for this identifier.
    SendPubrel(PacketId),
    /// The identifier was not waiting for this packet; ignored.
    Unexpected,
}

/// What a persistent session keeps of an unfinished QoS 1 or 2 publish, to re-send it.
struct Unfinished {
    /// Orders re-sends: when the PUBLISH was first sent, or when its PUBREC arrived.
    order: u64,
    /// The encoded PUBLISH until PUBACK/PUBREC; `None` once PUBREL is owed instead.
    publish: Option<Vec<u8>>,
}

/// A packet to re-send when a persistent session resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resend {
    /// An encoded PUBLISH, DUP already set ([MQTT-3.3.1-1]).
    Publish(Vec<u8>),
    Pubrel(PacketId),
}

/// A publish waiting in the offline queue: never sent yet, so no DUP ([MQTT-3.3.1-1]).
struct OfflinePublish {
    /// Reserved at queue time (QoS 1 and 2), so callers can wait for it.
    id: Option<PacketId>,
    encoded: Vec<u8>,
}

/// Why a publish could not be queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueueError {
    /// The queue's message or byte limit (with the refuse-new policy, or a message larger than
    /// the whole byte limit).
    Full,
    /// All 65535 packet identifiers are in use.
    NoIdentifier,
    Encode(EncodeError),
}

/// A publish accepted into the offline queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Enqueued {
    pub(crate) id: Option<PacketId>,
    /// QoS 1/2 identifiers of older publishes dropped to make room (drop-oldest policy).
    pub(crate) dropped: Vec<PacketId>,
    /// How many publishes were dropped, QoS 0 ones included.
    pub(crate) dropped_count: usize,
}

pub(crate) struct Session {
    next_id: u16,
    offline: VecDeque<OfflinePublish>,
    offline_bytes: usize,
    outgoing: HashMap<u16, Outgoing>,
    /// How finished publishes ended, when the server said more than plain success (an MQTT 5.0
    /// reason code other than 0, or a Reason String); dropped when the identifier is reused.
    results: HashMap<u16, ServerReason>,
    inflight_publishes: usize,
    /// The window in force: the configured one, or less when the server's Receive Maximum is.
    max_inflight: usize,
    configured_inflight: usize,
    /// QoS 2 PUBLISH identifiers dispatched and not yet released by PUBREL: a resent PUBLISH
    /// with one of these is acknowledged but not dispatched again (section 4.3.3, method B).
    awaiting_pubrel: HashSet<u16>,
    /// QoS 1 and QoS 2 PUBLISH packets received on this connection and not yet answered (PUBACK,
    /// or PUBREC for QoS 2).
    incoming_unanswered: usize,
    /// Clean session 0: unfinished publishes are kept for re-sending.
    persistent: bool,
    unfinished: HashMap<u16, Unfinished>,
    next_order: u64,
    pub(crate) pings_sent: u64,
    pub(crate) pingresps_received: u64,
    /// When the oldest unanswered PINGREQ went out.
    pub(crate) ping_outstanding_since: Option<Instant>,
}

impl Session {
    pub(crate) fn new(max_inflight: usize, persistent: bool) -> Session {
        Session {
            offline: VecDeque::new(),
            offline_bytes: 0,
            persistent,
            unfinished: HashMap::new(),
            next_order: 0,
            next_id: 0,
            outgoing: HashMap::new(),
            results: HashMap::new(),
            inflight_publishes: 0,
            max_inflight,
            configured_inflight: max_inflight,
            awaiting_pubrel: HashSet::new(),
            incoming_unanswered: 0,
            pings_sent: 0,
            pingresps_received: 0,
            ping_outstanding_since: None,
        }
    }

    pub(crate) fn window_full(&self) -> bool {
        self.inflight_publishes >= self.max_inflight
    }

    /// Applies the Receive Maximum of the server's CONNACK (65535 when it sent none): never
    /// more QoS 1/2 publishes unacknowledged than that (MQTT 5.0 [MQTT-3.3.4-7]).
    pub(crate) fn set_server_receive_maximum(&mut self, maximum: u16) {
        self.max_inflight = self.configured_inflight.min(usize::from(maximum.max(1)));
    }

    /// How the publish `id` ended, when the server said more than plain success; taken once.
    pub(crate) fn take_result(&mut self, id: PacketId) -> Option<ServerReason> {
        self.results.remove(&id.get())
    }

    /// Reserves a fresh identifier for `what`; `None` when all 65535 are in use.
    pub(crate) fn allocate(&mut self, what: Outgoing) -> Option<PacketId> {
        if self.outgoing.len() >= u16::MAX as usize {
            return None;
        }
        loop {
            self.next_id = self.next_id.wrapping_add(1);
            let Some(id) = PacketId::new(self.next_id) else {
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(v) = self.outgoing.entry(id.get()) {
                if matches!(what, Outgoing::Puback | Outgoing::Pubrec) {
                    self.inflight_publishes += 1;
                }
                v.insert(what);
                if !self.results.is_empty() {
                    self.results.remove(&id.get());
                }
                return Some(id);
            }
        }
    }

    /// Reserves an identifier for a QoS 1 or 2 PUBLISH.
    pub(crate) fn allocate_publish(&mut self, qos: QoS) -> Option<PacketId> {
        match qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => self.allocate(Outgoing::Puback),
            QoS::ExactlyOnce => self.allocate(Outgoing::Pubrec),
        }
    }

    pub(crate) fn is_publish_inflight(&self, id: PacketId) -> bool {
        matches!(
            self.outgoing.get(&id.get()),
            Some(Outgoing::Puback | Outgoing::Pubrec | Outgoing::Pubcomp)
        )
    }

    /// Keeps the encoded PUBLISH for `id` so a reconnect can re-send it; called before it is
    /// first sent, so no acknowledgement can precede it. Does nothing for a clean session, or
    /// when a clean-session reconnect discarded `id` meanwhile (false then).
    pub(crate) fn keep_publish(&mut self, id: PacketId, encoded: &[u8]) -> bool {
        if !matches!(
            self.outgoing.get(&id.get()),
            Some(Outgoing::Puback | Outgoing::Pubrec)
        ) {
            return false;
        }
        if self.persistent {
            self.next_order += 1;
            self.unfinished.insert(
                id.get(),
                Unfinished {
                    order: self.next_order,
                    publish: Some(encoded.to_vec()),
                },
            );
        }
        true
    }

    fn finish_publish(&mut self, id: PacketId, result: Option<ServerReason>) {
        self.outgoing.remove(&id.get());
        self.unfinished.remove(&id.get());
        self.inflight_publishes -= 1;
        if let Some(result) = result {
            self.results.insert(id.get(), result);
        }
    }

    /// PUBACK; `result` is what the server said beyond plain success (MQTT 5.0).
    pub(crate) fn on_puback(&mut self, id: PacketId, result: Option<ServerReason>) -> AckOutcome {
        if self.outgoing.get(&id.get()) == Some(&Outgoing::Puback) {
            self.finish_publish(id, result);
            AckOutcome::Done
        } else {
            AckOutcome::Unexpected
        }
    }

    /// PUBREC: the sender answers with PUBREL and then waits for PUBCOMP ([MQTT-4.3.3-1]). An
    /// MQTT 5.0 PUBREC with a reason code of 0x80 or above ends the exchange instead: the
    /// identifier is free again and no PUBREL follows (MQTT 5.0 section 4.3.3).
    pub(crate) fn on_pubrec(&mut self, id: PacketId, result: Option<ServerReason>) -> AckOutcome {
        if let Some(refusal) = result.as_ref().filter(|r| !r.code.is_success()) {
            if self.outgoing.get(&id.get()) == Some(&Outgoing::Pubrec) {
                let refusal = refusal.clone();
                self.finish_publish(id, Some(refusal));
                return AckOutcome::Done;
            }
            return AckOutcome::Unexpected;
        }
        match self.outgoing.get_mut(&id.get()) {
            Some(state @ Outgoing::Pubrec) => {
                *state = Outgoing::Pubcomp;
                if let Some(kept) = self.unfinished.get_mut(&id.get()) {
                    // From now on PUBREL is re-sent, never the PUBLISH ([MQTT-4.3.3-1]), in
                    // the order the PUBRECs arrived ([MQTT-4.6.0-3]).
                    self.next_order += 1;
                    kept.order = self.next_order;
                    kept.publish = None;
                }
                AckOutcome::SendPubrel(id)
            }
            // A resent PUBREC (e.g. our PUBREL crossed it) is answered again.
            Some(Outgoing::Pubcomp) => AckOutcome::SendPubrel(id),
            _ => AckOutcome::Unexpected,
        }
    }

    pub(crate) fn on_pubcomp(&mut self, id: PacketId, result: Option<ServerReason>) -> AckOutcome {
        if self.outgoing.get(&id.get()) == Some(&Outgoing::Pubcomp) {
            self.finish_publish(id, result);
            AckOutcome::Done
        } else {
            AckOutcome::Unexpected
        }
    }

    pub(crate) fn on_suback(&mut self, id: PacketId, codes: Vec<ReasonCode>) -> AckOutcome {
        match self.outgoing.get_mut(&id.get()) {
            Some(Outgoing::Suback(slot @ None)) => {
                *slot = Some(codes);
                AckOutcome::Done
            }
            _ => AckOutcome::Unexpected,
        }
    }

    pub(crate) fn on_unsuback(&mut self, id: PacketId, codes: Vec<ReasonCode>) -> AckOutcome {
        match self.outgoing.get_mut(&id.get()) {
            Some(Outgoing::Unsuback(slot @ None)) => {
                *slot = Some(codes);
                AckOutcome::Done
            }
            _ => AckOutcome::Unexpected,
        }
    }

    /// Takes the SUBACK codes for `id` once they have arrived, freeing the identifier.
    pub(crate) fn take_suback(&mut self, id: PacketId) -> Option<Vec<ReasonCode>> {
        if let Some(Outgoing::Suback(Some(_))) = self.outgoing.get(&id.get())
            && let Some(Outgoing::Suback(codes)) = self.outgoing.remove(&id.get())
        {
            return codes;
        }
        None
    }

    /// Takes the UNSUBACK codes for `id` once they have arrived (empty in MQTT 3.1.1),
    /// freeing the identifier.
    pub(crate) fn take_unsuback(&mut self, id: PacketId) -> Option<Vec<ReasonCode>> {
        if let Some(Outgoing::Unsuback(Some(_))) = self.outgoing.get(&id.get())
            && let Some(Outgoing::Unsuback(codes)) = self.outgoing.remove(&id.get())
        {
            return codes;
        }
        None
    }

    /// Frees a SUBSCRIBE or UNSUBSCRIBE identifier whose caller stopped waiting; a late reply
    /// is then ignored.
    pub(crate) fn abandon(&mut self, id: PacketId) {
        if matches!(
            self.outgoing.get(&id.get()),
            Some(Outgoing::Suback(_) | Outgoing::Unsuback(_))
        ) {
            self.outgoing.remove(&id.get());
        }
    }

    /// Records an incoming QoS 2 PUBLISH; false when it is a resend of one not yet released,
    /// which must not be delivered again ([MQTT-4.3.3-2]).
    pub(crate) fn receive_qos2(&mut self, id: PacketId) -> bool {
        self.awaiting_pubrel.insert(id.get())
    }

    /// Counts a QoS 1 or 2 PUBLISH received; [`Session::answered`] when its PUBACK or PUBREC
    /// goes out.
    pub(crate) fn receive_unanswered(&mut self) {
        self.incoming_unanswered += 1;
    }

    pub(crate) fn answered(&mut self) {
        self.incoming_unanswered = self.incoming_unanswered.saturating_sub(1);
    }

    /// QoS 1 and 2 PUBLISH packets received and not yet answered: what the Receive Maximum
    /// this client announced bounds (MQTT 5.0 section 3.3.4). The specification counts QoS 2
    /// messages until PUBCOMP; mosquitto 2.0 frees them at PUBREC and so sends more than that,
    /// which a strict count would answer with DISCONNECT 0x93. Counting to PUBREC still bounds
    /// what the client holds (a message past PUBREC is only an identifier awaiting PUBREL).
    pub(crate) fn incoming_unacknowledged(&self) -> usize {
        self.incoming_unanswered
    }

    /// PUBREL: the identifier may be used for a new message again.
    pub(crate) fn release_qos2(&mut self, id: PacketId) {
        self.awaiting_pubrel.remove(&id.get());
    }

    /// Puts a publish made while the connection is down into the offline queue, within
    /// `limits`: reserves its identifier (QoS 1/2) and encodes it.
    pub(crate) fn enqueue(
        &mut self,
        limits: &OfflineQueue,
        message: &OutgoingMessage<'_>,
    ) -> Result<Enqueued, QueueError> {
        let qos = message.qos;
        // The encoded size does not depend on the identifier's value.
        let size = message.size(qos != QoS::AtMostOnce);
        if size > limits.max_bytes || limits.max_messages == 0 {
            return Err(QueueError::Full);
        }
        let fits = |s: &Session| {
            s.offline.len() < limits.max_messages && s.offline_bytes + size <= limits.max_bytes
        };
        let mut enqueued = Enqueued {
            id: None,
            dropped: Vec::new(),
            dropped_count: 0,
        };
        if !fits(self) && limits.overflow == QueueOverflow::RefuseNew {
            return Err(QueueError::Full);
        }
        while !fits(self) {
            let oldest = self
                .offline
                .pop_front()
                .expect("a queue that does not fit is not empty");
            self.offline_bytes -= oldest.encoded.len();
            enqueued.dropped_count += 1;
            if let Some(id) = oldest.id {
                self.outgoing.remove(&id.get());
                self.inflight_publishes -= 1;
                enqueued.dropped.push(id);
            }
        }
        let id = match qos {
            QoS::AtMostOnce => None,
            qos => Some(self.allocate_publish(qos).ok_or(QueueError::NoIdentifier)?),
        };
        let mut encoded = Vec::with_capacity(size);
        let qospid = id.map_or(QosPid::AtMostOnce, |id| QosPid::new(qos, id));
        if let Err(e) = message.encode(&mut encoded, false, qospid) {
            if let Some(id) = id {
                self.outgoing.remove(&id.get());
                self.inflight_publishes -= 1;
            }
            return Err(QueueError::Encode(e));
        }
        self.offline_bytes += encoded.len();
        self.offline.push_back(OfflinePublish { id, encoded });
        enqueued.id = id;
        Ok(enqueued)
    }

    /// Whether the publish `id` waits in the offline queue.
    pub(crate) fn is_queued_offline(&self, id: PacketId) -> bool {
        self.offline.iter().any(|q| q.id == Some(id))
    }

    /// Takes from the offline queue, in the order queued, what may be sent now: every publish up
    /// to the first QoS 1/2 one that would exceed the send window — the server's Receive
    /// Maximum counts publishes sent and unacknowledged ([MQTT-3.3.4-7] of MQTT 5.0); the rest
    /// goes as acknowledgements free the window ([`Session::has_offline`]). A persistent
    /// session keeps the QoS 1/2 ones for re-sending from now on.
    pub(crate) fn take_offline(&mut self) -> Vec<Vec<u8>> {
        let waiting = self.offline.iter().filter(|q| q.id.is_some()).count();
        let mut sent_inflight = self.inflight_publishes - waiting;
        let mut out = Vec::new();
        while let Some(front) = self.offline.front() {
            if front.id.is_some() {
                if sent_inflight >= self.max_inflight {
                    break;
                }
                sent_inflight += 1;
            }
            let Some(q) = self.offline.pop_front() else {
                break;
            };
            self.offline_bytes -= q.encoded.len();
            if let Some(id) = q.id {
                self.keep_publish(id, &q.encoded);
            }
            out.push(q.encoded);
        }
        out
    }

    /// Whether publishes wait in the offline queue.
    pub(crate) fn has_offline(&self) -> bool {
        !self.offline.is_empty()
    }

    /// Forgets what belonged to the previous connection only: pings and the SUBSCRIBE and
    /// UNSUBSCRIBE identifiers, whose callers were told the connection closed.
    fn forget_connection(&mut self) {
        self.outgoing
            .retain(|_, what| !matches!(what, Outgoing::Suback(_) | Outgoing::Unsuback(_)));
        self.pingresps_received = self.pings_sent;
        self.ping_outstanding_since = None;
        self.incoming_unanswered = 0;
    }

    /// A clean-session reconnect: the broker starts a new session, so every unfinished publish
    /// that was sent is dropped; returns their identifiers in ascending order. Publishes in the
    /// offline queue were never sent and stay.
    pub(crate) fn discard(&mut self) -> Vec<PacketId> {
        self.forget_connection();
        let queued: HashSet<u16> = self
            .offline
            .iter()
            .filter_map(|q| q.id)
            .map(PacketId::get)
            .collect();
        let mut dropped: Vec<PacketId> = self
            .outgoing
            .keys()
            .filter(|id| !queued.contains(id))
            .filter_map(|&id| PacketId::new(id))
            .collect();
        dropped.sort_unstable();
        self.outgoing.retain(|id, _| queued.contains(id));
        self.unfinished.clear();
        self.inflight_publishes = queued.len();
        self.awaiting_pubrel.clear();
        dropped
    }

    /// A persistent session resumes on a new connection: what to re-send, in the original order
    /// ([MQTT-4.4.0-1], [MQTT-4.6.0-1], [MQTT-4.6.0-3]) — each unacknowledged PUBLISH with DUP
    /// set and its original identifier, and PUBREL for each one past PUBREC. Without
    /// `session_present` the broker lost its side: it will not re-send the QoS 2 messages we
    /// await PUBREL for, so their identifiers are released; ours are still re-sent, so nothing
    /// this client published is lost (a PUBREL the broker does not know is answered with
    /// PUBCOMP).
    pub(crate) fn resume(&mut self, session_present: bool) -> Vec<Resend> {
        self.forget_connection();
        if !session_present {
            self.awaiting_pubrel.clear();
        }
        let mut pending: Vec<(u64, u16)> = self
            .unfinished
            .iter()
            .map(|(&id, u)| (u.order, id))
            .collect();
        pending.sort_unstable();
        pending
            .into_iter()
            .filter_map(|(_, id)| {
                let kept = self.unfinished.get_mut(&id)?;
                Some(match &mut kept.publish {
                    Some(encoded) => {
                        encoded[0] |= DUP_FLAG;
                        Resend::Publish(encoded.clone())
                    }
                    None => Resend::Pubrel(PacketId::new(id)?),
                })
            })
            .collect()
    }
}

/// A PUBLISH to make, before it has an identifier.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutgoingMessage<'a> {
    pub(crate) topic: &'a str,
    pub(crate) payload: &'a [u8],
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    /// `Some` for an MQTT 5.0 connection: the PUBLISH properties (perhaps none).
    pub(crate) properties: Option<&'a Properties>,
}

impl OutgoingMessage<'_> {
    /// Bytes the PUBLISH takes on the wire with the full topic name, with or without a packet
    /// identifier.
    pub(crate) fn size(&self, with_id: bool) -> usize {
        let properties = self.properties.map_or(0, |p| {
            let body = p.body_len().unwrap_or(usize::MAX / 4);
            var_int_len(body) + body
        });
        let remaining =
            2 + self.topic.len() + 2 * usize::from(with_id) + properties + self.payload.len();
        1 + var_int_len(remaining) + remaining
    }

    /// Appends the PUBLISH with the full topic name and no Topic Alias: the form kept for
    /// re-sending, valid on any connection.
    pub(crate) fn encode(
        &self,
        out: &mut Vec<u8>,
        dup: bool,
        qospid: QosPid,
    ) -> Result<(), EncodeError> {
        match self.properties {
            None => encode_publish(out, dup, qospid, self.retain, self.topic, self.payload),
            Some(properties) => encode_publish_v5(
                out,
                dup,
                qospid,
                self.retain,
                self.topic,
                self.payload,
                properties,
                &[],
            ),
        }
    }
}

/// Bytes a Variable Byte Integer takes (MQTT 5.0 section 1.5.5).
fn var_int_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// The DUP bit of a PUBLISH's first byte (section 3.3.1.1).
const DUP_FLAG: u8 = 0x08;

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> PacketId {
        PacketId::new(n).unwrap()
    }

    #[test]
    fn identifiers_skip_zero_and_ids_in_use() {
        let mut s = Session::new(10, false);
        s.next_id = u16::MAX - 1;
        let a = s.allocate(Outgoing::Puback).unwrap();
        assert_eq!(a.get(), u16::MAX);
        let b = s.allocate(Outgoing::Unsuback(None)).unwrap();
        assert_eq!(b.get(), 1, "zero is never an identifier [MQTT-2.3.1-1]");
        s.next_id = u16::MAX - 1;
        let c = s.allocate(Outgoing::Puback).unwrap();
        assert_eq!(c.get(), 2, "identifiers in use are skipped");
    }

    #[test]
    fn qos2_outgoing_flow_and_window() {
        let mut s = Session::new(1, false);
        let p = s.allocate_publish(QoS::ExactlyOnce).unwrap();
        assert!(s.window_full());
        assert_eq!(s.on_puback(p, None), AckOutcome::Unexpected);
        assert_eq!(s.on_pubcomp(p, None), AckOutcome::Unexpected);
        assert_eq!(s.on_pubrec(p, None), AckOutcome::SendPubrel(p));
        assert_eq!(s.on_pubrec(p, None), AckOutcome::SendPubrel(p));
        assert!(s.is_publish_inflight(p));
        assert_eq!(s.on_pubcomp(p, None), AckOutcome::Done);
        assert!(!s.is_publish_inflight(p));
        assert!(!s.window_full());
    }

    #[test]
    fn subscribe_replies_are_taken_once() {
        let mut s = Session::new(1, false);
        let sub = s.allocate(Outgoing::Suback(None)).unwrap();
        assert_eq!(s.take_suback(sub), None);
        let codes = vec![ReasonCode::GRANTED_QOS_1];
        assert_eq!(s.on_suback(sub, codes.clone()), AckOutcome::Done);
        assert_eq!(s.on_suback(sub, codes.clone()), AckOutcome::Unexpected);
        assert_eq!(s.take_suback(sub), Some(codes));
        assert_eq!(s.take_suback(sub), None);
        let unsub = s.allocate(Outgoing::Unsuback(None)).unwrap();
        s.abandon(unsub);
        assert_eq!(s.on_unsuback(unsub, vec![]), AckOutcome::Unexpected);
        assert!(!s.window_full());
    }

    fn encoded(id: PacketId, qos: QoS) -> Vec<u8> {
        let mut out = Vec::new();
        let qospid = crate::protocol::QosPid::new(qos, id);
        crate::protocol::encode_publish(&mut out, false, qospid, false, "t", b"p").unwrap();
        out
    }

    #[test]
    fn persistent_session_resends_in_order_with_dup() {
        let mut s = Session::new(10, true);
        let a = s.allocate_publish(QoS::ExactlyOnce).unwrap();
        let b = s.allocate_publish(QoS::AtLeastOnce).unwrap();
        let c = s.allocate_publish(QoS::AtLeastOnce).unwrap();
        let sub = s.allocate(Outgoing::Suback(None)).unwrap();
        for (id, qos) in [
            (a, QoS::ExactlyOnce),
            (b, QoS::AtLeastOnce),
            (c, QoS::AtLeastOnce),
        ] {
            assert!(s.keep_publish(id, &encoded(id, qos)));
        }
        assert_eq!(s.on_puback(c, None), AckOutcome::Done);
        assert_eq!(s.on_pubrec(a, None), AckOutcome::SendPubrel(a));
        assert!(s.receive_qos2(id(9)));
        let mut dup_b = encoded(b, QoS::AtLeastOnce);
        dup_b[0] |= DUP_FLAG;
        // b was sent first, but a's PUBREC came later: PUBLISH b, then PUBREL a.
        assert_eq!(
            s.resume(true),
            vec![Resend::Publish(dup_b.clone()), Resend::Pubrel(a)]
        );
        assert!(
            !s.receive_qos2(id(9)),
            "still awaiting PUBREL from the broker"
        );
        assert!(s.is_publish_inflight(a) && s.is_publish_inflight(b));
        assert_eq!(s.on_suback(sub, vec![]), AckOutcome::Unexpected);
        assert_eq!(
            s.resume(false),
            vec![Resend::Publish(dup_b), Resend::Pubrel(a)]
        );
        assert!(
            s.receive_qos2(id(9)),
            "a new broker session re-sends nothing"
        );
        assert_eq!(s.on_puback(b, None), AckOutcome::Done);
        assert_eq!(s.on_pubcomp(a, None), AckOutcome::Done);
        assert_eq!(s.resume(true), vec![]);
        assert!(!s.window_full());
    }

    #[test]
    fn clean_session_discards_unfinished_publishes() {
        let mut s = Session::new(2, false);
        let a = s.allocate_publish(QoS::AtLeastOnce).unwrap();
        let b = s.allocate_publish(QoS::ExactlyOnce).unwrap();
        assert!(s.keep_publish(a, &encoded(a, QoS::AtLeastOnce)));
        assert!(s.window_full());
        assert!(s.receive_qos2(id(3)));
        assert_eq!(s.discard(), vec![a, b]);
        assert!(!s.keep_publish(b, &encoded(b, QoS::ExactlyOnce)));
        assert!(!s.is_publish_inflight(a) && !s.window_full());
        assert!(s.receive_qos2(id(3)));
    }

    #[test]
    fn refused_pubrec_ends_the_exchange_and_keeps_the_reason() {
        let mut s = Session::new(1, false);
        let p = s.allocate_publish(QoS::ExactlyOnce).unwrap();
        let refusal = ServerReason {
            code: ReasonCode::QUOTA_EXCEEDED,
            reason_string: Some("full".into()),
            server_reference: None,
        };
        // MQTT 5.0 section 4.3.3: no PUBREL after a PUBREC of 0x80 or above.
        assert_eq!(s.on_pubrec(p, Some(refusal.clone())), AckOutcome::Done);
        assert!(!s.is_publish_inflight(p) && !s.window_full());
        assert_eq!(s.take_result(p), Some(refusal));
        assert_eq!(s.take_result(p), None);
        s.set_server_receive_maximum(0);
        assert_eq!(s.max_inflight, 1);
    }

    #[test]
    fn qos2_received_once_until_released() {
        let mut s = Session::new(1, false);
        assert!(s.receive_qos2(id(7)));
        assert!(!s.receive_qos2(id(7)));
        s.release_qos2(id(7));
        assert!(s.receive_qos2(id(7)));
    }
}
