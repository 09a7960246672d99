//! TLS listeners: a broker with a plain and a TLS listener sharing one set of sessions, client
//! certificates (required, and the identity as user name; missing, expired and untrusted ones
//! refused), hostile input on the TLS port, a stalled handshake, each failed handshake counted
//! once in the broker's stats, and certificate reload with clients connected. The test's own client is
//! rustls over a TcpStream speaking raw MQTT packets; the certificates are made here with rcgen.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::common::{RawClient, connect_packet, publish, subscribe};
use crate::fixture::{READ_TIMEOUT, eventually};
use mqtt::broker::{Access, Broker, BrokerOptions, BrokerStats, Listener};
use mqtt::protocol::{Decoder, Packet, QoS, QosPid, ReasonCode};
use mqtt::tls::{ClientAuth, Pem, ServerTls};

/// A certificate authority and what it signed, as PEM.
pub(super) struct Authority {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Authority {
    pub(super) fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Authority { cert, key }
    }

    pub(super) fn pem(&self) -> Vec<u8> {
        self.cert.pem().into_bytes()
    }

    /// A leaf certificate for `names` (DNS names or IP addresses) with Common Name `cn`:
    /// (certificate PEM, key PEM).
    pub(super) fn issue(&self, cn: &str, names: &[&str]) -> (Vec<u8>, Vec<u8>) {
        self.issue_with(cn, names, |_| {})
    }

    /// [`Authority::issue`] with `adjust` applied to the certificate's parameters first.
    fn issue_with(
        &self,
        cn: &str,
        names: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> (Vec<u8>, Vec<u8>) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        adjust(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem().into_bytes(), key.serialize_pem().into_bytes())
    }
}

pub(super) fn server_tls(ca: &Authority) -> ServerTls {
    let (cert, key) = ca.issue("localhost", &["localhost", "127.0.0.1"]);
    ServerTls::new(Pem::Memory(cert), Pem::Memory(key))
}

/// A broker with a plain listener (first) and a TLS listener (second), on ephemeral ports.
fn start(tls: ServerTls, options: BrokerOptions) -> (Broker, u16, u16) {
    let broker = Broker::new(
        options
            .listener(Listener::tcp("127.0.0.1", 0))
            .listener(Listener::tls("127.0.0.1", 0, tls)),
    );
    broker.start().expect("broker starts");
    let listeners = broker.listeners();
    assert_eq!(listeners.len(), 2);
    assert_eq!(
        (listeners[0].scheme, listeners[1].scheme),
        ("mqtt", "mqtts")
    );
    (
        broker,
        listeners[0].address.port(),
        listeners[1].address.port(),
    )
}

pub(super) fn client_config(ca_pem: &[u8], identity: Option<(&[u8], &[u8])>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert)
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = vec![b"mqtt".to_vec()];
    Arc::new(config)
}

/// After one bad input: waits until `counter` of the broker's stats reads `expected`, lets
/// `bystander` show that a client connected before still publishes and receives, and checks
/// that the counter moved no further (the refusal was counted exactly once).
pub(super) fn counted_once(
    broker: &Broker,
    counter: fn(&BrokerStats) -> u64,
    expected: u64,
    bystander: impl FnOnce(),
) {
    eventually(&format!("the refusal counted ({expected})"), || {
        counter(&broker.stats()) == expected
    });
    bystander();
    assert_eq!(counter(&broker.stats()), expected, "counted more than once");
}

/// A client certificate and its key, as PEM.
type Identity<'a> = (&'a [u8], &'a [u8]);

fn tls_failures(stats: &BrokerStats) -> u64 {
    stats.tls_handshakes_failed
}

/// An MQTT client over rustls, speaking raw packets.
struct TlsClient {
    stream: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl TlsClient {
    fn open(port: u16, config: Arc<ClientConfig>) -> std::io::Result<TlsClient> {
        let tcp = TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(READ_TIMEOUT))?;
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(TlsClient {
            stream,
            buf: Vec::new(),
        })
    }

    fn send(&mut self, packet: &Packet) {
        self.stream.write_all(&packet.to_bytes().unwrap()).unwrap();
        self.stream.flush().unwrap();
    }

