//! `/webapi/connectionupgrade` (`lib/web/conn_upgrade.go`): a WebSocket (subprotocol `alpn` or
//! `alpn-ping`) or a legacy raw upgrade (`alpn`, `alpn-ping` with length-prefixed ping
//! framing) carries a byte stream that is routed by ALPN exactly like a TCP connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tungstenite::Message;
use tungstenite::protocol::Role;

use super::ProxyContext;
use super::reply::{Body, error};
use crate::stats::Route;

/// Upgrade types (`constants.WebAPIConnUpgradeType*`).
const WEBSOCKET: &str = "websocket";
const ALPN: &str = "alpn";
const ALPN_PING: &str = "alpn-ping";
/// Payload of the proxy's pings (`teleport.ComponentTeleport`).
const PING_PAYLOAD: &[u8] = b"teleport";
const DUPLEX_BUFFER: usize = 256 * 1024;

/// Comma-separated tokens of every value of `names`, lower-cased.
fn tokens(headers: &HeaderMap, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .flat_map(|name| headers.get_all(*name))
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Which upgrade the proxy serves for the request's `Upgrade` and `X-Teleport-Upgrade`
/// values (comma-separated tokens, lower-cased).
///
/// Teleport 15 and later (`websocket`): WebSocket if offered anywhere, else `alpn-ping`, else
/// `alpn`. Teleport 13 and 14: the first value that is `alpn-ping` or `alpn`, looking at
/// `X-Teleport-Upgrade` before `Upgrade`; WebSocket is unknown. `None`: 404.
fn select(upgrade: &[String], x_teleport: &[String], websocket: bool) -> Option<&'static str> {
    let offered = || x_teleport.iter().chain(upgrade);
    if websocket {
        [WEBSOCKET, ALPN_PING, ALPN]
            .into_iter()
            .find(|kind| offered().any(|u| u == kind))
    } else {
        offered().find_map(|u| [ALPN_PING, ALPN].into_iter().find(|kind| u == kind))
    }
}

pub(crate) fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    ctx: Arc<ProxyContext>,
) -> Response<Body> {
    let upgrade = tokens(req.headers(), &["upgrade"]);
    let x_teleport = tokens(req.headers(), &["x-teleport-upgrade"]);
    match select(&upgrade, &x_teleport, ctx.shared.websocket_upgrade) {
        Some(WEBSOCKET) => websocket(req, peer, ctx),
        Some(kind) => legacy(req, peer, ctx, kind),
        None => error(
            StatusCode::NOT_FOUND,
            &format!(
                "unsupported upgrade types: {:?}",
                x_teleport.iter().chain(&upgrade).collect::<Vec<_>>()
            ),
        ),
    }
}

fn websocket(req: Request<Incoming>, peer: SocketAddr, ctx: Arc<ProxyContext>) -> Response<Body> {
    const NOT_WS: &str = "websocket: the client is not using the websocket protocol: ";
    if req.method() != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{NOT_WS}request method is not GET"),
        );
    }
    if !tokens(req.headers(), &["connection"])
        .iter()
        .any(|t| t == "upgrade")
    {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("{NOT_WS}'upgrade' token not found in 'Connection' header"),
        );
    }
    if !tokens(req.headers(), &["sec-websocket-version"])
        .iter()
        .any(|t| t == "13")
    {
        return error(
            StatusCode::BAD_REQUEST,
            "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header",
        );
    }
    let key = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec())
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return error(
            StatusCode::BAD_REQUEST,
            "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header is missing or blank",
        );
    };
    // gorilla's Upgrader picks the first of the SERVER's subprotocols the client offers.
    let offered = tokens(req.headers(), &["sec-websocket-protocol"]);
    let chosen = [ALPN, ALPN_PING]
        .into_iter()
        .find(|p| offered.iter().any(|o| o == p));

    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&tungstenite::handshake::derive_accept_key(&key)) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = chosen {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol),
        );
    }
    ctx.shared.stats.route(Route::Upgrade);
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let Some(protocol) = chosen else {
            // Teleport closes at once when no known subprotocol was agreed.
            return;
        };
        let (outer, inner) = tokio::io::duplex(DUPLEX_BUFFER);
        tokio::spawn(super::route(inner, peer, ctx.clone(), false));
        let ping = (protocol == ALPN_PING).then_some(ctx.shared.ws_ping_interval);
        websocket_pump(
            ws,
            outer,
            ping,
            ctx.shared.ws_pong_timeout,
            ctx.shared.stopped(),
        )
        .await;
    });
    response
}

