//! The public client handle: connect, subscribe, publish, receive, the loop thread, disconnect.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::protocol::{
    Connack, Disconnect, MAX_REMAINING_LENGTH, Packet, PacketId, Properties, PropertyId, QoS,
    QosPid, ReasonCode, SubackCode, Subscribe, SubscribeTopic, Unsubscribe,
};
use crate::topic::{TopicFilter, TopicName, split_shared};

use super::connection::{LinkSettings, Nesting, OnClose, Shared, auth_packet};
use super::error::{ClientError, CloseReason};
use super::message_options::{PublishOptions, SubscribeOptions};
use super::options::ConnectOptions;
use super::published::PublishedCallback;
use super::reconnect::{Endpoint, run_loop};
use super::session::{Outgoing, OutgoingMessage};
use super::subscriptions::{Message, MessageCallback, OwnedMessage, Requested};
use super::tls_session::TlsSetup;
use super::transport::Transport;
use super::url;
use super::websocket::WebSocketSetup;
use crate::tls::ClientTls;

/// Stack of the loop thread: room for user callbacks, far below the 8 MiB default.
const LOOP_STACK_SIZE: usize = 512 * 1024;

struct LoopThread {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

/// A connection to an MQTT broker. Every method takes `&self` and may be called from any thread,
/// including from inside a message callback; share the client with `Arc` (capture a `Weak` in
/// callbacks, since the client owns its callbacks).
///
/// Dropping the client closes the socket *without* DISCONNECT, so the broker publishes the will;
/// call [`Client::disconnect`] first for a clean end.
///
/// # Reconnecting
/// [`Client::reconnect`] opens a new connection with the same settings and client id. The
/// session lives in the `Client`, not in the socket: with clean session 0, unacknowledged
/// publishes are re-sent and their waiters complete; with clean session 1 they are discarded.
/// Subscription callbacks stay registered either way; when the broker reports no session
/// present (always with clean session 1) the client subscribes again to every filter, with
/// its QoS, unless [`ConnectOptions::resubscribe`] is off.
/// By default nothing reconnects by itself: the loop thread ends when the connection is lost,
/// and `reconnect` starts it again. With [`ConnectOptions::auto_reconnect`] the loop thread
/// reconnects by itself, as libmosquitto's loop does; without the loop thread, only
/// `reconnect` does.
pub struct Client {
    shared: Arc<Shared>,
    endpoint: Arc<Endpoint>,
    loop_thread: Mutex<Option<LoopThread>>,
    /// `loop_start` was called and `loop_stop` was not: a reconnect restarts the loop thread.
    loop_wanted: AtomicBool,
    client_id: String,
}

impl Client {
    /// Resolves `host` (a name, an IPv4 or an IPv6 address), connects — over TLS when
    /// `options.tls` is set — sends CONNECT and waits for CONNACK, all within
    /// `options.connect_timeout`. A refusal comes back as its own error variant
    /// (`ClientError::NotAuthorized`, ...), a TLS failure (certificate not accepted, handshake
    /// refused) as `ClientError::Tls`.
    pub fn connect(host: &str, port: u16, options: &ConnectOptions) -> Result<Client, ClientError> {
        Self::open(host, port, options.tls.as_ref(), None, options)
    }

    /// [`Client::connect`] to the broker `url` names: `mqtt://host[:port]` over TCP (port 1883
    /// unless given), `mqtts://host[:port]` over TLS (port 8883), `ws://host[:port][/path]`
    /// over WebSocket (port 80) or `wss://host[:port][/path]` over WebSocket over TLS (port
    /// 443), as MQTT.js and Paho take them. TLS uses `options.tls`, or without them the
    /// defaults: the system's CA certificates, the host name verified. An IPv6 address goes in
    /// brackets (`mqtts://[::1]`). After an MQTT URL's port nothing may follow but one `/`; a
    /// WebSocket URL's path (and query) is what the upgrade requests, `/mqtt` when it names
    /// none (or only `/`).
    ///
    /// Over WebSocket (MQTT 5.0 and 3.1.1 section 6) the upgrade offers the subprotocol `mqtt`
    /// ([MQTT-6.0.0-3]) and fails with `ClientError::Protocol` when the server refuses it
    /// (an HTTP status other than 101, or a response not selecting `mqtt`, [MQTT-6.0.0-4]);
    /// MQTT goes in binary frames ([MQTT-6.0.0-1]), and packets are read whatever the frame
    /// boundaries ([MQTT-6.0.0-2]). A text frame from the server closes the connection; pings
    /// are answered. Everything else (reconnects, the loop thread, the event-loop calls on
    /// [`Client::socket`], the TCP socket) works as over TCP.
    ///
    /// `mqtt://` and `ws://` with `options.tls` set fail with `InvalidArgument`, rather than
    /// connect without the TLS the options ask for.
    pub fn connect_url(url: &str, options: &ConnectOptions) -> Result<Client, ClientError> {
        let target = url::parse(url)?;
        let defaults = ClientTls::default();
        let tls = match (target.secure, &options.tls) {
            (true, tls) => Some(tls.as_ref().unwrap_or(&defaults)),
            (false, None) => None,
            (false, Some(_)) => {
                let secure = if target.websocket.is_some() {
                    "wss://"
                } else {
                    "mqtts://"
                };
                return Err(ClientError::InvalidArgument(format!(
                    "{url}: TLS settings given for a URL without TLS (use {secure})"
                )));
            }
        };
        let websocket = target.websocket.as_deref().map(|path| {
            WebSocketSetup::new(
                &target.host,
                target.port,
                target.secure,
                path,
                options.max_packet_size,
            )
        });
        Self::open(&target.host, target.port, tls, websocket, options)
    }

