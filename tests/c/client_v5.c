/*
 * The MQTT 5.0 client API from C, against an embedded broker, run natively and under
 * AddressSanitizer + UBSan and valgrind by tests/shipping/sanitizers.rs: every new setter with
 * its error paths, a publish carrying every property read back through the message accessors
 * from a copy, subscription options and identifiers, reason codes of refusals, request/response,
 * enhanced authentication with re-authentication, and DISCONNECT with a reason.
 *
 * Prints every failed check and exits 1 if there was one; prints "all N checks passed" else.
 * Every wait is bounded, generously, because valgrind runs this tens of times slower.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define WAIT_MS 20000

/* Keeps a copy of the last message a callback received, and counts them. */
typedef struct {
    pthread_mutex_t lock;
    int count;
    mqtt_message *last;
    char last_topic[64];
} inbox;

static void keep(void *userdata, const mqtt_message *message) {
    inbox *box = userdata;
    mqtt_message *copy = mqtt_message_copy(message);
    pthread_mutex_lock(&box->lock);
    mqtt_message_free(box->last);
    box->last = copy;
    box->count++;
    snprintf(box->last_topic, sizeof box->last_topic, "%s", message->topic);
    pthread_mutex_unlock(&box->lock);
}

static int count_of(inbox *box) {
    int n;
    pthread_mutex_lock(&box->lock);
    n = box->count;
    pthread_mutex_unlock(&box->lock);
    return n;
}

static bool wait_count(inbox *box, int n) {
    int waited;
    for (waited = 0; waited < WAIT_MS; waited += 5) {
        if (count_of(box) >= n) {
            return true;
        }
        sleep_ms(5);
    }
    return false;
}

static bool authorize(void *userdata, const char *client_id, const char *username,
                      const char *topic, mqtt_access access) {
    (void)userdata;
    (void)client_id;
    (void)username;
    (void)access;
    return strncmp(topic, "denied", 6) != 0;
}

/* A challenge ("nonce") the client must answer with "signed". */
static int enhanced(void *userdata, const mqtt_auth_step *step, mqtt_auth_reply *reply) {
    (void)userdata;
    if (step->step == 0) {
        mqtt_auth_reply_set_data(reply, (const uint8_t *)"nonce", 5);
        return 0x18;
    }
    if (step->data_len == 6 && memcmp(step->data, "signed", 6) == 0) {
        return 0x00;
    }
    return 0x87;
}

static int answer(void *userdata, const char *method, const uint8_t *data, size_t len,
                  uint8_t *out, size_t out_capacity, size_t *out_len) {
    int *answered = userdata;
    if (strcmp(method, "SIGN") != 0 || len != 5 || memcmp(data, "nonce", 5) != 0 ||
        out_capacity < 6) {
        return 1;
    }
    memcpy(out, "signed", 6);
    *out_len = 6;
    ++*answered;
    return 0;
}

/* Answers requests on svc/upper with the payload in upper case, on the Response Topic and with
 * the Correlation Data of the request. Runs on the responder's loop thread. */
typedef struct {
    mqtt_connection *conn;
    int failures;
} responder;

