//! USER and PASS: the identity sources decide (`auth::Identity`); every
//! decision is logged (source, user, address, result, reason, time) and
//! counted by source and result only.

use std::net::IpAddr;
use std::time::Duration;

use crate::auth::{Account, Decision, Request, Verdict, is_anonymous_name};
use crate::config::{Secret, Settings};
use crate::ftp::admission::Admission;
use crate::ftp::charset::Charset;
use crate::ftp::context::{Accounts, Ctx, Login, Outcome};
use crate::ftp::error::{refuse, refuse_and_close};
use crate::ftp::reply::{Code, Reply};
use crate::namespace::VPath;

/// Why an account that proved itself may not log in from here.
const BARRED: &str = "allow_from / deny_from: the address may not log in to the account";

/// Pause after a failed PASS, slowing down password guessing.
const FAILURE_DELAY: Duration = Duration::from_millis(800);

/// USER: the name, then PASS — or, on a TLS connection whose client
/// certificate is the account's and whose account logs in by certificate
/// (`certificate: instead_of_password`), logged in at once (232).
pub(in crate::ftp) async fn user(
    cx: &mut Ctx<'_>,
    login: &mut Login,
    admission: &mut Admission,
    name: String,
) -> Outcome {
    if matches!(login, Login::LoggedIn(..)) {
        return Err(refuse(
            Code::NotLoggedIn,
            "Already logged in; reconnect to change user",
        ));
    }
    if let Some(cert) = cx.control.client_cert()
        && !is_anonymous_name(&name)
    {
        let accounts = cx.gw.accounts.load_full();
        let ip = crate::ftp::data::canonical(cx.st.peer.ip());
        let req = Request {
            name: &name,
            password: None,
            ip,
            secure: true,
            session: &cx.st.session,
            cert: Some(&cert),
        };
        let decision = accounts.identity.login(&req).await;
        match &decision.verdict {
            Verdict::Granted(account) if !barred(&account.settings, ip) => {
                log_decision(cx, &name, ip, &decision, "ok", "client certificate");
                enter(cx, login, admission, (**account).clone(), &accounts)?;
                return Ok(Reply::new(
                    Code::LoggedInBySecurity,
                    "Logged in by client certificate",
                ));
            }
            Verdict::Granted(_) => {
                log_decision(cx, &name, ip, &decision, "failed", BARRED);
                return Err(fail(cx, ip).await);
            }
            Verdict::Denied(why) | Verdict::Unavailable(why) => {
                tracing::debug!(user = %name, reason = %why, "no certificate login; the password is asked for");
            }
            Verdict::Unknown => {}
        }
    }
    let text = if is_anonymous_name(&name) {
        "Anonymous login ok, send your e-mail address as password"
    } else {
        "Password required"
    };
    *login = Login::AwaitingPass { user: name };
    Ok(Reply::new(Code::NeedPassword, text))
}

/// PASS: the sources decide; on success the session takes the account's
/// storage and character set, and its place among the logged-in sessions.
pub(in crate::ftp) async fn pass(
    cx: &mut Ctx<'_>,
    login: &mut Login,
    admission: &mut Admission,
    password: Secret,
) -> Outcome {
    let user = match std::mem::replace(login, Login::AwaitingUser) {
        Login::AwaitingPass { user } => user,
        Login::AwaitingUser => return Err(refuse(Code::BadSequence, "Login with USER first")),
        logged @ Login::LoggedIn(..) => {
            *login = logged;
            return Err(refuse(Code::BadSequence, "Already logged in"));
        }
    };
    let accounts = cx.gw.accounts.load_full();
    let ip = crate::ftp::data::canonical(cx.st.peer.ip());
    // An account the file knows has its address checked first: a refused
    // address never costs a password check.
    if accounts
        .identity
        .file_settings(&user)
        .is_some_and(|s| barred(s, ip))
    {
        tracing::warn!(source = "users", user = %user, %ip, result = "failed", "login refused: the account may not log in from this address (allow_from / deny_from)");
        tell_login(cx, &user, ip, Some(BARRED));
        cx.gw
            .metrics
            .logins
            .with_label_values(&["users", "failed"])
            .inc();
        return Err(fail(cx, ip).await);
    }
    let cert = cx.control.client_cert();
    let req = Request {
        name: &user,
        password: Some(&password),
        ip,
        secure: cx.control.is_secure(),
        session: &cx.st.session,
        cert: cert.as_ref(),
    };
    let decision = accounts.identity.login(&req).await;
    let why = match &decision.verdict {
        Verdict::Granted(account) if !barred(&account.settings, ip) => {
            log_decision(cx, &user, ip, &decision, "ok", "password");
            return enter(cx, login, admission, (**account).clone(), &accounts);
        }
        Verdict::Granted(_) => BARRED,
        Verdict::Denied(why) => why.as_str(),
        Verdict::Unknown => "no identity source knows the user",
        Verdict::Unavailable(why) => {
            // Fail closed: nobody is let in while a source cannot answer;
            // not a failed login of the client's (no ban for an outage).
            log_decision(cx, &user, ip, &decision, "error", why);
            tokio::time::sleep(FAILURE_DELAY).await;
            return Err(refuse_and_close(
                Code::NotAvailable,
                "Cannot check logins now; try again later",
            ));
        }
    };
    log_decision(cx, &user, ip, &decision, "failed", why);
    Err(fail(cx, ip).await)
}

