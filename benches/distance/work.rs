//! The workloads, each timed through the gateway and directly.

use std::io::Read;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use bytes::Bytes;
use futures::StreamExt;
use s3ftpd::Gateway;

use crate::common::{Generator, MIB, cpu_time, median, sdk_multipart};
use crate::ftp::Ctl;
use crate::{Far, Params, row};

const BUCKET: &str = "bench";

fn login(g: &Gateway) -> suppaftp::FtpStream {
    let mut f = suppaftp::FtpStream::connect(g.ftp_addr()).unwrap();
    f.login("b", "b").unwrap();
    f.transfer_type(suppaftp::types::FileType::Binary).unwrap();
    f
}

pub fn stop(rt: &tokio::runtime::Runtime, g: Gateway) {
    rt.block_on(g.shutdown(Duration::from_secs(5)));
}

/// Puts `n` small objects under `ls/` straight into the store (not timed).
pub async fn seed_listing(s3: &Client, n: usize) {
    futures::stream::iter(0..n)
        .map(|i| async move {
            s3.put_object()
                .bucket(BUCKET)
                .key(format!("ls/f{i:06}.txt"))
                .body(Bytes::from(format!("{i}\n")).into())
                .send()
                .await
                .unwrap();
        })
        .buffer_unordered(64)
        .collect::<()>()
        .await;
}

/// Sends a GET and reads its body: the number of bytes.
async fn body_len(
    req: aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder,
) -> usize {
    let out = req.send().await.unwrap();
    out.body.collect().await.unwrap().into_bytes().len()
}

/// A download as a careful engineer writes it: the first range tells the
/// size and the ETag; the rest follow `concurrency` at a time, each pinned
/// to that ETag. Returns the bytes read.
async fn ranged_get(s3: &Client, key: &str, part: usize, concurrency: usize) -> usize {
    let get = |range: String| s3.get_object().bucket(BUCKET).key(key).range(range);
    let first = get(format!("bytes=0-{}", part - 1)).send().await.unwrap();
    let total: usize = first
        .content_range()
        .and_then(|r| r.rsplit('/').next()?.parse().ok())
        .unwrap();
    let etag = first.e_tag().unwrap().to_owned();
    let mut n = first.body.collect().await.unwrap().into_bytes().len();
    let rest = (part..total).step_by(part).map(|start| {
        let end = (start + part).min(total) - 1;
        let req = get(format!("bytes={start}-{end}")).if_match(&etag);
        body_len(req)
    });
    let mut parts = futures::stream::iter(rest).buffer_unordered(concurrency);
    while let Some(len) = parts.next().await {
        n += len;
    }
    n
}

/// STOR and RETR of one large file.
pub fn transfer(rt: &tokio::runtime::Runtime, far: &Far, p: &Params) {
    let g = far.gateway(rt);
    let defaults = s3ftpd::Config::from_yaml("s3: { bucket: b }", Vec::new()).unwrap();
    let (part, conc) = (
        defaults.s3.part_size.0 as usize,
        defaults.s3.upload_concurrency,
    );
    let data = Bytes::from({
        let mut v = vec![0u8; p.size];
        Generator { left: p.size, x: 7 }.read_exact(&mut v).unwrap();
        v
    });
    let mut ftp = login(&g);
    // Wall and CPU time (the whole process: S3 server, delaying proxy,
    // gateway, both clients) of each: direct upload, STOR, direct
    // download, RETR. On loopback they are bound by the CPU.
    let mut t: [Vec<(Duration, Duration)>; 4] = Default::default();
    for _ in 0..p.runs {
        t[0].push(measure(|| {
            rt.block_on(sdk_multipart(
                &far.s3,
                BUCKET,
                "far/direct.bin",
                &data,
                part,
                conc,
            ));
        }));
        t[1].push(measure(|| {
            ftp.put_file("far/ftp.bin", &mut &data[..]).unwrap();
        }));
        t[2].push(measure(|| {
            let n = rt.block_on(ranged_get(&far.s3, "far/direct.bin", part, conc));
            assert_eq!(n, p.size);
        }));
        t[3].push(measure(|| {
            let n = ftp
                .retr("far/ftp.bin", |r| {
                    Ok(std::io::copy(r, &mut std::io::sink()).unwrap())
                })
                .unwrap();
            assert_eq!(n as usize, p.size);
        }));
    }
    let _ = ftp.quit();
    stop(rt, g);
    let wall = |i: usize| median(t[i].iter().map(|x| x.0).collect());
    let per_gib = |i: usize| {
        let cpu: Duration = t[i].iter().map(|x| x.1).sum();
        cpu.as_secs_f64() / (p.runs * p.size) as f64 * (1024 * MIB) as f64
    };
    let what = |verb: &str| format!("{verb} {} MiB", p.size / MIB);
    let mp = format!("multipart {} MiB × {conc}", part / MIB);
    let rg = format!("ranged GET {} MiB × {conc}", part / MIB);
    row(&what("STOR"), &mp, wall(0), wall(1), Some(p.size));
    row(&what("RETR"), &rg, wall(2), wall(3), Some(p.size));
    println!(
        "    CPU s per GiB (the whole process): multipart {:.2}, STOR {:.2}, ranged GET {:.2}, RETR {:.2}",
        per_gib(0),
        per_gib(1),
        per_gib(2),
        per_gib(3)
    );
}

