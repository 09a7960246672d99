//! The C programs examples-c/publish.c and examples-c/subscribe.c over TLS, with mosquitto_pub and
//! mosquitto_sub's TLS options (`--cafile`, `--cert`, `--key`, `--insecure`, `-L mqtts://...`),
//! against mosquitto's TLS listener and mosquitto's own clients, with certificates the test
//! makes: what our publish sends over TLS, mosquitto_sub receives, and the other way round.

use std::process::Command;

use crate::interop_support::{PEER_TIMEOUT, mosquitto_clients_present};

// The build and run helpers of tests/programs (programs_v5 loads them too); the TLS fixtures
// of tests/client/tls are the binary's `tls_support`.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../programs/mod.rs"]
mod programs;

use crate::tls_support::{Issued, Pki, TlsMosquitto};
use programs::{Output, examples_built, root, run_bounded};

/// Our program `name` with `args`.
fn ours(name: &str, args: &[&str]) -> Command {
    examples_built();
    let mut command = Command::new(root().join("examples-c/build").join(name));
    command.env_remove("LD_LIBRARY_PATH").args(args);
    command
}

/// mosquitto_pub or mosquitto_sub with `args`.
fn theirs(name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(name);
    command.args(args);
    command
}

fn run(mut command: Command) -> Output {
    run_bounded(&mut command, PEER_TIMEOUT)
}

fn succeeds(command: Command) -> Output {
    let description = format!("{command:?}");
    let output = run(command);
    assert!(
        output.status.success(),
        "{description}: {}",
        output.describe()
    );
    output
}

/// A PKI, mosquitto with a TLS listener presenting a certificate for 127.0.0.1, and its
/// command-line clients; `None` (after saying why) when something is missing outside CI.
fn setup(require_certificate: bool) -> Option<(Pki, TlsMosquitto)> {
    if !mosquitto_clients_present() {
        return None;
    }
    let pki = Pki::new("programs-ca");
    let server = pki.server("server", &["127.0.0.1", "localhost"]);
    let broker = TlsMosquitto::start(&pki, &server, require_certificate)?;
    Some((pki, broker))
}

/// Ours → mosquitto_sub: `build/publish --cafile CA -L mqtts://127.0.0.1:PORT/topic` sends a
/// retained message over TLS that `mosquitto_sub --cafile CA` then receives over TLS.
#[test]
fn programs_tls_ours_publish_to_mosquitto_sub() {
    let Some((pki, broker)) = setup(false) else {
        return;
    };
    let ca = pki.ca_file();
    let port = broker.tls_port.to_string();
    let url = format!("mqtts://127.0.0.1:{port}/tls/prog");
    succeeds(ours(
        "publish",
        &[
            "--cafile", &ca, "-L", &url, "-m", "over tls", "-q", "1", "-r",
        ],
    ));
    let received = succeeds(theirs(
        "mosquitto_sub",
        &[
            "--cafile",
            &ca,
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "tls/prog",
            "-C",
            "1",
            "-W",
            "10",
        ],
    ));
    assert_eq!(received.stdout, "over tls\n");
}

/// mosquitto_pub → ours, on a listener that requires client certificates: both clients give
/// `--cert` and `--key`; our subscribe takes its filter from `-L`.
#[test]
fn programs_tls_mosquitto_pub_to_ours_with_client_certificates() {
    let Some((pki, broker)) = setup(true) else {
        return;
    };
    let ca = pki.ca_file();
    let Issued { cert, key } = pki.client("client", "programs");
    let port = broker.tls_port.to_string();
    succeeds(theirs(
        "mosquitto_pub",
        &[
            "--cafile",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "tls/back",
            "-m",
            "from mosquitto",
            "-q",
            "1",
            "-r",
        ],
    ));
    let url = format!("mqtts://127.0.0.1:{port}/tls/back");
    let received = succeeds(ours(
        "subscribe",
        &[
            "--cafile", &ca, "--cert", &cert, "--key", &key, "-L", &url, "-C", "1", "-W", "10",
        ],
    ));
    assert_eq!(received.stdout, "from mosquitto\n");

    // Without a client certificate the listener refuses: exit 1 with a TLS error.
    let refused = run(ours(
        "subscribe",
        &["--cafile", &ca, "-L", &url, "-C", "1", "-W", "10"],
    ));
    assert_eq!(refused.status.code(), Some(1), "{}", refused.describe());
    assert!(refused.stderr.contains("TLS"), "{}", refused.describe());
}

/// The failures: a CA that did not sign the server's certificate (exit 1, a TLS error) unless
/// `--insecure` (both with `-h` and `-p`, where a TLS option alone means TLS); `--cert` without
/// `--key` and a URL without a topic (usage errors, exit 2); TLS options with a plain `mqtt://`
/// URL (exit 1).
#[test]
fn programs_tls_failures() {
    let Some((_pki, broker)) = setup(false) else {
        return;
    };
    let other = Pki::new("programs-other-ca");
    let other_ca = other.ca_file();
    let port = broker.tls_port.to_string();
    let to_broker = ["-h", "127.0.0.1", "-p", &port, "-t", "tls/f", "-m", "x"];
    let with = |extra: &[&str]| -> Vec<String> {
        extra
            .iter()
            .chain(to_broker.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let args = with(&["--cafile", &other_ca]);
    let untrusted = run(ours(
        "publish",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert_eq!(untrusted.status.code(), Some(1), "{}", untrusted.describe());
    assert!(
        untrusted.stderr.contains("TLS failure") && untrusted.stderr.contains("UnknownIssuer"),
        "{}",
        untrusted.describe()
    );
    let args = with(&["--insecure"]);
    succeeds(ours(
        "publish",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));

    let no_key = run(ours("publish", &["--cert", "c.pem", "-t", "t", "-m", "x"]));
    assert_eq!(no_key.status.code(), Some(2), "{}", no_key.describe());
    let url = format!("mqtts://127.0.0.1:{port}");
    let no_topic = run(ours("publish", &["-L", &url, "-m", "x"]));
    assert_eq!(no_topic.status.code(), Some(2), "{}", no_topic.describe());
    let plain_url = format!("mqtt://127.0.0.1:{}/t", broker.broker.port);
    let mixed = run(ours(
        "publish",
        &["--cafile", &other_ca, "-L", &plain_url, "-m", "x"],
    ));
    assert_eq!(mixed.status.code(), Some(1), "{}", mixed.describe());
    assert!(mixed.stderr.contains("mqtts://"), "{}", mixed.describe());
}
