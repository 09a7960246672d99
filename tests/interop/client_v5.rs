//! Interoperability of this project's client (`mqtt::client`) in MQTT 5.0 with peers nobody
//! here wrote: Debian's mosquitto 2.0 broker (started per test on a free 127.0.0.1 port,
//! `persistence false`, killed on drop), mosquitto_pub / mosquitto_sub with `-V 5`, and Python
//! paho-mqtt 2.x in MQTT 5 mode (tests/python/paho_v5_client_peer.py). Our client is always at
//! protocol level 5 and a third-party program is on the other end of every message, so a
//! mistake shared by our client and our broker cannot cancel out.
//!
//! Where the wire itself is the evidence (topic aliases, the Receive Maximum window) the client
//! connects through a [`Tap`]: a relay that records every whole packet in both directions, read
//! by a small decoder written here, independent of the crate's codec.
//!
//! A missing peer skips the test with a message, and fails it under CI=true.

use std::collections::BTreeSet;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use parking_lot::Mutex;

use crate::interop_support::{
    PEER_TIMEOUT, PeerProcess, mosquitto_clients_present, paho_present, peer_present,
};
use crate::mosquitto::Mosquitto;
use mqtt::client::{
    Client, ClientError, ConnectOptions, MessageCallback, OwnedMessage, PublishOptions,
    SubscribeOptions,
};
use mqtt::protocol::{PropertyId, ProtocolLevel, QoS, ReasonCode};

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(400);
/// mosquitto 2.0's dynamic security plugin, shipped in Debian's mosquitto package.
const DYNSEC_PLUGIN: &str = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";

// ---------------------------------------------------------------------------------------------
// Peers and our client.

/// mosquitto (with anonymous access and `extra` configuration after the listener line, so
/// listener options apply to it) and mosquitto-clients, or `None` after printing why the test
/// is skipped.
fn mosquitto(extra: &str) -> Option<Mosquitto> {
    if !mosquitto_clients_present() {
        return None;
    }
    Mosquitto::start_with(&format!("allow_anonymous true\n{extra}"), &[])
}

/// A plain [`mosquitto`] and our client connected to it with [`options`].
fn mosquitto_and_client() -> Option<(Mosquitto, Client)> {
    let broker = mosquitto("")?;
    let client = connect(broker.port, &options());
    Some((broker, client))
}

fn options() -> ConnectOptions {
    ConnectOptions::new()
        .protocol(ProtocolLevel::V5)
        .connect_timeout(WAIT)
        .operation_timeout(WAIT)
}

/// Our client, connected, with its loop thread running (callbacks run there).
fn connect(port: u16, options: &ConnectOptions) -> Client {
    let client = Client::connect("127.0.0.1", port, options).expect("connect to mosquitto");
    assert_eq!(client.protocol(), ProtocolLevel::V5);
    client.loop_start().expect("loop thread");
    client
}

/// A callback that forwards every message it gets, and where they arrive.
fn forwarding() -> (MessageCallback, Receiver<OwnedMessage>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let callback: MessageCallback = Arc::new(move |m| {
        let _ = tx.send(m.to_owned());
    });
    (callback, rx)
}

/// Subscribes `client` to `filter` with `options`; returns the SUBACK reason code and what the
/// filter's callback receives.
fn subscribe(
    client: &Client,
    filter: &str,
    qos: QoS,
    options: &SubscribeOptions,
) -> (ReasonCode, Receiver<OwnedMessage>) {
    let (callback, rx) = forwarding();
    let codes = client
        .subscribe_ex(&[(filter, qos)], options, callback)
        .expect("SUBACK");
    assert_eq!(codes.len(), 1, "{codes:?}");
    (codes[0], rx)
}

/// Subscribes and asserts the granted QoS is the one asked for.
fn subscribe_ok(
    client: &Client,
    filter: &str,
    qos: QoS,
    options: &SubscribeOptions,
) -> Receiver<OwnedMessage> {
    let (code, rx) = subscribe(client, filter, qos, options);
    assert_eq!(code, ReasonCode(qos as u8), "SUBACK for {filter}");
    rx
}

/// [`subscribe_ok`] with default subscription options.
fn subscribe_plain(client: &Client, filter: &str, qos: QoS) -> Receiver<OwnedMessage> {
    subscribe_ok(client, filter, qos, &SubscribeOptions::new())
}

fn next(inbox: &Receiver<OwnedMessage>) -> OwnedMessage {
    inbox
        .recv_timeout(WAIT)
        .expect("a message within the timeout")
}

fn expect_nothing(inbox: &Receiver<OwnedMessage>) {
    if let Ok(m) = inbox.recv_timeout(QUIET) {
        panic!("unexpected message {m:?}");
    }
}

fn user_properties(m: &OwnedMessage) -> Vec<(String, String)> {
    m.properties
        .user_properties()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn tool(name: &str, port: u16) -> Command {
    let mut command = Command::new(name);
    command
        .args(["-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-V", "5"]);
    command
}

fn mosquitto_pub(port: u16, args: &[&str]) {
    let mut command = tool("mosquitto_pub", port);
    command.args(args);
    PeerProcess::spawn(command, false).finish_ok(PEER_TIMEOUT);
}

/// mosquitto_sub -V 5 on `filter` at QoS 1, printing `format` (which must start with `%t|`)
/// for `count` messages after the marker: `client` first publishes a retained marker on
/// `marker` (covered by `filter`), and this returns once mosquitto_sub printed it, i.e. once
/// it is subscribed. The marker stays retained.
fn ready_mosquitto_sub(
    client: &Client,
    port: u16,
    (filter, marker): (&str, &str),
    format: &str,
    count: usize,
) -> PeerProcess {
    assert!(format.starts_with("%t|"));
    client
        .publish(marker, b"ready", QoS::AtLeastOnce, true)
        .expect("publish the marker");
    let mut command = tool("mosquitto_sub", port);
    command
        .args(["-t", filter, "-q", "1", "-F", format, "-W", "20", "-C"])
        .arg((count + 1).to_string());
    let subscriber = PeerProcess::spawn(command, false);
    let first = subscriber.expect_line();
    assert!(
        first.starts_with(&format!("{marker}|ready")),
        "expected the marker first, got {first:?}"
    );
    subscriber
}

/// tests/python/paho_v5_client_peer.py with `args` after HOST PORT; `None` when paho-mqtt 2.x
/// is missing (a failure under CI=true).
fn paho(port: u16, args: &[&str]) -> Option<PeerProcess> {
    if !paho_present() {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/paho_v5_client_peer.py");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .args(["127.0.0.1", &port.to_string()])
        .args(args);
    Some(PeerProcess::spawn(command, false))
}

/// The value of `key` in a paho "message" line (tab-separated key=value fields).
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let mut parts = line.split('\t');
    assert_eq!(parts.next(), Some("message"), "{line:?}");
    parts
        .find_map(|kv| {
            kv.split_once('=')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v)
        })
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A directory of files for mosquitto's configuration, removed on drop; readable by the user
/// mosquitto drops to when started as root.
struct ConfigDir(PathBuf);

impl ConfigDir {
    fn new() -> ConfigDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mqtt-client-v5-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("create config dir");
        ConfigDir(dir)
    }

    /// Writes `name` and returns its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, text).expect("write config file");
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("a+rwX")
            .arg(&self.0)
            .status();
        path
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// The tap: a relay between our client and mosquitto that records whole packets.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    ToBroker,
    ToClient,
}

