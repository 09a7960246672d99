/*
 * subscribe: print messages from an MQTT broker, in the style of mosquitto_sub.
 *
 *   subscribe [-h host] [-p port | -L URL] -t filter [-t filter ...] [-q qos] [-i client-id]
 *             [-u user] [-P password] [-k keepalive] [-c] [-C count] [-W seconds] [-v]
 *             [-F format] [-N] [-V version] [-D command property value [-D ...]]
 *             [--nl] [--rap] [--retain-handling 0|1|2]
 *             [--cafile FILE] [--cert FILE --key FILE] [--insecure]
 *
 * -L names the broker as mosquitto_sub's -L does, mqtt(s)://[user[:password]@]host[:port]/filter,
 * the filter subscribed to besides any -t; mqtts:// connects over TLS (port 8883 unless given),
 * ws:// and wss:// over WebSocket on path /mqtt (ports 80 and 443; wss:// over TLS).
 * The TLS options are mosquitto_sub's: --cafile the CA certificates to trust (default: the
 * system's), --cert and --key a client certificate, --insecure no verification of the server's
 * certificate (for tests; mosquitto_sub's skips only the name check). Any of them connects over
 * TLS, on port 8883 unless -p says otherwise.
 *
 * Prints each payload on its own line (with -v: "topic payload"; -N leaves out the newline).
 * Exits 0 after -C count messages (or, without -C, when the broker closes the connection), 1 on
 * any failure (with a message on stderr; a refused subscription with the server's reason code),
 * 2 on bad usage. -W bounds the whole run: exit 1 if not done in time.
 *
 * -V picks the protocol: 5 (or mqttv5) for MQTT 5.0, 311 (mqttv311, the default) for 3.1.1,
 * 31 (mqttv31) for 3.1. -D adds an MQTT 5.0 property, as mosquitto_sub's -D does, and so makes
 * the client an MQTT 5.0 one; a -V 311 or -V 31 after a -D is an error. The properties:
 *
 *   -D connect session-expiry-interval N     -D connect request-response-information 0|1
 *   -D connect receive-maximum N             -D connect request-problem-information 0|1
 *   -D connect maximum-packet-size N         -D connect user-property NAME VALUE
 *   -D connect topic-alias-maximum N         -D subscribe subscription-identifier N
 *                                            -D subscribe user-property NAME VALUE
 *
 * Commands and property names are those of the MQTT 5.0 specification in lower case with '-'
 * between words, matched regardless of case; a property MQTT 5.0 does not allow for the
 * command, and the commands this program has no use for, are usage errors. With MQTT 5.0, -c
 * asks for a session that never expires (as mosquitto_sub does; -i is then required) unless
 * -D connect session-expiry-interval says otherwise. MQTT 5.0 subscription options, for every
 * filter: --nl (No Local), --rap or --retain-as-published (Retain As Published) and
 * --retain-handling N (0 retained messages on every subscribe, 1 only on a new subscription,
 * 2 never).
 *
 * -F prints each message in a format of mosquitto_sub's (overriding -v), followed by a newline
 * unless -N is given:
 *   %t topic  %p payload  %x %X payload in lower/upper case hex  %l payload length  %q QoS
 *   %r RETAIN flag  %m message id (always 0: libmqtt does not hand it out)  %%  a '%'
 *   MQTT 5.0 properties, empty when absent: %P user properties as name:value separated by
 *   spaces, in order  %C content type  %R response topic  %E message expiry interval
 *   %D correlation data  %F payload format indicator  %S subscription identifier (the first)
 *   %A topic alias (always empty: libmqtt resolves aliases)
 *   %I ISO-8601 local time  %U Unix time with nanoseconds  @X strftime's %X  @N nanoseconds
 *   @@ a '@'  \n \t \r \v \a \e \0 \\ escapes
 * As in mosquitto_sub, "%" may be followed by '-' (align left), '0' (pad with zeros), a field
 * width, and for %t %C %R %I a ".precision" maximum width. %j and %J (JSON) are not supported.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CLI_NAME "subscribe"
#define CLI_PACKET "SUBSCRIBE"
#include "cli_v5.h"

#define MAX_FILTERS 32

struct received {
    long count;
    int verbose;
    int eol;            /* print a newline after each message (no -N) */
    const char *format; /* -F, or NULL */
};

