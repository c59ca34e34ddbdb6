//! A minimal gRPC client for the simulated cluster, built from parts (tokio-rustls, the
//! identity crate's TLS config, tonic over a custom connector, tungstenite for the WebSocket
//! upgrade), so the sim's tests do not depend on the `teleport-audit` client they exist to test.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, ServerName};
use teleport_audit_proto::auditlog::v1::audit_log_service_client::AuditLogServiceClient;
use teleport_audit_proto::authservice::auth_service_client::AuthServiceClient;
use teleport_audit_sim::SimCluster;
use teleport_audit_sim::ca::IdentitySpec;
use teleport_identity::{AUTH_SERVER_NAME, AuthRoute, Identity};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tonic::transport::{Channel, Endpoint};

/// Boxed error of the helpers (tests only print it).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// gRPC clients over one connection.
#[derive(Debug, Clone)]
pub struct Clients {
    /// `teleport.auditlog.v1.AuditLogService`.
    pub audit: AuditLogServiceClient<Channel>,
    /// `proto.AuthService` (Ping).
    pub auth: AuthServiceClient<Channel>,
    /// The channel both use (to build clients with other settings).
    pub channel: Channel,
}

impl Clients {
    fn new(channel: Channel) -> Clients {
        Clients {
            // Allow oversized events through: the sim may serve messages over 4 MiB on purpose.
            audit: AuditLogServiceClient::new(channel.clone()).max_decoding_message_size(64 << 20),
            auth: AuthServiceClient::new(channel.clone()),
            channel,
        }
    }
}

/// Parses an identity file text.
pub fn identity_from(text: &str) -> Identity {
    Identity::from_identity_str(text)
        .unwrap_or_else(|e| panic!("identity file does not parse: {e}"))
}

/// Issues and parses an identity for `spec`.
pub fn identity(sim: &SimCluster, spec: &IdentitySpec) -> Identity {
    identity_from(
        &sim.issue_identity(spec)
            .unwrap_or_else(|e| panic!("issue identity: {e}")),
    )
}

/// The identity's rustls config for `route`.
pub fn auth_tls(identity: &Identity, route: AuthRoute) -> ClientConfig {
    identity
        .tls_client_config(route)
        .unwrap_or_else(|e| panic!("client TLS config: {e}"))
}

/// A client config trusting the sim's web CA, offering `alpn`.
pub fn web_tls(sim: &SimCluster, alpn: &[&str]) -> ClientConfig {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(sim.web_ca_pem().as_bytes()) {
        roots
            .add(cert.unwrap_or_else(|e| panic!("web CA PEM: {e}")))
            .unwrap_or_else(|e| panic!("web CA: {e}"));
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| panic!("protocol versions: {e}"))
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    config
}

/// TLS over `io` with server name `server_name`.
pub async fn tls_over<S>(
    io: S,
    config: ClientConfig,
    server_name: &str,
) -> io::Result<tokio_rustls::client::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    TlsConnector::from(Arc::new(config)).connect(name, io).await
}

/// TCP to `addr`, then TLS.
pub async fn tls_connect(
    addr: SocketAddr,
    config: ClientConfig,
    server_name: &str,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    tls_over(tcp, config, server_name).await
}

/// A tonic channel whose connections are made by `dial` (called again on reconnect).
async fn channel_with<F, Fut, S>(dial: F) -> Result<Channel, BoxError>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<S>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let dial = Arc::new(dial);
    let connector = tower::service_fn(move |_uri: http::Uri| {
        let dial = dial.clone();
        async move { dial().await.map(TokioIo::new) }
    });
    Ok(Endpoint::from_static("http://teleport.cluster.local")
        .connect_with_connector(connector)
        .await?)
}

/// Fails unless TLS negotiated `h2`, as a gRPC client must check.
fn require_h2<S>(tls: &tokio_rustls::client::TlsStream<S>) -> io::Result<()> {
    match tls.get_ref().1.alpn_protocol() {
        Some(b"h2") => Ok(()),
        other => Err(io::Error::other(format!(
            "negotiated ALPN {:?}, not h2",
            other.map(String::from_utf8_lossy)
        ))),
    }
}

/// gRPC straight to the Auth Service (`AuthRoute::Direct`).
pub async fn direct(sim: &SimCluster, identity: &Identity) -> Result<Clients, BoxError> {
    let addr = sim.auth_addr();
    let config = auth_tls(identity, AuthRoute::Direct);
    let channel = channel_with(move || {
        let config = config.clone();
        async move {
            let tls = tls_connect(addr, config, AUTH_SERVER_NAME).await?;
            require_h2(&tls)?;
            Ok(tls)
        }
    })
    .await?;
    Ok(Clients::new(channel))
}

/// gRPC through the proxy's TLS routing (`AuthRoute::ThroughProxy`).
pub async fn via_proxy(sim: &SimCluster, identity: &Identity) -> Result<Clients, BoxError> {
    via_proxy_with(
        sim.proxy_addr(),
        auth_tls(identity, AuthRoute::ThroughProxy),
    )
    .await
}

/// gRPC through the proxy at `addr` with a ready TLS config (its ALPN decides the route).
pub async fn via_proxy_with(addr: SocketAddr, config: ClientConfig) -> Result<Clients, BoxError> {
    let channel = channel_with(move || {
        let config = config.clone();
        async move {
            let tls = tls_connect(addr, config, AUTH_SERVER_NAME).await?;
            require_h2(&tls)?;
            Ok(tls)
        }
    })
    .await?;
    Ok(Clients::new(channel))
}

