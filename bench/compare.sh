#!/usr/bin/env bash
# Side-by-side benchmark of our broker (examples-c/build/broker), mosquitto and rumqttd, and of
# their persistence (retained messages and persistent sessions kept on disk).
#
# One command from a fresh clone:   bench/compare.sh
# Installs what is missing (Debian mosquitto, rumqttd into bench/.tools, matplotlib via pip),
# builds our broker and the load generator, then for every scenario runs the brokers in turn
# (A B C A B C ...) for --rounds rounds. Each run starts a fresh broker pinned to CPU 0 with the
# load generator pinned to CPU 1, on a free port of 127.0.0.1. Prints medians and our ratio to each
# peer; writes bench/results/{runs.txt,summary.md,compare.png}.
#
# Options:
#   --rounds N          rounds per scenario (3)
#   --duration S        publishing seconds per throughput/latency run (2)
#   --connections N     idle connections in the idle scenario (10000)
#   --scenarios "..."   subset of: qos0 qos1 qos2 fanin fanout pairs latency0 latency1 latency2 idle,
#                       and any of them with the suffix _v5 (e.g. qos1_v5) to run it over MQTT 5.0
#                       (rumqttd then on its v5 listener), or _acl to run it with an ACL file of
#                       1,000 rules that the clients' topics must pass (ours and mosquitto only),
#                       or _persist to give the subscriber a persistent session (clean session 0)
#                       that a broker with persistence keeps on disk; fanin1 and fanin2 are fanin
#                       at QoS 1 and 2. Persistence: --scenarios "qos1_persist qos2_persist
#                       fanin1_persist fanin2_persist" --brokers "ours ours-durable ours-interval
#                       mosquitto-persist"
#   --brokers "..."     subset of: ours mosquitto rumqttd, and with persistence ours-durable
#                       (--persistence FILE --persistence-sync durable: a QoS 1/2 message is
#                       acknowledged once committed), ours-interval (--persistence-sync
#                       --persist-interval) and mosquitto-persist (persistence true, its own
#                       autosave); each run starts from an empty persistence file
#   --persist-interval MS  commit interval of ours-interval (1000)
#   --persist-dir DIR   where the persistence files go (default: the run's temporary directory,
#                       under TMPDIR); must be on the disk to measure, not a tmpfs
#   --window N          messages in flight per topic (3000)
#   --payload B         payload bytes (16)
#   --out DIR           results directory (bench/results)
#   --nice N            niceness of brokers and load (default -5 as root, else 0): on a machine
#                       shared with other work this keeps the scheduler from interleaving it
#   --no-install        fail instead of installing missing tools
#   --client-bench      also run the client-side comparison: our client vs libmosquitto,
#                       over MQTT 3.1.1 and 5.0 (CLIENT_VERSIONS="4 5")
#   --publish           copy the chart to docs/benchmarks.png (docs/BENCHMARKS.md shows it)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
TOOLS="$BENCH/.tools"
OUT="$BENCH/results"
ROUNDS=3
DURATION=2
CONNECTIONS=10000
WINDOW=3000
PAYLOAD=16
SCENARIOS="qos0 qos1 qos2 fanin fanout pairs latency0 latency1 latency2 idle"
BROKERS="ours mosquitto rumqttd"
INSTALL=1
CLIENT_BENCH=0
PUBLISH=0
NICE=""
PERSIST_INTERVAL=1000
PERSIST_DIR=""

while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --scenarios) SCENARIOS=$2; shift 2 ;;
        --brokers) BROKERS=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        --payload) PAYLOAD=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --nice) NICE=$2; shift 2 ;;
        --persist-interval) PERSIST_INTERVAL=$2; shift 2 ;;
        --persist-dir) PERSIST_DIR=$2; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        --client-bench) CLIENT_BENCH=1; shift ;;
        --publish) PUBLISH=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[compare] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mqtt-compare.XXXXXX")
BROKER_PID=""
LOAD_PID=""
PERSIST_USED=""

cleanup() {
    local status=$?
    if [ -n "$LOAD_PID" ]; then kill "$LOAD_PID" 2>/dev/null || true; fi
    stop_broker
    if [ -n "$PERSIST_USED" ]; then rm -rf "$PERSIST_USED"; fi
    rm -rf "$RUN_DIR"
    exit $status
}

stop_broker() {
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$BROKER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
        BROKER_PID=""
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $*"; fi
}

