"""libmqtt from Python, through ctypes: an embedded MQTT broker and a client (3.1.1 or 5.0).

The shared library is looked up in this order: the path in the environment variable
LIBMQTT_PATH; target/release/libmqtt.so of the source tree this file sits in (after
``make -C examples-c`` or ``cargo build --release``); an installed ``libmqtt`` (``make -C
examples-c install``), found by ``ctypes.util.find_library``.

Errors: every failing call raises :class:`MqttError`, whose ``status`` is the ``mqtt_status``
code, ``status_text`` its ``mqtt_status_str()``, ``detail`` the ``mqtt_last_error()`` text and
``reason_code`` the MQTT 5.0 reason code the call received from the server
(``mqtt_last_reason_code()``, None when it received none; ``reason_text`` names it), all read on
the thread that made the call (the library keeps them per thread).

MQTT 5.0: ``ConnectOptions(protocol_level=5, ...)`` turns it on, with ``session_expiry``,
``receive_maximum``, ``user_properties``, ``will_properties``, ``authentication`` and the other
v5 settings. :meth:`Connection.publish` takes the publish properties as keyword arguments
(``user_properties=[("k", "v")], content_type=..., response_topic=..., correlation_data=b"..",
message_expiry=..., payload_format=...``), :meth:`Connection.subscribe` the subscription options
(``no_local``, ``retain_as_published``, ``retain_handling``, ``subscription_identifier``), and
every :class:`Message` carries the properties it arrived with. :meth:`Connection.request` does
request/response. A refusal raises MqttError with STATUS_PUBLISH_REFUSED, STATUS_SUBSCRIBE_FAILED
or STATUS_UNSUBSCRIBE_FAILED and the server's ``reason_code`` (0x87 not authorized, ...).

Threads and the GIL:

* Every libmqtt function is called through ``ctypes.CDLL``, which releases the GIL for the
  duration of the call. Blocking calls (``connect``, ``publish`` at QoS 1/2, ``receive``,
  ``loop_stop``, ``Broker.stop``) therefore let other Python threads run, and a callback that
  needs the GIL on another thread can always get it: no deadlock between a Python thread blocked
  in libmqtt and a callback.
* Callbacks run on libmqtt's threads, not the caller's: a subscription's callback on the
  connection's loop thread after :meth:`Connection.loop_start` (otherwise on the thread inside
  :meth:`Connection.receive` or a call waiting for a reply); a broker's authenticator and
  authorizer on the broker's connection threads, several at once. ctypes takes the GIL before
  running the Python function, so callbacks run one Python bytecode at a time like any thread,
  but they must still not assume they run on the main thread.
* An exception raised in a callback cannot propagate into C. It is printed to stderr with its
  traceback and then ignored for a message callback; an authenticator that raises refuses the
  client ("not authorized") and an authorizer that raises denies the access, so bugs fail closed.
* Callbacks may call this module (publish, subscribe, ...). :meth:`Connection.close` may be
  called from any thread, also while other threads are blocked in calls on the connection
  (they raise MqttError with STATUS_CLOSED) and from the connection's own callbacks.
* The connection's lifecycle callbacks (:class:`ConnectOptions` ``on_message``, ``on_connect``,
  ``on_disconnect``, ``on_log``) and ``on_published`` run on the thread that reads the
  connection (the loop thread, a thread in a blocking call, or the caller of connect,
  reconnect, disconnect or close); a broker's ``on_event`` on the broker's threads.

Lifetime: the ctypes function objects handed to C are kept referenced by the Broker or
Connection that uses them until it is closed (a replaced subscription callback too, since the
loop thread may still be running it), so the garbage collector never frees one C can still call.
"""

import ctypes
import ctypes.util
import os
import sys
import traceback

__all__ = [
    "Broker",
    "BrokerOptions",
    "Connection",
    "ConnectOptions",
    "Message",
    "MqttError",
    "library",
    "last_reason_code",
    "reason_code_str",
    "topic_matches",
    "version",
    "AUTH_ACCEPT",
    "AUTH_BAD_CREDENTIALS",
    "AUTH_NOT_AUTHORIZED",
    "ACCESS_PUBLISH",
    "ACCESS_SUBSCRIBE",
    "STATUS_OK",
    "STATUS_TIMEOUT",
    "STATUS_CLOSED",
    "STATUS_QUEUED",
    "STATUS_QUEUE_FULL",
    "STATUS_REFUSED",
    "STATUS_SERVER_MOVED",
    "STATUS_AUTH_FAILED",
    "STATUS_SUBSCRIBE_FAILED",
    "STATUS_PUBLISH_REFUSED",
    "STATUS_UNSUBSCRIBE_FAILED",
    "STATUS_TLS",
    "STATUS_PERSISTENCE",
    "STATUS_INVALID_STATE",
    "STATUS_NOT_FOUND",
    "LOG_INFORMATION",
    "LOG_NOTICE",
    "LOG_WARNING",
    "LOG_ERROR",
    "LOG_DEBUG",
    "LOG_SUBSCRIBE",
    "LOG_UNSUBSCRIBE",
    "LOG_ALL",
    "LISTENER_KINDS",
    "connect_url",
    "CLOSE_REASONS",
    "QUEUE_REFUSE_NEW",
    "QUEUE_DROP_OLDEST",
]

# mqtt_status values this module refers to by name; the others are reported by number and text.
STATUS_OK = 0
STATUS_TIMEOUT = 44
STATUS_CLOSED = 43
# A publish made while disconnected with auto-reconnect on waits in the offline queue.
STATUS_QUEUED = 70
STATUS_QUEUE_FULL = 71
# MQTT 5.0 refusals; MqttError.reason_code says why.
STATUS_REFUSED = 56
STATUS_SERVER_MOVED = 57
STATUS_AUTH_FAILED = 58
STATUS_SUBSCRIBE_FAILED = 60
STATUS_PUBLISH_REFUSED = 61
STATUS_UNSUBSCRIBE_FAILED = 62
# TLS failed: the server's certificate was not accepted, or a certificate, key or CA file
# could not be used.
STATUS_TLS = 46
# The broker's persistence file cannot be used (not a libmqtt store, damaged, written by a newer
# version, open in another broker, not writable): raised by Broker.start, naming the file.
STATUS_PERSISTENCE = 47
# A call that does not fit the object's state, e.g. Broker.persistence_stats without a file.
STATUS_INVALID_STATE = 20
# No connected client has that identifier (Broker.disconnect_client, Broker.redirect_client).
STATUS_NOT_FOUND = 22

# mqtt_broker_log_type: the broker's log lines by type (libmosquitto's MOSQ_LOG_* bits), for
# BrokerOptions(log=..., log_types=...).
LOG_INFORMATION = 1
LOG_NOTICE = 2
LOG_WARNING = 4
LOG_ERROR = 8
LOG_DEBUG = 16
LOG_SUBSCRIBE = 32
LOG_UNSUBSCRIBE = 64
LOG_ALL = 0xFFFF

# mqtt_listener_kind: what a BrokerOptions listener speaks, by name.
LISTENER_KINDS = {"tcp": 0, "tls": 1, "ws": 2, "wss": 3}

# mqtt_close_reason: why a connection ended, as on_disconnect receives it.
CLOSE_REASONS = {
    1: "disconnected",
    2: "freed",
    3: "reconnecting",
    4: "closed by peer",
    5: "io error",
    6: "keep-alive timeout",
    7: "protocol error",
    # An MQTT 5.0 DISCONNECT from the server: last_reason_code() in on_disconnect gives its code.
    8: "server disconnect",
}

# mqtt_queue_overflow: what a full offline queue does.
QUEUE_REFUSE_NEW = 0
QUEUE_DROP_OLDEST = 1

# mqtt_broker_event_kind and mqtt_disconnect_reason are reported as ints.
BROKER_EVENT_CONNECTED = 0
BROKER_EVENT_DISCONNECTED = 1

# mqtt_auth_result: what an authenticator returns.
AUTH_BAD_CREDENTIALS = 0
AUTH_ACCEPT = 1
AUTH_NOT_AUTHORIZED = 2

# mqtt_access: what the authorizer is asked about.
ACCESS_PUBLISH = 0
ACCESS_SUBSCRIBE = 1


def _find_library():
    explicit = os.environ.get("LIBMQTT_PATH")
    if explicit:
        return explicit
    source_tree = os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "release", "libmqtt.so"
    )
    if os.path.exists(source_tree):
        return os.path.normpath(source_tree)
    installed = ctypes.util.find_library("mqtt")
    if installed:
        return installed
    raise OSError(
        "libmqtt.so not found: set LIBMQTT_PATH, run `make -C examples-c` in the source tree, "
        "or install the library"
    )


library = ctypes.CDLL(_find_library())


class _Message(ctypes.Structure):
    _fields_ = [
        ("topic", ctypes.c_void_p),
        ("topic_len", ctypes.c_size_t),
        ("payload", ctypes.c_void_p),
        ("payload_len", ctypes.c_size_t),
        ("qos", ctypes.c_int),
        ("retain", ctypes.c_bool),
        ("dup", ctypes.c_bool),
    ]


class _BrokerStatistics(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "clients_connected",
            "connections_accepted",
            "sessions",
            "subscriptions",
            "retained_messages",
            "messages_received",
            "messages_sent",
            "messages_dropped",
            "tls_handshakes_failed",
            "websocket_refused",
        )
    ]


class _BrokerEvent(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int),
        ("client_id", ctypes.c_char_p),
        ("username", ctypes.c_char_p),
        ("peer", ctypes.c_char_p),
        ("clean_session", ctypes.c_bool),
        ("session_present", ctypes.c_bool),
        ("reason", ctypes.c_int),
        ("reason_text", ctypes.c_char_p),
        ("protocol_level", ctypes.c_int),
        ("reason_code", ctypes.c_int),
    ]


