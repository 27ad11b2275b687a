//! What operators see: Prometheus metrics and the health endpoints.
//!
//! [`Metrics`] always exists (counting is a few atomic adds); it is served
//! only when `metrics.listen` is set, by [`http`], together with `/healthz`
//! and `/readyz`.

mod events;
pub mod http;

pub use events::EventMetrics;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric of the gateway, registered in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Control connections open now.
    pub sessions_active: IntGauge,
    /// Control connections accepted since start.
    pub sessions_total: IntCounter,
    /// Logins by identity source (`users`, `hook`, `ldap`, `none`) and
    /// result (`ok`, `failed`, `error`: the source was unavailable).
    pub logins: IntCounterVec,
    /// How long a login's decision took, by identity source.
    pub login_seconds: HistogramVec,
    /// Commands by verb and reply class (`2xx` …).
    pub commands: IntCounterVec,
    /// File bytes by direction (`in`: uploads, `out`: downloads).
    pub bytes: IntCounterVec,
    /// File transfers by direction and result (`complete`, `failed`).
    pub transfers: IntCounterVec,
    /// File transfer durations by direction.
    pub transfer_seconds: HistogramVec,
    /// S3 requests by operation and outcome (`ok`, `not_found`, `error`).
    pub s3_requests: IntCounterVec,
    /// S3 request latency by operation.
    pub s3_seconds: HistogramVec,
    /// Multipart uploads aborted, by reason (`interrupted`: an upload
    /// that did not complete; `abandoned`, `retried`: in the background)
    /// and outcome (`ok`, `error`).
    pub multipart_aborts: IntCounterVec,
    /// 1 while `/readyz` answers 200.
    pub ready: IntGauge,
    /// Per storage profile: 1 when its bucket answered the last probe.
    pub storage_reachable: IntGaugeVec,
    /// Events and webhook deliveries.
    pub events: EventMetrics,
    bans: IntCounter,
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn histogram_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric");
    r.register(Box::new(h.clone())).expect("unique metric");
    h
}

/// Logins by identity source and result, how long each took, and bans.
fn login_metrics(r: &Registry) -> (IntCounterVec, HistogramVec, IntCounter) {
    let logins = counter_vec(
        r,
        "s3ftpd_logins_total",
        "Login attempts by identity source and result (ok, failed, error: the source was unavailable)",
        &["source", "result"],
    );
    let seconds = histogram_vec(
        r,
        "s3ftpd_login_duration_seconds",
        "How long a login's decision took, by identity source",
        &["source"],
        prometheus::exponential_buckets(0.0005, 3.0, 12).expect("valid buckets"),
    );
    let bans = IntCounter::new(
        "s3ftpd_bans_total",
        "Client IPs banned after repeated login failures",
    )
    .expect("valid metric");
    r.register(Box::new(bans.clone())).expect("unique metric");
    (logins, seconds, bans)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    #[must_use]
    pub fn new() -> Self {
        let r = Registry::new();
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            r.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            r.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let (logins, login_seconds, bans) = login_metrics(&r);
        let sessions_active = gauge("s3ftpd_sessions_active", "FTP control connections open now");
        let sessions_total = counter("s3ftpd_sessions_total", "FTP control connections accepted");
        let ready = gauge(
            "s3ftpd_ready",
            "1 while /readyz answers 200 (default bucket reachable, not draining)",
        );
        let storage_reachable = gauge_vec(
            &r,
            "s3ftpd_storage_reachable",
            "Per storage profile: 1 when its bucket answered the last probe",
            &["profile"],
        );
        Self {
            events: EventMetrics::new(&r),
            ready,
            storage_reachable,
            sessions_active,
            sessions_total,
            logins,
            login_seconds,
            commands: counter_vec(
                &r,
                "s3ftpd_commands_total",
                "FTP commands by verb and reply class",
                &["verb", "class"],
            ),
            bytes: counter_vec(
                &r,
                "s3ftpd_transfer_bytes_total",
                "File bytes transferred (in: uploads, out: downloads)",
                &["direction"],
            ),
            transfers: counter_vec(
                &r,
                "s3ftpd_transfers_total",
                "File transfers by direction and result",
                &["direction", "result"],
            ),
            transfer_seconds: histogram_vec(
                &r,
                "s3ftpd_transfer_duration_seconds",
                "File transfer duration",
                &["direction"],
                prometheus::exponential_buckets(0.01, 4.0, 10).expect("valid buckets"),
            ),
            s3_requests: counter_vec(
                &r,
                "s3ftpd_s3_requests_total",
                "S3 requests by operation and outcome",
                &["operation", "outcome"],
            ),
            s3_seconds: histogram_vec(
                &r,
                "s3ftpd_s3_request_duration_seconds",
                "S3 request latency",
                &["operation"],
                prometheus::exponential_buckets(0.001, 3.0, 12).expect("valid buckets"),
            ),
            multipart_aborts: counter_vec(
                &r,
                "s3ftpd_multipart_aborts_total",
                "Multipart uploads aborted (interrupted: an upload that did not complete; abandoned: older than uploads.abandoned_after; retried: an abort that had failed)",
                &["reason", "outcome"],
            ),
            bans,
            registry: r,
        }
    }

    /// The exposition in Prometheus text format; `bans_total` is the ban
    /// count kept by the session layer.
    #[must_use]
    pub fn render(&self, bans_total: u64) -> String {
        let seen = self.bans.get();
        if bans_total > seen {
            self.bans.inc_by(bans_total - seen);
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Counts one open session until dropped.
#[derive(Debug)]
pub struct SessionGuard(IntGauge);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// A control connection was accepted: counted until the guard drops.
    #[must_use]
    pub fn session_started(&self) -> SessionGuard {
        self.sessions_total.inc();
        self.sessions_active.inc();
        SessionGuard(self.sessions_active.clone())
    }
}

/// `2xx`-style class of a reply code.
#[must_use]
pub fn reply_class(code: u16) -> &'static str {
    match code / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let m = Metrics::new();
        m.commands.with_label_values(&["RETR", "2xx"]).inc();
        m.s3_requests.with_label_values(&["GetObject", "ok"]).inc();
        m.s3_seconds.with_label_values(&["GetObject"]).observe(0.01);
        let text = m.render(3);
        assert!(
            text.contains("s3ftpd_commands_total{class=\"2xx\",verb=\"RETR\"} 1"),
            "{text}"
        );
        assert!(text.contains("s3ftpd_bans_total 3"), "{text}");
        assert!(text.contains("s3ftpd_s3_request_duration_seconds_bucket{operation=\"GetObject\""));
        assert_eq!(m.render(3).matches("s3ftpd_bans_total 3").count(), 1);
        assert_eq!(reply_class(226), "2xx");
        assert_eq!(reply_class(550), "5xx");
    }
}
