//! Checks that need more than types: ranges, consistency, unsupported keys.

use super::{Config, ConfigError};

pub(super) fn bad(key: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        msg: msg.into(),
    }
}

/// Every entry of `list` (at `key`) an address or a network; the error
/// names the entry by its index, never its value.
pub(super) fn check_networks(key: &str, list: &[String]) -> Result<(), ConfigError> {
    match super::networks::first_bad(list) {
        Some(i) => Err(bad(
            &format!("{key}[{i}]"),
            "is not an address or a network like 10.0.0.0/8 or 2001:db8::/32",
        )),
        None => Ok(()),
    }
}

const MIB: u64 = 1024 * 1024;

/// Whether a prefix or home holds a character no S3 key of ours may hold
/// (the path mapping refuses the same ones).
pub(super) fn has_control_chars(s: &str) -> bool {
    s.contains(['\0', '\r', '\n'])
}

impl Config {
    /// Validates the configuration.
    ///
    /// # Errors
    /// The first problem found, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_addresses()?;
        self.validate_s3()?;
        self.validate_users()?;
        self.validate_identity()?;
        self.validate_events()?;
        self.validate_limits()?;
        self.validate_behaviour()
    }

    /// Listen addresses, passive ports and trusted balancers.
    fn validate_addresses(&self) -> Result<(), ConfigError> {
        let ports = self.passive.ports;
        if ports.contains(self.listen.port()) {
            return Err(bad(
                "passive.ports",
                format!(
                    "{}-{} overlaps the control port {}",
                    ports.first,
                    ports.last,
                    self.listen.port()
                ),
            ));
        }
        if let Some(h) = &self.passive.public_host
            && h.parse::<std::net::IpAddr>().is_err()
            && !is_host_name(h)
        {
            return Err(bad("passive.public_host", "is not a host name or IP"));
        }
        if let Some(tls) = &self.tls
            && tls
                .implicit_listen
                .is_some_and(|a| a.port() != 0 && (a == self.listen || ports.contains(a.port())))
        {
            return Err(bad(
                "tls.implicit_listen",
                "overlaps `listen` or `passive.ports`",
            ));
        }
        if let Some(m) = self.metrics.listen
            && m.port() != 0
            && (m == self.listen
                || (m.ip() == self.listen.ip()
                    || m.ip().is_unspecified()
                    || self.listen.ip().is_unspecified())
                    && (m.port() == self.listen.port() || ports.contains(m.port())))
        {
            return Err(bad(
                "metrics.listen",
                "overlaps `listen` or `passive.ports`",
            ));
        }
        check_networks("proxy_protocol.trusted", &self.proxy_protocol.trusted)?;
        check_networks("limits.allow_from", &self.limits.allow_from)?;
        check_networks("limits.deny_from", &self.limits.deny_from)?;
        Ok(())
    }

    /// `limits.*`: counts at least 1, durations longer than 0.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        if l.max_sessions == 0 {
            return Err(bad("limits.max_sessions", "must be at least 1"));
        }
        if l.max_sessions_per_ip == 0 {
            return Err(bad("limits.max_sessions_per_ip", "must be at least 1"));
        }
        if l.max_unauthenticated == 0 {
            return Err(bad("limits.max_unauthenticated", "must be at least 1"));
        }
        if l.max_unauthenticated_per_ip == 0 {
            return Err(bad(
                "limits.max_unauthenticated_per_ip",
                "must be at least 1",
            ));
        }
        if l.max_commands_per_second == 0 {
            return Err(bad("limits.max_commands_per_second", "must be at least 1"));
        }
        if l.ban_after_failures == 0 {
            return Err(bad("limits.ban_after_failures", "must be at least 1"));
        }
        if l.max_login_failures == 0 {
            return Err(bad("limits.max_login_failures", "must be at least 1"));
        }
        for (key, d) in [
            ("limits.idle_timeout", l.idle_timeout),
            ("limits.data_timeout", l.data_timeout),
            ("limits.login_timeout", l.login_timeout),
            ("limits.passive_timeout", l.passive_timeout),
            ("limits.handshake_timeout", l.handshake_timeout),
            ("limits.ban_window", l.ban_window),
            ("limits.ban_duration", l.ban_duration),
            ("limits.quota_rescan", l.quota_rescan),
        ] {
            if d.0.is_zero() {
                return Err(bad(key, "must be longer than 0s"));
            }
        }
        for (key, rate) in [
            ("limits.upload_bandwidth", l.upload_bandwidth),
            ("limits.download_bandwidth", l.download_bandwidth),
        ] {
            if rate.is_some_and(|r| r.0 == 0) {
                return Err(bad(key, "must be more than 0 (leave it out for no limit)"));
            }
        }
        Ok(())
    }

    /// Uploads, the S3 deadline, logging and the character set.
    fn validate_behaviour(&self) -> Result<(), ConfigError> {
        if self.uploads.abandoned_after.0 < std::time::Duration::from_secs(1) {
            return Err(bad("uploads.abandoned_after", "must be at least 1s"));
        }
        if self.uploads.commit_grace.0 > std::time::Duration::from_secs(10) {
            return Err(bad(
                "uploads.commit_grace",
                "must be at most 10s (it delays every upload's reply)",
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(bad("log.format", "use text or json"));
        }
        if super::ftp_encoding(&self.ftp.encoding).is_none() {
            return Err(bad("ftp.encoding", unusable_encoding(&self.ftp.encoding)));
        }
        let directive_chars = |c: char| c.is_ascii_alphanumeric() || "_:=,".contains(c);
        let filter = self
            .log
            .level
            .parse::<tracing_subscriber::filter::Targets>();
        if let Err(e) = filter.as_ref().map_err(ToString::to_string).and_then(|_| {
            if self.log.level.chars().all(directive_chars) {
                Ok(())
            } else {
                Err("a character no level or module path has".to_owned())
            }
        }) {
            return Err(bad(
                "log.level",
                format!(
                    "not a log filter ({}); use e.g. info, debug or s3ftpd=debug",
                    first_words(&e.to_string())
                ),
            ));
        }
        Ok(())
    }

    fn validate_s3(&self) -> Result<(), ConfigError> {
        if !(1..=65_536).contains(&self.s3.max_connections) {
            return Err(bad("s3.max_connections", "must be between 1 and 65536"));
        }
        self.validate_profiles()
    }

    fn validate_users(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashMap::new();
        for (i, u) in self.users.iter().enumerate() {
            let key = |k: &str| format!("users[{i}].{k}");
            if u.name.is_empty() || u.name.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(bad(
                    &key("name"),
                    "is not a valid user name (empty, or with spaces or control characters)",
                ));
            }
            if let Some(first) = seen.insert(u.name.as_str(), i) {
                return Err(bad(
                    &key("name"),
                    format!("the same name as users[{first}].name"),
                ));
            }
            if matches!(u.name.as_str(), "anonymous" | "ftp") {
                return Err(bad(
                    &key("name"),
                    "reserved for anonymous login; use the anonymous section",
                ));
            }
            match (&u.password_hash, &u.password) {
                (Some(h), None) => {
                    if let Err(e) = argon2::PasswordHash::new(h) {
                        return Err(bad(&key("password_hash"), format!("not a PHC string: {e}")));
                    }
                }
                (None, Some(_)) => {}
                (None, None)
                    if self.settings_of(u).certificate
                        == Some(super::CertMode::InsteadOfPassword) => {}
                _ => {
                    return Err(bad(
                        &key("password_hash"),
                        "give exactly one of password_hash or password (or none, with `certificate: instead_of_password`)",
                    ));
                }
            }
            self.validate_account(i, u)?;
        }
        if self.anonymous.enabled && has_control_chars(&self.anonymous.home) {
            return Err(bad("anonymous.home", "contains NUL, CR or LF"));
        }
        for (name, g) in &self.groups {
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(bad(
                    &format!("groups.{name}"),
                    "a group's name is not empty and has no spaces",
                ));
            }
            self.validate_settings(&format!("groups.{name}"), g)?;
        }
        Ok(())
    }
}

