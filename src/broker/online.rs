//! A connection whose CONNECT was accepted, while it has a thread: a loop that polls the socket
//! together with the connection's waker, decodes and handles every packet that arrived, moves
//! queued deliveries into the output buffer and writes it in one go. After `park_idle_after`
//! without traffic it gives its thread up and waits in the parking lot, which hands it to a
//! thread again (through [`drive`]) when it has something to do.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use super::acl_memo::AclMemo;
use super::auth::Reauthentication;
use super::busy_poll::BusyPoll;
use super::control::{
    ClientInfo, ConnectionControl, KICK_WITH_WILL, KICK_WITHOUT_WILL, Outlet, ResumeQueue,
};
use super::flows::{Flows, Inflight};
use super::handlers::will_publication;
use super::handshake::Accepted;
use super::io::Io;
use super::log::broker_log;
use super::message::{Delivery, Message};
use super::options::{Access, BrokerEvent, DisconnectReason};
use super::router::RouteScratch;
use super::runtime::Runtime;
use super::session::{Session, Wakeups};
use super::state::State;
use super::stats::Counters;
use super::store::{Change, Journal, Kick};
use super::sys::client_may_publish;
use super::threads::ThreadEnd;
use crate::protocol::{
    Disconnect, LastWill, Packet, PacketId, Property, PropertyId, QoS, QosPid, ReasonCode,
    encode_publish, encode_publish_v5,
};
use crate::service::acl::AclAccess;
use crate::socket::{Ready, poll2};
use crate::topic::TopicName;
use crate::waker::Waker;

/// Output buffered beyond this is not added to until the socket takes some: a subscriber that
/// stops reading then leaves its messages in the bounded session queue, where excess is dropped.
const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// Serves an accepted connection on the calling thread until it closes, or until it has been
/// idle long enough to wait in the parking lot without a thread.
pub(crate) fn drive(mut online: Box<Online>) -> ThreadEnd {
    Journal::forget_this_thread();
    if online.waker.is_none() {
        match Waker::new().map(Arc::new) {
            Ok(waker) => {
                online.control.attach_thread(&waker, true);
                online.waker = Some(waker);
            }
            Err(_) => {
                // No descriptor for a waker: this connection cannot be served any more.
                online.finish(DisconnectReason::ConnectionLost);
                return ThreadEnd::Closed;
            }
        }
    }
    loop {
        let (back, outcome) = online.run();
        online = back;
        match outcome {
            Outcome::Closed(reason) => {
                online.finish(reason);
                return ThreadEnd::Closed;
            }
            Outcome::Idle => {
                online.release_buffers();
                let Some(parking) = online.runtime.parking.get().cloned() else {
                    continue;
                };
                match parking.park(online) {
                    Ok(()) => return ThreadEnd::Parked,
                    Err(back) => {
                        // Refused: the broker is stopping, or the lot cannot watch more
                        // descriptors; in the latter case this thread goes on serving.
                        online = back;
                        if online.runtime.is_stopping() {
                            online.finish(DisconnectReason::BrokerStopping);
                            return ThreadEnd::Closed;
                        }
                        online.last_activity = Instant::now();
                    }
                }
            }
        }
    }
}

/// Why [`Online::run`] returned.
enum Outcome {
    Closed(DisconnectReason),
    /// Nothing happened for `park_idle_after`: the connection may give up its thread.
    Idle,
}

/// What an MQTT 5.0 client's CONNECT said about what it can receive (MQTT 5.0 section
/// 3.1.2.11); an MQTT 3.1.1 client has the defaults.
struct ClientLimits {
    /// QoS 1 and 2 PUBLISH packets in flight to the client at most: its Receive Maximum, capped
    /// by the broker's `max_inflight_messages` (MQTT 5.0 [MQTT-3.3.4-9]).
    send_window: usize,
    /// Its Maximum Packet Size: a delivery that would be larger is dropped for this client (MQTT
    /// 5.0 [MQTT-3.1.2-24], [MQTT-3.1.2-25]).
    max_packet_size: usize,
    /// Its Topic Alias Maximum: how many aliases the broker may set on this connection (MQTT 5.0
    /// [MQTT-3.1.2-26], [MQTT-3.1.2-27], [MQTT-3.3.2-11]).
    topic_alias_maximum: u16,
    /// Its Request Problem Information is not 0: acknowledgements may carry a Reason String
    /// (MQTT 5.0 [MQTT-3.1.2-29]).
    problem_information: bool,
}

