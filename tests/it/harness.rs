//! Test environment: a gateway on 127.0.0.1:0 in front of a real S3 server,
//! a fresh key prefix per test, an S3 client to check the bucket side, and
//! a raw control-connection client for exact reply codes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use s3ftpd::{Config, Gateway};
use suppaftp::FtpStream;

use crate::backend::{Backend, Remote};

/// Runs `test` on `backend`. Backends that are not selected never get
/// here: `build.rs` compiles their tests as ignored. A run whose
/// `S3FTPD_TEST_BACKENDS` differs from the one the suite was built with
/// fails instead of testing the wrong servers (`cargo test` rebuilds).
pub fn on_backend(backend: Backend, test: fn(Backend)) {
    let built = env!("S3FTPD_TEST_BACKENDS_BUILT");
    if let Ok(now) = std::env::var("S3FTPD_TEST_BACKENDS") {
        let now: Vec<&str> = now
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .collect();
        assert_eq!(
            now.join(","),
            built,
            "S3FTPD_TEST_BACKENDS changed since the suite was built; run it through cargo test"
        );
    }
    test(backend);
}

/// One test function per backend: `backend_tests!(a, b)` makes `a::embedded`, `a::garage`, …;
/// those of backends not selected are ignored (see `build.rs`).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            #[cfg_attr(not(s3ftpd_test_backend = "embedded"), ignore = "backend embedded not selected (S3FTPD_TEST_BACKENDS)")]
            fn embedded() { $crate::harness::on_backend($crate::backend::Backend::Embedded, super::$name) }
            #[test]
            #[cfg_attr(not(s3ftpd_test_backend = "garage"), ignore = "backend garage not selected (S3FTPD_TEST_BACKENDS)")]
            fn garage() { $crate::harness::on_backend($crate::backend::Backend::Garage, super::$name) }
            #[test]
            #[cfg_attr(not(s3ftpd_test_backend = "external"), ignore = "backend external not selected (S3FTPD_TEST_BACKENDS)")]
            fn external() { $crate::harness::on_backend($crate::backend::Backend::External, super::$name) }
        }
    )*};
}

/// An S3 client for a remote server.
pub fn s3_client(r: &Remote) -> Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(Region::new(r.region.clone()))
        .endpoint_url(&r.endpoint)
        .credentials_provider(Credentials::new(
            &r.access_key,
            &r.secret_key,
            None,
            None,
            "test",
        ))
        .force_path_style(true)
        .http_client(s3ftpd::storage::https_client())
        .build();
    Client::from_conf(conf)
}

pub fn unique(tag: &str) -> String {
    format!("{tag}-{:08x}", rand::random::<u32>())
}

/// How long a test client waits for a reply or data: longer than the
/// gateway's `s3.timeout` (30 s), so that an S3 request that stalls shows
/// as the gateway's own 451 naming it, not as a client that gave up first.
pub const REPLY_WAIT: Duration = Duration::from_secs(45);

/// The users every test gateway has.
pub const USERS: &str = "
users:
  - { name: u, password: p, home: / }
  - { name: ro, password: p, home: /, read_only: true }
  - { name: alice, password: alicepw, home: /alice }
  - { name: hashed, password_hash: '$argon2id$v=19$m=19456,t=2,p=1$x+8MeP5uNAi9EytP6bu8Zg$s6UObByhK1bRi2T8Tq3uhWH5vRF8FKuzDcrxnR7oZ8E', home: / }
";

/// A gateway and its S3 server, for one test.
pub struct TestEnv {
    pub rt: tokio::runtime::Runtime,
    gateway: Option<std::sync::Arc<Gateway>>,
    pub addr: SocketAddr,
    pub s3: Client,
    pub bucket: String,
    /// Key prefix of this test (ends with `/`), the root of the FTP tree.
    pub prefix: String,
    config: Config,
    _dir: tempfile::TempDir,
}

