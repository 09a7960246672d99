//! The broker URLs [`Client::connect_url`](super::Client::connect_url) takes:
//! `mqtt://host[:port]` and `mqtts://host[:port]`.

use std::net::Ipv6Addr;

use super::error::ClientError;

/// What a broker URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerUrl {
    /// A name or an IP address; an IPv6 address without its brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `mqtts`: TLS.
    pub(crate) secure: bool,
}

/// Parses `mqtt://host[:port]` (port 1883 by default) or `mqtts://host[:port]` (8883), the
/// scheme in any case, an IPv6 address in brackets, and nothing after the port but one `/`.
/// `ws://` and `wss://` are refused as not supported yet.
pub(crate) fn parse(url: &str) -> Result<BrokerUrl, ClientError> {
    let invalid = |why: &str| ClientError::InvalidArgument(format!("URL {url:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("expected mqtt://host[:port] or mqtts://host[:port]"))?;
    let (secure, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "mqtt" => (false, 1883),
        "mqtts" => (true, 8883),
        "ws" | "wss" => {
            return Err(ClientError::InvalidArgument(
                "WebSocket is not supported yet".into(),
            ));
        }
        _ => return Err(invalid("the scheme must be mqtt or mqtts")),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err(invalid(
            "only a host and a port may follow the scheme (no user, path or query)",
        ));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (address, tail) = bracketed
                .split_once(']')
                .ok_or_else(|| invalid("'[' without ']'"))?;
            if address.parse::<Ipv6Addr>().is_err() {
                return Err(invalid("brackets must hold an IPv6 address"));
            }
            let port = match tail {
                "" => None,
                _ => Some(
                    tail.strip_prefix(':')
                        .ok_or_else(|| invalid("expected ':' and a port after ']'"))?,
                ),
            };
            (address, port)
        }
        None => match authority.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(invalid("an IPv6 address goes in brackets: [::1]"));
            }
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    let port = match port {
        None => default_port,
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| invalid("the port must be a number 1..65535"))?,
    };
    Ok(BrokerUrl {
        host: host.to_owned(),
        port,
        secure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> (String, u16, bool) {
        let parsed = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        (parsed.host, parsed.port, parsed.secure)
    }

    fn refused(url: &str) -> String {
        match parse(url) {
            Err(ClientError::InvalidArgument(text)) => text,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn schemes_hosts_and_default_ports() {
        assert_eq!(ok("mqtt://broker"), ("broker".into(), 1883, false));
        assert_eq!(ok("mqtts://broker"), ("broker".into(), 8883, true));
        assert_eq!(ok("MQTTS://broker:1234/"), ("broker".into(), 1234, true));
        assert_eq!(ok("mqtt://127.0.0.1:1"), ("127.0.0.1".into(), 1, false));
        assert_eq!(ok("mqtts://[::1]"), ("::1".into(), 8883, true));
        assert_eq!(ok("mqtt://[fe80::1]:2000"), ("fe80::1".into(), 2000, false));
    }

    #[test]
    fn websocket_is_not_supported_yet() {
        assert_eq!(
            refused("ws://broker/mqtt"),
            "WebSocket is not supported yet"
        );
        assert_eq!(refused("wss://broker"), "WebSocket is not supported yet");
    }

    #[test]
    fn malformed_urls_are_refused() {
        for url in [
            "broker:1883",
            "http://broker",
            "mqtt://",
            "mqtt://:1883",
            "mqtt://broker:",
            "mqtt://broker:0",
            "mqtt://broker:65536",
            "mqtt://broker:x",
            "mqtt://broker/topic",
            "mqtt://user@broker",
            "mqtt://broker?x",
            "mqtt://::1",
            "mqtt://[::1",
            "mqtt://[broker]",
            "mqtt://[::1]x",
        ] {
            assert!(refused(url).starts_with("URL "), "{url}");
        }
    }
}
