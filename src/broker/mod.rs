//! The embeddable broker.
//!
//! ```no_run
//! use mqtt::broker::{Broker, BrokerOptions};
//! let broker = Broker::new(BrokerOptions::with_port(0));
//! broker.start().unwrap();
//! println!("listening on port {}", broker.port());
//! broker.stop();
//! ```
//!
//! # Layers
//!
//! Each layer imports only the layers below it.
//!
//! 1. **Data** — what the broker knows, with no sockets, threads or epoll: [`options`],
//!    `stats`, `message`, `flows` (a session's QoS 1/2 state), `retained`, `subscriptions` (the
//!    topic tree), `session` (a session and the queue other threads append to), `control` (how a
//!    session reaches the connection serving it: a waker, or a [`control::ResumeQueue`] for a
//!    connection without a thread), and `state` ([`state::State`]: options, counters, sessions,
//!    the tree and the retained store) with its `registry` (sessions attached and detached,
//!    subscriptions) and `router` (one message to every matching session) methods.
//! 2. **Runtime** — what serves connections: `runtime` ([`runtime::Runtime`]: owns an
//!    `Arc<State>` plus the stopping flag, thread bookkeeping, the parking lot and lingering
//!    refused sockets), `io` (a socket with its buffers), `refusal`, `handshake` (deciding a
//!    CONNECT), `accept` (a new socket until its CONNECT is answered), `online` (a connected
//!    client on a thread), `parking` (idle connections in one epoll thread) and `threads`
//!    (reused connection threads). `accept`, `online`, `parking` and `threads` call each other:
//!    a connection moves between a thread and the lot. `listener` accepts sockets.
//! 3. **Facade** — this file: [`Broker`] starts and stops the runtime's threads.
//!
//! # Threads
//!
//! The listener thread accepts sockets. A new socket waits for its CONNECT in the parking lot (one
//! epoll thread), and a CONNECT that needs no waiting (no authenticator, no session to take over)
//! is answered by the listener or parking thread, which parks the connection straight away:
//! connecting clients get a thread only once they carry traffic. A connection thread owns its
//! socket and its session's QoS flows while it serves the connection; other threads reach it only
//! by appending to its session queue and waking it. A connection idle for `park_idle_after`
//! gives up its thread and waits in the lot until a packet, a delivery, a takeover or its
//! keep-alive deadline needs it, so idle clients cost no thread. Connection threads are reused
//! between connections.
//!
//! # Locks
//!
//! Outermost first: the sessions map, one session's lock, then the subscription tree or the
//! retained store (see [`state`]); a connection's control lock, then the parking lot's ready list.
//! No broker lock is held while a callback runs.
//!
//! # Callbacks
//!
//! Callbacks (authenticator, authorizer, event hook) run on broker threads (connection threads;
//! the listener or parking thread for some connect and stop events), concurrently, with no
//! broker lock held, so they may call [`Broker::publish`] and [`Broker::stats`]; a
//! [`Broker::stop`] from a callback starts the stop without waiting for it.

mod accept;
mod acl_memo;
mod auth;
mod bridge;
mod busy_poll;
mod config;
mod control;
mod flows;
mod handlers;
mod handshake;
mod host;
mod io;
mod listener;
mod listeners;
mod log;
mod message;
mod online;
mod options;
mod parking;
mod recovery;
mod refusal;
mod registry;
mod retained;
mod router;
mod runtime;
mod service_files;
mod session;
mod state;
mod stats;
mod store;
mod subscriptions;
mod sys;
mod threads;
mod websocket;

use std::fmt;
use std::io as stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread::{self, JoinHandle};

use parking_lot::{Condvar, Mutex};

