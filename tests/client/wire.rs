//! The client against a scripted fake broker: exact packets on the wire and exact reactions to
//! chosen server behaviour (interleaving, duplicates, silence, refusals).

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::client_support::{FakeBroker, FakeConn, Inbox, WAIT, connect, id, options};
use mqtt::client::{Client, ClientError, CloseReason, ConnectOptions};
use mqtt::protocol::{
    Connack, ConnectReturnCode, Packet, ProtocolLevel, Publish, QoS, QosPid, Suback, SubackCode,
};
use mqtt::topic::TopicName;

fn publish(topic: &str, payload: &[u8], qospid: QosPid, dup: bool) -> Packet {
    Packet::Publish(Publish {
        properties: Default::default(),
        dup,
        qospid,
        retain: false,
        topic: TopicName::new(topic).unwrap(),
        payload: Arc::from(payload),
    })
}

/// Answers the client's SUBSCRIBE with a grant of what it asked for.
fn grant_subscribe(conn: &mut FakeConn) {
    let Packet::Subscribe(s) = conn.read(WAIT) else {
        panic!("expected SUBSCRIBE")
    };
    conn.send(&Packet::Suback(Suback {
        properties: Default::default(),
        packet_id: s.packet_id,
        codes: vec![SubackCode::Granted(s.topics[0].qos).to_reason()],
    }));
}

/// A PUBLISH arriving while the client waits for SUBACK, PUBACK, PUBREC, PUBCOMP, PINGRESP or
/// UNSUBACK is dispatched to its callback and not taken for the reply.
#[test]
fn publish_interleaved_with_every_awaited_reply() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect();
        let Packet::Subscribe(s) = conn.read(WAIT) else {
            panic!("expected SUBSCRIBE")
        };
        conn.send(&publish("w/suback", b"1", QosPid::AtMostOnce, false));
        conn.send(&Packet::Suback(Suback {
            properties: Default::default(),
            packet_id: s.packet_id,
            codes: vec![SubackCode::Granted(QoS::AtLeastOnce).to_reason()],
        }));

        let Packet::Publish(p) = conn.read(WAIT) else {
            panic!("expected PUBLISH")
        };
        let QosPid::AtLeastOnce(pid) = p.qospid else {
            panic!("expected QoS 1")
        };
        conn.send(&publish(
            "w/puback",
            b"2",
            QosPid::AtLeastOnce(id(100)),
            false,
        ));
        conn.send(&Packet::Puback(pid.into()));
        assert_eq!(conn.read(WAIT), Packet::Puback(id(100).into()));

        let Packet::Publish(p) = conn.read(WAIT) else {
            panic!("expected PUBLISH")
        };
        let QosPid::ExactlyOnce(qid) = p.qospid else {
            panic!("expected QoS 2")
        };
        conn.send(&publish("w/pubrec", b"3", QosPid::AtMostOnce, false));
        conn.send(&Packet::Pubrec(qid.into()));
        assert_eq!(conn.read(WAIT), Packet::Pubrel(qid.into()));
        conn.send(&publish("w/pubcomp", b"4", QosPid::AtMostOnce, false));
        conn.send(&Packet::Pubcomp(qid.into()));

        assert_eq!(conn.read(WAIT), Packet::Pingreq);
        conn.send(&publish("w/pingresp", b"5", QosPid::AtMostOnce, false));
        conn.send(&Packet::Pingresp);

        let Packet::Unsubscribe(u) = conn.read(WAIT) else {
            panic!("expected UNSUBSCRIBE")
        };
        conn.send(&publish("w/unsuback", b"6", QosPid::AtMostOnce, false));
        conn.send(&Packet::Unsuback(mqtt::protocol::Unsuback::new(
            u.packet_id,
        )));
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let client = connect(broker.port, &options());
    let inbox = Inbox::default();
    let next_topic = || inbox.try_next(Duration::ZERO).map(|m| m.topic);

    assert_eq!(
        client
            .subscribe("w/#", QoS::AtLeastOnce, inbox.callback("w"))
            .unwrap(),
        QoS::AtLeastOnce
    );
    assert_eq!(next_topic().as_deref(), Some("w/suback"));
    client
        .publish("out/1", b"x", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(next_topic().as_deref(), Some("w/puback"));
    client
        .publish("out/2", b"y", QoS::ExactlyOnce, false)
        .unwrap();
    assert_eq!(next_topic().as_deref(), Some("w/pubrec"));
    assert_eq!(next_topic().as_deref(), Some("w/pubcomp"));
    client.ping().unwrap();
    assert_eq!(next_topic().as_deref(), Some("w/pingresp"));
    client.unsubscribe("w/#").unwrap();
    // Arrived before UNSUBACK, so still dispatched to the callback being removed.
    assert_eq!(next_topic().as_deref(), Some("w/unsuback"));
    assert_eq!(next_topic(), None);
    client.disconnect().unwrap();
    broker.finish();
}

