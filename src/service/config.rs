//! `mosquitto.conf` syntax into a plain [`Config`] (issue 18; bridges: issue 16).
//!
//! The syntax is mosquitto 2.0's (mosquitto.conf(5); parser `config__read_file_core` in
//! `src/conf.c`): one `keyword value...` per line, `#` starts a comment line, blank lines are
//! ignored. Values that are paths or names take the rest of the line (so they may contain
//! spaces); numbers, booleans and words take one word (a `#...` word after it starts a comment).
//!
//! What we do as mosquitto does:
//! - Listener options (`protocol`, `cafile`, `certfile`, `keyfile`, `require_certificate`,
//!   `use_identity_as_username`, `max_connections`) apply to the last `listener` line *of the same
//!   file*; before any `listener` line of a file they apply to the "default listener", which also
//!   takes `bind_address` and `port` (see [`Config::default_listener`]).
//! - Security options (`allow_anonymous`, `password_file`, `acl_file`) are global
//!   (`per_listener_settings false`, mosquitto's default; `true` is refused as unsupported).
//! - Bridge options apply to the last `connection` line of the same file; outside a bridge they
//!   are errors ("Invalid bridge configuration" in mosquitto).
//! - `include_dir DIR` reads every `*.conf` file in DIR in mosquitto's order (by character,
//!   case-insensitively first and upper case first on a tie: `A.conf`, `a.conf`, `B.conf`), and only
//!   from the main file (ignored inside an included file, as mosquitto ignores it there).
//! - Paths are kept as written: mosquitto opens relative paths (`password_file`, `include_dir`,
//!   `log_dest file`, certificates...) relative to the broker's working directory, *not* the
//!   configuration file's directory, and so must the broker.
//! - Booleans are `true`/`false` (mosquitto also takes `1`/`0`, so do we); a string option given
//!   twice is an error ("Duplicate ... value"); `log_dest` and `log_type` lines accumulate, the first
//!   one replacing the default; clamping as mosquitto: negative `max_queued_messages`,
//!   `max_queued_bytes`, `autosave_interval` mean 0, negative `max_connections` means unlimited,
//!   `keepalive_interval` below 5 means 5, `restart_timeout` below 1 means 1.
//!
//! Stricter than mosquitto, on purpose (a typo should stop the broker, not be read as 0): numbers
//! must be whole numbers (mosquitto's `atoi` reads `12x` as 12 and `x` as 0), extra words after a
//! one-word value are errors, and `topic` QoS must be 0, 1 or 2. Every error names the file, the
//! line and the reason; keywords mosquitto has that this broker does not are reported as "known to
//! mosquitto but not supported" ([`ConfigErrorKind::Unsupported`](super::ConfigErrorKind)).
//! Extension: `listener 0` (no address) asks for a port chosen by the system, handy in tests;
//! mosquitto refuses it (port 0 means a Unix socket there, which we do not support).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::ConfigError;
use crate::topic::{TopicFilter, TopicName};

/// The port of the default listener when no `port` line gives one (MQTT's registered port).
pub const DEFAULT_PORT: u16 = 1883;

/// What a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListenerProtocol {
    /// `protocol mqtt` (default): MQTT over TCP (or TLS with `certfile`/`keyfile`).
    #[default]
    Mqtt,
    /// `protocol websockets`: MQTT over WebSocket (or secure WebSocket with TLS files).
    WebSockets,
}

/// One listening socket and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// TCP port; 0 asks the system for a free port (our extension, see the module docs).
    pub port: u16,
    /// Address or host name to bind; `None` binds all interfaces.
    pub address: Option<String>,
    /// `protocol`.
    pub protocol: ListenerProtocol,
    /// `cafile`: CA certificates (PEM) that client certificates must chain to.
    pub cafile: Option<PathBuf>,
    /// `certfile`: the server certificate (PEM); with `keyfile`, makes this a TLS listener.
    pub certfile: Option<PathBuf>,
    /// `keyfile`: the server's private key (PEM).
    pub keyfile: Option<PathBuf>,
    /// `require_certificate`: clients must present a certificate signed by `cafile`.
    pub require_certificate: bool,
    /// `use_identity_as_username`: the client certificate's Common Name becomes the user name
    /// (and the password is not checked).
    pub use_identity_as_username: bool,
    /// `max_connections`: `None` (the default, or any negative value) means unlimited.
    pub max_connections: Option<u32>,
    /// Where the listener was defined (`listener` line, or the first default-listener option),
    /// so the broker can say which one failed to bind.
    pub defined_at: (PathBuf, usize),
}

impl ListenerConfig {
    fn new(port: u16, address: Option<String>, file: &Path, line: usize) -> Self {
        ListenerConfig {
            port,
            address,
            protocol: ListenerProtocol::Mqtt,
            cafile: None,
            certfile: None,
            keyfile: None,
            require_certificate: false,
            use_identity_as_username: false,
            max_connections: None,
            defined_at: (file.to_path_buf(), line),
        }
    }

    /// Whether the listener uses TLS (it has a certificate and key).
    pub fn is_tls(&self) -> bool {
        self.certfile.is_some() && self.keyfile.is_some()
    }
}

/// A `log_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogType {
    /// `error`
    Error,
    /// `warning`
    Warning,
    /// `notice`
    Notice,
    /// `information`
    Information,
    /// `debug`
    Debug,
    /// `subscribe`
    Subscribe,
    /// `unsubscribe`
    Unsubscribe,
    /// `websockets`
    WebSockets,
    /// `internal`
    Internal,
}

impl LogType {
    /// The type's bit in a mask: mosquitto's `MOSQ_LOG_*` values, so a libmosquitto program's
    /// masks mean the same here.
    pub const fn bit(self) -> u32 {
        match self {
            LogType::Information => 0x01,
            LogType::Notice => 0x02,
            LogType::Warning => 0x04,
            LogType::Error => 0x08,
            LogType::Debug => 0x10,
            LogType::Subscribe => 0x20,
            LogType::Unsubscribe => 0x40,
            LogType::WebSockets => 0x80,
            LogType::Internal => 0x8000_0000,
        }
    }

    /// The mask of `types`.
    pub fn mask_of(types: &[LogType]) -> u32 {
        types.iter().fold(0, |mask, t| mask | t.bit())
    }

    const ALL: [LogType; 9] = [
        LogType::Error,
        LogType::Warning,
        LogType::Notice,
        LogType::Information,
        LogType::Debug,
        LogType::Subscribe,
        LogType::Unsubscribe,
        LogType::WebSockets,
        LogType::Internal,
    ];
    /// mosquitto's default when no `log_type` line is given.
    const DEFAULT: [LogType; 4] = [
        LogType::Error,
        LogType::Warning,
        LogType::Notice,
        LogType::Information,
    ];
}

/// A `log_dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDest {
    /// `stdout`
    Stdout,
    /// `stderr` (the default)
    Stderr,
    /// `file PATH`: append to PATH.
    File(PathBuf),
}

/// Direction of a bridge `topic` rule, seen from the local broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeDirection {
    /// `in`: remote → local.
    In,
    /// `out` (the default): local → remote.
    Out,
    /// `both`.
    Both,
}

