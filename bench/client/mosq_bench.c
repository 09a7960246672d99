/*
 * Client-side benchmark with libmosquitto, the reference for our client library:
 *
 *   mosq_bench pub1  PORT MESSAGES WINDOW PAYLOAD   pipelined QoS 1 publishes, rate until all PUBACKs
 *   mosq_bench recv0 PORT TOPIC MESSAGES            QoS 0 receive rate (another program publishes;
 *                                                   "READY" on stdout once subscribed)
 *
 * Prints a RESULT line in the load generator's format for bench/summarize.py. Every wait is
 * bounded, so a broker that stops answering makes the program fail instead of hang.
 */
#include <mosquitto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONNECT_TIMEOUT_S 10.0
#define RUN_TIMEOUT_S 60.0
#define IDLE_TIMEOUT_S 2.0

struct state {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int connected;
    int subscribed;
    long target;
    long count;
    double first_at;
    double last_at;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until `*flag` reaches `value` or `seconds` pass; returns whether it did. */
static int wait_for(struct state *s, const long *flag, long value, double seconds) {
    double deadline = now_s() + seconds;
    int reached;
    pthread_mutex_lock(&s->lock);
    while (*flag < value && now_s() < deadline) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec += 1;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->changed, &s->lock, &until);
    }
    reached = *flag >= value;
    pthread_mutex_unlock(&s->lock);
    return reached;
}

static void bump(struct state *s, long *counter) {
    pthread_mutex_lock(&s->lock);
    double t = now_s();
    if (*counter == 0) {
        s->first_at = t;
    }
    s->last_at = t;
    *counter += 1;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

/* Called on libmosquitto's network thread. */
static void on_connect(struct mosquitto *mosq, void *obj, int rc) {
    struct state *s = obj;
    (void)mosq;
    pthread_mutex_lock(&s->lock);
    s->connected = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
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
    pthread_mutex_lock(&s->lock);
    s->subscribed = 1;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg) {
    struct state *s = obj;
    (void)mosq;
    (void)msg;
    bump(s, &s->count);
}

static long parse_long(const char *text, const char *what) {
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "mosq_bench: bad %s: %s\n", what, text);
        exit(2);
    }
    return v;
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
    long connected = 0;
    double deadline = now_s() + CONNECT_TIMEOUT_S;
    while (now_s() < deadline) {
        pthread_mutex_lock(&s->lock);
        connected = s->connected;
        pthread_mutex_unlock(&s->lock);
        if (connected != 0) {
            break;
        }
        wait_for(s, &s->count, 1, 0.05);
    }
    if (connected != 1) {
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
    struct state s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, messages, 0, 0, 0};
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
    int done = wait_for(&s, &s.count, messages, RUN_TIMEOUT_S - (now_s() - started));
    pthread_mutex_lock(&s.lock);
    long acked = s.count;
    double elapsed = s.last_at - started;
    pthread_mutex_unlock(&s.lock);
    stop(mosq);
    free(payload);
    printf("client pub1 (libmosquitto): %ld of %ld QoS 1 publishes acknowledged in %.3f s\n", acked,
           messages, elapsed);
    printf("RESULT scenario=client_pub_qos1%s broker=libmosquitto sent=%ld delivered=%ld "
           "msgs_per_s=%.0f status=%s\n",
           version_suffix(), queued, acked, elapsed > 0 ? (double)acked / elapsed : 0.0, done ? "ok" : "incomplete");
    return done ? 0 : 1;
}

static int receive_qos0(int port, const char *topic, long messages) {
    struct state s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, messages, 0, 0, 0};
    struct mosquitto *mosq = start(&s, "mosq-bench-sub", port, 0);
    mosquitto_subscribe(mosq, NULL, topic, 0);
    long subscribed = 0;
    double deadline = now_s() + CONNECT_TIMEOUT_S;
    while (subscribed == 0 && now_s() < deadline) {
        wait_for(&s, &s.count, 1, 0.05);
        pthread_mutex_lock(&s.lock);
        subscribed = s.subscribed;
        pthread_mutex_unlock(&s.lock);
    }
    if (!subscribed) {
        fprintf(stderr, "mosq_bench: no SUBACK\n");
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    double started = now_s();
    for (;;) {
        if (wait_for(&s, &s.count, messages, 0.1)) {
            break;
        }
        pthread_mutex_lock(&s.lock);
        int idle = s.count > 0 && now_s() - s.last_at > IDLE_TIMEOUT_S;
        pthread_mutex_unlock(&s.lock);
        if (idle || now_s() - started > RUN_TIMEOUT_S) {
            break;
        }
    }
    pthread_mutex_lock(&s.lock);
    long received = s.count;
    double elapsed = s.last_at - s.first_at;
    pthread_mutex_unlock(&s.lock);
    stop(mosq);
    printf("client recv0 (libmosquitto): %ld of %ld QoS 0 messages received in %.3f s\n", received,
           messages, elapsed);
    printf("RESULT scenario=client_recv_qos0%s broker=libmosquitto expected=%ld delivered=%ld "
           "lost=%ld msgs_per_s=%.0f status=%s\n",
           version_suffix(), messages, received, messages - received,
           elapsed > 0 ? (double)received / elapsed : 0.0,
           received == messages ? "ok" : "incomplete");
    return received == messages ? 0 : 1;
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
    fprintf(stderr, "usage: mosq_bench pub1 PORT MESSAGES WINDOW PAYLOAD\n"
                    "       mosq_bench recv0 PORT TOPIC MESSAGES\n");
    return 2;
}
