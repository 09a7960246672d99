//! Persistence: retained messages and persistent sessions (subscriptions, queued deliveries,
//! QoS 1/2 state in both directions, delayed wills) kept in a crash-safe embedded store (redb)
//! so they survive a restart of the broker or of its process, `kill -9` included.
//!
//! The data layer records each change as it makes it in a [`Journal`] (an append under one short
//! lock); a writer thread commits what accumulated in one transaction. In
//! [`PersistenceSync::Durable`] mode it commits as soon as anything is waiting, and a connection
//! thread waits for the commit holding its changes before it writes to its socket, so nothing
//! reaches a client (a PUBACK, a PUBREC, a PUBLISH) that the disk does not hold; changes of every
//! connection made during one commit share the next one (group commit). In
//! [`PersistenceSync::Interval`] mode it commits every interval and nobody waits: a crash
//! loses at most the interval. A connected persistent subscriber's deliveries are then
//! recorded by its connection, only those it still holds when the journal's epoch moves (see
//! [`Journal::defers_deliveries`]).
//!
//! This module sits below the session layer: it knows messages and plain records, not sessions
//! or the broker's state (see `recovery` for putting a restored store back into the state).

mod pending;
mod records;
#[cfg(test)]
mod tests_support;
mod writer;

use pending::Pending;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::message::{Delivery, Message};
use crate::protocol::{PacketId, PropertyContext, QoS};
use crate::topic::TopicName;

use records::{
    Corrupt, FORMAT_VERSION, Reader, decode_delivery, decode_sent, encode_sent, split_session_key,
};
pub(crate) use records::{MessageRecord, SessionRecord, SubscriptionRecord, instant_of, wall_ms};

const META: TableDefinition<&str, u32> = TableDefinition::new("meta");
const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// Deliveries queued for a persistent session, by client id and delivery number.
const MESSAGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("messages");
/// Store format 1 kept the packet identifier of each delivery sent in a table of its own, same
/// keys; format 2 keeps it in the delivery's record (one B-tree write per send, not two), and
/// opening a format 1 store moves them there.
const SENT_FORMAT_1: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sent");
/// Incoming QoS 2 packet identifiers awaiting PUBREL, by client id and identifier.
const AWAITING_PUBREL: TableDefinition<&[u8], ()> = TableDefinition::new("awaiting_pubrel");

/// When the store commits what changed, and so what a crash may lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistenceSync {
    /// A change is on disk before any packet that depends on it leaves the broker: a PUBLISH is
    /// acknowledged to its publisher only once stored. Commits are shared by every connection
    /// waiting at the time.
    Durable,
    /// Commits every interval; a crash loses at most the changes of the last interval.
    Interval(Duration),
}

/// Why the store could not be opened or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "persistence file {}: {}",
            self.path.display(),
            self.reason
        )
    }
}

impl std::error::Error for StoreError {}

/// One change to what is persisted, in the order the broker made them.
#[derive(Debug)]
pub(crate) enum Change {
    /// A topic's retained message set, or removed (`None`).
    Retained {
        topic: TopicName,
        retained: Option<(Arc<Message>, QoS)>,
    },
    /// A persistent session created or changed (not its deliveries).
    Session {
        client_id: Arc<str>,
        record: Box<SessionRecord>,
    },
    /// A session ended: it and everything of it goes.
    SessionEnded { client_id: Arc<str> },
    /// A delivery queued for a persistent session under number `id`; `sent` as for
    /// [`Change::Sent`] when it was sent before the writer took it (see `pending`).
    Queued {
        client_id: Arc<str>,
        id: u64,
        delivery: Delivery,
        sent: Option<(PacketId, bool)>,
    },
    /// Delivery `id` sent under `packet_id`; `released`: PUBREC came back (PUBREL is owed).
    Sent {
        client_id: Arc<str>,
        id: u64,
        packet_id: PacketId,
        released: bool,
    },
    /// Delivery `id` acknowledged, expired or dropped.
    Settled { client_id: Arc<str>, id: u64 },
    /// An incoming QoS 2 packet identifier now awaiting PUBREL (`held`), or released.
    AwaitingPubrel {
        client_id: Arc<str>,
        packet_id: u16,
        held: bool,
    },
    /// Nothing: a change made moot before the writer took it (see `pending`).
    Void,
}

