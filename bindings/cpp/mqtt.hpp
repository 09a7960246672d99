// mqtt.hpp: a small C++17 wrapper over libmqtt's C API (mqtt.h).
//
// Handles are owned by move-only classes whose destructors call the matching _free function.
// A failing call throws mqtt::Error, which carries the mqtt_status and the text of
// mqtt_last_error() taken on the failing thread. Callbacks are std::function objects; the
// wrapper keeps each one alive for as long as the C library may call it, and passes it to C
// through a trampoline that never lets an exception escape into C.
//
// Threads (as in mqtt.h): message handlers run on the thread reading the connection — the loop
// thread after loop_start(), otherwise the thread inside receive() or a call waiting for a reply.
// Broker authenticators and authorizers run on the broker's connection threads, several at once,
// so they must be thread-safe.
#ifndef MQTT_HPP
#define MQTT_HPP

#include <mqtt.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mqtt {

/// A failed libmqtt call: what was called, its status and mqtt_last_error()'s explanation.
class Error : public std::runtime_error {
public:
    Error(const std::string &call, mqtt_status status)
        : std::runtime_error(call + ": " + mqtt_status_str(static_cast<int>(status)) + " (" +
                             mqtt_last_error() + ")"),
          status_(status) {}

    mqtt_status status() const noexcept { return status_; }

private:
    mqtt_status status_;
};

namespace detail {

inline void check(mqtt_status status, const char *call) {
    if (status != MQTT_STATUS_OK) {
        throw Error(call, status);
    }
}

/// For constructors that report failure with NULL.
template <typename T> T *check_handle(T *handle, const char *call) {
    if (handle == nullptr) {
        throw Error(call, mqtt_last_status());
    }
    return handle;
}

struct Free {
    void operator()(mqtt_broker_options *p) const noexcept { mqtt_broker_options_free(p); }
    void operator()(mqtt_broker *p) const noexcept { mqtt_broker_free(p); }
    void operator()(mqtt_connect_options *p) const noexcept { mqtt_connect_options_free(p); }
    void operator()(mqtt_connection *p) const noexcept { mqtt_connection_free(p); }
};

template <typename T> using Handle = std::unique_ptr<T, Free>;

inline const std::uint8_t *bytes(std::string_view data) {
    return reinterpret_cast<const std::uint8_t *>(data.data());
}

/// An exception thrown by a callback has nowhere to go: C cannot unwind it.
inline void report_callback_exception(const char *which) noexcept {
    try {
        throw;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "mqtt.hpp: %s threw: %s\n", which, e.what());
    } catch (...) {
        std::fprintf(stderr, "mqtt.hpp: %s threw a non-standard exception\n", which);
    }
}

} // namespace detail

/// A received message as a handler sees it. The views are valid only until the handler returns:
/// copy what you keep.
struct Message {
    std::string_view topic;
    std::string_view payload;
    int qos;
    bool retain;
    bool dup;
};

using MessageHandler = std::function<void(const Message &)>;

/// What a client presented in CONNECT, as the authenticator sees it (valid during the call).
struct Credentials {
    std::string_view client_id;
    std::optional<std::string_view> username;
    std::optional<std::string_view> password;
};

/// Returns MQTT_AUTH_RESULT_ACCEPT, _BAD_CREDENTIALS or _NOT_AUTHORIZED.
using Authenticator = std::function<mqtt_auth_result(const Credentials &)>;

/// Whether `client_id` may publish to (MQTT_ACCESS_PUBLISH) or subscribe with
/// (MQTT_ACCESS_SUBSCRIBE) `topic`.
using Authorizer = std::function<bool(std::string_view client_id, std::string_view topic,
                                      mqtt_access access)>;

namespace detail {

// The trampolines have C language linkage because the C library calls them. A handler's
// exception is reported and swallowed (a message is then simply handled); an authenticator's or
// authorizer's refuses, so a bug fails closed.
extern "C" {

inline void mqtt_hpp_message_trampoline(void *userdata, const mqtt_message *message) {
    const auto &handler = *static_cast<const MessageHandler *>(userdata);
    const Message view{std::string_view(message->topic, message->topic_len),
                       std::string_view(reinterpret_cast<const char *>(message->payload),
                                        message->payload_len),
                       message->qos, message->retain, message->dup};
    try {
        handler(view);
    } catch (...) {
        report_callback_exception("a message handler");
    }
}

inline int mqtt_hpp_authenticator_trampoline(void *userdata, const char *client_id,
                                             const char *username, const std::uint8_t *password,
                                             std::size_t password_len) {
    const auto &authenticate = *static_cast<const Authenticator *>(userdata);
    Credentials credentials{client_id, std::nullopt, std::nullopt};
    if (username != nullptr) {
        credentials.username = username;
    }
    if (password != nullptr) {
        credentials.password =
            std::string_view(reinterpret_cast<const char *>(password), password_len);
    }
    try {
        return authenticate(credentials);
    } catch (...) {
        report_callback_exception("an authenticator");
        return MQTT_AUTH_RESULT_NOT_AUTHORIZED;
    }
}

inline bool mqtt_hpp_authorizer_trampoline(void *userdata, const char *client_id,
                                           const char * /*username*/, const char *topic,
                                           mqtt_access access) {
    const auto &authorize = *static_cast<const Authorizer *>(userdata);
    try {
        return authorize(client_id, topic, access);
    } catch (...) {
        report_callback_exception("an authorizer");
        return false;
    }
}

} // extern "C"

} // namespace detail

