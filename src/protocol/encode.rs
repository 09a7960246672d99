//! Encoding packets onto the end of a byte buffer, so many packets can be batched into one
//! `write()`.

use std::fmt;

use super::decode::MAX_REMAINING_LENGTH;
use super::packet::*;
use super::properties::{
    Properties, Property, PropertyContext, PropertyId, list_body_len, put_list, put_var_int,
    validate_list,
};
use super::reason::ReasonCode;

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
    /// A packet or field the protocol revision does not have: AUTH, or an empty (aliased) topic
    /// name, before MQTT 5.0.
    NotInProtocol {
        what: &'static str,
        protocol: ProtocolLevel,
    },
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
            EncodeError::NotInProtocol { what, protocol } => {
                write!(
                    f,
                    "{what} does not exist in MQTT protocol level {}",
                    protocol.level()
                )
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

/// Checks `properties` for `context` and returns their length on the wire (length prefix
/// included): 0 when the revision has no properties, so they are left out.
fn properties_len(
    properties: &Properties,
    context: PropertyContext,
    v5: bool,
) -> Result<usize, EncodeError> {
    if !v5 {
        return Ok(0);
    }
    properties.validate(context)?;
    properties.encoded_len()
}

fn put_properties(out: &mut Vec<u8>, properties: &Properties, v5: bool) {
    if v5 {
        // Validated and measured by `properties_len` before the header was written.
        let body = properties.body_len().expect("measured before");
        properties.put(out, body);
    }
}

/// Appends a PUBLISH built from borrowed parts: the broker's fan-out path encodes one stored message
/// for many subscribers without assembling a [`Publish`] each time. `topic` should be a valid topic
/// name (see [`crate::topic::TopicName`]); only the rules that keep the frame itself well formed
/// (length, U+0000, DUP at QoS 0) are checked here. For MQTT 3.1.1 and 3.1 peers.
pub fn encode_publish(
    out: &mut Vec<u8>,
    dup: bool,
    qospid: QosPid,
    retain: bool,
    topic: &str,
    payload: &[u8],
) -> Result<(), EncodeError> {
    put_publish(out, dup, qospid, retain, topic, payload, None)
}

/// [`encode_publish`] for an MQTT 5.0 peer: the same with PUBLISH properties, the message's own
/// (`properties`) followed by those of this one delivery (`extra`: a Topic Alias, Subscription
/// Identifiers, the remaining Message Expiry Interval), so a broker fanning out one message adds
/// per-subscriber properties without copying the shared ones. Together they must be valid for a
/// PUBLISH (see [`Properties::validate`]). An empty topic relies on a Topic Alias among them.
#[allow(clippy::too_many_arguments)]
pub fn encode_publish_v5(
    out: &mut Vec<u8>,
    dup: bool,
    qospid: QosPid,
    retain: bool,
    topic: &str,
    payload: &[u8],
    properties: &Properties,
    extra: &[Property],
) -> Result<(), EncodeError> {
    put_publish(
        out,
        dup,
        qospid,
        retain,
        topic,
        payload,
        Some((properties, extra)),
    )
}

fn put_publish(
    out: &mut Vec<u8>,
    dup: bool,
    qospid: QosPid,
    retain: bool,
    topic: &str,
    payload: &[u8],
    properties: Option<(&Properties, &[Property])>,
) -> Result<(), EncodeError> {
    if dup && qospid == QosPid::AtMostOnce {
        return Err(EncodeError::DupOnQos0);
    }
    if topic.is_empty() && properties.is_none() {
        return Err(EncodeError::NotInProtocol {
            what: "an empty topic name",
            protocol: ProtocolLevel::V311,
        });
    }
    let id_len = if qospid.packet_id().is_some() { 2 } else { 0 };
    let (props_len, body_len) = match properties {
        Some((shared, extra)) => {
            let all = || shared.iter().chain(extra.iter());
            validate_list(all(), PropertyContext::Publish)?;
            let body = list_body_len(all())?;
            (var_int_len(body) + body, body)
        }
        None => (0, 0),
    };
    let remaining = string_len("topic", topic)? + id_len + props_len + payload.len();
    let first = 0x30 | ((dup as u8) << 3) | ((qospid.qos() as u8) << 1) | retain as u8;
    put_header(out, first, remaining)?;
    put_field(out, topic.as_bytes());
    if let Some(id) = qospid.packet_id() {
        out.extend_from_slice(&id.get().to_be_bytes());
    }
    if let Some((shared, extra)) = properties {
        put_list(out, shared.iter().chain(extra.iter()), body_len);
    }
    out.extend_from_slice(payload);
    Ok(())
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP: in MQTT 5.0 the reason code and properties are left out when
/// they are success and none, and the properties alone when there are none (MQTT 5.0 section
/// 3.4.2.1).
fn put_ack(
    out: &mut Vec<u8>,
    first_byte: u8,
    ack: &Ack,
    context: PropertyContext,
    v5: bool,
) -> Result<(), EncodeError> {
    let with_reason = v5 && (ack.reason != ReasonCode::SUCCESS || !ack.properties.is_empty());
    let with_properties = v5 && !ack.properties.is_empty();
    let props_len = if with_properties {
        properties_len(&ack.properties, context, true)?
    } else {
        0
    };
    let remaining = 2 + with_reason as usize + props_len;
    put_header(out, first_byte, remaining)?;
    out.extend_from_slice(&ack.packet_id.get().to_be_bytes());
    if with_reason {
        out.push(ack.reason.0);
    }
    put_properties(out, &ack.properties, with_properties);
    Ok(())
}

/// DISCONNECT and AUTH: no body at all when the reason is success and there are no properties
/// (MQTT 5.0 sections 3.14.2.1 and 3.15.2.1), and always none before MQTT 5.0.
fn put_reason_only(
    out: &mut Vec<u8>,
    first_byte: u8,
    reason: ReasonCode,
    properties: &Properties,
    context: PropertyContext,
    v5: bool,
) -> Result<(), EncodeError> {
    let with_reason = v5 && (reason != ReasonCode::SUCCESS || !properties.is_empty());
    let with_properties = v5 && !properties.is_empty();
    let props_len = if with_properties {
        properties_len(properties, context, true)?
    } else {
        0
    };
    put_header(out, first_byte, with_reason as usize + props_len)?;
    if with_reason {
        out.push(reason.0);
    }
    put_properties(out, properties, with_properties);
    Ok(())
}

impl Packet {
    /// Appends this packet's wire form for an MQTT 3.1.1 (or 3.1) peer to `out`; a CONNECT is
    /// always encoded for the revision it names. See [`Packet::encode_for`].
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.encode_for(ProtocolLevel::V311, out)
    }

    /// Appends this packet's wire form for a peer speaking `protocol` to `out` (a CONNECT always
    /// for the revision it names). On error nothing is appended.
    ///
    /// Whatever encodes successfully decodes back to an equal packet under the same revision:
    /// fields a receiver would reject (U+0000 in a string, DUP at QoS 0, a password without user
    /// name before MQTT 5.0, an empty SUBSCRIBE, SUBACK or UNSUBSCRIBE, oversized fields,
    /// properties a packet may not carry) are refused here instead. For the older revisions what
    /// MQTT 5.0 added is left out: properties, UNSUBACK codes, the reasons of acknowledgements
    /// and DISCONNECT; CONNACK and SUBACK codes become their MQTT 3.1.1 equivalents.
    pub fn encode_for(
        &self,
        protocol: ProtocolLevel,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let v5 = protocol.is_v5();
        match self {
            Packet::Connect(c) => encode_connect(c, out)?,
            Packet::Connack(c) => {
                if v5 {
                    let props_len = properties_len(&c.properties, PropertyContext::Connack, true)?;
                    put_header(out, 0x20, 2 + props_len)?;
                    out.extend_from_slice(&[c.session_present as u8, c.code.0]);
                    put_properties(out, &c.properties, true);
                } else {
                    let code = ConnectReturnCode::from_reason(c.code);
                    out.extend_from_slice(&[0x20, 2, c.session_present as u8, code as u8]);
                }
            }
            Packet::Publish(p) => put_publish(
                out,
                p.dup,
                p.qospid,
                p.retain,
                p.topic.as_str(),
                &p.payload,
                v5.then_some((&p.properties, &[][..])),
            )?,
            Packet::Puback(a) => put_ack(out, 0x40, a, PropertyContext::Puback, v5)?,
            Packet::Pubrec(a) => put_ack(out, 0x50, a, PropertyContext::Pubrec, v5)?,
            Packet::Pubrel(a) => put_ack(out, 0x62, a, PropertyContext::Pubrel, v5)?,
            Packet::Pubcomp(a) => put_ack(out, 0x70, a, PropertyContext::Pubcomp, v5)?,
            Packet::Subscribe(s) => {
                if s.topics.is_empty() {
                    return Err(EncodeError::Empty(PacketType::Subscribe));
                }
                let mut remaining =
                    2 + properties_len(&s.properties, PropertyContext::Subscribe, v5)?;
                for t in &s.topics {
                    remaining += string_len("topic filter", &t.filter)? + 1;
                }
                put_header(out, 0x82, remaining)?;
                out.extend_from_slice(&s.packet_id.get().to_be_bytes());
                put_properties(out, &s.properties, v5);
                for t in &s.topics {
                    put_field(out, t.filter.as_bytes());
                    let mut byte = t.qos as u8;
                    if v5 {
                        let o = t.options;
                        byte |= (o.no_local as u8) << 2
                            | (o.retain_as_published as u8) << 3
                            | (o.retain_handling.min(2)) << 4;
                    }
                    out.push(byte);
                }
            }
            Packet::Suback(s) => {
                if s.codes.is_empty() {
                    return Err(EncodeError::Empty(PacketType::Suback));
                }
                let props_len = properties_len(&s.properties, PropertyContext::Suback, v5)?;
                put_header(out, 0x90, 2 + props_len + s.codes.len())?;
                out.extend_from_slice(&s.packet_id.get().to_be_bytes());
                put_properties(out, &s.properties, v5);
                out.extend(s.codes.iter().map(|c| {
                    if v5 {
                        c.0
                    } else {
                        SubackCode::from_reason(*c).to_u8()
                    }
                }));
            }
            Packet::Unsubscribe(u) => {
                if u.filters.is_empty() {
                    return Err(EncodeError::Empty(PacketType::Unsubscribe));
                }
                let mut remaining =
                    2 + properties_len(&u.properties, PropertyContext::Unsubscribe, v5)?;
                for f in &u.filters {
                    remaining += string_len("topic filter", f)?;
                }
                put_header(out, 0xA2, remaining)?;
                out.extend_from_slice(&u.packet_id.get().to_be_bytes());
                put_properties(out, &u.properties, v5);
                for f in &u.filters {
                    put_field(out, f.as_bytes());
                }
            }
            Packet::Unsuback(u) => {
                if v5 {
                    if u.codes.is_empty() {
                        return Err(EncodeError::Empty(PacketType::Unsuback));
                    }
                    let props_len = properties_len(&u.properties, PropertyContext::Unsuback, true)?;
                    put_header(out, 0xB0, 2 + props_len + u.codes.len())?;
                    out.extend_from_slice(&u.packet_id.get().to_be_bytes());
                    put_properties(out, &u.properties, true);
                    out.extend(u.codes.iter().map(|c| c.0));
                } else {
                    out.extend_from_slice(&[0xB0, 2]);
                    out.extend_from_slice(&u.packet_id.get().to_be_bytes());
                }
            }
            Packet::Pingreq => out.extend_from_slice(&[0xC0, 0]),
            Packet::Pingresp => out.extend_from_slice(&[0xD0, 0]),
            Packet::Disconnect(d) => put_reason_only(
                out,
                0xE0,
                d.reason,
                &d.properties,
                PropertyContext::Disconnect,
                v5,
            )?,
            Packet::Auth(a) => {
                if !v5 {
                    return Err(EncodeError::NotInProtocol {
                        what: "AUTH",
                        protocol,
                    });
                }
                put_reason_only(
                    out,
                    0xF0,
                    a.reason,
                    &a.properties,
                    PropertyContext::Auth,
                    true,
                )?
            }
        }
        Ok(())
    }

    /// The wire form for an MQTT 3.1.1 peer as a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        self.to_bytes_for(ProtocolLevel::V311)
    }

    /// The wire form for a peer speaking `protocol` as a new buffer.
    pub fn to_bytes_for(&self, protocol: ProtocolLevel) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_for(protocol, &mut out)?;
        Ok(out)
    }
}

fn encode_connect(c: &Connect, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let v5 = c.protocol.is_v5();
    let name = c.protocol.name();
    let mut remaining = 2 + name.len() + 1 + 1 + 2;
    remaining += properties_len(&c.properties, PropertyContext::Connect, v5)?;
    remaining += string_len("client id", &c.client_id)?;
    let mut flags = (c.clean_session as u8) << 1;
    if let Some(w) = &c.will {
        remaining += properties_len(&w.properties, PropertyContext::Will, v5)?;
        remaining += field_len("will topic", w.topic.as_str().as_bytes())?;
        remaining += field_len("will payload", &w.payload)?;
        flags |= 0x04 | ((w.qos as u8) << 3) | ((w.retain as u8) << 5);
    }
    if c.password.is_some() && c.username.is_none() && !v5 {
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
    put_properties(out, &c.properties, v5);
    put_field(out, c.client_id.as_bytes());
    if let Some(w) = &c.will {
        put_properties(out, &w.properties, v5);
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
