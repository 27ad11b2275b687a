//! Server-side copies and renames: S3 has no rename, so a rename is a copy
//! then a delete. The source may be another storage profile reached by the
//! same client (another bucket of the same endpoint and credentials): the
//! copy is server-side there too. Every copy carries the destination
//! profile's write headers.
//!
//! - One object: `CopyObject` up to 5 GiB; above, a multipart upload of
//!   ranged `UploadPartCopy` parts — the upload path of resumed transfers
//!   with no new bytes (content type, metadata and CRC32C carried over).
//! - A directory: every key under its prefix is listed, copied with bounded
//!   parallelism (each copy conditional on the ETag the listing saw), and
//!   only when every copy succeeded are the sources removed with
//!   `DeleteObjects`, 1,000 keys per request. If a copy fails, the copies
//!   already made are deleted and the source is untouched.
//!
//! Requests: a directory of N keys costs ⌈N/1000⌉ ListObjectsV2 + N
//! CopyObject + ⌈N/1000⌉ DeleteObjects.

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::upload::State;
use super::writes::with_headers;
use super::{ObjectInfo, Storage, StorageError, copy_source};

/// Copies in flight during a directory rename.
pub const RENAME_CONCURRENCY: usize = 16;
/// Keys per DeleteObjects request (S3's maximum).
const DELETE_BATCH: usize = 1000;
/// S3's longest key, in bytes.
const MAX_KEY: usize = 1024;

/// One object to move.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) key: String,
    size: u64,
    etag: Option<String>,
}

