//! The send side: callers encode into one shared buffer under a short lock; whoever finds no
//! flush in progress writes the whole buffer with one `write`, looping while others keep
//! appending, so packets from many threads coalesce into few system calls under load.

use std::io;
use std::time::Instant;

use parking_lot::Mutex;

use super::transport::Transport;
use crate::protocol::EncodeError;

/// A flushed buffer larger than this is not kept for reuse.
const KEEP_CAPACITY: usize = 1 << 20;

struct Pending {
    buf: Vec<u8>,
    /// An emptied buffer swapped in while the flusher writes the other one.
    spare: Vec<u8>,
    flushing: bool,
    last_write: Instant,
}

pub(crate) struct Outbound {
    pending: Mutex<Pending>,
}

/// What became of a [`Outbound::send`]: the encoder's own error, or the write's.
pub(crate) enum SendError<E> {
    Encode(E),
    Io(io::Error),
}

impl Outbound {
    pub(crate) fn new() -> Outbound {
        Outbound {
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(16 * 1024),
                spare: Vec::with_capacity(16 * 1024),
                flushing: false,
                last_write: Instant::now(),
            }),
        }
    }

    /// Whether bytes wait to be written (queued, or a flush is under way).
    pub(crate) fn has_pending(&self) -> bool {
        let p = self.pending.lock();
        !p.buf.is_empty() || p.flushing
    }

    /// When the socket last took bytes (or the connection started).
    pub(crate) fn last_write(&self) -> Instant {
        self.pending.lock().last_write
    }

    /// Appends what `encode` writes without writing it: the next [`Outbound::send`] flushes it
    /// ahead of its own bytes (a resumed session's re-sends go out before anything new).
    pub(crate) fn queue(
        &self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        encode(&mut self.pending.lock().buf)
    }

    /// Appends what `encode` writes and makes sure it reaches the socket: either this call
    /// writes it, or a flush already running on another thread will before it stops.
    pub(crate) fn send<E>(
        &self,
        transport: &Transport,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), SendError<E>> {
        let mut p = self.pending.lock();
        encode(&mut p.buf).map_err(SendError::Encode)?;
        if p.flushing {
            return Ok(());
        }
        p.flushing = true;
        loop {
            let mut out = std::mem::take(&mut p.spare);
            std::mem::swap(&mut out, &mut p.buf);
            drop(p);
            let result = transport.write_all(&out);
            out.clear();
            if out.capacity() > KEEP_CAPACITY {
                out = Vec::with_capacity(16 * 1024);
            }
            p = self.pending.lock();
            p.spare = out;
            p.last_write = Instant::now();
            if let Err(e) = result {
                p.flushing = false;
                p.buf.clear();
                return Err(SendError::Io(e));
            }
            if p.buf.is_empty() {
                p.flushing = false;
                return Ok(());
            }
        }
    }
}
