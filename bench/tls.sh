#!/usr/bin/env bash
# TLS and WebSocket side by side: our broker (examples-c/build/broker --listen mqtts://... and
# --listen ws://...) and mosquitto (listener + certfile/keyfile, listener + protocol websockets),
# both driven by the same program, the load generator (examples/loadgen, --transport tls or ws):
# one epoll thread that batches its packets, many to a TLS record (16 KiB) or to a WebSocket
# message, so it spends a fraction of the CPU either broker does per message and the figures
# measure the brokers, not the client.
#
#   bench/tls.sh [--rounds N] [--connections N] [--duration S] [--window N]
#
# Per round and broker: idle TLS connections (loadgen's idle scenario: connections per second
# with 100 handshakes in progress, broker RSS per connection), then over TLS and over WebSocket
# QoS 0 1->1, QoS 1 1->1 and QoS 0 fan-out 1->100. Broker on CPU 0, load on CPU 1; a fresh broker
# for every measurement. The certificate is a self-signed ECDSA P-256 one made with openssl.
# Needs `make -C examples-c` and `cargo build --release --example loadgen`. Appends the RESULT
# lines (loadgen's, with the round) to bench/results/tls.txt.
set -euo pipefail

# Brokers and load at nice -5 as root (as compare.sh), so other work on the machine disturbs them less.
if [ "$(id -u)" = 0 ]; then NICE=-5; else NICE=0; fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
ROUNDS=3
CONNECTIONS=2000
DURATION=2
WINDOW=1000
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        *) echo "tls.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
OURS=$ROOT/examples-c/build/broker
LOAD=$ROOT/target/release/examples/loadgen
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
OUT=$ROOT/bench/results
mkdir -p "$OUT"
DIR=$(mktemp -d)
chmod a+rx "$DIR"
BPID=""
cleanup() {
    [ -z "$BPID" ] || kill "$BPID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
chmod a+r "$DIR/key.pem" "$DIR/cert.pem"

# start BROKER tls|ws: sets BPID and PORT.
start() {
    local broker=$1 kind=$2 port
    port=$(free_port)
    PORT=$port
    case "$broker/$kind" in
        ours/tls)
            nice -n "$NICE" taskset -c 0 "$OURS" --listen "mqtts://127.0.0.1:$port" --certfile "$DIR/cert.pem" \
                --keyfile "$DIR/key.pem" --max-connections $((CONNECTIONS + 100)) >"$DIR/broker.log" 2>&1 & ;;
        ours/ws)
            nice -n "$NICE" taskset -c 0 "$OURS" --listen "ws://127.0.0.1:$port/mqtt" \
                --max-connections $((CONNECTIONS + 100)) >"$DIR/broker.log" 2>&1 & ;;
        mosquitto/*)
            {
                if [ "$kind" = tls ]; then
                    echo "listener $port 127.0.0.1"
                    echo "certfile $DIR/cert.pem"
                    echo "keyfile $DIR/key.pem"
                else
                    # mosquitto 2.0.x will not start with only a websockets listener (its issue
                    # 2284), and its libwebsockets listener binds every address whatever the
                    # listener line names (issue 3045): an unused plain listener first.
                    echo "listener $(free_port) 127.0.0.1"
                    echo "listener $port"
                    echo "protocol websockets"
                fi
                mosquitto_bench_settings
            } >"$DIR/mosquitto.conf"
            nice -n "$NICE" taskset -c 0 "$MOSQUITTO" -c "$DIR/mosquitto.conf" >"$DIR/broker.log" 2>&1 & ;;
    esac
    BPID=$!
    wait_listening "$port" || { cat "$DIR/broker.log" >&2; return 1; }
}
stop() {
    kill "$BPID" 2>/dev/null || true
    wait "$BPID" 2>/dev/null || true
    BPID=""
}
record() {
    local broker=$1 round=$2 line
    line=$(grep '^RESULT ' "$DIR/load.out" | tail -1 || true)
    [ -n "$line" ] || line="RESULT broker=$broker status=no_result"
    echo "$line round=$round" | tee -a "$OUT/tls.txt"
    grep -v '^RESULT ' "$DIR/load.out" | sed 's/^/    /' >&2 || true
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') commit $(git -C "$ROOT" rev-parse --short HEAD)" \
    "bench/tls.sh --rounds $ROUNDS --connections $CONNECTIONS --duration $DURATION --window $WINDOW" >>"$OUT/tls.txt"
for round in $(seq "$ROUNDS"); do
    for broker in ours mosquitto; do
        start "$broker" tls
        nice -n "$NICE" taskset -c 1 "$LOAD" --scenario idle --transport tls --port "$PORT" \
            --connections "$CONNECTIONS" --hold 1 --timeout $((CONNECTIONS / 100 + 60)) \
            --broker "$broker" --broker-pid "$BPID" >"$DIR/load.out" 2>&1 || true
        record "$broker" "$round"
        stop
        for kind in tls ws; do
            for scenario in qos0 qos1 fanout; do
                start "$broker" "$kind"
                nice -n "$NICE" taskset -c 1 "$LOAD" --scenario "$scenario" --transport "$kind" \
                    --ws-path /mqtt --port "$PORT" --duration "$DURATION" --window "$WINDOW" \
                    --timeout $((DURATION * 3 + 30)) --broker "$broker" --broker-pid "$BPID" \
                    >"$DIR/load.out" 2>&1 || true
                record "$broker" "$round"
                stop
            done
        done
    done
done
