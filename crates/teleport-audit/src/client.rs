//! [`Client`]: a live gRPC channel to a cluster's Auth Service.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use teleport_audit_proto::authservice::PingRequest;
use teleport_audit_proto::authservice::auth_service_client::AuthServiceClient;
use teleport_identity::AuthRoute;
use tonic::transport::{Channel, Endpoint};

use crate::config;
use crate::config::{Address, ClientConfig};
use crate::connect::address::{DEFAULT_AUTH_PORT, DEFAULT_PROXY_PORT, HostPort};
use crate::connect::credentials::Credentials;
use crate::connect::{Connector, DialSettings, Dialer, ProxyTls, Route};
use crate::error::{AuthError, Error, SettingError};
use crate::expiry;
use crate::rpc;
use crate::rpc_name::Rpc;

/// How long [`Client::disconnect`] waits for the server to close the client's connections.
pub const DISCONNECT_WAIT: Duration = Duration::from_secs(2);

/// What the Auth Service says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PingInfo {
    /// The cluster's name.
    pub cluster_name: String,
    /// The Auth Service's Teleport version.
    pub server_version: String,
    /// The proxy's public address, as the cluster advertises it.
    pub proxy_public_addr: String,
}

/// A connection to a Teleport cluster's Auth Service; cheap to clone.
///
/// The channel reconnects by itself (with a fresh dial: TCP, TLS routing or upgrade, identity
/// check) when the connection drops; calls made meanwhile fail with a retryable error.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<ClientInner>,
}

#[derive(Debug)]
struct ClientInner {
    channel: Channel,
    cluster_name: String,
    server_version: String,
    request_timeout: Duration,
    /// The proxy's clock minus this machine's, measured at connect (see
    /// [`Client::server_clock_offset`]).
    clock_offset: Option<time::Duration>,
    /// The dialer, for the identity it uses (`None` for a client over a given channel).
    dialer: Option<Arc<Dialer>>,
    /// [`ClientConfig::expiry_warning_margin`].
    expiry_warning_margin: Option<Duration>,
    /// The server answered `StreamUnstructuredSessionEvents` with `Unimplemented`: session
    /// recordings are read with the legacy `StreamSessionEvents` (shared by clones).
    session_events_legacy: AtomicBool,
}