class _AuthRequest(ctypes.Structure):
    _fields_ = [
        ("client_id", ctypes.c_char_p),
        ("username", ctypes.c_char_p),
        ("password", ctypes.c_void_p),
        ("password_len", ctypes.c_size_t),
        ("peer", ctypes.c_char_p),
        ("certificate_identity", ctypes.c_char_p),
        ("protocol_level", ctypes.c_uint8),
    ]


class _PersistenceStatistics(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("commits", "failures", "last_commit_micros", "bytes_on_disk")
    ]


class _AuthStep(ctypes.Structure):
    _fields_ = [
        ("exchange", ctypes.c_uint64),
        ("client_id", ctypes.c_char_p),
        ("username", ctypes.c_char_p),
        ("method", ctypes.c_char_p),
        ("data", ctypes.c_void_p),
        ("data_len", ctypes.c_size_t),
        ("step", ctypes.c_uint32),
        ("reauthenticating", ctypes.c_bool),
        ("peer", ctypes.c_char_p),
    ]


_MESSAGE_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(_Message))
_PUBLISHED_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint16, ctypes.c_int)
_CONNECT_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_bool, ctypes.c_int)
_DISCONNECT_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_bool)
_LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)
_EVENT_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(_BrokerEvent))
_LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)
_AUTHENTICATOR = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_uint8),
    ctypes.c_size_t,
)
_AUTHENTICATOR_EX = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_AuthRequest))
# mqtt_access is a C enum, passed as an int.
_AUTHORIZER = ctypes.CFUNCTYPE(
    ctypes.c_bool, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int
)
_AUTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.POINTER(ctypes.c_uint8),
    ctypes.c_size_t,
    ctypes.POINTER(ctypes.c_size_t),
)
_ENHANCED_AUTHENTICATOR = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_AuthStep), ctypes.c_void_p
)

_status = ctypes.c_int
_handle = ctypes.c_void_p
_text = ctypes.c_char_p
_bytes = ctypes.POINTER(ctypes.c_uint8)


