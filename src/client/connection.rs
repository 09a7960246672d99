//! The state one connection shares between the application's threads, the loop thread and
//! callbacks, and the single-reader discipline that lets every one of them wait for replies.
//!
//! Only one thread reads the socket at a time (the *reader role*). A thread that needs a reply
//! (SUBACK, PUBACK, PINGRESP, a message for `receive_message`, ...) checks whether it has arrived;
//! if not, it either takes the reader role and reads — handling and dispatching whatever comes —
//! or, when another thread holds the role, sleeps on a condition variable that the reader signals
//! after every packet. The thread holding the role may take it again re-entrantly: a callback
//! that publishes at QoS 1 reads the PUBACK itself. No lock is held while a callback runs.
//!
//! While the loop thread runs, only it reads, so every callback runs on the loop thread.
//! Messages that arrive while a callback's own nested call waits for a reply are queued and
//! dispatched, in order, right after that callback returns, so callbacks never nest inside each
//! other (except under `receive_message` called from a callback, which dispatches by design).
//!
//! The socket and its buffers form a [`Link`], replaced as a whole by a reconnect while the
//! session state stays. Each link has a generation: a failure seen on a link that has since
//! been replaced is ignored, so a late error from the old socket never closes the new one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};

use crate::protocol::{
    Ack, Auth, Connack, ConnectReturnCode, Disconnect, Packet, PacketId, Properties, Property,
    PropertyId, ProtocolLevel, Publish, QoS, QosPid, ReasonCode, SubackCode, Subscribe,
    SubscribeTopic,
};

use super::aliases::{AliasUse, IncomingAliases, OutgoingAliases};
use super::error::{ClientError, CloseReason, ServerReason};
use super::inbound::Inbound;
use super::options::{Callbacks, LogLevel, OfflineQueue};
use super::outbound::{Outbound, SendError};
use super::published::{PublishOutcome, PublishedCallback};
use super::request::Requests;
use super::session::{AckOutcome, Enqueued, OutgoingMessage, QueueError, Resend, Session};
use super::subscriptions::{Message, MessageCallback, Subscriptions};
use super::tls_session::read_error;
use super::transport::{self, Readiness, Transport};
use super::websocket::is_protocol_failure;
use crate::waker::Waker;

/// The most read steps one `loop_read` takes.
const MAX_STEPS_PER_LOOP_READ: usize = 1000;

/// One network connection to the broker (TCP, TLS over TCP, or WebSocket over either) with its
/// send and receive buffers, and what MQTT 5.0 scopes to one network connection: the server's
/// Maximum Packet Size and the topic aliases.
pub(crate) struct Link {
    transport: Transport,
    outbound: Outbound,
    inbound: Mutex<Inbound>,
    generation: u64,
    /// The server's Maximum Packet Size from CONNACK; 0 while unknown or unlimited.
    server_max_packet_size: AtomicU32,
    /// The server's Maximum QoS from CONNACK (2 when it announced none).
    server_max_qos: AtomicU8,
    /// The server's Retain Available from CONNACK (true when it announced none).
    retain_available: AtomicBool,
    /// Set once CONNACK gave the server's Topic Alias Maximum. Locked inside the send lock
    /// (see [`Shared::send_publish`]), never the other way round.
    pub(crate) outgoing_aliases: Mutex<OutgoingAliases>,
    incoming_aliases: Mutex<IncomingAliases>,
}

/// A message read but not yet dispatched, with the callback chosen on arrival (so an
/// unsubscribe made meanwhile does not lose it) and the link it came on.
type Queued = (Publish, Option<MessageCallback>, Arc<Link>);

/// Everything guarded by the state lock.
pub(crate) struct State {
    pub(crate) session: Session,
    closed: Option<CloseReason>,
    /// The generation of the current link.
    generation: u64,
    reader: Option<ThreadId>,
    reader_depth: u32,
    /// A callback is running on the reader thread.
    dispatching: bool,
    /// Messages that arrived during a nested call inside a callback.
    pending_dispatch: VecDeque<Queued>,
    /// PUBLISH packets processed so far (dispatched, or dropped for want of a matching filter).
    pub(crate) messages_processed: u64,
    pub(crate) loop_thread: Option<ThreadId>,
    /// The SUBSCRIBE a reconnect sent to restore the subscriptions; its SUBACK is only logged.
    resubscribe_ids: Vec<PacketId>,
    /// Re-authentications finished (AUTH success from the server), for `reauthenticate`.
    pub(crate) reauthentications: u64,
}

impl State {
    pub(crate) fn closed(&self) -> Option<&CloseReason> {
        self.closed.as_ref()
    }
}

/// Whether a read step may run a callback while another callback is running on this thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nesting {
    /// Queue messages until the running callback returns (waits for acknowledgements).
    Queue,
    /// Dispatch right away (`receive_message`, whose purpose is dispatching).
    Dispatch,
}

/// What a waiter does when the connection closes before what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnClose {
    /// Fail with `ClientError::Closed`.
    Fail,
    /// Keep waiting for a reconnect to finish the job when it will — in a persistent session,
    /// or while this publish waits in the offline queue — unless this client disconnected or
    /// was dropped. Otherwise fails at once.
    AwaitReconnect(PacketId),
}

pub(crate) struct Shared {
    /// The current link; replaced only with the state lock held (lock order: state, then link).
    link: RwLock<Arc<Link>>,
    next_generation: AtomicU64,
    waker: Waker,
    state: Mutex<State>,
    /// Mirrors `!state.pending_dispatch.is_empty()` (updated under the lock) so the per-packet
    /// path skips the lock when nothing is queued, which is nearly always.
    dispatch_queued: AtomicBool,
    changed: Condvar,
    pub(crate) subscriptions: Mutex<Subscriptions>,
    on_published: Mutex<Option<PublishedCallback>>,
    /// The keep-alive in force in milliseconds (0: off): the one asked for, or the server's
    /// (MQTT 5.0 Server Keep Alive, [MQTT-3.2.2-21] of MQTT 5.0).
    keep_alive_ms: AtomicU64,
    /// The keep-alive this client asked for, in milliseconds, restored by a CONNACK without
    /// Server Keep Alive.
    configured_keep_alive_ms: u64,
    pub(crate) protocol: ProtocolLevel,
    /// The Topic Alias Maximum this client announced.
    topic_alias_maximum: u16,
    /// The Receive Maximum this client announced (65535 when none).
    receive_maximum: u16,
    /// MQTT 5.0 enhanced authentication's method, when CONNECT named one.
    pub(crate) auth_method: Option<String>,
    pub(crate) requests: Requests,
    pub(crate) operation_timeout: Duration,
    max_packet_size: usize,
    /// Clean session 0: identifiers stay valid across connections.
    persistent: bool,
    /// The loop thread (or `loop_misc`) reconnects by itself: publishes made meanwhile are
    /// queued.
    auto_reconnect: bool,
    /// The host's event loop drives the connection (`loop_read` / `loop_misc` were called), so
    /// `loop_misc` reconnects without a loop thread.
    external_loop: AtomicBool,
    resubscribe: bool,
    offline_queue: OfflineQueue,
    callbacks: Callbacks,
}

/// Releases the reader role, also when a callback panics.
struct ReaderRole<'a>(&'a Shared);

