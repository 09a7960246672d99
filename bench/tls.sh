#!/usr/bin/env bash
# TLS and WebSocket side by side: our broker (examples-c/build/broker --listen mqtts://... and
# --listen ws://...) and mosquitto (listener + certfile/keyfile, listener + protocol websockets),
# both driven by the same program, bench/tlsload.rs (the crate's own client), so the client's
# cost is the same for both.
#
#   bench/tls.sh [--rounds N] [--connections N] [--duration S] [--window N]
#
# Per round and broker: idle TLS connections (handshakes/s, broker RSS per connection), TLS QoS 0
# and QoS 1 1->1, WebSocket QoS 0 and QoS 1 1->1. Broker on CPU 0, load on CPU 1; a fresh broker
# for every measurement. The certificate is a self-signed ECDSA P-256 one made with openssl.
# Needs `make -C examples-c` and `cargo build --release --example tlsload`. Appends the RESULT
# lines to bench/results/tls.txt.
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
LOAD=$ROOT/target/release/examples/tlsload
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

# start BROKER tls|ws: sets BPID and URL.
start() {
    local broker=$1 kind=$2 port
    port=$(free_port)
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
    if [ "$kind" = tls ]; then URL="mqtts://127.0.0.1:$port"; else URL="ws://127.0.0.1:$port/mqtt"; fi
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
    [ -n "$line" ] || line="RESULT status=no_result"
    echo "$line broker=$broker round=$round" | tee -a "$OUT/tls.txt"
    grep -v '^RESULT ' "$DIR/load.out" | sed 's/^/    /' >&2 || true
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') commit $(git -C "$ROOT" rev-parse --short HEAD)" \
    "bench/tls.sh --rounds $ROUNDS --connections $CONNECTIONS --duration $DURATION --window $WINDOW" >>"$OUT/tls.txt"
for round in $(seq "$ROUNDS"); do
    for broker in ours mosquitto; do
        start "$broker" tls
        nice -n "$NICE" taskset -c 1 "$LOAD" idle --url "$URL" --connections "$CONNECTIONS" --threads 2 --hold 1 \
            --broker-pid "$BPID" >"$DIR/load.out" 2>&1 || true
        record "$broker" "$round"
        stop
        for kind in tls ws; do
            for qos in 0 1; do
                start "$broker" "$kind"
                timeout 60 nice -n "$NICE" taskset -c 1 "$LOAD" throughput --url "$URL" --qos "$qos" \
                    --duration "$DURATION" --window "$WINDOW" --broker-pid "$BPID" >"$DIR/load.out" 2>&1 || true
                record "$broker" "$round"
                stop
            done
        done
    done
done
