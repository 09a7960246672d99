//! The public client handle: connect, subscribe, publish, receive, the loop thread, disconnect.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::protocol::{
    MAX_REMAINING_LENGTH, Packet, PacketId, QoS, QosPid, SubackCode, Subscribe, SubscribeTopic,
    Unsubscribe, encode_publish,
};
use crate::topic::{TopicFilter, TopicName};

use super::connection::{Nesting, Shared, run_loop};
use super::error::{ClientError, CloseReason};
use super::options::ConnectOptions;
use super::session::Outgoing;
use super::subscriptions::{Message, MessageCallback};
use super::transport;

/// Stack of the loop thread: room for user callbacks, far below the 8 MiB default.
const LOOP_STACK_SIZE: usize = 512 * 1024;

struct LoopThread {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

/// A connection to an MQTT broker. Every method takes `&self` and may be called from any thread,
/// including from inside a message callback; share the client with `Arc` (capture a `Weak` in
/// callbacks, since the client owns its callbacks).
///
/// Dropping the client closes the socket *without* DISCONNECT, so the broker publishes the will;
/// call [`Client::disconnect`] first for a clean end.
pub struct Client {
    shared: Arc<Shared>,
    loop_thread: Mutex<Option<LoopThread>>,
    client_id: String,
    session_present: bool,
}

impl Client {
    /// Resolves `host` (a name, an IPv4 or an IPv6 address), connects, sends CONNECT and waits
    /// for CONNACK, all within `options.connect_timeout`. A refusal comes back as its own error
    /// variant (`ClientError::NotAuthorized`, ...).
    pub fn connect(host: &str, port: u16, options: &ConnectOptions) -> Result<Client, ClientError> {
        let connect = options.to_connect()?;
        let deadline = Instant::now() + options.connect_timeout;
        let stream = transport::connect(host, port, deadline)?;
        let shared = Shared::new(
            stream,
            options.keep_alive,
            options.operation_timeout,
            options.max_inflight as usize,
            options.max_packet_size,
        )?;
        let client_id = connect.client_id.clone();
        shared.send_packet(&Packet::Connect(connect))?;
        let connack = shared.read_connack(deadline)?;
        if let Some(refusal) = ClientError::from_refusal(connack.code) {
            return Err(refusal);
        }
        Ok(Client {
            shared: Arc::new(shared),
            loop_thread: Mutex::new(None),
            client_id,
            session_present: connack.session_present,
        })
    }

    /// The client identifier sent in CONNECT (the generated one when none was given).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// CONNACK's session-present flag: the broker resumed a stored session ([MQTT-3.2.2-2]).
    pub fn session_present(&self) -> bool {
        self.session_present
    }

    /// Whether the connection is still open.
    pub fn is_connected(&self) -> bool {
        self.shared.lock_state().closed().is_none()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.lock_state().closed().cloned()
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.shared.operation_timeout
    }

