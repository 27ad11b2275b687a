//! TLS client certificates at login, with certificates of the test's CA:
//! a certificate instead of a password (232 to USER), a certificate and a
//! password, an optional one pinned by fingerprint, a certificate of
//! another user, an expired one and one of a CA nobody trusts — with
//! Python's ftplib for exact reply codes, and curl and lftp as users run
//! them. The hook is told the certificate and decides a login without a
//! password.

use std::path::Path;
use std::process::Command;

use s3ftpd::config::{Hook, SourceName, Tls};

use crate::backend::Backend;
use crate::harness::{TestEnv, available, run};
use crate::hook_server::{Answer, HookServer};
use crate::pki::{Ca, Issued};

const LOGIN: &str = "\
import ftplib, ssl, sys
host, port, user, pw, cert, key = sys.argv[1:7]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if cert:
    ctx.load_cert_chain(cert, key)
f = ftplib.FTP_TLS(context=ctx)
f.connect(host, int(port), timeout=20)
try:
    f.auth()
    r = f.sendcmd('USER ' + user)
    if r.startswith('3'):
        r = f.sendcmd('PASS ' + pw)
    print(r[:3])
except ftplib.all_errors as e:
    print('tls' if isinstance(e, (ssl.SSLError, EOFError, ConnectionError)) else str(e)[:3])
";

struct Pki {
    _dir: tempfile::TempDir,
    server: Issued,
    ca: std::path::PathBuf,
    acme: Issued,
    bob: Issued,
    carol: Issued,
    expired: Issued,
    stranger: Issued,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "partners-ca");
    let other = Ca::new(dir.path(), "stranger-ca");
    Pki {
        server: ca.server("ftp"),
        acme: ca.client("acme", "acme", false),
        bob: ca.client("bob", "bob", false),
        carol: ca.client("carol", "carol-laptop", false),
        expired: ca.client("expired", "acme", true),
        stranger: other.client("stranger", "acme", false),
        ca: ca.cert.clone(),
        _dir: dir,
    }
}

fn tls(p: &Pki) -> Tls {
    Tls {
        cert: p.server.cert.clone(),
        key: p.server.key.clone(),
        implicit_listen: None,
        required: false,
        required_data: None,
        require_session_reuse: true,
        strict_eof: true,
        client_ca: Some(p.ca.clone()),
    }
}

/// The reply to the login (`232`, `230`, `530`), or `tls` when the
/// handshake refused the certificate.
fn login(env: &TestEnv, user: &str, pw: &str, cert: Option<&Issued>) -> String {
    let (c, k) = cert.map_or((String::new(), String::new()), |i| {
        (i.cert.display().to_string(), i.key.display().to_string())
    });
    let port = env.addr.port().to_string();
    run(Command::new("python3").args(["-c", LOGIN, "127.0.0.1", &port, user, pw, &c, &k]))
        .trim()
        .to_owned()
}

#[test]
fn certificates_by_account() {
    if !available("python3") {
        return;
    }
    let p = pki();
    let carol_pin = p.carol.sha256.clone();
    let env = TestEnv::start(Backend::Embedded, |c| {
        c.tls = Some(tls(&p));
        for u in [
            "{ name: acme, home: /acme, certificate: instead_of_password }".to_owned(),
            "{ name: bob, password: bob-pw, home: /bob, certificate: required }".to_owned(),
            format!(
                "{{ name: carol, password: carol-pw, certificate: optional, certificate_sha256: ['{carol_pin}'] }}"
            ),
        ] {
            c.users.push(serde_yaml::from_str(&u).unwrap());
        }
    });
    let cases: &[(&str, &str, Option<&Issued>, &str)] = &[
        ("acme", "", Some(&p.acme), "232"),
        ("acme", "", None, "530"),
        ("acme", "any", Some(&p.bob), "530"),
        ("acme", "", Some(&p.expired), "tls"),
        ("acme", "", Some(&p.stranger), "tls"),
        ("bob", "bob-pw", Some(&p.bob), "230"),
        ("bob", "bob-pw", None, "530"),
        ("bob", "bob-pw", Some(&p.acme), "530"),
        ("bob", "wrong", Some(&p.bob), "530"),
        ("carol", "carol-pw", None, "230"),
        ("carol", "carol-pw", Some(&p.carol), "230"),
        ("carol", "carol-pw", Some(&p.bob), "530"),
        ("u", "p", Some(&p.acme), "230"),
    ];
    for (user, pw, cert, want) in cases {
        let got = login(&env, user, pw, *cert);
        assert_eq!(&got, want, "{user} with {:?}", cert.map(|c| &c.cert));
    }
}

