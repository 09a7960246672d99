//! The C++17 wrapper (bindings/cpp/mqtt.hpp) and its demo: built by `make -C examples-c cpp`
//! with `-std=c++17 -Wall -Wextra -Wpedantic -Werror`, then run. A second program (CHECKS below,
//! compiled with the same flags) drives the wrapper's MQTT 5.0 surface against the library's
//! own broker and checks every value that comes back.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::support::*;

/// The flags examples-c/Makefile builds the demo with.
const CXX_FLAGS: &[&str] = &[
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Werror",
    "-O2",
    "-g",
];

#[test]
fn cpp_demo_builds_warning_free_and_runs() {
    make(&["cpp"], &[]);
    let demo = root().join("examples-c/build/cpp-demo");
    // Without cargo's LD_LIBRARY_PATH: the program finds the library through its rpath.
    let finished = run_ok(
        Command::new(&demo).env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(60),
    );
    let lines: Vec<&str> = finished.stdout.lines().collect();
    let expected_first = format!("libmqtt {} from C++17", env!("CARGO_PKG_VERSION"));
    assert_eq!(lines.first().copied(), Some(expected_first.as_str()));
    for expected in [
        "refused as expected: mqtt_connect: ",
        "received greetings/broker hello from the embedded broker",
        "received greetings/client hello from C++",
        "demo: all messages arrived; broker stopped",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "missing {expected:?} in:\n{}",
            finished.describe()
        );
    }
    // The refusal's exception carries the reason code (0x86 is MQTT 5.0's name for CONNACK 4).
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("refused as expected: ")
                && line.ends_with("[reason code 0x86 bad user name or password]")),
        "{}",
        finished.describe()
    );
}

/// The demo's MQTT 5.0 part: a publish with two user properties, content type, response topic,
/// correlation data, message expiry and payload format arrives with every property intact and
/// with the subscription's identifier; a request gets the responder's answer on the response
/// topic built from the broker's Response Information.
#[test]
fn cpp_demo_round_trips_mqtt_5_properties_and_a_request() {
    make(&["cpp"], &[]);
    let finished = run_ok(
        Command::new(root().join("examples-c/build/cpp-demo")).env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(60),
    );
    let v5: Vec<&str> = finished
        .stdout
        .lines()
        .filter(|line| line.starts_with("v5 "))
        .collect();
    let (expiry, rest): (Vec<&str>, Vec<&str>) = v5
        .iter()
        .partition(|line| line.starts_with("v5 message expiry: "));
    assert_eq!(
        rest,
        [
            r#"v5 received v5/sensors/kitchen {"t":21.5}"#,
            "v5 user properties: unit=celsius sensor=kitchen",
            "v5 content type: application/json",
            "v5 response topic: v5/replies",
            "v5 correlation data: corr-1",
            "v5 payload format: 1",
            "v5 subscription identifiers: 42",
            "v5 response replies/cpp-v5 echo: ping (text/plain)",
            "v5 request response topic: replies/cpp-v5",
        ],
        "{}",
        finished.describe()
    );
    // Published with 300 s; the broker forwards what remains of it.
    let seconds: Vec<u32> = expiry
        .iter()
        .filter_map(|line| line["v5 message expiry: ".len()..].parse().ok())
        .collect();
    assert!(
        matches!(seconds.as_slice(), [s] if (290..=300).contains(s)),
        "{}",
        finished.describe()
    );
}

/// MQTT 5.0 through the wrapper, each value checked by the program (CHECKS): every publish
/// property at QoS 1 and 2 and their absence on a plain publish, subscription identifiers,
/// OwnedMessage copies that survive a move, No Local, request() with a responder (and its
/// timeout), refusals as mqtt::Error with status, reason code and name (publish at QoS 1 and
/// 2, asynchronous publish, payload format 0x99, subscribe, subscribe_many), v5 calls below
/// level 5, enhanced authentication with re-authentication, and a will with properties
/// published by DISCONNECT 0x04.
#[test]
fn cpp_wrapper_speaks_mqtt_5_with_the_embedded_broker() {
    let scratch = ScratchDir::new("cpp-checks");
    let program = build_checks(&scratch);
    let finished = run(
        Command::new(&program).env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(60),
    );
    assert_checks_passed(&finished, "checks passed");
}

/// The demo under valgrind: the wrapper's destructors release every handle, and the callbacks
/// it hands to C are never used after they are freed. Skipped when valgrind is missing, except
/// under CI=true, where `.ci/run` has installed it. The MQTT 5.0 checks program too: options,
/// message copies and the authentication handlers.
#[test]
fn cpp_demo_is_clean_under_valgrind() {
    if !valgrind_present() {
        return;
    }
    make(&["cpp"], &[]);
    let scratch = ScratchDir::new("cpp-checks-valgrind");
    let checks = build_checks(&scratch);
    for program in [root().join("examples-c/build/cpp-demo"), checks] {
        run_ok(
            Command::new("valgrind")
                .args([
                    "--quiet",
                    "--error-exitcode=99",
                    "--leak-check=full",
                    "--errors-for-leak-kinds=definite,indirect",
                ])
                .arg(program)
                .env_remove("LD_LIBRARY_PATH"),
            Duration::from_secs(180),
        );
    }
}

