//! [`CursorError`]: a cursor, or its file, cannot be used; [`OutputError`]: a
//! [`crate::FileSink`]'s output file cannot be used.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

/// The reason of a [`CursorError::Invalid`] whose source is the parse error.
pub(crate) const NOT_A_CURSOR: &str = "it does not parse as a cursor";

/// A cursor, or the file that holds it, cannot be used ([`crate::ErrorKind::Cursor`]).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// A cursor could not be read or does not fit this stream.
    #[error("invalid cursor: {reason}")]
    Invalid {
        /// What is wrong with it.
        reason: String,
        /// The parse error, if it did not parse.
        #[source]
        source: Option<Arc<serde_json::Error>>,
    },

    /// The cursor was taken on another cluster than the one the client is connected to.
    /// Resuming from it would skip or repeat events, so the stream refuses it.
    #[error(
        "the cursor was taken on cluster {cursor:?}, but the client is connected to {client:?}"
    )]
    FromOtherCluster {
        /// The cluster the cursor records.
        cursor: String,
        /// The cluster the client is connected to.
        client: String,
    },

    /// A time in the cursor is ahead of the server's clock: the cursor was edited by hand, or
    /// written by a machine whose clock ran ahead. Trusting it would skip the events up to that
    /// time, so the stream refuses it.
    #[error(
        "the cursor's {field} ({time}) is ahead of the server's clock: more than {tolerance:?} after {server_now}, the server's now as far as the client can tell"
    )]
    Ahead {
        /// The cursor field ("watermark", "scan.to", ...).
        field: &'static str,
        /// Its value.
        time: OffsetDateTime,
        /// The server's now as the client estimates it: this machine's clock plus the offset the
        /// proxy's web API told ([`crate::Client::server_clock_offset`]), or this machine's clock
        /// alone when it did not.
        server_now: OffsetDateTime,
        /// How far ahead a cursor time may be before it is refused.
        tolerance: Duration,
    },

    /// A cursor file could not be read or written.
    #[error("cursor file {path}: could not {action}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was being done ("read", "write", "rename into place", ...).
        action: &'static str,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// The cursor file's path cannot hold a cursor: a directory, FIFO, device or socket, a
    /// dangling symbolic link, a missing directory, or a file too large to be a cursor.
    #[error("cursor file {path}: {reason}")]
    FileUnusable {
        /// The path as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Another process holds the cursor file open (an advisory lock, held for the life of the
    /// store that opened it).
    #[error("cursor file {path} is in use by another process")]
    Locked {
        /// The file.
        path: PathBuf,
    },
}

impl CursorError {
    /// The stable code ([`crate::Error::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            CursorError::Invalid { .. }
            | CursorError::FromOtherCluster { .. }
            | CursorError::Ahead { .. } => "invalid_cursor",
            CursorError::File { .. } | CursorError::FileUnusable { .. } => "cursor_file",
            CursorError::Locked { .. } => "file_locked",
        }
    }

    /// What to do about it ([`crate::Error::advice`]).
    pub fn advice(&self) -> &'static str {
        match self {
            CursorError::Invalid { .. } => {
                "Use a cursor saved by this library for the same stream settings, or start from a backfill time."
            }
            CursorError::FromOtherCluster { .. } => {
                "Point the stream at the cluster the cursor belongs to, or give this cluster its own cursor (a new cursor file, or start from a backfill time)."
            }
            CursorError::Ahead { .. } => {
                "Check the clocks of this machine and of the Teleport servers (NTP); if the cursor was edited by hand, restore it or start from a backfill time."
            }
            CursorError::File { .. } => "Check the cursor file's path and permissions.",
            CursorError::FileUnusable { .. } => {
                "Give the path of a regular file (it need not exist yet) in an existing directory."
            }
            CursorError::Locked { .. } => LOCKED,
        }
    }
}

/// The advice for a file another process holds.
const LOCKED: &str = "Another process is using this file (a second replica?): run one process per cursor file and output, or give each its own.";

/// The output file of a [`crate::FileSink`] cannot be used ([`crate::ErrorKind::Output`]).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The output file could not be opened, written or flushed.
    #[error("output file {path}: could not {action}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was being done ("open", "write", "flush to disk", "truncate", ...).
        action: &'static str,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// The output file holds data that its cursor file does not describe, so appending could
    /// repeat events or continue a torn line.
    #[error("output file {path} {reason}")]
    NotRecorded {
        /// The output file.
        path: PathBuf,
        /// Why it does not fit the cursor file.
        reason: String,
    },

    /// Another process holds the output file open (an advisory lock, held for the life of the
    /// sink that opened it).
    #[error("output file {path} is in use by another process")]
    Locked {
        /// The file.
        path: PathBuf,
    },
}

impl OutputError {
    /// The stable code ([`crate::Error::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            OutputError::File { .. } => "output_file",
            OutputError::NotRecorded { .. } => "output_not_recorded",
            OutputError::Locked { .. } => "file_locked",
        }
    }

    /// What to do about it ([`crate::Error::advice`]).
    pub fn advice(&self) -> &'static str {
        match self {
            OutputError::File { .. } => {
                "Check free space and permissions; events after the last saved cursor are written again on the next run, nothing is lost."
            }
            OutputError::NotRecorded { .. } => {
                "Write to a new (or empty) output file, or resume with the cursor file saved together with this output."
            }
            OutputError::Locked { .. } => LOCKED,
        }
    }
}
