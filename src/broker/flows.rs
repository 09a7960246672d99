//! Per-session QoS 1 and 2 state: outgoing messages awaiting acknowledgement (the in-flight
//! window), packet identifier allocation, incoming QoS 2 identifiers awaiting PUBREL, and
//! deliveries not yet sent. A connection thread owns it while connected; a persistent session
//! keeps it while the client is away.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use super::message::{Delivery, Message};
use super::store::{Change, Journal};
use crate::protocol::{PacketId, QoS};

/// Packet identifiers cycle through 1..=65535 ([MQTT-2.3.1-1]: never 0).
const ID_SPACE: u64 = u16::MAX as u64;

#[derive(Debug)]
pub(crate) struct Inflight {
    /// Allocation sequence number; the packet id is derived from it.
    pub seq: u64,
    pub packet_id: PacketId,
    pub qos: QoS,
    pub retain: bool,
    pub message: Arc<Message>,
    /// The delivery's Subscription Identifiers, sent again with a resent PUBLISH.
    pub identifiers: Box<[u32]>,
    /// QoS 2 only: PUBREC received and PUBREL sent, so the message itself is settled
    /// ([MQTT-4.3.3-1]: after PUBREC the sender sends PUBREL and no longer resends the PUBLISH).
    pub released: bool,
    /// Its number in the persistence store, if recorded there.
    pub stored: Option<u64>,
    /// The shared subscription it came through (see [`Delivery::shared`]).
    pub shared: Option<Arc<str>>,
}

/// Which acknowledgement settled (or advanced) an outgoing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    Puback,
    Pubrec,
    /// An MQTT 5.0 PUBREC with a failure reason code: the QoS 2 flow ends there, without PUBREL
    /// (MQTT 5.0 section 4.3.3).
    PubrecFailed,
    Pubcomp,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acknowledged {
    /// The message is settled and left the window.
    Settled,
    /// PUBREC: the message awaits PUBCOMP now.
    Released,
    /// No message in flight has this identifier (a late duplicate): ignored.
    Unknown,
    /// The message in flight under this identifier is not at the step this acknowledgement
    /// answers (PUBREC for QoS 1, PUBACK for QoS 2, PUBCOMP before PUBREC): a protocol error,
    /// as mosquitto treats it.
    Mismatch,
}

#[derive(Debug, Default)]
pub(crate) struct Flows {
    /// In allocation order, which is also the order of first transmission, so a reconnect resends
    /// in the original order ([MQTT-4.6.0-1]).
    pub outgoing: VecDeque<Inflight>,
    next_seq: u64,
    /// Identifiers of QoS 2 messages received and forwarded, awaiting PUBREL: a PUBLISH reusing one
    /// is a duplicate and is not forwarded again ([MQTT-4.3.3-2]).
    pub awaiting_pubrel: HashSet<u16>,
    /// Deliveries taken from the session queue and not yet written.
    pub pending: VecDeque<Delivery>,
}

impl Flows {
    /// Numbers every QoS 1 and 2 delivery held here or in `queue` (the session's) that is not
    /// in the store yet, and appends the records that put it there to `records`, oldest first
    /// (a restored session queues its deliveries in number order); those in flight with the
    /// identifier they were sent under and whether PUBREC came back. For a connection that
    /// deferred recording them (see `Journal::defers_deliveries`).
    pub fn record_deferred(
        &mut self,
        client_id: &Arc<str>,
        journal: &Journal,
        queue: &mut VecDeque<Delivery>,
        records: &mut Vec<Change>,
    ) {
        for inflight in self.outgoing.iter_mut().filter(|i| i.stored.is_none()) {
            let mut delivery = Delivery::new(
                Arc::clone(&inflight.message),
                inflight.qos,
                inflight.retain,
                inflight.identifiers.clone(),
                inflight.shared.clone(),
            );
            let sent = Some((inflight.packet_id, inflight.released));
            records.push(journal.queued(client_id, &mut delivery, sent));
            inflight.stored = delivery.stored();
        }
        let unstored = |d: &&mut Delivery| d.qos != QoS::AtMostOnce && d.stored().is_none();
        for delivery in self
            .pending
            .iter_mut()
            .chain(queue.iter_mut())
            .filter(unstored)
        {
            records.push(journal.queued(client_id, delivery, None));
        }
    }

