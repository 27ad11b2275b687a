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

use super::identity::CertMode;
use super::{Rate, Secret, Size};

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
    /// Its permissions (at the mount point), unless the account's table
    /// names the same path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    /// Bytes and files under it (whoever wrote them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

/// A storage quota: bytes, files, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Bytes of every object under the folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Size>,
    /// Objects under the folder (folder markers not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
}

/// The settings a user and a group share, written once: `Settings` (a
/// group's, and a user's own) and `User` (its identity, then the same
/// fields). Not `#[serde(flatten)]`: with it serde accepts unknown keys
/// in silence and loses the key path of an error.
macro_rules! accounts {
    ($( $(#[$doc:meta])* pub $field:ident: $ty:ty, )*) => {
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
            $( $(#[$doc])* pub $field: $ty, )*
        }

        impl User {
            /// A user of this name that sets nothing.
            #[must_use]
            pub fn named(name: &str) -> Self {
                Self {
                    name: name.to_owned(),
                    password_hash: None,
                    password: None,
                    groups: Vec::new(),
                    $( $field: Default::default(), )*
                }
            }

            /// The user's own settings (before its groups').
            #[must_use]
            pub fn settings(&self) -> Settings {
                Settings {
                    $( $field: self.$field.clone(), )*
                }
            }
        }

        /// What a user and a group can set.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct Settings {
            $( $(#[$doc])* pub $field: $ty, )*
        }
    };
}

accounts! {
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
    /// Permissions by folder of the tree (`/in: [upload]`); the nearest
    /// configured folder decides alone. None at all: every permission.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub permissions: BTreeMap<String, Vec<String>>,
    /// Networks (CIDR or addresses) this account may log in from; empty:
    /// any. The account's own list replaces its groups'.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_from: Vec<String>,
    /// Networks this account may never log in from (checked first); its
    /// groups' lists add to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_from: Vec<String>,
    /// Sessions of this account at once, in this replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<usize>,
    /// Upload rate of all this account's transfers together, in this replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_bandwidth: Option<Rate>,
    /// Download rate of all this account's transfers together, in this replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_bandwidth: Option<Rate>,
    /// Bytes and files under the home (whoever wrote them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// What a TLS client certificate does at login (absent: `off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertMode>,
    /// SHA-256 fingerprints (hex, colons allowed) of this account's
    /// certificates; with `certificate_names`, either matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_sha256: Vec<String>,
    /// Names (exact CN or DNS/e-mail SAN) of this account's certificates;
    /// none and no fingerprint: the login name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_names: Vec<String>,
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
    /// Who may log in to the account: `allow_from` / `deny_from`.
    #[must_use]
    pub fn ip_rule(&self) -> super::networks::IpRule {
        super::networks::IpRule::new(&self.allow_from, &self.deny_from)
    }

    /// Whether a path of these settings holds `%username%`.
    #[must_use]
    pub fn uses_username(&self) -> bool {
        self.home.as_deref().is_some_and(|h| h.contains(USERNAME))
            || self.mounts.iter().any(|m| m.prefix.contains(USERNAME))
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
            encoding,
            max_sessions,
            upload_bandwidth,
            download_bandwidth,
            quota,
            certificate
        );
        // A certificate is named by the account or by its first group that names one.
        if self.certificate_sha256.is_empty() && self.certificate_names.is_empty() {
            self.certificate_sha256
                .clone_from(&other.certificate_sha256);
            self.certificate_names.clone_from(&other.certificate_names);
        }
        // For one path, the account's own entry replaces its groups'.
        for (path, perms) in &other.permissions {
            if !self.permissions.keys().any(|own| same_path(own, path)) {
                self.permissions.insert(path.clone(), perms.clone());
            }
        }
        if self.allow_from.is_empty() {
            self.allow_from.clone_from(&other.allow_from);
        }
        // Denials add up: a group's stays whatever its members allow.
        for net in &other.deny_from {
            if !self.deny_from.contains(net) {
                self.deny_from.push(net.clone());
            }
        }
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

/// A prefix as keys start with it: `""`, or its segments (`.` and empty
/// ones dropped, `..` popping one) joined by `/` with a trailing `/`
/// (`a//b/../c/` → `a/c/`, `/` → `""`).
#[must_use]
pub fn normalise_prefix(prefix: &str) -> String {
    let mut stack = Vec::new();
    for seg in prefix.split('/') {
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

impl super::Config {
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
    fn rights_and_limits_are_checked_by_key() {
        let err = |users: &str| {
            crate::Config::from_yaml(
                &format!("s3: {{ bucket: b }}\nusers: [{users}]"),
                Vec::new(),
            )
            .unwrap_err()
            .to_string()
        };
        let e = err("{ name: a, password: x, allow_from: [10.0.0.0/8, the-office] }");
        assert!(
            e.contains("users[0].allow_from[1]") && !e.contains("the-office"),
            "{e}"
        );
        let e = err("{ name: a, password: x, permissions: { /in: [upload, chmod] } }");
        assert!(e.contains("users[0].permissions"), "{e}");
        let e = err("{ name: a, password: x, permissions: { in: [upload] } }");
        assert!(e.contains("absolute"), "{e}");
        let e = err("{ name: a, password: x, quota: { } }");
        assert!(e.contains("users[0].quota"), "{e}");
        let e = err("{ name: a, password: x, upload_bandwidth: fast }");
        assert!(
            e.contains("upload_bandwidth") && e.contains("not a rate"),
            "{e}"
        );
        let e = err("{ name: a, password: x, max_sessions: 0 }");
        assert!(e.contains("users[0].max_sessions"), "{e}");
        // Groups add their denials; a user's allow list replaces theirs.
        let config = crate::Config::from_yaml(
            "s3: { bucket: b }\ngroups: { g: { allow_from: [10.0.0.0/8], deny_from: [10.9.0.0/16] } }\nusers: [{ name: a, password: x, groups: [g], allow_from: [192.0.2.0/24], deny_from: [192.0.2.9] }]",
            Vec::new(),
        )
        .unwrap();
        let s = config.settings_of(&config.users[0]);
        assert_eq!(s.allow_from, vec!["192.0.2.0/24".to_owned()]);
        assert_eq!(
            s.deny_from,
            vec!["192.0.2.9".to_owned(), "10.9.0.0/16".to_owned()]
        );
    }

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
            permissions: None,
            quota: None,
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
