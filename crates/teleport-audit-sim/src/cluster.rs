//! [`SimCluster`] and its builder: the CA, the Auth Service and the proxy on loopback.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::ca::{ClusterCa, IdentitySpec};
use crate::faults::Faults;
use crate::proxy::ProxyContext;
use crate::recordings::RecordingSettings;
use crate::roles::{Permissions, Roles};
use crate::shared::{Shared, Version};
use crate::stats::{RpcStats, Stats};
use crate::store::{EventStore, StoreConfig};
use crate::{Backend, Clock, SimError, auth, proxy};

/// Default cluster name.
pub const DEFAULT_CLUSTER_NAME: &str = "sim.teleport.test";
/// Default Teleport version the sim announces.
pub const DEFAULT_SERVER_VERSION: &str = "18.2.0";
/// Teleport's cap on the JSON bytes of one search page (`events.MaxEventBytesInResponse`).
pub const DEFAULT_PAGE_BYTE_CAP: usize = 1024 * 1024;

/// Settings of a simulated cluster; [`SimClusterBuilder::start`] runs it.
#[must_use = "a builder does nothing until `start` is called"]
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct SimClusterBuilder {
    cluster_name: String,
    server_version: String,
    old_clients: OldClients,
    backend: Backend,
    backlog: Option<(u64, BacklogSpan)>,
    live_rate: f64,
    seed: u64,
    roles: Vec<(String, Permissions)>,
    ws_ping_interval: Duration,
    ws_pong_timeout: Option<Duration>,
    page_byte_cap: usize,
    clock: Clock,
    final_page_key_probability: f64,
    event_cache_bytes: usize,
    self_signed_web_cert: bool,
    websocket_upgrade: bool,
    proxy_listen: SocketAddr,
    sessions: u64,
    recordings: RecordingSettings,
}

/// What the Auth Service does with a call whose `version` metadata (sent by Teleport's Go API
/// client on every call) names a client older than `<server major - 1>.0.0-aa`, or a version
/// that does not parse: Teleport closes the connection (lib/auth/middleware.go,
/// `ValidateClientVersion`), so the client sees it drop, without a status. A call without the
/// header (teleport-audit sends none), or with several values, is never checked.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OldClients {
    /// As Teleport of the announced version does by default: from 16.0 on, old clients are
    /// disconnected; before, nothing is checked (13.3.8 and 14.2.3 have no check; later 13,
    /// 14 and 15 patch releases check only when told to).
    #[default]
    AsVersion,
    /// Serve every client: Teleport's `TELEPORT_UNSTABLE_ALLOW_OLD_CLIENTS=yes` (16.0 on).
    Allow,
    /// Disconnect old clients whatever the version: Teleport's
    /// `TELEPORT_UNSTABLE_REJECT_OLD_CLIENTS=yes` (the opt-in of the 13 to 15 backports).
    Reject,
}

/// Where the backlog lies: fixed times, or a span ending at the server's "now" when the
/// cluster starts.
#[derive(Debug, Clone, Copy)]
enum BacklogSpan {
    Between(OffsetDateTime, OffsetDateTime),
    BeforeNow(Duration),
}

impl Default for SimClusterBuilder {
    fn default() -> SimClusterBuilder {
        SimClusterBuilder {
            cluster_name: DEFAULT_CLUSTER_NAME.to_string(),
            server_version: DEFAULT_SERVER_VERSION.to_string(),
            old_clients: OldClients::default(),
            backend: Backend::default(),
            backlog: None,
            live_rate: 0.0,
            seed: 1,
            roles: Vec::new(),
            ws_ping_interval: Duration::from_secs(30),
            ws_pong_timeout: None,
            page_byte_cap: DEFAULT_PAGE_BYTE_CAP,
            clock: Clock::system(),
            final_page_key_probability: 0.5,
            event_cache_bytes: 64 << 20,
            self_signed_web_cert: false,
            websocket_upgrade: true,
            proxy_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            sessions: 0,
            recordings: RecordingSettings::default(),
        }
    }
}

