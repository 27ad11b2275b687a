//! S3's part limits, scaled down so real uploads and copies exercise what
//! otherwise needs terabytes: the part-size schedule (a tiny `part_size`)
//! and multi-part server-side copies (a small copy-part limit instead of
//! 5 GiB), through the storage layer against real S3 servers.

use s3ftpd::storage::{CommitGate, S3Access, Storage, UploadOptions, part_size_for, upload};

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{TestEnv, pattern};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// How many parts the schedule uses for `total` bytes.
fn parts_for(base: u64, total: u64) -> u32 {
    let (mut n, mut sent) = (0u32, 0u64);
    while sent < total {
        n += 1;
        sent += part_size_for(base, n);
    }
    n
}

/// A storage handle on the test's bucket with its own `part_size`; on the
/// embedded store, `min_part` replaces AWS's 5 MiB part minimum.
fn storage(env: &TestEnv, b: Backend, part_size: u64, min_part: u64) -> Storage {
    let endpoint = match b.remote() {
        Some(r) => S3Access {
            url: Some(r.endpoint),
            keys: Some((r.access_key, r.secret_key)),
        },
        None => {
            let e = env.gateway().embedded().expect("embedded store");
            e.set_min_part_size(min_part);
            S3Access {
                url: Some(e.endpoint.clone()),
                keys: Some((e.access_key.clone(), e.secret_key.clone())),
            }
        }
    };
    let mut cfg = env.gateway_config().s3.clone();
    cfg.part_size = s3ftpd::config::Size(part_size);
    cfg.upload_concurrency = 8;
    env.rt
        .block_on(Storage::connect(&cfg, &endpoint, std::sync::Arc::default()))
}

fn options() -> UploadOptions {
    UploadOptions {
        keep_partial: false,
        stall: std::time::Duration::from_secs(30),
        strict_eof: false,
        new_only: false,
        budget: None,
        tag: None,
    }
}

impl TestEnv {
    fn head(&self, key: &str) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
        self.rt
            .block_on(
                self.s3
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
                    .send(),
            )
            .expect("head")
    }
}

fn part_size_grows_on_a_real_upload(b: Backend) {
    if b == Backend::External {
        eprintln!("S3 servers refuse parts under 5 MiB; this needs the embedded store or Garage");
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let base = 64 * KIB;
    let total = 200 * MIB;
    // AWS's 5 MiB part minimum, relaxed for this one test (Garage has none).
    let storage = storage(&env, b, base, 0);
    let key = env.key("grown.bin");
    let got = env.rt.block_on(async {
        let mut reader = tokio::io::AsyncReadExt::take(tokio::io::repeat(0x5a), total);
        let cancel = tokio_util::sync::CancellationToken::new();
        upload(
            &storage,
            &key,
            &mut reader,
            None,
            options(),
            &cancel,
            CommitGate::open(),
        )
        .await
    });
    assert_eq!(got.expect("upload").received, total);
    let want_parts = parts_for(base, total);
    assert!(
        part_size_for(base, want_parts) == 4 * base,
        "the schedule reached its third size"
    );
    assert!(
        u64::from(want_parts) < total / base,
        "fewer parts than without growth"
    );
    let head = env.head(&key);
    assert_eq!(head.content_length(), Some(i64::try_from(total).unwrap()));
    let etag = head.e_tag().unwrap().trim_matches('"').to_owned();
    assert!(
        etag.ends_with(&format!("-{want_parts}")),
        "{etag}: expected {want_parts} parts"
    );
    let tail = env.rt.block_on(async {
        let o = env
            .s3
            .get_object()
            .bucket(&env.bucket)
            .key(&key)
            .range(format!("bytes={}-", total - 1000))
            .send()
            .await
            .expect("get");
        o.body.collect().await.unwrap().to_vec()
    });
    assert_eq!(tail, vec![0x5a; 1000]);
}

/// With a 6 MiB copy-part limit standing in for S3's 5 GiB, renaming a
/// 17 MiB file is a multipart copy of three ranged UploadPartCopy parts
/// (content type, metadata and CRC32C kept), and appending to it copies it
/// in three ranges before the new part. Every part is over 5 MiB, so this
/// runs on any S3 server.
fn copies_above_the_part_limit_are_ranged(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let storage = storage(&env, b, 8 * MIB, 5 * MIB).with_copy_part_limit(6 * MIB);
    let body = pattern(17 * 1024 * 1024, 90);
    let (src, dst) = (env.key("big/src.bin"), env.key("big/dst.bin"));
    env.rt.block_on(async {
        let cancel = tokio_util::sync::CancellationToken::new();
        upload(
            &storage,
            &src,
            &mut &body[..],
            None,
            options(),
            &cancel,
            CommitGate::open(),
        )
        .await
        .expect("upload");
        env.s3
            .copy_object()
            .bucket(&env.bucket)
            .key(&src)
            .copy_source(format!("{}/{src}", env.bucket))
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .metadata("mtime", "1577934245")
            .content_type("application/x-test")
            .send()
            .await
            .expect("set metadata");
    });
    let before = env.head(&src);
    let info = env
        .rt
        .block_on(storage.head(&src))
        .expect("head")
        .expect("exists");
    env.rt
        .block_on(storage.rename_object(&storage, &src, &dst, info.size, Some(&info.etag)))
        .expect("rename");
    assert_eq!(env.get("big/src.bin"), None, "source deleted");
    assert!(env.get("big/dst.bin").unwrap() == body);
    let after = env.head(&dst);
    let etag = after.e_tag().unwrap().trim_matches('"');
    assert!(etag.ends_with("-3"), "{etag}: three ranged copies");
    assert_eq!(after.content_type(), Some("application/x-test"));
    assert_eq!(
        after
            .metadata()
            .and_then(|m| m.get("mtime"))
            .map(String::as_str),
        Some("1577934245")
    );
    if let Some(crc) = before.checksum_crc32_c() {
        assert_eq!(after.checksum_crc32_c(), Some(crc), "CRC32C carried over");
    }
    // Append: the existing 17 MiB again in three ranges, then the new bytes.
    let tail = pattern(1000, 91);
    let base = env
        .rt
        .block_on(storage.head(&dst))
        .expect("head")
        .expect("exists");
    env.rt
        .block_on(async {
            let cancel = tokio_util::sync::CancellationToken::new();
            upload(
                &storage,
                &dst,
                &mut &tail[..],
                Some(&base),
                options(),
                &cancel,
                CommitGate::open(),
            )
            .await
        })
        .expect("append");
    let mut whole = body;
    whole.extend_from_slice(&tail);
    assert!(env.get("big/dst.bin").unwrap() == whole);
    let etag = env.head(&dst).e_tag().unwrap().trim_matches('"').to_owned();
    assert!(
        etag.ends_with("-4"),
        "{etag}: three copies and the new part"
    );
    assert_eq!(env.open_uploads(), 0);
}

backend_tests!(
    part_size_grows_on_a_real_upload,
    copies_above_the_part_limit_are_ranged
);
