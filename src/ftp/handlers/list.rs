//! LIST, NLST, MLSD: listings over the data connection (MLST and STAT of a
//! path, over control, are in `stat.rs`).
//!
//! Directory listings are read from S3 one page (up to 1000 entries) at a
//! time and written out before the next page is requested, so memory stays
//! flat however large the directory.

use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::transfer::write_data;
use crate::ftp::charset::Charset;
use crate::ftp::context::{Outcome, UserCtx};
use crate::ftp::control::Done;
use crate::ftp::data::DataStream;
use crate::ftp::error::{FtpError, refuse};
use crate::ftp::glob::Glob;
use crate::ftp::listing::{Entry, Kind, display_name, list_line, mlsx_line};
use crate::ftp::reply::{Code, Reply};
use std::sync::Arc;

use crate::namespace::{Namespace, Op, Perms, VPath};
use crate::storage::{DirLister, StorageError};

/// The three data-connection listing formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// LIST: `ls -l` lines.
    Long,
    /// NLST: names only.
    Names,
    /// MLSD: RFC 3659 facts.
    Facts,
}

/// What a listing argument names.
pub(super) enum Target {
    /// A directory by key prefix — or, with `only`, the entries of one that
    /// match a pattern —, its first page already requested when its
    /// existence was checked (never for the home, which always exists).
    Dir {
        lister: Box<DirLister>,
        only: Option<Pattern>,
        /// Mount points (or folders leading to one) in this directory:
        /// folders whatever S3 holds, listed first; S3 entries of the same
        /// names are hidden by them.
        mounts: Vec<Entry>,
        /// The folder listed (each entry's permissions are taken there).
        dir: VPath,
    },
    /// A single file, and what the account may do with it.
    File(Entry, Perms),
}

/// A wildcard (`*`, `?`, `[...]`) in the last path component, expanded as
/// vsftpd and ProFTPD do for NLST, LIST and STAT: matched against one
/// directory's listing, never a bucket-wide scan, and only when no file or
/// folder has the name itself. As in a shell, `*` and `?` do not match a
/// leading dot unless the pattern starts with one.
#[derive(Clone)]
pub(super) struct Pattern {
    glob: Glob,
    dots: bool,
}

impl Pattern {
    fn new(name: &str) -> Option<Self> {
        Some(Self {
            glob: Glob::new(name)?,
            dots: name.starts_with('.'),
        })
    }

    fn matches(&self, name: &str) -> bool {
        (self.dots || !name.starts_with('.')) && self.glob.matches(name)
    }
}

/// How NLST names an entry: vsftpd's way, so that a client can RETR what
/// it gets from its current directory — `NLST dir` gives `dir/a.txt`,
/// `NLST dir/*.txt` too, `NLST *.txt` and `NLST` bare names.
fn nlst_prefix(arg: Option<&str>, target: &Target) -> String {
    let arg = arg.unwrap_or("");
    match target {
        Target::Dir { only: None, .. } => match arg.trim_end_matches('/') {
            "" if arg.starts_with('/') => "/".to_owned(),
            "" | "." => String::new(),
            dir => format!("{dir}/"),
        },
        _ => arg
            .rfind('/')
            .map_or(String::new(), |i| arg[..=i].to_owned()),
    }
}

fn format_entry(
    e: &Entry,
    fmt: ListFormat,
    now: OffsetDateTime,
    perms: Perms,
    names_under: &str,
) -> String {
    match fmt {
        ListFormat::Long => list_line(e, now, perms),
        ListFormat::Names => format!("{names_under}{}", display_name(&e.name)),
        ListFormat::Facts => mlsx_line(e, perms),
    }
}