/// Settings for a Broker. Setters return *this so they chain.
class BrokerOptions {
public:
    BrokerOptions()
        : handle_(detail::check_handle(mqtt_broker_options_new(), "mqtt_broker_options_new")) {}

    BrokerOptions &bind_address(const std::string &address) {
        detail::check(mqtt_broker_options_set_bind_address(handle_.get(), address.c_str()),
                      "mqtt_broker_options_set_bind_address");
        return *this;
    }

    BrokerOptions &max_connections(std::size_t count) {
        detail::check(mqtt_broker_options_set_max_connections(handle_.get(), count),
                      "mqtt_broker_options_set_max_connections");
        return *this;
    }

    /// Runs on the broker's connection threads, concurrently: must be thread-safe.
    BrokerOptions &authenticator(Authenticator authenticate) {
        // A new object each time: a broker already created keeps the one it was given.
        authenticator_ = std::make_shared<const Authenticator>(std::move(authenticate));
        detail::check(mqtt_broker_options_set_authenticator(
                          handle_.get(), detail::mqtt_hpp_authenticator_trampoline,
                          const_cast<Authenticator *>(authenticator_.get())),
                      "mqtt_broker_options_set_authenticator");
        return *this;
    }

    /// Runs on the broker's connection threads, concurrently: must be thread-safe and fast.
    BrokerOptions &authorizer(Authorizer authorize) {
        authorizer_ = std::make_shared<const Authorizer>(std::move(authorize));
        detail::check(mqtt_broker_options_set_authorizer(
                          handle_.get(), detail::mqtt_hpp_authorizer_trampoline,
                          const_cast<Authorizer *>(authorizer_.get())),
                      "mqtt_broker_options_set_authorizer");
        return *this;
    }

private:
    friend class Broker;
    detail::Handle<mqtt_broker_options> handle_;
    std::shared_ptr<const Authenticator> authenticator_;
    std::shared_ptr<const Authorizer> authorizer_;
};

/// An embedded broker. Destroying it stops it (blocking until its threads have finished).
class Broker {
public:
    /// `port` "0" lets the system choose; see port().
    explicit Broker(const std::string &port = "0", const BrokerOptions &options = BrokerOptions())
        : authenticator_(options.authenticator_), authorizer_(options.authorizer_),
          handle_(detail::check_handle(mqtt_broker_new(port.c_str(), options.handle_.get()),
                                       "mqtt_broker_new")) {}

    /// Starts listening; returns once clients can connect.
    void start() { detail::check(mqtt_broker_start(handle_.get()), "mqtt_broker_start"); }

    /// Closes every connection and blocks until the broker's threads have finished.
    void stop() { detail::check(mqtt_broker_stop(handle_.get()), "mqtt_broker_stop"); }

    std::uint16_t port() const { return mqtt_broker_port(handle_.get()); }

    /// Publishes as if a client had sent the message; never blocks on subscribers.
    void publish(const std::string &topic, std::string_view payload, int qos = 0,
                 bool retain = false) {
        detail::check(mqtt_broker_publish(handle_.get(), topic.c_str(), detail::bytes(payload),
                                          payload.size(), qos, retain),
                      "mqtt_broker_publish");
    }

    mqtt_broker_statistics stats() const {
        mqtt_broker_statistics stats{};
        detail::check(mqtt_broker_stats(handle_.get(), &stats), "mqtt_broker_stats");
        return stats;
    }

private:
    // Declared before the handle so they are destroyed after it: the broker's threads may call
    // them until mqtt_broker_free has returned.
    std::shared_ptr<const Authenticator> authenticator_;
    std::shared_ptr<const Authorizer> authorizer_;
    detail::Handle<mqtt_broker> handle_;
};

/// Settings for Connection::connect. Setters return *this so they chain.
class ConnectOptions {
public:
    ConnectOptions()
        : handle_(detail::check_handle(mqtt_connect_options_new(), "mqtt_connect_options_new")) {}

    ConnectOptions &client_id(const std::string &id) {
        detail::check(mqtt_connect_options_set_client_id(handle_.get(), id.c_str()),
                      "mqtt_connect_options_set_client_id");
        return *this;
    }

    ConnectOptions &username(const std::string &name) {
        detail::check(mqtt_connect_options_set_username(handle_.get(), name.c_str()),
                      "mqtt_connect_options_set_username");
        return *this;
    }

