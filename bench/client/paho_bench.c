/*
 * Client-side benchmark with Eclipse Paho C, through either of its APIs, doing what
 * mosq_bench.c does with libmosquitto:
 *
 *   paho_bench pub1  PORT MESSAGES WINDOW PAYLOAD   pipelined QoS 1 publishes, rate until all
 *                                                   PUBACKs
 *   paho_bench recv0 PORT TOPIC MESSAGES            QoS 0 receive rate (another program
 *                                                   publishes; "READY" on stdout once subscribed)
 *   paho_bench lat   PORT SAMPLES PAYLOAD           publish->receive latency, as mosq_bench lat
 *
 * Built twice, as Paho ships its APIs as two libraries with symbols in common: without
 * PAHO_ASYNC against libpaho-mqtt3c, MQTTClient with callbacks set (its background thread
 * receives and calls them, the main thread publishes), labelled paho-sync; with -DPAHO_ASYNC
 * against libpaho-mqtt3a, MQTTAsync, labelled paho-async.
 * MQTT 3.1.1 only (BENCH_MQTT_VERSION is ignored; compare.sh runs Paho in the 3.1.1 rounds).
 * Prints a RESULT line in the load generator's format for bench/summarize.py. Every wait is
 * bounded.
 */
#include <stdbool.h>
#ifdef PAHO_ASYNC
#include <MQTTAsync.h>
#define LIBRARY "paho-async"
#else
#include <MQTTClient.h>
#define LIBRARY "paho-sync"
#endif

#include "bench_common.h"

struct paho {
#ifdef PAHO_ASYNC
    MQTTAsync async_client;
#else
    MQTTClient sync_client;
#endif
    struct state *s;
};

static const char *library(const struct paho *p) {
    (void)p;
    return LIBRARY;
}

/* Callbacks: Paho's receiving thread. */
#ifndef PAHO_ASYNC
static int on_message(void *context, char *topic, int topic_len, MQTTClient_message *message) {
    struct state *s = context;
    (void)topic_len;
    bump(s, &s->count);
    MQTTClient_freeMessage(&message);
    MQTTClient_free(topic);
    return 1;
}

#else
static int on_async_message(void *context, char *topic, int topic_len, MQTTAsync_message *message) {
    struct state *s = context;
    (void)topic_len;
    bump(s, &s->count);
    MQTTAsync_freeMessage(&message);
    MQTTAsync_free(topic);
    return 1;
}

#endif

static void on_delivered(void *context, int token) {
    struct state *s = context;
    (void)token;
    bump(s, &s->count);
}

static void on_lost(void *context, char *cause) {
    (void)context;
    fprintf(stderr, "paho_bench: connection lost: %s\n", cause ? cause : "?");
}

#ifdef PAHO_ASYNC
static void on_async_connected(void *context, MQTTAsync_successData *response) {
    struct state *s = context;
    (void)response;
    set_flag(s, &s->connected, 1);
}

static void on_async_connect_failed(void *context, MQTTAsync_failureData *response) {
    struct state *s = context;
    (void)response;
    set_flag(s, &s->connected, -1);
}

static void on_async_subscribed(void *context, MQTTAsync_successData *response) {
    struct state *s = context;
    (void)response;
    set_flag(s, &s->subscribed, 1);
}

static void on_async_subscribe_failed(void *context, MQTTAsync_failureData *response) {
    struct state *s = context;
    (void)response;
    set_flag(s, &s->subscribed, -1);
}
#endif

/* Connects `p` with client id `id`; exits on failure. With a `window` (the publish run) each
 * PUBACK bumps the counter; without, each message received does (MQTTAsync also reports QoS 0
 * publishes as delivered, which must not count as received). */
