//! MQTT 5.0 properties (MQTT 5.0 section 2.2.2): the identifiers, their data types, the packets
//! each may appear in, and a packet's property list as plain data.
//!
//! A property list is kept as the sequence that arrived, not as a struct with a field per
//! property: a packet without properties (every MQTT 3.1.1 packet, most MQTT 5.0 ones) costs an
//! empty `Vec`, and User Properties keep their order, which a server forwarding a message must
//! preserve ([MQTT-3.3.2-18]). Decoding checks every receiver rule of section 2.2.2.2 and of the
//! property definitions, so a decoded list is valid for its packet.

use super::decode::Fields;
use super::encode::{EncodeError, put_field, string_len, var_int_len};
use super::error::DecodeError;
use super::packet::PacketType;

/// Property identifiers (MQTT 5.0 table 2-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum PropertyId {
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0B,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1A,
    ServerReference = 0x1C,
    ReasonString = 0x1F,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQos = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2A,
}

/// Every property identifier, in numeric order.
pub const ALL_PROPERTY_IDS: [PropertyId; 27] = {
    use PropertyId::*;
    [
        PayloadFormatIndicator,
        MessageExpiryInterval,
        ContentType,
        ResponseTopic,
        CorrelationData,
        SubscriptionIdentifier,
        SessionExpiryInterval,
        AssignedClientIdentifier,
        ServerKeepAlive,
        AuthenticationMethod,
        AuthenticationData,
        RequestProblemInformation,
        WillDelayInterval,
        RequestResponseInformation,
        ResponseInformation,
        ServerReference,
        ReasonString,
        ReceiveMaximum,
        TopicAliasMaximum,
        TopicAlias,
        MaximumQos,
        RetainAvailable,
        UserProperty,
        MaximumPacketSize,
        WildcardSubscriptionAvailable,
        SubscriptionIdentifierAvailable,
        SharedSubscriptionAvailable,
    ]
};

/// The data type of a property's value (MQTT 5.0 section 1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyType {
    Byte,
    TwoByteInteger,
    FourByteInteger,
    VariableByteInteger,
    Utf8String,
    BinaryData,
    Utf8StringPair,
}

/// Where a property list appears: a packet type, or the will properties inside CONNECT's payload,
/// which have an allowed set of their own (MQTT 5.0 section 3.1.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyContext {
    Connect,
    Will,
    Connack,
    Publish,
    Puback,
    Pubrec,
    Pubrel,
    Pubcomp,
    Subscribe,
    Suback,
    Unsubscribe,
    Unsuback,
    Disconnect,
    Auth,
}

