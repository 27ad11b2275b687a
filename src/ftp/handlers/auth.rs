//! USER and PASS.

use std::net::IpAddr;
use std::time::Duration;

use crate::auth::{Account, is_anonymous_name};
use crate::config::Secret;
use crate::ftp::admission::Admission;
use crate::ftp::charset::Charset;
use crate::ftp::context::{Accounts, Ctx, Login, Outcome};
use crate::ftp::error::{refuse, refuse_and_close};
use crate::ftp::reply::{Code, Reply};
use crate::namespace::VPath;

/// Pause after a failed PASS, slowing down password guessing.
const FAILURE_DELAY: Duration = Duration::from_millis(800);

/// USER: the name, then PASS.
pub(in crate::ftp) fn user(login: &mut Login, name: String) -> Outcome {
    if matches!(login, Login::LoggedIn(..)) {
        return Err(refuse(
            Code::NotLoggedIn,
            "Already logged in; reconnect to change user",
        ));
    }
    let text = if is_anonymous_name(&name) {
        "Anonymous login ok, send your e-mail address as password"
    } else {
        "Password required"
    };
    *login = Login::AwaitingPass { user: name };
    Ok(Reply::new(Code::NeedPassword, text))
}

/// PASS: checks the password; on success the session takes the account's
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
    if let Some(account) = verify(&accounts, &user, &password, ip).await {
        let ns = match crate::namespace::tree(&account.name, &account.settings, &accounts.storages)
        {
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
        tracing::info!(user = %account.name, "login ok");
        cx.gw.metrics.logins.with_label_values(&["ok"]).inc();
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
        return Ok(Reply::new(Code::LoggedIn, "Login successful"));
    }
    cx.st.failures += 1;
    cx.gw.metrics.logins.with_label_values(&["failed"]).inc();
    tracing::warn!(user = %user, failures = cx.st.failures, "login failed");
    if cx.gw.bans.record_failure(ip, std::time::Instant::now()) {
        let l = &cx.gw.config.limits;
        tracing::warn!(%ip, failures = l.ban_after_failures, ban = ?l.ban_duration.0, "address banned after repeated login failures");
    }
    tokio::time::sleep(FAILURE_DELAY).await;
    if cx.gw.bans.is_banned(ip, std::time::Instant::now()) {
        return Err(refuse_and_close(
            Code::NotAvailable,
            "Too many failed logins from your address; try again later",
        ));
    }
    if cx.st.failures >= cx.gw.config.limits.max_login_failures {
        return Err(refuse_and_close(
            Code::NotLoggedIn,
            "Login incorrect; too many failures, closing connection",
        ));
    }
    Err(refuse(Code::NotLoggedIn, "Login incorrect"))
}

/// The account `name` logs in to with `password` from `ip`: its password
/// right and its address in its `allow_from` / not in its `deny_from`.
/// An account the file knows has its address checked first — a refused
/// address never costs a password check; an account an identity source
/// answers for is checked with the answer. Either way the client learns
/// only "Login incorrect" after PASS, and it counts as a failure.
async fn verify(accounts: &Accounts, name: &str, password: &Secret, ip: IpAddr) -> Option<Account> {
    let barred = |s: &crate::config::Settings| !s.ip_rule().permits(ip);
    if accounts.users.settings(name).is_some_and(barred) {
        tracing::warn!(user = %name, %ip, "login refused: the account may not log in from this address (allow_from / deny_from)");
        return None;
    }
    let account = accounts.users.verify(name, password).await?;
    if barred(&account.settings) {
        tracing::warn!(user = %name, %ip, "login refused: the account may not log in from this address (allow_from / deny_from)");
        return None;
    }
    Some(account)
}
