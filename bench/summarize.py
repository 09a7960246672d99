#!/usr/bin/env python3
"""Summarises the RESULT lines of bench/compare.sh: medians per scenario and broker, our ratio to
each peer, whether each target of the benchmark issue is met, a markdown table and a PNG chart;
the persistent-subscriber scenarios (*_persist) get a table of their own comparing our broker in
memory, durable and interval against mosquitto with persistence.

usage: summarize.py [--check] RUNS_FILE MACHINE_FILE OUT_DIR

With --check (bench/compare.sh --check), also lists every target missed and every run that did
not complete, and exits 1 if there is any.
"""

import statistics
import sys
from pathlib import Path

OURS = "ours"
BROKER_ORDER = ["ours", "mosquitto", "rumqttd", "ours-durable", "ours-interval", "mosquitto-persist"]
THROUGHPUT = ["qos0", "qos1", "qos2", "fanin", "fanout", "pairs"]
# Fan-in (10 publishers -> 1 subscriber) at QoS 1 and 2; not in the chart.
FANIN_QOS = ["fanin1", "fanin2"]
# The subscriber with a persistent session (compare.sh runs NAME_persist), for the brokers with
# persistence: ours in memory, durable and interval, mosquitto with `persistence true`.
PERSIST = ["qos1_persist", "qos2_persist", "fanin1_persist", "fanin2_persist"]
PERSIST_BROKERS = ["ours", "ours-durable", "ours-interval", "mosquitto-persist", "mosquitto"]
LATENCY = ["latency0", "latency1", "latency2"]
IDLE = ["idle", "idle19k"]
# Many active connections: 500 publisher/subscriber pairs at QoS 1 (compare.sh pairs500).
PAIRS = ["pairs500"]
CLIENT = [
    "client_pub_qos1",
    "client_recv_qos0",
    "client_latency0",
    "client_pub_qos1_v5",
    "client_recv_qos0_v5",
    "client_latency0_v5",
]
# The client libraries of compare.sh --client-bench: ours first, then the peers.
CLIENT_LIBRARIES = ["libmqtt", "libmosquitto", "paho-sync", "paho-async"]
# The same loads over MQTT 5.0 (compare.sh runs NAME_v5 for any scenario NAME).
V5 = [s + "_v5" for s in THROUGHPUT + LATENCY]
# The same loads with 1,000 ACL rules loaded (compare.sh runs NAME_acl).
ACL = [s + "_acl" for s in THROUGHPUT]
# Every message to a topic of its own (compare.sh runs NAME_vary), without and with the ACL file:
# the ACL check when no per-topic memo helps.
VARY = [s + "_vary" for s in THROUGHPUT]
VARY_ACL = [s + "_vary_acl" for s in THROUGHPUT]

# metric -> (label, unit, higher_is_better)
METRICS = {
    "msgs_per_s": ("deliveries/s", "", True),
    "sustained_msgs_per_s": ("deliveries/s until the broker is idle", "", True),
    "broker_busy_after_s": ("broker busy after the traffic", "s", False),
    "broker_peak_rss_mib": ("broker peak RSS", "MiB", False),
    "broker_cpu_us_per_msg": ("broker CPU per delivery", "µs", False),
    "lost": ("lost (sum over rounds)", "", False),
    "p50_us": ("publish→delivery p50", "µs", False),
    "p99_us": ("publish→delivery p99", "µs", False),
    "p999_us": ("publish→delivery p99.9", "µs", False),
    "ack_p50_us": ("publish→ack p50", "µs", False),
    "ack_p99_us": ("publish→ack p99", "µs", False),
    "connect_per_s": ("accept rate", "conn/s", True),
    "sys_mem_per_conn_kib": ("system memory per connection", "KiB", False),
    "broker_rss_per_conn_kib": ("broker RSS per connection", "KiB", False),
    "kernel_stack_per_conn_kib": ("kernel stacks per connection", "KiB", False),
    "held": ("connections held (min)", "", True),
    "broker_threads": ("broker threads", "", False),
}

