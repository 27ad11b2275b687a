//! One replica's share of the passive ports, for replicas that run the same
//! config (a Kubernetes StatefulSet): with `passive.ports_per_replica: n`,
//! replica `i` serves `first + i·n ..= first + i·n + n − 1` of
//! `passive.ports` and announces `passive.public_hosts[i]` when that list
//! is given. `i` is `passive.replica`, or else the number after the last
//! `-` of the host name (`s3ftpd-2` → 2), as a StatefulSet names its pods.
//! Resolved when the config is loaded, so `check-config` prints the range
//! this replica serves and a replica outside the pool is a config error.

use super::{Config, ConfigError, PortRange};

fn bad(key: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        msg: msg.into(),
    }
}

/// The replica number at the end of a host name (`s3ftpd-2` → 2).
#[must_use]
pub fn ordinal_of(host: &str) -> Option<u32> {
    host.trim().rsplit_once('-')?.1.parse().ok()
}

/// This machine's host name: `HOSTNAME` from `vars`, else the kernel's.
fn host_name(vars: &[(String, String)]) -> Option<String> {
    vars.iter()
        .find(|(k, _)| k == "HOSTNAME")
        .map(|(_, v)| v.clone())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

impl Config {
    /// Narrows `passive.ports` (and `public_host`) to this replica's share
    /// when `passive.ports_per_replica` is set.
    pub(super) fn resolve_replica(&mut self, vars: &[(String, String)]) -> Result<(), ConfigError> {
        let p = &mut self.passive;
        let Some(n) = p.ports_per_replica else {
            if !p.public_hosts.is_empty() {
                return Err(bad(
                    "passive.public_hosts",
                    "needs passive.ports_per_replica (one entry per replica)",
                ));
            }
            return Ok(());
        };
        if n == 0 {
            return Err(bad("passive.ports_per_replica", "must be at least 1"));
        }
        let i = match p.replica {
            Some(i) => i,
            None => {
                let host = host_name(vars).unwrap_or_default();
                ordinal_of(&host).ok_or_else(|| {
                    bad(
                        "passive.replica",
                        format!(
                            "not set, and the host name {host:?} does not end in -<number> (a StatefulSet pod's name does)"
                        ),
                    )
                })?
            }
        };
        let first = u32::from(p.ports.first) + i * u32::from(n);
        let last = first + u32::from(n) - 1;
        if last > u32::from(p.ports.last) {
            return Err(bad(
                "passive.ports",
                format!(
                    "{}-{} has no room for replica {i} ({n} ports each: it would need {first}-{last})",
                    p.ports.first, p.ports.last
                ),
            ));
        }
        if !p.public_hosts.is_empty() {
            let host = p.public_hosts.get(i as usize).ok_or_else(|| {
                bad(
                    "passive.public_hosts",
                    format!("has {} entries, none for replica {i}", p.public_hosts.len()),
                )
            })?;
            p.public_host = Some(host.clone());
        }
        p.replica = Some(i);
        p.ports = PortRange {
            first: u16::try_from(first).unwrap_or(u16::MAX),
            last: u16::try_from(last).unwrap_or(u16::MAX),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::ordinal_of;

    fn load(yaml: &str, host: &str) -> Result<Config, ConfigError> {
        Config::from_yaml(yaml, vec![("HOSTNAME".to_owned(), host.to_owned())])
    }

    #[test]
    fn each_replica_takes_its_own_share() {
        let yaml = "s3: { bucket: b }\npassive: { ports: 50000-50059, ports_per_replica: 20, public_hosts: [a.example, b.example, c.example] }";
        for (host, range, public) in [
            ("s3ftpd-0", (50000, 50019), "a.example"),
            ("s3ftpd-1", (50020, 50039), "b.example"),
            ("my-release-s3ftpd-2", (50040, 50059), "c.example"),
        ] {
            let c = load(yaml, host).unwrap();
            assert_eq!(
                (c.passive.ports.first, c.passive.ports.last),
                range,
                "{host}"
            );
            assert_eq!(c.passive.public_host.as_deref(), Some(public), "{host}");
        }
        let err = load(yaml, "s3ftpd-3").unwrap_err().to_string();
        assert!(
            err.contains("passive.ports") && err.contains("replica 3"),
            "{err}"
        );
        let err = load(yaml, "laptop").unwrap_err().to_string();
        assert!(err.contains("passive.replica"), "{err}");
        let explicit =
            "s3: { bucket: b }\npassive: { ports: 50000-50059, ports_per_replica: 20, replica: 1 }";
        assert_eq!(load(explicit, "laptop").unwrap().passive.ports.first, 50020);
        let hosts_alone = "s3: { bucket: b }\npassive: { public_hosts: [a] }";
        assert!(
            load(hosts_alone, "x-0")
                .unwrap_err()
                .to_string()
                .contains("ports_per_replica")
        );
    }

    #[test]
    fn ordinals() {
        assert_eq!(ordinal_of("s3ftpd-12"), Some(12));
        assert_eq!(ordinal_of("s3ftpd"), None);
        assert_eq!(ordinal_of("s3ftpd-x"), None);
    }
}
