//! Inputs that made the `broker_connection` fuzz target (fuzz/fuzz_targets/broker_connection.rs)
//! fail, replayed the way the target feeds them: written to one connection, which is then
//! half-closed. The broker must close that connection, send nothing malformed, and go on serving
//! a fresh CONNECT.

use std::net::Shutdown;

use crate::common::*;
use mqtt::protocol::{ConnectReturnCode, ProtocolLevel};

/// Replays `input` on its own connection and checks the broker afterwards.
fn replay(input: &[u8]) {
    let broker = start_default_broker();
    let mut client = RawClient::open(broker.port());
    // The broker may close before reading everything: a write error is allowed.
    let _ = std::io::Write::write_all(&mut client.stream, input);
    let _ = client.stream.shutdown(Shutdown::Write);
    client.expect_closed(READ_TIMEOUT);
    let (mut probe, connack) =
        RawClient::connect_with(broker.port(), connect_packet("probe", true));
    assert_eq!(connack.code, ConnectReturnCode::Accepted.to_reason());
    probe.sync();
}

/// MQTT 3.1 CONNECT ("MQIsdp", level 3), a PUBLISH and a SUBSCRIBE with a bad length. It
/// crashed the fuzz harness, not the broker: libFuzzer's timer signal interrupted the
/// harness's read of the liveness CONNACK (EINTR), which it did not retry.
#[test]
fn mqtt_3_1_connect_then_truncated_subscribe() {
    let input = b"\x10\x0f\x00\x06MQIsdp\x03\x02\x00\x03r/x\x09)ert\x82\x08\x00\x04\x00\x02";
    replay(input);
    // The same stream read with 3.1 rules, as the broker reads it after this CONNECT.
    let decoder = mqtt::protocol::Decoder::default().with_protocol(ProtocolLevel::V31);
    let mut rest = &input[..];
    while let Ok(Some((_, used))) = decoder.decode(rest) {
        rest = &rest[used..];
    }
    assert!(
        !rest.is_empty(),
        "the stream ends in a packet the broker must refuse"
    );
}

/// CONNECT, a wildcard SUBSCRIBE, PUBLISHes to it and a second, malformed CONNECT. Reported by
/// LeakSanitizer as 32 bytes leaked by glibc's thread-local destructor registration of a
/// connection thread still running when the input ended: not a broker leak, which is why the
/// target runs with leak detection off.
#[test]
fn subscribe_publish_then_malformed_second_connect() {
    replay(
        b"\x10\x0d\x00\x04MQTT\x04\x00\x00e\x00\x01\x82\x08<\x00\x05\x00\x03p/#\x022\x08\x00\x03p\
          \x0fa\x00\x07x<\x0e\x00\x03p/a\x00\x07xQTT\x04\x02\x00<\x00\x01f\x10\x12\x00\x04M\xff\xff\
          d4\x0a\x00\x14\x1f\x00\x06@p/b\x00\x08",
    );
}
