//! Directory rename at a distance: FTP `RNFR`/`RNTO` of a folder (the
//! gateway copies its keys 16 at a time, `RENAME_CONCURRENCY`, then
//! deletes them in batches) against the same CopyObject requests sent one after
//! another and the same DeleteObjects, straight from `aws-sdk-s3`.

use std::time::Instant;

use crate::common::{keys_under, median, seed_tree, serial_rename};
use crate::{Far, Params, row};

const BUCKET: &str = "bench";

/// `p.rename` keys of 1 KiB, four levels deep under `mv/<now>/t0/`, renamed
/// alternately by the gateway and by the serial baseline.
pub fn rename(rt: &tokio::runtime::Runtime, far: &Far, p: &Params) {
    let count = p.rename;
    let root = format!(
        "mv/{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    rt.block_on(seed_tree(&far.s3, BUCKET, &format!("{root}/t0"), count));
    let g = far.gateway(rt);
    let mut ftp = suppaftp::FtpStream::connect(g.ftp_addr()).unwrap();
    ftp.login("b", "b").unwrap();
    let (mut via_ftp, mut serial) = (Vec::new(), Vec::new());
    let mut n = 0;
    for _ in 0..p.runs {
        let t = Instant::now();
        ftp.rename(format!("{root}/t{n}"), format!("{root}/t{}", n + 1))
            .unwrap();
        via_ftp.push(t.elapsed());
        n += 1;
        let t = Instant::now();
        let (from, to) = (format!("{root}/t{n}/"), format!("{root}/t{}/", n + 1));
        rt.block_on(serial_rename(&far.s3, BUCKET, &from, &to));
        serial.push(t.elapsed());
        n += 1;
    }
    let _ = ftp.quit();
    rt.block_on(g.shutdown(std::time::Duration::from_secs(5)));
    let left = rt.block_on(keys_under(&far.s3, BUCKET, &format!("{root}/t{n}/")));
    assert_eq!(left.len(), count, "every key arrived");
    row(
        &format!("rename of {count} keys"),
        "serial CopyObject",
        median(serial),
        median(via_ftp),
        None,
    );
}
