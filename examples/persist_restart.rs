//! Restart time of a broker with persistence: fills a persistence file with retained messages and
//! persistent sessions (each with a subscription and a few queued QoS 1 messages), stops the
//! broker, then measures `Broker::start` of a new broker over the same file, which takes up all of
//! it before it listens, and the size of the file.
//!
//! ```sh
//! cargo run --release --example persist_restart -- --file /var/tmp/restart.db
//! ```
//!
//! The sessions are made by real clients: `--sessions` TCP connections, all open at once
//! (RLIMIT_NOFILE is raised to its hard limit), each sending CONNECT with clean session 0 and
//! SUBSCRIBE at QoS 1 to a topic of its own, then DISCONNECT once every SUBACK is in; the queued
//! messages are then published into the broker with `Broker::publish` while the sessions are
//! offline. After the timed restarts, one restored session is checked by connecting as its client
//! and receiving its queued messages.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::num::NonZeroU16;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mqtt::broker::{Broker, BrokerOptions, PersistenceStats, PersistenceSync};
use mqtt::protocol::{Connect, Packet, Properties, ProtocolLevel, QoS, Subscribe, SubscribeTopic};

const USAGE: &str = "\
usage: persist_restart [options]

  --file PATH          persistence file (default: restart-bench.db in TMPDIR); replaced
  --retained N         retained messages (100000)
  --sessions N         persistent sessions, one client connection each (10000)
  --queued N           QoS 1 messages queued per session while it is offline (3)
  --payload BYTES      payload of every message (64)
  --fill-sync MODE     durable or a commit interval in ms, while filling (durable)
  --rounds N           timed restarts (3)
  --drop-caches        before each timed restart, write the file back and drop the page
                       cache (echo 3 > /proc/sys/vm/drop_caches; needs root) so the
                       restart reads from the disk
  --keep               leave the file in place at the end
  --fsync-samples N    first measure the disk: N rewrites of 4 KiB + fdatasync and N appends of
                       4 KiB + fdatasync next to the file (200; 0 skips it)
";

struct Options {
    file: PathBuf,
    retained: usize,
    sessions: usize,
    queued: usize,
    payload: usize,
    fill_sync: PersistenceSync,
    rounds: usize,
    drop_caches: bool,
    keep: bool,
    fsync_samples: usize,
}

