//! Three replicas behind haproxy, in containers, on a front and a back
//! network: `tests/docker/replicas/run.py` (what it checks is in its
//! docstring: spread, a replica killed mid-transfer, a replica cut off
//! from S3). Runs whenever Docker answers; required with
//! `S3FTPD_REQUIRE_DOCKER=1`.

use std::process::Command;

use crate::docker::{docker_ready, images};
use crate::harness::run;

#[test]
fn three_replicas_behind_a_balancer() {
    if !docker_ready() {
        return;
    }
    images();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/docker/replicas/run.py");
    let out = run(Command::new("python3").arg(script));
    assert!(out.contains("replicas: 0 problems"), "{out}");
}
