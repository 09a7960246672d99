// demo: libmqtt from C++17 through mqtt.hpp. Embeds a broker that only admits user "demo",
// shows a refused login as an exception, subscribes with a lambda that runs on the loop thread,
// publishes from the client and from the broker, and checks that both messages arrived.
// Exits 0 on success, 1 (with the reason on stderr) otherwise. Every wait is bounded.
#include "mqtt.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

void require(bool condition, const std::string &what) {
    if (!condition) {
        throw std::runtime_error("check failed: " + what);
    }
}

/// Messages collected by a handler on the loop thread and awaited by the main thread.
class Inbox {
public:
    void add(const mqtt::Message &message) {
        const std::lock_guard<std::mutex> guard(mutex_);
        lines_.push_back(std::string(message.topic) + " " + std::string(message.payload));
        loop_thread_ = std::this_thread::get_id();
        arrived_.notify_all();
    }

    std::vector<std::string> wait_for(std::size_t count, std::chrono::seconds limit) {
        std::unique_lock<std::mutex> lock(mutex_);
        arrived_.wait_for(lock, limit, [&] { return lines_.size() >= count; });
        return lines_;
    }

    std::thread::id handler_thread() {
        const std::lock_guard<std::mutex> guard(mutex_);
        return loop_thread_;
    }

private:
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<std::string> lines_;
    std::thread::id loop_thread_;
};

int run() {
    std::cout << "libmqtt " << mqtt_version() << " from C++17\n";

    mqtt::BrokerOptions options;
    options.authenticator([](const mqtt::Credentials &credentials) {
        const bool known = credentials.username == std::string_view("demo") &&
                           credentials.password == std::string_view("secret");
        return known ? MQTT_AUTH_RESULT_ACCEPT : MQTT_AUTH_RESULT_BAD_CREDENTIALS;
    });
    mqtt::Broker broker("0", options);
    broker.start();
    std::cout << "broker listening on port " << broker.port() << "\n";

    try {
        mqtt::ConnectOptions wrong;
        wrong.username("demo").password("guess");
        mqtt::Connection::connect("127.0.0.1", broker.port(), wrong);
        throw std::runtime_error("a wrong password was accepted");
    } catch (const mqtt::Error &refused) {
        require(refused.status() == MQTT_STATUS_REFUSED_BAD_CREDENTIALS, refused.what());
        std::cout << "refused as expected: " << refused.what() << "\n";
    }

    mqtt::ConnectOptions login;
    login.client_id("cpp-demo").username("demo").password("secret");
    mqtt::Connection connection = mqtt::Connection::connect("127.0.0.1", broker.port(), login);
    require(connection.client_id() == "cpp-demo", "client id");

    Inbox inbox;
    const int granted =
        connection.subscribe("greetings/+", 1, [&inbox](const mqtt::Message &message) {
            inbox.add(message);
        });
    require(granted == 1, "granted QoS 1");
    connection.loop_start();

    connection.publish("greetings/client", "hello from C++", 1);
    broker.publish("greetings/broker", "hello from the embedded broker", 0);

    // Sorted: MQTT orders messages per publisher and QoS, not across these two.
    std::vector<std::string> lines = inbox.wait_for(2, std::chrono::seconds(10));
    require(lines.size() == 2, "two messages within 10 s, got " + std::to_string(lines.size()));
    std::sort(lines.begin(), lines.end());
    require(lines[0] == "greetings/broker hello from the embedded broker", lines[0]);
    require(lines[1] == "greetings/client hello from C++", lines[1]);
    require(inbox.handler_thread() != std::this_thread::get_id(),
            "the handler ran on the loop thread");
    for (const std::string &line : lines) {
        std::cout << "received " << line << "\n";
    }

    connection.loop_stop();
    connection.disconnect();
    require(!connection.connected(), "disconnected");
    broker.stop();
    std::cout << "demo: all messages arrived; broker stopped\n";
    return 0;
}

} // namespace

int main() {
    try {
        return run();
    } catch (const std::exception &e) {
        std::cerr << "demo: " << e.what() << "\n";
        return 1;
    }
}
