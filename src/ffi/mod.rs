//! The C API: a thin, panic-proof layer over the Rust core.
