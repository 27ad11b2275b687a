//! S3 requests per FTP command, as a budget: against a remote S3 every
//! request is a round trip, so each command's requests are counted (the
//! gateway's own `s3ftpd_s3_requests_total`) and must match the table
//! below exactly — a new request in a command's path fails here, and the
//! table is the one BENCHMARKS.md shows.

use std::collections::BTreeMap;
use std::io::Write;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{Raw, TestEnv, pattern, read_all, wait_until};
use crate::observe::scrape;

const MIB: usize = 1024 * 1024;

/// Requests by operation, counted by the gateway.
pub(crate) fn requests(metrics: std::net::SocketAddr) -> BTreeMap<String, f64> {
    let mut by_op = BTreeMap::new();
    for (series, value) in scrape(metrics) {
        let Some(labels) = series.strip_prefix("s3ftpd_s3_requests_total{") else {
            continue;
        };
        // The readiness probe's, on its own schedule: no command's.
        if labels.contains("operation=\"HeadBucket\"") {
            continue;
        }
        let op = labels
            .split("operation=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned();
        *by_op.entry(op).or_default() += value;
    }
    by_op
}

/// Requests by operation, for one command.
pub(crate) type Requests = BTreeMap<String, u32>;

/// What one command (or exchange) cost: operation → requests.
pub(crate) fn cost(metrics: std::net::SocketAddr, act: impl FnOnce()) -> Requests {
    let before = requests(metrics);
    act();
    let after = requests(metrics);
    after
        .into_iter()
        .filter_map(|(op, n)| {
            let d = n - before.get(&op).copied().unwrap_or(0.0);
            // Counts are whole numbers of requests.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            (d > 0.0).then(|| (op, d.round() as u32))
        })
        .collect()
}

pub(crate) fn table(pairs: &[(&str, u32)]) -> Requests {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn stor(r: &mut Raw, name: &str, body: &[u8]) {
    let mut d = r.epsv();
    r.expect(&format!("STOR {name}"), 150);
    d.write_all(body).unwrap();
    drop(d);
    assert_eq!(r.reply().0, 226);
}

fn retr(r: &mut Raw, name: &str) -> Vec<u8> {
    let d = r.epsv();
    r.expect(&format!("RETR {name}"), 150);
    let got = read_all(d);
    assert_eq!(r.reply().0, 226);
    got
}

pub(crate) fn listing(r: &mut Raw, cmd: &str) -> String {
    let d = r.epsv();
    r.expect(cmd, 150);
    let text = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(r.reply().0, 226);
    text
}

/// Prints each command's requests; fails naming every one off budget.
fn check(rows: &[(&str, Requests, Requests)]) {
    let mut wrong = Vec::new();
    for (what, got, want) in rows {
        eprintln!("{what:36} {got:?}");
        if got != want {
            wrong.push(format!("{what}: sent {got:?}, budget {want:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "over or under budget:\n{}",
        wrong.join("\n")
    );
}

/// Each command's requests, in one session, against the budget.
fn requests_per_command(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    });
    let m = env.gateway().metrics_addr().unwrap();
    // The janitor's sweep at start lists open uploads once: let it pass.
    wait_until(|| requests(m).contains_key("ListMultipartUploads"));
    for i in 0..30 {
        env.put(&format!("d/f{i:02}"), b"x");
    }
    env.put("big.bin", &pattern(12 * MIB, 3));
    let mut r = env.raw_login();
    let small = pattern(4096, 1);
    let if_match = crate::name_conflicts::honours(&env).if_match;
    let rows: Vec<(&str, Requests, Requests)> = vec![
        (
            "STOR small, new name",
            cost(m, || stor(&mut r, "s.txt", &small)),
            // Is the name a folder? (beside the upload) and the object.
            table(&[("ListObjectsV2", 1), ("PutObject", 1)]),
        ),
        (
            // The gateway wrote it: where S3 honours If-Match, one write
            // over that version, and no folder check (the name is a file's).
            "STOR small, overwrite",
            cost(m, || stor(&mut r, "s.txt", &small)),
            if if_match {
                table(&[("PutObject", 1)])
            } else {
                table(&[("ListObjectsV2", 1), ("PutObject", 1)])
            },
        ),
        (
            "RETR small",
            cost(m, || assert_eq!(retr(&mut r, "s.txt"), small)),
            table(&[("GetObject", 1)]),
        ),
        (
            // Ranges of part_size (5 MiB in the tests), the later ones
            // pinned to the first's ETag.
            "RETR 12 MiB",
            cost(m, || assert_eq!(retr(&mut r, "big.bin").len(), 12 * MIB)),
            table(&[("GetObject", 3)]),
        ),
        (
            "SIZE",
            cost(m, || drop(r.expect("SIZE s.txt", 213))),
            table(&[("HeadObject", 1)]),
        ),
        (
            "MDTM",
            cost(m, || drop(r.expect("MDTM s.txt", 213))),
            table(&[("HeadObject", 1)]),
        ),
        (
            "CWD into a folder",
            cost(m, || drop(r.expect("CWD d", 250))),
            table(&[("ListObjectsV2", 1)]),
        ),
        (
            "CWD /",
            cost(m, || drop(r.expect("CWD /", 250))),
            table(&[]),
        ),
        (
            "NLST of 30 names",
            cost(m, || {
                assert_eq!(listing(&mut r, "NLST d").lines().count(), 30)
            }),
            table(&[("ListObjectsV2", 1)]),
        ),
        (
            "MKD",
            cost(m, || drop(r.expect("MKD newdir", 257))),
            table(&[("HeadObject", 1), ("ListObjectsV2", 1), ("PutObject", 1)]),
        ),
        (
            "DELE",
            cost(m, || drop(r.expect("DELE d/f00", 250))),
            table(&[("DeleteObject", 1), ("HeadObject", 1), ("ListObjectsV2", 1)]),
        ),
        (
            "RNFR + RNTO of a file",
            cost(m, || {
                r.expect("RNFR s.txt", 350);
                r.expect("RNTO t.txt", 250);
            }),
            table(&[
                ("CopyObject", 1),
                ("DeleteObject", 1),
                ("HeadObject", 2),
                ("ListObjectsV2", 1),
            ]),
        ),
    ];
    check(&rows);
}

backend_tests!(requests_per_command);

/// The same commands by an account with every right and limit of the
/// "Rights and limits" section — permissions, an address list, a session
/// cap, bandwidth limits, a quota — and by an upload-only one: permission,
/// address, session and bandwidth checks send no request; a quota counts
/// its folder once (per `limits.quota_rescan`) and looks up the name a
/// STOR replaces (HeadObject 1, beside the upload); a refusal sends
/// nothing.
fn requests_with_rights_and_limits(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
        crate::buckets::add(
            c,
            "",
            "",
            &[
                "{ name: r, password: pw, home: /r, permissions: { /: ['*'], /ro: [list, download] }, allow_from: [127.0.0.0/8], max_sessions: 4, upload_bandwidth: 1Gbit/s, download_bandwidth: 1Gbit/s, quota: { bytes: 1GiB, files: 1000 } }",
                "{ name: drop, password: pw, home: /drop, permissions: { /: [upload] } }",
            ],
        );
    });
    let m = env.gateway().metrics_addr().unwrap();
    wait_until(|| requests(m).contains_key("ListMultipartUploads"));
    for i in 0..30 {
        env.put(&format!("r/d/f{i:02}"), b"x");
    }
    env.put("r/ro/a.txt", b"a");
    let mut r = env.raw();
    r.login("r", "pw");
    let small = pattern(4096, 1);
    let if_match = crate::name_conflicts::honours(&env).if_match;
    let if_none_match = crate::name_conflicts::honours(&env).if_none_match;
    let mut rows: Vec<(&str, Requests, Requests)> = vec![
        (
            "STOR small, first under the quota",
            cost(m, || stor(&mut r, "s.txt", &small)),
            // The count (one page), the name's size, the folder check, the object.
            table(&[("HeadObject", 1), ("ListObjectsV2", 2), ("PutObject", 1)]),
        ),
        (
            "STOR small, new name",
            cost(m, || stor(&mut r, "t.txt", &small)),
            table(&[("HeadObject", 1), ("ListObjectsV2", 1), ("PutObject", 1)]),
        ),
        (
            "STOR small, overwrite",
            cost(m, || stor(&mut r, "s.txt", &small)),
            if if_match {
                table(&[("HeadObject", 1), ("PutObject", 1)])
            } else {
                table(&[("HeadObject", 1), ("ListObjectsV2", 1), ("PutObject", 1)])
            },
        ),
        (
            "RETR small",
            cost(m, || assert_eq!(retr(&mut r, "s.txt"), small)),
            table(&[("GetObject", 1)]),
        ),
        (
            "NLST of 30 names",
            cost(m, || {
                assert_eq!(listing(&mut r, "NLST d").lines().count(), 30)
            }),
            table(&[("ListObjectsV2", 1)]),
        ),
        (
            "DELE",
            cost(m, || drop(r.expect("DELE d/f00", 250))),
            table(&[("DeleteObject", 1), ("HeadObject", 1), ("ListObjectsV2", 1)]),
        ),
        (
            "STOR refused (needs upload)",
            cost(m, || drop(r.expect("STOR ro/b.txt", 550))),
            table(&[]),
        ),
        (
            "SITE QUOTA",
            cost(m, || drop(r.expect("SITE QUOTA", 200))),
            table(&[]),
        ),
    ];
    let mut d = env.raw();
    d.login("drop", "pw");
    rows.push((
        "STOR small, upload only",
        cost(m, || stor(&mut d, "in.txt", &small)),
        // No `overwrite`: the commit is conditional where S3 honours it,
        // else the name is looked up first.
        if if_none_match {
            table(&[("ListObjectsV2", 1), ("PutObject", 1)])
        } else {
            table(&[("HeadObject", 1), ("ListObjectsV2", 1), ("PutObject", 1)])
        },
    ));
    check(&rows);
}

backend_tests!(requests_with_rights_and_limits);
