//! Every wait on a peer, in one place: how long the gateway waits for a
//! client or a balancer before it gives up. Read once from `limits:` and
//! `uploads:`; sessions and listeners take their waits from here (S3's
//! deadline, `s3.timeout`, is per storage profile: the storage layer's).

use std::time::Duration;

use super::Config;

/// The waits, each from its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `limits.login_timeout`: connected but not logged in.
    pub login: Duration,
    /// `limits.idle_timeout`: a quiet control connection (`SITE IDLE` may
    /// shorten it for one session).
    pub idle: Duration,
    /// `limits.data_timeout`: a transfer that moves no byte, and the
    /// connect of an active-mode (PORT/EPRT) data connection.
    pub data: Duration,
    /// `limits.passive_timeout`: a PASV/EPSV waiting for its connection.
    pub passive: Duration,
    /// `limits.handshake_timeout`: TLS handshakes (AUTH TLS, implicit FTPS,
    /// protected data connections) and a trusted balancer's PROXY header.
    pub handshake: Duration,
    /// `uploads.commit_grace`: after an upload's last byte, how long a quiet
    /// control connection is watched for the FIN of a dying client.
    pub commit_grace: Duration,
}

impl Config {
    /// The waits this configuration sets.
    #[must_use]
    pub fn timeouts(&self) -> Timeouts {
        let l = &self.limits;
        Timeouts {
            login: l.login_timeout.0,
            idle: l.idle_timeout.0,
            data: l.data_timeout.0,
            passive: l.passive_timeout.0,
            handshake: l.handshake_timeout.0,
            commit_grace: self.uploads.commit_grace.0,
        }
    }
}
