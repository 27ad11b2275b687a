//! What events cost per command: small STOR, DELE and MKD loops in one
//! session of a gateway without events, of one whose webhook (on loopback)
//! wants every event (so every data event goes through the outbox in the
//! far S3), and of one whose webhook never answers; and one large STOR
//! beside a receiver that never answers. S3 requests per command are
//! counted from the gateway's own `s3ftpd_s3_requests_total`, the
//! outbox's background work (the deletes after delivery) included.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use s3ftpd::Gateway;

use crate::common::median;
use crate::work::{ftp_puts, stop, time};
use crate::{Far, Params, row};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A receiver on loopback: `204` to every POST (keep-alive), or, when
/// `silent`, connections accepted and never answered.
fn receiver(silent: bool) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            if silent {
                held.push(s);
            } else {
                std::thread::spawn(move || answer(s));
            }
        }
    });
    addr
}

fn answer(s: TcpStream) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    loop {
        let mut len = 0;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err()
            || w.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .is_err()
        {
            return;
        }
    }
}

/// The gateway's S3 requests so far, by operation.
fn s3_requests(g: &Gateway) -> BTreeMap<String, f64> {
    let mut s = TcpStream::connect(g.metrics_addr().unwrap()).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let mut by_op = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("s3ftpd_s3_requests_total{"))
    {
        let op = line
            .split("operation=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let n: f64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        *by_op.entry(op.to_owned()).or_default() += n;
    }
    by_op
}

fn gateway(rt: &tokio::runtime::Runtime, far: &Far, hook: Option<SocketAddr>) -> Gateway {
    let events = hook.map_or_else(String::new, |a| {
        format!("events: {{ webhooks: [ {{ url: 'http://{a}/', secret: '{SECRET}' }} ] }}\n")
    });
    far.gateway_yaml(
        rt,
        "[{ name: b, password: b }]",
        &format!("metrics: {{ listen: '127.0.0.1:0' }}\n{events}"),
    )
}

fn login(g: &Gateway) -> suppaftp::FtpStream {
    let mut f = suppaftp::FtpStream::connect(g.ftp_addr()).unwrap();
    f.login("b", "b").unwrap();
    f.transfer_type(suppaftp::types::FileType::Binary).unwrap();
    f
}

/// Times `n` STOR, DELE and MKD in one session; requests per command.
fn loops(g: &Gateway, n: usize, runs: usize) -> ([Duration; 3], String) {
    let (body, tag) = (Bytes::from(vec![7u8; 4096]), crate::work::stamp());
    let mut ftp = login(g);
    let mut t: [Vec<Duration>; 3] = Default::default();
    let before = s3_requests(g);
    for run in 0..runs {
        let p = format!("events/{tag}/{run}-");
        t[0].push(time(|| ftp_puts(&mut ftp, &p, n, &body)));
        t[1].push(time(|| {
            for i in 0..n {
                ftp.rm(format!("{p}{i}")).unwrap();
            }
        }));
        t[2].push(time(|| {
            for i in 0..n {
                ftp.mkdir(format!("{p}d{i}")).unwrap();
            }
        }));
    }
    let _ = ftp.quit();
    // Deliveries and the outbox's deletes run after the commands.
    std::thread::sleep(Duration::from_secs(2));
    let after = s3_requests(g);
    let commands = (3 * n * runs) as f64;
    let per: Vec<String> = after
        .iter()
        .map(|(op, v)| (op, v - before.get(op).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d > 0.0)
        .map(|(op, d)| format!("{op} {:.2}", d / commands))
        .collect();
    (t.map(median), per.join(", "))
}

pub fn events(rt: &tokio::runtime::Runtime, far: &Far, p: &Params) {
    let n = p.small;
    let plain = gateway(rt, far, None);
    let (base, base_req) = loops(&plain, n, p.runs);
    let ok = gateway(rt, far, Some(receiver(false)));
    let (with, with_req) = loops(&ok, n, p.runs);
    let dead = gateway(rt, far, Some(receiver(true)));
    let (mute, _) = loops(&dead, n, p.runs);
    let label = "no events";
    for (i, what) in ["STOR 4 KiB", "DELE", "MKD"].iter().enumerate() {
        row(
            &format!("{n} × {what}, webhook 2xx"),
            label,
            base[i],
            with[i],
            None,
        );
        row(
            &format!("{n} × {what}, webhook silent"),
            label,
            base[i],
            mute[i],
            None,
        );
    }
    println!("  S3 requests per command (STOR, DELE, MKD alike): no events: {base_req}");
    println!("  S3 requests per command, every event to a webhook: {with_req}");
    // One large upload beside a receiver that never answers.
    let big = Bytes::from(vec![3u8; p.size.min(64 * crate::common::MIB)]);
    let mut times: [Vec<Duration>; 2] = Default::default();
    for (i, g) in [&plain, &dead].into_iter().enumerate() {
        let mut ftp = login(g);
        for run in 0..p.runs {
            times[i].push(time(|| {
                ftp_puts(&mut ftp, &format!("events/big{i}-{run}-"), 1, &big)
            }));
        }
        let _ = ftp.quit();
    }
    let [a, b] = times.map(median);
    row(
        &format!(
            "STOR {} MiB, webhook silent",
            big.len() / crate::common::MIB
        ),
        label,
        a,
        b,
        Some(big.len()),
    );
    for g in [plain, ok, dead] {
        stop(rt, g);
    }
    // The silent receiver's events are still in the outbox: another
    // pass's gateways would take them over (and count their requests).
    rt.block_on(clear_outbox(&far.s3));
}

/// Deletes every outbox object of the bench's bucket.
async fn clear_outbox(s3: &aws_sdk_s3::Client) {
    let mut pages = s3
        .list_objects_v2()
        .bucket("bench")
        .prefix(".s3ftpd/outbox/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for o in page.unwrap().contents() {
            let key = o.key().unwrap();
            s3.delete_object()
                .bucket("bench")
                .key(key)
                .send()
                .await
                .unwrap();
        }
    }
}
