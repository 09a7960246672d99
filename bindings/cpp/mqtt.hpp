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
// so they must be thread-safe. The connection's lifecycle handlers (ConnectOptions::on_message,
// on_connect, on_disconnect, on_log) and Connection::on_published run on the thread reading the
// connection, or on the thread calling connect, reconnect, disconnect or the destructor; a
// broker's event handler on the broker's threads. A Connection may be destroyed from any
// thread while others are blocked in its calls (they throw Error with MQTT_STATUS_CLOSED).
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

/// Told of every CONNACK: session present flag and return code (0 accepted).
using ConnectHandler = std::function<void(bool session_present, int code)>;
/// Told once per connection when it ends: an mqtt_close_reason value, and whether the library
/// will reconnect by itself.
using DisconnectHandler = std::function<void(mqtt_close_reason reason, bool will_reconnect)>;
/// Receives the client's log lines (an mqtt_log_level value and the text).
using LogHandler = std::function<void(int level, std::string_view message)>;
/// Learns how each QoS 1/2 publish ended: MQTT_STATUS_OK, MQTT_STATUS_CLOSED (discarded) or
/// MQTT_STATUS_QUEUE_FULL (dropped from the offline queue).
using PublishedHandler = std::function<void(std::uint16_t packet_id, mqtt_status status)>;
/// Receives the broker's connect and disconnect events.
using BrokerEventHandler = std::function<void(const mqtt_broker_event &event)>;

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

inline void mqtt_hpp_connect_trampoline(void *userdata, bool session_present, int code) {
    try {
        (*static_cast<const ConnectHandler *>(userdata))(session_present, code);
    } catch (...) {
        report_callback_exception("a connect handler");
    }
}

inline void mqtt_hpp_disconnect_trampoline(void *userdata, int reason, bool will_reconnect) {
    try {
        (*static_cast<const DisconnectHandler *>(userdata))(
            static_cast<mqtt_close_reason>(reason), will_reconnect);
    } catch (...) {
        report_callback_exception("a disconnect handler");
    }
}

inline void mqtt_hpp_log_trampoline(void *userdata, int level, const char *message) {
    try {
        (*static_cast<const LogHandler *>(userdata))(level, message);
    } catch (...) {
        report_callback_exception("a log handler");
    }
}

inline void mqtt_hpp_published_trampoline(void *userdata, std::uint16_t packet_id,
                                          mqtt_status status) {
    try {
        (*static_cast<const PublishedHandler *>(userdata))(packet_id, status);
    } catch (...) {
        report_callback_exception("a published handler");
    }
}

inline void mqtt_hpp_broker_event_trampoline(void *userdata, const mqtt_broker_event *event) {
    try {
        (*static_cast<const BrokerEventHandler *>(userdata))(*event);
    } catch (...) {
        report_callback_exception("a broker event handler");
    }
}

} // extern "C"

/// Keeps a handler alive in a shared object C can point at; returns the pointer C gets.
template <typename Handler>
void *share(std::shared_ptr<const Handler> &slot, Handler handler) {
    slot = std::make_shared<const Handler>(std::move(handler));
    return const_cast<Handler *>(slot.get());
}

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

    /// Runs on the broker's threads (see mqtt_broker_options_set_event_callback): keep it
    /// short and thread-safe.
    BrokerOptions &on_event(BrokerEventHandler handler) {
        void *userdata = detail::share(event_handler_, std::move(handler));
        detail::check(mqtt_broker_options_set_event_callback(
                          handle_.get(), detail::mqtt_hpp_broker_event_trampoline, userdata),
                      "mqtt_broker_options_set_event_callback");
        return *this;
    }

private:
    friend class Broker;
    detail::Handle<mqtt_broker_options> handle_;
    std::shared_ptr<const Authenticator> authenticator_;
    std::shared_ptr<const Authorizer> authorizer_;
    std::shared_ptr<const BrokerEventHandler> event_handler_;
};

/// An embedded broker. Destroying it stops it (blocking until its threads have finished).
class Broker {
public:
    /// `port` "0" lets the system choose; see port().
    explicit Broker(const std::string &port = "0", const BrokerOptions &options = BrokerOptions())
        : authenticator_(options.authenticator_), authorizer_(options.authorizer_),
          event_handler_(options.event_handler_),
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
    std::shared_ptr<const BrokerEventHandler> event_handler_;
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

