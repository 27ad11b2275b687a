//! FTPS: the rustls server configuration, loaded from PEM files and reloadable.
//!
//! TLS 1.2 and 1.3 only. Sessions can be resumed (a session cache for TLS 1.2
//! session IDs and stateful TLS 1.3 tickets, plus stateless tickets), which
//! is what lets a data connection prove it belongs to the control
//! connection's TLS session (RFC 4217 §10.2, vsftpd's `require_ssl_reuse`).
//! The certificate is held by a resolver that [`Ftps::reload`] swaps in
//! place, so SIGHUP renews it without dropping sessions or the session cache.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::ring as crypto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::config;

/// Why the certificate or key cannot be used; names the config key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is missing, unreadable or holds no certificate.
    #[error("cannot use certificate {path} (key `tls.cert`): {why}")]
    Cert {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The client CA file is missing, unreadable or holds no certificate.
    #[error("cannot use client CA {path} (key `tls.client_ca`): {why}")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The key file is missing, unreadable, unsupported or does not match the certificate.
    #[error("cannot use private key {path} (key `tls.key`): {why}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// Serves the current certificate; swapped by [`Ftps::reload`].
#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().expect("cert lock poisoned").clone())
    }
}

/// The FTPS configuration of a running server.
#[derive(Clone)]
pub struct Ftps {
    acceptor: TlsAcceptor,
    data_acceptor: TlsAcceptor,
    resolver: Arc<Resolver>,
    cert: PathBuf,
    key: PathBuf,
}

fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_err = |why: String| TlsError::Cert {
        path: cert.to_owned(),
        why,
    };
    let key_err = |why: String| TlsError::Key {
        path: key.to_owned(),
        why,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no PEM certificate in the file".into()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| key_err(e.to_string()))?;
    let provider = crypto::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| key_err(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| key_err(format!("does not match the certificate: {e}")))?;
    Ok(Arc::new(certified))
}

/// Client certificates: none asked for without `tls.client_ca`; with it,
/// asked for and, when sent, verified (trusted, in date), never required
/// by the handshake — each account's `certificate` says what it needs.
fn client_verifier(
    cfg: &config::Tls,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let Some(path) = &cfg.client_ca else {
        return Ok(rustls::server::WebPkiClientVerifier::no_client_auth());
    };
    let err = |why: String| TlsError::ClientCa {
        path: path.clone(),
        why,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))? {
        roots
            .add(cert.map_err(|e| err(e.to_string()))?)
            .map_err(|e| err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(err("no PEM certificate in the file".into()));
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(crypto::default_provider()),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| err(e.to_string()))
}

/// Whether a failed handshake was the client certificate's fault
/// (untrusted, expired, revoked): worth its own log line.
#[must_use]
pub fn is_client_cert_error(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        })
}

impl std::fmt::Debug for Ftps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ftps")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Ftps {
    /// Loads the certificate and key and builds the server configuration.
    ///
    /// # Errors
    /// A [`TlsError`] naming the file and config key at fault.
    pub fn load(cfg: &config::Tls) -> Result<Self, TlsError> {
        let resolver = Arc::new(Resolver(RwLock::new(load(&cfg.cert, &cfg.key)?)));
        let provider = Arc::new(crypto::default_provider());
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
            .map_err(|e| TlsError::Cert {
                path: cfg.cert.clone(),
                why: e.to_string(),
            })?
            .with_client_cert_verifier(client_verifier(cfg)?)
            .with_cert_resolver(resolver.clone());
        server.session_storage = ServerSessionMemoryCache::new(4096);
        server.ticketer = crypto::Ticketer::new().map_err(|e| TlsError::Cert {
            path: cfg.cert.clone(),
            why: e.to_string(),
        })?;
        // Data connections resume the control connection's session and need no
        // tickets of their own. Sending them hurts: an uploading client never
        // reads them, so its close turns into a TCP reset that can arrive before
        // the server has read the last bytes (seen with lftp/GnuTLS and TLS 1.3).
        let mut data = server.clone();
        data.send_tls13_tickets = 0;
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            data_acceptor: TlsAcceptor::from(Arc::new(data)),
            resolver,
            cert: cfg.cert.clone(),
            key: cfg.key.clone(),
        })
    }

    /// Re-reads the certificate and key; on error the old ones stay in use.
    ///
    /// # Errors
    /// A [`TlsError`] naming the file at fault.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = load(&self.cert, &self.key)?;
        *self.resolver.0.write().expect("cert lock poisoned") = fresh;
        Ok(())
    }

    /// The acceptor for control connections.
    #[must_use]
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// The acceptor for data connections: same certificate, session cache and
    /// ticket keys, but it issues no new session tickets.
    #[must_use]
    pub fn data_acceptor(&self) -> &TlsAcceptor {
        &self.data_acceptor
    }
}
