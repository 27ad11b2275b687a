//! What a login costs per identity source, with the source near (RTT 0)
//! and far (a delaying proxy in front of it, `distance/delay.rs`): logins
//! by the users file, by the HTTP hook (cache off, then cached) and by a
//! real slapd over LDAPS (cache off, then cached; skipped without slapd).
//! A login is connect, USER, PASS, QUIT on a new control connection;
//! medians of `BENCH_LOGINS` [40] logins. Commands after a login cost the
//! sources nothing: the session keeps the account it logged in with.
//!
//! `cargo bench --bench identity`; `BENCH_RTTS_MS` [0,20].

use std::time::{Duration, Instant};

use s3ftpd::{Config, Gateway};

#[path = "distance/delay.rs"]
mod delay;
#[allow(
    dead_code,
    reason = "the tests' fixtures, of which the bench uses a part"
)]
#[path = "../tests/it/hook_server.rs"]
mod hook_server;
#[allow(
    dead_code,
    reason = "the tests' fixtures, of which the bench uses a part"
)]
#[path = "../tests/it/pki.rs"]
mod pki;
#[allow(
    dead_code,
    reason = "the tests' fixtures, of which the bench uses a part"
)]
#[path = "../tests/it/ports.rs"]
mod ports;
#[allow(
    dead_code,
    reason = "the tests' fixtures, of which the bench uses a part"
)]
#[path = "../tests/it/slapd.rs"]
mod slapd;

use hook_server::{Answer, HookServer};

fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A gateway on an embedded store with `identity` (YAML) and one file user.
fn gateway(rt: &tokio::runtime::Runtime, dir: &std::path::Path, identity: &str) -> Gateway {
    let yaml = format!(
        "listen: 127.0.0.1:0\npassive: {{ ports: 43300-43319 }}\n\
         s3: {{ endpoint: embedded, bucket: bench, data_dir: '{}' }}\n\
         users: [{{ name: fileuser, password: file-pw }}]\n\
         groups: {{ partners: {{ home: /p }} }}\n{identity}",
        dir.display()
    );
    let config = Config::from_yaml(&yaml, Vec::new()).unwrap();
    rt.block_on(Gateway::start(config)).unwrap()
}

/// The median time of `n` logins of `user`.
fn logins(g: &Gateway, user: &str, pass: &str, n: usize) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let mut f = suppaftp::FtpStream::connect(g.ftp_addr()).unwrap();
            f.login(user, pass).unwrap();
            f.quit().unwrap();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn show(what: &str, requests: &str, d: Duration) {
    println!(
        "  {what:<34} {requests:<40} {:>8.2} ms",
        d.as_secs_f64() * 1000.0
    );
}

/// A proxy in front of `port` at `rtt` (0: none); the port to use.
fn far(rt: &tokio::runtime::Runtime, port: u16, rtt: u64) -> u16 {
    if rtt == 0 {
        return port;
    }
    let link = delay::Link {
        one_way: Duration::from_millis(rtt) / 2,
        window: 4 << 20,
        rate: None,
    };
    rt.block_on(delay::start(([127, 0, 0, 1], port).into(), link))
        .port()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = var("BENCH_LOGINS", 40);
    let rtts: Vec<u64> = std::env::var("BENCH_RTTS_MS")
        .unwrap_or_else(|_| "0,20".into())
        .split(',')
        .map(|r| r.trim().parse().expect("BENCH_RTTS_MS: numbers"))
        .collect();
    let hook = HookServer::start(|req| {
        if req["password"] == "hook-pw" {
            Answer::Json(200, r#"{"groups": ["partners"]}"#.into())
        } else {
            Answer::Json(401, String::new())
        }
    });
    let directory = slapd::available().then(|| {
        slapd::Slapd::start(&[slapd::person(
            "Dir User",
            "diruser",
            "dir-pw",
            &["cn=partners,ou=groups,dc=example,dc=com"],
        )])
    });
    for rtt in rtts {
        println!(
            "Identity source at RTT {rtt} ms (the FTP client and S3 near), medians of {n} logins"
        );
        let dir = tempfile::tempdir().unwrap();
        let g = gateway(&rt, dir.path(), "");
        show(
            "users file (plain password)",
            "none",
            logins(&g, "fileuser", "file-pw", n),
        );
        rt.block_on(g.shutdown(Duration::from_secs(1)));
        hook_logins(&rt, &hook, rtt, n);
        let Some(s) = &directory else {
            println!("  slapd not installed: LDAP skipped");
            continue;
        };
        ldap_logins(&rt, s, rtt, n);
    }
}

/// Logins by the hook at `rtt`, cache off then on.
fn hook_logins(rt: &tokio::runtime::Runtime, hook: &HookServer, rtt: u64, n: usize) {
    let hook_port = far(rt, hook.addr.port(), rtt);
    for (what, cache, requests) in [
        ("hook, cache off", "ttl: 0s", "1 POST (pooled connection)"),
        ("hook, cached", "ttl: 60s", "none (after the first)"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let g = gateway(
            rt,
            dir.path(),
            &format!(
                "identity: {{ order: [users, hook], hook: {{ url: 'http://127.0.0.1:{hook_port}/login', cache: {{ {cache} }} }} }}"
            ),
        );
        let before = hook.calls();
        let d = logins(&g, "hooked", "hook-pw", n);
        show(what, requests, d);
        println!("    ({} requests to the hook)", hook.calls() - before);
        rt.block_on(g.shutdown(Duration::from_secs(1)));
    }
}

/// Logins by slapd at `rtt`, cache off then on.
fn ldap_logins(rt: &tokio::runtime::Runtime, s: &slapd::Slapd, rtt: u64, n: usize) {
    let port: u16 = s.ldaps_url.rsplit(':').next().unwrap().parse().unwrap();
    let ldap_port = far(rt, port, rtt);
    for (what, cache, requests) in [
        (
            "LDAP over LDAPS, cache off",
            "ttl: 0s",
            "bind as service, search, bind as user",
        ),
        (
            "LDAP over LDAPS, cached",
            "ttl: 60s",
            "none (after the first)",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let g = gateway(
            rt,
            dir.path(),
            &format!(
                "identity: {{ order: [users, ldap], ldap: {{ url: 'ldaps://127.0.0.1:{ldap_port}', ca_file: '{}', bind_dn: '{}', bind_password: '{}', base_dn: 'dc=example,dc=com', user_filter: '(sAMAccountName={{username}})', groups: [ {{ dn: 'cn=partners,ou=groups,dc=example,dc=com', group: partners }} ], cache: {{ {cache} }} }} }}",
                s.ca.display(),
                slapd::SERVICE_DN,
                slapd::SERVICE_PASSWORD
            ),
        );
        show(what, requests, logins(&g, "diruser", "dir-pw", n));
        rt.block_on(g.shutdown(Duration::from_secs(1)));
    }
}
