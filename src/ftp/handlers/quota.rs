//! Quotas (`552`, RFC 959's "storage allocation exceeded") on a home and
//! on a mount: the bytes and files under its folder, whoever wrote them
//! (storage's `usage`). An upload is refused at STOR when the folder is
//! already full, and otherwise takes its bytes from the room left as they
//! arrive, shared with the other uploads under the same quota in this
//! process (storage's `Budget`) — past it the upload stops and is aborted
//! before its commit, so the previous version stays intact. `SITE QUOTA`
//! (and STAT) show the usage.

use crate::ftp::context::{Outcome, UserCtx};
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::reply::{Code, Reply};
use crate::namespace::{Mount, VPath};
use std::sync::Arc;

use crate::storage::{Budget, Counts, Replaced, Storage};

/// The room an upload has under a quota.
#[derive(Debug)]
pub(super) struct Room {
    storage: Storage,
    prefix: String,
    /// What the upload's bytes are taken from (without a bytes limit
    /// too: the upload waits for `replaced` before its commit).
    pub(super) budget: Arc<Budget>,
    /// The object the upload replaces or continues (its size).
    replaced: Replaced,
}

impl Room {
    /// Counts what the upload did: the object now holds `size` bytes.
    pub(super) async fn commit(&self, size: u64) {
        let Ok(before) = self.replaced.size().await else {
            // What it replaced is unknown: S3 is asked at the next use.
            self.storage.recount_soon(&self.prefix);
            return;
        };
        let bytes = i64::try_from(size).unwrap_or(i64::MAX)
            - i64::try_from(before.unwrap_or(0)).unwrap_or(0);
        let files = i64::from(before.is_none());
        self.storage.note_usage(&self.prefix, bytes, files).await;
    }
}

impl Room {
    /// After an interrupted upload that `uploads.keep_partial` kept: its
    /// size is S3's to tell, so the usage is counted again.
    pub(super) fn kept_partial(&self) {
        self.storage.recount_soon(&self.prefix);
    }
}

/// The usage of a mount's quota.
async fn counts(u: &UserCtx<'_>, m: &Mount) -> Result<(Counts, std::time::Duration), FtpError> {
    let rescan = u.gw.config.limits.quota_rescan.0;
    Ok(m.storage().usage(m.base(), rescan).await?)
}

/// The room for an upload to `path` replacing `replaced` (its lookup may
/// still run), or continuing it (`append`: a resume, APPE); `None` when no
/// quota applies. 552 when the folder is full — for a files limit that is
/// reached, once the lookup says the name is new.
pub(super) async fn room(
    u: &UserCtx<'_>,
    path: &VPath,
    replaced: impl FnOnce() -> Replaced,
    append: bool,
) -> Result<Option<Room>, FtpError> {
    let Some(m) = u.ns.quota_at(path) else {
        return Ok(None);
    };
    let q = m.quota().expect("a quota");
    let (c, _) = counts(u, m).await?;
    let full = |what: &str| {
        refuse(
            Code::StorageExceeded,
            format!("{path}: quota exceeded ({what}); nothing was stored"),
        )
    };
    if let Some(limit) = q.bytes.map(|b| b.0)
        && c.bytes >= limit
    {
        return Err(full(&format!("{} of {limit} bytes", c.bytes)));
    }
    let replaced = replaced();
    if let Some(f) = q.files
        && c.files >= f
        && replaced.size().await?.is_none()
    {
        return Err(full(&format!("{} of {f} files", c.files)));
    }
    let limit = q.bytes.map_or(u64::MAX, |b| b.0);
    Ok(Some(Room {
        storage: m.storage().clone(),
        prefix: m.base().to_owned(),
        budget: m
            .storage()
            .budget(m.base(), limit, replaced.clone(), append),
        replaced,
    }))
}

/// After a file of `size` bytes at `path` was deleted.
pub(super) async fn deleted(u: &UserCtx<'_>, path: &VPath, size: u64) {
    if let Some(m) = u.ns.quota_at(path) {
        let bytes = -i64::try_from(size).unwrap_or(i64::MAX);
        m.storage().note_usage(m.base(), bytes, -1).await;
    }
}

/// The usage lines of every quota of the account.
pub(super) async fn lines(u: &UserCtx<'_>) -> Result<Vec<String>, FtpError> {
    let mut out = Vec::new();
    for m in u.ns.quotas() {
        let q = m.quota().expect("a quota");
        let (c, age) = counts(u, m).await?;
        let bytes = q.bytes.map_or_else(
            || format!("{} bytes", c.bytes),
            |b| format!("{} of {} bytes", c.bytes, b.0),
        );
        let files = q.files.map_or_else(
            || format!("{} files", c.files),
            |f| format!("{} of {f} files", c.files),
        );
        out.push(format!(
            " {}: {bytes}, {files} (counted {}s ago)",
            m.at(),
            age.as_secs()
        ));
    }
    Ok(out)
}

/// `SITE QUOTA`: the usage of the home and of each mount with a quota.
pub(in crate::ftp) async fn site_quota(u: &mut UserCtx<'_>) -> Outcome {
    let mut text = vec!["Quota:".to_owned()];
    let lines = lines(u).await?;
    if lines.is_empty() {
        text.push(" none for this account".to_owned());
    }
    text.extend(lines);
    text.push("End".to_owned());
    Ok(Reply::multi(Code::Ok, text))
}
