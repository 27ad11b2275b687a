//! No secret in any output: malformed configs holding a known password,
//! fed through the file and through each variable, to `check-config` and
//! `serve` at every log level; then a running gateway at `trace` that a
//! user logs into and uploads through. The password, the S3 secret key
//! and the hash appear in no line of stdout or stderr — and a log written
//! to a file holds no colour escape codes.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::harness::{Raw, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_s3ftpd");
/// The known password (mixed case, digits and signs, as passwords are).
const PW: &str = "Tr0ub4dor&3-Xyzzy";
/// A lowercase one, as a passphrase may be: the hardest to tell from a key.
const PW_LOWER: &str = "correcthorsebattery";

fn config_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3ftpd.yaml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Runs `s3ftpd ARGS` with `vars` at `level`; stdout and stderr together.
fn output(args: &[&str], path: &std::path::Path, vars: &[(&str, &str)], level: &str) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(args).arg(path).env("RUST_LOG", level);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_clean(out: &str, what: &str) {
    for secret in [PW, PW_LOWER] {
        assert!(
            !out.contains(secret),
            "{what}: the password is in the output:\n{out}"
        );
    }
}

const GOOD: &str = "listen: 127.0.0.1:0\ns3: { bucket: b, endpoint: embedded }\n";

#[test]
fn malformed_configs_never_print_a_password() {
    let files = [
        format!("s3: {{ bucket: b }}\nusers: [{{ name: a, password: '{PW}', home: [1] }}]"),
        format!("s3: {{ bucket: b }}\nusers: [{{ name: a, password: ['{PW}'] }}]"),
        format!("s3: {{ bucket: b }}\nusers: '{PW}'"),
        format!("s3: {{ bucket: b }}\nusers: [{{ name: a, password {PW} }}]"),
        format!("s3: {{ bucket: b }}\nusers: [{{ name: a, {PW_LOWER} }}]"),
        format!("s3: {{ bucket: b }}\nusers: [{{ name: a, password_hash: '{PW}' }}]"),
        format!("s3: {{ bucket: b }}\nusers: [{{ name: a, password: '{PW}' }}"),
        format!("s3: {{ bucket: b }}\nusers:\n  - name: a\n    password: {PW}\n   home: /x\n"),
        format!("s3: {{ bucket: b, access_key_id: AK, secret_access_key: ['{PW}'] }}"),
        format!("s3: {{ bucket: b, secret_access_key: '{PW}' }}"),
        format!(
            "s3: {{ bucket: b }}\nusers: [{{ name: a, password: '{PW}' }}, {{ name: a, password: '{PW}' }}]"
        ),
        format!("s3: {{ bucket: b }}\nusers: [{{ name: '{PW} x', password: y }}]"),
        format!("s3: {{ bucket: b }}\nlimits: {{ max_sessions: '{PW}' }}"),
        format!("s3: {{ bucket: b, part_size: '{PW}' }}"),
        format!("s3: {{ bucket: b, list_mtime: '{PW}' }}"),
    ];
    for level in ["error", "info", "trace"] {
        for text in &files {
            let (_dir, path) = config_file(text);
            for args in [&["check-config", "--offline", "-c"][..], &["serve", "-c"]] {
                let out = output(args, &path, &[], level);
                assert!(out.contains("error"), "{text} was accepted:\n{out}");
                assert_clean(&out, text);
            }
        }
    }
}

