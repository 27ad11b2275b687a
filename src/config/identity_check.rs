//! Checks of `identity:`: every source in `order` configured and every
//! configured source in it, URLs that keep passwords encrypted, filters
//! that name the user, directory groups that are DNs and map to `groups:`.

use super::validate::bad;
use super::{ConfigError, Hook, Ldap, SourceName};

impl super::Config {
    /// The identity sources and their order.
    pub(super) fn validate_identity(&self) -> Result<(), ConfigError> {
        let id = &self.identity;
        if id.order.is_empty() {
            return Err(bad(
                "identity.order",
                "is empty: nobody could log in (the default is [users])",
            ));
        }
        for (i, s) in id.order.iter().enumerate() {
            if id.order[..i].contains(s) {
                return Err(bad(
                    &format!("identity.order[{i}]"),
                    format!("`{}` is named twice", s.as_str()),
                ));
            }
        }
        let listed = |s| id.order.contains(&s);
        match (&id.hook, listed(SourceName::Hook)) {
            (None, true) => {
                return Err(bad(
                    "identity.order",
                    "names `hook` but `identity.hook` is not set",
                ));
            }
            (Some(_), false) => {
                return Err(bad(
                    "identity.hook",
                    "is set but `identity.order` does not name `hook`",
                ));
            }
            (Some(h), true) => check_hook(h)?,
            (None, false) => {}
        }
        match (&id.ldap, listed(SourceName::Ldap)) {
            (None, true) => {
                return Err(bad(
                    "identity.order",
                    "names `ldap` but `identity.ldap` is not set",
                ));
            }
            (Some(_), false) => {
                return Err(bad(
                    "identity.ldap",
                    "is set but `identity.order` does not name `ldap`",
                ));
            }
            (Some(l), true) => self.check_ldap(l)?,
            (None, false) => {}
        }
        Ok(())
    }

    fn check_ldap(&self, l: &Ldap) -> Result<(), ConfigError> {
        let k = |s: &str| format!("identity.ldap.{s}");
        check_ldap_url(l)?;
        check_ldap_binds(l)?;
        for (key, dn) in [
            ("bind_dn", l.bind_dn.as_deref()),
            ("base_dn", Some(l.base_dn.as_str())),
        ] {
            if let Some(dn) = dn
                && let Err(e) = super::normalise_dn(dn)
            {
                return Err(bad(&k(key), format!("is not a DN: {e}")));
            }
        }
        if let Some(gs) = &l.group_search {
            if !gs.filter.contains("{dn}") && !gs.filter.contains("{username}") {
                return Err(bad(
                    &k("group_search.filter"),
                    "holds neither {dn} nor {username}",
                ));
            }
            if l.bind_dn.is_none() && gs.base_dn.is_none() && l.base_dn.is_empty() {
                return Err(bad(&k("group_search.base_dn"), "is needed"));
            }
        }
        for (j, g) in l.groups.iter().enumerate() {
            if let Err(e) = super::normalise_dn(&g.dn) {
                return Err(bad(
                    &k(&format!("groups[{j}].dn")),
                    format!("is not a DN: {e}"),
                ));
            }
            if !self.groups.contains_key(&g.group) {
                return Err(bad(
                    &k(&format!("groups[{j}].group")),
                    "names no group of `groups:`",
                ));
            }
        }
        if l.require_group && l.groups.is_empty() {
            return Err(bad(
                &k("groups"),
                "is empty while require_group is true: nobody could log in",
            ));
        }
        if l.pool_size == 0 {
            return Err(bad(&k("pool_size"), "must be at least 1"));
        }
        if l.timeout.0.is_zero() {
            return Err(bad(&k("timeout"), "must be more than 0"));
        }
        check_cache("identity.ldap.cache", &l.cache)
    }
}

impl super::Config {
    /// Warnings for an operator: accounts of `users:` (or `anonymous`)
    /// that cannot log in because `identity.order` does not name `users`.
    #[must_use]
    pub fn identity_warnings(&self) -> Vec<String> {
        let unused = self.users.len() + usize::from(self.anonymous.enabled);
        if unused == 0 || self.identity.order.contains(&SourceName::Users) {
            return Vec::new();
        }
        vec![format!(
            "identity.order does not name `users`: the {unused} account(s) of `users:` and `anonymous` cannot log in"
        )]
    }
}

