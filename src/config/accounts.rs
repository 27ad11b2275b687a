//! `users:`, `groups:` and their mounts: who logs in, and what tree each
//! account sees.
//!
//! A user lists its groups; for each setting the user's own value wins,
//! then the first group (in the user's order) that sets it, then the
//! default (`home: /`, the `default` profile, read-write). Mounts are
//! merged by path the same way: a user's mount replaces a group's at the
//! same path. `%username%` is the one placeholder, in `home`, in a
//! profile's `prefix` and in a mount's `prefix`; the name put in its place
//! is checked first (see [`login_name_problem`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::validate::{bad, has_control_chars, unusable_encoding};
use super::{ConfigError, Secret};

/// The placeholder replaced by the login name.
pub const USERNAME: &str = "%username%";

/// A folder of a storage profile shown inside a user's tree.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Where it appears: an absolute FTP path, not `/` (the home is there).
    pub path: String,
    /// Its storage profile (absent: the account's own).
    #[serde(default)]
    pub storage: Option<String>,
    /// Its folder inside the profile's prefix (may hold `%username%`).
    #[serde(default)]
    pub prefix: String,
    /// Refuse every write under it.
    #[serde(default)]
    pub read_only: bool,
}

/// One entry of `users:`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// argon2id PHC string.
    #[serde(default, serialize_with = "mask_hash")]
    pub password_hash: Option<String>,
    /// Plain-text password (discouraged; logs a warning).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Groups whose settings this user takes where it sets none, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// FTP root, under the profile's prefix (may hold `%username%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Storage profile of the home (absent: `default`, the `s3:` section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Folders of (other) profiles shown inside the tree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// Refuse every write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// This user's `tls.require_session_reuse` (absent: the global one).
    /// `false` for clients that never resume the TLS session on data
    /// connections (Apache Commons Net, Java batch jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_session_reuse: Option<bool>,
    /// This user's `tls.strict_eof` (absent: the global one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_eof: Option<bool>,
    /// This user's `ftp.encoding` (absent: the global one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

impl User {
    /// The user's own settings (before its groups').
    #[must_use]
    pub fn settings(&self) -> Settings {
        Settings {
            home: self.home.clone(),
            storage: self.storage.clone(),
            mounts: self.mounts.clone(),
            read_only: self.read_only,
            require_session_reuse: self.require_session_reuse,
            strict_eof: self.strict_eof,
            encoding: self.encoding.clone(),
        }
    }
}

/// What a user and a group can set (a user's own fields are the same).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// FTP root, under the profile's prefix (may hold `%username%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Storage profile of the home (absent: `default`, the `s3:` section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Folders of (other) profiles shown inside the tree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// Refuse every write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// `tls.require_session_reuse` for this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_session_reuse: Option<bool>,
    /// `tls.strict_eof` for this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_eof: Option<bool>,
    /// `ftp.encoding` for this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

/// `groups:`, by name.
pub type Groups = BTreeMap<String, Settings>;

#[allow(clippy::ref_option)]
fn mask_hash<S: serde::Serializer>(h: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match h {
        Some(h) => s.serialize_str(&format!(
            "{}$****",
            h.split('$').take(2).collect::<Vec<_>>().join("$")
        )),
        None => s.serialize_none(),
    }
}

impl Settings {
    /// Whether a path of these settings holds `%username%`.
    #[must_use]
    pub fn uses_username(&self) -> bool {
        self.home.as_deref().is_some_and(|h| h.contains(USERNAME))
            || self.mounts.iter().any(|m| m.prefix.contains(USERNAME))
    }

    /// Mount paths: absolute, not `/` (the home is there), no `.`, `..` or
    /// control characters, each once.
    fn check_mount_paths(&self, key: &str) -> Result<(), ConfigError> {
        for (j, m) in self.mounts.iter().enumerate() {
            let segs: Vec<&str> = m.path.split('/').filter(|s| !s.is_empty()).collect();
            let fine = m.path.starts_with('/')
                && !segs.is_empty()
                && segs
                    .iter()
                    .all(|s| *s != "." && *s != ".." && !s.chars().any(char::is_control));
            if !fine {
                return Err(bad(
                    &format!("{key}.mounts[{j}].path"),
                    "must be an absolute folder path below / with no . or .. (e.g. /archive)",
                ));
            }
            if self.mounts[..j].iter().any(|o| same_path(&o.path, &m.path)) {
                return Err(bad(&format!("{key}.mounts[{j}].path"), "appears twice"));
            }
        }
        Ok(())
    }

