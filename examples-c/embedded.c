/* A broker and a client in one process: the shape of the C API in one page.
 * Run: examples-c/build/embedded  (prints the message it receives, exits 0). */
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

static void on_message(void *userdata, const mqtt_message *msg) {
    int *received = userdata;
    printf("%s: %.*s (QoS %d%s)\n", msg->topic, (int)msg->payload_len,
           (const char *)msg->payload, msg->qos, msg->retain ? ", retained" : "");
    ++*received;
}

static int fail(const char *what, mqtt_status s) {
    fprintf(stderr, "%s: %s: %s\n", what, mqtt_status_str(s), mqtt_last_error());
    return 1;
}

int main(void) {
    /* "0" asks for any free port; NULL options mean defaults (127.0.0.1, no authentication). */
    mqtt_broker *broker = mqtt_broker_new("0", NULL);
    if (broker == NULL) return fail("mqtt_broker_new", mqtt_last_status());
    mqtt_status s = mqtt_broker_start(broker); /* returns once listening */
    if (s != MQTT_STATUS_OK) return fail("mqtt_broker_start", s);

    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)mqtt_broker_port(broker));
    mqtt_connection *conn = mqtt_connect("localhost", port, NULL);
    if (conn == NULL) return fail("mqtt_connect", mqtt_last_status());

    int received = 0, granted = -1;
    s = mqtt_subscribe(conn, "greetings/+", MQTT_QOS_EXACTLY_ONCE, on_message, &received, &granted);
    if (s != MQTT_STATUS_OK) return fail("mqtt_subscribe", s);

    const char *hello = "Hello MQTT";
    s = mqtt_publish(conn, "greetings/client", (const uint8_t *)hello, strlen(hello),
                     MQTT_QOS_AT_LEAST_ONCE, false); /* returns once PUBACK arrives */
    if (s != MQTT_STATUS_OK) return fail("mqtt_publish", s);
    /* The host program can publish into its own broker too. */
    s = mqtt_broker_publish(broker, "greetings/host", (const uint8_t *)"hi", 2,
                            MQTT_QOS_AT_MOST_ONCE, false);
    if (s != MQTT_STATUS_OK) return fail("mqtt_broker_publish", s);

    while (received < 2) { /* explicit receive: callbacks run on this thread */
        s = mqtt_receive_message(conn, 5000);
        if (s != MQTT_STATUS_OK) return fail("mqtt_receive_message", s);
    }

    mqtt_disconnect(conn);
    mqtt_connection_free(conn);
    mqtt_broker_stop(broker);
    mqtt_broker_free(broker);
    return 0;
}