impl PropertyContext {
    fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl PropertyId {
    pub fn from_u8(v: u8) -> Option<PropertyId> {
        ALL_PROPERTY_IDS.iter().copied().find(|id| *id as u8 == v)
    }

    pub fn property_type(self) -> PropertyType {
        use PropertyId::*;
        use PropertyType::*;
        match self {
            PayloadFormatIndicator
            | RequestProblemInformation
            | RequestResponseInformation
            | MaximumQos
            | RetainAvailable
            | WildcardSubscriptionAvailable
            | SubscriptionIdentifierAvailable
            | SharedSubscriptionAvailable => Byte,
            ServerKeepAlive | ReceiveMaximum | TopicAliasMaximum | TopicAlias => TwoByteInteger,
            MessageExpiryInterval
            | SessionExpiryInterval
            | WillDelayInterval
            | MaximumPacketSize => FourByteInteger,
            SubscriptionIdentifier => VariableByteInteger,
            ContentType
            | ResponseTopic
            | AssignedClientIdentifier
            | AuthenticationMethod
            | ResponseInformation
            | ServerReference
            | ReasonString => Utf8String,
            CorrelationData | AuthenticationData => BinaryData,
            UserProperty => Utf8StringPair,
        }
    }

    /// Whether the property may appear in `context` (MQTT 5.0 table 2-4): anything else makes
    /// the packet malformed (section 2.2.2.2).
    pub fn allowed_in(self, context: PropertyContext) -> bool {
        use PropertyContext as C;
        use PropertyId::*;
        let contexts: &[C] = match self {
            PayloadFormatIndicator
            | MessageExpiryInterval
            | ContentType
            | ResponseTopic
            | CorrelationData => &[C::Publish, C::Will],
            SubscriptionIdentifier => &[C::Publish, C::Subscribe],
            SessionExpiryInterval => &[C::Connect, C::Connack, C::Disconnect],
            AssignedClientIdentifier
            | ServerKeepAlive
            | ResponseInformation
            | MaximumQos
            | RetainAvailable
            | WildcardSubscriptionAvailable
            | SubscriptionIdentifierAvailable
            | SharedSubscriptionAvailable => &[C::Connack],
            AuthenticationMethod | AuthenticationData => &[C::Connect, C::Connack, C::Auth],
            RequestProblemInformation | RequestResponseInformation => &[C::Connect],
            WillDelayInterval => &[C::Will],
            ServerReference => &[C::Connack, C::Disconnect],
            ReasonString => &[
                C::Connack,
                C::Puback,
                C::Pubrec,
                C::Pubrel,
                C::Pubcomp,
                C::Suback,
                C::Unsuback,
                C::Disconnect,
                C::Auth,
            ],
            ReceiveMaximum | TopicAliasMaximum | MaximumPacketSize => &[C::Connect, C::Connack],
            TopicAlias => &[C::Publish],
            UserProperty => &[
                C::Connect,
                C::Will,
                C::Connack,
                C::Publish,
                C::Puback,
                C::Pubrec,
                C::Pubrel,
                C::Pubcomp,
                C::Subscribe,
                C::Suback,
                C::Unsubscribe,
                C::Unsuback,
                C::Disconnect,
                C::Auth,
            ],
        };
        contexts.iter().fold(0, |mask, c| mask | c.bit()) & context.bit() != 0
    }

    /// Whether the property may appear more than once in one list: User Property always (each
    /// packet's definition in MQTT 5.0 section 3 allows it to repeat), Subscription Identifier in a PUBLISH
    /// sent to a client whose subscriptions overlap (MQTT 5.0 section 3.3.2.3.8) but only once in
    /// SUBSCRIBE (section 3.8.2.1.2). Any other repeated property is a protocol error.
    pub fn repeatable_in(self, context: PropertyContext) -> bool {
        match self {
            PropertyId::UserProperty => true,
            PropertyId::SubscriptionIdentifier => context == PropertyContext::Publish,
            _ => false,
        }
    }

    pub fn name(self) -> &'static str {
        use PropertyId::*;
        match self {
            PayloadFormatIndicator => "payload format indicator",
            MessageExpiryInterval => "message expiry interval",
            ContentType => "content type",
            ResponseTopic => "response topic",
            CorrelationData => "correlation data",
            SubscriptionIdentifier => "subscription identifier",
            SessionExpiryInterval => "session expiry interval",
            AssignedClientIdentifier => "assigned client identifier",
            ServerKeepAlive => "server keep alive",
            AuthenticationMethod => "authentication method",
            AuthenticationData => "authentication data",
            RequestProblemInformation => "request problem information",
            WillDelayInterval => "will delay interval",
            RequestResponseInformation => "request response information",
            ResponseInformation => "response information",
            ServerReference => "server reference",
            ReasonString => "reason string",
            ReceiveMaximum => "receive maximum",
            TopicAliasMaximum => "topic alias maximum",
            TopicAlias => "topic alias",
            MaximumQos => "maximum QoS",
            RetainAvailable => "retain available",
            UserProperty => "user property",
            MaximumPacketSize => "maximum packet size",
            WildcardSubscriptionAvailable => "wildcard subscription available",
            SubscriptionIdentifierAvailable => "subscription identifier available",
            SharedSubscriptionAvailable => "shared subscription available",
        }
    }
}

/// One property with its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Property {
    /// 0: unspecified bytes, 1: UTF-8 encoded character data (section 3.3.2.3.2).
    PayloadFormatIndicator(u8),
    /// Seconds.
    MessageExpiryInterval(u32),
    ContentType(String),
    ResponseTopic(String),
    CorrelationData(Vec<u8>),
    /// 1 to 268,435,455.
    SubscriptionIdentifier(u32),
    /// Seconds; 0xFFFFFFFF never expires.
    SessionExpiryInterval(u32),
    AssignedClientIdentifier(String),
    /// Seconds.
    ServerKeepAlive(u16),
    AuthenticationMethod(String),
    AuthenticationData(Vec<u8>),
    RequestProblemInformation(u8),
    /// Seconds.
    WillDelayInterval(u32),
    RequestResponseInformation(u8),
    ResponseInformation(String),
    ServerReference(String),
    ReasonString(String),
    ReceiveMaximum(u16),
    TopicAliasMaximum(u16),
    TopicAlias(u16),
    MaximumQos(u8),
    RetainAvailable(u8),
    /// Name and value.
    UserProperty(String, String),
    MaximumPacketSize(u32),
    WildcardSubscriptionAvailable(u8),
    SubscriptionIdentifierAvailable(u8),
    SharedSubscriptionAvailable(u8),
}

