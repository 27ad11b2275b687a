//! The image, as users run it: the real Dockerfile's `runtime` target,
//! built with the classic builder from base images made without a
//! registry (`tests/docker/images.sh`), run as uid 10001 with a read-only
//! root file system and its config only from `S3FTPD_*` variables, against
//! an S3 container; lftp and curl on the host upload, list and download in
//! passive mode; the HEALTHCHECK (the binary itself: the image has no
//! shell, and is at most 40 MB) turns healthy; host names (the S3
//! container's) resolve; `docker stop` drains a running upload to its 226
//! and exits 0.
//!
//! Runs whenever `docker info` answers; with `S3FTPD_REQUIRE_DOCKER=1`
//! (set by `.ci/run`) a missing Docker is a failure.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::{Raw, pattern, run};

/// Whether Docker answers; panics when it is required but does not.
pub fn docker_ready() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("S3FTPD_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "docker is required (S3FTPD_REQUIRE_DOCKER=1) but does not answer"
        );
        eprintln!("docker does not answer; container test skipped");
    }
    ok
}

/// Builds the images once per test process.
pub fn images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/docker/images.sh");
        run(Command::new("bash").arg(script));
    });
}

pub fn docker(args: &[&str]) -> String {
    run(Command::new("docker").args(args)).trim().to_owned()
}

/// Containers and a network removed when the test ends, however it ends.
struct Cleanup {
    containers: Vec<String>,
    network: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", c]).output();
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.network])
            .output();
    }
}

pub fn health(container: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Health.Status}}", container])
}

