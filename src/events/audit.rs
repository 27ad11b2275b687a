//! The audit log: every event as one JSON line (the webhooks' JSON), to a
//! file or to stdout, for SIEMs. The operator rotates the file (logrotate
//! moves it, then sends SIGHUP: the gateway reopens the path).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// Where the lines go.
#[derive(Debug)]
enum Sink {
    Stdout,
    File(PathBuf, std::fs::File),
}

/// An open audit log.
#[derive(Debug)]
pub(super) struct AuditLog(Mutex<Sink>);

fn open(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

impl AuditLog {
    /// `-`: stdout; anything else a file, created or appended to.
    pub(super) fn open(target: &str) -> Result<Self, String> {
        if target == "-" {
            return Ok(Self(Mutex::new(Sink::Stdout)));
        }
        let path = PathBuf::from(target);
        let file =
            open(&path).map_err(|e| format!("events.audit_log: cannot open {target}: {e}"))?;
        Ok(Self(Mutex::new(Sink::File(path, file))))
    }

    /// Appends one line (a failed write is logged, never fatal).
    pub(super) fn write(&self, json: &str) {
        let line = format!("{json}\n");
        let mut sink = self.0.lock().expect("audit log poisoned");
        let written = match &mut *sink {
            Sink::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            Sink::File(_, f) => f.write_all(line.as_bytes()),
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot write the audit log (events.audit_log)");
        }
    }

    /// Reopens the file at its path (after the operator moved it away).
    pub(super) fn reopen(&self) {
        let mut sink = self.0.lock().expect("audit log poisoned");
        if let Sink::File(path, file) = &mut *sink {
            match open(path) {
                Ok(f) => *file = f,
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "cannot reopen the audit log; writing on to the old file")
                }
            }
        }
    }
}
