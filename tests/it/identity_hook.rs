//! The HTTP auth hook against a real HTTP server of the test's: a grant
//! with the user's settings, answers from the cache (the server counts its
//! requests), 404 passing to the next source, and fail closed when it is
//! down, slow, or answers garbage, an unknown key or a password; stale
//! answers served only when configured; HTTPS verified against its CA.

use std::process::{Command, Stdio};
use std::time::Duration;

use s3ftpd::config::{Hook, SourceName};

use crate::backend::Backend;
use crate::harness::{Raw, TestEnv, available};
use crate::hook_server::{Answer, HookServer};

/// acme / acme-pw: home `/partners/acme`, upload and list only.
fn partner_rule(req: &serde_json::Value) -> Answer {
    let user = req["username"].as_str().unwrap_or_default();
    let password = req["password"].as_str();
    match (user, password) {
        ("acme", Some("acme-pw")) => Answer::Json(
            200,
            r#"{"home": "/partners/acme", "permissions": {"/": ["list", "upload", "create_dirs"]}}"#
                .into(),
        ),
        ("acme", _) => Answer::Json(401, "{}".into()),
        _ => Answer::Json(404, "{}".into()),
    }
}

fn hook_config(url: &str, extra: &str) -> Hook {
    serde_yaml::from_str(&format!("{{ url: '{url}', timeout: 1s {extra} }}")).unwrap()
}

fn start(hook: &HookServer, order: &[SourceName], extra: &str) -> TestEnv {
    let h = hook_config(&hook.url(), extra);
    let order = order.to_vec();
    TestEnv::start(Backend::Embedded, move |c| {
        c.identity.order = order;
        c.identity.hook = Some(h);
    })
}

/// USER then PASS on a new connection: the PASS reply's code.
fn try_login(env: &TestEnv, user: &str, pass: &str) -> (u16, Raw) {
    let mut r = env.raw();
    r.expect(&format!("USER {user}"), 331);
    let (code, _) = r.cmd(&format!("PASS {pass}"));
    (code, r)
}

