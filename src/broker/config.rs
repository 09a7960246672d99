//! A mosquitto.conf ([`crate::service::config::Config`]) applied to [`BrokerOptions`]: what this
//! broker supports is set; what mosquitto knows but this broker does not do yet is refused with
//! an "unsupported" error naming the file and line, so a configuration never silently means
//! less than it says.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::listeners::{Listener, ListenerKind};
use super::log::LogTimestamp;
use super::options::{BridgeOptions, BrokerOptions, PersistenceSync};
use super::websocket::WebSocketOptions;
use crate::protocol::ProtocolLevel;
use crate::service::ConfigError;
use crate::service::acl::AclFile;
use crate::service::config::{BridgeConfig, BridgeProtocol, RestartTimeout};
use crate::service::config::{Config, ListenerConfig, ListenerProtocol};
use crate::service::passwd::PasswordFile;
use crate::tls::{ClientAuth, ClientTls, Pem, ServerTls};

/// The largest fixed header plus topic and properties a PUBLISH adds to its payload, for
/// mosquitto's `message_size_limit` (a payload limit) expressed as a packet limit.
const PUBLISH_OVERHEAD: usize = 5 + 2 + 65_535 + 2 + 4 + 65_536;

impl BrokerOptions {
    /// Reads the mosquitto.conf at `path` (with its `include_dir`s) and applies it; see
    /// [`BrokerOptions::apply_config`].
    pub fn load_config(&mut self, path: impl AsRef<Path>) -> Result<(), ConfigError> {
        let config = Config::load(path)?;
        self.apply_config(&config)
    }

    /// Applies what `config` says that this broker supports: its listeners (`listener` or the
    /// default listener: port, bind address, `max_connections`, `protocol mqtt|websockets`; TLS
    /// with `certfile`, `keyfile`, `cafile`, `require_certificate`,
    /// `use_identity_as_username`), `allow_anonymous`,
    /// `password_file` and `acl_file` (loaded now), `max_queued_messages`,
    /// `max_inflight_messages`, `max_packet_size`, `message_size_limit`, `max_keepalive` and
    /// `sys_interval`, and `persistence` with `persistence_location`, `persistence_file` and
    /// `autosave_interval` (the sync interval; durable when absent or 0). Bridges (`connection`
    /// sections) become [`BridgeOptions`]. `log_type`, `log_dest`, `log_timestamp` and
    /// `log_timestamp_format` set [`BrokerOptions::log`]'s streams and file (opened now, for
    /// appending) as mosquitto does: without `log_dest` lines, errors, warnings, notices and
    /// information go to stderr. A log callback set before stays.
    pub fn apply_config(&mut self, config: &Config) -> Result<(), ConfigError> {
        let listeners = config.all_listeners();
        let mut bound = Vec::with_capacity(listeners.len());
        for listener in &listeners {
            bound.push(listener_of(listener)?);
        }
        if let [only] = bound.as_slice()
            && only.kind == ListenerKind::Tcp
        {
            // One plain listener: the classic port and address, which -p and -b also set.
            self.port = only.port;
            self.bind_address = only.address.clone();
        } else {
            self.listeners = bound;
        }
        // mosquitto counts max_connections per listener; this broker has one limit: the
        // first listener that sets one gives it.
        if let Some(max) = listeners.iter().find_map(|l| l.max_connections) {
            self.max_connections = max.max(1) as usize;
        }
        if config.persistence {
            self.persistence = Some(config.persistence_path());
            // mosquitto saves every autosave_interval seconds (0: at exit only); without the
            // keyword this broker commits durably, which loses nothing acknowledged.
            self.persistence_sync = match config.autosave_interval {
                None | Some(0) => PersistenceSync::Durable,
                Some(seconds) => PersistenceSync::Interval(Duration::from_secs(u64::from(seconds))),
            };
        }
        self.bridges = config.bridges.iter().map(bridge_of).collect();
        let timestamp = match (config.log_timestamp, &config.log_timestamp_format) {
            (false, _) => LogTimestamp::None,
            (true, None) => LogTimestamp::Unix,
            (true, Some(format)) => LogTimestamp::Format(format.clone()),
        };
        self.log
            .set_destinations(&config.log_types, &config.log_dest, timestamp)
            .map_err(|e| log_file_error(config, &e))?;
        self.allow_anonymous = config.allow_anonymous();
        if let Some(path) = &config.password_file {
            self.password_file = Some(Arc::new(PasswordFile::load(path)?));
        }
        if let Some(path) = &config.acl_file {
            self.acl_file = Some(Arc::new(AclFile::load(path)?));
        }
        // mosquitto: 0 means no limit.
        self.max_queued_messages = match config.max_queued_messages {
            0 => usize::MAX,
            n => n as usize,
        };
        self.max_inflight_messages = match config.max_inflight_messages {
            0 => usize::from(u16::MAX),
            n => usize::from(n),
        };
        // mosquitto: 0 means no maximum.
        self.max_keep_alive = (config.max_keepalive > 0).then_some(config.max_keepalive);
        self.sys_interval = std::time::Duration::from_secs(u64::from(config.sys_interval));
        if config.max_packet_size > 0 {
            self.max_packet_size = config.max_packet_size as usize;
        }
        if config.message_size_limit > 0 {
            let limit = config.message_size_limit as usize + PUBLISH_OVERHEAD;
            self.max_packet_size = self.max_packet_size.min(limit);
        }
        Ok(())
    }
}