fn parse_args() -> Result<Options, String> {
    let tmp = std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let mut o = Options {
        file: tmp.join("restart-bench.db"),
        retained: 100_000,
        sessions: 10_000,
        queued: 3,
        payload: 64,
        fill_sync: PersistenceSync::Durable,
        rounds: 3,
        drop_caches: false,
        keep: false,
        fsync_samples: 200,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--drop-caches" => {
                o.drop_caches = true;
                continue;
            }
            "--keep" => {
                o.keep = true;
                continue;
            }
            _ => {}
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| -> Result<usize, String> {
            v.parse().map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--file" => o.file = PathBuf::from(value),
            "--retained" => o.retained = number(&value)?,
            "--sessions" => o.sessions = number(&value)?,
            "--queued" => o.queued = number(&value)?,
            "--payload" => o.payload = number(&value)?,
            "--rounds" => o.rounds = number(&value)?.max(1),
            "--fsync-samples" => o.fsync_samples = number(&value)?,
            "--fill-sync" => {
                o.fill_sync = match value.as_str() {
                    "durable" => PersistenceSync::Durable,
                    ms => PersistenceSync::Interval(Duration::from_millis(number(ms)? as u64)),
                }
            }
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(o)
}

/// Raises RLIMIT_NOFILE to `wanted` (the hard limit too, which needs root) or else to the hard
/// limit; returns the limit in force.
fn raise_open_file_limit(wanted: u64) -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_max < wanted {
            let raised = libc::rlimit {
                rlim_cur: wanted,
                rlim_max: wanted,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Ok(wanted);
            }
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(limit.rlim_cur)
}

fn options(o: &Options, sync: PersistenceSync) -> BrokerOptions {
    BrokerOptions {
        port: 0,
        max_connections: o.sessions + 100,
        max_queued_messages: o.queued.max(1) * 2,
        persistence: Some(o.file.clone()),
        persistence_sync: sync,
        // No $SYS messages: they would be retained and counted.
        sys_interval: Duration::ZERO,
        ..BrokerOptions::default()
    }
}

fn client_id(i: usize) -> String {
    format!("restart-{i}")
}

fn session_topic(i: usize) -> String {
    format!("sessions/{}/{i}", i % 100)
}

/// CONNECT with clean session 0 and SUBSCRIBE (QoS 1) to the session's topic, in one write.
fn session_packets(i: usize, subscribe: bool) -> Vec<u8> {
    let mut out = Vec::new();
    Packet::Connect(Box::new(Connect {
        protocol: ProtocolLevel::V311,
        clean_session: false,
        keep_alive: 0,
        client_id: client_id(i),
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    }))
    .encode(&mut out)
    .expect("a short CONNECT encodes");
    if subscribe {
        Packet::Subscribe(Subscribe {
            packet_id: NonZeroU16::MIN,
            topics: vec![SubscribeTopic::new(session_topic(i), QoS::AtLeastOnce)],
            properties: Properties::new(),
        })
        .encode(&mut out)
        .expect("a short SUBSCRIBE encodes");
    }
    out
}

/// Opens the connections of sessions `range` at once, subscribes, waits for every SUBACK, then
/// disconnects them all.
fn make_sessions(port: u16, range: std::ops::Range<usize>) -> Result<(), String> {
    let mut streams = Vec::with_capacity(range.len());
    for i in range.clone() {
        let mut stream =
            TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connection {i}: {e}"))?;
        stream.set_nodelay(true).ok();
        stream
            .write_all(&session_packets(i, true))
            .map_err(|e| format!("connection {i}: writing CONNECT: {e}"))?;
        streams.push(stream);
    }
    for (i, stream) in range.zip(streams.iter_mut()) {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        // CONNACK (4 bytes) then SUBACK for one filter (5 bytes).
        let mut acks = [0u8; 9];
        stream
            .read_exact(&mut acks)
            .map_err(|e| format!("connection {i}: reading CONNACK and SUBACK: {e}"))?;
        if acks[0] != 0x20 || acks[3] != 0 || acks[4] != 0x90 || acks[8] != 1 {
            return Err(format!("connection {i}: unexpected answer {acks:02x?}"));
        }
    }
    for stream in &mut streams {
        let _ = stream.write_all(&[0xe0, 0x00]);
    }
    Ok(())
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn drop_page_cache(o: &Options) -> Result<(), String> {
    let file = std::fs::File::open(&o.file).map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| e.to_string())?;
    drop(file);
    // SAFETY: sync() takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").map_err(|e| {
        format!("/proc/sys/vm/drop_caches: {e} (run as root, or without --drop-caches)")
    })
}

/// Latency of a synchronous write on the file's disk, as a store commit pays it: `samples`
/// rewrites of one 4 KiB block followed by fdatasync, then `samples` appends of 4 KiB followed by
/// fdatasync (the file grows, so its size is written too).
fn fsync_latency(o: &Options) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let mut path = o.file.clone().into_os_string();
    path.push(".fsync-test");
    let path = PathBuf::from(path);
    let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let block = [0x5au8; 4096];
    let line = |what: &str, append: bool| -> Result<String, String> {
        let mut samples = Vec::with_capacity(o.fsync_samples);
        for i in 0..o.fsync_samples {
            let offset = if append { 4096 * (i as u64 + 1) } else { 0 };
            let t = Instant::now();
            file.write_all_at(&block, offset)
                .map_err(|e| e.to_string())?;
            file.sync_data().map_err(|e| e.to_string())?;
            samples.push(t.elapsed().as_secs_f64() * 1e3);
        }
        samples.sort_by(f64::total_cmp);
        let at = |f: f64| samples[((samples.len() - 1) as f64 * f) as usize];
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        println!(
            "  {what}: p50 {:.2} ms, p99 {:.2} ms, mean {:.2} ms ({} samples)",
            at(0.5),
            at(0.99),
            mean,
            samples.len()
        );
        Ok(format!("{:.3}", at(0.5)))
    };
    println!("fsync latency next to {}:", o.file.display());
    file.write_all_at(&block, 0).map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| e.to_string())?;
    let rewrite = line("4 KiB rewrite + fdatasync", false)?;
    file.set_len(4096).map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| e.to_string())?;
    let append = line("4 KiB append + fdatasync", true)?;
    drop(file);
    let _ = std::fs::remove_file(&path);
    println!("RESULT scenario=fsync rewrite_p50_ms={rewrite} append_p50_ms={append}");
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn show_stats(label: &str, s: Option<PersistenceStats>) {
    if let Some(s) = s {
        println!(
            "  {label}: {} commits, {} failed, last commit {} µs, {} bytes on disk ({:.1} MiB)",
            s.commits,
            s.failures,
            s.last_commit_micros,
            s.bytes_on_disk,
            mib(s.bytes_on_disk)
        );
    }
}

