//! Packets built by hand, byte by byte, for tests that check exact wire bytes or send what the
//! codec would refuse to encode (codec, conformance and hostile binaries).

/// A length-prefixed MQTT string or binary field holding exactly `bytes`, built by hand for tests
/// that send bytes the codec would refuse to encode.
pub fn field(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// A packet with the given first byte and body, framed by hand: the remaining length is encoded
/// here, independently of the codec (section 2.2.3).
pub fn frame(first_byte: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first_byte];
    out.extend_from_slice(&remaining_length(body.len()));
    out.extend_from_slice(body);
    out
}

/// `len` as a remaining length (section 2.2.3): seven bits a byte, least significant first, the
/// top bit set on every byte but the last. Any `len`, so that a test can claim more than the
/// protocol allows or than it sends.
pub fn remaining_length(mut len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let digit = (len % 128) as u8;
        len /= 128;
        out.push(if len > 0 { digit | 0x80 } else { digit });
        if len == 0 {
            return out;
        }
    }
}
