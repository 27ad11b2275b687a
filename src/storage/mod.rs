//! The S3 side: every request the gateway makes goes through [`Storage`].
//!
//! One code path for every backend (embedded store, Garage, MinIO, AWS):
//! `aws-sdk-s3` over HTTP. Errors are mapped once, in [`error`], to
//! [`StorageError`], which the session turns into FTP replies.

pub mod checksum;
mod conditional;
mod deadline;
mod download;
mod error;
mod folder_check;
mod gate;
mod instrument;
mod janitor;
mod listing;
mod mtime;
mod pool;
mod rename;
mod resume;
mod schedule;
mod time_index;
mod upload;
mod versions;

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumMode, ChecksumType, MetadataDirective, ServerSideEncryption};
use time::OffsetDateTime;

pub use deadline::ObjectBody;
pub use error::StorageError;
pub use folder_check::FolderCheck;
pub use gate::{Ask, CommitGate, CommitQuestion};
pub use janitor::AbortQueue;
pub use listing::{DirLister, DirPage, Entry, Kind};
use mtime::to_time;
pub use mtime::{MTIME_META, format_mtime, parse_mtime};
pub use pool::https_client;
pub use rename::RENAME_CONCURRENCY;
pub use resume::ResumeRefusal;
pub use schedule::copy_ranges;
pub use schedule::part_size_for;
pub use time_index::RESERVED_DIR;
pub use upload::{UploadOptions, upload};

use crate::config;

/// Size and time of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// `x-amz-meta-mtime` when present, else LastModified.
    pub modified: OffsetDateTime,
    /// LastModified: when S3 stored this version.
    pub stored: OffsetDateTime,
    /// The ETag, quotes included, as S3 sent it (for conditional requests).
    pub etag: String,
    /// The whole object's CRC32C, when S3 stores one.
    pub crc32c: Option<u32>,
    /// The whole object's SHA-256 (hex), when S3 stores one.
    pub sha256: Option<String>,
    /// The object's MD5 (hex) when its ETag is one: a single-part upload
    /// without KMS or customer-key encryption.
    pub md5: Option<String>,
}

/// What [`Storage::dir_state`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirState {
    /// No marker and no key under it.
    Absent,
    /// Only its marker.
    Empty,
    /// Keys under it.
    NotEmpty,
}

/// Where to reach S3 and with which keys (resolved from config, or the embedded store).
#[derive(Debug, Clone)]
pub struct S3Access {
    /// URL, or `None` for AWS.
    pub url: Option<String>,
    /// Static keys, or `None` for the AWS chain.
    pub keys: Option<(String, String)>,
}

/// A handle on the bucket, cheap to clone.
#[derive(Debug, Clone)]
pub struct Storage {
    client: Client,
    bucket: String,
    part_size: u64,
    concurrency: usize,
    /// Ranges fetched ahead of the one being sent (`s3.download_concurrency`).
    download_concurrency: usize,
    list_mtime: config::ListMtime,
    mtimes: std::sync::Arc<listing::MtimeCache>,
    /// `s3.prefix`, normalised: `""` or ending with `/`.
    root: String,
    /// What S3 does with conditional writes: see [`conditional`].
    conditional: std::sync::Arc<conditional::Conditional>,
    /// The version of each file seen last: see [`versions`].
    versions: std::sync::Arc<versions::Versions>,
    /// Largest part of a server-side copy (S3: 5 GiB).
    copy_part_limit: u64,
    /// `s3.timeout`: see [`deadline`].
    timeout: Duration,
    /// Aborts that failed, retried by [`Storage::clean_uploads`].
    aborts: std::sync::Arc<AbortQueue>,
    /// Multipart uploads this process is running (never swept).
    live: std::sync::Arc<dashmap::DashSet<String>>,
    /// Overwrites that failed, leaving the previous object: see [`resume`].
    failed: std::sync::Arc<resume::FailedOverwrites>,
    metrics: std::sync::Arc<crate::observe::Metrics>,
}

/// `s3.prefix` as keys start with it: `""`, or its segments (`.` and empty
/// ones dropped, `..` popping one) joined by `/` with a trailing `/`.
#[must_use]
pub fn normalise_prefix(prefix: &str) -> String {
    let mut stack = Vec::new();
    for seg in prefix.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    let mut out = stack.join("/");
    if !out.is_empty() {
        out.push('/');
    }
    out
}

/// Percent-encodes a key for `x-amz-copy-source`.
fn copy_source(bucket: &str, key: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    format!(
        "{bucket}/{}",
        percent_encoding::utf8_percent_encode(key, SET)
    )
}

