//! The completion callback for QoS 1 and 2 publishes, so a pipelined sender learns of each
//! acknowledgement without a thread waiting in `wait_published`.

use std::sync::Arc;

use crate::protocol::{PacketId, ReasonCode};

use super::error::ServerReason;

/// How a QoS 1 or 2 publish ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived (in MQTT 5.0 with a success reason code,
    /// such as 0x10 no matching subscribers).
    Acknowledged,
    /// An MQTT 5.0 PUBACK or PUBREC refused the message with this reason code (0x80 or
    /// above): the server did not take it.
    Refused(ReasonCode),
    /// A clean-session reconnect dropped it unacknowledged: the broker started a new session,
    /// so the message may or may not have been delivered.
    Discarded,
    /// Dropped from the offline queue before it was ever sent, to make room for a newer
    /// publish (the drop-oldest policy).
    Dropped,
}

impl PublishOutcome {
    /// The outcome of an acknowledgement that said `result` beyond plain success.
    pub(crate) fn of(result: Option<&ServerReason>) -> PublishOutcome {
        match result {
            Some(r) if !r.code.is_success() => PublishOutcome::Refused(r.code),
            _ => PublishOutcome::Acknowledged,
        }
    }
}

/// Called once per QoS 1/2 publish identifier with its outcome; see
/// [`crate::client::Client::set_on_published`] for the thread it runs on.
pub type PublishedCallback = Arc<dyn Fn(PacketId, PublishOutcome) + Send + Sync>;
