//! The client against this project's broker: the same scenarios as against mosquitto, plus
//! refusals decided by the broker's authenticator.

use std::time::Duration;

use crate::client_support::scenarios;
use mqtt::broker::{AuthResult, Broker, BrokerOptions};
use mqtt::client::{Client, ClientError, ConnectOptions};

fn start(options: BrokerOptions) -> Broker {
    let broker = Broker::new(BrokerOptions {
        bind_address: "127.0.0.1".into(),
        ..options
    });
    broker.start().expect("start broker");
    broker
}

macro_rules! against_our_broker {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let broker = start(BrokerOptions::with_port(0));
            scenarios::$name(broker.port());
            broker.stop();
        }
    )*};
}

against_our_broker!(
    qos_both_ways,
    retained,
    will,
    persistent_session,
    keep_alive,
    api_calls_from_callbacks,
    many_threads_publish,
    most_specific_filter,
    closed_connection,
    qos1_publish_cut_before_puback,
    qos2_publish_cut_before_pubrec,
    qos2_publish_cut_before_pubcomp,
);

/// The authenticator's verdicts reach the client as distinct errors with the reason text.
#[test]
fn refusals_from_the_authenticator() {
    let broker = start(BrokerOptions::with_port(0).authenticator(|req| {
        match (req.username, req.password) {
            (Some("alice"), Some(b"secret")) => AuthResult::Accept,
            (Some("alice"), _) => AuthResult::BadCredentials,
            _ => AuthResult::NotAuthorized,
        }
    }));
    let port = broker.port();
    let opts = || ConnectOptions::new().connect_timeout(Duration::from_secs(5));
    Client::connect(
        "127.0.0.1",
        port,
        &opts().credentials("alice", Some(b"secret")),
    )
    .expect("valid credentials")
    .disconnect()
    .unwrap();
    let wrong = Client::connect("127.0.0.1", port, &opts().credentials("alice", Some(b"x")));
    let err = wrong.unwrap_err();
    assert!(matches!(err, ClientError::BadUsernameOrPassword), "{err:?}");
    assert!(
        err.to_string().contains("bad user name or password"),
        "{err}"
    );
    let err = Client::connect("127.0.0.1", port, &opts()).unwrap_err();
    assert!(matches!(err, ClientError::NotAuthorized), "{err:?}");
    assert!(err.to_string().contains("not authorized"), "{err}");
    broker.stop();
}

/// MQTT 3.1 ("MQIsdp", level 3) connects as well as 3.1.1.
#[test]
fn protocol_level_3() {
    let broker = start(BrokerOptions::with_port(0));
    let client = Client::connect(
        "127.0.0.1",
        broker.port(),
        &ConnectOptions::new().protocol(mqtt::protocol::ProtocolLevel::V31),
    )
    .expect("connect with MQTT 3.1");
    client.ping().unwrap();
    client.disconnect().unwrap();
    broker.stop();
}
