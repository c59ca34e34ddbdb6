//! The audit event stream: configuration, the mode decision, the search mode's paging loop and
//! pages, the export mode, oversized events, and what they share (retries, spawned tasks).

mod audit_stream;
mod config;
mod export;
mod notify;
mod oversized;
mod page;
mod paging;
mod probe;
mod retry;
mod server_time;
mod task;

pub use audit_stream::AuditEventStream;
pub use config::{
    DEFAULT_EXPORT_CONCURRENCY, DEFAULT_EXPORT_LOOKBACK, DEFAULT_EXPORT_MAX_LATENESS,
    DEFAULT_EXPORT_POLL_INTERVAL, DEFAULT_MAX_LATENESS, DEFAULT_MAX_RECEIVE_SIZE,
    DEFAULT_MAX_RECEIVE_SIZE_LIMIT, DEFAULT_PAGE_SIZE, DEFAULT_POLL_INTERVAL,
    DEFAULT_STALL_REPORT_AFTER, DEFAULT_WINDOW, MAX_EXPORT_CONCURRENCY, MAX_EXPORT_LOOKBACK,
    MAX_PAGE_SIZE, Mode, StreamConfig,
};
pub(crate) use export::{EXPORT_RPC, LIST_RPC};
pub use server_time::{CURSOR_AHEAD_TOLERANCE, MAX_CLOCK_SKEW};
