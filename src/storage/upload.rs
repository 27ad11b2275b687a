//! Streaming uploads: a data connection becomes one PutObject or a multipart upload.
//!
//! Bytes are read into a buffer of the current part size. A file that ends
//! before the first part is full becomes one PutObject. Otherwise parts are
//! sent as they fill, at most `upload_concurrency` in flight, so memory per
//! upload stays near `part_size × (upload_concurrency + 1)`. The object
//! exists only after S3 confirms it; on any failure or cancellation the
//! multipart upload is aborted and the previous object, if any, is intact —
//! unless `keep_partial`, which commits the bytes received so far instead.
//!
//! Resuming (`REST n` + STOR at the object's size, or APPE) starts from the
//! existing object without downloading it: its bytes become the first parts
//! of the new multipart upload through server-side `UploadPartCopy` (ranged
//! copies of at most 5 GiB each). An object under S3's 5 MiB part minimum
//! cannot be a non-last part, so it is read and re-sent as the head of the
//! first part. Both are conditional on the ETag seen when the transfer
//! began, so a concurrent change fails the transfer instead of mixing two
//! versions.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart};
use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::schedule::{MAX_PARTS, MIN_PART, copy_ranges};
use super::{
    CommitGate, FolderCheck, ObjectBody, ObjectInfo, Storage, StorageError, checksum, copy_source,
    part_size_for,
};

/// How an upload behaves.
#[derive(Debug, Clone, Copy)]
pub struct UploadOptions {
    /// Commit what was received when the transfer is interrupted.
    pub keep_partial: bool,
    /// Longest wait for the next bytes from the client.
    pub stall: Duration,
    /// The stream is TLS and must end with its close_notify: an end
    /// without one is an interruption (`tls.strict_eof`), and an end with
    /// one proves the client finished, so the gate need not wait.
    pub strict_eof: bool,
}

/// A part S3 accepted: number, ETag, and for parts we sent, their CRC32C and length.
struct Part {
    n: i32,
    etag: String,
    crc: Option<(u32, u64)>,
    /// The CRC32C S3 reported for a copied part.
    copied_crc: Option<String>,
}

type PartResult = Result<Part, StorageError>;

#[derive(Default)]
pub(super) struct State {
    buf: BytesMut,
    upload_id: Option<String>,
    next_part: u32,
    in_flight: Option<JoinSet<PartResult>>,
    done: Vec<Part>,
    received: u64,
    /// CRC32C of the bytes copied server-side (the resumed object), when
    /// the whole object's checksum can be sent; `None`: send none.
    crc_base: Option<u32>,
    /// Content type and user metadata of the new object (a renamed file keeps its own).
    meta: Option<(Option<String>, std::collections::HashMap<String, String>)>,
    /// Whether a folder has the name: answered before a multipart upload
    /// starts and before the commit.
    check: FolderCheck,
    /// The version a resumed upload started from (its ETag).
    base: Option<String>,
    /// The stream ended with TLS's close_notify under `strict_eof`.
    proven_end: bool,
}

impl State {
    /// A server-side copy of `source` (rename above the copy limit).
    pub(super) fn copying(
        source: &ObjectInfo,
        content_type: Option<String>,
        metadata: std::collections::HashMap<String, String>,
    ) -> Self {
        Self {
            crc_base: source.crc32c,
            meta: Some((content_type, metadata)),
            ..Self::default()
        }
    }
}

