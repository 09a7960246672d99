//! A bridge's topic rules (mosquitto's `topic PATTERN [in|out|both [QOS [LOCAL_PREFIX
//! REMOTE_PREFIX]]]`): which filters the bridge subscribes to on each side, and how a topic is
//! renamed on the way across.

use crate::protocol::QoS;
pub use crate::service::config::{BridgeDirection, BridgeTopic};
use crate::topic::matches_str;

/// One rule, with its filters on both sides worked out.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub direction: BridgeDirection,
    pub qos: QoS,
    local_prefix: String,
    remote_prefix: String,
    /// The filter subscribed to on the local broker (`LOCAL_PREFIX` + `PATTERN`).
    pub local_filter: String,
    /// The filter subscribed to on the remote broker (`REMOTE_PREFIX` + `PATTERN`).
    pub remote_filter: String,
}

impl Rule {
    /// The rule of a `topic` line. `None` when its pattern is empty and the prefixes do not
    /// make a topic, or its QoS is not 0, 1 or 2.
    pub fn new(topic: &BridgeTopic) -> Option<Rule> {
        let local_prefix = topic.local_prefix.clone().unwrap_or_default();
        let remote_prefix = topic.remote_prefix.clone().unwrap_or_default();
        let pattern = topic.pattern.clone().unwrap_or_default();
        let local_filter = format!("{local_prefix}{pattern}");
        let remote_filter = format!("{remote_prefix}{pattern}");
        if local_filter.is_empty() || remote_filter.is_empty() {
            return None;
        }
        Some(Rule {
            direction: topic.direction,
            qos: QoS::from_u8(topic.qos)?,
            local_prefix,
            remote_prefix,
            local_filter,
            remote_filter,
        })
    }

    pub fn exports(&self) -> bool {
        matches!(self.direction, BridgeDirection::Out | BridgeDirection::Both)
    }

    pub fn imports(&self) -> bool {
        matches!(self.direction, BridgeDirection::In | BridgeDirection::Both)
    }

    /// The remote name of local topic `topic`, if this rule exports it.
    pub fn to_remote(&self, topic: &str) -> Option<String> {
        if !self.exports() || !matches_str(&self.local_filter, topic) {
            return None;
        }
        let rest = topic.strip_prefix(self.local_prefix.as_str())?;
        Some(format!("{}{rest}", self.remote_prefix))
    }

    /// The local name of remote topic `topic`, if this rule imports it.
    pub fn to_local(&self, topic: &str) -> Option<String> {
        if !self.imports() || !matches_str(&self.remote_filter, topic) {
            return None;
        }
        let rest = topic.strip_prefix(self.remote_prefix.as_str())?;
        Some(format!("{}{rest}", self.local_prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, direction: BridgeDirection, local: &str, remote: &str) -> Rule {
        Rule::new(&BridgeTopic {
            pattern: (!pattern.is_empty()).then(|| pattern.to_owned()),
            direction,
            qos: 1,
            local_prefix: (!local.is_empty()).then(|| local.to_owned()),
            remote_prefix: (!remote.is_empty()).then(|| remote.to_owned()),
        })
        .unwrap()
    }

    /// mosquitto.conf(5): `topic sensors/# out 1 site/ hq/site1/` sends local `site/sensors/t`
    /// as remote `hq/site1/sensors/t`; `in` the other way.
    #[test]
    fn prefixes_are_swapped_on_the_way_across() {
        let out = rule("sensors/#", BridgeDirection::Out, "site/", "hq/site1/");
        assert_eq!(out.local_filter, "site/sensors/#");
        assert_eq!(out.remote_filter, "hq/site1/sensors/#");
        assert_eq!(
            out.to_remote("site/sensors/t").as_deref(),
            Some("hq/site1/sensors/t")
        );
        assert_eq!(out.to_remote("other/sensors/t"), None);
        assert_eq!(out.to_local("hq/site1/sensors/t"), None, "out only");
        let both = rule("#", BridgeDirection::Both, "", "");
        assert_eq!(both.to_remote("a/b").as_deref(), Some("a/b"));
        assert_eq!(both.to_local("a/b").as_deref(), Some("a/b"));
        let inbound = rule("cmd/+", BridgeDirection::In, "local/", "remote/");
        assert_eq!(
            inbound.to_local("remote/cmd/x").as_deref(),
            Some("local/cmd/x")
        );
        assert_eq!(inbound.to_remote("local/cmd/x"), None);
    }

    /// An empty pattern (`topic "" out 0 local/t remote/t`) maps one topic to another.
    #[test]
    fn an_empty_pattern_renames_one_topic() {
        let one = rule("", BridgeDirection::Out, "local/t", "remote/t");
        assert_eq!(one.to_remote("local/t").as_deref(), Some("remote/t"));
        assert_eq!(one.to_remote("local/t/x"), None);
    }
}
