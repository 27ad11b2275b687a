//! README "Users from outside the file", run as written: the worked config
//! between its `identity-example` markers against a real slapd whose
//! entries carry Active Directory's attributes, both buckets on the
//! embedded store (which keeps SSE headers as S3 does), with only what
//! cannot be the same here replaced — the directory's URL and CA, the
//! FTPS certificate and client CA, a prefix per run; the service password
//! comes in `S3FTPD_IDENTITY_LDAP_BIND_PASSWORD`, as the README says.
//! Partners upload with lftp into their own folders (upload only, SSE-KMS),
//! a partner with a certificate logs in with curl and no password, the
//! archive team reads every folder through `/partners`.

use std::process::Command;

use s3ftpd::Config;

use crate::backend::Backend;
use crate::buckets::Bucket;
use crate::harness::{Raw, TestEnv, available, run};
use crate::pki::Ca;
use crate::slapd::{SERVICE_PASSWORD, Slapd, person};

/// The README's config block between the `identity-example` markers.
fn readme_config() -> String {
    crate::harness::readme_yaml("identity-example")
}

/// A login over FTPS that the gateway refuses with 530.
fn refused_login(url: &str) {
    let out = Command::new("curl")
        .args(["-sS", "--ssl-reqd", "-k", "--list-only", url])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("530"), "{url}: {err}");
}

#[test]
fn partners_from_active_directory_in_two_buckets() {
    if !crate::slapd::available() || !available("lftp") || !available("curl") {
        return;
    }
    // memberOf as AD writes it, in another case than the README's config.
    let partners = "cn=ftp partners,ou=groups,dc=example,dc=com";
    let cert_partners = "CN=FTP Certificate Partners,OU=Groups,DC=Example,DC=Com";
    let slapd = Slapd::start(&[
        person("Anna Berg", "anna", "anna-pw", &[partners]),
        person(
            "Globex Ltd",
            "globex",
            "globex-pw",
            &[partners, cert_partners],
        ),
        person(
            "Carol White",
            "carol",
            "carol-pw",
            &["CN=Archive Team,OU=Groups,DC=example,DC=com"],
        ),
        person(
            "Dave Green",
            "dave",
            "dave-pw",
            &["CN=FTP Partners Old,OU=Groups,DC=example,DC=com"],
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "partners-ca");
    let server = ca.server("ftp");
    let globex_cert = ca.client("globex", "globex", false);
    let vars = vec![(
        "S3FTPD_IDENTITY_LDAP_BIND_PASSWORD".to_owned(),
        SERVICE_PASSWORD.to_owned(),
    )];
    let readme = Config::from_yaml(&readme_config(), vars).expect("the README's config loads");
    let env = TestEnv::start(Backend::Embedded, |c| {
        let mut r = readme;
        r.s3.endpoint = c.s3.endpoint.clone();
        r.s3.data_dir.clone_from(&c.s3.data_dir);
        r.s3.region = "us-east-1".into();
        r.s3.prefix.clone_from(&c.s3.prefix);
        r.storages.get_mut("drop").unwrap().prefix = Some(c.s3.prefix.clone());
        let tls = r.tls.as_mut().unwrap();
        tls.cert.clone_from(&server.cert);
        tls.key.clone_from(&server.key);
        tls.client_ca = Some(ca.cert.clone());
        let ldap = r.identity.ldap.as_mut().unwrap();
        ldap.url.clone_from(&slapd.ldaps_url);
        ldap.ca_file = Some(slapd.ca.clone());
        c.s3 = r.s3;
        c.storages = r.storages;
        c.tls = r.tls;
        c.groups = r.groups;
        c.identity = r.identity;
    });
    let drop = Bucket::of(&env, "acme-partner-drop");
    let archive = Bucket::of(&env, "acme-archive");
    let port = env.addr.port().to_string();
    let file = dir.path().join("invoice-0421.xml");
    std::fs::write(&file, b"<invoice n='0421'/>").unwrap();
    // 1. anna (FTP Partners) drops a file with lftp: it lands in her
    //    folder of the drop bucket, encrypted with the partners' key.
    let lftp = |user: &str, commands: &str| {
        Command::new("lftp")
            .args(["-u", user, "-p", &port, "127.0.0.1", "-e"])
            .arg(format!(
                "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; set ftp:ssl-force yes; \
                 set ssl:verify-certificate no; {commands}; bye"
            ))
            .output()
            .unwrap()
    };
    let out = lftp(
        "anna,anna-pw",
        &format!("put {} -o invoice-0421.xml", file.display()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        drop.get("anna/invoice-0421.xml").as_deref(),
        Some(&b"<invoice n='0421'/>"[..])
    );
    let head = drop.head("anna/invoice-0421.xml");
    assert_eq!(
        head.server_side_encryption().map(|s| s.as_str()),
        Some("aws:kms")
    );
    assert_eq!(head.ssekms_key_id(), Some("alias/partner-drop"));
    // Upload only: no listing, no download, no overwrite.
    let listing = lftp("anna,anna-pw", "ls");
    assert!(!listing.status.success());
    assert!(
        String::from_utf8_lossy(&listing.stderr).contains("needs `list`"),
        "{listing:?}"
    );
    let again = lftp(
        "ANNA,anna-pw",
        &format!("put {} -o invoice-0421.xml", file.display()),
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("needs `overwrite`"),
        "{again:?}"
    );
    // 2. globex (FTP Certificate Partners too) logs in with its
    //    certificate, no password, and drops a file with curl.
    run(Command::new("curl")
        .args(["-sS", "--ssl-reqd", "-k", "--cert"])
        .arg(&globex_cert.cert)
        .arg("--key")
        .arg(&globex_cert.key)
        .arg("-T")
        .arg(&file)
        .arg(format!("ftp://globex@127.0.0.1:{port}/")));
    assert!(drop.get("globex/invoice-0421.xml").is_some());
    // ... and its password alone does not log in.
    refused_login(&format!("ftp://globex:globex-pw@127.0.0.1:{port}/"));
    // Without TLS nobody logs in (tls.required).
    let mut r = Raw::connect(env.addr);
    r.expect("USER anna", 530);
    // 3. carol (Archive Team) reads every partner's folder through
    //    /partners, changes nothing there, and has a folder of her own.
    let base = format!("ftp://carol:carol-pw@127.0.0.1:{port}");
    let curl = |args: &[&str]| {
        run(Command::new("curl")
            .args(["-sS", "--ssl-reqd", "-k"])
            .args(args))
    };
    let folders = curl(&["--list-only", &format!("{base}/partners/")]);
    assert_eq!(
        folders.lines().collect::<Vec<_>>(),
        vec!["anna", "globex"],
        "{folders}"
    );
    assert_eq!(
        curl(&[&format!("{base}/partners/anna/invoice-0421.xml")]),
        "<invoice n='0421'/>"
    );
    let refused = Command::new("curl")
        .args(["-sS", "--ssl-reqd", "-k", "-T"])
        .arg(&file)
        .arg(format!("{base}/partners/anna/note.xml"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    curl(&[
        "-T",
        &file.display().to_string(),
        &format!("{base}/report.xml"),
    ]);
    assert!(archive.get("team/carol/report.xml").is_some());
    // 4. dave is in "FTP Partners Old": not a partner.
    refused_login(&format!("ftp://dave:dave-pw@127.0.0.1:{port}/"));
    let mut keys = drop.keys();
    keys.sort();
    assert_eq!(
        keys,
        vec!["anna/invoice-0421.xml", "globex/invoice-0421.xml"]
    );
}
