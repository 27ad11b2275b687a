//! The deployment artefacts: example configs, the image's and the compose
//! stack's configs, the systemd unit, the lifecycle rule, the compose file
//! and the Helm chart (checked by the tools that read them, when installed).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{available, run};

const BIN: &str = env!("CARGO_BIN_EXE_s3ftpd");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn s3ftpd(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn deploy_examples_are_valid() {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut configs = 0;
    let sub = ["docker", "compose"].map(|d| deploy.join(d));
    let files = [&deploy, &sub[0], &sub[1]]
        .into_iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path());
    for path in files {
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = s3ftpd(&["check-config", "--offline", "-c", path.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            configs += 1;
        }
    }
    assert!(
        configs >= 5,
        "AWS, MinIO, Garage/Ceph, image and compose configs"
    );
    let rule: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy.join("s3-lifecycle-abort-multipart.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        rule["Rules"][0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"],
        1
    );
    assert_eq!(rule["Rules"][0]["Status"], "Enabled");
    // The systemd unit, checked by systemd itself when it is installed (warnings fail).
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let dir = tempfile::tempdir().unwrap();
        let unit = std::fs::read_to_string(deploy.join("s3ftpd.service"))
            .unwrap()
            .replace("/usr/local/bin/s3ftpd", BIN);
        let copy = dir.path().join("s3ftpd.service");
        std::fs::write(&copy, unit).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && all.trim().is_empty(),
            "systemd-analyze verify: {all}"
        );
    }
}

/// The compose stack's users log in with the password its comment gives.
#[test]
fn compose_config_users_log_in() {
    let yaml = std::fs::read_to_string(root().join("deploy/compose/s3ftpd.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = s3ftpd::Config::from_yaml(&yaml, Vec::new()).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.passive.ports = crate::ports::range(2).parse().unwrap();
    config.metrics.listen = None;
    config.log.transfer_log = None;
    config.s3.endpoint = Some("embedded".into());
    config.s3.data_dir = dir.path().join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gateway = rt.block_on(s3ftpd::Gateway::start(config)).unwrap();
    let mut f = suppaftp::FtpStream::connect(gateway.ftp_addr()).unwrap();
    f.login("demo", "demo").unwrap();
    f.quit().unwrap();
    rt.block_on(gateway.shutdown(std::time::Duration::from_secs(1)));
}

/// `docker-compose config` (Debian's docker-compose parses the file
/// offline) and yamllint on the compose file and the chart's YAML.
#[test]
fn compose_file_and_chart_parse() {
    let compose = root().join("docker-compose.yml");
    if available("docker-compose") {
        let out = run(Command::new("docker-compose")
            .arg("-f")
            .arg(&compose)
            .args(["--profile", "test", "config"]));
        for service in ["minio:", "minio-init:", "s3ftpd:", "tests:"] {
            assert!(out.contains(service), "{service} missing:\n{out}");
        }
    }
    // Every pulled image is pinned by release tag and digest; ours are built.
    let text = std::fs::read_to_string(&compose).unwrap();
    let pulled: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .filter(|image| !image.ends_with(":local"))
        .collect();
    assert_eq!(pulled.len(), 2, "{pulled:?}");
    for image in pulled {
        let (reference, digest) = image.split_once("@sha256:").expect(image);
        assert!(reference.contains(":RELEASE."), "{image}");
        assert!(
            digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
            "{image}"
        );
    }
    if available("yamllint") {
        let chart = root().join("helm/s3ftpd");
        run(Command::new("yamllint")
            .args([
                "-d",
                "{extends: relaxed, rules: {line-length: {max: 160}}}",
                "--strict",
            ])
            .arg(&compose)
            .arg(chart.join("Chart.yaml"))
            .arg(chart.join("values.yaml")));
    }
    if Command::new("helm").arg("version").output().is_ok() {
        check_chart_with_helm();
    } else {
        eprintln!("helm not on PATH: chart checked by yamllint only");
    }
}

/// No Docker daemon here: the Dockerfile is checked for what the README
/// promises, and against the config it bakes in.
#[test]
fn dockerfile_matches_its_config() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    for needle in [
        "cargo build --release --locked",
        "USER 10001",
        "HEALTHCHECK",
        r#"CMD ["/usr/local/bin/s3ftpd", "healthcheck"]"#,
        "FROM scratch AS runtime",
        "EXPOSE 2121 50000-50019 9100",
        "org.opencontainers.image.source",
        "COPY deploy/docker/s3ftpd.yaml /rootfs/etc/s3ftpd/s3ftpd.yaml",
    ] {
        assert!(dockerfile.contains(needle), "Dockerfile lacks {needle:?}");
    }
    // The image users build never compiles the tests: the test image has a
    // Dockerfile of its own (the classic builder builds every stage before
    // its target).
    assert!(
        !dockerfile.contains("cargo test"),
        "the Dockerfile compiles tests"
    );
    let test = std::fs::read_to_string(root().join("tests/docker/Dockerfile.test")).unwrap();
    assert!(test.contains("cargo test --locked --test it"));
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let src = line.split_whitespace().nth(1).unwrap();
        assert!(root().join(src).exists(), "{line}: {src} missing");
    }
    let image = s3ftpd::Config::from_yaml(
        &std::fs::read_to_string(root().join("deploy/docker/s3ftpd.yaml")).unwrap(),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(image.metrics.listen, Some("0.0.0.0:9100".parse().unwrap()));
    assert_eq!(image.listen.port(), 2121);
    assert_eq!(
        (image.passive.ports.first, image.passive.ports.last),
        (50000, 50019)
    );
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "target"));
}

