//! Streaming uploads: a data connection becomes one PutObject or a multipart upload.
//!
//! Bytes are read into a buffer of the current part size. A file that ends
//! before the first part is full becomes one PutObject. Otherwise parts are
//! sent as they fill, at most `upload_concurrency` in flight, so memory per
//! upload stays near `part_size × (upload_concurrency + 1)`. The object
//! exists only after S3 confirms it; on any failure or cancellation the
//! multipart upload is aborted and the previous object, if any, is intact —
//! unless `keep_partial`, which commits the bytes received so far instead.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::schedule::MAX_PARTS;
use super::{Storage, StorageError, part_size_for};
use crate::ftp::ascii::AsciiDecoder;

/// How an upload behaves.
#[derive(Debug, Clone, Copy)]
pub struct UploadOptions {
    /// Commit what was received when the transfer is interrupted.
    pub keep_partial: bool,
    /// Convert CRLF to LF (TYPE A).
    pub ascii: bool,
    /// Longest wait for the next bytes from the client.
    pub stall: Duration,
}

type PartResult = Result<(i32, String), StorageError>;

#[derive(Default)]
struct State {
    buf: BytesMut,
    upload_id: Option<String>,
    next_part: u32,
    in_flight: Option<JoinSet<PartResult>>,
    done: Vec<(i32, String)>,
    received: u64,
}

impl Storage {
    async fn start_multipart(&self, key: &str) -> Result<String, StorageError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("CreateMultipartUpload", e))?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StorageError::S3 {
                op: "CreateMultipartUpload",
                code: None,
                message: "no upload id".into(),
            })
    }

    /// Sends one part, waiting first if `upload_concurrency` parts are in flight.
    async fn send_part(&self, key: &str, st: &mut State, part: Bytes) -> Result<(), StorageError> {
        if st.upload_id.is_none() {
            st.upload_id = Some(self.start_multipart(key).await?);
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
        let n = i32::try_from(st.next_part).unwrap_or(i32::MAX);
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), key.to_owned());
        let id = st.upload_id.clone().unwrap_or_default();
        set.spawn(async move {
            let out = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .part_number(n)
                .body(ByteStream::from(part))
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("UploadPart", e))?;
            Ok((n, out.e_tag().unwrap_or_default().to_owned()))
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
        let mut ascii = opts.ascii.then(AsciiDecoder::default);
        let mut chunk = vec![0u8; if ascii.is_some() { 64 * 1024 } else { 0 }];
        loop {
            let size = usize::try_from(part_size_for(self.part_size, st.next_part + 1))
                .unwrap_or(usize::MAX);
            let read = async {
                if ascii.is_some() {
                    return reader.read(&mut chunk).await;
                }
                // Binary: read straight into the part buffer, never past the part boundary.
                if st.buf.capacity() < size {
                    st.buf.reserve(size - st.buf.len());
                }
                let room = size - st.buf.len();
                reader.read_buf(&mut (&mut st.buf).limit(room)).await
            };
            let n = tokio::select! {
                () = cancel.cancelled() => return Err(StorageError::Aborted),
                r = tokio::time::timeout(opts.stall, read) => match r {
                    Err(_) => return Err(StorageError::Data(std::io::ErrorKind::TimedOut.into())),
                    // A TLS peer that closes without close_notify: end of file, as with
                    // plain FTP (vsftpd's default, strict_ssl_read_eof=NO).
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                    Ok(r) => r.map_err(StorageError::Data)?,
                },
            };
            if n == 0 {
                if let Some(dec) = ascii.as_mut() {
                    dec.finish(&mut st.buf);
                }
                return Ok(());
            }
            st.received += n as u64;
            if let Some(dec) = ascii.as_mut() {
                dec.decode(&chunk[..n], &mut st.buf);
            }
            loop {
                let size = usize::try_from(part_size_for(self.part_size, st.next_part + 1))
                    .unwrap_or(usize::MAX);
                if st.buf.len() < size {
                    break;
                }
                let part = st.buf.split_to(size).freeze();
                self.send_part(key, st, part).await?;
            }
        }
    }

    /// Sends what is buffered and makes the object: PutObject or CompleteMultipartUpload.
    async fn commit(&self, key: &str, st: &mut State) -> Result<(), StorageError> {
        let tail = st.buf.split().freeze();
        if st.upload_id.is_none() {
            return self.put_bytes(key, tail).await;
        }
        if !tail.is_empty() {
            self.send_part(key, st, tail).await?;
        }
        if let Some(mut set) = st.in_flight.take() {
            while let Some(r) = set.join_next().await {
                st.done.push(joined(r)?);
            }
        }
        st.done.sort_by_key(|(n, _)| *n);
        let parts = st
            .done
            .iter()
            .map(|(n, etag)| CompletedPart::builder().part_number(*n).e_tag(etag).build())
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(st.upload_id.clone().unwrap_or_default())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("CompleteMultipartUpload", e))?;
        st.upload_id = None;
        Ok(())
    }

    async fn abort(&self, key: &str, st: &mut State) {
        if let Some(mut set) = st.in_flight.take() {
            set.abort_all();
            while set.join_next().await.is_some() {}
        }
        if let Some(id) = st.upload_id.take() {
            let r = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&id)
                .send()
                .await;
            match r {
                Ok(_) => tracing::info!(key, "multipart upload aborted"),
                Err(e) => {
                    tracing::warn!(key, error = %StorageError::from_sdk("AbortMultipartUpload", e), "could not abort multipart upload; a bucket lifecycle rule will clean it up")
                }
            }
        }
    }
}

fn joined(r: Result<PartResult, tokio::task::JoinError>) -> PartResult {
    r.map_err(|e| StorageError::S3 {
        op: "UploadPart",
        code: None,
        message: e.to_string(),
    })?
}

/// Streams `reader` into the object `key`. Returns the bytes received from
/// the client. Cancelling `cancel` aborts the upload (or, with
/// `keep_partial`, commits what arrived).
///
/// # Errors
/// Data-connection errors, S3 errors, or [`StorageError::Aborted`].
pub async fn upload<R: AsyncRead + Unpin>(
    storage: &Storage,
    key: &str,
    reader: &mut R,
    opts: UploadOptions,
    cancel: &CancellationToken,
) -> Result<u64, StorageError> {
    let mut st = State::default();
    let filled = storage.fill(key, reader, &mut st, opts, cancel).await;
    let result = match filled {
        Ok(()) => storage.commit(key, &mut st).await,
        Err(e) if e.is_client_side() && opts.keep_partial => {
            tracing::info!(key, received = st.received, error = %e, "interrupted upload kept (uploads.keep_partial)");
            storage.commit(key, &mut st).await.and(Err(e))
        }
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        tracing::info!(key, error = %e, "upload failed");
        storage.abort(key, &mut st).await;
    }
    result.map(|()| st.received)
}