/// TLS through the wrapper (TLS_CHECKS): a Broker opening only the listeners of its options
/// (plain TCP and TLS from the PEM files written here, from TlsOptions), their ports and URLs,
/// a client connecting over TLS with the self-signed certificate as CA (by host and port, and
/// by mqtts:// URL) whose publishes reach a plain-TCP subscriber, and TLS failures as
/// mqtt::Error with MQTT_STATUS_TLS (an unrelated CA, a wrong server name, a missing CA file,
/// mqtts:// with an unrelated CA); then tls_insecure, TLS 1.3 only and reload_tls().
#[test]
fn cpp_wrapper_connects_over_tls_to_a_broker_with_several_listeners() {
    let scratch = ScratchDir::new("cpp-tls-checks");
    for prefix in ["", "other-"] {
        write_self_signed(scratch.path(), prefix);
    }
    let program = build_program(&scratch, TLS_CHECKS);
    let finished = run(
        Command::new(&program)
            .arg(scratch.path())
            .env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(60),
    );
    assert_checks_passed(&finished, "tls checks passed");
}

const TLS_CHECKS: &str = r##"// TLS through mqtt.hpp. Prints "tls checks passed" or exits 1.
#include "mqtt.hpp"

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace {

int failures = 0;

void check(bool condition, const std::string &what) {
    if (!condition) {
        ++failures;
        std::cerr << "FAILED: " << what << "\n";
    }
}

template <typename Call> std::optional<mqtt::Error> error_of(Call call) {
    try {
        call();
    } catch (const mqtt::Error &error) {
        return error;
    }
    return std::nullopt;
}

std::string status_of(const std::optional<mqtt::Error> &error) {
    return error ? std::to_string(static_cast<int>(error->status())) : std::string("none");
}

} // namespace

int main(int argc, char **argv) {
    using namespace std::chrono_literals;
    if (argc != 2) {
        return 2;
    }
    const std::string dir = argv[1];
    const std::string cert = dir + "/cert.pem";
    const std::string key = dir + "/key.pem";
    const std::string other_ca = dir + "/other-cert.pem";
    check(MQTT_STATUS_TLS == 46, "MQTT_STATUS_TLS is 46");

    mqtt::TlsOptions tls;
    tls.certificate_files(cert, key).min_version(12);
    mqtt::BrokerOptions options;
    options.listener(MQTT_LISTENER_KIND_TCP, "127.0.0.1", 0)
        .listener(MQTT_LISTENER_KIND_TLS, "127.0.0.1", 0, tls)
        .websocket_listener("127.0.0.1", 0, "/ws");
    check(options.listener_count() == 3, "three listeners in the options");
    mqtt::Broker broker(options);
    broker.start();
    check(broker.listener_count() == 3, "three listeners");
    const std::uint16_t tcp_port = broker.listener_port(0);
    const std::uint16_t tls_port = broker.listener_port(1);
    const std::uint16_t ws_port = broker.listener_port(2);
    check(tcp_port != 0 && tls_port != 0 && ws_port != 0 && tcp_port != tls_port,
          "ports assigned");
    const std::vector<std::string> urls = broker.listener_urls();
    check(urls == std::vector<std::string>{"mqtt://127.0.0.1:" + std::to_string(tcp_port),
                                           "mqtts://127.0.0.1:" + std::to_string(tls_port),
                                           "ws://127.0.0.1:" + std::to_string(ws_port) + "/ws"},
          "listener URLs");
    check(error_of([&] { broker.listener_url(3); }).has_value(), "no fourth listener");

    std::mutex mutex;
    std::condition_variable arrived;
    std::set<std::pair<std::string, std::string>> received;
    mqtt::ConnectOptions sub_options;
    sub_options.client_id("plain-sub");
    mqtt::Connection sub = mqtt::Connection::connect("127.0.0.1", tcp_port, sub_options);
    sub.subscribe("tls/#", 1, [&](const mqtt::Message &message) {
        const std::lock_guard<std::mutex> guard(mutex);
        received.emplace(std::string(message.topic), std::string(message.payload));
        arrived.notify_all();
    });
    sub.loop_start();
    {
        mqtt::ConnectOptions trusted;
        trusted.client_id("tls-pub").tls(cert);
        mqtt::Connection pub = mqtt::Connection::connect("localhost", tls_port, trusted);
        check(pub.connected(), "connected over TLS");
        pub.publish("tls/by-host", "secret 1", 1);
        mqtt::Connection by_url = mqtt::Connection::connect_url(urls[1], trusted);
        by_url.publish("tls/by-url", "secret 2", 1);
        mqtt::ConnectOptions tls13;
        tls13.tls(cert).tls_min_version(13).tls_server_name("localhost");
        mqtt::Connection modern = mqtt::Connection::connect("127.0.0.1", tls_port, tls13);
        modern.publish("tls/tls13", "secret 3", 1);
        mqtt::ConnectOptions insecure;
        insecure.tls(other_ca).tls_insecure(true);
        mqtt::Connection any = mqtt::Connection::connect("127.0.0.1", tls_port, insecure);
        any.publish("tls/insecure", "secret 4", 1);
    }
    {
        std::unique_lock<std::mutex> lock(mutex);
        arrived.wait_for(lock, 10s, [&] { return received.size() >= 4; });
        check(received == std::set<std::pair<std::string, std::string>>{
                              {"tls/by-host", "secret 1"},
                              {"tls/by-url", "secret 2"},
                              {"tls/tls13", "secret 3"},
                              {"tls/insecure", "secret 4"}},
              "the plain subscriber got every TLS publish");
    }
    sub.loop_stop();

    const auto fails_with_tls = [&](const std::string &what, mqtt::ConnectOptions &opts) {
        opts.connect_timeout(5s);
        const auto error =
            error_of([&] { mqtt::Connection::connect("127.0.0.1", tls_port, opts); });
        check(error && error->status() == MQTT_STATUS_TLS,
              what + ": MQTT_STATUS_TLS, got " + status_of(error));
    };
    mqtt::ConnectOptions unrelated;
    unrelated.tls(other_ca);
    fails_with_tls("an unrelated CA", unrelated);
    mqtt::ConnectOptions secure_off;
    secure_off.tls(other_ca).tls_insecure(false);
    fails_with_tls("insecure off", secure_off);
    mqtt::ConnectOptions wrong_name;
    wrong_name.tls(cert).tls_server_name("example.com");
    fails_with_tls("a wrong server name", wrong_name);
    mqtt::ConnectOptions missing;
    missing.tls(dir + "/missing.pem");
    fails_with_tls("a missing CA file", missing);
    const auto by_url = error_of([&] { mqtt::Connection::connect_url(urls[1], unrelated); });
    check(by_url && by_url->status() == MQTT_STATUS_TLS,
          "mqtts:// with an unrelated CA: got " + status_of(by_url));
    mqtt::ConnectOptions plain_with_tls;
    plain_with_tls.tls(cert);
    const auto plain_url = error_of([&] { mqtt::Connection::connect_url(urls[0], plain_with_tls); });
    check(plain_url && plain_url->status() == MQTT_STATUS_INVALID_ARGUMENT,
          "mqtt:// with TLS settings: got " + status_of(plain_url));
    broker.reload_tls();

    mqtt::BrokerOptions no_cert;
    const auto refused =
        error_of([&] { no_cert.listener(MQTT_LISTENER_KIND_TLS, "127.0.0.1", 0, mqtt::TlsOptions()); });
    check(refused && refused->status() == MQTT_STATUS_INVALID_ARGUMENT,
          "a TLS listener without certificate: got " + status_of(refused));
    const auto no_tls = error_of([&] { no_cert.listener(MQTT_LISTENER_KIND_TLS, "127.0.0.1", 0); });
    check(no_tls && no_tls->status() == MQTT_STATUS_NULL_ARGUMENT,
          "a TLS listener without TLS options: got " + status_of(no_tls));

    sub.disconnect();
    broker.stop();
    if (failures != 0) {
        std::cout << failures << " checks failed\n";
        return 1;
    }
    std::cout << "tls checks passed\n";
    return 0;
}
"##;

