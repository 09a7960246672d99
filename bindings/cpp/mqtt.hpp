// mqtt.hpp: a small C++17 wrapper over libmqtt's C API (mqtt.h).
//
// Handles are owned by move-only classes whose destructors call the matching _free function.
// A failing call throws mqtt::Error, which carries the mqtt_status, the text of
// mqtt_last_error() and the MQTT 5.0 reason code of mqtt_last_reason_code(), all taken on the
// failing thread. Callbacks are std::function objects; the wrapper keeps each one alive for as
// long as the C library may call it, and passes it to C through a trampoline that never lets an
// exception escape into C.
//
// Threads (as in mqtt.h): message handlers run on the thread reading the connection — the loop
// thread after loop_start(), otherwise the thread inside receive() or a call waiting for a reply.
// Broker authenticators and authorizers run on the broker's connection threads, several at once,
// so they must be thread-safe. The connection's lifecycle handlers (ConnectOptions::on_message,
// on_connect, on_disconnect, on_log) and Connection::on_published run on the thread reading the
// connection, or on the thread calling connect, reconnect, disconnect or the destructor; a
// broker's event handler on the broker's threads. A Connection may be destroyed from any
// thread while others are blocked in its calls (they throw Error with MQTT_STATUS_CLOSED).
//
// MQTT 5.0: ConnectOptions::protocol_level(5) turns it on, with the v5 connect options
// (session_expiry, receive_maximum, user_property, will_properties, authentication, ...).
// PublishOptions and SubscribeOptions carry a publish's properties and a subscription's
// options; a Message gives the properties of a received message (an OwnedMessage keeps a copy);
// Connection::request() does request/response. Reason codes come with exceptions
// (Error::reason_code()) and from the v5 calls' return values; reason_code_name() names them.
#ifndef MQTT_HPP
#define MQTT_HPP

#include <mqtt.h>

#include <algorithm>
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

/// The name of an MQTT 5.0 reason code (mqtt_reason_code_str), e.g. "not authorized" for 0x87.
inline std::string reason_code_name(int code) { return mqtt_reason_code_str(code); }

/// The MQTT 5.0 reason code the calling thread's most recent call received from the server
/// (mqtt_last_reason_code()), -1 for none. Inside an on_published handler it is the code that
/// ended the publish, inside an on_disconnect handler the server's DISCONNECT reason code.
inline int last_reason_code() noexcept { return mqtt_last_reason_code(); }

/// A failed libmqtt call: what was called, its status, mqtt_last_error()'s explanation and the
/// MQTT 5.0 reason code the call received (mqtt_last_reason_code(), -1 for none: e.g. 0x87 for
/// a publish the server refused as not authorized).
class Error : public std::runtime_error {
public:
    Error(const std::string &call, mqtt_status status)
        : Error(call, status, mqtt_last_reason_code()) {}

    mqtt_status status() const noexcept { return status_; }

    /// The reason code the failing call received from the server, -1 for none.
    int reason_code() const noexcept { return reason_code_; }

    /// The name of reason_code() ("not authorized"), "" when there is none.
    std::string reason_name() const {
        return reason_code_ < 0 ? std::string() : reason_code_name(reason_code_);
    }

private:
    // The reason code is read before anything else: mqtt_status_str and mqtt_last_error do not
    // change it, but reading it first makes that irrelevant.
    Error(const std::string &call, mqtt_status status, int reason_code)
        : std::runtime_error(call + ": " + mqtt_status_str(static_cast<int>(status)) + " (" +
                             mqtt_last_error() + ")" + describe_reason(reason_code)),
          status_(status), reason_code_(reason_code) {}

    static std::string describe_reason(int code) {
        if (code < 0) {
            return std::string();
        }
        char hex[16];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(code));
        return std::string(" [reason code ") + hex + " " + mqtt_reason_code_str(code) + "]";
    }

    mqtt_status status_;
    int reason_code_;
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
    void operator()(mqtt_publish_options *p) const noexcept { mqtt_publish_options_free(p); }
    void operator()(mqtt_subscribe_options *p) const noexcept { mqtt_subscribe_options_free(p); }
    void operator()(mqtt_message *p) const noexcept { mqtt_message_free(p); }
    void operator()(mqtt_broker_tls_options *p) const noexcept {
        mqtt_broker_tls_options_free(p);
    }
};

template <typename T> using Handle = std::unique_ptr<T, Free>;

inline const std::uint8_t *bytes(std::string_view data) {
    return reinterpret_cast<const std::uint8_t *>(data.data());
}

inline std::string_view text(const std::uint8_t *data, std::size_t len) {
    return len == 0 ? std::string_view()
                    : std::string_view(reinterpret_cast<const char *>(data), len);
}

