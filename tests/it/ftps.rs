//! FTPS (RFC 4217): explicit and implicit TLS with the clients users run,
//! session reuse on data connections, `tls.required`, start-up errors, reload.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use s3ftpd::config::Tls;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{TestEnv, available, lftp, pattern, run};

/// A self-signed certificate made at test time (never committed).
pub struct TestCert {
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn test_cert() -> TestCert {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_cert(&dir, "cert");
    TestCert { dir, cert, key }
}

fn write_cert(dir: &tempfile::TempDir, name: &str) -> (PathBuf, PathBuf) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = dir.path().join(format!("{name}.pem"));
    let key = dir.path().join(format!("{name}.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// SHA-256 of the certificate an implicit FTPS port serves.
fn served_cert_sha256(port: String) -> String {
    let script = "import ssl,socket,sys,hashlib\nctx=ssl._create_unverified_context()\n\
                  s=ctx.wrap_socket(socket.create_connection(('127.0.0.1',int(sys.argv[1]))))\n\
                  print(hashlib.sha256(s.getpeercert(True)).hexdigest())";
    run(Command::new("python3").args(["-c", script, &port]))
        .trim()
        .to_owned()
}

pub fn tls(c: &TestCert, required: bool) -> Tls {
    Tls {
        cert: c.cert.clone(),
        key: c.key.clone(),
        implicit_listen: Some("127.0.0.1:0".parse().unwrap()),
        required,
        required_data: None,
        require_session_reuse: true,
        strict_eof: true,
        client_ca: None,
    }
}

fn curl_explicit_and_implicit(b: Backend) {
    if !available("curl") {
        return;
    }
    let c = test_cert();
    let env = TestEnv::start(b, |cfg| cfg.tls = Some(tls(&c, true)));
    let body = pattern(6 * 1024 * 1024 + 1, 21);
    let src = c.dir.path().join("src.bin");
    std::fs::write(&src, &body).unwrap();
    let base = format!("ftp://u:p@127.0.0.1:{}", env.addr.port());
    run(Command::new("curl")
        .args(["-sS", "--ssl-reqd", "-k", "-T"])
        .arg(&src)
        .arg(format!("{base}/tls/up.bin"))
        .arg("--ftp-create-dirs"));
    assert_eq!(env.get("tls/up.bin").unwrap(), body);
    let list = run(Command::new("curl").args(["-sS", "--ssl-reqd", "-k", &format!("{base}/tls/")]));
    assert!(list.contains("up.bin"), "{list}");
    let out = c.dir.path().join("out.bin");
    run(Command::new("curl")
        .args(["-sS", "--ssl-reqd", "-k", "-o"])
        .arg(&out)
        .arg(format!("{base}/tls/up.bin")));
    assert_eq!(std::fs::read(&out).unwrap(), body);
    // Implicit FTPS: TLS from the first byte.
    let ftps = env.gateway().ftps_addr().unwrap();
    run(Command::new("curl")
        .args(["-sS", "-k", "-o"])
        .arg(&out)
        .arg(format!("ftps://u:p@127.0.0.1:{}/tls/up.bin", ftps.port())));
    assert_eq!(std::fs::read(&out).unwrap(), body);
    // Plain FTP is refused when TLS is required.
    let plain = Command::new("curl")
        .args(["-sS", &format!("{base}/tls/")])
        .output()
        .unwrap();
    assert!(
        !plain.status.success(),
        "plain login accepted with tls.required"
    );
}

fn lftp_over_tls(b: Backend) {
    if !available("lftp") {
        return;
    }
    let c = test_cert();
    let env = TestEnv::start(b, |cfg| cfg.tls = Some(tls(&c, true)));
    let up = c.dir.path().join("tree");
    std::fs::create_dir_all(up.join("sub")).unwrap();
    std::fs::write(up.join("a.txt"), b"alpha").unwrap();
    std::fs::write(up.join("sub/b.bin"), pattern(300_000, 5)).unwrap();
    let out = lftp(
        env.addr,
        "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no",
        &format!(
            "mirror -R {} tree; cls -l tree; mirror tree {}",
            up.display(),
            c.dir.path().join("back").display()
        ),
    );
    assert!(out.contains("a.txt"), "{out}");
    assert_eq!(
        std::fs::read(c.dir.path().join("back/sub/b.bin")).unwrap(),
        pattern(300_000, 5)
    );
    assert_eq!(env.get("tree/a.txt").unwrap(), b"alpha");
}

const PY_TLS: &str = r#"
import ftplib, io, socket, ssl, sys
port, mode = int(sys.argv[1]), sys.argv[2]

class ReusingFTP_TLS(ftplib.FTP_TLS):
    """Stock FTP_TLS opens data connections with a new TLS session; servers that
    require session reuse (vsftpd's require_ssl_reuse, s3ftpd by default) need this."""
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

ctx = ssl._create_unverified_context()
f = (ftplib.FTP_TLS if mode in ("stock", "stock-refused") else ReusingFTP_TLS)(context=ctx)
f.connect("127.0.0.1", port, timeout=30)
if mode == "plain-user":
    try:
        f.sendcmd("USER u")
        raise SystemExit("USER accepted before AUTH TLS")
    except ftplib.error_perm as e:
        assert str(e).startswith("530"), e
    print("ok"); sys.exit(0)
f.login("u", "p")
if mode == "prot-c":
    f.prot_c()
    try:
        f.nlst()
        raise SystemExit("clear data connection accepted")
    except ftplib.error_perm as e:
        assert str(e).startswith("521"), e
    print("ok"); sys.exit(0)
f.prot_p()
if mode == "stock-refused":
    try:
        f.nlst()
        raise SystemExit("stock ftplib data connection (no session reuse) accepted")
    except ftplib.error_perm as e:
        assert str(e).startswith("522"), e
    except (ssl.SSLError, OSError):
        # The server dropped the data connection; its 522 waits on the control connection.
        try:
            f.getresp()
            raise SystemExit("no refusal after the dropped data connection")
        except ftplib.error_perm as e:
            assert str(e).startswith("522"), e
    print("ok"); sys.exit(0)
if mode == "no-reuse":
    # A data connection with a fresh TLS session (no resumption) is refused.
    host, dport = f.makepasv()
    raw = socket.create_connection((host, dport), timeout=30)
    f.putcmd("NLST")
    assert f.getresp().startswith("150")
    other = ssl._create_unverified_context()
    try:
        s = other.wrap_socket(raw, server_hostname="127.0.0.1")
        s.recv(100)
    except (ssl.SSLError, OSError):
        pass
    try:
        f.voidresp()
        raise SystemExit("data connection without session reuse accepted")
    except ftplib.error_perm as e:
        assert str(e).startswith("522"), e
    print("ok"); sys.exit(0)
if mode == "no-close-notify":
    # A client that dies mid-upload: the data connection ends without
    # TLS's close_notify. With tls.strict_eof that is an interruption.
    conn = f.transfercmd("STOR strict.bin")
    conn.sendall(b"y" * 100000)
    conn.close()
    try:
        f.voidresp()
        raise SystemExit("an upload that ended without close_notify was committed")
    except (ftplib.error_temp, ftplib.error_perm) as e:
        assert str(e)[:1] == "4", e
    print("ok"); sys.exit(0)
if mode == "upload-then-close":
    # Write only, never read, close without TLS shutdown: any unread bytes the
    # server sent on this connection (e.g. TLS 1.3 session tickets) would turn
    # the close into a reset and lose the upload.
    conn = f.transfercmd("STOR closed.bin")
    conn.sendall(b"x" * 100000)
    conn.close()
    f.voidresp()
    print("ok"); sys.exit(0)
data = bytes(range(256)) * 3000
f.storbinary("STOR py_tls.bin", io.BytesIO(data))
out = io.BytesIO()
f.retrbinary("RETR py_tls.bin", out.write)
assert out.getvalue() == data
assert "py_tls.bin" in f.nlst()
f.quit()
print("ok")
"#;

fn python_ftp_tls(b: Backend) {
    if !available("python3") {
        return;
    }
    let c = test_cert();
    let env = TestEnv::start(b, |cfg| cfg.tls = Some(tls(&c, true)));
    let port = env.addr.port().to_string();
    for mode in [
        "transfer",
        "no-close-notify",
        "no-reuse",
        "stock-refused",
        "prot-c",
        "plain-user",
    ] {
        let out = run(Command::new("python3").args(["-c", PY_TLS, &port, mode]));
        assert_eq!(out.trim(), "ok", "{mode}");
    }
    assert_eq!(env.get("py_tls.bin").unwrap().len(), 256 * 3000);
    // tls.strict_eof (the default): an upload whose data connection ended
    // without close_notify is interrupted, and nothing is stored.
    assert!(
        env.get("strict.bin").is_none(),
        "an unfinished upload was stored"
    );
    // With tls.require_session_reuse and tls.strict_eof off, stock ftplib
    // works as it is, and a close without close_notify ends the file.
    let relaxed = TestEnv::start(b, |cfg| {
        let mut t = tls(&c, true);
        t.require_session_reuse = false;
        t.strict_eof = false;
        cfg.tls = Some(t);
    });
    for mode in ["stock", "upload-then-close"] {
        let out = run(Command::new("python3").args([
            "-c",
            PY_TLS,
            &relaxed.addr.port().to_string(),
            mode,
        ]));
        assert_eq!(out.trim(), "ok", "{mode}");
    }
    assert_eq!(relaxed.get("closed.bin").unwrap().len(), 100_000);
}

const COMMONS_NET: &str = "/usr/share/java/commons-net.jar";

/// Runs tests/clients/CommonsNet.java (an Apache Commons Net batch job).
fn commons_net(port: u16, mode: &str, user: &str) -> std::process::Output {
    let program =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/CommonsNet.java");
    Command::new("java")
        .args(["-cp", COMMONS_NET])
        .arg(program)
        .args([&port.to_string(), mode, user, "p"])
        .output()
        .unwrap()
}

/// A Java job on Apache Commons Net, plain and over FTPS. Commons Net never
/// resumes the TLS session on data connections, so with the default
/// `tls.require_session_reuse: true` its upload is refused (522, and a log
/// line naming the setting); its user's own `require_session_reuse: false`
/// lets it work without relaxing anyone else.
fn commons_net_plain_and_ftps(b: Backend) {
    if !std::path::Path::new(COMMONS_NET).exists() || !available("java") {
        assert!(
            std::env::var("S3FTPD_REQUIRE_INTEROP").as_deref() != Ok("1"),
            "Apache Commons Net (libcommons-net-java) and java are required"
        );
        return;
    }
    let c = test_cert();
    let env = TestEnv::start(b, |cfg| {
        cfg.tls = Some(tls(&c, false));
        cfg.users.push(
            serde_yaml::from_str(
                "{ name: java, password: p, home: /, require_session_reuse: false }",
            )
            .unwrap(),
        );
    });
    let port = env.addr.port();
    let out = commons_net(port, "plain", "u");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "{out:?}");
    assert_eq!(env.get("cn/data.bin").unwrap().len(), 3 * 1024 * 1024 + 17);
    // FTPS as user u (session reuse required): the upload is refused.
    let out = commons_net(port, "ftps", "u");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && ["Connection reset", "Broken pipe", "FAILED: STOR"]
                .iter()
                .any(|m| text.contains(m)),
        "{text}"
    );
    eprintln!("Commons Net with session reuse required: {text}");
    // FTPS as the user configured for it: everything works.
    let out = commons_net(port, "ftps", "java");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "{out:?}");
    assert_eq!(env.get("cn/data.bin").unwrap().len(), 3 * 1024 * 1024 + 17);
}

