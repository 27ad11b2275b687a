//! Test hooks of the embedded store: a failure injected on purpose, an S3
//! limit relaxed. They exist only with the `test-hooks` feature, which the
//! project's own tests turn on (a dev-dependency on itself); a release
//! build has the constants and no way to change them.

#[cfg(feature = "test-hooks")]
pub use on::TestHooks;

#[cfg(not(feature = "test-hooks"))]
pub use off::TestHooks;

/// S3's smallest part before the last one.
const MIN_PART: u64 = 5 * 1024 * 1024;

#[cfg(feature = "test-hooks")]
mod on {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use s3s::{S3Result, s3_error};

    /// Every hook off until a test turns it on.
    #[derive(Debug)]
    pub struct TestHooks {
        /// CopyObject / UploadPartCopy fail (InternalError) when the source key contains this.
        copy_fails_for: Mutex<Option<String>>,
        /// Smallest non-last multipart part (S3: 5 MiB).
        min_part: AtomicU64,
        /// ListObjectsV2 of exactly this prefix waits, then fails (InternalError).
        list_fails_for: Mutex<Option<(String, Duration)>>,
    }

    impl TestHooks {
        pub(in crate::embedded) fn new() -> Self {
            Self {
                copy_fails_for: Mutex::new(None),
                min_part: AtomicU64::new(super::MIN_PART),
                list_fails_for: Mutex::new(None),
            }
        }

        pub(in crate::embedded) async fn check_list(&self, prefix: &str) -> S3Result<()> {
            let fails = self.list_fails_for.lock().expect("hooks poisoned").clone();
            match fails {
                Some((p, after)) if p == prefix => {
                    tokio::time::sleep(after).await;
                    Err(s3_error!(
                        InternalError,
                        "listing failure injected by a test"
                    ))
                }
                _ => Ok(()),
            }
        }

        pub(in crate::embedded) fn fail_listings_of(&self, prefix: Option<(&str, Duration)>) {
            *self.list_fails_for.lock().expect("hooks poisoned") =
                prefix.map(|(p, d)| (p.to_owned(), d));
        }

        pub(in crate::embedded) fn check_copy(&self, src_key: &str) -> S3Result<()> {
            let fails = self.copy_fails_for.lock().expect("hooks poisoned");
            match fails.as_deref() {
                Some(pat) if src_key.contains(pat) => {
                    Err(s3_error!(InternalError, "copy failure injected by a test"))
                }
                _ => Ok(()),
            }
        }

        pub(in crate::embedded) fn min_part(&self) -> u64 {
            self.min_part.load(Ordering::Relaxed)
        }

        pub(in crate::embedded) fn fail_copies_of(&self, pattern: Option<&str>) {
            *self.copy_fails_for.lock().expect("hooks poisoned") = pattern.map(str::to_owned);
        }

        pub(in crate::embedded) fn set_min_part_size(&self, bytes: u64) {
            self.min_part.store(bytes, Ordering::Relaxed);
        }
    }
}

#[cfg(not(feature = "test-hooks"))]
mod off {
    use s3s::S3Result;

    /// No hooks: S3's own rules.
    #[derive(Debug)]
    pub struct TestHooks;

    impl TestHooks {
        pub(in crate::embedded) fn new() -> Self {
            Self
        }

        #[allow(clippy::unused_self, clippy::unnecessary_wraps)]
        pub(in crate::embedded) fn check_copy(&self, _src_key: &str) -> S3Result<()> {
            Ok(())
        }

        #[allow(clippy::unused_self)]
        pub(in crate::embedded) fn min_part(&self) -> u64 {
            super::MIN_PART
        }

        #[allow(clippy::unused_self, clippy::unused_async)]
        pub(in crate::embedded) async fn check_list(&self, _prefix: &str) -> S3Result<()> {
            Ok(())
        }
    }
}
