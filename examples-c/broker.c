/*
 * broker: a standalone MQTT 5.0 / 3.1.1 broker built on libmqtt's embeddable broker.
 *
 *     build/broker [-c FILE] [-p PORT] [-b ADDRESS] [--listen URL ...] [TLS options]
 *                  [--max-connections N] [--persistence FILE [--persistence-sync MODE]]
 *                  [--busy-poll-us US] [-v]
 *
 * Listens on 127.0.0.1:1883 unless told otherwise (-p 0 picks a free port; -c reads a
 * mosquitto.conf, whose listener -p and -b override; --listen mqtt://HOST:PORT,
 * mqtts://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH, repeatable, opens those
 * listeners, the TLS ones with --certfile and --keyfile) and prints "listening on URL" per
 * listener once it accepts connections. --persistence FILE keeps retained messages and
 * persistent sessions in FILE across restarts and crashes (durable by default: nothing is
 * acknowledged before it is on disk; --persistence-sync MS loses at most MS ms in a crash). SIGHUP
 * reads the password and ACL files and the TLS certificates again and opens the log file anew
 * (as mosquitto does; on an error the old ones stay and the reason is printed). Runs until SIGINT or SIGTERM,
 * then closes every connection and exits 0. -v logs connects and disconnects to stderr; with -c
 * the file's log_type and log_dest lines say what the library logs where (mosquitto's lines:
 * "New client connected from ADDR as ID (p2, c1, k60).", subscriptions...). --busy-poll-us
 * sets how long a connection thread polls before it sleeps (default 50; 0 sleeps at once). A usage error
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
            "usage: broker [-c FILE] [-p PORT] [-b ADDRESS] [--listen URL ...] [TLS options]\n"
            "              [--max-connections N] [--persistence FILE] [--busy-poll-us US] [-v]\n"
            "  -c, --config-file FILE   read a mosquitto.conf: listener (with certfile, keyfile,\n"
            "                           cafile, require_certificate, use_identity_as_username),\n"
            "                           allow_anonymous, password_file, acl_file,\n"
            "                           max_queued_messages, max_inflight_messages,\n"
            "                           max_packet_size, message_size_limit, persistence,\n"
            "                           persistence_location, persistence_file, autosave_interval,\n"
            "                           bridges (connection sections), sys_interval,\n"
            "                           log_type, log_dest (stdout, stderr, file PATH, none),\n"
            "                           log_timestamp, log_timestamp_format; as in mosquitto,\n"
            "                           without log_dest lines errors, warnings, notices and\n"
            "                           information go to stderr\n"
            "  -p, --port PORT          port to listen on (default 1883; 0 picks a free one)\n"
            "  -b, --bind ADDRESS       address to listen on (default 127.0.0.1)\n"
            "      --listen URL         a listener: mqtt://HOST:PORT, mqtts://HOST:PORT,\n"
            "                           ws://HOST:PORT[/PATH] or wss://HOST:PORT[/PATH] (path\n"
            "                           default /mqtt; repeatable; IPv6 as [::1]); replaces -p, -b\n"
            "      --certfile FILE      certificate chain (PEM) of the mqtts listeners\n"
            "      --keyfile FILE       private key (PEM) of the mqtts listeners\n"
            "      --cafile FILE        CA (PEM) that client certificates must chain to\n"
            "      --require-certificate       clients must present a certificate\n"
            "      --use-identity-as-username  the certificate's CN is the user name\n"
            "      --max-connections N  connections served at once (default 1024)\n"
            "      --persistence FILE   keep retained messages and persistent sessions in FILE\n"
            "                           across restarts and crashes (created if missing)\n"
            "      --persistence-sync durable|MS\n"
            "                           durable (default): acknowledge a message only once it\n"
            "                           is on disk; MS: commit every MS milliseconds, a crash\n"
            "                           loses at most that window\n"
            "      --busy-poll-us US    a connection thread with sparse traffic polls its\n"
            "                           socket this long before it sleeps (default 50, at\n"
            "                           most 10000; 0 sleeps at once)\n"
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

#define MAX_LISTENERS 16

/* A --listen URL split into its parts: what the listener speaks, the host (brackets removed),
 * the port, and for WebSocket the path (empty: the default /mqtt). */
