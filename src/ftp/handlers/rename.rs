//! RNFR and RNTO. S3 has no rename: a file is a server-side copy and a
//! delete, a folder every key of it so (storage's `rename`). Both ends go
//! through the account's namespace: each must allow the rename, neither
//! may be a mount point or a folder leading to one, and the copy stays
//! server-side — within a bucket, or between two buckets one client
//! reaches (same endpoint and credentials). Between endpoints or
//! credentials the bytes would have to pass through the gateway: 553,
//! saying so.

use super::tell;
use crate::ftp::context::{Outcome, UserCtx};
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::reply::{Code, Reply};
use crate::namespace::{Location, Op, VPath};
use crate::storage::{ObjectInfo, StorageError};

/// Keeps `dir` visible after its last entry went away, by writing its
/// marker (nothing to do for the home, a mount point or a folder leading
/// to one: those are folders whatever S3 holds).
pub(super) async fn keep_dir(u: &UserCtx<'_>, dir: &VPath) -> Result<(), FtpError> {
    if dir.is_root() || u.ns.holds_mount(dir) {
        return Ok(());
    }
    let place = u.ns.dir(dir, Op::Lookup)?;
    if !place.storage.dir_exists(&place.key).await? {
        place
            .storage
            .put_bytes(&place.key, bytes::Bytes::new())
            .await?;
    }
    Ok(())
}

/// RNFR: remembers what RNTO renames (a file or a folder, never the home
/// or a mount point).
pub(in crate::ftp) async fn rnfr(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(arg)?;
    if path.is_root() {
        return Err(refuse(
            Code::FileUnavailable,
            "Cannot rename the home directory",
        ));
    }
    // A file first (one request); a folder only when it is not one. Then
    // the permission of what it is: rename_files or rename_dirs.
    let file = u.ns.file(&path, Op::Lookup)?;
    if file.storage.head(&file.key).await?.is_some() {
        u.ns.file(&path, Op::RenameFile)?;
    } else {
        let dir = u.ns.dir(&path, Op::RenameDir)?;
        if !dir.storage.dir_exists(&dir.key).await? {
            return Err(refuse(
                Code::FileUnavailable,
                format!("{path}: no such file or directory"),
            ));
        }
    }
    u.st.rename_from = Some(path);
    Ok(Reply::new(Code::Pending, "Ready for RNTO"))
}

/// RNTO: the file or folder RNFR named, to `arg`.
pub(in crate::ftp) async fn rnto(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let Some(from) = u.st.rename_from.take() else {
        return Err(refuse(Code::BadSequence, "RNFR first"));
    };
    let to = u.st.cwd.resolve(arg)?;
    if to.is_root() {
        return Err(refuse(
            Code::FileUnavailable,
            "Cannot rename onto the home directory: it exists",
        ));
    }
    let src = u.ns.file(&from, Op::Lookup)?;
    if let Some(info) = src.storage.head(&src.key).await? {
        return file(u, &from, &to, &info).await;
    }
    dir(u, &from, &to).await
}

