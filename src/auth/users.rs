//! The `users` source: this file's `users:` and `anonymous`.
//!
//! Passwords are checked against argon2id PHC strings on the blocking pool
//! (argon2 is deliberately slow); plain-text passwords from the config are
//! compared in constant time and reported at start-up.

use std::collections::HashMap;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use subtle::ConstantTimeEq;

use super::Account;
use crate::config::{Config, Secret, Settings, SourceName};

#[derive(Debug, Clone)]
enum Credential {
    Hash(String),
    Plain(Secret),
    /// `certificate: instead_of_password`: no password logs in.
    None,
}

#[derive(Debug)]
struct Entry {
    credential: Credential,
    account: Account,
}

/// The account table.
#[derive(Debug, Clone)]
pub struct Users {
    users: Arc<HashMap<String, Entry>>,
    anonymous: Option<Account>,
}

/// Names that mean an anonymous login.
#[must_use]
pub fn is_anonymous_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp")
}

impl Users {
    /// Builds the table from a validated config.
    #[must_use]
    pub fn from_config(config: &Config) -> Self {
        let mut users = HashMap::new();
        for u in &config.users {
            let credential = match (&u.password_hash, &u.password) {
                (Some(h), _) => Credential::Hash(h.clone()),
                (None, Some(p)) => Credential::Plain(p.clone()),
                (None, None) => Credential::None,
            };
            let account = Account {
                name: u.name.clone(),
                settings: config.settings_of(u),
                source: SourceName::Users,
            };
            users.insert(
                u.name.clone(),
                Entry {
                    credential,
                    account,
                },
            );
        }
        let anonymous = config.anonymous.enabled.then(|| Account {
            name: "anonymous".into(),
            source: SourceName::Users,
            settings: Settings {
                home: Some(config.anonymous.home.clone()),
                read_only: Some(config.anonymous.read_only),
                ..Settings::default()
            },
        });
        Self {
            users: Arc::new(users),
            anonymous,
        }
    }

    /// Names of users configured with a plain-text password.
    #[must_use]
    pub fn plain_text_users(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .users
            .iter()
            .filter(|(_, e)| matches!(e.credential, Credential::Plain(_)))
            .map(|(n, _)| n.clone())
            .collect();
        v.sort();
        v
    }

    /// The settings of `name` as the file gives them, before any password
    /// is checked (the address lists); `None` for an unknown name.
    #[must_use]
    pub fn settings(&self, name: &str) -> Option<&Settings> {
        if is_anonymous_name(name) {
            return self.anonymous.as_ref().map(|a| &a.settings);
        }
        self.users.get(name).map(|e| &e.account.settings)
    }

    /// Whether `name` is this file's (a user, or anonymous when enabled).
    #[must_use]
    pub fn knows(&self, name: &str) -> bool {
        self.settings(name).is_some()
    }

    /// The account of `name`, its password unchecked: for a certificate
    /// login, which the chain then checks against the account's settings.
    #[must_use]
    pub fn account(&self, name: &str) -> Option<Account> {
        self.users.get(name).map(|e| e.account.clone())
    }

    /// Checks a login; `None` for an unknown user or a wrong password.
    pub async fn verify(&self, name: &str, password: &Secret) -> Option<Account> {
        if is_anonymous_name(name) {
            return self.anonymous.clone();
        }
        let entry = self.users.get(name)?;
        let ok = match &entry.credential {
            Credential::None => false,
            Credential::Plain(p) => {
                bool::from(p.expose().as_bytes().ct_eq(password.expose().as_bytes()))
            }
            Credential::Hash(h) => {
                let (h, pw) = (h.clone(), password.clone());
                tokio::task::spawn_blocking(move || verify_hash(&h, pw.expose()))
                    .await
                    .unwrap_or(false)
            }
        };
        ok.then(|| entry.account.clone())
    }
}

/// Verifies a password against a PHC string (blocking; argon2 is slow on purpose).
#[must_use]
pub fn verify_hash(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Hashes a password as an argon2id PHC string (`s3ftpd hash-password`), with
/// OWASP's recommended argon2id parameters (19 MiB, 2 iterations, 1 lane);
/// verification reads the parameters from the PHC string.
///
/// # Errors
/// When hashing fails (it does not with the default parameters).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let params = argon2::Params::new(19 * 1024, 2, 1, None)?;
    let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon.hash_password(password.as_bytes(), &salt)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_argon2id() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_hash(&h, "correct horse"));
        assert!(!verify_hash(&h, "wrong"));
        assert!(!verify_hash("garbage", "x"));
    }

    #[tokio::test]
    async fn users_and_anonymous() {
        let h = hash_password("pw").unwrap();
        let yaml = format!(
            "s3: {{ bucket: b, prefix: data }}\ngroups: {{ g: {{ home: /g, read_only: true, storage: x }} }}\nstorages: {{ x: {{ bucket: other }} }}\nusers:\n  - {{ name: a, password_hash: '{h}', home: /a }}\n  - {{ name: p, password: plain, groups: [g] }}\nanonymous: {{ enabled: true, home: /pub }}\n"
        );
        let config = Config::from_yaml(&yaml, Vec::new()).unwrap();
        let users = Users::from_config(&config);
        let a = users.verify("a", &Secret::new("pw")).await.unwrap();
        assert_eq!(a.settings.home.as_deref(), Some("/a"));
        assert!(users.verify("a", &Secret::new("nope")).await.is_none());
        let p = users.verify("p", &Secret::new("plain")).await.unwrap();
        assert_eq!(
            (
                p.settings.home.as_deref(),
                p.settings.read_only,
                p.settings.storage.as_deref()
            ),
            (Some("/g"), Some(true), Some("x")),
            "the group's settings"
        );
        assert!(users.verify("p", &Secret::new("plai")).await.is_none());
        assert!(users.verify("nobody", &Secret::new("x")).await.is_none());
        let anon = users
            .verify("anonymous", &Secret::new("me@example.com"))
            .await
            .unwrap();
        assert_eq!(anon.settings.home.as_deref(), Some("/pub"));
        assert_eq!(users.plain_text_users(), vec!["p".to_owned()]);
    }
}
