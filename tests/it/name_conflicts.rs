//! A file never takes a folder's name, and checking that costs a small
//! STOR no round trip (`src/storage/folder_check.rs`): the check runs beside
//! the upload, or not at all where the gateway knows the file's version. Tried with S3 on loopback and 40 ms away (behind the benches'
//! delaying proxy), where a small upload is done long before its check.

use std::time::Duration;

use s3ftpd::server::Gateway;

use crate::backend::Backend;
use crate::backend_tests;
use crate::budget::{Requests, cost, requests, table};
use crate::delay;
use crate::harness::{Raw, TestEnv, wait_until};

/// What the S3 server does with conditional writes (asked here directly,
/// not through the gateway): whether it refuses a second `If-None-Match: *`
/// write of one key, and a write `If-Match` a version the key does not have.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Honours {
    pub(crate) if_none_match: bool,
    pub(crate) if_match: bool,
}

pub(crate) fn honours(env: &TestEnv) -> Honours {
    env.rt.block_on(async {
        let key = env.key("conditional-probe");
        let put = || {
            env.s3
                .put_object()
                .bucket(&env.bucket)
                .key(&key)
                .body(b"p".to_vec().into())
        };
        put()
            .if_none_match("*")
            .send()
            .await
            .expect("first conditional write");
        let second = put().if_none_match("*").send().await;
        let wrong_version = put().if_match("\"no-such-version\"").send().await;
        env.s3
            .delete_object()
            .bucket(&env.bucket)
            .key(&key)
            .send()
            .await
            .expect("delete the probe");
        Honours {
            if_none_match: second.is_err(),
            if_match: wrong_version.is_err(),
        }
    })
}

/// Another gateway whose S3 is `one_way` away (each direction).
fn distant_gateway(env: &TestEnv, one_way: Duration) -> Gateway {
    let upstream = match env.gateway().embedded() {
        Some(e) => e.endpoint.clone(),
        None => env
            .gateway_config()
            .s3
            .endpoint
            .clone()
            .expect("an S3 endpoint"),
    };
    let host_port = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .expect("an http://host:port endpoint")
        .next()
        .expect("an address for the endpoint");
    let link = delay::Link {
        one_way,
        window: 4 * 1024 * 1024,
        rate: None,
    };
    let proxy = env.rt.block_on(delay::start(upstream, link));
    env.another_gateway(|c| {
        c.s3.endpoint = Some(format!("http://{proxy}"));
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    })
}

fn stor_onto_a_folder_name_stores_nothing(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("d/inner", b"kept");
    let mut r = env.raw_login();
    let (code, text) = r.stor("d", b"small");
    assert_eq!(code, 553, "{text}");
    assert!(text.contains("directory with that name"), "{text}");
    // Larger than a part (5 MiB here): stopped before a multipart upload.
    let big = vec![7u8; 12 * 1024 * 1024];
    let (code, text) = r.stor("d", &big);
    assert_eq!(code, 553, "{text}");
    assert_eq!(env.get("d"), None);
    assert_eq!(env.get("d/inner").as_deref(), Some(&b"kept"[..]));
    assert_eq!(env.open_uploads(), 0);
    // The session goes on.
    assert_eq!(r.stor("d2", b"fine").0, 226);
    assert_eq!(env.get("d2").as_deref(), Some(&b"fine"[..]));
}

fn a_distant_s3_checks_the_name_beside_the_upload(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("d/inner", b"kept");
    env.put("old.txt", b"old");
    let g = distant_gateway(&env, Duration::from_millis(40));
    let m = g.metrics_addr().unwrap();
    // Once the janitor's sweep at start has passed.
    wait_until(|| requests(m).contains_key("ListMultipartUploads"));
    let mut r = Raw::connect(g.ftp_addr());
    r.login("u", "p");
    // Where S3 honours If-None-Match (the embedded store, MinIO, AWS), a
    // small upload is written while its check runs; Garage ignores the
    // condition, so there the gateway waits for the check first.
    let s3 = honours(&env);
    match b {
        Backend::Embedded => assert!(
            s3.if_none_match && s3.if_match,
            "the embedded store enforces If-None-Match and If-Match"
        ),
        Backend::Garage => assert!(
            !s3.if_none_match && !s3.if_match,
            "Garage 2.5 ignores If-None-Match and If-Match"
        ),
        Backend::External => {}
    }
    let mut spent: Requests = cost(m, || assert_eq!(r.stor("new.txt", b"n").0, 226));
    assert_eq!(
        spent,
        table(&[("ListObjectsV2", 1), ("PutObject", 1)]),
        "a new name"
    );
    assert_eq!(env.get("new.txt").as_deref(), Some(&b"n"[..]));

    spent = cost(m, || assert_eq!(r.stor("old.txt", b"new").0, 226));
    let puts = if s3.if_none_match { 2 } else { 1 };
    assert_eq!(
        spent,
        table(&[("ListObjectsV2", 1), ("PutObject", puts)]),
        "an overwrite of a file the gateway never saw (where the condition holds: a 412, then the write)"
    );
    assert_eq!(env.get("old.txt").as_deref(), Some(&b"new"[..]));
    overwrites_of_known_versions(&env, &mut r, m, s3);

    spent = cost(m, || {
        let (code, text) = r.stor("d", b"small");
        assert_eq!(code, 553, "{text}");
    });
    let expected = if s3.if_none_match {
        // Written as a new name while the check ran, then taken back.
        table(&[("DeleteObject", 1), ("ListObjectsV2", 1), ("PutObject", 1)])
    } else {
        // The check, then whether a file shares the folder's name.
        table(&[("HeadObject", 1), ("ListObjectsV2", 1)])
    };
    assert_eq!(spent, expected, "onto a folder name");
    assert_eq!(env.get("d"), None);
    assert_eq!(env.get("d/inner").as_deref(), Some(&b"kept"[..]));
    let listing = crate::budget::listing(&mut r, "NLST");
    let mut names: Vec<&str> = listing.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["d", "gone", "new.txt", "old.txt"]);
    drop(r);
    env.rt.block_on(g.shutdown(Duration::from_secs(1)));
}

