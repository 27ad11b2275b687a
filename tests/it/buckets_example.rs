//! README "Many buckets", run as written: the worked config between its
//! `many-buckets` markers, with only what cannot be the same here
//! replaced — bucket A (`default`) on the embedded store, bucket B
//! (`archive`) on Garage made with its CLI, keys and passwords of the
//! test's own, a prefix per run — then partners upload with lftp into
//! their own folders (SSE-KMS and the ACL on every object), and the
//! archive team reads bucket B through its read-only mount with curl.

use std::process::Command;

use s3ftpd::Config;

use crate::backend::{Backend, another_bucket};
use crate::buckets::Bucket;
use crate::harness::{TestEnv, available, run};

/// The README's config block between the `many-buckets` markers.
fn readme_config() -> String {
    crate::harness::readme_yaml("many-buckets")
}

#[test]
#[cfg_attr(
    not(s3ftpd_test_backend = "garage"),
    ignore = "backend garage not selected (S3FTPD_TEST_BACKENDS)"
)]
fn the_worked_example_of_the_readme() {
    if !available("lftp") || !available("curl") {
        return;
    }
    let archive = another_bucket(Backend::Garage, "acme-archive").expect("garage");
    let yaml = readme_config();
    let hash = s3ftpd::auth::hash_password("secret-pw").unwrap();
    let yaml = yaml.replace("$argon2id$...", &hash);
    let env = TestEnv::start(Backend::Embedded, |c| {
        let vars = vec![(
            "ARCHIVE_SECRET_ACCESS_KEY".to_owned(),
            archive.secret_key.clone(),
        )];
        let mut readme = Config::from_yaml(&yaml, vars).expect("the README's config loads");
        // Bucket A: the test's embedded store; bucket B: Garage. A prefix
        // of the test's own on both (Garage is shared between tests).
        readme.s3.endpoint = c.s3.endpoint.clone();
        readme.s3.data_dir.clone_from(&c.s3.data_dir);
        readme.s3.region = "us-east-1".into();
        readme.s3.prefix.clone_from(&c.s3.prefix);
        let b = readme.storages.get_mut("archive").expect("profile archive");
        b.endpoint = Some(archive.endpoint.clone());
        b.region = Some(archive.region.clone());
        b.access_key_id = Some(archive.access_key.clone());
        b.prefix = Some(c.s3.prefix.clone());
        c.s3 = readme.s3;
        c.storages = readme.storages;
        c.groups = readme.groups;
        c.users = readme.users;
    });
    let a = Bucket::of(&env, "acme-partners");
    // Partners: each in a folder of its own, every object encrypted with
    // the key and owned by the bucket's owner.
    let dir = tempfile::tempdir().unwrap();
    for partner in ["acme", "globex"] {
        let file = dir.path().join(format!("{partner}.csv"));
        std::fs::write(&file, format!("invoice of {partner}\n")).unwrap();
        let addr = env.addr;
        let out = run(Command::new("lftp")
            .arg("-u")
            .arg(format!("{partner},secret-pw"))
            .arg("-p")
            .arg(addr.port().to_string())
            .arg("127.0.0.1")
            .arg("-e")
            .arg(format!(
                "set ftp:passive-mode yes; set ftp:ssl-allow no; put {} -o invoice.csv; cls; bye",
                file.display()
            )));
        assert!(out.contains("invoice.csv"), "{out}");
        let key = format!("partners/{partner}/invoice.csv");
        assert_eq!(
            a.get(&key),
            Some(format!("invoice of {partner}\n").into_bytes())
        );
        let h = a.head(&key);
        assert_eq!(
            h.server_side_encryption().map(|s| s.as_str()),
            Some("aws:kms")
        );
        assert!(
            h.ssekms_key_id()
                .unwrap()
                .ends_with("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d")
        );
        let acl = env
            .rt
            .block_on(
                env.s3
                    .get_object_acl()
                    .bucket("acme-partners")
                    .key(a.key(&key))
                    .send(),
            )
            .unwrap();
        assert_eq!(acl.grants().len(), 2, "owner and bucket owner: {acl:?}");
    }
    // The archive team: bucket B through the read-only mount.
    let client = crate::harness::s3_client(&archive);
    let b = Bucket::on(&env, "acme-archive", client.clone());
    env.rt
        .block_on(
            client
                .put_object()
                .bucket("acme-archive")
                .key(b.key("2025/ledger.csv"))
                .body(b"ledger".to_vec().into())
                .send(),
        )
        .unwrap();
    let url = format!("ftp://dana:secret-pw@127.0.0.1:{}", env.addr.port());
    let root = run(Command::new("curl").args(["-sS", &format!("{url}/")]));
    assert!(
        root.lines()
            .any(|l| l.starts_with('d') && l.ends_with("archive")),
        "{root}"
    );
    let year = run(Command::new("curl").args(["-sS", &format!("{url}/archive/2025/")]));
    assert!(year.contains("ledger.csv"), "{year}");
    let got = run(Command::new("curl").args(["-sS", &format!("{url}/archive/2025/ledger.csv")]));
    assert_eq!(got, "ledger");
    let upload = dir.path().join("x.csv");
    std::fs::write(&upload, b"x").unwrap();
    let refused = Command::new("curl")
        .args(["-sS", "-T"])
        .arg(&upload)
        .arg(format!("{url}/archive/"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert_eq!(
        b.keys(),
        vec!["2025/ledger.csv"],
        "nothing written to bucket B"
    );
}
