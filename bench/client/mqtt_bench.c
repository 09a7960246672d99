/*
 * Client-side benchmark with our C API (libmqtt), doing exactly what mosq_bench.c does with
 * libmosquitto:
 *
 *   mqtt_bench pub1  PORT MESSAGES WINDOW PAYLOAD   pipelined QoS 1 publishes, rate until all PUBACKs
 *   mqtt_bench recv0 PORT TOPIC MESSAGES            QoS 0 receive rate (another program publishes;
 *                                                   "READY" on stdout once subscribed)
 *
 * BENCH_MQTT_VERSION=5 in the environment runs both over MQTT 5.0 (scenario names get "_v5").
 * Both run the library's loop thread, as mosq_bench runs libmosquitto's, and print a RESULT line
 * for bench/summarize.py. Every wait is bounded.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqtt.h"

#define RUN_TIMEOUT_S 60.0
#define IDLE_TIMEOUT_S 2.0

struct counter {
    pthread_mutex_t lock;
    long count;
    double first_at;
    double last_at;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Message callback; runs on the library's loop thread. */
static void on_message(void *userdata, const mqtt_message *message) {
    struct counter *c = userdata;
    (void)message;
    pthread_mutex_lock(&c->lock);
    double t = now_s();
    if (c->count == 0) {
        c->first_at = t;
    }
    c->last_at = t;
    c->count += 1;
    pthread_mutex_unlock(&c->lock);
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

static long parse_long(const char *text, const char *what) {
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "mqtt_bench: bad %s: %s\n", what, text);
        exit(2);
    }
    return v;
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
    int ok = acked == messages;
    printf("client pub1 (libmqtt): %ld of %ld QoS 1 publishes acknowledged in %.3f s\n", acked,
           messages, elapsed);
    printf("RESULT scenario=client_pub_qos1%s broker=libmqtt sent=%ld delivered=%ld "
           "msgs_per_s=%.0f status=%s\n",
           version_suffix(), sent, acked, elapsed > 0 ? (double)acked / elapsed : 0.0, ok ? "ok" : "incomplete");
    return ok ? 0 : 1;
}

static int receive_qos0(const char *port, const char *topic, long messages) {
    struct counter c = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
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
    double started = now_s();
    for (;;) {
        sleep_ms(20);
        pthread_mutex_lock(&c.lock);
        long received = c.count;
        double last = c.last_at;
        pthread_mutex_unlock(&c.lock);
        if (received >= messages || now_s() - started > RUN_TIMEOUT_S ||
            (received > 0 && now_s() - last > IDLE_TIMEOUT_S)) {
            break;
        }
    }
    stop(connection);
    long received = c.count;
    double elapsed = c.last_at - c.first_at;
    printf("client recv0 (libmqtt): %ld of %ld QoS 0 messages received in %.3f s\n", received,
           messages, elapsed);
    printf("RESULT scenario=client_recv_qos0%s broker=libmqtt expected=%ld delivered=%ld "
           "lost=%ld msgs_per_s=%.0f status=%s\n",
           version_suffix(), messages, received, messages - received,
           elapsed > 0 ? (double)received / elapsed : 0.0,
           received == messages ? "ok" : "incomplete");
    return received == messages ? 0 : 1;
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
    fprintf(stderr, "usage: mqtt_bench pub1 PORT MESSAGES WINDOW PAYLOAD\n"
                    "       mqtt_bench recv0 PORT TOPIC MESSAGES\n");
    return 2;
}