def _declare(name, restype, *argtypes):
    function = getattr(library, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_last_error = _declare("mqtt_last_error", _text)
_last_status = _declare("mqtt_last_status", _status)
_last_reason_code = _declare("mqtt_last_reason_code", ctypes.c_int)
_status_str = _declare("mqtt_status_str", _text, ctypes.c_int)
_reason_code_str = _declare("mqtt_reason_code_str", _text, ctypes.c_int)
_version = _declare("mqtt_version", _text)
_topic_matches = _declare(
    "mqtt_topic_matches", _status, _text, _text, ctypes.POINTER(ctypes.c_bool)
)

_broker_options_new = _declare("mqtt_broker_options_new", _handle)
_broker_options_free = _declare("mqtt_broker_options_free", None, _handle)
_broker_options_set_bind_address = _declare(
    "mqtt_broker_options_set_bind_address", _status, _handle, _text
)
_broker_options_set_max_connections = _declare(
    "mqtt_broker_options_set_max_connections", _status, _handle, ctypes.c_size_t
)
_broker_options_set_authenticator = _declare(
    "mqtt_broker_options_set_authenticator", _status, _handle, _AUTHENTICATOR, ctypes.c_void_p
)
_broker_options_set_authenticator_ex = _declare(
    "mqtt_broker_options_set_authenticator_ex", _status, _handle, _AUTHENTICATOR_EX,
    ctypes.c_void_p,
)
_broker_options_set_persistence = _declare(
    "mqtt_broker_options_set_persistence", _status, _handle, _text
)
_broker_options_set_persistence_sync = _declare(
    "mqtt_broker_options_set_persistence_sync", _status, _handle, ctypes.c_uint32
)
_broker_options_set_authorizer = _declare(
    "mqtt_broker_options_set_authorizer", _status, _handle, _AUTHORIZER, ctypes.c_void_p
)
_broker_options_set_event_callback = _declare(
    "mqtt_broker_options_set_event_callback", _status, _handle, _EVENT_CALLBACK, ctypes.c_void_p
)
_broker_options_set_response_information = _declare(
    "mqtt_broker_options_set_response_information", _status, _handle, _text
)
_broker_options_set_enhanced_authenticator = _declare(
    "mqtt_broker_options_set_enhanced_authenticator", _status, _handle, _ENHANCED_AUTHENTICATOR,
    ctypes.c_void_p,
)
_auth_reply_set_data = _declare(
    "mqtt_auth_reply_set_data", _status, ctypes.c_void_p, _bytes, ctypes.c_size_t
)
_broker_new = _declare("mqtt_broker_new", _handle, _text, _handle)
_broker_start = _declare("mqtt_broker_start", _status, _handle)
_broker_port = _declare("mqtt_broker_port", ctypes.c_uint16, _handle)
_broker_stop = _declare("mqtt_broker_stop", _status, _handle)
_broker_free = _declare("mqtt_broker_free", None, _handle)
_broker_publish = _declare(
    "mqtt_broker_publish", _status, _handle, _text, _bytes, ctypes.c_size_t, ctypes.c_int,
    ctypes.c_bool,
)
_broker_stats = _declare(
    "mqtt_broker_stats", _status, _handle, ctypes.POINTER(_BrokerStatistics)
)
_broker_persistence_stats = _declare(
    "mqtt_broker_persistence_stats", _status, _handle, ctypes.POINTER(_PersistenceStatistics)
)
_broker_tls_options_new = _declare("mqtt_broker_tls_options_new", _handle)
_broker_tls_options_free = _declare("mqtt_broker_tls_options_free", None, _handle)
_broker_tls_options_set_certificate_files = _declare(
    "mqtt_broker_tls_options_set_certificate_files", _status, _handle, _text, _text
)
_broker_tls_options_set_certificate_pem = _declare(
    "mqtt_broker_tls_options_set_certificate_pem", _status, _handle, _bytes, ctypes.c_size_t,
    _bytes, ctypes.c_size_t,
)
_broker_tls_options_set_client_certificates = _declare(
    "mqtt_broker_tls_options_set_client_certificates", _status, _handle, _text, ctypes.c_int,
    ctypes.c_bool,
)
_broker_tls_options_set_min_version = _declare(
    "mqtt_broker_tls_options_set_min_version", _status, _handle, ctypes.c_int
)
_broker_options_add_listener = _declare(
    "mqtt_broker_options_add_listener", _status, _handle, ctypes.c_int, _text, ctypes.c_uint16,
    _handle,
)
_broker_options_add_websocket_listener = _declare(
    "mqtt_broker_options_add_websocket_listener", _status, _handle, _text, ctypes.c_uint16,
    _text, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t, _handle,
)
_broker_options_listener_count = _declare(
    "mqtt_broker_options_listener_count", ctypes.c_size_t, _handle
)
_broker_listener_count = _declare("mqtt_broker_listener_count", ctypes.c_size_t, _handle)
_broker_listener_port = _declare(
    "mqtt_broker_listener_port", ctypes.c_uint16, _handle, ctypes.c_size_t
)
_broker_listener_url = _declare(
    "mqtt_broker_listener_url", _status, _handle, ctypes.c_size_t, ctypes.c_char_p,
    ctypes.c_size_t,
)
_broker_reload_tls = _declare("mqtt_broker_reload_tls", _status, _handle)
_broker_options_set_log_callback = _declare(
    "mqtt_broker_options_set_log_callback", _status, _handle, ctypes.c_uint32, _LOG_CALLBACK,
    ctypes.c_void_p,
)
_broker_disconnect_client = _declare(
    "mqtt_broker_disconnect_client", _status, _handle, _text, ctypes.c_bool
)
_broker_redirect_client = _declare(
    "mqtt_broker_redirect_client", _status, _handle, _text, _text, ctypes.c_bool
)

_connect_options_new = _declare("mqtt_connect_options_new", _handle)
_connect_options_free = _declare("mqtt_connect_options_free", None, _handle)
_connect_options_set_client_id = _declare(
    "mqtt_connect_options_set_client_id", _status, _handle, _text
)
_connect_options_set_clean_session = _declare(
    "mqtt_connect_options_set_clean_session", _status, _handle, ctypes.c_bool
)
_connect_options_set_keep_alive = _declare(
    "mqtt_connect_options_set_keep_alive", _status, _handle, ctypes.c_int
)
_connect_options_set_username = _declare(
    "mqtt_connect_options_set_username", _status, _handle, _text
)
_connect_options_set_password = _declare(
    "mqtt_connect_options_set_password", _status, _handle, _bytes, ctypes.c_size_t
)
_connect_options_set_will = _declare(
    "mqtt_connect_options_set_will", _status, _handle, _text, _bytes, ctypes.c_size_t,
    ctypes.c_int, ctypes.c_bool,
)
_connect_options_set_connect_timeout = _declare(
    "mqtt_connect_options_set_connect_timeout", _status, _handle, ctypes.c_int
)
_connect_options_set_operation_timeout = _declare(
    "mqtt_connect_options_set_operation_timeout", _status, _handle, ctypes.c_int
)
_connect_options_set_auto_reconnect = _declare(
    "mqtt_connect_options_set_auto_reconnect", _status, _handle, ctypes.c_int, ctypes.c_int
)
_connect_options_set_resubscribe = _declare(
    "mqtt_connect_options_set_resubscribe", _status, _handle, ctypes.c_bool
)
_connect_options_set_offline_queue = _declare(
    "mqtt_connect_options_set_offline_queue", _status, _handle, ctypes.c_size_t,
    ctypes.c_size_t, ctypes.c_int, ctypes.c_bool,
)
_connect_options_set_on_message = _declare(
    "mqtt_connect_options_set_on_message", _status, _handle, _MESSAGE_CALLBACK, ctypes.c_void_p
)
_connect_options_set_on_connect = _declare(
    "mqtt_connect_options_set_on_connect", _status, _handle, _CONNECT_CALLBACK, ctypes.c_void_p
)
_connect_options_set_on_disconnect = _declare(
    "mqtt_connect_options_set_on_disconnect", _status, _handle, _DISCONNECT_CALLBACK,
    ctypes.c_void_p,
)
_connect_options_set_on_log = _declare(
    "mqtt_connect_options_set_on_log", _status, _handle, _LOG_CALLBACK, ctypes.c_void_p
)
_connect_options_set_protocol_level = _declare(
    "mqtt_connect_options_set_protocol_level", _status, _handle, ctypes.c_int
)
_connect_options_set_session_expiry = _declare(
    "mqtt_connect_options_set_session_expiry", _status, _handle, ctypes.c_uint32
)
_connect_options_set_receive_maximum = _declare(
    "mqtt_connect_options_set_receive_maximum", _status, _handle, ctypes.c_uint16
)
_connect_options_set_maximum_packet_size = _declare(
    "mqtt_connect_options_set_maximum_packet_size", _status, _handle, ctypes.c_uint32
)
_connect_options_set_topic_alias_maximum = _declare(
    "mqtt_connect_options_set_topic_alias_maximum", _status, _handle, ctypes.c_uint16
)
_connect_options_set_request_response_information = _declare(
    "mqtt_connect_options_set_request_response_information", _status, _handle, ctypes.c_bool
)
_connect_options_set_request_problem_information = _declare(
    "mqtt_connect_options_set_request_problem_information", _status, _handle, ctypes.c_bool
)
_connect_options_add_user_property = _declare(
    "mqtt_connect_options_add_user_property", _status, _handle, _text, _text
)
_connect_options_set_will_properties = _declare(
    "mqtt_connect_options_set_will_properties", _status, _handle, _handle, ctypes.c_uint32
)
_connect_options_set_authentication = _declare(
    "mqtt_connect_options_set_authentication", _status, _handle, _text, _bytes, ctypes.c_size_t,
    _AUTH_CALLBACK, ctypes.c_void_p,
)
_connect_ex = _declare(
    "mqtt_connect_ex", _status, _text, _text, _handle, ctypes.POINTER(ctypes.c_void_p)
)
_connect_url = _declare("mqtt_connect_url", _handle, _text, _handle)
_connect_options_set_tls = _declare(
    "mqtt_connect_options_set_tls", _status, _handle, _text, _text, _text
)
_connect_options_set_tls_insecure = _declare(
    "mqtt_connect_options_set_tls_insecure", _status, _handle, ctypes.c_bool
)
_connect_options_set_tls_server_name = _declare(
    "mqtt_connect_options_set_tls_server_name", _status, _handle, _text
)
_connect_options_set_tls_min_version = _declare(
    "mqtt_connect_options_set_tls_min_version", _status, _handle, ctypes.c_int
)

_publish_options_new = _declare("mqtt_publish_options_new", _handle)
_publish_options_free = _declare("mqtt_publish_options_free", None, _handle)
_publish_options_set_message_expiry = _declare(
    "mqtt_publish_options_set_message_expiry", _status, _handle, ctypes.c_uint32
)
_publish_options_set_content_type = _declare(
    "mqtt_publish_options_set_content_type", _status, _handle, _text
)
_publish_options_set_response_topic = _declare(
    "mqtt_publish_options_set_response_topic", _status, _handle, _text
)
_publish_options_set_correlation_data = _declare(
    "mqtt_publish_options_set_correlation_data", _status, _handle, _bytes, ctypes.c_size_t
)
_publish_options_set_payload_format = _declare(
    "mqtt_publish_options_set_payload_format", _status, _handle, ctypes.c_int
)
_publish_options_add_user_property = _declare(
    "mqtt_publish_options_add_user_property", _status, _handle, _text, _text
)
_publish_options_set_topic_alias = _declare(
    "mqtt_publish_options_set_topic_alias", _status, _handle, ctypes.c_bool
)
_subscribe_options_new = _declare("mqtt_subscribe_options_new", _handle)
_subscribe_options_free = _declare("mqtt_subscribe_options_free", None, _handle)
_subscribe_options_set_no_local = _declare(
    "mqtt_subscribe_options_set_no_local", _status, _handle, ctypes.c_bool
)
_subscribe_options_set_retain_as_published = _declare(
    "mqtt_subscribe_options_set_retain_as_published", _status, _handle, ctypes.c_bool
)
_subscribe_options_set_retain_handling = _declare(
    "mqtt_subscribe_options_set_retain_handling", _status, _handle, ctypes.c_int
)
_subscribe_options_set_subscription_identifier = _declare(
    "mqtt_subscribe_options_set_subscription_identifier", _status, _handle, ctypes.c_uint32
)
_subscribe_options_add_user_property = _declare(
    "mqtt_subscribe_options_add_user_property", _status, _handle, _text, _text
)

_message_p = ctypes.POINTER(_Message)
_message_free = _declare("mqtt_message_free", None, _message_p)
_message_user_property_count = _declare(
    "mqtt_message_user_property_count", ctypes.c_size_t, _message_p
)
_message_user_property_at = _declare(
    "mqtt_message_user_property_at", _status, _message_p, ctypes.c_size_t,
    ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
)
_message_content_type = _declare("mqtt_message_content_type", _text, _message_p)
_message_response_topic = _declare("mqtt_message_response_topic", _text, _message_p)
_message_correlation_data = _declare(
    "mqtt_message_correlation_data", ctypes.c_void_p, _message_p, ctypes.POINTER(ctypes.c_size_t)
)
_message_expiry_interval = _declare(
    "mqtt_message_expiry_interval", ctypes.c_bool, _message_p, ctypes.POINTER(ctypes.c_uint32)
)
_message_payload_format = _declare("mqtt_message_payload_format", ctypes.c_int, _message_p)
_message_subscription_identifier_count = _declare(
    "mqtt_message_subscription_identifier_count", ctypes.c_size_t, _message_p
)
_message_subscription_identifier_at = _declare(
    "mqtt_message_subscription_identifier_at", ctypes.c_uint32, _message_p, ctypes.c_size_t
)
_subscribe_ex = _declare(
    "mqtt_subscribe_ex", _status, _handle, _text, ctypes.c_int, _handle, _MESSAGE_CALLBACK,
    ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
)
_subscribe_many_ex = _declare(
    "mqtt_subscribe_many_ex", _status, _handle, ctypes.POINTER(ctypes.c_char_p),
    ctypes.POINTER(ctypes.c_int), ctypes.c_size_t, _handle, _MESSAGE_CALLBACK, ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_int),
)
_unsubscribe = _declare("mqtt_unsubscribe", _status, _handle, _text)
_wait_published = _declare(
    "mqtt_wait_published", _status, _handle, ctypes.c_uint16, ctypes.c_int
)
_set_on_published = _declare(
    "mqtt_connection_set_on_published", _status, _handle, _PUBLISHED_CALLBACK, ctypes.c_void_p
)
_reconnect = _declare("mqtt_reconnect", _status, _handle)
_connection_socket = _declare("mqtt_connection_socket", ctypes.c_int, _handle)
_connection_want_write = _declare("mqtt_connection_want_write", ctypes.c_bool, _handle)
_loop_read = _declare("mqtt_loop_read", _status, _handle)
_loop_write = _declare("mqtt_loop_write", _status, _handle)
_loop_misc = _declare("mqtt_loop_misc", _status, _handle)
_publish_ex = _declare(
    "mqtt_publish_ex", _status, _handle, _text, _bytes, ctypes.c_size_t, ctypes.c_int,
    ctypes.c_bool, _handle,
)
_publish_async_ex = _declare(
    "mqtt_publish_async_ex", _status, _handle, _text, _bytes, ctypes.c_size_t, ctypes.c_int,
    ctypes.c_bool, _handle, ctypes.POINTER(ctypes.c_uint16),
)
_request = _declare(
    "mqtt_request", _status, _handle, _text, _bytes, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
    ctypes.POINTER(_message_p),
)
_reauthenticate = _declare("mqtt_reauthenticate", _status, _handle, _bytes, ctypes.c_size_t)
_disconnect_ex = _declare("mqtt_disconnect_ex", _status, _handle, ctypes.c_int, ctypes.c_int64)
_receive_message = _declare("mqtt_receive_message", _status, _handle, ctypes.c_int)
_loop_start = _declare("mqtt_loop_start", _status, _handle)
_loop_stop = _declare("mqtt_loop_stop", _status, _handle)
_disconnect = _declare("mqtt_disconnect", _status, _handle)
_connection_is_connected = _declare("mqtt_connection_is_connected", ctypes.c_bool, _handle)
_connection_client_id = _declare("mqtt_connection_client_id", _text, _handle)
_connection_free = _declare("mqtt_connection_free", None, _handle)


class MqttError(Exception):
    """A libmqtt call failed: ``status`` (an mqtt_status int), ``status_text``, ``detail``, and
    ``reason_code``, the MQTT 5.0 reason code the call received from the server (e.g. 0x87 for
    a publish refused as not authorized; None when it received none), named by
    ``reason_text``."""

    def __init__(self, call, status):
        # Read right away, on the failing thread: the next libmqtt call on it overwrites them.
        code = _last_reason_code()
        self.detail = _last_error().decode(errors="replace")
        self.call = call
        self.status = status
        self.status_text = _status_str(status).decode()
        self.reason_code = None if code < 0 else code
        self.reason_text = None if code < 0 else reason_code_str(code)
        reason = "" if code < 0 else f" [reason code 0x{code:02X} {self.reason_text}]"
        super().__init__(f"{call}: {self.status_text} ({self.detail}){reason}")


def _check(call, status):
    if status != STATUS_OK:
        raise MqttError(call, status)


def _checked_handle(call, handle):
    if not handle:
        raise MqttError(call, _last_status())
    return handle


def _encode(text):
    return text.encode() if isinstance(text, str) else text


def _byte_buffer(data):
    """A C copy of `data` (bytes or str, sent as UTF-8) and its length; None for empty data."""
    data = _encode(data)
    if not data:
        return None, 0
    return (ctypes.c_uint8 * len(data)).from_buffer_copy(data), len(data)


