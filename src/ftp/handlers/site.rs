//! SITE: the subcommands legacy clients send (lftp `chmod`, `mirror -R`,
//! Windows tools' UTIME). S3 objects have no permission bits, so CHMOD and
//! UMASK are accepted and change nothing, and the replies say so.

use std::time::Duration;

use crate::ftp::command::Site;
use crate::ftp::context::{Outcome, UserCtx};
use crate::ftp::error::refuse;
use crate::ftp::reply::{Code, Reply};
use crate::namespace::Op;

/// The shortest idle timeout `SITE IDLE` sets (vsftpd's floor).
const MIN_IDLE: u64 = 30;

/// SITE and its subcommands.
pub(in crate::ftp) async fn site(u: &mut UserCtx<'_>, site: Site) -> Outcome {
    match site {
        Site::Chmod { path } => {
            let path = u.st.cwd.resolve(&path)?;
            // A change of attributes, as MFMT: refused where `chtimes` is
            // (and for a read-only account), though S3 keeps no mode.
            let dir = u.ns.dir(&path, Op::Chtimes)?;
            let exists = u.ns.holds_mount(&path)
                || path.is_root()
                || dir.storage.dir_exists(&dir.key).await?
                || {
                    let file = u.ns.file(&path, Op::Chtimes)?;
                    file.storage.head(&file.key).await?.is_some()
                };
            if !exists {
                return Err(refuse(
                    Code::FileUnavailable,
                    format!("{path}: no such file or directory"),
                ));
            }
            Ok(Reply::new(
                Code::Ok,
                "SITE CHMOD command ok; S3 objects have no permission bits, nothing was changed",
            ))
        }
        Site::Umask(mask) => Ok(Reply::new(
            Code::Ok,
            format!(
                "UMASK set to {}; S3 objects have no permission bits, it changes nothing",
                mask.as_deref().unwrap_or("0022")
            ),
        )),
        Site::Help => Ok(Reply::multi(
            Code::Help,
            vec![
                "The following SITE commands are recognized:".into(),
                " CHMOD HELP IDLE QUOTA UMASK UTIME".into(),
                "Help OK".into(),
            ],
        )),
        Site::Idle(None) => Ok(Reply::new(
            Code::Ok,
            format!("Current idle timeout is {} seconds", u.st.idle.as_secs()),
        )),
        Site::Idle(Some(secs)) => {
            let max = u.gw.timeouts.idle.as_secs();
            if !(MIN_IDLE.min(max)..=max).contains(&secs) {
                return Err(refuse(
                    Code::BadArguments,
                    format!("SITE IDLE takes {} to {max} seconds", MIN_IDLE.min(max)),
                ));
            }
            u.st.idle = Duration::from_secs(secs);
            Ok(Reply::new(
                Code::Ok,
                format!("Timeout set to {secs} seconds"),
            ))
        }
        Site::Quota => super::quota::site_quota(u).await,
        Site::Utime { time, path } => {
            super::files::mfmt(u, time, &path).await?;
            Ok(Reply::new(Code::Ok, "UTIME command successful"))
        }
    }
}
