//! One page of a directory listing, from ListObjectsV2 with the `/` delimiter.
//!
//! ListObjectsV2 returns no user metadata, so with `s3.list_mtime: metadata`
//! a file's `x-amz-meta-mtime` costs one HeadObject, and a directory's time
//! one HeadObject of its marker. These run 32 at a time and are cached: a
//! file's result per key while the listing still shows the same ETag and
//! LastModified (any write or metadata copy changes LastModified), a
//! marker's until the gateway rewrites or deletes it. Listing the same
//! directory again costs only its ListObjectsV2 requests.

use dashmap::DashMap;
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use time::OffsetDateTime;

use super::{MTIME_META, Storage, StorageError, parse_mtime, to_time};
use crate::config::ListMtime;

/// HeadObject requests in flight while resolving one page's times.
const HEADS_IN_FLIGHT: usize = 32;
/// Metadata lookups in flight in the whole process, all listings together.
const HEADS_IN_PROCESS: usize = 64;
/// Cached entries before the cache starts over.
const CACHE_LIMIT: usize = 200_000;

/// What a listing entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An object.
    File,
    /// A common prefix or marker.
    Dir,
}

/// One file or directory of a listed folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name inside the listed directory (no slash).
    pub name: String,
    /// File or directory.
    pub kind: Kind,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Modification time.
    pub modified: OffsetDateTime,
}

/// What a file's version is known by: its ETag and LastModified.
type Validator = (String, OffsetDateTime);

/// Metadata times by S3 key: a file's `x-amz-meta-mtime`, valid while the
/// listing shows the same ETag and LastModified; a directory marker's time,
/// valid until the gateway itself rewrites or deletes the marker (a listing
/// shows nothing to validate a prefix against).
pub struct MtimeCache {
    known: DashMap<String, (Option<Validator>, Option<OffsetDateTime>)>,
    /// Lookups under way, shared by the listings that need them.
    inflight: DashMap<String, Lookup>,
    /// Places for lookups in the whole process.
    heads: tokio::sync::Semaphore,
}

/// A metadata lookup several listings can wait for.
type Lookup = Shared<BoxFuture<'static, Result<Option<OffsetDateTime>, String>>>;

impl std::fmt::Debug for MtimeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtimeCache")
            .field("known", &self.known.len())
            .field("inflight", &self.inflight.len())
            .finish_non_exhaustive()
    }
}

impl Default for MtimeCache {
    fn default() -> Self {
        Self {
            known: DashMap::new(),
            inflight: DashMap::new(),
            heads: tokio::sync::Semaphore::new(HEADS_IN_PROCESS),
        }
    }
}

impl MtimeCache {
    /// Drops what is known about `key` (it was just rewritten).
    pub fn forget(&self, key: &str) {
        self.known.remove(key);
    }

    fn get(&self, key: &str, seen: Option<&Validator>) -> Option<Option<OffsetDateTime>> {
        self.known
            .get(key)
            .filter(|v| v.0.as_ref() == seen)
            .map(|v| v.1)
    }

    fn put(&self, key: String, seen: Option<Validator>, time: Option<OffsetDateTime>) {
        if self.known.len() >= CACHE_LIMIT {
            self.known.clear();
        }
        self.known.insert(key, (seen, time));
    }
}

/// What identifies the version of a listed file: key, ETag, LastModified.
type Version = (String, String, OffsetDateTime);

/// A page of entries and the token for the next one.
#[derive(Debug)]
pub struct DirPage {
    /// Directories (common prefixes) and files of this page, in S3 order.
    pub entries: Vec<Entry>,
    /// Continuation token, when there is more.
    pub next: Option<String>,
    /// Whether S3 returned anything at all (the directory's marker counts,
    /// although it is not an entry): the directory exists.
    pub exists: bool,
}

