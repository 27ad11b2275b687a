//! Metadata times of listed entries: what is known by key, the HeadObjects
//! that learn the rest, and the caps on them.
//!
//! ListObjectsV2 returns no user metadata, so with `s3.list_mtime:
//! metadata` a file's `x-amz-meta-mtime` costs one HeadObject, and a
//! directory's time one HeadObject of its marker. Results are cached: a
//! file's per key while the listing still shows the same ETag and
//! LastModified (any write or metadata copy changes LastModified), a
//! marker's until the gateway rewrites or deletes it; the folder's time
//! index ([`super::time_index`]) answers for the files another process
//! looked up.
//!
//! **Caps.** The lookups of one page run in their own task, so they go on
//! while the listing is written, and their results come back in the
//! page's order. One listing keeps at most half of `s3.max_connections`
//! lookups in flight (256 at most, the default's half: at 20 ms from S3
//! it takes about that many to list 20,000 files in 3 s), the listings of
//! one bucket together three quarters; and on AWS S3 the bucket's lookups *start* at most [`RATE`] a
//! second, under its 5,500 GET/HEAD per second per prefix (a folder is one
//! prefix), leaving room for downloads. Other stores (MinIO, Garage, the
//! embedded store) document no such rate: there the places are the only
//! bound. Concurrent listings of one folder share each lookup.
//!
//! **`auto`.** With `s3.list_mtime: auto`, the first [`SAMPLE`] files a
//! listing looks up in a folder are its sample: when none of them carries
//! `x-amz-meta-mtime`, the folder's other files written before the sample
//! (LastModified older than the verdict, less a few seconds for clocks)
//! show LastModified without a lookup, for [`PLAIN_FOR`]. A file written
//! or given a time since — an upload, a MFMT or a rename by any gateway
//! or tool — has a newer LastModified and is looked up as with
//! `metadata`. What it can get wrong: a file that already carried a
//! metadata time (rclone's copies) in such a folder, and was not in the
//! sample, shows LastModified — the time it was written to S3 — instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::AbortOnDropHandle;

use super::time_index::Stored;
use super::{Storage, StorageError};

/// Lookups a bucket's listings start per second at most, on AWS S3.
pub const RATE: u32 = 5_000;
/// Files looked up before `auto` decides a folder carries no metadata times.
pub const SAMPLE: usize = 100;
/// How long `auto` takes a sampled folder to carry no metadata times.
pub const PLAIN_FOR: Duration = Duration::from_secs(600);
/// Cached entries before the cache starts over.
const CACHE_LIMIT: usize = 200_000;

/// What a file's version is known by: its ETag and LastModified.
pub(super) type Validator = (String, OffsetDateTime);

/// Metadata times by S3 key (see the module docs), the lookups under way
/// and the caps on them, for one bucket.
pub struct MtimeCache {
    known: DashMap<String, (Option<Validator>, Option<OffsetDateTime>)>,
    /// Lookups under way, shared by the listings that need them.
    inflight: DashMap<String, Lookup>,
    /// Places for lookups in all listings of the bucket.
    heads: Semaphore,
    /// Lookups in flight per listing.
    pub(super) per_listing: usize,
    /// On AWS S3: the spacing of lookups' starts.
    pace: Option<Pace>,
    /// Folders whose time index this process has read or written: what
    /// the index holds.
    indexed: DashMap<String, Stored>,
    /// `auto`: folders whose sample carried no metadata time: when (for
    /// [`PLAIN_FOR`]), and the S3 time before which files are not looked up.
    plain: DashMap<String, (Instant, OffsetDateTime)>,
}

/// A metadata lookup several listings can wait for.
type Lookup = Shared<BoxFuture<'static, Result<Option<OffsetDateTime>, String>>>;

impl std::fmt::Debug for MtimeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtimeCache")
            .field("known", &self.known.len())
            .field("inflight", &self.inflight.len())
            .field("per_listing", &self.per_listing)
            .finish_non_exhaustive()
    }
}

impl MtimeCache {
    /// The cache of a bucket whose requests share `max_connections`; `aws`:
    /// the bucket is AWS S3's (its lookups are paced, see the module docs).
    pub(super) fn new(max_connections: usize, aws: bool) -> Self {
        Self {
            known: DashMap::new(),
            inflight: DashMap::new(),
            heads: Semaphore::new((max_connections * 3 / 4).max(1)),
            per_listing: (max_connections / 2).clamp(1, 256),
            pace: aws.then(|| Pace::new(RATE)),
            indexed: DashMap::new(),
            plain: DashMap::new(),
        }
    }

    /// Drops what is known about `key` (it was just rewritten).
    pub fn forget(&self, key: &str) {
        self.known.remove(key);
    }

