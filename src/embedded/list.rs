//! ListObjectsV2 semantics as a pure function over a sorted key range.
//!
//! S3 lists keys in UTF-8 byte order (Rust's `str` order). With a delimiter,
//! every key whose remainder after `prefix` contains the delimiter rolls up
//! into one common prefix; a common prefix counts toward `max_keys` like a
//! key. The continuation token remembers the last entry returned and whether
//! it was a key or a common prefix, so a resumed listing never repeats a
//! common prefix and never skips a key.

/// One entry of a listing page: an object key or a rolled-up common prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed<T> {
    /// An object, with whatever the caller attached to it.
    Key(String, T),
    /// A common prefix (ends with the delimiter).
    Prefix(String),
}

/// The request parameters that shape a listing.
#[derive(Debug, Clone, Default)]
pub struct ListParams<'a> {
    /// Only keys starting with this.
    pub prefix: &'a str,
    /// Roll keys up at the first occurrence of this after the prefix.
    pub delimiter: Option<&'a str>,
    /// Page size (S3 caps it at 1000).
    pub max_keys: usize,
    /// Resume after this position (a token from a previous page).
    pub token: Option<&'a str>,
    /// Start after this key (ignored when a token is given).
    pub start_after: Option<&'a str>,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// Keys and common prefixes in order.
    pub entries: Vec<Listed<T>>,
    /// Token for the next page, when the listing is truncated.
    pub next_token: Option<String>,
}

/// Where a listing resumes: after a key, or after everything under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Skip keys `<=` this.
    AfterKey(String),
    /// Skip this common prefix and every key under it.
    AfterPrefix(String),
}

impl Resume {
    /// Encodes the position as an opaque continuation token.
    #[must_use]
    pub fn to_token(&self) -> String {
        match self {
            Self::AfterKey(k) => format!("k{}", hex::encode(k)),
            Self::AfterPrefix(p) => format!("p{}", hex::encode(p)),
        }
    }

    /// Decodes a token made by [`Resume::to_token`].
    #[must_use]
    pub fn from_token(token: &str) -> Option<Self> {
        let (kind, rest) = token.split_at_checked(1)?;
        let s = String::from_utf8(hex::decode(rest).ok()?).ok()?;
        match kind {
            "k" => Some(Self::AfterKey(s)),
            "p" => Some(Self::AfterPrefix(s)),
            _ => None,
        }
    }

    /// The smallest key a listing may start at (inclusive lower bound is this, exclusive).
    #[must_use]
    pub fn floor(&self) -> &str {
        match self {
            Self::AfterKey(k) | Self::AfterPrefix(k) => k,
        }
    }

    fn skips(&self, key: &str) -> bool {
        match self {
            Self::AfterKey(k) => key <= k.as_str(),
            Self::AfterPrefix(p) => key <= p.as_str() || key.starts_with(p.as_str()),
        }
    }
}