/// A connection whose CONNECT was accepted.
pub(crate) struct Online {
    pub(crate) runtime: Arc<Runtime>,
    /// The runtime's state, held directly: the packet handlers use little else.
    pub(crate) state: Arc<State>,
    pub(crate) io: Io,
    pub(crate) peer: SocketAddr,
    pub(crate) control: Arc<ConnectionControl>,
    /// The waker this connection's thread polls; `None` while parked (no thread, no descriptor).
    waker: Option<Arc<Waker>>,
    pub(crate) client_id: Arc<str>,
    pub(crate) username: Option<String>,
    will: Option<LastWill>,
    /// The client speaks MQTT 5.0.
    pub(crate) v5: bool,
    limits: ClientLimits,
    /// Topics the client named by Topic Alias, by alias - 1 (MQTT 5.0 section 3.3.2.3.4); they
    /// live as long as the network connection.
    pub(crate) aliases_in: Vec<Option<TopicName>>,
    /// Aliases the broker set for topics it sends to the client, up to the client's maximum.
    aliases_out: HashMap<TopicName, u16>,
    /// The reason code of a rule the client broke, for the DISCONNECT a 5.0 client is sent.
    pub(crate) close_code: Option<ReasonCode>,
    /// The Authentication Method the client connected with, which a re-authentication must use.
    pub(crate) auth_method: Option<String>,
    /// A re-authentication in progress.
    pub(crate) reauth: Option<Reauthentication>,
    /// What the broker's ACL file says for this client, compiled once at connect.
    pub(crate) acl: Option<AclMemo>,
    /// 1.5 × the keep-alive in force; `None` for keep-alive 0.
    keep_alive_limit: Option<Duration>,
    pub(crate) last_received: Instant,
    /// Last time anything was read, written or woke the thread.
    last_activity: Instant,
    /// CONNACK is being sent: the connection parks as soon as nothing else is pending.
    just_connected: bool,
    pub(crate) session: Arc<Session>,
    /// Owned while attached; handed back to the session on detach.
    flows: Option<Box<Flows>>,
    pub(crate) scratch: RouteScratch,
    /// Subscribers to wake once the packets of the current read are handled.
    pub(crate) wakeups: Wakeups,
    /// PUBLISH packets encoded since the counter was last updated.
    unsent_count: u64,
    /// The per-delivery properties of the PUBLISH being encoded, reused.
    extra_properties: Vec<Property>,
    /// Where this session's flows are recorded, when the broker persists it.
    pub(crate) journal: Option<Journal>,
    /// Changes nothing waits for, gathered while a read is handled or the output filled and
    /// recorded together (see [`Online::journal_gathered`]).
    pub(crate) journal_gathered: Vec<Change>,
    /// The journal's epoch when this connection last recorded what it deferred (see
    /// `Journal::defers_deliveries`), and the epoch it asked to be kicked at, if it did.
    seen_epoch: u64,
    kick_for: Option<u64>,
    /// Sent deliveries it has not recorded since it last recorded what it deferred.
    holds_unstored: bool,
    pub(crate) busy_poll: BusyPoll,
}

impl Online {
    pub(crate) fn new(
        runtime: Arc<Runtime>,
        io: Io,
        peer: SocketAddr,
        control: Arc<ConnectionControl>,
        accepted: Accepted,
    ) -> Online {
        let Accepted {
            connect,
            waker,
            client_id,
            terms,
            attached,
        } = accepted;
        let state = Arc::clone(&runtime.state);
        let connected = state
            .counters
            .clients_connected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        state
            .counters
            .clients_maximum
            .fetch_max(connected, std::sync::atomic::Ordering::Relaxed);
        // [MQTT-3.1.2-24]: the server allows one and a half times the keep-alive.
        let keep_alive_limit = (terms.keep_alive > 0)
            .then(|| Duration::from_millis(u64::from(terms.keep_alive) * 1500));
        let requested = |id| connect.properties.integer(id);
        let limits = ClientLimits {
            send_window: requested(PropertyId::ReceiveMaximum)
                .map_or(usize::MAX, |n| n as usize)
                .min(state.options.max_inflight_messages.max(1)),
            max_packet_size: requested(PropertyId::MaximumPacketSize)
                .map_or(usize::MAX, |n| n as usize),
            topic_alias_maximum: requested(PropertyId::TopicAliasMaximum).unwrap_or(0) as u16,
            problem_information: requested(PropertyId::RequestProblemInformation) != Some(0),
        };
        let journal = state.journal.clone().filter(|journal| {
            let mut session = attached.session.lock();
            session.deferring = session.journaled && journal.defers_deliveries();
            session.journaled
        });
        let mut online = Online {
            seen_epoch: journal.as_ref().map_or(0, Journal::epoch),
            kick_for: None,
            holds_unstored: false,
            busy_poll: BusyPoll::new(state.options.busy_poll),
            journal,
            journal_gathered: Vec::new(),
            runtime,
            state,
            v5: io.protocol().is_v5(),
            io,
            peer,
            control,
            waker,
            client_id,
            username: connect.username,
            will: connect.will,
            limits,
            aliases_in: Vec::new(),
            aliases_out: HashMap::new(),
            close_code: None,
            auth_method: connect
                .properties
                .string(PropertyId::AuthenticationMethod)
                .map(str::to_owned),
            reauth: None,
            acl: None,
            keep_alive_limit,
            last_received: Instant::now(),
            last_activity: Instant::now(),
            just_connected: true,
            session: attached.session,
            flows: Some(attached.flows),
            scratch: RouteScratch::default(),
            wakeups: Wakeups::default(),
            unsent_count: 0,
            extra_properties: Vec::new(),
        };
        let _ = online.control.info.set(ClientInfo {
            client_id: Arc::clone(&online.client_id),
            username: online.username.clone(),
            peer,
            protocol_level: connect.protocol.level(),
            connected_since: std::time::SystemTime::now(),
            queued: 0,
        });
        online.acl = AclMemo::new(
            &online.state.service_files,
            Arc::clone(&online.client_id),
            online.username.clone(),
        );
        online.resend_unacknowledged();
        broker_log!(
            online.state.options.log,
            Notice,
            "New client connected from {peer} as {} (p{}, c{}, k{}{}).",
            online.client_id,
            // mosquitto's protocol numbers: 1 for 3.1, 2 for 3.1.1, 5 for 5.0.
            match connect.protocol.level() {
                3 => 1,
                4 => 2,
                level => level,
            },
            u8::from(connect.clean_session),
            terms.keep_alive,
            LoggedUser(online.username.as_deref()),
        );
        if let Some(hook) = &online.state.options.event_hook {
            hook(&BrokerEvent::Connected {
                client_id: &online.client_id,
                username: online.username.as_deref(),
                peer,
                clean_session: connect.clean_session,
                session_present: attached.session_present,
                protocol_level: connect.protocol.level(),
            });
        }
        online
    }

