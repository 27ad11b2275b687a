//! The operator endpoint on `metrics.listen`: `/metrics` (Prometheus text),
//! `/healthz` (the process answers) and `/readyz` (S3 answered the last
//! bucket probe and the gateway is not draining).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::observe::Metrics;
use crate::storage::Storage;

/// How often the bucket is probed for `/readyz`.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// How long a probe may take: a frozen S3 (accepting connections, never
/// answering) turns `/readyz` 503 within `PROBE_INTERVAL + PROBE_TIMEOUT`.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Readiness: S3 reachable at the last probe, and not draining.
#[derive(Debug)]
pub struct Readiness {
    s3_ok: AtomicBool,
    draining: AtomicBool,
}

impl Default for Readiness {
    /// Ready: the gateway starts only after its bucket answered.
    fn default() -> Self {
        Self {
            s3_ok: AtomicBool::new(true),
            draining: AtomicBool::new(false),
        }
    }
}

impl Readiness {
    /// Whether a load balancer should send new sessions here.
    #[must_use]
    pub fn ready(&self) -> bool {
        self.s3_ok.load(Ordering::Relaxed) && !self.draining.load(Ordering::Relaxed)
    }

    /// Marks the start of a graceful shutdown: `/readyz` answers 503 from now on.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Probes the bucket every [`PROBE_INTERVAL`] until `stop`.
    pub async fn probe(self: Arc<Self>, storage: Storage, stop: CancellationToken) {
        loop {
            let ok = tokio::select! {
                () = stop.cancelled() => return,
                r = tokio::time::timeout(PROBE_TIMEOUT, storage.check_bucket()) => matches!(r, Ok(Ok(()))),
            };
            if ok != self.s3_ok.swap(ok, Ordering::Relaxed) {
                if ok {
                    tracing::info!("S3 bucket reachable: ready");
                } else {
                    tracing::warn!("S3 bucket unreachable: not ready");
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(PROBE_INTERVAL) => {}
            }
        }
    }
}

/// How many client addresses have been banned so far (kept by the FTP side).
pub type BanCount = Arc<dyn Fn() -> u64 + Send + Sync>;

/// What the endpoint reads: the metrics, readiness and the ban count.
#[derive(Clone)]
pub struct HttpState {
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    bans_total: BanCount,
}

fn text(status: StatusCode, body: impl Into<Bytes>, content_type: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("valid response")
}

impl HttpState {
    fn answer(&self, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        const PLAIN: &str = "text/plain; charset=utf-8";
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n", PLAIN);
        }
        match req.uri().path() {
            "/metrics" => text(
                StatusCode::OK,
                self.metrics.render((self.bans_total)()),
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            "/healthz" => text(StatusCode::OK, "ok\n", PLAIN),
            "/readyz" if self.readiness.ready() => text(StatusCode::OK, "ready\n", PLAIN),
            "/readyz" => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: S3 unreachable or shutting down\n",
                PLAIN,
            ),
            _ => text(
                StatusCode::NOT_FOUND,
                "try /metrics, /healthz or /readyz\n",
                PLAIN,
            ),
        }
    }

    /// Serves on `listener` until `stop`.
    pub async fn serve(self, listener: TcpListener, stop: CancellationToken) {
        loop {
            let (stream, _) = tokio::select! {
                () = stop.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics endpoint accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let this = self.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let resp = this.answer(&req);
                    async move { Ok::<_, Infallible>(resp) }
                });
                let conn = ConnBuilder::new(TokioExecutor::new());
                let fut = conn.serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = tokio::time::timeout(Duration::from_secs(30), fut) => {}
                }
            });
        }
    }
}

/// Serves the endpoint on `listener` and probes the bucket, until `stop`.
pub fn spawn(
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    storage: Storage,
    bans_total: BanCount,
    listener: TcpListener,
    stop: &CancellationToken,
) {
    let addr = listener.local_addr().ok();
    tokio::spawn(readiness.clone().probe(storage, stop.clone()));
    let endpoint = HttpState {
        metrics,
        readiness,
        bans_total,
    };
    tokio::spawn(endpoint.serve(listener, stop.clone()));
    tracing::info!(
        ?addr,
        "metrics and health endpoint listening (/metrics, /healthz, /readyz)"
    );
}
