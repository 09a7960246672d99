//! The client's lifecycle (issue 11): no message lost when a session resumes, lifecycle
//! callbacks, subscriptions restored after an automatic reconnect, the bounded offline queue,
//! `mqtt_connection_free` from any thread, the last error kept by free functions and getters,
//! `subscribe_many`, and the external event loop. Rust tests run against our own broker on
//! port 0; the C programs in tests/c/ (built against target/release, as in tests/c_api.rs) run
//! natively, under valgrind and under AddressSanitizer.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::client_support::proxy::CuttingProxy;
use crate::client_support::{Inbox, WAIT, connect, options, wait_until_closed};
use crate::fixture::{eventually, start_broker, start_default_broker};
use crate::mosquitto::Mosquitto;
use crate::programs::{
    Output, examples_built, link_with_library, root, run_bounded as run, valgrind_present,
};
use mqtt::broker::{Access, Broker, BrokerOptions};
use mqtt::client::{
    Client, ClientError, CloseReason, ConnectOptions, LogLevel, OfflineQueue, PublishOutcome,
    QueueOverflow,
};
use mqtt::protocol::{Packet, QoS, SubackCode};

/// Every connect and disconnect callback call, in order.
#[derive(Default)]
struct Lifecycle {
    events: Mutex<Vec<String>>,
}

impl Lifecycle {
    fn options(self: &Arc<Self>, options: ConnectOptions) -> ConnectOptions {
        let (c, d) = (Arc::clone(self), Arc::clone(self));
        options
            .on_connect(move |present, code| c.push(format!("connect {present} {code}")))
            .on_disconnect(move |reason, again| d.push(format!("disconnect {reason:?} {again}")))
    }

    fn push(&self, event: String) {
        self.events.lock().unwrap().push(event);
    }

    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    fn wait_for(&self, count: usize) -> Vec<String> {
        eventually(&format!("{count} lifecycle events"), || {
            self.events().len() >= count
        });
        self.events()
    }
}

/// A broker on `port` (0: any), started.
fn broker_on(port: u16) -> Broker {
    let broker = Broker::new(BrokerOptions::with_port(port));
    broker.start().expect("broker starts");
    broker
}

// ---------------------------------------------------------------------------------------------
// Defect 1: loss on session resume.

/// A persistent session holds messages for `a/#` and `b/#`; the program resumes it and
/// subscribes to `a/#` and then `b/#`. The `b/1` message arrives while the first SUBSCRIBE waits
/// for its SUBACK, before `b/#` has a callback: it must reach the default message callback, not
/// be acknowledged and dropped ([MQTT-4.4.0-1] makes the broker deliver it on resume).
/// The scenario against the broker on `port` (ours or mosquitto).
fn resume_with_queued_messages(port: u16) {
    let persistent = || options().client_id("resume-1").clean_session(false);
    let first = connect(port, &persistent());
    first.subscribe("a/#", QoS::AtLeastOnce, |_| {}).unwrap();
    first.subscribe("b/#", QoS::AtLeastOnce, |_| {}).unwrap();
    first.disconnect().unwrap();

    let publisher = connect(port, &options());
    publisher
        .publish("a/1", b"a", QoS::AtLeastOnce, false)
        .unwrap();
    publisher
        .publish("b/1", b"b", QoS::AtLeastOnce, false)
        .unwrap();

    let inbox = Inbox::default();
    let resumed = connect(port, &persistent().on_message(inbox.callback("default")));
    assert!(resumed.session_present());
    resumed
        .subscribe("a/#", QoS::AtLeastOnce, inbox.callback("a"))
        .unwrap();
    resumed
        .subscribe("b/#", QoS::AtLeastOnce, inbox.callback("b"))
        .unwrap();
    let mut got: Vec<(String, String)> = (0..2)
        .map(|_| {
            let m = inbox.next(WAIT);
            (m.tag, m.topic)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("a".to_owned(), "a/1".to_owned()),
            ("default".to_owned(), "b/1".to_owned())
        ]
    );
    assert!(inbox.try_next(Duration::from_millis(100)).is_none());
    resumed.disconnect().unwrap();
}