/// An incoming QoS 2 PUBLISH resent before PUBREL is acknowledged again but dispatched once;
/// after PUBREL the identifier carries a new message ([MQTT-4.3.3-2]). QoS 1 gets PUBACK.
#[test]
fn incoming_qos2_is_dispatched_exactly_once() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect();
        grant_subscribe(&mut conn);
        conn.send(&publish("q/2", b"once", QosPid::ExactlyOnce(id(7)), false));
        conn.send(&publish("q/2", b"once", QosPid::ExactlyOnce(id(7)), true));
        assert_eq!(conn.read(WAIT), Packet::Pubrec(id(7).into()));
        assert_eq!(conn.read(WAIT), Packet::Pubrec(id(7).into()));
        conn.send(&Packet::Pubrel(id(7).into()));
        assert_eq!(conn.read(WAIT), Packet::Pubcomp(id(7).into()));
        // PUBREL for an unknown identifier still gets PUBCOMP.
        conn.send(&Packet::Pubrel(id(9).into()));
        assert_eq!(conn.read(WAIT), Packet::Pubcomp(id(9).into()));
        conn.send(&publish("q/2", b"new", QosPid::ExactlyOnce(id(7)), false));
        assert_eq!(conn.read(WAIT), Packet::Pubrec(id(7).into()));
        conn.send(&publish("q/1", b"one", QosPid::AtLeastOnce(id(8)), false));
        assert_eq!(conn.read(WAIT), Packet::Puback(id(8).into()));
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let client = connect(broker.port, &options());
    let inbox = Inbox::default();
    client
        .subscribe("q/+", QoS::ExactlyOnce, inbox.callback("q"))
        .unwrap();
    let mut payloads = Vec::new();
    let deadline = Instant::now() + WAIT;
    while payloads.len() < 3 && Instant::now() < deadline {
        match client.receive_message(Some(Duration::from_millis(200))) {
            Ok(()) | Err(ClientError::Timeout) => {}
            Err(e) => panic!("{e}"),
        }
        while let Some(m) = inbox.try_next(Duration::ZERO) {
            payloads.push(String::from_utf8(m.payload).unwrap());
        }
    }
    assert_eq!(payloads, ["once", "new", "one"]);
    // Nothing else trickles in.
    assert!(matches!(
        client.receive_message(Some(Duration::from_millis(200))),
        Err(ClientError::Timeout)
    ));
    assert!(inbox.try_next(Duration::ZERO).is_none());
    client.disconnect().unwrap();
    broker.finish();
}