/// One whole packet the tap passed on (or held back).
#[derive(Debug, Clone)]
struct Seen {
    /// Which of the client's connections through the tap, from 0.
    connection: usize,
    way: Way,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct TapLog {
    /// Bytes of a packet not yet complete, per connection and direction.
    partial: std::collections::HashMap<(usize, usize), Vec<u8>>,
    /// Whole packets in the order the tap completed them, across both directions. A packet
    /// is recorded before it is passed on, so a reply the client reacts to is always recorded
    /// before the client's reaction.
    packets: Vec<Seen>,
}

impl TapLog {
    fn take(&mut self, connection: usize, way: Way, bytes: &[u8]) {
        let partial = self.partial.entry((connection, way as usize)).or_default();
        partial.extend_from_slice(bytes);
        while let Some(len) = whole_packet_len(partial) {
            let bytes: Vec<u8> = partial.drain(..len).collect();
            self.packets.push(Seen {
                connection,
                way,
                bytes,
            });
        }
    }
}

/// Length of the first packet in `buf` once all of it is there.
fn whole_packet_len(buf: &[u8]) -> Option<usize> {
    let (remaining, used) = varint(buf.get(1..)?)?;
    let total = 1 + used + remaining as usize;
    (buf.len() >= total).then_some(total)
}

/// A Variable Byte Integer at the start of `buf`: its value and length.
fn varint(buf: &[u8]) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for (i, byte) in buf.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// What the tap shares with its relay threads.
#[derive(Default)]
struct TapState {
    log: Mutex<TapLog>,
    /// While set, what mosquitto sends on the current connection is recorded but not passed
    /// on, as if the network lost it; a new connection clears it.
    hold: std::sync::atomic::AtomicBool,
    stop: std::sync::atomic::AtomicBool,
}

/// A relay on a free 127.0.0.1 port to mosquitto's port, for the client's connections one
/// after the other (a reconnect goes through it too). Stops accepting on drop.
struct Tap {
    port: u16,
    state: Arc<TapState>,
}

impl Tap {
    fn start(upstream: u16) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tap");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let state: Arc<TapState> = Arc::default();
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            let deadline = Instant::now() + PEER_TIMEOUT * 6;
            let mut connection = 0;
            while !shared.stop.load(Ordering::Acquire) && Instant::now() < deadline {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    Err(_) => return,
                };
                client.set_nonblocking(false).unwrap();
                let Ok(broker) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                shared.hold.store(false, Ordering::Release);
                let _ = client.set_nodelay(true);
                let _ = broker.set_nodelay(true);
                let (c2, b2) = (client.try_clone().unwrap(), broker.try_clone().unwrap());
                let up = Arc::clone(&shared);
                thread::spawn(move || pump(c2, b2, connection, Way::ToBroker, &up));
                let down = Arc::clone(&shared);
                thread::spawn(move || pump(broker, client, connection, Way::ToClient, &down));
                connection += 1;
            }
        });
        Tap { port, state }
    }

    /// Every whole packet so far, in order.
    fn packets(&self) -> Vec<Seen> {
        self.state.log.lock().packets.clone()
    }

    /// From now on, mosquitto's packets on the current connection are lost on the way.
    fn hold_replies(&self) {
        self.state.hold.store(true, Ordering::Release);
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, connection: usize, way: Way, state: &TapState) {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        state.log.lock().take(connection, way, &chunk[..n]);
        if way == Way::ToClient && state.hold.load(Ordering::Acquire) {
            continue;
        }
        if to.write_all(&chunk[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// An MQTT 5.0 PUBLISH as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WirePublish {
    dup: bool,
    qos: u8,
    topic: String,
    id: Option<u16>,
    alias: Option<u16>,
    payload: Vec<u8>,
}

const PUBLISH: u8 = 3;
const PUBACK: u8 = 4;
const PUBREC: u8 = 5;
const PUBREL: u8 = 6;
const PUBCOMP: u8 = 7;
const DISCONNECT: u8 = 14;

fn packet_type(packet: &[u8]) -> u8 {
    packet[0] >> 4
}

/// The variable header and payload of a whole packet.
fn body(packet: &[u8]) -> &[u8] {
    let (_, used) = varint(&packet[1..]).expect("remaining length");
    &packet[1 + used..]
}

fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// The properties starting at `body[at]` (MQTT 5.0 section 2.2.2), each as its identifier and
/// its value's bytes, and where they end.
fn wire_properties(body: &[u8], mut at: usize) -> (Vec<(u8, Vec<u8>)>, usize) {
    let (len, used) = varint(&body[at..]).expect("property length");
    at += used;
    let end = at + len as usize;
    let mut properties = Vec::new();
    while at < end {
        let id = body[at];
        at += 1;
        let size = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => 1,
            0x13 | 0x21 | 0x22 | 0x23 => 2,
            0x02 | 0x11 | 0x18 | 0x27 => 4,
            0x0B => varint(&body[at..]).expect("variable byte integer").1,
            0x03 | 0x08 | 0x09 | 0x12 | 0x15 | 0x16 | 0x1A | 0x1C | 0x1F => {
                2 + usize::from(u16_at(body, at))
            }
            0x26 => {
                let name = 2 + usize::from(u16_at(body, at));
                name + 2 + usize::from(u16_at(body, at + name))
            }
            other => panic!("unknown property 0x{other:02X} in {body:02x?}"),
        };
        properties.push((id, body[at..at + size].to_vec()));
        at += size;
    }
    assert_eq!(at, end, "properties overrun in {body:02x?}");
    (properties, end)
}

/// The properties of an MQTT 5.0 CONNECT (MQTT 5.0 section 3.1.2.11).
fn connect_properties(packet: &[u8]) -> Vec<(u8, Vec<u8>)> {
    assert_eq!(packet_type(packet), 1, "not CONNECT: {packet:02x?}");
    // Protocol Name "MQTT", Protocol Version, Connect Flags, Keep Alive.
    wire_properties(body(packet), 2 + 4 + 1 + 1 + 2).0
}

/// Decodes an MQTT 5.0 PUBLISH (MQTT 5.0 section 3.3); `None` for other packets.
fn wire_publish(packet: &[u8]) -> Option<WirePublish> {
    if packet_type(packet) != PUBLISH {
        return None;
    }
    let flags = packet[0] & 0x0F;
    let qos = (flags >> 1) & 3;
    let body = body(packet);
    let topic_len = usize::from(u16_at(body, 0));
    let topic = String::from_utf8(body[2..2 + topic_len].to_vec()).expect("UTF-8 topic");
    let mut at = 2 + topic_len;
    let id = (qos > 0).then(|| {
        at += 2;
        u16_at(body, at - 2)
    });
    let (properties, props_end) = wire_properties(body, at);
    let alias = properties
        .iter()
        .find(|(id, _)| *id == 0x23)
        .map(|(_, value)| u16_at(value, 0));
    Some(WirePublish {
        dup: flags & 8 != 0,
        qos,
        topic,
        id,
        alias,
        payload: body[props_end..].to_vec(),
    })
}

/// A PUBLISH our client sent, with the topic its alias stood for.
#[derive(Debug, Clone)]
struct Sent {
    connection: usize,
    topic: String,
    publish: WirePublish,
}

/// The PUBLISH packets our client sent through `tap`, each topic alias resolved with a table of
/// this connection's own ([MQTT-3.3.2-7] (MQTT 5.0): a mapping lasts only as long as its
/// connection), checking every alias is 1..=`maximum` ([MQTT-3.3.2-8], [MQTT-3.3.2-9] (MQTT
/// 5.0)) and set before it is used alone.
fn sent_publishes(tap: &Tap, maximum: u16) -> Vec<Sent> {
    let mut tables = std::collections::HashMap::new();
    let mut sent = Vec::new();
    for seen in tap.packets() {
        let Some(p) = wire_publish(&seen.bytes).filter(|_| seen.way == Way::ToBroker) else {
            continue;
        };
        let table = tables
            .entry(seen.connection)
            .or_insert_with(std::collections::HashMap::new);
        let topic = match p.alias {
            None => p.topic.clone(),
            Some(alias) => {
                assert!((1..=maximum).contains(&alias), "alias {alias}: {p:?}");
                if p.topic.is_empty() {
                    table.get(&alias).cloned().unwrap_or_else(|| {
                        panic!(
                            "alias {alias} used on connection {} before it was set there: {p:?}",
                            seen.connection
                        )
                    })
                } else {
                    table.insert(alias, p.topic.clone());
                    p.topic.clone()
                }
            }
        };
        sent.push(Sent {
            connection: seen.connection,
            topic,
            publish: p,
        });
    }
    sent
}

/// The reason code of a PUBACK, PUBREC, PUBREL or PUBCOMP (0x00 when left out, MQTT 5.0
/// section 3.4.2.1).
fn ack_reason(packet: &[u8]) -> u8 {
    body(packet).get(2).copied().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// 1. PUBLISH properties, both directions.

/// Our client's PUBLISH properties reach mosquitto_sub -V 5 unaltered: User Properties in
/// order, duplicates kept ([MQTT-3.3.2-17], [MQTT-3.3.2-18] (MQTT 5.0)), Content Type
/// ([MQTT-3.3.2-20] (MQTT 5.0)), Response Topic ([MQTT-3.3.2-15] (MQTT 5.0)), Correlation Data
/// ([MQTT-3.3.2-16] (MQTT 5.0)), Payload Format Indicator ([MQTT-3.3.2-4] (MQTT 5.0)) and the
/// Message Expiry Interval less the time the message waited ([MQTT-3.3.2-6] (MQTT 5.0)). A QoS
/// 1 publish nobody subscribed to is answered with 0x10 No matching subscribers.
#[test]
fn publish_properties_of_our_client_reach_mosquitto_sub() {
    let Some((broker, client)) = mosquitto_and_client() else {
        return;
    };
    let subscriber = ready_mosquitto_sub(
        &client,
        broker.port,
        ("props/#", "props/ready"),
        "%t|%p|%P|%C|%R|%E|%D|%F",
        2,
    );
    let full = PublishOptions::new()
        .user_property("b", "2")
        .user_property("a", "1")
        .user_property("b", "3")
        .content_type("text/plain; charset=utf-8")
        .response_topic("reply/to/us")
        .correlation_data(b"corr-42")
        .payload_is_utf8(true)
        .message_expiry(60);
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let code = client
            .publish_ex("props/x", b"hello v5", qos, false, &full)
            .expect("publish with properties");
        assert_eq!(code, ReasonCode::SUCCESS);
    }
    let lines = subscriber.finish_ok(PEER_TIMEOUT);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 8, "{line:?}");
        assert_eq!(
            [fields[0], fields[1], fields[2], fields[3], fields[4]],
            [
                "props/x",
                "hello v5",
                "b:2 a:1 b:3",
                "text/plain; charset=utf-8",
                "reply/to/us"
            ],
            "{line:?}"
        );
        let expiry: u32 = fields[5].parse().expect("expiry");
        assert!((55..=60).contains(&expiry), "expiry {expiry} in {line:?}");
        assert_eq!([fields[6], fields[7]], ["corr-42", "1"], "{line:?}");
    }
    assert_eq!(
        client
            .publish_ex("nobody/listens", b"x", QoS::AtLeastOnce, false, &full)
            .expect("publish without subscribers"),
        ReasonCode::NO_MATCHING_SUBSCRIBERS
    );
    client.disconnect().unwrap();
}

