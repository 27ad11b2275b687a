//! FTP replies: a code and one or more lines, formatted per RFC 959 §4.2.
//! Every code the server sends is a [`Code`]: the one vocabulary handlers,
//! errors and the session share.

use std::fmt::Write as _;

/// The reply codes s3ftpd sends (RFC 959 §4.2.2, RFC 2228, RFC 2428,
/// RFC 3659, RFC 4217), named by what they mean here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Code {
    /// 150: file status okay; about to open the data connection.
    OpeningData = 150,
    /// 200: command okay.
    Ok = 200,
    /// 202: command not needed (ALLO).
    Superfluous = 202,
    /// 211: system status, FEAT.
    SystemStatus = 211,
    /// 213: file status (SIZE, MDTM, STAT of a path, HASH).
    FileStatus = 213,
    /// 214: help.
    Help = 214,
    /// 215: system type.
    SystemType = 215,
    /// 220: service ready (greeting).
    Ready = 220,
    /// 221: closing the control connection (QUIT).
    Goodbye = 221,
    /// 226: transfer complete; closing the data connection.
    TransferComplete = 226,
    /// 227: entering passive mode.
    Passive = 227,
    /// 229: entering extended passive mode.
    ExtendedPassive = 229,
    /// 230: user logged in.
    LoggedIn = 230,
    /// 232: user logged in, authorized by security data exchange (RFC
    /// 2228): a client certificate, no password.
    LoggedInBySecurity = 232,
    /// 234: AUTH accepted; TLS negotiation follows (RFC 2228).
    SecurityExchange = 234,
    /// 250: requested file action completed.
    FileActionOk = 250,
    /// 257: path created, or the current directory (PWD).
    PathCreated = 257,
    /// 331: user name okay, need password.
    NeedPassword = 331,
    /// 350: pending further information (REST, RNFR).
    Pending = 350,
    /// 421: service not available; closing the control connection.
    NotAvailable = 421,
    /// 425: cannot open the data connection.
    CantOpenData = 425,
    /// 426: connection closed; transfer aborted.
    TransferAborted = 426,
    /// 450: file busy or changed meanwhile: try again.
    FileBusy = 450,
    /// 451: local error in processing (S3 failed): nothing was changed.
    LocalError = 451,
    /// 500: syntax error, command unrecognized.
    SyntaxError = 500,
    /// 501: syntax error in parameters or arguments.
    BadArguments = 501,
    /// 502: command not implemented.
    NotImplemented = 502,
    /// 503: bad sequence of commands.
    BadSequence = 503,
    /// 504: command not implemented for that parameter.
    ParameterNotImplemented = 504,
    /// 521: data connection refused with this PROT setting (RFC 4217).
    ProtRefused = 521,
    /// 522: network protocol not supported (RFC 2428).
    ProtocolNotSupported = 522,
    /// 530: not logged in.
    NotLoggedIn = 530,
    /// 534: request denied for policy reasons (RFC 2228).
    PolicyRefused = 534,
    /// 536: PROT level not supported (RFC 2228).
    ProtNotSupported = 536,
    /// 550: file unavailable (not found, no access).
    FileUnavailable = 550,
    /// 552: storage allocation exceeded (a quota).
    StorageExceeded = 552,
    /// 553: file name not allowed.
    NameNotAllowed = 553,
    /// 554: requested action not taken (a REST offset that does not fit).
    NotTaken = 554,
}

impl Code {
    /// The three digits.
    #[must_use]
    pub fn number(self) -> u16 {
        self as u16
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// A reply to send on the control connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Three-digit code.
    pub code: Code,
    /// Text lines; more than one makes a multi-line reply.
    pub lines: Vec<String>,
}

/// Quotes a path for a 257 reply (RFC 959: embedded `"` doubled).
#[must_use]
pub fn quote_path(p: &str) -> String {
    format!("\"{}\"", p.replace('"', "\"\""))
}

impl Reply {
    /// A one-line reply.
    #[must_use]
    pub fn new(code: Code, text: impl Into<String>) -> Self {
        Self {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply: `code-first`, the middle lines as given, `code last`.
    #[must_use]
    pub fn multi(code: Code, lines: Vec<String>) -> Self {
        Self { code, lines }
    }

    /// The wire form, CRLF-terminated. CR and LF inside a line become spaces,
    /// so a file name can never inject a reply line.
    #[must_use]
    pub fn to_wire(&self) -> String {
        let clean = |s: &str| s.replace(['\r', '\n'], " ");
        let mut out = String::new();
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            let line = clean(line);
            if n == 1 {
                let _ = write!(out, "{} {line}\r\n", self.code);
            } else if i == 0 {
                let _ = write!(out, "{}-{line}\r\n", self.code);
            } else if i == n - 1 {
                let _ = write!(out, "{} {line}\r\n", self.code);
            } else if line.starts_with(|c: char| c.is_ascii_digit()) {
                // A middle line must not look like a final reply line.
                let _ = write!(out, " {line}\r\n");
            } else {
                let _ = write!(out, "{line}\r\n");
            }
        }
        if n == 0 {
            let _ = write!(out, "{} \r\n", self.code);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting() {
        assert_eq!(super::quote_path("/a\"b"), "\"/a\"\"b\"");
    }

    use super::*;

    #[test]
    fn single_and_multi_line() {
        assert_eq!(Reply::new(Code::Ok, "OK").to_wire(), "200 OK\r\n");
        let r = Reply::multi(
            Code::SystemStatus,
            vec![
                "Features:".into(),
                " UTF8".into(),
                "226 x".into(),
                "End".into(),
            ],
        );
        assert_eq!(
            r.to_wire(),
            "211-Features:\r\n UTF8\r\n 226 x\r\n211 End\r\n"
        );
    }

    #[test]
    fn no_injection_through_names() {
        let r = Reply::new(Code::PathCreated, "\"/a\r\n230 fake\" created");
        assert_eq!(r.to_wire(), "257 \"/a  230 fake\" created\r\n");
    }
}
