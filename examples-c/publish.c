/*
 * publish: send one message to an MQTT broker, in the style of mosquitto_pub.
 *
 *   publish [-h host] [-p port | -L URL] -t topic (-m message | -n) [-q qos] [-r]
 *           [-i client-id] [-u user] [-P password] [-k keepalive] [-V version]
 *           [-D command property value [-D ...]]
 *           [--cafile FILE] [--cert FILE --key FILE] [--insecure]
 *
 * -L names the broker as mosquitto_pub's -L does, mqtt(s)://[user[:password]@]host[:port]/topic,
 * the topic taking the place of -t; mqtts:// connects over TLS (port 8883 unless given), ws:// and
 * wss:// over WebSocket on path /mqtt (ports 80 and 443; wss:// over TLS). The TLS
 * options are mosquitto_pub's: --cafile the CA certificates to trust (default: the system's),
 * --cert and --key a client certificate, --insecure no verification of the server's certificate
 * (for tests; mosquitto_pub's skips only the name check). Any of them connects over TLS, on
 * port 8883 unless -p says otherwise.
 *
 * -n sends an empty message; --help prints the usage. Waits for the acknowledgement the QoS asks for, then disconnects.
 * Exits 0 on success, 1 on failure (with a message on stderr), 2 on bad usage.
 *
 * -V picks the protocol: 5 (or mqttv5) for MQTT 5.0, 311 (mqttv311, the default) for 3.1.1,
 * 31 (mqttv31) for 3.1. -D adds an MQTT 5.0 property, as mosquitto_pub's -D does, and so makes
 * the client an MQTT 5.0 one; a -V 311 or -V 31 after a -D is an error. The properties:
 *
 *   -D connect session-expiry-interval N     -D publish message-expiry-interval N
 *   -D connect receive-maximum N             -D publish content-type TEXT
 *   -D connect maximum-packet-size N         -D publish response-topic TOPIC
 *   -D connect topic-alias-maximum N         -D publish correlation-data TEXT
 *   -D connect request-response-information 0|1
 *   -D connect request-problem-information 0|1
 *   -D connect user-property NAME VALUE      -D publish payload-format-indicator 0|1
 *                                            -D publish user-property NAME VALUE
 *                                            -D publish topic-alias N
 *
 * Commands and property names are those of the MQTT 5.0 specification in lower case with '-'
 * between words, matched regardless of case. User properties keep their order. libmqtt picks
 * topic aliases itself: any topic-alias N above 0 allows one (a single publish sends the topic
 * name in full anyway; an alias only replaces it from the second use on). A property that
 * MQTT 5.0 does not allow for the command, and the commands this program has no use for
 * (disconnect, will, auth, ...), are usage errors. A refused publish or connection reports the
 * server's reason code.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define CLI_NAME "publish"
#define CLI_PACKET "PUBLISH"
#include "cli_v5.h"

static void usage(const char *program) {
    fprintf(stderr,
            "usage: %s [-h host] [-p port | -L URL] -t topic (-m message | -n) [-q qos] [-r]\n"
            "          [-i client-id] [-u user] [-P password] [-k keepalive] [-V version]\n"
            "          [-D command property value ...]\n"
            "          [--cafile FILE] [--cert FILE --key FILE] [--insecure]\n"
            "  -n  send an empty message (--help: print this)\n"
            "  -r  ask the broker to retain the message\n"
            CLI_TLS_USAGE
            CLI_V5_USAGE
            "        -D publish message-expiry-interval N | topic-alias N\n"
            "        -D publish content-type|response-topic|correlation-data TEXT\n"
            "        -D publish payload-format-indicator 0|1\n"
            "        -D publish user-property NAME VALUE\n",
            program);
}

/* What the -D publish properties change. */
struct properties {
    mqtt_publish_options *publish;
    int topic_alias; /* -D publish topic-alias given */
};

static void free_properties(struct properties *props) {
    mqtt_publish_options_free(props->publish);
}

