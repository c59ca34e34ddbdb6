//! [`SessionEventStream`]: the driver of one session's recording. It asks the rules
//! ([`super::core`]) which call to make, makes it ([`super::call`]), hands each event's index to
//! the rules, and yields the events they deliver (with `sid`, skip types applied); on a failure
//! it does what the rules answer: switch to the legacy call, retry after a backoff delay (a
//! long failure is a [`Notice::Stalled`]), wait for a recording not uploaded yet, or end.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::Stream;
use teleport_audit_types::AuditEvent;

use super::call::{Call, CallError, RawEvent, sid_field};
use super::config::{SessionEventsConfig, check_session_id};
use super::core::{Admission, CorruptReason, Decision, Failure, SessionCore};
use crate::backoff::Backoff;
use crate::client::Client;
use crate::error::{Error, ServerError, SharedError};
use crate::notice::Notices;
use crate::rpc;
use crate::rpc_name::Rpc;
use crate::stats::StatsHandle;
use crate::stream::notify::Notifier;
use crate::stream::retry::{Retrier, Verdict};
use crate::stream::type_set::skips;

impl Client {
    /// One session's recording (commands, Kubernetes exec, database queries, desktop metadata,
    /// port forwards, terminal output...) as a stream of events: see [`SessionEventStream`].
    ///
    /// `session_id` is the session's id (the `sid` of its audit events, a UUID). The identity's
    /// roles need `session` `read`. Teleport writes a `session.recording.access` audit event for
    /// every call, retries included.
    pub fn session_events(
        &self,
        session_id: &str,
        config: SessionEventsConfig,
    ) -> SessionEventStream {
        SessionEventStream::new(self.clone(), session_id, config)
    }
}

/// The events of one session's recording, in the recording's order; from
/// [`Client::session_events`].
///
/// Each item is an [`AuditEvent`] whose JSON is what Teleport's `apievents.ToUnstructured`
/// makes of the event, with `"sid"` added when the event has none (`print` has none).
/// Teleport servers with teleport#37580 serve it through `StreamUnstructuredSessionEvents`;
/// older ones (13.x, 14.x before the fix) answer that call `Unimplemented`, and the stream
/// reads their legacy `StreamSessionEvents` instead (the client remembers it).
///
/// - **Resume.** [`next_index`](Self::next_index) is the index right after the last event
///   yielded (or skipped); [`SessionEventsConfig::start_index`] with it resumes there. An event
///   the server writes out of order within a read is delivered; across a resume, the server
///   sends only indices from the start index on.
/// - **Failures.** Transient ones (the connection, timeouts, `Unavailable`) are retried inside
///   with backoff, from the next index; a long one is a [`crate::Notice::Stalled`]. A recording the
///   server does not have (yet) is asked for again until
///   [`SessionEventsConfig::recording_wait`] has passed, then the stream ends with
///   [`ServerError::RecordingNotFound`]; a recording it cannot read, or an event this client
///   cannot decode, ends it with [`ServerError::RecordingCorrupt`] after the events before it
///   ([`Error::recording_failure`] tells the two apart). A missing permission
///   ([`crate::PermissionError`]: `session` `read`) ends it at once. Every error is yielded
///   once, then the stream ends.
/// - **Memory.** One event at a time, each at most [`SessionEventsConfig::max_event_size`]: a
///   recording of any length is read in constant memory.
#[must_use = "a stream does nothing unless polled"]
pub struct SessionEventStream {
    inner: Pin<Box<dyn Stream<Item = Result<AuditEvent, Error>> + Send>>,
    session_id: Arc<str>,
    next_index: Arc<AtomicI64>,
    notifier: Notifier,
}

impl std::fmt::Debug for SessionEventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionEventStream")
            .field("session_id", &self.session_id)
            .field("next_index", &self.next_index())
            .finish_non_exhaustive()
    }
}

