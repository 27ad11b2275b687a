//! Permissions per path: each one refused and granted, on the embedded
//! store and Garage, with S3 unchanged after every refusal; an upload-only
//! drop folder through lftp and Python's ftplib; renames needing their
//! rights at both ends; `upload` without `overwrite`; the listing's mode
//! bits and MLSD `perm` facts following the table; groups and users.

use std::io::Write as _;
use std::process::Command;

use crate::backend::Backend;
use crate::backend_tests;
use crate::buckets::add;
use crate::harness::{Raw, TestEnv, available, read_all, run};

/// User `p` (home `/p`): reads everywhere, a drop folder `/in`, a scanner
/// folder `/scan` (create, never delete or rename), a free `/work` with a
/// locked `/work/locked` below it.
pub const PARTNER: &str = "{ name: p, password: pw, home: /p, permissions: { /: [list, download], /in: [upload], /scan: [list, upload, create_dirs], /work: ['*'], /work/locked: [list, download, upload, overwrite] } }";

fn env(b: Backend) -> TestEnv {
    let env = TestEnv::start(b, |c| add(c, "", "", &[PARTNER]));
    env.put("p/readme.txt", b"read me");
    env.put("p/in/old.txt", b"old drop");
    env.put("p/scan/page1.pdf", b"page 1");
    env.put("p/work/locked/a.txt", b"locked a");
    env.put("p/work/dir/inner.txt", b"inner");
    env
}

pub fn list(r: &mut Raw, cmd: &str) -> Result<String, (u16, String)> {
    let d = r.epsv();
    let (code, text) = r.cmd(cmd);
    if code != 150 {
        return Err((code, text));
    }
    let body = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(r.reply().0, 226, "{cmd}");
    Ok(body)
}

fn retr(r: &mut Raw, name: &str) -> Result<Vec<u8>, (u16, String)> {
    let d = r.epsv();
    let (code, text) = r.cmd(&format!("RETR {name}"));
    if code != 150 {
        return Err((code, text));
    }
    let body = read_all(d);
    assert_eq!(r.reply().0, 226);
    Ok(body)
}

/// A refusal: 550 naming the permission, and S3 exactly as before.
#[track_caller]
fn refused(env: &TestEnv, r: &mut Raw, what: (u16, String), perm: &str) {
    let before = env.keys_with_etags();
    let (code, text) = what;
    assert_eq!(code, 550, "{text}");
    assert!(text.contains(&format!("needs `{perm}`")), "{text}");
    assert_eq!(env.keys_with_etags(), before, "S3 changed after a refusal");
    let _ = r;
}