/// What a store held when opened, for the broker's state to take up before serving.
#[derive(Debug, Default)]
pub(crate) struct Restored {
    pub retained: Vec<MessageRecord>,
    pub sessions: BTreeMap<String, RestoredSession>,
}

#[derive(Debug)]
pub(crate) struct RestoredSession {
    pub record: SessionRecord,
    /// In delivery-number order, which is the order they were queued in.
    pub deliveries: Vec<RestoredDelivery>,
    pub awaiting_pubrel: Vec<u16>,
}

#[derive(Debug)]
pub(crate) struct RestoredDelivery {
    pub id: u64,
    pub message: MessageRecord,
    /// The packet identifier it was sent under and whether PUBREC came back.
    pub sent: Option<(PacketId, bool)>,
    /// The shared subscription it came through (`$share/{group}/{filter}`).
    pub shared: Option<String>,
}

/// What the persistence store has done, from `Broker::persistence_stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PersistenceStats {
    /// Transactions committed since the broker was created; each ends with one synchronous
    /// write to disk (fsync), shared by every change it holds.
    pub commits: u64,
    /// Commits that failed (disk full, file unwritable); their changes are retried.
    pub failures: u64,
    /// How long the last commit took, in microseconds.
    pub last_commit_micros: u64,
    /// The size of the persistence file after the last commit.
    pub bytes_on_disk: u64,
}

/// Counters of the store's work, for the broker's statistics.
#[derive(Debug, Default)]
pub(crate) struct StoreCounters {
    /// Transactions committed; each is one synchronous write to disk.
    pub commits: AtomicU64,
    /// Commits that failed (the changes are retried).
    pub failures: AtomicU64,
    pub last_commit_micros: AtomicU64,
    pub bytes_on_disk: AtomicU64,
}

thread_local! {
    /// The last change this thread recorded: (journal, ticket). A connection thread waits for
    /// it before writing to its socket in durable mode.
    static LAST_TICKET: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
}

struct Progress {
    committed: u64,
    /// Why the last commit failed; cleared by the next that succeeds.
    error: Option<Arc<str>>,
}

/// Below this interval connections do not defer recording (see
/// [`Journal::defers_deliveries`]): the window is too short to save much, and kicking them every
/// few milliseconds would cost more than recording.
const MIN_DEFERRING_INTERVAL: Duration = Duration::from_millis(10);

/// Asked to record what it deferred (see [`Journal::defers_deliveries`]) once the writer moves
/// to the next epoch: a connection waiting on its socket with deliveries in hand.
pub(crate) trait Kick: Send + Sync {
    /// Makes the connection look at the journal's epoch soon. Never blocks beyond a short lock.
    fn kick(&self);
}

/// Changes waiting for the writer beyond which recording waits for it to take them: bounds the
/// memory a fast publisher can pile up in interval mode, and the work a crash can lose.
pub(crate) const MAX_PENDING: usize = 65_536;

struct JournalInner {
    sync: PersistenceSync,
    pending: Mutex<Pending>,
    /// Wakes the writer.
    work: Condvar,
    /// Wakes threads waiting for room in `pending`.
    room: Condvar,
    /// A writer is running (recording waits for room only then).
    writing: AtomicBool,
    progress: Mutex<Progress>,
    /// Wakes threads waiting for a commit.
    committed: Condvar,
    next_delivery_id: AtomicU64,
    /// Moved by the writer in interval mode (see [`Journal::defers_deliveries`]).
    epoch: AtomicU64,
    /// Connections kicked at the last move that have not yet recorded what they hold.
    unanswered: AtomicUsize,
    closing: AtomicBool,
    counters: StoreCounters,
}

/// Where the data layer records its changes; cheap to clone.
#[derive(Clone)]
pub(crate) struct Journal {
    inner: Arc<JournalInner>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("sync", &self.inner.sync)
            .finish()
    }
}

