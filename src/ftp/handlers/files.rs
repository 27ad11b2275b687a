//! File and directory operations: MKD, RMD, DELE, RNFR/RNTO, SIZE, MDTM, MFMT.

use time::OffsetDateTime;

use super::info::quote_path;
use crate::auth::Account;
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::listing::mdtm_time;
use crate::ftp::path::VPath;
use crate::ftp::reply::{Code, Reply};
use crate::ftp::session::{Outcome, Session};
use crate::storage::{DirState, ObjectInfo};

impl Session {
    /// The object at `arg`, or 550 (saying so when it is a directory).
    pub(super) async fn file_info(
        &self,
        account: &Account,
        path: &VPath,
    ) -> Result<(String, ObjectInfo), FtpError> {
        let key = account.root.file_key(path)?;
        match self.storage()?.head(&key).await? {
            Some(info) => Ok((key, info)),
            None if self
                .shared
                .storage
                .dir_exists(&account.root.dir_prefix(path)?)
                .await? =>
            {
                Err(refuse(
                    Code::FileUnavailable,
                    format!("{path}: not a plain file"),
                ))
            }
            None => Err(refuse(
                Code::FileUnavailable,
                format!("{path}: no such file"),
            )),
        }
    }

    /// Keeps `dir` visible after its last entry went away, by writing its marker.
    async fn keep_dir(&self, account: &Account, dir: &VPath) -> Result<(), FtpError> {
        if dir.is_root() {
            return Ok(());
        }
        let prefix = account.root.dir_prefix(dir)?;
        if !self.storage()?.dir_exists(&prefix).await? {
            self.storage()?
                .put_bytes(&prefix, bytes::Bytes::new())
                .await?;
        }
        Ok(())
    }

    pub(in crate::ftp) async fn cmd_mkd(&mut self, arg: &str) -> Outcome {
        let account = self.writable_account()?;
        let path = self.cwd.resolve(arg)?;
        let prefix = account.root.dir_prefix(&path)?;
        let storage = self.storage()?;
        if path.is_root() {
            return Err(refuse(
                Code::FileUnavailable,
                format!("{path}: directory already exists"),
            ));
        }
        // Both questions at once: one round trip.
        let file_key = account.root.file_key(&path)?;
        let (dir, file) = tokio::join!(storage.dir_exists(&prefix), storage.head(&file_key));
        if dir? {
            return Err(refuse(
                Code::FileUnavailable,
                format!("{path}: directory already exists"),
            ));
        }
        if file?.is_some() {
            return Err(refuse(
                Code::FileUnavailable,
                format!("{path}: a file with that name exists"),
            ));
        }
        storage.put_bytes(&prefix, bytes::Bytes::new()).await?;
        Ok(Reply::new(
            Code::PathCreated,
            format!("{} created", quote_path(path.as_str())),
        ))
    }

    pub(in crate::ftp) async fn cmd_rmd(&mut self, arg: &str) -> Outcome {
        let account = self.writable_account()?;
        let path = self.cwd.resolve(arg)?;
        if path.is_root() {
            return Err(refuse(
                Code::FileUnavailable,
                "Cannot remove the home directory",
            ));
        }
        let prefix = account.root.dir_prefix(&path)?;
        let storage = self.storage()?;
        match storage.dir_state(&prefix).await? {
            DirState::Empty => {}
            DirState::Absent => {
                return Err(refuse(
                    Code::FileUnavailable,
                    format!("{path}: no such directory"),
                ));
            }
            DirState::NotEmpty => {
                return Err(refuse(
                    Code::FileUnavailable,
                    format!("{path}: directory not empty"),
                ));
            }
        }
        storage.remove_dir(&prefix).await?;
        self.keep_dir(&account, &path.parent()).await?;
        Ok(Reply::new(
            Code::FileActionOk,
            format!("{path}: directory removed"),
        ))
    }

    pub(in crate::ftp) async fn cmd_dele(&mut self, arg: &str) -> Outcome {
        let account = self.writable_account()?;
        let path = self.cwd.resolve(arg)?;
        let (key, _) = self.file_info(&account, &path).await?;
        self.storage()?.delete(&key).await?;
        self.keep_dir(&account, &path.parent()).await?;
        Ok(Reply::new(Code::FileActionOk, format!("{path}: deleted")))
    }

