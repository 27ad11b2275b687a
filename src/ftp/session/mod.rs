//! One control connection: its state machine, the one `match` over commands,
//! and the transfer runner (in `runner.rs`) that keeps reading the control
//! channel (ABOR, a vanished client).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

mod answer;
mod runner;

pub use answer::{Answer, Then};

use super::charset::Charset;
use super::codec::ControlCodec;
use super::command::{Command, TransferType};
use super::data::DataPlan;
use super::error::{FtpError, refuse, reply_for};
use super::handlers::StorMode;
use super::passive::PassivePorts;
use super::path::VPath;
use super::reply::{Code, Reply};
use crate::auth::{Account, Users};
use crate::config::Config;
use crate::storage::Storage;

/// The control connection: plain TCP, or TLS after `AUTH TLS` / on the implicit FTPS port.
pub type ControlStream =
    tokio_util::either::Either<TcpStream, tokio_rustls::server::TlsStream<TcpStream>>;

/// Longest control line accepted (RFC 959 has no limit; clients stay far below).
pub const MAX_LINE: usize = 8192;

/// What every session shares.
#[derive(Debug)]
pub struct Shared {
    /// The configuration.
    pub config: Arc<Config>,
    /// Every wait on a peer (from the configuration).
    pub timeouts: crate::config::Timeouts,
    /// The bucket.
    pub storage: Storage,
    /// Accounts.
    pub users: Users,
    /// Passive port pool.
    pub ports: Arc<PassivePorts>,
    /// Fired on shutdown: idle sessions say 421 and close.
    pub shutdown: CancellationToken,
    /// Fired at the drain deadline: running transfers are aborted.
    pub abort: CancellationToken,
    /// FTPS, when configured.
    pub tls: Option<crate::tls::Ftps>,
    /// Failed logins per IP and temporary bans.
    pub bans: super::bans::Bans,
    /// The xferlog file, when `log.transfer_log` is set.
    pub transfer_log: Option<crate::xferlog::TransferLog>,
    /// Prometheus metrics.
    pub metrics: Arc<crate::observe::Metrics>,
    /// What `/readyz` answers.
    pub readiness: Arc<crate::observe::http::Readiness>,
    /// Balancers whose connections carry a PROXY header.
    pub proxy: super::proxy::ProxyTrust,
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
    /// Logged in: the account, and the storage that serves it (today the
    /// gateway's one bucket; the seam where per-user storage goes).
    LoggedIn(Account, Box<Storage>),
}

/// How a transfer ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// All bytes moved (count).
    Complete(u64),
    /// ABOR arrived; 426 was already sent.
    Aborted,
}

/// A handler's result: the reply to send, or an error to map.
pub type Outcome = Result<Reply, FtpError>;

/// The state of one control connection. The connection task owns it.
#[derive(Debug)]
pub struct Session {
    pub(super) shared: Arc<Shared>,
    control: Framed<ControlStream, ControlCodec>,
    pub(super) peer: SocketAddr,
    pub(super) local: SocketAddr,
    pub(super) login: Login,
    pub(super) failures: u32,
    pub(super) cwd: VPath,
    pub(super) ttype: TransferType,
    pub(super) rest: Option<u64>,
    pub(super) rename_from: Option<VPath>,
    /// The algorithm HASH uses (`OPTS HASH`).
    pub(super) hash_algo: super::handlers::HashAlgo,
    pub(super) data: Option<DataPlan>,
    pending: VecDeque<Bytes>,
    pub(super) closing: bool,
    /// Data connections are TLS (`PROT P`).
    pub(super) prot_private: bool,
    throttle: super::throttle::Throttle,
    /// This connection's place (waiting to log in, then a session).
    pub(super) admission: super::admission::Admission,
    /// When a connection that has not logged in is closed.
    login_deadline: tokio::time::Instant,
    /// `EPSV ALL` was sent: PASV, PORT and EPRT are refused (RFC 2428).
    pub(super) epsv_all: bool,
    /// This session's idle timeout (`SITE IDLE`, at most `limits.idle_timeout`).
    pub(super) idle: std::time::Duration,
    /// The configured character set: `ftp.encoding`, from login on the
    /// user's own; the session speaks it unless the client sent `OPTS UTF8 ON`.
    pub(super) native: Charset,
    /// The client asked for UTF-8 (`OPTS UTF8 ON`).
    pub(super) utf8_asked: bool,
    /// The key whose resume was just refused (see `cmd_stor`).
    pub(super) refused_resume: Option<String>,
}

