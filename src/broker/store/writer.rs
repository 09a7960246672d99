//! The store's writer thread: takes every change recorded since its last commit and commits
//! them in one transaction, as soon as any wait (durable) or every interval. A failed commit
//! (disk full, file unwritable) keeps its changes and retries them first; threads waiting on
//! them are told it failed meanwhile.

use std::collections::HashSet;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::MutexGuard;
use redb::{Database, Durability, ReadableTable};

use super::pending::DeliveryIdBuild;
#[cfg(test)]
use super::records::split_session_key;
use super::records::{
    MessageRecord, SENT_BYTES, encode_delivery, encode_sent, session_key, session_range, wall_ms,
};
use super::{
    AWAITING_PUBREL, Change, Journal, MAX_PENDING, MESSAGES, PersistenceSync, RETAINED, SESSIONS,
};

/// How long the writer waits before retrying a failed commit.
const RETRY_AFTER: Duration = Duration::from_millis(200);

pub(super) fn start(db: Database, path: PathBuf, journal: Journal) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("mqtt-store".to_owned())
        .stack_size(256 * 1024)
        .spawn(move || run(db, path, journal))
}

fn run(db: Database, path: PathBuf, journal: Journal) {
    let inner = &journal.inner;
    let mut carried: Vec<Change> = Vec::new();
    // The last batch's vector, emptied: handed to the recorders so that a batch of tens of
    // thousands of changes does not grow a fresh vector (copying it at every doubling).
    let mut spare: Vec<Change> = Vec::new();
    // Interval mode: what connections deferred (see `Journal::defers_deliveries`) must be
    // committed within one interval of being deferred. So while any connection asks to be
    // kicked, the epoch moves every three quarters of the interval, on its own cadence whatever
    // the commits do, and a commit follows each move by a quarter interval, the time the kicked
    // connections have to record what they hold. Other changes are committed every interval.
    let cycle = match inner.sync {
        PersistenceSync::Interval(every) => Some((every, every - every / 4, every / 4)),
        PersistenceSync::Durable => None,
    };
    let mut next_commit = Instant::now();
    let mut next_move = Instant::now();
    // The commit that follows the last move (`at`), until it is made and every kicked
    // connection has answered, or the next move is due (`until`): a connection answering
    // after `at` has its records committed as soon as they come.
    let mut commit_after_move: Option<(Instant, Instant)> = None;
    loop {
        let (mut batch, ticket, closing, started) = {
            let mut pending = inner.pending.lock();
            loop {
                let closing = inner.closing.load(Ordering::Acquire);
                let waiting = pending.has_work() || !carried.is_empty();
                if closing && !waiting {
                    return;
                }
                let now = Instant::now();
                let kicks_wait = !pending.kicks.is_empty() && !closing;
                if let Some((_, period, lead)) = cycle
                    && kicks_wait
                    && now >= next_move
                {
                    next_move = now + period;
                    commit_after_move = Some((now + lead, next_move));
                    inner.epoch.fetch_add(1, Ordering::AcqRel);
                    let kicks = std::mem::take(&mut pending.kicks);
                    inner.unanswered.store(kicks.len(), Ordering::Release);
                    MutexGuard::unlocked(&mut pending, || {
                        for kick in kicks {
                            kick.kick();
                        }
                    });
                    continue;
                }
                let answered = inner.unanswered.load(Ordering::Acquire) == 0;
                if commit_after_move
                    .is_some_and(|(at, until)| now >= until || (now >= at && !waiting && answered))
                {
                    // The kicked connections answered with nothing to record, or too late.
                    commit_after_move = None;
                }
                let after_move_due = commit_after_move.is_some_and(|(at, _)| now >= at);
                // Half the pending bound commits early, so recording rarely has to wait.
                let due = match inner.sync {
                    PersistenceSync::Durable => true,
                    PersistenceSync::Interval(_) => {
                        now >= next_commit || after_move_due || pending.len() >= MAX_PENDING / 2
                    }
                };
                if waiting && (due || closing) {
                    break;
                }
                // One already passed is waiting for work, which wakes the writer.
                let deadlines = [
                    waiting.then_some(next_commit),
                    commit_after_move.map(|(at, until)| if now < at { at } else { until }),
                    kicks_wait.then_some(next_move),
                ];
                match deadlines.into_iter().flatten().min() {
                    Some(deadline) if cycle.is_some() => {
                        inner.work.wait_until(&mut pending, deadline);
                    }
                    _ => inner.work.wait(&mut pending),
                }
            }
            let closing = inner.closing.load(Ordering::Acquire);
            inner.room.notify_all();
            let (batch, ticket) = pending.take(std::mem::take(&mut spare));
            (batch, ticket, closing, Instant::now())
        };
        // What the kicked connections recorded before now is in this batch; those that have not
        // answered yet are waited for.
        if commit_after_move.is_some_and(|(at, _)| started >= at)
            && inner.unanswered.load(Ordering::Acquire) == 0
        {
            commit_after_move = None;
        }
        if !carried.is_empty() {
            carried.append(&mut batch);
            batch = std::mem::take(&mut carried);
        }
        // Changes all voided (deliveries settled before they were taken) need no transaction,
        // only their tickets marked committed.
        let outcome = if batch.iter().all(|c| matches!(c, Change::Void)) {
            Ok(())
        } else {
            catch_unwind(AssertUnwindSafe(|| commit(&db, &batch)))
                .unwrap_or_else(|_| Err("the store library failed".to_owned()))
        };
        let counters = &inner.counters;
        match outcome {
            Ok(()) => {
                counters.commits.fetch_add(1, Ordering::Relaxed);
                counters
                    .last_commit_micros
                    .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                if let Ok(meta) = std::fs::metadata(&path) {
                    counters.bytes_on_disk.store(meta.len(), Ordering::Relaxed);
                }
                let mut progress = inner.progress.lock();
                progress.committed = ticket;
                progress.error = None;
                inner.committed.notify_all();
                batch.clear();
                spare = batch;
            }
            Err(reason) => {
                counters.failures.fetch_add(1, Ordering::Relaxed);
                let message: Arc<str> =
                    Arc::from(format!("cannot write {}: {reason}", path.display()));
                inner.progress.lock().error = Some(message);
                inner.committed.notify_all();
                carried = batch;
                if closing {
                    // Nothing more can be done; what was acknowledged was on disk already.
                    return;
                }
                thread::sleep(RETRY_AFTER);
            }
        }
        if let Some((every, _, _)) = cycle {
            next_commit = started + every;
        }
    }
}

