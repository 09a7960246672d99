//! Busy polling before a connection thread sleeps.
//!
//! A thread asleep in poll(2) on an otherwise idle CPU is woken through that CPU's idle loop:
//! a few microseconds on bare metal, tens of microseconds in a virtual machine, whose idle vCPU
//! must be woken by the hypervisor. That wake-up is most of a request/response round trip over
//! loopback. So a thread whose client answered quickly last time looks at its socket and waker
//! without sleeping for a short window (yielding the CPU to any other runnable thread between
//! looks) and only then sleeps.
//!
//! What it costs is bounded three ways: few threads poll at once (half the CPUs, at least
//! one), each for at most the window, and a thread whose window passed without anything
//! arriving skips its next 1, 3, 7 … 63 windows, so a connection whose traffic is sparser
//! than the window soon stops polling. A connection idle for long never polls.

use std::io;
use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::socket::{Ready, poll2, timeout_ms};

/// How many threads may busy poll at once, and how many do.
#[derive(Debug)]
struct PollingPlaces {
    taken: AtomicUsize,
    limit: usize,
    /// A yield that took this long ran another thread.
    cpu_wanted: Duration,
}

/// The places every broker in the process shares, as they share the CPUs: half the CPUs this
/// process may use, at least one.
fn process_places() -> &'static PollingPlaces {
    static PLACES: OnceLock<PollingPlaces> = OnceLock::new();
    PLACES.get_or_init(|| PollingPlaces {
        taken: AtomicUsize::new(0),
        limit: std::thread::available_parallelism()
            .map_or(1, |n| n.get() / 2)
            .max(1),
        cpu_wanted: CPU_WANTED,
    })
}

/// A yield that took this long ran another thread (one that finds nobody else runnable takes
/// about a microsecond).
const CPU_WANTED: Duration = Duration::from_micros(5);

/// After this many windows in a row that caught nothing, a thread skips the next 63.
const MAX_BACKOFF: u8 = 6;

/// One of the places, given back when dropped.
struct PollingPlace(&'static PollingPlaces);

impl PollingPlace {
    fn take(places: &'static PollingPlaces) -> Option<PollingPlace> {
        places
            .taken
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                (n < places.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| PollingPlace(places))
    }
}

impl Drop for PollingPlace {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::Release);
    }
}

/// One connection thread's busy polling: its window and how many waits it skips. Small, as
/// every connection has one, parked ones too.
#[derive(Debug)]
pub(crate) struct BusyPoll {
    places: &'static PollingPlaces,
    /// In microseconds; 0: always sleep at once.
    window_us: u32,
    /// Waits left before the next window.
    skip: u16,
    /// Windows in a row that caught nothing.
    misses: u8,
    /// The last read brought few packets (see [`BusyPoll::traffic_is_sparse`]).
    sparse: bool,
}

impl Default for BusyPoll {
    /// Sleeps at once.
    fn default() -> BusyPoll {
        BusyPoll::new(None)
    }
}

impl BusyPoll {
    pub(crate) fn new(window: Option<Duration>) -> BusyPoll {
        BusyPoll {
            places: process_places(),
            window_us: window.map_or(0, |w| w.as_micros().min(u128::from(u32::MAX)) as u32),
            skip: 0,
            misses: 0,
            sparse: true,
        }
    }

    /// Says whether the last read brought few packets. Only then does the thread poll: a
    /// read of many shares one wake-up among them, and polling would only take CPU from the
    /// threads with work.
    pub(crate) fn traffic_is_sparse(&mut self, sparse: bool) {
        self.sparse = sparse;
    }

    /// Waits like [`poll2`] until `socket` is readable (or writable, when `want_write`),
    /// `waker` is readable, or `deadline` passes; first busy polling for the window when this
    /// thread may.
    pub(crate) fn wait(
        &mut self,
        socket: RawFd,
        want_write: bool,
        waker: RawFd,
        deadline: Option<Instant>,
    ) -> io::Result<Ready> {
        if let Some(ready) = self.poll_busily(socket, want_write, waker, deadline)? {
            return Ok(ready);
        }
        poll2(socket, want_write, waker, timeout_ms(deadline))
    }

