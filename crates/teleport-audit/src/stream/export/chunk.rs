//! One chunk reader: streams an export chunk from its start or from a stored position, filters
//! and decodes its events, and queues them for the consumer; retries by itself from the position
//! after the last event it queued (a long failure is a stall [`crate::Notice`]).

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use teleport_audit_proto::auditlog::v1::audit_log_service_client::AuditLogServiceClient;
use teleport_audit_proto::auditlog::v1::{EventUnstructured, ExportUnstructuredEventsRequest};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tonic::transport::Channel;

use super::export_core::ChunkJob;
use super::listing::date_timestamp;
use super::msg::Msg;
use crate::cursor::date_text;
use crate::error::{CursorError, Error, ServerError};
use crate::notice::Notice;
use crate::rpc::{self, status_to_error};
use crate::rpc_name::Rpc;
use crate::stats::StatsHandle;
use crate::stream::config::StreamConfig;
use crate::stream::notify::Notifier;
use crate::stream::oversized;
use crate::stream::page::{Content, PageItem, from_timestamp};
use crate::stream::retry::{Retrier, Verdict};

/// What every chunk reader of a stream shares.
pub(super) struct Shared {
    pub(super) channel: Channel,
    pub(super) config: StreamConfig,
    pub(super) request_timeout: Duration,
    pub(super) stats: StatsHandle,
    pub(super) notifier: Notifier,
    pub(super) tx: mpsc::Sender<Msg>,
}

/// Which events are delivered.
#[derive(Debug)]
pub(super) struct Filter {
    /// Events before this are not delivered.
    pub(super) from: OffsetDateTime,
    /// Events after this are not delivered.
    pub(super) end: Option<OffsetDateTime>,
    /// Only these types (sorted); empty means all. Export has no server-side filter.
    pub(super) types: Vec<String>,
}

impl Filter {
    fn type_wanted(&self, event_type: &str) -> bool {
        self.types.is_empty()
            || self
                .types
                .binary_search_by(|t| t.as_str().cmp(event_type))
                .is_ok()
    }

    fn time_wanted(&self, time: OffsetDateTime) -> bool {
        time >= self.from && self.end.is_none_or(|end| time <= end)
    }

    /// Decodes `event` if it is wanted. The envelope's type and time, when given, are what
    /// the item will carry, so they are checked before the payload is decoded.
    fn admit(&self, event: EventUnstructured, fallback_time: OffsetDateTime) -> Option<PageItem> {
        if !self.type_wanted_or_unknown(&event.r#type) {
            return None;
        }
        if let Some(time) = event.time.and_then(from_timestamp)
            && !self.time_wanted(time)
        {
            return None;
        }
        let envelope_type = !event.r#type.is_empty();
        let item = PageItem::from_wire(event, fallback_time);
        let type_ok = envelope_type
            || match &item.content {
                Content::Event(parsed) => self.type_wanted(parsed.event_type()),
                _ => true,
            };
        (type_ok && self.time_wanted(item.time)).then_some(item)
    }
}

/// How a reader ended.
#[derive(Debug)]
pub(super) enum Ending {
    /// The chunk was read to its end (or skipped with a report); `ChunkDone` was queued.
    Done,
    /// A fatal error was queued, or the consumer is gone: the stream stops.
    Stop,
}

/// How one call of the chunk ended.
enum CallEnd {
    Ended,
    ConsumerGone,
}

/// Reads `job` to its end; see the module docs.
pub(super) async fn read(shared: Arc<Shared>, filter: Arc<Filter>, job: ChunkJob) -> Ending {
    let mut reader = Reader {
        retrier: Retrier::new(&shared.config, shared.notifier.clone()),
        limit: shared.config.max_receive_size,
        waiting_since: std::time::Instant::now(),
        fallback_time: job.date.midnight().assume_utc(),
        position: job.position.clone(),
        shared,
        filter,
        job,
    };
    reader.run().await
}

struct Reader {
    shared: Arc<Shared>,
    filter: Arc<Filter>,
    job: ChunkJob,
    /// Teleport's position after the last event queued (or filtered out).
    position: String,
    /// Largest message accepted now (raised for an oversized event, up to the configured limit).
    limit: usize,
    retrier: Retrier,
    /// Since when this reader has waited on the server (the call's start, or its last message
    /// handed on): where a stall is dated from if the call fails.
    waiting_since: std::time::Instant,
    fallback_time: OffsetDateTime,
}

