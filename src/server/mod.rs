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

use crate::auth::Identity;
use crate::config::Config;

mod accept;
mod reload;
mod s3;
use crate::embedded::EmbeddedS3;
use crate::ftp::admission::Places;
use crate::ftp::context::{Accounts, Shared};
use crate::ftp::passive::PassivePorts;
use crate::storage::{StorageError, Storages};
use accept::accept_loop;
pub use reload::Reloaded;
pub use s3::probe_buckets;
use s3::{check_buckets, connect_storages, start_embedded, sweep_uploads};

/// Access key of the embedded store when the config gives none.
pub const EMBEDDED_ACCESS_KEY: &str = "s3ftpd-demo";
/// Secret key of the embedded store when the config gives none.
pub const EMBEDDED_SECRET_KEY: &str = "s3ftpd-demo-secret";

/// Longest wait at start for the conditional-write probe (see `storage::conditional`).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// A profile's bucket is missing or S3 unreachable.
    #[error("bucket {bucket:?} (key `{key}.bucket`) is not usable: {source}")]
    Bucket {
        /// The profile's section (`s3`, `storages.archive`).
        key: String,
        /// The bucket.
        bucket: String,
        /// Why.
        source: StorageError,
    },
    /// `check-config`: profiles whose buckets did not answer.
    #[error("{0}")]
    Buckets(String),
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// An identity source cannot be set up (a CA file).
    #[error("{0}")]
    Identity(String),
    /// `events:` cannot be set up (a secret file, a CA file, the outbox).
    #[error("{0}")]
    Events(String),
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
    /// What `/readyz` answers.
    readiness: Arc<crate::observe::http::Readiness>,
    tracker: TaskTracker,
    /// The sweeps of abandoned uploads running (see `s3::sweep_uploads`).
    swept: std::sync::Mutex<Vec<crate::storage::Storage>>,
    /// Stops the metrics endpoint and the readiness probe, after the drain.
    observe_stop: CancellationToken,
}

