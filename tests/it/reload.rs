//! Reload without restart: `s3ftpd serve` as a process, its file rewritten
//! and SIGHUP sent while an upload runs. The upload completes; the running
//! session keeps the rights it logged in with; new logins get the new
//! accounts; a broken file changes nothing and says why; a changed
//! listener says "restart needed"; no password reaches the log.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::harness::{Raw, pattern, read_all, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_s3ftpd");

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hup(child: &Child) {
    let out = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
}

fn config(dir: &Path, addr: SocketAddr, ports: &str, users: &str) -> String {
    format!(
        "listen: {addr}\npassive: {{ ports: {ports} }}\n\
         s3: {{ endpoint: embedded, bucket: ftp, data_dir: '{}', part_size: 5MiB }}\n\
         log: {{ level: debug }}\n{users}",
        dir.join("data").display()
    )
}

/// `s3ftpd serve -c yaml`, its log in `log`, once it listens.
fn serve(yaml: &Path, log: &Path) -> Running {
    let child = Running(
        Command::new(BIN)
            .args(["serve", "-c"])
            .arg(yaml)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_until(|| log_has(log, "FTP server listening", 1));
    child
}

fn log_has(log: &Path, what: &str, times: usize) -> bool {
    std::fs::read_to_string(log).is_ok_and(|l| l.matches(what).count() >= times)
}

#[test]
fn sighup_reloads_accounts_while_an_upload_runs() {
    let dir = tempfile::tempdir().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], crate::ports::one()));
    let ports = crate::ports::range(20);
    let yaml = dir.path().join("s3ftpd.yaml");
    let log = dir.path().join("s3ftpd.log");
    let v1 = "users:\n  - { name: a, password: alpha-secret-1, home: /a }\n";
    std::fs::write(&yaml, config(dir.path(), addr, &ports, v1)).unwrap();
    let child = serve(&yaml, &log);
    let mut a = Raw::connect(addr);
    a.login("a", "alpha-secret-1");
    // An upload in progress (8 MiB, multipart) across the reload.
    let body = pattern(8 * 1024 * 1024, 3);
    let mut d = a.epsv();
    a.expect("STOR big.bin", 150);
    d.write_all(&body[..3 * 1024 * 1024]).unwrap();
    // v2: `b` added, `a` may only read from now on.
    let v2 = "users:\n  - { name: a, password: alpha-secret-1, home: /a, permissions: { /: [list, download] } }\n  - { name: b, password: beta-secret-2, home: /b }\n";
    std::fs::write(&yaml, config(dir.path(), addr, &ports, v2)).unwrap();
    hup(&child.0);
    wait_until(|| log_has(&log, "configuration reloaded", 1));
    d.write_all(&body[3 * 1024 * 1024..]).unwrap();
    drop(d);
    assert_eq!(a.reply().0, 226, "the upload across the reload completes");
    // The running session keeps what it logged in with.
    assert_eq!(a.stor("after.txt", b"still mine").0, 226);
    // New logins get the new accounts.
    let mut b = Raw::connect(addr);
    b.login("b", "beta-secret-2");
    let mut a2 = Raw::connect(addr);
    a2.login("a", "alpha-secret-1");
    let (code, text) = a2.stor("denied.txt", b"x");
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("needs `upload`"), "{text}");
    let data = a2.epsv();
    a2.expect("RETR big.bin", 150);
    assert!(read_all(data) == body, "the object is whole");
    assert_eq!(a2.reply().0, 226);
    // A broken file: nothing changes, the log says why.
    std::fs::write(
        &yaml,
        config(
            dir.path(),
            addr,
            &ports,
            "users:\n  - { name: c, password: gamma-secret-3, colour: blue }\n",
        ),
    )
    .unwrap();
    hup(&child.0);
    wait_until(|| log_has(&log, "does not load", 1));
    let mut b2 = Raw::connect(addr);
    b2.login("b", "beta-secret-2");
    let mut c = Raw::connect(addr);
    c.expect("USER c", 331);
    assert_eq!(c.cmd("PASS gamma-secret-3").0, 530);
    // A new listener waits for a restart; the accounts of the file apply.
    let other = SocketAddr::from(([127, 0, 0, 1], crate::ports::one()));
    let v3 = "users:\n  - { name: c, password: gamma-secret-3, home: /c }\n";
    std::fs::write(&yaml, config(dir.path(), other, &ports, v3)).unwrap();
    hup(&child.0);
    wait_until(|| log_has(&log, "configuration reloaded", 2));
    assert!(log_has(&log, "restart needed", 1));
    let mut c = Raw::connect(addr);
    c.login("c", "gamma-secret-3");
    let mut b3 = Raw::connect(addr);
    b3.expect("USER b", 331);
    assert_eq!(b3.cmd("PASS beta-secret-2").0, 530, "b is gone");
    // The running sessions of removed accounts go on.
    b.expect("NOOP", 200);
    drop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    for secret in ["alpha-secret-1", "beta-secret-2", "gamma-secret-3"] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
}

/// SIGHUP adds an identity source, and a reload whose source cannot be
/// set up (its CA file is missing) changes nothing and names the key.
#[test]
fn sighup_adds_a_hook_and_keeps_it_when_the_next_file_is_broken() {
    use crate::hook_server::{Answer, HookServer};
    let hook = HookServer::start(|req| {
        if req["password"] == "hook-secret-4" {
            Answer::Json(200, r#"{"home": "/h"}"#.into())
        } else {
            Answer::Json(401, String::new())
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], crate::ports::one()));
    let ports = crate::ports::range(4);
    let yaml = dir.path().join("s3ftpd.yaml");
    let log = dir.path().join("s3ftpd.log");
    let users = "users:\n  - { name: a, password: alpha-secret-1, home: /a }\n";
    std::fs::write(&yaml, config(dir.path(), addr, &ports, users)).unwrap();
    let child = serve(&yaml, &log);
    let mut before = Raw::connect(addr);
    before.expect("USER hooked", 331);
    before.expect("PASS hook-secret-4", 530);
    let with_hook = format!(
        "{users}identity: {{ order: [users, hook], hook: {{ url: '{}' }} }}\n",
        hook.url()
    );
    std::fs::write(&yaml, config(dir.path(), addr, &ports, &with_hook)).unwrap();
    hup(&child.0);
    wait_until(|| log_has(&log, "configuration reloaded", 1));
    Raw::connect(addr).login("hooked", "hook-secret-4");
    let broken = format!(
        "{users}identity: {{ order: [users, hook], hook: {{ url: 'https://127.0.0.1:9/x', ca_file: '{}' }} }}\n",
        dir.path().join("missing-ca.pem").display()
    );
    std::fs::write(&yaml, config(dir.path(), addr, &ports, &broken)).unwrap();
    hup(&child.0);
    wait_until(|| log_has(&log, "identity.hook.ca_file", 1));
    Raw::connect(addr).login("hooked", "hook-secret-4");
    assert!(!log_has(&log, "hook-secret-4", 1), "a password in the log");
}
