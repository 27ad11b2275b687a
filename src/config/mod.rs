//! Configuration: the YAML schema of DESIGN.md, environment overrides and validation.
//!
//! Loading is `YAML text → serde_yaml::Value → S3FTPD_* overrides → Config
//! (deny_unknown_fields) → validate()`, so the file, the environment and the
//! demo defaults go through one path and every error names its key.

mod accounts;
mod accounts_check;
mod defaults;
mod dn;
mod env;
mod events;
mod identity;
mod identity_check;
pub mod networks;
mod perms;
mod profiles;
mod redact;
mod replica;
mod timeouts;
mod types;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use accounts::{
    Groups, Mount, Quota, Settings, USERNAME, User, login_name_problem, normalise_prefix,
    same_path, static_prefix, substitute,
};
pub use dn::normalise_dn;
pub use events::{DATA_EVENTS, EVENT_TYPES, Events, Outbox, Webhook, check_secret};
pub use identity::fingerprint;
pub use identity::{
    Cache, CertMode, GroupMap, GroupSearch, Hook, Identity, Ldap, OnOutage, SourceName,
};
pub use perms::{Perm, Perms};
pub use profiles::{DEFAULT_PROFILE, Profile, Profiles, effective};
pub use redact::message as redact_message;
pub use timeouts::Timeouts;
pub use types::{Dur, PortRange, Rate, Secret, Size};

/// A configuration error; the message names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML does not match the schema (unknown key, wrong type).
    #[error("invalid config: {0}")]
    Parse(String),
    /// A value is out of range or inconsistent.
    #[error("invalid config key `{key}`: {msg}")]
    Invalid {
        /// Dotted key, e.g. `s3.part_size`.
        key: String,
        /// What is wrong.
        msg: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Control-channel listen address.
    pub listen: SocketAddr,
    /// Text of the 220 greeting.
    pub banner: String,
    /// Passive data connections.
    pub passive: Passive,
    /// Active (PORT/EPRT) data connections.
    pub active: Active,
    /// FTPS; absent means no FTPS.
    pub tls: Option<Tls>,
    /// The default storage profile.
    pub s3: S3,
    /// Other storage profiles, by name; each inherits what it does not set from `s3`.
    pub storages: Profiles,
    /// Groups of users, by name: settings their members take where they set none.
    pub groups: Groups,
    /// Accounts.
    pub users: Vec<User>,
    /// Who else answers a login: an HTTP hook, an LDAP directory.
    pub identity: Identity,
    /// Anonymous login.
    pub anonymous: Anonymous,
    /// Limits on peers.
    pub limits: Limits,
    /// Upload behaviour.
    pub uploads: Uploads,
    /// Metrics endpoint.
    pub metrics: Metrics,
    /// PROXY protocol from load balancers.
    pub proxy_protocol: ProxyProtocol,
    /// Logging.
    pub log: Log,
    /// The FTP conversation.
    pub ftp: Ftp,
    /// Webhooks, the audit log and the outbox of data events.
    pub events: Events,
}

/// `ftp:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ftp {
    /// Character set of names on the control connection and in listings
    /// (a WHATWG label: `utf-8`, `windows-1252`, `shift_jis`, …). Keys in
    /// S3 stay UTF-8. `OPTS UTF8 ON` switches a session to UTF-8.
    pub encoding: String,
}

impl Default for Ftp {
    fn default() -> Self {
        Self {
            encoding: "utf-8".into(),
        }
    }
}

/// The character set a label names, when it can serve FTP: ASCII-compatible
/// and stateless (not UTF-16, not ISO-2022-JP).
#[must_use]
pub fn ftp_encoding(label: &str) -> Option<&'static encoding_rs::Encoding> {
    let enc = encoding_rs::Encoding::for_label(label.trim().as_bytes())?;
    (enc.is_ascii_compatible() && enc.output_encoding() == enc).then_some(enc)
}

/// `proxy_protocol:` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyProtocol {
    /// Networks (CIDR) whose connections must start with a PROXY v1/v2
    /// header; empty: PROXY protocol off.
    pub trusted: Vec<String>,
}

/// `passive:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Passive {
    /// Inclusive range the data listeners bind in.
    pub ports: PortRange,
    /// IP or DNS name announced in the 227 reply.
    pub public_host: Option<String>,
    /// Replicas sharing this config each serve this many ports of `ports`
    /// (see [`replica`]): replica `i` the `i`-th share.
    pub ports_per_replica: Option<u16>,
    /// This replica's number (absent: from the host name, `s3ftpd-2` → 2).
    pub replica: Option<u32>,
    /// With `ports_per_replica`: the address each replica announces, by number.
    pub public_hosts: Vec<String>,
    /// Accept passive data connections only from the control connection's IP
    /// (RFC 2577). Turn off only behind NATs that change the client's address.
    pub peer_check: bool,
}

