//! Opening a new connection for an existing session — on request, or by the loop thread by
//! itself when the options ask for automatic reconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::protocol::{Connect, ConnectReturnCode, Packet};

use super::connection::{Shared, serve_until_closed};
use super::error::{ClientError, CloseReason};
use super::transport;

/// Where and how to connect again: everything a reconnect needs, shared with the loop thread.
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The CONNECT to send again, with the client id actually used (a generated one too).
    pub(crate) connect: Connect,
    pub(crate) connect_timeout: Duration,
    pub(crate) session_present: AtomicBool,
    /// First wait and longest wait between automatic attempts; `None`: no automatic reconnect.
    pub(crate) auto: Option<(Duration, Duration)>,
    /// One reconnect at a time.
    pub(crate) reconnecting: Mutex<()>,
}

impl Endpoint {
    /// Connects, sends CONNECT, waits for CONNACK and installs the new link, all before
    /// `deadline`. The current connection must already be closed and its reader gone.
    pub(crate) fn open_new_link(
        &self,
        shared: &Shared,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        let stream = transport::connect(&self.host, self.port, deadline)?;
        let link = shared.prepare_link(stream)?;
        let connect = Packet::Connect(self.connect.clone());
        shared.send_on(&link, |buf| connect.encode(buf))?;
        let connack = shared.read_connack(&link, deadline)?;
        if let Some(refusal) =
            ClientError::from_refusal(ConnectReturnCode::from_reason(connack.code))
        {
            return Err(refusal);
        }
        shared.install_link(link, connack.session_present)?;
        self.session_present
            .store(connack.session_present, Ordering::Release);
        Ok(())
    }

    /// One automatic attempt, unless another reconnect is under way.
    fn try_reconnect(&self, shared: &Shared) -> Result<(), ClientError> {
        let Some(_one_at_a_time) = self.reconnecting.try_lock() else {
            return Err(ClientError::Timeout);
        };
        let deadline = Instant::now() + self.connect_timeout;
        shared.wait_reader_free(deadline)?;
        self.open_new_link(shared, deadline)
    }
}

/// The loop thread's body: serve the connection; when it is lost (not ended by this client)
/// and automatic reconnects are on, reconnect with a doubling delay and serve again.
pub(crate) fn run_loop(shared: Arc<Shared>, endpoint: Arc<Endpoint>, stop: Arc<AtomicBool>) {
    let is_stopped = || stop.load(Ordering::Acquire);
    'serve: loop {
        serve_until_closed(&shared, &is_stopped);
        let Some((first_delay, max_delay)) = endpoint.auto else {
            break;
        };
        let mut delay = first_delay;
        loop {
            let lost = shared
                .lock_state()
                .closed()
                .is_some_and(|reason| !reason.ended_by_client());
            if !lost || !shared.sleep_unless(delay, &is_stopped) {
                break 'serve;
            }
            if endpoint.try_reconnect(&shared).is_ok() {
                continue 'serve;
            }
            delay = (delay * 2).min(max_delay);
        }
    }
    shared.leave_loop_thread(thread::current().id());
}

impl CloseReason {
    /// Whether this client ended the connection for good (so nothing reconnects by itself and
    /// nobody waits for a reconnect). `Reconnecting` is not: after a failed `reconnect` the
    /// loop thread keeps trying.
    pub(crate) fn ended_by_client(&self) -> bool {
        matches!(self, CloseReason::Disconnected | CloseReason::Dropped)
    }
}
