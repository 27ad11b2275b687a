//! A frozen S3 (the Garage process stopped with SIGSTOP: connections are
//! accepted by the kernel, nothing ever answers) fails each command with
//! 451 within `s3.timeout`, uploads and downloads included; `/readyz` turns
//! 503 within seconds; nothing is lost, and service resumes with S3.

use std::io::Read;
use std::time::{Duration, Instant};

use s3ftpd::config::Dur;

use crate::backend::PrivateGarage;
use crate::harness::{TestEnv, pattern, wait_until};
use crate::observe::{http_get, scrape};

const MIB: usize = 1024 * 1024;

/// STOR of `body`; S3 is frozen once the 150 is in, or once the first
/// `freeze_after` bytes made a multipart upload (when `freeze` is given).
/// Returns the final reply code and how long it took from the freeze.
fn timed_stor(
    env: &TestEnv,
    name: &str,
    body: &[u8],
    freeze: Option<&PrivateGarage>,
    freeze_after: usize,
) -> (u16, Duration) {
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect(&format!("STOR {name}"), 150);
    std::io::Write::write_all(&mut d, &body[..freeze_after]).unwrap();
    if freeze_after > 0 {
        wait_until(|| env.open_uploads() == 1);
    }
    if let Some(g) = freeze {
        g.signal("STOP");
    }
    let started = Instant::now();
    std::io::Write::write_all(&mut d, &body[freeze_after..]).unwrap();
    drop(d);
    let (code, text) = r.reply();
    eprintln!("STOR {name}: {text}");
    let took = started.elapsed();
    if let Some(g) = freeze {
        if freeze_after > 0 {
            // The failed multipart upload's abort is sent while S3 is
            // frozen: keep it frozen past that request's deadline
            // (`s3.timeout`, 2 s), so that the abort fails and the
            // background retry is what removes the upload. Thawed at
            // once, the abort could still succeed late (a race).
            std::thread::sleep(Duration::from_secs(3));
        }
        g.signal("CONT");
    }
    (code, took)
}

#[test]
fn frozen_s3_fails_commands_within_the_deadline() {
    let Some(garage) = PrivateGarage::start() else {
        return;
    };
    let env = TestEnv::start_on(Some(garage.remote.clone()), |c| {
        c.s3.timeout = Dur(Duration::from_secs(2));
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    });
    let metrics = env.gateway().metrics_addr().unwrap();
    env.put("keep.bin", b"previous version");
    env.put("big.bin", &pattern(24 * MIB, 3));
    assert_eq!(http_get(metrics, "/readyz").0, 200);

    // A download in progress when S3 freezes.
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("RETR big.bin", 150);
    let mut first = vec![0u8; 64 * 1024];
    d.read_exact(&mut first).unwrap();
    garage.signal("STOP");
    let started = Instant::now();
    let _ = std::io::copy(&mut d, &mut std::io::sink());
    let (code, text) = r.reply();
    assert_eq!(code, 451, "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "RETR took {:?}",
        started.elapsed()
    );

    // /readyz notices within seconds; other commands fail within the deadline.
    let started = Instant::now();
    wait_until(|| http_get(metrics, "/readyz").0 == 503);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "/readyz took {:?}",
        started.elapsed()
    );
    let mut r = env.raw_login();
    let started = Instant::now();
    assert_eq!(r.cmd("SIZE keep.bin").0, 451);
    assert!(started.elapsed() < Duration::from_secs(4));
    garage.signal("CONT");
    wait_until(|| http_get(metrics, "/readyz").0 == 200);

    // Uploads that meet a frozen S3: small (PutObject), and multipart with
    // its first part sent (parts of 5 MiB: 2 s + 5 s each; then the abort
    // fails too and is retried in the background).
    let (code, took) = timed_stor(&env, "keep.bin", b"new version", Some(&garage), 0);
    assert_eq!(code, 451);
    assert!(took < Duration::from_secs(8), "small STOR took {took:?}");
    let (code, took) = timed_stor(
        &env,
        "keep.bin",
        &pattern(12 * MIB, 4),
        Some(&garage),
        6 * MIB,
    );
    assert_eq!(code, 451);
    assert!(
        took < Duration::from_secs(16),
        "multipart STOR took {took:?}"
    );

    // S3 is back: ready again, nothing lost, the session and new ones work.
    wait_until(|| http_get(metrics, "/readyz").0 == 200);
    assert_eq!(env.get("keep.bin").unwrap(), b"previous version");
    // The multipart upload whose abort failed while S3 was frozen is
    // aborted by the background retry.
    wait_until(|| env.open_uploads() == 0);
    let retried = scrape(metrics)
        .get("s3ftpd_multipart_aborts_total{outcome=\"ok\",reason=\"retried\"}")
        .copied()
        .unwrap_or(0.0);
    assert!(retried >= 1.0, "no retried abort counted");
    r.expect("SIZE keep.bin", 213);
    let (code, _) = timed_stor(&env, "after.bin", b"works", None, 0);
    assert_eq!(code, 226);
    assert_eq!(env.get("after.bin").unwrap(), b"works");
}

/// lftp's automatic retry after an upload failed (S3 frozen in the middle):
/// SIZE, then `REST <size>` + STOR of the rest of its (seekable) file. The
/// size is the old file's: the failed upload kept nothing. The gateway
/// refuses that resume, so whatever lftp does next, the file is the old one
/// or the whole new one, and lftp's exit 0 means the new one — never the old
/// file's head joined to the new file's tail.
#[test]
fn lftp_retry_after_a_failure_never_joins_two_files() {
    if !crate::harness::available("lftp") {
        return;
    }
    let Some(garage) = PrivateGarage::start() else {
        return;
    };
    let env = TestEnv::start_on(Some(garage.remote.clone()), |c| {
        c.s3.timeout = Dur(Duration::from_secs(1));
        // lftp answers the refusal with REST 0 + STOR carrying what it had
        // buffered, then waits until the idle timeout before it starts over
        // (README: lftp, `ftp:rest-stor`).
        c.limits.idle_timeout = Dur(Duration::from_secs(5));
    });
    let old = pattern(2 * MIB, 47);
    env.put("f.bin", &old);
    let dir = tempfile::tempdir().unwrap();
    let new = pattern(12 * MIB, 48);
    std::fs::write(dir.path().join("new.bin"), &new).unwrap();
    let script = "set net:max-retries 30; set net:reconnect-interval-base 1; \
                  set net:reconnect-interval-multiplier 1; set net:timeout 8; \
                  set net:limit-rate 4000000; set cmd:fail-exit yes; \
                  put new.bin -o f.bin; bye";
    let port = env.gateway().ftp_addr().port().to_string();
    let child = std::process::Command::new("lftp")
        .args(["-d", "-u", "u,p", "-p", &port, "127.0.0.1", "-e", script])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the multipart upload exists, S3 freezes for longer than the
    // gateway's deadlines: the upload fails (451, or lftp gives up first).
    wait_until(|| env.open_uploads() == 1);
    garage.signal("STOP");
    std::thread::sleep(Duration::from_secs(14));
    garage.signal("CONT");
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let got = env.get("f.bin").unwrap();
    assert!(
        got == old || got == new,
        "the file is {} bytes of neither version; lftp:\n{log}",
        got.len()
    );
    if out.status.success() {
        assert!(
            got == new,
            "lftp exited 0 but the file is the old one:\n{log}"
        );
    }
    assert!(
        log.contains(&format!("REST {}", old.len())) && log.contains("554"),
        "lftp did not retry with a resume:\n{log}"
    );
    wait_until(|| env.open_uploads() == 0);
}
