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
#   --pairs N           publisher/subscriber pairs of pairs500 (500), each with --pairs-window
#                       messages in flight (100)
#   --idle-max N        idle connections of idle19k (19000: a process may open at most 20,000
#                       files on the machine this was written for) over --idle-processes (4)
#   --scenarios "..."   subset of: qos0 qos1 qos2 fanin fanout pairs latency0 latency1 latency2 idle,
#                       pairs500 (--pairs publisher/subscriber pairs at QoS 1, 1,000 active
#                       connections: throughput, CPU per message, broker threads and peak memory;
#                       not in the default set), idle19k (--idle-max idle connections from
#                       --idle-processes load generators on source addresses 127.0.0.1, .2, ...:
#                       accept rate, memory per connection, threads; not in the default set),
#                       and any of them with the suffix _v5 (e.g. qos1_v5) to run it over MQTT 5.0
#                       (rumqttd then on its v5 listener), or _acl to run it with an ACL file of
#                       1,000 rules that the clients' topics must pass (ours and mosquitto only),
#                       or _vary to send every message to a topic of its own (the subscribers
#                       on loadgen/PID/GROUP/+: a broker's per-topic caches never hit; e.g.
#                       qos1_vary and qos1_vary_acl: the ACL check with a new topic per message),
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
#   --client-bench      also run the client-side comparison: our client vs libmosquitto and
#                       Paho C (MQTTClient and MQTTAsync; Debian libpaho-mqtt-dev), QoS 1
#                       publish rate, QoS 0 receive rate and publish->receive latency, over
#                       MQTT 3.1.1 and 5.0 (CLIENT_VERSIONS="4 5"; Paho in 3.1.1 only)
#   --publish           copy the chart to docs/benchmarks.png (docs/BENCHMARKS.md shows it)
#   --check             regression guard before merging a hot-path change (not for CI): a short
#                       subset (CHECK_SCENARIOS: qos0 qos1 qos2 fanout pairs latency0 latency1
#                       qos1_acl qos1_vary qos1_vary_acl), 1 round of 1 s, results in
#                       bench/results/check; exits 1 if a target is missed. Options after
#                       --check override its choices (e.g. --check --brokers "ours mosquitto").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
BENCH="$ROOT/bench"
TOOLS="$BENCH/.tools"
OUT="$BENCH/results"
ROUNDS=3
DURATION=2
CONNECTIONS=10000
PAIRS=500
PAIRS_WINDOW=100
IDLE_MAX=19000
IDLE_PROCESSES=4
CHECK=0
CHECK_SCENARIOS=${CHECK_SCENARIOS:-qos0 qos1 qos2 fanout pairs latency0 latency1 qos1_acl qos1_vary qos1_vary_acl}
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
        --pairs) PAIRS=$2; shift 2 ;;
        --pairs-window) PAIRS_WINDOW=$2; shift 2 ;;
        --idle-max) IDLE_MAX=$2; shift 2 ;;
        --idle-processes) IDLE_PROCESSES=$2; shift 2 ;;
        --check) CHECK=1 ROUNDS=1 DURATION=1 SCENARIOS=$CHECK_SCENARIOS OUT="$BENCH/results/check"; shift ;;
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
# free_port, wait_listening and mosquitto_bench_settings are in bench/common.sh.

write_configs() {
    local port=$1 version=${2:-v4}
    {
        echo "listener $port 127.0.0.1"
        mosquitto_bench_settings
    } >"$RUN_DIR/mosquitto.conf"
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
    # Errors only, as mosquitto's configuration above (a mosquitto.conf logs notices by default).
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\nacl_file %s\nlog_dest stderr\nlog_type error\n' \
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
                  $PIN0 "$OUR_BROKER" -p "$PORT" --max-connections "$MAX_CONNECTIONS" >"$RUN_DIR/broker.log" 2>&1 &
              fi ;;
        ours-durable|ours-interval)
            $PIN0 "$OUR_BROKER" -p "$PORT" --max-connections "$MAX_CONNECTIONS" "${persist[@]}" \
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

