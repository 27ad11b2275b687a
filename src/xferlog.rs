//! The classic `xferlog` transfer log (wu-ftpd, ProFTPD, vsftpd), so existing
//! log tooling keeps working: one line per transfer, 18 whitespace-separated
//! fields (the date counts for five).

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

/// Which way the bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Download (RETR): `o`.
    Outgoing,
    /// Upload (STOR, STOU): `i`.
    Incoming,
}

/// One finished (or interrupted) transfer.
#[derive(Debug, Clone)]
pub struct Transfer<'a> {
    /// When it ended.
    pub end: OffsetDateTime,
    /// How long it took.
    pub elapsed: Duration,
    /// The client.
    pub remote: IpAddr,
    /// Bytes moved.
    pub bytes: u64,
    /// The FTP path.
    pub path: &'a str,
    /// TYPE A (`a`) or I (`b`).
    pub ascii: bool,
    /// Download or upload.
    pub direction: Direction,
    /// Anonymous session (`a`) or a real user (`r`).
    pub anonymous: bool,
    /// The login name.
    pub user: &'a str,
    /// Whether all bytes were moved (`c`) or not (`i`).
    pub complete: bool,
}

/// Formats one xferlog line (no newline). Spaces in names become `_`, as vsftpd does.
#[must_use]
pub fn format_line(t: &Transfer<'_>) -> String {
    let date = t
        .end
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
        ))
        .unwrap_or_else(|_| "Thu Jan  1 00:00:00 1970".into());
    let clean = |s: &str| s.replace(|c: char| c.is_whitespace() || c.is_control(), "_");
    format!(
        "{date} {} {} {} {} {} _ {} {} {} ftp 0 * {}",
        t.elapsed.as_secs().max(1),
        t.remote,
        t.bytes,
        clean(t.path),
        if t.ascii { 'a' } else { 'b' },
        match t.direction {
            Direction::Outgoing => 'o',
            Direction::Incoming => 'i',
        },
        if t.anonymous { 'a' } else { 'r' },
        clean(t.user),
        if t.complete { 'c' } else { 'i' },
    )
}

/// An open transfer log file, and its path (SIGHUP reopens it).
#[derive(Debug)]
pub struct TransferLog(Mutex<std::fs::File>, std::path::PathBuf);

fn append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

impl TransferLog {
    /// Opens (creating, appending) the log file.
    ///
    /// # Errors
    /// When the file cannot be opened for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Ok(Self(Mutex::new(append(path)?), path.to_owned()))
    }

    /// Reopens the file at its path (log rotation: the operator moved
    /// it, then sent SIGHUP). On failure the old file stays in use.
    pub fn reopen(&self) {
        match append(&self.1) {
            Ok(f) => *self.0.lock().expect("transfer log poisoned") = f,
            Err(e) => {
                tracing::warn!(error = %e, path = %self.1.display(), "cannot reopen the transfer log; writing on to the old file");
            }
        }
    }

    /// Appends one transfer (a failed write is logged, never fatal).
    pub fn record(&self, t: &Transfer<'_>) {
        let line = format!("{}\n", format_line(t));
        let mut file = self.0.lock().expect("transfer log poisoned");
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::warn!(error = %e, "cannot write the transfer log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn lines_have_the_18_standard_fields() {
        let t = Transfer {
            end: datetime!(2026-11-04 09:05:07 UTC),
            elapsed: Duration::from_millis(2500),
            remote: "192.0.2.7".parse().unwrap(),
            bytes: 1234,
            path: "/in box/report 1.pdf",
            ascii: false,
            direction: Direction::Incoming,
            anonymous: false,
            user: "alice",
            complete: true,
        };
        let line = format_line(&t);
        assert_eq!(
            line,
            "Wed Nov  4 09:05:07 2026 2 192.0.2.7 1234 /in_box/report_1.pdf b _ i r alice ftp 0 * c"
        );
        assert_eq!(line.split_whitespace().count(), 18);
        let quick = format_line(&Transfer {
            elapsed: Duration::ZERO,
            direction: Direction::Outgoing,
            complete: false,
            ascii: true,
            anonymous: true,
            ..t
        });
        assert!(
            quick.contains(" 1 192.0.2.7 ") && quick.contains(" a _ o a alice ftp 0 * i"),
            "{quick}"
        );
    }
}