    /// The message the broker publishes if the connection ends without disconnect().
    ConnectOptions &will(const std::string &topic, std::string_view payload, int qos = 0,
                         bool retain = false) {
        detail::check(mqtt_connect_options_set_will(handle_.get(), topic.c_str(),
                                                    detail::bytes(payload), payload.size(), qos,
                                                    retain),
                      "mqtt_connect_options_set_will");
        return *this;
    }

    ConnectOptions &connect_timeout(std::chrono::milliseconds timeout) {
        detail::check(mqtt_connect_options_set_connect_timeout(handle_.get(),
                                                               static_cast<int>(timeout.count())),
                      "mqtt_connect_options_set_connect_timeout");
        return *this;
    }

    ConnectOptions &operation_timeout(std::chrono::milliseconds timeout) {
        detail::check(mqtt_connect_options_set_operation_timeout(
                          handle_.get(), static_cast<int>(timeout.count())),
                      "mqtt_connect_options_set_operation_timeout");
        return *this;
    }

    /// Reconnect by itself (loop thread or loop_misc) with exponential backoff from `first` up
    /// to `max`, with jitter.
    ConnectOptions &auto_reconnect(std::chrono::milliseconds first, std::chrono::milliseconds max) {
        detail::check(mqtt_connect_options_set_auto_reconnect(
                          handle_.get(), static_cast<int>(first.count()),
                          static_cast<int>(max.count())),
                      "mqtt_connect_options_set_auto_reconnect");
        return *this;
    }

    ConnectOptions &resubscribe(bool on) {
        detail::check(mqtt_connect_options_set_resubscribe(handle_.get(), on),
                      "mqtt_connect_options_set_resubscribe");
        return *this;
    }

    ConnectOptions &offline_queue(std::size_t max_messages, std::size_t max_bytes,
                                  mqtt_queue_overflow overflow, bool queue_qos0) {
        detail::check(mqtt_connect_options_set_offline_queue(handle_.get(), max_messages,
                                                             max_bytes, overflow, queue_qos0),
                      "mqtt_connect_options_set_offline_queue");
        return *this;
    }

    /// Receives every message no subscription's handler takes (a resumed session's included).
    ConnectOptions &on_message(MessageHandler handler) {
        void *userdata = detail::share(handlers_.message, std::move(handler));
        detail::check(mqtt_connect_options_set_on_message(
                          handle_.get(), detail::mqtt_hpp_message_trampoline, userdata),
                      "mqtt_connect_options_set_on_message");
        return *this;
    }

    ConnectOptions &on_connect(ConnectHandler handler) {
        void *userdata = detail::share(handlers_.connect, std::move(handler));
        detail::check(mqtt_connect_options_set_on_connect(
                          handle_.get(), detail::mqtt_hpp_connect_trampoline, userdata),
                      "mqtt_connect_options_set_on_connect");
        return *this;
    }

    ConnectOptions &on_disconnect(DisconnectHandler handler) {
        void *userdata = detail::share(handlers_.disconnect, std::move(handler));
        detail::check(mqtt_connect_options_set_on_disconnect(
                          handle_.get(), detail::mqtt_hpp_disconnect_trampoline, userdata),
                      "mqtt_connect_options_set_on_disconnect");
        return *this;
    }

    ConnectOptions &on_log(LogHandler handler) {
        void *userdata = detail::share(handlers_.log, std::move(handler));
        detail::check(mqtt_connect_options_set_on_log(handle_.get(),
                                                      detail::mqtt_hpp_log_trampoline, userdata),
                      "mqtt_connect_options_set_on_log");
        return *this;
    }

    const mqtt_connect_options *get() const noexcept { return handle_.get(); }

private:
    friend class Connection;
    /// The handlers the options point C at; a Connection made from them shares them.
    struct Handlers {
        std::shared_ptr<const MessageHandler> message;
        std::shared_ptr<const ConnectHandler> connect;
        std::shared_ptr<const DisconnectHandler> disconnect;
        std::shared_ptr<const LogHandler> log;
    };
    detail::Handle<mqtt_connect_options> handle_;
    Handlers handlers_;
};

/// What publish_async() did: the packet id (0 for QoS 0) and whether the message waits in the
/// offline queue (MQTT_STATUS_QUEUED) rather than having been sent.
struct PublishResult {
    std::uint16_t packet_id;
    bool queued;
};