    /// Notes what the time index of the folder at `prefix` holds.
    pub(super) fn note_index(&self, prefix: &str, etag: Option<String>, digest: u64) {
        if self.indexed.len() >= CACHE_LIMIT {
            self.indexed.clear();
        }
        self.indexed
            .insert(prefix.to_owned(), Stored::new(etag, digest));
    }

    /// What the time index of the folder at `prefix` holds, when known.
    pub(super) fn stored_index(&self, prefix: &str) -> Option<Stored> {
        self.indexed.get(prefix).map(|s| s.clone())
    }

    /// Whether this process knows what the folder's index holds.
    pub(super) fn knows_index(&self, prefix: &str) -> bool {
        self.indexed.contains_key(prefix)
    }

    /// Forgets what the folder's index holds: the next listing reads it.
    pub(super) fn forget_index(&self, prefix: &str) {
        self.indexed.remove(prefix);
    }

    /// Forgets the indexes of the folder at `prefix` and of every folder below it.
    pub(super) fn forget_indexes_under(&self, prefix: &str) {
        self.indexed.retain(|k, _| !k.starts_with(prefix));
    }

    pub(super) fn get(
        &self,
        key: &str,
        seen: Option<&Validator>,
    ) -> Option<Option<OffsetDateTime>> {
        self.known
            .get(key)
            .filter(|v| v.0.as_ref() == seen)
            .map(|v| v.1)
    }

    pub(super) fn put(&self, key: String, seen: Option<Validator>, time: Option<OffsetDateTime>) {
        if self.known.len() >= CACHE_LIMIT {
            self.known.clear();
        }
        self.known.insert(key, (seen, time));
    }

    /// `auto`: whether a file of the folder at `prefix` last modified at
    /// `modified` is shown without a lookup (see the module docs).
    pub(super) fn plain(&self, prefix: &str, modified: OffsetDateTime) -> bool {
        self.plain
            .get(prefix)
            .is_some_and(|v| v.0.elapsed() < PLAIN_FOR && modified < v.1)
    }

    fn mark_plain(&self, prefix: &str) {
        if self.plain.len() >= CACHE_LIMIT {
            self.plain.clear();
        }
        tracing::debug!(
            prefix,
            "no metadata time in the sample: the folder's files show LastModified"
        );
        let before = OffsetDateTime::now_utc() - super::time_index::SETTLE;
        self.plain
            .insert(prefix.to_owned(), (Instant::now(), before));
    }
}

/// Spaces the starts of lookups: at most `rate` a second, after a burst of
/// a fiftieth of a second's worth.
#[derive(Debug)]
struct Pace {
    next: std::sync::Mutex<tokio::time::Instant>,
    gap: Duration,
    burst: Duration,
}

impl Pace {
    fn new(rate: u32) -> Self {
        Self {
            next: std::sync::Mutex::new(tokio::time::Instant::now()),
            gap: Duration::from_secs(1) / rate,
            burst: Duration::from_millis(20),
        }
    }

    async fn wait(&self) {
        let now = tokio::time::Instant::now();
        let slot = {
            let mut next = self.next.lock().expect("pace");
            let slot = (*next).max(now.checked_sub(self.burst).unwrap_or(now));
            *next = slot + self.gap;
            slot
        };
        if slot > now {
            tokio::time::sleep_until(slot).await;
        }
    }
}

/// One lookup of a page: the entry's place in the page, its key and, for
/// a file, the version the listing showed.
pub(super) struct Todo {
    pub(super) at: usize,
    pub(super) key: String,
    pub(super) seen: Option<Validator>,
}

/// A lookup's answer: the metadata time or none; `None` when `auto` left
/// the file alone (LastModified shows, nothing is cached or indexed).
pub(super) type Looked = (usize, Option<Option<OffsetDateTime>>);

/// The lookups of one page, running in their own task; the results in the
/// page's order.
pub(super) struct PageLookups {
    rx: mpsc::Receiver<Result<Looked, StorageError>>,
    _task: AbortOnDropHandle<()>,
}

impl PageLookups {
    /// The next result (`None` once all came).
    pub(super) async fn next(&mut self) -> Option<Result<Looked, StorageError>> {
        self.rx.recv().await
    }

    /// The next result if it is in already.
    pub(super) fn try_next(&mut self) -> Option<Result<Looked, StorageError>> {
        self.rx.try_recv().ok()
    }
}

/// What one listing's `auto` sample has seen so far.
#[derive(Debug, Default)]
pub(super) struct Sample {
    files: AtomicUsize,
    timed: AtomicBool,
}

/// What one listing's lookups share: its places and, under `auto`, its sample.
#[derive(Debug, Clone)]
pub(super) struct ListingLookups {
    pub(super) places: Arc<Semaphore>,
    pub(super) sample: Option<Arc<Sample>>,
}

