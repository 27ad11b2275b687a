//! "Is there a folder with this name?", asked when an upload starts and
//! answered while its bytes arrive.
//!
//! A file may not take the name of a folder (`name/…` keys). Asking S3
//! before the upload starts costs a round trip per STOR before the first
//! byte — at 20 ms that is half of what a small file costs. So the check
//! (one ListObjectsV2 of one key) runs beside the upload and is waited for
//! only where its answer matters:
//! - before a multipart upload begins (by then it has long been answered),
//!   so a large upload onto a folder name stops after its first part;
//! - before the commit. A small upload that finished before the check did
//!   is written with `If-None-Match: *` *while* the check runs, where S3
//!   honours that condition ([`super::conditional`]): a new name costs one
//!   round trip in all. Then, if the check says "folder", the object just
//!   created (it was new: nothing is lost) is deleted again; a 412 means
//!   the name was a file, and once the check says "no folder" it is
//!   overwritten plainly. Where the condition is not known to be honoured
//!   the check is waited for first.
//!
//! Either way a STOR onto a folder name now fails after its 150 (with 553
//! and nothing stored) rather than before it.

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::{Storage, StorageError};

/// The pending or settled answer for one upload.
#[derive(Debug)]
pub struct FolderCheck(State);

#[derive(Debug)]
enum State {
    /// No check (tools, server-side copies, tests).
    None,
    Running(JoinHandle<Result<bool, StorageError>>),
    /// The answer, or why S3 could not give it (kept whole for the reply).
    Settled(Result<bool, StorageError>),
}

impl FolderCheck {
    /// Starts asking whether the folder `prefix` (`name/`) exists.
    #[must_use]
    pub fn start(storage: &Storage, prefix: String) -> Self {
        let storage = storage.clone();
        Self(State::Running(tokio::spawn(async move {
            storage.dir_exists(&prefix).await
        })))
    }

    /// No check: the upload may take its name.
    #[must_use]
    pub fn none() -> Self {
        Self(State::None)
    }

    /// Whether the answer is in (or there is no question).
    fn settled(&self) -> bool {
        match &self.0 {
            State::Running(task) => task.is_finished(),
            _ => true,
        }
    }

    /// Waits for the answer: `Err(`[`StorageError::IsFolder`]`)` when a
    /// folder has the name, the check's own error when S3 could not say.
    ///
    /// # Errors
    /// As above.
    pub async fn clear(&mut self) -> Result<(), StorageError> {
        if let State::Running(task) = &mut self.0 {
            let answer = match task.await {
                Ok(r) => r,
                Err(e) => Err(StorageError::failed("ListObjectsV2", e.to_string())),
            };
            if let Err(e) = &answer {
                tracing::info!(error = %e, "folder check failed");
            }
            self.0 = State::Settled(answer);
        }
        match &self.0 {
            State::None | State::Settled(Ok(false)) => Ok(()),
            State::Settled(Ok(true)) => Err(StorageError::IsFolder),
            State::Settled(Err(e)) => Err(e.clone()),
            State::Running(_) => unreachable!("awaited above"),
        }
    }
}

impl Default for FolderCheck {
    fn default() -> Self {
        Self::none()
    }
}

impl Drop for FolderCheck {
    fn drop(&mut self) {
        if let State::Running(task) = &self.0 {
            task.abort();
        }
    }
}

impl Storage {
    /// Writes a whole small object once `check` allows its name (see the
    /// module docs): one round trip for a new name where S3 honours
    /// `If-None-Match`, the check's then the write's elsewhere.
    ///
    /// # Errors
    /// [`StorageError::IsFolder`] (nothing written), S3 errors.
    pub(super) async fn put_checked(
        &self,
        key: &str,
        body: Bytes,
        check: &mut FolderCheck,
    ) -> Result<(), StorageError> {
        if check.settled() || !self.conditional.honoured() {
            check.clear().await?;
            return self.put_bytes(key, body).await;
        }
        let (created, cleared) = tokio::join!(self.put_if_absent(key, body.clone()), check.clear());
        match (created?, cleared) {
            (true, Ok(())) => Ok(()),
            (false, Ok(())) => self.put_bytes(key, body).await,
            (false, Err(e)) => Err(e),
            (true, Err(e)) => {
                // The name was new: taking the object back loses nothing.
                tracing::info!(key, error = %e, "upload onto a folder name (or an unanswered check): the new object is deleted");
                self.delete(key).await?;
                Err(e)
            }
        }
    }
}
