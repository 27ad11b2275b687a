//! Value types of the config file: sizes, durations, port ranges, secrets.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A config value written as a plain number or as text: `number` makes
/// the value of a number, `text` parses the text (its error is the
/// message, which never holds the value).
fn number_or_text<'de, D: Deserializer<'de>, T>(
    d: D,
    number: impl FnOnce(u64) -> T,
    text: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(number(n)),
        Raw::S(s) => text(&s).map_err(serde::de::Error::custom),
    }
}

/// A byte size written as `8MiB`, `5 MB` or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(d, Self, |s| {
            s.trim()
                .parse::<bytesize::ByteSize>()
                .map(|b| Self(b.as_u64()))
                .map_err(|_| "not a size: write e.g. 8MiB, 5 MB or a number of bytes".to_owned())
        })
    }
}

/// `n` bytes in the largest unit that holds it exactly (`8MiB`, `5MB`,
/// `1000`): what `check-config` prints reads back as the same number.
fn exact_size(n: u64) -> String {
    const UNITS: [(u64, &str); 8] = [
        (1 << 40, "TiB"),
        (1_000_000_000_000, "TB"),
        (1 << 30, "GiB"),
        (1_000_000_000, "GB"),
        (1 << 20, "MiB"),
        (1_000_000, "MB"),
        (1 << 10, "KiB"),
        (1_000, "kB"),
    ];
    UNITS
        .iter()
        .find(|(unit, _)| n > 0 && n.is_multiple_of(*unit))
        .map_or_else(
            || n.to_string(),
            |(unit, name)| format!("{}{name}", n / unit),
        )
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&exact_size(self.0))
    }
}

/// A transfer rate in bytes per second, written `20Mbit/s` (decimal bits,
/// as network links are sold), `2.5MiB/s`, `500 kB/s` (bytes, as sizes are)
/// or a plain number of bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub u64);

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            "not a rate: write e.g. 20Mbit/s, 2.5MiB/s or a number of bytes per second".to_owned()
        };
        let t = s.trim();
        let t = t
            .strip_suffix("/s")
            .or_else(|| t.strip_suffix("ps"))
            .unwrap_or(t)
            .trim();
        let lower = t.to_ascii_lowercase();
        if let Some(num) = lower
            .strip_suffix("bit")
            .or_else(|| lower.strip_suffix('b').filter(|_| t.ends_with('b')))
        {
            let num = num.trim();
            let (digits, scale) = match num.chars().last() {
                Some('k') => (&num[..num.len() - 1], 1e3),
                Some('m') => (&num[..num.len() - 1], 1e6),
                Some('g') => (&num[..num.len() - 1], 1e9),
                _ => (num, 1.0),
            };
            let bits: f64 = digits.trim().parse().map_err(|_| bad())?;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            return Ok(Self((bits * scale / 8.0) as u64));
        }
        t.parse::<bytesize::ByteSize>()
            .map(|b| Self(b.as_u64()))
            .map_err(|_| bad())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(d, Self, str::parse)
    }
}

/// In bits where that is exact (`20Mbit/s`, as it was most likely
/// written), else in bytes (`2MiB/s`).
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = u128::from(self.0) * 8;
        match [(1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")]
            .iter()
            .find(|(unit, _)| bits > 0 && bits.is_multiple_of(*unit))
        {
            Some((unit, prefix)) => write!(f, "{}{prefix}bit/s", bits / unit),
            None => write!(f, "{}/s", exact_size(self.0)),
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A duration written as `300s`, `5m`, `1h 30m` or a plain number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(
            d,
            |n| Self(Duration::from_secs(n)),
            |s| {
                humantime::parse_duration(s.trim())
                    .map(Self)
                    .map_err(|_| "not a duration: write e.g. 300s, 5m, 1h 30m".to_owned())
            },
        )
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// An inclusive port range written `50000-50100` (or a single port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (inclusive).
    pub last: u16,
}

impl PortRange {
    /// Whether `port` is inside the range.
    #[must_use]
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// Number of ports in the range.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    /// Always false: a range holds at least one port.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::str::FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let p = |x: &str| {
            x.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    "not a port range: ports are numbers from 1 to 65535, e.g. 50000-50100"
                        .to_owned()
                })
        };
        let (first, last) = (p(a)?, p(b)?);
        if first > last {
            return Err("the port range ends before it starts".to_owned());
        }
        Ok(Self { first, last })
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(d, |n| n.to_string(), |s| Ok(s.to_owned()))?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}-{}", self.first, self.last))
    }
}

