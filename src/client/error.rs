//! Every way a client call can fail, each distinct so callers (and the C status codes) can tell
//! them apart.

use std::fmt;
use std::io;

use crate::protocol::{
    Connack, ConnectReturnCode, DecodeError, EncodeError, Properties, PropertyId, ReasonCode,
};
use crate::topic::TopicError;

/// Why a connection is no longer usable. Kept by the connection so every later call reports the
/// same cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// This client sent DISCONNECT.
    Disconnected,
    /// The `Client` was dropped (or freed) without DISCONNECT.
    Dropped,
    /// `Client::reconnect` ended an open connection (without DISCONNECT) to open a new one.
    Reconnecting,
    /// The broker closed the TCP connection.
    ClosedByPeer,
    /// A read or write failed; the text is the operating system's.
    Io(String),
    /// No PINGRESP arrived within the keep-alive period after a PINGREQ.
    KeepAliveTimeout,
    /// The broker sent something the protocol does not allow a server to send.
    ProtocolViolation(String),
    /// An MQTT 5.0 server sent DISCONNECT (MQTT 5.0 section 3.14) with this reason code, and
    /// perhaps a Reason String and a Server Reference (0x9C use another server, 0x9D server
    /// moved).
    ServerDisconnect(ServerReason),
}

/// A reason code an MQTT 5.0 server gave, with the texts that may come with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReason {
    pub code: ReasonCode,
    /// The Reason String property, meant for people.
    pub reason_string: Option<String>,
    /// The Server Reference property: where to connect instead (MQTT 5.0 section 4.11).
    pub server_reference: Option<String>,
}

impl ServerReason {
    pub(crate) fn new(code: ReasonCode, properties: &Properties) -> ServerReason {
        ServerReason {
            code,
            reason_string: properties
                .string(PropertyId::ReasonString)
                .map(str::to_owned),
            server_reference: properties
                .string(PropertyId::ServerReference)
                .map(str::to_owned),
        }
    }
}

impl fmt::Display for ServerReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reason code 0x{:02X} ({})",
            self.code.0,
            self.code.description()
        )?;
        if let Some(text) = &self.reason_string {
            write!(f, ": {text}")?;
        }
        if let Some(server) = &self.server_reference {
            write!(f, "; use server {server}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Disconnected => f.write_str("disconnected by this client"),
            CloseReason::Dropped => f.write_str("connection closed by this client"),
            CloseReason::Reconnecting => {
                f.write_str("connection closed by this client to reconnect")
            }
            CloseReason::ClosedByPeer => f.write_str("connection closed by the broker"),
            CloseReason::Io(e) => write!(f, "connection lost: {e}"),
            CloseReason::KeepAliveTimeout => {
                f.write_str("broker did not answer PINGREQ within the keep-alive period")
            }
            CloseReason::ProtocolViolation(e) => write!(f, "broker broke the protocol: {e}"),
            CloseReason::ServerDisconnect(reason) => {
                write!(f, "broker sent DISCONNECT, {reason}")
            }
        }
    }
}

#[derive(Debug)]
pub enum ClientError {
    /// A value the caller passed is out of range or inconsistent.
    InvalidArgument(String),
    /// A topic name or filter breaks the topic rules (section 4.7).
    InvalidTopic(TopicError),
    /// The host name did not resolve to any address.
    Resolve(String),
    /// No TCP connection could be made; the text covers every address tried.
    ConnectFailed(String),
    /// The operation did not finish within its timeout.
    Timeout,
    /// CONNACK 0x01.
    UnacceptableProtocolVersion,
    /// CONNACK 0x02.
    IdentifierRejected,
    /// CONNACK 0x03.
    ServerUnavailable,
    /// CONNACK 0x04.
    BadUsernameOrPassword,
    /// CONNACK 0x05.
    NotAuthorized,
    /// SUBACK returned 0x80 (MQTT 3.1.1) or a reason code of 0x80 or above (MQTT 5.0) for
    /// this filter.
    SubscribeRefused(String),
    /// An MQTT 5.0 CONNACK refused the connection (0x87 not authorized, 0x86 bad user name or
    /// password, 0x8A banned, 0x9C use another server, ...), with its Reason String and
    /// Server Reference. The variants above are MQTT 3.1.1's return codes.
    Refused(ServerReason),
    /// An MQTT 5.0 PUBACK or PUBREC answered a QoS 1 or 2 publish with a reason code of 0x80 or
    /// above (not authorized, quota exceeded, ...): the server did not accept the message.
    PublishRefused(ServerReason),
    /// An MQTT 5.0 UNSUBACK answered with a reason code of 0x80 or above.
    UnsubscribeRefused(String, ReasonCode),
    /// The packet is larger than the Maximum Packet Size the MQTT 5.0 server announced; it was
    /// not sent ([MQTT-3.2.2-15] of MQTT 5.0).
    PacketTooLarge { size: usize, maximum: u32 },
    /// `reauthenticate` without enhanced authentication at connect, or an AUTH exchange the
    /// client's callback gave up.
    Authentication(String),
    /// The connection is closed; nothing more can be sent or received on it.
    Closed(CloseReason),
    /// The broker broke the protocol during connect (the connection is closed), or refused the
    /// WebSocket upgrade (an HTTP error, the subprotocol `mqtt` not selected).
    Protocol(String),
    /// A packet could not be encoded (a field or the whole packet too long).
    Encode(EncodeError),
    /// `loop_start` while the loop thread already runs.
    LoopAlreadyRunning,
    /// An I/O error during connect.
    Io(io::Error),
    /// TLS failed: the settings could not be used (an unreadable CA or certificate file, ...),
    /// the server's certificate was not accepted (unknown issuer, wrong name, expired), or the
    /// server refused the handshake (an alert, such as a missing client certificate).
    Tls(String),
    /// Not a failure of the publish, only of the wish to finish it now: the connection is down and the
    /// publish waits in the offline queue (or, in a persistent session, for a re-send) until a
    /// reconnect sends it. The identifier (QoS 1/2) completes later through `wait_published`
    /// and the completion callback.
    Queued(Option<crate::protocol::PacketId>),
    /// The offline queue is full (refuse-new policy) or the message is larger than its byte
    /// limit; nothing was queued.
    QueueFull,
}

