//! Test binary `broker`: the broker through raw MQTT 3.1.1 and 5.0 clients, its Rust and C APIs, the
//! standalone broker program, the service files it reads (password, ACL, configuration) and the
//! fuzzer's regressions. Tests that count the process's
//! threads or descriptors are not here (they would see the other tests' brokers): see
//! broker_parking.rs and hostile.rs.

mod common;
mod fixture;
mod packet_stream;

mod broker {
    mod bridge;
    mod connect;
    mod crash;
    mod ffi;
    mod fuzz_regressions;
    mod persistence;
    mod program;
    mod pubsub;
    mod service_files;
    mod sessions;
    mod stress;
    mod tls;
    mod v5;
    mod v5_control_characters;
    mod v5_redirect;
    mod v5_shared;
    mod v5_statements;
    mod websocket;
    mod will;
}
