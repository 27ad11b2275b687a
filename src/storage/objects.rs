//! Single-object requests: HEAD, the first keys under a prefix (does a
//! folder exist, is it empty), small writes, deletes, and MFMT's metadata
//! copy. Every write carries the profile's headers ([`super::writes`]).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumMode, MetadataDirective};
use time::OffsetDateTime;

use super::writes::with_headers;
use super::{
    DirState, EVENT_META, MTIME_META, ObjectInfo, Small, Storage, StorageError, Written, checksum,
    conditional, copy_source, format_mtime,
};

impl Storage {
    /// Size and time of an object; `None` when there is no such key.
    ///
    /// # Errors
    /// On S3 errors other than "not found".
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
        {
            Ok(o) => {
                self.versions.note(key, o.e_tag());
                Ok(Some(ObjectInfo::from_head(&o)))
            }
            Err(e) => match self.sdk_error("HeadObject", e) {
                StorageError::NotFound => {
                    self.versions.forget(key);
                    Ok(None)
                }
                other => Err(other),
            },
        }
    }

    /// The first `n` keys under `prefix`.
    pub(super) async fn first_keys(
        &self,
        prefix: &str,
        n: i32,
    ) -> Result<Vec<String>, StorageError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(n)
            .send()
            .await
            .map_err(|e| self.sdk_error("ListObjectsV2", e))?;
        Ok(out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect())
    }

    /// Whether a directory exists: its marker or any key under it. The bucket
    /// root (`""`) always exists.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn dir_exists(&self, prefix: &str) -> Result<bool, StorageError> {
        Ok(prefix.is_empty() || !self.first_keys(prefix, 1).await?.is_empty())
    }

    /// Whether a directory exists, and whether it holds anything but its
    /// own marker: one request.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn dir_state(&self, prefix: &str) -> Result<DirState, StorageError> {
        let keys = self.first_keys(prefix, 2).await?;
        Ok(if keys.is_empty() {
            DirState::Absent
        } else if keys.iter().all(|k| k == prefix) {
            DirState::Empty
        } else {
            DirState::NotEmpty
        })
    }

    /// Removes an empty directory: its marker, and at the same time its time
    /// index (best effort).
    ///
    /// # Errors
    /// On S3 errors deleting the marker.
    pub async fn remove_dir(&self, prefix: &str) -> Result<(), StorageError> {
        let (removed, ()) = tokio::join!(self.delete(prefix), self.drop_index(prefix));
        self.folders.deleted(prefix);
        removed
    }

    /// Writes a small object in one request.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn put_bytes(&self, key: &str, body: bytes::Bytes) -> Result<Written, StorageError> {
        self.put_small(key, body.into(), conditional::Write::Always)
            .await
    }

    /// One PutObject of `body` with its CRC32C, under the condition `when`
    /// (a failed one is [`StorageError::Changed`]); notes the new version.
    pub(super) async fn put_small(
        &self,
        key: &str,
        body: Small,
        when: conditional::Write<'_>,
    ) -> Result<Written, StorageError> {
        use conditional::Write;
        self.mtimes.forget(key);
        let Small { bytes: body, tag } = body;
        let len = body.len() as u64;
        let crc = checksum::crc32c(&body);
        let (if_none_match, if_match) = match when {
            Write::Always => (None, None),
            Write::IfAbsent => (Some("*".to_owned()), None),
            Write::IfMatch(etag) => (None, Some(etag.to_owned())),
        };
        let request = self.client.put_object();
        let sent = with_headers!(&self.writes, request)
            .bucket(&self.bucket)
            .key(key)
            .set_if_none_match(if_none_match)
            .set_if_match(if_match)
            .checksum_crc32_c(checksum::to_header(crc))
            .set_metadata(tag.map(|id| [(EVENT_META.to_owned(), id.to_string())].into()))
            .body(ByteStream::from(body))
            .customize()
            .config_override(self.sized(len))
            .send()
            .await;
        match sent {
            Ok(out) => {
                self.versions.note(key, out.e_tag());
                self.folders.wrote(key);
                self.writes
                    .answered(&self.name, out.server_side_encryption());
                Ok(Written {
                    etag: out.e_tag().map(str::to_owned),
                    version_id: out.version_id().map(str::to_owned),
                    crc32c: Some(crc),
                    confirmed: out.checksum_crc32_c().and_then(checksum::from_header) == Some(crc),
                })
            }
            Err(e) => {
                let e = self.sdk_error("PutObject", e);
                // A 412 says nothing of the version there now.
                self.versions.forget(key);
                Err(e)
            }
        }
    }

    /// Deletes one key (S3 does not fail on a missing key).
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.mtimes.forget(key);
        self.versions.forget(key);
        self.folders.deleted(key);
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.sdk_error("DeleteObject", e))?;
        Ok(())
    }

    /// Sets `x-amz-meta-mtime` by copying the object onto itself with its
    /// metadata replaced (content type and other metadata kept).
    ///
    /// # Errors
    /// [`StorageError::NotFound`] or other S3 errors.
    pub async fn set_mtime(&self, key: &str, t: OffsetDateTime) -> Result<(), StorageError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("HeadObject", e))?;
        let mut meta = head.metadata().cloned().unwrap_or_default();
        meta.insert(MTIME_META.to_owned(), format_mtime(t));
        self.mtimes.forget(key);
        self.versions.forget(key);
        let request = self.client.copy_object();
        with_headers!(&self.writes, request)
            .bucket(&self.bucket)
            .key(key)
            .copy_source(copy_source(&self.bucket, key))
            .metadata_directive(MetadataDirective::Replace)
            .set_metadata(Some(meta))
            .set_content_type(head.content_type().map(str::to_owned))
            .customize()
            .config_override(
                self.sized(u64::try_from(head.content_length().unwrap_or(0)).unwrap_or(0)),
            )
            .send()
            .await
            .map_err(|e| self.sdk_error("CopyObject", e))?;
        Ok(())
    }
}
