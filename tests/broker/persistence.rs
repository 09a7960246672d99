//! Persistence: what a broker with a persistence file hands over to the next broker on that
//! file — retained messages, persistent sessions with their subscriptions, queued messages and
//! QoS 1/2 state in both directions — checked at the wire; damaged files refused with a clear
//! error; a stopped broker started again. The `kill -9` crash test is in program.rs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;
use crate::fixture::start_broker;
use mqtt::broker::{Broker, BrokerOptions, PersistenceSync};
use mqtt::protocol::{Ack, Packet, QoS, QosPid};

/// A fresh directory for one test's persistence file.
fn store_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqtt-persist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn persistent(file: &Path, sync: PersistenceSync) -> Broker {
    start_broker(BrokerOptions {
        persistence: Some(file.to_owned()),
        persistence_sync: sync,
        ..BrokerOptions::default()
    })
}

fn durable(file: &Path) -> Broker {
    persistent(file, PersistenceSync::Durable)
}

fn packet_id_of(publish: &mqtt::protocol::Publish) -> mqtt::protocol::PacketId {
    publish.qospid.packet_id().expect("QoS 1 or 2")
}

#[test]
fn retained_messages_survive_a_restart() {
    let file = store_dir("retained").join("store.db");
    let broker = durable(&file);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish("r/a", b"alpha", QosPid::AtLeastOnce(pid(1)), true));
    assert!(matches!(publisher.recv(), Packet::Puback(_)));
    publisher.send(&publish("r/b", b"beta", QosPid::ExactlyOnce(pid(2)), true));
    assert!(matches!(publisher.recv(), Packet::Pubrec(_)));
    broker
        .publish("r/c", b"gone", QoS::AtMostOnce, true)
        .unwrap();
    // [MQTT-3.3.1-10]: an empty retained payload deletes, on disk too.
    broker.publish("r/c", b"", QoS::AtMostOnce, true).unwrap();
    drop(publisher);
    drop(broker);

    let broker = durable(&file);
    assert_eq!(broker.stats().retained_messages, 2);
    let mut sub = RawClient::clean(broker.port(), "sub");
    sub.subscribe_ok(1, &[("r/#", QoS::ExactlyOnce)]);
    let mut got: Vec<(String, Vec<u8>, QoS, bool)> = (0..2)
        .map(|_| {
            let p = sub.recv_publish();
            (
                p.topic.as_str().to_owned(),
                p.payload.to_vec(),
                p.qospid.qos(),
                p.retain,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("r/a".into(), b"alpha".to_vec(), QoS::AtLeastOnce, true),
            ("r/b".into(), b"beta".to_vec(), QoS::ExactlyOnce, true),
        ]
    );
    sub.expect_silence(Duration::from_millis(200));
}