/// Whether `ip` may not log in to an account with these settings.
fn barred(settings: &Settings, ip: IpAddr) -> bool {
    !settings.ip_rule().permits(ip)
}

/// One line and one count per decision: source, user, address, result,
/// reason, time (never the password).
fn log_decision(cx: &Ctx<'_>, user: &str, ip: IpAddr, d: &Decision, result: &str, reason: &str) {
    let source = d.source.map_or("none", crate::config::SourceName::as_str);
    let ms = d.latency.as_secs_f64() * 1000.0;
    let cached = d.cached.unwrap_or("no");
    match result {
        "ok" => {
            tracing::info!(source, user, %ip, result, reason, cached, latency_ms = ms, "login ok")
        }
        "error" => {
            tracing::error!(source, user, %ip, result, reason, cached, latency_ms = ms, "login refused: the identity source is unavailable (fail closed)")
        }
        _ => {
            tracing::warn!(source, user, %ip, result, reason, cached, latency_ms = ms, "login failed")
        }
    }
    tell_login(cx, user, ip, (result != "ok").then_some(reason));
    let m = &cx.gw.metrics;
    m.logins.with_label_values(&[source, result]).inc();
    m.login_seconds
        .with_label_values(&[source])
        .observe(d.latency.as_secs_f64());
}

/// The `login` event, or `login_failed` with its reason (best effort).
fn tell_login(cx: &Ctx<'_>, user: &str, ip: IpAddr, failed: Option<&str>) {
    let kind = if failed.is_some() {
        "login_failed"
    } else {
        "login"
    };
    if !cx.gw.events.wanted(kind) {
        return;
    }
    let who = crate::events::Who {
        user: user.to_owned(),
        ip: Some(ip),
        session_id: cx.st.session.clone(),
        protocol: if cx.control.is_secure() {
            "ftps"
        } else {
            "ftp"
        },
    };
    let mut ev = crate::events::Event::new(kind, &who);
    ev.data.reason = failed.map(str::to_owned);
    cx.gw.events.emit(&ev);
}

/// A failed login: counted against the address (bans apply to every
/// source alike), a pause, then "Login incorrect" — or the session closed.
async fn fail(cx: &mut Ctx<'_>, ip: IpAddr) -> crate::ftp::error::FtpError {
    cx.st.failures += 1;
    if cx.gw.bans.record_failure(ip, std::time::Instant::now()) {
        let l = &cx.gw.config.limits;
        tracing::warn!(%ip, failures = l.ban_after_failures, ban = ?l.ban_duration.0, "address banned after repeated login failures");
    }
    tokio::time::sleep(FAILURE_DELAY).await;
    if cx.gw.bans.is_banned(ip, std::time::Instant::now()) {
        return refuse_and_close(
            Code::NotAvailable,
            "Too many failed logins from your address; try again later",
        );
    }
    if cx.st.failures >= cx.gw.config.limits.max_login_failures {
        return refuse_and_close(
            Code::NotLoggedIn,
            "Login incorrect; too many failures, closing connection",
        );
    }
    refuse(Code::NotLoggedIn, "Login incorrect")
}

/// The session enters the account: its tree, its place among the
/// logged-in sessions, its character set.
fn enter(
    cx: &mut Ctx<'_>,
    login: &mut Login,
    admission: &mut Admission,
    account: Account,
    accounts: &Accounts,
) -> Outcome {
    let ns = match crate::namespace::tree(&account.name, &account.settings, &accounts.storages) {
        Ok(ns) => ns,
        Err(e) => {
            // The password was right, the account cannot be served: a
            // refusal, as a wrong password (nothing to learn from it).
            tracing::warn!(user = %account.name, error = %e, "login refused: the account's tree cannot be built");
            return Err(refuse(Code::NotLoggedIn, "Login incorrect"));
        }
    };
    if let Err(text) = admission.promote(&account.name, account.settings.max_sessions) {
        tracing::warn!(user = %account.name, text, "login refused: no place (limits.max_sessions or the account's max_sessions)");
        return Err(refuse_and_close(Code::NotAvailable, text));
    }
    tracing::Span::current().record("user", account.name.as_str());
    cx.st.cwd = VPath::root();
    if let Some(own) = account
        .settings
        .encoding
        .as_deref()
        .and_then(Charset::for_label)
    {
        cx.st.native = own;
    }
    if !cx.st.utf8_asked {
        cx.control.set_charset(cx.st.native);
    }
    *login = Login::LoggedIn(Box::new(account), std::sync::Arc::new(ns));
    Ok(Reply::new(Code::LoggedIn, "Login successful"))
}
