//! Small uploads over FTPS with `tls.strict_eof` (the default): the
//! client's close_notify proves the end of each file, so the gateway
//! commits without the `uploads.commit_grace` wait. A bare client on
//! rustls, as curl, lftp and Python's ftplib behave: `AUTH TLS`, `PROT P`,
//! each data connection resuming the control connection's TLS session,
//! `TCP_NODELAY`, close_notify at the end of every file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::common::median;
use crate::work::{stop, time};
use crate::{Far, Params, row};

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A self-signed certificate for `localhost` in `dir`: (cert, key) paths
/// and the client's configuration trusting it.
fn certificate(dir: &std::path::Path) -> (String, String, Arc<ClientConfig>) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(c.cert.der().to_vec()))
        .unwrap();
    // TLS 1.2: a rustls client uses a TLS 1.3 ticket once (the gateway
    // sends two, on the control connection only), where OpenSSL's clients
    // (curl, lftp, Python) resume the control session on every data
    // connection; a 1.2 session resumes any number of times, as theirs do.
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let path = |p: std::path::PathBuf| p.display().to_string();
    (path(cert), path(key), Arc::new(config))
}

/// One FTPS control connection, logged in, `PROT P`.
struct Ftps {
    ctl: BufReader<Tls>,
    addr: SocketAddr,
    config: Arc<ClientConfig>,
}

fn tls(config: &Arc<ClientConfig>, sock: TcpStream) -> Tls {
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config.clone(), name).unwrap();
    StreamOwned::new(conn, sock)
}

fn read_reply(r: &mut impl BufRead) -> (u16, String) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
    if line.as_bytes().get(3) == Some(&b'-') {
        loop {
            let mut more = String::new();
            r.read_line(&mut more).unwrap();
            if more.is_empty() || more.starts_with(&format!("{code} ")) {
                break;
            }
        }
    }
    (code, line)
}

impl Ftps {
    fn login(addr: SocketAddr, config: Arc<ClientConfig>) -> Self {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_nodelay(true).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut plain = BufReader::new(sock);
        assert_eq!(read_reply(&mut plain).0, 220);
        plain.get_mut().write_all(b"AUTH TLS\r\n").unwrap();
        assert_eq!(read_reply(&mut plain).0, 234);
        let mut c = Self {
            ctl: BufReader::new(tls(&config, plain.into_inner())),
            addr,
            config,
        };
        for (cmd, want) in [
            ("USER b", 331),
            ("PASS b", 230),
            ("PBSZ 0", 200),
            ("PROT P", 200),
            ("TYPE I", 200),
        ] {
            c.cmd(cmd, want);
        }
        c
    }

    fn cmd(&mut self, line: &str, want: u16) -> String {
        let s = self.ctl.get_mut();
        s.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        s.flush().unwrap();
        let (code, text) = read_reply(&mut self.ctl);
        assert_eq!(code, want, "{line}: {text}");
        text
    }

    /// STOR of `body` as `name`: EPSV, connect, STOR, TLS (resumed), the
    /// bytes, close_notify, the 226.
    fn stor(&mut self, name: &str, body: &[u8]) {
        let text = self.cmd("EPSV", 229);
        let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
        let sock = TcpStream::connect((self.addr.ip(), port)).unwrap();
        sock.set_nodelay(true).unwrap();
        self.cmd(&format!("STOR {name}"), 150);
        let mut data = tls(&self.config, sock);
        data.write_all(body).unwrap();
        data.conn.send_close_notify();
        data.flush().unwrap();
        data.sock.shutdown(std::net::Shutdown::Write).unwrap();
        // The gateway's close_notify and FIN.
        data.sock
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let _ = data.read_to_end(&mut Vec::new());
        let (code, text) = read_reply(&mut self.ctl);
        assert_eq!(code, 226, "STOR {name}: {text}");
    }
}

/// `p.small` files of 4 KiB over FTPS with strict end of file, new names,
/// against the PutObject loop.
pub fn small_ftps(rt: &tokio::runtime::Runtime, far: &Far, p: &Params) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, config) = certificate(dir.path());
    let g = far.gateway_s3(
        rt,
        "[{ name: b, password: b }]",
        "",
        &format!("tls: {{ cert: '{cert}', key: '{key}' }}\n"),
    );
    let mut ftps = Ftps::login(g.ftp_addr(), config);
    let (body, n) = (Bytes::from(vec![7u8; 4096]), p.small);
    let tag = crate::work::stamp();
    let mut t: [Vec<Duration>; 2] = Default::default();
    for run in 0..p.runs {
        let direct = format!("small-tls/{tag}/d{run}-");
        t[0].push(time(|| {
            rt.block_on(crate::work::sdk_puts(&far.s3, &direct, n, &body))
        }));
        t[1].push(time(|| {
            for i in 0..n {
                ftps.stor(&format!("small-tls/{tag}/f{run}-{i}"), &body);
            }
        }));
    }
    drop(ftps);
    stop(rt, g);
    let [sp, fp] = t.map(median);
    row(
        &format!("{n} × STOR 4 KiB, FTPS strict EOF"),
        "PutObject loop",
        sp,
        fp,
        None,
    );
}