/// Persistence, restart and the extended authenticator through the wrapper
/// (PERSISTENCE_CHECKS): a Broker with a persistence file in the scratch directory stores a
/// retained message (persistence_stats: commits ≥ 1, no failure, bytes on disk), is stopped and
/// started again on the same object (the message still there), then destroyed; a new Broker on
/// the same file has it (retained count 1, a subscriber receives it with the retain flag), as
/// does one with persistence_sync(100ms). A broker without a file refuses persistence_stats with
/// MQTT_STATUS_INVALID_STATE, a damaged file makes start() throw MQTT_STATUS_PERSISTENCE. The
/// authenticator's Credentials carry the peer address (the client's own socket address), no
/// certificate identity on plain TCP and the protocol level, and it refuses a wrong password.
#[test]
fn cpp_wrapper_persists_restarts_and_authenticates_with_the_peer_address() {
    let scratch = ScratchDir::new("cpp-persistence-checks");
    let program = build_program(&scratch, PERSISTENCE_CHECKS);
    let finished = run(
        Command::new(&program)
            .arg(scratch.path())
            .env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(60),
    );
    assert_checks_passed(&finished, "persistence checks passed");
}

const PERSISTENCE_CHECKS: &str = r##"// Persistence, restart and the authenticator's peer address
// through mqtt.hpp. Prints "persistence checks passed" or exits 1. Every wait is bounded.
#include "mqtt.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

int failures = 0;

void check(bool condition, const std::string &what) {
    if (!condition) {
        ++failures;
        std::cerr << "FAILED: " << what << "\n";
    }
}

template <typename Call> std::optional<mqtt::Error> error_of(Call call) {
    try {
        call();
    } catch (const mqtt::Error &error) {
        return error;
    }
    return std::nullopt;
}

std::string status_of(const std::optional<mqtt::Error> &error) {
    return error ? std::to_string(static_cast<int>(error->status())) : std::string("none");
}

struct Received {
    std::string topic;
    std::string payload;
    bool retain;
};

/// What a new subscriber to `filter` on the broker at `port` receives, waiting up to 10 s for
/// `count` messages (then 200 ms for any more).
std::vector<Received> receive_retained(std::uint16_t port, const std::string &filter,
                                       std::size_t count) {
    std::mutex mutex;
    std::condition_variable arrived;
    std::vector<Received> got;
    mqtt::Connection sub = mqtt::Connection::connect("127.0.0.1", port, mqtt::ConnectOptions());
    sub.subscribe(filter, 1, [&](const mqtt::Message &message) {
        const std::lock_guard<std::mutex> guard(mutex);
        got.push_back({std::string(message.topic), std::string(message.payload), message.retain});
        arrived.notify_all();
    });
    sub.loop_start();
    {
        std::unique_lock<std::mutex> lock(mutex);
        arrived.wait_for(lock, 10s, [&] { return got.size() >= count; });
        arrived.wait_for(lock, 200ms, [&] { return got.size() > count; });
    }
    sub.loop_stop();
    sub.disconnect();
    const std::lock_guard<std::mutex> guard(mutex);
    return got;
}

