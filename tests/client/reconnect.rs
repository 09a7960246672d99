//! Reconnecting with the session kept ([MQTT-4.4.0-1]) and the publish completion callback:
//! exact packets against a scripted fake broker, then end to end through our broker with a
//! proxy that drops the connection where a test wants it dropped.

use std::num::NonZeroU16;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::client_support::{
    FakeBroker, Inbox, WAIT, connect, id, options, read_publish, wait_until_closed,
};
use mqtt::broker::{Broker, BrokerOptions};
use mqtt::client::{Client, ClientError, PublishOutcome, PublishedCallback};
use mqtt::protocol::{
    ConnectReturnCode, Packet, PacketId, Publish, QoS, QosPid, Suback, SubackCode,
};
use mqtt::topic::TopicName;

type Completions = Arc<Mutex<Vec<(u16, PublishOutcome)>>>;

/// A completion callback recording every call.
fn recorder() -> (Completions, PublishedCallback) {
    let seen: Completions = Arc::default();
    let callback: PublishedCallback = Arc::new({
        let seen = Arc::clone(&seen);
        move |id: PacketId, outcome| seen.lock().unwrap().push((id.get(), outcome))
    });
    (seen, callback)
}

/// Polls until `seen` holds `n` completions.
fn wait_for_completions(seen: &Completions, n: usize) -> Vec<(u16, PublishOutcome)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = seen.lock().unwrap().clone();
        if now.len() >= n || Instant::now() >= deadline {
            return now;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Clean session 0: after the connection drops, the reconnect sends the same client id (here a
/// generated one), then re-sends the unacknowledged PUBLISH packets with DUP set and their
/// original identifiers, and PUBREL for the one past PUBREC, in the original order
/// ([MQTT-4.4.0-1], [MQTT-3.3.1-1], [MQTT-4.6.0-1], [MQTT-4.6.0-3]). A QoS 2 message received
/// and awaiting PUBREL is not dispatched again when the broker re-delivers it. Waiters and the
/// completion callback see every identifier complete, and the loop thread comes back.
#[test]
fn persistent_session_resends_with_original_identifiers() {
    let broker = FakeBroker::start_serving(|listener| {
        let mut conn = listener.accept(WAIT);
        let first = conn.accept_connect();
        assert!(!first.clean_session);
        let Packet::Subscribe(s) = conn.read(WAIT) else {
            panic!("expected SUBSCRIBE")
        };
        conn.send(&Packet::Suback(Suback {
            properties: Default::default(),
            packet_id: s.packet_id,
            codes: vec![SubackCode::Granted(QoS::ExactlyOnce).to_reason()],
        }));
        let sent: Vec<Publish> = (0..4).map(|_| read_publish(&mut conn)).collect();
        let ids: Vec<NonZeroU16> = sent.iter().map(|p| p.qospid.packet_id().unwrap()).collect();
        assert!(
            sent.iter().all(|p| !p.dup),
            "first transmissions have DUP 0"
        );
        conn.send(&Packet::Publish(Publish {
            properties: Default::default(),
            dup: false,
            qospid: QosPid::ExactlyOnce(id(50)),
            retain: false,
            topic: TopicName::new("in/x").unwrap(),
            payload: Arc::from(&b"once"[..]),
        }));
        assert_eq!(conn.read(WAIT), Packet::Pubrec(id(50).into()));
        conn.send(&Packet::Puback(ids[3].into()));
        conn.send(&Packet::Pubrec(ids[2].into()));
        assert_eq!(conn.read(WAIT), Packet::Pubrel(ids[2].into()));
        drop(conn); // PUBACK for a, PUBREC for b and PUBCOMP for c never come.

        let mut conn = listener.accept(WAIT);
        let second = conn.accept_connect_with(true);
        assert_eq!(
            second.client_id, first.client_id,
            "same generated client id"
        );
        assert!(!second.clean_session);
        let a = read_publish(&mut conn);
        assert!(a.dup, "re-sent PUBLISH has DUP 1 [MQTT-3.3.1-1]");
        assert_eq!(a.qospid, sent[0].qospid, "with its original identifier");
        assert_eq!((a.topic.as_str(), &*a.payload), ("out/a", &b"a"[..]));
        let b = read_publish(&mut conn);
        assert!(b.dup);
        assert_eq!(b.qospid, sent[1].qospid);
        assert_eq!((b.topic.as_str(), &*b.payload), ("out/b", &b"b"[..]));
        assert_eq!(
            conn.read(WAIT),
            Packet::Pubrel(ids[2].into()),
            "PUBREL, not PUBLISH, for c"
        );
        // The broker re-delivers its unreleased QoS 2 message: acknowledged, not dispatched.
        conn.send(&Packet::Publish(Publish {
            properties: Default::default(),
            dup: true,
            qospid: QosPid::ExactlyOnce(id(50)),
            retain: false,
            topic: TopicName::new("in/x").unwrap(),
            payload: Arc::from(&b"once"[..]),
        }));
        assert_eq!(conn.read(WAIT), Packet::Pubrec(id(50).into()));
        conn.send(&Packet::Pubrel(id(50).into()));
        assert_eq!(conn.read(WAIT), Packet::Pubcomp(id(50).into()));
        conn.send(&Packet::Puback(ids[0].into()));
        conn.send(&Packet::Pubrec(ids[1].into()));
        assert_eq!(conn.read(WAIT), Packet::Pubrel(ids[1].into()));
        conn.send(&Packet::Pubcomp(ids[1].into()));
        conn.send(&Packet::Pubcomp(ids[2].into()));
        let after = read_publish(&mut conn);
        assert!(!after.dup && after.topic.as_str() == "out/after");
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let client = Arc::new(connect(broker.port, &options().clean_session(false)));
    let (seen, callback) = recorder();
    client.set_on_published(Some(callback));
    let inbox = Inbox::default();
    client
        .subscribe("in/#", QoS::ExactlyOnce, inbox.callback("in"))
        .unwrap();
    client.loop_start().unwrap();
    let a = client
        .publish_async("out/a", b"a", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    let b = client
        .publish_async("out/b", b"b", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    let c = client
        .publish_async("out/c", b"c", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    let d = client
        .publish_async("out/d", b"d", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    client.wait_published(d, Some(WAIT)).unwrap();
    assert_eq!(inbox.next(WAIT).payload, b"once");
    wait_until_closed(&client);

    // A waiter that started before the reconnect completes after it.
    let waiter = thread::spawn({
        let client = Arc::clone(&client);
        move || client.wait_published(a, Some(WAIT))
    });
    client.reconnect().unwrap();
    assert!(client.session_present());
    assert!(
        matches!(client.loop_start(), Err(ClientError::LoopAlreadyRunning)),
        "reconnect restarted the loop thread"
    );
    for id in [a, b, c] {
        client.wait_published(id, Some(WAIT)).unwrap();
    }
    waiter.join().unwrap().unwrap();
    client
        .publish("out/after", b"", QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(
        inbox.try_next(Duration::from_millis(200)),
        None,
        "dispatched once"
    );
    let ack = PublishOutcome::Acknowledged;
    assert_eq!(
        wait_for_completions(&seen, 4),
        vec![
            (d.get(), ack),
            (a.get(), ack),
            (b.get(), ack),
            (c.get(), ack)
        ]
    );
    client.disconnect().unwrap();
    broker.finish();
}

/// Clean session 1: the reconnect re-sends nothing; unacknowledged publishes are discarded,
/// their waiters fail when the connection is lost and the completion callback says so.
#[test]
fn clean_session_reconnect_discards_inflight_publishes() {
    let broker = FakeBroker::start_serving(|listener| {
        let mut conn = listener.accept(WAIT);
        let first = conn.accept_connect();
        assert!(first.clean_session);
        let lost = read_publish(&mut conn);
        assert_eq!(lost.qospid.qos(), QoS::AtLeastOnce);
        drop(conn);

        let mut conn = listener.accept(WAIT);
        let second = conn.accept_connect();
        assert_eq!(second.client_id, first.client_id);
        let next = read_publish(&mut conn);
        assert_eq!(next.topic.as_str(), "fresh", "nothing re-sent before it");
        assert!(!next.dup);
        conn.send(&Packet::Puback(next.qospid.packet_id().unwrap().into()));
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let client = connect(broker.port, &options());
    let (seen, callback) = recorder();
    client.set_on_published(Some(callback));
    let lost = client
        .publish_async("lost", b"x", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    assert!(matches!(
        client.wait_published(lost, Some(WAIT)),
        Err(ClientError::Closed(_))
    ));
    client.reconnect().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(lost.get(), PublishOutcome::Discarded)],
        "reported on the reconnecting thread before reconnect returns"
    );
    client
        .publish("fresh", b"y", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
    client.disconnect().unwrap();
    broker.finish();
}

/// A refused or failed reconnect leaves the client closed and may be retried.
#[test]
fn failed_reconnect_can_be_retried() {
    let broker = FakeBroker::start_serving(|listener| {
        let mut conn = listener.accept(WAIT);
        conn.accept_connect();
        drop(conn);
        let mut conn = listener.accept(WAIT);
        conn.refuse_connect(ConnectReturnCode::ServerUnavailable);
        drop(conn);
        let mut conn = listener.accept(WAIT);
        conn.accept_connect();
        assert_eq!(conn.read(WAIT), Packet::Pingreq);
        conn.send(&Packet::Pingresp);
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let client = connect(broker.port, &options());
    assert!(matches!(
        client.receive_message(Some(WAIT)),
        Err(ClientError::Closed(_))
    ));
    assert!(matches!(
        client.reconnect(),
        Err(ClientError::ServerUnavailable)
    ));
    assert!(!client.is_connected());
    client.reconnect().unwrap();
    client.ping().unwrap();
    client.disconnect().unwrap();
    broker.finish();
}

fn start_broker() -> Broker {
    let broker = Broker::new(BrokerOptions {
        bind_address: "127.0.0.1".into(),
        ..BrokerOptions::with_port(0)
    });
    broker.start().expect("start broker");
    broker
}

/// A completion callback's identifier and the name of the thread it ran on.
type CallOnThread = (u16, Option<String>);

/// The completion callback: every identifier exactly once, in acknowledgement order (a QoS 1
/// stream is acknowledged in order), on the loop thread while it runs and on the reading
/// caller otherwise, and it may publish — even waiting for a PUBACK — without deadlock.
#[test]
fn completion_callback_reports_every_publish_in_order() {
    let broker = start_broker();
    let client = Arc::new(connect(broker.port(), &options().max_inflight(16)));
    let weak: Weak<Client> = Arc::downgrade(&client);
    let seen: Arc<Mutex<Vec<CallOnThread>>> = Arc::default();
    let nested: Arc<Mutex<Vec<Result<(), String>>>> = Arc::default();
    client.set_on_published(Some(Arc::new({
        let (seen, nested) = (Arc::clone(&seen), Arc::clone(&nested));
        move |id: PacketId, outcome| {
            assert_eq!(outcome, PublishOutcome::Acknowledged);
            let first = seen.lock().unwrap().is_empty();
            let thread_name = thread::current().name().map(str::to_owned);
            seen.lock().unwrap().push((id.get(), thread_name));
            if first && let Some(client) = weak.upgrade() {
                // Waits for its own PUBACK inside the callback; reported nested.
                let r = client.publish("cb/nested", b"n", QoS::AtLeastOnce, false);
                nested.lock().unwrap().push(r.map_err(|e| e.to_string()));
            }
        }
    })));

    // Without the loop thread: reported on this thread, which reads inside wait_published.
    let ids: Vec<PacketId> = (0..100)
        .map(|i| {
            client
                .publish_async("cb/t", format!("{i}").as_bytes(), QoS::AtLeastOnce, false)
                .unwrap()
                .unwrap()
        })
        .collect();
    for &id in &ids {
        client.wait_published(id, Some(WAIT)).unwrap();
    }
    let calls = seen.lock().unwrap().clone();
    assert_eq!(nested.lock().unwrap().as_slice(), &[Ok(())]);
    // Acknowledgements of a QoS 1 stream come in publish order, and so do the calls — with
    // the nested publish's identifier among them, reported from inside the first call.
    let reported: Vec<u16> = calls.iter().map(|(id, _)| *id).collect();
    assert_eq!(reported.len(), ids.len() + 1);
    assert!(reported.windows(2).all(|w| w[0] < w[1]), "{reported:?}");
    assert!(ids.iter().all(|id| reported.contains(&id.get())));
    let me = thread::current().name().map(str::to_owned);
    assert!(calls.iter().all(|(_, name)| *name == me));

    // With the loop thread: reported there, QoS 2 included.
    seen.lock().unwrap().clear();
    client.loop_start().unwrap();
    let ids: Vec<PacketId> = (0..50)
        .map(|i| {
            let qos = if i % 2 == 0 {
                QoS::ExactlyOnce
            } else {
                QoS::AtLeastOnce
            };
            client
                .publish_async("cb/u", b"u", qos, false)
                .unwrap()
                .unwrap()
        })
        .collect();
    for &id in &ids {
        client.wait_published(id, Some(WAIT)).unwrap();
    }
    let deadline = Instant::now() + WAIT;
    while seen.lock().unwrap().len() < ids.len() + 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let calls = seen.lock().unwrap().clone();
    let mut reported: Vec<u16> = calls.iter().map(|(id, _)| *id).collect();
    // The first call published once more (nested, so it is reported here too).
    assert_eq!(reported.len(), ids.len() + 1);
    reported.sort_unstable();
    reported.dedup();
    assert_eq!(
        reported.len(),
        ids.len() + 1,
        "every identifier exactly once"
    );
    assert!(
        ids.iter()
            .all(|id| reported.binary_search(&id.get()).is_ok())
    );
    assert!(
        calls
            .iter()
            .all(|(_, name)| name.as_deref() == Some("mqtt-client-loop"))
    );
    client.set_on_published(None);
    client
        .publish("cb/none", b"", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), ids.len() + 1);
    client.disconnect().unwrap();
    broker.stop();
}

/// `reconnect` from a message callback on the loop thread, on an open connection: it returns,
/// the loop carries on with the new connection and the persistent subscription still delivers.
#[test]
fn reconnect_from_a_callback_on_the_loop_thread() {
    let broker = start_broker();
    let client = Arc::new(connect(
        broker.port(),
        &options()
            .client_id("reconnect-in-callback")
            .clean_session(false),
    ));
    let weak = Arc::downgrade(&client);
    let inbox = Inbox::default();
    let results: Arc<Mutex<Vec<Result<(), String>>>> = Arc::default();
    let forward = inbox.callback("cb");
    client
        .subscribe("rc/#", QoS::AtLeastOnce, {
            let results = Arc::clone(&results);
            move |m| {
                // Once: a re-delivery of this message (its PUBACK raced the reconnect) must
                // not reconnect again.
                if m.topic == "rc/reconnect"
                    && results.lock().unwrap().is_empty()
                    && let Some(client) = weak.upgrade()
                {
                    results
                        .lock()
                        .unwrap()
                        .push(client.reconnect().map_err(|e| e.to_string()));
                }
                forward(m);
            }
        })
        .unwrap();
    client.loop_start().unwrap();
    let publisher = connect(broker.port(), &options());
    publisher
        .publish("rc/reconnect", b"1", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(inbox.next(WAIT).topic, "rc/reconnect");
    assert_eq!(results.lock().unwrap().as_slice(), &[Ok(())]);
    assert!(client.session_present());
    publisher
        .publish("rc/after", b"2", QoS::AtLeastOnce, false)
        .unwrap();
    let mut topics = vec![inbox.next(WAIT).topic];
    // The first message may come again: its PUBACK raced the reconnect (QoS 1 allows it).
    while topics.last().map(String::as_str) != Some("rc/after") {
        topics.push(inbox.next(WAIT).topic);
    }
    assert!(topics.len() <= 2, "{topics:?}");
    assert!(client.is_connected());
    client.disconnect().unwrap();
    publisher.disconnect().unwrap();
    broker.stop();
}

/// With automatic reconnects the loop thread reconnects by itself after a lost connection,
/// backing off after a refusal, and the re-sent publish completes a waiter that never left.
#[test]
fn loop_thread_reconnects_by_itself() {
    let broker = FakeBroker::start_serving(|listener| {
        let mut conn = listener.accept(WAIT);
        conn.accept_connect();
        let first = read_publish(&mut conn);
        drop(conn);
        let mut conn = listener.accept(WAIT);
        conn.refuse_connect(ConnectReturnCode::ServerUnavailable);
        drop(conn);
        let mut conn = listener.accept(WAIT);
        conn.accept_connect_with(true);
        let again = read_publish(&mut conn);
        assert!(again.dup);
        assert_eq!(again.qospid, first.qospid);
        conn.send(&Packet::Puback(again.qospid.packet_id().unwrap().into()));
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let options = options()
        .clean_session(false)
        .auto_reconnect(Duration::from_millis(20), Duration::from_millis(100));
    let client = connect(broker.port, &options);
    client.loop_start().unwrap();
    let id = client
        .publish_async("auto", b"a", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    client.wait_published(id, Some(WAIT)).unwrap();
    assert!(client.is_connected());
    client.disconnect().unwrap();
    broker.finish();
}

/// `disconnect` after a lost connection stops automatic reconnects and ends the waiters that
/// were waiting for one.
#[test]
fn disconnect_stops_automatic_reconnects() {
    let broker = FakeBroker::start_serving(|listener| {
        let mut conn = listener.accept(WAIT);
        conn.accept_connect();
        let _ = read_publish(&mut conn);
        drop(conn);
        // Refuse every automatic attempt until the client gives up.
        let deadline = Instant::now() + WAIT;
        while let Some(mut conn) = listener.try_accept(Duration::from_millis(500)) {
            assert!(Instant::now() < deadline, "the client kept reconnecting");
            let Some(Packet::Connect(_)) = conn.try_read(WAIT) else {
                continue;
            };
            conn.send(&Packet::Connack(mqtt::protocol::Connack {
                properties: Default::default(),
                session_present: false,
                code: mqtt::protocol::ConnectReturnCode::ServerUnavailable.to_reason(),
            }));
        }
    });
    let options = options()
        .clean_session(false)
        .auto_reconnect(Duration::from_millis(10), Duration::from_millis(20));
    let client = Arc::new(connect(broker.port, &options));
    client.loop_start().unwrap();
    let id = client
        .publish_async("auto", b"a", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    let waiter = thread::spawn({
        let client = Arc::clone(&client);
        move || client.wait_published(id, None)
    });
    wait_until_closed(&client);
    thread::sleep(Duration::from_millis(100));
    assert!(matches!(client.disconnect(), Err(ClientError::Closed(_))));
    assert!(matches!(
        waiter.join().unwrap(),
        Err(ClientError::Closed(mqtt::client::CloseReason::Disconnected))
    ));
    assert!(!client.is_connected());
    broker.finish();
}

/// After a failed `reconnect`, a loop thread with automatic reconnects is started again and
/// keeps trying until it gets through.
#[test]
fn loop_thread_keeps_trying_after_a_failed_reconnect() {
    let broker = FakeBroker::start_serving(|listener| {
        let mut conn = listener.accept(WAIT);
        conn.accept_connect();
        drop(conn);
        let mut conn = listener.accept(WAIT);
        conn.refuse_connect(ConnectReturnCode::ServerUnavailable);
        drop(conn);
        let mut conn = listener.accept(WAIT);
        conn.accept_connect();
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::default())
        );
    });
    let options = options().auto_reconnect(Duration::from_millis(500), Duration::from_secs(1));
    let client = connect(broker.port, &options);
    client.loop_start().unwrap();
    wait_until_closed(&client);
    // Well before the loop thread's first attempt: this one gets the refusal.
    assert!(matches!(
        client.reconnect(),
        Err(ClientError::ServerUnavailable)
    ));
    let deadline = Instant::now() + WAIT;
    while !client.is_connected() {
        assert!(Instant::now() < deadline, "the loop thread gave up");
        thread::sleep(Duration::from_millis(5));
    }
    client.disconnect().unwrap();
    broker.finish();
}

/// Reconnects while several threads publish at QoS 1 and 2 on the same persistent session:
/// nothing hangs, every publish that was accepted completes, and the subscriber receives each
/// of them (QoS 2 ones exactly once).
#[test]
fn reconnects_while_threads_publish() {
    let broker = start_broker();
    let subscriber = connect(broker.port(), &options());
    let inbox = Inbox::default();
    subscriber
        .subscribe("race/#", QoS::ExactlyOnce, inbox.callback("sub"))
        .unwrap();
    subscriber.loop_start().unwrap();
    let publisher = Arc::new(connect(
        broker.port(),
        &options()
            .client_id("reconnect-race")
            .clean_session(false)
            .max_inflight(8),
    ));
    publisher.loop_start().unwrap();
    let reconnecting = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let publishers: Vec<_> = (0..3)
        .map(|t| {
            let publisher = Arc::clone(&publisher);
            let reconnecting = Arc::clone(&reconnecting);
            thread::spawn(move || {
                let qos = if t == 0 {
                    QoS::AtLeastOnce
                } else {
                    QoS::ExactlyOnce
                };
                let mut accepted = Vec::new();
                // Publishing lasts as long as the reconnects, so they overlap.
                for i in 0.. {
                    if !reconnecting.load(std::sync::atomic::Ordering::Acquire) {
                        break;
                    }
                    let payload = format!("{t}/{i}");
                    match publisher.publish_async("race/t", payload.as_bytes(), qos, false) {
                        Ok(Some(id)) => accepted.push((id, payload)),
                        Ok(None) => unreachable!("QoS 1 and 2 have identifiers"),
                        // Refused while the connection was being replaced: not sent.
                        Err(ClientError::Closed(_)) => thread::sleep(Duration::from_millis(1)),
                        Err(e) => panic!("publish_async: {e}"),
                    }
                }
                (qos, accepted)
            })
        })
        .collect();
    for _ in 0..5 {
        thread::sleep(Duration::from_millis(20));
        publisher.reconnect().unwrap();
    }
    thread::sleep(Duration::from_millis(20));
    reconnecting.store(false, std::sync::atomic::Ordering::Release);
    let mut expected = Vec::new();
    for handle in publishers {
        let (qos, accepted) = handle.join().unwrap();
        for (id, payload) in accepted {
            // The identifier may have been reused by now; waiting returns at once then.
            publisher.wait_published(id, Some(WAIT)).unwrap();
            expected.push((qos, payload));
        }
    }
    let mut received: std::collections::HashMap<Vec<u8>, usize> = Default::default();
    let deadline = Instant::now() + WAIT;
    while expected
        .iter()
        .any(|(_, p)| !received.contains_key(p.as_bytes()))
    {
        assert!(Instant::now() < deadline, "messages missing");
        if let Some(m) = inbox.try_next(Duration::from_millis(100)) {
            *received.entry(m.payload).or_default() += 1;
        }
    }
    while let Some(m) = inbox.try_next(Duration::from_millis(300)) {
        *received.entry(m.payload).or_default() += 1;
    }
    for (qos, payload) in &expected {
        if *qos == QoS::ExactlyOnce {
            assert_eq!(received[payload.as_bytes()], 1, "{payload} exactly once");
        }
    }
    publisher.disconnect().unwrap();
    subscriber.disconnect().unwrap();
    broker.stop();
}