/// One bridge `topic PATTERN [in|out|both [QOS [LOCAL_PREFIX REMOTE_PREFIX]]]` line.
///
/// A message on local topic `LOCAL_PREFIX + T` (for T matching PATTERN) goes out as
/// `REMOTE_PREFIX + T`, and back the other way for `in` (mosquitto.conf(5), "topic").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeTopic {
    /// The filter; `None` for `""`, which then needs both prefixes (the prefixes are the topics).
    pub pattern: Option<String>,
    /// Which way messages flow.
    pub direction: BridgeDirection,
    /// QoS used on the bridge for this rule (default 0).
    pub qos: u8,
    /// Prefix on the local side (`""` given as `None`).
    pub local_prefix: Option<String>,
    /// Prefix on the remote side (`""` given as `None`).
    pub remote_prefix: Option<String>,
}

/// `bridge_protocol_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeProtocol {
    /// `mqttv31`
    Mqtt31,
    /// `mqttv311` (the default)
    Mqtt311,
    /// `mqttv50`
    Mqtt50,
}

/// `start_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeStart {
    /// `automatic` (the default): connect at start and reconnect after `restart_timeout`.
    Automatic,
    /// `lazy`: connect when enough messages are queued (mosquitto's `threshold`, 10).
    Lazy,
    /// `once`: connect at start; do not reconnect.
    Once,
}

/// `restart_timeout`: how long to wait before reconnecting a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartTimeout {
    /// `restart_timeout SECONDS`: always wait this long.
    Constant(u32),
    /// `restart_timeout BASE CAP` (mosquitto's default: 5 and 30): exponential backoff with jitter
    /// from BASE seconds up to CAP seconds.
    Backoff {
        /// First wait, seconds.
        base: u32,
        /// Longest wait, seconds.
        cap: u32,
    },
}

/// One remote host of a bridge (`address HOST[:PORT] ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeAddress {
    /// Host name or address (an IPv6 address needs the `:PORT`).
    pub host: String,
    /// Port (default 1883).
    pub port: u16,
}

/// A `connection NAME` section: a bridge to a remote broker (issue 16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// `connection NAME`.
    pub name: String,
    /// `address`/`addresses`: tried in order (see `round_robin`).
    pub addresses: Vec<BridgeAddress>,
    /// `topic` lines, in order.
    pub topics: Vec<BridgeTopic>,
    /// `remote_clientid` (alias `clientid`); `None` means `HOSTNAME.NAME`, see
    /// [`remote_clientid_or_default`](Self::remote_clientid_or_default).
    pub remote_clientid: Option<String>,
    /// `remote_username` (alias `username`).
    pub remote_username: Option<String>,
    /// `remote_password` (alias `password`).
    pub remote_password: Option<String>,
    /// `cleansession` (default false: the remote keeps the session while the link is down).
    pub cleansession: bool,
    /// `keepalive_interval` seconds (default 60, at least 5).
    pub keepalive_interval: u16,
    /// `bridge_protocol_version`.
    pub protocol: BridgeProtocol,
    /// `try_private` (default true): announce a bridge (protocol level | 0x80) for loop prevention.
    pub try_private: bool,
    /// `notifications` (default true): publish 1/0 on `$SYS/broker/connection/NAME/state`.
    pub notifications: bool,
    /// `restart_timeout`.
    pub restart_timeout: RestartTimeout,
    /// `start_type`.
    pub start_type: BridgeStart,
    /// `bridge_cafile`: enables TLS to the remote, verifying it against these CAs.
    pub cafile: Option<PathBuf>,
    /// `bridge_certfile`: client certificate for the remote.
    pub certfile: Option<PathBuf>,
    /// `bridge_keyfile`: its key.
    pub keyfile: Option<PathBuf>,
    /// `bridge_insecure` (default false): do not check the remote's host name (testing only).
    pub insecure: bool,
    /// `round_robin` (default false): on failure move to the next address and stay there; false
    /// means the first address is the primary and is retried (mosquitto's semantics).
    pub round_robin: bool,
    /// Where the `connection` line is.
    pub defined_at: (PathBuf, usize),
}

impl BridgeConfig {
    fn new(name: &str, file: &Path, line: usize) -> Self {
        // mosquitto's defaults, set in conf.c when it meets `connection`.
        BridgeConfig {
            name: name.to_owned(),
            addresses: Vec::new(),
            topics: Vec::new(),
            remote_clientid: None,
            remote_username: None,
            remote_password: None,
            cleansession: false,
            keepalive_interval: 60,
            protocol: BridgeProtocol::Mqtt311,
            try_private: true,
            notifications: true,
            restart_timeout: RestartTimeout::Backoff { base: 5, cap: 30 },
            start_type: BridgeStart::Automatic,
            cafile: None,
            certfile: None,
            keyfile: None,
            insecure: false,
            round_robin: false,
            defined_at: (file.to_path_buf(), line),
        }
    }

    /// The remote client id: `remote_clientid`, else mosquitto's default `HOSTNAME.NAME`.
    pub fn remote_clientid_or_default(&self, hostname: &str) -> String {
        self.remote_clientid
            .clone()
            .unwrap_or_else(|| format!("{hostname}.{}", self.name))
    }
}

/// A parsed configuration: plain values, defaults as in mosquitto 2.0 where a line is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `listener` sections in file order (included files in their place).
    pub listeners: Vec<ListenerConfig>,
    /// mosquitto's "default listener": `Some` when `port`, `bind_address` or a listener option
    /// appeared before any `listener` line of a file; its port is `port`'s or 1883. mosquitto
    /// listens on it in addition to the `listener` ones. See [`all_listeners`](Self::all_listeners).
    pub default_listener: Option<ListenerConfig>,
    /// `allow_anonymous` as written; see [`allow_anonymous`](Self::allow_anonymous) for the
    /// effective value.
    pub allow_anonymous_setting: Option<bool>,
    /// `password_file`.
    pub password_file: Option<PathBuf>,
    /// `acl_file`.
    pub acl_file: Option<PathBuf>,
    /// `persistence` (alias `retained_persistence`), default false.
    pub persistence: bool,
    /// `persistence_location`: directory of the persistence file (default: working directory).
    pub persistence_location: Option<PathBuf>,
    /// `persistence_file`: file name (default `mosquitto.db`); see
    /// [`persistence_path`](Self::persistence_path).
    pub persistence_file: Option<String>,
    /// `autosave_interval` seconds (0 = only at exit in mosquitto), when given: the persistence
    /// sync interval. `None` when not given (mosquitto saves every 1800 s; this broker then
    /// commits durably).
    pub autosave_interval: Option<u32>,
    /// `max_queued_messages` per client (default 1000, 0 = no limit).
    pub max_queued_messages: u32,
    /// `max_queued_bytes` per client (default 0 = no limit).
    pub max_queued_bytes: u64,
    /// `max_inflight_messages` per client (default 20; 0 = no limit, as is 65535 in mosquitto).
    pub max_inflight_messages: u16,
    /// `message_size_limit`: largest payload accepted (default 0 = MQTT's limit, 268435455).
    pub message_size_limit: u32,
    /// `max_packet_size`: largest packet accepted (default 0 = no limit; at least 20 when given).
    pub max_packet_size: u32,
    /// `max_keepalive` seconds (default 65535).
    pub max_keepalive: u16,
    /// `sys_interval` seconds between `$SYS` updates (default 10, 0 = no `$SYS`).
    pub sys_interval: u16,
    /// `log_type` lines accumulated (default: error, warning, notice, information).
    pub log_types: Vec<LogType>,
    /// `log_dest` lines accumulated (default: stderr).
    pub log_dest: Vec<LogDest>,
    /// Where the `log_dest file` line is (file, line), to name it when the log file cannot be
    /// opened.
    pub log_file_defined_at: Option<(PathBuf, usize)>,
    /// `log_timestamp`: whether each line starts with the time (default true).
    pub log_timestamp: bool,
    /// `log_timestamp_format`: an strftime(3) format for that time, in local time (default:
    /// none, the Unix time in seconds, as mosquitto).
    pub log_timestamp_format: Option<String>,
    /// `connection` sections.
    pub bridges: Vec<BridgeConfig>,
    /// Every file read: the main file, then included ones in the order read.
    pub files: Vec<PathBuf>,
    /// Whether a `listener`, `port` or `bind_address` line was seen; mosquitto 2.0 without any
    /// listens on the loopback interface only and allows anonymous clients ("local only mode").
    pub defines_listeners: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listeners: Vec::new(),
            default_listener: None,
            allow_anonymous_setting: None,
            password_file: None,
            acl_file: None,
            persistence: false,
            persistence_location: None,
            persistence_file: None,
            autosave_interval: None,
            max_queued_messages: 1000,
            max_queued_bytes: 0,
            max_inflight_messages: 20,
            message_size_limit: 0,
            max_packet_size: 0,
            max_keepalive: 65535,
            sys_interval: 10,
            log_types: LogType::DEFAULT.to_vec(),
            log_dest: vec![LogDest::Stderr],
            log_file_defined_at: None,
            log_timestamp: true,
            log_timestamp_format: None,
            bridges: Vec::new(),
            files: Vec::new(),
            defines_listeners: false,
        }
    }
}

