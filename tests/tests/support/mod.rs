//! Helpers shared by the client and stream integration tests: a simulated cluster with an
//! auditor identity, and a connected client.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use teleport_audit::{Client, ClientConfig};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, SimCluster};

/// An identity file for a user whose role may list and read events.
pub fn auditor(sim: &SimCluster) -> String {
    sim.issue_identity(
        &IdentitySpec::default()
            .username("auditor")
            .roles(["auditor"]),
    )
    .expect("issue identity")
}

/// A simulated cluster with no events, answering immediately.
pub async fn empty_cluster() -> SimCluster {
    SimCluster::builder()
        .backend(Backend::Immediate)
        .start()
        .await
        .expect("start the simulated cluster")
}

/// A client connected through the sim's proxy with the auditor identity.
pub async fn connect(sim: &SimCluster) -> Client {
    Client::connect(proxy_config(sim, &auditor(sim)))
        .await
        .expect("connect through the proxy")
}

/// A config for the sim's proxy port with the given identity text.
pub fn proxy_config(sim: &SimCluster, identity: &str) -> ClientConfig {
    ClientConfig::from_identity_str(&sim.proxy_addr().to_string(), identity)
        .expect("identity parses")
        .proxy_ca_pem(sim.web_ca_pem())
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(10))
        .http_proxy(teleport_audit::HttpProxy::Disabled)
}
