//! CRC32C, the checksum uploads send so that S3 verifies and keeps it.
//!
//! S3 stores a full-object CRC32C for single PutObjects and, with checksum
//! type `FULL_OBJECT`, for multipart uploads too (each part carries its own
//! CRC32C; the whole object's is combined from them without re-reading).
//! `HASH CRC32C` is then answered from HeadObject alone.

use crc_fast::CrcAlgorithm;

/// CRC32C (Castagnoli) of `bytes`.
#[must_use]
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(bytes)
}

/// A CRC32C computed over bytes as they stream past.
#[derive(Clone)]
pub struct Crc32c(crc_fast::Digest);

impl Default for Crc32c {
    fn default() -> Self {
        Self(crc_fast::Digest::new(CrcAlgorithm::Crc32Iscsi))
    }
}

impl Crc32c {
    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The CRC32C of everything added so far.
    #[must_use]
    pub fn value(&self) -> u32 {
        // crc-fast returns CRC32 values widened to u64.
        u32::try_from(self.0.finalize()).unwrap_or_default()
    }
}

/// The CRC32C of `a ‖ b` from the CRC32C of `a`, of `b` and `b`'s length.
#[must_use]
pub fn combine(a: u32, b: u32, len_b: u64) -> u32 {
    // crc-fast returns CRC32 values widened to u64.
    u32::try_from(crc_fast::checksum_combine(
        CrcAlgorithm::Crc32Iscsi,
        u64::from(a),
        u64::from(b),
        len_b,
    ))
    .unwrap_or_default()
}

/// S3's header form: base64 of the big-endian bytes.
#[must_use]
pub fn to_header(crc: u32) -> String {
    aws_smithy_types::base64::encode(crc.to_be_bytes())
}

/// Parses S3's header form; `None` for anything else (e.g. a composite `…-3`).
#[must_use]
pub fn from_header(v: &str) -> Option<u32> {
    let bytes = aws_smithy_types::base64::decode(v).ok()?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_combination() {
        // RFC 3720 test vector: 32 bytes of zeros.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let (a, b) = (b"hello, ".as_slice(), b"world".as_slice());
        assert_eq!(
            combine(crc32c(a), crc32c(b), b.len() as u64),
            crc32c(b"hello, world")
        );
        assert_eq!(combine(crc32c(a), crc32c(b""), 0), crc32c(a));
        assert_eq!(from_header(&to_header(0xE306_9283)), Some(0xE306_9283));
        assert_eq!(to_header(crc32c(b"")), "AAAAAA==");
        assert_eq!(from_header("AAAAAA==-2"), None);
        let mut streamed = Crc32c::default();
        streamed.update(a);
        streamed.update(b);
        assert_eq!(streamed.value(), crc32c(b"hello, world"));
        assert_eq!(Crc32c::default().value(), 0);
    }
}
