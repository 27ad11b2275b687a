//! Every S3 call has a deadline from `s3.timeout`, so a frozen S3 fails the
//! command (451) instead of holding it forever:
//! - a request without a large body (HEAD, LIST, DELETE, Create/Complete/
//!   AbortMultipartUpload): `s3.timeout` from start to answer, retries
//!   included;
//! - a request that carries or copies `n` bytes (PutObject, UploadPart,
//!   UploadPartCopy, CopyObject): `s3.timeout` plus `n` at [`MIN_RATE`], so
//!   a large part on a slow link is not cut off while a frozen S3 still is;
//! - a streamed body (GetObject): each chunk within `s3.timeout`.

use std::time::Duration;

use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::StorageError;

/// The slowest transfer rate to S3 that is still progress: 1 MiB/s.
pub const MIN_RATE: u64 = 1024 * 1024;

/// The client-wide timeouts: connecting, and whole operations.
#[must_use]
pub fn client_timeouts(timeout: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .operation_timeout(timeout)
        .operation_attempt_timeout(timeout)
        .build()
}

/// The deadline of a request that moves `bytes`.
#[must_use]
pub fn for_bytes(timeout: Duration, bytes: u64) -> Duration {
    timeout + Duration::from_secs(bytes / MIN_RATE)
}

/// A per-request config override giving a request that moves `bytes` its deadline.
#[must_use]
pub fn sized(timeout: Duration, bytes: u64) -> aws_sdk_s3::config::Builder {
    let d = for_bytes(timeout, bytes);
    aws_sdk_s3::config::Builder::default().timeout_config(
        TimeoutConfig::builder()
            .operation_timeout(d)
            .operation_attempt_timeout(d)
            .build(),
    )
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
    ahead: Option<super::download::ReadAhead>,
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
    pub(super) fn followed_by(mut self, ahead: super::download::ReadAhead) -> Self {
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
    use super::*;

    #[test]
    fn deadlines_grow_with_the_bytes_moved() {
        let t = Duration::from_secs(30);
        assert_eq!(for_bytes(t, 0), t);
        assert_eq!(for_bytes(t, 8 * MIN_RATE), Duration::from_secs(38));
        assert_eq!(
            for_bytes(t, 5 * 1024 * MIN_RATE),
            Duration::from_secs(30 + 5 * 1024)
        );
    }

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
}
