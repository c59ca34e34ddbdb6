//! Command execution (`exec`).

use serde_json::Value;

use super::simple_view;
use crate::AuditEvent;

/// A command run over SSH without a terminal, or in a Kubernetes pod (`kubectl exec`).
#[derive(Debug, Clone, Copy)]
pub struct Exec<'a> {
    event: &'a AuditEvent,
}

simple_view!(Exec, types: &["exec"], codes: &["T3002I", "T3002E"]);

impl<'a> Exec<'a> {
    /// The command line (`command`).
    pub fn command(&self) -> Option<&'a str> {
        self.event.get_str("command")
    }

    /// The exit code (`exitCode`; Teleport writes it as a string).
    pub fn exit_code(&self) -> Option<i64> {
        match self.event.get("exitCode")? {
            Value::String(text) => text.trim().parse().ok(),
            _ => self.event.get_i64("exitCode"),
        }
    }

    /// Why the command failed (`exitError`).
    pub fn exit_error(&self) -> Option<&'a str> {
        self.event.get_str("exitError")
    }

    /// Whether the command ran and exited successfully.
    pub fn succeeded(&self) -> bool {
        !self.event.is_failure() && self.exit_code().unwrap_or(0) == 0
    }

    /// The Teleport user.
    pub fn user(&self) -> Option<&'a str> {
        self.event.user()
    }

    /// The OS login.
    pub fn login(&self) -> Option<&'a str> {
        self.event.login()
    }

    /// The session the command ran in (`sid`).
    pub fn session_id(&self) -> Option<&'a str> {
        self.event.session_id()
    }

    /// The server's hostname.
    pub fn server_hostname(&self) -> Option<&'a str> {
        self.event.server_hostname()
    }

    /// The server (`server_id`).
    pub fn server_id(&self) -> Option<&'a str> {
        self.event.server_id()
    }

    /// The client's address (`addr.remote`).
    pub fn remote_addr(&self) -> Option<&'a str> {
        self.event.addr_remote()
    }

    /// Whether the command ran in a Kubernetes pod (`proto` is `kube`).
    pub fn is_kubernetes(&self) -> bool {
        self.event.protocol() == Some("kube")
    }

    /// The Kubernetes cluster.
    pub fn kubernetes_cluster(&self) -> Option<&'a str> {
        self.event.get_str("kubernetes_cluster")
    }

    /// The pod.
    pub fn kubernetes_pod_name(&self) -> Option<&'a str> {
        self.event.get_str("kubernetes_pod_name")
    }

    /// The pod's namespace.
    pub fn kubernetes_pod_namespace(&self) -> Option<&'a str> {
        self.event.get_str("kubernetes_pod_namespace")
    }
}
