//! RETR, STOR, STOU: file transfers between the data connection and S3.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use tokio_util::either::Either;

use crate::ftp::ascii::{AsciiEncoder, AsciiReader};
use crate::ftp::command::TransferType;
use crate::ftp::context::{Outcome, UserCtx};
use crate::ftp::control::Done;
use crate::ftp::data::{self, DataStream};
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::reply::{Code, Reply};
use crate::namespace::{Op, VPath};
use crate::storage::{
    CommitGate, FolderCheck, ObjectBody, ObjectInfo, ResumeRefusal, Storage, StorageError,
    UploadOptions, upload,
};
use crate::xferlog::{Direction, Transfer};

/// Writes to the data connection, failing if the client stalls past `stall` or the transfer is cancelled.
pub(super) async fn write_data(
    out: &mut DataStream,
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
const WRITE_BATCH: usize = 256 * 1024;

/// Copies an S3 body to the data connection (CRLF line ends in ASCII mode).
async fn send_body(
    mut body: ObjectBody,
    mut out: DataStream,
    ascii: bool,
    stall: Duration,
    cancel: CancellationToken,
    moved: Arc<AtomicU64>,
) -> Result<u64, StorageError> {
    let mut encoder = ascii.then(AsciiEncoder::default);
    let mut pending = Vec::with_capacity(WRITE_BATCH);
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
        if pending.len() >= WRITE_BATCH {
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

/// How STOR-like commands treat an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorMode {
    /// STOR: replace it (or resume it after `REST n`).
    Replace,
    /// APPE: add to its end; create it when missing.
    Append,
    /// STOU: a new, unique name.
    Unique,
}

fn mode_name(t: TransferType) -> &'static str {
    match t {
        TransferType::Ascii => "ASCII",
        TransferType::Binary => "BINARY",
    }
}

/// Counts the transfer in the metrics and appends it to
/// `log.transfer_log` (xferlog), when configured.
fn record_transfer(
    u: &UserCtx<'_>,
    path: &VPath,
    direction: Direction,
    started: std::time::Instant,
    outcome: &Result<Done, FtpError>,
) {
    let (bytes, complete) = match outcome {
        Ok(Done::Complete(n)) => (*n, true),
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
            if storage.dir_exists(&ns.dir(&path, Op::List)?.key).await? =>
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
            Ok(Reply::new(Code::TransferComplete, "Transfer complete"))
        }
        Done::Aborted => Ok(Reply::new(Code::TransferComplete, "ABOR successful")),
    }
}

/// The existing object an upload continues: `REST n` + STOR where n is
/// its size, or APPE (a missing file is created).
async fn upload_base(
    u: &mut UserCtx<'_>,
    storage: &Storage,
    key: &str,
    path: &VPath,
    mode: StorMode,
    rest: Option<u64>,
) -> Result<Option<ObjectInfo>, FtpError> {
    let base = match (mode, rest) {
        (StorMode::Append, _) => storage.head(key).await?,
        (StorMode::Replace, Some(n)) if n > 0 => match storage.head(key).await? {
            Some(info) if info.size == n => Some(info),
            Some(info) => {
                return Err(refuse(
                    Code::NotTaken,
                    format!(
                        "REST {n} does not match the size of {path} ({} bytes): an upload resumes only at the end of the file; nothing was changed",
                        info.size
                    ),
                ));
            }
            None => {
                return Err(refuse(
                    Code::NotTaken,
                    format!(
                        "REST {n}: {path} does not exist, there is nothing to resume; nothing was changed"
                    ),
                ));
            }
        },
        _ => None,
    };
    let Some(info) = base else {
        return Ok(None);
    };
    if info.archived() {
        return Err(StorageError::Archived.into());
    }
    let Some(why) = storage.resume_refusal(key, &info).await? else {
        return Ok(Some(info));
    };
    let what = match rest {
        Some(n) if mode == StorMode::Replace => format!("REST {n}"),
        _ => "APPE".to_owned(),
    };
    let cause = match why {
        ResumeRefusal::FailedHere => "the last upload of it failed",
        ResumeRefusal::Interrupted => "an upload of it was interrupted",
    };
    tracing::info!(path = %path, reason = ?why, "resume refused: the file is not the interrupted upload");
    u.st.refused_resume = Some(key.to_owned());
    Err(refuse(
        Code::NotTaken,
        format!(
            "{what}: {path} is not your interrupted upload: {cause} and kept none of its bytes (the previous version is intact), so there is nothing to resume; send the whole file; nothing was changed"
        ),
    ))
}