impl Journal {
    pub fn new(sync: PersistenceSync) -> Journal {
        Journal {
            inner: Arc::new(JournalInner {
                sync,
                pending: Mutex::new(Pending::new()),
                work: Condvar::new(),
                room: Condvar::new(),
                writing: AtomicBool::new(false),
                progress: Mutex::new(Progress {
                    committed: 0,
                    error: None,
                }),
                committed: Condvar::new(),
                next_delivery_id: AtomicU64::new(1),
                epoch: AtomicU64::new(0),
                unanswered: AtomicUsize::new(0),
                closing: AtomicBool::new(false),
                counters: StoreCounters::default(),
            }),
        }
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    pub fn stats(&self) -> PersistenceStats {
        let c = &self.inner.counters;
        let get = |v: &AtomicU64| v.load(Ordering::Relaxed);
        PersistenceStats {
            commits: get(&c.commits),
            failures: get(&c.failures),
            last_commit_micros: get(&c.last_commit_micros),
            bytes_on_disk: get(&c.bytes_on_disk),
        }
    }

    /// Whether output waits for the disk (see [`Journal::wait_for_this_thread`]).
    pub fn is_durable(&self) -> bool {
        self.inner.sync == PersistenceSync::Durable
    }

    /// Whether a connected persistent subscriber's deliveries may go unrecorded until the
    /// epoch moves (interval mode): most are acknowledged within the interval and so never
    /// cost the journal anything. The connection records those still in hand when it sees the
    /// epoch move, and when it detaches. While any connection asks to be kicked, the writer
    /// moves the epoch every three quarters of the interval and commits a quarter interval
    /// after each move, and what a kicked connection records later than that is committed as
    /// it comes, so a crash still loses at most one interval. Not for intervals under
    /// [`MIN_DEFERRING_INTERVAL`]. In durable mode every delivery is recorded before anything
    /// depending on it is sent.
    pub fn defers_deliveries(&self) -> bool {
        matches!(self.inner.sync, PersistenceSync::Interval(every) if every >= MIN_DEFERRING_INTERVAL)
    }

    /// The writer's epoch (see [`Journal::defers_deliveries`]).
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Acquire)
    }

    /// Has `kick` kicked when the epoch next moves, and returns the epoch it will move to. The
    /// connection then records what it holds and says so with [`Journal::answer_kick`].
    pub fn kick_at_next_epoch(&self, kick: Arc<dyn Kick>) -> u64 {
        let mut pending = self.inner.pending.lock();
        if pending.kicks.is_empty() {
            // The writer may be waiting for work without a deadline.
            self.inner.work.notify_one();
        }
        pending.kicks.push(kick);
        self.epoch() + 1
    }

    /// Says that a connection kicked at the latest move has recorded what it held.
    pub fn answer_kick(&self) {
        let _ = self
            .inner
            .unanswered
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        // The writer may be waiting for the last answer with nothing else to commit.
        let _pending = self.inner.pending.lock();
        self.inner.work.notify_one();
    }

    /// A number for a new delivery, unique in the store.
    pub fn next_delivery_id(&self) -> u64 {
        self.inner.next_delivery_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Gives `delivery`, for the session of `client_id`, its number in the store and returns
    /// the record that queues it there; `sent` as for [`Change::Queued`].
    pub fn queued(
        &self,
        client_id: &Arc<str>,
        delivery: &mut Delivery,
        sent: Option<(PacketId, bool)>,
    ) -> Change {
        let id = self.next_delivery_id();
        delivery.set_stored(id);
        Change::Queued {
            client_id: Arc::clone(client_id),
            id,
            delivery: delivery.clone(),
            sent,
        }
    }

    /// Records `change`, to be committed after every change recorded before it. Waits while
    /// [`MAX_PENDING`] changes are already waiting for a running writer. In durable mode the
    /// calling thread then waits for it before writing to its socket (see
    /// [`Journal::wait_for_this_thread`]).
    pub fn record(&self, change: Change) {
        let ticket = self.append(change);
        LAST_TICKET.with(|t| t.set((self.id(), ticket)));
    }

    /// Records every change of `changes` (draining it) as [`Journal::record`] does, under one
    /// lock: the calling thread's output waits for the last of them in durable mode.
    pub fn record_all(&self, changes: &mut Vec<Change>) {
        if let Some(ticket) = self.append_all(changes) {
            LAST_TICKET.with(|t| t.set((self.id(), ticket)));
        }
    }

    /// Records every change of `changes` (draining it) under one lock, without making the
    /// calling thread wait for them before writing: for changes whose loss in a crash costs at
    /// most a duplicate QoS 1 delivery. A connection gathers them while it handles a read or
    /// fills its output, so that the lock is taken once per batch rather than per message.
    pub fn record_all_without_waiting(&self, changes: &mut Vec<Change>) {
        self.append_all(changes);
    }

    /// Appends every change of `changes` (draining it) under one lock; the last one's ticket,
    /// if there was any.
    fn append_all(&self, changes: &mut Vec<Change>) -> Option<u64> {
        if changes.is_empty() {
            return None;
        }
        let mut pending = self.inner.pending.lock();
        changes.drain(..).fold(None, |_, change| {
            Some(self.append_locked(&mut pending, change))
        })
    }

    fn append(&self, change: Change) -> u64 {
        let mut pending = self.inner.pending.lock();
        self.append_locked(&mut pending, change)
    }

    fn append_locked(
        &self,
        pending: &mut parking_lot::MutexGuard<'_, Pending>,
        change: Change,
    ) -> u64 {
        while pending.len() >= MAX_PENDING && self.inner.writing.load(Ordering::Acquire) {
            self.inner.work.notify_one();
            self.inner.room.wait(pending);
        }
        let wake = !pending.has_work() || pending.len() + 1 == MAX_PENDING / 2;
        let ticket = pending.push(change);
        if wake {
            self.inner.work.notify_one();
        }
        ticket
    }

    /// In durable mode, blocks until every change this thread recorded is on disk; `Err` when
    /// the commit holding them failed (the caller must then not send what depends on them).
    /// Returns at once in interval mode or when nothing is waiting.
    pub fn wait_for_this_thread(&self) -> Result<(), Arc<str>> {
        if self.inner.sync != PersistenceSync::Durable {
            return Ok(());
        }
        let (journal, ticket) = LAST_TICKET.with(|t| t.get());
        if journal != self.id() || ticket == 0 {
            return Ok(());
        }
        let mut progress = self.inner.progress.lock();
        loop {
            if progress.committed >= ticket {
                LAST_TICKET.with(|t| t.set((0, 0)));
                return Ok(());
            }
            if let Some(error) = &progress.error {
                return Err(Arc::clone(error));
            }
            if self.inner.closing.load(Ordering::Acquire) && progress.committed < ticket {
                // The writer commits everything before it exits; give it a moment.
                self.inner
                    .committed
                    .wait_for(&mut progress, Duration::from_millis(100));
                if progress.committed < ticket && progress.error.is_none() {
                    return Err(Arc::from("the store is closing"));
                }
                continue;
            }
            self.inner.committed.wait(&mut progress);
        }
    }

    /// Forgets what this thread recorded: a connection thread starting to serve another
    /// connection must not wait for (or fail on) the previous one's changes.
    pub fn forget_this_thread() {
        LAST_TICKET.with(|t| t.set((0, 0)));
    }

    /// Why the last commit failed, while the store cannot write.
    pub fn failure(&self) -> Option<Arc<str>> {
        self.inner.progress.lock().error.clone()
    }
}

