/*
 * libmqtt: an embeddable MQTT 3.1.1 broker and client.
 *
 * Conventions: functions that can fail return mqtt_status (MQTT_STATUS_OK is 0); functions
 * returning a pointer return NULL on failure and functions returning bool return false; in
 * every case mqtt_last_status() and mqtt_last_error() describe the failure, per thread, until
 * the next libmqtt call on that thread. Strings are NUL-terminated UTF-8, borrowed for the
 * duration of the call. Objects created by a _new function are released by the matching
 * _free function; _free(NULL) does nothing. QoS arguments are ints, range-checked.
 */

#ifndef MQTT_H
#define MQTT_H

/* Generated from src/ffi by build.rs (cbindgen); do not edit by hand. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The version of libmqtt this header belongs to (compare with mqtt_version()). */
#define MQTT_VERSION "0.1.0"
#define MQTT_VERSION_MAJOR 0
#define MQTT_VERSION_MINOR 1
#define MQTT_VERSION_PATCH 0

/**
 * The result of a libmqtt call. `MQTT_STATUS_OK` is zero; every other value is an error whose
 * details are in `mqtt_last_error()`.
 *
 * Values are explicit and stable: new codes are only ever added, in the gaps of their group.
 */
typedef enum {
    /**
     * Success.
     */
    MQTT_STATUS_OK = 0,
    /**
     * A required pointer argument was NULL.
     */
    MQTT_STATUS_NULL_ARGUMENT = 1,
    /**
     * An argument is out of range or otherwise unusable.
     */
    MQTT_STATUS_INVALID_ARGUMENT = 2,
    /**
     * A string argument is not well-formed UTF-8 (MQTT strings must be, [MQTT-1.5.3-1]).
     */
    MQTT_STATUS_INVALID_UTF8 = 3,
    /**
     * A topic name or topic filter breaks the rules of section 4.7.
     */
    MQTT_STATUS_INVALID_TOPIC = 4,
    /**
     * A QoS value is not 0, 1 or 2.
     */
    MQTT_STATUS_INVALID_QOS = 5,
    /**
     * A payload or packet is larger than the configured or protocol maximum.
     */
    MQTT_STATUS_TOO_LARGE = 6,
    /**
     * The object is not in a state that allows the call (e.g. not connected, not started).
     */
    MQTT_STATUS_INVALID_STATE = 20,
    /**
     * The broker or background loop is already running.
     */
    MQTT_STATUS_ALREADY_RUNNING = 21,
    /**
     * The named item (subscription, packet identifier, ...) does not exist.
     */
    MQTT_STATUS_NOT_FOUND = 22,
    /**
     * An operating-system I/O error; `mqtt_last_error()` carries its description.
     */
    MQTT_STATUS_IO = 40,
    /**
     * A host name could not be resolved.
     */
    MQTT_STATUS_RESOLVE = 41,
    /**
     * The listening address is already in use.
     */
    MQTT_STATUS_ADDRESS_IN_USE = 42,
    /**
     * The connection is closed.
     */
    MQTT_STATUS_CLOSED = 43,
    /**
     * The operation did not complete within its timeout.
     */
    MQTT_STATUS_TIMEOUT = 44,
    /**
     * The peer broke the MQTT protocol; the connection has been closed.
     */
    MQTT_STATUS_PROTOCOL_ERROR = 45,
    /**
     * CONNACK 0x01: the server does not support the requested protocol level.
     */
    MQTT_STATUS_REFUSED_PROTOCOL_VERSION = 51,
    /**
     * CONNACK 0x02: the server rejected the client identifier.
     */
    MQTT_STATUS_REFUSED_IDENTIFIER = 52,
    /**
     * CONNACK 0x03: the MQTT service is unavailable.
     */
    MQTT_STATUS_REFUSED_SERVER_UNAVAILABLE = 53,
    /**
     * CONNACK 0x04: bad user name or password.
     */
    MQTT_STATUS_REFUSED_BAD_CREDENTIALS = 54,
    /**
     * CONNACK 0x05: the client is not authorized to connect.
     */
    MQTT_STATUS_REFUSED_NOT_AUTHORIZED = 55,
    /**
     * The server refused a subscription (SUBACK return code 0x80).
     */
    MQTT_STATUS_SUBSCRIBE_FAILED = 60,
    /**
     * An internal error (a caught panic); the object involved may be unusable.
     */
    MQTT_STATUS_PANIC = 90,
} mqtt_status;

