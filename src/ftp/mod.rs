//! The FTP side: control-channel framing, commands, replies, sessions and data connections.

pub mod admission;
pub mod ascii;
pub mod bandwidth;
pub mod bans;
pub mod charset;
pub mod codec;
pub mod command;
pub mod context;
pub mod control;
pub mod data;
pub mod error;
pub mod glob;
mod handlers;
pub mod listing;
pub mod passive;
pub mod proxy;
pub mod reply;
pub mod session;
pub mod throttle;
