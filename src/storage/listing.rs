//! A directory listing, from ListObjectsV2 with the `/` delimiter, page by
//! page (up to 1,000 entries each), with each entry's metadata time where
//! the listing shows times ([`super::lookups`]).
//!
//! A listing never waits for a whole page's lookups: entries are given out
//! in S3's order as soon as their own are in — the first line one lookup
//! after the first page —, the next page is requested while the current
//! one is given out, and its lookups start as soon as it is in. Listing
//! the same directory again costs only its ListObjectsV2 requests; listing
//! it from another process (a restart, a replica) costs one more
//! GetObject, of the folder's time index (see [`super::time_index`]), not
//! a HeadObject per file.

use std::collections::VecDeque;
use std::sync::Arc;

use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use time::OffsetDateTime;
use tokio_util::task::AbortOnDropHandle;

use super::lookups::{ListingLookups, Looked, PageLookups, Sample, Todo};
use super::time_index::{self, Index, fingerprint};
use super::{Storage, StorageError, to_time};
use crate::config::ListMtime;

/// Entries given out at most before waiting lookups are asked again.
const CHUNK: usize = 256;

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

/// What identifies the version of a listed file: key, ETag, LastModified.
type Version = (String, String, OffsetDateTime);

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

/// One listing of a folder (see the module docs).
#[derive(Debug)]
pub struct DirLister {
    storage: Storage,
    prefix: String,
    /// Whether entries carry metadata times (see the module docs).
    times: bool,
    /// The places of this listing's lookups, and its `auto` sample.
    lookups: ListingLookups,
    /// Whether the first page was requested.
    started: bool,
    /// The page being given out.
    page: Option<Page>,
    /// The page after it: requested, or in with its lookups started.
    next: Option<Next>,
    /// The folder's time index, once a page needed it.
    index: Option<Arc<Index>>,
    /// Every file listed so far: its fingerprint and metadata time (the
    /// index to write), until there are more than [`time_index::MAX_FILES`].
    files: Option<Vec<(u64, Option<OffsetDateTime>)>>,
}

#[derive(Debug)]
enum Next {
    Requested(AbortOnDropHandle<Result<ListObjectsV2Output, StorageError>>),
    Ready(Page),
}

/// What a listing learnt of one entry: a file's fingerprint and whether it
/// may be written to the index; the entry's metadata time once known.
type Found = (Option<(u64, bool)>, Option<Option<OffsetDateTime>>);

/// One listed page, given out in order as its lookups come in.
struct Page {
    /// The entries not given out yet: the first is the page's `given`th.
    entries: VecDeque<Entry>,
    given: usize,
    /// Per entry of the page: its lookup is still running.
    waiting: Vec<bool>,
    found: Vec<Found>,
    lookups: Option<PageLookups>,
    /// Whether S3 returned anything at all (the directory's marker counts,
    /// although it is not an entry): the directory exists.
    exists: bool,
    /// The continuation token of the page after this one.
    token: Option<String>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("left", &self.entries.len())
            .field("given", &self.given)
            .finish_non_exhaustive()
    }
}

impl Page {
    /// Moves the entries whose times are in to `out`, in order.
    fn give(&mut self, out: &mut Vec<Entry>) {
        while !self.entries.is_empty() && !self.waiting[self.given] {
            out.extend(self.entries.pop_front());
            self.given += 1;
        }
    }

    /// A lookup's answer: the entry shows its metadata time, if any.
    fn settle(&mut self, (at, time): Looked) {
        self.waiting[at] = false;
        self.found[at].1 = time;
        if let Some(Some(t)) = time
            && let Some(e) = self.entries.get_mut(at - self.given)
        {
            e.modified = t;
        }
    }
}

impl Storage {
    /// A listing of the directory at `prefix`. With `times`, entries carry
    /// metadata times (see the module docs); without, LastModified and no
    /// request beyond the listing.
    #[must_use]
    pub fn list_dir(&self, prefix: &str, times: bool) -> DirLister {
        let times = times && self.list_mtime != ListMtime::LastModified;
        let auto = self.list_mtime == ListMtime::Auto;
        DirLister {
            storage: self.clone(),
            prefix: prefix.to_owned(),
            times,
            lookups: ListingLookups {
                places: Arc::new(tokio::sync::Semaphore::new(self.mtimes.per_listing)),
                sample: auto.then(|| Arc::new(Sample::default())),
            },
            started: false,
            page: None,
            next: None,
            index: None,
            files: Some(Vec::new()),
        }
    }

