//! [`RpcStats`]: what the simulated cluster served (tests assert on it).

use std::sync::atomic::{AtomicU64, Ordering};

/// One RPC of the simulated Auth Service.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rpc {
    /// `proto.AuthService/Ping`.
    Ping,
    /// `teleport.auditlog.v1.AuditLogService/GetUnstructuredEvents`.
    GetUnstructuredEvents,
    /// `teleport.auditlog.v1.AuditLogService/StreamUnstructuredSessionEvents`.
    StreamUnstructuredSessionEvents,
    /// `teleport.auditlog.v1.AuditLogService/GetEventExportChunks`.
    GetEventExportChunks,
    /// `teleport.auditlog.v1.AuditLogService/ExportUnstructuredEvents`.
    ExportUnstructuredEvents,
    /// `proto.AuthService/StreamSessionEvents` (the legacy session stream, `events.OneOf`).
    StreamSessionEvents,
}

impl Rpc {
    /// Every RPC.
    pub const ALL: [Rpc; 6] = [
        Rpc::Ping,
        Rpc::GetUnstructuredEvents,
        Rpc::StreamUnstructuredSessionEvents,
        Rpc::GetEventExportChunks,
        Rpc::ExportUnstructuredEvents,
        Rpc::StreamSessionEvents,
    ];

    /// The method name.
    pub fn name(self) -> &'static str {
        match self {
            Rpc::Ping => "Ping",
            Rpc::GetUnstructuredEvents => "GetUnstructuredEvents",
            Rpc::StreamUnstructuredSessionEvents => "StreamUnstructuredSessionEvents",
            Rpc::GetEventExportChunks => "GetEventExportChunks",
            Rpc::ExportUnstructuredEvents => "ExportUnstructuredEvents",
            Rpc::StreamSessionEvents => "StreamSessionEvents",
        }
    }

    fn slot(self) -> usize {
        match self {
            Rpc::Ping => 0,
            Rpc::GetUnstructuredEvents => 1,
            Rpc::StreamUnstructuredSessionEvents => 2,
            Rpc::GetEventExportChunks => 3,
            Rpc::ExportUnstructuredEvents => 4,
            Rpc::StreamSessionEvents => 5,
        }
    }
}

/// Counters of one RPC.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RpcCounters {
    /// Calls received (including refused and failed ones).
    pub calls: u64,
    /// Calls answered with an error status (injected faults included).
    pub errors: u64,
    /// Events sent (search items, streamed events, export events; chunks for the chunk list).
    pub events: u64,
}

/// Connections the proxy saw, by where it sent them.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyCounters {
    /// Forwarded, unopened, to the Auth Service (`teleport-auth@` ALPN).
    pub auth: u64,
    /// Terminated with the web certificate and served HTTP.
    pub web: u64,
    /// Terminated with the web certificate, `teleport-reversetunnel` (or another protocol
    /// whose service the sim does not run: `teleport-postgres`, `teleport-tcp`...) negotiated,
    /// then held idle (`teleport-reversetunnel` after the SSH version exchange that Teleport's
    /// reverse tunnel server starts with).
    pub reverse_tunnel: u64,
    /// Of [`reverse_tunnel`](Self::reverse_tunnel) (`teleport-reversetunnel` only): connections
    /// the client ended abruptly, without a TLS `close_notify` or with a reset, while the
    /// proxy's SSH server exchanged version lines. A real proxy logs `Error occurred in
    /// handshake for new SSH conn` when its version write or read fails that way.
    pub reverse_tunnel_abrupt: u64,
    /// Connection upgrades accepted (`/webapi/connectionupgrade`).
    pub upgrades: u64,
    /// Of [`upgrades`](Self::upgrades): the legacy types (`alpn-ping`, `alpn`) rather than
    /// WebSocket.
    pub legacy_upgrades: u64,
    /// Closed during the handshake (unknown cluster, no route, not TLS).
    pub rejected: u64,
}

/// A snapshot of what the cluster served since it started (restarts keep counting).
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RpcStats {
    counters: [RpcCounters; Rpc::ALL.len()],
    /// TLS connections the Auth Service accepted (handshake and identity checks passed).
    pub auth_connections: u64,
    /// TLS connections the Auth Service closed during or right after the handshake (bad
    /// client certificate, intermediates, usage restriction, unknown role).
    pub auth_connections_refused: u64,
    /// Of [`auth_connections`](Self::auth_connections): ended by the client cleanly (TLS
    /// `close_notify`, then the end of the stream, or an HTTP/2 GOAWAY).
    pub auth_connections_closed_cleanly: u64,
    /// Of [`auth_connections`](Self::auth_connections): ended by an error (the client closed
    /// without `close_notify`, a reset, a protocol error). Connections the sim closed itself
    /// (certificate expiry, a restart) count in neither.
    pub auth_connections_closed_abruptly: u64,
    /// Connections the proxy routed.
    pub proxy: ProxyCounters,
}

