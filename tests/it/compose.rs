//! The compose stack as shipped: the real `docker-compose.yml` with only
//! MinIO swapped for a local Garage image (`tests/docker/compose.garage.yml`).
//! lftp mirrors 50 files up and back (identical), `/metrics` answers, and
//! the s3ftpd container killed with SIGKILL in the middle of an overwrite
//! leaves the old object intact; after its restart the abandoned multipart
//! upload is aborted and the next session works.

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::backend::Remote;
use crate::docker::{docker, docker_ready, health, images, wait_until_for};
use crate::harness::{Raw, pattern, run, s3_client};

const KEY: &str = "GK0123456789abcdef01234567";
const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

struct Stack(String);

impl Stack {
    /// `docker-compose` with the shipped file, the override and this project name.
    fn command(&self) -> Command {
        let mut c = Command::new("docker-compose");
        c.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "-f",
            "docker-compose.yml",
            "-f",
            "tests/docker/compose.garage.yml",
            "-p",
            &self.0,
        ]);
        c
    }

    fn compose(&self, args: &[&str]) -> String {
        run(self.command().args(args)).trim().to_owned()
    }

    /// Starts the s3ftpd service (`up -d` or `start`). The shipped file
    /// publishes fixed host ports (2121, 50000-50019) inside Linux's
    /// ephemeral range, where any outgoing connection of the tests running
    /// beside this one may hold one of them for a while: then the port is
    /// "already in use", and the start is tried again once it is free.
    fn start_s3ftpd(&self, args: &[&str]) {
        for _ in 0..12 {
            let out = self.command().args(args).output().expect("docker-compose");
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.success() {
                return;
            }
            assert!(
                stderr.contains("address already in use"),
                "docker-compose {args:?} failed:\n{stderr}"
            );
            eprintln!("a published port is held by another program; trying again");
            std::thread::sleep(Duration::from_secs(5));
        }
        panic!("docker-compose {args:?}: a published port stayed in use for a minute");
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self
            .command()
            .args(["down", "-v", "--timeout", "5"])
            .output();
    }
}

#[test]
fn the_compose_stack_as_shipped() {
    if !docker_ready() {
        return;
    }
    images();
    let stack = Stack(format!("s3ftpdit{:06x}", rand::random::<u32>() & 0xff_ffff));
    stack.start_s3ftpd(&["up", "-d", "--no-build", "s3ftpd"]);
    let gw = stack.compose(&["ps", "-q", "s3ftpd"]);
    wait_until_for(Duration::from_secs(90), || health(&gw) == "healthy");
    let addr: SocketAddr = "127.0.0.1:2121".parse().unwrap();
    let s3 = s3_client(&Remote {
        endpoint: "http://127.0.0.1:39000".into(),
        region: "us-east-1".into(),
        bucket: "ftp".into(),
        access_key: KEY.into(),
        secret_key: SECRET.into(),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let get = |key: &str| {
        rt.block_on(async {
            match s3.get_object().bucket("ftp").key(key).send().await {
                Ok(o) => Some(o.body.collect().await.unwrap().to_vec()),
                Err(_) => None,
            }
        })
    };
    let open_uploads = || {
        rt.block_on(s3.list_multipart_uploads().bucket("ftp").send())
            .unwrap()
            .uploads()
            .len()
    };

    // lftp mirror of 50 files, up and back.
    let dir = tempfile::tempdir().unwrap();
    let (up, down) = (dir.path().join("up"), dir.path().join("down"));
    std::fs::create_dir_all(up.join("sub")).unwrap();
    for i in 0..50 {
        let p = if i % 5 == 0 {
            up.join(format!("sub/f{i}.bin"))
        } else {
            up.join(format!("f{i}.bin"))
        };
        std::fs::write(p, pattern(1000 * i + 1, i as u64)).unwrap();
    }
    let lftp = |cmds: &str| {
        run(Command::new("lftp").args(["-u", "demo,demo", "-p", "2121", "127.0.0.1", "-e"]).arg(format!(
            "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; set ftp:ssl-allow no; {cmds}; bye"
        )))
    };
    lftp(&format!(
        "mirror -R {} m; mirror m {}",
        up.display(),
        down.display()
    ));
    let diff = Command::new("diff")
        .arg("-r")
        .arg(&up)
        .arg(&down)
        .status()
        .unwrap();
    assert!(diff.success(), "mirror round trip differs");
    let metrics = run(Command::new("curl").args(["-sS", "http://127.0.0.1:9100/metrics"]));
    assert!(metrics.contains("s3ftpd_transfers_total"), "{metrics}");

    // SIGKILL of the s3ftpd container in the middle of an overwrite.
    lftp(&format!("put {} -o big.bin", up.join("f49.bin").display()));
    let old = get("big.bin").unwrap();
    let mut r = Raw::connect(addr);
    r.login("demo", "demo");
    let mut d = r.epsv();
    r.expect("STOR big.bin", 150);
    d.write_all(&pattern(12 * 1024 * 1024, 7)).unwrap();
    wait_until_for(Duration::from_secs(30), || open_uploads() == 1);
    docker(&["kill", &gw]);
    assert_ne!(r.reply().0, 226, "the client is not told it completed");
    assert_eq!(get("big.bin").unwrap(), old, "old object intact");
    stack.start_s3ftpd(&["start", "s3ftpd"]);
    wait_until_for(Duration::from_secs(90), || health(&gw) == "healthy");
    wait_until_for(Duration::from_secs(30), || open_uploads() == 0);
    assert_eq!(get("big.bin").unwrap(), old);
    let list = lftp("cls m");
    assert!(list.contains("f1.bin"), "{list}");
}
