//! Events over TLS: an FTPS session's events say `ftps`; a webhook over
//! HTTPS is delivered when its certificate chains to `ca_file`, and never
//! to an endpoint whose certificate does not (retried, counted, logged).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::backend::Backend;
use crate::harness::{TestEnv, available, run, wait_until};

/// A Python HTTPS server printing each body it gets (one line), 204.
fn https_receiver(cert: &std::path::Path, key: &std::path::Path, port: u16) -> std::process::Child {
    let script = format!(
        "import http.server, ssl, sys\n\
         class H(http.server.BaseHTTPRequestHandler):\n\
         \x20   def do_POST(self):\n\
         \x20       body = self.rfile.read(int(self.headers['content-length']))\n\
         \x20       print(body.decode(), flush=True)\n\
         \x20       self.send_response(204); self.end_headers()\n\
         \x20   def log_message(self, *a): pass\n\
         s = http.server.HTTPServer(('127.0.0.1', {port}), H)\n\
         c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('{}', '{}')\n\
         s.socket = c.wrap_socket(s.socket, server_side=True)\n\
         s.serve_forever()\n",
        cert.display(),
        key.display()
    );
    Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn ftps_sessions_and_https_webhooks() {
    if !available("python3") || !available("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::pki::Ca::new(dir.path(), "webhook-ca");
    let other_dir = tempfile::tempdir().unwrap();
    let other = crate::pki::Ca::new(other_dir.path(), "other-ca");
    let server = ca.server("receiver");
    let port = crate::ports::one();
    let mut child = https_receiver(&server.cert, &server.key, port);
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    wait_until(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let events = |ca_file: &std::path::Path| {
        format!(
            "{{ webhooks: [ {{ url: 'https://localhost:{port}/events', secret: '{}', ca_file: '{}', events: [upload], retry_max: 1s }} ] }}",
            crate::events::SECRET,
            ca_file.display()
        )
    };
    let cert = crate::ftps::test_cert();
    let trusted = TestEnv::start(Backend::Embedded, |c| {
        c.tls = Some(crate::ftps::tls(&cert, true));
        c.events = serde_yaml::from_str(&events(&ca.cert)).unwrap();
    });
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"over tls").unwrap();
    run(Command::new("curl").args([
        "-s",
        "--ssl-reqd",
        "-k",
        "-T",
        file.to_str().unwrap(),
        &format!("ftp://u:p@127.0.0.1:{}/f.txt", trusted.addr.port()),
    ]));
    let line = lines
        .recv_timeout(Duration::from_secs(10))
        .expect("the HTTPS receiver got the event");
    let ev: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ev["type"], "upload");
    assert_eq!(ev["data"]["protocol"], "ftps", "{line}");
    assert_eq!(ev["data"]["path"], "/f.txt");

    // An endpoint whose certificate is of a CA the gateway was not told to
    // trust gets nothing: the upload is kept, the delivery retried.
    let untrusted = TestEnv::start(Backend::Embedded, |c| {
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
        c.events = serde_yaml::from_str(&events(&other.cert)).unwrap();
    });
    let mut r = crate::harness::Raw::connect(untrusted.addr);
    r.login("u", "p");
    assert_eq!(r.stor("g.txt", b"kept").0, 226);
    let m = untrusted.gateway().metrics_addr().unwrap();
    wait_until(|| {
        crate::observe::scrape(m)
            .get("s3ftpd_event_retries_total{endpoint=\"0\"}")
            .is_some_and(|n| *n >= 1.0)
    });
    assert!(
        lines.try_recv().is_err(),
        "delivered to an untrusted endpoint"
    );
    assert_eq!(untrusted.get("g.txt").as_deref(), Some(&b"kept"[..]));
    let _ = child.kill();
    let _ = child.wait();
}
