//! One dial, hop by hop, from the settings to a TLS stream that speaks `h2` with the Auth
//! Service: (HTTP `CONNECT`) -> TCP -> (connection upgrade) -> inner TLS with the identity.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

use super::address::{HostPort, Route};
use super::credentials::Credentials;
use super::http_proxy::HttpProxy;
use super::open_connections::OpenConnections;
use super::prefixed::Prefixed;
use super::proxy_tls::ProxyTls;
use super::upgrade::{self, ConnectionUpgrade};
use super::{BoxedIo, http_connect, proxy_clock, tcp};
use crate::error::{ConnectError, Error};

/// The settings of every dial of a client, in one place: where to, as whom, through which HTTP
/// proxy, whether to upgrade, which proxy certificate to trust, and how long to wait.
pub(crate) struct DialSettings {
    /// The address, and whether it is a proxy or an Auth Service.
    pub(crate) route: Route,
    /// Re-read (identity file) and checked (validity) before each dial.
    pub(crate) credentials: Credentials,
    /// Which HTTP proxy, if any, carries the TCP connection.
    pub(crate) http_proxy: HttpProxy,
    /// Whether to tunnel through the proxy's connection upgrade.
    pub(crate) upgrade: ConnectionUpgrade,
    /// The trust for the proxy's public certificate (upgrade, upgrade check, clock).
    pub(crate) proxy_tls: ProxyTls,
    /// The most a whole dial may take.
    pub(crate) connect_timeout: Duration,
}

impl fmt::Debug for DialSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DialSettings")
            .field("route", &self.route)
            .field("credentials", &self.credentials)
            .field("http_proxy", &self.http_proxy)
            .field("upgrade", &self.upgrade)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// The dials of one client (every reconnection): its settings, the upgrade decision made once,
/// and the connections still open.
#[derive(Debug)]
pub(crate) struct Dialer {
    pub(crate) settings: DialSettings,
    /// The upgrade decision, made once per client.
    upgrade_decision: OnceCell<bool>,
    /// Every connection dialed and not yet closed, for [`crate::Client::disconnect`].
    pub(crate) open: Arc<OpenConnections>,
}

impl Dialer {
    pub(crate) fn new(settings: DialSettings) -> Self {
        Self {
            settings,
            upgrade_decision: OnceCell::new(),
            open: OpenConnections::new(),
        }
    }

    /// One full dial, ending in a TLS stream that negotiated `h2` with the Auth Service. The
    /// whole dial (every hop together) gets the connect timeout, so that a timeout message says
    /// how long the dial really waited.
    pub(crate) async fn dial(&self) -> Result<BoxedIo, Error> {
        let timeout = self.settings.connect_timeout;
        tokio::time::timeout(timeout, self.hops())
            .await
            .unwrap_or_else(|_| {
                Err(Error::Connect(ConnectError::Timeout {
                    addr: self.settings.route.addr().to_string(),
                    step: "dialing",
                    after: timeout,
                }))
            })
    }

    async fn hops(&self) -> Result<BoxedIo, Error> {
        let settings = &self.settings;
        let timeout = settings.connect_timeout;
        let auth_tls = settings.credentials.for_dial()?;
        let addr = settings.route.addr();
        let label = addr.to_string();
        let through_proxy = matches!(settings.route, Route::Proxy(_));
        let upgrade = through_proxy && self.upgrade_required(addr).await?;
        let tcp = self.tcp(addr).await?;
        if upgrade {
            let tunnel = upgrade::tunnel(tcp, addr, &settings.proxy_tls, timeout).await?;
            Ok(Box::new(
                auth_tls.handshake(tunnel, &label, true, timeout).await?,
            ))
        } else {
            Ok(Box::new(
                auth_tls
                    .handshake(tcp, &label, through_proxy, timeout)
                    .await?,
            ))
        }
    }

    /// The proxy's clock minus this machine's, from its web API's `Date` header (proxy routes
    /// only; `None` when it cannot be learned).
    pub(crate) async fn proxy_clock_offset(&self) -> Option<time::Duration> {
        let Route::Proxy(addr) = &self.settings.route else {
            return None;
        };
        // Best effort, and the connection already works: do not hold up a connect for long.
        let timeout = self.settings.connect_timeout.min(proxy_clock::MAX_WAIT);
        let tcp = tokio::time::timeout(timeout, self.tcp(addr))
            .await
            .ok()?
            .ok()?;
        proxy_clock::offset(tcp, addr, &self.settings.proxy_tls, timeout).await
    }

    /// TCP to `target`, through the HTTP proxy's tunnel when one applies.
    async fn tcp(&self, target: &HostPort) -> Result<Prefixed<TcpStream>, Error> {
        let timeout = self.settings.connect_timeout;
        match self.settings.http_proxy.for_target(target)? {
            None => Ok(Prefixed::new(
                Bytes::new(),
                tcp::connect(target, timeout).await?,
            )),
            Some(proxy) => {
                let stream = tcp::connect(proxy.addr(), timeout).await?;
                http_connect::open(stream, &proxy, target, timeout).await
            }
        }
    }

    async fn upgrade_required(&self, addr: &HostPort) -> Result<bool, Error> {
        match self.settings.upgrade {
            ConnectionUpgrade::Always => Ok(true),
            ConnectionUpgrade::Never => Ok(false),
            ConnectionUpgrade::Auto => {
                self.upgrade_decision
                    .get_or_try_init(|| async {
                        if let Some(required) = upgrade::check::required_by_env(&addr.to_string()) {
                            return Ok(required);
                        }
                        match self.tcp(addr).await {
                            Ok(tcp) => {
                                upgrade::check::required(
                                    tcp,
                                    addr,
                                    &self.settings.proxy_tls,
                                    self.settings.connect_timeout,
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
