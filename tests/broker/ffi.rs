//! The broker's C API exercised from Rust through the exported functions: argument checks,
//! status codes, life cycle, and the authenticator, authorizer and event callbacks (including
//! calling back into the broker from a callback). The last tests check the same life-cycle
//! promises the C API relies on through the Rust `Broker` it wraps: `wait` returns once another
//! thread stops the broker, and event hooks may publish and even stop it without deadlock.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use mqtt::broker::{Broker, BrokerEvent, BrokerOptions};
use mqtt::ffi::*;
use mqtt::protocol::{ConnectReturnCode, Packet, QoS, QosPid, SubackCode};

fn last_error() -> String {
    unsafe { CStr::from_ptr(mqtt_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn new_broker(opts: *const mqtt_broker_options) -> *mut mqtt_broker {
    let broker = unsafe { mqtt_broker_new(c"0".as_ptr(), opts) };
    assert!(!broker.is_null(), "{}", last_error());
    assert_eq!(unsafe { mqtt_broker_start(broker) }, mqtt_status::Ok);
    broker
}

#[test]
fn option_setters_check_their_arguments() {
    unsafe {
        let null = ptr::null_mut();
        assert_eq!(
            mqtt_broker_options_set_max_connections(null, 5),
            mqtt_status::NullArgument
        );
        let opts = mqtt_broker_options_new();
        assert!(!opts.is_null());
        assert_eq!(
            mqtt_broker_options_set_bind_address(opts, ptr::null()),
            mqtt_status::NullArgument
        );
        assert_eq!(
            mqtt_broker_options_set_bind_address(opts, c"".as_ptr()),
            mqtt_status::InvalidArgument
        );
        assert_eq!(
            mqtt_broker_options_set_bind_address(opts, c"127.0.0.1".as_ptr()),
            mqtt_status::Ok
        );
        for (status, expected) in [
            (
                mqtt_broker_options_set_max_connections(opts, 0),
                mqtt_status::InvalidArgument,
            ),
            (
                mqtt_broker_options_set_max_connections(opts, 10),
                mqtt_status::Ok,
            ),
            (
                mqtt_broker_options_set_max_packet_size(opts, 3),
                mqtt_status::InvalidArgument,
            ),
            (
                mqtt_broker_options_set_max_packet_size(opts, 300_000_000),
                mqtt_status::InvalidArgument,
            ),
            (
                mqtt_broker_options_set_max_packet_size(opts, 4096),
                mqtt_status::Ok,
            ),
            (
                mqtt_broker_options_set_max_queued_messages(opts, 0),
                mqtt_status::InvalidArgument,
            ),
            (
                mqtt_broker_options_set_max_queued_messages(opts, 50),
                mqtt_status::Ok,
            ),
            (
                mqtt_broker_options_set_max_inflight_messages(opts, 70_000),
                mqtt_status::InvalidArgument,
            ),
            (
                mqtt_broker_options_set_max_inflight_messages(opts, 20),
                mqtt_status::Ok,
            ),
            (
                mqtt_broker_options_set_connect_timeout_ms(opts, 0),
                mqtt_status::InvalidArgument,
            ),
            (
                mqtt_broker_options_set_connect_timeout_ms(opts, 500),
                mqtt_status::Ok,
            ),
            (
                mqtt_broker_options_set_session_expiry_s(opts, 0),
                mqtt_status::Ok,
            ),
            (
                mqtt_broker_options_set_thread_stack_size(opts, 1024),
                mqtt_status::InvalidArgument,
            ),
            (
                mqtt_broker_options_set_thread_stack_size(opts, 65536),
                mqtt_status::Ok,
            ),
        ] {
            assert_eq!(status, expected);
        }
        let broker = new_broker(opts);
        mqtt_broker_options_free(opts);
        mqtt_broker_options_free(ptr::null_mut());
        // The options were copied: the connection limit of 10 holds after they are freed.
        let port = mqtt_broker_port(broker);
        let clients: Vec<_> = (0..10)
            .map(|i| RawClient::clean(port, &format!("c{i}")))
            .collect();
        let (_, connack) = RawClient::connect_with(port, connect_packet("eleventh", true));
        assert_eq!(
            connack.code,
            ConnectReturnCode::ServerUnavailable.to_reason()
        );
        drop(clients);
        mqtt_broker_free(broker);
    }
}

#[test]
fn life_cycle_and_status_codes() {
    unsafe {
        assert!(mqtt_broker_new(ptr::null(), ptr::null()).is_null());
        assert_eq!(mqtt_last_status(), mqtt_status::NullArgument);
        assert!(mqtt_broker_new(c"http".as_ptr(), ptr::null()).is_null());
        assert_eq!(mqtt_last_status(), mqtt_status::InvalidArgument);
        assert!(last_error().contains("port"), "{}", last_error());

        let broker = mqtt_broker_new(c"0".as_ptr(), ptr::null());
        assert_eq!(mqtt_broker_port(broker), 0);
        // Stopping a broker never started is fine; it can be started afterwards.
        let fresh = mqtt_broker_new(c"0".as_ptr(), ptr::null());
        assert_eq!(mqtt_broker_stop(fresh), mqtt_status::Ok);
        assert_eq!(mqtt_broker_start(fresh), mqtt_status::Ok);
        assert_ne!(mqtt_broker_port(fresh), 0);
        mqtt_broker_free(fresh);

        assert_eq!(mqtt_broker_start(broker), mqtt_status::Ok);
        assert_eq!(mqtt_broker_start(broker), mqtt_status::AlreadyRunning);
        let port = mqtt_broker_port(broker);
        assert_ne!(port, 0);

        let port_text = std::ffi::CString::new(port.to_string()).unwrap();
        let clash = mqtt_broker_new(port_text.as_ptr(), ptr::null());
        assert_eq!(mqtt_broker_start(clash), mqtt_status::AddressInUse);
        assert!(last_error().contains(&port.to_string()), "{}", last_error());
        mqtt_broker_free(clash);

        let mut client = RawClient::clean(port, "alive");
        client.sync();
        assert_eq!(mqtt_broker_stop(broker), mqtt_status::Ok);
        client.expect_closed(READ_TIMEOUT);
        assert_eq!(mqtt_broker_stop(broker), mqtt_status::Ok);
        assert_eq!(mqtt_broker_wait(broker), mqtt_status::Ok);
        assert_eq!(mqtt_broker_port(broker), port);
        assert_eq!(mqtt_broker_stop(ptr::null_mut()), mqtt_status::NullArgument);
        assert_eq!(mqtt_broker_port(ptr::null()), 0);
        mqtt_broker_free(broker);
        mqtt_broker_free(ptr::null_mut());
    }
}

#[test]
fn publish_and_stats() {
    unsafe {
        let broker = new_broker(ptr::null());
        let mut sub = RawClient::clean(mqtt_broker_port(broker), "sub");
        sub.subscribe_ok(1, &[("c/#", QoS::ExactlyOnce)]);
        let payload = b"from C";
        assert_eq!(
            mqtt_broker_publish(
                broker,
                c"c/api".as_ptr(),
                payload.as_ptr(),
                payload.len(),
                2,
                true
            ),
            mqtt_status::Ok
        );
        let p = sub.recv_publish();
        assert_eq!(p.payload.as_ref(), b"from C");
        assert!(matches!(p.qospid, QosPid::ExactlyOnce(_)));
        assert_eq!(
            mqtt_broker_publish(broker, c"c/empty".as_ptr(), ptr::null(), 0, 0, false),
            mqtt_status::Ok
        );
        assert!(sub.recv_publish().payload.is_empty());
        assert_eq!(
            mqtt_broker_publish(broker, c"c/+".as_ptr(), ptr::null(), 0, 0, false),
            mqtt_status::InvalidTopic
        );
        assert_eq!(
            mqtt_broker_publish(broker, c"c/x".as_ptr(), ptr::null(), 0, 3, false),
            mqtt_status::InvalidQos
        );
        assert_eq!(
            mqtt_broker_publish(broker, c"c/x".as_ptr(), ptr::null(), 5, 0, false),
            mqtt_status::NullArgument
        );

        let mut stats = mqtt_broker_statistics::default();
        assert_eq!(mqtt_broker_stats(broker, &mut stats), mqtt_status::Ok);
        assert_eq!(stats.clients_connected, 1);
        assert_eq!(stats.connections_accepted, 1);
        assert_eq!(stats.sessions, 1);
        assert_eq!(stats.subscriptions, 1);
        assert_eq!(stats.retained_messages, 1);
        assert_eq!(stats.messages_received, 2);
        assert_eq!(
            (stats.tls_handshakes_failed, stats.websocket_refused),
            (0, 0)
        );
        assert_eq!(
            mqtt_broker_stats(broker, ptr::null_mut()),
            mqtt_status::NullArgument
        );
        mqtt_broker_free(broker);
    }
}

unsafe extern "C" fn authenticate(
    _userdata: *mut c_void,
    _client_id: *const c_char,
    username: *const c_char,
    password: *const u8,
    password_len: usize,
) -> c_int {
    if username.is_null() {
        assert!(password.is_null() && password_len == 0);
        return mqtt_auth_result::BadCredentials as c_int;
    }
    let user = unsafe { CStr::from_ptr(username) }.to_str().unwrap();
    let password = if password.is_null() {
        &[][..]
    } else {
        unsafe { std::slice::from_raw_parts(password, password_len) }
    };
    match (user, password) {
        ("alice", b"s3cret\0binary") => mqtt_auth_result::Accept as c_int,
        ("alice", _) => mqtt_auth_result::BadCredentials as c_int,
        ("mallory", _) => mqtt_auth_result::NotAuthorized as c_int,
        _ => 77,
    }
}

#[test]
fn authenticator_results_map_to_connack_codes() {
    unsafe {
        let opts = mqtt_broker_options_new();
        assert_eq!(
            mqtt_broker_options_set_authenticator(opts, Some(authenticate), ptr::null_mut()),
            mqtt_status::Ok
        );
        let broker = new_broker(opts);
        mqtt_broker_options_free(opts);
        let port = mqtt_broker_port(broker);
        let attempt = |user: Option<&str>, password: Option<&[u8]>| {
            let mut connect = connect_packet("auth", true);
            connect.username = user.map(str::to_owned);
            connect.password = password.map(<[u8]>::to_vec);
            RawClient::connect_with(port, connect).1.code
        };
        assert_eq!(
            attempt(Some("alice"), Some(b"s3cret\0binary")),
            ConnectReturnCode::Accepted.to_reason()
        );
        assert_eq!(
            attempt(Some("alice"), Some(b"guess")),
            ConnectReturnCode::BadUsernameOrPassword.to_reason()
        );
        assert_eq!(
            attempt(None, None),
            ConnectReturnCode::BadUsernameOrPassword.to_reason()
        );
        assert_eq!(
            attempt(Some("mallory"), None),
            ConnectReturnCode::NotAuthorized.to_reason()
        );
        // Values outside mqtt_auth_result fail closed.
        assert_eq!(
            attempt(Some("eve"), None),
            ConnectReturnCode::NotAuthorized.to_reason()
        );
        mqtt_broker_free(broker);
    }
}

/// What the extended authenticator saw, one line per CONNECT.
static SEEN_REQUESTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn authenticate_ex(
    _userdata: *mut c_void,
    request: *const mqtt_auth_request,
) -> c_int {
    let request = unsafe { &*request };
    let text = |p: *const c_char| {
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned())
    };
    let password = (!request.password.is_null())
        .then(|| unsafe { std::slice::from_raw_parts(request.password, request.password_len) });
    SEEN_REQUESTS.lock().unwrap().push(format!(
        "{} {:?} {:?} {} {:?} {}",
        text(request.client_id).unwrap(),
        text(request.username),
        password,
        text(request.peer).unwrap(),
        text(request.certificate_identity),
        request.protocol_level
    ));
    if password == Some(b"pw") {
        mqtt_auth_result::Accept as c_int
    } else {
        mqtt_auth_result::BadCredentials as c_int
    }
}

/// The extended authenticator gets the peer address and protocol level besides the
/// credentials (and no certificate identity on a plain listener); its verdicts map as the
/// plain one's.
#[test]
fn extended_authenticator_sees_the_peer() {
    unsafe {
        let opts = mqtt_broker_options_new();
        assert_eq!(
            mqtt_broker_options_set_authenticator_ex(opts, Some(authenticate_ex), ptr::null_mut()),
            mqtt_status::Ok
        );
        let broker = new_broker(opts);
        mqtt_broker_options_free(opts);
        let port = mqtt_broker_port(broker);
        let mut connect = connect_packet("ex-auth", true);
        connect.username = Some("bob".to_owned());
        connect.password = Some(b"pw".to_vec());
        let (client, connack) = RawClient::connect_with(port, connect);
        assert_eq!(connack.code, ConnectReturnCode::Accepted.to_reason());
        let local = client.stream.local_addr().unwrap();
        let (_, refused) = RawClient::connect_with(port, connect_packet("anonymous", true));
        assert_eq!(
            refused.code,
            ConnectReturnCode::BadUsernameOrPassword.to_reason()
        );
        let seen = SEEN_REQUESTS.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(
            seen[0],
            format!("ex-auth Some(\"bob\") Some([112, 119]) {local} None 4")
        );
        assert!(
            seen[1].starts_with("anonymous None None 127.0.0.1:"),
            "{seen:?}"
        );
        mqtt_broker_free(broker);
    }
}

unsafe extern "C" fn authorize(
    _userdata: *mut c_void,
    client_id: *const c_char,
    username: *const c_char,
    topic: *const c_char,
    access: mqtt_access,
) -> bool {
    assert!(username.is_null());
    let client_id = unsafe { CStr::from_ptr(client_id) }.to_str().unwrap();
    let topic = unsafe { CStr::from_ptr(topic) }.to_str().unwrap();
    match access {
        mqtt_access::Subscribe => !topic.starts_with("private"),
        mqtt_access::Publish => client_id != "readonly",
    }
}

#[test]
fn authorizer_refuses_subscriptions_and_publishes() {
    unsafe {
        let opts = mqtt_broker_options_new();
        mqtt_broker_options_set_authorizer(opts, Some(authorize), ptr::null_mut());
        let broker = new_broker(opts);
        mqtt_broker_options_free(opts);
        let port = mqtt_broker_port(broker);
        let mut sub = RawClient::clean(port, "sub");
        sub.send(&subscribe(
            1,
            &[("private/#", QoS::AtMostOnce), ("public", QoS::AtMostOnce)],
        ));
        match sub.recv() {
            Packet::Suback(s) => assert_eq!(
                s.codes,
                vec![
                    SubackCode::Failure.to_reason(),
                    SubackCode::Granted(QoS::AtMostOnce).to_reason()
                ]
            ),
            other => panic!("{other:?}"),
        }
        let mut readonly = RawClient::clean(port, "readonly");
        readonly.send(&publish(
            "public",
            b"no",
            QosPid::AtLeastOnce(pid(1)),
            false,
        ));
        assert_eq!(readonly.recv(), Packet::Puback(pid(1).into()));
        let mut writer = RawClient::clean(port, "writer");
        writer.send(&publish("public", b"yes", QosPid::AtMostOnce, false));
        assert_eq!(sub.recv_publish().payload.as_ref(), b"yes");
        assert!(sub.sync_collect().is_empty());
        mqtt_broker_free(broker);
    }
}

/// What the event callback saw, and the broker it publishes into.
struct EventLog {
    broker: AtomicPtr<mqtt_broker>,
    lines: Mutex<Vec<String>>,
}

unsafe extern "C" fn on_event(userdata: *mut c_void, event: *const mqtt_broker_event) {
    let log = unsafe { &*(userdata as *const EventLog) };
    let event = unsafe { &*event };
    let text = |p: *const c_char| {
        if p.is_null() {
            "-".to_owned()
        } else {
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    let line = match event.kind {
        mqtt_broker_event_kind::Connected => format!(
            "connected {} user={} clean={} present={}",
            text(event.client_id),
            text(event.username),
            event.clean_session,
            event.session_present
        ),
        mqtt_broker_event_kind::Disconnected => format!(
            "disconnected {} {:?} {}",
            text(event.client_id),
            event.reason,
            text(event.reason_text)
        ),
    };
    assert!(text(event.peer).starts_with("127.0.0.1:"));
    // Calling back into the broker from its own thread must not deadlock.
    let broker = log.broker.load(Ordering::SeqCst);
    let topic = std::ffi::CString::new(format!("events/{}", text(event.client_id))).unwrap();
    let status =
        unsafe { mqtt_broker_publish(broker, topic.as_ptr(), line.as_ptr(), line.len(), 1, false) };
    assert_eq!(status, mqtt_status::Ok);
    let mut stats = mqtt_broker_statistics::default();
    assert_eq!(
        unsafe { mqtt_broker_stats(broker, &mut stats) },
        mqtt_status::Ok
    );
    log.lines.lock().unwrap().push(line);
}

#[test]
fn event_callback_reports_and_may_publish() {
    let log = Box::new(EventLog {
        broker: AtomicPtr::new(ptr::null_mut()),
        lines: Mutex::new(Vec::new()),
    });
    unsafe {
        let opts = mqtt_broker_options_new();
        mqtt_broker_options_set_event_callback(
            opts,
            Some(on_event),
            (&*log as *const EventLog).cast_mut().cast(),
        );
        let broker = mqtt_broker_new(c"0".as_ptr(), opts);
        mqtt_broker_options_free(opts);
        log.broker.store(broker, Ordering::SeqCst);
        assert_eq!(mqtt_broker_start(broker), mqtt_status::Ok);
        let port = mqtt_broker_port(broker);

        let mut watcher = RawClient::clean(port, "watcher");
        watcher.subscribe_ok(1, &[("events/#", QoS::AtLeastOnce)]);
        let mut connect = connect_packet("visitor", false);
        connect.username = Some("vis".into());
        let (visitor, _) = RawClient::connect_with(port, connect);
        let p = watcher.recv_publish();
        assert_eq!(p.topic.as_str(), "events/visitor");
        assert_eq!(
            std::str::from_utf8(&p.payload).unwrap(),
            "connected visitor user=vis clean=false present=false"
        );
        visitor.disconnect();
        let p = watcher.recv_publish();
        assert_eq!(
            std::str::from_utf8(&p.payload).unwrap(),
            "disconnected visitor ClientDisconnected client sent DISCONNECT"
        );
        mqtt_broker_free(broker);
    }
    let lines = log.lines.lock().unwrap();
    assert_eq!(
        lines[0],
        "connected watcher user=- clean=true present=false"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("disconnected watcher BrokerStopping")),
        "{lines:?}"
    );
}

#[test]
fn wait_returns_when_another_thread_stops() {
    let broker = Arc::new(start_default_broker());
    let stopper = Arc::clone(&broker);
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stopper.stop();
    });
    broker.wait();
    handle.join().unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", broker.port())).is_err());
}

#[test]
fn callbacks_may_publish_and_stop_without_deadlock() {
    let slot: Arc<parking_lot::Mutex<Option<Arc<Broker>>>> = Arc::default();
    let hook_slot = Arc::clone(&slot);
    let stopped_from_hook = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stopped_from_hook);
    let broker = Arc::new(start_broker(BrokerOptions::default().event_hook(
        move |event| {
            let Some(broker) = hook_slot.lock().clone() else {
                return;
            };
            match event {
                BrokerEvent::Connected { client_id, .. } if *client_id == "announcer" => {
                    broker
                        .publish(
                            "events/connected",
                            client_id.as_bytes(),
                            QoS::AtLeastOnce,
                            true,
                        )
                        .unwrap();
                    let _ = broker.stats();
                    let _ = broker.port();
                }
                BrokerEvent::Connected { client_id, .. } if *client_id == "stopper" => {
                    broker.stop();
                    flag.store(true, Ordering::SeqCst);
                }
                _ => {}
            }
        },
    )));
    *slot.lock() = Some(Arc::clone(&broker));
    let mut sub = RawClient::clean(broker.port(), "listener");
    sub.subscribe_ok(1, &[("events/#", QoS::AtLeastOnce)]);
    let mut announcer = RawClient::clean(broker.port(), "announcer");
    assert_eq!(sub.recv_publish().payload.as_ref(), b"announcer");
    announcer.sync();
    let mut stopper = RawClient::open(broker.port());
    stopper.send(&Packet::Connect(Box::new(connect_packet("stopper", true))));
    stopper.expect_closed(READ_TIMEOUT);
    assert!(stopped_from_hook.load(Ordering::SeqCst));
    broker.wait();
    sub.expect_closed(READ_TIMEOUT);
    slot.lock().take();
}

