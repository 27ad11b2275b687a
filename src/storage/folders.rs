//! What the process knows of a folder's names a moment ago, so that a
//! small upload need not wait for its folder check
//! ([`super::folder_check`]) before it writes: a free name on a store that
//! ignores conditional writes (Garage), a file's name on any store.
//!
//! A folder whose whole listing fits one ListObjectsV2 page (1,000 files
//! and subfolders) is *known* for [`FRESH`] after that listing: the names
//! it holds are exactly what S3 returned. The listing is a LIST, MLSD or
//! NLST a client made, or — only on a store that ignores conditional
//! writes, where every upload gains from it — the first upload's folder
//! check in a folder not known, which lists the folder instead of asking
//! for one name (the same one request; a folder larger than a page then
//! costs that upload one request more, and is remembered as large for
//! [`LARGE`]). The process's own writes and deletes keep the knowledge
//! current.
//!
//! The knowledge says "this name is free" or "this name is a file (and
//! not a folder)": such an upload is written *while* its folder check
//! runs — one round trip instead of two —, and the check still decides.
//! When it finds a folder of a name known free, the object just written
//! is deleted again and the STOR fails (553): a folder made by another S3
//! tool a moment ago is never written over or beside. A name known to be
//! a file may be replaced whatever else has it (see
//! [`super::folder_check`]), so there the write stands. **What it can get
//! wrong:** a *file* of a name known free that another tool wrote less
//! than [`FRESH`] ago, in a folder that also holds a folder of that name
//! (only S3 tools make such names): that file is deleted with the upload
//! taken back, where otherwise the upload would have replaced it; and a
//! file known a moment ago that another tool replaced by a folder within
//! [`FRESH`]: the upload then stands beside that folder, where otherwise
//! it would have been refused.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// How long a folder's listing answers for the names it holds.
pub const FRESH: Duration = Duration::from_secs(5);

/// How long a folder too large for one page is not listed again.
pub const LARGE: Duration = Duration::from_secs(600);

/// Folders known at most (the oldest are dropped past it).
const MAX_FOLDERS: usize = 4096;

#[derive(Debug)]
enum Known {
    /// Every name the folder held: files as they are, subfolders with a
    /// trailing `/` (a name may be both).
    Names(Instant, HashSet<String>),
    /// More than one page: not known.
    Large(Instant),
}

/// The known folders of one bucket, by prefix (`""` or ending with `/`).
#[derive(Debug, Default)]
pub(super) struct Folders {
    known: DashMap<String, Known>,
}

/// `key`'s folder (`a/b/` of `a/b/c`, `""` at the top) and its name there.
pub(super) fn split(key: &str) -> (&str, &str) {
    let trimmed = key.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(i) => (&key[..=i], &trimmed[i + 1..]),
        None => ("", trimmed),
    }
}

/// What is known of `key`'s folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// Nothing (or too old): list the folder as the check.
    Unknown,
    /// The folder is larger than a page: ask for the name alone.
    Large,
    /// The name is free: write beside the check.
    Free,
    /// A file has the name, no folder does: write beside the check.
    File,
    /// A folder has the name: wait for the check.
    Folder,
}

impl Folders {
    /// What is known of the name `key` in its folder.
    pub(super) fn answer(&self, key: &str) -> Answer {
        let (parent, name) = split(key);
        match self.known.get(parent).as_deref() {
            Some(Known::Names(at, names)) if at.elapsed() < FRESH => {
                if names.contains(&format!("{name}/")) {
                    Answer::Folder
                } else if names.contains(name) {
                    Answer::File
                } else {
                    Answer::Free
                }
            }
            Some(Known::Large(at)) if at.elapsed() < LARGE => Answer::Large,
            _ => Answer::Unknown,
        }
    }

    /// A complete listing of `parent`, started at `at`, held these names.
    pub(super) fn learn(&self, parent: &str, names: HashSet<String>, at: Instant) {
        self.make_room();
        self.known
            .insert(parent.to_owned(), Known::Names(at, names));
    }