impl TestEnv {
    /// Starts a gateway for `backend`, after `tweak` adjusts the config.
    pub fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_on(backend.remote(), tweak)
    }

    /// Starts a gateway on the S3 server `remote` (`None`: the embedded store).
    pub fn start_on(remote: Option<Remote>, tweak: impl FnOnce(&mut Config)) -> Self {
        // `S3FTPD_TEST_LOG=1` (or `debug`, `info`): the gateways' logs, in
        // the test's captured output — shown for a test that fails (CI sets
        // `info`), for every test with `--nocapture`.
        static LOGS: std::sync::Once = std::sync::Once::new();
        if let Some(level) = std::env::var_os("S3FTPD_TEST_LOG") {
            let level = match level.to_str() {
                Some("info") => tracing::Level::INFO,
                _ => tracing::Level::DEBUG,
            };
            LOGS.call_once(|| {
                let _ = tracing_subscriber::fmt()
                    .with_max_level(level)
                    .with_ansi(false)
                    .with_test_writer()
                    .try_init();
            });
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // As the binary's workers (src/main.rs).
            .thread_stack_size(8 * 1024 * 1024)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("{}/", unique("t"));
        let s3_yaml = match &remote {
            None => format!(
                "s3: {{ endpoint: embedded, bucket: ftp, data_dir: '{}', prefix: '{prefix}', part_size: 5MiB, upload_concurrency: 2 }}",
                dir.path().join("data").display()
            ),
            Some(r) => format!(
                "s3: {{ endpoint: '{}', region: '{}', bucket: '{}', access_key_id: '{}', secret_access_key: '{}', prefix: '{prefix}', part_size: 5MiB, upload_concurrency: 2 }}",
                r.endpoint, r.region, r.bucket, r.access_key, r.secret_key
            ),
        };
        let yaml = format!(
            "listen: 127.0.0.1:0\npassive: {{ ports: {} }}\nlimits: {{ idle_timeout: 60s, data_timeout: 10s }}\n{s3_yaml}\n{USERS}",
            crate::ports::range(100)
        );
        let mut config = Config::from_yaml(&yaml, Vec::new()).expect("test config");
        tweak(&mut config);
        let gateway = rt
            .block_on(Gateway::start(config.clone()))
            .expect("gateway starts");
        let (s3, bucket) = match remote {
            Some(r) => (s3_client(&r), r.bucket),
            None => {
                let e = gateway.embedded().expect("embedded store");
                let r = Remote {
                    endpoint: e.endpoint.clone(),
                    region: "us-east-1".into(),
                    bucket: "ftp".into(),
                    access_key: e.access_key.clone(),
                    secret_key: e.secret_key.clone(),
                };
                (s3_client(&r), r.bucket)
            }
        };
        Self {
            addr: gateway.ftp_addr(),
            gateway: Some(std::sync::Arc::new(gateway)),
            rt,
            s3,
            bucket,
            prefix,
            config,
            _dir: dir,
        }
    }

    /// The config the gateway runs with.
    pub fn gateway_config(&self) -> &Config {
        &self.config
    }

    /// The gateway (e.g. to stop its embedded store).
    pub fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().expect("gateway running")
    }

    /// Shuts the gateway down with the given drain time (its S3 store keeps running).
    pub fn shutdown(&mut self, drain: Duration) {
        if let Some(g) = &self.gateway {
            self.rt.block_on(g.shutdown(drain));
        }
    }

    /// Starts the shutdown in the background; the returned handle ends with it.
    pub fn shutdown_in_background(&self, drain: Duration) -> tokio::task::JoinHandle<()> {
        let g = self.gateway.clone().expect("gateway running");
        self.rt.spawn(async move { g.shutdown(drain).await })
    }

    /// Another gateway on the same bucket and prefix, as a restart or a
    /// replica would be (its own caches), with its own FTP port; `tweak`
    /// adjusts its config. Shut it down before the test ends.
    pub fn another_gateway(&self, tweak: impl FnOnce(&mut Config)) -> Gateway {
        let mut config = self.config.clone();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.passive.ports = crate::ports::range(20).parse().unwrap();
        if let Some(e) = self.gateway().embedded() {
            config.s3.endpoint = Some(e.endpoint.clone());
            config.s3.access_key_id = Some(e.access_key.clone());
            config.s3.secret_access_key = Some(s3ftpd::config::Secret::new(e.secret_key.clone()));
            config.s3.path_style = true;
        }
        tweak(&mut config);
        self.rt
            .block_on(Gateway::start(config))
            .expect("second gateway starts")
    }

    pub fn key(&self, rel: &str) -> String {
        format!("{}{}", self.prefix, rel.trim_start_matches('/'))
    }

    pub fn put(&self, rel: &str, body: &[u8]) {
        let body = body.to_vec();
        self.rt.block_on(async {
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(self.key(rel))
                .body(body.into())
                .send()
                .await
                .expect("put_object");
        });
    }

    /// Deletes an object straight in S3 (as another tool would).
    pub fn delete(&self, rel: &str) {
        self.rt
            .block_on(
                self.s3
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(self.key(rel))
                    .send(),
            )
            .expect("delete_object");
    }

    /// The bytes of an object, or `None` when there is no such key.
    pub fn get(&self, rel: &str) -> Option<Vec<u8>> {
        self.rt.block_on(async {
            match self
                .s3
                .get_object()
                .bucket(&self.bucket)
                .key(self.key(rel))
                .send()
                .await
            {
                Ok(o) => Some(o.body.collect().await.expect("body").to_vec()),
                Err(e)
                    if e.as_service_error().is_some_and(
                        aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key,
                    ) =>
                {
                    None
                }
                Err(e) => panic!("get_object {rel}: {e:?}"),
            }
        })
    }

    /// The object's ETag (quotes stripped).
    pub fn etag(&self, rel: &str) -> String {
        self.rt
            .block_on(
                self.s3
                    .head_object()
                    .bucket(&self.bucket)
                    .key(self.key(rel))
                    .send(),
            )
            .expect("head_object")
            .e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned()
    }

    /// Every key under the test prefix, relative to it, in S3 order.
    pub fn keys(&self) -> Vec<String> {
        self.keys_with_etags().into_iter().map(|(k, _)| k).collect()
    }

    /// Every key under the test prefix (relative) with its ETag, in S3 order,
    /// but for the gateway's own `.s3ftpd/` (its time indexes, its probe).
    pub fn keys_with_etags(&self) -> Vec<(String, String)> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut pages = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for o in page.expect("list").contents() {
                    if o.key().unwrap()[self.prefix.len()..].starts_with(".s3ftpd/") {
                        continue;
                    }
                    out.push((
                        o.key().unwrap()[self.prefix.len()..].to_owned(),
                        o.e_tag().unwrap_or_default().to_owned(),
                    ));
                }
            }
            out
        })
    }

    /// Multipart uploads in progress under the test prefix.
    pub fn open_uploads(&self) -> usize {
        self.rt.block_on(async {
            let out = self
                .s3
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .send()
                .await
                .expect("list uploads");
            out.uploads().len()
        })
    }

    /// A logged-in suppaftp client.
    pub fn ftp(&self, user: &str, pass: &str) -> FtpStream {
        let mut f = FtpStream::connect(self.addr).expect("connect");
        f.get_ref().set_read_timeout(Some(REPLY_WAIT)).unwrap();
        f.login(user, pass).expect("login");
        f.transfer_type(suppaftp::types::FileType::Binary).unwrap();
        f
    }

    /// A raw control connection (banner read).
    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }

    /// A raw control connection, logged in as `u`.
    pub fn raw_login(&self) -> Raw {
        let mut r = self.raw();
        r.login("u", "p");
        r
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.shutdown(Duration::from_secs(5));
    }
}

