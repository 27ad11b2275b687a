//! The gateway process itself killed with SIGKILL in the middle of an
//! upload: the client gets an error, the previous object is intact, and the
//! multipart upload it leaves behind is aborted by the next start
//! (`uploads.abandoned_after`); the next session works.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use crate::backend::PrivateGarage;
use crate::harness::{Raw, TestEnv, pattern, wait_until};
use crate::observe::scrape;

const BIN: &str = env!("CARGO_BIN_EXE_s3ftpd");

fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], crate::ports::one()))
}

/// Starts `s3ftpd serve` with `yaml`; ready once its control port answers.
fn serve(yaml: &std::path::Path, addr: SocketAddr) -> Child {
    let child = Command::new(BIN)
        .args(["serve", "-c"])
        .arg(yaml)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(|| std::net::TcpStream::connect(addr).is_ok());
    child
}

#[test]
fn killed_gateway_leaves_nothing_half_visible() {
    let Some(garage) = PrivateGarage::start() else {
        return;
    };
    // An S3 view of the bucket (the gateway under test runs as a process).
    let env = TestEnv::start_on(Some(garage.remote.clone()), |_| {});
    env.put("keep.bin", b"previous version");
    let (addr, metrics) = (free_addr(), free_addr());
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("s3ftpd.yaml");
    let r = &garage.remote;
    std::fs::write(
        &yaml,
        format!(
            "listen: {addr}\npassive: {{ ports: {} }}\nmetrics: {{ listen: {metrics} }}\n\
             s3: {{ endpoint: '{}', region: '{}', bucket: '{}', access_key_id: '{}', secret_access_key: '{}', prefix: '{}', part_size: 5MiB }}\n\
             uploads: {{ abandoned_after: 4s }}\nusers: [ {{ name: u, password: p, home: / }} ]\n",
            crate::ports::range(20),
            r.endpoint,
            r.region, r.bucket, r.access_key, r.secret_key, env.prefix
        ),
    )
    .unwrap();
    let mut gateway = serve(&yaml, addr);
    let mut c = Raw::connect(addr);
    c.login("u", "p");
    let mut d = c.epsv();
    c.expect("STOR keep.bin", 150);
    d.write_all(&pattern(12 * 1024 * 1024, 5)).unwrap();
    wait_until(|| env.open_uploads() == 1);
    gateway.kill().unwrap(); // SIGKILL
    gateway.wait().unwrap();
    // The client is told: its connections end without a 226.
    assert_ne!(c.reply().0, 226);
    assert_eq!(env.get("keep.bin").unwrap(), b"previous version");
    assert_eq!(env.open_uploads(), 1, "the killed gateway could not abort");

    let mut gateway = serve(&yaml, addr);
    // The client's automatic retry (SIZE, then REST <size> + STOR): the
    // file is not its partial upload; the trace is the dead gateway's
    // multipart upload, younger than the file.
    let mut c = Raw::connect(addr);
    c.login("u", "p");
    let _d = c.epsv();
    c.expect("REST 16", 350);
    let text = c.expect("STOR keep.bin", 554);
    assert!(text.contains("interrupted"), "{text}");
    wait_until(|| env.open_uploads() == 0);
    // S3 may show the abort before the gateway has counted its answer.
    let aborted = || {
        scrape(metrics)
            .get("s3ftpd_multipart_aborts_total{outcome=\"ok\",reason=\"abandoned\"}")
            .copied()
            .unwrap_or(0.0)
    };
    wait_until(|| aborted() >= 1.0);
    assert_eq!(env.get("keep.bin").unwrap(), b"previous version");
    let mut c = Raw::connect(addr);
    c.login("u", "p");
    let mut d = c.epsv();
    c.expect("STOR keep.bin", 150);
    d.write_all(b"next session").unwrap();
    drop(d);
    assert_eq!(c.reply().0, 226);
    assert_eq!(env.get("keep.bin").unwrap(), b"next session");
    gateway.kill().unwrap();
    let _ = gateway.wait();
}

/// The sweep never aborts an upload its own gateway is still running,
/// however long it takes (`abandoned_after` of 1 s, an upload of 4 s).
fn a_long_upload_outlives_abandoned_after(b: crate::backend::Backend) {
    let env = TestEnv::start(b, |c| {
        c.uploads.abandoned_after = s3ftpd::config::Dur(std::time::Duration::from_secs(1));
    });
    let body = pattern(12 * 1024 * 1024, 9);
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("STOR long.bin", 150);
    for chunk in body.chunks(1024 * 1024) {
        d.write_all(chunk).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(330));
    }
    drop(d);
    let (code, text) = r.reply();
    assert_eq!(code, 226, "{text}");
    assert!(env.get("long.bin").unwrap() == body);
}

crate::backend_tests!(a_long_upload_outlives_abandoned_after);