/// A log file that cannot be opened, reported at its `log_dest file` line (the error names the
/// log file and the system's reason).
fn log_file_error(config: &Config, error: &std::io::Error) -> ConfigError {
    let (file, line) = config
        .log_file_defined_at
        .clone()
        .unwrap_or_else(|| (config.files.first().cloned().unwrap_or_default(), 0));
    ConfigError {
        file,
        line: Some(line),
        reason: format!("cannot open the log file {error}"),
        kind: crate::service::ConfigErrorKind::Io,
    }
}

/// The listener a configuration's `listener` section describes: plain, or TLS when it has a
/// `certfile`.
fn listener_of(listener: &ListenerConfig) -> Result<Listener, ConfigError> {
    let (file, line) = &listener.defined_at;
    let address = listener
        .address
        .clone()
        .unwrap_or_else(|| "0.0.0.0".to_owned());
    let tls = match &listener.certfile {
        None if listener.require_certificate || listener.use_identity_as_username => {
            return Err(ConfigError::unsupported(
                file,
                *line,
                "require_certificate and use_identity_as_username need certfile and keyfile",
            ));
        }
        None => None,
        Some(certfile) => {
            let Some(keyfile) = &listener.keyfile else {
                return Err(ConfigError::unsupported(
                    file,
                    *line,
                    "certfile without keyfile",
                ));
            };
            let path = |p: &Path| Pem::File(p.to_string_lossy().into_owned());
            let mut tls = ServerTls::new(path(certfile), path(keyfile));
            tls.client_ca = listener.cafile.as_deref().map(path);
            tls.client_auth = if listener.require_certificate {
                ClientAuth::Require
            } else {
                ClientAuth::None
            };
            tls.use_identity_as_username = listener.use_identity_as_username;
            // Read now, so a bad file is reported with the configuration's line.
            tls.config()
                .map_err(|e| ConfigError::invalid(file, *line, e.to_string()))?;
            Some(tls)
        }
    };
    Ok(match (listener.protocol, tls) {
        (ListenerProtocol::Mqtt, None) => Listener::tcp(address, listener.port),
        (ListenerProtocol::Mqtt, Some(tls)) => Listener::tls(address, listener.port, tls),
        // mosquitto's websockets listeners serve every path.
        (_, tls) => Listener::websocket(
            address,
            listener.port,
            WebSocketOptions {
                path: String::new(),
                allowed_origins: Vec::new(),
            },
            tls,
        ),
    })
}

/// A mosquitto `connection` section as a bridge.
fn bridge_of(config: &BridgeConfig) -> BridgeOptions {
    let (restart_base, restart_cap) = match config.restart_timeout {
        RestartTimeout::Constant(s) => (s, s),
        RestartTimeout::Backoff { base, cap } => (base, cap),
    };
    let path = |p: &Path| Pem::File(p.display().to_string());
    let tls = (config.cafile.is_some() || config.certfile.is_some()).then(|| ClientTls {
        ca: config.cafile.as_deref().map(path),
        certificate: config
            .certfile
            .as_deref()
            .zip(config.keyfile.as_deref())
            .map(|(c, k)| (path(c), path(k))),
        insecure: config.insecure,
        ..ClientTls::default()
    });
    BridgeOptions {
        name: config.name.clone(),
        addresses: config
            .addresses
            .iter()
            .map(|a| (a.host.clone(), a.port))
            .collect(),
        round_robin: config.round_robin,
        remote_client_id: config.remote_clientid.clone(),
        username: config.remote_username.clone(),
        password: config.remote_password.clone().map(String::into_bytes),
        protocol: match config.protocol {
            BridgeProtocol::Mqtt31 => ProtocolLevel::V31,
            BridgeProtocol::Mqtt311 => ProtocolLevel::V311,
            BridgeProtocol::Mqtt50 => ProtocolLevel::V5,
        },
        clean_session: config.cleansession,
        keep_alive: Duration::from_secs(u64::from(config.keepalive_interval)),
        tls,
        topics: config.topics.clone(),
        notifications: config.notifications,
        restart_base: Duration::from_secs(u64::from(restart_base.max(1))),
        restart_cap: Duration::from_secs(u64::from(restart_cap.max(restart_base).max(1))),
        start: config.start_type,
        try_private: config.try_private,
    }
}
