//! The S3 servers the suite runs against (DESIGN.md "Test S3 servers").
//!
//! `S3FTPD_TEST_BACKENDS` is a comma list of `embedded`, `garage`,
//! `external`; by default `embedded`, plus `garage` when a `garage` binary
//! is on PATH (read by `build.rs`: tests of a backend not selected are
//! compiled as ignored). A backend that is asked for but cannot run fails
//! the test.

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Which S3 server a test talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The in-process store of s3ftpd (started per test).
    Embedded,
    /// A Garage server started once per test process.
    Garage,
    /// Any endpoint given by `S3FTPD_TEST_ENDPOINT` & co.
    External,
}

/// Where a shared (non-embedded) S3 server is.
#[derive(Debug, Clone)]
pub struct Remote {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Garage => "garage",
            Self::External => "external",
        }
    }

    /// Whether this backend is selected for this run (as `build.rs` saw
    /// `S3FTPD_TEST_BACKENDS` when the suite was built).
    pub fn enabled(self) -> bool {
        env!("S3FTPD_TEST_BACKENDS_BUILT")
            .split(',')
            .any(|b| b == self.name())
    }

    /// The shared server of this backend (`None` for embedded).
    pub fn remote(self) -> Option<Remote> {
        match self {
            Self::Embedded => None,
            Self::Garage => Some(garage().clone()),
            Self::External => {
                let var = |k: &str| {
                    std::env::var(k).unwrap_or_else(|_| panic!("backend external needs {k}"))
                };
                Some(Remote {
                    endpoint: var("S3FTPD_TEST_ENDPOINT"),
                    region: std::env::var("S3FTPD_TEST_REGION")
                        .unwrap_or_else(|_| "us-east-1".into()),
                    bucket: var("S3FTPD_TEST_BUCKET"),
                    access_key: var("AWS_ACCESS_KEY_ID"),
                    secret_key: var("AWS_SECRET_ACCESS_KEY"),
                })
            }
        }
    }
}

fn hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:x}", rand::random::<u8>() & 0xF))
        .collect()
}

/// A Garage configuration in `dir` on free loopback ports, and its keys.
fn garage_config(dir: &std::path::Path) -> (std::path::PathBuf, Remote) {
    let (rpc, s3) = (crate::ports::one(), crate::ports::one());
    let config = format!(
        "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\nreplication_factor = 1\n\
         rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
         [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n",
        d = dir.display(),
        secret = hex(64)
    );
    let config_path = dir.join("garage.toml");
    std::fs::write(&config_path, config).unwrap();
    let remote = Remote {
        endpoint: format!("http://127.0.0.1:{s3}"),
        region: "garage".into(),
        bucket: "s3ftpd-test".into(),
        access_key: format!("GK{}", hex(24)),
        secret_key: hex(64),
    };
    (config_path, remote)
}

fn garage_env(cmd: &mut Command, remote: &Remote, log: &std::path::Path) {
    let log = std::fs::File::create(log).unwrap();
    cmd.env("GARAGE_DEFAULT_ACCESS_KEY", &remote.access_key)
        .env("GARAGE_DEFAULT_SECRET_KEY", &remote.secret_key)
        .env("GARAGE_DEFAULT_BUCKET", &remote.bucket)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
}

/// Starts Garage once per test process and keeps it for the process's life.
/// Garage runs under `sh`, which kills it when our end of its stdin closes
/// (that is, when the test process exits, however it exits).
fn garage() -> &'static Remote {
    &shared_garage().0
}

fn shared_garage() -> &'static (Remote, Child, tempfile::TempDir) {
    static GARAGE: OnceLock<(Remote, Child, tempfile::TempDir)> = OnceLock::new();
    GARAGE
        .get_or_init(|| {
            assert!(on_path("garage"), "backend garage selected but no `garage` binary on PATH (cargo install garage --locked)");
            let dir = tempfile::tempdir().unwrap();
            let (config_path, remote) = garage_config(dir.path());
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg("garage -c \"$1\" server --single-node --default-bucket & pid=$!; cat >/dev/null; kill $pid; wait $pid")
                .arg("sh")
                .arg(&config_path);
            garage_env(&mut cmd, &remote, &dir.path().join("garage.log"));
            let child = cmd.spawn().expect("start garage");
            wait_ready(&remote, &dir);
            (remote, child, dir)
        })
}