impl Drop for ReaderRole<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock();
        st.reader_depth -= 1;
        if st.reader_depth == 0 {
            st.reader = None;
        }
        drop(st);
        self.0.changed.notify_all();
    }
}

/// Restores the dispatching flag when a callback panics (normal exits restore it themselves,
/// under a lock they take anyway).
struct DispatchingFlag<'a> {
    shared: &'a Shared,
    previous: bool,
    armed: bool,
}

impl Drop for DispatchingFlag<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.state.lock().dispatching = self.previous;
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The connection settings `Shared::new` needs.
pub(crate) struct LinkSettings {
    pub(crate) keep_alive: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) max_inflight: usize,
    pub(crate) max_packet_size: usize,
    pub(crate) persistent: bool,
    pub(crate) auto_reconnect: bool,
    pub(crate) resubscribe: bool,
    pub(crate) offline_queue: OfflineQueue,
    pub(crate) callbacks: Callbacks,
    pub(crate) protocol: ProtocolLevel,
    pub(crate) topic_alias_maximum: u16,
    pub(crate) receive_maximum: u16,
    pub(crate) auth_method: Option<String>,
}

/// What [`new_link`] needs besides the socket.
#[derive(Clone, Copy)]
struct LinkShape {
    operation_timeout: Duration,
    max_packet_size: usize,
    protocol: ProtocolLevel,
    topic_alias_maximum: u16,
}

fn new_link(
    transport: Transport,
    shape: LinkShape,
    generation: u64,
) -> Result<Arc<Link>, ClientError> {
    transport
        .stream()
        .set_write_timeout(Some(shape.operation_timeout))
        .map_err(ClientError::Io)?;
    Ok(Arc::new(Link {
        transport,
        outbound: Outbound::new(),
        inbound: Mutex::new(Inbound::new(shape.max_packet_size, shape.protocol)),
        generation,
        server_max_packet_size: AtomicU32::new(0),
        server_max_qos: AtomicU8::new(2),
        retain_available: AtomicBool::new(true),
        outgoing_aliases: Mutex::new(OutgoingAliases::new(0)),
        incoming_aliases: Mutex::new(IncomingAliases::new(shape.topic_alias_maximum)),
    }))
}

impl Link {
    /// Takes in what an MQTT 5.0 CONNACK says about this connection: the server's Maximum
    /// Packet Size, Maximum QoS, Retain Available and Topic Alias Maximum.
    fn apply_connack(&self, connack: &Connack) {
        let p = &connack.properties;
        if let Some(max) = p.integer(PropertyId::MaximumPacketSize) {
            self.server_max_packet_size.store(max, Ordering::Relaxed);
        }
        if let Some(max) = p.integer(PropertyId::MaximumQos) {
            self.server_max_qos.store(max as u8, Ordering::Relaxed);
        }
        if p.integer(PropertyId::RetainAvailable) == Some(0) {
            self.retain_available.store(false, Ordering::Relaxed);
        }
        let aliases = p.integer(PropertyId::TopicAliasMaximum).unwrap_or(0);
        *self.outgoing_aliases.lock() = OutgoingAliases::new(aliases as u16);
    }

    /// The highest QoS the server accepts (its CONNACK's Maximum QoS, else 2).
    pub(crate) fn server_max_qos(&self) -> u8 {
        self.server_max_qos.load(Ordering::Relaxed)
    }

    /// Whether the server takes retained messages (its CONNACK's Retain Available, else true).
    pub(crate) fn retain_available(&self) -> bool {
        self.retain_available.load(Ordering::Relaxed)
    }

    /// The server's Maximum Packet Size, if it announced one.
    pub(crate) fn server_max_packet_size(&self) -> Option<u32> {
        match self.server_max_packet_size.load(Ordering::Relaxed) {
            0 => None,
            max => Some(max),
        }
    }
}

impl Shared {
    pub(crate) fn new(transport: Transport, settings: LinkSettings) -> Result<Shared, ClientError> {
        let shape = LinkShape {
            operation_timeout: settings.operation_timeout,
            max_packet_size: settings.max_packet_size,
            protocol: settings.protocol,
            topic_alias_maximum: settings.topic_alias_maximum,
        };
        let link = new_link(transport, shape, 0)?;
        Ok(Shared {
            link: RwLock::new(link),
            next_generation: AtomicU64::new(1),
            waker: Waker::new().map_err(ClientError::Io)?,
            state: Mutex::new(State {
                session: Session::new(settings.max_inflight, settings.persistent),
                closed: None,
                generation: 0,
                reader: None,
                reader_depth: 0,
                dispatching: false,
                pending_dispatch: VecDeque::new(),
                messages_processed: 0,
                loop_thread: None,
                resubscribe_ids: Vec::new(),
                reauthentications: 0,
            }),
            dispatch_queued: AtomicBool::new(false),
            changed: Condvar::new(),
            subscriptions: Mutex::new(Subscriptions::default()),
            on_published: Mutex::new(None),
            keep_alive_ms: AtomicU64::new(settings.keep_alive.as_millis() as u64),
            configured_keep_alive_ms: settings.keep_alive.as_millis() as u64,
            protocol: settings.protocol,
            topic_alias_maximum: settings.topic_alias_maximum,
            receive_maximum: settings.receive_maximum,
            auth_method: settings.auth_method,
            requests: Requests::default(),
            operation_timeout: settings.operation_timeout,
            max_packet_size: settings.max_packet_size,
            persistent: settings.persistent,
            auto_reconnect: settings.auto_reconnect,
            external_loop: AtomicBool::new(false),
            resubscribe: settings.resubscribe,
            offline_queue: settings.offline_queue,
            callbacks: settings.callbacks,
        })
    }

    /// Clean session 0.
    pub(crate) fn persistent(&self) -> bool {
        self.persistent
    }

    /// The current link.
    pub(crate) fn link(&self) -> Arc<Link> {
        Arc::clone(&self.link.read())
    }

    /// A link over a freshly connected socket, not yet in use (see [`Shared::install_link`]).
    pub(crate) fn prepare_link(&self, transport: Transport) -> Result<Arc<Link>, ClientError> {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let shape = LinkShape {
            operation_timeout: self.operation_timeout,
            max_packet_size: self.max_packet_size,
            protocol: self.protocol,
            topic_alias_maximum: self.topic_alias_maximum,
        };
        new_link(transport, shape, generation)
    }

    /// Takes in a successful CONNACK on `link` before the link is used: MQTT 5.0's Receive
    /// Maximum (the publish window), Server Keep Alive, Maximum Packet Size and Topic Alias
    /// Maximum.
    pub(crate) fn apply_connack(&self, link: &Link, connack: &Connack) {
        if !self.protocol.is_v5() {
            return;
        }
        link.apply_connack(connack);
        let p = &connack.properties;
        let receive_maximum = p.integer(PropertyId::ReceiveMaximum).unwrap_or(65535);
        self.state
            .lock()
            .session
            .set_server_receive_maximum(receive_maximum as u16);
        // [MQTT-3.2.2-21]: the Server Keep Alive of this CONNACK, or else the client's own.
        let keep_alive = p
            .integer(PropertyId::ServerKeepAlive)
            .map_or(self.configured_keep_alive_ms, |s| u64::from(s) * 1000);
        self.keep_alive_ms.store(keep_alive, Ordering::Relaxed);
        if let Some(info) = p.string(PropertyId::ResponseInformation) {
            self.requests.set_response_information(info);
        }
    }

