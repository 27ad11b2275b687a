//! Commands per second per session: past the limit, the session waits for the
//! next one-second window instead of answering at once (a flood costs the
//! flooder time, not the server CPU).

use std::time::{Duration, Instant};

/// A fixed one-second window counter.
#[derive(Debug)]
pub struct Throttle {
    per_second: u32,
    window_start: Instant,
    count: u32,
}

impl Throttle {
    /// At most `per_second` commands in each second.
    #[must_use]
    pub fn new(per_second: u32, now: Instant) -> Self {
        Self {
            per_second,
            window_start: now,
            count: 0,
        }
    }

    /// Counts a command at `now`; returns how long to wait before handling it.
    pub fn admit(&mut self, now: Instant) -> Option<Duration> {
        let second = Duration::from_secs(1);
        if now.duration_since(self.window_start) >= second {
            self.window_start = now;
            self.count = 0;
        }
        self.count += 1;
        if self.count <= self.per_second {
            return None;
        }
        let wait = (self.window_start + second).saturating_duration_since(now);
        // The command runs in the next window, and counts there.
        self.window_start += second;
        self.count = 1;
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_limit_waits_for_the_next_second() {
        let t0 = Instant::now();
        let mut t = Throttle::new(3, t0);
        for _ in 0..3 {
            assert_eq!(t.admit(t0), None);
        }
        assert_eq!(
            t.admit(t0 + Duration::from_millis(250)),
            Some(Duration::from_millis(750))
        );
        // Two more fit in that next window, then the one after waits again.
        assert_eq!(t.admit(t0 + Duration::from_secs(1)), None);
        assert_eq!(t.admit(t0 + Duration::from_secs(1)), None);
        assert_eq!(
            t.admit(t0 + Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        );
        // A quiet second resets it.
        assert_eq!(t.admit(t0 + Duration::from_secs(5)), None);
    }

    #[test]
    fn a_flood_of_n_commands_takes_n_over_limit_seconds() {
        let t0 = Instant::now();
        let mut t = Throttle::new(50, t0);
        let mut now = t0;
        for _ in 0..1000 {
            if let Some(wait) = t.admit(now) {
                now += wait;
            }
        }
        let spent = now.duration_since(t0);
        assert!(
            spent >= Duration::from_secs(19) && spent <= Duration::from_secs(20),
            "{spent:?}"
        );
    }
}
