//! TYPE A line-ending conversion: LF on the store, CRLF on the wire.
//!
//! Both directions keep one byte of state, so a CRLF split across two reads
//! is converted the same as one inside a read.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};

/// Wire → store: CRLF becomes LF; a lone CR is kept.
#[derive(Debug, Default)]
pub struct AsciiDecoder {
    pending_cr: bool,
}

impl AsciiDecoder {
    /// Converts `input`, appending to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut BytesMut) {
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                if b != b'\n' {
                    out.extend_from_slice(b"\r");
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.extend_from_slice(&[b]);
            }
        }
    }

    /// Flushes a CR held back at the very end.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if std::mem::take(&mut self.pending_cr) {
            out.extend_from_slice(b"\r");
        }
    }
}

/// A data connection read in TYPE A: what it yields has CRLF turned to LF.
/// A peer that ends TLS without close_notify ends the file, as in binary
/// mode (vsftpd's default).
#[derive(Debug)]
pub struct AsciiReader<R> {
    inner: R,
    decoder: AsciiDecoder,
    raw: Vec<u8>,
    decoded: BytesMut,
    eof: bool,
}

impl<R> AsciiReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            decoder: AsciiDecoder::default(),
            raw: vec![0; 64 * 1024],
            decoded: BytesMut::new(),
            eof: false,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for AsciiReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.decoded.is_empty() {
                let n = buf.remaining().min(this.decoded.len());
                buf.put_slice(&this.decoded[..n]);
                this.decoded.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut raw = ReadBuf::new(&mut this.raw);
            match ready!(Pin::new(&mut this.inner).poll_read(cx, &mut raw)) {
                Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => {
                    return Poll::Ready(Err(e));
                }
                Ok(()) if !raw.filled().is_empty() => {
                    this.decoder.decode(raw.filled(), &mut this.decoded);
                }
                _ => {
                    this.eof = true;
                    this.decoder.finish(&mut this.decoded);
                }
            }
        }
    }
}

/// Store → wire: a LF not already preceded by CR becomes CRLF.
#[derive(Debug, Default)]
pub struct AsciiEncoder {
    last_cr: bool,
}

impl AsciiEncoder {
    /// Converts `input`, appending to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 16);
        for &b in input {
            if b == b'\n' && !self.last_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.last_cr = b == b'\r';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(chunks: &[&[u8]]) -> Vec<u8> {
        let mut d = AsciiDecoder::default();
        let mut out = BytesMut::new();
        for c in chunks {
            d.decode(c, &mut out);
        }
        d.finish(&mut out);
        out.to_vec()
    }

    fn enc(chunks: &[&[u8]]) -> Vec<u8> {
        let mut e = AsciiEncoder::default();
        let mut out = Vec::new();
        for c in chunks {
            e.encode(c, &mut out);
        }
        out
    }

    #[test]
    fn decode_handles_split_crlf_and_lone_cr() {
        assert_eq!(dec(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(dec(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(dec(&[b"a\rb"]), b"a\rb");
        assert_eq!(dec(&[b"end\r"]), b"end\r");
    }

    #[test]
    fn encode_handles_split_and_existing_crlf() {
        assert_eq!(enc(&[b"a\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(enc(&[b"a\r", b"\nb"]), b"a\r\nb");
        assert_eq!(enc(&[b"\n\n"]), b"\r\n\r\n");
    }

    #[test]
    fn round_trip() {
        let text: &[u8] = b"line one\nline two\n\nlast";
        assert_eq!(dec(&[&enc(&[text])]), text);
    }

    #[tokio::test]
    async fn the_reader_decodes_across_reads() {
        use tokio::io::AsyncReadExt;
        let wire: &[u8] = b"a\r\nb\r\r\nc\r";
        let mut out = Vec::new();
        // One byte at a time: every CRLF is split across reads.
        let slow = tokio_util::io::StreamReader::new(futures::stream::iter(
            wire.iter()
                .map(|b| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(&[*b]))),
        ));
        AsciiReader::new(slow).read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"a\nb\r\nc\r");
    }
}