/// The event of a rename: one, whatever the keys it moves.
fn renamed(
    u: &UserCtx<'_>,
    (from, src): (&VPath, &Location<'_>),
    (to, dst): (&VPath, &Location<'_>),
) -> crate::events::Event {
    let mut ev = tell::event(u, "rename", to, dst.storage, &dst.key);
    ev.data.from_path = Some(from.to_string());
    ev.data.from_key = Some(src.key.clone());
    if src.storage.name() != dst.storage.name() {
        ev.data.from_profile = Some(src.storage.name().to_owned());
        ev.data.from_bucket = Some(src.storage.bucket().to_owned());
    }
    ev
}

/// Whether two places are the same keys of the same bucket.
fn same_place(a: &Location<'_>, b: &Location<'_>) -> bool {
    a.storage.same_client(b.storage) && a.storage.bucket() == b.storage.bucket() && a.key == b.key
}

/// 553 when no single client reaches both buckets.
fn one_client(src: &Location<'_>, dst: &Location<'_>, to: &VPath) -> Result<(), FtpError> {
    if src.storage.same_client(dst.storage) {
        return Ok(());
    }
    Err(refuse(
        Code::NameNotAllowed,
        format!(
            "{to}: on another storage endpoint or other credentials (profile {} to {}): a rename there would copy every byte through the gateway; download and upload instead. Nothing was changed",
            src.storage.name(),
            dst.storage.name()
        ),
    ))
}

async fn file(u: &UserCtx<'_>, from: &VPath, to: &VPath, info: &ObjectInfo) -> Outcome {
    let src = u.ns.file(from, Op::RenameFile)?;
    let dst = u.ns.file(to, Op::RenameFile)?;
    if same_place(&src, &dst) {
        return Ok(Reply::new(
            Code::FileActionOk,
            "Rename successful (same name)",
        ));
    }
    one_client(&src, &dst, to)?;
    if info.archived() {
        return Err(StorageError::Archived.into());
    }
    let folder = u.ns.dir(to, Op::Lookup)?;
    if folder.storage.dir_exists(&folder.key).await? {
        return Err(refuse(
            Code::NameNotAllowed,
            format!("{to}: a directory with that name exists"),
        ));
    }
    let ev = renamed(u, (from, &src), (to, &dst));
    let intent = tell::intent(u, &ev).await?;
    let moved = dst
        .storage
        .rename_object(src.storage, &src.key, &dst.key, info.size, Some(&info.etag))
        .await;
    let mut ev = ev;
    ev.data.size = Some(info.size);
    tell::settle(u, &ev, intent, &moved);
    moved?;
    keep_dir(u, &from.parent()).await?;
    Ok(Reply::new(
        Code::FileActionOk,
        format!("Renamed {from} to {to}"),
    ))
}

async fn dir(u: &UserCtx<'_>, from: &VPath, to: &VPath) -> Outcome {
    let src = u.ns.dir(from, Op::RenameDir)?;
    if !src.storage.dir_exists(&src.key).await? {
        return Err(refuse(
            Code::FileUnavailable,
            format!("{from}: no longer exists"),
        ));
    }
    let dst = u.ns.dir(to, Op::RenameDir)?;
    if same_place(&src, &dst) {
        return Ok(Reply::new(
            Code::FileActionOk,
            "Rename successful (same name)",
        ));
    }
    let inside = src.storage.same_client(dst.storage)
        && src.storage.bucket() == dst.storage.bucket()
        && dst.key.starts_with(&src.key);
    if to.is_root() || to.starts_with(from) || inside {
        return Err(refuse(
            Code::NameNotAllowed,
            format!("Cannot move {from} into itself ({to})"),
        ));
    }
    one_client(&src, &dst, to)?;
    let file = u.ns.file(to, Op::Lookup)?;
    if dst.storage.dir_exists(&dst.key).await? || file.storage.head(&file.key).await?.is_some() {
        return Err(refuse(
            Code::FileUnavailable,
            format!("{to}: already exists"),
        ));
    }
    let started = std::time::Instant::now();
    let cancel = u.gw.abort.child_token();
    let mut ev = renamed(u, (from, &src), (to, &dst));
    let intent = tell::intent(u, &ev).await?;
    let moved = dst
        .storage
        .rename_dir(src.storage, &src.key, &dst.key, &cancel)
        .await;
    if let Ok(n) = &moved {
        ev.data.keys_moved = Some(*n as u64);
        ev.data.duration_ms = Some(started.elapsed().as_millis() as u64);
    }
    tell::settle(u, &ev, intent, &moved);
    let moved = moved?;
    tracing::info!(from = %from, to = %to, keys = moved, elapsed_ms = started.elapsed().as_millis(), "directory renamed");
    keep_dir(u, &from.parent()).await?;
    Ok(Reply::new(
        Code::FileActionOk,
        format!("Renamed directory {from} to {to} ({moved} objects)"),
    ))
}
