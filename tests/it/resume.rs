//! Resume and append on S3 without downloading: `REST n` + STOR and APPE.

use std::io::Write;
use std::net::Shutdown;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{TestEnv, pattern, wait_until};

const MIB: usize = 1024 * 1024;

/// Heads both under the 5 MiB part minimum (read and re-sent) and above it
/// (server-side UploadPartCopy), with tails both smaller and larger than a part.
fn rest_stor_at_the_exact_size_resumes(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut f = env.ftp("u", "p");
    for (i, (head, tail)) in [
        (1000, 2000),
        (3 * MIB, 4 * MIB),
        (6 * MIB, 1000),
        (6 * MIB, 11 * MIB),
    ]
    .into_iter()
    .enumerate()
    {
        let whole = pattern(head + tail, 30 + i as u64);
        let name = format!("r{i}.bin");
        env.put(&name, &whole[..head]);
        f.resume_transfer(head).unwrap();
        f.put_file(&name, &mut &whole[head..]).unwrap();
        assert!(
            env.get(&name).unwrap() == whole,
            "head {head} + tail {tail}"
        );
        assert_eq!(f.size(&name).unwrap(), head + tail);
    }
    assert_eq!(env.open_uploads(), 0);
}

fn wrong_rest_offset_is_refused_and_changes_nothing(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let old = pattern(6 * MIB, 40);
    env.put("f.bin", &old);
    let before = env.etag("f.bin");
    let mut r = env.raw_login();
    for n in [old.len() - 1, old.len() + 1, 1] {
        let _d = r.epsv();
        r.expect(&format!("REST {n}"), 350);
        let text = r.expect("STOR f.bin", 554);
        assert!(text.contains("does not match the size"), "{text}");
    }
    let _d = r.epsv();
    r.expect("REST 10", 350);
    let text = r.expect("STOR missing.bin", 554);
    assert!(text.contains("does not exist"), "{text}");
    assert_eq!(env.etag("f.bin"), before);
    assert!(env.get("f.bin").unwrap() == old);
    assert_eq!(env.get("missing.bin"), None);
    // REST 0 + STOR is an ordinary overwrite.
    let mut f = env.ftp("u", "p");
    f.resume_transfer(0).unwrap();
    f.put_file("f.bin", &mut &b"fresh"[..]).unwrap();
    assert_eq!(env.get("f.bin").unwrap(), b"fresh");
    assert_eq!(env.open_uploads(), 0);
}

fn appe_appends_and_creates(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut f = env.ftp("u", "p");
    f.append_file("log.txt", &mut &b"one\n"[..]).unwrap();
    assert_eq!(
        env.get("log.txt").unwrap(),
        b"one\n",
        "APPE creates a missing file"
    );
    f.append_file("log.txt", &mut &b"two\n"[..]).unwrap();
    assert_eq!(env.get("log.txt").unwrap(), b"one\ntwo\n");
    let big = pattern(7 * MIB, 41);
    f.append_file("log.txt", &mut &big[..]).unwrap();
    f.append_file("log.txt", &mut &b"end"[..]).unwrap();
    let mut want = b"one\ntwo\n".to_vec();
    want.extend_from_slice(&big);
    want.extend_from_slice(b"end");
    assert!(env.get("log.txt").unwrap() == want);
    // Appending nothing leaves the object untouched (same ETag, no rewrite).
    let etag = env.etag("log.txt");
    f.append_file("log.txt", &mut &b""[..]).unwrap();
    assert_eq!(env.etag("log.txt"), etag);
    assert_eq!(env.open_uploads(), 0);
    // Read-only accounts may not append.
    let mut r = env.raw();
    r.login("ro", "p");
    let _d = r.epsv();
    r.expect("APPE log.txt", 550);
}

/// A client that vanishes during APPE leaves the old object whole and no upload open.
fn interrupted_append_keeps_the_old_object(b: Backend) {
    let env = TestEnv::start(b, crate::observe::with_metrics);
    let old = pattern(6 * MIB, 42);
    env.put("keep.bin", &old);
    for (n, tail) in [1000, 7 * MIB].into_iter().enumerate() {
        let mut r = env.raw_login();
        let mut d = r.epsv();
        r.expect("APPE keep.bin", 150);
        d.write_all(&pattern(tail, 43)).unwrap();
        d.flush().unwrap();
        // Control first; the data connection closes once the gateway saw it.
        r.into_stream().shutdown(Shutdown::Both).unwrap();
        wait_until(|| crate::observe::failed_uploads(&env) == (n + 1) as f64);
        drop(d);
        wait_until(|| env.open_uploads() == 0);
        assert!(env.get("keep.bin").unwrap() == old, "tail {tail}");
    }
}

