//! Bridges: the broker joins a larger deployment by forwarding topics to and from upstream
//! brokers (mosquitto's `connection` sections), on threads of its own and through this crate's
//! client, so reconnects back off with jitter and messages wait while the remote is down.
//!
//! Each bridge is a local session named `$bridge/NAME` (persistent, so its queue is bounded by
//! `max_queued_messages` and kept in the persistence file when the broker has one) subscribed to
//! the `out` rules' filters, and a client connection to the remote subscribed to the `in`
//! rules' filters. Loops are cut both ways: the local session subscribes with No Local and
//! messages a bridge brings in carry its session's name as publisher, so they are never sent
//! back out over it; on an MQTT 5.0 remote the bridge's subscriptions use No Local too; on an
//! older remote, which echoes a `both` rule's messages back, an incoming copy of a message the
//! bridge just sent is dropped.

mod link;
mod rules;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

pub use self::rules::{BridgeDirection, BridgeTopic};
use super::state::State;
use crate::protocol::ProtocolLevel;
pub use crate::service::config::BridgeStart;
use crate::tls::ClientTls;
use crate::waker::Waker;

/// Client ids starting with this are the broker's own bridge sessions; clients cannot use them.
pub(crate) const SESSION_PREFIX: &str = "$bridge/";

/// One bridge to a remote broker.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// Names the bridge: its local session `$bridge/NAME`, its state topic
    /// `$SYS/broker/connection/NAME/state`, the default remote client id `HOSTNAME.NAME`.
    pub name: String,
    /// Remote brokers `(host, port)`, tried in order at start and after each failed attempt.
    pub addresses: Vec<(String, u16)>,
    /// `true`: after a failure, stay on the next address; `false` (default): the first address
    /// is the primary, and a start goes back to it.
    pub round_robin: bool,
    /// `None` (default): `HOSTNAME.NAME`.
    pub remote_client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    /// MQTT 3.1.1 (default, as mosquitto), 3.1 or 5.0 towards the remote.
    pub protocol: ProtocolLevel,
    /// `false` (default): the remote keeps the bridge's session (its subscriptions and queued
    /// messages) while the link is down; with MQTT 5.0 the session never expires.
    pub clean_session: bool,
    /// Default 60 s.
    pub keep_alive: Duration,
    /// TLS to the remote.
    pub tls: Option<ClientTls>,
    pub topics: Vec<BridgeTopic>,
    /// Publish 1 / 0 (retained) on `$SYS/broker/connection/NAME/state` as the link comes up and
    /// goes down (default true).
    pub notifications: bool,
    /// Reconnect delays: exponential from `restart_base` up to `restart_cap`, with jitter
    /// (mosquitto's `restart_timeout base cap`; default 5 s and 30 s).
    pub restart_base: Duration,
    pub restart_cap: Duration,
    /// `Automatic` (default) connects at start and reconnects; `Lazy` connects once 10
    /// messages wait for the remote (mosquitto's default `threshold`) and then stays
    /// connected; `Once` does not reconnect after the link ends.
    pub start: BridgeStart,
    /// mosquitto's `try_private` (default true): over MQTT 3.1/3.1.1, announce a bridge (the
    /// protocol level's top bit) so that a remote that understands it keeps retained flags and
    /// does not echo the bridge's messages; a remote that refuses it (CONNACK 0x01) is
    /// connected to again without.
    pub try_private: bool,
}

impl BridgeOptions {
    /// A bridge named `name` to `host:port` with mosquitto's defaults and no topics.
    pub fn new(name: &str, host: &str, port: u16) -> BridgeOptions {
        BridgeOptions {
            name: name.to_owned(),
            addresses: vec![(host.to_owned(), port)],
            round_robin: false,
            remote_client_id: None,
            username: None,
            password: None,
            protocol: ProtocolLevel::V311,
            clean_session: false,
            keep_alive: Duration::from_secs(60),
            tls: None,
            topics: Vec::new(),
            notifications: true,
            restart_base: Duration::from_secs(5),
            restart_cap: Duration::from_secs(30),
            start: BridgeStart::Automatic,
            try_private: true,
        }
    }

    /// Adds a topic rule: `pattern` (a filter, `""` to map `local_prefix` to `remote_prefix`
    /// one to one) flowing `direction` at `qos`.
    pub fn topic(
        mut self,
        pattern: &str,
        direction: BridgeDirection,
        qos: u8,
        local_prefix: &str,
        remote_prefix: &str,
    ) -> BridgeOptions {
        self.add_topic(pattern, direction, qos, local_prefix, remote_prefix);
        self
    }

    /// [`BridgeOptions::topic`] on a borrowed value.
    pub fn add_topic(
        &mut self,
        pattern: &str,
        direction: BridgeDirection,
        qos: u8,
        local_prefix: &str,
        remote_prefix: &str,
    ) {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        self.topics.push(BridgeTopic {
            pattern: some(pattern),
            direction,
            qos,
            local_prefix: some(local_prefix),
            remote_prefix: some(remote_prefix),
        });
    }

    /// The client id used towards the remote.
    pub fn client_id(&self) -> String {
        self.remote_client_id
            .clone()
            .unwrap_or_else(|| format!("{}.{}", hostname(), self.name))
    }
}

/// What a bridge has done, from `Broker::bridges`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeStatus {
    pub name: String,
    /// The link to the remote is up.
    pub connected: bool,
    /// Connections made to the remote (the first and every reconnect).
    pub connects: u64,
    /// Messages sent to the remote / brought in from it.
    pub messages_out: u64,
    pub messages_in: u64,
    /// Incoming copies of messages the bridge had just sent, dropped (older remotes echo them).
    pub echoes_dropped: u64,
    /// Why the last connection attempt failed or the link ended, if it did.
    pub last_error: Option<String>,
}

#[derive(Default)]
pub(crate) struct Counters {
    connected: AtomicBool,
    connects: AtomicU64,
    messages_out: AtomicU64,
    messages_in: AtomicU64,
    echoes_dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A running bridge: its thread and what stops it.
pub(crate) struct Bridge {
    name: String,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Bridge {
    /// Starts the bridge's thread; it connects on its own, so a remote that is down delays
    /// nothing here.
    pub fn start(state: &Arc<State>, options: &BridgeOptions) -> std::io::Result<Bridge> {
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(Waker::new()?);
        let link = link::Link::new(
            Arc::clone(state),
            options.clone(),
            Arc::clone(&counters),
            Arc::clone(&stop),
            Arc::clone(&waker),
        );
        let attached = link.attach();
        let thread = std::thread::Builder::new()
            .name(format!("mqtt-bridge-{}", options.name))
            .stack_size(256 * 1024)
            .spawn(move || link.run(attached))?;
        Ok(Bridge {
            name: options.name.clone(),
            counters,
            stop,
            waker,
            thread: Some(thread),
        })
    }

    pub fn status(&self) -> BridgeStatus {
        let c = &self.counters;
        BridgeStatus {
            name: self.name.clone(),
            connected: c.connected.load(Ordering::Acquire),
            connects: c.connects.load(Ordering::Relaxed),
            messages_out: c.messages_out.load(Ordering::Relaxed),
            messages_in: c.messages_in.load(Ordering::Relaxed),
            echoes_dropped: c.echoes_dropped.load(Ordering::Relaxed),
            last_error: c.last_error.lock().clone(),
        }
    }

    /// Disconnects from the remote and ends the thread; the local session and its queue stay.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: writes at most buf.len() bytes into a live buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_owned();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
