//! Events too large to receive: recognising tonic's refusal, choosing a higher receive limit,
//! and the last resort, learning the event's id and time without holding it.
//!
//! The last resort sends the call again as a raw gRPC call over the same channel and decodes the
//! response as it streams in: the envelope's small fields (id, time) are kept, the event payload
//! (`unstructured`, field 5) is counted and discarded. For search (a one-event page), `last_key`
//! then tells where to resume; for export, the first streamed message's `cursor` (which follows
//! the event in the message) does. Memory stays at a few KiB however large the event is.

use bytes::{Buf, Bytes};
use http_body_util::BodyExt as _;
use prost::Message as _;
use time::OffsetDateTime;
use tonic::transport::Channel;
use tower::ServiceExt as _;

use super::page::{Content, Page, PageItem, PageRequest, from_timestamp};
use crate::error::{Error, ServerError, SettingError};
use crate::rpc;
use crate::rpc_name::Rpc;

const SEARCH_PATH: &str = "/teleport.auditlog.v1.AuditLogService/GetUnstructuredEvents";
const EXPORT_PATH: &str = "/teleport.auditlog.v1.AuditLogService/ExportUnstructuredEvents";
/// Cap for the small fields we keep (ids, keys, timestamps, export cursors).
const SMALL_FIELD_CAP: u64 = 1024 * 1024;

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
pub(crate) async fn probe(channel: Channel, request: PageRequest) -> Result<Page, Error> {
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
                .map(|probed| PageItem {
                    id: probed.id,
                    time: probed.time,
                    content: Content::Oversized {
                        size: probed.size,
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
struct Probed {
    event_type: String,
    id: String,
    time: OffsetDateTime,
    /// The size of its payload.
    size: usize,
}

type ProbeItems = (Vec<Probed>, String);

async fn call(
    channel: Channel,
    message: Vec<u8>,
    fallback_time: OffsetDateTime,
) -> Result<ProbeItems, Error> {
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
pub(crate) async fn probe_export(
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
        let probed = events
            .pop()
            .ok_or_else(|| reader.malformed("a message without event"))?;
        Ok(Some(SkippedExportEvent {
            event_type: probed.event_type,
            id: probed.id,
            time: probed.time,
            size: probed.size,
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

/// Sends one gRPC request (`message`, unframed) to `path` and returns the response body to read,
/// once the headers say the call was accepted.
async fn open(
    channel: Channel,
    rpc: Rpc,
    path: &str,
    message: Vec<u8>,
) -> Result<BodyReader, Error> {
    let mut framed = Vec::with_capacity(message.len() + 5);
    framed.push(0); // not compressed
    framed.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    framed.extend_from_slice(&message);

    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://teleport.cluster.local{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(http_body_util::Full::new(
            Bytes::from(framed),
        )))
        .map_err(|e| {
            Error::Setting(SettingError::Config {
                field: "probe",
                reason: e.to_string(),
            })
        })?;
    let response = channel
        .oneshot(request)
        .await
        .map_err(|e| rpc::status_to_error(rpc, tonic::Status::from_error(Box::new(e))))?;
    // A "trailers-only" answer carries the status in the headers.
    if let Some(status) = tonic::Status::from_header_map(response.headers())
        && status.code() != tonic::Code::Ok
    {
        return Err(rpc::status_to_error(rpc, status));
    }
    Ok(BodyReader {
        rpc,
        body: response.into_body(),
        chunk: Bytes::new(),
        position: 0,
        trailers: None,
    })
}

struct BodyReader {
    rpc: Rpc,
    body: tonic::body::Body,
    chunk: Bytes,
    /// Bytes consumed from the body so far.
    position: u64,
    trailers: Option<http::HeaderMap>,
}

impl BodyReader {
    fn malformed(&self, what: &str) -> Error {
        Error::Server(ServerError::Status {
            rpc: self.rpc,
            code: tonic::Code::Internal,
            message: format!("malformed response while skipping an oversized event: {what}"),
        })
    }

    /// The call's status from the trailers, once the body has been read to its end.
    fn check_trailers(&self) -> Result<(), Error> {
        match self
            .trailers
            .as_ref()
            .and_then(tonic::Status::from_header_map)
        {
            Some(status) if status.code() != tonic::Code::Ok => {
                Err(rpc::status_to_error(self.rpc, status))
            }
            _ => Ok(()),
        }
    }

    /// Reads a gRPC frame header; returns the message length.
    async fn frame_header(&mut self) -> Result<u64, Error> {
        if self.byte().await? != 0 {
            return Err(self.malformed("a compressed message (none was asked for)"));
        }
        let mut len_bytes = [0u8; 4];
        for byte in &mut len_bytes {
            *byte = self.byte().await?;
        }
        Ok(u64::from(u32::from_be_bytes(len_bytes)))
    }

    /// Makes at least one byte available; false at the end of the body.
    async fn fill(&mut self) -> Result<bool, Error> {
        while self.chunk.is_empty() {
            match self.body.frame().await {
                None => return Ok(false),
                Some(Err(status)) => return Err(rpc::status_to_error(self.rpc, status)),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.chunk = data,
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            self.trailers = Some(trailers);
                        }
                    }
                },
            }
        }
        Ok(true)
    }

    async fn byte(&mut self) -> Result<u8, Error> {
        if !self.fill().await? {
            return Err(self.malformed("the response ended early"));
        }
        self.position += 1;
        Ok(self.chunk.get_u8())
    }

    async fn varint(&mut self) -> Result<u64, Error> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte().await?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed("a varint is longer than 10 bytes"))
    }

    async fn bytes(&mut self, len: u64) -> Result<Vec<u8>, Error> {
        if len > SMALL_FIELD_CAP {
            return Err(self.malformed("a small field is over 1 MiB"));
        }
        let mut out = Vec::with_capacity(len as usize);
        while (out.len() as u64) < len {
            if !self.fill().await? {
                return Err(self.malformed("the response ended early"));
            }
            let take = self.chunk.len().min(len as usize - out.len());
            out.extend_from_slice(&self.chunk[..take]);
            self.chunk.advance(take);
            self.position += take as u64;
        }
        Ok(out)
    }

    async fn skip(&mut self, mut len: u64) -> Result<(), Error> {
        while len > 0 {
            if !self.fill().await? {
                return Err(self.malformed("the response ended early"));
            }
            let take = (self.chunk.len() as u64).min(len);
            self.chunk.advance(take as usize);
            self.position += take;
            len -= take;
        }
        Ok(())
    }

    /// Skips a field's value of `wire_type`.
    async fn skip_field(&mut self, wire_type: u64) -> Result<(), Error> {
        match wire_type {
            0 => self.varint().await.map(drop),
            1 => self.skip(8).await,
            2 => {
                let len = self.varint().await?;
                self.skip(len).await
            }
            5 => self.skip(4).await,
            _ => Err(self.malformed("unsupported wire type")),
        }
    }

    /// Where a message of `len` bytes starting at the position ends (the length is the
    /// server's: it may be anything).
    fn end_of(&self, len: u64) -> Result<u64, Error> {
        self.position
            .checked_add(len)
            .ok_or_else(|| self.malformed("a length runs past any message"))
    }

    /// Checks that a message ending at `end` ended exactly at the position.
    fn check_end(&self, end: u64) -> Result<(), Error> {
        if self.position == end {
            Ok(())
        } else {
            Err(self.malformed("a field runs past its message"))
        }
    }

    async fn drain(&mut self) -> Result<(), Error> {
        loop {
            self.chunk.clear();
            if !self.fill().await? {
                return Ok(());
            }
        }
    }
}

/// Parses one gRPC frame holding a message with events in field 1 and a position string in
/// field 2 (`EventsUnstructured`'s `last_key`, `ExportEventUnstructured`'s `cursor`), keeping
/// only what identifies the events; `bad_position` is the error for a position that is not UTF-8.
async fn parse_message(
    reader: &mut BodyReader,
    fallback_time: OffsetDateTime,
    bad_position: &'static str,
) -> Result<ProbeItems, Error> {
    let len = reader.frame_header().await?;
    let end = reader.end_of(len)?;
    let mut items = Vec::new();
    let mut position = String::new();
    while reader.position < end {
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
) -> Result<Probed, Error> {
    let end = reader.end_of(len)?;
    let mut event_type = String::new();
    let mut id = String::new();
    let mut time = None;
    let mut size = 0usize;
    while reader.position < end {
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
    Ok(Probed {
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
        BodyReader {
            rpc: Rpc::GetUnstructuredEvents,
            body: tonic::body::Body::new(http_body_util::Full::new(Bytes::from(body))),
            chunk: Bytes::new(),
            position: 0,
            trailers: None,
        }
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
