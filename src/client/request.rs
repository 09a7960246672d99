//! MQTT 5.0 request/response (MQTT 5.0 section 4.10): requests carry a Response Topic and a
//! fresh Correlation Data; the response with the same Correlation Data is taken aside on
//! arrival for the thread that waits for it, before any message callback sees it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::subscriptions::{Message, OwnedMessage};

#[derive(Default)]
struct Inner {
    /// The server's Response Information from CONNACK, the basis of the response topic.
    response_information: Option<String>,
    /// The response topic once subscribed to.
    subscribed: Option<String>,
    next: u64,
    /// Correlation Data of each request waiting, with its response once arrived.
    pending: HashMap<Vec<u8>, Option<OwnedMessage>>,
}

/// The requests of one client. Lock order: after the connection state lock.
#[derive(Default)]
pub(crate) struct Requests {
    inner: Mutex<Inner>,
    /// Requests waiting, so the message path skips the lock when there are none.
    waiting: AtomicUsize,
}

impl Requests {
    pub(crate) fn set_response_information(&self, info: &str) {
        self.inner.lock().response_information = Some(info.to_owned());
    }

    /// The topic responses come to for `client_id`: below the server's Response Information
    /// when it gave one (MQTT 5.0 section 4.10.3), otherwise below `libmqtt/response`.
    pub(crate) fn response_topic(&self, client_id: &str) -> String {
        let inner = self.inner.lock();
        if let Some(topic) = &inner.subscribed {
            return topic.clone();
        }
        let base = inner
            .response_information
            .as_deref()
            .unwrap_or("libmqtt/response");
        format!("{}/{client_id}", base.trim_end_matches('/'))
    }

    pub(crate) fn subscribed(&self) -> Option<String> {
        self.inner.lock().subscribed.clone()
    }

    pub(crate) fn set_subscribed(&self, topic: String) {
        self.inner.lock().subscribed = Some(topic);
    }

    /// Registers a request and returns its Correlation Data: unique within the client, and
    /// unlikely to be guessed across clients (it starts with a random value).
    pub(crate) fn register(&self) -> Vec<u8> {
        let mut inner = self.inner.lock();
        inner.next += 1;
        let mut data = super::reconnect::seed().to_be_bytes().to_vec();
        data.extend_from_slice(&inner.next.to_be_bytes());
        inner.pending.insert(data.clone(), None);
        self.waiting.fetch_add(1, Ordering::Release);
        data
    }

    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }

    /// Takes `message` aside when it answers a waiting request (same response topic and
    /// Correlation Data); true if so.
    pub(crate) fn answer(&self, message: &Message<'_>) -> bool {
        let Some(data) = message.correlation_data() else {
            return false;
        };
        let mut inner = self.inner.lock();
        if inner.subscribed.as_deref() != Some(message.topic) {
            return false;
        }
        match inner.pending.get_mut(data) {
            Some(slot @ None) => {
                *slot = Some(message.to_owned());
                true
            }
            _ => false,
        }
    }

    /// The response to the request `data`, once it has arrived; ends the request.
    pub(crate) fn take(&self, data: &[u8]) -> Option<OwnedMessage> {
        let mut inner = self.inner.lock();
        if inner.pending.get(data)?.is_none() {
            return None;
        }
        self.waiting.fetch_sub(1, Ordering::Release);
        inner.pending.remove(data).flatten()
    }

    /// Ends the request `data` without a response.
    pub(crate) fn cancel(&self, data: &[u8]) {
        if self.inner.lock().pending.remove(data).is_some() {
            self.waiting.fetch_sub(1, Ordering::Release);
        }
    }
}
