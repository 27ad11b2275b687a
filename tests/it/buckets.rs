//! Many buckets, one namespace: storage profiles, groups with `%username%`
//! homes, mounts (read-only and writable), renames inside a mount, across
//! buckets of one endpoint and refused across endpoints, mount points as
//! folders that cannot be removed or renamed, a profile whose bucket is
//! missing, and the shared-root warning of `check-config`.

use s3ftpd::Config;

use crate::backend::{Backend, PrivateGarage, another_bucket};
use crate::backend_tests;
use crate::harness::{Raw, TestEnv, read_all};

/// The second bucket of a backend (made on Garage with its CLI; the
/// embedded store makes every bucket its config names).
pub const SECOND: &str = "s3ftpd-second";

/// One bucket of an S3 server, seen directly (the test's own, or another
/// through its client).
pub struct Bucket<'a> {
    pub env: &'a TestEnv,
    pub name: String,
    s3: aws_sdk_s3::Client,
}

impl<'a> Bucket<'a> {
    /// `name` on the test's S3 server.
    pub fn of(env: &'a TestEnv, name: &str) -> Self {
        Self::on(env, name, env.s3.clone())
    }

    /// `name` on the server `s3` reaches.
    pub fn on(env: &'a TestEnv, name: &str, s3: aws_sdk_s3::Client) -> Self {
        Self {
            env,
            name: name.to_owned(),
            s3,
        }
    }

    pub fn key(&self, rel: &str) -> String {
        self.env.key(rel)
    }

    pub fn put(&self, rel: &str, body: &[u8]) {
        let body = body.to_vec();
        self.env
            .rt
            .block_on(
                self.s3
                    .put_object()
                    .bucket(&self.name)
                    .key(self.key(rel))
                    .body(body.into())
                    .send(),
            )
            .expect("put_object");
    }

    pub fn get(&self, rel: &str) -> Option<Vec<u8>> {
        self.env.rt.block_on(async {
            let o = self
                .s3
                .get_object()
                .bucket(&self.name)
                .key(self.key(rel))
                .send()
                .await
                .ok()?;
            Some(o.body.collect().await.expect("body").to_vec())
        })
    }

    /// Keys under the test prefix (relative), but for the gateway's own folder.
    pub fn keys(&self) -> Vec<String> {
        self.env.rt.block_on(async {
            let out = self
                .s3
                .list_objects_v2()
                .bucket(&self.name)
                .prefix(&self.env.prefix)
                .send()
                .await
                .expect("list");
            out.contents()
                .iter()
                .map(|o| o.key().unwrap()[self.env.prefix.len()..].to_owned())
                .filter(|k| !k.starts_with(".s3ftpd/"))
                .collect()
        })
    }

    pub fn head(&self, rel: &str) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
        self.env
            .rt
            .block_on(
                self.s3
                    .head_object()
                    .bucket(&self.name)
                    .key(self.key(rel))
                    .send(),
            )
            .unwrap_or_else(|e| panic!("head {rel}: {e:?}"))
    }
}

/// Adds `storages`, `groups` and `users` (YAML) to a test gateway's config.
pub fn add(c: &mut Config, storages: &str, groups: &str, users: &[&str]) {
    if !storages.is_empty() {
        c.storages = serde_yaml::from_str(storages).expect("storages");
    }
    if !groups.is_empty() {
        c.groups = serde_yaml::from_str(groups).expect("groups");
    }
    for u in users {
        c.users.push(serde_yaml::from_str(u).expect("user"));
    }
}

/// The test's gateway with a second profile `second` (bucket [`SECOND`],
/// the same prefix) and a user `m` whose home is `/m` on the default
/// profile, with `/other` (the second bucket, writable) and `/ro` (its
/// `ro/` folder, read-only) mounted.
fn two_buckets(b: Backend) -> TestEnv {
    another_bucket(b, SECOND);
    TestEnv::start(b, |c| {
        add(
            c,
            &format!("second: {{ bucket: {SECOND} }}"),
            "",
            &[
                "{ name: m, password: p, home: /m, mounts: [ { path: /other, storage: second }, { path: /ro, storage: second, prefix: ro, read_only: true } ] }",
            ],
        );
    })
}

