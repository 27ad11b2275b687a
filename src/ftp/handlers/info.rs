//! FEAT, OPTS, HELP, STAT (server), PWD: answers about the server and session.

use crate::ftp::charset::Charset;
use crate::ftp::command::TransferType;
use crate::ftp::context::{Ctx, Outcome, State, UserCtx};
use crate::ftp::error::refuse;
use crate::ftp::reply::{Code, Reply, quote_path};

/// Exactly what this server implements, as FEAT lines.
pub const FEATURES: &[&str] = &[
    "EPRT",
    "EPSV",
    "MDTM",
    "MFMT",
    "MLST type*;size*;modify*;perm*;",
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
];

/// FEAT lines added when FTPS is configured (RFC 4217).
pub const TLS_FEATURES: &[&str] = &["AUTH SSL", "AUTH TLS", "PBSZ", "PROT"];

/// FEAT: what this server implements, as this session sees it.
pub(in crate::ftp) fn feat(cx: &Ctx<'_>) -> Reply {
    let hash = crate::ftp::context::HashAlgo::feat_line(cx.st.hash_algo);
    // UTF8 only while the session speaks it (RFC 2640).
    let utf8 = cx.control.charset().is_utf8();
    let mut features: Vec<&str> = FEATURES
        .iter()
        .copied()
        .filter(|f| utf8 || *f != "UTF8")
        .collect();
    features.push(&hash);
    if cx.gw.tls.is_some() {
        features.extend(TLS_FEATURES);
    }
    features.sort_unstable();
    let mut lines = vec!["Features:".to_owned()];
    lines.extend(features.iter().map(|f| format!(" {f}")));
    lines.push("End".into());
    Reply::multi(Code::SystemStatus, lines)
}

/// OPTS UTF8, OPTS HASH, OPTS MLST.
pub(in crate::ftp) fn opts(cx: &mut Ctx<'_>, arg: &str) -> Outcome {
    let upper = arg.to_ascii_uppercase();
    let mut words = upper.split_whitespace();
    match (words.next(), words.next()) {
        (Some("HASH"), _) => super::hash::opts_hash(cx.st, arg.trim().get(4..)),
        (Some("UTF8" | "UTF-8"), Some("ON") | None) => {
            cx.st.utf8_asked = true;
            cx.control.set_charset(Charset::utf8());
            Ok(Reply::new(Code::Ok, "Always in UTF8 mode"))
        }
        (Some("UTF8" | "UTF-8"), Some("OFF")) if cx.st.native.is_utf8() => Err(refuse(
            Code::ParameterNotImplemented,
            "UTF8 cannot be turned off",
        )),
        (Some("UTF8" | "UTF-8"), Some("OFF")) => {
            cx.st.utf8_asked = false;
            cx.control.set_charset(cx.st.native);
            Ok(Reply::new(
                Code::Ok,
                format!("Names in {} now", cx.st.native.name()),
            ))
        }
        (Some("MLST"), _) => Ok(Reply::new(Code::Ok, "MLST OPTS type;size;modify;perm;")),
        _ => Err(refuse(
            Code::BadArguments,
            format!("Option not understood: {arg}"),
        )),
    }
}

/// HELP: the commands this server knows.
pub(in crate::ftp) fn help() -> Reply {
    Reply::multi(
        Code::Help,
        vec![
            "The following commands are recognized:".into(),
            " ABOR ALLO APPE CDUP CWD  DELE EPRT EPSV FEAT HASH HELP LIST MDTM MFMT".into(),
            " MKD  MLSD MLST MODE NLST NOOP OPTS PASS PASV PORT PWD  QUIT REST RETR".into(),
            " RMD  RNFR RNTO SITE SIZE STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD XPWD"
                .into(),
            " XRMD".into(),
            "Help OK".into(),
        ],
    )
}

/// STAT without an argument: the session's status.
pub(in crate::ftp) async fn stat_server(u: &mut UserCtx<'_>) -> Reply {
    let (st, account) = (&*u.st, u.account);
    let mode = match st.ttype {
        TransferType::Ascii => "ASCII",
        TransferType::Binary => "BINARY",
    };
    let mut text = vec![
        "s3ftpd status:".into(),
        format!(" Connected to {}", st.peer.ip()),
        format!(" Logged in as {}", account.name),
        format!(" TYPE: {mode}, MODE: Stream, STRUcture: File"),
        format!(" Current directory: {}", st.cwd),
    ];
    let s = &account.settings;
    for (what, rate) in [
        ("Upload", s.upload_bandwidth),
        ("Download", s.download_bandwidth),
    ] {
        if let Some(r) = rate {
            text.push(format!(
                " {what} bandwidth: {r} = {} bytes/s (all sessions of {})",
                r.0, account.name
            ));
        }
    }
    match super::quota::lines(u).await {
        Ok(lines) if lines.is_empty() => {}
        Ok(lines) => {
            text.push(" Quota:".into());
            text.extend(lines.into_iter().map(|l| format!(" {l}")));
        }
        Err(e) => text.push(format!(
            " Quota: usage not available now ({})",
            crate::ftp::error::reply_for(&e).0.lines.join(" ")
        )),
    }
    text.push("End of status".into());
    Reply::multi(Code::SystemStatus, text)
}

/// PWD.
pub(in crate::ftp) fn pwd(st: &State) -> Reply {
    Reply::new(
        Code::PathCreated,
        format!("{} is the current directory", quote_path(st.cwd.as_str())),
    )
}
