//! What rights and limits cost per command: the same loops of small STOR,
//! RETR and NLST by an account with none (`b`) and by one with all of
//! them (`r`: a permission table, an address list, a session cap,
//! bandwidth limits too high to bind, a quota on its home), in two
//! sessions of one gateway. The baseline column is `b`.

use std::time::Duration;

use bytes::Bytes;

use crate::common::median;
use crate::work::{ftp_gets, ftp_puts, stop, time};
use crate::{Far, Params, row};

const USERS: &str = "[{ name: b, password: b }, { name: r, password: r, permissions: { /: ['*'], /locked: [list, download] }, allow_from: [127.0.0.0/8], max_sessions: 4, upload_bandwidth: 10Gbit/s, download_bandwidth: 10Gbit/s, quota: { bytes: 1TiB, files: 100000000 } }, { name: q, password: q, home: /ls, quota: { bytes: 1TiB } }]";

fn login(g: &s3ftpd::Gateway, user: &str) -> suppaftp::FtpStream {
    let mut f = suppaftp::FtpStream::connect(g.ftp_addr()).unwrap();
    f.login(user, user).unwrap();
    f.transfer_type(suppaftp::types::FileType::Binary).unwrap();
    f
}

/// `n` NLSTs of the folder `dir`.
fn nlsts(ftp: &mut suppaftp::FtpStream, dir: &str, n: usize) {
    for _ in 0..n {
        ftp.nlst(Some(dir)).unwrap();
    }
}

/// `n` refused STORs (`r` lacks `upload` in `/locked`).
fn refusals(ftp: &mut suppaftp::FtpStream, n: usize) {
    for i in 0..n {
        let e = ftp
            .put_file(format!("locked/x{i}"), &mut &b"x"[..])
            .unwrap_err();
        assert!(e.to_string().contains("550"), "{e}");
    }
}

pub fn rights(rt: &tokio::runtime::Runtime, far: &Far, p: &Params) {
    let (body, n) = (Bytes::from(vec![7u8; 4096]), p.small);
    let g = far.gateway_with(rt, USERS);
    let mut plain = login(&g, "b");
    let mut ruled = login(&g, "r");
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    // The first command under the quota counts the bucket (every key of
    // the bench's folders): once per `limits.quota_rescan`.
    let first = time(|| ftp_puts(&mut ruled, &format!("rights/{tag}/first-"), 1, &body));
    let mut t: [Vec<Duration>; 8] = Default::default();
    for run in 0..p.runs {
        let (b, r) = (
            format!("rights/{tag}/b{run}-"),
            format!("rights/{tag}/r{run}-"),
        );
        t[0].push(time(|| ftp_puts(&mut plain, &b, n, &body)));
        t[1].push(time(|| ftp_puts(&mut ruled, &r, n, &body)));
        t[2].push(time(|| ftp_puts(&mut plain, &b, n, &body)));
        t[3].push(time(|| ftp_puts(&mut ruled, &r, n, &body)));
        t[4].push(time(|| ftp_gets(&mut plain, &b, n, body.len())));
        t[5].push(time(|| ftp_gets(&mut ruled, &r, n, body.len())));
        t[6].push(time(|| nlsts(&mut plain, &format!("rights/{tag}"), n)));
        t[7].push(time(|| nlsts(&mut ruled, &format!("rights/{tag}"), n)));
    }
    let refused = time(|| refusals(&mut ruled, n));
    // A quota over the listing folder (BENCH_FILES keys): its first use
    // waits for the count, which is also how long a recount takes before
    // others' changes show.
    let mut q = login(&g, "q");
    let count = time(|| {
        let text = String::from_utf8_lossy(&q.site("QUOTA").unwrap().body).into_owned();
        assert!(text.contains(&format!("{} files", p.files)), "{text}");
    });
    let _ = q.quit();
    let _ = plain.quit();
    let _ = ruled.quit();
    stop(rt, g);
    let [bp, rp, bo, ro, bg, rg, bl, rl] = t.map(median);
    let base = "account without rights/limits";
    row(&format!("{n} × STOR 4 KiB"), base, bp, rp, None);
    row(&format!("{n} × STOR 4 KiB, overwrite"), base, bo, ro, None);
    row(&format!("{n} × RETR 4 KiB"), base, bg, rg, None);
    row(&format!("{n} × NLST"), base, bl, rl, None);
    println!(
        "  first STOR under the quota (counts the bucket): {:.3} s; {n} refused STOR: {:.3} s",
        first.as_secs_f64(),
        refused.as_secs_f64()
    );
    println!(
        "  count of a quota's folder of {} files (first SITE QUOTA): {:.3} s",
        p.files,
        count.as_secs_f64()
    );
}