static void start(struct paho *p, struct state *s, int port, const char *id, int window) {
    void (*delivered)(void *, int) = window > 0 ? on_delivered : NULL;
    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", port);
    p->s = s;
    int rc;
#ifndef PAHO_ASYNC
    {
        MQTTClient_connectOptions options = MQTTClient_connectOptions_initializer;
        options.keepAliveInterval = 60;
        options.cleansession = 1;
        options.MQTTVersion = MQTTVERSION_3_1_1;
        /* Not one message at a time (the default): up to `window` in flight. */
        options.reliable = 0;
        if (window > 0) {
            options.maxInflightMessages = window;
        }
        rc = MQTTClient_create(&p->sync_client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
        if (rc == MQTTCLIENT_SUCCESS) {
            rc = MQTTClient_setCallbacks(p->sync_client, s, on_lost, on_message, delivered);
        }
        if (rc == MQTTCLIENT_SUCCESS) {
            rc = MQTTClient_connect(p->sync_client, &options);
        }
        if (rc != MQTTCLIENT_SUCCESS) {
            fprintf(stderr, "paho_bench: cannot connect to %s: %d\n", uri, rc);
            exit(1);
        }
    }
#else
    MQTTAsync_connectOptions options = MQTTAsync_connectOptions_initializer;
    options.keepAliveInterval = 60;
    options.cleansession = 1;
    options.MQTTVersion = MQTTVERSION_3_1_1;
    options.onSuccess = on_async_connected;
    options.onFailure = on_async_connect_failed;
    options.context = s;
    if (window > 0) {
        options.maxInflight = window;
    }
    rc = MQTTAsync_create(&p->async_client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc == MQTTASYNC_SUCCESS) {
        rc = MQTTAsync_setCallbacks(p->async_client, s, on_lost, on_async_message, delivered);
    }
    if (rc == MQTTASYNC_SUCCESS) {
        rc = MQTTAsync_connect(p->async_client, &options);
    }
    if (rc != MQTTASYNC_SUCCESS || wait_flag(s, &s->connected, CONNECT_TIMEOUT_S) != 1) {
        fprintf(stderr, "paho_bench: cannot connect to %s: %d\n", uri, rc);
        exit(1);
    }
#endif
}

static bool subscribe0(struct paho *p, const char *topic) {
#ifndef PAHO_ASYNC
    return MQTTClient_subscribe(p->sync_client, topic, 0) == MQTTCLIENT_SUCCESS;
#else
    MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
    options.onSuccess = on_async_subscribed;
    options.onFailure = on_async_subscribe_failed;
    options.context = p->s;
    return MQTTAsync_subscribe(p->async_client, topic, 0, &options) == MQTTASYNC_SUCCESS &&
           wait_flag(p->s, &p->s->subscribed, CONNECT_TIMEOUT_S) == 1;
#endif
}

/* Sends one message; for QoS 1 it returns once written (the PUBACK comes to on_delivered). */
static bool publish(struct paho *p, const char *topic, char *payload, long len, int qos) {
#ifndef PAHO_ASYNC
    MQTTClient_message message = MQTTClient_message_initializer;
    MQTTClient_deliveryToken token;
    message.payload = payload;
    message.payloadlen = (int)len;
    message.qos = qos;
    return MQTTClient_publishMessage(p->sync_client, topic, &message, &token) ==
           MQTTCLIENT_SUCCESS;
#else
    MQTTAsync_message message = MQTTAsync_message_initializer;
    message.payload = payload;
    message.payloadlen = (int)len;
    message.qos = qos;
    return MQTTAsync_sendMessage(p->async_client, topic, &message, NULL) == MQTTASYNC_SUCCESS;
#endif
}

static void stop(struct paho *p) {
#ifndef PAHO_ASYNC
    MQTTClient_disconnect(p->sync_client, 1000);
    MQTTClient_destroy(&p->sync_client);
#else
    MQTTAsync_disconnectOptions options = MQTTAsync_disconnectOptions_initializer;
    options.timeout = 1000;
    MQTTAsync_disconnect(p->async_client, &options);
    /* The disconnect completes on Paho's thread; give it its timeout before destroying. */
    for (int i = 0; i < 100 && MQTTAsync_isConnected(p->async_client); i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MQTTAsync_destroy(&p->async_client);
#endif
}

static int publish_qos1(struct paho *p, int port, long messages, int window, long payload_len) {
    struct state s = STATE_INITIALIZER(messages);
    start(p, &s, port, "paho-bench-pub", window);
    char *payload = malloc((size_t)payload_len);
    if (payload == NULL) {
        return 1;
    }
    memset(payload, 'p', (size_t)payload_len);
    double started = now_s();
    long queued = 0;
    for (; queued < messages && now_s() - started < RUN_TIMEOUT_S; queued++) {
        /* At most `window` unacknowledged, as the other libraries' in-flight limit. */
        if (queued >= window && !wait_for(&s, &s.count, queued - window + 1, IDLE_TIMEOUT_S)) {
            break;
        }
        if (!publish(p, "bench/client/pub", payload, payload_len, 1)) {
            fprintf(stderr, "paho_bench: publish %ld failed\n", queued);
            break;
        }
    }
    long acked;
    double elapsed;
    int done = wait_acked(&s, messages, started, &acked, &elapsed);
    stop(p);
    free(payload);
    return report_published(library(p), "", queued, acked, messages, elapsed, done);
}

static int receive_qos0(struct paho *p, int port, const char *topic, long messages) {
    struct state s = STATE_INITIALIZER(messages);
    start(p, &s, port, "paho-bench-sub", 0);
    if (!subscribe0(p, topic)) {
        fprintf(stderr, "paho_bench: no SUBACK\n");
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    double elapsed;
    long received = wait_received(&s, messages, &elapsed);
    stop(p);
    return report_received(library(p), "", received, messages, elapsed);
}

static int publish0(void *connection, const char *topic, void *payload, long len) {
    return publish(connection, topic, payload, len, 0);
}

static int latency0(struct paho *p, int port, long samples, long payload_len) {
    struct state s = STATE_INITIALIZER(samples);
    char topic[64];
    start(p, &s, port, "paho-bench-lat", 0);
    latency_topic(topic, sizeof topic);
    if (!subscribe0(p, topic)) {
        fprintf(stderr, "paho_bench: no SUBACK\n");
        return 1;
    }
    int rc = measure_latency(library(p), "", &s, publish0, p, topic, samples, payload_len);
    stop(p);
    return rc;
}

int main(int argc, char **argv) {
    struct paho p = {NULL, NULL};
    {
        if (argc >= 6 && strcmp(argv[1], "pub1") == 0) {
            return publish_qos1(&p, (int)parse_long(argv[2], "port"),
                                parse_long(argv[3], "messages"), (int)parse_long(argv[4], "window"),
                                parse_long(argv[5], "payload"));
        }
        if (argc >= 5 && strcmp(argv[1], "recv0") == 0) {
            return receive_qos0(&p, (int)parse_long(argv[2], "port"), argv[3],
                                parse_long(argv[4], "messages"));
        }
        if (argc >= 5 && strcmp(argv[1], "lat") == 0) {
            return latency0(&p, (int)parse_long(argv[2], "port"), parse_long(argv[3], "samples"),
                            parse_long(argv[4], "payload"));
        }
    }
    fprintf(stderr, "usage: paho_bench pub1 PORT MESSAGES WINDOW PAYLOAD\n"
                    "       paho_bench recv0 PORT TOPIC MESSAGES\n"
                    "       paho_bench lat PORT SAMPLES PAYLOAD\n");
    return 2;
}