# ---------------------------------------------------------------- tools
install_tools() {
    if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
        [ "$INSTALL" = 1 ] || die "mosquitto is not installed"
        log "installing mosquitto (Debian package)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto >/dev/null ||
            { as_root apt-get update >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto >/dev/null; }
    fi
    # The Debian package enables a system service on port 1883; it is not needed and not touched.
    MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

    RUMQTTD=$(command -v rumqttd || true)
    if [ -z "$RUMQTTD" ] && [[ " $BROKERS " != *" rumqttd "* ]]; then
        RUMQTTD="$TOOLS/bin/rumqttd"  # not needed for this run; its version is reported if there
    elif [ -z "$RUMQTTD" ]; then
        RUMQTTD="$TOOLS/bin/rumqttd"
        if [ ! -x "$RUMQTTD" ]; then
            [ "$INSTALL" = 1 ] || die "rumqttd is not installed"
            log "installing rumqttd with cargo into $TOOLS (takes a few minutes)"
            cargo install rumqttd --root "$TOOLS" >"$RUN_DIR/rumqttd-install.log" 2>&1 ||
                { tail -20 "$RUN_DIR/rumqttd-install.log" >&2; die "cargo install rumqttd failed"; }
        fi
    fi
    RUMQTTD_VERSION=$({ "$RUMQTTD" --version 2>/dev/null || true; } | awk '{print $NF}')
    MOSQUITTO_VERSION=$({ "$MOSQUITTO" -h 2>/dev/null || true; } | awk '/version/ {print $3; exit}')

    log "building the load generator"
    (cd "$ROOT" && cargo build --release --example loadgen 2>"$RUN_DIR/loadgen-build.log") ||
        { tail -20 "$RUN_DIR/loadgen-build.log" >&2; die "building the load generator failed"; }
    LOADGEN="$ROOT/target/release/examples/loadgen"

    OUR_BROKER="$ROOT/examples-c/build/broker"
    if [[ " $BROKERS " == *" ours"* ]] || [ "$CLIENT_BENCH" = 1 ]; then
        log "building our broker (make -C examples-c)"
        if ! make -C "$ROOT/examples-c" >"$RUN_DIR/make.log" 2>&1 || [ ! -x "$OUR_BROKER" ]; then
            tail -20 "$RUN_DIR/make.log" >&2
            die "examples-c/build/broker did not build; run with --brokers \"mosquitto rumqttd\" to compare the peers alone"
        fi
    fi

    if ! python3 -c 'import matplotlib' 2>/dev/null; then
        if [ "$INSTALL" = 1 ]; then
            log "installing matplotlib with pip (for the chart)"
            python3 -m pip install --quiet --user matplotlib >/dev/null 2>&1 ||
                python3 -m pip install --quiet --user --break-system-packages matplotlib >/dev/null 2>&1 ||
                log "matplotlib unavailable: the chart will be skipped"
        fi
    fi
}

