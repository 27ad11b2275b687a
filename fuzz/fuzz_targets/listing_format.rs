//! Any name (S3 keys may hold CR and LF), size and time: a LIST or MLSD line
//! is exactly one line and ends with the name as the client can see it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3ftpd::ftp::listing::{Entry, Kind, list_line, mlsx_line};
use s3ftpd::namespace::Perms;
use time::OffsetDateTime;

fuzz_target!(|input: (&str, u64, i32, bool, bool)| {
    let (name, size, secs, dir, read_only) = input;
    let modified = OffsetDateTime::from_unix_timestamp(i64::from(secs)).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let kind = if dir { Kind::Dir } else { Kind::File };
    let e = Entry { name: name.to_owned(), kind, size, modified };
    let now = OffsetDateTime::now_utc();
    let perms = if read_only { Perms::READ } else { Perms::ALL };
    for line in [list_line(&e, now, perms), mlsx_line(&e, perms)] {
        assert!(!line.contains(['\r', '\n']), "line break in {line:?}");
    }
});
