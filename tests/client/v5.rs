//! The MQTT 5.0 client: against this project's broker (which speaks MQTT 5.0 in full) for
//! behaviour end to end, and against the scripted fake broker for what goes on the wire.
//! Normative statements are cited from MQTT 5.0 (OASIS 2019).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, unbounded};

use crate::client_support::{FakeBroker, WAIT, connect, options, read_publish};
use crate::fixture::start_broker;
use mqtt::broker::{Access, AuthResult, AuthVerdict, BrokerOptions};
use mqtt::client::{
    Client, ClientError, CloseReason, ConnectOptions, OwnedMessage, PublishOptions, PublishOutcome,
    SubscribeOptions,
};
use mqtt::protocol::{
    Ack, Packet, Properties, Property, PropertyId, ProtocolLevel, Publish, QoS, QosPid, ReasonCode,
    Suback,
};
use mqtt::topic::TopicName;

fn v5() -> ConnectOptions {
    options().protocol(ProtocolLevel::V5)
}

/// A subscription whose messages, properties included, arrive on the returned channel (the
/// client's loop thread must run to read them).
fn subscribe(
    client: &Client,
    filter: &str,
    qos: QoS,
    subscribe_options: &SubscribeOptions,
) -> Receiver<OwnedMessage> {
    let (tx, rx) = unbounded();
    let codes = client
        .subscribe_ex(
            &[(filter, qos)],
            subscribe_options,
            Arc::new(move |m: &mqtt::client::Message<'_>| {
                let _ = tx.send(m.to_owned());
            }),
        )
        .expect("subscribe");
    assert!(codes[0].is_success(), "SUBACK {:?}", codes[0]);
    rx
}

fn every_publish_property() -> PublishOptions {
    PublishOptions::new()
        .user_property("b", "2")
        .user_property("a", "1")
        .user_property("b", "3")
        .content_type("text/plain")
        .response_topic("reply/here")
        .correlation_data(b"\x00corr\xff")
        .message_expiry(30)
        .payload_is_utf8(true)
}

