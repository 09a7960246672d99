/*
 * cli_v5.h: the command-line handling that publish.c and subscribe.c share; both include it.
 *
 * It holds what the two mosquitto-style programs do alike: the options both take (-h, -p, -i,
 * -u, -P, -k, -q, -V, -D, -L with an mqtt, mqtts, ws or wss URL, and the TLS options --cafile,
 * --cert, --key and --insecure), MQTT 5.0's -D properties (the table of the packets each
 * property may appear in, parsing a -D, applying the CONNECT ones), putting the options into the
 * mqtt_connect_options, connecting, disconnecting and freeing what was made, and error lines
 * ending with the server's reason code.
 *
 * Everything here is static and the header is self-contained, so each program is still built
 * from its one .c file (the Makefile rebuilds both when this file changes). Before including it,
 * a program defines two string literals:
 *   CLI_NAME    its name, which starts its messages ("publish")
 *   CLI_PACKET  the packet it sends properties for besides CONNECT ("PUBLISH")
 * and after it, the things this header declares for it: `struct properties` (what its other -D
 * properties go into), `free_properties`, `usage` and `apply_property`. Its getopt_long call
 * takes "L:" among the short options and CLI_LONG_OPTIONS among the long ones.
 */
#ifndef LIBMQTT_EXAMPLES_CLI_V5_H
#define LIBMQTT_EXAMPLES_CLI_V5_H

#if !defined(CLI_NAME) || !defined(CLI_PACKET)
#error "define CLI_NAME and CLI_PACKET before including cli_v5.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mqtt.h"

/* The usage lines for -V and the -D connect properties. */
#define CLI_V5_USAGE                                                                           \
    "  -V  protocol version: 5 (mqttv5), 311 (mqttv311, default) or 31 (mqttv31)\n"            \
    "  -D  an MQTT 5.0 property (implies -V 5), repeatable:\n"                                 \
    "        -D connect session-expiry-interval|receive-maximum|maximum-packet-size N\n"       \
    "        -D connect topic-alias-maximum N\n"                                               \
    "        -D connect request-response-information|request-problem-information 0|1\n"       \
    "        -D connect user-property NAME VALUE\n"

/* The usage lines for -L and the TLS options. */
#define CLI_TLS_USAGE                                                                          \
    "  -L  the broker as a URL: mqtt(s)://[user[:password]@]host[:port]/topic (mqtts: TLS,\n" \
    "      port 8883 unless given; the topic is the one to use), or ws(s)://... the same over\n" \
    "      WebSocket on path /mqtt (ws: port 80, wss: over TLS, port 443)\n"                    \
    "  --cafile FILE  TLS: trust the CA certificates in FILE (PEM; default: the system's)\n"   \
    "  --cert FILE    TLS: the client certificate (PEM), with --key\n"                        \
    "  --key FILE     TLS: the client certificate's private key (PEM)\n"                      \
    "  --insecure     TLS: do not verify the server's certificate or name (tests only)\n"     \
    "      Any TLS option connects over TLS, on port 8883 unless -p or -L says otherwise.\n"

/* The long options cli_option takes, for the programs' getopt_long tables. */
enum cli_long_option { CLI_OPT_CAFILE = 512, CLI_OPT_CERT, CLI_OPT_KEY, CLI_OPT_INSECURE };
#define CLI_LONG_OPTIONS                                                                       \
    {"cafile", required_argument, NULL, CLI_OPT_CAFILE},                                       \
        {"cert", required_argument, NULL, CLI_OPT_CERT},                                       \
        {"key", required_argument, NULL, CLI_OPT_KEY},                                         \
        {"insecure", no_argument, NULL, CLI_OPT_INSECURE}

/* Ends an error line with the server's reason code when it refused (0x80 and above) and
 * libmqtt's message does not already name the reason. */
static void print_reason(int reason, const char *message) {
    if (reason >= 0x80 && strstr(message, mqtt_reason_code_str(reason)) == NULL) {
        fprintf(stderr, ": reason code 0x%02X, %s", (unsigned)reason, mqtt_reason_code_str(reason));
    }
    fputc('\n', stderr);
}

