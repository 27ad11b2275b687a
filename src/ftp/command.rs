//! FTP commands: one enum, parsed from a control line without any I/O.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::config::Secret;

/// Representation type (`TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    /// `TYPE A`: line endings converted on the wire.
    Ascii,
    /// `TYPE I`: bytes as they are.
    Binary,
}

/// Every command the server understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name`
    User(String),
    /// `PASS secret`
    Pass(Secret),
    /// `QUIT`
    Quit,
    /// `NOOP`
    Noop,
    /// `SYST`
    Syst,
    /// `FEAT`
    Feat,
    /// `OPTS UTF8 ON` and friends (the raw argument).
    Opts(String),
    /// `HELP [topic]`
    Help,
    /// `STAT [path]`
    Stat(Option<String>),
    /// `TYPE A|I`
    Type(TransferType),
    /// `MODE S`
    Mode,
    /// `STRU F`
    Stru,
    /// `ALLO n` (accepted, nothing to reserve)
    Allo,
    /// `PWD` / `XPWD`
    Pwd,
    /// `CWD path` / `XCWD`
    Cwd(String),
    /// `CDUP` / `XCUP`
    Cdup,
    /// `MKD path` / `XMKD`
    Mkd(String),
    /// `RMD path` / `XRMD`
    Rmd(String),
    /// `DELE path`
    Dele(String),
    /// `RNFR path`
    Rnfr(String),
    /// `RNTO path`
    Rnto(String),
    /// `SIZE path`
    Size(String),
    /// `MDTM path`
    Mdtm(String),
    /// `MFMT YYYYMMDDHHMMSS path`
    Mfmt {
        /// Seconds since the Unix epoch.
        time: i64,
        /// The file.
        path: String,
    },
    /// `REST offset`
    Rest(u64),
    /// `RETR path`
    Retr(String),
    /// `STOR path`
    Stor(String),
    /// `STOU [name]`
    Stou(Option<String>),
    /// `APPE path`
    Appe(String),
    /// `ABOR`
    Abor,
    /// `LIST [-la] [path]`
    List(Option<String>),
    /// `NLST [path]`
    Nlst(Option<String>),
    /// `MLSD [path]`
    Mlsd(Option<String>),
    /// `MLST [path]`
    Mlst(Option<String>),
    /// `PASV`
    Pasv,
    /// `EPSV [ALL|1|2]`
    Epsv,
    /// `PORT h1,h2,h3,h4,p1,p2`
    Port(SocketAddr),
    /// `EPRT |af|addr|port|`
    Eprt(SocketAddr),
    /// A verb the server does not implement.
    Unknown(String),
}

/// Why a line is not a valid command; answered with 500/501.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but white space.
    #[error("empty command line")]
    Empty,
    /// The verb is not ASCII letters.
    #[error("syntax error in command")]
    BadVerb,
    /// The argument is not UTF-8.
    #[error("arguments must be UTF-8")]
    NotUtf8,
    /// A required argument is missing.
    #[error("{0} needs an argument")]
    MissingArg(&'static str),
    /// An argument does not parse.
    #[error("invalid argument to {verb}: {why}")]
    BadArg {
        /// The verb.
        verb: &'static str,
        /// What is wrong.
        why: String,
    },
    /// Valid syntax, but a parameter the server does not implement (504).
    #[error("{0}")]
    Unsupported(String),
}

impl ParseError {
    /// The FTP reply code for this error.
    #[must_use]
    pub fn code(&self) -> u16 {
        match self {
            Self::Empty | Self::BadVerb => 500,
            Self::Unsupported(_) => 504,
            _ => 501,
        }
    }
}

/// Telnet IAC sequences some clients put before ABOR (`IAC IP IAC DM`).
fn strip_telnet(line: &[u8]) -> &[u8] {
    let mut rest = line;
    while let [0xFF, _, tail @ ..] = rest {
        rest = tail;
    }
    while let [0xF2, tail @ ..] = rest {
        rest = tail;
    }
    rest
}

fn need(verb: &'static str, arg: Option<String>) -> Result<String, ParseError> {
    arg.filter(|a| !a.is_empty())
        .ok_or(ParseError::MissingArg(verb))
}

fn bad(verb: &'static str, why: impl Into<String>) -> ParseError {
    ParseError::BadArg {
        verb,
        why: why.into(),
    }
}

/// `LIST -la path` → `path`: options (words starting with `-`) are accepted and ignored.
fn strip_list_options(arg: Option<String>) -> Option<String> {
    let mut rest = arg?;
    while rest.starts_with('-') {
        rest = rest
            .split_once(' ')
            .map(|(_, r)| r.trim_start().to_owned())
            .unwrap_or_default();
    }
    (!rest.is_empty()).then_some(rest)
}

