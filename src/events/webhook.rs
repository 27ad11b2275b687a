//! One webhook endpoint: signed POSTs, retried with exponential back-off
//! and jitter, never in the way of a transfer (each delivery is its own
//! task; at most [`IN_FLIGHT`] requests at once per endpoint).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::auth::tls_client::{HttpClient, error_chain, http_client};
use crate::config;
use crate::observe::Metrics;

/// Requests in flight at most per endpoint.
const IN_FLIGHT: usize = 8;
/// Best-effort deliveries (login, download, …) waiting at most per endpoint.
pub(super) const QUEUE: usize = 10_000;
/// Attempts of a best-effort delivery.
const BEST_EFFORT_ATTEMPTS: u32 = 5;
/// The first pause after a failed attempt.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// Bytes of an answer read at most (the rest is dropped).
const MAX_ANSWER: usize = 16 * 1024;

/// Runs `then` once, when every endpoint of a durable event accepted it.
pub(super) struct Countdown {
    remaining: AtomicUsize,
    then: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Countdown {
    pub(super) fn new(n: usize, then: impl FnOnce() + Send + 'static) -> Arc<Self> {
        Arc::new(Self {
            remaining: AtomicUsize::new(n),
            then: std::sync::Mutex::new(Some(Box::new(then))),
        })
    }

    /// Runs `then` now (no endpoint wants the event after all).
    pub(super) fn finish_now(&self) {
        if let Some(then) = self.then.lock().expect("countdown poisoned").take() {
            then();
        }
    }

    fn one_done(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(then) = self.then.lock().expect("countdown poisoned").take()
        {
            then();
        }
    }
}

/// One event on its way to one endpoint.
pub(super) struct Delivery {
    pub(super) id: String,
    pub(super) body: Bytes,
    /// Durable events: retried until accepted; the countdown of its
    /// outbox entry.
    pub(super) durable: Option<Arc<Countdown>>,
}

/// A configured endpoint.
pub(super) struct Endpoint {
    pub(super) name: String,
    cfg: config::Webhook,
    url: hyper::Uri,
    client: HttpClient,
    key: Vec<u8>,
    slots: Semaphore,
    /// Deliveries waiting, with when each was handed over.
    waiting: dashmap::DashMap<String, Instant>,
    best_effort: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl Endpoint {
    /// The endpoint of `events.webhooks[i]`.
    pub(super) fn new(
        i: usize,
        cfg: &config::Webhook,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let key = |k: &str| format!("events.webhooks[{i}].{k}");
        let url = cfg
            .url
            .parse()
            .map_err(|e| format!("{}: {e}", key("url")))?;
        let secret = match (&cfg.secret, &cfg.secret_file) {
            (Some(s), _) => s.expose().to_owned(),
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "{}: cannot read {}: {e}",
                    key("secret_file"),
                    path.display()
                )
            })?,
            (None, None) => return Err(format!("{}: is required", key("secret"))),
        };
        let secret_key = if cfg.secret.is_some() {
            "secret"
        } else {
            "secret_file"
        };
        let signing =
            config::check_secret(&secret).map_err(|m| format!("{}: {m}", key(secret_key)))?;
        let client = http_client(cfg.ca_file.as_deref(), cfg.timeout.0)
            .map_err(|e| format!("{}: {e}", key("ca_file")))?;
        Ok(Self {
            name: cfg.label(i),
            cfg: cfg.clone(),
            url,
            client,
            key: signing,
            slots: Semaphore::new(IN_FLIGHT),
            waiting: dashmap::DashMap::new(),
            best_effort: AtomicUsize::new(0),
            metrics,
        })
    }

    /// Whether it wants events of `kind`.
    pub(super) fn wants(&self, kind: &str) -> bool {
        self.cfg.wants(kind)
    }

    /// Hands a delivery over: it runs in its own task until accepted (a
    /// durable one) or given up (a best-effort one), or until `stop`.
    pub(super) fn send(self: &Arc<Self>, d: Delivery, stop: &CancellationToken) {
        if d.durable.is_none() {
            if self.best_effort.load(Ordering::Relaxed) >= QUEUE {
                self.metrics
                    .events
                    .dropped
                    .with_label_values(&[&self.name, "queue_full"])
                    .inc();
                tracing::warn!(endpoint = %self.name, event = %d.id, "webhook queue full: best-effort event dropped");
                return;
            }
            self.best_effort.fetch_add(1, Ordering::Relaxed);
        }
        self.waiting.insert(d.id.clone(), Instant::now());
        self.metrics
            .events
            .backlog
            .with_label_values(&[&self.name])
            .set(self.waiting.len() as i64);
        let this = self.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = this.deliver(&d) => {}
                () = stop.cancelled() => return,
            }
            this.waiting.remove(&d.id);
            if d.durable.is_none() {
                this.best_effort.fetch_sub(1, Ordering::Relaxed);
            }
            this.metrics
                .events
                .backlog
                .with_label_values(&[&this.name])
                .set(this.waiting.len() as i64);
        });
    }

    /// Tries until accepted (or, best effort, a few times).
    async fn deliver(&self, d: &Delivery) {
        let mut pause = FIRST_PAUSE;
        for attempt in 1.. {
            let result = {
                let _slot = self.slots.acquire().await;
                self.attempt(d).await
            };
            match result {
                Ok(()) => {
                    self.metrics
                        .events
                        .delivered
                        .with_label_values(&[&self.name])
                        .inc();
                    tracing::debug!(endpoint = %self.name, event = %d.id, attempt, "event delivered");
                    if let Some(c) = &d.durable {
                        c.one_done();
                    }
                    return;
                }
                Err(why) if d.durable.is_none() && attempt >= BEST_EFFORT_ATTEMPTS => {
                    self.metrics
                        .events
                        .dropped
                        .with_label_values(&[&self.name, "gave_up"])
                        .inc();
                    tracing::warn!(endpoint = %self.name, event = %d.id, attempt, error = %why, "webhook delivery failed; best-effort event dropped");
                    return;
                }
                Err(why) => {
                    self.metrics
                        .events
                        .retried
                        .with_label_values(&[&self.name])
                        .inc();
                    // Jitter: between half and all of the pause.
                    let wait = pause.mul_f64(0.5 + rand::random::<f64>() / 2.0);
                    tracing::warn!(endpoint = %self.name, event = %d.id, attempt, error = %why, retry_in_ms = wait.as_millis() as u64, "webhook delivery failed; retrying");
                    tokio::time::sleep(wait).await;
                    pause = (pause * 2).min(self.cfg.retry_max.0);
                }
            }
        }
    }

    /// One signed POST; `Ok` on a 2xx within the timeout.
    async fn attempt(&self, d: &Delivery) -> Result<(), String> {
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        let request = hyper::Request::post(self.url.clone())
            .header("content-type", "application/json")
            .header("user-agent", concat!("s3ftpd/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", ts.to_string())
            .header(
                "webhook-signature",
                super::sign::signature(&self.key, &d.id, ts, &d.body),
            )
            .body(Full::new(d.body.clone()))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let answer = self
                .client
                .request(request)
                .await
                .map_err(|e| error_chain(&e))?;
            let status = answer.status();
            // Read (a bounded part of) the answer so the connection is reused.
            let _ = http_body_util::Limited::new(answer.into_body(), MAX_ANSWER)
                .collect()
                .await;
            Ok::<_, String>(status)
        };
        match tokio::time::timeout(self.cfg.timeout.0, exchange).await {
            Err(_) => Err(format!("no answer within {:?}", self.cfg.timeout.0)),
            Ok(Err(e)) => Err(e),
            Ok(Ok(s)) if s.is_success() => Ok(()),
            Ok(Ok(s)) => Err(format!("answered {s}")),
        }
    }

    /// Sets the age of the oldest waiting delivery.
    pub(super) fn measure(&self) {
        let oldest = self.waiting.iter().map(|e| *e.value()).min();
        let age = oldest.map_or(0, |t| t.elapsed().as_secs());
        self.metrics
            .events
            .backlog_age
            .with_label_values(&[&self.name])
            .set(i64::try_from(age).unwrap_or(i64::MAX));
    }
}
