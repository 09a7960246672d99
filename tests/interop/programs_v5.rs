//! The C programs examples-c/publish.c and examples-c/subscribe.c with mosquitto_pub and
//! mosquitto_sub's MQTT 5.0 options (`-V 5`, `-D command property value`, `-F` formats, `--nl`,
//! `--rap`, `--retain-handling`), against a real mosquitto broker and mosquitto's own clients:
//! what our publish sends, mosquitto_sub prints, and what mosquitto_pub sends, our subscribe
//! prints the same way.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::interop_support::{PEER_TIMEOUT, PeerProcess, mosquitto_clients_present};
use crate::mosquitto::{Mosquitto, free_port};

// The build and run helpers the `client` and `shipping` binaries use; this binary declares no
// `mod programs` of its own.
#[allow(dead_code)]
#[path = "../programs/mod.rs"]
mod programs;

use programs::{examples_built, root, run_bounded};

/// The example program `name`, built by `make -C examples-c` (once per test binary).
fn program(name: &str) -> PathBuf {
    examples_built();
    root().join("examples-c/build").join(name)
}

/// `program` with `-h 127.0.0.1 -p port` and `args`, a command line split at spaces (no
/// argument these tests pass contains one, but for the usage errors', which add their own).
fn client(program: impl AsRef<OsStr>, port: u16, args: &str) -> Command {
    let mut command = Command::new(program);
    command
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args.split_whitespace());
    command
}

/// Our publish (or subscribe) with `-h 127.0.0.1 -p port` and `args`.
fn ours(name: &str, port: u16, args: &str) -> Command {
    let mut command = client(program(name), port, args);
    command.env_remove("LD_LIBRARY_PATH");
    command
}

/// mosquitto_pub or mosquitto_sub with `-h 127.0.0.1 -p port` and `args`.
fn theirs(name: &str, port: u16, args: &str) -> Command {
    client(name, port, args)
}

/// Runs a publisher to completion and asserts it exited 0.
fn publish_ok(mut command: Command) {
    let description = format!("{command:?}");
    let output = run_bounded(&mut command, PEER_TIMEOUT);
    assert!(
        output.status.success(),
        "{description}: {}",
        output.describe()
    );
}

/// A subscriber running in the background, its output read line by line.
fn spawn(command: Command) -> PeerProcess {
    PeerProcess::spawn(command, false)
}

/// The `-D publish ...` properties both directions send, after `-V 5`.
const PUBLISH_PROPERTIES: &str = "-D publish user-property a 1 -D publish user-property b 2 \
    -D publish content-type text/plain -D publish response-topic r/t \
    -D publish message-expiry-interval 30 -D publish correlation-data xyz \
    -D publish payload-format-indicator 1";

/// The `-D connect ...` properties our publish sends besides, all of which mosquitto accepts.
const CONNECT_PROPERTIES: &str = "-D connect user-property client libmqtt \
    -D connect receive-maximum 20 -D connect maximum-packet-size 65536 \
    -D connect topic-alias-maximum 5 -D connect session-expiry-interval 0 \
    -D connect request-problem-information 1 -D connect request-response-information 1";

/// The `-F` format both subscribers print with: topic, user properties, content type, response
/// topic, expiry, correlation data, payload format, payload.
const FORMAT: &str = "%t|%P|%C|%R|%E|%D|%F|%p";

