//! Everything a host can configure about a broker, with the defaults the issue asks for.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use super::bridge::BridgeOptions;
use super::listeners::Listener;
pub use super::store::PersistenceSync;
use crate::protocol::{QoS, ReasonCode};
use crate::service::acl::AclFile;
use crate::service::passwd::PasswordFile;

/// What a connecting client presented, handed to the authenticator.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    /// The client identifier, after the broker assigned one to an empty id.
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    pub peer: SocketAddr,
    /// On a TLS listener that asks for client certificates: the verified certificate's Common
    /// Name (or whole subject). With `use_identity_as_username` it is also `username`.
    pub certificate_identity: Option<&'a str>,
    /// The protocol level the client speaks: 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
    pub protocol_level: u8,
}

/// The authenticator's verdict, mapped onto CONNACK return codes (section 3.2.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthResult {
    Accept,
    /// CONNACK 0x04: bad user name or password.
    BadCredentials,
    /// CONNACK 0x05: not authorized.
    NotAuthorized,
}

/// What a client wants to do with a topic, handed to the authorizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub enum Access {
    /// Publishing to a topic name (including the client's will when it is published).
    Publish,
    /// Subscribing with a topic filter.
    Subscribe,
}

/// Why a connection ended, reported through [`BrokerEvent::Disconnected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The client sent DISCONNECT: its will is discarded.
    ClientDisconnected,
    /// End of stream or a socket error without DISCONNECT, or an MQTT 5.0 DISCONNECT 0x04
    /// (disconnect with will message): the will is published.
    ConnectionLost,
    /// Nothing received for 1.5 × the keep-alive.
    KeepAliveTimeout,
    /// A malformed packet or a packet the protocol forbids at that point.
    ProtocolViolation,
    /// Another connection presented the same client identifier.
    TakenOver,
    /// The broker is stopping.
    BrokerStopping,
    /// The host closed the connection (`Broker::disconnect_client`) and asked for the will.
    Kicked,
    /// The host closed the connection and asked that the will be discarded.
    KickedWithoutWill,
}

impl DisconnectReason {
    /// Whether the will message is published for this reason ([MQTT-3.1.2-8]); a broker that is
    /// shutting down closes everyone at once and publishes none.
    pub fn publishes_will(self) -> bool {
        !matches!(
            self,
            DisconnectReason::ClientDisconnected
                | DisconnectReason::BrokerStopping
                | DisconnectReason::KickedWithoutWill
        )
    }

    pub fn description(self) -> &'static str {
        match self {
            DisconnectReason::ClientDisconnected => "client sent DISCONNECT",
            DisconnectReason::ConnectionLost => "connection lost",
            DisconnectReason::KeepAliveTimeout => "keep-alive timeout",
            DisconnectReason::ProtocolViolation => "protocol violation",
            DisconnectReason::TakenOver => "taken over by a new connection with the same client id",
            DisconnectReason::BrokerStopping => "broker stopping",
            DisconnectReason::Kicked => "disconnected by the host",
            DisconnectReason::KickedWithoutWill => "disconnected by the host, will discarded",
        }
    }
}

/// A connection life-cycle event, delivered to the event hook on a broker thread: the
/// connection's own, or the listener or parking thread (see the [`super`] module docs).
#[derive(Debug, Clone, Copy)]
pub enum BrokerEvent<'a> {
    /// A CONNECT was accepted and CONNACK 0x00 sent.
    Connected {
        client_id: &'a str,
        username: Option<&'a str>,
        peer: SocketAddr,
        clean_session: bool,
        session_present: bool,
        /// The protocol level the client speaks: 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
        protocol_level: u8,
    },
    /// A connection that had been accepted ended.
    Disconnected {
        client_id: &'a str,
        peer: SocketAddr,
        reason: DisconnectReason,
        /// For an MQTT 5.0 client, the reason code of the DISCONNECT that ended the connection:
        /// the client's, or the one the broker sent; `None` when none was exchanged.
        reason_code: Option<ReasonCode>,
    },
}