impl Property {
    pub fn id(&self) -> PropertyId {
        use Property as P;
        use PropertyId as I;
        match self {
            P::PayloadFormatIndicator(_) => I::PayloadFormatIndicator,
            P::MessageExpiryInterval(_) => I::MessageExpiryInterval,
            P::ContentType(_) => I::ContentType,
            P::ResponseTopic(_) => I::ResponseTopic,
            P::CorrelationData(_) => I::CorrelationData,
            P::SubscriptionIdentifier(_) => I::SubscriptionIdentifier,
            P::SessionExpiryInterval(_) => I::SessionExpiryInterval,
            P::AssignedClientIdentifier(_) => I::AssignedClientIdentifier,
            P::ServerKeepAlive(_) => I::ServerKeepAlive,
            P::AuthenticationMethod(_) => I::AuthenticationMethod,
            P::AuthenticationData(_) => I::AuthenticationData,
            P::RequestProblemInformation(_) => I::RequestProblemInformation,
            P::WillDelayInterval(_) => I::WillDelayInterval,
            P::RequestResponseInformation(_) => I::RequestResponseInformation,
            P::ResponseInformation(_) => I::ResponseInformation,
            P::ServerReference(_) => I::ServerReference,
            P::ReasonString(_) => I::ReasonString,
            P::ReceiveMaximum(_) => I::ReceiveMaximum,
            P::TopicAliasMaximum(_) => I::TopicAliasMaximum,
            P::TopicAlias(_) => I::TopicAlias,
            P::MaximumQos(_) => I::MaximumQos,
            P::RetainAvailable(_) => I::RetainAvailable,
            P::UserProperty(..) => I::UserProperty,
            P::MaximumPacketSize(_) => I::MaximumPacketSize,
            P::WildcardSubscriptionAvailable(_) => I::WildcardSubscriptionAvailable,
            P::SubscriptionIdentifierAvailable(_) => I::SubscriptionIdentifierAvailable,
            P::SharedSubscriptionAvailable(_) => I::SharedSubscriptionAvailable,
        }
    }

    /// The value as an integer, for the integer-typed properties.
    pub fn integer(&self) -> Option<u32> {
        use Property as P;
        Some(match *self {
            P::PayloadFormatIndicator(v)
            | P::RequestProblemInformation(v)
            | P::RequestResponseInformation(v)
            | P::MaximumQos(v)
            | P::RetainAvailable(v)
            | P::WildcardSubscriptionAvailable(v)
            | P::SubscriptionIdentifierAvailable(v)
            | P::SharedSubscriptionAvailable(v) => u32::from(v),
            P::ServerKeepAlive(v)
            | P::ReceiveMaximum(v)
            | P::TopicAliasMaximum(v)
            | P::TopicAlias(v) => u32::from(v),
            P::MessageExpiryInterval(v)
            | P::SubscriptionIdentifier(v)
            | P::SessionExpiryInterval(v)
            | P::WillDelayInterval(v)
            | P::MaximumPacketSize(v) => v,
            _ => return None,
        })
    }

    /// Whether the value is one the property's definition allows; a value outside it is a
    /// protocol error. Bytes that are flags take 0 or 1 only (Payload Format Indicator, section
    /// 3.3.2.3.2; Request Problem / Response Information, 3.1.2.11.7-8; Maximum QoS, Retain,
    /// Wildcard, Subscription Identifier and Shared Subscription Available, 3.2.2.3.4-12);
    /// Receive Maximum, Maximum Packet Size, Topic Alias and Subscription Identifier are never
    /// 0 (3.1.2.11.3, 3.1.2.11.4, [MQTT-3.3.2-8], 3.8.2.1.2), and a Subscription Identifier
    /// fits 1 to 268,435,455.
    pub fn value_is_valid(&self) -> bool {
        use Property as P;
        match *self {
            P::PayloadFormatIndicator(v)
            | P::RequestProblemInformation(v)
            | P::RequestResponseInformation(v)
            | P::MaximumQos(v)
            | P::RetainAvailable(v)
            | P::WildcardSubscriptionAvailable(v)
            | P::SubscriptionIdentifierAvailable(v)
            | P::SharedSubscriptionAvailable(v) => v <= 1,
            P::ReceiveMaximum(v) | P::TopicAlias(v) => v != 0,
            P::MaximumPacketSize(v) => v != 0,
            P::SubscriptionIdentifier(v) => (1..=MAX_VAR_INT).contains(&v),
            _ => true,
        }
    }

