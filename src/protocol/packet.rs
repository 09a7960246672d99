//! Control packets as plain data: MQTT 3.1.1 (section 3) and MQTT 5.0 (MQTT 5.0 section 3) in
//! one model. Fields only MQTT 5.0 has (properties, reason codes, subscription options) take
//! their neutral value in packets of the older revisions, and the encoder leaves them out there.

use std::num::NonZeroU16;
use std::sync::Arc;

use super::properties::Properties;
use super::reason::ReasonCode;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolLevel {
    /// MQTT 3.1: protocol name "MQIsdp", level 3.
    V31,
    /// MQTT 3.1.1: protocol name "MQTT", level 4.
    V311,
    /// MQTT 5.0: protocol name "MQTT", level 5.
    V5,
}

impl ProtocolLevel {
    pub fn name(self) -> &'static str {
        match self {
            ProtocolLevel::V31 => "MQIsdp",
            ProtocolLevel::V311 | ProtocolLevel::V5 => "MQTT",
        }
    }

    pub fn level(self) -> u8 {
        match self {
            ProtocolLevel::V31 => 3,
            ProtocolLevel::V311 => 4,
            ProtocolLevel::V5 => 5,
        }
    }

    /// Whether packets carry MQTT 5.0's properties and reason codes.
    pub fn is_v5(self) -> bool {
        self == ProtocolLevel::V5
    }
}

/// The will message carried by CONNECT (section 3.1.2.5; MQTT 5.0 section 3.1.3.2 adds its
/// properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    pub topic: TopicName,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    /// MQTT 5.0 will properties (Will Delay Interval, Message Expiry Interval, ...).
    pub properties: Properties,
}

impl LastWill {
    pub fn new(topic: TopicName, payload: Vec<u8>, qos: QoS, retain: bool) -> LastWill {
        LastWill {
            topic,
            payload,
            qos,
            retain,
            properties: Properties::new(),
        }
    }
}

/// CONNECT (section 3.1). In MQTT 3.1.1 the password needs a user name ([MQTT-3.1.2-22]); MQTT
/// 5.0 drops that rule (MQTT 5.0 section 3.1.2.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub protocol: ProtocolLevel,
    /// Clean Session in MQTT 3.1.1, Clean Start in MQTT 5.0 (the same bit).
    pub clean_session: bool,
    pub keep_alive: u16,
    /// May be empty: the server then assigns one if clean_session is set ([MQTT-3.1.3-6]); MQTT
    /// 5.0 assigns one whatever Clean Start says ([MQTT-3.1.3-6] of MQTT 5.0).
    pub client_id: String,
    pub will: Option<LastWill>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    /// MQTT 5.0 CONNECT properties (Session Expiry Interval, Receive Maximum, ...).
    pub properties: Properties,
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

    /// The MQTT 5.0 reason code with the same meaning (MQTT 5.0 section 3.2.2.2).
    pub fn to_reason(self) -> ReasonCode {
        match self {
            Self::Accepted => ReasonCode::SUCCESS,
            Self::UnacceptableProtocolVersion => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            Self::IdentifierRejected => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
            Self::ServerUnavailable => ReasonCode::SERVER_UNAVAILABLE,
            Self::BadUsernameOrPassword => ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            Self::NotAuthorized => ReasonCode::NOT_AUTHORIZED,
        }
    }

    /// The MQTT 3.1.1 return code closest to an MQTT 5.0 CONNACK reason code, for a client of
    /// the older revision: refusals without an equivalent become 0x03, server unavailable (as
    /// mosquitto answers them).
    pub fn from_reason(reason: ReasonCode) -> ConnectReturnCode {
        match reason {
            ReasonCode::SUCCESS => Self::Accepted,
            ReasonCode::UNSUPPORTED_PROTOCOL_VERSION => Self::UnacceptableProtocolVersion,
            ReasonCode::CLIENT_IDENTIFIER_NOT_VALID => Self::IdentifierRejected,
            ReasonCode::BAD_USER_NAME_OR_PASSWORD | ReasonCode::BAD_AUTHENTICATION_METHOD => {
                Self::BadUsernameOrPassword
            }
            ReasonCode::NOT_AUTHORIZED | ReasonCode::BANNED => Self::NotAuthorized,
            _ => Self::ServerUnavailable,
        }
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
///
/// The result is an MQTT 5.0 reason code in both revisions: an MQTT 3.1.1 return code decodes to
/// the reason code of the same meaning and encodes from it (see [`ConnectReturnCode::to_reason`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connack {
    pub session_present: bool,
    pub code: ReasonCode,
    /// MQTT 5.0 CONNACK properties (Assigned Client Identifier, limits, Reason String, ...).
    pub properties: Properties,
}

impl Connack {
    pub fn new(session_present: bool, code: ReasonCode) -> Connack {
        Connack {
            session_present,
            code,
            properties: Properties::new(),
        }
    }
}

