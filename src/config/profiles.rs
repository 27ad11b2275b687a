//! Storage profiles (`storages:`): named S3 locations, each a bucket on an
//! endpoint with its credentials and upload settings. `s3:` is the profile
//! named `default`; every other profile inherits each key it does not set
//! from it, so an existing config keeps working unchanged.
//!
//! Per profile: `endpoint`, `region`, `bucket`, `prefix`, `path_style`, the
//! credentials, `read_only`, the write settings (`storage_class`, `sse`,
//! `sse_kms_key_id`, `acl`), `part_size`, `upload_concurrency`,
//! `download_concurrency`, `list_mtime` and `timeout`. Global (in `s3:`
//! only): `max_connections`, one cap for every profile's requests, and
//! `data_dir` of the embedded store.
//!
//! A secret can come from the file itself, from a variable
//! (`secret_access_key_env: NAME`) or from a file
//! (`secret_access_key_file: /run/secrets/x`, e.g. a Kubernetes Secret or
//! a compose secret): read once when the config is loaded, masked like
//! any other.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Dur, ListMtime, S3, Secret, Size};

/// The name of the `s3:` profile.
pub const DEFAULT_PROFILE: &str = "default";

/// One entry of `storages:`; an absent key is the `s3:` section's.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `embedded`, a URL, or absent for the `s3:` section's.
    pub endpoint: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Bucket.
    pub bucket: Option<String>,
    /// Root of this profile inside its bucket (may hold `%username%`).
    pub prefix: Option<String>,
    /// Path-style addressing.
    pub path_style: Option<bool>,
    /// Static access key.
    pub access_key_id: Option<String>,
    /// Static secret key.
    pub secret_access_key: Option<Secret>,
    /// The variable holding the secret key.
    pub secret_access_key_env: Option<String>,
    /// The file holding the secret key.
    pub secret_access_key_file: Option<PathBuf>,
    /// The credentials may only read: the gateway writes nothing here of
    /// its own accord (no time index, no probe object, no upload sweep).
    pub read_only: Option<bool>,
    /// `x-amz-storage-class` of every write.
    pub storage_class: Option<String>,
    /// `AES256` or `aws:kms`.
    pub sse: Option<String>,
    /// The KMS key of `sse: aws:kms`.
    pub sse_kms_key_id: Option<String>,
    /// Canned ACL of every write (`bucket-owner-full-control` …).
    pub acl: Option<String>,
    /// First multipart part size.
    pub part_size: Option<Size>,
    /// Parts in flight per upload.
    pub upload_concurrency: Option<usize>,
    /// Ranges fetched ahead per download.
    pub download_concurrency: Option<usize>,
    /// Where listings take times from.
    pub list_mtime: Option<ListMtime>,
    /// Deadline of every S3 call.
    pub timeout: Option<Dur>,
}

/// The storage classes S3 knows.
const CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
];

/// The canned ACLs S3 takes on an object write.
const ACLS: &[&str] = &[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

fn bad(key: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        msg: msg.into(),
    }
}

impl Profile {
    /// Reads this profile's secret from its variable or file, if any.
    pub(super) fn resolve_secret(
        &mut self,
        key: &str,
        vars: &[(String, String)],
    ) -> Result<(), ConfigError> {
        resolve_secret(
            &mut self.secret_access_key,
            self.secret_access_key_env.as_deref(),
            self.secret_access_key_file.as_deref(),
            key,
            vars,
        )
    }

    /// This profile over `base` (the `s3:` section): the effective settings.
    fn over(&self, base: &S3) -> S3 {
        let mut s = base.clone();
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { s.$f = v.clone(); } )* };
        }
        take!(
            region,
            bucket,
            prefix,
            path_style,
            read_only,
            part_size,
            upload_concurrency,
            download_concurrency,
            list_mtime,
            timeout
        );
        macro_rules! take_opt {
            ($($f:ident),*) => { $( if self.$f.is_some() { s.$f = self.$f.clone(); } )* };
        }
        take_opt!(endpoint, storage_class, sse, sse_kms_key_id, acl);
        // Credentials go together: a profile with its own key id does not
        // inherit the default's secret (nor its references).
        if self.access_key_id.is_some() || self.secret_access_key.is_some() {
            s.access_key_id.clone_from(&self.access_key_id);
            s.secret_access_key.clone_from(&self.secret_access_key);
        }
        s
    }
}