    /// The keep-alive period in force, if any.
    pub(crate) fn keep_alive(&self) -> Option<Duration> {
        match self.keep_alive_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    pub(crate) fn set_on_published(&self, callback: Option<PublishedCallback>) {
        *self.on_published.lock() = callback;
    }

    fn notify_published(&self, id: PacketId, outcome: PublishOutcome) {
        let callback = self.on_published.lock().clone();
        if let Some(callback) = callback {
            callback(id, outcome);
        }
    }

    /// Passes a log line to the log callback, if any. Call with no lock held.
    pub(crate) fn log(&self, level: LogLevel, message: impl FnOnce() -> String) {
        if let Some(on_log) = &self.callbacks.on_log {
            on_log(level, &message());
        }
    }

    /// Tells the connect callback of a CONNACK. Call with no lock held.
    pub(crate) fn notify_connect(&self, connack: &Connack) {
        // The MQTT 3.1.1 return code this client's callers know.
        let code = ConnectReturnCode::from_reason(connack.code) as u8;
        self.log(LogLevel::Info, || {
            format!(
                "CONNACK {code}, session present {}",
                u8::from(connack.session_present)
            )
        });
        if let Some(on_connect) = &self.callbacks.on_connect {
            on_connect(connack.session_present, code);
        }
    }

    /// Tells the disconnect callback that the connection ended (once per connection: callers
    /// pass only the reason that closed an open one). Call with no lock held.
    fn notify_disconnect(&self, reason: &CloseReason, will_reconnect: bool) {
        let level = if reason.ended_by_client() {
            LogLevel::Info
        } else {
            LogLevel::Warning
        };
        self.log(level, || {
            let next = if will_reconnect { "; reconnecting" } else { "" };
            format!("{reason}{next}")
        });
        if let Some(on_disconnect) = &self.callbacks.on_disconnect {
            on_disconnect(reason, will_reconnect);
        }
    }

    /// Whether something will reconnect by itself after `reason` closed the connection.
    fn will_reconnect(&self, st: &State, reason: &CloseReason) -> bool {
        *reason == CloseReason::Reconnecting
            || (self.auto_reconnect
                && !reason.ended_by_client()
                && (st.loop_thread.is_some() || self.external_loop.load(Ordering::Acquire)))
    }

    /// Records `reason` if the connection is open (the first reason wins), returning what the
    /// disconnect callback must be told, if anything.
    fn record_close(&self, st: &mut State, reason: CloseReason) -> Option<(CloseReason, bool)> {
        if st.closed.is_some() {
            return None;
        }
        let will_reconnect = self.will_reconnect(st, &reason);
        st.closed = Some(reason.clone());
        Some((reason, will_reconnect))
    }

    /// Queues a publish made while the connection is down and automatic reconnects are on, or
    /// says why not. `Ok` carries the queued identifier (QoS 1/2).
    pub(crate) fn enqueue_offline(
        &self,
        st: &mut MutexGuard<'_, State>,
        message: &OutgoingMessage<'_>,
    ) -> Result<Option<PacketId>, ClientError> {
        let enqueued = st.session.enqueue(&self.offline_queue, message);
        let Enqueued {
            id,
            dropped,
            dropped_count,
        } = match enqueued {
            Ok(e) => e,
            Err(QueueError::Full) => return Err(ClientError::QueueFull),
            Err(QueueError::NoIdentifier) => {
                return Err(ClientError::InvalidArgument(
                    "all 65535 packet identifiers are in use".into(),
                ));
            }
            Err(QueueError::Encode(e)) => return Err(ClientError::Encode(e)),
        };
        if dropped_count > 0 {
            MutexGuard::unlocked(st, || {
                self.log(LogLevel::Warning, || {
                    format!("offline queue full: dropped the {dropped_count} oldest publish(es)")
                });
                for id in dropped {
                    self.notify_published(id, PublishOutcome::Dropped);
                }
            });
        }
        Ok(id)
    }

    /// Whether a publish made now goes to the offline queue: the connection is down, not
    /// ended by this client, and the loop thread reconnects by itself.
    pub(crate) fn queues_offline(&self, st: &State, qos: QoS) -> bool {
        st.closed.as_ref().is_some_and(|r| !r.ended_by_client())
            && self.auto_reconnect
            && (qos != QoS::AtMostOnce || self.offline_queue.qos0)
    }

    /// Waits until no other thread holds the reader role (the connection must be closed, which
    /// makes readers give the role up promptly), so a new link can be installed.
    pub(crate) fn wait_reader_free(&self, deadline: Instant) -> Result<(), ClientError> {
        let me = thread::current().id();
        let mut st = self.state.lock();
        while st.reader.is_some_and(|owner| owner != me) {
            if self.changed.wait_until(&mut st, deadline).timed_out() {
                return Err(ClientError::Timeout);
            }
        }
        Ok(())
    }

    /// Makes `link` (after its CONNACK) the connection: the session resumes on it — re-sends
    /// queued ahead of anything else — or, for a clean session, is discarded. Reports discarded
    /// publishes to the completion callback and wakes every waiter.
    /// Fails, closing `link`, when this client disconnected or was dropped meanwhile.
    pub(crate) fn install_link(
        &self,
        link: Arc<Link>,
        session_present: bool,
    ) -> Result<(), ClientError> {
        // Taken before the state lock (lock order: subscriptions are never locked inside it).
        let filters = if self.resubscribe && !session_present {
            self.subscriptions.lock().filters()
        } else {
            Vec::new()
        };
        let mut st = self.state.lock();
        if let Some(reason @ (CloseReason::Disconnected | CloseReason::Dropped)) = &st.closed {
            link.transport.shut_down();
            return Err(ClientError::Closed(reason.clone()));
        }
        let (resends, discarded) = if self.persistent {
            (st.session.resume(session_present), Vec::new())
        } else {
            (Vec::new(), st.session.discard())
        };
        // The broker has no session: subscribe again to what the application subscribed to,
        // first thing, so the filters and callbacks registered before keep working.
        // One SUBSCRIBE per Subscription Identifier, which is a property of the whole packet.
        st.resubscribe_ids.clear();
        let mut groups: std::collections::BTreeMap<Option<u32>, Vec<SubscribeTopic>> =
            std::collections::BTreeMap::new();
        for (topic, identifier) in &filters {
            groups.entry(*identifier).or_default().push(topic.clone());
        }
        // Each SUBSCRIBE within the server's Maximum Packet Size ([MQTT-3.2.2-15] of MQTT 5.0):
        // a group that would exceed it is split; a filter too long for any is left out.
        let limit = link
            .server_max_packet_size()
            .map_or(usize::MAX, |m| m as usize);
        let mut chunks: Vec<(Option<u32>, Vec<SubscribeTopic>)> = Vec::new();
        let mut too_long = 0usize;
        for (identifier, topics) in groups {
            let properties = Properties(
                identifier
                    .map(Property::SubscriptionIdentifier)
                    .into_iter()
                    .collect(),
            );
            let mut chunk: Vec<SubscribeTopic> = Vec::new();
            for topic in topics {
                chunk.push(topic);
                if subscribe_size(self.protocol, &chunk, &properties) <= limit {
                    continue;
                }
                let topic = chunk.pop().expect("just pushed");
                if !chunk.is_empty() {
                    chunks.push((identifier, std::mem::take(&mut chunk)));
                }
                if subscribe_size(self.protocol, std::slice::from_ref(&topic), &properties) <= limit
                {
                    chunk.push(topic);
                } else {
                    too_long += 1;
                }
            }
            if !chunk.is_empty() {
                chunks.push((identifier, chunk));
            }
        }
        let mut resubscribe = Vec::new();
        for (identifier, topics) in chunks {
            let Some(packet_id) = st.session.allocate(super::session::Outgoing::Suback(None))
            else {
                break;
            };
            st.resubscribe_ids.push(packet_id);
            resubscribe.push(Packet::Subscribe(Subscribe {
                packet_id,
                topics,
                properties: Properties(
                    identifier
                        .map(Property::SubscriptionIdentifier)
                        .into_iter()
                        .collect(),
                ),
            }));
        }
        // Publishes queued while offline go after the re-sends, in the order they were made.
        let offline = st.session.take_offline();
        let protocol = self.protocol;
        let queued = link.outbound.queue(|buf| {
            for subscribe in &resubscribe {
                subscribe.encode_for(protocol, buf)?;
            }
            for resend in &resends {
                match resend {
                    Resend::Publish(encoded) => buf.extend_from_slice(encoded),
                    Resend::Pubrel(id) => Packet::Pubrel((*id).into()).encode_for(protocol, buf)?,
                }
            }
            for encoded in &offline {
                buf.extend_from_slice(encoded);
            }
            Ok(())
        });
        debug_assert!(queued.is_ok(), "SUBSCRIBE and PUBREL encode");
        st.generation = link.generation;
        st.closed = None;
        *self.link.write() = Arc::clone(&link);
        drop(st);
        self.changed.notify_all();
        // Flushes the re-sends; a failure closes this link like any other.
        let _ = self.send_on(&link, |_| Ok(()));
        for id in discarded {
            self.notify_published(id, PublishOutcome::Discarded);
        }
        if too_long > 0 {
            self.log(LogLevel::Warning, || {
                format!(
                    "{too_long} filter(s) not subscribed again: a SUBSCRIBE with one alone exceeds \
                     the server's Maximum Packet Size"
                )
            });
        }
        if !resubscribe.is_empty() {
            self.log(LogLevel::Info, || {
                format!(
                    "no session present: subscribing again to {} filter(s)",
                    filters.len()
                )
            });
        }
        Ok(())
    }

    /// Ends the current connection for [`Client::reconnect`](super::Client::reconnect): the
    /// reason becomes `Reconnecting` whatever it was (a reconnect may follow a disconnect).
    pub(crate) fn begin_reconnect(&self) {
        let mut st = self.state.lock();
        let closed = self.record_close(&mut st, CloseReason::Reconnecting);
        st.closed = Some(CloseReason::Reconnecting);
        self.link.read().transport.shut_down();
        drop(st);
        self.changed.notify_all();
        self.waker.wake();
        if let Some((reason, will_reconnect)) = closed {
            self.notify_disconnect(&reason, will_reconnect);
        }
    }

    /// Records that this client ends the connection (`Disconnected` or `Dropped`), replacing a
    /// reason that left room for a reconnect, so waiters and the loop thread give up; returns
    /// the reason that was there before. The socket stays usable for a last packet.
    pub(crate) fn mark_ended(&self, reason: CloseReason) -> Option<CloseReason> {
        let mut st = self.state.lock();
        let previous = st.closed.clone();
        let closed = self.record_close(&mut st, reason.clone());
        if !matches!(
            previous,
            Some(CloseReason::Disconnected | CloseReason::Dropped)
        ) {
            st.closed = Some(reason);
        }
        drop(st);
        self.changed.notify_all();
        if let Some((reason, will_reconnect)) = closed {
            self.notify_disconnect(&reason, will_reconnect);
        }
        previous
    }

    /// Waits `delay` unless `stop` turns true first (then false), woken by [`Shared::notify`].
    pub(crate) fn sleep_unless(&self, delay: Duration, stop: &dyn Fn() -> bool) -> bool {
        let deadline = Instant::now() + delay;
        let mut st = self.state.lock();
        while !stop() {
            if self.changed.wait_until(&mut st, deadline).timed_out() {
                return !stop();
            }
        }
        false
    }

    /// The loop thread `me` is ending: other threads read again.
    pub(crate) fn leave_loop_thread(&self, me: ThreadId) {
        let mut st = self.state.lock();
        if st.loop_thread == Some(me) {
            st.loop_thread = None;
        }
        drop(st);
        self.changed.notify_all();
    }

    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    pub(crate) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Interrupts whichever thread is blocked reading, so it re-checks what it waits for.
    pub(crate) fn wake_reader(&self) {
        self.waker.wake();
    }

    /// Marks the connection closed (the first reason wins), ends the socket and wakes everyone.
    pub(crate) fn close(&self, reason: CloseReason) {
        let mut st = self.state.lock();
        let closed = self.record_close(&mut st, reason);
        self.link.read().transport.shut_down();
        drop(st);
        self.changed.notify_all();
        self.waker.wake();
        if let Some((reason, will_reconnect)) = closed {
            self.notify_disconnect(&reason, will_reconnect);
        }
    }

    /// [`Shared::close`] for a failure seen on `link`: ignored (beyond ending that socket) when
    /// a reconnect has replaced it.
    fn close_link(&self, link: &Link, reason: CloseReason) {
        let mut st = self.state.lock();
        let closed = if st.generation == link.generation {
            self.record_close(&mut st, reason)
        } else {
            None
        };
        link.transport.shut_down();
        drop(st);
        self.changed.notify_all();
        self.waker.wake();
        if let Some((reason, will_reconnect)) = closed {
            self.notify_disconnect(&reason, will_reconnect);
        }
    }

    pub(crate) fn closed_error(&self) -> Option<ClientError> {
        self.state
            .lock()
            .closed
            .as_ref()
            .map(|r| ClientError::Closed(r.clone()))
    }

    /// Queues bytes for the current socket (see [`Outbound::send`]); a failed write closes the
    /// connection.
    pub(crate) fn send_with(
        &self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), crate::protocol::EncodeError>,
    ) -> Result<(), ClientError> {
        self.send_on(&self.link(), encode)
    }

