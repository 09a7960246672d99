//! The parking lot: idle connections wait here without a thread.
//!
//! A thread per connection is simple and fast while the connection is busy, but a thread costs
//! kernel memory (its kernel stack and task structure) that an idle connection should not pay.
//! A connection thread that has seen no traffic for `park_idle_after` hands its connection to
//! the lot, closes its eventfd and exits, leaving the socket as the connection's only descriptor.
//! One parking thread watches the parked sockets with epoll and starts a new connection thread as
//! soon as a packet arrives, a delivery is queued or another connection takes the client id over
//! (both signalled through `request_resume`), or the keep-alive deadline passes.
//!
//! New sockets wait here too until their CONNECT arrives (see [`super::accept::greet`]): the
//! parking thread reads it, and answers it itself when that needs no waiting, so accepting a
//! connection costs no thread hand-off. A socket still without its CONNECT when the connect
//! timeout runs out is closed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use parking_lot::Mutex;

use super::accept::{Greeting, greet};
use super::control::ResumeQueue;
use super::online::{Online, drive};
use super::options::DisconnectReason;
use super::runtime::Runtime;
use super::threads::spawn_connection_thread;
use crate::socket::timeout_ms;
use crate::waker::Waker;

/// The epoll token of the lot's own waker; a parked connection's socket is registered under the
/// connection's token.
const LOT_WAKER: u64 = u64::MAX;
const EVENTS_PER_WAIT: usize = 256;

pub(crate) struct Parking {
    epoll: OwnedFd,
    waker: Waker,
    state: Mutex<LotState>,
    /// Tokens whose connection was woken while parked. Lock order: a connection's control, then
    /// this; never the lot state while holding it.
    ready: Mutex<Vec<u64>>,
}

struct LotState {
    /// False once the broker stops: connections can no longer park.
    open: bool,
    next_token: u64,
    parked: HashMap<u64, Box<Online>>,
    /// New sockets waiting for their CONNECT.
    greeting: HashMap<u64, Box<Greeting>>,
    /// Keep-alive deadlines of parked connections and connect deadlines of greeting ones; entries
    /// of connections that left are skipped.
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
}

