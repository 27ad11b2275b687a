//! Downloads as parallel ranged GETs, so one FTP stream keeps the S3 pipe
//! full when S3 is far: one connection moves at most its window per round
//! trip, several ranges fill several windows.
//!
//! The first GET asks for the first `part_size` bytes from the offset; its
//! `Content-Range` tells the object's size and its ETag pins every later
//! range (`If-Match`), so an overwrite in the middle of a download fails it
//! with [`StorageError::Changed`] instead of stitching two versions
//! together. While the first range streams to the client, up to
//! `download_concurrency` later ranges are fetched into memory, in order:
//! memory per download stays near `download_concurrency × part_size`.
//! Ranges not yet sent are dropped (their requests aborted) with the body.

use std::collections::VecDeque;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use super::{Storage, StorageError};

impl Storage {
    /// Starts a GET from byte `offset`; returns the body and its length.
    ///
    /// # Errors
    /// [`StorageError::NotFound`], [`StorageError::InvalidRange`] or other S3 errors.
    /// With `s3.download_concurrency` above 1 the first GET asks for one
    /// `part_size` range and the rest follows in parallel ranges pinned to
    /// its ETag (see the module docs).
    pub async fn get(&self, key: &str, offset: u64) -> Result<(ObjectBody, u64), StorageError> {
        let ranged = self.download_concurrency > 1;
        let mut req = self.client.get_object().bucket(&self.bucket).key(key);
        if ranged {
            req = req.range(format!("bytes={offset}-{}", offset + self.part_size - 1));
        } else if offset > 0 {
            req = req.range(format!("bytes={offset}-"));
        }
        let out = req
            .send()
            .await
            .map_err(|e| self.sdk_error("GetObject", e))?;
        let len = u64::try_from(out.content_length().unwrap_or(0)).unwrap_or(0);
        let content_range = out.content_range().map(str::to_owned);
        let etag = out.e_tag().map(str::to_owned);
        self.versions.note(key, etag.as_deref());
        let body = ObjectBody::new(out.body, self.timeout, "GetObject");
        if !ranged {
            return Ok((body, len));
        }
        let failed = |why: String| StorageError::failed("GetObject", why);
        let Some(range) = content_range else {
            // No Content-Range: the server ignored Range and sent the whole
            // object, which is only right from byte 0.
            if offset == 0 {
                return Ok((body, len));
            }
            return Err(failed("the server ignored the Range of a GET".into()));
        };
        let total = total_size(&range)
            .filter(|_| range.starts_with(&format!("bytes {offset}-")))
            .ok_or_else(|| failed(format!("unexpected Content-Range {range:?}")))?;
        let first_end = offset + len;
        if first_end >= total {
            return Ok((body, total.saturating_sub(offset)));
        }
        let etag = etag.ok_or_else(|| {
            failed("no ETag to pin later ranges to (set s3.download_concurrency: 1)".into())
        })?;
        let object = PinnedObject {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            etag,
            stall: self.timeout,
        };
        let ahead = ReadAhead::start(
            object,
            first_end,
            total,
            self.part_size,
            self.download_concurrency,
        );
        Ok((body.followed_by(ahead), total - offset))
    }
}

/// The largest piece handed on at once from a range held in memory (a
/// write to the data connection is bounded by the data timeout).
const PIECE: usize = 256 * 1024;

/// What fetching one more range of the pinned object needs.
#[derive(Debug, Clone)]
pub(super) struct PinnedObject {
    pub client: Client,
    pub bucket: String,
    pub key: String,
    /// The first response's ETag: every range must come from that version.
    pub etag: String,
    /// `s3.timeout`, for each chunk of a range.
    pub stall: Duration,
}

impl PinnedObject {
    /// Bytes `start..end` of the object, whole, or an error.
    async fn range(self, start: u64, end: u64) -> Result<Bytes, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .range(format!("bytes={start}-{}", end - 1))
            .if_match(&self.etag)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("GetObject", e))?;
        let len = usize::try_from(end - start).unwrap_or(usize::MAX);
        let mut body = ObjectBody::new(out.body, self.stall, "GetObject");
        let mut bytes = BytesMut::with_capacity(len);
        while let Some(chunk) = body.next_chunk().await? {
            bytes.extend_from_slice(&chunk);
        }
        if bytes.len() != len {
            return Err(StorageError::failed(
                "GetObject",
                format!("range {start}-{} brought {} bytes", end - 1, bytes.len()),
            ));
        }
        Ok(bytes.freeze())
    }
}

/// The ranges after the first: fetched ahead, handed on in order.
#[derive(Debug)]
pub(super) struct ReadAhead {
    object: PinnedObject,
    /// Start of the next range not yet requested.
    next: u64,
    /// The object's size.
    total: u64,
    part: u64,
    depth: usize,
    fetching: VecDeque<JoinHandle<Result<Bytes, StorageError>>>,
    current: Bytes,
}