impl Storage {
    /// Server-side copy of `from` in `src` (of `size` bytes) to `to` here,
    /// conditional on `etag` when given: `CopyObject`, or a multipart copy
    /// above the copy-part limit (S3: 5 GiB). `src` must share this
    /// storage's client ([`Storage::same_client`]).
    ///
    /// # Errors
    /// [`StorageError::Changed`] when the source no longer has `etag`, or other S3 errors.
    pub async fn copy_object(
        &self,
        src: &Storage,
        from: &str,
        to: &str,
        size: u64,
        etag: Option<&str>,
    ) -> Result<(), StorageError> {
        self.mtimes.forget(to);
        self.versions.forget(to);
        if size > self.copy_part_limit {
            return self.multipart_copy(src, from, to, etag).await;
        }
        let request = self.client.copy_object();
        let out = with_headers!(&self.writes, request)
            .bucket(&self.bucket)
            .key(to)
            .copy_source(copy_source(&src.bucket, from))
            .set_copy_source_if_match(etag.map(str::to_owned))
            .customize()
            .config_override(self.sized(size))
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("CopyObject", e))?;
        self.writes
            .answered(&self.name, out.server_side_encryption());
        Ok(())
    }

    /// The upload machinery with only copied parts: content type, user
    /// metadata and the whole-object CRC32C carry over.
    async fn multipart_copy(
        &self,
        src: &Storage,
        from: &str,
        to: &str,
        etag: Option<&str>,
    ) -> Result<(), StorageError> {
        let head = src
            .client
            .head_object()
            .bucket(&src.bucket)
            .key(from)
            .set_if_match(etag.map(str::to_owned))
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("HeadObject", e))?;
        let info = ObjectInfo::from_head(&head);
        if info.archived() {
            return Err(StorageError::Archived);
        }
        let mut st = State::copying(
            &info,
            &src.bucket,
            head.content_type().map(str::to_owned),
            head.metadata().cloned().unwrap_or_default(),
        );
        let done = match self.copy_parts(to, from, &info, &mut st).await {
            Ok(()) => {
                self.commit(to, &mut st, &mut super::CommitGate::open())
                    .await
            }
            Err(e) => Err(e),
        };
        if done.is_err() {
            self.abort(to, &mut st).await;
        }
        done.map(drop)
    }

    /// Renames one object from `src` to here: copy, then delete the source.
    ///
    /// # Errors
    /// On S3 errors; the source is deleted only after the copy succeeded.
    pub async fn rename_object(
        &self,
        src: &Storage,
        from: &str,
        to: &str,
        size: u64,
        etag: Option<&str>,
    ) -> Result<(), StorageError> {
        self.copy_object(src, from, to, size, etag).await?;
        self.folders.wrote(to);
        src.delete(from).await
    }

    /// Every key under `prefix`, with size and ETag.
    pub(super) async fn list_all(&self, prefix: &str) -> Result<Vec<Item>, StorageError> {
        let mut items = Vec::new();
        self.each_object(prefix, |o| {
            if let Some(key) = o.key() {
                items.push(Item {
                    key: key.to_owned(),
                    size: u64::try_from(o.size().unwrap_or(0)).unwrap_or(0),
                    etag: o.e_tag().map(str::to_owned),
                });
            }
        })
        .await?;
        Ok(items)
    }

    /// Calls `f` with every object under `prefix` (ListObjectsV2, 1,000 a
    /// page), without keeping them.
    pub(super) async fn each_object(
        &self,
        prefix: &str,
        mut f: impl FnMut(&aws_sdk_s3::types::Object),
    ) -> Result<(), StorageError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.sdk_error("ListObjectsV2", e))?;
            page.contents().iter().for_each(&mut f);
        }
        Ok(())
    }

    /// Deletes `keys` with DeleteObjects, 1,000 per request.
    ///
    /// # Errors
    /// On S3 errors, or when S3 reports a key it could not delete.
    pub async fn delete_keys(&self, keys: &[String]) -> Result<(), StorageError> {
        for key in keys {
            self.versions.forget(key);
        }
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StorageError::failed("DeleteObjects", e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StorageError::failed("DeleteObjects", e.to_string()))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("DeleteObjects", e))?;
            if let Some(err) = out.errors().first() {
                return Err(StorageError::S3 {
                    op: "DeleteObjects",
                    code: err.code().map(str::to_owned),
                    message: format!(
                        "{} of {} keys not deleted, e.g. {}: {}",
                        out.errors().len(),
                        batch.len(),
                        err.key().unwrap_or_default(),
                        err.message().unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Renames the directory `from` (a prefix ending in `/`) of `src` to
    /// `to` here: copies every key, then deletes the sources. Returns the
    /// number of keys moved. On a failed copy (or `cancel`), the copies
    /// made are removed and the source is left whole.
    ///
    /// # Errors
    /// [`StorageError::KeyTooLong`] before anything is copied when a new key
    /// would exceed 1,024 bytes; S3 errors; [`StorageError::Cancelled`].
    pub async fn rename_dir(
        &self,
        src: &Storage,
        from: &str,
        to: &str,
        cancel: &CancellationToken,
    ) -> Result<usize, StorageError> {
        let items = src.list_all(from).await?;
        let target = |k: &str| format!("{to}{}", &k[from.len()..]);
        if items.iter().any(|i| target(&i.key).len() > MAX_KEY) {
            return Err(StorageError::KeyTooLong);
        }
        let mut failure = None;
        {
            let jobs: Vec<(Item, String)> =
                items.iter().map(|i| (i.clone(), target(&i.key))).collect();
            let mut copies = futures::stream::iter(jobs)
                .map(|(item, dst)| {
                    let (storage, src) = (self.clone(), src.clone());
                    async move {
                        let r = storage
                            .copy_object(&src, &item.key, &dst, item.size, item.etag.as_deref())
                            .await;
                        (dst, r)
                    }
                })
                .buffer_unordered(RENAME_CONCURRENCY);
            while failure.is_none() {
                tokio::select! {
                    () = cancel.cancelled() => failure = Some(StorageError::Cancelled),
                    next = copies.next() => match next {
                        None => break,
                        Some((_, Ok(()))) => {}
                        Some((dst, Err(e))) => {
                            tracing::warn!(from, to, key = dst, error = %e, "directory rename: copy failed; undoing");
                            failure = Some(e);
                        }
                    },
                }
            }
        }
        if let Some(e) = failure {
            // The destination did not exist before, so every target key is
            // ours to remove: this also catches copies that were in flight
            // when the stream was dropped.
            let targets: Vec<String> = items.iter().map(|i| target(&i.key)).collect();
            if let Err(undo) = self.delete_keys(&targets).await {
                tracing::error!(from, to, error = %undo, "directory rename: could not remove the partial copy");
            }
            return Err(e);
        }
        self.folders.wrote(to);
        src.delete_keys(&items.iter().map(|i| i.key.clone()).collect::<Vec<_>>())
            .await?;
        src.folders.deleted(from);
        src.drop_indexes_under(from).await;
        Ok(items.len())
    }
}
