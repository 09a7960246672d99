//! The Python binding (bindings/python/libmqtt.py, ctypes) through its example: an embedded
//! broker with Python authenticator and authorizer, a subscription whose Python callback runs on
//! the loop thread, a callback that raises, and publishes from the client and the broker; then
//! MQTT 5.0 (properties, subscription identifier, No Local, a refusal, request/response). Two
//! scripts check the rest of the module (CHECKS) and its MQTT 5.0 surface (V5_CHECKS) value by
//! value.

use std::process::Command;
use std::time::Duration;

use super::support::*;

#[test]
fn python_example_embeds_a_broker_and_receives_through_a_callback() {
    // Builds target/release/libmqtt.so.
    make(&[], &[]);
    let finished = run(
        Command::new("python3")
            .arg("example.py")
            .current_dir(root().join("bindings/python"))
            .env("LIBMQTT_PATH", release_dir().join("libmqtt.so"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(60),
    );
    assert!(finished.success(), "{}", finished.describe());
    let lines: Vec<&str> = finished.stdout.lines().collect();
    let version_line = format!("libmqtt {} from Python", env!("CARGO_PKG_VERSION"));
    assert_eq!(lines.first().copied(), Some(version_line.as_str()));
    for expected in [
        // MQTT_STATUS_REFUSED_BAD_CREDENTIALS, raised as MqttError with mqtt_last_error's text.
        "refused as expected: status 54: mqtt_connect: ",
        "subscribed to example/# with QoS 1",
        "received example/broker hello from the embedded broker (QoS 0)",
        "received example/greeting hello from Python (QoS 1)",
        "callback thread: not the main thread",
        "example: all messages arrived; broker stopped",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "missing {expected:?}:\n{}",
            finished.describe()
        );
    }
    // The authorizer refused the publish to example/readonly/news.
    assert!(
        !finished.stdout.contains("readonly"),
        "{}",
        finished.describe()
    );
    // MQTT 5.0: every property of the publish intact (two user properties in order), the
    // subscription identifier, No Local (the client's own v5/chat message is not delivered
    // back, the responder's is), the refusal's reason code, and the response to a request on
    // the topic built from the broker's Response Information.
    let v5: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.starts_with("v5 "))
        .collect();
    assert_eq!(
        v5,
        [
            "v5 subscribed with reason code 1",
            r#"v5 received v5/sensors/kitchen {"t": 21.5}"#,
            "v5 user properties: [('unit', 'celsius'), ('sensor', 'kitchen')]",
            "v5 content type: application/json",
            "v5 response topic: v5/replies",
            "v5 correlation data: b'corr-1'",
            "v5 message expiry: 300",
            "v5 payload format: 1",
            "v5 subscription identifiers: [42]",
            "v5 no local: v5/chat hello from the responder",
            "v5 publish refused: status 61, reason code 0x87 (not authorized)",
            "v5 response replies/python-v5 echo: ping (text/plain)",
        ],
        "{}",
        finished.describe()
    );
    // The raising callback was reported, not propagated, and the loop thread went on.
    assert!(
        finished
            .stderr
            .contains("libmqtt: exception in a message callback (ignored)")
            && finished
                .stderr
                .contains("RuntimeError: deliberately broken callback for example/broken"),
        "{}",
        finished.describe()
    );
}

/// The module's API beyond the example: errors carry status and text, a raising authenticator
/// refuses, twenty callbacks referenced only by their connection survive a garbage collection
/// and run on the thread inside receive(), statistics, closed and freed connections.
#[test]
fn python_binding_reports_errors_keeps_callbacks_alive_and_receives_on_the_calling_thread() {
    let scratch = ScratchDir::new("python-checks");
    let finished = run_script(&scratch, CHECKS);
    assert_checks_passed(&finished, "checks passed");
    assert!(
        finished
            .stderr
            .contains("libmqtt: exception in an authenticator (client refused)"),
        "{}",
        finished.describe()
    );
}

/// MQTT 5.0 through the module against its embedded broker (V5_CHECKS), each value checked:
/// every publish property at QoS 1 and 2 and none on a plain publish, the subscription
/// identifier, both argument orders of subscribe(), No Local against a control subscriber,
/// request() answered by a second client (and None when nobody answers), v5 calls below level
/// 5, refusals as MqttError with status, reason_code and reason_text (publish at QoS 1 and 2,
/// payload format 0x99, publish_async through wait_published, subscribe, subscribe_many),
/// enhanced authentication with re-authentication, a will with properties published by
/// DISCONNECT 0x04, and the broker's events carrying protocol level and reason code.
#[test]
fn python_binding_speaks_mqtt_5_with_the_embedded_broker() {
    let scratch = ScratchDir::new("python-v5-checks");
    assert_checks_passed(&run_script(&scratch, V5_CHECKS), "v5 checks passed");
}

