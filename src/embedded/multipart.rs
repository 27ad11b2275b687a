//! Multipart uploads of the embedded store (the `S3` trait, part 2).
//!
//! Upload state lives in memory (a restart aborts unfinished uploads, and
//! `Disk::open` removes their parts); part bytes live in
//! `.uploads/<id>/part-<n>`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use md5::{Digest, Md5};
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, ChecksumAlgorithm, ChecksumType,
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CompletedPart, CopyPartResult,
    CreateMultipartUploadInput, CreateMultipartUploadOutput, ETag, ListMultipartUploadsInput,
    ListMultipartUploadsOutput, MultipartUpload, Timestamp, UploadPartCopyInput,
    UploadPartCopyOutput, UploadPartInput, UploadPartOutput,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::EmbeddedStore;
use super::attrs::WriteAttrs;
use super::disk::{ObjMeta, Written, now_pair, write_stream};
use super::objects::{
    check_if_match, commit_conditional, copy_source, io_err, meta_from_input, verify_crc32c,
};
use crate::storage::checksum;

/// A multipart upload in progress.
#[derive(Debug)]
pub struct Upload {
    bucket: String,
    key: String,
    content_type: Option<String>,
    metadata: BTreeMap<String, String>,
    /// Whether the object gets a full-object CRC32C (checksum algorithm
    /// CRC32C, type FULL_OBJECT).
    crc32c: bool,
    /// Encryption, class and ACL of the object to be.
    attrs: WriteAttrs,
    /// part number → what was written
    parts: BTreeMap<i32, Written>,
    /// When it was created (ListMultipartUploads' `Initiated`).
    initiated: std::time::SystemTime,
}

/// What a CompleteMultipartUpload will assemble.
struct Chosen {
    parts: Vec<(i32, Written)>,
    content_type: Option<String>,
    metadata: BTreeMap<String, String>,
    with_crc: bool,
    attrs: WriteAttrs,
}

/// Writes `parts` (from `dir`) one after the other into `out`: the object's
/// size and its multipart ETag (MD5 of the parts' MD5s, `-count`).
async fn concatenate(
    dir: &std::path::Path,
    parts: &[(i32, Written)],
    out: &std::path::Path,
) -> S3Result<(u64, String)> {
    let mut file_out = tokio::fs::File::create(out).await.map_err(|e| io_err(&e))?;
    let mut etag_md5 = Md5::new();
    let mut total = 0u64;
    for (n, part) in parts {
        let mut file = tokio::fs::File::open(part_path(dir, *n))
            .await
            .map_err(|e| io_err(&e))?;
        tokio::io::copy(&mut file, &mut file_out)
            .await
            .map_err(|e| io_err(&e))?;
        etag_md5.update(part.md5);
        total += part.size;
    }
    file_out.flush().await.map_err(|e| io_err(&e))?;
    let etag = format!("{}-{}", hex::encode(etag_md5.finalize()), parts.len());
    Ok((total, etag))
}

fn part_path(dir: &std::path::Path, n: i32) -> PathBuf {
    dir.join(format!("part-{n:05}"))
}