    /// `self` where it sets a value, else `other` (a group further down
    /// the user's list); mounts merged by path, `self`'s first.
    #[must_use]
    pub fn or(mut self, other: &Self) -> Self {
        macro_rules! fill {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f.clone_from(&other.$f); } )* };
        }
        fill!(
            home,
            storage,
            read_only,
            require_session_reuse,
            strict_eof,
            encoding
        );
        for m in &other.mounts {
            if !self.mounts.iter().any(|own| same_path(&own.path, &m.path)) {
                self.mounts.push(m.clone());
            }
        }
        self
    }
}

/// Whether two mount paths name the same folder (`/a/` and `/a`).
#[must_use]
pub fn same_path(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Why a login name cannot be put into a path in place of `%username%`:
/// a `/` or `\`, `..`, `.`, NUL or another control character, or nothing.
/// Checked whatever the name's source (the file, a hook, a directory).
#[must_use]
pub fn login_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains(['/', '\\']) {
        Some("it holds a / or \\")
    } else if name == "." || name == ".." || name.contains("..") {
        Some("it holds ..")
    } else if name.chars().any(char::is_control) {
        Some("it holds a control character")
    } else {
        None
    }
}

/// A key prefix from a path (`a//b/../c/` → `a/c/`, `/` → `""`).
fn folder(path: &str) -> String {
    let mut stack = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    let mut out = stack.join("/");
    if !out.is_empty() {
        out.push('/');
    }
    out
}

/// `text` with `%username%` replaced by `name` (which must have passed
/// [`login_name_problem`]).
#[must_use]
pub fn substitute(text: &str, name: &str) -> String {
    text.replace(USERNAME, name)
}

/// The part of a prefix before its first segment holding `%username%`:
/// what all users of a profile share (its own folder, its upload sweep).
#[must_use]
pub fn static_prefix(prefix: &str) -> String {
    prefix
        .split('/')
        .take_while(|seg| !seg.contains(USERNAME))
        .collect::<Vec<_>>()
        .join("/")
}

impl super::Config {
    /// One user's groups, and its settings merged with theirs.
    pub(super) fn validate_account(&self, i: usize, u: &User) -> Result<(), ConfigError> {
        for (j, g) in u.groups.iter().enumerate() {
            if !self.groups.contains_key(g) {
                return Err(bad(
                    &format!("users[{i}].groups[{j}]"),
                    "names no group of `groups:`",
                ));
            }
        }
        let key = format!("users[{i}]");
        self.validate_settings(&key, &u.settings())?;
        let merged = self.settings_of(u);
        if merged.uses_username()
            && let Some(problem) = login_name_problem(&u.name)
        {
            return Err(bad(
                &format!("{key}.name"),
                format!("cannot stand in for %username% in a path: {problem}"),
            ));
        }
        merged.check_mount_paths(&key)
    }

    /// A user's or a group's own settings; `key` names it.
    pub(super) fn validate_settings(&self, key: &str, s: &Settings) -> Result<(), ConfigError> {
        let known = |name: &str| name == super::DEFAULT_PROFILE || self.storages.contains_key(name);
        if let Some(name) = &s.storage
            && !known(name)
        {
            return Err(bad(
                &format!("{key}.storage"),
                "names no profile of `storages:` (nor `default`)",
            ));
        }
        if let Some(enc) = s.encoding.as_deref()
            && super::ftp_encoding(enc).is_none()
        {
            return Err(bad(&format!("{key}.encoding"), unusable_encoding(enc)));
        }
        if s.home.as_deref().is_some_and(has_control_chars) {
            return Err(bad(&format!("{key}.home"), "contains NUL, CR or LF"));
        }
        for (j, m) in s.mounts.iter().enumerate() {
            let mk = format!("{key}.mounts[{j}]");
            if m.storage.as_deref().is_some_and(|n| !known(n)) {
                return Err(bad(
                    &format!("{mk}.storage"),
                    "names no profile of `storages:` (nor `default`)",
                ));
            }
            if has_control_chars(&m.prefix) {
                return Err(bad(&format!("{mk}.prefix"), "contains NUL, CR or LF"));
            }
        }
        s.check_mount_paths(key)
    }

