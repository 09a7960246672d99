//! Everything a receiver must reject, each with its own variant so callers and tests can tell
//! exactly which rule a packet broke.

use std::fmt;

use super::packet::PacketType;
use super::properties::{PropertyContext, PropertyId};
use super::reason::ReasonCode;
use crate::topic::TopicError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Packet type 0 or 15 is reserved (section 2.2.1).
    ReservedPacketType(u8),
    /// Fixed-header flags other than those the type requires ([MQTT-2.2.2-1], [MQTT-2.2.2-2],
    /// [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1], [MQTT-3.14.1-1]).
    InvalidFlags { packet_type: PacketType, flags: u8 },
    /// PUBLISH with both QoS bits set ([MQTT-3.3.1-4]).
    InvalidPublishQos,
    /// PUBLISH at QoS 0 with DUP set ([MQTT-3.3.1-2]).
    DupOnQos0,
    /// Remaining length encoded in more than four bytes (section 2.2.3); reported as soon as the
    /// fourth length byte still has its continuation bit set.
    RemainingLengthTooLong,
    /// Packet size (fixed header plus remaining length) above the decoder's configured maximum;
    /// reported from the fixed header alone, before any buffer is sized.
    PacketTooLarge {
        remaining_length: usize,
        max_packet_size: usize,
    },
    /// The remaining length ends before the fields the packet type requires (including a SUBACK
    /// without return codes, [MQTT-3.9.3-1]) or a length prefix runs past it.
    Truncated(PacketType),
    /// Bytes left over inside the remaining length after the last field.
    TrailingBytes(PacketType),
    /// A packet identifier of zero ([MQTT-2.3.1-1]), also in the acknowledgements that echo one.
    ZeroPacketId(PacketType),
    /// An MQTT string that is not well-formed UTF-8 ([MQTT-1.5.3-1]).
    InvalidUtf8,
    /// An MQTT string holding a UTF-16 surrogate code point U+D800..U+DFFF ([MQTT-1.5.3-1]).
    Utf8Surrogate,
    /// An MQTT string holding U+0000 ([MQTT-1.5.3-2]).
    Utf8NullCharacter,
    /// CONNECT protocol name other than "MQTT" (level 4) or "MQIsdp" (level 3) ([MQTT-3.1.2-1]).
    InvalidProtocolName(String),
    /// A known protocol name with a level this implementation does not speak ([MQTT-3.1.2-2]):
    /// the server answers CONNACK 0x01 and closes.
    UnsupportedProtocolLevel(u8),
    /// CONNECT reserved flag bit 0 set ([MQTT-3.1.2-3]).
    ConnectReservedFlag,
    /// Will QoS or will retain set while the will flag is 0 ([MQTT-3.1.2-11], [MQTT-3.1.2-13],
    /// [MQTT-3.1.2-15]).
    WillFlagsWithoutWill,
    /// Will QoS 3 ([MQTT-3.1.2-14]).
    InvalidWillQos,
    /// Password flag set without the user name flag ([MQTT-3.1.2-22]).
    PasswordWithoutUsername,
    /// A topic name (PUBLISH or will topic) that breaks the topic rules: empty or holding a
    /// wildcard ([MQTT-3.3.2-2], [MQTT-4.7.1-1], [MQTT-4.7.3-1]).
    InvalidTopic(TopicError),
    /// CONNACK acknowledge flags with any of the reserved bits 7-1 set (section 3.2.2.1).
    InvalidConnackFlags(u8),
    /// CONNACK return code above 5, which table 3.1 reserves.
    InvalidConnectReturnCode(u8),
    /// SUBSCRIBE with no topic filter ([MQTT-3.8.3-3]).
    EmptySubscribe,
    /// UNSUBSCRIBE with no topic filter ([MQTT-3.10.3-2]).
    EmptyUnsubscribe,
    /// Requested QoS above 2 or reserved upper bits set ([MQTT-3.8.3-4]).
    InvalidSubscribeQos(u8),
    /// SUBACK return code other than 0, 1, 2 or 0x80 ([MQTT-3.9.3-2]).
    InvalidSubackCode(u8),
    /// A Variable Byte Integer in more bytes than its value needs ([MQTT-1.5.5-1], MQTT 5.0).
    NonMinimalVariableByteInteger,
    /// A Variable Byte Integer whose fourth byte still has its continuation bit set (MQTT 5.0
    /// section 1.5.5).
    VariableByteIntegerTooLong,
    /// A property identifier MQTT 5.0 does not define (section 2.2.2.2: malformed).
    UnknownProperty(u32),
    /// A property the packet may not carry (MQTT 5.0 section 2.2.2.2: malformed).
    PropertyNotAllowed {
        property: PropertyId,
        context: PropertyContext,
    },
    /// A property other than User Property (or Subscription Identifier in PUBLISH) given more
    /// than once: a protocol error by each property's definition (MQTT 5.0 section 3).
    DuplicateProperty(PropertyId),
    /// A reason code the packet type does not define (MQTT 5.0 section 2.4: malformed).
    InvalidReasonCode { packet_type: PacketType, code: u8 },
    /// Retain Handling 3 in a SUBSCRIBE option byte (MQTT 5.0 section 3.8.3.1: protocol error).
    InvalidRetainHandling,
    /// A property value outside its range: a flag byte other than 0 or 1, Receive Maximum,
    /// Maximum Packet Size, Topic Alias or Subscription Identifier 0 (MQTT 5.0 sections
    /// 3.1.2.11, 3.2.2.3, [MQTT-3.3.2-8], 3.8.2.1.2): a protocol error.
    InvalidPropertyValue(PropertyId),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeError::*;
        match self {
            ReservedPacketType(t) => write!(f, "reserved packet type {t}"),
            InvalidFlags { packet_type, flags } => {
                write!(
                    f,
                    "invalid fixed-header flags {flags:#06b} for {packet_type:?}"
                )
            }
            InvalidPublishQos => f.write_str("PUBLISH with QoS 3"),
            DupOnQos0 => f.write_str("PUBLISH with DUP set at QoS 0"),
            RemainingLengthTooLong => f.write_str("remaining length longer than 4 bytes"),
            PacketTooLarge {
                remaining_length,
                max_packet_size,
            } => write!(
                f,
                "packet of {remaining_length} bytes exceeds the maximum of {max_packet_size}"
            ),
            Truncated(t) => write!(f, "{t:?} ends before its required fields"),
            TrailingBytes(t) => write!(f, "{t:?} has bytes after its last field"),
            ZeroPacketId(t) => write!(f, "{t:?} with packet identifier 0"),
            InvalidUtf8 => f.write_str("string is not well-formed UTF-8"),
            Utf8Surrogate => f.write_str("string contains a surrogate code point"),
            Utf8NullCharacter => f.write_str("string contains U+0000"),
            InvalidProtocolName(n) => write!(f, "unknown protocol name {n:?}"),
            UnsupportedProtocolLevel(l) => write!(f, "unsupported protocol level {l}"),
            ConnectReservedFlag => f.write_str("CONNECT reserved flag is set"),
            WillFlagsWithoutWill => f.write_str("will QoS or will retain set without a will"),
            InvalidWillQos => f.write_str("will QoS 3"),
            PasswordWithoutUsername => f.write_str("password flag set without user name flag"),
            InvalidTopic(e) => write!(f, "invalid topic: {e}"),
            InvalidConnackFlags(b) => write!(f, "invalid CONNACK flags {b:#04x}"),
            InvalidConnectReturnCode(c) => write!(f, "invalid CONNACK return code {c}"),
            EmptySubscribe => f.write_str("SUBSCRIBE without topic filters"),
            EmptyUnsubscribe => f.write_str("UNSUBSCRIBE without topic filters"),
            InvalidSubscribeQos(b) => write!(f, "invalid requested QoS byte {b:#04x}"),
            InvalidSubackCode(c) => write!(f, "invalid SUBACK return code {c:#04x}"),
            InvalidReasonCode { packet_type, code } => {
                write!(
                    f,
                    "reason code {code:#04x} is not defined for {packet_type:?}"
                )
            }
            InvalidRetainHandling => f.write_str("retain handling 3 in a subscription option"),
            NonMinimalVariableByteInteger => {
                f.write_str("variable byte integer not in its shortest form")
            }
            VariableByteIntegerTooLong => f.write_str("variable byte integer longer than 4 bytes"),
            UnknownProperty(id) => write!(f, "unknown property identifier {id:#04x}"),
            PropertyNotAllowed { property, context } => {
                write!(
                    f,
                    "the {} property is not allowed in {context:?}",
                    property.name()
                )
            }
            DuplicateProperty(id) => write!(f, "the {} property appears twice", id.name()),
            InvalidPropertyValue(id) => write!(f, "invalid value of the {} property", id.name()),
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    /// The MQTT 5.0 reason code to send (in CONNACK before CONNECT was accepted, in DISCONNECT
    /// after) when closing a connection for this error (MQTT 5.0 section 4.13): a packet over the
    /// size limit is 0x95, an unknown protocol 0x84, a topic name that breaks the topic rules
    /// 0x90, what the specification calls a protocol error 0x82, and every other malformed
    /// packet 0x81.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            UnsupportedProtocolLevel(_) | InvalidProtocolName(_) => {
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
            }
            // MQTT 5.0 section 3.3.2.1: an empty topic without a Topic Alias is a protocol error.
            InvalidTopic(TopicError::Empty) => ReasonCode::PROTOCOL_ERROR,
            InvalidTopic(_) => ReasonCode::TOPIC_NAME_INVALID,
            // [MQTT-3.8.3-2], [MQTT-3.10.3-2] and the property and option definitions name these
            // protocol errors.
            EmptySubscribe
            | EmptyUnsubscribe
            | DuplicateProperty(_)
            | InvalidPropertyValue(_)
            | InvalidRetainHandling => ReasonCode::PROTOCOL_ERROR,
            _ => ReasonCode::MALFORMED_PACKET,
        }
    }
}