/// [MQTT-3.1.2-4] (3.1.1) across a restart: the session comes back with its subscriptions and
/// the QoS 1 and 2 messages queued while the client was away, CONNACK session present 1
/// ([MQTT-3.2.2-2]).
#[test]
fn a_persistent_session_and_its_queue_survive_a_restart() {
    let file = store_dir("session").join("store.db");
    let broker = durable(&file);
    let (mut sub, _) = RawClient::connect(broker.port(), "away", false);
    sub.subscribe_ok(1, &[("q/#", QoS::ExactlyOnce), ("other", QoS::AtLeastOnce)]);
    sub.disconnect();
    eventually("detached", || broker.stats().clients_connected == 0);
    let mut publisher = RawClient::clean(broker.port(), "pub");
    publisher.send(&publish("q/1", b"one", QosPid::AtLeastOnce(pid(1)), false));
    assert!(matches!(publisher.recv(), Packet::Puback(_)));
    publisher.send(&publish("q/2", b"two", QosPid::ExactlyOnce(pid(2)), false));
    assert!(matches!(publisher.recv(), Packet::Pubrec(_)));
    publisher.send(&publish("q/0", b"zero", QosPid::AtMostOnce, false));
    publisher.sync();
    drop(publisher);
    broker.stop();
    drop(broker);

    let broker = durable(&file);
    assert_eq!(broker.stats().sessions, 1);
    assert_eq!(broker.stats().subscriptions, 2);
    let (mut sub, connack) = RawClient::connect(broker.port(), "away", false);
    assert!(connack.session_present);
    let one = sub.recv_publish();
    assert_eq!(
        (one.topic.as_str(), one.payload.as_ref()),
        ("q/1", &b"one"[..])
    );
    assert_eq!(one.qospid.qos(), QoS::AtLeastOnce);
    let two = sub.recv_publish();
    assert_eq!(
        (two.topic.as_str(), two.payload.as_ref()),
        ("q/2", &b"two"[..])
    );
    assert_eq!(two.qospid.qos(), QoS::ExactlyOnce);
    sub.send(&Packet::Puback(Ack::new(packet_id_of(&one))));
    sub.send(&Packet::Pubrec(Ack::new(packet_id_of(&two))));
    assert!(matches!(sub.recv(), Packet::Pubrel(_)));
    sub.send(&Packet::Pubcomp(Ack::new(packet_id_of(&two))));
    // The subscriptions came back too.
    broker
        .publish("other", b"later", QoS::AtLeastOnce, false)
        .unwrap();
    let later = sub.recv_publish();
    assert_eq!(later.payload.as_ref(), b"later");
    sub.send(&Packet::Puback(Ack::new(packet_id_of(&later))));
    sub.sync();
    sub.disconnect();
    eventually("detached", || broker.stats().clients_connected == 0);
    drop(broker);

    // Everything acknowledged is gone from the file: nothing is delivered a second time.
    let broker = durable(&file);
    let (mut sub, connack) = RawClient::connect(broker.port(), "away", false);
    assert!(connack.session_present);
    sub.expect_silence(Duration::from_millis(300));
}

/// [MQTT-4.4.0-1] (3.1.1) across a restart: messages sent and not acknowledged are sent again
/// with DUP and their original identifiers, and a QoS 2 message whose PUBREC arrived before
/// the restart continues with PUBREL, not a second PUBLISH.
#[test]
fn unacknowledged_deliveries_resume_with_their_identifiers_after_a_restart() {
    let file = store_dir("inflight").join("store.db");
    let broker = durable(&file);
    let (mut sub, _) = RawClient::connect(broker.port(), "inflight", false);
    sub.subscribe_ok(1, &[("f/#", QoS::ExactlyOnce)]);
    broker
        .publish("f/1", b"one", QoS::AtLeastOnce, false)
        .unwrap();
    broker
        .publish("f/2", b"two", QoS::ExactlyOnce, false)
        .unwrap();
    broker
        .publish("f/3", b"three", QoS::ExactlyOnce, false)
        .unwrap();
    let one = sub.recv_publish();
    let two = sub.recv_publish();
    let three = sub.recv_publish();
    sub.send(&Packet::Pubrec(Ack::new(packet_id_of(&three))));
    assert!(matches!(sub.recv(), Packet::Pubrel(ack) if ack.packet_id == packet_id_of(&three)));
    sub.drop_abruptly();
    eventually("detached", || broker.stats().clients_connected == 0);
    drop(broker);

    let broker = durable(&file);
    let (mut sub, connack) = RawClient::connect(broker.port(), "inflight", false);
    assert!(connack.session_present);
    let again_one = sub.recv_publish();
    let again_two = sub.recv_publish();
    assert!(again_one.dup && again_two.dup);
    assert_eq!(packet_id_of(&again_one), packet_id_of(&one));
    assert_eq!(packet_id_of(&again_two), packet_id_of(&two));
    assert_eq!(again_two.payload.as_ref(), b"two");
    match sub.recv() {
        Packet::Pubrel(ack) => assert_eq!(ack.packet_id, packet_id_of(&three)),
        other => panic!("expected PUBREL for the released message, got {other:?}"),
    }
    sub.send(&Packet::Puback(Ack::new(packet_id_of(&one))));
    sub.send(&Packet::Pubcomp(Ack::new(packet_id_of(&three))));
    sub.expect_silence(Duration::from_millis(200));
}

