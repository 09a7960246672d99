/*
 * broker: a standalone MQTT 5.0 / 3.1.1 broker built on libmqtt's embeddable broker.
 *
 *     build/broker [-c FILE] [-p PORT] [-b ADDRESS] [--max-connections N] [-v]
 *
 * Listens on 127.0.0.1:1883 unless told otherwise (-p 0 picks a free port; -c reads a
 * mosquitto.conf, whose listener -p and -b override) and prints "listening on ADDRESS:PORT"
 * once it accepts connections. SIGHUP reads the password and ACL files again (as mosquitto
 * does; on an error the old ones stay and the reason is printed). Runs until SIGINT or SIGTERM,
 * then closes every connection and exits 0. -v logs connects and disconnects to stderr. A usage error
 * exits 2; a port that cannot be bound (e.g. in use) exits 1.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "mqtt.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: broker [-c FILE] [-p PORT] [-b ADDRESS] [--max-connections N] [-v]\n"
            "  -c, --config-file FILE   read a mosquitto.conf: listener, allow_anonymous,\n"
            "                           password_file, acl_file, max_queued_messages,\n"
            "                           max_inflight_messages, max_packet_size, message_size_limit\n"
            "  -p, --port PORT          port to listen on (default 1883; 0 picks a free one)\n"
            "  -b, --bind ADDRESS       address to listen on (default 127.0.0.1)\n"
            "      --max-connections N  connections served at once (default 1024)\n"
            "  -v, --verbose            log connects and disconnects to stderr\n"
            "  -h, --help               show this help\n"
            "Runs until SIGINT or SIGTERM.\n");
}

/* Logs connection events; runs on the broker's connection threads, concurrently (stdio
 * serialises the writes). */
static void log_event(void *userdata, const mqtt_broker_event *event) {
    (void)userdata;
    if (event->kind == MQTT_BROKER_EVENT_KIND_CONNECTED) {
        fprintf(stderr, "connected %s from %s%s%s (clean session %d, session present %d)\n",
                event->client_id, event->peer, event->username ? " as " : "",
                event->username ? event->username : "", event->clean_session ? 1 : 0,
                event->session_present ? 1 : 0);
    } else {
        fprintf(stderr, "disconnected %s from %s (%s)\n", event->client_id, event->peer,
                event->reason_text);
    }
}

/* A busy connection uses two descriptors (its socket and a wake-up eventfd), an idle one just its
 * socket: make room for max_connections busy ones. The soft limit is raised up to the hard limit, and the hard limit too
 * where the process may (CAP_SYS_RESOURCE); otherwise the broker refuses connections it has no
 * descriptors for. */
static void raise_file_limit(size_t max_connections) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    rlim_t wanted = (rlim_t)max_connections * 2 + 64;
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted) {
        return;
    }
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) {
        struct rlimit raised = {wanted, wanted};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            return;
        }
    }
    limit.rlim_cur = (limit.rlim_max == RLIM_INFINITY || limit.rlim_max > wanted)
                         ? wanted
                         : limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
}

static bool parse_count(const char *text, size_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value == 0 ||
        value > (unsigned long long)SIZE_MAX) {
        return false;
    }
    *out = (size_t)value;
    return true;
}

/* The value of an option taking one, or NULL (after printing usage) if it is missing. */
static const char *option_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "broker: %s needs a value\n", argv[*i]);
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

