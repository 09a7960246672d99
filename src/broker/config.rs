//! A mosquitto.conf ([`crate::service::config::Config`]) applied to [`BrokerOptions`]: what this
//! broker supports is set; what mosquitto knows but this broker does not do yet is refused with
//! an "unsupported" error naming the file and line, so a configuration never silently means
//! less than it says.

use std::path::Path;
use std::sync::Arc;

use super::options::BrokerOptions;
use crate::service::acl::AclFile;
use crate::service::config::{Config, ListenerProtocol};
use crate::service::passwd::PasswordFile;
use crate::service::{ConfigError, ConfigErrorKind};

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

    /// Applies what `config` says that this broker supports: one listener (`listener` or the
    /// default listener: port, bind address, `max_connections`), `allow_anonymous`,
    /// `password_file` and `acl_file` (loaded now), `max_queued_messages`,
    /// `max_inflight_messages`, `max_packet_size`, `message_size_limit`, `max_keepalive` and
    /// `sys_interval`. Refused as not supported yet: more than one listener, TLS or WebSocket listeners, `persistence true`,
    /// bridges. Logging keywords are read but the broker program logs as its flags say.
    pub fn apply_config(&mut self, config: &Config) -> Result<(), ConfigError> {
        let origin = config
            .files
            .first()
            .map(|p| p.as_path())
            .unwrap_or(Path::new("-"));
        let listeners = config.all_listeners();
        if let Some(second) = listeners.get(1) {
            let (file, line) = &second.defined_at;
            return Err(ConfigError::unsupported(
                file,
                *line,
                "a second listener: one listener per broker until several are supported",
            ));
        }
        if let Some(listener) = listeners.first() {
            let (file, line) = &listener.defined_at;
            if listener.protocol != ListenerProtocol::Mqtt || listener.certfile.is_some() {
                return Err(ConfigError::unsupported(
                    file,
                    *line,
                    "TLS and WebSocket listeners are not supported yet",
                ));
            }
            self.port = listener.port;
            self.bind_address = listener
                .address
                .clone()
                .unwrap_or_else(|| "0.0.0.0".to_owned());
            if let Some(max) = listener.max_connections {
                self.max_connections = max.max(1) as usize;
            }
        }
        if config.persistence {
            return Err(unsupported(origin, "persistence: not supported yet"));
        }
        if let Some(bridge) = config.bridges.first() {
            return Err(unsupported(
                origin,
                &format!("bridge connection {}: not supported yet", bridge.name),
            ));
        }
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

fn unsupported(origin: &Path, reason: &str) -> ConfigError {
    ConfigError {
        file: origin.to_owned(),
        line: None,
        reason: reason.to_owned(),
        kind: ConfigErrorKind::Unsupported,
    }
}
