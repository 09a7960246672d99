//! The few socket operations the standard library does not offer: `poll(2)` over a socket and a
//! waker together, reading straight into a vector's spare capacity, and raising a listen backlog.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Readiness reported by [`poll2`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ready {
    pub readable: bool,
    pub writable: bool,
    /// Hang-up or error: a read will tell which.
    pub closed: bool,
    pub woken: bool,
}

/// Milliseconds until `deadline`, rounded up so a wake-up never comes before it; -1 for none.
pub(crate) fn timeout_ms(deadline: Option<Instant>) -> i32 {
    match deadline {
        None => -1,
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = left.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as i32
        }
    }
}

/// Waits until `socket` is readable (or writable, when `want_write`), `waker` is readable, or
/// `timeout_ms` passes.
pub(crate) fn poll2(
    socket: RawFd,
    want_write: bool,
    waker: RawFd,
    timeout_ms: i32,
) -> io::Result<Ready> {
    let mut fds = [
        libc::pollfd {
            fd: socket,
            events: libc::POLLIN | if want_write { libc::POLLOUT } else { 0 },
            revents: 0,
        },
        libc::pollfd {
            fd: waker,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: fds is a live array of two pollfd structures.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(Ready::default());
        }
        return Err(err);
    }
    let socket_events = fds[0].revents;
    Ok(Ready {
        readable: socket_events & libc::POLLIN != 0,
        writable: socket_events & libc::POLLOUT != 0,
        closed: socket_events & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
        woken: fds[1].revents & libc::POLLIN != 0,
    })
}

/// Reads once into `buf`'s spare capacity (which the caller reserved), appending what arrived.
/// Returns the byte count; 0 is end of stream.
pub(crate) fn read_into_spare(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    loop {
        // SAFETY: reads at most spare.len() bytes into the vector's allocated, unused tail.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len()) };
        if n >= 0 {
            let n = n as usize;
            // SAFETY: the kernel initialised the first n bytes of the spare capacity.
            unsafe { buf.set_len(buf.len() + n) };
            return Ok(n);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Re-issues `listen(2)` with a deeper backlog: bursts of thousands of connects per second must
/// not overflow the accept queue (Linux allows raising it on a listening socket).
pub(crate) fn deepen_backlog(fd: RawFd, backlog: i32) {
    // SAFETY: listen on a descriptor we own; failure leaves the earlier backlog in place.
    unsafe {
        libc::listen(fd, backlog);
    }
}

/// Polls for readability of many descriptors at once; used by the listener.
pub(crate) fn poll_many(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<()> {
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    // SAFETY: fds is a live slice of pollfd structures.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}

/// A socket descriptor as `Read` and `Write`, for rustls's `read_tls` / `write_tls`: reads with
/// read(2), writes with send(2) and `MSG_NOSIGNAL` (a peer that went away must not raise SIGPIPE
/// in a host program that kept its default action). Whether it blocks is the socket's setting.
pub(crate) struct FdStream(pub RawFd);

impl io::Read for FdStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: reads at most buf.len() bytes into a live, writable slice.
            let n = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl io::Write for FdStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            // SAFETY: sends from a live slice on a descriptor the caller owns.
            let n =
                unsafe { libc::send(self.0, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