/// An open store with its writer thread.
pub(crate) struct Store {
    journal: Journal,
    writer: Option<JoinHandle<()>>,
}

impl Store {
    /// Opens (or creates) the store at `path` and starts committing `journal`'s changes into
    /// it. Returns what the store held. A file that is not a store, is damaged or was written by
    /// a newer format is an error naming the file, and is left as it is.
    pub fn open(path: &Path, journal: &Journal) -> Result<(Store, Restored), StoreError> {
        let error = |reason: String| StoreError {
            path: path.to_owned(),
            reason,
        };
        let opened = catch_unwind(AssertUnwindSafe(|| open_database(path)));
        let (db, restored) = match opened {
            Ok(result) => result.map_err(error)?,
            Err(_) => return Err(error("damaged: the store could not be read".into())),
        };
        let max_id = restored
            .sessions
            .values()
            .flat_map(|s| s.deliveries.iter().map(|d| d.id))
            .max()
            .unwrap_or(0);
        journal
            .inner
            .next_delivery_id
            .fetch_max(max_id + 1, Ordering::Relaxed);
        journal.inner.closing.store(false, Ordering::Release);
        journal.inner.writing.store(true, Ordering::Release);
        let writer = writer::start(db, path.to_owned(), journal.clone())
            .map_err(|e| error(format!("cannot start its writer thread: {e}")))?;
        Ok((
            Store {
                journal: journal.clone(),
                writer: Some(writer),
            },
            restored,
        ))
    }