/// Reads a secret from the variable `env` or the file `file` when one is
/// given (into `secret`); `key` names the section, e.g. `storages.archive`.
pub(super) fn resolve_secret(
    secret: &mut Option<Secret>,
    env: Option<&str>,
    file: Option<&std::path::Path>,
    key: &str,
    vars: &[(String, String)],
) -> Result<(), ConfigError> {
    let given =
        usize::from(secret.is_some()) + usize::from(env.is_some()) + usize::from(file.is_some());
    if given > 1 {
        return Err(bad(
            &format!("{key}.secret_access_key"),
            "give one of secret_access_key, secret_access_key_env, secret_access_key_file",
        ));
    }
    if let Some(var) = env {
        let value = vars
            .iter()
            .find(|(k, _)| k == var)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                bad(
                    &format!("{key}.secret_access_key_env"),
                    format!("the variable {var} is not set"),
                )
            })?;
        *secret = Some(Secret::new(value));
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            bad(
                &format!("{key}.secret_access_key_file"),
                format!("cannot read {}: {}", path.display(), e.kind()),
            )
        })?;
        *secret = Some(Secret::new(text.trim().to_owned()));
    }
    Ok(())
}

impl S3 {
    /// Every check of one profile's settings; `key` names it (`s3`,
    /// `storages.archive`).
    pub(super) fn validate_profile(&self, key: &str) -> Result<(), ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        if self.bucket.trim().is_empty() {
            return Err(bad(&k("bucket"), "is required"));
        }
        self.validate_transfer(key)?;
        if let Some(c) = &self.storage_class
            && !CLASSES.contains(&c.as_str())
        {
            return Err(bad(
                &k("storage_class"),
                format!("use one of {}", CLASSES.join(", ")),
            ));
        }
        if let Some(a) = &self.acl
            && !ACLS.contains(&a.as_str())
        {
            return Err(bad(&k("acl"), format!("use one of {}", ACLS.join(", "))));
        }
        match self.sse.as_deref() {
            None | Some("AES256" | "aws:kms" | "aws:kms:dsse") => {}
            Some(s) if s.eq_ignore_ascii_case("sse-c") || s.eq_ignore_ascii_case("customer") => {
                return Err(bad(
                    &k("sse"),
                    "SSE-C is not supported: S3 needs the customer's key on every HEAD, GET and copy of the object, so every listing, download, rename and resume would carry it; use aws:kms (a KMS key you control) instead",
                ));
            }
            Some(_) => return Err(bad(&k("sse"), "use AES256 or aws:kms")),
        }
        if self.sse_kms_key_id.is_some()
            && !self
                .sse
                .as_deref()
                .is_some_and(|s| s.starts_with("aws:kms"))
        {
            return Err(bad(&k("sse_kms_key_id"), "needs sse: aws:kms"));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(bad(
                &k("secret_access_key"),
                "access_key_id and secret_access_key go together",
            ));
        }
        Ok(())
    }
}

/// `storages:`, by name.
pub type Profiles = BTreeMap<String, Profile>;

impl super::Config {
    /// Reads every secret given by reference (`secret_access_key_env`,
    /// `secret_access_key_file`), in `s3:` and each profile.
    pub(super) fn resolve_secrets(&mut self, vars: &[(String, String)]) -> Result<(), ConfigError> {
        let (env, file) = (
            self.s3.secret_access_key_env.clone(),
            self.s3.secret_access_key_file.clone(),
        );
        resolve_secret(
            &mut self.s3.secret_access_key,
            env.as_deref(),
            file.as_deref(),
            "s3",
            vars,
        )?;
        for (name, p) in &mut self.storages {
            p.resolve_secret(&format!("storages.{name}"), vars)?;
        }
        Ok(())
    }

    /// Every profile's effective settings, `default` (the `s3:` section) first.
    #[must_use]
    pub fn profiles(&self) -> Vec<(String, S3)> {
        effective(&self.s3, &self.storages)
    }

    /// The storage profiles: names, each one's settings, the embedded
    /// store's single key pair.
    pub(super) fn validate_profiles(&self) -> Result<(), ConfigError> {
        for name in self.storages.keys() {
            if name.is_empty() || name == DEFAULT_PROFILE || name.contains(char::is_whitespace) {
                return Err(bad(
                    &format!("storages.{name}"),
                    "a profile's name is not empty, has no spaces, and is not `default` (that is the s3: section)",
                ));
            }
        }
        for (name, s3) in self.profiles() {
            let key = if name == DEFAULT_PROFILE {
                "s3".to_owned()
            } else {
                format!("storages.{name}")
            };
            s3.validate_profile(&key)?;
            if name != DEFAULT_PROFILE
                && s3.is_embedded()
                && self.storages[&name].access_key_id.is_some()
            {
                return Err(bad(
                    &format!("{key}.access_key_id"),
                    "the embedded store has one key pair (s3.access_key_id): a profile on it cannot have its own",
                ));
            }
        }
        Ok(())
    }
}

/// Every profile's effective settings, `default` (the `s3:` section) first.
#[must_use]
pub fn effective(s3: &S3, storages: &Profiles) -> Vec<(String, S3)> {
    std::iter::once((DEFAULT_PROFILE.to_owned(), s3.clone()))
        .chain(storages.iter().map(|(n, p)| (n.clone(), p.over(s3))))
        .collect()
}
