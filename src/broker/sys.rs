//! `$SYS` topics: the broker's counters published, retained, every `sys_interval`, under
//! mosquitto's names (`$SYS/broker/clients/connected`, `$SYS/broker/messages/received`, ...), so
//! tools written for mosquitto read them unchanged. Wildcards at the first level never match
//! them ([MQTT-4.7.2-1]) and clients cannot publish into them (see the PUBLISH handler).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::router::{Publication, RouteScratch};
use super::session::Wakeups;
use super::state::State;
use crate::protocol::{Properties, QoS};
use crate::topic::TopicName;

/// The exponential moving averages mosquitto publishes as `load/.../1min`, `5min`, `15min`.
const LOAD_WINDOWS: [(Duration, &str); 3] = [
    (Duration::from_secs(60), "1min"),
    (Duration::from_secs(300), "5min"),
    (Duration::from_secs(900), "15min"),
];

/// Counters whose per-minute rates are averaged, by the name of their load topic.
const LOADS: [&str; 4] = [
    "messages/received",
    "messages/sent",
    "bytes/received",
    "bytes/sent",
];

/// Publishes `$SYS` on the listener thread, which calls [`SysTopics::tick`] every second.
pub(crate) struct SysTopics {
    started: Instant,
    last: Option<Instant>,
    /// The counters of [`LOADS`] at the last publication.
    last_counts: [u64; 4],
    /// Per-minute rates averaged over each of [`LOAD_WINDOWS`], per counter.
    averages: [[f64; 3]; 4],
}

impl SysTopics {
    pub fn new() -> SysTopics {
        SysTopics {
            started: Instant::now(),
            last: None,
            last_counts: [0; 4],
            averages: [[0.0; 3]; 4],
        }
    }

    /// Publishes every topic when `sys_interval` has passed since the last time (at once the
    /// first time); does nothing when `sys_interval` is zero.
    pub fn tick(&mut self, state: &State, now: Instant) {
        let interval = state.options.sys_interval;
        if interval.is_zero() || self.last.is_some_and(|last| now < last + interval) {
            return;
        }
        let elapsed = self.last.map_or(interval, |last| now - last);
        self.last = Some(now);
        let stats = state.stats();
        let counts = [
            stats.messages_received,
            stats.messages_sent,
            stats.bytes_received,
            stats.bytes_sent,
        ];
        for (k, count) in counts.iter().enumerate() {
            let per_minute = (count - self.last_counts[k].min(*count)) as f64 * 60.0
                / elapsed.as_secs_f64().max(1e-3);
            for (w, (window, _)) in LOAD_WINDOWS.iter().enumerate() {
                let weight = 1.0 - (-elapsed.as_secs_f64() / window.as_secs_f64()).exp();
                self.averages[k][w] += (per_minute - self.averages[k][w]) * weight;
            }
        }
        self.last_counts = counts;
        let mut values: Vec<(String, String)> = vec![
            (
                "version".into(),
                format!("libmqtt {}", env!("CARGO_PKG_VERSION")),
            ),
            (
                "uptime".into(),
                format!("{} seconds", (now - self.started).as_secs()),
            ),
            (
                "clients/connected".into(),
                stats.clients_connected.to_string(),
            ),
            (
                "clients/disconnected".into(),
                stats
                    .sessions
                    .saturating_sub(stats.clients_connected)
                    .to_string(),
            ),
            ("clients/total".into(), stats.sessions.to_string()),
            ("clients/maximum".into(), stats.clients_maximum.to_string()),
            (
                "messages/received".into(),
                stats.messages_received.to_string(),
            ),
            ("messages/sent".into(), stats.messages_sent.to_string()),
            (
                "messages/stored".into(),
                stats.retained_messages.to_string(),
            ),
            (
                "publish/messages/dropped".into(),
                stats.messages_dropped.to_string(),
            ),
            ("bytes/received".into(), stats.bytes_received.to_string()),
            ("bytes/sent".into(), stats.bytes_sent.to_string()),
            (
                "retained messages/count".into(),
                stats.retained_messages.to_string(),
            ),
            (
                "subscriptions/count".into(),
                stats.subscriptions.to_string(),
            ),
        ];
        for (k, name) in LOADS.iter().enumerate() {
            for (w, (_, window)) in LOAD_WINDOWS.iter().enumerate() {
                values.push((
                    format!("load/{name}/{window}"),
                    format!("{:.2}", self.averages[k][w]),
                ));
            }
        }
        let mut scratch = RouteScratch::default();
        let mut wakeups = Wakeups::default();
        for (name, value) in values {
            let Ok(topic) = TopicName::new(&format!("$SYS/broker/{name}")) else {
                continue;
            };
            let publication = Publication {
                topic,
                payload: Arc::from(value.as_bytes()),
                qos: QoS::AtMostOnce,
                retain: true,
                properties: Properties::new(),
                publisher: None,
                internal: true,
            };
            state.route(publication, &mut scratch, &mut wakeups);
        }
        wakeups.wake_all();
    }
}

/// Whether a client may publish to `topic`: not into `$SYS`, which only the broker writes.
pub(crate) fn client_may_publish(topic: &str) -> bool {
    !(topic == "$SYS" || topic.starts_with("$SYS/"))
}