/// CONNECT carries exactly the options ([MQTT-3.1.2-*] flags, [MQTT-3.1.3-*] payload order).
#[test]
fn connect_packet_carries_the_options() {
    let broker = FakeBroker::start(|mut conn| {
        let c = conn.accept_connect();
        assert_eq!(c.protocol, ProtocolLevel::V31);
        assert_eq!(c.client_id, "me");
        assert!(!c.clean_session);
        assert_eq!(c.keep_alive, 7);
        assert_eq!(c.username.as_deref(), Some("user"));
        assert_eq!(c.password.as_deref(), Some(&b"\x00\xffpw"[..]));
        let will = c.will.expect("will");
        assert_eq!(
            (
                will.topic.as_str(),
                will.payload.as_slice(),
                will.qos,
                will.retain
            ),
            ("w/t", &b"bye"[..], QoS::ExactlyOnce, true)
        );
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let opts = options()
        .protocol(ProtocolLevel::V31)
        .client_id("me")
        .clean_session(false)
        .keep_alive(Duration::from_secs(7))
        .credentials("user", Some(b"\x00\xffpw"))
        .will("w/t", b"bye", QoS::ExactlyOnce, true);
    let client = connect(broker.port, &opts);
    assert_eq!(client.client_id(), "me");
    client.disconnect().unwrap();
    broker.finish();

    let broker = FakeBroker::start(|mut conn| {
        let c = conn.accept_connect();
        assert_eq!(c.protocol, ProtocolLevel::V311);
        assert!(c.clean_session);
        assert_eq!(c.keep_alive, 60);
        assert!(!c.client_id.is_empty() && c.client_id.len() <= 23);
        assert!(c.will.is_none() && c.username.is_none() && c.password.is_none());
    });
    let client = connect(broker.port, &ConnectOptions::new());
    assert!(client.client_id().starts_with("mqtt-"));
    drop(client);
    broker.finish();
}

/// Each CONNACK refusal code is its own error, with the broker's reason in its text.
#[test]
fn every_connack_refusal_is_distinct() {
    let cases = [
        (
            ConnectReturnCode::UnacceptableProtocolVersion,
            "unacceptable protocol version",
        ),
        (ConnectReturnCode::IdentifierRejected, "identifier rejected"),
        (ConnectReturnCode::ServerUnavailable, "server unavailable"),
        (
            ConnectReturnCode::BadUsernameOrPassword,
            "bad user name or password",
        ),
        (ConnectReturnCode::NotAuthorized, "not authorized"),
    ];
    for (code, text) in cases {
        let broker = FakeBroker::start(move |mut conn| {
            let _ = conn.read(WAIT);
            conn.send(&Packet::Connack(Connack {
                properties: Default::default(),
                session_present: false,
                code: code.to_reason(),
            }));
        });
        let err = Client::connect("127.0.0.1", broker.port, &options()).unwrap_err();
        let matches = match code {
            ConnectReturnCode::UnacceptableProtocolVersion => {
                matches!(err, ClientError::UnacceptableProtocolVersion)
            }
            ConnectReturnCode::IdentifierRejected => matches!(err, ClientError::IdentifierRejected),
            ConnectReturnCode::ServerUnavailable => matches!(err, ClientError::ServerUnavailable),
            ConnectReturnCode::BadUsernameOrPassword => {
                matches!(err, ClientError::BadUsernameOrPassword)
            }
            ConnectReturnCode::NotAuthorized => matches!(err, ClientError::NotAuthorized),
            ConnectReturnCode::Accepted => unreachable!(),
        };
        assert!(matches, "{code:?} gave {err:?}");
        assert!(err.to_string().contains(text), "{err}");
        broker.finish();
    }
}

/// A server that accepts TCP but never answers CONNECT does not hang connect past its timeout;
/// a first packet other than CONNACK is a protocol error ([MQTT-3.2.0-1]).
#[test]
fn connect_timeout_and_wrong_first_packet() {
    let broker = FakeBroker::start(|mut conn| {
        let _ = conn.read(WAIT);
        thread::sleep(Duration::from_millis(1500));
    });
    let start = Instant::now();
    let err = Client::connect(
        "127.0.0.1",
        broker.port,
        &ConnectOptions::new().connect_timeout(Duration::from_millis(400)),
    )
    .unwrap_err();
    assert!(matches!(err, ClientError::Timeout), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_millis(1400),
        "{:?}",
        start.elapsed()
    );
    broker.finish();

    let broker = FakeBroker::start(|mut conn| {
        let _ = conn.read(WAIT);
        conn.send(&Packet::Pingresp);
    });
    let err = Client::connect("127.0.0.1", broker.port, &options()).unwrap_err();
    assert!(matches!(err, ClientError::Protocol(_)), "{err:?}");
    broker.finish();
}

#[test]
fn unreachable_and_unresolvable_hosts() {
    let port = crate::mosquitto::free_port();
    let err = Client::connect("127.0.0.1", port, &options()).unwrap_err();
    assert!(matches!(err, ClientError::ConnectFailed(_)), "{err:?}");
    let err = Client::connect("no-such-host.invalid", 1883, &options()).unwrap_err();
    assert!(matches!(err, ClientError::Resolve(_)), "{err:?}");
}

/// IPv6 literals connect, bare or bracketed (skipped when the machine has no ::1).
#[test]
fn ipv6_loopback() {
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        for _ in 0..2 {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = std::io::Read::read(&mut stream, &mut buf).unwrap();
            std::io::Write::write_all(&mut stream, &[0x20, 2, 0, 0]).unwrap();
        }
    });
    for host in ["::1", "[::1]"] {
        let client = Client::connect(host, port, &options()).expect(host);
        assert!(client.is_connected());
    }
    server.join().unwrap();
}

