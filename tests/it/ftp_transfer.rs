//! STOR/RETR and friends: bytes land in S3 exactly, interruptions lose nothing.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use crate::backend::Backend;
use crate::backend_tests;
use crate::harness::{TestEnv, pattern, read_all, wait_until};

const MIB: usize = 1024 * 1024;

fn store_and_retrieve_small_and_multipart(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut f = env.ftp("u", "p");
    let small = pattern(1000, 1);
    let big = pattern(12 * MIB + 123, 2); // part_size 5MiB → 3 parts
    f.put_file("small.bin", &mut &small[..]).unwrap();
    f.put_file("dir/big.bin", &mut &big[..]).unwrap();
    f.put_file("empty", &mut &b""[..]).unwrap();
    assert_eq!(env.get("small.bin").unwrap(), small);
    assert_eq!(env.get("dir/big.bin").unwrap(), big);
    assert_eq!(env.get("empty").unwrap(), b"");
    assert_eq!(f.retr_as_buffer("dir/big.bin").unwrap().into_inner(), big);
    assert_eq!(f.retr_as_buffer("small.bin").unwrap().into_inner(), small);
    assert_eq!(f.size("dir/big.bin").unwrap(), big.len());
    assert_eq!(env.open_uploads(), 0);
    // Below one part: one PutObject (plain MD5 ETag); above: multipart, 5 MiB parts (ETag "-3").
    let etag = |k: &str| env.etag(k);
    assert!(!etag("small.bin").contains('-'), "{}", etag("small.bin"));
    assert!(
        etag("dir/big.bin").ends_with("-3"),
        "{}",
        etag("dir/big.bin")
    );
    // Overwrite replaces.
    f.put_file("small.bin", &mut &b"new"[..]).unwrap();
    assert_eq!(env.get("small.bin").unwrap(), b"new");
    // Objects written by other tools are files too.
    env.put("other/tool.txt", b"from s3");
    assert_eq!(
        f.retr_as_buffer("other/tool.txt").unwrap().into_inner(),
        b"from s3"
    );
}

fn rest_retr_is_a_ranged_get(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let data = pattern(100_000, 3);
    env.put("f.bin", &data);
    let mut r = env.raw_login();
    r.expect("REST 40000", 350);
    let d = r.epsv();
    r.expect("RETR f.bin", 150);
    assert_eq!(read_all(d), &data[40000..]);
    assert_eq!(r.reply().0, 226);
    // At the very end: nothing to send, still a success.
    r.expect("REST 100000", 350);
    let d = r.epsv();
    r.expect("RETR f.bin", 150);
    assert!(read_all(d).is_empty());
    assert_eq!(r.reply().0, 226);
    // Past the end: 554, no data connection used.
    r.expect("REST 100001", 350);
    let _d = r.epsv();
    r.expect("RETR f.bin", 554);
    r.expect("RETR missing.bin", 550);
    // REST + STOR other than 0 is refused and changes nothing.
    r.expect("REST 10", 350);
    r.expect("STOR f.bin", 554);
    assert_eq!(env.get("f.bin").unwrap(), data);
}

fn ascii_mode_converts_line_endings(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut r = env.raw_login();
    r.expect("TYPE A", 200);
    let mut d = r.epsv();
    r.expect("STOR text.txt", 150);
    d.write_all(b"one\r\ntwo\r\n").unwrap();
    drop(d);
    assert_eq!(r.reply().0, 226);
    assert_eq!(env.get("text.txt").unwrap(), b"one\ntwo\n");
    let d = r.epsv();
    r.expect("RETR text.txt", 150);
    assert_eq!(read_all(d), b"one\r\ntwo\r\n");
    assert_eq!(r.reply().0, 226);
    r.expect("TYPE I", 200);
    let d = r.epsv();
    r.expect("RETR text.txt", 150);
    assert_eq!(read_all(d), b"one\ntwo\n");
}

fn active_mode_eprt_and_port(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("a.txt", b"active");
    let mut r = env.raw_login();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    r.expect(&format!("EPRT |1|127.0.0.1|{port}|"), 200);
    r.expect("RETR a.txt", 150);
    let (s, _) = l.accept().unwrap();
    assert_eq!(read_all(s), b"active");
    assert_eq!(r.reply().0, 226);
    r.expect(
        &format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xFF),
        200,
    );
    r.expect("LIST", 150);
    let (s, _) = l.accept().unwrap();
    assert!(String::from_utf8(read_all(s)).unwrap().contains("a.txt"));
    assert_eq!(r.reply().0, 226);
    // RFC 2577: no bounce to other hosts, no privileged ports.
    r.expect("PORT 10,0,0,1,4,1", 501);
    r.expect("EPRT |1|127.0.0.2|2000|", 501);
    r.expect("PORT 127,0,0,1,0,25", 504);
    r.expect("RETR a.txt", 425);
}

