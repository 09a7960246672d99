//! C bindings of the embeddable broker (`mqtt_broker_*`).
//!
//! Thin by design: options are collected into a [`BrokerOptions`], C callbacks are wrapped into
//! the Rust hooks, and every call is forwarded to [`Broker`]. This file holds the types C sees;
//! the functions are grouped by role:
//! - `options`: `mqtt_broker_options_*`, including the callback setters;
//! - `options_v5`: the MQTT 5.0 limits, capabilities and enhanced authentication;
//! - `files`: mosquitto.conf, password and ACL files;
//! - `callbacks`: the named adapters (`c_authenticator`, `c_authorizer`, `c_event_hook`) that
//!   turn a C function pointer and its `userdata` into the broker's Rust hooks;
//! - `listeners`: several listeners per broker, TLS options and certificate reload;
//! - `persistence`: the persistence file, its sync mode and statistics;
//! - `bridge`: bridges to upstream brokers and their status;
//! - `server`: creating, starting, stopping and querying a broker.

#![allow(non_camel_case_types, reason = "C API types carry their C names")]

mod bridge;
mod callbacks;
mod files;
mod host;
mod listeners;
mod options;
mod options_v5;
mod persistence;
mod server;

pub use bridge::*;
pub use files::*;
pub use host::*;
pub use listeners::*;
pub use options::*;
pub use options_v5::*;
pub use persistence::*;
pub use server::*;

use std::ffi::{c_char, c_int, c_void};

use super::handle::OptionsHandle;
use crate::broker::{Broker, BrokerOptions, DisconnectReason};

/// Options for `mqtt_broker_new`. Created by `mqtt_broker_options_new` with the defaults below,
/// changed by the setters, released by `mqtt_broker_options_free`. `mqtt_broker_new` copies
/// them, so they may be freed or reused right after. Not thread-safe: do not change one
/// options object from two threads at once.
pub struct mqtt_broker_options {
    inner: BrokerOptions,
}

impl OptionsHandle for mqtt_broker_options {
    type Options = BrokerOptions;
    const ARG: &'static str = "opts";
    fn options_mut(&mut self) -> &mut BrokerOptions {
        &mut self.inner
    }
}

/// A broker created by `mqtt_broker_new` and released by `mqtt_broker_free`. Every function
/// taking a `mqtt_broker *` is thread-safe, except `mqtt_broker_free`, which must be the last
/// call on the handle.
pub struct mqtt_broker {
    broker: Broker,
}

/// What a client asks to do with a topic, passed to the authorizer callback.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_access {
    /// Publish to the topic name (a PUBLISH packet, or the client's will when it is published).
    Publish = 0,
    /// Subscribe with the topic filter.
    Subscribe = 1,
}

/// The verdict an authenticator callback returns, as an `int`. The values are chosen so a
/// callback written as "return true / false" keeps its meaning: 1 accepts, 0 refuses with CONNACK
/// 0x04. Any value other than these three refuses with 0x05, so a mistake fails closed.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_auth_result {
    /// Refuse with CONNACK 0x04, "bad user name or password".
    BadCredentials = 0,
    /// Accept the connection.
    Accept = 1,
    /// Refuse with CONNACK 0x05, "not authorized".
    NotAuthorized = 2,
}

/// Which connection event `mqtt_broker_event` describes.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_broker_event_kind {
    /// A client's CONNECT was accepted (CONNACK 0x00 sent).
    Connected = 0,
    /// A connection accepted earlier has ended.
    Disconnected = 1,
}

/// Why a connection ended (`MQTT_DISCONNECT_REASON_NONE` for connect events).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mqtt_disconnect_reason {
    /// Not a disconnect event.
    None = 0,
    /// The client sent DISCONNECT; its will was discarded.
    ClientDisconnected = 1,
    /// The socket closed or failed without DISCONNECT, or an MQTT 5.0 client sent DISCONNECT
    /// 0x04 (disconnect with will message): the will was published.
    ConnectionLost = 2,
    /// Nothing arrived for 1.5 × the keep-alive; the will was published.
    KeepAliveTimeout = 3,
    /// The client sent a malformed or forbidden packet; the will was published.
    ProtocolViolation = 4,
    /// A new connection with the same client identifier took over; the will was published.
    TakenOver = 5,
    /// The broker is stopping; no will is published.
    BrokerStopping = 6,
    /// The host closed it with `mqtt_broker_disconnect_client`; the will was published.
    Kicked = 7,
    /// The host closed it with `mqtt_broker_disconnect_client`; the will was discarded.
    KickedWithoutWill = 8,
}

