//! Events: signed webhooks (verified here with the published Standard
//! Webhooks algorithm, written anew), the audit log, delivery through a
//! receiver that is down, the outbox's bound, and — with real processes
//! and SIGKILL — gateways that die with events pending, taken over by two
//! others sharing the outbox.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hmac::{KeyInit, Mac};
use s3ftpd::Config;

use crate::backend::{Backend, Remote};
use crate::harness::{Raw, TestEnv, pattern, wait_until};
use crate::hook_server::{Answer, HookServer};

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BIN: &str = env!("CARGO_BIN_EXE_s3ftpd");

/// A receiver answering `status` to everything.
fn receiver(status: u16) -> HookServer {
    HookServer::start(move |_| Answer::Json(status, String::new()))
}

fn set_events(c: &mut Config, yaml: &str) {
    c.events = serde_yaml::from_str(yaml).expect("events yaml");
}

/// A gateway on `backend` whose one webhook is `r`: `hook` adds keys to
/// the webhook, `rest` to `events:` (both flow YAML, leading comma).
fn gateway_to(backend: Backend, r: &HookServer, hook: &str, rest: &str) -> TestEnv {
    TestEnv::start(backend, |c| {
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
        set_events(
            c,
            &format!(
                "{{ webhooks: [ {{ url: '{}', secret: '{SECRET}'{hook} }} ]{rest} }}",
                r.url()
            ),
        );
    })
}

/// The header `name` of one request.
fn header<'a>(headers: &'a [String], name: &str) -> &'a str {
    headers
        .iter()
        .find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

/// Checks one delivery as a receiver does (Standard Webhooks: HMAC-SHA256
/// keyed by the base64 after `whsec_`, of `id.timestamp.body`) and returns
/// its JSON.
pub fn verified(raw: &(Vec<u8>, Vec<String>)) -> serde_json::Value {
    let (body, headers) = raw;
    let id = header(headers, "webhook-id");
    let ts = header(headers, "webhook-timestamp");
    let sig = header(headers, "webhook-signature");
    let key = aws_smithy_types::base64::decode(SECRET.trim_start_matches("whsec_")).unwrap();
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let want = format!(
        "v1,{}",
        aws_smithy_types::base64::encode(mac.finalize().into_bytes())
    );
    assert_eq!(sig, want, "signature of {id}");
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - ts.parse::<i64>().unwrap();
    assert!((0..600).contains(&age), "timestamp {ts} is not now");
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["id"], id, "webhook-id is the event's id");
    json
}

/// Every verified delivery so far.
fn delivered(r: &HookServer) -> Vec<serde_json::Value> {
    r.raw().iter().map(verified).collect()
}

fn crc_b64(bytes: &[u8]) -> String {
    aws_smithy_types::base64::encode(crc_fast::crc32_iscsi(bytes).to_be_bytes())
}

/// The outbox's objects (names below `outbox/`).
fn outbox(env: &TestEnv) -> Vec<String> {
    let base = format!("{}.s3ftpd/outbox/", env.prefix);
    env.rt.block_on(async {
        let out = env
            .s3
            .list_objects_v2()
            .bucket(&env.bucket)
            .prefix(&base)
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key()?.strip_prefix(&base).map(str::to_owned))
            .collect()
    })
}

fn entries(env: &TestEnv) -> Vec<String> {
    outbox(env)
        .into_iter()
        .filter(|n| n.ends_with(".json"))
        .collect()
}

