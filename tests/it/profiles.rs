//! What a storage profile asks of every write, and how profiles share the
//! gateway: encryption, storage class and ACL on every write path (small
//! and multipart STOR, APPE, resume, MKD, rename of a file and a folder,
//! MFMT), archived objects refused clearly, one S3 connection cap for all
//! profiles, and a profile whose bucket is missing failing only its paths.

use std::io::Write as _;
use std::time::Duration;

use aws_sdk_s3::types::{Permission, StorageClass};

use crate::backend::Backend;
use crate::buckets::{Bucket, add};
use crate::harness::{Raw, TestEnv, pattern, read_all};
use crate::observe::{http_get, scrape, with_metrics};

const KMS_KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const MIB: usize = 1024 * 1024;

/// What the embedded store keeps of every write, as S3 does: the profile's
/// SSE-KMS key, storage class and canned ACL on each object the gateway
/// makes, whichever request made it.
#[test]
fn every_write_carries_the_profiles_headers() {
    let env = TestEnv::start(Backend::Embedded, |c| {
        c.s3.sse = Some("aws:kms".into());
        c.s3.sse_kms_key_id = Some(KMS_KEY.into());
        c.s3.storage_class = Some("STANDARD_IA".into());
        c.s3.acl = Some("public-read".into());
    });
    let bucket = Bucket::of(&env, &env.bucket);
    let mut r = env.raw_login();
    assert_eq!(r.stor("small.txt", b"small").0, 226);
    assert_eq!(r.stor("big.bin", &pattern(12 * MIB, 1)).0, 226);
    assert_eq!(r.stor("grow.txt", b"first").0, 226);
    let mut d = r.epsv();
    r.expect("APPE grow.txt", 150);
    d.write_all(b" second").unwrap();
    drop(d);
    assert_eq!(r.reply().0, 226);
    // A resumed large upload (its head copied part by part).
    let mut d = r.epsv();
    r.expect(&format!("REST {}", 12 * MIB), 350);
    r.expect("STOR big.bin", 150);
    d.write_all(b"tail").unwrap();
    drop(d);
    assert_eq!(r.reply().0, 226);
    r.expect("MKD dir", 257);
    assert_eq!(r.stor("dir/inner.txt", b"in").0, 226);
    r.expect("RNFR small.txt", 350);
    r.expect("RNTO moved.txt", 250);
    r.expect("RNFR dir", 350);
    r.expect("RNTO dir2", 250);
    r.expect("MFMT 20200102030405 grow.txt", 213);
    for key in [
        "moved.txt",
        "big.bin",
        "grow.txt",
        "dir2/",
        "dir2/inner.txt",
    ] {
        let h = bucket.head(key);
        assert_eq!(
            h.server_side_encryption().map(|s| s.as_str()),
            Some("aws:kms"),
            "{key}"
        );
        assert_eq!(h.ssekms_key_id(), Some(KMS_KEY), "{key}");
        assert_eq!(h.storage_class(), Some(&StorageClass::StandardIa), "{key}");
        let acl = env
            .rt
            .block_on(
                env.s3
                    .get_object_acl()
                    .bucket(&env.bucket)
                    .key(env.key(key))
                    .send(),
            )
            .unwrap();
        let public = acl.grants().iter().any(|g| {
            g.permission() == Some(&Permission::Read)
                && g.grantee()
                    .and_then(|e| e.uri())
                    .is_some_and(|u| u.ends_with("/AllUsers"))
        });
        assert!(public, "{key}: {acl:?}");
    }
    assert_eq!(env.get("grow.txt").as_deref(), Some(&b"first second"[..]));
}

/// Garage keeps no SSE-S3 or SSE-KMS (it only does SSE-C) and answers
/// writes without the header: they still succeed, and the storage class
/// is what Garage returns for it.
#[test]
#[cfg_attr(
    not(s3ftpd_test_backend = "garage"),
    ignore = "backend garage not selected (S3FTPD_TEST_BACKENDS)"
)]
fn garage_takes_the_headers_it_keeps() {
    crate::harness::on_backend(Backend::Garage, |b| {
        let env = TestEnv::start(b, |c| {
            c.s3.sse = Some("AES256".into());
            c.s3.storage_class = Some("STANDARD".into());
            c.s3.acl = Some("bucket-owner-full-control".into());
        });
        let mut r = env.raw_login();
        assert_eq!(r.stor("small.txt", b"small").0, 226);
        assert_eq!(r.stor("big.bin", &pattern(6 * MIB, 2)).0, 226);
        r.expect("RNFR small.txt", 350);
        r.expect("RNTO moved.txt", 250);
        r.expect("MKD d", 257);
        r.expect("MFMT 20200102030405 moved.txt", 213);
        let bucket = Bucket::of(&env, &env.bucket);
        for key in ["moved.txt", "big.bin", "d/"] {
            let h = bucket.head(key);
            eprintln!(
                "Garage keeps for {key}: sse {:?}, class {:?}",
                h.server_side_encryption(),
                h.storage_class()
            );
            assert!(
                h.storage_class()
                    .is_none_or(|c| *c == StorageClass::Standard),
                "{key}"
            );
        }
        assert_eq!(env.get("big.bin").unwrap(), pattern(6 * MIB, 2));
    });
}

