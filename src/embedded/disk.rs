//! On-disk layout of the embedded store: flat, encoded, never a path a key can steer.
//!
//! ```text
//! <data>/<bucket>/<enc(key)>                 object bytes, exactly as uploaded
//! <data>/.s3meta/<bucket>/<enc(key)>.json    size, ETag, time, content type, user metadata
//! <data>/.tmp/                               uploads in progress (renamed into place)
//! <data>/.uploads/<upload-id>/part-<n>       multipart parts
//! ```
//! `enc` percent-encodes every byte but ASCII letters, digits, `-` `_` `.`
//! and non-ASCII UTF-8, and always encodes a leading `.` and `/`, so a file
//! name is never `.`, `..`, hidden, or nested; names longer than 200 bytes
//! become `~` + SHA-256 of the key. The key itself lives in the metadata, and
//! a sorted in-memory index (rebuilt from the metadata at start) answers
//! listings in UTF-8 byte order.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::storage::checksum;

/// Metadata kept for every object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjMeta {
    /// The object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Last modification, seconds and nanoseconds since the Unix epoch.
    pub modified: (i64, u32),
    /// Content type given at upload.
    #[serde(default)]
    pub content_type: Option<String>,
    /// User metadata (`x-amz-meta-*`), lower-case names.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The whole object's CRC32C, when the upload sent one (verified).
    #[serde(default)]
    pub crc32c: Option<u32>,
    /// Encryption, storage class and ACL the write asked for.
    #[serde(default)]
    pub attrs: super::attrs::WriteAttrs,
}

impl ObjMeta {
    /// The modification time as an `OffsetDateTime`.
    #[must_use]
    pub fn modified_time(&self) -> time::OffsetDateTime {
        let (s, n) = self.modified;
        time::OffsetDateTime::from_unix_timestamp(s)
            .map(|t| t + time::Duration::nanoseconds(i64::from(n)))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}

/// Current time as the `(secs, nanos)` pair stored in [`ObjMeta`].
#[must_use]
pub fn now_pair() -> (i64, u32) {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        d.subsec_nanos(),
    )
}

/// One bucket: its directories and its sorted index.
#[derive(Debug)]
pub struct Bucket {
    body_dir: PathBuf,
    meta_dir: PathBuf,
    /// Sorted index of every object.
    pub index: RwLock<BTreeMap<String, ObjMeta>>,
    commit: Mutex<()>,
    /// When the bucket directory was created (or found).
    pub created: SystemTime,
}

/// Encodes a key (or bucket name) into one flat, safe file name.
#[must_use]
pub fn encode_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for (i, ch) in key.char_indices() {
        let keep = ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_') || !ch.is_ascii();
        if keep || (ch == '.' && i > 0) {
            out.push(ch);
        } else {
            let mut buf = [0u8; 4];
            for b in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    if out.len() > 200 {
        format!("~{}", hex::encode(sha2::Sha256::digest(key.as_bytes())))
    } else {
        out
    }
}

/// The whole store: a data directory holding buckets.
#[derive(Debug)]
pub struct Disk {
    root: PathBuf,
    buckets: RwLock<BTreeMap<String, Arc<Bucket>>>,
}

fn read_meta(path: &Path) -> io::Result<ObjMeta> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(io::Error::other)
}

impl Disk {
    /// Opens (creating if needed) a data directory and loads every bucket's index.
    ///
    /// # Errors
    /// When the directory cannot be created or read.
    pub fn open(root: &Path) -> io::Result<Self> {
        for sub in [".tmp", ".uploads", ".s3meta"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        // Leftovers of a previous run: unfinished uploads are gone with it.
        for sub in [".tmp", ".uploads"] {
            for entry in std::fs::read_dir(root.join(sub))? {
                let p = entry?.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
        let disk = Self {
            root: root.to_owned(),
            buckets: RwLock::new(BTreeMap::new()),
        };
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.file_type()?.is_dir() {
                continue;
            }
            disk.load_bucket(&name)?;
        }
        Ok(disk)
    }

    fn load_bucket(&self, name: &str) -> io::Result<Arc<Bucket>> {
        let body_dir = self.root.join(name);
        let meta_dir = self.root.join(".s3meta").join(name);
        std::fs::create_dir_all(&body_dir)?;
        std::fs::create_dir_all(&meta_dir)?;
        let mut index = BTreeMap::new();
        for entry in std::fs::read_dir(&meta_dir)? {
            let path = entry?.path();
            let Ok(meta) = read_meta(&path) else {
                tracing::warn!(path = %path.display(), "skipping unreadable object metadata");
                continue;
            };
            let body = body_dir.join(encode_name(&meta.key));
            match std::fs::metadata(&body) {
                Ok(m) if m.len() == meta.size => {
                    index.insert(meta.key.clone(), meta);
                }
                _ => tracing::warn!(key = %meta.key, "object body missing or wrong size; skipped"),
            }
        }
        let created = std::fs::metadata(&body_dir)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        let bucket = Arc::new(Bucket {
            body_dir,
            meta_dir,
            index: RwLock::new(index),
            commit: Mutex::new(()),
            created,
        });
        self.buckets
            .write()
            .expect("bucket map poisoned")
            .insert(name.to_owned(), bucket.clone());
        Ok(bucket)
    }

    /// Creates a bucket; `Ok(false)` when it already existed.
    ///
    /// # Errors
    /// On file-system errors.
    pub fn create_bucket(&self, name: &str) -> io::Result<bool> {
        if self.bucket(name).is_some() {
            return Ok(false);
        }
        self.load_bucket(name)?;
        Ok(true)
    }

    /// Looks a bucket up.
    #[must_use]
    pub fn bucket(&self, name: &str) -> Option<Arc<Bucket>> {
        self.buckets
            .read()
            .expect("bucket map poisoned")
            .get(name)
            .cloned()
    }

    /// All buckets with their creation times.
    #[must_use]
    pub fn buckets(&self) -> Vec<(String, SystemTime)> {
        self.buckets
            .read()
            .expect("bucket map poisoned")
            .iter()
            .map(|(n, b)| (n.clone(), b.created))
            .collect()
    }

    /// A fresh temporary file path.
    #[must_use]
    pub fn tmp_path(&self) -> PathBuf {
        self.root
            .join(".tmp")
            .join(format!("{:032x}", rand::random::<u128>()))
    }

    /// The directory of a multipart upload.
    #[must_use]
    pub fn upload_dir(&self, upload_id: &str) -> PathBuf {
        self.root.join(".uploads").join(encode_name(upload_id))
    }
}

/// Writes a byte stream to `path`, returning its size and MD5.
///
/// # Errors
/// On I/O errors or an error from the stream.
pub async fn write_stream<S, E>(path: &Path, mut stream: S) -> io::Result<Written>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut file = tokio::fs::File::create(path).await?;
    let mut md5 = Md5::new();
    let mut crc = checksum::Crc32c::default();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| io::Error::other(e.to_string()))?;
        md5.update(&chunk);
        crc.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(Written {
        size,
        md5: md5.finalize().into(),
        crc32c: crc.value(),
    })
}

