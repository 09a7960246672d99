//! Topic names, topic filters and matching against the examples and statements of MQTT 3.1.1
//! section 4.7.

use mqtt::topic::{TopicError, TopicFilter, TopicName, matches_str};

fn matches(filter: &str, topic: &str) -> bool {
    let filter = TopicFilter::new(filter).expect("valid filter");
    let name = TopicName::new(topic).expect("valid topic name");
    let result = filter.matches(&name);
    assert_eq!(result, matches_str(filter.as_str(), name.as_str()));
    result
}

/// Section 4.7.1.2: `#` matches the parent level and any number of child levels.
#[test]
fn section_4_7_1_2_multi_level_wildcard_examples() {
    let filter = "sport/tennis/player1/#";
    assert!(matches(filter, "sport/tennis/player1"));
    assert!(matches(filter, "sport/tennis/player1/ranking"));
    assert!(matches(filter, "sport/tennis/player1/score/wimbledon"));
    assert!(!matches(filter, "sport/tennis/player2"));
    assert!(!matches(filter, "sport/tennis"));
    assert!(matches("sport/#", "sport"));
    assert!(matches("sport/#", "sport/"));
    assert!(!matches("sport/#", "sports"));
    assert!(matches("#", "sport"));
    assert!(matches("#", "/"));
    assert!(matches("#", "a/b/c/d/e"));
    assert!(matches("/#", "/"));
    assert!(!matches("/#", "sport"));
}

/// `#` must stand alone or after a separator, and be last ([MQTT-4.7.1-2]).
#[test]
fn mqtt_4_7_1_2_multi_level_wildcard_placement() {
    for valid in ["#", "sport/tennis/#", "/#", "+/#", "a//#"] {
        assert_eq!(TopicFilter::validate(valid), Ok(()), "{valid}");
    }
    for invalid in [
        "sport/tennis#",
        "sport/tennis/#/ranking",
        "#/",
        "##",
        "a/#b",
        "a/b#/c",
        "#/#",
    ] {
        assert_eq!(
            TopicFilter::new(invalid),
            Err(TopicError::MisplacedMultiLevelWildcard),
            "{invalid}"
        );
    }
}

/// Section 4.7.1.3: `+` matches exactly one level, and that level may be empty.
#[test]
fn section_4_7_1_3_single_level_wildcard_examples() {
    assert!(matches("sport/tennis/+", "sport/tennis/player1"));
    assert!(matches("sport/tennis/+", "sport/tennis/player2"));
    assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
    assert!(!matches("sport/+", "sport"));
    assert!(matches("sport/+", "sport/"));
    assert!(matches("+/+", "/finance"));
    assert!(matches("/+", "/finance"));
    assert!(!matches("+", "/finance"));
    assert!(matches("+", "finance"));
    assert!(matches("+/+", "/"));
    assert!(matches("a/+/c", "a//c"));
    assert!(matches("+/tennis/#", "sport/tennis"));
    assert!(matches("+/tennis/#", "sport/tennis/player1/ranking"));
    assert!(!matches("+/tennis/#", "sport/golf"));
}

/// `+` must occupy a whole level, at any position ([MQTT-4.7.1-3]).
#[test]
fn mqtt_4_7_1_3_single_level_wildcard_placement() {
    for valid in ["+", "+/tennis/#", "sport/+/player1", "+/+", "/+", "+/"] {
        assert_eq!(TopicFilter::validate(valid), Ok(()), "{valid}");
    }
    for invalid in ["sport+", "+sport", "a/++/b", "a/b+"] {
        assert_eq!(
            TopicFilter::new(invalid),
            Err(TopicError::MisplacedSingleLevelWildcard),
            "{invalid}"
        );
    }
}

/// Wildcards belong in filters only ([MQTT-4.7.1-1], [MQTT-3.3.2-2]).
#[test]
fn mqtt_4_7_1_1_wildcards_not_allowed_in_topic_names() {
    for name in ["+", "#", "a/+", "a/#", "sport+", "a#b"] {
        assert_eq!(
            TopicName::new(name),
            Err(TopicError::WildcardInName),
            "{name}"
        );
    }
}

