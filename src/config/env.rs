//! `S3FTPD_<SECTION>_<KEY>` environment overrides, applied to the parsed YAML.
//!
//! `S3FTPD_LISTEN` and `S3FTPD_BANNER` set top-level keys, `S3FTPD_USERS`
//! the whole `users` list (YAML flow syntax, e.g. from a Kubernetes Secret); any other
//! variable whose name starts with a section (`S3FTPD_S3_ENDPOINT`,
//! `S3FTPD_PASSIVE_PUBLIC_HOST`, `S3FTPD_LIMITS_MAX_SESSIONS`) sets that
//! key of that section. Variables that name no section (such as the test
//! suite's `S3FTPD_TEST_*`) are not config and are left alone; a variable
//! naming a section but an unknown key is an error.

use serde_yaml::{Mapping, Value};

use super::ConfigError;

const TOP_LEVEL: &[&str] = &["listen", "banner", "users", "storages", "groups"];
const SECTIONS: &[&str] = &[
    "passive",
    "active",
    "tls",
    "s3",
    "anonymous",
    "limits",
    "uploads",
    "metrics",
    "proxy_protocol",
    "log",
    "ftp",
    // Nested: `S3FTPD_IDENTITY_LDAP_BIND_PASSWORD` is `identity.ldap.bind_password`.
    "identity.hook",
    "identity.ldap",
    // `S3FTPD_EVENTS_OUTBOX_POLL` before `S3FTPD_EVENTS_AUDIT_LOG`: the
    // longer section first. `S3FTPD_EVENTS_WEBHOOKS` is the whole list
    // (YAML flow syntax, with its secrets, e.g. from a Kubernetes Secret).
    "events.outbox",
    "events",
];
/// Keys whose value is a YAML scalar (number, bool); every other key is a string.
const TYPED: &[&str] = &[
    "active.enabled",
    "active.connect_to_peer",
    "tls.required",
    "tls.required_data",
    "tls.require_session_reuse",
    "tls.strict_eof",
    "s3.path_style",
    "s3.read_only",
    "s3.upload_concurrency",
    "s3.download_concurrency",
    "s3.max_connections",
    "anonymous.enabled",
    "anonymous.read_only",
    "limits.max_sessions",
    "limits.max_sessions_per_ip",
    "limits.max_unauthenticated",
    "limits.max_unauthenticated_per_ip",
    "limits.max_login_failures",
    "limits.max_commands_per_second",
    "limits.ban_after_failures",
    "limits.allow_from",
    "limits.deny_from",
    "passive.peer_check",
    "passive.ports_per_replica",
    "passive.replica",
    "passive.public_hosts",
    "uploads.keep_partial",
    "proxy_protocol.trusted",
    "users",
    "storages",
    "groups",
    "identity.ldap.start_tls",
    "identity.ldap.allow_plain",
    "identity.ldap.require_group",
    "identity.ldap.fold_case",
    "identity.ldap.pool_size",
    "identity.ldap.groups",
    "events.webhooks",
    "events.outbox.max_backlog",
];

/// Keys whose value is a whole YAML structure that may hold secrets (every
/// user's password): an error shows where it is, never the text.
const STRUCTURED: &[&str] = &["users", "storages", "groups", "events.webhooks"];

/// Maps a variable name to `(section, key)`; `None` when it is not config.
fn target(var: &str) -> Option<(Option<&'static str>, String)> {
    let rest = var.strip_prefix("S3FTPD_")?.to_ascii_lowercase();
    if let Some(top) = TOP_LEVEL.iter().find(|t| **t == rest) {
        return Some((None, (*top).to_owned()));
    }
    SECTIONS.iter().find_map(|s| {
        rest.strip_prefix(s.replace('.', "_").as_str())
            .and_then(|r| r.strip_prefix('_'))
            .filter(|k| !k.is_empty())
            .map(|k| (Some(*s), k.to_owned()))
    })
}

fn scalar(var: &str, dotted: &str, raw: &str) -> Result<Value, ConfigError> {
    if raw.is_empty() || raw == "null" || raw == "~" {
        return Ok(Value::Null);
    }
    if TYPED.contains(&dotted) {
        serde_yaml::from_str(raw).map_err(|e| ConfigError::Invalid {
            key: dotted.to_owned(),
            msg: super::redact::yaml_position(var, &e, STRUCTURED.contains(&dotted)),
        })
    } else {
        Ok(Value::String(raw.to_owned()))
    }
}

