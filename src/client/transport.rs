//! The socket side: resolving and connecting within a deadline, and waiting until the socket is
//! readable, a deadline passes or the client's waker (`crate::waker`) interrupts the wait.

use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::thread;
use std::time::Instant;

use super::error::ClientError;
use crate::socket::{poll2, timeout_ms};
use crate::waker::Waker;

/// Resolves `host` (names, IPv4 and IPv6 literals) and connects to the first address that
/// answers, all before `deadline`.
pub(crate) fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, ClientError> {
    // A bracketed IPv6 literal ("[::1]") is accepted as well as the bare form.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let addrs = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => resolve(host, port, deadline)?,
    };
    if addrs.is_empty() {
        return Err(ClientError::Resolve(format!("{host}: no addresses")));
    }
    let mut failures = Vec::new();
    for addr in addrs {
        let now = Instant::now();
        if now >= deadline {
            return Err(ClientError::Timeout);
        }
        match TcpStream::connect_timeout(&addr, deadline - now) {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(ClientError::Io)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(ClientError::Timeout),
            Err(e) => failures.push(format!("{addr}: {e}")),
        }
    }
    Err(ClientError::ConnectFailed(failures.join("; ")))
}

/// Resolves a host name on a helper thread, so a slow resolver cannot hold `connect` past its
/// deadline (the system resolver has no timeout of its own to pass); a resolution still running
/// at the deadline finishes on its own thread and is discarded.
fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, ClientError> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let name = host.to_owned();
    thread::Builder::new()
        .name("mqtt-resolve".into())
        .stack_size(RESOLVER_STACK_SIZE)
        .spawn(move || {
            let result = (name.as_str(), port)
                .to_socket_addrs()
                .map(|addrs| addrs.collect::<Vec<_>>());
            let _ = tx.send(result);
        })
        .map_err(ClientError::Io)?;
    match rx.recv_deadline(deadline) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(ClientError::Resolve(format!("{host}: {e}"))),
        Err(_) => Err(ClientError::Timeout),
    }
}

/// The system resolver may load NSS modules, so its thread gets more than a minimal stack.
const RESOLVER_STACK_SIZE: usize = 256 * 1024;

/// What ended a [`wait_readable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// The socket has bytes, an end of stream or an error to report.
    Readable,
    /// The deadline passed or the waker fired.
    Interrupted,
}

/// Waits until `socket` is readable, `deadline` passes (`None`: no deadline) or `waker` fires.
pub(crate) fn wait_readable(
    socket: RawFd,
    waker: &Waker,
    deadline: Option<Instant>,
) -> io::Result<Readiness> {
    let ready = poll2(socket, false, waker.as_raw_fd(), timeout_ms(deadline))?;
    if ready.woken {
        waker.reset();
    }
    if ready.readable || ready.closed {
        Ok(Readiness::Readable)
    } else {
        Ok(Readiness::Interrupted)
    }
}

/// Ends the connection in both directions so a reader blocked on it returns at once; the
/// descriptor itself stays open until the stream is dropped, so it cannot be reused meanwhile.
pub(crate) fn shut_down(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Both);
}