/// Splits a line printed in [`FORMAT`] (plus `extra` fields) and checks the properties of
/// [`PUBLISH_PROPERTIES`] on a message with `topic` and `payload`.
fn assert_properties_line(line: &str, topic: &str, payload: &str, extra: usize) -> Vec<String> {
    let fields: Vec<String> = line.split('|').map(str::to_owned).collect();
    assert_eq!(fields.len(), 8 + extra, "{line:?}");
    assert_eq!(fields[0], topic, "topic: {line:?}");
    assert_eq!(fields[1], "a:1 b:2", "user properties, in order: {line:?}");
    assert_eq!(fields[2], "text/plain", "content type: {line:?}");
    assert_eq!(fields[3], "r/t", "response topic: {line:?}");
    let expiry: u32 = fields[4]
        .parse()
        .unwrap_or_else(|_| panic!("expiry: {line:?}"));
    assert!((25..=30).contains(&expiry), "expiry {expiry}: {line:?}");
    assert_eq!(fields[5], "xyz", "correlation data: {line:?}");
    assert_eq!(fields[6], "1", "payload format indicator: {line:?}");
    assert_eq!(fields[7], payload, "payload: {line:?}");
    fields
}

/// mosquitto and its clients, or `None` (after saying why; failing under CI=true).
fn mosquitto_with_clients() -> Option<Mosquitto> {
    if !mosquitto_clients_present() {
        return None;
    }
    Mosquitto::start()
}

/// Ours → mosquitto_sub. `build/publish -V 5 -D publish ...` sends every PUBLISH property
/// (and CONNECT properties mosquitto accepts); mosquitto_sub -V 5 -F prints each of them as
/// sent: the user properties unaltered and in order ([MQTT-3.3.2-17], [MQTT-3.3.2-18]
/// (MQTT 5.0)), the content type ([MQTT-3.3.2-20] (MQTT 5.0)), the response topic
/// ([MQTT-3.3.2-15] (MQTT 5.0)), the correlation data ([MQTT-3.3.2-16] (MQTT 5.0)), the payload
/// format indicator ([MQTT-3.3.2-4] (MQTT 5.0)) and the expiry interval less the time the
/// message waited ([MQTT-3.3.2-6] (MQTT 5.0)). A -D without -V makes publish an MQTT 5.0 client,
/// as it does mosquitto_pub: its user property arrives too.
#[test]
fn programs_v5_ours_publish_to_mosquitto_sub() {
    let Some(broker) = mosquitto_with_clients() else {
        return;
    };
    let port = broker.port;
    // A retained message first: mosquitto_sub printing it shows its subscription is in place.
    publish_ok(ours("publish", port, "-V 5 -t p5/ready -m ready -q 1 -r"));
    let subscriber = spawn(theirs(
        "mosquitto_sub",
        port,
        &format!("-V 5 -t p5/# -q 1 -C 3 -W 20 -F {FORMAT}"),
    ));
    assert_eq!(subscriber.expect_line(), "p5/ready|||||||ready");

    publish_ok(ours(
        "publish",
        port,
        &format!(
            "-V mqttv5 -t p5/props -m hello -q 1 {PUBLISH_PROPERTIES} {CONNECT_PROPERTIES} \
             -D publish topic-alias 1"
        ),
    ));
    assert_properties_line(&subscriber.expect_line(), "p5/props", "hello", 0);

    // No -V: the -D alone makes it MQTT 5.0, so the property can be sent at all.
    publish_ok(ours(
        "publish",
        port,
        "-t p5/implied -m v5 -D PUBLISH User-Property implied yes",
    ));
    let lines = subscriber.finish_ok(PEER_TIMEOUT);
    assert_eq!(lines, ["p5/implied|implied:yes||||||v5"]);
}