pub use bridge::{BridgeDirection, BridgeOptions, BridgeStart, BridgeStatus, BridgeTopic};
pub use control::{ClientInfo, Redirect};
pub use host::{HostCallback, HostMessage};
pub use listeners::{BoundListener, Listener, ListenerKind};
use log::broker_log;
pub use log::{BrokerLog, LogCallback, LogTimestamp, LogType};
pub use options::{
    Access, AuthRequest, AuthResult, AuthStep, AuthVerdict, Authenticator, Authorizer, BrokerEvent,
    BrokerOptions, DisconnectReason, EnhancedAuthenticator, EventHook, HookVerdict, HookedMessage,
    MAX_BUSY_POLL, MIN_THREAD_STACK_SIZE, MessageHook,
};
pub use stats::BrokerStats;
pub use store::{PersistenceStats, PersistenceSync, StoreError};
pub use websocket::WebSocketOptions;

use self::runtime::Runtime;
use self::state::State;
use crate::protocol::{MAX_REMAINING_LENGTH, QoS};
use crate::topic::{TopicError, TopicName};
use crate::waker::Waker;
use parking::Parking;

/// Why [`Broker::publish`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError {
    InvalidTopic(TopicError),
    /// Topic and payload do not fit in one PUBLISH packet.
    PayloadTooLarge(usize),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::InvalidTopic(e) => write!(f, "invalid topic name: {e}"),
            PublishError::PayloadTooLarge(n) => {
                write!(f, "payload of {n} bytes does not fit in a PUBLISH packet")
            }
        }
    }
}

impl std::error::Error for PublishError {}

/// Why [`Broker::redirect_client`] did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectError {
    /// No client with that identifier is connected.
    NotConnected,
    /// The server reference is no MQTT string: it holds U+0000 or exceeds 65,535 bytes.
    InvalidServerReference,
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedirectError::NotConnected => "no client with that identifier is connected",
            RedirectError::InvalidServerReference => {
                "the server reference holds U+0000 or exceeds 65535 bytes"
            }
        })
    }
}

impl std::error::Error for RedirectError {}

/// Why [`Broker::subscribe`] refused a subscription.
#[derive(Debug)]
pub enum SubscribeError {
    InvalidFilter(TopicError),
    /// `$share/...`: share groups are for clients; the host sees every message it subscribes to.
    SharedFilter,
    /// The host-subscriber thread could not be started.
    Thread(stdio::Error),
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscribeError::InvalidFilter(e) => write!(f, "invalid topic filter: {e}"),
            SubscribeError::SharedFilter => {
                write!(f, "the host cannot join a shared subscription ($share/...)")
            }
            SubscribeError::Thread(e) => write!(f, "cannot start the host-subscriber thread: {e}"),
        }
    }
}

impl std::error::Error for SubscribeError {}

/// Where a broker is in its life: created, running (between `start` and `stop`), or stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrokerState {
    Created,
    Running,
    Stopped,
}

enum RunState {
    Created,
    Running {
        listener: JoinHandle<()>,
        parker: Option<JoinHandle<()>>,
        waker: Arc<Waker>,
    },
    /// `stop` is joining the threads, without the state lock so callbacks can still call in.
    Stopping,
    Stopped,
}

struct Shared {
    state: Arc<State>,
    /// What serves connections; a new one for each start.
    runtime: Mutex<Arc<Runtime>>,
    /// The persistence store while running.
    store: Mutex<Option<store::Store>>,
    /// Whether the store's contents were taken up (by the first start).
    restored: std::sync::atomic::AtomicBool,
    /// The bridges while running.
    bridges: Mutex<Vec<bridge::Bridge>>,
    /// The bound port, readable without the state lock (which `stop` holds while joining).
    port: AtomicU16,
    /// Every listener as bound.
    listeners: Mutex<Vec<BoundListener>>,
    run_state: Mutex<RunState>,
    stopped: Condvar,
    /// The host's in-process subscriptions, started by the first one.
    host: Mutex<Option<Arc<host::HostSubscriber>>>,
}

/// An MQTT 3.1.1 broker serving on its own threads.
pub struct Broker {
    shared: Arc<Shared>,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("options", &self.shared.state.options)
            .field("port", &self.port())
            .finish()
    }
}

