//! The time index: what a folder's listing learnt from HeadObject, kept in
//! S3 so that the next gateway (a restart, another replica) lists the folder
//! without a HeadObject per file.
//!
//! ListObjectsV2 returns no user metadata, so a file's `x-amz-meta-mtime`
//! (MFMT, rclone) costs one HeadObject. After a listing whose files differ
//! from what the folder's index holds (this process remembers the version
//! it read or wrote and a digest of its entries: [`Stored`]), the gateway
//! writes one small object per folder, hidden from FTP under
//! `<s3.prefix>.s3ftpd/times/<folder>/.index`, with one line per file: a
//! fingerprint of the file's name, ETag, LastModified and size, and its
//! metadata time when it has one. A listing that misses its in-memory cache
//! reads the index once (one GetObject: beside the first page for a folder
//! this process has not listed before, else when a file first misses the
//! cache) and trusts an entry only when the
//! listed file has exactly that fingerprint: any write, overwrite or
//! metadata copy — by the gateway or any other S3 tool — changes the ETag
//! or the LastModified, so a stale entry is never used, only looked up
//! again (files changed in the last few seconds are left out, see
//! [`SETTLE`]). The index is a cache: losing it, or a write of it failing, costs
//! HeadObjects, never a wrong time; it holds no entry for a folder and so
//! never makes a deleted or empty folder look present.
//!
//! Writes are conditional (`If-Match` the version read, `If-None-Match: *`
//! when there was none): when two replicas list a changed folder at once,
//! the second write fails with 412 and is dropped (the first is as recent).
//! Servers that ignore the conditions (Garage 2.5) or reject them get plain
//! writes: the last writer wins, every entry still checked one by one.

use std::collections::HashMap;
use std::fmt::Write;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::conditional::refuses_conditions;
use super::writes::with_headers;
use super::{RESERVED_DIR, Storage, StorageError, format_mtime, parse_mtime};
/// First line of an index object.
const HEADER: &str = "s3ftpd time index v1";
/// Files beyond which a folder gets no index (its memory per listing).
pub(super) const MAX_FILES: usize = 100_000;
/// How long ago a file must have changed to be written to an index.
/// Listings show LastModified to the second (AWS), so a metadata copy in
/// the same second as the version the gateway looked up would keep its
/// fingerprint: a file is indexed only once that second is past, with
/// room for the gateway's clock to be a few seconds off S3's. Files
/// younger than this are looked up as without an index.
pub(super) const SETTLE: time::Duration = time::Duration::seconds(5);

/// A listed file's version, as a 64-bit fingerprint.
pub(super) fn fingerprint(name: &str, etag: &str, modified: OffsetDateTime, size: u64) -> u64 {
    let mut h = Sha256::new();
    for part in [
        name.as_bytes(),
        etag.as_bytes(),
        &modified.unix_timestamp_nanos().to_be_bytes(),
        &size.to_be_bytes(),
    ] {
        h.update(u64::try_from(part.len()).unwrap_or(0).to_be_bytes());
        h.update(part);
    }
    let d = h.finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// A folder's index as read from S3: metadata time (or none) by fingerprint.
#[derive(Debug, Default)]
pub(super) struct Index {
    known: HashMap<u64, Option<OffsetDateTime>>,
}

impl Index {
    /// What the index says about a file with this fingerprint.
    pub(super) fn get(&self, print: u64) -> Option<Option<OffsetDateTime>> {
        self.known.get(&print).copied()
    }
}

/// What this process knows a folder's index in S3 holds: its version
/// (`None`: there is none) and a digest of its entries. A listing whose
/// files have another digest rewrites it, conditionally on that version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stored {
    etag: Option<String>,
    digest: u64,
}

impl Stored {
    pub(super) fn new(etag: Option<String>, digest: u64) -> Self {
        Self { etag, digest }
    }
}

/// A digest of index entries, independent of their order.
pub(super) fn digest<'a>(
    files: impl IntoIterator<Item = (&'a u64, &'a Option<OffsetDateTime>)>,
) -> u64 {
    let mut n = 0u64;
    let mut sum = 0u64;
    for (print, time) in files {
        // Nanoseconds since 1970 fit in 64 bits until 2554.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let t = time.map_or(u64::MAX, |t| t.unix_timestamp_nanos() as u64);
        let mixed = print.rotate_left(17) ^ t.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        sum = sum.wrapping_add(mixed.wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ (mixed >> 31));
        n += 1;
    }
    sum ^ n
}

