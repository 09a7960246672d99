//! The blocking MQTT client (3.1, 3.1.1 and 5.0): explicit receive or a background loop thread.
//!
//! ```no_run
//! use mqtt::client::{Client, ConnectOptions};
//! use mqtt::protocol::QoS;
//!
//! let client = Client::connect("localhost", 1883, &ConnectOptions::new())?;
//! client.subscribe("sensors/#", QoS::AtLeastOnce, |m| {
//!     println!("{} {:?}", m.topic, m.payload);
//! })?;
//! client.publish("sensors/t1", b"21.5", QoS::AtLeastOnce, false)?;
//! client.receive_message(None)?; // runs the callback
//! client.disconnect()?;
//! # Ok::<(), mqtt::client::ClientError>(())
//! ```
//!
//! # Threads and callbacks
//! Every method may be called from any thread and from inside a callback. Callbacks run on the
//! thread that is reading the connection: the loop thread while it runs (`loop_start`),
//! otherwise the thread inside `receive_message` or inside a call that waits for a reply
//! (`subscribe`, `unsubscribe`, `publish` at QoS 1/2, `ping`, a blocked `publish_async`).
//! Callbacks run one at a time, in arrival order; a callback should return promptly, as replies
//! other threads wait for are read only between callbacks. See [`subscriptions`] for which
//! callback runs when several filters match.
//!
//! Keep-alive: PINGREQ goes out when nothing was sent for a keep-alive period, from whichever
//! thread reads; with neither the loop thread nor a reading call, no one pings.
//!
//! # Reconnecting and completions
//! The session outlives a connection: [`Client::reconnect`] (or the loop thread, with
//! [`ConnectOptions::auto_reconnect`]) opens a new one with the same client id and, with clean
//! session 0, re-sends what was not acknowledged ([MQTT-4.4.0-1]). [`Client::set_on_published`]
//! reports how each QoS 1/2 publish ended, for pipelined senders.
//!
//! # MQTT 5.0
//! With [`ConnectOptions::protocol`] set to [`ProtocolLevel::V5`](crate::protocol::ProtocolLevel)
//! the CONNECT properties come from typed methods ([`ConnectOptions::session_expiry`], ...),
//! publishes and subscriptions take [`PublishOptions`] and [`SubscribeOptions`]
//! ([`Client::publish_ex`], [`Client::subscribe_ex`]), and a received [`Message`] carries its
//! properties. Results carry the server's reason codes; failures keep them
//! ([`ClientError::reason_code`]). The client keeps the limits the CONNACK sets (Receive
//! Maximum, Maximum Packet Size, Topic Alias Maximum with automatic aliases, Server Keep
//! Alive, Maximum QoS, Retain Available) and the Receive Maximum it announced.
//! [`Client::request`] does request/response; [`Client::reauthenticate`] enhanced
//! re-authentication.
//!
//! # Lifecycle
//! The [`Callbacks`] in [`ConnectOptions`] apply from the first CONNECT on: a default message
//! callback for messages no filter's callback takes (a resumed session's queued messages, say),
//! and callbacks for every CONNACK, every connection's end and log lines. Automatic reconnects
//! back off exponentially with jitter, subscribe again when the broker has no session
//! ([`ConnectOptions::resubscribe`]), and meanwhile put publishes in a bounded
//! [`OfflineQueue`] (`ClientError::Queued`). Without any thread of the library, the host's own
//! event loop can drive the connection: [`Client::socket`], [`Client::want_write`],
//! [`Client::loop_read`], [`Client::loop_write`], [`Client::loop_misc`].
//!
//! # TLS
//! With [`ConnectOptions::tls`] (a [`ClientTls`](crate::tls::ClientTls): CA file or the
//! system's CA certificates, an optional client certificate, an optional server name) the
//! connection runs over TLS (rustls; MQTT 5.0 section 4.2 lets MQTT run over any ordered,
//! lossless, bi-directional connection, [MQTT-4.2-1]): the handshake completes inside
//! `connect` and every reconnect, within the connect timeout, the server's certificate and name
//! verified unless `insecure`. [`Client::connect_url`] takes `mqtt://` and `mqtts://` URLs.
//! Everything else — the loop thread, automatic reconnects, the event-loop calls on
//! [`Client::socket`] (the TCP socket) — works the same over TLS.
//!
//! # WebSocket
//! [`Client::connect_url`] also takes `ws://host[:port][/path]` and `wss://host[:port][/path]`
//! (ports 80 and 443, path `/mqtt` unless given): MQTT over WebSocket (MQTT 5.0 and 3.1.1
//! section 6, RFC 6455, with tungstenite), and for `wss` over TLS with the same settings as
//! `mqtts`. The upgrade offers the subprotocol `mqtt` ([MQTT-6.0.0-3]) and runs inside connect
//! and every reconnect, within the connect timeout; MQTT travels in binary frames
//! ([MQTT-6.0.0-1]) however packets and frames line up ([MQTT-6.0.0-2]). The loop thread,
//! reconnects and the event-loop calls on [`Client::socket`] (still the TCP socket) work the
//! same over WebSocket.

mod aliases;
mod connection;
mod error;
mod handle;
mod inbound;
mod message_options;
mod options;
mod outbound;
mod published;
mod reconnect;
mod request;
mod session;
mod subscriptions;
mod tls_session;
mod transport;
mod url;
mod websocket;

pub use error::{ClientError, CloseReason, ServerReason};
pub use handle::Client;
pub use message_options::{PublishOptions, SubscribeOptions};
pub use options::{
    AuthCallback, Callbacks, ConnectCallback, ConnectOptions, DisconnectCallback, LogCallback,
    LogLevel, OfflineQueue, QueueOverflow, Will,
};
pub use published::{PublishOutcome, PublishedCallback};
pub(crate) use reconnect::{jittered, seed};
pub(crate) use subscriptions::NO_PROPERTIES;
pub use subscriptions::{Message, MessageCallback, OwnedMessage};
