//! An account's tree, built at login from its settings (its own, merged
//! with its groups'): the home on its profile, each mount on its own, the
//! login name put in place of `%username%` only once it is known to be a
//! plain name. An account whose tree cannot be built does not log in.

use super::{Mount, Namespace, Rights, VPath};
use crate::config::{Perms, Settings, USERNAME, login_name_problem, substitute};
use crate::storage::Storages;

/// Why an account's tree cannot be built (the login is refused, and the
/// log says this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The login name cannot stand in for `%username%`.
    #[error("the login name cannot stand in for %username% in a path: {0}")]
    Name(&'static str),
    /// A profile the settings name does not exist.
    #[error("no storage profile named {0:?}")]
    Profile(String),
    /// A permission table that does not parse (an identity source's).
    #[error("permissions of {path:?}: {why}")]
    Permissions {
        /// The folder.
        path: String,
        /// Why.
        why: String,
    },
    /// A home or mount that cannot be a folder of its profile.
    #[error("{what} {path:?}: {why}")]
    Folder {
        /// `home` or `mount`.
        what: &'static str,
        /// The path as configured.
        path: String,
        /// Why.
        why: String,
    },
}

/// The tree of the account `name` with `settings`, on `storages`.
///
/// # Errors
/// A [`BuildError`]: the account does not log in.
pub fn tree(name: &str, settings: &Settings, storages: &Storages) -> Result<Namespace, BuildError> {
    let placeholder = settings.uses_username()
        || storages
            .iter()
            .any(|(_, s)| s.prefix_template().contains(USERNAME));
    if placeholder && let Some(problem) = login_name_problem(name) {
        return Err(BuildError::Name(problem));
    }
    let read_only = settings.read_only.unwrap_or(false);
    let profile = |n: Option<&str>| {
        let n = n
            .or(settings.storage.as_deref())
            .unwrap_or(crate::config::DEFAULT_PROFILE);
        storages
            .get(n)
            .ok_or_else(|| BuildError::Profile(n.to_owned()))
    };
    let home_storage = profile(None)?;
    let home = substitute(settings.home.as_deref().unwrap_or("/"), name);
    let prefix = substitute(home_storage.prefix_template(), name);
    let home = Mount::new(
        VPath::root(),
        home_storage.clone(),
        &prefix,
        &home,
        read_only,
    )
    .map_err(|e| BuildError::Folder {
        what: "home",
        path: home.clone(),
        why: e.to_string(),
    })?
    .with_quota(settings.quota);
    let mut mounts = Vec::with_capacity(settings.mounts.len());
    for m in &settings.mounts {
        let storage = profile(m.storage.as_deref())?;
        let at = VPath::root()
            .resolve(&m.path)
            .map_err(|e| BuildError::Folder {
                what: "mount",
                path: m.path.clone(),
                why: e.to_string(),
            })?;
        let prefix = substitute(storage.prefix_template(), name);
        let folder = substitute(&m.prefix, name);
        let mount = Mount::new(
            at,
            storage.clone(),
            &prefix,
            &folder,
            read_only || m.read_only,
        )
        .map_err(|e| BuildError::Folder {
            what: "mount",
            path: m.path.clone(),
            why: e.to_string(),
        })?
        .with_quota(m.quota);
        mounts.push(mount);
    }
    Ok(Namespace::new(home, mounts, rights(settings, read_only)?))
}

/// The permission table: the account's entries, then each mount's own at
/// its mount point unless the account names that folder.
fn rights(settings: &Settings, read_only: bool) -> Result<Rights, BuildError> {
    let entry = |path: &str, names: &[String]| {
        let why = |why: String| BuildError::Permissions {
            path: path.to_owned(),
            why,
        };
        let at = VPath::root()
            .resolve(path)
            .map_err(|e| why(e.to_string()))?;
        let perms = Perms::parse(names.iter().map(String::as_str)).map_err(why)?;
        Ok((at, perms))
    };
    let mut table = settings
        .permissions
        .iter()
        .map(|(path, names)| entry(path, names))
        .collect::<Result<Vec<_>, _>>()?;
    for m in &settings.mounts {
        if let Some(names) = &m.permissions {
            let (at, perms) = entry(&m.path, names)?;
            if !table.iter().any(|(p, _)| *p == at) {
                table.push((at, perms));
            }
        }
    }
    Ok(Rights::new(table, read_only))
}
