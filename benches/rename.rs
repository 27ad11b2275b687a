//! Directory rename through FTP against the same copies issued serially.
//!
//! `cargo bench --bench rename` (`BENCH_KEYS` sets the number of keys,
//! default 2,500, four levels deep). The S3 server is the embedded store on
//! loopback. Each run renames the tree once with FTP `RNFR`/`RNTO`
//! (s3ftpd: bounded-parallel CopyObject, then DeleteObjects in batches of
//! 1,000) and once with `aws-sdk-s3` doing the same CopyObject requests one
//! after another, then the same DeleteObjects: the ratio is what the
//! parallel copy buys.

use std::time::{Duration, Instant};

mod common;

use common::{keys_under, median, seed_tree, serial_rename};

fn main() {
    let count: usize = std::env::var("BENCH_KEYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2500);
    let runs = 3;
    // Bound as a whole: dropping it would delete the store's data directory.
    let bench = common::Bench::start("43100-43199");
    let common::Bench {
        rt, gateway, s3, ..
    } = &bench;
    rt.block_on(seed_tree(s3, "bench", "t0", count));
    let mut ftp = suppaftp::FtpStream::connect(gateway.ftp_addr()).unwrap();
    ftp.login("b", "b").unwrap();
    let (mut via_ftp, mut serial) = (Vec::new(), Vec::new());
    let mut n = 0;
    for _ in 0..runs {
        let t = Instant::now();
        ftp.rename(format!("t{n}"), format!("t{}", n + 1)).unwrap();
        via_ftp.push(t.elapsed());
        n += 1;
        let t = Instant::now();
        rt.block_on(serial_rename(
            s3,
            "bench",
            &format!("t{n}/"),
            &format!("t{}/", n + 1),
        ));
        serial.push(t.elapsed());
        n += 1;
    }
    let left = rt.block_on(keys_under(s3, "bench", &format!("t{n}/")));
    assert_eq!(left.len(), count, "every key arrived");
    let (f, s) = (median(via_ftp), median(serial));
    println!(
        "rename of {count} keys, median of {runs}: FTP RNFR/RNTO {:.2} s, serial CopyObject {:.2} s, ratio (serial time / FTP time) {:.2}",
        f.as_secs_f64(),
        s.as_secs_f64(),
        s.as_secs_f64() / f.as_secs_f64()
    );
    rt.block_on(gateway.shutdown(Duration::from_secs(5)));
}
