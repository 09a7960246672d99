//! Properties of topic validation and matching (MQTT 3.1.1 section 4.7), checked against small
//! reference implementations written differently from the library's: validation as per-level
//! predicates, matching by recursion over level lists.

use mqtt::topic::{TopicError, TopicFilter, TopicName, matches_str};
use proptest::prelude::*;

/// Levels drawn from a tiny alphabet so generated filters and topics often match.
fn literal_level() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "", "$SYS", "$", "ab", "é"]).prop_map(String::from)
}

fn topic_name() -> impl Strategy<Value = String> {
    prop::collection::vec(literal_level(), 1..5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("names are not empty", |s| !s.is_empty())
}

fn filter_level() -> impl Strategy<Value = String> {
    prop_oneof![3 => literal_level(), 2 => Just("+".to_string())]
}

fn topic_filter() -> impl Strategy<Value = String> {
    (prop::collection::vec(filter_level(), 0..5), any::<bool>())
        .prop_map(|(mut levels, multi)| {
            if multi || levels.is_empty() {
                levels.push("#".into());
            }
            levels.join("/")
        })
        .prop_filter("filters are not empty", |s| !s.is_empty())
}

/// Strings over the characters that matter to validation.
fn rough_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!['a', '/', '+', '#', '$', '\0', 'é']),
        0..8,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Reference validation of a filter: every level is `+`, or `#` in last position, or holds
/// neither wildcard.
fn reference_filter_is_valid(s: &str) -> bool {
    let levels: Vec<&str> = s.split('/').collect();
    !s.is_empty()
        && !s.contains('\0')
        && levels.iter().enumerate().all(|(i, level)| match *level {
            "+" => true,
            "#" => i == levels.len() - 1,
            other => !other.contains(['+', '#']),
        })
}

fn reference_name_is_valid(s: &str) -> bool {
    !s.is_empty() && !s.contains(['\0', '+', '#'])
}

/// Reference matching by recursion over the level lists.
fn reference_levels_match(filter: &[&str], topic: &[&str]) -> bool {
    match (filter, topic) {
        (["#"], _) => true,
        ([], []) => true,
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
    let leading_wildcard = filter.starts_with('+') || filter.starts_with('#');
    if leading_wildcard && topic.starts_with('$') {
        return false;
    }
    let filter: Vec<&str> = filter.split('/').collect();
    let topic: Vec<&str> = topic.split('/').collect();
    reference_levels_match(&filter, &topic)
}

/// A topic the filter must match: each `+` replaced by one level, `#` by zero or more levels.
fn instantiate(filter: &str, fillers: &[String], extra_levels: usize) -> String {
    let mut fillers = fillers.iter().cycle();
    let mut levels: Vec<String> = Vec::new();
    for level in filter.split('/') {
        match level {
            "+" => levels.push(fillers.next().cloned().unwrap_or_default()),
            "#" => {
                for _ in 0..extra_levels {
                    levels.push(fillers.next().cloned().unwrap_or_default());
                }
            }
            literal => levels.push(literal.to_string()),
        }
    }
    levels.join("/")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Generated names and filters validate; every name is also a valid filter.
    #[test]
    fn generated_names_and_filters_validate(name in topic_name(), filter in topic_filter()) {
        prop_assert_eq!(TopicName::validate(&name), Ok(()));
        prop_assert_eq!(TopicFilter::validate(&name), Ok(()));
        prop_assert_eq!(TopicFilter::validate(&filter), Ok(()));
    }

    /// Validation agrees with the reference predicates on rough strings, and construction
    /// agrees with validation.
    #[test]
    fn validation_agrees_with_reference(s in rough_string()) {
        prop_assert_eq!(TopicFilter::validate(&s).is_ok(), reference_filter_is_valid(&s));
        prop_assert_eq!(TopicName::validate(&s).is_ok(), reference_name_is_valid(&s));
        prop_assert_eq!(TopicFilter::new(&s).is_ok(), TopicFilter::validate(&s).is_ok());
        prop_assert_eq!(TopicName::new(&s).is_ok(), TopicName::validate(&s).is_ok());
        if s.is_empty() {
            prop_assert_eq!(TopicFilter::validate(&s), Err(TopicError::Empty));
        }
    }

    /// Matching agrees with the recursive reference on generated pairs.
    #[test]
    fn matching_agrees_with_reference(filter in topic_filter(), topic in topic_name()) {
        let expected = reference_matches(&filter, &topic);
        prop_assert_eq!(matches_str(&filter, &topic), expected);
        let filter = TopicFilter::new(&filter).unwrap();
        let topic = TopicName::new(&topic).unwrap();
        prop_assert_eq!(filter.matches(&topic), expected);
    }

    /// A topic built from a filter by filling in its wildcards is matched by it, unless the
    /// filter starts with a wildcard and the topic with `$` ([MQTT-4.7.2-1]).
    #[test]
    fn filters_match_their_instances(
        filter in topic_filter(),
        fillers in prop::collection::vec(literal_level(), 1..4),
        extra_levels in 0..3usize,
    ) {
        let topic = instantiate(&filter, &fillers, extra_levels);
        prop_assume!(!topic.is_empty());
        let hidden = filter.starts_with(['+', '#']) && topic.starts_with('$');
        prop_assert_eq!(matches_str(&filter, &topic), !hidden, "{} vs {}", filter, topic);
    }

    /// A filter without wildcards matches exactly the topic spelled the same.
    #[test]
    fn literal_filters_match_only_themselves(a in topic_name(), b in topic_name()) {
        prop_assert!(matches_str(&a, &a));
        prop_assert_eq!(matches_str(&a, &b), a == b);
    }
}
