//! Every S3 call has a deadline from `s3.timeout`, so a frozen S3 fails the
//! command (451) instead of holding it forever:
//! - a request without a large body (HEAD, LIST, DELETE, Create/Complete/
//!   AbortMultipartUpload): `s3.timeout` from start to answer, retries
//!   included;
//! - a request that carries or copies `n` bytes (PutObject, UploadPart,
//!   UploadPartCopy, CopyObject): `s3.timeout` plus `n` at [`MIN_RATE`], so
//!   a large part on a slow link is not cut off while a frozen S3 still is;
//! - a streamed body (GetObject): each chunk within `s3.timeout`
//!   (`download::ObjectBody`).

use std::time::Duration;

use aws_sdk_s3::config::timeout::TimeoutConfig;

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
}
