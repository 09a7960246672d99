//! Interoperability: this project's broker (in process, ephemeral port) with the rumqttc crate's
//! synchronous `Client` / `Connection` (MQTT 3.1.1). rumqttc's incoming packets are checked as it
//! reports them; what it sends is checked at the wire by a raw subscriber.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use rumqttc::{
    Client, ConnAck, ConnectReturnCode, Event, Incoming, LastWill, MqttOptions, Publish,
    RecvTimeoutError, SubscribeReasonCode,
};

use crate::common::RawClient;
use crate::interop_support::{
    Event as BrokerEvent, ObservedBroker, assert_publish, publish_from_raw, publish_queue,
    publish_resend_pair, raw_subscriber, recv_publish_acked, settle,
};
use mqtt::broker::DisconnectReason;
use mqtt::protocol::QoS;

const WAIT: Duration = Duration::from_secs(5);
/// How long a peer must stay quiet to show nothing more (a duplicate, a stale message) is coming.
const QUIET: Duration = Duration::from_millis(300);

fn to_rumqttc(qos: QoS) -> rumqttc::QoS {
    match qos {
        QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

fn from_rumqttc(qos: rumqttc::QoS) -> QoS {
    match qos {
        rumqttc::QoS::AtMostOnce => QoS::AtMostOnce,
        rumqttc::QoS::AtLeastOnce => QoS::AtLeastOnce,
        rumqttc::QoS::ExactlyOnce => QoS::ExactlyOnce,
    }
}

/// What the connection thread saw.
#[derive(Debug)]
enum Seen {
    Packet(Incoming),
    /// The connection ended with this error; the thread stops (no automatic reconnect).
    Ended(String),
}

/// A rumqttc client whose `Connection` is driven on its own thread. Dropping it (or
/// [`Rumqtt::vanish`]) stops that thread, which drops the `Connection` and with it the socket,
/// without DISCONNECT.
struct Rumqtt {
    client: Client,
    seen: Receiver<Seen>,
    /// PUBLISHes that arrived while waiting for an acknowledgement, oldest first.
    pending: VecDeque<Publish>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Rumqtt {
    /// Connects and waits for CONNACK, which must be 0x00; returns it.
    fn connect(options: MqttOptions) -> (Rumqtt, ConnAck) {
        let (client, mut connection) = Client::new(options, 100);
        let (tx, seen) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match connection.recv_timeout(Duration::from_millis(20)) {
                    Ok(Ok(Event::Incoming(packet))) => {
                        let _ = tx.send(Seen::Packet(packet));
                    }
                    Ok(Ok(Event::Outgoing(_))) | Err(RecvTimeoutError::Timeout) => {}
                    Ok(Err(e)) => {
                        let _ = tx.send(Seen::Ended(e.to_string()));
                        return;
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        let _ = tx.send(Seen::Ended("requests done".to_owned()));
                        return;
                    }
                }
            }
        });
        let mut peer = Rumqtt {
            client,
            seen,
            pending: VecDeque::new(),
            stop,
            thread: Some(thread),
        };
        let connack = match peer.next() {
            Incoming::ConnAck(connack) => connack,
            other => panic!("expected CONNACK, got {other:?}"),
        };
        assert_eq!(connack.code, ConnectReturnCode::Success);
        (peer, connack)
    }

    /// The next incoming packet other than PINGRESP; fails on timeout or connection end.
    fn next(&mut self) -> Incoming {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.seen.recv_timeout(left) {
                Ok(Seen::Packet(Incoming::PingResp)) => {}
                Ok(Seen::Packet(packet)) => return packet,
                Ok(Seen::Ended(e)) => panic!("rumqttc connection ended: {e}"),
                Err(_) => panic!("rumqttc saw nothing within {WAIT:?}"),
            }
        }
    }

    /// The next PUBLISH rumqttc received (it acknowledges on its own), skipping the PUBREL of
    /// QoS 2 flows.
    fn next_publish(&mut self) -> Publish {
        if let Some(p) = self.pending.pop_front() {
            return p;
        }
        loop {
            match self.next() {
                Incoming::Publish(p) => return p,
                Incoming::PubRel(_) => {}
                other => panic!("expected PUBLISH, got {other:?}"),
            }
        }
    }

    /// Asserts no PUBLISH arrives for [`QUIET`] (acknowledgement traffic is allowed).
    fn expect_no_publish(&mut self) {
        assert!(self.pending.is_empty(), "unexpected {:?}", self.pending);
        let deadline = Instant::now() + QUIET;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.seen.recv_timeout(left) {
                Ok(Seen::Packet(Incoming::Publish(p))) => panic!("unexpected PUBLISH {p:?}"),
                Ok(Seen::Packet(_)) => {}
                Ok(Seen::Ended(e)) => panic!("rumqttc connection ended: {e}"),
                Err(_) => return,
            }
        }
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) {
        self.client.subscribe(filter, to_rumqttc(qos)).unwrap();
        loop {
            match self.next() {
                Incoming::SubAck(suback) => {
                    assert_eq!(
                        suback.return_codes,
                        [SubscribeReasonCode::Success(to_rumqttc(qos))]
                    );
                    return;
                }
                other => self.stash(other, "SUBACK"),
            }
        }
    }

    /// Publishes and, for QoS 1 and 2, waits until rumqttc got PUBACK or PUBCOMP.
    fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
        self.client
            .publish(topic, to_rumqttc(qos), retain, payload.to_vec())
            .unwrap();
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.wait_for("PUBACK", |p| matches!(p, Incoming::PubAck(_))),
            QoS::ExactlyOnce => {
                self.wait_for("PUBREC", |p| matches!(p, Incoming::PubRec(_)));
                self.wait_for("PUBCOMP", |p| matches!(p, Incoming::PubComp(_)));
            }
        }
    }

    /// Reads until a packet `wanted` accepts, keeping PUBLISHes (and skipping the PUBRELs of
    /// their QoS 2 flows) met on the way.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&Incoming) -> bool) {
        loop {
            let packet = self.next();
            if wanted(&packet) {
                return;
            }
            self.stash(packet, what);
        }
    }

    fn stash(&mut self, packet: Incoming, awaited: &str) {
        match packet {
            Incoming::Publish(p) => self.pending.push_back(p),
            Incoming::PubRel(_) => {}
            other => panic!("expected {awaited}, got {other:?}"),
        }
    }

    /// Sends DISCONNECT and waits for the connection thread to finish.
    fn disconnect(mut self) {
        self.client.disconnect().unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.seen.recv_timeout(left) {
                Ok(Seen::Ended(_)) => break,
                Ok(Seen::Packet(_)) => {}
                Err(_) => panic!("rumqttc did not finish its DISCONNECT within {WAIT:?}"),
            }
        }
        self.join();
    }

    /// Drops the connection without DISCONNECT, as a crashing client would.
    fn vanish(mut self) {
        self.join();
    }

    /// Waits until the broker closes the connection.
    fn expect_closed(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.seen.recv_timeout(left) {
                Ok(Seen::Ended(e)) => return e,
                Ok(Seen::Packet(_)) => {}
                Err(_) => panic!("rumqttc's connection still open after {WAIT:?}"),
            }
        }
    }

    fn join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("rumqttc connection thread");
        }
    }
}