fn tls_commands_and_feat(b: Backend) {
    let c = test_cert();
    let env = TestEnv::start(b, |cfg| cfg.tls = Some(tls(&c, false)));
    let mut r = env.raw();
    let feat = r.expect("FEAT", 211);
    for f in ["AUTH TLS", "PBSZ", "PROT"] {
        assert!(feat.contains(&format!(" {f}\r\n")), "{feat}");
    }
    r.expect("PBSZ 0", 503);
    r.expect("PROT P", 503);
    r.expect("AUTH KERBEROS", 504);
    // tls.required is off: plain FTP still works, with clear data.
    r.login("u", "p");
    r.expect("CCC", 534);
    r.expect("NLST", 425);
}

/// A client that starts TLS and then says nothing is cut off after
/// `limits.handshake_timeout` (1 s here), not `data_timeout` (60 s here):
/// after AUTH TLS on the control port and on the implicit FTPS port.
fn silent_tls_handshakes_end_at_the_handshake_timeout(b: Backend) {
    let c = test_cert();
    let env = TestEnv::start(b, |cfg| {
        cfg.tls = Some(tls(&c, false));
        cfg.limits.handshake_timeout = s3ftpd::config::Dur(Duration::from_secs(1));
        cfg.limits.data_timeout = s3ftpd::config::Dur(Duration::from_secs(60));
    });
    let closed_within = |mut s: std::net::TcpStream| {
        let start = std::time::Instant::now();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 64];
        // No ClientHello is ever sent: the server can only close.
        while matches!(std::io::Read::read(&mut s, &mut buf), Ok(n) if n > 0) {}
        start.elapsed()
    };
    let mut r = env.raw();
    r.expect("AUTH TLS", 234);
    let waited = closed_within(r.into_stream());
    assert!(
        waited < Duration::from_secs(10),
        "AUTH TLS: closed after {waited:?}"
    );
    let implicit = env.gateway().ftps_addr().expect("implicit FTPS port");
    let waited = closed_within(std::net::TcpStream::connect(implicit).unwrap());
    assert!(
        waited < Duration::from_secs(10),
        "implicit: closed after {waited:?}"
    );
}

