//! The programs users run: lftp, curl, Python's ftplib, rclone's FTP backend.
//! Each runs when installed; with `S3FTPD_REQUIRE_INTEROP=1` (set by `.ci/run`)
//! a missing program is a failure.

use std::path::Path;
use std::process::Command;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{TestEnv, available, lftp, pattern, run};

/// A tree with nested folders, unicode names, an empty file and a multipart-sized file.
fn make_tree(root: &Path, files: usize) -> Vec<(String, Vec<u8>)> {
    let mut made = Vec::new();
    for i in 0..files {
        let rel = match i % 5 {
            0 => format!("file{i}.txt"),
            1 => format!("a/b/deep{i}.bin"),
            2 => format!("Ünïcödé/日本語 {i}.txt"),
            3 => format!("a/space name {i}.dat"),
            _ => format!("z/{i}"),
        };
        let body = if i == 3 {
            pattern(11 * 1024 * 1024, 77)
        } else if i == 4 {
            Vec::new()
        } else {
            pattern(1000 + i * 37, i as u64)
        };
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &body).unwrap();
        made.push((rel, body));
    }
    made
}

fn assert_tree(root: &Path, files: &[(String, Vec<u8>)]) {
    for (rel, body) in files {
        let got = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(
            got == *body,
            "{rel}: content differs ({} vs {} bytes)",
            got.len(),
            body.len()
        );
    }
}

fn lftp_mirror_round_trip(b: Backend) {
    if !available("lftp") {
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("up");
    let files = make_tree(&up, 40);
    let out = lftp(
        env.addr,
        "set ftp:ssl-allow no",
        &format!(
            "mirror -R {} tree; cls -l tree; mirror tree {}",
            up.display(),
            dir.path().join("back").display()
        ),
    );
    assert!(
        out.contains("a/") && out.contains("file0.txt"),
        "cls output: {out}"
    );
    assert_tree(&dir.path().join("back"), &files);
    for (rel, body) in &files {
        assert_eq!(
            env.get(&format!("tree/{rel}")).as_deref(),
            Some(body.as_slice()),
            "{rel} in S3"
        );
    }
}

fn curl_upload_list_download_delete(b: Backend) {
    if !available("curl") {
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    let body = pattern(6 * 1024 * 1024 + 5, 3);
    std::fs::write(&src, &body).unwrap();
    let base = format!("ftp://u:p@127.0.0.1:{}", env.addr.port());
    run(Command::new("curl")
        .args(["-sS", "--ftp-create-dirs", "-T"])
        .arg(&src)
        .arg(format!("{base}/c/d/up.bin")));
    assert_eq!(env.get("c/d/up.bin").unwrap(), body);
    let list = run(Command::new("curl").args(["-sS", &format!("{base}/c/d/")]));
    assert!(
        list.contains("up.bin") && list.contains(&body.len().to_string()),
        "{list}"
    );
    let names = run(Command::new("curl").args(["-sS", "-l", &format!("{base}/c/d/")]));
    assert_eq!(names.trim(), "up.bin");
    let out = dir.path().join("out.bin");
    run(Command::new("curl")
        .args(["-sS", "-o"])
        .arg(&out)
        .arg(format!("{base}/c/d/up.bin")));
    assert_eq!(std::fs::read(&out).unwrap(), body);
    // Resume a download from the middle (REST + RETR).
    std::fs::write(&out, &body[..1000]).unwrap();
    run(Command::new("curl")
        .args(["-sS", "-C", "-", "-o"])
        .arg(&out)
        .arg(format!("{base}/c/d/up.bin")));
    assert_eq!(std::fs::read(&out).unwrap(), body);
    // Active mode.
    run(Command::new("curl")
        .args(["-sS", "-P", "127.0.0.1", "-o"])
        .arg(&out)
        .arg(format!("{base}/c/d/up.bin")));
    assert_eq!(std::fs::read(&out).unwrap(), body);
    run(Command::new("curl").args(["-sS", "-Q", "DELE c/d/up.bin", &format!("{base}/")]));
    assert_eq!(env.get("c/d/up.bin"), None);
    assert_eq!(
        env.keys(),
        ["c/", "c/d/"],
        "folders (curl made both with MKD) kept after the last file went"
    );
}

const FTPLIB_SCRIPT: &str = r#"
import ftplib, io, sys
port = int(sys.argv[1])
for passive in (True, False):
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=30)
    f.login("u", "p")
    f.set_pasv(passive)
    d = "py_pasv" if passive else "py_active"
    f.mkd(d)
    f.cwd(d)
    data = bytes(range(256)) * 4000
    f.storbinary("STOR data.bin", io.BytesIO(data))
    f.storlines("STOR text.txt", io.BytesIO(b"line1\nline2\n"))
    out = io.BytesIO()
    f.retrbinary("RETR data.bin", out.write)
    assert out.getvalue() == data, "retrbinary mismatch"
    lines = []
    f.retrlines("RETR text.txt", lines.append)
    assert lines == ["line1", "line2"], lines
    assert f.size("data.bin") == len(data)
    assert sorted(f.nlst()) == ["data.bin", "text.txt"], f.nlst()
    facts = dict(f.mlsd())
    assert facts["data.bin"]["type"] == "file" and int(facts["data.bin"]["size"]) == len(data), facts
    f.rename("data.bin", "renamed.bin")
    f.delete("text.txt")
    assert f.nlst() == ["renamed.bin"], f.nlst()
    try:
        f.delete("nope")
        raise SystemExit("DELE of a missing file succeeded")
    except ftplib.error_perm as e:
        assert str(e).startswith("550"), e
    f.cwd("/")
    f.quit()
print("ftplib ok")
"#;

fn python_ftplib(b: Backend) {
    if !available("python3") {
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let out =
        run(Command::new("python3").args(["-c", FTPLIB_SCRIPT, &env.addr.port().to_string()]));
    assert!(out.contains("ftplib ok"), "{out}");
    assert_eq!(env.get("py_pasv/renamed.bin").unwrap().len(), 256 * 4000);
    assert_eq!(env.get("py_active/renamed.bin").unwrap().len(), 256 * 4000);
}

fn rclone_copy_and_check(b: Backend) {
    if !available("rclone") {
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let files = make_tree(&src, 25);
    let obscured = run(Command::new("rclone").args(["obscure", "p"]))
        .trim()
        .to_owned();
    let remote = format!(
        ":ftp,host=127.0.0.1,port={},user=u,pass={obscured}:rc",
        env.addr.port()
    );
    let conf = dir.path().join("rclone.conf");
    std::fs::write(&conf, "").unwrap();
    let rclone = |args: &[&str]| {
        let mut c = Command::new("rclone");
        c.arg("--config")
            .arg(&conf)
            .args([
                "--retries",
                "1",
                "--low-level-retries",
                "1",
                "--contimeout",
                "20s",
                "--timeout",
                "30s",
            ])
            .args(args);
        run(&mut c)
    };
    rclone(&["copy", src.to_str().unwrap(), &remote]);
    rclone(&["check", src.to_str().unwrap(), &remote]);
    for (rel, body) in &files {
        assert_eq!(
            env.get(&format!("rc/{rel}")).as_deref(),
            Some(body.as_slice()),
            "{rel}"
        );
    }
    let back = dir.path().join("back");
    rclone(&["copy", &remote, back.to_str().unwrap()]);
    assert_tree(&back, &files);
}

backend_tests!(
    lftp_mirror_round_trip,
    curl_upload_list_download_delete,
    python_ftplib,
    rclone_copy_and_check
);
