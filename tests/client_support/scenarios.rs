//! Client behaviour checked against any broker listening on 127.0.0.1:`port`; the same
//! scenarios run against mosquitto and against this project's broker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mqtt::client::{Client, ClientError, CloseReason, PublishOutcome};
use mqtt::protocol::{Packet, PacketId, QoS};

use super::proxy::{CutAt, CuttingProxy};
use super::{Inbox, WAIT, connect, options, wait_until_closed};

/// The next message in `inbox`, reading if none was dispatched yet (a blocking publish or
/// subscribe may already have dispatched it while waiting for its acknowledgement).
fn receive_into(client: &Client, inbox: &Inbox) -> super::Received {
    if let Some(m) = inbox.try_next(Duration::ZERO) {
        return m;
    }
    client.receive_message(Some(WAIT)).expect("receive_message");
    inbox.next(Duration::from_millis(100))
}

/// Each QoS, client → broker → client, on two connections; the delivered QoS is the minimum of
/// publish and subscription QoS ([MQTT-3.8.4-6]).
pub fn qos_both_ways(port: u16) {
    let subscriber = connect(port, &options());
    let publisher = connect(port, &options());
    let inbox = Inbox::default();
    for sub_qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let filter = format!("qos/{}/+", sub_qos as u8);
        let granted = subscriber
            .subscribe(&filter, sub_qos, inbox.callback("sub"))
            .unwrap();
        assert_eq!(granted, sub_qos);
        for pub_qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let topic = format!("qos/{}/{}", sub_qos as u8, pub_qos as u8);
            let payload = format!("payload {}{}", sub_qos as u8, pub_qos as u8);
            publisher
                .publish(&topic, payload.as_bytes(), pub_qos, false)
                .unwrap();
            let m = receive_into(&subscriber, &inbox);
            assert_eq!(m.topic, topic);
            assert_eq!(m.payload, payload.as_bytes());
            assert_eq!(m.qos, pub_qos.min(sub_qos));
            assert!(!m.retain);
        }
    }
    // The publisher also receives, on its own subscription, what it publishes itself.
    let own = Inbox::default();
    publisher
        .subscribe("qos/self", QoS::ExactlyOnce, own.callback("self"))
        .unwrap();
    publisher
        .publish("qos/self", b"", QoS::ExactlyOnce, false)
        .unwrap();
    let m = receive_into(&publisher, &own);
    assert_eq!((m.payload.len(), m.qos), (0, QoS::ExactlyOnce));
    subscriber.disconnect().unwrap();
    publisher.disconnect().unwrap();
}

/// A retained message reaches a later subscriber with RETAIN set ([MQTT-3.3.1-8]); an empty
/// retained payload clears it ([MQTT-3.3.1-10]).
pub fn retained(port: u16) {
    let publisher = connect(port, &options());
    publisher
        .publish("retained/a", b"kept", QoS::AtLeastOnce, true)
        .unwrap();
    let subscriber = connect(port, &options());
    let inbox = Inbox::default();
    subscriber
        .subscribe("retained/#", QoS::AtLeastOnce, inbox.callback("r"))
        .unwrap();
    let m = receive_into(&subscriber, &inbox);
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice(), m.retain),
        ("retained/a", &b"kept"[..], true)
    );
    publisher
        .publish("retained/a", b"", QoS::AtLeastOnce, true)
        .unwrap();
    // Delivered live to an existing subscription, so not flagged retained ([MQTT-3.3.1-9]).
    let m = receive_into(&subscriber, &inbox);
    assert!(m.payload.is_empty() && !m.retain);
    let late = connect(port, &options());
    let late_inbox = Inbox::default();
    late.subscribe("retained/#", QoS::AtLeastOnce, late_inbox.callback("late"))
        .unwrap();
    assert!(matches!(
        late.receive_message(Some(Duration::from_millis(300))),
        Err(ClientError::Timeout)
    ));
    assert!(late_inbox.try_next(Duration::ZERO).is_none());
}