fn passive_connections_from_other_hosts_are_dropped(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("a.txt", b"mine");
    let mut r = env.raw_login();
    let text = r.expect("EPSV", 229);
    let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
    // A hijacker on 127.0.0.2 connects first (the control connection is on 127.0.0.1).
    let script = "import socket,sys\ns=socket.socket(); s.bind(('127.0.0.2',0)); s.connect(('127.0.0.1',int(sys.argv[1])))\n\
                  print('connected',flush=True); s.settimeout(20)\ntry:\n  print('recv',len(s.recv(100)),flush=True)\nexcept Exception as e:\n  print('recv-error',e,flush=True)";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 for the hijack test");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "connected");
    let good = TcpStream::connect(("127.0.0.1", port)).unwrap();
    r.expect("RETR a.txt", 150);
    assert_eq!(read_all(good), b"mine");
    assert_eq!(r.reply().0, 226);
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert!(
        line.trim() == "recv 0" || line.starts_with("recv-error"),
        "hijacker got data: {line}"
    );
    let _ = child.wait();
    // passive.peer_check: false (clients behind address-changing NAT) accepts any address.
    let env = TestEnv::start(b, |c| c.passive.peer_check = false);
    env.put("a.txt", b"nat");
    let mut r = env.raw_login();
    let text = r.expect("EPSV", 229);
    let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
    let mut child = std::process::Command::new("python3")
        .args(["-c", "import socket,sys\ns=socket.socket(); s.bind(('127.0.0.2',0)); s.connect(('127.0.0.1',int(sys.argv[1])))\nprint('got', s.makefile('rb').read().decode(), flush=True)", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    r.expect("RETR a.txt", 150);
    assert_eq!(r.reply().0, 226);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(out.trim(), "got nat");
    let _ = child.wait();
}

fn passive_ports_are_random_and_one_per_session(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.passive.ports = crate::ports::range(100).parse().unwrap()
    });
    let mut r = env.raw_login();
    let mut ports = Vec::new();
    for _ in 0..12 {
        let text = r.expect("EPSV", 229);
        ports.push(text.split('|').nth(3).unwrap().parse::<u16>().unwrap());
    }
    let sequential = ports
        .windows(2)
        .filter(|w| w[1] == w[0] + 1 || w[1] == w[0])
        .count();
    assert!(sequential < 6, "ports look sequential: {ports:?}");
    // A new EPSV releases the previous listener: one data connection per session.
    let last = *ports.last().unwrap();
    let stale = ports[ports.len() - 2];
    // The old listener closes asynchronously, just after the reply; wait for it.
    let mut closed = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", stale)).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(closed, "old passive port {stale} still listening");
    let d = std::net::TcpStream::connect(("127.0.0.1", last)).unwrap();
    env.put("x", b"y");
    r.expect("RETR x", 150);
    assert_eq!(read_all(d), b"y");
}

fn passive_accept_times_out(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.limits.passive_timeout = s3ftpd::config::Dur(Duration::from_secs(1))
    });
    env.put("a.txt", b"x");
    let mut r = env.raw_login();
    r.expect("EPSV", 229);
    let (code, text) = r.cmd("RETR a.txt");
    assert_eq!(code, 425, "{text}");
    r.expect("RETR a.txt", 425); // the listener is gone after one use
    r.expect("NOOP", 200);
}

fn client_vanishing_mid_upload_changes_nothing(b: Backend) {
    let env = TestEnv::start(b, crate::observe::with_metrics);
    env.put("keep.bin", b"previous version");
    for (n, size) in [1000, 7 * MIB].into_iter().enumerate() {
        let mut r = env.raw_login();
        let mut d = r.epsv();
        r.expect("STOR keep.bin", 150);
        d.write_all(&pattern(size, 9)).unwrap();
        d.flush().unwrap();
        // The client dies: control first, then data, once the gateway has
        // seen the control connection go.
        r.into_stream().shutdown(Shutdown::Both).unwrap();
        wait_until(|| crate::observe::failed_uploads(&env) == (n + 1) as f64);
        drop(d);
        wait_until(|| env.open_uploads() == 0);
        assert_eq!(
            env.get("keep.bin").unwrap(),
            b"previous version",
            "size {size}"
        );
    }
}

