//! Downloads in parallel ranged GETs (`s3.download_concurrency`), and in
//! one stream when it is 1: byte for byte what S3 holds, from any REST
//! offset, in both TYPEs; and an
//! overwrite in the middle of a download fails it instead of stitching
//! two versions together.

use std::io::Read;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{TestEnv, pattern, read_all};

const MIB: usize = 1024 * 1024;

fn retr(env: &TestEnv, name: &str, rest: usize, ascii: bool) -> Vec<u8> {
    let mut r = env.raw_login();
    if ascii {
        r.expect("TYPE A", 200);
    }
    let d = r.epsv();
    if rest > 0 {
        r.expect(&format!("REST {rest}"), 350);
    }
    r.expect(&format!("RETR {name}"), 150);
    let got = read_all(d);
    let (code, text) = r.reply();
    assert_eq!(code, 226, "RETR {name} from {rest}: {text}");
    got
}

/// Sizes around a range (`s3.part_size`), offsets inside the first, a
/// middle and the last range; ASCII across range boundaries.
fn ranged_downloads_are_byte_exact(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let part = usize::try_from(env.gateway_config().s3.part_size.0).unwrap();
    for size in [0, 1, part - 1, part, part + 1, 5 * part + 3] {
        let body = pattern(size, size as u64);
        let name = format!("f{size}.bin");
        env.put(&name, &body);
        for rest in [0, part / 2 + 7, part, 3 * part + 1] {
            if rest > size {
                continue;
            }
            let got = retr(&env, &name, rest, false);
            assert!(
                got == body[rest..],
                "size {size} from {rest}: {} bytes, {} expected",
                got.len(),
                size - rest
            );
        }
    }
    // TYPE A: LF becomes CRLF, also where a line spans two ranges.
    let text: Vec<u8> = (0..(2 * part / 10 + 3))
        .flat_map(|i| format!("{i:09}\n").into_bytes())
        .collect();
    env.put("t.txt", &text);
    let got = retr(&env, "t.txt", 0, true);
    let want: Vec<u8> = text
        .iter()
        .flat_map(|&c| {
            if c == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![c]
            }
        })
        .collect();
    assert!(
        got == want,
        "TYPE A: {} bytes, {} expected",
        got.len(),
        want.len()
    );
}

/// The object is replaced while a slow client downloads it: the client
/// gets a prefix of the old version and an error, never bytes of both.
fn overwrite_mid_download_never_stitches(b: Backend) {
    let env = TestEnv::start(b, |c| c.s3.download_concurrency = 2);
    let old = pattern(64 * MIB, 1);
    let new = pattern(64 * MIB, 2);
    env.put("v.bin", &old);
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("RETR v.bin", 150);
    // Read a little: the gateway holds at most 3 ranges (of 5 MiB here) of
    // the 13, so most of the object is still to be fetched.
    let mut got = vec![0u8; MIB];
    d.read_exact(&mut got).unwrap();
    env.put("v.bin", &new);
    let mut rest = Vec::new();
    let _ = d.read_to_end(&mut rest);
    got.extend_from_slice(&rest);
    let (code, text) = r.reply();
    assert!(got.len() < old.len(), "the whole file arrived: {text}");
    assert!(got == old[..got.len()], "only bytes of the old version");
    assert!(
        matches!(code, 450 | 451 | 426),
        "the download fails: {code} {text}"
    );
    // Afterwards the new version downloads whole.
    assert!(retr(&env, "v.bin", 0, false) == new);
}

/// `s3.download_concurrency: 1`: one streamed GetObject (from `REST n`
/// a `bytes=n-` range), byte for byte, empty files and the very end included.
fn single_stream_downloads_are_byte_exact(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.s3.download_concurrency = 1;
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    });
    let body = pattern(12 * MIB + 5, 7);
    env.put("one.bin", &body);
    env.put("empty.bin", b"");
    let gets = || {
        let m = crate::observe::scrape(env.gateway().metrics_addr().unwrap());
        m.get(r#"s3ftpd_s3_requests_total{operation="GetObject",outcome="ok"}"#)
            .copied()
            .unwrap_or(0.0)
    };
    let before = gets();
    assert!(retr(&env, "one.bin", 0, false) == body);
    assert_eq!(gets() - before, 1.0, "one GetObject for 12 MiB");
    for rest in [1, 7 * MIB + 3, body.len()] {
        assert!(
            retr(&env, "one.bin", rest, false) == body[rest..],
            "from {rest}"
        );
    }
    assert!(retr(&env, "empty.bin", 0, false).is_empty());
}

backend_tests!(
    single_stream_downloads_are_byte_exact,
    ranged_downloads_are_byte_exact,
    overwrite_mid_download_never_stitches
);
