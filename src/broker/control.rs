//! How other threads reach a connection thread: wake it (new deliveries, broker stopping) and ask
//! it to close because a newer connection took over its client id.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use super::waker::Waker;

#[derive(Debug)]
pub(crate) struct ConnectionControl {
    pub waker: Waker,
    taken_over: AtomicBool,
}

impl ConnectionControl {
    pub fn new() -> io::Result<ConnectionControl> {
        Ok(ConnectionControl {
            waker: Waker::new()?,
            taken_over: AtomicBool::new(false),
        })
    }

    /// Asks the connection to close, publishing its will ([MQTT-3.1.4-2]).
    pub fn take_over(&self) {
        self.taken_over.store(true, Ordering::Release);
        self.waker.wake();
    }

    pub fn waker_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.waker.as_raw_fd()
    }

    pub fn is_taken_over(&self) -> bool {
        self.taken_over.load(Ordering::Acquire)
    }
}
