//! teleport-audit-sim: a simulated Teleport cluster.
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
mod proxy;
mod roles;
mod shared;
mod stats;
mod store;
mod uid;

pub use backend::Backend;
pub use clock::Clock;
pub use cluster::{
    DEFAULT_CLUSTER_NAME, DEFAULT_PAGE_BYTE_CAP, DEFAULT_SERVER_VERSION, SimCluster,
    SimClusterBuilder,
};
pub use error::SimError;
pub use faults::{Faults, LATE_CHUNK_EVENTS};
pub use roles::Permissions;
pub use stats::{ProxyCounters, Rpc, RpcCounters, RpcStats};
pub use store::{EventStore, StoredEvent, StoredEventId};
