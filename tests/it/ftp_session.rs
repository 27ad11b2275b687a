//! Control channel: login, reply codes, FEAT, navigation, bad input, limits.

use std::time::Duration;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{Raw, TestEnv};

fn login_and_reply_codes(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut r = env.raw();
    r.expect("PWD", 530);
    r.expect("LIST", 530);
    r.expect("SYST", 215);
    r.expect("NOOP", 200);
    r.expect("XYZZY", 502);
    r.expect("PASS x", 503);
    r.expect("USER u", 331);
    r.expect("PASS wrong", 530);
    r.login("u", "p");
    r.expect("USER u", 530);
    r.expect("RETR", 501);
    r.expect("REST abc", 501);
    r.expect("TYPE X", 501);
    r.expect("MODE B", 504);
    r.expect("STRU R", 504);
    r.expect("TYPE I", 200);
    r.expect("TYPE A", 200);
    r.expect("MODE S", 200);
    r.expect("STRU F", 200);
    r.expect("ALLO 100", 202);
    r.expect("OPTS UTF8 ON", 200);
    r.expect("AUTH TLS", 502);
    r.expect("SITE CHMOD 644 x", 550); // no such file (legacy.rs covers SITE)
    r.expect("SITE FOO", 504);
    assert!(r.expect("HELP", 214).contains("RETR"));
    assert!(r.expect("STAT", 211).contains("Logged in as u"));
    r.expect("ABOR", 226);
    r.expect("QUIT", 221);
    assert!(r.closed());
    // An argon2id password_hash (from `s3ftpd hash-password`) logs in; a wrong password does not.
    let mut h = env.raw();
    h.expect("USER hashed", 331);
    h.expect("PASS hashed-pwx", 530);
    h.login("hashed", "hashed-pw");
}

fn feat_lists_exactly_what_works(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut r = env.raw();
    let text = r.expect("FEAT", 211);
    let feats: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(' '))
        .map(str::trim)
        .collect();
    assert_eq!(
        feats,
        [
            "EPRT",
            "EPSV",
            "HASH SHA-256*;CRC32C;MD5",
            "MDTM",
            "MFMT",
            "MLST type*;size*;modify*;perm*;",
            "REST STREAM",
            "SIZE",
            "TVFS",
            "UTF8"
        ]
    );
    // Each advertised feature answers (not 502).
    r.login("u", "p");
    r.expect("EPSV", 229);
    r.expect("MLST /", 250);
    r.expect("REST 0", 350);
    r.expect("OPTS MLST type;size;", 200);
    r.expect("OPTS HASH", 200);
    r.expect("HASH /nothing-here", 550);
    for verb in ["AUTH TLS", "PBSZ 0", "PROT P", "CCC"] {
        let name = verb.split(' ').next().unwrap();
        assert!(
            !text.contains(name),
            "FEAT advertises {name} which is not implemented"
        );
        assert_eq!(r.cmd(verb).0, 502, "{verb}");
    }
}

fn login_failures_close_the_session(b: Backend) {
    let env = TestEnv::start(b, |c| c.limits.max_login_failures = 2);
    let mut r = env.raw();
    r.expect("USER u", 331);
    r.expect("PASS bad1", 530);
    r.expect("USER u", 331);
    let text = r.expect("PASS bad2", 530);
    assert!(text.contains("too many"), "{text}");
    assert!(r.closed());
    // Unknown users get the same answer as wrong passwords.
    let mut r = env.raw();
    r.expect("USER nobody", 331);
    r.expect("PASS p", 530);
    // Anonymous is off by default.
    r.expect("USER anonymous", 331);
    r.expect("PASS me@example.com", 530);
}