impl From<DisconnectReason> for mqtt_disconnect_reason {
    fn from(reason: DisconnectReason) -> Self {
        match reason {
            DisconnectReason::ClientDisconnected => mqtt_disconnect_reason::ClientDisconnected,
            DisconnectReason::ConnectionLost => mqtt_disconnect_reason::ConnectionLost,
            DisconnectReason::KeepAliveTimeout => mqtt_disconnect_reason::KeepAliveTimeout,
            DisconnectReason::ProtocolViolation => mqtt_disconnect_reason::ProtocolViolation,
            DisconnectReason::TakenOver => mqtt_disconnect_reason::TakenOver,
            DisconnectReason::BrokerStopping => mqtt_disconnect_reason::BrokerStopping,
            DisconnectReason::Kicked => mqtt_disconnect_reason::Kicked,
            DisconnectReason::KickedWithoutWill => mqtt_disconnect_reason::KickedWithoutWill,
        }
    }
}

/// A connection event, passed to the event callback. Every pointer in it is valid only during
/// the callback; copy what you keep.
#[repr(C)]
pub struct mqtt_broker_event {
    pub kind: mqtt_broker_event_kind,
    /// The client identifier (assigned by the broker if the client sent an empty one).
    pub client_id: *const c_char,
    /// The user name the client presented; NULL if none. Always NULL for disconnect events.
    pub username: *const c_char,
    /// The peer's address as "ip:port".
    pub peer: *const c_char,
    /// Connect events: the client's clean-session flag.
    pub clean_session: bool,
    /// Connect events: whether a stored session was resumed (the CONNACK flag).
    pub session_present: bool,
    /// Disconnect events: why the connection ended.
    pub reason: mqtt_disconnect_reason,
    /// Disconnect events: the reason in words; NULL for connect events.
    pub reason_text: *const c_char,
    /// Connect events: the protocol level the client speaks, 3 (MQTT 3.1), 4 (3.1.1) or 5
    /// (5.0); 0 for disconnect events.
    pub protocol_level: c_int,
    /// Disconnect events of MQTT 5.0 clients: the reason code of the DISCONNECT that ended the
    /// connection, the client's or the one the broker sent (see `mqtt_reason_code_str`); -1
    /// when none was exchanged.
    pub reason_code: c_int,
}

/// A snapshot of a broker's counters, filled by `mqtt_broker_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct mqtt_broker_statistics {
    /// Clients connected now.
    pub clients_connected: u64,
    /// Sockets accepted since start, refused ones included.
    pub connections_accepted: u64,
    /// Sessions held: connected clients plus stored persistent sessions.
    pub sessions: u64,
    /// Subscriptions held across all sessions.
    pub subscriptions: u64,
    /// Retained messages stored.
    pub retained_messages: u64,
    /// Messages received from clients or published by the host.
    pub messages_received: u64,
    /// PUBLISH packets sent to clients, resends included.
    pub messages_sent: u64,
    /// Messages discarded: a session's queue was full (slow or absent subscriber), or QoS 0 for
    /// an absent client.
    pub messages_dropped: u64,
    /// TLS handshakes that failed on a TLS (or WebSocket over TLS) listener: not TLS at all, a
    /// client certificate untrusted, expired or missing where required, or not finished within
    /// the connect timeout.
    pub tls_handshakes_failed: u64,
    /// WebSocket connections refused or closed for breaking the protocol: an upgrade refused
    /// (path, subprotocol, origin) or not finished within the connect timeout, a text frame, a
    /// malformed frame or one above the maximum packet size.
    pub websocket_refused: u64,
}

