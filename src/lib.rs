//! s3ftpd: an FTP server whose file system is an S3 bucket.
//!
//! # Layout
//! ```text
//! config/     YAML schema, S3FTPD_* overrides, validation (errors name the key)
//! auth.rs     accounts, argon2id verification
//! ftp/        the protocol side
//!   codec.rs      CRLF lines with a length cap
//!   command.rs    Command::parse — pure, no I/O
//!   reply.rs      reply formatting
//!   path.rs       FTP path ⇄ S3 key, chroot at the user's home
//!   listing.rs    LIST / MLSD line formats
//!   ascii.rs      TYPE A line-ending conversion
//!   data.rs       passive port pool, active connects, RFC 2577 checks
//!   session.rs    one connection: login state, the one match, transfer runner
//!   handlers/     command handlers by concern (auth, nav, files, list, transfer, info)
//!   error.rs      the one error → reply mapping
//! storage/    the only S3 I/O: aws-sdk-s3 calls, listing pages, streaming uploads
//! embedded/   an S3 server in-process (s3s + our flat on-disk store) for demo and tests
//! tls.rs      FTPS: rustls config from PEM, session resumption, reload
//! xferlog.rs  the classic transfer log
//! server.rs   accept loop, session limits, graceful shutdown
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
