//! Test binary `interop`: peers this project did not write — mosquitto and its command-line
//! clients, Python paho-mqtt, the rumqttc crate and MQTT.js in headless Chromium — against this
//! crate's broker and client, in MQTT 3.1.1, 3.1 and 5.0.

mod common;
mod fixture;
mod interop_support;
mod mosquitto;
mod packet_stream;
// The certificates and TLS mosquitto of the client's TLS tests, shared with this binary.
#[allow(dead_code)]
#[path = "client/tls/support.rs"]
mod tls_support;

mod interop {
    mod bridge;
    mod broker_tls;
    mod browser;
    mod client_mosquitto;
    mod client_v5;
    mod client_websocket;
    mod mosquitto_clients;
    mod paho;
    mod persistence;
    mod programs_tls;
    mod programs_v5;
    mod rumqttc;
    mod v5;
}
