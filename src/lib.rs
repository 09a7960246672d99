//! libmqtt: an embeddable MQTT 3.1.1 broker and client with a C API.
//!
//! The Rust core (`protocol`, `topic`, `broker`, `client`) knows nothing of C; the `ffi` module is a
//! thin layer that checks arguments, converts types and keeps panics from crossing into C.

pub mod broker;
pub mod client;
pub mod ffi;
pub mod protocol;
pub mod service;
mod socket;
pub mod tls;
pub mod topic;
mod waker;
mod websocket;