/// TLS through the module (TLS_CHECKS): a broker opening only its `listeners` (plain TCP and
/// TLS from the PEM files written here, plus a WebSocket one), their URLs, a client connecting
/// over TLS with the self-signed certificate as `ca_file` (by host and port, and by mqtts://
/// URL) whose publishes reach a plain-TCP subscriber, and TLS failures as MqttError with
/// STATUS_TLS: an unrelated CA, the system's CAs, a wrong server name, a missing CA file; then
/// `insecure`, TLS 1.3 only, reload_tls() and mqtt:// with TLS settings refused.
#[test]
fn python_binding_connects_over_tls_to_a_broker_with_several_listeners() {
    let scratch = ScratchDir::new("python-tls-checks");
    write_self_signed(scratch.path(), "");
    write_self_signed(scratch.path(), "other-");
    assert_checks_passed(&run_script(&scratch, TLS_CHECKS), "tls checks passed");
}

/// Persistence, restart and the extended authenticator through the module
/// (PERSISTENCE_CHECKS): first every ctypes struct of the module against the library's C
/// layout, field by field (names, order, offsets, sizes; the header is generated from the same
/// `#[repr(C)]` definitions). Then a Broker with a persistence file in the scratch directory
/// stores a retained message (persistence_stats: commits ≥ 1, no failure, bytes on disk), is
/// stopped and started again (the message still there), then closed; a new Broker on the same
/// file has it (retained count 1, a subscriber receives it with the retain flag), as does one
/// committing every 0.1 s. Without a file persistence_stats raises STATUS_INVALID_STATE, a
/// damaged file makes start() raise STATUS_PERSISTENCE. `authenticator_ex` sees the peer
/// address (the client's own socket address), no certificate identity on plain TCP and the
/// protocol level, refuses a wrong password, and refuses when it raises.
#[test]
fn python_binding_persists_restarts_and_authenticates_with_the_peer_address() {
    let scratch = ScratchDir::new("python-persistence-checks");
    std::fs::write(scratch.path().join("layouts.txt"), c_layouts()).unwrap();
    let finished = run_script(&scratch, PERSISTENCE_CHECKS);
    assert_checks_passed(&finished, "persistence checks passed");
    assert!(
        finished
            .stderr
            .contains("libmqtt: exception in an authenticator (client refused)"),
        "{}",
        finished.describe()
    );
}

/// The C layout of every struct the Python module mirrors, one `struct field offset size` line
/// a field in declaration order, then `struct sizeof 0 size`.
fn c_layouts() -> String {
    /// The size of what `field` points to.
    fn pointee_size<T>(_field: *const T) -> usize {
        std::mem::size_of::<T>()
    }
    let mut out = String::new();
    macro_rules! layout {
        ($name:ident: $($field:ident),+) => {{
            let value = std::mem::MaybeUninit::<mqtt::ffi::$name>::uninit();
            let base = value.as_ptr();
            $(
                // SAFETY: only the address of the field is taken, nothing is read.
                let size = pointee_size(unsafe { std::ptr::addr_of!((*base).$field) });
                out.push_str(&format!(
                    "{} {} {} {size}\n",
                    stringify!($name),
                    stringify!($field),
                    std::mem::offset_of!(mqtt::ffi::$name, $field),
                ));
            )+
            out.push_str(&format!(
                "{} sizeof 0 {}\n",
                stringify!($name),
                std::mem::size_of::<mqtt::ffi::$name>()
            ));
        }};
    }
    layout!(mqtt_message: topic, topic_len, payload, payload_len, qos, retain, dup);
    layout!(mqtt_broker_statistics: clients_connected, connections_accepted, sessions,
        subscriptions, retained_messages, messages_received, messages_sent, messages_dropped,
        tls_handshakes_failed, websocket_refused);
    layout!(mqtt_broker_event: kind, client_id, username, peer, clean_session, session_present,
        reason, reason_text, protocol_level, reason_code);
    layout!(mqtt_auth_step: exchange, client_id, username, method, data, data_len, step,
        reauthenticating, peer);
    layout!(mqtt_auth_request: client_id, username, password, password_len, peer,
        certificate_identity, protocol_level);
    layout!(mqtt_persistence_statistics: commits, failures, last_commit_micros, bytes_on_disk);
    out
}

const PERSISTENCE_CHECKS: &str = r##"
import ctypes
import os
import pathlib
import queue
import socket
import sys

import libmqtt

failures = []

def check(condition, what):
    if not condition:
        failures.append(what)
        print(f"FAILED: {what}", file=sys.stderr)

def error_of(call):
    try:
        call()
    except libmqtt.MqttError as error:
        return error
    return None

scratch = sys.argv[1]

# Every struct of the module is the C one: names, order, offsets and sizes of the fields.
STRUCTS = {
    "mqtt_message": libmqtt._Message,
    "mqtt_broker_statistics": libmqtt._BrokerStatistics,
    "mqtt_broker_event": libmqtt._BrokerEvent,
    "mqtt_auth_step": libmqtt._AuthStep,
    "mqtt_auth_request": libmqtt._AuthRequest,
    "mqtt_persistence_statistics": libmqtt._PersistenceStatistics,
}
c_layouts = {}
with open(os.path.join(scratch, "layouts.txt")) as layouts:
    for line in layouts:
        struct, field, offset, size = line.split()
        c_layouts.setdefault(struct, []).append((field, int(offset), int(size)))
check(sorted(c_layouts) == sorted(STRUCTS), f"the structs compared: {sorted(c_layouts)}")
for name, struct in STRUCTS.items():
    fields = [(field, getattr(struct, field).offset, getattr(struct, field).size)
              for field, _ in struct._fields_]
    fields.append(("sizeof", 0, ctypes.sizeof(struct)))
    check(fields == c_layouts.get(name), f"{name}: {fields} != C {c_layouts.get(name)}")