/// Dropping the client closes without DISCONNECT: the broker publishes the will; after
/// `disconnect()` it does not ([MQTT-3.1.2-8], [MQTT-3.14.4-3]).
pub fn will(port: u16) {
    let watcher = connect(port, &options());
    let inbox = Inbox::default();
    watcher
        .subscribe("will/+", QoS::AtLeastOnce, inbox.callback("w"))
        .unwrap();

    let polite = connect(
        port,
        &options().will("will/polite", b"gone", QoS::AtLeastOnce, false),
    );
    polite.disconnect().unwrap();
    drop(polite);

    let abrupt = connect(
        port,
        &options().will("will/abrupt", b"lost", QoS::AtLeastOnce, false),
    );
    drop(abrupt);
    let m = receive_into(&watcher, &inbox);
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("will/abrupt", &b"lost"[..])
    );
    assert!(matches!(
        watcher.receive_message(Some(Duration::from_millis(300))),
        Err(ClientError::Timeout)
    ));
}

/// A clean_session=false client gets, after reconnecting, the QoS 1 messages published while
/// it was away ([MQTT-3.1.2-4], [MQTT-3.2.2-2]).
pub fn persistent_session(port: u16) {
    let id = format!("persist-{}", std::process::id());
    let persistent = options().client_id(id.clone()).clean_session(false);
    // Start from a clean slate in case an earlier run left a session behind.
    connect(port, &options().client_id(id.clone()))
        .disconnect()
        .unwrap();

    let first = connect(port, &persistent);
    assert!(!first.session_present());
    first
        .subscribe("offline/#", QoS::AtLeastOnce, |_| {})
        .unwrap();
    first.disconnect().unwrap();

    let publisher = connect(port, &options());
    for i in 0..3 {
        publisher
            .publish(
                "offline/m",
                format!("queued {i}").as_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .unwrap();
    }

    let resumed = connect(port, &persistent);
    assert!(resumed.session_present());
    let inbox = Inbox::default();
    // The broker sends the queued messages right after CONNACK; subscribing again registers
    // the callback before anything is read, so none of them is lost.
    resumed
        .subscribe("offline/#", QoS::AtLeastOnce, inbox.callback("p"))
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        match inbox.try_next(Duration::ZERO) {
            Some(m) => got.push(String::from_utf8(m.payload).unwrap()),
            None => resumed.receive_message(Some(WAIT)).unwrap(),
        }
    }
    assert_eq!(got, ["queued 0", "queued 1", "queued 2"]);
    resumed.disconnect().unwrap();
    connect(port, &options().client_id(id))
        .disconnect()
        .unwrap();
}

