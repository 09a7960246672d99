//! Opening a new connection for an existing session — on request, or by the loop thread by
//! itself when the options ask for automatic reconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::protocol::{Connack, Connect};

use super::connection::{Shared, serve_until_closed};
use super::error::{ClientError, CloseReason};
use super::options::LogLevel;
use super::tls_session::TlsSetup;
use super::transport::Transport;
use super::websocket::WebSocketSetup;

/// Where and how to connect again: everything a reconnect needs, shared with the loop thread.
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Servers tried after `host:port` (see `ConnectOptions::fallback_addresses`).
    pub(crate) fallbacks: Vec<(String, u16)>,
    pub(crate) round_robin: bool,
    /// The server that answered last: 0 is `host:port`, then the fallbacks.
    pub(crate) current: std::sync::atomic::AtomicUsize,
    /// TLS settings for every connection, when the client uses TLS.
    pub(crate) tls: Option<TlsSetup>,
    /// The WebSocket upgrade for every connection, when the client uses `ws` or `wss`.
    pub(crate) websocket: Option<WebSocketSetup>,
    /// The CONNECT to send again, with the client id actually used (a generated one too).
    pub(crate) connect: Connect,
    /// Announce a bridge in every CONNECT (see `ConnectOptions::bridge_announce`).
    pub(crate) bridge_announce: bool,
    pub(crate) connect_timeout: Duration,
    /// The last successful CONNACK.
    pub(crate) connack: Mutex<Connack>,
    pub(crate) session_present: AtomicBool,
    /// First and largest backoff step between automatic attempts (each wait is jittered);
    /// `None`: no automatic reconnect.
    pub(crate) auto: Option<(Duration, Duration)>,
    /// One reconnect at a time.
    pub(crate) reconnecting: Mutex<()>,
    /// `loop_misc`'s backoff: when the next automatic attempt is due, the current step, and
    /// the jitter's random state.
    pub(crate) external_backoff: Mutex<Option<(Instant, Duration, u64)>>,
}

impl Endpoint {
    /// Connects, sends CONNECT, waits for CONNACK and installs the new link, all before
    /// `deadline`. The current connection must already be closed and its reader gone.
    pub(crate) fn open_new_link(
        &self,
        shared: &Shared,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        let transport = self.open_transport(deadline)?;
        let link = shared.prepare_link(transport)?;
        shared.send_connect(Some(&link), &self.connect, self.bridge_announce)?;
        let connack = shared.read_connack(&link, deadline)?;
        shared.notify_connect(&connack);
        if let Some(refusal) = ClientError::from_connack(&connack, shared.protocol.is_v5()) {
            return Err(refusal);
        }
        shared.apply_connack(&link, &connack);
        shared.install_link(link, connack.session_present)?;
        self.session_present
            .store(connack.session_present, Ordering::Release);
        *self.connack.lock() = connack;
        Ok(())
    }

    /// Opens the network connection to the first server that answers, starting from the first
    /// one, or with round robin from the one that answered last.
    fn open_transport(&self, deadline: Instant) -> Result<Transport, ClientError> {
        let count = 1 + self.fallbacks.len();
        let start = if self.round_robin {
            self.current.load(Ordering::Acquire) % count
        } else {
            0
        };
        let mut last_error = None;
        for step in 0..count {
            let index = (start + step) % count;
            let (host, port) = match index {
                0 => (self.host.as_str(), self.port),
                n => (self.fallbacks[n - 1].0.as_str(), self.fallbacks[n - 1].1),
            };
            match Transport::open(
                host,
                port,
                self.tls.as_ref(),
                self.websocket.as_ref(),
                deadline,
            ) {
                Ok(transport) => {
                    self.current.store(index, Ordering::Release);
                    return Ok(transport);
                }
                Err(e) => last_error = Some(e),
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        Err(last_error.unwrap_or(ClientError::Timeout))
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

impl Endpoint {
    /// `loop_misc`'s reconnect duty: with automatic reconnects on and the connection lost (not
    /// ended by this client), attempts a reconnect once the backoff wait has passed (the wait
    /// follows the loop thread's rule: see [`run_loop`]). `Ok(true)` when it reconnected.
    pub(crate) fn reconnect_when_due(&self, shared: &Shared) -> Result<bool, ClientError> {
        let Some((first, max)) = self.auto else {
            return Ok(false);
        };
        let lost = shared
            .lock_state()
            .closed()
            .is_some_and(|reason| !reason.ended_by_client());
        let mut backoff = self.external_backoff.lock();
        if !lost {
            *backoff = None;
            return Ok(false);
        }
        let now = Instant::now();
        let (due, step, mut random) = *backoff.get_or_insert_with(|| {
            let mut random = seed();
            (now + jittered(first, &mut random), first, random)
        });
        if now < due {
            return Ok(false);
        }
        drop(backoff);
        let result = self.try_reconnect(shared);
        let mut backoff = self.external_backoff.lock();
        match result {
            Ok(()) => {
                *backoff = None;
                Ok(true)
            }
            Err(e) => {
                let step = (step * 2).min(max);
                *backoff = Some((Instant::now() + jittered(step, &mut random), step, random));
                shared.log(LogLevel::Warning, || format!("reconnect failed: {e}"));
                Err(e)
            }
        }
    }
}

/// The wait before an automatic attempt: "equal jitter" — a uniformly random point in the
/// upper half of the backoff step, `[step / 2, step]`, so many clients that lost the same
/// broker do not all come back at the same instant, while the wait still grows with the step.
pub(crate) fn jittered(step: Duration, random: &mut u64) -> Duration {
    // xorshift64: plenty for spreading reconnects, no dependency.
    *random ^= *random << 13;
    *random ^= *random >> 7;
    *random ^= *random << 17;
    let half = step / 2;
    let spread = u64::try_from((step - half).as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(if spread == 0 {
        0
    } else {
        *random % (spread + 1)
    })
}

/// A seed that differs between clients and processes.
pub(crate) fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) | 1
}

/// The loop thread's body: serve the connection; when it is lost (not ended by this client)
/// and automatic reconnects are on, reconnect and serve again. The backoff step starts at the
/// first delay and doubles after each failed attempt up to the maximum; each wait is the step
/// with jitter (see [`jittered`]).
pub(crate) fn run_loop(shared: Arc<Shared>, endpoint: Arc<Endpoint>, stop: Arc<AtomicBool>) {
    let is_stopped = || stop.load(Ordering::Acquire);
    let mut random = seed();
    'serve: loop {
        serve_until_closed(&shared, &is_stopped);
        let Some((first_delay, max_delay)) = endpoint.auto else {
            break;
        };
        let mut step = first_delay;
        loop {
            let lost = shared
                .lock_state()
                .closed()
                .is_some_and(|reason| !reason.ended_by_client());
            if !lost || !shared.sleep_unless(jittered(step, &mut random), &is_stopped) {
                break 'serve;
            }
            match endpoint.try_reconnect(&shared) {
                Ok(()) => continue 'serve,
                Err(e) => shared.log(LogLevel::Warning, || format!("reconnect failed: {e}")),
            }
            step = (step * 2).min(max_delay);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_the_upper_half_of_the_step() {
        let mut random = seed();
        let step = Duration::from_millis(1000);
        let waits: Vec<Duration> = (0..200).map(|_| jittered(step, &mut random)).collect();
        assert!(waits.iter().all(|w| *w >= step / 2 && *w <= step));
        assert!(waits.iter().any(|w| *w != waits[0]), "the waits vary");
        assert_eq!(jittered(Duration::ZERO, &mut random), Duration::ZERO);
    }
}