/// A bridge set up through the C API carries a message to the remote, and its status and
/// last error are readable; bad bridge arguments are refused with their statuses.
#[test]
fn a_bridge_through_the_c_api() {
    unsafe {
        assert!(mqtt_bridge_options_new(c"".as_ptr(), c"h".as_ptr(), 1).is_null());
        assert_eq!(mqtt_last_status(), mqtt_status::InvalidArgument);
        assert!(mqtt_bridge_options_new(ptr::null(), c"h".as_ptr(), 1).is_null());
        assert_eq!(mqtt_last_status(), mqtt_status::NullArgument);

        let remote = crate::fixture::start_broker(BrokerOptions::default());
        let mut upstream = RawClient::clean(remote.port(), "upstream");
        upstream.subscribe_ok(1, &[("hq/#", QoS::AtLeastOnce)]);

        let bridge =
            mqtt_bridge_options_new(c"site".as_ptr(), c"127.0.0.1".as_ptr(), remote.port());
        assert!(!bridge.is_null());
        let out = mqtt_bridge_direction::Out as c_int;
        assert_eq!(
            mqtt_bridge_options_add_topic(bridge, c"#".as_ptr(), 7, 1, ptr::null(), ptr::null()),
            mqtt_status::InvalidArgument
        );
        assert_eq!(
            mqtt_bridge_options_add_topic(bridge, c"#".as_ptr(), out, 3, ptr::null(), ptr::null()),
            mqtt_status::InvalidQos
        );
        assert_eq!(
            mqtt_bridge_options_add_topic(
                bridge,
                c"a/#/b".as_ptr(),
                out,
                1,
                ptr::null(),
                ptr::null()
            ),
            mqtt_status::InvalidTopic
        );
        assert_eq!(
            mqtt_bridge_options_add_topic(
                bridge,
                c"#".as_ptr(),
                out,
                1,
                c"".as_ptr(),
                c"hq/".as_ptr()
            ),
            mqtt_status::Ok
        );
        assert_eq!(
            mqtt_bridge_options_set_reconnect(bridge, 100, 50, false, 0, true),
            mqtt_status::InvalidArgument
        );
        assert_eq!(
            mqtt_bridge_options_set_reconnect(bridge, 100, 400, false, 0, true),
            mqtt_status::Ok
        );
        assert_eq!(
            mqtt_bridge_options_set_protocol_level(bridge, 6),
            mqtt_status::InvalidArgument
        );
        assert_eq!(
            mqtt_bridge_options_set_protocol_level(bridge, 5),
            mqtt_status::Ok
        );
        assert_eq!(
            mqtt_bridge_options_set_remote_client_id(bridge, c"site-1".as_ptr()),
            mqtt_status::Ok
        );
        let opts = mqtt_broker_options_new();
        assert_eq!(
            mqtt_broker_options_add_bridge(opts, bridge),
            mqtt_status::Ok
        );
        assert_eq!(
            mqtt_broker_options_add_bridge(opts, bridge),
            mqtt_status::InvalidArgument
        );
        mqtt_bridge_options_free(bridge);
        mqtt_bridge_options_free(ptr::null_mut());
        let local = new_broker(opts);
        mqtt_broker_options_free(opts);
        assert_eq!(mqtt_broker_bridge_count(local), 1);
        let mut status = mqtt_bridge_status::default();
        let mut error = [0 as c_char; 64];
        crate::fixture::eventually("bridge up", || {
            mqtt_broker_bridge_status(local, 0, &mut status, error.as_mut_ptr(), error.len())
                == mqtt_status::Ok
                && status.connected
        });
        assert_eq!(
            mqtt_broker_publish(local, c"t".as_ptr(), b"x".as_ptr(), 1, 1, false),
            mqtt_status::Ok
        );
        assert_eq!(upstream.recv_completed().0, "hq/t");
        assert!(remote.clients().iter().any(|c| &*c.client_id == "site-1"));
        assert_eq!(
            mqtt_broker_bridge_status(local, 1, &mut status, ptr::null_mut(), 0),
            mqtt_status::NotFound
        );
        mqtt_broker_free(local);
    }
}
