//! `identity:` — who answers a login besides `users:`: an HTTP hook and an
//! LDAP directory (Active Directory), asked in the order `identity.order`
//! gives; and, per account, whether a TLS client certificate takes part.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Dur, Secret};
use std::time::Duration;

/// `identity:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Identity {
    /// The sources a login asks, in order: the first that knows the user
    /// decides. `users` is this file's `users:` (and `anonymous`).
    pub order: Vec<SourceName>,
    /// The HTTP auth hook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<Hook>,
    /// The LDAP directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ldap: Option<Ldap>,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            order: vec![SourceName::Users],
            hook: None,
            ldap: None,
        }
    }
}

/// A source of `identity.order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceName {
    /// `users:` of this file.
    Users,
    /// `identity.hook`.
    Hook,
    /// `identity.ldap`.
    Ldap,
}

impl SourceName {
    /// The name in logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Hook => "hook",
            Self::Ldap => "ldap",
        }
    }
}

/// What a source that is down or answers nonsense does to the login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnOutage {
    /// The login is refused (fail closed).
    #[default]
    Refuse,
    /// The next source is asked, as if this one did not know the user.
    Skip,
}

/// The answers a source's cache keeps, by a salted hash of name and
/// password (never the password).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cache {
    /// How long a granted login is answered from memory: also how long a
    /// disabled account or a changed password may still log in. 0: off.
    pub ttl: Dur,
    /// How long a refused login is answered from memory. 0: off.
    pub negative_ttl: Dur,
    /// While the source is down, a granted login this much older than
    /// `ttl` is still served (off by default: fail closed).
    pub serve_stale: Dur,
    /// Entries kept at most.
    pub max_entries: usize,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            ttl: Dur(Duration::from_secs(60)),
            negative_ttl: Dur(Duration::from_secs(5)),
            serve_stale: Dur(Duration::ZERO),
            max_entries: 10_000,
        }
    }
}

/// `identity.hook`: an HTTP(S) endpoint that answers each login.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// `https://…` (or `http://` to a loopback address).
    pub url: String,
    /// Wait for the answer at most this long.
    #[serde(default = "five_seconds")]
    pub timeout: Dur,
    /// PEM trust anchors for an `https` hook (absent: the system's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The `Authorization` header sent with each request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Secret>,
    /// Answers kept in memory.
    #[serde(default)]
    pub cache: Cache,
    /// When the hook is down or answers nonsense.
    #[serde(default)]
    pub on_outage: OnOutage,
}

/// `identity.ldap`: an LDAP directory or Active Directory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ldap {
    /// `ldaps://host:636` or `ldap://host:389` (with `start_tls`).
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub start_tls: bool,
    /// PEM trust anchors (absent: the system's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Allow `ldap://` without StartTLS: passwords cross the network in clear.
    #[serde(default)]
    pub allow_plain: bool,
    /// Each request (connect, bind, search) at most this long.
    #[serde(default = "five_seconds")]
    pub timeout: Dur,
    /// The service account that searches (search, then bind as the user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_dn: Option<String>,
    /// Its password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_password: Option<Secret>,
    /// Where users are searched.
    #[serde(default)]
    pub base_dn: String,
    /// Which entry is the user: `{username}` is the login name, escaped
    /// (AD: `(&(objectClass=user)(sAMAccountName={username}))`).
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// Direct bind, no search: the user's DN (`uid={username},ou=people,…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_dn_template: Option<String>,
    /// The attribute listing a user's groups by DN (`memberOf`), when no
    /// `group_search` is set.
    #[serde(default = "default_group_attribute")]
    pub group_attribute: String,
    /// Groups found by a search instead (nested AD groups through the
    /// in-chain rule: `(member:1.2.840.113556.1.4.1941:={dn})`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_search: Option<GroupSearch>,
    /// Directory groups, by DN, and the `groups:` entry each one gives;
    /// a user in several takes them in this order.
    #[serde(default)]
    pub groups: Vec<GroupMap>,
    /// A user in none of `groups` is refused.
    #[serde(default = "yes")]
    pub require_group: bool,
    /// An attribute whose value is the user's `home`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_attribute: Option<String>,
    /// Login names are compared in lower case (`ALICE` is `alice`, as the
    /// directory compares them) and the account is named in lower case.
    #[serde(default = "yes")]
    pub fold_case: bool,
    /// Connections kept open (and used at once) at most.
    #[serde(default = "default_pool")]
    pub pool_size: usize,
    /// Answers kept in memory.
    #[serde(default)]
    pub cache: Cache,
    /// When the directory is down or answers nonsense.
    #[serde(default)]
    pub on_outage: OnOutage,
}

/// `identity.ldap.group_search`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSearch {
    /// Where groups are searched (absent: `base_dn`).
    #[serde(default)]
    pub base_dn: Option<String>,
    /// `{dn}` is the user's DN, `{username}` the login name, both escaped.
    #[serde(default = "default_group_filter")]
    pub filter: String,
}

/// One entry of `identity.ldap.groups`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMap {
    /// The directory group's DN (compared as LDAP compares DNs).
    pub dn: String,
    /// The entry of `groups:` its members take.
    pub group: String,
}

fn five_seconds() -> Dur {
    Dur(Duration::from_secs(5))
}
fn yes() -> bool {
    true
}
fn default_pool() -> usize {
    4
}
fn default_user_filter() -> String {
    "(uid={username})".into()
}
fn default_group_attribute() -> String {
    "memberOf".into()
}
fn default_group_filter() -> String {
    "(member={dn})".into()
}

/// Per account: what a TLS client certificate does at login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertMode {
    /// Not looked at (the default).
    #[default]
    Off,
    /// The password logs in; a certificate, when sent, must be this account's.
    Optional,
    /// The password and this account's certificate.
    Required,
    /// This account's certificate alone; no password login.
    InsteadOfPassword,
}

/// A SHA-256 fingerprint as 32 bytes, from hex with or without colons.
#[must_use]
pub fn fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(hex.trim()).ok()?;
    bytes.try_into().ok()
}