check(libmqtt.STATUS_PERSISTENCE == 47, "STATUS_PERSISTENCE is 47")
check(libmqtt.STATUS_INVALID_STATE == 20, "STATUS_INVALID_STATE is 20")

KEPT = [("persist/kept", b"kept", True)]

def received(port, count=1):
    """What a new subscriber to persist/# receives: `count` messages within 10 s, and any more
    within 0.2 s."""
    inbox = queue.Queue()
    got = []
    with libmqtt.Connection.connect("127.0.0.1", port) as sub:
        sub.subscribe("persist/#", 1, inbox.put)
        sub.loop_start()
        try:
            for _ in range(count):
                got.append(inbox.get(timeout=10))
            got.append(inbox.get(timeout=0.2))
        except queue.Empty:
            pass
        sub.loop_stop()
    return [(m.topic, m.payload, m.retain) for m in got]

store = os.path.join(scratch, "store.db")
broker = libmqtt.Broker(options=libmqtt.BrokerOptions(persistence=store))
try:
    broker.start()
    with libmqtt.Connection.connect("127.0.0.1", broker.port,
                                    libmqtt.ConnectOptions(client_id="persist-pub")) as pub:
        # Durable by default: PUBACK comes once the message is on disk.
        pub.publish("persist/kept", b"kept", qos=1, retain=True)
    stats = broker.persistence_stats()
    check(sorted(stats) == ["bytes_on_disk", "commits", "failures", "last_commit_micros"],
          f"persistence stats keys: {stats}")
    check(stats["commits"] >= 1, f"commits >= 1: {stats}")
    check(stats["failures"] == 0, f"no failed commit: {stats}")
    check(stats["bytes_on_disk"] > 0, f"bytes on disk: {stats}")
    check(broker.stats()["retained_messages"] == 1, "one retained message")

    # Restart of the same object.
    broker.stop()
    broker.stop()
    broker.start()
    check(broker.port != 0, "listening again")
    check(broker.stats()["retained_messages"] == 1, "retained after the restart of the object")
    got = received(broker.port)
    check(got == KEPT, f"a subscriber after the restart gets the retained message: {got}")
    error = error_of(broker.start)
    check(error is not None and error.status == 21, f"start while running: {error}")
finally:
    broker.close()

# A new broker on the same file (given as a path object).
with libmqtt.Broker(options=libmqtt.BrokerOptions(persistence=pathlib.Path(store))) as broker:
    broker.start()
    check(broker.stats()["retained_messages"] == 1, "retained count 1 in the new broker")
    got = received(broker.port)
    check(got == KEPT, f"a subscriber to the new broker gets the retained message: {got}")
    check(broker.persistence_stats()["failures"] == 0, "no failure in the new broker")

# Committed every 0.1 s: the message reaches the file by the stop at the latest.
options = libmqtt.BrokerOptions(persistence=os.path.join(scratch, "interval.db"),
                                persistence_sync=0.1)
with libmqtt.Broker(options=options) as broker:
    broker.start()
    broker.publish("persist/kept", b"kept", qos=1, retain=True)
    broker.stop()
    check(broker.persistence_stats()["commits"] >= 1, "interval: committed by the stop")
with libmqtt.Broker(options=options) as broker:
    broker.start()
    got = received(broker.port)
    check(got == KEPT, f"interval: the next broker has the retained message: {got}")
try:
    libmqtt.Broker(options=libmqtt.BrokerOptions(persistence=store, persistence_sync=-1))
    check(False, "a negative interval raises")
except ValueError:
    pass

with libmqtt.Broker() as memory:
    memory.start()
    error = error_of(memory.persistence_stats)
    check(error is not None and error.status == libmqtt.STATUS_INVALID_STATE,
          f"persistence_stats without a file: {error}")

damaged = os.path.join(scratch, "damaged.db")
with open(damaged, "w") as f:
    f.write("not a libmqtt store, not at all")
with libmqtt.Broker(options=libmqtt.BrokerOptions(persistence=damaged)) as broker:
    error = error_of(broker.start)
    check(error is not None and error.status == libmqtt.STATUS_PERSISTENCE,
          f"a damaged file: {error}")
    check(error is not None and "damaged.db" in error.detail, f"the error names the file: {error}")

# The extended authenticator.
def local_address(connection):
    with socket.socket(fileno=os.dup(connection.socket())) as s:
        host, port = s.getsockname()[:2]
    return f"{host}:{port}"

seen = []
def authenticate(request):
    seen.append(request)
    if request["username"] == "boom":
        raise ValueError("authenticator bug")
    return libmqtt.AUTH_ACCEPT if request["password"] == b"right" else libmqtt.AUTH_BAD_CREDENTIALS