fn commit(db: &Database, batch: &[Change]) -> Result<(), String> {
    let failed = |e: redb::Error| e.to_string();
    let mut txn = db.begin_write().map_err(|e| failed(e.into()))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| e.to_string())?;
    apply(&txn, batch).map_err(failed)?;
    txn.commit().map_err(|e| failed(e.into()))
}

type DeliveryIds = HashSet<u64, DeliveryIdBuild>;

/// What of `batch` a later change in it makes moot: the deliveries both queued and settled
/// within it, which never need to touch the disk (a subscriber that keeps up acknowledges
/// most messages within one commit), and the deliveries settled in it, whose being sent need
/// not be written first.
fn settled_within(batch: &[Change]) -> (DeliveryIds, DeliveryIds) {
    let with_room = || DeliveryIds::with_capacity_and_hasher(batch.len() / 2, Default::default());
    let mut queued = with_room();
    let mut both = with_room();
    let mut settled = with_room();
    for change in batch {
        match change {
            Change::Queued { id, .. } => {
                queued.insert(*id);
            }
            Change::Settled { id, .. } => {
                if queued.contains(id) {
                    both.insert(*id);
                }
                settled.insert(*id);
            }
            _ => {}
        }
    }
    (both, settled)
}

fn apply(txn: &redb::WriteTransaction, batch: &[Change]) -> Result<(), redb::Error> {
    let (transient, settled) = settled_within(batch);
    let skip = |id: &u64| transient.contains(id);
    let moot = |id: &u64| settled.contains(id);
    let mut retained = txn.open_table(RETAINED)?;
    let mut sessions = txn.open_table(SESSIONS)?;
    let mut messages = txn.open_table(MESSAGES)?;
    let mut awaiting = txn.open_table(AWAITING_PUBREL)?;
    let mut bytes = Vec::new();
    let mut removed = Vec::new();
    for change in batch {
        match change {
            Change::Retained { topic, retained: r } => match r {
                None => {
                    retained.remove(topic.as_str())?;
                }
                Some((message, qos)) => {
                    bytes.clear();
                    record_of(message, *qos, true, &[]).encode(&mut bytes);
                    retained.insert(topic.as_str(), bytes.as_slice())?;
                }
            },
            Change::Session { client_id, record } => {
                sessions.insert(&**client_id, record.encode().as_slice())?;
            }
            Change::SessionEnded { client_id } => {
                sessions.remove(&**client_id)?;
                let (start, end) = session_range(client_id);
                let range = start.as_slice()..end.as_slice();
                messages.retain_in(range.clone(), |_, _| false)?;
                awaiting.retain_in(range, |_, _| false)?;
            }
            Change::Queued { id, .. } | Change::Sent { id, .. } | Change::Settled { id, .. }
                if skip(id) => {}
            Change::Sent { id, .. } if moot(id) => {}
            Change::Queued {
                client_id,
                id,
                delivery,
                sent,
            } => {
                bytes.clear();
                let message = record_of(
                    &delivery.message,
                    delivery.qos,
                    delivery.retain,
                    delivery.identifiers(),
                );
                let sent = sent.map(|(packet_id, released)| (packet_id.get(), released));
                encode_delivery(sent, &message, delivery.shared().map(|s| &**s), &mut bytes);
                messages.insert(session_key(client_id, *id).as_slice(), bytes.as_slice())?;
            }
            Change::Sent {
                client_id,
                id,
                packet_id,
                released,
            } => {
                let key = session_key(client_id, *id);
                // Only a record on disk is updated, never created: a delivery settled in this
                // batch does not get here (moot), one settled in an earlier batch is gone.
                let stored = messages.get(key.as_slice())?.map(|v| v.value().to_vec());
                if let Some(mut record) = stored
                    && record.len() >= SENT_BYTES
                {
                    record[..SENT_BYTES]
                        .copy_from_slice(&encode_sent(Some((packet_id.get(), *released))));
                    messages.insert(key.as_slice(), record.as_slice())?;
                }
            }
            // Removed after the loop: nothing later in the batch brings a settled delivery back
            // (a Sent of it is moot, and a session that ends takes all its records anyway).
            Change::Settled { client_id, id } => removed.push((&**client_id, *id)),
            Change::Void => {}
            Change::AwaitingPubrel {
                client_id,
                packet_id,
                held,
            } => {
                let key = session_key(client_id, u64::from(*packet_id));
                if *held {
                    awaiting.insert(key.as_slice(), ())?;
                } else {
                    awaiting.remove(key.as_slice())?;
                }
            }
        }
    }
    remove_settled(&mut messages, &mut removed)
}

