//! Places for connections: those waiting to log in and logged-in sessions
//! are counted apart, so sockets that never log in can never take the
//! places of users who did.
//!
//! - A new connection takes a *waiting* place: at most
//!   `limits.max_unauthenticated_per_ip` from one address (more are refused
//!   with 421) and `limits.max_unauthenticated` in all. When all of those
//!   are taken, the oldest waiting connection is closed to make room: a
//!   flood of silent sockets pushes out its own oldest members, while a
//!   real client, which logs in within a moment, gets through. Each waits
//!   at most `limits.login_timeout`.
//! - A successful login trades the waiting place for a *session* place
//!   (`limits.max_sessions`, `limits.max_sessions_per_ip`, and the
//!   account's own `max_sessions`); when those are full the login is
//!   refused with 421. All counts are per replica: behind a balancer
//!   spreading over n replicas an account may hold up to n × its
//!   `max_sessions`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::config::Limits;

/// Why a place was refused (the text of the 421 reply).
pub type Refusal = &'static str;

/// Counts by address, with a cap in total and per address.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl Counts {
    fn at_ip(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    fn add(&mut self, ip: IpAddr) {
        self.total += 1;
        *self.per_ip.entry(ip).or_insert(0) += 1;
    }

    fn remove(&mut self, ip: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

/// Connections waiting to log in, oldest first (ids grow with time).
#[derive(Debug, Default)]
struct Waiting {
    counts: Counts,
    by_age: BTreeMap<u64, (IpAddr, CancellationToken)>,
}

/// The gateway's places; shared by every listener.
#[derive(Debug)]
pub struct Places {
    waiting: Mutex<Waiting>,
    sessions: Mutex<Counts>,
    /// Logged-in sessions by account.
    accounts: Mutex<HashMap<String, usize>>,
    next_id: AtomicU64,
    max_waiting: usize,
    max_waiting_per_ip: usize,
    max_sessions: usize,
    max_sessions_per_ip: usize,
}

/// One connection's place; given back when dropped.
#[derive(Debug)]
pub struct Admission {
    places: Arc<Places>,
    ip: IpAddr,
    /// `Some` while waiting to log in: its id and the token that closes it
    /// to make room for a newer one.
    waiting: Option<(u64, CancellationToken)>,
    /// The account, once logged in.
    account: Option<String>,
}

impl Places {
    /// Places with the caps of `limits`.
    #[must_use]
    pub fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            waiting: Mutex::default(),
            sessions: Mutex::default(),
            accounts: Mutex::default(),
            next_id: AtomicU64::new(0),
            max_waiting: limits.max_unauthenticated,
            max_waiting_per_ip: limits.max_unauthenticated_per_ip,
            max_sessions: limits.max_sessions,
            max_sessions_per_ip: limits.max_sessions_per_ip,
        })
    }

    /// A waiting place for a new connection from `ip`, closing the oldest
    /// waiting connection when every place is taken.
    ///
    /// # Errors
    /// When `ip` already has its share of waiting connections.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, Refusal> {
        let mut w = self.waiting.lock().expect("places poisoned");
        if w.counts.at_ip(ip) >= self.max_waiting_per_ip {
            return Err(
                "Too many connections from your address waiting to log in; try again later",
            );
        }
        if w.counts.total >= self.max_waiting
            && let Some((_, (old_ip, token))) = w.by_age.pop_first()
        {
            w.counts.remove(old_ip);
            token.cancel();
            tracing::warn!(evicted = %old_ip, "every place for connections waiting to log in is taken: closed the oldest (limits.max_unauthenticated)");
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        w.counts.add(ip);
        w.by_age.insert(id, (ip, token.clone()));
        Ok(Admission {
            places: self.clone(),
            ip,
            waiting: Some((id, token)),
            account: None,
        })
    }

    /// Connections waiting to log in, and logged-in sessions.
    #[must_use]
    pub fn counts(&self) -> (usize, usize) {
        let w = self.waiting.lock().expect("places poisoned").counts.total;
        (w, self.sessions.lock().expect("places poisoned").total)
    }

    fn leave_waiting(&self, id: u64, ip: IpAddr) {
        let mut w = self.waiting.lock().expect("places poisoned");
        if w.by_age.remove(&id).is_some() {
            w.counts.remove(ip);
        }
    }
}

impl Admission {
    /// Fired when this connection, still waiting to log in, is closed to
    /// make room for a newer one.
    #[must_use]
    pub fn evicted(&self) -> Option<CancellationToken> {
        self.waiting.as_ref().map(|(_, t)| t.clone())
    }

