//! The commit gate: the last question an upload asks before it makes the
//! object visible.
//!
//! A client process that dies mid-upload has its data connection closed by
//! its kernel with an ordinary FIN, exactly like a completed upload. Only the
//! control connection tells the two apart: a client that completed is still
//! there, waiting for the reply. So once the last byte is in, and before the
//! commit request (PutObject or CompleteMultipartUpload), the upload asks
//! whoever runs the transfer whether the client is still there, and commits
//! only on a yes. Storage knows nothing of FTP: it only waits for the answer.
//!
//! The gate also carries the upload's [`FolderCheck`]: the other thing that
//! must be settled before the object is made (its name is not a folder's).

use tokio::sync::oneshot;

use super::FolderCheck;

/// The upload's side: asks once, before committing.
#[derive(Debug)]
pub struct CommitGate {
    ask: Option<oneshot::Sender<Ask>>,
    check: FolderCheck,
}

/// The transfer runner's side: receives the question and answers it.
#[derive(Debug)]
pub struct CommitQuestion {
    rx: oneshot::Receiver<Ask>,
    needs_bytes: bool,
}

/// One question: may the upload that received `received` bytes commit?
#[derive(Debug)]
pub struct Ask {
    received: u64,
    needs_bytes: bool,
    /// The stream's own end proved the client finished (TLS close_notify
    /// under `tls.strict_eof`): no grace is needed to tell.
    proven_end: bool,
    answer: oneshot::Sender<bool>,
}

impl CommitGate {
    /// A gate and the question it will ask.
    #[must_use]
    pub fn new() -> (Self, CommitQuestion) {
        let (tx, rx) = oneshot::channel();
        let question = CommitQuestion {
            rx,
            needs_bytes: false,
        };
        let gate = Self {
            ask: Some(tx),
            check: FolderCheck::none(),
        };
        (gate, question)
    }

    /// The same gate, with the folder check the upload must also pass.
    #[must_use]
    pub fn checking(self, check: FolderCheck) -> Self {
        Self { check, ..self }
    }

    /// Hands the folder check over to the upload that waits for it.
    pub(super) fn take_check(&mut self) -> FolderCheck {
        std::mem::take(&mut self.check)
    }

    /// A gate that always says yes: for uploads with no client to ask
    /// (tools, tests, server-side copies).
    #[must_use]
    pub fn open() -> Self {
        Self {
            ask: None,
            check: FolderCheck::none(),
        }
    }

    /// Whether the upload, which received `received` bytes from its
    /// client, may be committed; `proven_end`: its stream ended with the
    /// client's own "finished" (TLS close_notify). A runner that went away
    /// without answering means no.
    pub async fn confirm(&mut self, received: u64, proven_end: bool) -> bool {
        let Some(ask) = self.ask.take() else {
            return true;
        };
        let (tx, rx) = oneshot::channel();
        let question = Ask {
            received,
            needs_bytes: false,
            proven_end,
            answer: tx,
        };
        if ask.send(question).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

impl CommitQuestion {
    /// The same question, for an upload that must not commit empty (a
    /// client that meets a refused resume may answer with an empty upload
    /// at once: that must not replace the previous version with nothing).
    #[must_use]
    pub fn needing_bytes(self, needs_bytes: bool) -> Self {
        Self {
            needs_bytes,
            ..self
        }
    }

    /// Waits for the upload to ask; `None` when it ended without asking.
    pub async fn asked(&mut self) -> Option<Ask> {
        let mut ask = (&mut self.rx).await.ok()?;
        ask.needs_bytes = self.needs_bytes;
        Some(ask)
    }
}

impl Ask {
    /// Whether the upload is empty although it must not be: the answer is
    /// no whatever else holds.
    #[must_use]
    pub fn empty_but_needs_bytes(&self) -> bool {
        self.needs_bytes && self.received == 0
    }

    /// Whether the stream's end already proved the client finished.
    #[must_use]
    pub fn proven_end(&self) -> bool {
        self.proven_end
    }

    /// Answers (an upload that stopped waiting does not mind).
    pub fn answer(self, yes: bool) {
        let _ = self.answer.send(yes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_answer_decides() {
        for answer in [true, false] {
            let (mut gate, mut question) = CommitGate::new();
            let asker = tokio::spawn(async move { gate.confirm(3, false).await });
            question.asked().await.expect("asked").answer(answer);
            assert_eq!(asker.await.unwrap(), answer);
        }
    }

    #[tokio::test]
    async fn no_runner_means_no_and_open_means_yes() {
        let (mut gate, question) = CommitGate::new();
        drop(question);
        assert!(!gate.confirm(1, false).await);
        assert!(CommitGate::open().confirm(0, false).await);
        let (gate, mut question) = CommitGate::new();
        drop(gate);
        assert!(question.asked().await.is_none());
    }

    #[tokio::test]
    async fn an_empty_upload_is_marked_when_bytes_are_needed() {
        for (needs, received, empty) in [(true, 0, true), (true, 1, false), (false, 0, false)] {
            let (mut gate, question) = CommitGate::new();
            let mut question = question.needing_bytes(needs);
            let asker = tokio::spawn(async move { gate.confirm(received, false).await });
            let ask = question.asked().await.expect("asked");
            assert_eq!(ask.empty_but_needs_bytes(), empty);
            ask.answer(true);
            assert!(asker.await.unwrap());
        }
    }
}