/// Parses an index body; `None` when it is not one (then it is ignored).
fn parse(body: &str) -> Option<HashMap<u64, Option<OffsetDateTime>>> {
    let mut lines = body.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let mut known = HashMap::new();
    for line in lines {
        let (print, time) = match line.split_once(' ') {
            Some((p, t)) => (p, Some(parse_mtime(t)?)),
            None => (line, None),
        };
        known.insert(u64::from_str_radix(print, 16).ok()?, time);
    }
    Some(known)
}

/// Renders an index body (sorted, so equal contents are equal bytes).
fn render(files: &mut [(u64, Option<OffsetDateTime>)]) -> String {
    files.sort_unstable_by_key(|f| f.0);
    let mut out = String::with_capacity(files.len() * 20 + HEADER.len() + 1);
    out.push_str(HEADER);
    out.push('\n');
    for (print, time) in files.iter() {
        // Writing to a String cannot fail.
        let _ = match time {
            Some(t) => writeln!(out, "{print:016x} {}", format_mtime(*t)),
            None => writeln!(out, "{print:016x}"),
        };
    }
    out
}

impl Storage {
    /// The index object of the folder at `prefix`.
    fn index_key(&self, prefix: &str) -> String {
        let rel = prefix.strip_prefix(self.root.as_str()).unwrap_or(prefix);
        format!("{}{RESERVED_DIR}/times/{rel}.index", self.root)
    }

    /// Deletes the index of the folder at `prefix`, which was just removed
    /// (best effort: a leftover index only takes a few bytes, and it is
    /// never trusted for files it does not fingerprint).
    pub(super) async fn drop_index(&self, prefix: &str) {
        self.mtimes.forget_index(prefix);
        let key = self.index_key(prefix);
        if let Err(e) = self.delete(&key).await {
            tracing::debug!(%key, error = %e, "time index of a removed folder not deleted");
        }
    }

    /// Deletes the indexes of the folder at `prefix` and of every folder
    /// below it (a renamed tree: its copies have new times, so the old
    /// entries would match none of them). Best effort, as above.
    pub(super) async fn drop_indexes_under(&self, prefix: &str) {
        self.mtimes.forget_indexes_under(prefix);
        let rel = prefix.strip_prefix(self.root.as_str()).unwrap_or(prefix);
        let area = format!("{}{RESERVED_DIR}/times/{rel}", self.root);
        let dropped = match self.list_all(&area).await {
            Ok(items) if items.is_empty() => Ok(()),
            Ok(items) => {
                let keys: Vec<String> = items.into_iter().map(|i| i.key).collect();
                self.delete_keys(&keys).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = dropped {
            tracing::debug!(%area, error = %e, "time indexes of a renamed folder not deleted");
        }
    }

    /// Reads the folder's index; an empty one when there is none or it is
    /// unreadable (the listing then looks every file up, as without it).
    pub(super) async fn load_index(&self, prefix: &str) -> Index {
        let key = self.index_key(prefix);
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e) => {
                // Unreadable (denied, S3 failing) is noted like absent: the
                // next write is `If-None-Match: *`, so an index that does
                // exist is read again after its 412, and a folder whose
                // index cannot be read is not asked for at every listing.
                match StorageError::from_sdk("GetObject", e) {
                    StorageError::NotFound => {}
                    e => tracing::debug!(%key, error = %e, "time index not read"),
                }
                self.mtimes
                    .note_index(prefix, None, digest(&HashMap::new()));
                return Index::default();
            }
        };
        let etag = out.e_tag().map(str::to_owned);
        let known = match out.body.collect().await {
            Ok(b) => std::str::from_utf8(&b.into_bytes()).ok().and_then(parse),
            Err(e) => {
                tracing::debug!(%key, error = %e, "time index not read");
                return Index::default();
            }
        };
        // Unreadable: replaced by the next write, conditionally on it.
        let known = known.unwrap_or_default();
        self.mtimes.note_index(prefix, etag, digest(&known));
        Index { known }
    }

    /// After a listing of the folder at `prefix`: writes its index when
    /// `files` differ from what this process knows the index holds. A
    /// folder whose index this process never read is left alone.
    pub(super) fn index_listed(&self, prefix: &str, files: Vec<(u64, Option<OffsetDateTime>)>) {
        let Some(stored) = self.mtimes.stored_index(prefix) else {
            return;
        };
        let now = digest(files.iter().map(|(p, t)| (p, t)));
        if stored.digest != now {
            self.save_index(prefix, stored.etag, now, files);
        }
    }

