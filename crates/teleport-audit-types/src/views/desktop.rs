//! Desktop sessions (Windows and Linux).

use serde_json::{Map, Value};

use super::simple_view;
use crate::AuditEvent;

/// A remote desktop session starting (or being denied) or ending.
#[derive(Debug, Clone, Copy)]
pub struct DesktopSession<'a> {
    event: &'a AuditEvent,
}

simple_view!(
    DesktopSession,
    types: &[
        "windows.desktop.session.start",
        "windows.desktop.session.end",
        "linux.desktop.session.start",
        "linux.desktop.session.end",
    ],
    codes: &["TDP00I", "TDP00W", "TDP01I", "TDP07I", "TDP07W", "TDP08I"],
);

/// What happened to the desktop session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DesktopSessionPhase {
    /// A session start (check [`DesktopSession::succeeded`]: `W` codes are denials).
    Start,
    /// A session end.
    End,
}

/// The desktop's operating system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DesktopPlatform {
    /// A Windows desktop (RDP).
    Windows,
    /// A Linux desktop.
    Linux,
}

impl<'a> DesktopSession<'a> {
    /// Start or end.
    pub fn phase(&self) -> DesktopSessionPhase {
        if self.event.event_type().ends_with(".start") {
            DesktopSessionPhase::Start
        } else {
            DesktopSessionPhase::End
        }
    }

    /// Windows or Linux.
    pub fn platform(&self) -> DesktopPlatform {
        if self.event.event_type().starts_with("linux.") {
            DesktopPlatform::Linux
        } else {
            DesktopPlatform::Windows
        }
    }

    /// The Teleport user.
    pub fn user(&self) -> Option<&'a str> {
        self.event.user()
    }

    /// The desktop's address (`desktop_addr`).
    pub fn desktop_addr(&self) -> Option<&'a str> {
        self.event.get_str("desktop_addr")
    }

    /// The desktop's name (`desktop_name`).
    pub fn desktop_name(&self) -> Option<&'a str> {
        self.event.get_str("desktop_name")
    }

    /// The desktop's labels (`desktop_labels`).
    pub fn desktop_labels(&self) -> Option<&'a Map<String, Value>> {
        self.event.get_object("desktop_labels")
    }

    /// The account logged into on the desktop (`windows_user`, else `login`).
    pub fn desktop_user(&self) -> Option<&'a str> {
        self.event
            .get_str("windows_user")
            .or_else(|| self.event.login())
    }

    /// The Windows domain (`windows_domain`).
    pub fn windows_domain(&self) -> Option<&'a str> {
        self.event.get_str("windows_domain")
    }

    /// The session id (`sid`).
    pub fn session_id(&self) -> Option<&'a str> {
        self.event.session_id()
    }

    /// Whether the session was allowed to start.
    pub fn succeeded(&self) -> bool {
        !self.event.is_failure()
    }

    /// Whether the session was recorded (`recorded`, on session ends).
    pub fn recorded(&self) -> Option<bool> {
        self.event.get_bool("recorded")
    }
}
