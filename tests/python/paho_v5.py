#!/usr/bin/env python3
"""MQTT 5.0 scenarios run with paho-mqtt 2.x against a broker, driven by tests/interop_v5.rs.

Usage: paho_v5.py HOST PORT SCENARIO

Prints one line per observation, "key value", flushed, and "ok" at the end; any failure raises,
which exits non-zero with a traceback. Every wait is bounded.
"""

import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

HOST = sys.argv[1]
PORT = int(sys.argv[2])
SCENARIO = sys.argv[3]
WAIT = 10.0


def say(*words):
    print(*words, flush=True)


class Peer:
    """A paho client in MQTT 5 mode on its own network loop, with a message inbox."""

    def __init__(self, client_id, clean_start=True, connect_properties=None):
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.messages = []
        self.lock = threading.Condition()
        self.connack = None
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(
            HOST, PORT, keepalive=30, clean_start=clean_start, properties=connect_properties
        )
        self.client.loop_start()
        self.wait(lambda: self.connack is not None, "CONNACK")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self.lock:
            self.connack = (flags.session_present, reason_code, properties)
            self.lock.notify_all()

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append(message)
            self.lock.notify_all()

    def wait(self, condition, what):
        deadline = time.monotonic() + WAIT
        with self.lock:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {WAIT} s")
                self.lock.wait(left)

    def subscribe(self, topic, qos=1, options=None, properties=None):
        done = threading.Event()
        granted = []

        def on_subscribe(client, userdata, mid, reason_codes, props):
            granted.extend(reason_codes)
            done.set()

        self.client.on_subscribe = on_subscribe
        opts = options or SubscribeOptions(qos=qos)
        self.client.subscribe(topic, options=opts, properties=properties)
        assert done.wait(WAIT), "no SUBACK"
        return granted

    def publish(self, topic, payload, qos=1, retain=False, properties=None):
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(WAIT)
        assert info.is_published(), "not acknowledged"

    def take(self, count):
        self.wait(lambda: len(self.messages) >= count, f"{count} messages")
        with self.lock:
            taken, self.messages = self.messages[:count], self.messages[count:]
        return taken

    def quiet(self, seconds):
        time.sleep(seconds)
        with self.lock:
            assert not self.messages, f"unexpected {self.messages}"

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def publish_properties(**values):
    props = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(props, name, value)
    return props


def properties_scenario():
    """User properties (order kept), content type, payload format, response topic, correlation
    data and message expiry reach a paho subscriber unchanged."""
    sub = Peer("paho-sub")
    sub.subscribe("props/#", qos=1)
    pub = Peer("paho-pub")
    props = publish_properties(
        UserProperty=[("b", "2"), ("a", "1"), ("b", "3")],
        ContentType="text/plain",
        PayloadFormatIndicator=1,
        ResponseTopic="reply/here",
        CorrelationData=b"\x01\x02",
        MessageExpiryInterval=60,
    )
    pub.publish("props/x", b"hello", qos=1, properties=props)
    (msg,) = sub.take(1)
    p = msg.properties
    say("payload", msg.payload.decode())
    say("user", ",".join(f"{k}={v}" for k, v in p.UserProperty))
    say("content_type", p.ContentType)
    say("payload_format", p.PayloadFormatIndicator)
    say("response_topic", p.ResponseTopic)
    say("correlation", p.CorrelationData.hex())
    say("expiry_ok", int(55 <= p.MessageExpiryInterval <= 60))
    pub.close()
    sub.close()