impl SimClusterBuilder {
    /// Cluster name (default `sim.teleport.test`).
    pub fn cluster_name(mut self, name: impl Into<String>) -> Self {
        self.cluster_name = name.into();
        self
    }

    /// Teleport version announced by `Ping` and `/webapi/ping` (default `18.2.0`). It decides
    /// which RPCs exist and whether clients announcing a `version` older than the previous
    /// major are disconnected (from 16.0 on; see [`old_clients`](Self::old_clients)).
    pub fn server_version(mut self, version: impl Into<String>) -> Self {
        self.server_version = version.into();
        self
    }

    /// What the Auth Service does with clients older than the previous major (default:
    /// what Teleport of the [`server_version`](Self::server_version) does by default).
    pub fn old_clients(mut self, old_clients: OldClients) -> Self {
        self.old_clients = old_clients;
        self
    }

    /// The audit storage to imitate (default DynamoDB with a 2-second visibility delay).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// `count` events spread over `[start, end)`, generated lazily (deterministic from the
    /// seed; memory stays small whatever the count).
    ///
    /// The times are absolute. With a [`clock_offset`](Self::clock_offset) (or any clock other
    /// than the wall clock), a backlog meant to end "now" must end at the server's now, not
    /// at `OffsetDateTime::now_utc()`: use [`recent_backlog`](Self::recent_backlog), or
    /// compute the times from the clock's [`Clock::now`]. Backlog events later than the
    /// server's now exist at once but become visible only when the server's clock reaches
    /// them (plus the backend's delay).
    pub fn backlog(mut self, count: u64, start: OffsetDateTime, end: OffsetDateTime) -> Self {
        self.backlog = Some((count, BacklogSpan::Between(start, end)));
        self
    }

    /// `count` events spread over the `span` before the server's "now" (read from the
    /// cluster's clock, offset included, when [`start`](Self::start) runs): the history of a
    /// cluster that has been up for `span`. Replaces any [`backlog`](Self::backlog).
    pub fn recent_backlog(mut self, count: u64, span: Duration) -> Self {
        self.backlog = Some((count, BacklogSpan::BeforeNow(span)));
        self
    }

    /// New events generated continuously at "now" (default 0: none).
    pub fn live_rate(mut self, events_per_second: f64) -> Self {
        self.live_rate = events_per_second;
        self
    }

    /// Recorded SSH sessions (default 0: recordings off). With `count > 0`, the audit log
    /// gets `count` sessions spread over the backlog's span (the hour before now without a
    /// backlog), each with `session.start`, `session.join`, `session.leave`, `session.end`
    /// and a `session.upload` (plus three unrelated events), and a recording served by the
    /// session stream RPCs; live SSH sessions get a `session.upload` and a recording too.
    /// The first session's recording is large, the next four are missing, late, corrupt and
    /// empty (in an order the seed picks), the rest small: see
    /// [`EventStore::recorded_sessions`](crate::EventStore::recorded_sessions). With
    /// recordings off, the session stream serves a session's audit events instead.
    pub fn sessions(mut self, count: u64) -> Self {
        self.sessions = count;
        self
    }

    /// How recordings look: the size of the large one, the delay of the late one.
    pub fn recordings(mut self, settings: RecordingSettings) -> Self {
        self.recordings = settings;
        self
    }

    /// Seed of every generated value (default 1).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Adds or replaces a role. Built in: `editor`, `auditor`, `audit-reader` (everything the
    /// audit API checks) and `access` (nothing).
    pub fn role(mut self, name: impl Into<String>, permissions: Permissions) -> Self {
        self.roles.push((name.into(), permissions));
        self
    }

    /// Interval of the proxy's pings on `alpn-ping` upgrades (default 30 s, as Teleport).
    pub fn ws_ping_interval(mut self, interval: Duration) -> Self {
        self.ws_ping_interval = interval;
        self
    }

