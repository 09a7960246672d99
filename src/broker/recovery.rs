//! Between the broker's state and the persistence store: the record of a session as it is now,
//! and putting back what a store held (retained messages, sessions with their subscriptions,
//! queued and in-flight deliveries, QoS 2 identifiers awaiting PUBREL, delayed wills) before the
//! broker accepts clients.

use std::sync::Arc;
use std::time::Instant;

use super::flows::{Flows, Inflight};
use super::message::{Delivery, Message};
use super::router::Publication;
use super::session::{Session, SessionState};
use super::state::State;
use super::stats::Counters;
use super::store::{
    MessageRecord, Restored, SessionRecord, SubscriptionRecord, instant_of, wall_ms,
};
use super::subscriptions::Grant;
use crate::protocol::QoS;
use crate::topic::TopicFilter;

/// The record of a session as `state` (its lock held) has it now.
pub(crate) fn session_record(state: &SessionState) -> SessionRecord {
    SessionRecord {
        expiry_interval: state.expiry_interval,
        detached_at_ms: state.attached.is_none().then(|| wall_ms(state.detached_at)),
        subscriptions: state
            .subscriptions
            .iter()
            .map(|(filter, grant)| SubscriptionRecord {
                filter: filter.as_str().to_owned(),
                qos: grant.qos,
                no_local: grant.no_local,
                retain_as_published: grant.retain_as_published,
                identifier: grant.identifier,
                shared: grant.shared,
            })
            .collect(),
        delayed_will: state
            .delayed_will
            .as_ref()
            .map(|(due, will)| (wall_ms(*due), will_record(will))),
    }
}

fn will_record(will: &Publication) -> MessageRecord {
    MessageRecord {
        topic: will.topic.clone(),
        payload: Arc::clone(&will.payload),
        qos: will.qos,
        retain: will.retain,
        properties: will.properties.clone(),
        expires_at_ms: None,
        identifiers: Box::default(),
    }
}

fn message_of(record: MessageRecord) -> (Arc<Message>, QoS, bool, Box<[u32]>) {
    let MessageRecord {
        topic,
        payload,
        qos,
        retain,
        properties,
        expires_at_ms,
        identifiers,
    } = record;
    let message = Message {
        topic,
        payload,
        properties,
        expires_at: expires_at_ms.map(instant_of),
        publisher: None,
        retain,
    };
    (Arc::new(message), qos, retain, identifiers)
}

impl State {
    /// Takes up what a store held. Call before any client connects.
    pub(crate) fn restore(&self, restored: Restored) {
        let now = Instant::now();
        {
            let mut retained = self.retained.write();
            for record in restored.retained {
                let (message, qos, _, _) = message_of(record);
                if !message.has_expired(now) {
                    retained.update(&message, qos);
                }
            }
        }
        for (client_id, stored) in restored.sessions {
            let client_id: Arc<str> = Arc::from(client_id);
            let record = stored.record;
            let session = Arc::new(Session::new(
                self.next_session_id(),
                Arc::clone(&client_id),
                record.expiry_interval,
            ));
            let mut flows = Box::<Flows>::default();
            flows.awaiting_pubrel.extend(stored.awaiting_pubrel);
            {
                let mut state = session.lock();
                // A session whose client was connected at the crash is counted as away from now.
                state.detached_at = record.detached_at_ms.map_or(now, instant_of);
                state.journaled = true;
                state.delayed_will = record.delayed_will.map(|(due, will)| {
                    let (message, qos, retain, _) = message_of(will);
                    let publication = Publication {
                        topic: message.topic.clone(),
                        payload: Arc::clone(&message.payload),
                        qos,
                        retain,
                        properties: message.properties.clone(),
                        publisher: None,
                        internal: false,
                    };
                    (instant_of(due), publication)
                });
                for delivery in stored.deliveries {
                    let (message, qos, retain, identifiers) = message_of(delivery.message);
                    let shared = delivery.shared.map(Arc::from);
                    match delivery.sent {
                        Some((packet_id, released)) => flows.restore_inflight(Inflight {
                            seq: 0,
                            packet_id,
                            qos,
                            retain,
                            message,
                            identifiers,
                            released,
                            stored: Some(delivery.id),
                            shared,
                        }),
                        None => {
                            let mut queued =
                                Delivery::new(message, qos, retain, identifiers, shared);
                            queued.set_stored(delivery.id);
                            state.queue.push_back(queued);
                        }
                    }
                }
                state.flows = Some(flows);
            }
            for subscription in record.subscriptions {
                let Ok(filter) = TopicFilter::new(&subscription.filter) else {
                    continue;
                };
                let grant = Grant {
                    qos: subscription.qos,
                    no_local: subscription.no_local,
                    retain_as_published: subscription.retain_as_published,
                    identifier: subscription.identifier,
                    shared: subscription.shared,
                };
                session.lock().subscriptions.insert(filter.clone(), grant);
                self.subscriptions
                    .write()
                    .subscribe(&filter, &session, grant);
            }
            Counters::add(&self.counters.sessions, 1);
            self.sessions.lock().insert(client_id, session);
        }
    }
}
