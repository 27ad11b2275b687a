//! Building storages: one [`Storage`] per storage profile, S3 clients shared
//! per distinct endpoint + region + addressing + credentials, per-bucket
//! state shared per bucket on a client, and one cap on S3 requests for all.
//!
//! **The cap.** `s3.max_connections` places are shared by every client:
//! a request takes a place of its endpoint's share and one of the whole,
//! and holds both until its response body is dropped. With more than one
//! distinct client, each may hold at most three quarters of the places
//! (at least one), so an endpoint that stalls — its requests waiting out
//! their deadlines — leaves a quarter to every other.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use tokio::sync::Semaphore;

use super::{Storage, StorageError, deadline, instrument, pool, writes::Writes};
use crate::config;

/// Where to reach S3 and with which keys (resolved from config, or the embedded store).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct S3Access {
    /// URL, or `None` for AWS.
    pub url: Option<String>,
    /// Static keys, or `None` for the AWS chain.
    pub keys: Option<(String, String)>,
}

impl S3Access {
    /// Whether this is AWS S3 (no endpoint, or one of `amazonaws.com`),
    /// whose documented request rates per prefix the gateway keeps under.
    #[must_use]
    pub fn is_aws(&self) -> bool {
        self.url.as_deref().is_none_or(|u| {
            let host = u.split("://").nth(1).unwrap_or(u);
            let host = host.split(['/', ':']).next().unwrap_or(host);
            host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
        })
    }
}

/// What every profile on one bucket of one client shares: what the gateway
/// learnt of the bucket and what it is doing in it.
#[derive(Debug, Clone)]
pub(super) struct BucketState {
    pub(super) mtimes: Arc<super::lookups::MtimeCache>,
    pub(super) conditional: Arc<super::conditional::Conditional>,
    pub(super) versions: Arc<super::versions::Versions>,
    pub(super) folders: Arc<super::folders::Folders>,
    pub(super) aborts: Arc<super::AbortQueue>,
    pub(super) live: Arc<dashmap::DashSet<String>>,
    pub(super) failed: Arc<super::resume::FailedOverwrites>,
    /// The conditional-write probe has been started for this bucket.
    pub(super) probing: Arc<AtomicBool>,
    pub(super) usage: Arc<dashmap::DashMap<String, Arc<super::usage::Usage>>>,
}

impl BucketState {
    /// The state of a bucket at `access` whose requests share `max_connections`.
    fn new(max_connections: usize, access: &S3Access) -> Self {
        Self {
            mtimes: Arc::new(super::lookups::MtimeCache::new(
                max_connections,
                access.is_aws(),
            )),
            conditional: Arc::default(),
            versions: Arc::default(),
            folders: Arc::default(),
            aborts: Arc::default(),
            live: Arc::default(),
            failed: Arc::default(),
            probing: Arc::default(),
            usage: Arc::default(),
        }
    }
}

/// One client's identity: what must all match for two profiles to share it.
type ClientKey = (S3Access, String, bool);

/// The AWS SDK client of `cfg` at `access`, its requests through `http`.
async fn client(
    cfg: &config::S3,
    access: &S3Access,
    http: pool::CappedClient,
    metrics: &Arc<crate::observe::Metrics>,
) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(cfg.region.clone()))
        .http_client(pool::https_client());
    if let Some((ak, sk)) = &access.keys {
        loader = loader.credentials_provider(Credentials::new(ak, sk, None, None, "s3ftpd-config"));
    }
    let sdk = loader.load().await;
    let mut b = aws_sdk_s3::config::Builder::from(&sdk)
        .http_client(http)
        .force_path_style(cfg.path_style)
        .timeout_config(deadline::client_timeouts(cfg.timeout.0))
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .interceptor(instrument::S3Metrics(metrics.clone()));
    if let Some(url) = &access.url {
        b = b.endpoint_url(url);
    }
    Client::from_conf(b.build())
}

impl Storage {
    /// A storage of one profile (`name`) on `client`.
    fn new(
        name: &str,
        cfg: &config::S3,
        client: Client,
        client_id: usize,
        state: BucketState,
        metrics: Arc<crate::observe::Metrics>,
    ) -> Self {
        Self {
            name: name.into(),
            client,
            client_id,
            bucket: cfg.bucket.clone(),
            part_size: cfg.part_size.0,
            concurrency: cfg.upload_concurrency,
            download_concurrency: cfg.download_concurrency,
            list_mtime: cfg.list_mtime,
            prefix: cfg.prefix.as_str().into(),
            root: config::normalise_prefix(&config::static_prefix(&cfg.prefix)),
            copy_part_limit: super::schedule::MAX_PART,
            timeout: cfg.timeout.0,
            writes: Arc::new(Writes::from_config(cfg)),
            health: Arc::default(),
            own_writes: !cfg.read_only,
            mtimes: state.mtimes,
            conditional: state.conditional,
            versions: state.versions,
            folders: state.folders,
            aborts: state.aborts,
            live: state.live,
            failed: state.failed,
            probing: state.probing,
            usage: state.usage,
            metrics,
        }
    }