    pub(crate) fn flows(&mut self) -> &mut Flows {
        self.flows.as_mut().expect("flows are held while online")
    }

    /// On resuming a session, unacknowledged PUBLISH packets are sent again with DUP set and
    /// their original identifiers, and PUBREL for those already acknowledged by PUBREC, in the
    /// original order ([MQTT-4.4.0-1], [MQTT-3.3.1-1], [MQTT-4.6.0-1]). A message once sent no
    /// longer expires (MQTT 5.0 [MQTT-4.3.3-7]); topic aliases are per connection (MQTT 5.0
    /// [MQTT-3.3.2-7]), so resent messages name their topic in full.
    fn resend_unacknowledged(&mut self) {
        let flows = self.flows.take().expect("flows are held while online");
        for m in &flows.outgoing {
            if m.released {
                self.io.send(&Packet::Pubrel(m.packet_id.into()));
            } else {
                let qospid = QosPid::new(m.qos, m.packet_id);
                self.encode_delivery(&m.message, qospid, true, m.retain, &m.identifiers, false);
            }
        }
        self.flows = Some(flows);
    }

    /// Encodes one PUBLISH of `message` for this client: for 5.0 with the message's properties
    /// plus this delivery's (the Subscription Identifiers, the seconds left of the Message
    /// Expiry Interval, a Topic Alias when `may_alias` and the client allows them). Returns false
    /// when it was not written because it would exceed the client's Maximum Packet Size.
    fn encode_delivery(
        &mut self,
        message: &Message,
        qospid: QosPid,
        dup: bool,
        retain: bool,
        identifiers: &[u32],
        may_alias: bool,
    ) -> bool {
        let before = self.io.output.len();
        let topic = message.topic.as_str();
        let encoded = if self.v5 {
            let extra = &mut self.extra_properties;
            extra.clear();
            extra.extend(
                identifiers
                    .iter()
                    .map(|id| Property::SubscriptionIdentifier(*id)),
            );
            // Reading the clock only for messages that expire keeps it off the fan-out path. A
            // QoS 2 message sent again after it expired (it no longer expires once sent, MQTT
            // 5.0 [MQTT-4.3.3-7]) goes without an interval rather than with 0.
            if message.expires_at.is_some()
                && let Some(left) = message.seconds_left(Instant::now())
                && left > 0
            {
                extra.push(Property::MessageExpiryInterval(left));
            }
            let mut named = topic;
            if may_alias && self.limits.topic_alias_maximum > 0 {
                if let Some(alias) = self.aliases_out.get(&message.topic) {
                    extra.push(Property::TopicAlias(*alias));
                    named = "";
                } else if self.aliases_out.len() < usize::from(self.limits.topic_alias_maximum) {
                    let alias = self.aliases_out.len() as u16 + 1;
                    self.aliases_out.insert(message.topic.clone(), alias);
                    extra.push(Property::TopicAlias(alias));
                }
            }
            encode_publish_v5(
                &mut self.io.output,
                dup,
                qospid,
                retain,
                named,
                &message.payload,
                &message.properties,
                extra,
            )
        } else {
            encode_publish(
                &mut self.io.output,
                dup,
                qospid,
                retain,
                topic,
                &message.payload,
            )
        };
        if encoded.is_err() {
            return false;
        }
        if self.io.output.len() - before > self.limits.max_packet_size {
            self.io.output.truncate(before);
            return false;
        }
        self.unsent_count += 1;
        true
    }