fn anonymous_and_read_only(b: Backend) {
    let env = TestEnv::start(b, |c| c.anonymous.enabled = true);
    env.put("pub/readme.txt", b"hello");
    env.put("secret.txt", b"no");
    let mut r = env.raw();
    r.login("anonymous", "guest@example.com");
    r.expect("SIZE readme.txt", 213);
    r.expect("SIZE ../secret.txt", 550);
    for cmd in [
        "STOR x",
        "DELE readme.txt",
        "MKD d",
        "RMD d",
        "RNFR readme.txt",
        "MFMT 20200101000000 readme.txt",
        "STOU",
        "APPE x",
    ] {
        let code = r.cmd(cmd).0;
        assert!(
            code == 550 || (cmd.starts_with("APPE") && code == 502),
            "{cmd} → {code}"
        );
    }
    let mut ro = env.raw();
    ro.login("ro", "p");
    ro.expect("STOR x", 550);
    ro.expect("DELE pub/readme.txt", 550);
    ro.expect("MKD newdir", 550);
    assert_eq!(
        env.keys(),
        ["pub/readme.txt", "secret.txt"],
        "read-only sessions changed nothing"
    );
}

fn navigation(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("a/b/c.txt", b"x");
    let mut r = env.raw_login();
    assert!(r.expect("PWD", 257).contains("\"/\""));
    r.expect("CWD a/b", 250);
    assert!(r.expect("XPWD", 257).contains("\"/a/b\""));
    r.expect("CDUP", 250);
    assert!(r.expect("PWD", 257).contains("\"/a\""));
    r.expect("CWD nope", 550);
    r.expect("CWD b/c.txt", 550);
    r.expect("XCWD /", 250);
    r.expect("CWD ../../..", 250);
    assert!(
        r.expect("PWD", 257).contains("\"/\""),
        "cannot climb above home"
    );
}

fn chroot_keeps_users_in_their_home(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("other.txt", b"other user's file");
    env.put("alice/mine.txt", b"mine");
    let mut r = env.raw();
    r.login("alice", "alicepw");
    r.expect("SIZE mine.txt", 213);
    r.expect("SIZE ../other.txt", 550);
    r.expect("SIZE /../../other.txt", 550);
    r.expect("CWD ../../..", 250);
    assert!(r.expect("PWD", 257).contains("\"/\""));
    let mut f = env.ftp("alice", "alicepw");
    f.put_file("../../../evil.txt", &mut &b"evil"[..]).unwrap();
    f.put_file("sub/../../x/../../y.txt", &mut &b"y"[..])
        .unwrap();
    let keys = env.keys();
    assert!(keys.contains(&"alice/evil.txt".to_owned()), "{keys:?}");
    assert!(keys.contains(&"alice/y.txt".to_owned()), "{keys:?}");
    assert!(!keys.contains(&"evil.txt".to_owned()));
}

fn bad_names_get_553_and_write_nothing(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut r = env.raw_login();
    let long = "n".repeat(1100);
    r.expect(&format!("STOR {long}"), 553);
    r.expect(&format!("MKD {}", "d".repeat(1024)), 553);
    r.send_bytes(b"STOR a\0b\r\n");
    assert_eq!(r.reply().0, 553);
    r.send_bytes(b"MKD x\0y\r\n");
    assert_eq!(r.reply().0, 553);
    r.send_bytes(b"STOR \xff\xfe\r\n");
    assert_eq!(r.reply().0, 501);
    r.expect("NOOP", 200);
    assert!(env.keys().is_empty());
}

fn long_lines_and_garbage_close_only_that_session(b: Backend) {
    let env = TestEnv::start(b, |c| c.limits.max_commands_per_second = 100_000);
    let mut other = env.raw_login();
    let mut r = env.raw();
    r.send_bytes(&vec![b'A'; 100 * 1024]);
    let (code, text) = r.reply();
    assert_eq!(code, 500, "{text}");
    assert!(r.closed());
    let mut g = env.raw();
    g.send_bytes(b"\x00\x01\x02\xff\r\n");
    assert_eq!(g.reply().0, 500);
    for _ in 0..1000 {
        g.send("FOOBAR x");
    }
    for _ in 0..1000 {
        assert_eq!(g.reply().0, 502);
    }
    g.expect("NOOP", 200);
    other.expect("NOOP", 200);
    env.raw().login("u", "p");
}

