//! The one mapping from any session-level error to an FTP reply (and whether to close).

use super::codec::CodecError;
use super::command::ParseError;
use super::reply::{Code, Reply};
use crate::namespace::{NsError, PathError};
use crate::storage::StorageError;

/// Everything a command handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    /// S3 or the data connection.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A path that cannot be a key, or an operation refused there.
    #[error(transparent)]
    Namespace(#[from] NsError),
    /// A malformed command line.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The control connection itself.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A handler's own refusal, already phrased as a reply.
    #[error("{}", .0.to_wire().trim_end())]
    Reply(Reply),
    /// A refusal after which the session ends (421, too many failed logins).
    #[error("{}", .0.to_wire().trim_end())]
    Closing(Reply),
}

impl From<PathError> for FtpError {
    fn from(e: PathError) -> Self {
        Self::Namespace(e.into())
    }
}

/// Shorthand for a handler's refusal.
pub fn refuse(code: Code, text: impl Into<String>) -> FtpError {
    FtpError::Reply(Reply::new(code, text))
}

/// A refusal that also ends the session once it is sent.
pub fn refuse_and_close(code: Code, text: impl Into<String>) -> FtpError {
    FtpError::Closing(Reply::new(code, text))
}

/// The reply for an error, and whether the session must close after it.
#[must_use]
pub fn reply_for(err: &FtpError) -> (Reply, bool) {
    match err {
        FtpError::Storage(e) => (
            match e {
                StorageError::NotFound => {
                    Reply::new(Code::FileUnavailable, "No such file or directory")
                }
                StorageError::InvalidRange => Reply::new(
                    Code::NotTaken,
                    "Invalid REST offset: past the end of the file",
                ),
                StorageError::S3 { op, code, .. } => {
                    tracing::error!(error = %e, "storage error");
                    Reply::new(
                        Code::LocalError,
                        format!(
                            "Storage error ({op}{}); nothing was changed",
                            code.as_deref()
                                .map(|c| format!(": {c}"))
                                .unwrap_or_default()
                        ),
                    )
                }
                StorageError::Archived => Reply::new(Code::FileUnavailable, e.to_string()),
                StorageError::Exists => Reply::new(
                    Code::FileUnavailable,
                    "A file with that name exists, and this account may not replace files (needs `overwrite`); nothing was changed",
                ),
                StorageError::QuotaExceeded => Reply::new(
                    Code::StorageExceeded,
                    "Storage quota exceeded; the upload was not stored (any previous version is intact)",
                ),
                StorageError::IsFolder => Reply::new(
                    Code::NameNotAllowed,
                    "A directory with that name exists; nothing was changed",
                ),
                StorageError::KeyTooLong => {
                    Reply::new(Code::NameNotAllowed, format!("{e}; nothing was changed"))
                }
                StorageError::Changed => Reply::new(
                    Code::FileBusy,
                    "The file changed on the server during the operation; nothing was changed, try again",
                ),
                StorageError::Io(io) => Reply::new(
                    Code::TransferAborted,
                    format!("Data connection failed: {io}; transfer aborted"),
                ),
                StorageError::Cancelled => Reply::new(Code::TransferAborted, "Transfer aborted"),
            },
            false,
        ),
        FtpError::Namespace(NsError::Path(e @ (PathError::BadChar | PathError::TooLong))) => {
            (Reply::new(Code::NameNotAllowed, e.to_string()), false)
        }
        FtpError::Namespace(e) => (Reply::new(Code::FileUnavailable, e.to_string()), false),
        FtpError::Parse(e) => (Reply::new(e.code(), e.to_string()), false),
        FtpError::Codec(CodecError::LineTooLong(n)) => (
            Reply::new(
                Code::SyntaxError,
                format!("Command line too long (limit {n} bytes); closing"),
            ),
            true,
        ),
        FtpError::Codec(CodecError::Io(_)) => (
            Reply::new(Code::NotAvailable, "Control connection error; closing"),
            true,
        ),
        FtpError::Reply(r) => (r.clone(), false),
        FtpError::Closing(r) => (r.clone(), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let code = |e: FtpError| reply_for(&e).0.code.number();
        assert_eq!(code(StorageError::NotFound.into()), 550);
        assert_eq!(code(StorageError::Cancelled.into()), 426);
        assert_eq!(code(PathError::BadChar.into()), 553);
        assert_eq!(code(PathError::TooLong.into()), 553);
        assert_eq!(code(ParseError::MissingArg("RETR").into()), 501);
        let (r, _) = reply_for(&ParseError::Family("1").into());
        assert_eq!(
            r.to_wire(),
            "522 Network protocol not supported, use (1)\r\n"
        );
        assert_eq!(
            code(ParseError::Unsupported("only MODE S is implemented".into()).into()),
            504
        );
        let (r, close) = reply_for(&CodecError::LineTooLong(8192).into());
        assert_eq!((r.code.number(), close), (500, true));
        let (r, close) = reply_for(&refuse_and_close(Code::NotAvailable, "bye"));
        assert_eq!((r.code.number(), close), (421, true));
        assert!(!reply_for(&refuse(Code::NotLoggedIn, "no")).1);
    }
}
