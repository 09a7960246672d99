//! The broker URLs [`Client::connect_url`](super::Client::connect_url) takes:
//! `mqtt://host[:port]`, `mqtts://host[:port]`, `ws://host[:port][/path]` and
//! `wss://host[:port][/path]`.

use std::net::Ipv6Addr;

use tungstenite::http::uri::PathAndQuery;

use super::error::ClientError;

/// The request path of a `ws://` or `wss://` URL that names none, as MQTT.js and Paho use.
pub(crate) const DEFAULT_WEBSOCKET_PATH: &str = "/mqtt";

/// What a broker URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerUrl {
    /// A name or an IP address; an IPv6 address without its brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `mqtts` or `wss`: TLS.
    pub(crate) secure: bool,
    /// `ws` or `wss`: MQTT over WebSocket, and the path (with any query) to request.
    pub(crate) websocket: Option<String>,
}

/// Parses `mqtt://host[:port]` (port 1883 by default), `mqtts://host[:port]` (8883),
/// `ws://host[:port][/path]` (80) or `wss://host[:port][/path]` (443), the scheme in any case
/// and an IPv6 address in brackets. After an MQTT URL's port nothing may follow but one `/`; a
/// WebSocket URL may name a path and a query (no path, or `/` alone, is `/mqtt`), but no
/// fragment (RFC 6455 section 3) and no user.
pub(crate) fn parse(url: &str) -> Result<BrokerUrl, ClientError> {
    let invalid = |why: &str| ClientError::InvalidArgument(format!("URL {url:?}: {why}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        invalid("expected mqtt://, mqtts://, ws:// or wss:// and then host[:port]")
    })?;
    let (secure, websocket, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "mqtt" => (false, false, 1883),
        "mqtts" => (true, false, 8883),
        "ws" => (false, true, 80),
        "wss" => (true, true, 443),
        _ => return Err(invalid("the scheme must be mqtt, mqtts, ws or wss")),
    };
    let (authority, path) = if websocket {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if path.contains('#') {
            return Err(invalid("a WebSocket URL has no fragment (#)"));
        }
        if !path.is_empty() && !path.starts_with('/') {
            return Err(invalid("the path must start with '/'"));
        }
        let path = match path {
            "" | "/" => DEFAULT_WEBSOCKET_PATH,
            path => path,
        };
        if path.parse::<PathAndQuery>().is_err() {
            return Err(invalid("the path holds characters a URL may not"));
        }
        (authority, Some(path.to_owned()))
    } else {
        (rest.strip_suffix('/').unwrap_or(rest), None)
    };
    if authority.contains(['/', '?', '#', '@']) {
        return Err(invalid(if websocket {
            "only a host, a port and a path may follow the scheme (no user)"
        } else {
            "only a host and a port may follow the scheme (no user, path or query)"
        }));
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
        websocket: path,
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

    fn ws_url(url: &str) -> (String, u16, bool, String) {
        let parsed = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let path = parsed
            .websocket
            .unwrap_or_else(|| panic!("{url}: not WebSocket"));
        (parsed.host, parsed.port, parsed.secure, path)
    }

    #[test]
    fn websocket_urls_default_ports_and_path() {
        let ws =
            |host: &str, port, secure, path: &str| (host.to_owned(), port, secure, path.to_owned());
        assert_eq!(ws_url("ws://broker"), ws("broker", 80, false, "/mqtt"));
        assert_eq!(ws_url("wss://broker/"), ws("broker", 443, true, "/mqtt"));
        assert_eq!(
            ws_url("WS://broker:9001/mqtt"),
            ws("broker", 9001, false, "/mqtt")
        );
        assert_eq!(
            ws_url("wss://[::1]:8443/a/b?x=1&y"),
            ws("::1", 8443, true, "/a/b?x=1&y")
        );
        assert_eq!(
            ws_url("ws://127.0.0.1:1/"),
            ws("127.0.0.1", 1, false, "/mqtt")
        );
        assert_eq!(ws_url("ws://h/ws/"), ws("h", 80, false, "/ws/"));
        assert_eq!(parse("mqtt://broker").unwrap().websocket, None);
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
            "tcp://broker",
            "ws://",
            "ws:///mqtt",
            "ws://user@broker/mqtt",
            "ws://broker#frag",
            "ws://broker/mqtt#frag",
            "ws://broker?x",
            "ws://broker:0/mqtt",
            "ws://::1/mqtt",
            "wss://broker/a b",
        ] {
            assert!(refused(url).starts_with("URL "), "{url}");
        }
    }
}
