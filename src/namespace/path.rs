//! FTP paths and S3 keys: lexical normalisation with a chroot at the user's home.
//!
//! A session works with [`VPath`]s: absolute, normalised paths inside the
//! user's home (`/` is the home). [`VPath::resolve`] applies an FTP
//! argument to the current directory: `.` and empty segments vanish, `..`
//! pops a segment and stops at `/`, so nothing resolves above the home.
//! [`Root`] turns a path inside one mount into keys: `prefix + folder +
//! path` (for the home: the profile's prefix and the user's home).

use std::fmt;

use crate::storage::RESERVED_DIR;

/// S3's limit on key length, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Why a path cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// NUL, CR or LF in a name.
    #[error("file names may not contain NUL, CR or LF")]
    BadChar,
    /// The key would exceed 1024 bytes.
    #[error("path too long: S3 keys are limited to 1024 bytes")]
    TooLong,
    /// The operation needs a file or folder name, not the home itself.
    #[error("not allowed on the root directory")]
    IsRoot,
    /// The gateway's own folder at the root of `s3.prefix` (its time indexes).
    #[error("name reserved for the gateway's own use")]
    Reserved,
}

/// An absolute, normalised path inside the user's home (`/`, `/a`, `/a/b`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VPath(String);

fn check_chars(s: &str) -> Result<(), PathError> {
    if s.contains(['\0', '\r', '\n']) {
        Err(PathError::BadChar)
    } else {
        Ok(())
    }
}

/// Normalises segments of `path` onto `stack` (`.`/empty dropped, `..` pops, never past the top).
fn push_segments<'a>(stack: &mut Vec<&'a str>, path: &'a str) {
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
}

impl VPath {
    /// The home directory itself.
    #[must_use]
    pub fn root() -> Self {
        Self("/".into())
    }

    /// Applies an FTP path argument (absolute or relative to `self`).
    ///
    /// # Errors
    /// [`PathError::BadChar`] for NUL, CR or LF.
    pub fn resolve(&self, arg: &str) -> Result<Self, PathError> {
        check_chars(arg)?;
        let mut stack: Vec<&str> = Vec::new();
        if !arg.starts_with('/') {
            push_segments(&mut stack, &self.0);
        }
        push_segments(&mut stack, arg);
        Ok(Self(format!("/{}", stack.join("/"))))
    }

    /// Whether this is the home directory.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The last segment (`""` for the root).
    #[must_use]
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// The parent directory (the root is its own parent).
    #[must_use]
    pub fn parent(&self) -> Self {
        match self.0.rfind('/') {
            Some(0) | None => Self::root(),
            Some(i) => Self(self.0[..i].to_owned()),
        }
    }

    /// Whether `self` is `other` or inside it.
    #[must_use]
    pub fn starts_with(&self, other: &Self) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// This path seen from `base`, which holds it (`/a/b/c` from `/a` is
    /// `/b/c`; `base` itself is `/`).
    #[must_use]
    pub fn relative_to(&self, base: &Self) -> Self {
        if base.is_root() {
            return self.clone();
        }
        match self.0.strip_prefix(&base.0) {
            Some("") => Self::root(),
            Some(rest) if rest.starts_with('/') => Self(rest.to_owned()),
            _ => self.clone(),
        }
    }

    /// The path as text (always starts with `/`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a user's home lives in the bucket: `s3.prefix + home`, as a key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// `""` (bucket root) or `"seg/.../"` with a trailing slash.
    base: String,
    /// Whether this home is the root of `s3.prefix`, where the gateway's
    /// own folder is ([`RESERVED_DIR`]).
    at_prefix_root: bool,
}

impl Root {
    /// Combines the bucket prefix and a user's home, each normalised.
    ///
    /// # Errors
    /// [`PathError::BadChar`] for NUL, CR or LF.
    pub fn new(prefix: &str, home: &str) -> Result<Self, PathError> {
        check_chars(prefix)?;
        check_chars(home)?;
        let mut stack = Vec::new();
        push_segments(&mut stack, prefix);
        let floor = stack.len();
        let mut home_stack = Vec::new();
        push_segments(&mut home_stack, home);
        let at_prefix_root = home_stack.is_empty();
        stack.extend(home_stack);
        debug_assert!(stack.len() >= floor);
        let mut base = stack.join("/");
        if !base.is_empty() {
            base.push('/');
        }
        Ok(Self {
            base,
            at_prefix_root,
        })
    }