/// mosquitto_pub -V 5 -D publish ..., at QoS 1 and 2, reaches our subscriber's
/// `Message::properties` with every property unaltered and the User Properties in order,
/// duplicate names included ([MQTT-3.3.2-4], [MQTT-3.3.2-6], [MQTT-3.3.2-15] to
/// [MQTT-3.3.2-18], [MQTT-3.3.2-20] (MQTT 5.0)); no Subscription Identifier when the
/// subscription has none, no Topic Alias shown.
#[test]
fn publish_properties_of_mosquitto_pub_reach_our_client() {
    let Some((broker, client)) = mosquitto_and_client() else {
        return;
    };
    let inbox = subscribe_plain(&client, "props/#", QoS::ExactlyOnce);
    let properties: Vec<&str> = [
        ["user-property", "k1", "v1"].as_slice(),
        &["user-property", "k2", "v2"],
        &["user-property", "k1", "v3"],
        &["content-type", "application/x-test"],
        &["response-topic", "answers/here"],
        &["correlation-data", "corr-7"],
        &["payload-format-indicator", "1"],
        &["message-expiry-interval", "30"],
    ]
    .iter()
    .flat_map(|p| ["-D", "publish"].iter().chain(p.iter()))
    .copied()
    .collect();
    for (qos, arg) in [(QoS::AtLeastOnce, "1"), (QoS::ExactlyOnce, "2")] {
        let mut args = vec!["-q", arg, "-t", "props/in", "-m", "from mosquitto_pub"];
        args.extend(&properties);
        mosquitto_pub(broker.port, &args);
        let m = next(&inbox);
        assert_eq!(m.topic, "props/in");
        assert_eq!(m.payload, b"from mosquitto_pub");
        assert_eq!((m.qos, m.retain, m.dup), (qos, false, false));
        assert_eq!(
            user_properties(&m),
            pairs(&[("k1", "v1"), ("k2", "v2"), ("k1", "v3")])
        );
        let p = &m.properties;
        assert_eq!(
            p.string(PropertyId::ContentType),
            Some("application/x-test")
        );
        assert_eq!(m.as_message().response_topic(), Some("answers/here"));
        assert_eq!(m.as_message().correlation_data(), Some(&b"corr-7"[..]));
        assert_eq!(p.integer(PropertyId::PayloadFormatIndicator), Some(1));
        let expiry = p
            .integer(PropertyId::MessageExpiryInterval)
            .expect("message expiry");
        assert!((25..=30).contains(&expiry), "expiry {expiry}");
        assert_eq!(p.subscription_identifiers().count(), 0, "{p:?}");
        assert!(p.get(PropertyId::TopicAlias).is_none(), "{p:?}");
    }
    expect_nothing(&inbox);
    client.disconnect().unwrap();
}

// ---------------------------------------------------------------------------------------------
// 2. Subscription options.

/// No Local: what our client publishes is not sent back to it on a No Local subscription
/// ([MQTT-3.8.3-3] (MQTT 5.0)), while another client (mosquitto_sub) gets it, and a message
/// from someone else (mosquitto_pub) still reaches our client.
#[test]
fn no_local_keeps_our_own_messages_from_us() {
    let Some((broker, helper)) = mosquitto_and_client() else {
        return;
    };
    let watcher = ready_mosquitto_sub(&helper, broker.port, ("nl/#", "nl/ready"), "%t|%p", 2);
    let me = connect(broker.port, &options());
    // Retain Handling 2 keeps the retained marker away; No Local is what is tested.
    let inbox = subscribe_ok(
        &me,
        "nl/#",
        QoS::AtLeastOnce,
        &SubscribeOptions::new().no_local(true).retain_handling(2),
    );
    me.publish("nl/own", b"mine", QoS::AtLeastOnce, false)
        .unwrap();
    mosquitto_pub(broker.port, &["-q", "1", "-t", "nl/theirs", "-m", "theirs"]);
    let m = next(&inbox);
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("nl/theirs", &b"theirs"[..])
    );
    expect_nothing(&inbox);
    assert_eq!(
        watcher.finish_ok(PEER_TIMEOUT),
        ["nl/own|mine", "nl/theirs|theirs"]
    );
    me.disconnect().unwrap();
    helper.disconnect().unwrap();
}

/// Retain Handling with a message mosquitto_pub retained: 0 sends it on every subscribe
/// ([MQTT-3.3.1-9] (MQTT 5.0)), 1 only when the subscription is new ([MQTT-3.3.1-10] (MQTT
/// 5.0)), 2 never ([MQTT-3.3.1-11] (MQTT 5.0)); retained messages sent on subscribe carry
/// RETAIN 1. Live messages reach every subscription.
#[test]
fn retain_handling_0_1_2() {
    let Some(broker) = mosquitto("") else { return };
    mosquitto_pub(broker.port, &["-r", "-q", "1", "-t", "rh/t", "-m", "kept"]);
    let retained = |m: &OwnedMessage| {
        assert_eq!(
            (m.topic.as_str(), &m.payload[..], m.retain),
            ("rh/t", &b"kept"[..], true),
            "{m:?}"
        );
    };

    let always = connect(broker.port, &options());
    let rh0 = SubscribeOptions::new().retain_handling(0);
    let inbox0 = subscribe_ok(&always, "rh/t", QoS::AtLeastOnce, &rh0);
    retained(&next(&inbox0));
    expect_nothing(&inbox0);
    let inbox0 = subscribe_ok(&always, "rh/t", QoS::AtLeastOnce, &rh0);
    retained(&next(&inbox0));
    expect_nothing(&inbox0);

    let if_new = connect(broker.port, &options());
    let rh1 = SubscribeOptions::new().retain_handling(1);
    let inbox1 = subscribe_ok(&if_new, "rh/t", QoS::AtLeastOnce, &rh1);
    retained(&next(&inbox1));
    expect_nothing(&inbox1);
    let inbox1 = subscribe_ok(&if_new, "rh/t", QoS::AtLeastOnce, &rh1);
    expect_nothing(&inbox1);

    let never = connect(broker.port, &options());
    let rh2 = SubscribeOptions::new().retain_handling(2);
    let inbox2 = subscribe_ok(&never, "rh/t", QoS::AtLeastOnce, &rh2);
    expect_nothing(&inbox2);

    mosquitto_pub(broker.port, &["-q", "1", "-t", "rh/t", "-m", "live"]);
    for inbox in [&inbox0, &inbox1, &inbox2] {
        let m = next(inbox);
        assert_eq!((&m.payload[..], m.retain), (&b"live"[..], false), "{m:?}");
        expect_nothing(inbox);
    }
    for client in [always, if_new, never] {
        client.disconnect().unwrap();
    }
}

/// Retain As Published: a message mosquitto_pub publishes retained reaches a subscription with
/// Retain As Published 1 with RETAIN 1 ([MQTT-3.3.1-13] (MQTT 5.0)), and one with 0 with
/// RETAIN 0 ([MQTT-3.3.1-12] (MQTT 5.0)); a non-retained one arrives with RETAIN 0 on both.
#[test]
fn retain_as_published() {
    let Some((broker, keeps)) = mosquitto_and_client() else {
        return;
    };
    let clears = connect(broker.port, &options());
    let kept = subscribe_ok(
        &keeps,
        "rap/#",
        QoS::AtLeastOnce,
        &SubscribeOptions::new().retain_as_published(true),
    );
    let cleared = subscribe_ok(&clears, "rap/#", QoS::AtLeastOnce, &SubscribeOptions::new());
    mosquitto_pub(broker.port, &["-r", "-q", "1", "-t", "rap/x", "-m", "r"]);
    mosquitto_pub(broker.port, &["-q", "1", "-t", "rap/x", "-m", "plain"]);
    for (inbox, retain) in [(&kept, true), (&cleared, false)] {
        let m = next(inbox);
        assert_eq!((&m.payload[..], m.retain), (&b"r"[..], retain), "{m:?}");
        let m = next(inbox);
        assert_eq!((&m.payload[..], m.retain), (&b"plain"[..], false), "{m:?}");
        expect_nothing(inbox);
    }
    keeps.disconnect().unwrap();
    clears.disconnect().unwrap();
}

// ---------------------------------------------------------------------------------------------
// 3. Subscription Identifiers.

/// Two overlapping subscriptions of our client with Subscription Identifiers 1 and 2: a
/// message matching both reaches our client carrying both identifiers ([MQTT-3.3.4-3] (MQTT
/// 5.0)). mosquitto 2.0.11 sends one copy per matching subscription, each with the identifier
/// of its subscription ([MQTT-3.3.4-5] (MQTT 5.0)), rather than a single copy with both
/// ([MQTT-3.3.4-4] (MQTT 5.0)); our client delivers both copies with their identifiers. A
/// message matching one subscription carries only its identifier; after unsubscribing (UNSUBACK
/// 0x00) only the remaining identifier is sent, and unsubscribing again is answered with 0x11
/// No subscription existed.
#[test]
fn subscription_identifiers_of_overlapping_subscriptions() {
    let Some((broker, client)) = mosquitto_and_client() else {
        return;
    };
    let (callback, inbox) = forwarding();
    let wide = SubscribeOptions::new().subscription_identifier(1);
    let narrow = SubscribeOptions::new().subscription_identifier(2);
    let codes = client
        .subscribe_ex(&[("sid/#", QoS::AtLeastOnce)], &wide, Arc::clone(&callback))
        .unwrap();
    assert_eq!(codes, [ReasonCode::GRANTED_QOS_1]);
    let codes = client
        .subscribe_ex(&[("sid/+/x", QoS::AtLeastOnce)], &narrow, callback)
        .unwrap();
    assert_eq!(codes, [ReasonCode::GRANTED_QOS_1]);

    // Every copy that arrives within the quiet period, with its identifiers.
    let copies = |topic: &str| -> Vec<Vec<u32>> {
        mosquitto_pub(broker.port, &["-q", "1", "-t", topic, "-m", topic]);
        let mut copies = vec![next(&inbox)];
        while let Ok(m) = inbox.recv_timeout(QUIET) {
            copies.push(m);
        }
        copies
            .iter()
            .map(|m| {
                assert_eq!(
                    (m.topic.as_str(), &m.payload[..]),
                    (topic, topic.as_bytes())
                );
                m.properties.subscription_identifiers().collect()
            })
            .collect()
    };

    let mut both = copies("sid/a/x");
    let union: BTreeSet<u32> = both.iter().flatten().copied().collect();
    assert_eq!(union, BTreeSet::from([1, 2]), "copies {both:?}");
    // mosquitto 2.0.11: one copy per subscription (in no particular order). A single copy with
    // both identifiers would be as conformant; update this line if mosquitto changes to it.
    both.sort();
    assert_eq!(
        both,
        [vec![1], vec![2]],
        "mosquitto 2.0.11 sends a copy each"
    );
    assert_eq!(copies("sid/a/y"), [vec![1]]);

    assert_eq!(client.unsubscribe("sid/+/x").unwrap(), ReasonCode::SUCCESS);
    assert_eq!(copies("sid/a/x"), [vec![1]]);
    match client.unsubscribe("sid/+/x") {
        Ok(code) => assert_eq!(code, ReasonCode::NO_SUBSCRIPTION_EXISTED),
        Err(e) => panic!("unsubscribing again: {e}"),
    }
    client.disconnect().unwrap();
}