    fn encoded_len(&self) -> Result<usize, EncodeError> {
        use Property as P;
        let name = self.id().name();
        Ok(1 + match self {
            P::ContentType(s)
            | P::ResponseTopic(s)
            | P::AssignedClientIdentifier(s)
            | P::AuthenticationMethod(s)
            | P::ResponseInformation(s)
            | P::ServerReference(s)
            | P::ReasonString(s) => string_len(name, s)?,
            P::CorrelationData(b) | P::AuthenticationData(b) => super::encode::field_len(name, b)?,
            P::UserProperty(k, v) => string_len(name, k)? + string_len(name, v)?,
            P::SubscriptionIdentifier(v) => var_int_len(*v as usize),
            other => match other.id().property_type() {
                PropertyType::Byte => 1,
                PropertyType::TwoByteInteger => 2,
                _ => 4,
            },
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        use Property as P;
        out.push(self.id() as u8);
        match self {
            P::ContentType(s)
            | P::ResponseTopic(s)
            | P::AssignedClientIdentifier(s)
            | P::AuthenticationMethod(s)
            | P::ResponseInformation(s)
            | P::ServerReference(s)
            | P::ReasonString(s) => put_field(out, s.as_bytes()),
            P::CorrelationData(b) | P::AuthenticationData(b) => put_field(out, b),
            P::UserProperty(k, v) => {
                put_field(out, k.as_bytes());
                put_field(out, v.as_bytes());
            }
            P::SubscriptionIdentifier(v) => put_var_int(out, *v as usize),
            other => {
                let v = other.integer().expect("every other property is an integer");
                match other.id().property_type() {
                    PropertyType::Byte => out.push(v as u8),
                    PropertyType::TwoByteInteger => {
                        out.extend_from_slice(&(v as u16).to_be_bytes())
                    }
                    _ => out.extend_from_slice(&v.to_be_bytes()),
                }
            }
        }
    }
}

/// The largest value a Variable Byte Integer holds (MQTT 5.0 section 1.5.5).
pub const MAX_VAR_INT: u32 = 268_435_455;

/// Appends a Variable Byte Integer (MQTT 5.0 section 1.5.5), in the fewest bytes
/// ([MQTT-1.5.5-1]). `v` must not exceed [`MAX_VAR_INT`].
pub(crate) fn put_var_int(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let mut byte = (v % 128) as u8;
        v /= 128;
        if v > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if v == 0 {
            return;
        }
    }
}

/// A packet's properties, in the order they were given or received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Properties(pub Vec<Property>);

impl Properties {
    pub fn new() -> Properties {
        Properties(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Property> {
        self.0.iter()
    }

    pub fn push(&mut self, property: Property) {
        self.0.push(property);
    }

    pub fn extend(&mut self, properties: impl IntoIterator<Item = Property>) {
        self.0.extend(properties);
    }

    /// The first property with `id`.
    pub fn get(&self, id: PropertyId) -> Option<&Property> {
        self.0.iter().find(|p| p.id() == id)
    }

    /// The value of the first integer property with `id`.
    pub fn integer(&self, id: PropertyId) -> Option<u32> {
        self.get(id).and_then(Property::integer)
    }

    /// The value of the first string property with `id`.
    pub fn string(&self, id: PropertyId) -> Option<&str> {
        use Property as P;
        match self.get(id)? {
            P::ContentType(s)
            | P::ResponseTopic(s)
            | P::AssignedClientIdentifier(s)
            | P::AuthenticationMethod(s)
            | P::ResponseInformation(s)
            | P::ServerReference(s)
            | P::ReasonString(s) => Some(s),
            _ => None,
        }
    }

    /// The value of the first binary property with `id`.
    pub fn binary(&self, id: PropertyId) -> Option<&[u8]> {
        match self.get(id)? {
            Property::CorrelationData(b) | Property::AuthenticationData(b) => Some(b),
            _ => None,
        }
    }

    /// User Properties as (name, value) pairs, in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter_map(|p| match p {
            Property::UserProperty(k, v) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }

    /// Subscription Identifiers, in order.
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().filter_map(|p| match p {
            Property::SubscriptionIdentifier(v) => Some(*v),
            _ => None,
        })
    }

    /// Removes every property with `id`.
    pub fn remove(&mut self, id: PropertyId) {
        self.0.retain(|p| p.id() != id);
    }

