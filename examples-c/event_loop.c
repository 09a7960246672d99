/* Driving a connection from the program's own poll() loop, without any library thread (as with
 * libmosquitto's mosquitto_loop_read/write/misc): subscribe, publish at QoS 0, 1 and 2, and
 * receive the three messages back.
 *
 * Usage: event_loop [-h HOST] [-p PORT]   (defaults 127.0.0.1 and 1883)
 * Prints each message and "received 3 messages", exits 0; 1 on failure. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mqtt.h"

struct state {
    int received;
    int acknowledged;
};

static void on_message(void *userdata, const mqtt_message *msg) {
    struct state *st = userdata;
    printf("%s: %.*s (QoS %d)\n", msg->topic, (int)msg->payload_len, (const char *)msg->payload,
           msg->qos);
    ++st->received;
}

static void on_published(void *userdata, uint16_t packet_id, mqtt_status status) {
    struct state *st = userdata;
    (void)packet_id;
    if (status == MQTT_STATUS_OK) ++st->acknowledged;
}

static int fail(const char *what, mqtt_status s) {
    fprintf(stderr, "%s: %s: %s\n", what, mqtt_status_str(s), mqtt_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *port = "1883";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-h") == 0) host = argv[i + 1];
        else if (strcmp(argv[i], "-p") == 0) port = argv[i + 1];
    }
    struct state st = {0, 0};

    /* Connecting and subscribing block until CONNACK / SUBACK, on this thread. */
    mqtt_connection *conn = mqtt_connect(host, port, NULL);
    if (conn == NULL) return fail("mqtt_connect", mqtt_last_status());
    mqtt_status s = mqtt_subscribe(conn, "event-loop/#", MQTT_QOS_EXACTLY_ONCE, on_message, &st,
                                   NULL);
    if (s != MQTT_STATUS_OK) return fail("mqtt_subscribe", s);
    mqtt_connection_set_on_published(conn, on_published, &st);

    /* Publishing does not wait: acknowledgements arrive through mqtt_loop_read. */
    for (int qos = 0; qos <= 2; ++qos) {
        char topic[32], text[16];
        snprintf(topic, sizeof topic, "event-loop/qos%d", qos);
        snprintf(text, sizeof text, "hello %d", qos);
        s = mqtt_publish_async(conn, topic, (const uint8_t *)text, strlen(text), qos, false, NULL);
        if (s != MQTT_STATUS_OK) return fail("mqtt_publish_async", s);
    }

    time_t give_up = time(NULL) + 10;
    while (st.received < 3 || st.acknowledged < 2) {
        /* Ask for the socket each turn: a reconnect (mqtt_loop_misc) replaces it. */
        struct pollfd pfd = {mqtt_connection_socket(conn), POLLIN, 0};
        if (mqtt_connection_want_write(conn)) pfd.events |= POLLOUT;
        if (poll(&pfd, 1, 100) < 0 && errno != EINTR) {
            perror("poll");
            return 1;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            s = mqtt_loop_read(conn); /* runs on_message / on_published here */
            if (s != MQTT_STATUS_OK) return fail("mqtt_loop_read", s);
        }
        if (pfd.revents & POLLOUT) {
            s = mqtt_loop_write(conn);
            if (s != MQTT_STATUS_OK) return fail("mqtt_loop_write", s);
        }
        s = mqtt_loop_misc(conn); /* keep-alive, and reconnects when they are on */
        if (s != MQTT_STATUS_OK) return fail("mqtt_loop_misc", s);
        if (time(NULL) > give_up) {
            fprintf(stderr, "timed out: %d messages, %d acknowledged\n", st.received,
                    st.acknowledged);
            return 1;
        }
    }
    printf("received %d messages\n", st.received);
    mqtt_disconnect(conn);
    mqtt_connection_free(conn);
    return 0;
}
