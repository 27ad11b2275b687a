//! HASH and the checksums uploads leave in S3.

use md5::Digest as _;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{Raw, TestEnv, pattern};

const MIB: usize = 1024 * 1024;

fn sha256(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

fn crc32c(b: &[u8]) -> String {
    format!("{:08x}", crc_fast::crc32_iscsi(b))
}

fn md5(b: &[u8]) -> String {
    hex::encode(md5::Md5::digest(b))
}

impl TestEnv {
    /// The full-object CRC32C S3 stores for `rel` (hex), if any.
    fn stored_crc32c(&self, rel: &str) -> Option<String> {
        let out = self
            .rt
            .block_on(
                self.s3
                    .head_object()
                    .bucket(&self.bucket)
                    .key(self.key(rel))
                    .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
                    .send(),
            )
            .expect("head_object");
        let v = out.checksum_crc32_c()?;
        let bytes = aws_smithy_types::base64::decode(v).ok()?;
        Some(hex::encode(bytes))
    }
}

fn hash(r: &mut Raw, path: &str) -> (String, String) {
    let text = r.expect(&format!("HASH {path}"), 213);
    let mut words = text.trim().split(' ').skip(1);
    let algo = words.next().unwrap().to_owned();
    let _range = words.next().unwrap();
    (algo, words.next().unwrap().to_owned())
}

/// Uploads send a CRC32C that S3 keeps (single PutObject, FULL_OBJECT
/// multipart, and after APPE); HASH matches digests computed here.
fn hash_matches_local_digests(b: Backend) {
    let env = TestEnv::start(b, crate::observe::with_metrics);
    let metrics = env.gateway().metrics_addr().unwrap();
    let gets = || -> f64 {
        crate::observe::scrape(metrics)
            .iter()
            .filter(|(k, _)| k.starts_with(r#"s3ftpd_s3_requests_total{operation="GetObject""#))
            .map(|(_, v)| v)
            .sum()
    };
    let small = pattern(1000, 60);
    let big = pattern(12 * MIB + 3, 61);
    let mut f = env.ftp("u", "p");
    f.put_file("small.bin", &mut &small[..]).unwrap();
    f.put_file("big.bin", &mut &big[..]).unwrap();
    assert_eq!(env.stored_crc32c("small.bin"), Some(crc32c(&small)));
    assert_eq!(env.stored_crc32c("big.bin"), Some(crc32c(&big)));
    let mut r = env.raw_login();
    assert_eq!(r.expect("OPTS HASH", 200).trim(), "200 SHA-256");
    // What S3 stores answers without reading the object (no GetObject):
    // CRC32C always, MD5 for the single-part upload; the rest is read, one
    // GetObject per range of part_size (5 MiB here: 3 for 12 MiB).
    let part = env.gateway_config().s3.part_size.0 as usize;
    let ranges = big.len().div_ceil(part) as f64;
    for (name, body, reads, md5_reads) in [
        ("small.bin", &small, 1.0, 0.0),
        ("big.bin", &big, ranges, ranges),
    ] {
        let before = gets();
        r.expect("OPTS HASH SHA-256", 200);
        assert_eq!(hash(&mut r, name), ("SHA-256".into(), sha256(body)));
        assert_eq!(gets() - before, reads, "{name}: SHA-256 is read");
        let before = gets();
        r.expect("OPTS HASH CRC32C", 200);
        assert_eq!(hash(&mut r, name), ("CRC32C".into(), crc32c(body)));
        assert_eq!(gets() - before, 0.0, "{name}: CRC32C from S3's checksum");
        let before = gets();
        r.expect("OPTS HASH MD5", 200);
        assert_eq!(hash(&mut r, name), ("MD5".into(), md5(body)));
        assert_eq!(
            gets() - before,
            md5_reads,
            "{name}: MD5 from the ETag when single-part"
        );
    }
    let text = r.expect("HASH small.bin", 213);
    assert_eq!(
        text.trim(),
        format!("213 MD5 0-1000 {} small.bin", md5(&small))
    );
    // Appending keeps a whole-object CRC32C (combined from the copied
    // object's and the new parts'), so HASH CRC32C still needs no read.
    let tail = pattern(2 * MIB, 62);
    f.append_file("big.bin", &mut &tail[..]).unwrap();
    let mut whole = big.clone();
    whole.extend_from_slice(&tail);
    assert_eq!(env.stored_crc32c("big.bin"), Some(crc32c(&whole)));
    r.expect("OPTS HASH CRC32C", 200);
    assert_eq!(hash(&mut r, "big.bin").1, crc32c(&whole));
    // Objects from other tools, without checksums: computed by reading.
    env.put("plain.txt", b"written by another tool");
    assert_eq!(
        hash(&mut r, "plain.txt").1,
        crc32c(b"written by another tool")
    );
    // FEAT stars the session's algorithm; bad input is refused.
    let feat = r.expect("FEAT", 211);
    assert!(feat.contains(" HASH SHA-256;CRC32C*;MD5\r\n"), "{feat}");
    r.expect("OPTS HASH SHA-1", 504);
    r.expect("HASH nope.bin", 550);
    env.put("dir/x", b"");
    r.expect("HASH dir", 550);
    r.expect("HASH", 501);
}

backend_tests!(hash_matches_local_digests);