    pub(in crate::ftp) async fn cmd_rnfr(&mut self, arg: &str) -> Outcome {
        let account = self.writable_account()?;
        let path = self.cwd.resolve(arg)?;
        if path.is_root() {
            return Err(refuse(
                Code::FileUnavailable,
                "Cannot rename the home directory",
            ));
        }
        let storage = self.storage()?;
        if storage
            .head(&account.root.file_key(&path)?)
            .await?
            .is_none()
            && !storage.dir_exists(&account.root.dir_prefix(&path)?).await?
        {
            return Err(refuse(
                Code::FileUnavailable,
                format!("{path}: no such file or directory"),
            ));
        }
        self.rename_from = Some(path);
        Ok(Reply::new(Code::Pending, "Ready for RNTO"))
    }

    pub(in crate::ftp) async fn cmd_rnto(&mut self, arg: &str) -> Outcome {
        let account = self.writable_account()?;
        let Some(from) = self.rename_from.take() else {
            return Err(refuse(Code::BadSequence, "RNFR first"));
        };
        let to = self.cwd.resolve(arg)?;
        let storage = self.storage()?.clone();
        let (src, dst) = (account.root.file_key(&from)?, account.root.file_key(&to)?);
        let dst_dir = account.root.dir_prefix(&to)?;
        if let Some(info) = storage.head(&src).await? {
            if src == dst {
                return Ok(Reply::new(
                    Code::FileActionOk,
                    "Rename successful (same name)",
                ));
            }
            if storage.dir_exists(&dst_dir).await? {
                return Err(refuse(
                    Code::NameNotAllowed,
                    format!("{to}: a directory with that name exists"),
                ));
            }
            storage
                .rename_object(&src, &dst, info.size, Some(&info.etag))
                .await?;
            self.keep_dir(&account, &from.parent()).await?;
            return Ok(Reply::new(
                Code::FileActionOk,
                format!("Renamed {from} to {to}"),
            ));
        }
        let src_dir = account.root.dir_prefix(&from)?;
        if !storage.dir_exists(&src_dir).await? {
            return Err(refuse(
                Code::FileUnavailable,
                format!("{from}: no longer exists"),
            ));
        }
        if src_dir == dst_dir {
            return Ok(Reply::new(
                Code::FileActionOk,
                "Rename successful (same name)",
            ));
        }
        if to.is_root() || dst_dir.starts_with(&src_dir) {
            return Err(refuse(
                Code::NameNotAllowed,
                format!("Cannot move {from} into itself ({to})"),
            ));
        }
        if storage.dir_exists(&dst_dir).await? || storage.head(&dst).await?.is_some() {
            return Err(refuse(
                Code::FileUnavailable,
                format!("{to}: already exists"),
            ));
        }
        let started = std::time::Instant::now();
        let cancel = self.shared.abort.child_token();
        let moved = storage.rename_dir(&src_dir, &dst_dir, &cancel).await?;
        tracing::info!(from = %from, to = %to, keys = moved, elapsed_ms = started.elapsed().as_millis(), "directory renamed");
        self.keep_dir(&account, &from.parent()).await?;
        Ok(Reply::new(
            Code::FileActionOk,
            format!("Renamed directory {from} to {to} ({moved} objects)"),
        ))
    }

    pub(in crate::ftp) async fn cmd_size(&mut self, arg: &str) -> Outcome {
        let account = self.account()?;
        let path = self.cwd.resolve(arg)?;
        let (_, info) = self.file_info(&account, &path).await?;
        Ok(Reply::new(Code::FileStatus, info.size.to_string()))
    }

    pub(in crate::ftp) async fn cmd_mdtm(&mut self, arg: &str) -> Outcome {
        let account = self.account()?;
        let path = self.cwd.resolve(arg)?;
        let (_, info) = self.file_info(&account, &path).await?;
        Ok(Reply::new(Code::FileStatus, mdtm_time(info.modified)))
    }

    pub(in crate::ftp) async fn cmd_mfmt(&mut self, secs: i64, arg: &str) -> Outcome {
        let account = self.writable_account()?;
        let path = self.cwd.resolve(arg)?;
        let (key, _) = self.file_info(&account, &path).await?;
        let t = OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|e| refuse(Code::BadArguments, e.to_string()))?;
        self.storage()?.set_mtime(&key, t).await?;
        Ok(Reply::new(
            Code::FileStatus,
            format!("Modify={}; {path}", mdtm_time(t)),
        ))
    }
}