/// After `reconnect` without a session (Session Expiry Interval 0), our client subscribes again
/// by itself with the MQTT 5.0 options and identifier of the original subscription: mosquitto
/// then applies No Local ([MQTT-3.8.3-3] (MQTT 5.0)), Retain Handling 2 (no retained message,
/// [MQTT-3.3.1-11] (MQTT 5.0)) and Retain As Published ([MQTT-3.3.1-13] (MQTT 5.0)), and sends
/// the Subscription Identifier with each message ([MQTT-3.3.4-3] (MQTT 5.0)).
#[test]
fn resubscription_after_reconnect_keeps_v5_options() {
    let Some(broker) = mosquitto("") else { return };
    mosquitto_pub(
        broker.port,
        &["-r", "-q", "1", "-t", "rs/kept", "-m", "old"],
    );
    let client = connect(broker.port, &options());
    let inbox = subscribe_ok(
        &client,
        "rs/#",
        QoS::AtLeastOnce,
        &SubscribeOptions::new()
            .no_local(true)
            .retain_handling(2)
            .retain_as_published(true)
            .subscription_identifier(7),
    );
    expect_nothing(&inbox);
    client.reconnect().expect("reconnect");
    assert!(!client.session_present());
    // The SUBSCRIBE goes out first thing on the new connection: after a PINGRESP, mosquitto
    // has handled it.
    client.ping().unwrap();
    client
        .publish("rs/own", b"mine", QoS::AtLeastOnce, false)
        .unwrap();
    mosquitto_pub(
        broker.port,
        &["-r", "-q", "1", "-t", "rs/x", "-m", "theirs"],
    );
    let m = next(&inbox);
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.retain),
        ("rs/x", &b"theirs"[..], true)
    );
    assert_eq!(
        m.properties.subscription_identifiers().collect::<Vec<_>>(),
        [7]
    );
    expect_nothing(&inbox);
    client.disconnect().unwrap();
}

// ---------------------------------------------------------------------------------------------
// 4. Topic aliases.

/// With `max_topic_alias 10` mosquitto announces Topic Alias Maximum 10 in CONNACK. Our client
/// publishes 15 topics round-robin, three rounds, each twice in a row, at QoS 0, 1 and 2; the
/// tap shows it uses aliases on the wire: never 0 ([MQTT-3.3.2-8] (MQTT 5.0)) nor above 10
/// ([MQTT-3.3.2-9] (MQTT 5.0)), an empty topic name only with an alias set earlier on the
/// same connection ([MQTT-3.3.2-7] (MQTT 5.0)) — also after `reconnect` — every repeat by its
/// alias alone (as `publish_ex` documents), and the aliases resolve to the topics published.
/// mosquitto accepts every one ([MQTT-3.3.2-12] (MQTT 5.0)) and mosquitto_sub receives every
/// message with its full topic.
#[test]
fn topic_aliases_of_our_client_to_mosquitto() {
    let Some(broker) = mosquitto("max_topic_alias 10\n") else {
        return;
    };
    let helper = connect(broker.port, &options());
    let subscriber = ready_mosquitto_sub(
        &helper,
        broker.port,
        ("alias/#", "alias/ready"),
        "%t|%p",
        96,
    );
    let tap = Tap::start(broker.port);
    let client = connect(tap.port, &options());
    assert_eq!(
        client
            .connack()
            .properties
            .integer(PropertyId::TopicAliasMaximum),
        Some(10)
    );
    let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
    let mut sent = Vec::new();
    let mut expected = BTreeSet::new();
    // 15 topics round-robin, more than the 10 aliases (every alias is taken over by another
    // topic in turn), each published twice in a row (the second time by its alias alone).
    for round in 0..3 {
        for t in 0..15 {
            let topic = format!("alias/topic/number/{t}");
            for twice in 0..2 {
                let payload = format!("{round}-{t}-{twice}");
                client
                    .publish_ex(
                        &topic,
                        payload.as_bytes(),
                        qos[(round + t + twice) % 3],
                        false,
                        &PublishOptions::new(),
                    )
                    .unwrap();
                expected.insert(format!("{topic}|{payload}"));
                sent.push((topic.clone(), payload));
            }
        }
    }
    // A new connection starts without aliases: the first PUBLISH of each topic names it again.
    client.reconnect().expect("reconnect");
    for t in 0..3 {
        let topic = format!("alias/topic/number/{t}");
        for twice in 0..2 {
            let payload = format!("again-{t}-{twice}");
            client
                .publish(&topic, payload.as_bytes(), QoS::AtLeastOnce, false)
                .unwrap();
            expected.insert(format!("{topic}|{payload}"));
            sent.push((topic.clone(), payload));
        }
    }
    let lines: BTreeSet<String> = subscriber.finish_ok(PEER_TIMEOUT).into_iter().collect();
    assert_eq!(lines, expected);
    assert!(client.is_connected(), "{:?}", client.close_reason());
    client.disconnect().unwrap();

    let wire = sent_publishes(&tap, 10);
    let resolved: Vec<(String, String)> = wire
        .iter()
        .map(|s| {
            let payload = String::from_utf8(s.publish.payload.clone()).unwrap();
            (s.topic.clone(), payload)
        })
        .collect();
    assert_eq!(resolved, sent);
    let by_alias = |connection: usize| {
        wire.iter()
            .filter(|s| s.connection == connection && s.publish.topic.is_empty())
            .count()
    };
    assert_eq!(by_alias(0), 45, "repeats sent by their alias alone");
    assert_eq!(by_alias(1), 3, "repeats after the reconnect");
    helper.disconnect().unwrap();
}