/* Reports a failed call with its status, message and, for a refusal, the server's reason code.
 * Called right after the failing call: any other libmqtt call could replace what it reports. */
static int fail(const char *what, mqtt_status status) {
    int reason = mqtt_last_reason_code();
    fprintf(stderr, CLI_NAME ": %s: %s (%s)", what, mqtt_status_str((int)status),
            mqtt_last_error());
    print_reason(reason, mqtt_last_error());
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

/* -V: 5, 311 or 31, or mosquitto's longer names; the protocol level, or -1. */
static int parse_version(const char *text) {
    if (strcmp(text, "5") == 0 || strcmp(text, "mqttv5") == 0) return 5;
    if (strcmp(text, "311") == 0 || strcmp(text, "mqttv311") == 0) return 4;
    if (strcmp(text, "31") == 0 || strcmp(text, "mqttv31") == 0) return 3;
    return -1;
}

/* ---- -D: MQTT 5.0 properties ------------------------------------------------------------- */

/* The packets a client sends, which -D may name (as mosquitto_pub and mosquitto_sub accept
 * them). */
enum command {
    CMD_CONNECT, CMD_PUBLISH, CMD_PUBACK, CMD_PUBREC, CMD_PUBREL, CMD_PUBCOMP, CMD_SUBSCRIBE,
    CMD_UNSUBSCRIBE, CMD_DISCONNECT, CMD_AUTH, CMD_WILL, CMD_COUNT
};

/* One -D whose command and property are valid: the property's name as the table below spells
 * it, its value and, for a user property, the second value (else NULL). */
struct cli_property {
    enum command command;
    const char *name;
    const char *value;
    const char *second;
};

/* ---- What a program defines for this header ---------------------------------------------- */

/* The program's handles for its -D properties other than the CONNECT ones. */
struct properties;

/* Frees the program's handles in `props` (any of them NULL). */
static void free_properties(struct properties *props);

/* Prints the program's usage to stderr. */
static void usage(const char *program);

/* Applies one valid -D property of a packet other than CONNECT (this header applies those); -1
 * (after a message) when its value is not valid, or when the program does not send it. */
static int apply_property(struct properties *props, const struct cli_property *property);

/* ---- The options both programs take ------------------------------------------------------ */

struct cli_options {
    const char *host, *port, *client_id, *user, *password;
    const char *cafile, *cert, *key; /* --cafile, --cert, --key */
    int insecure;                    /* --insecure */
    int host_given;                  /* -h */
    const char *url;       /* -L without user and topic: "scheme://host[:port]", or NULL */
    const char *url_topic; /* -L's topic */
    char *url_buffer;      /* what url, url_topic and -L's user and password point into */
    long qos, keep_alive;
    int level;                     /* the protocol level: 5, 4 (3.1.1, the default) or 3 */
    int have_properties;           /* a -D was given */
    const char *late_version;      /* a -V below 5 given after a -D */
    int session_expiry;            /* -D connect session-expiry-interval given */
    mqtt_connect_options *connect; /* the -D connect properties, then the options above */
    struct properties *properties; /* the program's, for its other -D properties */
};

/* Sets the defaults and makes cli->connect. `allocated` says whether the program made its
 * handles in `properties`; returns -1 after a message when out of memory, having freed them and
 * cli->connect. */
static int cli_init(struct cli_options *cli, struct properties *properties, int allocated) {
    struct cli_options defaults = {
        .host = "localhost", .keep_alive = 60, .level = 4,
        .connect = mqtt_connect_options_new(), .properties = properties,
    };
    *cli = defaults;
    if (cli->connect == NULL || !allocated) {
        mqtt_connect_options_free(cli->connect);
        free_properties(properties);
        fprintf(stderr, CLI_NAME ": out of memory\n");
        return -1;
    }
    return 0;
}

/* Frees `connection` (NULL if none), cli->connect and the program's handles; returns
 * `exit_code`, for the end of main. */
static int cli_finish(struct cli_options *cli, mqtt_connection *connection, int exit_code) {
    mqtt_connection_free(connection);
    free(cli->url_buffer);
    mqtt_connect_options_free(cli->connect);
    free_properties(cli->properties);
    return exit_code;
}

/* ---- -D: applying the properties --------------------------------------------------------- */

static const char *const command_names[CMD_COUNT] = {
    "connect", "publish", "puback", "pubrec", "pubrel", "pubcomp", "subscribe",
    "unsubscribe", "disconnect", "auth", "will",
};

#define IN(command) (1u << (command))

/* Every MQTT 5.0 property (section 2.2.2.2) and the client packets it may appear in. */
static const struct property_info {
    const char *name;
    unsigned commands;
} property_table[] = {
    {"payload-format-indicator", IN(CMD_PUBLISH) | IN(CMD_WILL)},
    {"message-expiry-interval", IN(CMD_PUBLISH) | IN(CMD_WILL)},
    {"content-type", IN(CMD_PUBLISH) | IN(CMD_WILL)},
    {"response-topic", IN(CMD_PUBLISH) | IN(CMD_WILL)},
    {"correlation-data", IN(CMD_PUBLISH) | IN(CMD_WILL)},
    {"subscription-identifier", IN(CMD_SUBSCRIBE)},
    {"session-expiry-interval", IN(CMD_CONNECT) | IN(CMD_DISCONNECT)},
    {"assigned-client-identifier", 0},
    {"server-keep-alive", 0},
    {"authentication-method", IN(CMD_CONNECT) | IN(CMD_AUTH)},
    {"authentication-data", IN(CMD_CONNECT) | IN(CMD_AUTH)},
    {"request-problem-information", IN(CMD_CONNECT)},
    {"will-delay-interval", IN(CMD_WILL)},
    {"request-response-information", IN(CMD_CONNECT)},
    {"response-information", 0},
    {"server-reference", IN(CMD_DISCONNECT)},
    {"reason-string", IN(CMD_PUBACK) | IN(CMD_PUBREC) | IN(CMD_PUBREL) | IN(CMD_PUBCOMP) |
                          IN(CMD_DISCONNECT) | IN(CMD_AUTH)},
    {"receive-maximum", IN(CMD_CONNECT)},
    {"topic-alias-maximum", IN(CMD_CONNECT)},
    {"topic-alias", IN(CMD_PUBLISH)},
    {"maximum-qos", 0},
    {"retain-available", 0},
    {"user-property", (1u << CMD_COUNT) - 1},
    {"maximum-packet-size", IN(CMD_CONNECT)},
    {"wildcard-subscription-available", 0},
    {"subscription-identifier-available", 0},
    {"shared-subscription-available", 0},
};

/* Parses the value of `property` as a number in min..max; prints why not and returns -1
 * otherwise. */
static int property_number(const struct cli_property *property, long long min, long long max,
                           long long *out) {
    char *end = NULL;
    errno = 0;
    long long value = strtoll(property->value, &end, 10);
    if (errno != 0 || end == property->value || *end != '\0' || value < min || value > max) {
        fprintf(stderr, CLI_NAME ": -D %s %s: the value must be %lld..%lld, not '%s'\n",
                command_names[property->command], property->name, min, max, property->value);
        return -1;
    }
    *out = value;
    return 0;
}

/* 0 when libmqtt took `property`, else -1 after a message with the status. */
static int property_status(const struct cli_property *property, mqtt_status status) {
    if (status == MQTT_STATUS_OK) {
        return 0;
    }
    fprintf(stderr, CLI_NAME ": -D %s %s: %s (%s)\n", command_names[property->command],
            property->name, mqtt_status_str((int)status), mqtt_last_error());
    return -1;
}

/* A -D the program does not send; returns -1. */
static int property_unsupported(const struct cli_property *property) {
    fprintf(stderr, CLI_NAME ": -D %s %s: not supported by this program (it sends CONNECT and "
                    CLI_PACKET " properties only)\n",
            command_names[property->command], property->name);
    return -1;
}

/* Applies a valid -D connect property to cli->connect; -1 (after a message) when the value is
 * not valid, or when this program does not send that property. */
static int apply_connect_property(struct cli_options *cli, const struct cli_property *property) {
    mqtt_connect_options *options = cli->connect;
    const char *name = property->name;
    long long n = 0;
    mqtt_status status;
    if (strcmp(name, "session-expiry-interval") == 0) {
        if (property_number(property, 0, 4294967295LL, &n) != 0) return -1;
        cli->session_expiry = 1;
        status = mqtt_connect_options_set_session_expiry(options, (uint32_t)n);
    } else if (strcmp(name, "receive-maximum") == 0) {
        if (property_number(property, 1, 65535, &n) != 0) return -1;
        status = mqtt_connect_options_set_receive_maximum(options, (uint16_t)n);
    } else if (strcmp(name, "maximum-packet-size") == 0) {
        if (property_number(property, 2, 4294967295LL, &n) != 0) return -1;
        status = mqtt_connect_options_set_maximum_packet_size(options, (uint32_t)n);
    } else if (strcmp(name, "topic-alias-maximum") == 0) {
        if (property_number(property, 0, 65535, &n) != 0) return -1;
        status = mqtt_connect_options_set_topic_alias_maximum(options, (uint16_t)n);
    } else if (strcmp(name, "request-response-information") == 0) {
        if (property_number(property, 0, 1, &n) != 0) return -1;
        status = mqtt_connect_options_set_request_response_information(options, n == 1);
    } else if (strcmp(name, "request-problem-information") == 0) {
        if (property_number(property, 0, 1, &n) != 0) return -1;
        status = mqtt_connect_options_set_request_problem_information(options, n == 1);
    } else if (strcmp(name, "user-property") == 0) {
        status = mqtt_connect_options_add_user_property(options, property->value,
                                                        property->second);
    } else {
        return property_unsupported(property);
    }
    return property_status(property, status);
}

/* Reads the -D whose command is `command_text` (getopt's optarg) and whose property and value(s)
 * are argv[*next] on, advances *next past them and applies the property; a -D makes the client
 * an MQTT 5.0 one, as it does mosquitto's clients. Returns -1 after a message on bad usage. */
static int cli_property_option(struct cli_options *cli, const char *command_text, int argc,
                               char **argv, int *next) {
    if (*next + 1 >= argc) {
        fprintf(stderr, CLI_NAME ": -D needs a command, a property and a value\n");
        return -1;
    }
    const char *name_text = argv[*next];
    int command = -1;
    for (int i = 0; i < CMD_COUNT; i++) {
        if (strcasecmp(command_text, command_names[i]) == 0) command = i;
    }
    if (command < 0) {
        fprintf(stderr, CLI_NAME ": -D: unknown command '%s'\n", command_text);
        return -1;
    }
    const struct property_info *info = NULL;
    for (size_t i = 0; i < sizeof property_table / sizeof property_table[0]; i++) {
        if (strcasecmp(name_text, property_table[i].name) == 0) info = &property_table[i];
    }
    if (info == NULL) {
        fprintf(stderr, CLI_NAME ": -D %s: unknown property '%s'\n", command_names[command],
                name_text);
        return -1;
    }
    if ((info->commands & IN(command)) == 0) {
        fprintf(stderr, CLI_NAME ": -D %s: property '%s' is not allowed for %s\n",
                command_names[command], info->name, command_names[command]);
        return -1;
    }
    int pair = strcmp(info->name, "user-property") == 0;
    if (*next + 1 + pair >= argc) {
        fprintf(stderr, CLI_NAME ": -D %s %s needs %s\n", command_names[command], info->name,
                pair ? "a name and a value" : "a value");
        return -1;
    }
    struct cli_property property = {(enum command)command, info->name, argv[*next + 1],
                                    pair ? argv[*next + 2] : NULL};
    *next += 2 + pair;
    int applied = property.command == CMD_CONNECT ? apply_connect_property(cli, &property)
                                                  : apply_property(cli->properties, &property);
    if (applied != 0) {
        return -1;
    }
    cli->have_properties = 1;
    cli->level = 5;
    cli->late_version = NULL;
    return 0;
}

/* ---- Reading, checking and using the shared options ---------------------------------------- */

/* -L mqtt(s)://[user[:password]@]host[:port]/topic, as mosquitto's clients take it, or the
 * same with ws:// or wss:// for MQTT over WebSocket: keeps "scheme://host[:port]" for
 * mqtt_connect_url (which checks the host and port, and for ws and wss requests its default
 * path /mqtt), the topic, and the user and password if given. Returns -1 after a message on bad
 * usage or out of memory. */
static int cli_url_option(struct cli_options *cli, const char *arg) {
    static const char *const schemes[] = {"mqtt://", "mqtts://", "ws://", "wss://"};
    size_t scheme_len = 0;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        if (strncasecmp(arg, schemes[i], strlen(schemes[i])) == 0) {
            scheme_len = strlen(schemes[i]);
        }
    }
    if (scheme_len == 0) {
        fprintf(stderr,
                CLI_NAME ": -L: the URL must start with mqtt://, mqtts://, ws:// or wss://\n");
        return -1;
    }
    if (cli->url != NULL) {
        fprintf(stderr, CLI_NAME ": -L may be given once\n");
        return -1;
    }
    /* One allocation: the URL split in place, then "scheme://host[:port]" after it. */
    size_t len = strlen(arg);
    char *buffer = malloc(2 * len + 2);
    if (buffer == NULL) {
        fprintf(stderr, CLI_NAME ": out of memory\n");
        return -1;
    }
    memcpy(buffer, arg, len + 1);
    char *authority = buffer + scheme_len;
    char *slash = strchr(authority, '/');
    if (slash == NULL || slash[1] == '\0') {
        fprintf(stderr, CLI_NAME ": -L: the URL needs a topic: scheme://host[:port]/topic\n");
        free(buffer);
        return -1;
    }
    *slash = '\0';
    char *at = strrchr(authority, '@');
    if (at != NULL) {
        *at = '\0';
        char *colon = strchr(authority, ':');
        if (colon != NULL) {
            *colon = '\0';
            cli->password = colon + 1;
        }
        cli->user = authority;
        authority = at + 1;
    }
    char *url = buffer + len + 1;
    memcpy(url, arg, scheme_len);
    strcpy(url + scheme_len, authority);
    cli->url_buffer = buffer;
    cli->url = url;
    cli->url_topic = slash + 1;
    return 0;
}

