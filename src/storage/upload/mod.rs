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

use aws_sdk_s3::types::{ChecksumType, CompletedMultipartUpload, CompletedPart};
use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

mod parts;

use super::schedule::MIN_PART;
use super::{
    CommitGate, EVENT_META, FolderCheck, ObjectBody, ObjectInfo, Small, Storage, StorageError,
    Written, checksum, part_size_for,
};

/// A write that must be done before an upload commits (its event's
/// outbox entry): shared, so the upload only waits for it.
pub type Before = futures::future::Shared<futures::future::BoxFuture<'static, Result<(), String>>>;

/// The event an upload belongs to: its id goes on the object
/// ([`EVENT_META`]), and `before` must be done before the commit.
#[derive(Clone)]
pub struct Tag {
    /// The event's id.
    pub id: std::sync::Arc<str>,
    /// The outbox entry's write.
    pub before: Before,
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tag")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Tag {
    /// Waits for the write that must precede the commit.
    async fn ready(&self) -> Result<(), StorageError> {
        self.before.clone().await.map_err(|e| {
            tracing::warn!(event = %self.id, error = %e, "the event's outbox entry could not be written: the upload is not committed");
            StorageError::failed("PutObject (events outbox)", e)
        })
    }
}

/// What an upload did.
#[derive(Debug, Clone, Default)]
pub struct Uploaded {
    /// Bytes received from the client.
    pub received: u64,
    /// The object it made; `None` when nothing was written (a resume
    /// that added no byte).
    pub written: Option<Written>,
}
use parts::{Part, PartResult, joined};

/// How an upload behaves.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Commit what was received when the transfer is interrupted.
    pub keep_partial: bool,
    /// Longest wait for the next bytes from the client.
    pub stall: Duration,
    /// The stream is TLS and must end with its close_notify: an end
    /// without one is an interruption (`tls.strict_eof`), and an end with
    /// one proves the client finished, so the gate need not wait.
    pub strict_eof: bool,
    /// The name must not exist when the object is made (the account lacks
    /// `overwrite`): the commit is `If-None-Match: *` where S3 honours it.
    pub new_only: bool,
    /// The quota the upload's bytes are taken from as they arrive: past
    /// it the upload stops, is aborted, and fails with
    /// [`StorageError::QuotaExceeded`].
    pub budget: Option<std::sync::Arc<super::Budget>>,
    /// The upload's event (see [`Tag`]).
    pub tag: Option<Tag>,
}

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
    /// The bucket copied parts come from, when not this one (a rename
    /// between two buckets of one client).
    source_bucket: Option<String>,
    /// The stream ended with TLS's close_notify under `strict_eof`.
    proven_end: bool,
    /// The name must be new (see [`UploadOptions::new_only`]).
    new_only: bool,
    /// The quota's budget (see [`UploadOptions::budget`]).
    budget: Option<std::sync::Arc<super::Budget>>,
    /// The upload's event (see [`UploadOptions::tag`]).
    tag: Option<Tag>,
}

/// A quota's lookup of the replaced object answers before the commit (it
/// ran beside the upload), so that it never sees the upload's own object.
async fn settle(st: &State) {
    if let Some(budget) = &st.budget {
        budget.settle().await;
    }
}

/// The gate's yes (the client is still there), the quota settled and the
/// event's outbox entry written (it ran beside the upload): then, and only
/// then, the upload commits.
async fn confirmed(st: &State, gate: &mut CommitGate) -> Result<(), StorageError> {
    let ready = async {
        match &st.tag {
            Some(tag) => tag.ready().await,
            None => Ok(()),
        }
    };
    let (yes, ready) = tokio::join!(gate.confirm(st.received, st.proven_end), ready);
    if !yes {
        return Err(StorageError::Cancelled);
    }
    ready?;
    settle(st).await;
    Ok(())
}

