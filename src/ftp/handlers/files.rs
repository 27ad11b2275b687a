//! File and directory operations: MKD, RMD, DELE, SIZE, MDTM, MFMT
//! (renames are in `rename.rs`).
//! Every path goes through the account's namespace, which says where it is
//! in storage and whether the operation is allowed there.

use time::OffsetDateTime;

use super::rename::keep_dir;
use super::tell;
use crate::ftp::context::{Outcome, UserCtx};
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::listing::mdtm_time;
use crate::ftp::reply::{Code, Reply, quote_path};
use crate::namespace::{Op, VPath};
use crate::storage::{DirState, ObjectInfo, Storage};

/// The object at `path` (its storage and key), or 550 (saying so when it
/// is a directory).
pub(super) async fn file_info<'a>(
    u: &'a UserCtx<'_>,
    path: &VPath,
    op: Op,
) -> Result<(&'a Storage, String, ObjectInfo), FtpError> {
    let file = u.ns.file(path, op)?;
    match file.storage.head(&file.key).await? {
        Some(info) => Ok((file.storage, file.key, info)),
        None if file
            .storage
            .dir_exists(&u.ns.dir(path, Op::Lookup)?.key)
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

/// MKD: a folder is its marker object `dir/`.
pub(in crate::ftp) async fn mkd(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(arg)?;
    let exists = || {
        refuse(
            Code::FileUnavailable,
            format!("{path}: directory already exists"),
        )
    };
    if path.is_root() || u.ns.holds_mount(&path) {
        return Err(exists());
    }
    let dir = u.ns.dir(&path, Op::CreateDir)?;
    let file = u.ns.file(&path, Op::Lookup)?;
    // Both questions at once: one round trip.
    let (is_dir, is_file) = tokio::join!(
        dir.storage.dir_exists(&dir.key),
        dir.storage.head(&file.key)
    );
    if is_dir? {
        return Err(exists());
    }
    if is_file?.is_some() {
        return Err(refuse(
            Code::FileUnavailable,
            format!("{path}: a file with that name exists"),
        ));
    }
    let ev = tell::event(u, "mkdir", &path, dir.storage, &dir.key);
    let intent = tell::intent(u, &ev).await?;
    let made = dir.storage.put_bytes(&dir.key, bytes::Bytes::new()).await;
    tell::settle(u, &ev, intent, &made);
    made?;
    Ok(Reply::new(
        Code::PathCreated,
        format!("{} created", quote_path(path.as_str())),
    ))
}

/// RMD: only an empty folder (never the home, a mount point, or a folder
/// leading to one).
pub(in crate::ftp) async fn rmd(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(arg)?;
    if path.is_root() {
        return Err(refuse(
            Code::FileUnavailable,
            "Cannot remove the home directory",
        ));
    }
    let dir = u.ns.dir(&path, Op::DeleteDir)?;
    match dir.storage.dir_state(&dir.key).await? {
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
    let ev = tell::event(u, "rmdir", &path, dir.storage, &dir.key);
    let intent = tell::intent(u, &ev).await?;
    let removed = dir.storage.remove_dir(&dir.key).await;
    tell::settle(u, &ev, intent, &removed);
    removed?;
    keep_dir(u, &path.parent()).await?;
    Ok(Reply::new(
        Code::FileActionOk,
        format!("{path}: directory removed"),
    ))
}

/// DELE: a file.
pub(in crate::ftp) async fn dele(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(arg)?;
    let (storage, key, info) = file_info(u, &path, Op::DeleteFile).await?;
    let mut ev = tell::event(u, "delete", &path, storage, &key);
    ev.data.size = Some(info.size);
    ev.set_etag(Some(&info.etag));
    ev.data.version_id.clone_from(&info.version_id);
    let intent = tell::intent(u, &ev).await?;
    let deleted = storage.delete(&key).await;
    tell::settle(u, &ev, intent, &deleted);
    deleted?;
    super::quota::deleted(u, &path, info.size).await;
    keep_dir(u, &path.parent()).await?;
    Ok(Reply::new(Code::FileActionOk, format!("{path}: deleted")))
}

/// SIZE: a file's size in bytes.
pub(in crate::ftp) async fn size(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(arg)?;
    let (_, _, info) = file_info(u, &path, Op::List).await?;
    Ok(Reply::new(Code::FileStatus, info.size.to_string()))
}

/// MDTM: a file's modification time.
pub(in crate::ftp) async fn mdtm(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(arg)?;
    let (_, _, info) = file_info(u, &path, Op::List).await?;
    Ok(Reply::new(Code::FileStatus, mdtm_time(info.modified)))
}

/// MFMT: sets a file's modification time.
pub(in crate::ftp) async fn mfmt(u: &mut UserCtx<'_>, secs: i64, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(arg)?;
    let (storage, key, info) = file_info(u, &path, Op::Chtimes).await?;
    if info.archived() {
        return Err(crate::storage::StorageError::Archived.into());
    }
    let t = OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| refuse(Code::BadArguments, e.to_string()))?;
    storage.set_mtime(&key, t).await?;
    Ok(Reply::new(
        Code::FileStatus,
        format!("Modify={}; {path}", mdtm_time(t)),
    ))
}