    ConnectOptions &password(std::string_view password) {
        detail::check(mqtt_connect_options_set_password(handle_.get(), detail::bytes(password),
                                                        password.size()),
                      "mqtt_connect_options_set_password");
        return *this;
    }

    ConnectOptions &keep_alive(std::chrono::seconds period) {
        detail::check(
            mqtt_connect_options_set_keep_alive(handle_.get(), static_cast<int>(period.count())),
            "mqtt_connect_options_set_keep_alive");
        return *this;
    }

    ConnectOptions &clean_session(bool clean) {
        detail::check(mqtt_connect_options_set_clean_session(handle_.get(), clean),
                      "mqtt_connect_options_set_clean_session");
        return *this;
    }

    const mqtt_connect_options *get() const noexcept { return handle_.get(); }

private:
    detail::Handle<mqtt_connect_options> handle_;
};

/// A client connection. Every member except the destructor may be called from any thread and
/// from inside a message handler. Destroying an open connection closes it without DISCONNECT
/// (the broker publishes the will) and joins the loop thread: never destroy it from one of its
/// own handlers.
class Connection {
public:
    /// Connects to `host` (a name or an address) and waits for CONNACK, at most the connect
    /// timeout; throws mqtt::Error with e.g. MQTT_STATUS_REFUSED_BAD_CREDENTIALS when the broker
    /// refuses. `options` is only read: it may be destroyed or reused afterwards.
    static Connection connect(const std::string &host, std::uint16_t port,
                              const ConnectOptions &options = ConnectOptions()) {
        mqtt_connection *handle = nullptr;
        detail::check(
            mqtt_connect_ex(host.c_str(), std::to_string(port).c_str(), options.get(), &handle),
            "mqtt_connect");
        return Connection(handle);
    }

    /// Subscribes and waits for SUBACK; returns the granted QoS. `handler` receives the
    /// messages for which `filter` is the most specific matching subscription (see
    /// mqtt_subscribe). Subscribing to the same filter again replaces the handler.
    int subscribe(const std::string &filter, int qos, MessageHandler handler) {
        int granted = -1;
        detail::check(mqtt_subscribe(handle_.get(), filter.c_str(), qos,
                                     detail::mqtt_hpp_message_trampoline,
                                     handlers_->keep(std::move(handler)), &granted),
                      "mqtt_subscribe");
        return granted;
    }

    void unsubscribe(const std::string &filter) {
        detail::check(mqtt_unsubscribe(handle_.get(), filter.c_str()), "mqtt_unsubscribe");
    }

    /// Blocks until the QoS's handshake is complete (at most the operation timeout).
    void publish(const std::string &topic, std::string_view payload, int qos = 0,
                 bool retain = false) {
        detail::check(mqtt_publish(handle_.get(), topic.c_str(), detail::bytes(payload),
                                   payload.size(), qos, retain),
                      "mqtt_publish");
    }

    /// Processes one incoming message on this thread; false if none came within `timeout`.
    bool receive(std::chrono::milliseconds timeout) {
        const mqtt_status status =
            mqtt_receive_message(handle_.get(), static_cast<int>(timeout.count()));
        if (status == MQTT_STATUS_TIMEOUT) {
            return false;
        }
        detail::check(status, "mqtt_receive_message");
        return true;
    }

    /// Starts the loop thread, which then runs every handler.
    void loop_start() { detail::check(mqtt_loop_start(handle_.get()), "mqtt_loop_start"); }

    /// Stops the loop thread and waits for it (from a handler: stops after that handler).
    void loop_stop() { detail::check(mqtt_loop_stop(handle_.get()), "mqtt_loop_stop"); }

    /// Sends DISCONNECT (the broker discards the will) and closes the connection.
    void disconnect() { detail::check(mqtt_disconnect(handle_.get()), "mqtt_disconnect"); }

    bool connected() const noexcept { return mqtt_connection_is_connected(handle_.get()); }

    std::string client_id() const { return mqtt_connection_client_id(handle_.get()); }

private:
    /// Owns every handler given to subscribe. A replaced or unsubscribed handler may still be
    /// running on the loop thread, so handlers are released only with the connection.
    class Handlers {
    public:
        void *keep(MessageHandler handler) {
            auto owned = std::make_unique<MessageHandler>(std::move(handler));
            void *userdata = owned.get();
            const std::lock_guard<std::mutex> guard(mutex_);
            handlers_.push_back(std::move(owned));
            return userdata;
        }

    private:
        std::mutex mutex_;
        std::vector<std::unique_ptr<MessageHandler>> handlers_;
    };

    explicit Connection(mqtt_connection *handle) : handle_(handle) {}

    // Declared before the handle so they are destroyed after it: mqtt_connection_free joins the
    // loop thread, after which no handler runs.
    std::unique_ptr<Handlers> handlers_ = std::make_unique<Handlers>();
    detail::Handle<mqtt_connection> handle_;
};

} // namespace mqtt

#endif // MQTT_HPP
