//! Events too large to receive: recognising tonic's refusal, choosing a higher receive limit,
//! and the last resort, learning the event's id and time without holding it.
//!
//! The last resort sends the call again as a raw gRPC call over the same channel and decodes the
//! response as it streams in: the envelope's small fields (id, time) are kept, the event payload
//! (`unstructured`, field 5) is counted and discarded. For search (a one-event page), `last_key`
//! then tells where to resume; for export, the first streamed message's `cursor` (which follows
//! the event in the message) does. Memory stays at a few KiB however large the event is.

use prost::Message as _;
use time::OffsetDateTime;
use tonic::transport::Channel;

use super::page::{Content, Page, PageItem, PageRequest, from_timestamp};
use super::raw_call::{BodyReader, open};
use crate::error::{Error, ServerError};
use crate::rpc_name::Rpc;

const SEARCH_PATH: &str = "/teleport.auditlog.v1.AuditLogService/GetUnstructuredEvents";
const EXPORT_PATH: &str = "/teleport.auditlog.v1.AuditLogService/ExportUnstructuredEvents";

/// Whether the error is tonic refusing a message over the receive limit; with the size found.
pub(crate) fn too_large(error: &Error) -> Option<Option<usize>> {
    match error {
        Error::Server(ServerError::Status {
            code: tonic::Code::OutOfRange,
            message,
            ..
        }) if message.contains("message length too large") => Some(
            message
                .split("found ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok()),
        ),
        _ => None,
    }
}

/// The receive limit to try after `current` refused a message of `found` bytes: room for the
/// message (rounded up to a power of two), at least double, at most `ceiling`.
pub(crate) fn raised_limit(current: usize, found: Option<usize>, ceiling: usize) -> usize {
    found
        .map(|size| {
            size.saturating_add(1024)
                .checked_next_power_of_two()
                .unwrap_or(usize::MAX)
        })
        .unwrap_or(0)
        .max(current.saturating_mul(2))
        .min(ceiling)
}

/// Searches one event at the request's position and reports it as skipped.
pub(crate) async fn skipped_search_page(
    channel: Channel,
    request: PageRequest,
) -> Result<Page, Error> {
    let mut wire = request.to_wire();
    wire.limit = 1;
    let timeout = request.timeout;
    let fallback_time = request.from;
    match tokio::time::timeout(timeout, call(channel, wire.encode_to_vec(), fallback_time)).await {
        Err(_) => Err(Error::Server(ServerError::Timeout {
            rpc: Rpc::GetUnstructuredEvents,
            after: timeout,
        })),
        Ok(result) => result.map(|(items, last_key)| Page {
            items: items
                .into_iter()
                .map(|envelope| PageItem {
                    id: envelope.id,
                    time: envelope.time,
                    content: Content::Oversized {
                        size: envelope.size,
                        limit: request.max_receive,
                    },
                })
                .collect(),
            last_key,
            full: true,
        }),
    }
}

/// What the envelope of an event too large to receive says about it.
#[derive(Debug)]
struct Envelope {
    event_type: String,
    id: String,
    time: OffsetDateTime,
    /// The size of its payload.
    size: usize,
}

type Envelopes = (Vec<Envelope>, String);

async fn call(
    channel: Channel,
    message: Vec<u8>,
    fallback_time: OffsetDateTime,
) -> Result<Envelopes, Error> {
    let mut reader = open(channel, Rpc::GetUnstructuredEvents, SEARCH_PATH, message).await?;
    let parsed = parse_message(&mut reader, fallback_time, "last_key is not UTF-8").await?;
    // Drain to the trailers: the call only succeeded if grpc-status says so.
    reader.drain().await?;
    reader.check_trailers()?;
    Ok(parsed)
}

/// An event of an export chunk that was too large to receive, and where the chunk goes on.
#[derive(Debug)]
pub(crate) struct SkippedExportEvent {
    /// Its type from the envelope ("" if the server sent none).
    pub(crate) event_type: String,
    pub(crate) id: String,
    pub(crate) time: OffsetDateTime,
    pub(crate) size: usize,
    /// Teleport's position right after the event (empty if the server sent none).
    pub(crate) cursor: String,
}

/// Opens the export call `request` raw and reads only its first streamed message, keeping the
/// event's id, time and size and the cursor after it. `None` when the chunk has no further
/// event.
pub(crate) async fn skipped_export_event(
    channel: Channel,
    rpc: Rpc,
    request: Vec<u8>,
    timeout: std::time::Duration,
    fallback_time: OffsetDateTime,
) -> Result<Option<SkippedExportEvent>, Error> {
    let read = async {
        let mut reader = open(channel, rpc, EXPORT_PATH, request).await?;
        if !reader.fill().await? {
            // No message: the stream ended (its status is in the trailers).
            reader.check_trailers()?;
            return Ok(None);
        }
        // `ExportEventUnstructured` {event = 1, cursor = 2} has the layout of a page.
        let (mut events, cursor) =
            parse_message(&mut reader, fallback_time, "an export cursor is not UTF-8").await?;
        // The rest of the chunk is not read: dropping the body cancels the call.
        let envelope = events
            .pop()
            .ok_or_else(|| reader.malformed("a message without event"))?;
        Ok(Some(SkippedExportEvent {
            event_type: envelope.event_type,
            id: envelope.id,
            time: envelope.time,
            size: envelope.size,
            cursor,
        }))
    };
    match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(Error::Server(ServerError::Timeout {
            rpc,
            after: timeout,
        })),
        Ok(result) => result,
    }
}

