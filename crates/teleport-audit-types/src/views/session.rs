//! SSH and Kubernetes sessions (`session.start`, `session.end`, `session.join`, `session.leave`).

use time::OffsetDateTime;

use super::simple_view;
use crate::AuditEvent;

/// A session starting, ending, or a user joining or leaving it.
#[derive(Debug, Clone, Copy)]
pub struct SessionEvent<'a> {
    event: &'a AuditEvent,
}

simple_view!(
    SessionEvent,
    types: &["session.start", "session.end", "session.join", "session.leave"],
    codes: &["T2000I", "T2001I", "T2003I", "T2004I"],
);

/// What happened to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionPhase {
    /// `session.start`.
    Start,
    /// `session.end`.
    End,
    /// `session.join`: another user joined.
    Join,
    /// `session.leave`: a participant left.
    Leave,
}

impl<'a> SessionEvent<'a> {
    /// What happened to the session.
    pub fn phase(&self) -> SessionPhase {
        match self.event.event_type() {
            "session.start" => SessionPhase::Start,
            "session.end" => SessionPhase::End,
            "session.join" => SessionPhase::Join,
            _ => SessionPhase::Leave,
        }
    }

    /// The session id (`sid`).
    pub fn session_id(&self) -> Option<&'a str> {
        self.event.session_id()
    }

    /// The Teleport user.
    pub fn user(&self) -> Option<&'a str> {
        self.event.user()
    }

    /// The OS login of the session.
    pub fn login(&self) -> Option<&'a str> {
        self.event.login()
    }

    /// `ssh` or `kube` (`proto`).
    pub fn protocol(&self) -> Option<&'a str> {
        self.event.protocol()
    }

    /// Whether this is a Kubernetes session.
    pub fn is_kubernetes(&self) -> bool {
        self.protocol() == Some("kube")
    }

    /// The server the session runs on (`server_id`).
    pub fn server_id(&self) -> Option<&'a str> {
        self.event.server_id()
    }

    /// The server's hostname.
    pub fn server_hostname(&self) -> Option<&'a str> {
        self.event.server_hostname()
    }

    /// The server's address.
    pub fn server_addr(&self) -> Option<&'a str> {
        self.event.server_addr()
    }

    /// The client's address (`addr.remote`).
    pub fn remote_addr(&self) -> Option<&'a str> {
        self.event.addr_remote()
    }

    /// The Kubernetes cluster of a Kubernetes session.
    pub fn kubernetes_cluster(&self) -> Option<&'a str> {
        self.event.get_str("kubernetes_cluster")
    }

    /// The pod of a Kubernetes session.
    pub fn kubernetes_pod_name(&self) -> Option<&'a str> {
        self.event.get_str("kubernetes_pod_name")
    }

    /// The namespace of that pod.
    pub fn kubernetes_pod_namespace(&self) -> Option<&'a str> {
        self.event.get_str("kubernetes_pod_namespace")
    }

    /// Whether the session had a terminal (`interactive`, on `session.end`).
    pub fn interactive(&self) -> Option<bool> {
        self.event.get_bool("interactive")
    }

    /// Everyone who took part (`participants`, on `session.end`).
    pub fn participants(&self) -> Vec<&'a str> {
        self.event.strings("participants")
    }

    /// When the session started (`session_start`, on `session.end`).
    pub fn started(&self) -> Option<OffsetDateTime> {
        self.event.get_time("session_start")
    }

    /// When the session stopped (`session_stop`, on `session.end`).
    pub fn stopped(&self) -> Option<OffsetDateTime> {
        self.event.get_time("session_stop")
    }

    /// How long the session lasted, when both ends are known.
    pub fn duration(&self) -> Option<time::Duration> {
        Some(self.stopped()? - self.started()?)
    }

    /// Whether enhanced (BPF) recording was on (`enhanced_recording`).
    pub fn enhanced_recording(&self) -> Option<bool> {
        self.event.get_bool("enhanced_recording")
    }

    /// The recording mode (`session_recording`): `node`, `proxy`, `node-sync`, `off`, ...
    pub fn recording_mode(&self) -> Option<&'a str> {
        self.event.get_str("session_recording")
    }

    /// The terminal size `W:H` (`size`).
    pub fn terminal_size(&self) -> Option<&'a str> {
        self.event.get_str("size")
    }
}
