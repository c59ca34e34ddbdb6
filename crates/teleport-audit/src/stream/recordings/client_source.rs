//! The client as a [`RecordingSource`]: [`crate::Client::session_events`].
//!
//! Interim: the session-events stream is being written on another branch; until it is merged,
//! opening a recording fails with a setting error, so the mode refuses to run rather than
//! losing recordings.

use futures::StreamExt as _;

use super::source::{Failure, RecordingSource, RecordingStream, SourceError};
use crate::client::Client;
use crate::error::{Error, SettingError};

impl RecordingSource for Client {
    fn open(&self, _sid: &str, _start_index: i64, _skip: &[String]) -> RecordingStream {
        futures::stream::iter([Err(SourceError {
            failure: Failure::Fatal,
            error: Error::Setting(SettingError::Config {
                field: "session_recordings",
                reason: "session recordings are not available in this build".to_owned(),
            }),
        })])
        .boxed()
    }
}