#[test]
fn resumed_session_messages_reach_the_default_callback() {
    let broker = start_default_broker();
    let sent_before = broker.stats().messages_sent;
    resume_with_queued_messages(broker.port());
    // Every message the broker sent was delivered: the two above, no more.
    assert_eq!(broker.stats().messages_sent - sent_before, 2);
}

#[test]
fn resumed_session_messages_reach_the_default_callback_with_mosquitto() {
    let Some(mosquitto) = Mosquitto::start() else {
        return;
    };
    resume_with_queued_messages(mosquitto.port);
}

/// Without a default callback such a message is dropped, but at least the log says so.
#[test]
fn a_message_no_callback_takes_is_logged() {
    let broker = start_default_broker();
    let persistent = || options().client_id("resume-2").clean_session(false);
    let first = connect(broker.port(), &persistent());
    first.subscribe("b/#", QoS::AtLeastOnce, |_| {}).unwrap();
    first.disconnect().unwrap();
    let publisher = connect(broker.port(), &options());
    publisher
        .publish("b/1", b"b", QoS::AtLeastOnce, false)
        .unwrap();

    let logged = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&logged);
    let resumed = connect(
        broker.port(),
        &persistent()
            .on_log(move |level, line| sink.lock().unwrap().push((level, line.to_owned()))),
    );
    resumed.receive_message(Some(WAIT)).unwrap();
    let logged = logged.lock().unwrap();
    assert!(
        logged
            .iter()
            .any(|(level, line)| *level == LogLevel::Warning && line.contains("\"b/1\" dropped")),
        "{logged:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Defect 2: automatic reconnect drops subscriptions.

/// Restarts the broker on the same port while an auto-reconnecting client with `clean` session
/// is subscribed to `t/#`; returns the lifecycle events and whether a message published after
/// the restart still arrives on the old filter.
fn messages_after_broker_restart(clean: bool, resubscribe: bool) -> (Vec<String>, bool) {
    let broker = broker_on(0);
    let port = broker.port();
    let lifecycle = Arc::new(Lifecycle::default());
    let client = connect(
        port,
        &lifecycle.options(
            options()
                .client_id(format!("restart-{clean}-{resubscribe}"))
                .clean_session(clean)
                .resubscribe(resubscribe)
                .auto_reconnect(Duration::from_millis(20), Duration::from_millis(100)),
        ),
    );
    let inbox = Inbox::default();
    client
        .subscribe("t/#", QoS::AtLeastOnce, inbox.callback("t"))
        .unwrap();
    client.loop_start().unwrap();
    assert_eq!(lifecycle.events(), ["connect false 0"]);

    broker.stop();
    lifecycle.wait_for(2);
    let broker = broker_on(port);
    lifecycle.wait_for(3);
    // The resubscription, if any, goes out right after CONNACK; wait until the broker holds it.
    if resubscribe {
        eventually("the subscription is restored", || {
            broker.stats().subscriptions == 1
        });
    }
    let publisher = connect(port, &options());
    publisher
        .publish("t/1", b"after", QoS::AtLeastOnce, false)
        .unwrap();
    let arrived = inbox.try_next(Duration::from_millis(if resubscribe { 5000 } else { 300 }));
    client.disconnect().unwrap();
    (lifecycle.events(), arrived.is_some())
}

#[test]
fn auto_reconnect_with_clean_session_restores_the_subscriptions() {
    let (events, arrived) = messages_after_broker_restart(true, true);
    assert!(
        arrived,
        "nothing arrived on the old filter after the reconnect"
    );
    assert_eq!(
        events,
        [
            "connect false 0",
            "disconnect ClosedByPeer true",
            "connect false 0",
            "disconnect Disconnected false"
        ]
    );
}

#[test]
fn auto_reconnect_to_a_broker_that_lost_the_session_restores_the_subscriptions() {
    let (events, arrived) = messages_after_broker_restart(false, true);
    assert!(
        arrived,
        "nothing arrived on the old filter after the reconnect"
    );
    assert_eq!(events[1], "disconnect ClosedByPeer true");
    assert_eq!(
        events[2], "connect false 0",
        "the new broker has no session"
    );
}

#[test]
fn resubscribing_can_be_switched_off() {
    let (_, arrived) = messages_after_broker_restart(true, false);
    assert!(
        !arrived,
        "with resubscribe off the broker knows no subscription"
    );
}

// ---------------------------------------------------------------------------------------------
// Defect 3: publishing while disconnected.

/// A client connected through a proxy that cuts the connection when the broker answers the
/// client's first SUBSCRIBE; automatic reconnects wait 0.75 to 1.5 s, so the test publishes
/// while the connection is down.
struct Offline {
    _broker: Broker,
    _proxy: CuttingProxy,
    client: Arc<Client>,
    lifecycle: Arc<Lifecycle>,
    receiver: Client,
    inbox: Inbox,
}

fn offline_client(clean: bool, queue: OfflineQueue) -> Offline {
    let broker = start_default_broker();
    let proxy = CuttingProxy::start(broker.port(), |p| matches!(p, Packet::Suback(_)));
    let lifecycle = Arc::new(Lifecycle::default());
    let client = Arc::new(connect(
        proxy.port,
        &lifecycle.options(
            options()
                .clean_session(clean)
                .offline_queue(queue)
                .auto_reconnect(Duration::from_millis(1500), Duration::from_millis(1500)),
        ),
    ));
    client.loop_start().unwrap();
    let inbox = Inbox::default();
    let receiver = connect(broker.port(), &options());
    receiver
        .subscribe("q/#", QoS::ExactlyOnce, inbox.callback("r"))
        .unwrap();
    receiver.loop_start().unwrap();
    // The SUBACK never reaches the client: the proxy cuts there.
    let cut = client.subscribe("cut/here", QoS::AtMostOnce, |_| {});
    assert!(matches!(cut, Err(ClientError::Closed(_))), "{cut:?}");
    assert!(proxy.has_cut());
    wait_until_closed(&client);
    Offline {
        _broker: broker,
        _proxy: proxy,
        client,
        lifecycle,
        receiver,
        inbox,
    }
}

/// The seed returned TIMEOUT for a QoS 1 publish while disconnected and then delivered it after
/// the reconnect, so a program retrying on timeout sent duplicates. Now the publish says at once
/// that it is queued, with its packet id, which completes after the reconnect; each message
/// arrives exactly once.
#[test]
fn publishing_while_disconnected_is_queued_and_completes_after_the_reconnect() {
    for clean in [false, true] {
        let o = offline_client(clean, OfflineQueue::default());
        let started = Instant::now();
        let queued = o.client.publish("q/1", b"one", QoS::AtLeastOnce, false);
        let Err(ClientError::Queued(Some(id))) = queued else {
            panic!("clean {clean}: expected Queued with an id, got {queued:?}");
        };
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "it did not wait"
        );
        assert!(matches!(
            o.client
                .publish_async("q/0", b"zero", QoS::AtMostOnce, false),
            Err(ClientError::Queued(None))
        ));
        let id2 = match o
            .client
            .publish_async("q/2", b"two", QoS::ExactlyOnce, false)
        {
            Err(ClientError::Queued(Some(id))) => id,
            other => panic!("expected Queued, got {other:?}"),
        };
        o.client.wait_published(id, Some(WAIT)).unwrap();
        o.client.wait_published(id2, Some(WAIT)).unwrap();
        let mut got: Vec<String> = (0..3).map(|_| o.inbox.next(WAIT).topic).collect();
        got.sort();
        assert_eq!(got, ["q/0", "q/1", "q/2"], "clean {clean}");
        assert!(
            o.inbox.try_next(Duration::from_millis(200)).is_none(),
            "clean {clean}: a message arrived twice"
        );
        let events = o.lifecycle.events();
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(events[1].ends_with(" true"), "{events:?}");
        o.client.disconnect().unwrap();
        drop(o.receiver);
    }
}