impl ClientError {
    /// The refusal error for a CONNACK that does not accept the connection: an MQTT 5.0 one
    /// keeps its reason code and texts (`Refused`), an MQTT 3.1.1 one becomes its variant.
    pub(crate) fn from_connack(connack: &Connack, v5: bool) -> Option<ClientError> {
        if connack.code.is_success() {
            return None;
        }
        if v5 {
            return Some(ClientError::Refused(ServerReason::new(
                connack.code,
                &connack.properties,
            )));
        }
        Self::from_refusal(connack.code)
    }

    /// The reason code a server gave for this failure, if it gave one.
    pub fn reason_code(&self) -> Option<ReasonCode> {
        match self {
            ClientError::Refused(r) | ClientError::PublishRefused(r) => Some(r.code),
            ClientError::UnsubscribeRefused(_, code) => Some(*code),
            ClientError::Closed(CloseReason::ServerDisconnect(r)) => Some(r.code),
            other => other.refusal_code().map(ConnectReturnCode::to_reason),
        }
    }

    /// The refusal error for a non-zero CONNACK return code.
    pub(crate) fn from_refusal(code: ReasonCode) -> Option<ClientError> {
        Some(match ConnectReturnCode::from_reason(code) {
            ConnectReturnCode::Accepted => return None,
            ConnectReturnCode::UnacceptableProtocolVersion => {
                ClientError::UnacceptableProtocolVersion
            }
            ConnectReturnCode::IdentifierRejected => ClientError::IdentifierRejected,
            ConnectReturnCode::ServerUnavailable => ClientError::ServerUnavailable,
            ConnectReturnCode::BadUsernameOrPassword => ClientError::BadUsernameOrPassword,
            ConnectReturnCode::NotAuthorized => ClientError::NotAuthorized,
        })
    }

    fn refusal_code(&self) -> Option<ConnectReturnCode> {
        Some(match self {
            ClientError::UnacceptableProtocolVersion => {
                ConnectReturnCode::UnacceptableProtocolVersion
            }
            ClientError::IdentifierRejected => ConnectReturnCode::IdentifierRejected,
            ClientError::ServerUnavailable => ConnectReturnCode::ServerUnavailable,
            ClientError::BadUsernameOrPassword => ConnectReturnCode::BadUsernameOrPassword,
            ClientError::NotAuthorized => ConnectReturnCode::NotAuthorized,
            _ => return None,
        })
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(code) = self.refusal_code() {
            return write!(
                f,
                "broker refused the connection (CONNACK {}): {}",
                code as u8,
                code.description()
            );
        }
        match self {
            ClientError::InvalidArgument(s) => write!(f, "invalid argument: {s}"),
            ClientError::InvalidTopic(e) => write!(f, "invalid topic: {e}"),
            ClientError::Resolve(s) => write!(f, "cannot resolve host: {s}"),
            ClientError::ConnectFailed(s) => write!(f, "cannot connect: {s}"),
            ClientError::Timeout => f.write_str("timed out"),
            ClientError::SubscribeRefused(filter) => {
                write!(f, "broker refused the subscription to {filter:?}")
            }
            ClientError::Closed(reason) => write!(f, "connection closed: {reason}"),
            ClientError::Protocol(s) => write!(f, "protocol error: {s}"),
            ClientError::Encode(e) => write!(f, "cannot encode packet: {e}"),
            ClientError::LoopAlreadyRunning => f.write_str("the loop thread is already running"),
            ClientError::Io(e) => write!(f, "I/O error: {e}"),
            ClientError::Tls(s) => write!(f, "TLS: {s}"),
            ClientError::Queued(Some(id)) => write!(
                f,
                "not connected: queued as packet id {id}, sent after the reconnect"
            ),
            ClientError::Queued(None) => {
                f.write_str("not connected: queued, sent after the reconnect")
            }
            ClientError::QueueFull => f.write_str("not connected and the offline queue is full"),
            ClientError::Refused(reason) => write!(f, "broker refused the connection: {reason}"),
            ClientError::PublishRefused(reason) => {
                write!(f, "broker refused the publish: {reason}")
            }
            ClientError::UnsubscribeRefused(filter, code) => write!(
                f,
                "broker refused to unsubscribe from {filter:?}: reason code 0x{:02X} ({})",
                code.0,
                code.description()
            ),
            ClientError::PacketTooLarge { size, maximum } => write!(
                f,
                "packet of {size} bytes exceeds the server's Maximum Packet Size of {maximum}"
            ),
            ClientError::Authentication(s) => write!(f, "authentication: {s}"),
            _ => unreachable!("refusals are handled above"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<EncodeError> for ClientError {
    fn from(e: EncodeError) -> Self {
        ClientError::Encode(e)
    }
}

impl From<TopicError> for ClientError {
    fn from(e: TopicError) -> Self {
        ClientError::InvalidTopic(e)
    }
}

impl From<DecodeError> for CloseReason {
    fn from(e: DecodeError) -> Self {
        CloseReason::ProtocolViolation(e.to_string())
    }
}