impl Broker {
    /// A broker that will serve with `options` once started.
    pub fn new(options: BrokerOptions) -> Broker {
        let state = Arc::new(State::new(options));
        Broker {
            shared: Arc::new(Shared {
                runtime: Mutex::new(Arc::new(Runtime::new(Arc::clone(&state)))),
                state,
                store: Mutex::new(None),
                restored: std::sync::atomic::AtomicBool::new(false),
                bridges: Mutex::new(Vec::new()),
                port: AtomicU16::new(0),
                listeners: Mutex::new(Vec::new()),
                run_state: Mutex::new(RunState::Created),
                stopped: Condvar::new(),
                host: Mutex::new(None),
            }),
        }
    }

    pub fn options(&self) -> &BrokerOptions {
        &self.shared.state.options
    }

    /// Binds the listening sockets, takes up what the persistence file holds (the first time)
    /// and starts the listener thread. Returns once the broker is listening: a client may
    /// connect as soon as this returns. Fails if it is running, an address cannot be bound
    /// (`AddrInUse` for a port in use) or the persistence file cannot be used (`InvalidData`,
    /// with a message naming the file). A stopped broker starts again with the sessions,
    /// subscriptions and retained messages it had.
    pub fn start(&self) -> stdio::Result<()> {
        let mut state = self.shared.run_state.lock();
        match *state {
            RunState::Created => {}
            RunState::Running { .. } | RunState::Stopping => {
                return Err(stdio::Error::new(
                    stdio::ErrorKind::AlreadyExists,
                    "the broker is already running",
                ));
            }
            RunState::Stopped => {
                *self.shared.runtime.lock() =
                    Arc::new(Runtime::new(Arc::clone(&self.shared.state)));
            }
        }
        let runtime = &self.shared.runtime();
        let options = &runtime.state.options;
        let (bound, described) = listeners::bind(&options.effective_listeners())?;
        self.shared.open_store()?;
        let port = described.first().map_or(0, |l| l.address.port());
        *runtime.tls_slots.lock() = bound.iter().filter_map(|b| b.tls.clone()).collect();
        let waker = Arc::new(Waker::new()?);
        let _ = runtime.listener_waker.set(Arc::clone(&waker));
        let parker = match options.park_idle_after {
            Some(_) => {
                let parking = Arc::new(Parking::new()?);
                let _ = runtime.parking.set(Arc::clone(&parking));
                let parker_runtime = Arc::clone(runtime);
                Some(
                    thread::Builder::new()
                        .name("mqtt-parking".to_owned())
                        .stack_size(256 * 1024)
                        .spawn(move || {
                            threads::mark_serving(&parker_runtime);
                            parking.run(&parker_runtime);
                        })?,
                )
            }
            None => None,
        };
        // Bridges subscribe before clients can connect, so no message misses them.
        self.shared.start_bridges();
        let listener_runtime = Arc::clone(runtime);
        let listener_waker = Arc::clone(&waker);
        let spawned = thread::Builder::new()
            .name("mqtt-listener".to_owned())
            .stack_size(256 * 1024)
            .spawn(move || listener::run(listener_runtime, bound, listener_waker));
        let handle = match spawned {
            Ok(handle) => handle,
            Err(e) => {
                runtime.stopping.store(true, Ordering::Release);
                self.shared.stop_bridges();
                self.shared.close_store();
                if let Some(parker) = parker {
                    if let Some(parking) = runtime.parking.get() {
                        parking.wake();
                    }
                    let _ = parker.join();
                }
                return Err(e);
            }
        };
        self.shared.port.store(port, Ordering::Release);
        log_start(options, &described);
        *self.shared.listeners.lock() = described;
        *state = RunState::Running {
            listener: handle,
            parker,
            waker,
        };
        Ok(())
    }

    pub fn state(&self) -> BrokerState {
        match &*self.shared.run_state.lock() {
            RunState::Created => BrokerState::Created,
            RunState::Running { .. } | RunState::Stopping => BrokerState::Running,
            RunState::Stopped => BrokerState::Stopped,
        }
    }

    /// The bound port once started (the one chosen when configured with port 0); 0 before.
    /// With several listeners, the first one's (see [`Broker::listeners`]).
    pub fn port(&self) -> u16 {
        self.shared.port.load(Ordering::Acquire)
    }

