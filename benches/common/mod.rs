//! What both benchmarks start with: a gateway on its embedded S3 store and
//! an `aws-sdk-s3` client straight to that same store (the baseline).

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use s3ftpd::{Config, Gateway};

/// A running gateway (user `b`, password `b`, bucket `bench`), a direct S3
/// client, and the runtime and data directory they live in.
pub struct Bench {
    pub rt: tokio::runtime::Runtime,
    pub gateway: Gateway,
    pub s3: Client,
    /// The effective config (one bench reads it: each bench compiles this
    /// module on its own).
    #[allow(dead_code)]
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
