/*
 * Exercises the C API conventions from C: status codes and their strings, the per-thread last
 * error, NULL and invalid arguments, out-parameters written only on success, version macros.
 * Prints every failed check and exits 1 if there was one.
 */
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

static int checks;
static int failures;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        checks++;                                                                      \
        if (!(cond)) {                                                                 \
            failures++;                                                                \
            fprintf(stderr, "%s:%d: check failed: %s (last error: \"%s\")\n", __FILE__, \
                    __LINE__, #cond, mqtt_last_error());                               \
        }                                                                              \
    } while (0)

#define CHECK_STR(actual, expected) CHECK(strcmp((actual), (expected)) == 0)

static const int known_statuses[] = {
    MQTT_STATUS_OK,
    MQTT_STATUS_NULL_ARGUMENT,
    MQTT_STATUS_INVALID_ARGUMENT,
    MQTT_STATUS_INVALID_UTF8,
    MQTT_STATUS_INVALID_TOPIC,
    MQTT_STATUS_INVALID_QOS,
    MQTT_STATUS_TOO_LARGE,
    MQTT_STATUS_INVALID_STATE,
    MQTT_STATUS_ALREADY_RUNNING,
    MQTT_STATUS_NOT_FOUND,
    MQTT_STATUS_IO,
    MQTT_STATUS_RESOLVE,
    MQTT_STATUS_ADDRESS_IN_USE,
    MQTT_STATUS_CLOSED,
    MQTT_STATUS_TIMEOUT,
    MQTT_STATUS_PROTOCOL_ERROR,
    MQTT_STATUS_TLS,
    MQTT_STATUS_PERSISTENCE,
    MQTT_STATUS_REFUSED_PROTOCOL_VERSION,
    MQTT_STATUS_REFUSED_IDENTIFIER,
    MQTT_STATUS_REFUSED_SERVER_UNAVAILABLE,
    MQTT_STATUS_REFUSED_BAD_CREDENTIALS,
    MQTT_STATUS_REFUSED_NOT_AUTHORIZED,
    MQTT_STATUS_REFUSED,
    MQTT_STATUS_SERVER_MOVED,
    MQTT_STATUS_AUTH_FAILED,
    MQTT_STATUS_SUBSCRIBE_FAILED,
    MQTT_STATUS_PUBLISH_REFUSED,
    MQTT_STATUS_UNSUBSCRIBE_FAILED,
    MQTT_STATUS_QUEUED,
    MQTT_STATUS_QUEUE_FULL,
    MQTT_STATUS_PANIC,
};
#define KNOWN_COUNT (sizeof known_statuses / sizeof known_statuses[0])

static void check_version(void) {
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d", MQTT_VERSION_MAJOR, MQTT_VERSION_MINOR,
             MQTT_VERSION_PATCH);
    CHECK_STR(MQTT_VERSION, expected);
    CHECK(mqtt_version() != NULL);
    CHECK_STR(mqtt_version(), MQTT_VERSION);
}

static void check_status_strings(void) {
    size_t i, j;
    CHECK(MQTT_STATUS_OK == 0);
    CHECK_STR(mqtt_status_str(MQTT_STATUS_OK), "ok");
    CHECK_STR(mqtt_status_str(MQTT_STATUS_INVALID_TOPIC), "invalid topic");
    for (i = 0; i < KNOWN_COUNT; i++) {
        const char *s = mqtt_status_str(known_statuses[i]);
        CHECK(s != NULL && s[0] != '\0');
        CHECK(strcmp(s, "unknown status") != 0);
        for (j = 0; j < i; j++) {
            CHECK(known_statuses[i] != known_statuses[j]);
            CHECK(strcmp(s, mqtt_status_str(known_statuses[j])) != 0);
        }
    }
    /* Values that are not statuses are safe to pass and named as such. */
    {
        const int unknown[] = {-1, 7, 19, 48, 59, 91, 1000, INT_MIN, INT_MAX};
        for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
            CHECK_STR(mqtt_status_str(unknown[i]), "unknown status");
        }
    }
}

