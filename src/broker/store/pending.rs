//! The changes waiting for the writer. A delivery settled while the record that queued it is
//! still waiting here never needs the disk: its records are voided in place (and the Settled
//! is not appended), so a subscriber that keeps up costs the writer nothing, and what waits
//! stays as small as what is really in flight however long the commit interval. A delivery
//! sent while its Queued waits is folded into that Queued, so the writer stores both at once.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::{Change, Kick};

/// Voided changes are swept out once there are this many and they are half of all waiting.
const SWEEP_AT: usize = 1024;

/// At most this many waiting changes are tracked per delivery (Queued, Sent, Sent released, and
/// a re-send); a delivery with more is no longer cancelled, which is only a missed saving.
const TRACKED: usize = 4;

/// Delivery numbers, which are unique in the store, hashed by one multiplication: they are
/// sequential integers the broker hands out, not input a peer chooses, so SipHash's defence
/// against chosen keys buys nothing here and costs a tenth of the writer's time.
#[derive(Default)]
pub(super) struct DeliveryIdHasher(u64);

impl Hasher for DeliveryIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(self.0 ^ u64::from(*byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(super) type DeliveryIdBuild = BuildHasherDefault<DeliveryIdHasher>;

/// Where one delivery's waiting changes are in [`Pending::changes`].
#[derive(Clone, Copy)]
struct Slots {
    /// Its Queued record is among them (so the disk has never seen it).
    queued: bool,
    at: [usize; TRACKED],
    len: usize,
}

impl Slots {
    fn first(queued: bool, at: usize) -> Slots {
        Slots {
            queued,
            at: [at, 0, 0, 0],
            len: 1,
        }
    }
}

pub(super) struct Pending {
    changes: Vec<Change>,
    /// Connections to kick when the epoch next moves (see `Journal::kick_at_next_epoch`).
    pub kicks: Vec<Arc<dyn Kick>>,
    deliveries: HashMap<u64, Slots, DeliveryIdBuild>,
    voided: usize,
    /// The ticket of the last change recorded (voided ones included).
    pub last_ticket: u64,
    /// The last ticket handed to the writer.
    taken_ticket: u64,
}

impl Pending {
    pub fn new() -> Pending {
        Pending {
            changes: Vec::new(),
            kicks: Vec::new(),
            deliveries: HashMap::default(),
            voided: 0,
            last_ticket: 0,
            taken_ticket: 0,
        }
    }

    /// How many changes the vector holds, voided ones included (what bounds memory).
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether the writer has anything to do: changes to commit, or tickets to mark committed
    /// whose changes were all voided (a durable publisher may be waiting for one).
    pub fn has_work(&self) -> bool {
        !self.changes.is_empty() || self.last_ticket > self.taken_ticket
    }

    /// Records `change` under a new ticket and returns it; a Settled whose delivery's Queued
    /// is still waiting voids that delivery's changes instead of being appended.
    pub fn push(&mut self, change: Change) -> u64 {
        self.last_ticket += 1;
        let at = self.changes.len();
        match &change {
            Change::Queued { id, .. } => {
                self.deliveries.insert(*id, Slots::first(true, at));
            }
            Change::Sent {
                id,
                packet_id,
                released,
                ..
            } => match self.deliveries.get_mut(id) {
                // Sent before the writer took its Queued: the Queued says so itself, and the
                // disk gets one write for both.
                Some(slots)
                    if slots.queued
                        && matches!(self.changes[slots.at[0]], Change::Queued { .. }) =>
                {
                    if let Change::Queued { sent, .. } = &mut self.changes[slots.at[0]] {
                        *sent = Some((*packet_id, *released));
                    }
                    return self.last_ticket;
                }
                Some(slots) if slots.len < TRACKED => {
                    slots.at[slots.len] = at;
                    slots.len += 1;
                }
                Some(_) => {
                    self.deliveries.remove(id);
                }
                None => {
                    self.deliveries.insert(*id, Slots::first(false, at));
                }
            },
            Change::Settled { id, .. } => {
                if let Some(slots) = self.deliveries.remove(id) {
                    for &at in &slots.at[..slots.len] {
                        self.changes[at] = Change::Void;
                    }
                    self.voided += slots.len;
                    if slots.queued {
                        self.sweep_if_due();
                        return self.last_ticket;
                    }
                }
            }
            _ => {}
        }
        self.changes.push(change);
        self.sweep_if_due();
        self.last_ticket
    }

    /// Hands every waiting change to the writer (leaving `spare`, emptied, in their place)
    /// with the ticket they reach up to.
    pub fn take(&mut self, spare: Vec<Change>) -> (Vec<Change>, u64) {
        self.deliveries.clear();
        self.voided = 0;
        self.taken_ticket = self.last_ticket;
        (
            std::mem::replace(&mut self.changes, spare),
            self.last_ticket,
        )
    }

    fn sweep_if_due(&mut self) {
        if self.voided < SWEEP_AT || self.voided * 2 < self.changes.len() {
            return;
        }
        self.changes.retain(|c| !matches!(c, Change::Void));
        self.voided = 0;
        for slots in self.deliveries.values_mut() {
            slots.len = 0;
        }
        for (at, change) in self.changes.iter().enumerate() {
            if let Change::Queued { id, .. } | Change::Sent { id, .. } = change
                && let Some(slots) = self.deliveries.get_mut(id)
                && slots.len < TRACKED
            {
                slots.at[slots.len] = at;
                slots.len += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::store::tests_support::{queued, sent, settled};

    fn kinds(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Change::Queued { id, .. } => format!("Q{id}"),
                Change::Sent { id, .. } => format!("S{id}"),
                Change::Settled { id, .. } => format!("X{id}"),
                Change::Void => "-".to_owned(),
                _ => "?".to_owned(),
            })
            .collect()
    }

    /// A delivery queued, sent and settled while waiting leaves nothing to write; one queued
    /// in an earlier commit keeps its Settled (the disk holds it), its waiting Sent voided.
    /// A Sent whose Queued waits is folded into it.
    #[test]
    fn a_delivery_settled_before_the_writer_took_it_is_voided() {
        let mut p = Pending::new();
        p.push(queued("a", 1));
        p.push(sent("a", 1));
        p.push(queued("a", 2));
        assert_eq!(p.push(sent("a", 2)), 4);
        assert!(matches!(p.changes[1], Change::Queued { sent: Some(_), .. }));
        p.push(sent("a", 3));
        assert_eq!(p.push(settled("a", 1)), 6);
        p.push(settled("a", 3));
        assert_eq!(kinds(&p.changes), ["-", "Q2", "-", "X3"]);
        let (batch, ticket) = p.take(Vec::new());
        assert_eq!((batch.len(), ticket), (4, 7));
        assert!(!p.has_work());
        // Taken by the writer: delivery 2 is settled on disk like any other.
        p.push(settled("a", 2));
        assert_eq!(kinds(&p.changes), ["X2"]);
    }

    /// Voided changes are swept out, and positions stay right for the deliveries still live.
    #[test]
    fn sweeping_keeps_the_live_deliveries_cancellable() {
        let mut p = Pending::new();
        p.push(queued("a", 0));
        for id in 1..=2000 {
            p.push(queued("a", id));
            p.push(sent("a", id));
            p.push(settled("a", id));
        }
        assert!(p.len() < 2000, "swept: {}", p.len());
        assert!(p.has_work());
        p.push(sent("a", 0));
        p.push(settled("a", 0));
        assert!(p.changes.iter().all(|c| matches!(c, Change::Void)));
        // Every ticket must still be marked committed for durable waiters.
        let (_, ticket) = p.take(Vec::new());
        assert_eq!(ticket, 6003);
    }
}