impl Storage {
    /// Starts the lookups of `todo` (entries of the folder at `prefix`).
    pub(super) fn look_up_page(
        &self,
        prefix: &str,
        todo: Vec<Todo>,
        listing: &ListingLookups,
    ) -> PageLookups {
        let (tx, rx) = mpsc::channel(todo.len().max(1));
        let (this, prefix, listing) = (self.clone(), prefix.to_owned(), listing.clone());
        let task = tokio::spawn(async move {
            let window = this.mtimes.per_listing;
            let mut results = futures::stream::iter(todo)
                .map(|t| this.look_up_one(&prefix, t, &listing))
                .buffered(window);
            while let Some(r) = results.next().await {
                if tx.send(r).await.is_err() {
                    return;
                }
            }
        });
        PageLookups {
            rx,
            _task: AbortOnDropHandle::new(task),
        }
    }

    async fn look_up_one(
        &self,
        prefix: &str,
        t: Todo,
        listing: &ListingLookups,
    ) -> Result<Looked, StorageError> {
        let _place = listing.places.acquire().await;
        let sample = listing.sample.as_ref().filter(|_| t.seen.is_some());
        if let (Some(_), Some((_, modified))) = (sample, &t.seen)
            && self.mtimes.plain(prefix, *modified)
        {
            return Ok((t.at, None));
        }
        let time = self.shared_metadata_time(&t.key).await?;
        self.mtimes.put(t.key, t.seen, time);
        if let Some(s) = sample {
            if time.is_some() {
                s.timed.store(true, Ordering::Relaxed);
            }
            let n = s.files.fetch_add(1, Ordering::Relaxed) + 1;
            if n == SAMPLE && !s.timed.load(Ordering::Relaxed) {
                self.mtimes.mark_plain(prefix);
            }
        }
        Ok((t.at, Some(time)))
    }

    /// The time of one listed entry from S3 metadata ([`Storage::head`]):
    /// a file's `x-amz-meta-mtime` (`None`: not set, or the same as its
    /// LastModified, which the listing shows anyway), a directory marker's
    /// time (`None`: no marker).
    async fn metadata_time(&self, key: &str) -> Result<Option<OffsetDateTime>, StorageError> {
        let info = self.head(key).await?;
        Ok(if key.ends_with('/') {
            info.map(|i| i.modified)
        } else {
            info.and_then(|i| (i.modified != i.stored).then_some(i.modified))
        })
    }

    /// [`Storage::metadata_time`], shared: concurrent listings of one folder
    /// wait for the same lookup of a key instead of each sending its own;
    /// within the bucket's places (and [`RATE`] on AWS).
    async fn shared_metadata_time(
        &self,
        key: &str,
    ) -> Result<Option<OffsetDateTime>, StorageError> {
        let lookup = self
            .mtimes
            .inflight
            .entry(key.to_owned())
            .or_insert_with(|| {
                let (this, key) = (self.clone(), key.to_owned());
                async move {
                    let _place = this.mtimes.heads.acquire().await;
                    if let Some(pace) = &this.mtimes.pace {
                        pace.wait().await;
                    }
                    let r = this.metadata_time(&key).await.map_err(|e| e.to_string());
                    this.mtimes.inflight.remove(&key);
                    r
                }
                .boxed()
                .shared()
            })
            .clone();
        lookup
            .await
            .map_err(|message| StorageError::failed("HeadObject", message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::S3Access;

    #[test]
    fn aws_endpoints_are_told_from_others() {
        let at = |url: Option<&str>| S3Access {
            url: url.map(str::to_owned),
            keys: None,
        };
        assert!(at(None).is_aws());
        assert!(at(Some("https://s3.eu-west-1.amazonaws.com")).is_aws());
        assert!(at(Some("https://bucket.s3.amazonaws.com:443/")).is_aws());
        assert!(!at(Some("http://minio:9000")).is_aws());
        assert!(!at(Some("http://127.0.0.1:3900")).is_aws());
        assert!(!at(Some("https://amazonaws.com.evil.example")).is_aws());
    }

    #[tokio::test(start_paused = true)]
    async fn lookups_start_at_most_rate_a_second_after_a_burst() {
        let pace = Pace::new(RATE);
        tokio::time::advance(Duration::from_secs(1)).await;
        let started = tokio::time::Instant::now();
        for _ in 0..1100 {
            pace.wait().await;
        }
        // 100 at once (20 ms' worth), then one every 200 µs.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(199), "{took:?}");
        assert!(took <= Duration::from_millis(201), "{took:?}");
    }

    #[test]
    fn per_listing_share_of_the_connections() {
        assert_eq!(MtimeCache::new(256, true).per_listing, 128);
        assert_eq!(MtimeCache::new(512, false).per_listing, 256);
        assert_eq!(MtimeCache::new(4096, false).per_listing, 256);
        assert_eq!(MtimeCache::new(40, false).per_listing, 20);
        assert_eq!(MtimeCache::new(1, false).per_listing, 1);
        assert!(MtimeCache::new(256, true).pace.is_some());
        assert!(MtimeCache::new(256, false).pace.is_none());
    }
}