impl Client {
    /// Dials the cluster, checks the Auth Service answers for the identity's cluster, and returns
    /// a client.
    ///
    /// # Errors
    ///
    /// Configuration errors ([`SettingError::InvalidAddress`], [`SettingError::Config`], [`Error::Identity`]:
    /// including an expired identity, detected before dialing), every dial failure with its own
    /// variant ([`ConnectError::Resolve`](crate::error::ConnectError::Resolve), [`ConnectError::Refused`](crate::error::ConnectError::Refused), [`ConnectError::Timeout`](crate::error::ConnectError::Timeout),
    /// [`AuthError::UntrustedServer`], [`ConnectError::AlpnNotRouted`](crate::error::ConnectError::AlpnNotRouted), [`ConnectError::UnknownCluster`](crate::error::ConnectError::UnknownCluster),
    /// [`AuthError::CertificateRejected`], [`ConnectError::NoHttp2`](crate::error::ConnectError::NoHttp2), [`ConnectError::Upgrade`](crate::error::ConnectError::Upgrade),
    /// [`ConnectError::HttpProxy`](crate::error::ConnectError::HttpProxy)), then [`AuthError::ClusterMismatch`] or the Ping call's error.
    pub async fn connect(config: ClientConfig) -> Result<Client, Error> {
        let route = match &config.address {
            Some(Address::Proxy(addr)) => Route::Proxy(HostPort::parse(addr, DEFAULT_PROXY_PORT)?),
            Some(Address::Auth(addr)) => Route::Direct(HostPort::parse(addr, DEFAULT_AUTH_PORT)?),
            None => {
                return Err(Error::Setting(SettingError::config(
                    "address",
                    "no proxy or Auth Service address given",
                )));
            }
        };
        let auth_route = match route {
            Route::Proxy(_) => AuthRoute::ThroughProxy,
            Route::Direct(_) => AuthRoute::Direct,
        };
        let credentials = Credentials::new(
            config.identity.as_ref(),
            config.tls_config.clone(),
            auth_route,
        )?;
        let identity = credentials.identity();
        let proxy_tls = ProxyTls::new(
            config.proxy_ca_pem.as_deref(),
            config.insecure_skip_proxy_verify,
        )?;
        let dialer = Arc::new(Dialer::new(DialSettings {
            route,
            credentials,
            http_proxy: config.http_proxy.clone(),
            upgrade: config.connection_upgrade,
            proxy_tls,
            connect_timeout: config.connect_timeout,
        }));
        // Connect eagerly so that a bad address or identity fails here, with its own error.
        let channel = endpoint(&config)
            .connect_with_connector(Connector::new(Arc::clone(&dialer)))
            .await
            .map_err(rpc::transport_error)?;
        let info = ping(&channel, config.request_timeout).await?;
        let clock_offset = dialer.proxy_clock_offset().await;
        let client = Self::new(
            channel,
            info,
            config.request_timeout,
            clock_offset,
            Some((Arc::clone(&dialer), config.expiry_warning_margin)),
        );
        if let Some(identity) = &identity
            && identity.cluster_name() != client.cluster_name()
        {
            return Err(Error::Auth(AuthError::ClusterMismatch {
                identity: identity.cluster_name().to_owned(),
                server: client.cluster_name().to_owned(),
            }));
        }
        // One warning per identity as it nears its expiry, for as long as the client lives.
        expiry::spawn_watch(&dialer, config.expiry_warning_margin);
        Ok(client)
    }

    /// Escape hatch: a client over a ready tonic channel (for example one with your own
    /// connector). Pings the server to learn the cluster name.
    ///
    /// # Errors
    ///
    /// The Ping call's error.
    pub async fn from_channel(channel: Channel) -> Result<Client, Error> {
        Self::with_channel(channel, config::DEFAULT_REQUEST_TIMEOUT).await
    }

    async fn with_channel(channel: Channel, request_timeout: Duration) -> Result<Client, Error> {
        let info = ping(&channel, request_timeout).await?;
        Ok(Self::new(channel, info, request_timeout, None, None))
    }

    fn new(
        channel: Channel,
        info: PingInfo,
        request_timeout: Duration,
        clock_offset: Option<time::Duration>,
        dialer: Option<(Arc<Dialer>, Option<Duration>)>,
    ) -> Client {
        let (dialer, expiry_warning_margin) = dialer.unzip();
        Client {
            inner: Arc::new(ClientInner {
                channel,
                cluster_name: info.cluster_name,
                server_version: info.server_version,
                request_timeout,
                clock_offset,
                dialer,
                expiry_warning_margin: expiry_warning_margin.flatten(),
                session_events_legacy: AtomicBool::new(false),
            }),
        }
    }

    /// Asks the Auth Service for its cluster name and version.
    ///
    /// # Errors
    ///
    /// The call's error (see [`Error`]).
    pub async fn ping(&self) -> Result<PingInfo, Error> {
        ping(&self.inner.channel, self.inner.request_timeout).await
    }

    /// The cluster's name, as the Auth Service reported it when the client connected.
    pub fn cluster_name(&self) -> &str {
        &self.inner.cluster_name
    }

    /// The Auth Service's version, as reported when the client connected.
    pub fn server_version(&self) -> &str {
        &self.inner.server_version
    }

    /// How far the cluster's clock is ahead of this machine's (negative: behind), as the proxy's
    /// web API told at connect (its HTTP `Date` header, to the second). `None` when it could not
    /// be learned: a direct Auth Service address (gRPC carries no time), a proxy whose public
    /// certificate is not trusted, or no answer. Streams use it to refuse a cursor ahead of the
    /// server's clock; what they deliver never depends on it.
    pub fn server_clock_offset(&self) -> Option<time::Duration> {
        self.inner.clock_offset
    }

