//! Hop: the HTTP `CONNECT` tunnel through an HTTP proxy ([`super::http_proxy`] says which), sent
//! and answered through hyper's client ([`super::http1`]).
//!
//! hyper-util's `Tunnel` does the same exchange but keeps no status in its error (a 403 and a 502
//! are both `TunnelUnsuccessful`), and the status decides whether a dial is worth retrying
//! ([`ConnectError::HttpProxy`]): so the request goes through hyper's client directly.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http::header::{HOST, PROXY_AUTHORIZATION};
use http_body_util::Empty;
use tokio::net::TcpStream;

use super::address::HostPort;
use super::http_proxy::ProxyUrl;
use super::http1::{self, Answer};
use super::prefixed::Prefixed;
use crate::error::{ConnectError, Error};

/// Asks `proxy` (already connected as `stream`) to open a tunnel to `target`; returns the
/// tunnel.
///
/// # Errors
///
/// [`ConnectError::HttpProxy`] with the proxy's status if it refused, [`ConnectError::Timeout`] if it
/// did not answer within `timeout`.
pub(crate) async fn open(
    stream: TcpStream,
    proxy: &ProxyUrl,
    target: &HostPort,
    timeout: Duration,
) -> Result<Prefixed<TcpStream>, Error> {
    let failed = |status: Option<u16>, reason: String| {
        Error::Connect(ConnectError::HttpProxy {
            proxy: proxy.to_string(),
            target: target.to_string(),
            status,
            reason,
        })
    };
    let mut request = Request::connect(target.to_string()).header(HOST, target.to_string());
    if let Some(credentials) = proxy.basic_auth() {
        request = request.header(PROXY_AUTHORIZATION, credentials);
    }
    let request = request.body(Empty::<Bytes>::new()).map_err(|_| {
        failed(
            None,
            "the target is not a valid CONNECT authority".to_owned(),
        )
    })?;
    let exchange = async {
        match http1::exchange(stream, request).await {
            Ok(Answer::HandedOver(_, tunnel)) => Ok(tunnel),
            Ok(Answer::Other(head)) => Err(failed(
                Some(head.status.as_u16()),
                format!("it answered {}", head.status),
            )),
            Err(error) => Err(failed(None, error.reason())),
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Connect(ConnectError::Timeout {
                addr: proxy.to_string(),
                step: "waiting for the HTTP proxy's CONNECT answer from",
                after: timeout,
            }))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn target() -> HostPort {
        HostPort::new("teleport.example.com", 443)
    }

    async fn fake_proxy(answer: &'static str) -> (HostPort, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = HostPort::new("127.0.0.1", listener.local_addr().unwrap().port());
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            socket.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        (addr, task)
    }

    async fn dial(addr: &HostPort) -> TcpStream {
        TcpStream::connect((addr.host(), addr.port()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn connect_sends_credentials_and_accepts_200() {
        let (addr, task) = fake_proxy("HTTP/1.1 200 Connection established\r\n\r\n").await;
        let proxy = ProxyUrl::parse(&format!("http://alice:pw@{addr}")).unwrap();
        open(dial(&addr).await, &proxy, &target(), Duration::from_secs(5))
            .await
            .unwrap();
        let request = task.await.unwrap();
        assert!(request.starts_with("CONNECT teleport.example.com:443 HTTP/1.1\r\n"));
        assert!(request.contains("Host: teleport.example.com:443\r\n"));
        // base64("alice:pw")
        assert!(request.contains("Proxy-Authorization: Basic YWxpY2U6cHc=\r\n"));
    }

    /// What a proxy answering `answer` makes of the dial: the error's status, whether it is
    /// retried, and its text.
    async fn refusal(answer: &'static str) -> (Option<u16>, bool, String) {
        let (addr, _task) = fake_proxy(answer).await;
        let proxy = ProxyUrl::parse(&format!("http://{addr}")).unwrap();
        let error = open(dial(&addr).await, &proxy, &target(), Duration::from_secs(5))
            .await
            .unwrap_err();
        match &error {
            Error::Connect(ConnectError::HttpProxy { status, .. }) => {
                (*status, error.is_retryable(), error.to_string())
            }
            other => panic!("not an HttpProxy error: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_refusal_carries_the_status_which_decides_the_retry() {
        let (status, retried, text) =
            refusal("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
        assert_eq!((status, retried), (Some(407), false), "{text}");
        assert!(text.contains("407"), "{text}");
        let (status, retried, text) =
            refusal("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!((status, retried), (Some(403), false), "{text}");
        let (status, retried, text) =
            refusal("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!((status, retried), (Some(502), true), "{text}");
    }

    #[tokio::test]
    async fn no_answer_or_no_http_is_said_without_a_status() {
        let (status, retried, text) = refusal("").await;
        assert_eq!((status, retried), (None, true), "{text}");
        assert!(text.contains("closed the connection"), "{text}");
        let (status, _, text) = refusal("SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
        assert_eq!(status, None, "{text}");
        assert!(text.contains("other than HTTP"), "{text}");
    }
}