SCENARIO_METRICS = {
    **{s: ["msgs_per_s", "broker_cpu_us_per_msg", "lost"] for s in THROUGHPUT + FANIN_QOS},
    **{s: ["msgs_per_s", "broker_cpu_us_per_msg", "broker_threads", "broker_peak_rss_mib", "lost"] for s in PAIRS},
    **{
        s: [
            "msgs_per_s",
            "sustained_msgs_per_s",
            "broker_busy_after_s",
            "broker_cpu_us_per_msg",
            "broker_peak_rss_mib",
            "lost",
        ]
        for s in PERSIST
    },
    "latency0": ["p50_us", "p99_us", "p999_us"],
    "latency1": ["p50_us", "p99_us", "p999_us", "ack_p50_us", "ack_p99_us"],
    "latency2": ["p50_us", "p99_us", "p999_us", "ack_p50_us", "ack_p99_us"],
    "idle": [
        "connect_per_s",
        "sys_mem_per_conn_kib",
        "broker_rss_per_conn_kib",
        "kernel_stack_per_conn_kib",
        "held",
    ],
    "idle19k": ["connect_per_s", "sys_mem_per_conn_kib", "broker_rss_per_conn_kib", "broker_threads", "held"],
    **{s: ["p50_us", "p99_us"] if "latency" in s else ["msgs_per_s"] for s in CLIENT},
}
SCENARIO_METRICS.update({s: SCENARIO_METRICS[s[: -len("_v5")]] for s in V5})
SCENARIO_METRICS.update({s: SCENARIO_METRICS[s[: -len("_vary")]] for s in VARY})
SCENARIO_METRICS.update({s: SCENARIO_METRICS[s[: -len("_acl")]] for s in ACL + VARY_ACL})


def parse(path):
    runs = []
    for line in Path(path).read_text().splitlines():
        if not line.startswith("RESULT "):
            continue
        fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
        peak = number(fields.get("broker_peak_rss_kib"))
        if peak is not None:
            fields["broker_peak_rss_mib"] = peak / 1024
        runs.append(fields)
    return runs


def number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def aggregate(runs):
    """(scenario, broker) -> {metric: value, 'runs': n, 'ok': n}"""
    table = {}
    for run in runs:
        key = (run.get("scenario"), run.get("broker"))
        entry = table.setdefault(key, {"runs": 0, "ok": 0, "values": {}})
        entry["runs"] += 1
        entry["ok"] += run.get("status") == "ok"
        connections = number(run.get("connections"))
        if connections is not None:
            entry["connections"] = connections
        for metric in METRICS:
            v = number(run.get(metric))
            if v is not None:
                entry["values"].setdefault(metric, []).append(v)
    for entry in table.values():
        for metric, values in entry["values"].items():
            if metric == "lost":
                entry[metric] = sum(values)
            elif metric == "held":
                entry[metric] = min(values)
            else:
                entry[metric] = statistics.median(values)
    return table


