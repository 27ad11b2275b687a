//! Quota usage: the bytes and files under a prefix, counted from S3 and
//! kept current by this process.
//!
//! A prefix is counted with ListObjectsV2 (every key under it, but for the
//! gateway's own `.s3ftpd/` folder; folder markers are no files) the first
//! time a quota needs it — that command waits for the count — and again
//! in the background once the count is older than `limits.quota_rescan`
//! when a quota is asked. Between counts, what this process does is added
//! at once (an upload's bytes, a deleted file). So the usage a replica
//! sees drifts by what *others* did since its last count — other replicas'
//! uploads, other tools' objects — for at most `quota_rescan` after the
//! next command that asks; an upload committed while a count runs may be
//! counted twice until the next one (the safe direction for a quota).
//! Never a count per command: one per prefix per `quota_rescan`, shared by
//! every session and profile on that bucket.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{RESERVED_DIR, Storage, StorageError};

/// What a prefix holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Bytes of every object.
    pub bytes: u64,
    /// Objects, folder markers not counted.
    pub files: u64,
}

/// The usage of one prefix: the last count and what happened since.
#[derive(Debug, Default)]
pub(super) struct Usage {
    state: tokio::sync::Mutex<Tally>,
    counting: AtomicBool,
    /// Something changed that this process could not add up (a partial
    /// upload kept): count again at the next ask, whatever the count's age.
    stale: AtomicBool,
    /// The tally's bytes, readable without the lock (uploads check it as
    /// their bytes arrive).
    bytes: AtomicI64,
    /// Bytes of the uploads running under this prefix, not yet counted.
    in_flight: AtomicU64,
}

/// The object an upload would replace: its size (`None`: the name is
/// new), known already (a resume's base, a name looked up for
/// `overwrite`) or looked up beside the upload — a HeadObject started
/// before the 150 and waited for only when needed, so a quota costs no
/// round trip before the upload.
#[derive(Debug, Clone)]
pub struct Replaced(Arc<ReplacedInner>);

#[derive(Debug)]
struct ReplacedInner {
    /// Where to look (`None`: the answer was known from the start).
    lookup: Option<(Storage, String)>,
    size: tokio::sync::OnceCell<Option<u64>>,
}

impl Replaced {
    /// Known already: the object holds `size` bytes (`None`: no object).
    #[must_use]
    pub fn known(size: Option<u64>) -> Self {
        Self(Arc::new(ReplacedInner {
            lookup: None,
            size: tokio::sync::OnceCell::new_with(Some(size)),
        }))
    }

    /// Starts looking up `key` in the background.
    #[must_use]
    pub fn look_up(storage: &Storage, key: &str) -> Self {
        let this = Self(Arc::new(ReplacedInner {
            lookup: Some((storage.clone(), key.to_owned())),
            size: tokio::sync::OnceCell::new(),
        }));
        let bg = this.clone();
        tokio::spawn(async move {
            let _ = bg.size().await;
        });
        this
    }

    /// The answer, if it is in.
    #[must_use]
    pub fn now(&self) -> Option<Option<u64>> {
        self.0.size.get().copied()
    }

    /// The size, waiting for the lookup (asked again after an error).
    ///
    /// # Errors
    /// S3's error of the lookup.
    pub async fn size(&self) -> Result<Option<u64>, StorageError> {
        let inner = &self.0;
        let size = inner
            .size
            .get_or_try_init(|| async {
                match &inner.lookup {
                    Some((storage, key)) => Ok(storage.head(key).await?.map(|i| i.size)),
                    None => Ok(None),
                }
            })
            .await?;
        Ok(*size)
    }
}

/// What one upload may add under a quota: checked as its bytes arrive
/// against the usage plus every other upload running under the same
/// quota in this process, so two uploads cannot both take the last room.
#[derive(Debug)]
pub struct Budget {
    entry: Arc<Usage>,
    /// The quota, in bytes.
    limit: u64,
    /// The object the upload replaces (its bytes are freed by the commit)
    /// or continues (`append`: its bytes stay).
    replaced: Replaced,
    append: bool,
    /// Bytes this upload holds in `in_flight`.
    held: AtomicU64,
}