static void usage(const char *program) {
    fprintf(stderr,
            "usage: %s [-h host] [-p port | -L URL] -t filter [-t filter ...] [-q qos]\n"
            "          [-i client-id] [-u user] [-P password] [-k keepalive] [-c] [-C count]\n"
            "          [-W seconds] [-v] [-F format] [-N] [-V version]\n"
            "          [-D command property value ...] [--nl] [--rap] [--retain-handling 0|1|2]\n"
            "          [--cafile FILE] [--cert FILE --key FILE] [--insecure]\n"
            "  -c  keep the session (clean session off; with -V 5 it never expires)\n"
            "  -C  exit after receiving count messages\n"
            "  -W  give up (exit 1) after this many seconds\n"
            "  -v  print \"topic payload\" instead of the payload only\n"
            "  -F  print in this format: %%t topic, %%p payload, %%x/%%X hex payload, %%l length,\n"
            "      %%q QoS, %%r retain, %%m message id (0), %%P user properties, %%C content type,\n"
            "      %%R response topic, %%E expiry interval, %%D correlation data, %%F payload\n"
            "      format, %%S subscription identifier, %%A topic alias, %%I %%U @X @N time,\n"
            "      %%%% @@ \\n \\t \\r \\v \\a \\e \\0 \\\\\n"
            "  -N  no newline after each message\n"
            CLI_TLS_USAGE
            CLI_V5_USAGE
            "        -D subscribe subscription-identifier N\n"
            "        -D subscribe user-property NAME VALUE\n"
            "  --nl                 No Local: not this client's own messages (MQTT 5.0)\n"
            "  --rap                Retain As Published: keep the RETAIN flag (MQTT 5.0)\n"
            "  --retain-handling N  0 retained messages on subscribe, 1 only on a new\n"
            "                       subscription, 2 never (MQTT 5.0)\n",
            program);
}

/* What the -D subscribe properties change. */
struct properties {
    mqtt_subscribe_options *subscribe;
};

static void free_properties(struct properties *props) {
    mqtt_subscribe_options_free(props->subscribe);
}

/* Applies one valid -D other than a CONNECT one (see cli_v5.h). */
static int apply_property(struct properties *props, const struct cli_property *property) {
    mqtt_subscribe_options *options = props->subscribe;
    long long n = 0;
    mqtt_status status;
    if (property->command != CMD_SUBSCRIBE) {
        return property_unsupported(property);
    }
    if (strcmp(property->name, "subscription-identifier") == 0) {
        if (property_number(property, 1, 268435455, &n) != 0) return -1;
        status = mqtt_subscribe_options_set_subscription_identifier(options, (uint32_t)n);
    } else if (strcmp(property->name, "user-property") == 0) {
        status = mqtt_subscribe_options_add_user_property(options, property->value,
                                                          property->second);
    } else {
        return property_unsupported(property);
    }
    return property_status(property, status);
}

/* ---- -F: mosquitto_sub's output format ---------------------------------------------------- */

/* One %-sequence: flags, field width, precision (-1: none) and the conversion character. */
struct spec {
    int left;      /* '-': align left */
    char pad;      /* '0' or ' ' */
    int width;     /* 0: none */
    int precision; /* -1: none */
    char conversion;
};

#define MAX_WIDTH 100000

/* Parses the sequence after a '%' at `p`; returns what follows it, or NULL (after a message)
 * when it is incomplete or names no conversion this program knows. */