fn every_change_is_one_signed_event(backend: Backend) {
    let r = receiver(204);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let audit_log = format!(", audit_log: '{}'", audit.display());
    let env = gateway_to(backend, &r, "", &audit_log);
    let mut bad = Raw::connect(env.addr);
    bad.cmd("USER u");
    assert_eq!(bad.cmd("PASS wrong-password").0, 530);
    let body = pattern(300_000, 7);
    let mut c = Raw::connect(env.addr);
    c.login("u", "p");
    c.expect("MKD d", 257);
    assert_eq!(c.stor("d/a.bin", &body).0, 226);
    let etag = env.etag("d/a.bin");
    let d = c.epsv();
    c.expect("RETR d/a.bin", 150);
    assert_eq!(crate::harness::read_all(d).len(), body.len());
    assert_eq!(c.reply().0, 226);
    c.expect("RNFR d/a.bin", 350);
    c.expect("RNTO d/b.bin", 250);
    c.expect("DELE d/b.bin", 250);
    c.expect("RMD d", 250);
    // A multipart upload (part_size 5 MiB): its CRC32C is combined from the parts'.
    let big = pattern(11 * 1024 * 1024 + 17, 8);
    assert_eq!(c.stor("big.bin", &big).0, 226);
    let kinds = [
        "login_failed",
        "login",
        "mkdir",
        "upload",
        "download",
        "rename",
        "delete",
        "rmdir",
    ];
    wait_until(|| r.calls() > kinds.len());
    std::thread::sleep(Duration::from_millis(300));
    let mut got = delivered(&r);
    let multipart = got.pop().unwrap();
    assert_eq!(multipart["data"]["path"], "/big.bin");
    assert_eq!(multipart["data"]["size"], big.len() as u64);
    assert_eq!(multipart["data"]["crc32c"], crc_b64(&big).as_str());
    assert_eq!(multipart["data"]["etag"], env.etag("big.bin").as_str());
    let by_kind: HashMap<&str, &serde_json::Value> = got
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e))
        .collect();
    assert_eq!(got.len(), kinds.len(), "one delivery per event: {got:#?}");
    for k in kinds {
        assert!(by_kind.contains_key(k), "no {k} event in {got:#?}");
    }
    let ids: HashSet<&str> = got
        .iter()
        .chain([&multipart])
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), got.len() + 1, "ids are unique");
    let up = &by_kind["upload"]["data"];
    assert_eq!(up["user"], "u");
    assert_eq!(up["ip"], "127.0.0.1");
    assert_eq!(up["protocol"], "ftp");
    assert_eq!(up["path"], "/d/a.bin");
    assert_eq!(up["key"], format!("{}d/a.bin", env.prefix));
    assert_eq!(up["bucket"], env.bucket.as_str());
    assert_eq!(up["size"], body.len() as u64);
    assert_eq!(up["etag"], etag.as_str());
    // The CRC32C of the bytes the client sent, which S3 verified.
    assert_eq!(up["crc32c"], crc_b64(&body).as_str());
    match backend {
        Backend::Embedded => assert_eq!(up["checksum"], "confirmed"),
        _ => assert!(["confirmed", "not_returned"].contains(&up["checksum"].as_str().unwrap())),
    }
    assert!(up["session_id"].as_str().is_some_and(|s| !s.is_empty()));
    let rn = &by_kind["rename"]["data"];
    assert_eq!(
        (&rn["from_path"], &rn["path"]),
        (&"/d/a.bin".into(), &"/d/b.bin".into())
    );
    assert_eq!(by_kind["login_failed"]["data"]["user"], "u");
    assert!(by_kind["login_failed"]["data"]["reason"].is_string());
    // The audit log has the same events, one JSON line each.
    let lines = std::fs::read_to_string(&audit).unwrap();
    let logged: HashSet<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(logged, ids.iter().map(|s| (*s).to_owned()).collect());
    // Delivered: the outbox keeps nothing but the heartbeat.
    wait_until(|| entries(&env).is_empty());
    assert!(outbox(&env).iter().all(|n| n.ends_with(".alive")));
}

fn a_receiver_that_was_down_gets_every_event(backend: Backend) {
    let r = receiver(503);
    let env = gateway_to(backend, &r, ", events: [upload], retry_max: 1s", "");
    let mut c = Raw::connect(env.addr);
    c.login("u", "p");
    let same = pattern(5000, 1);
    // The same bytes twice under one name: two happenings, two ids.
    assert_eq!(c.stor("a.bin", &same).0, 226);
    assert_eq!(c.stor("a.bin", &same).0, 226);
    assert_eq!(c.stor("b.bin", &pattern(6000, 2)).0, 226);
    wait_until(|| r.calls() >= 6);
    assert_eq!(
        entries(&env).len(),
        3,
        "undelivered events wait in the outbox"
    );
    r.answer(|_| Answer::Json(204, String::new()));
    wait_until(|| entries(&env).is_empty());
    let got = delivered(&r);
    let mut bodies: HashMap<String, HashSet<String>> = HashMap::new();
    for e in &got {
        bodies
            .entry(e["id"].as_str().unwrap().to_owned())
            .or_default()
            .insert(e.to_string());
    }
    assert_eq!(bodies.len(), 3, "three uploads, three ids: {got:#?}");
    assert!(
        bodies.values().all(|b| b.len() == 1),
        "a retry is the same event"
    );
    let same_crc = crc_b64(&same);
    let twice = got
        .iter()
        .filter(|e| e["data"]["crc32c"] == same_crc.as_str())
        .map(|e| e["id"].as_str().unwrap())
        .collect::<HashSet<_>>();
    assert_eq!(
        twice.len(),
        2,
        "the same bytes uploaded twice are two events"
    );
}

