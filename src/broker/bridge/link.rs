//! One bridge's thread: the local session it serves, the connection to the remote (made here,
//! kept up by the client's automatic reconnects), and the pump that moves the session's
//! deliveries to the remote.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::rules::Rule;
use super::{BridgeOptions, BridgeStart, Counters, SESSION_PREFIX};
use crate::broker::control::ConnectionControl;
use crate::broker::message::Delivery;
use crate::broker::registry::Attached;
use crate::broker::router::{Publication, RouteScratch};
use crate::broker::session::{NEVER_EXPIRES, Session, Wakeups};
use crate::broker::state::State;
use crate::broker::store::Change;
use crate::broker::subscriptions::Grant;
use crate::client::{
    Client, ClientError, ConnectOptions, Message, OfflineQueue, PublishOutcome, SubscribeOptions,
    jittered,
};
use crate::protocol::{PacketId, Properties, ProtocolLevel, QoS};
use crate::topic::{TopicFilter, TopicName};
use crate::waker::Waker;

/// How long a sent message is remembered to recognise its echo from an older remote.
const ECHO_WINDOW: Duration = Duration::from_secs(10);
/// At most this many sent messages are remembered for echo detection.
const ECHO_MEMORY: usize = 10_000;
/// Messages waiting before a `lazy` bridge connects (mosquitto's default `threshold`).
const LAZY_THRESHOLD: usize = 10;

pub(super) struct Link {
    state: Arc<State>,
    options: BridgeOptions,
    rules: Vec<Rule>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    /// The local session's client id, `$bridge/NAME`: also the publisher of what comes in.
    session_id: Arc<str>,
    echoes: Arc<Mutex<Echoes>>,
    /// Store numbers of deliveries handed to the remote, by packet id, until acknowledged.
    settling: Arc<Mutex<Settling>>,
}

#[derive(Default)]
struct Echoes {
    recent: VecDeque<(Instant, u64)>,
    counts: HashMap<u64, usize>,
}

impl Echoes {
    fn key(topic: &str, payload: &[u8]) -> u64 {
        let mut hasher = DefaultHasher::new();
        topic.hash(&mut hasher);
        payload.hash(&mut hasher);
        hasher.finish()
    }

    fn sent(&mut self, key: u64) {
        let now = Instant::now();
        while let Some(&(at, old)) = self.recent.front() {
            if now - at < ECHO_WINDOW && self.recent.len() < ECHO_MEMORY {
                break;
            }
            self.recent.pop_front();
            self.forget(old);
        }
        self.recent.push_back((now, key));
        *self.counts.entry(key).or_default() += 1;
    }

    fn forget(&mut self, key: u64) -> bool {
        match self.counts.get_mut(&key) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                self.counts.remove(&key);
            }
            None => return false,
        }
        true
    }
}

#[derive(Default)]
struct Settling {
    waiting: HashMap<u16, u64>,
    /// Acknowledgements that came before their publish call returned.
    early: HashSet<u16>,
}