/// curl and lftp, as partners run them: acme's certificate and no password.
#[test]
fn curl_and_lftp_log_in_by_certificate() {
    if !available("curl") || !available("lftp") {
        return;
    }
    let p = pki();
    let env = TestEnv::start(Backend::Embedded, |c| {
        let mut t = tls(&p);
        t.implicit_listen = Some("127.0.0.1:0".parse().unwrap());
        c.tls = Some(t);
        c.users.push(
            serde_yaml::from_str("{ name: acme, home: /acme, certificate: instead_of_password }")
                .unwrap(),
        );
    });
    let file = p._dir.path().join("scan.pdf");
    std::fs::write(&file, b"%PDF scan").unwrap();
    let base = format!("ftp://acme@127.0.0.1:{}", env.addr.port());
    let curl = |extra: &[&str], cert: &Issued| {
        Command::new("curl")
            .args(["-sS", "--ssl-reqd", "-k", "--cert"])
            .arg(&cert.cert)
            .arg("--key")
            .arg(&cert.key)
            .args(extra)
            .output()
            .unwrap()
    };
    let up = curl(
        &[
            "-T",
            &file.display().to_string(),
            &format!("{base}/in/"),
            "--ftp-create-dirs",
        ],
        &p.acme,
    );
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert_eq!(
        env.get("acme/in/scan.pdf").as_deref(),
        Some(&b"%PDF scan"[..])
    );
    let theirs = curl(&[&format!("{base}/in/")], &p.bob);
    assert!(!theirs.status.success(), "bob's certificate is not acme's");
    let out = lftp_with_cert(env.addr.port(), &p.acme, &p.ca);
    assert!(out.contains("scan.pdf"), "{out}");
    // Implicit FTPS: the certificate from the first byte, the same login.
    let implicit = env.gateway().ftps_addr().expect("implicit FTPS");
    let listing = run(Command::new("curl")
        .args(["-sS", "-k", "--cert"])
        .arg(&p.acme.cert)
        .arg("--key")
        .arg(&p.acme.key)
        .arg(format!("ftps://acme@127.0.0.1:{}/in/", implicit.port())));
    assert!(listing.contains("scan.pdf"), "{listing}");
}

fn lftp_with_cert(port: u16, cert: &Issued, _ca: &Path) -> String {
    let script = format!(
        "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; set ftp:ssl-force yes; \
         set ssl:verify-certificate no; set ssl:cert-file {}; set ssl:key-file {}; ls in; bye",
        cert.cert.display(),
        cert.key.display()
    );
    run(Command::new("lftp").args([
        "-u",
        "acme,",
        "-p",
        &port.to_string(),
        "127.0.0.1",
        "-e",
        &script,
    ]))
}

/// The hook is told the certificate (fingerprint, subject, names) with no
/// password, and decides: the account it returns logs in by certificate.
#[test]
fn the_hook_decides_a_certificate_login() {
    if !available("python3") {
        return;
    }
    let p = pki();
    let acme_sha = p.acme.sha256.to_uppercase();
    let hook = HookServer::start(move |req| {
        let sha = req["certificate"]["sha256"]
            .as_str()
            .unwrap_or_default()
            .replace(':', "");
        if req["username"] == "acme" && req["password"].is_null() && sha == acme_sha {
            Answer::Json(
                200,
                r#"{"home": "/acme", "certificate": "instead_of_password"}"#.into(),
            )
        } else {
            Answer::Json(401, String::new())
        }
    });
    let h: Hook = serde_yaml::from_str(&format!("{{ url: '{}' }}", hook.url())).unwrap();
    let env = TestEnv::start(Backend::Embedded, |c| {
        c.tls = Some(tls(&p));
        c.identity.order = vec![SourceName::Users, SourceName::Hook];
        c.identity.hook = Some(h);
    });
    assert_eq!(login(&env, "acme", "", Some(&p.acme)), "232");
    let (body, _) = hook.requests()[0].clone();
    assert_eq!(body["protocol"], "ftps");
    assert!(
        body["certificate"]["subject"]
            .as_str()
            .unwrap()
            .contains("CN=acme"),
        "{body}"
    );
    assert_eq!(body["certificate"]["names"], serde_json::json!(["acme"]));
    assert_eq!(login(&env, "acme", "", Some(&p.bob)), "530");
}