/// What a connecting client presents, for `mqtt_broker_authenticator_ex`. Every pointer is
/// valid only during the call; strings are NUL-terminated UTF-8.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_auth_request {
    /// The client identifier (after the broker assigned one to an empty id).
    pub client_id: *const c_char,
    /// NULL when the client sent no user name.
    pub username: *const c_char,
    /// The password bytes (binary, not NUL-terminated); NULL when none was sent.
    pub password: *const u8,
    pub password_len: usize,
    /// The peer's address as "ip:port" ("[ip6]:port" for IPv6).
    pub peer: *const c_char,
    /// On a TLS listener that asks for client certificates: the verified certificate's Common
    /// Name (or whole subject); NULL otherwise.
    pub certificate_identity: *const c_char,
    /// 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
    pub protocol_level: u8,
}

/// Decides whether a client may connect, seeing all it presents (`mqtt_auth_request`). Returns
/// an `mqtt_auth_result` value as an `int`.
pub type mqtt_broker_authenticator_ex =
    Option<unsafe extern "C" fn(userdata: *mut c_void, request: *const mqtt_auth_request) -> c_int>;

/// Decides whether a client may connect. Returns an `mqtt_auth_result` value as an `int`.
/// `username` and `password` are NULL when the client sent none (`password_len` is then 0); the
/// password is binary and not NUL-terminated. The strings are valid only during the call.
pub type mqtt_broker_authenticator = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        client_id: *const c_char,
        username: *const c_char,
        password: *const u8,
        password_len: usize,
    ) -> c_int,
>;

/// Decides whether a client may publish to `topic` (a topic name) or subscribe with it (a topic
/// filter). Returning false refuses: a subscription gets return code 0x80 in SUBACK, a PUBLISH is
/// acknowledged as usual but not forwarded ([MQTT-3.3.5-2]). `username` is NULL when the client
/// sent none. The strings are valid only during the call.
pub type mqtt_broker_authorizer = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        client_id: *const c_char,
        username: *const c_char,
        topic: *const c_char,
        access: mqtt_access,
    ) -> bool,
>;

/// One step of an MQTT 5.0 enhanced authentication exchange, passed to the enhanced
/// authenticator. Every pointer in it is valid only during the callback.
#[repr(C)]
pub struct mqtt_auth_step {
    /// Identifies the exchange, so state kept between steps (a nonce, say) can be keyed by it;
    /// unique for the broker's lifetime.
    pub exchange: u64,
    /// The client identifier (assigned by the broker if the client sent an empty one).
    pub client_id: *const c_char,
    /// The user name the client presented; NULL if none.
    pub username: *const c_char,
    /// The Authentication Method the client named.
    pub method: *const c_char,
    /// The Authentication Data the client sent in this step (not NUL-terminated); NULL, with
    /// `data_len` 0, if none.
    pub data: *const u8,
    pub data_len: usize,
    /// 0 for the packet that opens the exchange (CONNECT, or AUTH 0x19 when re-authenticating),
    /// then 1, 2, ... for each AUTH the client sends.
    pub step: u32,
    /// A connected client re-authenticating.
    pub reauthenticating: bool,
    /// The peer's address as "ip:port".
    pub peer: *const c_char,
}

/// Where the enhanced authenticator leaves the data for the client, with
/// `mqtt_auth_reply_set_data`, and the server it sends a refused client to, with
/// `mqtt_auth_reply_set_server_reference`; only valid during the callback.
pub struct mqtt_auth_reply {
    pub(crate) data: Option<Vec<u8>>,
    pub(crate) server_reference: Option<String>,
}

/// Decides one step of an MQTT 5.0 enhanced authentication (see
/// `mqtt_broker_options_set_enhanced_authenticator`): returns 0x00 (success), 0x18 (continue)
/// or a failure reason code of 0x80 and above, as an `int`.
pub type mqtt_broker_enhanced_authenticator = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        step: *const mqtt_auth_step,
        reply: *mut mqtt_auth_reply,
    ) -> c_int,
>;

