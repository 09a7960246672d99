//! The completion callback for QoS 1 and 2 publishes, so a pipelined sender learns of each
//! acknowledgement without a thread waiting in `wait_published`.

use std::sync::Arc;

use crate::protocol::PacketId;

/// How a QoS 1 or 2 publish ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived.
    Acknowledged,
    /// A clean-session reconnect dropped it unacknowledged: the broker started a new session,
    /// so the message may or may not have been delivered.
    Discarded,
    /// Dropped from the offline queue before it was ever sent, to make room for a newer
    /// publish (the drop-oldest policy).
    Dropped,
}

/// Called once per QoS 1/2 publish identifier with its outcome; see
/// [`crate::client::Client::set_on_published`] for the thread it runs on.
pub type PublishedCallback = Arc<dyn Fn(PacketId, PublishOutcome) + Send + Sync>;
