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

use tokio::sync::oneshot;

/// The upload's side: asks once, before committing.
#[derive(Debug)]
pub struct CommitGate(Option<oneshot::Sender<oneshot::Sender<bool>>>);

/// The transfer runner's side: receives the question and answers it.
#[derive(Debug)]
pub struct CommitQuestion(oneshot::Receiver<oneshot::Sender<bool>>);

impl CommitGate {
    /// A gate and the question it will ask.
    #[must_use]
    pub fn new() -> (Self, CommitQuestion) {
        let (tx, rx) = oneshot::channel();
        (Self(Some(tx)), CommitQuestion(rx))
    }

    /// A gate that always says yes: for uploads with no client to ask
    /// (tools, tests, server-side copies).
    #[must_use]
    pub fn open() -> Self {
        Self(None)
    }

    /// Whether the upload may be committed. A runner that went away without
    /// answering means no.
    pub async fn confirm(&mut self) -> bool {
        let Some(ask) = self.0.take() else {
            return true;
        };
        let (tx, rx) = oneshot::channel();
        if ask.send(tx).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

impl CommitQuestion {
    /// Waits for the upload to ask; `None` when it ended without asking.
    pub async fn asked(&mut self) -> Option<oneshot::Sender<bool>> {
        (&mut self.0).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_answer_decides() {
        for answer in [true, false] {
            let (mut gate, mut question) = CommitGate::new();
            let asker = tokio::spawn(async move { gate.confirm().await });
            question.asked().await.expect("asked").send(answer).unwrap();
            assert_eq!(asker.await.unwrap(), answer);
        }
    }

    #[tokio::test]
    async fn no_runner_means_no_and_open_means_yes() {
        let (mut gate, question) = CommitGate::new();
        drop(question);
        assert!(!gate.confirm().await);
        assert!(CommitGate::open().confirm().await);
        let (gate, mut question) = CommitGate::new();
        drop(gate);
        assert!(question.asked().await.is_none());
    }
}
