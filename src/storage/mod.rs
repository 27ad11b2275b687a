//! The S3 side: every request the gateway makes goes through a [`Storage`],
//! one per storage profile (a bucket and a prefix on an endpoint, with its
//! credentials and write settings), built together by [`Storages`]
//! (`connect.rs`: shared clients, one connection cap, per-bucket state).
//!
//! One code path for every backend (embedded store, Garage, MinIO, AWS):
//! `aws-sdk-s3` over HTTP. Errors are mapped once, in [`error`], to
//! [`StorageError`], which the session turns into FTP replies.

pub mod checksum;
mod conditional;
mod connect;
mod deadline;
mod download;
mod error;
mod folder_check;
mod folders;
mod gate;
mod health;
mod instrument;
mod janitor;
mod listing;
mod lookups;
mod mtime;
mod objects;
mod outbox;
mod pool;
mod rename;
mod resume;
mod schedule;
mod time_index;
mod upload;
mod usage;
mod versions;
mod writes;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{ChecksumType, ServerSideEncryption};
use time::OffsetDateTime;

pub use connect::{S3Access, Storages};
pub use download::ObjectBody;
pub use error::StorageError;
pub use folder_check::FolderCheck;
pub use gate::{Ask, CommitGate, CommitQuestion};
pub use janitor::AbortQueue;
pub use listing::{DirLister, Entry, Kind};
use mtime::to_time;
pub use mtime::{MTIME_META, format_mtime, parse_mtime};
pub use outbox::OutboxEntry;
pub use pool::https_client;
pub use rename::RENAME_CONCURRENCY;
pub use resume::ResumeRefusal;
pub use schedule::copy_ranges;
pub use schedule::part_size_for;
pub use upload::{Before, Tag, UploadOptions, Uploaded, upload};
pub use usage::{Budget, Counts, Replaced};

use crate::config;

/// The gateway's own folder at the root of each profile's prefix (its time
/// indexes, its conditional-write probe), which FTP never shows.
pub const RESERVED_DIR: &str = ".s3ftpd";

/// The user metadata an upload's object carries its event's id in
/// (`x-amz-meta-s3ftpd-event`): how a gateway taking over an outbox entry
/// tells whether that upload was committed.
pub const EVENT_META: &str = "s3ftpd-event";

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
    /// Its storage class when not STANDARD (`GLACIER` …).
    pub storage_class: Option<String>,
    /// The version id, on a versioned bucket.
    pub version_id: Option<String>,
    /// The event of the upload that made it (`x-amz-meta-s3ftpd-event`).
    pub event_id: Option<String>,
}

impl ObjectInfo {
    /// Whether the object must be restored before it can be read or
    /// copied (GLACIER, DEEP_ARCHIVE).
    #[must_use]
    pub fn archived(&self) -> bool {
        matches!(
            self.storage_class.as_deref(),
            Some("GLACIER" | "DEEP_ARCHIVE")
        )
    }
}

/// What a write that made an object learnt of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Its ETag, quotes included.
    pub etag: Option<String>,
    /// Its version id, on a versioned bucket.
    pub version_id: Option<String>,
    /// The full-object CRC32C the gateway computed and sent, when it sent one.
    pub crc32c: Option<u32>,
    /// S3 answered with the same CRC32C (it verified and keeps it).
    pub confirmed: bool,
}

/// The body of a small write, and the event its object names (see
/// [`EVENT_META`]).
#[derive(Debug, Clone)]
pub(crate) struct Small {
    pub(crate) bytes: bytes::Bytes,
    pub(crate) tag: Option<Arc<str>>,
}

impl From<bytes::Bytes> for Small {
    fn from(bytes: bytes::Bytes) -> Self {
        Self { bytes, tag: None }
    }
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

/// One storage profile: a bucket and a prefix on an endpoint, with its
/// client, its write settings and its bucket's shared state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The profile's name (`default` for the `s3:` section).
    name: Arc<str>,
    client: Client,
    /// Profiles with one id share their client: same endpoint, region,
    /// addressing and credentials (a server-side copy reaches both).
    client_id: usize,
    bucket: String,
    part_size: u64,
    concurrency: usize,
    /// Ranges fetched ahead of the one being sent (`s3.download_concurrency`).
    download_concurrency: usize,
    list_mtime: config::ListMtime,
    mtimes: std::sync::Arc<lookups::MtimeCache>,
    /// The profile's prefix as configured (it may hold `%username%`).
    prefix: Arc<str>,
    /// The profile's prefix up to any `%username%`, normalised: `""` or
    /// ending with `/`. The gateway's own folder is here, and its sweep of
    /// abandoned uploads never reaches outside it.
    root: String,
    /// What S3 does with conditional writes: see [`conditional`].
    conditional: std::sync::Arc<conditional::Conditional>,
    /// The version of each file seen last: see [`versions`].
    versions: std::sync::Arc<versions::Versions>,
    /// The subfolders of folders listed a moment ago: see [`folders`].
    folders: std::sync::Arc<folders::Folders>,
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
    /// The conditional-write probe of this bucket has started.
    probing: Arc<AtomicBool>,
    /// Quota usage by prefix: see [`usage`].
    usage: Arc<dashmap::DashMap<String, Arc<usage::Usage>>>,
    /// What every write asks for (encryption, class, ACL).
    writes: Arc<writes::Writes>,
    /// Whether the bucket is being asked again after a failure.
    health: Arc<health::Health>,
    /// The gateway may write objects of its own here (time indexes, the
    /// probe) and sweep abandoned uploads: not for read-only credentials
    /// or read-only mounts.
    own_writes: bool,
    metrics: std::sync::Arc<crate::observe::Metrics>,
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
            storage_class: o.storage_class().map(|c| c.as_str().to_owned()),
            version_id: o.version_id().map(str::to_owned),
            event_id: o.metadata().and_then(|m| m.get(EVENT_META)).cloned(),
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

    /// The config override that gives a request moving `bytes` its deadline.
    fn sized(&self, bytes: u64) -> aws_sdk_s3::config::Builder {
        deadline::sized(self.timeout, bytes)
    }

    /// The profile's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bucket.
    #[must_use]
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The profile's prefix up to any `%username%` (`""` or ends with `/`).
    #[must_use]
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The profile's prefix as configured, `%username%` and all.
    #[must_use]
    pub fn prefix_template(&self) -> &str {
        &self.prefix
    }

    /// Whether a server-side copy can go from `other`'s bucket to this
    /// one: both are reached by one client (same endpoint, region,
    /// addressing and credentials).
    #[must_use]
    pub fn same_client(&self, other: &Self) -> bool {
        self.client_id == other.client_id
    }

    /// The same storage for a place the gateway may only read (a read-only
    /// mount): it writes nothing of its own there.
    #[must_use]
    pub fn reading_only(&self) -> Self {
        Self {
            own_writes: false,
            ..self.clone()
        }
    }

    /// Whether the gateway writes objects of its own here.
    #[must_use]
    pub fn own_writes(&self) -> bool {
        self.own_writes
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