/// Connects as session `i`'s client (clean session 0), expects the session to be present and its
/// queued messages to arrive; answers them with PUBACK. Returns how many came.
fn check_session(port: u16, i: usize, expected: usize) -> Result<usize, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(&session_packets(i, false))
        .map_err(|e| e.to_string())?;
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack).map_err(|e| e.to_string())?;
    if connack != [0x20, 2, 1, 0] {
        return Err(format!(
            "CONNACK {connack:02x?}: the session is not present"
        ));
    }
    let mut received = 0;
    while received < expected {
        let mut first = [0u8; 1];
        stream
            .read_exact(&mut first)
            .map_err(|e| format!("after {received} messages: {e}"))?;
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let mut b = [0u8; 1];
            stream.read_exact(&mut b).map_err(|e| e.to_string())?;
            len |= usize::from(b[0] & 0x7f) << shift;
            shift += 7;
            if b[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).map_err(|e| e.to_string())?;
        if first[0] >> 4 != 3 {
            return Err(format!("unexpected packet type {}", first[0] >> 4));
        }
        let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
        let topic = std::str::from_utf8(&body[2..2 + topic_len]).map_err(|e| e.to_string())?;
        if topic != session_topic(i) {
            return Err(format!("message on {topic}, expected {}", session_topic(i)));
        }
        let pid = &body[2 + topic_len..4 + topic_len];
        stream
            .write_all(&[0x40, 2, pid[0], pid[1]])
            .map_err(|e| e.to_string())?;
        received += 1;
    }
    let _ = stream.write_all(&[0xe0, 0x00]);
    Ok(received)
}

