//! What a command handler works on. Handlers are free functions over a
//! context, never methods of the session: a [`Ctx`] for the commands that
//! need no login (the session's state, its control connection, the
//! gateway's services), a [`UserCtx`] for the rest, which also carries the
//! logged-in account and the storage that serves it — by type, so a file
//! command cannot reach another account's storage or forget the login check.

use std::net::SocketAddr;
use std::time::Duration;

use super::Shared;
use super::control::Control;
use crate::auth::Account;
use crate::ftp::charset::Charset;
use crate::ftp::command::TransferType;
use crate::ftp::data::DataPlan;
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::handlers::HashAlgo;
use crate::ftp::path::VPath;
use crate::ftp::reply::Code;
use crate::storage::Storage;

/// A session's protocol state: what its commands set and read.
#[derive(Debug)]
pub struct State {
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
    /// Failed PASS attempts.
    pub failures: u32,
    /// The current directory.
    pub cwd: VPath,
    /// TYPE A or I.
    pub ttype: TransferType,
    /// The offset of the next RETR or STOR (`REST n`).
    pub rest: Option<u64>,
    /// The source of the coming RNTO.
    pub rename_from: Option<VPath>,
    /// The algorithm HASH uses (`OPTS HASH`).
    pub hash_algo: HashAlgo,
    /// The data connection PASV/EPSV/PORT/EPRT prepared.
    pub data: Option<DataPlan>,
    /// Data connections are TLS (`PROT P`).
    pub prot_private: bool,
    /// `EPSV ALL` was sent: PASV, PORT and EPRT are refused (RFC 2428).
    pub epsv_all: bool,
    /// This session's idle timeout (`SITE IDLE`, at most `limits.idle_timeout`).
    pub idle: Duration,
    /// The configured character set: `ftp.encoding`, from login on the
    /// user's own; the session speaks it unless the client sent `OPTS UTF8 ON`.
    pub native: Charset,
    /// The client asked for UTF-8 (`OPTS UTF8 ON`).
    pub utf8_asked: bool,
    /// The key whose resume was just refused (see `transfer::stor`).
    pub refused_resume: Option<String>,
}

impl State {
    /// A new connection's state.
    pub(super) fn new(peer: SocketAddr, local: SocketAddr, secure: bool, shared: &Shared) -> Self {
        Self {
            peer,
            local,
            failures: 0,
            cwd: VPath::root(),
            ttype: TransferType::Binary,
            rest: None,
            rename_from: None,
            hash_algo: HashAlgo::default(),
            data: None,
            prot_private: secure,
            epsv_all: false,
            idle: shared.timeouts.idle,
            native: Charset::for_label(&shared.config.ftp.encoding).unwrap_or_default(),
            utf8_asked: false,
            refused_resume: None,
        }
    }
}

/// A command's context before (or regardless of) login.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The session's state.
    pub st: &'a mut State,
    /// The control connection.
    pub control: &'a mut Control,
    /// The gateway's services.
    pub gw: &'a Shared,
}

/// A logged-in command's context: the account and its storage, then as [`Ctx`].
#[derive(Debug)]
pub struct UserCtx<'a> {
    /// Who is logged in (root, read-only, per-user settings).
    pub account: &'a Account,
    /// The storage that serves this account: every file command's S3.
    pub storage: &'a Storage,
    /// The session's state.
    pub st: &'a mut State,
    /// The control connection.
    pub control: &'a mut Control,
    /// The gateway's services.
    pub gw: &'a Shared,
}

impl<'a> UserCtx<'a> {
    /// The account, if it may write; 550 for a read-only one.
    pub fn writable(&self) -> Result<&'a Account, FtpError> {
        if self.account.read_only {
            return Err(refuse(
                Code::FileUnavailable,
                "Permission denied: this account is read-only",
            ));
        }
        Ok(self.account)
    }

    /// The session-level view of this context.
    pub fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            st: self.st,
            control: self.control,
            gw: self.gw,
        }
    }
}
