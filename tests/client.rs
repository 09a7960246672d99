//! Test binary `client`: the client (`mqtt::client`) against this crate's broker, a real
//! mosquitto, a scripted fake broker and a connection-cutting proxy.

mod client_support;
mod mosquitto;
mod packet_stream;

mod client {
    mod broker;
    mod mosquitto;
    mod reconnect;
    mod wire;
}