#[test]
fn a_full_offline_queue_refuses_new_messages() {
    let o = offline_client(
        true,
        OfflineQueue {
            max_messages: 2,
            overflow: QueueOverflow::RefuseNew,
            ..OfflineQueue::default()
        },
    );
    for topic in ["q/1", "q/2"] {
        assert!(matches!(
            o.client.publish(topic, b"", QoS::AtLeastOnce, false),
            Err(ClientError::Queued(Some(_)))
        ));
    }
    let refused = o.client.publish("q/3", b"", QoS::AtLeastOnce, false);
    assert!(
        matches!(refused, Err(ClientError::QueueFull)),
        "{refused:?}"
    );
    let mut got: Vec<String> = (0..2).map(|_| o.inbox.next(WAIT).topic).collect();
    got.sort();
    assert_eq!(got, ["q/1", "q/2"]);
    assert!(o.inbox.try_next(Duration::from_millis(200)).is_none());
}

#[test]
fn a_full_offline_queue_drops_the_oldest_message_and_says_so() {
    let o = offline_client(
        false,
        OfflineQueue {
            max_messages: 2,
            overflow: QueueOverflow::DropOldest,
            qos0: false,
            ..OfflineQueue::default()
        },
    );
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&outcomes);
    o.client.set_on_published(Some(Arc::new(move |id, outcome| {
        sink.lock().unwrap().push((id, outcome));
    })));
    let mut ids = Vec::new();
    for topic in ["q/1", "q/2", "q/3"] {
        match o.client.publish_async(topic, b"", QoS::AtLeastOnce, false) {
            Err(ClientError::Queued(Some(id))) => ids.push(id),
            other => panic!("expected Queued, got {other:?}"),
        }
    }
    let qos0 = o.client.publish("q/0", b"", QoS::AtMostOnce, false);
    assert!(matches!(qos0, Err(ClientError::Closed(_))), "{qos0:?}");
    assert_eq!(
        outcomes.lock().unwrap().as_slice(),
        [(ids[0], PublishOutcome::Dropped)]
    );
    let mut got: Vec<String> = (0..2).map(|_| o.inbox.next(WAIT).topic).collect();
    got.sort();
    assert_eq!(got, ["q/2", "q/3"]);
    eventually("both acknowledged", || outcomes.lock().unwrap().len() == 3);
    assert!(o.inbox.try_next(Duration::from_millis(200)).is_none());
}