with libmqtt.Broker(options=libmqtt.BrokerOptions(authenticator_ex=authenticate)) as broker:
    broker.start()
    error = error_of(lambda: libmqtt.Connection.connect("127.0.0.1", broker.port, libmqtt.ConnectOptions(
        client_id="auth-wrong", username="user", password=b"wrong")))
    check(error is not None and error.status == 54, f"a wrong password is refused: {error}")
    error = error_of(lambda: libmqtt.Connection.connect("127.0.0.1", broker.port, libmqtt.ConnectOptions(
        client_id="auth-boom", username="boom", password=b"right")))
    check(error is not None and error.status == 55, f"a raising authenticator refuses: {error}")
    right = dict(username="user", password="right")
    with libmqtt.Connection.connect("127.0.0.1", broker.port, libmqtt.ConnectOptions(
            client_id="auth-right", **right)) as v4, \
            libmqtt.Connection.connect("127.0.0.1", broker.port, libmqtt.ConnectOptions(
                client_id="auth-v5", protocol_level=5, **right)) as v5:
        check(v4.connected and v5.connected, "the right password is accepted")
        addresses = [local_address(v4), local_address(v5)]
    check(len(seen) == 4, f"four requests: {seen}")
    if len(seen) == 4:
        wrong = seen[0]
        check(wrong["client_id"] == "auth-wrong" and wrong["password"] == b"wrong"
              and wrong["peer"].startswith("127.0.0.1:") and wrong["protocol_level"] == 4,
              f"the refused client's request: {wrong}")
        expected = [("auth-right", addresses[0], 4), ("auth-v5", addresses[1], 5)]
        for request, (client_id, peer, level) in zip(seen[2:], expected):
            check(request == dict(client_id=client_id, username="user", password=b"right",
                                  peer=peer, certificate_identity=None, protocol_level=level),
                  f"request {request} from {peer}")

try:
    libmqtt.Broker(options=libmqtt.BrokerOptions(authenticator=lambda *a: True,
                                                 authenticator_ex=authenticate))
    check(False, "authenticator and authenticator_ex together raise")
except TypeError:
    pass

print("persistence checks passed" if not failures else f"{len(failures)} checks failed")
sys.exit(1 if failures else 0)
"##;

