"""libmqtt from Python: embeds a broker that admits only user "python", subscribes with a Python
callback that runs on the connection's loop thread, publishes, prints what arrived. Then MQTT
5.0: a publish whose properties all arrive with the subscription identifier, No Local, a refused
publish's reason code, and a request answered by a second client.

    LIBMQTT_PATH=target/release/libmqtt.so python3 bindings/python/example.py

Exits 0 when every message arrived, 1 otherwise. Every wait is bounded.
"""

import gc
import queue
import sys
import threading

# Keeps a run from leaving __pycache__ in the source tree.
sys.dont_write_bytecode = True

import libmqtt  # noqa: E402 (after the setting above)


def authenticate(client_id, username, password):
    return libmqtt.AUTH_ACCEPT if (username, password) == ("python", b"secret") else (
        libmqtt.AUTH_BAD_CREDENTIALS
    )


def authorize(client_id, username, topic, access):
    # Anyone may subscribe; nobody may publish to a "readonly" level.
    return not (access == libmqtt.ACCESS_PUBLISH and "readonly" in topic.split("/"))


def mqtt5(port):
    """The MQTT 5.0 part; returns the exit status."""
    def login(client_id):
        return libmqtt.ConnectOptions(client_id=client_id, username="python", password="secret",
                                      protocol_level=5, request_response_information=True)

    arrived = queue.Queue()
    with libmqtt.Connection.connect("127.0.0.1", port, login("python-v5")) as connection, \
            libmqtt.Connection.connect("127.0.0.1", port, login("python-responder")) as responder:
        code = connection.subscribe("v5/sensors/#", 1, arrived.put, subscription_identifier=42)
        print(f"v5 subscribed with reason code {code}")
        # No Local: what this client publishes to v5/chat is not sent back to it.
        connection.subscribe("v5/chat", 1, arrived.put, no_local=True)

        # The responder answers on the request's Response Topic with its Correlation Data.
        def answer(request):
            responder.publish(request.response_topic, b"echo: " + request.payload, qos=1,
                              correlation_data=request.correlation_data,
                              content_type="text/plain")

        responder.subscribe("v5/service/echo", 1, answer)
        responder.loop_start()
        connection.loop_start()

        connection.publish(
            "v5/sensors/kitchen", '{"t": 21.5}', qos=1,
            user_properties=[("unit", "celsius"), ("sensor", "kitchen")],
            content_type="application/json", response_topic="v5/replies",
            correlation_data=b"corr-1", message_expiry=300, payload_format=1,
        )
        connection.publish("v5/chat", "my own message", qos=1)
        responder.publish("v5/chat", "hello from the responder", qos=1)
        try:
            message = arrived.get(timeout=10)
            chat = arrived.get(timeout=10)
        except queue.Empty:
            print("the v5 messages did not arrive", file=sys.stderr)
            return 1
        print(f"v5 received {message.topic} {message.payload.decode()}")
        print(f"v5 user properties: {message.user_properties}")
        print(f"v5 content type: {message.content_type}")
        print(f"v5 response topic: {message.response_topic}")
        print(f"v5 correlation data: {message.correlation_data!r}")
        print(f"v5 message expiry: {message.message_expiry}")
        print(f"v5 payload format: {message.payload_format}")
        print(f"v5 subscription identifiers: {message.subscription_identifiers}")
        print(f"v5 no local: {chat.topic} {chat.payload.decode()}")

        try:
            connection.publish("v5/readonly/news", b"refused", qos=1, content_type="text/plain")
            print("the authorizer's refusal was not reported", file=sys.stderr)
            return 1
        except libmqtt.MqttError as refused:
            print(f"v5 publish refused: status {refused.status}, reason code "
                  f"0x{refused.reason_code:02X} ({refused.reason_text})")

        response = connection.request("v5/service/echo", "ping", qos=1, timeout=10)
        if response is None:
            print("no response to the request", file=sys.stderr)
            return 1
        print(f"v5 response {response.topic} {response.payload.decode()} "
              f"({response.content_type})")
        responder.loop_stop()
        connection.loop_stop()
        responder.disconnect()
        connection.disconnect(reason_code=0x00)
    return 0


def main():
    print(f"libmqtt {libmqtt.version()} from Python")
    options = libmqtt.BrokerOptions(authenticator=authenticate, authorizer=authorize,
                                    response_information="replies")
    with libmqtt.Broker(port=0, options=options) as broker:
        broker.start()
        print(f"broker listening on port {broker.port}")

        try:
            libmqtt.Connection.connect(
                "127.0.0.1", broker.port, libmqtt.ConnectOptions(username="python", password="no")
            )
            print("a wrong password was accepted", file=sys.stderr)
            return 1
        except libmqtt.MqttError as refused:
            print(f"refused as expected: status {refused.status}: {refused}")

        received = []
        threads = set()
        all_arrived = threading.Event()

        def on_message(message):
            received.append(message)
            threads.add(threading.current_thread().name)
            if len(received) == 2:
                all_arrived.set()

        login = libmqtt.ConnectOptions(client_id="python-example", username="python",
                                       password="secret")
        with libmqtt.Connection.connect("127.0.0.1", broker.port, login) as connection:
            granted = connection.subscribe("example/#", on_message, qos=1)
            print(f"subscribed to example/# with QoS {granted}")

            # The most specific filter wins, so this callback alone gets example/broken; its
            # exception is printed to stderr and the loop thread carries on.
            def broken(message):
                raise RuntimeError(f"deliberately broken callback for {message.topic}")

            connection.subscribe("example/broken", broken, qos=1)
            del broken
            # Only the Connection references the C callbacks now; they must survive this.
            gc.collect()
            connection.loop_start()

            # Acknowledged but not forwarded, as the authorizer refuses it; published first, so
            # it would arrive before the greeting if it were forwarded.
            connection.publish("example/readonly/news", b"dropped", qos=1)
            connection.publish("example/broken", b"raises", qos=1)
            connection.publish("example/greeting", "hello from Python", qos=1)
            broker.publish("example/broker", b"hello from the embedded broker", qos=0)

            if not all_arrived.wait(timeout=10):
                print(f"only {len(received)} messages arrived", file=sys.stderr)
                return 1
            connection.loop_stop()
            connection.disconnect()

        for message in sorted(received, key=lambda m: m.topic):
            print(f"received {message.topic} {message.payload.decode()} (QoS {message.qos})")
        if any("readonly" in message.topic for message in received):
            print("the authorizer's refusal was forwarded", file=sys.stderr)
            return 1
        if threading.main_thread().name in threads:
            print("the callback ran on the main thread", file=sys.stderr)
            return 1
        print(f"callback thread: not the main thread ({len(threads)} thread)")
        if mqtt5(broker.port) != 0:
            return 1
        broker.stop()
    print("example: all messages arrived; broker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