/// With the connection lost and nothing reconnecting, every QoS reports the same cause.
#[test]
fn a_lost_connection_gives_the_same_error_at_every_qos() {
    let broker = start_default_broker();
    let proxy = CuttingProxy::start(broker.port(), |p| matches!(p, Packet::Suback(_)));
    let client = connect(proxy.port, &options());
    let _ = client.subscribe("cut/here", QoS::AtMostOnce, |_| {});
    let texts: Vec<String> = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .map(|qos| {
            let e = client.publish("t", b"x", qos, false).unwrap_err();
            assert!(matches!(e, ClientError::Closed(_)), "{qos:?}: {e:?}");
            e.to_string()
        })
        .collect();
    assert_eq!(texts[0], texts[1]);
    assert_eq!(texts[1], texts[2]);
}

// ---------------------------------------------------------------------------------------------
// subscribe_many.

#[test]
fn subscribe_many_sends_one_subscribe_and_reports_each_filter() {
    let broker = start_broker(BrokerOptions {
        authorizer: Some(Arc::new(
            |_: &str, _: Option<&str>, topic: &str, a: Access| {
                a != Access::Subscribe || !topic.starts_with("secret")
            },
        )),
        ..BrokerOptions::default()
    });
    let client = connect(broker.port(), &options());
    let inbox = Inbox::default();
    let codes = client
        .subscribe_many(
            &[
                ("a/+", QoS::AtLeastOnce),
                ("secret/#", QoS::AtMostOnce),
                ("b", QoS::ExactlyOnce),
            ],
            Arc::new(inbox.callback("many")),
        )
        .unwrap();
    assert_eq!(
        codes,
        [
            SubackCode::Granted(QoS::AtLeastOnce),
            SubackCode::Failure,
            SubackCode::Granted(QoS::ExactlyOnce)
        ]
    );
    assert!(matches!(
        client.subscribe_many(&[], Arc::new(|_| {})),
        Err(ClientError::InvalidArgument(_))
    ));
    let publisher = connect(broker.port(), &options());
    for topic in ["a/x", "b"] {
        publisher
            .publish(topic, b"", QoS::AtLeastOnce, false)
            .unwrap();
        client.receive_message(Some(WAIT)).unwrap();
        assert_eq!(inbox.next(WAIT).topic, topic);
    }
}