fn epoll_ctl(epoll: RawFd, op: i32, fd: RawFd, token: u64) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
        u64: token,
    };
    if token == LOT_WAKER {
        event.events = libc::EPOLLIN as u32;
    }
    // SAFETY: epoll_ctl on descriptors we own, with a live event structure.
    if unsafe { libc::epoll_ctl(epoll, op, fd, &mut event) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Parking {
    pub fn new() -> io::Result<Parking> {
        // SAFETY: epoll_create1 has no memory arguments; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor owned by nobody else.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let waker = Waker::new()?;
        epoll_ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            waker.as_raw_fd(),
            LOT_WAKER,
        )?;
        Ok(Parking {
            epoll,
            waker,
            state: Mutex::new(LotState {
                open: true,
                next_token: 0,
                parked: HashMap::new(),
                greeting: HashMap::new(),
                deadlines: BinaryHeap::new(),
            }),
            ready: Mutex::new(Vec::new()),
        })
    }

    pub fn wake(&self) {
        self.waker.wake();
    }

    /// Takes an idle connection in. Gives it back if the lot is closed (the broker is stopping)
    /// or its socket cannot be watched; the caller then closes it or goes on serving it.
    pub fn park(self: &Arc<Self>, mut online: Box<Online>) -> Result<(), Box<Online>> {
        // Held throughout, so the parking thread cannot resume the connection before its wakes
        // are routed here.
        let mut state = self.state.lock();
        if !state.open {
            return Err(online);
        }
        let token = state.next_token;
        state.next_token += 1;
        let socket = online.socket_fd();
        if epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, socket, token).is_err() {
            return Err(online);
        }
        if let Some(deadline) = online.keep_alive_deadline() {
            state.push_deadline(&self.waker, deadline, token);
        }
        let pending_wake = online.leave_thread(Arc::clone(self) as Arc<dyn ResumeQueue>, token);
        state.parked.insert(token, online);
        drop(state);
        if pending_wake {
            self.request_resume(token);
        }
        Ok(())
    }

    /// Takes in a new socket whose CONNECT has not (entirely) arrived, until it does or the
    /// connect timeout runs out. Gives it back if the lot is closed or cannot watch the socket.
    pub fn await_connect(&self, greeting: Box<Greeting>) -> Result<(), Box<Greeting>> {
        let mut state = self.state.lock();
        if !state.open {
            return Err(greeting);
        }
        let token = state.next_token;
        state.next_token += 1;
        let socket = greeting.io.fd();
        if epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, socket, token).is_err() {
            return Err(greeting);
        }
        state.push_deadline(&self.waker, greeting.deadline, token);
        state.greeting.insert(token, greeting);
        Ok(())
    }

    /// The parking thread: resumes connections as their descriptors become ready or their
    /// keep-alive deadline passes; on stop, closes every parked connection.
    pub fn run(self: &Arc<Self>, runtime: &Arc<Runtime>) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_WAIT];
        while !runtime.is_stopping() {
            let timeout = timeout_ms(self.next_deadline());
            // SAFETY: waits into a live buffer of EVENTS_PER_WAIT events.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    EVENTS_PER_WAIT as i32,
                    timeout,
                )
            };
            if runtime.is_stopping() {
                break;
            }
            for event in events.iter().take(n.max(0) as usize) {
                let token = event.u64;
                if token == LOT_WAKER {
                    self.waker.reset();
                    let ready = std::mem::take(&mut *self.ready.lock());
                    for token in ready {
                        self.resume(runtime, token);
                    }
                } else {
                    self.resume(runtime, token);
                }
            }
            self.resume_expired(runtime);
        }
        self.close_all(runtime);
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut state = self.state.lock();
        while let Some(&Reverse((deadline, token))) = state.deadlines.peek() {
            if state.holds(token) {
                return Some(deadline);
            }
            state.deadlines.pop();
        }
        None
    }

    fn take(&self, token: u64) -> Option<Box<Online>> {
        let online = self.state.lock().parked.remove(&token)?;
        let epoll = self.epoll.as_raw_fd();
        let _ = epoll_ctl(epoll, libc::EPOLL_CTL_DEL, online.socket_fd(), 0);
        Some(online)
    }

    fn take_greeting(&self, token: u64) -> Option<Box<Greeting>> {
        let greeting = self.state.lock().greeting.remove(&token)?;
        let epoll = self.epoll.as_raw_fd();
        let _ = epoll_ctl(epoll, libc::EPOLL_CTL_DEL, greeting.io.fd(), 0);
        Some(greeting)
    }

    /// Gives a parked connection a thread again; reads what a greeting socket sent.
    fn resume(self: &Arc<Self>, runtime: &Arc<Runtime>, token: u64) {
        if let Some(greeting) = self.take_greeting(token) {
            if runtime.is_stopping() || greet(runtime, self, greeting).is_err() {
                runtime.live_connections.fetch_sub(1, Ordering::AcqRel);
            }
            return;
        }
        let Some(online) = self.take(token) else {
            return;
        };
        if runtime.is_stopping() {
            close(runtime, online);
            return;
        }
        if spawn_connection_thread(runtime, move || drive(online)).is_err() {
            // The connection went down with the closure that could not start: its session was
            // released by `Online`'s drop.
            runtime.live_connections.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn resume_expired(self: &Arc<Self>, runtime: &Arc<Runtime>) {
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut state = self.state.lock();
            while let Some(&Reverse((deadline, token))) = state.deadlines.peek() {
                if deadline > now {
                    break;
                }
                state.deadlines.pop();
                if state.holds(token) {
                    due.push(token);
                }
            }
        }
        for token in due {
            // [MQTT-3.1.0-1] gives no time limit, but a socket that never sends CONNECT must not
            // hold a descriptor forever: past the connect timeout it is closed.
            if let Some(mut greeting) = self.take_greeting(token) {
                greeting.io.count_unfinished_handshake();
                runtime.live_connections.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            self.resume(runtime, token);
        }
    }

    fn close_all(&self, runtime: &Arc<Runtime>) {
        let (parked, greeting): (Vec<u64>, Vec<u64>) = {
            let mut state = self.state.lock();
            state.open = false;
            (
                state.parked.keys().copied().collect(),
                state.greeting.keys().copied().collect(),
            )
        };
        for token in greeting {
            if self.take_greeting(token).is_some() {
                runtime.live_connections.fetch_sub(1, Ordering::AcqRel);
            }
        }
        for token in parked {
            if let Some(online) = self.take(token) {
                close(runtime, online);
            }
        }
    }
}

impl ResumeQueue for Parking {
    /// Asks the parking thread to resume the connection parked under `token` (a delivery was
    /// queued for it, or it was taken over). A token no longer parked is ignored: its connection
    /// already has a thread, which looks at everything when it starts.
    fn request_resume(&self, token: u64) {
        self.ready.lock().push(token);
        self.waker.wake();
    }
}

impl LotState {
    /// Whether `token` names a connection still in the lot.
    fn holds(&self, token: u64) -> bool {
        self.parked.contains_key(&token) || self.greeting.contains_key(&token)
    }

    /// Records a deadline, waking the parking thread when it comes before all others.
    fn push_deadline(&mut self, waker: &Waker, deadline: Instant, token: u64) {
        let earliest = self
            .deadlines
            .peek()
            .is_none_or(|Reverse((first, _))| deadline < *first);
        self.deadlines.push(Reverse((deadline, token)));
        if earliest {
            waker.wake();
        }
    }
}

fn close(runtime: &Runtime, online: Box<Online>) {
    online.finish(DisconnectReason::BrokerStopping);
    runtime.live_connections.fetch_sub(1, Ordering::AcqRel);
}