static const char *parse_spec(const char *p, struct spec *spec) {
    spec->left = 0;
    spec->pad = ' ';
    spec->width = 0;
    spec->precision = -1;
    for (;; p++) {
        if (*p == '-') {
            spec->left = 1;
        } else if (*p == '0') {
            spec->pad = '0';
        } else {
            break;
        }
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        if (spec->width > MAX_WIDTH) break;
        spec->width = spec->width * 10 + (*p - '0');
    }
    if (*p == '.') {
        p++;
        spec->precision = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (spec->precision > MAX_WIDTH) break;
            spec->precision = spec->precision * 10 + (*p - '0');
        }
    }
    if (spec->width > MAX_WIDTH || spec->precision > MAX_WIDTH) {
        fprintf(stderr, "subscribe: -F: field width above %d\n", MAX_WIDTH);
        return NULL;
    }
    if (*p == '\0') {
        fprintf(stderr, "subscribe: -F: incomplete format specifier\n");
        return NULL;
    }
    if (*p == 'j' || *p == 'J') {
        fprintf(stderr, "subscribe: -F: %%%c (JSON output) is not supported\n", *p);
        return NULL;
    }
    if (strchr("%ACDEFIlmPpqRrStUxX", *p) == NULL) {
        fprintf(stderr, "subscribe: -F: invalid format specifier '%c'\n", *p);
        return NULL;
    }
    spec->conversion = *p;
    return p + 1;
}

/* The character escape `c` (after a backslash) stands for, or -1. */
static int escape(char c) {
    switch (c) {
    case '\\': return '\\';
    case '0': return '\0';
    case 'a': return '\a';
    case 'e': return 0x1b;
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'v': return '\v';
    default: return -1;
    }
}

/* Checks a -F format before connecting, as mosquitto_sub does; -1 after a message. */
static int check_format(const char *format) {
    for (const char *p = format; *p != '\0';) {
        if (*p == '%') {
            struct spec spec;
            p = parse_spec(p + 1, &spec);
            if (p == NULL) return -1;
        } else if (*p == '@') {
            if (p[1] == '\0') {
                fprintf(stderr, "subscribe: -F: incomplete format specifier\n");
                return -1;
            }
            p += 2;
        } else if (*p == '\\') {
            if (p[1] == '\0') {
                fprintf(stderr, "subscribe: -F: incomplete escape specifier\n");
                return -1;
            }
            if (escape(p[1]) < 0) {
                fprintf(stderr, "subscribe: -F: invalid escape specifier '%c'\n", p[1]);
                return -1;
            }
            p += 2;
        } else {
            p++;
        }
    }
    return 0;
}

static void put_repeated(char c, int n) {
    for (int i = 0; i < n; i++) fputc(c, stdout);
}

/* `len` bytes padded to the field width: on the left with the pad character, or on the right
 * with spaces when aligned left. */
static void put_padded(const void *bytes, size_t len, const struct spec *spec, char pad) {
    int fill = spec->width > 0 && (size_t)spec->width > len ? spec->width - (int)len : 0;
    if (!spec->left) put_repeated(pad, fill);
    fwrite(bytes, 1, len, stdout);
    if (spec->left) put_repeated(' ', fill);
}

/* A string property or the topic: space padded, cut at the precision. */
static void put_text(const char *text, size_t len, const struct spec *spec) {
    if (spec->precision >= 0 && len > (size_t)spec->precision) len = (size_t)spec->precision;
    put_padded(text, len, spec, ' ');
}

/* A number: zero padded with the 0 flag (unless aligned left). */
static void put_number(unsigned long long value, const struct spec *spec) {
    char text[32];
    int len = snprintf(text, sizeof text, "%llu", value);
    put_padded(text, (size_t)len, spec, spec->left ? ' ' : spec->pad);
}

/* An absent numeric property: the field width of pad characters, as mosquitto_sub prints. */
static void put_absent(const struct spec *spec, char pad) {
    put_repeated(pad, spec->width);
}