#[test]
fn a_grant_carries_the_settings_and_is_cached_by_password() {
    let hook = HookServer::start(partner_rule);
    let env = start(&hook, &[SourceName::Users, SourceName::Hook], "");
    let mut f = env.ftp("acme", "acme-pw");
    f.put_file("invoice.xml", &mut &b"<invoice/>"[..]).unwrap();
    assert_eq!(
        env.get("partners/acme/invoice.xml").as_deref(),
        Some(&b"<invoice/>"[..])
    );
    // Its rights are the hook's: no delete.
    assert!(f.rm("invoice.xml").is_err());
    f.quit().unwrap();
    assert_eq!(hook.calls(), 1);
    let (body, headers) = hook.requests()[0].clone();
    assert_eq!(body["username"], "acme");
    assert_eq!(body["password"], "acme-pw");
    assert_eq!(body["ip"], "127.0.0.1");
    assert_eq!(body["protocol"], "ftp");
    assert!(
        body["session_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert!(body["certificate"].is_null(), "{body}");
    assert!(
        headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case("content-type: application/json")),
        "{headers:?}"
    );
    // The same login again: from the cache.
    env.ftp("acme", "acme-pw").quit().unwrap();
    assert_eq!(hook.calls(), 1, "a cached grant asks nothing");
    // A wrong password: asked once, then refused from the cache.
    assert_eq!(try_login(&env, "acme", "guess-1").0, 530);
    assert_eq!(hook.calls(), 2);
    assert_eq!(try_login(&env, "acme", "guess-1").0, 530);
    assert_eq!(hook.calls(), 2, "a cached refusal asks nothing");
    // The file's user never reaches the hook; an unknown one does (404).
    env.ftp("u", "p").quit().unwrap();
    assert_eq!(hook.calls(), 2);
    assert_eq!(try_login(&env, "nobody", "x").0, 530);
    assert_eq!(hook.calls(), 3);
}

#[test]
fn the_first_source_that_knows_the_user_decides() {
    // The hook first: it refuses `u` (401) although the file knows `u`.
    let hook = HookServer::start(|req| match req["username"].as_str() {
        Some("u") => Answer::Json(401, String::new()),
        _ => Answer::Json(404, String::new()),
    });
    let env = start(
        &hook,
        &[SourceName::Hook, SourceName::Users],
        ", cache: { ttl: 0s, negative_ttl: 0s }",
    );
    assert_eq!(try_login(&env, "u", "p").0, 530, "the hook decided");
    // 404: not the hook's; the file decides.
    hook.answer(|_| Answer::Json(404, String::new()));
    env.ftp("u", "p").quit().unwrap();
    assert_eq!(hook.calls(), 2);
}

#[test]
fn an_unusable_hook_lets_nobody_in() {
    let hook = HookServer::start(partner_rule);
    let env = start(
        &hook,
        &[SourceName::Users, SourceName::Hook],
        ", cache: { ttl: 0s, negative_ttl: 0s }",
    );
    let refused = |why: &str| {
        let (code, mut r) = try_login(&env, "acme", "acme-pw");
        assert_eq!(code, 421, "{why}");
        assert!(r.closed(), "{why}: the session ends");
    };
    hook.down();
    refused("hook down");
    // The file's users are not affected.
    env.ftp("u", "p").quit().unwrap();
    hook.up();
    env.ftp("acme", "acme-pw").quit().unwrap();
    for (why, answer) in [
        ("500", Answer::Json(500, "{}".into())),
        ("not JSON", Answer::Json(200, "<html>welcome</html>".into())),
        ("not an object", Answer::Json(200, "[1, 2]".into())),
        (
            "unknown key",
            Answer::Json(200, r#"{"home": "/x", "homedir": "/y"}"#.into()),
        ),
        (
            "wrong type",
            Answer::Json(200, r#"{"read_only": "yes please"}"#.into()),
        ),
        (
            "a password",
            Answer::Json(200, r#"{"password": "acme-pw"}"#.into()),
        ),
        (
            "an unknown group",
            Answer::Json(200, r#"{"groups": ["nope"]}"#.into()),
        ),
        (
            "an unknown profile",
            Answer::Json(200, r#"{"storage": "elsewhere"}"#.into()),
        ),
        (
            "a name that climbs",
            Answer::Json(200, r#"{"name": "../bob", "home": "/%username%"}"#.into()),
        ),
        ("a redirect", Answer::Json(302, String::new())),
        (
            "too slow",
            Answer::Slow(Duration::from_secs(3), 200, "{}".into()),
        ),
    ] {
        hook.answer(move |_| answer.clone());
        refused(why);
    }
    assert!(env.keys().is_empty(), "nothing reached S3");
}

#[test]
fn stale_grants_are_served_only_when_configured() {
    let hook = HookServer::start(partner_rule);
    let strict = start(&hook, &[SourceName::Hook], ", cache: { ttl: 1s }");
    let lenient = start(
        &hook,
        &[SourceName::Hook],
        ", cache: { ttl: 1s, serve_stale: 1h }",
    );
    for env in [&strict, &lenient] {
        env.ftp("acme", "acme-pw").quit().unwrap();
    }
    assert_eq!(hook.calls(), 2);
    std::thread::sleep(Duration::from_millis(1100));
    hook.down();
    assert_eq!(try_login(&strict, "acme", "acme-pw").0, 421, "fail closed");
    lenient.ftp("acme", "acme-pw").quit().unwrap();
    // Only what was granted: another password is not.
    assert_eq!(try_login(&lenient, "acme", "other-pw").0, 421);
}

/// An HTTPS hook (Python's http.server with TLS, a certificate of the
/// test's CA): verified against `ca_file`; another CA fails closed.
#[test]
fn an_https_hook_is_verified() {
    if !available("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::pki::Ca::new(dir.path(), "hook-ca");
    let other = crate::pki::Ca::new(dir.path(), "other-ca");
    let server = ca.server("hook");
    let port = crate::ports::one();
    let script = format!(
        "import http.server, ssl, json\n\
         class H(http.server.BaseHTTPRequestHandler):\n\
         \x20   def do_POST(self):\n\
         \x20       n = int(self.headers['content-length']); req = json.loads(self.rfile.read(n))\n\
         \x20       ok = req['username'] == 'acme' and req['password'] == 'acme-pw'\n\
         \x20       body = b'{{\"home\": \"/tls\"}}' if ok else b'{{}}'\n\
         \x20       self.send_response(200 if ok else 401); self.send_header('content-length', str(len(body))); self.end_headers(); self.wfile.write(body)\n\
         \x20   def log_message(self, *a): pass\n\
         s = http.server.HTTPServer(('127.0.0.1', {port}), H)\n\
         c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('{}', '{}')\n\
         s.socket = c.wrap_socket(s.socket, server_side=True)\n\
         s.serve_forever()\n",
        server.cert.display(),
        server.key.display()
    );
    let mut py = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    crate::harness::wait_until(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let url = format!("https://localhost:{port}/login");
    let extra =
        |ca: &std::path::Path| format!(", ca_file: '{}', cache: {{ ttl: 0s }}", ca.display());
    let (good, bad) = (
        hook_config(&url, &extra(&ca.cert)),
        hook_config(&url, &extra(&other.cert)),
    );
    let trusted = TestEnv::start(Backend::Embedded, |c| {
        c.identity.order = vec![SourceName::Hook];
        c.identity.hook = Some(good);
    });
    let mut f = trusted.ftp("acme", "acme-pw");
    assert_eq!(f.pwd().unwrap(), "/");
    f.quit().unwrap();
    assert_eq!(try_login(&trusted, "acme", "nope").0, 530);
    let untrusted = TestEnv::start(Backend::Embedded, |c| {
        c.identity.order = vec![SourceName::Hook];
        c.identity.hook = Some(bad);
    });
    assert_eq!(
        try_login(&untrusted, "acme", "acme-pw").0,
        421,
        "an unverified hook is not asked"
    );
    let _ = py.kill();
    let _ = py.wait();
}

/// A source's refusals count as failed logins: the address is banned.
#[test]
fn bans_apply_to_the_hooks_refusals_too() {
    let hook = HookServer::start(partner_rule);
    let h = hook_config(&hook.url(), "");
    let env = TestEnv::start(Backend::Embedded, move |c| {
        c.identity.order = vec![SourceName::Users, SourceName::Hook];
        c.identity.hook = Some(h);
        c.limits.ban_after_failures = 3;
    });
    for i in 0..3 {
        assert_eq!(
            try_login(&env, "acme", &format!("guess-{i}")).0,
            if i < 2 { 530 } else { 421 }
        );
    }
    let mut r = Raw::connect_silent(env.addr);
    let (code, _) = r.reply();
    assert_eq!(code, 421, "banned on connect");
}

/// The address lists of the account the hook answers with apply: a
/// partner allowed only from its office is refused from elsewhere.
#[test]
fn the_hooks_address_lists_apply() {
    let hook = HookServer::start(|req| match req["username"].as_str() {
        Some("office") => Answer::Json(
            200,
            r#"{"home": "/o", "allow_from": ["203.0.113.0/24"]}"#.into(),
        ),
        Some("local") => Answer::Json(
            200,
            r#"{"home": "/l", "allow_from": ["127.0.0.0/8"], "deny_from": ["127.0.0.2"]}"#.into(),
        ),
        _ => Answer::Json(404, String::new()),
    });
    let env = start(&hook, &[SourceName::Hook], "");
    assert_eq!(try_login(&env, "office", "x").0, 530);
    env.ftp("local", "x").quit().unwrap();
}