# broker_status_field PID FIELD: a field of /proc/PID/status (VmRSS in KiB, Threads; empty if
# gone).
broker_status_field() {
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || true
}

# established_to PORT: TCP connections established to PORT on this machine, the broker's side
# (a broker may hold more than one descriptor per connection, so its descriptors do not count
# them).
established_to() {
    ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l
}

# run_idle_split SCENARIO BROKER ROUND VERSION PROTOCOL: IDLE_MAX idle connections from
# IDLE_PROCESSES load generators, each from its own source address 127.0.0.N (its own ephemeral
# ports, and its own open-file limit), 100 handshakes in progress in all as in the idle scenario
# (more overflow a listen backlog such as mosquitto's, and the SYNs retried after 1 s then
# measure the kernel's timer). The generators start together; the accept rate is all
# the connections they established (CONNACK received) over the longest time one of them took.
# This script reads the broker's memory and threads once every connection is established and
# held; the generators' RESULT lines give how many each established and held.
run_idle_split() {
    local scenario=$1 broker=$2 round=$3 version=$4 protocol=$5 i each count=0 connect_s=0
    local rss_before rss_after avail_before avail_after threads established=0 held=0
    local status=ok pids=() hold=$((IDLE_MAX / 2000 + 10)) line running
    each=$(((IDLE_MAX + IDLE_PROCESSES - 1) / IDLE_PROCESSES))
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((each + 100)) ]; then
        log "$scenario: open-file limit $(ulimit -n) is below $each connections per generator; use more --idle-processes"
    fi
    if ! start_broker "$broker" "$version"; then
        echo "RESULT scenario=$scenario broker=$broker round=$round status=broker_failed" >>"$RESULTS"
        return
    fi
    rss_before=$(broker_status_field "$BROKER_PID" VmRSS)
    avail_before=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
    for i in $(seq "$IDLE_PROCESSES"); do
        $PIN1 "$LOADGEN" --scenario idle --port "$PORT" --broker "$broker" --protocol "$protocol" \
            --source "127.0.0.$i" --connections "$each" --hold "$hold" \
            --concurrency $(((100 + IDLE_PROCESSES - 1) / IDLE_PROCESSES)) \
            --timeout $((each / 100 + hold + 60)) >"$RUN_DIR/idle.$i.out" 2>&1 &
        pids+=($!)
    done
    # Every connection established, or the generators gave up.
    while :; do
        count=$(established_to "$PORT")
        [ "$count" -ge $((each * IDLE_PROCESSES)) ] && break
        running=0
        for i in "${pids[@]}"; do kill -0 "$i" 2>/dev/null && running=1; done
        [ "$running" = 1 ] || break
        sleep 0.2
    done
    sleep 1  # let the broker finish its per-connection setup before memory is read
    rss_after=$(broker_status_field "$BROKER_PID" VmRSS)
    threads=$(broker_status_field "$BROKER_PID" Threads)
    avail_after=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
    for i in "${pids[@]}"; do wait "$i" || status=incomplete; done
    for i in $(seq "$IDLE_PROCESSES"); do
        line=$(grep '^RESULT ' "$RUN_DIR/idle.$i.out" | tail -1 || true)
        [[ $line == *status=ok* ]] || status=incomplete
        established=$((established + $(sed -n 's/.* established=\([0-9]*\).*/\1/p' <<<"$line" | grep . || echo 0)))
        held=$((held + $(sed -n 's/.* held=\([0-9]*\).*/\1/p' <<<"$line" | grep . || echo 0)))
        connect_s=$(awk -v a="$connect_s" -v b="$(sed -n 's/.* connect_s=\([0-9.]*\).*/\1/p' <<<"$line")" \
            'BEGIN {print (b + 0 > a + 0) ? b : a}')
        grep -v '^RESULT ' "$RUN_DIR/idle.$i.out" | sed "s/^/    [$i] /" >&2 || true
    done
    stop_broker
    awk -v s="$scenario" -v b="$broker" -v r="$round" -v n="$((each * IDLE_PROCESSES))" \
        -v c="$count" -v e="$established" -v h="$held" -v t="$connect_s" -v p="$IDLE_PROCESSES" \
        -v r0="${rss_before:-}" -v r1="${rss_after:-}" -v a0="$avail_before" -v a1="$avail_after" \
        -v th="${threads:-na}" -v st="$status" 'BEGIN {
            rss = (r0 != "" && r1 != "" && c > 0) ? sprintf("%.2f", (r1 - r0) / c) : "na"
            sys = c > 0 ? sprintf("%.2f", (a0 - a1) / c) : "na"
            printf "RESULT scenario=%s broker=%s connections=%d processes=%d established=%d held=%d", s, b, n, p, e, h
            rate = (t > 0) ? sprintf("%.0f", e / t) : "na"
            printf " connect_s=%.3f connect_per_s=%s broker_rss_per_conn_kib=%s sys_mem_per_conn_kib=%s", t, rate, rss, sys
            printf " broker_threads=%s status=%s round=%s\n", th, (st == "ok" && c >= n) ? "ok" : "incomplete", r
        }' >>"$RESULTS"
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
    # The suffix _vary: every message to a topic of its own.
    if [[ $base == *_vary ]]; then
        base=${base%_vary}
        extra+=(--vary-topics)
    fi
    # A scenario with the suffix _v5 is the same load over MQTT 5.0.
    if [[ $base == *_v5 ]]; then
        base=${base%_v5} version=v5 protocol=5
    fi
    # fanin1 and fanin2: ten publishers -> one subscriber at QoS 1 and 2; pairs500: many pairs
    # at QoS 1 with a smaller window each; idle19k: its own driver.
    local load=$base
    case "$base" in
        fanin1|fanin2) load=fanin; extra+=(--qos "${base#fanin}") ;;
        pairs500) load=pairs; extra+=(--clients "$PAIRS" --qos 1 --window "$PAIRS_WINDOW") ;;
        idle19k) run_idle_split "$scenario" "$broker" "$round" "$version" "$protocol"; return ;;
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
# Our client library, libmosquitto and Paho C (its MQTTClient and MQTTAsync APIs), each through a
# small C program doing the same thing (bench/client/{mqtt,mosq,paho}_bench.c) against our broker:
# pipelined QoS 1 publish rate, QoS 0 receive rate (fed by the load generator's publish
# scenario) and publish->receive latency (one connection publishing QoS 0 to its own
# subscription, one message at a time), over MQTT 3.1.1 and MQTT 5.0 (CLIENT_VERSIONS, default
# "4 5"; the 5.0 scenarios are named *_v5; Paho runs in the 3.1.1 rounds only).
CLIENT_MESSAGES=${CLIENT_MESSAGES:-200000}
CLIENT_SAMPLES=${CLIENT_SAMPLES:-5000}
CLIENT_VERSIONS=${CLIENT_VERSIONS:-4 5}
CLIENT_LIBRARIES="libmqtt libmosquitto paho-sync paho-async"

