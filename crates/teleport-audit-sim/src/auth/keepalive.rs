//! [`PingPolice`]: the Auth Service's HTTP/2 keepalive enforcement (grpc-go's, as Teleport
//! configures it: `MinTime` 60 s, `PermitWithoutStream`). A client PING arriving less than
//! `MinTime` after the previous one is a strike (strikes reset whenever the server sends HEADERS
//! or DATA); past two strikes the server sends GOAWAY `ENHANCE_YOUR_CALM` with debug data
//! `too_many_pings` and closes the connection.
//!
//! It sits between TLS and hyper and follows the HTTP/2 frames in both directions (headers
//! only; payloads are skipped by length), so it can inject the GOAWAY on a frame boundary.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Teleport's `MinTime` for client pings.
pub(crate) const MIN_PING_INTERVAL: Duration = Duration::from_secs(60);
/// grpc-go's `maxPingStrikes`.
const MAX_STRIKES: u32 = 2;
const PREFACE_LEN: usize = 24;
const FRAME_HEADERS: u8 = 0x1;
const FRAME_DATA: u8 = 0x0;
const FRAME_PING: u8 = 0x6;
const FLAG_ACK: u8 = 0x1;
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Follows frame boundaries in one direction.
#[derive(Debug, Default)]
struct FrameCursor {
    /// Bytes of the client preface still to skip (inbound only).
    preface_left: usize,
    header: Vec<u8>,
    payload_left: usize,
}

impl FrameCursor {
    /// Consumes `bytes`, calling `on_header(type, flags, stream)` for each complete header.
    fn feed(&mut self, mut bytes: &[u8], mut on_header: impl FnMut(u8, u8, u32)) {
        while !bytes.is_empty() {
            if self.preface_left > 0 {
                let n = self.preface_left.min(bytes.len());
                self.preface_left -= n;
                bytes = &bytes[n..];
            } else if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
            } else {
                let n = (9 - self.header.len()).min(bytes.len());
                self.header.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                if self.header.len() == 9 {
                    let h = &self.header;
                    self.payload_left =
                        usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                    let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                    on_header(h[3], h[4], stream);
                    self.header.clear();
                }
            }
        }
    }

    fn at_boundary(&self) -> bool {
        self.header.is_empty() && self.payload_left == 0
    }
}

/// An HTTP/2 server connection's stream with keepalive enforcement.
#[derive(Debug)]
pub(crate) struct PingPolice<S> {
    inner: S,
    inbound: FrameCursor,
    outbound: FrameCursor,
    last_ping: Instant,
    strikes: u32,
    /// The server sent HEADERS or DATA since the last client ping.
    reset_strikes: bool,
    last_client_stream: u32,
    /// GOAWAY bytes still to write; `Some(empty)` once written.
    goaway: Option<Vec<u8>>,
}

impl<S> PingPolice<S> {
    pub(crate) fn new(inner: S) -> PingPolice<S> {
        PingPolice {
            inner,
            inbound: FrameCursor {
                preface_left: PREFACE_LEN,
                ..FrameCursor::default()
            },
            outbound: FrameCursor::default(),
            last_ping: Instant::now(),
            strikes: 0,
            reset_strikes: false,
            last_client_stream: 0,
            goaway: None,
        }
    }

    fn on_client_frames(&mut self, bytes: &[u8]) {
        let mut pings = 0u32;
        let mut last_stream = self.last_client_stream;
        self.inbound.feed(bytes, |kind, flags, stream| {
            if kind == FRAME_PING && flags & FLAG_ACK == 0 {
                pings += 1;
            }
            if kind == FRAME_HEADERS {
                last_stream = last_stream.max(stream);
            }
        });
        self.last_client_stream = last_stream;
        for _ in 0..pings {
            let now = Instant::now();
            if std::mem::take(&mut self.reset_strikes) {
                self.strikes = 0;
            } else if now.duration_since(self.last_ping) < MIN_PING_INTERVAL {
                self.strikes += 1;
            }
            self.last_ping = now;
            if self.strikes > MAX_STRIKES && self.goaway.is_none() {
                let debug = b"too_many_pings";
                let mut frame = Vec::with_capacity(9 + 8 + debug.len());
                let len = (8 + debug.len()) as u32;
                frame.extend_from_slice(&len.to_be_bytes()[1..]);
                frame.extend_from_slice(&[0x7, 0, 0, 0, 0, 0]);
                frame.extend_from_slice(&self.last_client_stream.to_be_bytes());
                frame.extend_from_slice(&ENHANCE_YOUR_CALM.to_be_bytes());
                frame.extend_from_slice(debug);
                self.goaway = Some(frame);
                tracing::debug!("client pings too often; sending GOAWAY too_many_pings");
            }
        }
    }

