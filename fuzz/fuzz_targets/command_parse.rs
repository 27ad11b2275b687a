//! Any control line: `Command::parse` returns a command or an error, never panics,
//! and an error always maps to a 5xx reply code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3ftpd::ftp::command::Command;

fuzz_target!(|line: &[u8]| {
    match Command::parse(line) {
        Ok(cmd) => {
            let _ = format!("{cmd:?}");
        }
        Err(e) => assert!((500..600).contains(&e.code()), "{e}"),
    }
});