    /// Subscribes to `filter` and waits for SUBACK; returns the granted QoS. `callback` is
    /// registered before SUBSCRIBE goes out, so retained messages are not missed; it replaces an
    /// earlier callback for the same filter, and is removed again if the broker refuses (0x80).
    pub fn subscribe(
        &self,
        filter: &str,
        qos: QoS,
        callback: impl Fn(&Message<'_>) + Send + Sync + 'static,
    ) -> Result<QoS, ClientError> {
        self.subscribe_callback(filter, qos, Arc::new(callback))
    }

    /// [`Client::subscribe`] with a callback already shared.
    pub fn subscribe_callback(
        &self,
        filter: &str,
        qos: QoS,
        callback: MessageCallback,
    ) -> Result<QoS, ClientError> {
        let filter = TopicFilter::new(filter)?;
        if let Some(e) = self.shared.closed_error() {
            return Err(e);
        }
        let previous = self
            .shared
            .subscriptions
            .lock()
            .insert(filter.clone(), callback);
        let result = self.request_subscription(&filter, qos);
        if !matches!(result, Ok(SubackCode::Granted(_))) {
            self.shared.subscriptions.lock().restore(&filter, previous);
        }
        match result? {
            SubackCode::Granted(granted) => Ok(granted),
            SubackCode::Failure => Err(ClientError::SubscribeRefused(filter.to_string())),
        }
    }

    fn request_subscription(
        &self,
        filter: &TopicFilter,
        qos: QoS,
    ) -> Result<SubackCode, ClientError> {
        let deadline = self.deadline();
        let id = self.allocate_id(Outgoing::Suback(None), deadline)?;
        let packet = Packet::Subscribe(Subscribe {
            packet_id: id,
            topics: vec![SubscribeTopic {
                filter: filter.to_string(),
                qos,
            }],
        });
        let codes = self.send_and_wait(id, &packet, deadline, |st| st.session.take_suback(id))?;
        codes.first().copied().ok_or_else(|| {
            ClientError::Protocol("SUBACK without a return code [MQTT-3.8.4-5]".into())
        })
    }

    /// Unsubscribes from `filter`, waits for UNSUBACK, then removes its callback.
    pub fn unsubscribe(&self, filter: &str) -> Result<(), ClientError> {
        TopicFilter::validate(filter)?;
        let deadline = self.deadline();
        let id = self.allocate_id(Outgoing::Unsuback(false), deadline)?;
        let packet = Packet::Unsubscribe(Unsubscribe {
            packet_id: id,
            filters: vec![filter.to_owned()],
        });
        self.send_and_wait(id, &packet, deadline, |st| {
            st.session.take_unsuback(id).then_some(())
        })?;
        self.shared.subscriptions.lock().remove(filter);
        Ok(())
    }

    fn allocate_id(&self, what: Outgoing, deadline: Instant) -> Result<PacketId, ClientError> {
        self.shared.wait_for(Some(deadline), Nesting::Queue, |st| {
            st.session.allocate(what.clone())
        })
    }

    /// Sends a SUBSCRIBE or UNSUBSCRIBE and waits for its reply, freeing the identifier if the
    /// wait fails.
    fn send_and_wait<T>(
        &self,
        id: PacketId,
        packet: &Packet,
        deadline: Instant,
        ready: impl FnMut(&mut super::connection::State) -> Option<T>,
    ) -> Result<T, ClientError> {
        let result = self
            .shared
            .send_packet(packet)
            .and_then(|()| self.shared.wait_for(Some(deadline), Nesting::Queue, ready));
        if result.is_err() {
            self.shared.lock_state().session.abandon(id);
        }
        result
    }

    /// Publishes and waits as the QoS requires: QoS 0 returns once the packet is handed to the
    /// socket, QoS 1 once PUBACK arrives, QoS 2 once PUBCOMP arrives (after PUBREC → PUBREL), or
    /// `ClientError::Timeout` after the operation timeout (the message stays in flight).
    pub fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), ClientError> {
        let deadline = self.deadline();
        match self.start_publish(topic, payload, qos, retain, deadline)? {
            None => Ok(()),
            Some(id) => self.wait_published_until(id, Some(deadline)),
        }
    }

    /// Sends a PUBLISH without waiting for its acknowledgement, so many can be in flight; returns
    /// the packet identifier for QoS 1 and 2 (`None` for QoS 0). Blocks while `max_inflight`
    /// publishes await acknowledgement (at most the operation timeout).
    pub fn publish_async(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, ClientError> {
        self.start_publish(topic, payload, qos, retain, self.deadline())
    }

    fn start_publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        deadline: Instant,
    ) -> Result<Option<PacketId>, ClientError> {
        TopicName::validate(topic)?;
        let size = 2 + topic.len() + 2 + payload.len();
        if size > MAX_REMAINING_LENGTH {
            return Err(ClientError::InvalidArgument(format!(
                "PUBLISH of {size} bytes exceeds the protocol maximum"
            )));
        }
        let id = match qos {
            QoS::AtMostOnce => {
                if let Some(e) = self.shared.closed_error() {
                    return Err(e);
                }
                None
            }
            _ => Some(self.shared.wait_for(Some(deadline), Nesting::Queue, |st| {
                if st.session.window_full() {
                    None
                } else {
                    st.session.allocate_publish(qos)
                }
            })?),
        };
        let qospid = match id {
            Some(id) => QosPid::new(qos, id),
            None => QosPid::AtMostOnce,
        };
        self.shared
            .send_with(|buf| encode_publish(buf, false, qospid, retain, topic, payload))?;
        Ok(id)
    }

    /// Waits until the publish with identifier `id` is acknowledged (PUBACK, or PUBCOMP for
    /// QoS 2); returns at once if it is not in flight. `None` waits for ever.
    pub fn wait_published(
        &self,
        id: PacketId,
        timeout: Option<Duration>,
    ) -> Result<(), ClientError> {
        self.wait_published_until(id, timeout.map(|t| Instant::now() + t))
    }

