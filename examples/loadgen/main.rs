//! MQTT load generator: drives any MQTT 3.1.1 broker at host:port with raw, pre-encoded packets
//! from a single epoll thread, and reports throughput, losses, latency percentiles, connection
//! costs and (given the broker's pid) the broker's CPU time per delivered message.
//!
//! Run `loadgen --help` for the scenarios and options. Every run ends within `--timeout` seconds:
//! a watchdog prints a failed RESULT line and exits if the engine has not finished by then.

mod client_bench;
mod engine;
mod proc_stats;
mod report;
mod sys;
mod wire;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mqtt::protocol::{ProtocolLevel, QoS};

use engine::{Engine, Role, TrafficConfig};
use report::{ResultLine, micros_per, per_second, percentile_us};
use wire::Transport;

const USAGE: &str = "\
usage: loadgen --port PORT [options] [--scenario NAME]

scenarios:
  qos0 | qos1 | qos2   one publisher -> one subscriber, throughput at that QoS
  fanin                --clients publishers (10) -> one subscriber
  fanout               one publisher -> --clients subscribers (100)
  pairs                --clients (10) independent publisher/subscriber pairs
  latency0 | latency1 | latency2
                       one message in flight; percentiles of publish-to-delivery and
                       publish-to-acknowledgement (PUBACK / PUBCOMP)
  publish              one publisher, no subscriber, --messages to --topic (feeds an outside
                       subscriber, e.g. a client library under test)
  client_pub_qos1      the crate's client: --messages QoS 1 publishes, --window in flight
  client_recv_qos0     the crate's client: receive --messages QoS 0 messages on --topic
                       (prints READY once subscribed; feed it with the publish scenario)
  idle                 --connections idle clients: connect rate, broker RSS and system
                       memory (MemAvailable) per connection, connections still held after --hold

options:
  --host HOST            broker host (127.0.0.1)
  --port PORT            broker port (required)
  --transport tcp|tls|ws carry MQTT over plain TCP (the default), TLS (certificates not
                         checked) or WebSocket (subprotocol mqtt); packets are batched the same
                         way: a batch is one write(), TLS records of 16 KiB, one WebSocket
                         message (not for the client_ scenarios)
  --ws-path PATH         the path WebSocket connections request (/mqtt)
  --source ADDRESS       connect from this local address (e.g. 127.0.0.2; several generators
                         on different 127.0.0.x addresses each get their own ephemeral ports)
  --subscriber-port PORT subscribers connect to this port of --host instead (publishers to
                         --port): measures a bridge from the broker at --port to this one
  --qos N                QoS for fanin/fanout/pairs (0)
  --payload BYTES        payload size (16)
  --window N             messages in flight per topic (3000)
  --duration SECONDS     publishing time (5)
  --messages N           stop publishing after N messages per topic
  --topic TOPIC          topic of the publish scenario (loadgen/feed)
  --clients N            publishers (fanin), subscribers (fanout) or pairs
  --connections N        idle connections (10000)
  --concurrency N        connection handshakes in progress at once (100)
  --hold SECONDS         how long idle connections are held (3)
  --keep-alive SECONDS   keep alive announced in CONNECT, PINGREQ sent every half (60)
  --protocol 4|5         MQTT 3.1.1 (4, the default) or 5.0 (5) on every connection
  --spin                 latency scenarios: busy-poll instead of sleeping in epoll_wait
  --vary-topics          every message to a topic of its own (loadgen/PID/GROUP/COUNTER, the
                         subscribers on loadgen/PID/GROUP/+): defeats per-topic caches
  --persistent           subscribers connect with clean session 0 (a persistent session; in
                         5.0 clean start 0 and a session expiry interval of an hour)
  --until-broker-idle    after the traffic, keep the connections open until the broker's CPU
                         falls idle (needs --broker-pid): work it still owes, such as a store
                         committing a backlog, counts in its CPU per message, in
                         broker_busy_after_s and in sustained_msgs_per_s
  --broker-pid PID       read the broker's CPU time and memory from /proc/PID
  --broker NAME          label for the RESULT line (unknown)
  --timeout SECONDS      hard limit for the whole run (60)