def fmt(v, metric):
    if v is None:
        return "–"
    if metric in ("msgs_per_s", "sustained_msgs_per_s", "connect_per_s"):
        return f"{v / 1000:.1f}k" if v >= 10000 else f"{v:.0f}"
    if metric in ("lost", "held"):
        return f"{v:.0f}"
    if metric == "broker_busy_after_s":
        return f"{v:.2f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def target(scenario, metric, table, connections, ours_name=OURS):
    """Text of the issue's target for this row, and whether it is met (None when not judged)."""
    ours = table.get((scenario, ours_name), {}).get(metric)
    mosq = table.get((scenario, "mosquitto"), {}).get(metric)
    rum = table.get((scenario, "rumqttd"), {}).get(metric)

    def cmp(ok_when, peer, text):
        if ours is None or peer is None:
            return text, None
        return text, ok_when(ours, peer)

    if scenario in V5:
        # MQTT 5.0 must not make the broker slower: within 10% of our 3.1.1 throughput and
        # ≤ 1.1× its CPU per message; latency as for 3.1.1.
        base = table.get((scenario[: -len("_v5")], ours_name), {}).get(metric)
        if metric == "msgs_per_s":
            return cmp(lambda a, b: a >= 0.9 * b, base, "≥ 0.9 × ours 3.1.1")
        if metric == "broker_cpu_us_per_msg":
            return cmp(lambda a, b: a <= 1.1 * b, base, "≤ 1.1 × ours 3.1.1")
        if metric == "lost":
            return ("0", None) if ours is None else ("0", ours == 0)
        if metric in ("p50_us", "p99_us"):
            return cmp(lambda a, b: a <= b, mosq, "≤ mosquitto")
        return "", None
    if scenario in ACL or scenario in VARY_ACL:
        # Issue 18: with 1,000 ACL rules loaded, throughput within 5% of no ACL.
        base = table.get((scenario[: -len("_acl")], ours_name), {}).get(metric)
        if metric == "msgs_per_s":
            return cmp(lambda a, b: a >= 0.95 * b, base, "≥ 0.95 × ours without ACL")
        if metric == "lost":
            return ("0", None) if ours is None else ("0", ours == 0)
        return "", None
    if scenario in CLIENT:
        # Issue 17: our client at least as fast as every peer library, latency no higher.
        peers = [
            (name, table.get((scenario, name), {}).get(metric))
            for name in CLIENT_LIBRARIES
            if name != ours_name and (scenario, name) in table
        ]
        peers = [(name, v) for name, v in peers if v is not None]
        better = (lambda a, b: a >= b) if metric == "msgs_per_s" else (lambda a, b: a <= b)
        text = ("≥ " if metric == "msgs_per_s" else "≤ ") + ", ".join(name for name, _ in peers)
        if ours is None or not peers:
            return text, None
        return text, all(better(ours, v) for _, v in peers)
    if scenario in THROUGHPUT or scenario in FANIN_QOS or scenario in PAIRS:
        if metric == "msgs_per_s":
            return cmp(lambda a, b: a >= b, rum, "≥ rumqttd")
        if metric == "broker_cpu_us_per_msg":
            return cmp(lambda a, b: a <= b, rum, "≤ rumqttd")
        if metric == "lost":
            return ("0", None) if ours is None else ("0", ours == 0)
    if scenario in LATENCY and metric in ("p50_us", "p99_us"):
        return cmp(lambda a, b: a <= b, mosq, "≤ mosquitto")
    if scenario == "idle19k":
        wanted = table.get((scenario, ours_name), {}).get("connections")
        if metric == "held" and ours is not None and wanted:
            return f"= {wanted:.0f}", ours >= wanted
        return "", None
    if scenario == "idle":
        if ours is None:
            return "", None
        if metric == "connect_per_s":
            return "≥ 10000/s", ours >= 10000
        if metric == "sys_mem_per_conn_kib":
            return "≤ 16 KiB", ours <= 16
        if metric == "held":
            return f"= {connections}", connections is not None and ours >= connections
    return "", None


def markdown(table, brokers, connections, ours_name=OURS):
    peers = [b for b in brokers if b != ours_name]
    head = ["scenario", "metric"] + brokers + [f"{ours_name}/{p}" for p in peers if ours_name in brokers] + [
        "target",
        "met",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario in THROUGHPUT + FANIN_QOS + PAIRS + LATENCY + IDLE + V5 + ACL + VARY + VARY_ACL + CLIENT:
        if not any((scenario, b) in table for b in brokers):
            continue
        for metric in SCENARIO_METRICS[scenario]:
            label, unit, _ = METRICS[metric]
            values = [table.get((scenario, b), {}).get(metric) for b in brokers]
            if all(v is None for v in values):
                continue
            row = [scenario, f"{label}" + (f" ({unit})" if unit else "")]
            row += [fmt(v, metric) for v in values]
            if ours_name in brokers:
                ours = table.get((scenario, ours_name), {}).get(metric)
                for p in peers:
                    peer = table.get((scenario, p), {}).get(metric)
                    ratio = "–" if ours is None or not peer or metric in ("lost", "held") else f"{ours / peer:.2f}"
                    row.append(ratio)
            text, met = target(scenario, metric, table, connections, ours_name)
            row += [text, "" if met is None else ("yes" if met else "**no**")]
            lines.append("| " + " | ".join(row) + " |")
    incomplete = [
        f"{s}/{b}: {e['ok']} of {e['runs']} runs complete"
        for (s, b), e in sorted(table.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))
        if e["ok"] < e["runs"] and b in brokers
    ]
    if incomplete:
        lines += ["", "Runs that lost messages, failed or timed out: " + "; ".join(incomplete) + "."]
    return "\n".join(lines) + "\n"


