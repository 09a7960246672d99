//! TLS settings shared by the broker's listeners and the client: PEM loading, rustls
//! configurations (TLS 1.2 and 1.3 with the ring provider, ALPN "mqtt"), and the identity a peer
//! certificate carries. The handshake and record layer are rustls's; nothing here is crypto.

use std::fmt;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The ALPN protocol name MQTT over TLS uses (IANA registry, "mqtt").
pub const ALPN_MQTT: &[u8] = b"mqtt";

/// Why TLS settings could not be turned into a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// PEM data, from a file or given in memory.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    File(String),
    Memory(Vec<u8>),
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(path) => write!(f, "Pem::File({path:?})"),
            // Key material is not printed.
            Pem::Memory(bytes) => write!(f, "Pem::Memory({} bytes)", bytes.len()),
        }
    }
}

impl Pem {
    fn bytes(&self, what: &str) -> Result<Vec<u8>, TlsError> {
        match self {
            Pem::Memory(bytes) => Ok(bytes.clone()),
            Pem::File(path) => {
                fs::read(Path::new(path)).map_err(|e| TlsError(format!("{what} {path}: {e}")))
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Pem::File(path) => path.clone(),
            Pem::Memory(_) => "(in memory)".into(),
        }
    }

    /// Every certificate in the PEM data, in order; at least one.
    pub fn certificates(&self, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let bytes = self.bytes(what)?;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError(format!("{what} {}: {e}", self.name())))?;
        if certs.is_empty() {
            return Err(TlsError(format!(
                "{what} {}: no PEM certificate found",
                self.name()
            )));
        }
        Ok(certs)
    }

    /// The private key in the PEM data (PKCS#8, PKCS#1 or SEC1).
    pub fn private_key(&self, what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
        let bytes = self.bytes(what)?;
        PrivateKeyDer::from_pem_slice(&bytes)
            .map_err(|e| TlsError(format!("{what} {}: {e}", self.name())))
    }
}

/// The oldest TLS version a side accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (default).
    #[default]
    V1_2,
    /// TLS 1.3 only.
    V1_3,
}

impl TlsVersion {
    fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            TlsVersion::V1_2 => rustls::ALL_VERSIONS,
            TlsVersion::V1_3 => &TLS13_ONLY,
        }
    }
}

/// Whether a listener asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for (default).
    #[default]
    None,
    /// A certificate is asked for and checked against the CA when given; clients without one
    /// are still accepted.
    Request,
    /// A certificate signed by the CA is required (mosquitto's `require_certificate true`).
    Require,
}

/// A TLS listener's settings (mosquitto's `certfile`, `keyfile`, `cafile`,
/// `require_certificate`, `use_identity_as_username`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// The certificate chain, leaf first.
    pub certificate_chain: Pem,
    pub private_key: Pem,
    /// The CAs that sign client certificates; needed unless `client_auth` is `None`.
    pub client_ca: Option<Pem>,
    pub client_auth: ClientAuth,
    /// The client certificate's Common Name (or, without one, its whole subject) becomes the
    /// connection's user name, replacing what CONNECT says; requires client certificates.
    pub use_identity_as_username: bool,
    /// The oldest TLS version accepted (mosquitto's `tls_version`).
    pub min_version: TlsVersion,
}

impl ServerTls {
    pub fn new(certificate_chain: Pem, private_key: Pem) -> ServerTls {
        ServerTls {
            certificate_chain,
            private_key,
            client_ca: None,
            client_auth: ClientAuth::None,
            use_identity_as_username: false,
            min_version: TlsVersion::V1_2,
        }
    }

    /// Builds the rustls configuration, reading the files now (so a reload reads them again).
    pub fn config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(self.min_version.versions())
            .map_err(|e| TlsError(e.to_string()))?;
        let builder = match (self.client_auth, &self.client_ca) {
            (ClientAuth::None, _) => builder.with_no_client_auth(),
            (_, None) => {
                return Err(TlsError(
                    "client certificates need a CA file (cafile)".into(),
                ));
            }
            (auth, Some(ca)) => {
                let mut roots = RootCertStore::empty();
                for cert in ca.certificates("CA file")? {
                    roots
                        .add(cert)
                        .map_err(|e| TlsError(format!("CA file {}: {e}", ca.name())))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = match auth {
                    ClientAuth::Request => verifier.allow_unauthenticated(),
                    _ => verifier,
                }
                .build()
                .map_err(|e| TlsError(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        if self.use_identity_as_username && self.client_auth == ClientAuth::None {
            return Err(TlsError(
                "use_identity_as_username needs client certificates (require_certificate)".into(),
            ));
        }
        let chain = self.certificate_chain.certificates("certificate file")?;
        let key = self.private_key.private_key("key file")?;
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| TlsError(format!("certificate and key: {e}")))?;
        config.alpn_protocols = vec![ALPN_MQTT.to_vec()];
        Ok(Arc::new(config))
    }
}

/// A client's TLS settings (libmosquitto's `tls_set`, Paho's SSLOptions).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientTls {
    /// The CAs to trust; `None` uses the system's store.
    pub ca: Option<Pem>,
    /// A client certificate chain and its key, for servers that ask for one.
    pub certificate: Option<(Pem, Pem)>,
    /// Accept any server certificate and name: for tests only (libmosquitto's
    /// `tls_insecure_set` goes half as far, skipping only the name check).
    pub insecure: bool,
    /// The name to verify and send as SNI instead of the host connected to.
    pub server_name: Option<String>,
    /// The oldest TLS version accepted.
    pub min_version: TlsVersion,
}

impl ClientTls {
    /// Builds the rustls configuration (ALPN "mqtt").
    pub fn config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let provider = Arc::new(default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(self.min_version.versions())
            .map_err(|e| TlsError(e.to_string()))?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(insecure::AcceptAnything(provider)))
        } else {
            let mut roots = RootCertStore::empty();
            match &self.ca {
                Some(ca) => {
                    for cert in ca.certificates("CA file")? {
                        roots
                            .add(cert)
                            .map_err(|e| TlsError(format!("CA file {}: {e}", ca.name())))?;
                    }
                }
                None => {
                    let found = rustls_native_certs::load_native_certs();
                    let (added, _) = roots.add_parsable_certificates(found.certs);
                    if added == 0 {
                        return Err(TlsError(
                            "no CA file given and no system CA certificates found".into(),
                        ));
                    }
                }
            }
            builder.with_root_certificates(roots)
        };
        let mut config = match &self.certificate {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder
                .with_client_auth_cert(
                    chain.certificates("certificate file")?,
                    key.private_key("key file")?,
                )
                .map_err(|e| TlsError(format!("client certificate and key: {e}")))?,
        };
        config.alpn_protocols = vec![ALPN_MQTT.to_vec()];
        Ok(Arc::new(config))
    }
}

/// The identity a client certificate names: its subject's Common Name, or the whole subject
/// (RFC 4514 form) when it has none — what mosquitto's `use_identity_as_username` takes.
pub fn certificate_identity(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    let subject = parsed.subject();
    if let Some(cn) = subject.iter_common_name().next() {
        return cn.as_str().ok().map(str::to_owned);
    }
    let whole = subject.to_string();
    (!whole.is_empty()).then_some(whole)
}

mod insecure {
    //! The verifier behind [`super::ClientTls::insecure`]: signatures are still checked with
    //! the provider's algorithms, but the certificate and the name are not.

    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, Error, SignatureScheme};

    #[derive(Debug)]
    pub(super) struct AcceptAnything(pub(super) Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnything {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
