/*
 * libmqtt: an embeddable MQTT 5.0 and 3.1.1 broker and client.
 *
 * Conventions: functions that can fail return mqtt_status (MQTT_STATUS_OK is 0); functions
 * returning a pointer return NULL on failure and functions returning bool return false; in
 * every case mqtt_last_status() and mqtt_last_error() describe the failure, per thread, until
 * the next libmqtt call on that thread. Free functions (_free) and pure getters
 * (mqtt_connection_is_connected, mqtt_connection_client_id, mqtt_broker_port, mqtt_version,
 * mqtt_status_str, mqtt_last_status, mqtt_last_error) leave them as they were, so a cleanup
 * path can still report the failure that led to it. Strings are NUL-terminated UTF-8, borrowed
 * for the duration of the call. Objects created by a _new function are released by the
 * matching _free function; _free(NULL) does nothing. QoS arguments are ints, range-checked.
 */

#ifndef MQTT_H
#define MQTT_H

/* Generated from src/ffi by build.rs (cbindgen); do not edit by hand. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The version of libmqtt this header belongs to (compare with mqtt_version()). */
#define MQTT_VERSION "0.1.0"
#define MQTT_VERSION_MAJOR 0
#define MQTT_VERSION_MINOR 1
#define MQTT_VERSION_PATCH 0

/**
 * The result of a libmqtt call. `MQTT_STATUS_OK` is zero; every other value is an error whose
 * details are in `mqtt_last_error()`.
 *
 * Values are explicit and stable: new codes are only ever added, in the gaps of their group.
 */
typedef enum {
    /**
     * Success.
     */
    MQTT_STATUS_OK = 0,
    /**
     * A required pointer argument was NULL.
     */
    MQTT_STATUS_NULL_ARGUMENT = 1,
    /**
     * An argument is out of range or otherwise unusable.
     */
    MQTT_STATUS_INVALID_ARGUMENT = 2,
    /**
     * A string argument is not well-formed UTF-8 (MQTT strings must be, [MQTT-1.5.3-1]).
     */
    MQTT_STATUS_INVALID_UTF8 = 3,
    /**
     * A topic name or topic filter breaks the rules of section 4.7.
     */
    MQTT_STATUS_INVALID_TOPIC = 4,
    /**
     * A QoS value is not 0, 1 or 2.
     */
    MQTT_STATUS_INVALID_QOS = 5,
    /**
     * A payload or packet is larger than the configured or protocol maximum.
     */
    MQTT_STATUS_TOO_LARGE = 6,
    /**
     * The object is not in a state that allows the call (e.g. not connected, not started).
     */
    MQTT_STATUS_INVALID_STATE = 20,
    /**
     * The broker or background loop is already running.
     */
    MQTT_STATUS_ALREADY_RUNNING = 21,
    /**
     * The named item (subscription, packet identifier, ...) does not exist.
     */
    MQTT_STATUS_NOT_FOUND = 22,
    /**
     * An operating-system I/O error; `mqtt_last_error()` carries its description.
     */
    MQTT_STATUS_IO = 40,
    /**
     * A host name could not be resolved.
     */
    MQTT_STATUS_RESOLVE = 41,
    /**
     * The listening address is already in use.
     */
    MQTT_STATUS_ADDRESS_IN_USE = 42,
    /**
     * The connection is closed.
     */
    MQTT_STATUS_CLOSED = 43,
    /**
     * The operation did not complete within its timeout.
     */
    MQTT_STATUS_TIMEOUT = 44,
    /**
     * The peer broke the MQTT protocol; the connection has been closed.
     */
    MQTT_STATUS_PROTOCOL_ERROR = 45,
    /**
     * TLS failed: the server's certificate was not accepted (unknown issuer, wrong host
     * name, expired), the server refused the handshake (e.g. it requires a client
     * certificate), or the TLS settings could not be used (an unreadable CA, certificate or
     * key file); `mqtt_last_error()` says which.
     */
    MQTT_STATUS_TLS = 46,
    /**
     * The broker's persistence file cannot be used: not a libmqtt store, damaged, written by
     * a newer version, open in another broker, or not writable; `mqtt_last_error()` names the
     * file and says which.
     */
    MQTT_STATUS_PERSISTENCE = 47,
    /**
     * CONNACK 0x01: the server does not support the requested protocol level.
     */
    MQTT_STATUS_REFUSED_PROTOCOL_VERSION = 51,
    /**
     * CONNACK 0x02: the server rejected the client identifier.
     */
    MQTT_STATUS_REFUSED_IDENTIFIER = 52,
    /**
     * CONNACK 0x03: the MQTT service is unavailable.
     */
    MQTT_STATUS_REFUSED_SERVER_UNAVAILABLE = 53,
    /**
     * CONNACK 0x04: bad user name or password.
     */
    MQTT_STATUS_REFUSED_BAD_CREDENTIALS = 54,
    /**
     * CONNACK 0x05: the client is not authorized to connect.
     */
    MQTT_STATUS_REFUSED_NOT_AUTHORIZED = 55,
    /**
     * An MQTT 5.0 CONNACK refused the connection with another reason code (server busy,
     * banned, quota exceeded, ...), or with a Reason String: `mqtt_last_reason_code()` gives
     * the code, `mqtt_last_error()` the text.
     */
    MQTT_STATUS_REFUSED = 56,
    /**
     * An MQTT 5.0 server redirects the client (reason code 0x9C use another server or 0x9D
     * server moved, in CONNACK or DISCONNECT): `mqtt_last_error()` names the server
     * reference when the server gave one (MQTT 5.0 section 4.11).
     */
    MQTT_STATUS_SERVER_MOVED = 57,
    /**
     * MQTT 5.0 enhanced authentication could not go on: the authentication callback gave
     * up, or the server's AUTH was not what the exchange allows.
     */
    MQTT_STATUS_AUTH_FAILED = 58,
    /**
     * The server refused a subscription (SUBACK return code 0x80; in MQTT 5.0 any reason
     * code of 0x80 or above, which `mqtt_last_reason_code()` gives).
     */
    MQTT_STATUS_SUBSCRIBE_FAILED = 60,
    /**
     * An MQTT 5.0 PUBACK or PUBREC refused the message (reason code 0x80 or above, e.g. 0x87
     * not authorized, 0x97 quota exceeded, 0x99 payload format invalid): the server did not
     * take it. `mqtt_last_reason_code()` gives the code.
     */
    MQTT_STATUS_PUBLISH_REFUSED = 61,
    /**
     * An MQTT 5.0 UNSUBACK refused to unsubscribe (reason code 0x80 or above); the
     * subscription and its callback stay.
     */
    MQTT_STATUS_UNSUBSCRIBE_FAILED = 62,
    /**
     * Not an error: the connection is down, and the publish waits — in the offline queue
     * (automatic reconnects on), or in the persistent session for its re-send — and goes out
     * after the reconnect. A QoS 1/2 publish's packet id completes later through
     * `mqtt_wait_published` and the `on_published` callback; do not publish it again.
     */
    MQTT_STATUS_QUEUED = 70,
    /**
     * The connection is down and the offline queue is full (refuse-new policy) or the message
     * exceeds its byte limit: nothing was queued.
     */
    MQTT_STATUS_QUEUE_FULL = 71,
    /**
     * An internal error (a caught panic); the object involved may be unusable.
     */
    MQTT_STATUS_PANIC = 90,
} mqtt_status;

/**
 * What a client asks to do with a topic, passed to the authorizer callback.
 */
typedef enum {
    /**
     * Publish to the topic name (a PUBLISH packet, or the client's will when it is published).
     */
    MQTT_ACCESS_PUBLISH = 0,
    /**
     * Subscribe with the topic filter.
     */
    MQTT_ACCESS_SUBSCRIBE = 1,
} mqtt_access;

/**
 * Which connection event `mqtt_broker_event` describes.
 */
typedef enum {
    /**
     * A client's CONNECT was accepted (CONNACK 0x00 sent).
     */
    MQTT_BROKER_EVENT_KIND_CONNECTED = 0,
    /**
     * A connection accepted earlier has ended.
     */
    MQTT_BROKER_EVENT_KIND_DISCONNECTED = 1,
} mqtt_broker_event_kind;

/**
 * Why a connection ended (`MQTT_DISCONNECT_REASON_NONE` for connect events).
 */
typedef enum {
    /**
     * Not a disconnect event.
     */
    MQTT_DISCONNECT_REASON_NONE = 0,
    /**
     * The client sent DISCONNECT; its will was discarded.
     */
    MQTT_DISCONNECT_REASON_CLIENT_DISCONNECTED = 1,
    /**
     * The socket closed or failed without DISCONNECT, or an MQTT 5.0 client sent DISCONNECT
     * 0x04 (disconnect with will message): the will was published.
     */
    MQTT_DISCONNECT_REASON_CONNECTION_LOST = 2,
    /**
     * Nothing arrived for 1.5 × the keep-alive; the will was published.
     */
    MQTT_DISCONNECT_REASON_KEEP_ALIVE_TIMEOUT = 3,
    /**
     * The client sent a malformed or forbidden packet; the will was published.
     */
    MQTT_DISCONNECT_REASON_PROTOCOL_VIOLATION = 4,
    /**
     * A new connection with the same client identifier took over; the will was published.
     */
    MQTT_DISCONNECT_REASON_TAKEN_OVER = 5,
    /**
     * The broker is stopping; no will is published.
     */
    MQTT_DISCONNECT_REASON_BROKER_STOPPING = 6,
    /**
     * The host closed it with `mqtt_broker_disconnect_client`; the will was published.
     */
    MQTT_DISCONNECT_REASON_KICKED = 7,
    /**
     * The host closed it with `mqtt_broker_disconnect_client`; the will was discarded.
     */
    MQTT_DISCONNECT_REASON_KICKED_WITHOUT_WILL = 8,
} mqtt_disconnect_reason;

/**
 * Quality of service levels (section 4.3). Functions take QoS as `int` and reject values other
 * than these with `MQTT_STATUS_INVALID_QOS`.
 */
typedef enum {
    /**
     * QoS 0: delivered at most once, no acknowledgement.
     */
    MQTT_QOS_AT_MOST_ONCE = 0,
    /**
     * QoS 1: delivered at least once (PUBACK).
     */
    MQTT_QOS_AT_LEAST_ONCE = 1,
    /**
     * QoS 2: delivered exactly once (PUBREC, PUBREL, PUBCOMP).
     */
    MQTT_QOS_EXACTLY_ONCE = 2,
} mqtt_qos;

/**
 * The verdict an authenticator callback returns, as an `int`. The values are chosen so a
 * callback written as "return true / false" keeps its meaning: 1 accepts, 0 refuses with CONNACK
 * 0x04. Any value other than these three refuses with 0x05, so a mistake fails closed.
 */
typedef enum {
    /**
     * Refuse with CONNACK 0x04, "bad user name or password".
     */
    MQTT_AUTH_RESULT_BAD_CREDENTIALS = 0,
    /**
     * Accept the connection.
     */
    MQTT_AUTH_RESULT_ACCEPT = 1,
    /**
     * Refuse with CONNACK 0x05, "not authorized".
     */
    MQTT_AUTH_RESULT_NOT_AUTHORIZED = 2,
} mqtt_auth_result;

/**
 * Why a client connection ended, as the disconnect callback receives it (an `int`).
 */
typedef enum {
    /**
     * `mqtt_disconnect` sent DISCONNECT.
     */
    MQTT_CLOSE_REASON_DISCONNECTED = 1,
    /**
     * `mqtt_connection_free` closed it without DISCONNECT.
     */
    MQTT_CLOSE_REASON_FREED = 2,
    /**
     * `mqtt_reconnect` closed it to open a new one.
     */
    MQTT_CLOSE_REASON_RECONNECTING = 3,
    /**
     * The broker closed the TCP connection.
     */
    MQTT_CLOSE_REASON_CLOSED_BY_PEER = 4,
    /**
     * A read or write failed (`on_log` has the system's text).
     */
    MQTT_CLOSE_REASON_IO = 5,
    /**
     * No PINGRESP within the keep-alive period.
     */
    MQTT_CLOSE_REASON_KEEP_ALIVE_TIMEOUT = 6,
    /**
     * The broker broke the protocol.
     */
    MQTT_CLOSE_REASON_PROTOCOL_ERROR = 7,
    /**
     * An MQTT 5.0 broker sent DISCONNECT: `mqtt_last_reason_code()` in the callback gives its
     * reason code (0x8B server shutting down, 0x8E session taken over, 0x9C use another
     * server, ...).
     */
    MQTT_CLOSE_REASON_SERVER_DISCONNECT = 8,
} mqtt_close_reason;

/**
 * The level of a log line passed to the log callback (an `int`).
 */
typedef enum {
    MQTT_LOG_LEVEL_ERROR = 1,
    MQTT_LOG_LEVEL_WARNING = 2,
    MQTT_LOG_LEVEL_INFO = 3,
    MQTT_LOG_LEVEL_DEBUG = 4,
} mqtt_log_level;

/**
 * The types of the broker's log lines, as bits of the mask given to
 * `mqtt_broker_options_set_log_callback` and as the `type` its callback receives (an `int`).
 * The values are libmosquitto's `MOSQ_LOG_*`, and the types mosquitto.conf's `log_type` names.
 */
typedef enum {
    /**
     * `information`: nothing at the moment (mosquitto's informational lines).
     */
    MQTT_BROKER_LOG_TYPE_INFORMATION = 1,
    /**
     * `notice`: the start and its listeners; "New client connected from ADDR as ID (p2, c1,
     * k60, u'USER')."; "Client ID disconnected." (and the other ways a connection ends).
     */
    MQTT_BROKER_LOG_TYPE_NOTICE = 2,
    /**
     * `warning`: suspicious lines of the password and ACL files, at the start.
     */
    MQTT_BROKER_LOG_TYPE_WARNING = 4,
    /**
     * `error`.
     */
    MQTT_BROKER_LOG_TYPE_ERROR = 8,
    /**
     * `debug`: "Received PACKET from ID" for every packet a client sends (costly: every PUBLISH
     * is formatted).
     */
    MQTT_BROKER_LOG_TYPE_DEBUG = 16,
    /**
     * `subscribe`: "ID QOS FILTER" for each filter a client subscribes to.
     */
    MQTT_BROKER_LOG_TYPE_SUBSCRIBE = 32,
    /**
     * `unsubscribe`: "ID FILTER" for each filter a client unsubscribes from.
     */
    MQTT_BROKER_LOG_TYPE_UNSUBSCRIBE = 64,
    /**
     * `websockets`: accepted in masks; the broker writes no lines of this type yet.
     */
    MQTT_BROKER_LOG_TYPE_WEBSOCKETS = 128,
    /**
     * Every type.
     */
    MQTT_BROKER_LOG_TYPE_ALL = 65535,
} mqtt_broker_log_type;

/**
 * What a full offline queue does with one more publish (see
 * `mqtt_connect_options_set_offline_queue`), passed as an `int`.
 */
typedef enum {
    /**
     * The new publish fails with `MQTT_STATUS_QUEUE_FULL`.
     */
    MQTT_QUEUE_OVERFLOW_REFUSE_NEW = 0,
    /**
     * The oldest queued publish is dropped (its on_published callback gets
     * `MQTT_STATUS_QUEUE_FULL`) to make room.
     */
    MQTT_QUEUE_OVERFLOW_DROP_OLDEST = 1,
} mqtt_queue_overflow;

/**
 * What `mqtt_broker_options_set_feature` switches on or off. Each is on by default and, when
 * off, announced to MQTT 5.0 clients in CONNACK.
 */
typedef enum {
    /**
     * Retained messages. Off: a 5.0 PUBLISH with RETAIN gets DISCONNECT 0x9A.
     */
    MQTT_BROKER_FEATURE_RETAIN_AVAILABLE = 0,
    /**
     * Wildcards in topic filters. Off: such a filter gets SUBACK 0xA2 (0x80 for 3.1.1).
     */
    MQTT_BROKER_FEATURE_WILDCARD_SUBSCRIPTIONS = 1,
    /**
     * Subscription Identifiers. Off: a SUBSCRIBE carrying one gets DISCONNECT 0xA1.
     */
    MQTT_BROKER_FEATURE_SUBSCRIPTION_IDENTIFIERS = 2,
    /**
     * Shared subscriptions (`$share/{group}/{filter}`), for 5.0 and 3.1.1 clients. Off: they
     * get SUBACK 0x9E (0x80 for 3.1.1).
     */
    MQTT_BROKER_FEATURE_SHARED_SUBSCRIPTIONS = 3,
} mqtt_broker_feature;

/**
 * What a listener speaks, passed as an `int` to `mqtt_broker_options_add_listener`.
 */
typedef enum {
    /**
     * MQTT over TCP.
     */
    MQTT_LISTENER_KIND_TCP = 0,
    /**
     * MQTT over TLS 1.2/1.3 (ALPN "mqtt"); needs TLS options with a certificate and key.
     */
    MQTT_LISTENER_KIND_TLS = 1,
    /**
     * MQTT over WebSocket, on path `/mqtt` (see `mqtt_broker_options_add_websocket_listener`
     * for another path or an Origin list).
     */
    MQTT_LISTENER_KIND_WEB_SOCKET = 2,
    /**
     * MQTT over WebSocket over TLS, on path `/mqtt`; needs TLS options.
     */
    MQTT_LISTENER_KIND_WEB_SOCKET_TLS = 3,
} mqtt_listener_kind;

/**
 * Which way a bridge topic rule carries messages (mosquitto's `out`, `in`, `both`), passed as
 * an `int` to `mqtt_bridge_options_add_topic`.
 */
typedef enum {
    /**
     * Local → remote.
     */
    MQTT_BRIDGE_DIRECTION_OUT = 0,
    /**
     * Remote → local.
     */
    MQTT_BRIDGE_DIRECTION_IN = 1,
    /**
     * Both ways.
     */
    MQTT_BRIDGE_DIRECTION_BOTH = 2,
} mqtt_bridge_direction;

/**
 * When a bridge connects (mosquitto's `start_type`), passed as an `int`.
 */
typedef enum {
    /**
     * At broker start, reconnecting after every loss (the default).
     */
    MQTT_BRIDGE_START_AUTOMATIC = 0,
    /**
     * Once 10 messages wait for the remote (mosquitto's default `threshold`); then as
     * `Automatic`.
     */
    MQTT_BRIDGE_START_LAZY = 1,
    /**
     * At broker start, not reconnecting once the link ends.
     */
    MQTT_BRIDGE_START_ONCE = 2,
} mqtt_bridge_start;

/**
 * Where the enhanced authenticator leaves the data for the client, with
 * `mqtt_auth_reply_set_data`, and the server it sends a refused client to, with
 * `mqtt_auth_reply_set_server_reference`; only valid during the callback.
 */
