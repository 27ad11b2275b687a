//! The namespace's resolution, on storages that are never asked anything.

use super::*;
use crate::storage::{S3Access, Storages};

async fn storages() -> Storages {
    let yaml =
        "s3: { bucket: main, prefix: data }\nstorages:\n  archive: { bucket: arch, prefix: old }\n";
    let config = crate::Config::from_yaml(yaml, Vec::new()).unwrap();
    let access = S3Access {
        url: Some("http://127.0.0.1:9".into()),
        keys: Some(("k".into(), "s".into())),
    };
    let profiles: Vec<_> = config
        .profiles()
        .into_iter()
        .map(|(n, s3)| (n, s3, access.clone()))
        .collect();
    Storages::connect(&profiles, 8, std::sync::Arc::default()).await
}

fn p(s: &str) -> VPath {
    VPath::root().resolve(s).unwrap()
}

async fn tree() -> Namespace {
    let s = storages().await;
    let home = Mount::new(
        VPath::root(),
        s.default_profile().clone(),
        "data",
        "/alice",
        false,
    )
    .unwrap();
    let archive = Mount::new(
        p("/archive"),
        s.get("archive").unwrap().clone(),
        "old",
        "/alice",
        true,
    )
    .unwrap();
    let deep = Mount::new(
        p("/a/b/c"),
        s.default_profile().clone(),
        "data",
        "/shared",
        false,
    )
    .unwrap();
    Namespace::new(home, vec![archive, deep], Rights::default())
}

#[tokio::test]
async fn the_nearest_mount_serves_a_path() {
    let ns = tree().await;
    let f = ns.file(&p("/docs/x.txt"), Op::Read).unwrap();
    assert_eq!(
        (f.storage.bucket(), f.key.as_str()),
        ("main", "data/alice/docs/x.txt")
    );
    let a = ns.file(&p("/archive/2020/y.csv"), Op::Read).unwrap();
    assert_eq!(
        (a.storage.bucket(), a.key.as_str()),
        ("arch", "old/alice/2020/y.csv")
    );
    let d = ns.dir(&p("/a/b/c/d"), Op::List).unwrap();
    assert_eq!(d.key, "data/shared/d/");
    assert_eq!(ns.dir(&p("/archive"), Op::List).unwrap().key, "old/alice/");
    // `..` never leaves the tree, whatever mount it starts in.
    let up = p("/archive").resolve("../../../../etc").unwrap();
    assert_eq!(ns.dir(&up, Op::List).unwrap().key, "data/alice/etc/");
}

#[tokio::test]
async fn read_only_mounts_refuse_writes_and_write_nothing_of_their_own() {
    let ns = tree().await;
    for op in [Op::Write, Op::DeleteFile, Op::RenameFile, Op::Chtimes] {
        assert!(
            matches!(ns.file(&p("/archive/x"), op), Err(NsError::ReadOnly(_))),
            "{op:?}"
        );
    }
    assert!(matches!(
        ns.dir(&p("/archive/d"), Op::CreateDir),
        Err(NsError::ReadOnly(_))
    ));
    assert!(ns.file(&p("/archive/x"), Op::Read).is_ok());
    assert!(
        !ns.file(&p("/archive/x"), Op::Read)
            .unwrap()
            .storage
            .own_writes()
    );
    assert!(ns.file(&p("/x"), Op::Write).unwrap().storage.own_writes());
}

#[tokio::test]
async fn mount_points_and_the_folders_to_them_are_folders() {
    let ns = tree().await;
    assert_eq!(ns.folders_in(&VPath::root()), vec!["a", "archive"]);
    assert_eq!(ns.folders_in(&p("/a")), vec!["b"]);
    assert!(ns.folders_in(&p("/docs")).is_empty());
    for path in ["/archive", "/a", "/a/b", "/a/b/c"] {
        assert!(
            matches!(ns.file(&p(path), Op::Read), Err(NsError::MountPoint(_))),
            "{path}"
        );
        assert!(
            matches!(ns.dir(&p(path), Op::DeleteDir), Err(NsError::MountPoint(_))),
            "{path}"
        );
        assert!(
            matches!(ns.dir(&p(path), Op::RenameDir), Err(NsError::MountPoint(_))),
            "{path}"
        );
        assert!(ns.dir(&p(path), Op::List).is_ok(), "{path}");
    }
    assert!(ns.dir(&p("/a/b/c/d"), Op::DeleteDir).is_ok());
    assert!(ns.dir(&p("/ab"), Op::DeleteDir).is_ok());
}

#[tokio::test]
async fn the_gateways_own_folder_is_never_a_home() {
    let s = storages().await;
    let own = Mount::new(
        VPath::root(),
        s.default_profile().clone(),
        "data",
        "/.s3ftpd/times",
        false,
    );
    assert!(matches!(own, Err(NsError::Path(PathError::Reserved))));
    let home = Mount::new(
        VPath::root(),
        s.default_profile().clone(),
        "data",
        "/",
        false,
    )
    .unwrap();
    let ns = Namespace::new(home, Vec::new(), Rights::default());
    assert!(matches!(
        ns.file(&p("/.s3ftpd/x"), Op::Read),
        Err(NsError::Path(PathError::Reserved))
    ));
}
