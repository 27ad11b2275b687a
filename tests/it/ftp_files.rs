//! DELE, MKD, RMD, RNFR/RNTO, SIZE, MDTM, MFMT and the directory rules of DESIGN.md.

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::TestEnv;

fn mkd_writes_a_marker_and_rmd_removes_only_empty(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut r = env.raw_login();
    assert!(r.expect("MKD docs", 257).contains("\"/docs\""));
    assert_eq!(env.keys(), ["docs/"], "MKD writes the zero-byte marker");
    assert_eq!(env.get("docs/").unwrap(), b"");
    r.expect("MKD docs", 550);
    r.expect("XMKD docs/inner", 257);
    r.expect("RMD docs", 550); // not empty
    r.expect("XRMD docs/inner", 250);
    assert_eq!(env.keys(), ["docs/"]);
    r.expect("RMD docs", 250);
    assert!(env.keys().is_empty());
    r.expect("RMD docs", 550);
    r.expect("RMD /", 550);
    // A file and a directory do not share a name through FTP.
    env.put("f", b"x");
    r.expect("MKD f", 550);
}

fn directories_exist_by_marker_or_by_children(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("implicit/deep/file.txt", b"x"); // no markers at all, as other tools write
    let mut r = env.raw_login();
    r.expect("CWD implicit", 250);
    r.expect("CWD deep", 250);
    r.expect("CWD /", 250);
    r.expect("RMD implicit", 550);
    r.expect("MKD implicit", 550);
    env.put("marked/", b"");
    r.expect("CWD marked", 250);
}

fn dele_keeps_the_folder(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("dir/only.txt", b"x"); // no marker: the folder exists only through this file
    let mut r = env.raw_login();
    r.expect("DELE dir/only.txt", 250);
    assert_eq!(
        env.keys(),
        ["dir/"],
        "deleting the last file keeps its folder (marker written)"
    );
    r.expect("CWD dir", 250);
    r.expect("DELE only.txt", 550);
    r.expect("DELE /dir", 550); // a directory is not a file
    env.put("two/a", b"a");
    env.put("two/b", b"b");
    r.expect("DELE /two/a", 250);
    assert!(
        !env.keys().contains(&"two/".to_owned()),
        "no marker needed while the folder has files"
    );
}

fn rename_a_file(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("from/a.txt", b"payload");
    let mut r = env.raw_login();
    r.expect("RNFR from/a.txt", 350);
    r.expect("RNTO to/b.txt", 250);
    assert_eq!(env.get("to/b.txt").unwrap(), b"payload");
    assert_eq!(env.get("from/a.txt"), None);
    assert!(
        env.keys().contains(&"from/".to_owned()),
        "source folder kept"
    );
    r.expect("RNFR missing", 550);
    r.expect("RNTO x", 503);
    r.expect("RNFR to/b.txt", 350);
    r.expect("NOOP", 200);
    r.expect("RNTO y", 503); // RNTO must follow RNFR directly
    env.put("dir/child", b"c");
    r.expect("RNFR to/b.txt", 350);
    r.expect("RNTO dir", 553);
    assert_eq!(env.get("to/b.txt").unwrap(), b"payload");
}

fn size_mdtm_and_mfmt(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("f.txt", b"12345");
    let mut r = env.raw_login();
    assert_eq!(r.expect("SIZE f.txt", 213).trim(), "213 5");
    r.expect("SIZE nope", 550);
    r.expect("SIZE /", 550);
    env.put("d/x", b"");
    assert!(r.expect("SIZE d", 550).contains("not a plain file"));
    let now_year = time::OffsetDateTime::now_utc().year().to_string();
    assert!(
        r.expect("MDTM f.txt", 213)
            .contains(&format!("213 {now_year}"))
    );
    r.expect("MFMT 20200102030405 f.txt", 213);
    assert_eq!(r.expect("MDTM f.txt", 213).trim(), "213 20200102030405");
    assert!(
        r.expect("MLST f.txt", 250)
            .contains("modify=20200102030405")
    );
    assert_eq!(env.get("f.txt").unwrap(), b"12345", "MFMT keeps the bytes");
    r.expect("MFMT 20200102030405 nope", 550);
    r.expect("MFMT 2020 f.txt", 501);
    // x-amz-meta-mtime written by another tool (rclone's format) is honoured.
    env.rt.block_on(async {
        env.s3
            .put_object()
            .bucket(&env.bucket)
            .key(env.key("rc.txt"))
            .metadata("mtime", "1577934245.5")
            .body(b"rc".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    assert_eq!(r.expect("MDTM rc.txt", 213).trim(), "213 20200102030405");
}

/// MFMT (and `MDTM time path`) shows in LIST, MLSD, MLST and MDTM; a
/// second MFMT replaces what listings cached; `s3.list_mtime:
/// last_modified` lists S3's own time instead.
fn mfmt_is_visible_in_listings(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("docs/a.txt", b"a");
    env.put("docs/b.txt", b"b");
    env.put("docs/sub/", b"");
    let mut r = env.raw_login();
    r.expect("MFMT 20200102030405 docs/a.txt", 213);
    r.expect("MDTM 20191231235958 docs/b.txt", 213);
    let list = crate::ftp_listing::listing(&mut r, "LIST docs");
    let line = |name: &str| list.iter().find(|l| l.ends_with(name)).cloned().unwrap();
    assert!(line("a.txt").contains("Jan  2  2020"), "{list:?}");
    assert!(line("b.txt").contains("Dec 31  2019"), "{list:?}");
    let mlsd = crate::ftp_listing::listing(&mut r, "MLSD docs");
    assert!(
        mlsd.iter()
            .any(|l| l.contains("modify=20200102030405") && l.ends_with(" a.txt")),
        "{mlsd:?}"
    );
    assert_eq!(
        r.expect("MDTM docs/b.txt", 213).trim(),
        "213 20191231235958"
    );
    // Listed again (now from the cache), then changed: the new time shows.
    crate::ftp_listing::listing(&mut r, "LIST docs");
    r.expect("MFMT 20210304050607 docs/a.txt", 213);
    let list = crate::ftp_listing::listing(&mut r, "LIST docs");
    assert!(
        list.iter()
            .any(|l| l.contains("Mar  4  2021") && l.ends_with("a.txt")),
        "{list:?}"
    );
    drop(r);
    drop(env);
    let env = TestEnv::start(b, |c| {
        c.s3.list_mtime = s3ftpd::config::ListMtime::LastModified
    });
    env.put("c.txt", b"c");
    let mut r = env.raw_login();
    r.expect("MFMT 20200102030405 c.txt", 213);
    let list = crate::ftp_listing::listing(&mut r, "LIST");
    assert!(
        !list[0].contains("2020"),
        "LastModified, not the metadata: {list:?}"
    );
    assert_eq!(r.expect("MDTM c.txt", 213).trim(), "213 20200102030405");
}

backend_tests!(
    mfmt_is_visible_in_listings,
    mkd_writes_a_marker_and_rmd_removes_only_empty,
    directories_exist_by_marker_or_by_children,
    dele_keeps_the_folder,
    rename_a_file,
    size_mdtm_and_mfmt,
);