typedef struct mqtt_auth_reply mqtt_auth_reply;

/**
 * One bridge's settings. Created by `mqtt_bridge_options_new` with mosquitto's defaults
 * (MQTT 3.1.1, persistent remote session, keep-alive 60 s, reconnects after 5 s doubling up to
 * 30 s, state notifications on), released by `mqtt_bridge_options_free`;
 * `mqtt_broker_options_add_bridge` copies it. Not thread-safe while being changed.
 */
typedef struct mqtt_bridge_options mqtt_bridge_options;

/**
 * A broker created by `mqtt_broker_new` and released by `mqtt_broker_free`. Every function
 * taking a `mqtt_broker *` is thread-safe, except `mqtt_broker_free`, which must be the last
 * call on the handle.
 */
typedef struct mqtt_broker mqtt_broker;

/**
 * Options for `mqtt_broker_new`. Created by `mqtt_broker_options_new` with the defaults below,
 * changed by the setters, released by `mqtt_broker_options_free`. `mqtt_broker_new` copies
 * them, so they may be freed or reused right after. Not thread-safe: do not change one
 * options object from two threads at once.
 */
typedef struct mqtt_broker_options mqtt_broker_options;

/**
 * A TLS listener's certificate, key and client-certificate policy (mosquitto's `certfile`,
 * `keyfile`, `cafile`, `require_certificate`, `use_identity_as_username`). Created by
 * `mqtt_broker_tls_options_new`, released by `mqtt_broker_tls_options_free`;
 * `mqtt_broker_options_add_listener` copies it. Not thread-safe while being changed.
 */
typedef struct mqtt_broker_tls_options mqtt_broker_tls_options;

/**
 * Connection settings for `mqtt_connect`. Create with `mqtt_connect_options_new`, release with
 * `mqtt_connect_options_free`. Not thread-safe while being modified; `mqtt_connect` only reads
 * it, and it may be freed or reused as soon as `mqtt_connect` returns.
 */
typedef struct mqtt_connect_options mqtt_connect_options;

/**
 * An open (or closed, but not yet freed) connection to a broker. Every function taking a
 * `mqtt_connection *` may be called from any thread at the same time and from inside a
 * callback — `mqtt_connection_free` too: calls blocked on other threads then return
 * `MQTT_STATUS_CLOSED` before the memory is released.
 */
typedef struct mqtt_connection mqtt_connection;

/**
 * Where the message hook leaves a replacement topic and payload, with
 * `mqtt_hook_reply_replace`; only valid during the callback.
 */
typedef struct mqtt_hook_reply mqtt_hook_reply;

/**
 * MQTT 5.0 properties for one or many publishes (`mqtt_publish_ex`, `mqtt_publish_async_ex`,
 * the will through `mqtt_connect_options_set_will_properties`). Create with
 * `mqtt_publish_options_new`, release with `mqtt_publish_options_free`. Not thread-safe while
 * being modified; the calls that take it only read it, and it may be reused or freed as soon
 * as they return.
 */
typedef struct mqtt_publish_options mqtt_publish_options;

/**
 * MQTT 5.0 subscription options and SUBSCRIBE properties (`mqtt_subscribe_ex`,
 * `mqtt_subscribe_many_ex`). Create with `mqtt_subscribe_options_new`, release with
 * `mqtt_subscribe_options_free`; same threading rules as `mqtt_publish_options`.
 */
typedef struct mqtt_subscribe_options mqtt_subscribe_options;

/**
 * A running bridge's state and counters, filled by `mqtt_broker_bridge_status`.
 */
typedef struct {
    /**
     * The link to the remote is up.
     */
    bool connected;
    /**
     * Connections made to the remote (the first and every reconnect).
     */
    uint64_t connects;
    /**
     * Messages sent to the remote.
     */
    uint64_t messages_out;
    /**
     * Messages brought in from the remote.
     */
    uint64_t messages_in;
    /**
     * Echoes of its own messages an MQTT 3.1.1 remote sent back, dropped.
     */
    uint64_t echoes_dropped;
} mqtt_bridge_status;

/**
 * A received application message, as a message callback sees it. Every pointer in it is valid
 * only until the callback returns: copy what you keep.
 */
typedef struct {
    /**
     * The topic name, NUL-terminated UTF-8.
     */
    const char *topic;
    /**
     * Length of `topic` in bytes, without the NUL.
     */
    size_t topic_len;
    /**
     * The payload bytes (not NUL-terminated; may contain NUL bytes). Not NULL, even when empty.
     */
    const uint8_t *payload;
    size_t payload_len;
    /**
     * The QoS it was delivered with: 0, 1 or 2 (an `mqtt_qos` value).
     */
    int qos;
    /**
     * Set when the broker sent a retained message because of a new subscription.
     */
    bool retain;
    /**
     * Set when the broker redelivers a message it may have sent before.
     */
    bool dup;
} mqtt_message;

/**
 * Receives a message of one of the host's own subscriptions (`mqtt_broker_subscribe`):
 * `userdata` is the pointer given there; `message` and its strings are valid only during the
 * call (`dup` is always false).
 *
 * Which thread calls it: the broker's host-subscriber thread, one message at a time in the
 * order they were routed; the first `mqtt_broker_subscribe` starts it and `mqtt_broker_free`
 * ends it.
 *
 * What it may call: every libmqtt function, including `mqtt_broker_publish`,
 * `mqtt_broker_subscribe` and `mqtt_broker_unsubscribe` on the same broker — none deadlocks —
 * but not `mqtt_broker_free` on it. A slow callback delays only the host's own messages; past
 * `max_queued_messages` waiting, further ones are dropped and counted.
 */
typedef void (*mqtt_broker_message_callback)(void *userdata, const mqtt_message *message);

/**
 * Decides whether a client may connect. Returns an `mqtt_auth_result` value as an `int`.
 * `username` and `password` are NULL when the client sent none (`password_len` is then 0); the
 * password is binary and not NUL-terminated. The strings are valid only during the call.
 */
typedef int (*mqtt_broker_authenticator)(void *userdata,
                                         const char *client_id,
                                         const char *username,
                                         const uint8_t *password,
                                         size_t password_len);

/**
 * What a connecting client presents, for `mqtt_broker_authenticator_ex`. Every pointer is
 * valid only during the call; strings are NUL-terminated UTF-8.
 */
typedef struct {
    /**
     * The client identifier (after the broker assigned one to an empty id).
     */
    const char *client_id;
    /**
     * NULL when the client sent no user name.
     */
    const char *username;
    /**
     * The password bytes (binary, not NUL-terminated); NULL when none was sent.
     */
    const uint8_t *password;
    size_t password_len;
    /**
     * The peer's address as "ip:port" ("[ip6]:port" for IPv6).
     */
    const char *peer;
    /**
     * On a TLS listener that asks for client certificates: the verified certificate's Common
     * Name (or whole subject); NULL otherwise.
     */
    const char *certificate_identity;
    /**
     * 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
     */
    uint8_t protocol_level;
} mqtt_auth_request;

/**
 * Decides whether a client may connect, seeing all it presents (`mqtt_auth_request`). Returns
 * an `mqtt_auth_result` value as an `int`.
 */
typedef int (*mqtt_broker_authenticator_ex)(void *userdata, const mqtt_auth_request *request);

/**
 * Decides whether a client may publish to `topic` (a topic name) or subscribe with it (a topic
 * filter). Returning false refuses: a subscription gets return code 0x80 in SUBACK, a PUBLISH is
 * acknowledged as usual but not forwarded ([MQTT-3.3.5-2]). `username` is NULL when the client
 * sent none. The strings are valid only during the call.
 */
typedef bool (*mqtt_broker_authorizer)(void *userdata,
                                       const char *client_id,
                                       const char *username,
                                       const char *topic,
                                       mqtt_access access);

/**
 * A connection event, passed to the event callback. Every pointer in it is valid only during
 * the callback; copy what you keep.
 */
typedef struct {
    mqtt_broker_event_kind kind;
    /**
     * The client identifier (assigned by the broker if the client sent an empty one).
     */
    const char *client_id;
    /**
     * The user name the client presented; NULL if none. Always NULL for disconnect events.
     */
    const char *username;
    /**
     * The peer's address as "ip:port".
     */
    const char *peer;
    /**
     * Connect events: the client's clean-session flag.
     */
    bool clean_session;
    /**
     * Connect events: whether a stored session was resumed (the CONNACK flag).
     */
    bool session_present;
    /**
     * Disconnect events: why the connection ended.
     */
    mqtt_disconnect_reason reason;
    /**
     * Disconnect events: the reason in words; NULL for connect events.
     */
    const char *reason_text;
    /**
     * Connect events: the protocol level the client speaks, 3 (MQTT 3.1), 4 (3.1.1) or 5
     * (5.0); 0 for disconnect events.
     */
    int protocol_level;
    /**
     * Disconnect events of MQTT 5.0 clients: the reason code of the DISCONNECT that ended the
     * connection, the client's or the one the broker sent (see `mqtt_reason_code_str`); -1
     * when none was exchanged.
     */
    int reason_code;
} mqtt_broker_event;

/**
 * Receives connect and disconnect events. `event` and its strings are valid only during the
 * call.
 */
typedef void (*mqtt_broker_event_callback)(void *userdata, const mqtt_broker_event *event);

/**
 * Receives the broker's log lines of the types asked for: `type` is one
 * `mqtt_broker_log_type` bit and `message` the line, without time stamp or newline, valid only
 * during the call.
 *
 * Which thread calls it: the broker thread the event happens on — a connection's thread, the
 * listener or parking thread (connects accepted at once, parked connections closing), or the
 * thread inside `mqtt_broker_start` for the start lines — concurrently from several threads.
 *
 * What it may call: `mqtt_broker_publish`, `mqtt_broker_stats`, `mqtt_broker_port`, and
 * anything outside libmqtt that does not block for long (it delays the connection or, on the
 * listener or parking thread, every new connection); not `mqtt_broker_free`,
 * `mqtt_broker_wait` or `mqtt_broker_stop` on its own broker. No broker lock is held.
 */
typedef void (*mqtt_broker_log_callback)(void *userdata, int type, const char *message);

/**
 * A PUBLISH from a client, passed to the message hook before it is routed. Every pointer in it
 * is valid only during the callback.
 */
typedef struct {
    const char *client_id;
    /**
     * NULL when the client presented no user name.
     */
    const char *username;
    const char *topic;
    /**
     * Not NUL-terminated; NULL when `payload_len` is 0.
     */
    const uint8_t *payload;
    size_t payload_len;
    int qos;
    bool retain;
} mqtt_hooked_message;

/**
 * Sees every PUBLISH a client sends, after authorization and before routing (see
 * `mqtt_broker_options_set_message_hook`). Returns 0 to route it (or its replacement), or a
 * failure reason code of 0x80 and above to drop it.
 */
typedef int (*mqtt_broker_message_hook)(void *userdata,
                                        const mqtt_hooked_message *message,
                                        mqtt_hook_reply *reply);

/**
 * One step of an MQTT 5.0 enhanced authentication exchange, passed to the enhanced
 * authenticator. Every pointer in it is valid only during the callback.
 */
typedef struct {
    /**
     * Identifies the exchange, so state kept between steps (a nonce, say) can be keyed by it;
     * unique for the broker's lifetime.
     */
    uint64_t exchange;
    /**
     * The client identifier (assigned by the broker if the client sent an empty one).
     */
    const char *client_id;
    /**
     * The user name the client presented; NULL if none.
     */
    const char *username;
    /**
     * The Authentication Method the client named.
     */
    const char *method;
    /**
     * The Authentication Data the client sent in this step (not NUL-terminated); NULL, with
     * `data_len` 0, if none.
     */
    const uint8_t *data;
    size_t data_len;
    /**
     * 0 for the packet that opens the exchange (CONNECT, or AUTH 0x19 when re-authenticating),
     * then 1, 2, ... for each AUTH the client sends.
     */
    uint32_t step;
    /**
     * A connected client re-authenticating.
     */
    bool reauthenticating;
    /**
     * The peer's address as "ip:port".
     */
    const char *peer;
} mqtt_auth_step;

/**
 * Decides one step of an MQTT 5.0 enhanced authentication (see
 * `mqtt_broker_options_set_enhanced_authenticator`): returns 0x00 (success), 0x18 (continue)
 * or a failure reason code of 0x80 and above, as an `int`.
 */
typedef int (*mqtt_broker_enhanced_authenticator)(void *userdata,
                                                  const mqtt_auth_step *step,
                                                  mqtt_auth_reply *reply);

/**
 * What a broker's persistence store has done, filled by `mqtt_broker_persistence_stats`.
 */
typedef struct {
    /**
     * Transactions committed since the broker was created; each ends with one synchronous
     * write (fsync) shared by every change it holds.
     */
    uint64_t commits;
    /**
     * Commits that failed (disk full, file unwritable); their changes are retried.
     */
    uint64_t failures;
    /**
     * How long the last commit took, in microseconds.
     */
    uint64_t last_commit_micros;
    /**
     * The size of the persistence file after the last commit, in bytes.
     */
    uint64_t bytes_on_disk;
} mqtt_persistence_statistics;

/**
 * A snapshot of a broker's counters, filled by `mqtt_broker_stats`.
 */
typedef struct {
    /**
     * Clients connected now.
     */
    uint64_t clients_connected;
    /**
     * Sockets accepted since start, refused ones included.
     */
    uint64_t connections_accepted;
    /**
     * Sessions held: connected clients plus stored persistent sessions.
     */
    uint64_t sessions;
    /**
     * Subscriptions held across all sessions.
     */
    uint64_t subscriptions;
    /**
     * Retained messages stored.
     */
    uint64_t retained_messages;
    /**
     * Messages received from clients or published by the host.
     */
    uint64_t messages_received;
    /**
     * PUBLISH packets sent to clients, resends included.
     */
    uint64_t messages_sent;
    /**
     * Messages discarded: a session's queue was full (slow or absent subscriber), or QoS 0 for
     * an absent client.
     */
    uint64_t messages_dropped;
    /**
     * TLS handshakes that failed on a TLS (or WebSocket over TLS) listener: not TLS at all, a
     * client certificate untrusted, expired or missing where required, or not finished within
     * the connect timeout.
     */
    uint64_t tls_handshakes_failed;
    /**
     * WebSocket connections refused or closed for breaking the protocol: an upgrade refused
     * (path, subprotocol, origin) or not finished within the connect timeout, a text frame, a
     * malformed frame or one above the maximum packet size.
     */
    uint64_t websocket_refused;
} mqtt_broker_statistics;

/**
 * A connected client, passed to the callback of `mqtt_broker_clients`. Every pointer in it is
 * valid only during the callback.
 */
typedef struct {
    const char *client_id;
    /**
     * NULL when the client presented no user name.
     */
    const char *username;
    /**
     * The peer's address as "ip:port".
     */
    const char *peer;
    /**
     * 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
     */
    int protocol_level;
    /**
     * When the CONNECT was accepted, in seconds since the Unix epoch.
     */
    uint64_t connected_since;
    /**
     * Messages waiting in the client's session queue.
     */
    size_t queued;
} mqtt_client_info;

/**
 * Receives one connected client of `mqtt_broker_clients`.
 */
typedef void (*mqtt_broker_client_callback)(void *userdata, const mqtt_client_info *client);

/**
 * A message callback: `userdata` is the pointer given to `mqtt_subscribe`; `message` is valid
 * only during the call.
 *
 * Which thread calls it: the thread currently reading the connection — the loop thread while
 * `mqtt_loop_start` is in effect; otherwise the thread inside `mqtt_receive_message`, or inside
 * a call that waits for a reply (`mqtt_subscribe`, `mqtt_unsubscribe`, `mqtt_publish` at QoS 1
 * or 2, `mqtt_publish_async` with a full window, `mqtt_wait_published`, `mqtt_ping`). Callbacks
 * run one at a time, in arrival order.
 *
 * What it may call: every libmqtt function, including `mqtt_subscribe`, `mqtt_unsubscribe`,
 * `mqtt_publish` (any QoS), `mqtt_ping`, `mqtt_disconnect`, `mqtt_reconnect` and
 * `mqtt_loop_stop` on the same connection — none of them deadlocks — but not
 * `mqtt_connection_free` on the connection that is calling it. Replies other threads wait for
 * are read only between callbacks, so return promptly.
 */
typedef void (*mqtt_message_callback)(void *userdata, const mqtt_message *message);

/**
 * A publish completion callback (see `mqtt_connection_set_on_published`): `userdata` is the
 * pointer given with it, `packet_id` the identifier `mqtt_publish_async` returned (or that
 * `mqtt_publish` used), and `status` how the publish ended: `MQTT_STATUS_OK` once PUBACK
 * (QoS 1) or PUBCOMP (QoS 2) arrived, `MQTT_STATUS_PUBLISH_REFUSED` when an MQTT 5.0 PUBACK
 * or PUBREC refused it (`mqtt_last_reason_code()` gives the code during the call),
 * `MQTT_STATUS_CLOSED` when a clean-session `mqtt_reconnect` discarded it unacknowledged (it
 * may or may not have been delivered), `MQTT_STATUS_QUEUE_FULL` when the offline queue dropped
 * it.
 *
 * Which thread calls it: for `MQTT_STATUS_OK`, the thread that read the acknowledgement — the
 * loop thread while `mqtt_loop_start` is in effect; otherwise the thread inside
 * `mqtt_receive_message`, `mqtt_wait_published`, `mqtt_publish` (QoS 1/2), `mqtt_subscribe`,
 * `mqtt_unsubscribe`, `mqtt_ping` or a `mqtt_publish_async` waiting for window space. For
 * `MQTT_STATUS_CLOSED`, the thread calling `mqtt_reconnect`. Calls come in the order the
 * acknowledgements arrive, once per identifier.
 *
 * What it may call: every libmqtt function on the connection except `mqtt_connection_free`,
 * as for message callbacks. No lock is held during the call. If it waits for an
 * acknowledgement itself (`mqtt_publish` at QoS 1/2, `mqtt_wait_published`), completions read
 * meanwhile are reported from inside that call, nested.
 */
typedef void (*mqtt_published_callback)(void *userdata, uint16_t packet_id, mqtt_status status);

/**
 * Told of every CONNACK: `session_present` is its flag ([MQTT-3.2.2-2]) and `code` its return
 * code (0 accepted, 1 to 5 refused).
 *
 * Which thread calls it: for the first connect, the thread inside `mqtt_connect` (before it
 * returns); for a reconnect, the thread inside `mqtt_reconnect`, or the loop thread for an
 * automatic reconnect.
 *
 * What it may call: every libmqtt function on the connection except `mqtt_connection_free`
 * (during the first connect there is no connection handle yet). No lock is held.
 */
