//! The simulated proxy: one port, routed by ALPN as Teleport's TLS routing proxy does
//! (`lib/srv/alpnproxy`): it reads the ClientHello without terminating TLS, forwards
//! `teleport-auth@<hex cluster>.teleport.cluster.local` connections unopened to the Auth
//! Service, and terminates everything else with its web certificate. In load-balancer mode it
//! behaves like an L7 load balancer in front of it: TLS terminated, no ALPN, HTTP/1.1 only.

mod client_hello;
mod prefixed;
mod reply;
mod upgrade;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::shared::Shared;
use crate::stats::Route;
use client_hello::read_client_hello;
use prefixed::Prefixed;

/// Teleport's ALPN prefix for the Auth Service (`common.ProtocolAuth`).
const AUTH_PREFIX: &str = "teleport-auth@";
/// Suffix of the encoded cluster name (`constants.APIDomain`).
const API_DOMAIN_SUFFIX: &str = ".teleport.cluster.local";
/// Negotiated by clients probing for TLS routing behind load balancers.
const REVERSE_TUNNEL: &str = "teleport-reversetunnel";
/// Protocols a real proxy terminates with its web certificate and negotiates, whose services
/// the sim does not run (the connection is then held idle).
pub(crate) const IDLE_PROTOCOLS: [&str; 5] = [
    REVERSE_TUNNEL,
    "teleport-proxy-grpc",
    "teleport-tcp",
    "teleport-postgres",
    "teleport-mysql",
];
const READ_DEADLINE: Duration = Duration::from_secs(15);
/// Buffer per direction when piping a routed connection.
const COPY_BUFFER: usize = 64 * 1024;

/// What the proxy needs besides the cluster state.
pub(crate) struct ProxyContext {
    pub(crate) shared: Arc<Shared>,
    pub(crate) auth_addr: SocketAddr,
    /// Web certificate, ALPN `h2`, `http/1.1`, `teleport-reversetunnel`.
    pub(crate) web_tls: Arc<ServerConfig>,
    /// Web certificate, no ALPN (load-balancer mode).
    pub(crate) lb_tls: Arc<ServerConfig>,
}

/// Where a connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// Forward the raw TLS to the Auth Service.
    Auth,
    /// Terminate with the web certificate.
    Terminate,
    /// Close: unknown cluster, or no protocol the proxy serves.
    Reject(String),
}

/// Teleport's routing: the first client protocol that a handler matches picks the handler
/// (no ALPN means HTTP); the Auth handler then reads the cluster from the FIRST ALPN value.
fn decide(alpn: &[String], cluster: &str) -> Decision {
    let default = [String::from("http/1.1")];
    let protocols = if alpn.is_empty() { &default[..] } else { alpn };
    for protocol in protocols {
        if protocol.starts_with(AUTH_PREFIX) {
            let first = &protocols[0];
            let Some(encoded) = first
                .strip_prefix(AUTH_PREFIX)
                .and_then(|rest| rest.strip_suffix(API_DOMAIN_SUFFIX))
            else {
                return Decision::Reject(format!(
                    "no cluster name encoded in the first ALPN value {first:?}"
                ));
            };
            return match hex::decode(encoded) {
                Ok(name) if name == cluster.as_bytes() => Decision::Auth,
                Ok(name) => Decision::Reject(format!(
                    "auth server for {:?} cluster name not found",
                    String::from_utf8_lossy(&name)
                )),
                Err(e) => Decision::Reject(format!("failed to decode cluster name: {e}")),
            };
        }
        if protocol == "h2" || protocol == "http/1.1" || IDLE_PROTOCOLS.contains(&protocol.as_str())
        {
            return Decision::Terminate;
        }
    }
    Decision::Reject(format!(
        "failed to find ALPN handler based on received client supported protocols {protocols:?}"
    ))
}

/// Accepts proxy connections until the task is aborted (aborting closes every connection).
pub(crate) async fn serve(listener: TcpListener, ctx: Arc<ProxyContext>) {
    let mut connections = JoinSet::new();
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::debug!(error = %err, "proxy accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let _ = tcp.set_nodelay(true);
        let ctx = ctx.clone();
        connections.spawn(async move {
            let lb = ctx.shared.load_balancer_mode();
            route(tcp, peer, ctx, lb).await;
        });
    }
}

/// Routes one byte stream (a TCP connection, or the inside of a connection upgrade).
pub(crate) async fn route<S>(
    mut stream: S,
    peer: SocketAddr,
    ctx: Arc<ProxyContext>,
    load_balancer: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = &ctx.shared;
    if load_balancer {
        // An L7 load balancer terminates TLS itself, offers no ALPN and speaks HTTP/1.1.
        terminate(stream, peer, &ctx, ctx.lb_tls.clone()).await;
        return;
    }
    let (raw, hello) =
        match tokio::time::timeout(READ_DEADLINE, read_client_hello(&mut stream)).await {
            Ok(Ok(read)) => read,
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "proxy: no ClientHello");
                shared.stats.route(Route::Rejected);
                return;
            }
            Err(_) => {
                shared.stats.route(Route::Rejected);
                return;
            }
        };
    match decide(&hello.alpn, &shared.cluster_name) {
        Decision::Auth => {
            shared.stats.route(Route::Auth);
            forward_to_auth(stream, raw, ctx.auth_addr).await;
        }
        Decision::Terminate => {
            terminate(Prefixed::new(raw, stream), peer, &ctx, ctx.web_tls.clone()).await;
        }
        Decision::Reject(reason) => {
            // Teleport closes the connection during the handshake, without an alert.
            tracing::debug!(%peer, %reason, "proxy: connection rejected");
            shared.stats.route(Route::Rejected);
        }
    }
}

