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

use super::control::{ConnectionControl, ResumeQueue};
use super::flows::{Ack as FlowAck, Flows, Inflight};
use super::handshake::Accepted;
use super::io::Io;
use super::message::Delivery;
use super::options::{Access, BrokerEvent, DisconnectReason};
use super::runtime::Runtime;
use super::session::{Session, Wakeups};
use super::state::State;
use super::stats::Counters;
use super::subscriptions::Subscriber;
use super::threads::ThreadEnd;
use crate::protocol::{
    LastWill, Packet, Properties, Publish, QoS, QosPid, Suback, SubackCode, Subscribe, Unsuback,
    Unsubscribe, encode_publish,
};
use crate::topic::TopicFilter;
use crate::waker::Waker;

/// Output buffered beyond this is not added to until the socket takes some: a subscriber that
/// stops reading then leaves its messages in the bounded session queue, where excess is dropped.
const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// Serves an accepted connection on the calling thread until it closes, or until it has been
/// idle long enough to wait in the parking lot without a thread.
pub(crate) fn drive(mut online: Box<Online>) -> ThreadEnd {
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
        match online.run() {
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

/// A connection whose CONNECT was accepted.
pub(crate) struct Online {
    runtime: Arc<Runtime>,
    /// The runtime's state, held directly: the packet handlers use little else.
    state: Arc<State>,
    io: Io,
    peer: SocketAddr,
    control: Arc<ConnectionControl>,
    /// The waker this connection's thread polls; `None` while parked (no thread, no descriptor).
    waker: Option<Arc<Waker>>,
    client_id: Arc<str>,
    username: Option<String>,
    will: Option<LastWill>,
    /// 1.5 × the keep-alive the client asked for; `None` for keep-alive 0.
    keep_alive_limit: Option<Duration>,
    last_received: Instant,
    /// Last time anything was read, written or woke the thread.
    last_activity: Instant,
    /// CONNACK is being sent: the connection parks as soon as nothing else is pending.
    just_connected: bool,
    session: Arc<Session>,
    /// Owned while attached; handed back to the session on detach.
    flows: Option<Box<Flows>>,
    scratch: Vec<Subscriber>,
    /// Subscribers to wake once the packets of the current read are handled.
    wakeups: Wakeups,
    /// PUBLISH packets encoded since the counter was last updated.
    unsent_count: u64,
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
            attached,
        } = accepted;
        let state = Arc::clone(&runtime.state);
        Counters::add(&state.counters.clients_connected, 1);
        // [MQTT-3.1.2-24]: the server allows one and a half times the keep-alive.
        let keep_alive_limit = (connect.keep_alive > 0)
            .then(|| Duration::from_millis(u64::from(connect.keep_alive) * 1500));
        let mut online = Online {
            runtime,
            state,
            io,
            peer,
            control,
            waker,
            client_id,
            username: connect.username,
            will: connect.will,
            keep_alive_limit,
            last_received: Instant::now(),
            last_activity: Instant::now(),
            just_connected: true,
            session: attached.session,
            flows: Some(attached.flows),
            scratch: Vec::new(),
            wakeups: Wakeups::default(),
            unsent_count: 0,
        };
        online.resend_unacknowledged();
        if let Some(hook) = &online.state.options.event_hook {
            hook(&BrokerEvent::Connected {
                client_id: &online.client_id,
                username: online.username.as_deref(),
                peer,
                clean_session: connect.clean_session,
                session_present: attached.session_present,
            });
        }
        online
    }

    fn flows(&mut self) -> &mut Flows {
        self.flows.as_mut().expect("flows are held while online")
    }

    /// On resuming a session, unacknowledged PUBLISH packets are sent again with DUP set and
    /// their original identifiers, and PUBREL for those already acknowledged by PUBREC, in the
    /// original order ([MQTT-4.4.0-1], [MQTT-3.3.1-1], [MQTT-4.6.0-1]).
    fn resend_unacknowledged(&mut self) {
        let flows = self.flows.as_mut().expect("flows are held while online");
        for m in &flows.outgoing {
            if m.released {
                Packet::Pubrel(m.packet_id.into())
                    .encode(&mut self.io.output)
                    .expect("PUBREL always encodes");
            } else if encode_publish(
                &mut self.io.output,
                true,
                QosPid::new(m.qos, m.packet_id),
                m.retain,
                m.message.topic.as_str(),
                &m.message.payload,
            )
            .is_ok()
            {
                self.unsent_count += 1;
            }
        }
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
        let settled =
            self.io.flush().is_ok() && self.io.output.is_empty() && self.io.buffered_input() == 0;
        if settled {
            self.release_buffers();
        }
        settled
    }

    /// Frees the buffers an idle connection does not need.
    fn release_buffers(&mut self) {
        self.io.release_buffers();
        self.scratch = Vec::new();
        self.flows().pending.shrink_to_fit();
    }

    /// Runs until the connection has to end (and says why) or has been idle for
    /// `park_idle_after`.
    fn run(&mut self) -> Outcome {
        // Packets pipelined behind CONNECT (or buffered before parking) may already be in the
        // input buffer; the socket will not announce them again.
        if let Err(reason) = self.handle_input() {
            return Outcome::Closed(reason);
        }
        let park_after = self
            .state
            .options
            .park_idle_after
            .filter(|_| self.runtime.parking.get().is_some());
        loop {
            // Refill as long as the socket takes everything: stopping at the output high-water
            // mark must not leave deliveries waiting for a wake-up that will not come.
            loop {
                let output_full = self.pump_deliveries();
                if self.io.flush().is_err() {
                    return Outcome::Closed(DisconnectReason::ConnectionLost);
                }
                if !output_full || !self.io.output.is_empty() {
                    break;
                }
            }
            Counters::add(
                &self.state.counters.messages_sent,
                std::mem::take(&mut self.unsent_count),
            );
            let keep_alive_deadline = self.keep_alive_deadline();
            // A connection that just got its CONNACK parks at once unless the client already
            // sent more: the thread is free for the next connection, which keeps connection
            // bursts from needing a thread each.
            let park_deadline = park_after
                .filter(|_| self.io.output.is_empty())
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
            let waker_fd = self.waker.as_ref().map(|w| w.as_raw_fd());
            let ready = match self.io.wait(waker_fd, deadline) {
                Ok(ready) => ready,
                Err(_) => return Outcome::Closed(DisconnectReason::ConnectionLost),
            };
            if self.runtime.is_stopping() {
                return Outcome::Closed(DisconnectReason::BrokerStopping);
            }
            if self.control.is_taken_over() {
                return Outcome::Closed(self.last_words(DisconnectReason::TakenOver));
            }
            let now = Instant::now();
            let timed_out = !(ready.woken || ready.readable || ready.writable || ready.closed);
            if !timed_out {
                self.last_activity = now;
            }
            let just_connected = std::mem::take(&mut self.just_connected);
            if ready.woken
                && let Some(waker) = &self.waker
            {
                waker.reset();
            }
            if ready.readable || ready.closed {
                match self.io.fill() {
                    Ok(0) => return Outcome::Closed(DisconnectReason::ConnectionLost),
                    Ok(_) => {
                        if let Err(reason) = self.handle_input() {
                            return Outcome::Closed(reason);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Outcome::Closed(DisconnectReason::ConnectionLost),
                }
            }
            // [MQTT-3.1.2-24]: nothing received for 1.5 × keep-alive closes the connection.
            if let Some(limit) = self.keep_alive_limit
                && self.last_received.elapsed() >= limit
            {
                return Outcome::Closed(DisconnectReason::KeepAliveTimeout);
            }
            if let Some(after) = park_after
                && timed_out
                && self.io.output.is_empty()
                && (just_connected || self.last_activity.elapsed() >= after)
            {
                return Outcome::Idle;
            }
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

    /// Handles every complete packet buffered. A malformed packet is a protocol violation that
    /// closes this connection only (section 4.8).
    fn handle_input(&mut self) -> Result<(), DisconnectReason> {
        let mut received_any = false;
        loop {
            match self.io.next_packet() {
                Ok(Some(packet)) => {
                    received_any = true;
                    if let Err(reason) = self.handle(packet) {
                        self.wakeups.wake_all();
                        return Err(reason);
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    self.wakeups.wake_all();
                    return Err(DisconnectReason::ProtocolViolation);
                }
            }
        }
        self.wakeups.wake_all();
        if received_any {
            self.last_received = Instant::now();
        }
        Ok(())
    }

    fn handle(&mut self, packet: Packet) -> Result<(), DisconnectReason> {
        match packet {
            Packet::Publish(publish) => self.on_publish(publish),
            Packet::Puback(ack) => {
                self.flows().acknowledge(ack.packet_id, FlowAck::Puback);
            }
            Packet::Pubrec(ack) => {
                // [MQTT-4.3.3-1]: PUBREC is answered with PUBREL; the PUBLISH is not resent.
                self.flows().acknowledge(ack.packet_id, FlowAck::Pubrec);
                self.send(&Packet::Pubrel(ack.packet_id.into()));
            }
            Packet::Pubrel(ack) => {
                // [MQTT-4.3.3-2]: PUBREL ends the dedup window for this identifier; PUBCOMP is
                // sent even for an identifier not held (a resent PUBREL after reconnect).
                self.flows().awaiting_pubrel.remove(&ack.packet_id.get());
                self.send(&Packet::Pubcomp(ack.packet_id.into()));
            }
            Packet::Pubcomp(ack) => {
                self.flows().acknowledge(ack.packet_id, FlowAck::Pubcomp);
            }
            Packet::Subscribe(subscribe) => self.on_subscribe(subscribe),
            Packet::Unsubscribe(unsubscribe) => self.on_unsubscribe(unsubscribe),
            // [MQTT-3.12.4-1]
            Packet::Pingreq => self.send(&Packet::Pingresp),
            // [MQTT-3.14.4-3]: DISCONNECT discards the will; the connection closes.
            Packet::Disconnect(_) => return Err(DisconnectReason::ClientDisconnected),
            // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
            Packet::Connect(_) => return Err(DisconnectReason::ProtocolViolation),
            // Packets only a server sends.
            Packet::Connack(_)
            | Packet::Suback(_)
            | Packet::Unsuback(_)
            | Packet::Pingresp
            | Packet::Auth(_) => {
                return Err(DisconnectReason::ProtocolViolation);
            }
        }
        Ok(())
    }

    fn send(&mut self, packet: &Packet) {
        // Only fixed-size acknowledgements go through here; they always encode.
        let _ = packet.encode(&mut self.io.output);
    }

    fn authorized(&self, topic: &str, access: Access) -> bool {
        match &self.state.options.authorizer {
            Some(authorize) => authorize(&self.client_id, self.username.as_deref(), topic, access),
            None => true,
        }
    }

    /// A PUBLISH refused by the authorizer is acknowledged as usual but not forwarded
    /// ([MQTT-3.3.5-2]).
    fn on_publish(&mut self, publish: Publish) {
        let allowed = self.authorized(publish.topic.as_str(), Access::Publish);
        let forward = match publish.qospid {
            QosPid::AtMostOnce => allowed,
            // [MQTT-4.3.2-2]: PUBACK with the packet's identifier.
            QosPid::AtLeastOnce(id) => {
                self.send(&Packet::Puback(id.into()));
                allowed
            }
            // [MQTT-4.3.3-2]: PUBREC; a PUBLISH whose identifier awaits PUBREL is a duplicate and
            // is not forwarded again.
            QosPid::ExactlyOnce(id) => {
                let first_time = self.flows().awaiting_pubrel.insert(id.get());
                self.send(&Packet::Pubrec(id.into()));
                allowed && first_time
            }
        };
        if forward {
            self.state.route(
                publish.topic,
                publish.payload,
                publish.qospid.qos(),
                publish.retain,
                &mut self.scratch,
                &mut self.wakeups,
            );
        }
    }

    /// SUBACK carries one return code per filter, in order, with the same packet identifier
    /// ([MQTT-3.8.4-1], [MQTT-3.8.4-2], [MQTT-3.8.4-4], [MQTT-3.8.4-5]): the requested QoS (all
    /// three are supported), or 0x80 for an invalid filter or one the authorizer refuses.
    /// Retained messages matching each accepted filter follow, with RETAIN set ([MQTT-3.3.1-6],
    /// [MQTT-3.3.1-8]), also when the subscription replaces an earlier one ([MQTT-3.8.4-3]).
    fn on_subscribe(&mut self, subscribe: Subscribe) {
        let mut codes = Vec::with_capacity(subscribe.topics.len());
        let mut retained = Vec::new();
        for topic in subscribe.topics {
            let filter = match TopicFilter::new(&topic.filter) {
                Ok(filter) if self.authorized(filter.as_str(), Access::Subscribe) => filter,
                _ => {
                    codes.push(SubackCode::Failure.to_reason());
                    continue;
                }
            };
            let granted = topic.qos;
            for r in self.state.retained_matching(filter.as_str()) {
                retained.push(Delivery {
                    message: r.message,
                    qos: r.qos.min(granted),
                    retain: true,
                });
            }
            self.state.subscribe(&self.session, filter, granted);
            codes.push(SubackCode::Granted(granted).to_reason());
        }
        self.send(&Packet::Suback(Suback {
            packet_id: subscribe.packet_id,
            codes,
            properties: Properties::new(),
        }));
        self.flows().pending.extend(retained);
    }

    /// UNSUBACK is sent even when no filter matched a subscription ([MQTT-3.10.4-4],
    /// [MQTT-3.10.4-5]).
    fn on_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        for filter in &unsubscribe.filters {
            self.state.unsubscribe(&self.session, filter);
        }
        self.send(&Packet::Unsuback(Unsuback::new(unsubscribe.packet_id)));
    }

    /// Moves deliveries from the session queue into the output buffer while the buffer has room
    /// and, for QoS 1 and 2, while the in-flight window has room. Returns whether it stopped
    /// because the output buffer is full.
    fn pump_deliveries(&mut self) -> bool {
        let max_inflight = self.state.options.max_inflight_messages.max(1);
        let flows = self.flows.as_mut().expect("flows are held while online");
        loop {
            while let Some(front) = flows.pending.front() {
                if self.io.output.len() >= OUTPUT_HIGH_WATER {
                    return true;
                }
                if front.qos != QoS::AtMostOnce && flows.outgoing.len() >= max_inflight {
                    return false;
                }
                let Some(delivery) = flows.pending.pop_front() else {
                    break;
                };
                let allocated = (delivery.qos != QoS::AtMostOnce).then(|| flows.allocate_id());
                let qospid = match allocated {
                    Some((_, packet_id)) => QosPid::new(delivery.qos, packet_id),
                    None => QosPid::AtMostOnce,
                };
                // Topic and payload were validated and size-checked on the way in.
                if encode_publish(
                    &mut self.io.output,
                    false,
                    qospid,
                    delivery.retain,
                    delivery.message.topic.as_str(),
                    &delivery.message.payload,
                )
                .is_ok()
                {
                    self.unsent_count += 1;
                }
                if let Some((seq, packet_id)) = allocated {
                    flows.outgoing.push_back(Inflight {
                        seq,
                        packet_id,
                        qos: delivery.qos,
                        retain: delivery.retain,
                        message: delivery.message,
                        released: false,
                    });
                }
            }
            self.session.take_queue(&mut flows.pending);
            if flows.pending.is_empty() {
                return false;
            }
        }
    }

    /// Ends the connection: publishes the will unless the client sent DISCONNECT
    /// ([MQTT-3.1.2-8], [MQTT-3.1.2-10]), closes the socket and detaches from the session.
    pub(crate) fn finish(mut self: Box<Self>, reason: DisconnectReason) {
        let _ = self.io.flush();
        self.io.shutdown();
        if reason.publishes_will()
            && let Some(will) = self.will.take()
            && self.authorized(will.topic.as_str(), Access::Publish)
        {
            self.state.route(
                will.topic,
                Arc::from(will.payload),
                will.qos,
                will.retain,
                &mut self.scratch,
                &mut self.wakeups,
            );
            self.wakeups.wake_all();
        }
        self.detach();
        if let Some(hook) = &self.state.options.event_hook {
            hook(&BrokerEvent::Disconnected {
                client_id: &self.client_id,
                peer: self.peer,
                reason,
            });
        }
    }

    fn detach(&mut self) {
        if let Some(flows) = self.flows.take() {
            Counters::add(
                &self.state.counters.messages_sent,
                std::mem::take(&mut self.unsent_count),
            );
            self.state.detach(&self.session, flows);
            Counters::sub(&self.state.counters.clients_connected, 1);
        }
    }
}

impl Drop for Online {
    /// A panic while online must still release the session, or a reconnecting client would wait
    /// for it forever.
    fn drop(&mut self) {
        self.detach();
    }
}
