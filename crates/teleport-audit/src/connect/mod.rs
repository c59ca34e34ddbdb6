//! From an address and an identity to a byte stream that speaks HTTP/2 to the Auth Service.
//!
//! One dial ([`dial`]), hop by hop, one file each:
//! 1. the HTTP proxy, if one applies ([`http_proxy`]: the setting, `HTTPS_PROXY` / `NO_PROXY`);
//! 2. TCP to it or to the target ([`tcp`]), then, through a proxy, its `CONNECT` tunnel
//!    ([`http_connect`]);
//! 3. behind an L7 load balancer, the connection upgrade ([`upgrade`]: whether it is needed,
//!    [`upgrade::check`]; outer TLS to the proxy's public certificate, [`proxy_tls`]; the
//!    request and the answer; the WebSocket or `pingconn` tunnel);
//! 4. the inner TLS with the identity and ALPN, which must negotiate `h2` ([`auth_tls`], the
//!    identity per dial from [`credentials`], a refused certificate named by [`verifier`]).
//!
//! The settings of every dial live in one struct ([`dial::DialSettings`]); the address in one
//! type ([`address`]). HTTP/1.1 exchanges (the `CONNECT`, the upgrade, the proxy's clock) go
//! through hyper's client ([`http1`]). [`Connector`] is the tower service tonic calls for every
//! (re)connection; [`open_connections`] lists what it handed out, to end them cleanly. The
//! proxy's clock ([`proxy_clock`]) is read once per client, beside the dial.

pub(crate) mod address;
pub(crate) mod auth_tls;
pub(crate) mod connector;
pub(crate) mod credentials;
pub(crate) mod dial;
pub(crate) mod http1;
pub(crate) mod http_connect;
pub(crate) mod http_proxy;
pub(crate) mod open_connections;
pub(crate) mod prefixed;
pub(crate) mod proxy_clock;
pub(crate) mod proxy_tls;
pub(crate) mod tcp;
pub(crate) mod upgrade;
pub(crate) mod verifier;

use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) use self::address::Route;
pub(crate) use self::connector::{ConnectFailure, Connector};
pub(crate) use self::dial::{DialSettings, Dialer};
pub(crate) use self::proxy_tls::ProxyTls;

/// A connected byte stream of any of the dial paths.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A boxed [`Io`].
pub(crate) type BoxedIo = Box<dyn Io>;
