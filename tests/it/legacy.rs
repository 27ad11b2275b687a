//! What legacy clients send: SITE CHMOD/UMASK/HELP/IDLE/UTIME (vsftpd and
//! ProFTPD answer them; lftp's `chmod` and `mirror -R --verbose` fail
//! without them) and EPSV ALL (RFC 2428).

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{TestEnv, available, lftp, read_all};

fn site_commands(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("f.txt", b"x");
    env.put("d/inner.txt", b"y");
    let mut r = env.raw_login();
    let text = r.expect("SITE CHMOD 644 f.txt", 200);
    assert!(text.contains("no permission bits"), "{text}");
    r.expect("SITE CHMOD 755 d", 200);
    r.expect("SITE CHMOD 644 missing.txt", 550);
    r.expect("SITE CHMOD 999 f.txt", 501);
    r.expect("SITE UMASK 022", 200);
    let help = r.expect("SITE HELP", 214);
    assert!(help.contains("CHMOD") && help.contains("UTIME"), "{help}");
    // Within [30 s, limits.idle_timeout] (60 s in the tests).
    r.expect("SITE IDLE 45", 200);
    assert!(r.expect("SITE IDLE", 200).contains("45"));
    r.expect("SITE IDLE 5", 501);
    r.expect("SITE IDLE 120", 501);
    r.expect("SITE UTIME 20200102030405 f.txt", 200);
    assert!(r.expect("MDTM f.txt", 213).contains("20200102030405"));
    r.expect(
        "SITE UTIME f.txt 20210101000000 20190203040506 20190203040506 UTC",
        200,
    );
    assert!(r.expect("MDTM f.txt", 213).contains("20190203040506"));
    r.expect("SITE EXEC ls", 504);
    let mut ro = env.raw();
    ro.login("ro", "p");
    ro.expect("SITE CHMOD 644 f.txt", 550);
}

fn epsv_all_refuses_other_data_commands(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("a.txt", b"after EPSV ALL");
    let mut r = env.raw_login();
    r.expect("EPSV ALL", 200);
    r.expect("PASV", 550);
    r.expect("PORT 127,0,0,1,200,10", 550);
    r.expect("EPRT |1|127.0.0.1|51210|", 550);
    let d = r.epsv();
    r.expect("RETR a.txt", 150);
    assert_eq!(read_all(d), b"after EPSV ALL");
    assert_eq!(r.reply().0, 226);
}

fn lftp_chmod_and_mirror_verbose(b: Backend) {
    if !available("lftp") {
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), b"a").unwrap();
    std::fs::write(src.join("sub/b.txt"), b"b").unwrap();
    // cmd:fail-exit: any failing command makes lftp exit non-zero.
    lftp(
        env.addr,
        "set ftp:ssl-allow no",
        &format!(
            "mirror -R --verbose {} up; chmod 644 up/a.txt; chmod 755 up/sub",
            src.display()
        ),
    );
    assert_eq!(env.get("up/a.txt").unwrap(), b"a");
    assert_eq!(env.get("up/sub/b.txt").unwrap(), b"b");
}

backend_tests!(
    site_commands,
    epsv_all_refuses_other_data_commands,
    lftp_chmod_and_mirror_verbose,
);