// ---------------------------------------------------------------------------------------------
// Callbacks.

#[test]
fn on_connect_reports_refusals_and_on_log_reports_the_loss() {
    let broker = start_broker(BrokerOptions {
        authenticator: Some(Arc::new(|request: &mqtt::broker::AuthRequest<'_>| {
            if request.username == Some("ok") {
                mqtt::broker::AuthResult::Accept
            } else {
                mqtt::broker::AuthResult::BadCredentials
            }
        })),
        ..BrokerOptions::default()
    });
    let lifecycle = Arc::new(Lifecycle::default());
    let refused = Client::connect(
        "127.0.0.1",
        broker.port(),
        &lifecycle.options(options().credentials("no", None)),
    );
    assert!(matches!(refused, Err(ClientError::BadUsernameOrPassword)));
    assert_eq!(lifecycle.events(), ["connect false 4"]);

    let lines = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&lines);
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&warnings);
    let client = connect(
        broker.port(),
        &options()
            .credentials("ok", None)
            .on_log(move |level, line| {
                count.fetch_add(1, Ordering::Relaxed);
                if level == LogLevel::Warning {
                    sink.lock().unwrap().push(line.to_owned());
                }
            }),
    );
    assert!(lines.load(Ordering::Relaxed) >= 1, "the CONNACK is logged");
    broker.stop();
    let _ = client.receive_message(Some(WAIT));
    assert_eq!(client.close_reason(), Some(CloseReason::ClosedByPeer));
    assert_eq!(
        warnings.lock().unwrap().as_slice(),
        ["connection closed by the broker"]
    );
}

// ---------------------------------------------------------------------------------------------
// C programs: free while blocked, last error kept, the event loop example.

const C_STRICT: &[&str] = &[
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Werror",
    "-D_POSIX_C_SOURCE=200809L",
    "-g",
];

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("client_lifecycle")
        .join(name);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Compiles tests/c/`name`.c (with `extra` flags) into the scratch directory `dir`.
fn compile(name: &str, dir: &str, extra: &[&str]) -> PathBuf {
    examples_built();
    let program = scratch(dir).join(name);
    let mut command = Command::new("gcc");
    command.args(C_STRICT).args(extra);
    link_with_library(
        &mut command,
        &root().join(format!("tests/c/{name}.c")),
        &program,
    );
    let output = run(&mut command, Duration::from_secs(120));
    assert!(output.status.success(), "gcc: {}", output.describe());
    program
}

fn run_c(command: &mut Command) -> Output {
    run(
        command.env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(180),
    )
}

fn valgrind(program: &Path, args: &[&str]) -> Output {
    run_c(
        Command::new("valgrind")
            .args([
                "--quiet",
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
            ])
            .arg(program)
            .args(args),
    )
}

/// Runs tests/c/`name`.c natively, under valgrind and under AddressSanitizer.
fn c_program_passes_everywhere(name: &str) {
    let plain = compile(name, "plain", &[]);
    let output = run_c(&mut Command::new(&plain));
    assert!(output.status.success(), "{}", output.describe());
    assert!(output.stdout.contains("passed"), "{}", output.describe());
    if valgrind_present() {
        let output = valgrind(&plain, &[]);
        assert!(output.status.success(), "valgrind: {}", output.describe());
    }
    let asan = compile(
        name,
        "asan",
        &[
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ],
    );
    let output = run_c(
        Command::new(&asan)
            .env("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1:exitcode=86")
            .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1"),
    );
    assert!(output.status.success(), "asan: {}", output.describe());
}

