//! The broker as a service: mosquitto's configuration, password and ACL files (issue 18).
//!
//! These modules only read files and answer questions; they know nothing of the broker, so the
//! broker (and later the C API: `mqtt_broker_options_load_config`, the password/ACL file setters,
//! `mqtt_broker_reload`) can wire them in without this code changing:
//!
//! - [`config`]: `mosquitto.conf` syntax into a plain [`config::Config`] (listeners, limits,
//!   security file paths, logging, bridges).
//! - [`passwd`]: a `mosquitto_passwd` file ([`passwd::PasswordFile`]); `check(user, password)`
//!   at CONNECT.
//! - [`acl`]: a mosquitto ACL file ([`acl::AclFile`]); compile it once per connection with
//!   [`acl::AclFile::for_client`] and ask the result per PUBLISH (write), per delivered message
//!   (read) and per SUBSCRIBE (`may_ever_read`).
//!
//! Reloading (SIGHUP, `mqtt_broker_reload`) is "load again and swap": every type here is immutable
//! once loaded and `Send + Sync`, so the broker can keep the current one in an `Arc` and replace it
//! when a new load succeeds (keeping the old one when it fails, as mosquitto keeps running).
//!
//! All three report problems as [`ConfigError`], which names the file, the line (when there is one)
//! and the reason, so the program can print it and refuse to start.
//!
//! # Wiring them into the broker (where mosquitto 2.0 makes each check)
//! - **Start / `-c FILE`:** [`config::Config::load`]; on `Err`, print it and exit. Then load
//!   `password_file` and `acl_file` ([`passwd::PasswordFile::load`], [`acl::AclFile::load`]) and
//!   log their `warnings()`. Listeners: [`config::Config::all_listeners`]; when it is empty the
//!   program's `-p`/`-b` (or mosquitto's local-only default, loopback port 1883) apply.
//! - **CONNECT:** with a user name and a password file, [`passwd::PasswordFile::check_connect`]
//!   (refuse: CONNACK 0x05 "not authorized"); without a user name,
//!   [`config::Config::allow_anonymous`] decides. Then compile the client's ACL once with
//!   [`acl::AclFile::for_client`] and keep it with the connection. mosquitto also re-checks the
//!   messages queued in a resumed session against the ACL here (`handle_connect.c`) and drops
//!   those no longer allowed.
//! - **PUBLISH in:** [`acl::ClientAcl::check`] with `Write`; when denied mosquitto completes the
//!   QoS flow (PUBACK/PUBREC, "not authorized" in MQTT 5) and does not route the message
//!   (`handle_publish.c`). Wills are checked the same way when they are sent (`context.c`).
//! - **Delivery:** `check` with `Read` for each message to each subscriber, retained ones included
//!   (`subs.c`, `retain.c`); a denied message is skipped silently.
//! - **SUBSCRIBE:** [`acl::ClientAcl::may_ever_read`]; `false` → SUBACK 0x80 for that filter.
//! - **Bridges** are not subject to the ACL (mosquitto skips `ed->client->bridge`).
//! - **Reload:** load the password and ACL files again; on success swap them in and recompile
//!   every connected client's [`acl::ClientAcl`] (mosquitto also disconnects clients whose
//!   password no longer checks, `mosquitto_security_apply_default`); on failure keep the old ones
//!   and log the error.

pub mod acl;
pub mod config;
pub mod passwd;

use std::fmt;
use std::path::{Path, PathBuf};

/// What kind of problem a [`ConfigError`] reports, so callers (and tests) can tell a typo from an
/// option that mosquitto has and this broker lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file (or an `include_dir` directory) could not be read.
    Io,
    /// A line that no mosquitto version would accept: unknown keyword, bad value, missing value.
    Invalid,
    /// A keyword or value mosquitto knows but this broker does not support (yet); the reason says
    /// "known to mosquitto but not supported".
    Unsupported,
}

/// A problem in a configuration, password or ACL file: which file, which line, and why.
///
/// `Display` gives `FILE:LINE: REASON` (or `FILE: REASON` for whole-file problems), the usual form
/// for compilers and editors, so a user can jump to the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as it was named to us (or the `origin` given to a `parse` function).
    pub file: PathBuf,
    /// 1-based line number, `None` for problems with the file as a whole (cannot open it, ...).
    pub line: Option<usize>,
    /// What is wrong, in words, naming the keyword or value.
    pub reason: String,
    /// The kind of problem.
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    /// An [`ConfigErrorKind::Invalid`] error at `line` of `file`.
    pub fn invalid(file: &Path, line: usize, reason: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: Some(line),
            reason: reason.into(),
            kind: ConfigErrorKind::Invalid,
        }
    }

    /// An [`ConfigErrorKind::Unsupported`] error at `line` of `file`.
    pub fn unsupported(file: &Path, line: usize, reason: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: Some(line),
            reason: reason.into(),
            kind: ConfigErrorKind::Unsupported,
        }
    }

    /// An [`ConfigErrorKind::Io`] error about `file` as a whole.
    pub fn io(file: &Path, err: &std::io::Error) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            reason: format!("cannot read: {err}"),
            kind: ConfigErrorKind::Io,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads `path` as text, naming the file when it cannot be read and the line when it is not
/// UTF-8 (mosquitto also refuses malformed UTF-8 in string values, and the parsers work on `str`).
fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError::io(path, &e))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        ConfigError::invalid(path, line, "line is not valid UTF-8")
    })
}

/// `text`'s lines numbered from 1 (`\n` or `\r\n` endings), as every parser here reports them.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_files_can_be_shared_between_threads() {
        // The broker keeps them in an Arc and swaps them on reload (see the module docs).
        fn shareable<T: Send + Sync>() {}
        shareable::<config::Config>();
        shareable::<passwd::PasswordFile>();
        shareable::<acl::AclFile>();
        shareable::<acl::ClientAcl>();
        shareable::<ConfigError>();
    }

    #[test]
    fn error_display_names_file_and_line() {
        let e = ConfigError::invalid(Path::new("/etc/m.conf"), 7, "bad");
        assert_eq!(e.to_string(), "/etc/m.conf:7: bad");
        let e = ConfigError::io(
            Path::new("x"),
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(e.to_string().starts_with("x: cannot read: "), "{e}");
        assert_eq!(e.kind, ConfigErrorKind::Io);
    }

    #[test]
    fn lines_are_numbered_and_utf8_errors_name_the_line() {
        let l: Vec<_> = numbered_lines("a\r\nb\n\nc").collect();
        assert_eq!(l, vec![(1, "a"), (2, "b"), (3, ""), (4, "c")]);
        let dir = std::env::temp_dir().join(format!("mqtt-service-utf8-{}", std::process::id()));
        std::fs::write(&dir, b"ok\nok\n\xff\n").unwrap();
        let e = read_text(&dir).unwrap_err();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.reason, "line is not valid UTF-8");
    }
}
