//! The namespace: one user's FTP tree as locations in storage.
//!
//! A tree is the user's home (a folder of a storage profile, at `/`) and
//! its mounts (folders of profiles shown at other paths, `/archive`).
//! [`Namespace::file`] and [`Namespace::dir`] are the one place where a
//! path becomes a location — the storage that serves it (profile, bucket)
//! and the key — and where the operation is allowed there or refused: FTP
//! handlers never build a key or check a right themselves.
//!
//! Paths are normalised with a chroot at `/` ([`path`]); the nearest mount
//! decides (a mount inside a mount wins). Mount points are folders, and so
//! are the folders that lead to them (`/a` of a mount at `/a/b`), even when
//! S3 holds nothing there: listings show them, they cannot be removed or
//! renamed, and nothing is written in their place.

mod build;
pub mod path;

use std::fmt;

pub use build::{BuildError, tree};
pub use path::{MAX_KEY_LEN, PathError, Root, VPath};

use crate::storage::{RESERVED_DIR, Storage};

/// What an operation does, for the rights of the place it does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// LIST, NLST, MLSD, STAT, CWD.
    List,
    /// RETR, SIZE, MDTM, HASH.
    Read,
    /// STOR, APPE, STOU: a new file, or over one.
    Write,
    /// DELE.
    DeleteFile,
    /// RMD.
    DeleteDir,
    /// RNFR/RNTO of a file, either end.
    RenameFile,
    /// RNFR/RNTO of a folder, either end.
    RenameDir,
    /// MKD.
    CreateDir,
    /// MFMT, SITE UTIME.
    Chtimes,
}

impl Op {
    /// Whether the operation changes the tree.
    #[must_use]
    pub fn writes(self) -> bool {
        !matches!(self, Self::List | Self::Read)
    }
}

/// Why a path cannot be used for an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsError {
    /// The path itself (control characters, too long, the gateway's folder).
    Path(PathError),
    /// The account or the mount may not write there.
    ReadOnly(VPath),
    /// A mount point, or a folder holding one: it cannot be removed,
    /// renamed or replaced by a file.
    MountPoint(VPath),
}

impl fmt::Display for NsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(e) => e.fmt(f),
            Self::ReadOnly(p) => write!(f, "{p}: permission denied (read-only)"),
            Self::MountPoint(p) => write!(
                f,
                "{p}: a mount point (or a folder holding one): it cannot be removed, renamed or written over"
            ),
        }
    }
}

impl std::error::Error for NsError {}

impl From<PathError> for NsError {
    fn from(e: PathError) -> Self {
        Self::Path(e)
    }
}

/// A folder of a storage profile inside a user's tree.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Where it is in the tree (`/` for the home).
    at: VPath,
    /// Its keys: the profile's prefix and the folder inside it.
    root: Root,
    /// The profile serving it.
    storage: Storage,
    /// Writes refused under it (the mount's or the account's).
    read_only: bool,
}

/// A place of the tree, resolved: the storage that serves it and its key.
#[derive(Debug)]
pub struct Location<'a> {
    /// The storage (profile, bucket) that serves the place.
    pub storage: &'a Storage,
    /// The object key (a file) or the key prefix (a folder: `""` or ends with `/`).
    pub key: String,
    /// The mount the place is in.
    pub mount: &'a Mount,
}

impl Mount {
    /// A mount of `storage` at `at`, its keys under `prefix` + `folder`.
    ///
    /// # Errors
    /// A bad prefix or folder, or one inside the gateway's own folder.
    pub fn new(
        at: VPath,
        storage: Storage,
        prefix: &str,
        folder: &str,
        read_only: bool,
    ) -> Result<Self, NsError> {
        let root = Root::new(prefix, folder)?;
        let own = format!("{}{RESERVED_DIR}/", storage.root());
        if root.base().starts_with(&own) {
            return Err(NsError::Path(PathError::Reserved));
        }
        // The gateway writes nothing of its own where the mount may only read.
        let storage = if read_only {
            storage.reading_only()
        } else {
            storage
        };
        Ok(Self {
            at,
            root,
            storage,
            read_only,
        })
    }

