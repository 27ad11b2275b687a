//! The time index (`src/storage/time_index.rs`): a folder listed once is
//! listed by another gateway — a restart, a replica — with one GetObject
//! instead of a HeadObject per file, shows the same times (MFMT's and
//! rclone's), and never a stale one when another S3 tool changed a file;
//! the gateway's own folder is hidden from FTP and refused.

use std::collections::BTreeSet;
use std::time::Duration;

use s3ftpd::server::Gateway;

use crate::backend::Backend;
use crate::backend_tests;
use crate::budget::{cost, listing, requests, table};
use crate::harness::{Raw, TestEnv, wait_until};

/// A little more than the time a file must be unchanged to be indexed.
const SETTLE: Duration = Duration::from_millis(5500);

/// The MLSD lines of `dir` (a set: one line per entry, order aside).
fn mlsd(r: &mut Raw, dir: &str) -> BTreeSet<String> {
    listing(r, &format!("MLSD {dir}"))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A session on `g`, logged in as `u`, once the janitor's sweep at start
/// (one ListMultipartUploads) has passed.
fn login(g: &Gateway) -> Raw {
    let m = g.metrics_addr().unwrap();
    wait_until(|| requests(m).contains_key("ListMultipartUploads"));
    let mut r = Raw::connect(g.ftp_addr());
    r.login("u", "p");
    r
}

/// The PutObject requests `g` made so far (at start it probes whether S3
/// honours conditional writes: one or two of them).
fn puts(g: &Gateway) -> u32 {
    let m = g.metrics_addr().unwrap();
    requests(m).get("PutObject").map_or(0, |v| {
        // Counts are whole numbers of requests.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = v.round() as u32;
        n
    })
}

/// Waits until `g` has written `n` objects since it had written `base`
/// (the index is written after the listing).
fn wait_for_puts(g: &Gateway, base: u32, n: u32) {
    wait_until(|| puts(g) == base + n);
}

/// What `act` cost in requests on `g`, the index's own write aside: it is
/// made in the background after a listing and may land before or after
/// `act` returns, so it is counted by [`wait_for_puts`] instead.
fn listing_cost(g: &Gateway, act: impl FnOnce()) -> crate::budget::Requests {
    let mut spent = cost(g.metrics_addr().unwrap(), act);
    spent.remove("PutObject");
    spent
}

/// The line of `name` among MLSD lines.
fn fact_line<'a>(lines: &'a BTreeSet<String>, name: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.ends_with(&format!("; {name}")))
        .unwrap_or_else(|| panic!("{name} not listed: {lines:?}"))
}