impl Config {
    /// Reads the configuration file at `path` (and the files its `include_dir` names).
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let mut parser = Parser::default();
        parser.file(path, &super::read_text(path)?, 0)?;
        parser.finish()
    }

    /// Parses `text` as a main configuration file named `origin` in errors; `include_dir` lines
    /// are followed (relative to the working directory, as mosquitto does).
    pub fn parse(text: &str, origin: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let mut parser = Parser::default();
        parser.file(origin.as_ref(), text, 0)?;
        parser.finish()
    }

    /// Every listener to open: the `listener` ones, then the default listener if any (the order
    /// mosquitto uses). Empty means mosquitto's local-only mode: one listener on port 1883 of the
    /// loopback interface; the program's `-p`/`-b` flags may supply one instead.
    pub fn all_listeners(&self) -> Vec<&ListenerConfig> {
        self.listeners
            .iter()
            .chain(self.default_listener.as_ref())
            .collect()
    }

    /// The effective `allow_anonymous`, as mosquitto 2.0 computes it: `true` in local-only mode
    /// (no `listener`, `port` or `bind_address` line, whatever the file says), else the value
    /// given, else `false`.
    pub fn allow_anonymous(&self) -> bool {
        !self.defines_listeners || self.allow_anonymous_setting.unwrap_or(false)
    }

    /// Where the persistence file lives: `persistence_location` joined with `persistence_file`
    /// (default `mosquitto.db`), relative to the working directory when relative.
    pub fn persistence_path(&self) -> PathBuf {
        let file = self.persistence_file.as_deref().unwrap_or("mosquitto.db");
        match &self.persistence_location {
            Some(dir) => dir.join(file),
            None => PathBuf::from(file),
        }
    }
}

/// Keywords mosquitto 2.0 knows (mosquitto.conf(5) and `src/conf.c`) that we do not handle;
/// they are reported as "known to mosquitto but not supported" rather than as unknown.
const MOSQUITTO_ONLY: &[&str] = &[
    "allow_duplicate_messages",
    "allow_zero_length_clientid",
    "auth_plugin",
    "auth_plugin_deny_special_chars",
    "auto_id_prefix",
    "autosave_on_changes",
    "bind_interface",
    "bridge_alpn",
    "bridge_attempt_unsubscribe",
    "bridge_bind_address",
    "bridge_capath",
    "bridge_identity",
    "bridge_max_packet_size",
    "bridge_outgoing_retain",
    "bridge_psk",
    "bridge_require_ocsp",
    "bridge_tls_version",
    "capath",
    "check_retain_source",
    "ciphers",
    "ciphers_tls1.3",
    "clientid_prefixes",
    "connection_messages",
    "crlfile",
    "dhparamfile",
    "global_plugin",
    "http_dir",
    "idle_timeout",
    "local_cleansession",
    "local_clientid",
    "local_password",
    "local_username",
    "log_facility",
    "max_inflight_bytes",
    "max_qos",
    "max_topic_alias",
    "maximum_qos",
    "memory_limit",
    "mount_point",
    "notification_topic",
    "notifications_local_only",
    "persistent_client_expiration",
    "pid_file",
    "plugin",
    "psk_file",
    "psk_hint",
    "queue_qos0_messages",
    "retain_available",
    "retry_interval",
    "set_tcp_nodelay",
    "socket_domain",
    "threshold",
    "tls_engine",
    "tls_engine_kpass_sha1",
    "tls_keyform",
    "tls_version",
    "upgrade_outgoing_qos",
    "use_subject_as_username",
    "use_username_as_clientid",
    "user",
    "websockets_headers_size",
    "websockets_log_level",
];

/// Bridge keywords: errors outside a `connection` section.
const BRIDGE_KEYWORDS: &[&str] = &[
    "address",
    "addresses",
    "topic",
    "remote_clientid",
    "clientid",
    "remote_username",
    "username",
    "remote_password",
    "password",
    "cleansession",
    "keepalive_interval",
    "bridge_protocol_version",
    "try_private",
    "notifications",
    "restart_timeout",
    "start_type",
    "bridge_cafile",
    "bridge_certfile",
    "bridge_keyfile",
    "bridge_insecure",
    "round_robin",
];

/// The parse in progress: the configuration so far plus what mosquitto tracks across lines.
#[derive(Default)]
struct Parser {
    config: Config,
    /// The default listener being filled, with whether any option touched it.
    default_listener: Option<ListenerConfig>,
    log_types_set: bool,
    log_dest_set: bool,
    bridge_names: HashSet<String>,
}

/// One line being parsed: where it is and its words, for values and error messages.
struct Line<'a> {
    file: &'a Path,
    number: usize,
    keyword: &'a str,
    /// Everything after the keyword, blanks trimmed.
    rest: &'a str,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