/// [MQTT-4.4.0-1] (3.1.1) when the broker stops under its clients: QoS 1 messages sent and not
/// acknowledged by a client still connected come again with DUP and their identifiers after the
/// restart, in both persistence modes (stopping commits what the connections recorded), and one
/// acknowledged before the stop does not.
#[test]
fn qos1_in_flight_to_a_connected_client_keeps_its_identifier_across_a_stop() {
    for (mode, sync) in [
        ("durable", PersistenceSync::Durable),
        (
            "interval",
            PersistenceSync::Interval(Duration::from_secs(60)),
        ),
    ] {
        let file = store_dir(&format!("inflight-stop-{mode}")).join("store.db");
        let broker = persistent(&file, sync);
        let (mut sub, _) = RawClient::connect(broker.port(), "stays", false);
        sub.subscribe_ok(1, &[("s/#", QoS::AtLeastOnce)]);
        for payload in [&b"acked"[..], b"open-1", b"open-2"] {
            broker
                .publish("s/1", payload, QoS::AtLeastOnce, false)
                .unwrap();
        }
        let acked = sub.recv_publish();
        sub.send(&Packet::Puback(Ack::new(packet_id_of(&acked))));
        let open: Vec<_> = (0..2).map(|_| sub.recv_publish()).collect();
        sub.sync();
        drop(broker);
        sub.expect_closed(Duration::from_secs(5));

        let broker = persistent(&file, sync);
        let (mut sub, connack) = RawClient::connect(broker.port(), "stays", false);
        assert!(connack.session_present, "{mode}");
        for sent in &open {
            let again = sub.recv_publish();
            assert!(again.dup, "{mode}");
            assert_eq!(packet_id_of(&again), packet_id_of(sent), "{mode}");
            assert_eq!(again.payload, sent.payload, "{mode}");
            sub.send(&Packet::Puback(Ack::new(packet_id_of(&again))));
        }
        sub.expect_silence(Duration::from_millis(200));
    }
}