/// An application message in transit. Topic and payload are shared so one incoming message can be
/// queued for many subscribers without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qospid: QosPid,
    pub retain: bool,
    /// Empty ([`TopicName::aliased`]) in an MQTT 5.0 PUBLISH that names its topic through a Topic
    /// Alias only.
    pub topic: TopicName,
    pub payload: Arc<[u8]>,
    /// MQTT 5.0 PUBLISH properties.
    pub properties: Properties,
}

/// MQTT 5.0 subscription options other than the maximum QoS (MQTT 5.0 section 3.8.3.1); MQTT
/// 3.1.1 subscriptions have the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SubscriptionOptions {
    /// Messages the subscribing client publishes are not sent back to it.
    pub no_local: bool,
    /// Forwarded messages keep the RETAIN flag they were published with.
    pub retain_as_published: bool,
    /// 0: send retained messages on subscribe; 1: only if the subscription is new; 2: never.
    pub retain_handling: u8,
}

/// One entry of a SUBSCRIBE payload. The filter is kept as a string so a server can answer an
/// invalid filter with a failure code in SUBACK instead of dropping the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeTopic {
    pub filter: String,
    /// The requested (maximum) QoS.
    pub qos: QoS,
    pub options: SubscriptionOptions,
}

impl SubscribeTopic {
    pub fn new(filter: impl Into<String>, qos: QoS) -> SubscribeTopic {
        SubscribeTopic {
            filter: filter.into(),
            qos,
            options: SubscriptionOptions::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: PacketId,
    pub topics: Vec<SubscribeTopic>,
    /// MQTT 5.0 SUBSCRIBE properties (Subscription Identifier, User Property).
    pub properties: Properties,
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

    /// The same result as an MQTT 5.0 reason code: a granted QoS is the code of the same value,
    /// 0x80 is unspecified error.
    pub fn to_reason(self) -> ReasonCode {
        ReasonCode(self.to_u8())
    }

    /// The MQTT 3.1.1 code for an MQTT 5.0 SUBACK reason code: every failure is 0x80
    /// ([MQTT-3.9.3-2]).
    pub fn from_reason(reason: ReasonCode) -> SubackCode {
        match QoS::from_u8(reason.0) {
            Some(qos) => SubackCode::Granted(qos),
            None => SubackCode::Failure,
        }
    }
}

/// SUBACK: one reason code per filter of the SUBSCRIBE, in order. In MQTT 3.1.1 the codes are
/// the granted QoS or 0x80, which MQTT 5.0 calls granted QoS 0-2 and unspecified error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suback {
    pub packet_id: PacketId,
    pub codes: Vec<ReasonCode>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: PacketId,
    pub filters: Vec<String>,
    pub properties: Properties,
}

/// UNSUBACK. MQTT 3.1.1 carries no codes (`codes` is empty); MQTT 5.0 one per filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsuback {
    pub packet_id: PacketId,
    pub codes: Vec<ReasonCode>,
    pub properties: Properties,
}

impl Unsuback {
    pub fn new(packet_id: PacketId) -> Unsuback {
        Unsuback {
            packet_id,
            codes: Vec::new(),
            properties: Properties::new(),
        }
    }
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP: the packet identifier they answer, and in MQTT 5.0 a reason
/// code and properties, both left out on the wire when they are success and none (MQTT 5.0
/// section 3.4.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub packet_id: PacketId,
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl Ack {
    /// A successful acknowledgement without properties: all MQTT 3.1.1 has.
    pub fn new(packet_id: PacketId) -> Ack {
        Ack {
            packet_id,
            reason: ReasonCode::SUCCESS,
            properties: Properties::new(),
        }
    }
}

impl From<PacketId> for Ack {
    fn from(packet_id: PacketId) -> Ack {
        Ack::new(packet_id)
    }
}

/// DISCONNECT: in MQTT 5.0 with a reason code and properties (MQTT 5.0 section 3.14); MQTT 3.1.1
/// carries neither, which reads as normal disconnection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disconnect {
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl Disconnect {
    pub fn new(reason: ReasonCode) -> Disconnect {
        Disconnect {
            reason,
            properties: Properties::new(),
        }
    }
}

/// AUTH, MQTT 5.0 only (MQTT 5.0 section 3.15): a step of enhanced authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    pub reason: ReasonCode,
    pub properties: Properties,
}

/// The control packets: MQTT 3.1.1's fourteen and MQTT 5.0's AUTH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Boxed: a CONNECT is 176 bytes, the next largest packet 64, and every packet the
    /// decoder hands out is moved a few times on its way (a tenth of the broker's CPU at QoS 1
    /// went to copying them before).
    Connect(Box<Connect>),
    Connack(Connack),
    Publish(Publish),
    Puback(Ack),
    Pubrec(Ack),
    Pubrel(Ack),
    Pubcomp(Ack),
    Subscribe(Subscribe),
    Suback(Suback),
    Unsubscribe(Unsubscribe),
    Unsuback(Unsuback),
    Pingreq,
    Pingresp,
    Disconnect(Disconnect),
    Auth(Auth),
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
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }
}