impl<'a> Line<'a> {
    fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::invalid(self.file, self.number, reason)
    }

    /// The words after the keyword up to a comment word (`#...`).
    fn words(&self) -> Vec<&'a str> {
        self.rest
            .split(is_blank)
            .filter(|w| !w.is_empty())
            .take_while(|w| !w.starts_with('#'))
            .collect()
    }

    /// The one-word value (numbers, booleans, enumerations).
    fn word(&self) -> Result<&'a str, ConfigError> {
        match self.words()[..] {
            [] => Err(self.invalid(format!("empty `{}` value", self.keyword))),
            [word] => Ok(word),
            [_, ref extra @ ..] => Err(self.invalid(format!(
                "unexpected text after the `{}` value: {:?}",
                self.keyword,
                extra.join(" ")
            ))),
        }
    }

    /// The rest of the line as one value (paths, names, passwords), as mosquitto takes it.
    fn string(&self) -> Result<&'a str, ConfigError> {
        if self.rest.is_empty() {
            Err(self.invalid(format!("empty `{}` value", self.keyword)))
        } else {
            Ok(self.rest)
        }
    }

    /// Sets a string option that may be given once ("Duplicate ... value" in mosquitto).
    fn set_once<T>(&self, slot: &mut Option<T>, value: T) -> Result<(), ConfigError> {
        if slot.is_some() {
            return Err(self.invalid(format!("duplicate `{}` value", self.keyword)));
        }
        *slot = Some(value);
        Ok(())
    }

    fn path(&self, slot: &mut Option<PathBuf>) -> Result<(), ConfigError> {
        let value = PathBuf::from(self.string()?);
        self.set_once(slot, value)
    }

    fn bool(&self) -> Result<bool, ConfigError> {
        match self.word()? {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(self.invalid(format!(
                "invalid `{}` value {other:?}: expected true or false",
                self.keyword
            ))),
        }
    }

    fn int(&self) -> Result<i64, ConfigError> {
        let word = self.word()?;
        word.parse().map_err(|_| {
            self.invalid(format!(
                "invalid `{}` value {word:?}: not a whole number",
                self.keyword
            ))
        })
    }

    /// An integer that must lie in `min..=max`.
    fn int_in(&self, min: i64, max: i64) -> Result<i64, ConfigError> {
        let n = self.int()?;
        if n < min || n > max {
            return Err(self.invalid(format!(
                "invalid `{}` value {n}: must be {min} to {max}",
                self.keyword
            )));
        }
        Ok(n)
    }

    /// One of `choices` (word → value).
    fn choice<T: Copy>(&self, choices: &[(&str, T)]) -> Result<T, ConfigError> {
        let word = self.word()?;
        choices
            .iter()
            .find(|(name, _)| *name == word)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.invalid(format!(
                    "invalid `{}` value {word:?}: expected {}",
                    self.keyword,
                    names.join(", ")
                ))
            })
    }
}

/// Per-file state: mosquitto keeps the current listener and bridge per file.
struct FileState {
    listener: Option<usize>,
    bridge: Option<usize>,
}

impl Parser {
    fn file(&mut self, file: &Path, text: &str, level: u32) -> Result<(), ConfigError> {
        self.config.files.push(file.to_path_buf());
        let mut state = FileState {
            listener: None,
            bridge: None,
        };
        for (number, raw) in super::numbered_lines(text) {
            let trimmed = raw.trim_matches(is_blank);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (keyword, rest) = trimmed.split_once(is_blank).unwrap_or((trimmed, ""));
            let line = Line {
                file,
                number,
                keyword,
                rest: rest.trim_matches(is_blank),
            };
            self.line(&line, &mut state, level)?;
        }
        Ok(())
    }

    /// The listener that listener options apply to: the file's last `listener`, else the default.
    fn listener(&mut self, state: &FileState, line: &Line) -> &mut ListenerConfig {
        match state.listener {
            Some(i) => &mut self.config.listeners[i],
            None => self.default_listener.get_or_insert_with(|| {
                ListenerConfig::new(DEFAULT_PORT, None, line.file, line.number)
            }),
        }
    }

    fn line(&mut self, line: &Line, state: &mut FileState, level: u32) -> Result<(), ConfigError> {
        let c = &mut self.config;
        match line.keyword {
            "acl_file" => line.path(&mut c.acl_file)?,
            "password_file" => line.path(&mut c.password_file)?,
            "allow_anonymous" => c.allow_anonymous_setting = Some(line.bool()?),
            "autosave_interval" => {
                c.autosave_interval = Some(line.int()?.clamp(0, u32::MAX.into()) as u32)
            }
            "persistence" | "retained_persistence" => c.persistence = line.bool()?,
            "persistence_file" => {
                let value = line.string()?.to_owned();
                line.set_once(&mut c.persistence_file, value)?
            }
            "persistence_location" => line.path(&mut c.persistence_location)?,
            "max_queued_messages" => {
                c.max_queued_messages = line.int()?.clamp(0, u32::MAX.into()) as u32
            }
            "max_queued_bytes" => c.max_queued_bytes = line.int()?.max(0) as u64,
            "max_inflight_messages" => {
                let n = line.int()?;
                if n > 65535 {
                    return Err(line.invalid(format!(
                        "invalid `max_inflight_messages` value {n}: must be at most 65535"
                    )));
                }
                // mosquitto: negative or 65535 mean "no limit", stored as 0.
                c.max_inflight_messages = if n < 0 || n == 65535 { 0 } else { n as u16 };
            }
            "message_size_limit" => {
                c.message_size_limit = line.int_in(0, 268_435_455)? as u32;
            }
            "max_packet_size" => c.max_packet_size = line.int_in(20, u32::MAX.into())? as u32,
            "max_keepalive" => c.max_keepalive = line.int_in(0, 65535)? as u16,
            "sys_interval" => c.sys_interval = line.int_in(0, 65535)? as u16,
            "per_listener_settings" => {
                if line.bool()? {
                    return Err(ConfigError::unsupported(
                        line.file,
                        line.number,
                        "`per_listener_settings true` is known to mosquitto but not supported: \
                         security options are global",
                    ));
                }
            }
            "log_type" => self.log_type(line)?,
            "log_dest" => self.log_dest(line)?,
            "log_timestamp" => c.log_timestamp = line.bool()?,
            "log_timestamp_format" => {
                let value = line.string()?.to_owned();
                line.set_once(&mut c.log_timestamp_format, value)?
            }
            "include_dir" => {
                // mosquitto processes include_dir only in the main file.
                if level == 0 {
                    self.include_dir(line)?;
                }
            }
            "listener" => {
                c.defines_listeners = true;
                let listener = listener_line(line)?;
                c.listeners.push(listener);
                state.listener = Some(c.listeners.len() - 1);
            }
            "port" => {
                c.defines_listeners = true;
                let port = line.int_in(1, 65535)? as u16;
                self.default_listener_of(line).port = port;
            }
            "bind_address" => {
                c.defines_listeners = true;
                let address = line.word()?.to_owned();
                let default = self.default_listener_of(line);
                line.set_once(&mut default.address, address)?;
            }
            "protocol" => {
                let protocol = line.choice(&[
                    ("mqtt", ListenerProtocol::Mqtt),
                    ("websockets", ListenerProtocol::WebSockets),
                ])?;
                self.listener(state, line).protocol = protocol;
            }
            "cafile" => line.path(&mut self.listener(state, line).cafile)?,
            "certfile" => line.path(&mut self.listener(state, line).certfile)?,
            "keyfile" => line.path(&mut self.listener(state, line).keyfile)?,
            "require_certificate" => {
                let value = line.bool()?;
                self.listener(state, line).require_certificate = value;
            }
            "use_identity_as_username" => {
                let value = line.bool()?;
                self.listener(state, line).use_identity_as_username = value;
            }
            "max_connections" => {
                let n = line.int()?;
                self.listener(state, line).max_connections = if n < 0 {
                    None
                } else {
                    Some(n.min(u32::MAX.into()) as u32)
                };
            }
            "connection" => {
                let name = line.word()?;
                if !self.bridge_names.insert(name.to_owned()) {
                    return Err(line.invalid(format!("duplicate bridge name {name:?}")));
                }
                c.bridges
                    .push(BridgeConfig::new(name, line.file, line.number));
                state.bridge = Some(c.bridges.len() - 1);
            }
            keyword if BRIDGE_KEYWORDS.contains(&keyword) => {
                let Some(i) = state.bridge else {
                    return Err(line.invalid(format!(
                        "`{keyword}` is a bridge option: it must follow a `connection` line \
                         (in the same file)"
                    )));
                };
                bridge_line(&mut c.bridges[i], line)?;
            }
            keyword
                if MOSQUITTO_ONLY.contains(&keyword)
                    || keyword.starts_with("auth_opt_")
                    || keyword.starts_with("plugin_opt_") =>
            {
                return Err(ConfigError::unsupported(
                    line.file,
                    line.number,
                    format!("`{keyword}` is known to mosquitto but not supported"),
                ));
            }
            keyword => {
                return Err(line.invalid(format!("unknown option `{keyword}`")));
            }
        }
        Ok(())
    }