/// (wall time, CPU time of the whole process) of `f`.
fn measure(f: impl FnOnce()) -> (Duration, Duration) {
    let (t, cpu) = (Instant::now(), cpu_time());
    f();
    (t.elapsed(), cpu_time() - cpu)
}

/// One ListObjectsV2 paginator over `ls/`: (first page, whole).
async fn raw_listing(s3: &Client) -> (Duration, Duration) {
    let started = Instant::now();
    let mut first = None;
    let mut pages = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("ls/")
        .delimiter("/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        page.unwrap();
        first.get_or_insert_with(|| started.elapsed());
    }
    (first.unwrap(), started.elapsed())
}

/// The time index of the `ls/` folder (see `src/storage/time_index.rs`).
const LS_INDEX: &str = ".s3ftpd/times/ls/.index";

/// LIST of `ls/` by a new gateway when the folder has no time index yet (a
/// HeadObject per file; the listing writes the index): (first line, whole).
/// `list_mtime`: the gateway's `s3.list_mtime`.
fn first_ever_list(
    rt: &tokio::runtime::Runtime,
    far: &Far,
    n: usize,
    list_mtime: &str,
) -> (Duration, Duration) {
    let index = |s3: &Client| s3.head_object().bucket(BUCKET).key(LS_INDEX).send();
    rt.block_on(far.s3.delete_object().bucket(BUCKET).key(LS_INDEX).send())
        .unwrap();
    let s3 = format!(", list_mtime: {list_mtime}");
    let g = far.gateway_s3(rt, "[{ name: b, password: b }]", &s3, "");
    let mut c = Ctl::login(g.ftp_addr(), "b", "b");
    let (first, whole, lines) = c.listing("LIST /ls");
    assert_eq!(lines, n);
    drop(c);
    // Written in the background after the listing: wait for it.
    let since = Instant::now();
    while rt.block_on(index(&far.s3)).is_err() {
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "no time index written"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(rt, g);
    (first, whole)
}

/// LIST, MLSD and NLST of the `ls/` folder: cold (a new gateway; the
/// folder's time index exists, as after any earlier listing), warm (the
/// same command again) and the first listing ever (no index yet), against
/// the raw listing.
pub fn listing(rt: &tokio::runtime::Runtime, far: &Far, p: &Params) {
    // `auto` first: its index holds only the files it looked up, and the
    // cold listings below need the whole index the `metadata` one writes.
    let (auto_first, auto_whole) = first_ever_list(rt, far, p.files, "auto");
    let (ever_first, ever_whole) = first_ever_list(rt, far, p.files, "metadata");
    let mut raw = (vec![], vec![]);
    let mut cold: [(Vec<Duration>, Vec<Duration>); 3] = Default::default();
    let mut warm: [Vec<Duration>; 3] = Default::default();
    for _ in 0..p.runs {
        let (first, whole) = rt.block_on(raw_listing(&far.s3));
        raw.0.push(first);
        raw.1.push(whole);
        for (i, cmd) in ["LIST /ls", "MLSD /ls", "NLST /ls"].into_iter().enumerate() {
            let g = far.gateway(rt);
            let mut c = Ctl::login(g.ftp_addr(), "b", "b");
            let (first, whole, lines) = c.listing(cmd);
            assert_eq!(lines, p.files, "{cmd}");
            cold[i].0.push(first);
            cold[i].1.push(whole);
            warm[i].push(c.listing(cmd).1);
            drop(c);
            stop(rt, g);
        }
    }
    let n = p.files;
    let (raw_first, raw_whole) = (median(raw.0), median(raw.1));
    let base = "ListObjectsV2 paginator";
    row(
        &format!("LIST {n}, first ever"),
        base,
        raw_whole,
        ever_whole,
        None,
    );
    row(
        &format!("LIST {n}, first ever, 1st line"),
        "first page",
        raw_first,
        ever_first,
        None,
    );
    row(
        &format!("LIST {n}, first ever, auto"),
        base,
        raw_whole,
        auto_whole,
        None,
    );
    row(
        &format!("LIST {n}, 1st ever, auto, 1st line"),
        "first page",
        raw_first,
        auto_first,
        None,
    );
    for (i, verb) in ["LIST", "MLSD", "NLST"].into_iter().enumerate() {
        let (first, whole) = std::mem::take(&mut cold[i]);
        row(
            &format!("{verb} {n}, cold"),
            base,
            raw_whole,
            median(whole),
            None,
        );
        row(
            &format!("{verb} {n}, warm"),
            base,
            raw_whole,
            median(std::mem::take(&mut warm[i])),
            None,
        );
        row(
            &format!("{verb} {n}, first line"),
            "first page",
            raw_first,
            median(first),
            None,
        );
    }
}

/// The wall time `f` takes.
/// Milliseconds since the epoch: a tag that makes every run's names new.
pub fn stamp() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

pub fn time(f: impl FnOnce()) -> Duration {
    measure(f).0
}

/// `n` PutObjects of `body` to `{prefix}{i}`, one after another.
pub async fn sdk_puts(s3: &Client, prefix: &str, n: usize, body: &Bytes) {
    for i in 0..n {
        s3.put_object()
            .bucket(BUCKET)
            .key(format!("{prefix}{i}"))
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
    }
}

/// `n` GetObjects of `{prefix}{i}`, one after another.
async fn sdk_gets(s3: &Client, prefix: &str, n: usize, len: usize) {
    for i in 0..n {
        let o = s3.get_object().bucket(BUCKET).key(format!("{prefix}{i}"));
        assert_eq!(body_len(o).await, len);
    }
}

/// `n` STORs of `body` to `{prefix}{i}` in one FTP session.
pub fn ftp_puts(ftp: &mut suppaftp::FtpStream, prefix: &str, n: usize, body: &Bytes) {
    for i in 0..n {
        ftp.put_file(format!("{prefix}{i}"), &mut &body[..])
            .unwrap();
    }
}

/// `n` RETRs of `{prefix}{i}` in one FTP session.
pub fn ftp_gets(ftp: &mut suppaftp::FtpStream, prefix: &str, n: usize, len: usize) {
    for i in 0..n {
        let got = ftp.retr_as_buffer(&format!("{prefix}{i}")).unwrap();
        assert_eq!(got.into_inner().len(), len);
    }
}

/// `p.small` files of 4 KiB: STOR of new names, STOR over them again (the
/// gateway knows their versions), STOR over files another client wrote
/// (it does not), then RETR, each in one FTP session, against PutObject /
/// GetObject loops on a warm client (for S3 itself an overwrite costs what
/// a new name does).
pub fn small(rt: &tokio::runtime::Runtime, far: &Far, p: &Params) {
    let (body, n) = (Bytes::from(vec![7u8; 4096]), p.small);
    let g = far.gateway(rt);
    let mut ftp = login(&g);
    // New names at every call (every RTT): the RTT 0 pass's files must not
    // turn the next pass's "new names" into overwrites.
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let mut t: [Vec<Duration>; 6] = Default::default();
    for run in 0..p.runs {
        let (direct, mine) = (
            format!("small/{tag}/d{run}-"),
            format!("small/{tag}/f{run}-"),
        );
        t[0].push(time(|| rt.block_on(sdk_puts(&far.s3, &direct, n, &body))));
        t[1].push(time(|| ftp_puts(&mut ftp, &mine, n, &body)));
        t[2].push(time(|| ftp_puts(&mut ftp, &mine, n, &body)));
        // Files another client wrote: the gateway has not seen their versions.
        t[3].push(time(|| ftp_puts(&mut ftp, &direct, n, &body)));
        t[4].push(time(|| {
            rt.block_on(sdk_gets(&far.s3, &direct, n, body.len()))
        }));
        t[5].push(time(|| ftp_gets(&mut ftp, &mine, n, body.len())));
    }
    let _ = ftp.quit();
    stop(rt, g);
    let [sp, fp, fo, fu, sg, fg] = t.map(median);
    let put = "PutObject loop";
    row(&format!("{n} × STOR 4 KiB"), put, sp, fp, None);
    row(&format!("{n} × STOR 4 KiB, overwrite"), put, sp, fo, None);
    row(
        &format!("{n} × STOR 4 KiB, overwrite unseen"),
        put,
        sp,
        fu,
        None,
    );
    row(&format!("{n} × RETR 4 KiB"), "GetObject loop", sg, fg, None);
}
