//! [`GuardedTcp`]: the Auth Service's side of a TCP connection, which fault knobs can cut
//! (after a byte budget, or on demand from a handler through [`ConnControl`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::faults::Faults;

/// A handle that cuts one connection.
#[derive(Debug, Default)]
pub(crate) struct ConnControl {
    cut: AtomicBool,
    waker: AtomicWaker,
    /// Bytes written so far (to tell when a response has left).
    written: AtomicU64,
}

impl ConnControl {
    /// Aborts the connection: pending and later reads and writes fail, and the socket is
    /// closed with a reset.
    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// Bytes written on the connection so far.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }
}

/// A TCP stream that honours [`ConnControl::cut`] and the `drop_after_bytes` fault.
#[derive(Debug)]
pub(crate) struct GuardedTcp {
    tcp: TcpStream,
    control: Arc<ConnControl>,
    faults: Faults,
    /// The last bytes this connection may write before it is cut (`drop_after_bytes` fired).
    last_write: Option<usize>,
}

impl GuardedTcp {
    pub(crate) fn new(tcp: TcpStream, control: Arc<ConnControl>, faults: Faults) -> GuardedTcp {
        GuardedTcp {
            tcp,
            control,
            faults,
            last_write: None,
        }
    }

    fn reset(&self) -> io::Error {
        // A zero linger turns the close into a TCP reset, as an aborted connection looks.
        let _ = self.tcp.set_zero_linger();
        io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection cut by the simulator",
        )
    }
}

impl AsyncRead for GuardedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.control.waker.register(cx.waker());
        if this.control.is_cut() {
            return Poll::Ready(Err(this.reset()));
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.control.is_cut() {
            return Poll::Ready(Err(this.reset()));
        }
        if this.last_write.is_none() {
            match this.faults.take_bytes(buf.len() as u64) {
                None => {
                    let result = Pin::new(&mut this.tcp).poll_write(cx, buf);
                    if let Poll::Ready(Ok(n)) = result {
                        this.control.written.fetch_add(n as u64, Ordering::SeqCst);
                    }
                    return result;
                }
                Some(allowed) => this.last_write = Some(allowed as usize),
            }
        }
        let allowed = this.last_write.unwrap_or(0).min(buf.len());
        if allowed == 0 {
            this.control.cut();
            return Poll::Ready(Err(this.reset()));
        }
        // Write the part that fits; the connection is cut right after.
        match Pin::new(&mut this.tcp).poll_write(cx, &buf[..allowed]) {
            Poll::Ready(Ok(n)) => {
                this.control.cut();
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.control.is_cut() || this.last_write.is_some() || this.faults.bytes_armed() {
            // A byte budget is armed: go through the counting path, one slice at a time.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            return Pin::new(this).poll_write(cx, first);
        }
        let result = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result {
            this.control.written.fetch_add(n as u64, Ordering::SeqCst);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