    /// Close a WebSocket upgrade whose ping goes unanswered this long (default `None`:
    /// Teleport sends pings but never checks for pongs).
    pub fn ws_pong_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.ws_pong_timeout = timeout;
        self
    }

    /// JSON bytes per search page (default 1 MiB, Teleport's cap).
    pub fn page_byte_cap(mut self, bytes: usize) -> Self {
        self.page_byte_cap = bytes;
        self
    }

    /// The clock the server's time follows: event times, visibility, flushes, export dates
    /// (default the wall clock). Keep a clone to [`advance`](Clock::advance) it.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Runs the cluster with its clock `offset` from the real one, ahead (positive) or behind
    /// (negative): shorthand for `.clock(Clock::system_offset(offset))`, replacing any
    /// [`clock`](Self::clock).
    ///
    /// Everything that is the server's time follows it: live events are stamped with it, search
    /// visibility (DynamoDB's delay, Athena's flushes) and the session stream are judged
    /// against it, export lists the chunks flushed by it and its UTC date, a
    /// [`recent_backlog`](Self::recent_backlog) ends at it, and the proxy's HTTP `Date`
    /// header carries it. Timers that pace connections stay in real time, and so do
    /// certificates (issued valid from a minute before the real now, the Auth Service closing
    /// a connection when its certificate really expires), so a client whose clock is right
    /// connects whatever the offset; test certificate validity with
    /// [`IdentitySpec::not_before`](crate::ca::IdentitySpec::not_before) and friends.
    pub fn clock_offset(self, offset: time::Duration) -> Self {
        self.clock(Clock::system_offset(offset))
    }

    /// Probability that a final, short search page still carries a `last_key` (default 0.5,
    /// drawn from the seed per query), so clients must handle the empty page that follows.
    pub fn final_page_key_probability(mut self, probability: f64) -> Self {
        self.final_page_key_probability = probability;
        self
    }

    /// Memory for generated events kept encoded between queries (default 64 MiB).
    pub fn event_cache_bytes(mut self, bytes: usize) -> Self {
        self.event_cache_bytes = bytes;
        self
    }

    /// Present the web certificate a real proxy uses when no `https_keypairs` are configured: a
    /// self-signed certificate with `CA:TRUE` for `localhost` (default `false`: a proper server
    /// certificate signed by a separate web CA). [`SimCluster::web_ca_pem`] then returns that
    /// certificate; WebPKI verifiers such as rustls refuse it even when they trust it
    /// (`CaUsedAsEndEntity`), as they refuse a real proxy's.
    pub fn self_signed_web_cert(mut self, enabled: bool) -> Self {
        self.self_signed_web_cert = enabled;
        self
    }

    /// Whether the proxy's `/webapi/connectionupgrade` serves the WebSocket upgrade (default
    /// `true`, as Teleport 15 and later, which prefer it over the legacy types when a request
    /// offers several). `false` serves it as Teleport 13 and 14 do (`lib/web/conn_upgrade.go`):
    /// only the legacy types `alpn-ping` and `alpn`, the first known one of the
    /// `X-Teleport-Upgrade` values then the `Upgrade` values; a request offering only
    /// `websocket` gets 404 (`unsupported upgrade types`).
    pub fn websocket_upgrade(mut self, enabled: bool) -> Self {
        self.websocket_upgrade = enabled;
        self
    }

    /// Where the proxy listens (default `127.0.0.1:0`: loopback, an ephemeral port). Port 0
    /// picks a free port ([`SimCluster::proxy_addr`] tells which). The Auth Service always
    /// listens on loopback, on an ephemeral port. The web certificate covers `localhost`,
    /// `127.0.0.1` and this address's IP when it is a specific one.
    pub fn proxy_listen(mut self, addr: SocketAddr) -> Self {
        self.proxy_listen = addr;
        self
    }

    /// Starts the cluster: the Auth Service on loopback, the proxy where
    /// [`proxy_listen`](Self::proxy_listen) says (loopback by default), on ephemeral ports
    /// unless told otherwise.
    ///
    /// # Errors
    /// [`SimError::Config`] for an invalid setting; [`SimError::Ca`], [`SimError::Tls`] or
    /// [`SimError::Bind`] when the cluster cannot be set up.
    pub async fn start(self) -> Result<SimCluster, SimError> {
        let version = Version::parse(&self.server_version).ok_or_else(|| SimError::Config {
            field: "server_version",
            reason: format!(
                "{:?} is not a MAJOR.MINOR.PATCH version",
                self.server_version
            ),
        })?;
        if self.page_byte_cap == 0 {
            return Err(SimError::Config {
                field: "page_byte_cap",
                reason: "must be at least one byte".into(),
            });
        }
        if !(0.0..=1.0).contains(&self.final_page_key_probability) {
            return Err(SimError::Config {
                field: "final_page_key_probability",
                reason: format!("{} is not between 0 and 1", self.final_page_key_probability),
            });
        }
        if self.ws_ping_interval.is_zero() {
            return Err(SimError::Config {
                field: "ws_ping_interval",
                reason: "must be longer than zero".into(),
            });
        }
        let ca = ClusterCa::new(&self.cluster_name).map_err(|source| SimError::Ca {
            action: "create the cluster CAs",
            source,
        })?;
        let auth_tls = auth::tls::server_config(&ca)?;
        let (web_chain, web_key, web_ca_pem) = if self.self_signed_web_cert {
            let (cert, pem, key) = crate::web_cert::self_signed_ca_as_server()?;
            (vec![cert], key, pem)
        } else {
            let listen_ip = self.proxy_listen.ip();
            let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
            if !listen_ip.is_unspecified() && listen_ip != IpAddr::from(Ipv4Addr::LOCALHOST) {
                names.push(listen_ip.to_string());
            }
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let (chain, key) = ca.web_tls(&names).map_err(|source| SimError::Ca {
                action: "issue the proxy's web certificate",
                source,
            })?;
            (chain, key, ca.web_ca_pem())
        };
        let (web_tls, lb_tls) = web_tls(web_chain, &web_key)?;
        let backlog = match self.backlog {
            None => None,
            Some((count, BacklogSpan::Between(start, end))) => Some((count, start, end)),
            Some((count, BacklogSpan::BeforeNow(span))) => {
                let span = time::Duration::try_from(span).map_err(|_| SimError::Config {
                    field: "backlog",
                    reason: format!("a span of {span:?} is too long"),
                })?;
                let now = self.clock.now();
                let start = now.checked_sub(span).ok_or_else(|| SimError::Config {
                    field: "backlog",
                    reason: format!("a span of {span} before {now} is out of range"),
                })?;
                Some((count, start, now))
            }
        };
        let store = EventStore::new(StoreConfig {
            seed: self.seed,
            cluster: self.cluster_name.clone(),
            clock: self.clock.clone(),
            backend: self.backend,
            backlog,
            live_rate: self.live_rate,
            cache_bytes: self.event_cache_bytes,
            final_page_key_probability: self.final_page_key_probability,
            sessions: self.sessions,
            recordings: (self.sessions > 0).then_some(self.recordings),
        })?;
        let mut roles = Roles::default();
        for (name, permissions) in self.roles {
            roles.set(name, permissions);
        }
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let auth_listener = bind("Auth Service", loopback).await?;
        let proxy_listener = bind("proxy", self.proxy_listen).await?;
        let auth_addr = local_addr("Auth Service", loopback, &auth_listener)?;
        let proxy_addr = local_addr("proxy", self.proxy_listen, &proxy_listener)?;
        let shared = Arc::new(Shared {
            cluster_name: self.cluster_name,
            server_version: self.server_version,
            min_client_version: version.min_client(),
            reject_old_clients: auth::client_version_enforced(self.old_clients, &version),
            version,
            faults: Faults::new(store.clone()),
            store,
            stats: Stats::default(),
            roles: RwLock::new(roles),
            page_byte_cap: self.page_byte_cap,
            ws_ping_interval: self.ws_ping_interval,
            ws_pong_timeout: self.ws_pong_timeout,
            websocket_upgrade: self.websocket_upgrade,
            proxy_public_addr: format!("localhost:{}", proxy_addr.port()),
            load_balancer_mode: Default::default(),
            generation: watch::channel(0).0,
        });
        let proxy = Arc::new(ProxyContext {
            shared: shared.clone(),
            auth_addr,
            web_tls,
            lb_tls,
        });
        let servers = Servers::spawn(auth_listener, proxy_listener, &auth_tls, &proxy, &shared);
        Ok(SimCluster {
            shared,
            ca,
            web_ca_pem,
            auth_addr,
            proxy_addr,
            auth_tls,
            proxy,
            servers: Mutex::new(Some(servers)),
        })
    }
}