    /// Trades the waiting place for a session place (at login) of
    /// `account`, which may hold at most `max` sessions (`None`: no cap of
    /// its own).
    ///
    /// # Errors
    /// When the session places are full; the connection should close.
    pub fn promote(&mut self, account: &str, max: Option<usize>) -> Result<(), Refusal> {
        let Some((id, token)) = &self.waiting else {
            return Ok(());
        };
        if token.is_cancelled() {
            return Err("Too many connections waiting to log in; closing");
        }
        let mut s = self.places.sessions.lock().expect("places poisoned");
        if s.total >= self.places.max_sessions {
            return Err("Too many users logged in; try again later");
        }
        if s.at_ip(self.ip) >= self.places.max_sessions_per_ip {
            return Err("Too many sessions from your address; try again later");
        }
        let mut accounts = self.places.accounts.lock().expect("places poisoned");
        let held = accounts.get(account).copied().unwrap_or(0);
        if max.is_some_and(|m| held >= m) {
            return Err("Too many sessions of this account; try again later");
        }
        accounts.insert(account.to_owned(), held + 1);
        drop(accounts);
        s.add(self.ip);
        drop(s);
        self.places.leave_waiting(*id, self.ip);
        self.waiting = None;
        self.account = Some(account.to_owned());
        Ok(())
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        match &self.waiting {
            Some((id, _)) => self.places.leave_waiting(*id, self.ip),
            None => {
                self.places
                    .sessions
                    .lock()
                    .expect("places poisoned")
                    .remove(self.ip);
                if let Some(account) = &self.account {
                    let mut accounts = self.places.accounts.lock().expect("places poisoned");
                    if let Some(n) = accounts.get_mut(account) {
                        *n -= 1;
                        if *n == 0 {
                            accounts.remove(account);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(waiting: usize, per_ip: usize, sessions: usize) -> Arc<Places> {
        Places::new(&Limits {
            max_unauthenticated: waiting,
            max_unauthenticated_per_ip: per_ip,
            max_sessions: sessions,
            max_sessions_per_ip: sessions,
            ..Limits::default()
        })
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn silent_connections_push_out_their_oldest_not_the_newcomer() {
        let p = places(4, 2, 10);
        let flood: Vec<_> = (1..=4).map(|n| p.admit(ip(n)).unwrap()).collect();
        let user = p.admit(ip(9)).expect("a newcomer always gets a place");
        assert!(flood[0].evicted().unwrap().is_cancelled(), "oldest closed");
        assert!(!flood[1].evicted().unwrap().is_cancelled());
        assert_eq!(p.counts(), (4, 0));
        drop(flood);
        assert_eq!(p.counts(), (1, 0));
        drop(user);
        assert_eq!(p.counts(), (0, 0));
    }

    #[test]
    fn per_address_caps_refuse() {
        let p = places(10, 2, 10);
        let _a = p.admit(ip(1)).unwrap();
        let _b = p.admit(ip(1)).unwrap();
        assert!(p.admit(ip(1)).is_err());
        assert!(p.admit(ip(2)).is_ok());
    }

    #[test]
    fn login_trades_places_and_sessions_have_their_own_cap() {
        let p = places(10, 10, 1);
        let mut a = p.admit(ip(1)).unwrap();
        let mut b = p.admit(ip(2)).unwrap();
        a.promote("a", None).unwrap();
        assert!(a.evicted().is_none());
        assert_eq!(p.counts(), (1, 1));
        assert!(b.promote("b", None).is_err(), "session places are full");
        drop(a);
        b.promote("b", None).unwrap();
        assert_eq!(p.counts(), (0, 1));
        drop(b);
        assert_eq!(p.counts(), (0, 0));
    }

    #[test]
    fn an_evicted_connection_cannot_log_in() {
        let p = places(1, 1, 10);
        let mut old = p.admit(ip(1)).unwrap();
        let _new = p.admit(ip(2)).unwrap();
        assert!(old.promote("a", None).is_err());
        drop(old);
        assert_eq!(p.counts(), (1, 0));
    }

    #[test]
    fn an_account_holds_at_most_its_own_sessions() {
        let p = places(10, 10, 10);
        let mut a1 = p.admit(ip(1)).unwrap();
        let mut a2 = p.admit(ip(2)).unwrap();
        let mut other = p.admit(ip(3)).unwrap();
        a1.promote("partner", Some(1)).unwrap();
        assert!(
            a2.promote("partner", Some(1)).is_err(),
            "its one session is taken"
        );
        other.promote("auditor", Some(1)).unwrap();
        drop(a1);
        a2.promote("partner", Some(1)).unwrap();
        assert_eq!(p.counts(), (0, 2));
    }
}
