//! An eventfd that wakes a thread sleeping in `poll(2)` on a socket and this descriptor together:
//! a broker connection thread so it flushes queued deliveries, a client thread blocked reading
//! so it sees a reply another thread read, or a close.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug)]
pub(crate) struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        // SAFETY: eventfd has no memory arguments; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor owned by nobody else.
        Ok(Waker {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Makes the descriptor readable. Never blocks: at worst the counter saturates, which still
    /// leaves it readable.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an owned descriptor.
        unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            );
        }
    }

    /// Whether a wake was pending, consuming it.
    pub fn take_pending(&self) -> bool {
        let mut value: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64 from an owned, non-blocking descriptor.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut value as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        n == std::mem::size_of::<u64>() as isize && value > 0
    }

    /// Sleeps until woken or `timeout` passes (`None`: until woken). Does not consume the wake:
    /// call [`Waker::reset`] before looking at what it announced.
    pub fn wait(&self, timeout: Option<std::time::Duration>) {
        let mut fds = [libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // An error (only EINVAL or ENOMEM here) is a spurious wake-up to the caller's loop.
        let _ = crate::socket::poll_many(&mut fds, timeout);
    }

    /// Makes the descriptor unreadable again. Call before looking at what the wake announced, so a
    /// wake that races with the look is not lost.
    pub fn reset(&self) {
        self.take_pending();
    }
}

impl AsRawFd for Waker {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