/// Filters starting with a wildcard do not match topics starting with `$` ([MQTT-4.7.2-1]);
/// filters that spell out the `$` level do.
#[test]
fn mqtt_4_7_2_1_dollar_topics_and_leading_wildcards() {
    assert!(!matches("#", "$SYS/monitor/Clients"));
    assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
    assert!(!matches("+", "$SYS"));
    assert!(!matches("+/#", "$SYS/x"));
    assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
    assert!(matches("$SYS/#", "$SYS"));
    assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
    assert!(matches("$", "$"));
    // Only a leading `$` is special.
    assert!(matches("#", "a/$SYS"));
    assert!(matches("+/$x", "a/$x"));
    let name = TopicName::new("$SYS/x").unwrap();
    assert!(name.is_system());
    assert!(!TopicName::new("a/$SYS").unwrap().is_system());
}

/// Topic names and filters are at least one character long ([MQTT-4.7.3-1]).
#[test]
fn mqtt_4_7_3_1_empty_topics_rejected() {
    assert_eq!(TopicName::new(""), Err(TopicError::Empty));
    assert_eq!(TopicFilter::new(""), Err(TopicError::Empty));
}

/// No U+0000 in names or filters ([MQTT-4.7.3-2]).
#[test]
fn mqtt_4_7_3_2_null_character_rejected() {
    assert_eq!(TopicName::new("a\0"), Err(TopicError::NullCharacter));
    assert_eq!(TopicFilter::new("\0/#"), Err(TopicError::NullCharacter));
}

/// At most 65535 bytes of UTF-8, counted in bytes not characters ([MQTT-4.7.3-3]).
#[test]
fn mqtt_4_7_3_3_at_most_65535_bytes() {
    assert!(TopicName::new(&"x".repeat(65_535)).is_ok());
    assert_eq!(
        TopicName::new(&"x".repeat(65_536)),
        Err(TopicError::TooLong)
    );
    // 21,846 three-byte characters make 65,538 bytes.
    assert_eq!(
        TopicFilter::new(&"€".repeat(21_846)),
        Err(TopicError::TooLong)
    );
    assert!(TopicFilter::new(&"€".repeat(21_845)).is_ok());
}

/// Section 4.7.3 examples: case matters, spaces are characters, a leading `/` makes a distinct
/// topic, and `/` alone is a valid name of two empty levels.
#[test]
fn section_4_7_3_topic_semantics_examples() {
    assert!(!matches("ACCOUNTS", "Accounts"));
    assert!(matches("Accounts payable", "Accounts payable"));
    assert!(!matches("/finance", "finance"));
    assert!(!matches("finance", "/finance"));
    assert!(TopicName::new("/").is_ok());
    assert!(matches("/", "/"));
    assert!(matches("+/+", "/"));
    assert!(!matches("+", "/"));
    assert!(!matches("a/b", "a/b/"));
}

/// Matching compares the bytes as given, with no Unicode normalization ([MQTT-4.7.3-4]): a
/// precomposed é and an e with a combining accent are different topics.
#[test]
fn mqtt_4_7_3_4_no_normalization() {
    assert!(!matches("caf\u{E9}", "cafe\u{301}"));
    assert!(matches("caf\u{E9}", "caf\u{E9}"));
}

/// The validated types show and hand out their text unchanged.
#[test]
fn validated_types_expose_their_text() {
    let name = TopicName::new("a/b").unwrap();
    assert_eq!(name.as_str(), "a/b");
    assert_eq!(name.to_string(), "a/b");
    assert_eq!(format!("{name:?}"), "\"a/b\"");
    let filter = TopicFilter::new("a/+").unwrap();
    assert_eq!(AsRef::<str>::as_ref(&filter), "a/+");
    assert!(filter.has_wildcards());
    assert!(!TopicFilter::new("a/b").unwrap().has_wildcards());
    assert_eq!(
        TopicError::MisplacedMultiLevelWildcard.to_string(),
        "'#' must be the last character and occupy a whole level"
    );
}
