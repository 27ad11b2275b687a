//! RETR, STOR, STOU: file transfers between the data connection and S3.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::auth::Account;
use tokio_util::either::Either;

use crate::ftp::ascii::{AsciiEncoder, AsciiReader};
use crate::ftp::command::TransferType;
use crate::ftp::data::{self, DataStream};
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::path::VPath;
use crate::ftp::reply::{Code, Reply};
use crate::ftp::session::{Done, Outcome, Session};
use crate::storage::{
    CommitGate, FolderCheck, ObjectBody, ObjectInfo, ResumeRefusal, StorageError, UploadOptions,
    upload,
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
            pending.clear();
        }
    }
    write_data(&mut out, &pending, stall, &cancel).await?;
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

impl Session {
    /// Counts the transfer in the metrics and appends it to
    /// `log.transfer_log` (xferlog), when configured.
    fn record_transfer(
        &self,
        account: &Account,
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
        let m = &self.shared.metrics;
        m.transfers.with_label_values(&[dir, result]).inc();
        m.bytes.with_label_values(&[dir]).inc_by(bytes);
        m.transfer_seconds
            .with_label_values(&[dir])
            .observe(started.elapsed().as_secs_f64());
        let Some(log) = &self.shared.transfer_log else {
            return;
        };
        log.record(&Transfer {
            end: time::OffsetDateTime::now_utc(),
            elapsed: started.elapsed(),
            remote: self.peer.ip(),
            bytes,
            path: path.as_str(),
            ascii: self.ttype == TransferType::Ascii,
            direction,
            anonymous: crate::auth::is_anonymous_name(&account.name),
            user: &account.name,
            complete,
        });
    }

    /// Opens the data connection prepared by PASV/EPSV/PORT/EPRT, sends the
    /// preliminary reply (150), then secures it under `PROT P`. The TLS
    /// handshake comes after 150: clients may wait for it before starting.
    pub(super) async fn open_data(&mut self, preliminary: Reply) -> Result<DataStream, FtpError> {
        let plan = self
            .data
            .take()
            .ok_or_else(|| refuse(Code::CantOpenData, "Use PASV, EPSV, PORT or EPRT first"))?;
        self.check_data_protection()?;
        let wait = self.shared.timeouts.data;
        let tcp = data::open(plan, self.local.ip(), wait).await.map_err(|e| {
            refuse(
                Code::CantOpenData,
                format!("Cannot open data connection: {e}"),
            )
        })?;
        self.reply(preliminary).await;
        self.secure_data(tcp).await
    }

    pub(in crate::ftp) async fn cmd_retr(&mut self, arg: &str) -> Outcome {
        let account = self.account()?;
        let path = self.cwd.resolve(arg)?;
        let key = account.root.file_key(&path)?;
        let offset = self.rest.take().unwrap_or(0);
        let storage = self.storage()?.clone();
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
                if storage.dir_exists(&account.root.dir_prefix(&path)?).await? =>
            {
                return Err(refuse(
                    Code::FileUnavailable,
                    format!("{path}: not a plain file"),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let mode = mode_name(self.ttype);
        let text = format!(
            "Opening {mode} mode data connection for {} ({len} bytes)",
            path.name()
        );
        let out = self.open_data(Reply::new(Code::OpeningData, text)).await?;
        let cancel = self.shared.abort.child_token();
        let stall = self.shared.timeouts.data;
        let fut = send_body(
            body,
            out,
            self.ttype == TransferType::Ascii,
            stall,
            cancel.clone(),
        );
        let started = std::time::Instant::now();
        let outcome = self.run_transfer(cancel, fut, None).await;
        self.record_transfer(&account, &path, Direction::Outgoing, started, &outcome);
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
        &mut self,
        key: &str,
        path: &VPath,
        mode: StorMode,
        rest: Option<u64>,
    ) -> Result<Option<ObjectInfo>, FtpError> {
        let storage = self.storage()?;
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
        self.refused_resume = Some(key.to_owned());
        Err(refuse(
            Code::NotTaken,
            format!(
                "{what}: {path} is not your interrupted upload: {cause} and kept none of its bytes (the previous version is intact), so there is nothing to resume; send the whole file; nothing was changed"
            ),
        ))
    }

    pub(in crate::ftp) async fn cmd_stor(&mut self, arg: &str, mode: StorMode) -> Outcome {
        let account = self.writable_account()?;
        let path = self.cwd.resolve(arg)?;
        let key = account.root.file_key(&path)?;
        let rest = self.rest.take();
        let storage = self.storage()?.clone();
        // Answered while the bytes arrive (see storage::FolderCheck).
        let check = FolderCheck::start(&storage, account.root.dir_prefix(&path)?);
        // A client that meets a refused resume may answer with an empty
        // STOR at once: never commit that (it would replace the previous
        // version with nothing).
        let after_refusal = self.refused_resume.take().is_some_and(|k| k == key);
        let base = self.upload_base(&key, &path, mode, rest).await?;
        let unique = mode == StorMode::Unique;
        let text = match (&base, mode) {
            (_, StorMode::Unique) => format!("FILE: {}", path.name()),
            (Some(b), _) => format!("Ok to send data; appending after byte {}", b.size),
            (None, _) => "Ok to send data".to_owned(),
        };
        let input = self.open_data(Reply::new(Code::OpeningData, text)).await?;
        let cancel = self.shared.abort.child_token();
        let opts = UploadOptions {
            keep_partial: self.shared.config.uploads.keep_partial,
            stall: self.shared.timeouts.data,
        };
        let ascii = self.ttype == TransferType::Ascii;
        let token = cancel.clone();
        let (gate, question) = CommitGate::new();
        let job = Receive {
            storage,
            key,
            base,
            opts,
            ascii,
            check,
        };
        let fut = job.run(input, token, gate);
        let started = std::time::Instant::now();
        let question = question.needing_bytes(after_refusal);
        let outcome = self.run_transfer(cancel, fut, Some(question)).await;
        // The gate said no to an empty upload while the client stayed.
        let empty = matches!(outcome, Err(FtpError::Storage(StorageError::Cancelled)));
        if after_refusal && empty && !self.closing {
            return Err(refuse(
                Code::LocalError,
                format!(
                    "Nothing arrived after the refused resume: {path} keeps its previous version; send the whole file"
                ),
            ));
        }
        self.record_transfer(&account, &path, Direction::Incoming, started, &outcome);
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

    pub(in crate::ftp) async fn cmd_stou(&mut self, base: Option<String>) -> Outcome {
        let account = self.writable_account()?;
        let base = base.unwrap_or_else(|| "file".to_owned());
        let storage = self.storage()?.clone();
        for _ in 0..16 {
            let candidate = format!("{base}.{:08x}", rand::random::<u32>());
            let path = self.cwd.resolve(&candidate)?;
            if storage
                .head(&account.root.file_key(&path)?)
                .await?
                .is_none()
            {
                return self.cmd_stor(&candidate, StorMode::Unique).await;
            }
        }
        Err(refuse(
            Code::NameNotAllowed,
            "Could not find a unique file name",
        ))
    }
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
        let mut reader = if self.ascii {
            Either::Right(AsciiReader::new(&mut input))
        } else {
            Either::Left(&mut input)
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