bool is_the_kept_message(const std::vector<Received> &got) {
    return got.size() == 1 && got[0].topic == "persist/kept" && got[0].payload == "kept" &&
           got[0].retain;
}

mqtt::BrokerOptions persistent(const std::string &file) {
    mqtt::BrokerOptions options;
    options.persistence(file);
    return options;
}

/// The local address of a connection's socket as "ip:port".
std::string local_address(int fd) {
    sockaddr_in address{};
    socklen_t len = sizeof address;
    if (getsockname(fd, reinterpret_cast<sockaddr *>(&address), &len) != 0) {
        return "getsockname failed";
    }
    char ip[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &address.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(address.sin_port));
}

void persistence(const std::string &dir) {
    check(MQTT_STATUS_PERSISTENCE == 47, "MQTT_STATUS_PERSISTENCE is 47");
    const std::string file = dir + "/store.db";
    {
        mqtt::Broker broker("0", persistent(file));
        broker.start();
        mqtt::ConnectOptions options;
        options.client_id("persist-pub");
        mqtt::Connection pub = mqtt::Connection::connect("127.0.0.1", broker.port(), options);
        // Durable by default: PUBACK comes once the message is on disk.
        pub.publish("persist/kept", "kept", 1, true);
        pub.disconnect();
        const mqtt_persistence_statistics stats = broker.persistence_stats();
        check(stats.commits >= 1, "commits >= 1, got " + std::to_string(stats.commits));
        check(stats.failures == 0, "no failed commit, got " + std::to_string(stats.failures));
        check(stats.bytes_on_disk > 0, "bytes on disk");
        check(broker.stats().retained_messages == 1, "one retained message");

        // Restart of the same object.
        broker.stop();
        broker.stop();
        broker.start();
        check(broker.port() != 0, "listening again");
        check(broker.stats().retained_messages == 1, "retained after restart of the object");
        check(is_the_kept_message(receive_retained(broker.port(), "persist/#", 1)),
              "a subscriber after the restart gets the retained message");
        const auto again = error_of([&] { broker.start(); });
        check(again && again->status() == MQTT_STATUS_ALREADY_RUNNING,
              "start while running: got " + status_of(again));
    }
    {
        // A new broker on the same file.
        mqtt::Broker broker("0", persistent(file));
        broker.start();
        check(broker.stats().retained_messages == 1, "retained count 1 in the new broker");
        check(is_the_kept_message(receive_retained(broker.port(), "persist/#", 1)),
              "a subscriber to the new broker gets the retained message");
        check(broker.persistence_stats().failures == 0, "no failure in the new broker");
    }
    {
        // Committed every 100 ms: the message reaches the file by the stop at the latest.
        const std::string interval_file = dir + "/interval.db";
        mqtt::BrokerOptions options = persistent(interval_file);
        options.persistence_sync(100ms);
        {
            mqtt::Broker broker("0", options);
            broker.start();
            broker.publish("persist/kept", "kept", 1, true);
            broker.stop();
            check(broker.persistence_stats().commits >= 1, "interval: committed by the stop");
        }
        mqtt::Broker broker("0", options);
        broker.start();
        check(is_the_kept_message(receive_retained(broker.port(), "persist/#", 1)),
              "interval: the next broker has the retained message");
        bool out_of_range = false;
        try {
            options.persistence_sync(-1ms);
        } catch (const std::out_of_range &) {
            out_of_range = true;
        }
        check(out_of_range, "a negative interval is refused");
    }
    {
        mqtt::Broker memory;
        memory.start();
        const auto none = error_of([&] { memory.persistence_stats(); });
        check(none && none->status() == MQTT_STATUS_INVALID_STATE,
              "persistence_stats without a file: got " + status_of(none));
    }
    {
        const std::string damaged = dir + "/damaged.db";
        std::ofstream(damaged) << "not a libmqtt store, not at all";
        mqtt::Broker broker("0", persistent(damaged));
        const auto refused = error_of([&] { broker.start(); });
        check(refused && refused->status() == MQTT_STATUS_PERSISTENCE,
              "a damaged file: got " + status_of(refused));
        check(refused && std::string(refused->what()).find("damaged.db") != std::string::npos,
              "the error names the file");
    }
}

