//! Two s3ftpd processes behind a real load balancer (Debian's haproxy,
//! `send-proxy-v2`), as in the Helm chart's design: one frontend for the
//! control port balancing over both, and each replica's own passive range
//! forwarded to it. Clients upload with PASV and EPSV through the balancer;
//! the gateways see the client's address from the PROXY header (the passive
//! peer check depends on it).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{Raw, TestEnv, USERS, available, pattern};

const BIN: &str = env!("CARGO_BIN_EXE_s3ftpd");

/// Kills the child when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(addr: SocketAddr) {
    for _ in 0..200 {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listening on {addr}");
}

fn haproxy_with_proxy_protocol_v2(b: Backend) {
    if !available("haproxy") {
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let (endpoint, region, bucket, ak, sk) = match b.remote() {
        Some(r) => (r.endpoint, r.region, r.bucket, r.access_key, r.secret_key),
        None => {
            let e = env.gateway().embedded().unwrap();
            (
                e.endpoint.clone(),
                "us-east-1".into(),
                "ftp".into(),
                e.access_key.clone(),
                e.secret_key.clone(),
            )
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let mut gateways = Vec::new();
    let mut backends = Vec::new();
    // Ranges of their own: the variants of this test run at the same time,
    // and haproxy binds with SO_REUSEPORT (two would share a port silently).
    let range = crate::ports::range(20);
    let base: u16 = range.split('-').next().unwrap().parse().unwrap();
    for (i, ip) in ["127.0.0.2", "127.0.0.3"].into_iter().enumerate() {
        let port = crate::ports::one();
        let first = base + 10 * u16::try_from(i).unwrap();
        let config = dir.path().join(format!("g{i}.yaml"));
        std::fs::write(
            &config,
            format!(
                "listen: {ip}:{port}\n\
                 passive: {{ ports: {first}-{last}, public_host: 127.0.0.1 }}\n\
                 proxy_protocol: {{ trusted: [127.0.0.0/8] }}\n\
                 s3: {{ endpoint: '{endpoint}', region: '{region}', bucket: '{bucket}', prefix: '{prefix}', access_key_id: '{ak}', secret_access_key: '{sk}' }}\n\
                 {USERS}",
                last = first + 9,
                prefix = env.prefix,
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join(format!("g{i}.log"))).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "-c"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        gateways.push(Running(child));
        // Not a test connection: from 127.0.0.1 it would need a PROXY header.
        let log_path = dir.path().join(format!("g{i}.log"));
        crate::harness::wait_until(|| {
            std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("FTP server listening"))
        });
        backends.push((ip, port, first));
    }
    let front = crate::ports::one();
    let mut cfg = format!(
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\
         frontend ftp\n  bind 127.0.0.1:{front}\n  default_backend gateways\n\
         backend gateways\n  balance roundrobin\n"
    );
    for (i, (ip, port, _)) in backends.iter().enumerate() {
        cfg += &format!("  server g{i} {ip}:{port} send-proxy-v2\n");
    }
    for (i, (ip, _, first)) in backends.iter().enumerate() {
        // No port on the server line: haproxy keeps the port the client used.
        cfg += &format!(
            "frontend pasv{i}\n  bind 127.0.0.1:{first}-{}\n  default_backend pasv{i}\n\
             backend pasv{i}\n  server g{i} {ip} send-proxy-v2\n",
            first + 9
        );
    }
    let cfg_path = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    let _haproxy = Running(
        Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let front_addr: SocketAddr = format!("127.0.0.1:{front}").parse().unwrap();
    wait_for(front_addr);
    // Four sessions: round robin gives each gateway two. Each uploads with
    // EPSV (raw client) and PASV (suppaftp), through the balancer.
    for n in 0..4 {
        let mut r = Raw::connect(front_addr);
        r.login("u", "p");
        let mut d = r.epsv();
        r.expect(&format!("STOR epsv{n}.bin"), 150);
        d.write_all(&pattern(100_000, n)).unwrap();
        drop(d);
        assert_eq!(r.reply().0, 226);
        r.expect("QUIT", 221);
        let mut f = suppaftp::FtpStream::connect(front_addr).unwrap();
        f.login("u", "p").unwrap();
        f.transfer_type(suppaftp::types::FileType::Binary).unwrap();
        let body = pattern(6 * 1024 * 1024 + 1, 10 + n);
        f.put_file(format!("pasv{n}.bin"), &mut &body[..]).unwrap();
        assert!(
            f.retr_as_buffer(&format!("pasv{n}.bin"))
                .unwrap()
                .into_inner()
                == body
        );
        f.quit().unwrap();
        assert_eq!(
            env.get(&format!("epsv{n}.bin")).unwrap(),
            pattern(100_000, n)
        );
    }
    drop(gateways);
    // Both replicas served sessions, and saw them through the PROXY header.
    for i in 0..2 {
        let log = std::fs::read_to_string(dir.path().join(format!("g{i}.log"))).unwrap();
        let proxied = log.matches("connected (PROXY protocol)").count();
        assert!(
            proxied >= 4,
            "gateway {i} served {proxied} proxied sessions:\n{log}"
        );
        assert!(!log.contains("dropped"), "gateway {i}:\n{log}");
    }
}

/// A control connection opened through a balancer as client `ip`.
fn via_proxy(addr: SocketAddr, ip: &str) -> Raw {
    let mut r = Raw::connect_silent(addr);
    r.send_bytes(format!("PROXY TCP4 {ip} 127.0.0.1 40000 {}\r\n", addr.port()).as_bytes());
    assert_eq!(r.reply().0, 220);
    r
}

/// The PROXY header's address is the session's: the passive peer check and
/// bans use it; a trusted peer without a header is dropped.
fn proxy_header_sets_the_client_address(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.proxy_protocol.trusted = vec!["127.0.0.1/32".into()];
        c.limits.ban_after_failures = 2;
    });
    let mut r = via_proxy(env.addr, "203.0.113.5");
    r.login("u", "p");
    let port = r.expect("EPSV", 229);
    let port: u16 = port.split('|').nth(3).unwrap().parse().unwrap();
    let data_addr = SocketAddr::new(env.addr.ip(), port);
    // Without a header, the balancer's own data connection is dropped …
    let mut bare = TcpStream::connect(data_addr).unwrap();
    let _ = bare.write_all(b"no header");
    drop(bare);
    // … with one naming another client, too; naming this client, accepted.
    let mut other = TcpStream::connect(data_addr).unwrap();
    other
        .write_all(b"PROXY TCP4 198.51.100.1 127.0.0.1 1 2\r\n")
        .unwrap();
    let mut good = TcpStream::connect(data_addr).unwrap();
    good.write_all(b"PROXY TCP4 203.0.113.5 127.0.0.1 1 2\r\n")
        .unwrap();
    r.expect("STOR via.bin", 150);
    good.write_all(b"payload").unwrap();
    drop(good);
    assert_eq!(r.reply().0, 226);
    drop(other);
    assert_eq!(env.get("via.bin").unwrap(), b"payload");
    // Bans follow the real address: 198.51.100.1 is banned, 203.0.113.5 is not.
    for _ in 0..2 {
        let mut bad = via_proxy(env.addr, "198.51.100.1");
        bad.expect("USER u", 331);
        let code = bad.cmd("PASS wrong").0;
        assert!(code == 530 || code == 421, "{code}");
    }
    let mut banned = Raw::connect_silent(env.addr);
    banned.send_bytes(b"PROXY TCP4 198.51.100.1 127.0.0.1 40000 21\r\n");
    assert_eq!(banned.reply().0, 421);
    let mut fine = via_proxy(env.addr, "203.0.113.5");
    fine.login("u", "p");
    // A trusted peer that sends no header gets nothing and is closed.
    let mut none = Raw::connect_silent(env.addr);
    none.send("USER u");
    assert_eq!(none.reply().0, 0, "closed without a banner");
}

/// A trusted balancer's connection that never sends its PROXY header is
/// closed after `limits.handshake_timeout` (1 s here), not `data_timeout`
/// (60 s here), on the control port and on a passive data port.
fn silent_proxy_headers_end_at_the_handshake_timeout(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.proxy_protocol.trusted = vec!["127.0.0.1/32".into()];
        c.limits.handshake_timeout = s3ftpd::config::Dur(Duration::from_secs(1));
        c.limits.data_timeout = s3ftpd::config::Dur(Duration::from_secs(60));
    });
    let closed_within = |mut s: TcpStream| {
        let start = std::time::Instant::now();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 64];
        let mut got = 0;
        // Nothing is sent: the server can only close, and sends nothing first.
        while let Ok(n @ 1..) = std::io::Read::read(&mut s, &mut buf) {
            got += n;
        }
        (start.elapsed(), got)
    };
    let (waited, got) = closed_within(TcpStream::connect(env.addr).unwrap());
    assert!(
        waited < Duration::from_secs(10),
        "control: closed after {waited:?}"
    );
    assert_eq!(got, 0, "no banner before the header");
    let mut r = via_proxy(env.addr, "203.0.113.5");
    r.login("u", "p");
    let port = r.expect("EPSV", 229);
    let port: u16 = port.split('|').nth(3).unwrap().parse().unwrap();
    let data = TcpStream::connect(SocketAddr::new(env.addr.ip(), port)).unwrap();
    let (waited, _) = closed_within(data);
    assert!(
        waited < Duration::from_secs(10),
        "data: closed after {waited:?}"
    );
    // The session itself is unharmed.
    r.expect("NOOP", 200);
}

backend_tests!(
    haproxy_with_proxy_protocol_v2,
    proxy_header_sets_the_client_address,
    silent_proxy_headers_end_at_the_handshake_timeout
);