fn session_limits_and_idle_timeout(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.limits.max_sessions_per_ip = 2;
        c.limits.max_unauthenticated_per_ip = 2;
        c.limits.idle_timeout = s3ftpd::config::Dur(Duration::from_secs(1));
    });
    let mut a = env.raw_login();
    let _b = env.raw_login();
    // A third session from one IP: connected, but its login is refused.
    let mut c = env.raw();
    c.expect("USER u", 331);
    let (code, text) = c.cmd("PASS p");
    assert_eq!(code, 421, "{text}");
    assert!(c.closed());
    // Connections waiting to log in have their own per-IP cap. (The
    // refused session's place is given back just after its socket closes:
    // a connection that meets it still counted is tried again.)
    let waiting = || {
        for _ in 0..100 {
            let mut w = Raw::connect_silent(env.addr);
            if w.reply().0 == 220 {
                return w;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no place for a connection waiting to log in");
    };
    let _w1 = waiting();
    let _w2 = waiting();
    let mut w3 = Raw::connect_silent(env.addr);
    let (code, text) = w3.reply();
    assert_eq!(
        code, 421,
        "third waiting connection from one IP refused: {text}"
    );
    // The idle session is closed with 421.
    let (code, text) = a.reply();
    assert_eq!(code, 421, "{text}");
    assert!(text.to_lowercase().contains("idle"));
    assert!(a.closed());
}

fn max_sessions_total(b: Backend) {
    let env = TestEnv::start(b, |c| c.limits.max_sessions = 1);
    let mut first = env.raw_login();
    let mut second = env.raw();
    second.expect("USER u", 331);
    second.expect("PASS p", 421);
    first.expect("QUIT", 221);
    assert!(first.closed());
    // The place is free again once the first session is gone.
    let mut ok = false;
    for _ in 0..50 {
        let mut third = env.raw();
        third.expect("USER u", 331);
        if third.cmd("PASS p").0 == 230 {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ok, "session place not released");
}

fn failed_logins_ban_the_address_for_a_while(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.limits.max_login_failures = 10;
        c.limits.ban_after_failures = 2;
        c.limits.ban_duration = s3ftpd::config::Dur(Duration::from_secs(2));
    });
    let mut r = env.raw();
    r.expect("USER u", 331);
    r.expect("PASS bad", 530);
    r.expect("USER u", 331);
    let (code, text) = r.cmd("PASS bad");
    assert_eq!(code, 421, "{text}");
    assert!(r.closed());
    // While banned, new connections are refused at once — even with the right password.
    let mut refused = Raw::connect_silent(env.addr);
    let (code, text) = refused.reply();
    assert_eq!(code, 421, "{text}");
    assert!(text.contains("failed logins"), "{text}");
    // The ban expires.
    let mut ok = false;
    for _ in 0..100 {
        let mut again = Raw::connect_silent(env.addr);
        if again.reply().0 == 220 {
            again.login("u", "p");
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ok, "ban did not expire");
}

fn command_floods_are_throttled(b: Backend) {
    let env = TestEnv::start(b, |c| c.limits.max_commands_per_second = 20);
    let mut r = env.raw();
    let start = std::time::Instant::now();
    for _ in 0..60 {
        r.send("NOOP");
    }
    for _ in 0..60 {
        assert_eq!(r.reply().0, 200);
    }
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "60 commands at 20/s took {:?}",
        start.elapsed()
    );
    let mut other = env.raw();
    other.expect("NOOP", 200);
}

backend_tests!(
    failed_logins_ban_the_address_for_a_while,
    command_floods_are_throttled,
    login_and_reply_codes,
    feat_lists_exactly_what_works,
    login_failures_close_the_session,
    anonymous_and_read_only,
    navigation,
    chroot_keeps_users_in_their_home,
    bad_names_get_553_and_write_nothing,
    long_lines_and_garbage_close_only_that_session,
    session_limits_and_idle_timeout,
    max_sessions_total,
);
