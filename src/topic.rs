//! Topic names and topic filters (MQTT 3.1.1 section 4.7).
//!
//! A [`TopicName`] is what a PUBLISH carries: no wildcards. A [`TopicFilter`] is what a SUBSCRIBE
//! carries: `+` stands for exactly one level, `#` for any number of trailing levels. Both are
//! validated on construction so the rest of the crate never re-checks them.

use std::fmt;
use std::sync::Arc;

/// Why a string is not a valid topic name or filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// [MQTT-4.7.3-1] topic names and filters are at least one character long.
    Empty,
    /// [MQTT-4.7.3-3] at most 65535 bytes of UTF-8.
    TooLong,
    /// [MQTT-4.7.3-2] no U+0000.
    NullCharacter,
    /// [MQTT-3.3.2-2] a topic name in PUBLISH must not contain wildcards.
    WildcardInName,
    /// [MQTT-4.7.1-2] `#` must be the last character and occupy a whole level.
    MisplacedMultiLevelWildcard,
    /// [MQTT-4.7.1-3] `+` must occupy a whole level.
    MisplacedSingleLevelWildcard,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TopicError::Empty => "topic is empty",
            TopicError::TooLong => "topic is longer than 65535 bytes",
            TopicError::NullCharacter => "topic contains U+0000",
            TopicError::WildcardInName => "topic name contains a wildcard ('+' or '#')",
            TopicError::MisplacedMultiLevelWildcard => {
                "'#' must be the last character and occupy a whole level"
            }
            TopicError::MisplacedSingleLevelWildcard => "'+' must occupy a whole level",
        })
    }
}

impl std::error::Error for TopicError {}

fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > u16::MAX as usize {
        return Err(TopicError::TooLong);
    }
    if s.contains('\0') {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// A validated topic name: non-empty, no wildcards, no U+0000, at most 65535 bytes.
///
/// Cheap to clone (shared string), since one published topic fans out to many subscribers.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(Arc<str>);

impl TopicName {
    /// Validates `s` as a topic name ([MQTT-4.7.3-1], [MQTT-3.3.2-2], [MQTT-4.7.3-2]).
    pub fn new(s: &str) -> Result<Self, TopicError> {
        Self::validate(s)?;
        Ok(TopicName(Arc::from(s)))
    }

    /// Checks `s` without allocating.
    pub fn validate(s: &str) -> Result<(), TopicError> {
        check_common(s)?;
        if s.contains(['+', '#']) {
            return Err(TopicError::WildcardInName);
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The empty name of an MQTT 5.0 PUBLISH that names its topic through a Topic Alias only
    /// (MQTT 5.0 section 3.3.2.3.4); the receiver replaces it with the name the alias stands for.
    pub fn aliased() -> Self {
        TopicName(Arc::from(""))
    }

    /// Whether this is the empty name of [`TopicName::aliased`].
    pub fn is_aliased(&self) -> bool {
        self.0.is_empty()
    }

    /// Topics starting with `$` are reserved for the server ([MQTT-4.7.2-1]).
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A validated topic filter: a topic name that may also hold `+` and `#` wildcards in whole levels.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(Arc<str>);

impl TopicFilter {
    /// Validates `s` as a topic filter ([MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.1-3], [MQTT-4.7.3-1]).
    pub fn new(s: &str) -> Result<Self, TopicError> {
        Self::validate(s)?;
        Ok(TopicFilter(Arc::from(s)))
    }

    /// Checks `s` without allocating.
    pub fn validate(s: &str) -> Result<(), TopicError> {
        check_common(s)?;
        let mut levels = s.split('/').peekable();
        while let Some(level) = levels.next() {
            if level.contains('#') && (level != "#" || levels.peek().is_some()) {
                return Err(TopicError::MisplacedMultiLevelWildcard);
            }
            if level.contains('+') && level != "+" {
                return Err(TopicError::MisplacedSingleLevelWildcard);
            }
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn has_wildcards(&self) -> bool {
        self.0.contains(['+', '#'])
    }

    /// Whether this filter matches `topic` (section 4.7):
    /// - `sport/#` matches `sport` as well as `sport/x/y` ([MQTT-4.7.1-2] non-normative example);
    /// - `+` matches exactly one level, which may be empty (`+/+` matches `/finance`);
    /// - a filter starting with a wildcard does not match a topic starting with `$` ([MQTT-4.7.2-1]).
    pub fn matches(&self, topic: &TopicName) -> bool {
        matches_str(&self.0, &topic.0)
    }
}

/// Filter matching on already-validated strings; see [`TopicFilter::matches`].
pub fn matches_str(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TopicFilter {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The share group and the filter of a shared subscription `$share/{group}/{filter}` (MQTT 5.0
/// [MQTT-4.8.2-1], [MQTT-4.8.2-2]: a group name of at least one character without `/`, `+` or
/// `#`, then a filter); `None` for any other filter.
pub(crate) fn split_shared(filter: &str) -> Option<(&str, &str)> {
    let rest = filter.strip_prefix("$share/")?;
    let (group, inner) = rest.split_once('/')?;
    (!group.is_empty() && !group.contains(['+', '#'])).then_some((group, inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(filter: &str, topic: &str) -> bool {
        TopicFilter::new(filter)
            .unwrap()
            .matches(&TopicName::new(topic).unwrap())
    }

    #[test]
    fn spec_examples_multi_level() {
        // Section 4.7.1.2 non-normative comment.
        assert!(m("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(m("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
        assert!(m(
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon"
        ));
        assert!(m("sport/#", "sport"));
        assert!(m("#", "a/b/c"));
        assert!(m("#", "/"));
    }

    #[test]
    fn spec_examples_single_level() {
        // Section 4.7.1.3 non-normative comment.
        assert!(m("sport/tennis/+", "sport/tennis/player1"));
        assert!(m("sport/tennis/+", "sport/tennis/player2"));
        assert!(!m("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!m("sport/+", "sport"));
        assert!(m("sport/+", "sport/"));
        assert!(m("+/+", "/finance"));
        assert!(m("/+", "/finance"));
        assert!(!m("+", "/finance"));
    }

    #[test]
    fn mqtt_4_7_2_1_dollar_topics_not_matched_by_leading_wildcards() {
        assert!(!m("#", "$SYS/broker/clients"));
        assert!(!m("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(m("$SYS/#", "$SYS/monitor/Clients"));
        assert!(m("$SYS/monitor/+", "$SYS/monitor/Clients"));
    }

    #[test]
    fn topics_are_case_sensitive_and_spaces_count() {
        assert!(!m("ACCOUNTS", "accounts"));
        assert!(m("Accounts payable", "Accounts payable"));
        assert!(!m("a/b", "a/b/"));
    }

    #[test]
    fn filter_validation_per_4_7_1() {
        for ok in [
            "#",
            "+",
            "sport/#",
            "+/tennis/#",
            "sport/+/player1",
            "/",
            "a//b",
            "+/+",
        ] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            TopicFilter::new("sport/tennis#"),
            Err(TopicError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            TopicFilter::new("sport/tennis/#/ranking"),
            Err(TopicError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            TopicFilter::new("sport+"),
            Err(TopicError::MisplacedSingleLevelWildcard)
        );
        assert_eq!(TopicFilter::new(""), Err(TopicError::Empty));
        assert_eq!(TopicFilter::new("a\0b"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn name_validation() {
        assert!(TopicName::new("a/b").is_ok());
        assert!(TopicName::new("/").is_ok());
        assert_eq!(TopicName::new(""), Err(TopicError::Empty));
        assert_eq!(TopicName::new("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::new("a/#"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::new(&"x".repeat(65536)), Err(TopicError::TooLong));
        assert!(TopicName::new(&"x".repeat(65535)).is_ok());
    }
}