    /// One ListObjectsV2 page of the folder at `prefix`.
    async fn list_page(
        &self,
        prefix: &str,
        token: Option<String>,
    ) -> Result<ListObjectsV2Output, StorageError> {
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .delimiter("/")
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| self.sdk_error("ListObjectsV2", e))
    }
}

impl DirLister {
    /// The listed directory's key prefix (its marker's key).
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Lists the first page (its lookups start at once): whether S3
    /// returned anything for the folder — its marker counts —, so whether
    /// the directory exists.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn exists(&mut self) -> Result<bool, StorageError> {
        if !self.started {
            self.advance().await?;
        }
        Ok(self.page.as_ref().is_some_and(|p| p.exists))
    }

    /// The next entries, in S3's order, with their times; `None` after the
    /// last.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn next_entries(&mut self) -> Result<Option<Vec<Entry>>, StorageError> {
        loop {
            if self.page.is_none() && !self.advance().await? {
                return Ok(None);
            }
            let mut out = Vec::new();
            loop {
                let page = self.page.as_mut().expect("a page");
                page.give(&mut out);
                if page.entries.is_empty() {
                    break;
                }
                if out.len() >= CHUNK {
                    return Ok(Some(out));
                }
                let ready = page.lookups.as_mut().and_then(PageLookups::try_next);
                let looked = match ready {
                    Some(r) => r?,
                    None if !out.is_empty() => return Ok(Some(out)),
                    None => self.wait_lookup().await?,
                };
                self.page.as_mut().expect("a page").settle(looked);
            }
            let page = self.page.take().expect("a page");
            self.note_files(&page.found);
            if self.page.is_none() && self.next.is_none() {
                self.finish();
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }

    /// Waits for the current page's next lookup; when the next page's
    /// listing comes in first, starts its lookups.
    async fn wait_lookup(&mut self) -> Result<Looked, StorageError> {
        loop {
            let page = self.page.as_mut().expect("a page");
            let lookups = page.lookups.as_mut().expect("lookups for a waiting entry");
            let listed = match &mut self.next {
                Some(Next::Requested(listing)) => tokio::select! {
                    biased;
                    r = lookups.next() => return r.unwrap_or_else(ended),
                    listed = listing => listed,
                },
                _ => return lookups.next().await.unwrap_or_else(ended),
            };
            let out =
                listed.map_err(|e| StorageError::failed("ListObjectsV2", e.to_string()))??;
            self.next = Some(Next::Ready(self.prepare(out, false).await));
        }
    }

    /// Makes the next page the current one (listing it if need be) and
    /// requests the one after it; `false` after the last.
    async fn advance(&mut self) -> Result<bool, StorageError> {
        let page = if self.started {
            match self.next.take() {
                None => return Ok(false),
                Some(Next::Ready(page)) => page,
                Some(Next::Requested(listing)) => {
                    let out = listing
                        .await
                        .map_err(|e| StorageError::failed("ListObjectsV2", e.to_string()))??;
                    self.prepare(out, false).await
                }
            }
        } else {
            self.started = true;
            let out = self.list_first().await?;
            self.prepare(out, true).await
        };
        if let Some(token) = page.token.clone() {
            let (storage, prefix) = (self.storage.clone(), self.prefix.clone());
            let listing =
                tokio::spawn(async move { storage.list_page(&prefix, Some(token)).await });
            self.next = Some(Next::Requested(AbortOnDropHandle::new(listing)));
        }
        self.page = Some(page);
        Ok(true)
    }

    /// The first page; for a folder this process never listed, its time
    /// index is read beside it (it will be needed), not one round trip after.
    async fn list_first(&mut self) -> Result<ListObjectsV2Output, StorageError> {
        let list = self.storage.list_page(&self.prefix, None);
        if self.times && !self.storage.mtimes.knows_index(&self.prefix) {
            let (out, index) = tokio::join!(list, self.storage.load_index(&self.prefix));
            self.index = Some(Arc::new(index));
            out
        } else {
            list.await
        }
    }

    /// A listed page, its lookups started.
    async fn prepare(&mut self, out: ListObjectsV2Output, first: bool) -> Page {
        let token = out
            .is_truncated()
            .unwrap_or(false)
            .then(|| out.next_continuation_token().map(str::to_owned))
            .flatten();
        if first && token.is_none() {
            // The whole folder in one page: the names it holds are known.
            let names = super::folders::names(&self.prefix, &out);
            self.storage
                .folders
                .learn(&self.prefix, names, std::time::Instant::now());
        }
        let exists = !out.contents().is_empty() || !out.common_prefixes().is_empty();
        let hide = (self.prefix == self.storage.root).then_some(super::RESERVED_DIR);
        let (entries, versions) = to_entries(&self.prefix, &out, OffsetDateTime::now_utc(), hide);
        for (key, etag, _) in &versions {
            self.storage.versions.note(key, Some(etag));
        }
        let n = entries.len();
        let mut page = Page {
            entries: entries.into(),
            given: 0,
            waiting: vec![false; n],
            found: vec![(None, None); n],
            lookups: None,
            exists,
            token,
        };
        if self.times {
            let todo = self.known_times(&mut page, versions).await;
            for t in &todo {
                page.waiting[t.at] = true;
            }
            if !todo.is_empty() {
                page.lookups = Some(self.storage.look_up_page(&self.prefix, todo, &self.lookups));
            }
        }
        page
    }

    /// Applies the times known without a lookup — the in-memory cache,
    /// else the folder's time index (read once, when a file first misses
    /// the cache) — and returns the lookups left.
    async fn known_times(&mut self, page: &mut Page, versions: Vec<Version>) -> Vec<Todo> {
        let storage = self.storage.clone();
        // Directories come first in a page, then files in `versions` order.
        let dirs = page.entries.len() - versions.len();
        let settled = OffsetDateTime::now_utc() - time_index::SETTLE;
        let auto = self.lookups.sample.is_some();
        let mut todo = Vec::new();
        for (at, e) in page.entries.iter().enumerate() {
            let (key, seen) = if at < dirs {
                (format!("{}{}/", self.prefix, e.name), None)
            } else {
                let (key, tag, m) = &versions[at - dirs];
                let print = fingerprint(&e.name, tag, *m, e.size);
                page.found[at].0 = Some((print, *m <= settled));
                (key.clone(), Some((tag.clone(), *m)))
            };
            match storage.mtimes.get(&key, seen.as_ref()) {
                Some(t) => page.found[at].1 = Some(t),
                None => todo.push(Todo { at, key, seen }),
            }
        }
        if todo.iter().any(|t| t.seen.is_some()) {
            let index = match &self.index {
                Some(index) => index.clone(),
                None => Arc::new(storage.load_index(&self.prefix).await),
            };
            todo.retain(|t| {
                let known = page.found[t.at].0.and_then(|(p, _)| index.get(p));
                if let Some(time) = known {
                    storage.mtimes.put(t.key.clone(), t.seen.clone(), time);
                    page.found[t.at].1 = Some(time);
                }
                known.is_none()
            });
            self.index = Some(index);
        }
        if auto {
            // Known neither way, and written before the folder's sample
            // showed no metadata time: LastModified shows (see lookups).
            let prefix = &self.prefix;
            todo.retain(|t| {
                !t.seen
                    .as_ref()
                    .is_some_and(|(_, m)| storage.mtimes.plain(prefix, *m))
            });
        }
        for (at, e) in page.entries.iter_mut().enumerate() {
            if let Some(Some(t)) = page.found[at].1 {
                e.modified = t;
            }
        }
        todo
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

    /// After the last page: brings the folder's time index up to date.
    fn finish(&mut self) {
        if !self.times {
            return;
        }
        if let Some(files) = self.files.take() {
            self.storage.index_listed(&self.prefix, files);
        }
    }
}

/// The lookups of a page ended before every waiting entry had its answer
/// (their task failed).
fn ended() -> Result<Looked, StorageError> {
    Err(StorageError::failed(
        "HeadObject",
        "the lookups ended early",
    ))
}