fn a_full_backlog_drops_events_not_files(backend: Backend) {
    let r = receiver(503);
    let env = gateway_to(
        backend,
        &r,
        ", retry_max: 1s",
        ", outbox: { max_backlog: 2 }",
    );
    let mut c = Raw::connect(env.addr);
    c.login("u", "p");
    for i in 0..4 {
        assert_eq!(c.stor(&format!("f{i}.bin"), b"data").0, 226);
    }
    for i in 0..4 {
        assert_eq!(env.get(&format!("f{i}.bin")).unwrap(), b"data");
    }
    let m = crate::observe::scrape(env.gateway().metrics_addr().unwrap());
    assert_eq!(
        m.get("s3ftpd_events_dropped_total{endpoint=\"-\",reason=\"backlog_full\"}"),
        Some(&2.0),
        "{m:#?}"
    );
    assert_eq!(entries(&env).len(), 2);
}

/// A folder renamed is one event, however many keys moved.
fn a_folder_rename_is_one_event(backend: Backend) {
    let r = receiver(204);
    let env = gateway_to(backend, &r, ", events: [rename]", "");
    let mut c = Raw::connect(env.addr);
    c.login("u", "p");
    c.expect("MKD e", 257);
    for i in 0..5 {
        assert_eq!(c.stor(&format!("e/f{i}"), b"x").0, 226);
    }
    c.expect("RNFR e", 350);
    c.expect("RNTO moved", 250);
    wait_until(|| r.calls() >= 1);
    std::thread::sleep(Duration::from_millis(300));
    let got = delivered(&r);
    assert_eq!(got.len(), 1, "{got:#?}");
    let d = &got[0]["data"];
    assert_eq!(
        (&d["from_path"], &d["path"]),
        (&"/e".into(), &"/moved".into())
    );
    assert_eq!(d["from_key"], format!("{}e/", env.prefix));
    assert_eq!(d["key"], format!("{}moved/", env.prefix));
    assert_eq!(d["keys_moved"], 6, "the marker and five files");
}

crate::backend_tests!(
    a_folder_rename_is_one_event,
    every_change_is_one_signed_event,
    a_receiver_that_was_down_gets_every_event,
    a_full_backlog_drops_events_not_files,
);

/// The S3 server of `env`, for gateways run as processes.
fn remote(env: &TestEnv, backend: Backend) -> Remote {
    backend.remote().unwrap_or_else(|| {
        let e = env.gateway().embedded().expect("embedded store");
        Remote {
            endpoint: e.endpoint.clone(),
            region: "us-east-1".into(),
            bucket: "ftp".into(),
            access_key: e.access_key.clone(),
            secret_key: e.secret_key.clone(),
        }
    })
}

/// A gateway process on `env`'s bucket and prefix.
struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, n: usize, r: &Remote, prefix: &str, events: &str) -> Proc {
    let addr = SocketAddr::from(([127, 0, 0, 1], crate::ports::one()));
    let yaml = dir.join(format!("g{n}.yaml"));
    std::fs::write(
        &yaml,
        format!(
            "listen: {addr}\npassive: {{ ports: {} }}\n\
             s3: {{ endpoint: '{}', region: '{}', bucket: '{}', access_key_id: '{}', secret_access_key: '{}', prefix: '{prefix}', part_size: 5MiB }}\n\
             log: {{ level: debug, transfer_log: '{}' }}\nevents: {events}\nusers: [ {{ name: u, password: p, home: / }} ]\n",
            crate::ports::range(20),
            r.endpoint,
            r.region,
            r.bucket,
            r.access_key,
            r.secret_key,
            dir.join(format!("g{n}.xferlog")).display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join(format!("g{n}.log"))).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "-c"])
        .arg(&yaml)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_until(|| std::net::TcpStream::connect(addr).is_ok());
    Proc { child, addr }
}