typedef void (*mqtt_connect_callback)(void *userdata, bool session_present, int code);

/**
 * Told once per connection when it ends: `reason` is an `mqtt_close_reason` value,
 * `will_reconnect` whether the loop thread will reconnect by itself (automatic reconnects on,
 * loop thread running, not ended by this program) or `mqtt_reconnect` is the cause.
 *
 * Which thread calls it: the thread that noticed the end — the loop thread or a thread reading
 * inside a blocking call (`mqtt_receive_message`, `mqtt_publish`, ...) for a lost connection;
 * the thread calling `mqtt_disconnect`, `mqtt_reconnect` or `mqtt_connection_free` otherwise.
 *
 * What it may call: every libmqtt function on the connection except `mqtt_connection_free`
 * and `mqtt_reconnect`. No lock is held.
 */
typedef void (*mqtt_disconnect_callback)(void *userdata, int reason, bool will_reconnect);

/**
 * Receives the client's log lines: `level` is an `mqtt_log_level` value, `message` a
 * NUL-terminated string valid only during the call.
 *
 * Which thread calls it: whichever thread the event happens on (the loop thread, a thread in
 * a blocking call, or the caller of `mqtt_connect`, `mqtt_reconnect`, `mqtt_disconnect` or
 * `mqtt_connection_free`).
 *
 * What it may call: libmqtt functions that do not block (status and topic functions,
 * `mqtt_connection_is_connected`); keep it short. No lock is held.
 */
typedef void (*mqtt_log_callback)(void *userdata, int level, const char *message);

/**
 * Answers a step of MQTT 5.0 enhanced authentication (MQTT 5.0 section 4.12): `method` is the
 * Authentication Method (NUL-terminated), `data`/`len` the server's Authentication Data (may
 * be empty). Write the reply's Authentication Data into `out` (room for `out_capacity` =
 * 65535 bytes), its length into `*out_len`, and return 0; return anything else to give up
 * (the connection then fails with `MQTT_STATUS_AUTH_FAILED`).
 *
 * Which thread calls it: during connect the thread inside `mqtt_connect` / `mqtt_reconnect`
 * (or the loop thread for an automatic reconnect); afterwards, for re-authentication, the
 * thread reading the connection, as for message callbacks.
 *
 * What it may call: libmqtt functions that do not block (status, topic and message
 * functions). No lock is held.
 */
typedef int (*mqtt_auth_callback)(void *userdata,
                                  const char *method,
                                  const uint8_t *data,
                                  size_t len,
                                  uint8_t *out,
                                  size_t out_capacity,
                                  size_t *out_len);

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * A new bridge named `name` (its local session `$bridge/NAME`, its state topic
 * `$SYS/broker/connection/NAME/state`, its default remote client id `HOSTNAME.NAME`) to
 * `host:port`, without topic rules yet. Release with `mqtt_bridge_options_free`.
 *
 * Returns NULL on NULL or non-UTF-8 arguments or an empty name (`mqtt_last_error()` says
 * which). Does not block.
 *
 * # Safety
 * `name` and `host` are NUL-terminated strings.
 */
mqtt_bridge_options *mqtt_bridge_options_new(const char *name, const char *host, uint16_t port);

/**
 * Releases bridge options. NULL is a no-op.
 *
 * # Safety
 * `bridge` is NULL or a pointer from `mqtt_bridge_options_new` not freed before.
 */
void mqtt_bridge_options_free(mqtt_bridge_options *bridge);

/**
 * Adds a fallback remote address, tried after the earlier ones fail (see
 * `mqtt_bridge_options_set_round_robin`).
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_UTF8`.
 *
 * # Safety
 * `bridge` is a live handle; `host` is NUL-terminated.
 */
mqtt_status mqtt_bridge_options_add_address(mqtt_bridge_options *bridge,
                                            const char *host,
                                            uint16_t port);

/**
 * Adds a topic rule, as mosquitto's `topic PATTERN DIRECTION QOS LOCAL_PREFIX REMOTE_PREFIX`:
 * local topic `LOCAL_PREFIX + T` (T matching `pattern`) is remote topic `REMOTE_PREFIX + T`.
 * `pattern` "" maps the prefixes one to one; NULL prefixes are empty. `direction` is an
 * `mqtt_bridge_direction`; `qos` (0 to 2) is the QoS of the bridge's subscription on the side
 * messages come from.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8`,
 * `MQTT_STATUS_INVALID_QOS`, `MQTT_STATUS_INVALID_TOPIC` (the filters the rule makes are not
 * valid) or `MQTT_STATUS_INVALID_ARGUMENT` (unknown direction).
 *
 * # Safety
 * `bridge` is a live handle; `pattern` is NUL-terminated; the prefixes are NULL or
 * NUL-terminated.
 */
mqtt_status mqtt_bridge_options_add_topic(mqtt_bridge_options *bridge,
                                          const char *pattern,
                                          int direction,
                                          int qos,
                                          const char *local_prefix,
                                          const char *remote_prefix);

/**
 * Sets the client id used towards the remote (default `HOSTNAME.NAME`).
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_UTF8`.
 *
 * # Safety
 * `bridge` is a live handle; `client_id` is NUL-terminated.
 */
mqtt_status mqtt_bridge_options_set_remote_client_id(mqtt_bridge_options *bridge,
                                                     const char *client_id);

/**
 * Sets the user name (NULL: none) and password (`password_len` bytes; NULL: none) the bridge
 * connects with.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_UTF8`.
 *
 * # Safety
 * `bridge` is a live handle; `username` is NULL or NUL-terminated; `password` points to
 * `password_len` bytes (NULL when 0).
 */
mqtt_status mqtt_bridge_options_set_credentials(mqtt_bridge_options *bridge,
                                                const char *username,
                                                const uint8_t *password,
                                                size_t password_len);

/**
 * Sets the protocol towards the remote: 3 (MQTT 3.1), 4 (3.1.1, the default) or 5 (5.0,
 * whose No Local keeps a `both` rule from echoing).
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `bridge` is a live handle.
 */
mqtt_status mqtt_bridge_options_set_protocol_level(mqtt_bridge_options *bridge, int level);

/**
 * Sets whether the remote discards the bridge's session when the link ends (default false:
 * it keeps the subscriptions and queues messages meanwhile), and the keep-alive in seconds
 * (default 60; 0 keeps the default).
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `bridge` is a live handle.
 */
mqtt_status mqtt_bridge_options_set_session(mqtt_bridge_options *bridge,
                                            bool clean_session,
                                            uint16_t keep_alive_s);

/**
 * Sets how the bridge reconnects: waits from `base_ms` doubling up to `cap_ms` with jitter
 * (mosquitto's `restart_timeout base cap`), whether it stays on the next address after a
 * failure (`round_robin`) or returns to the first, `start` (an `mqtt_bridge_start`), and
 * whether it publishes its state on `$SYS/broker/connection/NAME/state`.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`
 * (0 delays, cap below base, unknown start type).
 *
 * # Safety
 * `bridge` is a live handle.
 */
mqtt_status mqtt_bridge_options_set_reconnect(mqtt_bridge_options *bridge,
                                              uint32_t base_ms,
                                              uint32_t cap_ms,
                                              bool round_robin,
                                              int start,
                                              bool notifications);

/**
 * Sets mosquitto's `try_private` (default true): over MQTT 3.1/3.1.1 the bridge announces
 * itself (the protocol level's top bit), so a remote that understands it keeps retained flags
 * and does not echo the bridge's messages; a remote that refuses it is connected to again as
 * a plain client.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `bridge` is a live handle.
 */
mqtt_status mqtt_bridge_options_set_try_private(mqtt_bridge_options *bridge, bool try_private);

/**
 * Connects to the remote over TLS: `ca_file` (PEM; NULL: the system's CA store),
 * `cert_file` and `key_file` (PEM, both or neither) for a client certificate, `insecure`
 * accepting any server certificate (tests only). The files are read at each connect.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8` or
 * `MQTT_STATUS_INVALID_ARGUMENT` (a certificate without its key).
 *
 * # Safety
 * `bridge` is a live handle; the paths are NULL or NUL-terminated.
 */
mqtt_status mqtt_bridge_options_set_tls(mqtt_bridge_options *bridge,
                                        const char *ca_file,
                                        const char *cert_file,
                                        const char *key_file,
                                        bool insecure);

/**
 * Adds a copy of `bridge` to the broker options: a broker created from them starts the
 * bridge with itself (before it accepts clients) and stops it with itself. `bridge` may be
 * freed right after.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT` (no
 * topic rule, or a name already used).
 *
 * # Safety
 * `opts` is a live options object; `bridge` is a live handle.
 */
mqtt_status mqtt_broker_options_add_bridge(mqtt_broker_options *opts,
                                           const mqtt_bridge_options *bridge);

/**
 * How many bridges the broker runs (0 while stopped or for NULL). Does not block.
 *
 * # Safety
 * `broker` is NULL or a live broker.
 */
size_t mqtt_broker_bridge_count(const mqtt_broker *broker);

/**
 * Fills `*out` with bridge `index`'s state and counters (bridges in the order added), and
 * writes its last error ("" when none: why the last attempt failed or the link ended) into
 * `error` (`error_size` bytes, truncated to fit; NULL to skip). Does not block; thread-safe.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_NOT_FOUND` (no such
 * bridge, or the broker is not running).
 *
 * # Safety
 * `broker` is NULL or a live broker; `out` points to a writable `mqtt_bridge_status`;
 * `error` is NULL or points to `error_size` writable bytes.
 */
mqtt_status mqtt_broker_bridge_status(const mqtt_broker *broker,
                                      size_t index,
                                      mqtt_bridge_status *out,
                                      char *error,
                                      size_t error_size);

/**
 * Reads a mosquitto.conf (and its `include_dir`s) and applies what it says: its listeners
 * (`listener PORT [ADDRESS]` or `port` / `bind_address`, with `max_connections`, `protocol
 * mqtt|websockets`, `certfile`, `keyfile`, `cafile`, `require_certificate`,
 * `use_identity_as_username`), `allow_anonymous`, `password_file`, `acl_file`,
 * `max_queued_messages`, `max_inflight_messages`, `max_packet_size`, `message_size_limit`,
 * `max_keepalive`, `sys_interval`, `persistence true` with `persistence_location`,
 * `persistence_file` and `autosave_interval` (see `mqtt_broker_options_set_persistence`), and
 * the log: `log_type`, `log_dest stdout|stderr|file PATH|none` (the file opened now, for
 * appending), `log_timestamp`, `log_timestamp_format` — as in mosquitto, a file without
 * `log_dest` lines logs errors, warnings, notices and information to stderr (see
 * `mqtt_broker_log_type` for the lines; a log callback set before stays).
 * Keywords mosquitto knows but this broker does not support yet (bridges) are refused. Settings made before are kept unless the file
 * changes them; setters called after override it. Blocks while reading the files.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8`,
 * `MQTT_STATUS_IO` (a file cannot be read) or `MQTT_STATUS_INVALID_ARGUMENT` (a malformed or
 * unsupported line); `mqtt_last_error()` then says `FILE:LINE: reason`. On failure the options
 * are left as they were.
 *
 * # Safety
 * `opts` is NULL or a live options object; `path` is NULL or a NUL-terminated string.
 */
mqtt_status mqtt_broker_options_load_config(mqtt_broker_options *opts,
                                            const char *path);

/**
 * Sets a mosquitto password file (made by `mosquitto_passwd`, `$7$` and `$6$` entries), read
 * now; NULL removes it. A client presenting a user name the file lists must give that user's
 * password (else CONNACK 0x04, 0x86 for MQTT 5.0); other user names are left to the
 * authenticator callback, and refused without one. Blocks while reading the file.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`), `MQTT_STATUS_INVALID_UTF8`
 * or `MQTT_STATUS_IO` (naming the file).
 *
 * # Safety
 * `opts` is NULL or a live options object; `path` is NULL or a NUL-terminated string.
 */
mqtt_status mqtt_broker_options_set_password_file(mqtt_broker_options *opts, const char *path);

/**
 * Sets a mosquitto ACL file (`user`, `topic [read|write|readwrite|deny] FILTER`, `pattern`
 * with `%c` and `%u`), read now; NULL removes it. Publishing needs write access (refused
 * messages are acknowledged but not forwarded, 0x87 for MQTT 5.0), every delivered message read
 * access, and a subscription whose filter no read rule could ever match is refused in SUBACK.
 * Checked before the authorizer callback; both must allow. Blocks while reading the file.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`), `MQTT_STATUS_INVALID_UTF8`,
 * `MQTT_STATUS_IO` or `MQTT_STATUS_INVALID_ARGUMENT` (a malformed line; the message names it).
 *
 * # Safety
 * `opts` is NULL or a live options object; `path` is NULL or a NUL-terminated string.
 */
mqtt_status mqtt_broker_options_set_acl_file(mqtt_broker_options *opts, const char *path);

/**
 * Sets whether clients without a user name are accepted (default true; mosquitto's
 * `allow_anonymous`). When false they get CONNACK 0x05 (0x87 for MQTT 5.0).
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_allow_anonymous(mqtt_broker_options *opts, bool allow);

/**
 * The port the options listen on: 1883 unless `mqtt_broker_options_load_config` read another
 * (a program then passes it to `mqtt_broker_new`); -1 for NULL `opts`. A pure getter: it does
 * not touch `mqtt_last_error`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
int mqtt_broker_options_get_port(const mqtt_broker_options *opts);

/**
 * Reads the broker's password and ACL files again from where they were loaded, as mosquitto
 * does on SIGHUP (the broker program calls this on SIGHUP): connections made from now on use the
 * new files, and a connected client's ACL follows at its next publish or delivery. Files the
 * broker was started without stay absent; opens the log file (`log_dest file`) again, so a
 * rotated log is followed by a new file. Then reads the TLS listeners' certificate files
 * again, as `mqtt_broker_reload_tls` does. Blocks while reading the files (a password check
 * on another thread is not held up); thread-safe, and may be called from the broker's callbacks.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_IO` (a file cannot be
 * read), `MQTT_STATUS_INVALID_ARGUMENT` (a malformed line; `mqtt_last_error()` says
 * `FILE:LINE: reason`) or `MQTT_STATUS_TLS` (a certificate or key does not load). On failure
 * the old files stay in force.
 *
 * # Safety
 * `broker` is NULL or a live broker.
 */
mqtt_status mqtt_broker_reload(const mqtt_broker *broker);

/**
 * Subscribes the host program to `filter` in its own broker: `cb` receives every matching
 * message, and at once the retained ones, at min(publish QoS, `qos`), on the broker's
 * host-subscriber thread (see `mqtt_broker_message_callback`). Subscribing again to the same
 * filter replaces its callback, userdata and QoS. Works whether or not the broker is running;
 * the ACL file and the authorizer do not apply to the host. Shared subscriptions (`$share/...`)
 * are for clients and are refused. Does not block beyond a short lock (the first call starts
 * the thread). Thread-safe, including from the broker's own callbacks.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (`broker`, `filter` or `cb`),
 * `MQTT_STATUS_INVALID_UTF8`, `MQTT_STATUS_INVALID_TOPIC` (not a valid topic filter, or a shared
 * one), `MQTT_STATUS_INVALID_QOS` or `MQTT_STATUS_IO` (the thread could not be started).
 *
 * # Safety
 * `broker` is NULL or a live broker; `filter` is NULL or a NUL-terminated string; `cb`, if not
 * NULL, is safe to call with `userdata` from the host-subscriber thread until
 * `mqtt_broker_unsubscribe` for this filter returns, or the broker is freed.
 */
mqtt_status mqtt_broker_subscribe(const mqtt_broker *broker,
                                  const char *filter,
                                  int qos,
                                  mqtt_broker_message_callback cb,
                                  void *userdata);

/**
 * Removes the host's subscription to exactly `filter` (as `mqtt_broker_subscribe` gave it). Once
 * it returns, the callback is not called for messages routed afterwards; one the
 * host-subscriber thread is already running finishes. Thread-safe, including from the broker's
 * own callbacks.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8` or
 * `MQTT_STATUS_NOT_FOUND` (the host has no subscription to `filter`).
 *
 * # Safety
 * `broker` is NULL or a live broker; `filter` is NULL or a NUL-terminated string.
 */
mqtt_status mqtt_broker_unsubscribe(const mqtt_broker *broker, const char *filter);

/**
 * New TLS options: no certificate, key or CA yet, no client certificates asked for. Release
 * with `mqtt_broker_tls_options_free`. Returns NULL only if memory is exhausted.
 */
mqtt_broker_tls_options *mqtt_broker_tls_options_new(void);

/**
 * Releases TLS options. NULL is a no-op.
 *
 * # Safety
 * `tls` is NULL or a pointer from `mqtt_broker_tls_options_new` not freed before.
 */
void mqtt_broker_tls_options_free(mqtt_broker_tls_options *tls);

/**
 * Sets the certificate chain (PEM, leaf first) and private key (PEM: PKCS#8, PKCS#1 or SEC1)
 * from files, read when the broker starts and again by `mqtt_broker_reload_tls`.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or
 * `MQTT_STATUS_INVALID_UTF8`.
 *
 * # Safety
 * `tls` is a live handle; `cert_file` and `key_file` are NUL-terminated paths.
 */
mqtt_status mqtt_broker_tls_options_set_certificate_files(mqtt_broker_tls_options *tls,
                                                          const char *cert_file,
                                                          const char *key_file);

/**
 * Sets the certificate chain and private key from PEM data in memory (copied).
 *
 * Does not block. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `tls` is a live handle; `cert_pem`/`key_pem` point to `cert_len`/`key_len` readable bytes.
 */
mqtt_status mqtt_broker_tls_options_set_certificate_pem(mqtt_broker_tls_options *tls,
                                                        const uint8_t *cert_pem,
                                                        size_t cert_len,
                                                        const uint8_t *key_pem,
                                                        size_t key_len);

/**
 * Asks clients for a certificate signed by a CA of `ca_file` (PEM): `mode` 0 asks for none
 * (default), 1 requests one (clients without a certificate are still accepted), 2 requires
 * one (mosquitto's `require_certificate true`). With `identity_as_username` the verified
 * certificate's Common Name (or whole subject) becomes the user name and the password file is
 * not consulted (mosquitto's `use_identity_as_username`); the authenticator callback, if any,
 * still decides.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `tls`, or NULL
 * `ca_file` with a mode above 0), `MQTT_STATUS_INVALID_ARGUMENT` (mode out of range, or
 * identity as user name without a required certificate).
 *
 * # Safety
 * `tls` is a live handle; `ca_file` is NULL or a NUL-terminated path.
 */
