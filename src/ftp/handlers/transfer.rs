//! RETR, and what every transfer uses: the data connection opened after
//! the 150, writes to it, the transfer's metrics and xferlog line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::ftp::ascii::AsciiEncoder;
use crate::ftp::bandwidth::Limited;
use crate::ftp::command::TransferType;
use crate::ftp::context::{Outcome, UserCtx};
use crate::ftp::control::Done;
use crate::ftp::data::{self, DataStream};
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::reply::{Code, Reply};
use crate::namespace::{Op, VPath};
use crate::storage::{ObjectBody, StorageError};
use crate::xferlog::{Direction, Transfer};

/// Writes to the data connection, failing if the client stalls past `stall` or the transfer is cancelled.
pub(super) async fn write_data<W: AsyncWrite + Unpin>(
    out: &mut W,
    bytes: &[u8],
    stall: Duration,
    cancel: &CancellationToken,
) -> Result<(), StorageError> {
    tokio::select! {
        () = cancel.cancelled() => Err(StorageError::Cancelled),
        r = tokio::time::timeout(stall, out.write_all(bytes)) => match r {
            Err(_) => Err(StorageError::Io(std::io::ErrorKind::TimedOut.into())),
            Ok(r) => r.map_err(StorageError::Io),
        },
    }
}

/// Bytes gathered before one write to the data connection: S3 bodies arrive
/// in small frames, and one syscall per frame costs more than one copy.
/// Under a bandwidth limit, at most a second's worth (a write waits for
/// its tokens, and the stall deadline is for the client, not the limit).
const WRITE_BATCH: usize = 256 * 1024;

/// Copies an S3 body to the data connection (CRLF line ends in ASCII mode).
async fn send_body(
    mut body: ObjectBody,
    mut out: Limited<DataStream>,
    ascii: bool,
    stall: Duration,
    cancel: CancellationToken,
    moved: Arc<AtomicU64>,
) -> Result<u64, StorageError> {
    let mut encoder = ascii.then(AsciiEncoder::default);
    let batch = out.limits().per_second().map_or(WRITE_BATCH, |r| {
        usize::try_from(r)
            .unwrap_or(usize::MAX)
            .clamp(16 * 1024, WRITE_BATCH)
    });
    let mut pending = Vec::with_capacity(batch);
    let mut sent = 0u64;
    loop {
        let chunk = tokio::select! {
            () = cancel.cancelled() => return Err(StorageError::Cancelled),
            c = body.next_chunk() => c?,
        };
        let Some(chunk) = chunk else { break };
        match encoder.as_mut() {
            Some(enc) => enc.encode(&chunk, &mut pending),
            None => pending.extend_from_slice(&chunk),
        }
        sent += chunk.len() as u64;
        if pending.len() >= batch {
            write_data(&mut out, &pending, stall, &cancel).await?;
            moved.fetch_add(pending.len() as u64, Ordering::Relaxed);
            pending.clear();
        }
    }
    write_data(&mut out, &pending, stall, &cancel).await?;
    moved.fetch_add(pending.len() as u64, Ordering::Relaxed);
    out.shutdown().await.map_err(StorageError::Io)?;
    Ok(sent)
}

fn mode_name(t: TransferType) -> &'static str {
    match t {
        TransferType::Ascii => "ASCII",
        TransferType::Binary => "BINARY",
    }
}

/// Counts the transfer in the metrics and appends it to
/// `log.transfer_log` (xferlog), when configured.
pub(super) fn record_transfer<T: Moved>(
    u: &UserCtx<'_>,
    path: &VPath,
    direction: Direction,
    started: std::time::Instant,
    outcome: &Result<Done<T>, FtpError>,
) {
    let (bytes, complete) = match outcome {
        Ok(Done::Complete(n)) => (n.moved(), true),
        _ => (0, false),
    };
    let dir = match direction {
        Direction::Incoming => "in",
        Direction::Outgoing => "out",
    };
    let result = match outcome {
        Ok(Done::Complete(_)) => "complete",
        Ok(Done::Aborted) => "aborted",
        Err(_) => "failed",
    };
    let m = &u.gw.metrics;
    m.transfers.with_label_values(&[dir, result]).inc();
    m.bytes.with_label_values(&[dir]).inc_by(bytes);
    m.transfer_seconds
        .with_label_values(&[dir])
        .observe(started.elapsed().as_secs_f64());
    let Some(log) = &u.gw.transfer_log else {
        return;
    };
    log.record(&Transfer {
        end: time::OffsetDateTime::now_utc(),
        elapsed: started.elapsed(),
        remote: u.st.peer.ip(),
        bytes,
        path: path.as_str(),
        ascii: u.st.ttype == TransferType::Ascii,
        direction,
        anonymous: crate::auth::is_anonymous_name(&u.account.name),
        user: &u.account.name,
        complete,
    });
}