    /// The default listener, for `port` and `bind_address` (which apply to it wherever they are).
    fn default_listener_of(&mut self, line: &Line) -> &mut ListenerConfig {
        self.default_listener
            .get_or_insert_with(|| ListenerConfig::new(DEFAULT_PORT, None, line.file, line.number))
    }

    fn log_type(&mut self, line: &Line) -> Result<(), ConfigError> {
        let word = line.word()?;
        let types = &mut self.config.log_types;
        if !self.log_types_set {
            // The first line replaces the default; later ones add (mosquitto's cr->log_type).
            types.clear();
            self.log_types_set = true;
        }
        let add = match word {
            "none" => {
                types.clear();
                return Ok(());
            }
            "all" => LogType::ALL.to_vec(),
            "error" => vec![LogType::Error],
            "warning" => vec![LogType::Warning],
            "notice" => vec![LogType::Notice],
            "information" => vec![LogType::Information],
            "debug" => vec![LogType::Debug],
            "subscribe" => vec![LogType::Subscribe],
            "unsubscribe" => vec![LogType::Unsubscribe],
            "websockets" => vec![LogType::WebSockets],
            "internal" => vec![LogType::Internal],
            other => {
                return Err(line.invalid(format!(
                    "invalid `log_type` value {other:?}: expected none, information, notice, \
                     warning, error, debug, subscribe, unsubscribe, websockets, internal or all"
                )));
            }
        };
        for t in add {
            if !types.contains(&t) {
                types.push(t);
            }
        }
        Ok(())
    }

    fn log_dest(&mut self, line: &Line) -> Result<(), ConfigError> {
        let (what, path) = line
            .rest
            .split_once(is_blank)
            .map(|(w, p)| (w, p.trim_matches(is_blank)))
            .unwrap_or((line.rest, ""));
        let dests = &mut self.config.log_dest;
        if !self.log_dest_set {
            dests.clear();
            self.log_dest_set = true;
        }
        let dest = match what {
            "" => return Err(line.invalid("empty `log_dest` value")),
            "none" => {
                dests.clear();
                return Ok(());
            }
            "stdout" => LogDest::Stdout,
            "stderr" => LogDest::Stderr,
            "file" => {
                if path.is_empty() {
                    return Err(line.invalid("empty `log_dest file` value: a path must follow"));
                }
                if dests.iter().any(|d| matches!(d, LogDest::File(_))) {
                    return Err(line.invalid("duplicate `log_dest file` value"));
                }
                self.config.log_file_defined_at = Some((line.file.to_path_buf(), line.number));
                LogDest::File(PathBuf::from(path))
            }
            "syslog" | "topic" | "dlt" => {
                return Err(ConfigError::unsupported(
                    line.file,
                    line.number,
                    format!("`log_dest {what}` is known to mosquitto but not supported"),
                ));
            }
            other => {
                return Err(line.invalid(format!(
                    "invalid `log_dest` value {other:?}: expected stdout, stderr, file PATH or none"
                )));
            }
        };
        if what != "file" && !path.is_empty() && !path.starts_with('#') {
            return Err(line.invalid(format!(
                "unexpected text after the `log_dest` value: {path:?}"
            )));
        }
        if !dests.contains(&dest) {
            dests.push(dest);
        }
        Ok(())
    }

