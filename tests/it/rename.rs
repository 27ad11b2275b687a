//! RNFR/RNTO of files and whole directories: server-side copies, then deletes.

use std::collections::BTreeMap;

use futures::StreamExt;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{TestEnv, pattern};

impl TestEnv {
    /// Writes many small objects directly to S3, 32 at a time.
    fn put_many(&self, keys: &[String]) {
        self.rt.block_on(async {
            futures::stream::iter(keys)
                .map(|rel| async move {
                    self.s3
                        .put_object()
                        .bucket(&self.bucket)
                        .key(self.key(rel))
                        .body(rel.as_bytes().to_vec().into())
                        .send()
                        .await
                        .expect("put_object");
                })
                .buffer_unordered(32)
                .collect::<Vec<()>>()
                .await;
        });
    }

    /// Relative key → ETag of every object under `dir/`, keys made relative to `dir/`.
    fn tree(&self, dir: &str) -> BTreeMap<String, String> {
        let prefix = format!("{dir}/");
        self.keys_with_etags()
            .into_iter()
            .filter_map(|(k, e)| Some((k.strip_prefix(&prefix)?.to_owned(), e)))
            .collect()
    }
}

fn rename_file_keeps_bytes_and_metadata(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let body = pattern(6 * 1024 * 1024 + 5, 50);
    env.put("a/f.bin", &body);
    let mut r = env.raw_login();
    r.expect("MFMT 20200102030405 a/f.bin", 213);
    r.expect("RNFR a/f.bin", 350);
    r.expect("RNTO b/g.bin", 250);
    assert_eq!(env.get("a/f.bin"), None);
    assert!(env.get("b/g.bin").unwrap() == body);
    assert_eq!(
        r.expect("MDTM b/g.bin", 213).trim(),
        "213 20200102030405",
        "x-amz-meta-mtime travels with the file"
    );
    // The folder the file left stays visible.
    assert!(env.keys().contains(&"a/".to_owned()), "{:?}", env.keys());
    // Onto an existing file: replaced. Onto a directory: refused.
    env.put("c.txt", b"old");
    r.expect("RNFR b/g.bin", 350);
    r.expect("RNTO c.txt", 250);
    assert!(env.get("c.txt").unwrap() == body);
    r.expect("MKD d", 257);
    r.expect("RNFR c.txt", 350);
    r.expect("RNTO d", 553);
    assert!(env.get("c.txt").unwrap() == body);
    r.expect("RNFR nothing.txt", 550);
    r.expect("RNTO x", 503);
}

/// 2,500 keys, four levels deep, move intact; the session outlives its
/// idle timeout while the rename runs.
fn rename_dir_with_2500_keys(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.limits.idle_timeout = s3ftpd::config::Dur(std::time::Duration::from_secs(1));
    });
    let keys: Vec<String> = (0..2500)
        .map(|i| format!("src/l{}/m{}/n{}/f{i:04}.txt", i % 5, i % 7, i % 3))
        .chain([
            "src/".to_owned(),
            "src/l0/".to_owned(),
            "other/keep.txt".to_owned(),
        ])
        .collect();
    env.put_many(&keys);
    let before = env.tree("src");
    assert_eq!(before.len(), 2502);
    let mut r = env.raw_login();
    r.expect("RNFR src", 350);
    let started = std::time::Instant::now();
    let text = r.expect("RNTO dst/renamed", 250);
    eprintln!(
        "{}: renamed 2,500 keys in {:?}",
        b.name(),
        started.elapsed()
    );
    assert!(text.contains("2502 objects"), "{text}");
    // At once: the 1 s idle timeout runs again from the reply, and the
    // checks below take longer than that against a remote store.
    r.expect("CWD /dst/renamed/l1/m1/n1", 250);
    assert!(env.tree("src").is_empty(), "nothing left under the source");
    assert_eq!(
        env.tree("dst/renamed"),
        before,
        "every key moved, bytes unchanged"
    );
    assert_eq!(env.get("other/keep.txt").unwrap(), b"other/keep.txt");
    assert_eq!(
        env.get("dst/renamed/l4/m0/n0/f2499.txt").unwrap(),
        b"src/l4/m0/n0/f2499.txt"
    );
    assert_eq!(env.open_uploads(), 0);
}

fn rename_dir_refusals_change_nothing(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put_many(&[
        "d/x.txt".into(),
        "d/sub/y.txt".into(),
        "e/z.txt".into(),
        "f.txt".into(),
    ]);
    let before = env.keys();
    let mut r = env.raw_login();
    for (to, code) in [
        ("d/sub/inner", 553),
        ("d/new", 553),
        ("e", 550),
        ("f.txt", 550),
        ("/", 550),
    ] {
        r.expect("RNFR d", 350);
        let text = r.expect(&format!("RNTO {to}"), code);
        assert!(!text.is_empty());
    }
    r.expect("RNFR /", 550);
    let mut ro = env.raw();
    ro.login("ro", "p");
    ro.expect("RNFR d", 550);
    assert_eq!(env.keys(), before);
    // Same name: nothing to do.
    r.expect("RNFR d", 350);
    r.expect("RNTO /d/", 250);
    assert_eq!(env.keys(), before);
}

/// A copy fails half way (injected in the embedded store): the copies made
/// are removed and the source is whole. Garage and external servers offer
/// no way to make one copy fail, so this runs on the embedded store only.
fn failed_dir_rename_leaves_the_source_whole(b: Backend) {
    if b != Backend::Embedded {
        eprintln!(
            "failure injection needs the embedded store; skipped on {}",
            b.name()
        );
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let keys: Vec<String> = (0..300)
        .map(|i| format!("src/s{}/f{i:03}", i % 4))
        .collect();
    env.put_many(&keys);
    let before = env.tree("src");
    let store = env.gateway().embedded().expect("embedded store");
    store.fail_copies_of(Some("f150"));
    let mut r = env.raw_login();
    r.expect("RNFR src", 350);
    let text = r.expect("RNTO dst", 451);
    assert!(text.contains("nothing was changed"), "{text}");
    assert_eq!(env.tree("src"), before, "source whole");
    assert!(env.tree("dst").is_empty(), "no partial copy left");
    store.fail_copies_of(None);
    r.expect("RNFR src", 350);
    r.expect("RNTO dst", 250);
    assert_eq!(env.tree("dst"), before);
}

backend_tests!(
    rename_file_keeps_bytes_and_metadata,
    rename_dir_with_2500_keys,
    rename_dir_refusals_change_nothing,
    failed_dir_rename_leaves_the_source_whole,
);