    /// Sends a PUBACK or PUBREC, without its Reason String and User Properties when the client
    /// asked for no problem information (MQTT 5.0 [MQTT-3.1.2-29]) or when they would make the
    /// packet larger than its Maximum Packet Size ([MQTT-3.4.2-2], [MQTT-3.4.2-3],
    /// [MQTT-3.5.2-2], [MQTT-3.5.2-3]).
    pub(crate) fn send_acknowledgement(&mut self, mut packet: Packet) {
        let before = self.io.output.len();
        if self.limits.problem_information {
            self.io.send(&packet);
            if self.io.output.len() - before <= self.limits.max_packet_size {
                return;
            }
            self.io.output.truncate(before);
        }
        if let Packet::Puback(ack) | Packet::Pubrec(ack) = &mut packet {
            ack.properties
                .0
                .retain(|p| !matches!(p.id(), PropertyId::ReasonString | PropertyId::UserProperty));
        }
        self.io.send(&packet);
    }

    pub(crate) fn socket_fd(&self) -> RawFd {
        self.io.fd()
    }

    /// Hands wake-ups over to the parking lot under `token` and closes this thread's waker.
    /// Returns whether a wake was pending, in which case the lot must resume the connection.
    pub(crate) fn leave_thread(&mut self, lot: Arc<dyn ResumeQueue>, token: u64) -> bool {
        self.waker = None;
        self.control.park_at(lot, token)
    }

    /// When the keep-alive runs out unless a packet arrives.
    pub(crate) fn keep_alive_deadline(&self) -> Option<Instant> {
        self.keep_alive_limit.map(|l| self.last_received + l)
    }

    /// Writes the CONNACK just accepted; when that leaves nothing to write or read, frees the
    /// buffers and says the connection may park at once.
    pub(crate) fn settle(&mut self) -> bool {
        let settled = self.io.flush().is_ok()
            && !self.io.has_pending_output()
            && self.io.buffered_input() == 0;
        if settled {
            self.release_buffers();
        }
        settled
    }

    /// Frees the buffers an idle connection does not need.
    fn release_buffers(&mut self) {
        self.io.release_buffers();
        self.scratch = RouteScratch::default();
        self.flows().pending.shrink_to_fit();
    }

    /// Runs until the connection has to end (and says why) or has been idle for
    /// `park_idle_after`. While it runs, a publisher that finds the thread at work only notes
    /// the delivery (see [`ConnectionControl::serve`]); leaving, the thread takes such a note
    /// as a wake-up, so a connection never parks on a delivery it was not woken for.
    fn run(mut self: Box<Self>) -> (Box<Self>, Outcome) {
        let lends = self.lends();
        loop {
            if lends {
                self.control.serve();
            }
            let (back, outcome) = self.serve_until_idle();
            self = back;
            let missed = lends && self.control.step_away();
            if !(missed && matches!(outcome, Outcome::Idle)) {
                return (self, outcome);
            }
        }
    }

    /// Whether the connection is lent to publishers while its thread waits: not when every
    /// change must be on disk before it is sent (durable persistence), which only this
    /// thread's journal tickets can tell, nor without a waker.
    fn lends(&self) -> bool {
        self.waker.is_some() && !self.state.journal.as_ref().is_some_and(Journal::is_durable)
    }

