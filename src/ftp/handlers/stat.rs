//! The listings sent over the control connection: MLST (one entry's facts)
//! and STAT of a path (a LIST in the reply itself). They resolve their
//! target as the data-connection listings do (`list.rs`).

use time::OffsetDateTime;

use super::list::{Target, list_target, wanted};
use crate::ftp::context::{Outcome, UserCtx};
use crate::ftp::error::refuse;
use crate::ftp::listing::{Entry, Kind, list_line, mlsx_line};
use crate::ftp::reply::{Code, Reply};
use crate::namespace::Op;

/// MLST: one entry's facts over the control connection.
pub(in crate::ftp) async fn mlst(u: &mut UserCtx<'_>, arg: Option<String>) -> Outcome {
    let path = u.st.cwd.resolve(arg.as_deref().unwrap_or(""))?;
    let (entry, perms) = match list_target(u, &path, false).await? {
        Target::File(e, perms) => (e, perms),
        Target::Dir { only: Some(_), .. } => {
            return Err(refuse(
                Code::FileUnavailable,
                format!("{path}: no such file or directory"),
            ));
        }
        Target::Dir { .. } => {
            let dir = u.ns.dir(&path, Op::Lookup)?;
            let marker_time = if dir.key.is_empty() || u.ns.holds_mount(&path) {
                None
            } else {
                dir.storage.head(&dir.key).await?.map(|i| i.modified)
            };
            let entry = Entry {
                name: String::new(),
                kind: Kind::Dir,
                size: 0,
                modified: marker_time.unwrap_or_else(OffsetDateTime::now_utc),
            };
            (entry, u.ns.perms_of(&path.parent(), path.name(), true))
        }
    };
    let facts = mlsx_line(
        &Entry {
            name: path.to_string(),
            ..entry
        },
        perms,
    );
    Ok(Reply::multi(
        Code::FileActionOk,
        vec![format!("Listing {path}"), format!(" {facts}"), "End".into()],
    ))
}

/// STAT of a path: a listing over the control connection.
pub(in crate::ftp) async fn stat_path(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(
        arg.trim_start_matches("-la")
            .trim_start_matches("-l")
            .trim(),
    )?;
    let (mut lister, only, mounts, dir) = match list_target(u, &path, true).await? {
        Target::File(e, perms) => {
            let line = list_line(&e, OffsetDateTime::now_utc(), perms);
            return Ok(Reply::multi(
                Code::FileStatus,
                vec![format!("Status of {path}:"), line, "End of status".into()],
            ));
        }
        Target::Dir {
            lister,
            only,
            mounts,
            dir,
        } => (lister, only, mounts, dir),
    };
    u.control
        .send_raw(&format!("{}-Status of {path}:\r\n", Code::FileStatus))
        .await;
    let line = |e: &Entry, now| {
        let perms = u.ns.perms_of(&dir, &e.name, e.kind == Kind::Dir);
        format!(
            " {}\r\n",
            list_line(e, now, perms).replace(['\r', '\n'], " ")
        )
    };
    let folders: String = mounts
        .iter()
        .filter(|e| wanted(only.as_ref(), &[], e))
        .map(|e| line(e, OffsetDateTime::now_utc()))
        .collect();
    let mut pages = vec![folders];
    loop {
        for text in pages.drain(..).filter(|t| !t.is_empty()) {
            u.control.send_raw(&text).await;
        }
        let Some(entries) = lister.next_entries().await? else {
            break;
        };
        let now = OffsetDateTime::now_utc();
        pages.push(
            entries
                .iter()
                .filter(|e| wanted(only.as_ref(), &mounts, e))
                .map(|e| line(e, now))
                .collect(),
        );
    }
    Ok(Reply::new(Code::FileStatus, "End of status"))
}