/// What a WebSocket tunnel saw.
#[derive(Debug, Default)]
pub struct TunnelStats {
    /// Pings received from the proxy.
    pub pings: AtomicU64,
    /// Whether every ping payload was `teleport`.
    pub payload_mismatch: AtomicU64,
}

/// An HTTP/1.1 WebSocket upgrade at `/webapi/connectionupgrade` with `subprotocol`, over the
/// proxy's web TLS (no ALPN, as through a load balancer). Returns the WebSocket and the
/// subprotocol the proxy agreed to.
pub async fn websocket(
    sim: &SimCluster,
    subprotocol: &str,
) -> Result<
    (
        tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>,
        Option<String>,
    ),
    BoxError,
> {
    let tls = tls_connect(sim.proxy_addr(), web_tls(sim, &[]), "localhost").await?;
    let mut request = format!(
        "wss://localhost:{}/webapi/connectionupgrade",
        sim.proxy_addr().port()
    )
    .into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        http::HeaderValue::from_str(subprotocol)?,
    );
    let (ws, response) = tokio_tungstenite::client_async(request, tls).await?;
    let agreed = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((ws, agreed))
}

/// Turns a WebSocket into a byte stream (binary messages), answering pings, counting them.
pub fn websocket_stream<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    stats: Arc<TunnelStats>,
) -> tokio::io::DuplexStream
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        let (mut sink, mut source) = ws.split();
        let (mut rd, mut wr) = tokio::io::split(ours);
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            tokio::select! {
                msg = source.next() => match msg {
                    Some(Ok(Message::Binary(data))) => {
                        if wr.write_all(&data).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Ping(payload))) => {
                        stats.pings.fetch_add(1, Ordering::SeqCst);
                        if payload.as_ref() != b"teleport" {
                            stats.payload_mismatch.fetch_add(1, Ordering::SeqCst);
                        }
                        // tungstenite queued the pong; flushing sends it.
                        let _ = sink.flush().await;
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
                read = rd.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if sink.send(Message::Binary(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                            break;
                        }
                    }
                },
            }
        }
    });
    theirs
}

/// gRPC through a WebSocket connection upgrade with `subprotocol` (`alpn` or `alpn-ping`):
/// the inner TLS is the same as through the proxy's TLS routing.
pub async fn via_upgrade(
    sim: &SimCluster,
    identity: &Identity,
    subprotocol: &str,
) -> Result<(Clients, Arc<TunnelStats>), BoxError> {
    let (ws, agreed) = websocket(sim, subprotocol).await?;
    if agreed.as_deref() != Some(subprotocol) {
        return Err(format!("proxy agreed to {agreed:?}, not {subprotocol}").into());
    }
    let stats = Arc::new(TunnelStats::default());
    let stream = websocket_stream(ws, stats.clone());
    Ok((over_stream(stream, identity).await?, stats))
}

/// gRPC over an already established byte stream to the proxy's router (the inside of a
/// connection upgrade): inner TLS as through TLS routing. The channel cannot reconnect.
pub async fn over_stream<S>(stream: S, identity: &Identity) -> Result<Clients, BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = auth_tls(identity, AuthRoute::ThroughProxy);
    let slot = Arc::new(Mutex::new(Some(stream)));
    let channel = channel_with(move || {
        let config = config.clone();
        let taken = slot.lock().map(|mut s| s.take()).ok().flatten();
        async move {
            let stream =
                taken.ok_or_else(|| io::Error::other("the tunnel carries one connection"))?;
            let tls = tls_over(stream, config, AUTH_SERVER_NAME).await?;
            require_h2(&tls)?;
            Ok(tls)
        }
    })
    .await?;
    Ok(Clients::new(channel))
}

/// Sends `request` over the proxy's web TLS and reads the response head (through the blank
/// line); returns the stream for what follows (an upgraded connection) and the head.
pub async fn raw_upgrade(
    sim: &SimCluster,
    request: &str,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, String), BoxError> {
    let mut tls = tls_connect(sim.proxy_addr(), web_tls(sim, &[]), "localhost").await?;
    tls.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tls.read(&mut byte).await? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok((tls, String::from_utf8_lossy(&head).into_owned()))
}

/// An HTTP/1.1 request over the proxy's web TLS; returns the status and the body.
pub async fn https_request(
    sim: &SimCluster,
    alpn: &[&str],
    request: &str,
) -> Result<(u16, String), BoxError> {
    let mut tls = tls_connect(sim.proxy_addr(), web_tls(sim, alpn), "localhost").await?;
    tls.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tls.read_to_end(&mut raw).await.or_else(|e| {
        // Some servers close without close_notify; what was read is complete.
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Ok(0)
        } else {
            Err(e)
        }
    })?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    Ok((status, body.to_string()))
}

/// `GET path` over the proxy's web TLS (HTTP/1.1, `Connection: close`).
pub async fn https_get(sim: &SimCluster, path: &str) -> Result<(u16, String), BoxError> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    https_request(sim, &["http/1.1"], &request).await
}

/// The certificate chain the server presented on a TLS stream.
pub fn peer_chain<S>(tls: &tokio_rustls::client::TlsStream<S>) -> Vec<CertificateDer<'static>> {
    tls.get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default()
}