#[test]
fn malformed_variables_never_print_a_password() {
    let users = [
        format!("[{{name: a, password: '{PW}'"),
        format!("{{name: a, password: '{PW}'}}"),
        PW.to_owned(),
        format!("[{{name: a, password: '{PW}', extra: 1}}]"),
        format!("[{{name: a, password {PW}}}]"),
        format!("[{{name: a, {PW_LOWER}}}]"),
        format!("[{{name: a, password_hash: '{PW}'}}]"),
        format!("[{{name: a, password: '{PW}', home: [x]}}]"),
        format!("- name: a\n  password: {PW}\n home: /"),
    ];
    let mut cases: Vec<Vec<(&str, String)>> = users
        .iter()
        .map(|u| vec![("S3FTPD_USERS", u.clone())])
        .collect();
    // A secret pasted into the wrong variable, and one beside a broken one.
    for var in [
        "S3FTPD_LIMITS_MAX_SESSIONS",
        "S3FTPD_TLS_STRICT_EOF",
        "S3FTPD_S3_PART_SIZE",
        "S3FTPD_S3_TIMEOUT",
        "S3FTPD_S3_ENDPOINT",
        "S3FTPD_S3_LIST_MTIME",
        "S3FTPD_PASSIVE_PORTS",
        "S3FTPD_PASSIVE_PUBLIC_HOST",
        "S3FTPD_PROXY_PROTOCOL_TRUSTED",
        "S3FTPD_LOG_LEVEL",
        "S3FTPD_FTP_ENCODING",
    ] {
        cases.push(vec![(var, PW.to_owned())]);
    }
    cases.push(vec![
        ("S3FTPD_S3_SECRET_ACCESS_KEY", PW.to_owned()),
        ("S3FTPD_LIMITS_MAX_SESSIONS", "many".to_owned()),
    ]);
    cases.push(vec![("S3FTPD_S3_SECRET_ACCESS_KEY", PW.to_owned())]);
    // The sections that hold a profile's keys or an account's settings.
    for (var, value) in [
        (
            "S3FTPD_STORAGES",
            format!("{{a: {{bucket: x, secret_access_key: '{PW}'"),
        ),
        (
            "S3FTPD_STORAGES",
            format!("{{a: {{bucket: x, secret_access_key: ['{PW}']}}}}"),
        ),
        (
            "S3FTPD_STORAGES",
            format!("{{a: {{bucket: x, secret_access_key: '{PW}', colour: 1}}}}"),
        ),
        (
            "S3FTPD_GROUPS",
            format!("{{g: {{home: '{PW}', max_sessions: x}}}}"),
        ),
        ("S3FTPD_GROUPS", format!("{{g: {{ {PW_LOWER} }}")),
    ] {
        cases.push(vec![(var, value)]);
    }
    let (_dir, path) = config_file(GOOD);
    for level in ["error", "trace"] {
        for vars in &cases {
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            for args in [&["check-config", "--offline", "-c"][..], &["serve", "-c"]] {
                let out = output(args, &path, &vars, level);
                assert!(out.contains("error"), "{vars:?} was accepted:\n{out}");
                assert_clean(&out, &format!("{vars:?}"));
            }
        }
    }
}

