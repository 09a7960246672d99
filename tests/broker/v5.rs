//! The broker with MQTT 5.0 clients, at the wire: CONNACK properties, session expiry, properties
//! forwarded, message expiry, subscription options and identifiers, topic aliases, flow control,
//! maximum packet size, server DISCONNECT reason codes, delayed wills (also across a restart on a
//! persistence file), and 3.1.1 and 5.0 clients side by side.
//! Statement ids are MQTT 5.0's unless a test says otherwise.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt::broker::{AuthVerdict, Broker, BrokerOptions};
use mqtt::protocol::*;
use mqtt::topic::TopicName;

pub(super) const READ_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn broker(options: BrokerOptions) -> Broker {
    let broker = Broker::new(BrokerOptions { port: 0, ..options });
    broker.start().expect("broker starts");
    broker
}

pub(super) fn id(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

/// A client speaking raw packets of one protocol revision.
pub(super) struct Peer {
    pub(super) stream: TcpStream,
    pub(super) protocol: ProtocolLevel,
    input: Vec<u8>,
}

impl Peer {
    pub(super) fn open(broker: &Broker, protocol: ProtocolLevel) -> Peer {
        let stream = TcpStream::connect(("127.0.0.1", broker.port())).unwrap();
        stream.set_nodelay(true).unwrap();
        Peer {
            stream,
            protocol,
            input: Vec::new(),
        }
    }

    pub(super) fn send(&mut self, packet: &Packet) {
        let bytes = packet.to_bytes_for(self.protocol).unwrap();
        self.stream.write_all(&bytes).unwrap();
    }

    pub(super) fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next packet, or `None` once the broker closed the connection; panics after the read
    /// timeout.
    pub(super) fn next(&mut self) -> Option<Packet> {
        self.next_within(READ_TIMEOUT)
            .unwrap_or_else(|| panic!("no packet within {READ_TIMEOUT:?}"))
    }

    /// `Some(packet or None for closed)`, or `None` when nothing arrived within `wait`.
    pub(super) fn next_within(&mut self, wait: Duration) -> Option<Option<Packet>> {
        let decoder = Decoder::default().with_protocol(self.protocol);
        let deadline = Instant::now() + wait;
        loop {
            if let Some((packet, used)) = decoder.decode(&self.input).expect("valid packet") {
                self.input.drain(..used);
                return Some(Some(packet));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return Some(None),
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return Some(None),
            }
        }
    }

    pub(super) fn expect_publish(&mut self) -> Publish {
        match self.next() {
            Some(Packet::Publish(p)) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    pub(super) fn expect_nothing(&mut self, wait: Duration) {
        if let Some(got) = self.next_within(wait) {
            panic!("expected nothing, got {got:?}");
        }
    }

    /// The reason code of the DISCONNECT the broker sends before closing.
    pub(super) fn expect_disconnect(&mut self) -> ReasonCode {
        match self.next() {
            Some(Packet::Disconnect(d)) => {
                assert_eq!(self.next(), None, "closed after DISCONNECT");
                d.reason
            }
            other => panic!("expected DISCONNECT, got {other:?}"),
        }
    }
}

/// A QoS 0, non-retained will on `topic`.
pub(super) fn qos0_will(topic: &str, payload: Vec<u8>) -> LastWill {
    LastWill::new(
        TopicName::new(topic).unwrap(),
        payload,
        QoS::AtMostOnce,
        false,
    )
}

pub(super) fn connect5(client_id: &str, properties: Properties) -> Connect {
    Connect {
        protocol: ProtocolLevel::V5,
        clean_session: true,
        keep_alive: 60,
        client_id: client_id.to_owned(),
        will: None,
        username: None,
        password: None,
        properties,
    }
}

/// Connects an MQTT 5.0 client and returns it with its CONNACK.
pub(super) fn join(broker: &Broker, connect: Connect) -> (Peer, Connack) {
    let mut peer = Peer::open(broker, connect.protocol);
    peer.send(&Packet::Connect(Box::new(connect)));
    match peer.next() {
        Some(Packet::Connack(c)) => (peer, c),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

pub(super) fn join5(broker: &Broker, client_id: &str) -> Peer {
    let (peer, connack) = join(broker, connect5(client_id, Properties::new()));
    assert_eq!(connack.code, ReasonCode::SUCCESS);
    peer
}

pub(super) fn subscribe(
    peer: &mut Peer,
    packet_id: u16,
    topics: Vec<SubscribeTopic>,
    props: Properties,
) {
    let count = topics.len();
    peer.send(&Packet::Subscribe(Subscribe {
        packet_id: id(packet_id),
        topics,
        properties: props,
    }));
    match peer.next() {
        Some(Packet::Suback(s)) => {
            assert_eq!(s.packet_id, id(packet_id));
            assert_eq!(s.codes.len(), count);
        }
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

/// Subscribes to one filter with default options and checks the SUBACK.
pub(super) fn subscribe_one(peer: &mut Peer, packet_id: u16, filter: &str, qos: QoS) {
    subscribe(
        peer,
        packet_id,
        vec![SubscribeTopic::new(filter, qos)],
        Properties::new(),
    );
}

pub(super) fn publish(topic: &str, payload: &[u8], qospid: QosPid, props: Properties) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qospid,
        retain: false,
        topic: TopicName::new(topic).unwrap(),
        payload: Arc::from(payload),
        properties: props,
    })
}

/// mosquitto's `max_keepalive`: a 5.0 client asking for more, or for no keep-alive at all, is
/// told the maximum as Server Keep Alive (MQTT 5.0 section 3.2.2.3.14) and held to it
/// ([MQTT-3.1.2-22]: silent for 1.5 × keep-alive closes the connection, here with 0x8D); one
/// asking for less keeps its own, and a 3.1.1 client, which cannot be told, is left alone.
#[test]
fn max_keep_alive_caps_what_5_0_clients_ask() {
    let broker = broker(BrokerOptions {
        max_keep_alive: Some(1),
        ..BrokerOptions::default()
    });
    let asking = |keep_alive| Connect {
        keep_alive,
        ..connect5("", Properties::new())
    };
    let (_long, connack) = join(&broker, asking(600));
    assert_eq!(
        connack.properties.integer(PropertyId::ServerKeepAlive),
        Some(1)
    );
    let (mut never, connack) = join(&broker, asking(0));
    assert_eq!(
        connack.properties.integer(PropertyId::ServerKeepAlive),
        Some(1)
    );
    let (_within, connack) = join(&broker, asking(1));
    assert_eq!(
        connack.properties.integer(PropertyId::ServerKeepAlive),
        None
    );
    let (mut old, connack) = join(
        &broker,
        Connect {
            protocol: ProtocolLevel::V311,
            keep_alive: 0,
            ..connect5("old", Properties::new())
        },
    );
    assert_eq!(connack.code, ReasonCode::SUCCESS);

    assert_eq!(never.expect_disconnect(), ReasonCode::KEEP_ALIVE_TIMEOUT);
    old.send(&Packet::Pingreq);
    assert_eq!(
        old.next(),
        Some(Packet::Pingresp),
        "3.1.1 keeps keep-alive 0"
    );
}

/// [MQTT-3.1.3-6], [MQTT-3.1.3-7], [MQTT-3.2.2-16]: an empty client id gets one, returned in
/// CONNACK; [MQTT-3.2.2-9]: CONNACK announces the broker's Maximum QoS and other limits.
#[test]
fn connack_says_what_the_broker_grants() {
    let broker = broker(BrokerOptions {
        receive_maximum: 50,
        maximum_qos: QoS::AtLeastOnce,
        server_keep_alive: Some(30),
        session_expiry: Some(Duration::from_secs(100)),
        ..BrokerOptions::default()
    });
    let asked = Properties(vec![Property::SessionExpiryInterval(1000)]);
    let (_peer, connack) = join(&broker, connect5("", asked));
    assert_eq!(connack.code, ReasonCode::SUCCESS);
    let p = &connack.properties;
    // [MQTT-3.1.3-7]: an empty client id gets one, returned in CONNACK.
    let assigned = p
        .string(PropertyId::AssignedClientIdentifier)
        .expect("assigned id");
    assert!(!assigned.is_empty());
    assert_eq!(p.integer(PropertyId::SessionExpiryInterval), Some(100));
    assert_eq!(p.integer(PropertyId::ReceiveMaximum), Some(50));
    assert_eq!(p.integer(PropertyId::MaximumQos), Some(1));
    assert_eq!(p.integer(PropertyId::ServerKeepAlive), Some(30));
    assert_eq!(p.integer(PropertyId::TopicAliasMaximum), Some(10));
    assert_eq!(
        p.integer(PropertyId::SharedSubscriptionAvailable),
        None,
        "available, the default"
    );
}

/// Enhanced authentication is not offered: CONNACK 0x8C (MQTT 5.0 section 4.12, [MQTT-4.12.0-1]),
/// then the connection closes ([MQTT-3.2.2-7]).
#[test]
fn an_authentication_method_is_refused() {
    let broker = broker(BrokerOptions::default());
    let asked = Properties(vec![Property::AuthenticationMethod("SCRAM-SHA-1".into())]);
    let (mut peer, connack) = join(&broker, connect5("c", asked));
    assert_eq!(connack.code, ReasonCode::BAD_AUTHENTICATION_METHOD);
    assert_eq!(peer.next(), None);
}

/// [MQTT-3.3.2-4], [MQTT-3.3.2-15] to [MQTT-3.3.2-18], [MQTT-3.3.2-20]: properties reach the
/// subscriber unchanged and in order; [MQTT-3.3.2-6]: the expiry counts down.
#[test]
fn properties_are_forwarded_unchanged() {
    let broker = broker(BrokerOptions::default());
    let mut sub = join5(&broker, "sub");
    subscribe_one(&mut sub, 1, "req/#", QoS::AtLeastOnce);
    let mut publisher = join5(&broker, "pub");
    let sent = vec![
        Property::PayloadFormatIndicator(1),
        Property::MessageExpiryInterval(60),
        Property::ContentType("text/plain".into()),
        Property::ResponseTopic("resp/1".into()),
        Property::CorrelationData(vec![1, 2, 3]),
        Property::UserProperty("b".into(), "2".into()),
        Property::UserProperty("a".into(), "1".into()),
        Property::UserProperty("b".into(), "3".into()),
    ];
    publisher.send(&publish(
        "req/x",
        b"hello",
        QosPid::AtLeastOnce(id(7)),
        Properties(sent.clone()),
    ));
    assert!(matches!(publisher.next(), Some(Packet::Puback(a)) if a.reason == ReasonCode::SUCCESS));
    let got = sub.expect_publish();
    assert_eq!(&*got.payload, b"hello");
    let expiry = got
        .properties
        .integer(PropertyId::MessageExpiryInterval)
        .unwrap();
    assert!((59..=60).contains(&expiry), "{expiry}");
    let others: Vec<_> = got
        .properties
        .iter()
        .filter(|p| p.id() != PropertyId::MessageExpiryInterval)
        .cloned()
        .collect();
    let expected: Vec<_> = sent
        .into_iter()
        .filter(|p| p.id() != PropertyId::MessageExpiryInterval)
        .collect();
    assert_eq!(others, expected);
}

/// [MQTT-3.3.2-5]: a message that expired while queued is not delivered.
#[test]
fn expired_messages_are_not_delivered() {
    let broker = broker(BrokerOptions::default());
    let asked = Properties(vec![Property::SessionExpiryInterval(60)]);
    let (mut sub, _) = join(&broker, connect5("away", asked.clone()));
    subscribe_one(&mut sub, 1, "t", QoS::AtLeastOnce);
    sub.send(&Packet::Disconnect(Disconnect::default()));
    drop(sub);
    let mut publisher = join5(&broker, "pub");
    let short = Properties(vec![Property::MessageExpiryInterval(1)]);
    publisher.send(&publish("t", b"short", QosPid::AtLeastOnce(id(1)), short));
    publisher.send(&publish(
        "t",
        b"long",
        QosPid::AtLeastOnce(id(2)),
        Properties::new(),
    ));
    publisher.next();
    publisher.next();
    std::thread::sleep(Duration::from_millis(1500));
    let mut again = connect5("away", asked);
    again.clean_session = false;
    let (mut sub, connack) = join(&broker, again);
    assert!(connack.session_present);
    let got = sub.expect_publish();
    assert_eq!(&*got.payload, b"long");
    sub.expect_nothing(Duration::from_millis(300));
}

/// [MQTT-3.8.3-3]: No Local; [MQTT-3.3.1-13]: Retain As Published 1 keeps RETAIN;
/// [MQTT-3.3.4-3], [MQTT-3.3.4-4]: the identifiers of every matching subscription.
#[test]
fn subscription_options_and_identifiers() {
    let broker = broker(BrokerOptions::default());
    let mut me = join5(&broker, "me");
    let options = |no_local, retain_as_published| SubscriptionOptions {
        no_local,
        retain_as_published,
        retain_handling: 0,
    };
    subscribe(
        &mut me,
        1,
        vec![SubscribeTopic {
            filter: "own/#".into(),
            qos: QoS::AtMostOnce,
            options: options(true, false),
        }],
        Properties(vec![Property::SubscriptionIdentifier(5)]),
    );
    subscribe(
        &mut me,
        2,
        vec![SubscribeTopic {
            filter: "own/+".into(),
            qos: QoS::AtMostOnce,
            options: options(false, true),
        }],
        Properties(vec![Property::SubscriptionIdentifier(6)]),
    );
    let mut retained = publish("own/x", b"r", QosPid::AtMostOnce, Properties::new());
    if let Packet::Publish(p) = &mut retained {
        p.retain = true;
    }
    me.send(&retained);
    let got = me.expect_publish();
    assert!(got.retain, "kept by Retain As Published");
    assert_eq!(
        got.properties
            .subscription_identifiers()
            .collect::<Vec<_>>(),
        [6],
        "the No Local subscription does not match the client's own message"
    );
    let mut other = join5(&broker, "other");
    other.send(&publish(
        "own/y",
        b"o",
        QosPid::AtMostOnce,
        Properties::new(),
    ));
    let got = me.expect_publish();
    let mut ids: Vec<_> = got.properties.subscription_identifiers().collect();
    ids.sort_unstable();
    assert_eq!(ids, [5, 6]);
    assert!(!got.retain);
}

/// A burst on one topic fanned out to many sessions is offered as a run, its subscribers
/// collected once; each delivery still carries its own subscriber's Subscription Identifier
/// (MQTT 5.0 [MQTT-3.3.4-3]) and No Local still keeps the publisher's own messages from it
/// ([MQTT-3.8.3-3]).
#[test]
fn a_fanned_out_burst_keeps_each_subscribers_identifier_and_no_local() {
    const SUBSCRIBERS: u32 = 5;
    const MESSAGES: u32 = 300;
    let broker = broker(BrokerOptions::default());
    let subscription = |no_local| {
        vec![SubscribeTopic {
            filter: "burst/t".into(),
            qos: QoS::AtMostOnce,
            options: SubscriptionOptions {
                no_local,
                retain_as_published: false,
                retain_handling: 0,
            },
        }]
    };
    let mut subscribers: Vec<Peer> = (1..=SUBSCRIBERS)
        .map(|n| {
            let mut peer = join5(&broker, &format!("burst-{n}"));
            let identifier = Properties(vec![Property::SubscriptionIdentifier(n)]);
            subscribe(&mut peer, 1, subscription(false), identifier);
            peer
        })
        .collect();
    let mut me = join5(&broker, "burst-me");
    let identifier = Properties(vec![Property::SubscriptionIdentifier(99)]);
    subscribe(&mut me, 1, subscription(true), identifier);
    let mut bytes = Vec::new();
    for seq in 0..MESSAGES {
        let packet = publish(
            "burst/t",
            &seq.to_be_bytes(),
            QosPid::AtMostOnce,
            Properties::new(),
        );
        bytes.extend(
            packet
                .to_bytes_for(ProtocolLevel::V5)
                .expect("test packet encodes"),
        );
    }
    me.send_raw(&bytes);
    for (n, peer) in (1..).zip(subscribers.iter_mut()) {
        for seq in 0..MESSAGES {
            let got = peer.expect_publish();
            assert_eq!(*got.payload, seq.to_be_bytes(), "subscriber {n}");
            assert_eq!(
                got.properties
                    .subscription_identifiers()
                    .collect::<Vec<_>>(),
                [n],
                "subscriber {n}, message {seq}"
            );
        }
    }
    me.expect_nothing(Duration::from_millis(300));
}

/// MQTT 5.0 section 3.8.3.1: Retain Handling 0 sends retained messages on every subscribe, 1
/// only for a new subscription, 2 never ([MQTT-3.3.1-9] to [MQTT-3.3.1-11], [MQTT-3.8.4-4]).
#[test]
fn retain_handling() {
    let broker = broker(BrokerOptions::default());
    broker
        .publish("r/1", b"kept", QoS::AtMostOnce, true)
        .unwrap();
    let mut sub = join5(&broker, "sub");
    let with = |retain_handling| {
        vec![SubscribeTopic {
            filter: "r/#".into(),
            qos: QoS::AtMostOnce,
            options: SubscriptionOptions {
                retain_handling,
                ..SubscriptionOptions::default()
            },
        }]
    };
    subscribe(&mut sub, 1, with(2), Properties::new());
    sub.expect_nothing(Duration::from_millis(200));
    subscribe(&mut sub, 2, with(1), Properties::new());
    sub.expect_nothing(Duration::from_millis(200));
    subscribe(&mut sub, 3, with(0), Properties::new());
    assert!(sub.expect_publish().retain);
    let mut fresh = join5(&broker, "fresh");
    subscribe(&mut fresh, 1, with(1), Properties::new());
    assert_eq!(&*fresh.expect_publish().payload, b"kept");
}

/// MQTT 5.0 section 3.3.2.3.4: a topic alias set with a topic then stands for it
/// ([MQTT-3.3.2-12]); alias 0 or above the maximum gets DISCONNECT 0x94, an unknown alias alone
/// 0x82.
#[test]
fn topic_aliases_from_the_client() {
    let broker = broker(BrokerOptions::default());
    let mut sub = join5(&broker, "sub");
    subscribe_one(&mut sub, 1, "long/topic/name", QoS::AtMostOnce);
    let mut publisher = join5(&broker, "pub");
    let alias = |n| Properties(vec![Property::TopicAlias(n)]);
    publisher.send(&publish(
        "long/topic/name",
        b"1",
        QosPid::AtMostOnce,
        alias(3),
    ));
    publisher.send(&Packet::Publish(Publish {
        dup: false,
        qospid: QosPid::AtMostOnce,
        retain: false,
        topic: TopicName::aliased(),
        payload: Arc::from(&b"2"[..]),
        properties: alias(3),
    }));
    for payload in [b"1", b"2"] {
        let got = sub.expect_publish();
        assert_eq!(got.topic.as_str(), "long/topic/name");
        assert_eq!(&*got.payload, payload);
    }
    publisher.send(&publish("t", b"x", QosPid::AtMostOnce, alias(11)));
    assert_eq!(
        publisher.expect_disconnect(),
        ReasonCode::TOPIC_ALIAS_INVALID
    );
    let mut unknown = join5(&broker, "unknown");
    unknown.send(&Packet::Publish(Publish {
        dup: false,
        qospid: QosPid::AtMostOnce,
        retain: false,
        topic: TopicName::aliased(),
        payload: Arc::from(&b"x"[..]),
        properties: alias(2),
    }));
    assert_eq!(unknown.expect_disconnect(), ReasonCode::PROTOCOL_ERROR);
}

/// [MQTT-3.1.2-26], [MQTT-3.3.2-11]: the broker sets aliases only when the client allows them,
/// and never above its maximum.
#[test]
fn topic_aliases_to_the_client() {
    let broker = broker(BrokerOptions::default());
    let asked = Properties(vec![Property::TopicAliasMaximum(1)]);
    let (mut sub, _) = join(&broker, connect5("sub", asked));
    subscribe_one(&mut sub, 1, "a/#", QoS::AtMostOnce);
    for topic in ["a/1", "a/1", "a/2"] {
        broker.publish(topic, b"x", QoS::AtMostOnce, false).unwrap();
    }
    let first = sub.expect_publish();
    assert_eq!(first.topic.as_str(), "a/1");
    assert_eq!(first.properties.integer(PropertyId::TopicAlias), Some(1));
    let second = sub.expect_publish();
    assert!(second.topic.is_aliased(), "named by its alias alone");
    assert_eq!(second.properties.integer(PropertyId::TopicAlias), Some(1));
    let third = sub.expect_publish();
    assert_eq!(third.topic.as_str(), "a/2");
    assert_eq!(third.properties.integer(PropertyId::TopicAlias), None);
}

/// [MQTT-3.3.4-9], [MQTT-4.9.0-1], [MQTT-4.9.0-2]: never more unacknowledged QoS 1 PUBLISHes
/// than the client's Receive Maximum.
#[test]
fn receive_maximum_of_the_client() {
    let broker = broker(BrokerOptions::default());
    let asked = Properties(vec![Property::ReceiveMaximum(2)]);
    let (mut sub, _) = join(&broker, connect5("sub", asked));
    subscribe_one(&mut sub, 1, "t", QoS::AtLeastOnce);
    for n in 0..5u8 {
        broker.publish("t", &[n], QoS::AtLeastOnce, false).unwrap();
    }
    let first = sub.expect_publish();
    let second = sub.expect_publish();
    sub.expect_nothing(Duration::from_millis(300));
    for p in [first, second] {
        sub.send(&Packet::Puback(Ack::new(p.qospid.packet_id().unwrap())));
    }
    let mut rest = Vec::new();
    while rest.len() < 3 {
        let p = sub.expect_publish();
        rest.push(p.payload[0]);
        sub.send(&Packet::Puback(Ack::new(p.qospid.packet_id().unwrap())));
    }
    assert_eq!(rest, [2, 3, 4]);
}

/// [MQTT-3.1.2-24], [MQTT-3.1.2-25]: a message too large for the client is dropped for it.
#[test]
fn maximum_packet_size_of_the_client() {
    let broker = broker(BrokerOptions::default());
    let asked = Properties(vec![Property::MaximumPacketSize(64)]);
    let (mut sub, _) = join(&broker, connect5("sub", asked));
    subscribe_one(&mut sub, 1, "t", QoS::AtMostOnce);
    broker
        .publish("t", &[0; 100], QoS::AtMostOnce, false)
        .unwrap();
    broker
        .publish("t", b"small", QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(&*sub.expect_publish().payload, b"small");
    assert!(broker.stats().messages_dropped >= 1);
}

/// A 3.1.1 subscriber gets a 5.0 publisher's message without properties; a 5.0 subscriber gets
/// a 3.1.1 publisher's.
#[test]
fn mixed_revisions_share_topics() {
    let broker = broker(BrokerOptions::default());
    let mut old = Peer::open(&broker, ProtocolLevel::V311);
    let mut connect = connect5("old", Properties::new());
    connect.protocol = ProtocolLevel::V311;
    old.send(&Packet::Connect(Box::new(connect)));
    assert!(matches!(old.next(), Some(Packet::Connack(c)) if c.code == ReasonCode::SUCCESS));
    subscribe_one(&mut old, 1, "m/#", QoS::AtLeastOnce);
    let mut new = join5(&broker, "new");
    subscribe_one(&mut new, 1, "m/#", QoS::AtLeastOnce);
    let props = Properties(vec![Property::UserProperty("k".into(), "v".into())]);
    new.send(&publish("m/5", b"five", QosPid::AtMostOnce, props));
    let got = old.expect_publish();
    assert_eq!(&*got.payload, b"five");
    assert!(got.properties.is_empty());
    let got = new.expect_publish();
    assert_eq!(got.properties.user_properties().count(), 1);
    old.send(&publish(
        "m/3",
        b"three",
        QosPid::AtMostOnce,
        Properties::new(),
    ));
    assert_eq!(&*old.expect_publish().payload, b"three");
    assert_eq!(&*new.expect_publish().payload, b"three");
}

/// MQTT 5.0 section 4.13: the broker says why it closes — 0x8E on takeover ([MQTT-3.1.4-3]),
/// 0x81 for a malformed packet ([MQTT-4.13.1-1]), 0x82 for a second CONNECT ([MQTT-3.1.0-2]).
#[test]
fn disconnect_reason_codes() {
    let broker = broker(BrokerOptions::default());
    let mut first = join5(&broker, "same");
    let _second = join5(&broker, "same");
    assert_eq!(first.expect_disconnect(), ReasonCode::SESSION_TAKEN_OVER);
    let mut malformed = join5(&broker, "malformed");
    malformed.send_raw(&[0x40, 3, 0, 1, 0x92]); // PUBACK with a PUBREL-only reason code
    assert_eq!(malformed.expect_disconnect(), ReasonCode::MALFORMED_PACKET);
    let mut second_connect = join5(&broker, "twice");
    second_connect.send(&Packet::Connect(Box::new(connect5(
        "twice",
        Properties::new(),
    ))));
    assert_eq!(
        second_connect.expect_disconnect(),
        ReasonCode::PROTOCOL_ERROR
    );
}

/// A PUBREC for a QoS 1 message closes the connection, as mosquitto does (the flows must
/// match); for a 5.0 client with 0x82.
#[test]
fn an_acknowledgement_of_the_wrong_kind_is_a_protocol_error() {
    let broker = broker(BrokerOptions::default());
    let mut sub = join5(&broker, "sub");
    subscribe_one(&mut sub, 1, "t", QoS::AtLeastOnce);
    broker.publish("t", b"x", QoS::AtLeastOnce, false).unwrap();
    let got = sub.expect_publish();
    sub.send(&Packet::Pubrec(Ack::new(got.qospid.packet_id().unwrap())));
    assert_eq!(sub.expect_disconnect(), ReasonCode::PROTOCOL_ERROR);
}

/// MQTT 5.0 section 3.1.2.11.2: with a Session Expiry Interval the session outlives the
/// connection for that long ([MQTT-3.1.2-23]), then ends ([MQTT-4.1.0-2]).
#[test]
fn sessions_expire_after_their_interval() {
    let broker = broker(BrokerOptions::default());
    let asked = Properties(vec![Property::SessionExpiryInterval(1)]);
    let (mut peer, _) = join(&broker, connect5("brief", asked.clone()));
    peer.send(&Packet::Disconnect(Disconnect::default()));
    drop(peer);
    let mut again = connect5("brief", asked.clone());
    again.clean_session = false;
    let (mut peer, connack) = join(&broker, again.clone());
    assert!(connack.session_present, "resumed within the interval");
    peer.send(&Packet::Disconnect(Disconnect::default()));
    drop(peer);
    std::thread::sleep(Duration::from_millis(2600));
    let (_peer, connack) = join(&broker, again);
    assert!(!connack.session_present, "expired");
}

/// MQTT 5.0 section 3.14.2.1: DISCONNECT 0x04 asks for the will to be published.
#[test]
fn disconnect_with_will_message() {
    let broker = broker(BrokerOptions::default());
    let mut watcher = join5(&broker, "watcher");
    subscribe_one(&mut watcher, 1, "will/#", QoS::AtMostOnce);
    let mut connect = connect5("leaver", Properties::new());
    let mut will = qos0_will("will/leaver", b"gone".to_vec());
    will.properties
        .push(Property::ContentType("text/plain".into()));
    connect.will = Some(will);
    let (mut leaver, _) = join(&broker, connect);
    leaver.send(&Packet::Disconnect(Disconnect::new(
        ReasonCode::DISCONNECT_WITH_WILL_MESSAGE,
    )));
    let got = watcher.expect_publish();
    assert_eq!(&*got.payload, b"gone");
    assert_eq!(
        got.properties.string(PropertyId::ContentType),
        Some("text/plain")
    );
}

/// MQTT 5.0 section 3.3.2.3.2: a payload that claims to be UTF-8 and is not gets PUBACK 0x99
/// and is not forwarded; a refused PUBLISH gets 0x87.
#[test]
fn payload_format_and_authorization_reason_codes() {
    let broker =
        broker(BrokerOptions::default().authorizer(|_, _, topic, _| !topic.starts_with("secret")));
    let mut publisher = join5(&broker, "pub");
    let utf8 = Properties(vec![Property::PayloadFormatIndicator(1)]);
    publisher.send(&publish(
        "t",
        &[0xFF, 0xFE],
        QosPid::AtLeastOnce(id(1)),
        utf8,
    ));
    match publisher.next() {
        Some(Packet::Puback(a)) => assert_eq!(a.reason, ReasonCode::PAYLOAD_FORMAT_INVALID),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    publisher.send(&publish(
        "secret/x",
        b"x",
        QosPid::ExactlyOnce(id(2)),
        Properties::new(),
    ));
    match publisher.next() {
        Some(Packet::Pubrec(a)) => assert_eq!(a.reason, ReasonCode::NOT_AUTHORIZED),
        other => panic!("expected PUBREC, got {other:?}"),
    }
}

/// MQTT 5.0 section 3.11.3: UNSUBACK says per filter, in order, whether there was a
/// subscription ([MQTT-3.11.3-1], [MQTT-3.11.3-2]).
#[test]
fn unsuback_codes() {
    let broker = broker(BrokerOptions::default());
    let mut peer = join5(&broker, "p");
    subscribe_one(&mut peer, 1, "a", QoS::AtMostOnce);
    peer.send(&Packet::Unsubscribe(Unsubscribe {
        packet_id: id(2),
        filters: vec!["a".into(), "b".into()],
        properties: Properties::new(),
    }));
    match peer.next() {
        Some(Packet::Unsuback(u)) => assert_eq!(
            u.codes,
            [ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED]
        ),
        other => panic!("expected UNSUBACK, got {other:?}"),
    }
}

/// MQTT 5.0 section 4.8.2: each message matching a shared subscription goes to one member of
/// its group, in turn; other subscriptions get their own copy; retained messages are not sent
/// for shared subscriptions (section 3.3.1.3); MQTT 3.1.1 clients may join groups too.
#[test]
fn shared_subscriptions_spread_messages_over_the_group() {
    let broker = broker(BrokerOptions::default());
    broker
        .publish("jobs/old", b"retained", QoS::AtMostOnce, true)
        .unwrap();
    let mut a = join5(&broker, "a");
    let mut b = Peer::open(&broker, ProtocolLevel::V311);
    let mut connect = connect5("b", Properties::new());
    connect.protocol = ProtocolLevel::V311;
    b.send(&Packet::Connect(Box::new(connect)));
    assert!(matches!(b.next(), Some(Packet::Connack(_))));
    let mut watcher = join5(&broker, "watcher");
    for peer in [&mut a, &mut b] {
        subscribe(
            peer,
            1,
            vec![SubscribeTopic::new(
                "$share/workers/jobs/#",
                QoS::AtLeastOnce,
            )],
            Properties::new(),
        );
    }
    subscribe_one(&mut watcher, 1, "jobs/#", QoS::AtMostOnce);
    assert!(
        watcher.expect_publish().retain,
        "the plain subscription gets the retained one"
    );
    for n in 0..6u8 {
        broker
            .publish("jobs/new", &[n], QoS::AtLeastOnce, false)
            .unwrap();
    }
    let mut seen = Vec::new();
    for peer in [&mut a, &mut b] {
        for _ in 0..3 {
            let p = peer.expect_publish();
            assert!(!p.retain);
            seen.push(p.payload[0]);
            peer.send(&Packet::Puback(Ack::new(p.qospid.packet_id().unwrap())));
        }
        peer.expect_nothing(Duration::from_millis(200));
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        [0, 1, 2, 3, 4, 5],
        "each message to exactly one member"
    );
    for n in 0..6u8 {
        assert_eq!(watcher.expect_publish().payload[0], n);
    }
}

/// [MQTT-4.8.2-1], [MQTT-4.8.2-2]: a share name of at least one character without wildcards;
/// [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol error.
#[test]
fn shared_subscription_rules() {
    let broker = broker(BrokerOptions::default());
    let mut peer = join5(&broker, "p");
    peer.send(&Packet::Subscribe(Subscribe {
        packet_id: id(1),
        topics: vec![
            SubscribeTopic::new("$share//t", QoS::AtMostOnce),
            SubscribeTopic::new("$share/g+/t", QoS::AtMostOnce),
            SubscribeTopic::new("$share/g", QoS::AtMostOnce),
            SubscribeTopic::new("$share/g/t", QoS::AtMostOnce),
        ],
        properties: Properties::new(),
    }));
    match peer.next() {
        Some(Packet::Suback(s)) => assert_eq!(
            s.codes,
            [
                ReasonCode::TOPIC_FILTER_INVALID,
                ReasonCode::TOPIC_FILTER_INVALID,
                ReasonCode::TOPIC_FILTER_INVALID,
                ReasonCode::GRANTED_QOS_0,
            ]
        ),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    peer.send(&Packet::Subscribe(Subscribe {
        packet_id: id(2),
        topics: vec![SubscribeTopic {
            filter: "$share/g/t".into(),
            qos: QoS::AtMostOnce,
            options: SubscriptionOptions {
                no_local: true,
                ..SubscriptionOptions::default()
            },
        }],
        properties: Properties::new(),
    }));
    assert_eq!(peer.expect_disconnect(), ReasonCode::PROTOCOL_ERROR);
}

fn connect_with_will(client_id: &str, delay: u32, session_expiry: u32) -> Connect {
    let mut will = qos0_will("will/x", client_id.as_bytes().to_vec());
    will.properties.push(Property::WillDelayInterval(delay));
    let mut connect = connect5(
        client_id,
        Properties(vec![Property::SessionExpiryInterval(session_expiry)]),
    );
    connect.will = Some(will);
    connect
}

/// MQTT 5.0 [MQTT-3.1.2-8]: a will with a delay is published when the delay has passed or the
/// session ends, whichever comes first; [MQTT-3.1.3-9]: not at all if the client is back first.
#[test]
fn will_delay_interval() {
    let broker = broker(BrokerOptions::default());
    let mut watcher = join5(&broker, "watcher");
    subscribe_one(&mut watcher, 1, "will/#", QoS::AtMostOnce);
    // Session ends with the connection: the will goes at once despite its delay.
    let (peer, _) = join(&broker, connect_with_will("ends", 30, 0));
    drop(peer);
    assert_eq!(&*watcher.expect_publish().payload, b"ends");
    // Session outlives the connection: the will waits for its delay.
    let started = Instant::now();
    let (peer, _) = join(&broker, connect_with_will("waits", 1, 60));
    drop(peer);
    assert_eq!(&*watcher.expect_publish().payload, b"waits");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // The client comes back within the delay: no will.
    let (peer, _) = join(&broker, connect_with_will("back", 2, 60));
    drop(peer);
    std::thread::sleep(Duration::from_millis(300));
    let mut again = connect5(
        "back",
        Properties(vec![Property::SessionExpiryInterval(60)]),
    );
    again.clean_session = false;
    let (mut back, connack) = join(&broker, again);
    assert!(connack.session_present);
    // Gone, not merely held while the client is connected: leaving normally publishes nothing.
    back.send(&Packet::Disconnect(Disconnect::new(ReasonCode::SUCCESS)));
    assert_eq!(back.next(), None, "closed after DISCONNECT");
    watcher.expect_nothing(Duration::from_millis(3000));
}

/// A persistence file in a fresh temporary directory named after `name`.
fn delayed_will_store(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mqtt-v5-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("store.db")
}

fn persistent_broker(file: &std::path::Path) -> Broker {
    broker(BrokerOptions {
        persistence: Some(file.to_owned()),
        ..BrokerOptions::default()
    })
}

/// A 5.0 client with Session Expiry Interval 60 and a will delayed by 2 s loses its connection
/// (no DISCONNECT) to a broker with a persistence file, which is stopped and dropped once it
/// has seen the loss, well within the delay. Returns the moment of the loss.
fn lose_a_client_with_a_delayed_will(file: &std::path::Path, client_id: &str) -> Instant {
    let first = persistent_broker(file);
    let (peer, connack) = join(&first, connect_with_will(client_id, 2, 60));
    assert_eq!(connack.code, ReasonCode::SUCCESS);
    let lost = Instant::now();
    drop(peer);
    // The connection thread has detached the session, storing the will with its due time.
    crate::fixture::eventually("the connection is gone", || {
        first.stats().clients_connected == 0
    });
    drop(first);
    assert!(
        lost.elapsed() < Duration::from_millis(1500),
        "the first broker stopped within the delay"
    );
    lost
}

/// MQTT 5.0 [MQTT-3.1.2-8] across a restart: the delayed will is kept with the session in the
/// persistence file, and the next broker on that file publishes it when its Will Delay
/// Interval has passed since the connection was lost — not earlier, and not lost.
#[test]
fn a_delayed_will_survives_a_restart() {
    let file = delayed_will_store("delayed-will");
    let lost = lose_a_client_with_a_delayed_will(&file, "gone");

    let second = persistent_broker(&file);
    assert_eq!(second.stats().sessions, 1, "the session came back");
    let mut watcher = expect_the_delayed_will(&second, lost, b"gone");
    watcher.expect_nothing(Duration::from_millis(300));
}

/// Subscribes a watcher to `will/#` on `broker` and asserts the will `payload` arrives 2 s
/// after `lost` (the due time is kept in whole milliseconds of the wall clock), and within the
/// broker's once-a-second sweep of due wills after that, with some slack.
fn expect_the_delayed_will(broker: &Broker, lost: Instant, payload: &[u8]) -> Peer {
    let mut watcher = join5(broker, "watcher");
    subscribe_one(&mut watcher, 1, "will/#", QoS::AtMostOnce);
    let will = match watcher.next_within(Duration::from_secs(8)) {
        Some(Some(Packet::Publish(p))) => p,
        other => panic!("expected the will within 8 s of the restart, got {other:?}"),
    };
    let after = lost.elapsed();
    assert_eq!((will.topic.as_str(), &*will.payload), ("will/x", payload));
    assert!(
        after >= Duration::from_millis(1990),
        "published after {after:?}"
    );
    assert!(after < Duration::from_secs(6), "published after {after:?}");
    watcher
}

/// MQTT 5.0 [MQTT-3.1.2-8] when the broker itself stops: a stopping broker publishes no will,
/// but its client lost the connection without DISCONNECT all the same, so a broker with a
/// persistence file keeps the delayed will with the session and the next broker on the file
/// publishes it once the delay has passed since the stop.
#[test]
fn a_connected_clients_delayed_will_survives_a_stop() {
    let file = delayed_will_store("delayed-will-stop");
    let first = persistent_broker(&file);
    let (_peer, connack) = join(&first, connect_with_will("stopped", 2, 60));
    assert_eq!(connack.code, ReasonCode::SUCCESS);
    let stopped = Instant::now();
    drop(first);

    let second = persistent_broker(&file);
    expect_the_delayed_will(&second, stopped, b"stopped");
}

/// MQTT 5.0 [MQTT-3.1.3-9] across a restart: the client reconnects (Clean Start 0) to the next
/// broker on the persistence file before its Will Delay Interval has passed, so its session
/// resumes and the will is never published, neither while it is connected nor after it leaves
/// with DISCONNECT.
#[test]
fn a_delayed_will_is_dropped_when_its_client_is_back_after_a_restart() {
    let file = delayed_will_store("delayed-will-back");
    let lost = lose_a_client_with_a_delayed_will(&file, "back");

    let second = persistent_broker(&file);
    let mut watcher = join5(&second, "watcher");
    subscribe_one(&mut watcher, 1, "will/#", QoS::AtMostOnce);
    let mut again = connect5(
        "back",
        Properties(vec![Property::SessionExpiryInterval(60)]),
    );
    again.clean_session = false;
    let (mut back, connack) = join(&second, again);
    assert_eq!(connack.code, ReasonCode::SUCCESS);
    assert!(connack.session_present, "the session was resumed");
    assert!(
        lost.elapsed() < Duration::from_millis(1900),
        "back within the delay"
    );
    // The old will is gone, not merely held while the client is connected: leaving normally
    // (its new connection has no will) publishes nothing either.
    back.send(&Packet::Disconnect(Disconnect::new(ReasonCode::SUCCESS)));
    assert_eq!(back.next(), None, "closed after DISCONNECT");
    // Past the old will's due time and the next sweep: still nothing.
    let quiet_until = lost + Duration::from_millis(4500);
    watcher.expect_nothing(quiet_until.saturating_duration_since(Instant::now()));
}

/// A toy method: the client sends a number, the broker challenges with number + 1, the client
/// must answer number + 2.
pub(super) fn counting_broker() -> Broker {
    broker(BrokerOptions::default().enhanced_authenticator(|step| {
        if step.method != "count" {
            return AuthVerdict::Fail(ReasonCode::BAD_AUTHENTICATION_METHOD);
        }
        let n = step.data.and_then(|d| d.first().copied()).unwrap_or(0);
        match step.step % 2 {
            0 => AuthVerdict::Continue(vec![n + 1]),
            _ if n % 2 == 0 && n > 0 => AuthVerdict::Success(Some(b"welcome".to_vec())),
            _ => AuthVerdict::Fail(ReasonCode::NOT_AUTHORIZED),
        }
    }))
}

pub(super) fn auth(reason: ReasonCode, method: &str, data: &[u8]) -> Packet {
    Packet::Auth(Auth {
        reason,
        properties: Properties(vec![
            Property::AuthenticationMethod(method.into()),
            Property::AuthenticationData(data.to_vec()),
        ]),
    })
}

pub(super) fn expect_auth(peer: &mut Peer) -> Auth {
    match peer.next() {
        Some(Packet::Auth(a)) => a,
        other => panic!("expected AUTH, got {other:?}"),
    }
}

/// MQTT 5.0 section 4.12: an exchange of AUTH packets before CONNACK, every one naming the
/// method ([MQTT-4.12.0-2], [MQTT-4.12.0-5]); a wrong answer refused in CONNACK
/// ([MQTT-4.12.0-4]); re-authentication on the live connection ([MQTT-4.12.1-1]).
#[test]
fn enhanced_authentication_and_reauthentication() {
    let broker = counting_broker();
    let with_method = |data: u8| {
        connect5(
            "auth",
            Properties(vec![
                Property::AuthenticationMethod("count".into()),
                Property::AuthenticationData(vec![data]),
            ]),
        )
    };
    let mut peer = Peer::open(&broker, ProtocolLevel::V5);
    peer.send(&Packet::Connect(Box::new(with_method(4))));
    let challenge = expect_auth(&mut peer);
    assert_eq!(challenge.reason, ReasonCode::CONTINUE_AUTHENTICATION);
    assert_eq!(
        challenge
            .properties
            .string(PropertyId::AuthenticationMethod),
        Some("count")
    );
    assert_eq!(
        challenge.properties.binary(PropertyId::AuthenticationData),
        Some(&[5][..])
    );
    peer.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "count", &[6]));
    let connack = match peer.next() {
        Some(Packet::Connack(c)) => c,
        other => panic!("expected CONNACK, got {other:?}"),
    };
    assert_eq!(connack.code, ReasonCode::SUCCESS);
    assert_eq!(
        connack.properties.string(PropertyId::AuthenticationMethod),
        Some("count")
    );
    assert_eq!(
        connack.properties.binary(PropertyId::AuthenticationData),
        Some(&b"welcome"[..])
    );
    // Re-authentication while connected.
    peer.send(&auth(ReasonCode::RE_AUTHENTICATE, "count", &[8]));
    assert_eq!(
        expect_auth(&mut peer)
            .properties
            .binary(PropertyId::AuthenticationData),
        Some(&[9][..])
    );
    peer.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "count", &[10]));
    assert_eq!(expect_auth(&mut peer).reason, ReasonCode::SUCCESS);
    // A failed re-authentication ends the connection with the host's code.
    peer.send(&auth(ReasonCode::RE_AUTHENTICATE, "count", &[1]));
    expect_auth(&mut peer);
    peer.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "count", &[3]));
    assert_eq!(peer.expect_disconnect(), ReasonCode::NOT_AUTHORIZED);
    // A wrong answer at connect time: CONNACK 0x87, then closed.
    let mut wrong = Peer::open(&broker, ProtocolLevel::V5);
    wrong.send(&Packet::Connect(Box::new(with_method(2))));
    expect_auth(&mut wrong);
    wrong.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "count", &[5]));
    match wrong.next() {
        Some(Packet::Connack(c)) => assert_eq!(c.code, ReasonCode::NOT_AUTHORIZED),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    assert_eq!(wrong.next(), None);
    // [MQTT-4.12.0-7]: AUTH from a client that connected without a method.
    let mut plain = join5(&broker, "plain");
    plain.send(&auth(ReasonCode::RE_AUTHENTICATE, "count", &[1]));
    assert_eq!(plain.expect_disconnect(), ReasonCode::PROTOCOL_ERROR);
}

