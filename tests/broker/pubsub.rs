//! PUBLISH, SUBSCRIBE and UNSUBSCRIBE at every QoS, retained messages, overlapping
//! subscriptions, authorization and stats — checked at the wire.

use std::time::Duration;

use crate::common::*;
use mqtt::broker::{Access, BrokerOptions};
use mqtt::protocol::{Packet, QoS, QosPid, SubackCode};

const QUIET: Duration = Duration::from_millis(200);

#[test]
fn mqtt_4_3_1_qos0_delivered_without_ack() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("a/b", QoS::AtMostOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish("a/b", b"zero", QosPid::AtMostOnce, false));
    let p = sub.recv_publish();
    assert_eq!((p.topic.as_str(), &*p.payload), ("a/b", &b"zero"[..]));
    assert_eq!(p.qospid, QosPid::AtMostOnce);
    assert!(!p.dup && !p.retain);
    publisher.sync();
}

#[test]
fn mqtt_4_3_2_2_qos1_puback_and_delivery_acked() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("q1", QoS::AtLeastOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish("q1", b"one", QosPid::AtLeastOnce(pid(7)), false));
    assert_eq!(publisher.recv(), Packet::Puback(pid(7).into()));
    let p = sub.recv_publish();
    let QosPid::AtLeastOnce(id) = p.qospid else {
        panic!("expected QoS 1, got {:?}", p.qospid)
    };
    assert!(!p.dup);
    sub.send(&Packet::Puback(id.into()));
    sub.sync();
    // Acknowledged: not resent.
    sub.expect_silence(QUIET);
}

#[test]
fn mqtt_4_3_3_2_qos2_flows_both_directions() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("q2", QoS::ExactlyOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish("q2", b"two", QosPid::ExactlyOnce(pid(9)), false));
    assert_eq!(publisher.recv(), Packet::Pubrec(pid(9).into()));
    // Forwarded at once, before PUBREL.
    let p = sub.recv_publish();
    let QosPid::ExactlyOnce(id) = p.qospid else {
        panic!("expected QoS 2, got {:?}", p.qospid)
    };
    publisher.send(&Packet::Pubrel(pid(9).into()));
    assert_eq!(publisher.recv(), Packet::Pubcomp(pid(9).into()));
    sub.send(&Packet::Pubrec(id.into()));
    assert_eq!(sub.recv(), Packet::Pubrel(id.into()));
    sub.send(&Packet::Pubcomp(id.into()));
    sub.sync();
    sub.expect_silence(QUIET);
}

#[test]
fn mqtt_4_3_3_2_qos2_deduplicated_until_pubrel() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("dedup", QoS::AtMostOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    let mut again = publish("dedup", b"x", QosPid::ExactlyOnce(pid(3)), false);
    publisher.send(&again);
    assert_eq!(publisher.recv(), Packet::Pubrec(pid(3).into()));
    if let Packet::Publish(p) = &mut again {
        p.dup = true;
    }
    publisher.send(&again);
    assert_eq!(publisher.recv(), Packet::Pubrec(pid(3).into()));
    assert_eq!(sub.recv_publish().payload.as_ref(), b"x");
    sub.sync();
    // After PUBREL the identifier is free: the same id is a new message.
    publisher.send(&Packet::Pubrel(pid(3).into()));
    assert_eq!(publisher.recv(), Packet::Pubcomp(pid(3).into()));
    publisher.send(&publish("dedup", b"y", QosPid::ExactlyOnce(pid(3)), false));
    assert_eq!(publisher.recv(), Packet::Pubrec(pid(3).into()));
    assert_eq!(sub.recv_publish().payload.as_ref(), b"y");
    assert_eq!(broker.stats().messages_received, 2);
}

#[test]
fn mqtt_3_8_4_6_delivery_qos_is_min_of_publish_and_granted() {
    let broker = start_default_broker();
    let mut low = RawClient::clean(broker.port(), "low");
    low.subscribe_ok(1, &[("m", QoS::AtMostOnce)]);
    let mut high = RawClient::clean(broker.port(), "high");
    high.subscribe_ok(1, &[("m", QoS::ExactlyOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish("m", b"1", QosPid::AtLeastOnce(pid(1)), false));
    assert_eq!(publisher.recv(), Packet::Puback(pid(1).into()));
    assert_eq!(low.recv_publish().qospid, QosPid::AtMostOnce);
    assert!(matches!(high.recv_publish().qospid, QosPid::AtLeastOnce(_)));
}

#[test]
fn mqtt_3_3_5_1_overlapping_subscriptions_delivered_once_at_max_qos() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(
        1,
        &[
            ("o/#", QoS::AtMostOnce),
            ("o/+", QoS::ExactlyOnce),
            ("o/x", QoS::AtLeastOnce),
        ],
    );
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish("o/x", b"once", QosPid::ExactlyOnce(pid(1)), false));
    assert_eq!(publisher.recv(), Packet::Pubrec(pid(1).into()));
    let p = sub.recv_publish();
    assert!(matches!(p.qospid, QosPid::ExactlyOnce(_)));
    let extra = sub.sync_collect();
    assert!(extra.is_empty(), "delivered more than once: {extra:?}");
}

