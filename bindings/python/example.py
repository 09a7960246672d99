"""libmqtt from Python: embeds a broker that admits only user "python", subscribes with a Python
callback that runs on the connection's loop thread, publishes, prints what arrived.

    LIBMQTT_PATH=target/release/libmqtt.so python3 bindings/python/example.py

Exits 0 when every message arrived, 1 otherwise. Every wait is bounded.
"""

import gc
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


def main():
    print(f"libmqtt {libmqtt.version()} from Python")
    options = libmqtt.BrokerOptions(authenticator=authenticate, authorizer=authorize)
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
        broker.stop()
    print("example: all messages arrived; broker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
