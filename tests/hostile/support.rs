//! Shared by the hostile_* tests: what the process holds (threads, descriptors, resident and
//! heap memory), broker-thread panics, and a pair of well-behaved clients whose traffic must keep
//! flowing while something else misbehaves.
//!
//! The hostile binary installs the counting allocator below, which sees every heap allocation of
//! the process — the broker's included, since the broker runs in the test process. Every test of
//! the binary holds [`serial`], so that no other test's threads, sockets or allocations are
//! counted as an attack's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use crate::common::*;
use mqtt::protocol::{Packet, QoS, QosPid};

static SERIAL: Mutex<()> = Mutex::new(());

/// Held by every test of the hostile binary for its whole run: they measure the process.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LARGEST_ALLOCATION: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are atomics
// and never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same layout contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same layout contract as the caller's.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`, as the caller promises.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        moved
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn grew(size: usize) {
    let live = LIVE_BYTES.fetch_add(size, Ordering::Relaxed) + size;
    PEAK_LIVE_BYTES.fetch_max(live, Ordering::Relaxed);
    LARGEST_ALLOCATION.fetch_max(size, Ordering::Relaxed);
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Heap bytes currently allocated by the whole process.
pub fn live_heap() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Starts a new measuring window: the peak and the largest allocation restart from now.
pub fn reset_heap_marks() {
    PEAK_LIVE_BYTES.store(live_heap(), Ordering::Relaxed);
    LARGEST_ALLOCATION.store(0, Ordering::Relaxed);
}

/// The most heap the process held at once since [`reset_heap_marks`].
pub fn peak_live_heap() -> usize {
    PEAK_LIVE_BYTES.load(Ordering::Relaxed)
}

/// The largest single allocation since [`reset_heap_marks`].
pub fn largest_allocation() -> usize {
    LARGEST_ALLOCATION.load(Ordering::Relaxed)
}

pub const MIB: usize = 1024 * 1024;

/// The names of this process's threads, for messages.
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|name| name.trim_end().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Open file descriptors of this process (/proc/self/fd; the directory handle itself is
/// excluded).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count().saturating_sub(1))
}

/// Resident set size in bytes, from /proc/self/status.
pub fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .expect("VmRSS in /proc/self/status")
        * 1024
}

/// Threads the broker started: they are all named `mqtt-*` (connection, listener, parking,
/// stop). The test harness starts threads of its own for other tests at any time, so counting
/// every thread of the process would be flaky.
pub fn broker_thread_count() -> usize {
    thread_names()
        .iter()
        .filter(|name| name.starts_with("mqtt-"))
        .count()
}

/// Threads serving one connection each (`mqtt-connection`). The broker's permanent threads
/// (listener, parking lot) may start lazily, so only these are compared across an attack.
pub fn connection_thread_count() -> usize {
    thread_names()
        .iter()
        .filter(|name| name.as_str() == "mqtt-connection")
        .count()
}

/// What the process holds, to compare before and after an attack: connection threads and open
/// descriptors (tests holding the measuring lock open no descriptors of their own meanwhile).
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    pub threads: usize,
    pub fds: usize,
}

impl Footprint {
    pub fn now() -> Footprint {
        Footprint {
            threads: connection_thread_count(),
            fds: fd_count(),
        }
    }

    /// Waits (up to `limit`) until threads and descriptors are back at or below `self`.
    pub fn wait_until_back(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let now = Footprint::now();
            if now.threads <= self.threads && now.fds <= self.fds {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "resources did not return within {limit:?}: before {self:?}, now {now:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics on the broker's threads (named `mqtt-*`) from now on; see [`broker_panics`].
pub fn watch_broker_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|name| name.starts_with("mqtt-"))
            {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// How many broker threads panicked since [`watch_broker_panics`].
pub fn broker_panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

/// The bystanders' topic: long enough that no attacker's random or mutated bytes plausibly
/// publish to it.
pub const BYSTANDER_TOPIC: &str = "bystanders/calm/traffic-that-must-keep-flowing";

/// A subscriber and a publisher that keep exchanging QoS 1 messages while something else
/// misbehaves.
pub struct Bystanders {
    sub: RawClient,
    publisher: RawClient,
    next: u16,
}

impl Bystanders {
    pub fn new(port: u16) -> Bystanders {
        let mut sub = RawClient::clean(port, "bystander-sub");
        sub.subscribe_ok(1, &[(BYSTANDER_TOPIC, QoS::AtLeastOnce)]);
        Bystanders {
            sub,
            publisher: RawClient::clean(port, "bystander-pub"),
            next: 1,
        }
    }

    /// One message from the publisher to the subscriber, acknowledged on both sides.
    pub fn still_served(&mut self) {
        let id = self.next;
        self.next = self.next.checked_add(1).unwrap_or(1);
        self.publisher.send(&publish(
            BYSTANDER_TOPIC,
            &id.to_be_bytes(),
            QosPid::AtLeastOnce(pid(id)),
            false,
        ));
        assert_eq!(self.publisher.recv(), Packet::Puback(pid(id).into()));
        let p = self.sub.recv_publish();
        assert_eq!(p.payload.as_ref(), &id.to_be_bytes());
        self.sub
            .send(&Packet::Puback(p.qospid.packet_id().expect("QoS 1").into()));
    }
}

/// A small deterministic generator (xorshift64*), so a failing run can be replayed by seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Between 1 and `max` random bytes.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = 1 + self.below(max);
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
