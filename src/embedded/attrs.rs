//! What a write asks S3 to keep beside the bytes, kept and returned as S3
//! does: server-side encryption (`x-amz-server-side-encryption`, with the
//! KMS key id), the storage class and the canned ACL.
//!
//! - PutObject and CreateMultipartUpload store them; CopyObject takes them
//!   from the copy request, never from the source (as S3 does: a copy
//!   without the headers is a STANDARD, unencrypted, private object).
//! - HeadObject and GetObject return the encryption and, when it is not
//!   STANDARD, the storage class; ListObjectsV2 names every class;
//!   GetObjectAcl returns the grants of the canned ACL.
//! - An object in GLACIER or DEEP_ARCHIVE cannot be read or copied until
//!   restored: `InvalidObjectState` (403), as S3 answers.
//!
//! The store encrypts nothing: it keeps what was asked for and answers
//! with it, which is all the gateway (and its tests) can observe.

use s3s::dto::{
    Grant, Grantee, ObjectCannedACL, Owner, Permission, ServerSideEncryption, StorageClass, Type,
};
use s3s::{S3Result, s3_error};
use serde::{Deserialize, Serialize};

/// The owner of everything in the embedded store (one account).
pub const OWNER_ID: &str = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";
/// The KMS key S3 names when `aws:kms` comes without a key id.
const DEFAULT_KMS_KEY: &str = "arn:aws:kms:us-east-1:000000000000:alias/aws/s3";

/// Encryption, class and ACL of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteAttrs {
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    #[serde(default)]
    pub sse: Option<String>,
    /// The KMS key of `aws:kms`.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Absent: STANDARD.
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Canned ACL; absent: private.
    #[serde(default)]
    pub acl: Option<String>,
}

impl WriteAttrs {
    /// From a write request's headers.
    pub fn from_request(
        sse: Option<&ServerSideEncryption>,
        kms_key_id: Option<&str>,
        class: Option<&StorageClass>,
        acl: Option<&ObjectCannedACL>,
    ) -> S3Result<Self> {
        let sse = sse.map(|s| s.as_str().to_owned());
        if let Some(s) = sse.as_deref()
            && !matches!(s, "AES256" | "aws:kms" | "aws:kms:dsse")
        {
            return Err(s3_error!(
                InvalidArgument,
                "invalid x-amz-server-side-encryption"
            ));
        }
        let kms = sse.as_deref().is_some_and(|s| s.starts_with("aws:kms"));
        if kms_key_id.is_some() && !kms {
            return Err(s3_error!(
                InvalidArgument,
                "a KMS key id needs x-amz-server-side-encryption: aws:kms"
            ));
        }
        let storage_class = class
            .map(|c| c.as_str().to_owned())
            .filter(|c| c != StorageClass::STANDARD);
        Ok(Self {
            kms_key_id: kms.then(|| kms_key_id.unwrap_or(DEFAULT_KMS_KEY).to_owned()),
            sse,
            storage_class,
            acl: acl.map(|a| a.as_str().to_owned()),
        })
    }

    /// The encryption header of a response.
    #[must_use]
    pub fn sse_out(&self) -> Option<ServerSideEncryption> {
        self.sse.clone().map(ServerSideEncryption::from)
    }

    /// The storage class header of HeadObject/GetObject (absent for STANDARD).
    #[must_use]
    pub fn class_out(&self) -> Option<StorageClass> {
        self.storage_class.clone().map(StorageClass::from)
    }

    /// The class a listing names (STANDARD when none was asked for).
    #[must_use]
    pub fn listed_class(&self) -> String {
        self.storage_class
            .clone()
            .unwrap_or_else(|| StorageClass::STANDARD.to_owned())
    }

    /// `InvalidObjectState` for an object that must be restored before it
    /// can be read or copied.
    pub fn readable(&self) -> S3Result<()> {
        match self.storage_class.as_deref() {
            Some(StorageClass::GLACIER | StorageClass::DEEP_ARCHIVE) => Err(s3_error!(
                InvalidObjectState,
                "The operation is not valid for the object's storage class"
            )),
            _ => Ok(()),
        }
    }

    /// The grants of the canned ACL, as GetObjectAcl lists them (the owner
    /// first; the bucket owner is the object owner here).
    #[must_use]
    pub fn grants(&self) -> Vec<Grant> {
        let owner = || Grantee {
            display_name: Some("s3ftpd".into()),
            email_address: None,
            id: Some(OWNER_ID.into()),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        };
        let group = |uri: &str| Grantee {
            display_name: None,
            email_address: None,
            id: None,
            type_: Type::from_static(Type::GROUP),
            uri: Some(uri.into()),
        };
        let grant = |grantee, p: &'static str| Grant {
            grantee: Some(grantee),
            permission: Some(Permission::from_static(p)),
        };
        let all = "http://acs.amazonaws.com/groups/global/AllUsers";
        let authenticated = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
        let mut grants = vec![grant(owner(), Permission::FULL_CONTROL)];
        match self.acl.as_deref() {
            Some("public-read") => grants.push(grant(group(all), Permission::READ)),
            Some("public-read-write") => {
                grants.push(grant(group(all), Permission::READ));
                grants.push(grant(group(all), Permission::WRITE));
            }
            Some("authenticated-read") => {
                grants.push(grant(group(authenticated), Permission::READ));
            }
            Some("bucket-owner-read") => grants.push(grant(owner(), Permission::READ)),
            Some("bucket-owner-full-control") => {
                grants.push(grant(owner(), Permission::FULL_CONTROL));
            }
            _ => {}
        }
        grants
    }
}

/// The owner GetObjectAcl names.
#[must_use]
pub fn owner() -> Owner {
    Owner {
        id: Some(OWNER_ID.into()),
        display_name: Some("s3ftpd".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_as_asked_and_archived_classes_are_unreadable() {
        let a = WriteAttrs::from_request(
            Some(&ServerSideEncryption::from_static("aws:kms")),
            None,
            Some(&StorageClass::from_static("GLACIER")),
            Some(&ObjectCannedACL::from_static("bucket-owner-full-control")),
        )
        .unwrap();
        assert_eq!(a.kms_key_id.as_deref(), Some(DEFAULT_KMS_KEY));
        assert!(a.readable().is_err());
        assert_eq!(a.grants().len(), 2);
        let standard = WriteAttrs::from_request(
            None,
            None,
            Some(&StorageClass::from_static("STANDARD")),
            None,
        )
        .unwrap();
        assert_eq!(standard, WriteAttrs::default());
        assert!(standard.readable().is_ok());
        assert!(
            WriteAttrs::from_request(None, Some("key"), None, None).is_err(),
            "a KMS key without aws:kms"
        );
    }
}
