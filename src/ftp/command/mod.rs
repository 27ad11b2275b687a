//! FTP commands: one enum, parsed from a control line without any I/O.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::reply::Code;
use crate::config::Secret;

mod names;
mod site;
pub use site::Site;

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
    /// HASH: a file's digest (draft-bryan-ftpext-hash).
    Hash(String),
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
    /// `EPSV [1|2]`
    Epsv,
    /// `EPSV ALL` (RFC 2428): from now on only EPSV sets up data connections.
    EpsvAll,
    /// `SITE subcommand`
    Site(Site),
    /// `PORT h1,h2,h3,h4,p1,p2`
    Port(SocketAddr),
    /// `EPRT |af|addr|port|`
    Eprt(SocketAddr),
    /// `AUTH TLS` / `AUTH SSL` (RFC 4217)
    Auth(String),
    /// `PBSZ 0`
    Pbsz(String),
    /// `PROT C|P` (other levels parse too and are refused by the handler)
    Prot(String),
    /// `CCC` (always refused)
    Ccc,
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
    /// EPRT/EPSV naming an address family the server does not speak (522,
    /// with the families it does, RFC 2428).
    #[error("Network protocol not supported, use ({0})")]
    Family(&'static str),
}

impl ParseError {
    /// The FTP reply code for this error.
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Empty | Self::BadVerb => Code::SyntaxError,
            Self::Unsupported(_) => Code::ParameterNotImplemented,
            Self::Family(_) => Code::ProtocolNotSupported,
            _ => Code::BadArguments,
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
        return Err(ParseError::Family("1,2"));
    }
    let ip: IpAddr = addr.parse().map_err(|_| bad("EPRT", "bad address"))?;
    match (af, ip) {
        ("1", IpAddr::V4(_)) | ("2", IpAddr::V6(_)) => {}
        ("1" | "2", _) => return Err(bad("EPRT", "address does not match the family")),
        _ => {
            return Err(ParseError::Family("1,2"));
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
    /// The verb, for metrics (a fixed set: never client text).
    #[must_use]
    pub fn verb(&self) -> &'static str {
        match self {
            Self::User(..) => "USER",
            Self::Pass(..) => "PASS",
            Self::Quit => "QUIT",
            Self::Noop => "NOOP",
            Self::Syst => "SYST",
            Self::Feat => "FEAT",
            Self::Opts(..) => "OPTS",
            Self::Help => "HELP",
            Self::Stat(..) => "STAT",
            Self::Type(..) => "TYPE",
            Self::Mode => "MODE",
            Self::Stru => "STRU",
            Self::Allo => "ALLO",
            Self::Pwd => "PWD",
            Self::Cwd(..) => "CWD",
            Self::Cdup => "CDUP",
            Self::Mkd(..) => "MKD",
            Self::Rmd(..) => "RMD",
            Self::Dele(..) => "DELE",
            Self::Rnfr(..) => "RNFR",
            Self::Rnto(..) => "RNTO",
            Self::Size(..) => "SIZE",
            Self::Mdtm(..) => "MDTM",
            Self::Hash(..) => "HASH",
            Self::Mfmt { .. } => "MFMT",
            Self::Rest(..) => "REST",
            Self::Retr(..) => "RETR",
            Self::Stor(..) => "STOR",
            Self::Stou(..) => "STOU",
            Self::Appe(..) => "APPE",
            Self::Abor => "ABOR",
            Self::List(..) => "LIST",
            Self::Nlst(..) => "NLST",
            Self::Mlsd(..) => "MLSD",
            Self::Mlst(..) => "MLST",
            Self::Pasv => "PASV",
            Self::Epsv | Self::EpsvAll => "EPSV",
            Self::Site(..) => "SITE",
            Self::Port(..) => "PORT",
            Self::Eprt(..) => "EPRT",
            Self::Auth(..) => "AUTH",
            Self::Pbsz(..) => "PBSZ",
            Self::Prot(..) => "PROT",
            Self::Ccc => "CCC",
            Self::Unknown(_) => "UNKNOWN",
        }
    }

    /// Parses one control line (without its CRLF).
    ///
    /// # Errors
    /// A [`ParseError`] whose [`ParseError::code`] is the reply code.
    #[allow(
        clippy::too_many_lines,
        reason = "the command table: one arm per verb, read as a list"
    )]
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
            "HASH" => Self::Hash(need("HASH", arg)?),
            "MDTM" => {
                let a = need("MDTM", arg)?;
                // `MDTM YYYYMMDDHHMMSS[.sss] path` sets the time (the older
                // form of MFMT that some clients send).
                match a
                    .split_once(' ')
                    .filter(|(_, p)| !p.is_empty())
                    .and_then(|(t, p)| Some((parse_mdtm_time(t).ok()?, p)))
                {
                    Some((time, path)) => Self::Mfmt {
                        time,
                        path: path.to_owned(),
                    },
                    None => Self::Mdtm(a),
                }
            }
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
                None | Some("" | "1") => Self::Epsv,
                Some("ALL") => Self::EpsvAll,
                Some("2") => {
                    return Err(ParseError::Family("1"));
                }
                Some(_) => return Err(bad("EPSV", "expected ALL, 1 or 2")),
            },
            "PORT" => Self::Port(parse_port(&need("PORT", arg)?)?),
            "EPRT" => Self::Eprt(parse_eprt(&need("EPRT", arg)?)?),
            "AUTH" => Self::Auth(need("AUTH", arg)?.trim().to_ascii_uppercase()),
            "PBSZ" => Self::Pbsz(need("PBSZ", arg)?.trim().to_owned()),
            "PROT" => Self::Prot(need("PROT", arg)?.trim().to_ascii_uppercase()),
            "CCC" => Self::Ccc,
            "SITE" => Self::Site(site::parse(&need("SITE", arg)?)?),
            _ => Self::Unknown(verb),
        })
    }
}

#[cfg(test)]
mod tests;