impl State {
    /// A server-side copy of `source` (rename above the copy limit).
    pub(super) fn copying(
        source: &ObjectInfo,
        source_bucket: &str,
        content_type: Option<String>,
        metadata: std::collections::HashMap<String, String>,
    ) -> Self {
        Self {
            crc_base: source.crc32c,
            meta: Some((content_type, metadata)),
            source_bucket: Some(source_bucket.to_owned()),
            ..Self::default()
        }
    }
}

impl Storage {
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

    /// Reads the data connection to its end, sending full parts as they fill.
    /// Cancellation is honoured only while waiting for the client, never in
    /// the middle of an S3 call, so `st` always knows every upload it started.
    async fn fill<R: AsyncRead + Unpin>(
        &self,
        key: &str,
        reader: &mut R,
        st: &mut State,
        opts: &UploadOptions,
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
            if let Some(budget) = &opts.budget
                && !budget.take(n as u64).await
            {
                tracing::info!(
                    key,
                    received = st.received,
                    "upload past the quota: stopped, nothing is made"
                );
                return Err(StorageError::QuotaExceeded);
            }
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
    ) -> Result<Written, StorageError> {
        self.mtimes.forget(key);
        let tail = st.buf.split().freeze();
        if st.upload_id.is_none() {
            confirmed(st, gate).await?;
            let base = st.base.as_deref();
            let body = Small {
                bytes: tail,
                tag: st.tag.as_ref().map(|t| t.id.clone()),
            };
            return self
                .put_checked(key, body, &mut st.check, base, st.new_only)
                .await;
        }
        if !tail.is_empty() {
            self.send_part(key, st, tail).await?;
        }
        confirmed(st, gate).await?;
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
            .set_if_none_match((st.new_only && self.conditional.honoured()).then(|| "*".to_owned()))
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| match self.sdk_error("CompleteMultipartUpload", e) {
                StorageError::Changed if st.new_only => StorageError::Exists,
                e => e,
            })?;
        self.versions.note(key, out.e_tag());
        self.folders.wrote(key);
        if let Some(id) = st.upload_id.take() {
            self.live.remove(&id);
        }
        Ok(Written {
            etag: out.e_tag().map(str::to_owned),
            version_id: out.version_id().map(str::to_owned),
            crc32c: full,
            confirmed: full.is_some()
                && out.checksum_crc32_c().and_then(checksum::from_header) == full,
        })
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
) -> Result<Uploaded, StorageError> {
    let base = base.filter(|b| b.size > 0);
    let tag = opts.tag.clone();
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
        new_only: opts.new_only,
        budget: opts.budget.clone(),
        meta: tag
            .as_ref()
            .map(|t| (None, [(EVENT_META.to_owned(), t.id.to_string())].into())),
        tag,
        ..State::default()
    };
    let filled = match base {
        Some(b) => match storage.start_from(key, b, &mut st).await {
            Ok(()) => storage.fill(key, reader, &mut st, &opts, cancel).await,
            Err(e) => Err(e),
        },
        None => storage.fill(key, reader, &mut st, &opts, cancel).await,
    };
    let result = match filled {
        // Nothing to add to the existing object: leave it as it is.
        Ok(()) if base.is_some() && st.received == 0 => {
            storage.abort(key, &mut st).await;
            return Ok(Uploaded::default());
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
        Ok(_) => storage.failed.forget(key),
        Err(e) => {
            tracing::info!(key, error = %e, "upload failed");
            storage.abort(key, &mut st).await;
            // The previous object, if any, is still there: no resume may build
            // on it. (A folder's name has no file to resume.)
            // (Nor has the name another's file that this one may not replace.)
            if base.is_none()
                && !opts.keep_partial
                && !matches!(e, StorageError::IsFolder | StorageError::Exists)
            {
                storage.note_failed_overwrite(key);
            }
        }
    }
    result.map(|w| Uploaded {
        received: st.received,
        written: Some(w),
    })
}