/// Where S3 honours `If-Match`, a file whose version the gateway has seen
/// (its own last write, SIZE) is replaced in one request, with no folder
/// check; a version changed or deleted by another tool meanwhile costs one
/// 412 and then goes the ordinary way, folder check included.
fn overwrites_of_known_versions(env: &TestEnv, r: &mut Raw, m: std::net::SocketAddr, s3: Honours) {
    let ordinary = |puts| table(&[("ListObjectsV2", 1), ("PutObject", puts)]);
    let spent = cost(m, || assert_eq!(r.stor("old.txt", b"newer").0, 226));
    let want = if s3.if_match {
        table(&[("PutObject", 1)])
    } else {
        ordinary(1)
    };
    assert_eq!(spent, want, "an overwrite of the gateway's own last write");
    assert_eq!(env.get("old.txt").as_deref(), Some(&b"newer"[..]));

    // Another S3 tool rewrites it: the version the gateway saw is stale.
    env.put("old.txt", b"by another tool");
    let spent = cost(m, || assert_eq!(r.stor("old.txt", b"newest").0, 226));
    let want = if s3.if_match {
        // If-Match meets 412; If-None-Match meets 412 beside the check; the write.
        ordinary(3)
    } else {
        ordinary(1)
    };
    assert_eq!(spent, want, "an overwrite of a version changed elsewhere");
    assert_eq!(env.get("old.txt").as_deref(), Some(&b"newest"[..]));

    // Seen by SIZE, then deleted and made a folder by another tool.
    env.put("gone", b"file");
    r.expect("SIZE gone", 213);
    env.delete("gone");
    env.put("gone/inner", b"in");
    let (code, text) = r.stor("gone", b"x");
    assert_eq!(code, 553, "{text}");
    assert_eq!(env.get("gone"), None);
    assert_eq!(env.get("gone/inner").as_deref(), Some(&b"in"[..]));
}

/// Only another S3 tool can give a file and a folder one name (`both` and
/// `both/inner`): a STOR of that name replaces the file — it does not take
/// a folder's name, it already has it — small or multipart, and the folder
/// keeps its contents.
fn a_name_both_file_and_folder_keeps_its_file_replaceable(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("both", b"file");
    env.put("both/inner", b"in");
    let mut r = env.raw_login();
    let (code, text) = r.stor("both", b"small");
    assert_eq!(code, 226, "{text}");
    assert_eq!(env.get("both").as_deref(), Some(&b"small"[..]));
    let big = crate::harness::pattern(12 * 1024 * 1024, 5);
    let (code, text) = r.stor("both", &big);
    assert_eq!(code, 226, "{text}");
    assert_eq!(env.get("both").map(|v| v.len()), Some(big.len()));
    assert_eq!(env.get("both/inner").as_deref(), Some(&b"in"[..]));
    assert_eq!(env.open_uploads(), 0);
}