fn another_gateway_lists_without_a_head_per_file(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    });
    for i in 0..30 {
        env.put(&format!("d/f{i:02}"), b"x");
    }
    // rclone's convention, set by another tool.
    env.rt.block_on(async {
        env.s3
            .put_object()
            .bucket(&env.bucket)
            .key(env.key("d/rclone.txt"))
            .metadata("mtime", "1577934245.5")
            .body(b"r".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    let mut r = env.raw_login();
    r.expect("MFMT 20190304050607 d/f03", 213);
    // Files changed in the last seconds are not indexed (see SETTLE).
    std::thread::sleep(SETTLE);
    let first = mlsd(&mut r, "d");
    assert_eq!(first.len(), 31, "{first:?}");
    assert!(fact_line(&first, "f03").contains("modify=20190304050607"));
    assert!(fact_line(&first, "rclone.txt").contains("modify=20200102030405"));
    // The index is written after the listing, in the background.
    wait_until(|| env.get(".s3ftpd/times/d/.index").is_some());

    let g2 = env.another_gateway(|_| {});
    let mut r2 = login(&g2);
    let m2 = g2.metrics_addr().unwrap();
    let mut second = BTreeSet::new();
    let spent = cost(m2, || second = mlsd(&mut r2, "d"));
    assert_eq!(second, first, "another gateway shows the same times");
    assert_eq!(spent, table(&[("GetObject", 1), ("ListObjectsV2", 1)]));
    // Listed again: its own cache, not even the index.
    let spent = cost(m2, || assert_eq!(mlsd(&mut r2, "d"), first));
    assert_eq!(spent, table(&[("ListObjectsV2", 1)]));
    drop(r2);
    env.rt.block_on(g2.shutdown(Duration::from_secs(1)));

    // Another S3 tool changes two files: a new time on one (a metadata
    // copy, as `rclone touch` does), new bytes in the other.
    env.rt.block_on(async {
        env.s3
            .copy_object()
            .bucket(&env.bucket)
            .key(env.key("d/f05"))
            .copy_source(format!("{}/{}", env.bucket, env.key("d/f05")))
            .metadata("mtime", "1262304000")
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .send()
            .await
            .unwrap();
    });
    env.put("d/f06", b"new bytes");
    std::thread::sleep(SETTLE);
    let g3 = env.another_gateway(|_| {});
    let mut r3 = login(&g3);
    let base = puts(&g3);
    let mut third = BTreeSet::new();
    let spent = listing_cost(&g3, || third = mlsd(&mut r3, "d"));
    assert!(
        fact_line(&third, "f05").contains("modify=20100101000000"),
        "{third:?}"
    );
    assert!(fact_line(&third, "f06").contains("size=9;"));
    assert!(fact_line(&third, "f03").contains("modify=20190304050607"));
    assert_eq!(
        spent,
        table(&[("GetObject", 1), ("HeadObject", 2), ("ListObjectsV2", 1)]),
        "only the two changed files are looked up"
    );
    // It brings the index up to date for the next one.
    wait_for_puts(&g3, base, 1);
    drop(r3);
    env.rt.block_on(g3.shutdown(Duration::from_secs(1)));
    let g4 = env.another_gateway(|_| {});
    let mut r4 = login(&g4);
    let spent = cost(g4.metrics_addr().unwrap(), || {
        assert_eq!(mlsd(&mut r4, "d"), third);
    });
    assert_eq!(spent, table(&[("GetObject", 1), ("ListObjectsV2", 1)]));
    drop(r4);
    env.rt.block_on(g4.shutdown(Duration::from_secs(1)));
}

/// A gateway that keeps running keeps the index current without asking S3
/// for it again: files listed while too fresh to index are written by a
/// later listing, a new upload costs one lookup.
fn a_running_gateway_keeps_the_index_current(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    });
    for i in 0..10 {
        env.put(&format!("e/f{i}"), b"x");
    }
    let g = env.gateway();
    let m = g.metrics_addr().unwrap();
    wait_until(|| requests(m).contains_key("ListMultipartUploads"));
    let base = puts(g);
    let mut r = env.raw_login();
    // Too fresh: shown, looked up, not indexed.
    let spent = cost(m, || assert_eq!(mlsd(&mut r, "e").len(), 10));
    assert_eq!(
        spent,
        table(&[("GetObject", 1), ("HeadObject", 10), ("ListObjectsV2", 1)])
    );
    std::thread::sleep(SETTLE);
    let spent = listing_cost(g, || assert_eq!(mlsd(&mut r, "e").len(), 10));
    assert_eq!(spent, table(&[("ListObjectsV2", 1)]), "from memory");
    wait_for_puts(g, base, 1);
    // A new file through FTP: one lookup, then the index is rewritten.
    let d = r.epsv();
    r.expect("STOR e/new", 150);
    drop(d);
    assert_eq!(r.reply().0, 226);
    r.expect("MFMT 20190304050607 e/new", 213);
    std::thread::sleep(SETTLE);
    let spent = listing_cost(g, || {
        let lines = mlsd(&mut r, "e");
        assert!(fact_line(&lines, "new").contains("modify=20190304050607"));
    });
    assert_eq!(
        spent,
        table(&[("GetObject", 1), ("HeadObject", 1), ("ListObjectsV2", 1)])
    );
    // Its STOR was one PutObject: the index makes three.
    wait_for_puts(g, base, 3);
    let g2 = env.another_gateway(|_| {});
    let mut r2 = login(&g2);
    let spent = cost(g2.metrics_addr().unwrap(), || {
        let lines = mlsd(&mut r2, "e");
        assert_eq!(lines.len(), 11);
        assert!(fact_line(&lines, "new").contains("modify=20190304050607"));
    });
    assert_eq!(spent, table(&[("GetObject", 1), ("ListObjectsV2", 1)]));
    drop(r2);
    env.rt.block_on(g2.shutdown(Duration::from_secs(1)));
}

/// An index that is not one (damaged, or written by something else) is
/// ignored — the files are looked up — and replaced by a good one.
fn a_damaged_index_is_ignored_and_replaced(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    });
    for i in 0..5 {
        env.put(&format!("g/f{i}"), b"x");
    }
    env.put(
        ".s3ftpd/times/g/.index",
        b"s3ftpd time index v1\nzz not hex\n",
    );
    std::thread::sleep(SETTLE);
    let m = env.gateway().metrics_addr().unwrap();
    wait_until(|| requests(m).contains_key("ListMultipartUploads"));
    let mut r = env.raw_login();
    let spent = listing_cost(env.gateway(), || assert_eq!(mlsd(&mut r, "g").len(), 5));
    assert_eq!(
        spent,
        table(&[("GetObject", 1), ("HeadObject", 5), ("ListObjectsV2", 1)])
    );
    wait_until(|| {
        env.get(".s3ftpd/times/g/.index")
            .is_some_and(|b| String::from_utf8_lossy(&b).lines().count() == 6)
    });
    let g2 = env.another_gateway(|_| {});
    let mut r2 = login(&g2);
    let spent = cost(g2.metrics_addr().unwrap(), || {
        assert_eq!(mlsd(&mut r2, "g").len(), 5);
    });
    assert_eq!(spent, table(&[("GetObject", 1), ("ListObjectsV2", 1)]));
    drop(r2);
    env.rt.block_on(g2.shutdown(Duration::from_secs(1)));
}

