//! Bucket and object operations of the embedded store (the `S3` trait, part 1).

use std::sync::Arc;

use s3s::dto::{
    CopyObjectInput, CopyObjectOutput, CopyObjectResult, CopySource, DeleteObjectInput,
    DeleteObjectOutput, DeleteObjectsInput, DeleteObjectsOutput, DeletedObject, ETag,
    GetObjectAclInput, GetObjectAclOutput, GetObjectInput, GetObjectOutput, HeadObjectInput,
    HeadObjectOutput, Metadata, MetadataDirective, PutObjectInput, PutObjectOutput, StreamingBlob,
    Timestamp,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::EmbeddedStore;
use super::attrs::WriteAttrs;
use super::disk::{Bucket, ObjMeta, now_pair, write_stream};
use crate::storage::checksum;

pub(super) fn io_err(e: &std::io::Error) -> s3s::S3Error {
    tracing::error!(error = %e, "embedded store I/O error");
    s3_error!(InternalError, "storage I/O error: {e}")
}

pub(super) fn meta_from_input(
    metadata: Option<Metadata>,
) -> std::collections::BTreeMap<String, String> {
    metadata
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

pub(super) fn ts(meta: &ObjMeta) -> Timestamp {
    Timestamp::from(meta.modified_time())
}

fn metadata_out(meta: &ObjMeta) -> Option<Metadata> {
    (!meta.metadata.is_empty()).then(|| meta.metadata.clone().into_iter().collect())
}

/// Checks a CRC32C the client sent (`x-amz-checksum-crc32c`) against what
/// arrived: `BadDigest` when they differ; the value to keep otherwise.
pub(super) fn verify_crc32c(sent: Option<&str>, actual: u32) -> S3Result<Option<u32>> {
    match sent {
        None => Ok(None),
        Some(v) if checksum::from_header(v) == Some(actual) => Ok(Some(actual)),
        Some(_) => Err(s3_error!(
            BadDigest,
            "The CRC32C you specified did not match the calculated checksum."
        )),
    }
}

/// The checksum fields of HeadObject/GetObject, when asked for (`x-amz-checksum-mode: ENABLED`).
fn checksum_out(
    mode: Option<&s3s::dto::ChecksumMode>,
    meta: &ObjMeta,
) -> (Option<String>, Option<s3s::dto::ChecksumType>) {
    match (mode, meta.crc32c) {
        (Some(m), Some(crc)) if m.as_str() == s3s::dto::ChecksumMode::ENABLED => (
            Some(checksum::to_header(crc)),
            Some(s3s::dto::ChecksumType::from_static(
                s3s::dto::ChecksumType::FULL_OBJECT,
            )),
        ),
        _ => (None, None),
    }
}

/// `If-Match` / `x-amz-copy-source-if-match`: 412 unless the object's ETag matches.
pub(super) fn check_if_match(
    cond: Option<&s3s::dto::ETagCondition>,
    meta: &ObjMeta,
) -> S3Result<()> {
    match cond.and_then(s3s::dto::ETagCondition::as_etag) {
        Some(e) if e.value() != meta.etag => Err(s3_error!(PreconditionFailed)),
        _ => Ok(()),
    }
}

/// S3's conditional writes: `If-Match` (an ETag, or `*`: any object) and
/// `If-None-Match: *` (no object), against the object a write would replace.
pub(super) fn write_allowed(
    if_match: Option<&s3s::dto::ETagCondition>,
    if_none_match: Option<&s3s::dto::ETagCondition>,
    current: Option<&ObjMeta>,
) -> bool {
    let matches = |cond: &s3s::dto::ETagCondition| match (cond.as_etag(), current) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(e), Some(m)) => e.value() == m.etag,
    };
    if_match.is_none_or(matches) && !if_none_match.is_some_and(matches)
}

