//! A simulated Teleport cluster, on loopback, for tests, demos and trying a pipeline without a
//! real cluster.
//!
//! [`SimCluster::builder`] starts, in the current tokio runtime:
//!
//! - a **certificate authority** ([`ca::ClusterCa`]) that issues identity files exactly as
//!   `tctl auth sign --format=file` writes them, healthy or broken on purpose (expired, signed by
//!   another CA, without SSH certificate, usage-restricted...);
//! - an **Auth Service**: gRPC over HTTP/2 and mutual TLS, client certificates checked against the
//!   user CA as Teleport checks them (intermediates, usage restrictions and unknown roles refused
//!   after the handshake, the `version` header checked as Teleport of the announced version
//!   checks it, see [`OldClients`]), serving `proto.AuthService/Ping` and
//!   `teleport.auditlog.v1.AuditLogService` (search, session stream, export) with Teleport's
//!   semantics and errors, per announced version;
//! - a **proxy** on one port that routes by ALPN like Teleport's TLS routing: it reads the
//!   ClientHello without terminating TLS, forwards `teleport-auth@<hex cluster>.teleport.cluster.local`
//!   to the Auth Service unopened, closes unknown clusters, and answers everything else with its
//!   web certificate (`/webapi/find`, `/webapi/ping`, `/webapi/connectionupgrade` with WebSocket
//!   `alpn`/`alpn-ping` and the legacy raw `alpn`/`alpn-ping`, behind which the same routing
//!   happens; or only the legacy types, as Teleport 13 and 14:
//!   [`SimClusterBuilder::websocket_upgrade`]). It can act as an L7 load balancer that strips
//!   ALPN ([`SimCluster::set_load_balancer_mode`]);
//! - an **audit log** ([`EventStore`]): realistic events of every family (logins, SSH, Kubernetes,
//!   app, database and desktop sessions, access requests, RBAC changes, certificates, joins,
//!   unknown events), generated lazily and deterministically from a seed (a backlog of millions
//!   costs no memory until queried), plus live events at a rate and events you insert, made
//!   visible the way a [`Backend`] does (DynamoDB: seconds late; Athena: when a chunk is flushed);
//! - **session recordings** ([`SimClusterBuilder::sessions`]): recorded SSH sessions with their
//!   `session.upload` audit events, and recordings served by the session stream RPCs, generated
//!   event by event (small, large, missing, late-uploaded, corrupt, empty: [`RecordingKind`]);
//! - **fault knobs** ([`Faults`]): failing, stalling or cut calls, oversized and malformed events,
//!   late chunks, and [`SimCluster::restart`].
//!
//! The server's time is a [`Clock`]: the wall clock, one offset from it in either direction
//! ([`SimClusterBuilder::clock_offset`], for clock-skew tests), or a manual one a test moves.
//!
//! Everything a test needs to check what a client received is on the store:
//! [`EventStore::ids_in_range`] answers "every event id in `[t1, t2]`" cheaply, even for a lazy
//! backlog. [`SimCluster::rpc_stats`] counts calls, errors and events served.
//!
//! # Example: the sim in your own test
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use teleport_audit_sim::ca::IdentitySpec;
//! use teleport_audit_sim::{Backend, Rpc, SimCluster};
//! use time::macros::datetime;
//!
//! # async fn my_pipeline_test() -> Result<(), Box<dyn std::error::Error>> {
//! // A cluster whose Athena backend flushes every 200 ms, with a week of history and
//! // 20 new events per second.
//! let sim = SimCluster::builder()
//!     .cluster_name("sim.example.com")
//!     .backend(Backend::Athena { flush_interval: Duration::from_millis(200) })
//!     .backlog(100_000, datetime!(2024-01-01 0:00 UTC), datetime!(2024-01-08 0:00 UTC))
//!     .live_rate(20.0)
//!     .seed(7)
//!     .start()
//!     .await?;
//!
//! // What your pipeline is configured with: the proxy address, an identity file and, because
//! // the sim's web certificate is self-signed, the CA to trust for it.
//! let identity_file = sim.issue_identity(&IdentitySpec::default().username("exporter").roles(["auditor"]))?;
//! std::fs::write("identity", &identity_file)?;
//! let proxy = sim.proxy_addr(); // e.g. 127.0.0.1:41234
//! std::fs::write("proxy-ca.pem", sim.web_ca_pem())?;
//!
//! // ... run your pipeline against `proxy` here, with a couple of injected failures ...
//! sim.faults().fail_next(tonic::Code::Unavailable, 2);
//!
//! // Then check it received exactly what the cluster holds.
//! let expected = sim.store().ids_in_range(datetime!(2024-01-01 0:00 UTC), datetime!(2024-01-02 0:00 UTC));
//! println!("{} events expected on the first day", expected.len());
//! println!("{} search calls served", sim.rpc_stats().calls(Rpc::GetUnstructuredEvents));
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/sim.md` in the repository for every knob and the known differences from a real
//! Teleport.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod ca;

mod auth;
mod backend;
mod clock;
mod cluster;
mod conn;
mod det;
mod error;
mod faults;
mod generate;
mod json;
mod private_file;
mod proxy;
mod recordings;
mod roles;
mod shared;
mod stats;
mod store;
mod uid;
mod web_cert;

pub use backend::Backend;
pub use clock::Clock;
pub use cluster::{
    DEFAULT_CLUSTER_NAME, DEFAULT_PAGE_BYTE_CAP, DEFAULT_SERVER_VERSION, OldClients, SimCluster,
    SimClusterBuilder,
};
pub use error::SimError;
pub use faults::{Faults, LATE_CHUNK_EVENTS};
pub use recordings::{RecordedSession, RecordingKind, RecordingSettings};
pub use roles::Permissions;
pub use stats::{ProxyCounters, Rpc, RpcCounters, RpcStats};
pub use store::{EventStore, StoredEvent, StoredEventId};