fn run(o: &Options) -> Result<(), String> {
    // The broker and its clients share this process: the client's socket, the broker's and, while
    // a connection is served by a thread, that thread's eventfd.
    let wanted = 3 * o.sessions as u64 + 1000;
    let limit = raise_open_file_limit(wanted).map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
    // Connections open at once: all of them if the limit allows, else as many as fit.
    let batch = (limit.saturating_sub(1000) / 3).clamp(1, o.sessions.max(1) as u64) as usize;
    if o.fsync_samples > 0 {
        fsync_latency(o)?;
    }
    let _ = std::fs::remove_file(&o.file);
    let fill_mode = match o.fill_sync {
        PersistenceSync::Durable => "durable".to_owned(),
        PersistenceSync::Interval(d) => format!("every {} ms", d.as_millis()),
    };
    println!(
        "filling {}: {} retained messages, {} persistent sessions with 1 subscription and {} \
         queued QoS 1 messages each, {} B payloads, commits {fill_mode}",
        o.file.display(),
        o.retained,
        o.sessions,
        o.queued,
        o.payload
    );
    let payload: Vec<u8> = (0..o.payload).map(|i| b'a' + (i % 26) as u8).collect();

    let fill_started = Instant::now();
    let broker = Broker::new(options(o, o.fill_sync));
    broker.start().map_err(|e| format!("start: {e}"))?;
    let port = broker.port();

    let t = Instant::now();
    for i in 0..o.retained {
        let topic = format!("retained/{}/{}/{i}", i % 100, (i / 100) % 100);
        broker
            .publish(&topic, &payload, QoS::AtLeastOnce, true)
            .map_err(|e| format!("publish: {e:?}"))?;
    }
    let retained_time = t.elapsed();
    println!(
        "  {} retained messages published in {:.3} s",
        o.retained,
        retained_time.as_secs_f64()
    );

    let t = Instant::now();
    let mut first = 0;
    while first < o.sessions {
        let end = (first + batch).min(o.sessions);
        make_sessions(port, first..end)?;
        first = end;
    }
    wait_until(
        "the sessions to go offline",
        Duration::from_secs(120),
        || broker.stats().clients_connected == 0,
    )?;
    let sessions_time = t.elapsed();
    println!(
        "  {} sessions connected, subscribed and disconnected in {:.3} s ({} connections open \
         at once; RLIMIT_NOFILE {limit})",
        o.sessions,
        sessions_time.as_secs_f64(),
        batch.min(o.sessions)
    );

    let t = Instant::now();
    for round in 0..o.queued {
        for i in 0..o.sessions {
            let mut message = payload.clone();
            message.extend_from_slice(format!(" {round}").as_bytes());
            broker
                .publish(&session_topic(i), &message, QoS::AtLeastOnce, false)
                .map_err(|e| format!("publish: {e:?}"))?;
        }
    }
    let queued_time = t.elapsed();
    println!(
        "  {} messages queued for offline sessions in {:.3} s",
        o.queued * o.sessions,
        queued_time.as_secs_f64()
    );
    let before = broker.stats();
    show_stats("before the stop", broker.persistence_stats());
    let t = Instant::now();
    broker.stop();
    let stop_time = t.elapsed();
    show_stats("after the stop", broker.persistence_stats());
    drop(broker);
    let fill_time = fill_started.elapsed();
    let file_size = std::fs::metadata(&o.file)
        .map_err(|e| format!("{}: {e}", o.file.display()))?
        .len();
    println!(
        "  stop (commits what is pending) {:.3} s; whole fill {:.3} s; file {} bytes ({:.1} MiB)",
        stop_time.as_secs_f64(),
        fill_time.as_secs_f64(),
        file_size,
        mib(file_size)
    );
    println!(
        "  broker before the stop: {} retained, {} sessions, {} subscriptions",
        before.retained_messages, before.sessions, before.subscriptions
    );

    let mut times = Vec::new();
    for round in 1..=o.rounds {
        if o.drop_caches {
            drop_page_cache(o)?;
        }
        let broker = Broker::new(options(o, PersistenceSync::Durable));
        let t = Instant::now();
        broker.start().map_err(|e| format!("restart: {e}"))?;
        let took = t.elapsed();
        let s = broker.stats();
        println!(
            "restart {round}: Broker::start took {:.3} s; restored {} retained, {} sessions, {} \
             subscriptions{}",
            took.as_secs_f64(),
            s.retained_messages,
            s.sessions,
            s.subscriptions,
            if o.drop_caches {
                " (page cache dropped)"
            } else {
                ""
            }
        );
        if s.retained_messages != before.retained_messages
            || s.sessions != before.sessions
            || s.subscriptions != before.subscriptions
        {
            return Err("the restored broker does not hold what was stored".into());
        }
        let t = Instant::now();
        broker.stop();
        println!("  stop {:.3} s", t.elapsed().as_secs_f64());
        times.push(took.as_secs_f64());
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];

    // One restored session, checked through a real client: its queued messages arrive.
    let broker = Broker::new(options(o, PersistenceSync::Durable));
    broker.start().map_err(|e| format!("restart: {e}"))?;
    let last = o.sessions.saturating_sub(1);
    let got = if o.sessions > 0 {
        check_session(broker.port(), last, o.queued)
            .map_err(|e| format!("session {}: {e}", client_id(last)))?
    } else {
        0
    };
    broker.stop();
    drop(broker);
    println!(
        "checked: session {} present after the restart with its {got} queued messages",
        client_id(last)
    );
    println!(
        "RESULT scenario=restart retained={} sessions={} queued={} payload={} fill_sync={} \
         fill_s={:.3} retained_fill_s={:.3} sessions_fill_s={:.3} queued_fill_s={:.3} \
         stop_s={:.3} file_bytes={} restart_s={:.3} restart_min_s={:.3} restart_max_s={:.3} \
         drop_caches={} status=ok",
        o.retained,
        o.sessions,
        o.queued,
        o.payload,
        fill_mode.replace(' ', "_"),
        fill_time.as_secs_f64(),
        retained_time.as_secs_f64(),
        sessions_time.as_secs_f64(),
        queued_time.as_secs_f64(),
        stop_time.as_secs_f64(),
        file_size,
        median,
        sorted[0],
        sorted[sorted.len() - 1],
        u8::from(o.drop_caches)
    );
    if !o.keep {
        let _ = std::fs::remove_file(&o.file);
    }
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("persist_restart: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("persist_restart: {e}");
            ExitCode::FAILURE
        }
    }
}
