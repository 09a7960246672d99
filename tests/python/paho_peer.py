#!/usr/bin/env python3
"""An MQTT peer built on paho-mqtt 2.x, driven by the Rust interop tests (tests/interop/paho.rs).

Usage: paho_peer.py HOST PORT {publish,subscribe} [options]

Every event is one line on stdout, flushed at once, so the test can follow along:
  connected session_present=<0|1>
  subscribed granted=<q>[,<q>...]
  published <n>                        (QoS 1/2: after PUBACK / PUBCOMP)
  message <qos> <retain> <dup> <topic> <payload-hex>
  lost                                 (the broker closed the connection)
  timeout                              (--timeout passed before --count messages)
  done                                 (disconnected cleanly)
The exit status is 0 after "done", 3 after "timeout", 4 after "lost", 2 on a refused or failed
connection.
"""

import argparse
import sys
import time

import paho.mqtt.client as mqtt


def say(*words):
    print(*words, flush=True)


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("command", choices=["publish", "subscribe"])
    parser.add_argument("--client-id", default="")
    parser.add_argument("--protocol", choices=["311", "31"], default="311")
    parser.add_argument("--persistent", action="store_true", help="clean session 0")
    parser.add_argument("--keepalive", type=int, default=30, help="seconds")
    parser.add_argument("--will-topic")
    parser.add_argument("--will-payload", default="", help="hex")
    parser.add_argument("--will-qos", type=int, default=0)
    parser.add_argument("--will-retain", action="store_true")
    parser.add_argument("--topic", help="publish: topic name")
    parser.add_argument("--message", action="append", default=[], help="publish: hex payload")
    parser.add_argument("--qos", type=int, default=0)
    parser.add_argument("--retain", action="store_true")
    parser.add_argument("--filter", action="append", default=[], help="subscribe: topic filter")
    parser.add_argument("--count", type=int, default=0, help="subscribe: exit after N messages")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds for the whole run")
    parser.add_argument(
        "--stay", action="store_true", help="subscribe: run until killed or the deadline"
    )
    parser.add_argument(
        "--no-ack", action="store_true", help="never acknowledge received QoS 1/2 messages"
    )
    return parser.parse_args()


class Peer:
    def __init__(self, args):
        self.args = args
        self.deadline = time.monotonic() + args.timeout
        protocol = mqtt.MQTTv31 if args.protocol == "31" else mqtt.MQTTv311
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=args.client_id,
            clean_session=not args.persistent,
            protocol=protocol,
            manual_ack=args.no_ack,
        )
        if args.will_topic:
            self.client.will_set(
                args.will_topic,
                bytes.fromhex(args.will_payload),
                qos=args.will_qos,
                retain=args.will_retain,
            )
        self.connected = None
        self.granted = None
        self.received = 0
        self.client.on_connect = self.on_connect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_message = self.on_message

    def on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            say(f"refused {reason_code}")
            self.connected = False
            return
        say(f"connected session_present={int(flags.session_present)}")
        self.connected = True

    def on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.granted = [str(rc.value) for rc in reason_codes]
        say("subscribed granted=" + ",".join(self.granted))

    def on_message(self, client, userdata, message):
        self.received += 1
        say(
            "message",
            message.qos,
            int(message.retain),
            int(message.dup),
            message.topic,
            message.payload.hex() or "-",
        )

    def pump_until(self, done):
        """Runs the network loop until done() holds. False on deadline or a lost connection."""
        while not done():
            if time.monotonic() > self.deadline:
                say("timeout")
                return False
            rc = self.client.loop(timeout=0.05)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                say("lost")
                sys.exit(4)
        return True

    def connect(self):
        try:
            self.client.connect(self.args.host, self.args.port, keepalive=self.args.keepalive)
        except OSError as error:
            say(f"failed {error}")
            sys.exit(2)
        if not self.pump_until(lambda: self.connected is not None) or not self.connected:
            sys.exit(2)

    def finish(self, status=0):
        self.client.disconnect()
        # Write out the DISCONNECT before the socket goes away.
        self.client.loop(timeout=0.05)
        if status == 0:
            say("done")
        sys.exit(status)

    def publish(self):
        self.connect()
        for n, payload in enumerate(self.args.message):
            info = self.client.publish(
                self.args.topic,
                bytes.fromhex(payload),
                qos=self.args.qos,
                retain=self.args.retain,
            )
            if not self.pump_until(info.is_published):
                sys.exit(3)
            say(f"published {n}")
        self.finish()

    def subscribe(self):
        self.connect()
        self.client.subscribe([(f, self.args.qos) for f in self.args.filter])
        if not self.pump_until(lambda: self.granted is not None):
            sys.exit(3)
        if self.args.stay:
            self.pump_until(lambda: False)
            sys.exit(3)
        if not self.pump_until(lambda: self.received >= self.args.count):
            self.finish(status=3)
        self.finish()


def main():
    args = parse_args()
    peer = Peer(args)
    if args.command == "publish":
        peer.publish()
    else:
        peer.subscribe()


if __name__ == "__main__":
    main()