impl Reader {
    async fn run(&mut self) -> Ending {
        loop {
            let error = match self.call().await {
                Ok(CallEnd::Ended) => return self.done().await,
                Ok(CallEnd::ConsumerGone) => return Ending::Stop,
                Err(error) => error,
            };
            let error = match oversized::too_large(&error) {
                Some(found) => match self.oversized(found).await {
                    Ok(Some(ending)) => return ending,
                    Ok(None) => continue,
                    Err(error) => error,
                },
                None => error,
            };
            match error {
                // The chunk is gone (Teleport answers NotFound for a chunk file it cannot
                // find, e.g. removed by retention): nothing left to read in it.
                Error::Server(ServerError::Status {
                    code: tonic::Code::NotFound,
                    message,
                    ..
                }) => {
                    return self
                        .skip(format!("the server no longer has it (NotFound: {message})"))
                        .await;
                }
                // The server refuses the stored position: no safe way to go on in this chunk.
                Error::Server(ServerError::InvalidArgument { message, .. })
                    if !self.position.is_empty() =>
                {
                    let error = Error::Cursor(CursorError::Invalid {
                        reason: format!(
                            "the server refused the stored position {:?} in export chunk {} of {}: {message}",
                            self.position,
                            self.job.name,
                            date_text(self.job.date)
                        ),
                        source: None,
                    });
                    return self.stop(error).await;
                }
                error => match self
                    .retrier
                    .failed(error, "export chunk read", self.waiting_since)
                {
                    Verdict::Fatal(error) => return self.stop(error).await,
                    Verdict::Retry { delay } => tokio::time::sleep(delay).await,
                },
            }
        }
    }

    fn request(&self) -> ExportUnstructuredEventsRequest {
        ExportUnstructuredEventsRequest {
            date: Some(date_timestamp(self.job.date)),
            chunk: self.job.name.to_string(),
            cursor: self.position.clone(),
        }
    }

    /// One call: streams the chunk from the position until it ends or fails.
    async fn call(&mut self) -> Result<CallEnd, Error> {
        let timeout = self.shared.request_timeout;
        self.waiting_since = std::time::Instant::now();
        let mut client = AuditLogServiceClient::new(self.shared.channel.clone())
            .max_decoding_message_size(self.limit);
        let mut stream = rpc::with_timeout(
            Rpc::ExportUnstructuredEvents,
            timeout,
            client.export_unstructured_events(self.request()),
        )
        .await?;
        let mut answered = false;
        loop {
            if answered {
                self.waiting_since = std::time::Instant::now();
            }
            let message = match tokio::time::timeout(timeout, stream.message()).await {
                Err(_) => {
                    return Err(Error::Server(ServerError::Timeout {
                        rpc: Rpc::ExportUnstructuredEvents,
                        after: timeout,
                    }));
                }
                Ok(Err(status)) => {
                    return Err(status_to_error(Rpc::ExportUnstructuredEvents, status));
                }
                Ok(Ok(None)) => {
                    self.retrier.succeeded();
                    return Ok(CallEnd::Ended);
                }
                Ok(Ok(Some(message))) => message,
            };
            if !answered {
                answered = true;
                self.retrier.succeeded();
            }
            // Teleport always sends a position; without one, the previous stays (a retry then
            // reads this event again rather than the whole chunk).
            if !message.cursor.is_empty() {
                self.position = message.cursor;
            }
            let Some(item) = message
                .event
                .and_then(|event| self.filter.admit(event, self.fallback_time))
            else {
                continue;
            };
            let msg = Msg::Item {
                date: self.job.date,
                chunk: Arc::clone(&self.job.name),
                position: self.position.clone(),
                item,
            };
            if !self.send(msg).await {
                return Ok(CallEnd::ConsumerGone);
            }
        }
    }

