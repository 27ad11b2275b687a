//! Config errors without secrets: an error names the key and the problem,
//! never the value of a password, a hash or a key.
//!
//! serde's messages quote the value they could not use (`invalid type:
//! string "hunter2", expected …`, `invalid value: integer `1234` …`), and
//! a YAML value set from the environment (`S3FTPD_USERS`) may hold every
//! user's password. So every message that leaves the config loader goes
//! through [`message`]: the quoted value of a type or value error is cut
//! out wherever it stands, and under a secret key the whole message
//! becomes "not shown"; a variable that holds YAML is reported by the
//! position of its error (line, column), never by its text.

/// Field names whose values are secrets, wherever they stand in the tree.
pub(super) const SECRET_FIELDS: &[&str] = &[
    "password",
    "password_hash",
    "secret_access_key",
    "secret",
    "secrets",
    "bind_password",
    "key_pem",
    "token",
];

/// Whether a dotted key (`users[2].password`, `s3.secret_access_key`)
/// names a secret, or a value inside one.
#[must_use]
pub(super) fn is_secret_key(key: &str) -> bool {
    key.split(['.', '['])
        .map(|seg| seg.trim_end_matches(']'))
        .any(|seg| SECRET_FIELDS.contains(&seg))
}

/// `key` (a path such as `users[0].home`) with every segment that does
/// not look like a key replaced by `…`: a flow mapping missing its colon
/// (`{name: a, password hunter2}`) makes the password a key, and the path
/// of the error names it. Names an operator gives (`storages.<name>`,
/// `groups.<name>`) stay.
#[must_use]
pub(super) fn path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut parent = "";
    for (i, seg) in key.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        let (name, index) = seg.find('[').map_or((seg, ""), |at| seg.split_at(at));
        let named = matches!(parent, "storages" | "groups");
        if name.is_empty() || looks_like_key(name) || (named && !name.contains(char::is_whitespace))
        {
            out.push_str(name);
        } else {
            out.push('…');
        }
        out.push_str(index);
        parent = name;
    }
    out
}

/// The message of an error at `key`, with no value of the config in it.
#[must_use]
pub fn message(key: &str, msg: &str) -> String {
    if is_secret_key(key) {
        return "invalid value (not shown: it is a secret)".to_owned();
    }
    strip_values(msg)
}

/// Cuts every value of the config out of a serde or YAML message: the
/// quoted value of "invalid type: string \"…\"" and "invalid value:
/// integer `…`" (what kind of value it was and what was expected stay),
/// an unknown variant, a duplicate key, and an unknown field's name unless
/// it looks like a key (`pasword` is shown; `password hunter2`, a flow
/// mapping missing its colon, is not).
fn strip_values(msg: &str) -> String {
    const MARKERS: [&str; 5] = [
        "invalid type: ",
        "invalid value: ",
        "unknown variant ",
        "unknown field ",
        "duplicate entry with key ",
    ];
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some((i, marker)) = MARKERS
        .iter()
        .filter_map(|m| rest.find(m).map(|i| (i, *m)))
        .min_by_key(|(i, _)| *i)
    {
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        // The value runs to ", expected" (serde's own layout), or to the end.
        let end = rest.find(", expected").unwrap_or(rest.len());
        let value = &rest[..end];
        let shown = match marker {
            "invalid type: " | "invalid value: " => {
                let kind = value
                    .split_once(['`', '"'])
                    .map_or(value, |(k, _)| k)
                    .trim();
                if kind.is_empty() {
                    "(value not shown)"
                } else {
                    kind
                }
            }
            "unknown field " if near_a_key(value, msg) => value,
            _ => "(not shown)",
        };
        out.push_str(shown);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Whether an unknown field's name is a misspelt key (within two edits of
/// one the message lists as expected), so that showing it helps and cannot
/// show a secret typed where a key should be.
fn near_a_key(quoted: &str, msg: &str) -> bool {
    let name = quoted.trim().trim_matches('`');
    let expected = msg.split_once(", expected").map_or("", |(_, e)| e);
    looks_like_key(name)
        && expected
            .split('`')
            .skip(1)
            .step_by(2)
            .any(|key| edits(name, key) <= 2)
}

/// Levenshtein distance (short strings: config keys).
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// An error at `raw_path` with `raw_msg`, as the config loader reports it:
/// the path with no secret in its segments (an unknown field's name too,
/// unless it is a misspelt key) and the message from [`message`].
#[must_use]
pub(super) fn error(raw_path: &str, raw_msg: &str) -> (String, String) {
    let msg = message(raw_path, raw_msg);
    let mut shown = path(raw_path);
    if raw_msg.starts_with("unknown field ")
        && msg.starts_with("unknown field (not shown)")
        && let Some(dot) = shown.rfind('.')
    {
        shown.truncate(dot + 1);
        shown.push('…');
    }
    (shown, msg)
}

/// `` `snake_case` ``, as every key of the config is.
fn looks_like_key(quoted: &str) -> bool {
    let name = quoted.trim().trim_matches('`');
    (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A variable whose value does not parse: where, never what. `structured`:
/// it holds a YAML structure (a list of users), so the line and column say
/// where; a scalar (a number, a flag) is only named.
#[must_use]
pub(super) fn yaml_position(var: &str, e: &serde_yaml::Error, structured: bool) -> String {
    match e.location().filter(|_| structured) {
        Some(l) => format!(
            "{var} is not valid YAML at line {} column {} (its text is not shown: it may hold secrets)",
            l.line(),
            l.column()
        ),
        None if structured => {
            format!("{var} is not valid YAML (its text is not shown: it may hold secrets)")
        }
        None => format!("{var} is not a valid value of this key (its text is not shown)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_found_anywhere_in_the_tree() {
        for k in [
            "users[0].password",
            "users[12].password_hash",
            "s3.secret_access_key",
            "storages.archive.secret_access_key",
            "webhooks[1].secret",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["users[0].name", "s3.access_key_id", "users", "tls.key"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn quoted_values_are_cut_out() {
        assert_eq!(
            strip_values(r#"invalid type: string "hunter2", expected a sequence"#),
            "invalid type: string, expected a sequence"
        );
        assert_eq!(
            strip_values("invalid value: integer `1234`, expected u16"),
            "invalid value: integer, expected u16"
        );
        assert_eq!(
            strip_values("x: invalid type: floating point `1.5`, expected a string at line 1"),
            "x: invalid type: floating point, expected a string at line 1"
        );
        assert_eq!(
            strip_values("unknown variant `hunter2`, expected `metadata` or `last_modified`"),
            "unknown variant (not shown), expected `metadata` or `last_modified`"
        );
        assert_eq!(
            strip_values("unknown field `pasword`, expected one of `name`, `password`"),
            "unknown field `pasword`, expected one of `name`, `password`"
        );
        assert_eq!(
            strip_values("unknown field `correcthorse`, expected one of `name`, `password`"),
            "unknown field (not shown), expected one of `name`, `password`"
        );
        assert_eq!(
            error(
                "users[1].correcthorse",
                "unknown field `correcthorse`, expected `name`"
            )
            .0,
            "users[1].…"
        );
        assert_eq!(
            strip_values("unknown field `password Hunter2`, expected one of `name`"),
            "unknown field (not shown), expected one of `name`"
        );
        assert_eq!(
            strip_values("duplicate entry with key \"Hunter2\" at line 1"),
            "duplicate entry with key (not shown)"
        );
        assert_eq!(
            message("users[0].password", "anything"),
            "invalid value (not shown: it is a secret)"
        );
    }
}
