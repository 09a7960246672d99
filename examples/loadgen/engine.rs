//! The traffic engine: one thread, one level-triggered epoll, every connection non-blocking.
//!
//! Publishers append pre-encoded PUBLISH packets (only the packet id is patched) to a per-connection
//! buffer and send the whole batch with one write(); subscribers acknowledge QoS 1 and 2 deliveries
//! in the same batched way. A group is one topic with its publishers and subscribers; the window
//! bounds the messages of a group not yet delivered to every subscriber (and, for QoS 1/2, not yet
//! acknowledged), so a broker's queues never grow past it and nothing is dropped for lack of room.
//! Over TLS or WebSocket ([`crate::wire`]) a batch is still handed over whole: it becomes full
//! TLS records or one WebSocket message.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU16;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mqtt::protocol::{
    Connect, Decoder, FixedHeader, Packet, PacketType, Properties, Property, ProtocolLevel, QoS,
    QosPid, ReasonCode, Subscribe, SubscribeTopic, encode_publish, encode_publish_v5,
};

use crate::sys::{self, BROKEN, Epoll, READABLE, WRITABLE};
use crate::wire::{READ_CHUNK, Sent, Transport, Wire};
/// A publisher whose unsent bytes exceed this gets no new messages until the socket drains.
const MAX_UNSENT: usize = 512 * 1024;
/// In throughput runs, a poll that read less than this is followed by a short pause.
const COALESCE_BELOW: u64 = 32 * 1024;
const COALESCE_PAUSE: Duration = Duration::from_micros(100);
/// Largest packet accepted from the broker.
const MAX_PACKET: usize = 16 * 1024 * 1024;
/// Packet ids in flight per publisher can never exceed the id space ([MQTT-2.3.1-1]: ids are
/// non-zero 16-bit values).
const PID_SPACE: usize = 65_535;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Publisher(usize),
    Subscriber(usize),
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    AwaitConnack,
    AwaitSuback,
    Ready,
    Closed,
}

/// Outstanding packet ids of one publisher, for QoS 1 and 2.
struct PidWindow {
    state: Vec<PidState>,
    in_flight: usize,
    last: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PidState {
    Free,
    /// Sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    AwaitAck,
    /// PUBREL sent; waiting for PUBCOMP.
    AwaitComplete,
}

impl PidWindow {
    fn new() -> Self {
        PidWindow {
            state: vec![PidState::Free; PID_SPACE + 1],
            in_flight: 0,
            last: 0,
        }
    }

    fn allocate(&mut self) -> Option<u16> {
        if self.in_flight >= PID_SPACE {
            return None;
        }
        loop {
            self.last = if self.last == u16::MAX {
                1
            } else {
                self.last + 1
            };
            let slot = &mut self.state[self.last as usize];
            if *slot == PidState::Free {
                *slot = PidState::AwaitAck;
                self.in_flight += 1;
                return Some(self.last);
            }
        }
    }