impl Gateway {
    /// Connects to S3, checks the bucket, binds the FTP port and starts serving.
    ///
    /// # Errors
    /// A [`StartError`] naming the config key at fault; nothing is left listening.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let embedded = start_embedded(&config).await?;
        let metrics = Arc::new(crate::observe::Metrics::new());
        let storages = connect_storages(&config, embedded.as_ref(), metrics.clone()).await;
        check_buckets(&config, &storages).await?;
        // Bounded: a slow answer only leaves small uploads as they were.
        let probe = storages.default_profile().probe_conditional_writes();
        if tokio::time::timeout(PROBE_TIMEOUT, probe).await.is_err() {
            tracing::info!("S3 did not answer the conditional-write probe in time");
        }
        let services = Services::load(&config)?;
        let events = crate::events::Events::start(&config.events, &storages, metrics.clone())
            .await
            .map_err(StartError::Events)?;
        let listeners = Listeners::bind(&config).await?;
        let shared = shared_state(config, storages, (services, events), metrics);
        Self::serve(shared, listeners, embedded)
    }

    /// Spawns the accept loops, the metrics endpoint and the upload sweep.
    fn serve(
        shared: Arc<Shared>,
        listeners: Listeners,
        embedded: Option<EmbeddedS3>,
    ) -> Result<Self, StartError> {
        let Listeners {
            ftp,
            ftp_addr,
            implicit,
            observe,
        } = listeners;
        let ftps_addr = implicit.as_ref().and_then(|l| l.local_addr().ok());
        let metrics_addr = observe.as_ref().and_then(|l| l.local_addr().ok());
        let places = Places::new(&shared.config.limits);
        let readiness: Arc<crate::observe::http::Readiness> = Arc::default();
        let proxy = crate::ftp::proxy::ProxyTrust::new(&shared.config.proxy_protocol.trusted);
        let tracker = TaskTracker::new();
        let observe_stop = CancellationToken::new();
        let swept = std::sync::Mutex::default();
        let accounts = shared.accounts.load_full();
        let abandoned = shared.config.uploads.abandoned_after.0;
        sweep_uploads(&accounts.storages, &swept, abandoned, &observe_stop);
        if let Some(l) = observe {
            let counts = shared.clone();
            let storage = accounts.storages.default_profile().clone();
            let bucket: crate::observe::http::BucketProbe = Arc::new(move || {
                let storage = storage.clone();
                Box::pin(async move { storage.check_bucket().await.is_ok() })
            });
            crate::observe::http::spawn(
                shared.metrics.clone(),
                readiness.clone(),
                bucket,
                Arc::new(move || counts.bans.bans_total()),
                l,
                &observe_stop,
            );
        }
        for (listener, implicit_tls) in implicit
            .into_iter()
            .map(|l| (l, true))
            .chain([(ftp, false)])
        {
            tracker.spawn(accept_loop(
                listener,
                implicit_tls,
                shared.clone(),
                proxy.clone(),
                places.clone(),
                tracker.clone(),
            ));
        }
        if ftps_addr.is_some() {
            tracing::info!(?ftps_addr, "implicit FTPS listening");
        }
        tracing::info!(%ftp_addr, "FTP server listening");
        Ok(Self {
            ftp_addr,
            ftps_addr,
            metrics_addr,
            embedded,
            shared,
            readiness,
            tracker,
            swept,
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
        self.readiness.drain();
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
        // After the drain: every committed change has handed its event over.
        self.shared.events.stop().await;
        self.observe_stop.cancel();
        tracing::info!("shutdown complete");
    }
}

/// What sessions use besides storage: accounts, TLS, the transfer log.
struct Services {
    identity: Identity,
    tls: Option<crate::tls::Ftps>,
    transfer_log: Option<crate::xferlog::TransferLog>,
}

impl Services {
    fn load(config: &Config) -> Result<Self, StartError> {
        let identity =
            Identity::from_config(Arc::new(config.clone())).map_err(StartError::Identity)?;
        let tls = config
            .tls
            .as_ref()
            .map(crate::tls::Ftps::load)
            .transpose()?;
        let transfer_log = match &config.log.transfer_log {
            Some(path) => Some(crate::xferlog::TransferLog::open(path).map_err(|source| {
                StartError::TransferLog {
                    path: path.display().to_string(),
                    source,
                }
            })?),
            None => None,
        };
        for w in config.identity_warnings() {
            tracing::warn!("{w}");
        }
        for name in identity.users().plain_text_users() {
            if !config.s3.is_embedded() || name != "demo" {
                tracing::warn!(user = %name, "plain-text password in the config; use password_hash (s3ftpd hash-password)");
            }
        }
        Ok(Self {
            identity,
            tls,
            transfer_log,
        })
    }
}

/// The sockets, bound before anything is served.
struct Listeners {
    ftp: TcpListener,
    ftp_addr: SocketAddr,
    implicit: Option<TcpListener>,
    observe: Option<TcpListener>,
}

impl Listeners {
    async fn bind(config: &Config) -> Result<Self, StartError> {
        async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { addr, source })
        }
        let ftp = bind(config.listen).await?;
        let ftp_addr = ftp.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let implicit = match config.tls.as_ref().and_then(|t| t.implicit_listen) {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let observe = match config.metrics.listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        Ok(Self {
            ftp,
            ftp_addr,
            implicit,
            observe,
        })
    }
}

/// What every session shares.
fn shared_state(
    config: Config,
    storages: Storages,
    (services, events): (Services, crate::events::Events),
    metrics: Arc<crate::observe::Metrics>,
) -> Arc<Shared> {
    let limits = &config.limits;
    let timeouts = config.timeouts();
    let trust = || crate::ftp::proxy::ProxyTrust::new(&config.proxy_protocol.trusted);
    let bans = crate::ftp::bans::Bans::new(
        limits.ban_after_failures,
        limits.ban_window.0,
        limits.ban_duration.0,
    );
    let accounts = Accounts {
        identity: services.identity,
        storages,
    };
    Arc::new(Shared {
        ports: PassivePorts::new(config.passive.ports, trust(), timeouts.handshake),
        bans,
        accounts: arc_swap::ArcSwap::from_pointee(accounts),
        ip_rule: crate::config::networks::IpRule::new(&limits.allow_from, &limits.deny_from),
        bandwidth: crate::ftp::bandwidth::Bandwidth::new(
            limits.upload_bandwidth.map(|r| r.0),
            limits.download_bandwidth.map(|r| r.0),
        ),
        shutdown: CancellationToken::new(),
        abort: CancellationToken::new(),
        tls: services.tls,
        transfer_log: services.transfer_log,
        events,
        metrics,
        timeouts,
        config: Arc::new(config),
    })
}
