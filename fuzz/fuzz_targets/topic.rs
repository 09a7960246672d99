//! Feeds arbitrary text to topic validation and matching. The input is split at its first
//! U+0001 into a filter and a topic (or used as both). Checks: nothing panics, even matching
//! unvalidated strings; every valid name is a valid filter that matches itself; and on valid
//! pairs the library agrees with a recursive reference matcher.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt::topic::{TopicFilter, TopicName, matches_str};

fn reference_levels_match(filter: &[&str], topic: &[&str]) -> bool {
    match (filter, topic) {
        (["#"], _) | ([], []) => true,
        (["+", filter_rest @ ..], [_, topic_rest @ ..]) => {
            reference_levels_match(filter_rest, topic_rest)
        }
        ([f, filter_rest @ ..], [t, topic_rest @ ..]) => {
            f == t && reference_levels_match(filter_rest, topic_rest)
        }
        _ => false,
    }
}

fn reference_matches(filter: &str, topic: &str) -> bool {
    if filter.starts_with(['+', '#']) && topic.starts_with('$') {
        return false;
    }
    let filter: Vec<&str> = filter.split('/').collect();
    let topic: Vec<&str> = topic.split('/').collect();
    reference_levels_match(&filter, &topic)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (filter, topic) = text.split_once('\u{1}').unwrap_or((text, text));
    let unvalidated = matches_str(filter, topic);
    if TopicName::validate(topic).is_ok() {
        assert_eq!(TopicFilter::validate(topic), Ok(()));
        assert!(matches_str(topic, topic));
    }
    if let (Ok(f), Ok(t)) = (TopicFilter::new(filter), TopicName::new(topic)) {
        assert_eq!(f.matches(&t), unvalidated);
        assert_eq!(unvalidated, reference_matches(filter, topic));
    }
});
