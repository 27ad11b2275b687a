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
mod rights;

use std::fmt;

pub use crate::config::{Perm, Perms, Quota};
pub use build::{BuildError, tree};
pub use path::{MAX_KEY_LEN, PathError, Root, VPath};
pub use rights::Rights;

use crate::storage::{RESERVED_DIR, Storage};

/// What an operation does, for the rights of the place it does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The gateway's own look at a place (does a folder exist, CWD into
    /// it, keep a folder's marker): no permission needed.
    Lookup,
    /// LIST, NLST, MLSD, STAT.
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
        !matches!(self, Self::Lookup | Self::List | Self::Read)
    }

    /// The permission it needs, and whether in the folder itself (a
    /// listing) rather than in the folder that holds the entry.
    fn needs(self) -> Option<(Perm, bool)> {
        Some(match self {
            Self::Lookup => return None,
            Self::List => (Perm::List, true),
            Self::Read => (Perm::Download, false),
            Self::Write => (Perm::Upload, false),
            Self::DeleteFile => (Perm::DeleteFiles, false),
            Self::DeleteDir => (Perm::DeleteDirs, false),
            Self::RenameFile => (Perm::RenameFiles, false),
            Self::RenameDir => (Perm::RenameDirs, false),
            Self::CreateDir => (Perm::CreateDirs, false),
            Self::Chtimes => (Perm::Chtimes, false),
        })
    }
}

/// Why a path cannot be used for an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsError {
    /// The path itself (control characters, too long, the gateway's folder).
    Path(PathError),
    /// The account or the mount may not write there.
    ReadOnly(VPath),
    /// The permission table refuses the operation there.
    Denied {
        /// The path.
        path: VPath,
        /// What it lacks.
        perm: Perm,
    },
    /// A folder of the configuration (a mount point, a folder of the
    /// permission table, or one holding such a folder): it cannot be
    /// removed, renamed or replaced by a file.
    MountPoint(VPath),
}

impl fmt::Display for NsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(e) => e.fmt(f),
            Self::ReadOnly(p) => write!(f, "{p}: permission denied (read-only)"),
            Self::Denied { path, perm } => {
                write!(f, "{path}: permission denied (needs `{}`)", perm.name())
            }
            Self::MountPoint(p) => write!(
                f,
                "{p}: a folder of the account's configuration (a mount point, a folder named in its permissions, or one holding such a folder): it cannot be removed, renamed or written over"
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
    /// Bytes and files allowed under it.
    quota: Option<Quota>,
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
    /// For an upload: whether it may replace an existing file (`overwrite`).
    pub overwrite: bool,
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
            quota: None,
        })
    }

    /// The same mount with a quota on it.
    #[must_use]
    pub fn with_quota(self, quota: Option<Quota>) -> Self {
        Self { quota, ..self }
    }

    /// Its quota, if any.
    #[must_use]
    pub fn quota(&self) -> Option<Quota> {
        self.quota
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

/// One user's tree: the home and its mounts, and what it may do where.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// The mounts, deepest first, then the home (at `/`).
    mounts: Vec<Mount>,
    rights: Rights,
}

impl Namespace {
    /// A tree of `home` (at `/`) and `mounts` elsewhere, with `rights`.
    #[must_use]
    pub fn new(home: Mount, mut mounts: Vec<Mount>, rights: Rights) -> Self {
        mounts.sort_by_key(|m| std::cmp::Reverse(m.at.as_str().matches('/').count()));
        let mut all = Vec::with_capacity(mounts.len() + 1);
        all.extend(mounts);
        all.push(home);
        Self {
            mounts: all,
            rights,
        }
    }

    /// The mount that serves `p`, when it has a quota.
    #[must_use]
    pub fn quota_at(&self, p: &VPath) -> Option<&Mount> {
        Some(self.mount_of(p)).filter(|m| m.quota.is_some())
    }

    /// Every mount with a quota (the home first), for `SITE QUOTA`.
    pub fn quotas(&self) -> impl Iterator<Item = &Mount> {
        self.mounts.iter().rev().filter(|m| m.quota.is_some())
    }

    /// What may be done with the entry `name` listed in `dir` (a listing's
    /// mode bits and `perm` facts): the table's permissions there, none
    /// that write in a read-only mount.
    #[must_use]
    pub fn perms_of(&self, dir: &VPath, name: &str, is_dir: bool) -> Perms {
        let perms = self.rights.of_entry(dir, name, is_dir);
        let place = dir.resolve(name).unwrap_or_else(|_| dir.clone());
        let m = self.mount_of(if is_dir { &place } else { dir });
        perms.capped(m.read_only)
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

    /// The folders the account's configuration defines: its mount points
    /// and the folders its permission table names (a drop folder `/in`
    /// exists before anything is dropped into it).
    fn declared(&self) -> impl Iterator<Item = &VPath> {
        self.mounts
            .iter()
            .map(|m| &m.at)
            .chain(self.rights.folders())
            .filter(|at| !at.is_root())
    }

    /// Whether `p` is a folder whatever S3 holds: a mount point (not the
    /// home), a folder of the permission table, or a folder leading to one.
    /// It cannot be removed, renamed or replaced by a file.
    #[must_use]
    pub fn holds_mount(&self, p: &VPath) -> bool {
        self.declared().any(|at| at.starts_with(p))
    }

    /// The names in folder `dir` that are such folders (see
    /// [`Namespace::holds_mount`]): folders of the listing whatever S3 holds.
    #[must_use]
    pub fn folders_in(&self, dir: &VPath) -> Vec<String> {
        let mut names: Vec<String> = self
            .declared()
            .filter(|at| at.starts_with(dir) && *at != dir)
            .filter_map(|at| {
                let rest = at.as_str()[dir.as_str().len()..].trim_start_matches('/');
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
        if let Some((perm, itself)) = op.needs() {
            let folder = if itself { p.clone() } else { p.parent() };
            if !self.rights.at(&folder).has(perm) {
                return Err(NsError::Denied {
                    path: p.clone(),
                    perm,
                });
            }
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
            overwrite: op == Op::Write && self.rights.at(&p.parent()).has(Perm::Overwrite),
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
            overwrite: false,
        })
    }
}

#[cfg(test)]
mod tests;