    /// Bytes the properties take on the wire, without the length that precedes them.
    pub fn body_len(&self) -> Result<usize, EncodeError> {
        list_body_len(self.0.iter())
    }

    /// Bytes the property length plus the properties take on the wire.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        let body = self.body_len()?;
        if body > MAX_VAR_INT as usize {
            return Err(EncodeError::PacketTooLarge(body));
        }
        Ok(var_int_len(body) + body)
    }

    /// Checks what a receiver in `context` would check, so that whatever encodes also decodes:
    /// the property is allowed there, not repeated unless repeatable, and has a valid value.
    pub fn validate(&self, context: PropertyContext) -> Result<(), EncodeError> {
        validate_list(self.0.iter(), context)
    }

    /// Appends the property length and the properties, as a packet carries them. Checks only
    /// that they fit (see [`Properties::validate`] for the rules of a packet type).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let body_len = self.body_len()?;
        self.encoded_len()?;
        self.put(out, body_len);
        Ok(())
    }

    /// Appends the property length and the properties, already checked and sized.
    pub(crate) fn put(&self, out: &mut Vec<u8>, body_len: usize) {
        put_list(out, self.0.iter(), body_len);
    }

    /// Decodes a property length and the properties it covers from the front of `bytes`, by the
    /// rules for `context` (see [`Properties::read`]); returns them with the bytes used.
    pub fn decode(
        bytes: &[u8],
        context: PropertyContext,
    ) -> Result<(Properties, usize), DecodeError> {
        let packet_type = match context {
            PropertyContext::Connect | PropertyContext::Will => PacketType::Connect,
            PropertyContext::Connack => PacketType::Connack,
            PropertyContext::Publish => PacketType::Publish,
            PropertyContext::Puback => PacketType::Puback,
            PropertyContext::Pubrec => PacketType::Pubrec,
            PropertyContext::Pubrel => PacketType::Pubrel,
            PropertyContext::Pubcomp => PacketType::Pubcomp,
            PropertyContext::Subscribe => PacketType::Subscribe,
            PropertyContext::Suback => PacketType::Suback,
            PropertyContext::Unsubscribe => PacketType::Unsubscribe,
            PropertyContext::Unsuback => PacketType::Unsuback,
            PropertyContext::Disconnect => PacketType::Disconnect,
            PropertyContext::Auth => PacketType::Auth,
        };
        let mut f = Fields::new(bytes, packet_type);
        let properties = Properties::read(&mut f, context)?;
        Ok((properties, bytes.len() - f.remaining()))
    }

    /// Reads a property length and the properties it covers, checking every receiver rule for
    /// `context`: an identifier unknown or not allowed there makes the packet malformed (MQTT 5.0
    /// section 2.2.2.2), as does a value of the wrong form (a string that is not valid UTF-8,
    /// [MQTT-1.5.4-1], or a Variable Byte Integer not in its shortest form, [MQTT-1.5.5-1]); a
    /// single-valued property given twice or a value outside its range is a protocol error.
    pub(crate) fn read(
        f: &mut Fields<'_>,
        context: PropertyContext,
    ) -> Result<Properties, DecodeError> {
        let len = f.var_int()? as usize;
        let mut body = f.sub(len)?;
        let mut list = Vec::new();
        let mut seen = 0u64;
        while !body.is_empty() {
            let code = body.var_int()?;
            let id = u8::try_from(code)
                .ok()
                .and_then(PropertyId::from_u8)
                .ok_or(DecodeError::UnknownProperty(code))?;
            if !id.allowed_in(context) {
                return Err(DecodeError::PropertyNotAllowed {
                    property: id,
                    context,
                });
            }
            let bit = 1u64 << (id as u8);
            if seen & bit != 0 && !id.repeatable_in(context) {
                return Err(DecodeError::DuplicateProperty(id));
            }
            seen |= bit;
            let property = read_value(&mut body, id)?;
            if !property.value_is_valid() {
                return Err(DecodeError::InvalidPropertyValue(id));
            }
            list.push(property);
        }
        Ok(Properties(list))
    }
}

/// [`Properties::validate`] over any sequence of properties, such as a message's own followed by
/// those a broker adds for one delivery.
pub(crate) fn validate_list<'a>(
    list: impl Iterator<Item = &'a Property>,
    context: PropertyContext,
) -> Result<(), EncodeError> {
    let mut seen = 0u64;
    for p in list {
        let id = p.id();
        if !id.allowed_in(context) || !p.value_is_valid() {
            return Err(EncodeError::InvalidProperty(id));
        }
        let bit = 1u64 << (id as u8);
        if seen & bit != 0 && !id.repeatable_in(context) {
            return Err(EncodeError::InvalidProperty(id));
        }
        seen |= bit;
    }
    Ok(())
}