fn user_properties(m: &OwnedMessage) -> Vec<(String, String)> {
    m.properties
        .user_properties()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Every property a client may put in PUBLISH reaches a subscriber unchanged, User Properties
/// in their order [MQTT-3.3.2-17] [MQTT-3.3.2-18], through a subscriber that lets the broker use
/// topic aliases (resolved by the client, so callbacks see topic names) and a publisher that
/// uses them towards the broker.
#[test]
fn publish_properties_arrive_intact_through_topic_aliases_both_ways() {
    let broker = start_broker(BrokerOptions::with_port(0));
    let sub = connect(broker.port(), &v5().topic_alias_maximum(4));
    let rx = subscribe(&sub, "p/#", QoS::AtLeastOnce, &SubscribeOptions::new());
    sub.loop_start().unwrap();
    let publisher = connect(broker.port(), &v5());
    let limit = publisher
        .connack()
        .properties
        .integer(PropertyId::TopicAliasMaximum);
    assert!(limit.unwrap_or(0) > 0, "the broker allows topic aliases");
    for (i, topic) in ["p/one", "p/two", "p/one", "p/one"].iter().enumerate() {
        let code = publisher
            .publish_ex(
                topic,
                format!("m{i}").as_bytes(),
                QoS::AtLeastOnce,
                false,
                &every_publish_property(),
            )
            .unwrap();
        assert_eq!(code, ReasonCode::SUCCESS);
    }
    for (i, topic) in ["p/one", "p/two", "p/one", "p/one"].iter().enumerate() {
        let m = rx.recv_timeout(WAIT).expect("message");
        assert_eq!(m.topic, *topic);
        assert_eq!(m.payload, format!("m{i}").as_bytes());
        assert_eq!(
            user_properties(&m),
            [("b", "2"), ("a", "1"), ("b", "3")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let p = &m.properties;
        assert_eq!(p.string(PropertyId::ContentType), Some("text/plain"));
        assert_eq!(p.string(PropertyId::ResponseTopic), Some("reply/here"));
        assert_eq!(
            p.binary(PropertyId::CorrelationData),
            Some(&b"\x00corr\xff"[..])
        );
        assert_eq!(p.integer(PropertyId::PayloadFormatIndicator), Some(1));
        // [MQTT-3.3.2-6]: the remaining interval, at most what was sent.
        let expiry = p.integer(PropertyId::MessageExpiryInterval).unwrap();
        assert!((28..=30).contains(&expiry), "{expiry}");
        assert!(
            p.get(PropertyId::TopicAlias).is_none(),
            "aliases are resolved"
        );
    }
    broker.stop();
}

/// The reason codes of PUBACK, PUBREC, SUBACK and UNSUBACK reach the caller: 0x87 not
/// authorized as a refusal, 0x11 no subscription existed as a success.
#[test]
fn reason_codes_reach_the_caller() {
    let broker = start_broker(
        BrokerOptions::with_port(0)
            .authorizer(|_, _, topic: &str, _: Access| !topic.starts_with("secret")),
    );
    let client = connect(broker.port(), &v5());
    let none = PublishOptions::new();
    let code = client
        .publish_ex("nobody/listens", b"x", QoS::AtLeastOnce, false, &none)
        .unwrap();
    assert!(code.is_success());
    match client.publish_ex("secret/x", b"x", QoS::AtLeastOnce, false, &none) {
        Err(ClientError::PublishRefused(r)) => assert_eq!(r.code, ReasonCode::NOT_AUTHORIZED),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // QoS 2: a PUBREC of 0x80 or above ends the exchange (MQTT 5.0 section 4.3.3).
    let refused = client
        .publish_ex("secret/y", b"x", QoS::ExactlyOnce, false, &none)
        .unwrap_err();
    assert_eq!(refused.reason_code(), Some(ReasonCode::NOT_AUTHORIZED));
    let codes = client
        .subscribe_ex(
            &[("ok/#", QoS::AtLeastOnce), ("secret/#", QoS::AtLeastOnce)],
            &SubscribeOptions::new(),
            Arc::new(|_: &mqtt::client::Message<'_>| {}),
        )
        .unwrap();
    assert_eq!(
        codes,
        [ReasonCode::GRANTED_QOS_1, ReasonCode::NOT_AUTHORIZED]
    );
    assert_eq!(client.unsubscribe("ok/#").unwrap(), ReasonCode::SUCCESS);
    assert_eq!(
        client.unsubscribe("never/subscribed").unwrap(),
        ReasonCode::NO_SUBSCRIPTION_EXISTED
    );
    assert!(client.is_connected(), "refusals do not end the connection");
    broker.stop();
}

/// No Local [MQTT-3.8.3-3], Retain As Published, Retain Handling 1 and 2, and Subscription
/// Identifiers, one per matching subscription [MQTT-3.3.4-3].
#[test]
fn subscription_options_and_identifiers() {
    let broker = start_broker(BrokerOptions::with_port(0));
    let client = connect(broker.port(), &v5());
    let own = subscribe(
        &client,
        "nl/t",
        QoS::AtMostOnce,
        &SubscribeOptions::new().no_local(true),
    );
    client.loop_start().unwrap();
    let other = connect(broker.port(), &v5());
    let others = subscribe(&other, "nl/t", QoS::AtMostOnce, &SubscribeOptions::new());
    other.loop_start().unwrap();
    client
        .publish("nl/t", b"x", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(others.recv_timeout(WAIT).unwrap().payload, b"x");
    assert!(
        own.recv_timeout(Duration::from_millis(300)).is_err(),
        "No Local"
    );

    client
        .publish("ret/t", b"kept", QoS::AtLeastOnce, true)
        .unwrap();
    let rap = subscribe(
        &other,
        "ret/t",
        QoS::AtLeastOnce,
        &SubscribeOptions::new()
            .retain_as_published(true)
            .retain_handling(1),
    );
    assert!(
        rap.recv_timeout(WAIT).unwrap().retain,
        "retained on a new subscription"
    );
    client
        .publish("ret/t", b"live", QoS::AtLeastOnce, true)
        .unwrap();
    let live = rap.recv_timeout(WAIT).unwrap();
    assert!(
        live.retain,
        "Retain As Published keeps RETAIN on a live message"
    );
    // Retain Handling 1 on an existing subscription sends nothing retained.
    let again = subscribe(
        &other,
        "ret/t",
        QoS::AtLeastOnce,
        &SubscribeOptions::new().retain_handling(1),
    );
    assert!(again.recv_timeout(Duration::from_millis(300)).is_err());
    let never = subscribe(
        &other,
        "ret/#",
        QoS::AtLeastOnce,
        &SubscribeOptions::new().retain_handling(2),
    );
    assert!(
        never.recv_timeout(Duration::from_millis(300)).is_err(),
        "Retain Handling 2"
    );

    let ids = connect(broker.port(), &v5());
    ids.loop_start().unwrap();
    let (tx, rx) = unbounded();
    for (filter, id) in [("id/+", 7), ("id/#", 9)] {
        let tx = tx.clone();
        ids.subscribe_ex(
            &[(filter, QoS::AtMostOnce)],
            &SubscribeOptions::new().subscription_identifier(id),
            Arc::new(move |m: &mqtt::client::Message<'_>| {
                let _ = tx.send(m.properties.subscription_identifiers().collect::<Vec<_>>());
            }),
        )
        .unwrap();
    }
    client.publish("id/x", b"", QoS::AtMostOnce, false).unwrap();
    let mut got = rx.recv_timeout(WAIT).unwrap();
    got.sort_unstable();
    assert_eq!(got, [7, 9]);
    broker.stop();
}

/// A Session Expiry Interval above 0 keeps the session across connections: the reconnect asks
/// to resume (Clean Start 0), the broker answers session present [MQTT-3.2.2-2], and a message
/// published while away arrives.
#[test]
fn session_expiry_keeps_the_session_across_a_reconnect() {
    let broker = start_broker(BrokerOptions::with_port(0));
    let (tx, rx) = unbounded();
    let opts = v5().client_id("expiring").session_expiry(60);
    let client = connect(broker.port(), &opts);
    assert!(!client.session_present());
    client
        .subscribe("away/t", QoS::AtLeastOnce, move |m| {
            let _ = tx.send(m.to_owned());
        })
        .unwrap();
    client.disconnect().unwrap();
    let other = connect(broker.port(), &v5());
    other
        .publish("away/t", b"queued", QoS::AtLeastOnce, false)
        .unwrap();
    client.reconnect().unwrap();
    assert!(client.session_present(), "the session was kept");
    client.receive_message(Some(WAIT)).unwrap();
    let m = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("away/t", &b"queued"[..])
    );
    broker.stop();
}

/// An empty client id gets one assigned (Assigned Client Identifier, [MQTT-3.2.2-16]), which
/// the client reports; the server's Response Information is the basis of `request`'s
/// response topic, and `request` returns the response carrying its Correlation Data.
#[test]
fn assigned_id_and_request_response() {
    let broker = start_broker(BrokerOptions {
        response_information: Some("responses".into()),
        ..BrokerOptions::with_port(0)
    });
    let responder = connect(broker.port(), &v5());
    let weak = Arc::new(std::sync::Mutex::new(None::<std::sync::Weak<Client>>));
    let responder = Arc::new(responder);
    *weak.lock().unwrap() = Some(Arc::downgrade(&responder));
    let handle = Arc::clone(&weak);
    responder
        .subscribe("svc/double", QoS::AtLeastOnce, move |m| {
            let Some(me) = handle.lock().unwrap().as_ref().and_then(|w| w.upgrade()) else {
                return;
            };
            let n: u32 = std::str::from_utf8(m.payload).unwrap().parse().unwrap();
            let reply = PublishOptions::new().correlation_data(m.correlation_data().unwrap());
            me.publish_ex(
                m.response_topic().unwrap(),
                (2 * n).to_string().as_bytes(),
                QoS::AtLeastOnce,
                false,
                &reply,
            )
            .unwrap();
        })
        .unwrap();
    responder.loop_start().unwrap();

    let client = connect(
        broker.port(),
        &v5().client_id("").request_response_information(true),
    );
    assert!(!client.client_id().is_empty(), "the broker assigned an id");
    let (tx, rx) = unbounded();
    client
        .subscribe("#", QoS::AtMostOnce, move |m| {
            let _ = tx.send(m.topic.to_owned());
        })
        .unwrap();
    client.loop_start().unwrap();
    for n in [1u32, 21] {
        let response = client
            .request(
                "svc/double",
                n.to_string().as_bytes(),
                QoS::AtLeastOnce,
                WAIT,
            )
            .unwrap();
        assert_eq!(response.payload, (2 * n).to_string().as_bytes());
        assert!(
            response.topic.starts_with("responses/"),
            "{}",
            response.topic
        );
    }
    // Responses are taken aside: the catch-all subscription saw only the requests.
    let seen: Vec<String> = rx.try_iter().collect();
    assert!(seen.iter().all(|t| t == "svc/double"), "{seen:?}");
    client.disconnect().unwrap();
    responder.disconnect().unwrap();
    broker.stop();
}

/// Enhanced authentication (MQTT 5.0 section 4.12): a challenge and response through AUTH
/// before CONNACK, and again for re-authentication; a failed answer ends the connection with
/// the server's reason.
#[test]
fn enhanced_authentication_and_reauthentication() {
    let broker = start_broker(BrokerOptions::with_port(0).enhanced_authenticator(|step| {
        match (step.step, step.data) {
            (0, _) => AuthVerdict::Continue(b"challenge".to_vec()),
            (1, Some(b"response:challenge")) => AuthVerdict::Success(None),
            _ => AuthVerdict::Fail(ReasonCode::NOT_AUTHORIZED),
        }
    }));
    let steps = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&steps);
    let answer = move |method: &str, data: &[u8]| {
        assert_eq!(method, "CHALLENGE-1");
        counted.fetch_add(1, Ordering::SeqCst);
        Ok([b"response:".as_slice(), data].concat())
    };
    let client = connect(
        broker.port(),
        &v5().authentication("CHALLENGE-1", Some(b"hello"), answer),
    );
    assert_eq!(steps.load(Ordering::SeqCst), 1);
    client.reauthenticate(b"again").unwrap();
    assert_eq!(steps.load(Ordering::SeqCst), 2);
    client
        .publish("after/reauth", b"", QoS::AtLeastOnce, false)
        .unwrap();

    let refused = Client::connect(
        "127.0.0.1",
        broker.port(),
        &v5().authentication("CHALLENGE-1", None, |_, _| Ok(b"wrong".to_vec())),
    )
    .unwrap_err();
    assert_eq!(
        refused.reason_code(),
        Some(ReasonCode::NOT_AUTHORIZED),
        "{refused}"
    );
    let gave_up = Client::connect(
        "127.0.0.1",
        broker.port(),
        &v5().authentication("CHALLENGE-1", None, |_, _| Err("no".into())),
    )
    .unwrap_err();
    assert!(
        matches!(gave_up, ClientError::Authentication(_)),
        "{gave_up}"
    );
    broker.stop();
}

/// A session taken over by a new connection with the same id gets DISCONNECT 0x8E, which the
/// old client reports as the server's reason [MQTT-3.1.4-3].
#[test]
fn server_disconnect_reason_reaches_the_client() {
    let broker = start_broker(BrokerOptions::with_port(0));
    let (tx, rx) = unbounded();
    let first = connect(
        broker.port(),
        &v5().client_id("twin").on_disconnect(move |reason, _| {
            let _ = tx.send(reason.clone());
        }),
    );
    first.loop_start().unwrap();
    let _second = connect(broker.port(), &v5().client_id("twin"));
    match rx.recv_timeout(WAIT).unwrap() {
        CloseReason::ServerDisconnect(r) => assert_eq!(r.code, ReasonCode::SESSION_TAKEN_OVER),
        other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
    }
    broker.stop();
}

/// MQTT 5.0 refusals in CONNACK keep their reason code, and a redirect its Server Reference.
#[test]
fn connack_refusals_keep_the_reason_code() {
    let broker =
        start_broker(BrokerOptions::with_port(0).authenticator(|_| AuthResult::NotAuthorized));
    let e = Client::connect("127.0.0.1", broker.port(), &v5()).unwrap_err();
    assert_eq!(e.reason_code(), Some(ReasonCode::NOT_AUTHORIZED), "{e}");
    broker.stop();

    let moved = FakeBroker::start(|mut conn| {
        let Packet::Connect(_) = conn.read(WAIT) else {
            panic!("expected CONNECT")
        };
        conn.speak_v5();
        conn.send(&Packet::Connack(mqtt::protocol::Connack {
            session_present: false,
            code: ReasonCode::SERVER_MOVED,
            properties: Properties(vec![Property::ServerReference("other:1883".into())]),
        }));
    });
    match Client::connect("127.0.0.1", moved.port, &v5()) {
        Err(ClientError::Refused(r)) => {
            assert_eq!(r.code, ReasonCode::SERVER_MOVED);
            assert_eq!(r.server_reference.as_deref(), Some("other:1883"));
        }
        other => panic!("expected a redirect, got {other:?}"),
    }
    moved.finish();
}

/// What the client sends: CONNECT carries the properties asked for; PUBLISH uses the topic
/// aliases the server allows — the full name with an alias first, then the alias alone
/// [MQTT-3.3.2-12]; never more unacknowledged QoS 1 publishes than the server's Receive
/// Maximum [MQTT-3.3.4-7]; and no packet above the server's Maximum Packet Size
/// [MQTT-3.2.2-15].
#[test]
fn wire_aliases_window_and_size_limit() {
    let broker = FakeBroker::start(|mut conn| {
        let connect = conn.accept_connect_v5(Properties(vec![
            Property::TopicAliasMaximum(1),
            Property::ReceiveMaximum(2),
            Property::MaximumPacketSize(200),
        ]));
        let p = &connect.properties;
        assert_eq!(p.integer(PropertyId::SessionExpiryInterval), Some(30));
        assert_eq!(p.integer(PropertyId::ReceiveMaximum), Some(5));
        assert_eq!(p.integer(PropertyId::MaximumPacketSize), Some(4096));
        assert_eq!(p.user_properties().collect::<Vec<_>>(), [("app", "test")]);
        let w = connect.will.expect("will");
        assert_eq!(w.properties.integer(PropertyId::WillDelayInterval), Some(5));

        // Two publishes on the wire, the third held back until an acknowledgement.
        let first = read_publish(&mut conn);
        let second = read_publish(&mut conn);
        assert_eq!(first.topic.as_str(), "a/b");
        assert_eq!(alias(&first), Some(1));
        assert_eq!(second.topic.as_str(), "", "the alias alone names the topic");
        assert_eq!(alias(&second), Some(1));
        assert!(
            conn.try_read(Duration::from_millis(300)).is_none(),
            "window of 2"
        );
        conn.send(&Packet::Puback(Ack::new(first.qospid.packet_id().unwrap())));
        let third = read_publish(&mut conn);
        // Another topic takes over the only alias.
        assert_eq!((third.topic.as_str(), alias(&third)), ("c/d", Some(1)));
        for p in [&second, &third] {
            conn.send(&Packet::Puback(Ack::new(p.qospid.packet_id().unwrap())));
        }
        // The oversized publish never reached the wire; the next one did.
        let small = read_publish(&mut conn);
        assert_eq!(small.payload.as_ref(), b"small");
        assert_eq!(conn.read(WAIT), Packet::Disconnect(Default::default()));
    });
    let opts = v5()
        .session_expiry(30)
        .receive_maximum(5)
        .user_property("app", "test")
        .will("will/t", b"gone", QoS::AtMostOnce, false)
        .will_properties(Properties(vec![Property::WillDelayInterval(5)]));
    let opts = ConnectOptions {
        max_packet_size: 4096,
        ..opts
    };
    let client = connect(broker.port, &opts);
    let none = PublishOptions::new();
    let ids: Vec<_> = ["a/b", "a/b", "c/d"]
        .iter()
        .map(|t| {
            client
                .publish_async_ex(t, b"x", QoS::AtLeastOnce, false, &none)
                .unwrap()
        })
        .collect();
    for id in ids.into_iter().flatten() {
        client.wait_published(id, Some(WAIT)).unwrap();
    }
    let big = client.publish_ex("big", &[0; 300], QoS::AtMostOnce, false, &none);
    assert!(
        matches!(big, Err(ClientError::PacketTooLarge { maximum: 200, .. })),
        "{big:?}"
    );
    client
        .publish("small", b"small", QoS::AtMostOnce, false)
        .unwrap();
    client.disconnect().unwrap();
    broker.finish();
}

fn alias(p: &Publish) -> Option<u16> {
    p.properties.iter().find_map(|p| match p {
        Property::TopicAlias(a) => Some(*a),
        _ => None,
    })
}

/// Topic aliases from the server are resolved; an alias above the maximum this client
/// announced is a protocol error the client answers with DISCONNECT 0x94 [MQTT-3.3.2-11]. A
/// PUBACK of 0x80 or above reaches the caller and the completion callback as a refusal, with
/// its Reason String; 0x10 no matching subscribers as a success.
#[test]
fn wire_incoming_aliases_and_refused_puback() {
    let broker = FakeBroker::start(|mut conn| {
        let connect = conn.accept_connect_v5(Properties::new());
        assert_eq!(
            connect.properties.integer(PropertyId::TopicAliasMaximum),
            Some(2)
        );
        for reason in [
            ReasonCode::NO_MATCHING_SUBSCRIBERS,
            ReasonCode::QUOTA_EXCEEDED,
        ] {
            let Packet::Publish(p) = conn.read(WAIT) else {
                panic!("expected PUBLISH")
            };
            conn.send(&Packet::Puback(Ack {
                packet_id: p.qospid.packet_id().unwrap(),
                reason,
                properties: Properties(vec![Property::ReasonString("full".into())]),
            }));
        }
        let Packet::Subscribe(s) = conn.read(WAIT) else {
            panic!("expected SUBSCRIBE")
        };
        conn.send(&Packet::Suback(Suback {
            packet_id: s.packet_id,
            codes: vec![ReasonCode::GRANTED_QOS_0],
            properties: Properties::new(),
        }));
        let aliased = |topic: &str, alias: u16| {
            Packet::Publish(Publish {
                dup: false,
                qospid: QosPid::AtMostOnce,
                retain: false,
                topic: if topic.is_empty() {
                    TopicName::aliased()
                } else {
                    TopicName::new(topic).unwrap()
                },
                payload: Arc::from(&b"p"[..]),
                properties: Properties(vec![Property::TopicAlias(alias)]),
            })
        };
        conn.send(&aliased("in/t", 2));
        conn.send(&aliased("", 2));
        conn.send(&aliased("in/u", 3));
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::new(
                ReasonCode::TOPIC_ALIAS_INVALID
            ))
        );
    });
    let client = connect(broker.port, &v5().topic_alias_maximum(2));
    let (done_tx, done_rx) = unbounded();
    client.set_on_published(Some(Arc::new(move |_, outcome| {
        let _ = done_tx.send(outcome);
    })));
    // 0x10 is a success the caller still learns of.
    let none = PublishOptions::new();
    let code = client.publish_ex("q/t", b"", QoS::AtLeastOnce, false, &none);
    assert_eq!(code.unwrap(), ReasonCode::NO_MATCHING_SUBSCRIBERS);
    assert_eq!(
        done_rx.recv_timeout(WAIT).unwrap(),
        PublishOutcome::Acknowledged
    );
    match client.publish_ex("q/t", b"", QoS::AtLeastOnce, false, &none) {
        Err(ClientError::PublishRefused(r)) => {
            assert_eq!(r.code, ReasonCode::QUOTA_EXCEEDED);
            assert_eq!(r.reason_string.as_deref(), Some("full"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        done_rx.recv_timeout(WAIT).unwrap(),
        PublishOutcome::Refused(ReasonCode::QUOTA_EXCEEDED)
    );
    let rx = subscribe(&client, "in/#", QoS::AtMostOnce, &SubscribeOptions::new());
    for _ in 0..2 {
        client.receive_message(Some(WAIT)).unwrap();
        assert_eq!(rx.recv_timeout(WAIT).unwrap().topic, "in/t");
    }
    assert!(client.receive_message(Some(WAIT)).is_err());
    assert!(matches!(
        client.close_reason(),
        Some(CloseReason::ProtocolViolation(_))
    ));
    broker.finish();
}

/// Options MQTT 3.1.1 cannot carry are refused before anything is sent.
#[test]
fn mqtt5_only_options_are_refused_on_older_levels() {
    let broker = start_broker(BrokerOptions::with_port(0));
    let e = Client::connect("127.0.0.1", broker.port(), &options().session_expiry(5)).unwrap_err();
    assert!(matches!(e, ClientError::InvalidArgument(_)), "{e}");
    let client = connect(broker.port(), &options());
    let e = client
        .publish_ex(
            "t",
            b"",
            QoS::AtMostOnce,
            false,
            &PublishOptions::new().content_type("x"),
        )
        .unwrap_err();
    assert!(matches!(e, ClientError::InvalidArgument(_)), "{e}");
    let e = client
        .subscribe_ex(
            &[("t", QoS::AtMostOnce)],
            &SubscribeOptions::new().no_local(true),
            Arc::new(|_: &mqtt::client::Message<'_>| {}),
        )
        .unwrap_err();
    assert!(matches!(e, ClientError::InvalidArgument(_)), "{e}");
    let e = client.request("t", b"", QoS::AtMostOnce, WAIT).unwrap_err();
    assert!(matches!(e, ClientError::InvalidArgument(_)), "{e}");
    assert!(client.is_connected());
    broker.stop();
}

/// More unacknowledged QoS 1 messages than the Receive Maximum this client announced is the
/// server's protocol error: the client sends DISCONNECT 0x93 (MQTT 5.0 section 3.3.4). Messages
/// are left unacknowledged here because the first one's callback waits for a PINGRESP, and
/// what arrives meanwhile is queued until the callback returns.
#[test]
fn wire_receive_maximum_exceeded_by_the_server() {
    let broker = FakeBroker::start(|mut conn| {
        let connect = conn.accept_connect_v5(Properties::new());
        assert_eq!(
            connect.properties.integer(PropertyId::ReceiveMaximum),
            Some(2)
        );
        let qos1 = |n: u16| {
            Packet::Publish(Publish {
                dup: false,
                qospid: QosPid::AtLeastOnce(crate::client_support::id(n)),
                retain: false,
                topic: TopicName::new("rm/t").unwrap(),
                payload: Arc::from(&b"p"[..]),
                properties: Properties::new(),
            })
        };
        let Packet::Subscribe(s) = conn.read(WAIT) else {
            panic!("expected SUBSCRIBE")
        };
        conn.send(&Packet::Suback(Suback {
            packet_id: s.packet_id,
            codes: vec![ReasonCode::GRANTED_QOS_1],
            properties: Properties::new(),
        }));
        conn.send(&qos1(1));
        assert_eq!(conn.read(WAIT), Packet::Pingreq);
        conn.send(&qos1(2));
        conn.send(&qos1(3));
        assert_eq!(
            conn.read(WAIT),
            Packet::Disconnect(mqtt::protocol::Disconnect::new(
                ReasonCode::RECEIVE_MAXIMUM_EXCEEDED
            ))
        );
    });
    let client = Arc::new(connect(broker.port, &v5().receive_maximum(2)));
    let weak = Arc::downgrade(&client);
    client
        .subscribe("rm/#", QoS::AtLeastOnce, move |_| {
            if let Some(c) = weak.upgrade() {
                let _ = c.ping();
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = client.receive_message(Some(WAIT));
    crate::client_support::wait_until_closed(&client);
    broker.finish();
}