impl Storage {
    /// CreateMultipartUpload, beside the folder check when that is still
    /// running (a "no" aborts the new upload: nothing was sent to it).
    async fn start_multipart(&self, key: &str, st: &mut State) -> Result<String, StorageError> {
        let crc = st.crc_base.is_some();
        let (content_type, metadata) = st.meta.clone().unzip();
        let create = async {
            let out = self
                .client
                .create_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .set_checksum_algorithm(crc.then_some(ChecksumAlgorithm::Crc32C))
                .set_checksum_type(crc.then_some(ChecksumType::FullObject))
                .set_content_type(content_type.flatten())
                .set_metadata(metadata)
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("CreateMultipartUpload", e))?;
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
    async fn next_slot(&self, key: &str, st: &mut State) -> Result<i32, StorageError> {
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

    /// Starts an upload from the existing object `base` (see the module docs).
    async fn start_from(
        &self,
        key: &str,
        base: &ObjectInfo,
        st: &mut State,
    ) -> Result<(), StorageError> {
        if base.size >= MIN_PART {
            return self.copy_parts(key, key, base, st).await;
        }
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .if_match(&base.etag)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("GetObject", e))?;
        let head = ObjectBody::new(out.body, self.timeout, "GetObject")
            .collect()
            .await?;
        if head.len() as u64 != base.size {
            return Err(StorageError::Changed);
        }
        st.buf.extend_from_slice(&head);
        Ok(())
    }

    /// Copies the object `source` (as `info` describes it) server-side as
    /// the first parts of the multipart upload of `key`: ranged
    /// `UploadPartCopy` of at most the copy-part limit (S3: 5 GiB) each,
    /// conditional on its ETag.
    pub(super) async fn copy_parts(
        &self,
        key: &str,
        source: &str,
        info: &ObjectInfo,
        st: &mut State,
    ) -> Result<(), StorageError> {
        for (start, end) in copy_ranges(info.size, self.copy_part_limit) {
            let n = self.next_slot(key, st).await?;
            let req = self
                .client
                .upload_part_copy()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(st.upload_id.clone().unwrap_or_default())
                .part_number(n)
                .copy_source(copy_source(&self.bucket, source))
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
    async fn send_part(&self, key: &str, st: &mut State, part: Bytes) -> Result<(), StorageError> {
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

    /// Reads the data connection to its end, sending full parts as they fill.
    /// Cancellation is honoured only while waiting for the client, never in
    /// the middle of an S3 call, so `st` always knows every upload it started.
    async fn fill<R: AsyncRead + Unpin>(
        &self,
        key: &str,
        reader: &mut R,
        st: &mut State,
        opts: UploadOptions,
        cancel: &CancellationToken,
    ) -> Result<(), StorageError> {
        loop {
            self.send_full_parts(key, st).await?;
            let size = usize::try_from(part_size_for(self.part_size, st.next_part + 1))
                .unwrap_or(usize::MAX);
            // Read straight into the part buffer, never past the part boundary.
            if st.buf.capacity() < size {
                st.buf.reserve(size - st.buf.len());
            }
            let room = size.saturating_sub(st.buf.len());
            let mut room = (&mut st.buf).limit(room);
            let read = reader.read_buf(&mut room);
            let n = tokio::select! {
                () = cancel.cancelled() => return Err(StorageError::Cancelled),
                r = tokio::time::timeout(opts.stall, read) => match r {
                    Err(_) => return Err(StorageError::Io(std::io::ErrorKind::TimedOut.into())),
                    // A TLS peer that closes without close_notify: with strict_eof an
                    // interruption (vsftpd's strict_ssl_read_eof=YES), else the end
                    // of the file, as with plain FTP.
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        if opts.strict_eof {
                            tracing::info!(key, received = st.received, "TLS data connection closed without close_notify: upload interrupted (tls.strict_eof)");
                            return Err(StorageError::Io(e));
                        }
                        tracing::info!(key, received = st.received, "TLS data connection closed without close_notify: taken as the end of the file (tls.strict_eof is off)");
                        0
                    }
                    Ok(r) => r.map_err(StorageError::Io)?,
                },
            };
            if n == 0 {
                st.proven_end = opts.strict_eof;
                return Ok(());
            }
            st.received += n as u64;
        }
    }

    /// Sends every full part in the buffer.
    async fn send_full_parts(&self, key: &str, st: &mut State) -> Result<(), StorageError> {
        loop {
            let size = usize::try_from(part_size_for(self.part_size, st.next_part + 1))
                .unwrap_or(usize::MAX);
            if st.buf.len() < size {
                return Ok(());
            }
            let part = st.buf.split_to(size).freeze();
            self.send_part(key, st, part).await?;
        }
    }

    /// Sends what is buffered and makes the object: PutObject or
    /// CompleteMultipartUpload, once `gate` says yes. The last part is on
    /// its way while the gate decides; a no aborts with
    /// [`StorageError::Cancelled`] and nothing becomes visible.
    pub(super) async fn commit(
        &self,
        key: &str,
        st: &mut State,
        gate: &mut CommitGate,
    ) -> Result<(), StorageError> {
        self.mtimes.forget(key);
        let tail = st.buf.split().freeze();
        if st.upload_id.is_none() {
            if !gate.confirm(st.received, st.proven_end).await {
                return Err(StorageError::Cancelled);
            }
            let base = st.base.as_deref();
            return self.put_checked(key, tail, &mut st.check, base).await;
        }
        if !tail.is_empty() {
            self.send_part(key, st, tail).await?;
        }
        if !gate.confirm(st.received, st.proven_end).await {
            return Err(StorageError::Cancelled);
        }
        st.check.clear(self).await?;
        if let Some(mut set) = st.in_flight.take() {
            while let Some(r) = set.join_next().await {
                st.done.push(joined(r)?);
            }
        }
        st.done.sort_by_key(|p| p.n);
        let full = st.crc_base.map(|base| {
            st.done
                .iter()
                .filter_map(|p| p.crc)
                .fold(base, |acc, (crc, len)| checksum::combine(acc, crc, len))
        });
        let parts = st
            .done
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.n)
                    .e_tag(&p.etag)
                    .set_checksum_crc32_c(
                        p.crc
                            .map(|(c, _)| checksum::to_header(c))
                            .or_else(|| p.copied_crc.clone())
                            .filter(|_| full.is_some()),
                    )
                    .build()
            })
            .collect();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(st.upload_id.clone().unwrap_or_default())
            .set_checksum_crc32_c(full.map(checksum::to_header))
            .set_checksum_type(full.map(|_| ChecksumType::FullObject))
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("CompleteMultipartUpload", e))?;
        self.versions.note(key, out.e_tag());
        if let Some(id) = st.upload_id.take() {
            self.live.remove(&id);
        }
        Ok(())
    }

    pub(super) async fn abort(&self, key: &str, st: &mut State) {
        if let Some(mut set) = st.in_flight.take() {
            set.abort_all();
            while set.join_next().await.is_some() {}
        }
        if let Some(id) = st.upload_id.take() {
            self.live.remove(&id);
            let aborted = self.abort_upload(key, &id).await;
            self.count_abort("interrupted", aborted.is_ok());
            match aborted {
                Ok(()) => tracing::info!(key, "multipart upload aborted"),
                Err(e) => {
                    tracing::warn!(key, error = %e, "could not abort multipart upload; retrying in the background");
                    self.aborts.push(key, &id);
                }
            }
        }
    }
}

