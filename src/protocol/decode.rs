//! Incremental decoding: from a byte buffer to a packet plus the bytes it used, "need more bytes",
//! or the specific rule the bytes break.

use std::sync::Arc;

use super::error::DecodeError;
use super::packet::*;
use super::properties::{Properties, PropertyContext, PropertyId};
use super::reason::ReasonCode;
use crate::topic::{TopicError, TopicName};

/// The largest remaining length the four-byte encoding can express (section 2.2.3).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// The fixed header of a packet whose first bytes are buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    pub packet_type: PacketType,
    /// The low nibble of the first byte.
    pub flags: u8,
    /// Bytes taken by the first byte plus the remaining-length field.
    pub header_len: usize,
    pub remaining_length: usize,
}

impl FixedHeader {
    /// Total size of the packet on the wire.
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_length
    }
}

/// A decoder with a limit on packet size, so a peer's claimed remaining length is refused before
/// anything is sized from it, and the protocol revision whose fixed-header rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    max_packet_size: usize,
    protocol: ProtocolLevel,
}

impl Default for Decoder {
    /// No size limit beyond the protocol's own, MQTT 3.1.1 rules.
    fn default() -> Self {
        Decoder {
            max_packet_size: MAX_REMAINING_LENGTH + 5,
            protocol: ProtocolLevel::V311,
        }
    }
}

impl Decoder {
    /// A decoder refusing packets whose total size (fixed header included) exceeds `max`, with
    /// MQTT 3.1.1 rules.
    pub fn with_max_packet_size(max: usize) -> Self {
        Decoder {
            max_packet_size: max.max(2),
            ..Decoder::default()
        }
    }

    /// The same decoder applying the fixed-header rules of `protocol`. Until CONNECT has been
    /// read the revision is unknown; CONNECT decodes the same under both, so a server starts
    /// with the default (3.1.1) and switches to the level the CONNECT announced.
    ///
    /// The one difference: MQTT 3.1 sets DUP (flags 1010) when it resends PUBREL, SUBSCRIBE or
    /// UNSUBSCRIBE, which 3.1.1 forbids ([MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]).
    pub fn with_protocol(self, protocol: ProtocolLevel) -> Self {
        Decoder { protocol, ..self }
    }

    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    pub fn protocol(&self) -> ProtocolLevel {
        self.protocol
    }

    /// Reads the fixed header from the front of `buf`. `Ok(None)` means more bytes are needed.
    /// Type, flags and the size limit are checked as soon as their bytes are present.
    pub fn fixed_header(&self, buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let type_nibble = first >> 4;
        let flags = first & 0x0F;
        // AUTH (15) exists only in MQTT 5.0; MQTT 3.1.1 reserves the number (section 2.2.1).
        let packet_type = PacketType::from_u8(type_nibble)
            .filter(|t| *t != PacketType::Auth || self.protocol.is_v5())
            .ok_or(DecodeError::ReservedPacketType(type_nibble))?;
        check_flags(packet_type, flags, self.protocol)?;

        // Each length byte carries 7 bits, least significant first, and bit 7 says another byte
        // follows (section 2.2.3). Four bytes at most keep the value below 2^28, so the shifted
        // sum cannot overflow even where usize is 32 bits. Non-minimal encodings (such as
        // 0x80 0x00 for zero) are accepted under MQTT 3.1.1, which does not forbid them; MQTT 5.0
        // does ([MQTT-1.5.5-1]).
        let mut remaining_length = 0usize;
        for (index, shift) in [0u32, 7, 14, 21].into_iter().enumerate() {
            let Some(&byte) = buf.get(1 + index) else {
                return Ok(None);
            };
            remaining_length |= usize::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                if index > 0 && byte == 0 && self.protocol.is_v5() {
                    return Err(DecodeError::NonMinimalVariableByteInteger);
                }
                let header = FixedHeader {
                    packet_type,
                    flags,
                    header_len: 2 + index,
                    remaining_length,
                };
                if header.packet_len() > self.max_packet_size {
                    return Err(DecodeError::PacketTooLarge {
                        remaining_length,
                        max_packet_size: self.max_packet_size,
                    });
                }
                return Ok(Some(header));
            }
        }
        Err(DecodeError::RemainingLengthTooLong)
    }

    /// Decodes one packet from the front of `buf`: `Ok(Some((packet, consumed)))`, or `Ok(None)` when
    /// `buf` holds only a prefix of a packet.
    pub fn decode(&self, buf: &[u8]) -> Result<Option<(Packet, usize)>, DecodeError> {
        self.decode_reusing(buf, &mut None)
    }

    /// [`decode`](Self::decode) for a stream of packets: a PUBLISH naming the same topic as the
    /// last one decoded with the same `last_topic` shares its [`TopicName`] instead of
    /// validating and allocating it again (a publisher mostly repeats its topics), and a PUBLISH
    /// naming another topic becomes the new `last_topic`.
    pub fn decode_reusing(
        &self,
        buf: &[u8],
        last_topic: &mut Option<TopicName>,
    ) -> Result<Option<(Packet, usize)>, DecodeError> {
        let Some(header) = self.fixed_header(buf)? else {
            return Ok(None);
        };
        let total = header.packet_len();
        let Some(body) = buf.get(header.header_len..total) else {
            return Ok(None);
        };
        let packet = decode_body(
            header.packet_type,
            header.flags,
            body,
            self.protocol,
            last_topic,
        )?;
        Ok(Some((packet, total)))
    }
}