fn web_tls(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: &rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<(Arc<ServerConfig>, Arc<ServerConfig>), SimError> {
    let tls = |source| SimError::Tls {
        what: "proxy web",
        source,
    };
    let build = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, SimError> {
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(tls)?
                .with_no_client_auth()
                .with_single_cert(chain.clone(), key.clone_key())
                .map_err(tls)?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    };
    let mut offered: Vec<&[u8]> = vec![b"h2", b"http/1.1"];
    offered.extend(crate::proxy::IDLE_PROTOCOLS.iter().map(|p| p.as_bytes()));
    Ok((build(&offered)?, build(&[])?))
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, SimError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { what, addr, source })
}

fn local_addr(
    what: &'static str,
    addr: SocketAddr,
    listener: &TcpListener,
) -> Result<SocketAddr, SimError> {
    listener
        .local_addr()
        .map_err(|source| SimError::Bind { what, addr, source })
}

/// The running server tasks; aborting them closes the listeners and every connection.
struct Servers {
    auth: JoinHandle<()>,
    proxy: JoinHandle<()>,
}

impl Servers {
    fn spawn(
        auth_listener: TcpListener,
        proxy_listener: TcpListener,
        auth_tls: &Arc<ServerConfig>,
        proxy: &Arc<ProxyContext>,
        shared: &Arc<Shared>,
    ) -> Servers {
        Servers {
            auth: tokio::spawn(auth::serve(auth_listener, auth_tls.clone(), shared.clone())),
            proxy: tokio::spawn(proxy::serve(proxy_listener, proxy.clone())),
        }
    }