impl Session {
    /// Wraps an accepted control connection (already TLS on the implicit FTPS port).
    #[must_use]
    pub fn new(
        shared: Arc<Shared>,
        stream: ControlStream,
        peer: SocketAddr,
        local: SocketAddr,
        admission: super::admission::Admission,
    ) -> Self {
        let secure = matches!(stream, tokio_util::either::Either::Right(_));
        let native = Charset::for_label(&shared.config.ftp.encoding).unwrap_or_default();
        let mut codec = ControlCodec::new(MAX_LINE);
        codec.charset = native;
        Self {
            control: Framed::new(stream, codec),
            native,
            utf8_asked: false,
            refused_resume: None,
            peer,
            local,
            login: Login::AwaitingUser,
            failures: 0,
            cwd: VPath::root(),
            ttype: TransferType::Binary,
            rest: None,
            rename_from: None,
            hash_algo: super::handlers::HashAlgo::default(),
            data: None,
            pending: VecDeque::new(),
            closing: false,
            prot_private: secure,
            throttle: super::throttle::Throttle::new(
                shared.config.limits.max_commands_per_second,
                std::time::Instant::now(),
            ),
            admission,
            login_deadline: tokio::time::Instant::now() + shared.timeouts.login,
            epsv_all: false,
            idle: shared.timeouts.idle,
            shared,
        }
    }

    /// Serves the connection until QUIT, an error, a timeout or shutdown.
    pub async fn run(mut self) {
        let banner = self.shared.config.banner.clone();
        self.reply(Reply::new(Code::Ready, banner)).await;
        while !self.closing {
            let line = match self.pending.pop_front() {
                Some(l) => l,
                None => match self.next_line().await {
                    Some(l) => l,
                    None => break,
                },
            };
            if self.handle_line(&line).await == Then::StartTls {
                let wait = self.shared.timeouts.handshake;
                let Some(tls) = self.shared.tls.clone() else {
                    break;
                };
                match Box::pin(start_tls(self.control, &tls, wait)).await {
                    Ok(control) => {
                        self.control = control;
                        tracing::info!("control connection is now TLS");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS handshake on the control connection failed");
                        return;
                    }
                }
            }
        }
        tracing::info!("session closed");
    }