/// Moves bytes between binary WebSocket messages and `inner`, pinging every `ping` interval.
/// With `pong_timeout`, a ping left unanswered that long closes the connection (Teleport itself
/// does not enforce pongs; the knob is off by default).
async fn websocket_pump(
    ws: WebSocketStream<TokioIo<Upgraded>>,
    inner: DuplexStream,
    ping: Option<Duration>,
    pong_timeout: Option<Duration>,
    stopped: impl Future<Output = ()>,
) {
    let (mut sink, mut source) = ws.split();
    let (mut rd, mut wr) = tokio::io::split(inner);
    let mut buf = vec![0u8; 32 * 1024];
    let every = ping.unwrap_or(Duration::from_secs(3600));
    let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
    let mut awaiting_pong: Option<Instant> = None;
    tokio::pin!(stopped);
    loop {
        let deadline = awaiting_pong.zip(pong_timeout).map(|(since, t)| since + t);
        tokio::select! {
            msg = source.next() => match msg {
                Some(Ok(Message::Binary(data))) => {
                    if wr.write_all(&data).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Pong(_))) => awaiting_pong = None,
                // tungstenite queued the pong; flushing sends it.
                Some(Ok(Message::Ping(_))) => {
                    let _ = sink.flush().await;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            read = rd.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
                Ok(n) => {
                    if sink.send(Message::Binary(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        break;
                    }
                }
            },
            _ = ticker.tick(), if ping.is_some() => {
                if sink.send(Message::Ping(Bytes::from_static(PING_PAYLOAD))).await.is_err() {
                    break;
                }
                awaiting_pong.get_or_insert_with(Instant::now);
            },
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                tracing::debug!("no pong from the WebSocket client; closing");
                break;
            },
            () = &mut stopped => break,
        }
    }
}

/// The pre-WebSocket upgrade: a 101 then the raw stream (`alpn`), or the stream framed as
/// Teleport's `pingconn` (`alpn-ping`: each write prefixed by its 4-byte big-endian length,
/// an empty frame is a ping).
fn legacy(
    req: Request<Incoming>,
    peer: SocketAddr,
    ctx: Arc<ProxyContext>,
    kind: &'static str,
) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static(kind));
    headers.insert("x-teleport-upgrade", HeaderValue::from_static(kind));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    ctx.shared.stats.route(Route::Upgrade);
    ctx.shared.stats.legacy_upgrade();
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let io = TokioIo::new(upgraded);
        let stopped = ctx.shared.stopped();
        if kind == ALPN {
            tokio::select! {
                () = super::route(io, peer, ctx.clone(), false) => {}
                () = stopped => {}
            }
            return;
        }
        let (outer, inner) = tokio::io::duplex(DUPLEX_BUFFER);
        tokio::spawn(super::route(inner, peer, ctx.clone(), false));
        tokio::select! {
            () = ping_conn_pump(io, outer, ctx.shared.ws_ping_interval) => {}
            () = stopped => {}
        }
    });
    response
}

async fn ping_conn_pump(io: TokioIo<Upgraded>, inner: DuplexStream, every: Duration) {
    let (mut net_rd, mut net_wr) = tokio::io::split(io);
    let (mut rd, mut wr) = tokio::io::split(inner);
    let inbound = async {
        loop {
            let Ok(len) = net_rd.read_u32().await else {
                return;
            };
            if len == 0 {
                continue;
            }
            let mut frame = vec![0u8; len as usize];
            if net_rd.read_exact(&mut frame).await.is_err() || wr.write_all(&frame).await.is_err() {
                return;
            }
        }
    };
    let outbound = async {
        let mut buf = vec![0u8; 32 * 1024];
        let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
        loop {
            tokio::select! {
                read = rd.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let mut frame = Vec::with_capacity(n + 4);
                        frame.extend_from_slice(&(n as u32).to_be_bytes());
                        frame.extend_from_slice(&buf[..n]);
                        if net_wr.write_all(&frame).await.is_err() {
                            return;
                        }
                    }
                },
                _ = ticker.tick() => {
                    if net_wr.write_all(&[0, 0, 0, 0]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = inbound => {}
        () = outbound => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn teleport_15_and_later_prefer_websocket() {
        let both = list(&["websocket", "alpn-ping"]);
        assert_eq!(select(&both, &list(&["alpn-ping"]), true), Some(WEBSOCKET));
        assert_eq!(select(&list(&["websocket"]), &[], true), Some(WEBSOCKET));
        assert_eq!(
            select(&list(&["alpn"]), &list(&["alpn-ping"]), true),
            Some(ALPN_PING)
        );
        assert_eq!(select(&list(&["alpn"]), &[], true), Some(ALPN));
        assert_eq!(select(&list(&["h2c"]), &[], true), None);
    }

    #[test]
    fn teleport_13_and_14_take_the_first_legacy_type_x_teleport_upgrade_first() {
        let both = list(&["websocket", "alpn-ping"]);
        // Teleport 15-17's request: the legacy alpn-ping.
        assert_eq!(select(&both, &list(&["alpn-ping"]), false), Some(ALPN_PING));
        // WebSocket alone: unknown, 404.
        assert_eq!(select(&list(&["websocket"]), &[], false), None);
        // The first known value wins, X-Teleport-Upgrade before Upgrade.
        assert_eq!(
            select(&list(&["alpn-ping"]), &list(&["alpn"]), false),
            Some(ALPN)
        );
        assert_eq!(
            select(&list(&["alpn", "alpn-ping"]), &[], false),
            Some(ALPN)
        );
    }
}
