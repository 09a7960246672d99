//! Test binary `hostile`: malformed and random input, resource attacks and faults in the middle
//! of session flows. The tests measure the whole process (threads, descriptors, heap through a
//! counting global allocator, resident memory), so this binary has its own process and every
//! test in it holds `support::serial()`: they run one at a time.

mod common;
mod fixture;
mod framing;
mod packet_stream;

mod hostile {
    mod input;
    mod resources;
    mod sessions;
    mod support;
}