def _report_callback_exception(what, outcome="ignored"):
    print(f"libmqtt: exception in {what} ({outcome}):", file=sys.stderr)
    traceback.print_exc()


def version():
    """The loaded library's version, e.g. "0.1.0"."""
    return _version().decode()


def last_reason_code():
    """The MQTT 5.0 reason code the calling thread's most recent call received from the server,
    or None. In an ``on_published`` callback it is the code that ended the publish, in an
    ``on_disconnect`` callback the server's DISCONNECT reason code."""
    code = _last_reason_code()
    return None if code < 0 else code


def reason_code_str(code):
    """The name of an MQTT 5.0 reason code, e.g. "not authorized" for 0x87."""
    return _reason_code_str(code).decode()


def topic_matches(topic_filter, topic):
    """Whether topic name `topic` matches `topic_filter` (MQTT section 4.7)."""
    matches = ctypes.c_bool(False)
    _check(
        "mqtt_topic_matches",
        _topic_matches(_encode(topic_filter), _encode(topic), ctypes.byref(matches)),
    )
    return matches.value


class Message:
    """A received message, copied out of the library's buffers, so it may be kept.

    Besides ``topic`` (str), ``payload`` (bytes), ``qos``, ``retain`` and ``dup`` it carries the
    MQTT 5.0 properties it arrived with (None, or empty lists, when absent, as always for MQTT
    3.1.1): ``user_properties`` (a list of (name, value) str pairs, in the publisher's order),
    ``content_type`` and ``response_topic`` (str), ``correlation_data`` (bytes),
    ``message_expiry`` (the seconds that remain of the Message Expiry Interval),
    ``payload_format`` (1 UTF-8 text, 0 bytes) and ``subscription_identifiers`` (a list of
    ints, one per matching subscription made with an identifier)."""

    __slots__ = (
        "topic",
        "payload",
        "qos",
        "retain",
        "dup",
        "user_properties",
        "content_type",
        "response_topic",
        "correlation_data",
        "message_expiry",
        "payload_format",
        "subscription_identifiers",
    )

    def __init__(self, topic, payload, qos, retain, dup, user_properties=(), content_type=None,
                 response_topic=None, correlation_data=None, message_expiry=None,
                 payload_format=None, subscription_identifiers=()):
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.user_properties = list(user_properties)
        self.content_type = content_type
        self.response_topic = response_topic
        self.correlation_data = correlation_data
        self.message_expiry = message_expiry
        self.payload_format = payload_format
        self.subscription_identifiers = list(subscription_identifiers)

    @classmethod
    def _from_c(cls, pointer):
        """Copies everything out of a library message (a POINTER(_Message)) while it is valid:
        in its callback, or before mqtt_message_free."""
        message = pointer.contents
        topic = ctypes.string_at(message.topic, message.topic_len).decode()
        payload = ctypes.string_at(message.payload, message.payload_len)
        user_properties = []
        for index in range(_message_user_property_count(pointer)):
            name, value = ctypes.c_char_p(), ctypes.c_char_p()
            _check(
                "mqtt_message_user_property_at",
                _message_user_property_at(
                    pointer, index, ctypes.byref(name), ctypes.byref(value)
                ),
            )
            user_properties.append((name.value.decode(), value.value.decode()))
        length = ctypes.c_size_t(0)
        data = _message_correlation_data(pointer, ctypes.byref(length))
        expiry = ctypes.c_uint32(0)
        has_expiry = _message_expiry_interval(pointer, ctypes.byref(expiry))
        payload_format = _message_payload_format(pointer)
        return cls(
            topic,
            payload,
            message.qos,
            message.retain,
            message.dup,
            user_properties=user_properties,
            content_type=_decode_optional(_message_content_type(pointer)),
            response_topic=_decode_optional(_message_response_topic(pointer)),
            correlation_data=None if data is None else ctypes.string_at(data, length.value),
            message_expiry=expiry.value if has_expiry else None,
            payload_format=None if payload_format < 0 else payload_format,
            subscription_identifiers=[
                _message_subscription_identifier_at(pointer, index)
                for index in range(_message_subscription_identifier_count(pointer))
            ],
        )

    def __repr__(self):
        text = (
            f"Message(topic={self.topic!r}, payload={self.payload!r}, qos={self.qos}, "
            f"retain={self.retain}, dup={self.dup}"
        )
        for name in Message.__slots__[5:]:
            value = getattr(self, name)
            if value not in (None, []):
                text += f", {name}={value!r}"
        return text + ")"


class BrokerOptions:
    """Settings for a :class:`Broker`; they are copied when the broker is created."""

    def __init__(self, bind_address=None, max_connections=None, authenticator=None,
                 authorizer=None, on_event=None, response_information=None,
                 enhanced_authenticator=None, listeners=None, authenticator_ex=None,
                 persistence=None, persistence_sync=None, log=None, log_types=LOG_ALL):
        """`authenticator(client_id, username, password)` gets str, str or None, bytes or None
        and returns AUTH_ACCEPT, AUTH_BAD_CREDENTIALS or AUTH_NOT_AUTHORIZED (True / False work
        too). `authorizer(client_id, username, topic, access)` returns whether the client may
        publish to (ACCESS_PUBLISH) or subscribe with (ACCESS_SUBSCRIBE) `topic`. Both run on
        the broker's connection threads, concurrently. `on_event(event)` gets a dict (kind
        "connected" or "disconnected", client_id, username, peer, clean_session,
        session_present, reason, reason_text, protocol_level, reason_code) for every accepted
        connection and its end, on a broker thread.

        `authenticator_ex(request)`, in place of `authenticator`, also sees where the client
        connects from: `request` is a dict (client_id, username (str or None), password (bytes
        or None), peer ("ip:port"), certificate_identity (the verified client certificate's
        name on a TLS listener that asks for one, else None), protocol_level (3, 4 or 5)); it
        returns what `authenticator` does. Give one of the two, not both.

        Persistence: `persistence` is a file (str, bytes or path) that keeps retained messages
        and persistent sessions (subscriptions, queued and in-flight QoS 1/2 messages, delayed
        wills) across a restart of the broker or a crash of the process; created at
        :meth:`Broker.start` if missing, taken up if it exists (an unusable file raises
        MqttError with STATUS_PERSISTENCE there). `persistence_sync` None or 0 (the default)
        is durable: a publish is acknowledged only once it is on disk; a number of seconds
        above 0 commits at that interval instead (faster; a crash loses at most the last
        interval).

        MQTT 5.0: `response_information` is the Response Information given to clients that ask
        for it (the base of their request/response topics). `enhanced_authenticator(step)`
        decides each step of an enhanced authentication: `step` is a dict (exchange, client_id,
        username, method, data (bytes), step, reauthenticating, peer); it returns a reason code
        (0x00 success, 0x18 continue, 0x80 and above refuse) or (reason code, data for the
        client). It runs on the broker's connection threads; raising refuses with 0x87.

        `listeners` opens exactly these instead of the `port` of :class:`Broker` (give
        ``port=None``; a port given too opens a TCP listener on it first): a list of
        ``(kind, address, port, tls)`` with kind "tcp", "tls", "ws" or "wss" (WebSocket on
        path /mqtt) and `tls` None (tcp, ws) or a dict: ``cert_file`` and ``key_file`` (paths,
        read at start and by :meth:`Broker.reload_tls`) or ``cert_pem`` and ``key_pem``
        (bytes or str), ``client_ca_file`` with ``client_certificates`` (0 none, 1 requested,
        2 required) and ``identity_as_username``, ``min_version`` (12 or 13). A WebSocket
        listener may be a dict instead: ``dict(kind="ws", address=..., port=..., path=...,
        origins=[...], tls=...)``. :meth:`Broker.listener_urls` tells where they listen.

        `log(log_type, line)` gets the broker's log lines of the types in `log_types` (a mask
        of LOG_* bits, LOG_ALL by default) as libmosquitto's log callback does: connects,
        disconnects, refusals, subscriptions. It runs on the broker's threads, concurrently."""
        self.listeners = list(listeners or [])
        self.response_information = response_information
        self.enhanced_authenticator = enhanced_authenticator
        self.on_event = on_event
        self.bind_address = bind_address
        self.max_connections = max_connections
        self.authenticator = authenticator
        self.authenticator_ex = authenticator_ex
        self.authorizer = authorizer
        self.persistence = persistence
        self.persistence_sync = persistence_sync
        self.log = log
        self.log_types = log_types


