//! The version (ETag) of each file the gateway saw last: a hint that lets
//! an overwrite go in one round trip.
//!
//! A small STOR onto a name the gateway knows nothing of costs two round
//! trips when the name is a file: `If-None-Match: *` meets a 412, then the
//! object is written (see [`super::folder_check`]). Where the gateway has
//! seen the file's version — its own last write, SIZE or MDTM, a RETR, a
//! listing of the folder — it writes with `If-Match: <that ETag>` instead:
//! one round trip, and no folder check, since a write that passed If-Match
//! replaced a file that had the name. The hint is never trusted: S3 checks
//! it, and a stale one (another tool wrote or deleted the file) costs one
//! 412, after which the upload goes the ordinary way.

use dashmap::DashMap;

/// Files remembered before the map starts over (about 150 bytes each).
const LIMIT: usize = 100_000;

/// Key → the ETag (quotes included) of the version last seen.
#[derive(Debug, Default)]
pub(super) struct Versions(DashMap<String, Box<str>>);

impl Versions {
    /// Notes that `key` was seen at version `etag` (none: forgets it).
    pub(super) fn note(&self, key: &str, etag: Option<&str>) {
        let Some(etag) = etag.filter(|e| !e.is_empty()) else {
            self.forget(key);
            return;
        };
        if let Some(mut known) = self.0.get_mut(key) {
            if &**known.value() != etag {
                *known.value_mut() = etag.into();
            }
            return;
        }
        if self.0.len() >= LIMIT {
            self.0.clear();
        }
        self.0.insert(key.to_owned(), etag.into());
    }

    /// The version of `key` last seen, if any.
    pub(super) fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|e| e.value().to_string())
    }

    /// Forgets `key` (deleted, renamed, or rewritten without an answer).
    pub(super) fn forget(&self, key: &str) {
        self.0.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_replace_and_forget() {
        let v = Versions::default();
        v.note("a", Some("\"1\""));
        assert_eq!(v.get("a").as_deref(), Some("\"1\""));
        v.note("a", Some("\"2\""));
        assert_eq!(v.get("a").as_deref(), Some("\"2\""));
        v.note("a", Some(""));
        assert_eq!(v.get("a"), None, "an empty ETag is no version");
        v.note("b", Some("\"3\""));
        v.forget("b");
        assert_eq!(v.get("b"), None);
    }

    #[test]
    fn the_map_starts_over_when_full() {
        let v = Versions::default();
        for i in 0..LIMIT {
            v.note(&i.to_string(), Some("\"e\""));
        }
        v.note("one more", Some("\"e\""));
        assert_eq!(v.0.len(), 1);
        assert_eq!(v.get("one more").as_deref(), Some("\"e\""));
    }
}