mqtt_status mqtt_broker_tls_options_set_client_certificates(mqtt_broker_tls_options *tls,
                                                            const char *ca_file,
                                                            int mode,
                                                            bool identity_as_username);

/**
 * The oldest TLS version the listener accepts: 12 for TLS 1.2 (default) or 13 for TLS 1.3
 * only (mosquitto's `tls_version`).
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or
 * `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `tls` is a live handle.
 */
mqtt_status mqtt_broker_tls_options_set_min_version(mqtt_broker_tls_options *tls, int version);

/**
 * Adds a listener to the options: `kind` (an `mqtt_listener_kind`), the address to bind (an
 * IPv4 or IPv6 address, or a host name resolved at start) and the port (0 picks a free one),
 * and for TLS the TLS options (copied; NULL for TCP). All listeners share sessions,
 * subscriptions and retained messages. When the options have listeners, `mqtt_broker_new`
 * takes NULL as its port and opens exactly these; given a port too, it opens a TCP listener
 * on it first.
 *
 * Does not block (the certificate files are read at start). Returns `MQTT_STATUS_OK`,
 * `MQTT_STATUS_NULL_ARGUMENT` (TLS kinds without TLS options), `MQTT_STATUS_INVALID_UTF8`, or
 * `MQTT_STATUS_INVALID_ARGUMENT` (unknown kind, TLS options without certificate and key).
 *
 * # Safety
 * `opts` is a live options object; `address` is NUL-terminated; `tls` is NULL or a live
 * handle.
 */
mqtt_status mqtt_broker_options_add_listener(mqtt_broker_options *opts,
                                             int kind,
                                             const char *address,
                                             uint16_t port,
                                             const mqtt_broker_tls_options *tls);

/**
 * Adds a WebSocket listener (MQTT 5.0 section 6) serving `path` (NULL: `/mqtt`; "" every
 * path, as mosquitto does), accepting upgrades only from the `origin_count` origins in
 * `origins` (e.g. "https://example.com"; none: any origin), over TLS when `tls` is not NULL.
 * Otherwise as `mqtt_broker_options_add_listener`. Clients must offer the subprotocol `mqtt`
 * (or `mqttv3.1`); other requests get an HTTP error.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`,
 * `MQTT_STATUS_INVALID_UTF8` or `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `opts` is a live options object; `address` is NUL-terminated; `path` is NULL or
 * NUL-terminated; `origins` points to `origin_count` NUL-terminated strings (NULL when 0);
 * `tls` is NULL or a live handle.
 */
mqtt_status mqtt_broker_options_add_websocket_listener(mqtt_broker_options *opts,
                                                       const char *address,
                                                       uint16_t port,
                                                       const char *path,
                                                       const char *const *origins,
                                                       size_t origin_count,
                                                       const mqtt_broker_tls_options *tls);

/**
 * How many listeners the broker has once started (0 before, or for NULL). A pure getter.
 *
 * # Safety
 * `broker` is NULL or a live broker.
 */
size_t mqtt_broker_listener_count(const mqtt_broker *broker);

/**
 * The port listener `index` (0-based, in the order added; the `mqtt_broker_new` port's TCP
 * listener first) got once started; 0 for an index out of range, before start, or for NULL.
 * A pure getter.
 *
 * # Safety
 * `broker` is NULL or a live broker.
 */
uint16_t mqtt_broker_listener_port(const mqtt_broker *broker, size_t index);

/**
 * Writes the URL of listener `index` — `mqtt://ADDRESS:PORT`, `mqtts://…`, `ws://ADDRESS:PORT/PATH`
 * or `wss://…`, an IPv6 address in brackets, the port it got — NUL-terminated into `out`
 * (`size` bytes).
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`,
 * `MQTT_STATUS_NOT_FOUND` (no such listener, or not started), or `MQTT_STATUS_TOO_LARGE`
 * (`out` too small; nothing written). 64 bytes suffice but for a long WebSocket path.
 *
 * # Safety
 * `broker` is NULL or a live broker; `out` points to `size` writable bytes.
 */
mqtt_status mqtt_broker_listener_url(const mqtt_broker *broker,
                                     size_t index,
                                     char *out,
                                     size_t size);

/**
 * How many listeners the options hold (`mqtt_broker_options_add_listener`, or a configuration
 * file's); 0 for NULL or none. A pure getter.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
size_t mqtt_broker_options_listener_count(const mqtt_broker_options *opts);

/**
 * Reads the certificate, key and CA files of every TLS listener again: connections accepted
 * from now on use them; open connections keep theirs. On failure (`mqtt_last_error()` names
 * the file) the listener keeps its configuration. `mqtt_broker_reload` does this too. Blocks
 * while reading the files; thread-safe.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_TLS`.
 *
 * # Safety
 * `broker` is NULL or a live broker.
 */
mqtt_status mqtt_broker_reload_tls(const mqtt_broker *broker);

/**
 * Creates broker options with the defaults: bind address 127.0.0.1, at most 1024 connections,
 * packets up to 16 MiB, 10000 queued messages and 4096 in-flight messages per session, a 10 s
 * connect timeout, persistent sessions kept until the broker stops, 128 KiB connection-thread
 * stacks, idle connections parked after 500 ms, no authenticator, authorizer or event callback.
 *
 * Returns a new object owned by the caller (release it with `mqtt_broker_options_free`), or NULL
 * with `MQTT_STATUS_PANIC` if it could not be created. Does not block.
 */
mqtt_broker_options *mqtt_broker_options_new(void);

/**
 * Releases options created by `mqtt_broker_options_new`. NULL is a no-op. Brokers created from
 * them are unaffected (they hold a copy).
 *
 * # Safety
 * `opts` is NULL or a live options object, not used afterwards.
 */
void mqtt_broker_options_free(mqtt_broker_options *opts);

/**
 * Sets the address to listen on: an IPv4 or IPv6 address or a host name, resolved when the
 * broker starts (default "127.0.0.1"; "0.0.0.0" listens on every interface). The string is
 * copied.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8`, or
 * `MQTT_STATUS_INVALID_ARGUMENT` for an empty address.
 *
 * # Safety
 * `opts` is NULL or a live options object; `address` is NULL or a NUL-terminated string.
 */
mqtt_status mqtt_broker_options_set_bind_address(mqtt_broker_options *opts, const char *address);

/**
 * Sets how many connections are served at once (default 1024, at least 1). A client beyond it
 * receives CONNACK 0x03 (server unavailable) and is closed.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_max_connections(mqtt_broker_options *opts,
                                                    size_t max_connections);

/**
 * Sets the largest packet accepted from a client, fixed header included (default 16 MiB;
 * between 16 bytes and 268,435,460). A client sending a larger one is disconnected before any
 * memory is reserved for it.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_max_packet_size(mqtt_broker_options *opts,
                                                    size_t max_packet_size);

/**
 * Sets how many messages may wait for one session (default 10000, at least 1): for a connected
 * subscriber that reads slowly, and for an absent client with a persistent session. Messages
 * beyond it are dropped and counted in `messages_dropped`; publishers never wait.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_max_queued_messages(mqtt_broker_options *opts,
                                                        size_t max_queued);

/**
 * Sets how many QoS 1 and 2 messages may be sent to one client and not yet acknowledged
 * (default 4096; between 1 and 65535).
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_max_inflight_messages(mqtt_broker_options *opts,
                                                          size_t max_inflight);

/**
 * Sets how long a new socket may take to send its CONNECT before it is closed, in milliseconds
 * (default 10000, at least 1).
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_connect_timeout_ms(mqtt_broker_options *opts,
                                                       uint32_t timeout_ms);

/**
 * Sets how long a persistent session (clean session 0) is kept after its client disconnects,
 * in seconds; 0 (the default) keeps it until the broker stops, as MQTT 3.1.1 specifies.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_session_expiry_s(mqtt_broker_options *opts, uint64_t expiry_s);

/**
 * Sets the stack size of each connection thread in bytes (default 131072; at least 32768).
 * Callbacks run on these threads: raise it if yours need deep stacks. Only the pages a thread
 * touches use memory.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_thread_stack_size(mqtt_broker_options *opts, size_t stack_size);

/**
 * Sets for how many microseconds (at most 10000) a connection thread whose last wake-up
 * brought little work keeps looking at its socket before it sleeps (default 50; 0 sleeps at
 * once). Waking a sleeping thread on an idle CPU is most of a loopback round trip, above all
 * on virtual machines; polling trades CPU for it. At most half the CPUs this process may use
 * poll at once (at least one thread), each yields to threads waiting for the same CPU, a
 * wake-up that brought many packets or deliveries does not poll, and a connection whose
 * traffic is sparser than the window polls on one wait in 64 at most. A client that answers
 * within the window every time keeps one CPU busy while nothing else wants it; polling does
 * not give back a container's CPU quota: set 0 where that matters.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, or `MQTT_STATUS_INVALID_ARGUMENT`
 * above 10000.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_busy_poll_us(mqtt_broker_options *opts, uint32_t window_us);

/**
 * Sets after how many milliseconds without traffic a connection gives up its thread and waits
 * in the broker's parking lot (one epoll thread) until a packet, a delivery or its keep-alive
 * deadline needs it again (default 500); 0 keeps one thread per connection throughout. Parked
 * connections cost far less memory than threads; resuming one costs a thread start.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_park_idle_after_ms(mqtt_broker_options *opts, uint32_t idle_ms);

/**
 * Sets the authenticator, called once per CONNECT before the client is accepted; NULL `cb`
 * removes it (everyone is accepted). `cb` returns an `mqtt_auth_result` value:
 * `MQTT_AUTH_RESULT_ACCEPT` (1), `MQTT_AUTH_RESULT_BAD_CREDENTIALS` (0, CONNACK 0x04) or
 * `MQTT_AUTH_RESULT_NOT_AUTHORIZED` (2, CONNACK 0x05); any other value refuses with 0x05.
 *
 * Threads: `cb` runs on the connection's own thread, concurrently with other connections'
 * callbacks, so it must be thread-safe; `userdata` is passed back untouched. While `cb` runs
 * that client waits, no other. `cb` may call `mqtt_broker_publish`, `mqtt_broker_stats`,
 * `mqtt_broker_port` and `mqtt_broker_stop` (which then only starts the stop and returns at
 * once); it must not call `mqtt_broker_free` or `mqtt_broker_wait` on its own broker.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
 *
 * # Safety
 * `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
 * from any thread for as long as a broker created from these options exists.
 */
mqtt_status mqtt_broker_options_set_authenticator(mqtt_broker_options *opts,
                                                  mqtt_broker_authenticator cb,
                                                  void *userdata);

/**
 * Sets an authenticator that also sees the client's address, its TLS certificate identity
 * and protocol level (`mqtt_auth_request`), in place of any set by
 * `mqtt_broker_options_set_authenticator` (and replaced by it: the last one set is used); NULL
 * `cb` removes it. `cb` returns an `mqtt_auth_result` value as `mqtt_broker_authenticator`
 * does; the request and its strings are valid only during the call.
 *
 * Threads: as for `mqtt_broker_options_set_authenticator`: `cb` runs on the connection's own
 * thread, concurrently with other connections' callbacks, and may call
 * `mqtt_broker_publish`, `mqtt_broker_stats`, `mqtt_broker_port` and `mqtt_broker_stop`; it
 * must not call `mqtt_broker_free` or `mqtt_broker_wait` on its own broker.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
 *
 * # Safety
 * `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
 * from any thread for as long as a broker created from these options exists.
 */
mqtt_status mqtt_broker_options_set_authenticator_ex(mqtt_broker_options *opts,
                                                     mqtt_broker_authenticator_ex cb,
                                                     void *userdata);

/**
 * Sets the authorizer, called for every topic filter in a SUBSCRIBE, every PUBLISH a client
 * sends and every will about to be published; NULL `cb` removes it (everything is allowed).
 *
 * Threads: `cb` runs on the connection threads, concurrently, for every message a client
 * publishes, so keep it fast and thread-safe. It may call `mqtt_broker_publish`,
 * `mqtt_broker_stats`, `mqtt_broker_port` and `mqtt_broker_stop` (which then only starts the stop
 * and returns at once); it must not call `mqtt_broker_free` or `mqtt_broker_wait` on its own
 * broker.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
 *
 * # Safety
 * `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
 * from any thread for as long as a broker created from these options exists.
 */
mqtt_status mqtt_broker_options_set_authorizer(mqtt_broker_options *opts,
                                               mqtt_broker_authorizer cb,
                                               void *userdata);

/**
 * Sets the event callback, told of every accepted connection and of its end; NULL `cb`
 * removes it.
 *
 * Threads: `cb` runs on a broker thread, concurrently with other connections' callbacks: the
 * connection's own thread, the listener or parking thread for a connect accepted as soon as it
 * arrived, or the parking thread for a parked connection closed by `mqtt_broker_stop` (for
 * disconnects caused by the stop it runs while the stop is in progress). Keep it short: while it
 * runs on the listener or parking thread, no new connection is accepted and no parked one
 * resumed.
 * It may call `mqtt_broker_publish`, `mqtt_broker_stats`, `mqtt_broker_port` and
 * `mqtt_broker_stop` (which then only starts the stop and returns at once); it must not call
 * `mqtt_broker_free` or `mqtt_broker_wait` on its own broker.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
 *
 * # Safety
 * `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
 * from any thread for as long as a broker created from these options exists.
 */
mqtt_status mqtt_broker_options_set_event_callback(mqtt_broker_options *opts,
                                                   mqtt_broker_event_callback cb,
                                                   void *userdata);

/**
 * Sets the log callback (NULL removes it), called with `userdata` for every broker log line of
 * a type in `types` (a mask of `mqtt_broker_log_type` bits, `MQTT_BROKER_LOG_TYPE_ALL` for
 * all; 0 calls it for nothing), as libmosquitto's log callback: connects, disconnects,
 * subscriptions... See `mqtt_broker_log_callback` for the lines, the thread that calls it and
 * what it may call. A configuration's `log_dest` destinations
 * (`mqtt_broker_options_load_config`) are written as well, with their own `log_type`s; the
 * callback costs nothing for the types it does not take.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`) or
 * `MQTT_STATUS_INVALID_ARGUMENT` (`types` has bits outside `MQTT_BROKER_LOG_TYPE_ALL`).
 *
 * # Safety
 * `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
 * from any thread for as long as a broker created from these options exists.
 */
mqtt_status mqtt_broker_options_set_log_callback(mqtt_broker_options *opts,
                                                 uint32_t types,
                                                 mqtt_broker_log_callback cb,
                                                 void *userdata);

/**
 * Sets how often the `$SYS` topics (mosquitto's names: `$SYS/broker/clients/connected`,
 * `$SYS/broker/messages/received`, `$SYS/broker/uptime`, ...) are published, retained, in
 * seconds (default 10; 0 publishes none).
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_sys_interval_s(mqtt_broker_options *opts, uint32_t seconds);

/**
 * Sets the message hook, called for every PUBLISH a client sends, after authorization and
 * before routing (not for the host's own `mqtt_broker_publish` nor for wills); NULL `cb`
 * removes it, and without one routing costs nothing extra. The hook returns 0 to route the
 * message — or the replacement it left with `mqtt_hook_reply_replace` — or a failure reason
 * code (0x80 and above, e.g. 0x87 not authorized, 0x97 quota exceeded) to drop it: a QoS 1 or 2
 * message is still acknowledged, and an MQTT 5.0 client gets that code in its PUBACK or PUBREC.
 *
 * Threads: `cb` runs on the publishing client's connection thread, concurrently for different
 * clients, once per message: keep it fast. It may call `mqtt_broker_publish`,
 * `mqtt_broker_stats`, `mqtt_broker_port` and `mqtt_broker_stop` (which then only starts the
 * stop); it must not call `mqtt_broker_free` or `mqtt_broker_wait` on its own broker.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
 *
 * # Safety
 * `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
 * from any thread for as long as a broker created from these options exists.
 */
mqtt_status mqtt_broker_options_set_message_hook(mqtt_broker_options *opts,
                                                 mqtt_broker_message_hook cb,
                                                 void *userdata);

/**
 * Replaces the topic and payload of the message the hook is looking at (the rest of the
 * message stays as it was). Only valid inside the message hook that received `reply`; the hook
 * must then return 0. Topic and payload are copied.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8` or
 * `MQTT_STATUS_INVALID_TOPIC` (not a valid topic name).
 *
 * # Safety
 * `reply` is the pointer the hook received, during the hook; `topic` is NULL or a
 * NUL-terminated string; `payload` points to `len` readable bytes (NULL allowed when `len` is
 * 0).
 */
mqtt_status mqtt_hook_reply_replace(mqtt_hook_reply *reply,
                                    const char *topic,
                                    const uint8_t *payload,
                                    size_t len);

/**
 * MQTT 5.0: sets how many QoS 2 messages one client may have unacknowledged at once (the
 * Receive Maximum announced in CONNACK; default 65535, between 1 and 65535). A client sending
 * more is disconnected with reason code 0x93.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT` (0).
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_receive_maximum(mqtt_broker_options *opts,
                                                    uint16_t receive_maximum);

/**
 * MQTT 5.0: sets the highest Topic Alias a client may use (default 10, as mosquitto; 0 refuses
 * topic aliases). A client using 0 or a higher one is disconnected with reason code 0x94.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_topic_alias_maximum(mqtt_broker_options *opts,
                                                        uint16_t topic_alias_maximum);

/**
 * MQTT 5.0: sets the highest QoS the broker accepts in PUBLISH and grants in SUBACK (default
 * 2). A 5.0 client publishing above it is disconnected with reason code 0x9B; subscriptions are
 * granted at most this QoS, for every revision.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_QOS`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_maximum_qos(mqtt_broker_options *opts, int qos);

/**
 * Switches one MQTT 5.0 capability on or off (see `mqtt_broker_feature`; all are on by
 * default). `feature` is an `mqtt_broker_feature` value.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT` (an
 * unknown feature).
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_feature(mqtt_broker_options *opts, int feature, bool enabled);

/**
 * MQTT 5.0: sets the longest keep-alive, in seconds, a 5.0 client may ask for (mosquitto's
 * `max_keepalive`); a client asking for more, or for none (0), is told this value in CONNACK
 * (Server Keep Alive) and held to it. 0 (the default) means no maximum. 3.1.1 clients, which
 * cannot be told, keep their own. Between 0 and 65535.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_max_keep_alive(mqtt_broker_options *opts, int seconds);

/**
 * MQTT 5.0: sets a keep-alive, in seconds, that the broker imposes on 5.0 clients instead of
 * the one they ask for (Server Keep Alive in CONNACK); -1 (the default) leaves each client its
 * own. Between -1 and 65535.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_server_keep_alive(mqtt_broker_options *opts, int seconds);

/**
 * MQTT 5.0: sets the Response Information returned to a client that asks for it in CONNECT
 * (the base of its response topics, for request/response); NULL (the default) returns none.
 * The string is copied.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`) or
 * `MQTT_STATUS_INVALID_UTF8`.
 *
 * # Safety
 * `opts` is NULL or a live options object; `info` is NULL or a NUL-terminated string.
 */
