//! Passive data connections: ports shared between clients, so they cannot
//! be hoarded.
//!
//! A port of `passive.ports` is one listener that waits for the data
//! connections of any number of sessions, at most one per client address:
//! the peer check (RFC 2577) already ties a data connection to the address
//! of its control connection, so it also tells whose connection it is. A
//! client therefore holds at most one pending PASV per port, and whatever it
//! hoards, every other address still finds every port free. Each pending
//! PASV expires after `limits.passive_timeout`; a listener closes when it
//! has no pending PASV left. With `passive.peer_check: false` connections
//! cannot be told apart, so a pending PASV then takes its port for itself.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::data::canonical;
use super::proxy::ProxyTrust;
use crate::config::PortRange;

/// Longest wait for a port when this client already has a pending PASV on
/// every port of the range.
const MAX_LEASE_WAIT: Duration = Duration::from_secs(5);

/// Whose data connection a pending PASV waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Claim {
    /// Connections from this client address.
    Client(IpAddr),
    /// Any connection (no peer check): the whole port.
    Whole,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    deadline: Instant,
    tx: oneshot::Sender<io::Result<TcpStream>>,
}

/// One listening port and the PASVs waiting on it.
#[derive(Debug)]
struct Port {
    waiters: HashMap<Claim, Waiter>,
    changed: Arc<Notify>,
}

/// The passive port range: listeners and their pending PASVs.
#[derive(Debug)]
pub struct PassivePorts {
    range: PortRange,
    proxy: ProxyTrust,
    /// How long a trusted balancer has to send its PROXY header
    /// (`limits.handshake_timeout`, and never past the PASV's own deadline).
    header_wait: Duration,
    ports: Mutex<HashMap<SocketAddr, Port>>,
    released: Notify,
    next_id: AtomicU64,
}

/// A PASV waiting for its data connection; dropping it gives up the claim.
#[derive(Debug)]
pub struct PendingPassive {
    pool: Arc<PassivePorts>,
    addr: SocketAddr,
    claim: Claim,
    id: u64,
    rx: oneshot::Receiver<io::Result<TcpStream>>,
}

impl PassivePorts {
    /// A pool over `range`; connections from `proxy` balancers start with a
    /// PROXY header naming the client, sent within `header_wait`.
    #[must_use]
    pub fn new(range: PortRange, proxy: ProxyTrust, header_wait: Duration) -> Arc<Self> {
        Arc::new(Self {
            range,
            proxy,
            header_wait,
            ports: Mutex::default(),
            released: Notify::new(),
            next_id: AtomicU64::new(0),
        })
    }