pub type Authenticator = Arc<dyn Fn(&AuthRequest<'_>) -> AuthResult + Send + Sync>;

/// One step of an MQTT 5.0 enhanced authentication (MQTT 5.0 section 4.12), handed to the
/// [`EnhancedAuthenticator`]: the client's CONNECT (step 0), or its AUTH packets after that; or,
/// on a connected client, its AUTH 0x19 asking to re-authenticate (step 0) and what follows.
#[derive(Debug, Clone, Copy)]
pub struct AuthStep<'a> {
    /// Identifies one exchange, so a host keeping state between steps (a SCRAM nonce, say) can
    /// key it; unique for the broker's lifetime.
    pub exchange: u64,
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    /// The Authentication Method the client named.
    pub method: &'a str,
    /// The Authentication Data the client sent in this step.
    pub data: Option<&'a [u8]>,
    /// 0 for the packet that opens the exchange, then 1, 2, ... for each AUTH the client sends.
    pub step: u32,
    /// A connected client re-authenticating.
    pub reauthenticating: bool,
    pub peer: SocketAddr,
}

/// What the [`EnhancedAuthenticator`] decides at one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVerdict {
    /// Authenticated; the data, if any, goes to the client with CONNACK (or AUTH 0x00).
    Success(Option<Vec<u8>>),
    /// Another round: the client is sent AUTH 0x18 (continue authentication) with this data.
    Continue(Vec<u8>),
    /// Refused with this reason code, e.g. 0x87 not authorized or 0x8C bad authentication
    /// method: CONNACK with it while connecting, DISCONNECT with it when re-authenticating.
    Fail(ReasonCode),
    /// Refused and sent to another server (MQTT 5.0 section 4.11): CONNACK while connecting,
    /// DISCONNECT when re-authenticating, with 0x9D (server moved) if `permanent`, else 0x9C
    /// (use another server), and the Server Reference (left out if it holds U+0000 or exceeds
    /// 65,535 bytes).
    Redirect(super::Redirect),
}

/// Decides MQTT 5.0 enhanced authentication exchanges; called on the connection's thread.
pub type EnhancedAuthenticator = Arc<dyn Fn(&AuthStep<'_>) -> AuthVerdict + Send + Sync>;
/// Arguments: client id, user name, topic (name for publish, filter for subscribe), access.
pub type Authorizer = Arc<dyn Fn(&str, Option<&str>, &str, Access) -> bool + Send + Sync>;
pub type EventHook = Arc<dyn Fn(&BrokerEvent<'_>) + Send + Sync>;

/// A PUBLISH from a client as the [`MessageHook`] sees it, before routing.
#[derive(Debug, Clone, Copy)]
pub struct HookedMessage<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: QoS,
    pub retain: bool,
    /// Its MQTT 5.0 properties (empty from MQTT 3.1.1 clients).
    pub properties: &'a crate::protocol::Properties,
}

/// What the [`MessageHook`] decides about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookVerdict {
    /// Route it as it is.
    Accept,
    /// Do not route it. A QoS 1 or 2 message is still acknowledged; an MQTT 5.0 client gets this
    /// reason code in its PUBACK or PUBREC (a failure code: 0x80 and above).
    Drop(ReasonCode),
    /// Route this topic and payload instead (the rest of the message as it was).
    Replace { topic: String, payload: Vec<u8> },
}

