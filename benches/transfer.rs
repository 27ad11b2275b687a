//! Throughput and memory of the gateway against talking to S3 directly.
//!
//! `cargo bench --bench transfer` (`BENCH_SIZE_MIB` sets the file size,
//! default 256); the S3 server is the embedded store on loopback. First
//! stream an upload of 4 × that size from a generator and report the growth
//! of the process's peak RSS, which should stay near
//! `part_size × (upload_concurrency + 1)` (measured first, before the
//! benchmark holds any data). Then, for each run: upload and download the same bytes once through
//! FTP (suppaftp → s3ftpd → S3) and once with `aws-sdk-s3` straight to the
//! same S3 server, in the same process, and report the ratio.

// A bench is a script of steps read top to bottom; the 80-line rule
// (clippy.toml) holds for the product's own code in src/.
#![allow(clippy::too_many_lines)]

use std::io::Read;
use std::time::{Duration, Instant};

mod common;

use common::{Generator, MIB, mbps, median, peak_rss_kib, sdk_multipart};

fn main() {
    let size: usize = std::env::var("BENCH_SIZE_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
        * MIB;
    let runs = 3;
    // Bound as a whole: dropping it would delete the store's data directory.
    let bench = common::Bench::start("43000-43099");
    let common::Bench {
        rt,
        gateway,
        s3,
        config,
        ..
    } = &bench;
    let (part_size, concurrency) = (config.s3.part_size.0, config.s3.upload_concurrency);
    let mut ftp = suppaftp::FtpStream::connect(gateway.ftp_addr()).unwrap();
    ftp.login("b", "b").unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Binary)
        .unwrap();
    // Memory: a streamed upload several times larger than the bound.
    let stream_size = 4 * size;
    let before = peak_rss_kib();
    ftp.put_file(
        "stream.bin",
        &mut Generator {
            left: stream_size,
            x: 3,
        },
    )
    .unwrap();
    let growth_mib = (peak_rss_kib().saturating_sub(before)) as f64 / 1024.0;
    let bound = (part_size as usize * (concurrency + 1)) as f64 / MIB as f64;
    println!(
        "memory: streamed STOR of {} MiB: peak RSS grew {growth_mib:.0} MiB (bound part_size × (upload_concurrency + 1) = {bound:.0} MiB)",
        stream_size / MIB
    );
    let data = bytes::Bytes::from({
        let mut v = vec![0u8; size];
        Generator { left: size, x: 7 }.read_exact(&mut v).unwrap();
        v
    });

    let (mut ftp_up, mut ftp_down, mut sdk_up, mut sdk_down, mut sdk_mp) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let t = Instant::now();
        rt.block_on(
            s3.put_object()
                .bucket("bench")
                .key("direct.bin")
                .body(data.clone().into())
                .send(),
        )
        .unwrap();
        sdk_up.push(t.elapsed());
        let t = Instant::now();
        rt.block_on(sdk_multipart(
            s3,
            "bench",
            "direct-mp.bin",
            &data,
            part_size as usize,
            concurrency,
        ));
        sdk_mp.push(t.elapsed());
        let t = Instant::now();
        // Streamed to a sink, as the FTP client does.
        let got = rt.block_on(async {
            let mut body = s3
                .get_object()
                .bucket("bench")
                .key("direct.bin")
                .send()
                .await
                .unwrap()
                .body;
            let mut n = 0;
            while let Some(chunk) = body.try_next().await.unwrap() {
                n += chunk.len();
            }
            n
        });
        assert_eq!(got, size);
        sdk_down.push(t.elapsed());

        let t = Instant::now();
        ftp.put_file("ftp.bin", &mut &data[..]).unwrap();
        ftp_up.push(t.elapsed());
        let t = Instant::now();
        let n = ftp
            .retr("ftp.bin", |r| {
                Ok(std::io::copy(r, &mut std::io::sink()).unwrap())
            })
            .unwrap();
        assert_eq!(n as usize, size);
        ftp_down.push(t.elapsed());
    }
    let sm = median(sdk_mp);
    let (fu, fd, su, sd) = (
        median(ftp_up),
        median(ftp_down),
        median(sdk_up),
        median(sdk_down),
    );
    println!(
        "transfer of {} MiB, median of {runs} runs, embedded S3 store on loopback",
        size / MIB
    );
    println!(
        "  upload    aws-sdk-s3 multipart ({} MiB parts, {concurrency} in flight) {:>8.1} MiB/s | FTP STOR via s3ftpd {:>8.1} MiB/s | ratio {:.2}",
        part_size as usize / MIB,
        mbps(size, sm),
        mbps(size, fu),
        sm.as_secs_f64() / fu.as_secs_f64()
    );
    println!(
        "  upload    aws-sdk-s3 PutObject {:>8.1} MiB/s | FTP STOR via s3ftpd {:>8.1} MiB/s | ratio {:.2}",
        mbps(size, su),
        mbps(size, fu),
        su.as_secs_f64() / fu.as_secs_f64()
    );
    println!(
        "  download  aws-sdk-s3 GetObject {:>8.1} MiB/s | FTP RETR via s3ftpd {:>8.1} MiB/s | ratio {:.2}",
        mbps(size, sd),
        mbps(size, fd),
        sd.as_secs_f64() / fd.as_secs_f64()
    );

    ftp.quit().unwrap();
    rt.block_on(gateway.shutdown(Duration::from_secs(5)));
}