/* Takes one of the options both programs take, which getopt_long returned as `opt`: -h, -p, -i,
 * -u, -P, -k, -q, -V, -D, -L, --cafile, --cert, --key or --insecure; any other prints the usage.
 * Returns -1 (after a message) on bad usage. */
static int cli_option(struct cli_options *cli, int opt, int argc, char **argv) {
    const char *arg = optarg;
    switch (opt) {
    case 'h':
        cli->host = arg;
        cli->host_given = 1;
        break;
    case 'p': cli->port = arg; break;
    case 'i': cli->client_id = arg; break;
    case 'u': cli->user = arg; break;
    case 'P': cli->password = arg; break;
    case 'q':
        if (parse_int(arg, 0, 2, &cli->qos) != 0) {
            fprintf(stderr, CLI_NAME ": -q must be 0, 1 or 2\n");
            return -1;
        }
        break;
    case 'k':
        if (parse_int(arg, 0, 65535, &cli->keep_alive) != 0) {
            fprintf(stderr, CLI_NAME ": -k must be 0..65535 seconds\n");
            return -1;
        }
        break;
    case 'V':
        cli->level = parse_version(arg);
        if (cli->level < 0) {
            fprintf(stderr,
                    CLI_NAME ": -V must be 5, 311 or 31 (or mqttv5, mqttv311, mqttv31)\n");
            return -1;
        }
        cli->late_version = cli->level < 5 && cli->have_properties ? arg : NULL;
        break;
    case 'D': return cli_property_option(cli, arg, argc, argv, &optind);
    case 'L': return cli_url_option(cli, arg);
    case CLI_OPT_CAFILE: cli->cafile = arg; break;
    case CLI_OPT_CERT: cli->cert = arg; break;
    case CLI_OPT_KEY: cli->key = arg; break;
    case CLI_OPT_INSECURE: cli->insecure = 1; break;
    default: usage(argv[0]); return -1;
    }
    return 0;
}