/// A control connection spoken by hand, for exact reply codes and bad input.
pub struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Self {
        let mut r = Self::connect_silent(addr);
        let (code, text) = r.reply();
        assert_eq!(code, 220, "banner: {text}");
        r
    }

    /// Wraps a connected stream and reads the banner.
    pub fn from_stream(s: TcpStream) -> Self {
        s.set_read_timeout(Some(REPLY_WAIT)).unwrap();
        let mut r = Self {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        };
        let (code, text) = r.reply();
        assert_eq!(code, 220, "banner: {text}");
        r
    }

    /// Wraps a connected stream without reading the banner.
    pub fn from_stream_silent(s: TcpStream) -> Self {
        s.set_read_timeout(Some(REPLY_WAIT)).unwrap();
        Self {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    /// Connects without reading the banner.
    pub fn connect_silent(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(REPLY_WAIT)).unwrap();
        Self {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    pub fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\r\n").as_bytes());
    }

    pub fn send_bytes(&mut self, b: &[u8]) {
        let _ = self.writer.write_all(b);
    }

    /// One reply line, lossily decoded (legacy character sets are not UTF-8).
    fn read_reply_line(&mut self, line: &mut String) -> usize {
        let mut bytes = Vec::new();
        let n = self.reader.read_until(b'\n', &mut bytes).unwrap_or(0);
        line.push_str(&String::from_utf8_lossy(&bytes));
        n
    }

    /// Reads one reply (all lines of a multi-line one); `(0, "")` at EOF.
    pub fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        let mut first = String::new();
        if self.read_reply_line(&mut first) == 0 {
            return (0, String::new());
        }
        let code: u16 = first
            .get(..3)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad reply line {first:?}"));
        text.push_str(&first);
        if first.as_bytes().get(3) == Some(&b'-') {
            loop {
                let mut line = String::new();
                if self.read_reply_line(&mut line) == 0 {
                    break;
                }
                text.push_str(&line);
                if line.starts_with(&format!("{code} ")) {
                    break;
                }
            }
        }
        (code, text)
    }

    pub fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(line);
        self.reply()
    }

    /// During a transfer: asks STAT until the gateway has moved `n` bytes
    /// (the probe that says an upload's bytes arrived).
    pub fn wait_for_transfer(&mut self, n: u64) {
        for _ in 0..200 {
            let (code, text) = self.cmd("STAT");
            assert_eq!(code, 213, "STAT during a transfer: {text}");
            // "213 Transfer in progress: N bytes so far"
            let words: Vec<&str> = text.split_whitespace().collect();
            let moved: u64 = words
                .windows(2)
                .find(|w| w[1] == "bytes")
                .and_then(|w| w[0].parse().ok())
                .expect("a byte count");
            if moved >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (_, last) = self.cmd("STAT");
        panic!("the transfer did not reach {n} bytes in 4 s: {last}");
    }

    /// Sends a command and asserts its code.
    pub fn expect(&mut self, line: &str, code: u16) -> String {
        let (c, text) = self.cmd(line);
        assert_eq!(c, code, "{line} → {text}");
        text
    }

    pub fn login(&mut self, user: &str, pass: &str) {
        self.expect(&format!("USER {user}"), 331);
        self.expect(&format!("PASS {pass}"), 230);
    }

    /// EPSV, then connects to the announced port.
    pub fn epsv(&mut self) -> TcpStream {
        let text = self.expect("EPSV", 229);
        let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
        let s = TcpStream::connect(("127.0.0.1", port)).expect("data connect");
        s.set_read_timeout(Some(REPLY_WAIT)).unwrap();
        s
    }

    /// STOR `name` with `body` over EPSV: the final reply, or the refusal
    /// of STOR itself. A refused upload may stop reading: the rest of the
    /// body need not get through.
    pub fn stor(&mut self, name: &str, body: &[u8]) -> (u16, String) {
        let mut d = self.epsv();
        let (code, text) = self.cmd(&format!("STOR {name}"));
        if code != 150 {
            return (code, text);
        }
        let _ = d.write_all(body);
        drop(d);
        self.reply()
    }

    /// Whether the server closed the connection (EOF within the timeout).
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 256];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    }

    pub fn into_stream(self) -> TcpStream {
        self.writer
    }
}

