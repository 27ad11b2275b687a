//! s3ftpd against S3 at a distance: the same workloads through the gateway
//! and straight from `aws-sdk-s3`, with a delaying proxy (`delay.rs`) in
//! front of the S3 server for both, at several round-trip times.
//!
//! `cargo bench --bench distance`. Knobs (defaults in brackets):
//! `BENCH_RTTS_MS` [0,20,80; `direct`: no proxy], `BENCH_SIZE_MIB` [256] (STOR/RETR),
//! `BENCH_COMMIT_GRACE_MS` [the config's 10] (`uploads.commit_grace` of the gateways),
//! `BENCH_FILES` [5000] (listings), `BENCH_SMALL` [100] (small STOR/RETR
//! of 4 KiB in one session), `BENCH_CONDITIONS` [honoured,ignored] (the
//! small files on a store that honours conditional writes, then on one
//! that ignores them as Garage does: a switch of the embedded store), `BENCH_RENAME_KEYS` [500] (directory
//! rename), `BENCH_WINDOW_KIB` [4096] (bytes in flight per
//! connection and direction), `BENCH_RATE_MIBPS` [none] (per connection and
//! direction), `BENCH_RUNS` [3] (medians), `BENCH_WORKLOADS`
//! [transfer,listing,small,rename,rights,events] (`small` includes FTPS
//! with strict end of file), `BENCH_S3` [the embedded store] (another S3
//! server's `http://host:port`, with a bucket `bench`, region us-east-1,
//! keys `BENCH_S3_KEY` / `BENCH_S3_SECRET`; the conditions switch is then
//! not used). The S3 server is the embedded
//! store; the FTP client is on loopback beside the gateway (S3 is what is
//! far). Baselines are what a careful engineer would do directly: multipart
//! upload with the gateway's part size and concurrency, parallel ranged
//! GETs pinned to the first response's ETag, one ListObjectsV2 paginator,
//! PutObject / GetObject loops on a warm client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use s3ftpd::embedded::EmbeddedS3;
use s3ftpd::{Config, Gateway};

#[path = "../common/mod.rs"]
mod common;
mod delay;
mod events;
mod ftp;
mod ftps;
mod rename;
mod rights;
mod work;

use common::MIB;

/// The S3 keys: the embedded store's, or `BENCH_S3_KEY` / `BENCH_S3_SECRET`.
fn keys() -> &'static (String, String) {
    static KEYS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let var = |n: &str, d: &str| std::env::var(n).unwrap_or_else(|_| d.to_owned());
        (
            var("BENCH_S3_KEY", "bench-key"),
            var("BENCH_S3_SECRET", "bench-secret"),
        )
    })
}

/// The knobs, from the environment.
pub struct Params {
    /// Round-trip times; `None` (`direct`): no proxy at all.
    rtts: Vec<Option<u64>>,
    pub size: usize,
    pub files: usize,
    pub small: usize,
    /// Keys of the folder the `rename` workload renames.
    pub rename: usize,
    pub runs: usize,
    /// Which workloads run: `transfer`, `listing`, `small`, `rename`.
    workloads: Vec<String>,
    window: usize,
    rate: Option<f64>,
    /// The `small` workload on a store that honours conditional writes
    /// (`false`) and on one that ignores them (`true`).
    conditions: Vec<bool>,
}

fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Params {
    fn from_env() -> Self {
        let rtts = std::env::var("BENCH_RTTS_MS").unwrap_or_else(|_| "0,20,80".into());
        Self {
            rtts: rtts
                .split(',')
                .map(|r| match r.trim() {
                    "direct" => None,
                    ms => Some(ms.parse().expect("BENCH_RTTS_MS: numbers or `direct`")),
                })
                .collect(),
            size: var("BENCH_SIZE_MIB", 256) * MIB,
            files: var("BENCH_FILES", 5000),
            small: var("BENCH_SMALL", 100),
            rename: var("BENCH_RENAME_KEYS", 500),
            runs: var("BENCH_RUNS", 3),
            workloads: std::env::var("BENCH_WORKLOADS")
                .unwrap_or_else(|_| "transfer,listing,small,rename,rights,events".into())
                .split(',')
                .map(|w| w.trim().to_owned())
                .collect(),
            window: var("BENCH_WINDOW_KIB", 4096) * 1024,
            conditions: std::env::var("BENCH_CONDITIONS")
                .unwrap_or_else(|_| "honoured,ignored".into())
                .split(',')
                .map(|c| match c.trim() {
                    "honoured" => false,
                    "ignored" => true,
                    other => panic!("BENCH_CONDITIONS: honoured or ignored, not {other}"),
                })
                .collect(),
            rate: std::env::var("BENCH_RATE_MIBPS")
                .ok()
                .and_then(|r| r.parse::<f64>().ok())
                .map(|r| r * MIB as f64),
        }
    }
}

/// An S3 client for `endpoint` with the store's keys.
pub fn client(endpoint: &str) -> Client {
    Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new(&keys().0, &keys().1, None, None, "bench"))
            .force_path_style(true)
            .http_client(s3ftpd::storage::https_client())
            .build(),
    )
}

/// S3 as seen from far away: the proxy's address and a direct client through it.
pub struct Far {
    pub endpoint: String,
    pub s3: Client,
}

impl Far {
    /// A gateway on this far S3 (user `b`/`b`, every default of the
    /// configuration). A new one has a cold cache.
    pub fn gateway(&self, rt: &tokio::runtime::Runtime) -> Gateway {
        self.gateway_with(rt, "[{ name: b, password: b }]")
    }

    /// As [`Far::gateway`], with `users` (YAML flow list) as its accounts.
    pub fn gateway_with(&self, rt: &tokio::runtime::Runtime, users: &str) -> Gateway {
        self.gateway_yaml(rt, users, "")
    }