static void put_hex(const uint8_t *payload, size_t len, int upper, const struct spec *spec) {
    int fill = spec->width > 0 && (size_t)spec->width > 2 * len ? spec->width - (int)(2 * len) : 0;
    if (!spec->left) put_repeated(spec->pad, fill);
    for (size_t i = 0; i < len; i++) printf(upper ? "%02X" : "%02x", payload[i]);
    if (spec->left) put_repeated(' ', fill);
}

/* The wall-clock time of one message, taken once for all its time sequences. */
struct stamp {
    int taken;
    struct timespec now;
    struct tm local;
};

static const struct tm *stamp_time(struct stamp *stamp) {
    if (!stamp->taken) {
        clock_gettime(CLOCK_REALTIME, &stamp->now);
        localtime_r(&stamp->now.tv_sec, &stamp->local);
        stamp->taken = 1;
    }
    return &stamp->local;
}

static void put_conversion(const mqtt_message *message, const struct spec *spec,
                           struct stamp *stamp) {
    uint32_t seconds = 0;
    const char *text;
    size_t len = 0;
    char buffer[64];
    switch (spec->conversion) {
    case '%': fputc('%', stdout); break;
    case 'A': put_absent(spec, spec->pad); break; /* libmqtt resolves aliases to topics */
    case 'C':
        text = mqtt_message_content_type(message);
        if (text != NULL) {
            put_text(text, strlen(text), spec);
        } else {
            put_absent(spec, ' ');
        }
        break;
    case 'D': {
        const uint8_t *data = mqtt_message_correlation_data(message, &len);
        if (data != NULL) fwrite(data, 1, len, stdout);
        break;
    }
    case 'E':
        if (mqtt_message_expiry_interval(message, &seconds)) {
            put_number(seconds, spec);
        } else {
            put_absent(spec, spec->pad);
        }
        break;
    case 'F': {
        int format = mqtt_message_payload_format(message);
        if (format >= 0) {
            put_number((unsigned long long)format, spec);
        } else {
            put_absent(spec, spec->pad);
        }
        break;
    }
    case 'I':
        len = strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S%z", stamp_time(stamp));
        if (len > 0) {
            put_text(buffer, len, spec);
        } else {
            put_absent(spec, ' ');
        }
        break;
    case 'l': put_number(message->payload_len, spec); break;
    case 'm': put_number(0, spec); break; /* the packet identifier is not handed out */
    case 'P': {
        size_t count = mqtt_message_user_property_count(message);
        for (size_t i = 0; i < count; i++) {
            const char *name = NULL, *value = NULL;
            if (mqtt_message_user_property_at(message, i, &name, &value) != MQTT_STATUS_OK) break;
            printf("%s%s:%s", i > 0 ? " " : "", name, value);
        }
        break;
    }
    case 'p': put_padded(message->payload, message->payload_len, spec, spec->left ? ' ' : spec->pad); break;
    case 'q': fputc('0' + message->qos, stdout); break;
    case 'R':
        text = mqtt_message_response_topic(message);
        if (text != NULL) put_text(text, strlen(text), spec);
        break;
    case 'r': fputc(message->retain ? '1' : '0', stdout); break;
    case 'S':
        if (mqtt_message_subscription_identifier_count(message) > 0) {
            put_number(mqtt_message_subscription_identifier_at(message, 0), spec);
        } else {
            put_absent(spec, spec->pad);
        }
        break;
    case 't': put_text(message->topic, message->topic_len, spec); break;
    case 'U':
        stamp_time(stamp);
        printf("%lld.%09ld", (long long)stamp->now.tv_sec, (long)stamp->now.tv_nsec);
        break;
    case 'x': put_hex(message->payload, message->payload_len, 0, spec); break;
    case 'X': put_hex(message->payload, message->payload_len, 1, spec); break;
    default: break;
    }
}