    /// Where the mount is in the tree.
    #[must_use]
    pub fn at(&self) -> &VPath {
        &self.at
    }

    /// The storage serving it.
    #[must_use]
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The key prefix of its root folder (`""` or ends with `/`).
    #[must_use]
    pub fn base(&self) -> &str {
        self.root.base()
    }

    /// Whether writes are refused under it.
    #[must_use]
    pub fn read_only(&self) -> bool {
        self.read_only
    }
}

/// One user's tree: the home and its mounts.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// The home (at `/`) first, then the mounts, deepest first.
    mounts: Vec<Mount>,
}

impl Namespace {
    /// A tree of `home` (at `/`) and `mounts` elsewhere.
    #[must_use]
    pub fn new(home: Mount, mut mounts: Vec<Mount>) -> Self {
        mounts.sort_by_key(|m| std::cmp::Reverse(m.at.as_str().matches('/').count()));
        let mut all = Vec::with_capacity(mounts.len() + 1);
        all.extend(mounts);
        all.push(home);
        Self { mounts: all }
    }

    /// The home's mount.
    #[must_use]
    pub fn home(&self) -> &Mount {
        self.mounts.last().expect("a tree has its home")
    }

    /// The mount that serves `p`: the deepest whose path holds it.
    fn mount_of(&self, p: &VPath) -> &Mount {
        self.mounts
            .iter()
            .find(|m| p.starts_with(&m.at))
            .unwrap_or_else(|| self.home())
    }

    /// Whether `p` is a mount point (not the home), or a folder leading to one.
    #[must_use]
    pub fn holds_mount(&self, p: &VPath) -> bool {
        self.mounts
            .iter()
            .any(|m| !m.at.is_root() && m.at.starts_with(p) && !p.starts_with(&m.at))
            || self.is_mount_point(p)
    }

    /// Whether `p` is a mount point (not the home).
    #[must_use]
    pub fn is_mount_point(&self, p: &VPath) -> bool {
        !p.is_root() && self.mounts.iter().any(|m| m.at == *p)
    }

    /// The names in folder `dir` that are mount points or lead to one:
    /// folders of the listing whatever S3 holds.
    #[must_use]
    pub fn folders_in(&self, dir: &VPath) -> Vec<String> {
        let mut names: Vec<String> = self
            .mounts
            .iter()
            .filter(|m| !m.at.is_root() && m.at.starts_with(dir) && m.at != *dir)
            .filter_map(|m| {
                let rest = m.at.as_str()[dir.as_str().len()..].trim_start_matches('/');
                rest.split('/').next().map(str::to_owned)
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn allowed(&self, m: &Mount, p: &VPath, op: Op) -> Result<(), NsError> {
        if op.writes() && m.read_only {
            return Err(NsError::ReadOnly(p.clone()));
        }
        Ok(())
    }

    /// The object key of the file `p`, for `op`.
    ///
    /// # Errors
    /// A mount point or a folder leading to one (never a file), a refused
    /// operation, or a path that cannot be a key.
    pub fn file(&self, p: &VPath, op: Op) -> Result<Location<'_>, NsError> {
        if self.holds_mount(p) {
            return Err(NsError::MountPoint(p.clone()));
        }
        let m = self.mount_of(p);
        self.allowed(m, p, op)?;
        let key = m.root.file_key(&p.relative_to(&m.at))?;
        Ok(Location {
            storage: &m.storage,
            key,
            mount: m,
        })
    }

    /// The key prefix of the folder `p` (also its marker's key), for `op`.
    /// Removing or renaming a mount point, or a folder leading to one, is
    /// refused.
    ///
    /// # Errors
    /// A refused operation, or a path that cannot be a key.
    pub fn dir(&self, p: &VPath, op: Op) -> Result<Location<'_>, NsError> {
        if matches!(op, Op::DeleteDir | Op::RenameDir) && self.holds_mount(p) {
            return Err(NsError::MountPoint(p.clone()));
        }
        let m = self.mount_of(p);
        self.allowed(m, p, op)?;
        let key = m.root.dir_prefix(&p.relative_to(&m.at))?;
        Ok(Location {
            storage: &m.storage,
            key,
            mount: m,
        })
    }
}

#[cfg(test)]
mod tests;
