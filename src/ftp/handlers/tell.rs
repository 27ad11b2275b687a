//! The events of FTP commands: who did what where, and a data event's
//! intent written before its change (durable delivery) and settled after.

use crate::events::{Event, Intent, Who};
use crate::ftp::context::UserCtx;
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::reply::Code;
use crate::namespace::VPath;
use crate::storage::Storage;

/// The session an event comes from.
pub(super) fn who(u: &UserCtx<'_>) -> Who {
    Who {
        user: u.account.name.clone(),
        ip: Some(u.st.peer.ip()),
        session_id: u.st.session.clone(),
        protocol: if u.control.is_secure() { "ftps" } else { "ftp" },
    }
}

/// A new event of `kind` at `path` (`key` of `storage`).
pub(super) fn event(
    u: &UserCtx<'_>,
    kind: &str,
    path: &VPath,
    storage: &Storage,
    key: &str,
) -> Event {
    let mut ev = Event::new(kind, &who(u));
    ev.data.path = Some(path.to_string());
    ev.data.profile = Some(storage.name().to_owned());
    ev.data.bucket = Some(storage.bucket().to_owned());
    ev.data.key = Some(key.to_owned());
    ev
}

/// Writes a data event's intent before its change; when the outbox cannot
/// be written the command is refused (451) and nothing changes.
pub(super) async fn intent(u: &UserCtx<'_>, ev: &Event) -> Result<Intent, FtpError> {
    u.gw.events.intent(ev).await.map_err(|e| {
        tracing::warn!(event = %ev.id, kind = %ev.kind, error = %e, "the event's outbox entry could not be written: the change is not made");
        refuse(
            Code::LocalError,
            format!("Cannot record the event of this change (events outbox): {e}; nothing was changed"),
        )
    })
}

/// Settles an intent: the event when the change was made, the intent
/// removed when it was not.
pub(super) fn settle<T, E>(u: &UserCtx<'_>, ev: &Event, intent: Intent, r: &Result<T, E>) {
    match r {
        Ok(_) => u.gw.events.done(ev, intent),
        Err(_) => u.gw.events.cancel(intent),
    }
}
