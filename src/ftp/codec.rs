//! Control-channel framing: lines ending in LF (CR optional), with a length cap.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::reply::Reply;

/// Decodes control lines and encodes replies.
#[derive(Debug, Clone)]
pub struct ControlCodec {
    max_line: usize,
    /// How far `buf` was already searched for LF.
    scanned: usize,
    /// The set replies are written in.
    pub charset: crate::ftp::charset::Charset,
}

/// A control line longer than the cap.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The peer sent a line over the cap.
    #[error("command line longer than {0} bytes")]
    LineTooLong(usize),
    /// Socket error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ControlCodec {
    /// A codec refusing lines longer than `max_line` bytes.
    #[must_use]
    pub fn new(max_line: usize) -> Self {
        Self {
            max_line,
            scanned: 0,
            charset: crate::ftp::charset::Charset::utf8(),
        }
    }
}

impl Decoder for ControlCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        match buf[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let end = self.scanned + i;
                self.scanned = 0;
                if end > self.max_line {
                    return Err(CodecError::LineTooLong(self.max_line));
                }
                let mut line = buf.split_to(end + 1).freeze();
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                Ok(Some(line))
            }
            None => {
                self.scanned = buf.len();
                if buf.len() > self.max_line {
                    return Err(CodecError::LineTooLong(self.max_line));
                }
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        // A last line without LF still counts (e.g. `printf 'QUIT' | nc`).
        self.scanned = 0;
        if buf.is_empty() {
            return Ok(None);
        }
        let line = buf.split().freeze();
        Ok(Some(line))
    }
}

impl Encoder<&Reply> for ControlCodec {
    type Error = CodecError;

    fn encode(&mut self, reply: &Reply, dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.extend_from_slice(&self.charset.encode(&reply.to_wire()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_strips_crlf() {
        let mut c = ControlCodec::new(16);
        let mut b = BytesMut::from(&b"USER a\r\nPASS b\nNO"[..]);
        assert_eq!(c.decode(&mut b).unwrap().unwrap(), &b"USER a"[..]);
        assert_eq!(c.decode(&mut b).unwrap().unwrap(), &b"PASS b"[..]);
        assert!(c.decode(&mut b).unwrap().is_none());
        b.extend_from_slice(b"OP\r\n");
        assert_eq!(c.decode(&mut b).unwrap().unwrap(), &b"NOOP"[..]);
        b.extend_from_slice(b"QUIT");
        assert_eq!(c.decode_eof(&mut b).unwrap().unwrap(), &b"QUIT"[..]);
    }

    #[test]
    fn refuses_long_lines_with_or_without_newline() {
        let mut c = ControlCodec::new(8);
        let mut b = BytesMut::from(&b"123456789"[..]);
        assert!(matches!(c.decode(&mut b), Err(CodecError::LineTooLong(8))));
        let mut c = ControlCodec::new(8);
        let mut b = BytesMut::from(&b"123456789\r\n"[..]);
        assert!(matches!(c.decode(&mut b), Err(CodecError::LineTooLong(8))));
        let mut c = ControlCodec::new(8);
        let mut b = BytesMut::from(&b"12345678\n"[..]);
        assert_eq!(c.decode(&mut b).unwrap().unwrap(), &b"12345678"[..]);
    }
}
