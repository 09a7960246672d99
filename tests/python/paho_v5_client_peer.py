#!/usr/bin/env python3
"""An MQTT 5.0 peer built on paho-mqtt 2.x, the other party of this crate's MQTT 5.0 client in
tests/interop/client_v5.rs (both connected to a mosquitto broker).

Usage: paho_v5_client_peer.py HOST PORT {publish,subscribe,respond} [options]

Every event is one line on stdout, flushed at once:
  connected
  subscribed <reason code>[,<reason code>...]
  published <n>                 (after PUBACK, for QoS 1)
  message<TAB>key=value<TAB>... (subscribe: one line per message, fields below)
  answered <n>                  (respond: after the response's PUBACK)
  done
Fields of a message line: topic, payload (hex), qos, retain, user (name=value pairs joined by
";", in order), content_type, payload_format, response_topic, correlation (hex), expiry,
subscription_ids (joined by ","); a property that is absent is printed as "-".
Every wait is bounded by --timeout; a failure raises, which exits non-zero with a traceback.
"""

import argparse
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions


def say(*words):
    print(*words, flush=True)


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("command", choices=["publish", "subscribe", "respond"])
    parser.add_argument("--client-id", default="")
    parser.add_argument("--topic", help="publish: topic name")
    parser.add_argument("--payload", default="", help="publish: payload text")
    parser.add_argument("--qos", type=int, default=1)
    parser.add_argument("--user", action="append", default=[], help="publish: NAME=VALUE")
    parser.add_argument("--content-type")
    parser.add_argument("--response-topic")
    parser.add_argument("--correlation", help="publish: correlation data, hex")
    parser.add_argument("--expiry", type=int)
    parser.add_argument("--utf8", action="store_true", help="publish: payload format 1")
    parser.add_argument(
        "--alias", type=int, help="publish: set this topic alias, then send the alias alone"
    )
    parser.add_argument("--repeat", type=int, default=1, help="publish: how many messages")
    parser.add_argument("--filter", help="subscribe, respond: topic filter")
    parser.add_argument("--count", type=int, default=1, help="subscribe, respond: then exit")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds for each wait")
    return parser.parse_args()


class Peer:
    """A paho client in MQTT 5 mode on its own network loop."""

    def __init__(self, args):
        self.args = args
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=mqtt.MQTTv5
        )
        self.lock = threading.Condition()
        self.connack = None
        self.granted = None
        self.messages = []
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(args.host, args.port, keepalive=30, clean_start=True)
        self.client.loop_start()
        self.wait(lambda: self.connack is not None, "CONNACK")
        assert not self.connack.is_failure, f"connection refused: {self.connack}"
        say("connected")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self.lock:
            self.connack = reason_code
            self.lock.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self.lock:
            self.granted = [rc.value for rc in reason_codes]
            self.lock.notify_all()

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append(message)
            self.lock.notify_all()

    def wait(self, condition, what):
        deadline = time.monotonic() + self.args.timeout
        with self.lock:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {self.args.timeout} s")
                self.lock.wait(left)

    def subscribe(self):
        self.client.subscribe(self.args.filter, options=SubscribeOptions(qos=self.args.qos))
        self.wait(lambda: self.granted is not None, "SUBACK")
        say("subscribed", ",".join(str(code) for code in self.granted))

    def take(self):
        self.wait(lambda: self.messages, "message")
        with self.lock:
            return self.messages.pop(0)

    def publish(self, topic, payload, properties):
        info = self.client.publish(topic, payload, qos=self.args.qos, properties=properties)
        info.wait_for_publish(self.args.timeout)
        assert info.is_published(), "not acknowledged"

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()
        say("done")


def optional(properties, name, show=str):
    return show(getattr(properties, name)) if hasattr(properties, name) else "-"


def describe(message):
    p = message.properties
    fields = [
        ("topic", message.topic),
        ("payload", message.payload.hex()),
        ("qos", str(message.qos)),
        ("retain", str(int(message.retain))),
        ("user", optional(p, "UserProperty", lambda u: ";".join(f"{k}={v}" for k, v in u))),
        ("content_type", optional(p, "ContentType")),
        ("payload_format", optional(p, "PayloadFormatIndicator")),
        ("response_topic", optional(p, "ResponseTopic")),
        ("correlation", optional(p, "CorrelationData", bytes.hex)),
        ("expiry", optional(p, "MessageExpiryInterval")),
        (
            "subscription_ids",
            optional(p, "SubscriptionIdentifier", lambda ids: ",".join(map(str, ids))),
        ),
    ]
    return "\t".join(["message"] + [f"{k}={v}" for k, v in fields])


def publish_properties(args):
    props = Properties(PacketTypes.PUBLISH)
    if args.user:
        props.UserProperty = [tuple(pair.split("=", 1)) for pair in args.user]
    if args.content_type is not None:
        props.ContentType = args.content_type
    if args.response_topic is not None:
        props.ResponseTopic = args.response_topic
    if args.correlation is not None:
        props.CorrelationData = bytes.fromhex(args.correlation)
    if args.expiry is not None:
        props.MessageExpiryInterval = args.expiry
    if args.utf8:
        props.PayloadFormatIndicator = 1
    return props


def publish(args):
    peer = Peer(args)
    for n in range(args.repeat):
        props = publish_properties(args)
        topic = args.topic
        if args.alias is not None:
            props.TopicAlias = args.alias
            # The first PUBLISH sets the alias, the following ones name the topic by it alone.
            if n > 0:
                topic = ""
        peer.publish(topic, args.payload.encode(), props)
        say("published", n)
    peer.close()


def subscribe(args):
    peer = Peer(args)
    peer.subscribe()
    for _ in range(args.count):
        say(describe(peer.take()))
    peer.close()


def respond(args):
    """Answers each request on its Response Topic with its Correlation Data (MQTT 5.0 section
    4.10), the payload prefixed by "re:" and a User Property saying who answered."""
    peer = Peer(args)
    peer.subscribe()
    for n in range(args.count):
        request = peer.take()
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = request.properties.CorrelationData
        props.UserProperty = [("responder", "paho")]
        peer.publish(request.properties.ResponseTopic, b"re:" + request.payload, props)
        say("answered", n)
    peer.close()


def main():
    args = parse_args()
    {"publish": publish, "subscribe": subscribe, "respond": respond}[args.command](args)


if __name__ == "__main__":
    main()