fn check_part_number(n: i32) -> S3Result<()> {
    if (1..=10_000).contains(&n) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

impl EmbeddedStore {
    fn upload_target(&self, id: &str, bucket: &str, key: &str) -> S3Result<PathBuf> {
        let uploads = self.uploads.lock().expect("uploads poisoned");
        match uploads.get(id) {
            Some(u) if u.bucket == bucket && u.key == key => Ok(self.disk.upload_dir(id)),
            _ => Err(s3_error!(NoSuchUpload)),
        }
    }

    fn record_part(&self, id: &str, n: i32, part: Written) -> S3Result<()> {
        let mut uploads = self.uploads.lock().expect("uploads poisoned");
        let upload = uploads.get_mut(id).ok_or_else(|| s3_error!(NoSuchUpload))?;
        upload.parts.insert(n, part);
        Ok(())
    }

    pub(super) async fn do_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        let attrs = WriteAttrs::from_request(
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            input.storage_class.as_ref(),
            input.acl.as_ref(),
        )?;
        let id = format!("{:032x}", rand::random::<u128>());
        tokio::fs::create_dir_all(self.disk.upload_dir(&id))
            .await
            .map_err(|e| io_err(&e))?;
        self.uploads.lock().expect("uploads poisoned").insert(
            id.clone(),
            Upload {
                bucket: input.bucket.clone(),
                key: input.key.clone(),
                content_type: input.content_type,
                metadata: meta_from_input(input.metadata),
                crc32c: input
                    .checksum_algorithm
                    .as_ref()
                    .is_some_and(|a| a.as_str() == ChecksumAlgorithm::CRC32C)
                    && input
                        .checksum_type
                        .as_ref()
                        .is_none_or(|t| t.as_str() == ChecksumType::FULL_OBJECT),
                attrs: attrs.clone(),
                parts: BTreeMap::new(),
                initiated: std::time::SystemTime::now(),
            },
        );
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            server_side_encryption: attrs.sse_out(),
            ssekms_key_id: attrs.kms_key_id,
            ..Default::default()
        }))
    }

    pub(super) async fn do_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        check_part_number(input.part_number)?;
        let dir = self.upload_target(&input.upload_id, &input.bucket, &input.key)?;
        let tmp = self.disk.tmp_path();
        let body = input.body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let w = write_stream(&tmp, body).await.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            s3_error!(IncompleteBody, "part body: {e}")
        })?;
        if let Err(e) = verify_crc32c(input.checksum_crc32c.as_deref(), w.crc32c) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        tokio::fs::rename(&tmp, part_path(&dir, input.part_number))
            .await
            .map_err(|e| io_err(&e))?;
        self.record_part(&input.upload_id, input.part_number, w)?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(hex::encode(w.md5))),
            checksum_crc32c: input.checksum_crc32c,
            ..Default::default()
        }))
    }

    pub(super) async fn do_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        check_part_number(input.part_number)?;
        let dir = self.upload_target(&input.upload_id, &input.bucket, &input.key)?;
        let (src_bucket, src) = copy_source(self, &input.copy_source)?;
        check_if_match(input.copy_source_if_match.as_ref(), &src)?;
        src.attrs.readable()?;
        self.hooks.check_copy(&src.key)?;
        let (start, len) = match input.copy_source_range.as_deref() {
            None => (0, src.size),
            Some(r) => {
                let (a, b) = r
                    .strip_prefix("bytes=")
                    .and_then(|r| r.split_once('-'))
                    .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                    .ok_or_else(|| s3_error!(InvalidArgument, "bad x-amz-copy-source-range"))?;
                if a > b || b >= src.size {
                    return Err(s3_error!(InvalidRange));
                }
                (a, b - a + 1)
            }
        };
        let mut file = tokio::fs::File::open(src_bucket.body_path(&src.key))
            .await
            .map_err(|e| io_err(&e))?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| io_err(&e))?;
        let mut reader = file.take(len);
        let tmp = self.disk.tmp_path();
        let mut out = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io_err(&e))?;
        let mut md5 = Md5::new();
        let mut crc = checksum::Crc32c::default();
        let mut buf = vec![0u8; 256 * 1024];
        let mut copied = 0u64;
        loop {
            let n = reader.read(&mut buf).await.map_err(|e| io_err(&e))?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
            crc.update(&buf[..n]);
            out.write_all(&buf[..n]).await.map_err(|e| io_err(&e))?;
            copied += n as u64;
        }
        out.flush().await.map_err(|e| io_err(&e))?;
        drop(out);
        if copied != len {
            let _ = std::fs::remove_file(&tmp);
            return Err(s3_error!(InternalError, "source changed during copy"));
        }
        let md5: [u8; 16] = md5.finalize().into();
        let crc = crc.value();
        tokio::fs::rename(&tmp, part_path(&dir, input.part_number))
            .await
            .map_err(|e| io_err(&e))?;
        let part = Written {
            size: len,
            md5,
            crc32c: crc,
        };
        self.record_part(&input.upload_id, input.part_number, part)?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                checksum_crc32c: Some(checksum::to_header(crc)),
                e_tag: Some(ETag::Strong(hex::encode(md5))),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn do_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let bucket = self.bucket(&input.bucket)?;
        let dir = self.upload_target(&input.upload_id, &input.bucket, &input.key)?;
        let requested = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        let chosen = self.chosen_parts(&input.upload_id, &requested)?;
        let full_crc = chosen
            .parts
            .iter()
            .fold(0u32, |acc, (_, p)| checksum::combine(acc, p.crc32c, p.size));
        let crc32c = match verify_crc32c(input.checksum_crc32c.as_deref(), full_crc)? {
            Some(c) => Some(c),
            None => chosen.with_crc.then_some(full_crc),
        };
        let tmp = self.disk.tmp_path();
        let (total, etag) = concatenate(&dir, &chosen.parts, &tmp).await?;
        let meta = ObjMeta {
            key: input.key.clone(),
            size: total,
            etag: etag.clone(),
            modified: now_pair(),
            content_type: chosen.content_type,
            metadata: chosen.metadata,
            crc32c,
            attrs: chosen.attrs.clone(),
        };
        // Conditional completes, as S3 does (If-Match / If-None-Match: *).
        commit_conditional(
            &bucket,
            &tmp,
            meta,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
        )?;
        self.uploads
            .lock()
            .expect("uploads poisoned")
            .remove(&input.upload_id);
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(etag)),
            server_side_encryption: chosen.attrs.sse_out(),
            ssekms_key_id: chosen.attrs.kms_key_id,
            ..Default::default()
        }))
    }

    /// The parts a CompleteMultipartUpload names, checked against what was
    /// uploaded (order, ETags, S3's minimum size of all but the last).
    fn chosen_parts(&self, upload_id: &str, requested: &[CompletedPart]) -> S3Result<Chosen> {
        if requested.is_empty() {
            return Err(s3_error!(MalformedXML, "no parts given"));
        }
        let uploads = self.uploads.lock().expect("uploads poisoned");
        let upload = uploads
            .get(upload_id)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        let mut parts = Vec::with_capacity(requested.len());
        let mut last = 0;
        for (i, p) in requested.iter().enumerate() {
            let n = p.part_number.unwrap_or(0);
            if n <= last {
                return Err(s3_error!(InvalidPartOrder));
            }
            last = n;
            let part = *upload.parts.get(&n).ok_or_else(|| s3_error!(InvalidPart))?;
            let etag_ok = p
                .e_tag
                .as_ref()
                .is_none_or(|e| e.value() == hex::encode(part.md5));
            if !etag_ok {
                return Err(s3_error!(InvalidPart));
            }
            if i + 1 < requested.len() && part.size < self.hooks.min_part() {
                return Err(s3_error!(EntityTooSmall));
            }
            parts.push((n, part));
        }
        Ok(Chosen {
            parts,
            content_type: upload.content_type.clone(),
            metadata: upload.metadata.clone(),
            with_crc: upload.crc32c,
            attrs: upload.attrs.clone(),
        })
    }

    pub(super) async fn do_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let dir = self.upload_target(&input.upload_id, &input.bucket, &input.key)?;
        self.uploads
            .lock()
            .expect("uploads poisoned")
            .remove(&input.upload_id);
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut uploads: Vec<MultipartUpload> = self
            .uploads
            .lock()
            .expect("uploads poisoned")
            .iter()
            .filter(|(_, u)| u.bucket == input.bucket && u.key.starts_with(&prefix))
            .map(|(id, u)| MultipartUpload {
                key: Some(u.key.clone()),
                upload_id: Some(id.clone()),
                initiated: Some(Timestamp::from(u.initiated)),
                ..Default::default()
            })
            .collect();
        uploads.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            uploads: Some(uploads),
            ..Default::default()
        }))
    }
}
