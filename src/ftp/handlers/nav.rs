//! CWD/CDUP and the data-connection setup commands PASV, EPSV, PORT, EPRT.

use std::net::{IpAddr, SocketAddr};

use crate::ftp::context::{Ctx, Outcome, UserCtx};
use crate::ftp::data::{ActiveRefusal, DataPlan, canonical, check_active, epsv_text, pasv_text};
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::reply::{Code, Reply};
use crate::namespace::Op;

/// CWD (and CDUP, as `CWD ..`): the home, a mount point and the folders
/// leading to one always exist; any other folder when S3 has its marker
/// or a key under it.
pub(in crate::ftp) async fn cwd(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(arg)?;
    // Entering a folder reveals nothing: a drop folder's clients CWD into
    // it before they STOR, with no `list` there.
    let dir = u.ns.dir(&path, Op::Lookup)?;
    if !path.is_root() && !u.ns.holds_mount(&path) && !dir.storage.dir_exists(&dir.key).await? {
        return Err(refuse(
            Code::FileUnavailable,
            format!("{path}: no such directory"),
        ));
    }
    u.st.cwd = path;
    Ok(Reply::new(
        Code::FileActionOk,
        format!("Directory changed to {}", u.st.cwd),
    ))
}

async fn bind_passive(cx: &mut Ctx<'_>) -> Result<u16, FtpError> {
    cx.st.data = None; // a new PASV replaces (and releases) the previous one
    let timeouts = cx.gw.timeouts;
    let client = cx.gw.config.passive.peer_check.then_some(cx.st.peer.ip());
    let pending = cx
        .gw
        .ports
        .expect(cx.st.local.ip(), client, timeouts.passive, timeouts.data)
        .await
        .map_err(|e| {
            refuse(
                Code::CantOpenData,
                format!("Cannot open passive connection: {e}"),
            )
        })?;
    let port = pending.port();
    cx.st.data = Some(DataPlan::Passive(pending));
    Ok(port)
}

/// RFC 2428: after `EPSV ALL` only EPSV sets up data connections.
fn refuse_after_epsv_all(cx: &Ctx<'_>, verb: &str) -> Result<(), FtpError> {
    if cx.st.epsv_all {
        return Err(refuse(
            Code::FileUnavailable,
            format!("{verb} not allowed after EPSV ALL; use EPSV"),
        ));
    }
    Ok(())
}

/// PASV: a passive port on the control connection's address (or `passive.public_host`).
pub(in crate::ftp) async fn pasv(cx: &mut Ctx<'_>) -> Outcome {
    refuse_after_epsv_all(cx, "PASV")?;
    let ip = match cx.gw.config.passive.public_host.as_deref() {
        Some(host) => match host.parse::<IpAddr>() {
            Ok(ip) => canonical(ip),
            Err(_) => tokio::net::lookup_host((host, 0))
                .await
                .ok()
                .and_then(|mut addrs| addrs.find(SocketAddr::is_ipv4))
                .map(|a| a.ip())
                .ok_or_else(|| {
                    refuse(
                        Code::CantOpenData,
                        format!("Cannot resolve passive.public_host {host:?} to an IPv4 address"),
                    )
                })?,
        },
        None => canonical(cx.st.local.ip()),
    };
    let IpAddr::V4(v4) = ip else {
        return Err(refuse(Code::CantOpenData, "PASV needs IPv4; use EPSV"));
    };
    let port = bind_passive(cx).await?;
    Ok(Reply::new(Code::Passive, pasv_text(v4, port)))
}

/// EPSV: a passive port, by number only.
pub(in crate::ftp) async fn epsv(cx: &mut Ctx<'_>) -> Outcome {
    let port = bind_passive(cx).await?;
    Ok(Reply::new(Code::ExtendedPassive, epsv_text(port)))
}

/// PORT and EPRT: the gateway will connect to the client.
pub(in crate::ftp) fn port(cx: &mut Ctx<'_>, target: SocketAddr) -> Outcome {
    refuse_after_epsv_all(cx, "PORT/EPRT")?;
    if !cx.gw.config.active.enabled {
        return Err(refuse(
            Code::NotImplemented,
            "Active mode is disabled on this server; use PASV or EPSV",
        ));
    }
    let peer = cx.st.peer.ip();
    let target = if cx.gw.config.active.connect_to_peer && target.ip() != peer {
        // A client behind NAT names its private address (active.connect_to_peer).
        tracing::debug!(%target, %peer, "PORT/EPRT address replaced by the control peer's");
        SocketAddr::new(peer, target.port())
    } else {
        target
    };
    match check_active(target, peer) {
        Ok(()) => {}
        Err(ActiveRefusal::OtherHost) => {
            tracing::warn!(%target, "PORT to another host refused (RFC 2577)");
            return Err(refuse(
                Code::BadArguments,
                "PORT/EPRT must name your own address",
            ));
        }
        Err(ActiveRefusal::LowPort) => {
            return Err(refuse(
                Code::ParameterNotImplemented,
                "PORT/EPRT to a port below 1024 refused",
            ));
        }
    }
    cx.st.data = Some(DataPlan::Active(target));
    Ok(Reply::new(
        Code::Ok,
        "PORT command successful; consider using PASV",
    ))
}
