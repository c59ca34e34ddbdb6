//! [`Backend`]: which Teleport audit storage the sim imitates.

use std::time::Duration;

/// The audit storage the simulated Auth Service sits on. It decides when an event becomes
/// visible to search, how search orders events and compares ranges, what cursors look like and
/// whether export works.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// DynamoDB (`lib/events/dynamoevents`): an event becomes visible a random delay in
    /// `0..=max_visibility_delay` after it is written (eventual consistency); ranges compare
    /// whole seconds; within one second, events are ordered by a hash of their id, not by time;
    /// cursors are JSON (a date and an iterator). Export answers `Unimplemented`.
    Dynamo {
        /// Longest delay before a written event shows in search.
        max_visibility_delay: Duration,
    },
    /// Athena (`lib/events/athena`): events are batched and become visible only when their
    /// batch is flushed, every `flush_interval` (about a minute in Teleport), as immutable
    /// chunks per UTC date; search orders by (time, id) and compares microseconds; cursors are
    /// base64. Export works.
    Athena {
        /// Time between flushes.
        flush_interval: Duration,
    },
    /// A backend where every event is visible as soon as it is written (like Postgres or
    /// Firestore); ordering and cursors as Athena's. Export answers `Unimplemented`.
    Immediate,
    /// The file backend (`lib/events/filelog.go`, a self-hosted cluster's default), as measured
    /// on a real Teleport: events visible at once; ranges exact to the nanosecond; the cursor is
    /// the `uid` of the page's last event, found again by scanning the window (so a cursor that
    /// is not in the window ends the query with an empty page, silently); a short final page
    /// has no key; `start_date` a day or more after `end_date` is `InvalidArgument "invalid
    /// days"`. Export answers `Unimplemented`.
    File,
}

impl Default for Backend {
    /// DynamoDB with a 2-second visibility delay.
    fn default() -> Backend {
        Backend::Dynamo {
            max_visibility_delay: Duration::from_secs(2),
        }
    }
}

impl Backend {
    /// A short name: `dynamo`, `athena` or `immediate`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Dynamo { .. } => "dynamo",
            Backend::Athena { .. } => "athena",
            Backend::Immediate => "immediate",
            Backend::File => "file",
        }
    }

    /// Whether the export RPCs work on this backend.
    pub fn supports_export(&self) -> bool {
        matches!(self, Backend::Athena { .. })
    }
}
