//! The broker's listening sockets: what each one speaks (MQTT over TCP, over TLS, over
//! WebSocket, over WebSocket over TLS), binding them at start, and the TLS configurations that `Broker::reload_tls` replaces
//! while connections stay up (a connection keeps the configuration it was accepted with).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::ServerConfig;

use super::io::Io;
use super::stats::Counters;
use super::websocket::{WebSocketLayer, WebSocketOptions};
use crate::tls::{ServerTls, TlsError};

/// What a listener speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerKind {
    /// MQTT over TCP.
    Tcp,
    /// MQTT over TLS (1.2 and 1.3; ALPN "mqtt").
    Tls(ServerTls),
    /// MQTT over WebSocket (MQTT 5.0 section 6), for browsers.
    WebSocket(WebSocketOptions),
    /// MQTT over WebSocket over TLS.
    SecureWebSocket(ServerTls, WebSocketOptions),
}

impl ListenerKind {
    /// The URL scheme of the kind: `mqtt`, `mqtts`, `ws` or `wss`.
    pub fn scheme(&self) -> &'static str {
        match self {
            ListenerKind::Tcp => "mqtt",
            ListenerKind::Tls(_) => "mqtts",
            ListenerKind::WebSocket(_) => "ws",
            ListenerKind::SecureWebSocket(..) => "wss",
        }
    }

    fn tls(&self) -> Option<&ServerTls> {
        match self {
            ListenerKind::Tls(tls) | ListenerKind::SecureWebSocket(tls, _) => Some(tls),
            _ => None,
        }
    }

    fn websocket(&self) -> Option<&WebSocketOptions> {
        match self {
            ListenerKind::WebSocket(ws) | ListenerKind::SecureWebSocket(_, ws) => Some(ws),
            _ => None,
        }
    }
}

/// One listening socket to open at start: an address (IPv4 or IPv6 literal, or a host name
/// resolved once), a port (0 picks a free one) and what it speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub address: String,
    pub port: u16,
    pub kind: ListenerKind,
}

impl Listener {
    pub fn tcp(address: impl Into<String>, port: u16) -> Listener {
        Listener {
            address: address.into(),
            port,
            kind: ListenerKind::Tcp,
        }
    }

    pub fn tls(address: impl Into<String>, port: u16, tls: ServerTls) -> Listener {
        Listener {
            address: address.into(),
            port,
            kind: ListenerKind::Tls(tls),
        }
    }

    /// A WebSocket listener; with `tls`, WebSocket over TLS.
    pub fn websocket(
        address: impl Into<String>,
        port: u16,
        options: WebSocketOptions,
        tls: Option<ServerTls>,
    ) -> Listener {
        Listener {
            address: address.into(),
            port,
            kind: match tls {
                None => ListenerKind::WebSocket(options),
                Some(tls) => ListenerKind::SecureWebSocket(tls, options),
            },
        }
    }
}

/// A listener as bound, for [`super::Broker::listeners`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundListener {
    /// The scheme of what it speaks: `mqtt`, `mqtts`, `ws` or `wss`.
    pub scheme: &'static str,
    /// The address it listens on, with the port it got.
    pub address: SocketAddr,
    /// The path a WebSocket listener serves.
    pub path: Option<String>,
}

impl BoundListener {
    /// `SCHEME://ADDRESS:PORT`, plus the path for WebSocket listeners (IPv6 in brackets).
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme,
            self.address,
            self.path.as_deref().unwrap_or("")
        )
    }
}

/// A TLS listener's settings and the configuration built from them now.
pub(crate) struct TlsSlot {
    settings: ServerTls,
    config: RwLock<Arc<ServerConfig>>,
}

impl TlsSlot {
    fn new(settings: ServerTls) -> Result<TlsSlot, TlsError> {
        let config = settings.config()?;
        Ok(TlsSlot {
            settings,
            config: RwLock::new(config),
        })
    }

    /// Reads the certificate, key and CA files again; on failure the configuration in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = self.settings.config()?;
        *self.config.write() = config;
        Ok(())
    }
}

/// A bound listening socket with what it needs to accept.
pub(crate) struct Bound {
    pub socket: TcpListener,
    pub tls: Option<Arc<TlsSlot>>,
    pub websocket: Option<Arc<WebSocketOptions>>,
}

impl Bound {
    /// The `Io` of a socket this listener accepted; on a TLS or WebSocket listener it counts its
    /// refusal, if any, in `counters`.
    pub fn io(
        &self,
        stream: TcpStream,
        max_packet_size: usize,
        counters: &Arc<Counters>,
    ) -> io::Result<Io> {
        let mut io = match &self.tls {
            None => Io::new(stream, max_packet_size)?,
            Some(slot) => {
                let config = Arc::clone(&slot.config.read());
                let mut io = Io::with_tls(stream, max_packet_size, config)?;
                io.set_identity_as_username(slot.settings.use_identity_as_username);
                io
            }
        };
        if let Some(options) = &self.websocket {
            io.set_websocket(WebSocketLayer::new(Arc::clone(options), max_packet_size));
        }
        if !self.is_plain() {
            io.count_refusals_in(Arc::clone(counters));
        }
        Ok(io)
    }

    /// Whether a refusing CONNACK can be written at once (plain MQTT over TCP).
    pub fn is_plain(&self) -> bool {
        self.tls.is_none() && self.websocket.is_none()
    }
}

/// Binds every listener (non-blocking sockets), building the TLS configurations first so a bad
/// certificate fails the start before any port is taken.
pub(crate) fn bind(listeners: &[Listener]) -> io::Result<(Vec<Bound>, Vec<BoundListener>)> {
    let mut slots = Vec::with_capacity(listeners.len());
    for listener in listeners {
        slots.push(match listener.kind.tls() {
            None => None,
            Some(settings) => {
                Some(Arc::new(TlsSlot::new(settings.clone()).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, e)
                })?))
            }
        });
    }
    let mut bound = Vec::with_capacity(listeners.len());
    let mut described = Vec::with_capacity(listeners.len());
    for (listener, tls) in listeners.iter().zip(slots) {
        let address = listener
            .address
            .trim_start_matches('[')
            .trim_end_matches(']');
        let addresses: Vec<_> = (address, listener.port).to_socket_addrs()?.collect();
        let socket = TcpListener::bind(&addresses[..])?;
        socket.set_nonblocking(true)?;
        let websocket = listener.kind.websocket().cloned();
        described.push(BoundListener {
            scheme: listener.kind.scheme(),
            address: socket.local_addr()?,
            path: websocket.as_ref().map(|w| w.path.clone()),
        });
        bound.push(Bound {
            socket,
            tls,
            websocket: websocket.map(Arc::new),
        });
    }
    Ok((bound, described))
}