/// Parses one gRPC frame holding a message with events in field 1 and a position string in
/// field 2 (`EventsUnstructured`'s `last_key`, `ExportEventUnstructured`'s `cursor`), keeping
/// only what identifies the events; `bad_position` is the error for a position that is not UTF-8.
async fn parse_message(
    reader: &mut BodyReader,
    fallback_time: OffsetDateTime,
    bad_position: &'static str,
) -> Result<Envelopes, Error> {
    let len = reader.frame_header().await?;
    let end = reader.end_of(len)?;
    let mut items = Vec::new();
    let mut position = String::new();
    while reader.position() < end {
        let key = reader.varint().await?;
        match (key >> 3, key & 7) {
            (1, 2) => {
                let item_len = reader.varint().await?;
                items.push(parse_item(reader, item_len, fallback_time).await?);
            }
            (2, 2) => {
                let n = reader.varint().await?;
                position = String::from_utf8(reader.bytes(n).await?)
                    .map_err(|_| reader.malformed(bad_position))?;
            }
            (_, wire_type) => reader.skip_field(wire_type).await?,
        }
    }
    reader.check_end(end)?;
    Ok((items, position))
}

async fn parse_item(
    reader: &mut BodyReader,
    len: u64,
    fallback_time: OffsetDateTime,
) -> Result<Envelope, Error> {
    let end = reader.end_of(len)?;
    let mut event_type = String::new();
    let mut id = String::new();
    let mut time = None;
    let mut size = 0usize;
    while reader.position() < end {
        let key = reader.varint().await?;
        match (key >> 3, key & 7) {
            (1, 2) => {
                let n = reader.varint().await?;
                event_type = String::from_utf8(reader.bytes(n).await?)
                    .map_err(|_| reader.malformed("an event type is not UTF-8"))?;
            }
            (2, 2) => {
                let n = reader.varint().await?;
                id = String::from_utf8(reader.bytes(n).await?)
                    .map_err(|_| reader.malformed("an event id is not UTF-8"))?;
            }
            (3, 2) => {
                let n = reader.varint().await?;
                let ts = prost_types::Timestamp::decode(reader.bytes(n).await?.as_slice())
                    .map_err(|_| reader.malformed("an event time does not decode"))?;
                time = from_timestamp(ts);
            }
            (5, 2) => {
                let n = reader.varint().await?;
                size = usize::try_from(n).unwrap_or(usize::MAX);
                reader.skip(n).await?;
            }
            (_, wire_type) => reader.skip_field(wire_type).await?,
        }
    }
    reader.check_end(end)?;
    Ok(Envelope {
        event_type,
        id,
        time: time.unwrap_or(fallback_time),
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_tonic_s_size_error() {
        let error = Error::Server(ServerError::Status {
            rpc: Rpc::GetUnstructuredEvents,
            code: tonic::Code::OutOfRange,
            message: "Error, decoded message length too large: found 5242880 bytes, the limit is: 4194304 bytes".into(),
        });
        assert_eq!(too_large(&error), Some(Some(5_242_880)));
        let other = Error::Server(ServerError::Status {
            rpc: Rpc::GetUnstructuredEvents,
            code: tonic::Code::OutOfRange,
            message: "time out of range".into(),
        });
        assert_eq!(too_large(&other), None);
    }

    fn reader(body: Vec<u8>) -> BodyReader {
        BodyReader::new(
            Rpc::GetUnstructuredEvents,
            tonic::body::Body::new(http_body_util::Full::new(bytes::Bytes::from(body))),
        )
    }

    /// A gRPC frame around `message`.
    fn frame(message: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    #[tokio::test]
    async fn an_item_length_beyond_any_message_is_malformed_not_a_panic() {
        // Field 1 (an item), length 2^64 - 1 as a 10-byte varint.
        let mut message = vec![0x0a];
        message.extend_from_slice(&[0xff; 9]);
        message.push(0x01);
        let mut body = reader(frame(&message));
        let error = parse_message(&mut body, OffsetDateTime::UNIX_EPOCH, "bad")
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("a length runs past any message"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_item_longer_than_its_message_is_malformed() {
        // Field 1, an item of 3 bytes announced, in a message 2 bytes long.
        let mut body = reader(frame(&[0x0a, 0x03]));
        let error = parse_message(&mut body, OffsetDateTime::UNIX_EPOCH, "bad")
            .await
            .unwrap_err();
        assert!(error.to_string().contains("malformed response"), "{error}");
    }

    #[tokio::test]
    async fn a_page_and_an_export_message_parse_alike() {
        // An item {type = "user.login", id = "u1"} and a position "k".
        let item = [&[0x0a, 10][..], b"user.login", &[0x12, 2][..], b"u1"].concat();
        let mut message = vec![0x0a, u8::try_from(item.len()).unwrap()];
        message.extend_from_slice(&item);
        message.extend_from_slice(&[0x12, 1, b'k']);
        let mut body = reader(frame(&message));
        let (items, position) = parse_message(&mut body, OffsetDateTime::UNIX_EPOCH, "bad")
            .await
            .unwrap();
        assert_eq!(position, "k");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].event_type, "user.login");
        assert_eq!(items[0].id, "u1");
        assert_eq!(items[0].time, OffsetDateTime::UNIX_EPOCH);
    }

    #[test]
    fn the_raised_limit_fits_the_message_within_the_ceiling() {
        assert_eq!(raised_limit(4 << 20, Some(5_000_000), 64 << 20), 8 << 20);
        assert_eq!(raised_limit(4 << 20, None, 64 << 20), 8 << 20);
        assert_eq!(raised_limit(4 << 20, Some(40 << 20), 16 << 20), 16 << 20);
        assert_eq!(raised_limit(1 << 20, Some(1 << 20), 64 << 20), 2 << 20);
        assert_eq!(raised_limit(4 << 20, Some(usize::MAX), 64 << 20), 64 << 20);
    }
}