    /// Waits, on a port of `ip`, for the data connection of `client` (any
    /// connection when `None`), for at most `accept_wait`. When this client
    /// has a pending PASV on every port, waits up to `lease_wait` (at most
    /// 5 s) for one to end.
    ///
    /// # Errors
    /// `AddrInUse` when no port came free in time; other bind errors.
    pub async fn expect(
        self: &Arc<Self>,
        ip: IpAddr,
        client: Option<IpAddr>,
        accept_wait: Duration,
        lease_wait: Duration,
    ) -> io::Result<PendingPassive> {
        let claim = client.map_or(Claim::Whole, |c| Claim::Client(canonical(c)));
        let deadline = Instant::now() + lease_wait.min(MAX_LEASE_WAIT);
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Some(p) = self.try_claim(ip, claim, accept_wait) {
                return Ok(p);
            }
            // A port can also be held by another process: retry soon anyway.
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

    /// Claims a port for `claim`: one whose listener serves other clients,
    /// or a new listener, starting at a random port.
    fn try_claim(
        self: &Arc<Self>,
        ip: IpAddr,
        claim: Claim,
        accept_wait: Duration,
    ) -> Option<PendingPassive> {
        let len = self.range.len();
        let start = rand::random_range(0..len);
        let mut ports = self.ports.lock().expect("port pool poisoned");
        for i in 0..len {
            let number = self.range.first + u16::try_from((start + i) % len).unwrap_or(0);
            let addr = SocketAddr::new(ip, number);
            let port = match ports.get_mut(&addr) {
                Some(p) if fits(p, claim) => p,
                Some(_) => continue,
                None => {
                    let Ok(listener) = listen_on(addr) else {
                        continue;
                    };
                    let changed = Arc::new(Notify::new());
                    tokio::spawn(self.clone().serve(addr, listener, changed.clone()));
                    ports.entry(addr).or_insert(Port {
                        waiters: HashMap::new(),
                        changed,
                    })
                }
            };
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            let deadline = Instant::now() + accept_wait;
            port.waiters.insert(claim, Waiter { id, deadline, tx });
            port.changed.notify_waiters();
            return Some(PendingPassive {
                pool: self.clone(),
                addr,
                claim,
                id,
                rx,
            });
        }
        None
    }

    /// Pending PASVs now (for tests and metrics).
    #[must_use]
    pub fn pending(&self) -> usize {
        let ports = self.ports.lock().expect("port pool poisoned");
        ports.values().map(|p| p.waiters.len()).sum()
    }

    /// Removes the waiter of `claim` on `addr` (when `id` still matches, or
    /// always when `None`) and closes the port when no waiter is left.
    fn take(&self, addr: SocketAddr, claim: Claim, id: Option<u64>) -> Option<Waiter> {
        let mut ports = self.ports.lock().expect("port pool poisoned");
        let port = ports.get_mut(&addr)?;
        if id.is_some_and(|id| port.waiters.get(&claim).is_none_or(|w| w.id != id)) {
            return None;
        }
        let waiter = port.waiters.remove(&claim);
        port.changed.notify_waiters();
        if port.waiters.is_empty() {
            ports.remove(&addr);
            drop(ports);
            self.released.notify_waiters();
        }
        waiter
    }

    /// Accepts on one port until it has no waiter left; expires waiters.
    async fn serve(self: Arc<Self>, addr: SocketAddr, listener: TcpListener, changed: Arc<Notify>) {
        loop {
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let ports = self.ports.lock().expect("port pool poisoned");
                match ports.get(&addr) {
                    Some(p) if Arc::ptr_eq(&p.changed, &changed) => {
                        p.waiters.values().map(|w| w.deadline).min()
                    }
                    _ => None,
                }
            };
            let Some(next) = next else { return };
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, from)) => {
                        tokio::spawn(self.clone().hand_over(addr, stream, from, next));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "passive accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = tokio::time::sleep_until(next) => self.expire(addr),
                () = notified => {}
            }
        }
    }

    /// Ends the waiters of `addr` whose time is up.
    fn expire(&self, addr: SocketAddr) {
        let now = Instant::now();
        let late: Vec<Claim> = {
            let ports = self.ports.lock().expect("port pool poisoned");
            let Some(p) = ports.get(&addr) else { return };
            p.waiters
                .iter()
                .filter(|(_, w)| w.deadline <= now)
                .map(|(c, _)| *c)
                .collect()
        };
        for claim in late {
            if let Some(w) = self.take(addr, claim, None) {
                let _ = w.tx.send(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no data connection within limits.passive_timeout",
                )));
            }
        }
    }

    /// Gives an accepted connection to the PASV of its client (the PROXY
    /// header's address for trusted balancers), or drops it.
    async fn hand_over(
        self: Arc<Self>,
        addr: SocketAddr,
        mut stream: TcpStream,
        mut from: SocketAddr,
        deadline: Instant,
    ) {
        if self.proxy.trusts(from.ip()) {
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1))
                .min(self.header_wait);
            match super::proxy::read_header(&mut stream, wait).await {
                Ok(Some(client)) => from = client,
                Ok(None) => {}
                Err(e) => {
                    return tracing::warn!(balancer = %from, error = %e, "passive connection from a trusted proxy without a valid PROXY header dropped");
                }
            }
        }
        let waiter = self
            .take(addr, Claim::Client(canonical(from.ip())), None)
            .or_else(|| self.take(addr, Claim::Whole, None));
        match waiter {
            Some(w) => {
                let _ = stream.set_nodelay(true);
                let _ = w.tx.send(Ok(stream));
            }
            None => {
                tracing::warn!(%from, port = addr.port(), "dropped passive data connection from a host with no PASV pending there");
            }
        }
    }
}

