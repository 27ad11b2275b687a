//! Command handlers, grouped by concern; each is an `impl Session` block.

mod auth;
mod files;
mod hash;
mod info;
mod list;
mod nav;
mod site;
mod tls;
mod transfer;

pub use hash::HashAlgo;
pub use list::ListFormat;
pub use transfer::StorMode;
