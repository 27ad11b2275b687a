//! Address lists: `allow_from` / `deny_from` (global and per account) and
//! `proxy_protocol.trusted`. Entries are addresses or CIDR networks, IPv4
//! and IPv6 alike; a client's IPv4-mapped IPv6 address (`::ffff:10.1.2.3`,
//! as a dual-stack socket reports it) is compared as the IPv4 address.

use std::net::IpAddr;

use ipnet::IpNet;

/// `ip` with an IPv4-mapped IPv6 address written as IPv4.
#[must_use]
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// One entry: a network, or an address (a network of one).
fn network(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|n| match n {
            // `::ffff:10.0.0.0/104` means 10.0.0.0/8.
            IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
                Some(v4) if v6.prefix_len() >= 96 => {
                    IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(n)
                }
                _ => n,
            },
            v4 @ IpNet::V4(_) => v4,
        })
}

/// A list of networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// The usable entries of `list` (validation names the others).
    #[must_use]
    pub fn parse(list: &[String]) -> Self {
        Self(list.iter().filter_map(|e| network(e)).collect())
    }

    /// Whether no entry is given.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is in one of the networks.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// Who may connect or log in: not in `deny` (checked first), and in
/// `allow` when it has entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRule {
    allow: Networks,
    deny: Networks,
}

impl IpRule {
    /// From `allow_from` and `deny_from`.
    #[must_use]
    pub fn new(allow: &[String], deny: &[String]) -> Self {
        Self {
            allow: Networks::parse(allow),
            deny: Networks::parse(deny),
        }
    }

    /// Whether `ip` may come in.
    #[must_use]
    pub fn permits(&self, ip: IpAddr) -> bool {
        !self.deny.contains(ip) && (self.allow.is_empty() || self.allow.contains(ip))
    }
}

/// The index of the first entry of `list` that is neither an address nor
/// a network (validation names it by its key, never its value).
#[must_use]
pub fn first_bad(list: &[String]) -> Option<usize> {
    list.iter().position(|e| network(e).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn deny_first_then_allow() {
        let r = IpRule::new(
            &list(&["10.0.0.0/8", "2001:db8::/32"]),
            &list(&["10.9.0.0/16"]),
        );
        assert!(r.permits(ip("10.1.2.3")));
        assert!(
            !r.permits(ip("10.9.1.1")),
            "denied inside an allowed network"
        );
        assert!(!r.permits(ip("192.0.2.1")), "not in the allow list");
        assert!(r.permits(ip("2001:db8::5")));
        assert!(!r.permits(ip("2001:db9::5")));
    }

    #[test]
    fn mapped_addresses_compare_as_ipv4() {
        let r = IpRule::new(&list(&["127.0.0.2"]), &[]);
        assert!(r.permits(ip("::ffff:127.0.0.2")));
        assert!(!r.permits(ip("::ffff:127.0.0.3")));
        let mapped = IpRule::new(&list(&["::ffff:10.0.0.0/104"]), &[]);
        assert!(mapped.permits(ip("10.2.3.4")));
        let deny = IpRule::new(&[], &list(&["127.0.0.3"]));
        assert!(!deny.permits(ip("::ffff:127.0.0.3")));
        assert!(deny.permits(ip("::1")));
    }

    #[test]
    fn no_lists_permit_everyone() {
        assert!(IpRule::default().permits(ip("203.0.113.9")));
    }

    #[test]
    fn bad_entries_are_found() {
        assert_eq!(
            first_bad(&list(&["10.0.0.0/8", "::1", "2001:db8::/32"])),
            None
        );
        assert_eq!(first_bad(&list(&["10.0.0.0/8", "office"])), Some(1));
        assert_eq!(first_bad(&list(&["10.0.0.0/33"])), Some(0));
    }
}