impl SessionEventStream {
    fn new(client: Client, session_id: &str, config: SessionEventsConfig) -> Self {
        let session_id: Arc<str> = Arc::from(session_id);
        let next_index = Arc::new(AtomicI64::new(config.start_index));
        let notifier = Notifier::new(StatsHandle::default());
        let checked = config
            .validate()
            .and_then(|()| check_session_id(&session_id))
            .map_err(Error::from);
        let inner: Pin<Box<dyn Stream<Item = _> + Send>> = match checked {
            Err(error) => Box::pin(futures::stream::once(async { Err(error) })),
            Ok(()) => {
                let reader = Reader::new(
                    client,
                    Arc::clone(&session_id),
                    config,
                    Arc::clone(&next_index),
                    notifier.clone(),
                );
                Box::pin(futures::stream::unfold(reader, |mut reader| async move {
                    let item = reader.next().await?;
                    Some((item, reader))
                }))
            }
        };
        Self {
            inner,
            session_id,
            next_index,
            notifier,
        }
    }

    /// The session this stream reads.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The index right after the last event yielded or skipped: give it to
    /// [`SessionEventsConfig::start_index`] to resume there.
    pub fn next_index(&self) -> i64 {
        self.next_index.load(Ordering::SeqCst)
    }

    /// The stream's notices (a stall and its end), as [`crate::AuditEventStream::notices`].
    pub fn notices(&self) -> Notices {
        self.notifier.subscribe()
    }
}

impl Stream for SessionEventStream {
    type Item = Result<AuditEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// The reading loop's state.
struct Reader {
    client: Client,
    session_id: Arc<str>,
    config: SessionEventsConfig,
    core: SessionCore,
    retrier: Retrier,
    /// Delays between asks for a recording not there yet.
    wait_backoff: Box<dyn Backoff>,
    began: Instant,
    /// Since when the reader has waited on the server (the last call's start, or the last
    /// event taken from it): where a stall is dated from if the call fails.
    waiting_since: Instant,
    /// The call in progress.
    current: Option<Current>,
    /// The encoded Struct `{"sid": <session id>}`, appended to an event without `sid`.
    sid_field: Vec<u8>,
    next_index: Arc<AtomicI64>,
    done: bool,
}

/// A call in progress.
struct Current {
    rpc: Rpc,
    /// `None` until its answer's headers arrived.
    call: Option<Call>,
    /// Whether it has sent an event.
    answered: bool,
}

/// Why [`Reader::receive`] returned no event.
enum Stopped {
    /// The call `rpc` failed.
    Call(Rpc, CallError),
    /// The stream ends with this error.
    Ended(Error),
}

impl Reader {
    fn new(
        client: Client,
        session_id: Arc<str>,
        config: SessionEventsConfig,
        next_index: Arc<AtomicI64>,
        notifier: Notifier,
    ) -> Self {
        let sid_field = sid_field(&session_id);
        Self {
            core: SessionCore::new(
                config.start_index,
                client.session_events_legacy(),
                config.recording_wait,
            ),
            retrier: Retrier::with_backoff((config.backoff)(), config.stall_report_after, notifier),
            wait_backoff: (config.backoff)(),
            began: Instant::now(),
            waiting_since: Instant::now(),
            current: None,
            sid_field,
            next_index,
            done: false,
            client,
            session_id,
            config,
        }
    }

    /// The next item; `None` once the stream has ended.
    async fn next(&mut self) -> Option<Result<AuditEvent, Error>> {
        while !self.done {
            let received = match self.receive().await {
                Ok(Some(raw)) => raw,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(Stopped::Ended(error)) => {
                    self.done = true;
                    return Some(Err(error));
                }
                Err(Stopped::Call(rpc, error)) => match self.on_failure(rpc, error).await {
                    Some(error) => {
                        self.done = true;
                        return Some(Err(error));
                    }
                    None => continue,
                },
            };
            if self.core.admit(received.index) == Admission::Resent {
                continue;
            }
            self.next_index
                .store(self.core.next_index(), Ordering::SeqCst);
            if skips(&self.config.skip_types, &received.event_type) {
                continue;
            }
            match received.into_event(&self.sid_field) {
                Ok(event) => return Some(Ok(event)),
                Err(source) => {
                    self.current = None;
                    self.done = true;
                    let reason = CorruptReason::Undecodable.text().to_owned();
                    return Some(Err(self.corrupt(reason, Some(source))));
                }
            }
        }
        None
    }

