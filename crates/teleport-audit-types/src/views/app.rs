//! Application sessions (`app.session.start`, `app.session.end`, `app.session.chunk`).

use super::simple_view;
use crate::AuditEvent;

/// An application session starting (or failing to), ending, or opening a new chunk.
#[derive(Debug, Clone, Copy)]
pub struct AppSession<'a> {
    event: &'a AuditEvent,
}

simple_view!(
    AppSession,
    types: &["app.session.start", "app.session.end", "app.session.chunk"],
    codes: &["T2007I", "T2007E", "T2008I", "T2011I"],
);

/// What happened to the application session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AppSessionPhase {
    /// `app.session.start` (check [`AppSession::succeeded`]).
    Start,
    /// `app.session.end`.
    End,
    /// `app.session.chunk`: a new chunk of session activity.
    Chunk,
}

impl<'a> AppSession<'a> {
    /// What happened to the session.
    pub fn phase(&self) -> AppSessionPhase {
        match self.event.event_type() {
            "app.session.start" => AppSessionPhase::Start,
            "app.session.end" => AppSessionPhase::End,
            _ => AppSessionPhase::Chunk,
        }
    }

    /// The Teleport user.
    pub fn user(&self) -> Option<&'a str> {
        self.event.user()
    }

    /// The application's name (`app_name`).
    pub fn app_name(&self) -> Option<&'a str> {
        self.event.get_str("app_name")
    }

    /// The application's URI (`app_uri`).
    pub fn app_uri(&self) -> Option<&'a str> {
        self.event.get_str("app_uri")
    }

    /// The application's public address (`app_public_addr`, or `public_addr` in older events).
    pub fn public_addr(&self) -> Option<&'a str> {
        self.event
            .get_str("app_public_addr")
            .or_else(|| self.event.get_str("public_addr"))
    }

    /// The AWS role assumed, for AWS console and API access (`aws_role_arn`).
    pub fn aws_role_arn(&self) -> Option<&'a str> {
        self.event.get_str("aws_role_arn")
    }

    /// The session id (`sid`).
    pub fn session_id(&self) -> Option<&'a str> {
        self.event.session_id()
    }

    /// The chunk id (`session_chunk_id`).
    pub fn session_chunk_id(&self) -> Option<&'a str> {
        self.event.get_str("session_chunk_id")
    }

    /// Whether the session started (false for `T2007E`).
    pub fn succeeded(&self) -> bool {
        !self.event.is_failure()
    }

    /// Why the session could not start.
    pub fn error(&self) -> Option<&'a str> {
        self.event.error()
    }

    /// The client's address (`addr.remote`).
    pub fn remote_addr(&self) -> Option<&'a str> {
        self.event.addr_remote()
    }
}