    /// Every listener once started, in the order configured, with the address and port it got;
    /// empty before.
    pub fn listeners(&self) -> Vec<BoundListener> {
        self.shared.listeners.lock().clone()
    }

    /// Reads the certificate, key and CA files of every TLS listener again: connections
    /// accepted from now on use them, connections already open keep theirs. On an error (the
    /// first listener whose files do not make a configuration) nothing of that listener changes.
    pub fn reload_tls(&self) -> Result<(), crate::tls::TlsError> {
        let slots = self.shared.runtime().tls_slots.lock().clone();
        slots.iter().try_for_each(|slot| slot.reload())
    }

    /// Closes the listener and every connection and joins all broker threads; returns when they
    /// are gone. Idempotent; a broker never started just becomes stopped. Wills are not published
    /// for connections closed by the stop.
    ///
    /// Called from one of this broker's connection threads (a callback), it starts the stop on a
    /// helper thread and returns at once, since a thread cannot join itself.
    pub fn stop(&self) {
        let on_own_thread =
            threads::SERVING.with(|s| s.get()) == threads::runtime_tag(&self.shared.runtime());
        if on_own_thread {
            self.shared
                .runtime()
                .stopping
                .store(true, Ordering::Release);
            let shared = Arc::clone(&self.shared);
            let _ = thread::Builder::new()
                .name("mqtt-stop".to_owned())
                .spawn(move || shared.stop());
            return;
        }
        self.shared.stop();
    }

    /// Blocks until the broker has stopped (returns at once if it is not running).
    pub fn wait(&self) {
        let mut state = self.shared.run_state.lock();
        while matches!(*state, RunState::Running { .. } | RunState::Stopping) {
            self.shared.stopped.wait(&mut state);
        }
    }

