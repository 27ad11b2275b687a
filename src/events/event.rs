//! One event as receivers see it: Standard Webhooks' envelope
//! `{"id", "type", "timestamp", "data"}`, the same JSON in the audit log.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who did it: the session an event comes from.
#[derive(Debug, Clone, Default)]
pub struct Who {
    /// The login name (as given, for a failed login).
    pub user: String,
    /// The client's address.
    pub ip: Option<std::net::IpAddr>,
    /// The session's id (as in the gateway's log lines).
    pub session_id: String,
    /// `ftp` or `ftps` (the control connection secured).
    pub protocol: &'static str,
}

/// One event.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    /// Unique per happening, the same on every retry and from every
    /// gateway (`evt_` + 12 hex digits of milliseconds + 16 random).
    pub id: String,
    /// `upload`, `download`, `delete`, `rename`, `mkdir`, `rmdir`,
    /// `login`, `login_failed`, `upload_failed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened (RFC 3339, UTC, milliseconds).
    pub timestamp: String,
    /// What happened.
    pub data: Data,
}

/// An event's facts; absent fields are left out of the JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Data {
    /// The login name.
    pub user: String,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The session's id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub session_id: String,
    /// `ftp` or `ftps`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// The FTP path (for a rename: where it went).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A rename's FTP path before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_path: Option<String>,
    /// The storage profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// The key (a folder's ends with `/`; for a rename: where it went).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A rename's key before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_key: Option<String>,
    /// A rename's storage profile before, when another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_profile: Option<String>,
    /// A rename's bucket before, when another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_bucket: Option<String>,
    /// A folder rename: the keys moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_moved: Option<u64>,
    /// The object's size (upload, download).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The object's ETag (without quotes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The full-object CRC32C, base64 of its 4 big-endian bytes as S3
    /// writes it (`x-amz-checksum-crc32c`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    /// What stands behind `crc32c`: `confirmed` (S3 verified the bytes
    /// against it and answered with it), `not_returned` (the gateway
    /// computed it and sent it; this store did not answer with it),
    /// `none` (no full-object checksum: a resume of an object S3 keeps
    /// none for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// The version id, on a versioned bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Milliseconds the operation took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Why it failed (`upload_failed`, `login_failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Delivered by a gateway that took the event over from one that
    /// stopped (the facts then come from S3 as it is now).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
}

/// A new event id: time-ordered, 64 random bits.
#[must_use]
pub fn new_id() -> String {
    let ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    format!("evt_{ms:012x}{:016x}", rand::random::<u64>())
}

impl Event {
    /// A new event of `kind` by `who`, now.
    #[must_use]
    pub fn new(kind: &str, who: &Who) -> Self {
        Self {
            id: new_id(),
            kind: kind.to_owned(),
            timestamp: now(),
            data: Data {
                user: who.user.clone(),
                ip: who.ip.map(|ip| ip.to_string()),
                session_id: who.session_id.clone(),
                protocol: who.protocol.to_owned(),
                ..Data::default()
            },
        }
    }

    /// The JSON of the event (webhook body, audit line, outbox entry).
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Sets the ETag, without the quotes of its HTTP form (as S3's own
    /// event notifications write it).
    pub fn set_etag(&mut self, etag: Option<&str>) {
        self.data.etag = etag.map(|e| e.trim_matches('"').to_owned());
    }

    /// Sets the checksum fields from what a write learnt.
    pub fn set_crc32c(&mut self, crc: Option<u32>, confirmed: bool) {
        self.data.crc32c = crc.map(crate::storage::checksum::to_header);
        self.data.checksum = Some(
            match (crc, confirmed) {
                (None, _) => "none",
                (Some(_), true) => "confirmed",
                (Some(_), false) => "not_returned",
            }
            .to_owned(),
        );
    }
}

/// Now, RFC 3339 in UTC with milliseconds.
fn now() -> String {
    let t = OffsetDateTime::now_utc();
    let t = t
        .replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_ordered_by_time() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert_ne!(a, b);
        assert!(a < b, "{a} {b}");
        assert_eq!(a.len(), 4 + 12 + 16);
    }

    #[test]
    fn json_leaves_out_what_is_unknown() {
        let who = Who {
            user: "anna".into(),
            ip: Some("192.0.2.7".parse().unwrap()),
            session_id: "s-1".into(),
            protocol: "ftps",
        };
        let mut e = Event::new("upload", &who);
        e.data.size = Some(3);
        e.set_crc32c(Some(0x1234_5678), true);
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["type"], "upload");
        assert_eq!(v["data"]["user"], "anna");
        assert_eq!(v["data"]["checksum"], "confirmed");
        assert_eq!(v["data"]["crc32c"], "EjRWeA==");
        assert!(v["data"].get("etag").is_none() && v["data"].get("recovered").is_none());
        let back: Event = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(back, e);
    }
}