# ---------------------------------------------------------------- brokers
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_listening() {
    local port=$1 pid=$2
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || return 1
        if command -v ss >/dev/null; then
            if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then return 0; fi
        elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

write_configs() {
    local port=$1 version=${2:-v4}
    cat >"$RUN_DIR/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
# The load generator bounds messages in flight itself; no queue limit may drop them.
max_queued_messages 0
max_inflight_messages 0
set_tcp_nodelay true
log_dest stderr
log_type error
EOF
    cat >"$RUN_DIR/rumqttd.toml" <<EOF
id = 0

[router]
id = 0
max_connections = 20010
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[$version.1]
name = "$version-1"
listen = "127.0.0.1:$port"
next_connection_delay_ms = 0
    [$version.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 1048576
    max_inflight_count = 100
    dynamic_filters = true
EOF
}

# write_acl_configs PORT: adds an ACL file to both configurations. Anonymous clients are held to
# the rules before the first `user` line: 999 that never match the load generator's topics
# (loadgen/PID/GROUP), half plain and half %c patterns, then the one that lets them through, so
# every check walks past all of them in a broker that tries rules in order.
write_acl_configs() {
    local n
    {
        for n in $(seq 0 499); do echo "topic readwrite elsewhere/$n/#"; done
        for n in $(seq 0 498); do echo "pattern readwrite devices/%c/$n/+"; done
        echo "topic readwrite loadgen/#"
        echo "user someone"
        echo "topic readwrite #"
    } >"$RUN_DIR/acl"
    # mosquitto started as root reads its files as the user it drops to.
    chmod a+rx "$RUN_DIR" && chmod a+r "$RUN_DIR/acl"
    echo "acl_file $RUN_DIR/acl" >>"$RUN_DIR/mosquitto.conf"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\nacl_file %s\n' \
        "$1" "$RUN_DIR/acl" >"$RUN_DIR/ours.conf"
}

# write_persist_configs: a fresh, empty place for the persistence files of the next run. Our
# broker gets a file, mosquitto a directory it can write as the user it drops to (`persistence
# true` with its default autosave: it writes its database every 30 minutes and on shutdown).
write_persist_configs() {
    local dir=${PERSIST_DIR:-$RUN_DIR}/mqtt-persist
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod a+rx "$RUN_DIR" && chmod 777 "$dir"
    OURS_PERSIST_FILE="$dir/ours.db"
    PERSIST_USED=$dir
    sed -i 's/^persistence false$/persistence true/' "$RUN_DIR/mosquitto.conf"
    echo "persistence_location $dir/" >>"$RUN_DIR/mosquitto.conf"
}

# start_broker NAME [v4|v5] [acl]: starts it pinned to CPU 0 on a fresh port; sets BROKER_PID and
# PORT.
start_broker() {
    local name=$1 version=${2:-v4} acl=${3:-} persist=()
    PORT=$(free_port)
    write_configs "$PORT" "$version"
    [ -z "$acl" ] || write_acl_configs "$PORT"
    case "$name" in
        ours-durable|ours-interval|mosquitto-persist)
            [ -z "$acl" ] || die "$name: the _acl scenarios are not run with persistence"
            write_persist_configs ;;
    esac
    case "$name" in
        ours-durable) persist=(--persistence "$OURS_PERSIST_FILE" --persistence-sync durable) ;;
        ours-interval) persist=(--persistence "$OURS_PERSIST_FILE" --persistence-sync "$PERSIST_INTERVAL") ;;
    esac
    case "$name" in
        ours) if [ -n "$acl" ]; then
                  $PIN0 "$OUR_BROKER" -c "$RUN_DIR/ours.conf" >"$RUN_DIR/broker.log" 2>&1 &
              else
                  $PIN0 "$OUR_BROKER" -p "$PORT" --max-connections $((CONNECTIONS + 100)) >"$RUN_DIR/broker.log" 2>&1 &
              fi ;;
        ours-durable|ours-interval)
            $PIN0 "$OUR_BROKER" -p "$PORT" --max-connections $((CONNECTIONS + 100)) "${persist[@]}" \
                >"$RUN_DIR/broker.log" 2>&1 & ;;
        mosquitto|mosquitto-persist) $PIN0 "$MOSQUITTO" -c "$RUN_DIR/mosquitto.conf" >"$RUN_DIR/broker.log" 2>&1 & ;;
        rumqttd) $PIN0 "$RUMQTTD" -q -c "$RUN_DIR/rumqttd.toml" >"$RUN_DIR/broker.log" 2>&1 & ;;
        *) die "unknown broker $name" ;;
    esac
    BROKER_PID=$!
    if ! wait_listening "$PORT" "$BROKER_PID"; then
        tail -5 "$RUN_DIR/broker.log" >&2
        stop_broker
        return 1
    fi
}

loadgen_args() {
    local scenario=$1
    case "$scenario" in
        idle) echo "--connections $CONNECTIONS --hold 3 --timeout $((CONNECTIONS / 100 + 60))" ;;
        latency*) echo "--duration $DURATION --timeout $((DURATION * 3 + 30))" ;;
        *) echo "--duration $DURATION --window $WINDOW --timeout $((DURATION * 3 + 30))" ;;
    esac
}