mqtt_status mqtt_broker_options_set_response_information(mqtt_broker_options *opts,
                                                         const char *info);

/**
 * MQTT 5.0: sets the enhanced authenticator, which decides every step of the AUTH exchange a
 * CONNECT with an Authentication Method opens, and of re-authentications; NULL `cb` removes it
 * (a CONNECT with a method then gets CONNACK 0x8C). CONNECTs without a method go to the
 * authenticator of `mqtt_broker_options_set_authenticator`.
 *
 * Each call gets the step (`mqtt_auth_step`) and returns a reason code as an `int`: 0x00
 * success, 0x18 continue (another AUTH round), or a failure code of 0x80 and above (0x87 not
 * authorized, 0x8C bad authentication method, ...), which refuses the client. Data for the
 * client (with success or continue) is handed over with `mqtt_auth_reply_set_data(reply, ...)`.
 * Returning 0x9C (use another server) or 0x9D (server moved) after
 * `mqtt_auth_reply_set_server_reference(reply, ...)` sends the client to that server.
 *
 * Threads: `cb` runs on connection threads, concurrently for different clients; one exchange's
 * steps come one after another. It may call `mqtt_broker_publish`, `mqtt_broker_stats`,
 * `mqtt_broker_port` and `mqtt_broker_stop` (which then only starts the stop); it must not call
 * `mqtt_broker_free` or `mqtt_broker_wait` on its own broker.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`).
 *
 * # Safety
 * `opts` is NULL or a live options object; `cb`, if not NULL, is safe to call with `userdata`
 * from any thread for as long as a broker created from these options exists.
 */
mqtt_status mqtt_broker_options_set_enhanced_authenticator(mqtt_broker_options *opts,
                                                           mqtt_broker_enhanced_authenticator cb,
                                                           void *userdata);

/**
 * Names the server a client refused with 0x9C (use another server) or 0x9D (server moved) is
 * sent to: its CONNACK, or its DISCONNECT when re-authenticating, carries `server_reference`
 * as the Server Reference (MQTT 5.0 section 4.11); NULL sets none. Only valid inside the
 * enhanced authenticator callback that received `reply`; runs on that callback's thread and
 * does not block. The string is copied.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `reply`),
 * `MQTT_STATUS_INVALID_UTF8` or `MQTT_STATUS_TOO_LARGE` (over 65535 bytes).
 *
 * # Safety
 * `reply` is the pointer the callback received, during the callback; `server_reference` is
 * NULL or a NUL-terminated string.
 */
mqtt_status mqtt_auth_reply_set_server_reference(mqtt_auth_reply *reply,
                                                 const char *server_reference);

/**
 * Hands the data to send to the client with this authentication step (CONNACK on success,
 * AUTH on continue), replacing any set before; `len` 0 sends none. Only valid inside the
 * enhanced authenticator callback that received `reply`. The bytes are copied.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` or `MQTT_STATUS_TOO_LARGE` (over
 * 65535 bytes).
 *
 * # Safety
 * `reply` is the pointer the callback received, during the callback; `data` points to `len`
 * readable bytes (it may be NULL when `len` is 0).
 */
mqtt_status mqtt_auth_reply_set_data(mqtt_auth_reply *reply, const uint8_t *data, size_t len);

/**
 * Keeps retained messages and persistent sessions (clean session 0 or a session expiry above
 * 0: subscriptions, queued QoS 1/2 messages, messages in flight in both directions, delayed
 * wills) in the file at `path`, so that they survive a restart of the broker or a crash of its
 * process. The file is created at `mqtt_broker_start` if missing; a broker started on an
 * existing file takes up what it holds before accepting clients. NULL (the default) keeps
 * everything in memory only. The path is not checked here: `mqtt_broker_start` reports a file
 * that cannot be used. Does not block.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (NULL `opts`) or
 * `MQTT_STATUS_INVALID_UTF8`.
 *
 * # Safety
 * `opts` is NULL or a live options object; `path` is NULL or a NUL-terminated string.
 */
mqtt_status mqtt_broker_options_set_persistence(mqtt_broker_options *opts, const char *path);

/**
 * Sets when changes reach the persistence file. `interval_ms` 0 (the default) is durable: a
 * PUBLISH is acknowledged to its publisher (PUBACK, PUBREC) only once it is on disk, and
 * nothing else reaches a client before the disk holds it; the connections waiting at one
 * moment share one commit, so many publishers share one fsync. Above 0, nobody waits and a
 * crash loses at most the last `interval_ms` milliseconds: changes are committed every
 * interval, and a message to a connected persistent subscriber is written only if still
 * unacknowledged when its connection is next asked to record what it holds (every three
 * quarters of the interval, each followed by a commit; from 10 ms up), so a subscriber that
 * keeps up costs the disk nothing and this mode runs at about the in-memory rate. Does not
 * block.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `opts` is NULL or a live options object.
 */
mqtt_status mqtt_broker_options_set_persistence_sync(mqtt_broker_options *opts,
                                                     uint32_t interval_ms);

/**
 * Fills `*out` with what the broker's persistence store has done. Does not block;
 * thread-safe.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, or `MQTT_STATUS_INVALID_STATE` when
 * the broker has no persistence file; `*out` is written only on success.
 *
 * # Safety
 * `broker` is NULL or a live broker; `out` is NULL or points to a writable
 * `mqtt_persistence_statistics`.
 */
mqtt_status mqtt_broker_persistence_stats(const mqtt_broker *broker,
                                          mqtt_persistence_statistics *out);

/**
 * Creates a broker that will listen on `port` (a decimal string such as "1883"; "0" picks a
 * free port, see `mqtt_broker_port`) with `opts`, or the defaults when `opts` is NULL. The
 * options are copied. Nothing listens until `mqtt_broker_start`. Does not block.
 *
 * With listeners added to `opts` (`mqtt_broker_options_add_listener`), `port` may be NULL:
 * the broker opens exactly those; a `port` given as well opens a TCP listener on it first.
 *
 * Returns a new broker owned by the caller (release it with `mqtt_broker_free`), or NULL with
 * `MQTT_STATUS_NULL_ARGUMENT` (NULL `port` without listeners), `MQTT_STATUS_INVALID_UTF8` or
 * `MQTT_STATUS_INVALID_ARGUMENT` (not a port number) in `mqtt_last_status()`.
 *
 * # Safety
 * `port` is NULL or a NUL-terminated string; `opts` is NULL or a live options object.
 */
mqtt_broker *mqtt_broker_new(const char *port, const mqtt_broker_options *opts);

/**
 * Binds the listening socket and starts serving on the broker's own threads (a listener thread
 * and one thread per connection). Blocks only until the socket is listening: clients may
 * connect as soon as this returns.
 *
 * Returns `MQTT_STATUS_OK`; `MQTT_STATUS_ADDRESS_IN_USE` if the port is taken;
 * `MQTT_STATUS_RESOLVE` or `MQTT_STATUS_IO` if the address cannot be resolved or bound;
 * `MQTT_STATUS_ALREADY_RUNNING` if it is running; `MQTT_STATUS_PERSISTENCE` if the
 * persistence file cannot be used (the message names it); `MQTT_STATUS_NULL_ARGUMENT` for
 * NULL. A stopped broker starts again, with the sessions, subscriptions and retained messages
 * it had (and, with persistence, those of the file the first start read).
 *
 * # Safety
 * `broker` is NULL or a live broker.
 */
mqtt_status mqtt_broker_start(mqtt_broker *broker);

/**
 * The port the broker listens on: the one it was created with, or the one the system chose for
 * port "0". 0 before `mqtt_broker_start` succeeded, or for NULL. Stays valid after stop. Does
 * not block; thread-safe. A pure getter: leaves `mqtt_last_status()` and `mqtt_last_error()`
 * as they were.
 *
 * # Safety
 * `broker` is NULL or a live broker.
 */
uint16_t mqtt_broker_port(const mqtt_broker *broker);

/**
 * Stops the broker: closes the listening socket and every client connection (no wills are
 * published), and blocks until all its threads have finished. Sessions, subscriptions and
 * retained messages stay for a later `mqtt_broker_start`; with persistence they are committed
 * to the file and it is closed, so another broker may open it. Idempotent: stopping a stopped or never-started
 * broker returns `MQTT_STATUS_OK` at once. Called from one of the broker's own callbacks it
 * starts the stop and returns at once (a thread cannot wait for itself).
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `broker` is NULL or a live broker.
 */
mqtt_status mqtt_broker_stop(mqtt_broker *broker);

/**
 * Blocks the calling thread until the broker has stopped (by `mqtt_broker_stop` from another
 * thread or a callback). Returns at once if the broker is not running. Must not be called from
 * the broker's own callbacks.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `broker` is NULL or a live broker, not freed while this waits.
 */
mqtt_status mqtt_broker_wait(mqtt_broker *broker);

/**
 * Stops the broker if it is running (blocking as `mqtt_broker_stop` does) and releases it.
 * NULL is a no-op. Must not be called from the broker's own callbacks.
 *
 * # Safety
 * `broker` is NULL or a live broker, not used afterwards by any thread.
 */
void mqtt_broker_free(mqtt_broker *broker);

/**
 * Publishes a message into the broker as if a client had sent it: it reaches every matching
 * subscription (at min(qos, granted QoS)), and with `retain` it replaces the topic's retained
 * message (an empty payload deletes it). `payload` may be NULL when `len` is 0; topic and
 * payload are copied. Works whether or not the broker is running. Never blocks on subscribers:
 * a full session queue drops the message for that session and counts it.
 *
 * Thread-safe, including from the broker's own callbacks.
 *
 * Returns `MQTT_STATUS_OK`; `MQTT_STATUS_INVALID_TOPIC` if `topic` is not a valid topic name
 * (empty, wildcards); `MQTT_STATUS_INVALID_QOS`; `MQTT_STATUS_TOO_LARGE` if it cannot fit in a
 * PUBLISH packet; `MQTT_STATUS_NULL_ARGUMENT`; `MQTT_STATUS_INVALID_UTF8`.
 *
 * # Safety
 * `broker` is NULL or a live broker; `topic` is NULL or a NUL-terminated string; `payload` is
 * NULL or points to `len` readable bytes.
 */
mqtt_status mqtt_broker_publish(mqtt_broker *broker,
                                const char *topic,
                                const uint8_t *payload,
                                size_t len,
                                int qos,
                                bool retain);

/**
 * Fills `*out` with a snapshot of the broker's counters. Does not block; thread-safe, including
 * from callbacks.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`; `*out` is written only on success.
 *
 * # Safety
 * `broker` is NULL or a live broker; `out` is NULL or points to a writable
 * `mqtt_broker_statistics`.
 */
mqtt_status mqtt_broker_stats(const mqtt_broker *broker, mqtt_broker_statistics *out);

/**
 * Closes the connection of the client with `client_id`, publishing its will if `publish_will`
 * (an MQTT 5.0 client is told why: DISCONNECT 0x98, administrative action). Its session stays
 * or ends as its expiry says. Returns at once; the event callback reports the disconnect with
 * `MQTT_DISCONNECT_REASON_KICKED` or `_KICKED_WITHOUT_WILL`. Thread-safe; may be called from the
 * broker's callbacks.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8` or
 * `MQTT_STATUS_NOT_FOUND` (no client with that identifier is connected).
 *
 * # Safety
 * `broker` is NULL or a live broker; `client_id` is NULL or a NUL-terminated string.
 */
mqtt_status mqtt_broker_disconnect_client(const mqtt_broker *broker,
                                          const char *client_id,
                                          bool publish_will);

/**
 * Sends the MQTT 5.0 client with `client_id` to another server: DISCONNECT 0x9D (server moved)
 * if `permanent`, else 0x9C (use another server), carrying `server_reference` as its Server
 * Reference, then the connection closes. An MQTT 3.1.1 client cannot be told and is just
 * disconnected. Its will is published and its session stays or ends as its expiry says. Returns
 * at once; the event callback reports the disconnect with `MQTT_DISCONNECT_REASON_KICKED` and
 * the reason code sent. Thread-safe; may be called from the broker's callbacks.
 *
 * Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, `MQTT_STATUS_INVALID_UTF8`,
 * `MQTT_STATUS_INVALID_ARGUMENT` (`server_reference` longer than 65,535 bytes) or
 * `MQTT_STATUS_NOT_FOUND` (no client with that identifier is connected).
 *
 * # Safety
 * `broker` is NULL or a live broker; `client_id` and `server_reference` are NULL or
 * NUL-terminated strings.
 */
mqtt_status mqtt_broker_redirect_client(const mqtt_broker *broker,
                                        const char *client_id,
                                        const char *server_reference,
                                        bool permanent);

/**
 * Calls `cb` once for every client connected now, with its identifier, user name, address,
 * protocol level, connection time and queued messages (`mqtt_client_info`, valid during the
 * call). Blocks only while the list is taken, not while `cb` runs; `cb` runs on the calling
 * thread and may call any broker function but `mqtt_broker_free`.
 *
 * Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `broker` is NULL or a live broker; `cb`, if not NULL, is safe to call with `userdata`.
 */
mqtt_status mqtt_broker_clients(const mqtt_broker *broker,
                                mqtt_broker_client_callback cb,
                                void *userdata);

/**
 * Connects to the broker at `host` (a name, an IPv4 or an IPv6 address) and `port` (a decimal
 * string such as "1883"), sends CONNECT and waits for CONNACK. Blocks at most the connect
 * timeout (30 s unless set). `options` may be NULL for the defaults; it is only read.
 *
 * Returns the connection, to be released with `mqtt_connection_free`, or NULL on failure with
 * `mqtt_last_status()` / `mqtt_last_error()` telling why: `MQTT_STATUS_RESOLVE`,
 * `MQTT_STATUS_IO` (no address accepted the TCP connection), `MQTT_STATUS_TIMEOUT`, one of the
 * `MQTT_STATUS_REFUSED_*` codes (the broker's CONNACK refusal; `mqtt_last_error()` gives its
 * reason), `MQTT_STATUS_PROTOCOL_ERROR`, `MQTT_STATUS_INVALID_ARGUMENT`, and with TLS settings
 * (`mqtt_connect_options_set_tls`) `MQTT_STATUS_TLS` when TLS failed.
 *
 * # Safety
 * `host` and `port` are NUL-terminated strings (or NULL, an error); `options` is NULL or a
 * handle from `mqtt_connect_options_new`.
 */
mqtt_connection *mqtt_connect(const char *host,
                              const char *port,
                              const mqtt_connect_options *options);

/**
 * `mqtt_connect` returning its status directly: on `MQTT_STATUS_OK` `*connection` receives the
 * new connection; on failure it is left untouched.
 *
 * # Safety
 * As for `mqtt_connect`; `connection` points to a writable `mqtt_connection *`.
 */
mqtt_status mqtt_connect_ex(const char *host,
                            const char *port,
                            const mqtt_connect_options *options,
                            mqtt_connection **connection);

/**
 * Subscribes to `filter` with the requested `qos` (0, 1 or 2) and waits for SUBACK (at most
 * the operation timeout). `callback` is called with `userdata` for every message whose most
 * specific matching filter (among this connection's subscriptions) is `filter`: when several
 * filters match a topic, only one callback runs, chosen by
 * 1. more literal (non-wildcard) levels: `a/b/+` beats `a/+/+`;
 * 2. then no `#` beats `#`: `a/+` beats `a/#`, `a/b` beats `a/b/#`;
 * 3. then the first differing level from the left: literal beats `+` beats `#`.
 *
 * Subscribing again to the same filter replaces its callback. The callback is registered
 * before SUBSCRIBE is sent, so retained messages are not missed, and removed again on failure.
 * On success the granted QoS is stored in `*granted_qos` (may be NULL).
 *
 * Returns `MQTT_STATUS_SUBSCRIBE_FAILED` if the broker refused (SUBACK 0x80),
 * `MQTT_STATUS_INVALID_TOPIC`, `MQTT_STATUS_INVALID_QOS`, `MQTT_STATUS_TIMEOUT`,
 * `MQTT_STATUS_CLOSED`. Messages arriving while it waits are dispatched, not lost.
 *
 * # Safety
 * `connection` is a live handle; `filter` a NUL-terminated string; `granted_qos` NULL or a
 * writable int; `userdata` is passed back untouched, from the thread documented at
 * `mqtt_message_callback`.
 */
mqtt_status mqtt_subscribe(const mqtt_connection *connection,
                           const char *filter,
                           int qos,
                           mqtt_message_callback callback,
                           void *userdata,
                           int *granted_qos);

/**
 * Subscribes to `count` filters in one SUBSCRIBE: `filters[i]` with the requested `qos[i]` (0,
 * 1 or 2), all with the same `callback` and `userdata` (chosen per message as for
 * `mqtt_subscribe`), and waits for the SUBACK (at most the operation timeout). On
 * `MQTT_STATUS_OK`, `granted_qos[i]` (the array may be NULL) receives the QoS granted for
 * `filters[i]`, or 0x80 (128) when the broker refused that filter, whose callback is then
 * removed again; the call succeeds even if some filters were refused ([MQTT-3.9.3-1]).
 *
 * Returns `MQTT_STATUS_INVALID_ARGUMENT` when `count` is 0 ([MQTT-3.8.3-3]),
 * `MQTT_STATUS_INVALID_TOPIC`, `MQTT_STATUS_INVALID_QOS`, `MQTT_STATUS_TIMEOUT`,
 * `MQTT_STATUS_CLOSED`, `MQTT_STATUS_NULL_ARGUMENT`. Messages arriving while it waits are
 * dispatched, not lost.
 *
 * # Safety
 * `connection` is a live handle; `filters` and `qos` point to `count` NUL-terminated strings
 * and ints; `granted_qos` is NULL or points to `count` writable ints; `userdata` is passed back
 * untouched, from the thread documented at `mqtt_message_callback`.
 */
mqtt_status mqtt_subscribe_many(const mqtt_connection *connection,
                                const char *const *filters,
                                const int *qos,
                                size_t count,
                                mqtt_message_callback callback,
                                void *userdata,
                                int *granted_qos);

