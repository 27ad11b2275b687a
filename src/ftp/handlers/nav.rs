//! CWD/CDUP and the data-connection setup commands PASV, EPSV, PORT, EPRT.

use std::net::{IpAddr, SocketAddr};

use crate::ftp::data::{ActiveRefusal, DataPlan, canonical, check_active, epsv_text, pasv_text};
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::reply::{Code, Reply};
use crate::ftp::session::{Outcome, Session};

impl Session {
    pub(in crate::ftp) async fn cmd_cwd(&mut self, arg: &str) -> Outcome {
        let account = self.account()?;
        let path = self.cwd.resolve(arg)?;
        let prefix = account.root.dir_prefix(&path)?;
        if !path.is_root() && !self.storage()?.dir_exists(&prefix).await? {
            return Err(refuse(
                Code::FileUnavailable,
                format!("{path}: no such directory"),
            ));
        }
        self.cwd = path;
        Ok(Reply::new(
            Code::FileActionOk,
            format!("Directory changed to {}", self.cwd),
        ))
    }

    async fn bind_passive(&mut self) -> Result<u16, FtpError> {
        self.data = None; // a new PASV replaces (and releases) the previous one
        let timeouts = self.shared.timeouts;
        let client = self
            .shared
            .config
            .passive
            .peer_check
            .then_some(self.peer.ip());
        let pending = self
            .shared
            .ports
            .expect(self.local.ip(), client, timeouts.passive, timeouts.data)
            .await
            .map_err(|e| {
                refuse(
                    Code::CantOpenData,
                    format!("Cannot open passive connection: {e}"),
                )
            })?;
        let port = pending.port();
        self.data = Some(DataPlan::Passive(pending));
        Ok(port)
    }

    /// RFC 2428: after `EPSV ALL` only EPSV sets up data connections.
    fn refuse_after_epsv_all(&self, verb: &str) -> Result<(), FtpError> {
        if self.epsv_all {
            return Err(refuse(
                Code::FileUnavailable,
                format!("{verb} not allowed after EPSV ALL; use EPSV"),
            ));
        }
        Ok(())
    }

    pub(in crate::ftp) async fn cmd_pasv(&mut self) -> Outcome {
        self.refuse_after_epsv_all("PASV")?;
        let ip = match self.shared.config.passive.public_host.as_deref() {
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
                            format!(
                                "Cannot resolve passive.public_host {host:?} to an IPv4 address"
                            ),
                        )
                    })?,
            },
            None => canonical(self.local.ip()),
        };
        let IpAddr::V4(v4) = ip else {
            return Err(refuse(Code::CantOpenData, "PASV needs IPv4; use EPSV"));
        };
        let port = self.bind_passive().await?;
        Ok(Reply::new(Code::Passive, pasv_text(v4, port)))
    }

    pub(in crate::ftp) async fn cmd_epsv(&mut self) -> Outcome {
        let port = self.bind_passive().await?;
        Ok(Reply::new(Code::ExtendedPassive, epsv_text(port)))
    }

    pub(in crate::ftp) fn cmd_port(&mut self, target: SocketAddr) -> Outcome {
        self.refuse_after_epsv_all("PORT/EPRT")?;
        if !self.shared.config.active.enabled {
            return Err(refuse(
                Code::NotImplemented,
                "Active mode is disabled on this server; use PASV or EPSV",
            ));
        }
        let peer = self.peer.ip();
        let target = if self.shared.config.active.connect_to_peer && target.ip() != peer {
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
        self.data = Some(DataPlan::Active(target));
        Ok(Reply::new(
            Code::Ok,
            "PORT command successful; consider using PASV",
        ))
    }
}
