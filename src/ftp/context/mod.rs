//! What a command handler works on. Handlers are free functions over a
//! context, never methods of the session: a [`Ctx`] for the commands that
//! need no login (the session's state, its control connection, the
//! gateway's services), a [`UserCtx`] for the rest, which also carries the
//! logged-in account and its namespace — the one place its paths become
//! locations in storage — by type, so a file command cannot reach another
//! account's tree or forget the login check. The session and the handlers
//! both use these types; neither is imported by this module.

mod answer;

pub use answer::{Answer, Then};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::{Account, Identity};
use crate::config::Config;
use crate::ftp::charset::Charset;
use crate::ftp::command::TransferType;
use crate::ftp::control::Control;
use crate::ftp::data::DataPlan;
use crate::ftp::error::FtpError;
use crate::ftp::passive::PassivePorts;
use crate::ftp::reply::Reply;
use crate::namespace::{Namespace, VPath};
use crate::storage::Storages;

/// The algorithms HASH offers, in FEAT order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashAlgo {
    /// SHA-256 (the default).
    #[default]
    Sha256,
    /// CRC32C (Castagnoli), hex.
    Crc32c,
    /// MD5.
    Md5,
}

/// What a reload replaces (SIGHUP): the accounts, and the storage
/// profiles their trees are built on. A session keeps the account and the
/// tree it logged in with; a new login takes the current ones.
#[derive(Debug)]
pub struct Accounts {
    /// The identity sources: this file's users, a hook, a directory.
    pub identity: Identity,
    /// Every storage profile.
    pub storages: Storages,
}

/// What every session shares.
#[derive(Debug)]
pub struct Shared {
    /// The configuration the gateway started with: listeners, ports,
    /// global limits and timeouts (a reload does not change them).
    pub config: Arc<Config>,
    /// Every wait on a peer (from the configuration).
    pub timeouts: crate::config::Timeouts,
    /// The current accounts and storages.
    pub accounts: arc_swap::ArcSwap<Accounts>,
    /// `limits.allow_from` / `deny_from`: checked before the banner.
    pub ip_rule: crate::config::networks::IpRule,
    /// Bandwidth limits: the gateway's and each account's.
    pub bandwidth: crate::ftp::bandwidth::Bandwidth,
    /// Passive port pool.
    pub ports: Arc<PassivePorts>,
    /// Fired on shutdown: idle sessions say 421 and close.
    pub shutdown: CancellationToken,
    /// Fired at the drain deadline: running transfers are aborted.
    pub abort: CancellationToken,
    /// FTPS, when configured.
    pub tls: Option<crate::tls::Ftps>,
    /// Failed logins per IP and temporary bans.
    pub bans: crate::ftp::bans::Bans,
    /// The xferlog file, when `log.transfer_log` is set.
    pub transfer_log: Option<crate::xferlog::TransferLog>,
    /// Prometheus metrics.
    pub metrics: Arc<crate::observe::Metrics>,
    /// The audit log and the webhooks.
    pub events: crate::events::Events,
}

/// Login state; each state carries its data.
#[derive(Debug)]
pub enum Login {
    /// Waiting for USER.
    AwaitingUser,
    /// USER given, waiting for PASS.
    AwaitingPass {
        /// The name given.
        user: String,
    },
    /// Logged in: the account, and its tree (home and mounts, each on the
    /// storage profile that serves it).
    LoggedIn(Box<Account>, Arc<Namespace>),
}

/// A handler's result: the reply to send, or an error to map.
pub type Outcome = Result<Reply, FtpError>;

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
    /// The key whose resume was just refused (see `upload::stor`).
    pub refused_resume: Option<String>,
    /// The session's id in the logs (`session{id=…}`), told to the auth hook.
    pub session: String,
}

impl State {
    /// A new connection's state.
    pub(in crate::ftp) fn new(
        peer: SocketAddr,
        local: SocketAddr,
        secure: bool,
        shared: &Shared,
    ) -> Self {
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
            session: String::new(),
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

/// A logged-in command's context: the account and its tree, then as [`Ctx`].
#[derive(Debug)]
pub struct UserCtx<'a> {
    /// Who is logged in (per-user settings).
    pub account: &'a Account,
    /// The account's tree: where each of its paths is in storage, and
    /// whether an operation is allowed there.
    pub ns: &'a Arc<Namespace>,
    /// The session's state.
    pub st: &'a mut State,
    /// The control connection.
    pub control: &'a mut Control,
    /// The gateway's services.
    pub gw: &'a Shared,
}

impl UserCtx<'_> {
    /// The session-level view of this context.
    pub fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            st: self.st,
            control: self.control,
            gw: self.gw,
        }
    }
}
