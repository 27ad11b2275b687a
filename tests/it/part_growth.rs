//! The part-size schedule on a real upload: with a tiny `part_size`, a
//! 200 MiB stream of unknown length goes through three part sizes.

use s3ftpd::storage::{Endpoint, Storage, UploadOptions, part_size_for, upload};

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::TestEnv;

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

fn part_size_grows_on_a_real_upload(b: Backend) {
    if b == Backend::External {
        eprintln!("S3 servers refuse parts under 5 MiB; this needs the embedded store or Garage");
        return;
    }
    let env = TestEnv::start(b, |_| {});
    let base = 64 * KIB;
    let total = 200 * MIB;
    let endpoint = match b.remote() {
        Some(r) => Endpoint {
            url: Some(r.endpoint),
            keys: Some((r.access_key, r.secret_key)),
        },
        None => {
            let e = env.gateway().embedded().expect("embedded store");
            // AWS's 5 MiB part minimum, relaxed for this one test (Garage has none).
            e.set_min_part_size(0);
            Endpoint {
                url: Some(e.endpoint.clone()),
                keys: Some((e.access_key.clone(), e.secret_key.clone())),
            }
        }
    };
    let mut cfg = env.gateway_config().s3.clone();
    cfg.part_size = s3ftpd::config::Size(base);
    cfg.upload_concurrency = 8;
    let key = env.key("grown.bin");
    let got = env.rt.block_on(async {
        let storage = Storage::connect(
            &cfg,
            &endpoint,
            std::time::Duration::from_secs(30),
            std::sync::Arc::default(),
        )
        .await;
        let mut reader = tokio::io::AsyncReadExt::take(tokio::io::repeat(0x5a), total);
        let opts = UploadOptions {
            keep_partial: false,
            ascii: false,
            stall: std::time::Duration::from_secs(30),
        };
        let cancel = tokio_util::sync::CancellationToken::new();
        upload(&storage, &key, &mut reader, None, opts, &cancel).await
    });
    assert_eq!(got.expect("upload"), total);
    let want_parts = parts_for(base, total);
    assert!(
        part_size_for(base, want_parts) == 4 * base,
        "the schedule reached its third size"
    );
    assert!(
        u64::from(want_parts) < total / base,
        "fewer parts than without growth"
    );
    let head = env
        .rt
        .block_on(env.s3.head_object().bucket(&env.bucket).key(&key).send())
        .expect("head");
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

backend_tests!(part_size_grows_on_a_real_upload);
