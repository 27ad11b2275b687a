//! File and directory operations: MKD, RMD, DELE, RNFR/RNTO, SIZE, MDTM, MFMT.

use time::OffsetDateTime;

use super::info::quote_path;
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::listing::mdtm_time;
use crate::ftp::path::VPath;
use crate::ftp::reply::{Code, Reply};
use crate::ftp::session::{Outcome, UserCtx};
use crate::storage::{DirState, ObjectInfo};

/// The object at `path`, or 550 (saying so when it is a directory).
pub(super) async fn file_info(
    u: &UserCtx<'_>,
    path: &VPath,
) -> Result<(String, ObjectInfo), FtpError> {
    let key = u.account.root.file_key(path)?;
    match u.storage.head(&key).await? {
        Some(info) => Ok((key, info)),
        None if u
            .storage
            .dir_exists(&u.account.root.dir_prefix(path)?)
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
async fn keep_dir(u: &UserCtx<'_>, dir: &VPath) -> Result<(), FtpError> {
    if dir.is_root() {
        return Ok(());
    }
    let prefix = u.account.root.dir_prefix(dir)?;
    if !u.storage.dir_exists(&prefix).await? {
        u.storage.put_bytes(&prefix, bytes::Bytes::new()).await?;
    }
    Ok(())
}

/// MKD: a folder is its marker object `dir/`.
pub(in crate::ftp) async fn mkd(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let account = u.writable()?;
    let path = u.st.cwd.resolve(arg)?;
    let prefix = account.root.dir_prefix(&path)?;
    let storage = u.storage;
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

/// RMD: only an empty folder.
pub(in crate::ftp) async fn rmd(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let account = u.writable()?;
    let path = u.st.cwd.resolve(arg)?;
    if path.is_root() {
        return Err(refuse(
            Code::FileUnavailable,
            "Cannot remove the home directory",
        ));
    }
    let prefix = account.root.dir_prefix(&path)?;
    let storage = u.storage;
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
    keep_dir(u, &path.parent()).await?;
    Ok(Reply::new(
        Code::FileActionOk,
        format!("{path}: directory removed"),
    ))
}

/// DELE: a file.
pub(in crate::ftp) async fn dele(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    u.writable()?;
    let path = u.st.cwd.resolve(arg)?;
    let (key, _) = file_info(u, &path).await?;
    u.storage.delete(&key).await?;
    keep_dir(u, &path.parent()).await?;
    Ok(Reply::new(Code::FileActionOk, format!("{path}: deleted")))
}

/// RNFR: remembers what RNTO renames.
pub(in crate::ftp) async fn rnfr(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let account = u.writable()?;
    let path = u.st.cwd.resolve(arg)?;
    if path.is_root() {
        return Err(refuse(
            Code::FileUnavailable,
            "Cannot rename the home directory",
        ));
    }
    let storage = u.storage;
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
    u.st.rename_from = Some(path);
    Ok(Reply::new(Code::Pending, "Ready for RNTO"))
}

/// RNTO: a file (one copy) or a whole folder.
pub(in crate::ftp) async fn rnto(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let account = u.writable()?;
    let Some(from) = u.st.rename_from.take() else {
        return Err(refuse(Code::BadSequence, "RNFR first"));
    };
    let to = u.st.cwd.resolve(arg)?;
    let storage = u.storage;
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
        keep_dir(u, &from.parent()).await?;
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
    let cancel = u.gw.abort.child_token();
    let moved = storage.rename_dir(&src_dir, &dst_dir, &cancel).await?;
    tracing::info!(from = %from, to = %to, keys = moved, elapsed_ms = started.elapsed().as_millis(), "directory renamed");
    keep_dir(u, &from.parent()).await?;
    Ok(Reply::new(
        Code::FileActionOk,
        format!("Renamed directory {from} to {to} ({moved} objects)"),
    ))
}

/// SIZE: a file's size in bytes.
pub(in crate::ftp) async fn size(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(arg)?;
    let (_, info) = file_info(u, &path).await?;
    Ok(Reply::new(Code::FileStatus, info.size.to_string()))
}

/// MDTM: a file's modification time.
pub(in crate::ftp) async fn mdtm(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(arg)?;
    let (_, info) = file_info(u, &path).await?;
    Ok(Reply::new(Code::FileStatus, mdtm_time(info.modified)))
}

/// MFMT: sets a file's modification time.
pub(in crate::ftp) async fn mfmt(u: &mut UserCtx<'_>, secs: i64, arg: &str) -> Outcome {
    u.writable()?;
    let path = u.st.cwd.resolve(arg)?;
    let (key, _) = file_info(u, &path).await?;
    let t = OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| refuse(Code::BadArguments, e.to_string()))?;
    u.storage.set_mtime(&key, t).await?;
    Ok(Reply::new(
        Code::FileStatus,
        format!("Modify={}; {path}", mdtm_time(t)),
    ))
}