typedef struct {
    bool tls;
    bool websocket;
    char host[256];
    uint16_t port;
    char path[256];
} listen_url;

static bool parse_listen_url(const char *url, listen_url *out) {
    static const struct {
        const char *scheme;
        bool tls, websocket;
    } schemes[] = {{"mqtt://", false, false},
                   {"mqtts://", true, false},
                   {"ws://", false, true},
                   {"wss://", true, true}};
    const char *rest = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t len = strlen(schemes[i].scheme);
        if (strncmp(url, schemes[i].scheme, len) == 0) {
            out->tls = schemes[i].tls;
            out->websocket = schemes[i].websocket;
            rest = url + len;
        }
    }
    if (rest == NULL) {
        return false;
    }
    out->path[0] = '\0';
    const char *slash = strchr(rest, '/');
    char authority[300];
    size_t authority_len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (authority_len >= sizeof authority || (slash && (!out->websocket ||
                                                        strlen(slash) >= sizeof out->path))) {
        return false;
    }
    if (slash) {
        strcpy(out->path, slash);
    }
    memcpy(authority, rest, authority_len);
    authority[authority_len] = '\0';
    rest = authority;
    const char *colon = strrchr(rest, ':');
    if (colon == NULL || colon == rest) {
        return false;
    }
    const char *host = rest;
    size_t host_len = (size_t)(colon - rest);
    if (host[0] == '[') {
        if (host_len < 3 || host[host_len - 1] != ']') {
            return false;
        }
        host++;
        host_len -= 2;
    }
    if (host_len >= sizeof out->host) {
        return false;
    }
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port > 65535) {
        return false;
    }
    out->port = (uint16_t)port;
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
    size_t busy_poll_us = 0;
    bool busy_poll_set = false;
    bool verbose = false;
    listen_url listens[MAX_LISTENERS];
    size_t listen_count = 0;
    const char *certfile = NULL, *keyfile = NULL, *cafile = NULL;
    bool require_certificate = false, identity_as_username = false;
    const char *persistence = NULL;
    size_t persistence_interval_ms = 0;

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
        } else if (strcmp(arg, "--listen") == 0) {
            const char *value = option_value(argc, argv, &i);
            if (value == NULL) {
                usage(stderr);
                return 2;
            }
            if (listen_count == MAX_LISTENERS || !parse_listen_url(value, &listens[listen_count])) {
                fprintf(stderr, "broker: --listen needs mqtt://HOST:PORT, mqtts://HOST:PORT, "
                                "ws://HOST:PORT[/PATH] or wss://HOST:PORT[/PATH] (at most %d), "
                                "not '%s'\n", MAX_LISTENERS, value);
                usage(stderr);
                return 2;
            }
            listen_count++;
        } else if (strcmp(arg, "--certfile") == 0 || strcmp(arg, "--keyfile") == 0 ||
                   strcmp(arg, "--cafile") == 0) {
            const char *value = option_value(argc, argv, &i);
            if (value == NULL) {
                usage(stderr);
                return 2;
            }
            *(arg[2] == 'c' && arg[3] == 'e' ? &certfile : arg[2] == 'k' ? &keyfile : &cafile) =
                value;
        } else if (strcmp(arg, "--require-certificate") == 0) {
            require_certificate = true;
        } else if (strcmp(arg, "--use-identity-as-username") == 0) {
            identity_as_username = true;
        } else if (strcmp(arg, "--persistence") == 0) {
            if ((persistence = option_value(argc, argv, &i)) == NULL) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(arg, "--persistence-sync") == 0) {
            const char *value = option_value(argc, argv, &i);
            if (value == NULL) {
                usage(stderr);
                return 2;
            }
            if (strcmp(value, "durable") == 0) {
                persistence_interval_ms = 0;
            } else if (!parse_count(value, &persistence_interval_ms) ||
                       persistence_interval_ms > UINT32_MAX) {
                fprintf(stderr, "broker: --persistence-sync needs durable or a number of "
                                "milliseconds, not '%s'\n", value);
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
        } else if (strcmp(arg, "--busy-poll-us") == 0) {
            const char *value = option_value(argc, argv, &i);
            if (value == NULL) {
                usage(stderr);
                return 2;
            }
            if (strcmp(value, "0") != 0 &&
                (!parse_count(value, &busy_poll_us) || busy_poll_us > UINT32_MAX)) {
                fprintf(stderr, "broker: --busy-poll-us needs a number of microseconds, not '%s'\n",
                        value);
                usage(stderr);
                return 2;
            }
            busy_poll_set = true;
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
    if (busy_poll_set &&
        mqtt_broker_options_set_busy_poll_us(opts, (uint32_t)busy_poll_us) != MQTT_STATUS_OK) {
        fprintf(stderr, "broker: %s\n", mqtt_last_error());
        mqtt_broker_options_free(opts);
        return 2;
    }
    if (persistence != NULL &&
        (mqtt_broker_options_set_persistence(opts, persistence) != MQTT_STATUS_OK ||
         mqtt_broker_options_set_persistence_sync(opts, (uint32_t)persistence_interval_ms) !=
             MQTT_STATUS_OK)) {
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
    if (listen_count > 0) {
        bool any_tls = false;
        for (size_t i = 0; i < listen_count; i++) {
            any_tls = any_tls || listens[i].tls;
        }
        if (any_tls != (certfile != NULL && keyfile != NULL) ||
            ((require_certificate || identity_as_username) && cafile == NULL)) {
            fprintf(stderr, "broker: mqtts and wss listeners need --certfile and --keyfile (and "
                            "client certificates --cafile), and only they take them\n");
            mqtt_broker_options_free(opts);
            usage(stderr);
            return 2;
        }
        mqtt_broker_tls_options *tls = mqtt_broker_tls_options_new();
        mqtt_status set = tls == NULL ? MQTT_STATUS_IO : MQTT_STATUS_OK;
        if (set == MQTT_STATUS_OK && any_tls) {
            set = mqtt_broker_tls_options_set_certificate_files(tls, certfile, keyfile);
        }
        if (set == MQTT_STATUS_OK && cafile != NULL) {
            int mode = require_certificate || identity_as_username ? 2 : 1;
            set = mqtt_broker_tls_options_set_client_certificates(tls, cafile, mode,
                                                                 identity_as_username);
        }
        for (size_t i = 0; i < listen_count && set == MQTT_STATUS_OK; i++) {
            const listen_url *l = &listens[i];
            if (l->websocket) {
                set = mqtt_broker_options_add_websocket_listener(
                    opts, l->host, l->port, l->path[0] ? l->path : NULL, NULL, 0,
                    l->tls ? tls : NULL);
            } else {
                set = mqtt_broker_options_add_listener(
                    opts, l->tls ? MQTT_LISTENER_KIND_TLS : MQTT_LISTENER_KIND_TCP, l->host,
                    l->port, l->tls ? tls : NULL);
            }
        }
        mqtt_broker_tls_options_free(tls);
        if (set != MQTT_STATUS_OK) {
            fprintf(stderr, "broker: %s\n", mqtt_last_error());
            mqtt_broker_options_free(opts);
            usage(stderr);
            return 2;
        }
    }
    char config_port[8];
    if (port == NULL && mqtt_broker_options_listener_count(opts) == 0) {
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
    for (size_t i = 0; i < mqtt_broker_listener_count(broker); i++) {
        char url[64];
        if (mqtt_broker_listener_url(broker, i, url, sizeof url) == MQTT_STATUS_OK) {
            printf("listening on %s\n", url);
        }
    }
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
            fprintf(stderr, "broker: reloaded the password and ACL files and TLS certificates\n");
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