/// Makes the object of `tmp` visible when the conditions hold against the
/// object it would replace (S3's 412 otherwise: nothing changes).
pub(super) fn commit_conditional(
    bucket: &Bucket,
    tmp: &std::path::Path,
    meta: ObjMeta,
    if_match: Option<&s3s::dto::ETagCondition>,
    if_none_match: Option<&s3s::dto::ETagCondition>,
) -> S3Result<()> {
    let allowed = bucket
        .commit_if(tmp, meta, |current| {
            write_allowed(if_match, if_none_match, current)
        })
        .map_err(|e| io_err(&e))?;
    if allowed {
        Ok(())
    } else {
        Err(s3_error!(PreconditionFailed))
    }
}

/// Resolves `bucket/key` of a copy source to its bucket and metadata.
pub(super) fn copy_source(
    store: &EmbeddedStore,
    src: &CopySource,
) -> S3Result<(Arc<Bucket>, ObjMeta)> {
    let CopySource::Bucket { bucket, key, .. } = src else {
        return Err(s3_error!(NotImplemented, "only bucket/key copy sources"));
    };
    let b = store.bucket(bucket)?;
    let meta = b.get(key).ok_or_else(|| s3_error!(NoSuchKey))?;
    Ok((b, meta))
}

impl EmbeddedStore {
    pub(super) async fn do_put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let bucket = self.bucket(&input.bucket)?;
        let tmp = self.disk.tmp_path();
        let written = match input.body {
            Some(body) => write_stream(&tmp, body).await,
            None => {
                write_stream(
                    &tmp,
                    futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>(),
                )
                .await
            }
        };
        let w = written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            s3_error!(IncompleteBody, "upload body: {e}")
        })?;
        if let Some(expected) = input.content_length
            && u64::try_from(expected).ok() != Some(w.size)
        {
            let _ = std::fs::remove_file(&tmp);
            return Err(s3_error!(IncompleteBody));
        }
        let crc32c =
            verify_crc32c(input.checksum_crc32c.as_deref(), w.crc32c).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })?;
        let etag = hex::encode(w.md5);
        let attrs = WriteAttrs::from_request(
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            input.storage_class.as_ref(),
            input.acl.as_ref(),
        )
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        let meta = ObjMeta {
            key: input.key,
            size: w.size,
            etag: etag.clone(),
            modified: now_pair(),
            content_type: input.content_type,
            metadata: meta_from_input(input.metadata),
            crc32c,
            attrs: attrs.clone(),
        };
        let ignored = self.hooks.ignores_conditions();
        commit_conditional(
            &bucket,
            &tmp,
            meta,
            input.if_match.as_ref().filter(|_| !ignored),
            input.if_none_match.as_ref().filter(|_| !ignored),
        )?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            checksum_crc32c: crc32c.map(checksum::to_header),
            server_side_encryption: attrs.sse_out(),
            ssekms_key_id: attrs.kms_key_id,
            ..Default::default()
        }))
    }

    pub(super) async fn do_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let bucket = self.bucket(&req.input.bucket)?;
        let meta = bucket
            .get(&req.input.key)
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        let (checksum_crc32c, checksum_type) =
            checksum_out(req.input.checksum_mode.as_ref(), &meta);
        Ok(S3Response::new(HeadObjectOutput {
            checksum_crc32c,
            checksum_type,
            content_length: Some(i64::try_from(meta.size).unwrap_or(i64::MAX)),
            content_type: meta.content_type.clone(),
            e_tag: Some(ETag::Strong(meta.etag.clone())),
            last_modified: Some(ts(&meta)),
            metadata: metadata_out(&meta),
            accept_ranges: Some("bytes".into()),
            server_side_encryption: meta.attrs.sse_out(),
            ssekms_key_id: meta.attrs.kms_key_id.clone(),
            storage_class: meta.attrs.class_out(),
            ..Default::default()
        }))
    }

    pub(super) async fn do_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let bucket = self.bucket(&req.input.bucket)?;
        let meta = bucket
            .get(&req.input.key)
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(meta.attrs.grants()),
            owner: Some(super::attrs::owner()),
            ..Default::default()
        }))
    }

    pub(super) async fn do_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let bucket = self.bucket(&req.input.bucket)?;
        let meta = bucket
            .get(&req.input.key)
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        check_if_match(req.input.if_match.as_ref(), &meta)?;
        meta.attrs.readable()?;
        let (start, end, content_range) = match req.input.range {
            None => (0, meta.size, None),
            Some(range) => {
                let r = range
                    .check(meta.size)
                    .map_err(|_| s3_error!(InvalidRange))?;
                let cr = format!(
                    "bytes {}-{}/{}",
                    r.start,
                    r.end.saturating_sub(1),
                    meta.size
                );
                (r.start, r.end, Some(cr))
            }
        };
        let mut file = tokio::fs::File::open(bucket.body_path(&meta.key))
            .await
            .map_err(|e| io_err(&e))?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| io_err(&e))?;
        let len = end - start;
        let body = StreamingBlob::wrap(ReaderStream::with_capacity(file.take(len), 64 * 1024));
        Ok(S3Response::new(GetObjectOutput {
            body: Some(body),
            content_length: Some(i64::try_from(len).unwrap_or(i64::MAX)),
            content_range,
            content_type: meta.content_type.clone(),
            e_tag: Some(ETag::Strong(meta.etag.clone())),
            last_modified: Some(ts(&meta)),
            metadata: metadata_out(&meta),
            accept_ranges: Some("bytes".into()),
            server_side_encryption: meta.attrs.sse_out(),
            ssekms_key_id: meta.attrs.kms_key_id.clone(),
            storage_class: meta.attrs.class_out(),
            ..Default::default()
        }))
    }

    pub(super) async fn do_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let dst = self.bucket(&input.bucket)?;
        let (src_bucket, src) = copy_source(self, &input.copy_source)?;
        check_if_match(input.copy_source_if_match.as_ref(), &src)?;
        src.attrs.readable()?;
        self.hooks.check_copy(&src.key)?;
        // As S3: the copy's encryption, class and ACL are the request's.
        let attrs = WriteAttrs::from_request(
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            input.storage_class.as_ref(),
            input.acl.as_ref(),
        )?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let same = matches!(&input.copy_source, CopySource::Bucket { bucket, key, .. }
            if **bucket == *input.bucket && **key == *input.key);
        if same && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata"
            ));
        }
        let tmp = self.disk.tmp_path();
        tokio::fs::copy(src_bucket.body_path(&src.key), &tmp)
            .await
            .map_err(|e| io_err(&e))?;
        let (content_type, metadata) = if replace {
            (input.content_type, meta_from_input(input.metadata))
        } else {
            (src.content_type.clone(), src.metadata.clone())
        };
        let meta = ObjMeta {
            key: input.key,
            size: src.size,
            etag: src.etag.clone(),
            modified: now_pair(),
            content_type,
            metadata,
            crc32c: src.crc32c,
            attrs,
        };
        let result = CopyObjectResult {
            e_tag: Some(ETag::Strong(meta.etag.clone())),
            last_modified: Some(ts(&meta)),
            ..Default::default()
        };
        dst.commit(&tmp, meta).map_err(|e| io_err(&e))?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
            ..Default::default()
        }))
    }

    pub(super) async fn do_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let bucket = self.bucket(&req.input.bucket)?;
        bucket.delete(&req.input.key).map_err(|e| io_err(&e))?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    pub(super) async fn do_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = self.bucket(&req.input.bucket)?;
        let quiet = req.input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in req.input.delete.objects {
            match bucket.delete(&obj.key) {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(obj.key),
                    ..Default::default()
                }),
                Err(e) => errors.push(s3s::dto::Error {
                    code: Some("InternalError".into()),
                    key: Some(obj.key),
                    message: Some(e.to_string()),
                    version_id: None,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }
}
