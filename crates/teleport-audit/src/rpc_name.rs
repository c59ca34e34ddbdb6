//! [`Rpc`]: the calls the client makes, named in errors and logs as Teleport names them.

use std::fmt;

/// A call the client makes to the Auth Service, as named in errors ([`crate::Error`]'s `rpc`
/// fields) and logs.
///
/// `Display` and [`Rpc::as_str`] give Teleport's RPC name (`GetUnstructuredEvents`, ...);
/// [`Rpc::Connect`] is the connection itself, before any call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rpc {
    /// Opening the connection (tonic's eager connect), before any call.
    Connect,
    /// `Ping`: the cluster's name and version.
    Ping,
    /// `GetUnstructuredEvents`: one page of a search.
    GetUnstructuredEvents,
    /// `GetEventExportChunks`: the export chunks of a date.
    GetEventExportChunks,
    /// `ExportUnstructuredEvents`: the events of one export chunk.
    ExportUnstructuredEvents,
    /// `StreamUnstructuredSessionEvents`: one session's recording, as JSON (servers with
    /// teleport#37580).
    StreamUnstructuredSessionEvents,
    /// `StreamSessionEvents`: one session's recording, as typed `events.OneOf` (the legacy call
    /// every Teleport from 13 on serves).
    StreamSessionEvents,
}

impl Rpc {
    /// Teleport's name of the call (`"connect"` for [`Rpc::Connect`]).
    pub const fn as_str(self) -> &'static str {
        match self {
            Rpc::Connect => "connect",
            Rpc::Ping => "Ping",
            Rpc::GetUnstructuredEvents => "GetUnstructuredEvents",
            Rpc::GetEventExportChunks => "GetEventExportChunks",
            Rpc::ExportUnstructuredEvents => "ExportUnstructuredEvents",
            Rpc::StreamUnstructuredSessionEvents => "StreamUnstructuredSessionEvents",
            Rpc::StreamSessionEvents => "StreamSessionEvents",
        }
    }

    /// Whether the call belongs to the export API (Teleport 16.4+ with Athena, or Cloud).
    pub const fn is_export(self) -> bool {
        matches!(
            self,
            Rpc::GetEventExportChunks | Rpc::ExportUnstructuredEvents
        )
    }

    /// Whether the call reads a session's recording.
    pub const fn is_session(self) -> bool {
        matches!(
            self,
            Rpc::StreamUnstructuredSessionEvents | Rpc::StreamSessionEvents
        )
    }
}

impl fmt::Display for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_teleports_name() {
        assert_eq!(
            Rpc::GetUnstructuredEvents.to_string(),
            "GetUnstructuredEvents"
        );
        assert_eq!(Rpc::Connect.to_string(), "connect");
        assert!(Rpc::GetEventExportChunks.is_export());
        assert!(Rpc::ExportUnstructuredEvents.is_export());
        assert!(!Rpc::GetUnstructuredEvents.is_export());
        assert!(!Rpc::Ping.is_export());
        assert!(Rpc::StreamSessionEvents.is_session());
        assert!(Rpc::StreamUnstructuredSessionEvents.is_session());
        assert!(!Rpc::StreamSessionEvents.is_export());
        assert!(!Rpc::GetUnstructuredEvents.is_session());
    }
}