    fn open(
        host: &str,
        port: u16,
        tls: Option<&ClientTls>,
        websocket: Option<WebSocketSetup>,
        options: &ConnectOptions,
    ) -> Result<Client, ClientError> {
        let mut connect = options.to_connect()?;
        let deadline = Instant::now() + options.connect_timeout;
        let tls = tls.map(|tls| TlsSetup::new(tls, host)).transpose()?;
        // The first server that answers, then its fallbacks in order.
        let servers = std::iter::once((host, port)).chain(
            options
                .fallback_addresses
                .iter()
                .map(|(host, port)| (host.as_str(), *port)),
        );
        let mut opened = Err(ClientError::Timeout);
        for (index, (host, port)) in servers.enumerate() {
            match Transport::open(host, port, tls.as_ref(), websocket.as_ref(), deadline) {
                Ok(transport) => {
                    opened = Ok((index, transport));
                    break;
                }
                Err(e) => opened = Err(e),
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        let (current, transport) = opened?;
        let v5 = options.protocol.is_v5();
        let shared = Shared::new(
            transport,
            LinkSettings {
                keep_alive: options.keep_alive,
                operation_timeout: options.operation_timeout,
                max_inflight: options.max_inflight as usize,
                max_packet_size: options.max_packet_size,
                persistent: options.persistent(),
                auto_reconnect: options.reconnect_delay.is_some(),
                resubscribe: options.resubscribe,
                offline_queue: options.offline_queue,
                callbacks: options.callbacks.clone(),
                protocol: options.protocol,
                topic_alias_maximum: options
                    .properties
                    .integer(PropertyId::TopicAliasMaximum)
                    .unwrap_or(0) as u16,
                receive_maximum: options
                    .properties
                    .integer(PropertyId::ReceiveMaximum)
                    .unwrap_or(65535) as u16,
                auth_method: connect
                    .properties
                    .string(PropertyId::AuthenticationMethod)
                    .map(str::to_owned),
            },
        )?;
        shared.send_connect(None, &connect, options.bridge_announce)?;
        let connack = shared.read_connack(&shared.link(), deadline)?;
        shared.notify_connect(&connack);
        if let Some(refusal) = ClientError::from_connack(&connack, v5) {
            return Err(refusal);
        }
        shared.apply_connack(&shared.link(), &connack);
        // MQTT 5.0: the server may assign the id ([MQTT-3.2.2-16] of MQTT 5.0); reconnects
        // send it, and resume the session (Clean Start 0) when it outlives a connection.
        if let Some(assigned) = connack
            .properties
            .string(PropertyId::AssignedClientIdentifier)
        {
            connect.client_id = assigned.to_owned();
        }
        if v5 && options.persistent() {
            connect.clean_session = false;
        }
        Ok(Client {
            shared: Arc::new(shared),
            client_id: connect.client_id.clone(),
            endpoint: Arc::new(Endpoint {
                host: host.to_owned(),
                port,
                fallbacks: options.fallback_addresses.clone(),
                round_robin: options.round_robin,
                current: std::sync::atomic::AtomicUsize::new(current),
                tls,
                websocket,
                connect,
                bridge_announce: options.bridge_announce,
                connect_timeout: options.connect_timeout,
                connack: Mutex::new(connack.clone()),
                session_present: AtomicBool::new(connack.session_present),
                auto: options
                    .reconnect_delay
                    .map(|delay| (delay, options.reconnect_delay_max)),
                reconnecting: Mutex::new(()),
                external_backoff: Mutex::new(None),
            }),
            loop_thread: Mutex::new(None),
            loop_wanted: AtomicBool::new(false),
        })
    }

    /// Closes the connection if it is open (without DISCONNECT, so the broker publishes the
    /// will) and connects again to the same host with the same options and client id — the
    /// generated one too — within the connect timeout. Callable at any time, from any thread,
    /// also after the connection was lost or `disconnect`ed, and from inside a callback.
    ///
    /// With clean session 0 the session resumes [MQTT-4.4.0-1]: every unacknowledged QoS 1/2
    /// PUBLISH is re-sent with DUP set [MQTT-3.3.1-1] and its original identifier, and PUBREL
    /// for each one past PUBREC, in their original order, before anything sent afterwards;
    /// QoS 2 messages received and not yet released stay known, so the broker's re-delivery is
    /// not dispatched twice. Threads in [`Client::wait_published`] (or `publish` at QoS 1/2)
    /// keep waiting across the lost connection and complete when the re-send is acknowledged.
    /// If the broker answers that it has no session (session present 0), our publishes are
    /// still re-sent, so none is lost.
    ///
    /// With clean session 1 the broker starts afresh: unacknowledged publishes are discarded
    /// (the completion callback gets [`PublishOutcome::Discarded`](super::PublishOutcome) for
    /// each; their waiters already failed with `Closed` when the connection was lost). Without
    /// a session present the filters are subscribed again (see [`ConnectOptions::resubscribe`]),
    /// and the offline queue is sent after the re-sends.
    ///
    /// The loop thread, if started and not stopped, is stopped first (an automatic reconnect
    /// it is attempting finishes first) and started again afterwards — also after a failure
    /// when automatic reconnects are on, so it keeps trying. Called from a callback on the
    /// loop thread, the loop carries on with the new connection once the callback returns. On
    /// failure the client stays closed and `reconnect` may be tried again; a refusal comes back
    /// as its own error. A `disconnect` racing with it wins: the new connection is closed.
    pub fn reconnect(&self) -> Result<(), ClientError> {
        let on_loop_thread = self.shared.lock_state().loop_thread == Some(thread::current().id());
        if !on_loop_thread {
            self.stop_loop_thread();
        }
        let result = self.reconnect_now();
        let keeps_trying = self.endpoint.auto.is_some() || result.is_ok();
        if !on_loop_thread && keeps_trying && self.loop_wanted.load(Ordering::Acquire) {
            // The reconnect's own failure is the one to report.
            let started = self.start_loop_thread();
            return result.and(started);
        }
        result
    }

    fn reconnect_now(&self) -> Result<(), ClientError> {
        let deadline = Instant::now() + self.endpoint.connect_timeout;
        let _one_at_a_time = self
            .endpoint
            .reconnecting
            .try_lock_until(deadline)
            .ok_or(ClientError::Timeout)?;
        self.shared.begin_reconnect();
        self.shared.wait_reader_free(deadline)?;
        self.endpoint.open_new_link(&self.shared, deadline)
    }

    /// Sets the callback that learns how each QoS 1 and 2 publish ended (`publish` and
    /// `publish_async` alike), replacing an earlier one; `None` removes it. It gets the packet
    /// identifier and [`PublishOutcome::Acknowledged`](super::PublishOutcome) once PUBACK
    /// (QoS 1) or PUBCOMP (QoS 2) arrives — on the thread that read it: the loop thread while it
    /// runs, otherwise whichever thread is reading inside a call (`receive_message`,
    /// `wait_published`, `publish`, `subscribe`, ...) — or `Discarded` from a clean-session
    /// [`Client::reconnect`], on the thread calling it. Calls follow the order in which the
    /// acknowledgements arrive. No lock is held during the call, so it may call any method of
    /// the client; if it waits for a reply itself (a QoS 1 `publish`, say), acknowledgements
    /// read meanwhile are reported from inside that call, nested.
    pub fn set_on_published(&self, callback: Option<PublishedCallback>) {
        self.shared.set_on_published(callback);
    }

    /// The client identifier: the one sent in CONNECT (the generated one when none was given),
    /// or the one an MQTT 5.0 server assigned (Assigned Client Identifier).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The protocol revision in use.
    pub fn protocol(&self) -> crate::protocol::ProtocolLevel {
        self.shared.protocol
    }

    /// The last CONNACK: in MQTT 5.0 its properties say what the server allows (Receive
    /// Maximum, Maximum QoS, Retain Available, Maximum Packet Size, Topic Alias Maximum,
    /// Server Keep Alive, Response Information, ...).
    pub fn connack(&self) -> Connack {
        self.endpoint.connack.lock().clone()
    }

    /// CONNACK's session-present flag: the broker resumed a stored session ([MQTT-3.2.2-2]).
    /// After [`Client::reconnect`], the flag of its CONNACK.
    pub fn session_present(&self) -> bool {
        self.endpoint.session_present.load(Ordering::Acquire)
    }

    /// Whether the connection is still open.
    pub fn is_connected(&self) -> bool {
        self.shared.lock_state().closed().is_none()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.lock_state().closed().cloned()
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.shared.operation_timeout
    }

    /// Subscribes to `filter` and waits for SUBACK; returns the granted QoS. `callback` is
    /// registered before SUBSCRIBE goes out, so retained messages are not missed; it replaces an
    /// earlier callback for the same filter, and is removed again if the broker refuses (0x80).
    pub fn subscribe(
        &self,
        filter: &str,
        qos: QoS,
        callback: impl Fn(&Message<'_>) + Send + Sync + 'static,
    ) -> Result<QoS, ClientError> {
        self.subscribe_callback(filter, qos, Arc::new(callback))
    }

    /// [`Client::subscribe`] with a callback already shared.
    pub fn subscribe_callback(
        &self,
        filter: &str,
        qos: QoS,
        callback: MessageCallback,
    ) -> Result<QoS, ClientError> {
        let codes = self.subscribe_many(&[(filter, qos)], callback)?;
        match codes[0] {
            SubackCode::Granted(granted) => Ok(granted),
            SubackCode::Failure => Err(ClientError::SubscribeRefused(filter.to_owned())),
        }
    }

    /// Subscribes to several filters in one SUBSCRIBE and waits for its SUBACK; returns one
    /// return code per filter, in order ([MQTT-3.9.3-1]): the granted QoS, or `Failure` (0x80)
    /// for a filter the broker refused. `callback` is registered for every filter before
    /// SUBSCRIBE goes out and removed again from the refused ones (and from all if the call
    /// fails). At least one filter is required ([MQTT-3.8.3-3]).
    pub fn subscribe_many(
        &self,
        filters: &[(&str, QoS)],
        callback: MessageCallback,
    ) -> Result<Vec<SubackCode>, ClientError> {
        let codes = self.subscribe_ex(filters, &SubscribeOptions::default(), callback)?;
        Ok(codes.into_iter().map(SubackCode::from_reason).collect())
    }

    /// [`Client::subscribe_many`] with MQTT 5.0 subscription options (the same for every
    /// filter) and SUBSCRIBE properties; returns the SUBACK reason codes, one per filter: the
    /// granted QoS (0, 1, 2) or a failure of 0x80 and above (0x87 not authorized, 0x8F topic
    /// filter invalid, 0x9E shared subscriptions not supported, 0xA1, 0xA2, ...), whose callbacks
    /// are removed again. Options other than the defaults need MQTT 5.0.
    pub fn subscribe_ex(
        &self,
        filters: &[(&str, QoS)],
        options: &SubscribeOptions,
        callback: MessageCallback,
    ) -> Result<Vec<ReasonCode>, ClientError> {
        if options.is_v5_only() && !self.shared.protocol.is_v5() {
            return Err(ClientError::InvalidArgument(
                "subscription options and properties need MQTT 5.0".into(),
            ));
        }
        if options.options.retain_handling > 2 {
            return Err(ClientError::InvalidArgument(
                "Retain Handling must be 0, 1 or 2".into(),
            ));
        }
        if options
            .subscription_identifier
            .is_some_and(|id| id == 0 || id > crate::protocol::MAX_VAR_INT)
        {
            return Err(ClientError::InvalidArgument(
                "a Subscription Identifier is 1 to 268,435,455".into(),
            ));
        }
        if filters.is_empty() {
            return Err(ClientError::InvalidArgument(
                "SUBSCRIBE needs at least one filter [MQTT-3.8.3-3]".into(),
            ));
        }
        for (filter, _) in filters {
            check_shared(filter, options)?;
        }
        let parsed = filters
            .iter()
            .map(|(f, qos)| Ok((TopicFilter::new(f)?, *qos)))
            .collect::<Result<Vec<_>, ClientError>>()?;
        if let Some(e) = self.shared.closed_error() {
            return Err(e);
        }
        let previous: Vec<_> = {
            let mut table = self.shared.subscriptions.lock();
            parsed
                .iter()
                .map(|(filter, qos)| {
                    let requested = Requested {
                        qos: *qos,
                        options: options.options,
                        identifier: options.subscription_identifier,
                    };
                    table.insert(filter.clone(), requested, Arc::clone(&callback))
                })
                .collect()
        };
        let result = self.request_subscription(&parsed, options);
        {
            let mut table = self.shared.subscriptions.lock();
            // Undone in reverse, so a filter given twice ends as it was.
            for (i, ((filter, _), previous)) in parsed.iter().zip(previous).enumerate().rev() {
                let granted = matches!(
                    result.as_ref().map(|codes| codes[i]),
                    Ok(code) if code.is_success()
                );
                if !granted {
                    table.restore(filter, previous);
                }
            }
        }
        result
    }

    fn request_subscription(
        &self,
        filters: &[(TopicFilter, QoS)],
        options: &SubscribeOptions,
    ) -> Result<Vec<ReasonCode>, ClientError> {
        let deadline = self.deadline();
        let id = self.allocate_id(Outgoing::Suback(None), deadline)?;
        let packet = Packet::Subscribe(Subscribe {
            packet_id: id,
            topics: filters
                .iter()
                .map(|(filter, qos)| SubscribeTopic {
                    filter: filter.to_string(),
                    qos: *qos,
                    options: options.options,
                })
                .collect(),
            properties: options.properties(),
        });
        let codes = self.send_and_wait(id, &packet, deadline, |st| st.session.take_suback(id))?;
        if codes.len() != filters.len() {
            return Err(ClientError::Protocol(format!(
                "SUBACK with {} return codes for {} filters [MQTT-3.9.3-1]",
                codes.len(),
                filters.len()
            )));
        }
        Ok(codes)
    }

    /// Unsubscribes from `filter`, waits for UNSUBACK, then removes its callback. Returns the
    /// MQTT 5.0 reason code (0x00 success, 0x11 no subscription existed; always 0x00 before
    /// MQTT 5.0); a code of 0x80 or above fails with `UnsubscribeRefused` and keeps the
    /// callback, as the subscription stays.
    pub fn unsubscribe(&self, filter: &str) -> Result<ReasonCode, ClientError> {
        TopicFilter::validate(filter)?;
        let deadline = self.deadline();
        let id = self.allocate_id(Outgoing::Unsuback(None), deadline)?;
        let packet = Packet::Unsubscribe(Unsubscribe {
            packet_id: id,
            filters: vec![filter.to_owned()],
            properties: Properties::new(),
        });
        let codes = self.send_and_wait(id, &packet, deadline, |st| st.session.take_unsuback(id))?;
        let code = if self.shared.protocol.is_v5() {
            match codes.as_slice() {
                [code] => *code,
                _ => {
                    return Err(ClientError::Protocol(format!(
                        "UNSUBACK with {} reason codes for 1 filter [MQTT-3.11.3-1]",
                        codes.len()
                    )));
                }
            }
        } else {
            ReasonCode::SUCCESS
        };
        if !code.is_success() {
            return Err(ClientError::UnsubscribeRefused(filter.to_owned(), code));
        }
        self.shared.subscriptions.lock().remove(filter);
        Ok(code)
    }

    fn allocate_id(&self, what: Outgoing, deadline: Instant) -> Result<PacketId, ClientError> {
        self.shared.wait_for(Some(deadline), Nesting::Queue, |st| {
            st.session.allocate(what.clone())
        })
    }

    /// Sends a SUBSCRIBE or UNSUBSCRIBE and waits for its reply, freeing the identifier if the
    /// wait fails.
    fn send_and_wait<T>(
        &self,
        id: PacketId,
        packet: &Packet,
        deadline: Instant,
        ready: impl FnMut(&mut super::connection::State) -> Option<T>,
    ) -> Result<T, ClientError> {
        let result = self
            .shared
            .send_packet(packet)
            .and_then(|()| self.shared.wait_for(Some(deadline), Nesting::Queue, ready));
        if result.is_err() {
            self.shared.lock_state().session.abandon(id);
        }
        result
    }

    /// Publishes and waits as the QoS requires: QoS 0 returns once the packet is handed to the
    /// socket, QoS 1 once PUBACK arrives, QoS 2 once PUBCOMP arrives (after PUBREC → PUBREL), or
    /// `ClientError::Timeout` after the operation timeout while connected (the message stays in
    /// flight).
    ///
    /// While the connection is down and automatic reconnects are on, the publish goes to the
    /// offline queue and this returns `ClientError::Queued` at once (see
    /// [`Client::publish_async`]). A QoS 1/2 publish whose connection is lost while it waits,
    /// and that a reconnect will still send (a persistent session, [MQTT-4.4.0-1]), also ends
    /// with `Queued` rather than `Timeout`: a timeout never hides a message that will still go
    /// out. An MQTT 5.0 refusal (PUBACK or PUBREC of 0x80 and above) fails with
    /// `PublishRefused`.
    pub fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), ClientError> {
        self.publish_ex(topic, payload, qos, retain, &PublishOptions::default())
            .map(|_| ())
    }

    /// [`Client::publish`] with MQTT 5.0 properties (see [`PublishOptions`]); returns the
    /// reason code of the acknowledgement (0x00, or 0x10 no matching subscribers; 0x00 for QoS
    /// 0 and before MQTT 5.0). With the server's permission (Topic Alias Maximum above 0) the
    /// topic goes as a topic alias after its first use, unless the options forbid it.
    pub fn publish_ex(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        options: &PublishOptions,
    ) -> Result<ReasonCode, ClientError> {
        let deadline = self.deadline();
        let message = self.outgoing(topic, payload, qos, retain, options)?;
        let Some(id) = self.start_publish(&message, !options.no_topic_alias, deadline)? else {
            return Ok(ReasonCode::SUCCESS);
        };
        match self.wait_published_until(id, Some(deadline)) {
            Err(ClientError::Timeout) => {
                let st = self.shared.lock_state();
                let pending = st.session.is_publish_inflight(id);
                if pending && st.closed().is_some() {
                    Err(ClientError::Queued(Some(id)))
                } else {
                    Err(ClientError::Timeout)
                }
            }
            other => other,
        }
    }

    /// Sends a PUBLISH without waiting for its acknowledgement, so many can be in flight; returns
    /// the packet identifier for QoS 1 and 2 (`None` for QoS 0). Blocks while `max_inflight`
    /// publishes await acknowledgement (at most the operation timeout) — or, in MQTT 5.0, the
    /// server's Receive Maximum when that is lower ([MQTT-3.3.4-7] of MQTT 5.0).
    ///
    /// While the connection is down (lost, not ended by this client) and automatic reconnects
    /// are on, the publish is put in the offline queue — bounded by
    /// [`ConnectOptions::offline_queue`] in messages and bytes, QoS 0 only if it says so — and
    /// `ClientError::Queued` carries its identifier: the reconnect sends it, and
    /// [`Client::wait_published`] and the completion callback complete it then.
    /// `ClientError::QueueFull` when the queue refuses it; otherwise `Closed`.
    pub fn publish_async(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, ClientError> {
        self.publish_async_ex(topic, payload, qos, retain, &PublishOptions::default())
    }

    /// [`Client::publish_async`] with MQTT 5.0 properties (see [`Client::publish_ex`]).
    pub fn publish_async_ex(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        options: &PublishOptions,
    ) -> Result<Option<PacketId>, ClientError> {
        let message = self.outgoing(topic, payload, qos, retain, options)?;
        self.start_publish(&message, !options.no_topic_alias, self.deadline())
    }

    /// Checks a publish's arguments against the protocol and what the server allows.
    fn outgoing<'a>(
        &self,
        topic: &'a str,
        payload: &'a [u8],
        qos: QoS,
        retain: bool,
        options: &'a PublishOptions,
    ) -> Result<OutgoingMessage<'a>, ClientError> {
        TopicName::validate(topic)?;
        let v5 = self.shared.protocol.is_v5();
        if !v5 && !options.properties.is_empty() {
            return Err(ClientError::InvalidArgument(
                "publish properties need MQTT 5.0".into(),
            ));
        }
        if v5 {
            let allowed = options.properties.iter().all(|p| {
                !matches!(
                    p.id(),
                    PropertyId::TopicAlias | PropertyId::SubscriptionIdentifier
                )
            });
            if !allowed {
                return Err(ClientError::InvalidArgument(
                    "the client sets Topic Alias itself, and a Subscription Identifier is the \
                     server's to add [MQTT-3.3.4-6]"
                        .into(),
                ));
            }
            options
                .properties
                .validate(crate::protocol::PropertyContext::Publish)
                .map_err(|e| ClientError::InvalidArgument(format!("publish properties: {e}")))?;
            if let Some(response) = options.properties.string(PropertyId::ResponseTopic) {
                TopicName::validate(response)?;
            }
        }
        let link = self.shared.link();
        // What the server supports, from its CONNACK (MQTT 5.0 only): Maximum QoS
        // ([MQTT-3.2.2-11] of MQTT 5.0) and Retain Available ([MQTT-3.2.2-14] of MQTT 5.0).
        if (qos as u8) > link.server_max_qos() {
            return Err(ClientError::InvalidArgument(format!(
                "the server supports QoS up to {} (Maximum QoS in CONNACK)",
                link.server_max_qos()
            )));
        }
        if retain && !link.retain_available() {
            return Err(ClientError::InvalidArgument(
                "the server does not support retained messages (Retain Available 0)".into(),
            ));
        }
        let message = OutgoingMessage {
            topic,
            payload,
            qos,
            retain,
            properties: v5.then_some(&options.properties),
        };
        let size = message.size(qos != QoS::AtMostOnce);
        if size > MAX_REMAINING_LENGTH + 5 {
            return Err(ClientError::InvalidArgument(format!(
                "PUBLISH of {size} bytes exceeds the protocol maximum"
            )));
        }
        if let Some(maximum) = link.server_max_packet_size()
            && size > maximum as usize
        {
            return Err(ClientError::PacketTooLarge { size, maximum });
        }
        Ok(message)
    }

    fn start_publish(
        &self,
        message: &OutgoingMessage<'_>,
        alias: bool,
        deadline: Instant,
    ) -> Result<Option<PacketId>, ClientError> {
        let shared = &self.shared;
        let qos = message.qos;
        {
            let mut st = shared.lock_state();
            if shared.queues_offline(&st, qos) {
                let id = shared.enqueue_offline(&mut st, message)?;
                return Err(ClientError::Queued(id));
            }
        }
        if qos == QoS::AtMostOnce {
            if let Some(e) = shared.closed_error() {
                return Err(e);
            }
            shared.send_publish(&shared.link(), message, QosPid::AtMostOnce, alias)?;
            return Ok(None);
        }
        // The link is read together with the identifier: a clean-session reconnect in between
        // discards the identifier, and the send then fails on the old link instead of putting
        // a discarded identifier on the new one.
        let (id, link) = shared.wait_for(Some(deadline), Nesting::Queue, |st| {
            if st.session.window_full() {
                None
            } else {
                let id = st.session.allocate_publish(qos)?;
                Some((id, shared.link()))
            }
        })?;
        let qospid = QosPid::new(qos, id);
        if !shared.persistent() {
            shared.send_publish(&link, message, qospid, alias)?;
            return Ok(Some(id));
        }
        let mut encoded = Vec::with_capacity(message.size(true));
        message.encode(&mut encoded, false, qospid)?;
        // Kept before it is first sent, so an acknowledgement cannot come before it is kept.
        // The link is read under the same lock: a reconnect that installs a new link later
        // re-sends the message there (after this send on the old link went out or failed); one
        // that installed it earlier did not know the message, which goes out once, here. The
        // kept form names the topic in full: an alias would mean nothing on the next connection.
        let link = {
            let mut st = shared.lock_state();
            st.session.keep_publish(id, &encoded);
            shared.link()
        };
        // A failed write leaves the message in the session; a reconnect re-sends it.
        let _ = if alias && message.properties.is_some() {
            shared.send_publish(&link, message, qospid, alias)
        } else {
            shared.send_on(&link, |buf| {
                buf.extend_from_slice(&encoded);
                Ok(())
            })
        };
        Ok(Some(id))
    }

    /// Waits until the publish with identifier `id` is acknowledged (PUBACK, or PUBCOMP for
    /// QoS 2); returns at once if it is not in flight. `None` waits for ever. With clean
    /// session 0 a lost connection does not end the wait: the message is re-sent by
    /// [`Client::reconnect`] and the wait ends when that is acknowledged, when the timeout
    /// passes, or with `Closed` once the client disconnects. With clean session 1 it fails
    /// with `Closed` when the connection is lost. Returns the MQTT 5.0 reason code as
    /// [`Client::publish_ex`] does (known only when this is the first to ask since the
    /// acknowledgement: later calls report 0x00).
    pub fn wait_published(
        &self,
        id: PacketId,
        timeout: Option<Duration>,
    ) -> Result<ReasonCode, ClientError> {
        self.wait_published_until(id, timeout.map(|t| Instant::now() + t))
    }

    fn wait_published_until(
        &self,
        id: PacketId,
        deadline: Option<Instant>,
    ) -> Result<ReasonCode, ClientError> {
        let result = self.shared.wait(
            deadline,
            Nesting::Queue,
            OnClose::AwaitReconnect(id),
            |st| (!st.session.is_publish_inflight(id)).then(|| st.session.take_result(id)),
        )?;
        match result {
            None => Ok(ReasonCode::SUCCESS),
            Some(reason) if reason.code.is_success() => Ok(reason.code),
            Some(reason) => Err(ClientError::PublishRefused(reason)),
        }
    }

    /// MQTT 5.0 request/response (MQTT 5.0 section 4.10): publishes `payload` to `topic` with
    /// a Response Topic — below the server's Response Information when it gave one
    /// ([`ConnectOptions::request_response_information`]), else `libmqtt/response/CLIENT_ID` —
    /// and a fresh Correlation Data, and waits up to `timeout` for the message on the response
    /// topic that carries the same Correlation Data. The response topic is subscribed to (QoS
    /// 1) on the first request. The response is taken aside on arrival: no callback sees it.
    pub fn request(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        timeout: Duration,
    ) -> Result<OwnedMessage, ClientError> {
        if !self.shared.protocol.is_v5() {
            return Err(ClientError::InvalidArgument(
                "request/response needs MQTT 5.0".into(),
            ));
        }
        let deadline = Instant::now() + timeout;
        let response_topic = match self.shared.requests.subscribed() {
            Some(topic) => topic,
            None => {
                let topic = self.shared.requests.response_topic(&self.client_id);
                // Responses never reach this callback: they are taken aside on arrival.
                self.subscribe(&topic, QoS::AtLeastOnce, |_| {})?;
                self.shared.requests.set_subscribed(topic.clone());
                topic
            }
        };
        let correlation = self.shared.requests.register();
        let options = PublishOptions::new()
            .response_topic(response_topic)
            .correlation_data(&correlation);
        let result = self
            .publish_ex(topic, payload, qos, false, &options)
            .and_then(|_| {
                self.shared.wait_for(Some(deadline), Nesting::Queue, |_| {
                    self.shared.requests.take(&correlation)
                })
            });
        if result.is_err() {
            self.shared.requests.cancel(&correlation);
        }
        result
    }

    /// MQTT 5.0 re-authentication (MQTT 5.0 section 4.12.1): sends AUTH (0x19) with the
    /// Authentication Method of the connect and `data`, answers the server's AUTH packets
    /// through the authentication callback, and waits (at most the operation timeout) for the
    /// server's AUTH success. A refusal ends the connection: `Closed` with the server's reason.
    pub fn reauthenticate(&self, data: &[u8]) -> Result<(), ClientError> {
        let Some(method) = &self.shared.auth_method else {
            return Err(ClientError::Authentication(
                "re-authentication needs enhanced authentication at connect [MQTT-4.12.1-1]".into(),
            ));
        };
        let deadline = self.deadline();
        let before = self.shared.lock_state().reauthentications;
        self.shared.send_packet(&auth_packet(
            ReasonCode::RE_AUTHENTICATE,
            method,
            data.to_vec(),
        ))?;
        self.shared.wait_for(Some(deadline), Nesting::Queue, |st| {
            (st.reauthentications > before).then_some(())
        })
    }

    /// Reads until one PUBLISH has been processed — dispatched to the most specific matching
    /// callback (or dropped when no filter matches) and acknowledged — or `timeout` passes
    /// (`ClientError::Timeout`; `None` waits for ever) or the connection closes. Sends PINGREQ
    /// as keep-alive requires while it waits. With the loop thread running it waits for the
    /// loop thread to process the next message instead of reading.
    pub fn receive_message(&self, timeout: Option<Duration>) -> Result<(), ClientError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let start = self.shared.lock_state().messages_processed;
        self.shared.wait_for(deadline, Nesting::Dispatch, |st| {
            (st.messages_processed > start).then_some(())
        })
    }

