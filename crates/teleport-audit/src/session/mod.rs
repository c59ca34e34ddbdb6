//! One session's recording: [`crate::Client::session_events`] and its
//! [`SessionEventStream`]. The settings in `config`, the rules (which call, which index, what a
//! failure leads to) in `core`, one call made and read in `call`, the driver in `stream`.

mod call;
mod config;
mod core;
mod recording_source;
mod stream;

pub use config::{
    DEFAULT_FIRST_EVENT_TIMEOUT, DEFAULT_MAX_SESSION_EVENT_SIZE, SessionEventsConfig,
    check_session_id,
};
pub use stream::SessionEventStream;