/// What [`write_stream`] wrote: length, MD5 and CRC32C.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// Bytes written.
    pub size: u64,
    /// Their MD5.
    pub md5: [u8; 16],
    /// Their CRC32C.
    pub crc32c: u32,
}

impl Bucket {
    /// The file holding an object's bytes.
    #[must_use]
    pub fn body_path(&self, key: &str) -> PathBuf {
        self.body_dir.join(encode_name(key))
    }

    /// A snapshot of one object's metadata.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<ObjMeta> {
        self.index.read().expect("index poisoned").get(key).cloned()
    }

    /// Moves a finished temporary file into place as `meta.key`.
    ///
    /// # Errors
    /// On file-system errors; the previous object then stays as it was.
    pub fn commit(&self, tmp: &Path, meta: ObjMeta) -> io::Result<()> {
        self.commit_if(tmp, meta, |_| true).map(drop)
    }

    /// [`Bucket::commit`] if `allow` accepts the object it would replace
    /// (`None`: there is none), checked under the commit lock so that no
    /// other write comes between (S3's conditional writes). `false`: not
    /// committed, the temporary file removed.
    ///
    /// # Errors
    /// On file-system errors.
    pub fn commit_if(
        &self,
        tmp: &Path,
        meta: ObjMeta,
        allow: impl FnOnce(Option<&ObjMeta>) -> bool,
    ) -> io::Result<bool> {
        let name = encode_name(&meta.key);
        let json = serde_json::to_vec(&meta).map_err(io::Error::other)?;
        let meta_tmp = tmp.with_extension("json");
        std::fs::write(&meta_tmp, json)?;
        let _guard = self.commit.lock().expect("commit lock poisoned");
        let current = self
            .index
            .read()
            .expect("index poisoned")
            .get(&meta.key)
            .cloned();
        if !allow(current.as_ref()) {
            let _ = std::fs::remove_file(tmp);
            let _ = std::fs::remove_file(&meta_tmp);
            return Ok(false);
        }
        std::fs::rename(tmp, self.body_dir.join(&name))?;
        std::fs::rename(&meta_tmp, self.meta_dir.join(format!("{name}.json")))?;
        self.index
            .write()
            .expect("index poisoned")
            .insert(meta.key.clone(), meta);
        Ok(true)
    }

    /// Deletes an object; deleting a missing key is not an error (as in S3).
    ///
    /// # Errors
    /// On file-system errors other than "not found".
    pub fn delete(&self, key: &str) -> io::Result<()> {
        let name = encode_name(key);
        let _guard = self.commit.lock().expect("commit lock poisoned");
        for path in [
            self.meta_dir.join(format!("{name}.json")),
            self.body_dir.join(&name),
        ] {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.index.write().expect("index poisoned").remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_flat_and_safe() {
        for key in [
            "..",
            ".",
            "../../etc/passwd",
            "a/../../x",
            "/abs",
            "a/b/",
            ".hidden",
        ] {
            let n = encode_name(key);
            assert!(!n.contains('/'), "{key} → {n}");
            assert!(!n.starts_with('.'), "{key} → {n}");
        }
        assert_eq!(encode_name("dir/"), "dir%2F");
        assert_eq!(encode_name("f"), "f");
        assert_ne!(encode_name("f"), encode_name("f/"));
        assert_eq!(encode_name("Grüße.txt"), "Grüße.txt");
        assert_ne!(encode_name("a%2F"), encode_name("a/"));
    }

    #[test]
    fn long_names_are_hashed() {
        let long = "x/".repeat(300);
        let n = encode_name(&long);
        assert!(n.starts_with('~') && n.len() == 65);
        assert_ne!(n, encode_name(&"y/".repeat(300)));
    }
}