/// STOR, APPE (and STOU's upload): the data connection to an object,
/// committed only when the client completed it.
pub(in crate::ftp) async fn stor(u: &mut UserCtx<'_>, arg: &str, mode: StorMode) -> Outcome {
    let ns = u.ns;
    let path = u.st.cwd.resolve(arg)?;
    let file = ns.file(&path, Op::Write)?;
    let (storage, key) = (file.storage.clone(), file.key);
    let rest = u.st.rest.take();
    // Answered while the bytes arrive (see storage::FolderCheck).
    let check = storage.folder_check(&key, ns.dir(&path, Op::Write)?.key);
    // A client that meets a refused resume may answer with an empty
    // STOR at once: never commit that (it would replace the previous
    // version with nothing).
    let after_refusal = u.st.refused_resume.take().is_some_and(|k| k == key);
    let base = upload_base(u, &storage, &key, &path, mode, rest).await?;
    let unique = mode == StorMode::Unique;
    let text = match (&base, mode) {
        (_, StorMode::Unique) => format!("FILE: {}", path.name()),
        (Some(b), _) => format!("Ok to send data; appending after byte {}", b.size),
        (None, _) => "Ok to send data".to_owned(),
    };
    let input = open_data(u, Reply::new(Code::OpeningData, text)).await?;
    let cancel = u.gw.abort.child_token();
    let strict = u.gw.config.tls.as_ref().is_some_and(|t| t.strict_eof);
    let opts = UploadOptions {
        keep_partial: u.gw.config.uploads.keep_partial,
        stall: u.gw.timeouts.data,
        strict_eof: matches!(input, Either::Right(_))
            && u.account.settings.strict_eof.unwrap_or(strict),
    };
    let ascii = u.st.ttype == TransferType::Ascii;
    let token = cancel.clone();
    let (gate, question) = CommitGate::new();
    let job = Receive {
        storage,
        key,
        base,
        opts,
        ascii,
        check,
        received: u.control.count_transfer(),
    };
    let fut = job.run(input, token, gate);
    let started = std::time::Instant::now();
    let question = question.needing_bytes(after_refusal);
    let outcome = u.control.run_transfer(cancel, fut, Some(question)).await;
    // The gate said no to an empty upload while the client stayed.
    let empty = matches!(outcome, Err(FtpError::Storage(StorageError::Cancelled)));
    if after_refusal && empty && !u.control.closing {
        return Err(refuse(
            Code::LocalError,
            format!(
                "Nothing arrived after the refused resume: {path} keeps its previous version; send the whole file"
            ),
        ));
    }
    record_transfer(u, &path, Direction::Incoming, started, &outcome);
    if matches!(outcome, Err(FtpError::Storage(StorageError::IsFolder))) {
        return Err(refuse(
            Code::NameNotAllowed,
            format!("{path}: a directory with that name exists; nothing was stored"),
        ));
    }
    match outcome? {
        Done::Complete(n) => {
            tracing::info!(path = %path, bytes = n, "upload complete");
            Ok(Reply::new(
                Code::TransferComplete,
                if unique {
                    format!("Transfer complete (unique file name: {})", path.name())
                } else {
                    "Transfer complete".to_owned()
                },
            ))
        }
        Done::Aborted => Ok(Reply::new(Code::TransferComplete, "ABOR successful")),
    }
}

/// STOU: STOR under a new, unique name.
pub(in crate::ftp) async fn stou(u: &mut UserCtx<'_>, base: Option<String>) -> Outcome {
    let ns = u.ns;
    let base = base.unwrap_or_else(|| "file".to_owned());
    for _ in 0..16 {
        let candidate = format!("{base}.{:08x}", rand::random::<u32>());
        let path = u.st.cwd.resolve(&candidate)?;
        let file = ns.file(&path, Op::Write)?;
        if file.storage.head(&file.key).await?.is_none() {
            return stor(u, &candidate, StorMode::Unique).await;
        }
    }
    Err(refuse(
        Code::NameNotAllowed,
        "Could not find a unique file name",
    ))
}

/// One upload from a data connection.
struct Receive {
    storage: crate::storage::Storage,
    key: String,
    base: Option<ObjectInfo>,
    opts: UploadOptions,
    /// TYPE A: CRLF becomes LF before the bytes reach storage.
    ascii: bool,
    /// Whether a folder has the name, asked when the STOR arrived.
    check: FolderCheck,
    /// Bytes read from the data connection so far (STAT reports them).
    received: Arc<AtomicU64>,
}

impl Receive {
    async fn run<S>(
        self,
        mut input: S,
        token: CancellationToken,
        gate: CommitGate,
    ) -> Result<u64, StorageError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let counted = data::Counted::new(&mut input, self.received);
        let mut reader = if self.ascii {
            Either::Right(AsciiReader::new(counted))
        } else {
            Either::Left(counted)
        };
        let result = upload(
            &self.storage,
            &self.key,
            &mut reader,
            self.base.as_ref(),
            self.opts,
            &token,
            gate.checking(self.check),
        )
        .await;
        drop(reader);
        // Under TLS this answers the client's close_notify (clients such as
        // Python's ftplib wait for it before reading 226).
        let _ = tokio::time::timeout(self.opts.stall, input.shutdown()).await;
        result
    }
}
