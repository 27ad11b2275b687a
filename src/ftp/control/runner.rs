//! The transfer runner: a transfer runs while the control connection is
//! read — ABOR cancels it, STAT tells how far it got, NOOP is answered, a
//! closed control connection cancels it and ends the session, other
//! commands wait — and an upload's commit gate is answered by checking the
//! control connection explicitly.

use std::future::Future;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::{Control, Done};
use crate::ftp::command::Command;
use crate::ftp::error::FtpError;
use crate::ftp::reply::{Code, Reply};
use crate::storage::{Ask, CommitQuestion, StorageError};

/// What the control connection said while a transfer ran.
#[derive(Debug)]
struct Watch {
    /// ABOR arrived.
    aborted: bool,
    /// Not at end of file or reset.
    control_open: bool,
}

impl Control {
    /// Runs a transfer while reading the control connection: ABOR cancels it
    /// (426 then, from the caller, 226); a closed control connection cancels
    /// it and ends the session; other commands wait until it is done. When
    /// an upload asks through `question` whether it may commit, the control
    /// connection is checked explicitly (see [`Control::client_present`]).
    /// A transfer whose client left is never reported complete.
    pub(in crate::ftp) async fn run_transfer<F, T>(
        &mut self,
        cancel: CancellationToken,
        fut: F,
        mut question: Option<CommitQuestion>,
    ) -> Result<Done<T>, FtpError>
    where
        F: Future<Output = Result<T, StorageError>>,
    {
        enum Event<T> {
            Finished(Result<T, StorageError>),
            Asked(Option<Ask>),
            Line(Option<Result<Bytes, FtpError>>),
        }
        tokio::pin!(fut);
        let mut watch = Watch {
            aborted: false,
            control_open: true,
        };
        let result = loop {
            let event = tokio::select! {
                r = &mut fut => Event::Finished(r),
                a = async { question.as_mut().expect("guarded").asked().await }, if question.is_some() => Event::Asked(a),
                line = self.next(), if watch.control_open => Event::Line(line.map(|l| l.map_err(FtpError::from))),
            };
            match event {
                Event::Finished(r) => break r,
                Event::Asked(ask) => {
                    question = None;
                    if let Some(ask) = ask {
                        let yes = if ask.empty_but_needs_bytes() {
                            tracing::info!(
                                "empty upload right after a refused resume: not committed"
                            );
                            false
                        } else {
                            let grace = if ask.proven_end() {
                                std::time::Duration::ZERO
                            } else {
                                self.commit_grace
                            };
                            self.client_present(&mut watch, &cancel, grace).await
                        };
                        ask.answer(yes);
                    }
                }
                Event::Line(line) => {
                    self.control_during_transfer(line, &mut watch, &cancel)
                        .await
                }
            }
        };
        if watch.aborted {
            if let Err(e) = &result {
                tracing::info!(error = %e, "transfer aborted by ABOR");
            }
            self.reply(Reply::new(
                Code::TransferAborted,
                "Connection closed; transfer aborted",
            ))
            .await;
            return Ok(Done::Aborted);
        }
        let n = result?;
        if !watch.control_open {
            return Err(StorageError::Cancelled.into());
        }
        Ok(Done::Complete(n))
    }

    /// One event on the control connection while a transfer runs.
    async fn control_during_transfer(
        &mut self,
        line: Option<Result<Bytes, FtpError>>,
        watch: &mut Watch,
        cancel: &CancellationToken,
    ) {
        match line {
            Some(Ok(l)) => match Command::parse(&l) {
                Ok(Command::Abor) => {
                    watch.aborted = true;
                    cancel.cancel();
                }
                Ok(Command::Noop) => {
                    self.reply(Reply::new(Code::Ok, "Transfer in progress"))
                        .await
                }
                Ok(Command::Stat(None)) => {
                    // RFC 959: STAT during a transfer tells how it is going.
                    let n = self.moved.load(std::sync::atomic::Ordering::Relaxed);
                    let text = format!("Transfer in progress: {n} bytes so far");
                    self.reply(Reply::new(Code::FileStatus, text)).await;
                }
                _ => self.pending.push_back(l),
            },
            _ => {
                tracing::info!("control connection lost during transfer; aborting it");
                watch.control_open = false;
                self.closing = true;
                cancel.cancel();
            }
        }
    }

    /// Whether the client is still there to be told that its upload is
    /// complete: the control connection is open and not at end of file.
    /// A dying client's kernel closes the data and control connections
    /// together, in either order, so a quiet control connection is given
    /// `grace` (`uploads.commit_grace`) for its FIN to arrive; a command
    /// arriving meanwhile proves the client is alive (ABOR still aborts).
    /// A TLS upload that ended with close_notify under `tls.strict_eof`
    /// needs no grace: the control connection is only checked as it is.
    async fn client_present(
        &mut self,
        watch: &mut Watch,
        cancel: &CancellationToken,
        grace: std::time::Duration,
    ) -> bool {
        if watch.aborted || !watch.control_open {
            return false;
        }
        match tokio::time::timeout(grace, self.next()).await {
            Err(_) => true,
            Ok(line) => {
                let line = line.map(|l| l.map_err(FtpError::from));
                self.control_during_transfer(line, watch, cancel).await;
                !watch.aborted && watch.control_open
            }
        }
    }
}
