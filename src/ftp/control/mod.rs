//! The control connection: replies, the session's character set, the lines
//! that arrived while a transfer ran, and whether the session is closing;
//! and the transfer runner (`runner.rs`), which keeps reading it while a
//! transfer runs (ABOR, STAT, a vanished client, the commit gate).

mod runner;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::ftp::charset::Charset;
use crate::ftp::codec::{CodecError, ControlCodec};
use crate::ftp::reply::Reply;

/// The control connection: plain TCP, or TLS after `AUTH TLS` / on the implicit FTPS port.
pub type ControlStream =
    tokio_util::either::Either<TcpStream, tokio_rustls::server::TlsStream<TcpStream>>;

/// Longest control line accepted (RFC 959 has no limit; clients stay far below).
pub const MAX_LINE: usize = 8192;

/// How a transfer ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done<T = u64> {
    /// All bytes moved (count, or what the upload made).
    Complete(T),
    /// ABOR arrived; 426 was already sent.
    Aborted,
}

/// One control connection, owned by its session.
#[derive(Debug)]
pub struct Control {
    framed: Framed<ControlStream, ControlCodec>,
    /// Commands that arrived while a transfer ran, in order.
    pub(in crate::ftp) pending: VecDeque<Bytes>,
    /// The session ends after the current command (QUIT, a lost connection).
    pub(in crate::ftp) closing: bool,
    /// How long a quiet control connection is given to show it closed
    /// before an upload commits (`uploads.commit_grace`).
    pub(in crate::ftp) commit_grace: Duration,
    /// Bytes the current (or last) transfer moved: what STAT reports while it runs.
    pub(in crate::ftp) moved: Arc<AtomicU64>,
}

impl Control {
    /// Wraps a connection that speaks `charset`.
    pub(in crate::ftp) fn new(
        stream: ControlStream,
        charset: Charset,
        commit_grace: Duration,
    ) -> Self {
        let mut codec = ControlCodec::new(MAX_LINE);
        codec.charset = charset;
        Self {
            framed: Framed::new(stream, codec),
            pending: VecDeque::new(),
            closing: false,
            commit_grace,
            moved: Arc::default(),
        }
    }

    /// A new transfer's byte counter, which `STAT` during the transfer reports.
    pub(in crate::ftp) fn count_transfer(&mut self) -> Arc<AtomicU64> {
        self.moved = Arc::default();
        self.moved.clone()
    }

    /// The next line from the client (`None` at end of file).
    pub(in crate::ftp) async fn next(&mut self) -> Option<Result<Bytes, CodecError>> {
        self.framed.next().await
    }

    /// Sends a reply; a failed send ends the session.
    pub(in crate::ftp) async fn reply(&mut self, reply: Reply) {
        if let Err(e) = self.framed.send(&reply).await {
            tracing::debug!(error = %e, "cannot send reply");
            self.closing = true;
        }
    }

    /// Sends raw CRLF-terminated lines (the body of a multi-line reply streamed in pages).
    pub(in crate::ftp) async fn send_raw(&mut self, text: &str) {
        use tokio::io::AsyncWriteExt;
        let bytes = self.charset().encode(text).into_owned();
        if self.framed.get_mut().write_all(&bytes).await.is_err() {
            self.closing = true;
        }
    }

    /// The character set this session speaks (see [`crate::ftp::charset`]).
    pub(in crate::ftp) fn charset(&self) -> Charset {
        self.framed.codec().charset
    }

    /// Switches the session's character set (login, `OPTS UTF8`).
    pub(in crate::ftp) fn set_charset(&mut self, cs: Charset) {
        self.framed.codec_mut().charset = cs;
    }

    /// Whether the connection is TLS (after AUTH TLS, or implicit FTPS).
    pub(in crate::ftp) fn is_secure(&self) -> bool {
        matches!(self.framed.get_ref(), tokio_util::either::Either::Right(_))
    }

    /// The client certificate of a TLS control connection (verified by
    /// the handshake against `tls.client_ca`), if the client sent one.
    pub(in crate::ftp) fn client_cert(&self) -> Option<crate::auth::ClientCert> {
        let tokio_util::either::Either::Right(tls) = self.framed.get_ref() else {
            return None;
        };
        let end_entity = tls.get_ref().1.peer_certificates()?.first()?;
        crate::auth::ClientCert::from_der(end_entity)
    }

    /// Turns the connection into TLS after `234` was sent.
    pub(in crate::ftp) async fn start_tls(
        self,
        tls: &crate::tls::Ftps,
        wait: Duration,
    ) -> std::io::Result<Self> {
        let parts = self.framed.into_parts();
        if !parts.read_buf.is_empty() {
            return Err(std::io::Error::other(
                "the client sent data after AUTH TLS before the handshake",
            ));
        }
        let tokio_util::either::Either::Left(tcp) = parts.io else {
            return Err(std::io::Error::other("already TLS"));
        };
        let stream = tokio::time::timeout(wait, tls.acceptor().accept(tcp))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })??;
        let mut codec = ControlCodec::new(MAX_LINE);
        codec.charset = parts.codec.charset;
        Ok(Self {
            framed: Framed::new(tokio_util::either::Either::Right(stream), codec),
            ..self
        })
    }
}
