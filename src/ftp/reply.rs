//! FTP replies: a code and one or more lines, formatted per RFC 959 §4.2.

use std::fmt::Write as _;

/// A reply to send on the control connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Three-digit code.
    pub code: u16,
    /// Text lines; more than one makes a multi-line reply.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    #[must_use]
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply: `code-first`, the middle lines as given, `code last`.
    #[must_use]
    pub fn multi(code: u16, lines: Vec<String>) -> Self {
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
    use super::*;

    #[test]
    fn single_and_multi_line() {
        assert_eq!(Reply::new(200, "OK").to_wire(), "200 OK\r\n");
        let r = Reply::multi(
            211,
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
        let r = Reply::new(257, "\"/a\r\n230 fake\" created");
        assert_eq!(r.to_wire(), "257 \"/a  230 fake\" created\r\n");
    }
}
