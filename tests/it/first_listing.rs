//! The first listing of a folder the gateway never listed (no time index
//! yet, a HeadObject per file with `s3.list_mtime: metadata`): its lines
//! come while the lookups still run, the lookups stay within the
//! listing's share of `s3.max_connections`, the times are right (those of
//! `x-amz-meta-mtime` on both pages); and `auto` stops looking up a folder
//! whose sample carries no metadata time.

use std::io::{BufRead as _, BufReader};
use std::time::Duration;

use futures::StreamExt as _;
use s3ftpd::config::ListMtime;

use crate::backend::Backend;
use crate::backend_tests;
use crate::budget::{listing, requests};
use crate::harness::{Raw, TestEnv};

/// Files in the folder: more than one ListObjectsV2 page.
const FILES: usize = 1100;

/// Puts `n` files `f0000`… under `dir` in parallel (as another S3 tool
/// would: no metadata time), and `with_time` with `x-amz-meta-mtime`.
fn seed(env: &TestEnv, dir: &str, n: usize, with_time: &[usize]) {
    env.rt.block_on(async {
        let puts = (0..n).map(|i| {
            let mut put = env
                .s3
                .put_object()
                .bucket(&env.bucket)
                .key(env.key(&format!("{dir}/f{i:04}")))
                .body(b"x".to_vec().into());
            if with_time.contains(&i) {
                // rclone's format: 2020-01-02 03:04:05.5 UTC.
                put = put.metadata("mtime", "1577934245.5");
            }
            put.send()
        });
        let results = futures::stream::iter(puts)
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
        for r in results {
            r.expect("put_object");
        }
    });
}

/// HeadObjects the gateway has sent so far.
fn heads(env: &TestEnv) -> u32 {
    let m = env.gateway().metrics_addr().unwrap();
    // Counts are whole numbers of requests.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    requests(m)
        .get("HeadObject")
        .map_or(0, |v| v.round() as u32)
}

/// On a store slow to answer (20 ms a request): the first line of the
/// first MLSD arrives when a few of its 1,100 lookups are done, not after
/// all of them; no more than the listing's share of lookups is ever in
/// flight, and all of it is used; the files carrying a metadata time show
/// it, on the first page and on the second.
fn a_first_listing_streams_while_its_lookups_run(b: Backend) {
    if b != Backend::Embedded {
        // The slow store and the count of requests in flight are the
        // embedded store's test hooks.
        return;
    }
    let env = TestEnv::start(b, |c| {
        c.s3.max_connections = 16;
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    });
    seed(&env, "big", FILES, &[5, 1050]);
    let store = env.gateway().embedded().expect("embedded store");
    let mut r = env.raw_login();
    let before = heads(&env);
    store.slow_requests(Duration::from_millis(20));
    let _ = store.most_in_flight();
    let d = r.epsv();
    r.expect("MLSD big", 150);
    let mut lines = BufReader::new(d).lines();
    let first = lines.next().expect("a first line").unwrap();
    let done_at_first = heads(&env) - before;
    let mut all = vec![first];
    all.extend(lines.map(Result::unwrap));
    assert_eq!(r.reply().0, 226);
    store.slow_requests(Duration::ZERO);
    let most = store.most_in_flight();
    let done = heads(&env) - before;
    assert!(
        done_at_first < 100,
        "the first line came after {done_at_first} of {done} lookups"
    );
    assert_eq!(done as usize, FILES, "one lookup per file");
    // max_connections 16: 8 lookups for one listing, beside the next
    // page's ListObjectsV2 (and, now and then, the readiness probe's
    // HeadBucket).
    assert!((8..=10).contains(&most), "{most} requests in flight");
    assert_eq!(all.len(), FILES);
    for (i, line) in all.iter().enumerate() {
        assert!(line.ends_with(&format!(" f{i:04}")), "in order: {line}");
        let timed = line.contains("modify=20200102030405");
        assert_eq!(timed, i == 5 || i == 1050, "{line}");
    }
}

fn mlsd_times(r: &mut Raw, dir: &str) -> Vec<(String, String)> {
    listing(r, &format!("MLSD {dir}"))
        .lines()
        .map(|l| {
            let modify = l
                .split(';')
                .find_map(|f| f.strip_prefix("modify="))
                .unwrap_or_default()
                .to_owned();
            (l.rsplit(' ').next().unwrap().to_owned(), modify)
        })
        .collect()
}

/// `list_mtime: auto`: a folder whose first files carry no metadata time
/// is looked up only for its sample (100 files, and those already in
/// flight), then not at all; a file in it that this gateway gives a time
/// (MFMT) shows it at once; a folder whose sample does carry times is
/// looked up whole, as with `metadata`.
fn auto_stops_looking_up_a_folder_without_metadata_times(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.s3.list_mtime = ListMtime::Auto;
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    });
    seed(&env, "plain", 400, &[]);
    seed(&env, "timed", 300, &[0, 250]);
    // Files written a moment before the sample are looked up all the
    // same (clocks may differ by this much).
    std::thread::sleep(Duration::from_millis(5500));
    let mut r = env.raw_login();
    let before = heads(&env);
    assert_eq!(mlsd_times(&mut r, "plain").len(), 400);
    let sampled = heads(&env) - before;
    assert!(
        (100..300).contains(&sampled),
        "{sampled} lookups for 400 files"
    );
    let before = heads(&env);
    mlsd_times(&mut r, "plain");
    assert_eq!(heads(&env) - before, 0, "a plain folder is not looked up");
    // This gateway gives one of its files a time: it shows.
    r.expect("MFMT 20210304050607 plain/f0399", 213);
    let times = mlsd_times(&mut r, "plain");
    let f0399 = times.iter().find(|(n, _)| n == "f0399").unwrap();
    assert_eq!(f0399.1, "20210304050607", "{times:?}");
    // A folder whose sample carries times: every file looked up.
    let before = heads(&env);
    let times = mlsd_times(&mut r, "timed");
    assert_eq!(heads(&env) - before, 300);
    for (i, (name, modify)) in times.iter().enumerate() {
        assert_eq!(name, &format!("f{i:04}"));
        assert_eq!(modify == "20200102030405", i == 0 || i == 250, "{name}");
    }
}

backend_tests!(
    a_first_listing_streams_while_its_lookups_run,
    auto_stops_looking_up_a_folder_without_metadata_times,
);
