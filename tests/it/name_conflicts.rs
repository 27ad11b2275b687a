//! A file never takes a folder's name, and checking that costs a small
//! STOR no round trip (`src/storage/folder_check.rs`): the check runs beside
//! the upload. Tried with S3 on loopback and 40 ms away (behind the benches'
//! delaying proxy), where a small upload is done long before its check.

use std::io::Write;
use std::time::Duration;

use s3ftpd::server::Gateway;

use crate::backend::Backend;
use crate::backend_tests;
use crate::budget::{Requests, cost, requests, table};
use crate::delay;
use crate::harness::{Raw, TestEnv, wait_until};

/// STOR of `body` through `r`: the final reply (after a 150).
fn stor(r: &mut Raw, name: &str, body: &[u8]) -> (u16, String) {
    let mut d = r.epsv();
    r.expect(&format!("STOR {name}"), 150);
    // The gateway may refuse before it has read everything: ignore a reset.
    let _ = d.write_all(body);
    drop(d);
    r.reply()
}

/// Whether the S3 server refuses a second `If-None-Match: *` write of one
/// key (asked here directly, not through the gateway).
fn honours_if_none_match(env: &TestEnv) -> bool {
    env.rt.block_on(async {
        let put = || {
            env.s3
                .put_object()
                .bucket(&env.bucket)
                .key(env.key("if-none-match-probe"))
                .if_none_match("*")
                .body(b"p".to_vec().into())
                .send()
        };
        put().await.expect("first conditional write");
        let second = put().await;
        env.s3
            .delete_object()
            .bucket(&env.bucket)
            .key(env.key("if-none-match-probe"))
            .send()
            .await
            .expect("delete the probe");
        second.is_err()
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
    let (code, text) = stor(&mut r, "d", b"small");
    assert_eq!(code, 553, "{text}");
    assert!(text.contains("directory with that name"), "{text}");
    // Larger than a part (5 MiB here): stopped before a multipart upload.
    let big = vec![7u8; 12 * 1024 * 1024];
    let (code, text) = stor(&mut r, "d", &big);
    assert_eq!(code, 553, "{text}");
    assert_eq!(env.get("d"), None);
    assert_eq!(env.get("d/inner").as_deref(), Some(&b"kept"[..]));
    assert_eq!(env.open_uploads(), 0);
    // The session goes on.
    assert_eq!(stor(&mut r, "d2", b"fine").0, 226);
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
    let honours = honours_if_none_match(&env);
    match b {
        Backend::Embedded => assert!(honours, "the embedded store enforces If-None-Match"),
        Backend::Garage => assert!(!honours, "Garage 2.5 ignores If-None-Match"),
        Backend::External => {}
    }
    let mut spent: Requests = cost(m, || assert_eq!(stor(&mut r, "new.txt", b"n").0, 226));
    assert_eq!(
        spent,
        table(&[("ListObjectsV2", 1), ("PutObject", 1)]),
        "a new name"
    );
    assert_eq!(env.get("new.txt").as_deref(), Some(&b"n"[..]));

    spent = cost(m, || assert_eq!(stor(&mut r, "old.txt", b"new").0, 226));
    let puts = if honours { 2 } else { 1 };
    assert_eq!(
        spent,
        table(&[("ListObjectsV2", 1), ("PutObject", puts)]),
        "an overwrite (where the condition holds: a 412, then the write)"
    );
    assert_eq!(env.get("old.txt").as_deref(), Some(&b"new"[..]));

    spent = cost(m, || {
        let (code, text) = stor(&mut r, "d", b"small");
        assert_eq!(code, 553, "{text}");
    });
    let expected = if honours {
        // Written as a new name while the check ran, then taken back.
        table(&[("DeleteObject", 1), ("ListObjectsV2", 1), ("PutObject", 1)])
    } else {
        table(&[("ListObjectsV2", 1)])
    };
    assert_eq!(spent, expected, "onto a folder name");
    assert_eq!(env.get("d"), None);
    assert_eq!(env.get("d/inner").as_deref(), Some(&b"kept"[..]));
    let listing = crate::budget::listing(&mut r, "NLST");
    let mut names: Vec<&str> = listing.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["d", "new.txt", "old.txt"]);
    drop(r);
    env.rt.block_on(g.shutdown(Duration::from_secs(1)));
}

/// A folder check that fails after the small upload beside it was written
/// (`If-None-Match: *`, so the name was new) takes that write back: the
/// STOR gets 451 naming S3's error, nothing is left, and an existing file
/// (whose conditional write met 412) keeps its previous version. Only the
/// embedded store can be told to fail one listing, so this runs there.
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
        let spent = cost(m, || {
            let (code, text) = stor(&mut r, "new.txt", b"n");
            assert_eq!(code, 451, "{text}");
            assert!(text.contains("ListObjectsV2: InternalError"), "{text}");
        });
        assert_eq!(
            spent,
            table(&[("DeleteObject", 1), ("ListObjectsV2", 1), ("PutObject", 1)]),
            "written while the check ran, then taken back"
        );
        assert_eq!(env.get("new.txt"), None);
        store.fail_listings_of(Some((&env.key("old.txt/"), slow)));
        let (code, text) = stor(&mut r, "old.txt", b"new");
        assert_eq!(code, 451, "{text}");
        assert_eq!(env.get("old.txt").as_deref(), Some(&b"old"[..]));
        store.fail_listings_of(None);
        assert_eq!(stor(&mut r, "new.txt", b"n").0, 226);
        assert_eq!(env.get("new.txt").as_deref(), Some(&b"n"[..]));
    });
}

backend_tests!(
    stor_onto_a_folder_name_stores_nothing,
    a_distant_s3_checks_the_name_beside_the_upload,
);
