//! The gateway's storage at start: the embedded store (with every bucket
//! an embedded profile names), one [`Storage`] per profile, the buckets
//! checked — the default one must answer, the others are reported and
//! answer 451 on use — and the sweeps of abandoned uploads, one per
//! bucket and prefix the gateway may write to.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, StartError};
use crate::config::{Config, DEFAULT_PROFILE, S3};
use crate::embedded::EmbeddedS3;
use crate::storage::{S3Access, Storage, Storages};

/// The embedded store, when any profile uses it: one process-wide server
/// holding every bucket an embedded profile names, with `s3:`'s keys (or
/// the demo's).
pub(super) async fn start_embedded(config: &Config) -> Result<Option<EmbeddedS3>, StartError> {
    let profiles = config.profiles();
    let mut buckets: Vec<&str> = profiles
        .iter()
        .filter(|(_, s3)| s3.is_embedded())
        .map(|(_, s3)| s3.bucket.as_str())
        .collect();
    if buckets.is_empty() {
        return Ok(None);
    }
    buckets.sort_unstable();
    buckets.dedup();
    let (ak, sk) = embedded_keys(&config.s3);
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    let store = EmbeddedS3::start(&config.s3.data_dir, listen, &buckets, &ak, &sk)
        .await
        .map_err(|source| StartError::Embedded {
            dir: config.s3.data_dir.display().to_string(),
            source,
        })?;
    Ok(Some(store))
}

fn embedded_keys(s3: &S3) -> (String, String) {
    match (&s3.access_key_id, &s3.secret_access_key) {
        (Some(ak), Some(sk)) => (ak.clone(), sk.expose().to_owned()),
        _ => (
            EMBEDDED_ACCESS_KEY.to_owned(),
            EMBEDDED_SECRET_KEY.to_owned(),
        ),
    }
}

/// Where a profile's S3 is: the embedded store, or its endpoint and keys.
fn access(s3: &S3, embedded: Option<&EmbeddedS3>) -> S3Access {
    match embedded.filter(|_| s3.is_embedded()) {
        Some(e) => S3Access {
            url: Some(e.endpoint.clone()),
            keys: Some((e.access_key.clone(), e.secret_key.clone())),
        },
        None => S3Access {
            url: s3.endpoint.clone(),
            keys: s3
                .access_key_id
                .clone()
                .zip(s3.secret_access_key.as_ref().map(|s| s.expose().to_owned())),
        },
    }
}

/// Every profile with where its S3 is.
pub(super) fn profiles(
    config: &Config,
    embedded: Option<&EmbeddedS3>,
) -> Vec<(String, S3, S3Access)> {
    config
        .profiles()
        .into_iter()
        .map(|(name, s3)| {
            let a = access(&s3, embedded);
            (name, s3, a)
        })
        .collect()
}

/// Every profile's storage (no request made yet).
pub(super) async fn connect_storages(
    config: &Config,
    embedded: Option<&EmbeddedS3>,
    metrics: Arc<crate::observe::Metrics>,
) -> Storages {
    let profiles = profiles(config, embedded);
    Storages::connect(&profiles, config.s3.max_connections, metrics).await
}

/// The section a profile's keys are in: `s3`, or `storages.<name>`.
fn section(name: &str) -> String {
    if name == DEFAULT_PROFILE {
        "s3".to_owned()
    } else {
        format!("storages.{name}")
    }
}

/// The default profile's bucket must answer; another profile's that does
/// not is logged (its paths answer 451 until it does, and its
/// `s3ftpd_storage_reachable` says 0). All asked at once.
pub(super) async fn check_buckets(config: &Config, storages: &Storages) -> Result<(), StartError> {
    let checks = storages
        .iter()
        .map(|(name, s)| async move { (name, s.check_bucket().await) });
    for (name, answer) in futures::future::join_all(checks).await {
        let Err(source) = answer else { continue };
        let storage = storages.get(name).expect("a profile");
        if name == DEFAULT_PROFILE {
            return Err(StartError::Bucket {
                key: section(name),
                bucket: config.s3.bucket.clone(),
                source,
            });
        }
        tracing::error!(profile = name, bucket = storage.bucket(), error = %source, "a storage profile's bucket does not answer: its paths answer 451 until it does");
    }
    Ok(())
}

/// What `check-config` asks of S3: every profile's bucket answers
/// HeadBucket with its endpoint and keys (an embedded one is made at
/// start: nothing to ask). Every missing one is named.
///
/// # Errors
/// [`StartError::Buckets`] naming each profile whose bucket did not answer.
pub async fn probe_buckets(config: &Config) -> Result<(), StartError> {
    let metrics = Arc::new(crate::observe::Metrics::new());
    let storages = connect_storages(config, None, metrics).await;
    let checks = storages
        .iter()
        .filter(|(name, _)| {
            !config
                .profiles()
                .iter()
                .any(|(n, s3)| n == name && s3.is_embedded())
        })
        .map(|(name, s)| async move { (name, s.bucket().to_owned(), s.check_bucket().await) });
    let failed: Vec<String> = futures::future::join_all(checks)
        .await
        .into_iter()
        .filter_map(|(name, bucket, answer)| {
            answer
                .err()
                .map(|e| format!("bucket {bucket:?} (key `{}.bucket`): {e}", section(name)))
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(StartError::Buckets(failed.join("; ")))
    }
}

/// After a reload: every profile's bucket asked at once, those that do not
/// answer logged (their paths answer 451 until they do).
pub(super) async fn report_buckets(storages: &Storages) {
    let checks = storages
        .iter()
        .map(|(name, s)| async move { (name, s.bucket(), s.check_bucket().await) });
    for (name, bucket, answer) in futures::future::join_all(checks).await {
        if let Err(error) = answer {
            tracing::error!(profile = name, bucket, %error, "a storage profile's bucket does not answer: its paths answer 451 until it does");
        }
    }
}

/// One sweep of abandoned multipart uploads per bucket and prefix the
/// gateway may write to (profiles sharing both share it; a read-only one
/// gets none): never outside a profile's prefix. `swept` holds the ones
/// already running (a reload adds only new ones).
pub(super) fn sweep_uploads(
    storages: &Storages,
    swept: &Mutex<Vec<Storage>>,
    abandoned_after: Duration,
    stop: &CancellationToken,
) {
    let mut swept = swept.lock().expect("sweeps");
    for (_, s) in storages.iter() {
        let same =
            |o: &Storage| o.same_client(s) && o.bucket() == s.bucket() && o.root() == s.root();
        if !s.own_writes() || swept.iter().any(same) {
            continue;
        }
        swept.push(s.clone());
        tokio::spawn(
            s.clone()
                .clean_uploads(s.root().to_owned(), abandoned_after, stop.clone()),
        );
    }
}