/// A PUBLISH from a client, passed to the message hook before it is routed. Every pointer in it
/// is valid only during the callback.
#[repr(C)]
pub struct mqtt_hooked_message {
    pub client_id: *const c_char,
    /// NULL when the client presented no user name.
    pub username: *const c_char,
    pub topic: *const c_char,
    /// Not NUL-terminated; NULL when `payload_len` is 0.
    pub payload: *const u8,
    pub payload_len: usize,
    pub qos: c_int,
    pub retain: bool,
}

/// Where the message hook leaves a replacement topic and payload, with
/// `mqtt_hook_reply_replace`; only valid during the callback.
pub struct mqtt_hook_reply {
    pub(crate) replacement: Option<(String, Vec<u8>)>,
}

/// Sees every PUBLISH a client sends, after authorization and before routing (see
/// `mqtt_broker_options_set_message_hook`). Returns 0 to route it (or its replacement), or a
/// failure reason code of 0x80 and above to drop it.
pub type mqtt_broker_message_hook = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        message: *const mqtt_hooked_message,
        reply: *mut mqtt_hook_reply,
    ) -> c_int,
>;

/// A connected client, passed to the callback of `mqtt_broker_clients`. Every pointer in it is
/// valid only during the callback.
#[repr(C)]
pub struct mqtt_client_info {
    pub client_id: *const c_char,
    /// NULL when the client presented no user name.
    pub username: *const c_char,
    /// The peer's address as "ip:port".
    pub peer: *const c_char,
    /// 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
    pub protocol_level: c_int,
    /// When the CONNECT was accepted, in seconds since the Unix epoch.
    pub connected_since: u64,
    /// Messages waiting in the client's session queue.
    pub queued: usize,
}

/// Receives one connected client of `mqtt_broker_clients`.
pub type mqtt_broker_client_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, client: *const mqtt_client_info)>;

/// The types of the broker's log lines, as bits of the mask given to
/// `mqtt_broker_options_set_log_callback` and as the `type` its callback receives (an `int`).
/// The values are libmosquitto's `MOSQ_LOG_*`, and the types mosquitto.conf's `log_type` names.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mqtt_broker_log_type {
    /// `information`: nothing at the moment (mosquitto's informational lines).
    Information = 0x01,
    /// `notice`: the start and its listeners; "New client connected from ADDR as ID (p2, c1,
    /// k60, u'USER')."; "Client ID disconnected." (and the other ways a connection ends).
    Notice = 0x02,
    /// `warning`: suspicious lines of the password and ACL files, at the start.
    Warning = 0x04,
    /// `error`.
    Error = 0x08,
    /// `debug`: "Received PACKET from ID" for every packet a client sends (costly: every PUBLISH
    /// is formatted).
    Debug = 0x10,
    /// `subscribe`: "ID QOS FILTER" for each filter a client subscribes to.
    Subscribe = 0x20,
    /// `unsubscribe`: "ID FILTER" for each filter a client unsubscribes from.
    Unsubscribe = 0x40,
    /// `websockets`: accepted in masks; the broker writes no lines of this type yet.
    Websockets = 0x80,
    /// Every type.
    All = 0xFFFF,
}

/// Receives the broker's log lines of the types asked for: `type` is one
/// `mqtt_broker_log_type` bit and `message` the line, without time stamp or newline, valid only
/// during the call.
///
/// Which thread calls it: the broker thread the event happens on — a connection's thread, the
/// listener or parking thread (connects accepted at once, parked connections closing), or the
/// thread inside `mqtt_broker_start` for the start lines — concurrently from several threads.
///
/// What it may call: `mqtt_broker_publish`, `mqtt_broker_stats`, `mqtt_broker_port`, and
/// anything outside libmqtt that does not block for long (it delays the connection or, on the
/// listener or parking thread, every new connection); not `mqtt_broker_free`,
/// `mqtt_broker_wait` or `mqtt_broker_stop` on its own broker. No broker lock is held.
pub type mqtt_broker_log_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, r#type: c_int, message: *const c_char)>;

/// Receives connect and disconnect events. `event` and its strings are valid only during the
/// call.
pub type mqtt_broker_event_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const mqtt_broker_event)>;
