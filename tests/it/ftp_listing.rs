//! LIST, NLST, MLSD, MLST, STAT: formats, directories from prefixes and markers, paging.

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{Raw, TestEnv, read_all};

pub fn listing(r: &mut Raw, cmd: &str) -> Vec<String> {
    let d = r.epsv();
    r.expect(cmd, 150);
    let text = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(r.reply().0, 226);
    assert!(text.is_empty() || text.ends_with("\r\n"), "CRLF lines");
    text.lines().map(str::to_owned).collect()
}

fn list_formats(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("report.pdf", &[7u8; 1234]);
    env.put("sub/inner.txt", b"x");
    env.put("marked/", b"");
    env.put("Grüße 中文.txt", b"u");
    let mut r = env.raw_login();
    let year = time::OffsetDateTime::now_utc().year();
    for cmd in ["LIST", "LIST -la", "LIST -a /"] {
        let lines = listing(&mut r, cmd);
        assert_eq!(lines.len(), 4, "{cmd}: {lines:?}");
        let file = lines.iter().find(|l| l.ends_with(" report.pdf")).unwrap();
        assert!(file.starts_with("-rw-r--r-- 1 ftp ftp"), "{file}");
        assert!(file.contains(" 1234 "), "{file}");
        let month = time::OffsetDateTime::now_utc().month().to_string()[..3].to_owned();
        assert!(file.contains(&month), "{file}");
        for dir in ["sub", "marked"] {
            let l = lines
                .iter()
                .find(|l| l.ends_with(&format!(" {dir}")))
                .unwrap();
            assert!(l.starts_with("drwxr-xr-x"), "{l}");
            assert!(!l.contains("1970"), "directories never show 1970: {l}");
        }
        assert!(lines.iter().any(|l| l.ends_with(" Grüße 中文.txt")));
        assert!(
            !lines.iter().any(|l| l.contains(&(year - 1).to_string())),
            "recent entries show a time: {lines:?}"
        );
    }
    let mut names = listing(&mut r, "NLST");
    names.sort();
    assert_eq!(names, ["Grüße 中文.txt", "marked", "report.pdf", "sub"]);
    let mlsd = listing(&mut r, "MLSD");
    let f = mlsd.iter().find(|l| l.ends_with("; report.pdf")).unwrap();
    assert!(f.starts_with("type=file;size=1234;modify="), "{f}");
    assert!(
        mlsd.iter()
            .any(|l| l.starts_with("type=dir;") && l.ends_with("; sub"))
    );
    // The marker of a listed directory is not an entry of it.
    assert!(listing(&mut r, "LIST marked").is_empty());
    assert_eq!(listing(&mut r, "LIST sub").len(), 1);
    // LIST of a file shows that file.
    assert_eq!(listing(&mut r, "LIST report.pdf").len(), 1);
    r.expect("LIST nope", 550);
    r.expect("MLSD report.pdf", 501);
    let mlst = r.expect("MLST sub", 250);
    assert!(
        mlst.contains("type=dir;") && mlst.contains(" /sub"),
        "{mlst}"
    );
    let mlst = r.expect("MLST /", 250);
    assert!(mlst.contains("type=dir;"), "the home always exists: {mlst}");
    let stat = r.expect("STAT sub", 213);
    assert!(stat.contains("inner.txt"), "{stat}");
    let stat = r.expect("STAT report.pdf", 213);
    assert!(stat.contains("1234"), "{stat}");
}

fn empty_home_always_exists(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut r = env.raw();
    r.login("alice", "alicepw"); // alice/ has no key at all
    assert!(listing(&mut r, "LIST").is_empty());
    r.expect("CWD /", 250);
    r.expect("MLST /", 250);
}

fn large_directories_are_paged(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let n = 1100; // more than one ListObjectsV2 page
    env.rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            let (s3, bucket, key) = (
                env.s3.clone(),
                env.bucket.clone(),
                env.key(&format!("many/f{i:05}")),
            );
            set.spawn(async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(b"x".to_vec().into())
                    .send()
                    .await
                    .unwrap()
            });
            if set.len() >= 32 {
                set.join_next().await;
            }
        }
        while set.join_next().await.is_some() {}
    });
    env.put("many/zdir/inner", b"x");
    let mut r = env.raw_login();
    let lines = listing(&mut r, "NLST many");
    assert_eq!(lines.len(), n + 1);
    let mut sorted = lines.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), n + 1, "no duplicates across pages");
    assert_eq!(listing(&mut r, "MLSD many").len(), n + 1);
    let stat = r.expect("STAT many", 213);
    assert_eq!(stat.lines().filter(|l| l.starts_with(" -")).count(), n);
}

backend_tests!(
    list_formats,
    empty_home_always_exists,
    large_directories_are_paged
);