/// Bytes a sequence of properties takes on the wire, without the length before it.
pub(crate) fn list_body_len<'a>(
    list: impl Iterator<Item = &'a Property>,
) -> Result<usize, EncodeError> {
    list.map(Property::encoded_len).sum()
}

/// Appends the property length and a sequence of properties measured by [`list_body_len`].
pub(crate) fn put_list<'a>(
    out: &mut Vec<u8>,
    list: impl Iterator<Item = &'a Property>,
    body_len: usize,
) {
    put_var_int(out, body_len);
    for p in list {
        p.encode(out);
    }
}

fn read_value(f: &mut Fields<'_>, id: PropertyId) -> Result<Property, DecodeError> {
    use Property as P;
    use PropertyId as I;
    Ok(match id {
        I::PayloadFormatIndicator => P::PayloadFormatIndicator(f.u8()?),
        I::MessageExpiryInterval => P::MessageExpiryInterval(f.u32()?),
        I::ContentType => P::ContentType(f.string()?.to_owned()),
        I::ResponseTopic => P::ResponseTopic(f.string()?.to_owned()),
        I::CorrelationData => P::CorrelationData(f.binary()?.to_vec()),
        I::SubscriptionIdentifier => P::SubscriptionIdentifier(f.var_int()?),
        I::SessionExpiryInterval => P::SessionExpiryInterval(f.u32()?),
        I::AssignedClientIdentifier => P::AssignedClientIdentifier(f.string()?.to_owned()),
        I::ServerKeepAlive => P::ServerKeepAlive(f.u16()?),
        I::AuthenticationMethod => P::AuthenticationMethod(f.string()?.to_owned()),
        I::AuthenticationData => P::AuthenticationData(f.binary()?.to_vec()),
        I::RequestProblemInformation => P::RequestProblemInformation(f.u8()?),
        I::WillDelayInterval => P::WillDelayInterval(f.u32()?),
        I::RequestResponseInformation => P::RequestResponseInformation(f.u8()?),
        I::ResponseInformation => P::ResponseInformation(f.string()?.to_owned()),
        I::ServerReference => P::ServerReference(f.string()?.to_owned()),
        I::ReasonString => P::ReasonString(f.string()?.to_owned()),
        I::ReceiveMaximum => P::ReceiveMaximum(f.u16()?),
        I::TopicAliasMaximum => P::TopicAliasMaximum(f.u16()?),
        I::TopicAlias => P::TopicAlias(f.u16()?),
        I::MaximumQos => P::MaximumQos(f.u8()?),
        I::RetainAvailable => P::RetainAvailable(f.u8()?),
        I::UserProperty => P::UserProperty(f.string()?.to_owned(), f.string()?.to_owned()),
        I::MaximumPacketSize => P::MaximumPacketSize(f.u32()?),
        I::WildcardSubscriptionAvailable => P::WildcardSubscriptionAvailable(f.u8()?),
        I::SubscriptionIdentifierAvailable => P::SubscriptionIdentifierAvailable(f.u8()?),
        I::SharedSubscriptionAvailable => P::SharedSubscriptionAvailable(f.u8()?),
    })
}

