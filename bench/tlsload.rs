//! TLS and WebSocket load through the crate's own client (`mqtt::client::Client::connect_url`):
//! what the client costs over mqtts and ws. It writes one TLS record or WebSocket frame per
//! PUBLISH, so it saturates before a broker does; bench/tls.sh measures the brokers with
//! examples/loadgen (`--transport tls|ws`), which batches.
//!
//! ```text
//! tlsload throughput --url URL [--qos 0|1] [--duration S] [--window N] [--payload B]
//! tlsload idle --url URL [--connections N] [--threads T] [--hold S] [--broker-pid PID]
//! ```
//!
//! - `throughput`: one publisher and one subscriber client on `loadgen/tls/PID`; the publisher
//!   keeps at most `--window` messages published but not yet received (as `loadgen` does), for
//!   `--duration` seconds; rate = received ÷ (last delivery − first publish), lost = sent −
//!   received after nothing arrived for 3 s.
//! - `idle`: `--threads` threads open `--connections` clients in all, one CONNECT after the
//!   other each (TLS handshake included); rate = connections ÷ time to open them all; the
//!   broker's RSS (`/proc/PID/status` VmRSS) before and after, per connection; held `--hold`
//!   seconds, then how many are still open.
//!
//! URLs: `mqtts://127.0.0.1:PORT` (certificates are not checked: `ClientTls { insecure: true }`)
//! or `ws://127.0.0.1:PORT/mqtt`. Prints one `RESULT key=value ...` line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mqtt::client::{Client, ConnectOptions};
use mqtt::protocol::QoS;
use mqtt::tls::ClientTls;

struct Args {
    mode: String,
    url: String,
    qos: QoS,
    duration: Duration,
    window: u64,
    payload: usize,
    connections: usize,
    threads: usize,
    hold: Duration,
    broker_pid: Option<u32>,
}

fn parse() -> Result<Args, String> {
    let mut argv = std::env::args().skip(1);
    let mut a = Args {
        mode: argv
            .next()
            .ok_or("usage: tlsload throughput|idle --url URL ...")?,
        url: String::new(),
        qos: QoS::AtMostOnce,
        duration: Duration::from_secs(2),
        window: 3000,
        payload: 16,
        connections: 2000,
        threads: 2,
        hold: Duration::from_secs(2),
        broker_pid: None,
    };
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => a.url = value.clone(),
            "--qos" => {
                a.qos = match number()? {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => return Err("--qos must be 0 or 1".into()),
                }
            }
            "--duration" => a.duration = Duration::from_secs(number()?),
            "--window" => a.window = number()?.max(1),
            "--payload" => a.payload = number()? as usize,
            "--connections" => a.connections = number()? as usize,
            "--threads" => a.threads = (number()? as usize).max(1),
            "--hold" => a.hold = Duration::from_secs(number()?),
            "--broker-pid" => a.broker_pid = Some(number()? as u32),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.url.is_empty() {
        return Err("--url is required".into());
    }
    Ok(a)
}

fn options(id: &str, max_inflight: u16) -> ConnectOptions {
    let o = ConnectOptions::new()
        .client_id(id)
        .keep_alive(Duration::from_secs(300))
        .operation_timeout(Duration::from_secs(30))
        .max_inflight(max_inflight);
    o.tls(ClientTls {
        insecure: true,
        ..Default::default()
    })
}

