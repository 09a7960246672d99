/* mqtt_connection_free from any thread at any time (issue 11, defect 4).
 *
 * A fake broker (a listening socket served by a thread of this program) accepts the CONNECT
 * and then never answers anything. Two threads block on the connection, one in
 * mqtt_receive_message (no timeout) and one in mqtt_publish at QoS 1 (the PUBACK never comes);
 * the main thread frees the connection. Both calls must return MQTT_STATUS_CLOSED, and under
 * valgrind and AddressSanitizer nothing may touch freed memory. A second round frees the
 * connection from inside a message callback run by mqtt_receive_message.
 *
 * Prints "all N checks passed" and exits 0 on success. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"


/* The fake broker: accepts one connection, answers CONNACK, optionally sends one QoS 0
 * PUBLISH, then reads until the client goes away. */
struct fake_broker {
    int listener;
    unsigned short port;
    int send_publish;
    pthread_t thread;
};

static void *serve(void *arg) {
    struct fake_broker *fb = arg;
    int conn = accept(fb->listener, NULL, NULL);
    if (conn < 0) return NULL;
    unsigned char buf[512];
    /* The CONNECT arrives in one segment on loopback. */
    if (read(conn, buf, sizeof buf) > 0) {
        static const unsigned char connack[] = {0x20, 2, 0, 0};
        /* PUBLISH QoS 0, topic "t", payload "x". */
        static const unsigned char publish[] = {0x30, 4, 0, 1, 't', 'x'};
        if (write(conn, connack, sizeof connack) < 0) perror("write");
        if (fb->send_publish && write(conn, publish, sizeof publish) < 0) perror("write");
        while (read(conn, buf, sizeof buf) > 0) {
        }
    }
    close(conn);
    return NULL;
}

static int fake_broker_start(struct fake_broker *fb, int send_publish) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fb->listener = socket(AF_INET, SOCK_STREAM, 0);
    if (fb->listener < 0 || bind(fb->listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(fb->listener, 1) != 0 ||
        getsockname(fb->listener, (struct sockaddr *)&addr, &len) != 0) {
        perror("fake broker");
        return -1;
    }
    fb->port = ntohs(addr.sin_port);
    fb->send_publish = send_publish;
    return pthread_create(&fb->thread, NULL, serve, fb);
}

static void fake_broker_stop(struct fake_broker *fb) {
    pthread_join(fb->thread, NULL);
    close(fb->listener);
}

static mqtt_connection *connect_to(const struct fake_broker *fb) {
    char port[8];
    mqtt_connect_options *opts = mqtt_connect_options_new();
    mqtt_connect_options_set_operation_timeout(opts, 30000);
    snprintf(port, sizeof port, "%u", (unsigned)fb->port);
    mqtt_connection *conn = mqtt_connect("127.0.0.1", port, opts);
    mqtt_connect_options_free(opts);
    return conn;
}

struct blocked_call {
    mqtt_connection *conn;
    mqtt_status status;
};

static void *receive_forever(void *arg) {
    struct blocked_call *call = arg;
    call->status = mqtt_receive_message(call->conn, -1);
    return NULL;
}

static void *publish_unacknowledged(void *arg) {
    struct blocked_call *call = arg;
    call->status = mqtt_publish(call->conn, "t", (const uint8_t *)"x", 1, MQTT_QOS_AT_LEAST_ONCE,
                                false);
    return NULL;
}

static void free_while_two_threads_are_blocked(void) {
    struct fake_broker fb;
    CHECK(fake_broker_start(&fb, 0) == 0);
    mqtt_connection *conn = connect_to(&fb);
    CHECK(conn != NULL);
    if (conn == NULL) return;
    struct blocked_call receiving = {conn, MQTT_STATUS_OK}, publishing = {conn, MQTT_STATUS_OK};
    pthread_t receiver, publisher;
    pthread_create(&receiver, NULL, receive_forever, &receiving);
    pthread_create(&publisher, NULL, publish_unacknowledged, &publishing);
    sleep_ms(300); /* both are blocked by now */
    mqtt_connection_free(conn);
    pthread_join(receiver, NULL);
    pthread_join(publisher, NULL);
    CHECK(receiving.status == MQTT_STATUS_CLOSED);
    CHECK(publishing.status == MQTT_STATUS_CLOSED);
    fake_broker_stop(&fb);
}

static void free_from_inside(void *userdata, const mqtt_message *msg) {
    mqtt_connection **conn = userdata;
    (void)msg;
    mqtt_connection_free(*conn);
    /* Released once the call running this callback returns; until then still usable. */
    CHECK(!mqtt_connection_is_connected(*conn));
    *conn = NULL;
}

/* The fake broker sends one message right after CONNACK; the default message callback frees
 * the connection from inside mqtt_receive_message. */
static void free_from_a_callback(void) {
    struct fake_broker fb;
    char port[8];
    mqtt_connection *conn = NULL;
    CHECK(fake_broker_start(&fb, 1) == 0);
    snprintf(port, sizeof port, "%u", (unsigned)fb.port);
    mqtt_connect_options *opts = mqtt_connect_options_new();
    mqtt_connect_options_set_on_message(opts, free_from_inside, &conn);
    conn = mqtt_connect("127.0.0.1", port, opts);
    mqtt_connect_options_free(opts);
    CHECK(conn != NULL);
    if (conn == NULL) return;
    mqtt_status s = mqtt_receive_message(conn, 5000);
    CHECK(s == MQTT_STATUS_OK);
    CHECK(conn == NULL); /* the callback ran and freed it */
    fake_broker_stop(&fb);
}

int main(void) {
    free_while_two_threads_are_blocked();
    free_from_a_callback();
    return checks_report();
}
