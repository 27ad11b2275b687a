//! One page of a directory listing, from ListObjectsV2 with the `/` delimiter.

use time::OffsetDateTime;

use super::{Storage, StorageError, to_time};
use crate::ftp::listing::{Entry, Kind};

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
) -> Vec<Entry> {
    let mut entries = Vec::new();
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
        entries.push(Entry {
            name: name.to_owned(),
            kind: Kind::File,
            size: u64::try_from(obj.size().unwrap_or(0)).unwrap_or(0),
            modified: to_time(obj.last_modified()),
        });
    }
    entries
}

impl Storage {
    /// Lists one page (up to 1000 entries) of the directory at `prefix`.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn list_dir_page(
        &self,
        prefix: &str,
        token: Option<String>,
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
        Ok(DirPage {
            entries: to_entries(prefix, &out, OffsetDateTime::now_utc()),
            next,
            exists,
        })
    }

    /// Every key under `prefix` (no delimiter), one page at a time.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn list_keys_page(
        &self,
        prefix: &str,
        token: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), StorageError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("ListObjectsV2", e))?;
        let keys = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        let next = out
            .is_truncated()
            .unwrap_or(false)
            .then(|| out.next_continuation_token().map(str::to_owned))
            .flatten();
        Ok((keys, next))
    }
}
