//! What a client asks for in CONNECT, plus the client-side limits and timeouts.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::protocol::{
    Connect, LastWill, Properties, Property, PropertyContext, PropertyId, ProtocolLevel, QoS,
};
use crate::tls::ClientTls;
use crate::topic::TopicName;

use super::error::{ClientError, CloseReason};
use super::subscriptions::MessageCallback;

/// The message the broker publishes on the client's behalf when the connection ends without a
/// DISCONNECT (section 3.1.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    /// MQTT 5.0 will properties (MQTT 5.0 section 3.1.3.2): Will Delay Interval, Message Expiry
    /// Interval, Content Type, Response Topic, Correlation Data, Payload Format Indicator, User
    /// Properties. Empty for the older revisions.
    pub properties: Properties,
}

/// Called with CONNACK's session-present flag and return code (0 accepted, 1..5 refused) each
/// time a CONNACK arrives: for the first connect on the thread in [`Client::connect`], for a
/// reconnect on the thread that reconnects (the caller of `reconnect`, or the loop thread).
///
/// [`Client::connect`]: super::Client::connect
pub type ConnectCallback = Arc<dyn Fn(bool, u8) + Send + Sync>;

/// Called once per connection when it ends, with why and whether the loop thread will try to
/// reconnect by itself; on the thread that noticed (the reading thread, or the caller of
/// `disconnect`, `reconnect` or the client's drop).
pub type DisconnectCallback = Arc<dyn Fn(&CloseReason, bool) + Send + Sync>;

/// How much a log line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error = 1,
    Warning = 2,
    Info = 3,
    Debug = 4,
}

/// Receives the client's log lines (connection lost, reconnect attempts, resubscriptions,
/// messages no callback took, offline-queue overflow) on whichever thread made them.
pub type LogCallback = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// Answers one step of MQTT 5.0 enhanced authentication (MQTT 5.0 section 4.12): given the
/// Authentication Method and the server's Authentication Data of an AUTH packet (continue,
/// 0x18), returns the data for the client's next AUTH, or `Err` with a text to give up (the
/// connection is closed). Called on the thread that reads the AUTH: the one inside
/// [`Client::connect`](super::Client::connect) or a reconnect during the connect, otherwise the
/// reading thread as for message callbacks.
pub type AuthCallback = Arc<dyn Fn(&str, &[u8]) -> Result<Vec<u8>, String> + Send + Sync>;

/// The callbacks a client has from its first CONNECT on. Compared by identity.
#[derive(Clone, Default)]
pub struct Callbacks {
    /// Receives every message no per-filter callback takes (see
    /// [`ConnectOptions::on_message`]).
    pub on_message: Option<MessageCallback>,
    pub on_connect: Option<ConnectCallback>,
    pub on_disconnect: Option<DisconnectCallback>,
    pub on_log: Option<LogCallback>,
    pub on_auth: Option<AuthCallback>,
}

impl Callbacks {
    fn parts(&self) -> [Option<*const ()>; 5] {
        [
            self.on_message
                .as_ref()
                .map(|c| Arc::as_ptr(c).cast::<()>()),
            self.on_connect
                .as_ref()
                .map(|c| Arc::as_ptr(c).cast::<()>()),
            self.on_disconnect
                .as_ref()
                .map(|c| Arc::as_ptr(c).cast::<()>()),
            self.on_log.as_ref().map(|c| Arc::as_ptr(c).cast::<()>()),
            self.on_auth.as_ref().map(|c| Arc::as_ptr(c).cast::<()>()),
        ]
    }
}

impl PartialEq for Callbacks {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for Callbacks {}

impl fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [m, c, d, l, a] = self.parts().map(|p| p.is_some());
        f.debug_struct("Callbacks")
            .field("on_message", &m)
            .field("on_connect", &c)
            .field("on_disconnect", &d)
            .field("on_log", &l)
            .field("on_auth", &a)
            .finish()
    }
}

/// What a full offline queue does with one more publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOverflow {
    /// The new publish fails (`ClientError::QueueFull`); the queue is unchanged.
    RefuseNew,
    /// The oldest queued publish is dropped (its completion callback gets
    /// [`PublishOutcome::Dropped`](super::PublishOutcome)) to make room.
    DropOldest,
}

/// Limits of the queue that holds publishes made while the connection is down and automatic
/// reconnects are on. Defaults: 1000 messages, 1 MiB of encoded packets, refuse new, QoS 0
/// queued too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineQueue {
    pub max_messages: usize,
    pub max_bytes: usize,
    pub overflow: QueueOverflow,
    /// Whether QoS 0 publishes are queued too (otherwise they fail with `Closed`).
    pub qos0: bool,
}

