//! Busy polling before a connection thread sleeps.
//!
//! A thread asleep in poll(2) on an otherwise idle CPU is woken through that CPU's idle loop:
//! a few microseconds on bare metal, tens of microseconds in a virtual machine, whose idle vCPU
//! must be woken by the hypervisor. That wake-up is most of a request/response round trip over
//! loopback. So a thread whose last wake-up brought little work (sparse traffic) looks at its
//! socket and waker without sleeping for a short window, yielding between looks to threads
//! waiting for the same CPU, and only then sleeps.
//!
//! What it costs is bounded: few threads poll at once (half the CPUs this process may use, at
//! least one), each for at most the window (at most [`MAX_BUSY_POLL`]); a yield that ran another
//! thread ends the window; a window that passed without anything arriving makes the
//! connection skip its next 1, 3, 7 … 63 windows, so a connection whose traffic is sparser than
//! the window polls on one wait in 64 at most; and a wake-up that brought many packets or
//! deliveries (load, where one wake-up is shared by many) does not poll. What is not bounded
//! is a client that answers within the window every time: its thread keeps one CPU busy
//! whenever nobody else wants it, as the latency benchmarks show. `sched_yield` does not help
//! threads of other processes on other CPUs, nor give back a cgroup's CPU quota; set the
//! window to 0 where that matters.

use std::io;
use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::options::MAX_BUSY_POLL;
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

