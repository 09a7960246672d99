# Shared by bench/compare.sh, bench/bridge.sh and bench/tls.sh (sourced, not run): finding a
# free port, waiting for a broker to listen, and the settings mosquitto is measured with.

# A port of 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_listening PORT [PID]: until something listens on PORT (10 s at most); fails at once when
# PID is given and that process has exited.
wait_listening() {
    local port=$1 pid=${2:-}
    for _ in $(seq 200); do
        if [ -n "$pid" ]; then kill -0 "$pid" 2>/dev/null || return 1; fi
        if command -v ss >/dev/null; then
            if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then return 0; fi
        elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# The lines every benchmark's mosquitto.conf has after its listeners: the load generators bound
# the messages in flight themselves, so no queue or in-flight limit may drop or hold them, and
# only errors are logged.
mosquitto_bench_settings() {
    printf '%s\n' "allow_anonymous true" "persistence false" "max_connections -1" \
        "max_queued_messages 0" "max_inflight_messages 0" "set_tcp_nodelay true" \
        "log_dest stderr" "log_type error"
}