/// [MQTT-4.3.3-2] (3.1.1) across a restart: a QoS 2 PUBLISH received and answered with PUBREC
/// before the restart is not forwarded again when its sender resends it after.
#[test]
fn incoming_qos2_stays_exactly_once_across_a_restart() {
    let file = store_dir("pubrel").join("store.db");
    let broker = durable(&file);
    let (mut sub, _) = RawClient::connect(broker.port(), "receiver", false);
    sub.subscribe_ok(1, &[("x", QoS::AtLeastOnce)]);
    let (mut sender, _) = RawClient::connect(broker.port(), "sender", false);
    sender.send(&publish("x", b"once", QosPid::ExactlyOnce(pid(7)), false));
    assert!(matches!(sender.recv(), Packet::Pubrec(_)));
    let first = sub.recv_publish();
    sub.send(&Packet::Puback(Ack::new(packet_id_of(&first))));
    sub.sync();
    sender.drop_abruptly();
    sub.disconnect();
    eventually("detached", || broker.stats().clients_connected == 0);
    drop(broker);

    let broker = durable(&file);
    let (mut sub, connack) = RawClient::connect(broker.port(), "receiver", false);
    assert!(connack.session_present);
    let (mut sender, connack) = RawClient::connect(broker.port(), "sender", false);
    assert!(connack.session_present);
    let mut resent = publish("x", b"once", QosPid::ExactlyOnce(pid(7)), false);
    if let Packet::Publish(p) = &mut resent {
        p.dup = true;
    }
    sender.send(&resent);
    assert!(matches!(sender.recv(), Packet::Pubrec(_)));
    sender.send(&Packet::Pubrel(Ack::new(pid(7))));
    match sender.recv() {
        Packet::Pubcomp(ack) => assert_eq!(ack.packet_id, pid(7)),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    sub.expect_silence(Duration::from_millis(300));
}

/// Session expiry keeps counting while no broker runs: a session due to expire during the
/// downtime is gone after the restart.
#[test]
fn session_expiry_counts_across_a_restart() {
    let file = store_dir("expiry").join("store.db");
    let options = || BrokerOptions {
        persistence: Some(file.clone()),
        session_expiry: Some(Duration::from_secs(1)),
        ..BrokerOptions::default()
    };
    let broker = start_broker(options());
    let (mut client, _) = RawClient::connect(broker.port(), "brief", false);
    client.subscribe_ok(1, &[("t", QoS::AtLeastOnce)]);
    client.disconnect();
    eventually("detached", || broker.stats().clients_connected == 0);
    drop(broker);
    let broker = start_broker(options());
    assert_eq!(broker.stats().sessions, 1, "not expired yet");
    drop(broker);
    std::thread::sleep(Duration::from_millis(1500));
    let broker = start_broker(options());
    eventually("expired", || broker.stats().sessions == 0);
    let (_client, connack) = RawClient::connect(broker.port(), "brief", false);
    assert!(!connack.session_present);
}

#[test]
fn interval_mode_commits_within_its_interval() {
    let file = store_dir("interval").join("store.db");
    let broker = persistent(&file, PersistenceSync::Interval(Duration::from_millis(50)));
    broker
        .publish("i", b"kept", QoS::AtLeastOnce, true)
        .unwrap();
    eventually("committed", || {
        broker
            .persistence_stats()
            .is_some_and(|s| s.commits >= 1 && s.bytes_on_disk > 0)
    });
    drop(broker);
    let broker = durable(&file);
    assert_eq!(broker.stats().retained_messages, 1);
}

/// Copies `file` as a crash would leave it (while `broker` makes no commit), starts a broker
/// on the copy and reconnects `client_id` to its session, which must be there. Returns the
/// restored broker, to keep it running, and the client.
fn reconnect_after_a_crash(
    broker: &Broker,
    file: &Path,
    copy: &Path,
    client_id: &str,
) -> (Broker, RawClient) {
    let commits = || broker.persistence_stats().map(|s| s.commits);
    loop {
        let before = commits();
        std::fs::copy(file, copy).unwrap();
        if commits() == before {
            break;
        }
    }
    let restored = durable(copy);
    let (client, connack) = RawClient::connect(restored.port(), client_id, false);
    assert!(connack.session_present);
    (restored, client)
}

/// Interval mode lets the connection serving a persistent session record its deliveries
/// itself, when the journal's epoch moves (a commit follows each move), so that those
/// acknowledged within the interval never touch the disk; those it still holds must be on disk within the interval all
/// the same, even when its client falls silent. A copy of the file taken then (what a crash
/// would leave) hands them over: in flight with their identifiers ([MQTT-4.4.0-1], 3.1.1), a
/// QoS 2 one released, and those beyond the in-flight window in order ([MQTT-4.6.0-5]).
#[test]
fn interval_mode_stores_what_a_silent_connection_holds_within_the_interval() {
    let dir = store_dir("deferred");
    let (file, copy) = (dir.join("store.db"), dir.join("copy.db"));
    let broker = start_broker(BrokerOptions {
        persistence: Some(file.clone()),
        persistence_sync: PersistenceSync::Interval(Duration::from_millis(200)),
        max_inflight_messages: 2,
        ..BrokerOptions::default()
    });
    let (mut sub, _) = RawClient::connect(broker.port(), "silent", false);
    sub.subscribe_ok(1, &[("d/#", QoS::ExactlyOnce)]);
    for (payload, qos) in [
        (&b"one"[..], QoS::AtLeastOnce),
        (b"two", QoS::ExactlyOnce),
        (b"three", QoS::AtLeastOnce),
        (b"four", QoS::ExactlyOnce),
    ] {
        broker.publish("d/1", payload, qos, false).unwrap();
    }
    let one = sub.recv_publish();
    let two = sub.recv_publish();
    sub.send(&Packet::Pubrec(Ack::new(packet_id_of(&two))));
    assert!(matches!(sub.recv(), Packet::Pubrel(ack) if ack.packet_id == packet_id_of(&two)));
    sub.sync();
    std::thread::sleep(Duration::from_millis(400));
    let (_restored, mut back) = reconnect_after_a_crash(&broker, &file, &copy, "silent");
    let again = back.recv_publish();
    assert!(again.dup);
    assert_eq!(packet_id_of(&again), packet_id_of(&one));
    assert_eq!(again.payload.as_ref(), b"one");
    match back.recv() {
        Packet::Pubrel(ack) => assert_eq!(ack.packet_id, packet_id_of(&two)),
        other => panic!("expected PUBREL for the released message, got {other:?}"),
    }
    back.send(&Packet::Puback(Ack::new(packet_id_of(&one))));
    back.send(&Packet::Pubcomp(Ack::new(packet_id_of(&two))));
    let three = back.recv_publish();
    let four = back.recv_publish();
    assert_eq!(three.payload.as_ref(), b"three");
    assert_eq!(four.payload.as_ref(), b"four");
    assert!(!three.dup && !four.dup);
    back.send(&Packet::Puback(Ack::new(packet_id_of(&three))));
    back.send(&Packet::Pubrec(Ack::new(packet_id_of(&four))));
    assert!(matches!(back.recv(), Packet::Pubrel(_)));
    back.expect_silence(Duration::from_millis(200));
    drop(broker);
}

/// The same after the epoch moved with nothing to record: a message sent later to the client
/// holding an earlier one is on disk within the interval too.
#[test]
fn interval_mode_stores_what_is_sent_after_a_quiet_spell() {
    let dir = store_dir("deferred-later");
    let (file, copy) = (dir.join("store.db"), dir.join("copy.db"));
    let broker = persistent(&file, PersistenceSync::Interval(Duration::from_millis(100)));
    let (mut sub, _) = RawClient::connect(broker.port(), "holder", false);
    sub.subscribe_ok(1, &[("q/#", QoS::AtLeastOnce)]);
    broker
        .publish("q/1", b"early", QoS::AtLeastOnce, false)
        .unwrap();
    let early = sub.recv_publish();
    std::thread::sleep(Duration::from_millis(400));
    broker
        .publish("q/1", b"later", QoS::AtLeastOnce, false)
        .unwrap();
    let later = sub.recv_publish();
    sub.sync();
    std::thread::sleep(Duration::from_millis(200));
    let (_restored, mut back) = reconnect_after_a_crash(&broker, &file, &copy, "holder");
    for sent in [&early, &later] {
        let again = back.recv_publish();
        assert!(again.dup);
        assert_eq!(packet_id_of(&again), packet_id_of(sent));
        assert_eq!(again.payload, sent.payload);
        back.send(&Packet::Puback(Ack::new(packet_id_of(&again))));
    }
    back.expect_silence(Duration::from_millis(200));
    drop(broker);
}

#[test]
fn a_stopped_broker_starts_again_with_its_state() {
    let file = store_dir("restart").join("store.db");
    for persistence in [None, Some(file)] {
        let broker = start_broker(BrokerOptions {
            persistence,
            ..BrokerOptions::default()
        });
        let (mut client, _) = RawClient::connect(broker.port(), "again", false);
        client.subscribe_ok(1, &[("s", QoS::AtLeastOnce)]);
        broker.publish("kept", b"k", QoS::AtMostOnce, true).unwrap();
        broker.stop();
        client.expect_closed(Duration::from_secs(5));
        broker.start().expect("starts again");
        let (mut client, connack) = RawClient::connect(broker.port(), "again", false);
        assert!(connack.session_present);
        broker.publish("s", b"x", QoS::AtLeastOnce, false).unwrap();
        assert_eq!(client.recv_publish().payload.as_ref(), b"x");
        assert_eq!(broker.stats().retained_messages, 1);
        broker.stop();
    }
}

/// A file that is not a store, or a store cut short or with flipped bytes, is refused with an
/// error naming the file, and left as it was.
#[test]
fn damaged_files_are_refused_and_left_alone() {
    let dir = store_dir("damaged");
    let good = dir.join("good.db");
    {
        let broker = durable(&good);
        for i in 0..200 {
            let topic = format!("d/{i}");
            broker
                .publish(&topic, &[7; 300], QoS::AtLeastOnce, true)
                .unwrap();
        }
        drop(broker);
    }
    let bytes = std::fs::read(&good).unwrap();
    let other_program = b"SQLite format 3\0 this is somebody else's file".repeat(100);
    let truncated = bytes[..bytes.len() / 2].to_vec();
    let mut flipped = bytes.clone();
    for at in (4096..flipped.len()).step_by(997) {
        flipped[at] ^= 0x5A;
    }
    for (name, content) in [
        ("other.db", other_program),
        ("truncated.db", truncated),
        ("flipped.db", flipped),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, &content).unwrap();
        let broker = Broker::new(BrokerOptions {
            port: 0,
            persistence: Some(path.clone()),
            ..BrokerOptions::default()
        });
        let error = broker.start().expect_err(name);
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::InvalidData,
            "{name}: {error}"
        );
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{name}: {error}"
        );
        drop(broker);
        assert_eq!(std::fs::read(&path).unwrap(), content, "{name} was changed");
    }
}

