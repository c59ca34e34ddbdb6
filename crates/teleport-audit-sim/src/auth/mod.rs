//! The simulated Auth Service: TLS (client certificates against the user CA, HTTP/2 only),
//! Teleport's post-handshake identity checks, then gRPC over HTTP/2.

mod caller;
mod client_version;
mod conn_info;
mod keepalive;
mod legacy_sessions;
pub(crate) mod recordings;
mod router;
mod service;
mod stream;
pub(crate) mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::conn::{ConnControl, GuardedTcp};
use crate::shared::Shared;
use conn_info::ConnInfo;
use router::AuthRouter;

pub(crate) use client_version::enforced as client_version_enforced;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Accepts Auth connections until the task is aborted (aborting it closes every connection).
pub(crate) async fn serve(listener: TcpListener, tls: Arc<ServerConfig>, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::debug!(error = %err, "auth accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(tcp, peer, tls.clone(), shared.clone()));
    }
}

async fn connection(tcp: TcpStream, peer: SocketAddr, tls: Arc<ServerConfig>, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let control = Arc::new(ConnControl::default());
    let io = GuardedTcp::new(tcp, control.clone(), shared.faults.clone());
    let mut stream =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(tls).accept(io)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "auth TLS handshake failed");
                shared.stats.auth_connection(false);
                return;
            }
            Err(_) => {
                shared.stats.auth_connection(false);
                return;
            }
        };
    let checked = {
        let roles = shared.roles();
        caller::caller_from_chain(stream.get_ref().1.peer_certificates(), &roles)
    };
    let caller = match checked {
        Ok(caller) => caller.map(Arc::new),
        Err(refusal) => {
            // Teleport's transport credentials fail the gRPC handshake: the connection is
            // closed without any gRPC status.
            tracing::debug!(%peer, %refusal, "auth connection refused after the handshake");
            shared.stats.auth_connection(false);
            close(&mut stream).await;
            return;
        }
    };
    shared.stats.auth_connection(true);
    if let Some(caller) = &caller {
        tracing::debug!(%peer, user = %caller.user, "auth connection accepted");
    }
    let expiry = caller.as_ref().map(|c| c.not_after);
    let router = AuthRouter::new(
        shared.clone(),
        ConnInfo {
            caller,
            control,
            peer,
        },
    );
    // grpc-go sends no `Date` header (and hyper's would carry the real time, not the sim's
    // clock).
    let serve = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .auto_date_header(false)
        .serve_connection(TokioIo::new(keepalive::PingPolice::new(stream)), router);
    // Teleport closes a connection when its client certificate expires.
    let until_expiry = async move {
        match expiry {
            Some(t) => {
                let left = t - time::OffsetDateTime::now_utc();
                tokio::time::sleep(left.try_into().unwrap_or(Duration::ZERO)).await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = serve => {
            if let Err(err) = &result {
                tracing::debug!(%peer, error = %err, "auth connection ended");
            }
            shared.stats.auth_connection_closed(result.is_ok());
        }
        () = until_expiry => tracing::debug!(%peer, "client certificate expired; closing"),
    }
}

/// Closes a TLS connection as Go's `tls.Conn.Close` does (close_notify first).
async fn close<S: tokio::io::AsyncWrite + Unpin>(stream: &mut S) {
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
}
