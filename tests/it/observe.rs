//! The operator endpoint: Prometheus metrics move by the right amounts,
//! `/healthz` and `/readyz` answer what they should.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{TestEnv, pattern};

/// `GET path` → (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Parses the text exposition strictly enough to catch a broken one:
/// every sample line is `name{labels} value` with a numeric value.
pub fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200);
    let mut samples = HashMap::new();
    for line in body.lines() {
        if line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        assert!(
            series[..name_end]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "bad labels in {line:?}");
        }
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        samples.insert(series.to_owned(), v);
    }
    samples
}

fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

pub fn with_metrics(c: &mut s3ftpd::Config) {
    c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
}

/// Uploads that ended without completing, as the gateway counts them: a
/// probe that the gateway has seen a client go (tests that order a
/// client's death wait on it rather than sleep).
pub fn failed_uploads(env: &TestEnv) -> f64 {
    let addr = env.gateway().metrics_addr().expect("metrics endpoint");
    let m = scrape(addr);
    ["failed", "aborted"]
        .iter()
        .map(|r| {
            m.get(&format!(
                r#"s3ftpd_transfers_total{{direction="in",result="{r}"}}"#
            ))
            .copied()
            .unwrap_or(0.0)
        })
        .sum()
}

fn metrics_move_by_the_right_amounts(b: Backend) {
    let env = TestEnv::start(b, with_metrics);
    let addr = env.gateway().metrics_addr().expect("metrics endpoint");
    let before = scrape(addr);
    let body = pattern(7 * 1024 * 1024 + 3, 80);
    let mut r = env.raw();
    r.expect("USER u", 331);
    r.expect("PASS wrong", 530);
    let mut f = env.ftp("u", "p");
    f.put_file("m.bin", &mut &body[..]).unwrap();
    assert_eq!(
        f.retr_as_buffer("m.bin").unwrap().into_inner().len(),
        body.len()
    );
    f.quit().unwrap();
    let n = body.len() as f64;
    let after = scrape(addr);
    let d = |s: &str| delta(&before, &after, s);
    assert_eq!(d("s3ftpd_sessions_total"), 2.0);
    assert_eq!(d(r#"s3ftpd_logins_total{result="ok",source="users"}"#), 1.0);
    assert_eq!(
        d(r#"s3ftpd_logins_total{result="failed",source="users"}"#),
        1.0
    );
    assert_eq!(d(r#"s3ftpd_commands_total{class="2xx",verb="STOR"}"#), 1.0);
    assert_eq!(d(r#"s3ftpd_commands_total{class="2xx",verb="RETR"}"#), 1.0);
    assert_eq!(d(r#"s3ftpd_commands_total{class="5xx",verb="PASS"}"#), 1.0);
    assert_eq!(d(r#"s3ftpd_transfer_bytes_total{direction="in"}"#), n);
    assert_eq!(d(r#"s3ftpd_transfer_bytes_total{direction="out"}"#), n);
    assert_eq!(
        d(r#"s3ftpd_transfers_total{direction="in",result="complete"}"#),
        1.0
    );
    assert_eq!(
        d(r#"s3ftpd_transfers_total{direction="out",result="complete"}"#),
        1.0
    );
    assert_eq!(
        d(r#"s3ftpd_transfer_duration_seconds_count{direction="in"}"#),
        1.0
    );
    // part_size 5 MiB: 2 parts.
    assert_eq!(
        d(r#"s3ftpd_s3_requests_total{operation="UploadPart",outcome="ok"}"#),
        2.0
    );
    assert_eq!(
        d(r#"s3ftpd_s3_requests_total{operation="CompleteMultipartUpload",outcome="ok"}"#),
        1.0
    );
    // The download: one GetObject per 5 MiB range of the 7 MiB file.
    assert_eq!(
        d(r#"s3ftpd_s3_requests_total{operation="GetObject",outcome="ok"}"#),
        2.0
    );
    assert!(d(r#"s3ftpd_s3_request_duration_seconds_count{operation="UploadPart"}"#) >= 2.0);
    assert_eq!(after.get("s3ftpd_bans_total"), Some(&0.0));
    assert_eq!(http_get(addr, "/healthz"), (200, "ok\n".into()));
    assert_eq!(http_get(addr, "/readyz").0, 200);
    assert_eq!(http_get(addr, "/nope").0, 404);
}

/// `/readyz` turns 503 when S3 goes away (embedded store stopped) while
/// `/healthz` stays 200; and 503 while draining on shutdown.
fn readyz_follows_s3_and_draining(b: Backend) {
    let env = TestEnv::start(b, with_metrics);
    let addr = env.gateway().metrics_addr().unwrap();
    assert_eq!(http_get(addr, "/readyz").0, 200);
    // Draining: a transfer keeps the gateway in its drain phase.
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("STOR slow.bin", 150);
    d.write_all(b"some bytes").unwrap();
    let shutdown = env.shutdown_in_background(Duration::from_secs(3));
    crate::harness::wait_until(|| http_get(addr, "/readyz").0 == 503);
    assert_eq!(http_get(addr, "/healthz").0, 200);
    drop(d);
    env.rt.block_on(shutdown).unwrap();
    if b != Backend::Embedded {
        return;
    }
    let env = TestEnv::start(b, with_metrics);
    let addr = env.gateway().metrics_addr().unwrap();
    env.rt
        .block_on(env.gateway().embedded().unwrap().shutdown());
    let mut ready = 200;
    for _ in 0..100 {
        ready = http_get(addr, "/readyz").0;
        if ready == 503 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ready, 503, "not ready once S3 is unreachable");
    assert_eq!(http_get(addr, "/healthz").0, 200, "alive all the same");
}

/// Listing times cost HeadObject requests once: the same listing again
/// costs none, and after an MFMT only the changed file is read again.
fn listing_metadata_lookups_are_cached(b: Backend) {
    let env = TestEnv::start(b, with_metrics);
    let addr = env.gateway().metrics_addr().unwrap();
    for k in ["d/a.txt", "d/b.txt", "d/marked/", "d/implicit/x"] {
        env.put(k, b"x");
    }
    let heads = || -> f64 {
        scrape(addr)
            .iter()
            .filter(|(k, _)| k.starts_with(r#"s3ftpd_s3_requests_total{operation="HeadObject""#))
            .map(|(_, v)| v)
            .sum()
    };
    let mut r = env.raw_login();
    let mut list = || {
        let before = heads();
        let lines = crate::ftp_listing::listing(&mut r, "LIST d");
        assert_eq!(lines.len(), 4, "{lines:?}");
        heads() - before
    };
    assert_eq!(list(), 4.0, "two files and two folders, once each");
    assert_eq!(list(), 0.0, "all cached");
    let mut m = env.raw_login();
    m.expect("MFMT 20200102030405 d/a.txt", 213);
    assert_eq!(list(), 1.0, "only the changed file again");
}

backend_tests!(
    metrics_move_by_the_right_amounts,
    readyz_follows_s3_and_draining,
    listing_metadata_lookups_are_cached
);
