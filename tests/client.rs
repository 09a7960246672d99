//! Test binary `client`: the client (`mqtt::client`) against this crate's broker, a real
//! mosquitto, a scripted fake broker and a connection-cutting proxy, and its lifecycle through
//! the C API (C programs run natively, under valgrind and AddressSanitizer).

mod client_support;
mod fixture;
mod mosquitto;
mod packet_stream;
mod programs;

mod client {
    mod broker;
    mod lifecycle;
    mod mosquitto;
    mod reconnect;
    mod tls;
    mod v5;
    mod v5_conformance;
    mod websocket;
    mod wire;
}