    /// Commits everything recorded so far and closes the file.
    pub fn close(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        if let Some(writer) = self.writer.take() {
            self.journal.inner.closing.store(true, Ordering::Release);
            {
                let _pending = self.journal.inner.pending.lock();
                self.journal.inner.work.notify_one();
            }
            let _ = writer.join();
            self.journal.inner.writing.store(false, Ordering::Release);
            let _pending = self.journal.inner.pending.lock();
            self.journal.inner.room.notify_all();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shut();
    }
}

fn open_database(path: &Path) -> Result<(Database, Restored), String> {
    let mut builder = Database::builder();
    // A file altered behind redb's back is refused rather than trusted.
    builder.set_check_integrity_on_open(true);
    let db = builder.create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => {
            "already open (another broker is using it)".to_owned()
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(io)) => io.to_string(),
        other => format!("not a libmqtt store or damaged ({other})"),
    })?;
    let db_error = |e: redb::Error| format!("cannot be read: {e}");
    let txn = db.begin_write().map_err(|e| db_error(e.into()))?;
    {
        let mut meta = txn.open_table(META).map_err(|e| db_error(e.into()))?;
        let version = meta
            .get("format")
            .map_err(|e| db_error(e.into()))?
            .map(|v| v.value());
        match version {
            None => {
                meta.insert("format", FORMAT_VERSION)
                    .map_err(|e| db_error(e.into()))?;
            }
            Some(v) if v > FORMAT_VERSION => {
                return Err(format!(
                    "written by a newer libmqtt (store format {v}; this one reads up to {FORMAT_VERSION})"
                ));
            }
            Some(1) => {
                upgrade_from_format_1(&txn).map_err(|e| match e {
                    ReadError::Db(e) => db_error(e),
                    ReadError::Corrupt(Corrupt(what)) => format!("damaged: {what} cannot be read"),
                })?;
                meta.insert("format", FORMAT_VERSION)
                    .map_err(|e| db_error(e.into()))?;
            }
            Some(_) => {}
        }
        // Create every table so that reading finds them.
        txn.open_table(RETAINED).map_err(|e| db_error(e.into()))?;
        txn.open_table(SESSIONS).map_err(|e| db_error(e.into()))?;
        txn.open_table(MESSAGES).map_err(|e| db_error(e.into()))?;
        txn.open_table(AWAITING_PUBREL)
            .map_err(|e| db_error(e.into()))?;
    }
    txn.commit().map_err(|e| db_error(e.into()))?;
    let restored = read_all(&db).map_err(|e| match e {
        ReadError::Db(e) => db_error(e),
        ReadError::Corrupt(Corrupt(what)) => format!("damaged: {what} cannot be read"),
    })?;
    Ok((db, restored))
}

enum ReadError {
    Db(redb::Error),
    Corrupt(Corrupt),
}

impl<E: Into<redb::Error>> From<E> for ReadError {
    fn from(e: E) -> Self {
        ReadError::Db(e.into())
    }
}