static void respond(void *userdata, const mqtt_message *m) {
    responder *r = userdata;
    char upper[64];
    size_t i, corr_len = 0;
    const uint8_t *corr = mqtt_message_correlation_data(m, &corr_len);
    const char *reply_to = mqtt_message_response_topic(m);
    mqtt_publish_options *o = mqtt_publish_options_new();
    if (corr == NULL || reply_to == NULL || o == NULL || m->payload_len >= sizeof upper) {
        r->failures++;
        mqtt_publish_options_free(o);
        return;
    }
    for (i = 0; i < m->payload_len; i++) {
        char c = (char)m->payload[i];
        upper[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    if (mqtt_publish_options_set_correlation_data(o, corr, corr_len) != MQTT_STATUS_OK ||
        mqtt_publish_ex(r->conn, reply_to, (const uint8_t *)upper, m->payload_len, 1, false, o) !=
            MQTT_STATUS_OK) {
        r->failures++;
    }
    mqtt_publish_options_free(o);
}

static mqtt_connect_options *v5_options(const char *client_id) {
    mqtt_connect_options *o = mqtt_connect_options_new();
    CHECK(o != NULL);
    if (o != NULL) {
        CHECK(mqtt_connect_options_set_client_id(o, client_id) == MQTT_STATUS_OK);
        CHECK(mqtt_connect_options_set_protocol_level(o, 5) == MQTT_STATUS_OK);
        CHECK(mqtt_connect_options_set_connect_timeout(o, WAIT_MS) == MQTT_STATUS_OK);
        CHECK(mqtt_connect_options_set_operation_timeout(o, WAIT_MS) == MQTT_STATUS_OK);
    }
    return o;
}

static void check_argument_errors(void) {
    mqtt_connect_options *c = mqtt_connect_options_new();
    mqtt_publish_options *p = mqtt_publish_options_new();
    mqtt_subscribe_options *s = mqtt_subscribe_options_new();
    const char *k = NULL, *v = NULL;
    size_t len = 1;
    uint32_t secs = 0;
    CHECK(c != NULL && p != NULL && s != NULL);
    CHECK(mqtt_connect_options_set_session_expiry(NULL, 1) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_connect_options_set_receive_maximum(c, 0) == MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(mqtt_connect_options_set_maximum_packet_size(c, 1) == MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(mqtt_connect_options_add_user_property(c, NULL, "v") == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_connect_options_add_user_property(c, "k", "\xff") == MQTT_STATUS_INVALID_UTF8);
    CHECK(mqtt_connect_options_set_will_properties(c, p, 5) == MQTT_STATUS_INVALID_STATE);
    CHECK(mqtt_connect_options_set_authentication(c, "M", NULL, 0, NULL, NULL) ==
          MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_publish_options_set_payload_format(p, 2) == MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(mqtt_publish_options_set_correlation_data(p, NULL, 3) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_publish_options_set_content_type(NULL, "x") == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_subscribe_options_set_retain_handling(s, 3) == MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(mqtt_subscribe_options_set_subscription_identifier(s, 268435456u) ==
          MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(mqtt_subscribe_options_set_no_local(NULL, true) == MQTT_STATUS_NULL_ARGUMENT);
    /* Accessors on NULL give their "absent" values and never crash. */
    CHECK(mqtt_message_user_property_count(NULL) == 0);
    CHECK(mqtt_message_user_property_at(NULL, 0, &k, &v) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_message_content_type(NULL) == NULL);
    CHECK(mqtt_message_correlation_data(NULL, &len) == NULL);
    CHECK(!mqtt_message_expiry_interval(NULL, &secs));
    CHECK(mqtt_message_payload_format(NULL) == -1);
    CHECK(mqtt_message_subscription_identifier_at(NULL, 0) == 0);
    CHECK(mqtt_message_copy(NULL) == NULL && mqtt_last_status() == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_publish_ex(NULL, "t", NULL, 0, 0, false, NULL) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_request(NULL, "t", NULL, 0, 0, 100, NULL) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_reauthenticate(NULL, NULL, 0) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(mqtt_disconnect_ex(NULL, 0, -1) == MQTT_STATUS_NULL_ARGUMENT);
    CHECK(strcmp(mqtt_status_str(MQTT_STATUS_PUBLISH_REFUSED), "publish refused") == 0);
    mqtt_message_free(NULL);
    mqtt_publish_options_free(NULL);
    mqtt_subscribe_options_free(NULL);
    mqtt_connect_options_free(c);
    mqtt_publish_options_free(p);
    mqtt_subscribe_options_free(s);
}

/* Every PUBLISH property, read back from the subscriber's copy. */
static void check_properties(const inbox *box) {
    const mqtt_message *m = box->last;
    const char *k = NULL, *v = NULL;
    size_t len = 0;
    uint32_t secs = 0;
    const uint8_t *corr;
    CHECK(m != NULL);
    if (m == NULL) {
        return;
    }
    CHECK(strcmp(m->topic, "v5/props") == 0 && m->payload_len == 5);
    CHECK(mqtt_message_user_property_count(m) == 2);
    CHECK(mqtt_message_user_property_at(m, 0, &k, &v) == MQTT_STATUS_OK && strcmp(k, "z") == 0 &&
          strcmp(v, "last") == 0);
    CHECK(mqtt_message_user_property_at(m, 1, &k, &v) == MQTT_STATUS_OK && strcmp(k, "a") == 0 &&
          strcmp(v, "first") == 0);
    CHECK(mqtt_message_user_property_at(m, 2, &k, &v) == MQTT_STATUS_NOT_FOUND);
    CHECK(mqtt_message_content_type(m) != NULL &&
          strcmp(mqtt_message_content_type(m), "text/plain") == 0);
    CHECK(mqtt_message_response_topic(m) != NULL &&
          strcmp(mqtt_message_response_topic(m), "v5/reply") == 0);
    corr = mqtt_message_correlation_data(m, &len);
    CHECK(corr != NULL && len == 3 && memcmp(corr, "\x01\x00\x02", 3) == 0);
    CHECK(mqtt_message_expiry_interval(m, &secs) && secs > 0 && secs <= 60);
    CHECK(mqtt_message_payload_format(m) == 1);
    CHECK(mqtt_message_subscription_identifier_count(m) == 1);
    CHECK(mqtt_message_subscription_identifier_at(m, 0) == 42);
}

int main(void) {
    static inbox box, own;
    static responder resp;
    mqtt_broker_options *bo;
    mqtt_broker *broker;
    mqtt_connect_options *o;
    mqtt_publish_options *p;
    mqtt_subscribe_options *s;
    mqtt_connection *sub = NULL, *pub = NULL, *req = NULL, *auth = NULL;
    mqtt_message *response = NULL;
    char port[16];
    int code = -1, answered = 0;

    pthread_mutex_init(&box.lock, NULL);
    pthread_mutex_init(&own.lock, NULL);
    check_argument_errors();

    bo = mqtt_broker_options_new();
    CHECK(mqtt_broker_options_set_bind_address(bo, "127.0.0.1") == MQTT_STATUS_OK);
    CHECK(mqtt_broker_options_set_authorizer(bo, authorize, NULL) == MQTT_STATUS_OK);
    CHECK(mqtt_broker_options_set_enhanced_authenticator(bo, enhanced, NULL) == MQTT_STATUS_OK);
    CHECK(mqtt_broker_options_set_response_information(bo, "resp") == MQTT_STATUS_OK);
    broker = mqtt_broker_new("0", bo);
    mqtt_broker_options_free(bo);
    CHECK(broker != NULL && mqtt_broker_start(broker) == MQTT_STATUS_OK);
    if (broker == NULL) {
        return checks_report();
    }
    snprintf(port, sizeof port, "%u", (unsigned)mqtt_broker_port(broker));

    /* MQTT 5.0 properties need level 5. */
    o = mqtt_connect_options_new();
    CHECK(mqtt_connect_options_set_session_expiry(o, 10) == MQTT_STATUS_OK);
    CHECK(mqtt_connect("127.0.0.1", port, o) == NULL &&
          mqtt_last_status() == MQTT_STATUS_INVALID_ARGUMENT);
    mqtt_connect_options_free(o);

    /* The subscriber: topic aliases from the server allowed, a subscription identifier. */
    o = v5_options("v5-sub");
    CHECK(mqtt_connect_options_set_topic_alias_maximum(o, 8) == MQTT_STATUS_OK);
    CHECK(mqtt_connect_options_set_receive_maximum(o, 16) == MQTT_STATUS_OK);
    CHECK(mqtt_connect_options_set_maximum_packet_size(o, 65536) == MQTT_STATUS_OK);
    CHECK(mqtt_connect_options_set_request_problem_information(o, true) == MQTT_STATUS_OK);
    CHECK(mqtt_connect_options_add_user_property(o, "role", "subscriber") == MQTT_STATUS_OK);
    sub = mqtt_connect("127.0.0.1", port, o);
    CHECK(sub != NULL && mqtt_last_reason_code() == 0);
    mqtt_connect_options_free(o);

    /* The publisher: a will with properties, session expiry. */
    o = v5_options("v5-pub");
    p = mqtt_publish_options_new();
    CHECK(mqtt_connect_options_set_will(o, "v5/will", (const uint8_t *)"bye", 3, 0, false) ==
          MQTT_STATUS_OK);
    CHECK(mqtt_publish_options_set_content_type(p, "text/plain") == MQTT_STATUS_OK);
    CHECK(mqtt_connect_options_set_will_properties(o, p, 2) == MQTT_STATUS_OK);
    CHECK(mqtt_connect_options_set_session_expiry(o, 30) == MQTT_STATUS_OK);
    pub = mqtt_connect("127.0.0.1", port, o);
    CHECK(pub != NULL);
    mqtt_connect_options_free(o);
    if (sub == NULL || pub == NULL) {
        mqtt_publish_options_free(p);
        mqtt_connection_free(sub);
        mqtt_connection_free(pub);
        mqtt_broker_free(broker);
        return checks_report();
    }

    s = mqtt_subscribe_options_new();
    CHECK(mqtt_subscribe_options_set_subscription_identifier(s, 42) == MQTT_STATUS_OK);
    CHECK(mqtt_subscribe_options_add_user_property(s, "why", "test") == MQTT_STATUS_OK);
    CHECK(mqtt_subscribe_ex(sub, "v5/#", 1, s, keep, &box, &code) == MQTT_STATUS_OK && code == 1);
    CHECK(mqtt_loop_start(sub) == MQTT_STATUS_OK);

    /* Every property, twice (the second time through a topic alias). */
    CHECK(mqtt_publish_options_add_user_property(p, "z", "last") == MQTT_STATUS_OK);
    CHECK(mqtt_publish_options_add_user_property(p, "a", "first") == MQTT_STATUS_OK);
    CHECK(mqtt_publish_options_set_response_topic(p, "v5/reply") == MQTT_STATUS_OK);
    CHECK(mqtt_publish_options_set_correlation_data(p, (const uint8_t *)"\x01\x00\x02", 3) ==
          MQTT_STATUS_OK);
    CHECK(mqtt_publish_options_set_message_expiry(p, 60) == MQTT_STATUS_OK);
    CHECK(mqtt_publish_options_set_payload_format(p, 1) == MQTT_STATUS_OK);
    CHECK(mqtt_publish_options_set_topic_alias(p, true) == MQTT_STATUS_OK);
    CHECK(mqtt_publish_ex(pub, "v5/props", (const uint8_t *)"hello", 5, 1, false, p) ==
          MQTT_STATUS_OK);
    CHECK(mqtt_last_reason_code() == 0);
    CHECK(mqtt_publish_ex(pub, "v5/props", (const uint8_t *)"hello", 5, 2, false, p) ==
          MQTT_STATUS_OK);
    CHECK(wait_count(&box, 2));
    pthread_mutex_lock(&box.lock);
    check_properties(&box);
    pthread_mutex_unlock(&box.lock);

    /* Refusals keep their reason code. */
    CHECK(mqtt_publish_ex(pub, "denied/x", (const uint8_t *)"x", 1, 1, false, NULL) ==
          MQTT_STATUS_PUBLISH_REFUSED);
    CHECK(mqtt_last_reason_code() == 0x87);
    CHECK(strcmp(mqtt_reason_code_str(mqtt_last_reason_code()), "not authorized") == 0);
    CHECK(mqtt_subscribe_ex(pub, "denied/#", 1, NULL, keep, &own, &code) ==
          MQTT_STATUS_SUBSCRIBE_FAILED);
    CHECK(code == 0x87 && mqtt_last_reason_code() == 0x87);
    CHECK(mqtt_unsubscribe(pub, "never/subscribed") == MQTT_STATUS_OK);
    CHECK(mqtt_last_reason_code() == 0x11);

    /* No Local: the publisher's own message on nl/t does not come back; the marker after it
     * does, so the first would have arrived before it. */
    CHECK(mqtt_subscribe_options_set_no_local(s, true) == MQTT_STATUS_OK);
    CHECK(mqtt_subscribe_options_set_subscription_identifier(s, 0) == MQTT_STATUS_OK);
    CHECK(mqtt_subscribe_ex(pub, "nl/#", 0, s, keep, &own, NULL) == MQTT_STATUS_OK);
    CHECK(mqtt_subscribe(pub, "marker", 0, keep, &own, NULL) == MQTT_STATUS_OK);
    CHECK(mqtt_loop_start(pub) == MQTT_STATUS_OK);
    CHECK(mqtt_publish(pub, "nl/t", (const uint8_t *)"x", 1, 0, false) == MQTT_STATUS_OK);
    CHECK(mqtt_publish(pub, "marker", (const uint8_t *)"m", 1, 0, false) == MQTT_STATUS_OK);
    CHECK(wait_count(&own, 1));
    pthread_mutex_lock(&own.lock);
    CHECK(own.count == 1 && strcmp(own.last_topic, "marker") == 0);
    pthread_mutex_unlock(&own.lock);

    /* Request/response: the subscriber answers svc/upper. */
    resp.conn = sub;
    CHECK(mqtt_subscribe(sub, "svc/upper", 1, respond, &resp, NULL) == MQTT_STATUS_OK);
    o = v5_options("v5-req");
    CHECK(mqtt_connect_options_set_request_response_information(o, true) == MQTT_STATUS_OK);
    req = mqtt_connect("127.0.0.1", port, o);
    mqtt_connect_options_free(o);
    CHECK(req != NULL);
    if (req != NULL) {
        CHECK(mqtt_request(req, "svc/upper", (const uint8_t *)"abc", 3, 1, WAIT_MS, &response) ==
              MQTT_STATUS_OK);
        CHECK(response != NULL && response->payload_len == 3 &&
              memcmp(response->payload, "ABC", 3) == 0 && strncmp(response->topic, "resp/", 5) == 0);
        mqtt_message_free(response);
        CHECK(mqtt_request(req, "t", NULL, 0, 0, 0, &response) == MQTT_STATUS_INVALID_ARGUMENT);
        CHECK(mqtt_disconnect_ex(req, 0x03, -1) == MQTT_STATUS_INVALID_ARGUMENT);
        CHECK(mqtt_disconnect_ex(req, 0x04, 0) == MQTT_STATUS_OK);
        mqtt_connection_free(req);
    }
    CHECK(resp.failures == 0);

    /* Enhanced authentication and re-authentication. */
    o = v5_options("v5-auth");
    CHECK(mqtt_connect_options_set_authentication(o, "SIGN", (const uint8_t *)"hi", 2, answer,
                                                  &answered) == MQTT_STATUS_OK);
    auth = mqtt_connect("127.0.0.1", port, o);
    mqtt_connect_options_free(o);
    CHECK(auth != NULL && answered == 1);
    if (auth != NULL) {
        CHECK(mqtt_reauthenticate(auth, (const uint8_t *)"again", 5) == MQTT_STATUS_OK);
        CHECK(answered == 2);
        mqtt_connection_free(auth);
    }
    CHECK(mqtt_reauthenticate(pub, NULL, 0) == MQTT_STATUS_AUTH_FAILED);

    mqtt_subscribe_options_free(s);
    mqtt_publish_options_free(p);
    CHECK(mqtt_disconnect(pub) == MQTT_STATUS_OK);
    mqtt_connection_free(pub);
    mqtt_connection_free(sub);
    mqtt_broker_free(broker);
    mqtt_message_free(box.last);
    mqtt_message_free(own.last);
    pthread_mutex_destroy(&box.lock);
    pthread_mutex_destroy(&own.lock);
    return checks_report();
}
