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

/// A batch script written for Windows ftp.exe, run through inetutils `ftp
/// -n` in active mode (PORT): `mput *.csv`, `mget *.txt`, `mdelete *.txt`,
/// `mget sub1` (NLST of a folder names `sub1/mid.bin`), an ASCII upload of
/// LF text and a binary download, checked byte for byte in S3.
fn ftp_exe_style_batch_script(b: Backend) {
    if !available("ftp") {
        return;
    }
    let env = TestEnv::start(b, |_| {});
    env.put("a.txt", b"alpha\n");
    env.put("b.txt", b"beta\n");
    env.put("keep.bin", &crate::harness::pattern(70_000, 9));
    env.put("sub1/mid.bin", b"middle");
    env.put("sub1/other.txt", b"other");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path();
    std::fs::write(local.join("x.csv"), b"1,2\n3,4\n").unwrap();
    std::fs::write(local.join("y.csv"), b"5,6\n").unwrap();
    std::fs::write(local.join("lf.txt"), b"line one\nline two\n").unwrap();
    std::fs::create_dir(local.join("sub1")).unwrap();
    let addr = env.gateway().ftp_addr();
    let script = format!(
        "open {} {}\nuser u p\nbinary\nprompt\nlcd {}\nmput *.csv\nmget *.txt\n\
         mdelete *.txt\nmget sub1\ncd sub1\nmget *.txt\ncd /\nget keep.bin\nascii\nput lf.txt\n\
         quote XMKD made\nquote XCWD made\nquote XPWD\nquote XCWD /\nquote XRMD made\nbye\n",
        addr.ip(),
        addr.port(),
        local.display()
    );
    let mut child = std::process::Command::new("ftp")
        .args(["-n", "-v", "-A"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("200 PORT") || log.contains("200 EPRT"),
        "not active mode:\n{log}"
    );
    assert_eq!(env.get("x.csv").unwrap(), b"1,2\n3,4\n", "{log}");
    assert_eq!(env.get("y.csv").unwrap(), b"5,6\n");
    assert_eq!(
        std::fs::read(local.join("a.txt")).unwrap(),
        b"alpha\n",
        "{log}"
    );
    assert_eq!(std::fs::read(local.join("b.txt")).unwrap(), b"beta\n");
    assert_eq!(env.get("a.txt"), None, "mdelete *.txt:\n{log}");
    assert_eq!(env.get("b.txt"), None);
    assert_eq!(
        std::fs::read(local.join("sub1/mid.bin")).unwrap(),
        b"middle",
        "{log}"
    );
    // `cd sub1` then `mget *.txt`: the pattern is matched in the new folder.
    assert_eq!(
        std::fs::read(local.join("other.txt")).unwrap(),
        b"other",
        "{log}"
    );
    assert!(std::fs::read(local.join("keep.bin")).unwrap() == crate::harness::pattern(70_000, 9));
    assert_eq!(env.get("lf.txt").unwrap(), b"line one\nline two\n", "{log}");
    assert!(log.contains("257 \"/made\""), "{log}");
    assert_eq!(env.get("keep.bin").unwrap().len(), 70_000);
}

/// NLST, LIST and STAT expand `*`, `?` and `[...]` in the last component
/// against one folder; a name that really holds `*` is found first; NLST
/// of a folder or pattern names entries as the client can RETR them.
fn wildcards_in_listings(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    for name in [
        "a.txt",
        "b.txt",
        "c.bin",
        ".hidden.txt",
        "d/e.txt",
        "d/f.bin",
        "star*.txt",
    ] {
        env.put(name, b"x");
    }
    let mut r = env.raw_login();
    let mut nlst = |arg: &str| {
        let d = r.epsv();
        r.expect(&format!("NLST {arg}"), 150);
        let body = String::from_utf8(read_all(d)).unwrap();
        assert_eq!(r.reply().0, 226);
        let mut names: Vec<String> = body.lines().map(str::to_owned).collect();
        names.sort();
        names
    };
    assert_eq!(nlst("*.txt"), ["a.txt", "b.txt", "star*.txt"]);
    assert_eq!(nlst("?.bin"), ["c.bin"]);
    assert_eq!(nlst("[ab].txt"), ["a.txt", "b.txt"]);
    assert_eq!(nlst(".*.txt"), [".hidden.txt"]);
    assert_eq!(nlst("d/*.txt"), ["d/e.txt"]);
    assert_eq!(nlst("d"), ["d/e.txt", "d/f.bin"]);
    assert_eq!(nlst("/d/"), ["/d/e.txt", "/d/f.bin"]);
    assert_eq!(nlst("*.none"), Vec::<String>::new());
    // The literal name wins over the pattern.
    assert_eq!(nlst("star*.txt"), ["star*.txt"]);
    let d = r.epsv();
    r.expect("LIST -la *.bin", 150);
    let long = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(r.reply().0, 226);
    assert_eq!(long.lines().count(), 1, "{long}");
    assert!(long.contains("c.bin") && long.starts_with('-'), "{long}");
    let stat = r.expect("STAT d/*.bin", 213);
    assert!(stat.contains("f.bin") && !stat.contains("e.txt"), "{stat}");
    r.expect("NLST nowhere/*.txt", 550);
    r.expect("MLST *.txt", 550);
}

/// A client behind NAT names its private address in PORT: refused (RFC
/// 2577) unless `active.connect_to_peer`, which connects to the control
/// peer with the port from PORT — never elsewhere, never below 1024.
fn active_mode_through_nat(b: Backend) {
    for connect_to_peer in [false, true] {
        let env = TestEnv::start(b, |c| c.active.connect_to_peer = connect_to_peer);
        env.put("a.txt", b"through NAT");
        let mut r = env.raw_login();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let private = format!("PORT 10,1,2,3,{},{}", port >> 8, port & 0xff);
        if !connect_to_peer {
            r.expect(&private, 501);
            continue;
        }
        r.expect(&private, 200);
        r.expect("RETR a.txt", 150);
        let (d, _) = listener.accept().unwrap();
        assert_eq!(read_all(d), b"through NAT");
        assert_eq!(r.reply().0, 226);
        r.expect(&format!("EPRT |1|192.168.7.9|{port}|"), 200);
        r.expect("PORT 10,1,2,3,0,21", 504);
    }
}

/// STOR of `body` under a name sent as raw bytes (a legacy character set).
fn stor_raw(r: &mut crate::harness::Raw, name: &[u8], body: &[u8]) {
    let mut d = r.epsv();
    r.send_bytes(&[b"STOR ", name, b"\r\n"].concat());
    assert_eq!(r.reply().0, 150, "{name:?}");
    std::io::Write::write_all(&mut d, body).unwrap();
    drop(d);
    assert_eq!(r.reply().0, 226, "{name:?}");
}

fn nlst_bytes(r: &mut crate::harness::Raw) -> Vec<u8> {
    let d = r.epsv();
    r.expect("NLST", 150);
    let body = read_all(d);
    assert_eq!(r.reply().0, 226);
    body
}

/// Legacy character sets: a windows-1252 server (`ftp.encoding`) and a
/// Shift_JIS user (`users[].encoding`) list, upload and download names with
/// accents and kana; the keys in S3 are UTF-8; a name the set cannot show
/// is escaped (`^65e5;`) and can be used as listed; `OPTS UTF8 ON` switches
/// a session to UTF-8, and FEAT names UTF8 only then.
fn legacy_encodings(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.ftp.encoding = "windows-1252".into();
        c.users.push(
            serde_yaml::from_str("{ name: sj, password: p, home: /, encoding: shift_jis }")
                .unwrap(),
        );
    });
    env.put("café.txt", b"accent");
    env.put("日本.txt", b"kanji");
    env.put("a^b.txt", b"caret");
    let mut r = env.raw_login();
    assert!(!r.expect("FEAT", 211).contains("UTF8"));
    let names = nlst_bytes(&mut r);
    for want in [&b"caf\xe9.txt"[..], b"^65e5;^672c;.txt", b"a^^b.txt"] {
        assert!(names.windows(want.len()).any(|w| w == want), "{names:?}");
    }
    for (name, body) in [
        (&b"caf\xe9.txt"[..], &b"accent"[..]),
        (b"^65e5;^672c;.txt", b"kanji"),
        (b"a^^b.txt", b"caret"),
    ] {
        let d = r.epsv();
        r.send_bytes(&[b"RETR ", name, b"\r\n"].concat());
        assert_eq!(r.reply().0, 150, "{name:?}");
        assert_eq!(read_all(d), body);
        assert_eq!(r.reply().0, 226);
    }
    stor_raw(&mut r, b"\xe9t\xe9.txt", b"summer");
    assert_eq!(env.get("été.txt").unwrap(), b"summer");
    r.send_bytes(b"MKD \xc5ngstr\xf6m\r\n");
    let (code, text) = r.reply();
    assert_eq!(code, 257, "{text}");
    assert!(
        env.keys().iter().any(|k| k.ends_with("Ångström/")),
        "{:?}",
        env.keys()
    );
    // The client asks for UTF-8.
    r.expect("OPTS UTF8 ON", 200);
    assert!(r.expect("FEAT", 211).contains("UTF8"));
    let names = String::from_utf8(nlst_bytes(&mut r)).unwrap();
    assert!(
        names.contains("日本.txt") && names.contains("café.txt"),
        "{names}"
    );

    // A Shift_JIS user: kanji both ways.
    let mut r = env.raw();
    r.login("sj", "p");
    let names = nlst_bytes(&mut r);
    let kanji = b"\x93\xfa\x96\x7b.txt";
    assert!(names.windows(kanji.len()).any(|w| w == kanji), "{names:?}");
    assert!(
        names.windows(12).any(|w| w == b"caf^e9;.txt\r"),
        "{names:?}"
    );
    stor_raw(&mut r, b"\x83\x4a\x83\x69.txt", b"kana");
    assert_eq!(env.get("カナ.txt").unwrap(), b"kana");
    r.send_bytes(b"RETR \xff\xff\r\n");
    assert_eq!(r.reply().0, 501, "not Shift_JIS");
}

backend_tests!(
    legacy_encodings,
    active_mode_through_nat,
    ftp_exe_style_batch_script,
    wildcards_in_listings,
    site_commands,
    epsv_all_refuses_other_data_commands,
    lftp_chmod_and_mirror_verbose,
);