class Broker:
    """An embedded MQTT broker. Use as a context manager, or call :meth:`close`."""

    def __init__(self, port=0, options=None):
        """`port` None opens only the listeners of `options` (see BrokerOptions)."""
        options = options or BrokerOptions()
        # The ctypes callbacks given to C: referenced here until the broker is freed.
        self._callbacks = []
        c_options = _checked_handle("mqtt_broker_options_new", _broker_options_new())
        try:
            self._configure(c_options, options)
            self._handle = _checked_handle(
                "mqtt_broker_new",
                _broker_new(None if port is None else str(port).encode(), c_options),
            )
        finally:
            _broker_options_free(c_options)

    def _configure(self, c_options, options):
        if options.bind_address is not None:
            _check(
                "mqtt_broker_options_set_bind_address",
                _broker_options_set_bind_address(c_options, _encode(options.bind_address)),
            )
        if options.max_connections is not None:
            _check(
                "mqtt_broker_options_set_max_connections",
                _broker_options_set_max_connections(c_options, options.max_connections),
            )
        if options.authenticator is not None:
            callback = _AUTHENTICATOR(_authenticator_trampoline(options.authenticator))
            self._callbacks.append(callback)
            _check(
                "mqtt_broker_options_set_authenticator",
                _broker_options_set_authenticator(c_options, callback, None),
            )
        if options.authenticator_ex is not None:
            if options.authenticator is not None:
                raise TypeError("give authenticator or authenticator_ex, not both")
            callback = _AUTHENTICATOR_EX(_authenticator_ex_trampoline(options.authenticator_ex))
            self._callbacks.append(callback)
            _check(
                "mqtt_broker_options_set_authenticator_ex",
                _broker_options_set_authenticator_ex(c_options, callback, None),
            )
        if options.persistence is not None:
            _check(
                "mqtt_broker_options_set_persistence",
                _broker_options_set_persistence(c_options, os.fsencode(options.persistence)),
            )
        if options.persistence_sync:
            _check(
                "mqtt_broker_options_set_persistence_sync",
                _broker_options_set_persistence_sync(
                    c_options, _interval_ms(options.persistence_sync)
                ),
            )
        if options.authorizer is not None:
            callback = _AUTHORIZER(_authorizer_trampoline(options.authorizer))
            self._callbacks.append(callback)
            _check(
                "mqtt_broker_options_set_authorizer",
                _broker_options_set_authorizer(c_options, callback, None),
            )

        if options.on_event is not None:
            callback = _EVENT_CALLBACK(_event_trampoline(options.on_event))
            self._callbacks.append(callback)
            _check(
                "mqtt_broker_options_set_event_callback",
                _broker_options_set_event_callback(c_options, callback, None),
            )
        if options.log is not None:
            callback = _LOG_CALLBACK(_log_trampoline(options.log))
            self._callbacks.append(callback)
            _check(
                "mqtt_broker_options_set_log_callback",
                _broker_options_set_log_callback(c_options, options.log_types, callback, None),
            )
        if options.response_information is not None:
            _check(
                "mqtt_broker_options_set_response_information",
                _broker_options_set_response_information(
                    c_options, _encode(options.response_information)
                ),
            )
        for listener in options.listeners:
            _add_listener(c_options, listener)
        if options.enhanced_authenticator is not None:
            callback = _ENHANCED_AUTHENTICATOR(
                _enhanced_authenticator_trampoline(options.enhanced_authenticator)
            )
            self._callbacks.append(callback)
            _check(
                "mqtt_broker_options_set_enhanced_authenticator",
                _broker_options_set_enhanced_authenticator(c_options, callback, None),
            )

    def _live(self):
        if self._handle is None:
            raise ValueError("the broker is closed")
        return self._handle

    def start(self):
        """Starts listening; returns as soon as clients can connect. A stopped broker starts
        again with the sessions, subscriptions and retained messages it had (with port 0 the
        system may choose another port: read :attr:`port` again). Raises MqttError with
        STATUS_PERSISTENCE when the persistence file cannot be used."""
        _check("mqtt_broker_start", _broker_start(self._live()))

    @property
    def port(self):
        """The port listened on (the system's choice for port 0), once started."""
        return _broker_port(self._live())

    def listener_urls(self):
        """Where the started broker listens, one URL per listener in the order added (the
        `port` listener first): "mqtt://127.0.0.1:PORT", "mqtts://...", "ws://.../mqtt"."""
        handle = self._live()
        urls = []
        for index in range(_broker_listener_count(handle)):
            buffer = ctypes.create_string_buffer(1024)
            _check(
                "mqtt_broker_listener_url",
                _broker_listener_url(handle, index, buffer, len(buffer)),
            )
            urls.append(buffer.value.decode())
        return urls

    def listener_ports(self):
        """The port of each listener once started, in the order of :meth:`listener_urls`."""
        handle = self._live()
        return [
            _broker_listener_port(handle, index)
            for index in range(_broker_listener_count(handle))
        ]

    def reload_tls(self):
        """Reads every TLS listener's certificate and key files again (new connections use
        them); raises MqttError with STATUS_TLS when one does not load."""
        _check("mqtt_broker_reload_tls", _broker_reload_tls(self._live()))

    def publish(self, topic, payload=b"", qos=0, retain=False):
        """Publishes as if a client had sent it; never blocks on subscribers."""
        data, length = _byte_buffer(payload)
        _check(
            "mqtt_broker_publish",
            _broker_publish(self._live(), _encode(topic), data, length, qos, retain),
        )

    def disconnect_client(self, client_id, publish_will=True):
        """Closes the connection of the connected client `client_id` (a 5.0 client is told
        0x98, administrative action), publishing its will if `publish_will`. Returns at once;
        raises MqttError with STATUS_NOT_FOUND when no such client is connected."""
        _check(
            "mqtt_broker_disconnect_client",
            _broker_disconnect_client(self._live(), _encode(client_id), publish_will),
        )

    def redirect_client(self, client_id, server_reference, permanent=False):
        """Sends the connected MQTT 5.0 client `client_id` to `server_reference` (DISCONNECT
        0x9D server moved if `permanent`, else 0x9C use another server); a 3.1.1 client is just
        disconnected. Returns at once; raises MqttError with STATUS_NOT_FOUND when no such
        client is connected."""
        _check(
            "mqtt_broker_redirect_client",
            _broker_redirect_client(
                self._live(), _encode(client_id), _encode(server_reference), permanent
            ),
        )

    def stats(self):
        """A dict of the broker's counters."""
        stats = _BrokerStatistics()
        _check("mqtt_broker_stats", _broker_stats(self._live(), ctypes.byref(stats)))
        return {name: getattr(stats, name) for name, _ in _BrokerStatistics._fields_}

    def persistence_stats(self):
        """A dict of what the persistence store has done: commits (each one fsync), failures,
        last_commit_micros and bytes_on_disk. Raises MqttError with STATUS_INVALID_STATE when
        the broker has no persistence file."""
        stats = _PersistenceStatistics()
        _check(
            "mqtt_broker_persistence_stats",
            _broker_persistence_stats(self._live(), ctypes.byref(stats)),
        )
        return {name: getattr(stats, name) for name, _ in _PersistenceStatistics._fields_}

    def stop(self):
        """Closes every connection (publishing no wills) and waits for the broker's threads to
        finish; with persistence, commits to the file and closes it, so another broker may open
        it. :meth:`start` starts it again."""
        _check("mqtt_broker_stop", _broker_stop(self._live()))

    def close(self):
        """Stops (if running) and frees the broker; afterwards its callbacks are released."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle is not None:
            _broker_free(handle)
        self._callbacks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def _tls_options(settings):
    """mqtt_broker_tls_options from a listener's dict; the caller frees it."""
    known = {"cert_file", "key_file", "cert_pem", "key_pem", "client_ca_file",
             "client_certificates", "identity_as_username", "min_version"}
    unknown = set(settings) - known
    if unknown:
        raise TypeError(f"unknown TLS settings: {sorted(unknown)}")
    tls = _checked_handle("mqtt_broker_tls_options_new", _broker_tls_options_new())
    try:
        if "cert_file" in settings or "key_file" in settings:
            _check(
                "mqtt_broker_tls_options_set_certificate_files",
                _broker_tls_options_set_certificate_files(
                    tls, _encode(settings.get("cert_file")), _encode(settings.get("key_file"))
                ),
            )
        if "cert_pem" in settings or "key_pem" in settings:
            cert, cert_len = _byte_buffer(settings.get("cert_pem") or b"")
            key, key_len = _byte_buffer(settings.get("key_pem") or b"")
            _check(
                "mqtt_broker_tls_options_set_certificate_pem",
                _broker_tls_options_set_certificate_pem(tls, cert, cert_len, key, key_len),
            )
        mode = settings.get("client_certificates", 0)
        if mode or "client_ca_file" in settings:
            _check(
                "mqtt_broker_tls_options_set_client_certificates",
                _broker_tls_options_set_client_certificates(
                    tls, _encode(settings.get("client_ca_file")), mode,
                    bool(settings.get("identity_as_username", False)),
                ),
            )
        if settings.get("min_version") is not None:
            _check(
                "mqtt_broker_tls_options_set_min_version",
                _broker_tls_options_set_min_version(tls, settings["min_version"]),
            )
    except BaseException:
        _broker_tls_options_free(tls)
        raise
    return tls


def _add_listener(c_options, listener):
    if isinstance(listener, dict):
        listener = dict(listener)
        kind = listener.pop("kind")
        address = listener.pop("address", "127.0.0.1")
        port = listener.pop("port", 0)
        tls_settings = listener.pop("tls", None)
        path = listener.pop("path", None)
        origins = list(listener.pop("origins", None) or [])
        if listener:
            raise TypeError(f"unknown listener settings: {sorted(listener)}")
    else:
        kind, address, port, tls_settings = listener
        path, origins = None, []
    if kind not in LISTENER_KINDS:
        raise ValueError(f"listener kind {kind!r}: not one of {sorted(LISTENER_KINDS)}")
    tls = _tls_options(tls_settings) if tls_settings is not None else None
    try:
        if kind in ("ws", "wss") and (path is not None or origins):
            c_origins = (ctypes.c_char_p * max(1, len(origins)))(*[_encode(o) for o in origins])
            _check(
                "mqtt_broker_options_add_websocket_listener",
                _broker_options_add_websocket_listener(
                    c_options, _encode(address), port, _encode(path),
                    c_origins if origins else None, len(origins),
                    tls if kind == "wss" else None,
                ),
            )
        else:
            _check(
                "mqtt_broker_options_add_listener",
                _broker_options_add_listener(
                    c_options, LISTENER_KINDS[kind], _encode(address), port, tls
                ),
            )
    finally:
        if tls is not None:
            _broker_tls_options_free(tls)


def _decode_optional(text):
    return None if text is None else text.decode(errors="replace")


def _authenticator_trampoline(authenticate):
    def trampoline(_userdata, client_id, username, password, password_len):
        try:
            secret = None if not password else ctypes.string_at(password, password_len)
            verdict = authenticate(
                _decode_optional(client_id), _decode_optional(username), secret
            )
            return int(verdict)
        except BaseException:
            _report_callback_exception("an authenticator", "client refused")
            return AUTH_NOT_AUTHORIZED

    return trampoline


