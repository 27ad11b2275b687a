//! LDAP and Active Directory (`identity.ldap`), with `ldap3` over rustls.
//!
//! A login: the service account finds the user's entry with `user_filter`
//! (or the DN comes from `bind_dn_template`), the user's groups are read
//! (`memberOf`, or a `group_search`), then the user's own bind checks the
//! password. Groups are matched to `identity.ldap.groups` by whole DN,
//! normalised as LDAP compares DNs. An empty password is refused before
//! the directory sees it (an LDAP bind with no password is anonymous, not
//! a login). Connections are pooled, at most `pool_size`, each request
//! bounded by `timeout`; a connection that failed is dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use tokio::sync::Semaphore;

use super::{Account, Request, Verdict};
use crate::config::{self, Config, SourceName, User, normalise_dn};

/// LDAP's invalidCredentials result code.
const INVALID_CREDENTIALS: u32 = 49;

struct Conn {
    ldap: Ldap,
    /// Bound as the service account (else as the last user, or anonymous).
    as_service: bool,
}

/// The directory of a running gateway.
pub struct Directory {
    cfg: config::Ldap,
    settings: LdapConnSettings,
    /// Idle connections.
    idle: Mutex<Vec<Conn>>,
    /// Connections in use at most.
    permits: Arc<Semaphore>,
    /// `groups`, their DNs normalised, in order.
    groups: Vec<(String, String)>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("url", &self.cfg.url)
            .finish_non_exhaustive()
    }
}

/// Why a request failed: the directory said no, or it could not be asked.
enum Failure {
    Denied(String),
    Down(String),
}

impl From<LdapError> for Failure {
    fn from(e: LdapError) -> Self {
        Self::Down(e.to_string())
    }
}

