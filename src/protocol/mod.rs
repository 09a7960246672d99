//! The MQTT 3.1.1 wire format: packets as plain data, incremental decoding that checks every rule
//! the spec puts on a receiver, and encoding into caller-owned buffers. No I/O here.

mod decode;
mod encode;
mod error;
mod packet;
mod properties;
mod reason;

pub use decode::{Decoder, FixedHeader, MAX_REMAINING_LENGTH, decode};
pub use encode::{EncodeError, encode_publish, encode_publish_v5};
pub use error::DecodeError;
pub use packet::*;
pub use properties::{
    ALL_PROPERTY_IDS, MAX_VAR_INT, Properties, Property, PropertyContext, PropertyId, PropertyType,
};
pub use reason::ReasonCode;