fn list(r: &mut Raw, cmd: &str) -> String {
    let d = r.epsv();
    r.expect(cmd, 150);
    let text = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(r.reply().0, 226, "{cmd}");
    text
}

fn mounts_are_folders_of_one_tree(b: Backend) {
    let env = two_buckets(b);
    let second = Bucket::of(&env, SECOND);
    second.put("ro/report.csv", b"quarterly");
    let mut r = env.raw();
    r.login("m", "p");
    // Mount points are folders of the listing, even empty ones.
    let root = list(&mut r, "LIST");
    assert!(
        root.lines()
            .any(|l| l.starts_with('d') && l.ends_with(" other")),
        "{root}"
    );
    assert!(
        root.lines()
            .any(|l| l.starts_with('d') && l.ends_with(" ro")),
        "{root}"
    );
    let facts = list(&mut r, "MLSD");
    assert!(
        facts.contains("type=dir;") && facts.contains(" other"),
        "{facts}"
    );
    // Each path lands in its own bucket.
    assert_eq!(r.stor("home.txt", b"h").0, 226);
    assert_eq!(r.stor("/other/a.txt", b"a").0, 226);
    assert_eq!(env.get("m/home.txt").as_deref(), Some(&b"h"[..]));
    assert_eq!(second.get("a.txt").as_deref(), Some(&b"a"[..]));
    assert!(env.get("m/other/a.txt").is_none());
    // The read-only mount reads, and refuses every write, changing nothing.
    let d = r.epsv();
    r.expect("RETR /ro/report.csv", 150);
    assert_eq!(read_all(d), b"quarterly");
    assert_eq!(r.reply().0, 226);
    let before = second.keys();
    let (code, text) = r.stor("/ro/x.csv", b"x");
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("read-only"), "{text}");
    for cmd in ["DELE /ro/report.csv", "MKD /ro/new", "RNFR /ro/report.csv"] {
        let text = r.expect(cmd, 550);
        assert!(text.contains("read-only"), "{cmd}: {text}");
    }
    assert_eq!(second.keys(), before);
    // Mount points cannot be removed, renamed or replaced.
    for cmd in [
        "RMD /other",
        "RMD /ro",
        "DELE /other",
        "RNFR /other",
        "RNFR /ro",
    ] {
        r.expect(cmd, 550);
    }
    let (code, _) = r.stor("/other", b"x");
    assert_eq!(code, 550);
    // The chroot holds from inside a mount.
    r.expect("CWD /other", 250);
    r.expect("CWD ../../../..", 250);
    let pwd = r.expect("PWD", 257);
    assert!(pwd.contains("\"/\""), "{pwd}");
    r.expect("CWD /ro", 250);
    assert!(list(&mut r, "NLST").contains("report.csv"));
}

fn renames_inside_and_across_buckets(b: Backend) {
    let env = two_buckets(b);
    let second = Bucket::of(&env, SECOND);
    let mut r = env.raw();
    r.login("m", "p");
    assert_eq!(r.stor("/other/a.txt", b"alpha").0, 226);
    // Inside the mount: one bucket.
    r.expect("RNFR /other/a.txt", 350);
    r.expect("RNTO /other/b.txt", 250);
    assert_eq!(second.keys(), vec!["b.txt"]);
    // Across mounts of one endpoint: a server-side copy between buckets.
    r.expect("RNFR /other/b.txt", 350);
    r.expect("RNTO /c.txt", 250);
    assert!(second.keys().is_empty());
    assert_eq!(env.get("m/c.txt").as_deref(), Some(&b"alpha"[..]));
    // A folder across buckets, every key.
    r.expect("MKD /other/d", 257);
    assert_eq!(r.stor("/other/d/1.txt", b"one").0, 226);
    assert_eq!(r.stor("/other/d/e/2.txt", b"two").0, 226);
    r.expect("RNFR /other/d", 350);
    let text = r.expect("RNTO /d2", 250);
    assert!(text.contains("3 objects"), "{text}");
    assert!(second.keys().is_empty(), "{:?}", second.keys());
    assert_eq!(env.get("m/d2/e/2.txt").as_deref(), Some(&b"two"[..]));
    assert_eq!(env.get("m/d2/1.txt").as_deref(), Some(&b"one"[..]));
    // Nothing of the gateway's own moved with them, and the mount stays.
    assert!(list(&mut r, "LIST /").contains(" other"));
}

