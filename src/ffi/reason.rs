//! MQTT 5.0 reason codes for C: the last one the calling thread's call received (their names
//! come from `mqtt_reason_code_str`).

use std::cell::Cell;
use std::ffi::c_int;

use crate::protocol::ReasonCode;

thread_local! {
    static LAST_REASON_CODE: Cell<c_int> = const { Cell::new(-1) };
}

/// Records the reason code the current call received (`None`: none).
pub(crate) fn set_last_reason_code(code: Option<ReasonCode>) {
    let _ = LAST_REASON_CODE.try_with(|last| last.set(code.map_or(-1, |c| c_int::from(c.0))));
}

/// The MQTT 5.0 reason code (0..255) the most recent call on the calling thread received from
/// the server, or -1 when it received none (MQTT 3.1.1 connections receive none but CONNACK's
/// return code, reported as its MQTT 5.0 equivalent).
///
/// Set by `mqtt_connect`/`mqtt_connect_ex` and `mqtt_reconnect` (CONNACK: 0x00 or the
/// refusal), `mqtt_publish`/`mqtt_publish_ex` and `mqtt_wait_published` (PUBACK, PUBREC or
/// PUBCOMP: 0x00, 0x10 no matching subscribers, or the refusal), `mqtt_subscribe`,
/// `mqtt_subscribe_ex` and the `_many` forms (the first filter's SUBACK code; the others in
/// their output array), `mqtt_unsubscribe` (UNSUBACK: 0x00, 0x11 no subscription existed, or the
/// refusal), and by any call failing with `MQTT_STATUS_CLOSED` because the server sent
/// DISCONNECT (its reason code). Inside the on_disconnect callback it is the server's
/// DISCONNECT reason code (or -1), and inside the on_published callback the reason code that
/// ended the publish.
///
/// Does not block; never fails.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_last_reason_code() -> c_int {
    LAST_REASON_CODE.try_with(Cell::get).unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_code_is_kept_per_call() {
        set_last_reason_code(Some(ReasonCode::QUOTA_EXCEEDED));
        assert_eq!(mqtt_last_reason_code(), 0x97);
        set_last_reason_code(None);
        assert_eq!(mqtt_last_reason_code(), -1);
    }
}