# install_dev_package HEADER PACKAGE: installs the Debian package that provides HEADER.
install_dev_package() {
    [ -e "/usr/include/$1" ] && return 0
    [ "$INSTALL" = 1 ] || die "$2 is not installed"
    log "installing $2 (Debian package)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null ||
        { as_root apt-get update >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null; }
}

build_client_benches() {
    install_dev_package mosquitto.h libmosquitto-dev
    install_dev_package MQTTAsync.h libpaho-mqtt-dev
    local strict="-std=c99 -Wall -Wextra -Wpedantic -Werror -D_POSIX_C_SOURCE=200809L -O2"
    MOSQ_BENCH="$RUN_DIR/mosq_bench"
    MQTT_BENCH="$RUN_DIR/mqtt_bench"
    PAHO_SYNC_BENCH="$RUN_DIR/paho_sync_bench"
    PAHO_ASYNC_BENCH="$RUN_DIR/paho_async_bench"
    # shellcheck disable=SC2086
    ${CC:-cc} $strict -o "$MOSQ_BENCH" "$BENCH/client/mosq_bench.c" -lmosquitto -lpthread
    # Paho's two APIs are two libraries with symbols in common: one program each.
    # shellcheck disable=SC2086
    ${CC:-cc} $strict -o "$PAHO_SYNC_BENCH" "$BENCH/client/paho_bench.c" -lpaho-mqtt3c -lpthread
    # shellcheck disable=SC2086
    ${CC:-cc} $strict -DPAHO_ASYNC -o "$PAHO_ASYNC_BENCH" "$BENCH/client/paho_bench.c" -lpaho-mqtt3a -lpthread
    # libmqtt.so was built by `make -C examples-c` along with our broker.
    # shellcheck disable=SC2086
    ${CC:-cc} $strict -I"$ROOT/include" -o "$MQTT_BENCH" "$BENCH/client/mqtt_bench.c" \
        -L"$ROOT/target/release" -Wl,-rpath,"$ROOT/target/release" -lmqtt -lpthread
}