fn each_permission_is_refused_and_granted(b: Backend) {
    let env = env(b);
    let mut r = env.raw();
    r.login("p", "pw");
    let keys = env.keys_with_etags();
    // `/`: list + download only.
    assert!(list(&mut r, "LIST /").unwrap().contains("readme.txt"));
    assert_eq!(retr(&mut r, "/readme.txt").unwrap(), b"read me");
    let out = r.stor("/new.txt", b"x");
    refused(&env, &mut r, out, "upload");
    let out = r.cmd("MKD /newdir");
    refused(&env, &mut r, out, "create_dirs");
    let out = r.cmd("DELE /readme.txt");
    refused(&env, &mut r, out, "delete_files");
    let out = r.cmd("MFMT 20200101000000 /readme.txt");
    refused(&env, &mut r, out, "chtimes");
    let out = r.cmd("SITE UTIME 20200101000000 /readme.txt");
    refused(&env, &mut r, out, "chtimes");
    let out = r.cmd("RNFR /readme.txt");
    refused(&env, &mut r, out, "rename_files");
    assert_eq!(env.keys_with_etags(), keys);
    // `/in`: upload only — a new name lands; listing, reading, deleting and
    // replacing are refused.
    r.expect("CWD /in", 250);
    assert_eq!(r.stor("drop.csv", b"a,b\n").0, 226);
    assert_eq!(env.get("p/in/drop.csv").as_deref(), Some(&b"a,b\n"[..]));
    let out = list(&mut r, "LIST").unwrap_err();
    refused(&env, &mut r, out, "list");
    let out = list(&mut r, "NLST").unwrap_err();
    refused(&env, &mut r, out, "list");
    let out = list(&mut r, "MLSD").unwrap_err();
    refused(&env, &mut r, out, "list");
    let out = retr(&mut r, "old.txt").unwrap_err();
    refused(&env, &mut r, out, "download");
    let out = r.cmd("DELE old.txt");
    refused(&env, &mut r, out, "delete_files");
    let out = r.stor("old.txt", b"replaced");
    refused(&env, &mut r, out, "overwrite");
    assert_eq!(env.get("p/in/old.txt").as_deref(), Some(&b"old drop"[..]));
    let out = r.cmd("APPE old.txt");
    refused(&env, &mut r, out, "overwrite");
    // `/scan`: create files and folders, never delete nor rename.
    r.expect("MKD /scan/batch", 257);
    assert_eq!(r.stor("/scan/batch/p2.pdf", b"page 2").0, 226);
    let out = r.cmd("DELE /scan/page1.pdf");
    refused(&env, &mut r, out, "delete_files");
    let out = r.cmd("RMD /scan/batch");
    refused(&env, &mut r, out, "delete_dirs");
    let out = r.cmd("RNFR /scan/page1.pdf");
    refused(&env, &mut r, out, "rename_files");
    let out = r.cmd("RNFR /scan/batch");
    refused(&env, &mut r, out, "rename_dirs");
    // `/work`: everything; `/work/locked` (its own entry, not merged with
    // `/work`'s): overwrite yes, delete, mkdir, chtimes, rename no.
    assert_eq!(r.stor("/work/b.txt", b"b").0, 226);
    r.expect("MFMT 20200101000000 /work/b.txt", 213);
    r.expect("MKD /work/tmp", 257);
    r.expect("RMD /work/tmp", 250);
    r.expect("RNFR /work/b.txt", 350);
    r.expect("RNTO /work/c.txt", 250);
    assert_eq!(r.stor("/work/locked/a.txt", b"new a").0, 226);
    assert_eq!(
        env.get("p/work/locked/a.txt").as_deref(),
        Some(&b"new a"[..])
    );
    let out = r.cmd("DELE /work/locked/a.txt");
    refused(&env, &mut r, out, "delete_files");
    let out = r.cmd("MKD /work/locked/x");
    refused(&env, &mut r, out, "create_dirs");
    let out = r.cmd("MFMT 20200101000000 /work/locked/a.txt");
    refused(&env, &mut r, out, "chtimes");
    // A rename needs its right at both ends.
    r.expect("RNFR /work/c.txt", 350);
    let out = r.cmd("RNTO /work/locked/c.txt");
    refused(&env, &mut r, out, "rename_files");
    r.expect("RNFR /work/dir", 350);
    let out = r.cmd("RNTO /scan/dir");
    refused(&env, &mut r, out, "rename_dirs");
    let out = r.cmd("RNFR /work/locked/a.txt");
    refused(&env, &mut r, out, "rename_files");
    r.expect("RNFR /work/c.txt", 350);
    r.expect("RNTO /work/d.txt", 250);
    r.expect("DELE /work/d.txt", 250);
    assert!(env.get("p/work/d.txt").is_none());
    r.expect("QUIT", 221);
}

/// Mode bits and `perm` facts follow the table: the drop folder lists as
/// writable, not readable; the read-only root's files as read-only.
fn listings_show_the_rights(b: Backend) {
    let env = env(b);
    let mut r = env.raw();
    r.login("p", "pw");
    let long = list(&mut r, "LIST /").unwrap();
    let line = |name: &str| {
        long.lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("{name} in {long}"))
            .to_owned()
    };
    assert!(line("in").starts_with("d-wx--x--x"), "{long}");
    assert!(line("readme.txt").starts_with("-r--r--r--"), "{long}");
    assert!(line("work").starts_with("drwxr-xr-x"), "{long}");
    let facts = list(&mut r, "MLSD /").unwrap();
    let fact = |name: &str| {
        facts
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("{name} in {facts}"))
            .to_owned()
    };
    assert!(fact("in").contains(";perm=ce;"), "{facts}");
    assert!(fact("readme.txt").contains(";perm=r;"), "{facts}");
    assert!(fact("scan").contains(";perm=celm;"), "{facts}");
    assert!(fact("work").contains(";perm=cdeflmp;"), "{facts}");
    let (code, text) = r.cmd("MLST /work/locked/a.txt");
    assert_eq!(code, 250, "{text}");
    assert!(text.contains("perm=arw;"), "{text}");
}

/// `upload` without `overwrite`: an existing name is refused even when it
/// appears between the check and the commit where S3 honours conditional
/// writes (the embedded store, MinIO); Garage does not, and there the
/// check is a lookup before the 150 (the race is documented).
fn upload_without_overwrite_keeps_the_old_file(b: Backend) {
    let env = env(b);
    let mut r = env.raw();
    r.login("p", "pw");
    r.expect("CWD /in", 250);
    // A resume of an existing file is an overwrite too.
    r.expect("REST 8", 350);
    let out = r.stor("old.txt", b"more");
    refused(&env, &mut r, out, "overwrite");
    // STOU never overwrites: allowed with `upload` alone.
    let mut d = r.epsv();
    let (code, text) = r.cmd("STOU");
    assert_eq!(code, 150, "{text}");
    d.write_all(b"unique").unwrap();
    drop(d);
    assert_eq!(r.reply().0, 226);
    // Written behind the gateway's back while an upload runs: the commit
    // must not replace it where S3 can refuse.
    let mut d = r.epsv();
    r.expect("STOR late.txt", 150);
    d.write_all(b"from ftp").unwrap();
    env.put("p/in/late.txt", b"from elsewhere");
    drop(d);
    let (code, text) = r.reply();
    if crate::name_conflicts::honours(&env).if_none_match {
        assert_eq!(code, 550, "{text}");
        assert!(text.contains("overwrite"), "{text}");
        assert_eq!(
            env.get("p/in/late.txt").as_deref(),
            Some(&b"from elsewhere"[..])
        );
    } else {
        assert_eq!(code, 226, "{text}");
    }
    assert_eq!(env.open_uploads(), 0);
}