/**
 * Quality of service levels (section 4.3). Functions take QoS as `int` and reject values other
 * than these with `MQTT_STATUS_INVALID_QOS`.
 */
typedef enum {
    /**
     * QoS 0: delivered at most once, no acknowledgement.
     */
    MQTT_QOS_AT_MOST_ONCE = 0,
    /**
     * QoS 1: delivered at least once (PUBACK).
     */
    MQTT_QOS_AT_LEAST_ONCE = 1,
    /**
     * QoS 2: delivered exactly once (PUBREC, PUBREL, PUBCOMP).
     */
    MQTT_QOS_EXACTLY_ONCE = 2,
} mqtt_qos;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The message describing the most recent failed call on the calling thread, or "" if the most
 * recent fallible call succeeded. Never NULL. The string belongs to the library and stays valid
 * until the next libmqtt call on the same thread; copy it to keep it.
 */
const char *mqtt_last_error(void);

/**
 * The status of the most recent fallible call on the calling thread (`MQTT_STATUS_OK` if it
 * succeeded). Useful after functions that return NULL or `false` on failure.
 */
mqtt_status mqtt_last_status(void);

/**
 * A static, NUL-terminated description of `status` (e.g. "invalid topic"). The argument is an
 * `int` so that any value is safe to pass: a value that is not an `mqtt_status` gives
 * "unknown status". Never returns NULL; the string must not be freed.
 */
const char *mqtt_status_str(int status);

/**
 * Whether the topic name `topic` matches the topic filter `filter`, stored in `*matches`.
 *
 * Follows section 4.7: `+` matches exactly one level, which may be empty; `sport/#` also matches
 * `sport`; a filter that starts with a wildcard does not match a topic that starts with `$`
 * ([MQTT-4.7.2-1]).
 *
 * Returns `MQTT_STATUS_INVALID_TOPIC` (not a non-match) if `filter` is not a valid filter or
 * `topic` is not a valid topic name (for instance contains a wildcard), with the rule broken in
 * `mqtt_last_error()`; `MQTT_STATUS_NULL_ARGUMENT` if any pointer is NULL;
 * `MQTT_STATUS_INVALID_UTF8` if a string is not UTF-8. `*matches` is written only on success.
 * Thread-safe.
 *
 * # Safety
 * `filter` and `topic` are NULL or NUL-terminated strings; `matches` is NULL or points to a
 * writable `bool`.
 */
mqtt_status mqtt_topic_matches(const char *filter, const char *topic, bool *matches);

/**
 * Whether `name` is a valid topic name for PUBLISH: at least one character, at most 65535 bytes
 * of UTF-8, no `+` or `#` ([MQTT-4.7.3-1], [MQTT-3.3.2-2]). On `false`, `mqtt_last_status()`
 * and `mqtt_last_error()` say why (NULL counts as invalid). Thread-safe.
 *
 * # Safety
 * `name` is NULL or a NUL-terminated string.
 */
bool mqtt_topic_is_valid_name(const char *name);

/**
 * Whether `filter` is a valid topic filter for SUBSCRIBE: a valid topic string in which `+`
 * occupies a whole level and `#` a whole level at the end ([MQTT-4.7.1-2], [MQTT-4.7.1-3]).
 * On `false`, `mqtt_last_status()` and `mqtt_last_error()` say why (NULL counts as invalid).
 * Thread-safe.
 *
 * # Safety
 * `filter` is NULL or a NUL-terminated string.
 */
bool mqtt_topic_is_valid_filter(const char *filter);

/**
 * The version of the loaded library, e.g. "0.1.0" (compare with the `MQTT_VERSION` macro the
 * program was compiled with). Static; never NULL; must not be freed.
 */
const char *mqtt_version(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* MQTT_H */
