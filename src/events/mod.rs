//! Events: what happened (an upload committed, a file deleted, a login),
//! told to the audit log and to webhooks signed as Standard Webhooks.
//!
//! - **Data events** (`upload`, `delete`, `rename`, `mkdir`, `rmdir`) that a
//!   webhook wants are durable: an *intent* — the event as known before the
//!   change — is written to the outbox in S3 ([`outbox`]) before the change
//!   is made; the event is handed to the webhooks after S3 committed it, and
//!   the intent is removed once every endpoint answered 2xx. A gateway that
//!   dies between the two leaves the intent; another gateway (or this one,
//!   restarted) takes it over when its heartbeat is older than the lease,
//!   asks S3 whether the change happened, and delivers or discards it.
//! - **Other events** (`download`, `login`, `login_failed`,
//!   `upload_failed`) are best effort: a bounded queue in memory per
//!   endpoint, a few attempts, drops counted — a brute-force attack cannot
//!   fill the outbox.
//!
//! Nothing here waits for a receiver: a delivery is its own task.

mod audit;
mod event;
mod outbox;
mod sign;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use event::{Data, Event, Who};

use crate::config;
use crate::observe::Metrics;
use crate::storage::{Storages, Tag};
use webhook::{Countdown, Delivery, Endpoint};

/// The events of a running gateway (cheap to clone).
#[derive(Clone)]
pub struct Events(Arc<Inner>);

struct Inner {
    audit: Option<audit::AuditLog>,
    endpoints: Vec<Arc<Endpoint>>,
    outbox: Option<Arc<outbox::Outbox>>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("endpoints", &self.0.endpoints.len())
            .field("outbox", &self.0.outbox.is_some())
            .finish_non_exhaustive()
    }
}

/// A data event's intent in the outbox, written before its change.
#[derive(Debug, Default)]
#[must_use = "an intent is settled by Events::done or Events::cancel"]
pub struct Intent {
    /// The outbox entry's name; `None`: none was written.
    entry: Option<String>,
    /// The backlog was full: the event goes to the audit log only.
    dropped: bool,
    /// What an upload waits for before it commits.
    tag: Option<Tag>,
}

impl Intent {
    /// What an upload carries: its event id on the object, and the
    /// entry's write to wait for before the commit.
    #[must_use]
    pub fn tag(&self) -> Option<Tag> {
        self.tag.clone()
    }
}

impl Events {
    /// No audit log, no webhook.
    #[must_use]
    pub fn off(metrics: Arc<Metrics>) -> Self {
        Self(Arc::new(Inner {
            audit: None,
            endpoints: Vec::new(),
            outbox: None,
            metrics,
            stop: CancellationToken::new(),
        }))
    }