/// mosquitto_pub → ours. mosquitto_pub -V 5 -D publish ... sends the same properties;
/// `build/subscribe -V 5 -F` prints them as mosquitto_sub does ([MQTT-3.3.2-17],
/// [MQTT-3.3.2-18], [MQTT-3.3.2-20], [MQTT-3.3.2-15], [MQTT-3.3.2-16], [MQTT-3.3.2-4],
/// [MQTT-3.3.2-6] (MQTT 5.0)), with the QoS, RETAIN flag, payload length and hex payload, and
/// the Subscription Identifier its `-D subscribe subscription-identifier 7` asked for on every
/// message the subscription delivers ([MQTT-3.3.4-3] (MQTT 5.0)).
#[test]
fn programs_v5_mosquitto_pub_to_ours_subscribe() {
    let Some(broker) = mosquitto_with_clients() else {
        return;
    };
    let port = broker.port;
    publish_ok(theirs(
        "mosquitto_pub",
        port,
        "-V 5 -t s5/ready -m ready -q 1 -r",
    ));
    let subscriber = spawn(ours(
        "subscribe",
        port,
        &format!(
            "-V 5 -t s5/# -q 1 -C 2 -W 20 -F {FORMAT}|%q|%r|%l|%x|%S|%m\\t%% \
             -D subscribe subscription-identifier 7 -D subscribe user-property who me \
             -D connect user-property client libmqtt"
        ),
    ));
    assert_eq!(
        subscriber.expect_line(),
        "s5/ready|||||||ready|1|1|5|7265616479|7|0\t%"
    );
    publish_ok(theirs(
        "mosquitto_pub",
        port,
        &format!("-V 5 -t s5/props -m hello -q 1 {PUBLISH_PROPERTIES}"),
    ));
    let lines = subscriber.finish_ok(PEER_TIMEOUT);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let fields = assert_properties_line(&lines[0], "s5/props", "hello", 6);
    // QoS, RETAIN (a live message: 0), length, hex, Subscription Identifier; %m is always 0.
    assert_eq!(fields[8..], ["1", "0", "5", "68656c6c6f", "7", "0\t%"]);
}

/// Publishes "probe" on `topic` until `subscriber` prints a line: then its subscription is in
/// place. Returns that line.
fn wait_subscribed(port: u16, topic: &str, subscriber: &PeerProcess) -> String {
    let deadline = Instant::now() + PEER_TIMEOUT;
    loop {
        publish_ok(ours("publish", port, &format!("-t {topic} -m probe")));
        if let Some(line) = subscriber.next_line(Duration::from_millis(200)) {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "the subscriber printed nothing; stderr: {}",
            subscriber.stderr()
        );
    }
}

/// The next line of `subscriber` that is not a probe of [`wait_subscribed`].
fn next_message(subscriber: &PeerProcess) -> String {
    loop {
        let line = subscriber.expect_line();
        if !line.ends_with("|probe") {
            return line;
        }
    }
}

/// `build/subscribe -V 5 --retain-handling 2 --rap --nl`: the retained message that existed
/// before is not sent ([MQTT-3.3.1-11] (MQTT 5.0)); a retained message published meanwhile
/// keeps its RETAIN flag ([MQTT-3.3.1-13] (MQTT 5.0)); No Local only holds back the client's own
/// messages ([MQTT-3.8.3-3] (MQTT 5.0)), so those of other clients arrive. The programs cannot
/// show No Local's effect itself: our subscribe does not publish, and a publish with its client
/// identifier would take its session over. For contrast, a subscriber with the default options
/// gets the retained messages on subscribing, RETAIN set ([MQTT-3.3.1-9] (MQTT 5.0)), and a
/// retained message published meanwhile with RETAIN cleared ([MQTT-3.3.1-12] (MQTT 5.0)).
#[test]
fn programs_v5_subscription_options() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let port = broker.port;
    let retained = |topic: &str, payload: &str| {
        publish_ok(ours(
            "publish",
            port,
            &format!("-V 5 -t {topic} -m {payload} -q 1 -r"),
        ));
    };
    let subscribe = |options: &str| {
        spawn(ours(
            "subscribe",
            port,
            &format!("-V 5 -t rh/# -q 1 {options} -F %r|%t|%p"),
        ))
    };
    retained("rh/kept", "kept");

    let options = subscribe("-W 30 --nl --rap --retain-handling 2");
    assert_eq!(
        wait_subscribed(port, "rh/probe", &options),
        "0|rh/probe|probe"
    );
    retained("rh/live", "live");
    assert_eq!(next_message(&options), "1|rh/live|live");
    drop(options);

    let defaults = subscribe("-C 3 -W 30");
    let mut on_subscribe = vec![defaults.expect_line(), defaults.expect_line()];
    on_subscribe.sort();
    assert_eq!(on_subscribe, ["1|rh/kept|kept", "1|rh/live|live"]);
    retained("rh/later", "later");
    assert_eq!(
        defaults.finish_ok(PEER_TIMEOUT),
        ["0|rh/later|later"],
        "forwarded without Retain As Published"
    );
}

