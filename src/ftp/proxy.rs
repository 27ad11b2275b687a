//! PROXY protocol v1 and v2 (HAProxy's): a load balancer in front of the
//! gateway prefixes each connection with the client's real address.
//!
//! Only connections from `proxy_protocol.trusted` networks must (and may)
//! carry the header, so nobody else can claim an address. The real address
//! is what logs, session limits, bans and the passive peer check use. A
//! header with the LOCAL command (the balancer's own health check) or an
//! UNKNOWN family keeps the socket's address.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::networks::Networks;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The v2 signature (12 bytes); its first 6 bytes tell it from v1's `PROXY `.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 header is at most 107 bytes, CRLF included.
const V1_MAX: usize = 107;

/// The networks whose connections carry a PROXY header.
#[derive(Debug, Clone, Default)]
pub struct ProxyTrust(Networks);

impl ProxyTrust {
    /// From `proxy_protocol.trusted` (validated at start: CIDRs or addresses).
    #[must_use]
    pub fn new(trusted: &[String]) -> Self {
        Self(Networks::parse(trusted))
    }

    /// Whether a connection from `ip` must start with a PROXY header.
    #[must_use]
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.contains(ip)
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("PROXY protocol: {msg}"))
}

/// Reads one PROXY header (v1 or v2) from `stream`, within `wait`, and
/// nothing after it. Returns the client's address, or `None` when the
/// header names none (LOCAL, UNKNOWN).
///
/// # Errors
/// A missing or malformed header, or a timeout.
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
    wait: Duration,
) -> io::Result<Option<SocketAddr>> {
    tokio::time::timeout(wait, read(stream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no PROXY header in time"))?
}

async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Option<SocketAddr>> {
    let mut buf = vec![0u8; 6];
    stream.read_exact(&mut buf).await?;
    if buf == V2_SIGNATURE[..6] {
        buf.resize(16, 0);
        stream.read_exact(&mut buf[6..]).await?;
        let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        buf.resize(16 + len, 0);
        stream.read_exact(&mut buf[16..]).await?;
        let header = ppp::v2::Header::try_from(&buf[..]).map_err(|e| invalid(&e.to_string()))?;
        if header.command == ppp::v2::Command::Local {
            return Ok(None);
        }
        return Ok(match header.addresses {
            ppp::v2::Addresses::IPv4(a) => {
                Some(SocketAddr::new(a.source_address.into(), a.source_port))
            }
            ppp::v2::Addresses::IPv6(a) => {
                Some(SocketAddr::new(a.source_address.into(), a.source_port))
            }
            _ => None,
        });
    }
    if buf != b"PROXY " {
        return Err(invalid("expected a PROXY header from this trusted address"));
    }
    // v1: text up to CRLF, read byte by byte so nothing after it is consumed.
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n") {
        if buf.len() >= V1_MAX {
            return Err(invalid("v1 header longer than 107 bytes"));
        }
        stream.read_exact(&mut byte).await?;
        buf.push(byte[0]);
    }
    let text = std::str::from_utf8(&buf).map_err(|_| invalid("v1 header is not text"))?;
    let header = ppp::v1::Header::try_from(text).map_err(|e| invalid(&e.to_string()))?;
    Ok(match header.addresses {
        ppp::v1::Addresses::Tcp4(a) => {
            Some(SocketAddr::new(a.source_address.into(), a.source_port))
        }
        ppp::v1::Addresses::Tcp6(a) => {
            Some(SocketAddr::new(a.source_address.into(), a.source_port))
        }
        ppp::v1::Addresses::Unknown => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> (io::Result<Option<SocketAddr>>, Vec<u8>) {
        let mut r = bytes;
        let got = read_header(&mut r, Duration::from_secs(1)).await;
        (got, r.to_vec())
    }

    #[tokio::test]
    async fn v1_and_v2_headers_give_the_client_and_consume_nothing_more() {
        let (a, rest) = parse(b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 2121\r\nUSER x\r\n").await;
        assert_eq!(a.unwrap(), Some("192.0.2.7:51000".parse().unwrap()));
        assert_eq!(rest, b"USER x\r\n");
        let (a, _) = parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 21\r\n").await;
        assert_eq!(a.unwrap(), Some("[2001:db8::1]:4000".parse().unwrap()));
        let (a, _) = parse(b"PROXY UNKNOWN\r\n").await;
        assert_eq!(a.unwrap(), None);
        let v2 = ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Proxy,
            ppp::v2::Protocol::Stream,
            (
                "198.51.100.9:40000".parse::<SocketAddr>().unwrap(),
                "10.0.0.1:2121".parse::<SocketAddr>().unwrap(),
            ),
        )
        .build()
        .unwrap();
        let mut bytes = v2.clone();
        bytes.extend_from_slice(b"data");
        let (a, rest) = parse(&bytes).await;
        assert_eq!(a.unwrap(), Some("198.51.100.9:40000".parse().unwrap()));
        assert_eq!(rest, b"data");
        let local = ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Local,
            ppp::v2::Protocol::Unspecified,
            ppp::v2::Addresses::Unspecified,
        )
        .build()
        .unwrap();
        assert_eq!(parse(&local).await.0.unwrap(), None);
    }

    #[tokio::test]
    async fn garbage_is_refused() {
        assert!(parse(b"USER anonymous\r\n").await.0.is_err());
        assert!(parse(b"PROXY TCP4 not an address\r\n").await.0.is_err());
        assert!(parse(&[b'P'; 300]).await.0.is_err());
        let mut long = b"PROXY TCP4 ".to_vec();
        long.extend(std::iter::repeat_n(b'1', 200));
        assert!(parse(&long).await.0.is_err());
    }

    #[test]
    fn trust_is_by_network() {
        let t = ProxyTrust::new(&["10.0.0.0/8".into(), "127.0.0.1".into(), "::1/128".into()]);
        assert!(t.trusts("10.1.2.3".parse().unwrap()));
        assert!(t.trusts("127.0.0.1".parse().unwrap()));
        assert!(t.trusts("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!t.trusts("127.0.0.2".parse().unwrap()));
        assert!(!ProxyTrust::default().trusts("10.0.0.1".parse().unwrap()));
    }
}
