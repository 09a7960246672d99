//! The decoder never sizes memory from a length the peer merely claims: with a header announcing
//! 256 MiB and only a few bytes present, decoding allocates nothing at all, whether the size limit
//! refuses the packet or the decoder waits for more bytes; nor does a string length that runs past
//! its packet.
//!
//! This file holds a single test because it installs a counting global allocator, and a test
//! running in parallel would disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use mqtt::protocol::{DecodeError, Decoder, MAX_REMAINING_LENGTH, PacketType, decode};

struct CountingAllocator;

static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);
static LARGEST_ALLOCATION: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are atomics.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::SeqCst);
        LARGEST_ALLOCATION.fetch_max(layout.size(), Ordering::SeqCst);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns how many bytes it allocated in total and in its largest allocation.
fn allocations_during<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    ALLOCATED_BYTES.store(0, Ordering::SeqCst);
    LARGEST_ALLOCATION.store(0, Ordering::SeqCst);
    let result = f();
    (
        result,
        ALLOCATED_BYTES.load(Ordering::SeqCst),
        LARGEST_ALLOCATION.load(Ordering::SeqCst),
    )
}

#[test]
fn claimed_lengths_never_size_an_allocation() {
    // The counter sees allocations, so the zeros below mean something.
    let (_, total, largest) = allocations_during(|| std::hint::black_box(vec![7u8; 100]));
    assert_eq!((total, largest), (100, 100));

    // PUBLISH claiming the largest remaining length, followed by the start of a topic.
    let claim = [0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, b't'];

    let limited = Decoder::with_max_packet_size(1 << 20);
    let (result, total, _) = allocations_during(|| limited.decode(&claim[..5]));
    assert_eq!(
        result,
        Err(DecodeError::PacketTooLarge {
            remaining_length: MAX_REMAINING_LENGTH,
            max_packet_size: 1 << 20,
        })
    );
    assert_eq!(total, 0, "refusing the header allocated");

    let (result, total, _) = allocations_during(|| decode(&claim));
    assert_eq!(result, Ok(None));
    assert_eq!(total, 0, "waiting for the body allocated");

    // A complete SUBSCRIBE whose filter claims 61,440 bytes inside a 7-byte body: the string is
    // refused as truncated without anything sized from its claim.
    let lying_field = [0x82, 0x07, 0x00, 0x01, 0xF0, 0x00, b'a', b'b', b'c'];
    let (result, total, _) = allocations_during(|| decode(&lying_field));
    assert_eq!(result, Err(DecodeError::Truncated(PacketType::Subscribe)));
    assert_eq!(total, 0, "refusing the field allocated");
}