/// Removes the records of the deliveries in `settled`, with one range scan per session rather
/// than one descent of the B-tree per delivery: a subscriber acknowledges in order, so what a
/// batch settles of one session is mostly that session's oldest records, side by side, which a
/// scan removes a leaf at a time (each removal by itself shifted the rest of its leaf). The
/// scan also visits the session's records in between that are not settled and keeps them.
fn remove_settled(
    messages: &mut redb::Table<&[u8], &[u8]>,
    settled: &mut [(&str, u64)],
) -> Result<(), redb::Error> {
    settled.sort_unstable();
    for session in settled.chunk_by(|a, b| a.0 == b.0) {
        let (client_id, first) = session[0];
        let last = session[session.len() - 1].1;
        if session.len() == 1 {
            messages.remove(session_key(client_id, first).as_slice())?;
            continue;
        }
        let is_settled = |key: &[u8]| {
            let number = key
                .len()
                .checked_sub(8)
                .map(|at| u64::from_be_bytes(key[at..].try_into().expect("8 bytes")));
            number.is_some_and(|n| session.binary_search(&(client_id, n)).is_ok())
        };
        let (from, to) = (session_key(client_id, first), session_key(client_id, last));
        messages.retain_in(from.as_slice()..=to.as_slice(), |key, _| !is_settled(key))?;
    }
    Ok(())
}

fn record_of(
    message: &crate::broker::message::Message,
    qos: crate::protocol::QoS,
    retain: bool,
    identifiers: &[u32],
) -> MessageRecord {
    MessageRecord {
        topic: message.topic.clone(),
        payload: Arc::clone(&message.payload),
        qos,
        retain,
        properties: message.properties.clone(),
        expires_at_ms: message.expires_at.map(wall_ms),
        identifiers: identifiers.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::store::tests_support::{queued, settled};

    /// Only a delivery queued and settled in the same batch is left out; one settled here but
    /// queued in an earlier commit must still be deleted, and one queued after its client's
    /// other delivery settled is kept.
    #[test]
    fn only_deliveries_queued_and_settled_in_one_batch_are_transient() {
        let batch = [
            queued("a", 1),
            settled("b", 7),
            settled("a", 1),
            queued("a", 2),
            queued("b", 8),
        ];
        let (transient, settled) = settled_within(&batch);
        assert_eq!(transient, DeliveryIds::from_iter([1]));
        assert_eq!(settled, DeliveryIds::from_iter([1, 7]));
    }

    /// The range scans remove exactly the settled records: not the unsettled ones between them,
    /// nor those of a client whose id starts with the other's, whatever order they came in.
    #[test]
    fn settled_records_go_and_the_rest_stay() {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        let txn = db.begin_write().unwrap();
        let remaining = {
            let mut messages = txn.open_table(MESSAGES).unwrap();
            for (client, count) in [("c", 10), ("c2", 5), ("d", 3)] {
                for id in 1..=count {
                    messages
                        .insert(session_key(client, id).as_slice(), &b"r"[..])
                        .unwrap();
                }
            }
            let mut settled = vec![("c", 9), ("c2", 4), ("c", 2), ("c", 5), ("c", 3), ("d", 2)];
            remove_settled(&mut messages, &mut settled).unwrap();
            messages
                .iter()
                .unwrap()
                .map(|entry| {
                    let key = entry.unwrap().0;
                    let (client, id) = split_session_key(key.value()).unwrap();
                    (client.to_owned(), id)
                })
                .collect::<Vec<_>>()
        };
        let expected: Vec<(String, u64)> = [
            ("c", [1, 4, 6, 7, 8, 10].as_slice()),
            ("c2", &[1, 2, 3, 5]),
            ("d", &[1, 3]),
        ]
        .iter()
        .flat_map(|(client, ids)| ids.iter().map(|&id| (client.to_string(), id)))
        .collect();
        assert_eq!(remaining, expected);
    }
}