fn connect(url: &str, id: &str, max_inflight: u16) -> Result<Client, String> {
    // ClientTls only applies to mqtts:// and wss:// URLs.
    let mut o = options(id, max_inflight);
    if url.starts_with("ws://") || url.starts_with("mqtt://") {
        o.tls = None;
    }
    Client::connect_url(url, &o).map_err(|e| format!("connect {url}: {e}"))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of every thread of `pid`, in clock ticks (100 per second).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn throughput(a: &Args) -> Result<bool, String> {
    let pid = std::process::id();
    let cpu_before = a.broker_pid.and_then(cpu_ticks);
    let topic = format!("loadgen/tls/{pid}");
    let window16 = a.window.clamp(1, u16::MAX as u64) as u16;
    let sub = connect(&a.url, &format!("tls-sub-{pid}"), window16)?;
    sub.loop_start().map_err(|e| e.to_string())?;
    let received = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let last_ns = Arc::new(AtomicU64::new(0));
    {
        let (received, last_ns) = (received.clone(), last_ns.clone());
        sub.subscribe(&topic, a.qos, move |_m| {
            received.fetch_add(1, Ordering::Relaxed);
            last_ns.store(epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        })
        .map_err(|e| format!("subscribe: {e}"))?;
    }
    let publisher = connect(&a.url, &format!("tls-pub-{pid}"), window16)?;
    publisher.loop_start().map_err(|e| e.to_string())?;
    let payload = vec![b'p'; a.payload];
    let started = epoch.elapsed();
    let stop = Instant::now() + a.duration;
    let mut sent = 0u64;
    let mut error = None;
    while Instant::now() < stop {
        if sent - received.load(Ordering::Relaxed) >= a.window {
            std::thread::yield_now();
            continue;
        }
        // Batches of an eighth of the window, as loadgen sends them.
        for _ in 0..(a.window / 8).max(1) {
            if let Err(e) = publisher.publish_async(&topic, &payload, a.qos, false) {
                error = Some(format!("publish: {e}"));
                break;
            }
            sent += 1;
        }
        if error.is_some() {
            break;
        }
    }
    // Wait until everything arrived or nothing did for 3 s.
    let mut seen = received.load(Ordering::Relaxed);
    let mut since = Instant::now();
    while seen < sent && since.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(10));
        let now = received.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            since = Instant::now();
        }
    }
    let got = received.load(Ordering::Relaxed);
    let broker_us = match (cpu_before, a.broker_pid.and_then(cpu_ticks)) {
        (Some(b), Some(x)) if got > 0 => format!("{:.2}", (x - b) as f64 * 10_000.0 / got as f64),
        _ => "-".into(),
    };
    let span = Duration::from_nanos(last_ns.load(Ordering::Relaxed)).saturating_sub(started);
    let rate = got as f64 / span.as_secs_f64().max(1e-9);
    let _ = publisher.disconnect();
    let _ = sub.disconnect();
    let qos = a.qos as u8;
    println!(
        "RESULT mode=throughput url={} qos={qos} sent={sent} delivered={got} lost={} msgs_per_s={rate:.0} broker_cpu_us_per_msg={broker_us} status={}",
        a.url,
        sent - got.min(sent),
        if error.is_none() && got == sent {
            "ok"
        } else {
            "incomplete"
        }
    );
    if let Some(e) = error {
        eprintln!("tlsload: {e}");
    }
    Ok(got == sent)
}

fn idle(a: &Args) -> Result<bool, String> {
    let pid = std::process::id();
    let before = a.broker_pid.and_then(rss_kib);
    let per_thread = a.connections.div_ceil(a.threads);
    let started = Instant::now();
    let handles: Vec<_> = (0..a.threads)
        .map(|t| {
            let url = a.url.clone();
            let count = per_thread.min(a.connections.saturating_sub(t * per_thread));
            std::thread::spawn(move || {
                let mut clients = Vec::with_capacity(count);
                let mut failed = 0u64;
                let mut first_error = None;
                for i in 0..count {
                    match connect(&url, &format!("tls-idle-{pid}-{t}-{i}"), 16) {
                        Ok(c) => clients.push(c),
                        Err(e) => {
                            failed += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                (clients, failed, first_error)
            })
        })
        .collect();
    let mut clients = Vec::new();
    let mut failed = 0;
    for h in handles {
        let (c, f, e) = h.join().map_err(|_| "a connecting thread panicked")?;
        clients.extend(c);
        failed += f;
        if let Some(e) = e {
            eprintln!("tlsload: {e}");
        }
    }
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let after = a.broker_pid.and_then(rss_kib);
    std::thread::sleep(a.hold);
    let held = clients
        .iter()
        .filter(|c| c.close_reason().is_none())
        .count();
    let per_conn = match (before, after) {
        (Some(b), Some(x)) if !clients.is_empty() => {
            format!("{:.2}", (x as f64 - b as f64) / clients.len() as f64)
        }
        _ => "-".into(),
    };
    println!(
        "RESULT mode=idle url={} connections={} failed={failed} handshakes_per_s={:.0} rss_before_kib={} rss_after_kib={} rss_per_conn_kib={per_conn} held={held}",
        a.url,
        clients.len(),
        clients.len() as f64 / elapsed.as_secs_f64(),
        before.map_or("-".into(), |v| v.to_string()),
        after.map_or("-".into(), |v| v.to_string()),
    );
    for c in &clients {
        let _ = c.disconnect();
    }
    Ok(failed == 0 && held == a.connections)
}

fn main() -> std::process::ExitCode {
    let result = parse().and_then(|a| match a.mode.as_str() {
        "throughput" => throughput(&a),
        "idle" => idle(&a),
        other => Err(format!("unknown mode {other}")),
    });
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("tlsload: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
