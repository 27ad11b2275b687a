//! The storage layer's one error type, and the one mapping from SDK errors.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// What can go wrong between the gateway and S3, or with the stream an
/// upload reads or a download writes.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No such key (or bucket).
    #[error("no such file")]
    NotFound,
    /// A range starts past the end of the object.
    #[error("invalid range")]
    InvalidRange,
    /// S3 answered with an error or could not be reached.
    #[error("S3 {op} failed: {message}")]
    S3 {
        /// The S3 operation.
        op: &'static str,
        /// S3's error code, when it sent one.
        code: Option<String>,
        /// Human-readable detail.
        message: String,
    },
    /// The object changed between two requests of one operation (S3 412).
    #[error("the file changed while the operation ran")]
    Changed,
    /// A file may not take the name: a folder (`name/…` keys) has it.
    #[error("a folder with that name exists")]
    IsFolder,
    /// The object is in an archive storage class (GLACIER, DEEP_ARCHIVE):
    /// it cannot be read or copied until it is restored (S3's
    /// `InvalidObjectState`).
    #[error(
        "the file is archived (GLACIER or DEEP_ARCHIVE storage class): restore it before reading, copying or appending to it"
    )]
    Archived,
    /// A file has the name, and the upload may not replace one (the
    /// account lacks `overwrite`).
    #[error("a file with that name exists")]
    Exists,
    /// The object would pass the room a quota leaves (see
    /// `UploadOptions::budget`): nothing was made.
    #[error("storage quota exceeded")]
    QuotaExceeded,
    /// A key would exceed S3's 1,024 bytes.
    #[error("the new name would make a key longer than S3's 1024 bytes")]
    KeyTooLong,
    /// The stream an upload reads or a download writes failed or stalled.
    #[error("stream: {0}")]
    Io(std::io::Error),
    /// The caller cancelled the operation, or its commit gate said no.
    #[error("cancelled")]
    Cancelled,
}

impl StorageError {
    /// Maps an SDK error: 404 / `NoSuchKey` → [`StorageError::NotFound`],
    /// 416 / `InvalidRange` → [`StorageError::InvalidRange`], the rest kept with context.
    pub fn from_sdk<E, R>(op: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        let status = err.raw_response().map(HasStatus::status);
        let code = err.code().map(str::to_owned);
        match (code.as_deref(), status) {
            (Some("NoSuchKey" | "NotFound" | "NoSuchBucket"), _) | (None, Some(404)) => {
                return Self::NotFound;
            }
            (Some("InvalidRange"), _) | (None, Some(416)) => return Self::InvalidRange,
            (Some("PreconditionFailed"), _) | (None, Some(412)) => return Self::Changed,
            (Some("InvalidObjectState"), _) => return Self::Archived,
            _ => {}
        }
        let message = format!("{}", DisplayErrorContext(&err));
        Self::S3 { op, code, message }
    }

    /// An S3 operation that failed without an S3 error code (a malformed
    /// answer, a request that could not be built, a task that died).
    pub fn failed(op: &'static str, message: impl Into<String>) -> Self {
        Self::S3 {
            op,
            code: None,
            message: message.into(),
        }
    }

    /// Whether the caller's side (its stream, its cancellation) caused this.
    #[must_use]
    pub fn is_client_side(&self) -> bool {
        matches!(self, Self::Io(_) | Self::Cancelled)
    }
}

impl Clone for StorageError {
    /// A copy; an I/O error keeps its kind and message.
    fn clone(&self) -> Self {
        match self {
            Self::NotFound => Self::NotFound,
            Self::InvalidRange => Self::InvalidRange,
            Self::S3 { op, code, message } => Self::S3 {
                op,
                code: code.clone(),
                message: message.clone(),
            },
            Self::Changed => Self::Changed,
            Self::IsFolder => Self::IsFolder,
            Self::Archived => Self::Archived,
            Self::Exists => Self::Exists,
            Self::QuotaExceeded => Self::QuotaExceeded,
            Self::KeyTooLong => Self::KeyTooLong,
            Self::Io(e) => Self::Io(std::io::Error::new(e.kind(), e.to_string())),
            Self::Cancelled => Self::Cancelled,
        }
    }
}

/// Access to the HTTP status of a raw response.
pub trait HasStatus {
    /// The status code.
    fn status(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}
