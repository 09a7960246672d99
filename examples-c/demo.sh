#!/bin/sh
# The libmqtt demo (`make -C examples-c run`): starts build/broker on a free port, a subscriber,
# publishes messages at QoS 0, 1 and 2 (one retained, one empty), prints what the subscriber
# received, stops everything. Exits 0 when every message arrived. Every wait is bounded.
set -eu

build=${1:-"$(dirname "$0")/build"}
work=$(mktemp -d "${TMPDIR:-/tmp}/mqtt-demo.XXXXXX")
broker_pid=
subscriber_pid=

cleanup() {
    for pid in $subscriber_pid $broker_pid; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $subscriber_pid $broker_pid; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "demo: $*" >&2
    for log in "$work"/*.err; do
        [ -s "$log" ] && { echo "--- $(basename "$log")" >&2; cat "$log" >&2; }
    done
    exit 1
}

# Waits up to $2 tenths of a second for file $1 to have at least $3 lines.
wait_lines() {
    tries=0
    while [ "$(cat "$1" 2>/dev/null | wc -l)" -lt "$3" ]; do
        tries=$((tries + 1))
        [ "$tries" -le "$2" ] || return 1
        sleep 0.1
    done
}

for program in broker subscribe publish; do
    [ -x "$build/$program" ] || fail "$build/$program is missing; run make -C examples-c first"
done

"$build/broker" -p 0 > "$work/broker.out" 2> "$work/broker.err" &
broker_pid=$!
wait_lines "$work/broker.out" 50 1 || fail "the broker did not start within 5 s"
port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$work/broker.out")
[ -n "$port" ] || fail "cannot read the broker's port from: $(cat "$work/broker.out")"
echo "broker listening on 127.0.0.1:$port"

publish() {
    echo "publish $*"
    "$build/publish" -h 127.0.0.1 -p "$port" "$@" 2>> "$work/publish.err" || fail "publish $* failed"
}

# Published before the subscriber exists: retained, so the subscriber gets it on subscribing,
# which also tells us that its subscription is in place.
publish -t demo/status -m "online (retained)" -q 1 -r

"$build/subscribe" -h 127.0.0.1 -p "$port" -t 'demo/#' -q 2 -v -C 5 -W 10 \
    > "$work/subscriber.out" 2> "$work/subscriber.err" &
subscriber_pid=$!
wait_lines "$work/subscriber.out" 50 1 || fail "the subscriber did not get the retained message"

publish -t demo/greeting -m "Hello MQTT at QoS 0" -q 0
publish -t demo/greeting -m "Hello MQTT at QoS 1" -q 1
publish -t demo/greeting -m "Hello MQTT at QoS 2" -q 2
publish -t demo/empty -n -q 1

# The subscriber exits by itself after 5 messages (or fails after its own 10 s limit).
status=0
wait "$subscriber_pid" || status=$?
subscriber_pid=
echo "subscriber received (topic payload):"
sed 's/^/  /' "$work/subscriber.out"
[ "$status" -eq 0 ] || fail "the subscriber exited with status $status"
[ "$(wc -l < "$work/subscriber.out")" -eq 5 ] || fail "expected 5 messages"

kill "$broker_pid"
wait "$broker_pid" || fail "the broker did not stop cleanly"
broker_pid=
echo "demo: all 5 messages arrived; broker stopped"