fn parse_port(arg: &str) -> Result<SocketAddr, ParseError> {
    let nums: Vec<u8> = arg
        .split(',')
        .map(|n| n.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("PORT", "expected h1,h2,h3,h4,p1,p2"))?;
    let [a, b, c, d, p1, p2] = nums[..] else {
        return Err(bad("PORT", "expected h1,h2,h3,h4,p1,p2"));
    };
    let port = u16::from(p1) << 8 | u16::from(p2);
    Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port))
}

fn parse_eprt(arg: &str) -> Result<SocketAddr, ParseError> {
    let delim = arg.chars().next().ok_or_else(|| bad("EPRT", "empty"))?;
    let parts: Vec<&str> = arg.split(delim).collect();
    let ["", af, addr, port, ""] = parts[..] else {
        return Err(bad("EPRT", "expected |af|address|port|"));
    };
    if !matches!(af, "1" | "2") {
        return Err(ParseError::Unsupported(
            "522 Network protocol not supported, use (1,2)".into(),
        ));
    }
    let ip: IpAddr = addr.parse().map_err(|_| bad("EPRT", "bad address"))?;
    match (af, ip) {
        ("1", IpAddr::V4(_)) | ("2", IpAddr::V6(_)) => {}
        ("1" | "2", _) => return Err(bad("EPRT", "address does not match the family")),
        _ => {
            return Err(ParseError::Unsupported(
                "522 Network protocol not supported, use (1,2)".into(),
            ));
        }
    }
    let port: u16 = port.parse().map_err(|_| bad("EPRT", "bad port"))?;
    Ok(SocketAddr::new(ip, port))
}

/// `YYYYMMDDHHMMSS[.sss]` (UTC) → seconds since the epoch.
///
/// # Errors
/// When the text is not such a time.
pub fn parse_mdtm_time(s: &str) -> Result<i64, String> {
    let digits = s.split('.').next().unwrap_or("");
    if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not YYYYMMDDHHMMSS"));
    }
    let n = |r: std::ops::Range<usize>| digits[r].parse::<u32>().unwrap_or(0);
    let month = u8::try_from(n(4..6))
        .ok()
        .and_then(|m| time::Month::try_from(m).ok());
    let date = month.and_then(|m| {
        time::Date::from_calendar_date(i32::try_from(n(0..4)).ok()?, m, u8::try_from(n(6..8)).ok()?)
            .ok()
    });
    let t = time::Time::from_hms(
        u8::try_from(n(8..10)).unwrap_or(99),
        u8::try_from(n(10..12)).unwrap_or(99),
        u8::try_from(n(12..14)).unwrap_or(99),
    )
    .ok();
    match (date, t) {
        (Some(d), Some(t)) => Ok(time::PrimitiveDateTime::new(d, t)
            .assume_utc()
            .unix_timestamp()),
        _ => Err(format!("{s:?} is not a valid date and time")),
    }
}

