//! The metrics of events: emitted, delivered, retried, dropped, and the
//! backlog (count and age of the oldest) per webhook endpoint.

use prometheus::{IntCounterVec, IntGaugeVec, Registry};

use super::{counter_vec, gauge_vec};

/// Events and their deliveries.
#[derive(Debug)]
pub struct EventMetrics {
    /// Events that happened, by type (whatever their sinks).
    pub emitted: IntCounterVec,
    /// Deliveries a receiver accepted (2xx), by endpoint.
    pub delivered: IntCounterVec,
    /// Delivery attempts that failed and will be tried again, by endpoint.
    pub retried: IntCounterVec,
    /// Events not delivered, by endpoint (`-`: all) and reason
    /// (`backlog_full`, `queue_full`, `gave_up`, `not_committed`).
    pub dropped: IntCounterVec,
    /// Deliveries waiting, by endpoint.
    pub backlog: IntGaugeVec,
    /// Age in seconds of the oldest delivery waiting, by endpoint.
    pub backlog_age: IntGaugeVec,
    /// Outbox entries taken over from a gateway that stopped, by outcome
    /// (`delivered`: the change had happened, `discarded`: it had not).
    pub recovered: IntCounterVec,
}

impl EventMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        Self {
            emitted: counter_vec(
                r,
                "s3ftpd_events_total",
                "Events that happened, by type",
                &["type"],
            ),
            delivered: counter_vec(
                r,
                "s3ftpd_event_deliveries_total",
                "Webhook deliveries a receiver accepted (2xx), by endpoint",
                &["endpoint"],
            ),
            retried: counter_vec(
                r,
                "s3ftpd_event_retries_total",
                "Webhook delivery attempts that failed and are tried again, by endpoint",
                &["endpoint"],
            ),
            dropped: counter_vec(
                r,
                "s3ftpd_events_dropped_total",
                "Events not delivered, by endpoint and reason (backlog_full, queue_full, gave_up, not_committed)",
                &["endpoint", "reason"],
            ),
            backlog: gauge_vec(
                r,
                "s3ftpd_event_backlog",
                "Webhook deliveries waiting, by endpoint",
                &["endpoint"],
            ),
            backlog_age: gauge_vec(
                r,
                "s3ftpd_event_backlog_age_seconds",
                "Age of the oldest webhook delivery waiting, by endpoint",
                &["endpoint"],
            ),
            recovered: counter_vec(
                r,
                "s3ftpd_outbox_recovered_total",
                "Outbox entries taken over from a stopped gateway, by outcome (delivered, discarded)",
                &["outcome"],
            ),
        }
    }
}