#[test]
fn a_store_from_a_newer_format_is_refused() {
    let file = store_dir("newer").join("store.db");
    drop(durable(&file));
    {
        let db = redb::Database::create(&file).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, u32>::new("meta"))
                .unwrap();
            meta.insert("format", 99).unwrap();
        }
        txn.commit().unwrap();
    }
    let broker = Broker::new(BrokerOptions {
        port: 0,
        persistence: Some(file),
        ..BrokerOptions::default()
    });
    let error = broker.start().unwrap_err().to_string();
    assert!(error.contains("newer"), "{error}");
}

#[test]
fn an_unwritable_location_is_reported() {
    let file = Path::new("/nonexistent-directory/store.db");
    let broker = Broker::new(BrokerOptions {
        port: 0,
        persistence: Some(file.to_owned()),
        ..BrokerOptions::default()
    });
    let error = broker.start().unwrap_err().to_string();
    assert!(error.contains("/nonexistent-directory/store.db"), "{error}");
}

/// A small tmpfs, unmounted when dropped; `None` where mounting is not allowed.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(name: &str, size: &str) -> Option<SmallDisk> {
        let dir = store_dir(name);
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A full disk: the message that cannot be stored is not acknowledged (the connection closes
/// without PUBACK and its publisher sends it again elsewhere), later QoS 1 messages are refused
/// the same way, QoS 0 traffic goes on, and every message acknowledged before is in the file.
#[test]
fn a_full_disk_refuses_what_it_cannot_store_and_loses_nothing_acknowledged() {
    let Some(disk) = SmallDisk::mount("full", "768k") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (or CAP_SYS_ADMIN)");
        return;
    };
    let file = disk.0.join("store.db");
    let broker = durable(&file);
    let mut watcher = RawClient::clean(broker.port(), "watcher");
    watcher.subscribe_ok(1, &[("live", QoS::AtMostOnce)]);
    let mut publisher = RawClient::clean(broker.port(), "filler");
    let mut acknowledged = 0;
    let payload = [0x42u8; 16 * 1024];
    for i in 0..200u16 {
        let topic = format!("fill/{i}");
        publisher.send(&publish(
            &topic,
            &payload,
            QosPid::AtLeastOnce(pid(i + 1)),
            true,
        ));
        match publisher.try_recv(Duration::from_secs(5)) {
            Ok(Packet::Puback(_)) => acknowledged += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break,
        }
    }
    assert!(acknowledged > 0 && acknowledged < 200, "{acknowledged}");
    let stats = broker.persistence_stats().unwrap();
    assert!(stats.failures >= 1, "{stats:?}");

    let mut late = RawClient::clean(broker.port(), "late");
    late.send(&publish(
        "fill/late",
        &payload,
        QosPid::AtLeastOnce(pid(1)),
        true,
    ));
    late.expect_closed(Duration::from_secs(5));
    let mut talker = RawClient::clean(broker.port(), "talker");
    talker.send(&publish("live", b"still", QosPid::AtMostOnce, false));
    assert_eq!(watcher.recv_publish().payload.as_ref(), b"still");
    drop(broker);

    let copy = store_dir("full-copy").join("store.db");
    std::fs::copy(&file, &copy).unwrap();
    let broker = durable(&copy);
    assert!(
        broker.stats().retained_messages >= acknowledged,
        "{} stored, {acknowledged} acknowledged",
        broker.stats().retained_messages
    );
}