/**
 * Unsubscribes from `filter` (exactly as subscribed), waits for UNSUBACK (at most the operation
 * timeout), then removes its callback. Messages arriving meanwhile are still dispatched.
 * Returns `MQTT_STATUS_TIMEOUT`, `MQTT_STATUS_CLOSED`, `MQTT_STATUS_INVALID_TOPIC`.
 *
 * # Safety
 * `connection` is a live handle; `filter` a NUL-terminated string.
 */
mqtt_status mqtt_unsubscribe(const mqtt_connection *connection, const char *filter);

/**
 * Publishes `len` bytes of `payload` (NULL allowed when `len` is 0: an empty message) to
 * `topic` with `qos` 0, 1 or 2 and the retain flag. Blocks: QoS 0 until the packet is handed to
 * the socket; QoS 1 until PUBACK; QoS 2 until PUBCOMP (after PUBREC and PUBREL) — at most the
 * operation timeout (`MQTT_STATUS_TIMEOUT` while connected; the message then stays in flight).
 * Messages arriving meanwhile are dispatched. Returns also `MQTT_STATUS_INVALID_TOPIC`,
 * `MQTT_STATUS_INVALID_QOS`, `MQTT_STATUS_TOO_LARGE`, `MQTT_STATUS_CLOSED` (the same error
 * text at every QoS for the same lost connection).
 *
 * While the connection is down and automatic reconnects are on, the message goes to the
 * offline queue (see `mqtt_connect_options_set_offline_queue`) and this returns
 * `MQTT_STATUS_QUEUED` at once, or `MQTT_STATUS_QUEUE_FULL`. A QoS 1/2 message whose
 * connection is lost while this waits, and that the reconnect will still send (clean session
 * false), also returns `MQTT_STATUS_QUEUED` rather than a timeout: a program that retries on
 * `MQTT_STATUS_TIMEOUT` never sends a duplicate of a message still on its way.
 * `mqtt_last_error()` then names the packet id, which `mqtt_wait_published` and the
 * on_published callback complete once acknowledged; use `mqtt_publish_async` to get it as a
 * number.
 *
 * # Safety
 * `connection` is a live handle; `topic` a NUL-terminated string; `payload` NULL (with `len`
 * 0) or `len` readable bytes.
 */
mqtt_status mqtt_publish(const mqtt_connection *connection,
                         const char *topic,
                         const uint8_t *payload,
                         size_t len,
                         int qos,
                         bool retain);

/**
 * Publishes without waiting for the acknowledgement, so many QoS 1/2 messages can be in flight
 * (up to the max-inflight window; while it is full this blocks, at most the operation timeout).
 * `*packet_id` (may be NULL) receives the packet identifier to pass to `mqtt_wait_published`,
 * or 0 for QoS 0. Arguments and statuses as for `mqtt_publish`; with `MQTT_STATUS_QUEUED`
 * (the connection is down and the message waits in the offline queue) `*packet_id` is written
 * too, and `mqtt_wait_published` / the on_published callback complete it after the reconnect.
 *
 * # Safety
 * As for `mqtt_publish`; `packet_id` is NULL or a writable `uint16_t`.
 */
mqtt_status mqtt_publish_async(const mqtt_connection *connection,
                               const char *topic,
                               const uint8_t *payload,
                               size_t len,
                               int qos,
                               bool retain,
                               uint16_t *packet_id);

/**
 * Waits until the publish with `packet_id` (from `mqtt_publish_async`) is acknowledged — PUBACK
 * for QoS 1, PUBCOMP for QoS 2 — or `timeout_ms` passes (-1 waits for ever). Returns at once if
 * no publish with that identifier is in flight. Messages arriving meanwhile are dispatched.
 * Returns `MQTT_STATUS_TIMEOUT`, `MQTT_STATUS_CLOSED` (the acknowledgement can no longer
 * come), `MQTT_STATUS_INVALID_ARGUMENT` for identifier 0.
 *
 * With clean session false, a lost connection does not end the wait: the message stays in the
 * session, `mqtt_reconnect` (from another thread, or the loop thread's automatic reconnect)
 * re-sends it, and the wait ends when that is acknowledged — or at the timeout, or with
 * `MQTT_STATUS_CLOSED` after `mqtt_disconnect` or `mqtt_connection_free`. A message waiting
 * in the offline queue (`MQTT_STATUS_QUEUED`) is waited for the same way at either clean
 * session setting. Otherwise, with clean session true, it returns `MQTT_STATUS_CLOSED` as
 * soon as the connection is lost.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_wait_published(const mqtt_connection *connection,
                                uint16_t packet_id,
                                int timeout_ms);

/**
 * Reads until one incoming message has been processed: dispatched to its callback (or dropped
 * when no subscription's filter matches) and acknowledged as its QoS requires (QoS 2 messages
 * are dispatched exactly once). Sends PINGREQ when keep-alive is due while waiting. Blocks up
 * to `timeout_ms` (-1: no limit). Returns `MQTT_STATUS_OK`, `MQTT_STATUS_TIMEOUT`, or
 * `MQTT_STATUS_CLOSED` once the connection has ended (`mqtt_last_error()` says why). While the
 * loop thread runs, waits for the loop thread to process the next message instead.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_receive_message(const mqtt_connection *connection, int timeout_ms);

/**
 * Sends PINGREQ and waits for PINGRESP (at most the operation timeout). Returns
 * `MQTT_STATUS_TIMEOUT` or `MQTT_STATUS_CLOSED` on failure.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_ping(const mqtt_connection *connection);

/**
 * Starts the loop thread: it reads the connection, runs every message callback and keeps the
 * connection alive, until `mqtt_loop_stop`, `mqtt_disconnect`, `mqtt_connection_free` or the
 * connection ends — unless `mqtt_connect_options_set_auto_reconnect` asked it to reconnect by
 * itself. After it ended (or after `mqtt_disconnect`), `mqtt_reconnect` starts it again, unless
 * `mqtt_loop_stop` was called. With automatic reconnects it also starts on a lost connection.
 * Returns `MQTT_STATUS_ALREADY_RUNNING` if it runs, `MQTT_STATUS_CLOSED` if
 * the connection has ended.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_loop_start(const mqtt_connection *connection);

/**
 * Stops the loop thread and waits until it has finished (the callback it may be running
 * returns first). Called from a callback on the loop thread, it only asks the loop to stop
 * after that callback. Does nothing if no loop runs. Blocks until the loop thread has ended
 * (at most the callback it is running plus a connect attempt under way). Returns
 * `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `connection` is NULL.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_loop_stop(const mqtt_connection *connection);

/**
 * Sends DISCONNECT, so the broker discards the will, closes the connection and stops the loop
 * thread (`mqtt_reconnect` may open the connection again and restart it). Any blocked call on
 * other threads returns `MQTT_STATUS_CLOSED`. Calling it again
 * returns `MQTT_STATUS_OK`; after the connection was lost otherwise it returns
 * `MQTT_STATUS_CLOSED`. The handle stays valid until `mqtt_connection_free`.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_disconnect(const mqtt_connection *connection);

/**
 * Closes the connection if it is still open — without DISCONNECT, so the broker publishes the
 * will — and connects again to the same host and port with the same options and the same
 * client id (the generated one too), within the connect timeout. Blocks until CONNACK.
 * Callable from any thread, after the connection was lost or `mqtt_disconnect`ed, with or
 * without the loop thread, and from inside a callback.
 *
 * Clean session false: the session resumes [MQTT-4.4.0-1]. Every unacknowledged QoS 1/2
 * PUBLISH is re-sent with DUP set and its original packet identifier, and PUBREL for each one
 * that got PUBREC, in their original order and before anything published afterwards; QoS 2
 * messages received and awaiting PUBREL stay known, so their re-delivery is not dispatched
 * twice. Pending `mqtt_wait_published` / `mqtt_publish` calls complete when the re-send is
 * acknowledged. The broker keeps the subscriptions and the subscription callbacks stay.
 *
 * Clean session true: unacknowledged publishes are discarded (the completion callback, if
 * set, gets `MQTT_STATUS_CLOSED` for each, on this thread); publishes in the offline queue were
 * never sent and go out now. The subscription callbacks stay registered, and since the broker
 * has forgotten the subscriptions (no session present) they are subscribed again in one
 * SUBSCRIBE — unless `mqtt_connect_options_set_resubscribe` turned that off. The same happens
 * with clean session false when the broker reports no session present.
 *
 * The loop thread, if started with `mqtt_loop_start` and not stopped with `mqtt_loop_stop`, is
 * stopped and joined first (the callback it runs finishes) and started again on success;
 * called from a callback on the loop thread, the loop continues on the new connection after
 * the callback returns. Returns `MQTT_STATUS_OK`, a connect failure (`MQTT_STATUS_RESOLVE`,
 * `MQTT_STATUS_IO`, `MQTT_STATUS_TIMEOUT`, `MQTT_STATUS_TLS`, a `MQTT_STATUS_REFUSED_*`
 * refusal), or
 * `MQTT_STATUS_TIMEOUT` when another `mqtt_reconnect` did not finish within the connect
 * timeout; after a failure the connection stays closed and this may be called again.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_reconnect(const mqtt_connection *connection);

/**
 * Sets the publish completion callback (see `mqtt_published_callback` for when, on which
 * thread, and what it may call), replacing any earlier one; `callback` NULL removes it.
 * `userdata` is handed back to it unchanged and must stay valid until the callback is replaced
 * or removed, or the connection is freed. Applies to QoS 1/2 publishes whose acknowledgement
 * arrives after this call. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_connection_set_on_published(const mqtt_connection *connection,
                                             mqtt_published_callback callback,
                                             void *userdata);

/**
 * Whether the connection is still open. A pure getter: leaves `mqtt_last_status()` and
 * `mqtt_last_error()` as they were, also for NULL (which gives false) and for a connection
 * being freed.
 *
 * # Safety
 * `connection` is NULL (gives false) or a live handle.
 */
bool mqtt_connection_is_connected(const mqtt_connection *connection);

/**
 * The client identifier sent in CONNECT (the generated one if none was set), owned by the
 * connection and valid until `mqtt_connection_free`. NULL only if `connection` is NULL. A pure
 * getter: leaves `mqtt_last_status()` and `mqtt_last_error()` as they were.
 *
 * # Safety
 * `connection` is NULL or a live handle.
 */
const char *mqtt_connection_client_id(const mqtt_connection *connection);

/**
 * Releases a connection. If it is still open it is closed *without* DISCONNECT — the broker
 * then publishes the will — and the loop thread is stopped and joined (unless called from it).
 * NULL is a no-op.
 *
 * May be called from any thread at any time, also while other threads are blocked in calls
 * on the connection (`mqtt_receive_message`, `mqtt_publish`, `mqtt_wait_published`, ...) and
 * from inside a callback: calls in progress return `MQTT_STATUS_CLOSED` (as do calls that start
 * while the free is under way), and the memory is released once the last of them has
 * returned — before this function returns, except when called from inside a call on the same
 * connection (a callback run by `mqtt_receive_message`, say), where the outermost call releases
 * it as it returns. The on_disconnect callback, if set, runs on this thread with
 * `MQTT_CLOSE_REASON_FREED` if the connection was open. The handle must not be passed to any
 * function once this returns.
 *
 * Leaves `mqtt_last_status()` and `mqtt_last_error()` as they were, so a cleanup path can still
 * report the failure that led to it.
 *
 * # Safety
 * `connection` is NULL or a handle from `mqtt_connect` not freed before.
 */
void mqtt_connection_free(mqtt_connection *connection);

/**
 * The connection's socket descriptor, for a program that drives the connection from its own
 * event loop (poll, epoll, libuv, GLib, Python asyncio through ctypes) instead of
 * `mqtt_loop_start`'s thread: wait until it is readable and call `mqtt_loop_read`; when
 * `mqtt_connection_want_write` is true, also wait until it is writable and call
 * `mqtt_loop_write`; call `mqtt_loop_misc` at least once a second. A reconnect replaces the
 * socket: ask for it again after each `mqtt_loop_misc` or connect callback. The descriptor is
 * owned by the connection: do not close it or read from it.
 *
 * Does not block. Returns -1 when `connection` is NULL (`MQTT_STATUS_NULL_ARGUMENT`).
 *
 * # Safety
 * `connection` is NULL or a live handle.
 */
int mqtt_connection_socket(const mqtt_connection *connection);

/**
 * Whether bytes wait in the connection's send buffer — the re-sends and offline queue a
 * reconnect put there, or over TLS records that reading produced — so an event loop should
 * wait for the socket to be writable and call
 * `mqtt_loop_write`. Other packets are written by the call that makes them. A pure getter:
 * does not block and leaves `mqtt_last_status()` and `mqtt_last_error()` as they were; false
 * for NULL.
 *
 * # Safety
 * `connection` is NULL or a live handle.
 */
bool mqtt_connection_want_write(const mqtt_connection *connection);

/**
 * The event loop's read step: handles every packet that can be read now without blocking —
 * message callbacks run on this thread, acknowledgements complete `mqtt_publish_async`
 * identifiers (the on_published callback runs here too) — and sends PINGREQ when keep-alive is
 * due. Never waits for the socket; call it when `mqtt_connection_socket` is readable.
 *
 * Returns `MQTT_STATUS_OK`; `MQTT_STATUS_CLOSED` once the connection has ended (the disconnect
 * callback has run; with automatic reconnects on, `mqtt_loop_misc` reconnects);
 * `MQTT_STATUS_ALREADY_RUNNING` while the loop thread runs; `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_loop_read(const mqtt_connection *connection);

/**
 * The event loop's write step: writes the bytes `mqtt_connection_want_write` reported (blocks
 * only while the socket's buffer is full, at most the operation timeout). Returns
 * `MQTT_STATUS_OK`, `MQTT_STATUS_CLOSED`, `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_loop_write(const mqtt_connection *connection);

/**
 * The event loop's timer step, to call at least once a second: keep-alive (PINGREQ when
 * nothing was sent for the keep-alive period, [MQTT-3.1.2-23]; the connection closed when the
 * PINGRESP is overdue) and, with `mqtt_connect_options_set_auto_reconnect` on and the
 * connection lost, a reconnect once the backoff wait has passed (same backoff and jitter as the
 * loop thread). Only the reconnect attempt blocks, at most the connect timeout; the connect
 * and disconnect callbacks run on this thread. Does nothing while the loop thread runs.
 *
 * Returns `MQTT_STATUS_OK` (also when nothing was due), the failure of a reconnect attempt
 * (`MQTT_STATUS_IO`, `MQTT_STATUS_TIMEOUT`, a `MQTT_STATUS_REFUSED_*` code; the next call
 * tries again after a longer wait), `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_loop_misc(const mqtt_connection *connection);

/**
 * Copies a message — topic, payload, flags and every property — so it can be kept after the
 * callback returns. Release the copy with `mqtt_message_free`. Returns NULL (with
 * `mqtt_last_error()`) when `message` is NULL or not from libmqtt.
 *
 * Does not block. Callable from any thread, including inside the message callback.
 *
 * # Safety
 * `message` is NULL or a message libmqtt handed out (in a callback, during the call; or from
 * `mqtt_message_copy` / `mqtt_request`, not yet freed).
 */
mqtt_message *mqtt_message_copy(const mqtt_message *message);

/**
 * Releases a message from `mqtt_message_copy` or `mqtt_request`. NULL is a no-op. Never pass a
 * message a callback received: those belong to the library.
 *
 * # Safety
 * `message` is NULL or a pointer from `mqtt_message_copy` or `mqtt_request` not freed before.
 */
void mqtt_message_free(mqtt_message *message);

/**
 * How many User Properties the message carries (MQTT 5.0), 0 for none or a NULL message.
 *
 * The property accessors below do not block, may be called from any thread, and take a message
 * the library handed out: in a callback during the call, or a copy until freed. Strings they
 * return are NUL-terminated and live as long as the message.
 *
 * # Safety
 * `message` is NULL or a message libmqtt handed out.
 */
size_t mqtt_message_user_property_count(const mqtt_message *message);

/**
 * The User Property at `index` (0-based, in the order the publisher gave them,
 * [MQTT-3.3.2-18] of MQTT 5.0): `*name` and `*value` receive NUL-terminated strings that live
 * as long as the message. Returns `MQTT_STATUS_NOT_FOUND` past the last one.
 *
 * # Safety
 * `message` as for `mqtt_message_user_property_count`; `name` and `value` are writable.
 */
mqtt_status mqtt_message_user_property_at(const mqtt_message *message,
                                          size_t index,
                                          const char **name,
                                          const char **value);

/**
 * The Content Type property (MQTT 5.0 section 3.3.2.3.9), or NULL when absent. The string
 * belongs to the message and stays valid as long as it does.
 *
 * # Safety
 * `message` as for `mqtt_message_user_property_count`.
 */
const char *mqtt_message_content_type(const mqtt_message *message);

/**
 * The Response Topic property (MQTT 5.0 section 3.3.2.3.5), or NULL when absent. The string
 * belongs to the message and stays valid as long as it does.
 *
 * # Safety
 * `message` as for `mqtt_message_user_property_count`.
 */
const char *mqtt_message_response_topic(const mqtt_message *message);

/**
 * The Correlation Data property (binary), or NULL when absent; `*len` (may be NULL) receives
 * its length (0 when absent). The bytes belong to the message and stay valid as long as it
 * does.
 *
 * # Safety
 * `message` as for `mqtt_message_user_property_count`; `len` is NULL or writable.
 */
const uint8_t *mqtt_message_correlation_data(const mqtt_message *message, size_t *len);

/**
 * Whether the message carries a Message Expiry Interval; if so `*seconds` (may be NULL)
 * receives what remains of it — the server subtracts the time the message waited
 * ([MQTT-3.3.2-6] of MQTT 5.0).
 *
 * # Safety
 * `message` as for `mqtt_message_user_property_count`; `seconds` is NULL or writable.
 */
bool mqtt_message_expiry_interval(const mqtt_message *message, uint32_t *seconds);

/**
 * The Payload Format Indicator: 1 (UTF-8 text), 0 (unspecified bytes), or -1 when absent.
 *
 * # Safety
 * `message` as for `mqtt_message_user_property_count`.
 */
int mqtt_message_payload_format(const mqtt_message *message);

/**
 * How many Subscription Identifiers the message carries: one for each matching subscription
 * made with an identifier (MQTT 5.0 section 3.3.2.3.8).
 *
 * # Safety
 * `message` as for `mqtt_message_user_property_count`.
 */
size_t mqtt_message_subscription_identifier_count(const mqtt_message *message);

/**
 * The Subscription Identifier at `index` (0-based), or 0 (never an identifier) past the last.
 *
 * # Safety
 * `message` as for `mqtt_message_user_property_count`.
 */
uint32_t mqtt_message_subscription_identifier_at(const mqtt_message *message, size_t index);