/// Decodes with no size limit beyond the protocol's own and MQTT 3.1.1 rules; see
/// [`Decoder::decode`].
pub fn decode(buf: &[u8]) -> Result<Option<(Packet, usize)>, DecodeError> {
    Decoder::default().decode(buf)
}

/// Fixed-header flags: the values table 2.2 lists for every type but PUBLISH ([MQTT-2.2.2-1],
/// [MQTT-2.2.2-2]); for PUBLISH, QoS 3 ([MQTT-3.3.1-4]) and DUP at QoS 0 ([MQTT-3.3.1-2]).
fn check_flags(
    packet_type: PacketType,
    flags: u8,
    protocol: ProtocolLevel,
) -> Result<(), DecodeError> {
    match packet_type.required_flags() {
        Some(required) if flags == required => Ok(()),
        // A resent PUBREL, SUBSCRIBE or UNSUBSCRIBE carries DUP under MQTT 3.1.
        Some(0b0010) if protocol == ProtocolLevel::V31 && flags == 0b1010 => Ok(()),
        Some(_) => Err(DecodeError::InvalidFlags { packet_type, flags }),
        None => {
            let qos = (flags >> 1) & 0b11;
            if qos == 3 {
                Err(DecodeError::InvalidPublishQos)
            } else if qos == 0 && flags & 0b1000 != 0 {
                Err(DecodeError::DupOnQos0)
            } else {
                Ok(())
            }
        }
    }
}