    /// Publishes a message into the broker as if a client had sent it: retained handling and
    /// delivery to every matching subscription. Works whether or not the broker is running.
    pub fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), PublishError> {
        let topic = TopicName::new(topic).map_err(PublishError::InvalidTopic)?;
        let size = 2 + topic.as_str().len() + 2 + payload.len();
        if size > MAX_REMAINING_LENGTH {
            return Err(PublishError::PayloadTooLarge(payload.len()));
        }
        let mut scratch = router::RouteScratch::default();
        let mut wakeups = session::Wakeups::default();
        let publication = router::Publication {
            topic,
            payload: Arc::from(payload),
            qos,
            retain,
            properties: crate::protocol::Properties::new(),
            publisher: None,
            internal: false,
        };
        self.shared
            .state
            .route(publication, &mut scratch, &mut wakeups);
        wakeups.wake_all();
        Ok(())
    }

    /// Subscribes the host itself to `filter`: `callback` receives every matching message (and,
    /// at once, the retained ones), at min(publish QoS, `qos`), on the broker's host-subscriber
    /// thread, which the first subscription starts. Subscribing again to the same filter replaces
    /// its callback and QoS. Works whether or not the broker is running; the ACL file and the
    /// authorizer do not apply to the host. The callback may call any broker function (publish,
    /// subscribe, unsubscribe) but must not drop the broker. Messages wait in a queue bounded by
    /// `max_queued_messages`, so a slow callback delays (and past the bound loses) only the host's
    /// own messages.
    pub fn subscribe(
        &self,
        filter: &str,
        qos: QoS,
        callback: HostCallback,
    ) -> Result<(), SubscribeError> {
        if crate::topic::split_shared(filter).is_some() {
            return Err(SubscribeError::SharedFilter);
        }
        let host = {
            let mut host = self.shared.host.lock();
            match &*host {
                Some(h) => Arc::clone(h),
                None => {
                    let state = Arc::clone(&self.shared.state);
                    let started = Arc::new(
                        host::HostSubscriber::start(state).map_err(SubscribeError::Thread)?,
                    );
                    *host = Some(Arc::clone(&started));
                    started
                }
            }
        };
        host.subscribe(filter, qos, callback)
            .map_err(SubscribeError::InvalidFilter)
    }

    /// Removes the host's subscription to exactly `filter`. Returns whether there was one.
    pub fn unsubscribe(&self, filter: &str) -> bool {
        let host = self.shared.host.lock().clone();
        host.is_some_and(|h| h.unsubscribe(filter))
    }

    /// Reads the password and ACL files again from where they were loaded, as mosquitto does on
    /// SIGHUP: connections made from now on use the new files, and a connected client's ACL
    /// follows at its next publish or delivery. Files the broker was started without stay
    /// absent. Also opens the log file again (`log_dest file`), so a rotated log is followed by a
    /// new file. Blocks while reading the files; an error names the file and line and leaves the
    /// old files in force.
    pub fn reload(&self) -> Result<(), crate::service::ConfigError> {
        let files = self.shared.state.service_files.reload();
        let logs = self
            .shared
            .state
            .options
            .log
            .reopen_files()
            .map_err(|(path, e)| crate::service::ConfigError {
                file: path,
                line: None,
                reason: format!("cannot open the log file again: {e}"),
                kind: crate::service::ConfigErrorKind::Io,
            });
        files.and(logs)
    }

    /// Closes the connection of the client with `client_id`, as MQTT 5.0's "administrative
    /// action" (DISCONNECT 0x98 to a 5.0 client), publishing its will or not; its session stays
    /// as its expiry says. Returns whether such a client was connected. Does not wait for the
    /// connection to close.
    pub fn disconnect_client(&self, client_id: &str, publish_will: bool) -> bool {
        let Some(control) = self.connection_of(client_id) else {
            return false;
        };
        control.kick(publish_will);
        true
    }

    /// The connection serving the session of `client_id`, if one does.
    fn connection_of(&self, client_id: &str) -> Option<Arc<control::ConnectionControl>> {
        let session = self.shared.state.sessions.lock().get(client_id).cloned();
        session.and_then(|s| s.lock().attached.clone())
    }

    /// Sends the MQTT 5.0 client with `client_id` to another server (MQTT 5.0 section 4.11):
    /// DISCONNECT 0x9D (server moved) when `permanent`, else 0x9C (use another server), with
    /// `server_reference` as its Server Reference, then the connection closes. An MQTT 3.1.1
    /// client, which cannot be told, is just disconnected. The will is published and the session
    /// stays as its expiry says, as for [`Broker::disconnect_client`] with `publish_will`, which
    /// is also how the event hook reports it (with the reason code sent). Does not wait for the
    /// connection to close.
    pub fn redirect_client(
        &self,
        client_id: &str,
        server_reference: &str,
        permanent: bool,
    ) -> Result<(), RedirectError> {
        if !control::Redirect::is_valid_reference(server_reference) {
            return Err(RedirectError::InvalidServerReference);
        }
        let control = self
            .connection_of(client_id)
            .ok_or(RedirectError::NotConnected)?;
        control.redirect(control::Redirect {
            server_reference: server_reference.to_owned(),
            permanent,
        });
        Ok(())
    }

    /// The clients connected now.
    pub fn clients(&self) -> Vec<ClientInfo> {
        let sessions: Vec<_> = self
            .shared
            .state
            .sessions
            .lock()
            .values()
            .cloned()
            .collect();
        sessions
            .iter()
            .filter_map(|session| {
                let state = session.lock();
                let mut info = state.attached.as_ref()?.info.get()?.clone();
                info.queued = state.queue.len();
                Some(info)
            })
            .collect()
    }

    pub fn stats(&self) -> BrokerStats {
        self.shared.state.stats()
    }

    /// Each bridge's state and counters, in the order configured; empty while stopped.
    pub fn bridges(&self) -> Vec<BridgeStatus> {
        self.shared
            .bridges
            .lock()
            .iter()
            .map(bridge::Bridge::status)
            .collect()
    }

    /// What the persistence store has done; `None` without persistence.
    pub fn persistence_stats(&self) -> Option<PersistenceStats> {
        self.shared.state.journal.as_ref().map(|j| j.stats())
    }
}

impl Shared {
    fn runtime(&self) -> Arc<Runtime> {
        Arc::clone(&self.runtime.lock())
    }