/// A DNS name: labels of letters, digits and hyphens, joined by dots.
fn is_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.trim_end_matches('.').split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl super::S3 {
    /// Endpoint, part size, concurrency, deadline and prefix of one
    /// profile; `key` names it (`s3`, `storages.archive`).
    pub(super) fn validate_transfer(&self, key: &str) -> Result<(), ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        if let Some(ep) = &self.endpoint
            && ep != "embedded"
            && !(ep.starts_with("http://") || ep.starts_with("https://"))
        {
            return Err(bad(&k("endpoint"), "use \"embedded\" or an http(s):// URL"));
        }
        if self.part_size.0 < 5 * MIB || self.part_size.0 > 5 * 1024 * MIB {
            return Err(bad(
                &k("part_size"),
                "must be between 5MiB and 5GiB (S3's part limits)",
            ));
        }
        if !(1..=64).contains(&self.upload_concurrency) {
            return Err(bad(&k("upload_concurrency"), "must be between 1 and 64"));
        }
        if !(1..=64).contains(&self.download_concurrency) {
            return Err(bad(&k("download_concurrency"), "must be between 1 and 64"));
        }
        if self.timeout.0.is_zero() {
            return Err(bad(&k("timeout"), "must be longer than 0s"));
        }
        if has_control_chars(&self.prefix) {
            return Err(bad(&k("prefix"), "contains NUL, CR or LF"));
        }
        Ok(())
    }
}