/* The checks on the shared options once all are read: 0, or -1 after a message. */
static int cli_check(const struct cli_options *cli) {
    if (cli->password != NULL && cli->user == NULL) {
        fprintf(stderr, CLI_NAME ": -P needs -u\n");
        return -1;
    }
    if ((cli->cert == NULL) != (cli->key == NULL)) {
        fprintf(stderr, CLI_NAME ": --cert and --key go together\n");
        return -1;
    }
    if (cli->url != NULL && (cli->host_given || cli->port != NULL)) {
        fprintf(stderr, CLI_NAME ": -L names the broker: give either -L or -h/-p\n");
        return -1;
    }
    if (cli->late_version != NULL) {
        fprintf(stderr, CLI_NAME ": -D properties need MQTT 5.0, but -V %s came after them\n",
                cli->late_version);
        return -1;
    }
    return 0;
}

/* Whether a TLS option was given. */
static int cli_tls(const struct cli_options *cli) {
    return cli->cafile != NULL || cli->cert != NULL || cli->insecure;
}

/* Puts the shared options into cli->connect; the status of the first that failed. */
static mqtt_status cli_connect_options(const struct cli_options *cli) {
    mqtt_connect_options *options = cli->connect;
    mqtt_status status = mqtt_connect_options_set_client_id(options, cli->client_id);
    if (status == MQTT_STATUS_OK) {
        status = mqtt_connect_options_set_protocol_level(options, cli->level);
    }
    if (status == MQTT_STATUS_OK) {
        status = mqtt_connect_options_set_keep_alive(options, (int)cli->keep_alive);
    }
    if (status == MQTT_STATUS_OK) status = mqtt_connect_options_set_username(options, cli->user);
    if (status == MQTT_STATUS_OK && cli->password != NULL) {
        status = mqtt_connect_options_set_password(options, (const uint8_t *)cli->password,
                                                   strlen(cli->password));
    }
    if (status == MQTT_STATUS_OK && cli_tls(cli)) {
        status = mqtt_connect_options_set_tls(options, cli->cafile, cli->cert, cli->key);
    }
    if (status == MQTT_STATUS_OK && cli->insecure) {
        status = mqtt_connect_options_set_tls_insecure(options, true);
    }
    return status;
}