/// A wake-up that read at most this many packets and sent at most this many deliveries is
/// sparse traffic, whose latency is mostly the wake-up (direct delivery draws the same line).
pub(crate) const SPARSE_AT_MOST: usize = 4;

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
    /// Packets read and deliveries sent since the last wait (saturating).
    read: u16,
    sent: u16,
    /// The last wake-up that did any work was sparse traffic (see [`SPARSE_AT_MOST`]).
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
            window_us: window.map_or(0, |w| w.min(MAX_BUSY_POLL).as_micros() as u32),
            skip: 0,
            misses: 0,
            read: 0,
            sent: 0,
            sparse: true,
        }
    }

    /// Counts packets read since the last wait.
    pub(crate) fn packets_read(&mut self, count: usize) {
        self.read = self
            .read
            .saturating_add(count.min(usize::from(u16::MAX)) as u16);
    }

    /// Counts deliveries sent since the last wait.
    pub(crate) fn deliveries_sent(&mut self, count: usize) {
        self.sent = self
            .sent
            .saturating_add(count.min(usize::from(u16::MAX)) as u16);
    }

    /// Judges the wake-up that ends here: a thread polls only after sparse traffic. Under load
    /// one wake-up is shared by many packets or deliveries, and polling would only take CPU from
    /// the threads with work. A wake-up that did nothing keeps the last judgement.
    fn judge_last_wake(&mut self) {
        if self.read > 0 || self.sent > 0 {
            let few = |n: u16| usize::from(n) <= SPARSE_AT_MOST;
            self.sparse = few(self.read) && few(self.sent);
            (self.read, self.sent) = (0, 0);
        }
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
        self.judge_last_wake();
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
        let now = Instant::now();
        // A deadline due now is no reason to poll, nor a miss.
        if deadline.is_some_and(|d| d <= now) {
            return Ok(None);
        }
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(None);
        }
        let Some(_place) = PollingPlace::take(self.places) else {
            return Ok(None);
        };
        let full_window = now + Duration::from_micros(u64::from(self.window_us));
        let until = deadline.map_or(full_window, |d| d.min(full_window));
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
            // A thread waiting for this CPU (a connection with work, the host program) goes
            // first: polling must only use time nobody else wants. A yield that gave the
            // CPU away says it is wanted, and ends the window once the socket has been looked
            // at again.
            let yielded_at = Instant::now();
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
            if yielded_at.elapsed() >= self.places.cpu_wanted {
                contended = true;
            }
        }
        // A window the deadline cut short says nothing about the client.
        if contended || until == full_window {
            self.misses = (self.misses + 1).min(MAX_BACKOFF);
            self.skip = (1 << self.misses) - 1;
        }
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

    /// A window short enough for tests to run many.
    const SHORT: Option<Duration> = Some(Duration::from_micros(50));

    #[test]
    fn a_window_that_catches_nothing_is_skipped_more_often_each_time() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut busy = own_poller(SHORT);
        let mut polled = Vec::new();
        for _ in 0..20 {
            let skip_before = busy.skip;
            let deadline = Instant::now() + Duration::from_millis(1);
            let ready = busy.wait(a.as_raw_fd(), false, -1, Some(deadline)).unwrap();
            assert_eq!(ready, Ready::default());
            polled.push(skip_before == 0);
        }
        let polled_at: Vec<usize> = (0..20).filter(|&i| polled[i]).collect();
        // Windows at waits 0, 2, 6 and 14: 1, 3 and 7 skipped between them.
        assert_eq!(polled_at, vec![0, 2, 6, 14]);
    }

    #[test]
    fn input_found_in_the_window_is_returned_and_resets_the_backoff() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut busy = own_poller(Some(MAX_BUSY_POLL));
        busy.misses = 3;
        b.write_all(b"x").unwrap();
        let ready = busy.wait(a.as_raw_fd(), false, -1, None).unwrap();
        assert!(ready.readable);
        assert_eq!((busy.misses, busy.skip), (0, 0));
    }

    /// Waits 20 ms on a quiet socket and checks that `busy` slept without polling: a full
    /// window, had it polled, would have counted a miss.
    fn assert_sleeps_without_polling(busy: &mut BusyPoll) {
        let (a, _b) = UnixStream::pair().unwrap();
        let deadline = Instant::now() + Duration::from_millis(20);
        let ready = busy.wait(a.as_raw_fd(), false, -1, Some(deadline)).unwrap();
        assert_eq!(ready, Ready::default());
        assert!(Instant::now() >= deadline);
        assert_eq!((busy.misses, busy.skip), (0, 0));
    }

    /// Waits on a quiet socket past a window and checks that `busy` polled (a miss).
    fn assert_polls(busy: &mut BusyPoll) {
        let (a, _b) = UnixStream::pair().unwrap();
        let deadline = Instant::now() + Duration::from_millis(5);
        busy.wait(a.as_raw_fd(), false, -1, Some(deadline)).unwrap();
        assert_eq!((busy.misses, busy.skip), (1, 1));
        (busy.misses, busy.skip) = (0, 0);
    }

    #[test]
    fn no_window_sleeps_until_the_deadline() {
        assert_sleeps_without_polling(&mut own_poller(None));
    }

    #[test]
    fn a_thread_finding_every_place_taken_sleeps_at_once() {
        let mut busy = own_poller(SHORT);
        let _held = PollingPlace::take(busy.places).unwrap();
        assert!(PollingPlace::take(busy.places).is_none());
        assert_sleeps_without_polling(&mut busy);
    }

    #[test]
    fn a_yield_that_ran_another_thread_ends_the_window() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut busy = own_poller_yielding(Some(MAX_BUSY_POLL), Duration::ZERO);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(1);
        let ready = busy.wait(a.as_raw_fd(), false, -1, Some(deadline)).unwrap();
        assert_eq!(ready, Ready::default());
        // The window ended at the first yield, a miss: the deadline did not cut it.
        assert_eq!((busy.misses, busy.skip), (1, 1));
    }

    #[test]
    fn a_deadline_due_or_within_the_window_counts_no_miss() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut busy = own_poller_yielding(Some(MAX_BUSY_POLL), Duration::MAX);
        busy.wait(a.as_raw_fd(), false, -1, Some(Instant::now()))
            .unwrap();
        assert_eq!((busy.misses, busy.skip), (0, 0));
        let deadline = Instant::now() + Duration::from_millis(2);
        busy.wait(a.as_raw_fd(), false, -1, Some(deadline)).unwrap();
        assert!(Instant::now() >= deadline);
        assert_eq!((busy.misses, busy.skip), (0, 0));
    }

    #[test]
    fn a_wake_up_that_did_much_work_sleeps_at_once() {
        let mut busy = own_poller(SHORT);
        busy.packets_read(SPARSE_AT_MOST + 1);
        assert_sleeps_without_polling(&mut busy);
        // A wake-up that did nothing keeps the judgement.
        assert_sleeps_without_polling(&mut busy);
        busy.packets_read(1);
        assert_polls(&mut busy);
        busy.packets_read(1);
        busy.deliveries_sent(SPARSE_AT_MOST + 1);
        assert_sleeps_without_polling(&mut busy);
        busy.deliveries_sent(SPARSE_AT_MOST);
        busy.packets_read(SPARSE_AT_MOST);
        assert_polls(&mut busy);
    }

    #[test]
    fn windows_are_capped() {
        assert_eq!(
            own_poller(Some(Duration::from_secs(60))).window_us,
            MAX_BUSY_POLL.as_micros() as u32
        );
        assert_eq!(own_poller(Some(Duration::ZERO)).window_us, 0);
    }
}
