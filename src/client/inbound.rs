//! The receive buffer: bytes read from the socket and decoded one packet at a time, so a nested
//! reader (a client call made from inside a callback) continues exactly where the outer one was.

use std::io;

use crate::protocol::{DecodeError, Decoder, Packet, ProtocolLevel};
use crate::topic::TopicName;

/// Bytes requested from the kernel per read when the buffer has room.
const READ_CHUNK: usize = 64 * 1024;

pub(crate) struct Inbound {
    buf: Vec<u8>,
    /// Decoded up to here.
    start: usize,
    /// Filled up to here.
    end: usize,
    decoder: Decoder,
    /// The topic of the last PUBLISH read, shared with the next one naming it.
    last_topic: Option<TopicName>,
}

impl Inbound {
    pub(crate) fn new(max_packet_size: usize, protocol: ProtocolLevel) -> Inbound {
        Inbound {
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            decoder: Decoder::with_max_packet_size(max_packet_size).with_protocol(protocol),
            last_topic: None,
        }
    }

    /// The next complete packet already buffered, if any.
    pub(crate) fn next_packet(&mut self) -> Result<Option<Packet>, DecodeError> {
        match self
            .decoder
            .decode_reusing(&self.buf[self.start..self.end], &mut self.last_topic)?
        {
            Some((packet, used)) => {
                self.start += used;
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                }
                Ok(Some(packet))
            }
            None => Ok(None),
        }
    }

    /// Reads once into the buffer's free end with `read` (which returns the byte count; `Ok(0)`
    /// is end of stream) and keeps what it wrote. The buffer grows only when a packet that has
    /// really arrived in part does not fit, so memory follows bytes received, not the length a
    /// peer claims; `slack` allows that many bytes beyond the packet size limit, for a TLS
    /// session that hands over all its decrypted bytes at once.
    pub(crate) fn read_with(
        &mut self,
        slack: usize,
        read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let limit = self.decoder.max_packet_size().max(READ_CHUNK) + slack;
                let grown = (self.buf.len() * 2).min(limit);
                if grown <= self.buf.len() {
                    return Err(io::Error::other("receive buffer at its packet size limit"));
                }
                self.buf.resize(grown, 0);
            }
        }
        let n = read(&mut self.buf[self.end..])?;
        self.end += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(n)
    }
}