    fn recv(&mut self) -> std::io::Result<Packet> {
        loop {
            if let Some((packet, used)) = Decoder::default().decode(&self.buf).unwrap() {
                self.buf.drain(..used);
                return Ok(packet);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Connects with `client_id` and returns the CONNACK's reason code.
    fn connect(&mut self, client_id: &str) -> std::io::Result<ReasonCode> {
        self.send(&Packet::Connect(Box::new(connect_packet(client_id, true))));
        match self.recv()? {
            Packet::Connack(c) => Ok(c.code),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Publishes `payload` at QoS 0 to `topic`, which the client subscribed to, and receives it
    /// back.
    fn echo(&mut self, topic: &str, payload: &[u8]) {
        self.send(&publish(topic, payload, QosPid::AtMostOnce, false));
        match self.recv().unwrap() {
            Packet::Publish(p) => assert_eq!((p.topic.as_str(), &p.payload[..]), (topic, payload)),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
}

/// A plain and a TLS listener serve one broker: a subscriber over TLS receives what a plain
/// client publishes, and the other way round, also after it parked idle without a thread; the
/// TLS session negotiated ALPN "mqtt".
#[test]
fn tls_and_plain_listeners_share_one_broker() {
    let ca = Authority::new("test CA");
    let (broker, plain, secure) = start(server_tls(&ca), BrokerOptions::default());
    let config = client_config(&ca.pem(), None);
    let mut tls = TlsClient::open(secure, config).unwrap();
    assert_eq!(tls.stream.conn.alpn_protocol(), Some(&b"mqtt"[..]));
    assert_eq!(tls.connect("over-tls").unwrap(), ReasonCode::SUCCESS);
    tls.send(&subscribe(1, &[("t/#", QoS::AtLeastOnce)]));
    assert!(matches!(tls.recv().unwrap(), Packet::Suback(_)));

    let mut raw = RawClient::clean(plain, "over-tcp");
    raw.subscribe_ok(1, &[("back/#", QoS::AtMostOnce)]);
    // Long enough for the TLS connection to park without a thread (after 500 ms idle).
    std::thread::sleep(Duration::from_millis(900));
    raw.send(&publish("t/x", b"from tcp", QosPid::AtMostOnce, false));
    match tls.recv().unwrap() {
        Packet::Publish(p) => assert_eq!(p.payload.as_ref(), b"from tcp"),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    // A large message crosses several TLS records.
    let big = vec![7u8; 100_000];
    tls.send(&publish("back/y", &big, QosPid::AtMostOnce, false));
    assert_eq!(raw.recv_publish().payload.as_ref(), &big[..]);
    broker.stop();
}

/// With `require_certificate`, a client without a certificate, with an expired one, or with one
/// from another CA fails the handshake, each counted once in `tls_handshakes_failed` while a
/// client with a good certificate goes on publishing and receiving; one with a certificate from
/// the CA connects, and with `use_identity_as_username` its Common Name is the user name the
/// authorizer sees (mosquitto's listener options), and the authenticator is told it.
#[test]
fn client_certificates_are_required_and_name_the_user() {
    let ca = Authority::new("test CA");
    let mut tls = server_tls(&ca);
    tls.client_ca = Some(Pem::Memory(ca.pem()));
    tls.client_auth = ClientAuth::Require;
    tls.use_identity_as_username = true;
    let users = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&users);
    let identities = Arc::new(Mutex::new(Vec::new()));
    let authenticated = Arc::clone(&identities);
    let options = BrokerOptions::default()
        .authorizer(move |_, user: Option<&str>, _, _: Access| {
            seen.lock().unwrap().push(user.map(str::to_owned));
            true
        })
        .authenticator(move |request: &mqtt::broker::AuthRequest<'_>| {
            authenticated
                .lock()
                .unwrap()
                .push(request.certificate_identity.map(str::to_owned));
            mqtt::broker::AuthResult::Accept
        });
    let (broker, _, secure) = start(tls, options);

    let (cert, key) = ca.issue("device-17", &[]);
    let config = client_config(&ca.pem(), Some((&cert, &key)));
    let mut client = TlsClient::open(secure, config).unwrap();
    assert_eq!(client.connect("with-cert").unwrap(), ReasonCode::SUCCESS);
    client.send(&subscribe(1, &[("a/b", QoS::AtMostOnce)]));
    assert!(matches!(client.recv().unwrap(), Packet::Suback(_)));
    assert_eq!(
        users.lock().unwrap().as_slice(),
        [Some("device-17".to_owned())]
    );
    // The authenticator is told the certificate's identity.
    assert_eq!(
        identities.lock().unwrap().as_slice(),
        [Some("device-17".to_owned())]
    );

    let (expired_cert, expired_key) = ca.issue_with("expired", &[], |params| {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let other = Authority::new("other CA");
    let (stranger_cert, stranger_key) = other.issue("intruder", &[]);
    let refused: [(&str, Option<Identity>); 3] = [
        ("no certificate", None),
        (
            "an expired certificate",
            Some((&expired_cert, &expired_key)),
        ),
        (
            "a certificate from another CA",
            Some((&stranger_cert, &stranger_key)),
        ),
    ];
    for (n, (what, identity)) in refused.into_iter().enumerate() {
        let attempt = TlsClient::open(secure, client_config(&ca.pem(), identity))
            .and_then(|mut c| c.connect("refused"));
        assert!(attempt.is_err(), "{what}: no connection, got {attempt:?}");
        counted_once(&broker, tls_failures, n as u64 + 1, || {
            client.echo("a/b", what.as_bytes());
        });
    }
    assert_eq!(broker.stats().clients_connected, 1);
    broker.stop();
}

/// Plaintext MQTT and random bytes sent to the TLS port close that connection only; a client
/// that starts a handshake and never completes it is dropped at the connect timeout. Each is
/// counted once in `tls_handshakes_failed`, and clients connected before go on publishing and
/// receiving, over TLS and plain TCP.
#[test]
fn bad_input_on_the_tls_port_closes_only_that_connection() {
    let ca = Authority::new("test CA");
    let options = BrokerOptions {
        connect_timeout: Duration::from_millis(400),
        ..BrokerOptions::default()
    };
    let (broker, plain, secure) = start(server_tls(&ca), options);
    let mut good = TlsClient::open(secure, client_config(&ca.pem(), None)).unwrap();
    assert_eq!(good.connect("good").unwrap(), ReasonCode::SUCCESS);
    good.send(&subscribe(1, &[("good/#", QoS::AtMostOnce)]));
    assert!(matches!(good.recv().unwrap(), Packet::Suback(_)));
    let mut raw = RawClient::clean(plain, "plain");
    raw.subscribe_ok(1, &[("plain/#", QoS::AtMostOnce)]);
    assert_eq!(broker.stats().tls_handshakes_failed, 0, "good handshakes");

    let plaintext_connect = Packet::Connect(Box::new(connect_packet("plain", true)))
        .to_bytes()
        .unwrap();
    let inputs: [(&str, &[u8]); 3] = [
        ("plaintext", &plaintext_connect),
        // A handshake record claiming more than TLS allows.
        ("garbage", &[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3]),
        // The header of a ClientHello record whose 80 bytes never come.
        ("stalled", &[0x16, 0x03, 0x01, 0x00, 0x50]),
    ];
    for (n, (name, input)) in inputs.into_iter().enumerate() {
        let mut socket = TcpStream::connect(("127.0.0.1", secure)).unwrap();
        socket.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        socket.write_all(input).unwrap();
        let started = Instant::now();
        let mut sink = Vec::new();
        // An alert at most, then end of stream.
        let _ = socket.read_to_end(&mut sink);
        assert!(sink.len() < 64, "{name}: {} bytes back", sink.len());
        assert!(started.elapsed() < READ_TIMEOUT, "{name} was not closed");
        counted_once(&broker, tls_failures, n as u64 + 1, || {
            good.echo("good/after", name.as_bytes());
            raw.send(&publish(
                "plain/after",
                name.as_bytes(),
                QosPid::AtMostOnce,
                false,
            ));
            assert_eq!(&raw.recv_publish().payload[..], name.as_bytes());
        });
    }
    good.send(&Packet::Pingreq);
    assert_eq!(good.recv().unwrap(), Packet::Pingresp);
    raw.disconnect();
    broker.stop();
}

/// `reload_tls` reads the certificate files again: open connections keep their session, new
/// ones get the new certificate (here from another CA, so old clients' trust no longer works).
#[test]
fn certificate_reload_keeps_connections() {
    let dir = std::env::temp_dir().join(format!("mqtt-tls-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    let first = Authority::new("first CA");
    let write = |ca: &Authority| {
        let (cert, key) = ca.issue("localhost", &["localhost"]);
        std::fs::write(&cert_file, cert).unwrap();
        std::fs::write(&key_file, key).unwrap();
    };
    write(&first);
    let tls = ServerTls::new(
        Pem::File(cert_file.to_string_lossy().into_owned()),
        Pem::File(key_file.to_string_lossy().into_owned()),
    );
    let (broker, _, secure) = start(tls, BrokerOptions::default());
    let mut old = TlsClient::open(secure, client_config(&first.pem(), None)).unwrap();
    assert_eq!(old.connect("old").unwrap(), ReasonCode::SUCCESS);

    let second = Authority::new("second CA");
    write(&second);
    broker.reload_tls().unwrap();
    let mut new = TlsClient::open(secure, client_config(&second.pem(), None)).unwrap();
    assert_eq!(new.connect("new").unwrap(), ReasonCode::SUCCESS);
    assert!(TlsClient::open(secure, client_config(&first.pem(), None)).is_err());
    old.send(&Packet::Pingreq);
    assert_eq!(
        old.recv().unwrap(),
        Packet::Pingresp,
        "the old connection stays"
    );

    // A broken file leaves the configuration in use.
    std::fs::write(&key_file, b"not a key").unwrap();
    assert!(broker.reload_tls().is_err());
    let mut again = TlsClient::open(secure, client_config(&second.pem(), None)).unwrap();
    assert_eq!(again.connect("again").unwrap(), ReasonCode::SUCCESS);
    broker.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TLS listener whose certificate and key do not load fails the start with the reason, and
/// takes no port.
#[test]
fn a_bad_certificate_fails_the_start() {
    let tls = ServerTls::new(Pem::Memory(b"nonsense".to_vec()), Pem::Memory(Vec::new()));
    let broker = Broker::new(BrokerOptions::default().listener(Listener::tls("127.0.0.1", 0, tls)));
    let e = broker.start().unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
}

/// The broker program opens a listener per `--listen` URL, TLS ones with `--certfile` and
/// `--keyfile`, and prints one `listening on URL` line per listener with the port it got.
#[test]
fn the_program_listens_on_plain_and_tls_urls() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let ca = Authority::new("program CA");
    let dir = std::env::temp_dir().join(format!("mqtt-tls-program-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = ca.issue("localhost", &["localhost"]);
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let mut child = Command::new(super::program::program())
        .args([
            "--listen",
            "mqtt://127.0.0.1:0",
            "--listen",
            "mqtts://127.0.0.1:0",
        ])
        .arg("--certfile")
        .arg(&cert_file)
        .arg("--keyfile")
        .arg(&key_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("broker program starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut port_of = |scheme: &str| -> u16 {
        let line = lines.next().expect("a line").unwrap();
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{line}"));
        let rest = url
            .strip_prefix(&format!("{scheme}://127.0.0.1:"))
            .unwrap_or_else(|| panic!("{line}"));
        rest.parse().unwrap()
    };
    let (plain, secure) = (port_of("mqtt"), port_of("mqtts"));
    let mut tls = TlsClient::open(secure, client_config(&ca.pem(), None)).unwrap();
    assert_eq!(tls.connect("program-tls").unwrap(), ReasonCode::SUCCESS);
    RawClient::clean(plain, "program-plain").disconnect();
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A listener whose TLS version floor is 1.3 refuses a TLS 1.2 client and serves a TLS 1.3 one.
#[test]
fn a_tls_1_3_floor_refuses_tls_1_2_clients() {
    let ca = Authority::new("floor CA");
    let mut tls = server_tls(&ca);
    tls.min_version = mqtt::tls::TlsVersion::V1_3;
    let (broker, _, secure) = start(tls, BrokerOptions::default());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&ca.pem()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls12_only = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    assert!(TlsClient::open(secure, tls12_only).is_err());
    let mut modern = TlsClient::open(secure, client_config(&ca.pem(), None)).unwrap();
    assert_eq!(
        modern.stream.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(modern.connect("tls13").unwrap(), ReasonCode::SUCCESS);
    broker.stop();
}
