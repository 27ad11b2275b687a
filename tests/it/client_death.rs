//! A client *process* killed with SIGKILL in the middle of an upload: its
//! kernel closes the data connection with an ordinary FIN, exactly like a
//! completed upload, and closes the control connection at the same moment.
//! Nothing may be committed: the previous object stays, a new name never
//! appears, no multipart upload is left, and the xferlog says `i`.
//! Real programs (curl, lftp, Python's ftplib), plain and TLS, small and
//! multipart, new files and overwrites, and both orders of the two FINs.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::backend::Backend;
use crate::backend_tests;
use crate::ftps::{TestCert, test_cert};
use crate::harness::{TestEnv, available, pattern, wait_until};

const MIB: usize = 1024 * 1024;

/// The client programs, as a batch job would run them (uploading stdin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Curl,
    Lftp,
    /// Python's ftplib; `true`: the data connection's FIN leaves first.
    Python {
        data_first: bool,
    },
}

impl Client {
    fn program(self) -> &'static str {
        match self {
            Self::Curl => "curl",
            Self::Lftp => "lftp",
            Self::Python { .. } => "python3",
        }
    }

    /// Starts an upload of stdin to `name`; stdout and stderr are piped.
    fn spawn(self, port: u16, name: &str, tls: bool) -> Child {
        let mut cmd = match self {
            Self::Curl => {
                let mut c = Command::new("curl");
                c.args(["-sS", "-v", "-T", "-"]);
                if tls {
                    c.args(["--ssl-reqd", "-k"]);
                }
                c.arg(format!("ftp://u:p@127.0.0.1:{port}/{name}"));
                c
            }
            Self::Lftp => {
                let tls = if tls {
                    "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:verify-certificate no"
                } else {
                    "set ftp:ssl-allow no"
                };
                let mut c = Command::new("lftp");
                c.args(["-d", "-c"]).arg(format!(
                    "open -u u,p -p {port} 127.0.0.1; set net:max-retries 1; {tls}; put /dev/stdin -o {name}"
                ));
                c
            }
            Self::Python { data_first } => {
                let script =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/stor_stdin.py");
                let mut c = Command::new("python3");
                c.arg(script).arg(port.to_string()).args([
                    name,
                    if tls { "tls" } else { "plain" },
                    if data_first {
                        "data-first"
                    } else {
                        "control-first"
                    },
                ]);
                c
            }
        };
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {self:?}: {e}"))
    }
}

/// Lines of both output pipes of a child, as they come.
fn output_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let pipes: [Box<dyn Read + Send>; 2] = [
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    for pipe in pipes {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// Bytes the process has read so far, files and pipes (Linux; socket
/// reads and writes are not counted).
fn read_by(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("rchar:").map(|v| v.trim().parse().ok()))
                .flatten()
        })
        .unwrap_or(0)
}

/// The xferlog line of `name`, once the gateway wrote it.
fn xferlog_line(log: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(log)
        .ok()?
        .lines()
        .find(|l| l.contains(&format!("/{name} ")))
        .map(str::to_owned)
}

struct Case {
    client: Client,
    tls: bool,
    /// Bytes the client sends before it is killed: 1 MiB (one PutObject;
    /// more than lftp reads ahead, so the kill lands mid-transfer) or 12
    /// MiB (multipart with the tests' 5 MiB parts).
    sent: usize,
    /// Whether the name already holds an object.
    overwrite: bool,
}

