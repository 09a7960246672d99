"""libmqtt from Python, through ctypes: an embedded MQTT 3.1.1 broker and a client.

The shared library is looked up in this order: the path in the environment variable
LIBMQTT_PATH; target/release/libmqtt.so of the source tree this file sits in (after
``make -C examples-c`` or ``cargo build --release``); an installed ``libmqtt`` (``make -C
examples-c install``), found by ``ctypes.util.find_library``.

Errors: every failing call raises :class:`MqttError`, whose ``status`` is the ``mqtt_status``
code, ``status_text`` its ``mqtt_status_str()`` and ``detail`` the ``mqtt_last_error()`` text,
read on the thread that made the call (the library keeps it per thread).

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
* Callbacks may call this module (publish, subscribe, ...) but must not close the connection or
  broker that is calling them.

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
    "topic_matches",
    "version",
    "AUTH_ACCEPT",
    "AUTH_BAD_CREDENTIALS",
    "AUTH_NOT_AUTHORIZED",
    "ACCESS_PUBLISH",
    "ACCESS_SUBSCRIBE",
    "STATUS_OK",
    "STATUS_TIMEOUT",
]

# mqtt_status values this module refers to by name; the others are reported by number and text.
STATUS_OK = 0
STATUS_TIMEOUT = 44
STATUS_CLOSED = 43

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
        )
    ]


_MESSAGE_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(_Message))
_AUTHENTICATOR = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_uint8),
    ctypes.c_size_t,
)
# mqtt_access is a C enum, passed as an int.
_AUTHORIZER = ctypes.CFUNCTYPE(
    ctypes.c_bool, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int
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
_status_str = _declare("mqtt_status_str", _text, ctypes.c_int)
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
_broker_options_set_authorizer = _declare(
    "mqtt_broker_options_set_authorizer", _status, _handle, _AUTHORIZER, ctypes.c_void_p
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
_connect_ex = _declare(
    "mqtt_connect_ex", _status, _text, _text, _handle, ctypes.POINTER(ctypes.c_void_p)
)
_subscribe = _declare(
    "mqtt_subscribe", _status, _handle, _text, ctypes.c_int, _MESSAGE_CALLBACK, ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_int),
)
_unsubscribe = _declare("mqtt_unsubscribe", _status, _handle, _text)
_publish = _declare(
    "mqtt_publish", _status, _handle, _text, _bytes, ctypes.c_size_t, ctypes.c_int, ctypes.c_bool
)
_receive_message = _declare("mqtt_receive_message", _status, _handle, ctypes.c_int)
_loop_start = _declare("mqtt_loop_start", _status, _handle)
_loop_stop = _declare("mqtt_loop_stop", _status, _handle)
_disconnect = _declare("mqtt_disconnect", _status, _handle)
_connection_is_connected = _declare("mqtt_connection_is_connected", ctypes.c_bool, _handle)
_connection_client_id = _declare("mqtt_connection_client_id", _text, _handle)
_connection_free = _declare("mqtt_connection_free", None, _handle)


class MqttError(Exception):
    """A libmqtt call failed: ``status`` (an mqtt_status int), ``status_text`` and ``detail``."""

    def __init__(self, call, status):
        self.call = call
        self.status = status
        self.status_text = _status_str(status).decode()
        # Read right away, on the failing thread: the next libmqtt call on it overwrites it.
        self.detail = _last_error().decode(errors="replace")
        super().__init__(f"{call}: {self.status_text} ({self.detail})")


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


def topic_matches(topic_filter, topic):
    """Whether topic name `topic` matches `topic_filter` (MQTT section 4.7)."""
    matches = ctypes.c_bool(False)
    _check(
        "mqtt_topic_matches",
        _topic_matches(_encode(topic_filter), _encode(topic), ctypes.byref(matches)),
    )
    return matches.value


class Message:
    """A received message, copied out of the library's buffers, so it may be kept."""

    __slots__ = ("topic", "payload", "qos", "retain", "dup")

    def __init__(self, topic, payload, qos, retain, dup):
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup

    @classmethod
    def _from_c(cls, message):
        topic = ctypes.string_at(message.topic, message.topic_len).decode()
        payload = ctypes.string_at(message.payload, message.payload_len)
        return cls(topic, payload, message.qos, message.retain, message.dup)

    def __repr__(self):
        return (
            f"Message(topic={self.topic!r}, payload={self.payload!r}, qos={self.qos}, "
            f"retain={self.retain}, dup={self.dup})"
        )


class BrokerOptions:
    """Settings for a :class:`Broker`; they are copied when the broker is created."""

    def __init__(self, bind_address=None, max_connections=None, authenticator=None,
                 authorizer=None):
        """`authenticator(client_id, username, password)` gets str, str or None, bytes or None
        and returns AUTH_ACCEPT, AUTH_BAD_CREDENTIALS or AUTH_NOT_AUTHORIZED (True / False work
        too). `authorizer(client_id, username, topic, access)` returns whether the client may
        publish to (ACCESS_PUBLISH) or subscribe with (ACCESS_SUBSCRIBE) `topic`. Both run on
        the broker's connection threads, concurrently."""
        self.bind_address = bind_address
        self.max_connections = max_connections
        self.authenticator = authenticator
        self.authorizer = authorizer


