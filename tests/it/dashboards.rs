//! The Grafana dashboard and the Prometheus alert rules under `deploy/`
//! name only metrics the gateway exports: a workload makes every labelled
//! family appear (logins that fail and succeed, uploads and downloads, an
//! S3 error, an interrupted multipart upload and its abort), then
//! every metric — and every label a query selects or groups on — is looked
//! for in `/metrics`.

use std::collections::BTreeSet;
use std::io::Write;

use crate::backend::Backend;
use crate::harness::{TestEnv, pattern, wait_until};
use crate::hook_server::{Answer, HookServer};
use crate::observe::{http_get, with_metrics};

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every PromQL expression of the dashboard and of the rules.
fn expressions() -> Vec<String> {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/s3ftpd-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().unwrap().to_owned());
        }
    }
    let rules: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("deploy/prometheus/s3ftpd-rules.yaml")).unwrap(),
    )
    .unwrap();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            exprs.push(rule["expr"].as_str().unwrap().to_owned());
        }
    }
    exprs
}

/// `(metric, Some((label, value)))` for each `s3ftpd_…` name in `expr`,
/// with each equality matcher of its selector.
fn references(expr: &str) -> Vec<(String, Option<(String, String)>)> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("s3ftpd_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..end].to_owned();
        let after = &tail[end..];
        let mut matchers = Vec::new();
        if let Some(sel) = after.strip_prefix('{') {
            let sel = &sel[..sel.find('}').unwrap()];
            for m in sel.split(',') {
                if let Some((l, v)) = m.split_once('=')
                    && !l.ends_with('!')
                    && !v.starts_with('~')
                {
                    matchers.push((l.trim().to_owned(), v.trim().trim_matches('"').to_owned()));
                }
            }
        }
        if matchers.is_empty() {
            out.push((name, None));
        } else {
            out.extend(matchers.into_iter().map(|m| (name.clone(), Some(m))));
        }
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_metric_the_dashboard_and_rules_name_exists() {
    // A webhook that is down: deliveries retried, a backlog and its age.
    let receiver = HookServer::start(|_| Answer::Json(503, String::new()));
    let env = TestEnv::start(Backend::Embedded, |c| {
        with_metrics(c);
        c.events = serde_yaml::from_str(&format!(
            "{{ webhooks: [ {{ url: '{}', secret: '{}', retry_max: 1s }} ] }}",
            receiver.url(),
            crate::events::SECRET
        ))
        .unwrap();
    });
    let metrics = env.gateway().metrics_addr().unwrap();
    // A failed login, then a session that works.
    let mut bad = crate::harness::Raw::connect(env.addr);
    bad.expect("USER u", 331);
    bad.expect("PASS wrong", 530);
    let mut r = env.raw_login();
    // An upload and its download.
    let mut d = r.epsv();
    r.expect("STOR small.bin", 150);
    d.write_all(b"hello").unwrap();
    drop(d);
    assert_eq!(r.reply().0, 226);
    let d = r.epsv();
    r.expect("RETR small.bin", 150);
    crate::harness::read_all(d);
    assert_eq!(r.reply().0, 226);
    // An S3 error: a copy the store refuses.
    let store = env.gateway().embedded().unwrap();
    store.fail_copies_of(Some("small.bin"));
    r.expect("RNFR small.bin", 350);
    r.expect("RNTO other.bin", 451);
    store.fail_copies_of(None);
    // An interrupted multipart upload, aborted.
    let mut d = r.epsv();
    r.expect("STOR big.bin", 150);
    d.write_all(&pattern(6 * 1024 * 1024, 3)).unwrap();
    r.wait_for_transfer(6 * 1024 * 1024);
    r.send("ABOR");
    drop(d);
    let scraped = || http_get(metrics, "/metrics").1;
    wait_until(|| {
        let text = scraped();
        text.contains("s3ftpd_multipart_aborts_total{outcome=\"ok\",reason=\"interrupted\"}")
            && text.contains("s3ftpd_event_retries_total{")
            // The failed login's event, best effort: given up after 5 tries.
            && text.contains("s3ftpd_events_dropped_total{")
    });
    // An accepted delivery, then nothing waits.
    receiver.answer(|_| Answer::Json(204, String::new()));
    wait_until(|| scraped().contains("s3ftpd_event_deliveries_total{"));
    let text = scraped();
    let series: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.rsplit_once(' ').unwrap().0)
        .collect();
    let mut checked = 0;
    for expr in expressions() {
        for (name, matcher) in references(&expr) {
            let found = series.iter().any(|s| {
                let (n, labels) = s.split_once('{').unwrap_or((s, ""));
                n == name
                    && matcher
                        .as_ref()
                        .is_none_or(|(l, _)| labels.contains(&format!("{l}=\"")))
            });
            assert!(
                found,
                "{name} {matcher:?} (in {expr:?}) is not in /metrics:\n{text}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} references found");
}
