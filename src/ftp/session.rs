//! One control connection: its state machine and the one `match` over
//! commands. What a handler works on is in [`super::context`]; the control
//! connection and the transfer runner are in [`super::control`].

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::command::{Command, TransferType};
use super::context::{Answer, Ctx, Login, Shared, State, Then, UserCtx};
use super::control::{Control, ControlStream};
use super::error::{FtpError, refuse, reply_for};
use super::handlers::{
    ListFormat, StorMode, auth, files, hash, info, list, nav, rename, site, stat, tls, transfer,
    upload,
};
use super::reply::{Code, Reply};

/// One control connection. The connection task owns it; the commands'
/// handlers see it only through a [`Ctx`] or a [`UserCtx`].
#[derive(Debug)]
pub struct Session {
    shared: Arc<Shared>,
    control: Control,
    login: Login,
    state: State,
    throttle: super::throttle::Throttle,
    /// This connection's place (waiting to log in, then a session).
    admission: super::admission::Admission,
    /// When a connection that has not logged in is closed.
    login_deadline: tokio::time::Instant,
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
        id: u64,
    ) -> Self {
        let secure = matches!(stream, tokio_util::either::Either::Right(_));
        let mut state = State::new(peer, local, secure, &shared);
        state.session = id.to_string();
        Self {
            control: Control::new(stream, state.native, shared.timeouts.commit_grace),
            login: Login::AwaitingUser,
            state,
            throttle: super::throttle::Throttle::new(
                shared.config.limits.max_commands_per_second,
                std::time::Instant::now(),
            ),
            admission,
            login_deadline: tokio::time::Instant::now() + shared.timeouts.login,
            shared,
        }
    }

    /// Serves the connection until QUIT, an error, a timeout or shutdown.
    pub async fn run(mut self) {
        let banner = self.shared.config.banner.clone();
        self.control.reply(Reply::new(Code::Ready, banner)).await;
        while !self.control.closing {
            let line = match self.control.pending.pop_front() {
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
                match Box::pin(self.control.start_tls(&tls, wait)).await {
                    Ok(control) => {
                        self.control = control;
                        tracing::info!("control connection is now TLS");
                    }
                    Err(e) => {
                        if crate::tls::is_client_cert_error(&e) {
                            tracing::warn!(error = %e, "client certificate refused (tls.client_ca): TLS handshake on the control connection failed");
                        } else {
                            tracing::warn!(error = %e, "TLS handshake on the control connection failed");
                        }
                        return;
                    }
                }
            }
        }
        tracing::info!("session closed");
    }

    async fn next_line(&mut self) -> Option<Bytes> {
        let idle = tokio::time::Instant::now() + self.state.idle;
        let shutdown = self.shared.shutdown.clone();
        // Before login: the login deadline, and room made for newer connections.
        let (deadline, what) = match &self.login {
            Login::LoggedIn(..) => (idle, "Idle timeout"),
            _ if self.login_deadline < idle => (self.login_deadline, "Login timeout"),
            _ => (idle, "Idle timeout"),
        };
        let evicted = self.admission.evicted().unwrap_or_default();
        let waiting = self.admission.evicted().is_some();
        let control = &mut self.control;
        tokio::select! {
            () = shutdown.cancelled() => {
                control.reply(Reply::new(Code::NotAvailable, "Server shutting down; closing control connection")).await;
                None
            }
            () = evicted.cancelled(), if waiting => {
                tracing::info!("closed while waiting to log in, to make room (limits.max_unauthenticated)");
                control.reply(Reply::new(Code::NotAvailable, "Too many connections waiting to log in; closing")).await;
                None
            }
            r = tokio::time::timeout_at(deadline, control.next()) => match r {
                Err(_) => {
                    tracing::info!("{}", what.to_lowercase());
                    control.reply(Reply::new(Code::NotAvailable, format!("{what}; closing control connection"))).await;
                    None
                }
                Ok(None) => None,
                Ok(Some(Ok(line))) => Some(line),
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %e, "control connection error");
                    let (reply, _) = reply_for(&e.into());
                    control.reply(reply).await;
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
        let charset = self.control.charset();
        let Some(line) = charset.decode_line(line) else {
            let text = format!("Command is not valid {} text", charset.name());
            self.control
                .reply(Reply::new(Code::BadArguments, text))
                .await;
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
        self.control.reply(reply).await;
        self.control.closing |= then == Then::Close;
        then
    }

    /// The context of a command that needs no login.
    fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            st: &mut self.state,
            control: &mut self.control,
            gw: &self.shared,
        }
    }

    /// The context of a logged-in command; 530 before login.
    fn user(&mut self) -> Result<UserCtx<'_>, FtpError> {
        let Login::LoggedIn(account, ns) = &self.login else {
            return Err(refuse(
                Code::NotLoggedIn,
                "Please log in with USER and PASS",
            ));
        };
        Ok(UserCtx {
            account,
            ns,
            st: &mut self.state,
            control: &mut self.control,
            gw: &self.shared,
        })
    }

    /// Refuses what a command may not do in the session's present state:
    /// anything but the login, TLS and information commands before login,
    /// USER and PASS in the clear where TLS is required. RNTO must follow
    /// RNFR directly.
    fn admit(&mut self, cmd: &Command) -> Result<(), FtpError> {
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
            self.user()?;
        }
        if matches!(cmd, C::User(_) | C::Pass(_))
            && !self.control.is_secure()
            && self.shared.config.tls.as_ref().is_some_and(|t| t.required)
        {
            return Err(refuse(
                Code::NotLoggedIn,
                "This server requires encryption: send AUTH TLS before USER and PASS",
            ));
        }
        if !matches!(cmd, C::Rnto(_)) {
            self.state.rename_from = None;
        }
        Ok(())
    }

    /// The one exhaustive `match` from command to handler. Handlers return
    /// a reply or an error; QUIT and AUTH also say what follows.
    #[allow(
        clippy::too_many_lines,
        reason = "the one dispatch match: one arm per command"
    )]
    async fn dispatch(&mut self, cmd: Command) -> Result<Answer, FtpError> {
        use Command as C;
        self.admit(&cmd)?;
        let reply = match cmd {
            C::User(name) => {
                let mut cx = Ctx {
                    st: &mut self.state,
                    control: &mut self.control,
                    gw: &self.shared,
                };
                auth::user(&mut cx, &mut self.login, &mut self.admission, name).await
            }
            C::Pass(pw) => {
                let mut cx = Ctx {
                    st: &mut self.state,
                    control: &mut self.control,
                    gw: &self.shared,
                };
                auth::pass(&mut cx, &mut self.login, &mut self.admission, pw).await
            }
            C::Quit => return Ok(Answer::close(Reply::new(Code::Goodbye, "Goodbye"))),
            C::Noop => Ok(Reply::new(Code::Ok, "NOOP ok")),
            C::Syst => Ok(Reply::new(Code::SystemType, "UNIX Type: L8")),
            C::Feat => Ok(info::feat(&self.ctx())),
            C::Opts(arg) => info::opts(&mut self.ctx(), &arg),
            C::Help => Ok(info::help()),
            C::Stat(None) => Ok(info::stat_server(&mut self.user()?).await),
            C::Stat(Some(path)) => stat::stat_path(&mut self.user()?, &path).await,
            C::Type(t) => {
                self.state.ttype = t;
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
            C::Pwd => Ok(info::pwd(&self.state)),
            C::Cwd(path) => nav::cwd(&mut self.user()?, &path).await,
            C::Cdup => nav::cwd(&mut self.user()?, "..").await,
            C::Mkd(path) => files::mkd(&mut self.user()?, &path).await,
            C::Rmd(path) => files::rmd(&mut self.user()?, &path).await,
            C::Dele(path) => files::dele(&mut self.user()?, &path).await,
            C::Rnfr(path) => rename::rnfr(&mut self.user()?, &path).await,
            C::Rnto(path) => rename::rnto(&mut self.user()?, &path).await,
            C::Size(path) => files::size(&mut self.user()?, &path).await,
            C::Mdtm(path) => files::mdtm(&mut self.user()?, &path).await,
            C::Hash(path) => hash::hash(&mut self.user()?, &path).await,
            C::Mfmt { time, path } => files::mfmt(&mut self.user()?, time, &path).await,
            C::Rest(n) => {
                self.state.rest = Some(n);
                Ok(Reply::new(
                    Code::Pending,
                    format!("Restarting at {n}. Send RETR, or STOR to resume an upload"),
                ))
            }
            C::Retr(path) => transfer::retr(&mut self.user()?, &path).await,
            C::Stor(path) => upload::stor(&mut self.user()?, &path, StorMode::Replace).await,
            C::Stou(name) => upload::stou(&mut self.user()?, name).await,
            C::Appe(path) => upload::stor(&mut self.user()?, &path, StorMode::Append).await,
            C::Abor => Ok(Reply::new(
                Code::TransferComplete,
                "No transfer in progress",
            )),
            C::List(path) => list::list(&mut self.user()?, path, ListFormat::Long).await,
            C::Nlst(path) => list::list(&mut self.user()?, path, ListFormat::Names).await,
            C::Mlsd(path) => list::list(&mut self.user()?, path, ListFormat::Facts).await,
            C::Mlst(path) => stat::mlst(&mut self.user()?, path).await,
            C::Pasv => nav::pasv(&mut self.ctx()).await,
            C::Epsv => nav::epsv(&mut self.ctx()).await,
            C::EpsvAll => {
                self.state.epsv_all = true;
                Ok(Reply::new(
                    Code::Ok,
                    "EPSV ALL ok: from now on only EPSV sets up data connections",
                ))
            }
            C::Site(cmd) => site::site(&mut self.user()?, cmd).await,
            C::Port(addr) | C::Eprt(addr) => nav::port(&mut self.ctx(), addr),
            C::Auth(mech) => return tls::auth(&self.ctx(), &mech),
            C::Pbsz(size) => tls::pbsz(&self.ctx(), &size),
            C::Prot(level) => tls::prot(&mut self.ctx(), &level),
            C::Ccc => tls::ccc(&self.ctx()),
            C::Unknown(verb) => Err(refuse(
                Code::NotImplemented,
                format!("{verb} not implemented"),
            )),
        };
        reply.map(Answer::from)
    }
}