def _authenticator_ex_trampoline(authenticate):
    def trampoline(_userdata, request):
        try:
            r = request.contents
            verdict = authenticate(
                {
                    "client_id": _decode_optional(r.client_id),
                    "username": _decode_optional(r.username),
                    "password": (
                        ctypes.string_at(r.password, r.password_len) if r.password else None
                    ),
                    "peer": _decode_optional(r.peer),
                    "certificate_identity": _decode_optional(r.certificate_identity),
                    "protocol_level": r.protocol_level,
                }
            )
            return int(verdict)
        except BaseException:
            _report_callback_exception("an authenticator", "client refused")
            return AUTH_NOT_AUTHORIZED

    return trampoline


def _interval_ms(seconds):
    """A positive interval in seconds as the whole milliseconds C takes (at least 1)."""
    ms = max(1, round(seconds * 1000))
    if seconds < 0 or ms > 0xFFFFFFFF:
        raise ValueError(f"interval of {seconds} s: not within 0.001..4294967.295 s")
    return ms


def _authorizer_trampoline(authorize):
    def trampoline(_userdata, client_id, username, topic, access):
        try:
            return bool(
                authorize(
                    _decode_optional(client_id),
                    _decode_optional(username),
                    _decode_optional(topic),
                    access,
                )
            )
        except BaseException:
            _report_callback_exception("an authorizer", "access denied")
            return False

    return trampoline


def _log_trampoline(log):
    def trampoline(_userdata, log_type, line):
        try:
            log(log_type, _decode_optional(line))
        except BaseException:
            _report_callback_exception("a broker log callback")

    return trampoline


def _event_trampoline(on_event):
    def trampoline(_userdata, event):
        try:
            e = event.contents
            on_event(
                {
                    "kind": "connected" if e.kind == BROKER_EVENT_CONNECTED else "disconnected",
                    "client_id": _decode_optional(e.client_id),
                    "username": _decode_optional(e.username),
                    "peer": _decode_optional(e.peer),
                    "clean_session": e.clean_session,
                    "session_present": e.session_present,
                    "reason": e.reason,
                    "reason_text": _decode_optional(e.reason_text),
                    "protocol_level": e.protocol_level,
                    "reason_code": None if e.reason_code < 0 else e.reason_code,
                }
            )
        except BaseException:
            _report_callback_exception("a broker event callback")

    return trampoline


def _enhanced_authenticator_trampoline(authenticate):
    def trampoline(_userdata, step, reply):
        try:
            s = step.contents
            verdict = authenticate(
                {
                    "exchange": s.exchange,
                    "client_id": _decode_optional(s.client_id),
                    "username": _decode_optional(s.username),
                    "method": _decode_optional(s.method),
                    "data": ctypes.string_at(s.data, s.data_len) if s.data else b"",
                    "step": s.step,
                    "reauthenticating": s.reauthenticating,
                    "peer": _decode_optional(s.peer),
                }
            )
            code, data = verdict if isinstance(verdict, tuple) else (verdict, None)
            if data:
                buffer, length = _byte_buffer(data)
                _check("mqtt_auth_reply_set_data", _auth_reply_set_data(reply, buffer, length))
            return int(code)
        except BaseException:
            _report_callback_exception("an enhanced authenticator", "client refused")
            return 0x87

    return trampoline


def _auth_trampoline(answer):
    """A client's authentication callback: `answer(method, data)` returns the reply's bytes, or
    None to give up."""

    def trampoline(_userdata, method, data, length, out, capacity, out_len):
        try:
            reply = answer(
                _decode_optional(method), ctypes.string_at(data, length) if data else b""
            )
            if reply is None:
                return 1
            reply = _encode(reply)
            if len(reply) > capacity:
                raise ValueError(f"authentication data of {len(reply)} bytes; at most {capacity}")
            ctypes.memmove(out, reply, len(reply))
            out_len[0] = len(reply)
            return 0
        except BaseException:
            _report_callback_exception("an authentication callback", "authentication given up")
            return 1

    return trampoline


def _guarded(what, function):
    """A ctypes callback body that reports, and never propagates, an exception."""

    def trampoline(_userdata, *args):
        try:
            function(*args)
        except BaseException:
            _report_callback_exception(what)

    return trampoline


def _message_trampoline(callback):
    def trampoline(_userdata, message):
        try:
            callback(Message._from_c(message))
        except BaseException:
            _report_callback_exception("a message callback")

    return trampoline


def _pairs(properties):
    """User properties as (name, value) pairs: from a list of pairs or a dict."""
    return list(properties.items()) if isinstance(properties, dict) else list(properties)


def _publish_options(user_properties=None, content_type=None, response_topic=None,
                     correlation_data=None, message_expiry=None, payload_format=None,
                     topic_alias=None):
    """C publish options holding the MQTT 5.0 properties given, or None when none is; the
    caller frees them with _publish_options_free."""
    given = (user_properties, content_type, response_topic, correlation_data, message_expiry,
             payload_format, topic_alias)
    if all(value is None for value in given):
        return None
    handle = _checked_handle("mqtt_publish_options_new", _publish_options_new())
    try:
        for name, value in _pairs(user_properties or ()):
            _check(
                "mqtt_publish_options_add_user_property",
                _publish_options_add_user_property(handle, _encode(name), _encode(value)),
            )
        if content_type is not None:
            _check(
                "mqtt_publish_options_set_content_type",
                _publish_options_set_content_type(handle, _encode(content_type)),
            )
        if response_topic is not None:
            _check(
                "mqtt_publish_options_set_response_topic",
                _publish_options_set_response_topic(handle, _encode(response_topic)),
            )
        if correlation_data is not None:
            data, length = _byte_buffer(correlation_data)
            _check(
                "mqtt_publish_options_set_correlation_data",
                _publish_options_set_correlation_data(handle, data, length),
            )
        if message_expiry is not None:
            _check(
                "mqtt_publish_options_set_message_expiry",
                _publish_options_set_message_expiry(handle, int(message_expiry)),
            )
        if payload_format is not None:
            _check(
                "mqtt_publish_options_set_payload_format",
                _publish_options_set_payload_format(handle, int(payload_format)),
            )
        if topic_alias is not None:
            _check(
                "mqtt_publish_options_set_topic_alias",
                _publish_options_set_topic_alias(handle, bool(topic_alias)),
            )
        return handle
    except BaseException:
        _publish_options_free(handle)
        raise


def _subscribe_options(no_local=False, retain_as_published=False, retain_handling=0,
                       subscription_identifier=None, user_properties=None):
    """C subscribe options, or None for MQTT 3.1.1's behaviour (the defaults); the caller
    frees them with _subscribe_options_free."""
    if (not no_local and not retain_as_published and not retain_handling
            and subscription_identifier is None and user_properties is None):
        return None
    handle = _checked_handle("mqtt_subscribe_options_new", _subscribe_options_new())
    try:
        _check("mqtt_subscribe_options_set_no_local",
               _subscribe_options_set_no_local(handle, bool(no_local)))
        _check("mqtt_subscribe_options_set_retain_as_published",
               _subscribe_options_set_retain_as_published(handle, bool(retain_as_published)))
        _check("mqtt_subscribe_options_set_retain_handling",
               _subscribe_options_set_retain_handling(handle, int(retain_handling)))
        if subscription_identifier is not None:
            _check(
                "mqtt_subscribe_options_set_subscription_identifier",
                _subscribe_options_set_subscription_identifier(
                    handle, int(subscription_identifier)
                ),
            )
        for name, value in _pairs(user_properties or ()):
            _check(
                "mqtt_subscribe_options_add_user_property",
                _subscribe_options_add_user_property(handle, _encode(name), _encode(value)),
            )
        return handle
    except BaseException:
        _subscribe_options_free(handle)
        raise