/* Prints `message` in the -F format, which check_format accepted. */
static void print_formatted(const char *format, const mqtt_message *message) {
    struct stamp stamp = {0};
    for (const char *p = format; *p != '\0';) {
        if (*p == '%') {
            struct spec spec;
            p = parse_spec(p + 1, &spec);
            put_conversion(message, &spec, &stamp);
        } else if (*p == '@') {
            if (p[1] == '@') {
                fputc('@', stdout);
            } else if (p[1] == 'N') {
                stamp_time(&stamp);
                printf("%09ld", (long)stamp.now.tv_nsec);
            } else {
                char directive[3] = {'%', p[1], '\0'};
                char buffer[256];
                size_t len = strftime(buffer, sizeof buffer, directive, stamp_time(&stamp));
                fwrite(buffer, 1, len, stdout);
            }
            p += 2;
        } else if (*p == '\\') {
            fputc(escape(p[1]), stdout);
            p += 2;
        } else {
            fputc(*p++, stdout);
        }
    }
}

/* Runs on the thread inside mqtt_receive_message (this program never starts the loop thread). */
static void on_message(void *userdata, const mqtt_message *message) {
    struct received *received = userdata;
    if (received->format != NULL) {
        print_formatted(received->format, message);
    } else {
        if (received->verbose) {
            fwrite(message->topic, 1, message->topic_len, stdout);
            fputc(' ', stdout);
        }
        fwrite(message->payload, 1, message->payload_len, stdout);
    }
    if (received->eol) {
        fputc('\n', stdout);
    }
    fflush(stdout);
    received->count++;
}

static double seconds_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

enum long_option { OPT_NO_LOCAL = 256, OPT_RETAIN_AS_PUBLISHED, OPT_RETAIN_HANDLING, OPT_HELP };

