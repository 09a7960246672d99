//! The Python binding (bindings/python/libmqtt.py, ctypes) through its example: an embedded
//! broker with Python authenticator and authorizer, a subscription whose Python callback runs on
//! the loop thread, a callback that raises, and publishes from the client and the broker.

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
    make(&[], &[]);
    let scratch = ScratchDir::new("python-checks");
    let script = scratch.path().join("checks.py");
    std::fs::write(&script, CHECKS).unwrap();
    let finished = run(
        Command::new("python3")
            .arg(&script)
            .env("PYTHONPATH", root().join("bindings/python"))
            .env("LIBMQTT_PATH", release_dir().join("libmqtt.so"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(60),
    );
    assert!(finished.success(), "{}", finished.describe());
    assert_eq!(
        finished.stdout.trim(),
        "checks passed",
        "{}",
        finished.describe()
    );
    assert!(
        finished
            .stderr
            .contains("libmqtt: exception in an authenticator (client refused)"),
        "{}",
        finished.describe()
    );
}

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