impl Default for OfflineQueue {
    fn default() -> Self {
        OfflineQueue {
            max_messages: 1000,
            max_bytes: 1 << 20,
            overflow: QueueOverflow::RefuseNew,
            qos0: true,
        }
    }
}

/// Connection settings. `Default` gives: generated client id, clean session, keep-alive 60 s,
/// no credentials, no will, 30 s connect timeout, MQTT 3.1.1, no automatic reconnect,
/// resubscribe on, the default [`OfflineQueue`], no callbacks, no TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `None` generates a unique id of at most 23 characters, which every server must accept
    /// ([MQTT-3.1.3-5]). `Some("")` sends an empty id, which a 3.1.1 server accepts only with a
    /// clean session ([MQTT-3.1.3-7]).
    pub client_id: Option<String>,
    pub clean_session: bool,
    /// Whole seconds, at most 65535; zero turns keep-alive off ([MQTT-3.1.2-23]).
    pub keep_alive: Duration,
    pub username: Option<String>,
    /// Binary; sending a password requires a user name ([MQTT-3.1.2-22]).
    pub password: Option<Vec<u8>>,
    pub will: Option<Will>,
    /// Bounds name resolution fallbacks, the TCP connect, the TLS handshake and the wait for
    /// CONNACK together.
    pub connect_timeout: Duration,
    /// Level 5 (MQTT 5.0), level 4 ("MQTT", 3.1.1) or level 3 ("MQIsdp", 3.1).
    pub protocol: ProtocolLevel,
    /// MQTT 5.0 CONNECT properties, set through the typed methods ([`ConnectOptions::session_expiry`],
    /// [`ConnectOptions::receive_maximum`], ...). Maximum Packet Size is added from
    /// `max_packet_size` when that is below the protocol's maximum.
    pub properties: Properties,
    /// How long `publish` (QoS 1 and 2), `subscribe`, `unsubscribe` and `ping` wait for their
    /// acknowledgement, and how long a write may stay blocked before the connection counts as lost.
    pub operation_timeout: Duration,
    /// How many QoS 1 and 2 publishes may await acknowledgement at once; `publish_async` blocks
    /// while the window is full.
    pub max_inflight: u16,
    /// Incoming packets larger than this close the connection before any buffer is sized for
    /// them; an MQTT 5.0 client also tells the server (Maximum Packet Size), which then never
    /// sends a larger one ([MQTT-3.1.2-24] of MQTT 5.0).
    pub max_packet_size: usize,
    /// `Some` makes the loop thread reconnect by itself when the connection is lost, as
    /// [`Client::reconnect`](super::Client::reconnect) would, waiting this long before the first
    /// attempt and doubling the wait after each failure. `None` (default): it does not.
    pub reconnect_delay: Option<Duration>,
    /// The longest wait between two automatic reconnect attempts (default 30 s).
    pub reconnect_delay_max: Duration,
    /// After a reconnect whose CONNACK says no session is present (clean session 1, or a
    /// broker that lost the session), subscribe again to every filter subscribed before, with
    /// the same QoS, in one SUBSCRIBE (default true): the callbacks stay registered either way.
    pub resubscribe: bool,
    /// Where publishes go while the connection is down and automatic reconnects are on.
    pub offline_queue: OfflineQueue,
    pub callbacks: Callbacks,
    /// `Some`: connect over TLS with these settings ([`Client::connect`] and every reconnect;
    /// [`Client::connect_url`] with `mqtts://` or `wss://`). `None` (default): plain TCP.
    ///
    /// [`Client::connect`]: super::Client::connect
    /// [`Client::connect_url`]: super::Client::connect_url
    pub tls: Option<ClientTls>,
    /// Announce a bridge: the CONNECT's protocol level carries the top bit (mosquitto's
    /// `try_private`), so a broker that understands it treats the connection as a bridge
    /// (no echo of its own messages, retained flags kept). A broker that does not refuses
    /// it with CONNACK 0x01. Default false.
    pub bridge_announce: bool,
    /// Other servers `(host, port)` a reconnect tries, in order, when the one before does not
    /// answer (Paho's server URI list, mosquitto's bridge `addresses`). Default none.
    pub fallback_addresses: Vec<(String, u16)>,
    /// With fallbacks: `true` stays on the server that last answered and moves on from there;
    /// `false` (default) starts every reconnect from the first server (a primary with
    /// fallbacks, returning to it as soon as it answers).
    pub round_robin: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            client_id: None,
            clean_session: true,
            keep_alive: Duration::from_secs(60),
            username: None,
            password: None,
            will: None,
            connect_timeout: Duration::from_secs(30),
            protocol: ProtocolLevel::V311,
            properties: Properties::new(),
            operation_timeout: Duration::from_secs(30),
            max_inflight: 1024,
            max_packet_size: crate::protocol::MAX_REMAINING_LENGTH + 5,
            reconnect_delay: None,
            reconnect_delay_max: Duration::from_secs(30),
            resubscribe: true,
            offline_queue: OfflineQueue::default(),
            callbacks: Callbacks::default(),
            tls: None,
            bridge_announce: false,
            fallback_addresses: Vec::new(),
            round_robin: false,
        }
    }
}