int main(int argc, char **argv) {
    const char *filters[MAX_FILTERS];
    int filter_count = 0;
    long count = 0, wait_seconds = 0, retain_handling = 0;
    const char *v5_option = NULL; /* the last MQTT 5.0 subscription option given */
    int clean_session = 1, no_local = 0, retain_as_published = 0;
    struct received received = {0, 0, 1, NULL};
    int exit_code = 0;
    mqtt_connection *connection = NULL;

    struct properties props = {mqtt_subscribe_options_new()};
    struct cli_options cli;
    if (cli_init(&cli, &props, props.subscribe != NULL) != 0) {
        return 1;
    }

    static const struct option long_options[] = {
        {"nl", no_argument, NULL, OPT_NO_LOCAL},
        {"rap", no_argument, NULL, OPT_RETAIN_AS_PUBLISHED},
        {"retain-as-published", no_argument, NULL, OPT_RETAIN_AS_PUBLISHED},
        {"retain-handling", required_argument, NULL, OPT_RETAIN_HANDLING},
        {"help", no_argument, NULL, OPT_HELP},
        CLI_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    int opt;
    /* '+': stop at the first non-option, so the -D values that follow its command are never
     * reordered. */
    while ((opt = getopt_long(argc, argv, "+h:p:t:q:i:u:P:k:cC:W:vV:D:F:NL:", long_options,
                              NULL)) != -1) {
        switch (opt) {
        case 't':
            if (filter_count == MAX_FILTERS) {
                fprintf(stderr, "subscribe: at most %d -t filters\n", MAX_FILTERS);
                goto usage_error;
            }
            filters[filter_count++] = optarg;
            break;
        case 'c': clean_session = 0; break;
        case 'C':
            if (parse_int(optarg, 1, LONG_MAX, &count) != 0) {
                fprintf(stderr, "subscribe: -C must be a positive count\n");
                goto usage_error;
            }
            break;
        case 'W':
            if (parse_int(optarg, 1, INT_MAX / 1000, &wait_seconds) != 0) {
                fprintf(stderr, "subscribe: -W must be a positive number of seconds\n");
                goto usage_error;
            }
            break;
        case 'v': received.verbose = 1; break;
        case 'F':
            if (check_format(optarg) != 0) {
                goto usage_error;
            }
            received.format = optarg;
            break;
        case 'N': received.eol = 0; break;
        case OPT_NO_LOCAL:
            no_local = 1;
            v5_option = "--nl";
            break;
        case OPT_RETAIN_AS_PUBLISHED:
            retain_as_published = 1;
            v5_option = "--rap";
            break;
        case OPT_RETAIN_HANDLING:
            if (parse_int(optarg, 0, 2, &retain_handling) != 0) {
                fprintf(stderr, "subscribe: --retain-handling must be 0, 1 or 2\n");
                goto usage_error;
            }
            v5_option = "--retain-handling";
            break;
        case OPT_HELP:
            usage(argv[0]);
            goto done;
        default:
            if (cli_option(&cli, opt, argc, argv) != 0) goto usage_error;
        }
    }
    if (cli.url_topic != NULL) {
        if (filter_count == MAX_FILTERS) {
            fprintf(stderr, "subscribe: at most %d filters\n", MAX_FILTERS);
            goto usage_error;
        }
        filters[filter_count++] = cli.url_topic;
    }
    if (filter_count == 0 || optind != argc) {
        usage(argv[0]);
        goto usage_error;
    }
    if (cli_check(&cli) != 0) {
        goto usage_error;
    }
    if (v5_option != NULL && cli.level != 5) {
        fprintf(stderr, "subscribe: %s is an MQTT 5.0 subscription option: give -V 5\n",
                v5_option);
        goto usage_error;
    }
    /* mosquitto_sub: with MQTT 5.0, -c means a session that never expires, which needs an id. */
    int endless_session = cli.level == 5 && !clean_session && !cli.session_expiry;
    if (endless_session && cli.client_id == NULL) {
        fprintf(stderr, "subscribe: -c with -V 5 keeps the session forever: give a client id "
                        "(-i)\n");
        goto usage_error;
    }

    /* MQTT 3.1.1 and 3.1 subscriptions take no options. */
    mqtt_subscribe_options *options = cli.level == 5 ? props.subscribe : NULL;
    mqtt_status status = cli_connect_options(&cli);
    if (status == MQTT_STATUS_OK) {
        status = mqtt_connect_options_set_clean_session(cli.connect, clean_session);
    }
    if (status == MQTT_STATUS_OK && wait_seconds > 0) {
        status = mqtt_connect_options_set_connect_timeout(cli.connect, (int)wait_seconds * 1000);
    }
    if (status == MQTT_STATUS_OK && endless_session) {
        status = mqtt_connect_options_set_session_expiry(cli.connect, UINT32_MAX);
    }
    if (status == MQTT_STATUS_OK && options != NULL) {
        status = mqtt_subscribe_options_set_no_local(options, no_local);
    }
    if (status == MQTT_STATUS_OK && options != NULL) {
        status = mqtt_subscribe_options_set_retain_as_published(options, retain_as_published);
    }
    if (status == MQTT_STATUS_OK && options != NULL) {
        status = mqtt_subscribe_options_set_retain_handling(options, (int)retain_handling);
    }
    if (status != MQTT_STATUS_OK) {
        exit_code = fail("options", status);
        goto done;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    connection = cli_connect(&cli);
    if (connection == NULL) {
        exit_code = 1;
        goto done;
    }

    for (int i = 0; i < filter_count; i++) {
        int reason = 0;
        status = mqtt_subscribe_ex(connection, filters[i], (int)cli.qos, options, on_message,
                                   &received, &reason);
        if (status == MQTT_STATUS_SUBSCRIBE_FAILED) {
            fprintf(stderr, "subscribe: %s: subscription refused: reason code 0x%02X, %s\n",
                    filters[i], (unsigned)reason, mqtt_reason_code_str(reason));
            exit_code = 1;
            goto done;
        }
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
    exit_code = cli_disconnect(connection);
    goto done;

usage_error:
    exit_code = 2;
done:
    return cli_finish(&cli, connection, exit_code);
}