static void check_qos_values(void) {
    CHECK(MQTT_QOS_AT_MOST_ONCE == 0);
    CHECK(MQTT_QOS_AT_LEAST_ONCE == 1);
    CHECK(MQTT_QOS_EXACTLY_ONCE == 2);
}

static void check_null_arguments(void) {
    bool matches = true;
    CHECK(mqtt_topic_matches(NULL, "a", &matches) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_last_status() == MQTT_STATUS_NULL_ARGUMENT);
    CHECK_STR(mqtt_last_error(), "filter is NULL");
    CHECK(matches == true); /* out-parameters are written only on success */
    CHECK(mqtt_topic_matches("a", NULL, &matches) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK_STR(mqtt_last_error(), "topic is NULL");
    CHECK(mqtt_topic_matches("a", "a", NULL) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK_STR(mqtt_last_error(), "matches is NULL");
    CHECK(!mqtt_topic_is_valid_name(NULL));
    CHECK(mqtt_last_status() == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(!mqtt_topic_is_valid_filter(NULL));
    CHECK(mqtt_last_status() == MQTT_STATUS_NULL_ARGUMENT);
}

static void check_invalid_arguments(void) {
    bool matches = true;
    CHECK(mqtt_topic_matches("sport/#/x", "sport", &matches) == MQTT_STATUS_INVALID_TOPIC);
    CHECK(strncmp(mqtt_last_error(), "filter: ", 8) == 0);
    CHECK(mqtt_topic_matches("sport/#", "sport/+", &matches) == MQTT_STATUS_INVALID_TOPIC);
    CHECK(strncmp(mqtt_last_error(), "topic: ", 7) == 0);
    CHECK(mqtt_topic_matches("", "a", &matches) == MQTT_STATUS_INVALID_TOPIC);
    CHECK(mqtt_topic_matches("a", "\xff", &matches) == MQTT_STATUS_INVALID_UTF8);
    CHECK(mqtt_last_status() == MQTT_STATUS_INVALID_UTF8);
    CHECK(matches == true);
    CHECK(!mqtt_topic_is_valid_name("a/#"));
    CHECK(mqtt_last_status() == MQTT_STATUS_INVALID_TOPIC);
    CHECK(!mqtt_topic_is_valid_filter("a+"));
    CHECK(mqtt_last_status() == MQTT_STATUS_INVALID_TOPIC);
}

static void check_success_resets_last_error(void) {
    bool matches = false;
    CHECK(mqtt_topic_matches(NULL, "a", &matches) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_last_error()[0] != '\0');
    CHECK(mqtt_topic_matches("sport/#", "sport", &matches) == MQTT_STATUS_OK);
    CHECK(matches == true);
    CHECK(mqtt_last_status() == MQTT_STATUS_OK);
    CHECK_STR(mqtt_last_error(), "");
    CHECK(mqtt_topic_is_valid_name("a/b"));
    CHECK(mqtt_topic_is_valid_filter("a/+/#"));
    CHECK(mqtt_last_status() == MQTT_STATUS_OK);
}

static void *fail_on_other_thread(void *seen_empty) {
    bool matches;
    /* A fresh thread starts with no error, whatever the main thread did. */
    *(bool *)seen_empty = mqtt_last_error()[0] == '\0' && mqtt_last_status() == MQTT_STATUS_OK;
    (void)mqtt_topic_matches("a", "+", &matches);
    return NULL;
}

static void check_last_error_is_per_thread(void) {
    pthread_t thread;
    bool seen_empty = false;
    bool matches;
    CHECK(mqtt_topic_matches(NULL, "a", &matches) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(pthread_create(&thread, NULL, fail_on_other_thread, &seen_empty) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK(seen_empty);
    CHECK(mqtt_last_status() == MQTT_STATUS_NULL_ARGUMENT);
    CHECK_STR(mqtt_last_error(), "filter is NULL");
}

int main(void) {
    check_version();
    check_status_strings();
    check_qos_values();
    check_null_arguments();
    check_invalid_arguments();
    check_success_resets_last_error();
    check_last_error_is_per_thread();
    if (failures != 0) {
        fprintf(stderr, "%d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("all %d checks passed\n", checks);
    return 0;
}
