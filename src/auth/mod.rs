//! Accounts: who may log in, and with which settings (home, storage
//! profile, mounts, rights: the user's own merged with its groups').
//! Where those settings put the account in storage is the namespace's
//! business (`namespace::tree`); this module knows no paths.
//!
//! A login asks the identity sources in `identity.order` — this file's
//! `users:`, an HTTP hook, an LDAP directory — and the first that knows
//! the user decides. A source that is down or answers nonsense ends the
//! chain with a refusal (fail closed) unless its `on_outage` is `skip`.
//! Every source answers in the `users:` schema and is checked as the file
//! is; a TLS client certificate is then held against the account's
//! `certificate` setting whichever source answered.

mod cache;
pub mod cert;
mod hook;
mod ldap;
pub mod tls_client;
mod users;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use cert::ClientCert;
pub use users::{Users, hash_password, is_anonymous_name, verify_hash};

use crate::config::{Config, OnOutage, Secret, Settings, SourceName};

/// A logged-in user: its name, its settings, and who vouched for it.
#[derive(Debug, Clone)]
pub struct Account {
    /// Login name (`anonymous` for anonymous sessions).
    pub name: String,
    /// Home, profile, mounts, read-only and per-user settings: the user's
    /// own, then its groups' where it sets none.
    pub settings: Settings,
    /// The source that answered.
    pub source: SourceName,
}

/// One login, as the sources see it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The name given to USER.
    pub name: &'a str,
    /// The password given to PASS; `None` for a certificate login.
    pub password: Option<&'a Secret>,
    /// The client's address.
    pub ip: IpAddr,
    /// The control connection is TLS.
    pub secure: bool,
    /// The session's id in this gateway's logs.
    pub session: &'a str,
    /// The client certificate the handshake verified, if any.
    pub cert: Option<&'a ClientCert>,
}

/// What one source says.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// This account, password (or certificate) right.
    Granted(Box<Account>),
    /// The source knows the user and refuses: why.
    Denied(String),
    /// Not this source's user: the next is asked.
    Unknown,
    /// The source is down or answered nonsense: why.
    Unavailable(String),
}

/// What the chain decided, for the log and the metrics.
#[derive(Debug)]
pub struct Decision {
    /// The source that decided (`None`: no source knew the user).
    pub source: Option<SourceName>,
    /// Its verdict (`Unknown` when none knew the user).
    pub verdict: Verdict,
    /// Answered from the source's cache (`stale`: while it was down).
    pub cached: Option<&'static str>,
    /// How long the chain took.
    pub latency: Duration,
}

enum Source {
    Users,
    Hook(hook::Hook, cache::Cache, OnOutage),
    Ldap(ldap::Directory, cache::Cache, OnOutage),
}

impl Source {
    fn on_outage(&self) -> OnOutage {
        match self {
            Self::Users => OnOutage::Refuse,
            Self::Hook(.., o) | Self::Ldap(.., o) => *o,
        }
    }
}

/// The identity sources of a configuration, in order.
pub struct Identity {
    config: Arc<Config>,
    users: Users,
    sources: Vec<(SourceName, Source)>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.sources.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Identity")
            .field("order", &names)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The sources of a validated config.
    ///
    /// # Errors
    /// A hook or directory that cannot be set up (a CA file), naming its key.
    pub fn from_config(config: Arc<Config>) -> Result<Self, String> {
        let mut sources = Vec::new();
        for name in &config.identity.order {
            let source = match name {
                SourceName::Users => Source::Users,
                SourceName::Hook => {
                    let h = config
                        .identity
                        .hook
                        .as_ref()
                        .ok_or("identity.hook is not set")?;
                    Source::Hook(
                        hook::Hook::new(h)?,
                        cache::Cache::new(&h.cache),
                        h.on_outage,
                    )
                }
                SourceName::Ldap => {
                    let l = config
                        .identity
                        .ldap
                        .as_ref()
                        .ok_or("identity.ldap is not set")?;
                    Source::Ldap(
                        ldap::Directory::new(l)?,
                        cache::Cache::new(&l.cache),
                        l.on_outage,
                    )
                }
            };
            sources.push((*name, source));
        }
        Ok(Self {
            users: Users::from_config(&config),
            config,
            sources,
        })
    }

