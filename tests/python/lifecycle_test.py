"""The Python binding's lifecycle additions (issue 11), run by tests/client/lifecycle.rs:
timeouts, auto-reconnect with on_connect/on_disconnect across a broker restart, publishing
while disconnected (queued, completed by wait_published), subscribe_many, the default message
callback, the broker event callback, and the event loop methods. Prints "lifecycle ok"."""

import os
import select
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python"))
import libmqtt  # noqa: E402


def wait_until(what, condition, limit=5.0):
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def main():
    events = []
    broker = libmqtt.Broker(0, libmqtt.BrokerOptions(on_event=events.append))
    broker.start()
    port = broker.port

    lifecycle = []
    lock = threading.Lock()
    received = []

    def remember(*item):
        with lock:
            lifecycle.append(item)

    options = libmqtt.ConnectOptions(
        client_id="py-lifecycle",
        connect_timeout=5,
        operation_timeout=5,
        auto_reconnect=(0.02, 0.1),
        offline_queue=(10, 4096, libmqtt.QUEUE_REFUSE_NEW, True),
        on_connect=lambda present, code: remember("connect", present, code),
        on_disconnect=lambda reason, again: remember(
            "disconnect", libmqtt.CLOSE_REASONS[reason], again),
        on_log=lambda level, text: None,
        will=("py/will", b"gone", 1, False),
    )
    conn = libmqtt.Connection.connect("127.0.0.1", port, options)
    granted = conn.subscribe_many([("py/a", 1), ("py/b", 2)], received.append)
    assert granted == [1, 2], granted
    conn.loop_start()
    wait_until("the broker's connect event", lambda: any(
        e["kind"] == "connected" and e["client_id"] == "py-lifecycle" for e in events))

    broker.close()
    wait_until("on_disconnect", lambda: len(lifecycle) >= 2)
    assert lifecycle[1] == ("disconnect", "closed by peer", True), lifecycle
    packet_id = conn.publish_async("py/a", b"queued", 1)
    assert packet_id != 0
    try:
        conn.publish("py/b", b"queued too", 2)
        raise AssertionError("publish while disconnected did not report the queue")
    except libmqtt.MqttError as e:
        assert e.status == libmqtt.STATUS_QUEUED, e

    broker = libmqtt.Broker(port)
    broker.start()
    wait_until("on_connect after the restart", lambda: len(lifecycle) >= 3)
    assert lifecycle[2] == ("connect", False, 0), lifecycle
    assert conn.wait_published(packet_id, 5)
    wait_until("the queued messages on the restored subscriptions", lambda: len(received) >= 2)
    assert sorted(m.topic for m in received) == ["py/a", "py/b"], received
    conn.disconnect()
    conn.close()

    # The event loop methods: no loop thread, the program's own select().
    published = []
    loop_conn = libmqtt.Connection.connect("127.0.0.1", port)
    loop_conn.subscribe("py/loop", received.append, 1)
    loop_conn.set_on_published(lambda pid, status: published.append((pid, status)))
    pid = loop_conn.publish_async("py/loop", b"x", 1)
    deadline = time.monotonic() + 5
    while len(published) < 1 or len(received) < 3:
        assert time.monotonic() < deadline, (published, received)
        readable, _, _ = select.select([loop_conn.socket()], [], [], 0.1)
        if readable:
            loop_conn.loop_read()
        if loop_conn.want_write():
            loop_conn.loop_write()
        loop_conn.loop_misc()
    assert published == [(pid, libmqtt.STATUS_OK)], published
    loop_conn.close()
    broker.close()
    print("lifecycle ok")


if __name__ == "__main__":
    main()