void authenticator() {
    std::mutex mutex;
    std::vector<std::string> seen;
    mqtt::BrokerOptions options;
    options.authenticator([&](const mqtt::Credentials &credentials) {
        const std::lock_guard<std::mutex> guard(mutex);
        seen.push_back(std::string(credentials.client_id) + " " +
                       std::string(credentials.username.value_or("-")) + " " +
                       std::string(credentials.peer) + " " +
                       std::string(credentials.certificate_identity.value_or("-")) + " " +
                       std::to_string(credentials.protocol_level));
        return credentials.password == std::optional<std::string_view>("right")
                   ? MQTT_AUTH_RESULT_ACCEPT
                   : MQTT_AUTH_RESULT_BAD_CREDENTIALS;
    });
    mqtt::Broker broker("0", options);
    broker.start();

    mqtt::ConnectOptions wrong;
    wrong.client_id("auth-wrong").username("user").password("wrong");
    const auto refused =
        error_of([&] { mqtt::Connection::connect("127.0.0.1", broker.port(), wrong); });
    check(refused && refused->status() == MQTT_STATUS_REFUSED_BAD_CREDENTIALS,
          "a wrong password is refused: got " + status_of(refused));

    mqtt::ConnectOptions right;
    right.client_id("auth-right").username("user").password("right");
    mqtt::Connection v4 = mqtt::Connection::connect("127.0.0.1", broker.port(), right);
    const std::string v4_address = local_address(v4.socket());
    right.client_id("auth-v5").protocol_level(5);
    mqtt::Connection v5 = mqtt::Connection::connect("127.0.0.1", broker.port(), right);
    const std::string v5_address = local_address(v5.socket());
    check(v4.connected() && v5.connected(), "the right password is accepted");

    const std::lock_guard<std::mutex> guard(mutex);
    check(seen.size() == 3, "three requests, got " + std::to_string(seen.size()));
    if (seen.size() == 3) {
        const std::string suffix = " - 4";
        check(seen[0].rfind("auth-wrong user 127.0.0.1:", 0) == 0 && seen[0].size() > 30 &&
                  seen[0].compare(seen[0].size() - suffix.size(), suffix.size(), suffix) == 0,
              "the refused client's request: " + seen[0]);
        check(seen[1] == "auth-right user " + v4_address + " - 4",
              "3.1.1 request " + seen[1] + " from " + v4_address);
        check(seen[2] == "auth-v5 user " + v5_address + " - 5",
              "5.0 request " + seen[2] + " from " + v5_address);
    }
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        return 2;
    }
    try {
        persistence(argv[1]);
        authenticator();
    } catch (const std::exception &e) {
        std::cerr << "FAILED: unexpected exception: " << e.what() << "\n";
        ++failures;
    }
    if (failures != 0) {
        std::cout << failures << " checks failed\n";
        return 1;
    }
    std::cout << "persistence checks passed\n";
    return 0;
}
"##;

/// Writes CHECKS to `scratch` and compiles it with the demo's flags against mqtt.hpp and the
/// release library.
fn build_checks(scratch: &ScratchDir) -> PathBuf {
    build_program(scratch, CHECKS)
}

/// Writes `text` to `scratch` and compiles it with the demo's flags against mqtt.hpp and the
/// release library.
fn build_program(scratch: &ScratchDir, text: &str) -> PathBuf {
    // Builds target/release/libmqtt.so and include/mqtt.h under the lock every C build takes.
    make(&["cpp"], &[]);
    let source = scratch.path().join("checks.cpp");
    std::fs::write(&source, text).unwrap();
    let program = scratch.path().join("checks");
    let mut command = Command::new("c++");
    command
        .args(CXX_FLAGS)
        .arg("-I")
        .arg(root().join("bindings/cpp"));
    link_with_library(&mut command, &source, &program);
    run_ok(&mut command, Duration::from_secs(180));
    program
}

const CHECKS: &str = r##"// MQTT 5.0 through mqtt.hpp against the library's own broker. Prints "checks passed" or
// exits 1 after listing every failed check on stderr. Every wait is bounded.
#include "mqtt.hpp"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

int failures = 0;

void check(bool condition, const std::string &what) {
    if (!condition) {
        ++failures;
        std::cerr << "FAILED: " << what << "\n";
    }
}

using namespace std::chrono_literals;

/// Copies of the messages a handler received, awaited by the main thread.
class Inbox {
public:
    mqtt::MessageHandler handler() {
        return [this](const mqtt::Message &message) {
            mqtt::OwnedMessage copy = message.copy();
            const std::lock_guard<std::mutex> guard(mutex_);
            messages_.push_back(std::move(copy));
            arrived_.notify_all();
        };
    }

    /// Whether `count` messages arrived within `limit`.
    bool wait_for(std::size_t count, std::chrono::milliseconds limit = 10s) {
        std::unique_lock<std::mutex> lock(mutex_);
        return arrived_.wait_for(lock, limit, [&] { return messages_.size() >= count; });
    }

    std::vector<std::string> payloads() {
        const std::lock_guard<std::mutex> guard(mutex_);
        std::vector<std::string> out;
        for (const auto &m : messages_) {
            out.emplace_back(m.payload);
        }
        return out;
    }

    /// The message at `index`; call after wait_for(index + 1) succeeded.
    const mqtt::OwnedMessage &at(std::size_t index) {
        const std::lock_guard<std::mutex> guard(mutex_);
        return messages_.at(index);
    }

private:
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<mqtt::OwnedMessage> messages_;
};

mqtt::ConnectOptions v5(const std::string &client_id) {
    mqtt::ConnectOptions options;
    options.client_id(client_id).protocol_level(5);
    return options;
}

template <typename Call> std::optional<mqtt::Error> error_of(Call call) {
    try {
        call();
    } catch (const mqtt::Error &error) {
        return error;
    }
    return std::nullopt;
}

