//! The audit event stream: configuration, the mode decision, the search mode (its rules in
//! `search_core`, its driver in `search`, one page in `page`), the export mode, oversized events,
//! and what they share (delivery, retries, spawned tasks, time arithmetic).

mod audit_stream;
pub(crate) mod config;
mod delivery;
mod export;
mod mode_probe;
pub(crate) mod notify;
mod oversized;
mod page;
pub(crate) mod raw_call;
pub(crate) mod recordings;
pub(crate) mod retry;
mod search;
mod search_core;
mod server_time;
pub(crate) mod session_recordings;
mod task;
mod time_math;
pub(crate) mod type_set;

pub use audit_stream::AuditEventStream;
pub use config::{
    DEFAULT_EXPORT_CONCURRENCY, DEFAULT_EXPORT_LOOKBACK, DEFAULT_EXPORT_MAX_LATENESS,
    DEFAULT_EXPORT_POLL_INTERVAL, DEFAULT_MAX_LATENESS, DEFAULT_MAX_RECEIVE_SIZE,
    DEFAULT_MAX_RECEIVE_SIZE_LIMIT, DEFAULT_PAGE_SIZE, DEFAULT_POLL_INTERVAL,
    DEFAULT_STALL_REPORT_AFTER, DEFAULT_WINDOW, MAX_EXPORT_CONCURRENCY, MAX_EXPORT_LOOKBACK,
    MAX_PAGE_SIZE, StreamConfig,
};
pub use server_time::{CURSOR_AHEAD_TOLERANCE, MAX_CLOCK_SKEW};
pub use session_recordings::{
    DEFAULT_MAX_PENDING_SESSIONS, DEFAULT_RECORDING_WAIT, DEFAULT_SESSION_CONCURRENCY,
    DEFAULT_SKIP_SESSION_TYPES, MAX_SESSION_CONCURRENCY, SESSION_METADATA_TYPES, SessionRecordings,
};
