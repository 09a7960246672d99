//! The client over TLS against Debian's mosquitto with a TLS listener, with certificates the tests
//! make (rcgen) — MQTT over TLS over TCP, a network connection of the kind MQTT 5.0 section 4.2
//! asks for ([MQTT-4.2-1]: ordered, lossless, bi-directional). Every QoS both ways and large
//! messages, MQTT 5.0, client certificates, the failures a TLS client must report (unknown CA,
//! wrong name, missing client certificate, a stalled handshake), `mqtts://` URLs, the loop
//! thread with reconnects, and the host event-loop calls. Skipped with a message when mosquitto
//! is missing, a failure under CI=true.

pub mod support;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use mqtt::client::{Client, ClientError, ConnectOptions, OwnedMessage, PublishOptions};
use mqtt::protocol::{ProtocolLevel, QoS};
use mqtt::tls::{ClientTls, Pem};

use crate::client_support::scenarios::event_loop_receives;
use crate::client_support::{WAIT, options};
use support::{Issued, Pki, TlsMosquitto};

/// A PKI with a server certificate for 127.0.0.1 and localhost, and mosquitto presenting it.
fn setup(require_certificate: bool) -> Option<(Pki, TlsMosquitto)> {
    let pki = Pki::new("ca");
    let server = pki.server("server", &["127.0.0.1", "localhost"]);
    let broker = TlsMosquitto::start(&pki, &server, require_certificate)?;
    Some((pki, broker))
}

/// TLS settings trusting `pki`'s CA only.
fn trusting(pki: &Pki) -> ClientTls {
    ClientTls {
        ca: Some(Pem::File(pki.ca_file())),
        ..ClientTls::default()
    }
}

/// The test options ([`options`]) with TLS trusting `pki`, and `id` as the client id.
fn tls_options(pki: &Pki, id: &str) -> ConnectOptions {
    options().client_id(id).tls(trusting(pki))
}

fn connect_tls(port: u16, options: &ConnectOptions) -> Client {
    Client::connect("127.0.0.1", port, options).expect("connect over TLS")
}

/// Subscribes `client` to `filter`, every message going to the returned receiver.
fn collect(client: &Client, filter: &str, qos: QoS) -> Receiver<OwnedMessage> {
    let (tx, rx) = mpsc::channel();
    client
        .subscribe(filter, qos, move |m| {
            let _ = tx.send(m.to_owned());
        })
        .expect("subscribe");
    rx
}

/// The next message, within [`WAIT`].
fn next(rx: &Receiver<OwnedMessage>) -> OwnedMessage {
    rx.recv_timeout(WAIT).expect("a message within the wait")
}

/// Checks that `client`'s connection works, then ends it.
fn ping_and_disconnect(client: Client) {
    client.ping().expect("PINGRESP");
    client.disconnect().expect("disconnect");
}

