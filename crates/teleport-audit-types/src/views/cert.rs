//! Certificate issuance (`cert.create`).

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::simple_view;
use crate::AuditEvent;
use crate::event::string_list;

/// A certificate issued by the Auth Service, with the identity encoded in it.
#[derive(Debug, Clone, Copy)]
pub struct CertIssued<'a> {
    event: &'a AuditEvent,
}

simple_view!(CertIssued, types: &["cert.create"], codes: &["TC000I"]);

impl<'a> CertIssued<'a> {
    /// The certificate type (`cert_type`): `user`, `host`, ...
    pub fn cert_type(&self) -> Option<&'a str> {
        self.event.get_str("cert_type")
    }

    /// The identity in the certificate (`identity`).
    pub fn identity(&self) -> Option<&'a Map<String, Value>> {
        self.event.get_object("identity")
    }

    fn identity_str(&self, key: &str) -> Option<&'a str> {
        self.identity()?.get(key)?.as_str()
    }

    fn identity_strings(&self, key: &str) -> Vec<&'a str> {
        string_list(self.identity().and_then(|identity| identity.get(key)))
    }

    /// The user the certificate was issued to (`identity.user`).
    pub fn subject(&self) -> Option<&'a str> {
        self.identity_str("user")
    }

    /// The roles in the certificate (`identity.roles`).
    pub fn roles(&self) -> Vec<&'a str> {
        self.identity_strings("roles")
    }

    /// The OS logins allowed (`identity.logins`).
    pub fn logins(&self) -> Vec<&'a str> {
        self.identity_strings("logins")
    }

    /// Usage restrictions (`identity.usage`), e.g. `usage:apps`.
    pub fn usage(&self) -> Vec<&'a str> {
        self.identity_strings("usage")
    }

    /// Kubernetes groups (`identity.kubernetes_groups`).
    pub fn kubernetes_groups(&self) -> Vec<&'a str> {
        self.identity_strings("kubernetes_groups")
    }

    /// Kubernetes users (`identity.kubernetes_users`).
    pub fn kubernetes_users(&self) -> Vec<&'a str> {
        self.identity_strings("kubernetes_users")
    }

    /// Access requests whose grants the certificate carries (`identity.access_requests`).
    pub fn access_requests(&self) -> Vec<&'a str> {
        self.identity_strings("access_requests")
    }

    /// When the certificate expires (`identity.expires`).
    pub fn expires(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(self.identity_str("expires")?, &Rfc3339).ok()
    }

    /// The cluster the certificate routes to (`identity.route_to_cluster`).
    pub fn route_to_cluster(&self) -> Option<&'a str> {
        self.identity_str("route_to_cluster")
    }

    /// The client IP pinned in the certificate (`identity.client_ip`).
    pub fn client_ip(&self) -> Option<&'a str> {
        self.identity_str("client_ip")
    }

    /// Who impersonated the subject, if anyone (`identity.impersonator`).
    pub fn impersonator(&self) -> Option<&'a str> {
        self.identity_str("impersonator")
    }

    /// The bot the certificate was issued to (`identity.bot_name`).
    pub fn bot_name(&self) -> Option<&'a str> {
        self.identity_str("bot_name")
    }
}
