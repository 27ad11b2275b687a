//! Integration tests: the gateway against real S3 servers, driven by real FTP clients.

// A test is a script of steps read top to bottom; the 80-line rule
// (clippy.toml) holds for the product's own code in src/.
#![allow(clippy::too_many_lines)]

mod backend;
mod buckets;
mod buckets_example;
mod budget;
mod client_certs;
mod client_death;
mod compose;
mod dashboards;
#[path = "../../benches/distance/delay.rs"]
mod delay;
mod deploy;
mod docker;
mod download;
mod events;
mod events_example;
mod events_tls;
mod first_listing;
mod frozen_s3;
mod ftp_files;
mod ftp_listing;
mod ftp_session;
mod ftp_transfer;
mod ftps;
mod gateway_death;
mod harness;
mod hash;
mod hook_server;
mod hostile;
mod identity_example;
mod identity_hook;
mod identity_ldap;
mod interop;
mod interop_hard;
mod legacy;
mod lifecycle;
mod limits;
mod name_conflicts;
mod observe;
mod pki;
mod ports;
mod profiles;
mod proxy;
mod quota;
mod reload;
mod rename;
mod replicas;
mod resume;
mod rights;
mod rights_example;
mod s3_pool;
mod s3_store;
mod secrets;
mod slapd;
mod storage_limits;
mod time_index;
