//! The character set a session speaks on the control connection and in
//! listings: UTF-8 (RFC 2640, the default) or a legacy one (`ftp.encoding`,
//! per user `users[].encoding`) such as windows-1252 or Shift_JIS. Keys in
//! S3 are always UTF-8; names are converted at the FTP edge.
//!
//! A name that the legacy set cannot represent (kana in windows-1252) is
//! shown with an escape, `^` + the code point in hex + `;` (`日` →
//! `^65e5;`), and `^` itself is shown as `^^`. The escape is ASCII, so
//! every supported set can carry it; it is undone on the way in, so a
//! client can RETR, DELE or RNFR what it listed. Two different keys never
//! look alike: the mapping is reversible. In UTF-8 nothing is escaped.

use std::borrow::Cow;

use encoding_rs::{EncoderResult, Encoding, UTF_8};

/// The escape character for names the session's set cannot represent.
const ESC: char = '^';

/// A session's character set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charset(&'static Encoding);

impl Default for Charset {
    fn default() -> Self {
        Self(UTF_8)
    }
}

impl Charset {
    /// UTF-8.
    #[must_use]
    pub fn utf8() -> Self {
        Self(UTF_8)
    }

    /// The set named by a WHATWG label (`windows-1252`, `cp1252`,
    /// `shift_jis`, `utf-8`, …), when it can serve FTP: ASCII-compatible and
    /// stateless.
    #[must_use]
    pub fn for_label(label: &str) -> Option<Self> {
        crate::config::ftp_encoding(label).map(Self)
    }

    /// Whether this is UTF-8.
    #[must_use]
    pub fn is_utf8(self) -> bool {
        self.0 == UTF_8
    }

    /// The set's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// A command line from the client, as UTF-8 bytes; `None` when it is
    /// not valid in this set.
    #[must_use]
    pub fn decode_line(self, line: &[u8]) -> Option<Cow<'_, [u8]>> {
        if self.is_utf8() {
            return Some(Cow::Borrowed(line));
        }
        let text = self
            .0
            .decode_without_bom_handling_and_without_replacement(line)?;
        Some(match text {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        })
    }

    /// A name the client sent (already decoded), with escapes undone.
    #[must_use]
    pub fn unescape(self, name: &str) -> Cow<'_, str> {
        if self.is_utf8() || !name.contains(ESC) {
            return Cow::Borrowed(name);
        }
        let mut out = String::with_capacity(name.len());
        let mut rest = name;
        while let Some(i) = rest.find(ESC) {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix(ESC) {
                out.push(ESC);
                rest = tail;
                continue;
            }
            let code = after.split_once(';').and_then(|(hex, tail)| {
                let digits =
                    (1..=6).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit());
                let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                digits.then_some((c, tail))
            });
            match code {
                Some((c, tail)) => {
                    out.push(c);
                    rest = tail;
                }
                // Not an escape: a literal `^` the client typed.
                None => {
                    out.push(ESC);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    /// Text for the client (a reply, listing lines) in this set, names it
    /// cannot represent escaped.
    #[must_use]
    pub fn encode<'a>(self, text: &'a str) -> Cow<'a, [u8]> {
        if self.is_utf8() {
            return Cow::Borrowed(text.as_bytes());
        }
        let mut encoder = self.0.new_encoder();
        let mut out = Vec::with_capacity(text.len() + 16);
        let mut src = text;
        loop {
            // Escape `^` first: cut the input at the next one.
            let (chunk, has_esc) = match src.find(ESC) {
                Some(i) => (&src[..i], true),
                None => (src, false),
            };
            encode_chunk(&mut encoder, chunk, &mut out);
            if !has_esc {
                return Cow::Owned(out);
            }
            out.extend_from_slice(b"^^");
            src = &src[chunk.len() + ESC.len_utf8()..];
        }
    }
}

/// Encodes `chunk` (no `^` in it), escaping what the set cannot represent.
fn encode_chunk(encoder: &mut encoding_rs::Encoder, mut chunk: &str, out: &mut Vec<u8>) {
    let mut buf = [0u8; 1024];
    loop {
        let (result, read, written) =
            encoder.encode_from_utf8_without_replacement(chunk, &mut buf, true);
        out.extend_from_slice(&buf[..written]);
        chunk = &chunk[read..];
        match result {
            EncoderResult::InputEmpty => return,
            EncoderResult::OutputFull => {}
            EncoderResult::Unmappable(c) => {
                out.extend_from_slice(format!("{ESC}{:x};", u32::from(c)).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_never_collide() {
        let cp = Charset::for_label("cp1252").unwrap();
        let sjis = Charset::for_label("Shift_JIS").unwrap();
        assert!(Charset::for_label("iso-2022-jp").is_none(), "stateful");
        assert!(
            Charset::for_label("utf-16le").is_none(),
            "not ASCII-compatible"
        );
        assert!(Charset::for_label("nonsense").is_none());
        for name in [
            "café.txt",
            "日本.csv",
            "a^b",
            "^65e5;",
            "x^^y",
            "plain",
            "€ 100%",
            "^",
        ] {
            for cs in [cp, sjis, Charset::utf8()] {
                let wire = cs.encode(name);
                let back = cs.decode_line(&wire).unwrap();
                let back = std::str::from_utf8(&back).unwrap();
                assert_eq!(cs.unescape(back), name, "{} {name}", cs.name());
            }
        }
        assert_eq!(&*cp.encode("café"), b"caf\xe9");
        assert_eq!(&*cp.encode("日.txt"), b"^65e5;.txt");
        assert_eq!(&*cp.encode("^65e5;"), b"^^65e5;");
        assert_eq!(&*sjis.encode("日"), b"\x93\xfa");
        assert_eq!(cp.unescape("a^b^zz;c"), "a^b^zz;c", "not escapes: literal");
        assert!(
            sjis.decode_line(b"\x93").is_none(),
            "a cut multibyte character"
        );
    }
}
