//! Real clients on S3's hard cases: resumed uploads, appends, folder renames.

use std::process::Command;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{TestEnv, available, lftp, pattern, run};

const MIB: usize = 1024 * 1024;

/// `curl -C - -T` asks for the remote size and sends only the rest.
fn curl_continues_an_upload(b: Backend) {
    if !available("curl") {
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let dir = tempfile::tempdir().unwrap();
    for (name, whole, cut) in [
        ("small.bin", pattern(300_000, 70), 100_000),
        ("big.bin", pattern(13 * MIB, 71), 6 * MIB + 7),
    ] {
        let src = dir.path().join(name);
        std::fs::write(&src, &whole).unwrap();
        // The stored head differs from the local file in its first byte, so
        // the result shows that only the rest was sent.
        let mut want = whole.clone();
        want[0] ^= 0xFF;
        env.put(name, &want[..cut]);
        run(Command::new("curl")
            .args(["-sS", "-C", "-", "-T"])
            .arg(&src)
            .arg(format!("ftp://u:p@127.0.0.1:{}/{name}", env.addr.port())));
        assert!(env.get(name).unwrap() == want, "{name}");
    }
    assert_eq!(env.open_uploads(), 0);
}

/// `lftp put -c` continues with `REST <size>` + STOR; `lftp mv` renames a folder.
fn lftp_put_continue_and_mv_folder(b: Backend) {
    if !available("lftp") {
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let whole = pattern(11 * MIB + 5, 72);
    let src = dir.path().join("part.bin");
    std::fs::write(&src, &whole).unwrap();
    let mut want = whole.clone();
    want[0] ^= 0xFF; // only the tail is sent: the stored head stays as it is
    env.put("up/part.bin", &want[..5 * MIB + 1]);
    lftp(
        env.addr,
        "",
        &format!("cd up; put -c {} -o part.bin", src.display()),
    );
    assert!(env.get("up/part.bin").unwrap() == want);
    for i in 0..30 {
        env.put(
            &format!("up/deep/er/f{i}.txt"),
            format!("file {i}").as_bytes(),
        );
    }
    let out = lftp(env.addr, "", "mv up moved; cls -1 moved/deep/er");
    assert_eq!(out.lines().count(), 30, "{out}");
    assert!(
        env.keys().iter().all(|k| k.starts_with("moved/")),
        "{:?}",
        env.keys()
    );
    assert!(env.get("moved/part.bin").unwrap() == want);
    assert_eq!(env.get("moved/deep/er/f29.txt").unwrap(), b"file 29");
}

const FTPLIB_APPE: &str = r#"
import ftplib, io, sys
f = ftplib.FTP()
f.connect("127.0.0.1", int(sys.argv[1]), timeout=30)
f.login("u", "p")
f.storbinary("APPE journal.log", io.BytesIO(b"first line\n"))
f.storbinary("APPE journal.log", io.BytesIO(b"second line\n"))
f.storbinary("APPE journal.log", io.BytesIO(bytes(range(256)) * 30000))
assert f.size("journal.log") == 23 + 256 * 30000, f.size("journal.log")
f.quit()
print("appe ok")
"#;

fn python_ftplib_appe(b: Backend) {
    if !available("python3") {
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let out = run(Command::new("python3").args(["-c", FTPLIB_APPE, &env.addr.port().to_string()]));
    assert!(out.contains("appe ok"), "{out}");
    let got = env.get("journal.log").unwrap();
    assert!(got.starts_with(b"first line\nsecond line\n"));
    assert_eq!(
        &got[23..],
        &(0..=255u8).collect::<Vec<_>>().repeat(30000)[..]
    );
}

backend_tests!(
    curl_continues_an_upload,
    lftp_put_continue_and_mv_folder,
    python_ftplib_appe,
);
