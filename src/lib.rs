//! s3ftpd: an FTP server whose file system is an S3 bucket.
//!
//! # Layout
//! Imports point one way: `server` → `ftp` → `storage` → S3. Nothing in
//! `storage/`, `config/` or `observe/` names `ftp` or `server`
//! (`git grep -n -E 'crate::(ftp|server)::' -- src/storage src/config src/observe`
//! prints nothing).
//! ```text
//! main.rs     the CLI: serve (default), check-config [--offline], hash-password
//! server/     Gateway::start (resolve S3 → connect storage → load services →
//!             bind listeners → serve), accept.rs (PROXY header, bans,
//!             admission, one task per session), graceful shutdown
//! config/     YAML schema, defaults, S3FTPD_* overrides, validation (errors
//!             name the key), timeouts.rs: every wait on a peer in one struct
//! auth.rs     accounts (with their per-user settings), argon2id verification
//! tls.rs      FTPS: rustls config from PEM, session resumption, reload
//! xferlog.rs  the classic transfer log
//! ftp/        the protocol side
//!   codec.rs      CRLF lines with a length cap, in the session's charset
//!   charset.rs    UTF-8 or a legacy code page (ftp.encoding), with escapes
//!   command/      Command::parse, SITE subcommands, name unescaping — pure, no I/O
//!   reply.rs      the Code enum (every reply code) and reply formatting
//!   error.rs      the one error → reply mapping
//!   path.rs       FTP path ⇄ S3 key, chroot at the user's home
//!   listing.rs    LIST / MLSD / NLST line formats, wildcards
//!   ascii.rs      TYPE A line-ending conversion (reader and writer adapters)
//!   admission.rs  places for connections: waiting to log in, logged in
//!   bans.rs       failed logins per address, temporary bans
//!   throttle.rs   commands per second
//!   data.rs       data-connection plans, active connects, RFC 2577 checks
//!   passive.rs    passive ports shared between client addresses
//!   proxy.rs      PROXY protocol v1/v2 from trusted balancers
//!   session/      one connection: login state and the one dispatch match;
//!                 context.rs: State (cwd, TYPE, REST, …) and what a handler
//!                 gets — Ctx, or UserCtx with the account and its storage;
//!                 control.rs: the control connection (replies, charset,
//!                 AUTH TLS); answer.rs: a reply and what follows (continue,
//!                 close, start TLS); runner.rs runs transfers while reading
//!                 control (ABOR, the commit gate)
//!   handlers/     command handlers by concern (auth, nav, files, list,
//!                 transfer, site, tls, hash, info): free functions over a
//!                 context, never methods of the session
//! storage/    the only S3 I/O: deadlines, a capped connection pool, listing
//!             pages and their times (mtime.rs, and time_index.rs: each
//!             folder's times kept in S3 under `.s3ftpd/`), streaming
//!             uploads and their commit gate, downloads in ETag-pinned
//!             parallel ranges, resume checks, renames, the janitor for
//!             abandoned multipart uploads
//! embedded/   an S3 server in-process (s3s + a flat on-disk store) for the
//!             demo and the tests; hooks.rs only with the test-hooks feature
//! observe/    Prometheus metrics, /metrics /healthz /readyz
//! ```
//!
//! Adding a command: its variant and parse arm in `ftp/command/` (a SITE
//! subcommand in `command/site.rs`), its handler in the `ftp/handlers/`
//! file of its concern — `async fn name(u: &mut UserCtx<'_>, arg) -> Outcome`
//! for a logged-in command (the account and its storage come with the
//! context, so the login is already checked), `Ctx` for one that needs no
//! login — and one arm in the dispatch `match` of
//! `ftp/session/mod.rs`. A handler returns its reply or an `FtpError`
//! (`refuse`, or `refuse_and_close` when the session must end); it sets no
//! flag on the session: the dispatch turns the result into an `Answer`
//! (reply, then continue, close or start TLS) and only `reply_for` turns
//! an error into a reply.

pub mod auth;
pub mod config;
pub mod embedded;
pub mod ftp;
pub mod namespace;
pub mod observe;
pub mod server;
pub mod storage;
pub mod tls;
pub mod xferlog;

pub use config::Config;
pub use server::Gateway;
