/*
 * publish: send one message to an MQTT broker, in the style of mosquitto_pub.
 *
 *   publish [-h host] [-p port] -t topic (-m message | -n) [-q qos] [-r] [-i client-id]
 *           [-u user] [-P password] [-k keepalive]
 *
 * -n sends an empty message. Waits for the acknowledgement the QoS asks for, then disconnects.
 * Exits 0 on success, 1 on failure (with a message on stderr), 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqtt.h"

static void usage(const char *program) {
    fprintf(stderr,
            "usage: %s [-h host] [-p port] -t topic (-m message | -n) [-q qos] [-r]\n"
            "          [-i client-id] [-u user] [-P password] [-k keepalive]\n"
            "  -n  send an empty message\n"
            "  -r  ask the broker to retain the message\n",
            program);
}

static int fail(const char *what, mqtt_status status) {
    fprintf(stderr, "publish: %s: %s (%s)\n", what, mqtt_status_str((int)status),
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

int main(int argc, char **argv) {
    const char *host = "localhost";
    const char *port = "1883";
    const char *topic = NULL, *message = NULL;
    const char *client_id = NULL, *user = NULL, *password = NULL;
    long qos = 0, keep_alive = 60;
    int retain = 0, empty = 0;

    int opt;
    while ((opt = getopt(argc, argv, "h:p:t:m:nq:ri:u:P:k:")) != -1) {
        switch (opt) {
        case 'h': host = optarg; break;
        case 'p': port = optarg; break;
        case 't': topic = optarg; break;
        case 'm': message = optarg; break;
        case 'n': empty = 1; break;
        case 'q':
            if (parse_int(optarg, 0, 2, &qos) != 0) {
                fprintf(stderr, "publish: -q must be 0, 1 or 2\n");
                return 2;
            }
            break;
        case 'r': retain = 1; break;
        case 'i': client_id = optarg; break;
        case 'u': user = optarg; break;
        case 'P': password = optarg; break;
        case 'k':
            if (parse_int(optarg, 0, 65535, &keep_alive) != 0) {
                fprintf(stderr, "publish: -k must be 0..65535 seconds\n");
                return 2;
            }
            break;
        default: usage(argv[0]); return 2;
        }
    }
    if (topic == NULL || (message == NULL) == (empty == 0) || optind != argc) {
        if (message != NULL && empty) {
            fprintf(stderr, "publish: give either -m or -n, not both\n");
        }
        usage(argv[0]);
        return 2;
    }
    if (password != NULL && user == NULL) {
        fprintf(stderr, "publish: -P needs -u\n");
        return 2;
    }

    mqtt_connect_options *options = mqtt_connect_options_new();
    if (options == NULL) {
        return fail("options", mqtt_last_status());
    }
    mqtt_status status = mqtt_connect_options_set_client_id(options, client_id);
    if (status == MQTT_STATUS_OK) status = mqtt_connect_options_set_keep_alive(options, (int)keep_alive);
    if (status == MQTT_STATUS_OK) status = mqtt_connect_options_set_username(options, user);
    if (status == MQTT_STATUS_OK && password != NULL) {
        status = mqtt_connect_options_set_password(options, (const uint8_t *)password,
                                                   strlen(password));
    }
    if (status != MQTT_STATUS_OK) {
        mqtt_connect_options_free(options);
        return fail("options", status);
    }
    mqtt_connection *connection = mqtt_connect(host, port, options);
    if (connection == NULL) {
        /* Before any other libmqtt call, which would reset mqtt_last_error(). */
        fprintf(stderr, "publish: cannot connect to %s:%s: %s (%s)\n", host, port,
                mqtt_status_str((int)mqtt_last_status()), mqtt_last_error());
        mqtt_connect_options_free(options);
        return 1;
    }
    mqtt_connect_options_free(options);

    int exit_code = 0;
    size_t len = empty ? 0 : strlen(message);
    status = mqtt_publish(connection, topic, empty ? NULL : (const uint8_t *)message, len,
                          (int)qos, retain);
    if (status != MQTT_STATUS_OK) {
        exit_code = fail(topic, status);
    } else {
        status = mqtt_disconnect(connection);
        if (status != MQTT_STATUS_OK) {
            exit_code = fail("disconnect", status);
        }
    }
    mqtt_connection_free(connection);
    return exit_code;
}
