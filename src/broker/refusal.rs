//! Refusing a client, the one way for every refusal (connection limit reached, unsupported
//! protocol level, rejected identifier, failed authentication, no descriptor left): a CONNACK
//! with the refusing return code, then the connection is closed ([MQTT-3.2.2-5]).
//!
//! Closing at once could destroy the CONNACK with a reset if the client's later bytes arrive
//! after the close, so the socket is shut for writing once the CONNACK is out and lingers, its
//! input read and discarded, until the client closes it or [`REFUSAL_LINGER`] passes. The
//! listener thread watches the lingering sockets, so a refusal never holds a connection thread.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::io::Io;
use super::runtime::Runtime;
use crate::protocol::{Connack, Packet, ReasonCode};

/// How long a refused socket stays open at most for its client to read the CONNACK.
pub(crate) const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// Refused sockets lingering at once; beyond this they are closed as soon as the CONNACK is
/// written, so a flood of refused connects cannot hold descriptors.
const MAX_LINGERING: usize = 1024;

struct Refused {
    io: Io,
    deadline: Instant,
}

/// Refused sockets waiting for their client to read the CONNACK and close.
#[derive(Default)]
pub(crate) struct Lingering {
    sockets: Mutex<Vec<Refused>>,
}

/// Sends a CONNACK with `code` (session present 0 with any non-zero code, [MQTT-3.2.2-4]; an
/// MQTT 3.1.1 client gets the return code of the same meaning) and hands the socket to the
/// listener to linger; returns at once.
pub(crate) fn refuse(runtime: &Runtime, io: Io, code: ReasonCode) {
    refuse_with(runtime, io, Connack::new(false, code));
}

/// [`refuse`] with a refusing CONNACK that carries properties (an MQTT 5.0 Server Reference).
pub(crate) fn refuse_with(runtime: &Runtime, mut io: Io, connack: Connack) {
    io.send(&Packet::Connack(connack));
    if io.flush().is_err() {
        return;
    }
    if !io.has_pending_output() {
        io.shutdown_write();
    }
    let mut sockets = runtime.lingering.sockets.lock();
    if sockets.len() >= MAX_LINGERING || runtime.is_stopping() {
        return;
    }
    sockets.push(Refused {
        io,
        deadline: Instant::now() + REFUSAL_LINGER,
    });
    drop(sockets);
    runtime.wake_listener();
}

impl Lingering {
    /// Appends one `pollfd` per lingering socket to `fds`, in order, and returns the earliest
    /// deadline.
    pub fn watch(&self, fds: &mut Vec<libc::pollfd>) -> Option<Instant> {
        let sockets = self.sockets.lock();
        fds.extend(sockets.iter().map(|r| libc::pollfd {
            fd: r.io.fd(),
            events: libc::POLLIN
                | if !r.io.has_pending_output() {
                    0
                } else {
                    libc::POLLOUT
                },
            revents: 0,
        }));
        sockets.iter().map(|r| r.deadline).min()
    }

    /// Acts on what `poll` reported for the sockets [`Lingering::watch`] listed (`revents`, in
    /// the same order; sockets refused since have none yet): finishes writing CONNACKs, discards
    /// input, and closes sockets whose client closed or whose time is up.
    pub fn service(&self, revents: &[libc::pollfd]) {
        let now = Instant::now();
        let mut index = 0;
        self.sockets.lock().retain_mut(|r| {
            let events = revents.get(index).map_or(0, |p| p.revents);
            index += 1;
            if now >= r.deadline {
                return false;
            }
            if events & libc::POLLOUT != 0 {
                if r.io.flush().is_err() {
                    return false;
                }
                if !r.io.has_pending_output() {
                    r.io.shutdown_write();
                }
            }
            events & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 || r.io.discard_input()
        });
    }

    /// Closes every lingering socket, for a broker that stops.
    pub fn clear(&self) {
        self.sockets.lock().clear();
    }
}