fn keep_partial_commits_what_arrived(b: Backend) {
    let env = TestEnv::start(b, |c| c.uploads.keep_partial = true);
    for size in [1000, 7 * MIB] {
        let sent = pattern(size, 11);
        let mut r = env.raw_login();
        let mut d = r.epsv();
        r.expect("STOR partial.bin", 150);
        d.write_all(&sent).unwrap();
        d.flush().unwrap();
        r.wait_for_transfer(sent.len() as u64);
        r.into_stream().shutdown(Shutdown::Both).unwrap();
        wait_until(|| {
            env.get("partial.bin").is_some_and(|got| !got.is_empty()) && env.open_uploads() == 0
        });
        let got = env.get("partial.bin").unwrap();
        assert!(
            got.len() <= sent.len() && got == sent[..got.len()],
            "size {size}: kept bytes are a prefix of what was sent"
        );
        assert_eq!(
            got.len(),
            sent.len(),
            "size {size}: everything the server had received was kept"
        );
        drop(d);
        env.rt.block_on(async {
            env.s3
                .delete_object()
                .bucket(&env.bucket)
                .key(env.key("partial.bin"))
                .send()
                .await
                .unwrap()
        });
    }
}

fn stalled_data_connection_times_out(b: Backend) {
    let env = TestEnv::start(b, |c| {
        c.limits.data_timeout = s3ftpd::config::Dur(Duration::from_secs(1))
    });
    env.put("keep.bin", b"previous version");
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("STOR keep.bin", 150);
    d.write_all(&pattern(6 * MIB, 12)).unwrap(); // a multipart upload starts, then the client stalls
    let (code, text) = r.reply();
    assert_eq!(code, 426, "{text}");
    assert!(text.contains("timed out"), "{text}");
    wait_until(|| env.open_uploads() == 0);
    assert_eq!(env.get("keep.bin").unwrap(), b"previous version");
    r.expect("NOOP", 200);
    drop(d);
}

fn data_connection_reset_mid_upload_gives_426(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    env.put("keep.bin", b"previous version");
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("STOR keep.bin", 150);
    d.write_all(&pattern(6 * MIB, 4)).unwrap();
    // RST instead of FIN: linger 0.
    let sock = socket_with_linger_zero(d);
    drop(sock);
    let (code, text) = r.reply();
    assert_eq!(code, 426, "{text}");
    wait_until(|| env.open_uploads() == 0);
    assert_eq!(env.get("keep.bin").unwrap(), b"previous version");
    r.expect("NOOP", 200);
}

/// A socket whose close sends RST (SO_LINGER 0; std has no setter, tokio does).
fn socket_with_linger_zero(s: TcpStream) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt.enter();
    s.set_nonblocking(true).unwrap();
    let t = tokio::net::TcpStream::from_std(s).unwrap();
    t.set_zero_linger().unwrap();
    let std = t.into_std().unwrap();
    std.set_nonblocking(false).unwrap();
    std
}

fn abor_during_download_and_upload(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let big = pattern(30 * MIB, 5);
    env.put("big.bin", &big);
    env.put("keep.bin", b"old");
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("RETR big.bin", 150);
    let mut buf = vec![0u8; 64 * 1024];
    d.read_exact(&mut buf).unwrap(); // transfer is under way; we stop reading
    r.send_bytes(b"\xff\xf4\xff\xf2ABOR\r\n");
    let (c1, t1) = r.reply();
    let (c2, t2) = r.reply();
    assert_eq!((c1, c2), (426, 226), "{t1} {t2}");
    drop(d);
    // ABOR of an upload: nothing committed, multipart aborted.
    let mut d = r.epsv();
    r.expect("STOR keep.bin", 150);
    d.write_all(&pattern(11 * MIB, 6)).unwrap();
    r.send("ABOR");
    let (c1, _) = r.reply();
    let (c2, _) = r.reply();
    assert_eq!((c1, c2), (426, 226));
    drop(d);
    wait_until(|| env.open_uploads() == 0);
    assert_eq!(env.get("keep.bin").unwrap(), b"old");
    r.expect("NOOP", 200);
}

