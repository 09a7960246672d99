//! Feeds arbitrary bytes to the decoder as a stream of packets, under the default rules, a small
//! size limit and MQTT 3.1 rules. Besides "never panics", whatever decodes must have used at
//! least a fixed header and no more than it was given, and must encode back to bytes that decode
//! to the same packet.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt::protocol::{Decoder, ProtocolLevel, decode};

fuzz_target!(|data: &[u8]| {
    let decoders = [
        Decoder::default(),
        Decoder::with_max_packet_size(64),
        Decoder::default().with_protocol(ProtocolLevel::V31),
    ];
    for decoder in decoders {
        let mut rest = data;
        while let Ok(Some((packet, used))) = decoder.decode(rest) {
            assert!(used >= 2 && used <= rest.len() && used <= decoder.max_packet_size());
            let again = packet.to_bytes().expect("a decoded packet encodes");
            assert_eq!(decode(&again), Ok(Some((packet, again.len()))));
            rest = &rest[used..];
        }
    }
});