fn check_hook(h: &Hook) -> Result<(), ConfigError> {
    let Some((scheme, rest)) = h.url.split_once("://") else {
        return Err(bad(
            "identity.hook.url",
            "must start with https:// or http://",
        ));
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.contains('@') {
        return Err(bad(
            "identity.hook.url",
            "holds a user or password: put credentials in identity.hook.authorization (kept secret)",
        ));
    }
    let hostname = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or_default()
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or_default()
    };
    if hostname.is_empty() {
        return Err(bad("identity.hook.url", "has no host"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" => {
            let loopback = hostname == "localhost"
                || hostname
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(bad(
                    "identity.hook.url",
                    "http:// sends passwords in clear: use https:// (http:// only to a loopback address)",
                ));
            }
        }
        _ => {
            return Err(bad(
                "identity.hook.url",
                "must start with https:// or http://",
            ));
        }
    }
    if h.timeout.0.is_zero() {
        return Err(bad("identity.hook.timeout", "must be more than 0"));
    }
    check_cache("identity.hook.cache", &h.cache)
}

fn check_cache(key: &str, c: &super::Cache) -> Result<(), ConfigError> {
    if c.max_entries == 0 && !c.ttl.0.is_zero() {
        return Err(bad(
            &format!("{key}.max_entries"),
            "must be at least 1 while ttl is set",
        ));
    }
    if !c.serve_stale.0.is_zero() && c.ttl.0.is_zero() {
        return Err(bad(
            &format!("{key}.serve_stale"),
            "needs a ttl: only cached answers can be served stale",
        ));
    }
    Ok(())
}

/// `url`, `start_tls`, `allow_plain`: passwords never cross in clear unasked.
fn check_ldap_url(l: &Ldap) -> Result<(), ConfigError> {
    let k = |s: &str| format!("identity.ldap.{s}");
    let tls = match l.url.split_once("://") {
        Some((scheme, rest)) if !rest.is_empty() => match scheme.to_ascii_lowercase().as_str() {
            "ldaps" => true,
            "ldap" => false,
            _ => return Err(bad(&k("url"), "must start with ldaps:// or ldap://")),
        },
        _ => return Err(bad(&k("url"), "must start with ldaps:// or ldap://")),
    };
    if tls && l.start_tls {
        return Err(bad(
            &k("start_tls"),
            "is for ldap:// URLs; ldaps:// is TLS already",
        ));
    }
    if !tls && !l.start_tls && !l.allow_plain {
        return Err(bad(
            &k("url"),
            "ldap:// without start_tls sends passwords in clear: use ldaps://, set start_tls: true, or allow_plain: true",
        ));
    }
    Ok(())
}