    /// Moves `pid` from `from` to `to`; false when the broker acknowledged an id not in that state.
    fn advance(&mut self, pid: u16, from: PidState, to: PidState) -> bool {
        let slot = &mut self.state[pid as usize];
        if pid == 0 || *slot != from {
            return false;
        }
        *slot = to;
        if to == PidState::Free {
            self.in_flight -= 1;
        }
        true
    }
}

struct Conn {
    fd: Option<OwnedFd>,
    /// TCP, or the TLS session or WebSocket over it.
    wire: Wire,
    role: Role,
    phase: Phase,
    watching_writable: bool,
    dirty: bool,
    /// Bytes of an incomplete packet kept from the previous read.
    partial: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    pids: Option<PidWindow>,
    /// QoS 2 packet ids received and not yet released by PUBREL (subscribers of QoS 2 only).
    unreleased: Option<Vec<bool>>,
}

struct Group {
    template: Vec<u8>,
    pid_offset: usize,
    /// With varying topics: where the topic's last level (TOPIC_COUNTER_DIGITS digits) sits in
    /// the template, and the number the next message gets there.
    counter_offset: Option<usize>,
    next_counter: u64,
    publishers: Vec<usize>,
    subscribers: Vec<usize>,
    sent: u64,
    delivered: u64,
    completed: u64,
    rotate: usize,
    wanted_subscribers: usize,
    last_sent_at: Instant,
}

/// Digits of the per-message counter that ends a varying topic (`loadgen/PID/GROUP/00000042`).
const TOPIC_COUNTER_DIGITS: usize = 8;

/// Writes `n` modulo 10^digits as `out.len()` decimal digits, leading zeros included.
fn write_counter(out: &mut [u8], mut n: u64) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

impl Group {
    fn expected(&self) -> u64 {
        self.sent * self.subscribers.len() as u64
    }
}

#[derive(Debug, Clone)]
pub struct TrafficConfig {
    pub qos: QoS,
    pub payload_len: usize,
    /// Messages per group in flight at most.
    pub window: usize,
    pub duration: Duration,
    /// Messages per group; stop after this many even before `duration`.
    pub messages: Option<u64>,
    pub record_latency: bool,
    /// Busy-poll instead of sleeping in epoll_wait, keeping the generator's own wake-up latency
    /// out of latency figures (only sensible when its CPU is reserved for it).
    pub spin: bool,
    /// Give up waiting for outstanding deliveries after this long without progress.
    pub drain_idle: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct ConnectOutcome {
    pub established: usize,
    pub failed: usize,
    pub elapsed: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct TrafficOutcome {
    pub sent: u64,
    pub expected: u64,
    pub delivered: u64,
    /// Publishes whose QoS 1/2 handshake finished.
    pub completed: u64,
    /// From the first publish to the last delivery.
    pub elapsed: Duration,
    pub settled: bool,
    pub delivery_ns: Vec<u64>,
    pub ack_ns: Vec<u64>,
}

pub struct Engine {
    addr: SocketAddr,
    /// Where subscribers connect when it is not `addr` (a bridged broker's remote peer).
    subscriber_addr: Option<SocketAddr>,
    /// The local address every connection is made from (the system's choice when `None`).
    source: Option<IpAddr>,
    transport: Transport,
    epoll: Epoll,
    conns: Vec<Conn>,
    groups: Vec<Group>,
    decoder: Decoder,
    /// The revision every connection speaks (MQTT 3.1.1 or 5.0).
    protocol: ProtocolLevel,
    scratch: Vec<u8>,
    /// TLS records read, before decryption.
    raw: Vec<u8>,
    dirty: Vec<usize>,
    ready: Vec<(u64, u32)>,
    qos: QoS,
    keep_alive: u16,
    client_prefix: String,
    /// Subscribers connect with clean session 0 (MQTT 5.0: clean start 0 and a session expiry
    /// interval), so the broker keeps a persistent session for each.
    persistent_subscribers: bool,
    topic_prefix: String,
    fixed_topic: Option<String>,
    /// Every message of a group goes to a topic of its own (`loadgen/PID/GROUP/COUNTER`); the
    /// group's subscribers subscribe to `loadgen/PID/GROUP/+`.
    vary_topics: bool,
    record_latency: bool,
    now: Instant,
    last_delivery_at: Option<Instant>,
    last_progress_at: Instant,
    delivery_ns: Vec<u64>,
    ack_ns: Vec<u64>,
    bytes_read: u64,
    handshakes_ready: usize,
    handshakes_failed: usize,
    last_ping_at: Instant,
    pub closed_by_peer: u64,
    pub protocol_errors: u64,
    pub first_errors: Vec<String>,
}

impl Engine {
    pub fn new(
        addr: SocketAddr,
        qos: QoS,
        keep_alive: u16,
        protocol: ProtocolLevel,
    ) -> std::io::Result<Engine> {
        let pid = std::process::id();
        let now = Instant::now();
        Ok(Engine {
            addr,
            subscriber_addr: None,
            source: None,
            transport: Transport::Tcp,
            epoll: Epoll::new(1024)?,
            conns: Vec::new(),
            groups: Vec::new(),
            decoder: Decoder::with_max_packet_size(MAX_PACKET).with_protocol(protocol),
            protocol,
            scratch: vec![0; READ_CHUNK],
            raw: Vec::new(),
            dirty: Vec::new(),
            ready: Vec::new(),
            qos,
            keep_alive,
            client_prefix: format!("lg{pid}-"),
            persistent_subscribers: false,
            topic_prefix: format!("loadgen/{pid}/"),
            fixed_topic: None,
            vary_topics: false,
            record_latency: false,
            now,
            last_delivery_at: None,
            last_progress_at: now,
            delivery_ns: Vec::new(),
            ack_ns: Vec::new(),
            bytes_read: 0,
            handshakes_ready: 0,
            handshakes_failed: 0,
            last_ping_at: now,
            closed_by_peer: 0,
            protocol_errors: 0,
            first_errors: Vec::new(),
        })
    }

    /// Publishes every group to `topic` instead of a topic of its own, so an outside subscriber
    /// can receive the messages.
    pub fn set_topic(&mut self, topic: &str) {
        self.fixed_topic = Some(topic.to_string());
    }

    /// Connects subscribers to `addr` instead of the publishers' broker: publishers on one
    /// broker, subscribers on another that receives the messages through a bridge.
    pub fn set_subscriber_addr(&mut self, addr: SocketAddr) {
        self.subscriber_addr = Some(addr);
    }

    /// Carries every connection over `transport` (plain TCP unless set).
    pub fn set_transport(&mut self, transport: Transport) {
        self.transport = transport;
    }

    /// Makes every connection from `ip` (e.g. one of 127.0.0.x: each source address has its own
    /// ephemeral ports towards the broker).
    pub fn set_source(&mut self, ip: IpAddr) {
        self.source = Some(ip);
    }

    /// Gives every subscriber a persistent session (clean session 0): what a broker with
    /// persistence must keep on disk.
    pub fn set_persistent_subscribers(&mut self, persistent: bool) {
        self.persistent_subscribers = persistent;
    }

    /// Sends every message of a group to a topic of its own (not with [`Engine::set_topic`]):
    /// a broker's per-topic caches (an ACL check remembered for the last topic, say) never hit.
    pub fn set_vary_topics(&mut self, vary: bool) {
        self.vary_topics = vary;
    }

    /// The topic of a group's publish template (with varying topics, its counter zeroed).
    fn topic_of(&self, group: usize) -> String {
        match &self.fixed_topic {
            Some(topic) => topic.clone(),
            None if self.vary_topics => format!(
                "{}{group}/{}",
                self.topic_prefix,
                "0".repeat(TOPIC_COUNTER_DIGITS)
            ),
            None => format!("{}{group}", self.topic_prefix),
        }
    }

    /// The filter a group's subscribers subscribe to.
    fn filter_of(&self, group: usize) -> String {
        match &self.fixed_topic {
            None if self.vary_topics => format!("{}{group}/+", self.topic_prefix),
            _ => self.topic_of(group),
        }
    }

    /// Declares `count` groups of `publishers` → `subscribers`, each on its own topic, and returns
    /// the roles of the connections to open for them.
    pub fn add_groups(
        &mut self,
        count: usize,
        publishers: usize,
        subscribers: usize,
        payload_len: usize,
    ) -> Vec<Role> {
        let payload: Vec<u8> = (0..payload_len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut roles = Vec::new();
        for _ in 0..count {
            let index = self.groups.len();
            let topic = self.topic_of(index);
            let first_pid = NonZeroU16::MIN;
            let mut template = Vec::new();
            let qospid = QosPid::new(self.qos, first_pid);
            let encoded = if self.protocol.is_v5() {
                let none = Properties::new();
                encode_publish_v5(
                    &mut template,
                    false,
                    qospid,
                    false,
                    &topic,
                    &payload,
                    &none,
                    &[],
                )
            } else {
                encode_publish(&mut template, false, qospid, false, &topic, &payload)
            };
            encoded.expect("a short topic and a bounded payload always encode");
            // The packet id sits before the payload (and, in 5.0, the empty property length).
            let properties_len = usize::from(self.protocol.is_v5());
            let pid_offset = template.len() - payload.len() - properties_len - 2;
            // The topic follows the fixed header and its 2-byte length; its last digits count.
            let counter_offset = (self.vary_topics && self.fixed_topic.is_none()).then(|| {
                let start = template
                    .windows(topic.len())
                    .position(|w| w == topic.as_bytes())
                    .expect("the topic is in its PUBLISH");
                start + topic.len() - TOPIC_COUNTER_DIGITS
            });
            self.groups.push(Group {
                template,
                pid_offset,
                counter_offset,
                next_counter: 0,
                publishers: Vec::new(),
                subscribers: Vec::new(),
                sent: 0,
                delivered: 0,
                completed: 0,
                rotate: 0,
                wanted_subscribers: subscribers,
                last_sent_at: self.now,
            });
            roles.extend((0..subscribers).map(|_| Role::Subscriber(index)));
            roles.extend((0..publishers).map(|_| Role::Publisher(index)));
        }
        roles
    }

    fn note_error(&mut self, message: String) {
        if self.first_errors.len() < 5 && !self.first_errors.contains(&message) {
            self.first_errors.push(message);
        }
    }

    fn open(&mut self, role: Role) -> std::io::Result<()> {
        let index = self.conns.len();
        let addr = match (role, self.subscriber_addr) {
            (Role::Subscriber(_), Some(addr)) => addr,
            _ => self.addr,
        };
        let fd = sys::connect_nonblocking(&addr, self.source)?;
        let wire = self.transport.open(addr, fd.as_raw_fd())?;
        self.epoll
            .add(fd.as_raw_fd(), READABLE | WRITABLE, index as u64)?;
        let mut out = Vec::new();
        let persistent = self.persistent_subscribers && matches!(role, Role::Subscriber(_));
        let mut properties = Properties::new();
        if persistent && self.protocol.is_v5() {
            // In 5.0 a session outlives its connection only with an expiry interval.
            properties.push(Property::SessionExpiryInterval(3600));
        }
        Packet::Connect(Box::new(Connect {
            protocol: self.protocol,
            clean_session: !persistent,
            keep_alive: self.keep_alive,
            client_id: format!("{}{index}", self.client_prefix),
            will: None,
            username: None,
            password: None,
            properties,
        }))
        .encode(&mut out)
        .expect("CONNECT with a short client id always encodes");
        if let Role::Subscriber(group) = role {
            Packet::Subscribe(Subscribe {
                packet_id: NonZeroU16::MIN,
                topics: vec![SubscribeTopic::new(self.filter_of(group), self.qos)],
                properties: Properties::new(),
            })
            .encode_for(self.protocol, &mut out)
            .expect("SUBSCRIBE with one short filter always encodes");
        }
        let pids = match (role, self.qos) {
            (Role::Publisher(_), QoS::AtLeastOnce | QoS::ExactlyOnce) => Some(PidWindow::new()),
            _ => None,
        };
        let unreleased = match (role, self.qos) {
            (Role::Subscriber(_), QoS::ExactlyOnce) => Some(vec![false; PID_SPACE + 1]),
            _ => None,
        };
        self.conns.push(Conn {
            fd: Some(fd),
            wire,
            role,
            phase: Phase::Connecting,
            watching_writable: true,
            dirty: false,
            partial: Vec::new(),
            out,
            out_pos: 0,
            pids,
            unreleased,
        });
        Ok(())
    }

    /// Opens one connection per role, at most `concurrency` handshakes at a time, and waits until
    /// each is ready (CONNACK, and SUBACK for subscribers) or has failed.
    pub fn connect_all(
        &mut self,
        roles: &[Role],
        concurrency: usize,
        deadline: Instant,
    ) -> ConnectOutcome {
        let started = Instant::now();
        let mut outcome = ConnectOutcome::default();
        let mut next_role = 0;
        let first_conn = self.conns.len();
        let ready_before = self.handshakes_ready;
        let failed_before = self.handshakes_failed;
        loop {
            let ready = self.handshakes_ready - ready_before;
            let failed = self.handshakes_failed - failed_before;
            let mut pending = self.conns.len() - first_conn - ready - failed;
            while next_role < roles.len() && pending < concurrency.max(1) {
                match self.open(roles[next_role]) {
                    Ok(()) => pending += 1,
                    Err(e) => {
                        outcome.failed += 1;
                        self.note_error(format!("connect: {e}"));
                    }
                }
                next_role += 1;
            }
            if next_role >= roles.len() && pending == 0 {
                outcome.established = ready;
                outcome.failed += failed;
                break;
            }
            if Instant::now() >= deadline {
                outcome.established = ready;
                outcome.failed += failed + pending;
                self.note_error("timed out waiting for connections".into());
                break;
            }
            self.poll(50);
            self.flush_dirty();
        }
        outcome.elapsed = started.elapsed();
        for index in first_conn..self.conns.len() {
            let conn = &mut self.conns[index];
            if conn.phase != Phase::Ready {
                continue;
            }
            match conn.role {
                Role::Publisher(g) => self.groups[g].publishers.push(index),
                Role::Subscriber(g) => self.groups[g].subscribers.push(index),
                Role::Idle => {
                    // Idle connections are measured for memory: keep nothing of ours around.
                    conn.out = Vec::new();
                    conn.partial = Vec::new();
                }
            }
        }
        outcome
    }

    /// Number of connections still open.
    pub fn open_connections(&self) -> usize {
        self.conns
            .iter()
            .filter(|c| c.phase != Phase::Closed)
            .count()
    }

    /// Services connections for `duration` without sending anything.
    pub fn idle_for(&mut self, duration: Duration) {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            self.poll(50);
            self.flush_dirty();
        }
    }

    /// Publishes for `cfg.duration` (or `cfg.messages` per group), then waits for outstanding
    /// deliveries and acknowledgements until all arrived, nothing moved for `cfg.drain_idle`, or
    /// `deadline` passed.
    pub fn run_traffic(&mut self, cfg: &TrafficConfig, deadline: Instant) -> TrafficOutcome {
        self.record_latency = cfg.record_latency;
        let start = Instant::now();
        self.now = start;
        self.last_progress_at = start;
        self.last_delivery_at = None;
        let stop_at = start + cfg.duration;
        let mut stopping = false;
        let mut settled = false;
        loop {
            self.now = Instant::now();
            if !stopping && (self.now >= stop_at || self.all_sent(cfg)) {
                stopping = true;
                self.last_progress_at = self.now;
            }
            let sent_before: u64 = self.groups.iter().map(|g| g.sent).sum();
            if !stopping {
                self.top_up(cfg);
            }
            let sent_now = self.groups.iter().map(|g| g.sent).sum::<u64>() > sent_before;
            self.flush_dirty();
            if stopping && self.all_settled() {
                settled = true;
                break;
            }
            if stopping && self.now.duration_since(self.last_progress_at) > cfg.drain_idle {
                self.note_error("deliveries stopped arriving before all were received".into());
                break;
            }
            if self.now >= deadline {
                self.note_error("run deadline reached".into());
                break;
            }
            let groups_alive = self.groups.iter().all(|g| {
                !g.publishers.is_empty() && (g.wanted_subscribers == 0 || !g.subscribers.is_empty())
            });
            if !groups_alive {
                self.note_error("a group has no live publisher or subscriber".into());
                break;
            }
            let read_before = self.bytes_read;
            // A group without subscribers is limited only by the socket: keep sending.
            let timeout = if (cfg.spin || sent_now) && !stopping {
                0
            } else if stopping {
                20
            } else {
                50
            };
            self.poll(timeout);
            if !cfg.record_latency && self.bytes_read - read_before < COALESCE_BELOW {
                // Let more deliveries pile up so the next read() takes many at once: the
                // generator must spend much less CPU per message than the broker it measures.
                std::thread::sleep(COALESCE_PAUSE);
            }
        }
        let end = self.last_delivery_at.unwrap_or(self.now);
        TrafficOutcome {
            sent: self.groups.iter().map(|g| g.sent).sum(),
            expected: self.groups.iter().map(Group::expected).sum(),
            delivered: self.groups.iter().map(|g| g.delivered).sum(),
            completed: self.groups.iter().map(|g| g.completed).sum(),
            elapsed: end.saturating_duration_since(start),
            settled,
            delivery_ns: std::mem::take(&mut self.delivery_ns),
            ack_ns: std::mem::take(&mut self.ack_ns),
        }
    }

    fn all_sent(&self, cfg: &TrafficConfig) -> bool {
        match cfg.messages {
            Some(limit) => self.groups.iter().all(|g| g.sent >= limit),
            None => false,
        }
    }

    fn all_settled(&self) -> bool {
        let acks_needed = self.qos != QoS::AtMostOnce;
        self.groups
            .iter()
            .all(|g| g.delivered >= g.expected() && (!acks_needed || g.completed >= g.sent))
            && self.dirty.is_empty()
    }

    /// Fills every group's window with new publishes, spread over its publishers.
    fn top_up(&mut self, cfg: &TrafficConfig) {
        let pid_window = cfg.window.clamp(1, PID_SPACE);
        for group in &mut self.groups {
            let fanout = group.subscribers.len().max(1) as u64;
            let undelivered = group.expected().saturating_sub(group.delivered);
            let unacked = if self.qos == QoS::AtMostOnce {
                0
            } else {
                group.sent - group.completed
            };
            let outstanding = undelivered.div_ceil(fanout).max(unacked);
            let mut room = (cfg.window as u64).saturating_sub(outstanding);
            if let Some(limit) = cfg.messages {
                room = room.min(limit.saturating_sub(group.sent));
            }
            // Waiting until a batch's worth of room is free turns one write per freed message into
            // one write per batch; the window stays at least 7/8 full.
            let batch = if self.record_latency {
                1
            } else {
                (cfg.window as u64 / 8).max(1)
            };
            let left = cfg
                .messages
                .map_or(u64::MAX, |l| l.saturating_sub(group.sent));
            if room == 0 || (room < batch && room < left) || group.publishers.is_empty() {
                continue;
            }
            let room_before = room;
            let count = group.publishers.len();
            let share = (room / count as u64).max(1);
            for k in 0..count {
                if room == 0 {
                    break;
                }
                let index = group.publishers[(group.rotate + k) % count];
                let conn = &mut self.conns[index];
                if conn.phase != Phase::Ready || conn.out.len() - conn.out_pos > MAX_UNSENT {
                    continue;
                }
                let mut n = share.min(room);
                if let Some(pids) = &conn.pids {
                    n = n.min((pid_window - pids.in_flight) as u64);
                }
                for _ in 0..n {
                    let start = conn.out.len();
                    conn.out.extend_from_slice(&group.template);
                    if let Some(pids) = &mut conn.pids {
                        let pid = pids.allocate().expect("window is below the id space");
                        let at = start + group.pid_offset;
                        conn.out[at..at + 2].copy_from_slice(&pid.to_be_bytes());
                    }
                    if let Some(offset) = group.counter_offset {
                        let at = start + offset;
                        write_counter(
                            &mut conn.out[at..at + TOPIC_COUNTER_DIGITS],
                            group.next_counter,
                        );
                        group.next_counter += 1;
                    }
                }
                if n > 0 {
                    group.sent += n;
                    room -= n;
                    if !conn.dirty {
                        conn.dirty = true;
                        self.dirty.push(index);
                    }
                }
            }
            group.rotate = group.rotate.wrapping_add(1);
            if room < room_before {
                group.last_sent_at = self.now;
            }
        }
    }

    /// Keeps connections alive through long runs: a broker may close a connection that sent
    /// nothing for 1.5 keep-alive periods [MQTT-3.1.2-24].
    fn ping_if_due(&mut self) {
        if self.keep_alive == 0 {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last_ping_at) < Duration::from_secs(self.keep_alive as u64) / 2 {
            return;
        }
        self.last_ping_at = now;
        for index in 0..self.conns.len() {
            if self.conns[index].phase == Phase::Ready {
                let conn = &mut self.conns[index];
                conn.out.extend_from_slice(&[0xC0, 0]);
                if !conn.dirty {
                    conn.dirty = true;
                    self.dirty.push(index);
                }
            }
        }
    }

    fn poll(&mut self, timeout_ms: i32) {
        self.ping_if_due();
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        let waited = match self.epoll.wait(timeout_ms) {
            Ok(events) => {
                ready.extend(events);
                Ok(())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = waited {
            self.note_error(format!("epoll_wait: {e}"));
            self.ready = ready;
            return;
        }
        for &(token, bits) in &ready {
            let index = token as usize;
            match self.conns[index].phase {
                Phase::Closed => continue,
                Phase::Connecting => {
                    let Some(fd) = &self.conns[index].fd else {
                        continue;
                    };
                    match sys::take_socket_error(fd.as_raw_fd()) {
                        Ok(()) => {
                            self.conns[index].phase = Phase::AwaitConnack;
                            self.flush(index);
                        }
                        Err(e) => self.close(index, format!("connect: {e}")),
                    }
                    continue;
                }
                _ => {}
            }
            if bits & WRITABLE != 0 {
                self.flush(index);
            }
            if bits & (READABLE | BROKEN) != 0 {
                self.read(index);
            }
        }
        self.ready = ready;
    }

    fn close(&mut self, index: usize, reason: String) {
        let conn = &mut self.conns[index];
        if conn.phase == Phase::Closed {
            return;
        }
        if conn.phase != Phase::Ready {
            self.handshakes_failed += 1;
        }
        conn.fd = None;
        // Drops a TLS session or WebSocket with the socket.
        conn.wire = Wire::Tcp;
        conn.phase = Phase::Closed;
        conn.out = Vec::new();
        conn.partial = Vec::new();
        self.closed_by_peer += 1;
        for group in &mut self.groups {
            group.publishers.retain(|&i| i != index);
            group.subscribers.retain(|&i| i != index);
        }
        self.note_error(reason);
    }

    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &index in &dirty {
            self.conns[index].dirty = false;
            self.flush(index);
        }
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    fn flush(&mut self, index: usize) {
        let conn = &mut self.conns[index];
        if conn.phase == Phase::Connecting {
            return;
        }
        let Some(fd) = &conn.fd else {
            return;
        };
        let fd = fd.as_raw_fd();
        match conn.wire.send(fd, &conn.out, &mut conn.out_pos) {
            Ok(Sent::Idle) => {}
            Ok(Sent::Blocked) => {
                if !conn.watching_writable {
                    conn.watching_writable = true;
                    if let Err(e) = self.epoll.modify(fd, READABLE | WRITABLE, index as u64) {
                        self.close(index, format!("epoll_ctl: {e}"));
                    }
                }
                return;
            }
            Err(e) => {
                self.close(index, format!("write: {e}"));
                return;
            }
        }
        // Over WebSocket, CONNECT waits in `out` until the upgrade is done.
        if conn.out_pos == conn.out.len() {
            conn.out.clear();
            conn.out_pos = 0;
        }
        if conn.watching_writable {
            conn.watching_writable = false;
            if let Err(e) = self.epoll.modify(fd, READABLE, index as u64) {
                self.close(index, format!("epoll_ctl: {e}"));
            }
        }
    }

    fn read(&mut self, index: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let kept = self.conns[index].partial.len();
        if scratch.len() < kept + READ_CHUNK {
            scratch.resize(kept + READ_CHUNK, 0);
        }
        scratch[..kept].copy_from_slice(&self.conns[index].partial);
        let conn = &mut self.conns[index];
        let Some(fd) = &conn.fd else {
            self.scratch = scratch;
            return;
        };
        let read = conn
            .wire
            .receive(fd.as_raw_fd(), &mut scratch, kept, &mut self.raw);
        if self.record_latency {
            self.now = Instant::now();
        }
        match read {
            Ok(0) => self.close(index, "connection closed by the broker".into()),
            Ok(n) => {
                self.bytes_read += n as u64;
                let end = kept + n;
                let mut pos = 0;
                loop {
                    let header = match self.decoder.fixed_header(&scratch[pos..end]) {
                        Ok(Some(h)) if pos + h.packet_len() <= end => h,
                        Ok(_) => break,
                        Err(e) => {
                            self.protocol_errors += 1;
                            self.close(index, format!("undecodable packet from broker: {e}"));
                            break;
                        }
                    };
                    let packet = &scratch[pos..pos + header.packet_len()];
                    pos += header.packet_len();
                    if let Err(reason) = self.handle(index, &header, packet) {
                        self.protocol_errors += 1;
                        self.close(index, reason);
                        break;
                    }
                }
                let conn = &mut self.conns[index];
                conn.partial.clear();
                if conn.phase != Phase::Closed {
                    conn.partial.extend_from_slice(&scratch[pos..end]);
                }
            }
            Err(e) if sys::would_block(&e) => {}
            Err(e) => self.close(index, format!("read: {e}")),
        }
        self.scratch = scratch;
        // What the broker sent may have moved a handshake on: a TLS session's next messages,
        // a WebSocket upgrade done and CONNECT free to go.
        let conn = &self.conns[index];
        if !conn.dirty
            && conn.phase != Phase::Closed
            && !matches!(conn.wire, Wire::Tcp)
            && (conn.wire.wants_send() || conn.out_pos < conn.out.len())
        {
            self.flush(index);
        }
    }

    fn queue(&mut self, index: usize, bytes: [u8; 4]) {
        let conn = &mut self.conns[index];
        conn.out.extend_from_slice(&bytes);
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(index);
        }
    }

    fn elapsed_since_send(&self, group: usize) -> u64 {
        self.now
            .saturating_duration_since(self.groups[group].last_sent_at)
            .as_nanos() as u64
    }

    fn handle(&mut self, index: usize, header: &FixedHeader, packet: &[u8]) -> Result<(), String> {
        let body = &packet[header.header_len..];
        let role = self.conns[index].role;
        let phase = self.conns[index].phase;
        let pid_of = |body: &[u8]| -> Result<u16, String> {
            match body {
                [hi, lo] => Ok(u16::from_be_bytes([*hi, *lo])),
                _ => Err(format!(
                    "{:?} with a body of {} bytes",
                    header.packet_type,
                    body.len()
                )),
            }
        };
        match (header.packet_type, role) {
            (PacketType::Publish, Role::Subscriber(group)) if phase == Phase::Ready => {
                let qos = (header.flags >> 1) & 0b11;
                let topic_len = match body {
                    [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]) as usize,
                    _ => return Err("PUBLISH without a topic".into()),
                };
                let pid = if qos == 0 {
                    None
                } else {
                    match body.get(2 + topic_len..4 + topic_len) {
                        Some(&[hi, lo]) => Some([hi, lo]),
                        _ => return Err("PUBLISH without a packet id".into()),
                    }
                };
                // A QoS 2 message resent before our PUBREC reached the broker is the same message:
                // it is acknowledged again but delivered once [MQTT-4.3.3-2].
                if qos == 2
                    && let (Some(unreleased), Some(id)) = (&mut self.conns[index].unreleased, pid)
                {
                    let slot = &mut unreleased[u16::from_be_bytes(id) as usize];
                    if *slot {
                        self.queue(index, [0x50, 2, id[0], id[1]]);
                        return Ok(());
                    }
                    *slot = true;
                }
                self.groups[group].delivered += 1;
                self.last_delivery_at = Some(self.now);
                self.last_progress_at = self.now;
                if self.record_latency {
                    self.delivery_ns.push(self.elapsed_since_send(group));
                }
                // Acknowledge as the spec requires of a receiver: PUBACK for QoS 1
                // [MQTT-4.3.2-2], PUBREC for QoS 2 [MQTT-4.3.3-2].
                match (qos, pid) {
                    (1, Some([hi, lo])) => self.queue(index, [0x40, 2, hi, lo]),
                    (2, Some([hi, lo])) => self.queue(index, [0x50, 2, hi, lo]),
                    _ => {}
                }
            }
            (PacketType::Pubrel, Role::Subscriber(_)) => {
                // PUBREL is answered with PUBCOMP carrying the same id [MQTT-4.3.3-2].
                let pid = pid_of(body)?;
                if let Some(unreleased) = &mut self.conns[index].unreleased {
                    unreleased[pid as usize] = false;
                }
                let [hi, lo] = pid.to_be_bytes();
                self.queue(index, [0x70, 2, hi, lo]);
            }
            (
                PacketType::Puback | PacketType::Pubrec | PacketType::Pubcomp,
                Role::Publisher(group),
            ) => {
                let pid = pid_of(body)?;
                let (from, to) = match (header.packet_type, self.qos) {
                    (PacketType::Puback, QoS::AtLeastOnce) => (PidState::AwaitAck, PidState::Free),
                    (PacketType::Pubrec, QoS::ExactlyOnce) => {
                        (PidState::AwaitAck, PidState::AwaitComplete)
                    }
                    (PacketType::Pubcomp, QoS::ExactlyOnce) => {
                        (PidState::AwaitComplete, PidState::Free)
                    }
                    (t, q) => {
                        return Err(format!("unexpected {t:?} for a QoS {} publish", q as u8));
                    }
                };
                let pids = self.conns[index]
                    .pids
                    .as_mut()
                    .ok_or_else(|| "acknowledgement to a QoS 0 publisher".to_string())?;
                if !pids.advance(pid, from, to) {
                    return Err(format!(
                        "{:?} for packet id {pid} not in flight",
                        header.packet_type
                    ));
                }
                self.last_progress_at = self.now;
                if to == PidState::Free {
                    self.groups[group].completed += 1;
                    if self.record_latency {
                        self.ack_ns.push(self.elapsed_since_send(group));
                    }
                } else {
                    // PUBREC is answered with PUBREL carrying the same id [MQTT-4.3.3-1].
                    let [hi, lo] = pid.to_be_bytes();
                    self.queue(index, [0x62, 2, hi, lo]);
                }
            }
            (PacketType::Connack, _) if phase == Phase::AwaitConnack => {
                match self.decoder.decode(packet) {
                    Ok(Some((Packet::Connack(ack), _))) if ack.code == ReasonCode::SUCCESS => {
                        self.conns[index].phase = match role {
                            Role::Subscriber(_) => Phase::AwaitSuback,
                            _ => Phase::Ready,
                        };
                        if self.conns[index].phase == Phase::Ready {
                            self.handshakes_ready += 1;
                        }
                    }
                    Ok(Some((Packet::Connack(ack), _))) => {
                        return Err(format!("connection refused: {}", ack.code.description()));
                    }
                    other => return Err(format!("bad CONNACK: {other:?}")),
                }
            }
            (PacketType::Suback, Role::Subscriber(_)) if phase == Phase::AwaitSuback => {
                match self.decoder.decode(packet) {
                    Ok(Some((Packet::Suback(ack), _)))
                        if ack.codes.len() == 1 && ack.codes[0].is_success() =>
                    {
                        self.conns[index].phase = Phase::Ready;
                        self.handshakes_ready += 1;
                    }
                    other => return Err(format!("subscription refused: {other:?}")),
                }
            }
            (PacketType::Pingresp, _) => {}
            (t, _) => return Err(format!("unexpected {t:?} in phase {phase:?}")),
        }
        Ok(())
    }
}