impl Drop for Rumqtt {
    fn drop(&mut self) {
        self.join();
    }
}

fn options(port: u16, client_id: &str) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options
}

fn assert_received(got: &Publish, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
    assert_eq!(got.topic, topic, "{got:?}");
    assert_eq!(&got.payload[..], payload, "{got:?}");
    assert_eq!(from_rumqttc(got.qos), qos, "{got:?}");
    assert_eq!(got.retain, retain, "{got:?}");
    assert!(!got.dup, "{got:?}");
}

/// rumqttc publishes at each QoS: a raw subscriber granted QoS 2 gets each message once at the
/// QoS it was sent with ([MQTT-3.8.4-6], [MQTT-4.3.3-2]); rumqttc gets PUBACK, or PUBREC then
/// PUBCOMP ([MQTT-4.3.2-1], [MQTT-4.3.3-1]).
#[test]
fn rumqttc_publishes_qos_0_1_2() {
    let broker = ObservedBroker::start();
    let mut observer = raw_subscriber(broker.port(), "observer", "in/#", QoS::ExactlyOnce);
    let (mut publisher, _) = Rumqtt::connect(options(broker.port(), "rumqttc-pub"));
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let topic = format!("in/{}", qos as u8);
        let payload = [0u8, 0xff, b'r', qos as u8];
        publisher.publish(&topic, &payload, qos, false);
        let got = recv_publish_acked(&mut observer);
        assert_publish(&got, &topic, &payload, qos, false);
        publisher.publish(&topic, b"", qos, false);
        let got = recv_publish_acked(&mut observer);
        assert_publish(&got, &topic, b"", qos, false);
    }
    settle(&mut observer);
    publisher.disconnect();
    assert_eq!(
        broker.wait_disconnected("rumqttc-pub", 0),
        DisconnectReason::ClientDisconnected
    );
}

