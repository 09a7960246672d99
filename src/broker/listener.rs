//! The listener thread: accepts sockets on every listening socket (plain or TLS) and hands each
//! to [`accept::start`] (which answers its
//! CONNECT at once or lets it wait for one in the parking lot), refuses sockets beyond the
//! connection limit, watches refused sockets while they linger, joins finished connection threads
//! and expires idle persistent sessions.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::accept;
use super::listeners::Bound;
use super::refusal::refuse;
use super::runtime::Runtime;
use super::stats::Counters;
use super::sys::SysTopics;
use super::threads::{join_finished, mark_serving};
use crate::protocol::ReasonCode;
use crate::socket::{deepen_backlog, poll_many};
use crate::waker::Waker;

const BACKLOG: i32 = 4096;
/// How often idle persistent sessions are checked for expiry.
const EXPIRY_SWEEP: Duration = Duration::from_secs(1);
/// `fds` starts with the waker, then one entry per listening socket; the lingering sockets
/// follow.
const FIRST_LISTENER: usize = 1;

pub(crate) fn run(runtime: Arc<Runtime>, listeners: Vec<Bound>, waker: Arc<Waker>) {
    // Connections accepted at once run their event hook here.
    mark_serving(&runtime);
    for listener in &listeners {
        deepen_backlog(listener.socket.as_raw_fd(), BACKLOG);
    }
    let first_lingering = FIRST_LISTENER + listeners.len();
    let state = &runtime.state;
    let mut last_sweep = Instant::now();
    let mut sys = SysTopics::new();
    sys.tick(state, last_sweep);
    let mut fds: Vec<libc::pollfd> = Vec::new();
    loop {
        join_finished(&runtime);
        if runtime.is_stopping() {
            return;
        }
        fds.clear();
        let listening = listeners.iter().map(|l| l.socket.as_raw_fd());
        for fd in std::iter::once(waker.as_raw_fd()).chain(listening) {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let mut timeout: Option<Duration> = runtime
            .lingering
            .watch(&mut fds)
            .map(|deadline| deadline.saturating_duration_since(Instant::now()));
        // Any session may expire: an MQTT 5.0 client chooses its own expiry interval.
        timeout = Some(timeout.map_or(EXPIRY_SWEEP, |t| t.min(EXPIRY_SWEEP)));
        if poll_many(&mut fds, timeout).is_err() {
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        if fds[0].revents != 0 {
            waker.reset();
        }
        if runtime.is_stopping() {
            return;
        }
        runtime.lingering.service(&fds[first_lingering..]);
        for (listener, polled) in listeners.iter().zip(&fds[FIRST_LISTENER..first_lingering]) {
            if polled.revents != 0 {
                accept_all(&runtime, listener);
            }
        }
        let now = Instant::now();
        if now.duration_since(last_sweep) >= EXPIRY_SWEEP {
            last_sweep = now;
            state.expire_sessions(state.options.session_expiry);
            sys.tick(state, now);
        }
    }
}

fn accept_all(runtime: &Arc<Runtime>, listener: &Bound) {
    let state = &runtime.state;
    loop {
        let (stream, peer) = match listener.socket.accept() {
            Ok(pair) => pair,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                // Out of descriptors or memory: back off instead of spinning on a listener that
                // stays readable.
                thread::sleep(Duration::from_millis(10));
                return;
            }
        };
        Counters::add(&state.counters.connections_accepted, 1);
        if runtime.connection_count() >= state.options.max_connections {
            // CONNACK 0x03, server unavailable — in plain MQTT: a TLS or WebSocket client would
            // first need a handshake, which a full broker does not spend work on: closed.
            if listener.is_plain()
                && let Ok(io) = listener.io(stream, state.options.max_packet_size, &state.counters)
            {
                refuse(runtime, io, ReasonCode::SERVER_UNAVAILABLE);
            }
            continue;
        }
        let io = match listener.io(stream, state.options.max_packet_size, &state.counters) {
            Ok(io) => io,
            Err(_) => continue,
        };
        runtime.live_connections.fetch_add(1, Ordering::AcqRel);
        if accept::start(runtime, io, peer).is_err() {
            // The socket went down with the connection that could not start.
            runtime.live_connections.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