/// The usage errors of [`programs_v5_usage_errors`]: the program, what it is given besides the
/// options it requires, and what its message must name.
#[rustfmt::skip]
const USAGE_ERRORS: &[(&str, &[&str], &[&str])] = &[
    ("publish", &["-D", "publish", "no-such-property", "1"], &["unknown property", "no-such-property"]),
    ("publish", &["-D", "nonsense", "content-type", "x"], &["unknown command", "nonsense"]),
    ("publish", &["-D", "connect", "content-type", "x"], &["content-type", "not allowed for connect"]),
    ("publish", &["-D", "publish", "subscription-identifier", "3"], &["subscription-identifier", "not allowed for publish"]),
    ("publish", &["-D", "publish", "message-expiry-interval", "-1"], &["message-expiry-interval", "-1"]),
    ("publish", &["-D", "connect", "receive-maximum", "0"], &["receive-maximum", "1..65535"]),
    ("publish", &["-D", "publish", "payload-format-indicator", "2"], &["payload-format-indicator"]),
    ("publish", &["-D", "publish", "user-property", "lonely"], &["user-property", "a name and a value"]),
    ("publish", &["-D", "disconnect", "session-expiry-interval", "5"], &["disconnect", "not supported"]),
    ("publish", &["-D", "publish", "content-type", "x", "-V", "311"], &["-V 311"]),
    ("publish", &["-V", "4"], &["-V"]),
    ("subscribe", &["-D", "subscribe", "no-such-property", "1"], &["unknown property", "no-such-property"]),
    ("subscribe", &["-D", "subscribe", "content-type", "x"], &["content-type", "not allowed for subscribe"]),
    ("subscribe", &["-D", "subscribe", "subscription-identifier", "0"], &["subscription-identifier", "1..268435455"]),
    ("subscribe", &["-D", "publish", "content-type", "x"], &["publish", "not supported"]),
    ("subscribe", &["--nl"], &["--nl", "-V 5"]),
    ("subscribe", &["-V", "311", "--rap"], &["--rap", "-V 5"]),
    ("subscribe", &["-V", "5", "--retain-handling", "3"], &["--retain-handling"]),
    ("subscribe", &["-F", "%Z"], &["'Z'"]),
    ("subscribe", &["-F", "tail %"], &["incomplete"]),
    ("subscribe", &["-F", "\\q"], &["escape", "'q'"]),
    ("subscribe", &["-V", "5", "-c"], &["-i"]),
];

/// Bad usage exits 2 with a message naming what is wrong: an unknown -D property or command,
/// a property MQTT 5.0 does not allow for the command, a bad value, a missing value, a -V 311
/// after a -D, an MQTT 5.0 subscription option without -V 5, an unknown -F sequence.
#[test]
fn programs_v5_usage_errors() {
    // Nothing listens there: a usage error that went unnoticed would fail to connect (exit 1).
    let port = free_port();
    for (name, args, expected) in USAGE_ERRORS {
        let required = if *name == "publish" {
            "-t usage/t -m x"
        } else {
            "-t usage/t"
        };
        let mut command = ours(name, port, required);
        command.args(*args);
        let description = format!("{command:?}");
        let output = run_bounded(&mut command, PEER_TIMEOUT);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{description}: {}",
            output.describe()
        );
        for part in *expected {
            assert!(
                output.stderr.contains(part),
                "{description}: stderr does not name {part:?}: {}",
                output.describe()
            );
        }
    }
}