#[test]
fn mqtt_3_3_1_publisher_receives_its_own_message() {
    let broker = start_default_broker();
    let mut client = RawClient::clean(broker.port(), "self");
    client.subscribe_ok(1, &[("echo", QoS::AtMostOnce)]);
    client.send(&publish("echo", b"me", QosPid::AtMostOnce, false));
    assert_eq!(client.recv_publish().payload.as_ref(), b"me");
}

#[test]
fn mqtt_3_8_4_5_suback_codes_in_order_with_0x80_for_invalid_filter() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.send(&subscribe(
        42,
        &[
            ("good/+", QoS::ExactlyOnce),
            ("bad/#/x", QoS::AtLeastOnce),
            ("fine", QoS::AtMostOnce),
            ("bad+", QoS::AtMostOnce),
        ],
    ));
    let mut raw = [0u8; 8];
    sub.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    std::io::Read::read_exact(&mut sub.stream, &mut raw).unwrap();
    assert_eq!(raw, [0x90, 6, 0, 42, 2, 0x80, 0, 0x80]);
    assert_eq!(broker.stats().subscriptions, 2);
}

#[test]
fn mqtt_3_8_4_3_resubscribe_replaces_qos() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("r", QoS::ExactlyOnce)]);
    sub.subscribe_ok(2, &[("r", QoS::AtMostOnce)]);
    assert_eq!(broker.stats().subscriptions, 1);
    broker.publish("r", b"x", QoS::ExactlyOnce, false).unwrap();
    assert_eq!(sub.recv_publish().qospid, QosPid::AtMostOnce);
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn mqtt_3_10_4_4_unsubscribe_stops_delivery_and_is_acked() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("u/1", QoS::AtMostOnce), ("u/2", QoS::AtMostOnce)]);
    sub.send(&unsubscribe(5, &["u/1", "never/subscribed"]));
    assert_eq!(
        sub.recv(),
        Packet::Unsuback(mqtt::protocol::Unsuback::new(pid(5)))
    );
    assert_eq!(broker.stats().subscriptions, 1);
    broker
        .publish("u/1", b"gone", QoS::AtMostOnce, false)
        .unwrap();
    broker
        .publish("u/2", b"kept", QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(sub.recv_publish().payload.as_ref(), b"kept");
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn mqtt_3_3_1_6_retained_sent_on_subscribe_with_retain_flag() {
    let broker = start_default_broker();
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish("ret/a", b"A", QosPid::AtLeastOnce(pid(1)), true));
    assert_eq!(publisher.recv(), Packet::Puback(pid(1).into()));
    publisher.send(&publish("ret/b", b"B", QosPid::AtMostOnce, true));
    publisher.sync();
    assert_eq!(broker.stats().retained_messages, 2);

    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.send(&subscribe(3, &[("ret/a", QoS::ExactlyOnce)]));
    assert!(matches!(sub.recv(), Packet::Suback(_)));
    let p = sub.recv_publish();
    // [MQTT-3.3.1-8] RETAIN set; delivered at the retained message's QoS 1.
    assert!(p.retain);
    assert_eq!(p.payload.as_ref(), b"A");
    assert!(matches!(p.qospid, QosPid::AtLeastOnce(_)));

    let mut wild = RawClient::clean(broker.port(), "wild");
    wild.send(&subscribe(4, &[("ret/+", QoS::AtMostOnce)]));
    assert!(matches!(wild.recv(), Packet::Suback(_)));
    let mut got = [wild.recv_publish(), wild.recv_publish()];
    got.sort_by(|a, b| a.topic.cmp(&b.topic));
    assert_eq!(got[0].payload.as_ref(), b"A");
    assert_eq!(got[1].payload.as_ref(), b"B");
    assert!(
        got.iter()
            .all(|p| p.retain && p.qospid == QosPid::AtMostOnce)
    );

    // [MQTT-3.3.1-9] a live delivery of a retained publish has RETAIN clear.
    publisher.send(&publish("ret/a", b"A2", QosPid::AtMostOnce, true));
    let live = wild.recv_publish();
    assert_eq!(live.payload.as_ref(), b"A2");
    assert!(!live.retain);
}