/// Makes `bucket` on the Garage server whose config is `config` with its
/// own CLI (`garage bucket create`, then `bucket allow` for `remote`'s
/// key); a bucket that exists is kept.
fn garage_bucket(config: &std::path::Path, remote: &Remote, bucket: &str) -> Remote {
    let cli = |args: &[&str]| {
        Command::new("garage")
            .arg("-c")
            .arg(config)
            .args(args)
            .output()
            .expect("garage CLI")
    };
    let made = cli(&["bucket", "create", bucket]);
    let text =
        String::from_utf8_lossy(&made.stderr).into_owned() + &String::from_utf8_lossy(&made.stdout);
    assert!(
        made.status.success() || text.contains("already exists"),
        "garage bucket create: {text}"
    );
    let allowed = cli(&[
        "bucket",
        "allow",
        "--read",
        "--write",
        "--owner",
        bucket,
        "--key",
        &remote.access_key,
    ]);
    assert!(allowed.status.success(), "garage bucket allow: {allowed:?}");
    Remote {
        bucket: bucket.to_owned(),
        ..remote.clone()
    }
}

/// Another bucket on this backend's shared server (Garage: made with its
/// CLI; external: with CreateBucket; `None` for the embedded store, whose
/// buckets come from the gateway's own config).
pub fn another_bucket(b: Backend, bucket: &str) -> Option<Remote> {
    match b {
        Backend::Garage => {
            let (remote, _, dir) = shared_garage();
            Some(garage_bucket(
                &dir.path().join("garage.toml"),
                remote,
                bucket,
            ))
        }
        // Made with CreateBucket and the run's own keys (MinIO, AWS: a
        // bucket the keys may create).
        Backend::External => {
            let remote = Remote {
                bucket: bucket.to_owned(),
                ..b.remote().expect("external")
            };
            let s3 = crate::harness::s3_client(&remote);
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                use aws_sdk_s3::error::ProvideErrorMetadata as _;
                if let Err(e) = s3.create_bucket().bucket(bucket).send().await {
                    let code = e.code().unwrap_or_default().to_owned();
                    assert!(
                        code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists",
                        "CreateBucket {bucket}: {e:?}"
                    );
                }
            });
            Some(remote)
        }
        // The embedded store makes every bucket its config names.
        Backend::Embedded => None,
    }
}

/// A Garage server of one test's own, to freeze (SIGSTOP) or kill; it is
/// killed when dropped.
pub struct PrivateGarage {
    pub remote: Remote,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PrivateGarage {
    /// Starts one; `None` when no `garage` binary is on PATH (the test is
    /// then skipped, or fails when Garage is a selected backend).
    pub fn start() -> Option<Self> {
        if !on_path("garage") {
            assert!(
                !Backend::Garage.enabled(),
                "backend garage selected but no `garage` binary on PATH"
            );
            eprintln!("garage not installed; test skipped");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (config_path, remote) = garage_config(dir.path());
        let mut cmd = Command::new("garage");
        cmd.arg("-c")
            .arg(&config_path)
            .args(["server", "--single-node", "--default-bucket"]);
        garage_env(&mut cmd, &remote, &dir.path().join("garage.log"));
        let child = cmd.spawn().expect("start garage");
        wait_ready(&remote, &dir);
        Some(Self {
            remote,
            child,
            _dir: dir,
        })
    }

    /// Sends a signal (`STOP`, `CONT`, …) to the Garage process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} garage");
    }
}

impl Drop for PrivateGarage {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_ready(remote: &Remote, dir: &tempfile::TempDir) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = crate::harness::s3_client(remote);
    let start = Instant::now();
    loop {
        let ok = rt.block_on(async {
            client
                .head_bucket()
                .bucket(&remote.bucket)
                .send()
                .await
                .is_ok()
        });
        if ok {
            return;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let log = std::fs::read_to_string(dir.path().join("garage.log")).unwrap_or_default();
            panic!("garage did not become ready in 30 s:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
