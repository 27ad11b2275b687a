//! `SITE` subcommands, parsed without I/O.

use super::{ParseError, parse_mdtm_time};

/// The `SITE` subcommands understood (vsftpd and ProFTPD are the reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Site {
    /// `SITE CHMOD mode path`: accepted when the path exists; S3 keeps no modes.
    Chmod {
        /// The file or directory.
        path: String,
    },
    /// `SITE UMASK [mode]`: accepted; S3 keeps no modes.
    Umask(Option<String>),
    /// `SITE HELP`
    Help,
    /// `SITE QUOTA`: the usage of the account's quotas.
    Quota,
    /// `SITE IDLE [seconds]`: this session's idle timeout, within the configured one.
    Idle(Option<u64>),
    /// `SITE UTIME`, both common forms: `time path` (ProFTPD) and
    /// `path atime mtime ctime UTC` (as some clients send it): sets the time like MFMT.
    Utime {
        /// The modification time, seconds since the Unix epoch.
        time: i64,
        /// The file.
        path: String,
    },
}

fn is_mode(s: &str) -> bool {
    (1..=4).contains(&s.len()) && s.bytes().all(|b| (b'0'..=b'7').contains(&b))
}

fn bad(why: impl Into<String>) -> ParseError {
    ParseError::BadArg {
        verb: "SITE",
        why: why.into(),
    }
}

/// Parses the argument of `SITE`.
///
/// # Errors
/// A missing or malformed argument (501), or an unknown subcommand (504).
pub fn parse(arg: &str) -> Result<Site, ParseError> {
    let arg = arg.trim();
    let (sub, rest) = arg.split_once(' ').unwrap_or((arg, ""));
    let rest = rest.trim();
    Ok(match sub.to_ascii_uppercase().as_str() {
        "CHMOD" => {
            let (mode, path) = rest
                .split_once(' ')
                .ok_or(ParseError::MissingArg("SITE CHMOD"))?;
            if !is_mode(mode) {
                return Err(bad(format!("{mode:?} is not an octal mode")));
            }
            let path = path.trim_start();
            if path.is_empty() {
                return Err(ParseError::MissingArg("SITE CHMOD"));
            }
            Site::Chmod {
                path: path.to_owned(),
            }
        }
        "UMASK" if rest.is_empty() => Site::Umask(None),
        "UMASK" if is_mode(rest) => Site::Umask(Some(rest.to_owned())),
        "UMASK" => return Err(bad(format!("{rest:?} is not an octal mask"))),
        "HELP" => Site::Help,
        "QUOTA" => Site::Quota,
        "IDLE" if rest.is_empty() => Site::Idle(None),
        "IDLE" => Site::Idle(Some(
            rest.parse()
                .map_err(|_| bad("SITE IDLE takes a number of seconds"))?,
        )),
        "UTIME" => utime(rest)?,
        "" => return Err(ParseError::MissingArg("SITE")),
        other => {
            return Err(ParseError::Unsupported(format!(
                "SITE {other} not understood; try SITE HELP"
            )));
        }
    })
}

/// `time path`, or `path atime mtime ctime UTC` (the path may hold spaces).
fn utime(rest: &str) -> Result<Site, ParseError> {
    let words: Vec<&str> = rest.split(' ').collect();
    if words.len() >= 5 && words[words.len() - 1].eq_ignore_ascii_case("UTC") {
        let n = words.len();
        let time = parse_mdtm_time(words[n - 3]).map_err(bad)?;
        return Ok(Site::Utime {
            time,
            path: words[..n - 4].join(" "),
        });
    }
    let (t, path) = rest
        .split_once(' ')
        .ok_or(ParseError::MissingArg("SITE UTIME"))?;
    let time = parse_mdtm_time(t).map_err(bad)?;
    if path.trim().is_empty() {
        return Err(ParseError::MissingArg("SITE UTIME"));
    }
    Ok(Site::Utime {
        time,
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommands() {
        assert_eq!(
            parse("CHMOD 644 a b.txt").unwrap(),
            Site::Chmod {
                path: "a b.txt".into()
            }
        );
        assert_eq!(
            parse("chmod 0755 d").unwrap(),
            Site::Chmod { path: "d".into() }
        );
        assert!(parse("CHMOD 999 f").is_err());
        assert!(parse("CHMOD 644").is_err());
        assert_eq!(parse("UMASK").unwrap(), Site::Umask(None));
        assert_eq!(parse("UMASK 022").unwrap(), Site::Umask(Some("022".into())));
        assert!(parse("UMASK abc").is_err());
        assert_eq!(parse("HELP").unwrap(), Site::Help);
        assert_eq!(parse("QUOTA").unwrap(), Site::Quota);
        assert_eq!(parse("IDLE 120").unwrap(), Site::Idle(Some(120)));
        assert_eq!(parse("IDLE").unwrap(), Site::Idle(None));
        assert!(parse("IDLE soon").is_err());
        assert!(matches!(
            parse("EXEC rm -rf /"),
            Err(ParseError::Unsupported(_))
        ));
        assert!(matches!(parse(""), Err(ParseError::MissingArg(_))));
    }

    #[test]
    fn utime_forms() {
        let t = parse_mdtm_time("20200102030405").unwrap();
        assert_eq!(
            parse("UTIME 20200102030405 my file.txt").unwrap(),
            Site::Utime {
                time: t,
                path: "my file.txt".into()
            }
        );
        assert_eq!(
            parse("UTIME my file.txt 20210101000000 20200102030405 20200102030405 UTC").unwrap(),
            Site::Utime {
                time: t,
                path: "my file.txt".into()
            }
        );
        assert!(parse("UTIME yesterday f").is_err());
    }
}
