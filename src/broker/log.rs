//! The broker's log: mosquitto's log types (`log_type`) written as mosquitto writes them to the
//! destinations of a configuration file (`log_dest stdout|stderr|file PATH`, each line prefixed
//! with the time unless `log_timestamp false`), and handed to a host's callback.
//!
//! A path that would log tests one mask first ([`BrokerLog::enabled`]), so a type nobody asked for
//! costs one load and compare and formats nothing.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::service::config::LogDest;
pub use crate::service::config::LogType;

/// Receives each enabled log line: its type and the text (no time stamp, no newline). Runs on
/// the broker thread the event happened on, concurrently with other threads' lines.
pub type LogCallback = Arc<dyn Fn(LogType, &str) + Send + Sync>;

/// How a line written to a stream or file starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogTimestamp {
    /// No time.
    None,
    /// The Unix time in seconds, then `: ` (mosquitto's default).
    #[default]
    Unix,
    /// Local time formatted by strftime(3) with this format, then `: `.
    Format(String),
}

#[derive(Clone)]
enum Target {
    Stdout,
    Stderr,
    /// A file opened for appending, and its path, to open it again ([`BrokerLog::reopen_files`]).
    File(Arc<(PathBuf, Mutex<File>)>),
    Callback(LogCallback),
}

#[derive(Clone)]
struct Sink {
    mask: u32,
    target: Target,
}

/// Where the broker's log lines go and which types are wanted. The default logs nothing.
#[derive(Clone, Default)]
pub struct BrokerLog {
    /// The union of the sinks' masks.
    mask: u32,
    sinks: Vec<Sink>,
    timestamp: LogTimestamp,
}

impl fmt::Debug for BrokerLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerLog")
            .field("mask", &format_args!("{:#x}", self.mask))
            .field("sinks", &self.sinks.len())
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

impl BrokerLog {
    /// Whether a line of type `t` would go anywhere.
    #[inline]
    pub fn enabled(&self, t: LogType) -> bool {
        self.mask & t.bit() != 0
    }

    /// Replaces the streams and file with `dests`, each taking the types in `types`; a file is
    /// opened now, for appending (created if missing). The callback, if any, stays.
    pub fn set_destinations(
        &mut self,
        types: &[LogType],
        dests: &[LogDest],
        timestamp: LogTimestamp,
    ) -> io::Result<()> {
        let mask = LogType::mask_of(types);
        let mut sinks: Vec<Sink> = self
            .sinks
            .iter()
            .filter(|s| matches!(s.target, Target::Callback(_)))
            .cloned()
            .collect();
        for dest in dests {
            let target = match dest {
                LogDest::Stdout => Target::Stdout,
                LogDest::Stderr => Target::Stderr,
                LogDest::File(path) => {
                    Target::File(Arc::new((path.clone(), Mutex::new(open_append(path)?))))
                }
            };
            sinks.push(Sink { mask, target });
        }
        self.sinks = sinks;
        self.timestamp = timestamp;
        self.update_mask();
        Ok(())
    }

    /// Sets the callback that receives the types in `mask` (a union of [`LogType::bit`]s);
    /// `None` removes it. Streams and file stay.
    pub fn set_callback(&mut self, mask: u32, callback: Option<LogCallback>) {
        self.sinks
            .retain(|s| !matches!(s.target, Target::Callback(_)));
        if let Some(callback) = callback {
            self.sinks.push(Sink {
                mask,
                target: Target::Callback(callback),
            });
        }
        self.update_mask();
    }

