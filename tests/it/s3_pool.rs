//! S3 connections and requests stay bounded however many sessions list at
//! once: NLST sends its ListObjectsV2 requests and nothing else, listings
//! of one folder share their metadata lookups, and `s3.max_connections`
//! caps the connections, so a gateway under a low descriptor limit serves
//! 100 concurrent listings.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{Raw, TestEnv, read_all, wait_until};
use crate::observe::scrape;

fn requests(m: &std::collections::HashMap<String, f64>, op: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| {
            k.starts_with("s3ftpd_s3_requests_total{") && k.contains(&format!("operation=\"{op}\""))
        })
        .map(|(_, v)| v)
        .sum()
}

fn nlst_sends_only_its_listing_requests(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap())
    });
    let metrics = env.gateway().metrics_addr().unwrap();
    for i in 0..30 {
        env.put(&format!("d/f{i:02}"), b"x");
    }
    let mut r = env.raw_login();
    let before = scrape(metrics);
    let d = r.epsv();
    r.expect("NLST d", 150);
    let names = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(r.reply().0, 226);
    assert_eq!(names.lines().count(), 30);
    let after = scrape(metrics);
    assert_eq!(
        requests(&after, "HeadObject") - requests(&before, "HeadObject"),
        0.0,
        "NLST read metadata"
    );
    assert_eq!(
        requests(&after, "ListObjectsV2") - requests(&before, "ListObjectsV2"),
        1.0
    );
}

fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], crate::ports::one()))
}

fn many_listings_under_a_low_descriptor_limit(b: Backend) {
    let Some(remote) = b.remote() else {
        return; // the embedded store runs inside the gateway: see the other backends
    };
    let env = TestEnv::start(b, |_| {});
    for i in 0..200 {
        env.put(&format!("big/f{i:03}.txt"), b"0123456789");
    }
    let addr = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("s3ftpd.yaml");
    std::fs::write(
        &yaml,
        format!(
            "listen: {addr}\npassive: {{ ports: {} }}\n\
             limits: {{ max_sessions_per_ip: 200, max_unauthenticated_per_ip: 200 }}\n\
             s3: {{ endpoint: '{}', region: '{}', bucket: '{}', access_key_id: '{}', secret_access_key: '{}', prefix: '{}', max_connections: 32 }}\n\
             users: [ {{ name: u, password: p, home: / }} ]\n",
            crate::ports::range(200),
            remote.endpoint, remote.region, remote.bucket, remote.access_key, remote.secret_key, env.prefix
        ),
    )
    .unwrap();
    // 512 descriptors: 100 control and 100 data connections and up to 100
    // passive listeners leave about 200 for S3 (before the cap, 100
    // listings sent 32 metadata lookups each at once: 3,200 connections).
    let mut gateway = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 512 && exec \"$0\" serve -c \"$1\"")
        .arg(env!("CARGO_BIN_EXE_s3ftpd"))
        .arg(&yaml)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("s3ftpd.log")).unwrap())
        .spawn()
        .unwrap();
    wait_until(|| std::net::TcpStream::connect(addr).is_ok());
    let results: Vec<Result<usize, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                s.spawn(move || {
                    let mut r = Raw::connect(addr);
                    r.login("u", "p");
                    let d = r.epsv();
                    let (code, text) = r.cmd("LIST big");
                    if code != 150 {
                        return Err(text);
                    }
                    let lines = BufReader::new(d).lines().count();
                    let (code, text) = r.reply();
                    if code == 226 { Ok(lines) } else { Err(text) }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    let log = std::fs::read_to_string(dir.path().join("s3ftpd.log")).unwrap();
    let failed: Vec<_> = results
        .iter()
        .filter(|r| r.as_ref().map_or(true, |n| *n != 200))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 100 listings failed: {:?}\n{}",
        failed.len(),
        failed.first(),
        log.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
    assert!(!log.contains("Too many open files"), "descriptors ran out");
}

backend_tests!(
    nlst_sends_only_its_listing_requests,
    many_listings_under_a_low_descriptor_limit
);