    async fn next_line(&mut self) -> Option<Bytes> {
        let idle = tokio::time::Instant::now() + self.idle;
        let shutdown = self.shared.shutdown.clone();
        // Before login: the login deadline, and room made for newer connections.
        let (deadline, what) = match &self.login {
            Login::LoggedIn(..) => (idle, "Idle timeout"),
            _ if self.login_deadline < idle => (self.login_deadline, "Login timeout"),
            _ => (idle, "Idle timeout"),
        };
        let evicted = self.admission.evicted().unwrap_or_default();
        let waiting = self.admission.evicted().is_some();
        tokio::select! {
            () = shutdown.cancelled() => {
                self.reply(Reply::new(Code::NotAvailable, "Server shutting down; closing control connection")).await;
                None
            }
            () = evicted.cancelled(), if waiting => {
                tracing::info!("closed while waiting to log in, to make room (limits.max_unauthenticated)");
                self.reply(Reply::new(Code::NotAvailable, "Too many connections waiting to log in; closing")).await;
                None
            }
            r = tokio::time::timeout_at(deadline, self.control.next()) => match r {
                Err(_) => {
                    tracing::info!("{}", what.to_lowercase());
                    self.reply(Reply::new(Code::NotAvailable, format!("{what}; closing control connection"))).await;
                    None
                }
                Ok(None) => None,
                Ok(Some(Ok(line))) => Some(line),
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %e, "control connection error");
                    let (reply, _) = reply_for(&e.into());
                    self.reply(reply).await;
                    None
                }
            }
        }
    }

    /// Runs one command line and sends its reply; says what follows.
    async fn handle_line(&mut self, line: &[u8]) -> Then {
        if let Some(wait) = self.throttle.admit(std::time::Instant::now()) {
            tracing::debug!(?wait, "command rate limit (limits.max_commands_per_second)");
            tokio::time::sleep(wait).await;
        }
        let charset = self.control.codec().charset;
        let Some(line) = charset.decode_line(line) else {
            let text = format!("Command is not valid {} text", charset.name());
            self.reply(Reply::new(Code::BadArguments, text)).await;
            return Then::Continue;
        };
        let (verb, result) = match Command::parse(&line).map(|c| c.unescaped(charset)) {
            Ok(cmd) => {
                tracing::debug!(command = ?cmd, "command");
                // Boxed: the largest handler's state lives on the heap while
                // the command runs, not in every idle session's task.
                (cmd.verb(), Box::pin(self.dispatch(cmd)).await)
            }
            Err(e) => ("UNKNOWN", Err(e.into())),
        };
        let Answer { reply, then } = result.unwrap_or_else(Answer::from);
        self.shared
            .metrics
            .commands
            .with_label_values(&[verb, crate::observe::reply_class(reply.code.number())])
            .inc();
        self.reply(reply).await;
        self.closing |= then == Then::Close;
        then
    }

    /// Sends a reply; a failed send ends the session.
    pub(super) async fn reply(&mut self, reply: Reply) {
        if let Err(e) = self.control.send(&reply).await {
            tracing::debug!(error = %e, "cannot send reply");
            self.closing = true;
        }
    }

    /// Sends raw CRLF-terminated lines (the body of a multi-line reply streamed in pages).
    pub(super) async fn send_raw(&mut self, text: &str) {
        use tokio::io::AsyncWriteExt;
        let bytes = self.control.codec().charset.encode(text).into_owned();
        if self.control.get_mut().write_all(&bytes).await.is_err() {
            self.closing = true;
        }
    }

    /// The character set this session speaks (see [`crate::ftp::charset`]).
    pub(in crate::ftp) fn charset(&self) -> Charset {
        self.control.codec().charset
    }

    /// Switches the session's character set (login, `OPTS UTF8`).
    pub(in crate::ftp) fn set_charset(&mut self, cs: Charset) {
        self.control.codec_mut().charset = cs;
    }

    /// Whether the control connection is TLS (after AUTH TLS, or implicit FTPS).
    pub(super) fn is_secure(&self) -> bool {
        matches!(self.control.get_ref(), tokio_util::either::Either::Right(_))
    }

    /// The logged-in account and the storage that serves it.
    fn logged_in(&self) -> Result<(&Account, &Storage), FtpError> {
        match &self.login {
            Login::LoggedIn(a, s) => Ok((a, s)),
            _ => Err(refuse(
                Code::NotLoggedIn,
                "Please log in with USER and PASS",
            )),
        }
    }

    /// The logged-in account.
    pub(super) fn account(&self) -> Result<Account, FtpError> {
        self.logged_in().map(|(a, _)| a.clone())
    }

    /// The storage of the logged-in account: every file command's S3.
    pub(super) fn storage(&self) -> Result<&Storage, FtpError> {
        self.logged_in().map(|(_, s)| s)
    }

    /// The logged-in account, if it may write.
    pub(super) fn writable_account(&self) -> Result<Account, FtpError> {
        let a = self.account()?;
        if a.read_only {
            return Err(refuse(
                Code::FileUnavailable,
                "Permission denied: this account is read-only",
            ));
        }
        Ok(a)
    }

    /// The one exhaustive `match` from command to handler. Handlers return
    /// a reply or an error; QUIT and AUTH also say what follows.
    async fn dispatch(&mut self, cmd: Command) -> Result<Answer, FtpError> {
        use Command as C;
        let before_login = matches!(
            cmd,
            C::User(_)
                | C::Pass(_)
                | C::Quit
                | C::Noop
                | C::Syst
                | C::Feat
                | C::Opts(_)
                | C::Help
                | C::Auth(_)
                | C::Pbsz(_)
                | C::Prot(_)
                | C::Ccc
                | C::Unknown(_)
        );
        if !before_login {
            self.account()?;
        }
        if matches!(cmd, C::User(_) | C::Pass(_))
            && !self.is_secure()
            && self.shared.config.tls.as_ref().is_some_and(|t| t.required)
        {
            return Err(refuse(
                Code::NotLoggedIn,
                "This server requires encryption: send AUTH TLS before USER and PASS",
            ));
        }
        if !matches!(cmd, C::Rnto(_)) {
            // RNTO must follow RNFR directly.
            self.rename_from = None;
        }
        let reply = match cmd {
            C::User(name) => self.cmd_user(name),
            C::Pass(pw) => self.cmd_pass(pw).await,
            C::Quit => return Ok(Answer::close(Reply::new(Code::Goodbye, "Goodbye"))),
            C::Noop => Ok(Reply::new(Code::Ok, "NOOP ok")),
            C::Syst => Ok(Reply::new(Code::SystemType, "UNIX Type: L8")),
            C::Feat => Ok(self.cmd_feat()),
            C::Opts(arg) => self.cmd_opts(&arg),
            C::Help => Ok(Self::cmd_help()),
            C::Stat(None) => Ok(self.cmd_stat_server()),
            C::Stat(Some(path)) => self.cmd_stat_path(&path).await,
            C::Type(t) => {
                self.ttype = t;
                Ok(Reply::new(
                    Code::Ok,
                    match t {
                        TransferType::Ascii => "Switching to ASCII mode",
                        TransferType::Binary => "Switching to Binary mode",
                    },
                ))
            }
            C::Mode => Ok(Reply::new(Code::Ok, "Mode set to S")),
            C::Stru => Ok(Reply::new(Code::Ok, "Structure set to F")),
            C::Allo => Ok(Reply::new(
                Code::Superfluous,
                "ALLO not needed; storage grows as needed",
            )),
            C::Pwd => Ok(self.cmd_pwd()),
            C::Cwd(path) => self.cmd_cwd(&path).await,
            C::Cdup => self.cmd_cwd("..").await,
            C::Mkd(path) => self.cmd_mkd(&path).await,
            C::Rmd(path) => self.cmd_rmd(&path).await,
            C::Dele(path) => self.cmd_dele(&path).await,
            C::Rnfr(path) => self.cmd_rnfr(&path).await,
            C::Rnto(path) => self.cmd_rnto(&path).await,
            C::Size(path) => self.cmd_size(&path).await,
            C::Mdtm(path) => self.cmd_mdtm(&path).await,
            C::Hash(path) => self.cmd_hash(&path).await,
            C::Mfmt { time, path } => self.cmd_mfmt(time, &path).await,
            C::Rest(n) => {
                self.rest = Some(n);
                Ok(Reply::new(
                    Code::Pending,
                    format!("Restarting at {n}. Send RETR, or STOR to resume an upload"),
                ))
            }
            C::Retr(path) => self.cmd_retr(&path).await,
            C::Stor(path) => self.cmd_stor(&path, StorMode::Replace).await,
            C::Stou(name) => self.cmd_stou(name).await,
            C::Appe(path) => self.cmd_stor(&path, StorMode::Append).await,
            C::Abor => Ok(Reply::new(
                Code::TransferComplete,
                "No transfer in progress",
            )),
            C::List(path) => self.cmd_list(path, super::handlers::ListFormat::Long).await,
            C::Nlst(path) => {
                self.cmd_list(path, super::handlers::ListFormat::Names)
                    .await
            }
            C::Mlsd(path) => {
                self.cmd_list(path, super::handlers::ListFormat::Facts)
                    .await
            }
            C::Mlst(path) => self.cmd_mlst(path).await,
            C::Pasv => self.cmd_pasv().await,
            C::Epsv => self.cmd_epsv().await,
            C::EpsvAll => {
                self.epsv_all = true;
                Ok(Reply::new(
                    Code::Ok,
                    "EPSV ALL ok: from now on only EPSV sets up data connections",
                ))
            }
            C::Site(site) => self.cmd_site(site).await,
            C::Port(addr) | C::Eprt(addr) => self.cmd_port(addr),
            C::Auth(mech) => return self.cmd_auth(&mech),
            C::Pbsz(size) => self.cmd_pbsz(&size),
            C::Prot(level) => self.cmd_prot(&level),
            C::Ccc => self.cmd_ccc(),
            C::Unknown(verb) => Err(refuse(
                Code::NotImplemented,
                format!("{verb} not implemented"),
            )),
        };
        reply.map(Answer::from)
    }
}

/// Turns the control connection into TLS after `234` was sent.
async fn start_tls(
    control: Framed<ControlStream, ControlCodec>,
    tls: &crate::tls::Ftps,
    wait: std::time::Duration,
) -> std::io::Result<Framed<ControlStream, ControlCodec>> {
    let parts = control.into_parts();
    if !parts.read_buf.is_empty() {
        return Err(std::io::Error::other(
            "the client sent data after AUTH TLS before the handshake",
        ));
    }
    let tokio_util::either::Either::Left(tcp) = parts.io else {
        return Err(std::io::Error::other("already TLS"));
    };
    let stream = tokio::time::timeout(wait, tls.acceptor().accept(tcp))
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
        })??;
    let mut codec = ControlCodec::new(MAX_LINE);
    codec.charset = parts.codec.charset;
    Ok(Framed::new(
        tokio_util::either::Either::Right(stream),
        codec,
    ))
}