/// MQTT 5.0: once the store cannot write, a 5.0 publisher's QoS 1 and 2 messages are refused
/// with PUBACK or PUBREC 0x97 (quota exceeded) and a Reason String saying why — left out for a
/// client that asked for no problem information ([MQTT-3.1.2-29]) and for one whose Maximum
/// Packet Size it would exceed ([MQTT-3.4.2-2], [MQTT-3.5.2-2]).
#[test]
fn a_full_store_tells_5_0_publishers_why_within_their_limits() {
    use super::v5::{Peer, connect5, join};
    use mqtt::protocol::{Properties, Property, PropertyId, ReasonCode};

    let Some(disk) = SmallDisk::mount("full5", "512k") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (or CAP_SYS_ADMIN)");
        return;
    };
    let broker = durable(&disk.0.join("store.db"));
    let payload = [0x42u8; 16 * 1024];
    let publish_to = |peer: &mut Peer, topic: &str, qospid: QosPid| {
        peer.send(&Packet::Publish(mqtt::protocol::Publish {
            dup: false,
            qospid,
            retain: true,
            topic: mqtt::topic::TopicName::new(topic).unwrap(),
            payload: std::sync::Arc::from(&payload[..]),
            properties: Properties::new(),
        }));
        peer.next()
    };
    // Fill the disk: the message that finds it full closes its connection unacknowledged.
    let (mut filler, _) = join(&broker, connect5("filler", Properties::new()));
    for i in 1..=100u16 {
        match publish_to(
            &mut filler,
            &format!("fill/{i}"),
            QosPid::AtLeastOnce(pid(i)),
        ) {
            Some(Packet::Puback(a)) if a.reason == ReasonCode::SUCCESS => {}
            Some(Packet::Disconnect(_)) | None => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(broker.persistence_stats().unwrap().failures >= 1);

    let refused = |properties: Vec<Property>| {
        let (mut peer, _) = join(&broker, connect5("late", Properties(properties)));
        let puback = publish_to(&mut peer, "late/1", QosPid::AtLeastOnce(pid(1)));
        let pubrec = publish_to(&mut peer, "late/2", QosPid::ExactlyOnce(pid(2)));
        [puback, pubrec].map(|packet| match packet {
            Some(Packet::Puback(a) | Packet::Pubrec(a)) => {
                assert_eq!(a.reason, ReasonCode::QUOTA_EXCEEDED);
                a.properties
                    .string(PropertyId::ReasonString)
                    .map(str::to_owned)
            }
            other => panic!("expected PUBACK or PUBREC, got {other:?}"),
        })
    };
    let told = refused(Vec::new());
    assert!(told.iter().all(Option::is_some), "{told:?}");
    assert_eq!(
        refused(vec![Property::RequestProblemInformation(0)]),
        [None, None]
    );
    // Room for the CONNACK (which must fit too, [MQTT-3.1.2-24]) but not for a Reason String
    // naming the store's path.
    assert_eq!(refused(vec![Property::MaximumPacketSize(32)]), [None, None]);
}
