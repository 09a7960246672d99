//! A real mosquitto broker started per test (client and interop binaries), on a free
//! 127.0.0.1 port, without persistence, killed on drop.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// A port that was free a moment ago (bound on 127.0.0.1:0, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

fn unique_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn find_mosquitto() -> Option<PathBuf> {
    [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A mosquitto process listening on 127.0.0.1 only, killed on drop.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Mosquitto {
    /// Starts mosquitto with anonymous access; `None` (after printing why) when it is not
    /// installed, except under CI where a missing mosquitto fails the test.
    pub fn start() -> Option<Mosquitto> {
        Self::start_with("allow_anonymous true\n", &[])
    }

    /// Starts mosquitto with `extra` appended to the configuration; `users` go into a password
    /// file used for authentication.
    pub fn start_with(extra: &str, users: &[(&str, &str)]) -> Option<Mosquitto> {
        let Some(binary) = find_mosquitto() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("mosquitto is not installed, and CI=true requires the interop tests");
            }
            eprintln!("SKIPPED: mosquitto is not installed (apt-get install mosquitto)");
            return None;
        };
        let dir = unique_dir("mqtt-client-mosquitto");
        let mut config = String::new();
        if !users.is_empty() {
            let passwords = dir.join("passwd");
            fs::write(&passwords, "").unwrap();
            for (user, pass) in users {
                let status = Command::new("mosquitto_passwd")
                    .arg("-b")
                    .arg(&passwords)
                    .arg(user)
                    .arg(pass)
                    .status()
                    .expect("run mosquitto_passwd");
                assert!(status.success(), "mosquitto_passwd failed");
            }
            config.push_str(&format!("password_file {}\n", passwords.display()));
        }
        // mosquitto started as root drops to its own user; keep the files readable for it.
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("a+rX")
            .arg(&dir)
            .status();
        for _attempt in 0..5 {
            let port = free_port();
            let conf = dir.join("mosquitto.conf");
            fs::write(
                &conf,
                format!("listener {port} 127.0.0.1\npersistence false\n{config}{extra}"),
            )
            .unwrap();
            let log = fs::File::create(dir.join("log")).unwrap();
            let child = Command::new(&binary)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn mosquitto");
            let mut broker = Mosquitto {
                child,
                port,
                dir: dir.clone(),
            };
            if broker.wait_ready(Duration::from_secs(5)) {
                return Some(broker);
            }
            broker.kill();
        }
        panic!(
            "mosquitto did not start; log: {}",
            fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
    }

    /// Ready once mosquitto logs that it runs (it does so only after opening every listener) and
    /// the port accepts. The log line matters: the port was free when chosen, but another test's
    /// listener can take it before mosquitto binds; mosquitto then exits, and a connect made
    /// before it has exited would reach that other listener instead.
    fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let log = self.dir.join("log");
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let running = fs::read_to_string(&log).is_ok_and(|text| text.contains(" running"));
            if running && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops mosquitto (SIGKILL), runs `meanwhile`, then starts it again with the same
    /// configuration on the same port. Panics if it does not come back within 5 s.
    // Used by the interop binary only.
    #[allow(dead_code)]
    pub fn restart_after(&mut self, meanwhile: impl FnOnce()) {
        self.kill();
        meanwhile();
        let log = fs::File::create(self.dir.join("log")).unwrap();
        self.child = Command::new(find_mosquitto().expect("mosquitto was there"))
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn mosquitto");
        assert!(
            self.wait_ready(Duration::from_secs(5)),
            "mosquitto did not come back: {}",
            fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