# client_program LIBRARY: the benchmark program of that library.
client_program() {
    case "$1" in
        libmqtt) echo "$MQTT_BENCH" ;;
        libmosquitto) echo "$MOSQ_BENCH" ;;
        paho-sync) echo "$PAHO_SYNC_BENCH" ;;
        paho-async) echo "$PAHO_ASYNC_BENCH" ;;
        *) die "unknown client library $1" ;;
    esac
}

# client_receive LIBRARY ROUND: starts the receiver on CPU 1, waits for READY, feeds it.
client_receive() {
    local library=$1 round=$2 topic="bench/client/feed" out="$RUN_DIR/receiver.out"
    : >"$out"
    $PIN1 "$(client_program "$library")" recv0 "$PORT" "$topic" "$CLIENT_MESSAGES" >"$out" 2>&1 &
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
    $PIN1 "$(client_program "$library")" pub1 "$PORT" "$CLIENT_MESSAGES" 1000 "$PAYLOAD" >"$out" 2>&1 || true
    (grep '^RESULT ' "$out" || echo "RESULT scenario=client_pub_qos1$SUFFIX broker=$library status=no_result") |
        tail -1 | sed "s/\$/ round=$round/" >>"$RESULTS"
    grep -v '^RESULT ' "$out" | sed 's/^/    /' >&2 || true
}

# client_latency LIBRARY ROUND: publish->receive round trips through our broker, one at a time.
client_latency() {
    local library=$1 round=$2 out="$RUN_DIR/latency.out"
    $PIN1 "$(client_program "$library")" lat "$PORT" "$CLIENT_SAMPLES" "$PAYLOAD" >"$out" 2>&1 || true
    (grep '^RESULT ' "$out" || echo "RESULT scenario=client_latency0$SUFFIX broker=$library status=no_result") |
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
            for library in $CLIENT_LIBRARIES; do
                # Paho runs over MQTT 3.1.1 only.
                [[ $version = 4 || $library != paho-* ]] || continue
                for what in publish receive latency; do
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
# Our broker's connection limit: enough for every scenario's count.
MAX_CONNECTIONS=$((CONNECTIONS + 100))
[[ " $SCENARIOS " != *" idle19k "* ]] || MAX_CONNECTIONS=$((IDLE_MAX > CONNECTIONS ? IDLE_MAX + 100 : MAX_CONNECTIONS))
[[ " $SCENARIOS " != *" pairs500"* ]] || MAX_CONNECTIONS=$((2 * PAIRS + 100 > MAX_CONNECTIONS ? 2 * PAIRS + 100 : MAX_CONNECTIONS))
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

if [ "$CHECK" = 1 ]; then
    # A missed target makes summarize.py, and so this script (set -e), exit 1.
    python3 "$BENCH/summarize.py" --check "$RESULTS" "$OUT/machine.txt" "$OUT"
    exit 0
fi
python3 "$BENCH/summarize.py" "$RESULTS" "$OUT/machine.txt" "$OUT"
if [ "$PUBLISH" = 1 ]; then
    if [ -f "$OUT/compare.png" ]; then
        cp "$OUT/compare.png" "$ROOT/docs/benchmarks.png"
        log "chart copied to docs/benchmarks.png; the table is in $OUT/summary.md"
    fi
fi
