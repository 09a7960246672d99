//! The service files of issue 18 read from real files: a password file made by the real
//! `mosquitto_passwd` (skipped with a message when it is not installed, failing under CI=true),
//! hand-made `$6$`/`$7$` vectors, an ACL file with user, pattern and anonymous rules, and a
//! configuration file with every supported keyword (and an `include_dir`) plus bad ones, each error
//! message checked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mqtt::broker::BrokerOptions;

use mqtt::service::acl::{AclAccess, AclFile};
use mqtt::service::config::{
    BridgeDirection, BridgeProtocol, BridgeStart, Config, ListenerProtocol, LogDest, LogType,
    RestartTimeout,
};
use mqtt::service::passwd::PasswordFile;
use mqtt::service::{ConfigError, ConfigErrorKind};

/// A scratch directory for one test, removed when dropped.
pub(super) struct Scratch(PathBuf);

impl Scratch {
    pub(super) fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mqtt-service-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub(super) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `mosquitto_passwd` on PATH, or `None` after saying why the test is skipped; under CI=true a
/// missing tool is a failure (CI installs mosquitto).
pub(super) fn mosquitto_passwd() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("mosquitto_passwd"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "mosquitto_passwd is not installed, and CI=true requires it (Debian package mosquitto)"
        );
        eprintln!("mosquitto_passwd not installed: skipping the test with real password files");
    }
    found
}