/// An interval in whole seconds as the 32-bit count MQTT 5.0 carries.
inline std::uint32_t seconds32(std::chrono::seconds interval, const char *what) {
    if (interval.count() < 0 || interval.count() > 0xFFFFFFFFLL) {
        throw std::out_of_range(std::string(what) + ": not within 0..4294967295 seconds");
    }
    return static_cast<std::uint32_t>(interval.count());
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

class OwnedMessage;

/// MQTT 5.0 User Properties: name and value pairs, in the order the publisher gave them.
using UserProperties = std::vector<std::pair<std::string, std::string>>;

/// A received message: topic, payload, flags and its MQTT 5.0 properties (absent ones are
/// std::nullopt, and all are absent for MQTT 3.1.1). A handler's Message is a view, valid only
/// until the handler returns: call copy() for an OwnedMessage to keep. The string views it
/// returns live as long as the message.
class Message {
public:
    explicit Message(const mqtt_message *message)
        : topic(message->topic, message->topic_len),
          payload(detail::text(message->payload, message->payload_len)), qos(message->qos),
          retain(message->retain), dup(message->dup), message_(message) {}

    std::string_view topic;
    std::string_view payload;
    int qos;
    bool retain;
    bool dup;

    /// The User Properties, copied, in order.
    UserProperties user_properties() const {
        UserProperties properties;
        const std::size_t count = mqtt_message_user_property_count(message_);
        properties.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            const char *name = nullptr;
            const char *value = nullptr;
            detail::check(mqtt_message_user_property_at(message_, i, &name, &value),
                          "mqtt_message_user_property_at");
            properties.emplace_back(name, value);
        }
        return properties;
    }

    std::optional<std::string_view> content_type() const {
        return optional_text(mqtt_message_content_type(message_));
    }

    std::optional<std::string_view> response_topic() const {
        return optional_text(mqtt_message_response_topic(message_));
    }

    /// Binary, like the payload.
    std::optional<std::string_view> correlation_data() const {
        std::size_t len = 0;
        const std::uint8_t *data = mqtt_message_correlation_data(message_, &len);
        if (data == nullptr) {
            return std::nullopt;
        }
        return detail::text(data, len);
    }

    /// What remains of the Message Expiry Interval (the server subtracts the time it waited).
    std::optional<std::chrono::seconds> message_expiry() const {
        std::uint32_t seconds = 0;
        if (!mqtt_message_expiry_interval(message_, &seconds)) {
            return std::nullopt;
        }
        return std::chrono::seconds(seconds);
    }

    /// The Payload Format Indicator: 1 UTF-8 text, 0 unspecified bytes.
    std::optional<int> payload_format() const {
        const int format = mqtt_message_payload_format(message_);
        if (format < 0) {
            return std::nullopt;
        }
        return format;
    }

    /// One for each matching subscription made with an identifier.
    std::vector<std::uint32_t> subscription_identifiers() const {
        std::vector<std::uint32_t> identifiers(
            mqtt_message_subscription_identifier_count(message_));
        for (std::size_t i = 0; i < identifiers.size(); ++i) {
            identifiers[i] = mqtt_message_subscription_identifier_at(message_, i);
        }
        return identifiers;
    }

    /// A copy of the message with every property, which may be kept (mqtt_message_copy).
    OwnedMessage copy() const;

    const mqtt_message *get() const noexcept { return message_; }

private:
    static std::optional<std::string_view> optional_text(const char *text) {
        if (text == nullptr) {
            return std::nullopt;
        }
        return std::string_view(text);
    }

    const mqtt_message *message_;
};

/// A message that belongs to the program: a Message::copy() or a Connection::request()
/// response. Move-only; its views stay valid as long as it lives, also in the object it was
/// moved to (not in the moved-from one).
class OwnedMessage : public Message {
public:
    /// Takes `message`, from mqtt_message_copy or mqtt_request, to free it.
    explicit OwnedMessage(mqtt_message *message)
        : Message(detail::check_handle(message, "mqtt_message_copy")), handle_(message) {}

private:
    detail::Handle<mqtt_message> handle_;
};

inline OwnedMessage Message::copy() const { return OwnedMessage(mqtt_message_copy(message_)); }

using MessageHandler = std::function<void(const Message &)>;