fn joined(r: Result<PartResult, tokio::task::JoinError>) -> PartResult {
    r.map_err(|e| StorageError::failed("UploadPart", e.to_string()))?
}

/// Streams `reader` into the object `key`, after the existing object
/// `base` when resuming. Returns the bytes received from the client.
/// Cancelling `cancel` aborts the upload (or, with `keep_partial`, commits
/// what arrived). At the end of the data the upload commits only when
/// `gate` says the client is still there (with `keep_partial` it commits
/// what arrived either way).
///
/// # Errors
/// Data-connection errors, S3 errors, [`StorageError::Changed`] when `base`
/// changed meanwhile, or [`StorageError::Cancelled`].
pub async fn upload<R: AsyncRead + Unpin>(
    storage: &Storage,
    key: &str,
    reader: &mut R,
    base: Option<&ObjectInfo>,
    opts: UploadOptions,
    cancel: &CancellationToken,
    mut gate: CommitGate,
) -> Result<u64, StorageError> {
    let base = base.filter(|b| b.size > 0);
    let mut st = State {
        // A resumed object under 5 MiB is re-sent, so its bytes are summed
        // like new ones; a larger one is copied, and its stored CRC32C (when
        // S3 has one) starts the sum. Without it, no checksum is sent.
        crc_base: match base {
            Some(b) if b.size >= MIN_PART => b.crc32c,
            _ => Some(0),
        },
        check: gate.take_check(),
        base: base.map(|b| b.etag.clone()),
        ..State::default()
    };
    let filled = match base {
        Some(b) => match storage.start_from(key, b, &mut st).await {
            Ok(()) => storage.fill(key, reader, &mut st, opts, cancel).await,
            Err(e) => Err(e),
        },
        None => storage.fill(key, reader, &mut st, opts, cancel).await,
    };
    let result = match filled {
        // Nothing to add to the existing object: leave it as it is.
        Ok(()) if base.is_some() && st.received == 0 => {
            storage.abort(key, &mut st).await;
            return Ok(0);
        }
        Ok(()) if opts.keep_partial => storage.commit(key, &mut st, &mut CommitGate::open()).await,
        Ok(()) => storage.commit(key, &mut st, &mut gate).await,
        Err(e) if e.is_client_side() && opts.keep_partial => {
            tracing::info!(key, received = st.received, error = %e, "interrupted upload kept (uploads.keep_partial)");
            storage
                .commit(key, &mut st, &mut CommitGate::open())
                .await
                .and(Err(e))
        }
        Err(e) => Err(e),
    };
    match &result {
        Ok(()) => storage.failed.forget(key),
        Err(e) => {
            tracing::info!(key, error = %e, "upload failed");
            storage.abort(key, &mut st).await;
            // The previous object, if any, is still there: no resume may build
            // on it. (A folder's name has no file to resume.)
            if base.is_none() && !opts.keep_partial && !matches!(e, StorageError::IsFolder) {
                storage.note_failed_overwrite(key);
            }
        }
    }
    result.map(|()| st.received)
}