impl ObjectInfo {
    /// From a HeadObject response (sent with checksum mode enabled).
    fn from_head(o: &aws_sdk_s3::operation::head_object::HeadObjectOutput) -> Self {
        let full_object = !matches!(o.checksum_type(), Some(ChecksumType::Composite));
        let etag = o.e_tag().unwrap_or_default().trim_matches('"');
        let encrypted = o.sse_customer_algorithm().is_some()
            || matches!(
                o.server_side_encryption(),
                Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
            );
        let md5 = (etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit()) && !encrypted)
            .then(|| etag.to_ascii_lowercase());
        let meta_time = o
            .metadata()
            .and_then(|m| m.get(MTIME_META))
            .and_then(|v| parse_mtime(v));
        Self {
            size: u64::try_from(o.content_length().unwrap_or(0)).unwrap_or(0),
            modified: meta_time.unwrap_or_else(|| to_time(o.last_modified())),
            stored: to_time(o.last_modified()),
            etag: o.e_tag().unwrap_or_default().to_owned(),
            crc32c: o
                .checksum_crc32_c()
                .filter(|_| full_object)
                .and_then(checksum::from_header),
            sha256: o
                .checksum_sha256()
                .filter(|_| full_object)
                .and_then(|v| aws_smithy_types::base64::decode(v).ok())
                .filter(|b| b.len() == 32)
                .map(hex::encode),
            md5,
        }
    }
}

impl Storage {
    /// Test hook: the largest part of a server-side copy (S3: 5 GiB), so a
    /// test can exercise multi-part copies without 5 GiB objects.
    #[cfg(feature = "test-hooks")]
    #[must_use]
    pub fn with_copy_part_limit(mut self, bytes: u64) -> Self {
        self.copy_part_limit = bytes;
        self
    }

    /// Builds the S3 client: every call within `s3.timeout` (see
    /// [`deadline`]), every request counted in `metrics`.
    pub async fn connect(
        cfg: &config::S3,
        endpoint: &S3Access,
        metrics: std::sync::Arc<crate::observe::Metrics>,
    ) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new(cfg.region.clone()))
            .http_client(pool::https_client());
        if let Some((ak, sk)) = &endpoint.keys {
            loader =
                loader.credentials_provider(Credentials::new(ak, sk, None, None, "s3ftpd-config"));
        }
        let sdk = loader.load().await;
        let timeouts = deadline::client_timeouts(cfg.timeout.0);
        let mut b = aws_sdk_s3::config::Builder::from(&sdk)
            .http_client(pool::CappedClient::new(cfg.max_connections))
            .force_path_style(cfg.path_style)
            .timeout_config(timeouts)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .interceptor(instrument::S3Metrics(metrics.clone()));
        if let Some(url) = &endpoint.url {
            b = b.endpoint_url(url);
        }
        Self {
            client: Client::from_conf(b.build()),
            bucket: cfg.bucket.clone(),
            part_size: cfg.part_size.0,
            concurrency: cfg.upload_concurrency,
            download_concurrency: cfg.download_concurrency,
            list_mtime: cfg.list_mtime,
            mtimes: std::sync::Arc::default(),
            root: normalise_prefix(&cfg.prefix),
            conditional: std::sync::Arc::default(),
            versions: std::sync::Arc::default(),
            copy_part_limit: schedule::MAX_PART,
            timeout: cfg.timeout.0,
            aborts: std::sync::Arc::default(),
            live: std::sync::Arc::default(),
            failed: std::sync::Arc::default(),
            metrics,
        }
    }

    /// The config override that gives a request moving `bytes` its deadline.
    fn sized(&self, bytes: u64) -> aws_sdk_s3::config::Builder {
        deadline::sized(self.timeout, bytes)
    }

    /// Checks that the bucket exists and is reachable.
    ///
    /// # Errors
    /// When it is not.
    pub async fn check_bucket(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("HeadBucket", e))?;
        Ok(())
    }

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
            Err(e) => match StorageError::from_sdk("HeadObject", e) {
                StorageError::NotFound => {
                    self.versions.forget(key);
                    Ok(None)
                }
                other => Err(other),
            },
        }
    }

    /// The first `n` keys under `prefix`.
    async fn first_keys(&self, prefix: &str, n: i32) -> Result<Vec<String>, StorageError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(n)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("ListObjectsV2", e))?;
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
        removed
    }

    /// Writes a small object in one request.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn put_bytes(&self, key: &str, body: bytes::Bytes) -> Result<(), StorageError> {
        self.put_small(key, body, conditional::Write::Always).await
    }

    /// One PutObject of `body` with its CRC32C, under the condition `when`
    /// (a failed one is [`StorageError::Changed`]); notes the new version.
    async fn put_small(
        &self,
        key: &str,
        body: bytes::Bytes,
        when: conditional::Write<'_>,
    ) -> Result<(), StorageError> {
        use conditional::Write;
        self.mtimes.forget(key);
        let len = body.len() as u64;
        let (if_none_match, if_match) = match when {
            Write::Always => (None, None),
            Write::IfAbsent => (Some("*".to_owned()), None),
            Write::IfMatch(etag) => (None, Some(etag.to_owned())),
        };
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .set_if_none_match(if_none_match)
            .set_if_match(if_match)
            .checksum_crc32_c(checksum::to_header(checksum::crc32c(&body)))
            .body(ByteStream::from(body))
            .customize()
            .config_override(self.sized(len))
            .send()
            .await;
        match sent {
            Ok(out) => {
                self.versions.note(key, out.e_tag());
                Ok(())
            }
            Err(e) => {
                let e = StorageError::from_sdk("PutObject", e);
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
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("DeleteObject", e))?;
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
        self.client
            .copy_object()
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
            .map_err(|e| StorageError::from_sdk("CopyObject", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_encoded() {
        assert_eq!(
            copy_source("b", "a dir/ü+x.txt"),
            "b/a%20dir/%C3%BC%2Bx.txt"
        );
    }
}
