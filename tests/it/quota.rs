//! Quotas on a home and on a mount, on the embedded store and Garage: an
//! upload past the room stops before its commit (552), the old object
//! byte-identical and no multipart upload left; a folder already full
//! refuses at STOR; users sharing a root share its quota; usage follows
//! objects other tools put and delete within `limits.quota_rescan`; with
//! `keep_partial` nothing past the quota is kept, and what is kept counts.

use std::io::Write as _;
use std::time::Duration;

use crate::backend::Backend;
use crate::backend_tests;
use crate::buckets::add;
use crate::harness::{Raw, TestEnv, pattern, wait_until};

const MIB: usize = 1024 * 1024;

fn site_quota(r: &mut Raw) -> String {
    let (code, text) = r.cmd("SITE QUOTA");
    assert_eq!(code, 200, "{text}");
    text
}

/// Asks `SITE QUOTA` until it says `want` (10 s at most).
fn wait_for_quota(r: &mut Raw, want: &str) {
    for _ in 0..200 {
        if site_quota(r).contains(want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("SITE QUOTA never said {want:?}: {}", site_quota(r));
}

fn an_upload_past_the_quota_changes_nothing(b: Backend) {
    let env = TestEnv::start(b, |c| {
        add(
            c,
            "",
            "",
            &["{ name: q, password: pw, home: /q, quota: { bytes: 12MiB, files: 3 } }"],
        );
    });
    let old = pattern(MIB, 1);
    env.put("q/old.bin", &old);
    let mut r = env.raw();
    r.login("q", "pw");
    let text = site_quota(&mut r);
    assert!(
        text.contains("1048576 of 12582912 bytes, 1 of 3 files"),
        "{text}"
    );
    let before = env.keys_with_etags();
    // 20 MiB over the 1 MiB file: the room is 12 MiB (11 free + the 1 it
    // replaces); two 5 MiB parts go to S3 before the limit is passed.
    let (code, text) = r.stor("old.bin", &pattern(20 * MIB, 2));
    assert_eq!(code, 552, "{text}");
    assert_eq!(
        env.get("q/old.bin").as_deref(),
        Some(&old[..]),
        "the old object, byte for byte"
    );
    assert_eq!(env.keys_with_etags(), before);
    wait_until(|| env.open_uploads() == 0);
    // Within the room: fine, and counted at once.
    assert_eq!(r.stor("a.bin", &pattern(3 * MIB, 3)).0, 226);
    let text = site_quota(&mut r);
    assert!(
        text.contains("4194304 of 12582912 bytes, 2 of 3 files"),
        "{text}"
    );
    // The files limit: the third file is fine, a fourth refused at STOR
    // (no 150), replacing one is not a new file.
    assert_eq!(r.stor("b.bin", b"b").0, 226);
    let (code, text) = r.stor("c.bin", b"c");
    assert_eq!(code, 552, "{text}");
    assert!(text.contains("3 of 3 files"), "{text}");
    assert_eq!(r.stor("b.bin", b"bb").0, 226);
    assert!(env.get("q/c.bin").is_none());
    // A replacement fits when the bytes it frees make the room: 10 MiB
    // over the 3 MiB file where 8 MiB are free (the replaced file's size
    // is looked up beside the upload, not before it).
    let big = pattern(10 * MIB, 6);
    assert_eq!(r.stor("a.bin", &big).0, 226);
    assert_eq!(env.get("q/a.bin").as_deref(), Some(&big[..]));
    let text = site_quota(&mut r);
    assert!(
        text.contains("11534338 of 12582912 bytes, 3 of 3 files"),
        "{text}"
    );
    // STAT shows the usage too.
    let (code, text) = r.cmd("STAT");
    assert_eq!(code, 211, "{text}");
    assert!(text.contains("of 12582912 bytes"), "{text}");
    // Deleting frees room.
    r.expect("DELE b.bin", 250);
    assert_eq!(r.stor("c.bin", b"c").0, 226);
}

/// Two uploads at once under one quota take their bytes from the same
/// room: 7 MiB each where 11 MiB are free cannot both be stored.
fn two_uploads_cannot_both_take_the_last_room(b: Backend) {
    let env = TestEnv::start(b, |c| {
        add(
            c,
            "",
            "",
            &["{ name: q, password: pw, home: /q, quota: { bytes: 12MiB } }"],
        );
    });
    env.put("q/old.bin", &pattern(MIB, 1));
    let sessions: Vec<_> = (0..2)
        .map(|n| {
            let mut r = env.raw();
            r.login("q", "pw");
            let d = r.epsv();
            r.expect(&format!("STOR new{n}.bin"), 150);
            (r, d)
        })
        .collect();
    let threads: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(n, (mut r, mut d))| {
            std::thread::spawn(move || {
                let body = pattern(7 * MIB, 10 + n as u64);
                for chunk in body.chunks(256 * 1024) {
                    if d.write_all(chunk).is_err() {
                        break;
                    }
                }
                drop(d);
                r.reply().0
            })
        })
        .collect();
    let codes: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(codes.contains(&552), "{codes:?}");
    let stored: usize = (0..2)
        .filter_map(|n| env.get(&format!("q/new{n}.bin")))
        .map(|b| b.len())
        .sum();
    assert!(stored + MIB <= 12 * MIB, "{stored} bytes stored");
    wait_until(|| env.open_uploads() == 0);
}

/// A folder already over its quota (filled behind the gateway's back)
/// refuses at STOR, before any byte; a mount's quota is its own; two
/// accounts on one root share its count.
fn full_folders_mounts_and_shared_roots(b: Backend) {
    let env = TestEnv::start(b, |c| {
        add(
            c,
            "",
            "",
            &[
                "{ name: a, password: pw, home: /shared, quota: { bytes: 1MiB }, mounts: [ { path: /box, prefix: box, quota: { files: 1 } } ] }",
                "{ name: b, password: pw, home: /shared, quota: { bytes: 1MiB } }",
            ],
        );
    });
    env.put("shared/big.bin", &pattern(MIB, 4));
    let mut a = env.raw();
    a.login("a", "pw");
    let (code, text) = a.cmd("STAT");
    assert_eq!(code, 211, "{text}");
    let mut d = a.epsv();
    let (code, text) = a.cmd("STOR one-byte.txt");
    assert_eq!(code, 552, "{text}");
    assert!(text.contains("quota exceeded"), "{text}");
    let _ = d.write_all(b"x");
    // The mount counts its own folder only.
    assert_eq!(a.stor("/box/first.txt", b"1").0, 226);
    assert_eq!(env.get("box/first.txt").as_deref(), Some(&b"1"[..]));
    assert_eq!(a.stor("/box/second.txt", b"2").0, 552);
    // `b` shares the root: deleting the big file frees room for both.
    let mut bb = env.raw();
    bb.login("b", "pw");
    bb.expect("DELE big.bin", 250);
    assert_eq!(a.stor("small.txt", b"small").0, 226);
    let text = site_quota(&mut bb);
    assert!(text.contains("5 of 1048576 bytes"), "{text}");
}

/// Objects put and deleted by another tool show in the usage once the
/// count is older than `quota_rescan` (1 s here) and a command asks: the
/// one asking sees the old figure and starts the count, the next ones the
/// new figure.
fn usage_follows_other_tools(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.limits.quota_rescan = s3ftpd::config::Dur(Duration::from_secs(1));
        add(
            c,
            "",
            "",
            &["{ name: q, password: pw, home: /q, quota: { bytes: 1MiB } }"],
        );
    });
    env.put("q/first.bin", &[1; 1000]);
    let mut r = env.raw();
    r.login("q", "pw");
    assert!(site_quota(&mut r).contains("1000 of 1048576 bytes, 1 files"));
    env.put("q/outside.bin", &[2; 500]);
    env.delete("q/first.bin");
    let converged = std::time::Instant::now();
    wait_for_quota(&mut r, "500 of 1048576 bytes, 1 files");
    assert!(converged.elapsed() < Duration::from_secs(5));
    // A file put outside that fills the quota is seen the same way.
    env.put("q/filler.bin", &pattern(MIB, 5));
    wait_for_quota(&mut r, "1049076 of 1048576 bytes");
    let (code, _) = r.cmd("STOR late.txt");
    assert_eq!(code, 552);
}