    fn include_dir(&mut self, line: &Line) -> Result<(), ConfigError> {
        let dir = Path::new(line.string()?);
        let entries = std::fs::read_dir(dir).map_err(|e| {
            line.invalid(format!("unable to open include_dir {}: {e}", dir.display()))
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            // mosquitto: names longer than 5 bytes ending in ".conf".
            .filter(|n| n.len() > 5 && n.ends_with(".conf"))
            .collect();
        names.sort_by(|a, b| mosquitto_order(a, b));
        for name in names {
            let path = dir.join(name);
            let text = super::read_text(&path)?;
            self.file(&path, &text, 1)?;
        }
        Ok(())
    }

    /// Checks that need the whole file, then fills in the defaults.
    fn finish(mut self) -> Result<Config, ConfigError> {
        let mut config = self.config;
        config.default_listener = self.default_listener.take();
        for listener in config.listeners.iter().chain(&config.default_listener) {
            if listener.certfile.is_some() != listener.keyfile.is_some() {
                let (file, line) = &listener.defined_at;
                return Err(ConfigError::invalid(
                    file,
                    *line,
                    "this listener needs both `certfile` and `keyfile` for TLS, or neither",
                ));
            }
        }
        for bridge in &config.bridges {
            let (file, line) = &bridge.defined_at;
            if bridge.addresses.is_empty() {
                return Err(ConfigError::invalid(
                    file,
                    *line,
                    format!("bridge {:?} has no `address`", bridge.name),
                ));
            }
            if bridge.topics.is_empty() {
                return Err(ConfigError::invalid(
                    file,
                    *line,
                    format!("bridge {:?} has no `topic`", bridge.name),
                ));
            }
        }
        Ok(config)
    }
}

/// mosquitto's include_dir order (`scmp_p` in `src/conf_includedir.c`): character by character,
/// first by the upper-cased character, then by the character itself; a prefix sorts first.
fn mosquitto_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key =
        |s: &str| -> Vec<(u8, u8)> { s.bytes().map(|c| (c.to_ascii_uppercase(), c)).collect() };
    key(a).cmp(&key(b))
}

/// `listener PORT [ADDRESS]`.
fn listener_line(line: &Line) -> Result<ListenerConfig, ConfigError> {
    let words = line.words();
    let (port, address) = match words[..] {
        [] => return Err(line.invalid("empty `listener` value: a port must follow")),
        [port] => (port, None),
        [port, address] => (port, Some(address)),
        [_, _, ref extra @ ..] => {
            return Err(line.invalid(format!(
                "unexpected text after `listener PORT ADDRESS`: {:?}",
                extra.join(" ")
            )));
        }
    };
    let port: u16 = port.parse().map_err(|_| {
        line.invalid(format!(
            "invalid `listener` port {port:?}: must be 0 to 65535"
        ))
    })?;
    if port == 0 && address.is_some() {
        return Err(ConfigError::unsupported(
            line.file,
            line.number,
            "`listener 0 PATH` (a Unix socket) is known to mosquitto but not supported",
        ));
    }
    Ok(ListenerConfig::new(
        port,
        address.map(str::to_owned),
        line.file,
        line.number,
    ))
}

/// One bridge keyword inside a `connection` section.
fn bridge_line(bridge: &mut BridgeConfig, line: &Line) -> Result<(), ConfigError> {
    match line.keyword {
        "address" | "addresses" => {
            if !bridge.addresses.is_empty() {
                return Err(line.invalid(format!(
                    "duplicate `{}` value for bridge {:?}",
                    line.keyword, bridge.name
                )));
            }
            let words = line.words();
            if words.is_empty() {
                return Err(line.invalid(format!("empty `{}` value", line.keyword)));
            }
            for word in words {
                bridge.addresses.push(bridge_address(line, word)?);
            }
        }
        "topic" => bridge.topics.push(bridge_topic(line)?),
        "remote_clientid" | "clientid" => {
            let v = line.string()?.to_owned();
            line.set_once(&mut bridge.remote_clientid, v)?
        }
        "remote_username" | "username" => {
            let v = line.string()?.to_owned();
            line.set_once(&mut bridge.remote_username, v)?
        }
        "remote_password" | "password" => {
            let v = line.string()?.to_owned();
            line.set_once(&mut bridge.remote_password, v)?
        }
        "cleansession" => bridge.cleansession = line.bool()?,
        "keepalive_interval" => {
            let n = line.int()?;
            if n > 65535 {
                return Err(line.invalid(format!(
                    "invalid `keepalive_interval` value {n}: must be at most 65535"
                )));
            }
            // mosquitto: "keepalive interval too low, using 5 seconds."
            bridge.keepalive_interval = n.max(5) as u16;
        }
        "bridge_protocol_version" => {
            bridge.protocol = line.choice(&[
                ("mqttv31", BridgeProtocol::Mqtt31),
                ("mqttv311", BridgeProtocol::Mqtt311),
                ("mqttv50", BridgeProtocol::Mqtt50),
            ])?
        }
        "try_private" => bridge.try_private = line.bool()?,
        "notifications" => bridge.notifications = line.bool()?,
        "restart_timeout" => {
            let words = line.words();
            let seconds = |w: &str| -> Result<u32, ConfigError> {
                w.parse::<i64>()
                    .map(|n| n.clamp(1, u32::MAX.into()) as u32)
                    .map_err(|_| {
                        line.invalid(format!(
                            "invalid `restart_timeout` value {w:?}: not a whole number"
                        ))
                    })
            };
            bridge.restart_timeout = match words[..] {
                [] => return Err(line.invalid("empty `restart_timeout` value")),
                [constant] => RestartTimeout::Constant(seconds(constant)?),
                [base, cap] => {
                    let (base, cap) = (seconds(base)?, seconds(cap)?);
                    if cap < base {
                        return Err(line.invalid(
                            "`restart_timeout BASE CAP`: the cap is lower than the base",
                        ));
                    }
                    RestartTimeout::Backoff { base, cap }
                }
                [_, _, ref extra @ ..] => {
                    return Err(line.invalid(format!(
                        "unexpected text after `restart_timeout BASE CAP`: {:?}",
                        extra.join(" ")
                    )));
                }
            };
        }
        "start_type" => {
            if line.word()? == "manual" {
                // mosquitto refuses it too: "Manual start_type not supported."
                return Err(line.invalid("`start_type manual` is not supported (nor by mosquitto)"));
            }
            bridge.start_type = line.choice(&[
                ("automatic", BridgeStart::Automatic),
                ("lazy", BridgeStart::Lazy),
                ("once", BridgeStart::Once),
            ])?
        }
        "bridge_cafile" => line.path(&mut bridge.cafile)?,
        "bridge_certfile" => line.path(&mut bridge.certfile)?,
        "bridge_keyfile" => line.path(&mut bridge.keyfile)?,
        "bridge_insecure" => bridge.insecure = line.bool()?,
        "round_robin" => bridge.round_robin = line.bool()?,
        other => unreachable!("{other} is in BRIDGE_KEYWORDS but has no case"),
    }
    Ok(())
}

/// `HOST[:PORT]`, split at the last `:` as mosquitto does (so IPv6 addresses need the port).
fn bridge_address(line: &Line, word: &str) -> Result<BridgeAddress, ConfigError> {
    let (host, port) = match word.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| {
                    line.invalid(format!(
                        "invalid port in bridge address {word:?}: must be 1 to 65535"
                    ))
                })?;
            (host, port)
        }
        None => (word, DEFAULT_PORT),
    };
    if host.is_empty() {
        return Err(line.invalid(format!("empty host in bridge address {word:?}")));
    }
    Ok(BridgeAddress {
        host: host.to_owned(),
        port,
    })
}

