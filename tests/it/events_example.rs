//! README "Events" as written: its configuration (the URL pointed at the
//! receiver) and its Python receiver, which verifies every delivery with
//! the `standardwebhooks` package. Skipped where the package is missing,
//! unless `S3FTPD_REQUIRE_WEBHOOKS=1` (`.ci/run` installs it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::backend::Backend;
use crate::harness::{Raw, TestEnv, pattern, readme_code, readme_yaml, wait_until};

fn package_present() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var("S3FTPD_REQUIRE_WEBHOOKS").as_deref() != Ok("1"),
        "the Python package standardwebhooks is required (S3FTPD_REQUIRE_WEBHOOKS=1): pip install standardwebhooks"
    );
    ok
}

struct Receiver(Child);

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A POST the receiver must refuse: signed with another secret.
fn forged(addr: SocketAddr) -> u16 {
    let body = r#"{"id":"evt_x","type":"upload","timestamp":"2026-01-01T00:00:00Z","data":{}}"#;
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         webhook-id: evt_x\r\nwebhook-timestamp: {ts}\r\nwebhook-signature: v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn readme_receiver_verifies_what_the_gateway_sends(backend: Backend) {
    if !package_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("receiver.py");
    std::fs::write(&script, readme_code("events-receiver", "python")).unwrap();
    let port = crate::ports::one();
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .env("WEBHOOK_SECRET", crate::events::SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let _rx = Receiver(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_until(|| TcpStream::connect(addr).is_ok());
    assert_eq!(
        forged(addr),
        401,
        "a delivery signed with another secret is refused"
    );
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let yaml = readme_yaml("events-example")
        .replace(
            "https://hooks.example.com/s3ftpd",
            &format!("http://{addr}/"),
        )
        .replace(
            "/var/log/s3ftpd/audit.jsonl",
            &dir.path().join("audit.jsonl").display().to_string(),
        );
    let env = TestEnv::start(backend, |c| {
        let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        c.events = serde_yaml::from_value(v["events"].clone()).unwrap();
    });
    let body = pattern(48_213, 42);
    let mut c = Raw::connect(env.addr);
    c.login("u", "p");
    c.expect("MKD in", 257);
    assert_eq!(c.stor("in/invoice-0042.xml", &body).0, 226);
    let line = lines
        .recv_timeout(Duration::from_secs(10))
        .expect("the receiver printed the event");
    let (kind, data) = line.split_once(' ').unwrap();
    assert_eq!(kind, "upload", "{line}");
    let data: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["path"], "/in/invoice-0042.xml");
    assert_eq!(data["size"], body.len() as u64);
    let crc = aws_smithy_types::base64::encode(crc_fast::crc32_iscsi(&body).to_be_bytes());
    assert_eq!(data["crc32c"], crc.as_str());
    assert_eq!(data["etag"], env.etag("in/invoice-0042.xml").as_str());
}

crate::backend_tests!(readme_receiver_verifies_what_the_gateway_sends);