void properties_arrive(std::uint16_t port) {
    mqtt::Connection sub = mqtt::Connection::connect("127.0.0.1", port, v5("props-sub"));
    Inbox inbox;
    check(sub.subscribe("props/#", 2, inbox.handler(),
                        mqtt::SubscribeOptions().subscription_identifier(7)) == 2,
          "SUBACK reason code 2");
    sub.loop_start();

    // Every v5 connect option at once; the topic alias maximum of the broker (10) lets the
    // second publish to the same topic go as an alias.
    mqtt::ConnectOptions all = v5("props-pub");
    all.session_expiry(60s)
        .receive_maximum(10)
        .maximum_packet_size(1 << 20)
        .topic_alias_maximum(5)
        .request_problem_information(false)
        .request_response_information(false)
        .user_property("connect", "1");
    mqtt::Connection pub = mqtt::Connection::connect("127.0.0.1", port, all);

    const std::string correlation("\x00\x01\xff", 3);
    mqtt::PublishOptions options;
    options.user_property("a", "1")
        .user_property("b", "2")
        .content_type("text/plain; charset=utf-8")
        .response_topic("props/reply")
        .correlation_data(correlation)
        .message_expiry(60s)
        .payload_format(1);
    check(pub.publish("props/full", "hello", 1, false, options) == 0x00, "PUBACK code 0x00");
    check(pub.publish("props/full", "again", 2, false, options) == 0x00, "PUBCOMP code 0x00");
    pub.publish("props/plain", "bare", 1, false, mqtt::PublishOptions());
    check(inbox.wait_for(3), "three messages arrived");
    if (!inbox.wait_for(3)) {
        return;
    }
    for (std::size_t i = 0; i < 2; ++i) {
        const mqtt::OwnedMessage &m = inbox.at(i);
        const std::string which = "message " + std::to_string(i) + ": ";
        check(m.topic == "props/full", which + "topic " + std::string(m.topic));
        check(m.qos == static_cast<int>(i + 1), which + "qos");
        check(m.user_properties() == mqtt::UserProperties{{"a", "1"}, {"b", "2"}},
              which + "user properties in order");
        check(m.content_type() == std::optional<std::string_view>("text/plain; charset=utf-8"),
              which + "content type");
        check(m.response_topic() == std::optional<std::string_view>("props/reply"),
              which + "response topic");
        check(m.correlation_data() == std::optional<std::string_view>(correlation),
              which + "binary correlation data");
        const auto expiry = m.message_expiry();
        check(expiry && *expiry <= 60s && *expiry >= 55s, which + "message expiry about 60 s");
        check(m.payload_format() == std::optional<int>(1), which + "payload format 1");
        check(m.subscription_identifiers() == std::vector<std::uint32_t>{7},
              which + "subscription identifier 7");
    }
    check(inbox.at(0).payload == "hello" && inbox.at(1).payload == "again", "payloads");
    const mqtt::OwnedMessage &plain = inbox.at(2);
    check(plain.payload == "bare", "plain payload");
    check(plain.user_properties().empty(), "no user properties");
    check(!plain.content_type() && !plain.response_topic() && !plain.correlation_data() &&
              !plain.message_expiry() && !plain.payload_format(),
          "no properties on a plain publish");
    check(plain.subscription_identifiers() == std::vector<std::uint32_t>{7},
          "the identifier comes with a plain publish too");

    // A copy of a copy keeps everything, and stays valid after a move.
    mqtt::OwnedMessage copy = inbox.at(0).copy();
    mqtt::OwnedMessage moved = std::move(copy);
    check(moved.topic == "props/full" && moved.payload == "hello" &&
              moved.correlation_data() == std::optional<std::string_view>(correlation) &&
              moved.user_properties().size() == 2,
          "a moved copy keeps its views");
    sub.loop_stop();
    sub.disconnect();
    pub.disconnect();
}

void no_local_suppresses_own_messages(std::uint16_t port) {
    mqtt::Connection self = mqtt::Connection::connect("127.0.0.1", port, v5("nolocal-self"));
    mqtt::Connection other = mqtt::Connection::connect("127.0.0.1", port, v5("nolocal-other"));
    Inbox mine;
    Inbox control;
    self.subscribe("nolocal/t", 1, mine.handler(), mqtt::SubscribeOptions().no_local());
    other.subscribe("nolocal/t", 1, control.handler(), mqtt::SubscribeOptions());
    self.loop_start();
    other.loop_start();
    self.publish("nolocal/t", "from self", 1, false, mqtt::PublishOptions());
    other.publish("nolocal/t", "from other", 1, false, mqtt::PublishOptions());
    check(control.wait_for(2), "the control subscriber got both");
    check(mine.wait_for(1), "the no-local subscriber got the other's message");
    check(mine.payloads() == std::vector<std::string>{"from other"},
          "no-local: only the other's message, not its own");
    self.loop_stop();
    other.loop_stop();
}

void request_gets_a_response(std::uint16_t port) {
    mqtt::Connection responder =
        mqtt::Connection::connect("127.0.0.1", port, v5("checks-responder"));
    std::mutex mutex;
    std::string seen_response_topic;
    responder.subscribe("svc/echo", 1, [&](const mqtt::Message &request) {
        const auto reply_to = request.response_topic();
        const auto correlation = request.correlation_data();
        if (!reply_to || !correlation) {
            return;
        }
        {
            const std::lock_guard<std::mutex> guard(mutex);
            seen_response_topic = std::string(*reply_to);
        }
        mqtt::PublishOptions reply;
        reply.correlation_data(*correlation).user_property("handled-by", "responder");
        responder.publish(std::string(*reply_to), "pong:" + std::string(request.payload), 1,
                          false, reply);
    });
    responder.loop_start();

    mqtt::Connection requester = mqtt::Connection::connect("127.0.0.1", port, v5("checks-req"));
    const auto response = requester.request("svc/echo", "ping", 1, 10s);
    check(response.has_value(), "a response came");
    if (response) {
        check(response->payload == "pong:ping",
              "response payload " + std::string(response->payload));
        check(response->topic == "libmqtt/response/checks-req",
              "response topic " + std::string(response->topic));
        check(response->user_properties() ==
                  mqtt::UserProperties{{"handled-by", "responder"}},
              "the response's user property");
        check(response->correlation_data().has_value() && !response->correlation_data()->empty(),
              "the response carries the correlation data");
    }
    {
        const std::lock_guard<std::mutex> guard(mutex);
        check(seen_response_topic == "libmqtt/response/checks-req",
              "the request's response topic: " + seen_response_topic);
    }
    // Nobody answers here.
    check(!requester.request("svc/nobody", "ping", 1, 300ms).has_value(),
          "request times out without a responder");
    responder.loop_stop();

    mqtt::Connection v4 = mqtt::Connection::connect("127.0.0.1", port);
    const auto refused = error_of([&] { v4.request("svc/echo", "ping", 1, 1s); });
    check(refused && refused->status() == MQTT_STATUS_INVALID_ARGUMENT,
          "request below protocol level 5 is an invalid argument");
    const auto with_properties = error_of([&] {
        v4.publish("t", "x", 1, false, mqtt::PublishOptions().content_type("text/plain"));
    });
    check(with_properties && with_properties->status() == MQTT_STATUS_INVALID_ARGUMENT,
          "properties below protocol level 5 are an invalid argument");
}

