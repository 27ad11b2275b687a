//! s3ftpd: an FTP server whose file system is an S3 bucket.
//!
//! # Layout
//! Imports point one way: `server` → `ftp` → `namespace` → `storage` → S3,
//! and `ftp` → `events` → `storage`; `config`, `observe` and `auth` sit
//! below and never name any of them
//! (`git grep -n -E 'crate::(ftp|server|namespace|events)::' -- src/storage src/config src/observe src/auth src/namespace`
//! prints nothing).
//! ```text
//! main.rs     the CLI: serve (default), check-config [--offline],
//!             hash-password, healthcheck
//! server/     Gateway::start (embedded store → storage profiles → buckets
//!             checked → services → listeners → serve), s3.rs (storages,
//!             bucket checks, sweeps), accept.rs (PROXY header, bans,
//!             admission, one task per session), graceful shutdown
//! config/     YAML schema, defaults, S3FTPD_* overrides, validation (errors
//!             name the key, never a secret: redact.rs), storage profiles,
//!             users and groups (accounts.rs), identity sources
//!             (identity.rs), DNs compared as LDAP does (dn.rs), replica
//!             ports, timeouts.rs
//! auth/       accounts and the identity sources a login asks in order:
//!             users.rs (the file's users, argon2id), hook.rs (the HTTP
//!             auth hook), ldap.rs (LDAP / Active Directory over rustls,
//!             pooled), cache.rs (answers by salted HMAC, never the
//!             password), cert.rs (TLS client certificates), tls_client.rs
//! tls.rs      FTPS: rustls config from PEM, session resumption, reload
//! xferlog.rs  the classic transfer log (reopened on SIGHUP)
//! events/     what happened, told to others: event.rs (the JSON), sign.rs
//!             (Standard Webhooks signatures), webhook.rs (one endpoint:
//!             retries, back-off, bounded), audit.rs (JSON lines),
//!             outbox.rs (intents of data events in S3, heartbeats,
//!             take-over of a stopped gateway's entries)
//! ftp/        the protocol side
//!   codec.rs      CRLF lines with a length cap, in the session's charset
//!   charset.rs    UTF-8 or a legacy code page (ftp.encoding), with escapes
//!   command/      Command::parse, SITE subcommands, name unescaping — pure, no I/O
//!   reply.rs      the Code enum (every reply code) and reply formatting
//!   error.rs      the one error → reply mapping
//!   listing.rs    LIST / MLSD / NLST line formats; glob.rs: wildcards
//!   ascii.rs      TYPE A line-ending conversion (reader and writer adapters)
//!   admission.rs  places for connections: waiting to log in, logged in
//!   bans.rs       failed logins per address, temporary bans
//!   throttle.rs   commands per second
//!   data.rs       data-connection plans, active connects, RFC 2577 checks
//!   passive.rs    passive ports shared between client addresses
//!   proxy.rs      PROXY protocol v1/v2 from trusted balancers
//!   context/      what a handler gets: State (cwd, TYPE, REST, …), Ctx, or
//!                 UserCtx with the account and its namespace; Shared, Login;
//!                 answer.rs: a reply and what follows (continue, close, TLS)
//!   control/      the control connection (replies, charset, AUTH TLS) and
//!                 runner.rs: transfers run while control is read (ABOR, the
//!                 commit gate)
//!   session.rs    one connection: login state and the one dispatch match
//!   handlers/     command handlers by concern (auth, nav, files, rename,
//!                 list, transfer, site, tls, hash, info): free functions
//!                 over a context, never methods of the session
//! namespace/  a user's tree: path.rs (normalisation, the chroot, keys of
//!             one mount), mod.rs (mounts; path → location + allowed?),
//!             build.rs (the tree of an account at login)
//! storage/    the only S3 I/O, one Storage per profile: connect.rs (shared
//!             clients, the one connection cap, per-bucket state), deadlines,
//!             listing pages and their times (mtime.rs, time_index.rs:
//!             each folder's times kept in S3 under `.s3ftpd/`), streaming
//!             uploads and their commit gate, downloads in ETag-pinned
//!             parallel ranges, resume checks, renames (also between
//!             buckets), write headers (writes.rs), bucket health, the
//!             janitor for abandoned multipart uploads
//! embedded/   an S3 server in-process (s3s + a flat on-disk store) for the
//!             demo and the tests; hooks.rs only with the test-hooks feature
//! observe/    Prometheus metrics, /metrics /healthz /readyz, healthcheck
//! ```
//!
//! Adding a command: its variant and parse arm in `ftp/command/` (a SITE
//! subcommand in `command/site.rs`), its handler in the `ftp/handlers/`
//! file of its concern — `async fn name(u: &mut UserCtx<'_>, arg) -> Outcome`
//! for a logged-in command (the account and its namespace come with the
//! context, so the login is already checked; `u.ns.file(&path, Op::…)` or
//! `u.ns.dir(…)` gives the storage and key, or the refusal), `Ctx` for one
//! that needs no login — and one arm in the dispatch `match` of
//! `ftp/session.rs`. A handler returns its reply or an `FtpError`
//! (`refuse`, or `refuse_and_close` when the session must end); it sets no
//! flag on the session: the dispatch turns the result into an `Answer`
//! (reply, then continue, close or start TLS) and only `reply_for` turns
//! an error into a reply.

pub mod auth;
pub mod config;
pub mod embedded;
pub mod events;
pub mod ftp;
pub mod namespace;
pub mod observe;
pub mod server;
pub mod storage;
pub mod tls;
pub mod xferlog;

pub use config::Config;
pub use server::Gateway;