    /// A storage of one bucket with its own client and cap (`cfg`'s
    /// `max_connections`): tools, tests and benches; the gateway builds
    /// all of its profiles at once with [`Storages::connect`].
    pub async fn connect(
        cfg: &config::S3,
        access: &S3Access,
        metrics: Arc<crate::observe::Metrics>,
    ) -> Self {
        let places = Arc::new(Semaphore::new(cfg.max_connections));
        let http = pool::CappedClient::new(places.clone(), places);
        let c = client(cfg, access, http, &metrics).await;
        Self::new(
            config::DEFAULT_PROFILE,
            cfg,
            c,
            0,
            BucketState::new(cfg.max_connections, access),
            metrics,
        )
    }

    /// Checks that the bucket exists and is reachable, and says so in the
    /// profile's `s3ftpd_storage_reachable`.
    ///
    /// # Errors
    /// When it is not.
    pub async fn check_bucket(&self) -> Result<(), StorageError> {
        let answer = self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("HeadBucket", e));
        self.metrics
            .storage_reachable
            .with_label_values(&[&self.name])
            .set(i64::from(answer.is_ok()));
        answer.map(drop)
    }
}

/// Every storage profile of the configuration, by name.
#[derive(Debug, Clone)]
pub struct Storages {
    by_name: BTreeMap<String, Storage>,
    base: Arc<Base>,
}

/// What outlives a reload: the cap, the clients by identity and the
/// per-bucket state (uploads in progress, what was learnt of each bucket).
#[derive(Debug)]
struct Base {
    max_connections: usize,
    all: Arc<Semaphore>,
    clients: tokio::sync::Mutex<BTreeMap<ClientKey, (Client, usize)>>,
    buckets: std::sync::Mutex<BTreeMap<(usize, String), BucketState>>,
    metrics: Arc<crate::observe::Metrics>,
}

impl Base {
    /// The storages of `profiles`, on the clients and bucket states this
    /// base already has where they match, new ones where not.
    async fn build(self: &Arc<Self>, profiles: &[(String, config::S3, S3Access)]) -> Storages {
        let keys: std::collections::BTreeSet<ClientKey> = profiles
            .iter()
            .map(|(_, cfg, access)| (access.clone(), cfg.region.clone(), cfg.path_style))
            .collect();
        let share = if keys.len() > 1 {
            (self.max_connections * 3 / 4).max(1)
        } else {
            self.max_connections
        };
        let mut clients = self.clients.lock().await;
        let mut by_name = BTreeMap::new();
        for (name, cfg, access) in profiles {
            let key = (access.clone(), cfg.region.clone(), cfg.path_style);
            if !clients.contains_key(&key) {
                let http =
                    pool::CappedClient::new(self.all.clone(), Arc::new(Semaphore::new(share)));
                let id = clients.len();
                let c = client(cfg, access, http, &self.metrics).await;
                clients.insert(key.clone(), (c, id));
            }
            let (c, id) = clients[&key].clone();
            let state = self
                .buckets
                .lock()
                .expect("bucket states")
                .entry((id, cfg.bucket.clone()))
                .or_insert_with(|| BucketState::new(self.max_connections, access))
                .clone();
            let storage = Storage::new(name, cfg, c, id, state, self.metrics.clone());
            by_name.insert(name.clone(), storage);
        }
        Storages {
            by_name,
            base: self.clone(),
        }
    }
}

impl Storages {
    /// Builds every profile (`default` first), sharing a client where
    /// endpoint, region, addressing and credentials all match, per-bucket
    /// state per bucket on a client, and `max_connections` places among
    /// all clients (see the module docs). No request is made.
    pub async fn connect(
        profiles: &[(String, config::S3, S3Access)],
        max_connections: usize,
        metrics: Arc<crate::observe::Metrics>,
    ) -> Self {
        let base = Arc::new(Base {
            max_connections,
            all: Arc::new(Semaphore::new(max_connections)),
            clients: tokio::sync::Mutex::default(),
            buckets: std::sync::Mutex::default(),
            metrics,
        });
        base.build(profiles).await
    }

    /// The profiles of a reloaded configuration, under the same cap: a
    /// profile on a client and bucket these storages already use keeps
    /// them — its uploads in progress, what was learnt of the bucket —
    /// whatever its name; a new endpoint or new keys get a new client.
    pub async fn reconnect(&self, profiles: &[(String, config::S3, S3Access)]) -> Self {
        self.base.build(profiles).await
    }

    /// The profile called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Storage> {
        self.by_name.get(name)
    }

    /// The `default` profile (the `s3:` section).
    ///
    /// # Panics
    /// Never: [`Storages::connect`] is given it first.
    #[must_use]
    pub fn default_profile(&self) -> &Storage {
        self.get(config::DEFAULT_PROFILE)
            .expect("the default profile exists")
    }

    /// Every profile, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Storage)> {
        self.by_name.iter().map(|(n, s)| (n.as_str(), s))
    }
}