/// A directory listing about to be written to a data connection.
struct DirListing {
    lister: Box<DirLister>,
    /// Only the entries matching this pattern.
    only: Option<Pattern>,
    /// Mount folders, written first (see [`Target::Dir`]).
    mounts: Vec<Entry>,
    fmt: ListFormat,
    /// The account's tree (each entry's mode bits and `perm` facts).
    ns: Arc<Namespace>,
    /// The folder listed.
    dir: VPath,
    /// NLST: what goes before each name (see [`nlst_prefix`]).
    names_under: String,
    /// The session's character set.
    charset: Charset,
    /// Bytes written so far (STAT during the listing reports them).
    moved: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl DirListing {
    /// Streams the directory as `fmt` lines, entries written as soon as
    /// their times are in (see storage's `listing`).
    async fn stream(
        mut self,
        mut out: DataStream,
        stall: std::time::Duration,
        cancel: CancellationToken,
    ) -> Result<u64, StorageError> {
        let mut count = 0u64;
        let mounts = std::mem::take(&mut self.mounts);
        let first = mounts.iter().filter(|e| wanted(self.only.as_ref(), &[], e));
        let mut text = String::new();
        let now = OffsetDateTime::now_utc();
        for e in first {
            let perms = self.ns.perms_of(&self.dir, &e.name, true);
            text.push_str(&format_entry(e, self.fmt, now, perms, &self.names_under));
            text.push_str("\r\n");
            count += 1;
        }
        if !text.is_empty() {
            write_data(&mut out, &self.charset.encode(&text), stall, &cancel).await?;
        }
        loop {
            let entries = tokio::select! {
                () = cancel.cancelled() => return Err(StorageError::Cancelled),
                p = self.lister.next_entries() => match p? {
                    Some(entries) => entries,
                    None => break,
                },
            };
            let now = OffsetDateTime::now_utc();
            let mut text = String::with_capacity(entries.len() * 64);
            for e in entries
                .iter()
                .filter(|e| wanted(self.only.as_ref(), &mounts, e))
            {
                let perms = self.ns.perms_of(&self.dir, &e.name, e.kind == Kind::Dir);
                text.push_str(&format_entry(e, self.fmt, now, perms, &self.names_under));
                text.push_str("\r\n");
                count += 1;
            }
            if text.is_empty() {
                continue;
            }
            let bytes = self.charset.encode(&text);
            write_data(&mut out, &bytes, stall, &cancel).await?;
            self.moved
                .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        out.shutdown().await.map_err(StorageError::Io)?;
        Ok(count)
    }
}

/// Whether a listing shows `e`: it matches the pattern, and no mount
/// folder hides it.
pub(super) fn wanted(only: Option<&Pattern>, mounts: &[Entry], e: &Entry) -> bool {
    only.is_none_or(|p| p.matches(&e.name)) && !mounts.iter().any(|m| m.name == e.name)
}

/// The mount folders of `dir` as listing entries (their marker's time is
/// not looked up: the time the listing is made).
fn mount_entries(u: &UserCtx<'_>, dir: &VPath) -> Vec<Entry> {
    let now = OffsetDateTime::now_utc();
    u.ns.folders_in(dir)
        .into_iter()
        .map(|name| Entry {
            name,
            kind: Kind::Dir,
            size: 0,
            modified: now,
        })
        .collect()
}

/// What `path` names; `times`: whether the listing shows times (NLST
/// and MLST do not, so they cost no metadata lookups).
pub(super) async fn list_target(
    u: &UserCtx<'_>,
    path: &VPath,
    times: bool,
) -> Result<Target, FtpError> {
    let listed = path.clone();
    let dir = u.ns.dir(path, Op::List)?;
    let mut lister = Box::new(dir.storage.list_dir(&dir.key, times));
    let mounts = mount_entries(u, path);
    if path.is_root() {
        // Always a folder: no existence check.
        return Ok(Target::Dir {
            lister,
            only: None,
            mounts,
            dir: listed.clone(),
        });
    }
    // The first page both proves the directory exists and starts the
    // listing (its lookups run from here on). A folder holding a mount is
    // one whatever S3 holds; its first page is read before the 150 all the
    // same, so that a profile whose S3 fails answers 451.
    let holds_mount = u.ns.holds_mount(path);
    if lister.exists().await? || holds_mount {
        return Ok(Target::Dir {
            lister,
            only: None,
            mounts,
            dir: listed.clone(),
        });
    }
    let file = u.ns.file(path, Op::List)?;
    if let Some(info) = file.storage.head(&file.key).await? {
        let entry = Entry {
            name: path.name().to_owned(),
            kind: Kind::File,
            size: info.size,
            modified: info.modified,
        };
        let perms = u.ns.perms_of(&path.parent(), path.name(), false);
        return Ok(Target::File(entry, perms));
    }
    let missing = || {
        refuse(
            Code::FileUnavailable,
            format!("{path}: no such file or directory"),
        )
    };
    let only = Pattern::new(path.name()).ok_or_else(missing)?;
    let parent = path.parent();
    let dir = u.ns.dir(&parent, Op::List)?;
    let mut lister = Box::new(dir.storage.list_dir(&dir.key, times));
    if !parent.is_root() && !u.ns.holds_mount(&parent) && !lister.exists().await? {
        return Err(missing());
    }
    Ok(Target::Dir {
        lister,
        only: Some(only),
        mounts: mount_entries(u, &parent),
        dir: parent,
    })
}

/// LIST, NLST, MLSD: a directory (or one file) over the data connection.
pub(in crate::ftp) async fn list(
    u: &mut UserCtx<'_>,
    arg: Option<String>,
    fmt: ListFormat,
) -> Outcome {
    let path = u.st.cwd.resolve(arg.as_deref().unwrap_or(""))?;
    let target = list_target(u, &path, fmt != ListFormat::Names).await?;
    if fmt == ListFormat::Facts && matches!(target, Target::File(..)) {
        return Err(refuse(
            Code::BadArguments,
            format!("{path}: not a directory (use MLST for files)"),
        ));
    }
    let opening = Reply::new(Code::OpeningData, "Here comes the directory listing");
    let mut stream = super::transfer::open_data(u, opening).await?;
    let cancel = u.gw.abort.child_token();
    let stall = u.gw.timeouts.data;
    let names_under = nlst_prefix(arg.as_deref(), &target);
    let charset = u.control.charset();
    let done = match target {
        Target::Dir {
            lister,
            only,
            mounts,
            dir,
        } => {
            let listing = DirListing {
                lister,
                only,
                mounts,
                fmt,
                ns: Arc::clone(u.ns),
                dir,
                names_under,
                charset,
                moved: u.control.count_transfer(),
            };
            let fut = listing.stream(stream, stall, cancel.clone());
            u.control.run_transfer(cancel, fut, None).await?
        }
        Target::File(entry, perms) => {
            let line = format!(
                "{}\r\n",
                format_entry(&entry, fmt, OffsetDateTime::now_utc(), perms, &names_under)
            );
            let token = cancel.clone();
            let fut = async move {
                write_data(&mut stream, &charset.encode(&line), stall, &token).await?;
                stream.shutdown().await.map_err(StorageError::Io)?;
                Ok(1)
            };
            u.control.run_transfer(cancel, fut, None).await?
        }
    };
    Ok(match done {
        Done::Complete(_) => Reply::new(Code::TransferComplete, "Directory send OK"),
        Done::Aborted => Reply::new(Code::TransferComplete, "ABOR successful"),
    })
}
