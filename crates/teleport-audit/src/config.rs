//! [`ClientConfig`]: where the cluster is and who we are.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use teleport_identity::Identity;

use crate::connect::credentials::IdentitySetting;
use crate::connect::http_proxy::HttpProxy;
use crate::connect::upgrade::ConnectionUpgrade;
use crate::error::Error;

/// Default time allowed for each step of a dial (TCP, TLS, upgrade).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default time allowed for one call (a page of search results, a ping).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default HTTP/2 keepalive ping interval (what Teleport's own clients use).
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The Auth Service answers pings more frequent than this with `GOAWAY too_many_pings`.
pub const MIN_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);

/// Where the Auth Service is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Address {
    /// A proxy's address (`teleport.example.com:443`): TLS routing to the Auth Service.
    Proxy(String),
    /// An Auth Service's address (`auth.example.com:3025`).
    Auth(String),
}

/// Settings of a [`crate::Client`]: the proxy address, the identity, and connection options.
///
/// The usual start is [`ClientConfig::from_identity_str`] with the two settings a user gives:
/// the proxy address with its port, and the whole text of the identity file.
///
/// ```no_run
/// # async fn run() -> Result<(), teleport_audit::Error> {
/// use teleport_audit::{Client, ClientConfig};
///
/// let identity = std::env::var("TELEPORT_IDENTITY").unwrap_or_default();
/// let config = ClientConfig::from_identity_str("teleport.example.com:443", &identity)?
///     .request_timeout(std::time::Duration::from_secs(30));
/// let client = Client::connect(config).await?;
/// println!("connected to {}", client.cluster_name());
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    pub(crate) address: Option<Address>,
    pub(crate) identity: Option<IdentitySetting>,
    pub(crate) tls_config: Option<Arc<rustls::ClientConfig>>,
    pub(crate) http_proxy: HttpProxy,
    pub(crate) connection_upgrade: ConnectionUpgrade,
    pub(crate) proxy_ca_pem: Option<String>,
    pub(crate) insecure_skip_proxy_verify: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) keepalive_interval: Duration,
    /// `None`: [`crate::expiry::default_margin`].
    pub(crate) expiry_warning_margin: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            address: None,
            identity: None,
            tls_config: None,
            http_proxy: HttpProxy::default(),
            connection_upgrade: ConnectionUpgrade::default(),
            proxy_ca_pem: None,
            insecure_skip_proxy_verify: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            expiry_warning_margin: None,
        }
    }
}

impl fmt::Debug for ClientConfig {
    // Manual: the identity holds a private key (its own Debug is redacted, but we show less).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("address", &self.address)
            .field(
                "identity",
                &self.identity.as_ref().map(IdentitySetting::describe),
            )
            .field("tls_config", &self.tls_config.as_ref().map(|_| "<custom>"))
            .field("http_proxy", &self.http_proxy)
            .field("connection_upgrade", &self.connection_upgrade)
            .field("proxy_ca_pem", &self.proxy_ca_pem.as_ref().map(|_| "<pem>"))
            .field(
                "insecure_skip_proxy_verify",
                &self.insecure_skip_proxy_verify,
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("expiry_warning_margin", &self.expiry_warning_margin)
            .finish()
    }
}

impl ClientConfig {
    /// A config for a proxy address and the whole text of an identity file (the secret).
    ///
    /// # Errors
    ///
    /// [`SettingError::InvalidAddress`](crate::error::SettingError::InvalidAddress) if the address does not parse, [`Error::Identity`] if the text is
    /// not a usable identity file (the source says which line or block failed).
    pub fn from_identity_str(proxy_addr: &str, identity_text: &str) -> Result<Self, Error> {
        crate::connect::address::HostPort::parse(
            proxy_addr,
            crate::connect::address::DEFAULT_PROXY_PORT,
        )?;
        let identity = Identity::from_identity_str(identity_text)?;
        Ok(Self::default().proxy_addr(proxy_addr).identity(identity))
    }

    /// A config for a proxy address and an identity file on disk. The file is parsed now, and
    /// re-read whenever the client reconnects after it changed: point it at the output of
    /// Machine ID (`tbot`), which renews short-lived identities in place.
    ///
    /// # Errors
    ///
    /// As [`ClientConfig::from_identity_str`], plus a read error naming the path.
    pub fn from_identity_file(proxy_addr: &str, path: impl AsRef<Path>) -> Result<Self, Error> {
        crate::connect::address::HostPort::parse(
            proxy_addr,
            crate::connect::address::DEFAULT_PROXY_PORT,
        )?;
        let path = path.as_ref();
        let identity = Identity::from_identity_file(path)?;
        let mut config = Self::default().proxy_addr(proxy_addr);
        config.identity = Some(IdentitySetting::File {
            path: path.to_owned(),
            initial: Some(Arc::new(identity)),
        });
        Ok(config)
    }