/// Reads fields from a packet body, reporting running out as [`DecodeError::Truncated`].
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    packet_type: PacketType,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(buf: &'a [u8], packet_type: PacketType) -> Fields<'a> {
        Fields { buf, packet_type }
    }

    /// The next `len` bytes as fields of their own (a property list), skipped here.
    pub(crate) fn sub(&mut self, len: usize) -> Result<Fields<'a>, DecodeError> {
        Ok(Fields {
            buf: self.take(len)?,
            packet_type: self.packet_type,
        })
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A Variable Byte Integer (MQTT 5.0 section 1.5.5): at most four bytes, in the fewest that
    /// hold the value ([MQTT-1.5.5-1]); anything else is malformed.
    pub(crate) fn var_int(&mut self) -> Result<u32, DecodeError> {
        let mut value = 0u32;
        for (index, shift) in [0u32, 7, 14, 21].into_iter().enumerate() {
            let byte = self.u8()?;
            value |= u32::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                if index > 0 && byte == 0 {
                    return Err(DecodeError::NonMinimalVariableByteInteger);
                }
                return Ok(value);
            }
        }
        Err(DecodeError::VariableByteIntegerTooLong)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(self.packet_type));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A packet identifier, never zero ([MQTT-2.3.1-1]; the acknowledgements echo the identifier
    /// they answer, [MQTT-2.3.1-6], [MQTT-2.3.1-7], so zero is just as wrong there).
    fn packet_id(&mut self) -> Result<PacketId, DecodeError> {
        PacketId::new(self.u16()?).ok_or(DecodeError::ZeroPacketId(self.packet_type))
    }

    pub(crate) fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()? as usize;
        self.take(len)
    }

    /// An MQTT UTF-8 string (section 1.5.3): well-formed, no surrogates ([MQTT-1.5.3-1]), no
    /// U+0000 ([MQTT-1.5.3-2]). A leading U+FEFF stays part of the string ([MQTT-1.5.3-3]).
    pub(crate) fn string(&mut self) -> Result<&'a str, DecodeError> {
        let bytes = self.binary()?;
        let s = std::str::from_utf8(bytes)
            .map_err(|error| utf8_error_kind(bytes, error.valid_up_to()))?;
        if s.contains('\0') {
            return Err(DecodeError::Utf8NullCharacter);
        }
        Ok(s)
    }

    /// A topic name: a string that is also non-empty and wildcard-free ([MQTT-3.3.2-1],
    /// [MQTT-3.3.2-2], [MQTT-4.7.3-1]).
    fn topic_name(&mut self) -> Result<TopicName, DecodeError> {
        TopicName::new(self.string()?).map_err(DecodeError::InvalidTopic)
    }

    /// A reason code that packets of `context` may carry; any other makes the packet malformed
    /// (MQTT 5.0 section 2.4).
    fn reason(&mut self, context: PropertyContext) -> Result<ReasonCode, DecodeError> {
        let code = ReasonCode(self.u8()?);
        if code.is_valid_in(context) {
            Ok(code)
        } else {
            Err(DecodeError::InvalidReasonCode {
                packet_type: self.packet_type,
                code: code.0,
            })
        }
    }

    /// The rest of a PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT or AUTH after its packet
    /// identifier (if any), in MQTT 5.0: nothing means success without properties, a reason code
    /// alone means no properties (MQTT 5.0 sections 3.4.2.1, 3.14.2.1, 3.15.2.1).
    fn optional_reason(
        &mut self,
        context: PropertyContext,
    ) -> Result<(ReasonCode, Properties), DecodeError> {
        if self.is_empty() {
            return Ok((ReasonCode::SUCCESS, Properties::new()));
        }
        let reason = self.reason(context)?;
        if self.is_empty() {
            return Ok((reason, Properties::new()));
        }
        Ok((reason, Properties::read(self, context)?))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.packet_type))
        }
    }
}

/// Surrogates (U+D800..U+DFFF) would encode as ED A0..BF xx. Rust's UTF-8 check rejects them as
/// ill-formed like any other bad sequence, but the spec names them separately ([MQTT-1.5.3-1]),
/// so the error does too when the first bad sequence is one.
fn utf8_error_kind(bytes: &[u8], valid_up_to: usize) -> DecodeError {
    match bytes.get(valid_up_to..).unwrap_or_default() {
        [0xED, 0xA0..=0xBF, ..] => DecodeError::Utf8Surrogate,
        _ => DecodeError::InvalidUtf8,
    }
}

