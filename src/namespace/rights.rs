//! What an account may do where: permissions per folder of its tree, with
//! SFTPGo's names so that its users can move — `*`, `list`, `download`,
//! `upload`, `overwrite`, `delete` (`delete_files` + `delete_dirs`),
//! `rename` (`rename_files` + `rename_dirs`), `create_dirs`, `chtimes`.
//!
//! A table maps folders of the tree to permissions; for a path, the
//! nearest configured folder decides alone (its list is not merged with
//! its parents'); a tree with no entry at `/` has every permission there.
//! An operation on an entry is checked in the folder that holds it (a file
//! uploaded to `/in` needs `upload` at `/in`), a listing in the folder
//! listed. `read_only` caps whatever the table says to `list` +
//! `download`.

use super::VPath;
use crate::config::Perms;

/// An account's table: folders of its tree and their permissions.
#[derive(Debug, Clone, Default)]
pub struct Rights {
    /// Deepest folders first.
    table: Vec<(VPath, Perms)>,
    read_only: bool,
}

impl Rights {
    /// A table of `entries`, capped by `read_only`.
    #[must_use]
    pub fn new(mut entries: Vec<(VPath, Perms)>, read_only: bool) -> Self {
        entries.sort_by_key(|(p, _)| {
            std::cmp::Reverse(p.as_str().matches('/').count() + usize::from(!p.is_root()))
        });
        Self {
            table: entries,
            read_only,
        }
    }

    /// The permissions in folder `dir`: its nearest configured folder's
    /// (every permission when none is configured up to `/`).
    #[must_use]
    pub fn at(&self, dir: &VPath) -> Perms {
        self.table
            .iter()
            .find(|(p, _)| dir.starts_with(p))
            .map_or(Perms::ALL, |(_, perms)| *perms)
            .capped(self.read_only)
    }

    /// The folders the table names.
    pub fn folders(&self) -> impl Iterator<Item = &VPath> {
        self.table.iter().map(|(p, _)| p)
    }

    /// The permissions that apply to the entry `name` listed in `dir`: a
    /// folder's own (its nearest configured folder may be itself or below
    /// `dir`), a file's those of `dir`.
    #[must_use]
    pub fn of_entry(&self, dir: &VPath, name: &str, is_dir: bool) -> Perms {
        if is_dir {
            dir.resolve(name)
                .map_or_else(|_| self.at(dir), |p| self.at(&p))
        } else {
            self.at(dir)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Perm;

    fn p(s: &str) -> VPath {
        VPath::root().resolve(s).unwrap()
    }

    #[test]
    fn the_nearest_folder_decides_alone() {
        let upload_only = Perms::parse(["upload", "create_dirs"]).unwrap();
        let rights = Rights::new(
            vec![
                (p("/"), Perms::parse(["list", "download"]).unwrap()),
                (p("/in"), upload_only),
                (p("/in/checked"), Perms::parse(["*"]).unwrap()),
            ],
            false,
        );
        assert!(rights.at(&p("/")).has(Perm::Download));
        assert!(!rights.at(&p("/")).has(Perm::Upload));
        assert_eq!(rights.at(&p("/in")), upload_only);
        assert_eq!(
            rights.at(&p("/in/deeper/still")),
            upload_only,
            "no merge with /"
        );
        assert!(!rights.at(&p("/in")).has(Perm::List));
        assert_eq!(rights.at(&p("/in/checked/x")), Perms::ALL);
        assert_eq!(
            rights.at(&p("/inbox")),
            rights.at(&p("/")),
            "a sibling, not a child"
        );
        assert!(rights.of_entry(&p("/"), "in", true).has(Perm::Upload));
        assert!(!rights.of_entry(&p("/"), "file", false).has(Perm::Upload));
    }

    #[test]
    fn read_only_caps_and_names_parse() {
        let rights = Rights::new(vec![(p("/"), Perms::ALL)], true);
        assert_eq!(rights.at(&p("/x")), Perms::READ);
        assert_eq!(Rights::default().at(&p("/x")), Perms::ALL);
        let d = Perms::parse(["delete", "rename"]).unwrap();
        for perm in [
            Perm::DeleteFiles,
            Perm::DeleteDirs,
            Perm::RenameFiles,
            Perm::RenameDirs,
        ] {
            assert!(d.has(perm));
        }
        assert!(!d.has(Perm::Upload));
        assert!(Perms::parse(["downlaod"]).unwrap_err().contains("downlaod"));
    }
}