backend_tests!(
    mounts_are_folders_of_one_tree,
    renames_inside_and_across_buckets
);

/// A mount on another endpoint (a second Garage beside the embedded
/// store): a rename between the two would move every byte through the
/// gateway, so it is refused with 553 naming why, and nothing changes.
#[test]
fn renames_between_endpoints_are_refused() {
    let Some(far) = PrivateGarage::start() else {
        return;
    };
    let r = &far.remote;
    let env = TestEnv::start(Backend::Embedded, |c| {
        let storages = format!(
            "far: {{ endpoint: '{}', region: '{}', bucket: '{}', access_key_id: '{}', secret_access_key: '{}', prefix: '{}' }}",
            r.endpoint, r.region, r.bucket, r.access_key, r.secret_key, c.s3.prefix
        );
        add(
            c,
            &storages,
            "",
            &["{ name: m, password: p, home: /m, mounts: [ { path: /far, storage: far } ] }"],
        );
    });
    let mut s = env.raw();
    s.login("m", "p");
    assert_eq!(s.stor("/far/x.txt", b"far").0, 226);
    assert_eq!(s.stor("near.txt", b"near").0, 226);
    s.expect("RNFR /far/x.txt", 350);
    let text = s.expect("RNTO /x.txt", 553);
    assert!(
        text.contains("another storage endpoint") && text.contains("profile far to default"),
        "{text}"
    );
    s.expect("RNFR near.txt", 350);
    s.expect("RNTO /far/near.txt", 553);
    assert_eq!(env.get("m/near.txt").as_deref(), Some(&b"near"[..]));
    assert!(env.get("m/x.txt").is_none());
    let d = s.epsv();
    s.expect("RETR /far/x.txt", 150);
    assert_eq!(read_all(d), b"far");
    assert_eq!(s.reply().0, 226);
}

/// `%username%` in a group's home gives each member its own folder; a
/// login name that could climb out of it never becomes a path.
#[test]
fn usernames_become_folders_only_when_they_cannot_climb() {
    let env = TestEnv::start(Backend::Embedded, |c| {
        add(
            c,
            "",
            "partners: { home: /partners/%username% }",
            &[
                "{ name: acme, password: p, groups: [partners] }",
                "{ name: globex, password: p, groups: [partners] }",
            ],
        );
    });
    for user in ["acme", "globex"] {
        let mut r = env.raw();
        r.login(user, "p");
        assert_eq!(r.stor("in.csv", user.as_bytes()).0, 226);
        r.expect("CWD ../..", 250);
        assert!(
            list(&mut r, "NLST").contains("in.csv"),
            "chrooted at the home"
        );
    }
    assert_eq!(
        env.get("partners/acme/in.csv").as_deref(),
        Some(&b"acme"[..])
    );
    assert_eq!(
        env.get("partners/globex/in.csv").as_deref(),
        Some(&b"globex"[..])
    );
    for bad in ["..", "a/b", "x\\\\y", "a..b"] {
        let yaml = format!(
            "s3: {{ bucket: b }}\ngroups: {{ partners: {{ home: /partners/%username% }} }}\nusers: [{{ name: '{bad}', password: p, groups: [partners] }}]"
        );
        let err = Config::from_yaml(&yaml, Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("users[0].name") && err.contains("%username%"),
            "{bad:?}: {err}"
        );
    }
}

/// `check-config` warns when accounts share one root, naming them.
#[test]
fn check_config_names_accounts_sharing_a_root() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3ftpd.yaml");
    std::fs::write(
        &path,
        "s3: { bucket: b }\ngroups: { p: { home: /p/%username% } }\nusers:\n  - { name: first, password: x }\n  - { name: second, password: x }\n  - { name: third, password: x, home: /third }\n  - { name: fourth, password: x, groups: [p] }\n  - { name: fifth, password: x, groups: [p] }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3ftpd"))
        .args(["check-config", "--offline", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("share one root"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("users first, second share one root, s3://b/"),
        "{err}"
    );
}
