//! From an address and an identity to a byte stream that speaks HTTP/2 to the Auth Service.
//!
//! One dial, in order: (HTTP CONNECT through `HTTPS_PROXY`) -> TCP -> (WebSocket connection
//! upgrade, behind L7 load balancers) -> inner TLS with the identity (the ALPN dialer) -> `h2`.
//! [`Connector`] is the tower service tonic calls for every (re)connection.

pub(crate) mod address;
pub(crate) mod alpn_dialer;
pub(crate) mod credentials;
pub(crate) mod http_proxy;
pub(crate) mod open_connections;
pub(crate) mod ping_conn;
pub(crate) mod prefixed;
pub(crate) mod server_date;
pub(crate) mod tcp;
pub(crate) mod upgrade;
pub(crate) mod verifier;
pub(crate) mod websocket;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

use self::address::HostPort;
use self::credentials::Credentials;
use self::http_proxy::HttpProxy;
use self::open_connections::{OpenConnections, Tracked};
use self::upgrade::{ConnectionUpgrade, ProxyTls};
use crate::Error;

/// A connected byte stream of any of the dial paths.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A boxed [`Io`].
pub(crate) type BoxedIo = Box<dyn Io>;

/// How the Auth Service is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Through a proxy's TLS routing port (the common case, `:443`).
    Proxy(HostPort),
    /// Straight to an Auth Service (`auth.example.com:3025`).
    Direct(HostPort),
}

impl Route {
    fn addr(&self) -> &HostPort {
        match self {
            Route::Proxy(addr) | Route::Direct(addr) => addr,
        }
    }
}

/// Everything one dial needs; shared by every reconnection of a client.
pub(crate) struct Dialer {
    pub(crate) route: Route,
    /// Re-read (identity file) and checked (validity) before each dial.
    pub(crate) credentials: Credentials,
    pub(crate) http_proxy: HttpProxy,
    pub(crate) upgrade: ConnectionUpgrade,
    pub(crate) proxy_tls: ProxyTls,
    pub(crate) connect_timeout: Duration,
    /// The upgrade decision, made once per client.
    upgrade_decision: OnceCell<bool>,
    /// Every connection dialed and not yet closed, for [`crate::Client::disconnect`].
    pub(crate) open: Arc<OpenConnections>,
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("route", &self.route)
            .field("credentials", &self.credentials)
            .field("http_proxy", &self.http_proxy)
            .field("upgrade", &self.upgrade)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Dialer {
    pub(crate) fn new(
        route: Route,
        credentials: Credentials,
        http_proxy: HttpProxy,
        upgrade: ConnectionUpgrade,
        proxy_tls: ProxyTls,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            route,
            credentials,
            http_proxy,
            upgrade,
            proxy_tls,
            connect_timeout,
            upgrade_decision: OnceCell::new(),
            open: OpenConnections::new(),
        }
    }

    /// One full dial, ending in a TLS stream that negotiated `h2` with the Auth Service. The
    /// whole dial (every step together) gets the connect timeout, so that a timeout message says
    /// how long the dial really waited.
    pub(crate) async fn dial(&self) -> Result<BoxedIo, Error> {
        tokio::time::timeout(self.connect_timeout, self.dial_steps())
            .await
            .unwrap_or_else(|_| {
                Err(Error::ConnectTimeout {
                    addr: self.route.addr().to_string(),
                    step: "dialing",
                    after: self.connect_timeout,
                })
            })
    }

    async fn dial_steps(&self) -> Result<BoxedIo, Error> {
        let auth_tls = self.credentials.for_dial()?;
        let addr = self.route.addr();
        let label = addr.to_string();
        match &self.route {
            Route::Direct(_) => {
                let tcp = self.tcp(addr).await?;
                let tls = auth_tls
                    .handshake(tcp, &label, false, self.connect_timeout)
                    .await?;
                Ok(Box::new(tls))
            }
            Route::Proxy(_) => {
                if self.upgrade_required(addr).await? {
                    let tcp = self.tcp(addr).await?;
                    let tunnel =
                        upgrade::upgrade(tcp, addr, &self.proxy_tls, self.connect_timeout).await?;
                    let tls = auth_tls
                        .handshake(tunnel, &label, true, self.connect_timeout)
                        .await?;
                    Ok(Box::new(tls))
                } else {
                    let tcp = self.tcp(addr).await?;
                    let tls = auth_tls
                        .handshake(tcp, &label, true, self.connect_timeout)
                        .await?;
                    Ok(Box::new(tls))
                }
            }
        }
    }

