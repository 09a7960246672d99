//! The client through its C API: the exported functions called from Rust as C would call them,
//! and the C programs (subscribe, publish, the demo) run against this project's broker.

use std::ffi::{CStr, CString, c_int, c_void};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::ptr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::support::{examples_built, root};
use mqtt::broker::{AuthResult, Broker, BrokerOptions};
use mqtt::ffi::*;

fn start_broker(options: BrokerOptions) -> Broker {
    let broker = Broker::new(options);
    broker.start().expect("start broker");
    broker
}

fn port_string(broker: &Broker) -> CString {
    CString::new(broker.port().to_string()).unwrap()
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(mqtt_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// What the C callback saw: (topic, payload, qos, retain).
type Seen = Mutex<Vec<(String, Vec<u8>, c_int, bool)>>;

unsafe extern "C" fn record(userdata: *mut c_void, message: *const mqtt_message) {
    let seen = unsafe { &*(userdata as *const Seen) };
    let m = unsafe { &*message };
    let topic = unsafe { CStr::from_ptr(m.topic) }
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(topic.len(), m.topic_len);
    assert!(!m.payload.is_null());
    let payload = unsafe { std::slice::from_raw_parts(m.payload, m.payload_len) }.to_vec();
    seen.lock().unwrap().push((topic, payload, m.qos, m.retain));
}

fn connect(broker: &Broker, options: *const mqtt_connect_options) -> *mut mqtt_connection {
    let connection =
        unsafe { mqtt_connect(c"127.0.0.1".as_ptr(), port_string(broker).as_ptr(), options) };
    assert!(!connection.is_null(), "mqtt_connect: {}", last_error());
    connection
}

/// The issue's usage example, step by step: subscribe, explicit receive at every QoS, an empty
/// payload, retained, unsubscribe, disconnect, free.
#[test]
fn c_api_round_trip() {
    let broker = start_broker(BrokerOptions::with_port(0));
    let sub = connect(&broker, ptr::null());
    let publisher = connect(&broker, ptr::null());
    let seen: Seen = Mutex::default();
    let userdata = &seen as *const Seen as *mut c_void;
    unsafe {
        let mut granted: c_int = -1;
        assert_eq!(
            mqtt_subscribe(
                sub,
                c"c/+".as_ptr(),
                2,
                Some(record),
                userdata,
                &mut granted
            ),
            mqtt_status::Ok
        );
        assert_eq!(granted, 2);
        for qos in 0..=2 {
            let payload = format!("Hello MQTT {qos}");
            assert_eq!(
                mqtt_publish(
                    publisher,
                    c"c/t".as_ptr(),
                    payload.as_ptr(),
                    payload.len(),
                    qos,
                    false
                ),
                mqtt_status::Ok
            );
            assert_eq!(mqtt_receive_message(sub, 5000), mqtt_status::Ok);
        }
        assert_eq!(
            mqtt_publish(publisher, c"c/empty".as_ptr(), ptr::null(), 0, 0, false),
            mqtt_status::Ok
        );
        assert_eq!(mqtt_receive_message(sub, 5000), mqtt_status::Ok);
        let got = seen.lock().unwrap().clone();
        assert_eq!(
            got,
            [
                ("c/t".to_owned(), b"Hello MQTT 0".to_vec(), 0, false),
                ("c/t".to_owned(), b"Hello MQTT 1".to_vec(), 1, false),
                ("c/t".to_owned(), b"Hello MQTT 2".to_vec(), 2, false),
                ("c/empty".to_owned(), Vec::new(), 0, false),
            ]
        );
        assert_eq!(mqtt_receive_message(sub, 100), mqtt_status::Timeout);
        assert_eq!(mqtt_unsubscribe(sub, c"c/+".as_ptr()), mqtt_status::Ok);

        // Pipelined publishes.
        let mut ids = Vec::new();
        for _ in 0..20 {
            let mut id: u16 = 0;
            assert_eq!(
                mqtt_publish_async(
                    publisher,
                    c"c/async".as_ptr(),
                    b"x".as_ptr(),
                    1,
                    1,
                    false,
                    &mut id
                ),
                mqtt_status::Ok
            );
            assert_ne!(id, 0);
            ids.push(id);
        }
        for id in ids {
            assert_eq!(mqtt_wait_published(publisher, id, 5000), mqtt_status::Ok);
        }
        assert_eq!(
            mqtt_wait_published(publisher, 0, 10),
            mqtt_status::InvalidArgument
        );
        assert_eq!(mqtt_ping(publisher), mqtt_status::Ok);

        assert_eq!(mqtt_disconnect(sub), mqtt_status::Ok);
        assert!(!mqtt_connection_is_connected(sub));
        assert_eq!(mqtt_receive_message(sub, -1), mqtt_status::Closed);
        assert_eq!(
            mqtt_publish(sub, c"c/t".as_ptr(), ptr::null(), 0, 0, false),
            mqtt_status::Closed
        );
        mqtt_connection_free(sub);
        mqtt_connection_free(publisher);
    }
    broker.stop();
}

/// Arguments are checked: NULL pointers, QoS out of range, invalid topics, bad ports and
/// timeouts give their statuses instead of crashing.
#[test]
fn c_api_checks_arguments() {
    let broker = start_broker(BrokerOptions::with_port(0));
    let c = connect(&broker, ptr::null());
    unsafe {
        let seen: Seen = Mutex::default();
        let userdata = &seen as *const Seen as *mut c_void;
        assert_eq!(
            mqtt_subscribe(c, c"a".as_ptr(), 3, Some(record), userdata, ptr::null_mut()),
            mqtt_status::InvalidQos
        );
        assert_eq!(
            mqtt_subscribe(
                c,
                c"a/#/b".as_ptr(),
                0,
                Some(record),
                userdata,
                ptr::null_mut()
            ),
            mqtt_status::InvalidTopic
        );
        assert_eq!(
            mqtt_subscribe(c, c"a".as_ptr(), 0, None, userdata, ptr::null_mut()),
            mqtt_status::NullArgument
        );
        assert_eq!(
            mqtt_subscribe(
                ptr::null(),
                c"a".as_ptr(),
                0,
                Some(record),
                userdata,
                ptr::null_mut()
            ),
            mqtt_status::NullArgument
        );
        assert_eq!(
            mqtt_publish(c, c"a/+".as_ptr(), ptr::null(), 0, 0, false),
            mqtt_status::InvalidTopic
        );
        assert_eq!(
            mqtt_publish(c, c"a".as_ptr(), ptr::null(), 5, 0, false),
            mqtt_status::NullArgument
        );
        assert_eq!(mqtt_receive_message(c, -5), mqtt_status::InvalidArgument);
        assert_eq!(mqtt_loop_start(c), mqtt_status::Ok);
        assert_eq!(mqtt_loop_start(c), mqtt_status::AlreadyRunning);
        assert_eq!(mqtt_loop_stop(c), mqtt_status::Ok);
        let id = CStr::from_ptr(mqtt_connection_client_id(c));
        assert!(id.to_str().unwrap().starts_with("mqtt-"));
        mqtt_connection_free(c);

        for port in [c"0", c"70000", c"x"] {
            let c = mqtt_connect(c"127.0.0.1".as_ptr(), port.as_ptr(), ptr::null());
            assert!(c.is_null());
            assert_eq!(mqtt_last_status(), mqtt_status::InvalidArgument);
        }
        let c = mqtt_connect(ptr::null(), c"1883".as_ptr(), ptr::null());
        assert!(c.is_null());
        assert_eq!(mqtt_last_status(), mqtt_status::NullArgument);
    }
    broker.stop();
}

/// A refusal is its own status with the broker's reason in mqtt_last_error(); mqtt_connect_ex
/// returns the same status directly.
#[test]
fn c_api_refusals_and_connect_options() {
    let broker = start_broker(BrokerOptions::with_port(0).authenticator(|req| {
        match (req.username, req.password) {
            (Some("alice"), Some(b"s\0cret")) => AuthResult::Accept,
            (Some(_), _) => AuthResult::BadCredentials,
            (None, _) => AuthResult::NotAuthorized,
        }
    }));
    unsafe {
        let c = mqtt_connect(
            c"127.0.0.1".as_ptr(),
            port_string(&broker).as_ptr(),
            ptr::null(),
        );
        assert!(c.is_null());
        assert_eq!(mqtt_last_status(), mqtt_status::RefusedNotAuthorized);
        assert!(last_error().contains("not authorized"), "{}", last_error());

        let options = mqtt_connect_options_new();
        assert_eq!(
            mqtt_connect_options_set_username(options, c"alice".as_ptr()),
            mqtt_status::Ok
        );
        assert_eq!(
            mqtt_connect_options_set_password(options, b"bad".as_ptr(), 3),
            mqtt_status::Ok
        );
        let mut out: *mut mqtt_connection = ptr::null_mut();
        let status = mqtt_connect_ex(
            c"127.0.0.1".as_ptr(),
            port_string(&broker).as_ptr(),
            options,
            &mut out,
        );
        assert_eq!(status, mqtt_status::RefusedBadCredentials);
        assert!(out.is_null());
        assert!(
            last_error().contains("bad user name or password"),
            "{}",
            last_error()
        );

        // A binary password with a NUL byte in it.
        assert_eq!(
            mqtt_connect_options_set_password(options, b"s\0cret".as_ptr(), 6),
            mqtt_status::Ok
        );
        assert_eq!(
            mqtt_connect_options_set_client_id(options, c"c-api-client".as_ptr()),
            mqtt_status::Ok
        );
        assert_eq!(
            mqtt_connect_options_set_keep_alive(options, 5),
            mqtt_status::Ok
        );
        assert_eq!(
            mqtt_connect_options_set_connect_timeout(options, 5000),
            mqtt_status::Ok
        );
        assert_eq!(
            mqtt_connect_options_set_protocol_level(options, 3),
            mqtt_status::Ok
        );
        let status = mqtt_connect_ex(
            c"localhost".as_ptr(),
            port_string(&broker).as_ptr(),
            options,
            &mut out,
        );
        assert_eq!(status, mqtt_status::Ok, "{}", last_error());
        mqtt_connect_options_free(options);
        assert_eq!(
            CStr::from_ptr(mqtt_connection_client_id(out)),
            c"c-api-client"
        );
        assert_eq!(mqtt_ping(out), mqtt_status::Ok);
        assert_eq!(mqtt_disconnect(out), mqtt_status::Ok);
        mqtt_connection_free(out);
    }
    broker.stop();
}

/// State shared with the callback that calls back into the API.
struct Nested {
    connection: *mut mqtt_connection,
    statuses: Mutex<Vec<mqtt_status>>,
    echoes: Seen,
}

unsafe extern "C" fn call_api_from_callback(userdata: *mut c_void, message: *const mqtt_message) {
    let nested = unsafe { &*(userdata as *const Nested) };
    let m = unsafe { &*message };
    let payload = unsafe { std::slice::from_raw_parts(m.payload, m.payload_len) };
    let echo_data = &nested.echoes as *const Seen as *mut c_void;
    let mut statuses = Vec::new();
    unsafe {
        statuses.push(mqtt_subscribe(
            nested.connection,
            c"n/echo".as_ptr(),
            2,
            Some(record),
            echo_data,
            ptr::null_mut(),
        ));
        statuses.push(mqtt_publish(
            nested.connection,
            c"n/echo".as_ptr(),
            payload.as_ptr(),
            payload.len(),
            1,
            false,
        ));
        statuses.push(mqtt_publish(
            nested.connection,
            c"n/echo".as_ptr(),
            payload.as_ptr(),
            payload.len(),
            2,
            false,
        ));
        statuses.push(mqtt_unsubscribe(nested.connection, c"n/echo".as_ptr()));
    }
    nested.statuses.lock().unwrap().extend(statuses);
}

/// With the loop thread running, a C callback subscribes, publishes at QoS 1 and 2 and
/// unsubscribes on its own connection without deadlocking.
#[test]
fn c_api_calls_from_a_callback_on_the_loop_thread() {
    let broker = start_broker(BrokerOptions::with_port(0));
    let connection = connect(&broker, ptr::null());
    let nested = Box::new(Nested {
        connection,
        statuses: Mutex::default(),
        echoes: Mutex::default(),
    });
    let userdata = &*nested as *const Nested as *mut c_void;
    unsafe {
        assert_eq!(
            mqtt_subscribe(
                connection,
                c"n/trigger".as_ptr(),
                1,
                Some(call_api_from_callback),
                userdata,
                ptr::null_mut()
            ),
            mqtt_status::Ok
        );
        assert_eq!(mqtt_loop_start(connection), mqtt_status::Ok);
        assert_eq!(
            mqtt_publish(
                connection,
                c"n/trigger".as_ptr(),
                b"go".as_ptr(),
                2,
                1,
                false
            ),
            mqtt_status::Ok
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    // The echoes arrive after the calls that caused them return: wait for both.
    while (nested.statuses.lock().unwrap().len() < 4 || nested.echoes.lock().unwrap().len() < 2)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(*nested.statuses.lock().unwrap(), [mqtt_status::Ok; 4]);
    let echoes = nested.echoes.lock().unwrap().clone();
    assert_eq!(echoes.len(), 2, "{echoes:?}");
    assert!(
        echoes
            .iter()
            .all(|(t, p, _, _)| t == "n/echo" && p == b"go")
    );
    unsafe {
        assert_eq!(mqtt_loop_stop(connection), mqtt_status::Ok);
        assert_eq!(mqtt_disconnect(connection), mqtt_status::Ok);
        mqtt_connection_free(connection);
    }
    broker.stop();
}

/// What the completion callback saw, and the connection it publishes on from inside itself.
struct Completions {
    connection: *mut mqtt_connection,
    calls: Mutex<Vec<(u16, mqtt_status)>>,
    nested: Mutex<Vec<mqtt_status>>,
}

unsafe extern "C" fn record_completion(userdata: *mut c_void, packet_id: u16, status: mqtt_status) {
    let completions = unsafe { &*(userdata as *const Completions) };
    let first = {
        let mut calls = completions.calls.lock().unwrap();
        calls.push((packet_id, status));
        calls.len() == 1
    };
    if first {
        // A QoS 1 publish from inside the callback waits for its own PUBACK without deadlock.
        let status = unsafe {
            mqtt_publish(
                completions.connection,
                c"done/nested".as_ptr(),
                ptr::null(),
                0,
                1,
                false,
            )
        };
        completions.nested.lock().unwrap().push(status);
    }
}

/// `mqtt_connection_set_on_published` reports each pipelined publish once, in acknowledgement
/// order, and may call the API; `mqtt_reconnect` reopens the connection (open, lost or
/// disconnected) with the same client id and restarts the loop thread it stopped.
#[test]
fn c_api_completion_callback_and_reconnect() {
    let broker = start_broker(BrokerOptions::with_port(0));
    let connection = connect(&broker, ptr::null());
    let completions = Box::new(Completions {
        connection,
        calls: Mutex::default(),
        nested: Mutex::default(),
    });
    let userdata = &*completions as *const Completions as *mut c_void;
    unsafe {
        assert_eq!(
            mqtt_connection_set_on_published(ptr::null(), Some(record_completion), userdata),
            mqtt_status::NullArgument
        );
        assert_eq!(
            mqtt_connection_set_on_published(connection, Some(record_completion), userdata),
            mqtt_status::Ok
        );
        let mut ids = Vec::new();
        for _ in 0..20 {
            let mut id: u16 = 0;
            assert_eq!(
                mqtt_publish_async(
                    connection,
                    c"done/t".as_ptr(),
                    b"x".as_ptr(),
                    1,
                    1,
                    false,
                    &mut id
                ),
                mqtt_status::Ok
            );
            ids.push(id);
        }
        for &id in &ids {
            assert_eq!(mqtt_wait_published(connection, id, 5000), mqtt_status::Ok);
        }
        assert_eq!(*completions.nested.lock().unwrap(), [mqtt_status::Ok]);
        let calls = completions.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), ids.len() + 1, "{calls:?}");
        assert!(calls.iter().all(|&(_, s)| s == mqtt_status::Ok));
        assert!(
            calls.windows(2).all(|w| w[0].0 < w[1].0),
            "in order: {calls:?}"
        );
        assert!(ids.iter().all(|id| calls.iter().any(|c| c.0 == *id)));
        assert_eq!(
            mqtt_connection_set_on_published(connection, None, ptr::null_mut()),
            mqtt_status::Ok
        );

        let client_id = CStr::from_ptr(mqtt_connection_client_id(connection)).to_owned();
        assert_eq!(mqtt_reconnect(ptr::null()), mqtt_status::NullArgument);
        assert_eq!(mqtt_loop_start(connection), mqtt_status::Ok);
        assert_eq!(
            mqtt_reconnect(connection),
            mqtt_status::Ok,
            "{}",
            last_error()
        );
        assert!(mqtt_connection_is_connected(connection));
        assert_eq!(
            mqtt_loop_start(connection),
            mqtt_status::AlreadyRunning,
            "the loop thread was restarted"
        );
        assert_eq!(
            CStr::from_ptr(mqtt_connection_client_id(connection)),
            &*client_id
        );
        assert_eq!(mqtt_disconnect(connection), mqtt_status::Ok);
        assert!(!mqtt_connection_is_connected(connection));
        assert_eq!(
            mqtt_reconnect(connection),
            mqtt_status::Ok,
            "{}",
            last_error()
        );
        assert_eq!(mqtt_ping(connection), mqtt_status::Ok);
        // With the broker gone, the connection ends and a reconnect fails with a status.
        broker.stop();
        assert_eq!(mqtt_receive_message(connection, 5000), mqtt_status::Closed);
        assert_eq!(
            mqtt_reconnect(connection),
            mqtt_status::Io,
            "{}",
            last_error()
        );
        assert!(!mqtt_connection_is_connected(connection));
        mqtt_connection_free(connection);
    }
}

/// A program from examples-c/build, built once per test binary by `make -C examples-c` under the
/// file lock the other C tests use (target/examples-c.lock), as several test binaries may run
/// the same make at once.
fn c_program(name: &str) -> PathBuf {
    examples_built();
    root().join("examples-c/build").join(name)
}

/// Runs a C program to completion (at most 15 s). Every C program here runs without
/// LD_LIBRARY_PATH, which cargo sets for tests and which would override the programs' rpath with
/// target/<profile>/deps, where a stale debug build of the library may sit.
fn run(program: &str, args: &[&str]) -> Output {
    let mut child = Command::new(c_program(program))
        .env_remove("LD_LIBRARY_PATH")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{program} {args:?} did not finish within 15 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// build/subscribe and build/publish talk to each other through our broker, at every QoS, with
/// a retained and an empty message, and exit 0.
#[test]
fn c_programs_subscribe_and_publish() {
    let broker = start_broker(BrokerOptions::with_port(0));
    let port = broker.port().to_string();
    let base = ["-h", "127.0.0.1", "-p", port.as_str()];
    let publish = |extra: &[&str]| {
        let out = run("publish", &[&base[..], extra].concat());
        assert!(
            out.status.success(),
            "publish {extra:?}: {}",
            text(&out.stderr)
        );
    };
    // Retained first: the subscriber receiving it shows its subscription is in place.
    publish(&["-t", "p/retained", "-m", "kept", "-q", "1", "-r"]);
    let mut subscriber = Command::new(c_program("subscribe"))
        .env_remove("LD_LIBRARY_PATH")
        .args(base)
        .args([
            "-t", "p/#", "-t", "other", "-q", "2", "-v", "-C", "5", "-W", "10",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = subscriber.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    assert_eq!(lines.next().unwrap().unwrap(), "p/retained kept");
    publish(&["-t", "p/a", "-m", "zero", "-q", "0"]);
    publish(&["-t", "p/a", "-m", "one", "-q", "1"]);
    publish(&["-t", "p/a", "-m", "two", "-q", "2"]);
    publish(&[
        "-t",
        "other",
        "-n",
        "-q",
        "1",
        "-i",
        "named-publisher",
        "-k",
        "10",
    ]);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(rest, ["p/a zero", "p/a one", "p/a two", "other "]);
    // Its output ended, so it has exited (its -W 10 bounds it otherwise).
    let status = subscriber.wait().unwrap();
    assert!(status.success(), "subscribe exited with {status}");
    broker.stop();
}

/// Failures exit non-zero with a clear message; usage errors exit 2.
#[test]
fn c_programs_report_failures() {
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let out = run(
        "publish",
        &["-h", "127.0.0.1", "-p", &closed_port, "-t", "a", "-m", "x"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot connect"),
        "{}",
        text(&out.stderr)
    );

    let broker = start_broker(BrokerOptions::with_port(0).authenticator(|req| {
        if req.username == Some("u") {
            AuthResult::Accept
        } else {
            AuthResult::NotAuthorized
        }
    }));
    let port = broker.port().to_string();
    let out = run("publish", &["-p", &port, "-t", "a", "-m", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not authorized"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        "publish",
        &["-p", &port, "-u", "u", "-P", "pw", "-t", "a/#", "-m", "x"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid topic"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        "subscribe",
        &["-p", &port, "-u", "u", "-t", "quiet", "-C", "1", "-W", "1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );

    for (program, args) in [
        ("publish", &["-t", "a"][..]),
        ("publish", &["-t", "a", "-m", "x", "-q", "3"][..]),
        ("subscribe", &[][..]),
        ("subscribe", &["-t", "a", "-k", "-1"][..]),
    ] {
        let out = run(program, args);
        assert_eq!(out.status.code(), Some(2), "{program} {args:?}");
        assert!(!out.stderr.is_empty());
    }
    broker.stop();
}

/// The demo script (`make -C examples-c run`) against the programs built here.
#[test]
fn demo_runs_and_every_message_arrives() {
    let program = c_program("broker");
    let build_dir = program.parent().unwrap();
    let demo = root().join("examples-c/demo.sh");
    let mut child = Command::new("sh")
        .env_remove("LD_LIBRARY_PATH")
        .arg(&demo)
        .arg(build_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the demo did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    for line in [
        "  demo/status online (retained)",
        "  demo/greeting Hello MQTT at QoS 0",
        "  demo/greeting Hello MQTT at QoS 1",
        "  demo/greeting Hello MQTT at QoS 2",
        "  demo/empty ",
        "demo: all 5 messages arrived; broker stopped",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{stdout}"
        );
    }
}