impl RpcStats {
    /// The counters of one RPC.
    pub fn rpc(&self, rpc: Rpc) -> RpcCounters {
        self.counters[rpc.slot()]
    }

    /// Calls of one RPC.
    pub fn calls(&self, rpc: Rpc) -> u64 {
        self.rpc(rpc).calls
    }

    /// Calls of every RPC.
    pub fn total_calls(&self) -> u64 {
        self.counters.iter().map(|c| c.calls).sum()
    }

    /// Error answers of every RPC.
    pub fn total_errors(&self) -> u64 {
        self.counters.iter().map(|c| c.errors).sum()
    }

    /// Events served by every RPC (chunk names excluded).
    pub fn total_events(&self) -> u64 {
        self.counters
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != Rpc::GetEventExportChunks.slot())
            .map(|(_, c)| c.events)
            .sum()
    }
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    calls: [AtomicU64; Rpc::ALL.len()],
    errors: [AtomicU64; Rpc::ALL.len()],
    events: [AtomicU64; Rpc::ALL.len()],
    auth_connections: AtomicU64,
    auth_refused: AtomicU64,
    auth_clean: AtomicU64,
    auth_abrupt: AtomicU64,
    proxy: [AtomicU64; 5],
    reverse_tunnel_abrupt: AtomicU64,
    legacy_upgrades: AtomicU64,
}

/// Where the proxy sent a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Auth,
    Web,
    ReverseTunnel,
    Upgrade,
    Rejected,
}

impl Stats {
    pub(crate) fn call(&self, rpc: Rpc) {
        self.calls[rpc.slot()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, rpc: Rpc) {
        self.errors[rpc.slot()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn events(&self, rpc: Rpc, n: u64) {
        self.events[rpc.slot()].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn auth_connection(&self, accepted: bool) {
        let counter = if accepted {
            &self.auth_connections
        } else {
            &self.auth_refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// How an accepted auth connection ended: cleanly or by an error.
    pub(crate) fn auth_connection_closed(&self, cleanly: bool) {
        let counter = if cleanly {
            &self.auth_clean
        } else {
            &self.auth_abrupt
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn route(&self, route: Route) {
        self.proxy[route as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn legacy_upgrade(&self) {
        self.legacy_upgrades.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reverse_tunnel_abrupt(&self) {
        self.reverse_tunnel_abrupt.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RpcStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut counters = [RpcCounters::default(); Rpc::ALL.len()];
        for rpc in Rpc::ALL {
            let i = rpc.slot();
            counters[i] = RpcCounters {
                calls: load(&self.calls[i]),
                errors: load(&self.errors[i]),
                events: load(&self.events[i]),
            };
        }
        RpcStats {
            counters,
            auth_connections: load(&self.auth_connections),
            auth_connections_refused: load(&self.auth_refused),
            auth_connections_closed_cleanly: load(&self.auth_clean),
            auth_connections_closed_abruptly: load(&self.auth_abrupt),
            proxy: ProxyCounters {
                auth: load(&self.proxy[Route::Auth as usize]),
                web: load(&self.proxy[Route::Web as usize]),
                reverse_tunnel: load(&self.proxy[Route::ReverseTunnel as usize]),
                reverse_tunnel_abrupt: load(&self.reverse_tunnel_abrupt),
                upgrades: load(&self.proxy[Route::Upgrade as usize]),
                legacy_upgrades: load(&self.legacy_upgrades),
                rejected: load(&self.proxy[Route::Rejected as usize]),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reflects_counts() {
        let stats = Stats::default();
        stats.call(Rpc::GetUnstructuredEvents);
        stats.call(Rpc::GetUnstructuredEvents);
        stats.error(Rpc::GetUnstructuredEvents);
        stats.events(Rpc::GetUnstructuredEvents, 500);
        stats.events(Rpc::GetEventExportChunks, 3);
        stats.route(Route::Rejected);
        stats.auth_connection(false);
        let snap = stats.snapshot();
        assert_eq!(snap.calls(Rpc::GetUnstructuredEvents), 2);
        assert_eq!(snap.rpc(Rpc::GetUnstructuredEvents).errors, 1);
        assert_eq!(snap.total_events(), 500);
        assert_eq!(snap.rpc(Rpc::GetEventExportChunks).events, 3);
        assert_eq!(snap.proxy.rejected, 1);
        assert_eq!(snap.auth_connections_refused, 1);
        assert_eq!(snap.total_calls(), 2);
    }
}
