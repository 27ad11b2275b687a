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
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
        /// Every request waits this long (milliseconds) before it is handled.
        slow_ms: AtomicU64,
        /// Requests being handled now, and the most there ever were.
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
        /// PutObject ignores If-Match / If-None-Match, as Garage 2.5 does.
        ignore_conditions: std::sync::atomic::AtomicBool,
    }

    /// A request being handled, counted until dropped.
    pub struct InFlight<'a>(&'a AtomicUsize);

    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }

    impl TestHooks {
        pub(in crate::embedded) fn new() -> Self {
            Self {
                copy_fails_for: Mutex::new(None),
                min_part: AtomicU64::new(super::MIN_PART),
                list_fails_for: Mutex::new(None),
                slow_ms: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                most_in_flight: AtomicUsize::new(0),
                ignore_conditions: std::sync::atomic::AtomicBool::new(false),
            }
        }

        pub(in crate::embedded) fn ignores_conditions(&self) -> bool {
            self.ignore_conditions.load(Ordering::Relaxed)
        }

        pub(in crate::embedded) fn set_ignore_conditions(&self, on: bool) {
            self.ignore_conditions.store(on, Ordering::Relaxed);
        }

        /// A request begins: counted, and held back when requests are slow.
        pub(in crate::embedded) async fn enter(&self) -> InFlight<'_> {
            let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            self.most_in_flight.fetch_max(now, Ordering::Relaxed);
            let slow = self.slow_ms.load(Ordering::Relaxed);
            if slow > 0 {
                tokio::time::sleep(Duration::from_millis(slow)).await;
            }
            InFlight(&self.in_flight)
        }

        pub(in crate::embedded) fn slow_requests(&self, by: Duration) {
            self.slow_ms.store(
                u64::try_from(by.as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }

        /// The most requests handled at once since the last call (then reset).
        pub(in crate::embedded) fn most_in_flight(&self) -> usize {
            self.most_in_flight
                .swap(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed)
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

        #[allow(clippy::unused_self)]
        pub(in crate::embedded) fn ignores_conditions(&self) -> bool {
            false
        }

        #[allow(clippy::unused_self, clippy::unused_async)]
        pub(in crate::embedded) async fn check_list(&self, _prefix: &str) -> S3Result<()> {
            Ok(())
        }

        #[allow(clippy::unused_self, clippy::unused_async)]
        pub(in crate::embedded) async fn enter(&self) {}
    }
}
