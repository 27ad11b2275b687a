//! The one mapping from any session-level error to an FTP reply (and whether to close).

use super::codec::CodecError;
use super::command::ParseError;
use super::path::PathError;
use super::reply::Reply;
use crate::storage::StorageError;

/// Everything a command handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    /// S3 or the data connection.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A path that cannot be a key.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A malformed command line.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The control connection itself.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A handler's own refusal, already phrased as a reply.
    #[error("{}", .0.to_wire().trim_end())]
    Reply(Reply),
}

/// Shorthand for a handler's refusal.
pub fn refuse(code: u16, text: impl Into<String>) -> FtpError {
    FtpError::Reply(Reply::new(code, text))
}

/// The reply for an error, and whether the session must close after it.
#[must_use]
pub fn reply_for(err: &FtpError) -> (Reply, bool) {
    match err {
        FtpError::Storage(e) => (
            match e {
                StorageError::NotFound => Reply::new(550, "No such file or directory"),
                StorageError::InvalidRange => {
                    Reply::new(554, "Invalid REST offset: past the end of the file")
                }
                StorageError::S3 { op, code, .. } => {
                    tracing::error!(error = %e, "storage error");
                    Reply::new(
                        451,
                        format!(
                            "Storage error ({op}{}); nothing was changed",
                            code.as_deref()
                                .map(|c| format!(": {c}"))
                                .unwrap_or_default()
                        ),
                    )
                }
                StorageError::KeyTooLong => Reply::new(553, format!("{e}; nothing was changed")),
                StorageError::Changed => Reply::new(
                    450,
                    "The file changed on the server during the operation; nothing was changed, try again",
                ),
                StorageError::Data(io) => Reply::new(
                    426,
                    format!("Data connection failed: {io}; transfer aborted"),
                ),
                StorageError::Aborted => Reply::new(426, "Transfer aborted"),
            },
            false,
        ),
        FtpError::Path(e @ (PathError::BadChar | PathError::TooLong)) => {
            (Reply::new(553, e.to_string()), false)
        }
        FtpError::Path(e @ PathError::IsRoot) => (Reply::new(550, e.to_string()), false),
        FtpError::Parse(e) => {
            let text = e.to_string();
            // Some parse errors carry their own code (522 for EPRT/EPSV families).
            match text
                .split_once(' ')
                .and_then(|(c, t)| Some((c.parse::<u16>().ok()?, t)))
            {
                Some((code, t)) if (500..600).contains(&code) => (Reply::new(code, t), false),
                _ => (Reply::new(e.code(), text), false),
            }
        }
        FtpError::Codec(CodecError::LineTooLong(n)) => (
            Reply::new(
                500,
                format!("Command line too long (limit {n} bytes); closing"),
            ),
            true,
        ),
        FtpError::Codec(CodecError::Io(_)) => {
            (Reply::new(421, "Control connection error; closing"), true)
        }
        FtpError::Reply(r) => (r.clone(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let code = |e: FtpError| reply_for(&e).0.code;
        assert_eq!(code(StorageError::NotFound.into()), 550);
        assert_eq!(code(StorageError::Aborted.into()), 426);
        assert_eq!(code(PathError::BadChar.into()), 553);
        assert_eq!(code(PathError::TooLong.into()), 553);
        assert_eq!(code(ParseError::MissingArg("RETR").into()), 501);
        assert_eq!(
            code(
                ParseError::Unsupported("522 Network protocol not supported, use (1)".into())
                    .into()
            ),
            522
        );
        assert_eq!(
            code(ParseError::Unsupported("only MODE S is implemented".into()).into()),
            504
        );
        let (r, close) = reply_for(&CodecError::LineTooLong(8192).into());
        assert_eq!((r.code, close), (500, true));
    }
}