/// Server→client topic aliases: mosquitto 2.0.11 never sends any, even to a client announcing
/// Topic Alias Maximum 10 (the tap sees every PUBLISH to our client with its full topic and no
/// Topic Alias), so no peer here can exercise our client's incoming alias table — our own
/// broker's tests do that. What can be checked: a paho v5 publisher that names its topic by an
/// alias (set in the first PUBLISH, alone in the next two) reaches our subscriber with the full
/// topic every time, and no Topic Alias property reaches the application.
#[test]
fn paho_publisher_with_topic_aliases_reaches_our_subscriber() {
    let Some(broker) = mosquitto("") else { return };
    if !paho_present() {
        return;
    }
    let tap = Tap::start(broker.port);
    let client = connect(tap.port, &options().topic_alias_maximum(10));
    let inbox = subscribe_plain(&client, "paho/alias/#", QoS::AtLeastOnce);
    let publisher = paho(
        broker.port,
        &[
            "publish",
            "--topic",
            "paho/alias/a/rather/long/topic",
            "--payload",
            "aliased",
            "--alias",
            "3",
            "--repeat",
            "3",
        ],
    )
    .unwrap();
    publisher.finish_ok(PEER_TIMEOUT);
    for _ in 0..3 {
        let m = next(&inbox);
        assert_eq!(
            (m.topic.as_str(), &m.payload[..]),
            ("paho/alias/a/rather/long/topic", &b"aliased"[..])
        );
        assert!(m.properties.get(PropertyId::TopicAlias).is_none());
    }
    expect_nothing(&inbox);
    client.disconnect().unwrap();
    let to_client: Vec<WirePublish> = tap
        .packets()
        .into_iter()
        .filter(|seen| seen.way == Way::ToClient)
        .filter_map(|seen| wire_publish(&seen.bytes))
        .collect();
    assert_eq!(to_client.len(), 3, "{to_client:?}");
    for p in &to_client {
        assert_eq!(
            (p.topic.as_str(), p.alias),
            ("paho/alias/a/rather/long/topic", None),
            "mosquitto now sends topic aliases: extend this test to check them"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Flow control.

/// mosquitto with `max_inflight_messages 2` announces Receive Maximum 2 in CONNACK. Our client
/// pipelines 30 QoS 1 and 20 QoS 2 messages with `publish_async`: every one is acknowledged
/// with 0x00 and delivered, in order, to mosquitto_sub, the connection stays up, and the tap
/// never sees more than 2 QoS 1/2 PUBLISH packets without their PUBACK or PUBCOMP
/// ([MQTT-3.3.4-7], [MQTT-4.9.0-2] (MQTT 5.0)), nor any re-sent (DUP). (The tap counts an
/// acknowledgement when it passes, a little before our client reads it, so its count can
/// only be lower than our client's: an overrun of one may slip through, a systematic one not.)
///
/// The tap is the evidence for QoS 1: mosquitto 2.0.11 does not police the window at all for
/// QoS 1 (it answers a burst of 5 unacknowledged QoS 1 PUBLISH packets with 5 PUBACKs) and
/// never disconnects with 0x93 Receive Maximum exceeded; for QoS 2 it answers a PUBLISH beyond
/// the window with PUBREC 0x97 Quota exceeded (checked by hand with a raw socket), which would
/// fail `wait_published` here with `PublishRefused`.
#[test]
fn receive_maximum_of_mosquitto_is_respected() {
    let Some(broker) = mosquitto("max_inflight_messages 2\n") else {
        return;
    };
    let helper = connect(broker.port, &options());
    let subscriber =
        ready_mosquitto_sub(&helper, broker.port, ("flow/#", "flow/ready"), "%t|%p", 50);
    let tap = Tap::start(broker.port);
    let client = connect(tap.port, &options());
    assert_eq!(
        client
            .connack()
            .properties
            .integer(PropertyId::ReceiveMaximum),
        Some(2)
    );
    let mut ids = Vec::new();
    let mut expected = Vec::new();
    for n in 0..50 {
        let qos = if n < 30 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        let payload = format!("m{n}");
        let id = client
            .publish_async("flow/x", payload.as_bytes(), qos, false)
            .expect("publish_async")
            .expect("a packet identifier");
        ids.push(id);
        expected.push(format!("flow/x|{payload}"));
    }
    for id in ids {
        assert_eq!(
            client.wait_published(id, Some(WAIT)).expect("acknowledged"),
            ReasonCode::SUCCESS
        );
    }
    assert_eq!(subscriber.finish_ok(PEER_TIMEOUT), expected);
    assert!(client.is_connected(), "{:?}", client.close_reason());
    client.disconnect().unwrap();

    let (mut inflight, mut most, mut published) = (0i32, 0i32, 0);
    for Seen {
        way, bytes: packet, ..
    } in tap.packets()
    {
        match (way, packet_type(&packet)) {
            (Way::ToBroker, PUBLISH) => {
                let p = wire_publish(&packet).unwrap();
                assert!(!p.dup, "re-sent: {p:?}");
                if p.qos > 0 {
                    published += 1;
                    inflight += 1;
                    most = most.max(inflight);
                }
            }
            (Way::ToClient, PUBACK | PUBCOMP) => inflight -= 1,
            (Way::ToClient, PUBREC) if ack_reason(&packet) >= 0x80 => inflight -= 1,
            _ => {}
        }
    }
    assert_eq!(published, 50);
    assert_eq!(inflight, 0);
    assert!(most <= 2, "{most} publishes in flight at once");
    helper.disconnect().unwrap();
}

/// The other way: our client announces Receive Maximum 2, and a burst of 40 QoS 1 then 20 QoS
/// 2 messages comes from mosquitto_pub. The server must not have more than 2 QoS 1/2 PUBLISH
/// packets to our client without PUBACK or PUBCOMP ([MQTT-3.3.4-9] (MQTT 5.0)), and a client
/// receiving more than that without having answered them disconnects with 0x93 Receive Maximum
/// exceeded (MQTT 5.0 sections 3.3.4 and 4.9).
///
/// mosquitto 2.0.11 does not keep to the window once acknowledgements flow: the tap sees up to
/// ~20 QoS 1 PUBLISH packets to our client without PUBACK, and for QoS 2 it sends the next
/// PUBLISH after PUBREC, before PUBCOMP (an independent raw-socket client announcing Receive
/// Maximum 2 sees 8 to 10 unanswered PUBLISH packets at once too). Our client counts a QoS 2
/// message against its Receive Maximum until PUBREC (not PUBCOMP), which bounds what it holds
/// and keeps it connected to mosquitto: every message of the burst arrives, in order, and the
/// connection stays up.
#[test]
fn our_receive_maximum_against_mosquitto() {
    let Some(broker) = mosquitto("") else { return };
    let tap = Tap::start(broker.port);
    let client = connect(tap.port, &options().receive_maximum(2));
    let inbox = subscribe_plain(&client, "burst/#", QoS::ExactlyOnce);
    let mut expected = Vec::new();
    for (qos, count) in [("1", 40), ("2", 20)] {
        let topic = format!("burst/{qos}");
        let bodies: Vec<String> = (0..count).map(|n| format!("q{qos}-{n}")).collect();
        let mut command = tool("mosquitto_pub", broker.port);
        command.args(["-q", qos, "-t", &topic, "-l"]);
        let mut publisher = PeerProcess::spawn(command, true);
        publisher.feed_stdin(format!("{}\n", bodies.join("\n")).as_bytes());
        publisher.finish_ok(PEER_TIMEOUT);
        expected.extend(bodies.into_iter().map(|b| (topic.clone(), b)));
    }
    let mut received: Vec<(String, String)> = Vec::new();
    let deadline = Instant::now() + WAIT * 2;
    while received.len() < expected.len() && Instant::now() < deadline {
        match inbox.recv_timeout(QUIET) {
            Ok(m) => received.push((m.topic, String::from_utf8(m.payload).unwrap())),
            Err(_) if !client.is_connected() => break,
            Err(_) => {}
        }
    }
    let closed = client.close_reason();
    let _ = client.disconnect();

    // Unanswered QoS 1/2 PUBLISH packets to our client, as the tap saw them: an upper bound of
    // what our client saw, since its answers were recorded on their way to mosquitto.
    let packets = tap.packets();
    assert!(
        connect_properties(&packets[0].bytes).contains(&(0x21, vec![0, 2])),
        "CONNECT without Receive Maximum 2"
    );
    // What our client counts against its Receive Maximum: QoS 1/2 PUBLISH packets it has not
    // answered yet (PUBACK, or PUBREC for QoS 2; see `Session::incoming_unacknowledged`).
    let (mut unanswered, mut most) = (0i32, 0i32);
    for Seen {
        way, bytes: packet, ..
    } in packets
    {
        match (way, packet_type(&packet)) {
            (Way::ToClient, PUBLISH) if wire_publish(&packet).unwrap().qos > 0 => {
                unanswered += 1;
                most = most.max(unanswered);
            }
            (Way::ToBroker, PUBACK | PUBREC) => unanswered -= 1,
            (Way::ToBroker, DISCONNECT) => {
                let reason = body(&packet).first().copied().unwrap_or(0);
                assert_eq!(
                    reason, 0,
                    "our client refused the burst; closed: {closed:?}"
                );
                break;
            }
            _ => {}
        }
    }
    assert_eq!(received, expected, "every message, in order");
    assert_eq!(closed, None);
    eprintln!("mosquitto had up to {most} PUBLISH packets unanswered by our client in flight");
}

/// Server Keep Alive: mosquitto with `max_keepalive 10` answers our client's Keep Alive of 60 s
/// with Server Keep Alive 10 in CONNACK, which the client must use instead of its own
/// ([MQTT-3.2.2-21] (MQTT 5.0)): idle, it sends PINGREQ within 10 s of its last packet (the
/// tap sees it; mosquitto would close the connection after 15 s without one), and the
/// connection stays up. (mosquitto refuses a `max_keepalive` below 10, hence the 10 s wait.)
#[test]
fn server_keep_alive_of_mosquitto_is_used() {
    const PINGREQ: u8 = 12;
    let Some(broker) = mosquitto("max_keepalive 10\n") else {
        return;
    };
    let tap = Tap::start(broker.port);
    let client = connect(tap.port, &options().keep_alive(Duration::from_secs(60)));
    let connected_at = Instant::now();
    assert_eq!(
        client
            .connack()
            .properties
            .integer(PropertyId::ServerKeepAlive),
        Some(10)
    );
    // The SUBSCRIBE is the last packet before the idle period.
    subscribe_ok(&client, "ka/#", QoS::AtLeastOnce, &SubscribeOptions::new());
    let idle_from = Instant::now();
    let deadline = connected_at + Duration::from_secs(13);
    loop {
        let pinged = tap
            .packets()
            .iter()
            .any(|s| s.way == Way::ToBroker && packet_type(&s.bytes) == PINGREQ);
        if pinged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no PINGREQ {:?} after the last packet; Server Keep Alive 10 ignored?",
            idle_from.elapsed()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let waited = idle_from.elapsed();
    assert!(
        // 10 s, and scheduling slack on a busy machine.
        waited <= Duration::from_secs(11),
        "PINGREQ after {waited:?}"
    );
    assert!(client.is_connected(), "{:?}", client.close_reason());
    client.ping().expect("PINGRESP");
    client.disconnect().unwrap();
}

// ---------------------------------------------------------------------------------------------
// 6. Maximum Packet Size.

/// Bytes of an MQTT 5.0 PUBLISH with a packet identifier and no properties.
fn publish_size(topic: &str, payload: usize) -> usize {
    let remaining = 2 + topic.len() + 2 + 1 + payload;
    let length_bytes = match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        _ => 3,
    };
    1 + length_bytes + remaining
}

/// mosquitto with `max_packet_size 1000` announces Maximum Packet Size 1000; our client refuses
/// locally to send a larger PUBLISH ([MQTT-3.2.2-15] (MQTT 5.0)) with `PacketTooLarge`, at
/// every QoS and for the first packet over the limit, sends one of exactly 1000 bytes (on a
/// topic it holds an alias for, and on a new one where assigning an alias would overflow), and
/// the connection stays usable. (mosquitto 2.0.11 itself counts a packet as 1 + Remaining
/// Length bytes, leaving out the length's own bytes: it lets 1001- and 1002-byte packets
/// through and disconnects with 0x95 from 1003 bytes on, checked with a raw socket. So the
/// 1001-byte refusal is checked on our side, and the 1003-byte PUBLISH that a new alias would
/// make is one mosquitto would refuse.) The other way, our client announcing Maximum Packet
/// Size 600 is not sent mosquitto_pub's 700-byte message ([MQTT-3.1.2-24], [MQTT-3.1.2-25]
/// (MQTT 5.0)) and stays connected for the next one.
#[test]
fn maximum_packet_size_of_mosquitto() {
    let Some(broker) = mosquitto("max_packet_size 1000\n") else {
        return;
    };
    let watcher = connect(broker.port, &options());
    let inbox = subscribe_plain(&watcher, "mps/#", QoS::AtLeastOnce);
    let client = connect(broker.port, &options());
    assert_eq!(
        client
            .connack()
            .properties
            .integer(PropertyId::MaximumPacketSize),
        Some(1000)
    );
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        match client.publish("mps/big", &[7u8; 2000], qos, false) {
            Err(ClientError::PacketTooLarge { size, maximum }) => {
                assert!(size > 2000, "{size}");
                assert_eq!(maximum, 1000);
            }
            other => panic!("2000-byte publish at {qos:?}: {other:?}"),
        }
    }
    let exact = (0..1000)
        .find(|&n| publish_size("mps/t", n) == 1000)
        .unwrap();
    match client.publish("mps/t", &vec![1u8; exact + 1], QoS::AtLeastOnce, false) {
        Err(ClientError::PacketTooLarge { size, maximum }) => {
            assert_eq!((size, maximum), (1001, 1000));
        }
        other => panic!("1001-byte publish: {other:?}"),
    }
    // "mps/t" gets an alias with a small message first; "mps/u" is new, so its first
    // PUBLISH would carry the topic and a new alias, 3 bytes over.
    client
        .publish("mps/t", b"small", QoS::AtLeastOnce, false)
        .unwrap();
    client
        .publish("mps/t", &vec![2u8; exact], QoS::AtLeastOnce, false)
        .expect("a 1000-byte publish on an aliased topic");
    client
        .publish("mps/u", &vec![3u8; exact], QoS::AtLeastOnce, false)
        .expect("a 1000-byte publish on a new topic");
    for (topic, payload) in [
        ("mps/t", b"small".to_vec()),
        ("mps/t", vec![2u8; exact]),
        ("mps/u", vec![3u8; exact]),
    ] {
        let m = next(&inbox);
        assert_eq!((m.topic.as_str(), &m.payload[..]), (topic, &payload[..]));
    }
    assert!(client.is_connected(), "{:?}", client.close_reason());
    expect_nothing(&inbox);

    let mut small = options();
    small.max_packet_size = 600;
    let limited = connect(broker.port, &small);
    let limited_inbox = subscribe_plain(&limited, "mps/#", QoS::AtLeastOnce);
    let big = "x".repeat(700);
    mosquitto_pub(broker.port, &["-q", "1", "-t", "mps/in", "-m", &big]);
    mosquitto_pub(broker.port, &["-q", "1", "-t", "mps/in", "-m", "fits"]);
    let m = next(&limited_inbox);
    assert_eq!(m.payload, b"fits");
    expect_nothing(&limited_inbox);
    assert!(limited.is_connected(), "{:?}", limited.close_reason());
    // The watcher without a limit got both.
    assert_eq!(next(&inbox).payload, big.as_bytes());
    assert_eq!(next(&inbox).payload, b"fits");
    for c in [limited, client, watcher] {
        c.disconnect().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Session expiry.

/// Session Expiry Interval 60: after our client's connection ends — dropped without DISCONNECT,
/// or with DISCONNECT — mosquitto keeps the session ([MQTT-3.1.2-23] (MQTT 5.0)) and queues the
/// QoS 1 messages mosquitto_pub sends meanwhile. Reconnecting with Clean Start 0 (a new client,
/// or `Client::reconnect` of the same one) resumes it: Session Present 1 ([MQTT-3.1.2-5],
/// [MQTT-3.2.2-3] (MQTT 5.0)) and the queued messages arrive, in order. A DISCONNECT that sets
/// the Session Expiry Interval to 0 ends the session with the connection, and so does the
/// default interval 0: the next Clean Start 0 connect finds none ([MQTT-3.1.2-6] (MQTT 5.0)).
#[test]
fn session_expiry_keeps_the_session_across_reconnects() {
    let Some(broker) = mosquitto("") else { return };
    let queue = |topic: &str, bodies: &[&str]| {
        for body in bodies {
            mosquitto_pub(broker.port, &["-q", "1", "-t", topic, "-m", body]);
        }
    };

    // A new client after the first was dropped; the queued messages reach the default callback,
    // as the new client has subscribed to nothing.
    let persistent = options().client_id("v5-session-a").session_expiry(60);
    let first = connect(broker.port, &persistent);
    assert!(!first.session_present());
    subscribe_ok(&first, "sess/a", QoS::AtLeastOnce, &SubscribeOptions::new());
    drop(first);
    queue("sess/a", &["a0", "a1", "a2"]);
    let (tx, unrouted) = crossbeam_channel::unbounded();
    let resumed = connect(
        broker.port,
        &persistent
            .clone()
            .clean_session(false)
            .on_message(move |m| {
                let _ = tx.send(m.to_owned());
            }),
    );
    assert!(resumed.session_present());
    for body in ["a0", "a1", "a2"] {
        let m = next(&unrouted);
        assert_eq!(
            (m.topic.as_str(), &m.payload[..]),
            ("sess/a", body.as_bytes())
        );
    }
    expect_nothing(&unrouted);
    // Ends the session with this connection (MQTT 5.0 section 3.14.2.2.2 forbids only 0 → above
    // 0).
    resumed
        .disconnect_with(ReasonCode::NORMAL_DISCONNECTION, Some(0))
        .unwrap();
    queue("sess/a", &["lost"]);
    let after = connect(broker.port, &persistent.clone().clean_session(false));
    assert!(!after.session_present());
    after.disconnect().unwrap();

    // The same client: DISCONNECT, then reconnect, which resumes with Clean Start 0 whatever
    // the first connect asked; the filter's callback is still registered.
    let client = connect(
        broker.port,
        &options().client_id("v5-session-b").session_expiry(60),
    );
    let inbox = subscribe_plain(&client, "sess/b", QoS::AtLeastOnce);
    client.disconnect().unwrap();
    queue("sess/b", &["b0", "b1"]);
    client.reconnect().expect("reconnect");
    assert!(client.session_present());
    for body in ["b0", "b1"] {
        let m = next(&inbox);
        assert_eq!(
            (m.topic.as_str(), &m.payload[..]),
            ("sess/b", body.as_bytes())
        );
    }
    expect_nothing(&inbox);
    client
        .disconnect_with(ReasonCode::NORMAL_DISCONNECTION, Some(0))
        .unwrap();

    // Session Expiry Interval 0 (the default): nothing outlives the connection.
    let short = options().client_id("v5-session-c");
    let c = connect(broker.port, &short);
    subscribe_ok(&c, "sess/c", QoS::AtLeastOnce, &SubscribeOptions::new());
    c.disconnect().unwrap();
    queue("sess/c", &["gone"]);
    let (tx, unrouted) = crossbeam_channel::unbounded();
    let c = connect(
        broker.port,
        &short.clean_session(false).on_message(move |m| {
            let _ = tx.send(m.to_owned());
        }),
    );
    assert!(!c.session_present());
    expect_nothing(&unrouted);
    c.disconnect().unwrap();
}

/// Our client's persistent session (Session Expiry Interval 60) with QoS 1 and 2 publishes
/// whose acknowledgements are lost (the tap holds back everything mosquitto sends): `reconnect`
/// resumes the session (Session Present 1) and re-sends them in order, with DUP 1 and their
/// packet identifiers ([MQTT-4.4.0-1], [MQTT-3.3.1-1] (MQTT 5.0)), naming each topic in full
/// or by an alias set anew on the new connection: an alias of the old one means nothing there
/// ([MQTT-3.3.2-7] (MQTT 5.0)), although all three went by alias alone the first time.
/// Every waiter completes with 0x00; our subscriber gets the QoS 2 message exactly once
/// ([MQTT-4.3.3-10] (MQTT 5.0)) and each QoS 1 message at least once.
#[test]
fn unacknowledged_publishes_are_resent_after_reconnect() {
    let Some((broker, helper)) = mosquitto_and_client() else {
        return;
    };
    let seen = subscribe_plain(&helper, "resend/#", QoS::ExactlyOnce);
    let tap = Tap::start(broker.port);
    let client = connect(
        tap.port,
        &options().client_id("v5-resend").session_expiry(60),
    );
    // Aliases for both topics, so the publishes below go by alias alone.
    for topic in ["resend/q1", "resend/q2"] {
        client
            .publish(topic, b"warm", QoS::AtLeastOnce, false)
            .unwrap();
    }
    tap.hold_replies();
    let mut ids = Vec::new();
    for (topic, payload, qos) in [
        ("resend/q1", "one", QoS::AtLeastOnce),
        ("resend/q2", "two", QoS::ExactlyOnce),
        ("resend/q1", "three", QoS::AtLeastOnce),
    ] {
        let id = client
            .publish_async(topic, payload.as_bytes(), qos, false)
            .unwrap()
            .unwrap();
        ids.push((id, topic, payload));
    }
    // mosquitto has answered all three (PUBACK, PUBREC, PUBACK), and our client saw none.
    let deadline = Instant::now() + WAIT;
    loop {
        let replies = tap
            .packets()
            .iter()
            .filter(|s| s.way == Way::ToClient && matches!(packet_type(&s.bytes), PUBACK | PUBREC))
            .count();
        if replies >= 5 {
            break;
        }
        assert!(Instant::now() < deadline, "mosquitto did not answer");
        thread::sleep(Duration::from_millis(10));
    }
    client.reconnect().expect("reconnect");
    assert!(client.session_present());
    for (id, ..) in &ids {
        assert_eq!(
            client
                .wait_published(*id, Some(WAIT))
                .expect("acknowledged"),
            ReasonCode::SUCCESS
        );
    }
    assert!(client.is_connected(), "{:?}", client.close_reason());
    client
        .disconnect_with(ReasonCode::NORMAL_DISCONNECTION, Some(0))
        .unwrap();

    let wire = sent_publishes(&tap, 10);
    let first: Vec<&Sent> = wire.iter().filter(|s| s.connection == 0).collect();
    assert_eq!(first.len(), 5, "{first:?}");
    assert!(
        first[2..].iter().all(|s| s.publish.topic.is_empty()),
        "{first:?}"
    );
    let resent: Vec<&Sent> = wire.iter().filter(|s| s.connection == 1).collect();
    assert_eq!(resent.len(), 3, "{resent:?}");
    for (s, (id, topic, payload)) in resent.iter().zip(&ids) {
        assert!(s.publish.dup, "{s:?}");
        assert_eq!(s.publish.id, Some(id.get()), "{s:?}");
        assert_eq!(s.topic, *topic);
        assert_eq!(s.publish.payload, payload.as_bytes());
    }
    assert!(!resent[0].publish.topic.is_empty(), "{resent:?}");

    let mut got = Vec::new();
    while let Ok(m) = seen.recv_timeout(QUIET * 2) {
        got.push(String::from_utf8(m.payload).unwrap());
    }
    let count = |p: &str| got.iter().filter(|g| *g == p).count();
    assert_eq!(count("warm"), 2, "{got:?}");
    assert_eq!(count("two"), 1, "{got:?}");
    assert!(count("one") >= 1 && count("three") >= 1, "{got:?}");
    helper.disconnect().unwrap();
}

// ---------------------------------------------------------------------------------------------
// 8. paho-mqtt v5 as the other party.

/// A paho v5 publisher's properties reach our subscriber unaltered, User Properties in order
/// with a repeated name, binary Correlation Data included ([MQTT-3.3.2-4], [MQTT-3.3.2-6],
/// [MQTT-3.3.2-15] to [MQTT-3.3.2-18], [MQTT-3.3.2-20] (MQTT 5.0)).
#[test]
fn paho_v5_publisher_to_our_subscriber() {
    let Some(broker) = mosquitto("") else { return };
    if !paho_present() {
        return;
    }
    let client = connect(broker.port, &options());
    let inbox = subscribe_plain(&client, "paho/in/#", QoS::ExactlyOnce);
    let publisher = paho(
        broker.port,
        &[
            "publish",
            "--topic",
            "paho/in/x",
            "--payload",
            "{\"x\": 1}",
            "--user",
            "a=1",
            "--user",
            "b=2",
            "--user",
            "a=3",
            "--content-type",
            "application/json",
            "--response-topic",
            "paho/reply",
            "--correlation",
            "00ff10",
            "--expiry",
            "120",
            "--utf8",
        ],
    )
    .unwrap();
    publisher.finish_ok(PEER_TIMEOUT);
    let m = next(&inbox);
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.qos),
        ("paho/in/x", &b"{\"x\": 1}"[..], QoS::AtLeastOnce)
    );
    assert_eq!(
        user_properties(&m),
        pairs(&[("a", "1"), ("b", "2"), ("a", "3")])
    );
    let p = &m.properties;
    assert_eq!(p.string(PropertyId::ContentType), Some("application/json"));
    assert_eq!(m.as_message().response_topic(), Some("paho/reply"));
    assert_eq!(
        m.as_message().correlation_data(),
        Some(&[0x00, 0xff, 0x10][..])
    );
    assert_eq!(p.integer(PropertyId::PayloadFormatIndicator), Some(1));
    let expiry = p.integer(PropertyId::MessageExpiryInterval).unwrap();
    assert!((115..=120).contains(&expiry), "expiry {expiry}");
    expect_nothing(&inbox);
    client.disconnect().unwrap();
}

/// Our publisher's properties reach a paho v5 subscriber unaltered — including what
/// mosquitto_sub cannot show reliably: binary Correlation Data and the Payload Format
/// Indicator — at QoS 1 and 2 ([MQTT-3.3.2-4], [MQTT-3.3.2-16] to [MQTT-3.3.2-18] (MQTT 5.0)).
#[test]
fn our_publisher_to_paho_v5_subscriber() {
    let Some(broker) = mosquitto("") else { return };
    let Some(subscriber) = paho(
        broker.port,
        &[
            "subscribe",
            "--filter",
            "paho/out/#",
            "--qos",
            "2",
            "--count",
            "2",
        ],
    ) else {
        return;
    };
    assert_eq!(subscriber.expect_line(), "connected");
    assert_eq!(subscriber.expect_line(), "subscribed 2");
    let client = connect(broker.port, &options());
    let correlation = b"\x00\xff\x01corr";
    let full = PublishOptions::new()
        .user_property("z", "last?")
        .user_property("a", "first?")
        .user_property("z", "again")
        .content_type("text/plain")
        .response_topic("our/replies")
        .correlation_data(correlation)
        .payload_is_utf8(true)
        .message_expiry(90);
    client
        .publish_ex("paho/out/1", b"one", QoS::AtLeastOnce, false, &full)
        .unwrap();
    client
        .publish_ex(
            "paho/out/2",
            b"\x00\x01binary",
            QoS::ExactlyOnce,
            false,
            &PublishOptions::new().payload_is_utf8(false),
        )
        .unwrap();
    let first = subscriber.expect_line();
    assert_eq!(field(&first, "topic"), "paho/out/1");
    assert_eq!(field(&first, "payload"), hex(b"one"));
    assert_eq!(field(&first, "qos"), "1");
    assert_eq!(field(&first, "user"), "z=last?;a=first?;z=again");
    assert_eq!(field(&first, "content_type"), "text/plain");
    assert_eq!(field(&first, "response_topic"), "our/replies");
    assert_eq!(field(&first, "correlation"), hex(correlation));
    assert_eq!(field(&first, "payload_format"), "1");
    let expiry: u32 = field(&first, "expiry").parse().unwrap();
    assert!((85..=90).contains(&expiry), "expiry {expiry}");
    let second = subscriber.expect_line();
    assert_eq!(field(&second, "topic"), "paho/out/2");
    assert_eq!(field(&second, "payload"), hex(b"\x00\x01binary"));
    assert_eq!(field(&second, "qos"), "2");
    assert_eq!(field(&second, "payload_format"), "0");
    for absent in [
        "user",
        "content_type",
        "response_topic",
        "correlation",
        "expiry",
    ] {
        assert_eq!(field(&second, absent), "-", "{absent} in {second:?}");
    }
    assert_eq!(subscriber.finish_ok(PEER_TIMEOUT), ["done"]);
    client.disconnect().unwrap();
}

/// Request/response (MQTT 5.0 section 4.10): `Client::request` publishes with a Response Topic
/// and Correlation Data; a paho v5 responder answers on that topic with the same Correlation
/// Data, and `request` returns the answer, which no message callback sees. Two requests in a
/// row get their own answers (distinct Correlation Data, one response subscription).
#[test]
fn request_of_our_client_answered_by_paho_v5_responder() {
    let Some(broker) = mosquitto("") else { return };
    let Some(responder) = paho(
        broker.port,
        &["respond", "--filter", "svc/echo", "--count", "2"],
    ) else {
        return;
    };
    assert_eq!(responder.expect_line(), "connected");
    assert_eq!(responder.expect_line(), "subscribed 1");
    let (tx, unrouted) = crossbeam_channel::unbounded();
    let client = connect(
        broker.port,
        &options()
            .request_response_information(true)
            .on_message(move |m| {
                let _ = tx.send(m.to_owned());
            }),
    );
    // mosquitto 2.0.11 gives no Response Information even when asked; the client falls back
    // to a topic of its own.
    assert_eq!(
        client
            .connack()
            .properties
            .string(PropertyId::ResponseInformation),
        None
    );
    let response_topic = format!("libmqtt/response/{}", client.client_id());
    let mut correlations = Vec::new();
    for (n, payload) in ["ping", "second"].into_iter().enumerate() {
        let answer = client
            .request("svc/echo", payload.as_bytes(), QoS::AtLeastOnce, WAIT)
            .expect("an answer from the paho responder");
        assert_eq!(responder.expect_line(), format!("answered {n}"));
        assert_eq!(answer.payload, format!("re:{payload}").as_bytes());
        assert_eq!(answer.topic, response_topic);
        assert_eq!(user_properties(&answer), pairs(&[("responder", "paho")]));
        correlations.push(
            answer
                .as_message()
                .correlation_data()
                .expect("Correlation Data")
                .to_vec(),
        );
    }
    assert_ne!(correlations[0], correlations[1]);
    assert_eq!(responder.finish_ok(PEER_TIMEOUT), ["done"]);
    expect_nothing(&unrouted);
    client.disconnect().unwrap();
}

// ---------------------------------------------------------------------------------------------
// 9. Reason codes.

/// With an `acl_file` (anonymous clients: read-write on acl/open/#, read on acl/readonly/#,
/// write on acl/writeonly/#), mosquitto 2.0.11 answers a QoS 1 publish our client may not make
/// with PUBACK 0x87 Not authorized and a QoS 2 one with PUBREC 0x87: `PublishRefused` with code
/// 0x87 (MQTT 5.0 sections 3.4.2.1, 3.5.2.1); a QoS 0 one is dropped silently (there is nothing
/// to answer it with). The connection stays usable. An `acl_file` never refuses a SUBSCRIBE in
/// mosquitto 2.0.11: the filter is granted (0x01) and messages without read access are simply
/// not delivered — SUBACK 0x87 needs a plugin (see
/// [`dynamic_security_refusals_reach_our_client`]). The tap shows our client sends no PUBREL
/// after PUBREC 0x87 (MQTT 5.0 section 4.3.3: PUBREL answers a PUBREC below 0x80 only).
#[test]
fn acl_file_refusals_reach_our_client() {
    let config = ConfigDir::new();
    let acl = config.file(
        "acl",
        "topic readwrite acl/open/#\ntopic read acl/readonly/#\ntopic write acl/writeonly/#\n",
    );
    let Some(broker) = mosquitto(&format!("acl_file {}\n", acl.display())) else {
        return;
    };
    let tap = Tap::start(broker.port);
    let client = connect(tap.port, &options());
    let open = subscribe_plain(&client, "acl/open/#", QoS::AtLeastOnce);
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        match client.publish("acl/readonly/x", b"denied", qos, false) {
            Err(ClientError::PublishRefused(reason)) => {
                assert_eq!(reason.code, ReasonCode::NOT_AUTHORIZED, "{reason}");
            }
            other => panic!("denied publish at {qos:?}: {other:?}"),
        }
    }
    client
        .publish("acl/readonly/x", b"dropped", QoS::AtMostOnce, false)
        .expect("a QoS 0 publish is not answered");
    assert!(client.is_connected(), "{:?}", client.close_reason());
    client
        .publish("acl/open/x", b"allowed", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(next(&open).payload, b"allowed");

    let (code, write_only) = subscribe(
        &client,
        "acl/writeonly/#",
        QoS::AtLeastOnce,
        &SubscribeOptions::new(),
    );
    assert_eq!(
        code,
        ReasonCode::GRANTED_QOS_1,
        "mosquitto 2.0.11 grants it"
    );
    mosquitto_pub(
        broker.port,
        &["-q", "1", "-t", "acl/writeonly/x", "-m", "hidden"],
    );
    expect_nothing(&write_only);
    expect_nothing(&open);
    client.disconnect().unwrap();

    // PUBREC 0x87 ends the QoS 2 flow: no PUBREL follows (MQTT 5.0 section 4.3.3: PUBREL
    // answers only a PUBREC below 0x80).
    let packets = tap.packets();
    let refused: Vec<u16> = packets
        .iter()
        .filter(|s| s.way == Way::ToClient && packet_type(&s.bytes) == PUBREC)
        .map(|s| {
            assert_eq!(ack_reason(&s.bytes), 0x87, "{:02x?}", s.bytes);
            u16_at(body(&s.bytes), 0)
        })
        .collect();
    assert_eq!(refused.len(), 1, "{packets:?}");
    let pubrels: Vec<&Seen> = packets
        .iter()
        .filter(|s| s.way == Way::ToBroker && packet_type(&s.bytes) == PUBREL)
        .collect();
    assert!(pubrels.is_empty(), "PUBREL after PUBREC 0x87: {pubrels:?}");
}

/// With mosquitto's dynamic security plugin and a role for anonymous clients that denies
/// subscribing to acl/secret/# and publishing to acl/readonly/#: SUBACK 0x87 Not authorized for
/// the denied filter ([MQTT-3.9.3-1] (MQTT 5.0): one code per filter, in order), returned by
/// `subscribe_ex` next to 0x01 for an allowed one in the same SUBSCRIBE, and
/// `SubscribeRefused` from `subscribe`; the refused filters' callbacks are removed (a later,
/// wider subscription's callback gets their messages). A QoS 1 publish to the denied topic
/// fails with `PublishRefused` 0x87.
#[test]
fn dynamic_security_refusals_reach_our_client() {
    if !mosquitto_clients_present()
        || !peer_present(
            "mosquitto's dynamic security plugin",
            Path::new(DYNSEC_PLUGIN).is_file(),
            "apt-get install mosquitto",
        )
    {
        return;
    }
    let config = ConfigDir::new();
    let dynsec = config.file(
        "dynamic-security.json",
        r#"{
  "defaultACLAccess": {"publishClientSend": true, "publishClientReceive": true,
                       "subscribe": true, "unsubscribe": true},
  "clients": [],
  "groups": [{"groupname": "anonymous", "roles": [{"rolename": "limited"}]}],
  "roles": [{"rolename": "limited", "acls": [
    {"acltype": "subscribePattern", "topic": "acl/secret/#", "allow": false},
    {"acltype": "publishClientSend", "topic": "acl/readonly/#", "allow": false}
  ]}],
  "anonymousGroup": "anonymous"
}
"#,
    );
    let Some(broker) = mosquitto(&format!(
        "plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {}\n",
        dynsec.display()
    )) else {
        return;
    };
    let client = connect(broker.port, &options());
    let (callback, inbox) = forwarding();
    let codes = client
        .subscribe_ex(
            &[
                ("acl/secret/#", QoS::AtLeastOnce),
                ("acl/open/#", QoS::AtLeastOnce),
            ],
            &SubscribeOptions::new(),
            callback,
        )
        .expect("SUBACK");
    assert_eq!(
        codes,
        [ReasonCode::NOT_AUTHORIZED, ReasonCode::GRANTED_QOS_1]
    );
    match client.subscribe("acl/secret/x", QoS::AtMostOnce, |_| {}) {
        Err(ClientError::SubscribeRefused(filter)) => assert_eq!(filter, "acl/secret/x"),
        other => panic!("denied subscribe: {other:?}"),
    }
    match client.publish("acl/readonly/x", b"denied", QoS::AtLeastOnce, false) {
        Err(ClientError::PublishRefused(reason)) => {
            assert_eq!(reason.code, ReasonCode::NOT_AUTHORIZED, "{reason}");
        }
        other => panic!("denied publish: {other:?}"),
    }
    // The refused filters' callbacks are gone: with a wider filter of its own callback, a
    // message on acl/secret/x reaches that callback, not the refused (more specific) ones.
    let (wide, wide_inbox) = forwarding();
    let codes = client
        .subscribe_ex(
            &[("acl/#", QoS::AtLeastOnce)],
            &SubscribeOptions::new(),
            wide,
        )
        .expect("SUBACK");
    assert_eq!(codes, [ReasonCode::GRANTED_QOS_1]);
    mosquitto_pub(
        broker.port,
        &["-q", "1", "-t", "acl/secret/x", "-m", "secret"],
    );
    let m = next(&wide_inbox);
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("acl/secret/x", &b"secret"[..])
    );
    expect_nothing(&wide_inbox);
    expect_nothing(&inbox);
    // acl/open/x matches acl/open/# and acl/#; mosquitto sends a copy for each subscription,
    // and our client gives both to the more specific filter's callback.
    mosquitto_pub(broker.port, &["-q", "1", "-t", "acl/open/x", "-m", "open"]);
    let m = next(&inbox);
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("acl/open/x", &b"open"[..])
    );
    while let Ok(m) = inbox.recv_timeout(QUIET) {
        assert_eq!(m.payload, b"open", "{m:?}");
    }
    expect_nothing(&wide_inbox);
    assert!(client.is_connected(), "{:?}", client.close_reason());
    client.disconnect().unwrap();
}

