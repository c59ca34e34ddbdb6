//! Failed authentication attempts (`auth`).

use super::simple_view;
use crate::AuditEvent;

/// A failed attempt to authenticate to a Teleport server, e.g. an SSH certificate without the
/// requested principal (`T3007W`).
#[derive(Debug, Clone, Copy)]
pub struct AuthFailure<'a> {
    event: &'a AuditEvent,
}

simple_view!(AuthFailure, types: &["auth"], codes: &["T3007W"]);

impl<'a> AuthFailure<'a> {
    /// The Teleport user who tried.
    pub fn user(&self) -> Option<&'a str> {
        self.event.user()
    }

    /// The OS login requested.
    pub fn login(&self) -> Option<&'a str> {
        self.event.login()
    }

    /// Why authentication failed.
    pub fn error(&self) -> Option<&'a str> {
        self.event.error()
    }

    /// The detailed message.
    pub fn message(&self) -> Option<&'a str> {
        self.event.message()
    }

    /// The client's address (`addr.remote`).
    pub fn remote_addr(&self) -> Option<&'a str> {
        self.event.addr_remote()
    }

    /// The server that refused the attempt (`server_id`).
    pub fn server_id(&self) -> Option<&'a str> {
        self.event.server_id()
    }
}
