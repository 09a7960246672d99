/*
 * The whole C API from C, in one program run under AddressSanitizer + UBSan and under valgrind
 * by tests/shipping/sanitizers.rs: broker options and every setter, the three broker callbacks,
 * the broker life cycle, connect options and every setter, a subscriber and a publisher exchanging
 * messages at QoS 0, 1 and 2 (blocking, asynchronous, with and without the loop thread), and the
 * error paths: NULL for every pointer parameter, invalid QoS values and topics, double stop,
 * stop before start, free while connected, free(NULL), connecting to a closed port.
 *
 * Prints every failed check and exits 1 if there was one; prints "all N checks passed" else.
 * Every wait is bounded, generously, because valgrind runs this tens of times slower.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* A call that must fail with `status`, leaving that status and a message behind. */
#define CHECK_FAILS(call, status)                                                     \
    do {                                                                              \
        mqtt_status got_ = (call);                                                    \
        checks++;                                                                     \
        if (got_ != (status) || mqtt_last_status() != (status) ||                     \
            mqtt_last_error()[0] == '\0') {                                           \
            failures++;                                                               \
            fprintf(stderr, "%s:%d: %s gave %d (%s), last error \"%s\"; expected %s\n", \
                    __FILE__, __LINE__, #call, (int)got_, mqtt_status_str(got_),      \
                    mqtt_last_error(), #status);                                      \
        }                                                                             \
    } while (0)

#define CHECK_OK(call)                                                                  \
    do {                                                                                \
        mqtt_status got_ = (call);                                                      \
        checks++;                                                                       \
        if (got_ != MQTT_STATUS_OK || mqtt_last_error()[0] != '\0') {                   \
            failures++;                                                                 \
            fprintf(stderr, "%s:%d: %s gave %d (%s), last error \"%s\"\n", __FILE__,     \
                    __LINE__, #call, (int)got_, mqtt_status_str(got_), mqtt_last_error()); \
        }                                                                               \
    } while (0)

/* A NULL-returning call that must fail with `status`. */
#define CHECK_NULL_WITH(call, status)                                                   \
    do {                                                                                \
        const void *got_ = (call);                                                      \
        checks++;                                                                       \
        if (got_ != NULL || mqtt_last_status() != (status) || mqtt_last_error()[0] == '\0') { \
            failures++;                                                                 \
            fprintf(stderr, "%s:%d: %s gave %p, status %d, last error \"%s\"; expected %s\n", \
                    __FILE__, __LINE__, #call, got_, (int)mqtt_last_status(),           \
                    mqtt_last_error(), #status);                                        \
        }                                                                               \
    } while (0)

/* Generous bounds: valgrind slows everything down by a factor of 20 to 50. */
#define OPERATION_TIMEOUT_MS 20000
#define WAIT_MS 20000

static const uint8_t secret[] = {'s', 'e', 'c', 'r', 'e', 't'};

/* A host subscription's callback, on the broker's host-subscriber thread: counts the retained
 * message it should get. */
static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;
static int host_received;

static void host_message(void *userdata, const mqtt_message *message) {
    int *received = userdata;
    pthread_mutex_lock(&host_lock);
    if (strcmp(message->topic, "idle/topic") == 0 && message->payload_len == 1 &&
        message->retain) {
        *received += 1;
    }
    pthread_mutex_unlock(&host_lock);
}

static int host_seen(void) {
    pthread_mutex_lock(&host_lock);
    int seen = host_received;
    pthread_mutex_unlock(&host_lock);
    return seen;
}

static void sleep_ms(long ms) {
    struct timespec pause;
    pause.tv_sec = ms / 1000;
    pause.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&pause, NULL);
}

static long now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- What the broker's callbacks saw, written from its connection threads. ---- */

typedef struct {
    pthread_mutex_t lock;
    mqtt_broker *broker; /* set after mqtt_broker_new; callbacks may call into it */
    int authentications;
    int authorizations;
    int connects;
    int disconnects;
    int stats_from_callback;
    bool saw_null_username;
    mqtt_disconnect_reason reasons[8]; /* by reason, how many disconnects */
    int reason_count[8];
    char last_connected[64];
    int connect_lines;   /* log callback: "New client connected ..." (notice) */
    int subscribe_lines; /* log callback: "ID QOS FILTER" (subscribe) */
    int other_lines;     /* log callback: a type it did not ask for */
} broker_log;

static int authenticate(void *userdata, const char *client_id, const char *username,
                        const uint8_t *password, size_t password_len) {
    broker_log *log = userdata;
    int verdict;
    if (client_id == NULL) {
        return MQTT_AUTH_RESULT_NOT_AUTHORIZED;
    }
    if (username == NULL) {
        /* No user name: no password either, as the header promises. */
        verdict = password == NULL && password_len == 0 ? MQTT_AUTH_RESULT_ACCEPT
                                                        : MQTT_AUTH_RESULT_BAD_CREDENTIALS;
    } else if (strcmp(username, "mallory") == 0) {
        verdict = MQTT_AUTH_RESULT_NOT_AUTHORIZED;
    } else if (strcmp(username, "confused") == 0) {
        verdict = 42; /* not an mqtt_auth_result: must fail closed with 0x05 */
    } else if (strcmp(username, "alice") == 0 && password != NULL &&
               password_len == sizeof secret && memcmp(password, secret, sizeof secret) == 0) {
        verdict = MQTT_AUTH_RESULT_ACCEPT;
    } else {
        verdict = MQTT_AUTH_RESULT_BAD_CREDENTIALS;
    }
    pthread_mutex_lock(&log->lock);
    log->authentications++;
    if (username == NULL) {
        log->saw_null_username = true;
    }
    pthread_mutex_unlock(&log->lock);
    return verdict;
}

static bool authorize(void *userdata, const char *client_id, const char *username,
                      const char *topic, mqtt_access access) {
    broker_log *log = userdata;
    (void)username;
    pthread_mutex_lock(&log->lock);
    log->authorizations++;
    pthread_mutex_unlock(&log->lock);
    if (client_id == NULL || topic == NULL) {
        return false;
    }
    if (access != MQTT_ACCESS_PUBLISH && access != MQTT_ACCESS_SUBSCRIBE) {
        return false;
    }
    return strncmp(topic, "forbidden", strlen("forbidden")) != 0;
}

static void on_broker_event(void *userdata, const mqtt_broker_event *event) {
    broker_log *log = userdata;
    mqtt_broker_statistics stats;
    /* Allowed from a callback: stats and port on the callback's own broker. */
    bool stats_ok = log->broker != NULL && mqtt_broker_stats(log->broker, &stats) == MQTT_STATUS_OK &&
                    mqtt_broker_port(log->broker) != 0;
    pthread_mutex_lock(&log->lock);
    if (stats_ok) {
        log->stats_from_callback++;
    }
    if (event->kind == MQTT_BROKER_EVENT_KIND_CONNECTED) {
        log->connects++;
        if (event->client_id != NULL) {
            snprintf(log->last_connected, sizeof log->last_connected, "%s", event->client_id);
        }
    } else {
        log->disconnects++;
        if ((int)event->reason >= 0 && (int)event->reason < 8) {
            log->reason_count[event->reason]++;
        }
    }
    pthread_mutex_unlock(&log->lock);
}

/* The broker's log lines of the types asked for (notice and subscribe). */
static void on_broker_log(void *userdata, int type, const char *message) {
    broker_log *log = userdata;
    pthread_mutex_lock(&log->lock);
    if (type == MQTT_BROKER_LOG_TYPE_NOTICE && strncmp(message, "New client connected", 20) == 0) {
        log->connect_lines++;
    } else if (type == MQTT_BROKER_LOG_TYPE_SUBSCRIBE && strstr(message, "api-all-sub ") == message) {
        log->subscribe_lines++;
    } else if (type != MQTT_BROKER_LOG_TYPE_NOTICE) {
        log->other_lines++;
    }
    pthread_mutex_unlock(&log->lock);
}

static int log_read(broker_log *log, const int *field) {
    int value;
    pthread_mutex_lock(&log->lock);
    value = *field;
    pthread_mutex_unlock(&log->lock);
    return value;
}

/* Waits until the broker has reported `count` disconnects. */
static bool broker_saw_disconnects(broker_log *log, int count) {
    long deadline = now_ms() + WAIT_MS;
    while (log_read(log, &log->disconnects) < count && now_ms() < deadline) {
        sleep_ms(5);
    }
    return log_read(log, &log->disconnects) >= count;
}

/* ---- What a connection's message callback saw. ---- */

typedef struct {
    pthread_mutex_t lock;
    int count;
    int will_count;
    char last_topic[128];
    char last_payload[128];
    size_t last_len;
    int last_qos;
    bool last_retain;
    bool bad_message; /* a callback argument broke the header's promises */
} inbox;

static void on_message(void *userdata, const mqtt_message *message) {
    inbox *box = userdata;
    pthread_mutex_lock(&box->lock);
    if (message->topic == NULL || message->payload == NULL ||
        strlen(message->topic) != message->topic_len || message->qos < 0 || message->qos > 2) {
        box->bad_message = true;
    } else {
        box->count++;
        if (strcmp(message->topic, "api/will") == 0) {
            box->will_count++;
        }
        snprintf(box->last_topic, sizeof box->last_topic, "%s", message->topic);
        box->last_len = message->payload_len;
        if (message->payload_len < sizeof box->last_payload) {
            memcpy(box->last_payload, message->payload, message->payload_len);
            box->last_payload[message->payload_len] = '\0';
        } else {
            box->last_payload[0] = '\0';
        }
        box->last_qos = message->qos;
        box->last_retain = message->retain;
    }
    pthread_mutex_unlock(&box->lock);
}

static int inbox_count(inbox *box) {
    int n;
    pthread_mutex_lock(&box->lock);
    n = box->count;
    pthread_mutex_unlock(&box->lock);
    return n;
}

/* Reads on this thread until the inbox holds `count` messages (or the wait runs out). */
static bool receive_until(const mqtt_connection *conn, inbox *box, int count) {
    long deadline = now_ms() + WAIT_MS;
    while (inbox_count(box) < count && now_ms() < deadline) {
        mqtt_status status = mqtt_receive_message(conn, 500);
        if (status != MQTT_STATUS_OK && status != MQTT_STATUS_TIMEOUT) {
            return false;
        }
    }
    return inbox_count(box) >= count;
}

/* Waits while the loop thread fills the inbox. */
static bool loop_delivers(inbox *box, int count) {
    long deadline = now_ms() + WAIT_MS;
    while (inbox_count(box) < count && now_ms() < deadline) {
        sleep_ms(10);
    }
    return inbox_count(box) >= count;
}

typedef struct {
    pthread_mutex_t lock;
    int ok;
    int other;
} completions;

static void on_published(void *userdata, uint16_t packet_id, mqtt_status status) {
    completions *done = userdata;
    pthread_mutex_lock(&done->lock);
    if (status == MQTT_STATUS_OK && packet_id != 0) {
        done->ok++;
    } else {
        done->other++;
    }
    pthread_mutex_unlock(&done->lock);
}

/* ---- Broker options ---- */

static void check_broker_options(void) {
    mqtt_broker_options *opts = mqtt_broker_options_new();
    CHECK(opts != NULL);
    if (opts == NULL) {
        return;
    }
    CHECK_OK(mqtt_broker_options_set_bind_address(opts, "127.0.0.1"));
    CHECK_OK(mqtt_broker_options_set_max_connections(opts, 64));
    CHECK_OK(mqtt_broker_options_set_max_packet_size(opts, 65536));
    CHECK_OK(mqtt_broker_options_set_max_queued_messages(opts, 1000));
    CHECK_OK(mqtt_broker_options_set_max_inflight_messages(opts, 100));
    CHECK_OK(mqtt_broker_options_set_connect_timeout_ms(opts, 5000));
    CHECK_OK(mqtt_broker_options_set_session_expiry_s(opts, 3600));
    CHECK_OK(mqtt_broker_options_set_thread_stack_size(opts, 256 * 1024));
    CHECK_OK(mqtt_broker_options_set_park_idle_after_ms(opts, 0));
    CHECK_OK(mqtt_broker_options_set_busy_poll_us(opts, 0));
    CHECK_OK(mqtt_broker_options_set_busy_poll_us(opts, 20));
    CHECK_OK(mqtt_broker_options_set_busy_poll_us(opts, 10000));
    CHECK_FAILS(mqtt_broker_options_set_busy_poll_us(opts, 10001), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_OK(mqtt_broker_options_set_authenticator(opts, authenticate, NULL));
    CHECK_OK(mqtt_broker_options_set_authorizer(opts, authorize, NULL));
    CHECK_OK(mqtt_broker_options_set_event_callback(opts, on_broker_event, NULL));
    /* NULL callbacks remove them. */
    CHECK_OK(mqtt_broker_options_set_authenticator(opts, NULL, NULL));
    CHECK_OK(mqtt_broker_options_set_authorizer(opts, NULL, NULL));
    CHECK_OK(mqtt_broker_options_set_event_callback(opts, NULL, NULL));
    CHECK_OK(mqtt_broker_options_set_log_callback(opts, MQTT_BROKER_LOG_TYPE_ALL, on_broker_log, NULL));
    CHECK_OK(mqtt_broker_options_set_log_callback(opts, 0, NULL, NULL));
    CHECK_FAILS(mqtt_broker_options_set_log_callback(opts, 0x10000, on_broker_log, NULL),
                MQTT_STATUS_INVALID_ARGUMENT);
    /* MQTT 5.0 limits and capabilities. */
    CHECK_OK(mqtt_broker_options_set_receive_maximum(opts, 100));
    CHECK_OK(mqtt_broker_options_set_topic_alias_maximum(opts, 0));
    CHECK_OK(mqtt_broker_options_set_maximum_qos(opts, MQTT_QOS_AT_LEAST_ONCE));
    CHECK_OK(mqtt_broker_options_set_feature(opts, MQTT_BROKER_FEATURE_SHARED_SUBSCRIPTIONS, false));
    CHECK_OK(mqtt_broker_options_set_feature(opts, MQTT_BROKER_FEATURE_RETAIN_AVAILABLE, true));
    CHECK_OK(mqtt_broker_options_set_server_keep_alive(opts, 30));
    CHECK_OK(mqtt_broker_options_set_server_keep_alive(opts, -1));
    CHECK_OK(mqtt_broker_options_set_max_keep_alive(opts, 600));
    CHECK_OK(mqtt_broker_options_set_max_keep_alive(opts, 0));
    CHECK_FAILS(mqtt_broker_options_set_max_keep_alive(opts, -1), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_OK(mqtt_broker_options_set_response_information(opts, "responses/"));
    CHECK_OK(mqtt_broker_options_set_response_information(opts, NULL));
    CHECK_OK(mqtt_broker_options_set_enhanced_authenticator(opts, NULL, NULL));
    CHECK_FAILS(mqtt_broker_options_set_receive_maximum(opts, 0), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_maximum_qos(opts, 3), MQTT_STATUS_INVALID_QOS);
    CHECK_FAILS(mqtt_broker_options_set_feature(opts, 99, true), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_server_keep_alive(opts, 65536),
                MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_server_keep_alive(opts, -2), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_response_information(opts, "\xff"), MQTT_STATUS_INVALID_UTF8);
    CHECK_FAILS(mqtt_broker_options_set_receive_maximum(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_topic_alias_maximum(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_maximum_qos(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_feature(NULL, 0, true), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_server_keep_alive(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_max_keep_alive(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_response_information(NULL, "r"), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_enhanced_authenticator(NULL, NULL, NULL),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_auth_reply_set_data(NULL, NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_auth_reply_set_server_reference(NULL, "elsewhere:1883"),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_auth_reply_set_server_reference(NULL, NULL), MQTT_STATUS_NULL_ARGUMENT);
    /* Service files and mosquitto.conf. */
    CHECK_OK(mqtt_broker_options_set_sys_interval_s(opts, 0));
    CHECK_OK(mqtt_broker_options_set_message_hook(opts, NULL, NULL));
    CHECK_FAILS(mqtt_broker_disconnect_client(NULL, "c", true), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_redirect_client(NULL, "c", "elsewhere:1883", false),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_reload(NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_clients(NULL, NULL, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_message_hook(NULL, NULL, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_hook_reply_replace(NULL, "t", NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_sys_interval_s(NULL, 10), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_OK(mqtt_broker_options_set_allow_anonymous(opts, false));
    CHECK_OK(mqtt_broker_options_set_allow_anonymous(opts, true));
    CHECK_OK(mqtt_broker_options_set_password_file(opts, NULL));
    CHECK_OK(mqtt_broker_options_set_acl_file(opts, NULL));
    CHECK_FAILS(mqtt_broker_options_set_password_file(opts, "/nonexistent/passwd"), MQTT_STATUS_IO);
    CHECK_FAILS(mqtt_broker_options_set_acl_file(opts, "/nonexistent/acl"), MQTT_STATUS_IO);
    CHECK_FAILS(mqtt_broker_options_load_config(opts, "/nonexistent/mosquitto.conf"), MQTT_STATUS_IO);
    CHECK_FAILS(mqtt_broker_options_load_config(opts, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_load_config(NULL, "x.conf"), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_password_file(NULL, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_acl_file(NULL, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_allow_anonymous(NULL, true), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_OK(mqtt_broker_options_set_persistence(opts, NULL));
    CHECK_OK(mqtt_broker_options_set_authenticator_ex(opts, NULL, NULL));
    {
        mqtt_bridge_options *bridge = mqtt_bridge_options_new("up", "127.0.0.1", 1883);
        CHECK(bridge != NULL);
        CHECK(mqtt_bridge_options_new(NULL, "h", 1) == NULL);
        CHECK(mqtt_last_status() == MQTT_STATUS_NULL_ARGUMENT);
        CHECK_FAILS(mqtt_broker_options_add_bridge(opts, bridge), MQTT_STATUS_INVALID_ARGUMENT);
        CHECK_OK(mqtt_bridge_options_add_topic(bridge, "#", MQTT_BRIDGE_DIRECTION_BOTH, 1, NULL, NULL));
        CHECK_FAILS(mqtt_bridge_options_add_topic(bridge, "#", 9, 1, NULL, NULL),
                    MQTT_STATUS_INVALID_ARGUMENT);
        CHECK_FAILS(mqtt_bridge_options_add_topic(NULL, "#", 0, 1, NULL, NULL),
                    MQTT_STATUS_NULL_ARGUMENT);
        CHECK_OK(mqtt_bridge_options_add_address(bridge, "127.0.0.1", 1884));
        CHECK_FAILS(mqtt_bridge_options_add_address(bridge, NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
        CHECK_OK(mqtt_bridge_options_set_remote_client_id(bridge, "edge"));
        CHECK_FAILS(mqtt_bridge_options_set_remote_client_id(NULL, "x"), MQTT_STATUS_NULL_ARGUMENT);
        CHECK_OK(mqtt_bridge_options_set_credentials(bridge, "u", (const uint8_t *)"p", 1));
        CHECK_FAILS(mqtt_bridge_options_set_credentials(NULL, NULL, NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
        CHECK_OK(mqtt_bridge_options_set_protocol_level(bridge, 5));
        CHECK_FAILS(mqtt_bridge_options_set_protocol_level(bridge, 2), MQTT_STATUS_INVALID_ARGUMENT);
        CHECK_OK(mqtt_bridge_options_set_session(bridge, false, 30));
        CHECK_FAILS(mqtt_bridge_options_set_session(NULL, false, 30), MQTT_STATUS_NULL_ARGUMENT);
        CHECK_OK(mqtt_bridge_options_set_reconnect(bridge, 1000, 5000, true, MQTT_BRIDGE_START_AUTOMATIC, true));
        CHECK_FAILS(mqtt_bridge_options_set_reconnect(bridge, 0, 5, true, 0, true), MQTT_STATUS_INVALID_ARGUMENT);
        CHECK_OK(mqtt_bridge_options_set_try_private(bridge, false));
        CHECK_FAILS(mqtt_bridge_options_set_try_private(NULL, true), MQTT_STATUS_NULL_ARGUMENT);
        CHECK_OK(mqtt_bridge_options_set_tls(bridge, NULL, NULL, NULL, false));
        CHECK_FAILS(mqtt_bridge_options_set_tls(bridge, NULL, "c.pem", NULL, false), MQTT_STATUS_INVALID_ARGUMENT);
        CHECK_FAILS(mqtt_bridge_options_set_tls(NULL, NULL, NULL, NULL, false), MQTT_STATUS_NULL_ARGUMENT);
        CHECK_FAILS(mqtt_broker_options_add_bridge(NULL, bridge), MQTT_STATUS_NULL_ARGUMENT);
        CHECK_FAILS(mqtt_broker_options_add_bridge(opts, NULL), MQTT_STATUS_NULL_ARGUMENT);
        mqtt_bridge_options_free(bridge);
        mqtt_bridge_options_free(NULL);
        mqtt_bridge_status bridge_status;
        CHECK(mqtt_broker_bridge_count(NULL) == 0);
        CHECK_FAILS(mqtt_broker_bridge_status(NULL, 0, &bridge_status, NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
    }
    CHECK_FAILS(mqtt_broker_options_set_authenticator_ex(NULL, NULL, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_OK(mqtt_broker_options_set_persistence_sync(opts, 0));
    CHECK_OK(mqtt_broker_options_set_persistence_sync(opts, 500));
    CHECK_FAILS(mqtt_broker_options_set_persistence(NULL, "x.db"), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_persistence_sync(NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_broker_options_get_port(opts) == 1883);
    CHECK(mqtt_broker_options_get_port(NULL) == -1);
    CHECK(strcmp(mqtt_reason_code_str(0x8E), "session taken over") == 0);
    CHECK(strcmp(mqtt_reason_code_str(0x03), "unknown reason code") == 0);
    CHECK(strcmp(mqtt_reason_code_str(-1), "unknown reason code") == 0);

    /* Out-of-range values. */
    CHECK_FAILS(mqtt_broker_options_set_bind_address(opts, ""), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_bind_address(opts, "\xff\xfe"), MQTT_STATUS_INVALID_UTF8);
    CHECK_FAILS(mqtt_broker_options_set_max_connections(opts, 0), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_max_packet_size(opts, 15), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_max_packet_size(opts, 268435461u),
                MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_max_queued_messages(opts, 0), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_max_inflight_messages(opts, 0),
                MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_max_inflight_messages(opts, 65536),
                MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_connect_timeout_ms(opts, 0), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_thread_stack_size(opts, 1024), MQTT_STATUS_INVALID_ARGUMENT);

    /* NULL for every pointer parameter. */
    CHECK_FAILS(mqtt_broker_options_set_bind_address(NULL, "127.0.0.1"),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_bind_address(opts, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_max_connections(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_max_packet_size(NULL, 1024), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_max_queued_messages(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_max_inflight_messages(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_connect_timeout_ms(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_session_expiry_s(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_thread_stack_size(NULL, 65536), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_park_idle_after_ms(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_busy_poll_us(NULL, 1), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_authenticator(NULL, authenticate, NULL),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_authorizer(NULL, authorize, NULL),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_event_callback(NULL, on_broker_event, NULL),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_options_set_log_callback(NULL, MQTT_BROKER_LOG_TYPE_ALL, on_broker_log,
                                                     NULL),
                MQTT_STATUS_NULL_ARGUMENT);

    /* Listeners and their TLS options. */
    {
        mqtt_broker_tls_options *tls = mqtt_broker_tls_options_new();
        const char *origins[] = {"https://a.example"};
        char url[64];
        CHECK(tls != NULL);
        CHECK(mqtt_broker_options_listener_count(opts) == 0);
        CHECK_FAILS(mqtt_broker_options_add_listener(opts, 1, "127.0.0.1", 0, NULL),
                    MQTT_STATUS_NULL_ARGUMENT);
        CHECK_FAILS(mqtt_broker_options_add_listener(opts, 1, "127.0.0.1", 0, tls),
                    MQTT_STATUS_INVALID_ARGUMENT);
        CHECK_FAILS(mqtt_broker_options_add_listener(opts, 7, "127.0.0.1", 0, NULL),
                    MQTT_STATUS_INVALID_ARGUMENT);
        CHECK_FAILS(mqtt_broker_options_add_listener(opts, 0, NULL, 0, NULL),
                    MQTT_STATUS_NULL_ARGUMENT);
        CHECK_FAILS(mqtt_broker_options_add_listener(NULL, 0, "127.0.0.1", 0, NULL),
                    MQTT_STATUS_NULL_ARGUMENT);
        CHECK_FAILS(mqtt_broker_options_add_websocket_listener(opts, "127.0.0.1", 0, "/mqtt",
                                                               NULL, 1, NULL),
                    MQTT_STATUS_NULL_ARGUMENT);
        CHECK_FAILS(mqtt_broker_tls_options_set_certificate_files(tls, NULL, "k.pem"),
                    MQTT_STATUS_NULL_ARGUMENT);
        CHECK_FAILS(mqtt_broker_tls_options_set_certificate_pem(tls, NULL, 0, NULL, 0),
                    MQTT_STATUS_NULL_ARGUMENT);
        CHECK_FAILS(mqtt_broker_tls_options_set_client_certificates(tls, "ca.pem", 3, false),
                    MQTT_STATUS_INVALID_ARGUMENT);
        CHECK_FAILS(mqtt_broker_tls_options_set_client_certificates(tls, "ca.pem", 1, true),
                    MQTT_STATUS_INVALID_ARGUMENT);
        CHECK_FAILS(mqtt_broker_tls_options_set_client_certificates(tls, NULL, 2, false),
                    MQTT_STATUS_NULL_ARGUMENT);
        CHECK_FAILS(mqtt_broker_tls_options_set_min_version(tls, 11), MQTT_STATUS_INVALID_ARGUMENT);
        CHECK_FAILS(mqtt_broker_tls_options_set_min_version(NULL, 13), MQTT_STATUS_NULL_ARGUMENT);
        CHECK_OK(mqtt_broker_tls_options_set_min_version(tls, 13));
        CHECK_OK(mqtt_broker_options_add_listener(opts, 0, "127.0.0.1", 0, NULL));
        CHECK_OK(mqtt_broker_options_add_websocket_listener(opts, "127.0.0.1", 0, "/ws", origins,
                                                            1, NULL));
        CHECK(mqtt_broker_options_listener_count(opts) == 2);
        CHECK(mqtt_broker_listener_count(NULL) == 0);
        CHECK(mqtt_broker_listener_port(NULL, 0) == 0);
        CHECK_FAILS(mqtt_broker_listener_url(NULL, 0, url, sizeof url), MQTT_STATUS_NULL_ARGUMENT);
        CHECK_FAILS(mqtt_broker_reload_tls(NULL), MQTT_STATUS_NULL_ARGUMENT);
        mqtt_broker_tls_options_free(tls);
        mqtt_broker_tls_options_free(NULL);
    }
    mqtt_broker_options_free(opts);
    mqtt_broker_options_free(NULL);
}

/* ---- Broker life cycle and its error paths, without clients ---- */

static void check_broker_life_cycle(void) {
    mqtt_broker *broker;
    mqtt_broker *second;
    mqtt_broker_statistics stats;
    char port_text[16];
    uint16_t port;

    CHECK_NULL_WITH(mqtt_broker_new(NULL, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_NULL_WITH(mqtt_broker_new("not a port", NULL), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_NULL_WITH(mqtt_broker_new("70000", NULL), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_NULL_WITH(mqtt_broker_new("\xff", NULL), MQTT_STATUS_INVALID_UTF8);

    CHECK_FAILS(mqtt_broker_start(NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_broker_port(NULL) == 0);
    CHECK(mqtt_last_status() == MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_stop(NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_wait(NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_publish(NULL, "t", NULL, 0, 0, false), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_stats(NULL, &stats), MQTT_STATUS_NULL_ARGUMENT);
    mqtt_persistence_statistics persisted;
    CHECK_FAILS(mqtt_broker_persistence_stats(NULL, &persisted), MQTT_STATUS_NULL_ARGUMENT);
    mqtt_broker_free(NULL);

    /* Stop before start, wait while not running, then a stopped broker starts again. */
    broker = mqtt_broker_new("0", NULL);
    CHECK(broker != NULL);
    if (broker == NULL) {
        return;
    }
    CHECK(mqtt_broker_port(broker) == 0);
    CHECK_FAILS(mqtt_broker_stats(broker, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_persistence_stats(broker, NULL), MQTT_STATUS_NULL_ARGUMENT);
    /* Without a persistence file there is nothing to report. */
    CHECK_FAILS(mqtt_broker_persistence_stats(broker, &persisted), MQTT_STATUS_INVALID_STATE);
    /* Without password or ACL files, a reload has nothing to read. */
    CHECK_OK(mqtt_broker_reload(broker));
    /* Publishing into a broker that is not running is allowed. */
    CHECK_OK(mqtt_broker_publish(broker, "idle/topic", (const uint8_t *)"x", 1, 1, true));
    CHECK_OK(mqtt_broker_stats(broker, &stats));
    CHECK(stats.retained_messages == 1);
    CHECK(stats.clients_connected == 0);
    /* In-process subscriptions work before start too; the retained message arrives at once. */
    CHECK_FAILS(mqtt_broker_subscribe(NULL, "idle/#", 1, host_message, &host_received),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_subscribe(broker, NULL, 1, host_message, &host_received),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_subscribe(broker, "idle/#", 1, NULL, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_subscribe(broker, "idle/#", 3, host_message, &host_received),
                MQTT_STATUS_INVALID_QOS);
    CHECK_FAILS(mqtt_broker_subscribe(broker, "a/#/b", 1, host_message, &host_received),
                MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_broker_subscribe(broker, "$share/g/a", 1, host_message, &host_received),
                MQTT_STATUS_INVALID_TOPIC);
    CHECK_OK(mqtt_broker_subscribe(broker, "idle/#", 1, host_message, &host_received));
    CHECK_OK(mqtt_broker_subscribe(broker, "other", 0, host_message, &host_received));
    CHECK_OK(mqtt_broker_unsubscribe(broker, "other"));
    CHECK_FAILS(mqtt_broker_unsubscribe(broker, "other"), MQTT_STATUS_NOT_FOUND);
    CHECK_FAILS(mqtt_broker_unsubscribe(NULL, "other"), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_unsubscribe(broker, NULL), MQTT_STATUS_NULL_ARGUMENT);
    for (int waited = 0; waited < 20000 && host_seen() == 0; waited += 10) {
        sleep_ms(10);
    }
    CHECK(host_seen() == 1);
    CHECK_OK(mqtt_broker_stop(broker));
    CHECK_OK(mqtt_broker_stop(broker));
    CHECK_OK(mqtt_broker_wait(broker));
    /* A stopped broker starts again, on a port of its own choosing again. */
    CHECK_OK(mqtt_broker_start(broker));
    CHECK(mqtt_broker_port(broker) != 0);
    CHECK_OK(mqtt_broker_stop(broker));
    mqtt_broker_free(broker);

    /* Start, start again, a second broker on the same port, double stop, wait after stop. */
    broker = mqtt_broker_new("0", NULL);
    CHECK(broker != NULL);
    if (broker == NULL) {
        return;
    }
    CHECK_OK(mqtt_broker_start(broker));
    port = mqtt_broker_port(broker);
    CHECK(port != 0);
    CHECK_FAILS(mqtt_broker_start(broker), MQTT_STATUS_ALREADY_RUNNING);
    /* Redirecting needs both strings and a connected client. */
    CHECK_FAILS(mqtt_broker_redirect_client(broker, NULL, "elsewhere", true),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_redirect_client(broker, "nobody", NULL, true),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_redirect_client(broker, "nobody", "elsewhere", true),
                MQTT_STATUS_NOT_FOUND);
    snprintf(port_text, sizeof port_text, "%u", (unsigned)port);
    {
        /* The one listener, as a URL. */
        char url[64], expected[64], tiny[8];
        snprintf(expected, sizeof expected, "mqtt://127.0.0.1:%u", (unsigned)port);
        CHECK(mqtt_broker_listener_count(broker) == 1);
        CHECK(mqtt_broker_listener_port(broker, 0) == port);
        CHECK(mqtt_broker_listener_port(broker, 1) == 0);
        CHECK_OK(mqtt_broker_listener_url(broker, 0, url, sizeof url));
        CHECK(strcmp(url, expected) == 0);
        CHECK_FAILS(mqtt_broker_listener_url(broker, 1, url, sizeof url), MQTT_STATUS_NOT_FOUND);
        CHECK_FAILS(mqtt_broker_listener_url(broker, 0, tiny, sizeof tiny), MQTT_STATUS_TOO_LARGE);
        CHECK_FAILS(mqtt_broker_listener_url(broker, 0, NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
        CHECK_OK(mqtt_broker_reload_tls(broker));
    }
    second = mqtt_broker_new(port_text, NULL);
    CHECK(second != NULL);
    if (second != NULL) {
        CHECK_FAILS(mqtt_broker_start(second), MQTT_STATUS_ADDRESS_IN_USE);
        mqtt_broker_free(second);
    }
    /* Invalid arguments to a running broker's publish. */
    CHECK_FAILS(mqtt_broker_publish(broker, NULL, NULL, 0, 0, false), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_publish(broker, "t", NULL, 3, 0, false), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_broker_publish(broker, "t", NULL, 0, 3, false), MQTT_STATUS_INVALID_QOS);
    CHECK_FAILS(mqtt_broker_publish(broker, "t", NULL, 0, -1, false), MQTT_STATUS_INVALID_QOS);
    CHECK_FAILS(mqtt_broker_publish(broker, "a/+", NULL, 0, 0, false), MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_broker_publish(broker, "a/#", NULL, 0, 0, false), MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_broker_publish(broker, "", NULL, 0, 0, false), MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_broker_publish(broker, "\xc3\x28", NULL, 0, 0, false),
                MQTT_STATUS_INVALID_UTF8);
    CHECK_OK(mqtt_broker_stop(broker));
    CHECK(mqtt_broker_port(broker) == port); /* stays valid after stop */
    CHECK_OK(mqtt_broker_stop(broker));
    CHECK_OK(mqtt_broker_wait(broker));
    mqtt_broker_free(broker);

    /* Free while running stops it. */
    broker = mqtt_broker_new("0", NULL);
    CHECK(broker != NULL);
    if (broker != NULL) {
        CHECK_OK(mqtt_broker_start(broker));
        mqtt_broker_free(broker);
    }
}

/* ---- Connect options ---- */

static void check_connect_options(void) {
    mqtt_connect_options *opts = mqtt_connect_options_new();
    CHECK(opts != NULL);
    if (opts == NULL) {
        return;
    }
    CHECK_OK(mqtt_connect_options_set_client_id(opts, "options-check"));
    CHECK_OK(mqtt_connect_options_set_client_id(opts, NULL)); /* back to generated */
    CHECK_OK(mqtt_connect_options_set_client_id(opts, ""));
    CHECK_OK(mqtt_connect_options_set_clean_session(opts, false));
    CHECK_OK(mqtt_connect_options_set_keep_alive(opts, 0));
    CHECK_OK(mqtt_connect_options_set_keep_alive(opts, 65535));
    CHECK_OK(mqtt_connect_options_set_username(opts, "user"));
    CHECK_OK(mqtt_connect_options_set_password(opts, secret, sizeof secret));
    CHECK_OK(mqtt_connect_options_set_password(opts, NULL, 0));
    CHECK_OK(mqtt_connect_options_set_username(opts, NULL));
    CHECK_OK(mqtt_connect_options_set_will(opts, "will/topic", (const uint8_t *)"bye", 3, 2, true));
    CHECK_OK(mqtt_connect_options_set_will(opts, "will/topic", NULL, 0, 0, false));
    CHECK_OK(mqtt_connect_options_set_will(opts, NULL, NULL, 0, 0, false));
    CHECK_OK(mqtt_connect_options_set_connect_timeout(opts, 1000));
    CHECK_OK(mqtt_connect_options_set_operation_timeout(opts, 1000));
    CHECK_OK(mqtt_connect_options_set_protocol_level(opts, 3));
    CHECK_OK(mqtt_connect_options_set_protocol_level(opts, 4));
    CHECK_OK(mqtt_connect_options_set_max_inflight(opts, 1));
    CHECK_OK(mqtt_connect_options_set_max_inflight(opts, 65535));

    CHECK_FAILS(mqtt_connect_options_set_client_id(opts, "\xff"), MQTT_STATUS_INVALID_UTF8);
    CHECK_FAILS(mqtt_connect_options_set_keep_alive(opts, -1), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_keep_alive(opts, 65536), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_will(opts, "w", NULL, 0, 3, false), MQTT_STATUS_INVALID_QOS);
    CHECK_FAILS(mqtt_connect_options_set_will(opts, "w", NULL, 0, -1, false),
                MQTT_STATUS_INVALID_QOS);
    CHECK_FAILS(mqtt_connect_options_set_will(opts, "w/#", NULL, 0, 0, false),
                MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_connect_options_set_will(opts, "", NULL, 0, 0, false),
                MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_connect_options_set_will(opts, "w", NULL, 2, 0, false),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_connect_timeout(opts, 0), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_connect_timeout(opts, -5), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_operation_timeout(opts, 0), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_protocol_level(opts, 6), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_protocol_level(opts, 2), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_max_inflight(opts, 0), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_max_inflight(opts, 65536), MQTT_STATUS_INVALID_ARGUMENT);

    CHECK_FAILS(mqtt_connect_options_set_client_id(NULL, "x"), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_clean_session(NULL, true), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_keep_alive(NULL, 10), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_username(NULL, "u"), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_password(NULL, secret, sizeof secret),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_will(NULL, "w", NULL, 0, 0, false),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_connect_timeout(NULL, 1000), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_operation_timeout(NULL, 1000), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_protocol_level(NULL, 4), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_max_inflight(NULL, 10), MQTT_STATUS_NULL_ARGUMENT);

    /* TLS: the setters check their arguments (the files are read only at connect time). */
    CHECK_OK(mqtt_connect_options_set_tls(opts, NULL, NULL, NULL));
    CHECK_OK(mqtt_connect_options_set_tls(opts, "ca.pem", "client.pem", "client.key"));
    CHECK_OK(mqtt_connect_options_set_tls_insecure(opts, true));
    CHECK_OK(mqtt_connect_options_set_tls_insecure(opts, false));
    CHECK_OK(mqtt_connect_options_set_tls_server_name(opts, "broker.example"));
    CHECK_OK(mqtt_connect_options_set_tls_server_name(opts, "127.0.0.1"));
    CHECK_OK(mqtt_connect_options_set_tls_server_name(opts, NULL));
    CHECK_FAILS(mqtt_connect_options_set_tls(opts, NULL, "client.pem", NULL),
                MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_tls(opts, NULL, NULL, "client.key"),
                MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_tls(opts, "", NULL, NULL), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_tls(opts, "\xff", NULL, NULL), MQTT_STATUS_INVALID_UTF8);
    CHECK_FAILS(mqtt_connect_options_set_tls(opts, NULL, "\xff", "k"), MQTT_STATUS_INVALID_UTF8);
    CHECK_FAILS(mqtt_connect_options_set_tls_server_name(opts, "not a name!"),
                MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_tls_server_name(opts, "\xff"), MQTT_STATUS_INVALID_UTF8);
    CHECK_FAILS(mqtt_connect_options_set_tls(NULL, NULL, NULL, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_tls_insecure(NULL, true), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_tls_min_version(NULL, 12), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_tls_min_version(opts, 14), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_options_set_tls_server_name(NULL, "x"), MQTT_STATUS_NULL_ARGUMENT);

    /* URLs are checked before any connection is tried; mqtt:// refuses TLS settings. */
    CHECK_NULL_WITH(mqtt_connect_url(NULL, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_NULL_WITH(mqtt_connect_url("\xff", NULL), MQTT_STATUS_INVALID_UTF8);
    CHECK_NULL_WITH(mqtt_connect_url("localhost:1883", NULL), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_NULL_WITH(mqtt_connect_url("mqtt://", NULL), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_NULL_WITH(mqtt_connect_url("mqtt://localhost:0", NULL), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_NULL_WITH(mqtt_connect_url("mqtt://localhost/topic", NULL),
                    MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_NULL_WITH(mqtt_connect_url("http://localhost/mqtt", NULL), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_NULL_WITH(mqtt_connect_url("wss://localhost/mqtt", opts), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_NULL_WITH(mqtt_connect_url("mqtt://127.0.0.1:1", opts), MQTT_STATUS_INVALID_ARGUMENT);
    /* The CA file cannot be read: a TLS failure, before any connection is tried. */
    CHECK_OK(mqtt_connect_options_set_client_id(opts, NULL)); /* else the empty id fails first */
    CHECK_OK(mqtt_connect_options_set_tls(opts, "/nonexistent/ca.pem", NULL, NULL));
    CHECK_NULL_WITH(mqtt_connect_url("mqtts://127.0.0.1:1", opts), MQTT_STATUS_TLS);
    CHECK_NULL_WITH(mqtt_connect("127.0.0.1", "1", opts), MQTT_STATUS_TLS);
    mqtt_connect_options_free(opts);
    mqtt_connect_options_free(NULL);
}

/* Every client call with a NULL connection or NULL string/out arguments. */
static void check_client_null_arguments(const mqtt_connection *conn) {
    inbox unused;
    uint16_t id = 0;
    int granted = 0;
    CHECK_FAILS(mqtt_subscribe(NULL, "a", 0, on_message, &unused, &granted),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_subscribe(conn, NULL, 0, on_message, &unused, &granted),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_subscribe(conn, "a", 0, NULL, &unused, &granted), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_unsubscribe(NULL, "a"), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_unsubscribe(conn, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_publish(NULL, "a", NULL, 0, 0, false), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_publish(conn, NULL, NULL, 0, 0, false), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_publish(conn, "a", NULL, 1, 0, false), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_publish_async(NULL, "a", NULL, 0, 1, false, &id), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_publish_async(conn, NULL, NULL, 0, 1, false, &id), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_publish_async(conn, "a", NULL, 1, 1, false, &id), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_wait_published(NULL, 1, 100), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_receive_message(NULL, 100), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_ping(NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_loop_start(NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_loop_stop(NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_disconnect(NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_reconnect(NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connection_set_on_published(NULL, on_published, NULL),
                MQTT_STATUS_NULL_ARGUMENT);
    CHECK(!mqtt_connection_is_connected(NULL));
    CHECK(mqtt_connection_client_id(NULL) == NULL);
    mqtt_connection_free(NULL);

    /* Invalid QoS values and topics on a live connection. */
    CHECK_FAILS(mqtt_subscribe(conn, "a", 3, on_message, &unused, &granted), MQTT_STATUS_INVALID_QOS);
    CHECK_FAILS(mqtt_subscribe(conn, "a", -1, on_message, &unused, &granted),
                MQTT_STATUS_INVALID_QOS);
    CHECK_FAILS(mqtt_subscribe(conn, "a/#/b", 0, on_message, &unused, &granted),
                MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_subscribe(conn, "a+", 0, on_message, &unused, &granted),
                MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_subscribe(conn, "", 0, on_message, &unused, &granted),
                MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_unsubscribe(conn, "a/#/b"), MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_publish(conn, "a", NULL, 0, 3, false), MQTT_STATUS_INVALID_QOS);
    CHECK_FAILS(mqtt_publish(conn, "a", NULL, 0, 100000, false), MQTT_STATUS_INVALID_QOS);
    CHECK_FAILS(mqtt_publish(conn, "a/+", NULL, 0, 0, false), MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_publish(conn, "", NULL, 0, 0, false), MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_publish(conn, "\xc3\x28", NULL, 0, 0, false), MQTT_STATUS_INVALID_UTF8);
    CHECK_FAILS(mqtt_publish_async(conn, "a", NULL, 0, 3, false, &id), MQTT_STATUS_INVALID_QOS);
    CHECK_FAILS(mqtt_publish_async(conn, "#", NULL, 0, 1, false, &id), MQTT_STATUS_INVALID_TOPIC);
    CHECK_FAILS(mqtt_wait_published(conn, 0, 100), MQTT_STATUS_INVALID_ARGUMENT);
}

static mqtt_connect_options *client_options(const char *client_id, bool with_credentials) {
    mqtt_connect_options *opts = mqtt_connect_options_new();
    CHECK(opts != NULL);
    if (opts == NULL) {
        return NULL;
    }
    CHECK_OK(mqtt_connect_options_set_client_id(opts, client_id));
    CHECK_OK(mqtt_connect_options_set_keep_alive(opts, 60));
    CHECK_OK(mqtt_connect_options_set_connect_timeout(opts, OPERATION_TIMEOUT_MS));
    CHECK_OK(mqtt_connect_options_set_operation_timeout(opts, OPERATION_TIMEOUT_MS));
    if (with_credentials) {
        CHECK_OK(mqtt_connect_options_set_username(opts, "alice"));
        CHECK_OK(mqtt_connect_options_set_password(opts, secret, sizeof secret));
    }
    return opts;
}

/* Refusals: bad password, NOT_AUTHORIZED, an out-of-range verdict, password without user name,
 * bad host and port arguments, a port nobody listens on. */
static void check_connect_failures(const char *port, const char *closed_port) {
    mqtt_connect_options *opts = client_options("refused", false);
    mqtt_connection *conn = NULL;
    static const uint8_t wrong[] = {'w', 'r', 'o', 'n', 'g'};
    if (opts == NULL) {
        return;
    }
    CHECK_OK(mqtt_connect_options_set_username(opts, "alice"));
    CHECK_OK(mqtt_connect_options_set_password(opts, wrong, sizeof wrong));
    CHECK_NULL_WITH(mqtt_connect("127.0.0.1", port, opts), MQTT_STATUS_REFUSED_BAD_CREDENTIALS);
    CHECK_FAILS(mqtt_connect_ex("127.0.0.1", port, opts, &conn),
                MQTT_STATUS_REFUSED_BAD_CREDENTIALS);
    CHECK(conn == NULL); /* left untouched on failure */
    CHECK_OK(mqtt_connect_options_set_username(opts, "mallory"));
    CHECK_NULL_WITH(mqtt_connect("127.0.0.1", port, opts), MQTT_STATUS_REFUSED_NOT_AUTHORIZED);
    CHECK_OK(mqtt_connect_options_set_username(opts, "confused"));
    CHECK_NULL_WITH(mqtt_connect("127.0.0.1", port, opts), MQTT_STATUS_REFUSED_NOT_AUTHORIZED);
    /* A password needs a user name [MQTT-3.1.2-22]: refused before anything is sent. */
    CHECK_OK(mqtt_connect_options_set_username(opts, NULL));
    CHECK_OK(mqtt_connect_options_set_password(opts, secret, sizeof secret));
    CHECK_NULL_WITH(mqtt_connect("127.0.0.1", port, opts), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_OK(mqtt_connect_options_set_password(opts, NULL, 0));
    /* An empty client id needs clean session [MQTT-3.1.3-7]: refused before anything is sent
     * (the broker's own 0x02 answer, [MQTT-3.1.3-8], is tested over raw sockets). */
    CHECK_OK(mqtt_connect_options_set_client_id(opts, ""));
    CHECK_OK(mqtt_connect_options_set_clean_session(opts, false));
    CHECK_NULL_WITH(mqtt_connect("127.0.0.1", port, opts), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_OK(mqtt_connect_options_set_clean_session(opts, true));

    CHECK_NULL_WITH(mqtt_connect(NULL, port, opts), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_NULL_WITH(mqtt_connect("127.0.0.1", NULL, opts), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_NULL_WITH(mqtt_connect("127.0.0.1", "0", opts), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_NULL_WITH(mqtt_connect("127.0.0.1", "port", opts), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(mqtt_connect_ex("127.0.0.1", port, opts, NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK_FAILS(mqtt_connect_ex(NULL, port, opts, &conn), MQTT_STATUS_NULL_ARGUMENT);

    /* Nobody listens there any more. */
    CHECK_OK(mqtt_connect_options_set_connect_timeout(opts, 5000));
    CHECK_NULL_WITH(mqtt_connect("127.0.0.1", closed_port, opts), MQTT_STATUS_IO);
    mqtt_connect_options_free(opts);
}

/* A port that was listening a moment ago and is closed now. */
static void closed_port(char *out, size_t size) {
    mqtt_broker *broker = mqtt_broker_new("0", NULL);
    out[0] = '\0';
    CHECK(broker != NULL);
    if (broker == NULL) {
        return;
    }
    CHECK_OK(mqtt_broker_start(broker));
    snprintf(out, size, "%u", (unsigned)mqtt_broker_port(broker));
    mqtt_broker_free(broker);
}

/* ---- The whole round trip through a broker with all three callbacks ---- */

static void check_round_trip(void) {
    static broker_log log;
    static inbox sub_inbox;
    static inbox refused_inbox;
    static completions done;
    mqtt_broker_options *broker_opts;
    mqtt_broker *broker;
    mqtt_broker_statistics stats;
    mqtt_connect_options *sub_opts;
    mqtt_connect_options *pub_opts;
    mqtt_connection *sub = NULL;
    mqtt_connection *pub = NULL;
    char port[16];
    char closed[16];
    int granted = -1;
    uint16_t id1 = 0, id2 = 0, id0 = 99;
    int expected;

    pthread_mutex_init(&log.lock, NULL);
    pthread_mutex_init(&sub_inbox.lock, NULL);
    pthread_mutex_init(&refused_inbox.lock, NULL);
    pthread_mutex_init(&done.lock, NULL);

    broker_opts = mqtt_broker_options_new();
    CHECK(broker_opts != NULL);
    if (broker_opts == NULL) {
        return;
    }
    CHECK_OK(mqtt_broker_options_set_bind_address(broker_opts, "127.0.0.1"));
    CHECK_OK(mqtt_broker_options_set_max_connections(broker_opts, 16));
    CHECK_OK(mqtt_broker_options_set_max_packet_size(broker_opts, 64 * 1024));
    CHECK_OK(mqtt_broker_options_set_max_queued_messages(broker_opts, 100));
    CHECK_OK(mqtt_broker_options_set_max_inflight_messages(broker_opts, 20));
    CHECK_OK(mqtt_broker_options_set_connect_timeout_ms(broker_opts, OPERATION_TIMEOUT_MS));
    CHECK_OK(mqtt_broker_options_set_session_expiry_s(broker_opts, 0));
    CHECK_OK(mqtt_broker_options_set_thread_stack_size(broker_opts, 256 * 1024));
    CHECK_OK(mqtt_broker_options_set_park_idle_after_ms(broker_opts, 200));
    CHECK_OK(mqtt_broker_options_set_authenticator(broker_opts, authenticate, &log));
    CHECK_OK(mqtt_broker_options_set_authorizer(broker_opts, authorize, &log));
    CHECK_OK(mqtt_broker_options_set_event_callback(broker_opts, on_broker_event, &log));
    CHECK_OK(mqtt_broker_options_set_log_callback(
        broker_opts, MQTT_BROKER_LOG_TYPE_NOTICE | MQTT_BROKER_LOG_TYPE_SUBSCRIBE, on_broker_log,
        &log));
    broker = mqtt_broker_new("0", broker_opts);
    /* The broker holds a copy: the options may go at once. */
    mqtt_broker_options_free(broker_opts);
    CHECK(broker != NULL);
    if (broker == NULL) {
        return;
    }
    pthread_mutex_lock(&log.lock);
    log.broker = broker;
    pthread_mutex_unlock(&log.lock);
    CHECK_OK(mqtt_broker_start(broker));
    snprintf(port, sizeof port, "%u", (unsigned)mqtt_broker_port(broker));
    closed_port(closed, sizeof closed);

    check_connect_failures(port, closed);
    CHECK(log_read(&log, &log.authentications) >= 4);

    /* The subscriber: MQTT 3.1.1, credentials, connected through mqtt_connect_ex. */
    sub_opts = client_options("api-all-sub", true);
    if (sub_opts == NULL) {
        mqtt_broker_free(broker);
        return;
    }
    CHECK_OK(mqtt_connect_options_set_protocol_level(sub_opts, 4));
    CHECK_OK(mqtt_connect_options_set_max_inflight(sub_opts, 8));
    CHECK_OK(mqtt_connect_ex("127.0.0.1", port, sub_opts, &sub));
    mqtt_connect_options_free(sub_opts);
    CHECK(sub != NULL);

    /* The publisher: MQTT 3.1, no credentials, a will, through mqtt_connect. */
    pub_opts = client_options("api-all-pub", false);
    if (pub_opts != NULL) {
        CHECK_OK(mqtt_connect_options_set_protocol_level(pub_opts, 3));
        CHECK_OK(mqtt_connect_options_set_clean_session(pub_opts, true));
        CHECK_OK(mqtt_connect_options_set_will(pub_opts, "api/will", (const uint8_t *)"gone", 4,
                                               1, false));
        pub = mqtt_connect("127.0.0.1", port, pub_opts);
        CHECK(pub != NULL);
        mqtt_connect_options_free(pub_opts);
    }
    if (sub == NULL || pub == NULL) {
        mqtt_connection_free(sub);
        mqtt_connection_free(pub);
        mqtt_broker_free(broker);
        return;
    }
    CHECK(mqtt_connection_is_connected(sub));
    CHECK(strcmp(mqtt_connection_client_id(sub), "api-all-sub") == 0);
    CHECK(strcmp(mqtt_connection_client_id(pub), "api-all-pub") == 0);
    CHECK(log_read(&log, &log.connects) == 2);
    pthread_mutex_lock(&log.lock);
    CHECK(log.saw_null_username);
    pthread_mutex_unlock(&log.lock);

    check_client_null_arguments(pub);

    /* Subscriptions: granted, refused by the authorizer. */
    CHECK_OK(mqtt_subscribe(sub, "api/#", 2, on_message, &sub_inbox, &granted));
    CHECK(granted == 2);
    CHECK_OK(mqtt_subscribe(sub, "api/qos0/only", 0, on_message, &sub_inbox, NULL));
    granted = -1;
    CHECK_FAILS(mqtt_subscribe(sub, "forbidden/#", 1, on_message, &refused_inbox, &granted),
                MQTT_STATUS_SUBSCRIBE_FAILED);
    CHECK(granted == -1); /* written only on success */
    /* The log callback: one line per connect and per granted filter, nothing of other types. */
    CHECK(log_read(&log, &log.connect_lines) == 2);
    CHECK(log_read(&log, &log.subscribe_lines) == 2);
    CHECK(log_read(&log, &log.other_lines) == 0);

    /* Blocking publishes at QoS 0, 1 and 2, received by mqtt_receive_message. */
    CHECK_OK(mqtt_publish(pub, "api/a", (const uint8_t *)"zero", 4, 0, false));
    CHECK_OK(mqtt_publish(pub, "api/a", (const uint8_t *)"one", 3, 1, false));
    CHECK_OK(mqtt_publish(pub, "api/a", (const uint8_t *)"two", 3, 2, false));
    CHECK_OK(mqtt_publish(pub, "api/empty", NULL, 0, 1, false));
    /* The authorizer drops this one after acknowledging it [MQTT-3.3.5-2]. */
    CHECK_OK(mqtt_publish(pub, "forbidden/x", (const uint8_t *)"no", 2, 1, false));
    CHECK(receive_until(sub, &sub_inbox, 4));
    CHECK(strcmp(sub_inbox.last_topic, "api/empty") == 0 && sub_inbox.last_len == 0);
    CHECK_FAILS(mqtt_receive_message(sub, 100), MQTT_STATUS_TIMEOUT);
    CHECK(inbox_count(&sub_inbox) == 4);
    CHECK(inbox_count(&refused_inbox) == 0);

    /* Asynchronous publishes with a completion callback. */
    CHECK_OK(mqtt_connection_set_on_published(pub, on_published, &done));
    CHECK_OK(mqtt_publish_async(pub, "api/async", (const uint8_t *)"a1", 2, 1, false, &id1));
    CHECK_OK(mqtt_publish_async(pub, "api/async", (const uint8_t *)"a2", 2, 2, true, &id2));
    CHECK_OK(mqtt_publish_async(pub, "api/async", (const uint8_t *)"a0", 2, 0, false, &id0));
    CHECK_OK(mqtt_publish_async(pub, "api/async", (const uint8_t *)"ax", 2, 1, false, NULL));
    CHECK(id1 != 0 && id2 != 0 && id1 != id2 && id0 == 0);
    CHECK_OK(mqtt_wait_published(pub, id1, WAIT_MS));
    CHECK_OK(mqtt_wait_published(pub, id2, WAIT_MS));
    CHECK_OK(mqtt_ping(pub)); /* reads any acknowledgement still owed */
    pthread_mutex_lock(&done.lock);
    CHECK(done.ok == 3 && done.other == 0);
    pthread_mutex_unlock(&done.lock);
    CHECK_OK(mqtt_connection_set_on_published(pub, NULL, NULL));
    CHECK(receive_until(sub, &sub_inbox, 8));

    /* The loop thread receives while this thread publishes; the broker publishes too. */
    CHECK_OK(mqtt_loop_start(sub));
    CHECK_FAILS(mqtt_loop_start(sub), MQTT_STATUS_ALREADY_RUNNING);
    CHECK_OK(mqtt_publish(pub, "api/loop", (const uint8_t *)"l1", 2, 2, false));
    CHECK_OK(mqtt_broker_publish(broker, "api/host", (const uint8_t *)"from host", 9, 1, true));
    CHECK(loop_delivers(&sub_inbox, 10));
    CHECK_OK(mqtt_ping(sub));
    CHECK_OK(mqtt_loop_stop(sub));
    CHECK_OK(mqtt_loop_stop(sub)); /* nothing runs: does nothing */

    CHECK_OK(mqtt_broker_stats(broker, &stats));
    CHECK(stats.clients_connected == 2);
    CHECK(stats.connections_accepted >= 6); /* 4 refused by the callbacks, sub, pub */
    CHECK(stats.sessions >= 2);
    CHECK(stats.subscriptions == 2);
    CHECK(stats.retained_messages == 2); /* api/async and api/host */
    CHECK(stats.messages_received >= 10);
    CHECK(stats.messages_sent >= 10);
    CHECK(stats.tls_handshakes_failed == 0); /* no TLS listener */
    CHECK(stats.websocket_refused == 0);     /* no WebSocket listener */
    CHECK_OK(mqtt_broker_publish(broker, "api/host", NULL, 0, 0, true)); /* clears it */
    CHECK(receive_until(sub, &sub_inbox, 11));
    CHECK_OK(mqtt_broker_stats(broker, &stats));
    CHECK(stats.retained_messages == 1);

    /* Unsubscribe: nothing more on api/# (api/qos0/only still matches its own filter). */
    CHECK_OK(mqtt_unsubscribe(sub, "api/#"));
    CHECK_OK(mqtt_publish(pub, "api/after", (const uint8_t *)"x", 1, 1, false));
    CHECK_FAILS(mqtt_receive_message(sub, 300), MQTT_STATUS_TIMEOUT);
    CHECK(inbox_count(&sub_inbox) == 11);
    CHECK_OK(mqtt_subscribe(sub, "api/#", 1, on_message, &sub_inbox, &granted));
    CHECK(granted == 1);
    /* Subscribing again brings the retained api/async message [MQTT-3.3.1-6]. */
    CHECK(receive_until(sub, &sub_inbox, 12));
    CHECK(strcmp(sub_inbox.last_topic, "api/async") == 0 && sub_inbox.last_retain);

    /* Disconnect, use after disconnect, disconnect again, reconnect. The reconnect waits until
     * the broker has seen the DISCONNECT: a reconnect racing it counts as a takeover, which
     * publishes the will (see tests/broker/will.rs). */
    expected = log_read(&log, &log.disconnects) + 1;
    CHECK_OK(mqtt_disconnect(pub));
    CHECK(broker_saw_disconnects(&log, expected));
    CHECK(!mqtt_connection_is_connected(pub));
    CHECK_OK(mqtt_disconnect(pub));
    CHECK_FAILS(mqtt_publish(pub, "api/a", (const uint8_t *)"late", 4, 1, false),
                MQTT_STATUS_CLOSED);
    CHECK_FAILS(mqtt_ping(pub), MQTT_STATUS_CLOSED);
    CHECK_FAILS(mqtt_loop_start(pub), MQTT_STATUS_CLOSED);
    CHECK_OK(mqtt_reconnect(pub));
    CHECK(mqtt_connection_is_connected(pub));
    CHECK_OK(mqtt_publish(pub, "api/again", (const uint8_t *)"back", 4, 2, false));
    CHECK(receive_until(sub, &sub_inbox, 13));
    CHECK(strcmp(sub_inbox.last_payload, "back") == 0);

    /* Free while connected: no DISCONNECT, so the broker publishes the will. */
    expected = inbox_count(&sub_inbox) + 1;
    mqtt_connection_free(pub);
    pub = NULL;
    CHECK(receive_until(sub, &sub_inbox, expected));
    CHECK(sub_inbox.will_count == 1);

    /* Stop with a client attached: the client sees the connection end. */
    CHECK_OK(mqtt_loop_start(sub));
    CHECK_OK(mqtt_broker_stop(broker));
    CHECK_OK(mqtt_broker_stop(broker));
    CHECK_OK(mqtt_broker_wait(broker));
    {
        long deadline = now_ms() + WAIT_MS;
        while (mqtt_connection_is_connected(sub) && now_ms() < deadline) {
            sleep_ms(10);
        }
    }
    CHECK(!mqtt_connection_is_connected(sub));
    CHECK_FAILS(mqtt_ping(sub), MQTT_STATUS_CLOSED);
    CHECK(log_read(&log, &log.connects) >= 3);
    CHECK(log_read(&log, &log.disconnects) == log_read(&log, &log.connects));
    CHECK(log_read(&log, &log.reason_count[MQTT_DISCONNECT_REASON_CLIENT_DISCONNECTED]) >= 1);
    CHECK(log_read(&log, &log.reason_count[MQTT_DISCONNECT_REASON_CONNECTION_LOST]) >= 1);
    CHECK(log_read(&log, &log.reason_count[MQTT_DISCONNECT_REASON_BROKER_STOPPING]) >= 1);
    CHECK(log_read(&log, &log.stats_from_callback) >= 1);
    CHECK(log_read(&log, &log.authorizations) >= 1);
    pthread_mutex_lock(&sub_inbox.lock);
    CHECK(!sub_inbox.bad_message);
    pthread_mutex_unlock(&sub_inbox.lock);
    mqtt_connection_free(sub);
    mqtt_broker_free(broker);

    pthread_mutex_destroy(&log.lock);
    pthread_mutex_destroy(&sub_inbox.lock);
    pthread_mutex_destroy(&refused_inbox.lock);
    pthread_mutex_destroy(&done.lock);
}

/* A message callback that publishes on its own connection, at QoS 1, which waits for PUBACK
 * from inside the callback — allowed by the header, and a nested path worth checking. */
typedef struct {
    pthread_mutex_t lock;
    const mqtt_connection *conn;
    int echoed;
    bool failed;
} echo_ctx;

static void echo(void *userdata, const mqtt_message *message) {
    echo_ctx *ctx = userdata;
    mqtt_status status =
        mqtt_publish(ctx->conn, "echo/out", message->payload, message->payload_len, 1, false);
    pthread_mutex_lock(&ctx->lock);
    if (status == MQTT_STATUS_OK) {
        ctx->echoed++;
    } else {
        ctx->failed = true;
    }
    pthread_mutex_unlock(&ctx->lock);
}

/* Free a connection whose loop thread runs, and free a broker with that client attached. */
static void check_free_while_busy(void) {
    static inbox box;
    static inbox echoes;
    static echo_ctx ctx;
    mqtt_broker *broker = mqtt_broker_new("0", NULL);
    mqtt_connection *conn;
    mqtt_connection *orphan;
    char port[16];
    pthread_mutex_init(&box.lock, NULL);
    pthread_mutex_init(&echoes.lock, NULL);
    pthread_mutex_init(&ctx.lock, NULL);
    CHECK(broker != NULL);
    if (broker == NULL) {
        return;
    }
    CHECK_OK(mqtt_broker_start(broker));
    snprintf(port, sizeof port, "%u", (unsigned)mqtt_broker_port(broker));
    conn = mqtt_connect("127.0.0.1", port, NULL);
    orphan = mqtt_connect("127.0.0.1", port, NULL);
    CHECK(conn != NULL && orphan != NULL);
    if (conn != NULL) {
        CHECK(mqtt_connection_client_id(conn) != NULL && mqtt_connection_client_id(conn)[0] != '\0');
        ctx.conn = conn;
        CHECK_OK(mqtt_subscribe(conn, "busy/#", 1, on_message, &box, NULL));
        CHECK_OK(mqtt_subscribe(conn, "echo/in", 1, echo, &ctx, NULL));
        CHECK_OK(mqtt_subscribe(conn, "echo/out", 1, on_message, &echoes, NULL));
        CHECK_OK(mqtt_loop_start(conn));
        CHECK_OK(mqtt_broker_publish(broker, "busy/x", (const uint8_t *)"1", 1, 1, false));
        CHECK_OK(mqtt_broker_publish(broker, "echo/in", (const uint8_t *)"ping", 4, 2, false));
        CHECK(loop_delivers(&box, 1));
        CHECK(loop_delivers(&echoes, 1));
        pthread_mutex_lock(&ctx.lock);
        CHECK(ctx.echoed == 1 && !ctx.failed);
        pthread_mutex_unlock(&ctx.lock);
        pthread_mutex_lock(&echoes.lock);
        CHECK(strcmp(echoes.last_payload, "ping") == 0);
        pthread_mutex_unlock(&echoes.lock);
        mqtt_connection_free(conn);
    }
    /* The broker goes first; the orphaned client finds out when it next talks. */
    mqtt_broker_free(broker);
    if (orphan != NULL) {
        CHECK_FAILS(mqtt_ping(orphan), MQTT_STATUS_CLOSED);
        mqtt_connection_free(orphan);
    }
    pthread_mutex_destroy(&box.lock);
    pthread_mutex_destroy(&echoes.lock);
    pthread_mutex_destroy(&ctx.lock);
}

int main(void) {
    check_broker_options();
    check_broker_life_cycle();
    check_connect_options();
    check_round_trip();
    check_free_while_busy();
    if (failures != 0) {
        fprintf(stderr, "%d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("all %d checks passed\n", checks);
    return 0;
}
