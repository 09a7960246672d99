//! For the TLS tests of the `client` and `interop` binaries: a small PKI made by the test with
//! rcgen (a CA, and server and client certificates it signs) in a temporary directory, and
//! mosquitto with a TLS listener besides its plain one.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::mosquitto::{Mosquitto, free_port};

/// A CA and the files of the certificates it issued, in a directory removed on drop. Every file
/// is readable by all: mosquitto started as root reads them as user mosquitto.
pub struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert: String,
    pub key: String,
}

impl Pki {
    /// A new CA named `name`, its certificate written to [`Pki::ca_file`].
    pub fn new(name: &str) -> Pki {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mqtt-tls-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("create the PKI directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let ca_key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&ca_key).expect("CA certificate");
        let pki = Pki { dir, ca, ca_key };
        pki.write("ca.pem", &pki.ca.pem());
        pki
    }

    fn write(&self, file: &str, text: &str) -> String {
        let path = self.dir.join(file);
        fs::write(&path, text).expect("write a PEM file");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        path.to_str().expect("a UTF-8 temp path").to_owned()
    }

    /// The CA certificate's file.
    pub fn ca_file(&self) -> String {
        self.dir.join("ca.pem").to_str().unwrap().to_owned()
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses, the first also the
    /// common name), written to `file`.pem and `file`.key.
    pub fn server(&self, file: &str, names: &[&str]) -> Issued {
        self.issue(file, names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// Issues a client certificate with common name `name`.
    pub fn client(&self, file: &str, name: &str) -> Issued {
        self.issue(file, &[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(&self, file: &str, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Issued {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("certificate names");
        params
            .distinguished_name
            .push(DnType::CommonName, &names[0]);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign the certificate");
        Issued {
            cert: self.write(&format!("{file}.pem"), &cert.pem()),
            key: self.write(&format!("{file}.key"), &key.serialize_pem()),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// mosquitto with anonymous access on its plain port and a TLS listener on `tls_port`
/// (127.0.0.1), presenting `server` and trusting client certificates of `pki`'s CA.
pub struct TlsMosquitto {
    pub broker: Mosquitto,
    pub tls_port: u16,
}

impl TlsMosquitto {
    /// Starts it, `require_certificate` asking every TLS client for a certificate of the CA;
    /// `None` (after saying why) when mosquitto is missing outside CI.
    pub fn start(pki: &Pki, server: &Issued, require_certificate: bool) -> Option<TlsMosquitto> {
        let tls_port = free_port();
        let extra = format!(
            "allow_anonymous true\nlistener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\n\
             keyfile {}\nrequire_certificate {require_certificate}\n",
            pki.ca_file(),
            server.cert,
            server.key,
        );
        let broker = Mosquitto::start_with(&extra, &[])?;
        Some(TlsMosquitto { broker, tls_port })
    }
}
