//! USER and PASS.

use std::time::Duration;

use crate::auth::is_anonymous_name;
use crate::config::Secret;
use crate::ftp::charset::Charset;
use crate::ftp::error::{refuse, refuse_and_close};
use crate::ftp::path::VPath;
use crate::ftp::reply::{Code, Reply};
use crate::ftp::session::{Login, Outcome, Session};

/// Pause after a failed PASS, slowing down password guessing.
const FAILURE_DELAY: Duration = Duration::from_millis(800);

impl Session {
    pub(in crate::ftp) fn cmd_user(&mut self, name: String) -> Outcome {
        if matches!(self.login, Login::LoggedIn(..)) {
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
        self.login = Login::AwaitingPass { user: name };
        Ok(Reply::new(Code::NeedPassword, text))
    }

    pub(in crate::ftp) async fn cmd_pass(&mut self, password: Secret) -> Outcome {
        let user = match std::mem::replace(&mut self.login, Login::AwaitingUser) {
            Login::AwaitingPass { user } => user,
            Login::AwaitingUser => return Err(refuse(Code::BadSequence, "Login with USER first")),
            logged @ Login::LoggedIn(..) => {
                self.login = logged;
                return Err(refuse(Code::BadSequence, "Already logged in"));
            }
        };
        let users = self.shared.users.clone();
        if let Some(account) = users.verify(&user, &password).await {
            if let Err(text) = self.admission.promote() {
                tracing::warn!(user = %account.name, text, "login refused: no place (limits.max_sessions)");
                return Err(refuse_and_close(Code::NotAvailable, text));
            }
            tracing::Span::current().record("user", account.name.as_str());
            tracing::info!(user = %account.name, "login ok");
            self.shared.metrics.logins.with_label_values(&["ok"]).inc();
            self.cwd = VPath::root();
            if let Some(own) = account.encoding.as_deref().and_then(Charset::for_label) {
                self.native = own;
            }
            if !self.utf8_asked {
                self.set_charset(self.native);
            }
            // Every account is served by the gateway's bucket for now.
            let storage = self.shared.storage.clone();
            self.login = Login::LoggedIn(account, Box::new(storage));
            return Ok(Reply::new(Code::LoggedIn, "Login successful"));
        }
        self.failures += 1;
        self.shared
            .metrics
            .logins
            .with_label_values(&["failed"])
            .inc();
        tracing::warn!(user = %user, failures = self.failures, "login failed");
        let ip = crate::ftp::data::canonical(self.peer.ip());
        if self
            .shared
            .bans
            .record_failure(ip, std::time::Instant::now())
        {
            let l = &self.shared.config.limits;
            tracing::warn!(%ip, failures = l.ban_after_failures, ban = ?l.ban_duration.0, "address banned after repeated login failures");
        }
        tokio::time::sleep(FAILURE_DELAY).await;
        if self.shared.bans.is_banned(ip, std::time::Instant::now()) {
            return Err(refuse_and_close(
                Code::NotAvailable,
                "Too many failed logins from your address; try again later",
            ));
        }
        if self.failures >= self.shared.config.limits.max_login_failures {
            return Err(refuse_and_close(
                Code::NotLoggedIn,
                "Login incorrect; too many failures, closing connection",
            ));
        }
        Err(refuse(Code::NotLoggedIn, "Login incorrect"))
    }
}
