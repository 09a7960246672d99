//! Encoding packets onto the end of a byte buffer, so many packets can be batched into one
//! `write()`.

use std::fmt;

use super::decode::MAX_REMAINING_LENGTH;
use super::packet::*;
use super::properties::{PropertyId, put_var_int};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A string or binary field longer than 65535 bytes (section 1.5.3).
    FieldTooLong { field: &'static str, len: usize },
    /// The packet's remaining length would exceed 268,435,455 bytes (section 2.2.3).
    PacketTooLarge(usize),
    /// SUBSCRIBE, SUBACK or UNSUBSCRIBE without entries ([MQTT-3.8.3-3], [MQTT-3.9.3-1],
    /// [MQTT-3.10.3-2]).
    Empty(PacketType),
    /// A string field holding U+0000, which the receiver would reject ([MQTT-1.5.3-2]).
    NullCharacter { field: &'static str },
    /// PUBLISH at QoS 0 with DUP set ([MQTT-3.3.1-2]).
    DupOnQos0,
    /// CONNECT with a password but no user name ([MQTT-3.1.2-22]).
    PasswordWithoutUsername,
    /// A property the packet may not carry, given twice though single-valued, or with a value
    /// outside its range (MQTT 5.0 section 2.2.2.2); the receiver would reject the packet.
    InvalidProperty(PropertyId),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::FieldTooLong { field, len } => {
                write!(f, "{field} is {len} bytes; at most 65535 fit")
            }
            EncodeError::PacketTooLarge(len) => {
                write!(
                    f,
                    "packet body of {len} bytes exceeds the protocol maximum of {MAX_REMAINING_LENGTH}"
                )
            }
            EncodeError::Empty(t) => write!(f, "{t:?} needs at least one entry"),
            EncodeError::NullCharacter { field } => write!(f, "{field} contains U+0000"),
            EncodeError::DupOnQos0 => f.write_str("DUP must be 0 on a QoS 0 PUBLISH"),
            EncodeError::PasswordWithoutUsername => {
                f.write_str("a password needs a user name in MQTT 3.1.1")
            }
            EncodeError::InvalidProperty(id) => write!(
                f,
                "the {} property is not allowed here, repeated, or out of range",
                id.name()
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

pub(crate) fn field_len(field: &'static str, bytes: &[u8]) -> Result<usize, EncodeError> {
    if bytes.len() > u16::MAX as usize {
        Err(EncodeError::FieldTooLong {
            field,
            len: bytes.len(),
        })
    } else {
        Ok(2 + bytes.len())
    }
}

/// Like [`field_len`] for a UTF-8 string field, which also must not hold U+0000.
pub(crate) fn string_len(field: &'static str, s: &str) -> Result<usize, EncodeError> {
    if s.contains('\0') {
        return Err(EncodeError::NullCharacter { field });
    }
    field_len(field, s.as_bytes())
}

pub(crate) fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Bytes a Variable Byte Integer (or remaining length) of `value` takes (MQTT 5.0 section
/// 1.5.5).
pub(crate) fn var_int_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

fn put_header(out: &mut Vec<u8>, first_byte: u8, remaining: usize) -> Result<(), EncodeError> {
    if remaining > MAX_REMAINING_LENGTH {
        return Err(EncodeError::PacketTooLarge(remaining));
    }
    out.reserve(5 + remaining);
    out.push(first_byte);
    put_var_int(out, remaining);
    Ok(())
}

fn put_id_only(out: &mut Vec<u8>, first_byte: u8, id: PacketId) {
    out.extend_from_slice(&[first_byte, 2]);
    out.extend_from_slice(&id.get().to_be_bytes());
}

/// Appends a PUBLISH built from borrowed parts: the broker's fan-out path encodes one stored message
/// for many subscribers without assembling a [`Publish`] each time. `topic` should be a valid topic
/// name (see [`crate::topic::TopicName`]); only the rules that keep the frame itself well formed
/// (length, U+0000, DUP at QoS 0) are checked here.
pub fn encode_publish(
    out: &mut Vec<u8>,
    dup: bool,
    qospid: QosPid,
    retain: bool,
    topic: &str,
    payload: &[u8],
) -> Result<(), EncodeError> {
    if dup && qospid == QosPid::AtMostOnce {
        return Err(EncodeError::DupOnQos0);
    }
    let id_len = if qospid.packet_id().is_some() { 2 } else { 0 };
    let remaining = string_len("topic", topic)? + id_len + payload.len();
    let first = 0x30 | ((dup as u8) << 3) | ((qospid.qos() as u8) << 1) | retain as u8;
    put_header(out, first, remaining)?;
    put_field(out, topic.as_bytes());
    if let Some(id) = qospid.packet_id() {
        out.extend_from_slice(&id.get().to_be_bytes());
    }
    out.extend_from_slice(payload);
    Ok(())
}

impl Packet {
    /// Appends this packet's wire form to `out`. On error nothing is appended.
    ///
    /// Whatever encodes successfully decodes back to an equal packet: fields a receiver would
    /// reject (U+0000 in a string, DUP at QoS 0, a password without user name, an empty
    /// SUBSCRIBE, SUBACK or UNSUBSCRIBE, oversized fields) are refused here instead.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Packet::Connect(c) => encode_connect(c, out)?,
            Packet::Connack(c) => {
                out.extend_from_slice(&[0x20, 2, c.session_present as u8, c.code as u8])
            }
            Packet::Publish(p) => {
                encode_publish(out, p.dup, p.qospid, p.retain, p.topic.as_str(), &p.payload)?
            }
            Packet::Puback(id) => put_id_only(out, 0x40, *id),
            Packet::Pubrec(id) => put_id_only(out, 0x50, *id),
            Packet::Pubrel(id) => put_id_only(out, 0x62, *id),
            Packet::Pubcomp(id) => put_id_only(out, 0x70, *id),
            Packet::Subscribe(s) => {
                if s.topics.is_empty() {
                    return Err(EncodeError::Empty(PacketType::Subscribe));
                }
                let mut remaining = 2;
                for t in &s.topics {
                    remaining += string_len("topic filter", &t.filter)? + 1;
                }
                put_header(out, 0x82, remaining)?;
                out.extend_from_slice(&s.packet_id.get().to_be_bytes());
                for t in &s.topics {
                    put_field(out, t.filter.as_bytes());
                    out.push(t.qos as u8);
                }
            }
            Packet::Suback(s) => {
                if s.codes.is_empty() {
                    return Err(EncodeError::Empty(PacketType::Suback));
                }
                put_header(out, 0x90, 2 + s.codes.len())?;
                out.extend_from_slice(&s.packet_id.get().to_be_bytes());
                out.extend(s.codes.iter().map(|c| c.to_u8()));
            }
            Packet::Unsubscribe(u) => {
                if u.filters.is_empty() {
                    return Err(EncodeError::Empty(PacketType::Unsubscribe));
                }
                let mut remaining = 2;
                for f in &u.filters {
                    remaining += string_len("topic filter", f)?;
                }
                put_header(out, 0xA2, remaining)?;
                out.extend_from_slice(&u.packet_id.get().to_be_bytes());
                for f in &u.filters {
                    put_field(out, f.as_bytes());
                }
            }
            Packet::Unsuback(id) => put_id_only(out, 0xB0, *id),
            Packet::Pingreq => out.extend_from_slice(&[0xC0, 0]),
            Packet::Pingresp => out.extend_from_slice(&[0xD0, 0]),
            Packet::Disconnect => out.extend_from_slice(&[0xE0, 0]),
        }
        Ok(())
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }
}

fn encode_connect(c: &Connect, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let name = c.protocol.name();
    let mut remaining = 2 + name.len() + 1 + 1 + 2;
    remaining += string_len("client id", &c.client_id)?;
    let mut flags = (c.clean_session as u8) << 1;
    if let Some(w) = &c.will {
        remaining += field_len("will topic", w.topic.as_str().as_bytes())?;
        remaining += field_len("will payload", &w.payload)?;
        flags |= 0x04 | ((w.qos as u8) << 3) | ((w.retain as u8) << 5);
    }
    if c.password.is_some() && c.username.is_none() {
        return Err(EncodeError::PasswordWithoutUsername);
    }
    if let Some(u) = &c.username {
        remaining += string_len("user name", u)?;
        flags |= 0x80;
    }
    if let Some(p) = &c.password {
        remaining += field_len("password", p)?;
        flags |= 0x40;
    }
    put_header(out, 0x10, remaining)?;
    put_field(out, name.as_bytes());
    out.push(c.protocol.level());
    out.push(flags);
    out.extend_from_slice(&c.keep_alive.to_be_bytes());
    put_field(out, c.client_id.as_bytes());
    if let Some(w) = &c.will {
        put_field(out, w.topic.as_str().as_bytes());
        put_field(out, &w.payload);
    }
    if let Some(u) = &c.username {
        put_field(out, u.as_bytes());
    }
    if let Some(p) = &c.password {
        put_field(out, p);
    }
    Ok(())
}
