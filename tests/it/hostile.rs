//! Hostile sockets never lock real users out: connections that never log
//! in, slowloris logins, and sessions that hoard passive ports, from
//! several 127.0.0.x addresses at once.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use s3ftpd::config::Dur;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{Raw, TestEnv, read_all};

/// A TCP connection to `to` from the local address 127.0.0.`n`.
fn connect_from(n: u8, to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)), 0).into())
        .unwrap();
    s.connect(&to.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads one reply line, byte by byte (nothing after it is consumed).
fn line(mut s: &TcpStream) -> String {
    let mut l = Vec::new();
    let mut b = [0u8];
    while std::io::Read::read(&mut s, &mut b).unwrap_or(0) == 1 {
        l.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    String::from_utf8_lossy(&l).into_owned()
}

/// Whether the server sent a 421 on `s` (read what is there, briefly).
fn got_421(s: &TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    BufReader::new(s)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.starts_with("421"))
}

fn silent_connections_never_lock_out_users(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.limits.max_sessions = 32;
        c.limits.max_unauthenticated = 32;
        c.limits.max_unauthenticated_per_ip = 4;
    });
    // 16 addresses × 4 sockets that never send a byte: twice the places
    // for connections waiting to log in.
    let flood: Vec<TcpStream> = (2..18)
        .flat_map(|n| (0..4).map(move |_| n))
        .map(|n| connect_from(n, env.addr))
        .collect();
    // Each was admitted (banner sent) before the next step.
    for s in &flood {
        assert!(line(s).starts_with("220"));
    }
    // One address gets at most 4 waiting places: a fifth socket is refused
    // outright (each admitted before the next, so none pushes out another).
    let mine: Vec<TcpStream> = (0..4)
        .map(|_| {
            let s = connect_from(30, env.addr);
            assert!(line(&s).starts_with("220"));
            s
        })
        .collect();
    let got = line(&connect_from(30, env.addr));
    assert!(got.starts_with("421"), "per-address cap: {got:?}");
    drop(mine);
    // Real users still log in, at once, again and again.
    for _ in 0..5 {
        let started = Instant::now();
        let mut user = env.raw();
        user.login("u", "p");
        user.expect("NOOP", 200);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "login took {:?}",
            started.elapsed()
        );
        std::mem::forget(user); // stays logged in: sessions have places of their own
    }
    // The oldest silent sockets were closed (421) to make room.
    let closed = flood.iter().filter(|s| got_421(s)).count();
    assert!(closed >= 32, "only {closed} silent sockets were closed");
}

fn login_timeout_closes_slowloris(b: Backend) {
    let env = TestEnv::start(b, |c| c.limits.login_timeout = Dur(Duration::from_secs(1)));
    let mut slow = env.raw();
    let started = Instant::now();
    // A command every 200 ms keeps an idle timer fresh, never a login deadline.
    let code = loop {
        let (code, text) = slow.cmd("NOOP");
        if code != 200 {
            assert!(text.contains("Login timeout"), "{text}");
            break code;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never closed");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(code, 421);
    assert!(slow.closed());
    // A logged-in session is not subject to it.
    let mut user = env.raw_login();
    std::thread::sleep(Duration::from_millis(1500));
    user.expect("NOOP", 200);
}

fn pasv_hoarding_does_not_block_other_clients(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.passive.ports = crate::ports::range(10).parse().unwrap();
        c.limits.max_sessions_per_ip = 64;
    });
    env.put("a.txt", b"still served");
    // 10 addresses × 10 sessions, each with a PASV it never connects to:
    // every port of the range is held for each of those addresses.
    let mut hoarders = Vec::new();
    for n in 2..12 {
        for _ in 0..10 {
            let s = connect_from(n, env.addr);
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            for cmd in ["USER u", "PASS p", "PASV"] {
                // One write per line (`write!` makes two segments, and
                // Nagle holds the CRLF for the server's delayed ACK).
                w.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
                l.clear();
                r.read_line(&mut l).unwrap();
            }
            assert!(l.starts_with("227"), "hoarder's PASV: {l}");
            hoarders.push((w, r));
        }
    }
    // A client from another address gets a port at once and is served.
    let started = Instant::now();
    let mut user = env.raw_login();
    let d = user.epsv();
    user.expect("RETR a.txt", 150);
    assert_eq!(read_all(d), b"still served");
    assert_eq!(user.reply().0, 226);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // A hoarding address only blocks itself: its next PASV waits, then 425.
    let s = connect_from(2, env.addr);
    let mut r = Raw::from_stream(s);
    r.login("u", "p");
    let (code, text) = r.cmd("PASV");
    assert_eq!(code, 425, "{text}");
}

backend_tests!(
    silent_connections_never_lock_out_users,
    login_timeout_closes_slowloris,
    pasv_hoarding_does_not_block_other_clients,
);