/// What a client presented in CONNECT, and where from, as the authenticator sees it (valid
/// during the call; see mqtt_auth_request).
struct Credentials {
    std::string_view client_id;
    std::optional<std::string_view> username;
    std::optional<std::string_view> password;
    /// The client's address as "ip:port" ("[ip6]:port" for IPv6).
    std::string_view peer;
    /// On a TLS listener that asks for client certificates: the verified certificate's Common
    /// Name (or whole subject); std::nullopt otherwise.
    std::optional<std::string_view> certificate_identity;
    /// 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
    int protocol_level = 0;
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
/// will reconnect by itself. For MQTT_CLOSE_REASON_SERVER_DISCONNECT (an MQTT 5.0 DISCONNECT
/// from the server) last_reason_code() gives the server's reason code during the call.
using DisconnectHandler = std::function<void(mqtt_close_reason reason, bool will_reconnect)>;
/// Receives the client's log lines (an mqtt_log_level value and the text).
using LogHandler = std::function<void(int level, std::string_view message)>;
/// Learns how each QoS 1/2 publish ended: MQTT_STATUS_OK, MQTT_STATUS_CLOSED (discarded),
/// MQTT_STATUS_QUEUE_FULL (dropped from the offline queue) or MQTT_STATUS_PUBLISH_REFUSED (an
/// MQTT 5.0 refusal, whose code last_reason_code() gives during the call).
using PublishedHandler = std::function<void(std::uint16_t packet_id, mqtt_status status)>;
/// Receives the broker's connect and disconnect events.
using BrokerEventHandler = std::function<void(const mqtt_broker_event &event)>;
/// A broker log line and its type (an mqtt_broker_log_type bit).
using BrokerLogHandler = std::function<void(int type, const char *line)>;
/// Answers a step of MQTT 5.0 enhanced authentication on the client: gets the Authentication
/// Method and the server's Authentication Data, returns the reply's data (at most 65535 bytes),
/// or std::nullopt to give up (the connection then fails with MQTT_STATUS_AUTH_FAILED).
using AuthHandler =
    std::function<std::optional<std::string>(std::string_view method, std::string_view data)>;

/// One step of an MQTT 5.0 enhanced authentication exchange, as the broker's enhanced
/// authenticator sees it (valid during the call; see mqtt_auth_step).
struct AuthStep {
    std::uint64_t exchange;
    std::string_view client_id;
    std::optional<std::string_view> username;
    std::string_view method;
    std::string_view data;
    std::uint32_t step;
    bool reauthenticating;
    std::string_view peer;
};

/// An enhanced authenticator's decision: 0x00 success, 0x18 continue (another AUTH round) or a
/// failure reason code of 0x80 and above; `data` goes to the client (none when empty).
struct AuthDecision {
    int reason_code;
    std::string data;
};

using EnhancedAuthenticator = std::function<AuthDecision(const AuthStep &)>;

namespace detail {

// The trampolines have C language linkage because the C library calls them. A handler's
// exception is reported and swallowed (a message is then simply handled); an authenticator's or
// authorizer's refuses, so a bug fails closed.
extern "C" {

inline void mqtt_hpp_message_trampoline(void *userdata, const mqtt_message *message) {
    const auto &handler = *static_cast<const MessageHandler *>(userdata);
    const Message view(message);
    try {
        handler(view);
    } catch (...) {
        report_callback_exception("a message handler");
    }
}

inline int mqtt_hpp_authenticator_trampoline(void *userdata, const mqtt_auth_request *request) {
    const auto &authenticate = *static_cast<const Authenticator *>(userdata);
    Credentials credentials{request->client_id, std::nullopt, std::nullopt, request->peer,
                            std::nullopt, request->protocol_level};
    if (request->username != nullptr) {
        credentials.username = request->username;
    }
    if (request->password != nullptr) {
        credentials.password = std::string_view(
            reinterpret_cast<const char *>(request->password), request->password_len);
    }
    if (request->certificate_identity != nullptr) {
        credentials.certificate_identity = request->certificate_identity;
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

inline void mqtt_hpp_broker_log_trampoline(void *userdata, int type, const char *line) {
    try {
        (*static_cast<const BrokerLogHandler *>(userdata))(type, line);
    } catch (...) {
        report_callback_exception("a broker log handler");
    }
}

/// An exception or an oversized reply gives up the authentication.
inline int mqtt_hpp_auth_trampoline(void *userdata, const char *method, const std::uint8_t *data,
                                    std::size_t len, std::uint8_t *out, std::size_t out_capacity,
                                    std::size_t *out_len) {
    try {
        const std::optional<std::string> reply =
            (*static_cast<const AuthHandler *>(userdata))(method, text(data, len));
        if (!reply || reply->size() > out_capacity) {
            return 1;
        }
        std::copy(reply->begin(), reply->end(), out);
        *out_len = reply->size();
        return 0;
    } catch (...) {
        report_callback_exception("an authentication handler");
        return 1;
    }
}

/// An exception refuses the client (0x87 not authorized).
inline int mqtt_hpp_enhanced_authenticator_trampoline(void *userdata, const mqtt_auth_step *step,
                                                      mqtt_auth_reply *reply) {
    try {
        AuthStep view{step->exchange,
                      step->client_id,
                      std::nullopt,
                      step->method,
                      text(step->data, step->data_len),
                      step->step,
                      step->reauthenticating,
                      step->peer};
        if (step->username != nullptr) {
            view.username = step->username;
        }
        const AuthDecision decision = (*static_cast<const EnhancedAuthenticator *>(userdata))(view);
        if (!decision.data.empty() &&
            mqtt_auth_reply_set_data(reply, bytes(decision.data), decision.data.size()) !=
                MQTT_STATUS_OK) {
            return 0x87;
        }
        return decision.reason_code;
    } catch (...) {
        report_callback_exception("an enhanced authenticator");
        return 0x87;
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

/// A TLS listener's certificate, key and client-certificate policy. Setters return *this so
/// they chain; BrokerOptions::listener() copies it, so it may be reused or destroyed after.
class TlsOptions {
public:
    TlsOptions()
        : handle_(detail::check_handle(mqtt_broker_tls_options_new(),
                                       "mqtt_broker_tls_options_new")) {}

    /// PEM files (the chain, leaf first, and its private key), read when the broker starts
    /// and again by Broker::reload_tls().
    TlsOptions &certificate_files(const std::string &cert_file, const std::string &key_file) {
        detail::check(mqtt_broker_tls_options_set_certificate_files(
                          handle_.get(), cert_file.c_str(), key_file.c_str()),
                      "mqtt_broker_tls_options_set_certificate_files");
        return *this;
    }

    /// The certificate chain and key as PEM text.
    TlsOptions &certificate_pem(std::string_view cert_pem, std::string_view key_pem) {
        detail::check(mqtt_broker_tls_options_set_certificate_pem(
                          handle_.get(), detail::bytes(cert_pem), cert_pem.size(),
                          detail::bytes(key_pem), key_pem.size()),
                      "mqtt_broker_tls_options_set_certificate_pem");
        return *this;
    }

    /// Asks clients for a certificate signed by a CA of `ca_file`: `mode` 0 none, 1 requested,
    /// 2 required; `identity_as_username` makes its name the user name.
    TlsOptions &client_certificates(const std::string &ca_file, int mode,
                                    bool identity_as_username = false) {
        detail::check(mqtt_broker_tls_options_set_client_certificates(
                          handle_.get(), ca_file.c_str(), mode, identity_as_username),
                      "mqtt_broker_tls_options_set_client_certificates");
        return *this;
    }

    /// 12 for TLS 1.2 (the default) or 13 for TLS 1.3 only.
    TlsOptions &min_version(int version) {
        detail::check(mqtt_broker_tls_options_set_min_version(handle_.get(), version),
                      "mqtt_broker_tls_options_set_min_version");
        return *this;
    }

    const mqtt_broker_tls_options *get() const noexcept { return handle_.get(); }

private:
    detail::Handle<mqtt_broker_tls_options> handle_;
};

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

    /// Adds a listener: MQTT_LISTENER_KIND_TCP, _TLS, _WEB_SOCKET (path /mqtt) or
    /// _WEB_SOCKET_TLS on `address`:`port` (0: the system's choice); `tls` (copied) is needed
    /// for the TLS kinds. A Broker made with listeners opens exactly these (see Broker).
    BrokerOptions &listener(mqtt_listener_kind kind, const std::string &address,
                            std::uint16_t port, const TlsOptions *tls = nullptr) {
        detail::check(mqtt_broker_options_add_listener(handle_.get(), static_cast<int>(kind),
                                                       address.c_str(), port,
                                                       tls ? tls->get() : nullptr),
                      "mqtt_broker_options_add_listener");
        return *this;
    }

    BrokerOptions &listener(mqtt_listener_kind kind, const std::string &address,
                            std::uint16_t port, const TlsOptions &tls) {
        return listener(kind, address, port, &tls);
    }

    /// A WebSocket listener serving `path` ("" every path) to the given `origins` (none: any),
    /// over TLS when `tls` is given.
    BrokerOptions &websocket_listener(const std::string &address, std::uint16_t port,
                                      const std::string &path = "/mqtt",
                                      const std::vector<std::string> &origins = {},
                                      const TlsOptions *tls = nullptr) {
        std::vector<const char *> names;
        for (const auto &origin : origins) {
            names.push_back(origin.c_str());
        }
        detail::check(mqtt_broker_options_add_websocket_listener(
                          handle_.get(), address.c_str(), port, path.c_str(),
                          names.empty() ? nullptr : names.data(), names.size(),
                          tls ? tls->get() : nullptr),
                      "mqtt_broker_options_add_websocket_listener");
        return *this;
    }

    /// How many listeners have been added.
    std::size_t listener_count() const noexcept {
        return mqtt_broker_options_listener_count(handle_.get());
    }

    BrokerOptions &max_connections(std::size_t count) {
        detail::check(mqtt_broker_options_set_max_connections(handle_.get(), count),
                      "mqtt_broker_options_set_max_connections");
        return *this;
    }

    /// Decides whether a client may connect from what it presents and where it connects from
    /// (Credentials: client id, user name, password, peer address, TLS certificate identity,
    /// protocol level; through mqtt_broker_options_set_authenticator_ex). Runs on the broker's
    /// connection threads, concurrently: must be thread-safe.
    BrokerOptions &authenticator(Authenticator authenticate) {
        // A new object each time: a broker already created keeps the one it was given.
        authenticator_ = std::make_shared<const Authenticator>(std::move(authenticate));
        detail::check(mqtt_broker_options_set_authenticator_ex(
                          handle_.get(), detail::mqtt_hpp_authenticator_trampoline,
                          const_cast<Authenticator *>(authenticator_.get())),
                      "mqtt_broker_options_set_authenticator_ex");
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

    /// Receives the broker's log lines of the types in `types` (mqtt_broker_log_type bits), as
    /// libmosquitto's log callback. Runs on the broker's threads (see
    /// mqtt_broker_options_set_log_callback): keep it short and thread-safe.
    BrokerOptions &on_log(BrokerLogHandler handler,
                          unsigned types = static_cast<unsigned>(MQTT_BROKER_LOG_TYPE_ALL)) {
        void *userdata = detail::share(log_handler_, std::move(handler));
        detail::check(mqtt_broker_options_set_log_callback(
                          handle_.get(), types, detail::mqtt_hpp_broker_log_trampoline, userdata),
                      "mqtt_broker_options_set_log_callback");
        return *this;
    }

    /// MQTT 5.0: the Response Information given to clients that ask for it (the base of their
    /// response topics for request/response).
    BrokerOptions &response_information(const std::string &info) {
        detail::check(mqtt_broker_options_set_response_information(handle_.get(), info.c_str()),
                      "mqtt_broker_options_set_response_information");
        return *this;
    }

    /// MQTT 5.0: decides every step of the enhanced authentication a CONNECT with an
    /// Authentication Method opens, and of re-authentications. Runs on the broker's connection
    /// threads, concurrently for different clients: must be thread-safe.
    BrokerOptions &enhanced_authenticator(EnhancedAuthenticator authenticate) {
        void *userdata = detail::share(enhanced_authenticator_, std::move(authenticate));
        detail::check(mqtt_broker_options_set_enhanced_authenticator(
                          handle_.get(), detail::mqtt_hpp_enhanced_authenticator_trampoline,
                          userdata),
                      "mqtt_broker_options_set_enhanced_authenticator");
        return *this;
    }

    /// Keeps retained messages and persistent sessions (subscriptions, queued and in-flight
    /// QoS 1/2 messages, delayed wills) in the file at `path`, so that they survive a restart
    /// of the broker or a crash of its process. Created at Broker::start() if missing; a
    /// broker started on an existing file takes up what it holds. An unusable file makes
    /// start() throw Error with MQTT_STATUS_PERSISTENCE.
    BrokerOptions &persistence(const std::string &path) {
        detail::check(mqtt_broker_options_set_persistence(handle_.get(), path.c_str()),
                      "mqtt_broker_options_set_persistence");
        return *this;
    }

    /// When changes reach the persistence file: 0 (the default) is durable, a publish is
    /// acknowledged only once it is on disk; above 0, changes are committed every `interval`
    /// and a crash loses at most the last interval.
    BrokerOptions &persistence_sync(std::chrono::milliseconds interval) {
        if (interval.count() < 0 || interval.count() > 0xFFFFFFFFLL) {
            throw std::out_of_range("persistence_sync: not within 0..4294967295 ms");
        }
        detail::check(mqtt_broker_options_set_persistence_sync(
                          handle_.get(), static_cast<std::uint32_t>(interval.count())),
                      "mqtt_broker_options_set_persistence_sync");
        return *this;
    }

private:
    friend class Broker;
    detail::Handle<mqtt_broker_options> handle_;
    std::shared_ptr<const Authenticator> authenticator_;
    std::shared_ptr<const Authorizer> authorizer_;
    std::shared_ptr<const BrokerEventHandler> event_handler_;
    std::shared_ptr<const BrokerLogHandler> log_handler_;
    std::shared_ptr<const EnhancedAuthenticator> enhanced_authenticator_;
};

/// An embedded broker. Destroying it stops it (blocking until its threads have finished).
class Broker {
public:
    /// `port` "0" lets the system choose; see port().
    explicit Broker(const std::string &port = "0", const BrokerOptions &options = BrokerOptions())
        : authenticator_(options.authenticator_), authorizer_(options.authorizer_),
          event_handler_(options.event_handler_), log_handler_(options.log_handler_),
          enhanced_authenticator_(options.enhanced_authenticator_),
          handle_(detail::check_handle(mqtt_broker_new(port.c_str(), options.handle_.get()),
                                       "mqtt_broker_new")) {}

    /// Opens exactly the listeners added to `options` (BrokerOptions::listener).
    explicit Broker(const BrokerOptions &options)
        : authenticator_(options.authenticator_), authorizer_(options.authorizer_),
          event_handler_(options.event_handler_), log_handler_(options.log_handler_),
          enhanced_authenticator_(options.enhanced_authenticator_),
          handle_(detail::check_handle(mqtt_broker_new(nullptr, options.handle_.get()),
                                       "mqtt_broker_new")) {}

    /// How many listeners the started broker has.
    std::size_t listener_count() const noexcept { return mqtt_broker_listener_count(handle_.get()); }

    /// The port listener `index` got (in the order added), 0 before start or out of range.
    std::uint16_t listener_port(std::size_t index) const noexcept {
        return mqtt_broker_listener_port(handle_.get(), index);
    }

    /// "mqtt://ADDRESS:PORT", "mqtts://...", "ws://ADDRESS:PORT/PATH" or "wss://...".
    std::string listener_url(std::size_t index) const {
        std::vector<char> buffer(64);
        for (;;) {
            const mqtt_status status =
                mqtt_broker_listener_url(handle_.get(), index, buffer.data(), buffer.size());
            if (status == MQTT_STATUS_TOO_LARGE) {
                buffer.resize(buffer.size() * 4);
                continue;
            }
            detail::check(status, "mqtt_broker_listener_url");
            return std::string(buffer.data());
        }
    }

    std::vector<std::string> listener_urls() const {
        std::vector<std::string> urls;
        for (std::size_t i = 0; i < listener_count(); ++i) {
            urls.push_back(listener_url(i));
        }
        return urls;
    }

    /// Reads every TLS listener's certificate and key files again; throws Error with
    /// MQTT_STATUS_TLS when one does not load (the listener then keeps the old ones).
    void reload_tls() const {
        detail::check(mqtt_broker_reload_tls(handle_.get()), "mqtt_broker_reload_tls");
    }

    /// Starts listening; returns once clients can connect. A stopped broker starts again with
    /// the sessions, subscriptions and retained messages it had (with port "0" the system may
    /// choose another port: ask port() again). Throws Error with MQTT_STATUS_PERSISTENCE when
    /// the persistence file cannot be used.
    void start() { detail::check(mqtt_broker_start(handle_.get()), "mqtt_broker_start"); }

    /// Closes every connection (publishing no wills) and blocks until the broker's threads have
    /// finished; with persistence, commits to the file and closes it, so that another broker
    /// may open it.
    void stop() { detail::check(mqtt_broker_stop(handle_.get()), "mqtt_broker_stop"); }

    std::uint16_t port() const { return mqtt_broker_port(handle_.get()); }

    /// Publishes as if a client had sent the message; never blocks on subscribers.
    void publish(const std::string &topic, std::string_view payload, int qos = 0,
                 bool retain = false) {
        detail::check(mqtt_broker_publish(handle_.get(), topic.c_str(), detail::bytes(payload),
                                          payload.size(), qos, retain),
                      "mqtt_broker_publish");
    }

    /// Closes the connection of the connected client `client_id` (a 5.0 client is told 0x98),
    /// publishing its will if `publish_will`. Returns at once; throws mqtt::Error with
    /// MQTT_STATUS_NOT_FOUND when no such client is connected.
    void disconnect_client(const std::string &client_id, bool publish_will = true) {
        detail::check(mqtt_broker_disconnect_client(handle_.get(), client_id.c_str(), publish_will),
                      "mqtt_broker_disconnect_client");
    }

    /// Sends the connected MQTT 5.0 client `client_id` to `server_reference` (DISCONNECT 0x9D
    /// if `permanent`, else 0x9C); a 3.1.1 client is just disconnected. Returns at once; throws
    /// mqtt::Error with MQTT_STATUS_NOT_FOUND when no such client is connected.
    void redirect_client(const std::string &client_id, const std::string &server_reference,
                         bool permanent = false) {
        detail::check(mqtt_broker_redirect_client(handle_.get(), client_id.c_str(),
                                                  server_reference.c_str(), permanent),
                      "mqtt_broker_redirect_client");
    }

    mqtt_broker_statistics stats() const {
        mqtt_broker_statistics stats{};
        detail::check(mqtt_broker_stats(handle_.get(), &stats), "mqtt_broker_stats");
        return stats;
    }

    /// What the persistence store has done (commits, failures, last commit's duration, file
    /// size); throws Error with MQTT_STATUS_INVALID_STATE when the broker has no persistence
    /// file.
    mqtt_persistence_statistics persistence_stats() const {
        mqtt_persistence_statistics stats{};
        detail::check(mqtt_broker_persistence_stats(handle_.get(), &stats),
                      "mqtt_broker_persistence_stats");
        return stats;
    }

private:
    // Declared before the handle so they are destroyed after it: the broker's threads may call
    // them until mqtt_broker_free has returned.
    std::shared_ptr<const Authenticator> authenticator_;
    std::shared_ptr<const Authorizer> authorizer_;
    std::shared_ptr<const BrokerEventHandler> event_handler_;
    std::shared_ptr<const BrokerLogHandler> log_handler_;
    std::shared_ptr<const EnhancedAuthenticator> enhanced_authenticator_;
    detail::Handle<mqtt_broker> handle_;
};

/// MQTT 5.0 properties of a publish (Connection::publish, publish_async) or of the will
/// (ConnectOptions::will_properties). Setters return *this so they chain. The calls that take
/// it only read it: it may be reused for many publishes.
class PublishOptions {
public:
    PublishOptions()
        : handle_(detail::check_handle(mqtt_publish_options_new(), "mqtt_publish_options_new")) {}

    /// The server drops the message once it waited that long for a subscriber.
    PublishOptions &message_expiry(std::chrono::seconds interval) {
        detail::check(mqtt_publish_options_set_message_expiry(
                          handle_.get(), detail::seconds32(interval, "message_expiry")),
                      "mqtt_publish_options_set_message_expiry");
        return *this;
    }

    PublishOptions &content_type(const std::string &type) {
        detail::check(mqtt_publish_options_set_content_type(handle_.get(), type.c_str()),
                      "mqtt_publish_options_set_content_type");
        return *this;
    }

    PublishOptions &response_topic(const std::string &topic) {
        detail::check(mqtt_publish_options_set_response_topic(handle_.get(), topic.c_str()),
                      "mqtt_publish_options_set_response_topic");
        return *this;
    }

    /// Binary, at most 65535 bytes.
    PublishOptions &correlation_data(std::string_view data) {
        detail::check(mqtt_publish_options_set_correlation_data(
                          handle_.get(), detail::bytes(data), data.size()),
                      "mqtt_publish_options_set_correlation_data");
        return *this;
    }

    /// 1: the payload is UTF-8 text (the server may check it); 0: unspecified bytes.
    PublishOptions &payload_format(int format) {
        detail::check(mqtt_publish_options_set_payload_format(handle_.get(), format),
                      "mqtt_publish_options_set_payload_format");
        return *this;
    }

    /// Adds a User Property; repeatable, the order is kept end to end.
    PublishOptions &user_property(const std::string &name, const std::string &value) {
        detail::check(
            mqtt_publish_options_add_user_property(handle_.get(), name.c_str(), value.c_str()),
            "mqtt_publish_options_add_user_property");
        return *this;
    }

    /// Whether the topic may go as a topic alias when the server allows them (default true).
    PublishOptions &topic_alias(bool allowed) {
        detail::check(mqtt_publish_options_set_topic_alias(handle_.get(), allowed),
                      "mqtt_publish_options_set_topic_alias");
        return *this;
    }

    const mqtt_publish_options *get() const noexcept { return handle_.get(); }

private:
    detail::Handle<mqtt_publish_options> handle_;
};

/// MQTT 5.0 subscription options (Connection::subscribe, subscribe_many); the defaults behave
/// as MQTT 3.1.1. Setters return *this so they chain.
class SubscribeOptions {
public:
    SubscribeOptions()
        : handle_(
              detail::check_handle(mqtt_subscribe_options_new(), "mqtt_subscribe_options_new")) {}

    /// Messages this client publishes are not sent back to it.
    SubscribeOptions &no_local(bool on = true) {
        detail::check(mqtt_subscribe_options_set_no_local(handle_.get(), on),
                      "mqtt_subscribe_options_set_no_local");
        return *this;
    }

    /// Forwarded messages keep the RETAIN flag they were published with.
    SubscribeOptions &retain_as_published(bool on = true) {
        detail::check(mqtt_subscribe_options_set_retain_as_published(handle_.get(), on),
                      "mqtt_subscribe_options_set_retain_as_published");
        return *this;
    }

    /// 0 send retained messages on subscribe, 1 only for a new subscription, 2 never.
    SubscribeOptions &retain_handling(int handling) {
        detail::check(mqtt_subscribe_options_set_retain_handling(handle_.get(), handling),
                      "mqtt_subscribe_options_set_retain_handling");
        return *this;
    }

    /// 1..268435455 (0 removes it): comes back with every message the subscription delivers
    /// (Message::subscription_identifiers()).
    SubscribeOptions &subscription_identifier(std::uint32_t identifier) {
        detail::check(
            mqtt_subscribe_options_set_subscription_identifier(handle_.get(), identifier),
            "mqtt_subscribe_options_set_subscription_identifier");
        return *this;
    }

    /// Adds a User Property to the SUBSCRIBE; repeatable, the order is kept.
    SubscribeOptions &user_property(const std::string &name, const std::string &value) {
        detail::check(
            mqtt_subscribe_options_add_user_property(handle_.get(), name.c_str(), value.c_str()),
            "mqtt_subscribe_options_add_user_property");
        return *this;
    }

    const mqtt_subscribe_options *get() const noexcept { return handle_.get(); }

private:
    detail::Handle<mqtt_subscribe_options> handle_;
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

    /// TLS: the server's certificate must be signed by a CA of `ca_file` ("": the system's
    /// CAs) and name the host; `cert_file` and `key_file` (both or neither) give a client
    /// certificate. A failed handshake or an unusable file: Error with MQTT_STATUS_TLS.
    ConnectOptions &tls(const std::string &ca_file, const std::string &cert_file = "",
                        const std::string &key_file = "") {
        const auto optional = [](const std::string &s) { return s.empty() ? nullptr : s.c_str(); };
        detail::check(mqtt_connect_options_set_tls(handle_.get(), optional(ca_file),
                                                   optional(cert_file), optional(key_file)),
                      "mqtt_connect_options_set_tls");
        return *this;
    }

    /// Accepts any server certificate (tests only). Turns TLS on.
    ConnectOptions &tls_insecure(bool insecure) {
        detail::check(mqtt_connect_options_set_tls_insecure(handle_.get(), insecure),
                      "mqtt_connect_options_set_tls_insecure");
        return *this;
    }

    /// The name the server's certificate must carry (also sent as SNI). Turns TLS on.
    ConnectOptions &tls_server_name(const std::string &name) {
        detail::check(mqtt_connect_options_set_tls_server_name(handle_.get(), name.c_str()),
                      "mqtt_connect_options_set_tls_server_name");
        return *this;
    }

    /// 12 (TLS 1.2, the default) or 13 (TLS 1.3 only). Turns TLS on.
    ConnectOptions &tls_min_version(int version) {
        detail::check(mqtt_connect_options_set_tls_min_version(handle_.get(), version),
                      "mqtt_connect_options_set_tls_min_version");
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

    /// 4 for MQTT 3.1.1 (the default), 5 for MQTT 5.0 (which the setters below need), 3 for
    /// MQTT 3.1.
    ConnectOptions &protocol_level(int level) {
        detail::check(mqtt_connect_options_set_protocol_level(handle_.get(), level),
                      "mqtt_connect_options_set_protocol_level");
        return *this;
    }

    /// MQTT 5.0 Session Expiry Interval (default 0: the session ends with the connection;
    /// 0xFFFFFFFF seconds: never).
    ConnectOptions &session_expiry(std::chrono::seconds interval) {
        detail::check(mqtt_connect_options_set_session_expiry(
                          handle_.get(), detail::seconds32(interval, "session_expiry")),
                      "mqtt_connect_options_set_session_expiry");
        return *this;
    }

    /// How many QoS 1/2 messages the server may send before this client acknowledged them.
    ConnectOptions &receive_maximum(std::uint16_t maximum) {
        detail::check(mqtt_connect_options_set_receive_maximum(handle_.get(), maximum),
                      "mqtt_connect_options_set_receive_maximum");
        return *this;
    }

    /// The largest packet this client accepts, in bytes.
    ConnectOptions &maximum_packet_size(std::uint32_t bytes) {
        detail::check(mqtt_connect_options_set_maximum_packet_size(handle_.get(), bytes),
                      "mqtt_connect_options_set_maximum_packet_size");
        return *this;
    }

    /// How many topic aliases the server may use towards this client (default 0).
    ConnectOptions &topic_alias_maximum(std::uint16_t maximum) {
        detail::check(mqtt_connect_options_set_topic_alias_maximum(handle_.get(), maximum),
                      "mqtt_connect_options_set_topic_alias_maximum");
        return *this;
    }

    /// Asks the server for Response Information, the base of request()'s response topic.
    ConnectOptions &request_response_information(bool on = true) {
        detail::check(mqtt_connect_options_set_request_response_information(handle_.get(), on),
                      "mqtt_connect_options_set_request_response_information");
        return *this;
    }

    /// Off asks the server to leave out Reason Strings and User Properties in most packets.
    ConnectOptions &request_problem_information(bool on) {
        detail::check(mqtt_connect_options_set_request_problem_information(handle_.get(), on),
                      "mqtt_connect_options_set_request_problem_information");
        return *this;
    }

    /// Adds a User Property to CONNECT; repeatable, the order is kept.
    ConnectOptions &user_property(const std::string &name, const std::string &value) {
        detail::check(
            mqtt_connect_options_add_user_property(handle_.get(), name.c_str(), value.c_str()),
            "mqtt_connect_options_add_user_property");
        return *this;
    }

    /// The MQTT 5.0 properties of the will (set will() first) and the Will Delay Interval.
    ConnectOptions &will_properties(const PublishOptions &properties,
                                    std::chrono::seconds delay = std::chrono::seconds(0)) {
        detail::check(mqtt_connect_options_set_will_properties(
                          handle_.get(), properties.get(), detail::seconds32(delay, "will delay")),
                      "mqtt_connect_options_set_will_properties");
        return *this;
    }

    /// MQTT 5.0 enhanced authentication with `method` and the initial Authentication Data;
    /// `handler` answers each AUTH the server sends, at connect and in reauthenticate(). It
    /// runs on the thread inside connect or reconnect, later on the thread reading the
    /// connection.
    ConnectOptions &authentication(const std::string &method, std::string_view data,
                                   AuthHandler handler) {
        void *userdata = detail::share(handlers_.auth, std::move(handler));
        detail::check(mqtt_connect_options_set_authentication(
                          handle_.get(), method.c_str(), detail::bytes(data), data.size(),
                          detail::mqtt_hpp_auth_trampoline, userdata),
                      "mqtt_connect_options_set_authentication");
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
        std::shared_ptr<const AuthHandler> auth;
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

    /// Connects to "mqtt://host[:port]" (TCP), "mqtts://host[:port]" (TLS, with the tls
    /// settings of `options`), "ws://host[:port][/path]" (WebSocket, path /mqtt by default) or
    /// "wss://host[:port][/path]" (WebSocket over TLS), as connect() does.
    static Connection connect_url(const std::string &url,
                                  const ConnectOptions &options = ConnectOptions()) {
        mqtt_connection *handle =
            detail::check_handle(mqtt_connect_url(url.c_str(), options.get()), "mqtt_connect_url");
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

    /// MQTT 5.0: subscribe_many() with `options` for every filter; returns the SUBACK reason
    /// code per filter, the granted QoS or a refusal (0x80 and above, e.g. 0x87 not
    /// authorized), whose handler is dropped again.
    std::vector<int> subscribe_many(const std::vector<std::pair<std::string, int>> &filters,
                                    MessageHandler handler, const SubscribeOptions &options) {
        std::vector<const char *> names;
        std::vector<int> qos;
        for (const auto &f : filters) {
            names.push_back(f.first.c_str());
            qos.push_back(f.second);
        }
        std::vector<int> codes(filters.size(), -1);
        detail::check(mqtt_subscribe_many_ex(handle_.get(), names.data(), qos.data(), names.size(),
                                             options.get(), detail::mqtt_hpp_message_trampoline,
                                             handlers_->keep(std::move(handler)), codes.data()),
                      "mqtt_subscribe_many_ex");
        return codes;
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

    /// MQTT 5.0: publish_async() with the properties of `options`. A refusal comes later:
    /// wait_published() throws Error with MQTT_STATUS_PUBLISH_REFUSED and its reason_code().
    PublishResult publish_async(const std::string &topic, std::string_view payload, int qos,
                                bool retain, const PublishOptions &options) {
        std::uint16_t id = 0;
        const mqtt_status status =
            mqtt_publish_async_ex(handle_.get(), topic.c_str(), detail::bytes(payload),
                                  payload.size(), qos, retain, options.get(), &id);
        if (status != MQTT_STATUS_QUEUED) {
            detail::check(status, "mqtt_publish_async_ex");
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

    /// MQTT 5.0: subscribe() with `options` (No Local, Retain As Published, Retain Handling, a
    /// Subscription Identifier, user properties). Returns the SUBACK reason code, which is the
    /// granted QoS; a refusal throws Error with MQTT_STATUS_SUBSCRIBE_FAILED, whose
    /// reason_code() says why (0x87 not authorized, 0x8F topic filter invalid, ...).
    int subscribe(const std::string &filter, int qos, MessageHandler handler,
                  const SubscribeOptions &options) {
        int code = -1;
        detail::check(mqtt_subscribe_ex(handle_.get(), filter.c_str(), qos, options.get(),
                                        detail::mqtt_hpp_message_trampoline,
                                        handlers_->keep(std::move(handler)), &code),
                      "mqtt_subscribe_ex");
        return code;
    }

    /// In MQTT 5.0 a refusal throws Error with MQTT_STATUS_UNSUBSCRIBE_FAILED and its
    /// reason_code(); the subscription then stays.
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

    /// MQTT 5.0: publish() with the properties of `options`. Returns the acknowledgement's
    /// reason code: 0x00, or 0x10 no matching subscribers (0 for QoS 0). A refusal throws
    /// Error with MQTT_STATUS_PUBLISH_REFUSED, whose reason_code() says why (0x87 not
    /// authorized, 0x97 quota exceeded, 0x99 payload format invalid, ...).
    int publish(const std::string &topic, std::string_view payload, int qos, bool retain,
                const PublishOptions &options) {
        detail::check(mqtt_publish_ex(handle_.get(), topic.c_str(), detail::bytes(payload),
                                      payload.size(), qos, retain, options.get()),
                      "mqtt_publish_ex");
        return mqtt_last_reason_code();
    }

    /// MQTT 5.0 request/response: publishes `payload` to `topic` with a Response Topic and a
    /// fresh Correlation Data, and waits up to `timeout` for the response carrying the same
    /// Correlation Data; std::nullopt when none came in time. No handler sees the response.
    std::optional<OwnedMessage> request(const std::string &topic, std::string_view payload,
                                        int qos, std::chrono::milliseconds timeout) {
        mqtt_message *response = nullptr;
        const mqtt_status status =
            mqtt_request(handle_.get(), topic.c_str(), detail::bytes(payload), payload.size(),
                         qos, static_cast<int>(timeout.count()), &response);
        if (status == MQTT_STATUS_TIMEOUT) {
            return std::nullopt;
        }
        detail::check(status, "mqtt_request");
        return OwnedMessage(response);
    }

    /// MQTT 5.0 re-authentication with the connect's Authentication Method; the
    /// ConnectOptions::authentication handler answers the server.
    void reauthenticate(std::string_view data = std::string_view()) {
        detail::check(mqtt_reauthenticate(handle_.get(), detail::bytes(data), data.size()),
                      "mqtt_reauthenticate");
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

    /// MQTT 5.0: DISCONNECT with `reason_code` (0x04 asks the server to publish the will all
    /// the same) and, if given, a new Session Expiry Interval.
    void disconnect(int reason_code,
                    std::optional<std::chrono::seconds> session_expiry = std::nullopt) {
        const std::int64_t expiry =
            session_expiry ? std::int64_t{detail::seconds32(*session_expiry, "session_expiry")}
                           : -1;
        detail::check(mqtt_disconnect_ex(handle_.get(), reason_code, expiry),
                      "mqtt_disconnect_ex");
    }

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