impl ConnectOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    pub fn clean_session(mut self, clean: bool) -> Self {
        self.clean_session = clean;
        self
    }

    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    pub fn credentials(mut self, username: impl Into<String>, password: Option<&[u8]>) -> Self {
        self.username = Some(username.into());
        self.password = password.map(<[u8]>::to_vec);
        self
    }

    pub fn will(
        mut self,
        topic: impl Into<String>,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Self {
        self.will = Some(Will {
            topic: topic.into(),
            payload: payload.to_vec(),
            qos,
            retain,
            properties: Properties::new(),
        });
        self
    }

    /// Sets the MQTT 5.0 will properties (see [`Will::properties`]) of the will set before.
    pub fn will_properties(mut self, properties: Properties) -> Self {
        if let Some(will) = &mut self.will {
            will.properties = properties;
        }
        self
    }

    /// MQTT 5.0 Session Expiry Interval in seconds (MQTT 5.0 section 3.1.2.11.2): how long the
    /// server keeps the session after the connection ends; 0 (the default) ends it with the
    /// connection, 0xFFFFFFFF never. Above 0 the session is persistent on this side too:
    /// unacknowledged publishes are re-sent after a reconnect, which asks to resume the session
    /// (Clean Start 0) whatever the first connect asked.
    pub fn session_expiry(mut self, seconds: u32) -> Self {
        set_property(
            &mut self.properties,
            Property::SessionExpiryInterval(seconds),
        );
        self
    }

    /// MQTT 5.0 Receive Maximum (MQTT 5.0 section 3.1.2.11.3): how many QoS 1 and 2 messages
    /// the server may have unacknowledged towards this client at once (1..65535).
    pub fn receive_maximum(mut self, maximum: u16) -> Self {
        set_property(&mut self.properties, Property::ReceiveMaximum(maximum));
        self
    }

    /// MQTT 5.0 Topic Alias Maximum (MQTT 5.0 section 3.1.2.11.5): how many topic aliases the
    /// server may use towards this client (default 0: none).
    pub fn topic_alias_maximum(mut self, maximum: u16) -> Self {
        set_property(&mut self.properties, Property::TopicAliasMaximum(maximum));
        self
    }

    /// MQTT 5.0 Request Response Information: asks the server for a Response Information
    /// string in CONNACK, the basis of response topics ([`Client::request`](super::Client::request)
    /// uses it).
    pub fn request_response_information(mut self, on: bool) -> Self {
        set_property(
            &mut self.properties,
            Property::RequestResponseInformation(u8::from(on)),
        );
        self
    }

    /// MQTT 5.0 Request Problem Information (default on): off asks the server not to send
    /// Reason Strings and User Properties except in PUBLISH, CONNACK and DISCONNECT.
    pub fn request_problem_information(mut self, on: bool) -> Self {
        set_property(
            &mut self.properties,
            Property::RequestProblemInformation(u8::from(on)),
        );
        self
    }

    /// Adds an MQTT 5.0 User Property to CONNECT (repeatable; order kept).
    pub fn user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties
            .push(Property::UserProperty(name.into(), value.into()));
        self
    }

    /// MQTT 5.0 enhanced authentication (MQTT 5.0 section 4.12): the Authentication Method,
    /// the initial Authentication Data, and the callback that answers each AUTH the server
    /// sends to continue (also during [`Client::reauthenticate`](super::Client::reauthenticate)).
    pub fn authentication(
        mut self,
        method: impl Into<String>,
        data: Option<&[u8]>,
        callback: impl Fn(&str, &[u8]) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    ) -> Self {
        set_property(
            &mut self.properties,
            Property::AuthenticationMethod(method.into()),
        );
        self.properties.remove(PropertyId::AuthenticationData);
        if let Some(data) = data {
            self.properties
                .push(Property::AuthenticationData(data.to_vec()));
        }
        self.callbacks.on_auth = Some(Arc::new(callback));
        self
    }

    /// The Session Expiry Interval asked for (0 when none).
    pub(crate) fn session_expiry_interval(&self) -> u32 {
        self.properties
            .integer(PropertyId::SessionExpiryInterval)
            .unwrap_or(0)
    }

    /// Whether the session outlives a connection on this side: clean session 0 before MQTT 5.0,
    /// a Session Expiry Interval above 0 in MQTT 5.0.
    pub(crate) fn persistent(&self) -> bool {
        if self.protocol.is_v5() {
            self.session_expiry_interval() > 0
        } else {
            !self.clean_session
        }
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn protocol(mut self, protocol: ProtocolLevel) -> Self {
        self.protocol = protocol;
        self
    }

    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    pub fn max_inflight(mut self, window: u16) -> Self {
        self.max_inflight = window;
        self
    }

    /// Lets the loop thread reconnect by itself after `delay`, doubling up to `max_delay`
    /// between failed attempts (see [`ConnectOptions::reconnect_delay`]).
    pub fn auto_reconnect(mut self, delay: Duration, max_delay: Duration) -> Self {
        self.reconnect_delay = Some(delay);
        self.reconnect_delay_max = max_delay;
        self
    }

    /// Sets the default message callback: it receives every message for which no per-filter
    /// callback matches — messages of a resumed session that arrive before the application
    /// subscribed again, say — so no message the client acknowledges is dropped unseen.
    pub fn on_message(
        mut self,
        callback: impl Fn(&super::Message<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.on_message = Some(Arc::new(callback));
        self
    }

    /// Sets the callback told of every CONNACK (see [`ConnectCallback`]).
    pub fn on_connect(mut self, callback: impl Fn(bool, u8) + Send + Sync + 'static) -> Self {
        self.callbacks.on_connect = Some(Arc::new(callback));
        self
    }

    /// Sets the callback told of every connection's end (see [`DisconnectCallback`]).
    pub fn on_disconnect(
        mut self,
        callback: impl Fn(&CloseReason, bool) + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.on_disconnect = Some(Arc::new(callback));
        self
    }

    /// Sets the log callback (see [`LogCallback`]).
    pub fn on_log(mut self, callback: impl Fn(LogLevel, &str) + Send + Sync + 'static) -> Self {
        self.callbacks.on_log = Some(Arc::new(callback));
        self
    }

    /// Sets whether filters are subscribed again after a reconnect without a session.
    pub fn resubscribe(mut self, on: bool) -> Self {
        self.resubscribe = on;
        self
    }

    /// Connects over TLS with `tls` (see [`ConnectOptions::tls`]).
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the offline queue's limits and policy.
    pub fn offline_queue(mut self, queue: OfflineQueue) -> Self {
        self.offline_queue = queue;
        self
    }

    /// Checks every field and builds the CONNECT packet.
    pub(crate) fn to_connect(&self) -> Result<Connect, ClientError> {
        let keep_alive = u16::try_from(self.keep_alive.as_secs())
            .map_err(|_| ClientError::InvalidArgument("keep-alive above 65535 s".into()))?;
        let v5 = self.protocol.is_v5();
        // MQTT 5.0 drops the rule (MQTT 5.0 section 3.1.2.9).
        if !v5 && self.password.is_some() && self.username.is_none() {
            return Err(ClientError::InvalidArgument(
                "a password needs a user name [MQTT-3.1.2-22]".into(),
            ));
        }
        if self.max_inflight == 0 {
            return Err(ClientError::InvalidArgument(
                "max_inflight must be at least 1".into(),
            ));
        }
        if self.connect_timeout.is_zero() || self.operation_timeout.is_zero() {
            return Err(ClientError::InvalidArgument(
                "timeouts must be above zero".into(),
            ));
        }
        if let Some(delay) = self.reconnect_delay
            && (delay.is_zero() || self.reconnect_delay_max < delay)
        {
            return Err(ClientError::InvalidArgument(
                "the reconnect delay must be above zero and at most its maximum".into(),
            ));
        }
        let will_properties = self.will.as_ref().map(|w| &w.properties);
        if !v5 && (!self.properties.is_empty() || will_properties.is_some_and(|p| !p.is_empty())) {
            return Err(ClientError::InvalidArgument(
                "MQTT 5.0 properties need protocol level 5".into(),
            ));
        }
        let mut properties = self.properties.clone();
        if v5 && self.max_packet_size < crate::protocol::MAX_REMAINING_LENGTH + 5 {
            let max = u32::try_from(self.max_packet_size.max(2)).unwrap_or(u32::MAX);
            set_property(&mut properties, Property::MaximumPacketSize(max));
        }
        properties
            .validate(PropertyContext::Connect)
            .map_err(|e| ClientError::InvalidArgument(format!("CONNECT properties: {e}")))?;
        if properties.integer(PropertyId::ReceiveMaximum) == Some(0) {
            return Err(ClientError::InvalidArgument(
                "Receive Maximum must be at least 1 (MQTT 5.0 section 3.1.2.11.3)".into(),
            ));
        }
        if properties.get(PropertyId::AuthenticationData).is_some()
            && properties.get(PropertyId::AuthenticationMethod).is_none()
        {
            return Err(ClientError::InvalidArgument(
                "Authentication Data needs an Authentication Method [MQTT-3.1.2-30]".into(),
            ));
        }
        let will = match &self.will {
            None => None,
            Some(w) => {
                w.properties
                    .validate(PropertyContext::Will)
                    .map_err(|e| ClientError::InvalidArgument(format!("will properties: {e}")))?;
                let mut will = LastWill::new(
                    TopicName::new(&w.topic).map_err(ClientError::InvalidTopic)?,
                    w.payload.clone(),
                    w.qos,
                    w.retain,
                );
                will.properties = w.properties.clone();
                Some(will)
            }
        };
        let client_id = match &self.client_id {
            Some(id) => id.clone(),
            None => generated_client_id(),
        };
        // [MQTT-3.1.3-7]: a zero-byte client id only goes with clean session 1. Refused here, as
        // libmosquitto does, rather than silently switching the session the caller asked for.
        // MQTT 5.0 lets the server assign one either way ([MQTT-3.1.3-6] of MQTT 5.0).
        if !v5 && client_id.is_empty() && !self.clean_session {
            return Err(ClientError::InvalidArgument(
                "an empty client id requires clean session [MQTT-3.1.3-7]".into(),
            ));
        }
        if client_id.contains('\0') {
            return Err(ClientError::InvalidArgument(
                "client id contains U+0000".into(),
            ));
        }
        Ok(Connect {
            protocol: self.protocol,
            clean_session: self.clean_session,
            keep_alive,
            client_id,
            will,
            username: self.username.clone(),
            password: self.password.clone(),
            properties,
        })
    }
}

/// Puts `property` into `properties`, replacing one with the same identifier.
pub(crate) fn set_property(properties: &mut Properties, property: Property) {
    properties.remove(property.id());
    properties.push(property);
}

/// "mqtt-" plus process id, clock and a counter in hex, cut to the 23 characters every server
/// accepts ([MQTT-3.1.3-5]), so ids from one process and from concurrent processes differ.
fn generated_client_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = format!("mqtt-{:x}-{:x}-{:x}", std::process::id(), count, nanos);
    id.truncate(23);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_short_distinct_and_allowed_characters() {
        let a = ConnectOptions::new().to_connect().unwrap().client_id;
        let b = ConnectOptions::new().to_connect().unwrap().client_id;
        assert_ne!(a, b);
        for id in [a, b] {
            assert!((1..=23).contains(&id.len()), "{id}");
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        }
    }

    #[test]
    fn defaults_follow_the_documentation() {
        let c = ConnectOptions::new().to_connect().unwrap();
        assert!(c.clean_session);
        assert_eq!(c.keep_alive, 60);
        assert_eq!(c.protocol, ProtocolLevel::V311);
        assert!(c.will.is_none() && c.username.is_none() && c.password.is_none());
    }

    #[test]
    fn invalid_settings_are_refused() {
        let mut o = ConnectOptions::new();
        o.password = Some(b"x".to_vec());
        assert!(matches!(
            o.to_connect(),
            Err(ClientError::InvalidArgument(_))
        ));
        let o = ConnectOptions::new().keep_alive(Duration::from_secs(70000));
        assert!(matches!(
            o.to_connect(),
            Err(ClientError::InvalidArgument(_))
        ));
        let o = ConnectOptions::new().will("a/+", b"", QoS::AtMostOnce, false);
        assert!(matches!(o.to_connect(), Err(ClientError::InvalidTopic(_))));
    }
}