/// Replays the ClientHello to the Auth Service and pipes bytes both ways.
async fn forward_to_auth<S>(mut client: S, hello: Vec<u8>, auth_addr: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(mut upstream) = TcpStream::connect(auth_addr).await else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    if upstream.write_all(&hello).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional_with_sizes(
        &mut client,
        &mut upstream,
        COPY_BUFFER,
        COPY_BUFFER,
    )
    .await;
}

/// Terminates TLS with the web certificate and serves what was negotiated.
async fn terminate<S>(stream: S, peer: SocketAddr, ctx: &Arc<ProxyContext>, tls: Arc<ServerConfig>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = &ctx.shared;
    let accepted = tokio::time::timeout(READ_DEADLINE, TlsAcceptor::from(tls).accept(stream)).await;
    let Ok(Ok(mut tls)) = accepted else {
        tracing::debug!(%peer, "proxy: web TLS handshake failed");
        return;
    };
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    match negotiated.as_deref() {
        Some(b"h2") => {
            shared.stats.route(Route::Web);
            web::serve_http2(tls, peer, ctx.clone()).await;
        }
        Some(b"http/1.1") | None => {
            shared.stats.route(Route::Web);
            web::serve_http1(tls, peer, ctx.clone()).await;
        }
        Some(protocol) => {
            shared.stats.route(Route::ReverseTunnel);
            if protocol == REVERSE_TUNNEL.as_bytes() {
                ssh_version_exchange(&mut tls, peer, shared).await;
            }
            // The sim runs no reverse tunnel, database or TCP proxy: hold the connection until
            // the client leaves.
            let mut sink = [0u8; 1024];
            let hold = async { while matches!(tls.read(&mut sink).await, Ok(n) if n > 0) {} };
            let _ = tokio::time::timeout(Duration::from_secs(60), hold).await;
            let _ = tls.shutdown().await;
        }
    }
}

/// What Teleport's reverse tunnel (SSH) server does first with a `teleport-reversetunnel`
/// connection (`lib/sshutils/server.go`, `HandleConnection`, then `ssh.NewServerConn`): write
/// its version line, read the client's. An EOF there (a client that closed with `close_notify`,
/// or a load balancer's health check) is ignored; a write or read that fails otherwise is
/// logged as `Error occurred in handshake for new SSH conn`: counted here as
/// [`reverse_tunnel_abrupt`](crate::ProxyCounters::reverse_tunnel_abrupt). Returns when the
/// client has sent its first bytes (or ended).
async fn ssh_version_exchange<S>(tls: &mut S, peer: SocketAddr, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let written = async {
        tls.write_all(b"SSH-2.0-Teleport\r\n").await?;
        tls.flush().await
    };
    let ended = match written.await {
        Err(error) => Some(error),
        Ok(()) => {
            let mut first = [0u8; 256];
            match tokio::time::timeout(READ_DEADLINE, tls.read(&mut first)).await {
                // A clean end (close_notify), a client that speaks, or one that waits.
                Ok(Ok(_)) | Err(_) => None,
                Ok(Err(error)) => Some(error),
            }
        }
    };
    if let Some(error) = ended {
        tracing::debug!(%peer, %error, "proxy: reverse tunnel connection ended abruptly during the SSH version exchange");
        shared.stats.reverse_tunnel_abrupt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alpn(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn routes_like_teleport() {
        let auth = format!(
            "teleport-auth@{}.teleport.cluster.local",
            hex::encode("sim")
        );
        assert_eq!(decide(&alpn(&[&auth, "h2"]), "sim"), Decision::Auth);
        assert_eq!(decide(&alpn(&["h2"]), "sim"), Decision::Terminate);
        assert_eq!(decide(&[], "sim"), Decision::Terminate);
        assert_eq!(
            decide(&alpn(&["teleport-reversetunnel"]), "sim"),
            Decision::Terminate
        );
        // An unknown first protocol is skipped; the next one matches.
        assert_eq!(
            decide(&alpn(&["spdy/1", "http/1.1"]), "sim"),
            Decision::Terminate
        );
        let other = format!(
            "teleport-auth@{}.teleport.cluster.local",
            hex::encode("other")
        );
        assert!(
            matches!(decide(&alpn(&[&other, "h2"]), "sim"), Decision::Reject(r) if r.contains("\"other\""))
        );
        // The cluster comes from the first value even when a later one matched.
        assert!(matches!(
            decide(&alpn(&["spdy/1", &auth]), "sim"),
            Decision::Reject(_)
        ));
        assert!(
            matches!(decide(&alpn(&["teleport-auth@zz.teleport.cluster.local"]), "sim"), Decision::Reject(r) if r.contains("decode"))
        );
        assert!(matches!(
            decide(&alpn(&["teleport-auth@teleport.cluster.local"]), "sim"),
            Decision::Reject(_)
        ));
        assert!(matches!(
            decide(&alpn(&["spdy/1"]), "sim"),
            Decision::Reject(_)
        ));
        assert_eq!(
            decide(&alpn(&["teleport-postgres"]), "sim"),
            Decision::Terminate
        );
        assert!(matches!(
            decide(&alpn(&["teleport-kube"]), "sim"),
            Decision::Reject(_)
        ));
        assert!(matches!(
            decide(&alpn(&["teleport-reversetunnel-ping"]), "sim"),
            Decision::Reject(_)
        ));
    }
}
