//! Integration tests: the gateway against real S3 servers, driven by real FTP clients.

mod backend;
mod ftp_session;
mod ftp_transfer;
mod harness;
mod s3_store;
mod ftp_files;
mod ftp_listing;