/// A running gateway at `trace`: login, upload, listing, a wrong password,
/// every event to a webhook and to the audit log on stdout; neither the
/// password, nor the S3 secret key, nor the hash, nor the webhook's
/// signing secret is logged.
#[test]
fn a_gateway_at_trace_logs_no_secret() {
    use crate::hook_server::{Answer, HookServer};
    const WHSEC_KEY: &str = "c2VjcmV0LXdlYmhvb2sta2V5LW9mLXRoZS10ZXN0cw==";
    let receiver = HookServer::start(|_| Answer::Json(204, String::new()));
    let hash = s3ftpd::auth::hash_password(PW).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], crate::ports::one()));
    let data = tempfile::tempdir().unwrap();
    let text = format!(
        "listen: {addr}\npassive: {{ ports: {} }}\n\
         s3: {{ endpoint: embedded, bucket: bkt, data_dir: '{}', access_key_id: AKIDTEST, secret_access_key: '{PW_LOWER}' }}\n\
         users: [{{ name: h, password_hash: '{hash}' }}, {{ name: p, password: '{PW}' }}]\n\
         events: {{ audit_log: '-', webhooks: [ {{ url: '{}', secret: 'whsec_{WHSEC_KEY}' }} ] }}\n",
        crate::ports::range(4),
        data.path().display(),
        receiver.url()
    );
    let (_dir, path) = config_file(&text);
    let log = data.path().join("log");
    let mut child = Command::new(BIN)
        .args(["serve", "-c"])
        .arg(&path)
        .env("RUST_LOG", "trace")
        .env_remove("NO_COLOR")
        .stdout(std::fs::File::create(data.path().join("out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_until(|| std::net::TcpStream::connect(addr).is_ok());
    for user in ["h", "p"] {
        let mut c = Raw::connect(addr);
        c.login(user, PW);
        let mut d = c.epsv();
        c.expect("STOR x.txt", 150);
        d.write_all(b"bytes").unwrap();
        drop(d);
        let (code, text) = c.reply();
        assert_eq!(code, 226, "{text}");
        c.expect("QUIT", 221);
        let mut bad = Raw::connect(addr);
        bad.expect(&format!("USER {user}"), 331);
        bad.expect(&format!("PASS {PW}x"), 530);
    }
    wait_until(|| receiver.calls() >= 6);
    let _ = child.kill();
    let _ = child.wait();
    let out = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(data.path().join("out")).unwrap();
    assert!(out.contains("login ok"), "no log captured:\n{out}");
    assert!(out.contains("\"type\":\"upload\""), "no audit line:\n{out}");
    assert_clean(&out, "serve at trace");
    assert!(!out.contains(WHSEC_KEY), "the webhook secret is in the log");
    let salt_and_hash = hash.rsplit('$').next().unwrap();
    assert!(!out.contains(salt_and_hash), "the hash is in the log");
    // Written to a file, not a terminal: no colour escape codes.
    assert!(
        !out.contains('\u{1b}'),
        "colour codes in a log file:\n{out}"
    );
}

/// The identity sources at `trace`: a hook (with an Authorization
/// secret) and a real slapd (its service password) asked for good and
/// bad logins, then the hook down. No password of a user, the service
/// account or the hook's header is in the log.
#[test]
fn identity_sources_at_trace_log_no_secret() {
    use crate::hook_server::{Answer, HookServer};
    let hook = HookServer::start(|req| {
        if req["username"] == "hooked" && req["password"] == PW {
            Answer::Json(200, r#"{"home": "/hooked"}"#.into())
        } else {
            Answer::Json(401, String::new())
        }
    });
    let slapd = crate::slapd::available().then(|| {
        crate::slapd::Slapd::start(&[crate::slapd::person(
            "Dir User",
            "diruser",
            PW,
            &["cn=ftp,ou=groups,dc=example,dc=com"],
        )])
    });
    let ldap = slapd.as_ref().map_or_else(String::new, |s| {
        format!(
            ", ldap: {{ url: '{}', ca_file: '{}', bind_dn: '{}', bind_password: '{}', base_dn: 'dc=example,dc=com', \
             user_filter: '(sAMAccountName={{username}})', groups: [ {{ dn: 'cn=ftp,ou=groups,dc=example,dc=com', group: g }} ] }}",
            s.ldaps_url,
            s.ca.display(),
            crate::slapd::SERVICE_DN,
            crate::slapd::SERVICE_PASSWORD
        )
    });
    let order = if slapd.is_some() {
        "[users, ldap, hook]"
    } else {
        "[users, hook]"
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], crate::ports::one()));
    let data = tempfile::tempdir().unwrap();
    let text = format!(
        "listen: {addr}\npassive: {{ ports: {} }}\n\
         s3: {{ endpoint: embedded, bucket: bkt, data_dir: '{}' }}\n\
         groups: {{ g: {{ home: /dir }} }}\n\
         identity: {{ order: {order}, hook: {{ url: '{}', authorization: 'Bearer {PW_LOWER}', cache: {{ ttl: 0s }} }} {ldap} }}\n",
        crate::ports::range(4),
        data.path().display(),
        hook.url()
    );
    let (_dir, path) = config_file(&text);
    let log = data.path().join("log");
    let mut child = Command::new(BIN)
        .args(["serve", "-c"])
        .arg(&path)
        .env("RUST_LOG", "trace")
        .stdout(std::fs::File::create(data.path().join("out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_until(|| std::net::TcpStream::connect(addr).is_ok());
    let mut users = vec!["hooked"];
    if slapd.is_some() {
        users.push("diruser");
    }
    for user in users {
        let mut c = Raw::connect(addr);
        c.login(user, PW);
        c.expect("QUIT", 221);
        let mut bad = Raw::connect(addr);
        bad.expect(&format!("USER {user}"), 331);
        bad.expect(&format!("PASS {PW}x"), 530);
    }
    hook.down();
    let mut down = Raw::connect(addr);
    down.expect("USER hooked", 331);
    down.expect(&format!("PASS {PW}"), 421);
    let _ = child.kill();
    let _ = child.wait();
    let out = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(data.path().join("out")).unwrap();
    assert!(
        out.contains("login ok source=\"hook\""),
        "no log captured:\n{out}"
    );
    assert!(out.contains("result=\"error\""), "{out}");
    if slapd.is_some() {
        assert!(out.contains("login ok source=\"ldap\""), "{out}");
    }
    assert_clean(&out, "identity sources at trace");
    assert!(
        !out.contains(crate::slapd::SERVICE_PASSWORD),
        "the service account's password is in the log"
    );
    let (_, headers) = hook.requests()[0].clone();
    assert!(
        headers.contains(&format!("authorization: Bearer {PW_LOWER}")),
        "{headers:?}"
    );
}