    /// [`Shared::send_with`] on a given link. A packet above the server's Maximum Packet Size
    /// is not sent ([MQTT-3.2.2-15] of MQTT 5.0) and fails with `PacketTooLarge`.
    pub(crate) fn send_on(
        &self,
        link: &Link,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), crate::protocol::EncodeError>,
    ) -> Result<(), ClientError> {
        let limit = link.server_max_packet_size();
        let checked = |buf: &mut Vec<u8>| {
            let start = buf.len();
            encode(buf).map_err(ClientError::Encode)?;
            check_size(buf, start, limit)
        };
        match link.outbound.send(&link.transport, checked) {
            Ok(()) => Ok(()),
            Err(SendError::Encode(e)) => Err(e),
            Err(SendError::Io(e)) => {
                self.close_link(link, CloseReason::Io(e.to_string()));
                // The reason recorded for the connection, not this write's own error, so every
                // call that finds the connection lost reports the same cause, whatever its QoS.
                Err(self
                    .closed_error()
                    .unwrap_or(ClientError::Closed(CloseReason::Io(e.to_string()))))
            }
        }
    }

    /// Sends an MQTT 5.0 or older PUBLISH on `link`; with `alias` (and a server that allows
    /// topic aliases) the topic goes as a topic alias once the server knows it. The alias is
    /// chosen under the send lock, so the PUBLISH that sets a mapping reaches the wire before
    /// any that uses it. A PUBLISH that would exceed the server's Maximum Packet Size only
    /// because of the alias goes without one.
    pub(crate) fn send_publish(
        &self,
        link: &Link,
        message: &OutgoingMessage<'_>,
        qospid: QosPid,
        alias: bool,
    ) -> Result<(), ClientError> {
        let Some(properties) = message.properties.filter(|_| alias) else {
            return self.send_on(link, |buf| message.encode(buf, false, qospid));
        };
        let limit = link.server_max_packet_size();
        self.send_on(link, |buf| {
            let mut aliases = link.outgoing_aliases.lock();
            let Some(choice) = aliases.alias_for(message.topic) else {
                return message.encode(buf, false, qospid);
            };
            let (topic, number) = match choice {
                AliasUse::Known(n) => ("", n),
                AliasUse::Assign(n) => (message.topic, n),
            };
            let start = buf.len();
            let encoded = crate::protocol::encode_publish_v5(
                buf,
                false,
                qospid,
                message.retain,
                topic,
                message.payload,
                properties,
                &[Property::TopicAlias(number)],
            );
            let too_large = limit.is_some_and(|max| buf.len() - start > max as usize);
            if encoded.is_err() || too_large {
                buf.truncate(start);
                if matches!(choice, AliasUse::Assign(_)) {
                    aliases.forget(message.topic);
                }
                return message.encode(buf, false, qospid);
            }
            Ok(())
        })
    }

    pub(crate) fn send_packet(&self, packet: &Packet) -> Result<(), ClientError> {
        let protocol = self.protocol;
        self.send_with(|buf| packet.encode_for(protocol, buf))
    }

    /// Sends CONNECT; with `bridge_announce`, its protocol level byte carries the top bit
    /// (mosquitto's `try_private` bridge convention, 0x83 / 0x84).
    pub(crate) fn send_connect(
        &self,
        link: Option<&Link>,
        connect: &crate::protocol::Connect,
        bridge_announce: bool,
    ) -> Result<(), ClientError> {
        let protocol = self.protocol;
        let packet = Packet::Connect(Box::new(connect.clone()));
        let encode = |buf: &mut Vec<u8>| {
            let start = buf.len();
            packet.encode_for(protocol, buf)?;
            if bridge_announce {
                mark_bridge(&mut buf[start..]);
            }
            Ok(())
        };
        match link {
            Some(link) => self.send_on(link, encode),
            None => self.send_with(encode),
        }
    }

    /// [`Shared::send_packet`] on a given link.
    pub(crate) fn send_packet_on(&self, link: &Link, packet: &Packet) -> Result<(), ClientError> {
        let protocol = self.protocol;
        self.send_on(link, |buf| packet.encode_for(protocol, buf))
    }

    /// Reads from `link` until the first packet, which must be CONNACK ([MQTT-3.2.0-1]), or
    /// `deadline`. In MQTT 5.0 enhanced authentication, AUTH packets may come first: each is
    /// answered through the authentication callback (MQTT 5.0 section 4.12).
    pub(crate) fn read_connack(
        &self,
        link: &Link,
        deadline: Instant,
    ) -> Result<Connack, ClientError> {
        let mut inbound = link.inbound.lock();
        loop {
            match inbound.next_packet() {
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
                Ok(Some(Packet::Connack(c))) => return Ok(c),
                Ok(Some(Packet::Auth(auth))) if self.auth_method.is_some() => {
                    let reply = self
                        .answer_auth(&auth)
                        .map_err(|e| ClientError::Authentication(e.to_string()))?;
                    self.send_packet_on(link, &reply)?;
                }
                Ok(Some(other)) => {
                    return Err(ClientError::Protocol(format!(
                        "expected CONNACK, got {:?} [MQTT-3.2.0-1]",
                        other.packet_type()
                    )));
                }
                Ok(None) => {}
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout);
            }
            match transport::wait_readable(link.transport.fd(), &self.waker, Some(deadline)) {
                Err(e) => return Err(ClientError::Io(e)),
                Ok(Readiness::Interrupted) => {}
                Ok(Readiness::Readable) => match link.transport.read_into(&mut inbound) {
                    Ok(0) => return Err(ClientError::Closed(CloseReason::ClosedByPeer)),
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                        ) => {}
                    Err(e) => return Err(read_error(e)),
                },
            }
        }
    }

    /// Waits until `ready` yields a value, reading the socket itself whenever no other thread
    /// is (see the module documentation). `None` deadline waits for ever. A reply that arrived
    /// counts even if the connection closed afterwards.
    pub(crate) fn wait_for<T>(
        &self,
        deadline: Option<Instant>,
        nesting: Nesting,
        ready: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<T, ClientError> {
        self.wait(deadline, nesting, OnClose::Fail, ready)
    }

    /// [`Shared::wait_for`] with a choice of what a closed connection means.
    pub(crate) fn wait<T>(
        &self,
        deadline: Option<Instant>,
        nesting: Nesting,
        on_close: OnClose,
        mut ready: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<T, ClientError> {
        let me = thread::current().id();
        let mut st = self.state.lock();
        // The first turn always gets to look (a zero timeout still handles what is buffered),
        // which also saves a clock read per call on the hot path.
        let mut first_turn = true;
        loop {
            if let Some(v) = ready(&mut st) {
                return Ok(v);
            }
            if let Some(reason) = &st.closed {
                let awaits_reconnect = match on_close {
                    OnClose::Fail => false,
                    OnClose::AwaitReconnect(id) => {
                        (self.persistent || st.session.is_queued_offline(id))
                            && !reason.ended_by_client()
                    }
                };
                if !awaits_reconnect {
                    return Err(ClientError::Closed(reason.clone()));
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(ClientError::Timeout);
                }
                match deadline {
                    Some(d) => {
                        self.changed.wait_until(&mut st, d);
                    }
                    None => self.changed.wait(&mut st),
                }
                continue;
            }
            if !first_turn && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(ClientError::Timeout);
            }
            first_turn = false;
            let may_read = match st.reader {
                Some(owner) => owner == me,
                None => st.loop_thread.is_none_or(|t| t == me),
            };
            if may_read {
                st.reader = Some(me);
                st.reader_depth += 1;
                MutexGuard::unlocked(&mut st, || {
                    let _role = ReaderRole(self);
                    self.read_step(deadline, nesting);
                });
            } else {
                match deadline {
                    Some(d) => {
                        self.changed.wait_until(&mut st, d);
                    }
                    None => self.changed.wait(&mut st),
                }
            }
        }
    }

    /// One turn of the loop thread: take the reader role when free, read or dispatch one step.
    /// False once the connection is closed or `stop` returns true.
    pub(crate) fn serve_once(&self, stop: &dyn Fn() -> bool) -> bool {
        let me = thread::current().id();
        let mut st = self.state.lock();
        loop {
            if st.closed.is_some() || stop() {
                return false;
            }
            match st.reader {
                Some(owner) if owner != me => {
                    self.changed.wait_for(&mut st, Duration::from_millis(100));
                }
                _ => break,
            }
        }
        st.reader = Some(me);
        st.reader_depth += 1;
        drop(st);
        let _role = ReaderRole(self);
        self.read_step(None, Nesting::Queue);
        true
    }

    /// Handles one buffered packet or queued message, or else waits (until `deadline`, the next
    /// keep-alive duty, or a wake-up) for bytes and reads them. Failures close the connection.
    /// Returns whether it made progress (handled something or read bytes).
    fn read_step(&self, deadline: Option<Instant>, nesting: Nesting) -> bool {
        if self.dispatch_queued.load(Ordering::Acquire) {
            let mut st = self.state.lock();
            if (!st.dispatching || nesting == Nesting::Dispatch)
                && let Some(queued) = self.pop_queued(&mut st)
            {
                let previous = std::mem::replace(&mut st.dispatching, true);
                drop(st);
                self.dispatch(queued, previous);
                return true;
            }
        }
        let link = self.link();
        let next = link.inbound.lock().next_packet();
        match next {
            Err(e) => {
                self.fail_link(&link, e.reason_code(), e.to_string());
                return false;
            }
            Ok(Some(packet)) => {
                self.handle(&link, packet, nesting);
                return true;
            }
            Ok(None) => {}
        }
        let keep_alive_due = match self.keep_alive_duty(&link) {
            Ok(due) => due,
            Err(reason) => {
                self.close_link(&link, reason);
                return false;
            }
        };
        let until = earliest(deadline, keep_alive_due);
        match transport::wait_readable(link.transport.fd(), &self.waker, until) {
            Err(e) => self.close_link(&link, CloseReason::Io(e.to_string())),
            Ok(Readiness::Interrupted) => {}
            Ok(Readiness::Readable) => {
                let filled = link.transport.read_into(&mut link.inbound.lock());
                match filled {
                    Ok(0) => self.close_link(&link, CloseReason::ClosedByPeer),
                    Ok(_) => return true,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                        ) => {}
                    // A text frame, say: the broker broke MQTT over WebSocket's rules.
                    Err(e) if is_protocol_failure(&e) => {
                        self.close_link(&link, CloseReason::ProtocolViolation(e.to_string()))
                    }
                    Err(e) => self.close_link(&link, CloseReason::Io(e.to_string())),
                }
            }
        }
        false
    }

    /// The external event loop's read step: handles, on this thread, every packet that can be
    /// read without blocking (at most [`MAX_STEPS_PER_LOOP_READ`] steps, so one busy connection
    /// cannot starve the host's loop), dispatching messages to their callbacks. Sends PINGREQ
    /// when keep-alive is due. Fails with `LoopAlreadyRunning` while the loop thread runs and
    /// with `Closed` once the connection is closed.
    pub(crate) fn read_available(&self) -> Result<(), ClientError> {
        let me = thread::current().id();
        let mut st = self.state.lock();
        self.external_loop.store(true, Ordering::Release);
        if let Some(reason) = &st.closed {
            return Err(ClientError::Closed(reason.clone()));
        }
        if st.loop_thread.is_some() {
            return Err(ClientError::LoopAlreadyRunning);
        }
        if st.reader.is_some_and(|owner| owner != me) {
            // Another thread is reading (a blocking call); it handles what arrives.
            return Ok(());
        }
        st.reader = Some(me);
        st.reader_depth += 1;
        drop(st);
        {
            let _role = ReaderRole(self);
            for _ in 0..MAX_STEPS_PER_LOOP_READ {
                if !self.read_step(Some(Instant::now()), Nesting::Dispatch) {
                    break;
                }
            }
        }
        self.closed_error().map_or(Ok(()), Err)
    }

    /// The external event loop's write step: flushes bytes waiting in the send buffer (the
    /// re-sends and offline queue a reconnect put there).
    pub(crate) fn flush(&self) -> Result<(), ClientError> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        self.send_with(|_| Ok(()))
    }

    /// Waits (until `deadline`) for what was sent so far to reach the socket: a packet handed
    /// to another thread's flush (see [`Outbound::send`]) must not be cut off by a close.
    pub(crate) fn wait_written(&self, deadline: Instant) {
        let link = self.link();
        while link.outbound.has_pending() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Bytes wait in the send buffer, or TLS records or WebSocket frames to be written.
    pub(crate) fn want_write(&self) -> bool {
        let link = self.link();
        link.outbound.has_pending() || link.transport.wants_write()
    }

    /// The current socket (a reconnect replaces it): the TCP socket, also under TLS and
    /// WebSocket.
    pub(crate) fn socket(&self) -> std::os::fd::RawFd {
        self.link().transport.fd()
    }

    /// Ends TLS on the current link with close_notify and a WebSocket with a close frame
    /// (nothing over plain TCP), after the DISCONNECT of a clean end.
    pub(crate) fn close_notify(&self) {
        self.link().transport.close_notify();
    }

    /// The external event loop's keep-alive step: PINGREQ when nothing was sent for a
    /// keep-alive period ([MQTT-3.1.2-23]), and the connection closed when a PINGRESP is
    /// overdue.
    pub(crate) fn keep_alive_tick(&self) {
        self.external_loop.store(true, Ordering::Release);
        let link = self.link();
        if self.state.lock().generation != link.generation {
            return;
        }
        if let Err(reason) = self.keep_alive_duty(&link) {
            self.close_link(&link, reason);
        }
    }

    /// Sends PINGREQ when nothing was sent for a keep-alive period ([MQTT-3.1.2-23]); fails when
    /// a PINGREQ went unanswered for a whole period. Returns when the next duty falls due.
    fn keep_alive_duty(&self, link: &Link) -> Result<Option<Instant>, CloseReason> {
        let Some(period) = self.keep_alive() else {
            return Ok(None);
        };
        let now = Instant::now();
        if let Some(since) = self.state.lock().session.ping_outstanding_since {
            return if now >= since + period {
                Err(CloseReason::KeepAliveTimeout)
            } else {
                Ok(Some(since + period))
            };
        }
        let ping_due = link.outbound.last_write() + period;
        if now < ping_due {
            return Ok(Some(ping_due));
        }
        self.start_ping();
        self.send_packet_on(link, &Packet::Pingreq)
            .map_err(|_| CloseReason::Io("PINGREQ could not be sent".into()))?;
        Ok(Some(now + period))
    }

    /// Counts a PINGREQ about to be sent and returns its number; its PINGRESP is the response
    /// with the same number, as the server answers in order.
    pub(crate) fn start_ping(&self) -> u64 {
        let mut st = self.state.lock();
        st.session.pings_sent += 1;
        st.session
            .ping_outstanding_since
            .get_or_insert_with(Instant::now);
        st.session.pings_sent
    }

    fn handle(&self, link: &Arc<Link>, packet: Packet, nesting: Nesting) {
        let send = |packet: Packet| {
            let _ = self.send_packet_on(link, &packet);
        };
        let (outcome, published) = match packet {
            Packet::Publish(p) => return self.on_publish(link, p, nesting),
            Packet::Puback(ack) => {
                let id = ack.packet_id;
                let result = ack_result(&ack);
                let outcome = PublishOutcome::of(result.as_ref());
                let done = self.state.lock().session.on_puback(id, result);
                (done, Some((id, outcome)))
            }
            Packet::Pubcomp(ack) => {
                let id = ack.packet_id;
                let result = ack_result(&ack);
                let outcome = PublishOutcome::of(result.as_ref());
                let done = self.state.lock().session.on_pubcomp(id, result);
                (done, Some((id, outcome)))
            }
            Packet::Pubrec(ack) => {
                let id = ack.packet_id;
                let result = ack_result(&ack);
                let refused = result.as_ref().is_some_and(|r| !r.code.is_success());
                let outcome = PublishOutcome::of(result.as_ref());
                let done = self.state.lock().session.on_pubrec(id, result);
                (done, refused.then_some((id, outcome)))
            }
            Packet::Suback(s) => {
                let mut st = self.state.lock();
                if let Some(i) = st.resubscribe_ids.iter().position(|id| *id == s.packet_id) {
                    st.resubscribe_ids.swap_remove(i);
                    st.session.abandon(s.packet_id);
                    drop(st);
                    let codes: Vec<SubackCode> =
                        s.codes.into_iter().map(SubackCode::from_reason).collect();
                    return self.log_resubscribed(&codes);
                }
                (st.session.on_suback(s.packet_id, s.codes), None)
            }
            Packet::Unsuback(u) => (
                self.state.lock().session.on_unsuback(u.packet_id, u.codes),
                None,
            ),
            Packet::Disconnect(d) if self.protocol.is_v5() => {
                let reason = ServerReason::new(d.reason, &d.properties);
                return self.close_link(link, CloseReason::ServerDisconnect(reason));
            }
            Packet::Auth(auth) if self.auth_method.is_some() => {
                return self.on_auth(link, &auth);
            }
            Packet::Pubrel(ack) => {
                // [MQTT-4.3.3-2]: release the identifier, then answer PUBCOMP even if unknown.
                self.state.lock().session.release_qos2(ack.packet_id);
                send(Packet::Pubcomp(ack.packet_id.into()));
                return;
            }
            Packet::Pingresp => {
                let mut st = self.state.lock();
                let s = &mut st.session;
                s.pingresps_received += 1;
                if s.pingresps_received >= s.pings_sent {
                    s.ping_outstanding_since = None;
                }
                (AckOutcome::Done, None)
            }
            other => {
                return self.close_link(
                    link,
                    CloseReason::ProtocolViolation(format!(
                        "a server must not send {:?}",
                        other.packet_type()
                    )),
                );
            }
        };
        match outcome {
            AckOutcome::Done => {
                self.changed.notify_all();
                if let Some((id, outcome)) = published {
                    self.send_offline(link);
                    self.notify_published(id, outcome);
                }
            }
            AckOutcome::SendPubrel(id) => send(Packet::Pubrel(id.into())),
            AckOutcome::Unexpected => {}
        }
    }

    /// Sends what of the offline queue the send window now allows (an acknowledgement freed a
    /// place in it).
    fn send_offline(&self, link: &Link) {
        let ready = {
            let mut st = self.state.lock();
            if !st.session.has_offline() {
                return;
            }
            st.session.take_offline()
        };
        if !ready.is_empty() {
            let _ = self.send_on(link, |buf| {
                ready
                    .iter()
                    .for_each(|encoded| buf.extend_from_slice(encoded));
                Ok(())
            });
        }
    }

    /// Logs the outcome of the SUBSCRIBE a reconnect sent by itself.
    fn log_resubscribed(&self, codes: &[SubackCode]) {
        let refused = codes.iter().filter(|c| **c == SubackCode::Failure).count();
        if refused > 0 {
            self.log(LogLevel::Warning, || {
                format!(
                    "subscribing again after the reconnect: the broker refused {refused} filter(s)"
                )
            });
        }
    }

    fn on_publish(&self, link: &Arc<Link>, mut publish: Publish, nesting: Nesting) {
        if self.protocol.is_v5()
            && let Err((code, text)) = link.incoming_aliases.lock().resolve(&mut publish)
        {
            return self.fail_link(link, code, text);
        }
        let callback = self.callback_for(&publish);
        let mut st = self.state.lock();
        match publish.qospid {
            QosPid::AtMostOnce => {}
            QosPid::AtLeastOnce(_) => st.session.receive_unanswered(),
            QosPid::ExactlyOnce(id) => {
                if !st.session.receive_qos2(id) {
                    drop(st);
                    let _ = self.send_packet_on(link, &Packet::Pubrec(id.into()));
                    return;
                }
                st.session.receive_unanswered();
            }
        }
        // MQTT 5.0 section 3.3.4: more unacknowledged QoS 1/2 messages than the Receive
        // Maximum this client announced is the server's protocol error.
        if self.protocol.is_v5()
            && st.session.incoming_unacknowledged() > usize::from(self.receive_maximum)
        {
            drop(st);
            let text = format!(
                "more than Receive Maximum {} unacknowledged QoS 1/2 messages",
                self.receive_maximum
            );
            return self.fail_link(link, ReasonCode::RECEIVE_MAXIMUM_EXCEEDED, text);
        }
        if self.requests.is_waiting() {
            let message = message_of(&publish);
            if self.requests.answer(&message) {
                // Taken aside on arrival, so a request made inside a callback (which queues
                // messages until it returns) still sees its response.
                st.messages_processed += 1;
                drop(st);
                self.changed.notify_all();
                return self.acknowledge(&publish, link);
            }
        }
        let queued = (publish, callback, Arc::clone(link));
        if st.dispatching && nesting == Nesting::Queue {
            st.pending_dispatch.push_back(queued);
            self.dispatch_queued.store(true, Ordering::Release);
            return;
        }
        let previous = std::mem::replace(&mut st.dispatching, true);
        drop(st);
        self.dispatch(queued, previous);
    }

    /// The callback chosen for a message on arrival: the most specific matching filter's, or
    /// else the default message callback.
    fn callback_for(&self, publish: &Publish) -> Option<MessageCallback> {
        let best = self.subscriptions.lock().best_match(publish.topic.as_str());
        best.or_else(|| self.callbacks.on_message.clone())
    }

    fn pop_queued(&self, st: &mut State) -> Option<Queued> {
        let next = st.pending_dispatch.pop_front();
        self.dispatch_queued
            .store(!st.pending_dispatch.is_empty(), Ordering::Release);
        next
    }

    /// Delivers `publish`, then — unless nested under another callback (`previous` set) —
    /// everything queued meanwhile, and finally restores the dispatching flag to `previous`.
    fn dispatch(&self, queued: Queued, previous: bool) {
        let mut flag = DispatchingFlag {
            shared: self,
            previous,
            armed: true,
        };
        let mut next = Some(queued);
        while let Some((publish, callback, link)) = next {
            self.deliver(&publish, callback, &link);
            let mut st = self.state.lock();
            st.messages_processed += 1;
            next = if previous {
                None
            } else {
                self.pop_queued(&mut st)
            };
            if next.is_none() {
                st.dispatching = previous;
                flag.armed = false;
            }
            drop(st);
            self.changed.notify_all();
        }
    }

    /// Runs the callback chosen on arrival, then acknowledges: PUBACK for QoS 1, PUBREC for
    /// QoS 2 ([MQTT-4.3.2-2], [MQTT-4.3.3-2]). The acknowledgement goes on the link the message
    /// came on — or, in a persistent session, whose identifiers outlive a connection
    /// ([MQTT-4.4.0-1]), on the current link, so a message read just before a reconnect is
    /// still acknowledged.
    fn deliver(&self, publish: &Publish, callback: Option<MessageCallback>, link: &Arc<Link>) {
        match callback {
            Some(callback) => callback(&message_of(publish)),
            None => self.log(LogLevel::Warning, || {
                format!(
                    "message on {:?} dropped: no subscription callback matches and no default \
                     message callback is set",
                    publish.topic.as_str()
                )
            }),
        }
        self.acknowledge(publish, link);
    }

    /// PUBACK for QoS 1, PUBREC for QoS 2 (see [`Shared::deliver`] for the link it goes on).
    fn acknowledge(&self, publish: &Publish, link: &Arc<Link>) {
        let ack = match publish.qospid {
            QosPid::AtMostOnce => return,
            QosPid::AtLeastOnce(id) => Packet::Puback(id.into()),
            QosPid::ExactlyOnce(id) => Packet::Pubrec(id.into()),
        };
        self.state.lock().session.answered();
        let current;
        let link = if self.persistent {
            current = self.link();
            &current
        } else {
            link
        };
        let _ = self.send_packet_on(link, &ack);
    }

    /// Closes `link` for a protocol error of the server's: an MQTT 5.0 client first sends
    /// DISCONNECT with the reason code (MQTT 5.0 section 4.13.1).
    fn fail_link(&self, link: &Link, code: ReasonCode, text: String) {
        if self.protocol.is_v5() {
            let _ = self.send_packet_on(link, &Packet::Disconnect(Disconnect::new(code)));
        }
        self.close_link(link, CloseReason::ProtocolViolation(text));
    }

    /// The client's AUTH answering the server's AUTH `auth` (continue, 0x18), from the
    /// authentication callback; `Err` when the exchange cannot go on.
    fn answer_auth(&self, auth: &Auth) -> Result<Packet, ClientError> {
        let method = self.auth_method.as_deref().unwrap_or_default();
        let named = auth.properties.string(PropertyId::AuthenticationMethod);
        if auth.reason != ReasonCode::CONTINUE_AUTHENTICATION || named != Some(method) {
            return Err(ClientError::Authentication(format!(
                "unexpected AUTH 0x{:02X} for method {named:?} [MQTT-4.12.0-5]",
                auth.reason.0
            )));
        }
        let callback = self.callbacks.on_auth.as_ref().ok_or_else(|| {
            ClientError::Authentication("no authentication callback to continue".into())
        })?;
        let data = auth
            .properties
            .binary(PropertyId::AuthenticationData)
            .unwrap_or_default();
        let reply = callback(method, data).map_err(ClientError::Authentication)?;
        Ok(auth_packet(
            ReasonCode::CONTINUE_AUTHENTICATION,
            method,
            reply,
        ))
    }

    /// An AUTH from the server on an open connection: a step of re-authentication.
    fn on_auth(&self, link: &Link, auth: &Auth) {
        if auth.reason == ReasonCode::SUCCESS {
            self.state.lock().reauthentications += 1;
            self.changed.notify_all();
            return;
        }
        match self.answer_auth(auth) {
            Ok(reply) => {
                let _ = self.send_packet_on(link, &reply);
            }
            // 0x87 is the server's; a client giving up says unspecified error.
            Err(e) => self.fail_link(link, ReasonCode::UNSPECIFIED_ERROR, e.to_string()),
        }
    }
}

