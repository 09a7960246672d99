//! The byte layout of what the store keeps: keys, and the records of retained messages, queued
//! deliveries, sessions and delayed wills. Integers are big-endian so that keys sort in the
//! order of their numbers; every length is checked against what is left before anything is
//! allocated, so a damaged record is an error, never a panic or a huge allocation.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::protocol::{Properties, PropertyContext, QoS};
use crate::topic::TopicName;

/// The store's format version, kept in its `meta` table: a store written by a newer version is
/// refused rather than misread.
pub(crate) const FORMAT_VERSION: u32 = 2;

/// Client ids cannot contain U+0000 ([MQTT-1.5.3-2] in 3.1.1, [MQTT-1.5.4-2] in 5.0), so a NUL
/// ends the client-id part of a key and all of one session's keys share a prefix.
const KEY_SEPARATOR: u8 = 0;

/// The key of a record that belongs to `client_id` and is numbered `number` (a delivery, or an
/// incoming QoS 2 packet identifier).
pub(crate) fn session_key(client_id: &str, number: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(client_id.len() + 9);
    key.extend_from_slice(client_id.as_bytes());
    key.push(KEY_SEPARATOR);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// The keys of every record of `client_id`: from its prefix up to, not including, the next one.
pub(crate) fn session_range(client_id: &str) -> (Vec<u8>, Vec<u8>) {
    let mut start = client_id.as_bytes().to_vec();
    start.push(KEY_SEPARATOR);
    let mut end = client_id.as_bytes().to_vec();
    end.push(KEY_SEPARATOR + 1);
    (start, end)
}

/// Splits a key made by [`session_key`].
pub(crate) fn split_session_key(key: &[u8]) -> Result<(&str, u64), Corrupt> {
    let split = key
        .len()
        .checked_sub(9)
        .filter(|&at| key[at] == KEY_SEPARATOR)
        .ok_or(Corrupt("a key without its number"))?;
    let client_id = std::str::from_utf8(&key[..split]).map_err(|_| Corrupt("a client id"))?;
    let number = u64::from_be_bytes(key[split + 1..].try_into().expect("8 bytes"));
    Ok((client_id, number))
}

/// What in a record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Corrupt(pub &'static str);

/// Wall-clock milliseconds since the Unix epoch, the form deadlines take on disk: an `Instant`
/// means nothing to another process.
pub(crate) fn wall_ms(at: Instant) -> u64 {
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = if at >= now {
        wall + (at - now)
    } else {
        wall.saturating_sub(now - at)
    };
    at.as_millis().min(u128::from(u64::MAX)) as u64
}

/// The `Instant` of wall-clock milliseconds `ms` (see [`wall_ms`]).
pub(crate) fn instant_of(ms: u64) -> Instant {
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = Duration::from_millis(ms);
    if at >= wall {
        now + (at - wall)
    } else {
        now.checked_sub(wall - at).unwrap_or(now)
    }
}

/// An application message as stored: a retained message, a queued delivery or a delayed will.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MessageRecord {
    pub topic: TopicName,
    pub payload: Arc<[u8]>,
    pub qos: QoS,
    pub retain: bool,
    /// PUBLISH properties (for a will: will properties).
    pub properties: Properties,
    /// Wall-clock milliseconds when the message expires.
    pub expires_at_ms: Option<u64>,
    /// A delivery's Subscription Identifiers.
    pub identifiers: Box<[u32]>,
}

impl MessageRecord {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.qos as u8);
        out.push(u8::from(self.retain) | (u8::from(self.expires_at_ms.is_some()) << 1));
        if let Some(ms) = self.expires_at_ms {
            out.extend_from_slice(&ms.to_be_bytes());
        }
        put_bytes(out, self.topic.as_str().as_bytes());
        let mut properties = Vec::new();
        // Properties the broker holds were decoded and checked on arrival, so they encode.
        let _ = self.properties.encode(&mut properties);
        put_bytes(out, &properties);
        out.extend_from_slice(&(self.identifiers.len() as u32).to_be_bytes());
        for id in &self.identifiers {
            out.extend_from_slice(&id.to_be_bytes());
        }
        put_bytes(out, &self.payload);
    }

    pub fn decode(reader: &mut Reader<'_>, context: PropertyContext) -> Result<Self, Corrupt> {
        let qos = QoS::from_u8(reader.u8()?).ok_or(Corrupt("a QoS"))?;
        let flags = reader.u8()?;
        let expires_at_ms = if flags & 2 != 0 {
            Some(reader.u64()?)
        } else {
            None
        };
        let topic = std::str::from_utf8(reader.bytes()?)
            .ok()
            .and_then(|t| TopicName::new(t).ok())
            .ok_or(Corrupt("a topic name"))?;
        let properties = reader.bytes()?;
        let properties = if properties.is_empty() {
            Properties::new()
        } else {
            Properties::decode(properties, context)
                .map_err(|_| Corrupt("message properties"))?
                .0
        };
        let count = reader.u32()? as usize;
        if count > reader.remaining() / 4 {
            return Err(Corrupt("subscription identifiers"));
        }
        let identifiers = (0..count)
            .map(|_| reader.u32())
            .collect::<Result<Box<[u32]>, Corrupt>>()?;
        let payload = Arc::from(reader.bytes()?);
        Ok(MessageRecord {
            topic,
            payload,
            qos,
            retain: flags & 1 != 0,
            properties,
            expires_at_ms,
            identifiers,
        })
    }
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionRecord {
    pub filter: String,
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub identifier: u32,
    pub shared: bool,
}

