//! Ports for the servers the tests start: passive ranges, control ports,
//! haproxy fronts, Garage, published container ports.
//!
//! Two rules keep tests that run at the same time apart:
//! - Every port comes from one pool below Linux's ephemeral range
//!   (32768-60999), so the kernel never hands one of them to a `bind(0)`
//!   or to an outgoing connection between the moment a test picks it and
//!   the moment its server binds it.
//! - Blocks are handed out in turn by this process, never twice while the
//!   pool lasts; each is probed free when handed out (another program on
//!   the machine may hold a port), and the pool wraps around only after
//!   every other block was used — long after the tests that had it ended.

use std::net::TcpListener;
use std::sync::Mutex;

/// The pool: below the ephemeral range, above the well-known ports.
const POOL: std::ops::Range<u16> = 10_000..32_700;

/// Where the next block starts; a per-process offset keeps two suites run
/// side by side on one machine (a developer's and the compose profile's
/// container share no ports anyway) from walking in step.
static NEXT: Mutex<Option<u16>> = Mutex::new(None);

/// `n` consecutive ports free on every address now, none of which any
/// other caller in this process gets while the pool lasts.
pub fn block(n: u16) -> std::ops::RangeInclusive<u16> {
    assert!(
        n > 0 && n < (POOL.end - POOL.start) / 4,
        "block of {n} ports"
    );
    let mut next = NEXT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let len = POOL.end - POOL.start;
    let mut cursor = next.unwrap_or_else(|| {
        let pid = u16::try_from(std::process::id() % u32::from(len)).unwrap();
        POOL.start + pid
    });
    loop {
        if cursor + n > POOL.end {
            cursor = POOL.start;
        }
        let first = cursor;
        cursor += n;
        if (first..first + n).all(free) {
            *next = Some(cursor);
            return first..=first + n - 1;
        }
    }
}

/// A block written as `passive.ports` takes it: `first-last`.
pub fn range(n: u16) -> String {
    let b = block(n);
    format!("{}-{}", b.start(), b.end())
}

/// One port.
pub fn one() -> u16 {
    *block(1).start()
}

/// Whether nothing listens on `port`, on any address (binding the
/// wildcard fails while a specific address holds the port, and the other
/// way round).
fn free(port: u16) -> bool {
    TcpListener::bind(("0.0.0.0", port)).is_ok()
}

#[test]
fn blocks_never_overlap_and_stay_below_the_ephemeral_range() {
    let a = block(50);
    let b = block(50);
    let c = one();
    assert!(a.end() < b.start() || b.end() < a.start(), "{a:?} {b:?}");
    assert!(!a.contains(&c) && !b.contains(&c));
    for p in [*a.end(), *b.end(), c] {
        assert!(p < 32_768, "{p} is in the ephemeral range");
    }
}
