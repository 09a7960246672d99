//! The in-memory stream tungstenite (RFC 6455) is driven over, by the broker's WebSocket
//! listeners (`crate::broker`) and the client's `ws://` and `wss://` connections
//! (`crate::client`): each moves bytes between its own transport (a non-blocking socket, or a
//! TLS session) and this pipe, so tungstenite never touches a socket itself.

use std::io::{self, Read, Write};

/// The in-memory stream tungstenite reads from and writes to: `incoming` holds transport bytes
/// not yet consumed, `outgoing` what tungstenite wants written.
#[derive(Debug, Default)]
pub(crate) struct Pipe {
    pub(crate) incoming: Vec<u8>,
    /// Bytes of `incoming` already read.
    pub(crate) consumed: usize,
    pub(crate) outgoing: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = &self.incoming[self.consumed..];
        if available.is_empty() {
            self.incoming.clear();
            self.consumed = 0;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consumed += n;
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