    /// Writes the folder's index in the background, conditionally on the
    /// version `etag` (see the module docs). Failures only cost lookups.
    fn save_index(
        &self,
        prefix: &str,
        etag: Option<String>,
        digest: u64,
        mut files: Vec<(u64, Option<OffsetDateTime>)>,
    ) {
        if !self.own_writes {
            // A read-only profile or mount: the gateway writes nothing here.
            self.mtimes.note_index(prefix, etag, digest);
            return;
        }
        let (this, key, prefix) = (self.clone(), self.index_key(prefix), prefix.to_owned());
        tokio::spawn(async move {
            let body = render(&mut files);
            let conditional = !this.conditional.refused();
            let r = this
                .put_index(&key, &body, conditional.then(|| etag.clone()))
                .await;
            let r = match r {
                Err(StorageError::S3 { ref code, .. })
                    if conditional && refuses_conditions(code.as_deref()) =>
                {
                    this.conditional.note_refused();
                    tracing::info!(
                        "S3 refuses conditional writes: time indexes are written plainly"
                    );
                    this.put_index(&key, &body, None).await
                }
                r => r,
            };
            match r {
                Ok(written) => {
                    tracing::debug!(%key, files = files.len(), "time index written");
                    this.mtimes.note_index(&prefix, written, digest);
                }
                Err(StorageError::Changed) => {
                    // Another gateway's, as recent: read it next time.
                    tracing::debug!(%key, "time index written meanwhile by another listing");
                    this.mtimes.forget_index(&prefix);
                }
                Err(e) => {
                    // Not retried until the folder changes (read-only keys…).
                    tracing::debug!(%key, error = %e, "time index not written");
                    this.mtimes.note_index(&prefix, etag, digest);
                }
            }
        });
    }

    /// One PutObject of an index: `condition` is `Some(read version)` for a
    /// conditional write (`None` inside: the index must not exist yet).
    async fn put_index(
        &self,
        key: &str,
        body: &str,
        condition: Option<Option<String>>,
    ) -> Result<Option<String>, StorageError> {
        let request = self.client.put_object();
        let mut put = with_headers!(&self.writes, request)
            .bucket(&self.bucket)
            .key(key)
            .content_type("text/plain")
            .body(body.as_bytes().to_vec().into());
        put = match condition {
            Some(Some(etag)) => put.if_match(etag),
            Some(None) => put.if_none_match("*"),
            None => put,
        };
        put.send()
            .await
            .map(|out| out.e_tag().map(str::to_owned))
            .map_err(|e| StorageError::from_sdk("PutObject", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp(1_577_934_245).unwrap();
        let a = fingerprint("a.txt", "\"e1\"", t, 3);
        let b = fingerprint("b.txt", "\"e2\"", t, 4);
        let mut files = vec![(b, None), (a, Some(t))];
        let known = parse(&render(&mut files)).unwrap();
        assert_eq!(known.len(), 2);
        assert_eq!(known.get(&a), Some(&Some(t)));
        assert_eq!(known.get(&b), Some(&None));
        assert_eq!(parse("something else\n0123 x\n"), None);
    }

    #[test]
    fn the_digest_sees_entries_not_their_order() {
        let t = OffsetDateTime::from_unix_timestamp(1_577_934_245).unwrap();
        let a = [(1u64, None), (2, Some(t))];
        let b = [(2u64, Some(t)), (1, None)];
        let d = |f: &[(u64, Option<OffsetDateTime>)]| digest(f.iter().map(|(p, t)| (p, t)));
        assert_eq!(d(&a), d(&b));
        assert_ne!(d(&a), d(&[(1, None), (2, None)]));
        assert_ne!(d(&a), d(&[(1, None)]));
        assert_eq!(d(&[]), 0);
        let known: HashMap<_, _> = a.into_iter().collect();
        assert_eq!(digest(&known), d(&b));
    }

    #[test]
    fn any_change_changes_the_fingerprint() {
        let t = OffsetDateTime::from_unix_timestamp(1_577_934_245).unwrap();
        let base = fingerprint("a", "\"e\"", t, 1);
        assert_ne!(base, fingerprint("b", "\"e\"", t, 1));
        assert_ne!(base, fingerprint("a", "\"f\"", t, 1));
        assert_ne!(
            base,
            fingerprint("a", "\"e\"", t + time::Duration::SECOND, 1)
        );
        assert_ne!(base, fingerprint("a", "\"e\"", t, 2));
        // Parts are length-prefixed: moving a byte between them changes it.
        assert_ne!(fingerprint("ab", "c", t, 1), fingerprint("a", "bc", t, 1));
    }
}