/// Runs the Python script `text` from `scratch` with the module of bindings/python and the
/// release library (built first), the scratch directory as its argument, within a minute.
fn run_script(scratch: &ScratchDir, text: &str) -> Finished {
    make(&[], &[]);
    let script = scratch.path().join("checks.py");
    std::fs::write(&script, text).unwrap();
    run(
        Command::new("python3")
            .arg(&script)
            .arg(scratch.path())
            .env("PYTHONPATH", root().join("bindings/python"))
            .env("LIBMQTT_PATH", release_dir().join("libmqtt.so"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(60),
    )
}

const TLS_CHECKS: &str = r##"
import os
import queue
import sys

import libmqtt

failures = []

def check(condition, what):
    if not condition:
        failures.append(what)
        print(f"FAILED: {what}", file=sys.stderr)

def error_of(call):
    try:
        call().close()
    except libmqtt.MqttError as error:
        return error
    return None

certs = sys.argv[1]
cert = os.path.join(certs, "cert.pem")
key = os.path.join(certs, "key.pem")
other_ca = os.path.join(certs, "other-cert.pem")

check(libmqtt.STATUS_TLS == 46, "STATUS_TLS is 46")
options = libmqtt.BrokerOptions(listeners=[
    ("tcp", "127.0.0.1", 0, None),
    ("tls", "127.0.0.1", 0, dict(cert_file=cert, key_file=key)),
    ("ws", "127.0.0.1", 0, None),
])
with libmqtt.Broker(port=None, options=options) as broker:
    broker.start()
    urls = broker.listener_urls()
    ports = broker.listener_ports()
    check(len(urls) == 3 and len(ports) == 3, f"three listeners: {urls} {ports}")
    check(all(p != 0 for p in ports) and len(set(ports)) == 3, f"three ports: {ports}")
    tcp_port, tls_port = ports[0], ports[1]
    check(urls[0] == f"mqtt://127.0.0.1:{tcp_port}", f"TCP URL {urls[0]}")
    check(urls[1] == f"mqtts://127.0.0.1:{tls_port}", f"TLS URL {urls[1]}")
    check(urls[2] == f"ws://127.0.0.1:{ports[2]}/mqtt", f"WebSocket URL {urls[2]}")

    inbox = queue.Queue()
    with libmqtt.Connection.connect("127.0.0.1", tcp_port,
                                    libmqtt.ConnectOptions(client_id="plain-sub")) as sub:
        sub.subscribe("tls/#", 1, inbox.put)
        sub.loop_start()
        trusted = libmqtt.ConnectOptions(client_id="tls-pub", tls=dict(ca_file=cert))
        with libmqtt.Connection.connect("localhost", tls_port, trusted) as pub:
            check(pub.connected, "connected over TLS by host name")
            pub.publish("tls/by-host", b"secret 1", qos=1)
        by_url = libmqtt.ConnectOptions(client_id="tls-url", tls=dict(ca_file=cert, min_version=12))
        with libmqtt.connect_url(urls[1], by_url) as pub:
            pub.publish("tls/by-url", "secret 2", qos=1)
        tls13 = libmqtt.ConnectOptions(tls=dict(ca_file=cert, min_version=13,
                                                server_name="localhost"))
        with libmqtt.Connection.connect("127.0.0.1", tls_port, tls13) as pub:
            pub.publish("tls/tls13", b"secret 3", qos=1)
        with libmqtt.connect_url(urls[0]) as pub:
            pub.publish("tls/plain", b"clear", qos=1)
        received = []
        try:
            for _ in range(4):
                message = inbox.get(timeout=10)
                received.append((message.topic, message.payload))
        except queue.Empty:
            pass
        check(sorted(received) == [("tls/by-host", b"secret 1"), ("tls/by-url", b"secret 2"),
                                   ("tls/plain", b"clear"), ("tls/tls13", b"secret 3")],
              f"the plain subscriber got every TLS publish: {received}")
        sub.loop_stop()

    # The certificate is not trusted, or names another host, or the CA file is missing.
    failing = {
        "an unrelated CA": dict(ca_file=other_ca),
        "the system's CAs": {},
        "insecure off": dict(ca_file=other_ca, insecure=False),
        "a wrong server name": dict(ca_file=cert, server_name="example.com"),
        "a missing CA file": dict(ca_file=os.path.join(certs, "missing.pem")),
    }
    for what, settings in failing.items():
        error = error_of(lambda: libmqtt.Connection.connect(
            "127.0.0.1", tls_port, libmqtt.ConnectOptions(connect_timeout=5, tls=settings)))
        check(error is not None and error.status == libmqtt.STATUS_TLS,
              f"{what}: status 46, got {error and error.status}")
        check(error is None or error.status_text != "", f"{what}: status text")
    error = error_of(lambda: libmqtt.connect_url(
        urls[1], libmqtt.ConnectOptions(tls=dict(ca_file=other_ca))))
    check(error is not None and error.status == libmqtt.STATUS_TLS,
          f"mqtts:// with an unrelated CA: status 46, got {error and error.status}")
    # TLS settings on an mqtt:// URL are refused, as is an unknown setting.
    error = error_of(lambda: libmqtt.connect_url(
        urls[0], libmqtt.ConnectOptions(tls=dict(ca_file=cert))))
    check(error is not None and error.status == 2,
          f"mqtt:// with TLS settings: invalid argument (2), got {error and error.status}")
    try:
        libmqtt.ConnectOptions(tls=dict(ca=cert))._to_c([])
        check(False, "an unknown TLS setting raises")
    except TypeError:
        pass
    # insecure accepts the untrusted certificate.
    insecure = libmqtt.ConnectOptions(tls=dict(ca_file=other_ca, insecure=True))
    with libmqtt.Connection.connect("127.0.0.1", tls_port, insecure) as pub:
        check(pub.connected, "insecure connects")
    broker.reload_tls()

# A TLS listener without a certificate is refused when the options are built.
try:
    libmqtt.Broker(port=None, options=libmqtt.BrokerOptions(
        listeners=[("tls", "127.0.0.1", 0, {})]))
    check(False, "a TLS listener without certificate raises")
except libmqtt.MqttError as error:
    check(error.status == 2, f"invalid argument (2), got {error.status}")
try:
    libmqtt.Broker(port=None, options=libmqtt.BrokerOptions(
        listeners=[("tls", "127.0.0.1", 0, None)]))
    check(False, "a TLS listener without TLS options raises")
except libmqtt.MqttError as error:
    check(error.status != 0, f"refused, got {error.status}")

print("tls checks passed" if not failures else f"{len(failures)} checks failed")
sys.exit(1 if failures else 0)
"##;

const CHECKS: &str = r#"
import gc
import sys
import threading

import libmqtt

failures = []

def check(condition, what):
    if not condition:
        failures.append(what)
        print(f"FAILED: {what}", file=sys.stderr)

# Argument errors become MqttError carrying mqtt_status_str and mqtt_last_error.
check(libmqtt.topic_matches("sport/#", "sport/tennis"), "sport/# matches sport/tennis")
check(not libmqtt.topic_matches("sport/+", "sport/a/b"), "sport/+ does not match sport/a/b")
try:
    libmqtt.topic_matches("sport/#/x", "sport")
    check(False, "an invalid filter raises")
except libmqtt.MqttError as error:
    check(error.status == 4, f"invalid topic status 4, got {error.status}")
    check(error.status_text == "invalid topic", error.status_text)
    check(error.detail != "", "mqtt_last_error text is carried")

def raising_authenticator(client_id, username, password):
    if username == "boom":
        raise ValueError("authenticator bug")
    return True

with libmqtt.Broker(options=libmqtt.BrokerOptions(authenticator=raising_authenticator)) as broker:
    broker.start()
    try:
        libmqtt.Connection.connect("127.0.0.1", broker.port, libmqtt.ConnectOptions(username="boom"))
        check(False, "a raising authenticator refuses")
    except libmqtt.MqttError as error:
        check(error.status == 55, f"refused as not authorized (55), got {error.status}")

    with libmqtt.Connection.connect("127.0.0.1", broker.port,
                                    libmqtt.ConnectOptions(client_id="checker")) as connection:
        check(connection.client_id == "checker", "client id")
        # Many callbacks referenced only by the connection; collected garbage must not free them.
        seen = []
        lock = threading.Lock()
        for i in range(20):
            def record(message, i=i):
                with lock:
                    seen.append((i, message.topic, message.payload))
            connection.subscribe(f"gc/{i}", record, qos=1)
        del record
        gc.collect()
        for i in range(20):
            broker.publish(f"gc/{i}", f"payload {i}".encode(), qos=1)
        # No loop thread: callbacks run here, inside receive().
        deadline = 200
        while len(seen) < 20 and deadline > 0:
            connection.receive(timeout=0.05)
            deadline -= 1
        check(sorted(seen) == [(i, f"gc/{i}", f"payload {i}".encode()) for i in range(20)],
              f"all 20 callbacks ran with their own messages: {sorted(seen)[:3]}...")
        check(not connection.receive(timeout=0.05), "receive times out when nothing comes")
        try:
            connection.publish("bad/+", b"x")
            check(False, "publishing to a wildcard topic raises")
        except libmqtt.MqttError as error:
            check(error.status == 4, f"status 4, got {error.status}")
        stats = broker.stats()
        check(stats["clients_connected"] == 1, f"one client connected: {stats}")
        check(stats["subscriptions"] == 20, f"20 subscriptions: {stats}")
        check(stats["tls_handshakes_failed"] == 0, f"no TLS listener, no failure: {stats}")
        check(stats["websocket_refused"] == 0, f"no WebSocket listener, no refusal: {stats}")
        connection.disconnect()
        check(not connection.connected, "disconnected")
        try:
            connection.receive(timeout=0.05)
            check(False, "receive on a closed connection raises")
        except libmqtt.MqttError as error:
            check(error.status == 43, f"closed (43), got {error.status}")
    try:
        connection.publish("t", b"x")
        check(False, "a freed connection refuses calls")
    except ValueError:
        pass

print("checks passed" if not failures else f"{len(failures)} checks failed")
sys.exit(1 if failures else 0)
"#;

const V5_CHECKS: &str = r##"
import queue
import sys
import threading
import time

import libmqtt

failures = []

def check(condition, what):
    if not condition:
        failures.append(what)
        print(f"FAILED: {what}", file=sys.stderr)

def error_of(call):
    try:
        call()
    except libmqtt.MqttError as error:
        return error
    return None

def v5(client_id, **settings):
    return libmqtt.ConnectOptions(client_id=client_id, protocol_level=5, **settings)

def take(inbox, count, timeout=10):
    taken = []
    try:
        for _ in range(count):
            taken.append(inbox.get(timeout=timeout))
    except queue.Empty:
        pass
    return taken

def authorize(client_id, username, topic, access):
    if access == libmqtt.ACCESS_PUBLISH:
        return "readonly" not in topic.split("/")
    return not topic.startswith("secret/")

def enhanced(step):
    # Method "token": CONNECT sends "hello", the broker challenges, "answer" is right; a
    # re-authentication sends "again" and must answer "again-answer".
    if step["method"] != "token":
        return 0x8C
    if step["reauthenticating"]:
        first, challenge, right = b"again", b"rechallenge", b"again-answer"
    else:
        first, challenge, right = b"hello", b"challenge", b"answer"
    if step["step"] == 0 and step["data"] == first:
        return 0x18, challenge
    return 0x00 if step["step"] == 1 and step["data"] == right else 0x87

events = []
options = libmqtt.BrokerOptions(authorizer=authorize, enhanced_authenticator=enhanced,
                                on_event=events.append)
with libmqtt.Broker(options=options) as broker:
    broker.start()
    port = broker.port

    # Every publish property arrives intact, at QoS 1 and 2; a plain publish has none.
    inbox = queue.Queue()
    with libmqtt.Connection.connect("127.0.0.1", port, v5("props-sub")) as sub, \
            libmqtt.Connection.connect("127.0.0.1", port, v5(
                "props-pub", session_expiry=60, receive_maximum=10, maximum_packet_size=1 << 20,
                topic_alias_maximum=5, request_problem_information=False,
                request_response_information=False, user_properties={"connect": "1"})) as pub:
        # The brief's argument order: filter, QoS, callback.
        check(sub.subscribe("props/#", 2, inbox.put, subscription_identifier=7) == 2,
              "SUBACK reason code 2")
        sub.loop_start()
        properties = dict(
            user_properties=[("a", "1"), ("b", "2")],
            content_type="text/plain; charset=utf-8",
            response_topic="props/reply",
            correlation_data=b"\x00\x01\xff",
            message_expiry=60,
            payload_format=1,
        )
        check(pub.publish("props/full", "hello", qos=1, **properties) == 0,
              "PUBACK reason code 0")
        check(pub.publish("props/full", b"again", qos=2, **properties) == 0,
              "PUBCOMP reason code 0")
        pub.publish("props/plain", b"bare", qos=1)
        received = take(inbox, 3)
        check(len(received) == 3, f"three messages, got {received}")
        for message, qos, payload in zip(received[:2], (1, 2), (b"hello", b"again")):
            which = f"QoS {qos}"
            check(message.topic == "props/full", f"{which} topic {message.topic}")
            check(message.qos == qos and message.payload == payload, f"{which}: {message}")
            check(message.user_properties == [("a", "1"), ("b", "2")],
                  f"{which} user properties in order: {message.user_properties}")
            check(message.content_type == "text/plain; charset=utf-8", f"{which} content type")
            check(message.response_topic == "props/reply", f"{which} response topic")
            check(message.correlation_data == b"\x00\x01\xff", f"{which} correlation data")
            check(message.message_expiry is not None and 55 <= message.message_expiry <= 60,
                  f"{which} message expiry {message.message_expiry}")
            check(message.payload_format == 1, f"{which} payload format")
            check(message.subscription_identifiers == [7], f"{which} subscription identifier")
        if len(received) == 3:
            plain = received[2]
            check(plain.payload == b"bare" and plain.user_properties == [], f"plain: {plain}")
            check((plain.content_type, plain.response_topic, plain.correlation_data,
                   plain.message_expiry, plain.payload_format) == (None,) * 5,
                  f"no properties on a plain publish: {plain}")
            check(plain.subscription_identifiers == [7], "the identifier on a plain publish")
        sub.loop_stop()

    # No Local: the subscriber does not get its own message, a control subscriber does.
    mine, control = queue.Queue(), queue.Queue()
    with libmqtt.Connection.connect("127.0.0.1", port, v5("nolocal-self")) as me, \
            libmqtt.Connection.connect("127.0.0.1", port, v5("nolocal-other")) as other:
        me.subscribe("nolocal/t", 1, lambda m: mine.put(m.payload), no_local=True)
        # The module's earlier argument order still works.
        other.subscribe("nolocal/t", lambda m: control.put(m.payload), qos=1)
        me.loop_start()
        other.loop_start()
        me.publish("nolocal/t", b"from self", qos=1)
        other.publish("nolocal/t", b"from other", qos=1)
        check(sorted(take(control, 2)) == [b"from other", b"from self"],
              "the control subscriber got both")
        check(take(mine, 1) == [b"from other"], "no-local subscriber got the other's message")
        check(take(mine, 1, timeout=0.3) == [], "and not its own")
        me.loop_stop()
        other.loop_stop()

    # request(): a second client answers on the Response Topic with the Correlation Data.
    seen = queue.Queue()
    with libmqtt.Connection.connect("127.0.0.1", port, v5("responder")) as responder, \
            libmqtt.Connection.connect("127.0.0.1", port, v5("requester")) as requester:
        def answer(request):
            seen.put((request.response_topic, request.correlation_data))
            responder.publish(request.response_topic, b"pong:" + request.payload, qos=1,
                              correlation_data=request.correlation_data,
                              user_properties=[("handled-by", "responder")])
        responder.subscribe("svc/echo", 1, answer)
        responder.loop_start()
        response = requester.request("svc/echo", b"ping", qos=1, timeout=10)
        check(isinstance(response, libmqtt.Message), f"a response: {response!r}")
        if response is not None:
            check(response.payload == b"pong:ping", f"response payload {response.payload!r}")
            check(response.topic == "libmqtt/response/requester", f"topic {response.topic}")
            check(response.user_properties == [("handled-by", "responder")],
                  f"response user properties {response.user_properties}")
            topic, correlation = seen.get(timeout=1)
            check(topic == "libmqtt/response/requester", f"the request's response topic {topic}")
            check(response.correlation_data == correlation and len(correlation) > 0,
                  "the response carries the request's correlation data")
        check(requester.request("svc/nobody", b"ping", qos=1, timeout=0.3) is None,
              "request returns None when nobody answers")
        responder.loop_stop()

    with libmqtt.Connection.connect("127.0.0.1", port) as v4:
        error = error_of(lambda: v4.request("svc/echo", b"ping", timeout=1))
        check(error is not None and error.status == 2, f"request below level 5: {error}")
        error = error_of(lambda: v4.publish("t", b"x", qos=1, content_type="text/plain"))
        check(error is not None and error.status == 2, f"properties below level 5: {error}")

    # Refusals surface the reason code.
    with libmqtt.Connection.connect("127.0.0.1", port, v5("refused")) as c:
        for qos in (1, 2):
            error = error_of(lambda: c.publish("news/readonly", b"x", qos=qos,
                                               user_properties=[("k", "v")]))
            check(error is not None, f"QoS {qos} refused publish raises")
            if error is not None:
                check(error.status == libmqtt.STATUS_PUBLISH_REFUSED, f"status {error.status}")
                check(error.reason_code == 0x87, f"reason code {error.reason_code}")
                check(error.reason_text == "not authorized", error.reason_text)
                check("[reason code 0x87 not authorized]" in str(error), str(error))
        error = error_of(lambda: c.publish("text/t", b"\xff\xfe", qos=1, payload_format=1))
        check(error is not None and error.status == libmqtt.STATUS_PUBLISH_REFUSED
              and error.reason_code == 0x99, f"invalid UTF-8 refused with 0x99: {error}")
        packet_id = c.publish_async("news/readonly", b"x", qos=1, content_type="text/plain")
        error = error_of(lambda: c.wait_published(packet_id, timeout=10))
        check(error is not None and error.status == libmqtt.STATUS_PUBLISH_REFUSED
              and error.reason_code == 0x87, f"async refusal through wait_published: {error}")
        error = error_of(lambda: c.subscribe("secret/#", 1, lambda m: None))
        check(error is not None and error.status == libmqtt.STATUS_SUBSCRIBE_FAILED
              and error.reason_code == 0x87 and error.reason_text == "not authorized",
              f"refused subscription: {error}")
        codes = c.subscribe_many([("open/+", 1), ("secret/x", 0)], lambda m: None,
                                 retain_handling=2)
        check(codes == [1, 0x87], f"subscribe_many reason codes {codes}")
        check(error_of(lambda: c.unsubscribe("never/subscribed")) is None,
              "unsubscribing nothing (0x11) is not an error")
        check(libmqtt.reason_code_str(0x11) == "no subscription existed",
              libmqtt.reason_code_str(0x11))
        error = error_of(lambda: c.publish("bad/+", b"x", qos=1, content_type="text/plain"))
        check(error is not None and error.status == 4 and error.reason_code is None
              and error.reason_text is None, f"a local error has no reason code: {error}")
        try:
            c.subscribe("x", 1)
            check(False, "subscribe without a callback raises")
        except TypeError:
            pass

    # Enhanced authentication and re-authentication.
    answered = []
    def answer(method, data):
        answered.append((method, data))
        return b"answer" if data == b"challenge" else "again-answer"
    with libmqtt.Connection.connect("127.0.0.1", port, v5(
            "auth-ok", authentication=("token", b"hello", answer))) as c:
        check(c.connected, "connected with enhanced authentication")
        c.reauthenticate(b"again")
        check(c.connected, "still connected after re-authentication")
        check(answered == [("token", b"challenge"), ("token", b"rechallenge")],
              f"both challenges answered: {answered}")
    error = error_of(lambda: libmqtt.Connection.connect("127.0.0.1", port, v5(
        "auth-wrong", authentication=("token", b"hello", lambda m, d: b"wrong"))))
    check(error is not None and error.status == 55 and error.reason_code == 0x87,
          f"a wrong answer is refused with 0x87: {error}")
    error = error_of(lambda: libmqtt.Connection.connect("127.0.0.1", port, v5(
        "auth-give-up", authentication=("token", b"hello", lambda m, d: None))))
    check(error is not None and error.status == libmqtt.STATUS_AUTH_FAILED,
          f"giving up fails with AUTH_FAILED: {error}")

    # A will with properties, published on DISCONNECT 0x04.
    wills = queue.Queue()
    with libmqtt.Connection.connect("127.0.0.1", port, v5("will-watcher")) as watcher:
        watcher.subscribe("wills/#", 1, wills.put)
        watcher.loop_start()
        owner = libmqtt.Connection.connect("127.0.0.1", port, v5(
            "will-owner", will=("wills/owner", b"gone", 1, False),
            will_properties=dict(content_type="text/plain", user_properties=[("why", "test")]),
            will_delay=0))
        owner.disconnect(reason_code=0x04)
        owner.close()
        got = take(wills, 1)
        check(len(got) == 1, "DISCONNECT 0x04 published the will")
        if got:
            check(got[0].payload == b"gone" and got[0].content_type == "text/plain"
                  and got[0].user_properties == [("why", "test")], f"the will: {got[0]}")
        watcher.loop_stop()

    connected = [e for e in events if e["kind"] == "connected" and e["client_id"] == "props-pub"]
    check(len(connected) == 1 and connected[0]["protocol_level"] == 5,
          f"the broker saw protocol level 5: {connected}")
    # The broker reports the disconnect on the connection's thread, which may come after the
    # will reached the watcher: wait for it, boundedly.
    def owner_ended():
        return [e for e in events
                if e["kind"] == "disconnected" and e["client_id"] == "will-owner"]
    deadline = time.monotonic() + 10
    while not owner_ended() and time.monotonic() < deadline:
        time.sleep(0.01)
    ended = owner_ended()
    check(len(ended) == 1 and ended[0]["reason_code"] == 0x04,
          f"the broker saw DISCONNECT 0x04: {ended}")

# The log callback and redirect_client: a 5.0 client sent elsewhere, its lines logged.
lines = queue.Queue()
options = libmqtt.BrokerOptions(log=lambda kind, line: lines.put((kind, line)),
                                log_types=libmqtt.LOG_NOTICE)
with libmqtt.Broker(options=options) as logged:
    logged.start()
    moved = libmqtt.Connection.connect("127.0.0.1", logged.port, v5("moved"))
    try:
        logged.redirect_client("moved", "elsewhere.example:1883", permanent=True)
        deadline = time.monotonic() + 10
        while logged.stats()["clients_connected"] and time.monotonic() < deadline:
            time.sleep(0.01)
        check(logged.stats()["clients_connected"] == 0, "redirect_client closed the connection")
    finally:
        moved.close()
    error = error_of(lambda: logged.redirect_client("nobody", "elsewhere.example"))
    check(error is not None and error.status == libmqtt.STATUS_NOT_FOUND,
          f"redirecting an unknown client: {error}")
    error = error_of(lambda: logged.disconnect_client("nobody"))
    check(error is not None and error.status == libmqtt.STATUS_NOT_FOUND,
          f"disconnecting an unknown client: {error}")
    logged_lines = take(lines, 20, timeout=0.5)
    check(all(kind == libmqtt.LOG_NOTICE for kind, _ in logged_lines),
          f"only notices: {logged_lines}")
    check(any("moved" in line and "connected" in line for _, line in logged_lines),
          f"the connect was logged: {logged_lines}")

print("v5 checks passed" if not failures else f"{len(failures)} checks failed")
sys.exit(1 if failures else 0)
"##;