    /// `parent` holds more than one page.
    pub(super) fn large(&self, parent: &str) {
        self.make_room();
        self.known
            .insert(parent.to_owned(), Known::Large(Instant::now()));
    }

    fn make_room(&self) {
        if self.known.len() >= MAX_FOLDERS {
            self.known.retain(|_, k| match k {
                Known::Names(at, _) => at.elapsed() < FRESH,
                Known::Large(at) => at.elapsed() < LARGE,
            });
        }
    }

    /// This process wrote `key` (a file, or a folder's marker or keys when
    /// it ends with `/`): its name and every folder on its path are taken now.
    pub(super) fn wrote(&self, key: &str) {
        let mut rest = key;
        loop {
            let (parent, name) = split(rest);
            if name.is_empty() {
                return;
            }
            if let Some(mut k) = self.known.get_mut(parent)
                && let Known::Names(_, names) = &mut *k
            {
                let folder = rest.ends_with('/');
                names.insert(format!("{name}{}", if folder { "/" } else { "" }));
            }
            if parent.is_empty() {
                return;
            }
            rest = parent;
        }
    }

    /// This process deleted the file `key` (or a folder's last key): its
    /// name may be free. (Were a folder to keep the name, the check
    /// finds it: "free" only lets the upload write beside its check.)
    pub(super) fn deleted(&self, key: &str) {
        let (parent, name) = split(key);
        if let Some(mut k) = self.known.get_mut(parent)
            && let Known::Names(_, names) = &mut *k
        {
            if key.ends_with('/') {
                names.remove(&format!("{name}/"));
            } else {
                names.remove(name);
            }
        }
        if key.ends_with('/') {
            self.known.remove(key);
        }
    }
}

/// The names of one listing page of `parent`: files as they are,
/// subfolders with their trailing `/`.
pub(super) fn names(
    parent: &str,
    out: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output,
) -> HashSet<String> {
    let folders = out.common_prefixes().iter().filter_map(|p| p.prefix());
    let files = out.contents().iter().filter_map(|o| o.key());
    folders
        .chain(files)
        .filter_map(|k| k.strip_prefix(parent))
        .filter(|n| !n.is_empty() && *n != "/")
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_answers_for_its_folder_until_it_is_old() {
        let f = Folders::default();
        assert_eq!(f.answer("a/b.txt"), Answer::Unknown);
        f.learn(
            "a/",
            [
                "sub/".to_owned(),
                "f.txt".to_owned(),
                "both".to_owned(),
                "both/".to_owned(),
            ]
            .into(),
            Instant::now(),
        );
        assert_eq!(f.answer("a/b.txt"), Answer::Free);
        assert_eq!(f.answer("a/sub"), Answer::Folder);
        assert_eq!(f.answer("a/f.txt"), Answer::File);
        assert_eq!(f.answer("a/both"), Answer::Folder);
        assert_eq!(f.answer("b/sub"), Answer::Unknown);
        let old = Instant::now().checked_sub(FRESH).unwrap();
        f.learn("a/", HashSet::new(), old);
        assert_eq!(f.answer("a/b.txt"), Answer::Unknown, "too old");
        f.large("big/");
        assert_eq!(f.answer("big/x"), Answer::Large);
    }

    #[test]
    fn own_writes_and_deletes_keep_it_current() {
        let f = Folders::default();
        f.learn("", HashSet::new(), Instant::now());
        f.learn("a/", HashSet::new(), Instant::now());
        f.wrote("a/new/deeper/file.bin");
        assert_eq!(f.answer("a"), Answer::Folder);
        assert_eq!(f.answer("a/new"), Answer::Folder);
        f.wrote("a/plain.bin");
        assert_eq!(f.answer("a/plain.bin"), Answer::File);
        f.deleted("a/plain.bin");
        assert_eq!(f.answer("a/plain.bin"), Answer::Free);
        f.deleted("a/new/");
        assert_eq!(f.answer("a/new"), Answer::Free);
        f.wrote("a/made/");
        assert_eq!(f.answer("a/made"), Answer::Folder);
    }
}
