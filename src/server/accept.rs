//! Accepting control connections: PROXY protocol from trusted load
//! balancers, the global address lists, bans, session limits, then one
//! task per session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::ftp::admission::Places;
use crate::ftp::context::Shared;
use crate::ftp::data::canonical;
use crate::ftp::proxy::ProxyTrust;
use crate::ftp::reply::{Code, Reply};
use crate::ftp::session::Session;

async fn refuse_connection(mut stream: TcpStream, text: &str) {
    let line = Reply::new(Code::NotAvailable, text).to_wire();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(line.as_bytes())).await;
}

pub(super) async fn accept_loop(
    listener: TcpListener,
    implicit_tls: bool,
    shared: Arc<Shared>,
    proxy: ProxyTrust,
    places: Arc<Places>,
    tracker: TaskTracker,
) {
    loop {
        let (stream, peer) = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (shared, proxy, places) = (shared.clone(), proxy.clone(), places.clone());
        tracker.spawn(connection(
            stream,
            peer,
            implicit_tls,
            shared,
            proxy,
            places,
        ));
    }
}

/// One accepted control connection: the client's real address (PROXY
/// header from a trusted balancer), bans, limits, then the session.
async fn connection(
    mut stream: TcpStream,
    socket_peer: SocketAddr,
    implicit_tls: bool,
    shared: Arc<Shared>,
    proxy: ProxyTrust,
    places: Arc<Places>,
) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let mut peer = socket_peer;
    if proxy.trusts(socket_peer.ip()) {
        let wait = shared.timeouts.handshake;
        match crate::ftp::proxy::read_header(&mut stream, wait).await {
            Ok(Some(client)) => peer = client,
            Ok(None) => {}
            Err(e) => {
                return tracing::warn!(balancer = %socket_peer, error = %e, "connection from a trusted proxy without a valid PROXY header dropped");
            }
        }
    }
    if !shared.ip_rule.permits(peer.ip()) {
        tracing::warn!(%peer, "connection refused: the address is not allowed (limits.allow_from / deny_from)");
        return refuse_connection(stream, "Connections from your address are not allowed").await;
    }
    if shared
        .bans
        .is_banned(canonical(peer.ip()), std::time::Instant::now())
    {
        return refuse_connection(
            stream,
            "Too many failed logins from your address; try again later",
        )
        .await;
    }
    let admission = match places.admit(canonical(peer.ip())) {
        Ok(a) => a,
        Err(text) => {
            tracing::warn!(%peer, text, "connection refused");
            return refuse_connection(stream, text).await;
        }
    };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("session", id, %peer, user = tracing::field::Empty);
    async move {
        let _counted = shared.metrics.session_started();
        if peer == socket_peer {
            tracing::info!("connected");
        } else {
            tracing::info!(balancer = %socket_peer, "connected (PROXY protocol)");
        }
        let Ok(local) = stream.local_addr() else {
            return;
        };
        let _ = stream.set_nodelay(true);
        // Long commands (a directory rename) send nothing for a while:
        // TCP keep-alives keep NAT and firewall state for the control
        // connection, and notice a peer that vanished.
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(60))
            .with_interval(Duration::from_secs(15));
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
        let control = if implicit_tls {
            let Some(tls) = shared.tls.clone() else {
                return;
            };
            let wait = shared.timeouts.handshake;
            // Boxed, as the session's commands are: only while it runs.
            let handshake = Box::pin(tls.acceptor().accept(stream));
            match tokio::time::timeout(wait, handshake).await {
                Ok(Ok(s)) => tokio_util::either::Either::Right(s),
                Ok(Err(e)) if crate::tls::is_client_cert_error(&e) => {
                    return tracing::warn!(error = %e, "client certificate refused (tls.client_ca): implicit FTPS handshake failed");
                }
                Ok(Err(e)) => {
                    return tracing::warn!(error = %e, "implicit FTPS handshake failed");
                }
                Err(_) => return tracing::warn!("implicit FTPS handshake timed out"),
            }
        } else {
            tokio_util::either::Either::Left(stream)
        };
        Session::new(shared, control, peer, local, admission, id)
            .run()
            .await;
    }
    .instrument(span)
    .await;
}
