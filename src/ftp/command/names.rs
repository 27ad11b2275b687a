//! A command's names as S3 knows them: a legacy character set's escapes
//! undone (see [`crate::ftp::charset`]).

use super::{Command, Site};

impl Command {
    /// The command with the names in it as S3 knows them: escapes of a
    /// legacy character set undone (see [`crate::ftp::charset`]).
    #[must_use]
    pub fn unescaped(self, cs: crate::ftp::charset::Charset) -> Self {
        if cs.is_utf8() {
            return self;
        }
        let u = |s: String| cs.unescape(&s).into_owned();
        let o = |s: Option<String>| s.map(u);
        match self {
            Self::Cwd(p) => Self::Cwd(u(p)),
            Self::Mkd(p) => Self::Mkd(u(p)),
            Self::Rmd(p) => Self::Rmd(u(p)),
            Self::Dele(p) => Self::Dele(u(p)),
            Self::Rnfr(p) => Self::Rnfr(u(p)),
            Self::Rnto(p) => Self::Rnto(u(p)),
            Self::Size(p) => Self::Size(u(p)),
            Self::Mdtm(p) => Self::Mdtm(u(p)),
            Self::Hash(p) => Self::Hash(u(p)),
            Self::Mfmt { time, path } => Self::Mfmt {
                time,
                path: u(path),
            },
            Self::Retr(p) => Self::Retr(u(p)),
            Self::Stor(p) => Self::Stor(u(p)),
            Self::Stou(p) => Self::Stou(o(p)),
            Self::Appe(p) => Self::Appe(u(p)),
            Self::List(p) => Self::List(o(p)),
            Self::Nlst(p) => Self::Nlst(o(p)),
            Self::Mlsd(p) => Self::Mlsd(o(p)),
            Self::Mlst(p) => Self::Mlst(o(p)),
            Self::Stat(p) => Self::Stat(o(p)),
            Self::Site(Site::Chmod { path }) => Self::Site(Site::Chmod { path: u(path) }),
            Self::Site(Site::Utime { time, path }) => Self::Site(Site::Utime {
                time,
                path: u(path),
            }),
            other => other,
        }
    }
}
