//! What the S3 server does with conditional writes, learnt once at start.
//!
//! AWS S3 (since 2024), MinIO, Ceph and the embedded store honour
//! `If-None-Match: *` and `If-Match` on PutObject (412 when the condition
//! fails); Garage 2.5 ignores both (the write happens); a few servers refuse
//! them (501 or 400). Two features lean on them:
//! - the time index ([`super::time_index`]) writes conditionally unless the
//!   server refuses the headers (ignored, the last writer wins: entries are
//!   checked one by one anyway);
//! - a small upload whose folder check is still running when its client has
//!   finished writes the object *only if the name is new*
//!   ([`super::folder_check`]), so the check costs no round trip. That is
//!   safe only where the condition is honoured, so it waits for the probe's
//!   yes; anywhere else the check is waited for first, as before;
//! - a small upload over a file whose version the gateway knows writes
//!   with `If-Match` ([`super::versions`]), and a small append writes only
//!   onto the version it read. The probe asks separately whether `If-Match`
//!   is honoured: where it is not, neither happens.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use super::{RESERVED_DIR, Small, Storage, StorageError, Written};

// 0, the default: not known (yet).
const HONOURED: u8 = 1;
const IGNORED: u8 = 2;
const REFUSED: u8 = 3;

/// The server's way with conditional writes (shared by a storage's clones).
#[derive(Debug, Default)]
pub(super) struct Conditional {
    /// `If-None-Match: *`: one of the constants above.
    none_match: AtomicU8,
    /// Whether a PutObject whose `If-Match` fails is known to be refused.
    if_match: AtomicBool,
}

/// The condition of one PutObject.
#[derive(Debug, Clone, Copy)]
pub(super) enum Write<'a> {
    /// None: the write happens.
    Always,
    /// `If-None-Match: *`: only if the key is new.
    IfAbsent,
    /// `If-Match`: only over this version (an ETag, quotes included).
    IfMatch(&'a str),
}

impl Conditional {
    /// Whether a failed `If-None-Match` is known to stop a write.
    pub(super) fn honoured(&self) -> bool {
        self.none_match.load(Ordering::Relaxed) == HONOURED
    }

    /// Whether a failed `If-Match` is known to stop a write.
    pub(super) fn if_match(&self) -> bool {
        self.if_match.load(Ordering::Relaxed)
    }

    /// Whether the server answers conditional headers with an error.
    pub(super) fn refused(&self) -> bool {
        self.none_match.load(Ordering::Relaxed) == REFUSED
    }

    /// Records that the server refused a conditional write.
    pub(super) fn note_refused(&self) {
        self.none_match.store(REFUSED, Ordering::Relaxed);
        self.if_match.store(false, Ordering::Relaxed);
    }

    fn set(&self, v: u8) {
        self.none_match.store(v, Ordering::Relaxed);
    }
}

/// The object the probe writes, in the gateway's own folder.
const PROBE: &str = "conditional-writes";

/// Whether an error code says the server does not do conditional writes.
pub(super) fn refuses_conditions(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("NotImplemented" | "InvalidArgument" | "InvalidRequest")
    )
}

impl Storage {
    /// Learns whether S3 honours `If-None-Match: *` on PutObject: writes a
    /// small object under `.s3ftpd/` with that condition until it meets a
    /// 412 (one request once the object exists, two the first time or when
    /// the condition is ignored); then whether it honours `If-Match`, with
    /// a version that does not exist (one request). Any other failure
    /// (read-only keys, S3 down) leaves it unknown: features that need it
    /// then do without.
    /// Nothing is written where the gateway may only read (the answer stays
    /// unknown there). Run once per bucket: at start for the default
    /// profile, on first use ([`Storage::probe_soon`]) for the others.
    pub async fn probe_conditional_writes(&self) {
        if !self.own_writes {
            return;
        }
        self.probing.store(true, Ordering::Relaxed);
        let key = format!("{}{RESERVED_DIR}/{PROBE}", self.root);
        for _ in 0..2 {
            match self
                .put_if_absent(&key, bytes::Bytes::from_static(PROBE_BODY).into())
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => {
                    self.conditional.set(HONOURED);
                    tracing::debug!("S3 honours If-None-Match");
                    self.probe_if_match(&key).await;
                    return;
                }
                Err(StorageError::S3 { code, .. }) if refuses_conditions(code.as_deref()) => {
                    self.conditional.set(REFUSED);
                    tracing::info!("S3 refuses conditional writes");
                    return;
                }
                Err(e) => {
                    tracing::info!(error = %e, %key, "could not learn whether S3 honours conditional writes; small uploads wait for their folder check");
                    return;
                }
            }
        }
        self.conditional.set(IGNORED);
        tracing::info!(
            "S3 ignores conditional writes (If-None-Match); small uploads wait for their folder check"
        );
    }

    /// Starts the probe in the background the first time a storage of this
    /// bucket needs its answer (an upload), unless it ran or is running:
    /// buckets are probed on use, never polled.
    pub(super) fn probe_soon(&self) {
        if self.own_writes && !self.probing.swap(true, Ordering::Relaxed) {
            let this = self.clone();
            tokio::spawn(async move { this.probe_conditional_writes().await });
        }
    }

    /// The second half of the probe: a write over a version that does not
    /// exist must meet a 412. (Where it does not, it rewrote the probe's
    /// own object: nothing else.)
    async fn probe_if_match(&self, key: &str) {
        let body = bytes::Bytes::from_static(PROBE_BODY);
        let honoured = match self
            .put_small(key, body.into(), Write::IfMatch(NO_VERSION))
            .await
        {
            Err(StorageError::Changed) => true,
            Ok(_) => false,
            Err(e) => {
                tracing::info!(error = %e, "could not learn whether S3 honours If-Match");
                false
            }
        };
        self.conditional.if_match.store(honoured, Ordering::Relaxed);
        tracing::debug!(honoured, "S3 and If-Match");
    }

    /// PutObject with `If-None-Match: *`: `Ok(Some(_))` when it wrote,
    /// `Ok(None)` when the key existed (412) and nothing was written.
    ///
    /// # Errors
    /// Other S3 errors.
    pub(super) async fn put_if_absent(
        &self,
        key: &str,
        body: Small,
    ) -> Result<Option<Written>, StorageError> {
        let sent = self.put_small(key, body, Write::IfAbsent).await;
        match sent {
            Ok(w) => Ok(Some(w)),
            Err(StorageError::Changed) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A version no object has (S3's ETags are hex digests).
const NO_VERSION: &str = "\"s3ftpd-probe-no-such-version\"";

const PROBE_BODY: &[u8] =
    b"s3ftpd: written at start to learn whether this S3 server honours If-None-Match\n";