void refusals_carry_reason_codes(std::uint16_t port) {
    mqtt::Connection c = mqtt::Connection::connect("127.0.0.1", port, v5("refused"));

    for (int qos : {1, 2}) {
        const auto e = error_of([&] {
            c.publish("news/readonly", "x", qos, false,
                      mqtt::PublishOptions().user_property("k", "v"));
        });
        const std::string which = "QoS " + std::to_string(qos) + " publish refused: ";
        check(e.has_value(), which + "throws");
        if (e) {
            check(e->status() == MQTT_STATUS_PUBLISH_REFUSED, which + "PUBLISH_REFUSED");
            check(e->reason_code() == 0x87, which + "reason 0x87, got " +
                                                std::to_string(e->reason_code()));
            check(e->reason_name() == "not authorized", which + e->reason_name());
            check(std::string(e->what()).find("[reason code 0x87 not authorized]") !=
                      std::string::npos,
                  which + e->what());
        }
    }

    const auto bad_utf8 = error_of([&] {
        c.publish("text/t", std::string("\xff\xfe", 2), 1, false,
                  mqtt::PublishOptions().payload_format(1));
    });
    check(bad_utf8 && bad_utf8->status() == MQTT_STATUS_PUBLISH_REFUSED &&
              bad_utf8->reason_code() == 0x99,
          "invalid UTF-8 with payload format 1 is refused with 0x99");

    const auto async = c.publish_async("news/readonly", "x", 1, false, mqtt::PublishOptions());
    const auto async_refused = error_of([&] { c.wait_published(async.packet_id, 10s); });
    check(async_refused && async_refused->status() == MQTT_STATUS_PUBLISH_REFUSED &&
              async_refused->reason_code() == 0x87,
          "an asynchronous publish's refusal comes through wait_published with 0x87");

    const auto sub_refused = error_of([&] {
        c.subscribe("secret/#", 1, [](const mqtt::Message &) {}, mqtt::SubscribeOptions());
    });
    check(sub_refused && sub_refused->status() == MQTT_STATUS_SUBSCRIBE_FAILED &&
              sub_refused->reason_code() == 0x87 &&
              sub_refused->reason_name() == "not authorized",
          "a refused subscription throws SUBSCRIBE_FAILED with 0x87");

    const std::vector<int> codes = c.subscribe_many(
        {{"open/+", 1}, {"secret/x", 0}}, [](const mqtt::Message &) {},
        mqtt::SubscribeOptions().retain_handling(2));
    check(codes == std::vector<int>{1, 0x87}, "subscribe_many reason codes {1, 0x87}");

    // UNSUBACK 0x11 (no subscription existed) is not a refusal.
    check(!error_of([&] { c.unsubscribe("never/subscribed"); }), "unsubscribing nothing is fine");
    check(mqtt::reason_code_name(0x11) == "no subscription existed", mqtt::reason_code_name(0x11));

    const auto local =
        error_of([&] { c.publish("bad/+", "x", 1, false, mqtt::PublishOptions()); });
    check(local && local->status() == MQTT_STATUS_INVALID_TOPIC && local->reason_code() == -1 &&
              local->reason_name().empty(),
          "a local error carries no reason code");

    bool threw = false;
    try {
        mqtt::ConnectOptions().protocol_level(6);
    } catch (const mqtt::Error &e) {
        threw = e.status() == MQTT_STATUS_INVALID_ARGUMENT;
    }
    check(threw, "protocol level 6 is an invalid argument");
    c.disconnect();
}

void enhanced_authentication(std::uint16_t port) {
    std::mutex mutex;
    std::vector<std::string> steps;
    mqtt::ConnectOptions options = v5("auth-ok");
    options.authentication("token", "hello", [&](std::string_view method, std::string_view data) {
        const std::lock_guard<std::mutex> guard(mutex);
        steps.push_back(std::string(method) + ":" + std::string(data));
        return std::optional<std::string>(data == "challenge" ? "answer" : "again-answer");
    });
    mqtt::Connection c = mqtt::Connection::connect("127.0.0.1", port, options);
    check(c.connected(), "connected with enhanced authentication");
    c.reauthenticate("again");
    check(c.connected(), "still connected after re-authentication");
    {
        const std::lock_guard<std::mutex> guard(mutex);
        check(steps == std::vector<std::string>{"token:challenge", "token:rechallenge"},
              "the handler answered both challenges");
    }
    c.disconnect();

    mqtt::ConnectOptions wrong = v5("auth-wrong");
    wrong.authentication("token", "hello", [](std::string_view, std::string_view) {
        return std::optional<std::string>("wrong");
    });
    const auto refused = error_of([&] { mqtt::Connection::connect("127.0.0.1", port, wrong); });
    check(refused && refused->status() == MQTT_STATUS_REFUSED_NOT_AUTHORIZED &&
              refused->reason_code() == 0x87,
          "a wrong answer is refused with 0x87");

    mqtt::ConnectOptions give_up = v5("auth-give-up");
    give_up.authentication("token", "hello",
                           [](std::string_view, std::string_view) { return std::nullopt; });
    const auto failed = error_of([&] { mqtt::Connection::connect("127.0.0.1", port, give_up); });
    check(failed && failed->status() == MQTT_STATUS_AUTH_FAILED,
          "a handler that gives up fails the connect with AUTH_FAILED");
}