#[test]
fn mqtt_3_3_1_5_retained_replaced_and_mqtt_3_3_1_10_cleared() {
    let broker = start_default_broker();
    broker
        .publish("keep", b"v1", QoS::AtMostOnce, true)
        .unwrap();
    broker
        .publish("keep", b"v2", QoS::AtMostOnce, true)
        .unwrap();
    assert_eq!(broker.stats().retained_messages, 1);
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.send(&subscribe(1, &[("keep", QoS::AtMostOnce)]));
    assert!(matches!(sub.recv(), Packet::Suback(_)));
    assert_eq!(sub.recv_publish().payload.as_ref(), b"v2");
    assert!(sub.sync_collect().is_empty());

    // An empty retained payload is delivered as normal and deletes the retained message.
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish("keep", b"", QosPid::AtMostOnce, true));
    let cleared = sub.recv_publish();
    assert!(cleared.payload.is_empty());
    publisher.sync();
    assert_eq!(broker.stats().retained_messages, 0);
    let mut late = RawClient::clean(broker.port(), "late");
    late.subscribe_ok(1, &[("keep", QoS::AtMostOnce)]);
    assert!(late.sync_collect().is_empty());
}

#[test]
fn mqtt_3_8_4_3_resubscribe_resends_retained() {
    let broker = start_default_broker();
    broker.publish("rr", b"r", QoS::AtMostOnce, true).unwrap();
    let mut sub = RawClient::clean(broker.port(), "sub");
    for id in 1..=2 {
        sub.send(&subscribe(id, &[("rr", QoS::AtMostOnce)]));
        assert!(matches!(sub.recv(), Packet::Suback(_)));
        assert!(sub.recv_publish().retain);
    }
}

#[test]
fn mqtt_4_7_2_1_wildcards_do_not_match_dollar_topics() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("#", QoS::AtMostOnce), ("$SYS/+", QoS::AtMostOnce)]);
    broker
        .publish("$SYS/x", b"s", QoS::AtMostOnce, false)
        .unwrap();
    broker
        .publish("plain", b"p", QoS::AtMostOnce, false)
        .unwrap();
    let got: Vec<_> = (0..2).map(|_| sub.recv_publish()).collect();
    assert_eq!(got[0].payload.as_ref(), b"s");
    assert_eq!(got[1].payload.as_ref(), b"p");
    assert!(sub.sync_collect().is_empty());
}

fn authorizing_broker() -> mqtt::broker::Broker {
    start_broker(BrokerOptions::default().authorizer(
        |client_id, _user, topic, access| match access {
            Access::Subscribe => !topic.starts_with("secret"),
            Access::Publish => client_id != "muted" && topic != "readonly",
        },
    ))
}

#[test]
fn authorizer_refusing_subscribe_gets_0x80() {
    let broker = authorizing_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.send(&subscribe(
        1,
        &[("secret/#", QoS::AtLeastOnce), ("open", QoS::AtLeastOnce)],
    ));
    match sub.recv() {
        Packet::Suback(s) => assert_eq!(
            s.codes,
            vec![
                SubackCode::Failure.to_reason(),
                SubackCode::Granted(QoS::AtLeastOnce).to_reason()
            ]
        ),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    broker
        .publish("secret/x", b"no", QoS::AtMostOnce, false)
        .unwrap();
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn mqtt_3_3_5_2_authorizer_refusing_publish_acks_and_drops() {
    let broker = authorizing_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("#", QoS::AtLeastOnce)]);
    let mut muted = RawClient::clean(broker.port(), "muted");
    muted.send(&publish("t", b"x", QosPid::AtLeastOnce(pid(1)), false));
    assert_eq!(muted.recv(), Packet::Puback(pid(1).into()));
    muted.send(&publish("t", b"x", QosPid::ExactlyOnce(pid(2)), false));
    assert_eq!(muted.recv(), Packet::Pubrec(pid(2).into()));
    let mut other = RawClient::clean(broker.port(), "other");
    other.send(&publish("readonly", b"x", QosPid::AtMostOnce, false));
    other.send(&publish("t", b"allowed", QosPid::AtMostOnce, false));
    let p = sub.recv_publish();
    assert_eq!(p.payload.as_ref(), b"allowed");
    assert_eq!(p.qospid, QosPid::AtMostOnce);
    assert!(sub.sync_collect().is_empty());
}