/// The service account, or a direct bind's DN template; a search's base and filter.
fn check_ldap_binds(l: &Ldap) -> Result<(), ConfigError> {
    let k = |s: &str| format!("identity.ldap.{s}");
    if l.bind_dn.is_some() != l.bind_password.is_some() {
        return Err(bad(
            &k("bind_password"),
            "give both bind_dn and bind_password, or neither",
        ));
    }
    match &l.bind_dn_template {
        Some(t) if !t.contains("{username}") => {
            return Err(bad(&k("bind_dn_template"), "does not hold {username}"));
        }
        Some(_) => {}
        None if l.bind_dn.is_none() => {
            return Err(bad(
                &k("bind_dn"),
                "is needed to search for users (or set bind_dn_template for a direct bind)",
            ));
        }
        None => {}
    }
    if l.bind_dn.is_some() {
        if l.base_dn.trim().is_empty() {
            return Err(bad(&k("base_dn"), "is needed to search for users"));
        }
        if !l.user_filter.contains("{username}") {
            return Err(bad(&k("user_filter"), "does not hold {username}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    fn err(identity: &str) -> String {
        crate::Config::from_yaml(
            &format!(
                "s3: {{ bucket: b }}\ngroups: {{ partners: {{ home: /p }} }}\nidentity: {identity}"
            ),
            Vec::new(),
        )
        .unwrap_err()
        .to_string()
    }

    const BIND: &str = "bind_dn: 'cn=svc,dc=x', bind_password: 'Svc-Secret-1', base_dn: 'dc=x'";
    const URL: &str = "url: 'ldaps://dc:636'";
    const GROUPS: &str = "groups: [ { dn: 'cn=p,dc=x', group: partners } ]";
    const LDAP: &str = "url: 'ldaps://dc:636', bind_dn: 'cn=svc,dc=x', bind_password: 'Svc-Secret-1', base_dn: 'dc=x', groups: [ { dn: 'cn=p,dc=x', group: partners } ]";

    #[test]
    fn each_mistake_names_its_key() {
        for (identity, key, words) in [
            ("{ order: [] }", "identity.order", "nobody"),
            ("{ order: [users, users] }", "identity.order[1]", "twice"),
            (
                "{ order: [users, hook] }",
                "identity.order",
                "identity.hook",
            ),
            ("{ hook: { url: 'https://h' } }", "identity.hook", "order"),
            (
                "{ order: [hook], hook: { url: 'http://idp.example.com/x' } }",
                "identity.hook.url",
                "clear",
            ),
            (
                "{ order: [hook], hook: { url: 'ftp://h' } }",
                "identity.hook.url",
                "https://",
            ),
            (
                "{ order: [hook], hook: { url: 'https://h', cache: { ttl: 0s, serve_stale: 1h } } }",
                "identity.hook.cache.serve_stale",
                "ttl",
            ),
            (
                "{ order: [hook], hook: { url: 'https://h', tmeout: 1s } }",
                "identity.hook",
                "tmeout",
            ),
            (
                &format!("{{ order: [ldap], ldap: {{ {BIND}, {GROUPS}, url: 'ldap://dc' }} }}"),
                "identity.ldap.url",
                "clear",
            ),
            (
                &format!("{{ order: [ldap], ldap: {{ {LDAP}, start_tls: true }} }}"),
                "identity.ldap.start_tls",
                "ldaps://",
            ),
            (
                &format!("{{ order: [ldap], ldap: {{ {LDAP}, user_filter: '(uid=alice)' }} }}"),
                "identity.ldap.user_filter",
                "{username}",
            ),
            (
                &format!(
                    "{{ order: [ldap], ldap: {{ {URL}, {BIND}, groups: [ {{ dn: 'partners', group: partners }} ] }} }}"
                ),
                "identity.ldap.groups[0].dn",
                "not a DN",
            ),
            (
                &format!(
                    "{{ order: [ldap], ldap: {{ {URL}, {BIND}, groups: [ {{ dn: 'cn=p,dc=x', group: nope }} ] }} }}"
                ),
                "identity.ldap.groups[0].group",
                "groups:",
            ),
            (
                &format!("{{ order: [ldap], ldap: {{ {URL}, {BIND}, groups: [] }} }}"),
                "identity.ldap.groups",
                "require_group",
            ),
            (
                "{ order: [ldap], ldap: { url: 'ldaps://dc', base_dn: 'dc=x', groups: [ { dn: 'cn=p,dc=x', group: partners } ] } }",
                "identity.ldap.bind_dn",
                "bind_dn_template",
            ),
        ] {
            let e = err(identity);
            assert!(e.contains(key) && e.contains(words), "{identity}: {e}");
            assert!(!e.contains("Svc-Secret-1"), "{e}");
        }
        // A working chain loads.
        crate::Config::from_yaml(
            &format!("s3: {{ bucket: b }}\ngroups: {{ partners: {{ home: /p }} }}\nidentity: {{ order: [users, hook, ldap], hook: {{ url: 'http://127.0.0.1:9/x' }}, ldap: {{ {LDAP} }} }}"),
            Vec::new(),
        )
        .unwrap();
    }

    #[test]
    fn users_the_order_leaves_out_are_named() {
        let config = |order: &str| {
            crate::Config::from_yaml(
                &format!("s3: {{ bucket: b }}\nusers: [ {{ name: a, password: x }} ]\nidentity: {{ order: {order}, hook: {{ url: 'https://h/x' }} }}"),
                Vec::new(),
            )
            .unwrap()
        };
        let w = config("[hook]").identity_warnings();
        assert!(w.len() == 1 && w[0].contains("1 account"), "{w:?}");
        assert!(config("[users, hook]").identity_warnings().is_empty());
    }

    #[test]
    fn certificates_need_a_client_ca() {
        let e = crate::Config::from_yaml(
            "s3: { bucket: b }\nusers: [ { name: acme, certificate: instead_of_password } ]",
            Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("users[0].certificate") && e.contains("tls.client_ca"),
            "{e}"
        );
        let e =
            crate::Config::from_yaml("s3: { bucket: b }\nusers: [ { name: acme } ]", Vec::new())
                .unwrap_err()
                .to_string();
        assert!(e.contains("users[0].password_hash"), "{e}");
        let e = crate::Config::from_yaml(
            "s3: { bucket: b }\nusers: [ { name: acme, password: x, certificate_sha256: [abc] } ]",
            Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("users[0].certificate_sha256[0]"), "{e}");
    }
}