    fn abort(&self) {
        self.auth.abort();
        self.proxy.abort();
    }

    async fn stop(self) {
        self.abort();
        let _ = self.auth.await;
        let _ = self.proxy.await;
    }
}

/// A running simulated Teleport cluster: its CA, an Auth Service (gRPC over mutual TLS) and a
/// TLS-routing proxy, on loopback. Dropping it stops every task.
pub struct SimCluster {
    shared: Arc<Shared>,
    ca: ClusterCa,
    web_ca_pem: String,
    auth_addr: SocketAddr,
    proxy_addr: SocketAddr,
    auth_tls: Arc<ServerConfig>,
    proxy: Arc<ProxyContext>,
    servers: Mutex<Option<Servers>>,
}

impl SimCluster {
    /// A builder with default settings.
    pub fn builder() -> SimClusterBuilder {
        SimClusterBuilder::default()
    }

    /// The cluster name.
    pub fn cluster_name(&self) -> &str {
        &self.shared.cluster_name
    }

    /// The proxy (TLS routing and web, one port): what users configure as the proxy address.
    /// With [`SimClusterBuilder::proxy_listen`] on an unspecified address (`0.0.0.0:0`), the
    /// IP is that unspecified one; the port is always the one bound.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy_addr
    }

    /// The Auth Service, reached directly (like `auth:3025`).
    pub fn auth_addr(&self) -> SocketAddr {
        self.auth_addr
    }

    /// The cluster's certificate authorities.
    pub fn ca(&self) -> &ClusterCa {
        &self.ca
    }

    /// Issues an identity file (as `tctl auth sign --format=file` writes it).
    ///
    /// # Errors
    /// [`SimError::Ca`] when the spec is impossible or signing fails.
    pub fn issue_identity(&self, spec: &IdentitySpec) -> Result<String, SimError> {
        self.ca.issue_identity(spec).map_err(|source| SimError::Ca {
            action: "issue the identity file",
            source,
        })
    }

    /// Issues an identity file (as [`issue_identity`](Self::issue_identity)) and writes it to
    /// `path` for a client in another process: mode 0600 (it holds the private key), in a new
    /// file renamed over any old one, so readers never see a partial or world-readable file.
    ///
    /// # Errors
    /// [`SimError::Ca`] when the spec is impossible or signing fails; [`SimError::Write`] when
    /// `path` is a directory or cannot be written.
    pub fn write_identity_file(&self, spec: &IdentitySpec, path: &Path) -> Result<(), SimError> {
        let identity = self.issue_identity(spec)?;
        crate::private_file::write_private(path, identity.as_bytes(), "identity file")
    }

    /// Writes [`web_ca_pem`](Self::web_ca_pem) to `path` (mode 0600, renamed into place as
    /// [`write_identity_file`](Self::write_identity_file) does): what a client in another
    /// process trusts for the proxy's public HTTPS.
    ///
    /// # Errors
    /// [`SimError::Write`] when `path` is a directory or cannot be written.
    pub fn write_web_ca(&self, path: &Path) -> Result<(), SimError> {
        crate::private_file::write_private(path, self.web_ca_pem.as_bytes(), "proxy CA")
    }

    /// The PEM certificate to trust for the proxy's public HTTPS (its web certificate is
    /// issued for `localhost` and `127.0.0.1`): the web CA, or with
    /// [`SimClusterBuilder::self_signed_web_cert`] the self-signed certificate itself.
    pub fn web_ca_pem(&self) -> String {
        self.web_ca_pem.clone()
    }

    /// The server's clock (shared with the store): `sim.clock().now()` is the server's time,
    /// [`Clock::offset`] how far it runs from the real one.
    pub fn clock(&self) -> &Clock {
        self.shared.store.clock()
    }

    /// The audit log.
    pub fn store(&self) -> &EventStore {
        &self.shared.store
    }

    /// Fault knobs, effective for the next calls.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Adds or replaces a role, effective for connections made after the call.
    pub fn set_role(&self, name: impl Into<String>, permissions: Permissions) {
        self.shared
            .roles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .set(name.into(), permissions);
    }

    /// Makes the proxy behave like an L7 load balancer in front of it (`true`): TLS terminated
    /// with the web certificate, no ALPN negotiated, HTTP/1.1 only, so only the connection
    /// upgrade reaches the Auth Service. Applies to connections made after the call.
    pub fn set_load_balancer_mode(&self, strip_alpn: bool) {
        self.shared
            .load_balancer_mode
            .store(strip_alpn, Ordering::SeqCst);
    }

    /// What the cluster served so far.
    pub fn rpc_stats(&self) -> RpcStats {
        self.shared.stats.snapshot()
    }

    /// Takes the Auth Service and the proxy down (every connection closed, stalled calls
    /// ended) and brings them back on the same ports. The store, faults, roles and counters
    /// are kept.
    ///
    /// # Errors
    /// [`SimError::Bind`] when a port cannot be bound again within a few seconds.
    pub async fn restart(&self) -> Result<(), SimError> {
        self.restart_after(Duration::ZERO).await
    }

    /// Like [`SimCluster::restart`], staying down for `downtime` (connections are refused
    /// meanwhile).
    ///
    /// # Errors
    /// [`SimError::Bind`] when a port cannot be bound again within a few seconds.
    pub async fn restart_after(&self, downtime: Duration) -> Result<(), SimError> {
        let running = self
            .servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.shared.generation.send_modify(|g| *g += 1);
        if let Some(servers) = running {
            servers.stop().await;
        }
        tokio::time::sleep(downtime).await;
        let auth_listener = rebind("Auth Service", self.auth_addr).await?;
        let proxy_listener = rebind("proxy", self.proxy_addr).await?;
        let servers = Servers::spawn(
            auth_listener,
            proxy_listener,
            &self.auth_tls,
            &self.proxy,
            &self.shared,
        );
        *self.servers.lock().unwrap_or_else(PoisonError::into_inner) = Some(servers);
        Ok(())
    }

    /// Stops every task and waits for them.
    pub async fn shutdown(self) {
        let running = self
            .servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.shared.generation.send_modify(|g| *g += 1);
        if let Some(servers) = running {
            servers.stop().await;
        }
    }
}