    /// Warnings for an operator: accounts whose homes are the same folder
    /// of the same bucket (each sees and changes the others' files), by
    /// name — the trap of a forgotten `home`, which defaults to `/`.
    #[must_use]
    pub fn shared_roots(&self) -> Vec<String> {
        let profiles = self.profiles();
        let mut roots: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
        let mut add = |user: &str, s: &Settings| {
            let profile = s.storage.as_deref().unwrap_or(super::DEFAULT_PROFILE);
            let Some((_, s3)) = profiles.iter().find(|(n, _)| n == profile) else {
                return;
            };
            let home = substitute(s.home.as_deref().unwrap_or("/"), user);
            let root = folder(&format!("{}/{home}", substitute(&s3.prefix, user)));
            let endpoint = s3.endpoint.clone().unwrap_or_else(|| "aws".to_owned());
            roots
                .entry((endpoint, s3.bucket.clone(), root))
                .or_default()
                .push(user.to_owned());
        };
        for u in &self.users {
            add(&u.name, &self.settings_of(u));
        }
        let anonymous = Settings {
            home: Some(self.anonymous.home.clone()),
            ..Settings::default()
        };
        if self.anonymous.enabled {
            add("anonymous", &anonymous);
        }
        roots
            .into_iter()
            .filter(|(_, users)| users.len() > 1)
            .map(|((_, bucket, root), users)| {
                format!(
                    "users {} share one root, s3://{bucket}/{root}: each sees and changes the others' files (give each its own `home`, e.g. /%username%)",
                    users.join(", ")
                )
            })
            .collect()
    }

    /// `user`'s settings with its groups' filled in where it sets none
    /// (groups in the user's order; unknown names were refused at load).
    #[must_use]
    pub fn settings_of(&self, user: &User) -> Settings {
        user.groups
            .iter()
            .filter_map(|g| self.groups.get(g))
            .fold(user.settings(), Settings::or)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_climb_are_refused() {
        for bad in [
            "", "a/b", "a\\b", "..", ".", "a..b", "x\0", "a\nb", "\u{7f}",
        ] {
            assert!(login_name_problem(bad).is_some(), "{bad:?}");
        }
        for good in ["alice", "Alice.Smith", "a-b_c", "bob@example.com", "Zoë"] {
            assert!(login_name_problem(good).is_none(), "{good:?}");
        }
        assert_eq!(
            substitute("/partners/%username%/in", "acme"),
            "/partners/acme/in"
        );
    }

    #[test]
    fn the_user_wins_then_the_first_group() {
        let mount = |p: &str, s: &str| Mount {
            path: p.into(),
            storage: Some(s.into()),
            prefix: String::new(),
            read_only: true,
        };
        let user = Settings {
            home: Some("/own".into()),
            mounts: vec![mount("/archive", "mine")],
            ..Settings::default()
        };
        let first = Settings {
            home: Some("/g1".into()),
            storage: Some("a".into()),
            mounts: vec![mount("/archive/", "g1"), mount("/shared", "g1")],
            ..Settings::default()
        };
        let second = Settings {
            storage: Some("b".into()),
            read_only: Some(true),
            ..Settings::default()
        };
        let s = user.or(&first).or(&second);
        assert_eq!(s.home.as_deref(), Some("/own"));
        assert_eq!(s.storage.as_deref(), Some("a"));
        assert_eq!(s.read_only, Some(true));
        assert_eq!(s.mounts.len(), 2);
        assert_eq!(s.mounts[0].storage.as_deref(), Some("mine"));
    }
}
