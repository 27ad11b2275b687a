//! A bare FTP client for the listing workloads: it times the first byte of
//! a listing as well as the whole (suppaftp returns listings whole).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One logged-in control connection.
pub struct Ctl {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    addr: SocketAddr,
}

impl Ctl {
    /// Connects and logs in as `user`/`pass`.
    pub fn login(addr: SocketAddr, user: &str, pass: &str) -> Self {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(600))).unwrap();
        let mut c = Self {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
            addr,
        };
        c.expect(220);
        c.cmd(&format!("USER {user}"), 331);
        c.cmd(&format!("PASS {pass}"), 230);
        c.cmd("TYPE I", 200);
        c
    }

    fn reply(&mut self) -> (u16, String) {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        if line.as_bytes().get(3) == Some(&b'-') {
            loop {
                let mut more = String::new();
                self.reader.read_line(&mut more).unwrap();
                if more.is_empty() || more.starts_with(&format!("{code} ")) {
                    break;
                }
            }
        }
        (code, line)
    }

    fn expect(&mut self, want: u16) -> String {
        let (code, text) = self.reply();
        assert_eq!(code, want, "{text}");
        text
    }

    /// Sends one command line in one write, as FTP clients do. (`write!`
    /// would send the command and its CRLF in two segments: with Nagle's
    /// algorithm the second waits for the gateway's delayed ACK, about
    /// 40 ms per command, which earlier runs of this bench counted.)
    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
    }

    /// Sends `line` and expects `want`.
    pub fn cmd(&mut self, line: &str, want: u16) -> String {
        self.send(line);
        self.expect(want)
    }

    /// Runs a listing command (`LIST`, `NLST`, `MLSD`): (time to its first
    /// byte, time to its end, lines), from the moment the command is sent.
    pub fn listing(&mut self, command: &str) -> (Duration, Duration, usize) {
        let text = self.cmd("EPSV", 229);
        let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
        let mut data = TcpStream::connect((self.addr.ip(), port)).unwrap();
        let started = Instant::now();
        self.send(command);
        let mut buf = vec![0u8; 64 * 1024];
        let mut first = None;
        let mut lines = 0;
        loop {
            let n = data.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            first.get_or_insert_with(|| started.elapsed());
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
        }
        let whole = started.elapsed();
        self.expect(150);
        self.expect(226);
        (first.unwrap_or(whole), whole, lines)
    }
}