    /// A fresh identifier not used by any message in flight ([MQTT-2.3.1-2]).
    pub fn allocate_id(&mut self) -> (u64, PacketId) {
        loop {
            let seq = self.next_seq;
            self.next_seq += 1;
            let packet_id = id_of(seq);
            // Identifiers are allocated in sequence, so one can only be in use by a message still
            // in flight from a full cycle ago or more; the oldest entry tells whether any is.
            let wrapped = self
                .outgoing
                .front()
                .is_some_and(|oldest| oldest.seq + ID_SPACE <= seq);
            if !wrapped || !self.outgoing.iter().any(|m| m.packet_id == packet_id) {
                return (seq, packet_id);
            }
        }
    }

    /// Applies an acknowledgement from the client. Returns what it did and the store number of
    /// the message it applied to.
    pub fn acknowledge(&mut self, packet_id: PacketId, ack: Ack) -> (Acknowledged, Option<u64>) {
        let Some(index) = self.position(packet_id) else {
            return (Acknowledged::Unknown, None);
        };
        let entry = &mut self.outgoing[index];
        let stored = entry.stored;
        let outcome = match (ack, entry.qos, entry.released) {
            (Ack::Puback, QoS::AtLeastOnce, _) => Acknowledged::Settled,
            (Ack::Pubrec | Ack::PubrecFailed, QoS::ExactlyOnce, true) => {
                // A PUBREC repeated after PUBREL was sent: answered with PUBREL again.
                return (Acknowledged::Released, stored);
            }
            (Ack::Pubrec, QoS::ExactlyOnce, false) => {
                entry.released = true;
                return (Acknowledged::Released, stored);
            }
            (Ack::PubrecFailed, QoS::ExactlyOnce, false) => Acknowledged::Settled,
            (Ack::Pubcomp, QoS::ExactlyOnce, true) => Acknowledged::Settled,
            _ => return (Acknowledged::Mismatch, stored),
        };
        self.outgoing.remove(index);
        (outcome, stored)
    }

    /// Puts a message sent before a restart back in flight under its original `packet_id`
    /// ([MQTT-4.4.0-1]); call in the order they were sent. The allocation number is chosen so
    /// that it maps to `packet_id` and follows the previous one, which keeps `position` exact.
    pub fn restore_inflight(&mut self, mut entry: Inflight) {
        let after = self
            .outgoing
            .back()
            .map_or(0, |last| last.seq + 1)
            .max(self.next_seq);
        let wanted = u64::from(entry.packet_id.get()) - 1;
        entry.seq = after + (wanted + ID_SPACE - after % ID_SPACE) % ID_SPACE;
        self.next_seq = entry.seq + 1;
        self.outgoing.push_back(entry);
    }

    /// Where the message with `packet_id` sits in `outgoing`. Entries are in allocation order and
    /// an identifier is a function of the allocation number, so while the window spans less than
    /// one cycle of identifiers the entry's number is known and found by binary search.
    fn position(&self, packet_id: PacketId) -> Option<usize> {
        let (first, last) = (self.outgoing.front()?.seq, self.outgoing.back()?.seq);
        if last - first >= ID_SPACE {
            return self.outgoing.iter().position(|m| m.packet_id == packet_id);
        }
        let offset = (u64::from(packet_id.get()) - 1 + ID_SPACE - first % ID_SPACE) % ID_SPACE;
        let seq = first + offset;
        self.outgoing.binary_search_by_key(&seq, |m| m.seq).ok()
    }

    /// Drops the QoS 0 deliveries not yet written: they are not kept for an absent client.
    /// Returns how many were dropped.
    pub fn drop_pending_qos0(&mut self) -> u64 {
        let before = self.pending.len();
        self.pending.retain(|d| d.qos != QoS::AtMostOnce);
        (before - self.pending.len()) as u64
    }
}