class Broker:
    """An embedded MQTT broker. Use as a context manager, or call :meth:`close`."""

    def __init__(self, port=0, options=None):
        options = options or BrokerOptions()
        # The ctypes callbacks given to C: referenced here until the broker is freed.
        self._callbacks = []
        c_options = _checked_handle("mqtt_broker_options_new", _broker_options_new())
        try:
            self._configure(c_options, options)
            self._handle = _checked_handle(
                "mqtt_broker_new", _broker_new(str(port).encode(), c_options)
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
        if options.authorizer is not None:
            callback = _AUTHORIZER(_authorizer_trampoline(options.authorizer))
            self._callbacks.append(callback)
            _check(
                "mqtt_broker_options_set_authorizer",
                _broker_options_set_authorizer(c_options, callback, None),
            )

    def _live(self):
        if self._handle is None:
            raise ValueError("the broker is closed")
        return self._handle

    def start(self):
        """Starts listening; returns as soon as clients can connect."""
        _check("mqtt_broker_start", _broker_start(self._live()))

    @property
    def port(self):
        """The port listened on (the system's choice for port 0), once started."""
        return _broker_port(self._live())

    def publish(self, topic, payload=b"", qos=0, retain=False):
        """Publishes as if a client had sent it; never blocks on subscribers."""
        data, length = _byte_buffer(payload)
        _check(
            "mqtt_broker_publish",
            _broker_publish(self._live(), _encode(topic), data, length, qos, retain),
        )

    def stats(self):
        """A dict of the broker's counters."""
        stats = _BrokerStatistics()
        _check("mqtt_broker_stats", _broker_stats(self._live(), ctypes.byref(stats)))
        return {name: getattr(stats, name) for name, _ in _BrokerStatistics._fields_}

    def stop(self):
        """Closes every connection and waits for the broker's threads to finish."""
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


def _message_trampoline(callback):
    def trampoline(_userdata, message):
        try:
            callback(Message._from_c(message.contents))
        except BaseException:
            _report_callback_exception("a message callback")

    return trampoline


class ConnectOptions:
    """Settings for :meth:`Connection.connect`."""

    def __init__(self, client_id=None, username=None, password=None, keep_alive=None,
                 clean_session=None, will=None):
        """`will` is (topic, payload, qos, retain) or None."""
        self.client_id = client_id
        self.username = username
        self.password = password
        self.keep_alive = keep_alive
        self.clean_session = clean_session
        self.will = will

    def _to_c(self):
        handle = _checked_handle("mqtt_connect_options_new", _connect_options_new())
        try:
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
            return handle
        except BaseException:
            _connect_options_free(handle)
            raise


class Connection:
    """A client connection. Use as a context manager, or call :meth:`close`.

    Any method may be called from any Python thread and from a message callback, except
    :meth:`close`, which must not be called from this connection's callbacks.
    """

    def __init__(self, handle):
        self._handle = handle
        # Every ctypes callback given to mqtt_subscribe, kept until the connection is freed: a
        # replaced or unsubscribed one may still be running on the loop thread.
        self._callbacks = []

    @classmethod
    def connect(cls, host, port, options=None):
        """Connects and waits for CONNACK (at most the connect timeout, 30 s by default).
        Raises MqttError, e.g. with status 54 (bad user name or password) when refused."""
        c_options = (options or ConnectOptions())._to_c()
        try:
            handle = ctypes.c_void_p()
            _check(
                "mqtt_connect",
                _connect_ex(_encode(host), str(port).encode(), c_options, ctypes.byref(handle)),
            )
        finally:
            _connect_options_free(c_options)
        return cls(handle.value)

    def _live(self):
        if self._handle is None:
            raise ValueError("the connection is closed")
        return self._handle

    def subscribe(self, topic_filter, callback, qos=0):
        """Subscribes and waits for SUBACK; returns the granted QoS. `callback(message)` runs
        for each :class:`Message` whose most specific matching subscription is `topic_filter`,
        on the thread described in the module's documentation."""
        c_callback = _MESSAGE_CALLBACK(_message_trampoline(callback))
        self._callbacks.append(c_callback)
        granted = ctypes.c_int(-1)
        _check(
            "mqtt_subscribe",
            _subscribe(
                self._live(), _encode(topic_filter), qos, c_callback, None, ctypes.byref(granted)
            ),
        )
        return granted.value

    def unsubscribe(self, topic_filter):
        _check("mqtt_unsubscribe", _unsubscribe(self._live(), _encode(topic_filter)))

    def publish(self, topic, payload=b"", qos=0, retain=False):
        """Publishes; blocks until PUBACK (QoS 1) or PUBCOMP (QoS 2), at most the operation
        timeout. `payload` is bytes or str (sent as UTF-8)."""
        data, length = _byte_buffer(payload)
        _check(
            "mqtt_publish", _publish(self._live(), _encode(topic), data, length, qos, retain)
        )

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

    def disconnect(self):
        """Sends DISCONNECT (the broker then discards the will) and closes the connection."""
        _check("mqtt_disconnect", _disconnect(self._live()))

    @property
    def connected(self):
        return self._handle is not None and _connection_is_connected(self._handle)

    @property
    def client_id(self):
        return _connection_client_id(self._live()).decode()

    def close(self):
        """Frees the connection; if still open it is closed without DISCONNECT (the broker
        publishes the will) and the loop thread is joined. Then its callbacks are released."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle is not None:
            _connection_free(handle)
        self._callbacks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
