//! The framing of the legacy `alpn-ping` connection upgrade (Teleport 13 and 14).
//!
//! Teleport's `api/utils/pingconn` (`PingConn`): every write is one packet, a 4-byte big-endian
//! length followed by that many bytes; a packet of length zero is a ping, which the reader
//! discards. The proxy sends a ping every 30 s to keep load balancers from closing an idle
//! connection; a client never has to answer one.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The length prefix of a packet.
const HEADER: usize = 4;
/// The most one write puts in a packet (Teleport's limit is `u32::MAX`; smaller packets bound
/// what is buffered here).
const MAX_PACKET: usize = 64 * 1024;
/// The scratch buffer for reads that end a packet.
const SCRATCH: usize = 16 * 1024;

/// Adapts a stream framed as Teleport's `PingConn` to a plain byte stream.
#[derive(Debug)]
pub(crate) struct PingConn<S> {
    inner: S,
    /// Bytes of the current packet not yet read.
    remaining: u32,
    /// A packet header being read (its bytes so far).
    header: [u8; HEADER],
    header_len: usize,
    /// One framed packet accepted by `poll_write` and not yet written to `inner`.
    out: Vec<u8>,
    out_pos: usize,
    /// For reads that must stop at the end of a packet inside the caller's buffer.
    scratch: Box<[u8]>,
}

impl<S> PingConn<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            remaining: 0,
            header: [0; HEADER],
            header_len: 0,
            out: Vec::new(),
            out_pos: 0,
            scratch: vec![0; SCRATCH].into_boxed_slice(),
        }
    }
}

impl<S: AsyncWrite + Unpin> PingConn<S> {
    /// Writes the buffered packet out; `Ready(Ok)` once it is all in `inner`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PingConn<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        // Read packet headers until a packet with data (pings have none).
        while this.remaining == 0 {
            let mut header = ReadBuf::new(&mut this.header[this.header_len..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut header))?;
            let n = header.filled().len();
            if n == 0 {
                return Poll::Ready(if this.header_len == 0 {
                    // End of stream between packets.
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the proxy closed the alpn-ping tunnel inside a packet header",
                    ))
                });
            }
            this.header_len += n;
            if this.header_len == HEADER {
                this.remaining = u32::from_be_bytes(this.header);
                this.header_len = 0;
            }
        }
        let n = if buf.remaining() <= this.remaining as usize {
            // The whole buffer is within the packet: read straight into it.
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            buf.filled().len() - before
        } else {
            // Only part of the buffer may be filled: read through the scratch buffer.
            let want = (this.remaining as usize).min(this.scratch.len());
            let mut limited = ReadBuf::new(&mut this.scratch[..want]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
            let n = limited.filled().len();
            buf.put_slice(&this.scratch[..n]);
            n
        };
        if n == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the proxy closed the alpn-ping tunnel inside a packet",
            )));
        }
        // `n` <= `remaining`, a u32.
        this.remaining -= n as u32;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PingConn<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = data.len().min(MAX_PACKET);
        // `n` <= MAX_PACKET fits in a u32.
        this.out.extend_from_slice(&(n as u32).to_be_bytes());
        this.out.extend_from_slice(&data[..n]);
        // The packet is accepted; write what the stream takes now, the rest on the next call.
        if let Poll::Ready(Err(error)) = this.poll_drain(cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn packets_and_pings_read_as_a_byte_stream() {
        let (mut far, near) = tokio::io::duplex(1024);
        let mut conn = PingConn::new(near);
        // A ping, a packet split over two writes, a ping, a second packet, then the end.
        far.write_all(&[0, 0, 0, 0, 0, 0, 0, 5, b'h', b'e'])
            .await
            .unwrap();
        far.write_all(b"llo").await.unwrap();
        far.write_all(&[0, 0, 0, 0, 0, 0, 0, 6]).await.unwrap();
        far.write_all(b" world").await.unwrap();
        drop(far);
        let mut all = Vec::new();
        conn.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"hello world");
    }

    #[tokio::test]
    async fn a_read_never_crosses_a_packet_and_small_buffers_work() {
        let (mut far, near) = tokio::io::duplex(1024);
        let mut conn = PingConn::new(near);
        far.write_all(&[0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 2, b'd', b'e'])
            .await
            .unwrap();
        let mut two = [0u8; 2];
        assert_eq!(conn.read(&mut two).await.unwrap(), 2);
        assert_eq!(&two, b"ab");
        let mut big = [0u8; 16];
        // The rest of the first packet only.
        assert_eq!(conn.read(&mut big).await.unwrap(), 1);
        assert_eq!(&big[..1], b"c");
        assert_eq!(conn.read(&mut big).await.unwrap(), 2);
        assert_eq!(&big[..2], b"de");
    }

    #[tokio::test]
    async fn writes_are_length_prefixed_packets() {
        let (mut far, near) = tokio::io::duplex(1024 * 1024);
        let mut conn = PingConn::new(near);
        conn.write_all(b"hi").await.unwrap();
        // An empty write sends nothing (it would be a ping).
        assert_eq!(conn.write(b"").await.unwrap(), 0);
        let big = vec![7u8; MAX_PACKET + 10];
        conn.write_all(&big).await.unwrap();
        conn.flush().await.unwrap();
        drop(conn);
        let mut wire = Vec::new();
        far.read_to_end(&mut wire).await.unwrap();
        let mut expected = vec![0, 0, 0, 2, b'h', b'i'];
        expected.extend_from_slice(&(MAX_PACKET as u32).to_be_bytes());
        expected.extend_from_slice(&big[..MAX_PACKET]);
        expected.extend_from_slice(&[0, 0, 0, 10]);
        expected.extend_from_slice(&big[MAX_PACKET..]);
        assert_eq!(wire, expected);
    }

    #[tokio::test]
    async fn the_end_inside_a_packet_is_an_error() {
        let (mut far, near) = tokio::io::duplex(1024);
        let mut conn = PingConn::new(near);
        far.write_all(&[0, 0, 0, 9, b'x']).await.unwrap();
        drop(far);
        let mut all = Vec::new();
        let error = conn.read_to_end(&mut all).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        let (mut far, near) = tokio::io::duplex(1024);
        let mut conn = PingConn::new(near);
        far.write_all(&[0, 0]).await.unwrap();
        drop(far);
        let error = conn.read(&mut [0u8; 4]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