/// Runs one case: the client sends `sent` bytes (and waits for more),
/// is killed with SIGKILL, and the gateway must commit nothing.
fn killed_upload(env: &TestEnv, log: &Path, case: &Case, n: usize) {
    let name = format!("k{n}-{:?}.bin", case.client).replace([' ', '{', '}', ':'], "");
    let previous = b"previous version".to_vec();
    if case.overwrite {
        env.put(&name, &previous);
    }
    let mut child = case.client.spawn(env.addr.port(), &name, case.tls);
    let pid = child.id();
    // What the client read before our bytes: Python reads its modules
    // first and stdin only after the 150, so it reports the figure with the
    // 150; curl and lftp may read stdin before the 150 and read little else.
    let mut before = read_by(pid);
    let lines = output_lines(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    let body = pattern(case.sent, n as u64);
    let writer = std::thread::spawn(move || {
        stdin.write_all(&body).unwrap();
        stdin.flush().unwrap();
        stdin // kept open: the client waits for more
    });
    let started = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(20)).ok())
        .find(|l| l.starts_with("150") || l.contains("< 150") || l.contains("<--- 150"));
    let started = started.unwrap_or_else(|| panic!("{:?}: no 150 for STOR", case.client));
    if let Some(n) = started.strip_prefix("150 rchar=") {
        before = n.parse().unwrap();
    }
    // The client has read everything from its stdin and sent it on: the
    // bytes are on their way to the gateway, and it waits for more input.
    wait_until(|| read_by(pid) >= before + case.sent as u64);
    let stdin = writer.join().unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(stdin);
    wait_until(|| xferlog_line(log, &name).is_some());
    let line = xferlog_line(log, &name).unwrap();
    let what = format!(
        "{:?} tls={} sent={} overwrite={}",
        case.client, case.tls, case.sent, case.overwrite
    );
    assert!(line.ends_with(" i"), "{what}: logged as complete: {line}");
    wait_until(|| env.open_uploads() == 0);
    match env.get(&name) {
        Some(got) if case.overwrite => assert!(
            got == previous,
            "{what}: previous object replaced ({} bytes)",
            got.len()
        ),
        Some(got) => panic!("{what}: a truncated object of {} bytes appeared", got.len()),
        None => assert!(!case.overwrite, "{what}: previous object deleted"),
    }
}

fn gateway_with_xferlog(
    b: Backend,
    cert: Option<&TestCert>,
) -> (TestEnv, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("xferlog");
    let env = TestEnv::start(b, |c| {
        c.log.transfer_log = Some(log.clone());
        if let Some(cert) = cert {
            c.tls = Some(s3ftpd::config::Tls {
                cert: cert.cert.clone(),
                key: cert.key.clone(),
                implicit_listen: None,
                required: false,
                required_data: None,
                require_session_reuse: false,
                strict_eof: true,
                client_ca: None,
            });
        }
    });
    (env, dir, log)
}

fn killed_plain_clients_commit_nothing(b: Backend) {
    let clients = [
        Client::Curl,
        Client::Lftp,
        Client::Python { data_first: false },
        Client::Python { data_first: true },
    ];
    if !clients.iter().all(|c| available(c.program())) {
        return;
    }
    let (env, _dir, log) = gateway_with_xferlog(b, None);
    let mut n = 0;
    for client in clients {
        for (sent, overwrite) in [(MIB, false), (MIB, true), (12 * MIB, true)] {
            n += 1;
            let case = Case {
                client,
                tls: false,
                sent,
                overwrite,
            };
            killed_upload(&env, &log, &case, n);
        }
    }
    // The gateway is unharmed: a complete upload still lands.
    let mut f = env.ftp("u", "p");
    f.put_file("after.bin", &mut &b"complete"[..]).unwrap();
    assert_eq!(env.get("after.bin").unwrap(), b"complete");
}

fn killed_tls_clients_commit_nothing(b: Backend) {
    let clients = [
        Client::Curl,
        Client::Lftp,
        Client::Python { data_first: true },
    ];
    if !clients.iter().all(|c| available(c.program())) {
        return;
    }
    let cert = test_cert();
    let (env, _dir, log) = gateway_with_xferlog(b, Some(&cert));
    let mut n = 100;
    for client in clients {
        for (sent, overwrite) in [(MIB, true), (12 * MIB, true)] {
            n += 1;
            let case = Case {
                client,
                tls: true,
                sent,
                overwrite,
            };
            killed_upload(&env, &log, &case, n);
        }
    }
}

backend_tests!(
    killed_plain_clients_commit_nothing,
    killed_tls_clients_commit_nothing
);
