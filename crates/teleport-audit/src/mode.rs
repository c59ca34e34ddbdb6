//! [`Mode`]: which of Teleport's APIs a stream reads the audit log with (the setting, and what a
//! cursor and the stats record).

use std::fmt;

/// Which of Teleport's APIs a stream reads the audit log with.
///
/// - **Search** (`GetUnstructuredEvents`, Teleport 13+, every audit backend): ascending range
///   queries over event time, server-side type filter, resumable to the event.
/// - **Export** (`GetEventExportChunks` + `ExportUnstructuredEvents`, Teleport 16.4+ with the
///   Athena backend, and Teleport Cloud): the day's immutable chunks of events read in parallel.
///   Much faster for large volumes, not in time order, filtered client-side.
/// - **Auto** (the default): asks the cluster once at the start (a chunk listing of today) and
///   uses export if it answers, search if it says `Unimplemented`. A resumed stream uses the mode
///   its cursor was taken in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// Export if the cluster serves it, else search (decided once per stream).
    #[default]
    Auto,
    /// Always the search API.
    Search,
    /// Always the export API; a cluster without it is a fatal [`ServerError::Unimplemented`](crate::error::ServerError::Unimplemented).
    Export,
}

impl Mode {
    /// `auto`, `search` or `export`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Search => "search",
            Mode::Export => "export",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