    /// As [`Far::gateway_with`], with `extra` YAML (whole sections).
    pub fn gateway_yaml(&self, rt: &tokio::runtime::Runtime, users: &str, extra: &str) -> Gateway {
        self.gateway_s3(rt, users, "", extra)
    }

    /// As [`Far::gateway_yaml`], with `s3_extra` (`key: value, …`) in `s3:`.
    pub fn gateway_s3(
        &self,
        rt: &tokio::runtime::Runtime,
        users: &str,
        s3_extra: &str,
        extra: &str,
    ) -> Gateway {
        // BENCH_COMMIT_GRACE_MS: `uploads.commit_grace` (default: the config's own).
        let grace = std::env::var("BENCH_COMMIT_GRACE_MS")
            .map(|ms| format!("uploads: {{ commit_grace: {ms}ms }}\n"))
            .unwrap_or_default();
        let yaml = format!(
            "listen: 127.0.0.1:0\npassive: {{ ports: 43200-43299 }}\n\
             s3: {{ endpoint: '{}', bucket: bench, access_key_id: '{}', secret_access_key: '{}'{s3_extra} }}\n\
             users: {users}\n{grace}{extra}",
            self.endpoint,
            keys().0,
            keys().1,
        );
        let config = Config::from_yaml(&yaml, Vec::new()).unwrap();
        rt.block_on(Gateway::start(config)).unwrap()
    }
}

/// Prints one comparison: baseline and gateway times, as rates when
/// `bytes` is given, and the ratio (above 1: the gateway is faster).
pub fn row(what: &str, base: &str, b: Duration, g: Duration, bytes: Option<usize>) {
    let show = |d: Duration| match bytes {
        Some(n) => format!("{:>7.1} MiB/s", common::mbps(n, d)),
        None => format!("{:>8.3} s", d.as_secs_f64()),
    };
    println!(
        "  {what:<34} {base:<30} {} | s3ftpd {} | ratio {:.2}",
        show(b),
        show(g),
        b.as_secs_f64() / g.as_secs_f64()
    );
}

/// The S3 server: `BENCH_S3` — another server (Garage, MinIO) with a
/// bucket `bench`, keys `BENCH_S3_KEY` / `BENCH_S3_SECRET`, region
/// us-east-1 —, else the embedded store; and its endpoint.
fn start_store(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
) -> (Option<EmbeddedS3>, String) {
    if let Ok(endpoint) = std::env::var("BENCH_S3") {
        return (None, endpoint);
    }
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let store = rt
        .block_on(EmbeddedS3::start(
            dir,
            any,
            &["bench"],
            &keys().0,
            &keys().1,
        ))
        .unwrap();
    let endpoint = store.endpoint.clone();
    (Some(store), endpoint)
}

/// The `small` workload (plain FTP, then FTPS): on the embedded store as
/// AWS S3 and MinIO are (conditional writes honoured), then as Garage 2.5
/// is (ignored); on `BENCH_S3` as it is.
fn small(rt: &tokio::runtime::Runtime, far: &Far, p: &Params, store: Option<&EmbeddedS3>) {
    let Some(store) = store else {
        println!("  (BENCH_S3 as it is)");
        work::small(rt, far, p);
        ftps::small_ftps(rt, far, p);
        return;
    };
    for ignored in &p.conditions {
        store.ignore_conditions(*ignored);
        println!(
            "  (conditional writes {} by the store)",
            if *ignored { "ignored" } else { "honoured" }
        );
        work::small(rt, far, p);
        ftps::small_ftps(rt, far, p);
    }
    store.ignore_conditions(false);
}

fn main() {
    let p = Params::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, near_endpoint) = start_store(&rt, dir.path());
    let upstream: SocketAddr = near_endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let near = client(&near_endpoint);
    rt.block_on(work::seed_listing(&near, p.files));
    // Files changed in the last 5 s are left out of a folder's time index
    // (src/storage/time_index.rs): let the seeded ones settle.
    std::thread::sleep(Duration::from_secs(6));
    for &rtt in &p.rtts {
        let endpoint = match rtt {
            None => {
                println!("No proxy: S3 on loopback, medians of {} runs", p.runs);
                near_endpoint.clone()
            }
            Some(rtt) => {
                let link = delay::Link {
                    one_way: Duration::from_millis(rtt) / 2,
                    window: p.window,
                    rate: p.rate,
                };
                println!(
                    "RTT {rtt} ms (window {} KiB per connection and direction{}), medians of {} runs",
                    p.window / 1024,
                    p.rate
                        .map(|r| format!(", {:.0} MiB/s cap", r / MIB as f64))
                        .unwrap_or_default(),
                    p.runs
                );
                format!("http://{}", rt.block_on(delay::start(upstream, link)))
            }
        };
        let far = Far {
            s3: client(&endpoint),
            endpoint,
        };
        let started = Instant::now();
        let runs = |w: &str| p.workloads.iter().any(|x| x == w);
        if runs("transfer") {
            work::transfer(&rt, &far, &p);
        }
        if runs("listing") {
            work::listing(&rt, &far, &p);
        }
        if runs("small") {
            // The store as AWS S3 and MinIO are (conditional writes
            // honoured), then as Garage 2.5 is (ignored).
            small(&rt, &far, &p, store.as_ref());
        }
        if runs("rename") {
            rename::rename(&rt, &far, &p);
        }
        if runs("rights") {
            rights::rights(&rt, &far, &p);
        }
        if runs("events") {
            events::events(&rt, &far, &p);
        }
        println!("  (this RTT took {:.0} s)", started.elapsed().as_secs_f64());
    }
}
