//! A source's recent answers, so that a login storm does not become a
//! storm on the hook or the directory. Keyed by an HMAC-SHA256, under a key
//! made at start and never stored, of the login name, the password and
//! the client certificate's fingerprint: the password is not kept, and
//! the key cannot be recomputed from a memory dump without the process key.
//!
//! A granted login is served for `ttl` (also how long a disabled account
//! or an old password still works), a refused one for `negative_ttl`;
//! while the source is down, a granted one up to `serve_stale` past its
//! `ttl` when configured (off by default).

use std::time::{Duration, Instant};

use dashmap::DashMap;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use super::Account;
use crate::config;

/// What a source answered, as kept.
#[derive(Debug, Clone)]
pub enum Kept {
    /// Granted: this account.
    Granted(Box<Account>),
    /// Refused: why.
    Denied(String),
}

#[derive(Debug)]
struct Entry {
    kept: Kept,
    at: Instant,
}

/// One source's cache.
#[derive(Debug)]
pub struct Cache {
    key: [u8; 32],
    entries: DashMap<[u8; 32], Entry>,
    cfg: config::Cache,
}

impl Cache {
    /// An empty cache with a fresh key.
    #[must_use]
    pub fn new(cfg: &config::Cache) -> Self {
        Self {
            key: rand::random(),
            entries: DashMap::new(),
            cfg: cfg.clone(),
        }
    }

    /// The key of a login: name, password (or none), certificate.
    #[must_use]
    pub fn key_of(&self, name: &str, password: Option<&str>, cert: Option<&[u8; 32]>) -> [u8; 32] {
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes any key length");
        for part in [
            name.as_bytes(),
            password.map_or(&b"\x00none"[..], str::as_bytes),
            cert.map_or(&b""[..], |c| &c[..]),
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// A fresh answer for `key`, if any.
    #[must_use]
    pub fn fresh(&self, key: &[u8; 32], now: Instant) -> Option<Kept> {
        let e = self.entries.get(key)?;
        let age = now.saturating_duration_since(e.at);
        let ttl = match e.kept {
            Kept::Granted(_) => self.cfg.ttl.0,
            Kept::Denied(_) => self.cfg.negative_ttl.0,
        };
        (age < ttl).then(|| e.kept.clone())
    }

    /// A granted answer for `key` the source being down allows serving:
    /// younger than `ttl + serve_stale`.
    #[must_use]
    pub fn stale(&self, key: &[u8; 32], now: Instant) -> Option<(Account, Duration)> {
        if self.cfg.serve_stale.0.is_zero() {
            return None;
        }
        let e = self.entries.get(key)?;
        let age = now.saturating_duration_since(e.at);
        match &e.kept {
            Kept::Granted(a) if age < self.cfg.ttl.0 + self.cfg.serve_stale.0 => {
                Some(((**a).clone(), age))
            }
            _ => None,
        }
    }

    /// Keeps an answer (unless its TTL is 0); past `max_entries`, expired
    /// entries go first, and a full cache of live ones keeps nothing more.
    pub fn keep(&self, key: [u8; 32], kept: Kept, now: Instant) {
        let ttl = match kept {
            Kept::Granted(_) => self.cfg.ttl.0,
            Kept::Denied(_) => self.cfg.negative_ttl.0,
        };
        if ttl.is_zero() {
            return;
        }
        if self.entries.len() >= self.cfg.max_entries {
            let longest = self.cfg.ttl.0.max(self.cfg.negative_ttl.0) + self.cfg.serve_stale.0;
            self.entries
                .retain(|_, e| now.saturating_duration_since(e.at) < longest);
            if self.entries.len() >= self.cfg.max_entries {
                return;
            }
        }
        self.entries.insert(key, Entry { kept, at: now });
    }

    /// Forgets a login's answer (the source no longer knows the user).
    pub fn forget(&self, key: &[u8; 32]) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Dur, Settings, SourceName};

    fn account() -> Box<Account> {
        Box::new(Account {
            name: "a".into(),
            settings: Settings::default(),
            source: SourceName::Hook,
        })
    }

    #[test]
    fn keys_differ_by_every_part_and_by_process() {
        let c = Cache::new(&config::Cache::default());
        let k = c.key_of("a", Some("pw"), None);
        assert_eq!(k, c.key_of("a", Some("pw"), None));
        assert_ne!(k, c.key_of("a", Some("pw2"), None));
        assert_ne!(k, c.key_of("b", Some("pw"), None));
        assert_ne!(k, c.key_of("a", None, None));
        assert_ne!(k, c.key_of("a", Some("pw"), Some(&[1; 32])));
        assert_ne!(
            c.key_of("ab", Some("c"), None),
            c.key_of("a", Some("bc"), None)
        );
        let other = Cache::new(&config::Cache::default());
        assert_ne!(k, other.key_of("a", Some("pw"), None));
    }

    #[test]
    fn ttls_and_stale_serving() {
        let cfg = config::Cache {
            ttl: Dur(Duration::from_secs(60)),
            negative_ttl: Dur(Duration::from_secs(5)),
            serve_stale: Dur(Duration::from_secs(600)),
            max_entries: 2,
        };
        let c = Cache::new(&cfg);
        let t0 = Instant::now();
        let (k1, k2, k3) = (
            c.key_of("a", Some("1"), None),
            c.key_of("b", Some("2"), None),
            c.key_of("c", Some("3"), None),
        );
        c.keep(k1, Kept::Granted(account()), t0);
        c.keep(k2, Kept::Denied("no".into()), t0);
        assert!(matches!(
            c.fresh(&k1, t0 + Duration::from_secs(59)),
            Some(Kept::Granted(_))
        ));
        assert!(c.fresh(&k1, t0 + Duration::from_secs(61)).is_none());
        assert!(c.stale(&k1, t0 + Duration::from_secs(61)).is_some());
        assert!(c.stale(&k1, t0 + Duration::from_secs(661)).is_none());
        assert!(matches!(
            c.fresh(&k2, t0 + Duration::from_secs(4)),
            Some(Kept::Denied(_))
        ));
        assert!(c.fresh(&k2, t0 + Duration::from_secs(6)).is_none());
        assert!(
            c.stale(&k2, t0).is_none(),
            "a refusal is never served stale"
        );
        // Full of live entries: nothing more is kept.
        c.keep(k3, Kept::Granted(account()), t0);
        assert!(c.fresh(&k3, t0).is_none());
        // Once they expire, room is made.
        c.keep(k3, Kept::Granted(account()), t0 + Duration::from_secs(700));
        assert!(c.fresh(&k3, t0 + Duration::from_secs(700)).is_some());
    }
}
