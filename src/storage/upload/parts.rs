//! The parts of a multipart upload: starting it (beside the folder check
//! when that still runs), at most `upload_concurrency` parts in flight,
//! parts sent from the buffer or copied server-side from an existing
//! object (a resume, a rename above the copy limit).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType};
use bytes::Bytes;
use tokio::task::JoinSet;

use super::State;
use crate::storage::schedule::{MAX_PARTS, copy_ranges};
use crate::storage::writes::with_headers;
use crate::storage::{ObjectInfo, Storage, StorageError, checksum, copy_source};

/// A part S3 accepted: number, ETag, and for parts we sent, their CRC32C and length.
pub(super) struct Part {
    pub(super) n: i32,
    pub(super) etag: String,
    pub(super) crc: Option<(u32, u64)>,
    /// The CRC32C S3 reported for a copied part.
    pub(super) copied_crc: Option<String>,
}

pub(super) type PartResult = Result<Part, StorageError>;

impl Storage {
    /// CreateMultipartUpload, beside the folder check when that is still
    /// running (a "no" aborts the new upload: nothing was sent to it).
    pub(super) async fn start_multipart(
        &self,
        key: &str,
        st: &mut State,
    ) -> Result<String, StorageError> {
        let crc = st.crc_base.is_some();
        let (content_type, metadata) = st.meta.clone().unzip();
        let create = async {
            let request = self.client.create_multipart_upload();
            let out = with_headers!(&self.writes, request)
                .bucket(&self.bucket)
                .key(key)
                .set_checksum_algorithm(crc.then_some(ChecksumAlgorithm::Crc32C))
                .set_checksum_type(crc.then_some(ChecksumType::FullObject))
                .set_content_type(content_type.flatten())
                .set_metadata(metadata)
                .send()
                .await
                .map_err(|e| self.sdk_error("CreateMultipartUpload", e))?;
            self.writes
                .answered(&self.name, out.server_side_encryption());
            out.upload_id()
                .map(str::to_owned)
                .ok_or_else(|| StorageError::failed("CreateMultipartUpload", "no upload id"))
        };
        if st.check.settled() {
            st.check.clear(self).await?;
            return create.await;
        }
        let (cleared, created) = tokio::join!(st.check.clear(self), create);
        let id = created?;
        if let Err(e) = cleared {
            if self.abort_upload(key, &id).await.is_err() {
                self.aborts.push(key, &id);
            }
            return Err(e);
        }
        Ok(id)
    }

    /// Waits until a part may be sent (fewer than `upload_concurrency` in
    /// flight), starting the multipart upload first if needed; returns the
    /// next part number.
    pub(super) async fn next_slot(&self, key: &str, st: &mut State) -> Result<i32, StorageError> {
        if st.upload_id.is_none() {
            let id = self.start_multipart(key, st).await?;
            self.live.insert(id.clone());
            st.upload_id = Some(id);
        }
        let set = st.in_flight.get_or_insert_with(JoinSet::new);
        while set.len() >= self.concurrency {
            if let Some(r) = set.join_next().await {
                st.done.push(joined(r)?);
            }
        }
        if st.next_part >= MAX_PARTS {
            return Err(StorageError::S3 {
                op: "UploadPart",
                code: Some("TooManyParts".into()),
                message: "the file exceeds S3's limit of 10,000 parts (5 TiB)".into(),
            });
        }
        st.next_part += 1;
        Ok(i32::try_from(st.next_part).unwrap_or(i32::MAX))
    }

    /// Copies the object `source` (as `info` describes it) server-side as
    /// the first parts of the multipart upload of `key`: ranged
    /// `UploadPartCopy` of at most the copy-part limit (S3: 5 GiB) each,
    /// conditional on its ETag.
    pub(in crate::storage) async fn copy_parts(
        &self,
        key: &str,
        source: &str,
        info: &ObjectInfo,
        st: &mut State,
    ) -> Result<(), StorageError> {
        let from_bucket = st
            .source_bucket
            .clone()
            .unwrap_or_else(|| self.bucket.clone());
        for (start, end) in copy_ranges(info.size, self.copy_part_limit) {
            let n = self.next_slot(key, st).await?;
            let req = self
                .client
                .upload_part_copy()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(st.upload_id.clone().unwrap_or_default())
                .part_number(n)
                .copy_source(copy_source(&from_bucket, source))
                .copy_source_if_match(&info.etag)
                .copy_source_range(format!("bytes={start}-{end}"))
                .customize()
                .config_override(self.sized(end + 1 - start));
            st.in_flight
                .get_or_insert_with(JoinSet::new)
                .spawn(async move {
                    let out = req
                        .send()
                        .await
                        .map_err(|e| StorageError::from_sdk("UploadPartCopy", e))?;
                    let result = out.copy_part_result();
                    Ok(Part {
                        n,
                        etag: result
                            .and_then(|r| r.e_tag())
                            .unwrap_or_default()
                            .to_owned(),
                        crc: None,
                        copied_crc: result.and_then(|r| r.checksum_crc32_c()).map(str::to_owned),
                    })
                });
        }
        Ok(())
    }

    /// Sends one part, waiting first if `upload_concurrency` parts are in flight.
    pub(super) async fn send_part(
        &self,
        key: &str,
        st: &mut State,
        part: Bytes,
    ) -> Result<(), StorageError> {
        let n = self.next_slot(key, st).await?;
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), key.to_owned());
        let id = st.upload_id.clone().unwrap_or_default();
        let with_crc = st.crc_base.is_some();
        let set = st.in_flight.get_or_insert_with(JoinSet::new);
        let sized = self.sized(part.len() as u64);
        set.spawn(async move {
            let len = part.len() as u64;
            let crc = with_crc.then(|| checksum::crc32c(&part));
            let out = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .part_number(n)
                .set_checksum_crc32_c(crc.map(checksum::to_header))
                .body(ByteStream::from(part))
                .customize()
                .config_override(sized)
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("UploadPart", e))?;
            Ok(Part {
                n,
                etag: out.e_tag().unwrap_or_default().to_owned(),
                crc: crc.map(|c| (c, len)),
                copied_crc: None,
            })
        });
        Ok(())
    }
}

pub(super) fn joined(r: Result<PartResult, tokio::task::JoinError>) -> PartResult {
    r.map_err(|e| StorageError::failed("UploadPart", e.to_string()))?
}