    fn serve_until_idle(mut self: Box<Self>) -> (Box<Self>, Outcome) {
        // Packets pipelined behind CONNECT (or buffered before parking) may already be in the
        // input buffer; the socket will not announce them again.
        if let Err(reason) = self.handle_input() {
            return (self, Outcome::Closed(reason));
        }
        let park_after = self
            .state
            .options
            .park_idle_after
            .filter(|_| self.runtime.parking.get().is_some());
        loop {
            if !self.pump_and_flush() {
                return (self, Outcome::Closed(DisconnectReason::ConnectionLost));
            }
            let keep_alive_deadline = self.keep_alive_deadline();
            // A connection that just got its CONNACK parks at once unless the client already
            // sent more: the thread is free for the next connection, which keeps connection
            // bursts from needing a thread each.
            let park_deadline = park_after
                .filter(|_| !self.io.has_pending_output())
                .map(|after| {
                    if self.just_connected {
                        self.last_activity
                    } else {
                        self.last_activity + after
                    }
                });
            let deadline = match (keep_alive_deadline, park_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let (ready, back) = self.wait(deadline);
            self = back;
            let Ok(ready) = ready else {
                return (self, Outcome::Closed(DisconnectReason::ConnectionLost));
            };
            // Consumed before the flags are read: a flag set before a wake that is consumed here
            // is seen below, and a wake after this read stays pending for the next poll.
            if ready.woken
                && let Some(waker) = &self.waker
            {
                waker.reset();
            }
            if self.runtime.is_stopping() {
                return (self, Outcome::Closed(DisconnectReason::BrokerStopping));
            }
            match self.control.kicked() {
                KICK_WITH_WILL => return (self, Outcome::Closed(DisconnectReason::Kicked)),
                KICK_WITHOUT_WILL => {
                    return (self, Outcome::Closed(DisconnectReason::KickedWithoutWill));
                }
                _ => {}
            }
            if self.control.is_taken_over() {
                let reason = self.last_words(DisconnectReason::TakenOver);
                return (self, Outcome::Closed(reason));
            }
            let now = Instant::now();
            let timed_out = !(ready.woken || ready.readable || ready.writable || ready.closed);
            if !timed_out {
                self.last_activity = now;
            }
            let just_connected = std::mem::take(&mut self.just_connected);
            if ready.readable || ready.closed {
                match self.io.fill() {
                    Ok(0) => return (self, Outcome::Closed(DisconnectReason::ConnectionLost)),
                    Ok(_) => {
                        if let Err(reason) = self.handle_input() {
                            return (self, Outcome::Closed(reason));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return (self, Outcome::Closed(DisconnectReason::ConnectionLost)),
                }
            }
            // [MQTT-3.1.2-24]: nothing received for 1.5 × keep-alive closes the connection.
            if let Some(limit) = self.keep_alive_limit
                && self.last_received.elapsed() >= limit
            {
                return (self, Outcome::Closed(DisconnectReason::KeepAliveTimeout));
            }
            if let Some(after) = park_after
                && timed_out
                && !self.io.has_pending_output()
                && (just_connected || self.last_activity.elapsed() >= after)
            {
                return (self, Outcome::Idle);
            }
        }
    }

    /// Waits for input, room for pending output, a wake-up or `deadline`. Meanwhile the
    /// connection is lent to publishers (see [`Outlet`]) when it [`lends`](Self::lends); a
    /// publisher that found the thread at work since its last look at the queue makes this
    /// return at once, as woken.
    fn wait(mut self: Box<Self>, deadline: Option<Instant>) -> (io::Result<Ready>, Box<Self>) {
        let waker = self.waker.as_ref().map_or(-1, |w| w.as_raw_fd());
        let socket = self.io.fd();
        let want_write = self.io.has_pending_output();
        if !self.lends() {
            let ready = self.busy_poll.wait(socket, want_write, waker, deadline);
            return (ready, self);
        }
        let control = Arc::clone(&self.control);
        // The thread keeps its polling state while publishers hold the connection.
        let mut busy_poll = std::mem::take(&mut self.busy_poll);
        if let Err(back) = control.lend(self) {
            let mut online = back
                .into_any()
                .downcast::<Online>()
                .expect("a connection that could not be lent is the thread's own");
            online.busy_poll = busy_poll;
            // Still a look at the socket, without waiting: publishers missing the thread at
            // every pass must not keep it from reading its client (a PINGREQ, its PUBACKs).
            let ready = poll2(socket, want_write, waker, 0).map(|ready| Ready {
                woken: true,
                ..ready
            });
            return (ready, online);
        }
        let ready = busy_poll.wait(socket, want_write, waker, deadline);
        let mut online = control
            .reclaim()
            .and_then(|any| any.downcast::<Online>().ok())
            .expect("a lent connection comes back to its thread");
        online.busy_poll = busy_poll;
        (ready, online)
    }

    /// Moves queued deliveries into the output and writes it, refilling as long as the socket
    /// takes everything (stopping at the output high-water mark must not leave deliveries
    /// waiting for a wake-up that will not come), then counts the traffic. False when the
    /// socket or the store failed and the connection must close.
    fn pump_and_flush(&mut self) -> bool {
        self.record_deferred_if_due();
        loop {
            let output_full = self.pump_deliveries();
            self.record_gathered();
            if !self.stored_before_sending() || self.io.flush().is_err() {
                return false;
            }
            if !output_full || self.io.has_pending_output() {
                break;
            }
        }
        self.ask_kick_while_holding();
        self.count_traffic();
        true
    }

    /// Whether this connection records its session's deliveries itself (see
    /// `Journal::defers_deliveries`).
    fn defers(&self) -> bool {
        self.journal
            .as_ref()
            .is_some_and(Journal::defers_deliveries)
    }

    /// Records the deliveries this connection deferred once the journal's epoch has moved
    /// since it last did, oldest first.
    fn record_deferred_if_due(&mut self) {
        let Some(journal) = self.journal.as_ref().filter(|j| j.defers_deliveries()) else {
            return;
        };
        let epoch = journal.epoch();
        if epoch == self.seen_epoch {
            return;
        }
        self.seen_epoch = epoch;
        self.holds_unstored = false;
        let flows = self.flows.as_mut().expect("flows are held while online");
        let mut state = self.session.lock();
        flows.record_deferred(
            &self.client_id,
            journal,
            &mut state.queue,
            &mut self.journal_gathered,
        );
        drop(state);
        self.record_gathered();
        self.answer_kick(epoch);
    }

    /// Tells the journal this connection recorded what it held, if it was kicked at the move
    /// to `epoch` (the latest): the writer commits what it recorded without waiting for its
    /// next commit.
    fn answer_kick(&mut self, epoch: u64) {
        if self.kick_for.take() == Some(epoch)
            && let Some(journal) = &self.journal
        {
            journal.answer_kick();
        }
    }

    /// Asks the journal to kick the connection when its epoch next moves while it holds
    /// deliveries it may not have recorded, so that they reach the disk within the interval
    /// however long it then waits for its client: those it sent since it last recorded, and
    /// any waiting beyond the in-flight window (the session's queue is taken only once these
    /// are gone, and a delivery queued while they are not empty might never wake it).
    fn ask_kick_while_holding(&mut self) {
        if self.kick_for.is_some() || !self.defers() {
            return;
        }
        let flows = self.flows.as_ref().expect("flows are held while online");
        // What is not recorded is always the newest: a suffix of the sent, the waiting and the
        // session's queue, in that order.
        let waiting_unstored = flows
            .pending
            .iter()
            .rev()
            .find(|d| d.qos != QoS::AtMostOnce)
            .is_some_and(|d| d.stored().is_none());
        let holds = self.holds_unstored
            || waiting_unstored
            || (!flows.pending.is_empty() && !self.session.lock().queue.is_empty());
        if !holds {
            return;
        }
        if let Some(journal) = &self.journal {
            let at = journal.kick_at_next_epoch(Arc::clone(&self.control) as Arc<dyn Kick>);
            self.kick_for = Some(at);
        }
    }

    /// Handles what the client sent before the connection is closed for `reason`: a DISCONNECT
    /// already on its way when a new connection took the client id over still means the will
    /// is discarded ([MQTT-3.14.4-3]). Reads only what has arrived, a bounded amount.
    fn last_words(&mut self, reason: DisconnectReason) -> DisconnectReason {
        const MAX_READS: usize = 16;
        for _ in 0..MAX_READS {
            if let Err(said) = self.handle_input() {
                return said;
            }
            match self.io.fill() {
                Ok(0) | Err(_) => return reason,
                Ok(_) => {}
            }
        }
        reason
    }

    /// Moves deliveries from the session queue into the output buffer while the buffer has room
    /// and, for QoS 1 and 2, while the in-flight window has room. Returns whether it stopped
    /// because the output buffer is full.
    fn pump_deliveries(&mut self) -> bool {
        let mut flows = self.flows.take().expect("flows are held while online");
        let full = self.pump_from(&mut flows);
        self.flows = Some(flows);
        full
    }

    fn pump_from(&mut self, flows: &mut Flows) -> bool {
        let window = self.limits.send_window;
        let mut expired = 0;
        let mut sent = 0;
        let now = Instant::now();
        let full = 'pump: loop {
            while let Some(front) = flows.pending.front() {
                if self.io.output.len() >= OUTPUT_HIGH_WATER {
                    break 'pump true;
                }
                if front.qos != QoS::AtMostOnce && flows.outgoing.len() >= window {
                    break 'pump false;
                }
                let Some(delivery) = flows.pending.pop_front() else {
                    break;
                };
                // MQTT 5.0 [MQTT-3.3.2-5]: an expired message is not delivered.
                if delivery.message.has_expired(now) {
                    expired += 1;
                    self.journal_settled(delivery.stored());
                    continue;
                }
                // The ACL file's read rules apply to every message, as in mosquitto.
                if let Some(acl) = &self.acl
                    && !acl.check(
                        &self.state.service_files,
                        delivery.message.topic.as_str(),
                        AclAccess::Read,
                    )
                {
                    self.journal_settled(delivery.stored());
                    continue;
                }
                let allocated = (delivery.qos != QoS::AtMostOnce).then(|| flows.allocate_id());
                let qospid = match allocated {
                    Some((_, packet_id)) => QosPid::new(delivery.qos, packet_id),
                    None => QosPid::AtMostOnce,
                };
                // Topic and payload were validated and size-checked on the way in.
                let encoded = self.encode_delivery(
                    &delivery.message,
                    qospid,
                    false,
                    delivery.retain,
                    delivery.identifiers(),
                    true,
                );
                if !encoded {
                    // Too large for this client (MQTT 5.0 [MQTT-3.1.2-25]): dropped for it alone.
                    expired += 1;
                    self.journal_settled(delivery.stored());
                    continue;
                }
                sent += 1;
                if let Some((seq, packet_id)) = allocated {
                    let stored = self.journal_sent(&delivery, packet_id);
                    let (qos, retain) = (delivery.qos, delivery.retain);
                    let (message, identifiers, shared) = delivery.into_parts();
                    flows.outgoing.push_back(Inflight {
                        stored,
                        seq,
                        packet_id,
                        qos,
                        retain,
                        message,
                        identifiers,
                        released: false,
                        shared,
                    });
                }
            }
            self.session.take_queue(&mut flows.pending);
            if flows.pending.is_empty() {
                break false;
            }
        };
        Counters::add(&self.state.counters.messages_dropped, expired);
        self.busy_poll.deliveries_sent(sent);
        full
    }

    /// Ends the connection: publishes the will unless the client sent DISCONNECT
    /// ([MQTT-3.1.2-8], [MQTT-3.1.2-10]), closes the socket and detaches from the session.
    pub(crate) fn finish(mut self: Box<Self>, reason: DisconnectReason) {
        if self.v5 {
            self.say_why(reason);
        }
        let reason_code = self.close_code.filter(|_| self.v5);
        if self.stored_before_sending() {
            let _ = self.io.flush();
        }
        self.io.shutdown();
        // A broker that stops publishes no will (as mosquitto), but one that persists keeps a
        // delayed will with the session: the client lost its connection all the same, so the
        // next broker on the file publishes it when due unless the client is back in time.
        let keeps_delayed_will =
            reason == DisconnectReason::BrokerStopping && self.session.lock().journaled;
        if (reason.publishes_will() || keeps_delayed_will)
            && let Some(will) = self.will.take()
            && client_may_publish(will.topic.as_str())
            && self.authorized(will.topic.as_str(), Access::Publish)
        {
            let delay = will
                .properties
                .integer(PropertyId::WillDelayInterval)
                .unwrap_or(0);
            let publication = will_publication(will);
            if delay > 0 {
                // Published when due or when the session ends, whichever comes first
                // (MQTT 5.0 [MQTT-3.1.2-8]); detaching ends a session with expiry 0 at once.
                let due = Instant::now() + Duration::from_secs(u64::from(delay));
                self.session.lock().delayed_will = Some((due, publication));
            } else if reason.publishes_will() {
                self.state
                    .route(publication, &mut self.scratch, &mut self.wakeups);
                self.wakeups.wake_all();
            }
        }
        self.detach();
        broker_log!(
            self.state.options.log,
            Notice,
            "Client {} {}",
            self.client_id,
            match reason {
                DisconnectReason::ClientDisconnected => "disconnected.",
                DisconnectReason::ConnectionLost => "closed its connection.",
                DisconnectReason::KeepAliveTimeout => "has exceeded timeout, disconnecting.",
                DisconnectReason::ProtocolViolation => "disconnected due to protocol error.",
                DisconnectReason::TakenOver => "already connected, closing old connection.",
                DisconnectReason::BrokerStopping => "disconnected, broker stopping.",
                DisconnectReason::Kicked | DisconnectReason::KickedWithoutWill =>
                    "disconnected by the host.",
            }
        );
        if let Some(hook) = &self.state.options.event_hook {
            hook(&BrokerEvent::Disconnected {
                client_id: &self.client_id,
                peer: self.peer,
                reason,
                reason_code,
            });
        }
    }

    /// A server closing an MQTT 5.0 connection says why in a DISCONNECT (MQTT 5.0 section
    /// 4.13.2): 0x8E taken over, 0x8D keep-alive timeout, 0x8B shutting down, 0x98 when the host
    /// closed it, 0x9C or 0x9D with a Server Reference when the host redirected the client
    /// (section 4.11), or the code of the rule the client broke. Nothing is sent when the client
    /// closed or disconnected itself.
    fn say_why(&mut self, reason: DisconnectReason) {
        let mut disconnect = Disconnect::new(match reason {
            DisconnectReason::TakenOver => ReasonCode::SESSION_TAKEN_OVER,
            DisconnectReason::KeepAliveTimeout => ReasonCode::KEEP_ALIVE_TIMEOUT,
            DisconnectReason::BrokerStopping => ReasonCode::SERVER_SHUTTING_DOWN,
            DisconnectReason::Kicked | DisconnectReason::KickedWithoutWill => {
                ReasonCode::ADMINISTRATIVE_ACTION
            }
            DisconnectReason::ProtocolViolation => {
                self.close_code.unwrap_or(ReasonCode::PROTOCOL_ERROR)
            }
            DisconnectReason::ClientDisconnected | DisconnectReason::ConnectionLost => return,
        });
        // The host's redirect, or the enhanced authenticator's (which ends the connection as
        // a refused re-authentication does).
        let redirectable = matches!(
            reason,
            DisconnectReason::Kicked | DisconnectReason::ProtocolViolation
        );
        if redirectable && let Some(redirect) = self.control.redirection() {
            disconnect.reason = redirect.code();
            disconnect.properties.extend(redirect.property());
        }
        self.close_code = Some(disconnect.reason);
        let before = self.io.output.len();
        self.io.send(&Packet::Disconnect(disconnect.clone()));
        // [MQTT-3.1.2-24]: a Server Reference too long for the client's Maximum Packet Size is
        // left out; the reason code still goes.
        if self.io.output.len() - before > self.limits.max_packet_size {
            self.io.output.truncate(before);
            disconnect.properties = Default::default();
            self.io.send(&Packet::Disconnect(disconnect));
        }
    }

    /// Adds the messages and bytes sent and received since the last call to the broker's counters
    /// (once per loop, not per packet, so threads do not fight over their cache lines).
    fn count_traffic(&mut self) {
        let counters = &self.state.counters;
        Counters::add(
            &counters.messages_sent,
            std::mem::take(&mut self.unsent_count),
        );
        let (read, written) = self.io.take_traffic();
        Counters::add(&counters.bytes_received, read);
        Counters::add(&counters.bytes_sent, written);
    }

    /// In durable persistence, waits until every change this thread recorded is on disk, so
    /// that the output about to be written promises nothing the disk does not hold (a PUBACK,
    /// a PUBREC, a QoS 2 PUBLISH under its identifier). When the store cannot write, the output
    /// is discarded and the connection must close: its publisher got no acknowledgement and
    /// sends again to whichever broker it reaches next.
    fn stored_before_sending(&mut self) -> bool {
        let Some(journal) = &self.state.journal else {
            return true;
        };
        if journal.wait_for_this_thread().is_ok() {
            return true;
        }
        self.io.output.clear();
        false
    }

    /// Records that `delivery` was sent under `packet_id`, first recording the delivery itself
    /// if it did not pass through the session queue (retained messages sent on subscribe).
    /// Returns its store number.
    ///
    /// A QoS 1 delivery's record does not hold up the write: should a crash lose it, the
    /// delivery is sent again under a new identifier, a duplicate QoS 1 allows. A QoS 2
    /// delivery's identifier is on disk before the PUBLISH leaves, so that exactly-once holds
    /// across a crash ([MQTT-4.3.3-2] on the receiver's side needs the same identifier).
    fn journal_sent(&mut self, delivery: &Delivery, packet_id: PacketId) -> Option<u64> {
        let journal = self.journal.as_ref()?;
        if delivery.stored().is_none() && journal.defers_deliveries() {
            // Recorded with its identifier when the epoch moves, if still in flight.
            self.holds_unstored = true;
            return None;
        }
        let client_id = Arc::clone(&self.client_id);
        let (id, change) = match delivery.stored() {
            Some(id) => {
                let sent = Change::Sent {
                    client_id,
                    id,
                    packet_id,
                    released: false,
                };
                (id, sent)
            }
            None => {
                let id = journal.next_delivery_id();
                let queued = Change::Queued {
                    client_id,
                    id,
                    delivery: delivery.clone(),
                    sent: Some((packet_id, false)),
                };
                (id, queued)
            }
        };
        if delivery.qos == QoS::ExactlyOnce {
            self.journal_now(change);
        } else {
            self.journal_gathered.push(change);
        }
        Some(id)
    }

    /// Records `change` so that this thread's output waits for it (durable persistence),
    /// after what was gathered before it.
    pub(crate) fn journal_now(&mut self, change: Change) {
        self.record_gathered();
        if let Some(journal) = &self.journal {
            journal.record(change);
        }
    }

    /// Records the changes gathered (nothing waits for them); done before the output is
    /// written, after a read was handled and before the session is detached, so they keep
    /// their order with what this connection records next.
    pub(crate) fn record_gathered(&mut self) {
        if let Some(journal) = &self.journal {
            journal.record_all_without_waiting(&mut self.journal_gathered);
        }
    }

    /// Records that the delivery numbered `stored` is settled: acknowledged, or not to be sent
    /// (expired, not readable, too large). Nothing waits for it: should a crash lose it, the
    /// delivery is sent again, or the next broker comes to the same verdict.
    pub(crate) fn journal_settled(&mut self, stored: Option<u64>) {
        if let (Some(_), Some(id)) = (&self.journal, stored) {
            self.journal_gathered.push(Change::Settled {
                client_id: Arc::clone(&self.client_id),
                id,
            });
        }
    }

    /// Records that incoming QoS 2 identifier `packet_id` awaits PUBREL (`held`) or no longer.
    pub(crate) fn journal_awaiting_pubrel(&mut self, packet_id: u16, held: bool) {
        self.journal_now(Change::AwaitingPubrel {
            client_id: Arc::clone(&self.client_id),
            packet_id,
            held,
        });
    }

    fn detach(&mut self) {
        self.record_gathered();
        if let Some(flows) = self.flows.take() {
            self.count_traffic();
            // Records what it deferred, as the session outlives it.
            self.state.detach(&self.session, flows);
            Counters::sub(&self.state.counters.clients_connected, 1);
            if let Some(epoch) = self.journal.as_ref().map(Journal::epoch) {
                self.answer_kick(epoch);
            }
        }
    }
}

impl Outlet for Online {
    fn deliver_now(&mut self) -> bool {
        if !self.pump_and_flush() {
            return false;
        }
        self.last_activity = Instant::now();
        !self.io.has_pending_output()
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

impl Drop for Online {
    /// A panic while online must still release the session, or a reconnecting client would wait
    /// for it forever.
    fn drop(&mut self) {
        self.detach();
    }
}

/// `, u'NAME'` after a connect's terms when the client gave a user name, as mosquitto logs it.
struct LoggedUser<'a>(Option<&'a str>);

impl std::fmt::Display for LoggedUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(name) => write!(f, ", u'{name}'"),
            None => Ok(()),
        }
    }
}