/* Applies one valid -D other than a CONNECT one (see cli_v5.h). */
static int apply_property(struct properties *props, const struct cli_property *property) {
    mqtt_publish_options *options = props->publish;
    const char *name = property->name, *value = property->value;
    long long n = 0;
    mqtt_status status;
    if (property->command != CMD_PUBLISH) {
        return property_unsupported(property);
    }
    if (strcmp(name, "message-expiry-interval") == 0) {
        if (property_number(property, 0, 4294967295LL, &n) != 0) return -1;
        status = mqtt_publish_options_set_message_expiry(options, (uint32_t)n);
    } else if (strcmp(name, "content-type") == 0) {
        status = mqtt_publish_options_set_content_type(options, value);
    } else if (strcmp(name, "response-topic") == 0) {
        status = mqtt_publish_options_set_response_topic(options, value);
    } else if (strcmp(name, "correlation-data") == 0) {
        status = mqtt_publish_options_set_correlation_data(options, (const uint8_t *)value,
                                                           strlen(value));
    } else if (strcmp(name, "payload-format-indicator") == 0) {
        if (property_number(property, 0, 1, &n) != 0) return -1;
        status = mqtt_publish_options_set_payload_format(options, (int)n);
    } else if (strcmp(name, "user-property") == 0) {
        status = mqtt_publish_options_add_user_property(options, value, property->second);
    } else if (strcmp(name, "topic-alias") == 0) {
        /* libmqtt assigns aliases itself; any N allows it to. */
        if (property_number(property, 1, 65535, &n) != 0) return -1;
        props->topic_alias = 1;
        status = MQTT_STATUS_OK;
    } else {
        return property_unsupported(property);
    }
    return property_status(property, status);
}

int main(int argc, char **argv) {
    const char *topic = NULL, *message = NULL;
    int retain = 0, empty = 0;
    int exit_code = 0;
    mqtt_connection *connection = NULL;

    struct properties props = {mqtt_publish_options_new(), 0};
    struct cli_options cli;
    if (cli_init(&cli, &props, props.publish != NULL) != 0) {
        return 1;
    }

    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'H'}, CLI_LONG_OPTIONS, {NULL, 0, NULL, 0}};
    int opt;
    /* '+': stop at the first non-option, so the -D values that follow its command are never
     * reordered. */
    while ((opt = getopt_long(argc, argv, "+h:p:t:m:nq:ri:u:P:k:V:D:L:", long_options, NULL)) !=
           -1) {
        switch (opt) {
        case 't': topic = optarg; break;
        case 'm': message = optarg; break;
        case 'n': empty = 1; break;
        case 'r': retain = 1; break;
        case 'H':
            usage(argv[0]);
            goto done;
        default:
            if (cli_option(&cli, opt, argc, argv) != 0) goto usage_error;
        }
    }
    if (topic == NULL) {
        topic = cli.url_topic;
    }
    if (topic == NULL || (message == NULL) == (empty == 0) || optind != argc) {
        if (message != NULL && empty) {
            fprintf(stderr, "publish: give either -m or -n, not both\n");
        }
        usage(argv[0]);
        goto usage_error;
    }
    if (cli_check(&cli) != 0) {
        goto usage_error;
    }

    mqtt_status status = cli_connect_options(&cli);
    if (status == MQTT_STATUS_OK && cli.level == 5) {
        /* mosquitto_pub sends a topic alias only when asked to. */
        status = mqtt_publish_options_set_topic_alias(props.publish, props.topic_alias != 0);
    }
    if (status != MQTT_STATUS_OK) {
        exit_code = fail("options", status);
        goto done;
    }
    connection = cli_connect(&cli);
    if (connection == NULL) {
        exit_code = 1;
        goto done;
    }

    size_t len = empty ? 0 : strlen(message);
    const uint8_t *payload = empty ? NULL : (const uint8_t *)message;
    int qos = (int)cli.qos;
    if (cli.level == 5) {
        status = mqtt_publish_ex(connection, topic, payload, len, qos, retain, props.publish);
    } else {
        status = mqtt_publish(connection, topic, payload, len, qos, retain);
    }
    exit_code = status != MQTT_STATUS_OK ? fail(topic, status) : cli_disconnect(connection);
    goto done;

usage_error:
    exit_code = 2;
done:
    return cli_finish(&cli, connection, exit_code);
}