/// With nothing else to send, PINGREQ goes out once per keep-alive period while the client
/// reads ([MQTT-3.1.2-23]).
#[test]
fn pingreq_when_idle_for_a_keep_alive_period() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect();
        let start = Instant::now();
        for _ in 0..2 {
            assert_eq!(conn.read(Duration::from_secs(3)), Packet::Pingreq);
            conn.send(&Packet::Pingresp);
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(1900),
            "pings came too early: {elapsed:?}"
        );
        // Stay connected until the client goes away.
        let _ = conn.try_read(WAIT);
    });
    let client = connect(broker.port, &options().keep_alive(Duration::from_secs(1)));
    let until = Instant::now() + Duration::from_millis(2600);
    while Instant::now() < until {
        match client.receive_message(Some(until - Instant::now())) {
            Err(ClientError::Timeout) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(client.is_connected());
    drop(client);
    broker.finish();
}

/// A broker that stops answering PINGREQ is detected: receive_message reports the connection
/// closed for want of PINGRESP.
#[test]
fn dead_broker_is_detected_by_keep_alive() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect();
        assert_eq!(conn.read(Duration::from_secs(3)), Packet::Pingreq);
        // Stay silent; the client gives up and closes.
        assert!(conn.try_read(Duration::from_secs(4)).is_none());
    });
    let client = connect(broker.port, &options().keep_alive(Duration::from_secs(1)));
    let start = Instant::now();
    let result = client.receive_message(Some(Duration::from_secs(6)));
    assert!(
        matches!(
            result,
            Err(ClientError::Closed(CloseReason::KeepAliveTimeout))
        ),
        "{result:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    drop(client);
    broker.finish();
}

/// publish_async keeps at most `max_inflight` unacknowledged publishes on the wire and blocks
/// for a free slot; wait_published returns once the acknowledgement is in.
#[test]
fn inflight_window_limits_pipelined_publishes() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let Packet::Publish(p) = conn.read(WAIT) else {
                panic!("expected PUBLISH")
            };
            ids.push(p.qospid.packet_id().unwrap());
        }
        assert!(
            conn.try_read(Duration::from_millis(300)).is_none(),
            "a third PUBLISH went out with the window full"
        );
        conn.send(&Packet::Puback(ids[0].into()));
        let Packet::Publish(p) = conn.read(WAIT) else {
            panic!("expected the third PUBLISH")
        };
        conn.send(&Packet::Puback(ids[1].into()));
        conn.send(&Packet::Puback(p.qospid.packet_id().unwrap().into()));
        assert_eq!(
            conn.read(WAIT),
            publish("win", b"0", QosPid::AtMostOnce, false)
        );
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let client = connect(broker.port, &options().max_inflight(2));
    let a = client
        .publish_async("win", b"1", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    let b = client
        .publish_async("win", b"2", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    assert_ne!(a, b);
    let start = Instant::now();
    let c = client
        .publish_async("win", b"3", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "did not block"
    );
    for pid in [a, b, c] {
        client.wait_published(pid, Some(WAIT)).unwrap();
    }
    assert_eq!(
        client
            .publish_async("win", b"0", QoS::AtMostOnce, false)
            .unwrap(),
        None
    );
    client.disconnect().unwrap();
    broker.finish();
}

/// A packet only a client may send, coming from the server, closes the connection.
#[test]
fn server_sending_client_packets_is_a_protocol_violation() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect();
        conn.send(&Packet::Pingreq);
        assert!(conn.try_read(WAIT).is_none(), "client must close");
    });
    let client = connect(broker.port, &options());
    let result = client.receive_message(Some(WAIT));
    assert!(
        matches!(
            result,
            Err(ClientError::Closed(CloseReason::ProtocolViolation(_)))
        ),
        "{result:?}"
    );
    drop(client);
    broker.finish();
}

/// SUBACK 0x80 is an error and the callback is not kept.
#[test]
fn refused_subscription() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect();
        let Packet::Subscribe(s) = conn.read(WAIT) else {
            panic!("expected SUBSCRIBE")
        };
        conn.send(&Packet::Suback(Suback {
            properties: Default::default(),
            packet_id: s.packet_id,
            codes: vec![SubackCode::Failure.to_reason()],
        }));
        conn.send(&publish("denied", b"x", QosPid::AtMostOnce, false));
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let client = connect(broker.port, &options());
    let inbox = Inbox::default();
    let err = client
        .subscribe("denied", QoS::AtMostOnce, inbox.callback("d"))
        .unwrap_err();
    assert!(
        matches!(err, ClientError::SubscribeRefused(ref f) if f == "denied"),
        "{err:?}"
    );
    client.receive_message(Some(WAIT)).unwrap();
    assert!(inbox.try_next(Duration::ZERO).is_none());
    client.disconnect().unwrap();
    broker.finish();
}