async fn rebind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, SimError> {
    let mut attempt = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(source) if attempt >= 100 => return Err(SimError::Bind { what, addr, source }),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        self.shared.generation.send_modify(|g| *g += 1);
        if let Some(servers) = self
            .servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            servers.abort();
        }
    }
}

impl fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimCluster")
            .field("cluster_name", &self.shared.cluster_name)
            .field("server_version", &self.shared.server_version)
            .field("proxy_addr", &self.proxy_addr)
            .field("auth_addr", &self.auth_addr)
            .field("backend", &self.shared.store.backend())
            .field("load_balancer_mode", &self.shared.load_balancer_mode())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod offset_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn debug_shows_addresses_and_settings_but_no_key_material() {
        let sim = SimCluster::builder()
            .cluster_name("debug.test")
            .backend(Backend::Immediate)
            .start()
            .await
            .unwrap();
        assert_eq!(
            format!("{sim:?}"),
            format!(
                "SimCluster {{ cluster_name: \"debug.test\", server_version: \"18.2.0\", proxy_addr: {}, auth_addr: {}, backend: Immediate, load_balancer_mode: false, .. }}",
                sim.proxy_addr(),
                sim.auth_addr()
            )
        );
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn the_proxy_listens_where_told_and_a_taken_port_is_a_clear_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = SimCluster::builder()
            .proxy_listen(addr)
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SimError::Bind { what: "proxy", addr: a, .. } if *a == addr),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("could not listen for the proxy on {addr}")
        );
        assert!(err.is_retryable());
        drop(taken);
        // Once free, the same port is used.
        let sim = SimCluster::builder()
            .proxy_listen(addr)
            .start()
            .await
            .unwrap();
        assert_eq!(sim.proxy_addr(), addr);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn client_files_are_written_owner_only() {
        let sim = SimCluster::builder().start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let identity = dir.path().join("identity");
        let ca = dir.path().join("proxy-ca.pem");
        sim.write_identity_file(&IdentitySpec::default(), &identity)
            .unwrap();
        sim.write_web_ca(&ca).unwrap();
        let text = std::fs::read_to_string(&identity).unwrap();
        assert!(text.contains("PRIVATE KEY") && text.contains("CERTIFICATE"));
        assert_eq!(std::fs::read_to_string(&ca).unwrap(), sim.web_ca_pem());
        #[cfg(unix)]
        for path in [&identity, &ca] {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
        let err = sim
            .write_identity_file(&IdentitySpec::default(), dir.path())
            .unwrap_err();
        assert_eq!(err.code(), "write");
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn bad_settings_are_refused_with_the_field() {
        let err = SimCluster::builder()
            .server_version("eighteen")
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                SimError::Config {
                    field: "server_version",
                    ..
                }
            ),
            "{err}"
        );
        let err = SimCluster::builder()
            .page_byte_cap(0)
            .start()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("page_byte_cap"), "{err}");
        let err = SimCluster::builder()
            .final_page_key_probability(1.5)
            .start()
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("final_page_key_probability"),
            "{err}"
        );
        let t = time::OffsetDateTime::UNIX_EPOCH;
        let err = SimCluster::builder()
            .backlog(5, t, t)
            .start()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is not after start"), "{err}");
        let err = SimCluster::builder()
            .live_rate(-1.0)
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                SimError::Config {
                    field: "live_rate",
                    ..
                }
            ),
            "{err}"
        );
    }
}