#[test]
fn stats_count_traffic() {
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("s/#", QoS::AtMostOnce), ("x", QoS::AtMostOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    for i in 0..10u8 {
        publisher.send(&publish("s/t", &[i], QosPid::AtMostOnce, false));
    }
    for _ in 0..10 {
        sub.recv_publish();
    }
    publisher.sync();
    let stats = broker.stats();
    assert_eq!(stats.clients_connected, 2);
    assert_eq!(stats.connections_accepted, 2);
    assert_eq!(stats.sessions, 2);
    assert_eq!(stats.subscriptions, 2);
    assert_eq!(stats.messages_received, 10);
    eventually("sent counted", || broker.stats().messages_sent == 10);
    assert_eq!(stats.messages_dropped, 0);
}

/// `$SYS` topics under mosquitto's names, published retained every `sys_interval`, with values
/// that follow the traffic; `#` does not match them ([MQTT-4.7.2-1]) and clients cannot publish
/// into them.
#[test]
fn sys_topics_report_the_traffic() {
    let broker = start_broker(BrokerOptions {
        sys_interval: Duration::from_secs(1),
        ..BrokerOptions::default()
    });
    let mut everything = RawClient::clean(broker.port(), "everything");
    everything.subscribe_ok(1, &[("#", QoS::AtMostOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "publisher");
    for n in 0..3u8 {
        publisher.send(&publish("data", &[n], QosPid::AtMostOnce, false));
    }
    // A client cannot write $SYS.
    publisher.send(&publish(
        "$SYS/broker/uptime",
        b"forged",
        QosPid::AtMostOnce,
        false,
    ));
    for _ in 0..3 {
        assert!(matches!(everything.recv(), Packet::Publish(p) if p.topic.as_str() == "data"));
    }
    // Wait for a publication after the traffic, then read the retained values.
    std::thread::sleep(Duration::from_millis(2100));
    let mut reader = RawClient::clean(broker.port(), "reader");
    reader.subscribe_ok(1, &[("$SYS/broker/#", QoS::AtMostOnce)]);
    let mut values = std::collections::HashMap::new();
    while let Ok(Packet::Publish(p)) = reader.try_recv(Duration::from_millis(300)) {
        assert!(p.retain);
        let topic = p
            .topic
            .as_str()
            .trim_start_matches("$SYS/broker/")
            .to_owned();
        values.insert(topic, String::from_utf8_lossy(&p.payload).into_owned());
    }
    assert_eq!(
        values["version"],
        format!("libmqtt {}", env!("CARGO_PKG_VERSION"))
    );
    assert_ne!(values["uptime"], "forged");
    assert!(
        values["uptime"].ends_with(" seconds"),
        "{}",
        values["uptime"]
    );
    assert_eq!(
        values["messages/received"], "3",
        "the refused $SYS one is not received"
    );
    assert_eq!(values["clients/connected"], "2");
    assert_eq!(values["clients/maximum"], "2");
    assert_eq!(values["subscriptions/count"], "1");
    assert!(values["bytes/received"].parse::<u64>().unwrap() > 0);
    for key in [
        "load/messages/received/1min",
        "retained messages/count",
        "messages/sent",
    ] {
        assert!(values.contains_key(key), "{key} missing from {values:?}");
    }
    // Nothing of $SYS reached the `#` subscriber.
    assert!(everything.try_recv(Duration::from_millis(200)).is_err());
    assert_eq!(
        broker.stats().retained_messages,
        0,
        "$SYS is not counted as retained"
    );
}

/// The host's message hook sees every client PUBLISH before routing and may drop or rewrite it;
/// a dropped QoS 1 message is still acknowledged.
#[test]
fn message_hook_drops_and_rewrites() {
    use mqtt::broker::HookVerdict;
    use mqtt::protocol::ReasonCode;
    let broker = start_broker(BrokerOptions::default().message_hook(|m| {
        if m.topic.starts_with("drop/") {
            HookVerdict::Drop(ReasonCode::QUOTA_EXCEEDED)
        } else if m.topic == "old" {
            HookVerdict::Replace {
                topic: "new".into(),
                payload: m.payload.to_ascii_uppercase(),
            }
        } else {
            HookVerdict::Accept
        }
    }));
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("#", QoS::AtMostOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish(
        "drop/x",
        b"gone",
        QosPid::AtLeastOnce(pid(1)),
        false,
    ));
    assert!(matches!(publisher.recv(), Packet::Puback(a) if a.packet_id == pid(1)));
    publisher.send(&publish("old", b"shout", QosPid::AtMostOnce, false));
    publisher.send(&publish("kept", b"as is", QosPid::AtMostOnce, false));
    for (topic, payload) in [("new", &b"SHOUT"[..]), ("kept", b"as is")] {
        match sub.recv() {
            Packet::Publish(p) => {
                assert_eq!(p.topic.as_str(), topic);
                assert_eq!(&*p.payload, payload);
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    assert!(sub.try_recv(Duration::from_millis(200)).is_err());
}

/// The host lists connected clients and closes one, with or without its will.
#[test]
fn host_lists_and_kicks_clients() {
    let broker = start_default_broker();
    let mut watcher = RawClient::clean(broker.port(), "watcher");
    watcher.subscribe_ok(1, &[("will/#", QoS::AtMostOnce)]);
    let with_will = |id: &str| {
        let mut connect = connect_packet(id, true);
        connect.will = Some(will(
            &format!("will/{id}"),
            id.as_bytes(),
            QoS::AtMostOnce,
            false,
        ));
        connect.username = Some(format!("user-{id}"));
        RawClient::connect_with(broker.port(), connect).0
    };
    let mut loud = with_will("loud");
    let mut quiet = with_will("quiet");
    let clients = broker.clients();
    let mut ids: Vec<_> = clients.iter().map(|c| c.client_id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, ["loud", "quiet", "watcher"]);
    let loud_info = clients.iter().find(|c| &*c.client_id == "loud").unwrap();
    assert_eq!(loud_info.username.as_deref(), Some("user-loud"));
    assert_eq!(loud_info.protocol_level, 4);
    assert!(broker.disconnect_client("loud", true));
    loud.expect_closed(READ_TIMEOUT);
    match watcher.recv() {
        Packet::Publish(p) => assert_eq!(p.topic.as_str(), "will/loud"),
        other => panic!("expected the will, got {other:?}"),
    }
    assert!(broker.disconnect_client("quiet", false));
    quiet.expect_closed(READ_TIMEOUT);
    assert!(
        watcher.try_recv(Duration::from_millis(300)).is_err(),
        "no will"
    );
    assert!(!broker.disconnect_client("nobody", true));
    eventually("two clients gone", || broker.clients().len() == 1);
}

/// In-process subscriptions: the host receives what matches its filters (retained ones at once,
/// with RETAIN set, [MQTT-3.3.1-6]) at min(publish QoS, its QoS) ([MQTT-3.8.4-6]); its callback
/// may publish into the broker and unsubscribe without deadlock; after unsubscribing nothing
/// more arrives; share groups are for clients.
#[test]
fn host_subscribes_in_process() {
    use mqtt::broker::{HostMessage, SubscribeError};
    use std::sync::{Arc, Mutex, mpsc};

    let broker = Arc::new(start_default_broker());
    broker
        .publish("sensors/old", b"kept", QoS::AtLeastOnce, true)
        .unwrap();
    let (tx, rx) = mpsc::channel::<(String, Vec<u8>, QoS, bool)>();
    let tx = Mutex::new(tx);
    let weak = Arc::downgrade(&broker);
    broker
        .subscribe(
            "sensors/#",
            QoS::AtLeastOnce,
            Arc::new(move |m: &HostMessage<'_>| {
                let _ = tx.lock().unwrap().send((
                    m.topic.to_owned(),
                    m.payload.to_vec(),
                    m.qos,
                    m.retain,
                ));
                // Calling back into the broker from the callback must not deadlock.
                if m.topic == "sensors/echo"
                    && let Some(broker) = weak.upgrade()
                {
                    broker
                        .publish("echoed", m.payload, QoS::AtMostOnce, false)
                        .unwrap();
                    assert!(broker.unsubscribe("sensors/#"));
                }
            }),
        )
        .unwrap();
    let next = || rx.recv_timeout(Duration::from_secs(5)).expect("a message");
    assert_eq!(
        next(),
        (
            "sensors/old".into(),
            b"kept".to_vec(),
            QoS::AtLeastOnce,
            true
        )
    );

    let mut watcher = RawClient::clean(broker.port(), "watcher");
    watcher.subscribe_ok(1, &[("echoed", QoS::AtMostOnce)]);
    let mut client = RawClient::clean(broker.port(), "client");
    client.send(&publish(
        "other/x",
        b"not for the host",
        QosPid::AtMostOnce,
        false,
    ));
    client.send(&publish("sensors/a", b"zero", QosPid::AtMostOnce, false));
    client.send(&publish(
        "sensors/b",
        b"two",
        QosPid::ExactlyOnce(pid(1)),
        false,
    ));
    assert!(matches!(client.recv(), Packet::Pubrec(a) if a.packet_id == pid(1)));
    assert_eq!(
        next(),
        ("sensors/a".into(), b"zero".to_vec(), QoS::AtMostOnce, false)
    );
    assert_eq!(
        next(),
        ("sensors/b".into(), b"two".to_vec(), QoS::AtLeastOnce, false)
    );
    client.send(&publish("sensors/echo", b"ping", QosPid::AtMostOnce, false));
    assert_eq!(next().0, "sensors/echo");
    let echoed = watcher.recv_publish();
    assert_eq!(
        (echoed.topic.as_str(), &*echoed.payload),
        ("echoed", &b"ping"[..])
    );

    // The callback unsubscribed: nothing more arrives, and the broker has let go of the callback
    // (its sender is dropped once nothing is left in the channel).
    client.send(&publish("sensors/late", b"x", QosPid::AtMostOnce, false));
    client.sync();
    assert_eq!(
        rx.recv_timeout(QUIET),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    assert!(!broker.unsubscribe("sensors/#"), "already gone");

    let nothing = Arc::new(|_: &HostMessage<'_>| {});
    assert!(matches!(
        broker.subscribe("$share/g/x", QoS::AtMostOnce, nothing.clone()),
        Err(SubscribeError::SharedFilter)
    ));
    assert!(matches!(
        broker.subscribe("a/#/b", QoS::AtMostOnce, nothing),
        Err(SubscribeError::InvalidFilter(_))
    ));
}

/// A publisher whose reads hold a packet or two has its deliveries written by its own thread
/// straight to an idle subscriber's socket; a publisher sending in bursts hands them to the
/// subscriber's thread. Both paths feed one subscriber here, at QoS 1, so that deliveries also
/// wait for room in the subscriber's window of unacknowledged messages: each publisher's messages
/// must still arrive once each and in order ([MQTT-4.6.0-5]: ordered per topic, as for a
/// non-overlapping subscription).
#[test]
fn mqtt_4_6_0_5_order_holds_when_sparse_and_bursty_publishers_share_a_subscriber() {
    const SPARSE: u32 = 300;
    const BURSTS: u32 = 20;
    const PER_BURST: u32 = 50;
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("order/+", QoS::AtLeastOnce)]);
    let port = broker.port();
    let sparse = std::thread::spawn(move || {
        let mut publisher = RawClient::clean(port, "sparse");
        for seq in 0..SPARSE {
            let qospid = QosPid::AtLeastOnce(pid(seq as u16 + 1));
            publisher.send(&publish("order/sparse", &seq.to_be_bytes(), qospid, false));
            if seq % 16 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert_all_acknowledged(&mut publisher, SPARSE);
    });
    let bursty = std::thread::spawn(move || {
        let mut publisher = RawClient::clean(port, "bursty");
        for burst in 0..BURSTS {
            let mut bytes = Vec::new();
            for i in 0..PER_BURST {
                let seq = burst * PER_BURST + i;
                let qospid = QosPid::AtLeastOnce(pid(seq as u16 + 1));
                let packet = publish("order/bursty", &seq.to_be_bytes(), qospid, false);
                bytes.extend(packet.to_bytes().expect("test packet encodes"));
            }
            publisher.send_bytes(&bytes);
        }
        assert_all_acknowledged(&mut publisher, BURSTS * PER_BURST);
    });
    let mut next = std::collections::HashMap::from([("order/sparse", 0u32), ("order/bursty", 0)]);
    for _ in 0..SPARSE + BURSTS * PER_BURST {
        let p = sub.recv_publish();
        if let QosPid::AtLeastOnce(id) = p.qospid {
            sub.send(&Packet::Puback(id.into()));
        }
        let seq = u32::from_be_bytes(p.payload[..4].try_into().expect("4-byte payload"));
        let expected = next
            .get_mut(p.topic.as_str())
            .expect("a topic published here");
        assert_eq!(seq, *expected, "out of order on {}", p.topic.as_str());
        *expected += 1;
    }
    sparse.join().expect("sparse publisher");
    bursty.join().expect("bursty publisher");
    sub.expect_silence(QUIET);
}

fn assert_all_acknowledged(publisher: &mut RawClient, sent: u32) {
    let acks = publisher.sync_collect();
    assert_eq!(acks.len(), sent as usize);
    assert!(acks.iter().all(|p| matches!(p, Packet::Puback(_))));
}

/// A subscriber fed by several sparse publishers, whose deliveries often find its connection's
/// thread at work (they then only note the delivery for it), still has what it sends read:
/// a PINGREQ sent in the middle of the traffic is answered while the traffic goes on
/// ([MQTT-3.12.4-1]), not once it stops.
#[test]
fn mqtt_3_12_4_1_a_subscriber_busy_with_sparse_publishers_still_gets_its_pingresp() {
    const PUBLISHERS: usize = 3;
    let broker = start_default_broker();
    let mut sub = RawClient::clean(broker.port(), "busy-sub");
    sub.subscribe_ok(1, &[("busy/+", QoS::AtMostOnce)]);
    let port = broker.port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|n| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut publisher = RawClient::clean(port, &format!("busy-pub-{n}"));
                let topic = format!("busy/{n}");
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while !stop.load(std::sync::atomic::Ordering::Relaxed)
                    && std::time::Instant::now() < deadline
                {
                    publisher.send(&publish(&topic, b"x", QosPid::AtMostOnce, false));
                    // One packet per read of the broker (the direct-delivery path), yet often.
                    let sent = std::time::Instant::now();
                    while sent.elapsed() < Duration::from_micros(20) {
                        std::hint::spin_loop();
                    }
                }
            })
        })
        .collect();
    // Traffic flowing first.
    for _ in 0..1000 {
        sub.recv_publish();
    }
    sub.send(&Packet::Pingreq);
    let asked = std::time::Instant::now();
    let answered = loop {
        match sub.try_recv(Duration::from_secs(5)) {
            Ok(Packet::Pingresp) => break Some(asked.elapsed()),
            Ok(Packet::Publish(_)) => {}
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break None,
        }
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for publisher in publishers {
        publisher.join().expect("publisher");
    }
    let answered = answered.expect("PINGRESP");
    assert!(
        answered < Duration::from_secs(2),
        "PINGRESP took {answered:?} under sparse traffic"
    );
}

/// One read that mixes messages fanned out to many sessions (which the broker offers as a run
/// per topic, collecting the topic's subscribers once) with messages for one session, in runs
/// longer and shorter than the broker's run limit: every subscriber still receives what it
/// subscribed to once each and in publish order ([MQTT-4.6.0-5]), the one subscribed to both
/// topics too, at QoS 1 as at QoS 0.
#[test]
fn mqtt_4_6_0_5_order_holds_across_fanned_out_runs_and_single_deliveries_of_one_read() {
    const FANNED_OUT_TO: usize = 6;
    let broker = start_default_broker();
    let mut fans: Vec<RawClient> = (0..FANNED_OUT_TO)
        .map(|n| {
            let mut fan = RawClient::clean(broker.port(), &format!("fan-{n}"));
            fan.subscribe_ok(1, &[("run/wide", QoS::AtLeastOnce)]);
            fan
        })
        .collect();
    fans[0].subscribe_ok(2, &[("run/narrow", QoS::AtLeastOnce)]);
    // Runs of 1 to 300 wide messages (the broker offers at most 128 per run) between narrow ones.
    let mut topics = Vec::new();
    for length in [1, 5, 127, 128, 129, 300, 2, 40] {
        topics.extend(std::iter::repeat_n("run/wide", length));
        topics.push("run/narrow");
    }
    let mut bytes = Vec::new();
    for (seq, topic) in topics.iter().enumerate() {
        let qospid = match seq % 3 {
            0 => QosPid::AtMostOnce,
            _ => QosPid::AtLeastOnce(pid(seq as u16 + 1)),
        };
        let packet = publish(topic, &(seq as u32).to_be_bytes(), qospid, false);
        bytes.extend(packet.to_bytes().expect("test packet encodes"));
    }
    let mut publisher = RawClient::clean(broker.port(), "run-pub");
    publisher.send_bytes(&bytes);
    for (n, fan) in fans.iter_mut().enumerate() {
        let expected: Vec<u32> = (0..topics.len() as u32)
            .filter(|&seq| n == 0 || topics[seq as usize] == "run/wide")
            .collect();
        let mut got = Vec::new();
        while got.len() < expected.len() {
            let p = fan.recv_publish();
            if let QosPid::AtLeastOnce(id) = p.qospid {
                fan.send(&Packet::Puback(id.into()));
            }
            got.push(u32::from_be_bytes(
                p.payload[..4].try_into().expect("4 bytes"),
            ));
        }
        assert_eq!(got, expected, "subscriber {n}");
        fan.expect_silence(QUIET);
    }
    let at_least_once = (0..topics.len()).filter(|seq| seq % 3 != 0).count();
    assert_all_acknowledged(&mut publisher, at_least_once as u32);
}

/// A publisher repeating one topic has its subscribers looked up once for as long as the
/// subscriptions stay the same; every SUBSCRIBE or UNSUBSCRIBE in between still applies to its
/// next message: a new subscriber gets it, one that unsubscribed does not ([MQTT-3.10.4-2]),
/// and a subscription replaced at another QoS delivers at that QoS ([MQTT-3.8.4-3]).
#[test]
fn mqtt_3_10_4_2_subscription_changes_apply_to_a_publishers_next_message_on_a_repeated_topic() {
    let broker = start_default_broker();
    let mut first = RawClient::clean(broker.port(), "repeat-first");
    first.subscribe_ok(1, &[("repeat/t", QoS::AtMostOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "repeat-pub");
    let mut send = |seq: u8| {
        let qospid = QosPid::AtLeastOnce(pid(u16::from(seq) + 1));
        publisher.send(&publish("repeat/t", &[seq], qospid, false));
        assert!(matches!(publisher.recv(), Packet::Puback(_)));
    };
    send(0);
    assert_eq!(&*first.recv_publish().payload, [0]);
    let mut second = RawClient::clean(broker.port(), "repeat-second");
    second.subscribe_ok(1, &[("repeat/+", QoS::AtLeastOnce)]);
    send(1);
    assert_eq!(&*first.recv_publish().payload, [1]);
    let got = second.recv_publish();
    assert_eq!(
        (&*got.payload, got.qospid.qos()),
        (&[1][..], QoS::AtLeastOnce)
    );
    second.send(&Packet::Puback(
        got.qospid.packet_id().expect("QoS 1").into(),
    ));
    first.send(&unsubscribe(2, &["repeat/t"]));
    assert!(matches!(first.recv(), Packet::Unsuback(_)));
    second.subscribe_ok(2, &[("repeat/+", QoS::AtMostOnce)]);
    send(2);
    let got = second.recv_publish();
    assert_eq!((&*got.payload, got.qospid), (&[2][..], QosPid::AtMostOnce));
    first.expect_silence(QUIET);
    second.expect_silence(QUIET);
}

/// Six subscribers to `topic`, five of them others and the last one `me`, which also publishes.
fn fanned_out_with(port: u16, topic: &str, subscribed: bool) -> (Vec<RawClient>, RawClient) {
    let others = (0..5)
        .map(|n| {
            let mut other = RawClient::clean(port, &format!("mid-run-{n}"));
            other.subscribe_ok(1, &[(topic, QoS::AtMostOnce)]);
            other
        })
        .collect();
    let mut me = RawClient::clean(port, "mid-run-me");
    if subscribed {
        me.subscribe_ok(1, &[(topic, QoS::AtMostOnce)]);
    }
    (others, me)
}

/// PUBLISH 0 on `mid/t`, `packet`, PUBLISH 1 on `mid/t`: the bytes of one write.
fn publish_around(packet: &Packet) -> Vec<u8> {
    [
        &publish("mid/t", &[0], QosPid::AtMostOnce, false),
        packet,
        &publish("mid/t", &[1], QosPid::AtMostOnce, false),
    ]
    .iter()
    .flat_map(|p| p.to_bytes().expect("test packet encodes"))
    .collect()
}

/// What `client` receives until it has been quiet for a while: the payloads of its PUBLISHes
/// and the other packets, in order.
fn received_until_quiet(client: &mut RawClient) -> Vec<Result<Vec<u8>, Packet>> {
    let mut got = Vec::new();
    while let Ok(packet) = client.try_recv(QUIET) {
        got.push(match packet {
            Packet::Publish(p) => Ok(p.payload.to_vec()),
            other => Err(other),
        });
    }
    got
}

/// [MQTT-3.10.4-2] within one read: PUBLISH, UNSUBSCRIBE, PUBLISH on a topic that fans out to
/// many sessions (which the broker routes as a run): the client gets its UNSUBACK and the first
/// message, which was already buffered for it and may follow the UNSUBACK ([MQTT-3.10.4-3]),
/// and not the second.
#[test]
fn mqtt_3_10_4_2_an_unsubscribe_between_two_fanned_out_messages_of_one_read_applies() {
    let broker = start_default_broker();
    let (_others, mut me) = fanned_out_with(broker.port(), "mid/t", true);
    me.send_bytes(&publish_around(&unsubscribe(2, &["mid/t"])));
    let got = received_until_quiet(&mut me);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.contains(&Ok(vec![0])), "{got:?}");
    assert!(
        got.iter().any(|p| matches!(p, Err(Packet::Unsuback(_)))),
        "{got:?}"
    );
}

/// [MQTT-3.8.4-3]'s other side within one read: PUBLISH, SUBSCRIBE, PUBLISH on a topic that fans
/// out to many sessions: the new subscription gets the message published after its SUBACK.
#[test]
fn a_subscribe_between_two_fanned_out_messages_of_one_read_applies_to_the_second() {
    let broker = start_default_broker();
    let (_others, mut me) = fanned_out_with(broker.port(), "mid/t", false);
    me.send_bytes(&publish_around(&subscribe(
        2,
        &[("mid/t", QoS::AtMostOnce)],
    )));
    let got = received_until_quiet(&mut me);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(matches!(got[0], Err(Packet::Suback(_))), "{got:?}");
    assert_eq!(got[1], Ok(vec![1]));
}