    /// The proxy's clock minus this machine's, from its web API's `Date` header (proxy routes
    /// only; `None` when it cannot be learned).
    pub(crate) async fn proxy_clock_offset(&self) -> Option<time::Duration> {
        let Route::Proxy(addr) = &self.route else {
            return None;
        };
        // Best effort, and the connection already works: do not hold up a connect for long.
        let timeout = self.connect_timeout.min(server_date::MAX_WAIT);
        let tcp = tokio::time::timeout(timeout, self.tcp(addr))
            .await
            .ok()?
            .ok()?;
        server_date::offset(tcp, addr, &self.proxy_tls, timeout).await
    }

    /// TCP to `target`, through the HTTP proxy when one applies.
    async fn tcp(&self, target: &HostPort) -> Result<TcpStream, Error> {
        match self.http_proxy.for_target(target)? {
            None => tcp::connect(target, self.connect_timeout).await,
            Some(proxy) => {
                let mut stream = tcp::connect(proxy.addr(), self.connect_timeout).await?;
                http_proxy::connect_tunnel(&mut stream, &proxy, target, self.connect_timeout)
                    .await?;
                Ok(stream)
            }
        }
    }

    async fn upgrade_required(&self, addr: &HostPort) -> Result<bool, Error> {
        match self.upgrade {
            ConnectionUpgrade::Always => Ok(true),
            ConnectionUpgrade::Never => Ok(false),
            ConnectionUpgrade::Auto => {
                self.upgrade_decision
                    .get_or_try_init(|| async {
                        if let Some(required) = upgrade::required_by_env(&addr.to_string()) {
                            return Ok(required);
                        }
                        match self.tcp(addr).await {
                            Ok(tcp) => {
                                upgrade::probe_required(
                                    tcp,
                                    addr,
                                    &self.proxy_tls,
                                    self.connect_timeout,
                                )
                                .await
                            }
                            // The real dial will report the network error.
                            Err(_) => Ok(false),
                        }
                    })
                    .await
                    .copied()
            }
        }
    }
}

/// The error tonic receives from [`Connector`]: it carries our [`Error`] through tonic's and
/// hyper's error chain, to be taken back out by [`crate::rpc::status_to_error`].
#[derive(Debug)]
pub(crate) struct ConnectFailure {
    summary: String,
    error: Mutex<Option<Error>>,
}

impl ConnectFailure {
    pub(crate) fn new(error: Error) -> Self {
        Self {
            summary: error.to_string(),
            error: Mutex::new(Some(error)),
        }
    }

    /// Takes the original error (once; later callers get `None` and use the summary).
    pub(crate) fn take(&self) -> Option<Error> {
        self.error.lock().ok().and_then(|mut slot| slot.take())
    }

    pub(crate) fn summary(&self) -> &str {
        &self.summary
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)
    }
}

impl std::error::Error for ConnectFailure {}

/// The tower service tonic uses to (re)connect: every call is one [`Dialer::dial`].
#[derive(Clone, Debug)]
pub(crate) struct Connector {
    dialer: Arc<Dialer>,
}

impl Connector {
    pub(crate) fn new(dialer: Arc<Dialer>) -> Self {
        Self { dialer }
    }
}

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<Tracked>;
    type Error = ConnectFailure;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let dialer = Arc::clone(&self.dialer);
        Box::pin(async move {
            match dialer.dial().await {
                Ok(io) => Ok(TokioIo::new(dialer.open.track(io))),
                Err(error) => {
                    // Debug only: the error reaches the caller (Client::connect, or the call
                    // that the stream retries and logs), which reports it once.
                    tracing::debug!(error = %error, code = error.code(), "dial failed");
                    Err(ConnectFailure::new(error))
                }
            }
        })
    }
}
