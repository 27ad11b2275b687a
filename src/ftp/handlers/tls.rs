//! AUTH, PBSZ, PROT, CCC (RFC 4217), and securing data connections.

use rustls::HandshakeKind;

use crate::ftp::context::{Answer, Ctx, Outcome, Shared, State, UserCtx};
use crate::ftp::data::DataStream;
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::reply::{Code, Reply};

fn tls_configured(gw: &Shared) -> Result<(), FtpError> {
    if gw.tls.is_none() {
        return Err(refuse(
            Code::NotImplemented,
            "FTPS is not configured on this server",
        ));
    }
    Ok(())
}

/// AUTH TLS: 234, then the session hands the connection to the handshake.
pub(in crate::ftp) fn auth(cx: &Ctx<'_>, mechanism: &str) -> Result<Answer, FtpError> {
    tls_configured(cx.gw)?;
    if cx.control.is_secure() {
        return Err(refuse(
            Code::PolicyRefused,
            "The control connection is already TLS",
        ));
    }
    if !matches!(mechanism, "TLS" | "TLS-C" | "SSL" | "TLS-P") {
        return Err(refuse(
            Code::ParameterNotImplemented,
            format!("AUTH {mechanism} not supported; use AUTH TLS"),
        ));
    }
    Ok(Answer::start_tls(Reply::new(
        Code::SecurityExchange,
        format!("AUTH {mechanism} ok; start the TLS handshake"),
    )))
}

/// PBSZ: only 0 makes sense for TLS.
pub(in crate::ftp) fn pbsz(cx: &Ctx<'_>, size: &str) -> Outcome {
    tls_configured(cx.gw)?;
    if !cx.control.is_secure() {
        return Err(refuse(Code::BadSequence, "PBSZ needs AUTH TLS first"));
    }
    if size.parse::<u64>().is_err() {
        return Err(refuse(
            Code::BadArguments,
            "PBSZ takes a number (use PBSZ 0)",
        ));
    }
    Ok(Reply::new(Code::Ok, "PBSZ=0"))
}

/// PROT: P (data connections in TLS) or C (clear).
pub(in crate::ftp) fn prot(cx: &mut Ctx<'_>, level: &str) -> Outcome {
    tls_configured(cx.gw)?;
    // RFC 4217 puts PBSZ before PROT; like vsftpd we only insist on AUTH
    // (Python's ftplib sends `PROT C` without PBSZ).
    if !cx.control.is_secure() {
        return Err(refuse(Code::BadSequence, "PROT needs AUTH TLS first"));
    }
    match level {
        "P" => {
            cx.st.prot_private = true;
            Ok(Reply::new(Code::Ok, "Protection level set to Private"))
        }
        "C" => {
            cx.st.prot_private = false;
            Ok(Reply::new(Code::Ok, "Protection level set to Clear"))
        }
        "S" | "E" => Err(refuse(
            Code::ProtNotSupported,
            format!("PROT {level} not supported; use P or C"),
        )),
        _ => Err(refuse(
            Code::ParameterNotImplemented,
            format!("Unknown protection level {level:?}"),
        )),
    }
}

/// CCC: refused, the control connection stays encrypted.
pub(in crate::ftp) fn ccc(cx: &Ctx<'_>) -> Outcome {
    tls_configured(cx.gw)?;
    Err(refuse(
        Code::PolicyRefused,
        "CCC refused: the control connection stays encrypted",
    ))
}

/// Refuses a clear data connection when `tls.required_data` says so (521).
pub(super) fn check_data_protection(gw: &Shared, st: &State) -> Result<(), FtpError> {
    let required = gw
        .config
        .tls
        .as_ref()
        .is_some_and(crate::config::Tls::data_required);
    if required && !st.prot_private {
        return Err(refuse(
            Code::ProtRefused,
            "Data connections must be encrypted: send PBSZ 0 and PROT P",
        ));
    }
    Ok(())
}

/// Under `PROT P`, runs the TLS handshake on an accepted data connection and,
/// with `tls.require_session_reuse`, insists it resumed a session (522 otherwise).
pub(super) async fn secure_data(
    u: &UserCtx<'_>,
    tcp: tokio::net::TcpStream,
) -> Result<DataStream, FtpError> {
    let tls = match (&u.gw.tls, u.st.prot_private) {
        (Some(tls), true) => tls,
        _ => return Ok(DataStream::Left(tcp)),
    };
    let wait = u.gw.timeouts.handshake;
    let stream = tokio::time::timeout(wait, tls.data_acceptor().accept(tcp))
        .await
        .map_err(|_| {
            refuse(
                Code::CantOpenData,
                "TLS handshake on the data connection timed out",
            )
        })?
        .map_err(|e| {
            refuse(
                Code::CantOpenData,
                format!("TLS handshake on the data connection failed: {e}"),
            )
        })?;
    let global =
        u.gw.config
            .tls
            .as_ref()
            .is_some_and(|t| t.require_session_reuse);
    let own = u.account.settings.require_session_reuse;
    if own.unwrap_or(global) && stream.get_ref().1.handshake_kind() != Some(HandshakeKind::Resumed)
    {
        tracing::warn!(
            setting = if own.is_some() {
                "users[].require_session_reuse"
            } else {
                "tls.require_session_reuse"
            },
            "TLS data connection did not resume the control connection's TLS session; refused. \
                 Clients that never resume (Apache Commons Net, Java jobs) need \
                 `require_session_reuse: false` on their user"
        );
        return Err(refuse(
            Code::ProtocolNotSupported,
            "TLS data connections must reuse the control connection's TLS session",
        ));
    }
    Ok(DataStream::Right(stream))
}