    fn on_server_frames(&mut self, bytes: &[u8]) {
        let mut reset = false;
        self.outbound.feed(bytes, |kind, _, _| {
            reset |= kind == FRAME_HEADERS || kind == FRAME_DATA;
        });
        self.reset_strikes |= reset;
    }
}

impl<S: AsyncWrite + Unpin> PingPolice<S> {
    /// Writes a pending GOAWAY when the outbound stream is on a frame boundary.
    /// `Ready(true)`: the GOAWAY is out and the connection must end.
    fn poll_goaway(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let Some(frame) = self.goaway.as_mut() else {
            return Poll::Ready(Ok(false));
        };
        if !self.outbound.at_boundary() {
            return Poll::Ready(Ok(false));
        }
        while !frame.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, frame) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    frame.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(true)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "closed after GOAWAY too_many_pings",
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PingPolice<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_goaway(cx)? {
            Poll::Ready(true) => return Poll::Ready(Ok(())), // end of stream
            Poll::Ready(false) => {}
            Poll::Pending => return Poll::Pending,
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.on_client_frames(&buf.filled()[before..]);
            if this.goaway.is_some() {
                // Hand nothing more to hyper: send the GOAWAY and end the stream.
                buf.set_filled(before);
                return match this.poll_goaway(cx)? {
                    Poll::Ready(true) => Poll::Ready(Ok(())),
                    _ => {
                        // Mid-frame on the way out: hyper finishes it, then the write path
                        // sends the GOAWAY.
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                };
            }
        }
        result
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PingPolice<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.poll_goaway(cx)? {
            Poll::Ready(true) => return Poll::Ready(Err(closed())),
            Poll::Ready(false) => {}
            Poll::Pending => return Poll::Pending,
        }
        // Once a GOAWAY waits, only finish the frame in progress.
        let limit = match &this.goaway {
            Some(_) => this.outbound.payload_left + (9 - this.outbound.header.len()) % 9,
            None => buf.len(),
        };
        let chunk = &buf[..limit.min(buf.len())];
        if chunk.is_empty() {
            return Poll::Ready(Err(closed()));
        }
        let result = Pin::new(&mut this.inner).poll_write(cx, chunk);
        if let Poll::Ready(Ok(n)) = result {
            this.on_server_frames(&chunk[..n]);
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.goaway.is_some() {
            // Rare: finish the frame in progress through the plain path.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            return Pin::new(this).poll_write(cx, first);
        }
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut n)) = result {
            for buf in bufs {
                if n == 0 {
                    break;
                }
                let take = n.min(buf.len());
                this.on_server_frames(&buf[..take]);
                n -= take;
            }
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn frame_cursor_finds_headers_across_split_input() {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(0x4, 0, 0, &[]));
        bytes.extend(frame(FRAME_HEADERS, 0x4, 1, &[1, 2, 3]));
        bytes.extend(frame(FRAME_PING, 0, 0, &[0; 8]));
        let mut cursor = FrameCursor {
            preface_left: PREFACE_LEN,
            ..FrameCursor::default()
        };
        let mut seen = Vec::new();
        for piece in bytes.chunks(5) {
            cursor.feed(piece, |k, f, s| seen.push((k, f, s)));
        }
        assert_eq!(
            seen,
            vec![(0x4, 0, 0), (FRAME_HEADERS, 0x4, 1), (FRAME_PING, 0, 0)]
        );
        assert!(cursor.at_boundary());
    }

    #[test]
    fn three_early_pings_earn_a_goaway_unless_the_server_talked() {
        let mut police = PingPolice::new(());
        police.on_client_frames(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        police.on_client_frames(&frame(FRAME_HEADERS, 0x4, 3, &[0]));
        for _ in 0..2 {
            police.on_client_frames(&frame(FRAME_PING, 0, 0, &[0; 8]));
        }
        assert!(police.goaway.is_none());
        // The server answered something: the next ping does not count.
        police.on_server_frames(&frame(FRAME_DATA, 0, 3, &[1, 2]));
        police.on_client_frames(&frame(FRAME_PING, 0, 0, &[0; 8]));
        assert_eq!(police.strikes, 0);
        // Acks never count.
        police.on_client_frames(&frame(FRAME_PING, FLAG_ACK, 0, &[0; 8]));
        for _ in 0..3 {
            police.on_client_frames(&frame(FRAME_PING, 0, 0, &[0; 8]));
        }
        let goaway = police.goaway.clone().unwrap();
        assert_eq!(goaway[3], 0x7);
        assert_eq!(&goaway[9..13], &3u32.to_be_bytes(), "last stream id");
        assert_eq!(&goaway[13..17], &ENHANCE_YOUR_CALM.to_be_bytes());
        assert_eq!(&goaway[17..], b"too_many_pings");
    }
}
