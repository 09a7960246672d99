//! Broker-wide counters. Hot-path counters are bumped once per batch, not once per message, so
//! cores do not fight over their cache lines.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the broker's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// Clients connected now (CONNACK 0x00 sent, connection not yet closed).
    pub clients_connected: u64,
    /// Sockets accepted since start, refused ones included.
    pub connections_accepted: u64,
    /// Sessions held: connected clients plus persistent sessions of absent ones.
    pub sessions: u64,
    /// Subscriptions held across all sessions.
    pub subscriptions: u64,
    /// Retained messages stored.
    pub retained_messages: u64,
    /// PUBLISH packets accepted from clients and messages published by the host.
    pub messages_received: u64,
    /// PUBLISH packets written to clients (resends included).
    pub messages_sent: u64,
    /// Messages discarded because a session's queue was full, or QoS 0 messages for an absent or
    /// closing session.
    pub messages_dropped: u64,
    /// The most clients connected at once since the broker started.
    pub clients_maximum: u64,
    /// Bytes read from and written to client sockets after their CONNECT.
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// TLS handshakes that failed on a TLS or WebSocket-over-TLS listener: refused by the TLS
    /// layer (plaintext or garbage instead of TLS, a client certificate untrusted, expired or
    /// missing where required, the client's own fatal alert) or not finished within the connect
    /// timeout. A client that closes the socket mid-handshake is not counted.
    pub tls_handshakes_failed: u64,
    /// WebSocket connections refused or closed for breaking the protocol: an upgrade refused
    /// (another path, no `mqtt` subprotocol, an origin not allowed, not an upgrade request at
    /// all) or not finished within the connect timeout, and, once open, a text frame, a
    /// malformed frame or one above the maximum packet size (MQTT 5.0 section 6).
    pub websocket_refused: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub clients_connected: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub sessions: AtomicU64,
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub messages_dropped: AtomicU64,
    pub clients_maximum: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub tls_handshakes_failed: AtomicU64,
    pub websocket_refused: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn sub(counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// The counters' values; the subscription and retained-message counts, which the tree and
    /// the store hold, are left 0 for `State::stats` to fill in.
    pub fn snapshot(&self) -> BrokerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BrokerStats {
            clients_connected: get(&self.clients_connected),
            connections_accepted: get(&self.connections_accepted),
            sessions: get(&self.sessions),
            subscriptions: 0,
            retained_messages: 0,
            messages_received: get(&self.messages_received),
            messages_sent: get(&self.messages_sent),
            messages_dropped: get(&self.messages_dropped),
            clients_maximum: get(&self.clients_maximum),
            bytes_received: get(&self.bytes_received),
            bytes_sent: get(&self.bytes_sent),
            tls_handshakes_failed: get(&self.tls_handshakes_failed),
            websocket_refused: get(&self.websocket_refused),
        }
    }
}
