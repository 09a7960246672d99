//! The host redirects a client to another server (MQTT 5.0 section 4.11): DISCONNECT 0x9C (use
//! another server) or 0x9D (server moved) with a Server Reference, then the close. Statement ids
//! are MQTT 5.0's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt::broker::{
    AuthVerdict, BrokerEvent, BrokerOptions, DisconnectReason, Redirect, RedirectError,
};
use mqtt::protocol::*;

use super::v5::*;

/// The DISCONNECT the broker sends before closing, whole.
fn expect_disconnect_packet(peer: &mut Peer) -> Disconnect {
    match peer.next() {
        Some(Packet::Disconnect(d)) => {
            assert_eq!(peer.next(), None, "closed after DISCONNECT");
            d
        }
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
}

/// Reason codes 0x9C and 0x9D reach the client with the Server Reference; the will is published
/// ([MQTT-3.1.2-8]: the server closed the connection without the client's DISCONNECT); the event
/// hook sees the host's close and the code sent.
#[test]
fn a_redirected_5_0_client_is_told_where_to_go() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let broker = broker(BrokerOptions::default().event_hook(move |event| {
        if let BrokerEvent::Disconnected {
            client_id,
            reason,
            reason_code,
            ..
        } = event
        {
            seen.lock()
                .unwrap()
                .push((client_id.to_string(), *reason, *reason_code));
        }
    }));
    let mut watcher = join5(&broker, "watcher");
    subscribe_one(&mut watcher, 1, "wills/#", QoS::AtMostOnce);
    for (client_id, permanent, code) in [
        ("moving", false, ReasonCode::USE_ANOTHER_SERVER),
        ("moved", true, ReasonCode::SERVER_MOVED),
    ] {
        let mut connect = connect5(client_id, Properties::new());
        connect.will = Some(qos0_will(&format!("wills/{client_id}"), b"gone".to_vec()));
        let (mut peer, _) = join(&broker, connect);
        broker
            .redirect_client(client_id, "other.example:1883", permanent)
            .unwrap();
        let disconnect = expect_disconnect_packet(&mut peer);
        assert_eq!(disconnect.reason, code);
        assert_eq!(
            disconnect.properties.string(PropertyId::ServerReference),
            Some("other.example:1883")
        );
        let will = watcher.expect_publish();
        assert_eq!(will.topic.as_str(), format!("wills/{client_id}"));
    }
    let deadline = Instant::now() + READ_TIMEOUT;
    while events.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no disconnect events");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut events = events.lock().unwrap().clone();
    events.sort_by(|a, b| b.0.cmp(&a.0));
    assert_eq!(
        events,
        [
            (
                "moving".to_owned(),
                DisconnectReason::Kicked,
                Some(ReasonCode::USE_ANOTHER_SERVER)
            ),
            (
                "moved".to_owned(),
                DisconnectReason::Kicked,
                Some(ReasonCode::SERVER_MOVED)
            ),
        ]
    );
}

/// A 3.1.1 client has no DISCONNECT from the server: it is only disconnected. An unknown client
/// and a server reference that is no MQTT string are refused without effect.
#[test]
fn redirect_of_a_3_1_1_client_or_nobody() {
    let broker = broker(BrokerOptions::default());
    let (mut old, connack) = join(
        &broker,
        Connect {
            protocol: ProtocolLevel::V311,
            ..connect5("old", Properties::new())
        },
    );
    assert_eq!(connack.code, ReasonCode::SUCCESS);
    assert_eq!(
        broker.redirect_client("old", "a\0b", false),
        Err(RedirectError::InvalidServerReference)
    );
    assert_eq!(
        broker.redirect_client("old", &"x".repeat(65_536), false),
        Err(RedirectError::InvalidServerReference)
    );
    assert_eq!(
        broker.redirect_client("nobody", "elsewhere", false),
        Err(RedirectError::NotConnected)
    );
    old.send(&Packet::Pingreq);
    assert_eq!(old.next(), Some(Packet::Pingresp), "still connected");
    broker.redirect_client("old", "elsewhere", true).unwrap();
    assert_eq!(old.next(), None, "closed without a packet");
}

/// [MQTT-3.1.2-24]: a Server Reference that would make the DISCONNECT larger than the client's
/// Maximum Packet Size is left out; the reason code still arrives.
#[test]
fn a_server_reference_too_large_for_the_client_is_left_out() {
    let broker = broker(BrokerOptions::default());
    let small = Properties(vec![Property::MaximumPacketSize(20)]);
    let (mut peer, _) = join(&broker, connect5("small", small));
    broker
        .redirect_client("small", "a-rather-long-host-name.example:1883", false)
        .unwrap();
    let disconnect = expect_disconnect_packet(&mut peer);
    assert_eq!(disconnect.reason, ReasonCode::USE_ANOTHER_SERVER);
    assert!(disconnect.properties.is_empty());
}

/// The enhanced authenticator redirects too (MQTT 5.0 section 4.11): at connect with CONNACK
/// 0x9C and the Server Reference ([MQTT-3.2.2-7]: then the close), when re-authenticating with
/// DISCONNECT 0x9D and the Server Reference; a reference that is no MQTT string is left out.
#[test]
fn the_enhanced_authenticator_redirects_at_connect_and_reauthentication() {
    let broker = broker(BrokerOptions::default().enhanced_authenticator(|step| {
        let redirect = |server_reference: &str, permanent| {
            AuthVerdict::Redirect(Redirect {
                server_reference: server_reference.to_owned(),
                permanent,
            })
        };
        match (step.reauthenticating, step.data) {
            (true, _) => redirect("moved.example", true),
            (false, Some([1])) => redirect("busy.example", false),
            (false, Some([2])) => redirect("bad\0reference", false),
            (false, _) => AuthVerdict::Success(None),
        }
    }));
    let connect = |client_id: &str, data: &[u8]| {
        connect5(
            client_id,
            Properties(vec![
                Property::AuthenticationMethod("m".into()),
                Property::AuthenticationData(data.to_vec()),
            ]),
        )
    };
    let (mut busy, connack) = join(&broker, connect("busy", &[1]));
    assert_eq!(connack.code, ReasonCode::USE_ANOTHER_SERVER);
    assert_eq!(
        connack.properties.string(PropertyId::ServerReference),
        Some("busy.example")
    );
    assert_eq!(busy.next(), None);
    let (mut bad, connack) = join(&broker, connect("bad", &[2]));
    assert_eq!(connack.code, ReasonCode::USE_ANOTHER_SERVER);
    assert!(connack.properties.is_empty());
    assert_eq!(bad.next(), None);

    let (mut peer, connack) = join(&broker, connect("here", &[0]));
    assert_eq!(connack.code, ReasonCode::SUCCESS);
    peer.send(&auth(ReasonCode::RE_AUTHENTICATE, "m", &[0]));
    let disconnect = expect_disconnect_packet(&mut peer);
    assert_eq!(disconnect.reason, ReasonCode::SERVER_MOVED);
    assert_eq!(
        disconnect.properties.string(PropertyId::ServerReference),
        Some("moved.example")
    );
}
