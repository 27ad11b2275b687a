//! Command handlers, grouped by concern: free functions over a context
//! ([`Ctx`](super::context::Ctx) before login, [`UserCtx`](super::context::UserCtx)
//! after), called from the session's one dispatch `match`.

pub(in crate::ftp) mod auth;
pub(in crate::ftp) mod files;
pub(in crate::ftp) mod hash;
pub(in crate::ftp) mod info;
pub(in crate::ftp) mod list;
pub(in crate::ftp) mod nav;
pub(in crate::ftp) mod quota;
pub(in crate::ftp) mod rename;
pub(in crate::ftp) mod site;
pub(in crate::ftp) mod stat;
mod tell;
pub(in crate::ftp) mod tls;
pub(in crate::ftp) mod transfer;
pub(in crate::ftp) mod upload;

pub use list::ListFormat;
pub use upload::StorMode;