class ConnectOptions:
    """Settings for :meth:`Connection.connect`."""

    def __init__(self, client_id=None, username=None, password=None, keep_alive=None,
                 clean_session=None, will=None, connect_timeout=None, operation_timeout=None,
                 auto_reconnect=None, resubscribe=None, offline_queue=None, on_message=None,
                 on_connect=None, on_disconnect=None, on_log=None, protocol_level=None,
                 session_expiry=None, receive_maximum=None, maximum_packet_size=None,
                 topic_alias_maximum=None, request_response_information=None,
                 request_problem_information=None, user_properties=None, will_properties=None,
                 will_delay=None, authentication=None, tls=None):
        """`will` is (topic, payload, qos, retain) or None. Timeouts are in seconds.
        `auto_reconnect` is (min_delay, max_delay) in seconds: the loop thread reconnects by
        itself with exponential backoff and jitter. `offline_queue` is (max_messages,
        max_bytes, QUEUE_REFUSE_NEW or QUEUE_DROP_OLDEST, queue_qos0). Callbacks:
        `on_message(message)` gets every message no subscription's callback takes;
        `on_connect(session_present, code)`; `on_disconnect(reason, will_reconnect)` with a
        CLOSE_REASONS key; `on_log(level, text)`.

        MQTT 5.0 (`protocol_level=5`; 4, MQTT 3.1.1, is the default, 3 MQTT 3.1):
        `session_expiry` in seconds, `receive_maximum`, `maximum_packet_size` (bytes),
        `topic_alias_maximum`, `request_response_information` and `request_problem_information`
        (bools), `user_properties` for CONNECT ([(name, value), ...] or a dict),
        `will_properties` (a dict of :meth:`Connection.publish`'s property keywords, for the
        will) with `will_delay` seconds, and `authentication=(method, data, answer)` for
        enhanced authentication, where `answer(method, data)` gets the server's data (bytes)
        and returns the reply (bytes or str), or None to give up; it runs on the thread inside
        connect, later on the thread reading the connection.

        TLS: `tls` is a dict (``{}`` turns TLS on with the system's CA certificates):
        ``ca_file`` (PEM; the server's certificate must be signed by one of its CAs and name
        the host), ``cert_file`` and ``key_file`` (a client certificate, both or neither),
        ``insecure`` (True accepts any certificate: tests only), ``server_name`` (the name the
        certificate must carry, also sent as SNI) and ``min_version`` (12 or 13). A failed
        handshake or an unusable file raises MqttError with STATUS_TLS."""
        self.tls = tls
        self.protocol_level = protocol_level
        self.session_expiry = session_expiry
        self.receive_maximum = receive_maximum
        self.maximum_packet_size = maximum_packet_size
        self.topic_alias_maximum = topic_alias_maximum
        self.request_response_information = request_response_information
        self.request_problem_information = request_problem_information
        self.user_properties = user_properties
        self.will_properties = will_properties
        self.will_delay = will_delay
        self.authentication = authentication
        self.connect_timeout = connect_timeout
        self.operation_timeout = operation_timeout
        self.auto_reconnect = auto_reconnect
        self.resubscribe = resubscribe
        self.offline_queue = offline_queue
        self.on_message = on_message
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.on_log = on_log
        self.client_id = client_id
        self.username = username
        self.password = password
        self.keep_alive = keep_alive
        self.clean_session = clean_session
        self.will = will

    def _to_c(self, keep):
        """The C options; the ctypes callbacks they hold are appended to `keep`."""
        handle = _checked_handle("mqtt_connect_options_new", _connect_options_new())
        try:
            self._set_extras(handle, keep)
            if self.tls is not None:
                self._set_tls(handle)
            if self.client_id is not None:
                _check(
                    "mqtt_connect_options_set_client_id",
                    _connect_options_set_client_id(handle, _encode(self.client_id)),
                )
            if self.clean_session is not None:
                _check(
                    "mqtt_connect_options_set_clean_session",
                    _connect_options_set_clean_session(handle, self.clean_session),
                )
            if self.keep_alive is not None:
                _check(
                    "mqtt_connect_options_set_keep_alive",
                    _connect_options_set_keep_alive(handle, self.keep_alive),
                )
            if self.username is not None:
                _check(
                    "mqtt_connect_options_set_username",
                    _connect_options_set_username(handle, _encode(self.username)),
                )
            if self.password is not None:
                password = _encode(self.password)
                # A C pointer even for an empty password: NULL would mean "no password".
                buffer = (ctypes.c_uint8 * max(len(password), 1)).from_buffer_copy(
                    password or b"\0"
                )
                _check(
                    "mqtt_connect_options_set_password",
                    _connect_options_set_password(handle, buffer, len(password)),
                )
            if self.will is not None:
                topic, payload, qos, retain = self.will
                data, length = _byte_buffer(payload)
                _check(
                    "mqtt_connect_options_set_will",
                    _connect_options_set_will(handle, _encode(topic), data, length, qos, retain),
                )
            self._set_v5(handle, keep)
            return handle
        except BaseException:
            _connect_options_free(handle)
            raise

    def _set_v5(self, handle, keep):
        # The protocol level first: the MQTT 5.0 settings below need it at connect.
        settings = [
            ("protocol_level", _connect_options_set_protocol_level),
            ("session_expiry", _connect_options_set_session_expiry),
            ("receive_maximum", _connect_options_set_receive_maximum),
            ("maximum_packet_size", _connect_options_set_maximum_packet_size),
            ("topic_alias_maximum", _connect_options_set_topic_alias_maximum),
            ("request_response_information", _connect_options_set_request_response_information),
            ("request_problem_information", _connect_options_set_request_problem_information),
        ]
        for name, setter in settings:
            value = getattr(self, name)
            if value is not None:
                _check(f"mqtt_connect_options_set_{name}", setter(handle, value))
        for name, value in _pairs(self.user_properties or ()):
            _check(
                "mqtt_connect_options_add_user_property",
                _connect_options_add_user_property(handle, _encode(name), _encode(value)),
            )
        if self.will_properties is not None or self.will_delay is not None:
            properties = _publish_options(**(self.will_properties or {}))
            try:
                _check(
                    "mqtt_connect_options_set_will_properties",
                    _connect_options_set_will_properties(
                        handle, properties, int(self.will_delay or 0)
                    ),
                )
            finally:
                _publish_options_free(properties)
        if self.authentication is not None:
            method, data, answer = self.authentication
            callback = _AUTH_CALLBACK(_auth_trampoline(answer))
            keep.append(callback)
            buffer, length = _byte_buffer(data or b"")
            _check(
                "mqtt_connect_options_set_authentication",
                _connect_options_set_authentication(
                    handle, _encode(method), buffer, length, callback, None
                ),
            )

    def _set_extras(self, handle, keep):
        ms = lambda seconds: int(seconds * 1000)  # noqa: E731
        if self.connect_timeout is not None:
            _check(
                "mqtt_connect_options_set_connect_timeout",
                _connect_options_set_connect_timeout(handle, ms(self.connect_timeout)),
            )
        if self.operation_timeout is not None:
            _check(
                "mqtt_connect_options_set_operation_timeout",
                _connect_options_set_operation_timeout(handle, ms(self.operation_timeout)),
            )
        if self.auto_reconnect is not None:
            low, high = self.auto_reconnect
            _check(
                "mqtt_connect_options_set_auto_reconnect",
                _connect_options_set_auto_reconnect(handle, ms(low), ms(high)),
            )
        if self.resubscribe is not None:
            _check(
                "mqtt_connect_options_set_resubscribe",
                _connect_options_set_resubscribe(handle, self.resubscribe),
            )
        if self.offline_queue is not None:
            _check(
                "mqtt_connect_options_set_offline_queue",
                _connect_options_set_offline_queue(handle, *self.offline_queue),
            )
        callbacks = [
            ("on_message", _MESSAGE_CALLBACK, _connect_options_set_on_message,
             _message_trampoline(self.on_message) if self.on_message else None),
            ("on_connect", _CONNECT_CALLBACK, _connect_options_set_on_connect,
             _guarded("a connect callback", self.on_connect) if self.on_connect else None),
            ("on_disconnect", _DISCONNECT_CALLBACK, _connect_options_set_on_disconnect,
             _guarded("a disconnect callback", self.on_disconnect)
             if self.on_disconnect else None),
            ("on_log", _LOG_CALLBACK, _connect_options_set_on_log,
             _guarded("a log callback", lambda level, text: self.on_log(
                 level, text.decode(errors="replace"))) if self.on_log else None),
        ]
        for name, kind, setter, body in callbacks:
            if body is not None:
                callback = kind(body)
                keep.append(callback)
                _check(f"mqtt_connect_options_set_{name}", setter(handle, callback, None))


    def _set_tls(self, handle):
        settings = dict(self.tls)
        unknown = set(settings) - {"ca_file", "cert_file", "key_file", "insecure",
                                   "server_name", "min_version"}
        if unknown:
            raise TypeError(f"unknown TLS settings: {sorted(unknown)}")
        _check(
            "mqtt_connect_options_set_tls",
            _connect_options_set_tls(
                handle, _encode(settings.get("ca_file")), _encode(settings.get("cert_file")),
                _encode(settings.get("key_file")),
            ),
        )
        if settings.get("insecure") is not None:
            _check(
                "mqtt_connect_options_set_tls_insecure",
                _connect_options_set_tls_insecure(handle, bool(settings["insecure"])),
            )
        if settings.get("server_name") is not None:
            _check(
                "mqtt_connect_options_set_tls_server_name",
                _connect_options_set_tls_server_name(handle, _encode(settings["server_name"])),
            )
        if settings.get("min_version") is not None:
            _check(
                "mqtt_connect_options_set_tls_min_version",
                _connect_options_set_tls_min_version(handle, settings["min_version"]),
            )


