//! The parser table: every verb, its aliases, and the reply code of every error.

use super::*;

fn p(s: &str) -> Result<Command, ParseError> {
    Command::parse(s.as_bytes())
}

fn check(cases: Vec<(&str, Command)>) {
    for (line, want) in cases {
        assert_eq!(p(line).as_ref(), Ok(&want), "{line:?}");
    }
}

#[test]
fn table_of_session_and_navigation() {
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
    ];
    check(cases);
}

#[test]
fn table_of_files_and_transfers() {
    use Command as C;
    let cases: Vec<(&str, Command)> = vec![
        ("RNFR a", C::Rnfr("a".into())),
        ("RNTO b", C::Rnto("b".into())),
        ("SIZE f", C::Size("f".into())),
        ("MDTM f", C::Mdtm("f".into())),
        ("MDTM my file.txt", C::Mdtm("my file.txt".into())),
        ("MDTM 20200102030405", C::Mdtm("20200102030405".into())),
        (
            "MDTM 20200102030405 f",
            C::Mfmt {
                time: 1_577_934_245,
                path: "f".into(),
            },
        ),
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
        ("EPSV ALL", C::EpsvAll),
        ("epsv all", C::EpsvAll),
        (
            "PORT 127,0,0,1,4,1",
            C::Port("127.0.0.1:1025".parse().unwrap()),
        ),
        (
            "EPRT |1|127.0.0.1|2000|",
            C::Eprt("127.0.0.1:2000".parse().unwrap()),
        ),
        ("EPRT |2|::1|2000|", C::Eprt("[::1]:2000".parse().unwrap())),
        ("AUTH tls", C::Auth("TLS".into())),
        ("PBSZ 0", C::Pbsz("0".into())),
        ("PROT p", C::Prot("P".into())),
        ("CCC", C::Ccc),
        (
            "SITE CHMOD 777 x",
            C::Site(super::Site::Chmod { path: "x".into() }),
        ),
        ("SITE HELP", C::Site(super::Site::Help)),
        ("XYZZY", C::Unknown("XYZZY".into())),
    ];
    check(cases);
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
        (b"EPRT |3|x|1|", 522),
        (b"EPRT garbage", 501),
        (b"EPSV 2", 522),
        (b"AUTH", 501),
        (b"PROT", 501),
        (b"MFMT 2020 f", 501),
        (b"MFMT 20201399000000 f", 501),
        (b"STOR \xFF\xFE", 501),
    ];
    for (line, code) in cases {
        let err = Command::parse(line).expect_err(&String::from_utf8_lossy(line));
        assert_eq!(
            err.code().number(),
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

mod properties {
    use std::net::{IpAddr, SocketAddr};

    use proptest::prelude::*;

    use super::super::Command;

    proptest! {
        #[test]
        fn port_round_trips(ip in any::<[u8; 4]>(), port in any::<u16>()) {
            let [a, b, c, d] = ip;
            let line = format!("PORT {a},{b},{c},{d},{},{}", port >> 8, port & 0xFF);
            prop_assert_eq!(Command::parse(line.as_bytes()), Ok(Command::Port(SocketAddr::new(IpAddr::from(ip), port))));
        }

        #[test]
        fn eprt_round_trips(v4 in any::<[u8; 4]>(), v6 in any::<[u8; 16]>(), six in any::<bool>(), port in any::<u16>(), delim in prop::sample::select(vec!['|', '!', '#'])) {
            let ip = if six { IpAddr::from(v6) } else { IpAddr::from(v4) };
            let af = if six { 2 } else { 1 };
            let line = format!("EPRT {delim}{af}{delim}{ip}{delim}{port}{delim}");
            prop_assert_eq!(Command::parse(line.as_bytes()), Ok(Command::Eprt(SocketAddr::new(ip, port))));
        }

        #[test]
        fn parse_never_panics(line in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = Command::parse(&line);
        }
    }
}
