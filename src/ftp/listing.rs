//! Directory listing formats: `ls -l` lines for LIST, RFC 3659 facts for MLSD/MLST.

use time::{
    Duration, OffsetDateTime, format_description::BorrowedFormatItem, macros::format_description,
};

use crate::namespace::{Perm, Perms};
pub use crate::storage::{Entry, Kind};

const RECENT: &[BorrowedFormatItem<'_>] =
    format_description!("[month repr:short] [day padding:space] [hour]:[minute]");
const OLD: &[BorrowedFormatItem<'_>] =
    format_description!("[month repr:short] [day padding:space]  [year]");
const MLS_TIME: &[BorrowedFormatItem<'_>] =
    format_description!("[year][month][day][hour][minute][second]");

/// `YYYYMMDDHHMMSS` in UTC, as MDTM and MLSx `modify` want it.
#[must_use]
pub fn mdtm_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(MLS_TIME)
        .unwrap_or_else(|_| "19700101000000".into())
}

/// The name as a listing line can carry it: S3 keys may hold CR, LF or NUL,
/// which would split or corrupt the line, so they are shown as `?` (such a
/// name cannot be used through FTP anyway: paths with them get 553).
#[must_use]
pub fn display_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains(['\r', '\n', '\0']) {
        std::borrow::Cow::Owned(name.replace(['\r', '\n', '\0'], "?"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// The mode bits of an entry the account may use with `perms`: a folder
/// readable (and searchable) with `list`, writable with `upload` or
/// `create_dirs` (an upload-only drop folder is `d-wx--x--x`, as a Unix
/// one would be); a file readable with `download`, writable with
/// `overwrite`.
fn mode(kind: Kind, perms: Perms) -> String {
    let bit = |yes: bool, c: char| if yes { c } else { '-' };
    let (r, w, x) = match kind {
        Kind::Dir => (
            perms.has(Perm::List),
            perms.has(Perm::Upload) || perms.has(Perm::CreateDirs),
            perms.has(Perm::List) || perms.has(Perm::Upload),
        ),
        Kind::File => (perms.has(Perm::Download), perms.has(Perm::Overwrite), false),
    };
    let mut out = String::with_capacity(10);
    out.push(if kind == Kind::Dir { 'd' } else { '-' });
    out.push(bit(r, 'r'));
    out.push(bit(w, 'w'));
    out.push(bit(x, 'x'));
    for _ in 0..2 {
        out.push(bit(r, 'r'));
        out.push('-');
        out.push(bit(x, 'x'));
    }
    out
}

/// One `ls -l` line (no CRLF): time of day for the last six months, the year otherwise.
#[must_use]
pub fn list_line(e: &Entry, now: OffsetDateTime, perms: Perms) -> String {
    let perms = mode(e.kind, perms);
    let t = e.modified.to_offset(time::UtcOffset::UTC);
    let recent = t > now - Duration::days(182) && t < now + Duration::hours(1);
    let when = t
        .format(if recent { RECENT } else { OLD })
        .unwrap_or_else(|_| "Jan  1  1970".into());
    format!(
        "{perms} 1 ftp ftp {:>12} {when} {}",
        e.size,
        display_name(&e.name)
    )
}

/// RFC 3659 `perm` facts of an entry the account may use with `perms`.
fn perm_fact(kind: Kind, perms: Perms) -> String {
    let facts: &[(char, bool)] = match kind {
        Kind::File => &[
            ('a', perms.has(Perm::Overwrite)),
            ('d', perms.has(Perm::DeleteFiles)),
            ('f', perms.has(Perm::RenameFiles)),
            ('r', perms.has(Perm::Download)),
            ('w', perms.has(Perm::Overwrite)),
        ],
        Kind::Dir => &[
            ('c', perms.has(Perm::Upload)),
            ('d', perms.has(Perm::DeleteDirs)),
            ('e', true),
            ('f', perms.has(Perm::RenameDirs)),
            ('l', perms.has(Perm::List)),
            ('m', perms.has(Perm::CreateDirs)),
            ('p', perms.has(Perm::DeleteFiles)),
        ],
    };
    facts
        .iter()
        .filter(|(_, yes)| *yes)
        .map(|(c, _)| *c)
        .collect()
}

/// RFC 3659 facts followed by a space and the name (MLSD line / MLST body).
#[must_use]
pub fn mlsx_line(e: &Entry, perms: Perms) -> String {
    let modify = mdtm_time(e.modified);
    let perm = perm_fact(e.kind, perms);
    match e.kind {
        Kind::File => {
            format!(
                "type=file;size={};modify={modify};perm={perm}; {}",
                e.size,
                display_name(&e.name)
            )
        }
        Kind::Dir => {
            format!(
                "type=dir;modify={modify};perm={perm}; {}",
                display_name(&e.name)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn file(name: &str, size: u64, t: OffsetDateTime) -> Entry {
        Entry {
            name: name.into(),
            kind: Kind::File,
            size,
            modified: t,
        }
    }

    #[test]
    fn modes_follow_the_permissions() {
        let now = OffsetDateTime::now_utc();
        let upload_only = Perms::parse(["upload", "create_dirs"]).unwrap();
        let dir = Entry {
            name: "in".into(),
            kind: Kind::Dir,
            size: 0,
            modified: now,
        };
        assert!(list_line(&dir, now, upload_only).starts_with("d-wx--x--x"));
        assert!(mlsx_line(&dir, upload_only).starts_with("type=dir;modify="));
        assert!(mlsx_line(&dir, upload_only).contains(";perm=cem;"));
    }

    #[test]
    fn ls_lines_follow_the_six_month_rule() {
        let now = datetime!(2026-11-24 12:00 UTC);
        let recent = file("report.pdf", 1234, datetime!(2026-11-24 10:03 UTC));
        assert_eq!(
            list_line(&recent, now, Perms::ALL),
            "-rw-r--r-- 1 ftp ftp         1234 Nov 24 10:03 report.pdf"
        );
        let old = file("old.txt", 5, datetime!(2025-03-02 08:00 UTC));
        assert_eq!(
            list_line(&old, now, Perms::ALL),
            "-rw-r--r-- 1 ftp ftp            5 Mar  2  2025 old.txt"
        );
        let future = file("f", 0, datetime!(2027-01-01 00:00 UTC));
        assert!(list_line(&future, now, Perms::READ).contains("Jan  1  2027"));
        let dir = Entry {
            name: "d".into(),
            kind: Kind::Dir,
            size: 0,
            modified: now,
        };
        assert!(list_line(&dir, now, Perms::ALL).starts_with("drwxr-xr-x 1 ftp ftp"));
        assert!(list_line(&dir, now, Perms::READ).starts_with("dr-xr-xr-x"));
    }

    #[test]
    fn names_with_line_breaks_stay_on_one_line() {
        let now = datetime!(2026-11-24 12:00 UTC);
        let e = file("evil\r\n226 done\0", 1, now);
        assert!(list_line(&e, now, Perms::ALL).ends_with(" evil??226 done?"));
        assert!(mlsx_line(&e, Perms::ALL).ends_with("; evil??226 done?"));
    }

    #[test]
    fn mlsx_facts() {
        let t = datetime!(2026-11-24 10:03:07 UTC);
        assert_eq!(
            mlsx_line(&file("a b.txt", 42, t), Perms::ALL),
            "type=file;size=42;modify=20261124100307;perm=adfrw; a b.txt"
        );
        let dir = Entry {
            name: "sub".into(),
            kind: Kind::Dir,
            size: 0,
            modified: t,
        };
        assert_eq!(
            mlsx_line(&dir, Perms::READ),
            "type=dir;modify=20261124100307;perm=el; sub"
        );
        assert_eq!(mdtm_time(OffsetDateTime::UNIX_EPOCH), "19700101000000");
    }
}
