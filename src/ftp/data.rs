//! Data connections: the plan a PASV/EPSV/PORT/EPRT made, active connects,
//! and the RFC 2577 rules (data peers must be the control peer). Passive
//! listeners live in [`super::passive`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};

pub use super::passive::PendingPassive;

/// The stream a transfer reads or writes: plain TCP, or TLS under `PROT P`.
pub type DataStream =
    tokio_util::either::Either<TcpStream, tokio_rustls::server::TlsStream<TcpStream>>;

/// How the next transfer gets its data connection.
#[derive(Debug)]
pub enum DataPlan {
    /// The client connects to our listener (accepted in the background).
    Passive(PendingPassive),
    /// We connect to the client.
    Active(SocketAddr),
}

/// A reader that counts the bytes it passes on (what `STAT` during an
/// upload reports).
#[derive(Debug)]
pub struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> Counted<R> {
    /// Counts what `inner` yields into `count`.
    pub fn new(inner: R, count: Arc<AtomicU64>) -> Self {
        Self { inner, count }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

/// Canonical form for comparing peers (`::ffff:a.b.c.d` is `a.b.c.d`).
pub use crate::config::networks::canonical;

/// Why a PORT/EPRT address is refused (RFC 2577).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveRefusal {
    /// Not the control connection's peer: 501.
    OtherHost,
    /// A privileged port: 504.
    LowPort,
}

/// Checks an active-mode target against the control peer.
///
/// # Errors
/// The [`ActiveRefusal`] that applies.
pub fn check_active(target: SocketAddr, control_peer: IpAddr) -> Result<(), ActiveRefusal> {
    if canonical(target.ip()) != canonical(control_peer) {
        return Err(ActiveRefusal::OtherHost);
    }
    if target.port() < 1024 {
        return Err(ActiveRefusal::LowPort);
    }
    Ok(())
}

/// Text of the 227 reply.
#[must_use]
pub fn pasv_text(ip: Ipv4Addr, port: u16) -> String {
    let [a, b, c, d] = ip.octets();
    format!(
        "Entering Passive Mode ({a},{b},{c},{d},{},{})",
        port >> 8,
        port & 0xFF
    )
}

/// Text of the 229 reply.
#[must_use]
pub fn epsv_text(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|)")
}

/// Opens the data connection of `plan`: waits for the passive accept, or
/// connects to the client (at most `wait`).
///
/// # Errors
/// On timeout or socket errors.
pub async fn open(plan: DataPlan, local: IpAddr, wait: Duration) -> io::Result<TcpStream> {
    match plan {
        DataPlan::Passive(mut pending) => pending.connection().await,
        DataPlan::Active(target) => {
            let sock = if target.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            if local.is_ipv4() == target.is_ipv4() {
                sock.bind(SocketAddr::new(local, 0))?;
            }
            let stream = tokio::time::timeout(wait, sock.connect(target))
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "data connection timed out")
                })??;
            stream.set_nodelay(true)?;
            Ok(stream)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_texts() {
        assert_eq!(
            pasv_text(Ipv4Addr::new(192, 168, 1, 2), 50001),
            "Entering Passive Mode (192,168,1,2,195,81)"
        );
        assert_eq!(
            epsv_text(50001),
            "Entering Extended Passive Mode (|||50001|)"
        );
    }

    #[test]
    fn active_targets_follow_rfc_2577() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            check_active("127.0.0.1:2000".parse().unwrap(), peer),
            Ok(())
        );
        assert_eq!(
            check_active("127.0.0.2:2000".parse().unwrap(), peer),
            Err(ActiveRefusal::OtherHost)
        );
        assert_eq!(
            check_active("127.0.0.1:25".parse().unwrap(), peer),
            Err(ActiveRefusal::LowPort)
        );
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(
            check_active("127.0.0.1:2000".parse().unwrap(), mapped),
            Ok(())
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn pasv_and_epsv_texts_round_trip(ip in any::<[u8; 4]>(), port in any::<u16>()) {
            let text = pasv_text(Ipv4Addr::from(ip), port);
            let inner = &text[text.find('(').unwrap() + 1..text.find(')').unwrap()];
            let n: Vec<u16> = inner.split(',').map(|x| x.parse().unwrap()).collect();
            prop_assert_eq!(&n[..4], &ip.map(u16::from)[..]);
            prop_assert_eq!(n[4] * 256 + n[5], port);
            let text = epsv_text(port);
            prop_assert_eq!(text.split('|').nth(3).unwrap().parse::<u16>().unwrap(), port);
        }
    }
}
