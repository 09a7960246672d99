//! Client-side scenarios: the crate's own `mqtt::client::Client` measured the way
//! bench/client/mosq_bench.c measures libmosquitto, against the same broker.
//!
//! - `client_pub_qos1`: QoS 1 publishes pipelined up to `--window` in flight, rate until every
//!   PUBACK is in;
//! - `client_recv_qos0`: subscribes to `--topic`, prints `READY`, then counts QoS 0 messages that
//!   another process publishes (e.g. `loadgen --scenario publish`), until `--messages` arrived or
//!   none came for two seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mqtt::client::{Client, ConnectOptions};
use mqtt::protocol::QoS;

use crate::report::{ResultLine, per_second};

pub struct ClientRun<'a> {
    pub host: &'a str,
    pub port: u16,
    pub topic: &'a str,
    pub messages: u64,
    pub window: usize,
    pub payload: usize,
    pub deadline: Instant,
}

fn connect(run: &ClientRun<'_>, id: &str) -> Result<Client, String> {
    let options = ConnectOptions::new()
        .client_id(id)
        .keep_alive(Duration::from_secs(60))
        .operation_timeout(Duration::from_secs(30))
        .max_inflight(run.window.clamp(1, u16::MAX as usize) as u16);
    let client = Client::connect(run.host, run.port, &options)
        .map_err(|e| format!("connect {}:{}: {e}", run.host, run.port))?;
    client
        .loop_start()
        .map_err(|e| format!("loop_start: {e}"))?;
    Ok(client)
}

pub fn publish_qos1(run: &ClientRun<'_>, line: &mut ResultLine) -> Result<bool, String> {
    let client = connect(run, &format!("lg-client-pub-{}", std::process::id()))?;
    let payload = vec![b'p'; run.payload];
    let started = Instant::now();
    let mut ids = Vec::with_capacity(run.messages as usize);
    let mut failure = None;
    for _ in 0..run.messages {
        if Instant::now() >= run.deadline {
            failure = Some("deadline reached while publishing".to_string());
            break;
        }
        match client.publish_async(run.topic, &payload, QoS::AtLeastOnce, false) {
            Ok(Some(id)) => ids.push(id),
            Ok(None) => {
                failure = Some("QoS 1 publish returned no packet id".into());
                break;
            }
            Err(e) => {
                failure = Some(format!("publish: {e}"));
                break;
            }
        }
    }
    let mut acked = 0u64;
    for id in &ids {
        let left = run.deadline.saturating_duration_since(Instant::now());
        match client.wait_published(*id, Some(left)) {
            Ok(_) => acked += 1,
            Err(e) => {
                failure.get_or_insert(format!("waiting for PUBACK: {e}"));
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    let _ = client.disconnect();
    let ok = failure.is_none() && acked == run.messages;
    println!(
        "client_pub_qos1 (libmqtt): {acked} of {} QoS 1 publishes acknowledged in {:.3} s, window {}",
        run.messages,
        elapsed.as_secs_f64(),
        run.window
    );
    if let Some(f) = &failure {
        println!("  error: {f}");
    }
    line.set("sent", ids.len())
        .set("delivered", acked)
        .set("window", run.window)
        .set("msgs_per_s", format!("{:.0}", per_second(acked, elapsed)))
        .set("status", if ok { "ok" } else { "incomplete" });
    Ok(ok)
}

pub fn receive_qos0(run: &ClientRun<'_>, line: &mut ResultLine) -> Result<bool, String> {
    let client = connect(run, &format!("lg-client-sub-{}", std::process::id()))?;
    let count = Arc::new(AtomicU64::new(0));
    // Nanoseconds since `epoch` of the first and the latest message, written by the callback.
    let first_ns = Arc::new(AtomicU64::new(0));
    let last_ns = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    {
        let (count, first_ns, last_ns) = (count.clone(), first_ns.clone(), last_ns.clone());
        client
            .subscribe(run.topic, QoS::AtMostOnce, move |_message| {
                let now = epoch.elapsed().as_nanos() as u64;
                if count.fetch_add(1, Ordering::Relaxed) == 0 {
                    first_ns.store(now, Ordering::Relaxed);
                }
                last_ns.store(now, Ordering::Relaxed);
            })
            .map_err(|e| format!("subscribe: {e}"))?;
    }
    println!("READY");
    let idle_limit = Duration::from_secs(2);
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let received = count.load(Ordering::Relaxed);
        if received >= run.messages || Instant::now() >= run.deadline {
            break;
        }
        let last = Duration::from_nanos(last_ns.load(Ordering::Relaxed));
        if received > 0 && epoch.elapsed().saturating_sub(last) > idle_limit {
            break;
        }
    }
    let _ = client.disconnect();
    let received = count.load(Ordering::Relaxed);
    let span = Duration::from_nanos(
        last_ns
            .load(Ordering::Relaxed)
            .saturating_sub(first_ns.load(Ordering::Relaxed)),
    );
    let ok = received == run.messages;
    println!(
        "client_recv_qos0 (libmqtt): {received} of {} QoS 0 messages received in {:.3} s",
        run.messages,
        span.as_secs_f64()
    );
    line.set("expected", run.messages)
        .set("delivered", received)
        .set("lost", run.messages.saturating_sub(received))
        .set("msgs_per_s", format!("{:.0}", per_second(received, span)))
        .set("status", if ok { "ok" } else { "incomplete" });
    Ok(ok)
}
