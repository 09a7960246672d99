//! Interoperability with a real browser: headless Chromium opens a page this test serves
//! (tests/browser/page.html), whose MQTT.js browser bundle (npm package `mqtt`, installed in
//! tests/browser/node_modules by `npm ci --prefix tests/browser`) talks to this crate's broker
//! over ws://, in MQTT 3.1.1 and 5.0. The page subscribes, receives a retained message set
//! before it loaded and a message the test publishes from Rust, publishes at QoS 0, 1 and 2 to
//! itself, and POSTs each step back to the test's HTTP server; a raw TCP subscriber checks what
//! the page published on the broker's side. Chromium is killed (with its whole process group)
//! when the test ends or its time runs out. Skipped with a message when chromium or the bundle
//! is missing, a failure under CI=true.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::common::eventually;
use crate::interop_support::{
    assert_publish, hex, on_path, peer_present, raw_subscriber, recv_publish_acked, settle,
};
use mqtt::broker::{
    Broker, BrokerEvent, BrokerOptions, DisconnectReason, Listener, WebSocketOptions,
};
use mqtt::protocol::QoS;

/// How long the whole page may take, from Chromium's start to the page's last report: a cold
/// Chromium on a busy two-core machine takes seconds to start.
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the test's HTTP server waits for a request on a socket Chromium opened.
const HTTP_READ_TIMEOUT: Duration = Duration::from_secs(5);

const RETAINED: (&str, &[u8]) = ("browser/retained", b"kept for later");
const FROM_RUST: (&str, &[u8]) = (
    "browser/from-rust",
    b"hello from \xe2\x80\x9cRust\xe2\x80\x9d",
);
/// What the page publishes (tests/browser/page.html), by QoS.
const FROM_PAGE: [(&str, &str, QoS); 3] = [
    ("browser/echo/0", "zero", QoS::AtMostOnce),
    ("browser/echo/1", "one \u{e9}", QoS::AtLeastOnce),
    ("browser/echo/2", "two \u{2603}", QoS::ExactlyOnce),
];

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn bundle() -> PathBuf {
    browser_dir().join("node_modules/mqtt/dist/mqtt.min.js")
}

/// Debian's chromium and MQTT.js's browser bundle.
fn browser_present() -> bool {
    peer_present("chromium", on_path("chromium"), "apt-get install chromium")
        && peer_present(
            "MQTT.js (tests/browser/node_modules/mqtt)",
            bundle().is_file(),
            "npm ci --prefix tests/browser",
        )
}

/// The test's HTTP server on 127.0.0.1: serves the page and the bundle, and hands every POST the
/// page makes to `posts` as (path, body). Each socket gets its own thread, since Chromium opens
/// sockets it may never send a request on.
struct PageServer {
    port: u16,
    posts: Receiver<(String, String)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PageServer {
    fn start() -> PageServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the page server");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let page = std::fs::read(browser_dir().join("page.html")).expect("read page.html");
        let script = std::fs::read(bundle()).expect("read mqtt.min.js");
        let files = Arc::new([page, script]);
        let (tx, posts) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => {
                        let files = Arc::clone(&files);
                        let tx = tx.clone();
                        thread::spawn(move || {
                            // A socket Chromium gave up on is no failure of the page.
                            let _ = serve_http(socket, &files, &tx);
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("page server accept: {e}"),
                }
            }
        });
        PageServer {
            port,
            posts,
            stop,
            thread: Some(thread),
        }
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers the requests on one socket (keep-alive) until Chromium closes it or goes quiet.
fn serve_http(
    socket: TcpStream,
    files: &[Vec<u8>; 2],
    posts: &Sender<(String, String)>,
) -> std::io::Result<()> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(HTTP_READ_TIMEOUT))?;
    let mut writer = socket.try_clone()?;
    let mut reader = BufReader::new(socket);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut content_length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body)?;
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = target.split('?').next().unwrap_or("");
        let (status, content_type, content): (&str, &str, &[u8]) = match (method, path) {
            ("GET", "/") => ("200 OK", "text/html; charset=utf-8", &files[0]),
            ("GET", "/mqtt.min.js") => ("200 OK", "text/javascript", &files[1]),
            ("POST", _) => {
                let text = String::from_utf8_lossy(&body).into_owned();
                let _ = posts.send((path.to_owned(), text));
                ("204 No Content", "text/plain", b"")
            }
            _ => ("404 Not Found", "text/plain", b"not here\n"),
        };
        write!(
            writer,
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\n\r\n",
            content.len()
        )?;
        writer.write_all(content)?;
    }
}

/// Headless Chromium showing one URL, in its own process group with a fresh profile; killed
/// with every process it started when dropped.
struct Chromium {
    child: Child,
    profile: PathBuf,
}

