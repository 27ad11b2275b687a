//! A command's answer: its reply and what the session does next. Handlers
//! return a reply or an error; the dispatch turns either into an [`Answer`]
//! (errors through [`reply_for`], the one mapping), and only the session
//! loop acts on [`Then`].

use crate::ftp::error::{FtpError, reply_for};
use crate::ftp::reply::Reply;

/// What the session does once a command's reply is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Read the next command.
    Continue,
    /// Close the control connection (QUIT, a refusal that ends the session).
    Close,
    /// Hand the control connection to a TLS handshake (`AUTH TLS`).
    StartTls,
}

/// A command's answer: its reply, and what the session does after sending it.
#[derive(Debug)]
pub struct Answer {
    /// The reply.
    pub reply: Reply,
    /// What follows it.
    pub then: Then,
}

impl Answer {
    /// The reply, then the session ends.
    #[must_use]
    pub fn close(reply: Reply) -> Self {
        Self {
            reply,
            then: Then::Close,
        }
    }

    /// The reply, then the TLS handshake.
    #[must_use]
    pub fn start_tls(reply: Reply) -> Self {
        Self {
            reply,
            then: Then::StartTls,
        }
    }
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Self {
            reply,
            then: Then::Continue,
        }
    }
}

impl From<FtpError> for Answer {
    /// The one place an error becomes a reply (see [`reply_for`]).
    fn from(e: FtpError) -> Self {
        let (reply, close) = reply_for(&e);
        Self {
            reply,
            then: if close { Then::Close } else { Then::Continue },
        }
    }
}