// ---------------------------------------------------------------------------------------------
// The same through the C API
// ---------------------------------------------------------------------------------------------

mod c_api {
    use std::ffi::{CStr, c_int, c_void};
    use std::sync::Mutex;

    use super::*;
    use mqtt::ffi::*;

    /// A broker built and started through the C API; freed on drop.
    pub(super) struct CBroker(pub(super) *mut mqtt_broker);

    impl CBroker {
        pub(super) fn start(opts: *mut mqtt_broker_options) -> CBroker {
            let broker = unsafe { mqtt_broker_new(c"0".as_ptr(), opts) };
            assert!(!broker.is_null());
            assert_eq!(unsafe { mqtt_broker_start(broker) }, mqtt_status::Ok);
            unsafe { mqtt_broker_options_free(opts) };
            CBroker(broker)
        }

        fn port(&self) -> u16 {
            unsafe { mqtt_broker_port(self.0) }
        }

        pub(super) fn join(&self, connect: Connect) -> (Peer, Connack) {
            let stream = TcpStream::connect(("127.0.0.1", self.port())).unwrap();
            let mut peer = Peer {
                stream,
                protocol: connect.protocol,
                input: Vec::new(),
            };
            peer.send(&Packet::Connect(Box::new(connect)));
            match peer.next() {
                Some(Packet::Connack(c)) => (peer, c),
                other => panic!("expected CONNACK, got {other:?}"),
            }
        }
    }

