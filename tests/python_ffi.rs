//! The Python binding (examples-c/python/libmqtt.py, ctypes) through its example: an embedded
//! broker with Python authenticator and authorizer, a subscription whose Python callback runs on
//! the loop thread, a callback that raises, and publishes from the client and the broker.

mod shipping;

use std::process::Command;
use std::time::Duration;

use shipping::*;

#[test]
fn python_example_embeds_a_broker_and_receives_through_a_callback() {
    // Builds target/release/libmqtt.so.
    make(&[], &[]);
    let finished = run(
        Command::new("python3")
            .arg("example.py")
            .current_dir(root().join("examples-c/python"))
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