/// Defect 4: `mqtt_connection_free` while other threads are blocked in `mqtt_receive_message`
/// and `mqtt_publish` (QoS 1, never acknowledged), and from inside a message callback.
#[test]
fn connection_free_while_other_threads_are_blocked_is_safe() {
    c_program_passes_everywhere("free_while_blocked");
}

/// Defect 5 and the C side of the new API: free functions and getters keep the last error,
/// the lifecycle callbacks fire, publishing while disconnected gives `MQTT_STATUS_QUEUED`.
#[test]
fn c_lifecycle_api_keeps_the_last_error_and_queues_offline() {
    c_program_passes_everywhere("lifecycle");
}

/// examples-c/event_loop.c drives a connection from its own poll() loop: it subscribes,
/// publishes and receives with no thread but its own, under valgrind too.
#[test]
fn event_loop_example_runs_without_library_threads() {
    examples_built();
    let broker = start_default_broker();
    let port = broker.port().to_string();
    let program = root().join("examples-c/build/event_loop");
    let output = run_c(Command::new(&program).args(["-p", &port]));
    assert!(output.status.success(), "{}", output.describe());
    assert!(
        output.stdout.contains("received 3 messages"),
        "{}",
        output.describe()
    );
    if valgrind_present() {
        let output = valgrind(&program, &["-p", &port]);
        assert!(output.status.success(), "valgrind: {}", output.describe());
    }
    // No thread but the main one, sampled from /proc while it runs (slowed down by valgrind
    // when it is there, so the samples cover the whole run).
    let mut command = if valgrind_present() {
        let mut c = Command::new("valgrind");
        c.args(["--quiet"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let mut child = command
        .args(["-p", &port])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start event_loop");
    let tasks = format!("/proc/{}/task", child.id());
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
        if let Ok(entries) = std::fs::read_dir(&tasks) {
            most = most.max(entries.count());
        }
        thread::sleep(Duration::from_micros(200));
    }
    let _ = child.kill();
    assert!(child.wait().expect("wait").success());
    assert_eq!(most, 1, "the event loop ran with {most} threads");
}

/// The Python binding's additions: timeouts, will, auto-reconnect with the lifecycle callbacks
/// across a broker restart, the offline queue, subscribe_many, publish_async / wait_published,
/// the broker event callback and the event loop methods (tests/python/lifecycle_test.py).
#[test]
fn python_binding_covers_the_lifecycle_api() {
    examples_built();
    let output = run_c(
        Command::new("python3")
            .arg(root().join("tests/python/lifecycle_test.py"))
            .env(
                "LIBMQTT_PATH",
                crate::programs::release_dir().join("libmqtt.so"),
            )
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    );
    assert!(output.status.success(), "{}", output.describe());
    assert!(
        output.stdout.contains("lifecycle ok"),
        "{}",
        output.describe()
    );
}

/// The C++ wrapper's additions (tests/c/lifecycle_wrapper.cpp), built as strict C++17, run
/// natively and under valgrind.
#[test]
fn cpp_wrapper_covers_the_lifecycle_api() {
    examples_built();
    let program = scratch("cpp").join("lifecycle_wrapper");
    let mut command = Command::new("c++");
    command.args([
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Wpedantic",
        "-Werror",
        "-g",
    ]);
    link_with_library(
        &mut command,
        &root().join("tests/c/lifecycle_wrapper.cpp"),
        &program,
    );
    let output = run(&mut command, Duration::from_secs(180));
    assert!(output.status.success(), "c++: {}", output.describe());
    let output = run_c(&mut Command::new(&program));
    assert!(output.status.success(), "{}", output.describe());
    assert!(output.stdout.contains("lifecycle wrapper ok"));
    if valgrind_present() {
        let output = valgrind(&program, &[]);
        assert!(output.status.success(), "valgrind: {}", output.describe());
    }
}
