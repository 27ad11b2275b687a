//! What every write of a storage profile asks S3 for: server-side
//! encryption (`AES256`, `aws:kms` with its key), the storage class and a
//! canned ACL (`bucket-owner-full-control` …). PutObject,
//! CreateMultipartUpload and CopyObject all carry them — uploads, folder
//! markers, renames, resumes, MFMT's metadata copy and the gateway's own
//! objects — since a bucket policy that demands a header refuses any
//! write without it. UploadPartCopy and UploadPart inherit them from their
//! upload.
//!
//! A store that answers a write without the encryption it was asked for
//! (Garage ignores SSE-S3 and SSE-KMS) is reported once per profile.

use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption, StorageClass};

use crate::config;

/// The headers of one profile's writes.
#[derive(Debug, Default)]
pub struct Writes {
    sse: Option<ServerSideEncryption>,
    kms_key_id: Option<String>,
    class: Option<StorageClass>,
    acl: Option<ObjectCannedAcl>,
    /// The missing-encryption warning was logged.
    warned: AtomicBool,
}

/// Sets the write headers on a request builder (PutObject,
/// CreateMultipartUpload and CopyObject have the same four setters).
macro_rules! with_headers {
    ($w:expr, $b:expr) => {{
        let w: &$crate::storage::writes::Writes = $w;
        $b.set_server_side_encryption(w.sse())
            .set_ssekms_key_id(w.kms_key_id())
            .set_storage_class(w.class())
            .set_acl(w.acl())
    }};
}
pub(super) use with_headers;

impl Writes {
    /// From a profile's effective settings (validated: known values only).
    #[must_use]
    pub fn from_config(s3: &config::S3) -> Self {
        Self {
            sse: s3.sse.as_deref().map(ServerSideEncryption::from),
            kms_key_id: s3.sse_kms_key_id.clone(),
            class: s3.storage_class.as_deref().map(StorageClass::from),
            acl: s3.acl.as_deref().map(ObjectCannedAcl::from),
            warned: AtomicBool::new(false),
        }
    }

    pub(super) fn sse(&self) -> Option<ServerSideEncryption> {
        self.sse.clone()
    }

    pub(super) fn kms_key_id(&self) -> Option<String> {
        self.kms_key_id.clone()
    }

    pub(super) fn class(&self) -> Option<StorageClass> {
        self.class.clone()
    }

    pub(super) fn acl(&self) -> Option<ObjectCannedAcl> {
        self.acl.clone()
    }

    /// Notes the encryption a write's answer named; warns once when S3
    /// kept none although one was asked for.
    pub(super) fn answered(&self, profile: &str, got: Option<&ServerSideEncryption>) {
        if let Some(asked) = &self.sse
            && got.is_none()
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                profile,
                asked = asked.as_str(),
                "S3 answered a write without the server-side encryption it was asked for: this store ignores `sse` (Garage does); the objects are not encrypted by S3"
            );
        }
    }
}
