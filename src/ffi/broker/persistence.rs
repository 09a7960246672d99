//! `mqtt_broker_*` for persistence: the file retained messages and persistent sessions are kept
//! in, when its changes reach the disk, and what the store has done.

use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

use super::super::args::{opt_c_str_arg, out_arg};
use super::super::error::FfiError;
use super::super::guard::guard_status;
use super::super::handle::{handle_ref, with_options};
use super::super::status::mqtt_status;
use super::{mqtt_broker, mqtt_broker_options};
use crate::broker::{BrokerOptions, PersistenceSync};

/// What a broker's persistence store has done, filled by `mqtt_broker_persistence_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct mqtt_persistence_statistics {
    /// Transactions committed since the broker was created; each ends with one synchronous
    /// write (fsync) shared by every change it holds.
    pub commits: u64,
    /// Commits that failed (disk full, file unwritable); their changes are retried.
    pub failures: u64,
    /// How long the last commit took, in microseconds.
    pub last_commit_micros: u64,
    /// The size of the persistence file after the last commit, in bytes.
    pub bytes_on_disk: u64,
}

/// Keeps retained messages and persistent sessions (clean session 0 or a session expiry above
/// 0: subscriptions, queued QoS 1/2 messages, messages in flight in both directions, delayed
/// wills) in the file at `path`, so that they survive a restart of the broker or a crash of its
/// process. The file is created at `mqtt_broker_start` if missing; a broker started on an
/// existing file takes up what it holds before accepting clients. NULL (the default) keeps
/// everything in memory only. The path is not checked here: `mqtt_broker_start` reports a file
/// that cannot be used. Does not block.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`) or
/// `MQTT_STATUS_INVALID_UTF8`.
///
/// # Safety
/// `opts` is NULL or a live options object; `path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_persistence(
    opts: *mut mqtt_broker_options,
    path: *const c_char,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        // SAFETY: per the caller, NULL or a NUL-terminated string.
        let path = unsafe { opt_c_str_arg(path, "path") }?;
        o.persistence = path.map(PathBuf::from);
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Sets when changes reach the persistence file. `interval_ms` 0 (the default) is durable: a
/// PUBLISH is acknowledged to its publisher (PUBACK, PUBREC) only once it is on disk, and
/// nothing else reaches a client before the disk holds it; the connections waiting at one
/// moment share one commit, so many publishers share one fsync. Above 0, nobody waits and a
/// crash loses at most the last `interval_ms` milliseconds: changes are committed every
/// interval, and a message to a connected persistent subscriber is written only if still
/// unacknowledged when its connection is next asked to record what it holds (every three
/// quarters of the interval, each followed by a commit; from 10 ms up), so a subscriber that
/// keeps up costs the disk nothing and this mode runs at about the in-memory rate. Does not
/// block.
///
/// Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_options_set_persistence_sync(
    opts: *mut mqtt_broker_options,
    interval_ms: u32,
) -> mqtt_status {
    let change = |o: &mut BrokerOptions| {
        o.persistence_sync = match interval_ms {
            0 => PersistenceSync::Durable,
            ms => PersistenceSync::Interval(Duration::from_millis(u64::from(ms))),
        };
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    unsafe { with_options(opts, change) }
}

/// Fills `*out` with what the broker's persistence store has done. Does not block;
/// thread-safe.
///
/// Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, or `MQTT_STATUS_INVALID_STATE` when
/// the broker has no persistence file; `*out` is written only on success.
///
/// # Safety
/// `broker` is NULL or a live broker; `out` is NULL or points to a writable
/// `mqtt_persistence_statistics`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_broker_persistence_stats(
    broker: *const mqtt_broker,
    out: *mut mqtt_persistence_statistics,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: NULL or live/writable per the caller.
        let (broker, out) = unsafe { (handle_ref(broker, "broker")?, out_arg(out, "out")?) };
        let Some(s) = broker.broker.persistence_stats() else {
            return Err(FfiError::new(
                mqtt_status::InvalidState,
                "the broker has no persistence file",
            ));
        };
        out.write(mqtt_persistence_statistics {
            commits: s.commits,
            failures: s.failures,
            last_commit_micros: s.last_commit_micros,
            bytes_on_disk: s.bytes_on_disk,
        });
        Ok(())
    })
}
