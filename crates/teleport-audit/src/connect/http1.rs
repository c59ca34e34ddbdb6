//! One HTTP/1.1 request on a fresh connection, through hyper's client: the shared exchange of
//! the HTTP `CONNECT` tunnel ([`super::http_connect`]), the connection upgrade
//! ([`super::upgrade`]) and the proxy's clock ([`super::proxy_clock`]).
//!
//! An answer that hands the connection over (`101 Switching Protocols`, or a 2xx to `CONNECT`)
//! gives back the stream, with the bytes hyper read past the answer's head put back in front of
//! it ([`Prefixed`]); any other answer gives its head only.

use std::fmt;

use bytes::Bytes;
use http::{Method, Request, StatusCode, response};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::prefixed::Prefixed;

/// The answer to [`exchange`].
pub(crate) enum Answer<IO> {
    /// The server handed the connection over: its answer's head, then the stream.
    HandedOver(response::Parts, Prefixed<IO>),
    /// Any other answer (its body is not read).
    Other(response::Parts),
}

impl<IO> fmt::Debug for Answer<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::HandedOver(head, _) => f.debug_tuple("HandedOver").field(head).finish(),
            Answer::Other(head) => f.debug_tuple("Other").field(head).finish(),
        }
    }
}

/// Why an exchange failed, in words that fit after "the proxy" / "it" in our errors.
#[derive(Debug)]
pub(crate) struct ExchangeError(String);

impl ExchangeError {
    fn from_hyper(error: &hyper::Error) -> Self {
        let reason = if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
            "it closed the connection without answering".to_owned()
        } else if error.is_parse() || error.is_parse_status() {
            "it answered with something other than HTTP/1.1 (or an answer head too large)"
                .to_owned()
        } else {
            // An I/O error: its own text says what happened (it holds no request data).
            match std::error::Error::source(error) {
                Some(cause) => format!("the exchange failed: {cause}"),
                None => format!("the exchange failed: {error}"),
            }
        };
        Self(reason)
    }

    /// What went wrong.
    pub(crate) fn reason(self) -> String {
        self.0
    }
}

/// Sends `request` over `io` (a fresh connection) and reads the answer's head.
///
/// # Errors
///
/// [`ExchangeError`] when the request cannot be sent, or the answer is missing or not HTTP/1.1.
pub(crate) async fn exchange<IO>(
    io: IO,
    request: Request<Empty<Bytes>>,
) -> Result<Answer<IO>, ExchangeError>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let is_connect = request.method() == Method::CONNECT;
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        // The header names as Go and Teleport's client write them.
        .title_case_headers(true)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| ExchangeError::from_hyper(&e))?;
    // The connection task runs here, beside the request, and ends when it hands the stream over.
    let mut connection = std::pin::pin!(connection.with_upgrades());
    // Whether the connection task already ended (it must not be polled again).
    let mut connection_ended = false;
    let mut response = {
        let send = sender.send_request(request);
        tokio::pin!(send);
        tokio::select! {
            biased;
            response = &mut send => response,
            ended = &mut connection => match ended {
                Err(error) => Err(error),
                // Ended (an upgrade handed over, or the server closed): the request says how.
                Ok(()) => {
                    connection_ended = true;
                    send.await
                }
            },
        }
    }
    .map_err(|e| ExchangeError::from_hyper(&e))?;
    let status = response.status();
    let handed_over =
        status == StatusCode::SWITCHING_PROTOCOLS || (is_connect && status.is_success());
    if !handed_over {
        return Ok(Answer::Other(response.into_parts().0));
    }
    let on_upgrade = hyper::upgrade::on(&mut response);
    let upgraded = if connection_ended {
        on_upgrade.await
    } else {
        let (upgraded, ended) = tokio::join!(on_upgrade, &mut connection);
        ended.map_err(|e| ExchangeError::from_hyper(&e))?;
        upgraded
    }
    .map_err(|e| ExchangeError::from_hyper(&e))?;
    let parts = upgraded
        .downcast::<TokioIo<IO>>()
        .map_err(|_| ExchangeError("hyper handed back a connection of another type".to_owned()))?;
    let stream = Prefixed::new(parts.read_buf, parts.io.into_inner());
    Ok(Answer::HandedOver(response.into_parts().0, stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A server that reads one request head, answers `answer`, then echoes what follows.
    fn server(answer: &'static [u8]) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<String>) {
        let (near, mut far) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = far.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            if answer.is_empty() {
                return String::from_utf8(request).unwrap();
            }
            far.write_all(answer).await.unwrap();
            let mut rest = [0u8; 4];
            if far.read_exact(&mut rest).await.is_ok() {
                far.write_all(&rest).await.unwrap();
            }
            String::from_utf8(request).unwrap()
        });
        (near, task)
    }

    fn get() -> Request<Empty<Bytes>> {
        Request::get("/x")
            .header("Host", "example.com")
            .header("Upgrade", "alpn")
            .body(Empty::new())
            .unwrap()
    }

    #[tokio::test]
    async fn a_101_hands_over_the_stream_with_the_bytes_read_past_the_head() {
        let (io, task) = server(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: alpn\r\n\r\nearly");
        let Answer::HandedOver(head, mut stream) = exchange(io, get()).await.unwrap() else {
            panic!("not handed over");
        };
        assert_eq!(head.status, StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(head.headers["upgrade"], "alpn");
        let mut early = [0u8; 5];
        stream.read_exact(&mut early).await.unwrap();
        assert_eq!(&early, b"early");
        stream.write_all(b"ping").await.unwrap();
        let mut echoed = [0u8; 4];
        stream.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"ping");
        let request = task.await.unwrap();
        assert!(request.starts_with("GET /x HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("Upgrade: alpn\r\n"), "{request}");
    }

    #[tokio::test]
    async fn a_2xx_to_connect_hands_over_and_a_refusal_gives_the_head() {
        let connect = || {
            Request::connect("teleport.example.com:443")
                .header("Host", "teleport.example.com:443")
                .body(Empty::new())
                .unwrap()
        };
        let (io, task) = server(b"HTTP/1.1 200 Connection established\r\n\r\n");
        assert!(matches!(
            exchange(io, connect()).await.unwrap(),
            Answer::HandedOver(..)
        ));
        let request = task.await.unwrap();
        assert!(
            request.starts_with("CONNECT teleport.example.com:443 HTTP/1.1\r\n"),
            "{request}"
        );

        let (io, _task) = server(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        let Answer::Other(head) = exchange(io, connect()).await.unwrap() else {
            panic!("handed over");
        };
        assert_eq!(head.status, StatusCode::FORBIDDEN);
        // A 200 to a GET is an ordinary answer.
        let (io, _task) = server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(
            exchange(io, get()).await.unwrap(),
            Answer::Other(..)
        ));
    }

    #[tokio::test]
    async fn no_answer_or_no_http_is_a_clear_reason() {
        let (io, _task) = server(b"");
        let reason = exchange(io, get()).await.unwrap_err().reason();
        assert!(reason.contains("closed the connection"), "{reason}");
        let (io, _task) = server(b"SSH-2.0-Teleport\r\n\r\n");
        let reason = exchange(io, get()).await.unwrap_err().reason();
        assert!(reason.contains("other than HTTP"), "{reason}");
    }
}
