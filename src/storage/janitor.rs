//! Multipart uploads nobody will finish: those of a gateway that was killed,
//! and aborts that failed because S3 was down at the time.
//!
//! - An abort that fails is queued and retried every [`RETRY_INTERVAL`]
//!   until S3 confirms it (or says the upload is already gone).
//! - At start, and every quarter of `uploads.abandoned_after` (between
//!   1 s and 1 h), uploads under the served prefix that were started more
//!   than `uploads.abandoned_after` ago (default 24 h) are aborted, except
//!   those this process is still running. Replicas cannot see each other's
//!   uploads: `abandoned_after` must exceed the longest upload.
//!
//! Both are counted in `s3ftpd_multipart_aborts_total{reason,outcome}`.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::{Storage, StorageError};

/// How often failed aborts are tried again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// Failed aborts remembered at most (the sweep finds the rest).
const QUEUE_LIMIT: usize = 10_000;

/// Aborts to try again: (key, upload id).
#[derive(Debug, Default)]
pub struct AbortQueue(Mutex<Vec<(String, String)>>);

impl AbortQueue {
    /// Remembers an abort that failed.
    pub fn push(&self, key: &str, upload_id: &str) {
        let mut q = self.0.lock().expect("abort queue poisoned");
        if q.len() < QUEUE_LIMIT {
            q.push((key.to_owned(), upload_id.to_owned()));
        }
    }

    fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.0.lock().expect("abort queue poisoned"))
    }

    /// Aborts waiting to be retried.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.lock().expect("abort queue poisoned").len()
    }

    /// Whether none is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How often the sweep runs for a given `abandoned_after`.
#[must_use]
pub fn sweep_interval(abandoned_after: Duration) -> Duration {
    (abandoned_after / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

impl Storage {
    /// Aborts one multipart upload; one that no longer exists counts as done.
    ///
    /// # Errors
    /// When S3 fails.
    pub async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("AbortMultipartUpload", e))
        {
            Ok(_) | Err(StorageError::NotFound) => Ok(()),
            Err(StorageError::S3 { code: Some(c), .. }) if c == "NoSuchUpload" => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Multipart uploads under `prefix` started before `before` that this
    /// process does not run: key, upload id, when S3 says it started.
    pub(super) async fn open_uploads(
        &self,
        prefix: &str,
        before: SystemTime,
    ) -> Result<Vec<(String, String, SystemTime)>, StorageError> {
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("ListMultipartUploads", e))?;
            for u in page.uploads() {
                let started = u
                    .initiated()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .unwrap_or_else(SystemTime::now);
                if let (Some(k), Some(id)) = (u.key(), u.upload_id())
                    && started < before
                    && !self.live.contains(id)
                {
                    out.push((k.to_owned(), id.to_owned(), started));
                }
            }
            if !page.is_truncated().unwrap_or(false) {
                return Ok(out);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            id_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && id_marker.is_none() {
                return Ok(out);
            }
        }
    }

    pub(super) fn count_abort(&self, reason: &str, ok: bool) {
        self.metrics
            .multipart_aborts
            .with_label_values(&[reason, if ok { "ok" } else { "error" }])
            .inc();
    }

    /// Aborts the uploads under `prefix` older than `abandoned_after`.
    async fn sweep(&self, prefix: &str, abandoned_after: Duration) {
        let before = SystemTime::now()
            .checked_sub(abandoned_after)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let stale = match self.open_uploads(prefix, before).await {
            Ok(s) => s,
            Err(e) => return tracing::warn!(error = %e, "cannot list multipart uploads"),
        };
        for (key, id, _) in stale {
            let r = self.abort_upload(&key, &id).await;
            self.count_abort("abandoned", r.is_ok());
            match r {
                Ok(()) => {
                    tracing::info!(
                        key,
                        "abandoned multipart upload aborted (uploads.abandoned_after)"
                    );
                }
                Err(e) => tracing::warn!(key, error = %e, "cannot abort abandoned upload"),
            }
        }
    }

    /// Tries every queued abort once; those that fail again stay queued.
    async fn retry_aborts(&self) {
        for (key, id) in self.aborts.take() {
            let r = self.abort_upload(&key, &id).await;
            self.count_abort("retried", r.is_ok());
            match r {
                Ok(()) => tracing::info!(key, "multipart upload aborted on retry"),
                Err(_) => self.aborts.push(&key, &id),
            }
        }
    }

    /// Sweeps and retries until `stop` (see the module docs).
    pub async fn clean_uploads(
        self,
        prefix: String,
        abandoned_after: Duration,
        stop: CancellationToken,
    ) {
        if !self.own_writes {
            return;
        }
        let every = sweep_interval(abandoned_after);
        let mut next_sweep = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_sweep {
                self.sweep(&prefix, abandoned_after).await;
                next_sweep = tokio::time::Instant::now() + every;
            }
            self.retry_aborts().await;
            let wake = next_sweep.min(tokio::time::Instant::now() + RETRY_INTERVAL);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_run_often_enough_and_not_too_often() {
        assert_eq!(
            sweep_interval(Duration::from_secs(86_400)),
            Duration::from_secs(3600)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(60)),
            Duration::from_secs(15)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn the_queue_is_bounded() {
        let q = AbortQueue::default();
        for i in 0..QUEUE_LIMIT + 5 {
            q.push(&i.to_string(), "id");
        }
        assert_eq!(q.len(), QUEUE_LIMIT);
        assert_eq!(q.take().len(), QUEUE_LIMIT);
        assert!(q.is_empty());
    }
}
