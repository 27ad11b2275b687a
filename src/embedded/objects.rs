//! Bucket and object operations of the embedded store (the `S3` trait, part 1).

use std::sync::Arc;

use s3s::dto::{
    Bucket as DtoBucket, CommonPrefix, CopyObjectInput, CopyObjectOutput, CopyObjectResult,
    CopySource, CreateBucketInput, CreateBucketOutput, DeleteObjectInput, DeleteObjectOutput,
    DeleteObjectsInput, DeleteObjectsOutput, DeletedObject, ETag, GetObjectInput, GetObjectOutput,
    HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListBucketsInput,
    ListBucketsOutput, ListObjectsV2Input, ListObjectsV2Output, Metadata, MetadataDirective,
    Object, PutObjectInput, PutObjectOutput, StreamingBlob, Timestamp,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::EmbeddedStore;
use super::disk::{Bucket, ObjMeta, now_pair, write_stream};
use super::list::{ListParams, Listed, Resume, list_page};
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

fn ts(meta: &ObjMeta) -> Timestamp {
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
fn write_allowed(
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
    pub(super) async fn do_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        match self.disk.create_bucket(&req.input.bucket) {
            Ok(true) => Ok(S3Response::new(CreateBucketOutput::default())),
            Ok(false) => Err(s3_error!(BucketAlreadyOwnedByYou)),
            Err(e) => Err(io_err(&e)),
        }
    }

    pub(super) async fn do_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    pub(super) async fn do_list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .disk
            .buckets()
            .into_iter()
            .map(|(name, created)| DtoBucket {
                name: Some(name),
                creation_date: Some(Timestamp::from(created)),
                bucket_region: None,
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    pub(super) async fn do_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let bucket = self.bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        self.hooks.check_list(&prefix).await?;
        let max_keys = usize::try_from(input.max_keys.unwrap_or(1000).clamp(0, 1000)).unwrap_or(0);
        let resume = resume_from(input.continuation_token.as_deref())?;
        let params = ListParams {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            max_keys,
            token: input.continuation_token.as_deref(),
            start_after: input.start_after.as_deref(),
        };
        let floor = match (&resume, &input.start_after) {
            (Some(r), _) => r.floor().max(prefix.as_str()).to_owned(),
            (None, Some(s)) => s.as_str().max(prefix.as_str()).to_owned(),
            (None, None) => prefix.clone(),
        };
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == "url");
        let enc = |s: String| if url { url_encode(&s) } else { s };
        // Under the read lock: scan from the floor, and turn the page into
        // S3's DTOs directly (no metadata is cloned for skipped keys).
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        let next_token = {
            let index = bucket.index.read().expect("index poisoned");
            let keys = index.range(floor..).map(|(k, m)| (k.clone(), m));
            let page = list_page(keys, &params, resume.as_ref());
            for e in page.entries {
                match e {
                    Listed::Key(k, m) => contents.push(Object {
                        key: Some(enc(k)),
                        size: Some(i64::try_from(m.size).unwrap_or(i64::MAX)),
                        e_tag: Some(ETag::Strong(m.etag.clone())),
                        last_modified: Some(ts(m)),
                        ..Default::default()
                    }),
                    Listed::Prefix(p) => prefixes.push(CommonPrefix {
                        prefix: Some(enc(p)),
                    }),
                }
            }
            page.next_token
        };
        let key_count = i32::try_from(contents.len() + prefixes.len()).unwrap_or(i32::MAX);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(prefix)),
            delimiter: input.delimiter.map(enc),
            max_keys: input.max_keys.or(Some(1000)),
            key_count: Some(key_count),
            is_truncated: Some(next_token.is_some()),
            continuation_token: input.continuation_token,
            next_continuation_token: next_token,
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            start_after: input.start_after,
            ..Default::default()
        }))
    }

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
        let meta = ObjMeta {
            key: input.key,
            size: w.size,
            etag: etag.clone(),
            modified: now_pair(),
            content_type: input.content_type,
            metadata: meta_from_input(input.metadata),
            crc32c,
        };
        let (if_match, if_none_match) = (input.if_match, input.if_none_match);
        let allowed = bucket
            .commit_if(&tmp, meta, |current| {
                write_allowed(if_match.as_ref(), if_none_match.as_ref(), current)
            })
            .map_err(|e| io_err(&e))?;
        if !allowed {
            return Err(s3_error!(PreconditionFailed));
        }
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            checksum_crc32c: crc32c.map(checksum::to_header),
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
        self.hooks.check_copy(&src.key)?;
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

/// The place a ListObjectsV2 continuation token names.
fn resume_from(token: Option<&str>) -> S3Result<Option<Resume>> {
    token
        .map(|t| {
            Resume::from_token(t).ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "The continuation token provided is incorrect"
                )
            })
        })
        .transpose()
}

/// `encoding-type=url`: names percent-encoded.
fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
