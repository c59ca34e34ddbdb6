//! The client as the recordings mode's [`RecordingSource`]: [`Client::session_events`], told not to wait for a
//! recording not found (the recordings core asks again later without holding a slot), its
//! errors sorted by [`Error::recording_failure`].

use std::time::Duration;

use futures::StreamExt as _;

use super::config::SessionEventsConfig;
use crate::client::Client;
use crate::error::{Error, RecordingFailure};
use crate::stream::recordings::source::{Failure, RecordingSource, RecordingStream, SourceError};

impl RecordingSource for Client {
    fn open(&self, sid: &str, start_index: i64, skip: &[String]) -> RecordingStream {
        let config = SessionEventsConfig::default()
            .start_index(start_index)
            .skip_types(skip.iter().cloned())
            .recording_wait(Duration::ZERO);
        self.session_events(sid, config)
            .map(|item| item.map_err(source_error))
            .boxed()
    }
}

/// How a session stream's error ends its recording.
fn source_error(error: Error) -> SourceError {
    let failure = match error.recording_failure() {
        Some(RecordingFailure::NotFound) => Failure::NotFound,
        Some(RecordingFailure::Corrupt) => Failure::Corrupt,
        None => Failure::Fatal,
    };
    SourceError { failure, error }
}
