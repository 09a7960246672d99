/* The client's lifecycle from C (issue 11):
 * - free functions and pure getters leave mqtt_last_status()/mqtt_last_error() alone, so the
 *   goto-cleanup pattern still reports the failure (defect 5);
 * - on_connect / on_disconnect / on_log fire with the right values across a broker restart;
 * - with automatic reconnects, publishing while disconnected returns MQTT_STATUS_QUEUED with a
 *   packet id that mqtt_wait_published completes after the reconnect (defect 3);
 * - the subscriptions made with mqtt_subscribe_many keep working after a clean-session
 *   reconnect (defect 2).
 *
 * Prints "all N checks passed" and exits 0 on success. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"


/* What the callbacks saw; they run on the loop thread. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int connects, disconnects, messages, logs;
static int last_code = -1, last_reason = -1;
static bool last_present = true, last_will_reconnect;

static void on_connect(void *userdata, bool session_present, int code) {
    (void)userdata;
    pthread_mutex_lock(&lock);
    ++connects;
    last_present = session_present;
    last_code = code;
    pthread_mutex_unlock(&lock);
}

static void on_disconnect(void *userdata, int reason, bool will_reconnect) {
    (void)userdata;
    pthread_mutex_lock(&lock);
    ++disconnects;
    last_reason = reason;
    last_will_reconnect = will_reconnect;
    pthread_mutex_unlock(&lock);
}

static void on_log(void *userdata, int level, const char *message) {
    (void)userdata;
    pthread_mutex_lock(&lock);
    logs += level >= MQTT_LOG_LEVEL_ERROR && level <= MQTT_LOG_LEVEL_DEBUG && message[0] != '\0';
    pthread_mutex_unlock(&lock);
}

static void on_message(void *userdata, const mqtt_message *msg) {
    (void)userdata;
    (void)msg;
    pthread_mutex_lock(&lock);
    ++messages;
    pthread_mutex_unlock(&lock);
}

static int read_counter(const int *counter) {
    pthread_mutex_lock(&lock);
    int value = *counter;
    pthread_mutex_unlock(&lock);
    return value;
}

/* Waits up to 5 s for *counter to reach at least n. */
static bool wait_for(const int *counter, int n) {
    for (int i = 0; i < 500; ++i) {
        if (read_counter(counter) >= n) return true;
        sleep_ms(10);
    }
    return false;
}

static bool last_error_is(mqtt_status status, const char *text) {
    return mqtt_last_status() == status && strcmp(mqtt_last_error(), text) == 0;
}

/* Defect 5: a failed connect, then the usual cleanup. */
static void cleanup_keeps_the_last_error(void) {
    char text[256];
    mqtt_connect_options *opts = mqtt_connect_options_new();
    mqtt_connection *conn = mqtt_connect("127.0.0.1", "1", opts); /* nothing listens on 1 */
    CHECK(conn == NULL);
    mqtt_status failure = mqtt_last_status();
    CHECK(failure != MQTT_STATUS_OK);
    snprintf(text, sizeof text, "%s", mqtt_last_error());
    CHECK(text[0] != '\0');

    mqtt_connect_options_free(opts);
    CHECK(last_error_is(failure, text));
    mqtt_connection_free(conn);
    CHECK(last_error_is(failure, text));
    CHECK(!mqtt_connection_is_connected(NULL));
    CHECK(last_error_is(failure, text));
    CHECK(mqtt_connection_client_id(NULL) == NULL);
    CHECK(last_error_is(failure, text));
    CHECK(!mqtt_connection_want_write(NULL));
    CHECK(last_error_is(failure, text));
    CHECK(mqtt_broker_port(NULL) == 0);
    CHECK(last_error_is(failure, text));
    mqtt_broker_free(NULL);
    mqtt_broker_options_free(NULL);
    CHECK(last_error_is(failure, text));
    CHECK(mqtt_status_str(failure)[0] != '\0' && mqtt_version()[0] != '\0');
    CHECK(last_error_is(failure, text));
    /* A fallible call still resets them. */
    CHECK(mqtt_topic_is_valid_name("a"));
    CHECK(mqtt_last_status() == MQTT_STATUS_OK && mqtt_last_error()[0] == '\0');
}

static mqtt_broker *start_broker(const char *port) {
    mqtt_broker *broker = mqtt_broker_new(port, NULL);
    if (broker != NULL && mqtt_broker_start(broker) != MQTT_STATUS_OK) {
        mqtt_broker_free(broker);
        return NULL;
    }
    return broker;
}

