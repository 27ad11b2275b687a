//! Whether a storage profile's bucket answers, in
//! `s3ftpd_storage_reachable{profile}`: asked once at start for every
//! profile, then again only after a request of that profile failed —
//! HeadBucket at once, then every [`RECHECK`] until it answers — never
//! polled while all is well (a gateway may serve hundreds of profiles;
//! `/readyz` polls the default one alone).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::error::HasStatus;
use super::{Storage, StorageError};

/// How often a profile whose bucket stopped answering is asked again.
const RECHECK: Duration = Duration::from_secs(10);

/// A profile's re-check in progress.
#[derive(Debug, Default)]
pub(super) struct Health {
    rechecking: AtomicBool,
}

impl Storage {
    /// Maps an SDK error of this profile's (see [`StorageError::from_sdk`])
    /// and, when S3 itself failed, has its bucket asked again.
    pub(super) fn sdk_error<E, R>(&self, op: &'static str, err: SdkError<E, R>) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        let e = StorageError::from_sdk(op, err);
        if matches!(e, StorageError::S3 { .. }) {
            self.recheck();
        }
        e
    }

    /// Asks the bucket again in the background until it answers (one such
    /// loop per profile at a time).
    fn recheck(&self) {
        if self.health.rechecking.swap(true, Ordering::Relaxed) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            while this.check_bucket().await.is_err() {
                tokio::time::sleep(RECHECK).await;
            }
            this.health.rechecking.store(false, Ordering::Relaxed);
        });
    }
}