fn stou_makes_unique_names(b: Backend) {
    let env = TestEnv::start(b, |_| {});
    let mut r = env.raw_login();
    let mut names = Vec::new();
    for _ in 0..2 {
        let mut d = r.epsv();
        let text = r.expect("STOU", 150);
        d.write_all(b"unique").unwrap();
        drop(d);
        let done = r.reply();
        assert_eq!(done.0, 226, "{}", done.1);
        names.push(text.trim().rsplit(' ').next().unwrap().to_owned());
    }
    assert_ne!(names[0], names[1]);
    for n in &names {
        assert_eq!(env.get(n).unwrap(), b"unique");
    }
}

fn s3_going_away_gives_451_and_session_survives(b: Backend) {
    if b != Backend::Embedded {
        return; // only the in-process store can be stopped by the test
    }
    let env = TestEnv::start(b, |_| {});
    env.put("a.txt", b"x");
    let mut r = env.raw_login();
    env.rt
        .block_on(env.gateway().embedded().unwrap().shutdown());
    let (code, text) = r.cmd("SIZE a.txt");
    assert_eq!(code, 451, "{text}");
    // The upload's checks run beside it (storage::FolderCheck): the
    // failure comes after the 150, once the client has sent its bytes.
    let mut d = r.epsv();
    r.expect("STOR b.txt", 150);
    let _ = d.write_all(b"bytes");
    drop(d);
    let (code, text) = r.reply();
    assert_eq!(code, 451, "{text}");
    r.expect("NOOP", 200);
}

fn s3_going_away_mid_download(b: Backend) {
    if b != Backend::Embedded {
        return; // only the in-process store can be stopped by the test
    }
    let env = TestEnv::start(b, |_| {});
    env.put("big.bin", &pattern(40 * MIB, 8));
    let mut r = env.raw_login();
    let mut d = r.epsv();
    r.expect("RETR big.bin", 150);
    let mut buf = vec![0u8; 1024 * 1024];
    d.read_exact(&mut buf).unwrap();
    env.rt
        .block_on(env.gateway().embedded().unwrap().shutdown());
    let reader = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = d.read_to_end(&mut sink);
        sink.len()
    });
    let (code, text) = r.reply();
    assert!(code == 451 || code == 426, "{code} {text}");
    assert!(
        reader.join().unwrap() < 39 * MIB,
        "the client did not get a silently truncated 'complete' file"
    );
    r.expect("NOOP", 200);
}

fn pasv_announces_public_host(b: Backend) {
    let env = TestEnv::start(b, |c| c.passive.public_host = Some("localhost".into()));
    env.put("a.txt", b"via pasv");
    let mut r = env.raw_login();
    let text = r.expect("PASV", 227);
    let nums: Vec<u16> = text[text.find('(').unwrap() + 1..text.find(')').unwrap()]
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(&nums[..4], [127, 0, 0, 1], "{text}");
    let port = nums[4] * 256 + nums[5];
    let d = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    r.expect("RETR a.txt", 150);
    assert_eq!(read_all(d), b"via pasv");
    assert_eq!(r.reply().0, 226);
    let env = TestEnv::start(b, |c| c.passive.public_host = Some("203.0.113.7".into()));
    let mut r = env.raw_login();
    assert!(
        r.expect("PASV", 227).contains("(203,0,113,7,"),
        "NAT address announced"
    );
}

fn two_passive_ports_serve_many_sessions(b: Backend) {
    let ports = crate::ports::range(2);
    let env = TestEnv::start(b, |c| c.passive.ports = ports.parse().unwrap());
    env.put("a.txt", b"shared ports");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut f = env.ftp("u", "p");
                for _ in 0..10 {
                    assert_eq!(
                        f.retr_as_buffer("a.txt").unwrap().into_inner(),
                        b"shared ports"
                    );
                }
            });
        }
    });
}

backend_tests!(
    passive_ports_are_random_and_one_per_session,
    pasv_announces_public_host,
    two_passive_ports_serve_many_sessions,
    store_and_retrieve_small_and_multipart,
    rest_retr_is_a_ranged_get,
    ascii_mode_converts_line_endings,
    active_mode_eprt_and_port,
    passive_connections_from_other_hosts_are_dropped,
    passive_accept_times_out,
    client_vanishing_mid_upload_changes_nothing,
    data_connection_reset_mid_upload_gives_426,
    abor_during_download_and_upload,
    stou_makes_unique_names,
    s3_going_away_gives_451_and_session_survives,
    s3_going_away_mid_download,
    keep_partial_commits_what_arrived,
    stalled_data_connection_times_out,
);