/* Connects with cli->connect, to -L's URL or else to -h and -p (by default 1883, or 8883 with
 * TLS); NULL after a message (with the reason code of a refusal). */
static mqtt_connection *cli_connect(const struct cli_options *cli) {
    const char *port = cli->port != NULL ? cli->port : cli_tls(cli) ? "8883" : "1883";
    mqtt_connection *connection = cli->url != NULL
                                      ? mqtt_connect_url(cli->url, cli->connect)
                                      : mqtt_connect(cli->host, port, cli->connect);
    if (connection == NULL) {
        /* Before any other libmqtt call, which would reset mqtt_last_error(). */
        int reason = mqtt_last_reason_code();
        if (cli->url != NULL) {
            fprintf(stderr, CLI_NAME ": cannot connect to %s", cli->url);
        } else {
            fprintf(stderr, CLI_NAME ": cannot connect to %s:%s", cli->host, port);
        }
        fprintf(stderr, ": %s (%s)", mqtt_status_str((int)mqtt_last_status()), mqtt_last_error());
        print_reason(reason, mqtt_last_error());
    }
    return connection;
}

/* Disconnects cleanly: 0, or 1 after a message. */
static int cli_disconnect(mqtt_connection *connection) {
    mqtt_status status = mqtt_disconnect(connection);
    return status == MQTT_STATUS_OK ? 0 : fail("disconnect", status);
}

#endif /* LIBMQTT_EXAMPLES_CLI_V5_H */
