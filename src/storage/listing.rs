//! One page of a directory listing, from ListObjectsV2 with the `/` delimiter.
//!
//! ListObjectsV2 returns no user metadata, so with `s3.list_mtime: metadata`
//! a file's `x-amz-meta-mtime` costs one HeadObject, and a directory's time
//! one HeadObject of its marker. These run 32 at a time and are cached: a
//! file's result per key while the listing still shows the same ETag and
//! LastModified (any write or metadata copy changes LastModified), a
//! marker's until the gateway rewrites or deletes it. Listing the same
//! directory again costs only its ListObjectsV2 requests; listing it from
//! another process (a restart, a replica) costs one more GetObject, of the
//! folder's time index (see [`super::time_index`]), not a HeadObject per file.

use dashmap::DashMap;
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use time::OffsetDateTime;

use super::time_index::{self, Index, Stored, fingerprint};
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
    /// Folders whose time index this process has read or written: what
    /// the index holds.
    indexed: DashMap<String, Stored>,
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
            indexed: DashMap::new(),
        }
    }
}

impl MtimeCache {
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

    /// Forgets what the folder's index holds: the next listing reads it.
    pub(super) fn forget_index(&self, prefix: &str) {
        self.indexed.remove(prefix);
    }

    /// Forgets the indexes of the folder at `prefix` and of every folder below it.
    pub(super) fn forget_indexes_under(&self, prefix: &str) {
        self.indexed.retain(|k, _| !k.starts_with(prefix));
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

/// A page of entries.
#[derive(Debug)]
pub struct DirPage {
    /// Directories (common prefixes) and files of this page, in S3 order.
    pub entries: Vec<Entry>,
    /// Whether S3 returned anything at all (the directory's marker counts,
    /// although it is not an entry): the directory exists.
    pub exists: bool,
}

/// Turns one ListObjectsV2 page into entries: common prefixes are
/// directories (shown with `now`: S3 keeps no time for a prefix), objects
/// are files, the directory's own marker and empty names are skipped, and
/// so is the gateway's own folder at the root of `s3.prefix` (`hide`).
fn to_entries(
    prefix: &str,
    out: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output,
    now: OffsetDateTime,
    hide: Option<&str>,
) -> (Vec<Entry>, Vec<Version>) {
    let mut entries = Vec::new();
    let mut versions = Vec::new();
    for cp in out.common_prefixes() {
        let Some(p) = cp.prefix() else { continue };
        let name = p.strip_prefix(prefix).unwrap_or(p).trim_end_matches('/');
        if name.is_empty() || name.contains('/') || Some(name) == hide {
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

/// One listing of a folder, page by page (up to 1,000 entries each).
#[derive(Debug)]
pub struct DirLister {
    storage: Storage,
    prefix: String,
    /// Whether entries carry metadata times (see the module docs).
    times: bool,
    token: Option<String>,
    done: bool,
    /// The folder's time index, once a page needed it.
    index: Option<Index>,
    /// Every file listed so far: its fingerprint and metadata time (the
    /// index to write), until there are more than [`time_index::MAX_FILES`].
    files: Option<Vec<(u64, Option<OffsetDateTime>)>>,
}

impl Storage {
    /// A listing of the directory at `prefix`. With `times`, entries carry
    /// metadata times (see the module docs); without, LastModified and no
    /// request beyond the listing.
    #[must_use]
    pub fn list_dir(&self, prefix: &str, times: bool) -> DirLister {
        DirLister {
            storage: self.clone(),
            prefix: prefix.to_owned(),
            times: times && self.list_mtime == ListMtime::Metadata,
            token: None,
            done: false,
            index: None,
            files: Some(Vec::new()),
        }
    }
}

impl DirLister {
    /// The listed directory's key prefix (its marker's key).
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The next page; `None` after the last.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn next_page(&mut self) -> Result<Option<DirPage>, StorageError> {
        if self.done {
            return Ok(None);
        }
        // A folder this process never listed: its time index is read beside
        // the first page (it will be needed), not one round trip after it.
        let first = self.token.is_none();
        let at = std::time::Instant::now();
        let prefetch = self.times
            && self.index.is_none()
            && self.token.is_none()
            && !self.storage.mtimes.indexed.contains_key(&self.prefix);
        let list = self
            .storage
            .client
            .list_objects_v2()
            .bucket(&self.storage.bucket)
            .prefix(&self.prefix)
            .delimiter("/")
            .set_continuation_token(self.token.take())
            .send();
        let out = if prefetch {
            let (out, index) = tokio::join!(list, self.storage.load_index(&self.prefix));
            self.index = Some(index);
            out
        } else {
            list.await
        }
        .map_err(|e| self.storage.sdk_error("ListObjectsV2", e))?;
        self.token = out
            .is_truncated()
            .unwrap_or(false)
            .then(|| out.next_continuation_token().map(str::to_owned))
            .flatten();
        self.done = self.token.is_none();
        if first && self.done {
            // The whole folder in one page: the names it holds are known.
            let names = super::folders::names(&self.prefix, &out);
            self.storage.folders.learn(&self.prefix, names, at);
        }
        let exists = !out.contents().is_empty() || !out.common_prefixes().is_empty();
        let hide = (self.prefix == self.storage.root).then_some(super::RESERVED_DIR);
        let (mut entries, versions) =
            to_entries(&self.prefix, &out, OffsetDateTime::now_utc(), hide);
        for (key, etag, _) in &versions {
            self.storage.versions.note(key, Some(etag));
        }
        if self.times {
            self.resolve_times(&mut entries, versions).await?;
            if self.done {
                self.finish();
            }
        }
        Ok(Some(DirPage { entries, exists }))
    }

    /// After the last page: brings the folder's time index up to date.
    fn finish(&mut self) {
        if let Some(files) = self.files.take() {
            self.storage.index_listed(&self.prefix, files);
        }
    }
}

impl Storage {
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
}

/// What a listing learnt of one entry: a file's fingerprint and whether it
/// may be written to the index; the entry's metadata time once known.
type Found = (Option<(u64, bool)>, Option<Option<OffsetDateTime>>);

impl DirLister {
    /// Replaces listed times with metadata times: from the in-memory cache,
    /// else the folder's time index (read once, when a file first misses
    /// the cache), else a HeadObject; notes every file for the index.
    async fn resolve_times(
        &mut self,
        entries: &mut [Entry],
        versions: Vec<Version>,
    ) -> Result<(), StorageError> {
        let storage = self.storage.clone();
        // Directories come first in `entries`, then files in `versions` order.
        let dirs = entries.len() - versions.len();
        let settled = OffsetDateTime::now_utc() - time_index::SETTLE;
        let lookups = entries[..dirs]
            .iter()
            .map(|e| (format!("{}{}/", self.prefix, e.name), None, None))
            .chain(
                versions
                    .into_iter()
                    .zip(&entries[dirs..])
                    .map(|((k, tag, m), e)| {
                        let print = fingerprint(&e.name, &tag, m, e.size);
                        (k, Some((tag, m)), Some((print, m <= settled)))
                    }),
            )
            .collect::<Vec<_>>();
        // Per entry: its fingerprint and whether it may be written to the
        // index (files), and its metadata time once known.
        let mut found: Vec<Found> = vec![(None, None); entries.len()];
        let mut todo = Vec::new();
        for (i, (key, seen, print)) in lookups.into_iter().enumerate() {
            found[i].0 = print;
            match storage.mtimes.get(&key, seen.as_ref()) {
                Some(t) => found[i].1 = Some(t),
                None => todo.push((i, key, seen)),
            }
        }
        if todo.iter().any(|t| t.2.is_some()) {
            let index = match self.index.take() {
                Some(index) => index,
                None => storage.load_index(&self.prefix).await,
            };
            todo.retain(|(i, key, seen)| {
                let known = found[*i].0.and_then(|(p, _)| index.get(p));
                if let Some(t) = known {
                    storage.mtimes.put(key.clone(), seen.clone(), t);
                    found[*i].1 = Some(t);
                }
                known.is_none()
            });
            self.index = Some(index);
        }
        for (i, t) in storage.look_up_times(todo).await? {
            found[i].1 = Some(t);
        }
        for (e, (_, t)) in entries.iter_mut().zip(&found) {
            if let Some(Some(t)) = t {
                e.modified = *t;
            }
        }
        self.note_files(&found);
        Ok(())
    }

    /// Notes the listed files for the index this listing may write: those
    /// not changed within [`time_index::SETTLE`] (see there).
    fn note_files(&mut self, found: &[Found]) {
        if let Some(files) = &mut self.files {
            files.extend(found.iter().filter_map(|(p, t)| match (p, t) {
                (Some((print, true)), Some(t)) => Some((*print, *t)),
                _ => None,
            }));
            if files.len() > time_index::MAX_FILES {
                self.files = None;
            }
        }
    }
}

impl Storage {
    /// HeadObjects for the entries at `todo`, [`HEADS_IN_FLIGHT`] at a
    /// time, each result cached: per entry, its metadata time or none.
    async fn look_up_times(
        &self,
        todo: Vec<(usize, String, Option<Validator>)>,
    ) -> Result<Vec<(usize, Option<OffsetDateTime>)>, StorageError> {
        futures::stream::iter(todo)
            .map(|(i, key, seen)| async move {
                let t = self.shared_metadata_time(&key).await?;
                self.mtimes.put(key, seen, t);
                Ok::<_, StorageError>((i, t))
            })
            .buffered(HEADS_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }
}