/// Idle for longer than the keep-alive, in both modes: explicit receive and loop thread. The
/// broker drops a client that sends nothing for 1.5 keep-alive periods ([MQTT-3.1.2-24]), so the
/// connection surviving proves PINGREQs went out.
pub fn keep_alive(port: u16) {
    let opts = options().keep_alive(Duration::from_secs(1));
    let explicit = connect(port, &opts);
    let inbox = Inbox::default();
    explicit
        .subscribe("ka/explicit", QoS::AtMostOnce, inbox.callback("e"))
        .unwrap();
    let until = Instant::now() + Duration::from_millis(3500);
    while Instant::now() < until {
        match explicit.receive_message(Some(until - Instant::now())) {
            Err(ClientError::Timeout) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(explicit.is_connected());
    explicit.ping().unwrap();

    let looping = connect(port, &opts);
    looping
        .subscribe("ka/loop", QoS::AtMostOnce, inbox.callback("l"))
        .unwrap();
    looping.loop_start().unwrap();
    thread::sleep(Duration::from_millis(3500));
    assert!(looping.is_connected());
    let publisher = connect(port, &options());
    publisher
        .publish("ka/loop", b"alive", QoS::AtLeastOnce, false)
        .unwrap();
    let m = inbox.next(WAIT);
    assert_eq!((m.tag.as_str(), m.payload.as_slice()), ("l", &b"alive"[..]));
    looping.loop_stop();
}

/// With the loop thread running, a callback subscribes, publishes at QoS 1 and 2 and
/// unsubscribes on the same connection — the calls libmosquitto and Paho users deadlock on.
pub fn api_calls_from_callbacks(port: u16) {
    let client = Arc::new(connect(port, &options()));
    let inbox = Inbox::default();
    let results: Arc<Mutex<Vec<String>>> = Arc::default();
    let weak = Arc::downgrade(&client);
    let forward = Arc::new(inbox.callback("nested"));
    let log = Arc::clone(&results);
    client
        .subscribe("cb/trigger", QoS::AtLeastOnce, move |m| {
            let Some(client) = weak.upgrade() else { return };
            let record = |what: &str, r: Result<String, ClientError>| {
                log.lock().unwrap().push(format!(
                    "{what}: {}",
                    r.unwrap_or_else(|e| format!("error {e}"))
                ));
            };
            let n = String::from_utf8_lossy(m.payload).into_owned();
            let fwd = Arc::clone(&forward);
            record(
                "subscribe",
                client
                    .subscribe("cb/echo", QoS::ExactlyOnce, move |m| fwd(m))
                    .map(|q| format!("{q:?}")),
            );
            record(
                "publish1",
                client
                    .publish(
                        "cb/echo",
                        format!("{n} q1").as_bytes(),
                        QoS::AtLeastOnce,
                        false,
                    )
                    .map(|()| "ok".into()),
            );
            record(
                "publish2",
                client
                    .publish(
                        "cb/echo",
                        format!("{n} q2").as_bytes(),
                        QoS::ExactlyOnce,
                        false,
                    )
                    .map(|()| "ok".into()),
            );
            record("ping", client.ping().map(|()| "ok".into()));
            record(
                "unsubscribe",
                client.unsubscribe("cb/echo").map(|_| "ok".into()),
            );
        })
        .unwrap();
    client.loop_start().unwrap();
    client
        .publish("cb/trigger", b"first", QoS::AtLeastOnce, false)
        .unwrap();
    let mut echoed = [inbox.next(WAIT), inbox.next(WAIT)];
    echoed.sort_by(|a, b| a.payload.cmp(&b.payload));
    assert_eq!(echoed[0].payload, b"first q1");
    assert_eq!(echoed[1].payload, b"first q2");
    // Wait for the callback to finish its unsubscribe before checking the log.
    let deadline = Instant::now() + WAIT;
    while results.lock().unwrap().len() < 5 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        *results.lock().unwrap(),
        [
            "subscribe: ExactlyOnce",
            "publish1: ok",
            "publish2: ok",
            "ping: ok",
            "unsubscribe: ok"
        ]
    );
    // After the nested unsubscribe, echoes are no longer dispatched.
    client
        .publish("cb/echo", b"after", QoS::AtLeastOnce, false)
        .unwrap();
    assert!(inbox.try_next(Duration::from_millis(300)).is_none());
    client.loop_stop();
    client.disconnect().unwrap();
}

/// Threads share one connection: blocking and pipelined publishes at QoS 0, 1 and 2 from 8
/// threads at once all arrive.
pub fn many_threads_publish(port: u16) {
    const THREADS: usize = 8;
    const EACH: usize = 150;
    let subscriber = connect(port, &options());
    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    subscriber
        .subscribe("threads/+", QoS::AtLeastOnce, move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    subscriber.loop_start().unwrap();

    let publisher = connect(port, &options().max_inflight(16));
    thread::scope(|s| {
        for t in 0..THREADS {
            let publisher = &publisher;
            s.spawn(move || {
                let topic = format!("threads/{t}");
                let mut ids = Vec::new();
                for i in 0..EACH {
                    let payload = format!("{t}:{i}");
                    match i % 3 {
                        0 => publisher
                            .publish(&topic, payload.as_bytes(), QoS::AtLeastOnce, false)
                            .unwrap(),
                        1 => ids.extend(
                            publisher
                                .publish_async(&topic, payload.as_bytes(), QoS::AtLeastOnce, false)
                                .unwrap(),
                        ),
                        _ => ids.extend(
                            publisher
                                .publish_async(&topic, payload.as_bytes(), QoS::ExactlyOnce, false)
                                .unwrap(),
                        ),
                    }
                }
                for id in ids {
                    publisher.wait_published(id, Some(WAIT)).unwrap();
                }
            });
        }
    });
    let deadline = Instant::now() + WAIT * 2;
    while received.load(Ordering::Relaxed) < THREADS * EACH && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(received.load(Ordering::Relaxed), THREADS * EACH);
    subscriber.loop_stop();
}

/// With overlapping filters, only the most specific one's callback runs (the rule is in
/// src/client/subscriptions.rs).
pub fn most_specific_filter(port: u16) {
    let client = connect(port, &options());
    let inbox = Inbox::default();
    for filter in ["spec/#", "spec/+/c", "spec/b/c", "spec/b/#"] {
        client
            .subscribe(filter, QoS::AtMostOnce, inbox.callback(filter))
            .unwrap();
    }
    let publisher = connect(port, &options());
    for (topic, expected) in [
        ("spec/b/c", "spec/b/c"),
        ("spec/x/c", "spec/+/c"),
        ("spec/b/x", "spec/b/#"),
        ("spec/x", "spec/#"),
    ] {
        publisher
            .publish(topic, b"m", QoS::AtLeastOnce, false)
            .unwrap();
        // The broker may send one copy per matching subscription; every copy goes to the same
        // callback.
        let m = receive_into(&client, &inbox);
        assert_eq!((m.topic.as_str(), m.tag.as_str()), (topic, expected));
        while client
            .receive_message(Some(Duration::from_millis(200)))
            .is_ok()
        {
            let extra = inbox.next(Duration::from_millis(100));
            assert_eq!(
                (extra.topic.as_str(), extra.tag.as_str()),
                (topic, expected)
            );
        }
    }
    client.unsubscribe("spec/b/c").unwrap();
    publisher
        .publish("spec/b/c", b"m", QoS::AtLeastOnce, false)
        .unwrap();
    let m = receive_into(&client, &inbox);
    // spec/+/c and spec/b/# both have two literal levels; the one without '#' wins.
    assert_eq!(
        m.tag, "spec/+/c",
        "after unsubscribe the next most specific filter wins: {m:?}"
    );
}

/// receive_message reports the end of the connection, and later calls report the same cause.
pub fn closed_connection(port: u16) {
    let client = Arc::new(connect(port, &options()));
    client
        .subscribe("closing/x", QoS::AtMostOnce, |_| {})
        .unwrap();
    let reader = {
        let client = Arc::clone(&client);
        thread::spawn(move || client.receive_message(None))
    };
    thread::sleep(Duration::from_millis(100));
    client.disconnect().unwrap();
    let result = reader.join().unwrap();
    assert!(
        matches!(result, Err(ClientError::Closed(CloseReason::Disconnected))),
        "{result:?}"
    );
    assert!(matches!(
        client.publish("closing/x", b"", QoS::AtMostOnce, false),
        Err(ClientError::Closed(CloseReason::Disconnected))
    ));
    client.disconnect().unwrap();
}

/// End to end: the proxy drops the publisher's connection right before the broker's `cut_at`
/// reply reaches it; after `reconnect` the publish completes and the subscriber has the message.
/// Returns how many copies the subscriber got.
fn interrupted_publish(port: u16, qos: QoS, cut_at: CutAt) -> usize {
    let subscriber = connect(port, &options());
    let inbox = Inbox::default();
    subscriber
        .subscribe("cut/#", QoS::ExactlyOnce, inbox.callback("sub"))
        .unwrap();
    subscriber.loop_start().unwrap();

    let proxy = CuttingProxy::start(port, cut_at);
    let publisher = Arc::new(connect(
        proxy.port,
        &options()
            .client_id(format!("cut-{qos:?}-{}", std::process::id()))
            .clean_session(false),
    ));
    let seen: Arc<Mutex<Vec<(u16, PublishOutcome)>>> = Arc::default();
    publisher.set_on_published(Some(Arc::new({
        let seen = Arc::clone(&seen);
        move |id: PacketId, outcome| seen.lock().unwrap().push((id.get(), outcome))
    })));
    let id = publisher
        .publish_async("cut/t", b"survives", qos, false)
        .unwrap()
        .unwrap();
    // This thread reads, sees the connection drop and keeps waiting for the re-send.
    let waiter = thread::spawn({
        let publisher = Arc::clone(&publisher);
        move || publisher.wait_published(id, Some(WAIT * 2))
    });
    wait_until_closed(&publisher);
    assert!(proxy.has_cut());
    publisher.reconnect().unwrap();
    assert!(publisher.session_present());
    waiter.join().unwrap().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(id.get(), PublishOutcome::Acknowledged)]
    );
    let first = inbox.next(WAIT);
    assert_eq!(
        (first.topic.as_str(), &first.payload[..]),
        ("cut/t", &b"survives"[..])
    );
    let mut copies = 1;
    while inbox.try_next(Duration::from_millis(300)).is_some() {
        copies += 1;
    }
    publisher.disconnect().unwrap();
    subscriber.disconnect().unwrap();
    copies
}

