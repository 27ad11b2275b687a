//! Resume safety: a resumed upload continues the client's own bytes, never
//! an older file that a failed upload left in place.
//!
//! A client resumes an interrupted upload by asking the file's size and
//! sending the rest (`REST n` + STOR, or APPE). On a disk server the
//! interrupted upload left its own first bytes behind. Here it left nothing
//! (without `uploads.keep_partial`): the previous object is untouched, so its
//! size says nothing about what the client sent, and resuming would join the
//! new file's tail to the old file's head — acknowledged with 226. lftp does
//! exactly that on its automatic retry after a 451 (when the sizes agree, the
//! "resumed" file is simply the old one).
//!
//! So a resume is refused (nothing changes; the client is told to send the
//! whole file) when the object it would continue is
//! - the predecessor of an overwrite that failed in this process within
//!   [`REMEMBER`], still unchanged (same ETag) — recorded here; or
//! - older than a multipart upload of the same key that nobody runs any more,
//!   started within [`REMEMBER`]: the trace of an upload whose gateway died
//!   (S3's clock on both sides, so no skew).
//!
//! Left open: an overwrite below one part whose gateway died leaves no trace
//! in S3, so another gateway cannot tell a retry of it from a deliberate resume.

use std::time::{Duration, Instant, SystemTime};

use dashmap::DashMap;

use super::{ObjectInfo, Storage, StorageError};

/// How long a failed overwrite blocks resumes of its predecessor. Clients
/// retry within seconds or minutes (lftp's reconnect interval grows to 10 minutes).
pub const REMEMBER: Duration = Duration::from_secs(3600);

/// Entries kept before expired ones are swept.
const SWEEP_ABOVE: usize = 10_000;

/// Why a resume is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeRefusal {
    /// An overwrite of this file failed here and left the previous version.
    FailedHere,
    /// An upload of this file was interrupted (its gateway stopped) after
    /// the current version was written.
    Interrupted,
}

/// Overwrites that failed and left the previous object in place: key →
/// when, and the ETag of what was left (once known).
#[derive(Debug, Default)]
pub struct FailedOverwrites(DashMap<String, (Instant, Option<String>)>);

impl FailedOverwrites {
    fn record(&self, key: &str) {
        if self.0.len() >= SWEEP_ABOVE {
            self.0.retain(|_, (at, _)| at.elapsed() < REMEMBER);
        }
        self.0.insert(key.to_owned(), (Instant::now(), None));
    }

    fn learn_etag(&self, key: &str, etag: String) {
        if let Some(mut e) = self.0.get_mut(key) {
            e.1.get_or_insert(etag);
        }
    }

    pub(super) fn forget(&self, key: &str) {
        self.0.remove(key);
    }

    /// Whether the object with `etag` is a failed overwrite's predecessor.
    /// While the ETag of what was left is unknown (S3 was unreachable), any
    /// object of that key counts as one.
    fn blocks(&self, key: &str, etag: &str) -> bool {
        let Some(entry) = self.0.get(key).map(|e| e.value().clone()) else {
            return false;
        };
        let (at, left) = entry;
        let fresh = at.elapsed() < REMEMBER;
        if fresh && left.as_deref().is_none_or(|left| left == etag) {
            return true;
        }
        self.forget(key);
        false
    }
}

impl Storage {
    /// Notes that an overwrite of `key` failed without changing it, and
    /// learns in the background which object was left (one HEAD).
    pub(super) fn note_failed_overwrite(&self, key: &str) {
        self.failed.record(key);
        let (storage, key) = (self.clone(), key.to_owned());
        tokio::spawn(async move {
            match storage.head(&key).await {
                Ok(Some(info)) => storage.failed.learn_etag(&key, info.etag),
                // Nothing was there: nothing to resume on, and a later file is someone else's.
                Ok(None) => storage.failed.forget(&key),
                // Unknown: any version of the key counts until it is known.
                Err(_) => {}
            }
        });
    }

    /// Whether resuming the upload of `key` on top of `base` (the object as
    /// HEAD saw it) must be refused; see the module docs.
    ///
    /// # Errors
    /// When S3 cannot list the key's open multipart uploads.
    pub async fn resume_refusal(
        &self,
        key: &str,
        base: &ObjectInfo,
    ) -> Result<Option<ResumeRefusal>, StorageError> {
        if self.failed.blocks(key, &base.etag) {
            return Ok(Some(ResumeRefusal::FailedHere));
        }
        let recent = SystemTime::now() - REMEMBER;
        let interrupted = self
            .open_uploads(key, SystemTime::now() + REMEMBER)
            .await?
            .into_iter()
            .any(|(k, _, started)| {
                k == key && started > recent && started >= SystemTime::from(base.stored)
            });
        Ok(interrupted.then_some(ResumeRefusal::Interrupted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_overwrite_blocks_only_its_predecessor() {
        let failed = FailedOverwrites::default();
        assert!(!failed.blocks("k", "\"a\""));
        failed.record("k");
        // What was left is not known yet: any version counts.
        assert!(failed.blocks("k", "\"a\""));
        failed.learn_etag("k", "\"a\"".into());
        assert!(failed.blocks("k", "\"a\""));
        // A newer version (someone else's upload since): resumable, and forgotten.
        assert!(!failed.blocks("k", "\"b\""));
        assert!(!failed.blocks("k", "\"a\""));
        assert!(!failed.blocks("other", "\"a\""));
    }
}