/// A folder check that fails after the small upload beside it was written
/// (`If-None-Match: *`, so the name was new) takes that write back: the
/// STOR gets 451 naming S3's error and nothing is left; an existing file
/// (whose conditional write met 412) needs no answer from the check. Only
/// the embedded store can be told to fail one listing, so this runs there.
#[test]
#[cfg_attr(
    not(s3ftpd_test_backend = "embedded"),
    ignore = "backend embedded not selected (S3FTPD_TEST_BACKENDS)"
)]
fn a_failed_check_takes_the_early_write_back() {
    crate::harness::on_backend(Backend::Embedded, |b| {
        let env = TestEnv::start(b, crate::observe::with_metrics);
        let m = env.gateway().metrics_addr().unwrap();
        wait_until(|| requests(m).contains_key("ListMultipartUploads"));
        env.put("old.txt", b"old");
        let store = env.gateway().embedded().expect("embedded store");
        let slow = Duration::from_millis(300);
        let mut r = env.raw_login();
        store.fail_listings_of(Some((&env.key("new.txt/"), slow)));
        let heads = || requests(m).get("HeadObject").copied().unwrap_or(0.0);
        let heads_before = heads();
        let spent = cost(m, || {
            let (code, text) = r.stor("new.txt", b"n");
            assert_eq!(code, 451, "{text}");
            assert!(text.contains("ListObjectsV2: InternalError"), "{text}");
            // A failed upload then learns, in the background, which version
            // the name has now (storage's resume rules): one HeadObject.
            wait_until(|| heads() > heads_before);
        });
        assert_eq!(
            spent,
            table(&[
                ("DeleteObject", 1),
                ("HeadObject", 1),
                ("ListObjectsV2", 1),
                ("PutObject", 1)
            ]),
            "written while the check ran, then taken back"
        );
        assert_eq!(env.get("new.txt"), None);
        // An existing file meets 412: it may be replaced whatever the check says.
        store.fail_listings_of(Some((&env.key("old.txt/"), slow)));
        let (code, text) = r.stor("old.txt", b"new");
        assert_eq!(code, 226, "{text}");
        assert_eq!(env.get("old.txt").as_deref(), Some(&b"new"[..]));
        store.fail_listings_of(None);
        assert_eq!(r.stor("new.txt", b"n").0, 226);
        assert_eq!(env.get("new.txt").as_deref(), Some(&b"n"[..]));
    });
}

/// A folder the gateway listed a moment ago knows its free names, and an
/// upload of one is written beside its check (storage/folders.rs) — on
/// Garage too, which ignores conditional writes. A folder another tool
/// made since under that name is still found by the check: the early
/// write is taken back, 553, the folder untouched.
fn a_name_free_a_moment_ago_is_still_checked(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut r = env.raw_login();
    assert_eq!(r.stor("first.txt", b"1").0, 226);
    // Made by another tool after the gateway listed the folder.
    env.put("late/inner", b"in");
    let (code, text) = r.stor("late", b"small");
    assert_eq!(code, 553, "{text}");
    assert_eq!(env.get("late"), None);
    assert_eq!(env.get("late/inner").as_deref(), Some(&b"in"[..]));
    // Free names are written; a name deleted by the gateway is free again.
    assert_eq!(r.stor("second.txt", b"2").0, 226);
    r.expect("DELE second.txt", 250);
    assert_eq!(r.stor("second.txt", b"3").0, 226);
    assert_eq!(env.get("second.txt").as_deref(), Some(&b"3"[..]));
}

/// On a store that ignores conditional writes (the embedded store's switch,
/// as Garage 2.5): after a listing, a free name and a name known to be a
/// file are written while their folder check runs (two requests in flight
/// at once on a slow store); a name known to be a folder waits for its
/// check and stores nothing.
fn known_names_are_written_beside_their_check(b: Backend) {
    if b != Backend::Embedded {
        // The switch and the count of requests in flight are the embedded
        // store's test hooks; Garage runs the rest of this file.
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let store = env.gateway().embedded().expect("embedded store");
    store.ignore_conditions(true);
    let g = env.another_gateway(|_| {});
    env.put("k/old.txt", b"old");
    env.put("k/sub/inner", b"in");
    let mut r = Raw::connect(g.ftp_addr());
    r.login("u", "p");
    // The first upload starts the gateway's probe of conditional writes:
    // let it finish before requests are counted.
    assert_eq!(r.stor("k/warm.txt", b"w").0, 226);
    std::thread::sleep(Duration::from_secs(1));
    crate::budget::listing(&mut r, "NLST k");
    store.slow_requests(Duration::from_millis(150));
    for (name, body) in [("k/new.txt", &b"new"[..]), ("k/old.txt", &b"replaced"[..])] {
        let _ = store.most_in_flight();
        assert_eq!(r.stor(name, body).0, 226, "{name}");
        assert_eq!(
            store.most_in_flight(),
            2,
            "{name}: the write beside its check"
        );
    }
    let _ = store.most_in_flight();
    assert_eq!(r.stor("k/sub", b"x").0, 553);
    assert_eq!(
        store.most_in_flight(),
        1,
        "a folder's name waits for its check"
    );
    store.slow_requests(Duration::ZERO);
    assert_eq!(env.get("k/new.txt").as_deref(), Some(&b"new"[..]));
    assert_eq!(env.get("k/old.txt").as_deref(), Some(&b"replaced"[..]));
    assert_eq!(env.get("k/sub"), None);
}

backend_tests!(
    known_names_are_written_beside_their_check,
    a_name_free_a_moment_ago_is_still_checked,
    stor_onto_a_folder_name_stores_nothing,
    a_distant_s3_checks_the_name_beside_the_upload,
    a_name_both_file_and_folder_keeps_its_file_replaceable,
);