impl Command {
    /// Parses one control line (without its CRLF).
    ///
    /// # Errors
    /// A [`ParseError`] whose [`ParseError::code`] is the reply code.
    pub fn parse(line: &[u8]) -> Result<Self, ParseError> {
        let line = strip_telnet(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let (verb, arg) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        if verb.is_empty() {
            return Err(ParseError::Empty);
        }
        if verb.len() > 8 || !verb.iter().all(u8::is_ascii_alphabetic) {
            return Err(ParseError::BadVerb);
        }
        let verb = std::str::from_utf8(verb)
            .map_err(|_| ParseError::BadVerb)?
            .to_ascii_uppercase();
        let arg = arg
            .map(|a| std::str::from_utf8(a).map(str::to_owned))
            .transpose()
            .map_err(|_| ParseError::NotUtf8)?;
        let opt = |a: Option<String>| a.filter(|s| !s.trim().is_empty());
        Ok(match verb.as_str() {
            "USER" => Self::User(need("USER", arg)?),
            "PASS" => Self::Pass(Secret::new(arg.unwrap_or_default())),
            "QUIT" => Self::Quit,
            "NOOP" => Self::Noop,
            "SYST" => Self::Syst,
            "FEAT" => Self::Feat,
            "OPTS" => Self::Opts(need("OPTS", arg)?),
            "HELP" => Self::Help,
            "STAT" => Self::Stat(opt(arg)),
            "TYPE" => {
                let a = need("TYPE", arg)?.to_ascii_uppercase();
                let mut words = a.split_whitespace();
                match (words.next(), words.next()) {
                    (Some("A"), None | Some("N")) => Self::Type(TransferType::Ascii),
                    (Some("I"), None) | (Some("L"), Some("8")) => Self::Type(TransferType::Binary),
                    (Some("A" | "E" | "L"), _) => {
                        return Err(ParseError::Unsupported(format!("TYPE {a} not implemented")));
                    }
                    _ => return Err(bad("TYPE", format!("unknown type {a:?}"))),
                }
            }
            "MODE" => match need("MODE", arg)?.to_ascii_uppercase().as_str() {
                "S" => Self::Mode,
                "B" | "C" | "Z" => {
                    return Err(ParseError::Unsupported("only MODE S is implemented".into()));
                }
                m => return Err(bad("MODE", format!("unknown mode {m:?}"))),
            },
            "STRU" => match need("STRU", arg)?.to_ascii_uppercase().as_str() {
                "F" => Self::Stru,
                "R" | "P" => {
                    return Err(ParseError::Unsupported("only STRU F is implemented".into()));
                }
                s => return Err(bad("STRU", format!("unknown structure {s:?}"))),
            },
            "ALLO" => Self::Allo,
            "PWD" | "XPWD" => Self::Pwd,
            "CWD" | "XCWD" => Self::Cwd(need("CWD", arg)?),
            "CDUP" | "XCUP" => Self::Cdup,
            "MKD" | "XMKD" => Self::Mkd(need("MKD", arg)?),
            "RMD" | "XRMD" => Self::Rmd(need("RMD", arg)?),
            "DELE" => Self::Dele(need("DELE", arg)?),
            "RNFR" => Self::Rnfr(need("RNFR", arg)?),
            "RNTO" => Self::Rnto(need("RNTO", arg)?),
            "SIZE" => Self::Size(need("SIZE", arg)?),
            "MDTM" => Self::Mdtm(need("MDTM", arg)?),
            "MFMT" => {
                let a = need("MFMT", arg)?;
                let (t, path) = a.split_once(' ').ok_or(ParseError::MissingArg("MFMT"))?;
                let time = parse_mdtm_time(t).map_err(|why| bad("MFMT", why))?;
                Self::Mfmt {
                    time,
                    path: need("MFMT", Some(path.to_owned()))?,
                }
            }
            "REST" => Self::Rest(
                need("REST", arg)?
                    .trim()
                    .parse()
                    .map_err(|_| bad("REST", "expected a byte offset"))?,
            ),
            "RETR" => Self::Retr(need("RETR", arg)?),
            "STOR" => Self::Stor(need("STOR", arg)?),
            "STOU" => Self::Stou(opt(arg)),
            "APPE" => Self::Appe(need("APPE", arg)?),
            "ABOR" => Self::Abor,
            "LIST" => Self::List(strip_list_options(opt(arg))),
            "NLST" => Self::Nlst(strip_list_options(opt(arg))),
            "MLSD" => Self::Mlsd(opt(arg)),
            "MLST" => Self::Mlst(opt(arg)),
            "PASV" => Self::Pasv,
            "EPSV" => match arg
                .as_deref()
                .map(str::trim)
                .map(str::to_ascii_uppercase)
                .as_deref()
            {
                None | Some("" | "1" | "ALL") => Self::Epsv,
                Some("2") => {
                    return Err(ParseError::Unsupported(
                        "522 Network protocol not supported, use (1)".into(),
                    ));
                }
                Some(_) => return Err(bad("EPSV", "expected ALL, 1 or 2")),
            },
            "PORT" => Self::Port(parse_port(&need("PORT", arg)?)?),
            "EPRT" => Self::Eprt(parse_eprt(&need("EPRT", arg)?)?),
            _ => Self::Unknown(verb),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, ParseError> {
        Command::parse(s.as_bytes())
    }

    #[test]
    fn table() {
        use Command as C;
        let cases: Vec<(&str, Command)> = vec![
            ("USER alice", C::User("alice".into())),
            ("user alice", C::User("alice".into())),
            ("PASS", C::Pass(Secret::new(""))),
            ("PASS a b ", C::Pass(Secret::new("a b "))),
            ("QUIT", C::Quit),
            ("noop", C::Noop),
            ("SYST", C::Syst),
            ("FEAT", C::Feat),
            ("OPTS UTF8 ON", C::Opts("UTF8 ON".into())),
            ("HELP", C::Help),
            ("HELP LIST", C::Help),
            ("STAT", C::Stat(None)),
            ("STAT /x", C::Stat(Some("/x".into()))),
            ("TYPE I", C::Type(TransferType::Binary)),
            ("TYPE A", C::Type(TransferType::Ascii)),
            ("TYPE A N", C::Type(TransferType::Ascii)),
            ("TYPE L 8", C::Type(TransferType::Binary)),
            ("type i", C::Type(TransferType::Binary)),
            ("MODE S", C::Mode),
            ("STRU F", C::Stru),
            ("ALLO 1000", C::Allo),
            ("PWD", C::Pwd),
            ("XPWD", C::Pwd),
            ("CWD /a b", C::Cwd("/a b".into())),
            ("XCWD x", C::Cwd("x".into())),
            ("CDUP", C::Cdup),
            ("XCUP", C::Cdup),
            ("MKD d", C::Mkd("d".into())),
            ("XMKD d", C::Mkd("d".into())),
            ("RMD d", C::Rmd("d".into())),
            ("XRMD d", C::Rmd("d".into())),
            ("DELE f", C::Dele("f".into())),
            ("RNFR a", C::Rnfr("a".into())),
            ("RNTO b", C::Rnto("b".into())),
            ("SIZE f", C::Size("f".into())),
            ("MDTM f", C::Mdtm("f".into())),
            (
                "MFMT 20200102030405 f g",
                C::Mfmt {
                    time: 1_577_934_245,
                    path: "f g".into(),
                },
            ),
            ("REST 100", C::Rest(100)),
            ("RETR f", C::Retr("f".into())),
            ("STOR f", C::Stor("f".into())),
            ("STOU", C::Stou(None)),
            ("APPE f", C::Appe("f".into())),
            ("ABOR", C::Abor),
            ("LIST", C::List(None)),
            ("LIST -la", C::List(None)),
            ("LIST -a -l dir", C::List(Some("dir".into()))),
            ("LIST dir", C::List(Some("dir".into()))),
            ("NLST -l", C::Nlst(None)),
            ("MLSD", C::Mlsd(None)),
            ("MLST f", C::Mlst(Some("f".into()))),
            ("PASV", C::Pasv),
            ("EPSV", C::Epsv),
            ("EPSV ALL", C::Epsv),
            (
                "PORT 127,0,0,1,4,1",
                C::Port("127.0.0.1:1025".parse().unwrap()),
            ),
            (
                "EPRT |1|127.0.0.1|2000|",
                C::Eprt("127.0.0.1:2000".parse().unwrap()),
            ),
            ("EPRT |2|::1|2000|", C::Eprt("[::1]:2000".parse().unwrap())),
            ("SITE CHMOD 777 x", C::Unknown("SITE".into())),
            ("XYZZY", C::Unknown("XYZZY".into())),
        ];
        for (line, want) in cases {
            assert_eq!(p(line).as_ref(), Ok(&want), "{line:?}");
        }
        // Telnet interrupt sequence before ABOR (raw bytes, not UTF-8 chars).
        assert_eq!(Command::parse(b"\xFF\xF4\xFF\xF2ABOR"), Ok(Command::Abor));
        assert_eq!(Command::parse(b"NOOP\r"), Ok(Command::Noop));
    }

    #[test]
    fn errors_and_their_codes() {
        let cases: &[(&[u8], u16)] = &[
            (b"", 500),
            (b" ", 500),
            (b"US3R x", 500),
            (b"VERYLONGVERB", 500),
            (b"RETR", 501),
            (b"RETR ", 501),
            (b"CWD", 501),
            (b"REST abc", 501),
            (b"REST -1", 501),
            (b"TYPE X", 501),
            (b"TYPE E", 504),
            (b"MODE B", 504),
            (b"STRU R", 504),
            (b"PORT 1,2,3", 501),
            (b"PORT 1,2,3,4,5,300", 501),
            (b"EPRT |1|::1|2000|", 501),
            (b"EPRT |3|x|1|", 504),
            (b"EPRT garbage", 501),
            (b"EPSV 2", 504),
            (b"MFMT 2020 f", 501),
            (b"MFMT 20201399000000 f", 501),
            (b"STOR \xFF\xFE", 501),
        ];
        for (line, code) in cases {
            let err = Command::parse(line).expect_err(&String::from_utf8_lossy(line));
            assert_eq!(
                err.code(),
                *code,
                "{:?}: {err}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn password_is_not_debug_printed() {
        let c = p("PASS hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn mdtm_times() {
        assert_eq!(parse_mdtm_time("19700101000000"), Ok(0));
        assert_eq!(parse_mdtm_time("20261124100300.123"), Ok(1_795_514_580));
        assert!(parse_mdtm_time("2026112410030").is_err());
        assert!(parse_mdtm_time("20260230000000").is_err());
    }
}
