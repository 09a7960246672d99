//! The listener thread: accepts sockets and hands each to [`connection::start`] (which answers
//! its CONNECT at once or lets it wait for one in the parking lot), refuses sockets beyond the
//! connection limit, joins finished connection threads and expires idle persistent sessions.

use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::connection;
use super::core::Core;
use super::socket::{deepen_backlog, poll_many};
use super::stats::Counters;
use super::threads::{join_finished, mark_serving};
use crate::waker::Waker;

/// CONNACK, session present 0, return code 0x03 "server unavailable".
const CONNACK_SERVER_UNAVAILABLE: [u8; 4] = [0x20, 2, 0, 3];
/// Refused sockets are kept open this long at most so the client can read its CONNACK.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);
/// Refused sockets lingering at once; beyond this they are closed at once.
const MAX_LINGERING: usize = 1024;
const BACKLOG: i32 = 4096;
/// How often idle persistent sessions are checked for expiry.
const EXPIRY_SWEEP: Duration = Duration::from_secs(1);

struct Refused {
    stream: TcpStream,
    deadline: Instant,
}

pub(crate) fn run(core: Arc<Core>, listener: TcpListener, waker: Arc<Waker>) {
    // Connections accepted at once run their event hook here.
    mark_serving(&core);
    deepen_backlog(listener.as_raw_fd(), BACKLOG);
    let mut refused: Vec<Refused> = Vec::new();
    let mut last_sweep = Instant::now();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    loop {
        join_finished(&core);
        if core.is_stopping() {
            return;
        }
        fds.clear();
        for fd in [listener.as_raw_fd(), waker.as_raw_fd()] {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        fds.extend(refused.iter().map(|r| libc::pollfd {
            fd: r.stream.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        let mut timeout = refused
            .iter()
            .map(|r| r.deadline.saturating_duration_since(Instant::now()))
            .min();
        if core.options.session_expiry.is_some() {
            timeout = Some(timeout.map_or(EXPIRY_SWEEP, |t| t.min(EXPIRY_SWEEP)));
        }
        if poll_many(&mut fds, timeout).is_err() {
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        if fds[1].revents != 0 {
            waker.reset();
        }
        if core.is_stopping() {
            return;
        }
        if fds[0].revents != 0 {
            accept_all(&core, &listener, &mut refused);
        }
        let now = Instant::now();
        let mut index = 0;
        refused.retain(|r| {
            let revents = fds.get(2 + index).map_or(0, |p| p.revents);
            index += 1;
            now < r.deadline && (revents == 0 || drain(&r.stream))
        });
        if let Some(expiry) = core.options.session_expiry
            && now.duration_since(last_sweep) >= EXPIRY_SWEEP
        {
            last_sweep = now;
            core.expire_sessions(expiry);
        }
    }
}

/// Reads and discards what a refused client sent; false once it closed.
fn drain(stream: &TcpStream) -> bool {
    use std::io::Read;
    let mut sink = [0u8; 512];
    loop {
        match (&*stream).read(&mut sink) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn accept_all(core: &Arc<Core>, listener: &TcpListener, refused: &mut Vec<Refused>) {
    loop {
        let (stream, peer) = match listener.accept() {
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
        Counters::add(&core.counters.connections_accepted, 1);
        if core.connection_count() >= core.options.max_connections {
            refuse(stream, refused);
            continue;
        }
        core.live_connections.fetch_add(1, Ordering::AcqRel);
        if connection::start(core, stream, peer).is_err() {
            // The socket went down with the connection that could not start.
            core.live_connections.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Answers CONNACK 0x03 and closes ([MQTT-3.2.2-5]), lingering briefly so the client reads it.
fn refuse(mut stream: TcpStream, refused: &mut Vec<Refused>) {
    let _ = stream.set_nonblocking(true);
    let _ = stream.write(&CONNACK_SERVER_UNAVAILABLE);
    let _ = stream.shutdown(Shutdown::Write);
    if refused.len() < MAX_LINGERING {
        refused.push(Refused {
            stream,
            deadline: Instant::now() + REFUSAL_LINGER,
        });
    }
}