/// Bytes a SUBSCRIBE of `topics` with `properties` takes on the wire (its identifier's value does
/// not change the size).
fn subscribe_size(
    protocol: ProtocolLevel,
    topics: &[SubscribeTopic],
    properties: &Properties,
) -> usize {
    let packet = Packet::Subscribe(Subscribe {
        packet_id: PacketId::MIN,
        topics: topics.to_vec(),
        properties: properties.clone(),
    });
    let mut out = Vec::new();
    packet
        .encode_for(protocol, &mut out)
        .map_or(usize::MAX, |()| out.len())
}

/// The view of `publish` callbacks get.
fn message_of(publish: &Publish) -> Message<'_> {
    Message {
        topic: publish.topic.as_str(),
        payload: &publish.payload,
        qos: publish.qospid.qos(),
        retain: publish.retain,
        dup: publish.dup,
        properties: &publish.properties,
    }
}

/// An AUTH packet naming `method`, with `data` unless empty.
pub(crate) fn auth_packet(reason: ReasonCode, method: &str, data: Vec<u8>) -> Packet {
    let mut properties = Properties(vec![Property::AuthenticationMethod(method.to_owned())]);
    if !data.is_empty() {
        properties.push(Property::AuthenticationData(data));
    }
    Packet::Auth(Auth { reason, properties })
}

