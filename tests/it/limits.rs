//! Limits on who and how much: address lists (global before the banner,
//! per account after PASS) from 127.0.0.2, 127.0.0.3 and ::1 and through
//! haproxy with PROXY v2; sessions per account; one bandwidth limit
//! shared by two sessions of one account.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::buckets::add;
use crate::harness::{Raw, TestEnv, available, pattern, read_all};

/// A control connection to `addr` from the local address `from`.
pub fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let from: std::net::IpAddr = from.parse().unwrap();
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(from, 0).into()).unwrap();
    s.connect(&addr.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Whether this machine has an IPv6 loopback address to bind to.
fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// The first reply of a connection: the banner, or the refusal in its place.
fn greeting(s: TcpStream) -> (u16, String, Raw) {
    let mut r = Raw::from_stream_silent(s);
    let (code, text) = r.reply();
    (code, text, r)
}

/// USER + PASS; the PASS reply.
fn login(r: &mut Raw, user: &str, pass: &str) -> (u16, String) {
    r.expect(&format!("USER {user}"), 331);
    r.cmd(&format!("PASS {pass}"))
}

/// `bank` may log in from 127.0.0.2 and ::1 only; 127.0.0.3 may not
/// connect at all; a refused login looks like a wrong password, after PASS,
/// and counts toward the ban. The gateway listens on `[::]` (dual stack),
/// so IPv4 clients arrive as IPv4-mapped addresses and are compared as
/// IPv4.
#[test]
fn address_lists_global_and_per_account() {
    let env = TestEnv::start(Backend::Embedded, |c| {
        c.listen = "[::]:0".parse().unwrap();
        c.limits.deny_from = vec!["127.0.0.3".into()];
        c.limits.ban_after_failures = 3;
        add(
            c,
            "",
            "{ banks: { allow_from: ['127.0.0.2/32', '::1'] } }",
            &["{ name: bank, password: pw, home: /bank, groups: [banks] }"],
        );
    });
    let port = env.addr.port();
    let v4: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    // Globally denied: 421 before any banner.
    let (code, text, _) = greeting(connect_from("127.0.0.3", v4));
    assert_eq!(code, 421, "{text}");
    // Allowed addresses log in. A container may have no IPv6 loopback
    // (Docker's default): then only the IPv4 leg runs, and says so.
    let mut allowed = vec![("127.0.0.2", v4)];
    if ipv6_loopback() {
        allowed.push(("::1", v6));
    } else {
        eprintln!("no ::1 on this machine: the IPv6 leg is skipped");
    }
    for (from, to) in allowed {
        let (code, _, mut r) = greeting(connect_from(from, to));
        assert_eq!(code, 220);
        assert_eq!(login(&mut r, "bank", "pw").0, 230, "from {from}");
        r.expect("PWD", 257);
    }
    // From 127.0.0.1 the right password is refused exactly as an unknown
    // account, and each counts as a failure: the third bans the address.
    let mut answers = Vec::new();
    for (user, pass) in [("bank", "pw"), ("nobody", "pw"), ("bank", "wrong")] {
        let (code, _, mut r) = greeting(connect_from("127.0.0.1", v4));
        assert_eq!(code, 220);
        answers.push(login(&mut r, user, pass));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 530);
    assert_eq!(answers[2].0, 421, "{answers:?}");
    let (code, text, _) = greeting(connect_from("127.0.0.1", v4));
    assert_eq!(code, 421, "banned after three failures: {text}");
    // 127.0.0.2 is not banned.
    let (code, _, mut r) = greeting(connect_from("127.0.0.2", v4));
    assert_eq!(code, 220);
    assert_eq!(login(&mut r, "bank", "pw").0, 230);
}

/// Kills the child when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Behind haproxy (PROXY v2) the client's address counts, not the
/// balancer's: 127.0.0.3 is refused before the banner, `bank` logs in from
/// 127.0.0.2 and not from 127.0.0.4.
#[test]
fn address_lists_behind_haproxy() {
    if !available("haproxy") {
        return;
    }
    let env = TestEnv::start(Backend::Embedded, |c| {
        c.proxy_protocol.trusted = vec!["127.0.0.1/32".into()];
        c.limits.deny_from = vec!["127.0.0.3".into()];
        add(
            c,
            "",
            "",
            &["{ name: bank, password: pw, home: /bank, allow_from: ['127.0.0.2'] }"],
        );
    });
    let front = crate::ports::one();
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\
         frontend ftp\n  bind 127.0.0.1:{front}\n  default_backend gw\n\
         backend gw\n  server g {} send-proxy-v2\n",
        env.addr
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let _haproxy = Running(
        Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let front: SocketAddr = format!("127.0.0.1:{front}").parse().unwrap();
    crate::harness::wait_until(|| TcpStream::connect(front).is_ok());
    let (code, text, _) = greeting(connect_from("127.0.0.3", front));
    assert_eq!(code, 421, "{text}");
    let (code, _, mut r) = greeting(connect_from("127.0.0.2", front));
    assert_eq!(code, 220);
    assert_eq!(login(&mut r, "bank", "pw").0, 230);
    let (code, _, mut r) = greeting(connect_from("127.0.0.4", front));
    assert_eq!(code, 220);
    assert_eq!(login(&mut r, "bank", "pw").0, 530);
}

/// `max_sessions: 2`: a third login of the account is refused with 421
/// and closed; another account is not affected; a place comes back when a
/// session ends.
#[test]
fn sessions_per_account() {
    let env = TestEnv::start(Backend::Embedded, |c| {
        add(
            c,
            "",
            "",
            &["{ name: two, password: pw, home: /two, max_sessions: 2 }"],
        );
    });
    let mut a = env.raw();
    a.login("two", "pw");
    let mut b = env.raw();
    b.login("two", "pw");
    let mut c = env.raw();
    c.expect("USER two", 331);
    let (code, text) = c.cmd("PASS pw");
    assert_eq!(code, 421, "{text}");
    assert!(text.contains("sessions of this account"), "{text}");
    assert!(c.closed());
    let mut other = env.raw();
    other.login("u", "p");
    a.expect("QUIT", 221);
    crate::harness::wait_until(|| {
        let mut d = env.raw();
        d.expect("USER two", 331);
        d.cmd("PASS pw").0 == 230
    });
    b.expect("NOOP", 200);
}

/// Two sessions of one account share its upload limit (1 MB/s): 3 MB
/// between them take at least about 2.8 s, whichever session moves them;
/// downloads have their own bucket. Only the lower bound is asserted
/// (BENCHMARKS.md has the accuracy).
#[test]
fn two_sessions_share_one_bandwidth_limit() {
    let env = TestEnv::start(Backend::Embedded, |c| {
        add(
            c,
            "",
            "",
            &[
                "{ name: slow, password: pw, home: /slow, upload_bandwidth: 8Mbit/s, download_bandwidth: 1MB/s }",
            ],
        );
    });
    // STAT names the limits (in bits where exact: 1MB/s is 8Mbit/s) and
    // whom they bind.
    let mut r = env.raw();
    r.login("slow", "pw");
    let (code, text) = r.cmd("STAT");
    assert_eq!(code, 211, "{text}");
    assert!(
        text.contains("Upload bandwidth: 8Mbit/s = 1000000 bytes/s (all sessions of slow)")
            && text.contains("Download bandwidth: 8Mbit/s = 1000000 bytes/s"),
        "{text}"
    );
    r.expect("QUIT", 221);
    let body = pattern(1_500_000, 7);
    let started = Instant::now();
    let uploads: Vec<_> = (0..2)
        .map(|n| {
            let mut r = env.raw();
            r.login("slow", "pw");
            let mut d = r.epsv();
            r.expect(&format!("STOR f{n}.bin"), 150);
            let body = body.clone();
            std::thread::spawn(move || {
                d.write_all(&body).unwrap();
                drop(d);
                assert_eq!(r.reply().0, 226);
            })
        })
        .collect();
    for u in uploads {
        u.join().unwrap();
    }
    let up = started.elapsed();
    assert!(
        up >= Duration::from_millis(2500),
        "3 MB at 1 MB/s in {up:?}"
    );
    assert_eq!(env.get("slow/f0.bin").as_deref(), Some(&body[..]));
    assert_eq!(env.get("slow/f1.bin").as_deref(), Some(&body[..]));
    // Downloads: both files (3 MB) at 1 MB/s, two sessions.
    let started = Instant::now();
    let downloads: Vec<_> = (0..2)
        .map(|n| {
            let mut r = env.raw();
            r.login("slow", "pw");
            let d = r.epsv();
            r.expect(&format!("RETR f{n}.bin"), 150);
            std::thread::spawn(move || {
                let got = read_all(d);
                assert_eq!(r.reply().0, 226);
                got.len()
            })
        })
        .collect();
    let total: usize = downloads.into_iter().map(|d| d.join().unwrap()).sum();
    assert_eq!(total, 3_000_000);
    let down = started.elapsed();
    assert!(
        down >= Duration::from_millis(2500),
        "3 MB at 1 MB/s in {down:?}"
    );
    // Another account is not held back by `slow`'s buckets (no bound on
    // time asserted: it just completes while nothing limits it).
    let mut r = env.raw();
    r.login("u", "p");
    let mut d = r.epsv();
    r.expect("STOR free.bin", 150);
    d.write_all(&body).unwrap();
    drop(d);
    assert_eq!(r.reply().0, 226);
}