/// Rewrites a format 1 store's deliveries as format 2 records: each gets how far it got (from
/// the table format 1 kept that in, which then goes) in front of its message bytes, which are
/// left as they were (read, and judged, as any delivery's when the store is read). In chunks, so
/// that a large store is not held in memory at once.
fn upgrade_from_format_1(txn: &redb::WriteTransaction) -> Result<(), ReadError> {
    const CHUNK: usize = 4096;
    let mut messages = txn.open_table(MESSAGES)?;
    let sent = txn.open_table(SENT_FORMAT_1)?;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        let start = match &after {
            Some(key) => Bound::Excluded(key.as_slice()),
            None => Bound::Unbounded,
        };
        for entry in messages
            .range::<&[u8]>((start, Bound::Unbounded))?
            .take(CHUNK)
        {
            let (key, value) = entry?;
            let how_far = match sent.get(key.value())? {
                // Format 1 wrote a row only once sent, under a non-zero identifier.
                Some(bytes) => Some(decode_sent(bytes.value()).ok().flatten().ok_or(
                    ReadError::Corrupt(Corrupt("a delivery's packet identifier")),
                )?),
                None => None,
            };
            let mut bytes = encode_sent(how_far).to_vec();
            bytes.extend_from_slice(value.value());
            chunk.push((key.value().to_vec(), bytes));
        }
        let Some((last, _)) = chunk.last() else {
            break;
        };
        after = Some(last.clone());
        for (key, bytes) in &chunk {
            messages.insert(key.as_slice(), bytes.as_slice())?;
        }
    }
    drop(sent);
    drop(messages);
    txn.delete_table(SENT_FORMAT_1)?;
    Ok(())
}

