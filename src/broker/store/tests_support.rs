//! Changes for the store's unit tests.

use std::sync::Arc;

use super::Change;
use crate::broker::message::{Delivery, Message};
use crate::protocol::{PacketId, Properties, QoS};
use crate::topic::TopicName;

pub(super) fn queued(client: &str, id: u64) -> Change {
    let message = Message::new(
        TopicName::new("t").unwrap(),
        Arc::from(&b"x"[..]),
        Properties::new(),
        None,
        false,
    );
    let mut delivery = Delivery::new(
        Arc::new(message),
        QoS::AtLeastOnce,
        false,
        Box::default(),
        None,
    );
    delivery.set_stored(id);
    Change::Queued {
        client_id: Arc::from(client),
        id,
        delivery,
        sent: None,
    }
}

pub(super) fn sent(client: &str, id: u64) -> Change {
    Change::Sent {
        client_id: Arc::from(client),
        id,
        packet_id: PacketId::new(1).unwrap(),
        released: false,
    }
}

pub(super) fn settled(client: &str, id: u64) -> Change {
    Change::Settled {
        client_id: Arc::from(client),
        id,
    }
}
