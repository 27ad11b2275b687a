//! Data connections: passive listeners from a shared port pool, active connects,
//! and the RFC 2577 rules (data peers must be the control peer).
//!
//! A passive port is leased from [`PassivePorts`] when PASV/EPSV binds it. A
//! background task accepts the data connection right away and the port goes
//! back to the pool as soon as the connection is accepted or `data_timeout`
//! passes, so a small range (10–20 ports behind a Kubernetes service) serves
//! many concurrent sessions; a PASV that finds every port leased waits for
//! one to come back, up to `data_timeout`.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, oneshot};

use crate::config::PortRange;

/// The stream a transfer reads or writes: plain TCP, or TLS under `PROT P`.
pub type DataStream =
    tokio_util::either::Either<TcpStream, tokio_rustls::server::TlsStream<TcpStream>>;

/// The passive port range and which ports are leased.
#[derive(Debug)]
pub struct PassivePorts {
    range: PortRange,
    leased: Mutex<HashSet<u16>>,
    released: Notify,
}

/// A bound passive listener; its port returns to the pool when dropped.
#[derive(Debug)]
pub struct PassiveListener {
    listener: TcpListener,
    port: u16,
    pool: Arc<PassivePorts>,
}

impl Drop for PassiveListener {
    fn drop(&mut self) {
        self.pool
            .leased
            .lock()
            .expect("port pool poisoned")
            .remove(&self.port);
        self.pool.released.notify_waiters();
    }
}

impl PassivePorts {
    /// A pool over `range`.
    #[must_use]
    pub fn new(range: PortRange) -> Arc<Self> {
        Arc::new(Self {
            range,
            leased: Mutex::new(HashSet::new()),
            released: Notify::new(),
        })
    }

    /// Binds a listener on `ip`, waiting up to `wait` for a port to come free
    /// (woken by this pool's releases, and retrying every 100 ms).
    ///
    /// # Errors
    /// `AddrInUse` when no port came free in time; other bind errors.
    pub async fn lease(
        self: &Arc<Self>,
        ip: IpAddr,
        wait: Duration,
    ) -> io::Result<PassiveListener> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            match self.bind(ip) {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
                other => return other,
            }
            // Wake when this pool releases a port, or retry soon anyway: a port can
            // also be held by another process on the host, which tells us nothing.
            let retry = tokio::time::sleep(Duration::from_millis(100));
            let wait = async {
                tokio::select! {
                    () = released => {}
                    () = retry => {}
                }
            };
            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "no free passive port",
                ));
            }
        }
    }

    /// Binds a listener on `ip` at a free port of the range, starting at a random one.
    ///
    /// # Errors
    /// `AddrInUse` when every port is leased or taken.
    pub fn bind(self: &Arc<Self>, ip: IpAddr) -> io::Result<PassiveListener> {
        let len = self.range.len();
        let start = rand::random_range(0..len);
        for i in 0..len {
            let port = self.range.first + u16::try_from((start + i) % len).unwrap_or(0);
            if !self.leased.lock().expect("port pool poisoned").insert(port) {
                continue;
            }
            match listen_on(SocketAddr::new(ip, port)) {
                Ok(listener) => {
                    return Ok(PassiveListener {
                        listener,
                        port,
                        pool: self.clone(),
                    });
                }
                Err(_) => {
                    self.leased
                        .lock()
                        .expect("port pool poisoned")
                        .remove(&port);
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no free passive port",
        ))
    }

    /// Ports currently leased (for tests and metrics).
    #[must_use]
    pub fn leased(&self) -> usize {
        self.leased.lock().expect("port pool poisoned").len()
    }
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Earlier data connections of this port may still be open: allow the rebind.
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(16)
}

