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
//!
//! A name that is already a file may be replaced: the rule keeps files from
//! *taking* folders' names, and only another S3 tool can make a name both
//! (`a` and `a/…`); replacing that file changes nothing about the clash.
//! So a 412 above settles the question, and so does a write with
//! `If-Match` over the version the gateway saw last ([`super::versions`]):
//! where it has one, the check is not even started (it is started later
//! only if that write meets a 412, or the upload becomes multipart).

use tokio::task::JoinHandle;

use super::conditional::Write;
use super::folders::Answer;
use super::{Small, Storage, StorageError, Written};

/// The pending or settled answer for one upload.
#[derive(Debug)]
pub struct FolderCheck {
    /// The file's key (the folder's prefix is this and `/`).
    key: String,
    prefix: String,
    /// The version of the file seen last, when `If-Match` may use it.
    hint: Option<String>,
    state: State,
    /// What the folder's knowledge said of the name when the upload began
    /// ([`super::folders`]).
    known: Answer,
    /// The folder is not known: the check lists it (and so learns it).
    list_folder: bool,
}

#[derive(Debug)]
enum State {
    /// No check (tools, server-side copies, tests).
    None,
    /// Not started: the upload expects to replace a known version.
    Deferred,
    /// Whether a folder has the name.
    Running(JoinHandle<Result<bool, StorageError>>),
    /// Whether a folder has the name (after [`FolderCheck::clear`]: and no
    /// file), or why S3 could not say (kept whole for the reply).
    Settled(Result<bool, StorageError>),
}

impl FolderCheck {
    /// No check: the upload may take its name.
    #[must_use]
    pub fn none() -> Self {
        Self {
            key: String::new(),
            prefix: String::new(),
            hint: None,
            state: State::None,
            known: Answer::Unknown,
            list_folder: false,
        }
    }

    /// Whether the answer is in (or there is no question).
    pub(super) fn settled(&self) -> bool {
        match &self.state {
            State::Running(task) => task.is_finished(),
            State::Deferred => false,
            State::None | State::Settled(_) => true,
        }
    }

    fn start(&mut self, storage: &Storage) {
        let (storage, prefix) = (storage.clone(), self.prefix.clone());
        let (key, list_folder) = (self.key.clone(), self.list_folder);
        self.state = State::Running(tokio::spawn(async move {
            if list_folder {
                storage.folder_by_listing(&key, &prefix).await
            } else {
                storage.dir_exists(&prefix).await
            }
        }));
    }

    /// Waits for "does a folder have the name?" (`Ok(true)`: yes), starting
    /// the check if it was deferred.
    async fn folder(&mut self, storage: &Storage) -> Result<bool, StorageError> {
        if matches!(self.state, State::Deferred) {
            self.start(storage);
        }
        if let State::Running(task) = &mut self.state {
            let answer = match task.await {
                Ok(r) => r,
                Err(e) => Err(StorageError::failed("ListObjectsV2", e.to_string())),
            };
            if let Err(e) = &answer {
                tracing::info!(error = %e, "folder check failed");
            }
            self.state = State::Settled(answer);
        }
        match &self.state {
            State::None => Ok(false),
            State::Settled(answer) => answer.clone(),
            State::Deferred | State::Running(_) => unreachable!("settled above"),
        }
    }

    /// Waits until the upload may take its name: `Err(`[`StorageError::IsFolder`]`)`
    /// when a folder has it and no file does, the check's own error when S3
    /// could not say.
    ///
    /// # Errors
    /// As above.
    pub(super) async fn clear(&mut self, storage: &Storage) -> Result<(), StorageError> {
        if !self.folder(storage).await? {
            return Ok(());
        }
        // A folder has the name: so may a file (see the module docs).
        let file = storage.head(&self.key).await?.is_some();
        self.state = State::Settled(Ok(!file));
        if file {
            tracing::info!(key = %self.key, "a file and a folder share this name: the file is replaced");
            Ok(())
        } else {
            Err(StorageError::IsFolder)
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
        if let State::Running(task) = &self.state {
            task.abort();
        }
    }
}

impl Storage {
    /// Whether a folder has the name of `key` (whose folder would be
    /// `prefix`), from a listing of `key`'s folder, which then answers for
    /// the next uploads there ([`super::folders`]); where the folder holds
    /// more than a page, from a request for the name alone.
    async fn folder_by_listing(&self, key: &str, prefix: &str) -> Result<bool, StorageError> {
        let (parent, _) = super::folders::split(key);
        let at = std::time::Instant::now();
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(parent)
            .delimiter("/")
            .send()
            .await
            .map_err(|e| self.sdk_error("ListObjectsV2", e))?;
        if out.is_truncated() == Some(true) {
            self.folders.large(parent);
            return self.dir_exists(prefix).await;
        }
        let folder = out
            .common_prefixes()
            .iter()
            .any(|p| p.prefix() == Some(prefix));
        self.folders
            .learn(parent, super::folders::names(parent, &out), at);
        Ok(folder)
    }

    /// The check for an upload of `key` (whose folder would be `prefix`):
    /// started now, or deferred where the gateway knows the file's version
    /// and S3 honours `If-Match` (see the module docs).
    #[must_use]
    pub fn folder_check(&self, key: &str, prefix: String) -> FolderCheck {
        self.probe_soon();
        let hint = self
            .conditional
            .if_match()
            .then(|| self.versions.get(key))
            .flatten();
        // Only where S3 does not honour `If-None-Match` does a free name
        // save a round trip; elsewhere the folder is not listed for it
        // (a page of up to 1,000 entries against one key).
        let knowing = !self.conditional.honoured();
        let known = self.folders.answer(key);
        let mut check = FolderCheck {
            key: key.to_owned(),
            prefix,
            state: State::Deferred,
            hint,
            known,
            list_folder: knowing && known == Answer::Unknown,
        };
        if check.hint.is_none() {
            check.start(self);
        }
        check
    }

