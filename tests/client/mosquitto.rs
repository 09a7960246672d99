//! Interoperability: the client against a real mosquitto broker started per test (skipped with a
//! message when mosquitto is not installed, a failure under CI=true).

use std::time::Duration;

use crate::client_support::scenarios;
use crate::mosquitto::Mosquitto;
use mqtt::client::{Client, ClientError, ConnectOptions};

macro_rules! against_mosquitto {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let Some(broker) = Mosquitto::start() else { return };
            scenarios::$name(broker.port);
        }
    )*};
}

against_mosquitto!(
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

/// mosquitto with authentication: every refusal is its own error ([MQTT-3.2.2-5]).
#[test]
fn refusals_from_an_authenticating_mosquitto() {
    let Some(broker) = Mosquitto::start_with("allow_anonymous false\n", &[("alice", "secret")])
    else {
        return;
    };
    let opts = || ConnectOptions::new().connect_timeout(Duration::from_secs(5));
    let ok = Client::connect(
        "127.0.0.1",
        broker.port,
        &opts().credentials("alice", Some(b"secret")),
    );
    ok.expect("valid credentials").disconnect().unwrap();

    let anonymous = Client::connect("127.0.0.1", broker.port, &opts());
    assert!(
        matches!(anonymous, Err(ClientError::NotAuthorized)),
        "{anonymous:?}"
    );
    let wrong = Client::connect(
        "127.0.0.1",
        broker.port,
        &opts().credentials("alice", Some(b"nope")),
    );
    assert!(
        matches!(
            wrong,
            Err(ClientError::NotAuthorized | ClientError::BadUsernameOrPassword)
        ),
        "{wrong:?}"
    );
    let text = wrong.err().unwrap().to_string();
    assert!(
        text.contains("not authorized") || text.contains("bad user name"),
        "{text}"
    );

    // An empty client id needs a clean session ([MQTT-3.1.3-7]): the client refuses it before
    // connecting. (The mapping of the broker's CONNACK 0x02 is checked in client_wire.rs.)
    let empty_id = Client::connect(
        "127.0.0.1",
        broker.port,
        &opts()
            .credentials("alice", Some(b"secret"))
            .client_id("")
            .clean_session(false),
    );
    assert!(
        matches!(empty_id, Err(ClientError::InvalidArgument(_))),
        "{empty_id:?}"
    );
}

/// Host names resolve; "localhost" reaches the 127.0.0.1 listener.
#[test]
fn connects_by_host_name() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let client = Client::connect(
        "localhost",
        broker.port,
        &ConnectOptions::new().connect_timeout(Duration::from_secs(5)),
    )
    .expect("connect to localhost");
    client.ping().unwrap();
    client.disconnect().unwrap();
}