/// Lists one page from `keys`, which must yield keys in ascending order
/// starting at or before the resume point (callers pass a range starting at
/// [`Resume::floor`] or at `prefix`).
pub fn list_page<T, I>(keys: I, params: &ListParams<'_>, resume: Option<&Resume>) -> Page<T>
where
    I: IntoIterator<Item = (String, T)>,
{
    let start_after = params
        .start_after
        .filter(|_| resume.is_none())
        .map(|s| Resume::AfterKey(s.to_owned()));
    let resume = resume.or(start_after.as_ref());
    let delimiter = params.delimiter.filter(|d| !d.is_empty());
    let mut entries: Vec<Listed<T>> = Vec::new();
    let mut last_prefix: Option<String> = None;
    let mut next_token = None;
    if params.max_keys == 0 {
        return Page {
            entries,
            next_token,
        };
    }
    for (key, value) in keys {
        if !key.starts_with(params.prefix) {
            if key.as_str() > params.prefix {
                break;
            }
            continue;
        }
        if resume.is_some_and(|r| r.skips(&key)) {
            continue;
        }
        let rolled = delimiter.and_then(|d| {
            let rest = &key[params.prefix.len()..];
            rest.find(d)
                .map(|i| key[..params.prefix.len() + i + d.len()].to_owned())
        });
        if let Some(cp) = &rolled
            && last_prefix.as_deref() == Some(cp.as_str())
        {
            continue;
        }
        if entries.len() == params.max_keys {
            next_token = entries.last().map(|e| match e {
                Listed::Key(k, _) => Resume::AfterKey(k.clone()).to_token(),
                Listed::Prefix(p) => Resume::AfterPrefix(p.clone()).to_token(),
            });
            break;
        }
        match rolled {
            Some(cp) => {
                last_prefix = Some(cp.clone());
                entries.push(Listed::Prefix(cp));
            }
            None => entries.push(Listed::Key(key, value)),
        }
    }
    Page {
        entries,
        next_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<(String, ())> {
        let mut v: Vec<_> = list.iter().map(|k| ((*k).to_owned(), ())).collect();
        v.sort();
        v
    }

    fn names(page: &Page<()>) -> Vec<String> {
        page.entries
            .iter()
            .map(|e| match e {
                Listed::Key(k, ()) => k.clone(),
                Listed::Prefix(p) => format!("P:{p}"),
            })
            .collect()
    }

    fn all_pages(ks: &[&str], prefix: &str, delim: Option<&str>, max: usize) -> Vec<String> {
        let ks = keys(ks);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resume = token.as_deref().and_then(Resume::from_token);
            let params = ListParams {
                prefix,
                delimiter: delim,
                max_keys: max,
                token: token.as_deref(),
                start_after: None,
            };
            let page = list_page(ks.clone(), &params, resume.as_ref());
            out.extend(names(&page));
            match page.next_token {
                Some(t) => token = Some(t),
                None => return out,
            }
        }
    }

    #[test]
    fn markers_are_listed_and_file_beside_folder() {
        let ks = ["d/", "d/a", "f", "f/child", "g"];
        assert_eq!(
            all_pages(&ks, "", Some("/"), 1000),
            ["P:d/", "f", "P:f/", "g"]
        );
        assert_eq!(all_pages(&ks, "d/", Some("/"), 1000), ["d/", "d/a"]);
        assert_eq!(all_pages(&ks, "", None, 1000), ks);
    }

    #[test]
    fn pagination_never_repeats_or_skips() {
        let ks = ["a/1", "a/2", "a/3", "b", "c/x/y", "c/z", "d", "d/", "e"];
        for max in 1..=10 {
            assert_eq!(
                all_pages(&ks, "", Some("/"), max),
                ["P:a/", "b", "P:c/", "d", "P:d/", "e"],
                "max_keys={max}"
            );
            assert_eq!(all_pages(&ks, "", None, max), ks, "max_keys={max}");
        }
    }

    #[test]
    fn utf8_byte_order_and_prefix_bounds() {
        // 'Z' < 'a' < 'é' (0xC3..) < '中' (0xE4..) in UTF-8 byte order.
        let ks = ["p/中", "p/é", "p/a", "p/Z", "q"];
        assert_eq!(
            all_pages(&ks, "p/", Some("/"), 2),
            ["p/Z", "p/a", "p/é", "p/中"]
        );
    }

    #[test]
    fn token_round_trip_and_garbage() {
        let r = Resume::AfterPrefix("dir/é/".into());
        assert_eq!(Resume::from_token(&r.to_token()), Some(r));
        assert_eq!(Resume::from_token("zzz"), None);
        assert_eq!(Resume::from_token(""), None);
    }

    #[test]
    fn start_after_and_zero_max() {
        let ks = keys(&["a", "b", "c"]);
        let params = ListParams {
            max_keys: 10,
            start_after: Some("a"),
            ..Default::default()
        };
        assert_eq!(names(&list_page(ks.clone(), &params, None)), ["b", "c"]);
        let params = ListParams {
            max_keys: 0,
            ..Default::default()
        };
        assert!(list_page(ks, &params, None).entries.is_empty());
    }
}