/// Whether `claim` can wait on `port` beside its current waiters.
fn fits(port: &Port, claim: Claim) -> bool {
    match claim {
        Claim::Whole => port.waiters.is_empty(),
        Claim::Client(_) => {
            !port.waiters.contains_key(&claim) && !port.waiters.contains_key(&Claim::Whole)
        }
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
    sock.listen(128)
}

impl PendingPassive {
    /// The port the client is to connect to.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The data connection, once the client made it.
    ///
    /// # Errors
    /// When `limits.passive_timeout` passed first.
    pub async fn connection(&mut self) -> io::Result<TcpStream> {
        (&mut self.rx)
            .await
            .unwrap_or_else(|_| Err(io::Error::other("passive listener gone")))
    }
}

impl Drop for PendingPassive {
    fn drop(&mut self) {
        self.pool.take(self.addr, self.claim, Some(self.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    const LONG: Duration = Duration::from_secs(30);

    /// A port range of `n` free ports (probed now; another process could
    /// still take one, which the pool skips).
    fn free_range(n: u16) -> PortRange {
        loop {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let first = l.local_addr().unwrap().port();
            if first.checked_add(n).is_none() {
                continue;
            }
            let last = first + n - 1;
            drop(l);
            if (first..=last).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
                return PortRange { first, last };
            }
        }
    }

    #[tokio::test]
    async fn one_port_serves_many_clients_and_tells_them_apart() {
        let pool = PassivePorts::new(free_range(1), ProxyTrust::default(), Duration::from_secs(5));
        let local = ip(1);
        let mut a = pool.expect(local, Some(ip(1)), LONG, LONG).await.unwrap();
        let mut b = pool.expect(local, Some(ip(2)), LONG, LONG).await.unwrap();
        assert_eq!(a.port(), b.port(), "one port, two clients");
        assert!(
            pool.expect(local, Some(ip(1)), LONG, Duration::from_millis(50))
                .await
                .is_err(),
            "one pending PASV per client and port"
        );
        let sock = TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::new(ip(2), 0)).unwrap();
        let _to_b = sock
            .connect(SocketAddr::new(local, b.port()))
            .await
            .unwrap();
        let got = b.connection().await.unwrap();
        assert_eq!(got.peer_addr().unwrap().ip(), ip(2));
        assert_eq!(pool.pending(), 1, "a is still waiting");
        let _to_a = TcpStream::connect(SocketAddr::new(local, a.port()))
            .await
            .unwrap();
        assert_eq!(
            a.connection().await.unwrap().peer_addr().unwrap().ip(),
            ip(1)
        );
        assert_eq!(pool.pending(), 0);
    }

    #[tokio::test]
    async fn pending_passives_expire_and_dropping_closes_the_port() {
        let pool = PassivePorts::new(free_range(2), ProxyTrust::default(), Duration::from_secs(5));
        let mut p = pool
            .expect(ip(1), Some(ip(1)), Duration::from_millis(100), LONG)
            .await
            .unwrap();
        let err = p.connection().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(pool.pending(), 0);
        let q = pool.expect(ip(1), None, LONG, LONG).await.unwrap();
        let port = q.port();
        drop(q);
        assert_eq!(pool.pending(), 0);
        for _ in 0..100 {
            if TcpStream::connect(SocketAddr::new(ip(1), port))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("listener not closed");
    }

    #[tokio::test]
    async fn without_peer_check_a_pasv_takes_the_whole_port() {
        let pool = PassivePorts::new(free_range(1), ProxyTrust::default(), Duration::from_secs(5));
        let _whole = pool.expect(ip(1), None, LONG, LONG).await.unwrap();
        let short = Duration::from_millis(50);
        assert!(pool.expect(ip(1), Some(ip(2)), LONG, short).await.is_err());
    }
}