fn id_of(seq: u64) -> PacketId {
    PacketId::new((seq % ID_SPACE) as u16 + 1).expect("seq % 65535 + 1 is in 1..=65535")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::TopicName;

    fn message() -> Arc<Message> {
        Arc::new(Message::new(
            TopicName::new("t").unwrap(),
            Arc::from(&b"x"[..]),
            crate::protocol::Properties::new(),
            None,
            false,
        ))
    }

    fn push(flows: &mut Flows, qos: QoS) -> PacketId {
        let (seq, packet_id) = flows.allocate_id();
        flows.outgoing.push_back(Inflight {
            seq,
            packet_id,
            qos,
            retain: false,
            message: message(),
            identifiers: Box::default(),
            released: false,
            stored: None,
            shared: None,
        });
        packet_id
    }

    #[test]
    fn mqtt_2_3_1_2_ids_skip_those_in_flight_after_wrapping() {
        let mut flows = Flows::default();
        let stuck = push(&mut flows, QoS::AtLeastOnce);
        for _ in 0..ID_SPACE * 2 {
            let id = push(&mut flows, QoS::AtLeastOnce);
            assert_ne!(id, stuck);
            assert_eq!(flows.acknowledge(id, Ack::Puback).0, Acknowledged::Settled);
        }
        assert_eq!(flows.outgoing.len(), 1);
    }

    #[test]
    fn acknowledgements_found_out_of_order_and_across_wrap() {
        let mut flows = Flows {
            next_seq: ID_SPACE - 3,
            ..Flows::default()
        };
        let ids: Vec<PacketId> = (0..8).map(|_| push(&mut flows, QoS::AtLeastOnce)).collect();
        assert_eq!(ids[0].get(), 65533);
        assert_eq!(ids[3].get(), 1);
        for i in [5, 0, 7, 3, 1, 2, 6, 4] {
            let first = flows.acknowledge(ids[i], Ack::Puback).0;
            assert_eq!(first, Acknowledged::Settled, "{i}");
            let twice = flows.acknowledge(ids[i], Ack::Puback).0;
            assert_eq!(twice, Acknowledged::Unknown, "{i} twice");
        }
        assert!(flows.outgoing.is_empty());
    }

    /// An acknowledgement of the wrong kind for the message in flight is a protocol error
    /// (mosquitto closes the connection for it); the message stays in flight meanwhile.
    #[test]
    fn qos2_needs_pubrec_before_pubcomp() {
        let mut flows = Flows::default();
        let id = push(&mut flows, QoS::ExactlyOnce);
        assert_eq!(
            flows.acknowledge(id, Ack::Pubcomp).0,
            Acknowledged::Mismatch
        );
        assert_eq!(flows.acknowledge(id, Ack::Puback).0, Acknowledged::Mismatch);
        assert_eq!(flows.acknowledge(id, Ack::Pubrec).0, Acknowledged::Released);
        assert_eq!(flows.acknowledge(id, Ack::Pubrec).0, Acknowledged::Released);
        assert_eq!(flows.acknowledge(id, Ack::Pubcomp).0, Acknowledged::Settled);
        assert!(flows.outgoing.is_empty());
    }

    #[test]
    fn qos1_refuses_pubrec_and_a_failed_pubrec_ends_qos2() {
        let mut flows = Flows::default();
        let one = push(&mut flows, QoS::AtLeastOnce);
        assert_eq!(
            flows.acknowledge(one, Ack::Pubrec).0,
            Acknowledged::Mismatch
        );
        assert_eq!(
            flows.acknowledge(one, Ack::Pubcomp).0,
            Acknowledged::Mismatch
        );
        let two = push(&mut flows, QoS::ExactlyOnce);
        assert_eq!(
            flows.acknowledge(two, Ack::PubrecFailed).0,
            Acknowledged::Settled
        );
        assert_eq!(flows.outgoing.len(), 1);
    }

    /// [MQTT-4.4.0-1]: messages restored after a restart keep their packet identifiers, are
    /// found by their acknowledgements, and new identifiers avoid them.
    #[test]
    fn restored_messages_keep_their_identifiers() {
        let mut flows = Flows::default();
        for id in [40_000, 7, 65_535, 8] {
            flows.restore_inflight(Inflight {
                seq: 0,
                packet_id: PacketId::new(id).unwrap(),
                qos: QoS::AtLeastOnce,
                retain: false,
                message: message(),
                identifiers: Box::default(),
                released: false,
                stored: Some(u64::from(id)),
                shared: None,
            });
        }
        let fresh = push(&mut flows, QoS::AtLeastOnce);
        assert!(![40_000, 7, 65_535, 8].contains(&fresh.get()));
        for id in [8, 40_000, 65_535, 7] {
            let packet_id = PacketId::new(id).unwrap();
            let (done, stored) = flows.acknowledge(packet_id, Ack::Puback);
            assert_eq!((done, stored), (Acknowledged::Settled, Some(u64::from(id))));
        }
        assert_eq!(flows.outgoing.len(), 1);
    }
}