    /// `key`, unless it is the gateway's own folder or inside it.
    fn allowed(&self, key: String) -> Result<String, PathError> {
        let inside = key
            .strip_prefix(self.base.as_str())
            .and_then(|rest| rest.strip_prefix(RESERVED_DIR))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if self.at_prefix_root && inside {
            Err(PathError::Reserved)
        } else {
            Ok(key)
        }
    }

    /// The key prefix of the home (`""` or ends with `/`).
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The object key of a file.
    ///
    /// # Errors
    /// [`PathError::IsRoot`] for the home itself, [`PathError::TooLong`] past 1024 bytes.
    pub fn file_key(&self, p: &VPath) -> Result<String, PathError> {
        if p.is_root() {
            return Err(PathError::IsRoot);
        }
        let key = format!("{}{}", self.base, &p.0[1..]);
        if key.len() > MAX_KEY_LEN {
            return Err(PathError::TooLong);
        }
        self.allowed(key)
    }

    /// The key prefix of a directory (ends with `/`, or `""` at the bucket root);
    /// it is also the key of the directory's marker object.
    ///
    /// # Errors
    /// [`PathError::TooLong`] past 1024 bytes.
    pub fn dir_prefix(&self, p: &VPath) -> Result<String, PathError> {
        if p.is_root() {
            return Ok(self.base.clone());
        }
        let key = format!("{}{}/", self.base, &p.0[1..]);
        if key.len() > MAX_KEY_LEN {
            return Err(PathError::TooLong);
        }
        self.allowed(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(cwd: &str, arg: &str) -> String {
        VPath::root().resolve(cwd).unwrap().resolve(arg).unwrap().0
    }

    #[test]
    fn dot_dot_storms_stop_at_home() {
        assert_eq!(r("/", ".."), "/");
        assert_eq!(r("/", "../../../../etc/passwd"), "/etc/passwd");
        assert_eq!(r("/a/b", "../../../../x"), "/x");
        assert_eq!(r("/a/b", "/../../.."), "/");
        assert_eq!(r("/a", "b/../../../c/./d/.."), "/c");
        assert_eq!(r("/", &"../".repeat(1000)), "/");
    }

    #[test]
    fn slashes_and_dots() {
        assert_eq!(r("/", "//a///b//"), "/a/b");
        assert_eq!(r("/a", "./b/."), "/a/b");
        assert_eq!(r("/a", ""), "/a");
        assert_eq!(r("/a", "/"), "/");
        assert_eq!(r("/a/", "b/"), "/a/b");
        assert_eq!(r("/", "..."), "/...");
        assert_eq!(r("/", "a b/ c "), "/a b/ c ");
    }

    #[test]
    fn unicode_is_kept_as_is() {
        assert_eq!(
            r("/", "Grüße/中文/ファイル.txt"),
            "/Grüße/中文/ファイル.txt"
        );
        assert_eq!(r("/Ünïcode", "../é"), "/é");
    }

    #[test]
    fn control_characters_are_refused() {
        for bad in ["a\0b", "a\rb", "a\nb", "\n"] {
            assert_eq!(
                VPath::root().resolve(bad),
                Err(PathError::BadChar),
                "{bad:?}"
            );
        }
        assert_eq!(Root::new("p\n", "/"), Err(PathError::BadChar));
    }

    #[test]
    fn keys_are_prefix_plus_home_plus_path() {
        let root = Root::new("/data/", "/alice").unwrap();
        assert_eq!(root.base(), "data/alice/");
        let p = VPath::root().resolve("docs/x.txt").unwrap();
        assert_eq!(root.file_key(&p).unwrap(), "data/alice/docs/x.txt");
        assert_eq!(root.dir_prefix(&p.parent()).unwrap(), "data/alice/docs/");
        assert_eq!(root.dir_prefix(&VPath::root()).unwrap(), "data/alice/");
        assert_eq!(root.file_key(&VPath::root()), Err(PathError::IsRoot));
        let bucket_root = Root::new("", "/").unwrap();
        assert_eq!(bucket_root.base(), "");
        assert_eq!(bucket_root.dir_prefix(&VPath::root()).unwrap(), "");
        // A home with `..` cannot climb above the prefix.
        assert_eq!(Root::new("p", "../../x").unwrap().base(), "p/x/");
        assert_eq!(Root::new("p", "..").unwrap().base(), "p/");
    }

    #[test]
    fn the_gateways_folder_is_reserved_at_the_prefix_root_only() {
        let at_root = Root::new("/data", "/").unwrap();
        let path = |p: &str| VPath::root().resolve(p).unwrap();
        for p in ["/.s3ftpd", "/.s3ftpd/times/.index", "x/../.s3ftpd/a"] {
            assert_eq!(at_root.file_key(&path(p)), Err(PathError::Reserved), "{p}");
            assert_eq!(
                at_root.dir_prefix(&path(p)),
                Err(PathError::Reserved),
                "{p}"
            );
        }
        for p in ["/.s3ftpd2", "/a/.s3ftpd", "/.s3ftp"] {
            assert!(at_root.file_key(&path(p)).is_ok(), "{p}");
        }
        // Below the prefix's root (a home, or `..` that cannot climb out).
        let alice = Root::new("data", "/alice").unwrap();
        assert_eq!(
            alice.dir_prefix(&path("/.s3ftpd")).unwrap(),
            "data/alice/.s3ftpd/"
        );
        let climbed = Root::new("data", "../..").unwrap();
        assert_eq!(
            climbed.file_key(&path("/.s3ftpd")),
            Err(PathError::Reserved)
        );
    }

    #[test]
    fn over_long_keys_are_refused() {
        let root = Root::new("", "/").unwrap();
        let ok = VPath::root().resolve(&"a".repeat(1024)).unwrap();
        assert!(root.file_key(&ok).is_ok());
        assert_eq!(root.dir_prefix(&ok), Err(PathError::TooLong));
        let long = VPath::root().resolve(&"a".repeat(1025)).unwrap();
        assert_eq!(root.file_key(&long), Err(PathError::TooLong));
    }

    #[test]
    fn parent_name_and_containment() {
        let p = VPath::root().resolve("/a/b/c").unwrap();
        assert_eq!(p.name(), "c");
        assert_eq!(p.parent().as_str(), "/a/b");
        assert_eq!(VPath::root().parent(), VPath::root());
        let a = VPath::root().resolve("/a").unwrap();
        assert!(p.starts_with(&a));
        assert!(!VPath::root().resolve("/ab").unwrap().starts_with(&a));
        assert!(a.starts_with(&VPath::root()));
        assert_eq!(p.relative_to(&a).as_str(), "/b/c");
        assert_eq!(a.relative_to(&a).as_str(), "/");
        assert_eq!(p.relative_to(&VPath::root()), p);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Paths made of `..`, `.`, empty and ordinary (unicode, spaces) segments.
    fn ftp_path() -> impl Strategy<Value = String> {
        let seg = prop_oneof![
            Just("..".to_owned()),
            Just(".".to_owned()),
            Just(String::new()),
            "[a-zé中 ~.]{1,4}"
        ];
        (any::<bool>(), prop::collection::vec(seg, 0..12))
            .prop_map(|(abs, segs)| format!("{}{}", if abs { "/" } else { "" }, segs.join("/")))
    }

    proptest! {
        #[test]
        fn never_escapes_and_is_idempotent(cwd in ftp_path(), arg in ftp_path(), prefix in ftp_path(), home in ftp_path()) {
            let cwd = VPath::root().resolve(&cwd).unwrap();
            let p = cwd.resolve(&arg).unwrap();
            prop_assert!(p.as_str().starts_with('/'));
            prop_assert!(p.is_root() || !p.as_str().ends_with('/'));
            prop_assert!(!p.as_str().contains("//"));
            prop_assert!(!p.as_str().split('/').any(|s| s == "." || s == ".."));
            prop_assert_eq!(&VPath::root().resolve(p.as_str()).unwrap(), &p, "idempotent");
            prop_assert_eq!(&cwd.resolve(p.as_str()).unwrap(), &p, "absolute wins over cwd");
            let bucket_prefix = Root::new(&prefix, "/").unwrap();
            let root = Root::new(&prefix, &home).unwrap();
            prop_assert!(root.base().starts_with(bucket_prefix.base()), "home stays under s3.prefix");
            if let Ok(key) = root.file_key(&p) {
                prop_assert!(key.starts_with(root.base()), "key {} outside {}", key, root.base());
            }
            prop_assert!(root.dir_prefix(&p).map_or(true, |k| k.starts_with(root.base())));
        }

        #[test]
        fn no_nul_cr_or_lf_survives(arg in ftp_path(), bad in prop::sample::select(vec!['\0', '\r', '\n']), at in any::<prop::sample::Index>()) {
            let mut chars: Vec<char> = arg.chars().collect();
            chars.insert(at.index(chars.len() + 1), bad);
            let arg: String = chars.into_iter().collect();
            prop_assert_eq!(VPath::root().resolve(&arg), Err(PathError::BadChar));
            prop_assert!(Root::new(&arg, "/").is_err() && Root::new("", &arg).is_err());
        }
    }
}
