//! Brute-force defence: failed logins per IP within a window lead to a temporary ban.
//!
//! Kept in memory (`dashmap`), shared by every listener. The clock is passed
//! in, so the rules are tested without waiting.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    window_start: Instant,
    banned_until: Option<Instant>,
}

/// Failed-login bookkeeping for every peer address.
#[derive(Debug)]
pub struct Bans {
    records: DashMap<IpAddr, Record>,
    threshold: u32,
    window: Duration,
    ban_time: Duration,
    bans_total: AtomicU64,
}

/// Entries kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;

impl Bans {
    /// `threshold` failures within `window` ban an address for `ban_time`.
    #[must_use]
    pub fn new(threshold: u32, window: Duration, ban_time: Duration) -> Self {
        Self {
            records: DashMap::new(),
            threshold,
            window,
            ban_time,
            bans_total: AtomicU64::new(0),
        }
    }

    /// Whether `ip` is banned at `now`.
    #[must_use]
    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.records
            .get(&ip)
            .and_then(|r| r.banned_until)
            .is_some_and(|until| now < until)
    }

    /// Records a failed login; returns true when this failure started a ban.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) -> bool {
        if self.records.len() > SWEEP_AT {
            self.sweep(now);
        }
        let mut r = self.records.entry(ip).or_insert(Record {
            failures: 0,
            window_start: now,
            banned_until: None,
        });
        if r.banned_until.is_some_and(|until| now >= until)
            || now.duration_since(r.window_start) > self.window
        {
            *r = Record {
                failures: 0,
                window_start: now,
                banned_until: None,
            };
        }
        r.failures += 1;
        if r.failures >= self.threshold && r.banned_until.is_none() {
            r.banned_until = Some(now + self.ban_time);
            self.bans_total.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Bans issued since start (for metrics).
    #[must_use]
    pub fn bans_total(&self) -> u64 {
        self.bans_total.load(Ordering::Relaxed)
    }

    fn sweep(&self, now: Instant) {
        self.records.retain(|_, r| match r.banned_until {
            Some(until) => now < until,
            None => now.duration_since(r.window_start) <= self.window,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_trigger_at_the_threshold_and_expire() {
        let bans = Bans::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(!bans.record_failure(ip, t0));
        assert!(!bans.record_failure(ip, t0 + Duration::from_secs(1)));
        assert!(!bans.is_banned(ip, t0 + Duration::from_secs(1)));
        assert!(
            bans.record_failure(ip, t0 + Duration::from_secs(2)),
            "third failure bans"
        );
        assert!(bans.is_banned(ip, t0 + Duration::from_secs(3)));
        assert!(
            !bans.is_banned(other, t0 + Duration::from_secs(3)),
            "only that address"
        );
        assert!(bans.is_banned(ip, t0 + Duration::from_secs(301)));
        assert!(
            !bans.is_banned(ip, t0 + Duration::from_secs(303)),
            "ban expires"
        );
        assert_eq!(bans.bans_total(), 1);
        // After expiry the count starts again.
        assert!(!bans.record_failure(ip, t0 + Duration::from_secs(304)));
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let bans = Bans::new(2, Duration::from_secs(10), Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        assert!(!bans.record_failure(ip, t0));
        assert!(!bans.record_failure(ip, t0 + Duration::from_secs(11)));
        assert!(!bans.is_banned(ip, t0 + Duration::from_secs(12)));
        assert!(bans.record_failure(ip, t0 + Duration::from_secs(12)));
    }

    #[test]
    fn stale_entries_are_swept() {
        let bans = Bans::new(5, Duration::from_secs(1), Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..=SWEEP_AT as u32 {
            bans.record_failure(IpAddr::from(i.to_be_bytes()), t0);
        }
        bans.record_failure("198.51.100.1".parse().unwrap(), t0 + Duration::from_secs(5));
        assert!(bans.records.len() < 10, "swept: {}", bans.records.len());
    }
}