impl ReadAhead {
    /// Starts fetching bytes `from..total` in ranges of `part`, `depth` at once.
    pub(super) fn start(
        object: PinnedObject,
        from: u64,
        total: u64,
        part: u64,
        depth: usize,
    ) -> Self {
        let mut ahead = Self {
            object,
            next: from,
            total,
            part: part.max(1),
            depth: depth.max(1),
            fetching: VecDeque::new(),
            current: Bytes::new(),
        };
        ahead.top_up();
        ahead
    }

    fn top_up(&mut self) {
        while self.fetching.len() < self.depth && self.next < self.total {
            let end = (self.next + self.part).min(self.total);
            let fetch = self.object.clone().range(self.next, end);
            self.fetching.push_back(tokio::spawn(fetch));
            self.next = end;
        }
    }

    /// The next piece; `None` after the last range.
    pub(super) async fn next_chunk(&mut self) -> Result<Option<Bytes>, StorageError> {
        if self.current.is_empty() {
            let Some(range) = self.fetching.front_mut() else {
                return Ok(None);
            };
            let got = range.await;
            self.fetching.pop_front();
            self.current = got.map_err(|e| StorageError::failed("GetObject", e.to_string()))??;
            self.top_up();
        }
        let n = self.current.len().min(PIECE);
        Ok(Some(self.current.split_to(n)))
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        for range in &self.fetching {
            range.abort();
        }
    }
}

/// The object's size from a ranged response's `Content-Range: bytes a-b/total`.
pub(super) fn total_size(content_range: &str) -> Option<u64> {
    content_range.rsplit('/').next()?.trim().parse().ok()
}

/// An object's bytes as S3 streams them, each chunk within the deadline.
#[derive(Debug)]
pub struct ObjectBody {
    inner: ByteStream,
    stall: Duration,
    op: &'static str,
    /// `inner` has ended.
    first_done: bool,
    /// The ranges after `inner`'s, for a download in parallel ranges.
    ahead: Option<ReadAhead>,
}

impl ObjectBody {
    pub(super) fn new(inner: ByteStream, stall: Duration, op: &'static str) -> Self {
        Self {
            inner,
            stall,
            op,
            first_done: false,
            ahead: None,
        }
    }

    /// `inner`, then the ranges `ahead` fetches.
    pub(super) fn followed_by(mut self, ahead: ReadAhead) -> Self {
        self.ahead = Some(ahead);
        self
    }

    /// A body with no bytes.
    #[must_use]
    pub fn empty() -> Self {
        Self::new(ByteStream::from_static(b""), Duration::MAX, "GetObject")
    }

    /// The next chunk; `None` at the end.
    ///
    /// # Errors
    /// When S3 fails or sends nothing for `s3.timeout`.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, StorageError> {
        if !self.first_done {
            let op = self.op;
            match tokio::time::timeout(self.stall, self.inner.try_next()).await {
                Ok(Ok(Some(chunk))) => return Ok(Some(chunk)),
                Ok(Ok(None)) => self.first_done = true,
                Ok(Err(e)) => return Err(StorageError::failed(op, e.to_string())),
                Err(_) => {
                    return Err(StorageError::S3 {
                        op,
                        code: Some("Timeout".into()),
                        message: format!("S3 sent nothing for {:?} (s3.timeout)", self.stall),
                    });
                }
            }
        }
        match self.ahead.as_mut() {
            Some(ahead) => ahead.next_chunk().await,
            None => Ok(None),
        }
    }

    /// Reads the whole body (small objects only).
    ///
    /// # Errors
    /// As [`ObjectBody::next_chunk`].
    pub async fn collect(mut self) -> Result<Vec<u8>, StorageError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    /// The default `s3.timeout` (30 s) on a paused clock: no real wait.
    #[tokio::test(start_paused = true)]
    async fn a_silent_body_times_out() {
        let (tx, rx) =
            tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(1);
        let body = http_body_util::StreamBody::new(tokio_stream_from(rx));
        let timeout = Duration::from_secs(30);
        let mut b = ObjectBody::new(ByteStream::from_body_1_x(body), timeout, "GetObject");
        let feeder = tokio::spawn(async move {
            // Bytes at 29 s keep it alive; then silence.
            tokio::time::sleep(Duration::from_secs(29)).await;
            let chunk = hyper::body::Frame::data(Bytes::from_static(b"x"));
            tx.send(Ok(chunk)).await.unwrap();
            std::future::pending::<()>().await;
        });
        let t0 = tokio::time::Instant::now();
        assert_eq!(&b.next_chunk().await.unwrap().unwrap()[..], b"x");
        let err = b.next_chunk().await.unwrap_err();
        assert!(err.to_string().contains("s3.timeout"), "{err}");
        assert_eq!(
            t0.elapsed(),
            Duration::from_secs(29) + timeout,
            "timed from the last bytes"
        );
        feeder.abort();
    }

    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures::Stream<Item = T> + Send + Sync {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
    use super::*;

    #[test]
    fn sizes_from_content_range() {
        assert_eq!(total_size("bytes 0-8388607/12582912"), Some(12_582_912));
        assert_eq!(total_size("bytes 5-9/10"), Some(10));
        assert_eq!(total_size("bytes */10"), Some(10));
        assert_eq!(total_size("bytes 0-9/*"), None);
        assert_eq!(total_size(""), None);
    }
}