/// What an acknowledgement says beyond plain success: an MQTT 5.0 reason code other than 0, or
/// any Reason String.
fn ack_result(ack: &Ack) -> Option<ServerReason> {
    (ack.reason != ReasonCode::SUCCESS || !ack.properties.is_empty())
        .then(|| ServerReason::new(ack.reason, &ack.properties))
}

/// Fails with `PacketTooLarge`, removing the packet from `buf`, when the bytes written since
/// `start` exceed the server's Maximum Packet Size `limit`.
fn check_size(buf: &mut Vec<u8>, start: usize, limit: Option<u32>) -> Result<(), ClientError> {
    if let Some(maximum) = limit
        && buf.len() - start > maximum as usize
    {
        let size = buf.len() - start;
        buf.truncate(start);
        return Err(ClientError::PacketTooLarge { size, maximum });
    }
    Ok(())
}

/// Serves the connection on the loop thread until it is closed or `stop` returns true.
pub(crate) fn serve_until_closed(shared: &Shared, stop: &dyn Fn() -> bool) {
    while shared.serve_once(stop) {}
}

/// Sets the top bit of the protocol level in an encoded CONNECT: after the fixed header (a
/// type byte and a Variable Byte Integer) come the protocol name (a two-byte length and the
/// name) and then the level.
fn mark_bridge(connect: &mut [u8]) {
    let mut at = 1;
    while connect.get(at).is_some_and(|b| b & 0x80 != 0) {
        at += 1;
    }
    at += 1;
    if let Some(len) = connect.get(at..at + 2) {
        let level = at + 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
        if let Some(byte) = connect.get_mut(level) {
            *byte |= 0x80;
        }
    }
}

#[cfg(test)]
mod bridge_tests {
    use super::mark_bridge;
    use crate::protocol::{Connect, Packet, ProtocolLevel};

    /// mosquitto's try_private: only the protocol level byte changes, 4 becoming 0x84.
    #[test]
    fn a_bridge_sets_the_top_bit_of_the_protocol_level() {
        let connect = Connect {
            protocol: ProtocolLevel::V311,
            clean_session: false,
            keep_alive: 60,
            client_id: "edge".into(),
            will: None,
            username: None,
            password: None,
            properties: Default::default(),
        };
        let plain = Packet::Connect(Box::new(connect)).to_bytes().unwrap();
        let mut marked = plain.clone();
        mark_bridge(&mut marked);
        // 0x10, remaining length, 0x00 0x04 "MQTT", level.
        assert_eq!(plain[8], 4);
        assert_eq!(marked[8], 0x84);
        assert_eq!((&plain[..8], &plain[9..]), (&marked[..8], &marked[9..]));
    }
}
