//! Checks of `users:`, `groups:` and their mounts: groups and profiles that
//! exist, mount paths, permission names, networks, limits and quotas, login
//! names that can stand in for `%username%`; and the warning for accounts
//! that share one root.

use std::collections::BTreeMap;

use super::accounts::{
    Settings, User, login_name_problem, normalise_prefix, same_path, substitute,
};
use super::validate::{bad, check_networks, has_control_chars, unusable_encoding};
use super::{ConfigError, Perms};

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

    /// The settings of a user an identity source answered with (`key`
    /// names the source): checked as `users:` entries are, its name always
    /// fit for `%username%`; its groups' filled in.
    ///
    /// # Errors
    /// The first problem, naming the key.
    pub fn external_settings(&self, key: &str, u: &User) -> Result<Settings, ConfigError> {
        if u.password.is_some() || u.password_hash.is_some() {
            return Err(bad(
                &format!("{key}.password"),
                "an identity source never answers with a password",
            ));
        }
        if let Some(problem) = login_name_problem(&u.name) {
            return Err(bad(
                &format!("{key}.name"),
                format!("cannot be a login name: {problem}"),
            ));
        }
        for (j, g) in u.groups.iter().enumerate() {
            if !self.groups.contains_key(g) {
                return Err(bad(
                    &format!("{key}.groups[{j}]"),
                    "names no group of `groups:`",
                ));
            }
        }
        self.validate_settings(key, &u.settings())?;
        let merged = self.settings_of(u);
        merged.check_mount_paths(key)?;
        Ok(merged)
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
            if let Some(p) = &m.permissions {
                Perms::parse(p.iter().map(String::as_str))
                    .map_err(|e| bad(&format!("{mk}.permissions"), e))?;
            }
            check_quota(&format!("{mk}.quota"), m.quota.as_ref())?;
        }
        s.check_mount_paths(key)?;
        self.check_certificate(key, s)?;
        check_limits(key, s)
    }

    /// `certificate`, its fingerprints and names.
    fn check_certificate(&self, key: &str, s: &Settings) -> Result<(), ConfigError> {
        for (j, f) in s.certificate_sha256.iter().enumerate() {
            if super::identity::fingerprint(f).is_none() {
                return Err(bad(
                    &format!("{key}.certificate_sha256[{j}]"),
                    "is not a SHA-256 fingerprint (64 hex digits, colons allowed)",
                ));
            }
        }
        for (j, n) in s.certificate_names.iter().enumerate() {
            if n.is_empty() || has_control_chars(n) {
                return Err(bad(
                    &format!("{key}.certificate_names[{j}]"),
                    "is empty or holds control characters",
                ));
            }
        }
        let wants = s.certificate.is_some_and(|m| m != super::CertMode::Off);
        if wants && self.tls.as_ref().is_none_or(|t| t.client_ca.is_none()) {
            return Err(bad(
                &format!("{key}.certificate"),
                "needs `tls.client_ca` (the CA that issues client certificates)",
            ));
        }
        Ok(())
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
            let root = normalise_prefix(&format!("{}/{home}", substitute(&s3.prefix, user)));
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
}

/// Permissions, networks, sessions, rates and quota of one account's settings.
fn check_limits(key: &str, s: &Settings) -> Result<(), ConfigError> {
    for (path, perms) in &s.permissions {
        let k = format!("{key}.permissions");
        if !path.starts_with('/')
            || path.split('/').any(|seg| seg == ".." || seg == ".")
            || has_control_chars(path)
        {
            return Err(bad(
                &k,
                "a path of the tree: absolute, with no . or .. (e.g. /in)",
            ));
        }
        Perms::parse(perms.iter().map(String::as_str)).map_err(|e| bad(&k, e))?;
    }
    for (list, nets) in [("allow_from", &s.allow_from), ("deny_from", &s.deny_from)] {
        check_networks(&format!("{key}.{list}"), nets)?;
    }
    if s.max_sessions == Some(0) {
        return Err(bad(&format!("{key}.max_sessions"), "must be at least 1"));
    }
    for (k, rate) in [
        ("upload_bandwidth", s.upload_bandwidth),
        ("download_bandwidth", s.download_bandwidth),
    ] {
        if rate.is_some_and(|r| r.0 == 0) {
            return Err(bad(
                &format!("{key}.{k}"),
                "must be more than 0 (leave it out for no limit)",
            ));
        }
    }
    check_quota(&format!("{key}.quota"), s.quota.as_ref())
}

fn check_quota(key: &str, q: Option<&super::Quota>) -> Result<(), ConfigError> {
    match q {
        Some(q) if q.bytes.is_none() && q.files.is_none() => {
            Err(bad(key, "give bytes, files, or both"))
        }
        Some(q) if q.bytes.is_some_and(|b| b.0 == 0) || q.files == Some(0) => {
            Err(bad(key, "must be more than 0"))
        }
        _ => Ok(()),
    }
}

impl Settings {
    /// Mount paths: absolute, not `/` (the home is there), no `.`, `..` or
    /// control characters, each once.
    pub(super) fn check_mount_paths(&self, key: &str) -> Result<(), ConfigError> {
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
}