    /// When the identity's certificate expires (its `not_after`): the identity the next dial
    /// will use. An identity file renewed in place (by `tbot`, for example) is re-read here when
    /// it changed, so this shows the renewal at once. `None` for a client made with
    /// [`Client::from_channel`], or with a TLS configuration and no identity.
    pub fn identity_expiry(&self) -> Option<time::OffsetDateTime> {
        self.identity_status().map(|(expires_at, _)| expires_at)
    }

    /// Whether the identity is within its expiry warning margin (or expired):
    /// [`ClientConfig::expiry_warning_margin`], by default a tenth of its lifetime, at most an
    /// hour. Like [`identity_expiry`](Self::identity_expiry), for the identity the next dial
    /// will use (a renewed file shows at once). `None` when there is no identity.
    pub fn identity_expiring_soon(&self) -> Option<bool> {
        self.identity_status().map(|(_, soon)| soon)
    }

    /// The identity's expiry and whether it is within the warning margin.
    pub(crate) fn identity_status(&self) -> Option<(time::OffsetDateTime, bool)> {
        expiry::status(
            self.inner.dialer.as_ref()?,
            self.inner.expiry_warning_margin,
        )
    }

    /// Ends the client's open connections cleanly, and returns once the server has closed them
    /// (at most [`DISCONNECT_WAIT`]): call it before the process exits.
    ///
    /// Each connection says it is done at every layer (TLS `close_notify`, then TCP's FIN) and
    /// keeps reading until the server closes its side. A process that exits without it closes
    /// its sockets while the server may still be writing, and Teleport's proxy logs an ERROR
    /// for each such connection ("broken pipe"). Calls in flight on this client or its clones
    /// fail with a retryable error; a later call dials again.
    ///
    /// Returns whether every connection was closed by the server in time (`true` when none was
    /// open, and for a client made with [`Client::from_channel`], whose connections are not
    /// ours).
    pub async fn disconnect(&self) -> bool {
        match &self.inner.dialer {
            Some(dialer) => dialer.open.close_all(DISCONNECT_WAIT).await,
            None => true,
        }
    }

    /// The underlying channel, for calling other Teleport RPCs with your own generated stubs.
    pub fn channel(&self) -> &Channel {
        &self.inner.channel
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// Whether session recordings are read with the legacy call (the server does not serve
    /// `StreamUnstructuredSessionEvents`).
    pub(crate) fn session_events_legacy(&self) -> bool {
        self.inner.session_events_legacy.load(Ordering::Relaxed)
    }

    /// From now on, read session recordings with the legacy call.
    pub(crate) fn remember_session_events_legacy(&self) {
        self.inner
            .session_events_legacy
            .store(true, Ordering::Relaxed);
    }
}

async fn ping(channel: &Channel, timeout: Duration) -> Result<PingInfo, Error> {
    let mut client = AuthServiceClient::new(channel.clone());
    let response = rpc::with_timeout(Rpc::Ping, timeout, client.ping(PingRequest {})).await?;
    Ok(PingInfo {
        cluster_name: response.cluster_name,
        server_version: response.server_version,
        proxy_public_addr: response.proxy_public_addr,
    })
}

fn endpoint(config: &ClientConfig) -> Endpoint {
    // The URI only names the HTTP/2 authority; the connector decides where bytes go. Plain
    // `http` because TLS is done by the connector, not by tonic.
    Endpoint::from_static("http://teleport.cluster.local")
        .http2_keep_alive_interval(config.keepalive_interval)
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(false)
        // Room for a whole page in flight: Teleport caps pages at 1 MiB of events.
        .initial_stream_window_size(Some(4 * 1024 * 1024))
        .initial_connection_window_size(Some(8 * 1024 * 1024))
}
