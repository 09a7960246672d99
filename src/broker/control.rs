//! How other threads reach a connection: wake it (new deliveries, broker stopping) and ask it to
//! close because a newer connection took over its client id.
//!
//! A connection thread polls an eventfd of its own; a parked connection has no thread and no
//! eventfd (an idle connection then costs a single descriptor, its socket), and a wake asks
//! whoever holds it (the parking lot) to resume it instead, through [`ResumeQueue`]. This file is
//! part of the data layer: sessions hold a connection's control, so it names no runtime type.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use parking_lot::Mutex;

use super::store::Kick;
use crate::protocol::{Property, ReasonCode};
use crate::waker::Waker;

/// Where a connection without a thread waits: asked to give the connection filed under `token`
/// a thread again. Must not block beyond a short lock, and must not take a connection's control
/// lock (it is called with one held).
pub(crate) trait ResumeQueue: Send + Sync {
    fn request_resume(&self, token: u64);
}

/// A connection as its thread lends it out while waiting in poll(2): a publisher with a few
/// deliveries for it writes them to its socket itself rather than waking the thread, which saves
/// a cross-thread wake-up (a context switch and two syscalls) on every sparse message — the
/// latency mosquitto's single thread never pays.
pub(crate) trait Outlet: Send {
    /// Writes the session's queued deliveries. Returns false when the connection's own thread
    /// has to look at it: output is left over for POLLOUT, or the socket failed.
    fn deliver_now(&mut self) -> bool;

    /// The connection itself again, for the thread that lent it.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

/// Where a connection stands with publishers that would deliver to it directly.
enum Lending {
    /// No thread of its own will look at its queue before being woken (parked, handshaking,
    /// closing, or waiting without lending in durable persistence): publishers wake it.
    Away,
    /// Its thread is working and will look at its queue before it next waits: a publisher
    /// only notes it missed the connection (`missed`), which [`ConnectionControl::lend`]
    /// turns into one more pass instead of a wait, so no wake-up is needed.
    Serving { missed: bool },
    /// Lent while its thread waits in poll(2).
    Lent(Box<dyn Outlet>),
}

enum WakeTarget {
    /// Not yet served by a thread or parked (the handshake, or a connection the listener accepted
    /// and is about to park); remembers a wake until one of them takes over.
    Unset { pending: bool },
    /// Served by a thread polling this waker.
    Thread(Arc<Waker>),
    /// Waiting without a thread, in `lot` under `token`.
    Parked {
        lot: Arc<dyn ResumeQueue>,
        token: u64,
    },
}

pub(crate) struct ConnectionControl {
    taken_over: AtomicBool,
    /// Set by the host to close the connection: [`KICK_WITH_WILL`] or [`KICK_WITHOUT_WILL`].
    kicked: AtomicU8,
    target: Mutex<WakeTarget>,
    /// The connection while its thread waits in poll(2). Lock order: taken last, and only with
    /// `try_lock` by anyone but the lending thread, so a publisher never waits on a subscriber.
    lent: Mutex<Lending>,
    /// Who is connected, for the host's list of clients; set once the CONNECT is accepted.
    pub info: OnceLock<ClientInfo>,
    /// Where the host sends the client instead, set before a kick that redirects it.
    redirect: OnceLock<Redirect>,
}

/// The server a redirected MQTT 5.0 client is told to use (MQTT 5.0 section 4.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The Server Reference property's value.
    pub server_reference: String,
    /// Server moved (0x9D) rather than use another server (0x9C).
    pub permanent: bool,
}

impl Redirect {
    /// Whether `server_reference` can go in a packet: an MQTT string holds no U+0000 and at most
    /// 65,535 bytes.
    pub(crate) fn is_valid_reference(server_reference: &str) -> bool {
        !server_reference.contains('\0') && server_reference.len() <= usize::from(u16::MAX)
    }

    /// The reason code the client is told.
    pub(crate) fn code(&self) -> ReasonCode {
        if self.permanent {
            ReasonCode::SERVER_MOVED
        } else {
            ReasonCode::USE_ANOTHER_SERVER
        }
    }

    /// The Server Reference property, unless the reference cannot go in a packet (a host's
    /// enhanced authenticator may give any string; the client is then told the code alone).
    pub(crate) fn property(&self) -> Option<Property> {
        Redirect::is_valid_reference(&self.server_reference)
            .then(|| Property::ServerReference(self.server_reference.clone()))
    }
}

/// A connected client as the host lists it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub client_id: Arc<str>,
    pub username: Option<String>,
    pub peer: SocketAddr,
    /// 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
    pub protocol_level: u8,
    pub connected_since: SystemTime,
    /// Messages waiting in its session queue when listed.
    pub queued: usize,
}

pub(crate) const KICK_WITH_WILL: u8 = 1;
pub(crate) const KICK_WITHOUT_WILL: u8 = 2;

impl std::fmt::Debug for ConnectionControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionControl")
            .field("taken_over", &self.is_taken_over())
            .finish_non_exhaustive()
    }
}

impl ConnectionControl {
    pub fn new() -> ConnectionControl {
        ConnectionControl {
            taken_over: AtomicBool::new(false),
            kicked: AtomicU8::new(0),
            target: Mutex::new(WakeTarget::Unset { pending: false }),
            lent: Mutex::new(Lending::Away),
            info: OnceLock::new(),
            redirect: OnceLock::new(),
        }
    }

