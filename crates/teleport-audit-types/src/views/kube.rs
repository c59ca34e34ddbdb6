//! Kubernetes API requests (`kube.request`).

use super::simple_view;
use crate::AuditEvent;

/// A request proxied to a Kubernetes API server.
#[derive(Debug, Clone, Copy)]
pub struct KubeRequest<'a> {
    event: &'a AuditEvent,
}

simple_view!(KubeRequest, types: &["kube.request"], codes: &["T3009I"]);

impl<'a> KubeRequest<'a> {
    /// The Teleport user.
    pub fn user(&self) -> Option<&'a str> {
        self.event.user()
    }

    /// The Kubernetes cluster (`kubernetes_cluster`).
    pub fn kubernetes_cluster(&self) -> Option<&'a str> {
        self.event.get_str("kubernetes_cluster")
    }

    /// The HTTP verb (`verb`): `GET`, `POST`, ...
    pub fn verb(&self) -> Option<&'a str> {
        self.event.get_str("verb")
    }

    /// The request path (`request_path`).
    pub fn request_path(&self) -> Option<&'a str> {
        self.event.get_str("request_path")
    }

    /// The HTTP status the API server answered (`response_code`).
    pub fn response_code(&self) -> Option<i64> {
        self.event.get_i64("response_code")
    }

    /// Whether the API server answered with a 2xx status.
    pub fn succeeded(&self) -> bool {
        self.response_code()
            .is_some_and(|code| (200..300).contains(&code))
    }

    /// The API group and version (`resource_api_group`).
    pub fn resource_api_group(&self) -> Option<&'a str> {
        self.event.get_str("resource_api_group")
    }

    /// The resource kind (`resource_kind`): `pods`, `secrets`, ...
    pub fn resource_kind(&self) -> Option<&'a str> {
        self.event.get_str("resource_kind")
    }

    /// The resource name (`resource_name`).
    pub fn resource_name(&self) -> Option<&'a str> {
        self.event.get_str("resource_name")
    }

    /// The resource namespace (`resource_namespace`).
    pub fn resource_namespace(&self) -> Option<&'a str> {
        self.event.get_str("resource_namespace")
    }

    /// Kubernetes users the request was made as (`kubernetes_users`).
    pub fn kubernetes_users(&self) -> Vec<&'a str> {
        self.event.strings("kubernetes_users")
    }

    /// Kubernetes groups the request was made as (`kubernetes_groups`).
    pub fn kubernetes_groups(&self) -> Vec<&'a str> {
        self.event.strings("kubernetes_groups")
    }

    /// The client's address (`addr.remote`).
    pub fn remote_addr(&self) -> Option<&'a str> {
        self.event.addr_remote()
    }
}
