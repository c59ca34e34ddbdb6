//! Hop: the ALPN connection upgrade, for proxies behind an L7 load balancer that strips ALPN.
//!
//! Whether a proxy needs it is [`check`]'s question. The upgrade itself ([`tunnel`]): outer TLS
//! to the proxy's public certificate ([`super::proxy_tls`]), then one
//! `GET /webapi/connectionupgrade` ([`request`]) offering both the WebSocket upgrade
//! (sub-protocol `alpn-ping`, Teleport 15 and later) and the legacy type `alpn-ping` (Teleport 13
//! and 14, which answer a WebSocket-only request with 404), as Teleport's client does from 15 to
//! 17, sent through hyper's client ([`super::http1`]); the proxy chooses and the answer says
//! which ([`answer`]). The inner TLS to the Auth Service then runs inside binary WebSocket
//! messages ([`websocket`]), or inside length-prefixed `pingconn` packets ([`ping_conn`]), or
//! (legacy `alpn`) straight on the stream. The inner TLS is verified end to end against the
//! identity's host CA whatever the outer TLS is. The facts, with references into Teleport's
//! source, are in `docs/real-teleport-findings.md`.

pub(crate) mod answer;
pub(crate) mod check;
mod ping_conn;
mod request;
mod websocket;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use self::answer::{Switched, switched_to};
use self::ping_conn::PingConn;
use self::websocket::WebSocketIo;
use super::BoxedIo;
use super::address::HostPort;
use super::http1::{self, Answer};
use super::proxy_tls::{ProxyTls, server_name};
use crate::error::{ConnectError, Error};

/// Whether to tunnel through the proxy's WebSocket connection upgrade.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionUpgrade {
    /// Decide per client like Teleport does: `TELEPORT_TLS_ROUTING_CONN_UPGRADE` if set, else a
    /// test dial that checks whether ALPN reaches the proxy.
    #[default]
    Auto,
    /// Always upgrade (the proxy is known to be behind an L7 load balancer).
    Always,
    /// Never upgrade.
    Never,
}

/// The upgrade type with keep-alive pings (`constants.WebAPIConnUpgradeTypeALPNPing`): the
/// WebSocket sub-protocol, and the legacy type, that Teleport's client asks for to reach the
/// Auth Service.
const UPGRADE_PROTOCOL: &str = "alpn-ping";
/// The legacy upgrade type without pings (`constants.WebAPIConnUpgradeTypeALPN`).
const LEGACY_ALPN: &str = "alpn";
/// The standard upgrade type (`constants.WebAPIConnUpgradeTypeWebSocket`).
const WEBSOCKET: &str = "websocket";
/// The upgrade endpoint on the proxy's web listener.
const UPGRADE_PATH: &str = "/webapi/connectionupgrade";

/// Performs the connection upgrade over `io` (a fresh connection to the proxy) and returns the
/// tunnel in which the inner TLS runs: WebSocket, or the legacy `alpn-ping` / `alpn`, whichever
/// the proxy chose.
///
/// # Errors
///
/// [`ConnectError::Upgrade`] (with the proxy's status, if it answered), [`ConnectError::Timeout`],
/// [`SettingError::InvalidAddress`](crate::error::SettingError::InvalidAddress) for a host that is not a TLS server name.
pub(crate) async fn tunnel<IO>(
    io: IO,
    proxy: &HostPort,
    tls: &ProxyTls,
    timeout: Duration,
) -> Result<BoxedIo, Error>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let failed = |status: Option<u16>, reason: String| {
        Error::Connect(ConnectError::Upgrade {
            addr: proxy.to_string(),
            status,
            reason,
            source: None,
        })
    };
    let name = server_name(proxy)?;
    let exchange = async {
        let outer = tls
            .connector(b"http/1.1")
            .connect(name, io)
            .await
            .map_err(|e| ConnectError::Upgrade {
                addr: proxy.to_string(),
                status: None,
                reason: "TLS to the proxy's public certificate failed".to_owned(),
                source: Some(Arc::new(e)),
            })?;
        let key = generate_key();
        let (head, stream) = match http1::exchange(outer, request::request(proxy, &key)).await {
            Ok(Answer::HandedOver(head, stream)) => (head, Some(stream)),
            Ok(Answer::Other(head)) => (head, None),
            Err(error) => {
                return Err(failed(
                    None,
                    format!("the upgrade request failed: {}", error.reason()),
                ));
            }
        };
        let headers: Vec<(&str, &[u8])> = head
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        let switched = switched_to(head.status.as_u16(), &headers, &key)
            .map_err(|(status, reason)| failed(status, reason))?;
        tracing::debug!(proxy = %proxy, ?switched, "connection upgrade");
        let Some(stream) = stream else {
            return Err(failed(
                Some(head.status.as_u16()),
                "the proxy did not hand the connection over".to_owned(),
            ));
        };
        let tunnel: BoxedIo = match switched {
            Switched::WebSocket => Box::new(WebSocketIo::new(
                WebSocketStream::from_raw_socket(stream, Role::Client, None).await,
            )),
            Switched::AlpnPing => Box::new(PingConn::new(stream)),
            Switched::Alpn => Box::new(stream),
        };
        Ok(tunnel)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Connect(ConnectError::Timeout {
                addr: proxy.to_string(),
                step: "connection upgrade with",
                after: timeout,
            }))
        })
}