    /// Opens the persistence file, if the broker has one, taking up its contents on the first
    /// start (later ones find them in memory already).
    fn open_store(&self) -> stdio::Result<()> {
        let (Some(path), Some(journal)) = (&self.state.options.persistence, &self.state.journal)
        else {
            return Ok(());
        };
        let (store, restored) = store::Store::open(path, journal)
            .map_err(|e| stdio::Error::new(stdio::ErrorKind::InvalidData, e))?;
        if !self.restored.swap(true, Ordering::AcqRel) {
            self.state.restore(restored);
        }
        *self.store.lock() = Some(store);
        Ok(())
    }

    /// Starts every configured bridge; one that cannot get a thread is reported on its status
    /// line and skipped.
    fn start_bridges(&self) {
        let mut running = self.bridges.lock();
        for options in &self.state.options.bridges {
            match bridge::Bridge::start(&self.state, options) {
                Ok(bridge) => running.push(bridge),
                Err(e) => eprintln!(
                    "libmqtt: bridge {}: cannot start its thread: {e}",
                    options.name
                ),
            }
        }
    }

    /// Disconnects every bridge and joins its thread; their local sessions stay.
    fn stop_bridges(&self) {
        let bridges = std::mem::take(&mut *self.bridges.lock());
        for bridge in bridges {
            bridge.stop();
        }
    }

    /// Commits what is pending and closes the persistence file.
    fn close_store(&self) {
        let store = self.store.lock().take();
        if let Some(store) = store {
            store.close();
        }
    }

    fn stop(&self) {
        let mut state = self.run_state.lock();
        let (listener, parker, waker) = loop {
            match std::mem::replace(&mut *state, RunState::Stopping) {
                RunState::Running {
                    listener,
                    parker,
                    waker,
                } => break (listener, parker, waker),
                RunState::Created | RunState::Stopped => {
                    *state = RunState::Stopped;
                    self.stopped.notify_all();
                    return;
                }
                // Another thread is stopping: wait for it to finish.
                RunState::Stopping => self.stopped.wait(&mut state),
            }
        };
        drop(state);
        let runtime = &self.runtime();
        runtime.stopping.store(true, Ordering::Release);
        waker.wake();
        let _ = listener.join();
        // Parked connections are closed by the parking thread; after it is gone no connection
        // can park, and every thread it started is registered below.
        if let Some(parker) = parker {
            if let Some(parking) = runtime.parking.get() {
                parking.wake();
            }
            let _ = parker.join();
        }
        // Threads waiting for work exit; threads serving a connection are woken through its
        // session (a thread still in the handshake checks for stop on its own within 100 ms).
        runtime.workers.stop();
        runtime.wake_attached();
        let threads: Vec<_> = runtime.threads.lock().drain().map(|(_, t)| t).collect();
        for thread in threads {
            let _ = thread.handle.join();
        }
        runtime.finished.lock().clear();
        runtime.lingering.clear();
        self.stop_bridges();
        self.close_store();
        *self.run_state.lock() = RunState::Stopped;
        self.stopped.notify_all();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
        if let Some(host) = self.shared.host.lock().take() {
            host.shut_down();
        }
    }
}

/// The log lines of a start: the version, each listener (`notice`, as mosquitto's "Opening ipv4
/// listen socket"), and the warnings of the password and ACL files (`warning`).
fn log_start(options: &BrokerOptions, listeners: &[BoundListener]) {
    let log = &options.log;
    broker_log!(
        log,
        Notice,
        "libmqtt version {} running",
        env!("CARGO_PKG_VERSION")
    );
    for listener in listeners {
        broker_log!(
            log,
            Notice,
            "Opening {} listen socket on {}.",
            listener.scheme,
            listener.address
        );
    }
    let acl = options.acl_file.iter().flat_map(|f| f.warnings());
    let passwd = options.password_file.iter().flat_map(|f| f.warnings());
    for warning in acl.chain(passwd) {
        broker_log!(log, Warning, "Warning: {warning}");
    }
}