/// `active:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Active {
    /// Whether PORT/EPRT are accepted.
    pub enabled: bool,
    /// Connect to the control connection's peer address with the port from
    /// PORT/EPRT, whatever address they name (clients behind NAT name their
    /// private one). Never anywhere else; ports below 1024 stay refused.
    pub connect_to_peer: bool,
}

/// `tls:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Implicit FTPS listen address.
    #[serde(default)]
    pub implicit_listen: Option<SocketAddr>,
    /// Refuse USER/PASS before AUTH TLS.
    #[serde(default)]
    pub required: bool,
    /// Refuse data transfers under `PROT C` (default: same as `required`).
    #[serde(default)]
    pub required_data: Option<bool>,
    /// Refuse TLS data connections that do not resume the control connection's session.
    #[serde(default = "yes")]
    pub require_session_reuse: bool,
    /// PEM trust anchors for TLS client certificates: clients may then
    /// present one (accounts' `certificate` says what it does).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// An upload whose TLS data connection ends without the client's
    /// close_notify is interrupted, not complete (vsftpd's
    /// `strict_ssl_read_eof`); one that ends with it commits with no
    /// `uploads.commit_grace` wait.
    #[serde(default = "yes")]
    pub strict_eof: bool,
}

fn yes() -> bool {
    true
}

impl Tls {
    /// Whether data connections must be encrypted.
    #[must_use]
    pub fn data_required(&self) -> bool {
        self.required_data.unwrap_or(self.required)
    }
}

/// `s3:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3 {
    /// `embedded`, an URL, or absent for AWS.
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Root of the FTP tree inside the bucket.
    pub prefix: String,
    /// Path-style addressing.
    pub path_style: bool,
    /// Static access key; else the AWS chain.
    pub access_key_id: Option<String>,
    /// Static secret key; else the AWS chain.
    pub secret_access_key: Option<Secret>,
    /// The variable holding the secret key (read when the config is loaded).
    pub secret_access_key_env: Option<String>,
    /// The file holding the secret key (read when the config is loaded).
    pub secret_access_key_file: Option<PathBuf>,
    /// The credentials may only read: the gateway writes nothing of its
    /// own here (no time index, no probe object, no upload sweep).
    pub read_only: bool,
    /// `x-amz-storage-class` of every write (absent: the bucket's default).
    pub storage_class: Option<String>,
    /// Server-side encryption of every write: `AES256` or `aws:kms`.
    pub sse: Option<String>,
    /// The KMS key of `sse: aws:kms` (absent: the AWS-managed key).
    pub sse_kms_key_id: Option<String>,
    /// Canned ACL of every write (`bucket-owner-full-control` …).
    pub acl: Option<String>,
    /// First multipart part size.
    pub part_size: Size,
    /// Parts in flight per upload.
    pub upload_concurrency: usize,
    /// Ranged GETs fetched ahead per download (each `part_size` long,
    /// pinned to the first response's ETag); 1: one streamed GetObject.
    pub download_concurrency: usize,
    /// Data directory of the embedded store (only with `endpoint: embedded`).
    pub data_dir: PathBuf,
    /// Deadline of every S3 call (plus 1 s per MiB it carries or copies),
    /// and of each chunk of a streamed download: a frozen S3 fails the
    /// command with 451 within it.
    pub timeout: Dur,
    /// S3 requests (and so connections) at once, across all sessions.
    pub max_connections: usize,
    /// Which time LIST/MLSD show for a file: `metadata` (x-amz-meta-mtime
    /// when set: looked up once per file version, then cached in memory and
    /// in the folder's time index in S3), `last_modified` (what the
    /// listing returns; no extra request) or `auto` (`metadata`, until a
    /// folder's first files show none: see `storage/lookups.rs`).
    pub list_mtime: ListMtime,
}

/// Where listings take a file's time from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListMtime {
    /// `x-amz-meta-mtime` (set by MFMT, rclone) when present, else LastModified.
    Metadata,
    /// LastModified from ListObjectsV2.
    LastModified,
    /// As `Metadata`, but a folder whose sampled files carry no metadata
    /// time shows LastModified for its other files without lookups.
    Auto,
}

/// `anonymous:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Anonymous {
    /// Allow `anonymous`/`ftp` logins.
    pub enabled: bool,
    /// Their FTP root.
    pub home: String,
    /// Refuse their writes.
    pub read_only: bool,
}