/// Reads a data connection to its end.
pub fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).expect("read data connection");
    v
}

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Whether `program` can run; panics when it is required but missing.
pub fn available(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stdout.is_empty());
    if !found {
        assert!(
            std::env::var("S3FTPD_REQUIRE_INTEROP").as_deref() != Ok("1"),
            "{program} is required (S3FTPD_REQUIRE_INTEROP=1) but not installed"
        );
        eprintln!("{program} not installed; interop test skipped");
    }
    found
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run client");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs lftp against `addr` as user `u`: `settings` then `commands`, failing on
/// the first error (no retries, 20 s network timeout). Returns its stdout.
pub fn lftp(addr: SocketAddr, settings: &str, commands: &str) -> String {
    let script = format!(
        "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; {settings}; {commands}; bye"
    );
    run(Command::new("lftp").args([
        "-u",
        "u,p",
        "-p",
        &addr.port().to_string(),
        "127.0.0.1",
        "-e",
        &script,
    ]))
}

/// Polls a condition (S3 cleanup happens just after the reply) for up to 10 s.
pub fn wait_until(cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("condition not reached in 10 s");
}

/// The YAML block of README.md between `<!-- NAME:begin -->` and
/// `<!-- NAME:end -->`: the worked examples the tests run as written.
pub fn readme_yaml(name: &str) -> String {
    readme_code(name, "yaml")
}

/// The `lang` code block of README.md between the markers of `name`.
pub fn readme_code(name: &str, lang: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find(&format!("<!-- {name}:begin -->"))
        .expect("begin marker");
    let end = readme
        .find(&format!("<!-- {name}:end -->"))
        .expect("end marker");
    let block = readme[start..end]
        .split(&format!("```{lang}\n"))
        .nth(1)
        .unwrap();
    block.split("```").next().unwrap().to_owned()
}
