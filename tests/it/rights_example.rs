//! README "Rights and limits", run as written: the worked config between
//! its `rights-and-limits` markers on the embedded store, with only what
//! cannot be the same here replaced — the endpoint, a prefix per run, the
//! password hashes — and one thing added: the test's connections come
//! through a PROXY header (`proxy_protocol.trusted`), so that acme can
//! arrive from its office network 203.0.113.0/24 as the config demands.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use s3ftpd::Config;

use crate::backend::Backend;
use crate::buckets::Bucket;
use crate::harness::{Raw, TestEnv, pattern, read_all};

/// The README's config block between the `rights-and-limits` markers.
fn readme_config() -> String {
    crate::harness::readme_yaml("rights-and-limits")
}

/// A session of a client at `ip` (through a trusted balancer).
struct Client {
    r: Raw,
    ip: &'static str,
    addr: SocketAddr,
}

impl Client {
    fn connect(addr: SocketAddr, ip: &'static str) -> Self {
        let mut r = Raw::connect_silent(addr);
        r.send_bytes(format!("PROXY TCP4 {ip} 127.0.0.1 40000 {}\r\n", addr.port()).as_bytes());
        assert_eq!(r.reply().0, 220);
        Self { r, ip, addr }
    }

    fn login(addr: SocketAddr, ip: &'static str, user: &str) -> Self {
        let mut c = Self::connect(addr, ip);
        c.r.login(user, "secret-pw");
        c
    }

    /// A passive data connection, through the balancer too.
    fn data(&mut self) -> TcpStream {
        let text = self.r.expect("EPSV", 229);
        let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
        let mut s = TcpStream::connect((self.addr.ip(), port)).unwrap();
        s.write_all(format!("PROXY TCP4 {} 127.0.0.1 40001 {port}\r\n", self.ip).as_bytes())
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    fn stor(&mut self, path: &str, body: &[u8]) -> (u16, String) {
        let mut d = self.data();
        let (code, text) = self.r.cmd(&format!("STOR {path}"));
        if code != 150 {
            return (code, text);
        }
        d.write_all(body).unwrap();
        drop(d);
        self.r.reply()
    }

    fn fetch(&mut self, cmd: &str) -> Result<Vec<u8>, (u16, String)> {
        let d = self.data();
        let (code, text) = self.r.cmd(cmd);
        if code != 150 {
            return Err((code, text));
        }
        let body = read_all(d);
        assert_eq!(self.r.reply().0, 226, "{cmd}");
        Ok(body)
    }
}

#[track_caller]
fn denied(answer: (u16, String), perm: &str) {
    assert_eq!(answer.0, 550, "{}", answer.1);
    assert!(
        answer.1.contains(&format!("needs `{perm}`")),
        "{}",
        answer.1
    );
}

#[test]
fn the_partner_drop_folder_and_the_auditor_of_the_readme() {
    let hash = s3ftpd::auth::hash_password("secret-pw").unwrap();
    let yaml = readme_config().replace("$argon2id$...", &hash);
    let env = TestEnv::start(Backend::Embedded, |c| {
        let mut readme = Config::from_yaml(&yaml, Vec::new()).expect("the README's config loads");
        readme.s3.endpoint = c.s3.endpoint.clone();
        readme.s3.data_dir.clone_from(&c.s3.data_dir);
        readme.s3.region = "us-east-1".into();
        readme.s3.prefix.clone_from(&c.s3.prefix);
        c.s3 = readme.s3;
        c.groups = readme.groups;
        c.users = readme.users;
        c.proxy_protocol.trusted = vec!["127.0.0.1/32".into()];
    });
    let bucket = Bucket::of(&env, "acme-exchange");
    let addr = env.addr;
    // acme, from its office: drops a file (at 20 Mbit/s), and may not
    // list, read back, replace nor delete it.
    let mut acme = Client::login(addr, "203.0.113.7", "acme");
    acme.r.expect("CWD /in", 250);
    let invoice = pattern(1_250_000, 1);
    let started = Instant::now();
    assert_eq!(acme.stor("invoice-0421.xml", &invoice).0, 226);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "1.25 MB at 2.5 MB/s in {took:?}"
    );
    assert_eq!(
        bucket.get("partners/acme/in/invoice-0421.xml").as_deref(),
        Some(&invoice[..])
    );
    let before = bucket.keys();
    denied(acme.fetch("LIST").unwrap_err(), "list");
    denied(acme.fetch("RETR invoice-0421.xml").unwrap_err(), "download");
    denied(acme.stor("invoice-0421.xml", b"changed"), "overwrite");
    denied(acme.r.cmd("DELE invoice-0421.xml"), "delete_files");
    assert_eq!(bucket.keys(), before);
    // What the bank puts in /out: listed and downloaded, not changed.
    bucket.put("partners/acme/out/statement.pdf", b"%PDF statement");
    let listing = String::from_utf8(acme.fetch("LIST /out").unwrap()).unwrap();
    assert!(listing.contains("statement.pdf"), "{listing}");
    assert_eq!(
        acme.fetch("RETR /out/statement.pdf").unwrap(),
        b"%PDF statement"
    );
    denied(acme.stor("/out/reply.pdf", b"x"), "upload");
    let (code, text) = acme.r.cmd("SITE QUOTA");
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("of 10737418240 bytes"), "{text}");
    // Four sessions at most.
    let more: Vec<Client> = (0..3)
        .map(|_| Client::login(addr, "203.0.113.8", "acme"))
        .collect();
    let mut fifth = Client::connect(addr, "203.0.113.9");
    fifth.r.expect("USER acme", 331);
    assert_eq!(fifth.r.cmd("PASS secret-pw").0, 421);
    drop(more);
    // Not from elsewhere.
    let mut away = Client::connect(addr, "198.51.100.9");
    away.r.expect("USER acme", 331);
    assert_eq!(away.r.cmd("PASS secret-pw").0, 530);
    // The auditor: lists and downloads everything, changes nothing.
    let mut auditor = Client::login(addr, "198.51.100.9", "auditor");
    let listing = String::from_utf8(auditor.fetch("LIST /acme/in").unwrap()).unwrap();
    assert!(listing.contains("invoice-0421.xml"), "{listing}");
    assert_eq!(
        auditor.fetch("RETR /acme/in/invoice-0421.xml").unwrap(),
        invoice
    );
    let before = bucket.keys();
    denied(auditor.stor("/acme/in/note.txt", b"x"), "upload");
    denied(
        auditor.r.cmd("DELE /acme/out/statement.pdf"),
        "delete_files",
    );
    denied(auditor.r.cmd("MKD /acme/new"), "create_dirs");
    denied(
        auditor.r.cmd("RNFR /acme/out/statement.pdf"),
        "rename_files",
    );
    assert_eq!(bucket.keys(), before);
}