/// Turns one ListObjectsV2 page into entries: common prefixes are
/// directories (shown with `now`: S3 keeps no time for a prefix), objects
/// are files, the directory's own marker and empty names are skipped.
fn to_entries(
    prefix: &str,
    out: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output,
    now: OffsetDateTime,
) -> (Vec<Entry>, Vec<Version>) {
    let mut entries = Vec::new();
    let mut versions = Vec::new();
    for cp in out.common_prefixes() {
        let Some(p) = cp.prefix() else { continue };
        let name = p.strip_prefix(prefix).unwrap_or(p).trim_end_matches('/');
        if name.is_empty() || name.contains('/') {
            continue;
        }
        entries.push(Entry {
            name: name.to_owned(),
            kind: Kind::Dir,
            size: 0,
            modified: now,
        });
    }
    for obj in out.contents() {
        let Some(key) = obj.key() else { continue };
        let name = key.strip_prefix(prefix).unwrap_or(key);
        if name.is_empty() || name.contains('/') {
            continue;
        }
        let modified = to_time(obj.last_modified());
        entries.push(Entry {
            name: name.to_owned(),
            kind: Kind::File,
            size: u64::try_from(obj.size().unwrap_or(0)).unwrap_or(0),
            modified,
        });
        versions.push((
            key.to_owned(),
            obj.e_tag().unwrap_or_default().to_owned(),
            modified,
        ));
    }
    (entries, versions)
}

impl Storage {
    /// Lists one page (up to 1000 entries) of the directory at `prefix`.
    ///
    /// # Errors
    /// On S3 errors.
    /// With `times`, entries carry metadata times (see the module docs);
    /// without, LastModified and no request beyond the listing.
    pub async fn list_dir_page(
        &self,
        prefix: &str,
        token: Option<String>,
        times: bool,
    ) -> Result<DirPage, StorageError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .delimiter("/")
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("ListObjectsV2", e))?;
        let next = out
            .is_truncated()
            .unwrap_or(false)
            .then(|| out.next_continuation_token().map(str::to_owned))
            .flatten();
        let exists = !out.contents().is_empty() || !out.common_prefixes().is_empty();
        let (mut entries, versions) = to_entries(prefix, &out, OffsetDateTime::now_utc());
        if times && self.list_mtime == ListMtime::Metadata {
            self.resolve_times(prefix, &mut entries, versions).await?;
        }
        Ok(DirPage {
            entries,
            next,
            exists,
        })
    }

    /// The time of one listed entry from S3 metadata: a file's
    /// `x-amz-meta-mtime` (`None`: not set), a directory marker's time
    /// (`None`: no marker).
    async fn metadata_time(&self, key: &str) -> Result<Option<OffsetDateTime>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) if key.ends_with('/') => Ok(Some(
                o.metadata()
                    .and_then(|m| m.get(MTIME_META))
                    .and_then(|v| parse_mtime(v))
                    .unwrap_or_else(|| to_time(o.last_modified())),
            )),
            Ok(o) => Ok(o
                .metadata()
                .and_then(|m| m.get(MTIME_META))
                .and_then(|v| parse_mtime(v))),
            Err(e) => match StorageError::from_sdk("HeadObject", e) {
                StorageError::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    /// [`Storage::metadata_time`], shared: concurrent listings of one folder
    /// wait for the same lookup of a key instead of each sending its own,
    /// and at most [`HEADS_IN_PROCESS`] run at once in the whole process.
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

    /// Replaces listed times with metadata times (see the module docs).
    async fn resolve_times(
        &self,
        prefix: &str,
        entries: &mut [Entry],
        versions: Vec<Version>,
    ) -> Result<(), StorageError> {
        // Directories come first in `entries`, then files in `versions` order.
        let dirs = entries.len() - versions.len();
        let lookups = entries[..dirs]
            .iter()
            .map(|e| (format!("{prefix}{}/", e.name), None))
            .chain(versions.into_iter().map(|(k, e, m)| (k, Some((e, m)))))
            .collect::<Vec<_>>();
        let mut todo = Vec::new();
        for (i, (key, seen)) in lookups.into_iter().enumerate() {
            match self.mtimes.get(&key, seen.as_ref()) {
                Some(Some(t)) => entries[i].modified = t,
                Some(None) => {}
                None => todo.push((i, key, seen)),
            }
        }
        let found: Vec<_> = futures::stream::iter(todo)
            .map(|(i, key, seen)| async move {
                let t = self.shared_metadata_time(&key).await?;
                Ok::<_, StorageError>((i, key, seen, t))
            })
            .buffered(HEADS_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        for (i, key, seen, t) in found {
            if let Some(t) = t {
                entries[i].modified = t;
            }
            self.mtimes.put(key, seen, t);
        }
        Ok(())
    }
}