/// A gateway is SIGKILLed with one upload committed but undelivered (its
/// receiver down) and one upload half sent; two gateways start on the same
/// outbox: the committed upload's event arrives — from S3's facts, with
/// the CRC32C of the bytes sent —, the half-sent one's never does, no
/// event is delivered in a loop, and the outbox empties.
fn killed_gateways_events_are_delivered_by_the_others(backend: Backend) {
    let env = TestEnv::start(backend, |_| {});
    let r3 = remote(&env, backend);
    let dir = tempfile::tempdir().unwrap();
    let rx = receiver(503);
    let events = format!(
        "{{ webhooks: [ {{ url: '{}', secret: '{SECRET}', events: [upload], retry_max: 1s }} ], outbox: {{ poll: 1s, lease: 3s }} }}",
        rx.url()
    );
    let mut a = start(dir.path(), 0, &r3, &env.prefix, &events);
    let body = pattern(700_000, 9);
    let mut c = Raw::connect(a.addr);
    c.login("u", "p");
    assert_eq!(c.stor("done.bin", &body).0, 226);
    let mut d = c.epsv();
    c.expect("STOR half.bin", 150);
    d.write_all(&pattern(100_000, 3)).unwrap();
    wait_until(|| entries(&env).len() == 2 && rx.calls() >= 1);
    a.child.kill().unwrap(); // SIGKILL: the events were only in memory and in the outbox
    a.child.wait().unwrap();
    drop((c, d));
    assert!(env.get("half.bin").is_none());
    rx.answer(|_| Answer::Json(204, String::new()));
    let _b = start(dir.path(), 1, &r3, &env.prefix, &events);
    let _c = start(dir.path(), 2, &r3, &env.prefix, &events);
    wait_until(|| entries(&env).is_empty());
    // Several polls later nothing more arrives.
    std::thread::sleep(Duration::from_secs(4));
    let got: Vec<_> = delivered(&rx)
        .into_iter()
        .filter(|e| e["data"]["recovered"] == true)
        .collect();
    let ids: HashSet<&str> = got.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "only the committed upload: {got:#?}");
    let max = if backend == Backend::Embedded { 1 } else { 2 };
    assert!(
        (1..=max).contains(&got.len()),
        "delivered once (twice at most where S3 ignores conditional claims): {got:#?}"
    );
    let e = &got[0]["data"];
    assert_eq!(e["path"], "/done.bin");
    assert_eq!(e["size"], body.len() as u64);
    assert_eq!(e["crc32c"], crc_b64(&body).as_str());
    assert_eq!(e["etag"], env.etag("done.bin").as_str());
    assert!(entries(&env).is_empty());
}

crate::backend_tests!(killed_gateways_events_are_delivered_by_the_others);

/// SIGHUP reopens the audit log and the xferlog at their paths (log
/// rotation: the old files were moved away first).
#[test]
fn sighup_reopens_the_audit_log_and_the_xferlog() {
    let env = TestEnv::start(Backend::Embedded, |_| {});
    let r3 = remote(&env, Backend::Embedded);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let xfer = dir.path().join("g0.xferlog");
    let g = start(
        dir.path(),
        0,
        &r3,
        &env.prefix,
        &format!("{{ audit_log: '{}' }}", audit.display()),
    );
    let has = |p: &Path, what: &str| std::fs::read_to_string(p).is_ok_and(|s| s.contains(what));
    let mut c = Raw::connect(g.addr);
    c.login("u", "p");
    assert_eq!(c.stor("one.txt", b"1").0, 226);
    wait_until(|| has(&audit, "one.txt") && has(&xfer, "one.txt"));
    let (audit1, xfer1) = (
        dir.path().join("audit.jsonl.1"),
        dir.path().join("g0.xferlog.1"),
    );
    std::fs::rename(&audit, &audit1).unwrap();
    std::fs::rename(&xfer, &xfer1).unwrap();
    Command::new("kill")
        .args(["-HUP", &g.child.id().to_string()])
        .status()
        .unwrap();
    wait_until(|| audit.exists() && xfer.exists());
    assert_eq!(c.stor("two.txt", b"2").0, 226);
    wait_until(|| has(&audit, "two.txt") && has(&xfer, "two.txt"));
    assert!(!has(&audit1, "two.txt") && !has(&xfer1, "two.txt"));
    assert!(!has(&audit, "one.txt") && !has(&xfer, "one.txt"));
}
