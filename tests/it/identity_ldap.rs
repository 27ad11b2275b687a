//! LDAP and Active Directory against a real slapd (see `slapd.rs`):
//! search-then-bind over LDAPS and StartTLS, a direct bind, groups by
//! `memberOf` and by a group search, matched by whole DN whatever its
//! case and spacing, login names folded, an empty password refused before
//! the directory sees it, a wrong CA and a directory that is down failing
//! closed, and the directory back.

use s3ftpd::config::{Ldap, SourceName};

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{Raw, TestEnv};
use crate::slapd::{SERVICE_DN, SERVICE_PASSWORD, SUFFIX, Slapd, available, group, person};

const PARTNERS: &str = "CN=FTP Partners,OU=Groups,DC=example,DC=com";
const ARCHIVE: &str = "cn=Archive Team,ou=groups,dc=example,dc=com";

fn directory() -> Slapd {
    Slapd::start(&[
        // memberOf as AD writes it; the config names the group in another case.
        person("Anna Smith", "anna", "anna-pw", &[PARTNERS]),
        person(
            "Bob Jones",
            "bob",
            "bob-pw",
            &["cn=ftp partners-old,ou=groups,dc=example,dc=com"],
        ),
        person("Carol White", "carol", "carol-pw", &[ARCHIVE]),
        person("Dave Green", "dave", "dave-pw", &[]),
        group("sftp-team", &["cn=Dave Green,ou=people,dc=example,dc=com"]),
        person("Erin Home", "erin", "erin-pw", &[PARTNERS]) + "description: /custom/erin\n",
        // A referral in the search's scope, as Active Directory answers
        // from a domain's root (DomainDnsZones, …): a continuation
        // reference beside the entry, not a second user (ldap3's search
        // keeps entries only).
        format!(
            "dn: ou=branch,ou=people,{SUFFIX}\nobjectClass: referral\nobjectClass: extensibleObject\n\
             ou: branch\nref: ldap://branch.example.com/ou=branch,ou=people,{SUFFIX}\n"
        ),
    ])
}

/// `identity.ldap` for `slapd`, with `extra` YAML keys.
fn ldap_config(url: &str, ca: &std::path::Path, extra: &str) -> Ldap {
    serde_yaml::from_str(&format!(
        "{{ url: '{url}', ca_file: '{}', bind_dn: '{SERVICE_DN}', bind_password: '{SERVICE_PASSWORD}', \
           base_dn: 'ou=people,{SUFFIX}', user_filter: '(sAMAccountName={{username}})', \
           groups: [ {{ dn: 'cn=ftp partners, ou=groups, dc=EXAMPLE, dc=com', group: partners }}, \
                     {{ dn: 'CN=Archive Team,OU=Groups,DC=example,DC=com', group: archive }}, \
                     {{ dn: 'cn=sftp-team,ou=groups,{SUFFIX}', group: archive }} ], \
           cache: {{ ttl: 0s, negative_ttl: 0s }} {extra} }}",
        ca.display()
    ))
    .unwrap()
}

fn start(b: Backend, ldap: Ldap) -> TestEnv {
    TestEnv::start(b, move |c| {
        c.groups = serde_yaml::from_str(
            "{ partners: { home: /partners/%username%, permissions: { /: [list, upload, create_dirs] } }, \
               archive: { home: /partners, read_only: true } }",
        )
        .unwrap();
        c.identity.order = vec![SourceName::Users, SourceName::Ldap];
        c.identity.ldap = Some(ldap);
    })
}

fn pass_code(env: &TestEnv, user: &str, pass: &str) -> u16 {
    let mut r = Raw::connect(env.addr);
    r.expect(&format!("USER {user}"), 331);
    r.cmd(&format!("PASS {pass}")).0
}

/// Over LDAPS: partners land in their folder, the archive reads them all;
/// names by whole DN only; case folded; wrong and empty passwords refused.
fn search_then_bind_over_ldaps(b: Backend) {
    if !available() {
        return;
    }
    let slapd = directory();
    let env = start(b, ldap_config(&slapd.ldaps_url, &slapd.ca, ""));
    let mut anna = env.ftp("anna", "anna-pw");
    anna.put_file("order.csv", &mut &b"42"[..]).unwrap();
    anna.quit().unwrap();
    assert_eq!(
        env.get("partners/anna/order.csv").as_deref(),
        Some(&b"42"[..])
    );
    // ANNA is anna: the same home, not a second one.
    let mut upper = env.ftp("ANNA", "anna-pw");
    assert_eq!(upper.nlst(None).unwrap(), vec!["order.csv".to_owned()]);
    upper.quit().unwrap();
    // The archive team reads every partner's folder, changes nothing.
    let mut carol = env.ftp("carol", "carol-pw");
    assert_eq!(
        carol.retr_as_buffer("anna/order.csv").unwrap().into_inner(),
        b"42"
    );
    assert!(carol.put_file("anna/x.csv", &mut &b"x"[..]).is_err());
    carol.quit().unwrap();
    // Group sftp-team maps too (the third entry): dave is in it, but only
    // through a groupOfNames — with memberOf alone he is in no group.
    assert_eq!(
        pass_code(&env, "dave", "dave-pw"),
        530,
        "in no mapped group"
    );
    // "ftp partners-old" starts like "ftp partners": not the same group.
    assert_eq!(pass_code(&env, "bob", "bob-pw"), 530);
    assert_eq!(pass_code(&env, "anna", "wrong"), 530);
    assert_eq!(pass_code(&env, "nobody", "x"), 530);
    // An empty password is an anonymous bind: refused before LDAP.
    let mut r = Raw::connect(env.addr);
    r.expect("USER anna", 331);
    assert_eq!(r.cmd("PASS").0, 530);
    assert_eq!(env.keys(), vec!["partners/anna/order.csv".to_owned()]);
}