def options_scenario():
    """No Local, Retain As Published, Retain Handling and Subscription Identifiers."""
    me = Peer("paho-me")
    ids = Properties(PacketTypes.SUBSCRIBE)
    ids.SubscriptionIdentifier = 42
    me.subscribe(
        "opt/#", options=SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True),
        properties=ids,
    )
    me.publish("opt/own", b"own", qos=1)
    other = Peer("paho-other")
    other.publish("opt/other", b"other", qos=1, retain=True)
    (msg,) = me.take(1)
    say("no_local_payload", msg.payload.decode())
    say("retain_as_published", int(msg.retain))
    say("subscription_ids", ",".join(str(i) for i in msg.properties.SubscriptionIdentifier))
    me.quiet(0.3)
    fresh = Peer("paho-fresh")
    fresh.subscribe("opt/other", options=SubscribeOptions(qos=1, retainHandling=2))
    fresh.quiet(0.3)
    say("retain_handling_2", "nothing")
    fresh.subscribe("opt/other", options=SubscribeOptions(qos=1, retainHandling=1))
    fresh.quiet(0.3)
    say("retain_handling_1_existing", "nothing")
    for peer in (me, other, fresh):
        peer.close()


def session_scenario():
    """Session Expiry: messages queued while away arrive after a reconnect with Clean Start 0."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 60
    away = Peer("paho-away", clean_start=True, connect_properties=props)
    away.subscribe("queue/t", qos=1)
    away.close()
    pub = Peer("paho-queuer")
    for n in range(3):
        pub.publish("queue/t", f"m{n}".encode(), qos=1)
    pub.close()
    back = Peer("paho-away", clean_start=False, connect_properties=props)
    say("session_present", int(back.connack[0]))
    got = back.take(3)
    say("queued", ",".join(m.payload.decode() for m in got))
    back.close()


def alias_scenario():
    """Topic aliases from a paho publisher: a topic with an alias, then the alias alone."""
    sub = Peer("paho-alias-sub")
    sub.subscribe("alias/long/topic", qos=1)
    pub = Peer("paho-alias-pub")
    pub.publish("alias/long/topic", b"one", qos=1, properties=publish_properties(TopicAlias=1))
    pub.publish("", b"two", qos=1, properties=publish_properties(TopicAlias=1))
    got = sub.take(2)
    say("aliased", ",".join(f"{m.topic}:{m.payload.decode()}" for m in got))
    pub.close()
    sub.close()


def shared_scenario():
    """A shared subscription spreads messages over its members, each message to one."""
    members = [Peer(f"paho-member-{n}") for n in range(2)]
    for member in members:
        member.subscribe("$share/workers/jobs", qos=1)
    pub = Peer("paho-jobs")
    for n in range(10):
        pub.publish("jobs", f"{n}".encode(), qos=1)
    deadline = time.monotonic() + WAIT
    while sum(len(m.messages) for m in members) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    counts = [len(m.messages) for m in members]
    seen = sorted(int(msg.payload) for m in members for msg in m.messages)
    say("shared_total", len(seen))
    say("shared_distinct", len(set(seen)))
    say("shared_each_got_some", int(all(c > 0 for c in counts)))
    for peer in members + [pub]:
        peer.close()


def request_response_scenario():
    """Request/response: the responder answers on the request's Response Topic with its
    Correlation Data."""
    responder = Peer("paho-responder")

    def answer(client, userdata, message):
        props = publish_properties(CorrelationData=message.properties.CorrelationData)
        client.publish(message.properties.ResponseTopic, b"pong", qos=1, properties=props)

    responder.subscribe("service/ping", qos=1)
    responder.client.on_message = answer
    requester = Peer("paho-requester")
    requester.subscribe("replies/requester", qos=1)
    request = publish_properties(ResponseTopic="replies/requester", CorrelationData=b"req-7")
    requester.publish("service/ping", b"ping", qos=1, properties=request)
    (reply,) = requester.take(1)
    say("reply", reply.payload.decode(), reply.properties.CorrelationData.decode())
    requester.close()
    responder.close()


SCENARIOS = {
    "properties": properties_scenario,
    "options": options_scenario,
    "session": session_scenario,
    "alias": alias_scenario,
    "shared": shared_scenario,
    "request_response": request_response_scenario,
}

SCENARIOS[SCENARIO]()
say("ok")
