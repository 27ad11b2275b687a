//! The S3 servers the integration suite runs on (`tests/it/backend.rs`).
//!
//! `S3FTPD_TEST_BACKENDS` (a comma list of `embedded`, `garage`,
//! `external`; by default `embedded`, plus `garage` when a `garage` binary
//! is on PATH) becomes the `s3ftpd_test_backend` cfg, so a backend that is
//! not selected is compiled as an *ignored* test: `cargo test` reports it
//! as ignored instead of counting a skip as a pass. The server itself reads
//! none of this.

use std::env;

const BACKENDS: [&str; 3] = ["embedded", "garage", "external"];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=S3FTPD_TEST_BACKENDS");
    let list = env::var("S3FTPD_TEST_BACKENDS").unwrap_or_else(|_| {
        println!("cargo::rerun-if-env-changed=PATH");
        let garage = env::var_os("PATH")
            .is_some_and(|paths| env::split_paths(&paths).any(|d| d.join("garage").is_file()));
        if garage {
            "embedded,garage"
        } else {
            "embedded"
        }
        .to_owned()
    });
    let selected: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .collect();
    if let Some(bad) = selected.iter().find(|b| !BACKENDS.contains(b)) {
        panic!("S3FTPD_TEST_BACKENDS: unknown backend {bad:?} (known: embedded, garage, external)");
    }
    println!(
        "cargo::rustc-check-cfg=cfg(s3ftpd_test_backend, values(\"embedded\", \"garage\", \"external\"))"
    );
    for b in &selected {
        println!("cargo::rustc-cfg=s3ftpd_test_backend=\"{b}\"");
    }
    println!(
        "cargo::rustc-env=S3FTPD_TEST_BACKENDS_BUILT={}",
        selected.join(",")
    );
}