/// Applies every config variable of `vars` to `root`; returns the keys
/// they set (`s3.bucket`), which an error may name as they are: a
/// variable's name is no secret.
///
/// # Errors
/// When `root` is not a mapping, or a value cannot be parsed.
pub fn apply(
    root: &mut Value,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, ConfigError> {
    let mut set = Vec::new();
    let Value::Mapping(map) = root else {
        return Err(ConfigError::Parse("the top level must be a mapping".into()));
    };
    for (var, raw) in vars {
        let Some((section, key)) = target(&var) else {
            continue;
        };
        let dotted = section.map_or_else(|| key.clone(), |s| format!("{s}.{key}"));
        let value = scalar(&var, &dotted, &raw)?;
        let slot = match section {
            None => &mut *map,
            Some(s) => section_map(map, s, &var)?,
        };
        tracing::debug!(var, key = %dotted, "config key set from the environment");
        slot.insert(Value::String(key), value);
        set.push(dotted);
    }
    Ok(set)
}

/// The mapping at dotted `section` of `map`, made where missing.
fn section_map<'a>(
    mut map: &'a mut Mapping,
    section: &str,
    var: &str,
) -> Result<&'a mut Mapping, ConfigError> {
    for (i, seg) in section.split('.').enumerate() {
        let entry = map
            .entry(Value::String(seg.to_owned()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if entry.is_null() {
            *entry = Value::Mapping(Mapping::new());
        }
        map = match entry {
            Value::Mapping(m) => m,
            _ => {
                let key = section.split('.').take(i + 1).collect::<Vec<_>>().join(".");
                return Err(ConfigError::Invalid {
                    msg: format!("{var} needs `{key}` to be a mapping"),
                    key,
                });
            }
        };
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect()
    }

    #[test]
    fn names_map_to_keys() {
        assert_eq!(
            target("S3FTPD_S3_ENDPOINT"),
            Some((Some("s3"), "endpoint".into()))
        );
        assert_eq!(
            target("S3FTPD_PASSIVE_PUBLIC_HOST"),
            Some((Some("passive"), "public_host".into()))
        );
        assert_eq!(target("S3FTPD_LISTEN"), Some((None, "listen".into())));
        assert_eq!(
            target("S3FTPD_IDENTITY_LDAP_BIND_PASSWORD"),
            Some((Some("identity.ldap"), "bind_password".into()))
        );
        assert_eq!(
            target("S3FTPD_EVENTS_OUTBOX_MAX_BACKLOG"),
            Some((Some("events.outbox"), "max_backlog".into()))
        );
        assert_eq!(
            target("S3FTPD_EVENTS_AUDIT_LOG"),
            Some((Some("events"), "audit_log".into()))
        );
        assert_eq!(target("S3FTPD_TEST_BACKENDS"), None);
        assert_eq!(target("S3FTPD_REQUIRE_INTEROP"), None);
        assert_eq!(target("HOME"), None);
    }

    #[test]
    fn overrides_beat_the_file_and_keep_types() {
        let mut root: Value = serde_yaml::from_str("s3: { bucket: a }\nlimits: null").unwrap();
        apply(
            &mut root,
            v(&[
                ("S3FTPD_S3_BUCKET", "b"),
                ("S3FTPD_S3_SECRET_ACCESS_KEY", "12345"),
                ("S3FTPD_LIMITS_MAX_SESSIONS", "7"),
                ("S3FTPD_ACTIVE_ENABLED", "false"),
                (
                    "S3FTPD_USERS",
                    "[{ name: k8s, password_hash: x, home: /k8s }]",
                ),
                ("S3FTPD_PROXY_PROTOCOL_TRUSTED", "[10.0.0.0/8]"),
            ]),
        )
        .unwrap();
        let s = serde_yaml::to_string(&root).unwrap();
        assert!(s.contains("bucket: b"), "{s}");
        assert!(s.contains("secret_access_key: '12345'"), "{s}");
        assert!(s.contains("max_sessions: 7"), "{s}");
        assert!(s.contains("enabled: false"), "{s}");
        assert!(s.contains("home: /k8s"), "{s}");
        assert!(s.contains("- 10.0.0.0/8"), "{s}");
    }

    #[test]
    fn webhooks_come_whole_from_one_variable() {
        let list = "[{ url: 'https://h/x', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', events: [upload] }]";
        let c = crate::config::Config::from_yaml(
            "s3: { bucket: b }\n",
            v(&[
                ("S3FTPD_EVENTS_WEBHOOKS", list),
                ("S3FTPD_EVENTS_OUTBOX_POLL", "3s"),
            ]),
        )
        .unwrap();
        assert_eq!(c.events.webhooks.len(), 1);
        assert_eq!(c.events.outbox.poll.0, std::time::Duration::from_secs(3));
        let mut root = Value::Mapping(Mapping::new());
        let err = apply(
            &mut root,
            v(&[("S3FTPD_EVENTS_WEBHOOKS", "[{ secret: 'whsec_x', url: [")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("events.webhooks") && !err.contains("whsec_x"),
            "{err}"
        );
    }

    #[test]
    fn bad_typed_value_names_the_key() {
        let mut root = Value::Mapping(Mapping::new());
        let err = apply(&mut root, v(&[("S3FTPD_LIMITS_MAX_SESSIONS", "[")])).unwrap_err();
        assert!(err.to_string().contains("limits.max_sessions"), "{err}");
    }
}