    impl Drop for CBroker {
        fn drop(&mut self) {
            unsafe { mqtt_broker_free(self.0) };
        }
    }

    /// The MQTT 5.0 setters reach CONNACK.
    #[test]
    fn v5_limits_and_features_from_c() {
        let opts = mqtt_broker_options_new();
        unsafe {
            assert_eq!(
                mqtt_broker_options_set_receive_maximum(opts, 7),
                mqtt_status::Ok
            );
            assert_eq!(
                mqtt_broker_options_set_topic_alias_maximum(opts, 3),
                mqtt_status::Ok
            );
            assert_eq!(
                mqtt_broker_options_set_maximum_qos(opts, 1),
                mqtt_status::Ok
            );
            let shared = mqtt_broker_feature::SharedSubscriptions as c_int;
            assert_eq!(
                mqtt_broker_options_set_feature(opts, shared, false),
                mqtt_status::Ok
            );
            assert_eq!(
                mqtt_broker_options_set_server_keep_alive(opts, 20),
                mqtt_status::Ok
            );
            for bad in [-1, 65536] {
                assert_eq!(
                    mqtt_broker_options_set_max_keep_alive(opts, bad),
                    mqtt_status::InvalidArgument
                );
            }
            assert_eq!(
                mqtt_broker_options_set_max_keep_alive(opts, 600),
                mqtt_status::Ok
            );
            assert_eq!(
                mqtt_broker_options_set_response_information(opts, c"answers/".as_ptr()),
                mqtt_status::Ok
            );
        }
        let broker = CBroker::start(opts);
        let asked = Properties(vec![Property::RequestResponseInformation(1)]);
        let (_peer, connack) = broker.join(connect5("c", asked));
        let p = &connack.properties;
        assert_eq!(p.integer(PropertyId::ReceiveMaximum), Some(7));
        assert_eq!(p.integer(PropertyId::TopicAliasMaximum), Some(3));
        assert_eq!(p.integer(PropertyId::MaximumQos), Some(1));
        assert_eq!(p.integer(PropertyId::SharedSubscriptionAvailable), Some(0));
        assert_eq!(p.integer(PropertyId::ServerKeepAlive), Some(20));
        assert_eq!(p.string(PropertyId::ResponseInformation), Some("answers/"));
    }

