//! The HTTP auth hook: each login is `POST`ed as JSON to `identity.hook.url`;
//! `200` with a user (the `users:` schema, without a password) grants it,
//! `401`/`403` refuse it, `404` means "not mine" (the next source is
//! asked). Anything else — no answer in time, a `5xx`, a body that is not
//! a user — is an outage: the login is refused (fail closed).
//!
//! The request:
//! ```json
//! {"username": "acme", "password": "…" or null, "ip": "192.0.2.7",
//!  "protocol": "ftps", "session_id": "s3ftpd-17",
//!  "certificate": {"sha256": "AB:CD:…", "subject": "CN=acme", "names": ["acme"]} or null}
//! ```
//! `password` is null for a certificate login (the client sent none);
//! `certificate` is the one the TLS handshake verified against
//! `tls.client_ca`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

use super::{Account, Request, Verdict};
use crate::config::{self, Config, Secret, SourceName, User};

/// Bytes of an answer read at most.
const MAX_ANSWER: usize = 64 * 1024;

/// The hook of a running gateway.
pub struct Hook {
    url: hyper::Uri,
    client: super::tls_client::HttpClient,
    timeout: Duration,
    authorization: Option<Secret>,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Hook {
    /// The client for `cfg`.
    ///
    /// # Errors
    /// The URL does not parse, or `ca_file` cannot be used.
    pub fn new(cfg: &config::Hook) -> Result<Self, String> {
        let url: hyper::Uri = cfg
            .url
            .parse()
            .map_err(|e| format!("identity.hook.url: {e}"))?;
        let client = super::tls_client::http_client(cfg.ca_file.as_deref(), cfg.timeout.0)
            .map_err(|e| format!("identity.hook.ca_file: {e}"))?;
        Ok(Self {
            url,
            client,
            timeout: cfg.timeout.0,
            authorization: cfg.authorization.clone(),
        })
    }

    /// Asks the hook about one login.
    pub async fn ask(&self, req: &Request<'_>, config: &Config) -> Verdict {
        let body = serde_json::json!({
            "username": req.name,
            "password": req.password.map(Secret::expose),
            "ip": req.ip.to_string(),
            "protocol": if req.secure { "ftps" } else { "ftp" },
            "session_id": req.session,
            "certificate": req.cert.map(|c| serde_json::json!({
                "sha256": c.fingerprint(),
                "subject": c.subject,
                "names": c.names,
            })),
        });
        let mut http = hyper::Request::post(self.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::USER_AGENT, "s3ftpd");
        if let Some(a) = &self.authorization {
            http = http.header(hyper::header::AUTHORIZATION, a.expose());
        }
        let Ok(http) = http.body(Full::new(Bytes::from(body.to_string()))) else {
            return Verdict::Unavailable(
                "the request cannot be built (identity.hook.authorization is not a header value)"
                    .into(),
            );
        };
        let exchange = async {
            let resp = self
                .client
                .request(http)
                .await
                .map_err(|e| super::tls_client::error_chain(&e))?;
            let status = resp.status();
            let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Verdict::Unavailable(format!("no answer within {:?}", self.timeout)),
            Ok(Err(why)) => Verdict::Unavailable(why),
            Ok(Ok((status, body))) => match status.as_u16() {
                200 => answer(req.name, &body, config),
                401 | 403 => Verdict::Denied(format!("the hook refused ({status})")),
                404 => Verdict::Unknown,
                _ => Verdict::Unavailable(format!("the hook answered {status}")),
            },
        }
    }
}

/// A `200` answer's account, or why it is nonsense.
fn answer(name: &str, body: &[u8], config: &Config) -> Verdict {
    let mut value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Verdict::Unavailable(format!("the answer is not JSON: {e}")),
    };
    let Some(object) = value.as_object_mut() else {
        return Verdict::Unavailable("the answer is not a JSON object (a user)".into());
    };
    for secret in ["password", "password_hash"] {
        if object.contains_key(secret) {
            return Verdict::Unavailable(format!(
                "the answer holds `{secret}`: a hook answers with a user's settings, never a password"
            ));
        }
    }
    object
        .entry("name")
        .or_insert_with(|| serde_json::Value::String(name.to_owned()));
    let user: User = match serde_path_to_error::deserialize(&value) {
        Ok(u) => u,
        Err(e) => {
            return Verdict::Unavailable(format!(
                "the answer is not a user: at `{}`: {}",
                e.path(),
                config::redact_message(&e.path().to_string(), &e.inner().to_string())
            ));
        }
    };
    match config.external_settings("hook answer", &user) {
        Ok(settings) => Verdict::Granted(Box::new(Account {
            name: user.name,
            settings,
            source: SourceName::Hook,
        })),
        Err(e) => Verdict::Unavailable(format!("the answer cannot be used: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_yaml(
            "s3: { bucket: b }\ngroups: { partners: { home: /p } }",
            Vec::new(),
        )
        .unwrap()
    }

    fn why(body: &str) -> String {
        match answer("acme", body.as_bytes(), &config()) {
            Verdict::Unavailable(why) => why,
            v => panic!("{body}: {v:?}"),
        }
    }

    #[test]
    fn a_user_or_a_reason_naming_the_key() {
        let Verdict::Granted(a) = answer(
            "acme",
            br#"{"groups": ["partners"], "permissions": {"/in": ["upload"]}}"#,
            &config(),
        ) else {
            panic!("granted")
        };
        assert_eq!(
            (a.name.as_str(), a.settings.home.as_deref()),
            ("acme", Some("/p"))
        );
        assert_eq!(a.source, SourceName::Hook);
        let w = why(r#"{"home": "/x", "homedir": "/y"}"#);
        assert!(w.contains("homedir"), "{w}");
        let w = why(r#"{"read_only": "Sekrit-value-9"}"#);
        assert!(
            w.contains("read_only") && !w.contains("Sekrit-value-9"),
            "{w}"
        );
        let w = why(r#"{"password_hash": "$argon2id$x"}"#);
        assert!(
            w.contains("`password_hash`") && !w.contains("argon2id$x"),
            "{w}"
        );
        let w = why(r#"{"groups": ["admins"]}"#);
        assert!(w.contains("groups[0]"), "{w}");
        let w = why(r#"{"permissions": {"/": ["chmod"]}}"#);
        assert!(w.contains("permissions"), "{w}");
        let w = why(r#"{"name": "a/b"}"#);
        assert!(w.contains("name"), "{w}");
        assert!(why("[]").contains("not a JSON object"));
        assert!(why("").contains("not JSON"));
    }
}