/// rumqttc subscribed at each QoS gets messages published at QoS 0, 1 and 2 at the minimum of
/// both ([MQTT-3.8.4-6]), once each, RETAIN 0 ([MQTT-3.3.1-9]).
#[test]
fn rumqttc_subscribes_at_qos_0_1_2() {
    let broker = ObservedBroker::start();
    let mut publisher = RawClient::clean(broker.port(), "publisher");
    for sub_qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let id = format!("rumqttc-sub-{}", sub_qos as u8);
        let (mut subscriber, _) = Rumqtt::connect(options(broker.port(), &id));
        subscriber.subscribe("out/#", sub_qos);
        for (n, pub_qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            let topic = format!("out/{}/{}", sub_qos as u8, pub_qos as u8);
            let payload = format!("to rumqttc {}{}", sub_qos as u8, pub_qos as u8);
            publish_from_raw(
                &mut publisher,
                &topic,
                payload.as_bytes(),
                pub_qos,
                false,
                n as u16 + 1,
            );
            let got = subscriber.next_publish();
            assert_received(
                &got,
                &topic,
                payload.as_bytes(),
                pub_qos.min(sub_qos),
                false,
            );
        }
        subscriber.expect_no_publish();
        subscriber.disconnect();
    }
}

/// Retained set and cleared by rumqttc: a new subscriber gets it with RETAIN 1 ([MQTT-3.3.1-6],
/// [MQTT-3.3.1-8]); the empty retained message reaches the existing subscriber with RETAIN 0
/// ([MQTT-3.3.1-9]) and removes the stored one ([MQTT-3.3.1-10], [MQTT-3.3.1-11]).
#[test]
fn rumqttc_retained_set_and_cleared() {
    let broker = ObservedBroker::start();
    let port = broker.port();
    let (mut publisher, _) = Rumqtt::connect(options(port, "rumqttc-retainer"));
    publisher.publish("ret/a", b"kept", QoS::ExactlyOnce, true);
    let (mut first, _) = Rumqtt::connect(options(port, "rumqttc-first"));
    first.subscribe("ret/#", QoS::AtLeastOnce);
    let got = first.next_publish();
    assert_received(&got, "ret/a", b"kept", QoS::AtLeastOnce, true);

    publisher.publish("ret/a", b"", QoS::AtLeastOnce, true);
    let got = first.next_publish();
    assert_received(&got, "ret/a", b"", QoS::AtLeastOnce, false);
    crate::common::eventually("no retained message left", || {
        broker.stats().retained_messages == 0
    });

    let (mut late, _) = Rumqtt::connect(options(port, "rumqttc-late"));
    late.subscribe("ret/#", QoS::ExactlyOnce);
    late.expect_no_publish();
    late.disconnect();
    first.disconnect();
    publisher.disconnect();
}

/// A rumqttc client with a will whose connection drops without DISCONNECT: the will is
/// published with its QoS and stored as retained ([MQTT-3.1.2-8], [MQTT-3.1.2-17]); after a
/// normal disconnect there is none ([MQTT-3.1.2-10]).
#[test]
fn rumqttc_will_on_abrupt_close() {
    let broker = ObservedBroker::start();
    let port = broker.port();
    let mut observer = raw_subscriber(port, "observer", "will/#", QoS::ExactlyOnce);

    let mut polite = options(port, "rumqttc-polite");
    polite.set_last_will(LastWill::new(
        "will/polite",
        "unwanted",
        rumqttc::QoS::AtLeastOnce,
        false,
    ));
    Rumqtt::connect(polite).0.disconnect();
    assert_eq!(
        broker.wait_disconnected("rumqttc-polite", 0),
        DisconnectReason::ClientDisconnected
    );

    let mut doomed = options(port, "rumqttc-doomed");
    doomed.set_last_will(LastWill::new(
        "will/doomed",
        b"\x00gone".to_vec(),
        rumqttc::QoS::ExactlyOnce,
        true,
    ));
    Rumqtt::connect(doomed).0.vanish();
    assert_eq!(
        broker.wait_disconnected("rumqttc-doomed", 0),
        DisconnectReason::ConnectionLost
    );
    let will = recv_publish_acked(&mut observer);
    assert_publish(&will, "will/doomed", b"\x00gone", QoS::ExactlyOnce, false);
    settle(&mut observer);

    let (mut late, _) = Rumqtt::connect(options(port, "rumqttc-late"));
    late.subscribe("will/#", QoS::ExactlyOnce);
    let got = late.next_publish();
    assert_received(&got, "will/doomed", b"\x00gone", QoS::ExactlyOnce, true);
    late.expect_no_publish();
    late.disconnect();
}