    /// The toy "count" method of `counting_broker`, written as a C callback.
    unsafe extern "C" fn count(
        _userdata: *mut c_void,
        step: *const mqtt_auth_step,
        reply: *mut mqtt_auth_reply,
    ) -> c_int {
        let step = unsafe { &*step };
        let method = unsafe { CStr::from_ptr(step.method) };
        if method.to_bytes() != b"count" {
            return 0x8C;
        }
        let n = if step.data_len > 0 {
            unsafe { *step.data }
        } else {
            0
        };
        if step.step % 2 == 0 {
            let challenge = [n + 1];
            let status = unsafe { mqtt_auth_reply_set_data(reply, challenge.as_ptr(), 1) };
            assert_eq!(status, mqtt_status::Ok);
            0x18
        } else if n % 2 == 0 && n > 0 {
            let welcome = b"welcome";
            unsafe { mqtt_auth_reply_set_data(reply, welcome.as_ptr(), welcome.len()) };
            0x00
        } else {
            0x87
        }
    }

    /// MQTT 5.0 section 4.12 through the C enhanced authenticator.
    #[test]
    fn enhanced_authentication_from_c() {
        let opts = mqtt_broker_options_new();
        let status = unsafe {
            mqtt_broker_options_set_enhanced_authenticator(opts, Some(count), std::ptr::null_mut())
        };
        assert_eq!(status, mqtt_status::Ok);
        let broker = CBroker::start(opts);
        let stream = TcpStream::connect(("127.0.0.1", broker.port())).unwrap();
        let mut peer = Peer {
            stream,
            protocol: ProtocolLevel::V5,
            input: Vec::new(),
        };
        peer.send(&Packet::Connect(Box::new(connect5(
            "auth",
            Properties(vec![
                Property::AuthenticationMethod("count".into()),
                Property::AuthenticationData(vec![4]),
            ]),
        ))));
        let challenge = expect_auth(&mut peer);
        assert_eq!(
            challenge.properties.binary(PropertyId::AuthenticationData),
            Some(&[5][..])
        );
        peer.send(&auth(ReasonCode::CONTINUE_AUTHENTICATION, "count", &[6]));
        match peer.next() {
            Some(Packet::Connack(c)) => {
                assert_eq!(c.code, ReasonCode::SUCCESS);
                assert_eq!(
                    c.properties.binary(PropertyId::AuthenticationData),
                    Some(&b"welcome"[..])
                );
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Sends every client elsewhere: "moved" permanently, others for now; an over-long
    /// reference is refused.
    unsafe extern "C" fn elsewhere(
        _userdata: *mut c_void,
        step: *const mqtt_auth_step,
        reply: *mut mqtt_auth_reply,
    ) -> c_int {
        let client_id = unsafe { CStr::from_ptr((*step).client_id) };
        let long = std::ffi::CString::new("x".repeat(65_536)).unwrap();
        let status = unsafe { mqtt_auth_reply_set_server_reference(reply, long.as_ptr()) };
        assert_eq!(status, mqtt_status::TooLarge);
        let status = unsafe { mqtt_auth_reply_set_server_reference(reply, c"b:1883".as_ptr()) };
        assert_eq!(status, mqtt_status::Ok);
        if client_id.to_bytes() == b"moved" {
            0x9D
        } else {
            0x9C
        }
    }

    /// MQTT 5.0 section 4.11 through the C enhanced authenticator: 0x9C or 0x9D with the
    /// reply's server reference reaches the client in CONNACK.
    #[test]
    fn enhanced_authenticator_redirects_from_c() {
        let opts = mqtt_broker_options_new();
        let status = unsafe {
            mqtt_broker_options_set_enhanced_authenticator(
                opts,
                Some(elsewhere),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(status, mqtt_status::Ok);
        let broker = CBroker::start(opts);
        for (client_id, code) in [
            ("moving", ReasonCode::USE_ANOTHER_SERVER),
            ("moved", ReasonCode::SERVER_MOVED),
        ] {
            let method = Properties(vec![Property::AuthenticationMethod("any".into())]);
            let (mut peer, connack) = broker.join(connect5(client_id, method));
            assert_eq!(connack.code, code);
            assert_eq!(
                connack.properties.string(PropertyId::ServerReference),
                Some("b:1883")
            );
            assert_eq!(peer.next(), None);
        }
    }

    static EVENTS: Mutex<Vec<(c_int, c_int, c_int)>> = Mutex::new(Vec::new());

    unsafe extern "C" fn record(_userdata: *mut c_void, event: *const mqtt_broker_event) {
        let event = unsafe { &*event };
        EVENTS
            .lock()
            .unwrap()
            .push((event.kind as c_int, event.protocol_level, event.reason_code));
    }

    /// The event callback tells the protocol level of a connecting client and the reason code
    /// of a 5.0 client's DISCONNECT.
    #[test]
    fn event_callback_reports_level_and_reason_code() {
        let opts = mqtt_broker_options_new();
        let status = unsafe {
            mqtt_broker_options_set_event_callback(opts, Some(record), std::ptr::null_mut())
        };
        assert_eq!(status, mqtt_status::Ok);
        let broker = CBroker::start(opts);
        let (mut first, _) = broker.join(connect5("same", Properties::new()));
        let (_second, _) = broker.join(connect5("same", Properties::new()));
        assert_eq!(first.expect_disconnect(), ReasonCode::SESSION_TAKEN_OVER);
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            let events = EVENTS.lock().unwrap().clone();
            let connected = mqtt_broker_event_kind::Connected as c_int;
            let disconnected = mqtt_broker_event_kind::Disconnected as c_int;
            if events.len() >= 3 {
                assert!(events.contains(&(connected, 5, -1)), "{events:?}");
                assert!(events.contains(&(disconnected, 0, 0x8E)), "{events:?}");
                break;
            }
            assert!(Instant::now() < deadline, "{events:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// MQTT 5.0 [MQTT-3.2.2-12], [MQTT-3.2.2-13]: a will above the broker's Maximum QoS, or retained
/// where retain is not available, is refused in CONNACK; [MQTT-3.2.2-10]: a subscription asking
/// more than Maximum QoS is granted Maximum QoS.
#[test]
fn maximum_qos_and_retain_availability_apply_to_wills_and_subscriptions() {
    let broker = broker(BrokerOptions {
        maximum_qos: QoS::AtLeastOnce,
        retain_available: false,
        ..BrokerOptions::default()
    });
    let with_will = |qos, retain| {
        let mut connect = connect5("w", Properties::new());
        connect.will = Some(LastWill::new(
            TopicName::new("will").unwrap(),
            b"x".to_vec(),
            qos,
            retain,
        ));
        connect
    };
    let (_, connack) = join(&broker, with_will(QoS::ExactlyOnce, false));
    assert_eq!(connack.code, ReasonCode::QOS_NOT_SUPPORTED);
    let (_, connack) = join(&broker, with_will(QoS::AtMostOnce, true));
    assert_eq!(connack.code, ReasonCode::RETAIN_NOT_SUPPORTED);
    let (mut peer, connack) = join(&broker, with_will(QoS::AtLeastOnce, false));
    assert_eq!(connack.code, ReasonCode::SUCCESS);
    peer.send(&Packet::Subscribe(Subscribe {
        packet_id: id(1),
        topics: vec![SubscribeTopic::new("t", QoS::ExactlyOnce)],
        properties: Properties::new(),
    }));
    match peer.next() {
        Some(Packet::Suback(s)) => assert_eq!(s.codes, [ReasonCode::GRANTED_QOS_1]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    // A retained PUBLISH where retain is not available: DISCONNECT 0x9A.
    let mut retained = publish("t", b"r", QosPid::AtMostOnce, Properties::new());
    if let Packet::Publish(p) = &mut retained {
        p.retain = true;
    }
    peer.send(&retained);
    assert_eq!(peer.expect_disconnect(), ReasonCode::RETAIN_NOT_SUPPORTED);
    // A QoS 2 PUBLISH above Maximum QoS: DISCONNECT 0x9B.
    let mut qos2 = join5(&broker, "q");
    qos2.send(&publish(
        "t",
        b"x",
        QosPid::ExactlyOnce(id(1)),
        Properties::new(),
    ));
    assert_eq!(qos2.expect_disconnect(), ReasonCode::QOS_NOT_SUPPORTED);
}

/// MQTT 5.0 [MQTT-3.1.2-28]: Response Information only for a client that asks for it;
/// [MQTT-4.12.0-6]: no Authentication Method in CONNACK without one in CONNECT.
#[test]
fn response_information_only_when_asked() {
    let broker = broker(BrokerOptions {
        response_information: Some("replies/".into()),
        ..BrokerOptions::default()
    });
    let (_, connack) = join(&broker, connect5("quiet", Properties::new()));
    assert_eq!(
        connack.properties.string(PropertyId::ResponseInformation),
        None
    );
    assert_eq!(
        connack.properties.string(PropertyId::AuthenticationMethod),
        None
    );
    let asked = Properties(vec![Property::RequestResponseInformation(1)]);
    let (_, connack) = join(&broker, connect5("asks", asked));
    assert_eq!(
        connack.properties.string(PropertyId::ResponseInformation),
        Some("replies/")
    );
}

/// MQTT 5.0 [MQTT-3.3.2-7]: topic aliases live as long as the connection; [MQTT-3.3.2-14]: a
/// Response Topic holds no wildcards; [MQTT-3.3.4-6]: a client never sends a Subscription
/// Identifier. Each is a protocol error.
#[test]
fn alias_response_topic_and_subscription_identifier_rules() {
    let broker = broker(BrokerOptions::default());
    let asked = Properties(vec![Property::SessionExpiryInterval(60)]);
    let (mut first, _) = join(&broker, connect5("aliaser", asked.clone()));
    let alias = |n| Properties(vec![Property::TopicAlias(n)]);
    first.send(&publish("a/b", b"1", QosPid::AtMostOnce, alias(1)));
    first.send(&Packet::Disconnect(Disconnect::default()));
    drop(first);
    let mut again = connect5("aliaser", asked);
    again.clean_session = false;
    let (mut second, connack) = join(&broker, again);
    assert!(
        connack.session_present,
        "the session survives, its aliases do not"
    );
    second.send(&Packet::Publish(Publish {
        dup: false,
        qospid: QosPid::AtMostOnce,
        retain: false,
        topic: TopicName::aliased(),
        payload: Arc::from(&b"2"[..]),
        properties: alias(1),
    }));
    assert_eq!(second.expect_disconnect(), ReasonCode::PROTOCOL_ERROR);

    let mut wildcard = join5(&broker, "wildcard");
    let response = Properties(vec![Property::ResponseTopic("replies/#".into())]);
    wildcard.send(&publish("t", b"x", QosPid::AtMostOnce, response));
    assert_eq!(wildcard.expect_disconnect(), ReasonCode::PROTOCOL_ERROR);

    let mut identified = join5(&broker, "identified");
    let id_property = Properties(vec![Property::SubscriptionIdentifier(3)]);
    identified.send(&publish("t", b"x", QosPid::AtMostOnce, id_property));
    assert_eq!(identified.expect_disconnect(), ReasonCode::PROTOCOL_ERROR);
}

/// MQTT 5.0 [MQTT-3.5.2-1], [MQTT-3.7.2-1]: a reason code the packet does not define, and
/// [MQTT-3.15.1-1]: AUTH with non-zero flags, are malformed (DISCONNECT 0x81).
#[test]
fn undefined_reason_codes_and_auth_flags_are_malformed() {
    let broker = broker(BrokerOptions::default());
    for bytes in [
        &[0x50, 3, 0, 1, 0x92][..], // PUBREC with PUBREL's 0x92
        &[0x70, 3, 0, 1, 0x10],     // PUBCOMP with PUBACK's 0x10
        &[0xF1, 0],                 // AUTH with flags 0001
    ] {
        let mut peer = join5(&broker, "bad");
        peer.send_raw(bytes);
        assert_eq!(
            peer.expect_disconnect(),
            ReasonCode::MALFORMED_PACKET,
            "{bytes:02x?}"
        );
    }
}

/// MQTT 5.0 [MQTT-3.1.3-10]: a will's User Properties arrive in their order.
#[test]
fn will_user_properties_keep_their_order() {
    let broker = broker(BrokerOptions::default());
    let mut watcher = join5(&broker, "watcher");
    subscribe_one(&mut watcher, 1, "will/#", QoS::AtMostOnce);
    let mut connect = connect5("leaver", Properties::new());
    let mut will = qos0_will("will/leaver", b"gone".to_vec());
    for (k, v) in [("z", "1"), ("a", "2"), ("z", "3")] {
        will.properties
            .push(Property::UserProperty(k.into(), v.into()));
    }
    connect.will = Some(will);
    let (leaver, _) = join(&broker, connect);
    drop(leaver);
    let got = watcher.expect_publish();
    let pairs: Vec<String> = got
        .properties
        .user_properties()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(pairs, ["z=1", "a=2", "z=3"]);
}

/// MQTT 5.0 [MQTT-4.8.2-3]: a shared message goes out at the chosen member's granted QoS;
/// [MQTT-4.8.2-6]: a member refusing it (PUBACK 0x80 or above) does not make the broker send it
/// to another member.
#[test]
fn shared_members_get_their_own_qos_and_refusals_are_final() {
    let broker = broker(BrokerOptions::default());
    let mut low = join5(&broker, "low");
    let mut high = join5(&broker, "high");
    subscribe_one(&mut low, 1, "$share/g/jobs", QoS::AtMostOnce);
    subscribe_one(&mut high, 1, "$share/g/jobs", QoS::AtLeastOnce);
    for n in 0..2u8 {
        broker
            .publish("jobs", &[n], QoS::AtLeastOnce, false)
            .unwrap();
    }
    let from_low = low.expect_publish();
    assert_eq!(from_low.qospid, QosPid::AtMostOnce, "granted QoS 0");
    let from_high = high.expect_publish();
    assert_eq!(from_high.qospid.qos(), QoS::AtLeastOnce, "granted QoS 1");
    // The QoS 1 member refuses its message: it is not sent again, to anyone.
    high.send(&Packet::Puback(Ack {
        packet_id: from_high.qospid.packet_id().unwrap(),
        reason: ReasonCode::UNSPECIFIED_ERROR,
        properties: Properties::new(),
    }));
    low.expect_nothing(Duration::from_millis(300));
    high.expect_nothing(Duration::from_millis(100));
}

/// The message hook through the C API.
mod c_hook {
    use std::ffi::{CStr, c_int, c_void};
    use std::ptr;

    use super::c_api::CBroker;
    use super::*;
    use mqtt::ffi::*;

    unsafe extern "C" fn hook(
        _userdata: *mut c_void,
        message: *const mqtt_hooked_message,
        reply: *mut mqtt_hook_reply,
    ) -> c_int {
        let message = unsafe { &*message };
        let topic = unsafe { CStr::from_ptr(message.topic) };
        match topic.to_bytes() {
            b"secret" => 0x87,
            b"rename" => {
                let status = unsafe {
                    mqtt_hook_reply_replace(reply, c"renamed".as_ptr(), b"x".as_ptr(), 1)
                };
                assert_eq!(status, mqtt_status::Ok);
                let bad =
                    unsafe { mqtt_hook_reply_replace(reply, c"a/#".as_ptr(), ptr::null(), 0) };
                assert_eq!(bad, mqtt_status::InvalidTopic);
                0
            }
            _ => 0,
        }
    }

    /// The message hook from C: a refusal reaches a 5.0 publisher in its PUBACK, a replacement
    /// reaches the subscribers.
    #[test]
    fn message_hook_from_c() {
        let opts = mqtt_broker_options_new();
        let status =
            unsafe { mqtt_broker_options_set_message_hook(opts, Some(hook), ptr::null_mut()) };
        assert_eq!(status, mqtt_status::Ok);
        let broker = CBroker::start(opts);
        let (mut sub, _) = broker.join(connect5("sub", Properties::new()));
        subscribe_one(&mut sub, 1, "#", QoS::AtMostOnce);
        let (mut publisher, _) = broker.join(connect5("pub", Properties::new()));
        publisher.send(&publish(
            "secret",
            b"s",
            QosPid::AtLeastOnce(id(1)),
            Properties::new(),
        ));
        match publisher.next() {
            Some(Packet::Puback(a)) => assert_eq!(a.reason, ReasonCode::NOT_AUTHORIZED),
            other => panic!("expected PUBACK, got {other:?}"),
        }
        publisher.send(&publish(
            "rename",
            b"r",
            QosPid::AtMostOnce,
            Properties::new(),
        ));
        let got = sub.expect_publish();
        assert_eq!(got.topic.as_str(), "renamed");
        assert_eq!(&*got.payload, b"x");
        sub.expect_nothing(Duration::from_millis(200));
    }

    /// A redirect through the C API: DISCONNECT 0x9D with the Server Reference; the arguments
    /// are checked.
    #[test]
    fn redirect_from_c() {
        let broker = CBroker::start(mqtt_broker_options_new());
        let (mut five, _) = broker.join(connect5("five", Properties::new()));
        let redirect = |client_id: *const std::ffi::c_char, reference: *const std::ffi::c_char| unsafe {
            mqtt_broker_redirect_client(broker.0, client_id, reference, true)
        };
        assert_eq!(
            redirect(ptr::null(), c"there".as_ptr()),
            mqtt_status::NullArgument
        );
        assert_eq!(
            redirect(c"five".as_ptr(), ptr::null()),
            mqtt_status::NullArgument
        );
        assert_eq!(
            redirect(c"none".as_ptr(), c"there".as_ptr()),
            mqtt_status::NotFound
        );
        let long = std::ffi::CString::new("x".repeat(65_536)).unwrap();
        assert_eq!(
            redirect(c"five".as_ptr(), long.as_ptr()),
            mqtt_status::InvalidArgument
        );
        assert_eq!(
            redirect(c"five".as_ptr(), c"there:1883".as_ptr()),
            mqtt_status::Ok
        );
        match five.next() {
            Some(Packet::Disconnect(d)) => {
                assert_eq!(d.reason, ReasonCode::SERVER_MOVED);
                assert_eq!(
                    d.properties.string(PropertyId::ServerReference),
                    Some("there:1883")
                );
            }
            other => panic!("expected DISCONNECT, got {other:?}"),
        }
        assert_eq!(five.next(), None);
    }

    unsafe extern "C" fn collect(userdata: *mut c_void, client: *const mqtt_client_info) {
        let seen = unsafe { &*(userdata as *const std::sync::Mutex<Vec<(String, c_int)>>) };
        let client = unsafe { &*client };
        let id = unsafe { CStr::from_ptr(client.client_id) }
            .to_string_lossy()
            .into_owned();
        seen.lock().unwrap().push((id, client.protocol_level));
    }

    /// The client list and the kick through the C API; a 5.0 client is told why (0x98).
    #[test]
    fn clients_and_kick_from_c() {
        let broker = CBroker::start(mqtt_broker_options_new());
        let (mut five, _) = broker.join(connect5("five", Properties::new()));
        let seen: std::sync::Mutex<Vec<(String, c_int)>> = std::sync::Mutex::new(Vec::new());
        let status = unsafe {
            mqtt_broker_clients(broker.0, Some(collect), &seen as *const _ as *mut c_void)
        };
        assert_eq!(status, mqtt_status::Ok);
        assert_eq!(*seen.lock().unwrap(), [("five".to_owned(), 5)]);
        let status = unsafe { mqtt_broker_disconnect_client(broker.0, c"five".as_ptr(), false) };
        assert_eq!(status, mqtt_status::Ok);
        assert_eq!(five.expect_disconnect(), ReasonCode::ADMINISTRATIVE_ACTION);
        // The client sees the close a moment before the broker has detached it.
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            let status =
                unsafe { mqtt_broker_disconnect_client(broker.0, c"five".as_ptr(), false) };
            if status == mqtt_status::NotFound {
                break;
            }
            assert!(Instant::now() < deadline, "still connected: {status:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
