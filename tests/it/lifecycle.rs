//! Graceful shutdown, and the `s3ftpd` binary itself: demo mode, check-config, hash-password.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{TestEnv, pattern};

const BIN: &str = env!("CARGO_BIN_EXE_s3ftpd");

fn shutdown_drains_running_transfers(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut idle = env.raw_login();
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("STOR drained.bin", 150);
    d.write_all(b"first half ").unwrap();
    let done = env.shutdown_in_background(Duration::from_secs(20));
    assert_eq!(idle.reply().0, 421, "idle sessions are told and closed");
    // No new sessions once shutdown began.
    let mut refused = false;
    for _ in 0..100 {
        match std::net::TcpStream::connect(env.addr) {
            Err(_) => {
                refused = true;
                break;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert!(refused, "listener still accepting during shutdown");
    d.write_all(b"second half").unwrap();
    drop(d);
    assert_eq!(r.reply().0, 226, "the running transfer finished");
    assert_eq!(r.reply().0, 421);
    env.rt.block_on(done).unwrap();
    assert_eq!(env.get("drained.bin").unwrap(), b"first half second half");
}

fn shutdown_aborts_transfers_at_the_deadline(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("big.bin", b"previous");
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("STOR big.bin", 150);
    d.write_all(&pattern(7 * 1024 * 1024, 1)).unwrap(); // a multipart upload is under way
    let done = env.shutdown_in_background(Duration::from_millis(300));
    let (code, text) = r.reply();
    assert_eq!(code, 426, "{text}");
    env.rt.block_on(done).unwrap();
    assert_eq!(env.open_uploads(), 0, "multipart upload aborted");
    assert_eq!(env.get("big.bin").unwrap(), b"previous");
}

/// Without `--offline`, check-config asks S3: the bucket that exists passes,
/// a missing one fails (exit 1, naming the bucket), as `serve` would.
fn check_config_asks_s3_for_the_bucket(b: Backend) {
    let Some(r) = b.remote() else {
        return; // the embedded store is made at start: nothing to ask
    };
    let dir = tempfile::tempdir().unwrap();
    for (bucket, ok) in [(r.bucket.as_str(), true), ("no-such-bucket-s3ftpd", false)] {
        let cfg = dir.path().join("c.yaml");
        std::fs::write(
            &cfg,
            format!(
                "s3: {{ endpoint: '{}', region: '{}', bucket: '{bucket}', access_key_id: '{}', secret_access_key: '{}', timeout: 5s }}\nusers: [{{ name: a, password: x }}]\n",
                r.endpoint, r.region, r.access_key, r.secret_key
            ),
        )
        .unwrap();
        let out = s3ftpd(&["check-config", "-c", cfg.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), ok, "{bucket}: {err}");
        if !ok {
            assert!(err.contains(bucket), "{err}");
            let offline = s3ftpd(&["check-config", "--offline", "-c", cfg.to_str().unwrap()]);
            assert!(offline.status.success());
        }
    }
}

backend_tests!(
    check_config_asks_s3_for_the_bucket,
    shutdown_drains_running_transfers,
    shutdown_aborts_transfers_at_the_deadline
);

fn s3ftpd(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn hash_password_prints_argon2id() {
    let mut child = Command::new(BIN)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let phc = String::from_utf8(out.stdout).unwrap();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(s3ftpd::auth::verify_hash(phc.trim(), "s3cret"));
    assert!(!s3ftpd::auth::verify_hash(phc.trim(), "s3cret\n"));
}

#[test]
fn check_config_prints_masked_config_or_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "s3: { bucket: b, access_key_id: AKIA, secret_access_key: TOPSECRET }\nusers: [{ name: a, password: PLAINPW }]\n",
    )
    .unwrap();
    let out = s3ftpd(&["check-config", "--offline", "-c", good.to_str().unwrap()]);
    assert!(out.status.success());
    // A config others can read (it may hold secrets) is reported; a private one is not.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o644)).unwrap();
    let warned = s3ftpd(&["check-config", "--offline", "-c", good.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&warned.stderr).contains("readable by other users"));
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o600)).unwrap();
    let quiet = s3ftpd(&["check-config", "--offline", "-c", good.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("readable by other users"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bucket: b") && text.contains("part_size"),
        "{text}"
    );
    assert!(
        !text.contains("TOPSECRET") && !text.contains("PLAINPW"),
        "{text}"
    );
    for (yaml, key) in [
        ("s3: { bucket: b, part_sise: 8MiB }", "part_sise"),
        ("s3: { bucket: b, part_size: 1KiB }", "s3.part_size"),
        ("listen: 0.0.0.0:50010\ns3: { bucket: b }", "passive.ports"),
        (
            "s3: { bucket: b }\nlimits: { idle_timeout: never }",
            "idle_timeout",
        ),
    ] {
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, yaml).unwrap();
        let out = s3ftpd(&["check-config", "--offline", "-c", bad.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{yaml}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{yaml}: {err}");
    }
    let out = s3ftpd(&["check-config", "--offline", "-c", "/nonexistent.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    // The environment beats the file.
    let out = Command::new(BIN)
        .args(["check-config", "--offline", "-c", good.to_str().unwrap()])
        .env("S3FTPD_S3_BUCKET", "from-env")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("bucket: from-env"));
}

#[test]
fn serve_refuses_an_unreachable_bucket_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::ports::one();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:{port}\ns3: {{ endpoint: 'http://127.0.0.1:1', bucket: nope, access_key_id: a, secret_access_key: b }}\nusers: [{{ name: a, password: b }}]\nlimits: {{ data_timeout: 2s }}\n"
        ),
    )
    .unwrap();
    let out = s3ftpd(&["serve", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("s3.bucket"), "{err}");
}

#[test]
fn demo_mode_serves_ftp_on_the_embedded_store_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env("S3FTPD_LISTEN", "127.0.0.1:0")
        .env("S3FTPD_PASSIVE_PORTS", crate::ports::range(100))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    let mut s3_line = String::new();
    for _ in 0..10 {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.trim().strip_prefix("FTP  ftp://demo:demo@") {
            addr = Some(rest.split('/').next().unwrap().to_owned());
        }
        if line.trim().starts_with("S3   endpoint") {
            s3_line = line;
            break;
        }
    }
    let addr = addr.expect("demo prints its FTP URL");
    assert!(
        s3_line.contains("http://127.0.0.1:"),
        "demo prints the S3 endpoint: {s3_line}"
    );
    let mut ftp = suppaftp::FtpStream::connect(addr.as_str()).unwrap();
    ftp.login("demo", "demo").unwrap();
    ftp.put_file("hello.txt", &mut &b"hi from demo"[..])
        .unwrap();
    ftp.quit().unwrap();
    let on_disk = std::fs::read(dir.path().join("s3ftpd-data/ftp/hello.txt")).unwrap();
    assert_eq!(
        on_disk, b"hi from demo",
        "objects are visible under ./s3ftpd-data"
    );
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM → exit 0, got {status:?}");
}

fn transfer_log_writes_xferlog_lines(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("xferlog");
    let path = log.clone();
    let env = TestEnv::start(b, move |c| c.log.transfer_log = Some(path));
    env.put("down.bin", &pattern(5000, 1));
    let mut f = env.ftp("u", "p");
    f.retr_as_buffer("down.bin").unwrap();
    f.put_file("up load.bin", &mut &pattern(777, 2)[..])
        .unwrap();
    // An aborted upload is logged as incomplete.
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("STOR gone.bin", 150);
    d.write_all(b"partial").unwrap();
    r.send("ABOR");
    assert_eq!(r.reply().0, 426);
    assert_eq!(r.reply().0, 226);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    for l in &lines {
        assert_eq!(l.len(), 18, "{l:?}");
        assert_eq!(
            (l[6], l[9], l[10], l[12], l[13], l[14]),
            ("127.0.0.1", "b", "_", "r", "u", "ftp"),
            "{l:?}"
        );
    }
    assert_eq!(
        (lines[0][7], lines[0][8], lines[0][11], lines[0][17]),
        ("5000", "/down.bin", "o", "c")
    );
    assert_eq!(
        (lines[1][7], lines[1][8], lines[1][11], lines[1][17]),
        ("777", "/up_load.bin", "i", "c")
    );
    assert_eq!(
        (lines[2][8], lines[2][11], lines[2][17]),
        ("/gone.bin", "i", "i")
    );
}

backend_tests!(transfer_log_writes_xferlog_lines);

#[test]
fn json_log_lines_parse_as_json_carry_the_session_span_and_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:0\npassive: {{ ports: {} }}\n\
             s3: {{ endpoint: embedded, bucket: ftp, data_dir: '{}' }}\n\
             users: [{{ name: logger, password: 'Zq8-SECRET-pw' }}]\n\
             log: {{ format: json, level: debug }}\n",
            crate::ports::range(100),
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "-c", cfg.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Read the log as it comes: a full pipe would block the gateway.
    let mut err_pipe = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut err_pipe, &mut text).unwrap();
        text
    });
    let addr = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.trim().strip_prefix("s3ftpd serving FTP on ") {
            break rest.to_owned();
        }
    };
    let mut ftp = suppaftp::FtpStream::connect(addr.as_str()).unwrap();
    assert!(ftp.login("logger", "wrong-pw-XYZ").is_err());
    let mut ftp = suppaftp::FtpStream::connect(addr.as_str()).unwrap();
    ftp.login("logger", "Zq8-SECRET-pw").unwrap();
    ftp.put_file("j.txt", &mut &b"json"[..]).unwrap();
    ftp.quit().unwrap();
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    child.wait().unwrap();
    let stderr = err_reader.join().unwrap();
    let mut n = 0;
    let mut spans_with_user = 0;
    for line in stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
        assert!(
            v.get("level").is_some() && v.get("fields").is_some(),
            "{line}"
        );
        if v["span"]["name"] == "session"
            && v["span"]["user"] == "logger"
            && v["span"].get("peer").is_some()
        {
            spans_with_user += 1;
        }
        n += 1;
    }
    assert!(n >= 5, "expected log lines, got {n}:\n{stderr}");
    assert!(
        spans_with_user > 0,
        "no line in a session span with peer and user:\n{stderr}"
    );
    assert!(stderr.contains("upload complete"), "{stderr}");
    assert!(
        !stderr.contains("Zq8-SECRET-pw") && !stderr.contains("wrong-pw-XYZ"),
        "a password reached the logs"
    );
}