    /// What `check-config` can check without logging anyone in: each
    /// directory connects and binds its service account. The hook is not
    /// asked (any request to it would be a login).
    ///
    /// # Errors
    /// The first source that cannot be used, and why.
    pub async fn probe(&self) -> Result<(), String> {
        for (name, source) in &self.sources {
            if let Source::Ldap(l, ..) = source {
                l.probe()
                    .await
                    .map_err(|why| format!("identity source `{}`: {why}", name.as_str()))?;
            }
        }
        Ok(())
    }

    /// This file's users (`users:`, `anonymous`).
    #[must_use]
    pub fn users(&self) -> &Users {
        &self.users
    }

    /// Whether the file's users are a source.
    fn file_is_asked(&self) -> bool {
        self.sources.iter().any(|(n, _)| *n == SourceName::Users)
    }

    /// The settings of `name` as the file gives them, before any password
    /// is checked (its address lists); `None` when the file is no source
    /// or does not know the name.
    #[must_use]
    pub fn file_settings(&self, name: &str) -> Option<&Settings> {
        self.file_is_asked()
            .then(|| self.users.settings(name))
            .flatten()
    }

    /// Asks the sources in order about a login with a password (or, with
    /// `req.password` `None`, a certificate login): the first that knows
    /// the user decides; the account's `certificate` setting is then held
    /// against the client certificate.
    pub async fn login(&self, req: &Request<'_>) -> Decision {
        let started = Instant::now();
        for (name, source) in &self.sources {
            let (verdict, cached) = self.ask(source, req).await;
            if let Verdict::Unavailable(why) = &verdict
                && source.on_outage() == OnOutage::Skip
            {
                tracing::warn!(source = name.as_str(), reason = %why, "identity source unavailable; the next is asked (on_outage: skip)");
                continue;
            }
            if matches!(verdict, Verdict::Unknown) {
                continue;
            }
            let verdict = match verdict {
                Verdict::Granted(account) => {
                    let with_password = req.password.is_some();
                    match cert::refusal(&account.name, &account.settings, req.cert, with_password) {
                        None => Verdict::Granted(account),
                        Some(why) => Verdict::Denied(why.to_owned()),
                    }
                }
                v => v,
            };
            return Decision {
                source: Some(*name),
                verdict,
                cached,
                latency: started.elapsed(),
            };
        }
        Decision {
            source: None,
            verdict: Verdict::Unknown,
            cached: None,
            latency: started.elapsed(),
        }
    }

    /// One source's verdict, through its cache.
    async fn ask(&self, source: &Source, req: &Request<'_>) -> (Verdict, Option<&'static str>) {
        let cache = match source {
            Source::Users => return (self.ask_file(req).await, None),
            Source::Hook(_, cache, _) | Source::Ldap(_, cache, _) => cache,
        };
        let key = cache.key_of(
            req.name,
            req.password.map(Secret::expose),
            req.cert.map(|c| &c.sha256),
        );
        let now = Instant::now();
        match cache.fresh(&key, now) {
            Some(cache::Kept::Granted(a)) => return (Verdict::Granted(a), Some("fresh")),
            Some(cache::Kept::Denied(why)) => return (Verdict::Denied(why), Some("fresh")),
            None => {}
        }
        let verdict = match source {
            Source::Hook(h, ..) => h.ask(req, &self.config).await,
            Source::Ldap(l, ..) => l.ask(req, &self.config).await,
            Source::Users => Verdict::Unknown,
        };
        let now = Instant::now();
        match &verdict {
            Verdict::Granted(a) => cache.keep(key, cache::Kept::Granted(a.clone()), now),
            Verdict::Denied(why) => cache.keep(key, cache::Kept::Denied(why.clone()), now),
            Verdict::Unknown => cache.forget(&key),
            Verdict::Unavailable(why) => {
                if let Some((account, age)) = cache.stale(&key, now) {
                    tracing::warn!(reason = %why, age = ?age, "identity source unavailable; a cached login served (serve_stale)");
                    return (Verdict::Granted(Box::new(account)), Some("stale"));
                }
            }
        }
        (verdict, None)
    }

    /// The file's verdict: a password login, or a certificate login of an
    /// account that has one.
    async fn ask_file(&self, req: &Request<'_>) -> Verdict {
        if !self.users.knows(req.name) {
            return Verdict::Unknown;
        }
        let found = match req.password {
            Some(password) => self.users.verify(req.name, password).await,
            None => self.users.account(req.name),
        };
        found.map_or_else(
            || Verdict::Denied("wrong password".into()),
            |a| Verdict::Granted(Box::new(a)),
        )
    }
}
