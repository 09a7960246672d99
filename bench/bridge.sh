#!/usr/bin/env bash
# Bridge throughput: QoS 1 1->1 with the publisher on our broker, which forwards `loadgen/#` over a
# bridge (`connection up`, `topic loadgen/# out 1`) to a mosquitto where the subscriber is, beside
# the same load straight through that mosquitto (publisher and subscriber both on it).
#
#   bench/bridge.sh [--rounds N] [--duration S] [--window N] [--qos 0|1|2]
#
# Both brokers of a bridged run share CPU 0 (the system under test gets one CPU, as a lone broker
# does in compare.sh); the load generator has CPU 1. Needs examples-c/build/broker and the
# loadgen example built (`make -C examples-c`, `cargo build --release --example loadgen`).
# Prints one RESULT line per run (bridged: the broker-pid figures are our broker's) and appends
# them to bench/results/bridge.txt.
set -euo pipefail

# Brokers and load at nice -5 as root (as compare.sh), so other work on the machine disturbs them less.
if [ "$(id -u)" = 0 ]; then NICE=-5; else NICE=0; fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
ROUNDS=3
DURATION=2
WINDOW=3000
QOS=1
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        --qos) QOS=$2; shift 2 ;;
        *) echo "bridge.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
OURS=$ROOT/examples-c/build/broker
LOADGEN=$ROOT/target/release/examples/loadgen
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
OUT=$ROOT/bench/results
mkdir -p "$OUT"
DIR=$(mktemp -d)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

start_mosquitto() {
    MPORT=$(free_port)
    {
        echo "listener $MPORT 127.0.0.1"
        mosquitto_bench_settings
    } >"$DIR/mosquitto.conf"
    nice -n "$NICE" taskset -c 0 "$MOSQUITTO" -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 &
    MPID=$!
    PIDS+=("$MPID")
    wait_listening "$MPORT"
}
start_ours_bridged() {
    OPORT=$(free_port)
    cat >"$DIR/ours.conf" <<EOF
listener $OPORT 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_inflight_messages 0

connection up
address 127.0.0.1:$MPORT
topic loadgen/# out 1
EOF
    nice -n "$NICE" taskset -c 0 "$OURS" -c "$DIR/ours.conf" >"$DIR/ours.log" 2>&1 &
    OPID=$!
    PIDS+=("$OPID")
    wait_listening "$OPORT"
    # The bridge's own connection to mosquitto must be up before the publisher starts.
    for _ in $(seq 100); do
        if ss -Htn state established "dport = :$MPORT" | grep -q .; then break; fi
        sleep 0.05
    done
    sleep 0.2
}
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
run() {
    local label=$1 round=$2
    shift 2
    nice -n "$NICE" taskset -c 1 "$LOADGEN" --scenario "qos$QOS" --duration "$DURATION" --window "$WINDOW" \
        --timeout $((DURATION * 3 + 30)) --broker "$label" "$@" >"$DIR/load.out" 2>&1 || true
    local line
    line=$(grep '^RESULT ' "$DIR/load.out" | tail -1 || true)
    [ -n "$line" ] || line="RESULT scenario=qos$QOS broker=$label status=no_result"
    echo "$line round=$round" | tee -a "$OUT/bridge.txt"
    grep -v '^RESULT ' "$DIR/load.out" | sed 's/^/    /' >&2 || true
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') commit $(git -C "$ROOT" rev-parse --short HEAD)" \
    "bench/bridge.sh --rounds $ROUNDS --duration $DURATION --window $WINDOW --qos $QOS" >>"$OUT/bridge.txt"
for round in $(seq "$ROUNDS"); do
    start_mosquitto
    run mosquitto-direct "$round" --port "$MPORT" --broker-pid "$MPID"
    stop_all
    start_mosquitto
    start_ours_bridged
    run ours-bridge-mosquitto "$round" --port "$OPORT" --subscriber-port "$MPORT" --broker-pid "$OPID"
    if ! kill -0 "$OPID" 2>/dev/null; then echo "our broker exited during the run" >&2; fi
    stop_all
done