/// A persistent session as stored, without its deliveries (kept one per record so that an
/// acknowledgement rewrites a few bytes, not the session).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionRecord {
    pub expiry_interval: u32,
    /// Wall-clock milliseconds when its client went away; `None` while connected (a crash
    /// then counts the expiry from the restart).
    pub detached_at_ms: Option<u64>,
    pub subscriptions: Vec<SubscriptionRecord>,
    /// An MQTT 5.0 will waiting for its delay, with the wall-clock milliseconds it is due.
    pub delayed_will: Option<(u64, MessageRecord)>,
}

impl SessionRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.extend_from_slice(&self.expiry_interval.to_be_bytes());
        out.extend_from_slice(&self.detached_at_ms.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&(self.subscriptions.len() as u32).to_be_bytes());
        for s in &self.subscriptions {
            put_bytes(&mut out, s.filter.as_bytes());
            out.push(s.qos as u8);
            out.push(
                u8::from(s.no_local)
                    | (u8::from(s.retain_as_published) << 1)
                    | (u8::from(s.shared) << 2),
            );
            out.extend_from_slice(&s.identifier.to_be_bytes());
        }
        match &self.delayed_will {
            None => out.push(0),
            Some((due, will)) => {
                out.push(1);
                out.extend_from_slice(&due.to_be_bytes());
                will.encode(&mut out);
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Corrupt> {
        let mut reader = Reader::new(bytes);
        let expiry_interval = reader.u32()?;
        let detached_at_ms = Some(reader.u64()?).filter(|&ms| ms != 0);
        let count = reader.u32()? as usize;
        // Each subscription takes at least 8 bytes.
        if count > reader.remaining() / 8 {
            return Err(Corrupt("a subscription count"));
        }
        let mut subscriptions = Vec::with_capacity(count);
        for _ in 0..count {
            let filter = std::str::from_utf8(reader.bytes()?)
                .map_err(|_| Corrupt("a topic filter"))?
                .to_owned();
            let qos = QoS::from_u8(reader.u8()?).ok_or(Corrupt("a granted QoS"))?;
            let flags = reader.u8()?;
            subscriptions.push(SubscriptionRecord {
                filter,
                qos,
                no_local: flags & 1 != 0,
                retain_as_published: flags & 2 != 0,
                shared: flags & 4 != 0,
                identifier: reader.u32()?,
            });
        }
        let delayed_will = match reader.u8()? {
            0 => None,
            1 => {
                let due = reader.u64()?;
                Some((
                    due,
                    MessageRecord::decode(&mut reader, PropertyContext::Will)?,
                ))
            }
            _ => return Err(Corrupt("a will flag")),
        };
        reader.finish()?;
        Ok(SessionRecord {
            expiry_interval,
            detached_at_ms,
            subscriptions,
            delayed_will,
        })
    }
}

/// How far a delivery got, as the first bytes of its record: its packet identifier once sent
/// (zero before), and whether PUBREC came back. Fixed-size, so that sending rewrites it in place.
pub(crate) const SENT_BYTES: usize = 3;

pub(crate) fn encode_sent(sent: Option<(u16, bool)>) -> [u8; SENT_BYTES] {
    let (packet_id, released) = sent.unwrap_or((0, false));
    let [a, b] = packet_id.to_be_bytes();
    [a, b, u8::from(released)]
}

pub(crate) fn decode_sent(bytes: &[u8]) -> Result<Option<(u16, bool)>, Corrupt> {
    match bytes {
        [0, 0, 0] => Ok(None),
        [a, b, released @ (0 | 1)] if [*a, *b] != [0, 0] => {
            Ok(Some((u16::from_be_bytes([*a, *b]), *released == 1)))
        }
        _ => Err(Corrupt("a delivery's packet identifier")),
    }
}

/// A queued delivery's record: how far it got, then its message, then the shared subscription
/// (`$share/{group}/{filter}`) it came through, if any, so that after a restart the group can
/// still take it over when its session ends (MQTT 5.0 section 4.8.2).
pub(crate) fn encode_delivery(
    sent: Option<(u16, bool)>,
    message: &MessageRecord,
    shared: Option<&str>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(&encode_sent(sent));
    message.encode(out);
    if let Some(shared) = shared {
        put_bytes(out, shared.as_bytes());
    }
}

/// What [`decode_delivery`] reads: how far it got, the message, the shared subscription.
pub(crate) type DeliveryRecord = (Option<(u16, bool)>, MessageRecord, Option<String>);

/// Reads what [`encode_delivery`] wrote.
pub(crate) fn decode_delivery(bytes: &[u8]) -> Result<DeliveryRecord, Corrupt> {
    let Some((sent, message)) = bytes.split_at_checked(SENT_BYTES) else {
        return Err(Corrupt("a delivery's packet identifier"));
    };
    let sent = decode_sent(sent)?;
    let mut reader = Reader::new(message);
    let message = MessageRecord::decode(&mut reader, PropertyContext::Publish)?;
    let shared = if reader.remaining() > 0 {
        let filter = std::str::from_utf8(reader.bytes()?)
            .ok()
            .filter(|f| f.starts_with("$share/"))
            .ok_or(Corrupt("a delivery's shared subscription"))?;
        Some(filter.to_owned())
    } else {
        None
    };
    reader.finish()?;
    Ok((sent, message, shared))
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Reads a record front to back; running out of bytes is [`Corrupt`].
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    fn remaining(&self) -> usize {
        self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Corrupt> {
        if n > self.bytes.len() {
            return Err(Corrupt("a record cut short"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Corrupt> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, Corrupt> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, Corrupt> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Corrupt> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// Checks that the record has been read to its end.
    pub fn finish(&self) -> Result<(), Corrupt> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(Corrupt("bytes after the end of a record"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Property;

    fn message() -> MessageRecord {
        let mut properties = Properties::new();
        properties.push(Property::ContentType("text/plain".into()));
        properties.push(Property::UserProperty("k".into(), "v".into()));
        MessageRecord {
            topic: TopicName::new("a/b").unwrap(),
            payload: Arc::from(&b"payload"[..]),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties,
            expires_at_ms: Some(1_700_000_000_123),
            identifiers: vec![1, 268_435_455].into(),
        }
    }

    #[test]
    fn messages_and_sessions_round_trip() {
        let mut bytes = Vec::new();
        message().encode(&mut bytes);
        let mut reader = Reader::new(&bytes);
        let decoded = MessageRecord::decode(&mut reader, PropertyContext::Publish).unwrap();
        reader.finish().unwrap();
        assert_eq!(decoded, message());

        let session = SessionRecord {
            expiry_interval: 3600,
            detached_at_ms: Some(42),
            subscriptions: vec![SubscriptionRecord {
                filter: "$share/g/a/#".into(),
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: false,
                identifier: 7,
                shared: true,
            }],
            delayed_will: Some((99, message())),
        };
        assert_eq!(SessionRecord::decode(&session.encode()).unwrap(), session);
    }

    /// A delivery keeps how far it got and the shared subscription it came through; a
    /// truncated record, and a shared subscription that is not one, is an error.
    #[test]
    fn deliveries_round_trip_and_damage_is_an_error() {
        for (sent, shared) in [
            (None, None),
            (Some((7, true)), Some("$share/g/a/#")),
            (Some((65535, false)), None),
        ] {
            let mut bytes = Vec::new();
            encode_delivery(sent, &message(), shared, &mut bytes);
            let (got_sent, got_message, got_shared) = decode_delivery(&bytes).unwrap();
            assert_eq!(
                (got_sent, got_message, got_shared.as_deref()),
                (sent, message(), shared)
            );
            // Cut right after the message, a record reads as one that came through no shared
            // subscription (the suffix is optional); every other cut is damage.
            let without_shared = SENT_BYTES + {
                let mut m = Vec::new();
                message().encode(&mut m);
                m.len()
            };
            for cut in (0..bytes.len()).filter(|&cut| cut != without_shared) {
                assert!(decode_delivery(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
        let mut bytes = Vec::new();
        encode_delivery(None, &message(), Some("not/shared"), &mut bytes);
        assert!(decode_delivery(&bytes).is_err());
    }

    #[test]
    fn every_truncation_of_a_session_is_an_error() {
        let session = SessionRecord {
            expiry_interval: 1,
            detached_at_ms: None,
            subscriptions: vec![],
            delayed_will: Some((5, message())),
        };
        let bytes = session.encode();
        for len in 0..bytes.len() {
            assert!(SessionRecord::decode(&bytes[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn huge_claimed_counts_are_refused_before_allocating() {
        let mut bytes = vec![0; 12];
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            SessionRecord::decode(&bytes),
            Err(Corrupt("a subscription count"))
        );
    }

    #[test]
    fn session_keys_sort_by_number_within_their_client() {
        let (start, end) = session_range("c");
        let keys: Vec<_> = [0, 1, 256, u64::MAX]
            .iter()
            .map(|&n| session_key("c", n))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.iter().all(|k| *k >= start && *k < end));
        assert!(session_key("c/", 0) >= end || session_key("c/", 0) < start);
        assert_eq!(split_session_key(&keys[2]).unwrap(), ("c", 256));
    }

    #[test]
    fn wall_clock_deadlines_survive_the_round_trip() {
        let at = Instant::now() + Duration::from_secs(30);
        let back = instant_of(wall_ms(at));
        let diff = if back > at { back - at } else { at - back };
        assert!(diff < Duration::from_millis(5), "{diff:?}");
    }
}