    /// Opens the audit log, sets up the endpoints and, when a webhook
    /// wants data events, the outbox in the default profile's bucket (its
    /// heartbeat is written before this returns).
    ///
    /// # Errors
    /// A message naming the key at fault.
    pub async fn start(
        cfg: &config::Events,
        storages: &Storages,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let audit = cfg
            .audit_log
            .as_deref()
            .map(audit::AuditLog::open)
            .transpose()?;
        let endpoints = cfg
            .webhooks
            .iter()
            .enumerate()
            .map(|(i, w)| Endpoint::new(i, w, metrics.clone()).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let outbox = if cfg.durable() {
            let o = outbox::Outbox::new(&cfg.outbox, storages)?;
            o.heartbeat().await.map_err(|e| {
                format!(
                    "events.outbox: cannot write the outbox in the default profile's bucket: {e}"
                )
            })?;
            Some(Arc::new(o))
        } else {
            None
        };
        let events = Self(Arc::new(Inner {
            audit,
            endpoints,
            outbox,
            metrics,
            stop: CancellationToken::new(),
        }));
        events.spawn_background();
        Ok(events)
    }

    fn spawn_background(&self) {
        let stop = self.0.stop.clone();
        if !self.0.endpoints.is_empty() {
            let this = self.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                while tokio::select! { _ = tick.tick() => true, () = stop.cancelled() => false } {
                    for e in &this.0.endpoints {
                        e.measure();
                    }
                }
            });
        }
        if let Some(outbox) = &self.0.outbox {
            tokio::spawn(outbox.clone().run(self.clone(), stop));
        }
    }

    /// The storages recovery asks (after a reload).
    pub fn set_storages(&self, storages: &Storages) {
        if let Some(o) = &self.0.outbox {
            o.set_storages(storages);
        }
    }

    /// SIGHUP: reopens the audit log file.
    pub fn reopen(&self) {
        if let Some(a) = &self.0.audit {
            a.reopen();
        }
    }

    /// Stops deliveries and the outbox's heartbeat, and removes the
    /// heartbeat so that other gateways take over what is left at once.
    pub async fn stop(&self) {
        self.0.stop.cancel();
        if let Some(o) = &self.0.outbox {
            o.retire().await;
        }
    }

    /// Whether anything listens for events of `kind`.
    #[must_use]
    pub fn wanted(&self, kind: &str) -> bool {
        self.0.audit.is_some() || self.0.endpoints.iter().any(|e| e.wants(kind))
    }

    /// Whether events of `kind` go through the outbox.
    fn durable(&self, kind: &str) -> bool {
        self.0.outbox.is_some()
            && config::DATA_EVENTS.contains(&kind)
            && self.0.endpoints.iter().any(|e| e.wants(kind))
    }

    /// Writes the intent of a data event and waits for it.
    ///
    /// # Errors
    /// The outbox could not be written: the change must not be made.
    pub async fn intent(&self, ev: &Event) -> Result<Intent, String> {
        let mut intent = self.intent_beside(ev);
        if let Some(tag) = intent.tag.take()
            && let Err(e) = tag.before.await
        {
            // Not written: nothing to deliver, nothing left in the backlog.
            self.cancel(intent);
            return Err(e);
        }
        Ok(intent)
    }

    /// Starts writing the intent of a data event; the change waits for
    /// [`Intent::tag`] before it commits (an upload, while its bytes arrive).
    pub fn intent_beside(&self, ev: &Event) -> Intent {
        let Some(outbox) = self.0.outbox.as_ref().filter(|_| self.durable(&ev.kind)) else {
            return Intent::default();
        };
        match outbox.begin(ev) {
            Some((entry, before)) => Intent {
                entry: Some(entry),
                dropped: false,
                tag: Some(Tag {
                    id: ev.id.as_str().into(),
                    before,
                }),
            },
            None => Intent {
                entry: None,
                dropped: true,
                tag: None,
            },
        }
    }

    /// The change happened: the event goes to the audit log and to the
    /// webhooks that want it.
    pub fn done(&self, ev: &Event, intent: Intent) {
        self.0
            .metrics
            .events
            .emitted
            .with_label_values(&[&ev.kind])
            .inc();
        let json = ev.to_json();
        if let Some(a) = &self.0.audit {
            a.write(&json);
        }
        if intent.dropped {
            self.0
                .metrics
                .events
                .dropped
                .with_label_values(&["-", "backlog_full"])
                .inc();
            tracing::warn!(event = %ev.id, kind = %ev.kind, "event outbox full (events.outbox.max_backlog): this event goes to the audit log only, not to webhooks");
            return;
        }
        self.deliver(ev, json, intent.entry);
    }

    /// Hands `ev` to every endpoint that wants it; a durable one's entry is
    /// removed when all accepted it.
    fn deliver(&self, ev: &Event, json: String, entry: Option<String>) {
        let wanting: Vec<_> = self
            .0
            .endpoints
            .iter()
            .filter(|e| e.wants(&ev.kind))
            .collect();
        let body = bytes::Bytes::from(json);
        let durable = entry.map(|name| {
            let outbox = self.0.outbox.clone();
            Countdown::new(wanting.len(), move || {
                if let Some(o) = outbox {
                    o.remove(name);
                }
            })
        });
        if wanting.is_empty()
            && let Some(c) = &durable
        {
            c.finish_now();
        }
        for e in wanting {
            e.send(
                Delivery {
                    id: ev.id.clone(),
                    body: body.clone(),
                    durable: durable.clone(),
                },
                &self.0.stop,
            );
        }
    }

    /// An event taken over from a stopped gateway (its entry, now this
    /// gateway's, is `entry`).
    fn redeliver(&self, ev: &Event, entry: String) {
        let json = ev.to_json();
        if let Some(a) = &self.0.audit {
            a.write(&json);
        }
        self.deliver(ev, json, Some(entry));
    }

    /// The change did not happen: its intent is removed.
    pub fn cancel(&self, intent: Intent) {
        if let (Some(o), Some(entry)) = (&self.0.outbox, intent.entry) {
            o.remove(entry);
        }
    }

    /// A best-effort event (login, download, a failed upload).
    pub fn emit(&self, ev: &Event) {
        if !self.wanted(&ev.kind) {
            return;
        }
        self.done(ev, Intent::default());
    }
}
