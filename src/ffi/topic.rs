//! Topic names, topic filters and matching (section 4.7) for C.

use std::ffi::c_char;

use super::args::{c_str_arg, out_arg};
use super::error::FfiError;
use super::guard::{guard_or, guard_status};
use super::status::mqtt_status;
use crate::topic::{TopicFilter, TopicName, matches_str};

/// Whether the topic name `topic` matches the topic filter `filter`, stored in `*matches`.
///
/// Follows section 4.7: `+` matches exactly one level, which may be empty; `sport/#` also matches
/// `sport`; a filter that starts with a wildcard does not match a topic that starts with `$`
/// ([MQTT-4.7.2-1]).
///
/// Returns `MQTT_STATUS_INVALID_TOPIC` (not a non-match) if `filter` is not a valid filter or
/// `topic` is not a valid topic name (for instance contains a wildcard), with the rule broken in
/// `mqtt_last_error()`; `MQTT_STATUS_NULL_ARGUMENT` if any pointer is NULL;
/// `MQTT_STATUS_INVALID_UTF8` if a string is not UTF-8. `*matches` is written only on success.
/// Thread-safe.
///
/// # Safety
/// `filter` and `topic` are NULL or NUL-terminated strings; `matches` is NULL or points to a
/// writable `bool`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_topic_matches(
    filter: *const c_char,
    topic: *const c_char,
    matches: *mut bool,
) -> mqtt_status {
    guard_status(|| {
        // SAFETY: the caller passes NUL-terminated strings and a writable bool, or NULL.
        let (filter, topic, matches) = unsafe {
            (
                c_str_arg(filter, "filter")?,
                c_str_arg(topic, "topic")?,
                out_arg(matches, "matches")?,
            )
        };
        TopicFilter::validate(filter).map_err(|e| FfiError::invalid_topic("filter", e))?;
        TopicName::validate(topic).map_err(|e| FfiError::invalid_topic("topic", e))?;
        matches.write(matches_str(filter, topic));
        Ok(())
    })
}

/// Whether `name` is a valid topic name for PUBLISH: at least one character, at most 65535 bytes
/// of UTF-8, no `+` or `#` ([MQTT-4.7.3-1], [MQTT-3.3.2-2]). On `false`, `mqtt_last_status()`
/// and `mqtt_last_error()` say why (NULL counts as invalid). Thread-safe.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_topic_is_valid_name(name: *const c_char) -> bool {
    guard_or(false, || {
        // SAFETY: the caller passes a NUL-terminated string or NULL.
        let name = unsafe { c_str_arg(name, "name") }?;
        TopicName::validate(name).map_err(|e| FfiError::invalid_topic("name", e))?;
        Ok(true)
    })
}

/// Whether `filter` is a valid topic filter for SUBSCRIBE: a valid topic string in which `+`
/// occupies a whole level and `#` a whole level at the end ([MQTT-4.7.1-2], [MQTT-4.7.1-3]).
/// On `false`, `mqtt_last_status()` and `mqtt_last_error()` say why (NULL counts as invalid).
/// Thread-safe.
///
/// # Safety
/// `filter` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_topic_is_valid_filter(filter: *const c_char) -> bool {
    guard_or(false, || {
        // SAFETY: the caller passes a NUL-terminated string or NULL.
        let filter = unsafe { c_str_arg(filter, "filter") }?;
        TopicFilter::validate(filter).map_err(|e| FfiError::invalid_topic("filter", e))?;
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::error::{mqtt_last_error, mqtt_last_status};
    use std::ffi::{CStr, CString};

    fn matches(filter: &CStr, topic: &CStr) -> Result<bool, mqtt_status> {
        let mut result = false;
        match unsafe { mqtt_topic_matches(filter.as_ptr(), topic.as_ptr(), &mut result) } {
            mqtt_status::Ok => Ok(result),
            error => Err(error),
        }
    }

    fn last_error() -> String {
        unsafe { CStr::from_ptr(mqtt_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn matching_follows_section_4_7() {
        assert_eq!(matches(c"sport/#", c"sport"), Ok(true));
        assert_eq!(matches(c"sport/+", c"sport/"), Ok(true));
        assert_eq!(matches(c"sport/+", c"sport"), Ok(false));
        assert_eq!(matches(c"#", c"$SYS/uptime"), Ok(false));
        assert_eq!(matches(c"$SYS/#", c"$SYS/uptime"), Ok(true));
    }

    #[test]
    fn invalid_filter_or_topic_is_an_error_not_a_mismatch() {
        assert_eq!(
            matches(c"sport/#/x", c"sport"),
            Err(mqtt_status::InvalidTopic)
        );
        assert!(last_error().starts_with("filter: "), "{}", last_error());
        assert_eq!(
            matches(c"sport/#", c"sport/+"),
            Err(mqtt_status::InvalidTopic)
        );
        assert!(last_error().starts_with("topic: "), "{}", last_error());
        assert_eq!(matches(c"", c"a"), Err(mqtt_status::InvalidTopic));
    }

    #[test]
    fn null_arguments_are_reported_and_out_param_untouched() {
        let mut result = true;
        let status = unsafe { mqtt_topic_matches(std::ptr::null(), c"a".as_ptr(), &mut result) };
        assert_eq!(status, mqtt_status::NullArgument);
        assert_eq!(last_error(), "filter is NULL");
        assert!(result);
        let status =
            unsafe { mqtt_topic_matches(c"a".as_ptr(), c"a".as_ptr(), std::ptr::null_mut()) };
        assert_eq!(status, mqtt_status::NullArgument);
        assert_eq!(last_error(), "matches is NULL");
    }

    #[test]
    fn validity_predicates_record_why() {
        assert!(unsafe { mqtt_topic_is_valid_name(c"a/b".as_ptr()) });
        assert_eq!(mqtt_last_status(), mqtt_status::Ok);
        assert!(!unsafe { mqtt_topic_is_valid_name(c"a/+".as_ptr()) });
        assert_eq!(mqtt_last_status(), mqtt_status::InvalidTopic);
        assert!(unsafe { mqtt_topic_is_valid_filter(c"a/+/#".as_ptr()) });
        assert!(!unsafe { mqtt_topic_is_valid_filter(c"a#".as_ptr()) });
        assert!(!unsafe { mqtt_topic_is_valid_filter(std::ptr::null()) });
        assert_eq!(mqtt_last_status(), mqtt_status::NullArgument);
        let long = CString::new("a".repeat(65536)).unwrap();
        assert!(!unsafe { mqtt_topic_is_valid_name(long.as_ptr()) });
        assert!(last_error().contains("65535"), "{}", last_error());
    }
}