def misses(table, brokers, connections, ours_name=OURS, scenarios=None):
    """["scenario metric: ours V, target T"] for every row whose target is judged and missed,
    and every run of these brokers that did not complete."""
    out = []
    for scenario in scenarios or (THROUGHPUT + FANIN_QOS + PAIRS + LATENCY + IDLE + V5 + ACL + VARY + VARY_ACL):
        if (scenario, ours_name) not in table:
            continue
        for metric in SCENARIO_METRICS.get(scenario, []):
            text, met = target(scenario, metric, table, connections, ours_name)
            if met is False:
                ours = table[(scenario, ours_name)].get(metric)
                out.append(f"{scenario} {METRICS[metric][0]}: {ours_name} {fmt(ours, metric)}, target {text}")
    for (scenario, broker), entry in sorted(table.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        if broker in brokers and entry["ok"] < entry["runs"]:
            out.append(f"{scenario}/{broker}: {entry['ok']} of {entry['runs']} runs complete")
    return out


def spread(entry, metric):
    """'median (min–max)' of a metric over the rounds."""
    values = entry.get("values", {}).get(metric)
    if not values:
        return "–"
    if len(values) == 1 or metric == "lost":
        return fmt(entry.get(metric), metric)
    lo, hi = min(values), max(values)
    return f"{fmt(entry.get(metric), metric)} ({fmt(lo, metric)}–{fmt(hi, metric)})"


def persistence_targets(scenario, table, metric):
    """The persistence issue's targets on a row of deliveries/s: ["text: ratio verdict"].

    Durable against mosquitto-persist and against memory is judged on deliveries/s as the clients
    see them (durable leaves no backlog, and a peer's own backlog does not count against it).
    Interval is judged on deliveries/s until the broker is idle: its store commits in the
    background, and what it has not committed yet is not persisted.
    """

    def get(broker):
        return table.get((scenario, broker), {}).get(metric)

    memory, durable, interval, mosq = get("ours"), get("ours-durable"), get("ours-interval"), get("mosquitto-persist")
    out = []

    def judge(text, a, b, factor, verdict=True, why=""):
        if a is None or not b:
            return
        ratio = a / b
        shown = ("yes" if ratio >= factor else "**no**") if verdict else f"({why})"
        out.append(f"{text}: {ratio:.2f} {shown}")

    # The durable targets are stated for QoS 1; QoS 2 ratios are shown without a verdict.
    qos1 = scenario.startswith(("qos1", "fanin1"))
    if metric == "msgs_per_s":
        judge("durable ≥ 10 × mosquitto-persist", durable, mosq, 10, qos1, "no target at QoS 2")
        judge("durable ≥ 0.3 × memory", durable, memory, 0.3, qos1, "no target at QoS 2")
        judge("interval ≥ 0.8 × memory", interval, memory, 0.8, False, "burst; judged on the next row")
    else:
        judge("interval ≥ 0.8 × memory", interval, memory, 0.8)
    return out


def persistence_markdown(table):
    brokers = [b for b in PERSIST_BROKERS if any((s, b) in table for s in PERSIST)]
    head = ["scenario", "metric"] + [{"ours": "ours (memory)"}.get(b, b) for b in brokers] + ["target: ratio, met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario in PERSIST:
        if not any((scenario, b) in table for b in brokers):
            continue
        for metric in SCENARIO_METRICS[scenario]:
            label, unit, _ = METRICS[metric]
            row = [scenario, label + (f" ({unit})" if unit else "")]
            row += [spread(table.get((scenario, b), {}), metric) for b in brokers]
            rates = ("msgs_per_s", "sustained_msgs_per_s")
            targets = persistence_targets(scenario, table, metric) if metric in rates else []
            if metric == "lost":
                losses = [table.get((scenario, b), {}).get("lost") for b in brokers]
                known = [v for v in losses if v is not None]
                if known:
                    targets = ["0: " + ("yes" if all(v == 0 for v in known) else "**no**")]
            row.append("; ".join(targets))
            lines.append("| " + " | ".join(row) + " |")
    incomplete = [
        f"{s}/{b}: {e['ok']} of {e['runs']} runs complete"
        for (s, b), e in sorted(table.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))
        if e["ok"] < e["runs"] and s in PERSIST
    ]
    if incomplete:
        lines += ["", "Runs that lost messages, failed or timed out: " + "; ".join(incomplete) + "."]
    lines += ["", "Medians over the rounds, (min–max) of the rounds in brackets."]
    return "\n".join(lines) + "\n"


def chart(table, brokers, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("summarize: matplotlib not available, no chart", file=sys.stderr)
        return False
    panels = [
        ("Throughput (deliveries/s, log)", THROUGHPUT, "msgs_per_s", True),
        ("Broker CPU per delivery (µs)", THROUGHPUT, "broker_cpu_us_per_msg", False),
        ("Latency p50 publish→delivery (µs)", LATENCY, "p50_us", False),
        ("Latency p99 publish→delivery (µs)", LATENCY, "p99_us", False),
        ("Idle: system memory per connection (KiB)", IDLE, "sys_mem_per_conn_kib", False),
        ("Idle: accept rate (connections/s, log)", IDLE, "connect_per_s", True),
    ]
    colors = {
        "ours": "#2b7bba",
        "mosquitto": "#7f7f7f",
        "rumqttd": "#e07b39",
        "libmqtt": "#2b7bba",
        "libmosquitto": "#7f7f7f",
        "paho-sync": "#6a9f58",
        "paho-async": "#a3c98f",
    }
    if any(k[0] in PERSIST for k in table):
        panels.append(("Persistent subscriber (deliveries/s, log)", PERSIST, "msgs_per_s", True))
    colors.update({"ours-durable": "#1b4f72", "ours-interval": "#85c1e9", "mosquitto-persist": "#3f3f3f"})
    client_libraries = [b for b in CLIENT_LIBRARIES if any(k[1] == b for k in table)]
    client_rates = [s for s in CLIENT if "latency" not in s]
    if client_libraries:
        panels.append(("Client library against our broker (msgs/s)", client_rates, "msgs_per_s", False))
    columns = (len(panels) + 1) // 2
    fig, axes = plt.subplots(2, columns, figsize=(5.4 * columns, 8.5), squeeze=False)
    for ax, (title, scenarios, metric, log) in zip(axes.flat, panels):
        series = client_libraries if scenarios is client_rates else brokers
        width = 0.8 / max(len(series), 1)
        plotted = False
        for i, broker in enumerate(series):
            xs, ys = [], []
            for j, s in enumerate(scenarios):
                v = table.get((s, broker), {}).get(metric)
                if v is not None and (v > 0 or not log):
                    xs.append(j + (i - (len(series) - 1) / 2) * width)
                    ys.append(v)
            if xs:
                plotted = True
                ax.bar(xs, ys, width, label=broker, color=colors.get(broker))
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(scenarios, fontsize=8)
        ax.set_title(title, fontsize=10)
        if log and plotted:
            ax.set_yscale("log")
        if scenarios is client_rates and plotted:
            ax.legend()
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if axes.flat[0].get_legend_handles_labels()[0]:
        axes.flat[0].legend()
    fig.suptitle("MQTT brokers side by side (medians; broker on CPU 0, load on CPU 1)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def main():
    args = sys.argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    if len(args) != 3:
        sys.exit(__doc__)
    runs_file, machine_file, out_dir = args
    runs = parse(runs_file)
    table = aggregate(runs)
    present = {b for _, b in table}
    brokers = [b for b in BROKER_ORDER if b in present] + sorted(
        b for b in present if b not in BROKER_ORDER and b not in CLIENT_LIBRARIES
    )
    connections = next((number(r.get("connections")) for r in runs if r.get("scenario") == "idle"), None)
    md = markdown(table, brokers, connections)
    if md.count("\n") <= 2:
        md = ""  # no scenario of the main table was run
    if any(k[0] in PERSIST for k in table):
        md += "\nPersistent subscriber (clean session 0):\n\n" + persistence_markdown(table)
    client_rows = [s for s in CLIENT if any(k[0] == s for k in table)]
    if client_rows:
        libraries = [b for b in CLIENT_LIBRARIES if b in present]
        md += "\nClient side (against our broker):\n\n" + markdown(table, libraries, None, ours_name="libmqtt")
    machine = Path(machine_file).read_text() if Path(machine_file).exists() else ""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = "```\n" + machine + "```\n\n" + md
    (out / "summary.md").write_text(summary)
    drew = chart(table, brokers, out / "compare.png")
    print(summary)
    print(f"written: {out / 'summary.md'}" + (f", {out / 'compare.png'}" if drew else ""))
    if check:
        missed = misses(table, brokers, connections)
        if client_rows:
            missed += misses(table, libraries, None, ours_name="libmqtt", scenarios=CLIENT)
        if missed:
            print("\ncheck: FAILED, targets missed:\n  " + "\n  ".join(missed))
            sys.exit(1)
        print("\ncheck: every target judged was met")


if __name__ == "__main__":
    main()
