//! Shell wildcards in one path component, as vsftpd and ProFTPD expand
//! them for NLST, LIST and STAT: `*` (any run of characters), `?` (one
//! character), `[abc]`, `[a-z]` and their negation `[!…]` / `[^…]`, and
//! `\` to take the next character as it is. Pure and small: it matches one
//! name against one pattern (a component holds no `/`).

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    One,
    Any,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(Vec<Token>);

impl Glob {
    /// Compiles `pattern`; `None` when it holds no wildcard, or an
    /// unclosed `[`.
    #[must_use]
    pub fn new(pattern: &str) -> Option<Self> {
        let mut tokens = Vec::new();
        let mut wild = false;
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
                '?' => {
                    wild = true;
                    tokens.push(Token::One);
                }
                '*' => {
                    wild = true;
                    if tokens.last() != Some(&Token::Any) {
                        tokens.push(Token::Any);
                    }
                }
                '[' => {
                    wild = true;
                    tokens.push(class(&mut chars)?);
                }
                c => tokens.push(Token::Char(c)),
            }
        }
        wild.then_some(Self(tokens))
    }

    /// Whether `name` matches the whole pattern.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let (mut p, mut n) = (0, 0);
        // Where the last `*` was, and how much of the name it took.
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.0.get(p) {
                Some(Token::Any) => {
                    star = Some((p, n));
                    p += 1;
                }
                Some(t) if single(t, name[n]) => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        p = sp + 1;
                        n = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        self.0[p..].iter().all(|t| *t == Token::Any)
    }
}

/// Whether a one-character token takes `c`.
fn single(t: &Token, c: char) -> bool {
    match t {
        Token::Char(x) => *x == c,
        Token::One => true,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
        Token::Any => false,
    }
}

/// A `[…]` class, its `[` read already; `None` when it never closes.
fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Token> {
    let negated = matches!(chars.peek(), Some('!' | '^'));
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = chars.next()?;
        if c == ']' && !first {
            return Some(Token::Class { negated, ranges });
        }
        first = false;
        let lo = if c == '\\' { chars.next()? } else { c };
        if chars.peek() == Some(&'-') {
            let mut ahead = chars.clone();
            ahead.next();
            if let Some(&hi) = ahead.peek().filter(|h| **h != ']') {
                chars.next();
                chars.next();
                ranges.push((lo, hi));
                continue;
            }
        }
        ranges.push((lo, lo));
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn m(p: &str, n: &str) -> bool {
        Glob::new(p).unwrap().matches(n)
    }

    #[test]
    fn wildcards() {
        assert!(m("*.txt", "a.txt") && m("*.txt", ".txt") && !m("*.txt", "a.txt.gz"));
        assert!(m("a*b*c", "abc") && m("a*b*c", "a-x-b-y-c") && !m("a*b*c", "acb"));
        assert!(m("f?.csv", "f1.csv") && !m("f?.csv", "f.csv") && !m("f?.csv", "f12.csv"));
        assert!(m("[ab]x", "ax") && m("[ab]x", "bx") && !m("[ab]x", "cx"));
        assert!(m("[a-c]*", "banana") && !m("[a-c]*", "date"));
        assert!(m("[!a-c]*", "date") && m("[^a-c]*", "date") && !m("[!a-c]*", "apple"));
        assert!(m("[]]", "]") && m("[a-]", "-") && m("\\*x*", "*xy") && !m("\\*x*", "axy"));
        assert!(m("*", "") && m("**", "anything") && m("Grüße*", "Grüße.txt"));
        assert!(m("日本*", "日本語.txt"));
    }

    #[test]
    fn not_patterns() {
        assert_eq!(Glob::new("plain.txt"), None);
        assert_eq!(Glob::new("a\\*b"), None, "an escaped star is no wildcard");
        assert_eq!(Glob::new("[abc"), None, "an unclosed class");
    }
}