fn decode_body(
    packet_type: PacketType,
    flags: u8,
    body: &[u8],
    protocol: ProtocolLevel,
    last_topic: &mut Option<TopicName>,
) -> Result<Packet, DecodeError> {
    let mut f = Fields {
        buf: body,
        packet_type,
    };
    let v5 = protocol.is_v5();
    let packet = match packet_type {
        PacketType::Connect => Packet::Connect(Box::new(decode_connect(&mut f)?)),
        PacketType::Connack => {
            // Bits 7-1 of the acknowledge flags are reserved and zero (section 3.2.2.1; MQTT 5.0
            // section 3.2.2.1); MQTT 3.1.1 return codes above 5 are reserved (section 3.2.2.3).
            let ack_flags = f.u8()?;
            if ack_flags & 0xFE != 0 {
                return Err(DecodeError::InvalidConnackFlags(ack_flags));
            }
            let (code, properties) = if v5 {
                let code = f.reason(PropertyContext::Connack)?;
                (code, Properties::read(&mut f, PropertyContext::Connack)?)
            } else {
                let code = f.u8()?;
                let code = ConnectReturnCode::from_u8(code)
                    .ok_or(DecodeError::InvalidConnectReturnCode(code))?;
                (code.to_reason(), Properties::new())
            };
            Packet::Connack(Connack {
                session_present: ack_flags & 1 == 1,
                code,
                properties,
            })
        }
        PacketType::Publish => {
            let qos = (flags >> 1) & 0b11;
            // A topic name is a non-empty, wildcard-free string ([MQTT-3.3.2-1], [MQTT-3.3.2-2],
            // [MQTT-4.7.3-1]).
            let name = f.string()?;
            let topic = match last_topic {
                // Valid when it was first decoded, so valid again.
                Some(last) if last.as_str() == name => last.clone(),
                _ => match TopicName::new(name) {
                    Ok(topic) => {
                        *last_topic = Some(topic.clone());
                        topic
                    }
                    // MQTT 5.0: an empty name stands for a Topic Alias (section 3.3.2.3.4).
                    Err(TopicError::Empty) if v5 => TopicName::aliased(),
                    Err(e) => return Err(DecodeError::InvalidTopic(e)),
                },
            };
            let qospid = match qos {
                0 => QosPid::AtMostOnce,
                1 => QosPid::AtLeastOnce(f.packet_id()?),
                _ => QosPid::ExactlyOnce(f.packet_id()?),
            };
            let properties = if v5 {
                Properties::read(&mut f, PropertyContext::Publish)?
            } else {
                Properties::new()
            };
            // MQTT 5.0 section 3.3.2.1: a zero-length topic needs a Topic Alias.
            if topic.is_aliased() && properties.get(PropertyId::TopicAlias).is_none() {
                return Err(DecodeError::InvalidTopic(TopicError::Empty));
            }
            Packet::Publish(Publish {
                dup: flags & 0b1000 != 0,
                qospid,
                retain: flags & 1 != 0,
                topic,
                payload: Arc::from(f.rest()),
                properties,
            })
        }
        PacketType::Puback => Packet::Puback(decode_ack(&mut f, v5, PropertyContext::Puback)?),
        PacketType::Pubrec => Packet::Pubrec(decode_ack(&mut f, v5, PropertyContext::Pubrec)?),
        PacketType::Pubrel => Packet::Pubrel(decode_ack(&mut f, v5, PropertyContext::Pubrel)?),
        PacketType::Pubcomp => Packet::Pubcomp(decode_ack(&mut f, v5, PropertyContext::Pubcomp)?),
        PacketType::Subscribe => {
            // Filters stay unvalidated strings here: a server answers a bad filter with a
            // SUBACK failure code rather than dropping the connection. Only the string rules
            // apply ([MQTT-3.8.3-1]); the options byte is checked in full ([MQTT-3.8.3-4];
            // MQTT 5.0 section 3.8.3.1).
            let packet_id = f.packet_id()?;
            let properties = if v5 {
                Properties::read(&mut f, PropertyContext::Subscribe)?
            } else {
                Properties::new()
            };
            let mut topics = Vec::new();
            while !f.is_empty() {
                let filter = f.string()?.to_owned();
                let byte = f.u8()?;
                topics.push(subscribe_options(filter, byte, v5)?);
            }
            if topics.is_empty() {
                // [MQTT-3.8.3-3]
                return Err(DecodeError::EmptySubscribe);
            }
            Packet::Subscribe(Subscribe {
                packet_id,
                topics,
                properties,
            })
        }
        PacketType::Suback => {
            // One return code per requested filter, so at least one ([MQTT-3.9.3-1]); codes other
            // than 0, 1, 2 and 0x80 are reserved ([MQTT-3.9.3-2]), and in MQTT 5.0 those of its
            // table in section 3.9.3.
            let packet_id = f.packet_id()?;
            let properties = if v5 {
                Properties::read(&mut f, PropertyContext::Suback)?
            } else {
                Properties::new()
            };
            let codes = f
                .rest()
                .iter()
                .map(|&c| {
                    let valid = if v5 {
                        ReasonCode(c).is_valid_in(PropertyContext::Suback)
                    } else {
                        matches!(c, 0 | 1 | 2 | 0x80)
                    };
                    if valid {
                        Ok(ReasonCode(c))
                    } else {
                        Err(DecodeError::InvalidSubackCode(c))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            if codes.is_empty() {
                return Err(DecodeError::Truncated(packet_type));
            }
            Packet::Suback(Suback {
                packet_id,
                codes,
                properties,
            })
        }
        PacketType::Unsubscribe => {
            let packet_id = f.packet_id()?;
            let properties = if v5 {
                Properties::read(&mut f, PropertyContext::Unsubscribe)?
            } else {
                Properties::new()
            };
            let mut filters = Vec::new();
            while !f.is_empty() {
                filters.push(f.string()?.to_owned());
            }
            if filters.is_empty() {
                // [MQTT-3.10.3-2]
                return Err(DecodeError::EmptyUnsubscribe);
            }
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties,
            })
        }
        PacketType::Unsuback => {
            let packet_id = f.packet_id()?;
            if v5 {
                // MQTT 5.0 section 3.11.3: one reason code per filter of the UNSUBSCRIBE.
                let properties = Properties::read(&mut f, PropertyContext::Unsuback)?;
                let mut codes = Vec::new();
                while !f.is_empty() {
                    codes.push(f.reason(PropertyContext::Unsuback)?);
                }
                if codes.is_empty() {
                    return Err(DecodeError::Truncated(packet_type));
                }
                Packet::Unsuback(Unsuback {
                    packet_id,
                    codes,
                    properties,
                })
            } else {
                Packet::Unsuback(Unsuback::new(packet_id))
            }
        }
        PacketType::Pingreq => Packet::Pingreq,
        PacketType::Pingresp => Packet::Pingresp,
        PacketType::Disconnect => {
            let (reason, properties) = if v5 {
                f.optional_reason(PropertyContext::Disconnect)?
            } else {
                (ReasonCode::NORMAL_DISCONNECTION, Properties::new())
            };
            Packet::Disconnect(Disconnect { reason, properties })
        }
        PacketType::Auth => {
            // Only a v5 decoder lets AUTH through the fixed header.
            let (reason, properties) = f.optional_reason(PropertyContext::Auth)?;
            Packet::Auth(Auth { reason, properties })
        }
    };
    f.finish()?;
    Ok(packet)
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP: a packet identifier, then in MQTT 5.0 an optional reason
/// code and properties.
fn decode_ack(f: &mut Fields<'_>, v5: bool, context: PropertyContext) -> Result<Ack, DecodeError> {
    let packet_id = f.packet_id()?;
    let (reason, properties) = if v5 {
        f.optional_reason(context)?
    } else {
        (ReasonCode::SUCCESS, Properties::new())
    };
    Ok(Ack {
        packet_id,
        reason,
        properties,
    })
}

/// One SUBSCRIBE entry's options byte. MQTT 3.1.1: the requested QoS, upper bits reserved
/// ([MQTT-3.8.3-4]). MQTT 5.0 (section 3.8.3.1): QoS in bits 0-1, No Local, Retain As Published,
/// Retain Handling in bits 4-5 (3 is a protocol error), bits 6-7 reserved ([MQTT-3.8.3-5]).
fn subscribe_options(filter: String, byte: u8, v5: bool) -> Result<SubscribeTopic, DecodeError> {
    let reserved = if v5 { 0b1100_0000 } else { 0b1111_1100 };
    let qos = QoS::from_u8(byte & 0b11)
        .filter(|_| byte & reserved == 0)
        .ok_or(DecodeError::InvalidSubscribeQos(byte))?;
    let retain_handling = (byte >> 4) & 0b11;
    if retain_handling == 3 {
        return Err(DecodeError::InvalidRetainHandling);
    }
    Ok(SubscribeTopic {
        filter,
        qos,
        options: SubscriptionOptions {
            no_local: byte & 0b0100 != 0,
            retain_as_published: byte & 0b1000 != 0,
            retain_handling,
        },
    })
}

fn decode_connect(f: &mut Fields<'_>) -> Result<Connect, DecodeError> {
    // The level is judged before anything after it: a client speaking a revision this server
    // does not must get CONNACK 0x01 ([MQTT-3.1.2-2]), not a parse error on fields that revision
    // may have. An unknown name may be dropped without a CONNACK ([MQTT-3.1.2-1]).
    let name = f.string()?;
    let level = f.u8()?;
    let protocol = match (name, level) {
        ("MQTT", 4) => ProtocolLevel::V311,
        ("MQTT", 5) => ProtocolLevel::V5,
        ("MQIsdp", 3) => ProtocolLevel::V31,
        ("MQTT" | "MQIsdp", other) => return Err(DecodeError::UnsupportedProtocolLevel(other)),
        (other, _) => return Err(DecodeError::InvalidProtocolName(other.to_owned())),
    };
    let v5 = protocol.is_v5();
    let flags = f.u8()?;
    // [MQTT-3.1.2-3] (the same rule in MQTT 5.0); MQTT 3.1 had no such rule, and some of its
    // clients set the bit.
    if flags & 0x01 != 0 && protocol != ProtocolLevel::V31 {
        return Err(DecodeError::ConnectReservedFlag);
    }
    let clean_session = flags & 0x02 != 0;
    let will_flag = flags & 0x04 != 0;
    let will_qos = (flags >> 3) & 0b11;
    let will_retain = flags & 0x20 != 0;
    let password_flag = flags & 0x40 != 0;
    let username_flag = flags & 0x80 != 0;
    // [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
    if !will_flag && (will_qos != 0 || will_retain) {
        return Err(DecodeError::WillFlagsWithoutWill);
    }
    // [MQTT-3.1.2-14]
    let will_qos = QoS::from_u8(will_qos).ok_or(DecodeError::InvalidWillQos)?;
    // [MQTT-3.1.2-22]; MQTT 5.0 allows a password without a user name (section 3.1.2.9).
    if password_flag && !username_flag && !v5 {
        return Err(DecodeError::PasswordWithoutUsername);
    }
    // Payload fields in order, each present exactly when its flag says so ([MQTT-3.1.3-1],
    // [MQTT-3.1.2-9], [MQTT-3.1.2-18] to [MQTT-3.1.2-21]); a field the flags leave out but the
    // client sent anyway shows up as trailing bytes.
    let keep_alive = f.u16()?;
    let properties = if v5 {
        Properties::read(f, PropertyContext::Connect)?
    } else {
        Properties::new()
    };
    // [MQTT-3.1.3-3], [MQTT-3.1.3-4]; an empty identifier is the broker's call ([MQTT-3.1.3-8]).
    let client_id = f.string()?.to_owned();
    let will = if will_flag {
        let will_properties = if v5 {
            Properties::read(f, PropertyContext::Will)?
        } else {
            Properties::new()
        };
        let topic = f.topic_name()?;
        let payload = f.binary()?.to_vec();
        Some(LastWill {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties: will_properties,
        })
    } else {
        None
    };
    let username = if username_flag {
        Some(f.string()?.to_owned())
    } else {
        None
    };
    let password = if password_flag {
        Some(f.binary()?.to_vec())
    } else {
        None
    };
    Ok(Connect {
        protocol,
        clean_session,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}