impl FromIterator<Property> for Properties {
    fn from_iter<T: IntoIterator<Item = Property>>(iter: T) -> Self {
        Properties(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{PacketType, ReasonCode};

    fn encode(properties: &Properties) -> Vec<u8> {
        let mut out = Vec::new();
        properties.encode(&mut out).unwrap();
        out
    }

    /// Decodes as CONNECT would, whatever the context, so truncation errors read alike.
    fn decode(bytes: &[u8], context: PropertyContext) -> Result<Properties, DecodeError> {
        let mut f = Fields::new(bytes, PacketType::Connect);
        let properties = Properties::read(&mut f, context)?;
        assert!(f.is_empty(), "the property length covers the whole input");
        Ok(properties)
    }

    #[test]
    fn encodes_each_type_byte_exact() {
        let properties = Properties(vec![
            Property::SessionExpiryInterval(10),
            Property::ReceiveMaximum(20),
            Property::UserProperty("a".into(), "b".into()),
            Property::AuthenticationData(vec![1, 2]),
            Property::RequestProblemInformation(0),
        ]);
        let bytes = encode(&properties);
        assert_eq!(
            bytes,
            [
                22, // property length
                0x11, 0, 0, 0, 10, // session expiry interval, four byte integer
                0x21, 0, 20, // receive maximum, two byte integer
                0x26, 0, 1, b'a', 0, 1, b'b', // user property, string pair
                0x16, 0, 2, 1, 2, // authentication data, binary
                0x17, 0, // request problem information, byte
            ]
        );
        assert_eq!(properties.encoded_len().unwrap(), bytes.len());
        assert_eq!(
            decode(&bytes, PropertyContext::Connect).unwrap(),
            properties
        );
    }

    #[test]
    fn subscription_identifier_is_a_variable_byte_integer() {
        let properties = Properties(vec![Property::SubscriptionIdentifier(268_435_455)]);
        let bytes = encode(&properties);
        assert_eq!(bytes, [5, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(
            decode(&bytes, PropertyContext::Publish).unwrap(),
            properties
        );
        let mut with_payload = bytes.clone();
        with_payload.extend_from_slice(b"payload");
        assert_eq!(
            Properties::decode(&with_payload, PropertyContext::Publish).unwrap(),
            (properties, bytes.len())
        );
    }

    #[test]
    fn empty_list_is_one_zero_byte() {
        assert_eq!(encode(&Properties::new()), [0]);
        assert!(decode(&[0], PropertyContext::Puback).unwrap().is_empty());
    }

    /// MQTT 5.0 section 2.2.2.2: an identifier not valid for the packet makes it malformed.
    #[test]
    fn unknown_or_misplaced_identifiers_are_malformed() {
        for id in [0x00, 0x04, 0x2B, 0x7F] {
            let err = decode(&[2, id, 0], PropertyContext::Connect).unwrap_err();
            assert_eq!(err, DecodeError::UnknownProperty(u32::from(id)));
            assert_eq!(err.reason_code(), ReasonCode::MALFORMED_PACKET);
        }
        // Topic Alias belongs to PUBLISH only.
        let err = decode(&[3, 0x23, 0, 1], PropertyContext::Connect).unwrap_err();
        assert_eq!(
            err,
            DecodeError::PropertyNotAllowed {
                property: PropertyId::TopicAlias,
                context: PropertyContext::Connect
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::MALFORMED_PACKET);
        // Will Delay Interval belongs to the will properties, not to CONNECT's own.
        assert!(decode(&[5, 0x18, 0, 0, 0, 1], PropertyContext::Will).is_ok());
        assert!(decode(&[5, 0x18, 0, 0, 0, 1], PropertyContext::Connect).is_err());
    }

    /// Every property but User Property (and Subscription Identifier in PUBLISH) is single-valued:
    /// "It is a Protocol Error to include the ... more than once" (MQTT 5.0 section 3).
    #[test]
    fn a_repeated_single_valued_property_is_a_protocol_error() {
        let twice = [10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2];
        let err = decode(&twice, PropertyContext::Connect).unwrap_err();
        assert_eq!(
            err,
            DecodeError::DuplicateProperty(PropertyId::SessionExpiryInterval)
        );
        assert_eq!(err.reason_code(), ReasonCode::PROTOCOL_ERROR);
        let ids = [4, 0x0B, 1, 0x0B, 2];
        assert_eq!(
            decode(&ids, PropertyContext::Publish)
                .unwrap()
                .subscription_identifiers()
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(
            decode(&ids, PropertyContext::Subscribe).unwrap_err(),
            DecodeError::DuplicateProperty(PropertyId::SubscriptionIdentifier)
        );
        let users = [
            14, 0x26, 0, 1, b'k', 0, 1, b'1', 0x26, 0, 1, b'k', 0, 1, b'2',
        ];
        let pairs: Vec<_> = decode(&users, PropertyContext::Publish)
            .unwrap()
            .user_properties()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(pairs, ["k=1", "k=2"], "order and repeats are kept");
    }

    /// Values out of range are protocol errors: Receive Maximum 0 (3.2.2.3.3), Maximum Packet
    /// Size 0 (3.1.2.11.4), Subscription Identifier 0 (3.8.2.1.2), Topic Alias 0
    /// ([MQTT-3.3.2-8]), flag bytes other than 0 or 1.
    #[test]
    fn out_of_range_values_are_protocol_errors() {
        let cases: [(&[u8], PropertyContext, PropertyId); 7] = [
            (
                &[3, 0x21, 0, 0],
                PropertyContext::Connect,
                PropertyId::ReceiveMaximum,
            ),
            (
                &[5, 0x27, 0, 0, 0, 0],
                PropertyContext::Connack,
                PropertyId::MaximumPacketSize,
            ),
            (
                &[2, 0x0B, 0],
                PropertyContext::Subscribe,
                PropertyId::SubscriptionIdentifier,
            ),
            (
                &[3, 0x23, 0, 0],
                PropertyContext::Publish,
                PropertyId::TopicAlias,
            ),
            (
                &[2, 0x01, 2],
                PropertyContext::Publish,
                PropertyId::PayloadFormatIndicator,
            ),
            (
                &[2, 0x24, 2],
                PropertyContext::Connack,
                PropertyId::MaximumQos,
            ),
            (
                &[2, 0x19, 7],
                PropertyContext::Connect,
                PropertyId::RequestResponseInformation,
            ),
        ];
        for (bytes, context, id) in cases {
            let err = decode(bytes, context).unwrap_err();
            assert_eq!(err, DecodeError::InvalidPropertyValue(id), "{bytes:?}");
            assert_eq!(err.reason_code(), ReasonCode::PROTOCOL_ERROR);
        }
    }

    /// Strings follow the UTF-8 rules ([MQTT-1.5.4-1], [MQTT-1.5.4-2]) in string pairs too;
    /// integers shorter than their type, or lengths past the list, are malformed.
    #[test]
    fn malformed_values() {
        let bad_utf8 = [4, 0x03, 0, 1, 0xFF];
        assert_eq!(
            decode(&bad_utf8, PropertyContext::Publish).unwrap_err(),
            DecodeError::InvalidUtf8
        );
        let null_in_value = [7, 0x26, 0, 1, b'k', 0, 1, 0];
        assert_eq!(
            decode(&null_in_value, PropertyContext::Publish).unwrap_err(),
            DecodeError::Utf8NullCharacter
        );
        // The property length claims more than there is.
        assert_eq!(
            decode(&[9, 0x11, 0, 0], PropertyContext::Connect).unwrap_err(),
            DecodeError::Truncated(PacketType::Connect)
        );
        // A four-byte integer cut short inside the list.
        assert_eq!(
            decode(&[3, 0x11, 0, 0], PropertyContext::Connect).unwrap_err(),
            DecodeError::Truncated(PacketType::Connect)
        );
        // [MQTT-1.5.5-1]: 0x80 0x00 is zero in two bytes.
        assert_eq!(
            decode(&[0x80, 0x00], PropertyContext::Connect).unwrap_err(),
            DecodeError::NonMinimalVariableByteInteger
        );
        assert_eq!(
            decode(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01], PropertyContext::Connect).unwrap_err(),
            DecodeError::VariableByteIntegerTooLong
        );
    }

    #[test]
    fn validate_refuses_what_a_receiver_would() {
        let misplaced = Properties(vec![Property::TopicAlias(1)]);
        assert_eq!(
            misplaced.validate(PropertyContext::Connect),
            Err(EncodeError::InvalidProperty(PropertyId::TopicAlias))
        );
        let zero = Properties(vec![Property::ReceiveMaximum(0)]);
        assert!(zero.validate(PropertyContext::Connect).is_err());
        let twice = Properties(vec![
            Property::ReasonString("a".into()),
            Property::ReasonString("b".into()),
        ]);
        assert!(twice.validate(PropertyContext::Puback).is_err());
        let string_too_long = Properties(vec![Property::ReasonString("x".repeat(70_000))]);
        assert!(string_too_long.body_len().is_err());
    }

    #[test]
    fn every_identifier_has_a_type_a_name_and_a_place() {
        for id in ALL_PROPERTY_IDS {
            assert_eq!(PropertyId::from_u8(id as u8), Some(id));
            assert!(!id.name().is_empty());
            let contexts = [
                PropertyContext::Connect,
                PropertyContext::Will,
                PropertyContext::Connack,
                PropertyContext::Publish,
                PropertyContext::Puback,
                PropertyContext::Pubrec,
                PropertyContext::Pubrel,
                PropertyContext::Pubcomp,
                PropertyContext::Subscribe,
                PropertyContext::Suback,
                PropertyContext::Unsubscribe,
                PropertyContext::Unsuback,
                PropertyContext::Disconnect,
                PropertyContext::Auth,
            ];
            assert!(contexts.iter().any(|c| id.allowed_in(*c)), "{id:?}");
        }
    }
}
