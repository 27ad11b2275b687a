//! Value types of the config file: sizes, durations, port ranges, secrets.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte size written as `8MiB`, `5 MB` or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Self(n)),
            Raw::S(s) => s
                .trim()
                .parse::<bytesize::ByteSize>()
                .map(|b| Self(b.as_u64()))
                .map_err(|_| {
                    serde::de::Error::custom(
                        "not a size: write e.g. 8MiB, 5 MB or a number of bytes",
                    )
                }),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&bytesize::ByteSize(self.0).display().iec().to_string())
    }
}

/// A duration written as `300s`, `5m`, `1h 30m` or a plain number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Self(Duration::from_secs(n))),
            Raw::S(s) => humantime::parse_duration(s.trim()).map(Self).map_err(|_| {
                serde::de::Error::custom("not a duration: write e.g. 300s, 5m, 1h 30m")
            }),
        }
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
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u16),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => n.to_string().parse(),
            Raw::S(s) => s.parse(),
        }
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
        assert_eq!(
            serde_yaml::to_string(&Size(8 << 20)).unwrap().trim(),
            "8.0 MiB"
        );
        let back: Size = serde_yaml::from_str("8.0 MiB").unwrap();
        assert_eq!(back, Size(8 << 20));
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