fn run(tool: &Path, args: &[&str]) -> bool {
    let out = Command::new(tool).args(args).output().unwrap();
    if !out.status.success() {
        eprintln!(
            "{} {:?} failed: {}",
            tool.display(),
            args,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

#[test]
fn password_file_made_by_mosquitto_passwd() {
    let Some(tool) = mosquitto_passwd() else {
        return;
    };
    let dir = Scratch::new("passwd");
    let file = dir.0.join("passwords");
    let f = file.to_str().unwrap();
    // Default hash ($7$, PBKDF2-SHA512) for the first two users.
    assert!(run(&tool, &["-c", "-b", f, "alice", "s3cret"]));
    assert!(run(&tool, &["-b", f, "bob", "with space:and colon"]));
    // mosquitto 2.x still writes $6$ with -H sha512; older or newer ones may not, and the
    // hand-made vectors below cover $6$ then.
    let made_sha512 = run(&tool, &["-H", "sha512", "-b", f, "carol", "x"]);

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("alice:$7$"), "{text}");
    assert!(text.contains("bob:$7$"), "{text}");
    if made_sha512 {
        assert!(text.contains("carol:$6$"), "{text}");
    }

    let pw = PasswordFile::load(&file).unwrap();
    assert!(pw.warnings().is_empty(), "{:?}", pw.warnings());
    assert!(pw.check("alice", b"s3cret"));
    assert!(!pw.check("alice", b"s3cret "));
    assert!(!pw.check("alice", b"S3cret"));
    assert!(pw.check("bob", b"with space:and colon"));
    assert!(!pw.check("bob", b"with space"));
    assert!(!pw.check("mallory", b"s3cret"));
    assert!(!pw.check_connect("alice", None));
    if made_sha512 {
        assert!(pw.check("carol", b"x"));
        assert!(!pw.check("carol", b"y"));
    }

    // Deleting a user with mosquitto_passwd -D and reloading: the user is gone.
    assert!(run(&tool, &["-D", f, "alice"]));
    let pw = PasswordFile::load(&file).unwrap();
    assert!(!pw.check("alice", b"s3cret"));
    assert!(pw.check("bob", b"with space:and colon"));
}

#[test]
fn hand_made_hash_vectors() {
    // Computed with Python's hashlib, salt b"libmqtt-salt" (12 bytes), password b"correct horse":
    //   base64(sha512(password + salt))
    //   base64(pbkdf2_hmac("sha512", password, salt, 1000))
    let dir = Scratch::new("vectors");
    let file = dir.write(
        "pw",
        "# hand-made\n\
         six:$6$bGlibXF0dC1zYWx0$uZSZKxkzAh8vJlxr8o7ywejIDRQ0D20bh/crEu045JLk3qZQti3V934Erm3Mqm4a/KqEC+rciZkqNNFSLVqzAA==\n\
         seven:$7$1000$bGlibXF0dC1zYWx0$NtJ5VQ+QH75bBtZ1glu26sxgM7rzd9tpskd2muA401Dor1d8BLzwjT9MJm8+MiEoWny43/rcgdCzpSnLoypCuA==\n\
         broken:$7$1000$bGlibXF0dC1zYWx0$tooshort\n",
    );
    let pw = PasswordFile::load(&file).unwrap();
    assert!(pw.check("six", b"correct horse"));
    assert!(!pw.check("six", b"correct horse battery"));
    assert!(pw.check("seven", b"correct horse"));
    assert!(!pw.check("seven", b"Correct horse"));
    // A malformed entry is dropped (mosquitto: "removing entry"), named by file and line.
    assert!(!pw.contains("broken"));
    assert_eq!(pw.warnings().len(), 1);
    assert_eq!(
        pw.warnings()[0].to_string(),
        format!(
            "{}:4: entry for user \"broken\" removed: unable to decode password hash \
             (expected 64 bytes of base64); this user cannot log in",
            file.display()
        )
    );
}

#[test]
fn acl_file_with_user_pattern_and_anonymous_rules() {
    let dir = Scratch::new("acl");
    let file = dir.write(
        "acl",
        "# Anonymous clients may read the public tree and nothing else.\n\
         topic read public/#\n\
         \n\
         user alice\n\
         topic readwrite alice/#\n\
         topic deny alice/private/#\n\
         topic write public/alice\n\
         \n\
         user bob\n\
         topic read alice/news\n\
         \n\
         # Every client owns its own tree; users also get an inbox.\n\
         pattern readwrite devices/%c/#\n\
         pattern read inbox/%u\n",
    );
    let acl = AclFile::load(&file).unwrap();
    use AclAccess::{Read, Write};

    // Anonymous section.
    assert!(acl.check("anon-1", None, "public/weather", Read));
    assert!(!acl.check("anon-1", None, "public/weather", Write));
    assert!(!acl.check("anon-1", None, "alice/x", Read));
    // ...plus the %c pattern, but not the %u one.
    assert!(acl.check("anon-1", None, "devices/anon-1/temp", Write));
    assert!(!acl.check("anon-1", None, "inbox/", Read));

    // alice: own rules with a deny inside her grant; write-only on public/alice.
    assert!(acl.check("a1", Some("alice"), "alice/notes", Write));
    assert!(!acl.check("a1", Some("alice"), "alice/private/diary", Read));
    assert!(acl.check("a1", Some("alice"), "public/alice", Write));
    assert!(!acl.check("a1", Some("alice"), "public/alice", Read));
    assert!(!acl.check("a1", Some("alice"), "public/weather", Read));
    assert!(acl.check("a1", Some("alice"), "inbox/alice", Read));
    assert!(!acl.check("a1", Some("alice"), "inbox/bob", Read));

    // bob, and a user not in the file (patterns only).
    assert!(acl.check("b1", Some("bob"), "alice/news", Read));
    assert!(!acl.check("b1", Some("bob"), "alice/news", Write));
    assert!(acl.check("c1", Some("carol"), "devices/c1/x", Read));
    assert!(!acl.check("c1", Some("carol"), "devices/b1/x", Read));

    // A wildcard in the client id voids the patterns (mosquitto's "dangerous client id").
    assert!(!acl.check("evil/#", Some("carol"), "devices/evil/#/x", Read));

    // SUBSCRIBE decisions.
    assert!(acl.may_ever_read("b1", Some("bob"), "alice/+"));
    assert!(!acl.may_ever_read("b1", Some("bob"), "alice/private/#"));
    assert!(acl.may_ever_read("a1", Some("alice"), "alice/#"));
    assert!(!acl.may_ever_read("a1", Some("alice"), "alice/private/+"));
    assert!(!acl.may_ever_read("anon-1", None, "secret/#"));

    // A compiled per-connection ACL answers the same.
    let compiled = acl.for_client("a1", Some("alice"));
    assert!(compiled.check("alice/notes", Write));
    assert!(!compiled.check("alice/private/diary", Read));

    let bad = dir.write(
        "bad-acl",
        "user alice\ntopic readwrite alice/#\ntopic sometimes x\n",
    );
    assert_eq!(
        AclFile::load(&bad).unwrap_err().to_string(),
        format!(
            "{}:3: invalid topic access type \"sometimes\" (expected read, write, readwrite or deny)",
            bad.display()
        )
    );
}

#[test]
fn config_file_with_every_keyword() {
    let dir = Scratch::new("config");
    let d = dir.0.display();
    dir.write(
        "conf.d/10-bridge.conf",
        "connection upstream\n\
         addresses 127.0.0.1:18830 backup.example\n\
         topic sensors/# out 1 edge/ site1/\n\
         topic commands/# in 2\n\
         topic status both\n\
         remote_clientid edge-site1\n\
         remote_username edge\n\
         remote_password edge secret\n\
         cleansession false\n\
         keepalive_interval 30\n\
         bridge_protocol_version mqttv311\n\
         try_private true\n\
         notifications true\n\
         restart_timeout 2 20\n\
         start_type automatic\n\
         bridge_cafile ca.pem\n\
         bridge_certfile bridge.pem\n\
         bridge_keyfile bridge.key\n\
         bridge_insecure false\n\
         round_robin true\n",
    );
    dir.write("conf.d/20-logs.conf", "log_dest stdout\n");
    dir.write("conf.d/README", "not a configuration file\n");
    let main = dir.write(
        "mosquitto.conf",
        &format!(
            "# every keyword of issue 18\n\
             per_listener_settings false\n\
             bind_address 127.0.0.1\n\
             max_connections 100\n\
             listener 1883\n\
             protocol mqtt\n\
             listener 8883 0.0.0.0\n\
             cafile {d}/ca.pem\n\
             certfile {d}/server.pem\n\
             keyfile {d}/server.key\n\
             require_certificate true\n\
             use_identity_as_username true\n\
             max_connections 50\n\
             listener 9001\n\
             protocol websockets\n\
             allow_anonymous false\n\
             password_file {d}/passwd\n\
             acl_file {d}/acl\n\
             persistence true\n\
             persistence_location {d}/data\n\
             persistence_file broker.db\n\
             autosave_interval 300\n\
             max_queued_messages 5000\n\
             max_queued_bytes 10000000\n\
             max_inflight_messages 10\n\
             message_size_limit 1048576\n\
             max_packet_size 2097152\n\
             max_keepalive 600\n\
             sys_interval 30\n\
             log_type error\n\
             log_type warning\n\
             log_dest stderr\n\
             log_dest file {d}/broker.log\n\
             include_dir {d}/conf.d\n"
        ),
    );
    let c = Config::load(&main).unwrap();

    let d = &dir.0;
    assert_eq!(c.listeners.len(), 3);
    assert_eq!(c.listeners[0].port, 1883);
    assert_eq!(c.listeners[0].protocol, ListenerProtocol::Mqtt);
    let tls = &c.listeners[1];
    assert_eq!((tls.port, tls.address.as_deref()), (8883, Some("0.0.0.0")));
    assert!(tls.is_tls() && tls.require_certificate && tls.use_identity_as_username);
    assert_eq!(tls.cafile, Some(d.join("ca.pem")));
    assert_eq!(tls.max_connections, Some(50));
    assert_eq!(tls.defined_at, (main.clone(), 7));
    assert_eq!(c.listeners[2].protocol, ListenerProtocol::WebSockets);
    let default = c.default_listener.as_ref().unwrap();
    assert_eq!(
        (
            default.port,
            default.address.as_deref(),
            default.max_connections
        ),
        (1883, Some("127.0.0.1"), Some(100))
    );
    assert_eq!(c.all_listeners().len(), 4);
    assert!(!c.allow_anonymous());
    assert_eq!(c.password_file, Some(d.join("passwd")));
    assert_eq!(c.acl_file, Some(d.join("acl")));
    assert!(c.persistence);
    assert_eq!(c.persistence_path(), d.join("data").join("broker.db"));
    assert_eq!(c.autosave_interval, Some(300));
    assert_eq!(
        (c.max_queued_messages, c.max_queued_bytes),
        (5000, 10_000_000)
    );
    assert_eq!(c.max_inflight_messages, 10);
    assert_eq!(
        (c.message_size_limit, c.max_packet_size),
        (1_048_576, 2_097_152)
    );
    assert_eq!((c.max_keepalive, c.sys_interval), (600, 30));
    assert_eq!(c.log_types, vec![LogType::Error, LogType::Warning]);
    assert_eq!(
        c.log_dest,
        vec![
            LogDest::Stderr,
            LogDest::File(d.join("broker.log")),
            LogDest::Stdout
        ]
    );
    assert_eq!(
        c.files,
        vec![
            main.clone(),
            d.join("conf.d/10-bridge.conf"),
            d.join("conf.d/20-logs.conf")
        ]
    );

    assert_eq!(c.bridges.len(), 1);
    let b = &c.bridges[0];
    assert_eq!(b.name, "upstream");
    assert_eq!(b.addresses.len(), 2);
    assert_eq!(
        (b.addresses[0].host.as_str(), b.addresses[0].port),
        ("127.0.0.1", 18830)
    );
    assert_eq!(
        (b.addresses[1].host.as_str(), b.addresses[1].port),
        ("backup.example", 1883)
    );
    assert_eq!(b.topics.len(), 3);
    assert_eq!(b.topics[0].local_prefix.as_deref(), Some("edge/"));
    assert_eq!(b.topics[0].remote_prefix.as_deref(), Some("site1/"));
    assert_eq!(
        (b.topics[1].direction, b.topics[1].qos),
        (BridgeDirection::In, 2)
    );
    assert_eq!(b.topics[2].direction, BridgeDirection::Both);
    assert_eq!(b.remote_clientid.as_deref(), Some("edge-site1"));
    assert_eq!(b.remote_username.as_deref(), Some("edge"));
    assert_eq!(b.remote_password.as_deref(), Some("edge secret"));
    assert!(!b.cleansession && b.try_private && b.notifications && !b.insecure && b.round_robin);
    assert_eq!(b.keepalive_interval, 30);
    assert_eq!(b.protocol, BridgeProtocol::Mqtt311);
    assert_eq!(
        b.restart_timeout,
        RestartTimeout::Backoff { base: 2, cap: 20 }
    );
    assert_eq!(b.start_type, BridgeStart::Automatic);
    assert_eq!(b.cafile.as_deref(), Some(Path::new("ca.pem")));
    assert_eq!(b.certfile.as_deref(), Some(Path::new("bridge.pem")));
    assert_eq!(b.keyfile.as_deref(), Some(Path::new("bridge.key")));
}

/// What a configuration file sets reaches the broker's options, with mosquitto's meanings of 0.
#[test]
fn config_limits_reach_the_broker_options() {
    let apply = |text: &str| {
        let mut options = BrokerOptions::default();
        options
            .apply_config(&Config::parse(text, "m.conf").unwrap())
            .unwrap();
        options
    };
    let o = apply(
        "max_keepalive 120\nsys_interval 0\nmax_queued_messages 0\n\
         max_inflight_messages 5\nmax_packet_size 4096\nmessage_size_limit 1000\n",
    );
    assert_eq!(o.max_keep_alive, Some(120));
    assert_eq!(o.sys_interval, Duration::ZERO);
    assert_eq!(o.max_queued_messages, usize::MAX, "0 means no limit");
    assert_eq!(o.max_inflight_messages, 5);
    assert_eq!(
        o.max_packet_size, 4096,
        "message_size_limit counts payload only, so the packet limit is the tighter"
    );

    let o = apply("max_keepalive 0\n");
    assert_eq!(o.max_keep_alive, None, "0 means no maximum");
    // mosquitto's default maximum is 65535: a 5.0 client asking for no keep-alive gets that.
    assert_eq!(apply("").max_keep_alive, Some(65535));
}

#[test]
fn bad_config_files_are_refused_with_file_line_and_reason() {
    let dir = Scratch::new("bad-config");
    let cases: &[(&str, usize, &str, ConfigErrorKind)] = &[
        (
            "listener 1883\nlistner 1884\n",
            2,
            "unknown option `listner`",
            ConfigErrorKind::Invalid,
        ),
        (
            "listener 65536\n",
            1,
            "invalid `listener` port \"65536\": must be 0 to 65535",
            ConfigErrorKind::Invalid,
        ),
        (
            "listener -1\n",
            1,
            "invalid `listener` port \"-1\": must be 0 to 65535",
            ConfigErrorKind::Invalid,
        ),
        (
            "allow_anonymous maybe\n",
            1,
            "invalid `allow_anonymous` value \"maybe\": expected true or false",
            ConfigErrorKind::Invalid,
        ),
        (
            "max_inflight_messages 70000\n",
            1,
            "invalid `max_inflight_messages` value 70000: must be at most 65535",
            ConfigErrorKind::Invalid,
        ),
        (
            "message_size_limit 268435456\n",
            1,
            "invalid `message_size_limit` value 268435456: must be 0 to 268435455",
            ConfigErrorKind::Invalid,
        ),
        (
            "max_keepalive -5\n",
            1,
            "invalid `max_keepalive` value -5: must be 0 to 65535",
            ConfigErrorKind::Invalid,
        ),
        (
            "max_queued_bytes lots\n",
            1,
            "invalid `max_queued_bytes` value \"lots\": not a whole number",
            ConfigErrorKind::Invalid,
        ),
        (
            "acl_file a\nacl_file b\n",
            2,
            "duplicate `acl_file` value",
            ConfigErrorKind::Invalid,
        ),
        (
            "log_type chatter\n",
            1,
            "invalid `log_type` value \"chatter\": expected none, information, notice, warning, error, debug, subscribe, unsubscribe, websockets, internal or all",
            ConfigErrorKind::Invalid,
        ),
        (
            "per_listener_settings true\n",
            1,
            "`per_listener_settings true` is known to mosquitto but not supported: security options are global",
            ConfigErrorKind::Unsupported,
        ),
        (
            "\n\nmount_point x/\n",
            3,
            "`mount_point` is known to mosquitto but not supported",
            ConfigErrorKind::Unsupported,
        ),
        (
            "log_dest syslog\n",
            1,
            "`log_dest syslog` is known to mosquitto but not supported",
            ConfigErrorKind::Unsupported,
        ),
        (
            "remote_username u\n",
            1,
            "`remote_username` is a bridge option: it must follow a `connection` line (in the same file)",
            ConfigErrorKind::Invalid,
        ),
        (
            "connection c\naddress h:99999\n",
            2,
            "invalid port in bridge address \"h:99999\": must be 1 to 65535",
            ConfigErrorKind::Invalid,
        ),
        (
            "connection c\naddress h\ntopic a/# out 1 bad/+/prefix r/\n",
            3,
            "invalid bridge topic local prefix \"bad/+/prefix\": topic name contains a wildcard ('+' or '#')",
            ConfigErrorKind::Invalid,
        ),
        (
            "connection c\naddress h\ntopic x\nbridge_protocol_version mqttv6\n",
            4,
            "invalid `bridge_protocol_version` value \"mqttv6\": expected mqttv31, mqttv311, mqttv50",
            ConfigErrorKind::Invalid,
        ),
        (
            "connection c\naddress h\ntopic x\nstart_type sometimes\n",
            4,
            "invalid `start_type` value \"sometimes\": expected automatic, lazy, once",
            ConfigErrorKind::Invalid,
        ),
    ];
    for (i, (text, line, reason, kind)) in cases.iter().enumerate() {
        let file = dir.write(&format!("bad{i}.conf"), text);
        let err: ConfigError = Config::load(&file).unwrap_err();
        assert_eq!(
            (err.file.as_path(), err.line, err.reason.as_str(), err.kind),
            (file.as_path(), Some(*line), *reason, *kind),
            "for {text:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("{}:{line}: {reason}", file.display())
        );
    }

    // A bad line in an included file names that file.
    dir.write("inc/a.conf", "sys_interval 5\nsys_interval ten\n");
    let main = dir.write(
        "main.conf",
        &format!("include_dir {}\n", dir.0.join("inc").display()),
    );
    let err = Config::load(&main).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: invalid `sys_interval` value \"ten\": not a whole number",
            dir.0.join("inc/a.conf").display()
        )
    );

    // A missing file names the file.
    let missing = dir.0.join("missing.conf");
    let err = Config::load(&missing).unwrap_err();
    assert_eq!(err.kind, ConfigErrorKind::Io);
    assert!(
        err.to_string()
            .starts_with(&format!("{}: cannot read: ", missing.display())),
        "{err}"
    );
}