    /// The next message is over the receive limit (`found` bytes, if tonic said): raise the
    /// limit, or past the configured ceiling, learn the event's id and the position after it
    /// without receiving it, report it skipped and go on after it. `Ok(None)`: carry on
    /// reading; `Ok(Some(_))`: the reader is finished.
    async fn oversized(&mut self, found: Option<usize>) -> Result<Option<Ending>, Error> {
        let ceiling = self.shared.config.max_receive_size_limit;
        if self.limit < ceiling {
            self.limit = oversized::raised_limit(self.limit, found, ceiling);
            tracing::info!(
                limit = self.limit,
                "export event too large; raising the receive limit"
            );
            return Ok(None);
        }
        let skipped = oversized::skipped_export_event(
            self.shared.channel.clone(),
            Rpc::ExportUnstructuredEvents,
            self.request().encode_to_vec(),
            self.shared.request_timeout,
            self.fallback_time,
        )
        .await?;
        self.retrier.succeeded();
        let Some(skipped) = skipped else {
            // The chunk has nothing after the position any more.
            return Ok(Some(self.done().await));
        };
        // Without a position after the event (or with the one before it again), going on
        // would read the same event forever.
        if skipped.cursor.is_empty() || skipped.cursor == self.position {
            let reason = format!(
                "event {} at {} is {} bytes, over the receive limit of {ceiling} bytes, and the \
                 server gave no position after it; the rest of the chunk is not read",
                skipped.id, skipped.time, skipped.size
            );
            return Ok(Some(self.skip(reason).await));
        }
        // The skip itself is a notice (and its one warning), once the consumer reaches it.
        tracing::debug!(
            date = %date_text(self.job.date),
            chunk = %self.job.name,
            id = %skipped.id,
            size = skipped.size,
            "export event over the largest receive limit; skipping it by its position"
        );
        self.position = skipped.cursor;
        let wanted = self.filter.type_wanted_or_unknown(&skipped.event_type)
            && self.filter.time_wanted(skipped.time);
        if wanted {
            let msg = Msg::Item {
                date: self.job.date,
                chunk: Arc::clone(&self.job.name),
                position: self.position.clone(),
                item: PageItem {
                    id: skipped.id,
                    time: skipped.time,
                    content: Content::Oversized {
                        size: skipped.size,
                        limit: ceiling,
                    },
                },
            };
            if !self.send(msg).await {
                return Ok(Some(Ending::Stop));
            }
        }
        Ok(None)
    }

    /// Reports the chunk as skipped (`reason`; a notice, logged and counted), then done.
    async fn skip(&mut self, reason: String) -> Ending {
        self.shared.notifier.notice(
            0,
            Notice::ChunkSkipped {
                date: self.job.date,
                chunk: self.job.name.to_string(),
                reason,
            },
        );
        self.done().await
    }

    async fn done(&mut self) -> Ending {
        let msg = Msg::ChunkDone {
            date: self.job.date,
            chunk: Arc::clone(&self.job.name),
        };
        if self.send(msg).await {
            Ending::Done
        } else {
            Ending::Stop
        }
    }

    async fn stop(&mut self, error: Error) -> Ending {
        self.send(Msg::Fatal(error)).await;
        Ending::Stop
    }

    /// Queues `msg`; false if the consumer is gone.
    async fn send(&self, msg: Msg) -> bool {
        self.shared.tx.send(msg).await.is_ok()
    }
}

impl Filter {
    /// Like `type_wanted`, but an unknown (empty) type is let through.
    fn type_wanted_or_unknown(&self, event_type: &str) -> bool {
        event_type.is_empty() || self.type_wanted(event_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teleport_audit_proto::RawStruct;
    use time::macros::datetime;

    fn event(event_type: &str, time: OffsetDateTime) -> EventUnstructured {
        let json = format!(
            r#"{{"event":"{event_type}","time":"{}","uid":"u"}}"#,
            time.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        );
        EventUnstructured {
            r#type: String::new(),
            id: "u".into(),
            time: Some(crate::stream::page::timestamp(time)),
            index: 0,
            unstructured: Some(RawStruct::from_encoded(
                teleport_audit_types::wire::json_to_struct(&json).unwrap(),
            )),
        }
    }

    #[test]
    fn the_filter_applies_time_and_type_with_or_without_the_envelope_type() {
        let filter = Filter {
            from: datetime!(2025-12-02 10:00 UTC),
            end: Some(datetime!(2025-12-02 11:00 UTC)),
            types: vec!["role.created".into(), "user.login".into()],
        };
        let fallback = datetime!(2025-12-02 0:00 UTC);
        let inside = datetime!(2025-12-02 10:30 UTC);
        assert!(
            filter
                .admit(event("user.login", inside), fallback)
                .is_some()
        );
        // The type from the JSON when the envelope has none, from the envelope otherwise.
        assert!(
            filter
                .admit(event("db.session.query", inside), fallback)
                .is_none()
        );
        let mut enveloped = event("user.login", inside);
        enveloped.r#type = "cert.create".into();
        assert!(filter.admit(enveloped, fallback).is_none());
        // Both ends are inclusive.
        assert!(
            filter
                .admit(event("user.login", filter.from), fallback)
                .is_some()
        );
        assert!(
            filter
                .admit(event("user.login", filter.end.unwrap()), fallback)
                .is_some()
        );
        assert!(
            filter
                .admit(
                    event("user.login", datetime!(2025-12-02 09:59:59.999 UTC)),
                    fallback
                )
                .is_none()
        );
        assert!(
            filter
                .admit(
                    event("user.login", datetime!(2025-12-02 11:00:00.001 UTC)),
                    fallback
                )
                .is_none()
        );
        let all = Filter {
            types: Vec::new(),
            end: None,
            ..filter
        };
        assert!(all.admit(event("anything", inside), fallback).is_some());
        assert!(all.type_wanted_or_unknown(""));
    }
}
