//! MQTT 3.1.1 control packets as plain data (section 3).

use std::num::NonZeroU16;
use std::sync::Arc;

use crate::topic::TopicName;

/// A packet identifier: never zero wherever present ([MQTT-2.3.1-1]).
pub type PacketId = NonZeroU16;

/// Quality of service levels (section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    pub fn from_u8(v: u8) -> Option<QoS> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// The QoS of a PUBLISH together with its packet identifier, which is present exactly when
/// QoS > 0 ([MQTT-2.3.1-5]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QosPid {
    AtMostOnce,
    AtLeastOnce(PacketId),
    ExactlyOnce(PacketId),
}

impl QosPid {
    pub fn qos(self) -> QoS {
        match self {
            QosPid::AtMostOnce => QoS::AtMostOnce,
            QosPid::AtLeastOnce(_) => QoS::AtLeastOnce,
            QosPid::ExactlyOnce(_) => QoS::ExactlyOnce,
        }
    }

    pub fn packet_id(self) -> Option<PacketId> {
        match self {
            QosPid::AtMostOnce => None,
            QosPid::AtLeastOnce(id) | QosPid::ExactlyOnce(id) => Some(id),
        }
    }

    /// Combines a QoS with an identifier; the identifier is ignored for QoS 0.
    pub fn new(qos: QoS, id: PacketId) -> QosPid {
        match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            QoS::AtLeastOnce => QosPid::AtLeastOnce(id),
            QoS::ExactlyOnce => QosPid::ExactlyOnce(id),
        }
    }
}

/// Protocol revision announced in CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolLevel {
    /// MQTT 3.1: protocol name "MQIsdp", level 3.
    V31,
    /// MQTT 3.1.1: protocol name "MQTT", level 4.
    V311,
}

impl ProtocolLevel {
    pub fn name(self) -> &'static str {
        match self {
            ProtocolLevel::V31 => "MQIsdp",
            ProtocolLevel::V311 => "MQTT",
        }
    }

    pub fn level(self) -> u8 {
        match self {
            ProtocolLevel::V31 => 3,
            ProtocolLevel::V311 => 4,
        }
    }
}

/// The will message carried by CONNECT (section 3.1.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    pub topic: TopicName,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
}

/// CONNECT (section 3.1). The password is binary data and needs a user name ([MQTT-3.1.2-22]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub protocol: ProtocolLevel,
    pub clean_session: bool,
    pub keep_alive: u16,
    /// May be empty: the server then assigns one if clean_session is set ([MQTT-3.1.3-6]).
    pub client_id: String,
    pub will: Option<LastWill>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
}

/// CONNACK return codes (section 3.2.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnectReturnCode {
    Accepted = 0,
    UnacceptableProtocolVersion = 1,
    IdentifierRejected = 2,
    ServerUnavailable = 3,
    BadUsernameOrPassword = 4,
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Accepted,
            1 => Self::UnacceptableProtocolVersion,
            2 => Self::IdentifierRejected,
            3 => Self::ServerUnavailable,
            4 => Self::BadUsernameOrPassword,
            5 => Self::NotAuthorized,
            _ => return None,
        })
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::Accepted => "connection accepted",
            Self::UnacceptableProtocolVersion => "unacceptable protocol version",
            Self::IdentifierRejected => "identifier rejected",
            Self::ServerUnavailable => "server unavailable",
            Self::BadUsernameOrPassword => "bad user name or password",
            Self::NotAuthorized => "not authorized",
        }
    }
}

/// CONNACK (section 3.2). A server refusing a connection must send `session_present: false`
/// ([MQTT-3.2.2-4]); that is the broker's rule to keep, so the codec carries the bit as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connack {
    pub session_present: bool,
    pub code: ConnectReturnCode,
}

/// An application message in transit. Topic and payload are shared so one incoming message can be
/// queued for many subscribers without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qospid: QosPid,
    pub retain: bool,
    pub topic: TopicName,
    pub payload: Arc<[u8]>,
}

/// One entry of a SUBSCRIBE payload. The filter is kept as a string so a server can answer an
/// invalid filter with the 0x80 failure code in SUBACK instead of dropping the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeTopic {
    pub filter: String,
    pub qos: QoS,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: PacketId,
    pub topics: Vec<SubscribeTopic>,
}

/// One SUBACK return code: the granted QoS, or failure (0x80).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubackCode {
    Granted(QoS),
    Failure,
}

impl SubackCode {
    pub fn to_u8(self) -> u8 {
        match self {
            SubackCode::Granted(q) => q as u8,
            SubackCode::Failure => 0x80,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suback {
    pub packet_id: PacketId,
    pub codes: Vec<SubackCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: PacketId,
    pub filters: Vec<String>,
}

/// The 14 MQTT 3.1.1 control packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Connect),
    Connack(Connack),
    Publish(Publish),
    Puback(PacketId),
    Pubrec(PacketId),
    Pubrel(PacketId),
    Pubcomp(PacketId),
    Subscribe(Subscribe),
    Suback(Suback),
    Unsubscribe(Unsubscribe),
    Unsuback(PacketId),
    Pingreq,
    Pingresp,
    Disconnect,
}

/// Control packet type numbers (section 2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    Connect = 1,
    Connack = 2,
    Publish = 3,
    Puback = 4,
    Pubrec = 5,
    Pubrel = 6,
    Pubcomp = 7,
    Subscribe = 8,
    Suback = 9,
    Unsubscribe = 10,
    Unsuback = 11,
    Pingreq = 12,
    Pingresp = 13,
    Disconnect = 14,
    /// MQTT 5.0 only (section 3.15); reserved in MQTT 3.1.1, whose decoder refuses it.
    Auth = 15,
}

impl PacketType {
    pub fn from_u8(v: u8) -> Option<Self> {
        use PacketType::*;
        Some(match v {
            1 => Connect,
            2 => Connack,
            3 => Publish,
            4 => Puback,
            5 => Pubrec,
            6 => Pubrel,
            7 => Pubcomp,
            8 => Subscribe,
            9 => Suback,
            10 => Unsubscribe,
            11 => Unsuback,
            12 => Pingreq,
            13 => Pingresp,
            14 => Disconnect,
            15 => Auth,
            _ => return None,
        })
    }

    /// The fixed flag bits every type but PUBLISH must carry ([MQTT-2.2.2-1]).
    pub fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::Pubrel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

impl Packet {
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::Connack(_) => PacketType::Connack,
            Packet::Publish(_) => PacketType::Publish,
            Packet::Puback(_) => PacketType::Puback,
            Packet::Pubrec(_) => PacketType::Pubrec,
            Packet::Pubrel(_) => PacketType::Pubrel,
            Packet::Pubcomp(_) => PacketType::Pubcomp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::Suback(_) => PacketType::Suback,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::Unsuback(_) => PacketType::Unsuback,
            Packet::Pingreq => PacketType::Pingreq,
            Packet::Pingresp => PacketType::Pingresp,
            Packet::Disconnect => PacketType::Disconnect,
        }
    }
}
