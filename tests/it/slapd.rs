//! A real OpenLDAP `slapd` (Debian's `slapd` package) on loopback ports of
//! its own, loaded from an LDIF before it starts (`slapadd`), serving
//! `ldap://` (StartTLS) and `ldaps://` with a certificate of the tests'
//! CA. Its schema adds Active Directory's `sAMAccountName`,
//! `userPrincipalName` and `memberOf` (with AD's OIDs) to inetOrgPerson,
//! so the tests log in as an AD deployment would be configured.
//!
//! Skipped where slapd is not installed, unless `S3FTPD_REQUIRE_LDAP=1`
//! (set by `.ci/run`), which makes its absence a failure.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pki::Ca;

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
/// The directory's suffix.
pub const SUFFIX: &str = "dc=example,dc=com";
/// The service account (the database's root DN) and its password.
pub const SERVICE_DN: &str = "cn=s3ftpd-service,dc=example,dc=com";
pub const SERVICE_PASSWORD: &str = "service-Secret-77";

const AD_SCHEMA: &str = "\
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.102 NAME 'memberOf' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
objectclass ( 1.3.6.1.4.1.32473.1.1 NAME 's3ftpdTestADUser' AUXILIARY MAY ( sAMAccountName $ userPrincipalName $ memberOf ) )
";

/// A running slapd; killed when dropped.
pub struct Slapd {
    child: Option<Child>,
    conf: PathBuf,
    /// `ldap://127.0.0.1:<port>` (StartTLS offered).
    pub ldap_url: String,
    /// `ldaps://127.0.0.1:<port>`.
    pub ldaps_url: String,
    /// The CA that signed slapd's certificate.
    pub ca: PathBuf,
    ports: (u16, u16),
    _dir: tempfile::TempDir,
}

/// Whether slapd can run here; panics when it is required but missing.
pub fn available() -> bool {
    let found = Path::new(SLAPD).exists() && Path::new(SLAPADD).exists();
    if !found {
        assert!(
            std::env::var("S3FTPD_REQUIRE_LDAP").as_deref() != Ok("1"),
            "slapd is required (S3FTPD_REQUIRE_LDAP=1) but not installed (Debian: slapd, ldap-utils)"
        );
        eprintln!("slapd not installed; LDAP test skipped");
    }
    found
}

/// An entry of `ou=people` with AD's attributes: `cn`, login name,
/// password, the DNs of its groups.
pub fn person(cn: &str, login: &str, password: &str, member_of: &[&str]) -> String {
    let mut e = format!(
        "dn: cn={cn},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nobjectClass: s3ftpdTestADUser\n\
         cn: {cn}\nsn: {cn}\nuid: {login}\nsAMAccountName: {login}\nuserPrincipalName: {login}@example.com\n\
         userPassword: {password}\n"
    );
    for g in member_of {
        e.push_str(&format!("memberOf: {g}\n"));
    }
    e
}

/// A `groupOfNames` under `ou=groups` with these member DNs.
pub fn group(cn: &str, members: &[&str]) -> String {
    let mut e = format!("dn: cn={cn},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\n");
    for m in members {
        e.push_str(&format!("member: {m}\n"));
    }
    e
}

impl Slapd {
    /// Loads `entries` (LDIF, separated by blank lines) under the suffix,
    /// `ou=people` and `ou=groups`, then starts slapd.
    pub fn start(entries: &[String]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = Ca::new(d, "ldap-ca");
        let server = ca.server("slapd");
        std::fs::create_dir(d.join("db")).unwrap();
        std::fs::write(d.join("ad.schema"), AD_SCHEMA).unwrap();
        let conf = d.join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\ninclude {schema}\n\
                 modulepath /usr/lib/ldap\nmoduleload back_mdb\npidfile {dir}/slapd.pid\n\
                 TLSCACertificateFile {ca}\nTLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n\
                 database mdb\nmaxsize 10485760\nsuffix \"{SUFFIX}\"\nrootdn \"{SERVICE_DN}\"\n\
                 rootpw {SERVICE_PASSWORD}\ndirectory {dir}/db\n\
                 access to attrs=userPassword by self read by anonymous auth by * none\n\
                 access to * by * read\n",
                schema = d.join("ad.schema").display(),
                dir = d.display(),
                ca = ca.cert.display(),
                cert = server.cert.display(),
                key = server.key.display(),
            ),
        )
        .unwrap();
        let mut ldif = format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n"
        );
        for e in entries {
            ldif.push('\n');
            ldif.push_str(e);
        }
        std::fs::write(d.join("data.ldif"), ldif).unwrap();
        let out = Command::new(SLAPADD)
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(d.join("data.ldif"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ports = (crate::ports::one(), crate::ports::one());
        let mut s = Self {
            child: None,
            conf,
            ldap_url: format!("ldap://127.0.0.1:{}", ports.0),
            ldaps_url: format!("ldaps://127.0.0.1:{}", ports.1),
            ca: ca.cert.clone(),
            ports,
            _dir: dir,
        };
        s.restart();
        s
    }

    /// Kills slapd (SIGKILL): the directory is down.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts slapd again on the same ports, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let urls = format!("{}/ {}/", self.ldap_url, self.ldaps_url);
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(&self.conf)
            .args(["-h", &urls, "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start slapd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.ports.1)).is_err() {
            assert!(Instant::now() < deadline, "slapd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.kill();
    }
}
