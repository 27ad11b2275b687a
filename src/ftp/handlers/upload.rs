//! STOR, APPE, STOU: uploads from the data connection to S3, with what
//! decides them before the 150 (the resume base, `overwrite`, the quota)
//! and what follows them (the reply, the quota's usage).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::io::AsyncWriteExt;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

use super::tell;
use super::transfer::{open_data, record_transfer};
use crate::events::{Event, Intent};
use crate::ftp::ascii::AsciiReader;
use crate::ftp::bandwidth::{Limited, Limits};
use crate::ftp::command::TransferType;
use crate::ftp::context::{Outcome, UserCtx};
use crate::ftp::control::Done;
use crate::ftp::data::{self, DataStream};
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::reply::{Code, Reply};
use crate::namespace::{NsError, Op, Perm, VPath};
use crate::storage::{
    CommitGate, FolderCheck, ObjectInfo, Replaced, ResumeRefusal, Storage, StorageError,
    UploadOptions, Uploaded, upload,
};
use crate::xferlog::Direction;

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

/// What an upload is asked to write, and where.
struct Target<'a> {
    storage: &'a Storage,
    key: &'a str,
    path: &'a VPath,
    mode: StorMode,
    /// The `REST` offset before it.
    rest: Option<u64>,
    /// The account may replace an existing file there.
    overwrite: bool,
}

/// The existing object an upload continues: `REST n` + STOR where n is
/// its size, or APPE (a missing file is created). Continuing one needs
/// `overwrite`.
async fn upload_base(u: &mut UserCtx<'_>, t: &Target<'_>) -> Result<Option<ObjectInfo>, FtpError> {
    let Target {
        storage,
        key,
        path,
        mode,
        rest,
        overwrite,
    } = *t;
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
    if !overwrite {
        return Err(NsError::Denied {
            path: path.clone(),
            perm: Perm::Overwrite,
        }
        .into());
    }
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

/// What an upload may do, decided before its 150.
struct Admitted {
    /// The object a resume or an append continues.
    base: Option<ObjectInfo>,
    /// The room a quota leaves.
    room: Option<super::quota::Room>,
    /// The name must be new (no `overwrite`).
    new_only: bool,
}

/// The resume base, the `overwrite` permission and the quota of an upload
/// to `path`. Where the name must be new and S3 would not refuse a write
/// over an existing one (Garage), the name is looked up before the 150: a
/// file created between the look and the commit is replaced all the same.
/// A quota's lookup of the object it replaces runs beside the upload.
async fn admit(u: &mut UserCtx<'_>, t: &Target<'_>) -> Result<Admitted, FtpError> {
    let base = upload_base(u, t).await?;
    let Target {
        storage,
        key,
        path,
        mode,
        overwrite,
        ..
    } = *t;
    let new_only = !overwrite && mode != StorMode::Unique;
    // What the upload replaces, when known before the 150.
    let known = match &base {
        Some(b) => Some(Some(b.size)),
        None if new_only && !storage.refuses_existing() => {
            Some(storage.head(key).await?.map(|i| i.size))
        }
        None => None,
    };
    if new_only && matches!(known, Some(Some(_))) {
        return Err(NsError::Denied {
            path: path.clone(),
            perm: Perm::Overwrite,
        }
        .into());
    }
    let replaced = || match known {
        Some(size) => Replaced::known(size),
        None => Replaced::look_up(storage, key),
    };
    let room = super::quota::room(u, path, replaced, base.is_some()).await?;
    Ok(Admitted {
        base,
        room,
        new_only,
    })
}

/// STOR, APPE (and STOU's upload): the data connection to an object,
/// committed only when the client completed it.
pub(in crate::ftp) async fn stor(u: &mut UserCtx<'_>, arg: &str, mode: StorMode) -> Outcome {
    let ns = u.ns;
    let path = u.st.cwd.resolve(arg)?;
    let file = ns.file(&path, Op::Write)?;
    let overwrite = file.overwrite;
    let (storage, key) = (file.storage.clone(), file.key);
    let rest = u.st.rest.take();
    // Answered while the bytes arrive (see storage::FolderCheck).
    let check = storage.folder_check(&key, ns.dir(&path, Op::Lookup)?.key);
    // A client that meets a refused resume may answer with an empty
    // STOR at once: never commit that (it would replace the previous
    // version with nothing).
    let after_refusal = u.st.refused_resume.take().is_some_and(|k| k == key);
    let Admitted {
        base,
        room,
        new_only,
    } = admit(
        u,
        &Target {
            storage: &storage,
            key: &key,
            path: &path,
            mode,
            rest,
            overwrite,
        },
    )
    .await?;
    let base_size = base.as_ref().map_or(0, |b| b.size);
    let unique = mode == StorMode::Unique;
    let text = match (&base, mode) {
        (_, StorMode::Unique) => format!("FILE: {}", path.name()),
        (Some(b), _) => format!("Ok to send data; appending after byte {}", b.size),
        (None, _) => "Ok to send data".to_owned(),
    };
    let (input, (ev, intent)) = open_with_event(u, &path, (&storage, &key), text).await?;
    let cancel = u.gw.abort.child_token();
    let strict = u.gw.config.tls.as_ref().is_some_and(|t| t.strict_eof);
    let opts = UploadOptions {
        keep_partial: u.gw.config.uploads.keep_partial,
        stall: u.gw.timeouts.data,
        strict_eof: matches!(input, Either::Right(_))
            && u.account.settings.strict_eof.unwrap_or(strict),
        new_only,
        budget: room.as_ref().map(|r| r.budget.clone()),
        tag: intent.tag(),
    };
    let ascii = u.st.ttype == TransferType::Ascii;
    let rate = u.account.settings.upload_bandwidth.map(|r| r.0);
    let limits = u.gw.bandwidth.limits(&u.account.name, true, rate);
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
        limits,
    };
    let fut = job.run(input, token, gate);
    let started = std::time::Instant::now();
    let question = question.needing_bytes(after_refusal);
    let outcome = u.control.run_transfer(cancel, fut, Some(question)).await;
    let done = Finished {
        path: &path,
        started,
        unique,
        after_refusal,
        room,
        base_size,
        event: (ev, intent),
    };
    finish(u, outcome, done).await
}

