//! Distinguished names compared as LDAP compares them (RFC 4514 strings,
//! RFC 4518 case-ignore matching): `CN=Partners, OU=Groups,DC=Example,DC=com`
//! and `cn=partners,ou=groups,dc=example,dc=com` are the same group;
//! `cn=partners-old,…` is not, nor is any DN that merely starts or ends
//! with it. A DN is compared whole, never by prefix or substring.

/// A DN in one canonical form: attribute types in lower case (known long
/// names shortened: `commonName` → `cn`), values unescaped, insignificant
/// spaces removed, case folded, then escaped again; the values of a
/// multi-valued RDN sorted.
///
/// # Errors
/// Why the text is not a DN (no `=`, an unfinished escape, …).
pub fn normalise_dn(text: &str) -> Result<String, String> {
    let mut rdns = Vec::new();
    for rdn in split_unescaped(text.trim(), ',')? {
        let mut parts = Vec::new();
        for ava in split_unescaped(&rdn, '+')? {
            let (ty, value) = ava
                .split_once('=')
                .ok_or_else(|| format!("`{}` has no `=`", ava.trim()))?;
            let ty = attribute_type(ty.trim())?;
            let value = value.trim_start();
            let value = if let Some(hex) = value.strip_prefix('#') {
                format!("#{}", hex.trim().to_ascii_lowercase())
            } else {
                escape(&fold(&unescape(value)?))
            };
            parts.push(format!("{ty}={value}"));
        }
        parts.sort();
        rdns.push(parts.join("+"));
    }
    if rdns.iter().all(String::is_empty) {
        return Ok(String::new());
    }
    Ok(rdns.join(","))
}

/// `text` split at `sep` where it is not escaped (`\,`) or quoted.
fn split_unescaped(text: &str, sep: char) -> Result<Vec<String>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(c);
                cur.push(chars.next().ok_or("ends with a lone `\\`")?);
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c == sep && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("an unclosed quote".into());
    }
    out.push(cur);
    Ok(out)
}

fn attribute_type(ty: &str) -> Result<String, String> {
    let valid = !ty.is_empty()
        && ty
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !valid {
        return Err(format!("`{ty}` is not an attribute type"));
    }
    let lower = ty.to_ascii_lowercase();
    let short = match lower.as_str() {
        "commonname" | "2.5.4.3" => "cn",
        "organizationalunitname" | "2.5.4.11" => "ou",
        "organizationname" | "2.5.4.10" => "o",
        "domaincomponent" | "0.9.2342.19200300.100.1.25" => "dc",
        "countryname" | "2.5.4.6" => "c",
        "localityname" | "2.5.4.7" => "l",
        "stateorprovincename" | "2.5.4.8" => "st",
        "streetaddress" | "2.5.4.9" => "street",
        "userid" | "0.9.2342.19200300.100.1.1" => "uid",
        other => other,
    };
    Ok(short.to_owned())
}

/// An attribute value with RFC 4514 escapes (`\,`, `\2C`, quotes) undone.
fn unescape(value: &str) -> Result<String, String> {
    let value = if value.ends_with("\\ ") {
        value
    } else {
        value.trim_end()
    };
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let mut bytes = Vec::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let next = chars.next().ok_or("ends with a lone `\\`")?;
        if next.is_ascii_hexdigit() {
            let low = chars.next().filter(char::is_ascii_hexdigit);
            let low = low.ok_or("a `\\` followed by one hex digit")?;
            let pair = format!("{next}{low}");
            bytes.push(u8::from_str_radix(&pair, 16).map_err(|e| e.to_string())?);
        } else {
            let mut buf = [0; 4];
            bytes.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
        }
    }
    String::from_utf8(bytes).map_err(|_| "an escaped value is not UTF-8".into())
}

/// Case-ignore matching: spaces at the ends dropped, inner runs of spaces
/// made one, lower case.
fn fold(value: &str) -> String {
    value
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A value escaped again, the same way for every input.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalise_dn;

    fn n(s: &str) -> String {
        normalise_dn(s).unwrap()
    }

    #[test]
    fn same_group_written_differently() {
        let canonical = n("cn=partners,ou=groups,dc=example,dc=com");
        for same in [
            "CN=Partners,OU=Groups,DC=Example,DC=com",
            "cn = partners , ou=groups, dc=example,dc=com",
            "commonName=PARTNERS,organizationalUnitName=Groups,domainComponent=example,DC=COM",
            "CN=Partners  ,OU=Groups,DC=example,DC=com ",
            "cn=\\50artners,ou=groups,dc=example,dc=com",
            "cn=\"Partners\",ou=groups,dc=example,dc=com",
        ] {
            assert_eq!(n(same), canonical, "{same}");
        }
        assert_eq!(n("cn=a  b,dc=x"), n("CN=A B,DC=X"));
        assert_eq!(n("cn=a+sn=b,dc=x"), n("SN=B+CN=A,DC=X"));
    }

    #[test]
    fn different_groups_stay_different() {
        let g = n("cn=partners,ou=groups,dc=example,dc=com");
        for other in [
            "cn=partners-old,ou=groups,dc=example,dc=com",
            "cn=partners,ou=groups,dc=example,dc=org",
            "cn=partners,ou=groups,dc=example",
            "cn=x,cn=partners,ou=groups,dc=example,dc=com",
            "cn=partners\\,ou\\=groups,dc=example,dc=com",
            "ou=partners,ou=groups,dc=example,dc=com",
        ] {
            assert_ne!(n(other), g, "{other}");
        }
        assert_eq!(n("cn=a\\,b,dc=x"), n("CN=A\\2cB,DC=X"));
    }

    #[test]
    fn nonsense_is_an_error() {
        for bad in ["partners", "cn=a,\\", "cn=\"a,dc=x", "c n=a", "cn=\\4"] {
            assert!(normalise_dn(bad).is_err(), "{bad}");
        }
    }
}
