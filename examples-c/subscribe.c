/*
 * subscribe: print messages from an MQTT broker, in the style of mosquitto_sub.
 *
 *   subscribe [-h host] [-p port] -t filter [-t filter ...] [-q qos] [-i client-id]
 *             [-u user] [-P password] [-k keepalive] [-c] [-C count] [-W seconds] [-v]
 *
 * Prints each payload on its own line (with -v: "topic payload"). Exits 0 after -C count
 * messages (or, without -C, when the broker closes the connection), 1 on any failure (with a
 * message on stderr), 2 on bad usage. -W bounds the whole run: exit 1 if not done in time.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mqtt.h"

#define MAX_FILTERS 32

struct received {
    long count;
    int verbose;
};

static void usage(const char *program) {
    fprintf(stderr,
            "usage: %s [-h host] [-p port] -t filter [-t filter ...] [-q qos] [-i client-id]\n"
            "          [-u user] [-P password] [-k keepalive] [-c] [-C count] [-W seconds] [-v]\n"
            "  -c  keep the session (clean session off)\n"
            "  -C  exit after receiving count messages\n"
            "  -W  give up (exit 1) after this many seconds\n"
            "  -v  print \"topic payload\" instead of the payload only\n",
            program);
}

static int fail(const char *what, mqtt_status status) {
    fprintf(stderr, "subscribe: %s: %s (%s)\n", what, mqtt_status_str((int)status),
            mqtt_last_error());
    return 1;
}

static int parse_int(const char *text, long min, long max, long *out) {
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        return -1;
    }
    *out = value;
    return 0;
}

/* Runs on the thread inside mqtt_receive_message (this program never starts the loop thread). */
static void on_message(void *userdata, const mqtt_message *message) {
    struct received *received = userdata;
    if (received->verbose) {
        fwrite(message->topic, 1, message->topic_len, stdout);
        fputc(' ', stdout);
    }
    fwrite(message->payload, 1, message->payload_len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    received->count++;
}

static double seconds_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
    const char *host = "localhost";
    const char *port = "1883";
    const char *filters[MAX_FILTERS];
    int filter_count = 0;
    long qos = 0, keep_alive = 60, count = 0, wait_seconds = 0;
    const char *client_id = NULL, *user = NULL, *password = NULL;
    int clean_session = 1;
    struct received received = {0, 0};

    int opt;
    while ((opt = getopt(argc, argv, "h:p:t:q:i:u:P:k:cC:W:v")) != -1) {
        switch (opt) {
        case 'h': host = optarg; break;
        case 'p': port = optarg; break;
        case 't':
            if (filter_count == MAX_FILTERS) {
                fprintf(stderr, "subscribe: at most %d -t filters\n", MAX_FILTERS);
                return 2;
            }
            filters[filter_count++] = optarg;
            break;
        case 'q':
            if (parse_int(optarg, 0, 2, &qos) != 0) {
                fprintf(stderr, "subscribe: -q must be 0, 1 or 2\n");
                return 2;
            }
            break;
        case 'i': client_id = optarg; break;
        case 'u': user = optarg; break;
        case 'P': password = optarg; break;
        case 'k':
            if (parse_int(optarg, 0, 65535, &keep_alive) != 0) {
                fprintf(stderr, "subscribe: -k must be 0..65535 seconds\n");
                return 2;
            }
            break;
        case 'c': clean_session = 0; break;
        case 'C':
            if (parse_int(optarg, 1, LONG_MAX, &count) != 0) {
                fprintf(stderr, "subscribe: -C must be a positive count\n");
                return 2;
            }
            break;
        case 'W':
            if (parse_int(optarg, 1, INT_MAX / 1000, &wait_seconds) != 0) {
                fprintf(stderr, "subscribe: -W must be a positive number of seconds\n");
                return 2;
            }
            break;
        case 'v': received.verbose = 1; break;
        default: usage(argv[0]); return 2;
        }
    }
    if (filter_count == 0 || optind != argc) {
        usage(argv[0]);
        return 2;
    }
    if (password != NULL && user == NULL) {
        fprintf(stderr, "subscribe: -P needs -u\n");
        return 2;
    }

    mqtt_connect_options *options = mqtt_connect_options_new();
    if (options == NULL) {
        return fail("options", mqtt_last_status());
    }
    mqtt_status status = mqtt_connect_options_set_client_id(options, client_id);
    if (status == MQTT_STATUS_OK) status = mqtt_connect_options_set_clean_session(options, clean_session);
    if (status == MQTT_STATUS_OK) status = mqtt_connect_options_set_keep_alive(options, (int)keep_alive);
    if (status == MQTT_STATUS_OK) status = mqtt_connect_options_set_username(options, user);
    if (status == MQTT_STATUS_OK && password != NULL) {
        status = mqtt_connect_options_set_password(options, (const uint8_t *)password,
                                                   strlen(password));
    }
    if (status == MQTT_STATUS_OK && wait_seconds > 0) {
        status = mqtt_connect_options_set_connect_timeout(options, (int)wait_seconds * 1000);
    }
    if (status != MQTT_STATUS_OK) {
        mqtt_connect_options_free(options);
        return fail("options", status);
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    mqtt_connection *connection = mqtt_connect(host, port, options);
    if (connection == NULL) {
        /* Before any other libmqtt call, which would reset mqtt_last_error(). */
        fprintf(stderr, "subscribe: cannot connect to %s:%s: %s (%s)\n", host, port,
                mqtt_status_str((int)mqtt_last_status()), mqtt_last_error());
        mqtt_connect_options_free(options);
        return 1;
    }
    mqtt_connect_options_free(options);

    int exit_code = 0;
    for (int i = 0; i < filter_count; i++) {
        int granted = 0;
        status = mqtt_subscribe(connection, filters[i], (int)qos, on_message, &received, &granted);
        if (status != MQTT_STATUS_OK) {
            exit_code = fail(filters[i], status);
            goto done;
        }
    }
    while (count == 0 || received.count < count) {
        int slice_ms = -1;
        if (wait_seconds > 0) {
            double left = (double)wait_seconds - seconds_since(&start);
            if (left <= 0) {
                fprintf(stderr, "subscribe: timed out after %lds with %ld message(s)\n",
                        wait_seconds, received.count);
                exit_code = 1;
                goto done;
            }
            slice_ms = (int)(left * 1000) + 1;
        }
        status = mqtt_receive_message(connection, slice_ms);
        if (status == MQTT_STATUS_CLOSED) {
            if (count > 0) {
                exit_code = fail("connection closed early", status);
            }
            goto done;
        }
        if (status != MQTT_STATUS_OK && status != MQTT_STATUS_TIMEOUT) {
            exit_code = fail("receive", status);
            goto done;
        }
    }
    status = mqtt_disconnect(connection);
    if (status != MQTT_STATUS_OK) {
        exit_code = fail("disconnect", status);
    }
done:
    mqtt_connection_free(connection);
    return exit_code;
}