";

struct Options {
    scenario: String,
    topic: String,
    host: String,
    port: Option<u16>,
    subscriber_port: Option<u16>,
    source: Option<std::net::IpAddr>,
    qos: QoS,
    payload: usize,
    window: usize,
    duration: Duration,
    messages: Option<u64>,
    clients: Option<usize>,
    connections: usize,
    concurrency: usize,
    hold: Duration,
    keep_alive: u16,
    broker_pid: Option<u32>,
    broker: String,
    timeout: Duration,
    spin: bool,
    persistent: bool,
    vary_topics: bool,
    until_broker_idle: bool,
    protocol: ProtocolLevel,
    transport: String,
    ws_path: String,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        scenario: "qos0".into(),
        topic: "loadgen/feed".into(),
        host: "127.0.0.1".into(),
        port: None,
        subscriber_port: None,
        source: None,
        qos: QoS::AtMostOnce,
        payload: 16,
        window: 3000,
        duration: Duration::from_secs(5),
        messages: None,
        clients: None,
        connections: 10_000,
        concurrency: 100,
        hold: Duration::from_secs(3),
        keep_alive: 60,
        broker_pid: None,
        broker: "unknown".into(),
        timeout: Duration::from_secs(60),
        spin: false,
        persistent: false,
        vary_topics: false,
        until_broker_idle: false,
        protocol: ProtocolLevel::V311,
        transport: "tcp".into(),
        ws_path: "/mqtt".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            print!("{USAGE}");
            std::process::exit(0);
        }
        if flag == "--spin" {
            o.spin = true;
            continue;
        }
        if flag == "--vary-topics" {
            o.vary_topics = true;
            continue;
        }
        if flag == "--persistent" {
            o.persistent = true;
            continue;
        }
        if flag == "--until-broker-idle" {
            o.until_broker_idle = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| -> Result<u64, String> {
            v.parse().map_err(|_| format!("{flag}: not a number: {v}"))
        };
        let seconds = |v: &str| -> Result<Duration, String> {
            let s: f64 = v
                .parse()
                .map_err(|_| format!("{flag}: not a number of seconds: {v}"))?;
            if s.is_finite() && s >= 0.0 {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(format!("{flag}: out of range: {v}"))
            }
        };
        match flag.as_str() {
            "--scenario" => o.scenario = value,
            "--topic" => o.topic = value,
            "--transport" => o.transport = value,
            "--ws-path" => o.ws_path = value,
            "--protocol" => {
                o.protocol = match value.as_str() {
                    "4" | "311" => ProtocolLevel::V311,
                    "5" => ProtocolLevel::V5,
                    _ => return Err("--protocol must be 4 or 5".into()),
                }
            }
            "--host" => o.host = value,
            "--source" => {
                o.source = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--source: not an IP address: {value}"))?,
                )
            }
            "--port" => {
                o.port = Some(u16::try_from(number(&value)?).map_err(|_| "--port: out of range")?)
            }
            "--subscriber-port" => {
                o.subscriber_port = Some(
                    u16::try_from(number(&value)?)
                        .map_err(|_| "--subscriber-port: out of range")?,
                )
            }
            "--qos" => {
                o.qos = u8::try_from(number(&value)?)
                    .ok()
                    .and_then(QoS::from_u8)
                    .ok_or("--qos must be 0, 1 or 2")?
            }
            "--payload" => o.payload = number(&value)? as usize,
            "--window" => o.window = (number(&value)? as usize).max(1),
            "--duration" => o.duration = seconds(&value)?,
            "--messages" => o.messages = Some(number(&value)?),
            "--clients" => o.clients = Some((number(&value)? as usize).max(1)),
            "--connections" => o.connections = number(&value)? as usize,
            "--concurrency" => o.concurrency = (number(&value)? as usize).max(1),
            "--hold" => o.hold = seconds(&value)?,
            "--keep-alive" => {
                o.keep_alive =
                    u16::try_from(number(&value)?).map_err(|_| "--keep-alive: out of range")?
            }
            "--broker-pid" => o.broker_pid = Some(number(&value)? as u32),
            "--broker" => o.broker = value,
            "--timeout" => o.timeout = seconds(&value)?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if o.payload > 1 << 20 {
        return Err("--payload: at most 1 MiB".into());
    }
    Ok(o)
}

