//! HASH and `OPTS HASH` (draft-bryan-ftpext-hash-02): a file's digest
//! without downloading it.
//!
//! Answered from what S3 already stores whenever it can: the full-object
//! CRC32C every upload through s3ftpd sends (HeadObject with checksum mode),
//! a full-object SHA-256 when another tool stored one, the ETag of a
//! single-part unencrypted upload for MD5. Otherwise the object is read once
//! and hashed as it streams (and the log says so).

use md5::Md5;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::ftp::context::{HashAlgo, Outcome, State, UserCtx};
use crate::ftp::error::refuse;
use crate::ftp::reply::{Code, Reply};
use crate::namespace::Op;
use crate::storage::{ObjectInfo, Storage, StorageError, checksum};

impl HashAlgo {
    const ALL: [Self; 3] = [Self::Sha256, Self::Crc32c, Self::Md5];

    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Crc32c => "CRC32C",
            Self::Md5 => "MD5",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The FEAT line: every algorithm, the session's current one starred.
    #[must_use]
    pub fn feat_line(current: Self) -> String {
        let names: Vec<String> = Self::ALL
            .iter()
            .map(|a| {
                if *a == current {
                    format!("{}*", a.name())
                } else {
                    a.name().to_owned()
                }
            })
            .collect();
        format!("HASH {}", names.join(";"))
    }

    /// The digest S3 already has, hex.
    fn stored(self, info: &ObjectInfo) -> Option<String> {
        match self {
            Self::Sha256 => info.sha256.clone(),
            Self::Crc32c => info.crc32c.map(|c| format!("{c:08x}")),
            Self::Md5 => info.md5.clone(),
        }
    }
}

/// Reads the object and hashes it.
async fn compute(
    storage: &Storage,
    key: &str,
    algo: HashAlgo,
    cancel: &CancellationToken,
) -> Result<String, StorageError> {
    let (mut body, _) = storage.get(key, 0).await?;
    let mut sha = Sha256::new();
    let mut md5 = Md5::new();
    let mut crc = checksum::Crc32c::default();
    loop {
        let chunk = tokio::select! {
            () = cancel.cancelled() => return Err(StorageError::Cancelled),
            c = body.next_chunk() => c?,
        };
        let Some(chunk) = chunk else { break };
        match algo {
            HashAlgo::Sha256 => sha.update(&chunk),
            HashAlgo::Md5 => md5.update(&chunk),
            HashAlgo::Crc32c => crc.update(&chunk),
        }
    }
    Ok(match algo {
        HashAlgo::Sha256 => hex::encode(sha.finalize()),
        HashAlgo::Md5 => hex::encode(md5.finalize()),
        HashAlgo::Crc32c => format!("{:08x}", crc.value()),
    })
}

/// HASH: a file's digest, from S3's own checksum when it has one.
pub(in crate::ftp) async fn hash(u: &mut UserCtx<'_>, arg: &str) -> Outcome {
    let path = u.st.cwd.resolve(arg)?;
    let (storage, key, info) = super::files::file_info(u, &path, Op::Read).await?;
    let algo = u.st.hash_algo;
    let digest = match algo.stored(&info) {
        Some(d) => d,
        None => {
            let started = std::time::Instant::now();
            let d = compute(storage, &key, algo, &u.gw.abort).await?;
            tracing::info!(path = %path, algorithm = algo.name(), bytes = info.size, elapsed_ms = started.elapsed().as_millis(), "HASH computed by reading the object (S3 stores no such checksum for it)");
            d
        }
    };
    Ok(Reply::new(
        Code::FileStatus,
        format!("{} 0-{} {digest} {}", algo.name(), info.size, path.name()),
    ))
}

/// `OPTS HASH` shows the current algorithm, `OPTS HASH <name>` selects one.
pub(in crate::ftp) fn opts_hash(st: &mut State, arg: Option<&str>) -> Outcome {
    match arg.map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(Reply::new(Code::Ok, st.hash_algo.name())),
        Some(name) => match HashAlgo::parse(name) {
            Some(a) => {
                st.hash_algo = a;
                Ok(Reply::new(Code::Ok, a.name()))
            }
            None => Err(refuse(
                Code::ParameterNotImplemented,
                format!("Unknown algorithm {name:?}; available: SHA-256, CRC32C, MD5"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feat_stars_the_current_algorithm() {
        assert_eq!(
            HashAlgo::feat_line(HashAlgo::Sha256),
            "HASH SHA-256*;CRC32C;MD5"
        );
        assert_eq!(
            HashAlgo::feat_line(HashAlgo::Md5),
            "HASH SHA-256;CRC32C;MD5*"
        );
        assert_eq!(HashAlgo::parse("sha-256"), Some(HashAlgo::Sha256));
        assert_eq!(HashAlgo::parse("SHA-1"), None);
    }
}