/// `helm lint`, then `helm template` with two replicas: the generated
/// config passes `s3ftpd check-config`, each replica (by its pod name)
/// serves its own passive range and announces its own address, and each
/// passive Service forwards that range to that pod only. With the
/// dashboard and the alert rules on, both render from `deploy/`.
fn check_chart_with_helm() {
    let chart = root().join("helm/s3ftpd");
    run(Command::new("helm").arg("lint").arg(&chart));
    let refused = Command::new("helm")
        .args(["template", "t"])
        .arg(&chart)
        .args(["--set", "replicaCount=2"])
        .output()
        .unwrap();
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("passive.publicHosts"),
        "two replicas without public addresses must not render"
    );
    let out = run(Command::new("helm")
        .args(["template", "t"])
        .arg(&chart)
        .args([
            "--set",
            "replicaCount=2",
            "--set",
            "passive.publicHosts={198.51.100.1,198.51.100.2}",
            "--set",
            "s3.endpoint=http://minio:9000",
            "--set",
            "proxyProtocol.trusted={10.0.0.0/8}",
            "--set-json",
            r#"users=[{"name":"alice","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$1ckzYM/wXdHbYFrKboDyEw$tIXk9cSM6TCuDX3AV5DD7pYRtLLQliDQQGp7Hxslk0E","home":"/alice"}]"#,
        ]));
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&out)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|d: &serde_yaml::Value| !d.is_null())
        .collect();
    let of_kind = |k: &str| -> Vec<&serde_yaml::Value> {
        docs.iter()
            .filter(|d| d["kind"].as_str() == Some(k))
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("s3ftpd.yaml");
    std::fs::write(
        &config,
        of_kind("ConfigMap")[0]["data"]["s3ftpd.yaml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let users = of_kind("Secret")[0]["stringData"]["S3FTPD_USERS"]
        .as_str()
        .unwrap()
        .to_owned();
    let check = Command::new(BIN)
        .args(["check-config", "--offline", "-c"])
        .arg(&config)
        .env("S3FTPD_USERS", &users)
        .env("HOSTNAME", "t-s3ftpd-0")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        shown.contains("name: alice") && shown.contains("10.0.0.0/8"),
        "{shown}"
    );
    let sts = of_kind("StatefulSet")[0];
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    // The image has no shell: the container runs the image's own command,
    // and each replica finds its share of the passive ports itself.
    assert!(container["command"].is_null() && container["args"].is_null());
    for (i, want) in ["50000-50019 198.51.100.1", "50020-50039 198.51.100.2"]
        .iter()
        .enumerate()
    {
        let replica = Command::new(BIN)
            .args(["check-config", "--offline", "-c"])
            .arg(&config)
            .env("S3FTPD_USERS", &users)
            .env("HOSTNAME", format!("t-s3ftpd-{i}"))
            .output()
            .unwrap();
        let effective: serde_yaml::Value = serde_yaml::from_slice(&replica.stdout).unwrap();
        let got = format!(
            "{} {}",
            effective["passive"]["ports"].as_str().unwrap(),
            effective["passive"]["public_host"].as_str().unwrap()
        );
        assert_eq!(got, *want);
        let svc = of_kind("Service")
            .into_iter()
            .find(|s| s["metadata"]["name"].as_str() == Some(&format!("t-s3ftpd-passive-{i}")))
            .unwrap();
        assert_eq!(
            svc["spec"]["selector"]["statefulset.kubernetes.io/pod-name"].as_str(),
            Some(format!("t-s3ftpd-{i}").as_str())
        );
        let ports = svc["spec"]["ports"].as_sequence().unwrap();
        let first: u64 = want[..5].parse().unwrap();
        assert_eq!(ports.len(), 20);
        assert_eq!(ports[0]["port"].as_u64(), Some(first));
        assert_eq!(ports[19]["port"].as_u64(), Some(first + 19));
    }
    let extras = run(Command::new("helm")
        .args(["template", "t"])
        .arg(&chart)
        .args([
            "--set",
            "grafanaDashboard.enabled=true",
            "--set",
            "prometheusRule.enabled=true",
        ]));
    let dashboard =
        std::fs::read_to_string(root().join("deploy/grafana/s3ftpd-dashboard.json")).unwrap();
    let title_line = dashboard
        .lines()
        .find(|l| l.contains("\"uid\": \"s3ftpd\""))
        .unwrap()
        .trim();
    assert!(
        extras.contains(title_line),
        "dashboard ConfigMap:\n{extras}"
    );
    assert!(extras.contains("kind: PrometheusRule") && extras.contains("alert: S3ftpdNotReady"));
    let annotations = &sts["spec"]["template"]["metadata"]["annotations"];
    assert!(annotations["checksum/config"].is_string());
    assert_eq!(
        container["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
}