/// RMD and a folder's rename take the folder's index (and those below it) along.
fn removed_and_renamed_folders_leave_no_index(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("r/a", b"a");
    env.put("r/sub/b", b"b");
    env.put("gone/x", b"x");
    std::thread::sleep(SETTLE);
    let mut r = env.raw_login();
    let indexes = [
        ".s3ftpd/times/r/.index",
        ".s3ftpd/times/r/sub/.index",
        ".s3ftpd/times/gone/.index",
    ];
    for dir in ["r", "r/sub", "gone"] {
        listing(&mut r, &format!("LIST {dir}"));
    }
    for index in indexes {
        wait_until(|| env.get(index).is_some());
    }
    r.expect("DELE gone/x", 250);
    r.expect("RMD gone", 250);
    assert_eq!(env.get(indexes[2]), None, "RMD removed the index");
    r.expect("RNFR r", 350);
    r.expect("RNTO r2", 250);
    assert_eq!(env.get(indexes[0]), None, "the renamed folder's index");
    assert_eq!(env.get(indexes[1]), None, "and its subfolder's");
    assert_eq!(env.get("r2/sub/b").as_deref(), Some(&b"b"[..]));
    // The new folder lists with the right times and gets an index of its own.
    let lines = listing(&mut r, "LIST r2");
    assert!(lines.contains(" a"), "{lines}");
}

fn the_gateways_folder_is_hidden_and_refused(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("top.txt", b"t");
    env.put("d/a", b"a");
    std::thread::sleep(SETTLE);
    let mut r = env.raw_login();
    listing(&mut r, "LIST /");
    listing(&mut r, "LIST d");
    wait_until(|| env.get(".s3ftpd/times/.index").is_some());
    wait_until(|| env.get(".s3ftpd/times/d/.index").is_some());
    for cmd in ["NLST /", "LIST /", "MLSD /"] {
        let text = listing(&mut r, cmd);
        assert!(!text.contains(".s3ftpd"), "{cmd}: {text}");
        assert!(text.contains("top.txt"), "{cmd}: {text}");
    }
    for (cmd, code) in [
        ("CWD /.s3ftpd", 550),
        ("CWD .s3ftpd/times", 550),
        ("SIZE .s3ftpd/times/.index", 550),
        ("MDTM /.s3ftpd/times/d/.index", 550),
        ("DELE .s3ftpd/times/.index", 550),
        ("RMD .s3ftpd", 550),
        ("MKD .s3ftpd", 550),
        ("RNFR .s3ftpd", 550),
        ("MLST .s3ftpd", 550),
    ] {
        let (got, text) = r.cmd(cmd);
        assert_eq!(got, code, "{cmd}: {text}");
    }
    let d = r.epsv();
    let (got, text) = r.cmd("RETR .s3ftpd/times/.index");
    assert_eq!(got, 550, "{text}");
    drop(d);
    let d = r.epsv();
    let (got, text) = r.cmd("STOR .s3ftpd/x");
    assert_eq!(got, 550, "{text}");
    drop(d);
    assert!(env.get(".s3ftpd/x").is_none());
    assert!(env.get(".s3ftpd/times/.index").is_some(), "nothing deleted");

    // Below the root of s3.prefix, the name is an ordinary one.
    let mut alice = env.raw();
    alice.login("alice", "alicepw");
    alice.expect("MKD .s3ftpd", 257);
    alice.expect("CWD .s3ftpd", 250);

    // The index never keeps a folder alive: emptied by another tool, it is gone.
    env.rt.block_on(async {
        env.s3
            .delete_object()
            .bucket(&env.bucket)
            .key(env.key("d/a"))
            .send()
            .await
            .unwrap();
    });
    r.expect("CWD d", 550);
    let names = listing(&mut r, "NLST /");
    assert!(
        !names.lines().any(|l| l.trim_start_matches('/') == "d"),
        "{names}"
    );
}

backend_tests!(
    another_gateway_lists_without_a_head_per_file,
    a_running_gateway_keeps_the_index_current,
    a_damaged_index_is_ignored_and_replaced,
    removed_and_renamed_folders_leave_no_index,
    the_gateways_folder_is_hidden_and_refused
);