/// Invalid topics and filters are refused before anything is sent.
#[test]
fn invalid_topics_are_refused_locally() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect();
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let client = connect(broker.port, &options());
    for bad in ["a/#/b", "", "a+"] {
        assert!(matches!(
            client.subscribe(bad, QoS::AtMostOnce, |_| {}),
            Err(ClientError::InvalidTopic(_))
        ));
    }
    for bad in ["a/+", "#", ""] {
        assert!(matches!(
            client.publish(bad, b"", QoS::AtMostOnce, false),
            Err(ClientError::InvalidTopic(_))
        ));
    }
    client.disconnect().unwrap();
    broker.finish();
}

/// While the loop thread runs, callbacks run on it, and `receive_message` on another thread
/// waits for the loop to process the next message.
#[test]
fn callbacks_run_on_the_loop_thread() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect();
        grant_subscribe(&mut conn);
        // Sent once the test is waiting in receive_message.
        thread::sleep(Duration::from_millis(200));
        conn.send(&publish("loop/t", b"1", QosPid::AtMostOnce, false));
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let client = connect(broker.port, &options());
    let (tx, rx) = crossbeam_channel::unbounded();
    client
        .subscribe("loop/#", QoS::AtMostOnce, move |_| {
            let _ = tx.send(thread::current().name().map(str::to_owned));
        })
        .unwrap();
    client.loop_start().unwrap();
    assert!(matches!(
        client.loop_start(),
        Err(ClientError::LoopAlreadyRunning)
    ));
    client.receive_message(Some(WAIT)).unwrap();
    let thread_name = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(thread_name.as_deref(), Some("mqtt-client-loop"));
    client.loop_stop();
    client.disconnect().unwrap();
    broker.finish();
}

/// One thread blocks in receive_message (no loop thread) while another subscribes, publishes
/// and pings: the reading thread reads the replies and hands them over.
#[test]
fn replies_are_handed_over_by_the_reading_thread() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect();
        grant_subscribe(&mut conn);
        let Packet::Publish(p) = conn.read(WAIT) else {
            panic!("expected PUBLISH")
        };
        conn.send(&Packet::Puback(p.qospid.packet_id().unwrap().into()));
        assert_eq!(conn.read(WAIT), Packet::Pingreq);
        conn.send(&Packet::Pingresp);
        conn.send(&publish("h/done", b"", QosPid::AtMostOnce, false));
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let client = Arc::new(connect(broker.port, &options()));
    let reader = {
        let client = Arc::clone(&client);
        thread::spawn(move || client.receive_message(None))
    };
    // Give the reader time to take the reading role and block.
    thread::sleep(Duration::from_millis(100));
    let inbox = Inbox::default();
    client
        .subscribe("h/#", QoS::AtMostOnce, inbox.callback("h"))
        .unwrap();
    client
        .publish("h/out", b"x", QoS::AtLeastOnce, false)
        .unwrap();
    client.ping().unwrap();
    reader.join().unwrap().unwrap();
    assert_eq!(inbox.next(WAIT).topic, "h/done");
    client.disconnect().unwrap();
    broker.finish();
}

/// loop_start while another thread is blocked reading (keep-alive off, so it would otherwise
/// sleep until data arrives): the loop thread takes over reading and runs the callbacks.
#[test]
fn loop_start_takes_over_from_a_blocked_reader() {
    let broker = FakeBroker::start(|mut conn| {
        conn.accept_connect();
        grant_subscribe(&mut conn);
        // Well after loop_start below.
        thread::sleep(Duration::from_millis(400));
        conn.send(&publish("take/over", b"", QosPid::AtMostOnce, false));
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let client = Arc::new(connect(broker.port, &options().keep_alive(Duration::ZERO)));
    let (tx, rx) = crossbeam_channel::unbounded();
    client
        .subscribe("take/#", QoS::AtMostOnce, move |_| {
            let _ = tx.send(thread::current().name().map(str::to_owned));
        })
        .unwrap();
    let reader = {
        let client = Arc::clone(&client);
        thread::spawn(move || client.receive_message(None))
    };
    thread::sleep(Duration::from_millis(100));
    client.loop_start().unwrap();
    // Had the blocked thread kept reading, it would have run the callback itself.
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap().as_deref(),
        Some("mqtt-client-loop")
    );
    reader.join().unwrap().unwrap();
    client.loop_stop();
    client.disconnect().unwrap();
    broker.finish();
}
