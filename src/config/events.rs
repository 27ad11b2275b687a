//! `events:` — what the gateway tells other systems: signed webhooks
//! (Standard Webhooks), an audit log of JSON lines, and the outbox that
//! makes data events durable.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::validate::bad;
use super::{Config, ConfigError, Dur, Secret};

/// Every event type, as the webhooks' `events:` lists and payloads name them.
pub const EVENT_TYPES: [&str; 9] = [
    "upload",
    "download",
    "delete",
    "rename",
    "mkdir",
    "rmdir",
    "login",
    "login_failed",
    "upload_failed",
];

/// The event types that change data: delivered durably through the outbox.
pub const DATA_EVENTS: [&str; 5] = ["upload", "delete", "rename", "mkdir", "rmdir"];

/// `events:` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Events {
    /// Every event as one JSON line: a file path, or `-` for stdout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<String>,
    /// Receivers of signed HTTP POSTs.
    pub webhooks: Vec<Webhook>,
    /// The durable outbox of data events.
    pub outbox: Outbox,
}

/// One webhook endpoint.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Its name in logs and metrics (default: its index, `0`, `1`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `https://…` (`http://` only to a loopback address).
    pub url: String,
    /// The event types it receives (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// The signing secret, Standard Webhooks' `whsec_<base64>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// A file holding the secret (a mounted Kubernetes secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// PEM certificates of the CAs to trust (default: the system's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Longest wait for one delivery's answer.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Longest pause between two attempts: back-off doubles from 1 s up
    /// to it, with jitter.
    #[serde(default = "default_retry_max")]
    pub retry_max: Dur,
}

fn default_timeout() -> Dur {
    Dur(Duration::from_secs(10))
}

fn default_retry_max() -> Dur {
    Dur(Duration::from_secs(300))
}

impl Webhook {
    /// Whether it wants events of `kind`.
    #[must_use]
    pub fn wants(&self, kind: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == kind)
    }

    /// Its name in logs and metrics.
    #[must_use]
    pub fn label(&self, index: usize) -> String {
        self.name.clone().unwrap_or_else(|| index.to_string())
    }
}

/// `events.outbox`: the intents of data events, under the default
/// profile's `.s3ftpd/outbox/`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outbox {
    /// How often each gateway looks for entries of gateways that stopped.
    pub poll: Dur,
    /// How long a gateway's heartbeat keeps its entries its own: after
    /// it, another gateway takes them over.
    pub lease: Dur,
    /// Data events waiting for delivery at most; past it new data events
    /// are dropped (counted and logged), the data itself is still written.
    pub max_backlog: usize,
}

impl Default for Outbox {
    fn default() -> Self {
        Self {
            poll: Dur(Duration::from_secs(10)),
            lease: Dur(Duration::from_secs(60)),
            max_backlog: 10_000,
        }
    }
}

impl Events {
    /// Whether any webhook wants data events (then the outbox is used).
    #[must_use]
    pub fn durable(&self) -> bool {
        self.webhooks
            .iter()
            .any(|w| DATA_EVENTS.iter().any(|k| w.wants(k)))
    }
}

/// Checks a Standard Webhooks secret: `whsec_` and base64 of 24 to 64 bytes.
///
/// # Errors
/// What is wrong, never the value.
pub fn check_secret(s: &str) -> Result<Vec<u8>, String> {
    let b64 = s.trim().strip_prefix("whsec_").unwrap_or(s.trim());
    let key = aws_smithy_types::base64::decode(b64).map_err(|_| {
        "is not base64 (after `whsec_`): make one with `echo whsec_$(openssl rand -base64 32)`"
            .to_owned()
    })?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "holds {} bytes; Standard Webhooks secrets hold 24 to 64 (`echo whsec_$(openssl rand -base64 32)`)",
            key.len()
        ));
    }
    Ok(key)
}