/// Classic FTP resume: with keep_partial the bytes that arrived stay, and
/// `REST <size>` + STOR completes the file.
fn keep_partial_then_resume_completes_the_file(b: Backend) {
    let env = TestEnv::start(b, |c| c.uploads.keep_partial = true);
    let whole = pattern(13 * MIB, 44);
    let cut = 8 * MIB + 17;
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("STOR big.bin", 150);
    d.write_all(&whole[..cut]).unwrap();
    d.flush().unwrap();
    r.wait_for_transfer(cut as u64);
    r.into_stream().shutdown(Shutdown::Both).unwrap();
    wait_until(|| env.get("big.bin").is_some() && env.open_uploads() == 0);
    drop(d);
    let kept = env.get("big.bin").unwrap();
    assert_eq!(kept.len(), cut, "everything received was kept");
    assert!(kept == whole[..cut]);
    let mut f = env.ftp("u", "p");
    let size = f.size("big.bin").unwrap();
    f.resume_transfer(size).unwrap();
    f.put_file("big.bin", &mut &whole[size..]).unwrap();
    assert!(env.get("big.bin").unwrap() == whole);
    assert_eq!(env.open_uploads(), 0);
}

/// A failed overwrite kept none of its bytes: its client's automatic retry
/// (lftp: SIZE, then `REST <size>` + STOR with the rest) must not "resume"
/// on the old file it left in place, nor APPE onto it; sending the whole
/// file works, and after that a resume does again.
fn no_resume_on_what_a_failed_upload_left(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let old = pattern(2 * MIB, 45);
    env.put("f.bin", &old);
    let new = pattern(6 * MIB, 46);
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("STOR f.bin", 150);
    d.write_all(&new[..3 * MIB]).unwrap();
    d.flush().unwrap();
    r.send("ABOR");
    let (code, _) = r.reply();
    assert!(code == 426 || code == 226, "{code}");
    if code == 426 {
        assert_eq!(r.reply().0, 226);
    }
    drop(d);
    wait_until(|| env.open_uploads() == 0);
    assert!(env.get("f.bin").unwrap() == old);
    let before = env.etag("f.bin");
    // The retry, in this session and in another.
    for r in [&mut r, &mut env.raw_login()] {
        assert_eq!(r.cmd("SIZE f.bin").1.trim(), format!("213 {}", old.len()));
        let _d = r.epsv();
        r.expect(&format!("REST {}", old.len()), 350);
        let text = r.expect("STOR f.bin", 554);
        assert!(text.contains("not your interrupted upload"), "{text}");
        let _d = r.epsv();
        let text = r.expect("APPE f.bin", 554);
        assert!(text.contains("send the whole file"), "{text}");
    }
    assert_eq!(env.etag("f.bin"), before);
    // An empty upload right after the refusal is not committed: 451, the
    // previous version stays.
    let _d = r.epsv();
    r.expect(&format!("REST {}", old.len()), 350);
    r.expect("STOR f.bin", 554);
    let d = r.epsv();
    r.expect("STOR f.bin", 150);
    drop(d);
    let (code, text) = r.reply();
    assert_eq!(code, 451, "{text}");
    assert!(text.contains("Nothing arrived"), "{text}");
    assert_eq!(env.etag("f.bin"), before);
    // The whole file: an ordinary overwrite; then resuming it is fine.
    let mut f = env.ftp("u", "p");
    f.put_file("f.bin", &mut &new[..4 * MIB]).unwrap();
    f.resume_transfer(4 * MIB).unwrap();
    f.put_file("f.bin", &mut &new[4 * MIB..]).unwrap();
    assert!(env.get("f.bin").unwrap() == new);
    assert_eq!(env.open_uploads(), 0);
}

backend_tests!(
    no_resume_on_what_a_failed_upload_left,
    rest_stor_at_the_exact_size_resumes,
    wrong_rest_offset_is_refused_and_changes_nothing,
    appe_appends_and_creates,
    interrupted_append_keeps_the_old_object,
    keep_partial_then_resume_completes_the_file,
);
