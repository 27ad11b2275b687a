//! s3ftpd: an FTP server whose file system is an S3 bucket.
//!
//! # Layout
//! ```text
//! config/     YAML schema, defaults, S3FTPD_* overrides, validation (errors name the key)
//! auth.rs     accounts, argon2id verification
//! ftp/        the protocol side
//!   codec.rs      CRLF lines with a length cap
//!   command/      Command::parse (and SITE subcommands) — pure, no I/O
//!   reply.rs      reply formatting
//!   path.rs       FTP path ⇄ S3 key, chroot at the user's home
//!   listing.rs    LIST / MLSD line formats
//!   ascii.rs      TYPE A line-ending conversion
//!   admission.rs  places for connections: waiting to log in, logged in
//!   data.rs       data-connection plans, active connects, RFC 2577 checks
//!   passive.rs    passive ports shared between client addresses
//!   proxy.rs      PROXY protocol v1/v2 from trusted balancers
//!   session/      one connection: login state, the one match; runner.rs runs
//!                 transfers while reading control (ABOR, the commit gate)
//!   handlers/     command handlers by concern (auth, nav, files, list, transfer, site, …)
//!   error.rs      the one error → reply mapping
//! storage/    the only S3 I/O: deadlines, a capped connection pool, listing
//!             pages, streaming uploads and their commit gate, renames, the
//!             janitor for abandoned multipart uploads
//! embedded/   an S3 server in-process (s3s + our flat on-disk store) for demo and tests
//! observe/    Prometheus metrics, /metrics /healthz /readyz
//! tls.rs      FTPS: rustls config from PEM, session resumption, reload
//! xferlog.rs  the classic transfer log
//! server/     listeners, accepting (PROXY header, bans, admission), graceful shutdown
//! ```

pub mod auth;
pub mod config;
pub mod embedded;
pub mod ftp;
pub mod observe;
pub mod server;
pub mod storage;
pub mod tls;
pub mod xferlog;

pub use config::Config;
pub use server::Gateway;
