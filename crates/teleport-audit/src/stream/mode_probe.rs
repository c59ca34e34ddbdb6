//! [`Mode::Auto`](crate::Mode::Auto): one chunk listing of today decides between export and
//! search, retried like any call while the answer is a transient failure.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::time::Sleep;

use super::config::StreamConfig;
use super::export::list_chunks;
use super::notify::Notifier;
use super::retry::{Retrier, Verdict};
use super::task::{self, Task};
use crate::client::Client;
use crate::error::{Error, ServerError};
use crate::mode::Mode;

/// What the probe's answer means.
#[derive(Debug)]
pub(crate) enum Decision {
    /// The cluster serves export.
    Export,
    /// The cluster answered `Unimplemented`: search.
    Search,
    /// A transient failure: ask again.
    Retry(Error),
    /// Anything else ends the stream.
    Fatal(Error),
}

/// Reads the probe's answer. `Unimplemented` comes in two forms: gRPC's own `unknown method
/// GetEventExportChunks ...` (Teleport before 16.4) and Teleport's handler for a backend
/// without export; both mean search.
pub(crate) fn decide(answer: Result<Vec<String>, Error>) -> Decision {
    match answer {
        Ok(chunks) => {
            tracing::info!(
                chunks_today = chunks.len(),
                "export API available: reading the audit log with export"
            );
            Decision::Export
        }
        Err(Error::Server(ServerError::Unimplemented { message, .. })) => {
            tracing::info!("{}", fallback_message(&message));
            Decision::Search
        }
        Err(error) if error.is_retryable() => Decision::Retry(error),
        Err(error) => Decision::Fatal(error),
    }
}

/// The log line of a fall-back to search.
fn fallback_message(server_message: &str) -> String {
    format!("export not available (Unimplemented: {server_message}): falling back to search")
}

/// Asking the cluster which mode to use.
pub(crate) struct ModeProbe {
    channel: tonic::transport::Channel,
    timeout: Duration,
    retrier: Retrier,
    state: State,
}

enum State {
    Ask,
    /// The listing call, sent at `since`.
    Asking {
        task: Task<Result<Vec<String>, Error>>,
        since: Instant,
    },
    Waiting(Pin<Box<Sleep>>),
}

/// What a poll of the probe gives.
pub(crate) enum Step {
    /// The mode is decided.
    Decided(Mode),
    /// The stream ends with this error.
    Fatal(Error),
}

impl std::fmt::Debug for ModeProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Ask => "ask",
            State::Asking { .. } => "asking",
            State::Waiting(_) => "waiting",
        };
        f.debug_struct("ModeProbe")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl ModeProbe {
    pub(crate) fn new(client: &Client, config: &StreamConfig, notifier: Notifier) -> Self {
        Self {
            channel: client.channel().clone(),
            timeout: config.request_timeout.unwrap_or(client.request_timeout()),
            retrier: Retrier::new(config, notifier),
            state: State::Ask,
        }
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        loop {
            match &mut self.state {
                State::Ask => {
                    let today = OffsetDateTime::now_utc().date();
                    let channel = self.channel.clone();
                    let timeout = self.timeout;
                    let span = tracing::info_span!("audit_export_probe", date = %today);
                    self.state = State::Asking {
                        task: Task::spawn(tracing::Instrument::instrument(
                            list_chunks(channel, today, timeout),
                            span,
                        )),
                        since: Instant::now(),
                    };
                }
                State::Asking { task, since } => {
                    let answer = std::task::ready!(task.poll(cx))
                        .unwrap_or_else(|error| Err(task::failed("export probe", &error)));
                    match decide(answer) {
                        Decision::Export => {
                            self.retrier.succeeded();
                            return Poll::Ready(Step::Decided(Mode::Export));
                        }
                        Decision::Search => {
                            self.retrier.succeeded();
                            return Poll::Ready(Step::Decided(Mode::Search));
                        }
                        Decision::Retry(error) | Decision::Fatal(error) => {
                            match self.retrier.failed(error, "export probe", *since) {
                                Verdict::Fatal(error) => return Poll::Ready(Step::Fatal(error)),
                                Verdict::Retry { delay } => {
                                    self.state =
                                        State::Waiting(Box::pin(tokio::time::sleep(delay)));
                                }
                            }
                        }
                    }
                }
                State::Waiting(sleep) => {
                    std::task::ready!(sleep.as_mut().poll(cx));
                    self.state = State::Ask;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PermissionError;
    use crate::rpc_name::Rpc;

    #[test]
    fn both_forms_of_unimplemented_mean_search() {
        for message in [
            "unknown method GetEventExportChunks for service teleport.auditlog.v1.AuditLogService",
            "export not supported by this backend (dynamo)",
        ] {
            let answer = Err(Error::Server(ServerError::Unimplemented {
                rpc: Rpc::GetEventExportChunks,
                message: message.to_owned(),
            }));
            assert!(matches!(decide(answer), Decision::Search));
        }
        assert!(matches!(decide(Ok(Vec::new())), Decision::Export));
        assert!(matches!(
            decide(Ok(vec!["c-1".to_owned()])),
            Decision::Export
        ));
    }

    #[test]
    fn other_answers_are_retried_or_fatal() {
        let unavailable = Err(Error::Server(ServerError::Unavailable {
            rpc: Rpc::GetEventExportChunks,
            message: "down".into(),
        }));
        assert!(matches!(decide(unavailable), Decision::Retry(_)));
        let denied = Err(Error::Permission(PermissionError {
            rpc: Rpc::GetEventExportChunks,
            message: "access denied to perform action \"list\" on \"event\"".into(),
        }));
        assert!(matches!(decide(denied), Decision::Fatal(_)));
    }

    #[test]
    fn the_fallback_is_logged_in_words_an_operator_greps_for() {
        let line = fallback_message("unknown method GetEventExportChunks");
        for word in ["export", "Unimplemented", "falling back to search"] {
            assert!(line.contains(word), "{line}");
        }
        assert!(line.to_lowercase().contains("unimplemented"));
    }
}
