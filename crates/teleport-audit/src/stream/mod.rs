//! The audit event stream: configuration, the paging loop, pages, and oversized events.

mod config;
mod oversized;
mod page;
mod paging;

pub use config::{
    DEFAULT_MAX_LATENESS, DEFAULT_MAX_RECEIVE_SIZE, DEFAULT_MAX_RECEIVE_SIZE_LIMIT,
    DEFAULT_PAGE_SIZE, DEFAULT_POLL_INTERVAL, DEFAULT_STALL_REPORT_AFTER, DEFAULT_WINDOW,
    MAX_PAGE_SIZE, StreamConfig,
};
pub use paging::AuditEventStream;
