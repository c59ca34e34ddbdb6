//! The client's open connections, and ending them cleanly ([`crate::Client::disconnect`]).
//!
//! A process that just exits closes its sockets under the server's feet: whatever the server is
//! still writing (an HTTP/2 ping, a window update, its own close) meets a closed socket, and
//! Teleport's proxy logs that as an ERROR ("broken pipe" while relaying to the Auth Service).
//! Ending cleanly is a half-close and a wait: every TLS layer sends its `close_notify` and TCP
//! its FIN, the connection keeps reading (the HTTP/2 task drains what the server still sends)
//! until the server closes its side, and only then is the socket closed.
//!
//! Every connection the [`Connector`](super::Connector) hands to tonic is [`Tracked`]: a
//! disconnect request reaches it through its [`CloseSignal`], and the HTTP/2 task, which always
//! waits on a read, shuts the stream's write side down from there. Dropping a [`Tracked`]
//! (the HTTP/2 task ends once the server closed) takes it off the list.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use super::BoxedIo;

/// The open connections of one client (every reconnection of it).
#[derive(Debug)]
pub(crate) struct OpenConnections {
    state: Mutex<Registry>,
    /// How many connections are open; [`OpenConnections::close_all`] waits for zero.
    count: watch::Sender<usize>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Arc<CloseSignal>>,
}

/// How a disconnect request reaches one connection.
#[derive(Debug, Default)]
struct CloseSignal {
    requested: AtomicBool,
    /// The task that last read from the connection.
    reader: AtomicWaker,
}

impl OpenConnections {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(Registry::default()),
            count: watch::Sender::new(0),
        })
    }

    /// Puts `io` on the list until it is dropped.
    pub(crate) fn track(self: &Arc<Self>, io: BoxedIo) -> Tracked {
        let signal = Arc::new(CloseSignal::default());
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.open.insert(id, Arc::clone(&signal));
        self.count.send_replace(state.open.len());
        drop(state);
        Tracked {
            inner: io,
            signal,
            write_side: WriteSide::Open,
            owner: Arc::clone(self),
            id,
        }
    }

    /// Asks every open connection to end (write side shut down at every layer), then waits until
    /// the server has closed each of them, at most `wait`. Returns whether they all closed in
    /// time; a connection that did not stays half-closed until its task ends.
    pub(crate) async fn close_all(&self, wait: Duration) -> bool {
        for signal in self.lock().open.values() {
            signal.requested.store(true, Ordering::Release);
            signal.reader.wake();
        }
        let mut count = self.count.subscribe();
        tokio::time::timeout(wait, count.wait_for(|open| *open == 0))
            .await
            .is_ok_and(|result| result.is_ok())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // The registry holds no invariant a panic could break half-way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remove(&self, id: u64) {
        let mut state = self.lock();
        state.open.remove(&id);
        self.count.send_replace(state.open.len());
    }
}

/// Whether a [`Tracked`] stream's write side is still open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteSide {
    Open,
    /// Shut down at every layer (by a disconnect or by the HTTP/2 task itself).
    Closed,
}

/// A connection on its client's list of open connections.
pub(crate) struct Tracked {
    inner: BoxedIo,
    signal: Arc<CloseSignal>,
    write_side: WriteSide,
    owner: Arc<OpenConnections>,
    id: u64,
}

impl Tracked {
    /// Shuts the write side down (every layer's close notice, then TCP's FIN), once.
    fn poll_close_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_side == WriteSide::Closed {
            return Poll::Ready(Ok(()));
        }
        let result = std::task::ready!(Pin::new(&mut self.inner).poll_shutdown(cx));
        self.write_side = WriteSide::Closed;
        Poll::Ready(result)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.owner.remove(self.id);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.signal.reader.register(cx.waker());
        if this.signal.requested.load(Ordering::Acquire) {
            // A failed shutdown (the server already gone) leaves nothing to wait for: the read
            // below reports how the connection ended.
            if let Err(error) = std::task::ready!(this.poll_close_write(cx)) {
                tracing::debug!(%error, "closing the connection's write side failed");
            }
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_side == WriteSide::Closed {
            return Poll::Ready(Err(closed()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.write_side == WriteSide::Closed {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_close_write(cx)
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the connection is closing (Client::disconnect)",
    )
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// A connected pair: the tracked client side (read by a task, as the HTTP/2 task would) and
    /// the server side.
    async fn pair(open: &Arc<OpenConnections>) -> (tokio::task::JoinHandle<Vec<u8>>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut tracked = open.track(Box::new(client));
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            // Reads until the server closes (or an error), then drops the connection.
            let _ = tracked.read_to_end(&mut got).await;
            got
        });
        (reader, server)
    }

    #[tokio::test]
    async fn close_all_half_closes_and_waits_for_the_server_to_close() {
        let open = OpenConnections::new();
        let (reader, mut server) = pair(&open).await;
        let (reader_2, mut server_2) = pair(&open).await;
        assert_eq!(*open.count.borrow(), 2);

        let servers = tokio::spawn(async move {
            let mut rest = Vec::new();
            // The client's FIN: the server sees a clean end of stream...
            let n = server.read_to_end(&mut rest).await.unwrap();
            let n_2 = server_2.read_to_end(&mut rest).await.unwrap();
            // ...and can still write (the client keeps reading) before it closes its side.
            server.write_all(b"last words").await.unwrap();
            server_2.write_all(b"bye").await.unwrap();
            drop((server, server_2));
            (n, n_2)
        });
        assert!(open.close_all(Duration::from_secs(30)).await);
        assert_eq!(servers.await.unwrap(), (0, 0));
        assert_eq!(reader.await.unwrap(), b"last words");
        assert_eq!(reader_2.await.unwrap(), b"bye");
        assert_eq!(*open.count.borrow(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn close_all_gives_up_after_the_wait_when_the_server_keeps_its_side_open() {
        let open = OpenConnections::new();
        let (reader, mut server) = pair(&open).await;
        assert!(!open.close_all(Duration::from_secs(2)).await);
        // Half-closed: the server saw the end of the stream, the client still reads.
        let mut rest = Vec::new();
        assert_eq!(server.read_to_end(&mut rest).await.unwrap(), 0);
        assert_eq!(*open.count.borrow(), 1);
        server.write_all(b"late").await.unwrap();
        drop(server);
        assert_eq!(reader.await.unwrap(), b"late");
        assert_eq!(*open.count.borrow(), 0);
    }

    #[tokio::test]
    async fn writes_after_the_close_fail_and_nothing_open_returns_at_once() {
        let open = OpenConnections::new();
        assert!(open.close_all(Duration::ZERO).await, "no connection open");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut tracked = open.track(Box::new(client));
        tracked.shutdown().await.unwrap();
        let error = tracked.write_all(b"x").await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        drop(tracked);
        assert_eq!(*open.count.borrow(), 0);
    }
}