    /// Sends PINGREQ and waits for PINGRESP (at most the operation timeout).
    pub fn ping(&self) -> Result<(), ClientError> {
        if let Some(e) = self.shared.closed_error() {
            return Err(e);
        }
        let deadline = self.deadline();
        let number = self.shared.start_ping();
        self.shared.send_packet(&Packet::Pingreq)?;
        self.shared.wait_for(Some(deadline), Nesting::Queue, |st| {
            (st.session.pingresps_received >= number).then_some(())
        })
    }

    /// Starts the loop thread, which reads, dispatches callbacks and keeps the connection alive
    /// until `loop_stop`, `disconnect`, drop, or the connection ends (a [`Client::reconnect`]
    /// then starts it again) — unless [`ConnectOptions::auto_reconnect`] lets it reconnect by
    /// itself, in which case it may also be started on a lost connection. While it runs, every
    /// callback runs on it.
    pub fn loop_start(&self) -> Result<(), ClientError> {
        self.start_loop_thread()?;
        self.loop_wanted.store(true, Ordering::Release);
        Ok(())
    }

    fn start_loop_thread(&self) -> Result<(), ClientError> {
        let mut slot = self.loop_thread.lock();
        if slot.as_ref().is_some_and(|l| !l.handle.is_finished()) {
            return Err(ClientError::LoopAlreadyRunning);
        }
        if let Some(finished) = slot.take() {
            let _ = finished.handle.join();
        }
        // A lost connection is no obstacle to a loop thread that reconnects by itself.
        if let Some(reason) = self.shared.lock_state().closed()
            && (self.endpoint.auto.is_none() || reason.ended_by_client())
        {
            return Err(ClientError::Closed(reason.clone()));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let handle = thread::Builder::new()
            .name("mqtt-client-loop".into())
            .stack_size(LOOP_STACK_SIZE)
            .spawn({
                let shared = Arc::clone(&self.shared);
                let endpoint = Arc::clone(&self.endpoint);
                let stop = Arc::clone(&stop);
                move || run_loop(shared, endpoint, stop)
            })
            .map_err(ClientError::Io)?;
        self.shared.lock_state().loop_thread = Some(handle.thread().id());
        // A thread blocked reading (say in receive_message) hands the reading role over to the
        // loop thread at its next turn; wake it so that turn comes now.
        self.shared.wake_reader();
        *slot = Some(LoopThread { handle, stop });
        Ok(())
    }

    /// Stops the loop thread and waits for it to finish; from inside a callback on the loop
    /// thread it only asks it to stop once the callback returns. No effect when not running.
    pub fn loop_stop(&self) {
        self.loop_wanted.store(false, Ordering::Release);
        self.stop_loop_thread();
    }

    fn stop_loop_thread(&self) {
        let mut slot = self.loop_thread.lock();
        let Some(lt) = slot.as_ref() else {
            return;
        };
        lt.stop.store(true, Ordering::Release);
        let loop_id = lt.handle.thread().id();
        {
            let mut st = self.shared.lock_state();
            if st.loop_thread == Some(loop_id) {
                st.loop_thread = None;
            }
        }
        self.shared.notify();
        self.shared.wake_reader();
        if loop_id == thread::current().id() {
            // A thread cannot join itself; the handle stays, so a later `loop_stop` or the drop
            // from another thread waits for the loop to end.
            return;
        }
        let lt = slot.take().expect("checked above");
        drop(slot);
        let _ = lt.handle.join();
    }

    /// The connection's socket, for the host's own event loop: wait for it to be readable,
    /// then call [`Client::loop_read`]. A reconnect replaces the socket, so ask again after
    /// [`Client::loop_misc`] (or the connect callback) reports one.
    pub fn socket(&self) -> std::os::fd::RawFd {
        self.shared.socket()
    }

    /// Whether bytes wait in the send buffer (the re-sends and offline queue after a reconnect,
    /// or over TLS records that reading produced): wait for the socket to be writable, then
    /// call [`Client::loop_write`]. Other sends are written by the call that makes them.
    pub fn want_write(&self) -> bool {
        self.shared.want_write()
    }

    /// The host event loop's read step: handles everything that can be read without blocking,
    /// running message callbacks on this thread, and sends PINGREQ when due. Fails with
    /// `LoopAlreadyRunning` while the loop thread runs, `Closed` once the connection has ended
    /// (then [`Client::loop_misc`] reconnects, with automatic reconnects on).
    pub fn loop_read(&self) -> Result<(), ClientError> {
        self.shared.read_available()
    }

    /// The host event loop's write step: flushes what [`Client::want_write`] reported.
    pub fn loop_write(&self) -> Result<(), ClientError> {
        self.shared.flush()
    }

    /// The host event loop's timer step, to call at least once a second: keep-alive (PINGREQ
    /// when due, the connection closed when PINGRESP is overdue) and, with automatic reconnects
    /// on and the connection lost, a reconnect once the backoff wait has passed (the attempt
    /// blocks for at most the connect timeout). The reconnect's failure is returned; the next
    /// call tries again after a longer wait.
    pub fn loop_misc(&self) -> Result<(), ClientError> {
        if self.is_connected() {
            self.shared.keep_alive_tick();
            return Ok(());
        }
        if self.shared.lock_state().loop_thread.is_some() {
            return Ok(());
        }
        self.endpoint.reconnect_when_due(&self.shared).map(|_| ())
    }

    /// Sends DISCONNECT, so the broker discards the will ([MQTT-3.14.4-3]), closes the
    /// connection ([MQTT-3.14.4-1]) and stops the loop thread (a later [`Client::reconnect`]
    /// starts it again). A second call does nothing.
    pub fn disconnect(&self) -> Result<(), ClientError> {
        self.disconnect_with(ReasonCode::NORMAL_DISCONNECTION, None)
    }

    /// [`Client::disconnect`] with an MQTT 5.0 reason code — 0x04 asks the server to publish
    /// the will all the same ([MQTT-3.14.4-3] of MQTT 5.0) — and, when given, a new Session
    /// Expiry Interval (MQTT 5.0 section 3.14.2.2.2: not from 0 to above 0). Before MQTT 5.0
    /// neither is sent.
    pub fn disconnect_with(
        &self,
        reason: ReasonCode,
        session_expiry: Option<u32>,
    ) -> Result<(), ClientError> {
        // MQTT 5.0 table 3-10: the codes a client may send ([MQTT-3.14.2-1]).
        const CLIENT_CODES: [u8; 13] = [
            0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x99,
        ];
        if !CLIENT_CODES.contains(&reason.0) {
            return Err(ClientError::InvalidArgument(format!(
                "reason code 0x{:02X} is not one a client may send in DISCONNECT",
                reason.0
            )));
        }
        let mut packet = Disconnect::new(reason);
        if let Some(seconds) = session_expiry {
            packet
                .properties
                .push(crate::protocol::Property::SessionExpiryInterval(seconds));
        }
        // Recorded before DISCONNECT goes out, so the broker closing in response is not
        // mistaken for the cause; after a lost connection it still ends waiters that wait for
        // a reconnect, and stops automatic reconnects.
        let result = match self.shared.mark_ended(CloseReason::Disconnected) {
            None => self
                .shared
                .send_packet(&Packet::Disconnect(packet))
                .inspect(|()| {
                    // Another thread may be flushing: DISCONNECT must reach the socket before
                    // the close cuts it off.
                    self.shared.wait_written(self.deadline());
                    self.shared.close_notify();
                }),
            Some(CloseReason::Disconnected) => Ok(()),
            Some(other) => Err(ClientError::Closed(other)),
        };
        self.shared.close(CloseReason::Disconnected);
        self.stop_loop_thread();
        result
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("close_reason", &self.close_reason())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// What dropping does, callable while other threads still use the client: ends the
    /// connection without DISCONNECT (so every blocked call returns `Closed`), stops automatic
    /// reconnects and the loop thread.
    pub(crate) fn shut_down(&self) {
        self.shared.mark_ended(CloseReason::Dropped);
        self.shared.close(CloseReason::Dropped);
        self.loop_stop();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The rules of a shared subscription `$share/{ShareName}/{filter}` (MQTT 5.0 section 4.8.2):
/// a non-empty share name without wildcards or `/` ([MQTT-4.8.2-1], [MQTT-4.8.2-2]), a
/// filter after it, and no No Local ([MQTT-3.8.3-4]).
fn check_shared(filter: &str, options: &SubscribeOptions) -> Result<(), ClientError> {
    if !filter.starts_with("$share/") {
        return Ok(());
    }
    let valid = split_shared(filter).is_some_and(|(_, inner)| TopicFilter::validate(inner).is_ok());
    if !valid {
        return Err(ClientError::InvalidArgument(format!(
            "{filter:?}: a shared subscription is $share/NAME/FILTER with a share name \
             without wildcards [MQTT-4.8.2-1] [MQTT-4.8.2-2]"
        )));
    }
    if options.options.no_local {
        return Err(ClientError::InvalidArgument(format!(
            "{filter:?}: No Local on a shared subscription is a protocol error [MQTT-3.8.3-4]"
        )));
    }
    Ok(())
}
