// demo: libmqtt from C++17 through mqtt.hpp. Embeds a broker that only admits user "demo",
// shows a refused login as an exception, subscribes with a lambda that runs on the loop thread,
// publishes from the client and from the broker, and checks that both messages arrived. Then
// MQTT 5.0: a publish whose properties all arrive, with the subscription's identifier, and a
// request answered by a second client.
// Exits 0 on success, 1 (with the reason on stderr) otherwise. Every wait is bounded.
#include "mqtt.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
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

/// Copies of messages kept past their handler (OwnedMessage), awaited by the main thread.
class Mailbox {
public:
    void add(const mqtt::Message &message) {
        mqtt::OwnedMessage copy = message.copy();
        const std::lock_guard<std::mutex> guard(mutex_);
        messages_.push_back(std::move(copy));
        arrived_.notify_all();
    }

    /// The first message, once one arrived within `limit`.
    const mqtt::OwnedMessage *wait_first(std::chrono::seconds limit) {
        std::unique_lock<std::mutex> lock(mutex_);
        arrived_.wait_for(lock, limit, [&] { return !messages_.empty(); });
        return messages_.empty() ? nullptr : &messages_.front();
    }

private:
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<mqtt::OwnedMessage> messages_;
};

std::string show(const std::optional<std::string_view> &text) {
    return text ? std::string(*text) : std::string("(none)");
}

/// MQTT 5.0 with the same broker, which gives Response Information "replies".
void run_v5(std::uint16_t port) {
    mqtt::ConnectOptions v5;
    v5.client_id("cpp-v5")
        .username("demo")
        .password("secret")
        .protocol_level(5)
        .request_response_information()
        .user_property("client", "demo.cpp");
    mqtt::Connection connection = mqtt::Connection::connect("127.0.0.1", port, v5);

    Mailbox mailbox;
    const int code = connection.subscribe(
        "v5/sensors/#", 1, [&mailbox](const mqtt::Message &message) { mailbox.add(message); },
        mqtt::SubscribeOptions().subscription_identifier(42));
    require(code == 1, "SUBACK reason code 1 (granted QoS 1)");

    // The responder answers on the request's Response Topic with its Correlation Data, from
    // its loop thread.
    mqtt::ConnectOptions responder_options;
    responder_options.client_id("cpp-responder")
        .username("demo")
        .password("secret")
        .protocol_level(5);
    mqtt::Connection responder = mqtt::Connection::connect("127.0.0.1", port, responder_options);
    std::mutex seen_mutex;
    std::string seen_response_topic;
    responder.subscribe("v5/service/echo", 1, [&](const mqtt::Message &request) {
        const std::optional<std::string_view> reply_to = request.response_topic();
        const std::optional<std::string_view> correlation = request.correlation_data();
        if (!reply_to || !correlation) {
            return;
        }
        {
            const std::lock_guard<std::mutex> guard(seen_mutex);
            seen_response_topic = std::string(*reply_to);
        }
        mqtt::PublishOptions reply;
        reply.correlation_data(*correlation).content_type("text/plain");
        responder.publish(std::string(*reply_to), "echo: " + std::string(request.payload), 1,
                          false, reply);
    });
    responder.loop_start();
    connection.loop_start();

    mqtt::PublishOptions properties;
    properties.user_property("unit", "celsius")
        .user_property("sensor", "kitchen")
        .content_type("application/json")
        .response_topic("v5/replies")
        .correlation_data("corr-1")
        .message_expiry(std::chrono::seconds(300))
        .payload_format(1);
    const int acknowledged =
        connection.publish("v5/sensors/kitchen", "{\"t\":21.5}", 1, false, properties);
    require(acknowledged == 0x00, "PUBACK reason code 0x00");

    const mqtt::OwnedMessage *message = mailbox.wait_first(std::chrono::seconds(10));
    require(message != nullptr, "the v5 message within 10 s");
    std::cout << "v5 received " << message->topic << " " << message->payload << "\n";
    std::cout << "v5 user properties:";
    for (const auto &[name, value] : message->user_properties()) {
        std::cout << " " << name << "=" << value;
    }
    std::cout << "\n";
    std::cout << "v5 content type: " << show(message->content_type()) << "\n";
    std::cout << "v5 response topic: " << show(message->response_topic()) << "\n";
    std::cout << "v5 correlation data: " << show(message->correlation_data()) << "\n";
    const auto expiry = message->message_expiry();
    std::cout << "v5 message expiry: " << (expiry ? std::to_string(expiry->count()) : "(none)")
              << "\n";
    const auto format = message->payload_format();
    std::cout << "v5 payload format: " << (format ? std::to_string(*format) : "(none)") << "\n";
    std::cout << "v5 subscription identifiers:";
    for (const std::uint32_t identifier : message->subscription_identifiers()) {
        std::cout << " " << identifier;
    }
    std::cout << "\n";
    require(message->user_properties() ==
                mqtt::UserProperties{{"unit", "celsius"}, {"sensor", "kitchen"}},
            "user properties in order");
    require(message->subscription_identifiers() == std::vector<std::uint32_t>{42},
            "subscription identifier 42");

    const std::optional<mqtt::OwnedMessage> response =
        connection.request("v5/service/echo", "ping", 1, std::chrono::milliseconds(10000));
    require(response.has_value(), "a response within 10 s");
    std::cout << "v5 response " << response->topic << " " << response->payload << " ("
              << show(response->content_type()) << ")\n";
    {
        const std::lock_guard<std::mutex> guard(seen_mutex);
        std::cout << "v5 request response topic: " << seen_response_topic << "\n";
    }
    require(response->payload == "echo: ping", "the response's payload");

    responder.loop_stop();
    connection.loop_stop();
    responder.disconnect();
    connection.disconnect(0x00);
}

int run() {
    std::cout << "libmqtt " << mqtt_version() << " from C++17\n";

    mqtt::BrokerOptions options;
    options.response_information("replies");
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

    run_v5(broker.port());
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