impl PassiveListener {
    /// The bound port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// A passive data connection being accepted in the background.
#[derive(Debug)]
pub struct PendingPassive {
    rx: oneshot::Receiver<io::Result<TcpStream>>,
}

impl PendingPassive {
    /// Accepts on `listener` in the background: the first connection from
    /// `peer` (others are dropped and logged; `None` accepts any address —
    /// `passive.peer_check: false`), or a timeout after `wait`.
    /// The port is released as soon as that is decided, or when the session
    /// drops this value.
    /// Connections from `proxy` balancers start with a PROXY header naming
    /// the client, which is then the address checked.
    #[must_use]
    pub fn spawn(
        listener: PassiveListener,
        peer: Option<IpAddr>,
        proxy: super::proxy::ProxyTrust,
        wait: Duration,
    ) -> Self {
        let (mut tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let result = tokio::select! {
                () = tx.closed() => return,
                r = accept_from(&listener, peer, &proxy, wait) => r,
            };
            drop(listener);
            let _ = tx.send(result);
        });
        Self { rx }
    }
}

async fn accept_from(
    pl: &PassiveListener,
    peer: Option<IpAddr>,
    proxy: &super::proxy::ProxyTrust,
    wait: Duration,
) -> io::Result<TcpStream> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (mut stream, mut from) = tokio::time::timeout_at(deadline, pl.listener.accept())
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no data connection within data_timeout",
                )
            })??;
        if proxy.trusts(from.ip()) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match super::proxy::read_header(&mut stream, left).await {
                Ok(Some(client)) => from = client,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(balancer = %from, error = %e, "passive connection from a trusted proxy without a valid PROXY header dropped");
                    continue;
                }
            }
        }
        if peer.is_none_or(|p| canonical(from.ip()) == canonical(p)) {
            stream.set_nodelay(true)?;
            return Ok(stream);
        }
        tracing::warn!(%from, expected = ?peer, "dropped passive data connection from another host");
    }
}

/// How the next transfer gets its data connection.
#[derive(Debug)]
pub enum DataPlan {
    /// The client connects to our listener (accepted in the background).
    Passive(PendingPassive),
    /// We connect to the client.
    Active(SocketAddr),
}

/// Canonical form for comparing peers (`::ffff:a.b.c.d` is `a.b.c.d`).
#[must_use]
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

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
        DataPlan::Passive(pending) => pending
            .rx
            .await
            .unwrap_or_else(|_| Err(io::Error::other("passive listener gone"))),
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

    #[tokio::test]
    async fn ports_are_leased_until_dropped_and_reused() {
        let pool = PassivePorts::new("42100-42101".parse().unwrap());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = pool.bind(ip).unwrap();
        let b = pool.bind(ip).unwrap();
        assert_ne!(a.port(), b.port());
        assert!(pool.bind(ip).is_err(), "range of two is exhausted");
        drop(a);
        assert_eq!(pool.leased(), 1);
        let c = pool.bind(ip).unwrap();
        assert!((42100..=42101).contains(&c.port()));
        // A lease waits for a port to come back.
        let waiter = tokio::spawn({
            let pool = pool.clone();
            async move { pool.lease(ip, Duration::from_secs(5)).await }
        });
        tokio::task::yield_now().await;
        let freed = c.port();
        drop(c);
        let held = waiter.await.unwrap().unwrap();
        assert_eq!(held.port(), freed);
        assert!(
            pool.lease(ip, Duration::from_millis(50)).await.is_err(),
            "times out when nothing is freed"
        );
    }
}

#[cfg(test)]
mod pending_tests {
    use super::*;

    #[tokio::test]
    async fn dropping_a_pending_passive_closes_its_port() {
        let pool = PassivePorts::new("42300-42310".parse().unwrap());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let l = pool.bind(ip).unwrap();
        let port = l.port();
        let pending = PendingPassive::spawn(
            l,
            Some(ip),
            super::super::proxy::ProxyTrust::default(),
            Duration::from_secs(30),
        );
        tokio::task::yield_now().await;
        drop(pending);
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.leased(), 0, "lease returned");
        assert!(
            TcpStream::connect(("127.0.0.1", port)).await.is_err(),
            "listener closed"
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
