//! Test binary `conformance`: docs/CONFORMANCE.md kept honest (table.rs), and the broker's and
//! client's behaviour for normative statements of MQTT 3.1.1 no other test covers.

mod common;
mod fixture;
mod framing;
mod packet_stream;

mod conformance {
    mod broker;
    mod client;
    mod table;
}