    /// Opens every log file again (what mosquitto does on SIGHUP, so that a rotated log is
    /// followed by a new file); lines go on to the old file until the new one is open. On an
    /// error that file keeps its old descriptor; returns the first file that failed.
    pub fn reopen_files(&self) -> Result<(), (PathBuf, io::Error)> {
        let mut first_error = None;
        for sink in &self.sinks {
            if let Target::File(file) = &sink.target {
                match open_append(&file.0) {
                    Ok(new) => *file.1.lock() = new,
                    Err(e) => {
                        first_error.get_or_insert((file.0.clone(), e));
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn update_mask(&mut self) {
        self.mask = self.sinks.iter().fold(0, |m, s| m | s.mask);
    }

    /// Writes one line of type `t` to every sink that takes it. Call through [`broker_log!`],
    /// which tests [`enabled`](Self::enabled) before formatting anything.
    pub fn write(&self, t: LogType, args: fmt::Arguments<'_>) {
        let text = args.to_string();
        let mut line: Option<String> = None;
        for sink in self.sinks.iter().filter(|s| s.mask & t.bit() != 0) {
            let stamped = || {
                let mut line = self.stamp();
                line.push_str(&text);
                line.push('\n');
                line
            };
            // A log line that cannot be written is dropped: there is nowhere to report it.
            match &sink.target {
                Target::Callback(cb) => cb(t, &text),
                Target::Stdout => {
                    let _ = io::stdout()
                        .lock()
                        .write_all(line.get_or_insert_with(stamped).as_bytes());
                }
                Target::Stderr => {
                    let _ = io::stderr()
                        .lock()
                        .write_all(line.get_or_insert_with(stamped).as_bytes());
                }
                Target::File(file) => {
                    let _ = file
                        .1
                        .lock()
                        .write_all(line.get_or_insert_with(stamped).as_bytes());
                }
            }
        }
    }

    fn stamp(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match &self.timestamp {
            LogTimestamp::None => String::new(),
            LogTimestamp::Unix => format!("{now}: "),
            LogTimestamp::Format(format) => format!("{}: ", strftime_local(format, now)),
        }
    }
}

/// Logs a line of the given [`LogType`] variant through a [`BrokerLog`], formatting it only when
/// that type is enabled.
macro_rules! broker_log {
    ($log:expr, $type:ident, $($arg:tt)+) => {{
        let log: &$crate::broker::BrokerLog = &$log;
        if log.enabled($crate::broker::LogType::$type) {
            log.write($crate::broker::LogType::$type, format_args!($($arg)+));
        }
    }};
}
pub(crate) use broker_log;

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// `seconds` since the epoch as local time through strftime(3); an empty result (a format
/// that expands to nothing or to more than 255 bytes) falls back to the seconds.
fn strftime_local(format: &str, seconds: u64) -> String {
    let Ok(c_format) = std::ffi::CString::new(format) else {
        return seconds.to_string();
    };
    let time = seconds as libc::time_t;
    // SAFETY: `tm` is plain data that localtime_r fills; strftime writes at most `buf.len()`
    // bytes including the NUL and returns how many it wrote before the NUL.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&time, &mut tm).is_null() {
            return seconds.to_string();
        }
        let mut buf = [0u8; 256];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), c_format.as_ptr(), &tm);
        if n == 0 {
            return seconds.to_string();
        }
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_gets_only_its_types_and_streams_keep_theirs() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut log = BrokerLog::default();
        assert!(!log.enabled(LogType::Error));
        let sink = Arc::clone(&seen);
        log.set_callback(
            LogType::Subscribe.bit() | LogType::Notice.bit(),
            Some(Arc::new(move |t, text: &str| {
                sink.lock().push((t, text.to_owned()))
            })),
        );
        broker_log!(log, Subscribe, "c1 1 {}", "a/b");
        broker_log!(log, Debug, "not wanted");
        assert_eq!(*seen.lock(), [(LogType::Subscribe, "c1 1 a/b".to_owned())]);
        log.set_destinations(&[LogType::Debug], &[], LogTimestamp::None)
            .unwrap();
        assert!(log.enabled(LogType::Subscribe), "the callback stayed");
        log.set_callback(0, None);
        assert!(!log.enabled(LogType::Subscribe));
    }

    #[test]
    fn file_lines_are_appended_with_a_timestamp() {
        let path = std::env::temp_dir().join(format!("mqtt-log-{}.log", std::process::id()));
        std::fs::write(&path, "before\n").unwrap();
        let mut log = BrokerLog::default();
        log.set_destinations(
            &[LogType::Notice],
            &[LogDest::File(path.clone())],
            LogTimestamp::Format("%Y".into()),
        )
        .unwrap();
        broker_log!(log, Notice, "Client {} disconnected.", "c1");
        broker_log!(log, Information, "skipped");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], "before");
        let (year, message) = lines[1].split_once(": ").unwrap();
        assert_eq!(year.len(), 4, "{text}");
        assert_eq!(message, "Client c1 disconnected.");
    }

    #[test]
    fn reopening_follows_a_rotated_file() {
        let path = std::env::temp_dir().join(format!("mqtt-log-rotate-{}.log", std::process::id()));
        let rotated = path.with_extension("log.1");
        let mut log = BrokerLog::default();
        log.set_destinations(
            &[LogType::Notice],
            &[LogDest::File(path.clone())],
            LogTimestamp::None,
        )
        .unwrap();
        broker_log!(log, Notice, "before");
        std::fs::rename(&path, &rotated).unwrap();
        broker_log!(log, Notice, "still the old file");
        log.reopen_files().unwrap();
        broker_log!(log, Notice, "after");
        let old = std::fs::read_to_string(&rotated).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&rotated).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(old, "before\nstill the old file\n");
        assert_eq!(new, "after\n");
    }
}