impl Link {
    pub(super) fn new(
        state: Arc<State>,
        options: BridgeOptions,
        counters: Arc<Counters>,
        stop: Arc<AtomicBool>,
        waker: Arc<Waker>,
    ) -> Link {
        let rules = options.topics.iter().filter_map(Rule::new).collect();
        let session_id = Arc::from(format!("{SESSION_PREFIX}{}", options.name));
        Link {
            state,
            options,
            rules,
            counters,
            stop,
            waker,
            session_id,
            echoes: Arc::default(),
            settling: Arc::default(),
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn note_error(&self, error: impl ToString) {
        *self.counters.last_error.lock() = Some(error.to_string());
    }

    /// Takes up the bridge's local session (resuming the queue a persistence file kept) and
    /// subscribes it, on the caller's thread, so nothing published after the broker started
    /// misses the bridge.
    pub(super) fn attach(&self) -> Attached {
        let control = Arc::new(ConnectionControl::new());
        control.attach_thread(&self.waker, false);
        let attached = self
            .state
            .attach(&self.session_id, false, NEVER_EXPIRES, &control);
        notify_state(
            &self.state,
            &self.options.name,
            self.options.notifications,
            false,
        );
        self.subscribe_locally(&attached.session);
        attached
    }

    /// Serves the bridge until stopped, then gives the local session back.
    pub(super) fn run(self, attached: Attached) {
        let session = attached.session;
        let wanted = self.options.start != BridgeStart::Lazy || self.wait_for_queue(&session);
        if let Some(client) = wanted.then(|| self.connect()).flatten() {
            self.pump(&session, &client);
            let _ = client.disconnect();
            client.loop_stop();
        }
        self.set_connected(false);
        self.state.detach(&session, attached.flows);
    }

    /// `start_type lazy`: waits until [`LAZY_THRESHOLD`] messages wait for the remote (as
    /// mosquitto's default `threshold`); false when stopped first.
    fn wait_for_queue(&self, session: &Session) -> bool {
        while !self.stopping() {
            if session.lock().queue.len() >= LAZY_THRESHOLD {
                return true;
            }
            self.waker.wait(Some(Duration::from_millis(100)));
            self.waker.reset();
        }
        false
    }

    /// Subscribes the local session to every `out` rule (No Local, Retain As Published), and
    /// queues the retained messages they match for the remote.
    fn subscribe_locally(&self, session: &Arc<Session>) {
        let mut wakeups = Wakeups::default();
        for rule in self.rules.iter().filter(|r| r.exports()) {
            let Ok(filter) = TopicFilter::new(&rule.local_filter) else {
                self.note_error(format!("invalid local filter {}", rule.local_filter));
                continue;
            };
            let grant = Grant {
                qos: rule.qos,
                no_local: true,
                retain_as_published: true,
                identifier: 0,
                shared: false,
            };
            let retained = self.state.retained_matching(filter.as_str());
            self.state.subscribe(session, filter, grant);
            for r in retained {
                session.offer(
                    r.delivery(rule.qos, Box::default()),
                    self.state.options.max_queued_messages,
                    &self.state.counters,
                    self.state.journal.as_ref(),
                    &mut wakeups,
                );
            }
        }
        wakeups.wake_all();
    }

    /// Connects to the first remote that answers, waiting between attempts with exponential
    /// backoff and jitter; `None` when stopped first.
    fn connect(&self) -> Option<Client> {
        let mut options = self.connect_options();
        options.bridge_announce =
            self.options.try_private && self.options.protocol != ProtocolLevel::V5;
        options.round_robin = self.options.round_robin;
        let mut delay = self.options.restart_base;
        // The same equal jitter as the client's own reconnects, which take over once connected.
        let mut random = crate::client::seed();
        let ((host, port), fallbacks) = self.options.addresses.split_first()?;
        // The client tries the fallbacks in order whenever the first address does not answer,
        // at this connect and at every reconnect.
        options.fallback_addresses = fallbacks.to_vec();
        loop {
            if self.stopping() {
                return None;
            }
            match Client::connect(host, *port, &options) {
                Ok(client) => {
                    if let Err(e) = self.subscribe_remotely(&client) {
                        self.note_error(format!("subscribing on {host}:{port}: {e}"));
                    }
                    self.counters.connects.fetch_add(1, Ordering::Relaxed);
                    self.set_connected(true);
                    if let Err(e) = client.loop_start() {
                        self.note_error(e);
                    }
                    return Some(client);
                }
                Err(ClientError::UnacceptableProtocolVersion) if options.bridge_announce => {
                    // mosquitto's fallback: a remote that does not know bridges gets a plain
                    // client, at once.
                    self.note_error(format!(
                        "{host}:{port}: no bridge support, connecting as a client"
                    ));
                    options.bridge_announce = false;
                }
                Err(e) => {
                    self.note_error(format!("{host}:{port}: {e}"));
                    if self.options.start == BridgeStart::Once {
                        return None;
                    }
                    if self.sleep(jittered(delay, &mut random)) {
                        return None;
                    }
                    delay = (delay * 2).min(self.options.restart_cap);
                }
            }
        }
    }

    fn connect_options(&self) -> ConnectOptions {
        let mut options = ConnectOptions::new()
            .client_id(self.options.client_id())
            .clean_session(self.options.clean_session)
            .keep_alive(self.options.keep_alive)
            .protocol(self.options.protocol)
            .resubscribe(true)
            .offline_queue(OfflineQueue {
                max_messages: self.state.options.max_queued_messages,
                ..OfflineQueue::default()
            });
        if self.options.start != BridgeStart::Once {
            options = options.auto_reconnect(self.options.restart_base, self.options.restart_cap);
        }
        if self.options.protocol == ProtocolLevel::V5 && !self.options.clean_session {
            options = options.session_expiry(NEVER_EXPIRES);
        }
        if let Some(user) = &self.options.username {
            options = options.credentials(user.clone(), self.options.password.as_deref());
        }
        if let Some(tls) = &self.options.tls {
            options = options.tls(tls.clone());
        }
        let up = Arc::clone(&self.counters);
        let state = Arc::clone(&self.state);
        let (name, notify) = (self.options.name.clone(), self.options.notifications);
        let first = Arc::new(AtomicBool::new(true));
        options = options.on_connect(move |_, code| {
            // Refusals are reported too; the first success is counted by `connect`, the rest
            // are reconnects.
            if code == 0 && !first.swap(false, Ordering::AcqRel) {
                up.connects.fetch_add(1, Ordering::Relaxed);
                up.connected.store(true, Ordering::Release);
                notify_state(&state, &name, notify, true);
            }
        });
        let down = Arc::clone(&self.counters);
        let state = Arc::clone(&self.state);
        let name = self.options.name.clone();
        options = options.on_disconnect(move |reason, _| {
            *down.last_error.lock() = Some(format!("link down: {reason:?}"));
            down.connected.store(false, Ordering::Release);
            notify_state(&state, &name, notify, false);
        });
        options
    }

    /// Subscribes on the remote to every `in` rule; messages coming in are published locally
    /// under the bridge session's name, so the `out` rules (No Local) never send them back.
    fn subscribe_remotely(&self, client: &Client) -> Result<(), ClientError> {
        let v5 = self.options.protocol == ProtocolLevel::V5;
        let settling = Arc::clone(&self.settling);
        let journal = self.state.journal.clone();
        let client_id = Arc::clone(&self.session_id);
        client.set_on_published(Some(Arc::new(move |packet_id: PacketId, outcome| {
            if !matches!(outcome, PublishOutcome::Acknowledged) {
                return;
            }
            let mut settling = settling.lock();
            let stored = match settling.waiting.remove(&packet_id.get()) {
                Some(stored) => stored,
                None => {
                    settling.early.insert(packet_id.get());
                    return;
                }
            };
            drop(settling);
            if let Some(journal) = &journal {
                journal.record(Change::Settled {
                    client_id: Arc::clone(&client_id),
                    id: stored,
                });
            }
        })));
        for rule in self.rules.iter().filter(|r| r.imports()) {
            let options = if v5 {
                SubscribeOptions::new()
                    .no_local(true)
                    .retain_as_published(true)
            } else {
                SubscribeOptions::new()
            };
            let incoming = Incoming {
                state: Arc::clone(&self.state),
                rules: self.rules.clone(),
                publisher: Arc::clone(&self.session_id),
                counters: Arc::clone(&self.counters),
                echoes: (!v5).then(|| Arc::clone(&self.echoes)),
            };
            client.subscribe_ex(
                &[(rule.remote_filter.as_str(), rule.qos)],
                &options,
                Arc::new(move |message: &Message<'_>| incoming.bring_in(message)),
            )?;
        }
        Ok(())
    }

    /// Moves the local session's deliveries to the remote until stopped (or, for `once`, until
    /// the link ends).
    fn pump(&self, session: &Arc<Session>, client: &Client) {
        let mut queue = VecDeque::new();
        while !self.stopping() {
            if self.options.start == BridgeStart::Once && !client.is_connected() {
                return;
            }
            if client.is_connected() {
                session.take_queue(&mut queue);
                let mut unsent = VecDeque::new();
                for delivery in queue.drain(..) {
                    if !unsent.is_empty() || !self.send(client, &delivery) {
                        unsent.push_back(delivery);
                    }
                }
                if !unsent.is_empty() {
                    // The link went down: back to the front of the queue, in order.
                    let mut state = session.lock();
                    for delivery in unsent.into_iter().rev() {
                        state.queue.push_front(delivery);
                    }
                }
            }
            self.waker.wait(Some(Duration::from_millis(200)));
            self.waker.reset();
        }
    }

    /// Publishes one delivery to the remote under its remote name. Returns false when the link
    /// is down and the delivery must wait.
    fn send(&self, client: &Client, delivery: &Delivery) -> bool {
        let topic = delivery.message.topic.as_str();
        let Some(remote) = self.rules.iter().find_map(|r| r.to_remote(topic)) else {
            self.settle(delivery.stored());
            return true;
        };
        if self.options.protocol != ProtocolLevel::V5 {
            self.echoes
                .lock()
                .sent(Echoes::key(&remote, &delivery.message.payload));
        }
        let result = client.publish_async(
            &remote,
            &delivery.message.payload,
            delivery.qos,
            delivery.retain,
        );
        let packet_id = match result {
            Ok(packet_id) => packet_id,
            Err(ClientError::Queued(packet_id)) => packet_id,
            Err(ClientError::Closed(_) | ClientError::QueueFull) => return false,
            Err(e) => {
                // Refused locally (too large for the remote, say): dropped, not retried.
                self.note_error(format!("{remote}: {e}"));
                self.settle(delivery.stored());
                return true;
            }
        };
        self.counters.messages_out.fetch_add(1, Ordering::Relaxed);
        match (packet_id, delivery.stored()) {
            (Some(packet_id), Some(stored)) => {
                let mut settling = self.settling.lock();
                if settling.early.remove(&packet_id.get()) {
                    drop(settling);
                    self.settle(Some(stored));
                } else {
                    settling.waiting.insert(packet_id.get(), stored);
                }
            }
            (None, stored) => self.settle(stored),
            (Some(_), None) => {}
        }
        true
    }

    fn settle(&self, stored: Option<u64>) {
        if let (Some(journal), Some(id)) = (&self.state.journal, stored) {
            journal.record(Change::Settled {
                client_id: Arc::clone(&self.session_id),
                id,
            });
        }
    }

    fn set_connected(&self, connected: bool) {
        let was = self.counters.connected.swap(connected, Ordering::AcqRel);
        if was != connected || connected {
            notify_state(
                &self.state,
                &self.options.name,
                self.options.notifications,
                connected,
            );
        }
    }

    /// Sleeps up to `duration`, returning early (true) when stopped.
    fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        while !self.stopping() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.waker.wait(Some(left.min(Duration::from_millis(200))));
            self.waker.reset();
        }
        true
    }
}

/// What a remote subscription's callback needs to bring a message in.
struct Incoming {
    state: Arc<State>,
    rules: Vec<Rule>,
    publisher: Arc<str>,
    counters: Arc<Counters>,
    /// For remotes without No Local: recently sent messages, whose echo is dropped.
    echoes: Option<Arc<Mutex<Echoes>>>,
}

impl Incoming {
    fn bring_in(&self, message: &Message<'_>) {
        if let Some(echoes) = &self.echoes
            && echoes
                .lock()
                .forget(Echoes::key(message.topic, message.payload))
        {
            self.counters.echoes_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(local) = self.rules.iter().find_map(|r| r.to_local(message.topic)) else {
            return;
        };
        let Ok(topic) = TopicName::new(&local) else {
            return;
        };
        let mut properties = Properties::new();
        properties.extend(
            message
                .properties
                .iter()
                .filter(|p| {
                    !matches!(
                        p.id(),
                        crate::protocol::PropertyId::SubscriptionIdentifier
                            | crate::protocol::PropertyId::TopicAlias
                    )
                })
                .cloned(),
        );
        let publication = Publication {
            topic,
            payload: Arc::from(message.payload),
            qos: message.qos,
            retain: message.retain,
            properties,
            publisher: Some(Arc::clone(&self.publisher)),
            internal: false,
        };
        let mut scratch = RouteScratch::default();
        let mut wakeups = Wakeups::default();
        self.state.route(publication, &mut scratch, &mut wakeups);
        wakeups.wake_all();
        self.counters.messages_in.fetch_add(1, Ordering::Relaxed);
        // Durable persistence: the remote gets its PUBACK (sent when this returns) only once
        // the message is on disk here.
        if let Some(journal) = &self.state.journal {
            let _ = journal.wait_for_this_thread();
        }
    }
}

/// Publishes the link's state, retained, on `$SYS/broker/connection/NAME/state` (mosquitto's
/// bridge notifications): "1" when up, "0" when down.
fn notify_state(state: &State, name: &str, notify: bool, up: bool) {
    if !notify {
        return;
    }
    let Ok(topic) = TopicName::new(&format!("$SYS/broker/connection/{name}/state")) else {
        return;
    };
    let publication = Publication {
        topic,
        payload: Arc::from(if up { &b"1"[..] } else { &b"0"[..] }),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: Properties::new(),
        publisher: None,
        internal: true,
    };
    let mut wakeups = Wakeups::default();
    state.route(publication, &mut RouteScratch::default(), &mut wakeups);
    wakeups.wake_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each message sent is recognised once as an echo; others, and a second copy, are not.
    #[test]
    fn an_echo_is_dropped_once_per_message_sent() {
        let mut echoes = Echoes::default();
        let sent = Echoes::key("a/b", b"x");
        echoes.sent(sent);
        echoes.sent(sent);
        assert!(!echoes.forget(Echoes::key("a/b", b"y")));
        assert!(!echoes.forget(Echoes::key("a/c", b"x")));
        assert!(echoes.forget(sent));
        assert!(echoes.forget(sent));
        assert!(!echoes.forget(sent), "only as many echoes as messages sent");
    }
}
