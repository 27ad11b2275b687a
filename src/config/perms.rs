//! Permission names, as SFTPGo spells them (so that its users can move):
//! `*`, `list`, `download`, `upload`, `overwrite`, `delete`
//! (`delete_files` + `delete_dirs`), `rename` (`rename_files` +
//! `rename_dirs`), `create_dirs`, `chtimes`. Where they apply is the
//! namespace's business (`namespace::Rights`).

/// One permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// LIST, NLST, MLSD, STAT, CWD into it.
    List,
    /// RETR, HASH.
    Download,
    /// STOR of a new name, STOU.
    Upload,
    /// STOR over an existing file, APPE, a resume.
    Overwrite,
    /// DELE.
    DeleteFiles,
    /// RMD.
    DeleteDirs,
    /// RNFR/RNTO of a file (both ends).
    RenameFiles,
    /// RNFR/RNTO of a folder (both ends).
    RenameDirs,
    /// MKD.
    CreateDirs,
    /// MFMT, SITE UTIME (and SITE CHMOD, a no-op on S3).
    Chtimes,
}

impl Perm {
    const ALL: [Self; 10] = [
        Self::List,
        Self::Download,
        Self::Upload,
        Self::Overwrite,
        Self::DeleteFiles,
        Self::DeleteDirs,
        Self::RenameFiles,
        Self::RenameDirs,
        Self::CreateDirs,
        Self::Chtimes,
    ];

    /// Its name in a config and in a refusal.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Download => "download",
            Self::Upload => "upload",
            Self::Overwrite => "overwrite",
            Self::DeleteFiles => "delete_files",
            Self::DeleteDirs => "delete_dirs",
            Self::RenameFiles => "rename_files",
            Self::RenameDirs => "rename_dirs",
            Self::CreateDirs => "create_dirs",
            Self::Chtimes => "chtimes",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perms(u16);

impl Perms {
    /// Every permission (`*`).
    pub const ALL: Self = Self((1 << 10) - 1);
    /// What `read_only` leaves: `list` and `download`.
    pub const READ: Self = Self(1 | 2);

    /// Whether `p` is in the set.
    #[must_use]
    pub fn has(self, p: Perm) -> bool {
        self.0 & p.bit() != 0
    }

    /// The set with `read_only` applied.
    #[must_use]
    pub fn capped(self, read_only: bool) -> Self {
        if read_only {
            Self(self.0 & Self::READ.0)
        } else {
            self
        }
    }

    /// Parses a list of names (`*`, `delete`, `rename` and the single ones).
    ///
    /// # Errors
    /// The first name that is none of them.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut bits = 0;
        for n in names {
            bits |= match n.trim() {
                "*" => Self::ALL.0,
                "delete" => Perm::DeleteFiles.bit() | Perm::DeleteDirs.bit(),
                "rename" => Perm::RenameFiles.bit() | Perm::RenameDirs.bit(),
                one => Perm::ALL
                    .iter()
                    .find(|p| p.name() == one)
                    .map(|p| p.bit())
                    .ok_or_else(|| format!("{one:?} is not a permission (use *, list, download, upload, overwrite, delete, delete_files, delete_dirs, rename, rename_files, rename_dirs, create_dirs, chtimes)"))?,
            };
        }
        Ok(Self(bits))
    }
}
