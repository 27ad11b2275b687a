//! Reload without restart (SIGHUP): the config file is read again and, when
//! it is valid, its accounts take effect for new logins — users, groups,
//! anonymous, storage profiles, permissions, quotas and per-account limits
//! — as does a renewed TLS certificate. Running sessions keep the account
//! and the tree they logged in with.
//!
//! What is bound or sized at start — listeners, passive ports, the global
//! limits and timeouts, the S3 connection cap, logging — stays as it was:
//! a change there is logged as "restart needed", by key. A file that does
//! not load (YAML, validation, a secret file) changes nothing: the error is
//! logged and the old configuration stays. Per-bucket state (uploads in
//! progress, what was learnt of each bucket) and quota usage survive: a
//! profile on a client and bucket already in use keeps them.
//!
//! Variables (`S3FTPD_USERS`, `S3FTPD_S3_SECRET_ACCESS_KEY`, …) are the
//! process's own: a reload reads them again unchanged. Files named by
//! `*_file` keys are read again.

use std::path::Path;
use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::ftp::context::Accounts;

use super::Gateway;

/// What a reload did.
#[derive(Debug)]
pub struct Reloaded {
    /// Accounts in the file (users; anonymous counts when enabled).
    pub users: usize,
    /// Storage profiles.
    pub profiles: usize,
    /// Keys whose change waits for a restart.
    pub restart_needed: Vec<&'static str>,
}

/// The sections a reload cannot change, with their differences.
fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    fn differs<T: serde::Serialize>(a: &T, b: &T) -> bool {
        serde_yaml::to_value(a).ok() != serde_yaml::to_value(b).ok()
    }
    let mut keys = Vec::new();
    macro_rules! compare {
        ($($field:ident).+ => $key:literal) => {
            if differs(&old.$($field).+, &new.$($field).+) {
                keys.push($key);
            }
        };
    }
    compare!(listen => "listen");
    compare!(banner => "banner");
    compare!(passive => "passive");
    compare!(active => "active");
    compare!(limits => "limits");
    compare!(uploads => "uploads");
    compare!(metrics => "metrics");
    compare!(proxy_protocol => "proxy_protocol");
    compare!(log => "log");
    compare!(ftp => "ftp");
    compare!(s3.max_connections => "s3.max_connections");
    compare!(s3.data_dir => "s3.data_dir");
    // The certificate's files are read again (the same paths).
    compare!(tls => "tls");
    compare!(events => "events");
    keys
}

impl Gateway {
    /// Reads `path` again and applies what can change without a restart
    /// (see the module docs), then renews the TLS certificate.
    ///
    /// # Errors
    /// When the file does not load: nothing changed.
    pub async fn reload(&self, path: &Path) -> Result<Reloaded, ConfigError> {
        let new = Config::load(path)?;
        let old = &self.shared.config;
        let restart_needed = restart_needed(old, &new);
        for key in &restart_needed {
            tracing::warn!(
                key,
                "reload: `{key}` changed; restart needed (the running value stays)"
            );
        }
        if let Some(e) = &self.embedded {
            for (name, s3) in new.profiles() {
                if s3.is_embedded()
                    && let Err(err) = e.add_bucket(&s3.bucket)
                {
                    tracing::error!(profile = name, error = %err, "reload: the embedded store cannot make the profile's bucket");
                }
            }
        }
        let current = self.shared.accounts.load_full();
        let profiles = super::s3::profiles(&new, self.embedded.as_ref());
        let storages = current.storages.reconnect(&profiles).await;
        super::s3::report_buckets(&storages).await;
        let identity = match crate::auth::Identity::from_config(Arc::new(new.clone())) {
            Ok(i) => i,
            Err(e) => {
                return Err(ConfigError::Invalid {
                    key: "identity".into(),
                    msg: e,
                });
            }
        };
        super::s3::sweep_uploads(
            &storages,
            &self.swept,
            self.shared.config.uploads.abandoned_after.0,
            &self.observe_stop,
        );
        let report = Reloaded {
            users: new.users.len() + usize::from(new.anonymous.enabled),
            profiles: profiles.len(),
            restart_needed,
        };
        self.shared.events.set_storages(&storages);
        self.shared
            .accounts
            .store(Arc::new(Accounts { identity, storages }));
        // Log rotation: the files are opened again at their paths.
        self.shared.events.reopen();
        if let Some(log) = &self.shared.transfer_log {
            log.reopen();
        }
        if let Err(e) = self.reload_tls() {
            tracing::error!(error = %e, "reload: TLS certificate not renewed; the old one stays");
        }
        for w in new
            .shared_roots()
            .into_iter()
            .chain(new.identity_warnings())
        {
            tracing::warn!("{w}");
        }
        tracing::info!(
            users = report.users,
            profiles = report.profiles,
            "configuration reloaded: new logins use it, running sessions keep theirs"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_and_limits_wait_for_a_restart_accounts_do_not() {
        let base = "s3: { bucket: b }\nusers: [{ name: a, password: x }]\n";
        let old = Config::from_yaml(base, Vec::new()).unwrap();
        let accounts = Config::from_yaml(
            "s3: { bucket: b }\nstorages: { o: { bucket: c } }\nusers: [{ name: a, password: y, quota: { files: 3 } }, { name: b, password: z }]\n",
            Vec::new(),
        )
        .unwrap();
        assert!(restart_needed(&old, &accounts).is_empty());
        let global = Config::from_yaml(
            "listen: 127.0.0.1:2999\ns3: { bucket: b, max_connections: 7 }\nlimits: { max_sessions: 3 }\nusers: [{ name: a, password: x }]\n",
            Vec::new(),
        )
        .unwrap();
        assert_eq!(
            restart_needed(&old, &global),
            vec!["listen", "limits", "s3.max_connections"]
        );
    }
}