class Connection:
    """A client connection. Use as a context manager, or call :meth:`close`.

    Any method may be called from any Python thread and from a message callback, except
    :meth:`close`, which must not be called from this connection's callbacks.
    """

    def __init__(self, handle, callbacks=()):
        self._handle = handle
        # Every ctypes callback given to C (options, mqtt_subscribe, on_published), kept until
        # the connection is freed: a replaced or unsubscribed one may still be running.
        self._callbacks = list(callbacks)

    @classmethod
    def connect(cls, host, port, options=None):
        """Connects and waits for CONNACK (at most the connect timeout, 30 s by default).
        Raises MqttError, e.g. with status 54 (bad user name or password) when refused."""
        callbacks = []
        c_options = (options or ConnectOptions())._to_c(callbacks)
        try:
            handle = ctypes.c_void_p()
            _check(
                "mqtt_connect",
                _connect_ex(_encode(host), str(port).encode(), c_options, ctypes.byref(handle)),
            )
        finally:
            _connect_options_free(c_options)
        return cls(handle.value, callbacks)

    @classmethod
    def connect_url(cls, url, options=None):
        """Connects to "mqtt://host[:port]" (TCP, port 1883 by default),
        "mqtts://host[:port]" (TLS, port 8883, with the `tls` settings of `options`),
        "ws://host[:port][/path]" (WebSocket, port 80, path /mqtt by default) or
        "wss://host[:port][/path]" (WebSocket over TLS, port 443)."""
        callbacks = []
        c_options = (options or ConnectOptions())._to_c(callbacks)
        try:
            handle = _checked_handle("mqtt_connect_url", _connect_url(_encode(url), c_options))
        finally:
            _connect_options_free(c_options)
        return cls(handle, callbacks)

    def _live(self):
        if self._handle is None:
            raise ValueError("the connection is closed")
        return self._handle

    def subscribe(self, topic_filter, *args, qos=None, callback=None, no_local=False,
                  retain_as_published=False, retain_handling=0, subscription_identifier=None,
                  user_properties=None):
        """subscribe(topic_filter, qos, callback, *, no_local=False, retain_as_published=False,
        retain_handling=0, subscription_identifier=None, user_properties=None)

        Subscribes and waits for SUBACK; returns its reason code, which is the granted QoS.
        `callback(message)` runs for each :class:`Message` whose most specific matching
        subscription is `topic_filter`, on the thread described in the module's documentation.
        The earlier order ``subscribe(topic_filter, callback, qos=0)`` works too.

        The MQTT 5.0 subscription options: `no_local` (this client's own messages are not sent
        back to it), `retain_as_published`, `retain_handling` (0 retained messages on every
        subscribe, 1 only for a new subscription, 2 never), `subscription_identifier`
        (1..268435455, which comes back in ``message.subscription_identifiers``) and SUBSCRIBE
        `user_properties`. A refusal raises MqttError with STATUS_SUBSCRIBE_FAILED and the
        SUBACK's ``reason_code`` (0x87 not authorized, 0x8F topic filter invalid, ...)."""
        for arg in args:
            if callable(arg) and callback is None:
                callback = arg
            elif not callable(arg) and qos is None:
                qos = arg
            else:
                raise TypeError("subscribe() takes a topic filter, a QoS and a callback")
        if callback is None:
            raise TypeError("subscribe() needs a callback")
        c_callback = _MESSAGE_CALLBACK(_message_trampoline(callback))
        self._callbacks.append(c_callback)
        code = ctypes.c_int(-1)
        options = _subscribe_options(no_local, retain_as_published, retain_handling,
                                     subscription_identifier, user_properties)
        try:
            _check(
                "mqtt_subscribe",
                _subscribe_ex(
                    self._live(), _encode(topic_filter), qos or 0, options, c_callback, None,
                    ctypes.byref(code),
                ),
            )
        finally:
            _subscribe_options_free(options)
        return code.value

    def subscribe_many(self, filters, callback, **options):
        """Subscribes to [(filter, qos), ...] in one SUBSCRIBE; returns the SUBACK reason code
        per filter: the granted QoS, or 0x80 and above for one the broker refused (0x80 for
        MQTT 3.1.1; in 5.0 the reason, e.g. 0x87 not authorized). Takes the keyword options of
        :meth:`subscribe`, the same for every filter."""
        c_callback = _MESSAGE_CALLBACK(_message_trampoline(callback))
        self._callbacks.append(c_callback)
        count = len(filters)
        names = (ctypes.c_char_p * count)(*[_encode(f) for f, _ in filters])
        qos = (ctypes.c_int * count)(*[q for _, q in filters])
        codes = (ctypes.c_int * count)()
        c_options = _subscribe_options(**options)
        try:
            _check(
                "mqtt_subscribe_many",
                _subscribe_many_ex(
                    self._live(), names, qos, count, c_options, c_callback, None, codes
                ),
            )
        finally:
            _subscribe_options_free(c_options)
        return list(codes)

    def unsubscribe(self, topic_filter):
        """Unsubscribes and waits for UNSUBACK. In MQTT 5.0 a refusal raises MqttError with
        STATUS_UNSUBSCRIBE_FAILED and its ``reason_code``; the subscription then stays."""
        _check("mqtt_unsubscribe", _unsubscribe(self._live(), _encode(topic_filter)))

    def publish(self, topic, payload=b"", qos=0, retain=False, **properties):
        """Publishes; blocks until PUBACK (QoS 1) or PUBCOMP (QoS 2), at most the operation
        timeout. `payload` is bytes or str (sent as UTF-8). Returns the acknowledgement's
        reason code: 0x00 (also for QoS 0), or in MQTT 5.0 0x10 no matching subscribers.

        MQTT 5.0 properties, as keywords: `user_properties` ([(name, value), ...] or a dict;
        the order is kept), `content_type`, `response_topic`, `correlation_data` (bytes),
        `message_expiry` (seconds), `payload_format` (1 UTF-8 text, 0 bytes) and `topic_alias`
        (False forbids sending the topic as an alias). A refusal raises MqttError with
        STATUS_PUBLISH_REFUSED and the ``reason_code`` (0x87 not authorized, 0x97 quota
        exceeded, 0x99 payload format invalid, ...)."""
        data, length = _byte_buffer(payload)
        options = _publish_options(**properties)
        try:
            _check(
                "mqtt_publish",
                _publish_ex(self._live(), _encode(topic), data, length, qos, retain, options),
            )
        finally:
            _publish_options_free(options)
        return last_reason_code()

    def publish_async(self, topic, payload=b"", qos=0, retain=False, **properties):
        """Publishes without waiting for the acknowledgement; returns the packet id (0 for
        QoS 0) to pass to :meth:`wait_published`. While disconnected with auto-reconnect on,
        the message is queued and the id is returned just the same (its status would be
        STATUS_QUEUED). Takes the MQTT 5.0 properties of :meth:`publish`; a refusal comes
        later, from wait_published (MqttError with STATUS_PUBLISH_REFUSED) or on_published."""
        data, length = _byte_buffer(payload)
        packet_id = ctypes.c_uint16(0)
        options = _publish_options(**properties)
        try:
            status = _publish_async_ex(
                self._live(), _encode(topic), data, length, qos, retain, options,
                ctypes.byref(packet_id),
            )
        finally:
            _publish_options_free(options)
        if status != STATUS_QUEUED:
            _check("mqtt_publish_async", status)
        return packet_id.value

    def request(self, topic, payload=b"", qos=1, timeout=30):
        """MQTT 5.0 request/response: publishes `payload` to `topic` with a Response Topic and
        a fresh Correlation Data, and waits up to `timeout` seconds for the response carrying
        the same Correlation Data. Returns it as a :class:`Message`, or None when none came in
        time. No subscription callback sees the response."""
        data, length = _byte_buffer(payload)
        response = _message_p()
        status = _request(
            self._live(), _encode(topic), data, length, qos, max(1, int(timeout * 1000)),
            ctypes.byref(response),
        )
        if status == STATUS_TIMEOUT:
            return None
        _check("mqtt_request", status)
        try:
            return Message._from_c(response)
        finally:
            _message_free(response)

    def reauthenticate(self, data=b""):
        """MQTT 5.0 re-authentication with the connect's Authentication Method; the
        `authentication` callback of :class:`ConnectOptions` answers the server."""
        buffer, length = _byte_buffer(data)
        _check("mqtt_reauthenticate", _reauthenticate(self._live(), buffer, length))

    def wait_published(self, packet_id, timeout=None):
        """Waits until the publish `packet_id` is acknowledged; returns False on timeout."""
        timeout_ms = -1 if timeout is None else int(timeout * 1000)
        status = _wait_published(self._live(), packet_id, timeout_ms)
        if status == STATUS_TIMEOUT:
            return False
        _check("mqtt_wait_published", status)
        return True

    def set_on_published(self, callback):
        """`callback(packet_id, status)` learns how each QoS 1/2 publish ended (STATUS_OK,
        STATUS_CLOSED when discarded, STATUS_QUEUE_FULL when dropped from the offline queue);
        None removes it."""
        c_callback = (
            _PUBLISHED_CALLBACK(_guarded("an on_published callback", callback))
            if callback
            else _PUBLISHED_CALLBACK()
        )
        self._callbacks.append(c_callback)
        _check(
            "mqtt_connection_set_on_published", _set_on_published(self._live(), c_callback, None)
        )

    def reconnect(self):
        """Connects again with the same options (see mqtt_reconnect)."""
        _check("mqtt_reconnect", _reconnect(self._live()))

    def socket(self):
        """The socket descriptor, for the host's own event loop (e.g. asyncio's add_reader)."""
        return _connection_socket(self._live())

    def want_write(self):
        return _connection_want_write(self._live())

    def loop_read(self):
        """Handles what can be read without blocking; callbacks run on this thread."""
        _check("mqtt_loop_read", _loop_read(self._live()))

    def loop_write(self):
        _check("mqtt_loop_write", _loop_write(self._live()))

    def loop_misc(self):
        """Keep-alive and automatic reconnects; call at least once a second."""
        _check("mqtt_loop_misc", _loop_misc(self._live()))

    def receive(self, timeout=None):
        """Processes one incoming message on this thread (its callback runs here); returns
        False if none arrived within `timeout` seconds (None: wait without limit)."""
        timeout_ms = -1 if timeout is None else int(timeout * 1000)
        status = _receive_message(self._live(), timeout_ms)
        if status == STATUS_TIMEOUT:
            return False
        _check("mqtt_receive_message", status)
        return True

    def loop_start(self):
        """Starts the loop thread, which then runs every message callback."""
        _check("mqtt_loop_start", _loop_start(self._live()))

    def loop_stop(self):
        """Stops the loop thread and waits for it to finish."""
        _check("mqtt_loop_stop", _loop_stop(self._live()))

    def disconnect(self, reason_code=None, session_expiry=None):
        """Sends DISCONNECT (the broker then discards the will) and closes the connection. MQTT
        5.0: with `reason_code` (0x04 asks the broker to publish the will all the same) and a
        new `session_expiry` in seconds."""
        if reason_code is None and session_expiry is None:
            _check("mqtt_disconnect", _disconnect(self._live()))
            return
        expiry = -1 if session_expiry is None else int(session_expiry)
        _check(
            "mqtt_disconnect_ex", _disconnect_ex(self._live(), reason_code or 0, expiry)
        )

    @property
    def connected(self):
        return self._handle is not None and _connection_is_connected(self._handle)

    @property
    def client_id(self):
        return _connection_client_id(self._live()).decode()

    def close(self):
        """Frees the connection; if still open it is closed without DISCONNECT (the broker
        publishes the will) and the loop thread is joined. Calls blocked on other threads
        raise MqttError with STATUS_CLOSED. Then its callbacks are released."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle is not None:
            _connection_free(handle)
        # The ctypes callbacks stay referenced until this object goes: close() may be called
        # from one of them, which is still running until it returns.

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def connect_url(url, options=None):
    """:meth:`Connection.connect_url`: connects to an mqtt://, mqtts://, ws:// or wss:// URL."""
    return Connection.connect_url(url, options)