    /// What arrived within the window, or `None` when nothing did or this thread did not poll.
    fn poll_busily(
        &mut self,
        socket: RawFd,
        want_write: bool,
        waker: RawFd,
        deadline: Option<Instant>,
    ) -> io::Result<Option<Ready>> {
        if self.window_us == 0 || !self.sparse {
            return Ok(None);
        }
        let window = Duration::from_micros(u64::from(self.window_us));
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(None);
        }
        let Some(_place) = PollingPlace::take(self.places) else {
            return Ok(None);
        };
        let now = Instant::now();
        let until = deadline.map_or(now + window, |d| d.min(now + window));
        let mut contended = false;
        loop {
            let ready = poll2(socket, want_write, waker, 0)?;
            if ready != Ready::default() {
                self.misses = 0;
                return Ok(Some(ready));
            }
            if contended || Instant::now() >= until {
                break;
            }
            // Another runnable thread on this CPU (a connection with work, the host program)
            // goes first: polling must only use time nobody else wants. A yield that gave the
            // CPU away says it is wanted, and ends the window once the socket has been looked
            // at again.
            let yielded_at = Instant::now();
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
            if yielded_at.elapsed() >= self.places.cpu_wanted {
                contended = true;
            }
        }
        self.misses = (self.misses + 1).min(MAX_BACKOFF);
        self.skip = (1 << self.misses) - 1;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    /// A poller with a place of its own, so tests running beside brokers always get it.
    fn own_poller(window: Option<Duration>) -> BusyPoll {
        own_poller_yielding(window, CPU_WANTED)
    }

    /// The same, counting a yield of `cpu_wanted` or more as running another thread.
    fn own_poller_yielding(window: Option<Duration>, cpu_wanted: Duration) -> BusyPoll {
        let places = Box::leak(Box::new(PollingPlaces {
            taken: AtomicUsize::new(0),
            limit: 1,
            cpu_wanted,
        }));
        BusyPoll {
            places,
            ..BusyPoll::new(window)
        }
    }

    #[test]
    fn a_window_that_catches_nothing_is_skipped_more_often_each_time() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut busy = own_poller(Some(Duration::from_micros(50)));
        let mut polled = Vec::new();
        for _ in 0..20 {
            let skip_before = busy.skip;
            let ready = busy
                .wait(a.as_raw_fd(), false, -1, Some(Instant::now()))
                .unwrap();
            assert_eq!(ready, Ready::default());
            polled.push(skip_before == 0);
        }
        let polled_at: Vec<usize> = (0..20).filter(|&i| polled[i]).collect();
        // Windows at waits 0, 2, 6 and 14: 1, 3 and 7 skipped between them.
        assert_eq!(polled_at, vec![0, 2, 6, 14]);
    }

    #[test]
    fn input_within_the_window_is_returned_and_resets_the_backoff() {
        let (a, mut b) = UnixStream::pair().unwrap();
        // Other tests keep the CPUs busy: this one is about input, not yielding.
        let mut busy = own_poller_yielding(Some(Duration::from_secs(5)), Duration::MAX);
        busy.misses = 3;
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"x").unwrap();
            b
        });
        let started = Instant::now();
        let ready = busy.wait(a.as_raw_fd(), false, -1, None).unwrap();
        assert!(ready.readable);
        assert!(started.elapsed() < Duration::from_secs(4));
        assert_eq!((busy.misses, busy.skip), (0, 0));
        drop(writer.join().unwrap());
    }

    /// Waits 20 ms on a quiet socket and checks that `busy` slept without polling: a window
    /// (5 s here) would have run past the deadline and counted a miss.
    fn assert_sleeps_without_polling(busy: &mut BusyPoll) {
        let (a, _b) = UnixStream::pair().unwrap();
        let deadline = Instant::now() + Duration::from_millis(20);
        let ready = busy.wait(a.as_raw_fd(), false, -1, Some(deadline)).unwrap();
        assert_eq!(ready, Ready::default());
        assert!(Instant::now() >= deadline);
        assert_eq!((busy.misses, busy.skip), (0, 0));
    }

    #[test]
    fn no_window_sleeps_until_the_deadline() {
        assert_sleeps_without_polling(&mut own_poller(None));
    }

    #[test]
    fn a_thread_finding_every_place_taken_sleeps_at_once() {
        let mut busy = own_poller(Some(Duration::from_secs(5)));
        let _held = PollingPlace::take(busy.places).unwrap();
        assert!(PollingPlace::take(busy.places).is_none());
        assert_sleeps_without_polling(&mut busy);
    }

    #[test]
    fn a_yield_that_ran_another_thread_ends_the_window() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut busy = own_poller_yielding(Some(Duration::from_secs(5)), Duration::ZERO);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            b.write_all(b"x").unwrap();
            b
        });
        let ready = busy.wait(a.as_raw_fd(), false, -1, None).unwrap();
        assert!(ready.readable);
        // The window ended at the first yield; the input came to the sleeping poll.
        assert_eq!((busy.misses, busy.skip), (1, 1));
        drop(writer.join().unwrap());
    }

    #[test]
    fn a_read_of_many_packets_sleeps_at_once() {
        let mut busy = own_poller(Some(Duration::from_secs(5)));
        busy.traffic_is_sparse(false);
        assert_sleeps_without_polling(&mut busy);
        // Sparse again: the next wait polls (its window ends at the deadline, a miss).
        busy.traffic_is_sparse(true);
        let (a, _b) = UnixStream::pair().unwrap();
        busy.wait(a.as_raw_fd(), false, -1, Some(Instant::now()))
            .unwrap();
        assert_eq!((busy.misses, busy.skip), (1, 1));
    }
}