/// `keep_partial`: an upload interrupted within the room is kept and then
/// counted; one past the room is never kept.
fn kept_partial_uploads_and_the_quota(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.uploads.keep_partial = true;
        c.limits.quota_rescan = s3ftpd::config::Dur(Duration::from_secs(1));
        add(
            c,
            "",
            "",
            &["{ name: q, password: pw, home: /q, quota: { bytes: 2MiB } }"],
        );
    });
    let mut r = env.raw();
    r.login("q", "pw");
    assert_eq!(r.stor("past.bin", &pattern(3 * MIB, 6)).0, 552);
    assert!(
        env.get("q/past.bin").is_none(),
        "nothing past the quota is kept"
    );
    // Interrupted: the client closes the data connection with a reset.
    let d = r.epsv();
    r.expect("STOR cut.bin", 150);
    let mut d = d;
    d.write_all(&pattern(300_000, 7)).unwrap();
    // Read by the gateway before the reset (which would drop what its
    // socket still holds).
    std::thread::sleep(Duration::from_millis(500));
    let s = socket2::SockRef::from(&d);
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(d);
    let (code, _) = r.reply();
    assert!(code >= 400, "{code}");
    wait_until(|| env.get("q/cut.bin").is_some());
    let kept = env.get("q/cut.bin").unwrap().len();
    wait_for_quota(&mut r, &format!("{kept} of 2097152 bytes"));
}

backend_tests!(
    an_upload_past_the_quota_changes_nothing,
    two_uploads_cannot_both_take_the_last_room,
    full_folders_mounts_and_shared_roots,
    usage_follows_other_tools,
    kept_partial_uploads_and_the_quota
);