/// Topology of a traffic scenario: groups × (publishers → subscribers), QoS, window override.
struct Shape {
    groups: usize,
    publishers: usize,
    subscribers: usize,
    qos: QoS,
    latency: bool,
}

fn shape_of(o: &Options) -> Option<Shape> {
    let one = |qos, latency| Shape {
        groups: 1,
        publishers: 1,
        subscribers: 1,
        qos,
        latency,
    };
    Some(match o.scenario.as_str() {
        "qos0" => one(QoS::AtMostOnce, false),
        "qos1" => one(QoS::AtLeastOnce, false),
        "qos2" => one(QoS::ExactlyOnce, false),
        "latency0" => one(QoS::AtMostOnce, true),
        "latency1" => one(QoS::AtLeastOnce, true),
        "latency2" => one(QoS::ExactlyOnce, true),
        "fanin" => Shape {
            publishers: o.clients.unwrap_or(10),
            ..one(o.qos, false)
        },
        "fanout" => Shape {
            subscribers: o.clients.unwrap_or(100),
            ..one(o.qos, false)
        },
        "publish" => Shape {
            subscribers: 0,
            ..one(o.qos, false)
        },
        "pairs" => Shape {
            groups: o.clients.unwrap_or(10),
            ..one(o.qos, false)
        },
        _ => return None,
    })
}

fn resolve(o: &Options) -> Result<SocketAddr, String> {
    let port = o.port.ok_or("--port is required (see --help)")?;
    (o.host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", o.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", o.host))
}

/// Prints a failed RESULT line and exits if the run outlives its time limit, whatever it is
/// blocked on.
fn start_watchdog(timeout: Duration, mut line: ResultLine) {
    std::thread::Builder::new()
        .name("watchdog".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            std::thread::sleep(timeout);
            eprintln!(
                "loadgen: hard timeout of {:.0} s reached",
                timeout.as_secs_f64()
            );
            println!("{}", line.set("status", "timeout").render());
            std::process::exit(3);
        })
        .expect("spawning the watchdog thread");
}

fn base_line(o: &Options) -> ResultLine {
    let mut line = ResultLine::default();
    line.set("scenario", &o.scenario).set("broker", &o.broker);
    if o.transport != "tcp" {
        line.set("transport", &o.transport);
    }
    line
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = match resolve(&options) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    start_watchdog(options.timeout, base_line(&options));
    // The watchdog covers the whole run; the engine aims to finish a little before it.
    let deadline = Instant::now() + options.timeout.mul_f64(0.9);
    let outcome = if options.scenario == "idle" {
        run_idle(&options, addr, deadline)
    } else if options.scenario.starts_with("client_") {
        run_client(&options, deadline)
    } else if let Some(shape) = shape_of(&options) {
        run_traffic(&options, &shape, addr, deadline)
    } else {
        Err(format!("unknown scenario {}\n{USAGE}", options.scenario))
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("loadgen: {e}");
            println!("{}", base_line(&options).set("status", "error").render());
            ExitCode::from(2)
        }
    }
}

/// An engine towards `addr` with the options every scenario shares: transport, source address.
fn engine_for(o: &Options, addr: SocketAddr, qos: QoS) -> Result<Engine, String> {
    let mut engine =
        Engine::new(addr, qos, o.keep_alive, o.protocol).map_err(|e| format!("epoll: {e}"))?;
    engine.set_transport(Transport::parse(&o.transport, &o.ws_path)?);
    if let Some(ip) = o.source {
        engine.set_source(ip);
    }
    Ok(engine)
}

