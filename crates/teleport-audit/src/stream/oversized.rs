//! The last resort for an event too large to receive: learn its id and time without holding it.
//!
//! A one-event search is sent as a raw gRPC call over the same channel, and the response is
//! decoded as it streams in: the envelope's small fields (id, time) are kept, the event payload
//! (`unstructured`, field 5) is counted and discarded, then `last_key` tells where to resume.
//! Memory stays at a few KiB however large the event is.

use bytes::{Buf, Bytes};
use http_body_util::BodyExt as _;
use prost::Message as _;
use time::OffsetDateTime;
use tonic::transport::Channel;
use tower::ServiceExt as _;

use super::page::{Content, Page, PageItem, PageRequest, SEARCH_RPC, from_timestamp};
use crate::{Error, rpc};

const PATH: &str = "/teleport.auditlog.v1.AuditLogService/GetUnstructuredEvents";
/// Cap for the small fields we keep (ids, keys, timestamps).
const SMALL_FIELD_CAP: u64 = 1024 * 1024;

/// Searches one event at the request's position and reports it as skipped.
pub(crate) async fn probe(channel: Channel, request: PageRequest) -> Result<Page, Error> {
    let mut wire = request.to_wire();
    wire.limit = 1;
    let timeout = request.timeout;
    let fallback_time = request.from;
    match tokio::time::timeout(timeout, call(channel, wire.encode_to_vec(), fallback_time)).await {
        Err(_) => Err(Error::Timeout {
            rpc: SEARCH_RPC,
            after: timeout,
        }),
        Ok(result) => result.map(|(items, last_key)| Page {
            items: items
                .into_iter()
                .map(|(id, time, size)| PageItem {
                    id,
                    time,
                    content: Content::Oversized {
                        size,
                        limit: request.max_receive,
                    },
                })
                .collect(),
            last_key,
            full: true,
        }),
    }
}

type ProbeItems = (Vec<(String, OffsetDateTime, usize)>, String);

async fn call(
    channel: Channel,
    message: Vec<u8>,
    fallback_time: OffsetDateTime,
) -> Result<ProbeItems, Error> {
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
        .uri(format!("http://teleport.cluster.local{PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(http_body_util::Full::new(
            Bytes::from(framed),
        )))
        .map_err(|e| Error::Config {
            field: "probe",
            reason: e.to_string(),
        })?;
    let response = channel
        .oneshot(request)
        .await
        .map_err(|e| rpc::status_to_error(SEARCH_RPC, tonic::Status::from_error(Box::new(e))))?;
    // A "trailers-only" answer carries the status in the headers.
    if let Some(status) = tonic::Status::from_header_map(response.headers())
        && status.code() != tonic::Code::Ok
    {
        return Err(rpc::status_to_error(SEARCH_RPC, status));
    }
    let mut reader = BodyReader {
        body: response.into_body(),
        chunk: Bytes::new(),
        position: 0,
        trailers: None,
    };
    let parsed = parse_response(&mut reader, fallback_time).await?;
    // Drain to the trailers: the call only succeeded if grpc-status says so.
    reader.drain().await?;
    match reader
        .trailers
        .as_ref()
        .and_then(tonic::Status::from_header_map)
    {
        Some(status) if status.code() != tonic::Code::Ok => {
            Err(rpc::status_to_error(SEARCH_RPC, status))
        }
        _ => Ok(parsed),
    }
}

fn malformed(what: &str) -> Error {
    Error::Rpc {
        rpc: SEARCH_RPC,
        code: tonic::Code::Internal,
        message: format!("malformed response while skipping an oversized event: {what}"),
    }
}

struct BodyReader {
    body: tonic::body::Body,
    chunk: Bytes,
    /// Bytes consumed from the body so far.
    position: u64,
    trailers: Option<http::HeaderMap>,
}

impl BodyReader {
    /// Makes at least one byte available; false at the end of the body.
    async fn fill(&mut self) -> Result<bool, Error> {
        while self.chunk.is_empty() {
            match self.body.frame().await {
                None => return Ok(false),
                Some(Err(status)) => return Err(rpc::status_to_error(SEARCH_RPC, status)),
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
            return Err(malformed("the response ended early"));
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
        Err(malformed("a varint is longer than 10 bytes"))
    }

    async fn bytes(&mut self, len: u64) -> Result<Vec<u8>, Error> {
        if len > SMALL_FIELD_CAP {
            return Err(malformed("a small field is over 1 MiB"));
        }
        let mut out = Vec::with_capacity(len as usize);
        while (out.len() as u64) < len {
            if !self.fill().await? {
                return Err(malformed("the response ended early"));
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
                return Err(malformed("the response ended early"));
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
            _ => Err(malformed("unsupported wire type")),
        }
    }

    /// Checks that a message of `len` bytes starting at `start` ended exactly at the position.
    fn check_end(&self, start: u64, len: u64) -> Result<(), Error> {
        if self.position == start + len {
            Ok(())
        } else {
            Err(malformed("a field runs past its message"))
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

/// Parses one gRPC frame holding `EventsUnstructured`, keeping only what identifies the events.
async fn parse_response(
    reader: &mut BodyReader,
    fallback_time: OffsetDateTime,
) -> Result<ProbeItems, Error> {
    if reader.byte().await? != 0 {
        return Err(malformed("a compressed message (none was asked for)"));
    }
    let mut len_bytes = [0u8; 4];
    for byte in &mut len_bytes {
        *byte = reader.byte().await?;
    }
    let len = u64::from(u32::from_be_bytes(len_bytes));
    let start = reader.position;
    let mut items = Vec::new();
    let mut last_key = String::new();
    while reader.position < start + len {
        let key = reader.varint().await?;
        match (key >> 3, key & 7) {
            (1, 2) => {
                let item_len = reader.varint().await?;
                items.push(parse_item(reader, item_len, fallback_time).await?);
            }
            (2, 2) => {
                let key_len = reader.varint().await?;
                last_key = String::from_utf8(reader.bytes(key_len).await?)
                    .map_err(|_| malformed("last_key is not UTF-8"))?;
            }
            (_, wire_type) => reader.skip_field(wire_type).await?,
        }
    }
    reader.check_end(start, len)?;
    Ok((items, last_key))
}

async fn parse_item(
    reader: &mut BodyReader,
    len: u64,
    fallback_time: OffsetDateTime,
) -> Result<(String, OffsetDateTime, usize), Error> {
    let start = reader.position;
    let mut id = String::new();
    let mut time = None;
    let mut size = 0usize;
    while reader.position < start + len {
        let key = reader.varint().await?;
        match (key >> 3, key & 7) {
            (2, 2) => {
                let n = reader.varint().await?;
                id = String::from_utf8(reader.bytes(n).await?)
                    .map_err(|_| malformed("an event id is not UTF-8"))?;
            }
            (3, 2) => {
                let n = reader.varint().await?;
                let ts = prost_types::Timestamp::decode(reader.bytes(n).await?.as_slice())
                    .map_err(|_| malformed("an event time does not decode"))?;
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
    reader.check_end(start, len)?;
    Ok((id, time.unwrap_or(fallback_time), size))
}