backend_tests!(
    commons_net_plain_and_ftps,
    silent_tls_handshakes_end_at_the_handshake_timeout,
    curl_explicit_and_implicit,
    lftp_over_tls,
    python_ftp_tls,
    tls_commands_and_feat
);

#[test]
fn bad_certificates_stop_the_start_naming_the_key() {
    let c = test_cert();
    let other = test_cert();
    let base = "listen: 127.0.0.1:0\ns3: { endpoint: embedded, bucket: ftp, data_dir: DATA }\n";
    let cases = [
        (
            PathBuf::from("/nonexistent/cert.pem"),
            c.key.clone(),
            "tls.cert",
        ),
        (
            c.cert.clone(),
            PathBuf::from("/nonexistent/key.pem"),
            "tls.key",
        ),
        (c.cert.clone(), other.key.clone(), "tls.key"),
        (c.key.clone(), c.key.clone(), "tls.cert"),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (cert, key, want) in cases {
        let yaml = base.replace("DATA", &c.dir.path().join("data").display().to_string());
        let mut config = s3ftpd::Config::from_yaml(&yaml, Vec::new()).unwrap();
        config.tls = Some(Tls {
            cert,
            key,
            implicit_listen: None,
            required: false,
            required_data: None,
            require_session_reuse: true,
            strict_eof: true,
            client_ca: None,
        });
        let err = rt
            .block_on(s3ftpd::Gateway::start(config))
            .expect_err("bad TLS files accepted")
            .to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
}

#[test]
fn sighup_reload_swaps_the_certificate_without_dropping_sessions() {
    let c = test_cert();
    let env = TestEnv::start(Backend::Embedded, |cfg| cfg.tls = Some(tls(&c, false)));
    let port = env.gateway().ftps_addr().unwrap().port().to_string();
    let fingerprint = || served_cert_sha256(port.clone());
    let mut session = env.raw_login();
    let before = fingerprint();
    let (cert, key) = write_cert(&c.dir, "renewed");
    std::fs::rename(cert, &c.cert).unwrap();
    std::fs::rename(key, &c.key).unwrap();
    env.gateway().reload_tls().unwrap();
    assert_ne!(
        fingerprint(),
        before,
        "new connections get the new certificate"
    );
    session.expect("NOOP", 200);
    // A broken file on reload keeps the old certificate.
    std::fs::write(&c.cert, "garbage").unwrap();
    assert!(env.gateway().reload_tls().is_err());
    assert!(!fingerprint().is_empty());
}

#[test]
fn sighup_to_the_binary_reloads_the_certificate() {
    use std::io::BufRead;
    if !available("python3") {
        return;
    }
    let c = test_cert();
    let cfg = c.dir.path().join("s3ftpd.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:0\npassive: {{ ports: {} }}\n\
             s3: {{ endpoint: embedded, bucket: ftp, data_dir: '{}' }}\n\
             users: [{{ name: u, password: p }}]\n\
             tls: {{ cert: '{}', key: '{}', implicit_listen: '127.0.0.1:0' }}\n",
            crate::ports::range(100),
            c.dir.path().join("data").display(),
            c.cert.display(),
            c.key.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3ftpd"))
        .args(["serve", "-c", cfg.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("serve output").unwrap();
        if let Some(addr) = line.trim().strip_prefix("implicit FTPS on ") {
            break addr.rsplit(':').next().unwrap().to_owned();
        }
    };
    let fingerprint = || served_cert_sha256(port.clone());
    let before = fingerprint();
    let (cert, key) = write_cert(&c.dir, "renewed");
    std::fs::rename(cert, &c.cert).unwrap();
    std::fs::rename(key, &c.key).unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut changed = false;
    for _ in 0..100 {
        if fingerprint() != before {
            changed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(changed, "SIGHUP did not reload the certificate");
    assert!(status.success(), "{status:?}");
}
