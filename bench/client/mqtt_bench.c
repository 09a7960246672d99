/*
 * Client-side benchmark with our C API (libmqtt), doing exactly what mosq_bench.c does with
 * libmosquitto:
 *
 *   mqtt_bench pub1  PORT MESSAGES WINDOW PAYLOAD   pipelined QoS 1 publishes, rate until all PUBACKs
 *   mqtt_bench recv0 PORT TOPIC MESSAGES            QoS 0 receive rate (another program publishes;
 *                                                   "READY" on stdout once subscribed)
 *   mqtt_bench lat   PORT SAMPLES PAYLOAD           publish->receive latency: one connection
 *                                                   subscribed to its own topic publishes a QoS 0
 *                                                   message when the previous one has arrived
 *
 * BENCH_MQTT_VERSION=5 in the environment runs both over MQTT 5.0 (scenario names get "_v5").
 * Both run the library's loop thread, as mosq_bench runs libmosquitto's, and print a RESULT line
 * for bench/summarize.py. Every wait is bounded.
 */
#include <stdbool.h>

#include "bench_common.h"
#include "mqtt.h"

/* Message callback; runs on the library's loop thread. */
static void on_message(void *userdata, const mqtt_message *message) {
    struct state *s = userdata;
    (void)message;
    bump(s, &s->count);
}

/* MQTT 5.0 when BENCH_MQTT_VERSION=5 in the environment, else 3.1.1. */
static bool use_v5(void) {
    const char *v = getenv("BENCH_MQTT_VERSION");
    return v != NULL && strcmp(v, "5") == 0;
}

/* The scenario name's suffix for the protocol in use. */
static const char *version_suffix(void) {
    return use_v5() ? "_v5" : "";
}

static mqtt_connection *start(const char *port, const char *id, int window) {
    mqtt_connect_options *options = mqtt_connect_options_new();
    if (options == NULL) {
        return NULL;
    }
    mqtt_status status = mqtt_connect_options_set_client_id(options, id);
    if (status == MQTT_STATUS_OK) status = mqtt_connect_options_set_keep_alive(options, 60);
    if (status == MQTT_STATUS_OK && use_v5()) {
        status = mqtt_connect_options_set_protocol_level(options, 5);
    }
    if (status == MQTT_STATUS_OK && window > 0) {
        status = mqtt_connect_options_set_max_inflight(options, window);
    }
    mqtt_connection *connection = NULL;
    if (status == MQTT_STATUS_OK) {
        connection = mqtt_connect("127.0.0.1", port, options);
    }
    if (connection == NULL) {
        fprintf(stderr, "mqtt_bench: cannot connect to 127.0.0.1:%s: %s (%s)\n", port,
                mqtt_status_str((int)mqtt_last_status()), mqtt_last_error());
    }
    mqtt_connect_options_free(options);
    if (connection != NULL && mqtt_loop_start(connection) != MQTT_STATUS_OK) {
        fprintf(stderr, "mqtt_bench: loop start: %s\n", mqtt_last_error());
        mqtt_connection_free(connection);
        return NULL;
    }
    return connection;
}

static void stop(mqtt_connection *connection) {
    mqtt_disconnect(connection);
    mqtt_connection_free(connection);
}

static int publish_qos1(const char *port, long messages, int window, long payload_len) {
    mqtt_connection *connection = start(port, "mqtt-bench-pub", window);
    uint16_t *ids = malloc(sizeof(uint16_t) * (size_t)messages);
    uint8_t *payload = malloc((size_t)payload_len);
    if (connection == NULL || ids == NULL || payload == NULL) {
        free(ids);
        free(payload);
        if (connection != NULL) stop(connection);
        return 1;
    }
    memset(payload, 'p', (size_t)payload_len);
    double started = now_s();
    long sent = 0;
    mqtt_status status = MQTT_STATUS_OK;
    for (; sent < messages && now_s() - started < RUN_TIMEOUT_S; sent++) {
        status = mqtt_publish_async(connection, "bench/client/pub", payload, (size_t)payload_len, 1,
                                    false, &ids[sent]);
        if (status != MQTT_STATUS_OK) {
            fprintf(stderr, "mqtt_bench: publish: %s (%s)\n", mqtt_status_str((int)status),
                    mqtt_last_error());
            break;
        }
    }
    long acked = 0;
    for (long i = 0; i < sent; i++) {
        int left_ms = (int)((RUN_TIMEOUT_S - (now_s() - started)) * 1000);
        if (left_ms <= 0 || mqtt_wait_published(connection, ids[i], left_ms) != MQTT_STATUS_OK) {
            break;
        }
        acked++;
    }
    double elapsed = now_s() - started;
    stop(connection);
    free(ids);
    free(payload);
    return report_published("libmqtt", version_suffix(), sent, acked, messages, elapsed,
                            acked == messages);
}

static int receive_qos0(const char *port, const char *topic, long messages) {
    struct state c = STATE_INITIALIZER(messages);
    mqtt_connection *connection = start(port, "mqtt-bench-sub", 0);
    if (connection == NULL) {
        return 1;
    }
    int granted = 0;
    mqtt_status status = mqtt_subscribe(connection, topic, 0, on_message, &c, &granted);
    if (status != MQTT_STATUS_OK) {
        fprintf(stderr, "mqtt_bench: subscribe: %s (%s)\n", mqtt_status_str((int)status),
                mqtt_last_error());
        stop(connection);
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    double elapsed;
    long received = wait_received(&c, messages, &elapsed);
    stop(connection);
    return report_received("libmqtt", version_suffix(), received, messages, elapsed);
}

static int publish0(void *connection, const char *topic, void *payload, long len) {
    return mqtt_publish(connection, topic, payload, (size_t)len, 0, false) == MQTT_STATUS_OK;
}

static int latency0(const char *port, long samples, long payload_len) {
    struct state s = STATE_INITIALIZER(samples);
    mqtt_connection *connection = start(port, "mqtt-bench-lat", 0);
    char topic[64];
    if (connection == NULL) {
        return 1;
    }
    latency_topic(topic, sizeof topic);
    if (mqtt_subscribe(connection, topic, 0, on_message, &s, NULL) != MQTT_STATUS_OK) {
        fprintf(stderr, "mqtt_bench: subscribe: %s\n", mqtt_last_error());
        stop(connection);
        return 1;
    }
    int rc = measure_latency("libmqtt", version_suffix(), &s, publish0, connection, topic, samples,
                             payload_len);
    stop(connection);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 6 && strcmp(argv[1], "pub1") == 0) {
        parse_long(argv[2], "port");
        return publish_qos1(argv[2], parse_long(argv[3], "messages"),
                            (int)parse_long(argv[4], "window"), parse_long(argv[5], "payload"));
    }
    if (argc >= 5 && strcmp(argv[1], "recv0") == 0) {
        parse_long(argv[2], "port");
        return receive_qos0(argv[2], argv[3], parse_long(argv[4], "messages"));
    }
    if (argc >= 5 && strcmp(argv[1], "lat") == 0) {
        parse_long(argv[2], "port");
        return latency0(argv[2], parse_long(argv[3], "samples"), parse_long(argv[4], "payload"));
    }
    fprintf(stderr, "usage: mqtt_bench pub1 PORT MESSAGES WINDOW PAYLOAD\n"
                    "       mqtt_bench recv0 PORT TOPIC MESSAGES\n"
                    "       mqtt_bench lat PORT SAMPLES PAYLOAD\n");
    return 2;
}