    /// Connect through this proxy (`host:port`, a bare host means port 443, `https://`
    /// tolerated) using its TLS routing. Checked when connecting.
    #[must_use]
    pub fn proxy_addr(mut self, addr: impl Into<String>) -> Self {
        self.address = Some(Address::Proxy(addr.into()));
        self
    }

    /// Connect straight to an Auth Service (`host:port`, a bare host means port 3025) instead of
    /// through a proxy.
    #[must_use]
    pub fn auth_addr(mut self, addr: impl Into<String>) -> Self {
        self.address = Some(Address::Auth(addr.into()));
        self
    }

    /// The identity to authenticate with.
    #[must_use]
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(IdentitySetting::Fixed(Arc::new(identity)));
        self
    }

    /// Authenticate with the identity file at `path`, read when connecting and re-read whenever
    /// the client reconnects after the file changed (for Machine ID / `tbot` renewals).
    #[must_use]
    pub fn identity_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.identity = Some(IdentitySetting::File {
            path: path.into(),
            initial: None,
        });
        self
    }

    /// Escape hatch: use this rustls configuration for the TLS to the Auth Service instead of the
    /// one built from the identity. Its roots, client certificate and ALPN list (the proxy routes
    /// on the first value) are used as they are; the server name is `teleport.cluster.local`.
    #[must_use]
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls_config = Some(Arc::new(config));
        self
    }

    /// Which HTTP proxy carries the connection (default: `HTTPS_PROXY` / `NO_PROXY`).
    #[must_use]
    pub fn http_proxy(mut self, proxy: HttpProxy) -> Self {
        self.http_proxy = proxy;
        self
    }

    /// Whether to use the WebSocket connection upgrade (default: detect, like Teleport).
    #[must_use]
    pub fn connection_upgrade(mut self, mode: ConnectionUpgrade) -> Self {
        self.connection_upgrade = mode;
        self
    }

    /// An extra CA (PEM) to trust for the proxy's public certificate, besides the system roots:
    /// for proxies with a self-signed or private-CA web certificate. Only the connection-upgrade
    /// path uses the public certificate.
    #[must_use]
    pub fn proxy_ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.proxy_ca_pem = Some(pem.into());
        self
    }

    /// Accept any certificate for the proxy's *public* TLS (connection upgrade only). The TLS to
    /// the Auth Service inside it is still verified against the identity's host CA. Insecure:
    /// use only for testing against a proxy with a throwaway certificate.
    #[must_use]
    pub fn insecure_skip_proxy_verify(mut self) -> Self {
        self.insecure_skip_proxy_verify = true;
        self
    }

    /// Time allowed for each dial step: TCP, HTTP CONNECT, TLS, upgrade (default 15 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one call before it counts as stalled (default 60 s).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// HTTP/2 keepalive ping interval (default 5 min). Values under 60 s are raised to 60 s: the
    /// Auth Service closes connections that ping more often.
    #[must_use]
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = interval.max(MIN_KEEPALIVE_INTERVAL);
        self
    }

    /// How long before the identity's expiry the client warns (one `WARN` log line per
    /// identity) and [`crate::StreamStats::identity_expiring_soon`] turns true. Default: a tenth
    /// of the certificate's lifetime, at most an hour ([`crate::expiry::default_margin`]: 48
    /// min for an 8 h identity, 6 min for a 1 h one). `Duration::ZERO` warns only once it has
    /// expired. An open connection keeps working past the expiry; the next dial then fails with
    /// [`crate::Error::Identity`] (`identity_expired`), unless the identity file was renewed.
    #[must_use]
    pub fn expiry_warning_margin(mut self, margin: Duration) -> Self {
        self.expiry_warning_margin = Some(margin);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SettingError;

    #[test]
    fn keepalive_is_never_under_a_minute() {
        let config = ClientConfig::default().keepalive_interval(Duration::from_secs(5));
        assert_eq!(config.keepalive_interval, MIN_KEEPALIVE_INTERVAL);
        let config = ClientConfig::default().keepalive_interval(Duration::from_secs(120));
        assert_eq!(config.keepalive_interval, Duration::from_secs(120));
    }

    #[test]
    fn bad_address_is_reported_before_the_identity() {
        let error = ClientConfig::from_identity_str("http://x", "not an identity").unwrap_err();
        assert!(
            matches!(error, Error::Setting(SettingError::InvalidAddress { .. })),
            "{error:?}"
        );
        let error = ClientConfig::from_identity_str("x:443", "not an identity").unwrap_err();
        assert!(matches!(error, Error::Identity(_)), "{error:?}");
    }

    #[test]
    fn debug_shows_no_secrets() {
        let config = ClientConfig::default()
            .proxy_addr("teleport.example.com:443")
            .proxy_ca_pem("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
        let debug = format!("{config:?}");
        assert!(debug.contains("teleport.example.com:443"));
        assert!(!debug.contains("MIIB"));
    }
}