/// mosquitto 2.0.11 without an authentication plugin supports no enhanced authentication: a
/// CONNECT with an Authentication Method is refused with CONNACK 0x8C Bad authentication
/// method and the connection closed ([MQTT-4.12.0-1] (MQTT 5.0)); our client's connect fails
/// with `Refused` carrying that code, and the authentication callback is never asked.
#[test]
fn enhanced_authentication_refused_by_mosquitto() {
    let Some(broker) = mosquitto("") else { return };
    let asked = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&asked);
    let result = Client::connect(
        "127.0.0.1",
        broker.port,
        &options().authentication("SCRAM-SHA-256", Some(b"client-first"), move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            Err("not expected".into())
        }),
    );
    match result {
        Err(ClientError::Refused(reason)) => {
            assert_eq!(
                reason.code,
                ReasonCode::BAD_AUTHENTICATION_METHOD,
                "{reason}"
            );
        }
        other => panic!("expected CONNACK 0x8C, got {other:?}"),
    }
    assert_eq!(asked.load(Ordering::Relaxed), 0);
    // mosquitto carries on serving others.
    connect(broker.port, &options()).disconnect().unwrap();
}

// ---------------------------------------------------------------------------------------------
// The will, with MQTT 5.0 will properties.

/// Our client's will with will properties (MQTT 5.0 section 3.1.3.2), seen by mosquitto_sub
/// and by a subscriber of ours:
/// - dropped without DISCONNECT, with a Will Delay Interval of 1 s and a longer session, the
///   will is published no sooner than the delay ([MQTT-3.1.3-9] (MQTT 5.0) allows no earlier),
///   with its User Properties in order ([MQTT-3.1.3-10] (MQTT 5.0)), Content Type, Response
///   Topic, Correlation Data, Payload Format Indicator and Message Expiry Interval;
/// - resumed with Clean Start 0 within the delay, then ended with a normal DISCONNECT: no will
///   ([MQTT-3.1.3-9], [MQTT-3.1.2-10] (MQTT 5.0));
/// - DISCONNECT with reason 0x04 Disconnect with Will Message: published at once (MQTT 5.0
///   section 3.14.2.1); a normal DISCONNECT (0x00): discarded ([MQTT-3.14.4-3] (MQTT 5.0)).
#[test]
fn will_properties_of_our_client_reach_mosquitto_sub() {
    use mqtt::protocol::{Properties, Property};

    let Some((broker, helper)) = mosquitto_and_client() else {
        return;
    };
    let watcher = ready_mosquitto_sub(
        &helper,
        broker.port,
        ("will/#", "will/ready"),
        "%t|%p|%P|%C|%R|%D|%F|%E",
        2,
    );
    let seen = subscribe_ok(
        &helper,
        "will/#",
        QoS::AtLeastOnce,
        &SubscribeOptions::new().retain_handling(2),
    );
    let will = |id: &str, topic: &str, properties: Vec<Property>| {
        options()
            .client_id(id)
            .session_expiry(10)
            .will(
                topic,
                format!("{id} is gone").as_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .will_properties(Properties(properties))
    };

    // Resumed within the delay, then a normal DISCONNECT: nothing.
    let resuming = will("v5-will-d", "will/d", vec![Property::WillDelayInterval(1)]);
    drop(connect(broker.port, &resuming));
    let again = connect(broker.port, &resuming.clone().clean_session(false));
    assert!(again.session_present());
    again.disconnect().unwrap();
    thread::sleep(Duration::from_millis(1200));
    expect_nothing(&seen);

    // Dropped: published after the delay, with its properties.
    let delayed = will(
        "v5-will-a",
        "will/a",
        vec![
            Property::WillDelayInterval(1),
            Property::UserProperty("why".into(), "dropped".into()),
            Property::UserProperty("who".into(), "v5-will-a".into()),
            Property::UserProperty("why".into(), "twice".into()),
            Property::ContentType("text/plain".into()),
            Property::ResponseTopic("will/answers".into()),
            Property::CorrelationData(b"will-corr".to_vec()),
            Property::PayloadFormatIndicator(1),
            Property::MessageExpiryInterval(50),
        ],
    );
    let doomed = connect(broker.port, &delayed);
    let dropped_at = Instant::now();
    drop(doomed);
    let m = next(&seen);
    let waited = dropped_at.elapsed();
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("will/a", &b"v5-will-a is gone"[..])
    );
    assert!(
        waited >= Duration::from_millis(900),
        "will published {waited:?} after the drop, before its 1 s delay"
    );

    // DISCONNECT 0x04: published at once; DISCONNECT 0x00: discarded.
    let asks = connect(broker.port, &will("v5-will-b", "will/b", Vec::new()));
    asks.disconnect_with(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE, None)
        .unwrap();
    let m = next(&seen);
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("will/b", &b"v5-will-b is gone"[..])
    );
    let polite = connect(broker.port, &will("v5-will-c", "will/c", Vec::new()));
    polite.disconnect().unwrap();
    expect_nothing(&seen);

    let lines = watcher.finish_ok(PEER_TIMEOUT);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let fields: Vec<&str> = lines[0].split('|').collect();
    assert_eq!(fields.len(), 8, "{lines:?}");
    assert_eq!(
        &fields[..7],
        [
            "will/a",
            "v5-will-a is gone",
            "why:dropped who:v5-will-a why:twice",
            "text/plain",
            "will/answers",
            "will-corr",
            "1"
        ]
    );
    let expiry: u32 = fields[7].parse().expect("expiry");
    assert!((45..=50).contains(&expiry), "expiry {expiry}");
    assert!(
        lines[1].starts_with("will/b|v5-will-b is gone|"),
        "{lines:?}"
    );
    helper.disconnect().unwrap();
}
