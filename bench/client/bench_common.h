/*
 * What the client benchmarks built on another library's callbacks share (mosq_bench.c,
 * paho_bench.c): a clock, a counter that callbacks bump and the main thread waits on with a
 * bound, argument parsing, and the latency report. Header-only: each program includes it once.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_S 10.0
#define RUN_TIMEOUT_S 60.0
#define IDLE_TIMEOUT_S 2.0
/* Round trips before the latency samples start (connections and caches warm). */
#define LATENCY_WARMUP 200

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

#define STATE_INITIALIZER(target) \
    {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, (target), 0, 0, 0}

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* With `s->lock` held: waits for a change, at most 50 ms. */
static inline void wait_a_little(struct state *s) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 50 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec += 1;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->changed, &s->lock, &until);
}

/* Waits until `*flag` reaches `value` or `seconds` pass; returns whether it did. */
static inline int wait_for(struct state *s, const long *flag, long value, double seconds) {
    double deadline = now_s() + seconds;
    int reached;
    pthread_mutex_lock(&s->lock);
    while (*flag < value && now_s() < deadline) {
        wait_a_little(s);
    }
    reached = *flag >= value;
    pthread_mutex_unlock(&s->lock);
    return reached;
}

/* Adds one to `*counter` and wakes the waiter; notes the time of the first and last. */
static inline void bump(struct state *s, long *counter) {
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

/* Sets `*flag` to `value` and wakes the waiter. */
static inline void set_flag(struct state *s, int *flag, int value) {
    pthread_mutex_lock(&s->lock);
    *flag = value;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

/* Waits until `*flag` is non-zero or `seconds` pass; returns its value. */
static inline int wait_flag(struct state *s, const int *flag, double seconds) {
    double deadline = now_s() + seconds;
    int value;
    pthread_mutex_lock(&s->lock);
    while (*flag == 0 && now_s() < deadline) {
        wait_a_little(s);
    }
    value = *flag;
    pthread_mutex_unlock(&s->lock);
    return value;
}

static inline long parse_long(const char *text, const char *what) {
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "bench: bad %s: %s\n", what, text);
        exit(2);
    }
    return v;
}

static inline int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prints the RESULT line of a latency run: `samples` round trips in seconds (sorted here). */
static inline void report_latency(const char *library, const char *suffix, double *samples, long n,
                           long wanted) {
    qsort(samples, (size_t)n, sizeof *samples, compare_doubles);
    double p50 = n > 0 ? samples[n / 2] * 1e6 : 0.0;
    double p99 = n > 0 ? samples[(n * 99) / 100] * 1e6 : 0.0;
    printf("client latency0 (%s): %ld of %ld round trips, publish->receive p50 %.1f us, p99 "
           "%.1f us\n",
           library, n, wanted, p50, p99);
    printf("RESULT scenario=client_latency0%s broker=%s samples=%ld p50_us=%.1f p99_us=%.1f "
           "status=%s\n",
           suffix, library, n, p50, p99, n == wanted ? "ok" : "incomplete");
}

/* After a publish run's last publish (at `started`): waits until all `messages` are
 * acknowledged (each PUBACK bumps `s->count`) or RUN_TIMEOUT_S has passed; returns whether
 * they were, with how many in `*acked` and the time from `started` to the last in `*elapsed`. */
static inline int wait_acked(struct state *s, long messages, double started, long *acked,
                             double *elapsed) {
    int done = wait_for(s, &s->count, messages, RUN_TIMEOUT_S - (now_s() - started));
    pthread_mutex_lock(&s->lock);
    *acked = s->count;
    *elapsed = s->last_at - started;
    pthread_mutex_unlock(&s->lock);
    return done;
}

/* Prints the RESULT line of a publish run; returns the exit status. */
static inline int report_published(const char *library, const char *suffix, long queued,
                                   long acked, long messages, double elapsed, int done) {
    printf("client pub1 (%s): %ld of %ld QoS 1 publishes acknowledged in %.3f s\n", library,
           acked, messages, elapsed);
    printf("RESULT scenario=client_pub_qos1%s broker=%s sent=%ld delivered=%ld msgs_per_s=%.0f "
           "status=%s\n",
           suffix, library, queued, acked, elapsed > 0 ? (double)acked / elapsed : 0.0,
           done ? "ok" : "incomplete");
    return done ? 0 : 1;
}

/* After "READY": waits until `messages` have been received, the feed has been idle for
 * IDLE_TIMEOUT_S or RUN_TIMEOUT_S has passed; returns how many arrived, and in `*elapsed` the
 * time from the first to the last. */
static inline long wait_received(struct state *s, long messages, double *elapsed) {
    double started = now_s();
    for (;;) {
        if (wait_for(s, &s->count, messages, 0.1)) {
            break;
        }
        pthread_mutex_lock(&s->lock);
        int idle = s->count > 0 && now_s() - s->last_at > IDLE_TIMEOUT_S;
        pthread_mutex_unlock(&s->lock);
        if (idle || now_s() - started > RUN_TIMEOUT_S) {
            break;
        }
    }
    pthread_mutex_lock(&s->lock);
    long received = s->count;
    *elapsed = s->last_at - s->first_at;
    pthread_mutex_unlock(&s->lock);
    return received;
}

/* Prints the RESULT line of a receive run; returns the exit status. */
static inline int report_received(const char *library, const char *suffix, long received,
                                  long messages, double elapsed) {
    printf("client recv0 (%s): %ld of %ld QoS 0 messages received in %.3f s\n", library,
           received, messages, elapsed);
    printf("RESULT scenario=client_recv_qos0%s broker=%s expected=%ld delivered=%ld lost=%ld "
           "msgs_per_s=%.0f status=%s\n",
           suffix, library, messages, received, messages - received,
           elapsed > 0 ? (double)received / elapsed : 0.0,
           received == messages ? "ok" : "incomplete");
    return received == messages ? 0 : 1;
}

/* The topic a latency run publishes to and subscribes to: one per process. */
static inline void latency_topic(char *topic, size_t size) {
    snprintf(topic, size, "bench/client/lat/%ld", (long)getpid());
}

/* Sends one QoS 0 message of `len` bytes to `topic`; returns whether it was handed over. */
typedef int (*publish_fn)(void *connection, const char *topic, void *payload, long len);

/* The latency loop, once subscribed to `topic` (each message received bumps `s->count`):
 * publishes one QoS 0 message, waits for it to come back, LATENCY_WARMUP times untimed, then
 * `samples` times timed; prints the RESULT line and returns the exit status. */
static inline int measure_latency(const char *library, const char *suffix, struct state *s,
                                  publish_fn publish, void *connection, const char *topic,
                                  long samples, long payload_len) {
    char *payload = malloc((size_t)payload_len);
    double *rtt = malloc(sizeof(double) * (size_t)samples);
    long n = 0;
    if (payload == NULL || rtt == NULL) {
        free(payload);
        free(rtt);
        return 1;
    }
    memset(payload, 'l', (size_t)payload_len);
    double started = now_s();
    for (long i = 0; i < LATENCY_WARMUP + samples && now_s() - started < RUN_TIMEOUT_S; i++) {
        double t0 = now_s();
        if (!publish(connection, topic, payload, payload_len) ||
            !wait_for(s, &s->count, i + 1, IDLE_TIMEOUT_S)) {
            break;
        }
        if (i >= LATENCY_WARMUP) {
            rtt[n++] = now_s() - t0;
        }
    }
    report_latency(library, suffix, rtt, n, samples);
    free(payload);
    free(rtt);
    return n == samples ? 0 : 1;
}

#endif