impl Directory {
    /// The directory client for `cfg` (no connection yet).
    ///
    /// # Errors
    /// `ca_file` cannot be used.
    pub fn new(cfg: &config::Ldap) -> Result<Self, String> {
        let tls = super::tls_client::client_config(cfg.ca_file.as_deref())
            .map_err(|e| format!("identity.ldap.ca_file: {e}"))?;
        let settings = LdapConnSettings::new()
            .set_config(tls)
            .set_starttls(cfg.start_tls)
            .set_conn_timeout(cfg.timeout.0);
        let groups = cfg
            .groups
            .iter()
            .filter_map(|g| Some((normalise_dn(&g.dn).ok()?, g.group.clone())))
            .collect();
        Ok(Self {
            settings,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(cfg.pool_size)),
            groups,
            cfg: cfg.clone(),
        })
    }

    /// The name the directory's account is known by: folded to lower
    /// case when `fold_case` (the directory compares names without case).
    #[must_use]
    pub fn account_name(&self, name: &str) -> String {
        if self.cfg.fold_case {
            name.to_lowercase()
        } else {
            name.to_owned()
        }
    }

    /// Connects and, with a service account, binds as it: what
    /// `check-config` asks of the directory.
    ///
    /// # Errors
    /// Why the directory cannot be used.
    pub async fn probe(&self) -> Result<(), String> {
        let (mut conn, _) = self
            .checkout()
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.cfg.url))?;
        match self.bind_service(&mut conn).await {
            Ok(()) => Ok(()),
            Err(Failure::Down(why) | Failure::Denied(why)) => Err(why),
        }
    }

    /// Asks the directory about one login (no password: a certificate
    /// login, which needs the service account to find the user).
    pub async fn ask(&self, req: &Request<'_>, config: &Config) -> Verdict {
        if req.password.is_some_and(|p| p.expose().is_empty()) {
            return Verdict::Denied(
                "empty password (an LDAP bind without one is anonymous, not a login)".into(),
            );
        }
        if req.password.is_none() && self.cfg.bind_dn.is_none() {
            return Verdict::Unknown;
        }
        let Ok(_permit) = self.permits.clone().acquire_owned().await else {
            return Verdict::Unavailable("the connection pool is closed".into());
        };
        let name = self.account_name(req.name);
        // A pooled connection may have died while idle (the directory
        // restarted, a firewall forgot it): its failure is retried once
        // on a new connection before the directory counts as down.
        let mut reused = true;
        loop {
            let conn = if reused {
                self.checkout().await
            } else {
                self.connect().await
            };
            let (mut conn, was_pooled) = match conn {
                Ok(c) => c,
                Err(e) => {
                    return Verdict::Unavailable(format!(
                        "cannot connect to {}: {e}",
                        self.cfg.url
                    ));
                }
            };
            match self.login(&mut conn, &name, req, config).await {
                Ok(verdict) => {
                    self.checkin(conn);
                    return verdict;
                }
                Err(Failure::Denied(why)) => {
                    self.checkin(conn);
                    return Verdict::Denied(why);
                }
                Err(Failure::Down(why)) if was_pooled => {
                    tracing::debug!(reason = %why, "a pooled LDAP connection failed; once more on a new one");
                    reused = false;
                }
                Err(Failure::Down(why)) => return Verdict::Unavailable(why),
            }
        }
    }

    async fn login(
        &self,
        conn: &mut Conn,
        name: &str,
        req: &Request<'_>,
        config: &Config,
    ) -> Result<Verdict, Failure> {
        let entry = if self.cfg.bind_dn.is_some() {
            match self.search_user(conn, name).await? {
                Some(e) => e,
                None => return Ok(Verdict::Unknown),
            }
        } else {
            // A direct bind: the user's own bind comes first, then it
            // reads its own entry (its groups).
            let template = self.cfg.bind_dn_template.as_deref().unwrap_or_default();
            let dn = template.replace("{username}", &ldap3::dn_escape(name));
            let Some(password) = req.password else {
                return Ok(Verdict::Unknown);
            };
            self.bind_user(conn, &dn, password.expose()).await?;
            self.read_own_entry(conn, &dn).await?
        };
        let groups = self.groups_of(conn, &entry, name).await?;
        if self.cfg.bind_dn.is_some()
            && let Some(password) = req.password
        {
            self.bind_user(conn, &entry.dn, password.expose()).await?;
        }
        let normalised: Vec<String> = groups.iter().filter_map(|g| normalise_dn(g).ok()).collect();
        let mapped: Vec<String> = self
            .groups
            .iter()
            .filter(|(dn, _)| normalised.contains(dn))
            .map(|(_, g)| g.clone())
            .collect();
        if mapped.is_empty() && self.cfg.require_group {
            return Err(Failure::Denied(
                "in none of identity.ldap.groups (require_group)".into(),
            ));
        }
        let mut user = User::named(name);
        user.groups = mapped;
        user.home = self
            .cfg
            .home_attribute
            .as_deref()
            .and_then(|a| attribute(&entry, a).into_iter().next());
        Ok(match config.external_settings("ldap entry", &user) {
            Ok(settings) => Verdict::Granted(Box::new(Account {
                name: user.name,
                settings,
                source: SourceName::Ldap,
            })),
            Err(e) => Verdict::Unavailable(format!("the entry cannot be used: {e}")),
        })
    }

    /// Checks a password by the user's own bind.
    async fn bind_user(&self, conn: &mut Conn, dn: &str, password: &str) -> Result<(), Failure> {
        let bound = conn
            .ldap
            .with_timeout(self.cfg.timeout.0)
            .simple_bind(dn, password)
            .await?;
        conn.as_service = false;
        match bound.rc {
            0 => Ok(()),
            INVALID_CREDENTIALS => Err(Failure::Denied(
                "wrong password or no such user (LDAP invalidCredentials)".into(),
            )),
            rc => Err(Failure::Denied(format!(
                "the directory refused the bind: {}",
                ldap_text(rc)
            ))),
        }
    }

    /// The DNs of the user's groups: `group_search`, or `group_attribute`.
    async fn groups_of(
        &self,
        conn: &mut Conn,
        entry: &SearchEntry,
        name: &str,
    ) -> Result<Vec<String>, Failure> {
        let Some(gs) = &self.cfg.group_search else {
            return Ok(attribute(entry, &self.cfg.group_attribute));
        };
        let base = gs.base_dn.as_deref().unwrap_or(&self.cfg.base_dn);
        let filter = gs
            .filter
            .replace("{dn}", &ldap3::ldap_escape(&entry.dn))
            .replace("{username}", &ldap3::ldap_escape(name));
        let (found, _) = conn
            .ldap
            .with_timeout(self.cfg.timeout.0)
            .search(base, Scope::Subtree, &filter, vec!["1.1"])
            .await?
            .success()?;
        Ok(found
            .into_iter()
            .map(|e| SearchEntry::construct(e).dn)
            .collect())
    }

    /// The attributes a login reads from the user's entry.
    fn entry_attributes(&self) -> Vec<String> {
        let mut attrs = vec![self.cfg.group_attribute.clone()];
        attrs.extend(self.cfg.home_attribute.clone());
        attrs
    }

    /// The user's entry, found by the service account with `user_filter`.
    async fn search_user(
        &self,
        conn: &mut Conn,
        name: &str,
    ) -> Result<Option<SearchEntry>, Failure> {
        self.bind_service(conn).await?;
        let filter = self
            .cfg
            .user_filter
            .replace("{username}", &ldap3::ldap_escape(name));
        let (mut entries, _) = conn
            .ldap
            .with_timeout(self.cfg.timeout.0)
            .search(
                &self.cfg.base_dn,
                Scope::Subtree,
                &filter,
                self.entry_attributes(),
            )
            .await?
            .success()?;
        match entries.len() {
            0 => Ok(None),
            1 => Ok(Some(SearchEntry::construct(entries.remove(0)))),
            n => Err(Failure::Down(format!(
                "identity.ldap.user_filter matches {n} entries for one login; it must match one"
            ))),
        }
    }

    /// The bound user's own entry (its groups, its home); where the
    /// directory lets a user not read it, none of its attributes.
    async fn read_own_entry(&self, conn: &mut Conn, dn: &str) -> Result<SearchEntry, Failure> {
        let found = conn
            .ldap
            .with_timeout(self.cfg.timeout.0)
            .search(dn, Scope::Base, "(objectClass=*)", self.entry_attributes())
            .await?;
        match found.success() {
            Ok((mut entries, _)) if entries.len() == 1 => {
                Ok(SearchEntry::construct(entries.remove(0)))
            }
            _ => Ok(SearchEntry {
                dn: dn.to_owned(),
                attrs: std::collections::HashMap::new(),
                bin_attrs: std::collections::HashMap::new(),
            }),
        }
    }

    async fn bind_service(&self, conn: &mut Conn) -> Result<(), Failure> {
        if conn.as_service {
            return Ok(());
        }
        let (Some(dn), Some(pw)) = (&self.cfg.bind_dn, &self.cfg.bind_password) else {
            return Ok(());
        };
        let r = conn
            .ldap
            .with_timeout(self.cfg.timeout.0)
            .simple_bind(dn, pw.expose())
            .await?;
        if r.rc != 0 {
            return Err(Failure::Down(format!(
                "the service account (identity.ldap.bind_dn) cannot bind: {}",
                ldap_text(r.rc)
            )));
        }
        conn.as_service = true;
        Ok(())
    }

    /// An idle connection of the pool (`true`), or a new one.
    async fn checkout(&self) -> Result<(Conn, bool), String> {
        loop {
            let idle = self.idle.lock().expect("pool lock").pop();
            match idle {
                Some(mut c) => {
                    if !c.ldap.is_closed() {
                        return Ok((c, true));
                    }
                }
                None => return self.connect().await,
            }
        }
    }

    /// A new connection (`false`: not from the pool).
    async fn connect(&self) -> Result<(Conn, bool), String> {
        let connect = LdapConnAsync::with_settings(self.settings.clone(), &self.cfg.url);
        let (conn, ldap) =
            tokio::time::timeout(self.cfg.timeout.0 + Duration::from_millis(100), connect)
                .await
                .map_err(|_| format!("no connection within {:?}", self.cfg.timeout.0))?
                .map_err(|e| e.to_string())?;
        ldap3::drive!(conn);
        let conn = Conn {
            ldap,
            as_service: false,
        };
        Ok((conn, false))
    }

    fn checkin(&self, conn: Conn) {
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < self.cfg.pool_size {
            idle.push(conn);
        }
    }
}

/// The values of `name` in `entry`, whatever the case of the name.
fn attribute(entry: &SearchEntry, name: &str) -> Vec<String> {
    entry
        .attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect()
}

fn ldap_text(rc: u32) -> String {
    match rc {
        INVALID_CREDENTIALS => "invalidCredentials (49)".into(),
        32 => "noSuchObject (32)".into(),
        50 => "insufficientAccessRights (50)".into(),
        53 => "unwillingToPerform (53)".into(),
        rc => format!("result code {rc}"),
    }
}