static void offline_publishes_are_queued_and_subscriptions_restored(void) {
    char port[8];
    mqtt_broker *broker = start_broker("0");
    CHECK(broker != NULL);
    if (broker == NULL) return;
    snprintf(port, sizeof port, "%u", (unsigned)mqtt_broker_port(broker));

    mqtt_connect_options *opts = mqtt_connect_options_new();
    mqtt_connect_options_set_auto_reconnect(opts, 20, 100);
    mqtt_connect_options_set_operation_timeout(opts, 5000);
    mqtt_connect_options_set_on_connect(opts, on_connect, NULL);
    mqtt_connect_options_set_on_disconnect(opts, on_disconnect, NULL);
    mqtt_connect_options_set_on_log(opts, on_log, NULL);
    CHECK(mqtt_connect_options_set_offline_queue(opts, 10, 4096, 7, true) ==
          MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(mqtt_connect_options_set_offline_queue(opts, 10, 4096, MQTT_QUEUE_OVERFLOW_DROP_OLDEST,
                                                 true) == MQTT_STATUS_OK);
    mqtt_connection *conn = mqtt_connect("127.0.0.1", port, opts);
    mqtt_connect_options_free(opts);
    CHECK(conn != NULL);
    if (conn == NULL) return;
    CHECK(read_counter(&connects) == 1 && last_code == 0 && !last_present);
    CHECK(read_counter(&logs) >= 1);

    const char *filters[] = {"a/+", "b"};
    const int qos[] = {MQTT_QOS_AT_LEAST_ONCE, MQTT_QOS_EXACTLY_ONCE};
    int granted[2] = {-1, -1};
    CHECK(mqtt_subscribe_many(conn, filters, qos, 0, on_message, NULL, granted) ==
          MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(mqtt_subscribe_many(conn, filters, qos, 2, on_message, NULL, granted) ==
          MQTT_STATUS_OK);
    CHECK(granted[0] == 1 && granted[1] == 2);
    CHECK(mqtt_loop_start(conn) == MQTT_STATUS_OK);

    /* The broker goes away: the loss is reported once, with a reconnect to come. */
    mqtt_broker_stop(broker);
    mqtt_broker_free(broker);
    CHECK(wait_for(&disconnects, 1));
    CHECK(last_reason == MQTT_CLOSE_REASON_CLOSED_BY_PEER && last_will_reconnect);

    /* Publishing meanwhile is queued, with a packet id, at every QoS. */
    uint16_t id = 0;
    CHECK(mqtt_publish(conn, "a/1", (const uint8_t *)"x", 1, MQTT_QOS_AT_LEAST_ONCE, false) ==
          MQTT_STATUS_QUEUED);
    CHECK(strstr(mqtt_last_error(), "queued") != NULL);
    CHECK(mqtt_publish_async(conn, "a/2", (const uint8_t *)"y", 1, MQTT_QOS_EXACTLY_ONCE, false,
                             &id) == MQTT_STATUS_QUEUED);
    CHECK(id != 0);
    CHECK(mqtt_publish(conn, "b", NULL, 0, MQTT_QOS_AT_MOST_ONCE, false) == MQTT_STATUS_QUEUED);

    /* The broker comes back on the same port: the client reconnects, subscribes again and
     * sends the queue; the three messages come back to it through the restored filters. */
    broker = start_broker(port);
    CHECK(broker != NULL);
    CHECK(wait_for(&connects, 2));
    CHECK(last_code == 0 && !last_present);
    CHECK(mqtt_wait_published(conn, id, 5000) == MQTT_STATUS_OK);
    /* The queue was sent after the SUBSCRIBE, so its messages reach the restored filters. */
    CHECK(wait_for(&messages, 3));
    CHECK(read_counter(&disconnects) == 1);

    CHECK(mqtt_disconnect(conn) == MQTT_STATUS_OK);
    CHECK(read_counter(&disconnects) == 2 && last_reason == MQTT_CLOSE_REASON_DISCONNECTED &&
          !last_will_reconnect);
    mqtt_connection_free(conn);
    if (broker != NULL) {
        mqtt_broker_stop(broker);
        mqtt_broker_free(broker);
    }
}

int main(void) {
    cleanup_keeps_the_last_error();
    offline_publishes_are_queued_and_subscriptions_restored();
    return checks_report();
}
