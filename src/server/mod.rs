//! The gateway: S3 connection, FTP listener, session limits and graceful shutdown.
//!
//! [`Gateway::start`] does everything that can fail before a port is bound
//! (config, S3 reachable, bucket present), then binds and serves. Shutdown
//! stops accepting, lets running transfers drain until a deadline, then
//! cancels what is left (multipart uploads are aborted by their owners).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Users;
use crate::config::Config;

mod accept;
use crate::embedded::EmbeddedS3;
use crate::ftp::admission::Places;
use crate::ftp::passive::PassivePorts;
use crate::ftp::session::Shared;
use crate::storage::{Endpoint, Storage, StorageError};
use accept::accept_loop;

/// Access key of the embedded store when the config gives none.
pub const EMBEDDED_ACCESS_KEY: &str = "s3ftpd-demo";
/// Secret key of the embedded store when the config gives none.
pub const EMBEDDED_SECRET_KEY: &str = "s3ftpd-demo-secret";

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The FTP listener could not be bound.
    #[error("cannot listen on {addr} (key `listen`): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The embedded store could not start.
    #[error("cannot start the embedded S3 store in {dir} (key `s3.data_dir`): {source}")]
    Embedded {
        /// Its data directory.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// The bucket is missing or S3 unreachable.
    #[error("bucket {bucket:?} (key `s3.bucket`) is not usable: {source}")]
    Bucket {
        /// The bucket.
        bucket: String,
        /// Why.
        source: StorageError,
    },
    /// A home directory could not be mapped.
    #[error("invalid home directory: {0}")]
    Home(#[from] crate::ftp::path::PathError),
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The transfer log cannot be opened.
    #[error("cannot open the transfer log {path} (key `log.transfer_log`): {source}")]
    TransferLog {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    ftp_addr: SocketAddr,
    ftps_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    embedded: Option<EmbeddedS3>,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    /// Stops the metrics endpoint and the readiness probe, after the drain.
    observe_stop: CancellationToken,
}

impl Gateway {
    /// Connects to S3, checks the bucket, binds the FTP port and starts serving.
    ///
    /// # Errors
    /// A [`StartError`] naming the config key at fault; nothing is left listening.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let mut embedded = None;
        let endpoint = if config.s3.is_embedded() {
            let (ak, sk) = match (&config.s3.access_key_id, &config.s3.secret_access_key) {
                (Some(ak), Some(sk)) => (ak.clone(), sk.expose().to_owned()),
                _ => (
                    EMBEDDED_ACCESS_KEY.to_owned(),
                    EMBEDDED_SECRET_KEY.to_owned(),
                ),
            };
            let listen: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
            let store = EmbeddedS3::start(&config.s3.data_dir, listen, &config.s3.bucket, &ak, &sk)
                .await
                .map_err(|source| StartError::Embedded {
                    dir: config.s3.data_dir.display().to_string(),
                    source,
                })?;
            let ep = Endpoint {
                url: Some(store.endpoint.clone()),
                keys: Some((ak, sk)),
            };
            embedded = Some(store);
            ep
        } else {
            remote_endpoint(&config.s3)
        };
        let metrics = Arc::new(crate::observe::Metrics::new());
        let storage = Storage::connect(&config.s3, &endpoint, metrics.clone()).await;
        storage
            .check_bucket()
            .await
            .map_err(|source| StartError::Bucket {
                bucket: config.s3.bucket.clone(),
                source,
            })?;
        let users = Users::from_config(&config)?;
        let tls = config.tls.as_ref().map(crate::tls::Tls::load).transpose()?;
        let transfer_log = match &config.log.transfer_log {
            Some(path) => Some(crate::xferlog::TransferLog::open(path).map_err(|source| {
                StartError::TransferLog {
                    path: path.display().to_string(),
                    source,
                }
            })?),
            None => None,
        };
        for name in users.plain_text_users() {
            if !config.s3.is_embedded() || name != "demo" {
                tracing::warn!(user = %name, "plain-text password in the config; use password_hash (s3ftpd hash-password)");
            }
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let ftp_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let implicit = match config.tls.as_ref().and_then(|t| t.implicit_listen) {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let ftps_addr = implicit.as_ref().and_then(|l| l.local_addr().ok());
        let observe = match config.metrics.listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let metrics_addr = observe.as_ref().and_then(|l| l.local_addr().ok());
        let places = Places::new(&config.limits);
        let config_limits = config.limits.clone();
        let config_proxy = config.proxy_protocol.trusted.clone();
        let shared = Arc::new(Shared {
            ports: PassivePorts::new(
                config.passive.ports,
                crate::ftp::proxy::ProxyTrust::new(&config_proxy),
            ),
            config: Arc::new(config),
            storage,
            users,
            shutdown: CancellationToken::new(),
            abort: CancellationToken::new(),
            tls,
            transfer_log,
            metrics,
            readiness: Arc::default(),
            proxy: crate::ftp::proxy::ProxyTrust::new(&config_proxy),
            bans: crate::ftp::bans::Bans::new(
                config_limits.ban_after_failures,
                config_limits.ban_window.0,
                config_limits.ban_duration.0,
            ),
        });
        let tracker = TaskTracker::new();
        let observe_stop = CancellationToken::new();
        // The served root as a key prefix (`a/b/`), so the sweep never
        // touches `a/bc/` of a neighbour.
        let served = crate::ftp::path::Root::new(&shared.config.s3.prefix, "/")?;
        tokio::spawn(shared.storage.clone().clean_uploads(
            served.base().to_owned(),
            shared.config.uploads.abandoned_after.0,
            observe_stop.clone(),
        ));
        if let Some(l) = observe {
            let counts = shared.clone();
            crate::observe::http::spawn(
                shared.metrics.clone(),
                shared.readiness.clone(),
                shared.storage.clone(),
                Arc::new(move || counts.bans.bans_total()),
                l,
                &observe_stop,
            );
        }
        if let Some(l) = implicit {
            tracker.spawn(accept_loop(
                l,
                true,
                shared.clone(),
                places.clone(),
                tracker.clone(),
            ));
            tracing::info!(?ftps_addr, "implicit FTPS listening");
        }
        tracker.spawn(accept_loop(
            listener,
            false,
            shared.clone(),
            places,
            tracker.clone(),
        ));
        tracing::info!(%ftp_addr, "FTP server listening");
        Ok(Self {
            ftp_addr,
            ftps_addr,
            metrics_addr,
            embedded,
            shared,
            tracker,
            observe_stop,
        })
    }

    /// The FTP control address actually bound.
    #[must_use]
    pub fn ftp_addr(&self) -> SocketAddr {
        self.ftp_addr
    }

    /// The metrics/health endpoint address actually bound, when configured.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The implicit FTPS address actually bound, when configured.
    #[must_use]
    pub fn ftps_addr(&self) -> Option<SocketAddr> {
        self.ftps_addr
    }

    /// Re-reads the TLS certificate and key (SIGHUP); sessions stay up.
    ///
    /// # Errors
    /// When the new files cannot be used; the old certificate stays in use.
    pub fn reload_tls(&self) -> Result<(), crate::tls::TlsError> {
        match &self.shared.tls {
            Some(tls) => tls.reload(),
            None => Ok(()),
        }
    }

    /// The embedded store, when this gateway runs one.
    #[must_use]
    pub fn embedded(&self) -> Option<&EmbeddedS3> {
        self.embedded.as_ref()
    }

    /// Stops accepting, closes idle sessions, lets transfers run for up to
    /// `drain`, then aborts the rest and waits for them to clean up. An
    /// embedded store keeps serving until the gateway is dropped.
    pub async fn shutdown(&self, drain: Duration) {
        tracing::info!(?drain, "shutting down");
        self.shared.readiness.drain();
        self.shared.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(drain, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("drain deadline reached; aborting running transfers");
            self.shared.abort.cancel();
            if tokio::time::timeout(Duration::from_secs(30), self.tracker.wait())
                .await
                .is_err()
            {
                tracing::error!("sessions did not finish after abort");
            }
        }
        self.observe_stop.cancel();
        tracing::info!("shutdown complete");
    }
}

/// The S3 endpoint of a config that does not use the embedded store.
fn remote_endpoint(s3: &crate::config::S3) -> Endpoint {
    Endpoint {
        url: s3.endpoint.clone(),
        keys: s3
            .access_key_id
            .clone()
            .zip(s3.secret_access_key.as_ref().map(|s| s.expose().to_owned())),
    }
}

/// What `check-config` asks of S3: the bucket answers HeadBucket with the
/// configured endpoint and keys (the embedded store is made at start, so
/// there is nothing to ask).
///
/// # Errors
/// [`StartError::Bucket`] when it does not.
pub async fn probe_bucket(config: &Config) -> Result<(), StartError> {
    if config.s3.is_embedded() {
        return Ok(());
    }
    let metrics = Arc::new(crate::observe::Metrics::new());
    let storage = Storage::connect(&config.s3, &remote_endpoint(&config.s3), metrics).await;
    storage
        .check_bucket()
        .await
        .map_err(|source| StartError::Bucket {
            bucket: config.s3.bucket.clone(),
            source,
        })
}