pub(super) fn unusable_encoding(_label: &str) -> String {
    "is not a character set FTP can use (an ASCII-compatible WHATWG label such as utf-8, windows-1252, shift_jis, iso-8859-15)".to_owned()
}

/// The first words of a library's error, without any quoted value it echoes.
fn first_words(e: &str) -> String {
    e.split(['"', '`', '\'', ':'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::*;

    fn parse(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml(yaml, Vec::new())
    }

    const OK: &str = "s3: { bucket: b }\nusers: [{ name: a, password: x }]\n";

    #[test]
    fn minimal_and_demo_are_valid() {
        let c = parse(OK).unwrap();
        assert_eq!(c.s3.part_size, Size(8 << 20));
        assert_eq!(c.limits.idle_timeout.0.as_secs(), 300);
        // Port 0 (any free port) never overlaps.
        parse("listen: 127.0.0.1:0\ns3: { bucket: b }\ntls: { cert: a, key: b, implicit_listen: '127.0.0.1:0' }").unwrap();
        let d = parse(DEMO_YAML).unwrap();
        assert!(d.s3.is_embedded());
    }

    #[test]
    fn errors_name_their_key() {
        let cases = [
            ("s3: { bucket: b, buckt: 1 }", "buckt"),
            ("s3: { bucket: b, part_size: 1MiB }", "s3.part_size"),
            ("s3: { bucket: b, part_size: huge }", "not a size"),
            ("listen: 0.0.0.0:50050\ns3: { bucket: b }", "passive.ports"),
            ("s3: { bucket: '' }", "s3.bucket"),
            (
                "s3: { bucket: b }\nusers: [{ name: a }]",
                "users[0].password_hash",
            ),
            (
                "s3: { bucket: b }\nusers: [{ name: a, password_hash: nope }]",
                "users[0].password_hash",
            ),
            (
                "s3: { bucket: b }\nusers: [{ name: a, password: x }, { name: a, password: y }]",
                "users[1].name",
            ),
            (
                "s3: { bucket: b }\nlimits: { idle_timeout: 0s }",
                "limits.idle_timeout",
            ),
            ("s3: { bucket: b }\nlog: { format: xml }", "log.format"),
            ("s3: { bucket: b, endpoint: 'ftp://x' }", "s3.endpoint"),
            (
                "s3: { bucket: b }\ntls: { cert: a, key: b, implicit_listen: '0.0.0.0:2121' }",
                "tls.implicit_listen",
            ),
            ("unknown_top: 1\ns3: { bucket: b }", "unknown_top"),
        ];
        for (yaml, needle) in cases {
            let err = parse(yaml).expect_err(yaml).to_string();
            assert!(err.contains(needle), "{yaml:?} → {err}");
        }
    }

    #[test]
    fn environment_beats_the_file() {
        let vars = vec![
            ("S3FTPD_S3_BUCKET".to_owned(), "from-env".to_owned()),
            (
                "S3FTPD_PASSIVE_PUBLIC_HOST".to_owned(),
                "ftp.example.com".to_owned(),
            ),
        ];
        let c = Config::from_yaml(OK, vars).unwrap();
        assert_eq!(c.s3.bucket, "from-env");
        assert_eq!(c.passive.public_host.as_deref(), Some("ftp.example.com"));
        let err = Config::from_yaml(OK, vec![("S3FTPD_S3_NOPE".into(), "1".into())]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn printed_config_masks_secrets() {
        let yaml = "s3: { bucket: b, access_key_id: AK, secret_access_key: SUPERSECRET }\n\
                    users: [{ name: a, password: PLAINPW }, { name: b, password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA' }]";
        let c = parse(yaml).unwrap();
        let out = c.to_masked_yaml();
        assert!(
            !out.contains("SUPERSECRET") && !out.contains("PLAINPW"),
            "{out}"
        );
        assert!(!out.contains("aGFzaGhh"), "{out}");
        assert!(!format!("{c:?}").contains("SUPERSECRET"));
    }
}