    /// Writes a whole small object once `check` allows its name (see the
    /// module docs): one round trip for a new name where S3 honours
    /// `If-None-Match`, and for a file whose version is known where it
    /// honours `If-Match`; the check's then the write's elsewhere. `base`:
    /// the version an append read, the only one it may replace.
    /// `new_only`: the name must not exist (an account without `overwrite`);
    /// where S3 honours `If-None-Match` that is the write's own condition,
    /// elsewhere the caller looked the name up before the upload began.
    ///
    /// # Errors
    /// [`StorageError::IsFolder`] (nothing written), [`StorageError::Changed`]
    /// (`base` is gone: nothing written), [`StorageError::Exists`] (a file
    /// has the name and `new_only`: nothing written), S3 errors.
    pub(super) async fn put_checked(
        &self,
        key: &str,
        body: Small,
        check: &mut FolderCheck,
        base: Option<&str>,
        new_only: bool,
    ) -> Result<Written, StorageError> {
        if let Some(etag) = base.filter(|_| self.conditional.if_match()) {
            return self.put_small(key, body, Write::IfMatch(etag)).await;
        }
        if new_only {
            return self.put_new(key, body, check).await;
        }
        if let Some(etag) = check.hint.take() {
            match self
                .put_small(key, body.clone(), Write::IfMatch(&etag))
                .await
            {
                Err(StorageError::Changed) => {
                    tracing::debug!(key, "not the version seen last: the name is checked");
                }
                done => return done,
            }
        }
        // A name known to be a file is replaced beside its check on any
        // store (where S3 honours `If-None-Match`, that write would only
        // meet a 412); a name known free only where S3 ignores the
        // condition (elsewhere the conditional write below is as quick).
        let honoured = self.conditional.honoured();
        let beside = match check.known {
            Answer::File => true,
            Answer::Free => !honoured,
            _ => false,
        };
        if beside && !check.settled() {
            // Boxed: this future is part of every upload's, on the stack.
            return Box::pin(self.put_beside(key, body, check)).await;
        }
        // A check that failed already does not decide: where the condition
        // holds, the write below still tells a file (replaced) from a new name.
        if !honoured || (check.settled() && check.folder(self).await.is_ok()) {
            check.clear(self).await?;
            return self.put_small(key, body, Write::Always).await;
        }
        let (created, folder) =
            tokio::join!(self.put_if_absent(key, body.clone()), check.folder(self));
        match (created?, folder) {
            (Some(w), Ok(false)) => Ok(w),
            // A file has the name (412): it may be replaced, whatever else has it.
            (None, _) => self.put_small(key, body, Write::Always).await,
            (Some(_), answer) => self.take_back(key, answer.err()).await,
        }
    }

    /// A name known free (on a store that ignores conditional writes) or
    /// known to be a file (on any store) a moment ago ([`super::folders`]):
    /// written beside its check. A free name is taken back if the check
    /// finds a folder (or fails); a file's replacement stands — a file may
    /// be replaced whatever else has its name, and taking it back would
    /// lose the file it replaced.
    async fn put_beside(
        &self,
        key: &str,
        body: Small,
        check: &mut FolderCheck,
    ) -> Result<Written, StorageError> {
        // The write boxed too: its SDK future is large, and this poll runs
        // deep in every upload's (see `main`'s worker stacks).
        let (written, folder) = tokio::join!(
            Box::pin(self.put_small(key, body, Write::Always)),
            check.folder(self)
        );
        let written = written?;
        match folder {
            Ok(false) => Ok(written),
            _ if check.known == Answer::File => {
                tracing::info!(
                    key,
                    "a file and a folder share this name (or the check failed): the file is replaced"
                );
                Ok(written)
            }
            answer => self.take_back(key, answer.err()).await,
        }
    }

    /// A new name's object made while its folder check ran turned out to
    /// stand on a folder's name (or the check failed): the object is
    /// deleted — it was new, so nothing is lost.
    async fn take_back(&self, key: &str, e: Option<StorageError>) -> Result<Written, StorageError> {
        let e = e.unwrap_or(StorageError::IsFolder);
        tracing::info!(key, error = %e, "upload onto a folder name (or an unanswered check): the new object is deleted");
        self.delete(key).await?;
        Err(e)
    }

    /// [`Storage::put_checked`] of a name that must be new: `If-None-Match:
    /// *` beside the folder check where S3 honours it (a 412 is
    /// [`StorageError::Exists`]), a plain write after the check elsewhere.
    async fn put_new(
        &self,
        key: &str,
        body: Small,
        check: &mut FolderCheck,
    ) -> Result<Written, StorageError> {
        if !self.conditional.honoured() {
            check.clear(self).await?;
            return self.put_small(key, body, Write::Always).await;
        }
        let (created, folder) = tokio::join!(self.put_if_absent(key, body), check.folder(self));
        match (created?, folder) {
            (Some(w), Ok(false)) => Ok(w),
            (None, _) => Err(StorageError::Exists),
            (Some(_), answer) => self.take_back(key, answer.err()).await,
        }
    }

    /// Whether S3 is known to refuse a write `If-None-Match: *` over an
    /// existing object (where it is not, an upload that must not replace a
    /// file looks the name up first).
    #[must_use]
    pub fn refuses_existing(&self) -> bool {
        self.conditional.honoured()
    }
}