/// `limits:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Logged-in sessions at once.
    pub max_sessions: usize,
    /// Logged-in sessions at once from one IP.
    pub max_sessions_per_ip: usize,
    /// Connections waiting to log in at once; past it the oldest is closed.
    pub max_unauthenticated: usize,
    /// Connections waiting to log in at once from one IP; past it, 421.
    pub max_unauthenticated_per_ip: usize,
    /// Close a connection that has not logged in this long after connecting.
    pub login_timeout: Dur,
    /// Close a control connection idle this long.
    pub idle_timeout: Dur,
    /// A transfer that moves no byte this long fails; also the connect
    /// of an active-mode data connection.
    pub data_timeout: Dur,
    /// TLS handshakes (control and data) and a trusted balancer's PROXY
    /// header must be done within this.
    pub handshake_timeout: Dur,
    /// How long a PASV/EPSV waits for the client's data connection.
    pub passive_timeout: Dur,
    /// Close the session after this many failed logins.
    pub max_login_failures: u32,
    /// Commands handled per second per session; more wait for the next second.
    pub max_commands_per_second: u32,
    /// Failed logins from one IP within `ban_window` that ban it.
    pub ban_after_failures: u32,
    /// The window in which failures add up.
    pub ban_window: Dur,
    /// How long a banned IP is refused (421 on connect).
    pub ban_duration: Dur,
    /// Networks that may connect at all; empty: any (checked before the banner).
    pub allow_from: Vec<String>,
    /// Networks that may never connect (checked first).
    pub deny_from: Vec<String>,
    /// Upload rate of all transfers together, in this replica.
    pub upload_bandwidth: Option<Rate>,
    /// Download rate of all transfers together, in this replica.
    pub download_bandwidth: Option<Rate>,
    /// How often a quota's usage is counted again from S3 (objects other
    /// tools and other replicas wrote or removed show within this).
    pub quota_rescan: Dur,
}

/// `uploads:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Uploads {
    /// Commit the bytes of an interrupted STOR instead of discarding them.
    pub keep_partial: bool,
    /// How long a quiet control connection is watched for a FIN after the
    /// last data byte, before the upload is committed (a dying client's two
    /// connections close together, in either order).
    pub commit_grace: Dur,
    /// Multipart uploads under `s3.prefix` started longer ago than this are
    /// aborted (at start and periodically): a killed gateway's leftovers.
    pub abandoned_after: Dur,
}

/// `metrics:` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Address of the metrics endpoint.
    pub listen: Option<SocketAddr>,
}

/// `log:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `tracing` filter, e.g. `info` or `s3ftpd=debug`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
    /// xferlog file.
    pub transfer_log: Option<PathBuf>,
}

/// The configuration of demo mode (`s3ftpd` with no arguments).
pub const DEMO_YAML: &str = "\
listen: 127.0.0.1:2121
passive: { ports: 50000-50100 }
s3: { endpoint: embedded, bucket: ftp, data_dir: ./s3ftpd-data }
users:
  - { name: demo, password: demo, home: / }
";

impl S3 {
    /// Whether the embedded store serves this configuration.
    #[must_use]
    pub fn is_embedded(&self) -> bool {
        self.endpoint.as_deref() == Some("embedded")
    }
}

impl Config {
    /// Parses YAML text, applies `S3FTPD_*` variables from `vars`, validates.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key at fault.
    pub fn from_yaml(
        text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut value: serde_yaml::Value = if text.trim().is_empty() {
            serde_yaml::Value::Mapping(serde_yaml::Mapping::new())
        } else {
            serde_yaml::from_str(text)
                .map_err(|e| ConfigError::Parse(redact::message("", &e.to_string())))?
        };
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let from_env = env::apply(&mut value, vars.iter().cloned())?;
        let mut config: Self = serde_path_to_error::deserialize(value).map_err(|e| {
            let raw = e.path().to_string();
            let inner = e.into_inner().to_string();
            let (path, msg) = if from_env.contains(&raw) && inner.starts_with("unknown field") {
                // A variable's name (S3FTPD_S3_NOPE) is no secret.
                (raw, inner)
            } else {
                redact::error(&raw, &inner)
            };
            if path == "." || path.is_empty() {
                ConfigError::Parse(msg)
            } else {
                ConfigError::Invalid { key: path, msg }
            }
        })?;
        config.resolve_secrets(&vars)?;
        config.resolve_replica(&vars)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a file, then as [`Config::from_yaml`] with the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key at fault.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text, std::env::vars())
    }

    /// A warning when the config file can be read by other users (it may hold secrets).
    #[must_use]
    pub fn permission_warning(path: &Path) -> Option<String> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).ok()?.permissions().mode();
            (mode & 0o004 != 0).then(|| {
                format!(
                    "config file {} is readable by other users (mode {:o}); it may hold secrets: chmod 600 it",
                    path.display(),
                    mode & 0o777
                )
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }

    /// The demo configuration, with the process environment applied.
    ///
    /// # Errors
    /// When an `S3FTPD_*` variable is invalid.
    pub fn demo() -> Result<Self, ConfigError> {
        Self::from_yaml(DEMO_YAML, std::env::vars())
    }

    /// The effective configuration as YAML, secrets masked.
    #[must_use]
    pub fn to_masked_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}
