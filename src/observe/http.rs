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

/// Asks whether the default storage profile's bucket answers (the server
/// builds it from the storage layer; the endpoint only calls it).
pub type BucketProbe = Arc<dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync>;

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
    pub async fn probe(self: Arc<Self>, bucket: BucketProbe, stop: CancellationToken) {
        loop {
            let ok = tokio::select! {
                () = stop.cancelled() => return,
                r = tokio::time::timeout(PROBE_TIMEOUT, bucket()) => r.unwrap_or(false),
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
            "/metrics" => {
                self.metrics.ready.set(i64::from(self.readiness.ready()));
                text(
                    StatusCode::OK,
                    self.metrics.render((self.bans_total)()),
                    "text/plain; version=0.0.4; charset=utf-8",
                )
            }
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
    bucket: BucketProbe,
    bans_total: BanCount,
    listener: TcpListener,
    stop: &CancellationToken,
) {
    let addr = listener.local_addr().ok();
    tokio::spawn(readiness.clone().probe(bucket, stop.clone()));
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

/// `s3ftpd healthcheck`: asks this endpoint on `addr` for `path`
/// (`/healthz` or `/readyz`) and says whether it answered 200 — what an
/// image with no shell and no curl runs as its `HEALTHCHECK`. An
/// unspecified address (`0.0.0.0`, `::`) is asked on loopback.
///
/// # Errors
/// What went wrong: no connection, no answer in `wait`, or another status.
pub fn check(addr: std::net::SocketAddr, path: &str, wait: Duration) -> Result<(), String> {
    use std::io::{Read as _, Write as _};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let target = SocketAddr::new(ip, addr.port());
    let mut stream = std::net::TcpStream::connect_timeout(&target, wait)
        .map_err(|e| format!("cannot connect to {target}: {e}"))?;
    stream
        .set_read_timeout(Some(wait))
        .and_then(|()| stream.set_write_timeout(Some(wait)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("cannot ask {target}: {e}"))?;
    let mut head = [0u8; 64];
    let n = stream
        .read(&mut head)
        .map_err(|e| format!("no answer from {target}: {e}"))?;
    let status = String::from_utf8_lossy(&head[..n]);
    let line = status.lines().next().unwrap_or_default();
    if line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!("{target}{path} answered {line:?}"))
    }
}