    fn wait_published_until(
        &self,
        id: PacketId,
        deadline: Option<Instant>,
    ) -> Result<(), ClientError> {
        self.shared.wait_for(deadline, Nesting::Queue, |st| {
            (!st.session.is_publish_inflight(id)).then_some(())
        })
    }

    /// Reads until one PUBLISH has been processed — dispatched to the most specific matching
    /// callback (or dropped when no filter matches) and acknowledged — or `timeout` passes
    /// (`ClientError::Timeout`; `None` waits for ever) or the connection closes. Sends PINGREQ
    /// as keep-alive requires while it waits. With the loop thread running it waits for the
    /// loop thread to process the next message instead of reading.
    pub fn receive_message(&self, timeout: Option<Duration>) -> Result<(), ClientError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let start = self.shared.lock_state().messages_processed;
        self.shared.wait_for(deadline, Nesting::Dispatch, |st| {
            (st.messages_processed > start).then_some(())
        })
    }

    /// Sends PINGREQ and waits for PINGRESP (at most the operation timeout).
    pub fn ping(&self) -> Result<(), ClientError> {
        if let Some(e) = self.shared.closed_error() {
            return Err(e);
        }
        let deadline = self.deadline();
        let number = self.shared.start_ping();
        self.shared.send_packet(&Packet::Pingreq)?;
        self.shared.wait_for(Some(deadline), Nesting::Queue, |st| {
            (st.session.pingresps_received >= number).then_some(())
        })
    }

    /// Starts the loop thread, which reads, dispatches callbacks and keeps the connection alive
    /// until `loop_stop`, `disconnect`, drop, or the connection ends. While it runs, every
    /// callback runs on it.
    pub fn loop_start(&self) -> Result<(), ClientError> {
        let mut slot = self.loop_thread.lock();
        if slot.as_ref().is_some_and(|l| !l.handle.is_finished()) {
            return Err(ClientError::LoopAlreadyRunning);
        }
        if let Some(finished) = slot.take() {
            let _ = finished.handle.join();
        }
        if let Some(e) = self.shared.closed_error() {
            return Err(e);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let handle = thread::Builder::new()
            .name("mqtt-client-loop".into())
            .stack_size(LOOP_STACK_SIZE)
            .spawn({
                let shared = Arc::clone(&self.shared);
                let stop = Arc::clone(&stop);
                move || run_loop(shared, stop)
            })
            .map_err(ClientError::Io)?;
        self.shared.lock_state().loop_thread = Some(handle.thread().id());
        // A thread blocked reading (say in receive_message) hands the reading role over to the
        // loop thread at its next turn; wake it so that turn comes now.
        self.shared.wake_reader();
        *slot = Some(LoopThread { handle, stop });
        Ok(())
    }

    /// Stops the loop thread and waits for it to finish; from inside a callback on the loop
    /// thread it only asks it to stop once the callback returns. No effect when not running.
    pub fn loop_stop(&self) {
        let mut slot = self.loop_thread.lock();
        let Some(lt) = slot.as_ref() else {
            return;
        };
        lt.stop.store(true, Ordering::Release);
        let loop_id = lt.handle.thread().id();
        {
            let mut st = self.shared.lock_state();
            if st.loop_thread == Some(loop_id) {
                st.loop_thread = None;
            }
        }
        self.shared.notify();
        self.shared.wake_reader();
        if loop_id == thread::current().id() {
            // A thread cannot join itself; the handle stays, so a later `loop_stop` or the drop
            // from another thread waits for the loop to end.
            return;
        }
        let lt = slot.take().expect("checked above");
        drop(slot);
        let _ = lt.handle.join();
    }

    /// Sends DISCONNECT, so the broker discards the will ([MQTT-3.14.4-3]), and closes the
    /// connection ([MQTT-3.14.4-1]). A second call does nothing.
    pub fn disconnect(&self) -> Result<(), ClientError> {
        if let Some(reason) = self.shared.lock_state().closed() {
            return match reason {
                CloseReason::Disconnected => Ok(()),
                other => Err(ClientError::Closed(other.clone())),
            };
        }
        // Recorded before DISCONNECT goes out, so the broker closing in response is not
        // mistaken for the cause.
        self.shared.mark_closed(CloseReason::Disconnected);
        let sent = self.shared.send_packet(&Packet::Disconnect);
        self.shared.close(CloseReason::Disconnected);
        self.loop_stop();
        sent
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("close_reason", &self.close_reason())
            .finish_non_exhaustive()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.close(CloseReason::Dropped);
        self.loop_stop();
    }
}