/// Sees every PUBLISH a client sends, after authorization and before routing; called on the
/// client's connection thread. Not called for the host's own publications or for wills.
pub type MessageHook = Arc<dyn Fn(&HookedMessage<'_>) -> HookVerdict + Send + Sync>;

/// Broker configuration. Every field has a usable default; see [`BrokerOptions::default`].
#[derive(Clone)]
pub struct BrokerOptions {
    /// Address to listen on (default `127.0.0.1`). A host name is resolved once at start.
    pub bind_address: String,
    /// Port to listen on; 0 picks a free one (see `Broker::port`). Default 1883.
    pub port: u16,
    /// The listening sockets, when there are several or any speaks TLS: then exactly these are
    /// opened, and `bind_address` / `port` are not used. Empty (default): one MQTT-over-TCP
    /// listener on `bind_address` and `port`. All listeners share sessions, subscriptions and
    /// retained messages.
    pub listeners: Vec<Listener>,
    /// Connections served at once; beyond it a client gets CONNACK 0x03 and is closed. Default 1024.
    pub max_connections: usize,
    /// The largest packet accepted from a client, fixed header included; a larger one closes the
    /// connection before any buffer is sized for it. Default 16 MiB.
    pub max_packet_size: usize,
    /// Messages waiting for one session (connected and slow, or away); beyond it new messages
    /// for that session are dropped and counted. Default 10,000, enough to absorb a burst of
    /// thousands of messages routed from one read before the subscriber thread runs.
    pub max_queued_messages: usize,
    /// Outgoing QoS 1 and 2 messages awaiting acknowledgement per session. Default 4096: a deep
    /// window keeps QoS 2 (two round trips per message) flowing at full speed; entries exist only
    /// while in flight.
    pub max_inflight_messages: usize,
    /// Time allowed between accepting a socket and receiving its CONNECT. Default 10 s.
    pub connect_timeout: Duration,
    /// The longest a session outlives its connection: bounds MQTT 3.1.1 persistent sessions and
    /// what MQTT 5.0 clients ask with Session Expiry Interval (the CONNACK then tells them the
    /// shorter value). `None` (default) keeps them until the broker stops, as MQTT 3.1.1
    /// specifies.
    pub session_expiry: Option<Duration>,
    /// Stack size of each connection thread. Default 128 KiB; only touched pages use memory.
    pub thread_stack_size: usize,
    /// A connection idle this long gives up its thread and waits in the parking lot until
    /// traffic resumes (default 500 ms); `None` keeps one thread per connection throughout.
    pub park_idle_after: Option<Duration>,
    /// How long a connection thread whose last wake-up brought little work keeps looking at
    /// its socket before it sleeps (default 50 µs, at most [`MAX_BUSY_POLL`]; `None` sleeps
    /// at once). Waking a sleeping thread on an idle CPU is most of a loopback round trip, on
    /// virtual machines above all. At most half the CPUs this process may use poll at once,
    /// yielding to threads waiting for the same CPU; load does not poll, and a connection
    /// whose traffic is sparser than the window polls on one wait in 64 at most. A client
    /// that answers within the window every time keeps a CPU busy while nobody else wants it.
    pub busy_poll: Option<Duration>,
    pub authenticator: Option<Authenticator>,
    /// A mosquitto password file (`mosquitto_passwd`): a client presenting a user name it lists
    /// must give that user's password; other user names go to `authenticator`, and are refused
    /// without one.
    pub password_file: Option<Arc<PasswordFile>>,
    /// Whether clients without a user name are accepted (mosquitto's `allow_anonymous`; default
    /// true). When false they get CONNACK 0x05 (0x87 for MQTT 5.0).
    pub allow_anonymous: bool,
    /// A mosquitto ACL file: what each client may publish (write), receive (read: checked for
    /// every message delivered) and subscribe to (refused when no read rule could ever match).
    /// Checked before `authorizer`; both must allow.
    pub acl_file: Option<Arc<AclFile>>,
    /// MQTT 5.0 enhanced authentication (CONNECT with an Authentication Method, and
    /// re-authentication); without it such a CONNECT gets CONNACK 0x8C. A CONNECT with a method
    /// is decided by this alone, one without by `authenticator`.
    pub enhanced_authenticator: Option<EnhancedAuthenticator>,
    pub authorizer: Option<Authorizer>,
    pub event_hook: Option<EventHook>,
    /// The broker's log (mosquitto's `log_type` lines: connects, disconnects, subscriptions...):
    /// streams and a file from a configuration's `log_dest`, and a host callback. Default: none.
    pub log: super::BrokerLog,
    /// Sees, and may drop or rewrite, every PUBLISH a client sends; `None` (the default) costs
    /// nothing on the routing path.
    pub message_hook: Option<MessageHook>,
    /// MQTT 5.0: QoS 2 messages a client may have unacknowledged at once (Receive Maximum,
    /// MQTT 5.0 section 3.2.2.3.3); one more gets DISCONNECT 0x93. Default 65535, the protocol's
    /// own maximum (then not announced).
    pub receive_maximum: u16,
    /// MQTT 5.0: the highest Topic Alias a client may use (Topic Alias Maximum, MQTT 5.0 section
    /// 3.2.2.3.8). Default 10, as mosquitto; 0 refuses topic aliases.
    pub topic_alias_maximum: u16,
    /// MQTT 5.0: the highest QoS the broker accepts in PUBLISH and grants in SUBACK (Maximum
    /// QoS, MQTT 5.0 section 3.2.2.3.4). Default QoS 2.
    pub maximum_qos: QoS,
    /// MQTT 5.0: whether retained messages are supported (Retain Available). Default true; when
    /// false, a PUBLISH with RETAIN gets DISCONNECT 0x9A.
    pub retain_available: bool,
    /// MQTT 5.0: whether filters may hold wildcards (Wildcard Subscription Available). Default
    /// true; when false, such a filter gets SUBACK 0xA2.
    pub wildcard_subscriptions: bool,
    /// Whether `$share/{group}/{filter}` subscriptions are served (MQTT 5.0 section 4.8.2; also
    /// for MQTT 3.1.1 clients, as mosquitto does). Default true; when false they get SUBACK
    /// 0x9E (0x80 for 3.1.1).
    pub shared_subscriptions: bool,
    /// MQTT 5.0: whether SUBSCRIBE may carry a Subscription Identifier. Default true; when false
    /// one gets DISCONNECT 0xA1.
    pub subscription_identifiers: bool,
    /// MQTT 5.0: a keep-alive the broker imposes instead of the client's (Server Keep Alive,
    /// MQTT 5.0 section 3.2.2.3.14). Default none.
    pub server_keep_alive: Option<u16>,
    /// MQTT 5.0: the longest keep-alive a 5.0 client may ask for (mosquitto's `max_keepalive`);
    /// one asking for more, or for none (0), is told this value as Server Keep Alive. 3.1.1
    /// clients cannot be told, so it does not apply to them, as in mosquitto 2. Default none.
    pub max_keep_alive: Option<u16>,
    /// How often the `$SYS` topics are published (mosquitto's `sys_interval`; default 10 s);
    /// zero publishes none.
    pub sys_interval: Duration,
    /// MQTT 5.0: the Response Information returned to a client that asks for it (MQTT 5.0
    /// section 3.2.2.3.15), the base of its response topics. Default none: not returned.
    pub response_information: Option<String>,
    /// The file retained messages and persistent sessions are kept in, so they survive a
    /// restart and a crash (see [`PersistenceSync`]); created if missing. `None` (default):
    /// memory only.
    pub persistence: Option<std::path::PathBuf>,
    /// When changes reach the persistence file. Default [`PersistenceSync::Durable`].
    pub persistence_sync: PersistenceSync,
    /// Bridges to upstream brokers, started with the broker (see [`BridgeOptions`]).
    pub bridges: Vec<BridgeOptions>,
}

/// The smallest connection-thread stack accepted: enough for the broker's own frames plus a
/// modest user callback.
pub const MIN_THREAD_STACK_SIZE: usize = 32 * 1024;

/// The longest busy polling window (`BrokerOptions::busy_poll`): polling pays only for answers
/// that come within microseconds, and a longer window would keep a CPU busy for clients that
/// send now and then.
pub const MAX_BUSY_POLL: Duration = Duration::from_millis(10);

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            bind_address: "127.0.0.1".to_owned(),
            port: 1883,
            listeners: Vec::new(),
            max_connections: 1024,
            max_packet_size: 16 * 1024 * 1024,
            max_queued_messages: 10_000,
            max_inflight_messages: 4096,
            connect_timeout: Duration::from_secs(10),
            session_expiry: None,
            thread_stack_size: 128 * 1024,
            park_idle_after: Some(Duration::from_millis(500)),
            busy_poll: Some(Duration::from_micros(50)),
            authenticator: None,
            password_file: None,
            allow_anonymous: true,
            acl_file: None,
            enhanced_authenticator: None,
            authorizer: None,
            event_hook: None,
            log: super::BrokerLog::default(),
            message_hook: None,
            receive_maximum: u16::MAX,
            topic_alias_maximum: 10,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            wildcard_subscriptions: true,
            shared_subscriptions: true,
            subscription_identifiers: true,
            server_keep_alive: None,
            max_keep_alive: None,
            response_information: None,
            sys_interval: Duration::from_secs(10),
            persistence: None,
            persistence_sync: PersistenceSync::Durable,
            bridges: Vec::new(),
        }
    }
}