    /// Makes the connection look at its queue and flags: wakes its thread, or has the parking lot
    /// resume it. Never blocks beyond a short lock.
    pub fn wake(&self) {
        match &mut *self.target.lock() {
            WakeTarget::Unset { pending } => *pending = true,
            WakeTarget::Thread(waker) => waker.wake(),
            WakeTarget::Parked { lot, token } => lot.request_resume(*token),
        }
    }

    /// Says the connection's thread serves it and looks at its queue before every wait, so a
    /// publisher that finds it busy need not wake it (see [`Lending::Serving`]).
    pub fn serve(&self) {
        *self.lent.lock() = Lending::Serving { missed: false };
    }

    /// Says the thread no longer looks at the queue by itself (it parks, closes, or waits
    /// without lending); publishers wake it from now on. Returns whether a publisher missed it
    /// meanwhile, which the caller must then treat as a wake-up.
    pub fn step_away(&self) -> bool {
        let was = std::mem::replace(&mut *self.lent.lock(), Lending::Away);
        matches!(was, Lending::Serving { missed: true })
    }

    /// Lends the connection out while its thread waits; see [`Outlet`]. Gives it back when a
    /// publisher missed it since the thread last looked at its queue: the thread must look
    /// again rather than wait.
    pub fn lend(&self, outlet: Box<dyn Outlet>) -> Result<(), Box<dyn Outlet>> {
        let mut lent = self.lent.lock();
        if let Lending::Serving { missed: true } = *lent {
            *lent = Lending::Serving { missed: false };
            return Err(outlet);
        }
        *lent = Lending::Lent(outlet);
        Ok(())
    }

    /// Takes back what [`lend`](Self::lend) lent, waiting for a publisher still writing with it.
    pub fn reclaim(&self) -> Option<Box<dyn Any + Send>> {
        let mut lent = self.lent.lock();
        match std::mem::replace(&mut *lent, Lending::Serving { missed: false }) {
            Lending::Lent(outlet) => Some(outlet.into_any()),
            other => {
                *lent = other;
                None
            }
        }
    }

    /// Writes the connection's queued deliveries on the calling thread if its own thread is
    /// waiting and nobody else is writing for it, or notes the delivery for its thread if that
    /// thread is at work. Returns false when the caller must wake it instead. Never blocks.
    pub fn deliver_directly(&self) -> bool {
        let Some(mut lent) = self.lent.try_lock() else {
            return false;
        };
        match &mut *lent {
            Lending::Lent(outlet) => outlet.deliver_now(),
            Lending::Serving { missed } => {
                *missed = true;
                true
            }
            Lending::Away => false,
        }
    }

    /// Asks the connection to close, publishing its will ([MQTT-3.1.4-2]).
    pub fn take_over(&self) {
        self.taken_over.store(true, Ordering::Release);
        self.wake();
    }

    pub fn is_taken_over(&self) -> bool {
        self.taken_over.load(Ordering::Acquire)
    }

    /// Asks the connection to close because the host said so, publishing its will or not.
    pub fn kick(&self, publish_will: bool) {
        let how = if publish_will {
            KICK_WITH_WILL
        } else {
            KICK_WITHOUT_WILL
        };
        self.kicked.store(how, Ordering::Release);
        self.wake();
    }

    /// Asks the connection to close, sending its client to another server; the will is
    /// published, as for any close the client did not ask for (MQTT 5.0 section 3.1.2.5). A
    /// second redirect before the close keeps the first one's server.
    pub fn redirect(&self, redirect: Redirect) {
        self.remember_redirect(redirect);
        self.kick(true);
    }

    /// Records where the client is sent, for the DISCONNECT that ends a connection the
    /// enhanced authenticator redirected while re-authenticating it.
    pub fn remember_redirect(&self, redirect: Redirect) {
        let _ = self.redirect.set(redirect);
    }

    /// Where the host sent the client, if it redirected it.
    pub fn redirection(&self) -> Option<&Redirect> {
        self.redirect.get()
    }

    /// 0, or how the host asked the connection to close.
    pub fn kicked(&self) -> u8 {
        self.kicked.load(Ordering::Acquire)
    }

    /// Routes wakes to `waker`, the fresh waker of the thread that now serves the connection. A
    /// resumed connection's waker starts signalled (`signalled`): wakes sent while it moved from
    /// the parking lot to a thread went to a token the lot had already released, so the thread
    /// looks at everything once.
    pub fn attach_thread(&self, waker: &Arc<Waker>, signalled: bool) {
        let previous = std::mem::replace(
            &mut *self.target.lock(),
            WakeTarget::Thread(Arc::clone(waker)),
        );
        if signalled || matches!(previous, WakeTarget::Unset { pending: true }) {
            waker.wake();
        }
    }

    /// Routes wakes to `lot` from now on and releases the thread's waker. Returns whether a wake
    /// was pending on it, in which case the connection must be resumed at once.
    pub fn park_at(&self, lot: Arc<dyn ResumeQueue>, token: u64) -> bool {
        let previous =
            std::mem::replace(&mut *self.target.lock(), WakeTarget::Parked { lot, token });
        match previous {
            WakeTarget::Thread(waker) => waker.take_pending(),
            WakeTarget::Unset { pending } => pending,
            WakeTarget::Parked { .. } => false,
        }
    }
}

impl Kick for ConnectionControl {
    fn kick(&self) {
        self.wake();
    }
}