/// A persistent rumqttc session: QoS 1 and 2 messages published while it is away are delivered
/// on reconnect with session present 1, in publish order, once each ([MQTT-3.1.2-4],
/// [MQTT-3.1.2-5], [MQTT-3.2.2-2], [MQTT-4.6.0-6]); a clean session then finds nothing
/// ([MQTT-3.1.2-6], [MQTT-3.2.2-1]).
#[test]
fn rumqttc_persistent_session_redelivers() {
    let broker = ObservedBroker::start();
    let port = broker.port();
    let mut persistent = options(port, "rumqttc-persistent");
    persistent.set_clean_session(false);

    let (mut first, connack) = Rumqtt::connect(persistent.clone());
    assert!(!connack.session_present);
    first.subscribe("queue/#", QoS::ExactlyOnce);
    first.disconnect();
    broker.wait_disconnected("rumqttc-persistent", 0);

    let mut publisher = RawClient::clean(port, "publisher");
    let expected = publish_queue(&mut publisher, "queued");

    let (mut resumed, connack) = Rumqtt::connect(persistent.clone());
    assert!(connack.session_present);
    for (topic, payload, qos) in &expected {
        let got = resumed.next_publish();
        assert_received(&got, topic, payload.as_bytes(), *qos, false);
    }
    resumed.expect_no_publish();
    resumed.disconnect();

    let (clean, connack) = Rumqtt::connect(options(port, "rumqttc-persistent"));
    assert!(!connack.session_present);
    clean.disconnect();
    publish_from_raw(
        &mut publisher,
        "queue/lost",
        b"lost",
        QoS::AtLeastOnce,
        false,
        99,
    );
    let (mut after, connack) = Rumqtt::connect(persistent);
    assert!(!connack.session_present);
    after.expect_no_publish();
    after.disconnect();
}

/// A second rumqttc client with the same id takes over: the first connection is closed by the
/// broker ([MQTT-3.1.4-2]) and the second works.
#[test]
fn rumqttc_takeover_by_the_same_client_id() {
    let broker = ObservedBroker::start();
    let port = broker.port();
    let (mut first, _) = Rumqtt::connect(options(port, "rumqttc-twin"));
    first.subscribe("takeover/#", QoS::AtLeastOnce);
    let (mut second, _) = Rumqtt::connect(options(port, "rumqttc-twin"));
    first.expect_closed();
    broker.wait_event(&BrokerEvent::Disconnected {
        client_id: "rumqttc-twin".to_owned(),
        reason: DisconnectReason::TakenOver,
    });
    second.subscribe("takeover/#", QoS::AtLeastOnce);
    second.publish("takeover/x", b"still here", QoS::AtLeastOnce, false);
    let got = second.next_publish();
    assert_received(&got, "takeover/x", b"still here", QoS::AtLeastOnce, false);
    second.disconnect();
}

/// rumqttc with manual acknowledgements receives a QoS 1 and a QoS 2 message, acknowledges
/// neither, and its connection drops. On reconnecting to its persistent session the broker
/// re-sends both with DUP set ([MQTT-4.4.0-1], [MQTT-3.3.1-1]); once acknowledged they are not
/// sent again.
#[test]
fn rumqttc_unacknowledged_messages_are_resent_with_dup() {
    let broker = ObservedBroker::start();
    let port = broker.port();
    let mut persistent = options(port, "rumqttc-slow");
    persistent.set_clean_session(false).set_manual_acks(true);

    let (mut first, _) = Rumqtt::connect(persistent.clone());
    first.subscribe("resend/#", QoS::ExactlyOnce);
    let mut publisher = RawClient::clean(port, "publisher");
    publish_resend_pair(&mut publisher);
    let one = first.next_publish();
    assert_received(&one, "resend/1", b"one", QoS::AtLeastOnce, false);
    let two = first.next_publish();
    assert_received(&two, "resend/2", b"two", QoS::ExactlyOnce, false);
    first.vanish();
    broker.wait_disconnected("rumqttc-slow", 0);

    let (mut resumed, connack) = Rumqtt::connect(persistent);
    assert!(connack.session_present);
    for (topic, payload, qos) in [
        ("resend/1", &b"one"[..], rumqttc::QoS::AtLeastOnce),
        ("resend/2", &b"two"[..], rumqttc::QoS::ExactlyOnce),
    ] {
        let again = resumed.next_publish();
        assert_eq!(
            (again.topic.as_str(), &again.payload[..], again.qos),
            (topic, payload, qos)
        );
        assert!(again.dup, "a re-sent PUBLISH has DUP set: {again:?}");
        assert!(!again.retain, "{again:?}");
        resumed.client.ack(&again).unwrap();
    }
    // The QoS 2 flow completes: PUBREL arrives for the PUBREC just sent.
    resumed.wait_for("PUBREL", |p| matches!(p, Incoming::PubRel(_)));
    resumed.expect_no_publish();
    resumed.disconnect();
}