/// The upload's event and its intent — written while the data connection
/// opens and the bytes arrive; the commit waits for it (see
/// `storage::Tag`) —, then the data connection (150).
async fn open_with_event(
    u: &mut UserCtx<'_>,
    path: &VPath,
    (storage, key): (&Storage, &str),
    text: String,
) -> Result<(DataStream, (Event, Intent)), FtpError> {
    let ev = tell::event(u, "upload", path, storage, key);
    let intent = u.gw.events.intent_beside(&ev);
    match open_data(u, Reply::new(Code::OpeningData, text)).await {
        Ok(input) => Ok((input, (ev, intent))),
        Err(e) => {
            u.gw.events.cancel(intent);
            Err(e)
        }
    }
}

/// What [`finish`] needs to know of an upload.
struct Finished<'a> {
    path: &'a VPath,
    started: std::time::Instant,
    unique: bool,
    after_refusal: bool,
    room: Option<super::quota::Room>,
    base_size: u64,
    /// The upload's event and its intent.
    event: (Event, Intent),
}

/// The event of an upload that made an object (the intent removed when
/// it made none), or of one that failed.
fn tell_upload(u: &UserCtx<'_>, outcome: &Result<Done<Uploaded>, FtpError>, f: &mut Finished<'_>) {
    let (mut ev, intent) = std::mem::take(&mut f.event);
    let elapsed = f.started.elapsed().as_millis() as u64;
    match outcome {
        Ok(Done::Complete(Uploaded {
            received,
            written: Some(w),
        })) => {
            ev.data.size = Some(f.base_size + received);
            ev.set_etag(w.etag.as_deref());
            ev.data.version_id.clone_from(&w.version_id);
            ev.set_crc32c(w.crc32c, w.confirmed);
            ev.data.duration_ms = Some(elapsed);
            u.gw.events.done(&ev, intent);
        }
        Ok(Done::Complete(_)) => u.gw.events.cancel(intent),
        Ok(Done::Aborted) | Err(_) => {
            u.gw.events.cancel(intent);
            ev.kind = "upload_failed".into();
            ev.data.duration_ms = Some(elapsed);
            ev.data.reason = Some(match outcome {
                Err(FtpError::Storage(StorageError::Cancelled)) => {
                    "the client left before the upload completed".into()
                }
                Err(e) => e.to_string(),
                _ => "aborted by the client (ABOR)".into(),
            });
            u.gw.events.emit(&ev);
        }
    }
}

/// An upload's reply, its log and metrics, and what it did to its quota.
async fn finish(
    u: &mut UserCtx<'_>,
    outcome: Result<Done<Uploaded>, FtpError>,
    mut f: Finished<'_>,
) -> Outcome {
    tell_upload(u, &outcome, &mut f);
    let Finished {
        path,
        started,
        unique,
        after_refusal,
        room,
        base_size,
        ..
    } = f;
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
    record_transfer(u, path, Direction::Incoming, started, &outcome);
    if let (Some(room), Err(FtpError::Storage(e))) = (&room, &outcome)
        && e.is_client_side()
        && u.gw.config.uploads.keep_partial
    {
        room.kept_partial();
    }
    if matches!(outcome, Err(FtpError::Storage(StorageError::IsFolder))) {
        return Err(refuse(
            Code::NameNotAllowed,
            format!("{path}: a directory with that name exists; nothing was stored"),
        ));
    }
    match outcome? {
        Done::Complete(Uploaded { received: n, .. }) => {
            tracing::info!(path = %path, bytes = n, "upload complete");
            if let Some(room) = room {
                room.commit(base_size + n).await;
            }
            Ok(Reply::new(
                Code::TransferComplete,
                if unique {
                    format!("Transfer complete (unique file name: {})", path.name())
                } else {
                    "Transfer complete".to_owned()
                },
            ))
        }
        Done::Aborted => {
            if let Some(room) = room.filter(|_| u.gw.config.uploads.keep_partial) {
                room.kept_partial();
            }
            Ok(Reply::new(Code::TransferComplete, "ABOR successful"))
        }
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
            // Boxed: the upload's future is large, and this one holds it.
            return Box::pin(stor(u, &candidate, StorMode::Unique)).await;
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
    /// The bandwidth limits its reads draw from.
    limits: Limits,
}

impl Receive {
    async fn run<S>(
        self,
        input: S,
        token: CancellationToken,
        gate: CommitGate,
    ) -> Result<Uploaded, StorageError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let mut input = Limited::new(input, self.limits);
        let stall = self.opts.stall;
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
        let _ = tokio::time::timeout(stall, input.shutdown()).await;
        result
    }
}