/**
 * New connection settings with the defaults: generated client id, clean session, keep-alive
 * 60 s, no user name, password or will, connect timeout 30 s, operation timeout 30 s,
 * protocol level 4 (MQTT 3.1.1), at most 1024 QoS 1/2 publishes in flight, no automatic
 * reconnect, resubscribe after a reconnect without session, an offline queue of 1000 messages
 * and 1 MiB (refuse new, QoS 0 queued), no callbacks. Release with
 * `mqtt_connect_options_free`. Returns NULL only if memory is exhausted.
 */
mqtt_connect_options *mqtt_connect_options_new(void);

/**
 * Releases settings made by `mqtt_connect_options_new`. NULL is a no-op.
 *
 * # Safety
 * `options` is NULL or a pointer from `mqtt_connect_options_new` not freed before.
 */
void mqtt_connect_options_free(mqtt_connect_options *options);

/**
 * Sets the client identifier (copied). NULL restores the default: an id generated at connect
 * time, at most 23 characters. An empty string sends an empty id, which is allowed only with a
 * clean session ([MQTT-3.1.3-7]): with clean session off, `mqtt_connect` fails with
 * `MQTT_STATUS_INVALID_ARGUMENT` before connecting.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
 * `MQTT_STATUS_INVALID_UTF8` when `client_id` is not UTF-8.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `client_id` is NULL or a
 * NUL-terminated string.
 */
mqtt_status mqtt_connect_options_set_client_id(mqtt_connect_options *options,
                                               const char *client_id);

/**
 * Sets whether the broker discards the session at connect and disconnect (default true). With
 * `false`, subscriptions and QoS 1/2 messages are kept while the client is away.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_clean_session(mqtt_connect_options *options,
                                                   bool clean_session);

/**
 * Sets the keep-alive in seconds, 0..65535 (default 60; 0 turns it off). While a thread reads
 * the connection (the loop thread or a blocking call), PINGREQ goes out whenever nothing was
 * sent for this long, and a missing PINGRESP one period later closes the connection.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
 * `MQTT_STATUS_INVALID_ARGUMENT` when `seconds` is outside 0..65535.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_keep_alive(mqtt_connect_options *options, int seconds);

/**
 * Sets the user name (copied); NULL removes user name and password.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
 * `MQTT_STATUS_INVALID_UTF8` when `username` is not UTF-8.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `username` is NULL or a
 * NUL-terminated string.
 */
mqtt_status mqtt_connect_options_set_username(mqtt_connect_options *options, const char *username);

/**
 * Sets the password: `len` bytes, binary (copied). NULL removes it. A password needs a user
 * name ([MQTT-3.1.2-22]); `mqtt_connect` fails with `MQTT_STATUS_INVALID_ARGUMENT` otherwise.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `password` is NULL or points to `len`
 * readable bytes.
 */
mqtt_status mqtt_connect_options_set_password(mqtt_connect_options *options,
                                              const uint8_t *password,
                                              size_t len);

/**
 * Sets the will: the message the broker publishes on `topic` if the connection ends without
 * `mqtt_disconnect` (including `mqtt_connection_free` on an open connection). Topic and
 * payload are copied; `qos` is 0, 1 or 2. A NULL topic removes the will.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL
 * (or `payload` is NULL with `len` above 0), `MQTT_STATUS_INVALID_UTF8`, `MQTT_STATUS_INVALID_TOPIC`
 * (a wildcard, empty topic or U+0000), `MQTT_STATUS_INVALID_QOS` (not 0..2).
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `topic` is NULL or a NUL-terminated
 * string; `payload` is NULL (only with `len` 0) or points to `len` readable bytes.
 */
mqtt_status mqtt_connect_options_set_will(mqtt_connect_options *options,
                                          const char *topic,
                                          const uint8_t *payload,
                                          size_t len,
                                          int qos,
                                          bool retain);

/**
 * Sets how long `mqtt_connect` may take in all — resolving, TCP connect, CONNACK — in
 * milliseconds, above 0 (default 30000).
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
 * `MQTT_STATUS_INVALID_ARGUMENT` when `timeout_ms` is not above 0.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_connect_timeout(mqtt_connect_options *options, int timeout_ms);

/**
 * Sets how long `mqtt_subscribe`, `mqtt_unsubscribe`, `mqtt_publish` (QoS 1/2), `mqtt_ping` and
 * a `mqtt_publish_async` waiting for window space wait, and how long a write may stay blocked
 * before the connection counts as lost, in milliseconds, above 0 (default 30000).
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
 * `MQTT_STATUS_INVALID_ARGUMENT` when `timeout_ms` is not above 0.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_operation_timeout(mqtt_connect_options *options,
                                                       int timeout_ms);

/**
 * Sets the protocol level: 4 for MQTT 3.1.1 (default), 5 for MQTT 5.0, or 3 for MQTT 3.1
 * ("MQIsdp"). Level 5 enables the MQTT 5.0 setters (`mqtt_connect_options_set_session_expiry`
 * and the others), publish and subscribe options, reason codes and `mqtt_request`.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
 * `MQTT_STATUS_INVALID_ARGUMENT` for a level other than 3, 4 or 5.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_protocol_level(mqtt_connect_options *options, int level);

/**
 * Sets how many QoS 1 and 2 publishes may await acknowledgement at once, 1..65535 (default
 * 1024); `mqtt_publish_async` blocks while that many are in flight.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
 * `MQTT_STATUS_INVALID_ARGUMENT` outside 1..65535.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_max_inflight(mqtt_connect_options *options, int max_inflight);

/**
 * Makes the loop thread reconnect by itself when the connection is lost (not after
 * `mqtt_disconnect`), as `mqtt_reconnect` would, like libmosquitto's loop. Backoff: the step
 * starts at `delay_ms` and doubles after each failed attempt, up to `max_delay_ms`; each wait
 * is the step with jitter, a random point between half the step and the whole step, so
 * clients that lost the same broker do not all return at once. It keeps trying until it
 * succeeds or `mqtt_loop_stop`, `mqtt_disconnect` or `mqtt_connection_free` stops it
 * (each may then wait for an attempt under way, at most the connect timeout). Only the loop
 * thread reconnects by itself; without it, call `mqtt_reconnect`. `delay_ms` 0 turns it off
 * (the default); otherwise `0 < delay_ms <= max_delay_ms`, else
 * `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_auto_reconnect(mqtt_connect_options *options,
                                                    int delay_ms,
                                                    int max_delay_ms);

/**
 * Sets the default message callback (NULL removes it): it receives, with `userdata`, every
 * message for which no `mqtt_subscribe` callback matches — above all the messages a broker
 * delivers from a resumed session (clean session false) right after CONNACK, before the
 * program has subscribed again. Without it such messages are acknowledged and dropped (and
 * logged through the log callback); with it, no message the client acknowledges is lost: the
 * callback runs before the acknowledgement goes out ([MQTT-4.3.2-2], [MQTT-4.3.3-2]).
 * Per-filter callbacks keep precedence (the most specific matching filter wins).
 *
 * Which thread calls it, and what it may call: as for `mqtt_message_callback`.
 *
 * Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `callback`, if not NULL, is safe to
 * call with `userdata` from the threads documented at `mqtt_message_callback` for as long as a
 * connection made with these options exists.
 */
mqtt_status mqtt_connect_options_set_on_message(mqtt_connect_options *options,
                                                mqtt_message_callback callback,
                                                void *userdata);

/**
 * Sets the connect callback (NULL removes it), called with `userdata` for every CONNACK —
 * the first connect's included — see `mqtt_connect_callback` for its arguments, which thread
 * calls it and what it may call.
 *
 * Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `callback`, if not NULL, is safe to
 * call with `userdata` from those threads while a connection made with these options exists.
 */
mqtt_status mqtt_connect_options_set_on_connect(mqtt_connect_options *options,
                                                mqtt_connect_callback callback,
                                                void *userdata);

/**
 * Sets the disconnect callback (NULL removes it), called with `userdata` once whenever a
 * connection ends — see `mqtt_disconnect_callback` for its arguments, which thread calls it
 * and what it may call.
 *
 * Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `callback`, if not NULL, is safe to
 * call with `userdata` from those threads while a connection made with these options exists.
 */
mqtt_status mqtt_connect_options_set_on_disconnect(mqtt_connect_options *options,
                                                   mqtt_disconnect_callback callback,
                                                   void *userdata);

/**
 * Sets the log callback (NULL removes it), called with `userdata` for the client's log lines:
 * CONNACKs, lost connections, failed reconnect attempts, resubscriptions, messages no callback
 * took, offline-queue overflow. See `mqtt_log_callback` for which thread calls it and what it
 * may call.
 *
 * Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `callback`, if not NULL, is safe to
 * call with `userdata` from any thread while a connection made with these options exists.
 */
mqtt_status mqtt_connect_options_set_on_log(mqtt_connect_options *options,
                                            mqtt_log_callback callback,
                                            void *userdata);

/**
 * Sets whether a reconnect whose CONNACK reports no session present (clean session true, or a
 * broker that lost the session, [MQTT-3.2.2-2]) subscribes again, in one SUBSCRIBE sent
 * before anything else, to every filter subscribed with `mqtt_subscribe` and not unsubscribed,
 * with the QoS asked for then (default true). The callbacks stay registered either way; a
 * refusal is reported through the log callback.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_resubscribe(mqtt_connect_options *options, bool resubscribe);

/**
 * Bounds the offline queue: while the connection is down (lost, not ended with
 * `mqtt_disconnect`) and automatic reconnects are on, `mqtt_publish` and `mqtt_publish_async`
 * put messages in this queue and return `MQTT_STATUS_QUEUED`; the reconnect sends them, in
 * order, right after the re-sends of the session. At most `max_messages` messages and
 * `max_bytes` bytes (encoded packets) wait; `overflow` (an `mqtt_queue_overflow` value) says
 * what one more does: `MQTT_QUEUE_OVERFLOW_REFUSE_NEW` fails it with `MQTT_STATUS_QUEUE_FULL`,
 * `MQTT_QUEUE_OVERFLOW_DROP_OLDEST` drops the oldest queued messages to make room (their
 * on_published callback gets `MQTT_STATUS_QUEUE_FULL`). `queue_qos0` false makes QoS 0
 * publishes fail with `MQTT_STATUS_CLOSED` instead of queuing. `max_messages` 0 turns the
 * queue off. Defaults: 1000 messages, 1 MiB, refuse new, QoS 0 queued.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
 * `MQTT_STATUS_INVALID_ARGUMENT` for an unknown `overflow`.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_offline_queue(mqtt_connect_options *options,
                                                   size_t max_messages,
                                                   size_t max_bytes,
                                                   int overflow,
                                                   bool queue_qos0);

/**
 * Turns TLS on for `mqtt_connect` (and every reconnect): the server's certificate must be
 * signed by a CA in `ca_file` (PEM; NULL: the system's CA certificates) and name the host
 * connected to (see `mqtt_connect_options_set_tls_server_name`, and
 * `mqtt_connect_options_set_tls_insecure` for tests). `cert_file` and `key_file` (PEM: the
 * certificate chain, leaf first, and its private key) give a client certificate for servers
 * that ask for one; pass both or neither. TLS 1.2 and 1.3, ALPN "mqtt", SNI with the host
 * name. The files are read by `mqtt_connect`, which fails with `MQTT_STATUS_TLS` when one
 * cannot be used. Calling it again replaces the files and keeps the other TLS settings.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` when `options` is
 * NULL, `MQTT_STATUS_INVALID_ARGUMENT` when only one of `cert_file` and `key_file` is given or
 * a name is empty, `MQTT_STATUS_INVALID_UTF8` when a name is not UTF-8.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `ca_file`, `cert_file` and
 * `key_file` are NULL or NUL-terminated strings.
 */
mqtt_status mqtt_connect_options_set_tls(mqtt_connect_options *options,
                                         const char *ca_file,
                                         const char *cert_file,
                                         const char *key_file);

/**
 * With `insecure` true, accepts any server certificate for any name: the connection is
 * encrypted but the server is not authenticated, so use it for tests only (mosquitto's
 * `--insecure` skips only the name check). Turns TLS on, with the defaults of
 * `mqtt_connect_options_set_tls(options, NULL, NULL, NULL)` unless set.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, or `MQTT_STATUS_NULL_ARGUMENT` when `options` is
 * NULL.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_tls_insecure(mqtt_connect_options *options, bool insecure);

/**
 * The oldest TLS version the connection accepts: 12 for TLS 1.2 (default; 1.3 is preferred
 * when the server has it) or 13 for TLS 1.3 only. Turns TLS on, with the defaults of
 * `mqtt_connect_options_set_tls(options, NULL, NULL, NULL)` unless set.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` when `options` is
 * NULL, `MQTT_STATUS_INVALID_ARGUMENT` for another value.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_tls_min_version(mqtt_connect_options *options, int version);

/**
 * The name the server's certificate must carry, also sent as SNI, instead of the host
 * connected to (connecting to an address whose certificate names a host, say); NULL restores
 * the host. Turns TLS on, with the defaults of
 * `mqtt_connect_options_set_tls(options, NULL, NULL, NULL)` unless set.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` when `options` is
 * NULL, `MQTT_STATUS_INVALID_ARGUMENT` when `server_name` is neither a DNS name nor an IP
 * address, `MQTT_STATUS_INVALID_UTF8` when it is not UTF-8.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `server_name` is NULL or a
 * NUL-terminated string.
 */
mqtt_status mqtt_connect_options_set_tls_server_name(mqtt_connect_options *options,
                                                     const char *server_name);

/**
 * `mqtt_connect` to the broker `url` names: "mqtt://host[:port]" over TCP (port 1883 unless
 * given), "mqtts://host[:port]" over TLS (port 8883), "ws://host[:port][/path]" over
 * WebSocket (port 80) or "wss://host[:port][/path]" over WebSocket over TLS (port 443), as
 * MQTT.js and Paho take them. TLS uses the TLS settings of `options`, or without them the
 * defaults (the system's CA certificates, the host name verified). An IPv6 address goes in
 * brackets ("mqtts://[::1]"). After an MQTT URL's port nothing may follow but one "/"; a
 * WebSocket URL's path (and query) is what the upgrade requests, "/mqtt" when it names none
 * (or only "/"). Blocks at most the connect timeout; `options` may be NULL for the defaults
 * and is only read.
 *
 * Over WebSocket (MQTT 5.0 and 3.1.1 section 6) the upgrade offers the subprotocol "mqtt"
 * [MQTT-6.0.0-3] and must select it [MQTT-6.0.0-4]; MQTT travels in binary frames
 * [MQTT-6.0.0-1], packets read whatever the frame boundaries [MQTT-6.0.0-2]; a text frame
 * from the server closes the connection. Reconnects, the loop thread and the event-loop calls
 * on `mqtt_connection_socket` (the TCP socket) work as over TCP.
 *
 * Returns the connection, to be released with `mqtt_connection_free`, or NULL with
 * `mqtt_last_status()` / `mqtt_last_error()` telling why: `MQTT_STATUS_INVALID_ARGUMENT` for a
 * malformed URL and for "mqtt://" or "ws://" with TLS settings in `options` (use "mqtts://"
 * or "wss://"); `MQTT_STATUS_TLS` when TLS failed (the server's certificate not accepted, the
 * handshake refused, a file that cannot be used); `MQTT_STATUS_PROTOCOL_ERROR` when the server
 * refused the WebSocket upgrade (an HTTP error, the subprotocol not selected); otherwise as
 * `mqtt_connect`.
 *
 * # Safety
 * `url` is a NUL-terminated string (or NULL, an error); `options` is NULL or a handle from
 * `mqtt_connect_options_new`.
 */
mqtt_connection *mqtt_connect_url(const char *url, const mqtt_connect_options *options);

/**
 * `mqtt_publish` with MQTT 5.0 properties from `options` (NULL: none). Blocks as `mqtt_publish`
 * does. The acknowledgement's reason code is available from `mqtt_last_reason_code()` (0x00,
 * or 0x10 no matching subscribers); a refusal (0x80 and above) returns
 * `MQTT_STATUS_PUBLISH_REFUSED`. A packet larger than the server's Maximum Packet Size is not
 * sent: `MQTT_STATUS_TOO_LARGE`. When the server allows topic aliases the topic goes as an
 * alias after its first use, unless the options forbid it. Properties on a connection below
 * protocol level 5: `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * As for `mqtt_publish`; `options` is NULL or a handle from `mqtt_publish_options_new`.
 */
mqtt_status mqtt_publish_ex(const mqtt_connection *connection,
                            const char *topic,
                            const uint8_t *payload,
                            size_t len,
                            int qos,
                            bool retain,
                            const mqtt_publish_options *options);

/**
 * `mqtt_publish_async` with MQTT 5.0 properties from `options` (NULL: none). The window also
 * respects the server's Receive Maximum. A refusal arrives later, through
 * `mqtt_wait_published` or the on_published callback (`MQTT_STATUS_PUBLISH_REFUSED`).
 *
 * # Safety
 * As for `mqtt_publish_async`; `options` is NULL or a handle from `mqtt_publish_options_new`.
 */
mqtt_status mqtt_publish_async_ex(const mqtt_connection *connection,
                                  const char *topic,
                                  const uint8_t *payload,
                                  size_t len,
                                  int qos,
                                  bool retain,
                                  const mqtt_publish_options *options,
                                  uint16_t *packet_id);

/**
 * `mqtt_subscribe` with MQTT 5.0 subscription options (NULL: MQTT 3.1.1's behaviour): No
 * Local, Retain As Published, Retain Handling, a Subscription Identifier and SUBSCRIBE user
 * properties. `*reason_code` (may be NULL) receives the SUBACK reason code — the granted QoS
 * (0, 1, 2) or the refusal (0x80 and above: 0x87 not authorized, 0x8F topic filter invalid,
 * 0x9E shared subscriptions not supported, 0xA1 subscription identifiers not supported, 0xA2
 * wildcard subscriptions not supported) — on `MQTT_STATUS_OK` and on
 * `MQTT_STATUS_SUBSCRIBE_FAILED`. Options other than the defaults on a connection below
 * protocol level 5: `MQTT_STATUS_INVALID_ARGUMENT`. Otherwise as `mqtt_subscribe`, whose
 * callback runs on the thread documented at `mqtt_message_callback` (the loop thread, or the
 * thread reading inside a blocking call).
 *
 * # Safety
 * As for `mqtt_subscribe`; `options` is NULL or a handle from `mqtt_subscribe_options_new`;
 * `reason_code` is NULL or a writable int.
 */
mqtt_status mqtt_subscribe_ex(const mqtt_connection *connection,
                              const char *filter,
                              int qos,
                              const mqtt_subscribe_options *options,
                              mqtt_message_callback callback,
                              void *userdata,
                              int *reason_code);