#[test]
fn the_image_runs_as_users_run_it() {
    if !docker_ready() {
        return;
    }
    images();
    // Minimal: the binary, its libraries, CA bundle and config; no shell.
    let size: u64 = docker(&["image", "inspect", "-f", "{{.Size}}", "s3ftpd:local"])
        .parse()
        .unwrap();
    assert!(size <= 40_000_000, "the image is {size} bytes (≤ 40 MB)");
    let shell = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--entrypoint",
            "/bin/sh",
            "s3ftpd:local",
            "-c",
            "true",
        ])
        .output()
        .unwrap();
    assert!(!shell.status.success(), "the image has a shell");
    let tag = format!("s3ftpd-it-{:08x}", rand::random::<u32>());
    let mut clean = Cleanup {
        containers: Vec::new(),
        network: tag.clone(),
    };
    docker(&["network", "create", &tag]);
    let s3 = format!("{tag}-s3");
    let (key, secret) = (
        format!("GK{:024x}", rand::random::<u128>() >> 32),
        format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        ),
    );
    docker(&[
        "run",
        "-d",
        "--name",
        &s3,
        "--network",
        &tag,
        "--network-alias",
        "s3",
        "-e",
        &format!("GARAGE_DEFAULT_ACCESS_KEY={key}"),
        "-e",
        &format!("GARAGE_DEFAULT_SECRET_KEY={secret}"),
        "-e",
        "GARAGE_DEFAULT_BUCKET=ftp",
        "-p",
        "127.0.0.1::9000",
        "s3ftpd-test/garage:local",
    ]);
    clean.containers.push(s3.clone());
    // S3 answers (any HTTP status) before the gateway starts: it checks its bucket first.
    let s3_port = docker(&["port", &s3, "9000/tcp"]);
    let s3_url = format!("http://{}/ftp", s3_port.lines().next().unwrap_or_default());
    wait_until_for(Duration::from_secs(30), || {
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &s3_url])
            .output()
            .is_ok_and(|o| o.stdout != b"000" && !o.stdout.is_empty())
    });
    let passive = crate::ports::range(10);
    let control = crate::ports::one();
    let gw = format!("{tag}-gw");
    docker(&[
        "run",
        "-d",
        "--name",
        &gw,
        "--network",
        &tag,
        "--read-only",
        "--user",
        "10001:10001",
        "-p",
        &format!("127.0.0.1:{control}:2121"),
        "-p",
        &format!("127.0.0.1:{passive}:{passive}"),
        "-e",
        "S3FTPD_S3_ENDPOINT=http://s3:9000",
        "-e",
        "S3FTPD_S3_BUCKET=ftp",
        "-e",
        &format!("AWS_ACCESS_KEY_ID={key}"),
        "-e",
        &format!("AWS_SECRET_ACCESS_KEY={secret}"),
        "-e",
        &format!("S3FTPD_PASSIVE_PORTS={passive}"),
        "-e",
        "S3FTPD_PASSIVE_PUBLIC_HOST=127.0.0.1",
        "-e",
        "S3FTPD_USERS=[{name: u, password: p, home: /}]",
        // Active mode from the host crosses Docker's NAT (checked below).
        "-e",
        "S3FTPD_ACTIVE_CONNECT_TO_PEER=true",
        "s3ftpd:local",
    ]);
    clean.containers.push(gw.clone());
    let addr: SocketAddr = format!("127.0.0.1:{control}").parse().unwrap();
    wait_until_for(Duration::from_secs(60), || {
        TcpStream::connect(addr).is_ok_and(|s| {
            s.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut b = [0u8; 3];
            std::io::Read::read_exact(&mut &s, &mut b).is_ok() && &b == b"220"
        })
    });
    assert_eq!(
        docker(&["inspect", "-f", "{{.Config.User}}", &gw]),
        "10001:10001"
    );

    // lftp and curl on the host, passive mode.
    let dir = tempfile::tempdir().unwrap();
    let body = pattern(3 * 1024 * 1024 + 7, 31);
    let src = dir.path().join("up.bin");
    std::fs::write(&src, &body).unwrap();
    let back = dir.path().join("back.bin");
    crate::harness::lftp(
        addr,
        "set ftp:passive-mode yes; set ftp:ssl-allow no",
        &format!(
            "mkdir -p in; put {} -o in/up.bin; cls -l in; get in/up.bin -o {}",
            src.display(),
            back.display()
        ),
    );
    assert_eq!(std::fs::read(&back).unwrap(), body, "lftp round trip");
    let base = format!("ftp://u:p@127.0.0.1:{control}");
    run(Command::new("curl")
        .args(["-sS", "-T"])
        .arg(&src)
        .arg(format!("{base}/in/curl.bin")));
    let list = run(Command::new("curl").args(["-sS", &format!("{base}/in/")]));
    assert!(
        list.contains("curl.bin") && list.contains("up.bin"),
        "{list}"
    );
    run(Command::new("curl")
        .args(["-sS", &format!("{base}/in/curl.bin")])
        .arg("-o")
        .arg(&back));
    assert_eq!(std::fs::read(&back).unwrap(), body, "curl round trip");

    // Active mode through Docker's NAT: the host names 127.0.0.1 in PORT,
    // the container sees the bridge's address as its peer; with
    // active.connect_to_peer it connects there, to the port from PORT.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut r = Raw::connect(addr);
    r.login("u", "p");
    r.expect(
        &format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff),
        200,
    );
    r.expect("RETR in/curl.bin", 150);
    let (d, from) = listener.accept().unwrap();
    assert!(!from.ip().is_loopback(), "came through the bridge: {from}");
    assert!(crate::harness::read_all(d) == body, "active-mode download");
    assert_eq!(r.reply().0, 226);

    // The HEALTHCHECK (every 10 s) turns healthy.
    wait_until_for(Duration::from_secs(60), || health(&gw) == "healthy");

    // docker stop drains: an upload running at SIGTERM completes with 226.
    let mut r = Raw::connect(addr);
    r.login("u", "p");
    let text = r.expect("EPSV", 229);
    let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
    let mut d = TcpStream::connect(("127.0.0.1", port)).unwrap();
    r.expect("STOR in/drained.bin", 150);
    let stopper = std::thread::spawn({
        let gw = gw.clone();
        move || docker(&["stop", "-t", "40", &gw])
    });
    let slow = pattern(1024 * 1024, 32);
    let started = Instant::now();
    for chunk in slow.chunks(64 * 1024) {
        d.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(d);
    assert_eq!(r.reply().0, 226, "the running upload drained");
    assert!(started.elapsed() >= Duration::from_secs(3));
    stopper.join().unwrap();
    assert_eq!(docker(&["inspect", "-f", "{{.State.ExitCode}}", &gw]), "0");
}

pub fn wait_until_for(limit: Duration, cond: impl Fn() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("condition not reached in {limit:?}");
}