/// A secret (password, S3 secret key): never shown by `Debug` or when printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for the one place that needs it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"****\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let s: Size = serde_yaml::from_str("8MiB").unwrap();
        assert_eq!(s.0, 8 * 1024 * 1024);
        let s: Size = serde_yaml::from_str("5 MB").unwrap();
        assert_eq!(s.0, 5_000_000);
        let s: Size = serde_yaml::from_str("1024").unwrap();
        assert_eq!(s.0, 1024);
        assert!(serde_yaml::from_str::<Size>("lots").is_err());
        // Printed exactly: what check-config shows reads back the same.
        for (n, text) in [
            (8 << 20, "8MiB"),
            (3_000_000, "3MB"),
            (10 << 30, "10GiB"),
            (1000, "1kB"),
            (3072, "3KiB"),
            (1536, "1536"),
            (3_000_001, "3000001"),
            (0, "0"),
        ] {
            let printed = serde_yaml::to_string(&Size(n)).unwrap();
            assert_eq!(printed.trim().trim_matches('\''), text);
            assert_eq!(serde_yaml::from_str::<Size>(&printed).unwrap(), Size(n));
        }
    }

    #[test]
    fn rates() {
        let r = |s: &str| s.parse::<Rate>().unwrap().0;
        assert_eq!(r("20Mbit/s"), 2_500_000);
        assert_eq!(r("20 Mbit/s"), 2_500_000);
        assert_eq!(r("1Gbps"), 125_000_000);
        assert_eq!(r("800kbit/s"), 100_000);
        assert_eq!(r("2MiB/s"), 2 * 1024 * 1024);
        assert_eq!(r("500 kB/s"), 500_000);
        assert_eq!(r("4096"), 4096);
        assert!("fast".parse::<Rate>().is_err());
        for (n, text) in [
            (2_500_000, "20Mbit/s"),
            (125_000_000, "1Gbit/s"),
            (100_000, "800kbit/s"),
            (2 * 1024 * 1024, "2MiB/s"),
            (4096, "4KiB/s"),
            (1001, "1001/s"),
        ] {
            let printed = serde_yaml::to_string(&Rate(n)).unwrap();
            assert_eq!(printed.trim().trim_matches('\''), text);
            assert_eq!(serde_yaml::from_str::<Rate>(&printed).unwrap(), Rate(n));
        }
    }

    #[test]
    fn durations() {
        let d: Dur = serde_yaml::from_str("300s").unwrap();
        assert_eq!(d.0, Duration::from_secs(300));
        let d: Dur = serde_yaml::from_str("1m 30s").unwrap();
        assert_eq!(d.0, Duration::from_secs(90));
        let d: Dur = serde_yaml::from_str("7").unwrap();
        assert_eq!(d.0, Duration::from_secs(7));
        assert!(serde_yaml::from_str::<Dur>("soon").is_err());
    }

    #[test]
    fn port_ranges() {
        let r: PortRange = "50000-50100".parse().unwrap();
        assert_eq!((r.first, r.last, r.len()), (50000, 50100, 101));
        assert!(r.contains(50100) && !r.contains(50101));
        assert!("50100-50000".parse::<PortRange>().is_err());
        assert!("0-10".parse::<PortRange>().is_err());
        assert!("a-b".parse::<PortRange>().is_err());
        let single: PortRange = "2000".parse().unwrap();
        assert_eq!(single.len(), 1);
    }

    #[test]
    fn secrets_are_masked() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"****\"");
        assert_eq!(serde_yaml::to_string(&s).unwrap().trim(), "'****'");
        assert_eq!(s.expose(), "hunter2");
    }
}
