//! What the benchmarks share: a gateway on its embedded S3 store and an
//! `aws-sdk-s3` client straight to that same store (the baseline), and the
//! baselines' own tools. Each bench compiles this module on its own and
//! uses part of it.
#![allow(dead_code)]

use std::io::Read;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use s3ftpd::{Config, Gateway};

pub const MIB: usize = 1024 * 1024;

/// A reader producing `left` pseudo-random bytes without holding them.
pub struct Generator {
    pub left: usize,
    pub x: u64,
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left);
        for b in &mut buf[..n] {
            self.x ^= self.x << 13;
            self.x ^= self.x >> 7;
            self.x ^= self.x << 17;
            *b = (self.x >> 24) as u8;
        }
        self.left -= n;
        Ok(n)
    }
}

pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time this process has used so far (user + system), from
/// /proc/self/stat (clock ticks of 1/100 s on Linux).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses: utime and
    // stime are the 14th and 15th fields of the line, 12th and 13th here.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

pub fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / MIB as f64 / d.as_secs_f64()
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The same multipart upload the gateway makes (same part size, same parts in
/// flight), straight from memory with aws-sdk-s3: the like-for-like baseline.
pub async fn sdk_multipart(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    data: &bytes::Bytes,
    part: usize,
    concurrency: usize,
) {
    let id = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut set = tokio::task::JoinSet::new();
    let mut done = Vec::new();
    for (i, chunk) in data.chunks(part).enumerate() {
        if set.len() >= concurrency {
            done.push(set.join_next().await.unwrap().unwrap());
        }
        let (s3, id, body) = (s3.clone(), id.clone(), data.slice_ref(chunk));
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        set.spawn(async move {
            let n = i32::try_from(i + 1).unwrap();
            let out = s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .part_number(n)
                .body(body.into())
                .send()
                .await
                .unwrap();
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build()
        });
    }
    while let Some(r) = set.join_next().await {
        done.push(r.unwrap());
    }
    done.sort_by_key(|p| p.part_number());
    let parts = CompletedMultipartUpload::builder()
        .set_parts(Some(done))
        .build();
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(parts)
        .send()
        .await
        .unwrap();
}

/// A running gateway (user `b`, password `b`, bucket `bench`), a direct S3
/// client, and the runtime and data directory they live in.
pub struct Bench {
    pub rt: tokio::runtime::Runtime,
    pub gateway: Gateway,
    pub s3: Client,
    /// The effective config.
    pub config: Config,
    _dir: tempfile::TempDir,
}

impl Bench {
    /// Starts the gateway with passive ports `passive` (disjoint per bench).
    pub fn start(passive: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "listen: 127.0.0.1:0\npassive: {{ ports: {passive} }}\ns3: {{ endpoint: embedded, bucket: bench, data_dir: '{}' }}\nusers: [{{ name: b, password: b }}]\n",
            dir.path().join("data").display()
        );
        let config = Config::from_yaml(&yaml, Vec::new()).unwrap();
        let gateway = rt.block_on(Gateway::start(config.clone())).unwrap();
        let e = gateway.embedded().unwrap();
        let s3 = Client::from_conf(
            aws_sdk_s3::config::Builder::new()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(&e.endpoint)
                .credentials_provider(Credentials::new(
                    &e.access_key,
                    &e.secret_key,
                    None,
                    None,
                    "bench",
                ))
                .force_path_style(true)
                .http_client(s3ftpd::storage::https_client())
                .build(),
        );
        Self {
            rt,
            gateway,
            s3,
            config,
            _dir: dir,
        }
    }
}

/// Every key under `prefix`, by one ListObjectsV2 paginator.
pub async fn keys_under(s3: &Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        out.extend(
            page.unwrap()
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    out
}

/// The baseline: list, copy every key one at a time, delete in batches of 1,000.
pub async fn serial_rename(s3: &Client, bucket: &str, from: &str, to: &str) {
    let keys = keys_under(s3, bucket, from).await;
    for k in &keys {
        s3.copy_object()
            .bucket(bucket)
            .key(format!("{to}{}", &k[from.len()..]))
            .copy_source(format!("{bucket}/{k}"))
            .send()
            .await
            .unwrap();
    }
    for batch in keys.chunks(1000) {
        let objects = batch
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
            .collect();
        s3.delete_objects()
            .bucket(bucket)
            .delete(
                Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
}

/// `count` objects of 1 KiB, four levels deep under `{root}/`, 32 PutObjects
/// in flight: the tree the rename benches move.
pub async fn seed_tree(s3: &Client, bucket: &str, root: &str, count: usize) {
    use futures::StreamExt;
    futures::stream::iter(0..count)
        .map(|i| {
            let key = format!("{root}/a{}/b{}/c{}/f{i:05}.txt", i % 5, i % 7, i % 3);
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(vec![b'x'; 1024].into())
                .send()
        })
        .buffer_unordered(32)
        .for_each(|r| {
            r.unwrap();
            futures::future::ready(())
        })
        .await;
}