fn run_traffic(
    o: &Options,
    shape: &Shape,
    addr: SocketAddr,
    deadline: Instant,
) -> Result<bool, String> {
    let mut engine = engine_for(o, addr, shape.qos)?;
    if o.scenario == "publish" {
        if o.messages.is_none() {
            return Err("the publish scenario needs --messages".into());
        }
        mqtt::topic::TopicName::validate(&o.topic)
            .map_err(|e| format!("--topic {}: {e:?}", o.topic))?;
        engine.set_topic(&o.topic);
    }
    engine.set_persistent_subscribers(o.persistent);
    engine.set_vary_topics(o.vary_topics);
    if let Some(port) = o.subscriber_port {
        engine.set_subscriber_addr(SocketAddr::new(addr.ip(), port));
    }
    let roles = engine.add_groups(shape.groups, shape.publishers, shape.subscribers, o.payload);
    let connected = engine.connect_all(&roles, o.concurrency, deadline);
    if connected.failed > 0 {
        return Err(format!(
            "{} of {} connections failed: {}",
            connected.failed,
            roles.len(),
            engine.first_errors.join("; ")
        ));
    }
    let window = if shape.latency { 1 } else { o.window };
    let cfg = TrafficConfig {
        qos: shape.qos,
        payload_len: o.payload,
        window,
        duration: o.duration,
        messages: o.messages,
        record_latency: shape.latency,
        spin: shape.latency && o.spin,
        drain_idle: Duration::from_secs(3),
    };
    let broker_cpu_before = o.broker_pid.and_then(proc_stats::process_cpu_time);
    let own_cpu_before = proc_stats::own_cpu_time();
    let mut result = engine.run_traffic(&cfg, deadline);
    let busy_after = match o.broker_pid {
        Some(pid) if o.until_broker_idle => Some(wait_broker_idle(&mut engine, pid, deadline)),
        _ => None,
    };
    let own_cpu = proc_stats::own_cpu_time().saturating_sub(own_cpu_before);
    let broker_cpu = o
        .broker_pid
        .and_then(proc_stats::process_cpu_time)
        .zip(broker_cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let broker_rss = o.broker_pid.and_then(proc_stats::resident_kib);
    let broker_peak_rss = o.broker_pid.and_then(proc_stats::peak_resident_kib);
    // Read while every connection is still open: a broker with a thread per active connection
    // shows them here.
    let broker_threads = o.broker_pid.and_then(proc_stats::thread_count);

    let lost = result.expected.saturating_sub(result.delivered);
    let duplicates = result.delivered.saturating_sub(result.expected);
    let rate = per_second(result.delivered, result.elapsed);
    let sustained = busy_after.map(|b| per_second(result.delivered, result.elapsed + b));
    let ok = result.settled && lost == 0 && duplicates == 0 && engine.protocol_errors == 0;

    println!(
        "{} against {} ({}): {} publishers -> {} {}subscribers x {} topics, QoS {}, {} B payload, window {}",
        o.scenario,
        o.broker,
        addr,
        shape.publishers,
        shape.subscribers,
        if o.persistent { "persistent " } else { "" },
        shape.groups,
        cfg.qos as u8,
        cfg.payload_len,
        window
    );
    println!(
        "  sent {} messages, delivered {} of {} expected ({} lost, {} duplicated), {} handshakes completed, in {:.3} s",
        result.sent,
        result.delivered,
        result.expected,
        lost,
        duplicates,
        result.completed,
        result.elapsed.as_secs_f64()
    );
    println!(
        "  {:.0} deliveries/s, {:.0} publishes/s",
        rate,
        per_second(result.sent, result.elapsed)
    );
    if let (Some(busy), Some(sustained)) = (busy_after, sustained) {
        println!(
            "  broker busy {:.3} s after the traffic ended: {:.0} deliveries/s including it",
            busy.as_secs_f64(),
            sustained
        );
    }
    let broker_us = broker_cpu.and_then(|c| micros_per(c, result.delivered));
    let own_us = micros_per(own_cpu, result.delivered);
    match broker_us {
        Some(us) => println!(
            "  broker CPU {:.3} µs per delivered message; load generator {:.3} µs",
            us,
            own_us.unwrap_or(0.0)
        ),
        None => println!(
            "  load generator CPU {:.3} µs per delivered message",
            own_us.unwrap_or(0.0)
        ),
    }
    if !engine.first_errors.is_empty() {
        println!("  errors: {}", engine.first_errors.join("; "));
    }

    let mut line = base_line(o);
    line.set("qos", cfg.qos as u8)
        .set("payload", cfg.payload_len)
        .set("window", window)
        .set("publishers", shape.publishers * shape.groups)
        .set("subscribers", shape.subscribers * shape.groups)
        .set("persistent", u8::from(o.persistent))
        .set("vary_topics", u8::from(o.vary_topics))
        .set("sent", result.sent)
        .set("expected", result.expected)
        .set("delivered", result.delivered)
        .set("lost", lost)
        .set("duplicates", duplicates)
        .set("elapsed_s", format!("{:.3}", result.elapsed.as_secs_f64()))
        .set("msgs_per_s", format!("{rate:.0}"))
        .set_opt(
            "broker_busy_after_s",
            busy_after.map(|b| b.as_secs_f64()),
            3,
        )
        .set_opt("sustained_msgs_per_s", sustained, 0)
        .set_opt("broker_cpu_us_per_msg", broker_us, 3)
        .set_opt("loadgen_cpu_us_per_msg", own_us, 3)
        .set_opt("broker_rss_kib", broker_rss.map(|v| v as f64), 0)
        .set_opt("broker_peak_rss_kib", broker_peak_rss.map(|v| v as f64), 0)
        .set_opt("broker_threads", broker_threads.map(|t| t as f64), 0);

    if shape.latency {
        result.delivery_ns.sort_unstable();
        result.ack_ns.sort_unstable();
        let pct = |samples: &[u64], f| percentile_us(samples, f);
        let d = &result.delivery_ns;
        let a = &result.ack_ns;
        println!(
            "  publish-to-delivery µs: p50 {} p99 {} p99.9 {} ({} samples)",
            show(pct(d, 0.5)),
            show(pct(d, 0.99)),
            show(pct(d, 0.999)),
            d.len()
        );
        if cfg.qos != QoS::AtMostOnce {
            println!(
                "  publish-to-ack µs:      p50 {} p99 {} p99.9 {} ({} samples)",
                show(pct(a, 0.5)),
                show(pct(a, 0.99)),
                show(pct(a, 0.999)),
                a.len()
            );
        }
        line.set("samples", d.len())
            .set_opt("p50_us", pct(d, 0.5), 1)
            .set_opt("p99_us", pct(d, 0.99), 1)
            .set_opt("p999_us", pct(d, 0.999), 1)
            .set_opt("ack_p50_us", pct(a, 0.5), 1)
            .set_opt("ack_p99_us", pct(a, 0.99), 1)
            .set_opt("ack_p999_us", pct(a, 0.999), 1);
    }
    line.set("errors", engine.protocol_errors + engine.closed_by_peer)
        .set("status", if ok { "ok" } else { "incomplete" });
    println!("{}", line.render());
    Ok(ok)
}

/// Services the connections until the broker's CPU falls idle (under 10 % of a CPU over
/// `WINDOW`) or `deadline`; returns how long it stayed busy after the traffic ended, to the start
/// of the first idle window.
fn wait_broker_idle(engine: &mut Engine, pid: u32, deadline: Instant) -> Duration {
    const WINDOW: Duration = Duration::from_millis(200);
    let started = Instant::now();
    let Some(mut last) = proc_stats::process_cpu_time(pid) else {
        return Duration::ZERO;
    };
    let mut window_start = started;
    while Instant::now() + WINDOW < deadline {
        engine.idle_for(WINDOW);
        let Some(now) = proc_stats::process_cpu_time(pid) else {
            break;
        };
        if now.saturating_sub(last) < WINDOW / 10 {
            return window_start - started;
        }
        last = now;
        window_start = Instant::now();
    }
    window_start - started
}

fn run_client(o: &Options, deadline: Instant) -> Result<bool, String> {
    if o.transport != "tcp" {
        return Err("the client_ scenarios run over TCP only".into());
    }
    let run = client_bench::ClientRun {
        host: &o.host,
        port: o.port.ok_or("--port is required")?,
        topic: &o.topic,
        messages: o.messages.unwrap_or(100_000),
        window: o.window,
        payload: o.payload,
        deadline,
    };
    let mut line = base_line(o);
    line.set("broker", "libmqtt").set("target", &o.broker);
    let ok = match o.scenario.as_str() {
        "client_pub_qos1" => client_bench::publish_qos1(&run, &mut line)?,
        "client_recv_qos0" => client_bench::receive_qos0(&run, &mut line)?,
        other => return Err(format!("unknown scenario {other}\n{USAGE}")),
    };
    println!("{}", line.render());
    Ok(ok)
}

fn show(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

fn run_idle(o: &Options, addr: SocketAddr, deadline: Instant) -> Result<bool, String> {
    let limit = sys::raise_open_file_limit().map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
    if (limit as usize) < o.connections + 64 {
        return Err(format!(
            "open-file limit {limit} is too low for {} connections",
            o.connections
        ));
    }
    let mut engine = engine_for(o, addr, QoS::AtMostOnce)?;
    let rss_before = o.broker_pid.and_then(proc_stats::resident_kib);
    let available_before = proc_stats::mem_available_kib();
    let kernel_stack_before = proc_stats::kernel_stack_kib();
    let roles = vec![Role::Idle; o.connections];
    let connected = engine.connect_all(&roles, o.concurrency, deadline);
    // Let the broker finish its per-connection setup before memory is read.
    let settle = Duration::from_secs(1).min(o.hold);
    engine.idle_for(settle);
    let rss_after = o.broker_pid.and_then(proc_stats::resident_kib);
    let available_after = proc_stats::mem_available_kib();
    let kernel_stack_after = proc_stats::kernel_stack_kib();
    let threads = o.broker_pid.and_then(proc_stats::thread_count);
    let remaining = deadline.saturating_duration_since(Instant::now());
    engine.idle_for(o.hold.saturating_sub(settle).min(remaining));
    let held = engine.open_connections();

    let n = connected.established.max(1) as f64;
    let rate = per_second(connected.established as u64, connected.elapsed);
    let rss_per = rss_before
        .zip(rss_after)
        .map(|(b, a)| (a as f64 - b as f64) / n);
    let system_per = available_before
        .zip(available_after)
        .map(|(b, a)| (b as f64 - a as f64) / n);
    let kernel_stack_per = kernel_stack_before
        .zip(kernel_stack_after)
        .map(|(b, a)| (a as f64 - b as f64) / n);
    let ok = connected.established == o.connections && held == o.connections;

    println!(
        "idle against {} ({}): {} of {} connections established in {:.3} s ({:.0}/s), {} held after {:.1} s",
        o.broker,
        addr,
        connected.established,
        o.connections,
        connected.elapsed.as_secs_f64(),
        rate,
        held,
        o.hold.as_secs_f64()
    );
    println!(
        "  system memory {} KiB per connection (MemAvailable, both ends), of which kernel stacks {} KiB; broker RSS {} KiB per connection, broker threads {}",
        show(system_per),
        show(kernel_stack_per),
        show(rss_per),
        threads.map_or_else(|| "-".into(), |t| t.to_string())
    );
    if !engine.first_errors.is_empty() {
        println!("  errors: {}", engine.first_errors.join("; "));
    }
    let mut line = base_line(o);
    line.set("connections", o.connections)
        .set("established", connected.established)
        .set("held", held)
        .set(
            "connect_s",
            format!("{:.3}", connected.elapsed.as_secs_f64()),
        )
        .set("connect_per_s", format!("{rate:.0}"))
        .set_opt("broker_rss_per_conn_kib", rss_per, 2)
        .set_opt("sys_mem_per_conn_kib", system_per, 2)
        .set_opt("kernel_stack_per_conn_kib", kernel_stack_per, 2)
        .set_opt("broker_threads", threads.map(|t| t as f64), 0)
        .set("status", if ok { "ok" } else { "incomplete" });
    println!("{}", line.render());
    Ok(ok)
}