/// `topic PATTERN [in|out|both [QOS [LOCAL_PREFIX REMOTE_PREFIX]]]`.
fn bridge_topic(line: &Line) -> Result<BridgeTopic, ConfigError> {
    // The pattern may itself be `#`, so only words after it can start a comment.
    let mut all = line.rest.split(is_blank).filter(|w| !w.is_empty());
    let Some(pattern) = all.next() else {
        return Err(line.invalid("empty `topic` value"));
    };
    let words: Vec<&str> = all.take_while(|w| !w.starts_with('#')).collect();
    if words.len() > 4 {
        return Err(line.invalid(format!(
            "unexpected text after `topic PATTERN DIRECTION QOS LOCAL_PREFIX REMOTE_PREFIX`: {:?}",
            words[4..].join(" ")
        )));
    }
    let direction = match words.first() {
        None => BridgeDirection::Out,
        // mosquitto compares case-insensitively here.
        Some(w) => match w.to_ascii_lowercase().as_str() {
            "out" => BridgeDirection::Out,
            "in" => BridgeDirection::In,
            "both" => BridgeDirection::Both,
            _ => {
                return Err(line.invalid(format!(
                    "invalid bridge topic direction {w:?}: expected in, out or both"
                )));
            }
        },
    };
    let qos = match words.get(1) {
        None => 0,
        Some(w) => match *w {
            "0" => 0,
            "1" => 1,
            "2" => 2,
            _ => {
                return Err(line.invalid(format!("invalid bridge QoS {w:?}: expected 0, 1 or 2")));
            }
        },
    };
    let prefix = |i: usize, side: &str| -> Result<Option<String>, ConfigError> {
        match words.get(i) {
            None | Some(&"\"\"") => Ok(None),
            Some(p) => match TopicName::validate(p) {
                Ok(()) => Ok(Some((*p).to_owned())),
                Err(e) => {
                    Err(line.invalid(format!("invalid bridge topic {side} prefix {p:?}: {e}")))
                }
            },
        }
    };
    let local_prefix = prefix(2, "local")?;
    let remote_prefix = prefix(3, "remote")?;
    let pattern = if pattern == "\"\"" {
        if local_prefix.is_none() || remote_prefix.is_none() {
            return Err(line.invalid(
                "invalid bridge remapping: an empty (\"\") topic needs both a local and a remote prefix",
            ));
        }
        None
    } else {
        if let Err(e) = TopicFilter::validate(pattern) {
            return Err(line.invalid(format!("invalid bridge topic {pattern:?}: {e}")));
        }
        Some(pattern.to_owned())
    };
    Ok(BridgeTopic {
        pattern,
        direction,
        qos,
        local_prefix,
        remote_prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ConfigErrorKind;

    fn parse(text: &str) -> Config {
        Config::parse(text, "m.conf").unwrap()
    }

    fn error(text: &str) -> String {
        Config::parse(text, "m.conf").unwrap_err().to_string()
    }

    #[test]
    fn empty_file_gives_mosquitto_defaults() {
        let c = parse("# nothing\n\n");
        assert_eq!(c.listeners, vec![]);
        assert_eq!(c.default_listener, None);
        assert!(c.all_listeners().is_empty());
        // Local-only mode: anonymous allowed.
        assert!(c.allow_anonymous());
        assert_eq!(c.max_queued_messages, 1000);
        assert_eq!(c.max_inflight_messages, 20);
        assert_eq!(c.autosave_interval, None);
        assert_eq!(c.sys_interval, 10);
        assert_eq!(c.max_keepalive, 65535);
        assert_eq!(c.log_dest, vec![LogDest::Stderr]);
        assert_eq!(c.log_types, LogType::DEFAULT.to_vec());
        assert_eq!(c.persistence_path(), PathBuf::from("mosquitto.db"));
        assert_eq!(c.files, vec![PathBuf::from("m.conf")]);
    }

    #[test]
    fn listeners_and_their_options() {
        let c = parse(
            "listener 1883\n\
             max_connections 10\n\
             listener 8883 127.0.0.1\n\
             certfile /c.pem\n\
             keyfile /k.pem\n\
             cafile /ca.pem\n\
             require_certificate true\n\
             use_identity_as_username true\n\
             listener 9001\n\
             protocol websockets\n\
             max_connections -1\n",
        );
        assert_eq!(c.listeners.len(), 3);
        let (a, b, w) = (&c.listeners[0], &c.listeners[1], &c.listeners[2]);
        assert_eq!(
            (a.port, a.address.as_deref(), a.max_connections),
            (1883, None, Some(10))
        );
        assert_eq!(b.address.as_deref(), Some("127.0.0.1"));
        assert!(b.is_tls() && b.require_certificate && b.use_identity_as_username);
        assert_eq!(b.cafile.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(w.protocol, ListenerProtocol::WebSockets);
        assert_eq!(w.max_connections, None);
        assert_eq!(w.defined_at, (PathBuf::from("m.conf"), 9));
        // A listener line: no longer local-only, anonymous off unless allowed.
        assert!(!c.allow_anonymous());
        assert!(parse("listener 1883\nallow_anonymous true\n").allow_anonymous());
    }

    #[test]
    fn options_before_any_listener_make_the_default_listener() {
        let c = parse("bind_address 127.0.0.1\nport 1884\nmax_connections 5\nlistener 1885\n");
        let d = c.default_listener.as_ref().unwrap();
        assert_eq!(
            (d.port, d.address.as_deref(), d.max_connections),
            (1884, Some("127.0.0.1"), Some(5))
        );
        let ports: Vec<u16> = c.all_listeners().iter().map(|l| l.port).collect();
        assert_eq!(ports, vec![1885, 1884]);
        assert_eq!(
            parse("bind_address ::1\n").default_listener.unwrap().port,
            1883
        );
    }

    #[test]
    fn global_values() {
        let c = parse(
            "allow_anonymous false\npassword_file /etc/pw\nacl_file acl\npersistence true\n\
             persistence_location /var/lib/m/\npersistence_file m.db\nautosave_interval 60\n\
             max_queued_messages 0\nmax_queued_bytes 1000000\nmax_inflight_messages 65535\n\
             message_size_limit 1024\nmax_packet_size 2048\nmax_keepalive 120\nsys_interval 0\n\
             per_listener_settings false\n",
        );
        assert_eq!(c.allow_anonymous_setting, Some(false));
        assert_eq!(c.password_file.as_deref(), Some(Path::new("/etc/pw")));
        // Relative paths stay relative: mosquitto opens them from the working directory.
        assert_eq!(c.acl_file.as_deref(), Some(Path::new("acl")));
        assert!(c.persistence);
        assert_eq!(c.persistence_path(), PathBuf::from("/var/lib/m/m.db"));
        assert_eq!(c.autosave_interval, Some(60));
        assert_eq!(c.max_queued_messages, 0);
        assert_eq!(c.max_queued_bytes, 1_000_000);
        assert_eq!(
            c.max_inflight_messages, 0,
            "65535 means no limit, as in mosquitto"
        );
        assert_eq!((c.message_size_limit, c.max_packet_size), (1024, 2048));
        assert_eq!((c.max_keepalive, c.sys_interval), (120, 0));
    }

    #[test]
    fn logging_lines_accumulate_after_replacing_the_default() {
        let c = parse(
            "log_type error\nlog_type warning\nlog_dest stdout\nlog_dest file /var/log/m.log\n",
        );
        assert_eq!(c.log_types, vec![LogType::Error, LogType::Warning]);
        assert_eq!(
            c.log_dest,
            vec![
                LogDest::Stdout,
                LogDest::File(PathBuf::from("/var/log/m.log"))
            ]
        );
        assert_eq!(parse("log_type all\n").log_types.len(), 9);
        assert!(
            parse("log_type debug\nlog_type none\n")
                .log_types
                .is_empty()
        );
        assert!(parse("log_dest none\n").log_dest.is_empty());
    }

    #[test]
    fn bridge_section() {
        let c = parse(
            "connection up\n\
             address broker.example:8883 [::1]:1883 other\n\
             topic sensors/# out 1 local/ remote/\n\
             topic cmd/+ IN 2\n\
             topic # both\n\
             topic \"\" in 0 a/b c/d\n\
             remote_clientid edge-1\nremote_username u\nremote_password p w\n\
             cleansession true\nkeepalive_interval 2\nbridge_protocol_version mqttv50\n\
             try_private false\nnotifications false\nrestart_timeout 10 60\nstart_type lazy\n\
             bridge_cafile ca.pem\nbridge_certfile c.pem\nbridge_keyfile k.pem\n\
             bridge_insecure true\nround_robin true\n\
             connection second\naddresses h\ntopic x\nrestart_timeout 0\n",
        );
        assert_eq!(c.bridges.len(), 2);
        let b = &c.bridges[0];
        assert_eq!(b.name, "up");
        assert_eq!(
            b.addresses,
            vec![
                BridgeAddress {
                    host: "broker.example".into(),
                    port: 8883
                },
                BridgeAddress {
                    host: "[::1]".into(),
                    port: 1883
                },
                BridgeAddress {
                    host: "other".into(),
                    port: 1883
                },
            ]
        );
        assert_eq!(
            b.topics[0],
            BridgeTopic {
                pattern: Some("sensors/#".into()),
                direction: BridgeDirection::Out,
                qos: 1,
                local_prefix: Some("local/".into()),
                remote_prefix: Some("remote/".into()),
            }
        );
        assert_eq!(
            (b.topics[1].direction, b.topics[1].qos),
            (BridgeDirection::In, 2)
        );
        assert_eq!(b.topics[2].pattern.as_deref(), Some("#"));
        assert_eq!(b.topics[2].direction, BridgeDirection::Both);
        assert_eq!(b.topics[3].pattern, None);
        assert_eq!(b.remote_clientid_or_default("host"), "edge-1");
        assert_eq!(b.remote_password.as_deref(), Some("p w"));
        assert!(
            b.cleansession && !b.try_private && !b.notifications && b.insecure && b.round_robin
        );
        assert_eq!(b.keepalive_interval, 5, "below 5 means 5, as in mosquitto");
        assert_eq!(b.protocol, BridgeProtocol::Mqtt50);
        assert_eq!(
            b.restart_timeout,
            RestartTimeout::Backoff { base: 10, cap: 60 }
        );
        assert_eq!(b.start_type, BridgeStart::Lazy);
        assert_eq!(b.cafile.as_deref(), Some(Path::new("ca.pem")));
        let s = &c.bridges[1];
        assert_eq!(s.remote_clientid_or_default("host"), "host.second");
        assert_eq!(s.restart_timeout, RestartTimeout::Constant(1));
        assert_eq!(s.keepalive_interval, 60);
        assert!(s.try_private && s.notifications && !s.cleansession);
    }

    #[test]
    fn errors_name_file_line_and_reason() {
        let cases = [
            ("bogus 1\n", "m.conf:1: unknown option `bogus`"),
            (
                "\nlistener 70000\n",
                "m.conf:2: invalid `listener` port \"70000\": must be 0 to 65535",
            ),
            (
                "listener\n",
                "m.conf:1: empty `listener` value: a port must follow",
            ),
            (
                "allow_anonymous yes\n",
                "m.conf:1: invalid `allow_anonymous` value \"yes\": expected true or false",
            ),
            (
                "max_queued_messages 10x\n",
                "m.conf:1: invalid `max_queued_messages` value \"10x\": not a whole number",
            ),
            (
                "sys_interval 70000\n",
                "m.conf:1: invalid `sys_interval` value 70000: must be 0 to 65535",
            ),
            (
                "max_packet_size 10\n",
                "m.conf:1: invalid `max_packet_size` value 10: must be 20 to 4294967295",
            ),
            (
                "password_file a\npassword_file b\n",
                "m.conf:2: duplicate `password_file` value",
            ),
            ("acl_file\n", "m.conf:1: empty `acl_file` value"),
            (
                "allow_anonymous true false\n",
                "m.conf:1: unexpected text after the `allow_anonymous` value: \"false\"",
            ),
            (
                "listener 1883\nprotocol mqttsn\n",
                "m.conf:2: invalid `protocol` value \"mqttsn\": expected mqtt, websockets",
            ),
            (
                "log_dest carrier-pigeon\n",
                "m.conf:1: invalid `log_dest` value \"carrier-pigeon\": expected stdout, stderr, file PATH or none",
            ),
            (
                "log_dest file\n",
                "m.conf:1: empty `log_dest file` value: a path must follow",
            ),
            (
                "topic a/b\n",
                "m.conf:1: `topic` is a bridge option: it must follow a `connection` line (in the same file)",
            ),
            (
                "connection a\naddress h\ntopic x sideways\n",
                "m.conf:3: invalid bridge topic direction \"sideways\": expected in, out or both",
            ),
            (
                "connection a\naddress h\ntopic x in 3\n",
                "m.conf:3: invalid bridge QoS \"3\": expected 0, 1 or 2",
            ),
            (
                "connection a\naddress h\ntopic \"\" in 0 a/\n",
                "m.conf:3: invalid bridge remapping: an empty (\"\") topic needs both a local and a remote prefix",
            ),
            (
                "connection a\naddress h:0\n",
                "m.conf:2: invalid port in bridge address \"h:0\": must be 1 to 65535",
            ),
            (
                "connection a\naddress h\n",
                "m.conf:1: bridge \"a\" has no `topic`",
            ),
            (
                "connection a\ntopic x\n",
                "m.conf:1: bridge \"a\" has no `address`",
            ),
            (
                "connection a\naddress h\ntopic x\nconnection a\n",
                "m.conf:4: duplicate bridge name \"a\"",
            ),
            (
                "connection a\naddress h\ntopic x\nrestart_timeout 30 10\n",
                "m.conf:4: `restart_timeout BASE CAP`: the cap is lower than the base",
            ),
            (
                "connection a\naddress h\ntopic x\nstart_type manual\n",
                "m.conf:4: `start_type manual` is not supported (nor by mosquitto)",
            ),
            (
                "listener 8883\ncertfile c.pem\n",
                "m.conf:1: this listener needs both `certfile` and `keyfile` for TLS, or neither",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "for {text:?}");
        }
    }

    #[test]
    fn mosquitto_only_keywords_are_named_as_unsupported() {
        for text in [
            "pid_file /run/m.pid\n",
            "auth_plugin x.so\n",
            "auth_opt_db x\n",
            "listener 0 /tmp/sock\n",
            "log_dest syslog\n",
            "per_listener_settings true\n",
        ] {
            let e = Config::parse(text, "m.conf").unwrap_err();
            assert_eq!(e.kind, ConfigErrorKind::Unsupported, "{text}");
            assert!(
                e.reason.contains("known to mosquitto but not supported"),
                "{e}"
            );
        }
        assert_eq!(
            error("user mosquitto\n"),
            "m.conf:1: `user` is known to mosquitto but not supported"
        );
    }

    #[test]
    fn comments_and_blanks() {
        let c = parse("  # indented comment\n\tlistener 1883 # trailing\nsys_interval 5 # five\n");
        assert_eq!(c.listeners[0].address, None);
        assert_eq!(c.sys_interval, 5);
    }

    #[test]
    fn include_dir_order_is_mosquitto_s() {
        // By upper-cased character first: 'B' (0x42) sorts before '_' (0x5F).
        let mut names = vec!["b.conf", "B.conf", "a.conf", "A.conf", "ab.conf", "a_.conf"];
        names.sort_by(|a, b| mosquitto_order(a, b));
        assert_eq!(
            names,
            vec!["A.conf", "a.conf", "ab.conf", "a_.conf", "B.conf", "b.conf"]
        );
    }

    #[test]
    fn include_dir_reads_conf_files_with_their_own_listener_scope() {
        let dir = std::env::temp_dir().join(format!("mqtt-config-include-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.conf"), "listener 2000\nmax_connections 2\n").unwrap();
        // Listener options before a listener line in an included file apply to the default
        // listener, not to the main file's last listener (mosquitto keeps them per file).
        std::fs::write(
            dir.join("a.conf"),
            "max_connections 1\ninclude_dir /nonexistent\n",
        )
        .unwrap();
        std::fs::write(dir.join("ignored.txt"), "bogus\n").unwrap();
        std::fs::write(dir.join("bad.conf.off"), "bogus\n").unwrap();
        let text = format!("listener 1000\ninclude_dir {}\n", dir.display());
        let c = Config::parse(&text, "main.conf").unwrap();
        assert_eq!(
            c.listeners.iter().map(|l| l.port).collect::<Vec<_>>(),
            vec![1000, 2000]
        );
        assert_eq!(c.listeners[0].max_connections, None);
        assert_eq!(c.listeners[1].max_connections, Some(2));
        assert_eq!(
            c.default_listener.as_ref().unwrap().max_connections,
            Some(1)
        );
        assert_eq!(
            c.files,
            vec![
                PathBuf::from("main.conf"),
                dir.join("a.conf"),
                dir.join("b.conf")
            ]
        );
        std::fs::write(dir.join("c.conf"), "\nnope\n").unwrap();
        let e = Config::parse(&text, "main.conf").unwrap_err();
        assert_eq!(e.file, dir.join("c.conf"));
        assert_eq!(e.line, Some(2));
        std::fs::remove_dir_all(&dir).unwrap();
        let e = Config::parse("include_dir /nonexistent/dir\n", "main.conf").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("main.conf:1: unable to open include_dir /nonexistent/dir"),
            "{e}"
        );
    }

    #[test]
    fn ephemeral_listener_extension() {
        assert_eq!(parse("listener 0\n").listeners[0].port, 0);
    }
}
