/*
 * Client-side benchmark with libmosquitto, the reference for our client library:
 *
 *   mosq_bench pub1  PORT MESSAGES WINDOW PAYLOAD   pipelined QoS 1 publishes, rate until all PUBACKs
 *   mosq_bench recv0 PORT TOPIC MESSAGES            QoS 0 receive rate (another program publishes;
 *                                                   "READY" on stdout once subscribed)
 *   mosq_bench lat   PORT SAMPLES PAYLOAD           publish->receive latency: one connection
 *                                                   subscribed to its own topic publishes a QoS 0
 *                                                   message when the previous one has arrived
 *
 * Prints a RESULT line in the load generator's format for bench/summarize.py. Every wait is
 * bounded, so a broker that stops answering makes the program fail instead of hang.
 */
#include <mosquitto.h>
#include <stdbool.h>

#include "bench_common.h"

/* Called on libmosquitto's network thread. */
static void on_connect(struct mosquitto *mosq, void *obj, int rc) {
    struct state *s = obj;
    (void)mosq;
    set_flag(s, &s->connected, rc == 0 ? 1 : -1);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid) {
    struct state *s = obj;
    (void)mosq;
    (void)mid;
    bump(s, &s->count);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count,
                         const int *granted) {
    struct state *s = obj;
    (void)mosq;
    (void)mid;
    (void)qos_count;
    (void)granted;
    set_flag(s, &s->subscribed, 1);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg) {
    struct state *s = obj;
    (void)mosq;
    (void)msg;
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

static struct mosquitto *start(struct state *s, const char *id, int port, int window) {
    struct mosquitto *mosq = mosquitto_new(id, true, s);
    if (mosq == NULL) {
        fprintf(stderr, "mosq_bench: mosquitto_new failed\n");
        exit(1);
    }
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         use_v5() ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    if (window > 0) {
        mosquitto_max_inflight_messages_set(mosq, (unsigned int)window);
    }
    mosquitto_connect_callback_set(mosq, on_connect);
    mosquitto_publish_callback_set(mosq, on_publish);
    mosquitto_subscribe_callback_set(mosq, on_subscribe);
    mosquitto_message_callback_set(mosq, on_message);
    if (mosquitto_connect(mosq, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(mosq) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mosq_bench: cannot connect to 127.0.0.1:%d\n", port);
        exit(1);
    }
    if (wait_flag(s, &s->connected, CONNECT_TIMEOUT_S) != 1) {
        fprintf(stderr, "mosq_bench: CONNECT not accepted\n");
        exit(1);
    }
    return mosq;
}

static void stop(struct mosquitto *mosq) {
    mosquitto_disconnect(mosq);
    mosquitto_loop_stop(mosq, false);
    mosquitto_destroy(mosq);
}

static int publish_qos1(int port, long messages, int window, long payload_len) {
    struct state s = STATE_INITIALIZER(messages);
    struct mosquitto *mosq = start(&s, "mosq-bench-pub", port, window);
    char *payload = malloc((size_t)payload_len);
    if (payload == NULL) {
        return 1;
    }
    memset(payload, 'p', (size_t)payload_len);
    double started = now_s();
    long queued = 0;
    for (; queued < messages && now_s() - started < RUN_TIMEOUT_S; queued++) {
        if (mosquitto_publish(mosq, NULL, "bench/client/pub", (int)payload_len, payload, 1, false) !=
            MOSQ_ERR_SUCCESS) {
            break;
        }
    }
    long acked;
    double elapsed;
    int done = wait_acked(&s, messages, started, &acked, &elapsed);
    stop(mosq);
    free(payload);
    return report_published("libmosquitto", version_suffix(), queued, acked, messages, elapsed, done);
}

static int receive_qos0(int port, const char *topic, long messages) {
    struct state s = STATE_INITIALIZER(messages);
    struct mosquitto *mosq = start(&s, "mosq-bench-sub", port, 0);
    mosquitto_subscribe(mosq, NULL, topic, 0);
    if (!wait_flag(&s, &s.subscribed, CONNECT_TIMEOUT_S)) {
        fprintf(stderr, "mosq_bench: no SUBACK\n");
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    double elapsed;
    long received = wait_received(&s, messages, &elapsed);
    stop(mosq);
    return report_received("libmosquitto", version_suffix(), received, messages, elapsed);
}

static int publish0(void *connection, const char *topic, void *payload, long len) {
    return mosquitto_publish(connection, NULL, topic, (int)len, payload, 0, false) ==
           MOSQ_ERR_SUCCESS;
}

static int latency0(int port, long samples, long payload_len) {
    struct state s = STATE_INITIALIZER(samples);
    struct mosquitto *mosq = start(&s, "mosq-bench-lat", port, 0);
    char topic[64];
    /* The counter counts messages received: a QoS 0 publish sent is no event here. */
    mosquitto_publish_callback_set(mosq, NULL);
    latency_topic(topic, sizeof topic);
    mosquitto_subscribe(mosq, NULL, topic, 0);
    if (!wait_flag(&s, &s.subscribed, CONNECT_TIMEOUT_S)) {
        fprintf(stderr, "mosq_bench: no SUBACK\n");
        return 1;
    }
    int rc = measure_latency("libmosquitto", version_suffix(), &s, publish0, mosq, topic, samples,
                             payload_len);
    stop(mosq);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 6 && strcmp(argv[1], "pub1") == 0) {
        mosquitto_lib_init();
        int rc = publish_qos1((int)parse_long(argv[2], "port"), parse_long(argv[3], "messages"),
                              (int)parse_long(argv[4], "window"), parse_long(argv[5], "payload"));
        mosquitto_lib_cleanup();
        return rc;
    }
    if (argc >= 5 && strcmp(argv[1], "recv0") == 0) {
        mosquitto_lib_init();
        int rc = receive_qos0((int)parse_long(argv[2], "port"), argv[3],
                              parse_long(argv[4], "messages"));
        mosquitto_lib_cleanup();
        return rc;
    }
    if (argc >= 5 && strcmp(argv[1], "lat") == 0) {
        mosquitto_lib_init();
        int rc = latency0((int)parse_long(argv[2], "port"), parse_long(argv[3], "samples"),
                          parse_long(argv[4], "payload"));
        mosquitto_lib_cleanup();
        return rc;
    }
    fprintf(stderr, "usage: mosq_bench pub1 PORT MESSAGES WINDOW PAYLOAD\n"
                    "       mosq_bench recv0 PORT TOPIC MESSAGES\n"
                    "       mosq_bench lat PORT SAMPLES PAYLOAD\n");
    return 2;
}