int main(int argc, char **argv) {
    const char *port = NULL;
    const char *address = NULL;
    const char *config = NULL;
    size_t max_connections = 0;
    bool verbose = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
            verbose = true;
        } else if (strcmp(arg, "-c") == 0 || strcmp(arg, "--config-file") == 0) {
            if ((config = option_value(argc, argv, &i)) == NULL) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(arg, "-p") == 0 || strcmp(arg, "--port") == 0) {
            if ((port = option_value(argc, argv, &i)) == NULL) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(arg, "-b") == 0 || strcmp(arg, "--bind") == 0) {
            if ((address = option_value(argc, argv, &i)) == NULL) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(arg, "--max-connections") == 0) {
            const char *value = option_value(argc, argv, &i);
            if (value == NULL) {
                usage(stderr);
                return 2;
            }
            if (!parse_count(value, &max_connections)) {
                fprintf(stderr, "broker: --max-connections needs a positive number, not '%s'\n",
                        value);
                usage(stderr);
                return 2;
            }
        } else {
            fprintf(stderr, "broker: unknown option '%s'\n", arg);
            usage(stderr);
            return 2;
        }
    }

    /* Block the signals handled here before the broker starts its threads, which inherit the
     * mask, so only sigwait below receives them. */
    sigset_t handled_signals;
    sigemptyset(&handled_signals);
    sigaddset(&handled_signals, SIGINT);
    sigaddset(&handled_signals, SIGTERM);
    sigaddset(&handled_signals, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &handled_signals, NULL) != 0) {
        fprintf(stderr, "broker: cannot block signals\n");
        return 1;
    }

    mqtt_broker_options *opts = mqtt_broker_options_new();
    if (opts == NULL) {
        fprintf(stderr, "broker: %s\n", mqtt_last_error());
        return 1;
    }
    /* The configuration file first; the command line overrides what it sets. */
    if (config != NULL && mqtt_broker_options_load_config(opts, config) != MQTT_STATUS_OK) {
        fprintf(stderr, "broker: %s\n", mqtt_last_error());
        mqtt_broker_options_free(opts);
        return 3;
    }
    if ((address != NULL || config == NULL) &&
        mqtt_broker_options_set_bind_address(opts, address ? address : "127.0.0.1") !=
            MQTT_STATUS_OK) {
        fprintf(stderr, "broker: %s\n", mqtt_last_error());
        mqtt_broker_options_free(opts);
        usage(stderr);
        return 2;
    }
    if (max_connections > 0 &&
        mqtt_broker_options_set_max_connections(opts, max_connections) != MQTT_STATUS_OK) {
        fprintf(stderr, "broker: %s\n", mqtt_last_error());
        mqtt_broker_options_free(opts);
        return 2;
    }
    raise_file_limit(max_connections > 0 ? max_connections : 1024);
    if (verbose && mqtt_broker_options_set_event_callback(opts, log_event, NULL) != MQTT_STATUS_OK) {
        fprintf(stderr, "broker: %s\n", mqtt_last_error());
        mqtt_broker_options_free(opts);
        return 1;
    }
    char config_port[8];
    if (port == NULL) {
        snprintf(config_port, sizeof config_port, "%d", mqtt_broker_options_get_port(opts));
        port = config_port;
    }
    mqtt_broker *broker = mqtt_broker_new(port, opts);
    mqtt_broker_options_free(opts);
    if (broker == NULL) {
        fprintf(stderr, "broker: %s\n", mqtt_last_error());
        usage(stderr);
        return 2;
    }
    mqtt_status status = mqtt_broker_start(broker);
    if (status != MQTT_STATUS_OK) {
        fprintf(stderr, "broker: %s%s\n", mqtt_last_error(),
                status == MQTT_STATUS_ADDRESS_IN_USE ? " (is another broker running?)" : "");
        mqtt_broker_free(broker);
        return 1;
    }
    printf("listening on %s:%u\n", address ? address : (config ? "*" : "127.0.0.1"),
           (unsigned)mqtt_broker_port(broker));
    fflush(stdout);

    int signal_number = 0;
    for (;;) {
        if (sigwait(&handled_signals, &signal_number) != 0) {
            continue;
        }
        if (signal_number != SIGHUP) {
            break;
        }
        if (mqtt_broker_reload(broker) == MQTT_STATUS_OK) {
            fprintf(stderr, "broker: reloaded the password and ACL files\n");
        } else {
            fprintf(stderr, "broker: reload failed, keeping the old files: %s\n",
                    mqtt_last_error());
        }
    }
    if (verbose) {
        fprintf(stderr, "stopping on signal %d\n", signal_number);
    }
    mqtt_broker_stop(broker);
    mqtt_broker_free(broker);
    return 0;
}
