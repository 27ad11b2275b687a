//! TLS client certificates at login: what the client presented (already
//! verified against `tls.client_ca` by the handshake: trusted, in date),
//! and whether it is an account's — by SHA-256 fingerprint, or by a CN or
//! SAN equal to one of the account's names. Never by a part of a name.

use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::config::{CertMode, Settings, fingerprint};

/// The certificate a client presented on the control connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// SHA-256 of its DER bytes.
    pub sha256: [u8; 32],
    /// Its subject, as text (`CN=acme,O=Partners`).
    pub subject: String,
    /// Its common names, DNS names and e-mail addresses.
    pub names: Vec<String>,
}

impl ClientCert {
    /// Reads a DER certificate; `None` when it cannot be parsed (the
    /// handshake verified it, so that does not happen).
    #[must_use]
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut names: Vec<String> = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(s) | GeneralName::RFC822Name(s) => {
                        names.push((*s).to_owned());
                    }
                    _ => {}
                }
            }
        }
        Some(Self {
            sha256: Sha256::digest(der).into(),
            subject: cert.subject().to_string(),
            names,
        })
    }

    /// The fingerprint as colon-separated upper-case hex (as `openssl
    /// x509 -fingerprint -sha256` prints it).
    #[must_use]
    pub fn fingerprint(&self) -> String {
        self.sha256
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// Whether this is `name`'s certificate under `settings`: a pinned
    /// fingerprint, a listed name, or — when the account lists neither —
    /// a CN or SAN equal to the login name.
    #[must_use]
    pub fn belongs_to(&self, name: &str, settings: &Settings) -> bool {
        if settings
            .certificate_sha256
            .iter()
            .filter_map(|f| fingerprint(f))
            .any(|f| f == self.sha256)
        {
            return true;
        }
        if settings.certificate_names.is_empty() && settings.certificate_sha256.is_empty() {
            return self.names.iter().any(|n| n == name);
        }
        self.names
            .iter()
            .any(|n| settings.certificate_names.contains(n))
    }
}

/// Why an account that proved itself (`with_password`: by its password;
/// otherwise by `cert` alone) may not log in with this certificate, if so.
#[must_use]
pub fn refusal(
    name: &str,
    settings: &Settings,
    cert: Option<&ClientCert>,
    with_password: bool,
) -> Option<&'static str> {
    let mine = cert.map(|c| c.belongs_to(name, settings));
    match (settings.certificate.unwrap_or_default(), mine) {
        (CertMode::Off, _) | (CertMode::Optional, None | Some(true)) => {
            (!with_password).then_some("the account logs in with a password")
        }
        (CertMode::Optional | CertMode::Required, Some(false)) => {
            Some("the client certificate is not this account's")
        }
        (CertMode::Required, None) => Some("the account needs a client certificate"),
        (CertMode::Required, Some(true)) => {
            (!with_password).then_some("the account needs its password too")
        }
        (CertMode::InsteadOfPassword, _) if with_password => {
            Some("the account logs in by client certificate only, not by password")
        }
        (CertMode::InsteadOfPassword, None) => Some("the account needs a client certificate"),
        (CertMode::InsteadOfPassword, Some(false)) => {
            Some("the client certificate is not this account's")
        }
        (CertMode::InsteadOfPassword, Some(true)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(names: &[&str]) -> ClientCert {
        ClientCert {
            sha256: [7; 32],
            subject: String::new(),
            names: names.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn mode(m: CertMode) -> Settings {
        Settings {
            certificate: Some(m),
            ..Settings::default()
        }
    }

    #[test]
    fn names_match_whole_never_in_part() {
        let s = Settings::default();
        assert!(cert(&["acme"]).belongs_to("acme", &s));
        for other in ["acme2", "acm", "ACME", "xacme", "acme.example.com"] {
            assert!(!cert(&[other]).belongs_to("acme", &s), "{other}");
        }
        let listed = Settings {
            certificate_names: vec!["ftp.acme.example".into()],
            ..Settings::default()
        };
        assert!(cert(&["ftp.acme.example"]).belongs_to("acme", &listed));
        assert!(
            !cert(&["acme"]).belongs_to("acme", &listed),
            "listed names replace the login name"
        );
        let pinned = Settings {
            certificate_sha256: vec![hex::encode([7; 32])],
            ..Settings::default()
        };
        assert!(cert(&["someone"]).belongs_to("acme", &pinned));
        let other_pin = Settings {
            certificate_sha256: vec![hex::encode([8; 32])],
            ..Settings::default()
        };
        assert!(!cert(&["acme"]).belongs_to("acme", &other_pin));
    }

    #[test]
    fn each_mode() {
        let mine = cert(&["acme"]);
        let theirs = cert(&["bob"]);
        let r = |m, c: Option<&ClientCert>, pw| refusal("acme", &mode(m), c, pw);
        assert_eq!(r(CertMode::Off, Some(&theirs), true), None);
        assert!(r(CertMode::Off, Some(&mine), false).is_some());
        assert_eq!(r(CertMode::Optional, None, true), None);
        assert_eq!(r(CertMode::Optional, Some(&mine), true), None);
        assert!(r(CertMode::Optional, Some(&theirs), true).is_some());
        assert!(r(CertMode::Required, None, true).is_some());
        assert!(r(CertMode::Required, Some(&theirs), true).is_some());
        assert_eq!(r(CertMode::Required, Some(&mine), true), None);
        assert!(r(CertMode::Required, Some(&mine), false).is_some());
        assert_eq!(r(CertMode::InsteadOfPassword, Some(&mine), false), None);
        assert!(r(CertMode::InsteadOfPassword, Some(&mine), true).is_some());
        assert!(r(CertMode::InsteadOfPassword, Some(&theirs), false).is_some());
        assert!(r(CertMode::InsteadOfPassword, None, false).is_some());
    }
}