    /// The next event of the call in progress (opening one when none is); `None` at the
    /// recording's end.
    async fn receive(&mut self) -> Result<Option<RawEvent>, Stopped> {
        self.waiting_since = Instant::now();
        let plan =
            match &self.current {
                Some(_) => None,
                None => Some(self.core.begin_call().map_err(|reason| {
                    Stopped::Ended(self.corrupt(reason.text().to_owned(), None))
                })?),
            };
        let current = self.current.get_or_insert_with(|| Current {
            rpc: self.core.transport().rpc(),
            call: None,
            answered: false,
        });
        let rpc = current.rpc;
        let timeout = if current.answered {
            self.config
                .event_timeout
                .unwrap_or(self.client.request_timeout())
        } else {
            self.config.first_event_timeout
        };
        let channel = self.client.channel().clone();
        let max = self.config.max_event_size;
        let session_id = &self.session_id;
        let read = async {
            if let Some(plan) = plan {
                current.call = Some(Call::open(channel, session_id, plan).await?);
            }
            match &mut current.call {
                Some(call) => call.next(max).await,
                None => Ok(None),
            }
        };
        let result = match tokio::time::timeout(timeout, read).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Other(Error::Server(ServerError::Timeout {
                rpc,
                after: timeout,
            }))),
        };
        match result {
            Ok(Some(raw)) => {
                if !current.answered {
                    current.answered = true;
                    self.retrier.succeeded();
                    self.wait_backoff.reset();
                }
                Ok(Some(raw))
            }
            Ok(None) => {
                self.current = None;
                self.retrier.succeeded();
                Ok(None)
            }
            Err(error) => {
                self.current = None;
                Err(Stopped::Call(rpc, error))
            }
        }
    }

    /// Does what the rules say about a failed call; `Some`: the error that ends the stream.
    async fn on_failure(&mut self, rpc: Rpc, error: CallError) -> Option<Error> {
        let (failure, error) = match error {
            CallError::Server(status) => {
                let code = status.code();
                let error = rpc::status_to_error(rpc, status);
                let retryable = error.is_retryable();
                (Failure::Server { code, retryable }, error)
            }
            CallError::Other(error) => {
                let retryable = error.is_retryable();
                (Failure::Other { retryable }, error)
            }
            CallError::Undecodable(source) => {
                let reason = CorruptReason::Undecodable.text().to_owned();
                (Failure::Undecodable, self.corrupt(reason, Some(source)))
            }
            CallError::Oversized { size } => {
                let reason = format!(
                    "an event of {size} bytes is over the limit of {} bytes",
                    self.config.max_event_size
                );
                (Failure::Oversized, self.corrupt(reason, None))
            }
        };
        match self.core.failed(failure, self.began.elapsed()) {
            Decision::UseLegacy => {
                tracing::debug!(
                    "StreamUnstructuredSessionEvents is not served; reading the legacy StreamSessionEvents"
                );
                self.client.remember_session_events_legacy();
                None
            }
            Decision::Retry => {
                let delay =
                    match self
                        .retrier
                        .failed(error, "session recording read", self.waiting_since)
                    {
                        Verdict::Retry { delay } => delay,
                        // The server failing to read the recording: retried once by the rules.
                        Verdict::Fatal(_) => self.wait_backoff.next_delay(),
                    };
                tokio::time::sleep(delay).await;
                None
            }
            Decision::WaitForRecording { at_most } => {
                let delay = self.wait_backoff.next_delay().min(at_most);
                tracing::info!(
                    session_id = %self.session_id,
                    retry_in = ?delay,
                    "the session's recording is not there yet; asking again"
                );
                tokio::time::sleep(delay).await;
                None
            }
            Decision::NotFound => Some(Error::Server(ServerError::RecordingNotFound {
                rpc,
                session_id: self.session_id.to_string(),
                waited: self.began.elapsed(),
                source: Arc::new(error),
            })),
            Decision::Corrupt(reason) => Some(match error {
                error @ Error::Server(ServerError::RecordingCorrupt { .. }) => error,
                error => self.corrupt(reason.text().to_owned(), Some(Arc::new(error))),
            }),
            Decision::Fatal => Some(error),
        }
    }

    /// [`ServerError::RecordingCorrupt`] at the next index, for `reason` (our words).
    fn corrupt(&self, reason: String, source: Option<SharedError>) -> Error {
        Error::Server(ServerError::RecordingCorrupt {
            rpc: self.core.transport().rpc(),
            session_id: self.session_id.to_string(),
            next_index: self.core.next_index(),
            reason,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream can be handed to a spawned task.
    #[test]
    fn the_stream_is_send_and_static() {
        fn spawnable<T: Send + 'static>() {}
        spawnable::<SessionEventStream>();
    }
}