impl BrokerOptions {
    /// Defaults listening on `port`.
    /// The listeners `start` opens: [`BrokerOptions::listeners`], or the one on `bind_address`
    /// and `port`.
    pub fn effective_listeners(&self) -> Vec<Listener> {
        if self.listeners.is_empty() {
            vec![Listener::tcp(self.bind_address.clone(), self.port)]
        } else {
            self.listeners.clone()
        }
    }

    /// Adds a listener (see [`BrokerOptions::listeners`]).
    pub fn listener(mut self, listener: Listener) -> Self {
        self.listeners.push(listener);
        self
    }

    pub fn with_port(port: u16) -> Self {
        BrokerOptions {
            port,
            ..BrokerOptions::default()
        }
    }

    pub fn authenticator(
        mut self,
        f: impl Fn(&AuthRequest<'_>) -> AuthResult + Send + Sync + 'static,
    ) -> Self {
        self.authenticator = Some(Arc::new(f));
        self
    }

    pub fn enhanced_authenticator(
        mut self,
        f: impl Fn(&AuthStep<'_>) -> AuthVerdict + Send + Sync + 'static,
    ) -> Self {
        self.enhanced_authenticator = Some(Arc::new(f));
        self
    }

    pub fn authorizer(
        mut self,
        f: impl Fn(&str, Option<&str>, &str, Access) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.authorizer = Some(Arc::new(f));
        self
    }

    pub fn message_hook(
        mut self,
        f: impl Fn(&HookedMessage<'_>) -> HookVerdict + Send + Sync + 'static,
    ) -> Self {
        self.message_hook = Some(Arc::new(f));
        self
    }

    pub fn event_hook(mut self, f: impl Fn(&BrokerEvent<'_>) + Send + Sync + 'static) -> Self {
        self.event_hook = Some(Arc::new(f));
        self
    }
}

impl fmt::Debug for BrokerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerOptions")
            .field("bind_address", &self.bind_address)
            .field("port", &self.port)
            .field("listeners", &self.listeners)
            .field("max_connections", &self.max_connections)
            .field("max_packet_size", &self.max_packet_size)
            .field("max_queued_messages", &self.max_queued_messages)
            .field("max_inflight_messages", &self.max_inflight_messages)
            .field("connect_timeout", &self.connect_timeout)
            .field("session_expiry", &self.session_expiry)
            .field("thread_stack_size", &self.thread_stack_size)
            .field("park_idle_after", &self.park_idle_after)
            .field("busy_poll", &self.busy_poll)
            .field("authenticator", &self.authenticator.is_some())
            .field(
                "password_file",
                &self.password_file.as_ref().map(|f| f.origin().to_owned()),
            )
            .field("allow_anonymous", &self.allow_anonymous)
            .field(
                "acl_file",
                &self.acl_file.as_ref().map(|f| f.origin().to_owned()),
            )
            .field(
                "enhanced_authenticator",
                &self.enhanced_authenticator.is_some(),
            )
            .field("authorizer", &self.authorizer.is_some())
            .field("event_hook", &self.event_hook.is_some())
            .field("log", &self.log)
            .field("message_hook", &self.message_hook.is_some())
            .field("receive_maximum", &self.receive_maximum)
            .field("topic_alias_maximum", &self.topic_alias_maximum)
            .field("maximum_qos", &self.maximum_qos)
            .field("retain_available", &self.retain_available)
            .field("wildcard_subscriptions", &self.wildcard_subscriptions)
            .field("shared_subscriptions", &self.shared_subscriptions)
            .field("subscription_identifiers", &self.subscription_identifiers)
            .field("server_keep_alive", &self.server_keep_alive)
            .field("max_keep_alive", &self.max_keep_alive)
            .field("response_information", &self.response_information)
            .field("persistence", &self.persistence)
            .field("persistence_sync", &self.persistence_sync)
            .field("bridges", &self.bridges)
            .field("sys_interval", &self.sys_interval)
            .finish()
    }
}