/// The text of a `ClientError::Tls`, or a panic naming what came instead.
fn tls_error(result: Result<Client, ClientError>) -> String {
    match result {
        Err(ClientError::Tls(text)) => text,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

/// Messages at QoS 0, 1 and 2 and a 1 MiB one (many TLS records, more than rustls buffers at
/// once) between two TLS clients, received in full with the QoS they were sent with.
#[test]
fn tls_every_qos_and_large_messages() {
    let Some((pki, broker)) = setup(false) else {
        return;
    };
    let subscriber = connect_tls(broker.tls_port, &tls_options(&pki, "tls-sub"));
    let rx = collect(&subscriber, "tls/#", QoS::ExactlyOnce);
    subscriber.loop_start().unwrap();
    let publisher = connect_tls(broker.tls_port, &tls_options(&pki, "tls-pub"));
    let large: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let sent = [
        ("tls/0", b"zero".to_vec(), QoS::AtMostOnce),
        ("tls/1", b"one".to_vec(), QoS::AtLeastOnce),
        ("tls/2", b"two".to_vec(), QoS::ExactlyOnce),
        ("tls/large", large, QoS::AtLeastOnce),
    ];
    for (topic, payload, qos) in &sent {
        publisher.publish(topic, payload, *qos, false).unwrap();
        let m = next(&rx);
        assert_eq!((m.topic.as_str(), m.qos), (*topic, *qos));
        assert!(
            m.payload == *payload,
            "{topic}: payload of {} bytes",
            m.payload.len()
        );
    }
    publisher.disconnect().unwrap();
    subscriber.disconnect().unwrap();
}

/// Four threads publish at QoS 1 while the loop thread reads the same client's messages and
/// acknowledgements: reading and writing TLS records at once loses and reorders nothing.
#[test]
fn tls_many_threads_publish_while_the_loop_thread_reads() {
    let Some((pki, broker)) = setup(false) else {
        return;
    };
    let client = Arc::new(connect_tls(
        broker.tls_port,
        &tls_options(&pki, "tls-threads"),
    ));
    let rx = collect(&client, "threads/#", QoS::AtLeastOnce);
    client.loop_start().unwrap();
    const THREADS: usize = 4;
    const EACH: usize = 200;
    let publishers: Vec<_> = (0..THREADS)
        .map(|t| {
            let client = Arc::clone(&client);
            thread::spawn(move || {
                for i in 0..EACH {
                    let payload = format!("{i}:{}", "x".repeat(i * 7));
                    client
                        .publish(
                            &format!("threads/{t}"),
                            payload.as_bytes(),
                            QoS::AtLeastOnce,
                            false,
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.join().unwrap();
    }
    let mut next_of = [0usize; THREADS];
    for _ in 0..THREADS * EACH {
        let m = next(&rx);
        let t: usize = m.topic["threads/".len()..].parse().unwrap();
        let expected = format!("{}:{}", next_of[t], "x".repeat(next_of[t] * 7));
        assert_eq!(m.payload, expected.as_bytes(), "thread {t}, in order");
        next_of[t] += 1;
    }
    client.disconnect().unwrap();
}

/// MQTT 5.0 over TLS: properties travel both ways.
#[test]
fn tls_mqtt_v5() {
    let Some((pki, broker)) = setup(false) else {
        return;
    };
    let v5 = |id| tls_options(&pki, id).protocol(ProtocolLevel::V5);
    let client = connect_tls(broker.tls_port, &v5("tls-v5"));
    assert_eq!(client.protocol(), ProtocolLevel::V5);
    let rx = collect(&client, "v5/#", QoS::ExactlyOnce);
    let with = PublishOptions::new()
        .user_property("over", "tls")
        .content_type("text/plain");
    client.loop_start().unwrap();
    client
        .publish_ex("v5/t", b"hello", QoS::ExactlyOnce, false, &with)
        .unwrap();
    let m = next(&rx);
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("v5/t", &b"hello"[..])
    );
    let users: Vec<_> = m.properties.user_properties().collect();
    assert_eq!(users, [("over", "tls")]);
    client.disconnect().unwrap();
}

/// A listener that requires client certificates (mosquitto's `require_certificate true`): a
/// certificate of its CA is accepted; without one the server's refusal is a TLS error.
#[test]
fn tls_client_certificate_required() {
    let Some((pki, broker)) = setup(true) else {
        return;
    };
    let Issued { cert, key } = pki.client("alice", "alice");
    let mut with_cert = trusting(&pki);
    with_cert.certificate = Some((Pem::File(cert), Pem::File(key)));
    let client = connect_tls(
        broker.tls_port,
        &options().client_id("tls-cert").tls(with_cert),
    );
    let rx = collect(&client, "cert/t", QoS::AtLeastOnce);
    client.loop_start().unwrap();
    client
        .publish("cert/t", b"signed", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(next(&rx).payload, b"signed");
    client.disconnect().unwrap();

    // Under TLS 1.3 the client finishes its handshake first; the server's alert arrives while
    // the client waits for CONNACK, and is reported as TLS all the same.
    let refused = Client::connect(
        "127.0.0.1",
        broker.tls_port,
        &tls_options(&pki, "tls-no-cert"),
    );
    let text = tls_error(refused);
    assert!(text.contains("alert"), "{text}");
}

/// A server certificate from a CA the client does not trust, and a server that does not speak
/// TLS: each a TLS error saying what went wrong, within the connect timeout.
#[test]
fn tls_untrusted_certificate_and_plain_server() {
    let Some((_pki, broker)) = setup(false) else {
        return;
    };
    let other = Pki::new("other-ca");
    let text = tls_error(Client::connect(
        "127.0.0.1",
        broker.tls_port,
        &tls_options(&other, "tls-wrong-ca"),
    ));
    assert!(text.contains("invalid peer certificate"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");

    let text = tls_error(Client::connect(
        "127.0.0.1",
        broker.broker.port,
        &tls_options(&other, "tls-plain-port"),
    ));
    assert!(text.contains("handshake with 127.0.0.1"), "{text}");

    // A CA file that does not exist.
    let missing = ClientTls {
        ca: Some(Pem::File("/nonexistent/ca.pem".into())),
        ..ClientTls::default()
    };
    let text = tls_error(Client::connect(
        "127.0.0.1",
        broker.tls_port,
        &options().tls(missing),
    ));
    assert!(text.contains("/nonexistent/ca.pem"), "{text}");
}

/// A server whose certificate names only "localhost", reached at 127.0.0.1: refused (the
/// address is checked against the certificate's IP address names), accepted when the expected
/// name is given (`server_name`) or with `insecure`.
#[test]
fn tls_host_name_mismatch_is_refused_unless_named_or_insecure() {
    let pki = Pki::new("ca");
    let server = pki.server("server", &["localhost"]);
    let Some(broker) = TlsMosquitto::start(&pki, &server, false) else {
        return;
    };
    let text = tls_error(Client::connect(
        "127.0.0.1",
        broker.tls_port,
        &tls_options(&pki, "tls-mismatch"),
    ));
    assert!(text.contains("not valid for name"), "{text}");

    let mut named = trusting(&pki);
    named.server_name = Some("localhost".into());
    let client = connect_tls(broker.tls_port, &options().tls(named));
    ping_and_disconnect(client);

    let insecure = ClientTls {
        insecure: true,
        ..ClientTls::default()
    };
    let client = connect_tls(broker.tls_port, &options().tls(insecure));
    ping_and_disconnect(client);
}

/// `connect_url`: `mqtts://` with the options' TLS settings, or without them the system's CA
/// store (which does not know the test's CA); `mqtt://` over TCP, and refused with TLS settings.
#[test]
fn tls_connect_url() {
    let Some((pki, broker)) = setup(false) else {
        return;
    };
    let url = format!("mqtts://127.0.0.1:{}", broker.tls_port);
    let client = Client::connect_url(&url, &tls_options(&pki, "tls-url")).expect("mqtts://");
    ping_and_disconnect(client);

    let system = Client::connect_url(&format!("{url}/"), &options());
    let text = tls_error(system);
    assert!(
        text.contains("UnknownIssuer") || text.contains("no system CA certificates"),
        "{text}"
    );

    let plain = format!("mqtt://127.0.0.1:{}", broker.broker.port);
    let client = Client::connect_url(&plain, &options()).expect("mqtt://");
    ping_and_disconnect(client);
    let mixed = Client::connect_url(&plain, &tls_options(&pki, "tls-mixed"));
    assert!(
        matches!(mixed, Err(ClientError::InvalidArgument(_))),
        "{mixed:?}"
    );
}

/// The loop thread over TLS through an explicit reconnect and an automatic one (a plain client
/// taking the session over makes mosquitto close the TLS connection): each time a new TLS
/// handshake, the subscription restored, messages flowing.
#[test]
fn tls_loop_thread_and_reconnects() {
    let Some((pki, broker)) = setup(false) else {
        return;
    };
    let connacks = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connacks);
    let opts = tls_options(&pki, "tls-loop")
        .auto_reconnect(Duration::from_millis(50), Duration::from_millis(200))
        .on_connect(move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
    let client = connect_tls(broker.tls_port, &opts);
    let rx = collect(&client, "loop/#", QoS::AtLeastOnce);
    client.loop_start().unwrap();
    let round_trip = |payload: &[u8]| {
        client
            .publish("loop/t", payload, QoS::AtLeastOnce, false)
            .unwrap();
        assert_eq!(next(&rx).payload, payload);
    };
    round_trip(b"first");

    client.reconnect().unwrap();
    assert_eq!(connacks.load(Ordering::SeqCst), 2);
    round_trip(b"after reconnect");

    let intruder = Client::connect(
        "127.0.0.1",
        broker.broker.port,
        &options().client_id("tls-loop"),
    )
    .expect("plain connect");
    let deadline = Instant::now() + WAIT;
    while connacks.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "no automatic reconnect over TLS");
        thread::sleep(Duration::from_millis(10));
    }
    assert!(client.is_connected());
    round_trip(b"after the automatic reconnect");
    drop(intruder);
    client.disconnect().unwrap();
}

/// The host event loop drives a TLS connection through the TCP socket: poll it, `loop_read`,
/// `loop_write` while `want_write`, `loop_misc`; a large message arrives in many records.
#[test]
fn tls_event_loop_calls() {
    let Some((pki, broker)) = setup(false) else {
        return;
    };
    let client = connect_tls(broker.tls_port, &tls_options(&pki, "tls-events"));
    let other = connect_tls(broker.tls_port, &tls_options(&pki, "tls-other"));
    event_loop_receives(&client, &other);
}

/// A server that accepts TCP and never answers the ClientHello: connect fails with `Timeout`
/// once the connect timeout has passed, not later.
#[test]
fn tls_stalled_handshake_is_bounded_by_the_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pki = Pki::new("ca");
    let opts = tls_options(&pki, "tls-stalled").connect_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let result = Client::connect("127.0.0.1", port, &opts);
    let took = started.elapsed();
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    drop(listener);
}