/// A QoS 1 publish whose PUBACK is lost completes after `reconnect` [MQTT-4.4.0-1].
pub fn qos1_publish_cut_before_puback(port: u16) {
    let copies = interrupted_publish(port, QoS::AtLeastOnce, |p| matches!(p, Packet::Puback(_)));
    assert!((1..=2).contains(&copies), "at least once, got {copies}");
}

/// A QoS 2 publish whose PUBREC is lost is re-sent (DUP) and delivered exactly once.
pub fn qos2_publish_cut_before_pubrec(port: u16) {
    let copies = interrupted_publish(port, QoS::ExactlyOnce, |p| matches!(p, Packet::Pubrec(_)));
    assert_eq!(copies, 1);
}

/// A QoS 2 publish whose PUBCOMP is lost gets its PUBREL re-sent and is delivered once.
pub fn qos2_publish_cut_before_pubcomp(port: u16) {
    let copies = interrupted_publish(port, QoS::ExactlyOnce, |p| matches!(p, Packet::Pubcomp(_)));
    assert_eq!(copies, 1);
}

/// The host's event loop drives `client`: poll its socket, `loop_read`, `loop_write` while
/// `want_write`, `loop_misc`. It receives a large message (many reads, and over TLS or
/// WebSocket many records or frames), a small one and its own, all from `other` and itself.
pub fn event_loop_receives(client: &Client, other: &Client) {
    let (tx, rx) = std::sync::mpsc::channel();
    client
        .subscribe("events/#", QoS::AtLeastOnce, move |m| {
            let _ = tx.send((m.topic.to_owned(), m.payload.len()));
        })
        .expect("subscribe");
    let large = vec![7u8; 300 * 1024];
    other
        .publish("events/large", &large, QoS::AtLeastOnce, false)
        .unwrap();
    other
        .publish("events/small", b"s", QoS::AtMostOnce, false)
        .unwrap();
    client
        .publish("events/own", b"o", QoS::AtMostOnce, false)
        .unwrap();
    let mut received = Vec::new();
    let deadline = Instant::now() + WAIT;
    while received.len() < 3 {
        assert!(Instant::now() < deadline, "got {} of 3", received.len());
        let mut fd = libc::pollfd {
            fd: client.socket(),
            events: libc::POLLIN
                | if client.want_write() {
                    libc::POLLOUT
                } else {
                    0
                },
            revents: 0,
        };
        // SAFETY: one live pollfd.
        let n = unsafe { libc::poll(&mut fd, 1, 100) };
        assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
        if fd.revents & libc::POLLIN != 0 {
            client.loop_read().unwrap();
        }
        if fd.revents & libc::POLLOUT != 0 {
            client.loop_write().unwrap();
        }
        client.loop_misc().unwrap();
        received.extend(rx.try_iter());
    }
    received.sort();
    assert_eq!(
        received,
        [
            ("events/large".to_owned(), large.len()),
            ("events/own".to_owned(), 1),
            ("events/small".to_owned(), 1),
        ]
    );
    assert!(!client.want_write());
    client.disconnect().unwrap();
    other.disconnect().unwrap();
}