fn read_all(db: &Database) -> Result<Restored, ReadError> {
    let txn = db.begin_read()?;
    let mut restored = Restored::default();
    for entry in txn.open_table(RETAINED)?.iter()? {
        let (_, value) = entry?;
        let mut reader = Reader::new(value.value());
        let message = MessageRecord::decode(&mut reader, PropertyContext::Publish)
            .map_err(ReadError::Corrupt)?;
        reader.finish().map_err(ReadError::Corrupt)?;
        restored.retained.push(message);
    }
    for entry in txn.open_table(SESSIONS)?.iter()? {
        let (key, value) = entry?;
        let record = SessionRecord::decode(value.value()).map_err(ReadError::Corrupt)?;
        restored.sessions.insert(
            key.value().to_owned(),
            RestoredSession {
                record,
                deliveries: Vec::new(),
                awaiting_pubrel: Vec::new(),
            },
        );
    }
    for entry in txn.open_table(MESSAGES)?.iter()? {
        let (key, value) = entry?;
        let (client_id, id) = split_session_key(key.value()).map_err(ReadError::Corrupt)?;
        // Numbers start at 1: a delivery numbered 0 could not be settled in the store.
        if id == 0 {
            return Err(ReadError::Corrupt(Corrupt("a delivery numbered 0")));
        }
        let Some(session) = restored.sessions.get_mut(client_id) else {
            // A delivery whose session ended in the same commit cannot exist; ignore strays.
            continue;
        };
        let (sent, message, shared) = decode_delivery(value.value()).map_err(ReadError::Corrupt)?;
        let sent = sent
            .and_then(|(packet_id, released)| PacketId::new(packet_id).map(|id| (id, released)));
        session.deliveries.push(RestoredDelivery {
            id,
            message,
            sent,
            shared,
        });
    }
    for entry in txn.open_table(AWAITING_PUBREL)?.iter()? {
        let (key, _) = entry?;
        let (client_id, packet_id) = split_session_key(key.value()).map_err(ReadError::Corrupt)?;
        if let Some(session) = restored.sessions.get_mut(client_id) {
            session.awaiting_pubrel.push(packet_id as u16);
        }
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Properties;
    use records::session_key;

    /// A persistent session with no subscriptions.
    fn kept_session() -> SessionRecord {
        SessionRecord {
            expiry_interval: u32::MAX,
            detached_at_ms: None,
            subscriptions: Vec::new(),
            delayed_will: None,
        }
    }

    /// A path for a store file of this test run, in a directory of its own (removed at the end
    /// of the test), with no file there yet.
    fn fresh_file(name: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("mqtt-store-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.redb"));
        let _ = std::fs::remove_file(&path);
        (dir, path)
    }

    fn record(payload: &[u8], qos: QoS) -> MessageRecord {
        MessageRecord {
            topic: TopicName::new("t").unwrap(),
            payload: Arc::from(payload),
            qos,
            retain: false,
            properties: Properties::new(),
            expires_at_ms: None,
            identifiers: Box::default(),
        }
    }

    /// A store written by format 1 (packet identifiers in a table of their own) opens with
    /// every delivery where it was, and is format 2 afterwards.
    #[test]
    fn a_format_1_store_is_upgraded_with_its_deliveries() {
        let (dir, path) = fresh_file("v1");
        let message = |payload: &[u8]| record(payload, QoS::ExactlyOnce);
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META).unwrap().insert("format", 1).unwrap();
            txn.open_table(SESSIONS)
                .unwrap()
                .insert("c", kept_session().encode().as_slice())
                .unwrap();
            let mut messages = txn.open_table(MESSAGES).unwrap();
            for (id, payload) in [(5u64, b"sent"), (6, b"wait")] {
                let mut bytes = Vec::new();
                message(payload).encode(&mut bytes);
                messages
                    .insert(session_key("c", id).as_slice(), bytes.as_slice())
                    .unwrap();
            }
            drop(messages);
            txn.open_table(SENT_FORMAT_1)
                .unwrap()
                .insert(session_key("c", 5).as_slice(), [0, 7, 1].as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        for _ in 0..2 {
            let journal = Journal::new(PersistenceSync::Durable);
            let (store, restored) = Store::open(&path, &journal).unwrap();
            let deliveries = &restored.sessions["c"].deliveries;
            let found: Vec<_> = deliveries
                .iter()
                .map(|d| (d.id, d.sent.map(|(p, r)| (p.get(), r)), d.message.clone()))
                .collect();
            assert_eq!(
                found,
                [
                    (5, Some((7, true)), message(b"sent")),
                    (6, None, message(b"wait"))
                ]
            );
            store.close();
        }
        let db = Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let format = txn
            .open_table(META)
            .unwrap()
            .get("format")
            .unwrap()
            .unwrap()
            .value();
        assert_eq!(format, FORMAT_VERSION);
        assert!(
            txn.open_table(SENT_FORMAT_1).is_err(),
            "the format 1 table is gone"
        );
        drop(txn);
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Delivery numbers start at 1 (a delivery keeps its number in 8 bytes that are never 0 in
    /// memory): a store holding a delivery numbered 0 was not written by us and is refused.
    #[test]
    fn a_delivery_numbered_0_is_refused() {
        let (dir, path) = fresh_file("zero");
        {
            let journal = Journal::new(PersistenceSync::Durable);
            let (store, _) = Store::open(&path, &journal).unwrap();
            store.close();
        }
        {
            let db = Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(SESSIONS)
                .unwrap()
                .insert("c", kept_session().encode().as_slice())
                .unwrap();
            let message = record(b"x", QoS::AtLeastOnce);
            let mut bytes = Vec::new();
            records::encode_delivery(None, &message, None, &mut bytes);
            txn.open_table(MESSAGES)
                .unwrap()
                .insert(session_key("c", 0).as_slice(), bytes.as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        let journal = Journal::new(PersistenceSync::Durable);
        let error = Store::open(&path, &journal).err().expect("refused");
        let message = error.to_string();
        assert!(message.contains("numbered 0"), "{message}");
        assert!(message.contains("zero.redb"), "{message}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Counts its kicks, as a connection would be woken.
    #[derive(Default)]
    struct CountedKicks(AtomicU64);

    impl Kick for CountedKicks {
        fn kick(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Plays a connection that holds deliveries it has not recorded for `run`: it asks to be
    /// kicked, and asks again each time it sees the epoch move, while `between` runs every 10
    /// ms. Returns how often the epoch moved and how often the connection was kicked.
    fn holding_connection(
        journal: &Journal,
        run: Duration,
        mut between: impl FnMut(),
    ) -> (u64, u64) {
        let kicks = Arc::new(CountedKicks::default());
        let first = journal.epoch();
        let mut seen = first;
        journal.kick_at_next_epoch(Arc::clone(&kicks) as Arc<dyn Kick>);
        let end = std::time::Instant::now() + run;
        while std::time::Instant::now() < end {
            if journal.epoch() != seen {
                seen = journal.epoch();
                journal.kick_at_next_epoch(Arc::clone(&kicks) as Arc<dyn Kick>);
            }
            between();
            std::thread::sleep(Duration::from_millis(10));
        }
        (journal.epoch() - first, kicks.0.load(Ordering::Relaxed))
    }

    /// Runs `body` with the journal of a fresh store committing every `interval_ms`, then
    /// closes the store and removes its file.
    fn with_interval_store(name: &str, interval_ms: u64, body: impl FnOnce(&Journal)) {
        let (dir, path) = fresh_file(name);
        let journal = Journal::new(PersistenceSync::Interval(Duration::from_millis(
            interval_ms,
        )));
        let (store, _) = Store::open(&path, &journal).unwrap();
        body(&journal);
        store.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The epoch keeps moving every three quarters of the interval while a connection asks,
    /// even when nothing is recorded in between (a client holding messages already stored).
    #[test]
    fn the_epoch_moves_while_asked_though_nothing_is_recorded() {
        with_interval_store("idle-epoch", 100, |journal| {
            let (moves, kicks) = holding_connection(journal, Duration::from_millis(800), || {});
            // At once, then every 75 ms: about 11 in 800 ms.
            assert!(moves >= 6, "moved {moves} times");
            assert!(kicks >= moves - 1, "kicked {kicks} times for {moves} moves");
        });
    }

    /// Commits made early (half the pending bound reached under load) do not hold up the
    /// epoch: it moves on its own cadence, and a commit follows each move.
    #[test]
    fn early_commits_do_not_hold_up_the_epoch() {
        with_interval_store("busy-epoch", 400, |journal| {
            let mut next = 1;
            let (moves, _) = holding_connection(journal, Duration::from_millis(1000), || {
                let mut changes: Vec<Change> = (next..next + MAX_PENDING as u64 / 2)
                    .map(|id| tests_support::settled("busy", id))
                    .collect();
                next += changes.len() as u64;
                journal.record_all_without_waiting(&mut changes);
            });
            assert!(journal.stats().commits >= 10, "{:?}", journal.stats());
            // At once, at 300 ms, 600 ms and 900 ms.
            assert!(moves >= 3, "moved {moves} times");
        });
    }

    /// A kicked connection that answers after the commit following the move has what it
    /// recorded committed at once, not at the next regular commit, so it too is on disk within
    /// the interval.
    #[test]
    fn a_late_answer_is_committed_at_once() {
        with_interval_store("late-answer", 800, |journal| {
            let commits = || journal.stats().commits;
            journal.record(tests_support::settled("late", 1));
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while commits() < 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(commits(), 1);
            // The next regular commit is 800 ms away; the move comes at once, its commit 200 ms
            // after it.
            let kicks = Arc::new(CountedKicks::default());
            let at = journal.kick_at_next_epoch(Arc::clone(&kicks) as Arc<dyn Kick>);
            while journal.epoch() < at {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(commits(), 1, "nothing to commit after the move yet");
            journal.record(tests_support::settled("late", 2));
            journal.answer_kick();
            std::thread::sleep(Duration::from_millis(150));
            assert_eq!(
                commits(),
                2,
                "the late answer's record waits for the regular commit"
            );
        });
    }

    /// Intervals under 10 ms record every delivery as it is queued: kicking connections every
    /// few milliseconds would cost more than it saves (and at 0 it would never stop).
    #[test]
    fn short_intervals_do_not_defer() {
        let defers = |ms| {
            Journal::new(PersistenceSync::Interval(Duration::from_millis(ms))).defers_deliveries()
        };
        assert!(!defers(0) && !defers(9));
        assert!(defers(10) && defers(1000));
        assert!(!Journal::new(PersistenceSync::Durable).defers_deliveries());
    }
}