/**
 * `mqtt_subscribe_many` with MQTT 5.0 subscription options (NULL: MQTT 3.1.1's behaviour), the
 * same for every filter. `reason_codes[i]` (the array may be NULL) receives the SUBACK reason
 * code for `filters[i]`: the granted QoS or a refusal (0x80 and above), whose callback is
 * removed again; the call succeeds even if some filters were refused. The callback runs on
 * the thread documented at `mqtt_message_callback`.
 *
 * # Safety
 * As for `mqtt_subscribe_many`; `options` is NULL or a handle from
 * `mqtt_subscribe_options_new`; `reason_codes` NULL or `count` writable ints.
 */
mqtt_status mqtt_subscribe_many_ex(const mqtt_connection *connection,
                                   const char *const *filters,
                                   const int *qos,
                                   size_t count,
                                   const mqtt_subscribe_options *options,
                                   mqtt_message_callback callback,
                                   void *userdata,
                                   int *reason_codes);

/**
 * MQTT 5.0 request/response (MQTT 5.0 section 4.10): publishes `payload` to `topic` at `qos`
 * with a Response Topic and a fresh Correlation Data, and waits up to `timeout_ms` (above 0)
 * for the response: the message on the response topic carrying the same Correlation Data.
 * The response topic is below the server's Response Information when it gave one
 * (`mqtt_connect_options_set_request_response_information`), otherwise
 * `libmqtt/response/CLIENT_ID`; it is subscribed to (QoS 1) on the first request. Responses
 * are taken aside on arrival: no message callback sees them.
 *
 * On `MQTT_STATUS_OK`, `*response` receives the response, to read with the `mqtt_message_*`
 * accessors and release with `mqtt_message_free`. Returns `MQTT_STATUS_TIMEOUT` when no
 * response came, `MQTT_STATUS_INVALID_ARGUMENT` below protocol level 5, and the statuses of
 * `mqtt_publish_ex` and `mqtt_subscribe`. Blocks; callable from any thread and from inside a
 * callback (the response is read meanwhile).
 *
 * # Safety
 * As for `mqtt_publish`; `response` points to a writable `mqtt_message *`.
 */
mqtt_status mqtt_request(const mqtt_connection *connection,
                         const char *topic,
                         const uint8_t *payload,
                         size_t len,
                         int qos,
                         int timeout_ms,
                         mqtt_message **response);

/**
 * MQTT 5.0 re-authentication (MQTT 5.0 section 4.12.1): sends AUTH (re-authenticate, 0x19)
 * with the connect's Authentication Method and `data`/`len`, answers the server's AUTH
 * packets through the authentication callback, and waits (at most the operation timeout) for
 * the server's success. Returns `MQTT_STATUS_AUTH_FAILED` when the connection did not use
 * enhanced authentication, `MQTT_STATUS_CLOSED` when the server refused (it closes the
 * connection; `mqtt_last_reason_code()` gives its reason), `MQTT_STATUS_TIMEOUT`. Blocks.
 *
 * # Safety
 * `connection` is a live handle; `data` NULL (with `len` 0) or `len` readable bytes.
 */
mqtt_status mqtt_reauthenticate(const mqtt_connection *connection, const uint8_t *data, size_t len);

/**
 * `mqtt_disconnect` with an MQTT 5.0 reason code (0..255; 0x00 normal, 0x04 "disconnect with
 * will message" asks the server to publish the will all the same) and a new Session Expiry
 * Interval in seconds (-1 leaves it unchanged; MQTT 5.0 forbids raising it from 0,
 * MQTT 5.0 section 3.14.2.2.2). Below protocol level 5 neither is sent.
 *
 * # Safety
 * `connection` is a live handle.
 */
mqtt_status mqtt_disconnect_ex(const mqtt_connection *connection,
                               int reason_code,
                               int64_t session_expiry);

/**
 * Sets the MQTT 5.0 Session Expiry Interval in seconds (default 0: the session ends with the
 * connection; 0xFFFFFFFF: never). Above 0 the session also persists on this side:
 * unacknowledged publishes are re-sent after a reconnect, which resumes the session. The
 * MQTT 5.0 setters below take effect only with protocol level 5
 * (`mqtt_connect_options_set_protocol_level`); `mqtt_connect` refuses them at levels 3 and 4
 * with `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * Does not block. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_session_expiry(mqtt_connect_options *options,
                                                    uint32_t seconds);

/**
 * Sets the MQTT 5.0 Receive Maximum: how many QoS 1/2 messages the server may send before
 * this client acknowledged them, 1..65535 (default: not sent, meaning 65535).
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, or
 * `MQTT_STATUS_INVALID_ARGUMENT` for 0.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_receive_maximum(mqtt_connect_options *options,
                                                     uint16_t maximum);

/**
 * Sets the largest packet this client accepts, in bytes (at least 2; default: the protocol's
 * maximum). Larger incoming packets close the connection; with protocol level 5 the value is
 * sent as Maximum Packet Size, so the server never sends one.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, or
 * `MQTT_STATUS_INVALID_ARGUMENT` below 2.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_maximum_packet_size(mqtt_connect_options *options,
                                                         uint32_t bytes);

/**
 * Sets the MQTT 5.0 Topic Alias Maximum: how many topic aliases the server may use in
 * messages to this client (default 0: none). The client resolves them; callbacks always see
 * the topic name.
 *
 * Does not block. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_topic_alias_maximum(mqtt_connect_options *options,
                                                         uint16_t maximum);

/**
 * Sets MQTT 5.0 Request Response Information: asks the server for Response Information in
 * CONNACK, which `mqtt_request` uses as the basis of its response topic.
 *
 * Does not block. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_request_response_information(mqtt_connect_options *options,
                                                                  bool on);

/**
 * Sets MQTT 5.0 Request Problem Information (default on): off asks the server to leave out
 * Reason Strings and User Properties except in PUBLISH, CONNACK and DISCONNECT.
 *
 * Does not block. Returns `MQTT_STATUS_OK` or `MQTT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`.
 */
mqtt_status mqtt_connect_options_set_request_problem_information(mqtt_connect_options *options,
                                                                 bool on);

/**
 * Adds an MQTT 5.0 User Property to CONNECT (both strings copied; repeatable, order kept).
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT`, or
 * `MQTT_STATUS_INVALID_UTF8`.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `name` and `value` NUL-terminated.
 */
mqtt_status mqtt_connect_options_add_user_property(mqtt_connect_options *options,
                                                   const char *name,
                                                   const char *value);

/**
 * Sets the MQTT 5.0 properties of the will set with `mqtt_connect_options_set_will` (call
 * that first): those of `properties` (message expiry, content type, response topic,
 * correlation data, payload format, user properties; copied) and the Will Delay Interval in
 * seconds (the server waits that long after the connection ends before publishing the will,
 * MQTT 5.0 section 3.1.3.2.2). `properties` may be NULL for none.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` when `options` is NULL,
 * `MQTT_STATUS_INVALID_STATE` when no will is set.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `properties` NULL or a handle from
 * `mqtt_publish_options_new`.
 */
mqtt_status mqtt_connect_options_set_will_properties(mqtt_connect_options *options,
                                                     const mqtt_publish_options *properties,
                                                     uint32_t will_delay);

/**
 * Turns on MQTT 5.0 enhanced authentication (MQTT 5.0 section 4.12): CONNECT names `method`
 * with `data`/`len` (may be empty) as initial Authentication Data, and `callback` answers each
 * AUTH the server sends to continue, at connect and during `mqtt_reauthenticate`. `method`
 * NULL turns it off again.
 *
 * Does not block. Returns `MQTT_STATUS_OK`, `MQTT_STATUS_NULL_ARGUMENT` (options NULL, or
 * method given without callback), `MQTT_STATUS_INVALID_UTF8`.
 *
 * # Safety
 * `options` is a handle from `mqtt_connect_options_new`; `method` NULL or NUL-terminated;
 * `data` NULL (with `len` 0) or `len` readable bytes; `callback` may be called with
 * `userdata` from the threads described at `mqtt_auth_callback` until the connection is freed.
 */
mqtt_status mqtt_connect_options_set_authentication(mqtt_connect_options *options,
                                                    const char *method,
                                                    const uint8_t *data,
                                                    size_t len,
                                                    mqtt_auth_callback callback,
                                                    void *userdata);

/**
 * New publish options: no properties, topic aliases allowed. Release with
 * `mqtt_publish_options_free`. Returns NULL only if memory is exhausted.
 */
mqtt_publish_options *mqtt_publish_options_new(void);

/**
 * Releases publish options. NULL is a no-op.
 *
 * # Safety
 * `options` is NULL or a pointer from `mqtt_publish_options_new` not freed before.
 */
void mqtt_publish_options_free(mqtt_publish_options *options);

/**
 * Sets the Message Expiry Interval in seconds: the server drops the message once it waited
 * that long for a subscriber, and forwards what remains of it.
 *
 * The `mqtt_publish_options_*` setters do not block and return `MQTT_STATUS_OK`,
 * `MQTT_STATUS_NULL_ARGUMENT`, or (strings) `MQTT_STATUS_INVALID_UTF8`.
 *
 * # Safety
 * `options` is a handle from `mqtt_publish_options_new`.
 */
mqtt_status mqtt_publish_options_set_message_expiry(mqtt_publish_options *options,
                                                    uint32_t seconds);

/**
 * Sets the Content Type (copied), e.g. a MIME type.
 *
 * # Safety
 * `options` is a handle from `mqtt_publish_options_new`; `content_type` NUL-terminated.
 */
mqtt_status mqtt_publish_options_set_content_type(mqtt_publish_options *options,
                                                  const char *content_type);

/**
 * Sets the Response Topic (copied): where a responder should publish its response. Must be a
 * valid topic name (checked by the publish: `MQTT_STATUS_INVALID_TOPIC`).
 *
 * # Safety
 * `options` is a handle from `mqtt_publish_options_new`; `topic` NUL-terminated.
 */
mqtt_status mqtt_publish_options_set_response_topic(mqtt_publish_options *options,
                                                    const char *topic);

/**
 * Sets the Correlation Data (copied, binary, at most 65535 bytes).
 *
 * # Safety
 * `options` is a handle from `mqtt_publish_options_new`; `data` NULL (with `len` 0) or `len`
 * readable bytes.
 */
mqtt_status mqtt_publish_options_set_correlation_data(mqtt_publish_options *options,
                                                      const uint8_t *data,
                                                      size_t len);

/**
 * Sets the Payload Format Indicator: 1 says the payload is UTF-8 text (the server may check
 * it), 0 unspecified bytes. Other values: `MQTT_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `options` is a handle from `mqtt_publish_options_new`.
 */
mqtt_status mqtt_publish_options_set_payload_format(mqtt_publish_options *options, int format);

/**
 * Adds a User Property (copied; repeatable, order kept end to end).
 *
 * # Safety
 * `options` is a handle from `mqtt_publish_options_new`; `name` and `value` NUL-terminated.
 */
mqtt_status mqtt_publish_options_add_user_property(mqtt_publish_options *options,
                                                   const char *name,
                                                   const char *value);

/**
 * Sets whether the publish may go with a topic alias when the server allows them (default
 * true): the library assigns aliases itself, least recently used first when all are taken.
 *
 * # Safety
 * `options` is a handle from `mqtt_publish_options_new`.
 */
mqtt_status mqtt_publish_options_set_topic_alias(mqtt_publish_options *options, bool allowed);

/**
 * New subscribe options with MQTT 3.1.1's behaviour: own messages delivered, RETAIN cleared
 * on forwarded messages, retained messages sent on every subscribe, no identifier. Release
 * with `mqtt_subscribe_options_free`. Returns NULL only if memory is exhausted.
 */
mqtt_subscribe_options *mqtt_subscribe_options_new(void);

/**
 * Releases subscribe options. NULL is a no-op.
 *
 * # Safety
 * `options` is NULL or a pointer from `mqtt_subscribe_options_new` not freed before.
 */
void mqtt_subscribe_options_free(mqtt_subscribe_options *options);

/**
 * Sets No Local: messages this client publishes are not sent back to it (MQTT 5.0
 * [MQTT-3.8.3-3]).
 *
 * The `mqtt_subscribe_options_*` setters do not block and return `MQTT_STATUS_OK`,
 * `MQTT_STATUS_NULL_ARGUMENT`, or `MQTT_STATUS_INVALID_ARGUMENT` for a value out of range.
 *
 * # Safety
 * `options` is a handle from `mqtt_subscribe_options_new`.
 */
mqtt_status mqtt_subscribe_options_set_no_local(mqtt_subscribe_options *options, bool on);

/**
 * Sets Retain As Published: forwarded messages keep the RETAIN flag they were published with.
 *
 * # Safety
 * `options` is a handle from `mqtt_subscribe_options_new`.
 */
mqtt_status mqtt_subscribe_options_set_retain_as_published(mqtt_subscribe_options *options,
                                                           bool on);

/**
 * Sets Retain Handling: 0 send retained messages on subscribe, 1 only when the subscription is
 * new, 2 never.
 *
 * # Safety
 * `options` is a handle from `mqtt_subscribe_options_new`.
 */
mqtt_status mqtt_subscribe_options_set_retain_handling(mqtt_subscribe_options *options,
                                                       int handling);

/**
 * Sets the Subscription Identifier, 1..268435455 (0 removes it): the server sends it back
 * with every message this subscription delivers (`mqtt_message_subscription_identifier_at`).
 *
 * # Safety
 * `options` is a handle from `mqtt_subscribe_options_new`.
 */
mqtt_status mqtt_subscribe_options_set_subscription_identifier(mqtt_subscribe_options *options,
                                                               uint32_t identifier);

/**
 * Adds a User Property to the SUBSCRIBE (copied; repeatable, order kept).
 *
 * # Safety
 * `options` is a handle from `mqtt_subscribe_options_new`; `name` and `value` NUL-terminated.
 */
mqtt_status mqtt_subscribe_options_add_user_property(mqtt_subscribe_options *options,
                                                     const char *name,
                                                     const char *value);

/**
 * The message describing the most recent failed call on the calling thread, or "" if the most
 * recent fallible call succeeded. Never NULL. The string belongs to the library and stays valid
 * until the next libmqtt call on the same thread; copy it to keep it.
 */
const char *mqtt_last_error(void);

/**
 * The status of the most recent fallible call on the calling thread (`MQTT_STATUS_OK` if it
 * succeeded). Useful after functions that return NULL or `false` on failure.
 */
mqtt_status mqtt_last_status(void);

/**
 * The MQTT 5.0 reason code (0..255) the most recent call on the calling thread received from
 * the server, or -1 when it received none (MQTT 3.1.1 connections receive none but CONNACK's
 * return code, reported as its MQTT 5.0 equivalent).
 *
 * Set by `mqtt_connect`/`mqtt_connect_ex` and `mqtt_reconnect` (CONNACK: 0x00 or the
 * refusal), `mqtt_publish`/`mqtt_publish_ex` and `mqtt_wait_published` (PUBACK, PUBREC or
 * PUBCOMP: 0x00, 0x10 no matching subscribers, or the refusal), `mqtt_subscribe`,
 * `mqtt_subscribe_ex` and the `_many` forms (the first filter's SUBACK code; the others in
 * their output array), `mqtt_unsubscribe` (UNSUBACK: 0x00, 0x11 no subscription existed, or the
 * refusal), and by any call failing with `MQTT_STATUS_CLOSED` because the server sent
 * DISCONNECT (its reason code). Inside the on_disconnect callback it is the server's
 * DISCONNECT reason code (or -1), and inside the on_published callback the reason code that
 * ended the publish.
 *
 * Does not block; never fails.
 */
int mqtt_last_reason_code(void);

/**
 * A static, NUL-terminated description of `status` (e.g. "invalid topic"). The argument is an
 * `int` so that any value is safe to pass: a value that is not an `mqtt_status` gives
 * "unknown status". Never returns NULL; the string must not be freed.
 */
const char *mqtt_status_str(int status);

/**
 * A static, NUL-terminated name of an MQTT 5.0 reason code (e.g. "session taken over" for
 * 0x8E; MQTT 5.0 table 2-6). The argument is an `int` so that any value is safe to pass: one
 * that is not a defined reason code gives "unknown reason code". Never returns NULL; the string
 * must not be freed. Does not touch `mqtt_last_error`.
 */
const char *mqtt_reason_code_str(int code);

/**
 * Whether the topic name `topic` matches the topic filter `filter`, stored in `*matches`.
 *
 * Follows section 4.7: `+` matches exactly one level, which may be empty; `sport/#` also matches
 * `sport`; a filter that starts with a wildcard does not match a topic that starts with `$`
 * ([MQTT-4.7.2-1]).
 *
 * Returns `MQTT_STATUS_INVALID_TOPIC` (not a non-match) if `filter` is not a valid filter or
 * `topic` is not a valid topic name (for instance contains a wildcard), with the rule broken in
 * `mqtt_last_error()`; `MQTT_STATUS_NULL_ARGUMENT` if any pointer is NULL;
 * `MQTT_STATUS_INVALID_UTF8` if a string is not UTF-8. `*matches` is written only on success.
 * Thread-safe.
 *
 * # Safety
 * `filter` and `topic` are NULL or NUL-terminated strings; `matches` is NULL or points to a
 * writable `bool`.
 */
mqtt_status mqtt_topic_matches(const char *filter, const char *topic, bool *matches);

/**
 * Whether `name` is a valid topic name for PUBLISH: at least one character, at most 65535 bytes
 * of UTF-8, no `+` or `#` ([MQTT-4.7.3-1], [MQTT-3.3.2-2]). On `false`, `mqtt_last_status()`
 * and `mqtt_last_error()` say why (NULL counts as invalid). Thread-safe.
 *
 * # Safety
 * `name` is NULL or a NUL-terminated string.
 */
bool mqtt_topic_is_valid_name(const char *name);

/**
 * Whether `filter` is a valid topic filter for SUBSCRIBE: a valid topic string in which `+`
 * occupies a whole level and `#` a whole level at the end ([MQTT-4.7.1-2], [MQTT-4.7.1-3]).
 * On `false`, `mqtt_last_status()` and `mqtt_last_error()` say why (NULL counts as invalid).
 * Thread-safe.
 *
 * # Safety
 * `filter` is NULL or a NUL-terminated string.
 */
bool mqtt_topic_is_valid_filter(const char *filter);

/**
 * The version of the loaded library, e.g. "0.1.0" (compare with the `MQTT_VERSION` macro the
 * program was compiled with). Static; never NULL; must not be freed.
 */
const char *mqtt_version(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* MQTT_H */