impl Budget {
    /// Takes `n` more bytes; `false` (nothing taken) past the quota. The
    /// replaced object's bytes count as freed once its lookup answered;
    /// only an upload that would pass the quota without them waits for it.
    pub async fn take(&self, n: u64) -> bool {
        if self.try_take(n) {
            return true;
        }
        if self.append || self.replaced.now().is_some() {
            return false;
        }
        // An error leaves nothing freed: the safe side of a quota.
        let _ = self.replaced.size().await;
        self.try_take(n)
    }

    fn try_take(&self, n: u64) -> bool {
        let freed = if self.append {
            0
        } else {
            self.replaced.now().flatten().unwrap_or(0)
        };
        let used = u64::try_from(self.entry.bytes.load(Ordering::Relaxed)).unwrap_or(0);
        let others = self.entry.in_flight.fetch_add(n, Ordering::Relaxed);
        if used.saturating_add(others).saturating_add(n) > self.limit.saturating_add(freed) {
            self.entry.in_flight.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        self.held.fetch_add(n, Ordering::Relaxed);
        true
    }

    /// Waits for the replaced object's lookup: before the commit, so that
    /// the lookup never sees the upload's own object.
    pub async fn settle(&self) {
        let _ = self.replaced.size().await;
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        let held = self.held.load(Ordering::Relaxed);
        self.entry.in_flight.fetch_sub(held, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Tally {
    bytes: i64,
    files: i64,
    /// When the last count started (`None`: never counted).
    counted: Option<Instant>,
    /// What this process added since the running count started.
    since: (i64, i64),
}

impl Tally {
    fn counts(&self) -> Counts {
        Counts {
            bytes: u64::try_from(self.bytes).unwrap_or(0),
            files: u64::try_from(self.files).unwrap_or(0),
        }
    }
}

impl Storage {
    fn usage_entry(&self, prefix: &str) -> Arc<Usage> {
        self.usage.entry(prefix.to_owned()).or_default().clone()
    }

    /// The usage of `prefix` (a quota's root), and how old its count is.
    /// Counted now the first time; recounted in the background when older
    /// than `rescan`.
    ///
    /// # Errors
    /// S3 errors of a first count.
    pub async fn usage(
        &self,
        prefix: &str,
        rescan: Duration,
    ) -> Result<(Counts, Duration), StorageError> {
        let entry = self.usage_entry(prefix);
        let mut tally = entry.state.lock().await;
        let Some(counted) = tally.counted else {
            // First use: count while holding the lock, so that the sessions
            // asking at the same time wait for this one count.
            let started = Instant::now();
            let c = self.count(prefix).await?;
            tally.bytes = i64::try_from(c.bytes).unwrap_or(i64::MAX);
            tally.files = i64::try_from(c.files).unwrap_or(i64::MAX);
            tally.counted = Some(started);
            entry.bytes.store(tally.bytes, Ordering::Relaxed);
            return Ok((c, Duration::ZERO));
        };
        let due = counted.elapsed() > rescan || entry.stale.load(Ordering::Relaxed);
        if due && !entry.counting.swap(true, Ordering::Relaxed) {
            entry.stale.store(false, Ordering::Relaxed);
            tally.since = (0, 0);
            let (this, prefix, entry) = (self.clone(), prefix.to_owned(), entry.clone());
            tokio::spawn(async move { this.recount(&prefix, &entry).await });
        }
        Ok((tally.counts(), counted.elapsed()))
    }

    /// A background recount: the new count plus what this process added
    /// while it ran.
    async fn recount(&self, prefix: &str, entry: &Usage) {
        let started = Instant::now();
        let counted = self.count(prefix).await;
        let mut tally = entry.state.lock().await;
        match counted {
            Ok(c) => {
                let (bytes, files) = tally.since;
                tally.bytes = i64::try_from(c.bytes).unwrap_or(i64::MAX) + bytes;
                tally.files = i64::try_from(c.files).unwrap_or(i64::MAX) + files;
                tally.counted = Some(started);
                entry.bytes.store(tally.bytes, Ordering::Relaxed);
                tracing::debug!(
                    prefix,
                    bytes = c.bytes,
                    files = c.files,
                    "quota usage counted"
                );
            }
            Err(e) => {
                tracing::warn!(prefix, error = %e, "quota usage not counted; the last count stays")
            }
        }
        entry.counting.store(false, Ordering::Relaxed);
    }

    /// A budget for one upload under the quota of `limit` bytes on
    /// `prefix`, replacing `replaced` or, with `append`, continuing it
    /// (see [`Budget`]).
    #[must_use]
    pub fn budget(
        &self,
        prefix: &str,
        limit: u64,
        replaced: Replaced,
        append: bool,
    ) -> Arc<Budget> {
        Arc::new(Budget {
            entry: self.usage_entry(prefix),
            limit,
            replaced,
            append,
            held: AtomicU64::new(0),
        })
    }

    /// Asks for a new count of `prefix` at its next use: a change this
    /// process cannot add up (an interrupted upload kept with
    /// `uploads.keep_partial`, whose size S3 knows).
    pub fn recount_soon(&self, prefix: &str) {
        self.usage_entry(prefix)
            .stale
            .store(true, Ordering::Relaxed);
    }

    /// Adds what this process just did under `prefix`: `bytes` and
    /// `files` more (negative: removed).
    pub async fn note_usage(&self, prefix: &str, bytes: i64, files: i64) {
        let entry = self.usage_entry(prefix);
        let mut tally = entry.state.lock().await;
        tally.bytes += bytes;
        tally.files += files;
        tally.since.0 += bytes;
        tally.since.1 += files;
        entry.bytes.store(tally.bytes, Ordering::Relaxed);
    }

    /// Every object under `prefix`, counted (ListObjectsV2, 1,000 a page).
    async fn count(&self, prefix: &str) -> Result<Counts, StorageError> {
        let own = format!("{}{RESERVED_DIR}/", self.root);
        let mut c = Counts::default();
        self.each_object(prefix, |o| {
            let key = o.key().unwrap_or_default();
            if !key.starts_with(&own) {
                c.bytes += u64::try_from(o.size().unwrap_or(0)).unwrap_or(0);
                c.files += u64::from(!key.ends_with('/'));
            }
        })
        .await?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(entry: &Arc<Usage>, freed: u64) -> Budget {
        continuing(entry, freed, false)
    }

    fn continuing(entry: &Arc<Usage>, size: u64, append: bool) -> Budget {
        Budget {
            entry: entry.clone(),
            limit: 1000,
            replaced: Replaced::known(Some(size).filter(|&f| f > 0)),
            append,
            held: AtomicU64::new(0),
        }
    }

    #[tokio::test]
    async fn uploads_under_one_quota_share_its_room() {
        let entry = Arc::new(Usage::default());
        entry.bytes.store(900, Ordering::Relaxed);
        let (one, two) = (budget(&entry, 0), budget(&entry, 0));
        assert!(one.take(60).await);
        assert!(!two.take(60).await, "40 bytes are left");
        assert!(two.take(40).await);
        drop(one);
        assert!(two.take(60).await, "the ended upload gave its bytes back");
        drop(two);
        assert_eq!(entry.in_flight.load(Ordering::Relaxed), 0);
        // Replacing a 500-byte object frees its bytes at the commit.
        let replacing = budget(&entry, 500);
        assert!(replacing.take(600).await);
        assert!(!replacing.take(1).await);
        drop(replacing);
        // Continuing it (APPE, a resume) frees nothing.
        let appending = continuing(&entry, 500, true);
        assert!(!appending.take(101).await);
        assert!(appending.take(100).await);
    }
}