backend_tests!(
    each_permission_is_refused_and_granted,
    listings_show_the_rights,
    upload_without_overwrite_keeps_the_old_file
);

fn lftp_as(env: &TestEnv, user: &str, commands: &str) -> std::process::Output {
    let script = format!(
        "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; {commands}; bye"
    );
    Command::new("lftp")
        .args([
            "-u",
            user,
            "-p",
            &env.addr.port().to_string(),
            "127.0.0.1",
            "-e",
            &script,
        ])
        .output()
        .expect("lftp")
}

/// The drop folder as partners use it: lftp `put` lands; `ls`, `get` and
/// `rm` fail with the permission in the error; ftplib the same.
#[test]
fn a_drop_folder_with_real_clients() {
    if !available("lftp") || !available("python3") {
        return;
    }
    let env = env(Backend::Embedded);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("invoice.xml");
    std::fs::write(&file, b"<invoice/>").unwrap();
    let put = lftp_as(
        &env,
        "p,pw",
        &format!("cd in; put {} -o invoice.xml", file.display()),
    );
    assert!(put.status.success(), "{put:?}");
    assert_eq!(
        env.get("p/in/invoice.xml").as_deref(),
        Some(&b"<invoice/>"[..])
    );
    for cmd in ["cls in/", "get in/old.txt -o /dev/null", "rm in/old.txt"] {
        let before = env.keys_with_etags();
        let out = lftp_as(&env, "p,pw", cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{cmd} succeeded");
        assert!(err.contains("550"), "{cmd}: {err}");
        assert_eq!(env.keys_with_etags(), before, "{cmd}");
    }
    let script = format!(
        r#"
import ftplib, io
f = ftplib.FTP()
f.connect("127.0.0.1", {port})
f.login("p", "pw")
f.cwd("/in")
f.storbinary("STOR from-python.txt", io.BytesIO(b"py"))
for call in (lambda: f.nlst(), lambda: f.retrbinary("RETR old.txt", print), lambda: f.delete("old.txt")):
    try:
        call()
        raise SystemExit("not refused")
    except ftplib.error_perm as e:
        assert str(e).startswith("550"), e
        print(e)
f.quit()
"#,
        port = env.addr.port()
    );
    let out = run(Command::new("python3").args(["-c", &script]));
    assert!(out.contains("needs `list`"), "{out}");
    assert!(out.contains("needs `download`"), "{out}");
    assert!(out.contains("needs `delete_files`"), "{out}");
    assert_eq!(env.get("p/in/from-python.txt").as_deref(), Some(&b"py"[..]));
}

/// Groups give permissions; a user's own entry for a path replaces the
/// group's for that path only; `read_only` caps the whole table.
#[test]
fn groups_users_and_read_only() {
    let env = TestEnv::start(Backend::Embedded, |c| {
        add(
            c,
            "",
            "{ partners: { home: '/%username%', permissions: { /: ['*'], /in: [upload], /out: [list, download] } } }",
            &[
                "{ name: acme, password: pw, groups: [partners], permissions: { /out: [list, download, delete] } }",
                "{ name: globex, password: pw, groups: [partners] }",
                "{ name: viewer, password: pw, home: /acme, read_only: true, permissions: { /: ['*'] } }",
            ],
        );
    });
    env.put("acme/out/statement.pdf", b"acme");
    env.put("globex/out/statement.pdf", b"globex");
    env.put("acme/report.txt", b"report");
    let mut acme = env.raw();
    acme.login("acme", "pw");
    acme.expect("DELE /out/statement.pdf", 250);
    let out = list(&mut acme, "LIST /in").unwrap_err();
    refused(&env, &mut acme, out, "list");
    let mut globex = env.raw();
    globex.login("globex", "pw");
    let out = globex.cmd("DELE /out/statement.pdf");
    refused(&env, &mut globex, out, "delete_files");
    let mut viewer = env.raw();
    viewer.login("viewer", "pw");
    assert!(list(&mut viewer, "LIST /").unwrap().contains("report.txt"));
    // `read_only` wins over the table's `*`.
    let before = env.keys_with_etags();
    let (code, text) = viewer.stor("/x.txt", b"x");
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("read-only"), "{text}");
    let (code, text) = viewer.cmd("DELE /report.txt");
    assert_eq!(code, 550, "{text}");
    assert_eq!(env.keys_with_etags(), before);
}