/// Opens the data connection prepared by PASV/EPSV/PORT/EPRT, sends the
/// preliminary reply (150), then secures it under `PROT P`. The TLS
/// handshake comes after 150: clients may wait for it before starting.
pub(super) async fn open_data(
    u: &mut UserCtx<'_>,
    preliminary: Reply,
) -> Result<DataStream, FtpError> {
    let plan =
        u.st.data
            .take()
            .ok_or_else(|| refuse(Code::CantOpenData, "Use PASV, EPSV, PORT or EPRT first"))?;
    super::tls::check_data_protection(u.gw, u.st)?;
    let wait = u.gw.timeouts.data;
    let tcp = data::open(plan, u.st.local.ip(), wait).await.map_err(|e| {
        refuse(
            Code::CantOpenData,
            format!("Cannot open data connection: {e}"),
        )
    })?;
    u.control.reply(preliminary).await;
    super::tls::secure_data(u, tcp).await
}

/// What a transfer's result says of the bytes it moved.
pub(super) trait Moved {
    /// File bytes moved.
    fn moved(&self) -> u64;
}

impl Moved for u64 {
    fn moved(&self) -> u64 {
        *self
    }
}

impl Moved for crate::storage::Uploaded {
    fn moved(&self) -> u64 {
        self.received
    }
}

/// RETR: an object (from `REST n` on) to the data connection.
pub(in crate::ftp) async fn retr(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let ns = u.ns;
    let path = u.st.cwd.resolve(arg)?;
    let file = ns.file(&path, Op::Read)?;
    let (storage, key) = (file.storage, file.key);
    let offset = u.st.rest.take().unwrap_or(0);
    let (body, len) = match storage.get(&key, offset).await {
        Ok(v) => v,
        Err(StorageError::InvalidRange) => match storage.head(&key).await? {
            // S3 refuses an empty range; restarting at the very end sends nothing.
            Some(info) if info.size == offset => (ObjectBody::empty(), 0),
            _ => {
                return Err(refuse(
                    Code::NotTaken,
                    format!("REST {offset} is past the end of {path}"),
                ));
            }
        },
        Err(StorageError::NotFound)
            if storage.dir_exists(&ns.dir(&path, Op::Lookup)?.key).await? =>
        {
            return Err(refuse(
                Code::FileUnavailable,
                format!("{path}: not a plain file"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mode = mode_name(u.st.ttype);
    let text = format!(
        "Opening {mode} mode data connection for {} ({len} bytes)",
        path.name()
    );
    let out = open_data(u, Reply::new(Code::OpeningData, text)).await?;
    let rate = u.account.settings.download_bandwidth.map(|r| r.0);
    let out = Limited::new(out, u.gw.bandwidth.limits(&u.account.name, false, rate));
    let cancel = u.gw.abort.child_token();
    let stall = u.gw.timeouts.data;
    let fut = send_body(
        body,
        out,
        u.st.ttype == TransferType::Ascii,
        stall,
        cancel.clone(),
        u.control.count_transfer(),
    );
    let started = std::time::Instant::now();
    let outcome = u.control.run_transfer(cancel, fut, None).await;
    record_transfer(u, &path, Direction::Outgoing, started, &outcome);
    match outcome? {
        Done::Complete(n) => {
            tracing::info!(path = %path, key, bytes = n, offset, "download complete");
            if u.gw.events.wanted("download") {
                let mut ev = super::tell::event(u, "download", &path, storage, &key);
                ev.data.size = Some(n);
                ev.data.duration_ms = Some(started.elapsed().as_millis() as u64);
                u.gw.events.emit(&ev);
            }
            Ok(Reply::new(Code::TransferComplete, "Transfer complete"))
        }
        Done::Aborted => Ok(Reply::new(Code::TransferComplete, "ABOR successful")),
    }
}