backend_tests!(search_then_bind_over_ldaps);

#[test]
fn starttls_group_search_and_direct_bind() {
    if !available() {
        return;
    }
    let slapd = directory();
    // StartTLS on ldap://, groups by search (groupOfNames): dave is in sftp-team.
    let env = start(
        Backend::Embedded,
        ldap_config(
            &slapd.ldap_url,
            &slapd.ca,
            &format!(
                ", start_tls: true, group_search: {{ base_dn: 'ou=groups,{SUFFIX}', filter: '(member={{dn}})' }}"
            ),
        ),
    );
    env.ftp("dave", "dave-pw").quit().unwrap();
    assert_eq!(
        pass_code(&env, "anna", "anna-pw"),
        530,
        "anna is in no groupOfNames"
    );
    drop(env);
    // A direct bind: no service account, the DN from a template.
    let mut direct = ldap_config(&slapd.ldaps_url, &slapd.ca, "");
    direct.bind_dn = None;
    direct.bind_password = None;
    direct.bind_dn_template = Some(format!("cn={{username}},ou=people,{SUFFIX}"));
    direct.fold_case = false;
    let env = start(Backend::Embedded, direct);
    env.ftp("Anna Smith", "anna-pw").quit().unwrap();
    assert_eq!(pass_code(&env, "Anna Smith", "bob-pw"), 530);
    drop(env);
    // home_attribute: the entry's value is the home.
    let env = start(
        Backend::Embedded,
        ldap_config(&slapd.ldaps_url, &slapd.ca, ", home_attribute: description"),
    );
    let mut erin = env.ftp("erin", "erin-pw");
    erin.put_file("f.txt", &mut &b"e"[..]).unwrap();
    erin.quit().unwrap();
    assert_eq!(env.get("custom/erin/f.txt").as_deref(), Some(&b"e"[..]));
}

#[test]
fn a_directory_that_cannot_be_trusted_or_reached_lets_nobody_in() {
    if !available() {
        return;
    }
    let mut slapd = directory();
    let dir = tempfile::tempdir().unwrap();
    let stranger = crate::pki::Ca::new(dir.path(), "stranger");
    let env = start(
        Backend::Embedded,
        ldap_config(&slapd.ldaps_url, &stranger.cert, ""),
    );
    assert_eq!(
        pass_code(&env, "anna", "anna-pw"),
        421,
        "a certificate of another CA"
    );
    env.ftp("u", "p").quit().unwrap();
    drop(env);
    let env = start(
        Backend::Embedded,
        ldap_config(&slapd.ldaps_url, &slapd.ca, ""),
    );
    env.ftp("anna", "anna-pw").quit().unwrap();
    slapd.kill();
    assert_eq!(pass_code(&env, "anna", "anna-pw"), 421, "down: fail closed");
    env.ftp("u", "p").quit().unwrap();
    slapd.restart();
    env.ftp("anna", "anna-pw").quit().unwrap();
    // Restarted while nobody logged in: the pooled connection is dead,
    // the next login takes a new one (no 421).
    slapd.restart();
    env.ftp("anna", "anna-pw").quit().unwrap();
    assert_eq!(pass_code(&env, "anna", "wrong"), 530);
}

/// `check-config` binds the service account: OK with its password, an
/// error naming the key with another (never the password itself).
#[test]
fn check_config_binds_the_service_account() {
    if !available() {
        return;
    }
    let slapd = directory();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3ftpd.yaml");
    std::fs::write(
        &path,
        format!(
            "s3: {{ endpoint: embedded, bucket: b, data_dir: '{}' }}\ngroups: {{ g: {{ home: /g }} }}\n\
             identity: {{ order: [ldap], ldap: {{ url: '{}', ca_file: '{}', bind_dn: '{SERVICE_DN}', \
             base_dn: '{SUFFIX}', groups: [ {{ dn: 'cn=g,{SUFFIX}', group: g }} ] }} }}\n",
            dir.path().join("data").display(),
            slapd.ldaps_url,
            slapd.ca.display()
        ),
    )
    .unwrap();
    let check = |password: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3ftpd"))
            .args(["check-config", "-c"])
            .arg(&path)
            .env("S3FTPD_IDENTITY_LDAP_BIND_PASSWORD", password)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = check(SERVICE_PASSWORD);
    assert!(ok, "{err}");
    let (ok, err) = check("Not-The-Password-5");
    assert!(!ok);
    assert!(
        err.contains("identity.ldap.bind_dn") && err.contains("invalidCredentials"),
        "{err}"
    );
    assert!(!err.contains("Not-The-Password-5"), "{err}");
}