/// A client connection. Every member may be called from any thread and from inside a handler.
/// Destroying an open connection closes it without DISCONNECT (the broker publishes the will)
/// and joins the loop thread; calls blocked on other threads then throw Error with
/// MQTT_STATUS_CLOSED.
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
        return Connection(handle, options.handlers_);
    }

    /// Subscribes to several filters in one SUBSCRIBE; returns the granted QoS per filter,
    /// 0x80 for one the broker refused.
    std::vector<int> subscribe_many(const std::vector<std::pair<std::string, int>> &filters,
                                    MessageHandler handler) {
        std::vector<const char *> names;
        std::vector<int> qos;
        for (const auto &f : filters) {
            names.push_back(f.first.c_str());
            qos.push_back(f.second);
        }
        std::vector<int> granted(filters.size(), -1);
        detail::check(mqtt_subscribe_many(handle_.get(), names.data(), qos.data(), names.size(),
                                          detail::mqtt_hpp_message_trampoline,
                                          handlers_->keep(std::move(handler)), granted.data()),
                      "mqtt_subscribe_many");
        return granted;
    }

    /// Publishes without waiting for the acknowledgement (see mqtt_publish_async); a message
    /// queued while disconnected is not an error.
    PublishResult publish_async(const std::string &topic, std::string_view payload, int qos = 0,
                                bool retain = false) {
        std::uint16_t id = 0;
        const mqtt_status status = mqtt_publish_async(handle_.get(), topic.c_str(),
                                                      detail::bytes(payload), payload.size(), qos,
                                                      retain, &id);
        if (status != MQTT_STATUS_QUEUED) {
            detail::check(status, "mqtt_publish_async");
        }
        return PublishResult{id, status == MQTT_STATUS_QUEUED};
    }

    /// Waits for the acknowledgement of `packet_id`; false if it did not come within `timeout`.
    bool wait_published(std::uint16_t packet_id, std::chrono::milliseconds timeout) {
        const mqtt_status status =
            mqtt_wait_published(handle_.get(), packet_id, static_cast<int>(timeout.count()));
        if (status == MQTT_STATUS_TIMEOUT) {
            return false;
        }
        detail::check(status, "mqtt_wait_published");
        return true;
    }

    /// Sets the publish completion handler (replacing an earlier one).
    void on_published(PublishedHandler handler) {
        auto owned = std::make_shared<const PublishedHandler>(std::move(handler));
        detail::check(mqtt_connection_set_on_published(
                          handle_.get(), detail::mqtt_hpp_published_trampoline,
                          const_cast<PublishedHandler *>(owned.get())),
                      "mqtt_connection_set_on_published");
        handlers_->keep_published(std::move(owned));
    }

    /// Connects again with the same options (see mqtt_reconnect).
    void reconnect() { detail::check(mqtt_reconnect(handle_.get()), "mqtt_reconnect"); }

    /// For the program's own event loop: the socket (ask again after loop_misc), whether to wait
    /// for writability, and the read, write and timer steps.
    int socket() const { return mqtt_connection_socket(handle_.get()); }
    bool want_write() const noexcept { return mqtt_connection_want_write(handle_.get()); }
    void loop_read() { detail::check(mqtt_loop_read(handle_.get()), "mqtt_loop_read"); }
    void loop_write() { detail::check(mqtt_loop_write(handle_.get()), "mqtt_loop_write"); }
    void loop_misc() { detail::check(mqtt_loop_misc(handle_.get()), "mqtt_loop_misc"); }

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

        void keep_published(std::shared_ptr<const PublishedHandler> handler) {
            const std::lock_guard<std::mutex> guard(mutex_);
            published_.push_back(std::move(handler));
        }

        ConnectOptions::Handlers lifecycle;

    private:
        std::mutex mutex_;
        std::vector<std::unique_ptr<MessageHandler>> handlers_;
        std::vector<std::shared_ptr<const PublishedHandler>> published_;
    };

    Connection(mqtt_connection *handle, ConnectOptions::Handlers lifecycle) : handle_(handle) {
        handlers_->lifecycle = std::move(lifecycle);
    }

    // Declared before the handle so they are destroyed after it: mqtt_connection_free joins the
    // loop thread, after which no handler runs.
    std::unique_ptr<Handlers> handlers_ = std::make_unique<Handlers>();
    detail::Handle<mqtt_connection> handle_;
};

} // namespace mqtt

#endif // MQTT_HPP