impl Chromium {
    fn open(url: &str, name: &str) -> Chromium {
        let profile =
            std::env::temp_dir().join(format!("libmqtt-chromium-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let log = std::fs::File::create(profile.join("chromium.log")).unwrap();
        let child = Command::new("chromium")
            .args([
                "--headless",
                // The tests run as root in CI, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                // No traffic of its own: this machine reaches no network but the loopback.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--disable-extensions",
                "--no-first-run",
                "--no-default-browser-check",
            ])
            .arg(format!(
                "--user-data-dir={}",
                profile.join("data").display()
            ))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start chromium");
        Chromium { child, profile }
    }

    /// The end of what Chromium printed, for a failure message.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.profile.join("chromium.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let group = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) on the process group our own child leads (process_group(0)).
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Who connected at which protocol level, and why connections ended, as the broker reported.
#[derive(Default)]
struct Record {
    connected: Vec<(String, u8)>,
    disconnected: Vec<(String, DisconnectReason)>,
}

/// The page's report lines sorted, for a comparison that ignores arrival order.
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// The page's line for a received message: QoS, RETAIN, topic, payload in hex.
fn page_line(qos: QoS, retain: bool, topic: &str, payload: &[u8]) -> String {
    format!(
        "{} {} {topic} {}",
        qos as u8,
        u8::from(retain),
        hex(payload)
    )
}

fn browser_round_trip(protocol_level: u8) {
    if !browser_present() {
        return;
    }
    let server = PageServer::start();
    let record: Arc<Mutex<Record>> = Arc::default();
    let sink = Arc::clone(&record);
    let options = BrokerOptions::default()
        .listener(Listener::tcp("127.0.0.1", 0))
        .listener(Listener::websocket(
            "127.0.0.1",
            0,
            WebSocketOptions {
                // The real browser's Origin header must pass the check.
                allowed_origins: vec![server.origin()],
                ..WebSocketOptions::default()
            },
            None,
        ))
        .event_hook(move |event| match *event {
            BrokerEvent::Connected {
                client_id,
                protocol_level,
                ..
            } => sink
                .lock()
                .connected
                .push((client_id.to_owned(), protocol_level)),
            BrokerEvent::Disconnected {
                client_id, reason, ..
            } => sink
                .lock()
                .disconnected
                .push((client_id.to_owned(), reason)),
        });
    let broker = Broker::new(options);
    broker.start().expect("broker starts");
    let listeners = broker.listeners();
    let (tcp_port, ws_url) = (listeners[0].address.port(), listeners[1].url());

    // Set before the page loads: delivered on its subscription with RETAIN set.
    let (topic, payload) = RETAINED;
    broker
        .publish(topic, payload, QoS::AtLeastOnce, true)
        .unwrap();
    let mut observer = raw_subscriber(
        tcp_port,
        "rust-observer",
        "browser/echo/#",
        QoS::ExactlyOnce,
    );

    let client_id = format!("chromium-v{protocol_level}");
    let url = format!(
        "{}/?v={protocol_level}&expect=5&ws={ws_url}",
        server.origin()
    );
    let chromium = Chromium::open(&url, &client_id);
    let deadline = Instant::now() + PAGE_TIMEOUT;
    let mut reports: HashMap<String, String> = HashMap::new();
    while !reports.contains_key("/closed") {
        let Ok((path, body)) = server.posts.recv_deadline(deadline) else {
            panic!(
                "the page reported only {reports:?} within {PAGE_TIMEOUT:?}; Chromium's log:\n{}",
                chromium.log_tail()
            );
        };
        assert_ne!(
            path, "/error",
            "the page failed: {body}; reports so far {reports:?}"
        );
        if path == "/subscribed" {
            // The page's subscription is in place: this one reaches it.
            let (topic, payload) = FROM_RUST;
            broker
                .publish(topic, payload, QoS::ExactlyOnce, false)
                .unwrap();
        }
        reports.insert(path, body);
    }
    drop(chromium);

    // In the browser: the grant, the three acknowledged publishes, and exactly these messages.
    assert_eq!(reports["/subscribed"], "browser/# 2");
    let published: Vec<String> = FROM_PAGE
        .iter()
        .map(|(topic, _, qos)| format!("{topic} {}", *qos as u8))
        .collect();
    assert_eq!(sorted_lines(&reports["/published"]), published);
    let mut expected: Vec<String> = FROM_PAGE
        .iter()
        .map(|(topic, payload, qos)| page_line(*qos, false, topic, payload.as_bytes()))
        .collect();
    expected.push(page_line(QoS::AtLeastOnce, true, RETAINED.0, RETAINED.1));
    expected.push(page_line(QoS::ExactlyOnce, false, FROM_RUST.0, FROM_RUST.1));
    expected.sort();
    assert_eq!(sorted_lines(&reports["/result"]), expected);

    // On the broker's side: what the page published, at the QoS it published with.
    let mut seen: Vec<_> = (0..FROM_PAGE.len())
        .map(|_| recv_publish_acked(&mut observer))
        .collect();
    settle(&mut observer);
    seen.sort_by(|a, b| a.topic.as_str().cmp(b.topic.as_str()));
    for (message, (topic, payload, qos)) in seen.iter().zip(FROM_PAGE) {
        assert_publish(message, topic, payload.as_bytes(), qos, false);
    }
    // The page's client connected at its level over WebSocket and ended with DISCONNECT.
    eventually("the page's DISCONNECT", || {
        record
            .lock()
            .disconnected
            .contains(&(client_id.clone(), DisconnectReason::ClientDisconnected))
    });
    assert!(
        record
            .lock()
            .connected
            .contains(&(client_id.clone(), protocol_level)),
        "connections: {:?}",
        record.lock().connected
    );
    // The retained message, the page's three and the one from Rust; the browser's upgrade and
    // frames were refused nowhere.
    let stats = broker.stats();
    assert_eq!(stats.messages_received, 5);
    assert_eq!(stats.websocket_refused, 0);
    broker.stop();
}

#[test]
fn mqtt_js_in_chromium_over_websocket_v311() {
    browser_round_trip(4);
}

#[test]
fn mqtt_js_in_chromium_over_websocket_v5() {
    browser_round_trip(5);
}