run_one() {
    local scenario=$1 broker=$2 round=$3 line base=$1 version=v4 protocol=4 acl="" extra=()
    # The suffix _acl is the same load through 1,000 ACL rules (rumqttd reads no ACL file).
    if [[ $scenario == *_acl ]]; then
        [ "$broker" != rumqttd ] || return 0
        base=${scenario%_acl} acl=1
    fi
    # The suffix _persist gives the subscribers persistent sessions (clean session 0), and the
    # run lasts until the broker's CPU falls idle: a store still committing a backlog after the
    # traffic counts in the broker's CPU per message and in sustained_msgs_per_s.
    if [[ $base == *_persist ]]; then
        base=${base%_persist}
        extra+=(--persistent --until-broker-idle --timeout $((DURATION * 10 + 60)))
    fi
    # A scenario with the suffix _v5 is the same load over MQTT 5.0.
    if [[ $base == *_v5 ]]; then
        base=${base%_v5} version=v5 protocol=5
    fi
    # fanin1 and fanin2: ten publishers -> one subscriber at QoS 1 and 2.
    local load=$base
    case "$base" in
        fanin1|fanin2) load=fanin; extra+=(--qos "${base#fanin}") ;;
    esac
    if ! start_broker "$broker" "$version" "$acl"; then
        echo "RESULT scenario=$scenario broker=$broker round=$round status=broker_failed" >>"$RESULTS"
        log "$scenario/$broker: broker did not start"
        return
    fi
    # shellcheck disable=SC2046
    $PIN1 "$LOADGEN" --scenario "$load" --port "$PORT" --broker "$broker" --protocol "$protocol" \
        --broker-pid "$BROKER_PID" --payload "$PAYLOAD" $(loadgen_args "$load") "${extra[@]}" \
        >"$RUN_DIR/load.out" 2>&1 &
    LOAD_PID=$!
    wait "$LOAD_PID" || true
    LOAD_PID=""
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
        log "$scenario/$broker: the broker exited during the run"
    fi
    stop_broker
    if [ -n "$PERSIST_USED" ]; then
        log "$scenario/$broker: $(du -sb "$PERSIST_USED" | cut -f1) bytes of persistence files after the stop"
        rm -rf "$PERSIST_USED"
        PERSIST_USED=""
    fi
    line=$(grep '^RESULT ' "$RUN_DIR/load.out" | tail -1 | sed "s/scenario=$load /scenario=$scenario /" || true)
    [ -n "$line" ] || line="RESULT scenario=$scenario broker=$broker status=no_result"
    echo "$line round=$round" >>"$RESULTS"
    grep -v '^RESULT ' "$RUN_DIR/load.out" | sed 's/^/    /' >&2 || true
}

# ---------------------------------------------------------------- client side
# Our client library and libmosquitto, each through a small C program doing the same thing
# (bench/client/{mqtt,mosq}_bench.c) against our broker: pipelined QoS 1 publish rate and QoS 0
# receive rate (fed by the load generator's publish scenario), over MQTT 3.1.1 and MQTT 5.0
# (CLIENT_VERSIONS, default "4 5"; the 5.0 scenarios are named *_v5).
CLIENT_MESSAGES=${CLIENT_MESSAGES:-200000}
CLIENT_VERSIONS=${CLIENT_VERSIONS:-4 5}

build_client_benches() {
    if [ ! -e /usr/include/mosquitto.h ]; then
        [ "$INSTALL" = 1 ] || die "libmosquitto-dev is not installed"
        log "installing libmosquitto-dev (Debian package)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y libmosquitto-dev >/dev/null
    fi
    local strict="-std=c99 -Wall -Wextra -Wpedantic -Werror -D_POSIX_C_SOURCE=200809L -O2"
    MOSQ_BENCH="$RUN_DIR/mosq_bench"
    MQTT_BENCH="$RUN_DIR/mqtt_bench"
    # shellcheck disable=SC2086
    ${CC:-cc} $strict -o "$MOSQ_BENCH" "$BENCH/client/mosq_bench.c" -lmosquitto -lpthread
    # libmqtt.so was built by `make -C examples-c` along with our broker.
    # shellcheck disable=SC2086
    ${CC:-cc} $strict -I"$ROOT/include" -o "$MQTT_BENCH" "$BENCH/client/mqtt_bench.c" \
        -L"$ROOT/target/release" -Wl,-rpath,"$ROOT/target/release" -lmqtt -lpthread
}

# client_receive LIBRARY ROUND: starts the receiver on CPU 1, waits for READY, feeds it.
client_receive() {
    local library=$1 round=$2 topic="bench/client/feed" out="$RUN_DIR/receiver.out"
    : >"$out"
    case "$library" in
        libmqtt) $PIN1 "$MQTT_BENCH" recv0 "$PORT" "$topic" "$CLIENT_MESSAGES" >"$out" 2>&1 & ;;
        libmosquitto) $PIN1 "$MOSQ_BENCH" recv0 "$PORT" "$topic" "$CLIENT_MESSAGES" >"$out" 2>&1 & ;;
    esac
    LOAD_PID=$!
    for _ in $(seq 100); do
        grep -q READY "$out" && break
        sleep 0.05
    done
    # The feeder shares CPU 0 with the broker so the receiving client has CPU 1 to itself.
    $PIN0 "$LOADGEN" --scenario publish --port "$PORT" --topic "$topic" \
        --messages "$CLIENT_MESSAGES" --window 1000 --duration 60 --timeout 90 >/dev/null 2>&1 || true
    wait "$LOAD_PID" || true
    LOAD_PID=""
    (grep '^RESULT ' "$out" || echo "RESULT scenario=client_recv_qos0$SUFFIX broker=$library status=no_result") |
        tail -1 | sed "s/\$/ round=$round/" >>"$RESULTS"
    grep -v '^RESULT \|^READY' "$out" | sed 's/^/    /' >&2 || true
}