void will_with_properties(std::uint16_t port) {
    mqtt::Connection watcher = mqtt::Connection::connect("127.0.0.1", port, v5("will-watcher"));
    Inbox wills;
    watcher.subscribe("wills/#", 1, wills.handler(), mqtt::SubscribeOptions());
    watcher.loop_start();
    mqtt::ConnectOptions options = v5("will-owner");
    options.will("wills/owner", "gone", 1)
        .will_properties(
            mqtt::PublishOptions().content_type("text/plain").user_property("why", "test"), 0s);
    mqtt::Connection owner = mqtt::Connection::connect("127.0.0.1", port, options);
    owner.disconnect(0x04);
    check(wills.wait_for(1), "DISCONNECT 0x04 published the will");
    if (wills.wait_for(1)) {
        const mqtt::OwnedMessage &will = wills.at(0);
        check(will.payload == "gone", "the will's payload");
        check(will.content_type() == std::optional<std::string_view>("text/plain"),
              "the will's content type");
        check(will.user_properties() == mqtt::UserProperties{{"why", "test"}},
              "the will's user property");
    }
    watcher.loop_stop();
}

int authenticate_step(const mqtt::AuthStep &step, std::string &reply) {
    if (step.method != "token") {
        return 0x8C;
    }
    if (!step.reauthenticating) {
        if (step.step == 0 && step.data == "hello") {
            reply = "challenge";
            return 0x18;
        }
        return step.step == 1 && step.data == "answer" ? 0x00 : 0x87;
    }
    if (step.step == 0 && step.data == "again") {
        reply = "rechallenge";
        return 0x18;
    }
    return step.step == 1 && step.data == "again-answer" ? 0x00 : 0x87;
}

/// The log handler and redirect_client: a 5.0 client sent elsewhere, only notices logged, the
/// connect among them; unknown clients refused with MQTT_STATUS_NOT_FOUND.
void redirect_and_log() {
    auto lines = std::make_shared<std::vector<std::pair<int, std::string>>>();
    auto lock = std::make_shared<std::mutex>();
    mqtt::BrokerOptions options;
    options.on_log(
        [lines, lock](int type, const char *line) {
            std::lock_guard<std::mutex> guard(*lock);
            lines->emplace_back(type, line);
        },
        MQTT_BROKER_LOG_TYPE_NOTICE);
    mqtt::Broker broker("0", options);
    broker.start();
    {
        mqtt::ConnectOptions v5;
        v5.protocol_level(5).client_id("moved");
        mqtt::Connection moved = mqtt::Connection::connect("127.0.0.1", broker.port(), v5);
        broker.redirect_client("moved", "elsewhere.example:1883", true);
        for (int i = 0; i < 1000 && broker.stats().clients_connected != 0; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        check(broker.stats().clients_connected == 0, "redirect_client closed the connection");
    }
    for (auto call : {+[](mqtt::Broker &b) { b.redirect_client("nobody", "elsewhere.example"); },
                      +[](mqtt::Broker &b) { b.disconnect_client("nobody"); }}) {
        try {
            call(broker);
            check(false, "an unknown client is refused");
        } catch (const mqtt::Error &e) {
            check(e.status() == MQTT_STATUS_NOT_FOUND, "unknown client: MQTT_STATUS_NOT_FOUND");
        }
    }
    broker.stop();
    std::lock_guard<std::mutex> guard(*lock);
    bool connect_logged = false;
    for (const auto &[type, line] : *lines) {
        check(type == MQTT_BROKER_LOG_TYPE_NOTICE, "only notices logged: " + line);
        connect_logged |= line.find("moved") != std::string::npos &&
                          line.find("connected") != std::string::npos;
    }
    check(connect_logged, "the connect was logged");
}

} // namespace

int main() {
    try {
        mqtt::BrokerOptions options;
        options.authorizer([](std::string_view, std::string_view topic, mqtt_access access) {
            if (access == MQTT_ACCESS_PUBLISH) {
                return topic.find("readonly") == std::string_view::npos;
            }
            return topic.rfind("secret/", 0) != 0;
        });
        options.enhanced_authenticator([](const mqtt::AuthStep &step) {
            mqtt::AuthDecision decision{0x87, std::string()};
            decision.reason_code = authenticate_step(step, decision.data);
            return decision;
        });
        mqtt::Broker broker("0", options);
        broker.start();
        properties_arrive(broker.port());
        no_local_suppresses_own_messages(broker.port());
        request_gets_a_response(broker.port());
        refusals_carry_reason_codes(broker.port());
        enhanced_authentication(broker.port());
        will_with_properties(broker.port());
        broker.stop();
        redirect_and_log();
    } catch (const std::exception &e) {
        ++failures;
        std::cerr << "FAILED: unexpected exception: " << e.what() << "\n";
    }
    if (failures == 0) {
        std::cout << "checks passed\n";
        return 0;
    }
    std::cout << failures << " checks failed\n";
    return 1;
}
"##;