/// An object in GLACIER or DEEP_ARCHIVE cannot be read or copied until it
/// is restored: RETR, APPE, a resume, a rename and MFMT get a clear 550,
/// and nothing changes.
#[test]
fn archived_objects_are_refused_clearly() {
    let env = TestEnv::start(Backend::Embedded, |_| {});
    for (name, class) in [
        ("cold.bin", StorageClass::Glacier),
        ("deep.bin", StorageClass::DeepArchive),
    ] {
        env.rt
            .block_on(
                env.s3
                    .put_object()
                    .bucket(&env.bucket)
                    .key(env.key(name))
                    .storage_class(class)
                    .body(b"frozen".to_vec().into())
                    .send(),
            )
            .unwrap();
    }
    let before = env.keys_with_etags();
    let mut r = env.raw_login();
    for name in ["cold.bin", "deep.bin"] {
        r.expect(&format!("SIZE {name}"), 213);
        let _d = r.epsv();
        let text = r.expect(&format!("RETR {name}"), 550);
        assert!(text.contains("archived"), "{text}");
        let _d = r.epsv();
        let text = r.expect(&format!("APPE {name}"), 550);
        assert!(text.contains("archived"), "{text}");
        r.expect("REST 6", 350);
        let _d = r.epsv();
        r.expect(&format!("STOR {name}"), 550);
        r.expect(&format!("RNFR {name}"), 350);
        let text = r.expect("RNTO warm.bin", 550);
        assert!(text.contains("archived"), "{text}");
        let text = r.expect(&format!("MFMT 20200102030405 {name}"), 550);
        assert!(text.contains("archived"), "{text}");
    }
    assert_eq!(env.keys_with_etags(), before);
    assert_eq!(env.open_uploads(), 0);
}

/// Three profiles on three clients (three regions of one endpoint) share
/// `s3.max_connections`: with 3 places and S3 answering slowly, 9
/// sessions uploading and listing on all of them never have more than 3
/// requests at the store at once.
#[test]
fn one_connection_cap_for_every_profile() {
    let env = TestEnv::start(Backend::Embedded, |c| {
        c.s3.max_connections = 3;
        add(
            c,
            "{ p1: { bucket: cap-one, region: r1 }, p2: { bucket: cap-two, region: r2 }, p3: { bucket: cap-three, region: r3 } }",
            "",
            &[
                "{ name: one, password: p, storage: p1 }",
                "{ name: two, password: p, storage: p2 }",
                "{ name: three, password: p, storage: p3 }",
            ],
        );
    });
    let store = env.gateway().embedded().unwrap();
    store.slow_requests(Duration::from_millis(40));
    let _ = store.most_in_flight();
    let addr = env.addr;
    let workers: Vec<_> = (0..9)
        .map(|i| {
            std::thread::spawn(move || {
                let user = ["one", "two", "three"][i % 3];
                let mut r = Raw::connect(addr);
                r.login(user, "p");
                for n in 0..3 {
                    assert_eq!(r.stor(&format!("f{i}-{n}"), b"x").0, 226);
                    let d = r.epsv();
                    r.expect("LIST", 150);
                    read_all(d);
                    assert_eq!(r.reply().0, 226);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let most = store.most_in_flight();
    store.slow_requests(Duration::ZERO);
    assert!(most <= 3, "{most} requests at once with 3 places");
    assert!(most >= 2, "the load never overlapped ({most})");
}

/// A profile whose bucket does not answer: the gateway starts (its default
/// bucket answers), paths on that profile answer 451, everything else is
/// served, `/readyz` stays 200 and the profile's gauge says 0;
/// `check-config` exits 1 naming the profile's bucket key.
#[test]
fn a_missing_bucket_fails_only_its_paths() {
    let env = TestEnv::start(Backend::Embedded, |c| {
        with_metrics(c);
        add(
            c,
            "{ gone: { endpoint: 'http://127.0.0.1:9', bucket: nowhere, timeout: 2s } }",
            "",
            &["{ name: m, password: p, mounts: [ { path: /gone, storage: gone } ] }"],
        );
    });
    let metrics = env.gateway().metrics_addr().unwrap();
    let mut r = env.raw();
    r.login("m", "p");
    let _d = r.epsv();
    let (code, text) = r.cmd("LIST /gone");
    assert_eq!(code, 451, "{text}");
    assert_eq!(r.stor("here.txt", b"fine").0, 226);
    assert_eq!(http_get(metrics, "/readyz").0, 200);
    let m = scrape(metrics);
    assert_eq!(
        m.get("s3ftpd_storage_reachable{profile=\"gone\"}"),
        Some(&0.0),
        "{m:?}"
    );
    assert_eq!(
        m.get("s3ftpd_storage_reachable{profile=\"default\"}"),
        Some(&1.0)
    );
    // check-config asks every profile's bucket.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3ftpd.yaml");
    std::fs::write(
        &path,
        "s3: { endpoint: 'http://127.0.0.1:9', bucket: first, timeout: 2s, access_key_id: a, secret_access_key: b }\nstorages: { gone: { bucket: nowhere } }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3ftpd"))
        .args(["check-config", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("`s3.bucket`") && err.contains("`storages.gone.bucket`"),
        "{err}"
    );
}
