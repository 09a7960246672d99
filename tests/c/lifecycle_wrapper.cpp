// The C++ wrapper's lifecycle additions (issue 11): will, timeouts, auto-reconnect with
// on_connect / on_disconnect across a broker restart, the offline queue (publish_async queued,
// wait_published, on_published), subscribe_many, the default message handler, the broker event
// handler and the event loop members. Prints "lifecycle wrapper ok" and exits 0.
#include "../../bindings/cpp/mqtt.hpp"

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <thread>

namespace {

void require(bool condition, const char *what) {
    if (!condition) {
        std::cerr << "check failed: " << what << "\n";
        std::exit(1);
    }
}

template <typename Condition> bool eventually(Condition condition) {
    for (int i = 0; i < 500; ++i) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

} // namespace

int main() {
    using namespace std::chrono_literals;
    std::atomic<int> broker_events{0}, connects{0}, disconnects{0}, messages{0}, acked{0};
    std::atomic<bool> will_reconnect{false};

    auto broker = std::make_unique<mqtt::Broker>(
        "0", mqtt::BrokerOptions().on_event([&](const mqtt_broker_event &) { ++broker_events; }));
    broker->start();
    const std::uint16_t port = broker->port();

    auto options = mqtt::ConnectOptions();
    options.client_id("cpp-lifecycle")
        .will("cpp/will", "gone", 1)
        .connect_timeout(5000ms)
        .operation_timeout(5000ms)
        .auto_reconnect(20ms, 100ms)
        .offline_queue(10, 4096, MQTT_QUEUE_OVERFLOW_REFUSE_NEW, true)
        .on_message([&](const mqtt::Message &) { ++messages; })
        .on_connect([&](bool, int code) { connects += code == 0; })
        .on_disconnect([&](mqtt_close_reason, bool again) {
            will_reconnect = again;
            ++disconnects;
        })
        .on_log([](int, std::string_view) {});
    auto conn = mqtt::Connection::connect("127.0.0.1", port, options);
    require(connects == 1, "on_connect for the first connect");
    require(eventually([&] { return broker_events >= 1; }), "the broker's connect event");
    const auto granted =
        conn.subscribe_many({{"cpp/a", 1}, {"cpp/b", 2}}, [&](const mqtt::Message &) { ++messages; });
    require(granted.size() == 2 && granted[0] == 1 && granted[1] == 2, "subscribe_many");
    conn.on_published([&](std::uint16_t, mqtt_status status) { acked += status == MQTT_STATUS_OK; });
    conn.loop_start();

    broker.reset(); // stops the broker
    require(eventually([&] { return disconnects >= 1; }), "on_disconnect");
    require(will_reconnect, "a reconnect is announced");
    const auto queued = conn.publish_async("cpp/a", "queued", 1);
    require(queued.queued && queued.packet_id != 0, "publish_async while disconnected is queued");

    broker = std::make_unique<mqtt::Broker>(std::to_string(port));
    broker->start();
    require(eventually([&] { return connects >= 2; }), "on_connect after the restart");
    require(conn.wait_published(queued.packet_id, 5000ms), "the queued publish completes");
    require(eventually([&] { return messages >= 1 && acked >= 1; }),
            "the queued message arrives on the restored subscription");
    conn.loop_stop();
    require(conn.socket() >= 0, "socket()");
    conn.loop_misc();
    conn.disconnect();
    std::cout << "lifecycle wrapper ok\n";
    return 0;
}