client_publish() {
    local library=$1 round=$2 out="$RUN_DIR/publisher.out"
    case "$library" in
        libmqtt) $PIN1 "$MQTT_BENCH" pub1 "$PORT" "$CLIENT_MESSAGES" 1000 "$PAYLOAD" >"$out" 2>&1 || true ;;
        libmosquitto) $PIN1 "$MOSQ_BENCH" pub1 "$PORT" "$CLIENT_MESSAGES" 1000 "$PAYLOAD" >"$out" 2>&1 || true ;;
    esac
    (grep '^RESULT ' "$out" || echo "RESULT scenario=client_pub_qos1$SUFFIX broker=$library status=no_result") |
        tail -1 | sed "s/\$/ round=$round/" >>"$RESULTS"
    grep -v '^RESULT ' "$out" | sed 's/^/    /' >&2 || true
}

client_bench() {
    build_client_benches
    for version in $CLIENT_VERSIONS; do
        export BENCH_MQTT_VERSION=$version
        SUFFIX=""
        [ "$version" = 5 ] && SUFFIX=_v5
        for round in $(seq "$ROUNDS"); do
            for library in libmqtt libmosquitto; do
                for what in publish receive; do
                    log "client $what (MQTT level $version) round $round/$ROUNDS: $library"
                    start_broker ours || { log "our broker did not start"; continue; }
                    "client_$what" "$library" "$round"
                    stop_broker
                done
            done
        done
    done
    unset BENCH_MQTT_VERSION
}

machine_info() {
    {
        echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
        echo "kernel: $(uname -sr)"
        echo "cpu: $(lscpu 2>/dev/null | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')"
        echo "nproc: $(nproc)"
        echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
        echo "mosquitto: $MOSQUITTO_VERSION"
        echo "rumqttd: $RUMQTTD_VERSION"
        echo "rounds: $ROUNDS, duration: ${DURATION}s, window: $WINDOW, payload: ${PAYLOAD}B, idle connections: $CONNECTIONS, nice: $NICE"
        if [[ " $BROKERS " == *-persist* || " $BROKERS " == *ours-durable* || " $BROKERS " == *ours-interval* ]]; then
            local dir=${PERSIST_DIR:-$RUN_DIR}
            echo "persistence: files in $dir ($(df --output=fstype "$dir" | tail -1) on $(df --output=source "$dir" | tail -1)), ours-interval every ${PERSIST_INTERVAL} ms"
        fi
        echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$OUT/machine.txt"
}

# ---------------------------------------------------------------- main
if [ -z "$NICE" ]; then
    if [ "$(id -u)" -eq 0 ]; then NICE=-5; else NICE=0; fi
fi
[ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 CPUs; broker and load share a core"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((CONNECTIONS + 100)) ]; then
    log "warning: open-file limit $(ulimit -n) is below $CONNECTIONS idle connections"
fi
PIN0="nice -n $NICE taskset -c 0"
if [ -n "$PERSIST_DIR" ]; then
    mkdir -p "$PERSIST_DIR"
    PERSIST_DIR=$(cd "$PERSIST_DIR" && pwd)
fi
if [ "$(stat -f -c %T "${PERSIST_DIR:-$RUN_DIR}")" = tmpfs ]; then
    log "warning: the persistence files would be on a tmpfs, where fsync costs nothing; use --persist-dir"
fi
PIN1="nice -n $NICE taskset -c 1"
install_tools
mkdir -p "$OUT"
RESULTS="$OUT/runs.txt"
: >"$RESULTS"
machine_info

for scenario in $SCENARIOS; do
    for round in $(seq "$ROUNDS"); do
        for broker in $BROKERS; do
            log "$scenario round $round/$ROUNDS: $broker"
            run_one "$scenario" "$broker" "$round"
        done
    done
done

if [ "$CLIENT_BENCH" = 1 ]; then
    client_bench
fi

python3 "$BENCH/summarize.py" "$RESULTS" "$OUT/machine.txt" "$OUT"
if [ "$PUBLISH" = 1 ]; then
    if [ -f "$OUT/compare.png" ]; then
        cp "$OUT/compare.png" "$ROOT/docs/benchmarks.png"
        log "chart copied to docs/benchmarks.png; the table is in $OUT/summary.md"
    fi
fi