impl Config {
    /// `events:`: webhooks with a URL, a secret and known event types;
    /// an outbox the default profile can hold.
    pub(super) fn validate_events(&self) -> Result<(), ConfigError> {
        let ev = &self.events;
        for (i, w) in ev.webhooks.iter().enumerate() {
            let key = |k: &str| format!("events.webhooks[{i}].{k}");
            check_url(&w.url).map_err(|m| bad(&key("url"), m))?;
            for (j, e) in w.events.iter().enumerate() {
                if !EVENT_TYPES.contains(&e.as_str()) {
                    return Err(bad(
                        &format!("events.webhooks[{i}].events[{j}]"),
                        format!(
                            "`{e}` is not an event type; known: {}",
                            EVENT_TYPES.join(", ")
                        ),
                    ));
                }
            }
            match (&w.secret, &w.secret_file) {
                (Some(_), Some(_)) => {
                    return Err(bad(
                        &key("secret"),
                        "set `secret` or `secret_file`, not both",
                    ));
                }
                (None, None) => {
                    return Err(bad(
                        &key("secret"),
                        "is required: receivers verify every delivery with it (`echo whsec_$(openssl rand -base64 32)`)",
                    ));
                }
                (Some(s), None) => {
                    check_secret(s.expose()).map_err(|m| bad(&key("secret"), m))?;
                }
                (None, Some(_)) => {}
            }
            if w.timeout.0.is_zero() {
                return Err(bad(&key("timeout"), "must be more than 0"));
            }
            if w.retry_max.0 < Duration::from_secs(1) {
                return Err(bad(&key("retry_max"), "must be at least 1s"));
            }
        }
        let o = &ev.outbox;
        if o.poll.0.is_zero() || o.lease.0.is_zero() {
            return Err(bad(
                "events.outbox.lease",
                "poll and lease must be more than 0",
            ));
        }
        if o.lease.0 < o.poll.0 {
            return Err(bad(
                "events.outbox.lease",
                "must be at least events.outbox.poll (a heartbeat is written every lease/3)",
            ));
        }
        if o.max_backlog == 0 {
            return Err(bad("events.outbox.max_backlog", "must be more than 0"));
        }
        if ev.audit_log.as_deref().is_some_and(str::is_empty) {
            return Err(bad(
                "events.audit_log",
                "is empty: a file path, or `-` for stdout",
            ));
        }
        Ok(())
    }
}

/// An endpoint URL: `https://`, or `http://` to a loopback address; no
/// credentials in it.
fn check_url(url: &str) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("is not a URL: {e}"))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(
            "holds credentials: receivers authenticate the gateway by the signature".into(),
        );
    }
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") => {
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(
                    "uses http:// to another host: events would travel unencrypted; use https://"
                        .into(),
                )
            }
        }
        _ => Err("must start with https:// (or http:// to a loopback address)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_standard_webhooks_secrets() {
        assert_eq!(
            check_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap()
                .len(),
            24
        );
        assert!(check_secret("whsec_short").is_err());
        assert!(check_secret("not base64 !").is_err());
    }

    #[test]
    fn bad_events_name_their_key_never_the_secret() {
        let cases = [
            (
                "webhooks: [ { url: 'https://h/x' } ]",
                "events.webhooks[0].secret",
            ),
            (
                "webhooks: [ { url: 'https://h/x', secret: 'whsec_c2hvcnQ=' } ]",
                "events.webhooks[0].secret",
            ),
            (
                "webhooks: [ { url: 'https://h/x', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', events: [upload, uplaod] } ]",
                "events.webhooks[0].events[1]",
            ),
            (
                "webhooks: [ { url: 'http://hooks.example.com/x', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' } ]",
                "events.webhooks[0].url",
            ),
            ("outbox: { lease: 5s, poll: 10s }", "events.outbox.lease"),
            ("outbox: { max_backlog: 0 }", "events.outbox.max_backlog"),
        ];
        for (events, key) in cases {
            let yaml = format!("s3: {{ bucket: b }}\nevents: {{ {events} }}\n");
            let e = Config::from_yaml(&yaml, Vec::new())
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("`{key}`")), "{events}: {e}");
            assert!(!e.contains("c2hvcnQ") && !e.contains("MfKQ9r8"), "{e}");
        }
        let ok = "s3: { bucket: b }\nevents: { audit_log: '-', webhooks: [ { url: 'https://h/x', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', events: [upload] } ] }\n";
        let c = Config::from_yaml(ok, Vec::new()).unwrap();
        assert!(c.events.durable());
        assert!(c.events.webhooks[0].wants("upload") && !c.events.webhooks[0].wants("login"));
    }

    #[test]
    fn urls_are_https_or_loopback() {
        assert!(check_url("https://hooks.example.com/x").is_ok());
        assert!(check_url("http://127.0.0.1:8080/x").is_ok());
        assert!(check_url("http://[::1]:8080/x").is_ok());
        assert!(check_url("http://hooks.example.com/x").is_err());
        assert!(check_url("https://u:p@hooks.example.com/x").is_err());
        assert!(check_url("ftp://x").is_err());
    }
}
